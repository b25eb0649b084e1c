/* SPDX-License-Identifier: Apache-2.0 */
/* The LDAP source (EMQX 4 emqx_auth_ldap), over libldap (OpenLDAP 2.5).
 *
 * A client is found by a search under auth.ldap.device_dn, bound as
 * auth.ldap.bind_dn:
 *     (&(objectClass=<match_objectclass>)(<username attribute>=<username>))
 * No entry: not ours (IGNORE). Then either
 *   - bind_as_user = false: its password attribute ({SSHA}, {CRYPT}, clear
 *     text ..., hash.c moat_hash_verify_ldap) is compared here, or
 *   - bind_as_user = true: the server checks the password by a simple bind
 *     as <username attribute>=<username>,<device_dn>.
 * isSuperuser = TRUE on the entry makes a superuser.
 *
 * The username enters the filter and the DN only escaped (ldap_text.h).
 *
 * Connections: at most auth.ldap.pool, made lazily on a pool thread, each
 * used by one request at a time. A connection found broken (the server went
 * away) is dropped and the request tried once more on a fresh one. A failed
 * connect starts the backoff (connpool.h): until it ends, requests fail at
 * once (reply->error). A connection used for a client's bind is bound as
 * the client afterwards: it binds as bind_dn again before its next search. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <ldap.h>
#include <openssl/crypto.h>

#include "auth/backend.h"
#include "auth/connpool.h"
#include "auth/hash.h"
#include "auth/ldap_text.h"
#include "base/log.h"
#include "certs/check.h"
#include "conf/conf.h"

#define MAX_USERNAME 1024 /* bytes of a username we search for */
#define SUPERUSER_ATTR "isSuperuser"

/* One connection of the pool. */
typedef struct ldap_conn {
    LDAP *ld;
    bool as_user; /* bound as a client: bind as bind_dn before the next search */
} ldap_conn;

typedef struct ldap_src {
    char uris[1200]; /* "ldap://h1:389 ldap://h2:389": libldap tries each */
    char *bind_dn, *bind_pw, *device_dn, *objectclass, *user_attr, *pw_attr;
    bool bind_as_user, ssl, verify;
    bool allow_plain;          /* compare scheme-less (clear-text) password values */
    char *cacert, *cert, *key; /* NULL: not set */
    uint32_t timeout_ms;
    moat_connpool pool;
    bool pool_ready; /* pool initialised */
} ldap_src;

/* One request and the connection it holds. */
typedef struct ldap_req {
    ldap_src *s;
    ldap_conn *conn;
    int slot; /* in s->pool; -1: none */
    int64_t deadline;
    bool fresh;  /* connected for this request (a failure is not a stale connection) */
    bool broken; /* the connection failed under a client's bind */
} ldap_req;

static const moat_connpool_ops ldap_pool_ops; /* below, with the connections */

static bool src_configured(const moat_conf *c)
{
    return c->ldap_servers[0] != '\0';
}

/* ---- settings ---- */

static void src_destroy(void *self)
{
    ldap_src *s = self;
    if (!s)
        return;
    if (s->pool_ready)
        moat_connpool_destroy(&s->pool);
    if (s->bind_pw)
        OPENSSL_clear_free(s->bind_pw, strlen(s->bind_pw));
    char *strs[] = {s->bind_dn, s->device_dn, s->objectclass, s->user_attr,
                    s->pw_attr, s->cacert,    s->cert,        s->key};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(strs[i]);
    free(s);
}

/* auth.ldap.servers "h1, h2" and auth.ldap.port into s->uris. */
static bool make_uris(ldap_src *s, const moat_conf *c, char *err, size_t errlen)
{
    size_t o = 0;
    for (const char *p = c->ldap_servers; *p;) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, ", \t");
        if (!len)
            break;
        bool v6 = memchr(p, ':', len) != NULL;
        bool ok =
            strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:_") >= len;
        int k = snprintf(s->uris + o, sizeof s->uris - o, "%s%s://%s%.*s%s:%u", o ? " " : "",
                         s->ssl ? "ldaps" : "ldap", v6 ? "[" : "", (int)len, p, v6 ? "]" : "",
                         c->ldap_port);
        if (!ok || k < 0 || (size_t)k >= sizeof s->uris - o) {
            snprintf(err, errlen,
                     "auth.ldap.servers: '%.*s' is not a host (expected host names or addresses "
                     "separated by commas, such as ldap1.example.com, 10.0.0.5; the port is "
                     "auth.ldap.port)",
                     (int)len, p);
            return false;
        }
        o += (size_t)k;
        p += len;
    }
    return o > 0;
}

