/* SPDX-License-Identifier: Apache-2.0 */
/* The authentication chain (see auth.h), its local sources
 *   builtin      auth.user.N / auth.client.N from the configuration
 *   passwd_file  a Mosquitto password file (password_file)
 * (with auth.mnesia.password_hash = argon2id the built-in entries go to the
 * store backend instead, src_store.c: their check must run on the pool)
 * which are read once, when the moat_auth is built, and the external
 * backends (backend.h), run on the worker pool; plus the ACL file. */
#include "auth/auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/acl.h"
#include "auth/backend.h"
#include "auth/hash.h"
#include "auth/pool.h"
#include "base/log.h"
#include "conf/conf.h"
#include "proxy/proxy.h"
#include "core/loop.h"

#define MAX_SOURCES 16
#define MAX_FILE_BYTES (64u * 1024 * 1024)

/* A credential as kept in memory: who, and how to check a password. */
typedef struct cred {
    char *id;
    moat_hash_params hp;
    char salt[33];
    char *stored; /* hex digest, bcrypt string, or a mosquitto $6$/$7$ hash */
    bool mosquitto;
    bool superuser;
} cred;

typedef struct cred_set {
    cred *v;
    size_t n;
} cred_set;

typedef struct builtin_src {
    cred_set users, clients;
} builtin_src;

/* A local source: answers at once. */
typedef struct moat_auth_source_ops {
    const char *name; /* as written in auth.chain */
    moat_auth_result (*authenticate)(const void *self, const moat_auth_client *cl, bool *superuser);
} moat_auth_source_ops;

/* One link of the chain: a local source, or a backend (be != NULL). */
typedef struct source {
    const moat_auth_source_ops *ops;
    const moat_backend_ops *be;
    void *self;
} source;

/* An order in which sources are asked: indices into moat_auth.src. */
typedef struct chain_order {
    uint8_t idx[MAX_SOURCES];
    size_t n;
    bool set; /* a listener's own auth_chain (else the global one applies) */
} chain_order;

struct moat_auth {
    source src[MAX_SOURCES]; /* every source some chain names, each built once */
    size_t n_src;
    chain_order global;                          /* auth.chain */
    chain_order lorder[MOAT_CONF_MAX_LISTENERS]; /* listener.<type>.<name>.auth_chain */
    builtin_src builtin;
    cred_set passwd;
    moat_acl *acl;
    moat_pool *pool;
    moat_cidr_list ban_exempt;
    uint32_t timeout_ms;
    int on_error;
};

/* ---- credentials ---- */

static void cred_set_free(cred_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].id);
        if (s->v[i].stored)
            OPENSSL_clear_free(s->v[i].stored, strlen(s->v[i].stored));
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static cred *cred_add(cred_set *s, const char *id, size_t idlen)
{
    cred *v = realloc(s->v, (s->n + 1) * sizeof *v);
    if (!v)
        return NULL;
    s->v = v;
    cred *c = &v[s->n];
    memset(c, 0, sizeof *c);
    if (!(c->id = strndup(id, idlen)))
        return NULL;
    s->n++;
    return c;
}

static const cred *cred_find(const cred_set *s, const char *id)
{
    for (size_t i = 0; id && i < s->n; i++)
        if (!strcmp(s->v[i].id, id))
            return &s->v[i];
    return NULL;
}

static bool cred_verify(const cred *c, const moat_auth_client *cl)
{
    if (!cl->password)
        return false;
    if (c->mosquitto)
        return moat_hash_verify_mosquitto(c->stored, cl->password, cl->password_len);
    return moat_hash_verify(&c->hp, cl->password, cl->password_len, c->stored);
}

/* A password from the configuration. plain: hashed here with SHA-256 and a
 * random salt, so that the clear text does not stay in this copy. */
