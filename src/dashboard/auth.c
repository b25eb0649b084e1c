/* SPDX-License-Identifier: Apache-2.0 */
/* Dashboard administrators and their logins.
 *
 * Administrators live in node.data_dir/dashboard-admins, one per line:
 * "name:pbkdf2-sha256:ITERATIONS:SALT:HASH" (salt and hash in hex), mode
 * 0600. The first one is made on first start from
 * dashboard.default_user.login / .password, or with a random password that is
 * printed once: there is no default password. Logins hand out random tokens
 * (kept in memory: a restart logs everybody out) that expire after
 * dashboard.token_ttl. Failed logins are counted per client address; after
 * five within a minute, that address waits a minute.
 *
 * API keys, for scripts, live in node.data_dir/dashboard-api-keys (mode
 * 0600), one per line: "id:pbkdf2-sha256:ITERATIONS:SALT:HASH:CREATED:name".
 * The secret is shown once, when the key is made; a request authenticates
 * with "Authorization: Basic base64(id:secret)". PBKDF2 is slow on purpose,
 * so a key checked once is remembered (a SHA-256 of its secret) for a minute. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cjson/cJSON.h>

#include "base/log.h"
#include "base/map.h"
#include "dashboard/internal.h"

#define ITERATIONS 100000 /* PBKDF2-HMAC-SHA256; a login costs a few tens of ms */
#define SALT_LEN 16
#define HASH_LEN 32
#define MAX_FAILS 5
#define FAIL_WINDOW_MS 60000

typedef struct admin {
    char name[64];
    unsigned iterations;
    uint8_t salt[SALT_LEN];
    uint8_t hash[HASH_LEN];
} admin;

#define KEY_ID_LEN 16     /* hex characters */
#define KEY_SECRET_LEN 48 /* hex characters */
#define KEY_CACHE_MS 60000

typedef struct apikey {
    char id[KEY_ID_LEN + 1];
    char name[64];
    unsigned iterations;
    uint8_t salt[SALT_LEN];
    uint8_t hash[HASH_LEN];
    int64_t created;          /* Unix time */
    uint8_t cached[HASH_LEN]; /* SHA-256 of the secret last verified ... */
    int64_t cached_until;     /* ... until then (monotonic ms; 0: none) */
} apikey;

typedef struct token {
    char user[64];
    int64_t expires; /* monotonic ms */
} token;

typedef struct fails {
    unsigned n;
    int64_t first; /* monotonic ms */
} fails;

struct dash_auth {
    pthread_mutex_t lock;
    char path[600];
    admin *admins;
    size_t n_admins;
    moat_map tokens; /* token text -> token* */
    moat_map fails;  /* client address -> fails* */
    char keys_path[600];
    apikey *keys;
    size_t n_keys;
};

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

static bool unhex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = (uint8_t)v;
    }
    return true;
}

static bool derive(const char *password, const uint8_t *salt, unsigned iterations,
                   uint8_t out[HASH_LEN])
{
    return PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, SALT_LEN, (int)iterations,
                             EVP_sha256(), HASH_LEN, out) == 1;
}

/* Write path atomically (temp file 0600, fsync, rename), its lines made by
 * emit: a crash leaves the old file or the new one, never half of one. */
static moat_err write_atomic(const char *path, void (*emit)(FILE *, const dash_auth *),
                             const dash_auth *a)
{
    char tmp[640];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return MOAT_EIO;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return MOAT_EIO;
    }
    emit(f, a);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return MOAT_EIO;
    }
    return MOAT_OK;
}

static void emit_admins(FILE *f, const dash_auth *a)
{
    for (size_t i = 0; i < a->n_admins; i++) {
        char salt[2 * SALT_LEN + 1], h[2 * HASH_LEN + 1];
        hex(a->admins[i].salt, SALT_LEN, salt);
        hex(a->admins[i].hash, HASH_LEN, h);
        fprintf(f, "%s:pbkdf2-sha256:%u:%s:%s\n", a->admins[i].name, a->admins[i].iterations, salt,
                h);
    }
}

static moat_err save(dash_auth *a)
{
    return write_atomic(a->path, emit_admins, a);
}