static bool check_names(const moat_conf *c, char *err, size_t errlen)
{
    const char *keys[] = {"match_objectclass", "username.attributetype", "password.attributetype"};
    const char *vals[] = {c->ldap_objectclass, c->ldap_username_attr, c->ldap_password_attr};
    for (size_t i = 0; i < 3; i++) {
        if (!moat_ldap_name_valid(vals[i])) {
            snprintf(err, errlen,
                     "auth.ldap.%s: '%s' is not an LDAP name (expected a name such as uid or "
                     "userPassword, or a numeric OID)",
                     keys[i], vals[i]);
            return false;
        }
    }
    const char *dkeys[] = {"bind_dn", "device_dn"};
    const char *dns[] = {c->ldap_bind_dn, c->ldap_device_dn};
    for (size_t i = 0; i < 2; i++) {
        if (!moat_ldap_dn_valid(dns[i]) || (i == 1 && !dns[i][0])) {
            snprintf(err, errlen,
                     "auth.ldap.%s: '%s' is not a DN (expected a DN such as "
                     "ou=device,dc=example,dc=com)",
                     dkeys[i], dns[i]);
            return false;
        }
    }
    return true;
}

/* A TLS file setting, checked here because libldap reports a bad one only
 * as "Can't contact LDAP server" at the first connect: when set, the file
 * must hold a certificate (want MOAT_PEM_CERT) or an unencrypted private key
 * (MOAT_PEM_KEY). *out: a copy of the path, NULL when not set. */
static bool tls_file(const char *key, const char *path, moat_pem_kind want, char **out, char *err,
                     size_t errlen)
{
    if (!path[0])
        return true;
    moat_cert_report r = MOAT_CERT_REPORT_INIT;
    moat_pem_items items = {0};
    bool found = false;
    if (moat_pem_read(path, key, NULL, false, &items, &r) == MOAT_OK)
        for (size_t i = 0; i < items.n; i++)
            found = found || (items.v[i].kind == want && (want != MOAT_PEM_KEY || items.v[i].key));
    moat_pem_items_free(&items);
    moat_cert_report_free(&r);
    if (!found) {
        snprintf(err, errlen, "auth.ldap.ssl.%s: %s: %s", key, path,
                 want == MOAT_PEM_CERT
                     ? "no certificate in it (expected a PEM file with -----BEGIN CERTIFICATE-----)"
                     : "no unencrypted private key in it (expected a PEM file with -----BEGIN "
                       "PRIVATE KEY-----)");
        return false;
    }
    return (*out = strdup(path)) != NULL;
}

static moat_err src_create(const moat_conf *c, void **self, char *err, size_t errlen)
{
    ldap_src *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "auth.ldap: out of memory");
        return MOAT_ENOMEM;
    }
    s->ssl = c->ldap_ssl;
    s->verify = c->ldap_ssl_verify == MOAT_VERIFY_PEER;
    s->bind_as_user = c->ldap_bind_as_user;
    s->allow_plain = c->ldap_allow_plain;
    s->timeout_ms = c->ldap_timeout_ms;
    err[0] = '\0';
    bool ok =
        make_uris(s, c, err, errlen) && check_names(c, err, errlen) &&
        (!s->ssl ||
         (tls_file("cacertfile", c->ldap_ssl_cacertfile, MOAT_PEM_CERT, &s->cacert, err, errlen) &&
          tls_file("certfile", c->ldap_ssl_certfile, MOAT_PEM_CERT, &s->cert, err, errlen) &&
          tls_file("keyfile", c->ldap_ssl_keyfile, MOAT_PEM_KEY, &s->key, err, errlen)));
    if (ok) {
        s->bind_dn = strdup(c->ldap_bind_dn);
        s->bind_pw = strdup(c->ldap_bind_password);
        s->device_dn = strdup(c->ldap_device_dn);
        s->objectclass = strdup(c->ldap_objectclass);
        s->user_attr = strdup(c->ldap_username_attr);
        s->pw_attr = strdup(c->ldap_password_attr);
        ok = s->bind_dn && s->bind_pw && s->device_dn && s->objectclass && s->user_attr &&
             s->pw_attr &&
             moat_connpool_init(&s->pool, "auth.ldap", s->uris, c->ldap_pool, &ldap_pool_ops, s) ==
                 MOAT_OK;
        s->pool_ready = ok;
        if (!ok)
            snprintf(err, errlen, "auth.ldap: out of memory");
    }
    if (!ok) {
        if (!err[0])
            snprintf(err, errlen,
                     "auth.ldap.servers: no host (expected host names separated "
                     "by commas)");
        src_destroy(s);
        return MOAT_EINVAL;
    }
    *self = s;
    return MOAT_OK;
}