static moat_err cred_from_conf(cred *c, moat_hash_alg alg, const char *pw)
{
    c->hp.alg = alg;
    if (alg != MOAT_HASH_PLAIN)
        return (c->stored = strdup(pw)) ? MOAT_OK : MOAT_ENOMEM;
    uint8_t rnd[16];
    char hex[2 * 64 + 1];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return MOAT_EIO;
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(c->salt + 2 * i, 3, "%02x", rnd[i]);
    c->hp =
        (moat_hash_params){.alg = MOAT_HASH_SHA256, .salt_pos = MOAT_SALT_PREFIX, .salt = c->salt};
    if (moat_hash_hex(&c->hp, pw, strlen(pw), hex, sizeof hex) != MOAT_OK)
        return MOAT_EINVAL;
    return (c->stored = strdup(hex)) ? MOAT_OK : MOAT_ENOMEM;
}

static moat_err load_conf_creds(cred_set *s, const moat_conf_cred *v, moat_hash_alg alg)
{
    if (alg == MOAT_HASH_ARGON2ID)
        return MOAT_OK; /* too slow for a loop: the store source checks these (src_store.c) */
    for (size_t i = 0; i < MOAT_AUTH_MAX_ENTRIES; i++) {
        if (!v[i].id[0])
            continue;
        cred *c = cred_add(s, v[i].id, strlen(v[i].id));
        if (!c)
            return MOAT_ENOMEM;
        c->superuser = v[i].superuser;
        moat_err e = cred_from_conf(c, alg, v[i].password);
        if (e)
            return e;
        /* hp.salt must point into the set's final array: fixed below */
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].hp.salt)
            s->v[i].hp.salt = s->v[i].salt;
    return MOAT_OK;
}

/* ---- the password file ---- */

static moat_err read_whole(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return MOAT_EIO;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *b = cap <= MAX_FILE_BYTES ? realloc(buf, cap) : NULL;
            if (!b) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: too large or out of memory", path);
                return MOAT_ENOMEM;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r < 4096)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return MOAT_EIO;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return MOAT_OK;
}

/* One line "user:$7$..." of a mosquitto_passwd file. */
static moat_err passwd_line(cred_set *s, const char *path, int line, char *p, char *err,
                            size_t errlen)
{
    size_t l = strlen(p);
    while (l && (p[l - 1] == '\r' || p[l - 1] == ' ' || p[l - 1] == '\t'))
        p[--l] = '\0';
    if (!l || p[0] == '#')
        return MOAT_OK;
    char *colon = strchr(p, ':');
    if (!colon || colon == p || (strncmp(colon + 1, "$6$", 3) && strncmp(colon + 1, "$7$", 3))) {
        snprintf(err, errlen,
                 "%s:%d: expected user:$6$... or user:$7$... (a file made by mosquitto_passwd)",
                 path, line);
        return MOAT_EINVAL;
    }
    cred *c = cred_add(s, p, (size_t)(colon - p));
    if (!c || !(c->stored = strdup(colon + 1)))
        return MOAT_ENOMEM;
    c->mosquitto = true;
    return MOAT_OK;
}

static moat_err load_passwd(cred_set *s, const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    moat_err e = read_whole(path, &text, &len, err, errlen);
    if (e)
        return e;
    int line = 0;
    for (char *p = text, *nl; !e && p && *p; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        e = passwd_line(s, path, ++line, p, err, errlen);
    }
    OPENSSL_clear_free(text, len + 1);
    return e;
}

/* ---- sources ---- */

static moat_auth_result builtin_authenticate(const void *self, const moat_auth_client *cl,
                                             bool *superuser)
{
    const builtin_src *b = self;
    /* EMQX 4 checks the client id first, then the username. */
    const cred *c = cred_find(&b->clients, cl->client_id);
    if (!c)
        c = cred_find(&b->users, cl->username);
    if (!c)
        return MOAT_AUTH_IGNORE;
    if (!cred_verify(c, cl))
        return MOAT_AUTH_DENY;
    *superuser = c->superuser;
    return MOAT_AUTH_ALLOW;
}

