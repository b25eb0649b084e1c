/* SPDX-License-Identifier: Apache-2.0 */
/* The development set (see devset.h), made with certs/gen.c. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "certs/devset.h"
#include "certs/gen.h"

#define RENEW_SECONDS (30 * 86400) /* the same margin as the expiry warning */

void moat_devset_dir(const char *data_dir, char *out, size_t n)
{
    moat_gen_path(data_dir, MOAT_DEVSET_SUBDIR, out, n);
}

void moat_devset_path(const char *data_dir, const char *file, char *out, size_t n)
{
    char d[MOAT_GEN_PATH];
    moat_devset_dir(data_dir, d, sizeof d);
    moat_gen_path(d, file, out, n);
}

static const char *const ca_files[] = {MOAT_DEVSET_CA, MOAT_DEVSET_CA_KEY};
static const char *const leaf_files[] = {MOAT_DEVSET_SERVER,       MOAT_DEVSET_SERVER_KEY,
                                         MOAT_DEVSET_SERVER_CHAIN, MOAT_DEVSET_CLIENT,
                                         MOAT_DEVSET_CLIENT_KEY,   MOAT_DEVSET_CLIENT_CHAIN};
#define N_LEAF_FILES (sizeof leaf_files / sizeof leaf_files[0])

static bool present(const char *dir, const char *name)
{
    char p[MOAT_GEN_PATH];
    struct stat st;
    moat_gen_path(dir, name, p, sizeof p);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static size_t count_present(const char *dir, const char *const *names, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += present(dir, names[i]);
    return k;
}

bool moat_devset_complete(const char *dir)
{
    return count_present(dir, ca_files, 2) == 2 &&
           count_present(dir, leaf_files, N_LEAF_FILES) == N_LEAF_FILES;
}

/* This machine's name when it can go into a certificate. */
static void host_name(char *out, size_t n)
{
    char h[256];
    out[0] = '\0';
    if (gethostname(h, sizeof h) != 0)
        return;
    h[sizeof h - 1] = '\0';
    if (moat_gen_is_hostname(h) && strcasecmp(h, "localhost") != 0)
        snprintf(out, n, "%s", h);
}

static void append(char *list, size_t n, const char *item)
{
    size_t used = strlen(list);
    if (used < n)
        snprintf(list + used, n - used, "%s%s", used ? ", " : "", item);
}

static moat_err add_host(GENERAL_NAMES **g, const char *h, char *names, size_t nn, char *err,
                         size_t errlen)
{
    char entry[300];
    if (*g && moat_gen_san_has(*g, h))
        return MOAT_OK;
    if (!moat_gen_is_ip(h) && !moat_gen_is_hostname(h)) {
        snprintf(err, errlen,
                 "--host '%.200s' is neither a host name nor an IP address (expected e.g. "
                 "mqtt.local or 192.168.1.10)",
                 h);
        return MOAT_EINVAL;
    }
    snprintf(entry, sizeof entry, "%s:%s", moat_gen_is_ip(h) ? "IP" : "DNS", h);
    moat_err e = moat_gen_san_parse(entry, g, err, errlen);
    if (!e)
        append(names, nn, h);
    return e;
}

static void fill_info(moat_devset_info *info, X509 *ca, X509 *server)
{
    if (!info)
        return;
    memset(info, 0, sizeof *info);
    if (ca) {
        moat_gen_subject(ca, info->ca_subject, sizeof info->ca_subject);
        moat_gen_not_after(ca, info->ca_until, sizeof info->ca_until);
    }
    if (server) {
        moat_gen_not_after(server, info->server_until, sizeof info->server_until);
        moat_gen_names_text(server, false, info->server_names, sizeof info->server_names);
    }
}

/* Server (this machine) and client certificates signed by ca. */
static moat_err make_leaves(const moat_devset_opts *o, X509 *ca, EVP_PKEY *ca_key, bool force,
                            moat_devset_info *info, char *err, size_t errlen)
{
    char host[256], names[1024] = "";
    GENERAL_NAMES *san = NULL;
    moat_err e = MOAT_OK;
    static const char *const fixed[] = {"localhost", "127.0.0.1", "::1"};
    host_name(host, sizeof host);
    for (size_t i = 0; !e && i < sizeof fixed / sizeof fixed[0]; i++)
        e = add_host(&san, fixed[i], names, sizeof names, err, errlen);
    if (!e && host[0])
        e = add_host(&san, host, names, sizeof names, err, errlen);
    for (size_t i = 0; !e && i < o->n_hosts; i++)
        e = add_host(&san, o->hosts[i], names, sizeof names, err, errlen);
    moat_gen_issued server = {0}, client = {0};
    moat_gen_request r = {.kind = MOAT_GEN_SERVER,
                          .key = (moat_gen_key)o->key,
                          .cn = "localhost",
                          .org = "moat development",
                          .san = san,
                          .issuer = ca,
                          .issuer_key = ca_key,
                          .dir = o->dir,
                          .base = "server",
                          .force = force,
                          .now = o->now};
    if (!e)
        e = moat_gen_issue(&r, &server, err, errlen);
    if (!e) {
        r.kind = MOAT_GEN_CLIENT;
        r.cn = MOAT_DEVSET_CLIENT_CN;
        r.san = NULL;
        r.base = "client";
        e = moat_gen_issue(&r, &client, err, errlen);
    }
    if (!e)
        fill_info(info, ca, server.cert);
    moat_gen_issued_free(&server);
    moat_gen_issued_free(&client);
    GENERAL_NAMES_free(san);
    return e;
}

static moat_err make_all(const moat_devset_opts *o, bool force, moat_devset_info *info, char *err,
                         size_t errlen)
{
    char host[256], cn[80];
    host_name(host, sizeof host);
    /* The host name in the CA's name tells this CA apart from another
     * machine's in a trust store. */
    snprintf(cn, sizeof cn, "moat Development CA%s%.40s", host[0] ? " " : "", host);
    moat_gen_issued ca = {0};
    moat_gen_request r = {.kind = MOAT_GEN_CA,
                          .key = (moat_gen_key)o->key,
                          .cn = cn,
                          .org = "moat development",
                          .dir = o->dir,
                          .base = "ca",
                          .force = force,
                          .now = o->now};
    moat_err e = moat_gen_issue(&r, &ca, err, errlen);
    if (!e)
        e = make_leaves(o, ca.cert, ca.key, force, info, err, errlen);
    moat_gen_issued_free(&ca);
    return e;
}

moat_err moat_devset_make(const moat_devset_opts *o, moat_devset_info *info, char *err,
                          size_t errlen)
{
    moat_gen_file f[2 + N_LEAF_FILES] = {{.name = ca_files[0]}, {.name = ca_files[1]}};
    for (size_t i = 0; i < N_LEAF_FILES; i++)
        f[2 + i].name = leaf_files[i];
    if (!o->force && moat_gen_check_absent(o->dir, f, 2 + N_LEAF_FILES, err, errlen)) {
        /* the generic advice speaks of one file; here it is the whole set */
        char *semi = strstr(err, "; nothing");
        if (semi)
            snprintf(semi, errlen - (size_t)(semi - err),
                     "; nothing was written (use --force to replace the whole set, or --out-dir "
                     "for another directory)");
        return MOAT_EEXIST;
    }
    return make_all(o, o->force, info, err, errlen);
}

static bool expires_within(X509 *x, time_t t, long seconds)
{
    time_t limit = t + seconds;
    return X509_cmp_time(X509_get0_notAfter(x), &limit) < 0;
}

/* Whether the server certificate in dir is fine for another 30 days and
 * names this host; false also when it cannot be read. */
static bool server_current(const char *dir, time_t t)
{
    char p[MOAT_GEN_PATH], err[512], host[256];
    STACK_OF(X509) *sk = NULL;
    moat_gen_path(dir, MOAT_DEVSET_SERVER, p, sizeof p);
    if (moat_gen_load_certs(p, &sk, err, sizeof err) != MOAT_OK)
        return false;
    X509 *x = sk_X509_value(sk, 0);
    bool ok = !expires_within(x, t, RENEW_SECONDS);
    host_name(host, sizeof host);
    if (ok && host[0]) {
        GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
        ok = g && moat_gen_san_has(g, host);
        GENERAL_NAMES_free(g);
    }
    sk_X509_pop_free(sk, X509_free);
    return ok;
}

static bool client_current(const char *dir, time_t t)
{
    char p[MOAT_GEN_PATH], err[512];
    STACK_OF(X509) *sk = NULL;
    moat_gen_path(dir, MOAT_DEVSET_CLIENT, p, sizeof p);
    if (moat_gen_load_certs(p, &sk, err, sizeof err) != MOAT_OK)
        return false;
    bool ok = !expires_within(sk_X509_value(sk, 0), t, RENEW_SECONDS);
    sk_X509_pop_free(sk, X509_free);
    return ok;
}

moat_err moat_devset_ensure(const char *dir, int64_t now, moat_devset_state *state,
                            moat_devset_info *info, char *err, size_t errlen)
{
    char cap[MOAT_GEN_PATH], kp[MOAT_GEN_PATH], why[700];
    time_t t = now ? (time_t)now : time(NULL);
    moat_devset_opts o = {.dir = dir, .now = now};
    size_t n_ca = count_present(dir, ca_files, 2);
    size_t n_leaf = count_present(dir, leaf_files, N_LEAF_FILES);
    STACK_OF(X509) *cas = NULL;
    EVP_PKEY *key = NULL;
    moat_err e = MOAT_OK;
    *state = MOAT_DEVSET_CREATED;
    if (n_ca == 0 && n_leaf == 0)
        return make_all(&o, false, info, err, errlen);
    moat_gen_path(dir, MOAT_DEVSET_CA, cap, sizeof cap);
    moat_gen_path(dir, MOAT_DEVSET_CA_KEY, kp, sizeof kp);
    if (present(dir, MOAT_DEVSET_CA) &&
        moat_gen_load_certs(cap, &cas, why, sizeof why) == MOAT_OK && n_leaf == N_LEAF_FILES &&
        server_current(dir, t) && client_current(dir, t)) {
        /* Nothing to sign, so ca.key is not needed: it may have been moved
         * somewhere safer. */
        STACK_OF(X509) *srv = NULL;
        char sp[MOAT_GEN_PATH];
        moat_gen_path(dir, MOAT_DEVSET_SERVER, sp, sizeof sp);
        moat_gen_load_certs(sp, &srv, why, sizeof why);
        fill_info(info, sk_X509_value(cas, 0), srv ? sk_X509_value(srv, 0) : NULL);
        sk_X509_pop_free(srv, X509_free);
        *state = MOAT_DEVSET_READY;
        goto out;
    }
    if (n_ca < 2) {
        snprintf(err, errlen,
                 "the development certificates in %s need new server or client certificates, "
                 "but %s is missing, so none can be made with that CA. Delete the directory %s "
                 "to have a new set made (clients must then trust the new ca.pem), or give the "
                 "TLS listeners certfile and keyfile of their own and set node.dev_certs = off",
                 dir, present(dir, MOAT_DEVSET_CA) ? kp : cap, dir);
        e = MOAT_EINVAL;
        goto out;
    }
    sk_X509_pop_free(cas, X509_free);
    cas = NULL;
    e = moat_gen_load_certs(cap, &cas, why, sizeof why);
    if (!e)
        e = moat_gen_load_key(kp, &key, why, sizeof why);
    X509 *ca = e ? NULL : sk_X509_value(cas, 0);
    if (!e && expires_within(ca, t, RENEW_SECONDS)) {
        /* An expiring CA cannot be renewed in place: its successor is a new
         * CA that clients must be given, as at the first start. */
        e = make_all(&o, true, info, err, errlen);
        goto out;
    }
    if (!e)
        e = moat_gen_check_issuer(ca, key, MOAT_GEN_SERVER, now, cap, kp, why, sizeof why);
    if (e) {
        snprintf(err, errlen,
                 "the development CA in %s cannot be used: %s. Delete the directory %s to have a "
                 "new set made (clients must then trust the new ca.pem), or set "
                 "node.dev_certs = off",
                 dir, why, dir);
        e = MOAT_EINVAL;
        goto out;
    }
    *state = MOAT_DEVSET_RENEWED;
    e = make_leaves(&o, ca, key, true, info, err, errlen);
out:
    sk_X509_pop_free(cas, X509_free);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return e;
}
