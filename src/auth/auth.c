/* SPDX-License-Identifier: Apache-2.0 */
/* The authentication chain and its local sources (see auth.h):
 *   builtin      auth.user.N / auth.client.N from the configuration
 *   passwd_file  a Mosquitto password file (password_file)
 * plus the ACL file. Everything is read once, when the moat_auth is built. */
#include "auth/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "auth/acl.h"
#include "auth/hash.h"
#include "conf/conf.h"

#define MAX_SOURCES 8
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

typedef struct source {
    const moat_auth_source_ops *ops;
    void *self;
} source;

struct moat_auth {
    source chain[MAX_SOURCES];
    size_t n_sources;
    builtin_src builtin;
    cred_set passwd;
    moat_acl *acl;
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
                                             bool *superuser, moat_auth_done_fn done, void *arg)
{
    (void)done, (void)arg;
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
                                            bool *superuser, moat_auth_done_fn done, void *arg)
{
    (void)superuser, (void)done, (void)arg;
    const cred *c = cred_find(self, cl->username);
    if (!c)
        return MOAT_AUTH_IGNORE;
    return cred_verify(c, cl) ? MOAT_AUTH_ALLOW : MOAT_AUTH_DENY;
}

static void no_destroy(void *self)
{
    (void)self; /* owned by the moat_auth */
}

static const moat_auth_source_ops source_ops[] = {
    {"builtin", builtin_authenticate, no_destroy},
    {"passwd_file", passwd_authenticate, no_destroy},
};
#define N_SOURCE_OPS (sizeof source_ops / sizeof source_ops[0])

static const moat_auth_source_ops *ops_named(const char *name, size_t len)
{
    for (size_t i = 0; i < N_SOURCE_OPS; i++)
        if (strlen(source_ops[i].name) == len && !strncmp(source_ops[i].name, name, len))
            return &source_ops[i];
    return NULL;
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
    unsigned seen;
    char *why;
    size_t n;
} chain_check;

static bool check_name(void *ctx, const char *name, size_t len)
{
    chain_check *cc = ctx;
    const moat_auth_source_ops *o = ops_named(name, len);
    if (!o) {
        snprintf(cc->why, cc->n, "unknown source '%.*s' (expected builtin, passwd_file)", (int)len,
                 name);
        return false;
    }
    unsigned bit = 1u << (o - source_ops);
    if (cc->seen & bit) {
        snprintf(cc->why, cc->n, "source '%.*s' named twice", (int)len, name);
        return false;
    }
    cc->seen |= bit;
    return true;
}

bool moat_auth_chain_valid(const char *chain, char *why, size_t n)
{
    chain_check cc = {0, why, n};
    return each_name(chain, check_name, &cc);
}

static bool add_source(void *ctx, const char *name, size_t len)
{
    moat_auth *a = ctx;
    const moat_auth_source_ops *o = ops_named(name, len);
    if (!o || a->n_sources == MAX_SOURCES)
        return false;
    void *self = o == &source_ops[0] ? (void *)&a->builtin : (void *)&a->passwd;
    a->chain[a->n_sources++] = (source){o, self};
    return true;
}

/* ---- the whole ---- */

void moat_auth_free(moat_auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n_sources; i++)
        a->chain[i].ops->destroy(a->chain[i].self);
    cred_set_free(&a->builtin.users);
    cred_set_free(&a->builtin.clients);
    cred_set_free(&a->passwd);
    moat_acl_free(a->acl);
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

moat_err moat_auth_new(const moat_conf *c, moat_auth **out, char *err, size_t errlen)
{
    moat_auth *a = calloc(1, sizeof *a);
    moat_err e = MOAT_ENOMEM;
    if (errlen)
        err[0] = '\0';
    if (!a)
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
    if (!each_name(c->auth_chain, add_source, a)) {
        snprintf(err, errlen, "auth.chain: '%s' is not a valid chain", c->auth_chain);
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

void moat_auth_check(const moat_auth *a, const moat_auth_client *cl, moat_auth_answer *out,
                     moat_auth_done_fn done, void *arg)
{
    *out = (moat_auth_answer){.result = MOAT_AUTH_IGNORE, .source = ""};
    for (size_t i = 0; i < a->n_sources; i++) {
        bool super = false;
        moat_auth_result r = a->chain[i].ops->authenticate(a->chain[i].self, cl, &super, done, arg);
        if (r == MOAT_AUTH_IGNORE)
            continue;
        *out = (moat_auth_answer){.result = r,
                                  .superuser = r == MOAT_AUTH_ALLOW && super,
                                  .source = a->chain[i].ops->name,
                                  .next = i + 1};
        return;
    }
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