static moat_auth_result passwd_authenticate(const void *self, const moat_auth_client *cl,
                                            bool *superuser)
{
    (void)superuser;
    const cred *c = cred_find(self, cl->username);
    if (!c)
        return MOAT_AUTH_IGNORE;
    return cred_verify(c, cl) ? MOAT_AUTH_ALLOW : MOAT_AUTH_DENY;
}

static const moat_auth_source_ops source_ops[] = {
    {"builtin", builtin_authenticate},
    {"passwd_file", passwd_authenticate},
};
#define N_SOURCE_OPS (sizeof source_ops / sizeof source_ops[0])

/* Index of name among the local sources then the backends; -1 unknown. */
static int source_index(const char *name, size_t len)
{
    for (size_t i = 0; i < N_SOURCE_OPS; i++)
        if (strlen(source_ops[i].name) == len && !strncmp(source_ops[i].name, name, len))
            return (int)i;
    for (size_t i = 0; moat_backends[i]; i++)
        if (strlen(moat_backends[i]->name) == len && !strncmp(moat_backends[i]->name, name, len))
            return (int)(N_SOURCE_OPS + i);
    return -1;
}

static bool is_auto(const char *chain)
{
    while (*chain == ' ' || *chain == '\t')
        chain++;
    return !strncmp(chain, "auto", 4) && strspn(chain + 4, " \t") == strlen(chain + 4);
}

/* Calls fn for each name of chain; stops at the first false. */
static bool each_name(const char *chain, bool (*fn)(void *ctx, const char *name, size_t len),
                      void *ctx)
{
    for (const char *p = chain; *p;) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, ", \t");
        if (len && !fn(ctx, p, len))
            return false;
        p += len;
    }
    return true;
}

typedef struct chain_check {
    uint64_t seen;
    char *why;
    size_t n;
} chain_check;

static bool check_name(void *ctx, const char *name, size_t len)
{
    chain_check *cc = ctx;
    int i = source_index(name, len);
    if (i < 0) {
        size_t o = (size_t)snprintf(cc->why, cc->n,
                                    "unknown source '%.*s' (expected auto, or "
                                    "some of builtin, passwd_file",
                                    (int)len, name);
        for (size_t k = 0; moat_backends[k] && o < cc->n; k++)
            o += (size_t)snprintf(cc->why + o, cc->n - o, ", %s", moat_backends[k]->name);
        if (o < cc->n)
            snprintf(cc->why + o, cc->n - o, ")");
        return false;
    }
    if (cc->seen & (1ull << i)) {
        snprintf(cc->why, cc->n, "source '%.*s' named twice", (int)len, name);
        return false;
    }
    cc->seen |= 1ull << i;
    return true;
}

bool moat_auth_chain_valid(const char *chain, char *why, size_t n)
{
    chain_check cc = {0, why, n};
    return is_auto(chain) || each_name(chain, check_name, &cc);
}

typedef struct chain_build {
    moat_auth *a;
    const moat_conf *c;
    chain_order *order; /* being built */
    const char *key;    /* its configuration key, for messages */
    char *err;
    size_t errlen;
    moat_err e;
} chain_build;

static const char *source_name(const source *s)
{
    return s->ops ? s->ops->name : s->be->name;
}