static moat_err set_password(admin *ad, const char *password)
{
    ad->iterations = ITERATIONS;
    if (RAND_bytes(ad->salt, SALT_LEN) != 1 || !derive(password, ad->salt, ITERATIONS, ad->hash))
        return MOAT_EIO;
    return MOAT_OK;
}

static moat_err load(dash_auth *a, char *err, size_t errlen)
{
    FILE *f = fopen(a->path, "r");
    if (!f)
        return errno == ENOENT ? MOAT_ENOTFOUND : MOAT_EIO;
    char line[512];
    int no = 0;
    while (fgets(line, sizeof line, f)) {
        no++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        char *save = NULL, *name = strtok_r(line, ":", &save), *kind = strtok_r(NULL, ":", &save),
             *iter = strtok_r(NULL, ":", &save), *salt = strtok_r(NULL, ":", &save),
             *h = strtok_r(NULL, ":", &save);
        admin ad = {0};
        if (!name || !kind || !iter || !salt || !h || strcmp(kind, "pbkdf2-sha256") ||
            strlen(name) >= sizeof ad.name || !unhex(salt, ad.salt, SALT_LEN) ||
            !unhex(h, ad.hash, HASH_LEN) || (ad.iterations = (unsigned)atoi(iter)) < 1000) {
            snprintf(err, errlen,
                     "%s:%d: not an administrator line (expected "
                     "name:pbkdf2-sha256:iterations:salt:hash)",
                     a->path, no);
            fclose(f);
            return MOAT_EINVAL;
        }
        snprintf(ad.name, sizeof ad.name, "%s", name);
        admin *n = realloc(a->admins, (a->n_admins + 1) * sizeof *n);
        if (!n) {
            fclose(f);
            return MOAT_ENOMEM;
        }
        a->admins = n;
        a->admins[a->n_admins++] = ad;
    }
    fclose(f);
    return MOAT_OK;
}

static void addr_of(const char *peer, char *out, size_t n)
{
    /* "ip:port" or "[v6]:port" -> the address */
    const char *colon = strrchr(peer, ':');
    size_t len = colon ? (size_t)(colon - peer) : strlen(peer);
    snprintf(out, n, "%.*s", (int)len, peer);
}

/* ------------------------------------------------------------ API keys */

static bool key_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof(((apikey *)0)->name))
        return false;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static void emit_keys(FILE *f, const dash_auth *a)
{
    for (size_t i = 0; i < a->n_keys; i++) {
        const apikey *k = &a->keys[i];
        char salt[2 * SALT_LEN + 1], h[2 * HASH_LEN + 1];
        hex(k->salt, SALT_LEN, salt);
        hex(k->hash, HASH_LEN, h);
        fprintf(f, "%s:pbkdf2-sha256:%u:%s:%s:%lld:%s\n", k->id, k->iterations, salt, h,
                (long long)k->created, k->name);
    }
}

static moat_err save_keys(dash_auth *a)
{
    return write_atomic(a->keys_path, emit_keys, a);
}

static moat_err load_keys(dash_auth *a, char *err, size_t errlen)
{
    FILE *f = fopen(a->keys_path, "r");
    if (!f) {
        if (errno == ENOENT)
            return MOAT_OK;
        snprintf(err, errlen, "cannot read %s: %s", a->keys_path, strerror(errno));
        return MOAT_EIO;
    }
    char line[512];
    int no = 0;
    while (fgets(line, sizeof line, f)) {
        no++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        char *save = NULL, *id = strtok_r(line, ":", &save), *kind = strtok_r(NULL, ":", &save),
             *iter = strtok_r(NULL, ":", &save), *salt = strtok_r(NULL, ":", &save),
             *h = strtok_r(NULL, ":", &save), *created = strtok_r(NULL, ":", &save),
             *name = save; /* the rest of the line, colons included */
        apikey k = {0};
        if (!id || !kind || !iter || !salt || !h || !created || !name || strlen(id) != KEY_ID_LEN ||
            strcmp(kind, "pbkdf2-sha256") || !key_name_ok(name) || !unhex(salt, k.salt, SALT_LEN) ||
            !unhex(h, k.hash, HASH_LEN) || (k.iterations = (unsigned)atoi(iter)) < 1000) {
            snprintf(err, errlen,
                     "%s:%d: not an API key line (expected "
                     "id:pbkdf2-sha256:iterations:salt:hash:created:name)",
                     a->keys_path, no);
            fclose(f);
            return MOAT_EINVAL;
        }
        snprintf(k.id, sizeof k.id, "%s", id);
        snprintf(k.name, sizeof k.name, "%s", name);
        k.created = atoll(created);
        apikey *n = realloc(a->keys, (a->n_keys + 1) * sizeof *n);
        if (!n) {
            fclose(f);
            return MOAT_ENOMEM;
        }
        a->keys = n;
        a->keys[a->n_keys++] = k;
    }
    fclose(f);
    return MOAT_OK;
}

