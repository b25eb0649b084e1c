/* SPDX-License-Identifier: Apache-2.0 */
/* TLS listeners: building each listener's TLS context from its
 * configuration (every finding logged with its fix), and replacing it when
 * the certificate files change (inotify on the files and their directories,
 * so Let's Encrypt's live/ symlinks flipping to new archive/ files are seen)
 * or on SIGHUP. Building reads files, so it runs on a thread of its own,
 * never on a worker loop. A new context is used by new handshakes only;
 * connections keep the context they started with. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "broker/internal.h"

static const char *opt(const char *s)
{
    return s && s[0] ? s : NULL;
}

/* moat_listener_conf -> moat_tls_conf. Strings are borrowed from lc. */
static moat_err map_conf(const moat_listener_conf *lc, moat_tls_conf *tc, char *err, size_t errlen)
{
    moat_tls_conf_defaults(tc);
    tc->certfile = opt(lc->certfile);
    tc->keyfile = opt(lc->keyfile);
    tc->certfile2 = opt(lc->certfile2);
    tc->keyfile2 = opt(lc->keyfile2);
    tc->cacertfile = opt(lc->cacertfile);
    tc->key_password = opt(lc->key_password);
    tc->dhfile = opt(lc->dhfile);
    tc->verify = lc->verify == MOAT_VERIFY_PEER ? MOAT_TLS_VERIFY_PEER : MOAT_TLS_VERIFY_NONE;
    tc->fail_if_no_peer_cert = lc->fail_if_no_peer_cert;
    tc->depth = (int)lc->depth;
    tc->ciphers = opt(lc->ciphers);
    tc->ciphersuites = opt(lc->ciphersuites);
    tc->ecdh_curves = opt(lc->ecdh_curves);
    tc->honor_cipher_order = lc->honor_cipher_order;
    tc->reuse_sessions = lc->reuse_sessions;
    tc->secure_renegotiate = lc->secure_renegotiate;
    tc->handshake_timeout_ms = lc->handshake_timeout_ms;
    tc->partial_chain = lc->partial_chain;
    tc->verify_peer_ext_key_usage = opt(lc->verify_peer_ext_key_usage);
    if (lc->tls_versions[0])
        return moat_tls_parse_versions(lc->tls_versions, &tc->tls_versions, err, errlen);
    return MOAT_OK;
}

/* Log every finding; returns the number of errors. */
static unsigned log_report(const char *label, const moat_cert_report *r, bool warnings)
{
    for (size_t i = 0; i < r->n; i++) {
        const moat_cert_finding *f = &r->items[i];
        size_t ml = strlen(f->message);
        const char *stop = ml && strchr(".?!", f->message[ml - 1]) ? "" : ".";
        if (f->severity == MOAT_CERT_ERROR)
            LOG_ERROR("listener %s: %s%s Fix: %s [%s]", label, f->message, stop, f->fix,
                      moat_cert_code_name(f->code));
        else if (warnings)
            LOG_WARN("listener %s: %s%s %s [%s]", label, f->message, stop, f->fix,
                     moat_cert_code_name(f->code));
    }
    return r->errors;
}

/* Build; errors are logged, warnings too unless warned is given: then they
 * are left there for the caller (a reload logs them only when it applies the
 * new context, so an unchanged certificate is not warned about again). */
static moat_err build(const moat_listener_conf *lc, const char *label, moat_tls_ctx **out,
                      moat_cert_report *warned, char *err, size_t errlen)
{
    moat_tls_conf tc;
    char verr[256];
    if ((lc->peer_cert_as_username || lc->peer_cert_as_clientid || lc->clientid_must_match) &&
        lc->verify != MOAT_VERIFY_PEER) {
        snprintf(err, errlen,
                 "%s: listener %s: peer_cert_as_username, peer_cert_as_clientid and "
                 "clientid_must_match read the client certificate, which is only asked for with "
                 "listener.%s.%s.verify = verify_peer (and a cacertfile to verify it against)",
                 lc->origin, label, lc->type, lc->name);
        return MOAT_EINVAL;
    }
    if (!lc->certfile[0] || !lc->keyfile[0]) {
        snprintf(err, errlen,
                 "%s: listener %s: TLS needs listener.%s.%s.certfile and .keyfile (the server "
                 "certificate chain and its private key, PEM)",
                 lc->origin, label, lc->type, lc->name);
        return MOAT_EINVAL;
    }
    if (map_conf(lc, &tc, verr, sizeof verr) != MOAT_OK) {
        snprintf(err, errlen, "%s: listener.%s.%s.tls_versions: %s", lc->origin, lc->type, lc->name,
                 verr);
        return MOAT_EINVAL;
    }
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    moat_err e = moat_tls_ctx_new(&tc, out, &r);
    unsigned errors = log_report(label, &r, warned == NULL);
    if (e)
        snprintf(err, errlen, "%s: listener %s: TLS material refused (%u error%s above)",
                 lc->origin, label, errors, errors == 1 ? "" : "s");
    if (warned && !e)
        *warned = r;
    else
        moat_cert_report_free(&r);
    return e;
}