/* The source named (built at its first mention) appended to cb->order. */
static bool add_source(void *ctx, const char *name, size_t len)
{
    chain_build *cb = ctx;
    moat_auth *a = cb->a;
    int i = source_index(name, len);
    if (i < 0 || cb->order->n == MAX_SOURCES) {
        snprintf(cb->err, cb->errlen, "%s: '%.*s' is not a valid source here", cb->key, (int)len,
                 name);
        cb->e = MOAT_EINVAL;
        return false;
    }
    size_t k = 0;
    while (k < a->n_src &&
           (strlen(source_name(&a->src[k])) != len || strncmp(source_name(&a->src[k]), name, len)))
        k++;
    cb->order->idx[cb->order->n++] = (uint8_t)k;
    if (k < a->n_src) /* built for an earlier chain */
        return true;
    source *s = &a->src[a->n_src];
    if ((size_t)i < N_SOURCE_OPS) {
        s->ops = &source_ops[i];
        s->self = i == 0 ? (void *)&a->builtin : (void *)&a->passwd;
        a->n_src++;
        return true;
    }
    const moat_backend_ops *be = moat_backends[(size_t)i - N_SOURCE_OPS];
    if (!be->configured(cb->c)) {
        snprintf(cb->err, cb->errlen,
                 "%s names %s, but its settings (auth.%s.*) are not set: set them, or take %s "
                 "out of %s",
                 cb->key, be->name, be->name, be->name, cb->key);
        cb->e = MOAT_EINVAL;
        return false;
    }
    if (!a->pool) {
        snprintf(cb->err, cb->errlen, "%s: %s needs the worker pool", cb->key, be->name);
        cb->e = MOAT_EINVAL;
        return false;
    }
    if ((cb->e = be->create(cb->c, &s->self, cb->err, cb->errlen)) != MOAT_OK)
        return false;
    s->be = be;
    a->n_src++;
    return true;
}

/* auth.chain = auto: the local sources, then every configured backend. */
static bool add_auto(chain_build *cb)
{
    for (size_t i = 0; i < N_SOURCE_OPS; i++)
        if (!add_source(cb, source_ops[i].name, strlen(source_ops[i].name)))
            return false;
    for (size_t i = 0; moat_backends[i]; i++)
        if (moat_backends[i]->configured(cb->c) &&
            !add_source(cb, moat_backends[i]->name, strlen(moat_backends[i]->name)))
            return false;
    return true;
}

static bool build_order(chain_build *cb, const char *chain)
{
    return is_auto(chain) ? add_auto(cb) : each_name(chain, add_source, cb);
}

bool moat_auth_has_backends(const moat_conf *c)
{
    bool any = false;
    for (size_t i = 0; moat_backends[i]; i++)
        if (moat_backends[i]->configured(c))
            any = true;
    return any;
}

/* ---- the whole ---- */

void moat_auth_free(moat_auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n_src; i++)
        if (a->src[i].be)
            a->src[i].be->destroy(a->src[i].self);
    cred_set_free(&a->builtin.users);
    cred_set_free(&a->builtin.clients);
    cred_set_free(&a->passwd);
    moat_acl_free(a->acl);
    moat_cidr_list_free(&a->ban_exempt);
    free(a);
}

static moat_err load_acl(moat_auth *a, const char *path, char *err, size_t errlen)
{
    char *text;
    size_t len;
    moat_err e = read_whole(path, &text, &len, err, errlen);
    if (e)
        return e;
    e = moat_acl_parse(path, text, len, &a->acl, err, errlen);
    free(text);
    return e;
}

void moat_auth_retire(moat_auth *a)
{
    for (size_t i = 0; a && i < a->n_src; i++)
        if (a->src[i].be && a->src[i].be->retire)
            a->src[i].be->retire(a->src[i].self);
}

static bool conf_has_creds(const moat_conf *c)
{
    for (size_t i = 0; i < MOAT_AUTH_MAX_ENTRIES; i++)
        if (c->auth_users[i].id[0] || c->auth_clients[i].id[0])
            return true;
    return false;
}

static bool has_store(const moat_auth *a)
{
    for (size_t i = 0; i < a->n_src; i++)
        if (a->src[i].be == &moat_backend_store)
            return true;
    return false;
}

