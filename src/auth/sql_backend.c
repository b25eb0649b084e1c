/* SPDX-License-Identifier: Apache-2.0 */
/* The SQL backends' shared body: see sql_backend.h. */
#include "auth/sql_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth/acl.h"
#include "auth/connpool.h"
#include "base/log.h"
#include "conf/conf.h"
#include "core/loop.h"

struct moat_sql_backend {
    const moat_sql_driver *drv;
    struct moat_conf_sql s; /* a copy: holds the password, wiped at the end */
    moat_sql_target t;
    moat_hash_params hp;
    moat_sql_tmpl q[MOAT_SQL_Q__COUNT]; /* text NULL: not used */
    moat_connpool pool;                 /* connections, backoff, their log lines */
    bool pool_ready;
};

static moat_err check_query(moat_sql_backend *b, int which, const char *key, const char *text,
                            char *err, size_t errlen)
{
    char why[300];
    if (!text[0])
        return MOAT_OK;
    moat_err e = moat_sql_tmpl_parse(text, b->drv->style, &b->q[which], why, sizeof why);
    if (e == MOAT_EINVAL)
        snprintf(err, errlen, "auth.%s.%s: %s", b->drv->name, key, why);
    return e;
}

static moat_err fail(moat_sql_backend *b, char *err, size_t errlen, const char *key,
                     const char *why)
{
    snprintf(err, errlen, "auth.%s.%s: %s", b->drv->name, key, why);
    moat_sql_backend_free(b);
    return MOAT_EINVAL;
}

static void *pool_open(void *self, int64_t deadline_ms, char *why, size_t n)
{
    moat_sql_backend *b = self;
    return b->drv->open(&b->t, deadline_ms, why, n);
}

static void pool_close(void *self, void *conn)
{
    moat_sql_backend *b = self;
    b->drv->close(conn);
}

static const moat_connpool_ops pool_ops = {pool_open, pool_close};

static moat_sql_backend *backend_alloc(const moat_sql_driver *drv, const struct moat_conf_sql *s)
{
    moat_sql_backend *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    char name[32];
    snprintf(name, sizeof name, "auth.%s", drv->name);
    b->drv = drv;
    b->s = *s;
    b->t.s = &b->s;
    if (moat_connpool_init(&b->pool, name, s->server, s->pool ? s->pool : 1, &pool_ops, b)) {
        free(b);
        return NULL;
    }
    b->pool_ready = true;
    return b;
}

moat_err moat_sql_backend_new(const moat_sql_driver *drv, const moat_conf *c,
                              const struct moat_conf_sql *s, void **out, char *err, size_t errlen)
{
    char why[300];
    moat_err e;
    moat_sql_backend *b = backend_alloc(drv, s);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return MOAT_ENOMEM;
    }
    uint32_t qt = s->query_timeout_ms;
    b->t.query_timeout_ms = qt && qt < c->auth_timeout_ms ? qt : c->auth_timeout_ms;
    if (!moat_sql_server_parse(s->server, drv->default_port, b->t.host, sizeof b->t.host,
                               &b->t.port, why, sizeof why))
        return fail(b, err, errlen, "server", why);
    b->t.verify = s->ssl_verify == 1 || (s->ssl_verify == 0 && s->ssl_cacertfile[0]);
    if (s->ssl && s->ssl_verify == 1 && !s->ssl_cacertfile[0])
        return fail(b, err, errlen, "ssl.verify",
                    "true needs ssl.cacertfile, the CA that signed the server's certificate (or "
                    "set ssl.verify = false to encrypt without verifying)");
    if (!moat_hash_spec_parse(s->password_hash, &b->hp, why, sizeof why))
        return fail(b, err, errlen, "password_hash", why);
    if (!s->auth_query[0])
        return fail(b, err, errlen, "auth_query",
                    "empty (expected a query such as select password from mqtt_user where "
                    "username = '%u' limit 1)");
    if ((e = check_query(b, MOAT_SQL_Q_AUTH, "auth_query", s->auth_query, err, errlen)) ||
        (e = check_query(b, MOAT_SQL_Q_SUPER, "super_query", s->super_query, err, errlen)) ||
        (e = check_query(b, MOAT_SQL_Q_ACL, "acl_query", s->acl_query, err, errlen))) {
        moat_sql_backend_free(b);
        return e;
    }
    if (drv->init && !drv->init()) {
        snprintf(err, errlen, "auth.%s: the client library does not start", drv->name);
        moat_sql_backend_free(b);
        return MOAT_EIO;
    }
    *out = b;
    return MOAT_OK;
}

/* ---- the pool ---- */

typedef struct request {
    moat_sql_backend *b;
    int slot; /* of the pool, -1: none held */
    void *conn;
    bool fresh; /* opened for this request (an older one may have gone stale) */
    const moat_auth_req *rq;
    int64_t deadline;
    moat_auth_reply *reply;
} request;

static bool take(request *r)
{
    r->slot = moat_connpool_get(&r->b->pool, r->deadline, &r->conn, &r->fresh, r->reply->why,
                                sizeof r->reply->why);
    r->reply->error = r->reply->error || r->slot < 0;
    return r->slot >= 0;
}

