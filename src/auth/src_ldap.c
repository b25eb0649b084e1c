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
 * connect starts the backoff (backend.h): until it ends, requests fail at
 * once (reply->error). A connection used for a client's bind is bound as
 * the client afterwards: it binds as bind_dn again before its next search. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <ldap.h>
#include <openssl/crypto.h>

#include "auth/backend.h"
#include "auth/hash.h"
#include "auth/ldap_text.h"
#include "certs/check.h"
#include "base/log.h"
#include "conf/conf.h"
#include "core/loop.h"

#define MAX_USERNAME 1024 /* bytes of a username we search for */
#define SUPERUSER_ATTR "isSuperuser"

typedef struct ldap_slot {
    LDAP *ld;     /* NULL: not connected */
    bool busy;    /* a request has it */
    bool as_user; /* bound as a client: bind as bind_dn before the next search */
} ldap_slot;

typedef struct ldap_src {
    char uris[1200]; /* "ldap://h1:389 ldap://h2:389": libldap tries each */
    char *bind_dn, *bind_pw, *device_dn, *objectclass, *user_attr, *pw_attr;
    bool bind_as_user, ssl, verify;
    char *cacert, *cert, *key; /* NULL: not set */
    uint32_t timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ldap_slot *slots;
    size_t n_slots;
    moat_backoff bo;
    bool retired;
} ldap_src;

/* One request's connection. */
typedef struct ldap_req {
    ldap_src *s;
    ldap_slot *slot;
    int64_t deadline;
    bool fresh;     /* connected for this request (a failure is not a stale connection) */
    char diag[120]; /* libldap's diagnostic of a failed connect ("" none) */
} ldap_req;

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
    for (size_t i = 0; s->slots && i < s->n_slots; i++)
        if (s->slots[i].ld)
            ldap_unbind_ext_s(s->slots[i].ld, NULL, NULL);
    free(s->slots);
    if (s->bind_pw)
        OPENSSL_clear_free(s->bind_pw, strlen(s->bind_pw));
    char *strs[] = {s->bind_dn, s->device_dn, s->objectclass, s->user_attr,
                    s->pw_attr, s->cacert,    s->cert,        s->key};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(strs[i]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
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
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->ssl = c->ldap_ssl;
    s->verify = c->ldap_ssl_verify == MOAT_VERIFY_PEER;
    s->bind_as_user = c->ldap_bind_as_user;
    s->timeout_ms = c->ldap_timeout_ms;
    s->n_slots = c->ldap_pool;
    err[0] = '\0';
    bool ok =
        make_uris(s, c, err, errlen) && check_names(c, err, errlen) &&
        (!s->ssl ||
         (tls_file("cacertfile", c->ldap_ssl_cacertfile, MOAT_PEM_CERT, &s->cacert, err, errlen) &&
          tls_file("certfile", c->ldap_ssl_certfile, MOAT_PEM_CERT, &s->cert, err, errlen) &&
          tls_file("keyfile", c->ldap_ssl_keyfile, MOAT_PEM_KEY, &s->key, err, errlen)));
    if (ok) {
        s->slots = calloc(s->n_slots, sizeof *s->slots);
        s->bind_dn = strdup(c->ldap_bind_dn);
        s->bind_pw = strdup(c->ldap_bind_password);
        s->device_dn = strdup(c->ldap_device_dn);
        s->objectclass = strdup(c->ldap_objectclass);
        s->user_attr = strdup(c->ldap_username_attr);
        s->pw_attr = strdup(c->ldap_password_attr);
        ok = s->slots && s->bind_dn && s->bind_pw && s->device_dn && s->objectclass &&
             s->user_attr && s->pw_attr;
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

static int64_t left_ms(const ldap_req *r)
{
    return r->deadline - (int64_t)moat_now_ms();
}

/* The time one operation may take: what is left of the request, at most
 * auth.ldap.timeout. */
static struct timeval op_timeout(const ldap_req *r)
{
    int64_t ms = left_ms(r);
    if (ms > (int64_t)r->s->timeout_ms)
        ms = r->s->timeout_ms;
    if (ms < 1)
        ms = 1;
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

static int set_tls(ldap_src *s, LDAP *ld)
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

/* A simple bind as dn with pw (len bytes) on r's connection. */
static int simple_bind(ldap_req *r, const char *dn, const char *pw, size_t len)
{
    struct timeval tv = op_timeout(r);
    struct berval cred = {.bv_len = len, .bv_val = (char *)pw};
    ldap_set_option(r->slot->ld, LDAP_OPT_TIMEOUT, &tv);
    return ldap_sasl_bind_s(r->slot->ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

static int bind_service(ldap_req *r)
{
    int rc = simple_bind(r, r->s->bind_dn, r->s->bind_pw, strlen(r->s->bind_pw));
    r->slot->as_user = rc != LDAP_SUCCESS;
    return rc;
}

static void drop(ldap_slot *slot)
{
    if (slot->ld)
        ldap_unbind_ext_s(slot->ld, NULL, NULL);
    slot->ld = NULL;
    slot->as_user = false;
}

/* Why a connect failed, for the log line, into r->diag: what the server
 * said, or a hint where libldap says nothing useful. */
static void connect_diag(ldap_req *r, LDAP *ld, int rc, bool options_ok)
{
    char *msg = NULL;
    if (!options_ok)
        snprintf(r->diag, sizeof r->diag,
                 " (libldap refused the connection settings: are the auth.ldap.ssl.* files PEM "
                 "certificates and a key that fit?)");
    else if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) == LDAP_OPT_SUCCESS && msg &&
             msg[0] && msg[0] != '(')
        snprintf(r->diag, sizeof r->diag, " (%s)", msg);
    else if (r->s->ssl && rc == LDAP_SERVER_DOWN) /* libldap says no more of TLS failures */
        snprintf(r->diag, sizeof r->diag,
                 " (or the TLS handshake failed: is the server's certificate signed by "
                 "auth.ldap.ssl.cacertfile, for this host name?)");
    ldap_memfree(msg);
}

/* Connect r's slot and bind as bind_dn. */
static int connect_slot(ldap_req *r)
{
    ldap_src *s = r->s;
    LDAP *ld = NULL;
    int rc = ldap_initialize(&ld, s->uris), v3 = LDAP_VERSION3;
    if (rc != LDAP_SUCCESS)
        return rc;
    struct timeval tv = op_timeout(r);
    r->slot->ld = ld;
    r->fresh = true;
    bool options_ok =
        (rc = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3)) == LDAP_OPT_SUCCESS &&
        (rc = ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)) == LDAP_OPT_SUCCESS &&
        (rc = ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv)) == LDAP_OPT_SUCCESS &&
        (!s->ssl || (rc = set_tls(s, ld)) == LDAP_OPT_SUCCESS);
    if (options_ok)
        rc = bind_service(r);
    if (rc != LDAP_SUCCESS) {
        connect_diag(r, ld, rc, options_ok);
        drop(r->slot);
    }
    return rc;
}