moat_err moat_auth_new(const moat_conf *c, moat_pool *pool, moat_auth **out, char *err,
                       size_t errlen)
{
    moat_auth *a = calloc(1, sizeof *a);
    moat_err e = MOAT_ENOMEM;
    if (errlen)
        err[0] = '\0';
    if (!a)
        goto fail;
    a->pool = pool;
    a->timeout_ms = c->auth_timeout_ms;
    a->on_error = c->auth_on_error;
    if ((e = moat_cidr_list_parse(c->ban_exempt, &a->ban_exempt, err, errlen)) != MOAT_OK)
        goto fail;
    moat_hash_alg alg = (moat_hash_alg)c->auth_password_hash;
    if ((e = load_conf_creds(&a->builtin.users, c->auth_users, alg)) ||
        (e = load_conf_creds(&a->builtin.clients, c->auth_clients, alg))) {
        snprintf(err, errlen, "auth.user / auth.client: cannot prepare the passwords");
        goto fail;
    }
    if (c->password_file[0] && (e = load_passwd(&a->passwd, c->password_file, err, errlen)))
        goto fail;
    if (c->acl_file[0] && (e = load_acl(a, c->acl_file, err, errlen)))
        goto fail;
    chain_build cb = {a, c, &a->global, "auth.chain", err, errlen, MOAT_OK};
    if (!build_order(&cb, c->auth_chain)) {
        e = cb.e ? cb.e : MOAT_EINVAL;
        goto fail;
    }
    for (uint32_t i = 0; i < c->n_listeners && i < MOAT_CONF_MAX_LISTENERS; i++) {
        const moat_listener_conf *l = &c->listeners[i];
        if (!l->auth_chain[0])
            continue;
        char key[160];
        snprintf(key, sizeof key, "listener.%s.%s.auth_chain", l->type, l->name);
        cb.order = &a->lorder[i];
        cb.key = key;
        a->lorder[i].set = true;
        if (!build_order(&cb, l->auth_chain)) {
            e = cb.e ? cb.e : MOAT_EINVAL;
            goto fail;
        }
    }
    if (alg == MOAT_HASH_ARGON2ID && conf_has_creds(c) && !has_store(a)) {
        snprintf(err, errlen,
                 "auth.mnesia.password_hash = argon2id: auth.user.N / auth.client.N are then "
                 "checked by the store source, which auth.chain leaves out (add store to it)");
        e = MOAT_EINVAL;
        goto fail;
    }
    *out = a;
    return MOAT_OK;
fail:
    if (e == MOAT_ENOMEM && err[0] == '\0')
        snprintf(err, errlen, "out of memory");
    moat_auth_free(a);
    return e;
}

/* ---- backend requests ---- */

/* One request on the pool: the client copied into one block. */
typedef struct job {
    const moat_auth *a;
    size_t index;  /* of the backend in a->src */
    size_t pos;    /* its position in the client's chain */
    bool acl_only; /* a refresh of the client's rules (ops->acl) */
    int64_t deadline;
    moat_auth_done_fn done;
    void *arg;
    moat_auth_req rq;
    size_t size; /* of this block, to wipe it */
    char addr[64];
    char data[]; /* the strings rq points to */
} job;

static const char *put(char **p, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = *p;
    memcpy(d, s, n);
    d[n] = '\0';
    *p += n + 1;
    return d;
}

/* Room a copy of s takes, its NUL included (none for NULL). */
static size_t slen(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static size_t strlen0(const char *s)
{
    return s ? strlen(s) : 0;
}

static job *job_new(const moat_auth_client *cl)
{
    size_t n = slen(cl->username) + slen(cl->client_id ? cl->client_id : "") + slen(cl->cert_cn) +
               slen(cl->cert_dn) + slen(cl->listener) + (cl->password ? cl->password_len + 1 : 0);
    job *j = calloc(1, sizeof *j + n);
    if (!j)
        return NULL;
    j->size = sizeof *j + n;
    char *p = j->data;
    j->rq.username = put(&p, cl->username, strlen0(cl->username));
    j->rq.client_id = put(&p, cl->client_id ? cl->client_id : "", strlen0(cl->client_id));
    j->rq.cert_cn = put(&p, cl->cert_cn, strlen0(cl->cert_cn));
    j->rq.cert_dn = put(&p, cl->cert_dn, strlen0(cl->cert_dn));
    j->rq.listener = put(&p, cl->listener, strlen0(cl->listener));
    j->rq.password = put(&p, cl->password, cl->password_len);
    j->rq.password_len = cl->password ? cl->password_len : 0;
    j->rq.addr = j->addr;
    if (cl->addr && cl->addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)cl->addr)->sin_addr, j->addr,
                  sizeof j->addr);
    else if (cl->addr && cl->addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)cl->addr)->sin6_addr, j->addr,
                  sizeof j->addr);
    return j;
}