/* ---- connections ---- */

/* The time one operation may take: what is left of the request, at most
 * auth.ldap.timeout. */
static struct timeval op_timeout(const ldap_src *s, int64_t deadline)
{
    int64_t ms = moat_connpool_left_ms(deadline);
    if (ms > (int64_t)s->timeout_ms)
        ms = s->timeout_ms;
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

static int set_tls(const ldap_src *s, LDAP *ld)
{
    int req = s->verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER, zero = 0, rc;
    if ((rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req)) != LDAP_OPT_SUCCESS ||
        (s->cacert &&
         (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, s->cacert)) != LDAP_OPT_SUCCESS) ||
        (s->cert &&
         (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CERTFILE, s->cert)) != LDAP_OPT_SUCCESS) ||
        (s->key && (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_KEYFILE, s->key)) != LDAP_OPT_SUCCESS))
        return rc;
    /* the options above apply to this handle only once it has its own context */
    return ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
}

/* A simple bind as dn with pw (len bytes) on c. */
static int simple_bind(const ldap_src *s, ldap_conn *c, int64_t deadline, const char *dn,
                       const char *pw, size_t len)
{
    struct timeval tv = op_timeout(s, deadline);
    struct berval cred = {.bv_len = len, .bv_val = (char *)pw};
    ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &tv);
    return ldap_sasl_bind_s(c->ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

static int bind_service(const ldap_src *s, ldap_conn *c, int64_t deadline)
{
    int rc = simple_bind(s, c, deadline, s->bind_dn, s->bind_pw, strlen(s->bind_pw));
    c->as_user = rc != LDAP_SUCCESS;
    return rc;
}

/* Why a connect failed, for the log line: what the server said, or a hint
 * where libldap says nothing useful. */
static void connect_diag(const ldap_src *s, LDAP *ld, int rc, bool options_ok, char *out, size_t n)
{
    char *msg = NULL;
    if (!options_ok)
        snprintf(out, n, " (libldap refused the auth.ldap.ssl.* files)");
    else if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) == LDAP_OPT_SUCCESS && msg &&
             msg[0] && msg[0] != '(')
        snprintf(out, n, " (%s)", msg);
    else if (s->ssl && rc == LDAP_SERVER_DOWN) /* libldap says no more of TLS failures */
        snprintf(out, n,
                 " (or TLS failed: does auth.ldap.ssl.cacertfile sign the server's "
                 "certificate, for this host?)");
    ldap_memfree(msg);
}

static void conn_close(void *self, void *conn)
{
    (void)self;
    ldap_conn *c = conn;
    if (c && c->ld)
        ldap_unbind_ext_s(c->ld, NULL, NULL);
    free(c);
}

/* Pool thread: a connection bound as bind_dn, or NULL with why. */
static void *conn_open(void *self, int64_t deadline, char *why, size_t n)
{
    const ldap_src *s = self;
    ldap_conn *c = calloc(1, sizeof *c);
    int rc = c ? ldap_initialize(&c->ld, s->uris) : LDAP_NO_MEMORY, v3 = LDAP_VERSION3;
    bool options_ok = false;
    if (rc == LDAP_SUCCESS) {
        struct timeval tv = op_timeout(s, deadline);
        options_ok = ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3) == LDAP_OPT_SUCCESS &&
                     ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) == LDAP_OPT_SUCCESS &&
                     ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) == LDAP_OPT_SUCCESS &&
                     (!s->ssl || set_tls(s, c->ld) == LDAP_OPT_SUCCESS);
        rc = options_ok ? bind_service(s, c, deadline) : LDAP_PARAM_ERROR;
    }
    if (rc == LDAP_SUCCESS)
        return c;
    char diag[120] = "";
    if (c && c->ld)
        connect_diag(s, c->ld, rc, options_ok, diag, sizeof diag);
    snprintf(why, n, "%s%s, binding as '%s'", ldap_err2string(rc), diag, s->bind_dn);
    conn_close(NULL, c);
    return NULL;
}