static bool link_broken(int rc)
{
    return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT;
}

/* Take a free slot for r (under mu), waiting until the deadline when all
 * are busy; false with why when none came or the server is backing off. */
static bool take_slot(ldap_req *r, moat_auth_reply *reply)
{
    ldap_src *s = r->s;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        ldap_slot *idle = NULL;
        for (size_t i = 0; i < s->n_slots && !(idle && idle->ld); i++)
            if (!s->slots[i].busy && (!idle || s->slots[i].ld))
                idle = &s->slots[i];
        int64_t now = (int64_t)moat_now_ms();
        if (idle && !idle->ld && !moat_backoff_ready(&s->bo, now)) {
            snprintf(reply->why, sizeof reply->why, "LDAP server unreachable, next try in %lld ms",
                     (long long)(s->bo.until_ms - now));
            break;
        }
        if (idle) {
            idle->busy = true;
            r->slot = idle;
            pthread_mutex_unlock(&s->mu);
            return true;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait = r->deadline - now;
        if (wait <= 0) {
            snprintf(reply->why, sizeof reply->why,
                     "all %zu LDAP connections busy (auth.ldap.pool)", s->n_slots);
            break;
        }
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000)
            ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    reply->error = true;
    return false;
}

static void give_slot(ldap_req *r)
{
    ldap_src *s = r->s;
    pthread_mutex_lock(&s->mu);
    if (s->retired)
        drop(r->slot);
    r->slot->busy = false;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* The connect worked or failed: the backoff and its log line. */
static void note_connect(ldap_req *r, int rc)
{
    ldap_src *s = r->s;
    pthread_mutex_lock(&s->mu);
    if (rc == LDAP_SUCCESS && moat_backoff_ok(&s->bo))
        LOG_NOTICE("auth: ldap: %s reachable again", s->uris);
    else if (rc != LDAP_SUCCESS && moat_backoff_fail(&s->bo, (int64_t)moat_now_ms()))
        LOG_WARN("auth: ldap: cannot connect and bind to %s as '%s': %s%s; requests fail "
                 "(auth.on_error) until it is back, retrying with backoff",
                 s->uris, s->bind_dn, ldap_err2string(rc), r->diag);
    pthread_mutex_unlock(&s->mu);
}

/* r's slot connected and bound as bind_dn. */
static int ready(ldap_req *r)
{
    if (!r->slot->ld) {
        int rc = connect_slot(r);
        note_connect(r, rc);
        return rc;
    }
    return r->slot->as_user ? bind_service(r) : LDAP_SUCCESS;
}

/* ---- one request ---- */

typedef struct found {
    int count;        /* entries that matched */
    bool password_ok; /* a value of the password attribute matched */
    bool has_password;
    bool superuser;
} found;

static void read_entry(ldap_req *r, LDAPMessage *e, const moat_auth_req *rq, found *f)
{
    LDAP *ld = r->slot->ld;
    struct berval **v = ldap_get_values_len(ld, e, r->s->pw_attr);
    for (int i = 0; v && v[i]; i++) {
        f->has_password = true;
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
    struct timeval tv = op_timeout(r);
    LDAPMessage *res = NULL;
    int rc = ldap_search_ext_s(r->slot->ld, r->s->device_dn, LDAP_SCOPE_SUBTREE, filter, attrs, 0,
                               NULL, NULL, &tv, 2, &res);
    if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) {
        memset(f, 0, sizeof *f);
        f->count = ldap_count_entries(r->slot->ld, res);
        if (f->count == 1)
            read_entry(r, ldap_first_entry(r->slot->ld, res), rq, f);
        rc = LDAP_SUCCESS;
    }
    ldap_msgfree(res);
    return rc;
}

/* Run the search on a ready connection; once more on a fresh one when a
 * kept connection turns out broken (the server restarted meanwhile). */
static int search_retry(ldap_req *r, const char *filter, const moat_auth_req *rq, found *f)
{
    for (int attempt = 0;; attempt++) {
        r->fresh = false;
        int rc = ready(r);
        if (rc == LDAP_SUCCESS)
            rc = search(r, filter, rq, f);
        if (!link_broken(rc) || r->fresh || attempt > 0)
            return rc;
        drop(r->slot);
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
        r->slot->as_user = true;
        int rc = simple_bind(r, dn, rq->password, rq->password_len);
        if (rc == LDAP_SUCCESS) {
            reply->result = MOAT_AUTH_ALLOW;
        } else if (rc == LDAP_INVALID_CREDENTIALS) {
            reply->result = MOAT_AUTH_DENY;
            snprintf(reply->why, sizeof reply->why, "LDAP bind as the client refused");
        } else {
            reply->error = true;
            snprintf(reply->why, sizeof reply->why, "LDAP bind as the client: %s",
                     ldap_err2string(rc));
            if (link_broken(rc))
                drop(r->slot);
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
        if (!f->password_ok)
            snprintf(reply->why, sizeof reply->why, "%s",
                     f->has_password ? "password does not match the LDAP entry"
                                     : "the LDAP entry has no password attribute");
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
    if (take_slot(&r, reply)) {
        found f = {0};
        int rc = search_retry(&r, filter, rq, &f);
        if (rc == LDAP_SUCCESS) {
            answer(&r, rq, &f, reply);
        } else {
            reply->error = true;
            snprintf(reply->why, sizeof reply->why, "LDAP search: %s", ldap_err2string(rc));
            if (link_broken(rc))
                drop(r.slot);
        }
        give_slot(&r);
    }
    free(filter);
}

static void src_retire(void *self)
{
    ldap_src *s = self;
    pthread_mutex_lock(&s->mu);
    s->retired = true;
    for (size_t i = 0; i < s->n_slots; i++)
        if (!s->slots[i].busy)
            drop(&s->slots[i]);
    pthread_mutex_unlock(&s->mu);
}

const moat_backend_ops moat_backend_ldap = {
    .name = "ldap",
    .configured = src_configured,
    .create = src_create,
    .authenticate = src_authenticate,
    .retire = src_retire,
    .destroy = src_destroy,
};