static void job_free(job *j)
{
    OPENSSL_clear_free(j, j->size);
}

static void job_run(void *arg, bool cancelled)
{
    job *j = arg;
    const source *s = &j->a->src[j->index];
    moat_auth_reply r;
    memset(&r, 0, sizeof r);
    int64_t now = (int64_t)moat_now_ms();
    if (cancelled) {
        r.error = true;
        snprintf(r.why, sizeof r.why, "the broker is stopping");
    } else if (now >= j->deadline) {
        r.error = true;
        snprintf(r.why, sizeof r.why, "no worker free within auth.timeout (%u ms)",
                 j->a->timeout_ms);
    } else if (j->acl_only) {
        r.result = MOAT_AUTH_ALLOW;
        s->be->acl(s->self, &j->rq, j->deadline, &r);
    } else {
        s->be->authenticate(s->self, &j->rq, j->deadline, &r);
        if (!r.error && (int64_t)moat_now_ms() > j->deadline + 1000) {
            r.error = true; /* answered, but far too late to trust the wait */
            snprintf(r.why, sizeof r.why, "answer after auth.timeout (%u ms)", j->a->timeout_ms);
        }
    }
    moat_auth_answer ans = {.result = r.error ? MOAT_AUTH_DENY : r.result,
                            .superuser = !r.error && r.result == MOAT_AUTH_ALLOW && r.superuser,
                            .error = r.error,
                            .source = s->be->name,
                            .next = j->pos + 1,
                            .src = j->index,
                            .acl = !r.error && r.result == MOAT_AUTH_ALLOW ? r.acl : NULL};
    if (r.acl && !ans.acl)
        moat_acl_free(r.acl);
    if (r.result == MOAT_AUTH_PENDING) /* a backend bug: never PENDING */
        ans.result = MOAT_AUTH_DENY, ans.error = true;
    snprintf(ans.why, sizeof ans.why, "%s", r.why);
    j->done(j->arg, &ans);
    if (ans.acl) /* done did not take it */
        moat_acl_free(ans.acl);
    job_free(j);
}

/* The chain that applies to cl: its listener's own, or auth.chain. */
static const chain_order *order_of(const moat_auth *a, const moat_auth_client *cl)
{
    size_t l = cl->listener_slot;
    return l && l <= MOAT_CONF_MAX_LISTENERS && a->lorder[l - 1].set ? &a->lorder[l - 1]
                                                                     : &a->global;
}

/* The client's chain from position i on. done's argument is ctx, or
 * make(ctx) when make is given: made only when a backend is really asked. */
