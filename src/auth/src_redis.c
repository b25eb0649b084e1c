/* SPDX-License-Identifier: Apache-2.0 */
/* The Redis backend (auth.redis.*), as EMQX 4's emqx_auth_redis:
 *   auth_cmd   HMGET mqtt_user:%u password [salt]  -> the stored password
 *              (nil: not ours), checked under password_hash;
 *   super_cmd  HGET mqtt_user:%u is_superuser      -> "1"/"true": superuser;
 *   acl_cmd    HGETALL mqtt_acl:%u                 -> topic => 1 sub, 2 pub,
 *              3 both, each an allow rule of this client's own ACL.
 * Commands go out with redisCommandArgv, one template item per argument
 * (tmpl.h): a username with spaces stays one argument. Blocking hiredis
 * calls on pool threads, bounded by the request's deadline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>

#include "auth/acl.h"
#include "auth/backend.h"
#include "auth/connpool.h"
#include "auth/hash.h"
#include "auth/tmpl.h"
#include "conf/conf.h"
#include "core/loop.h"

#define REDIS_VARS "ucaCd"

typedef struct redis_be {
    char host[256];
    int port;
    uint32_t database;
    char *password; /* NULL: none */
    uint32_t query_timeout_ms;
    moat_hash_params hp;
    moat_tmpl auth_cmd, super_cmd, acl_cmd;
    moat_connpool pool;
} redis_be;

static bool redis_configured(const moat_conf *c)
{
    return c->auth_redis_server[0] != '\0';
}

/* ---- connections ---- */