moat_err auth_key_create(dash_auth *a, const char *name, char id[KEY_ID_BUF],
                         char secret[KEY_SECRET_BUF])
{
    if (!key_name_ok(name))
        return MOAT_EINVAL;
    apikey k = {0};
    uint8_t r[KEY_ID_LEN / 2 + KEY_SECRET_LEN / 2];
    if (RAND_bytes(r, sizeof r) != 1)
        return MOAT_EIO;
    hex(r, KEY_ID_LEN / 2, k.id);
    hex(r + KEY_ID_LEN / 2, KEY_SECRET_LEN / 2, secret);
    OPENSSL_cleanse(r, sizeof r);
    snprintf(k.name, sizeof k.name, "%s", name);
    k.created = (int64_t)time(NULL);
    k.iterations = ITERATIONS;
    if (RAND_bytes(k.salt, SALT_LEN) != 1 || !derive(secret, k.salt, ITERATIONS, k.hash))
        return MOAT_EIO;
    pthread_mutex_lock(&a->lock);
    apikey *n = realloc(a->keys, (a->n_keys + 1) * sizeof *n);
    if (!n) {
        pthread_mutex_unlock(&a->lock);
        return MOAT_ENOMEM;
    }
    a->keys = n;
    a->keys[a->n_keys++] = k;
    moat_err e = save_keys(a);
    if (e)
        a->n_keys--;
    pthread_mutex_unlock(&a->lock);
    memcpy(id, k.id, KEY_ID_LEN + 1);
    return e;
}

cJSON *auth_keys_json(dash_auth *a)
{
    cJSON *arr = cJSON_CreateArray();
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->n_keys; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", a->keys[i].id);
        cJSON_AddStringToObject(o, "name", a->keys[i].name);
        cJSON_AddNumberToObject(o, "created_at", (double)a->keys[i].created);
        cJSON_AddItemToArray(arr, o);
    }
    pthread_mutex_unlock(&a->lock);
    return arr;
}

moat_err auth_key_delete(dash_auth *a, const char *id, char *name, size_t nlen)
{
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->n_keys; i++) {
        if (strcmp(a->keys[i].id, id))
            continue;
        apikey gone = a->keys[i];
        a->keys[i] = a->keys[--a->n_keys];
        moat_err e = save_keys(a);
        if (e) {
            a->keys[a->n_keys++] = a->keys[i];
            a->keys[i] = gone;
        } else {
            snprintf(name, nlen, "%s", gone.name);
        }
        pthread_mutex_unlock(&a->lock);
        return e;
    }
    pthread_mutex_unlock(&a->lock);
    return MOAT_ENOTFOUND;
}

static apikey *key_find(dash_auth *a, const char *id, size_t n)
{
    for (size_t i = 0; i < a->n_keys; i++)
        if (n == KEY_ID_LEN && !memcmp(a->keys[i].id, id, n))
            return &a->keys[i];
    return NULL;
}

/* One more failure for this address (lock held). */
static void count_fail(dash_auth *a, const char *addr, int64_t now)
{
    fails *f = moat_map_get(&a->fails, addr, strlen(addr));
    if (!f && (f = calloc(1, sizeof *f)) != NULL) {
        f->first = now;
        if (moat_map_put(&a->fails, addr, strlen(addr), f, NULL) != MOAT_OK) {
            free(f);
            f = NULL;
        }
    }
    if (f)
        f->n++;
}