static void run_chain(const moat_auth *a, size_t i, const moat_auth_client *cl,
                      moat_auth_answer *out, moat_auth_done_fn done, moat_auth_make_arg_fn make,
                      void *ctx)
{
    const chain_order *o = order_of(a, cl);
    memset(out, 0, sizeof *out);
    out->result = MOAT_AUTH_IGNORE;
    out->source = "";
    for (; i < o->n; i++) {
        const source *s = &a->src[o->idx[i]];
        out->source = source_name(s);
        out->next = i + 1;
        if (s->ops) {
            bool super = false;
            moat_auth_result r = s->ops->authenticate(s->self, cl, &super);
            if (r == MOAT_AUTH_IGNORE)
                continue;
            out->result = r;
            out->superuser = r == MOAT_AUTH_ALLOW && super;
            return;
        }
        if (s->be->knows && !s->be->knows(s->self, cl->username, cl->client_id))
            continue;
        job *j = done ? job_new(cl) : NULL;
        void *arg = j && make ? make(ctx) : ctx;
        moat_err e = MOAT_ENOMEM;
        if (j && arg) {
            j->a = a;
            j->index = o->idx[i];
            j->pos = i;
            j->done = done;
            j->arg = arg;
            j->deadline = (int64_t)moat_now_ms() + a->timeout_ms;
            e = moat_pool_submit(a->pool, job_run, j);
        }
        if (e == MOAT_OK) {
            out->result = MOAT_AUTH_PENDING;
            return;
        }
        if (j)
            job_free(j);
        snprintf(out->why, sizeof out->why, "%s",
                 e == MOAT_ELIMIT ? "worker queue full (auth.queue_max)"
                                  : "cannot queue the request");
        if (a->on_error == MOAT_AUTH_ON_ERROR_IGNORE)
            continue;
        out->result = MOAT_AUTH_DENY;
        out->error = true;
        return;
    }
    out->result = MOAT_AUTH_IGNORE;
    out->source = "";
}

bool moat_auth_refresh_acl(const moat_auth *a, size_t src, const moat_auth_client *cl,
                           moat_auth_done_fn done, void *arg)
{
    if (src >= a->n_src || !a->src[src].be || !a->src[src].be->acl)
        return false;
    job *j = job_new(cl);
    if (!j)
        return false;
    j->a = a;
    j->index = src;
    j->acl_only = true;
    j->done = done;
    j->arg = arg;
    j->deadline = (int64_t)moat_now_ms() + a->timeout_ms;
    if (moat_pool_submit(a->pool, job_run, j) == MOAT_OK)
        return true;
    job_free(j);
    return false;
}

bool moat_auth_ban_exempt(const moat_auth *a, const struct sockaddr *addr)
{
    return addr && a->ban_exempt.n && moat_cidr_list_match(&a->ban_exempt, addr);
}

bool moat_auth_may_pend(const moat_auth *a)
{
    for (size_t i = 0; i < a->n_src; i++)
        if (a->src[i].be)
            return true;
    return false;
}

void moat_auth_check(const moat_auth *a, const moat_auth_client *cl, moat_auth_answer *out,
                     moat_auth_done_fn done, void *arg)
{
    run_chain(a, 0, cl, out, done, NULL, arg);
}

void moat_auth_check_lazy(const moat_auth *a, const moat_auth_client *cl, moat_auth_answer *out,
                          moat_auth_done_fn done, moat_auth_make_arg_fn make, void *ctx)
{
    run_chain(a, 0, cl, out, done, make, ctx);
}

void moat_auth_continue(const moat_auth *a, moat_auth_answer *got, const moat_auth_client *cl,
                        moat_auth_answer *out, moat_auth_done_fn done, void *arg)
{
    bool next =
        got->result == MOAT_AUTH_IGNORE || (got->error && a->on_error == MOAT_AUTH_ON_ERROR_IGNORE);
    if (!next) {
        if (out != got)
            *out = *got;
        return;
    }
    if (got->error)
        LOG_WARN("auth: %s failed (%s); auth.on_error = ignore: asking the next source",
                 got->source, got->why);
    if (got->acl)
        moat_acl_free(got->acl);
    got->acl = NULL;
    run_chain(a, got->next, cl, out, done, NULL, arg);
}

const struct moat_acl *moat_auth_acl(const moat_auth *a)
{
    return a ? a->acl : NULL;
}

void moat_auth_counts(const moat_auth *a, size_t *users, size_t *clients, size_t *passwd,
                      size_t *rules)
{
    *users = a->builtin.users.n;
    *clients = a->builtin.clients.n;
    *passwd = a->passwd.n;
    *rules = moat_acl_count(a->acl);
}