static struct timeval tv_of(int64_t ms)
{
    return (struct timeval){(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
}

/* Run a fixed command (AUTH, SELECT) on a new connection; false with why. */
static bool setup_cmd(redisContext *ctx, int argc, const char **argv, const char *what, char *why,
                      size_t n)
{
    size_t lens[2] = {strlen(argv[0]), argc > 1 ? strlen(argv[1]) : 0};
    redisReply *r = redisCommandArgv(ctx, argc, argv, lens);
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (!r)
        snprintf(why, n, "%s: %s", what, ctx->errstr);
    else if (!ok)
        snprintf(why, n, "%s refused: %.*s", what, (int)r->len, r->str);
    freeReplyObject(r);
    return ok;
}

static void *redis_open(void *self, int64_t deadline_ms, char *why, size_t n)
{
    redis_be *b = self;
    struct timeval tv = tv_of(moat_connpool_left_ms(deadline_ms));
    redisContext *ctx = redisConnectWithTimeout(b->host, b->port, tv);
    if (!ctx || ctx->err) {
        snprintf(why, n, "%s", ctx ? ctx->errstr : "out of memory");
        redisFree(ctx);
        return NULL;
    }
    redisSetTimeout(ctx, tv);
    char db[16];
    snprintf(db, sizeof db, "%u", b->database);
    if ((b->password &&
         !setup_cmd(ctx, 2, (const char *[]){"AUTH", b->password}, "AUTH", why, n)) ||
        (b->database && !setup_cmd(ctx, 2, (const char *[]){"SELECT", db}, "SELECT", why, n))) {
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

static void redis_close(void *self, void *conn)
{
    (void)self;
    redisFree(conn);
}

static const moat_connpool_ops redis_pool_ops = {redis_open, redis_close};

/* ---- one request ---- */

typedef struct redis_call {
    redis_be *b;
    const moat_auth_req *rq;
    int64_t deadline;
    redisContext *ctx;
    int slot;
    bool fresh;
} redis_call;

typedef enum call_res {
    CALL_REPLY = 0, /* *out is the reply (maybe an error reply) */
    CALL_MISSING,   /* the client lacks a value the command needs */
    CALL_FAILED,    /* no reply: why says; the slot is given back */
} call_res;

/* Send command t for the client on the call's connection. A connection
 * found dead (the server restarted) is replaced once and the command sent
 * again. */
static call_res run_cmd(redis_call *k, const moat_tmpl *t, redisReply **out, char *why, size_t n)
{
    moat_buf args = MOAT_BUF_INIT;
    size_t off[MOAT_TMPL_MAX_ITEMS], len[MOAT_TMPL_MAX_ITEMS];
    const char *argv[MOAT_TMPL_MAX_ITEMS];
    moat_tmpl_res tr = moat_tmpl_expand(t, k->rq, true, &args, off, len);
    if (tr != MOAT_TMPL_OK) {
        moat_buf_free(&args);
        snprintf(why, n, "out of memory");
        return tr == MOAT_TMPL_MISSING ? CALL_MISSING : CALL_FAILED;
    }
    for (size_t i = 0; i < t->n; i++)
        argv[i] = (const char *)args.data + off[i];
    for (int attempt = 0;; attempt++) {
        redisSetTimeout(k->ctx, tv_of(moat_connpool_left_ms(k->deadline)));
        *out = redisCommandArgv(k->ctx, (int)t->n, argv, len);
        if (*out)
            break;
        bool eof = k->ctx->err == REDIS_ERR_EOF ||
                   (k->ctx->err == REDIS_ERR_IO && !strstr(k->ctx->errstr, "temporarily"));
        bool timeout = !eof && k->ctx->err == REDIS_ERR_IO;
        snprintf(why, n, "%s", timeout ? "timed out" : k->ctx->errstr);
        moat_connpool_put(&k->b->pool, k->slot, MOAT_CONN_BROKEN, NULL);
        k->slot = -1;
        if (!eof || k->fresh || attempt ||
            (k->slot = moat_connpool_get(&k->b->pool, k->deadline, (void **)&k->ctx, &k->fresh, why,
                                         n)) < 0)
            break;
    }
    moat_buf_free(&args);
    return *out ? CALL_REPLY : CALL_FAILED;
}

/* The string of a bulk/status reply or an integer's text, else NULL. */
static const char *reply_str(const redisReply *r, char *num, size_t n)
{
    if (!r)
        return NULL;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        return r->str;
    if (r->type == REDIS_REPLY_INTEGER) {
        snprintf(num, n, "%lld", r->integer);
        return num;
    }
    return NULL;
}

/* auth_cmd's reply: [password, salt] from HMGET, or a lone string (HGET). */
static moat_auth_result check_password(redis_be *b, const redisReply *r, const moat_auth_req *rq,
                                       moat_auth_reply *reply)
{
    const redisReply *pw = r, *salt = NULL;
    if (r->type == REDIS_REPLY_ARRAY) {
        pw = r->elements ? r->element[0] : NULL;
        salt = r->elements > 1 ? r->element[1] : NULL;
    }
    char num[32], snum[32];
    const char *stored = reply_str(pw, num, sizeof num);
    if (!stored)
        return MOAT_AUTH_IGNORE;
    moat_hash_params hp = b->hp;
    hp.salt = reply_str(salt, snum, sizeof snum);
    if (moat_hash_verify(&hp, rq->password ? rq->password : "", rq->password_len, stored))
        return MOAT_AUTH_ALLOW;
    snprintf(reply->why, sizeof reply->why, "wrong password");
    return MOAT_AUTH_DENY;
}

static bool is_true(const redisReply *r)
{
    char num[32];
    const char *s = reply_str(r, num, sizeof num);
    return s && (!strcmp(s, "1") || !strcmp(s, "true"));
}

/* HGETALL's flat [topic, access, ...] into allow rules. */
static moat_acl *acl_of(const redisReply *r, char *why, size_t n)
{
    moat_acl *a = moat_acl_new();
    for (size_t i = 0; a && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        char tnum[32], anum[32];
        const char *topic = reply_str(r->element[i], tnum, sizeof tnum);
        const char *acc = reply_str(r->element[i + 1], anum, sizeof anum);
        unsigned bits =
            acc && acc[0] >= '1' && acc[0] <= '3' && !acc[1] ? (unsigned)(acc[0] - '0') : 0;
        /* EMQX 4: 1 subscribe, 2 publish, 3 both */
        unsigned access = (bits & 1 ? MOAT_ACL_SUBSCRIBE : 0) | (bits & 2 ? MOAT_ACL_PUBLISH : 0);
        if (topic && access &&
            moat_acl_add(a, true, MOAT_ACL_WHO_ALL, NULL, access, topic, false, why, n) ==
                MOAT_ENOMEM) {
            moat_acl_free(a);
            return NULL;
        }
    }
    return a;
}

/* The client's own rules from acl_cmd into reply->acl (NULL: none). Rules
 * that cannot be fetched fail the request (reply->error, auth.on_error
 * decides) rather than leaving the client to acl_nomatch alone. */
static void fetch_acl(redis_call *k, moat_auth_reply *reply)
{
    redisReply *r = NULL;
    char why[200] = "";
    call_res cr = run_cmd(k, &k->b->acl_cmd, &r, why, sizeof why);
    if (cr == CALL_REPLY && r->type == REDIS_REPLY_ERROR) {
        snprintf(reply->why, sizeof reply->why, "acl_cmd: %.*s", (int)r->len, r->str);
        reply->error = true;
    } else if (cr == CALL_REPLY && r->type == REDIS_REPLY_ARRAY && r->elements &&
               !(reply->acl = acl_of(r, why, sizeof why))) {
        snprintf(reply->why, sizeof reply->why, "acl_cmd: out of memory");
        reply->error = true;
    } else if (cr == CALL_FAILED) {
        snprintf(reply->why, sizeof reply->why, "acl_cmd: %.180s", why);
        reply->error = true;
    }
    freeReplyObject(r);
}

/* After ALLOW: superuser (when super_cmd cannot tell: not one), else the
 * client's own ACL. */
static void after_allow(redis_call *k, moat_auth_reply *reply)
{
    redisReply *r = NULL;
    char why[200];
    if (k->b->super_cmd.n && run_cmd(k, &k->b->super_cmd, &r, why, sizeof why) == CALL_REPLY) {
        reply->superuser = is_true(r);
        freeReplyObject(r);
    }
    if (reply->superuser || !k->b->acl_cmd.n)
        return;
    if (k->slot < 0) {
        snprintf(reply->why, sizeof reply->why, "acl_cmd: connection lost");
        reply->error = true;
        return;
    }
    fetch_acl(k, reply);
}

/* A connection for a request on b, by deadline_ms (shortened by
 * query_timeout); false with reply->error when none can be had. */
static bool call_begin(redis_be *b, const moat_auth_req *rq, int64_t deadline_ms, redis_call *k,
                       moat_auth_reply *reply)
{
    int64_t now = (int64_t)moat_now_ms();
    if (b->query_timeout_ms && now + b->query_timeout_ms < deadline_ms)
        deadline_ms = now + b->query_timeout_ms;
    *k = (redis_call){b, rq, deadline_ms, NULL, -1, false};
    k->slot = moat_connpool_get(&b->pool, deadline_ms, (void **)&k->ctx, &k->fresh, reply->why,
                                sizeof reply->why);
    reply->error = k->slot < 0;
    return k->slot >= 0;
}

/* The connection back, unless a failure already gave it back. */
static void call_end(redis_call *k, const moat_auth_reply *reply)
{
    if (k->slot >= 0)
        moat_connpool_put(&k->b->pool, k->slot, reply->error ? MOAT_CONN_KEEP : MOAT_CONN_OK, NULL);
}

static void redis_authenticate(void *self, const moat_auth_req *rq, int64_t deadline_ms,
                               moat_auth_reply *reply)
{
    redis_be *b = self;
    redis_call k;
    if (moat_tmpl_uses(&b->auth_cmd, 'u') && !rq->username)
        return; /* IGNORE: not a client this backend can look up */
    if (!call_begin(b, rq, deadline_ms, &k, reply))
        return;
    redisReply *r = NULL;
    call_res cr = run_cmd(&k, &b->auth_cmd, &r, reply->why, sizeof reply->why);
    if (cr == CALL_REPLY && r->type == REDIS_REPLY_ERROR) {
        snprintf(reply->why, sizeof reply->why, "auth_cmd: %.*s", (int)r->len, r->str);
        reply->error = true;
    } else if (cr == CALL_REPLY) {
        reply->result = check_password(b, r, rq, reply);
        if (reply->result == MOAT_AUTH_ALLOW)
            after_allow(&k, reply);
    } else if (cr == CALL_FAILED) {
        reply->error = true;
    }
    freeReplyObject(r);
    call_end(&k, reply);
}

/* acl_cache_ttl: the rules again, without the password. */
static void redis_acl(void *self, const moat_auth_req *rq, int64_t deadline_ms,
                      moat_auth_reply *reply)
{
    redis_be *b = self;
    redis_call k;
    if (!b->acl_cmd.n || !call_begin(b, rq, deadline_ms, &k, reply))
        return;
    fetch_acl(&k, reply);
    call_end(&k, reply);
}

/* ---- life cycle ---- */

static void redis_destroy(void *self)
{
    redis_be *b = self;
    if (!b)
        return;
    moat_connpool_destroy(&b->pool);
    moat_tmpl_free(&b->auth_cmd);
    moat_tmpl_free(&b->super_cmd);
    moat_tmpl_free(&b->acl_cmd);
    if (b->password)
        OPENSSL_clear_free(b->password, strlen(b->password));
    free(b);
}

static void redis_retire(void *self)
{
    moat_connpool_close_idle(&((redis_be *)self)->pool);
}

static moat_err parse_server(redis_be *b, const char *s, char *err, size_t errlen)
{
    const char *colon = strrchr(s, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 6379;
    size_t hl = colon ? (size_t)(colon - s) : strlen(s);
    if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']')
        s++, hl -= 2;
    if (!hl || hl >= sizeof b->host || (colon && (!*(colon + 1) || *end)) || port < 1 ||
        port > 65535) {
        snprintf(err, errlen,
                 "auth.redis.server: '%s' is not host:port (expected such as "
                 "127.0.0.1:6379)",
                 s);
        return MOAT_EINVAL;
    }
    memcpy(b->host, s, hl);
    b->host[hl] = '\0';
    b->port = (int)port;
    return MOAT_OK;
}

static moat_err parse_cmd(moat_tmpl *t, const char *key, const char *v, char *err, size_t errlen)
{
    char why[300];
    moat_err e = moat_tmpl_parse(v, ' ', false, REDIS_VARS, t, why, sizeof why);
    if (e)
        snprintf(err, errlen, "%s: %s", key, why);
    return e;
}

static moat_err redis_create(const moat_conf *c, void **self, char *err, size_t errlen)
{
    redis_be *b = calloc(1, sizeof *b);
    moat_err e = MOAT_ENOMEM;
    char why[200];
    if (!b)
        goto fail;
    e = MOAT_EINVAL;
    if (c->auth_redis_type != 0) {
        snprintf(err, errlen, "auth.redis.type: %s is not supported yet, use single",
                 c->auth_redis_type == 1 ? "sentinel" : "cluster");
        goto fail;
    }
    if ((e = parse_server(b, c->auth_redis_server, err, errlen)))
        goto fail;
    if (!moat_hash_spec_parse(c->auth_redis_password_hash, &b->hp, why, sizeof why)) {
        snprintf(err, errlen, "auth.redis.password_hash: %s", why);
        e = MOAT_EINVAL;
        goto fail;
    }
    b->hp.salt = NULL;
    if ((e = parse_cmd(&b->auth_cmd, "auth.redis.auth_cmd", c->auth_redis_auth_cmd, err, errlen)) ||
        (e = parse_cmd(&b->super_cmd, "auth.redis.super_cmd", c->auth_redis_super_cmd, err,
                       errlen)) ||
        (e = parse_cmd(&b->acl_cmd, "auth.redis.acl_cmd", c->auth_redis_acl_cmd, err, errlen)))
        goto fail;
    e = MOAT_ENOMEM;
    if (c->auth_redis_password[0] && !(b->password = strdup(c->auth_redis_password)))
        goto fail;
    b->database = c->auth_redis_database;
    b->query_timeout_ms = c->auth_redis_query_timeout_ms;
    char target[300];
    snprintf(target, sizeof target, "%s:%d", b->host, b->port);
    if ((e = moat_connpool_init(&b->pool, "auth.redis", target, c->auth_redis_pool, &redis_pool_ops,
                                b)))
        goto fail;
    *self = b;
    return MOAT_OK;
fail:
    if (e == MOAT_ENOMEM)
        snprintf(err, errlen, "auth.redis: out of memory");
    redis_destroy(b);
    return e;
}

const moat_backend_ops moat_backend_redis = {
    .name = "redis",
    .configured = redis_configured,
    .create = redis_create,
    .authenticate = redis_authenticate,
    .acl = redis_acl,
    .retire = redis_retire,
    .destroy = redis_destroy,
};