moat_err tls_listener_build(const moat_listener_conf *lc, const char *label, moat_tls_ctx **out,
                            char *err, size_t errlen)
{
    return build(lc, label, out, NULL, err, errlen);
}

moat_err tls_listener_try(const moat_listener_conf *lc, moat_tls_ctx **out, moat_cert_report *r)
{
    moat_tls_conf tc;
    char verr[256];
    if (map_conf(lc, &tc, verr, sizeof verr) != MOAT_OK)
        return MOAT_EINVAL;
    return moat_tls_ctx_new(&tc, out, r);
}

/* ------------------------------------------- certificates uploaded by API */

void tls_upload_dir(const moat_broker *b, const moat_listener *l, char *out, size_t n)
{
    snprintf(out, n, "%s/tls/%s-%s", b->conf.data_dir, l->conf.type, l->conf.name);
}

/* dir + name into a 512-byte path field (the caller checked the length) */
static void set_path(char field[512], const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    memcpy(field, dir, dl);
    memcpy(field + dl, name, nl + 1);
}

void tls_override_apply(const moat_broker *b, const moat_listener *l, moat_listener_conf *lc)
{
    int mode = atomic_load(&l->tls_uploaded);
    if (!mode)
        return;
    char dir[700];
    tls_upload_dir(b, l, dir, sizeof dir);
    if (strlen(dir) + sizeof "/cert.pem" > sizeof lc->certfile)
        return; /* the upload refuses such a data_dir (see tls_upload_dir's callers) */
    set_path(lc->certfile, dir, "/cert.pem");
    set_path(lc->keyfile, dir, "/key.pem");
    lc->certfile2[0] = lc->keyfile2[0] = lc->key_password[0] = 0;
    if (mode == TLS_UPLOADED_TWO_WAY) {
        set_path(lc->cacertfile, dir, "/ca.pem");
        lc->verify = MOAT_VERIFY_PEER;
        lc->fail_if_no_peer_cert = true;
    } else {
        lc->cacertfile[0] = 0;
        lc->verify = MOAT_VERIFY_NONE;
        lc->fail_if_no_peer_cert = false;
        lc->peer_cert_as_username = lc->peer_cert_as_clientid = lc->clientid_must_match = 0;
    }
}

