/* SPDX-License-Identifier: Apache-2.0 */
/* The development set at start (see devcerts.h). The broker makes it before
 * binding, under the data directory's pid lock, so two brokers never write
 * one set at the same time. */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "broker/devcerts.h"
#include "certs/devset.h"

bool moat_dev_certs_used_by(const moat_conf *c, const moat_listener_conf *l)
{
    char p[1024];
    if (c->dev_certs != MOAT_DEV_CERTS_AUTO || !moat_listener_is_tls(l))
        return false;
    moat_devset_path(c->data_dir, MOAT_DEVSET_SERVER_CHAIN, p, sizeof p);
    return strcmp(l->certfile, p) == 0;
}

bool moat_dev_certs_present(const moat_conf *c)
{
    char dir[1024];
    moat_devset_dir(c->data_dir, dir, sizeof dir);
    return moat_devset_complete(dir);
}

/* The host a client on this machine names: localhost for wildcard and
 * loopback binds (both in the certificate), else the bound address. */
static const char *client_host(const moat_listener_conf *l)
{
    if (!strcmp(l->bind, "0.0.0.0") || !strcmp(l->bind, "::") || !strncmp(l->bind, "127.", 4) ||
        !strcmp(l->bind, "::1"))
        return "localhost";
    return l->bind;
}

/* How a client trusts the new CA, per listener that serves the set. */
static void log_how_to_trust(const moat_conf *c, const char *dir, const moat_devset_info *info)
{
    char ca[1024], cert[1024], key[1024];
    bool two_way = false;
    moat_devset_path(c->data_dir, MOAT_DEVSET_CA, ca, sizeof ca);
    moat_devset_path(c->data_dir, MOAT_DEVSET_CLIENT, cert, sizeof cert);
    moat_devset_path(c->data_dir, MOAT_DEVSET_CLIENT_KEY, key, sizeof key);
    LOG_NOTICE("node.dev_certs: made a development CA of this installation's own in %s (%s, "
               "valid until %s), a server certificate for %s and a client certificate (CN=%s)",
               dir, info->ca_subject, info->ca_until, info->server_names, MOAT_DEVSET_CLIENT_CN);
    LOG_NOTICE("clients trust this broker with %s, e.g.:", ca);
    for (uint32_t i = 0; i < c->n_listeners; i++) {
        const moat_listener_conf *l = &c->listeners[i];
        if (!moat_dev_certs_used_by(c, l))
            continue;
        if (l->verify == MOAT_VERIFY_PEER)
            two_way = true;
        if (moat_listener_is_ws(l))
            LOG_NOTICE("  wss://%s:%u%s (listener %s:%s; the browser or client must trust %s)",
                       client_host(l), l->port, l->mqtt_path, l->type, l->name, ca);
        else if (moat_listener_is_http(l))
            LOG_NOTICE("  https://%s:%u/ (the dashboard; curl --cacert %s, or trust it in the "
                       "browser)",
                       client_host(l), l->port, ca);
        else
            LOG_NOTICE("  mosquitto_sub -h %s -p %u --cafile %s%s%s%s%s -t '#' -v", client_host(l),
                       l->port, ca, l->verify == MOAT_VERIFY_PEER ? " --cert " : "",
                       l->verify == MOAT_VERIFY_PEER ? cert : "",
                       l->verify == MOAT_VERIFY_PEER ? " --key " : "",
                       l->verify == MOAT_VERIFY_PEER ? key : "");
    }
    if (!two_way)
        LOG_NOTICE("  for two-way TLS (verify = verify_peer) the client adds --cert %s --key %s",
                   cert, key);
    LOG_NOTICE("this CA is trusted nowhere else; in production give the TLS listeners a "
               "certificate for the host name clients use (docs/tls.md)");
}

moat_err moat_dev_certs_prepare(const moat_conf *c, char *err, size_t errlen)
{
    char dir[1024], why[1200];
    moat_devset_state state;
    moat_devset_info info;
    if (c->dev_certs != MOAT_DEV_CERTS_AUTO)
        return MOAT_OK;
    moat_devset_dir(c->data_dir, dir, sizeof dir);
    moat_err e = moat_devset_ensure(dir, 0, &state, &info, why, sizeof why);
    if (e) {
        snprintf(err, errlen, "node.dev_certs = auto: %s", why);
        return e;
    }
    switch (state) {
    case MOAT_DEVSET_CREATED:
        log_how_to_trust(c, dir, &info);
        break;
    case MOAT_DEVSET_RENEWED:
        LOG_NOTICE("node.dev_certs: new server and client certificates in %s (for %s, valid until "
                   "%s), from the same development CA: clients need no change",
                   dir, info.server_names, info.server_until);
        break;
    case MOAT_DEVSET_READY:
        LOG_INFO("node.dev_certs: TLS listeners without certificates of their own serve the "
                 "development certificate in %s (for %s, valid until %s); clients trust "
                 "%s/%s",
                 dir, info.server_names, info.server_until, dir, MOAT_DEVSET_CA);
        break;
    }
    return MOAT_OK;
}