static void give(request *r, moat_conn_outcome o)
{
    if (r->slot >= 0)
        moat_connpool_put(&r->b->pool, r->slot, o, NULL);
    r->slot = -1;
    r->conn = NULL;
}

/* ---- the queries ---- */

/* Run query which; NULL when it failed (reply->error set). A connection
 * that had been idle may have died with the server (restarted, or closed
 * an idle session): then one retry on a fresh connection, time allowing. */
static moat_sql_result *run(request *r, int which)
{
    moat_sql_backend *b = r->b;
    const char *vals[MOAT_SQL_MAX_PARAMS];
    size_t lens[MOAT_SQL_MAX_PARAMS];
    moat_sql_tmpl_values(&b->q[which], r->rq, vals, lens);
    for (;;) {
        moat_sql_result *res = NULL;
        bool broken = false;
        char why[160] = "";
        if (b->drv->query(r->conn, which, &b->q[which], vals, lens, r->deadline, &res, &broken, why,
                          sizeof why))
            return res;
        moat_sql_result_free(res);
        /* Not after a timeout: the retry would have no time left. */
        bool retry = broken && !r->fresh && (int64_t)moat_now_ms() < r->deadline;
        if (broken)
            give(r, MOAT_CONN_BROKEN);
        if (retry && take(r))
            continue;
        if (!r->reply->error) {
            r->reply->error = true;
            snprintf(r->reply->why, sizeof r->reply->why, "%s", why);
        }
        return NULL;
    }
}

static void superuser(request *r)
{
    moat_sql_result *res = run(r, MOAT_SQL_Q_SUPER);
    if (res && res->rows && res->cols)
        r->reply->superuser = moat_sql_truthy(moat_sql_cell(res, 0, 0));
    moat_sql_result_free(res);
}

static void client_acl(request *r)
{
    moat_sql_result *res = run(r, MOAT_SQL_Q_ACL);
    if (!res)
        return;
    moat_acl *acl = moat_acl_new();
    for (size_t i = 0; acl && i < res->rows; i++) {
        const char *cols[6];
        char why[200];
        for (size_t k = 0; k < 6; k++)
            cols[k] = moat_sql_cell(res, i, k);
        moat_err e = moat_sql_acl_row(acl, cols, why, sizeof why);
        if (e == MOAT_EINVAL)
            LOG_WARN("auth.%s: acl_query row %zu for client %s skipped: %s", r->b->drv->name, i + 1,
                     r->rq->client_id, why);
        else if (e) {
            moat_acl_free(acl);
            acl = NULL;
        }
    }
    moat_sql_result_free(res);
    if (!acl) {
        r->reply->error = true;
        snprintf(r->reply->why, sizeof r->reply->why, "out of memory");
        return;
    }
    r->reply->acl = acl;
}

void moat_sql_backend_auth(void *self, const moat_auth_req *rq, int64_t deadline_ms,
                           moat_auth_reply *reply)
{
    moat_sql_backend *b = self;
    const char *vals[MOAT_SQL_MAX_PARAMS];
    size_t lens[MOAT_SQL_MAX_PARAMS];
    if (!moat_sql_tmpl_values(&b->q[MOAT_SQL_Q_AUTH], rq, vals, lens)) {
        reply->result = MOAT_AUTH_IGNORE; /* auth_query needs what this client lacks */
        return;
    }
    request r = {.b = b, .slot = -1, .rq = rq, .deadline = deadline_ms, .reply = reply};
    if (!take(&r))
        return;
    moat_sql_result *res = run(&r, MOAT_SQL_Q_AUTH);
    if (res)
        moat_sql_check_password(res, &b->hp, rq, reply);
    moat_sql_result_free(res);
    if (!reply->error && reply->result == MOAT_AUTH_ALLOW && b->q[MOAT_SQL_Q_SUPER].text &&
        r.slot >= 0)
        superuser(&r);
    if (!reply->error && reply->result == MOAT_AUTH_ALLOW && !reply->superuser &&
        b->q[MOAT_SQL_Q_ACL].text && r.slot >= 0)
        client_acl(&r);
    give(&r, reply->error ? MOAT_CONN_KEEP : MOAT_CONN_OK);
}

void moat_sql_backend_acl(void *self, const moat_auth_req *rq, int64_t deadline_ms,
                          moat_auth_reply *reply)
{
    moat_sql_backend *b = self;
    request r = {.b = b, .slot = -1, .rq = rq, .deadline = deadline_ms, .reply = reply};
    if (!b->q[MOAT_SQL_Q_ACL].text || !take(&r))
        return;
    client_acl(&r);
    give(&r, reply->error ? MOAT_CONN_KEEP : MOAT_CONN_OK);
}

/* ---- lifetime ---- */

void moat_sql_backend_retire(void *self)
{
    moat_sql_backend *b = self;
    moat_connpool_close_idle(&b->pool);
}

void moat_sql_backend_free(void *self)
{
    moat_sql_backend *b = self;
    if (!b)
        return;
    if (b->pool_ready)
        moat_connpool_destroy(&b->pool);
    for (int i = 0; i < MOAT_SQL_Q__COUNT; i++)
        moat_sql_tmpl_free(&b->q[i]);
    OPENSSL_cleanse(&b->s, sizeof b->s);
    free(b);
}