moat_err auth_key_check(dash_auth *a, const char *id, size_t idlen, const char *secret, size_t slen,
                        const char *peer, char *user, size_t ulen)
{
    char addr[64];
    addr_of(peer, addr, sizeof addr);
    int64_t now = (int64_t)moat_now_ms();
    uint8_t sh[HASH_LEN];
    SHA256((const unsigned char *)secret, slen, sh);
    pthread_mutex_lock(&a->lock);
    fails *f = moat_map_get(&a->fails, addr, strlen(addr));
    if (f && now - f->first > FAIL_WINDOW_MS) {
        f->n = 0;
        f->first = now;
    }
    if (f && f->n >= MAX_FAILS) {
        pthread_mutex_unlock(&a->lock);
        return MOAT_ELIMIT;
    }
    apikey *k = key_find(a, id, idlen);
    if (k && now < k->cached_until && CRYPTO_memcmp(k->cached, sh, HASH_LEN) == 0) {
        snprintf(user, ulen, "api-key:%s", k->id);
        pthread_mutex_unlock(&a->lock);
        return MOAT_OK;
    }
    apikey copy = k ? *k : (apikey){.iterations = ITERATIONS};
    pthread_mutex_unlock(&a->lock);
    char sec[KEY_SECRET_LEN + 1];
    bool ok = false;
    if (slen == KEY_SECRET_LEN) {
        memcpy(sec, secret, slen);
        sec[slen] = 0;
        uint8_t h[HASH_LEN];
        ok = derive(sec, copy.salt, copy.iterations, h) && k &&
             CRYPTO_memcmp(h, copy.hash, HASH_LEN) == 0;
        OPENSSL_cleanse(sec, sizeof sec);
    }
    pthread_mutex_lock(&a->lock);
    if (!ok) {
        count_fail(a, addr, now);
        pthread_mutex_unlock(&a->lock);
        return MOAT_EINVAL;
    }
    /* The key may have been deleted meanwhile. */
    k = key_find(a, id, idlen);
    if (!k) {
        pthread_mutex_unlock(&a->lock);
        return MOAT_EINVAL;
    }
    memcpy(k->cached, sh, HASH_LEN);
    k->cached_until = now + KEY_CACHE_MS;
    snprintf(user, ulen, "api-key:%s", k->id);
    pthread_mutex_unlock(&a->lock);
    return MOAT_OK;
}

moat_err auth_init(moat_broker *b, dash_auth **out, char *err, size_t errlen)
{
    dash_auth *a = calloc(1, sizeof *a);
    if (!a)
        return MOAT_ENOMEM;
    pthread_mutex_init(&a->lock, NULL);
    snprintf(a->path, sizeof a->path, "%s/dashboard-admins", b->conf.data_dir);
    moat_err e = load(a, err, errlen);
    if (e == MOAT_ENOTFOUND) {
        /* First start: the first administrator. */
        admin ad = {0};
        char generated[40] = "";
        const char *pw = b->conf.dashboard_password;
        if (!pw[0]) {
            uint8_t r[18];
            if (RAND_bytes(r, sizeof r) != 1) {
                auth_free(a);
                return MOAT_EIO;
            }
            EVP_EncodeBlock((unsigned char *)generated, r, sizeof r);
            for (char *p = generated; *p; p++) /* URL- and shell-safe */
                *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
            pw = generated;
        }
        snprintf(ad.name, sizeof ad.name, "%s", b->conf.dashboard_user);
        a->admins = malloc(sizeof *a->admins);
        if (!a->admins || set_password(&ad, pw) != MOAT_OK) {
            auth_free(a);
            return MOAT_ENOMEM;
        }
        a->admins[a->n_admins++] = ad;
        if ((e = save(a)) != MOAT_OK) {
            snprintf(err, errlen, "cannot write %s: %s", a->path, strerror(errno));
            auth_free(a);
            return e;
        }
        if (generated[0])
            LOG_NOTICE("dashboard: administrator '%s' created with the generated password %s "
                       "(shown only this once; it is stored hashed in %s)",
                       ad.name, generated, a->path);
        else
            LOG_NOTICE("dashboard: administrator '%s' created with the password of "
                       "dashboard.default_user.password (stored hashed in %s; the setting is "
                       "not read again)",
                       ad.name, a->path);
        e = MOAT_OK;
    } else if (e == MOAT_EIO) {
        snprintf(err, errlen, "cannot read %s: %s", a->path, strerror(errno));
    }
    if (!e) {
        snprintf(a->keys_path, sizeof a->keys_path, "%s/dashboard-api-keys", b->conf.data_dir);
        e = load_keys(a, err, errlen);
    }
    if (e) {
        auth_free(a);
        return e;
    }
    *out = a;
    return MOAT_OK;
}