static const moat_connpool_ops ldap_pool_ops = {conn_open, conn_close};

static bool link_broken(int rc)
{
    return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT;
}

/* A connection from the pool for r; false with reply->error when none. */
static bool get_conn(ldap_req *r, moat_auth_reply *reply)
{
    r->slot = moat_connpool_get(&r->s->pool, r->deadline, (void **)&r->conn, &r->fresh, reply->why,
                                sizeof reply->why);
    reply->error = r->slot < 0;
    return r->slot >= 0;
}

/* ---- one request ---- */

typedef struct found {
    int count;        /* entries that matched */
    bool password_ok; /* a value of the password attribute matched */
    bool has_password;
    bool plain_refused; /* a clear-text value was skipped (allow_plain_password) */
    bool superuser;
} found;

static void read_entry(ldap_req *r, LDAPMessage *e, const moat_auth_req *rq, found *f)
{
    LDAP *ld = r->conn->ld;
    struct berval **v = ldap_get_values_len(ld, e, r->s->pw_attr);
    for (int i = 0; v && v[i]; i++) {
        f->has_password = true;
        if (!r->s->allow_plain && (!v[i]->bv_len || v[i]->bv_val[0] != '{')) {
            f->plain_refused = true;
            continue;
        }
        if (rq->password &&
            moat_hash_verify_ldap(v[i]->bv_val, v[i]->bv_len, rq->password, rq->password_len))
            f->password_ok = true;
    }
    ldap_value_free_len(v);
    v = ldap_get_values_len(ld, e, SUPERUSER_ATTR);
    f->superuser = v && v[0] && v[0]->bv_len == 4 && !strncasecmp(v[0]->bv_val, "TRUE", 4);
    ldap_value_free_len(v);
}

static int search(ldap_req *r, const char *filter, const moat_auth_req *rq, found *f)
{
    char *attrs[] = {SUPERUSER_ATTR, r->s->bind_as_user ? NULL : r->s->pw_attr, NULL};
    struct timeval tv = op_timeout(r->s, r->deadline);
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(r->conn->ld, r->s->device_dn, LDAP_SCOPE_SUBTREE, filter, attrs, 0,
                               NULL, NULL, &tv, 2, &res);
    if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) {
        memset(f, 0, sizeof *f);
        f->count = ldap_count_entries(r->conn->ld, res);
        if (f->count == 1)
            read_entry(r, ldap_first_entry(r->conn->ld, res), rq, f);
        rc = LDAP_SUCCESS;
    }
    ldap_msgfree(res);
    return rc;
}

/* Run the search (binding as bind_dn first when a client's bind left the
 * connection bound as the client); once more on a fresh connection when a
 * kept one turns out broken (the server restarted meanwhile). -1 when no
 * connection came for the second try (reply says why). */
static int search_retry(ldap_req *r, const char *filter, const moat_auth_req *rq, found *f,
                        moat_auth_reply *reply)
{
    for (int attempt = 0;; attempt++) {
        int rc = r->conn->as_user ? bind_service(r->s, r->conn, r->deadline) : LDAP_SUCCESS;
        if (rc == LDAP_SUCCESS)
            rc = search(r, filter, rq, f);
        if (!link_broken(rc) || r->fresh || attempt > 0)
            return rc;
        moat_connpool_put(&r->s->pool, r->slot, MOAT_CONN_BROKEN, NULL);
        if (!get_conn(r, reply))
            return -1;
    }
}

static void check_bind(ldap_req *r, const moat_auth_req *rq, moat_auth_reply *reply)
{
    size_t ul = strlen(rq->username);
    char *dn = malloc(3 * ul + strlen(r->s->user_attr) + strlen(r->s->device_dn) + 4);
    char *esc = malloc(3 * ul + 1);
    if (!dn || !esc || !moat_ldap_escape_dn_value(rq->username, ul, esc, 3 * ul + 1)) {
        reply->error = true;
        snprintf(reply->why, sizeof reply->why, "out of memory");
    } else {
        sprintf(dn, "%s=%s,%s", r->s->user_attr, esc, r->s->device_dn);
        r->conn->as_user = true;
        int rc = simple_bind(r->s, r->conn, r->deadline, dn, rq->password, rq->password_len);
        if (rc == LDAP_SUCCESS) {
            reply->result = MOAT_AUTH_ALLOW;
        } else if (rc == LDAP_INVALID_CREDENTIALS) {
            reply->result = MOAT_AUTH_DENY;
            snprintf(reply->why, sizeof reply->why, "LDAP bind as the client refused");
        } else {
            reply->error = true;
            snprintf(reply->why, sizeof reply->why, "LDAP bind as the client: %s",
                     ldap_err2string(rc));
            r->broken = link_broken(rc);
        }
    }
    free(dn);
    free(esc);
}