void tls_override_load(const moat_broker *b, moat_listener *l)
{
    char dir[700], path[760];
    tls_upload_dir(b, l, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/cert.pem", dir);
    if (access(path, F_OK) != 0)
        return;
    snprintf(path, sizeof path, "%s/ca.pem", dir);
    atomic_store(&l->tls_uploaded,
                 access(path, F_OK) == 0 ? TLS_UPLOADED_TWO_WAY : TLS_UPLOADED_ONE_WAY);
    LOG_NOTICE("listener %s: serving the certificate uploaded through the dashboard (%s), not "
               "the one in the configuration file",
               l->label, dir);
}

moat_err moat_broker_check_tls(const moat_conf *c, char *err, size_t errlen)
{
    moat_err first = MOAT_OK;
    for (uint32_t i = 0; i < c->n_listeners; i++) {
        const moat_listener_conf *lc = &c->listeners[i];
        if (!moat_listener_is_tls(lc))
            continue;
        char label[80], e1[512];
        moat_tls_ctx *ctx = NULL;
        snprintf(label, sizeof label, "%s:%s", lc->type, lc->name);
        moat_err e = tls_listener_build(lc, label, &ctx, e1, sizeof e1);
        moat_tls_ctx_unref(ctx);
        if (e && !first) {
            first = e;
            snprintf(err, errlen, "%s", e1);
        }
    }
    return first;
}

/* ------------------------------------------------------------ reload */

typedef struct tls_reloader {
    moat_broker *b;
    pthread_t thread;
    int efd; /* SIGHUP / stop requests */
    int ifd; /* inotify */
    atomic_bool stop;
    atomic_bool requested;
    atomic_bool initial; /* check once after the watches exist */
} tls_reloader;

static void watch_all(tls_reloader *r)
{
    /* inotify watches are cheap; re-adding a path returns the same wd. */
    for (uint32_t i = 0; i < r->b->n_listeners; i++) {
        if (!r->b->listeners[i].is_tls)
            continue;
        moat_tls_ctx *ctx = moat_tls_slot_get(&r->b->listeners[i].tls_slot);
        for (const char *const *p = moat_tls_ctx_watch_paths(ctx); p && *p; p++)
            inotify_add_watch(r->ifd, *p,
                              IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB |
                                  IN_MOVE_SELF | IN_DELETE_SELF | IN_DONT_FOLLOW);
        moat_tls_ctx_unref(ctx);
    }
}

static void reload_listener(moat_broker *b, moat_listener *l, const moat_listener_conf *lc,
                            const char *why)
{
    char err[512];
    moat_tls_ctx *nc = NULL;
    moat_cert_report warned = MOAT_CERT_REPORT_INIT;
    if (build(lc, l->label, &nc, &warned, err, sizeof err) != MOAT_OK) {
        LOG_ERROR("listener %s: TLS reload (%s) refused, the running certificate is kept: %s",
                  l->label, why, err);
        atomic_fetch_add(&b->tls_reload_failed, 1);
        return;
    }
    moat_tls_ctx *old = moat_tls_slot_get(&l->tls_slot);
    bool same = old && moat_tls_ctx_same(old, nc);
    moat_tls_ctx_unref(old);
    if (same) {
        moat_tls_ctx_unref(nc);
        moat_cert_report_free(&warned);
        return;
    }
    log_report(l->label, &warned, true);
    moat_cert_report_free(&warned);
    moat_tls_slot_set(&l->tls_slot, nc); /* connections using the old one keep their reference */
    atomic_fetch_add(&b->tls_reloads, 1);
    char when[64];
    moat_cert_time_str(moat_tls_ctx_not_after(nc), when, sizeof when);
    LOG_NOTICE("listener %s: TLS certificate reloaded (%s); new connections use it, existing "
               "ones keep theirs; expires %s",
               l->label, why, when);
}

/* Rebuild every TLS listener's context from the live configuration. */
static void reload_all(tls_reloader *r, const char *why)
{
    moat_broker *b = r->b;
    const moat_conf *c = CONF(b);
    for (uint32_t i = 0; i < b->n_listeners; i++) {
        moat_listener *l = &b->listeners[i];
        if (!l->is_tls)
            continue;
        const moat_listener_conf *lc = &l->conf;
        for (uint32_t k = 0; k < c->n_listeners; k++)
            if (!strcmp(c->listeners[k].type, l->conf.type) &&
                !strcmp(c->listeners[k].name, l->conf.name))
                lc = &c->listeners[k];
        moat_listener_conf copy = *lc;
        tls_override_apply(b, l, &copy);
        reload_listener(b, l, &copy, why);
    }
    watch_all(r);
}

static bool drain(int fd)
{
    char buf[4096];
    bool any = false;
    while (read(fd, buf, sizeof buf) > 0)
        any = true;
    return any;
}

static void *reloader_main(void *arg)
{
    tls_reloader *r = arg;
    struct pollfd p[2] = {{.fd = r->efd, .events = POLLIN}, {.fd = r->ifd, .events = POLLIN}};
    if (atomic_exchange(&r->initial, false))
        reload_all(r, "files changed during start-up");
    while (!atomic_load(&r->stop)) {
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        bool files = (p[1].revents & POLLIN) && drain(r->ifd);
        if (p[0].revents & POLLIN)
            drain(r->efd);
        if (atomic_load(&r->stop))
            break;
        if (files) {
            /* A renewal writes several files: let it finish, then rebuild once. */
            struct timespec ts = {0, 300 * 1000000};
            nanosleep(&ts, NULL);
            drain(r->ifd);
            reload_all(r, "certificate files changed");
        }
        if (atomic_exchange(&r->requested, false))
            reload_all(r, "SIGHUP");
    }
    return NULL;
}

moat_err tls_reloader_start(moat_broker *b)
{
    bool any = false;
    for (uint32_t i = 0; i < b->n_listeners; i++)
        any = any || b->listeners[i].is_tls;
    if (!any)
        return MOAT_OK;
    tls_reloader *r = calloc(1, sizeof *r);
    if (!r)
        return MOAT_ENOMEM;
    r->b = b;
    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    r->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (r->efd < 0 || r->ifd < 0)
        goto fail;
    watch_all(r);
    /* Files read before the watches existed may have changed since: compare
     * once (a no-op when they did not). */
    atomic_store(&r->initial, true);
    if (pthread_create(&r->thread, NULL, reloader_main, r) != 0)
        goto fail;
    b->tls_reloader = r;
    return MOAT_OK;
fail:
    if (r->efd >= 0)
        close(r->efd);
    if (r->ifd >= 0)
        close(r->ifd);
    free(r);
    return MOAT_EIO;
}

static void poke(tls_reloader *r)
{
    uint64_t one = 1;
    ssize_t n = write(r->efd, &one, sizeof one);
    (void)n;
}

void tls_reloader_request(moat_broker *b)
{
    tls_reloader *r = b->tls_reloader;
    if (!r)
        return;
    atomic_store(&r->requested, true);
    poke(r);
}

void tls_reloader_stop(moat_broker *b)
{
    tls_reloader *r = b->tls_reloader;
    if (!r)
        return;
    atomic_store(&r->stop, true);
    poke(r);
    pthread_join(r->thread, NULL);
    close(r->efd);
    close(r->ifd);
    free(r);
    b->tls_reloader = NULL;
}