static void free_values(moat_map *m)
{
    size_t it = 0;
    moat_map_slot *s;
    while ((s = moat_map_next(m, &it)))
        free(s->value);
    moat_map_free(m);
}

void auth_free(dash_auth *a)
{
    if (!a)
        return;
    free_values(&a->tokens);
    free_values(&a->fails);
    free(a->admins);
    free(a->keys);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

moat_err auth_login(dash_auth *a, const char *user, const char *password, const char *peer,
                    uint32_t ttl_s, char tok[65])
{
    char addr[64];
    addr_of(peer, addr, sizeof addr);
    int64_t now = (int64_t)moat_now_ms();
    pthread_mutex_lock(&a->lock);
    fails *f = moat_map_get(&a->fails, addr, strlen(addr));
    if (f && now - f->first > FAIL_WINDOW_MS) {
        f->n = 0;
        f->first = now;
    }
    if (f && f->n >= MAX_FAILS) {
        pthread_mutex_unlock(&a->lock);
        return MOAT_ELIMIT;
    }
    const admin *found = NULL;
    for (size_t i = 0; i < a->n_admins; i++)
        if (!strcmp(a->admins[i].name, user))
            found = &a->admins[i];
    admin copy = found ? *found : (admin){.iterations = ITERATIONS};
    pthread_mutex_unlock(&a->lock);
    /* Derive even for an unknown name, so that timing does not tell names. */
    uint8_t h[HASH_LEN];
    bool ok = derive(password, copy.salt, copy.iterations, h) && found &&
              CRYPTO_memcmp(h, copy.hash, HASH_LEN) == 0;
    pthread_mutex_lock(&a->lock);
    if (!ok) {
        f = moat_map_get(&a->fails, addr, strlen(addr));
        if (!f && (f = calloc(1, sizeof *f)) != NULL) {
            f->first = now;
            if (moat_map_put(&a->fails, addr, strlen(addr), f, NULL) != MOAT_OK) {
                free(f);
                f = NULL;
            }
        }
        if (f)
            f->n++;
        pthread_mutex_unlock(&a->lock);
        return MOAT_EINVAL;
    }
    uint8_t r[32];
    token *t = calloc(1, sizeof *t);
    if (!t || RAND_bytes(r, sizeof r) != 1) {
        free(t);
        pthread_mutex_unlock(&a->lock);
        return MOAT_ENOMEM;
    }
    hex(r, sizeof r, tok);
    snprintf(t->user, sizeof t->user, "%s", user);
    t->expires = now + (int64_t)ttl_s * 1000;
    if (moat_map_put(&a->tokens, tok, 64, t, NULL) != MOAT_OK) {
        free(t);
        pthread_mutex_unlock(&a->lock);
        return MOAT_ENOMEM;
    }
    free(moat_map_del(&a->fails, addr, strlen(addr))); /* a success forgives */
    pthread_mutex_unlock(&a->lock);
    return MOAT_OK;
}

bool auth_token_user(dash_auth *a, const char *tok, size_t len, char *user, size_t ulen)
{
    if (len != 64)
        return false;
    pthread_mutex_lock(&a->lock);
    token *t = moat_map_get(&a->tokens, tok, len);
    bool ok = t && (int64_t)moat_now_ms() < t->expires;
    if (ok)
        snprintf(user, ulen, "%s", t->user);
    else if (t) {
        moat_map_del(&a->tokens, tok, len);
        free(t);
    }
    pthread_mutex_unlock(&a->lock);
    return ok;
}

void auth_logout(dash_auth *a, const char *tok, size_t len)
{
    pthread_mutex_lock(&a->lock);
    token *t = moat_map_get(&a->tokens, tok, len);
    if (t) {
        moat_map_del(&a->tokens, tok, len);
        free(t);
    }
    pthread_mutex_unlock(&a->lock);
}