static char *make_filter(const ldap_src *s, const char *username)
{
    size_t ul = strlen(username), n = 3 * ul + strlen(s->objectclass) + strlen(s->user_attr) + 32;
    char *esc = malloc(3 * ul + 1), *f = malloc(n);
    if (esc && f && moat_ldap_escape_filter_value(username, ul, esc, 3 * ul + 1))
        snprintf(f, n, "(&(objectClass=%s)(%s=%s))", s->objectclass, s->user_attr, esc);
    else
        free(f), f = NULL;
    free(esc);
    return f;
}

static void answer(ldap_req *r, const moat_auth_req *rq, const found *f, moat_auth_reply *reply)
{
    reply->superuser = f->superuser;
    if (f->count == 0) {
        reply->result = MOAT_AUTH_IGNORE;
    } else if (f->count > 1) {
        reply->result = MOAT_AUTH_DENY;
        snprintf(reply->why, sizeof reply->why, "several LDAP entries have this username");
    } else if (!rq->password || !rq->password_len) {
        /* an empty password would make the bind an anonymous one */
        reply->result = MOAT_AUTH_DENY;
        snprintf(reply->why, sizeof reply->why, "no password");
    } else if (r->s->bind_as_user) {
        check_bind(r, rq, reply);
    } else {
        reply->result = f->password_ok ? MOAT_AUTH_ALLOW : MOAT_AUTH_DENY;
        if (!f->password_ok && f->plain_refused) {
            snprintf(reply->why, sizeof reply->why,
                     "the LDAP entry's password is clear text, refused "
                     "(auth.ldap.allow_plain_password = false)");
            LOG_NOTICE("auth.ldap: user '%s': %s; store a {SSHA} or {CRYPT} value (slappasswd)",
                       rq->username ? rq->username : "", reply->why);
        } else if (!f->password_ok) {
            snprintf(reply->why, sizeof reply->why, "%s",
                     f->has_password ? "password does not match the LDAP entry"
                                     : "the LDAP entry has no password attribute");
        }
    }
}

static void src_authenticate(void *self, const moat_auth_req *rq, int64_t deadline_ms,
                             moat_auth_reply *reply)
{
    ldap_req r = {.s = self, .deadline = deadline_ms};
    reply->result = MOAT_AUTH_IGNORE;
    if (!rq->username || !rq->username[0] || strlen(rq->username) > MAX_USERNAME)
        return;
    char *filter = make_filter(r.s, rq->username);
    if (!filter) {
        reply->error = true;
        snprintf(reply->why, sizeof reply->why, "out of memory");
        return;
    }
    found f = {0};
    int rc = get_conn(&r, reply) ? search_retry(&r, filter, rq, &f, reply) : -1;
    free(filter);
    if (rc == -1) /* no connection */
        return;
    if (rc == LDAP_SUCCESS) {
        answer(&r, rq, &f, reply);
    } else {
        reply->error = true;
        snprintf(reply->why, sizeof reply->why, "LDAP search: %s", ldap_err2string(rc));
    }
    /* a fresh connection that breaks: the server is down (back off) */
    moat_conn_outcome o = rc == LDAP_SUCCESS && !r.broken ? MOAT_CONN_OK
                          : !link_broken(rc) && !r.broken ? MOAT_CONN_KEEP
                          : r.fresh                       ? MOAT_CONN_DOWN
                                                          : MOAT_CONN_BROKEN;
    moat_connpool_put(&r.s->pool, r.slot, o, reply->why);
}

static void src_retire(void *self)
{
    moat_connpool_close_idle(&((ldap_src *)self)->pool);
}

const moat_backend_ops moat_backend_ldap = {
    .name = "ldap",
    .configured = src_configured,
    .create = src_create,
    .authenticate = src_authenticate,
    .retire = src_retire,
    .destroy = src_destroy,
};
