/* SPDX-License-Identifier: Apache-2.0 */
/* The SQL backends' shared body: see sql_backend.h. */
#include "auth/sql_backend.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth/acl.h"
#include "base/log.h"
#include "conf/conf.h"
#include "core/loop.h"

struct moat_sql_backend {
    const moat_sql_driver *drv;
    struct moat_conf_sql s; /* a copy: holds the password, wiped at the end */
    moat_sql_target t;
    char server[256];
    moat_hash_params hp;
    moat_sql_tmpl q[MOAT_SQL_Q__COUNT]; /* text NULL: not used */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a connection was given back, or a slot freed */
    void **idle;       /* pool slots */
    unsigned n_idle, n_open, pool;
    moat_backoff bo;
    bool retired;
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

static moat_sql_backend *backend_alloc(const moat_sql_driver *drv, const struct moat_conf_sql *s)
{
    moat_sql_backend *b = calloc(1, sizeof *b);
    if (!b || !(b->idle = calloc(s->pool ? s->pool : 1, sizeof *b->idle))) {
        free(b);
        return NULL;
    }
    b->drv = drv;
    b->s = *s;
    b->t.s = &b->s;
    b->pool = s->pool ? s->pool : 1;
    snprintf(b->server, sizeof b->server, "%s", s->server);
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* moat_now_ms's clock */
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
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

static void wait_until(moat_sql_backend *b, int64_t deadline_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t left = deadline_ms - (int64_t)moat_now_ms();
    if (left < 0)
        left = 0;
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&b->cv, &b->mu, &ts);
}

/* Called with the lock held, which it drops for the connect itself. */
static void *connect_one(moat_sql_backend *b, int64_t deadline_ms, moat_auth_reply *reply)
{
    char why[160] = "";
    b->n_open++;
    pthread_mutex_unlock(&b->mu);
    void *c = b->drv->open(&b->t, deadline_ms, why, sizeof why);
    pthread_mutex_lock(&b->mu);
    if (c) {
        if (moat_backoff_ok(&b->bo))
            LOG_NOTICE("auth.%s: connected again to %s", b->drv->name, b->server);
        return c;
    }
    b->n_open--;
    pthread_cond_signal(&b->cv);
    if (moat_backoff_fail(&b->bo, (int64_t)moat_now_ms()))
        LOG_WARN("auth.%s: server %s unreachable: %s; retrying in %.1f s", b->drv->name, b->server,
                 why, b->bo.delay_ms / 1000.0);
    reply->error = true;
    snprintf(reply->why, sizeof reply->why, "cannot connect to %.50s: %.120s", b->server, why);
    return NULL;
}

/* A connection for one request: an idle one, else a new one while fewer
 * than pool are open, else wait for one until the deadline. *reused says
 * whether it served earlier requests (and so may have gone stale). */
static void *take(moat_sql_backend *b, int64_t deadline_ms, bool *reused, moat_auth_reply *reply)
{
    void *c = NULL;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        int64_t now = (int64_t)moat_now_ms();
        if (b->n_idle) {
            c = b->idle[--b->n_idle];
            *reused = true;
            break;
        }
        if (b->n_open < b->pool && !moat_backoff_ready(&b->bo, now)) {
            reply->error = true;
            snprintf(reply->why, sizeof reply->why, "server %.100s unreachable; next try in %.1f s",
                     b->server, (b->bo.until_ms - now) / 1000.0);
            break;
        }
        if (b->n_open < b->pool) {
            *reused = false;
            c = connect_one(b, deadline_ms, reply);
            break;
        }
        if (now >= deadline_ms) {
            reply->error = true;
            snprintf(reply->why, sizeof reply->why,
                     "all %u connections to %.80s busy until auth.timeout (auth.%s.pool)", b->pool,
                     b->server, b->drv->name);
            break;
        }
        wait_until(b, deadline_ms);
    }
    pthread_mutex_unlock(&b->mu);
    return c;
}

/* Give c back (or close it when it is broken or the backend retired). */
static void give(moat_sql_backend *b, void *c, bool broken)
{
    pthread_mutex_lock(&b->mu);
    bool keep = !broken && !b->retired && b->n_idle < b->pool;
    if (keep)
        b->idle[b->n_idle++] = c;
    else
        b->n_open--;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (!keep)
        b->drv->close(c);
}

/* ---- the queries ---- */

typedef struct request {
    moat_sql_backend *b;
    void *conn;
    bool reused;
    const moat_auth_req *rq;
    int64_t deadline;
    moat_auth_reply *reply;
} request;

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
        bool retry = broken && r->reused && (int64_t)moat_now_ms() < r->deadline;
        if (broken) {
            give(b, r->conn, true);
            r->conn = NULL;
        }
        if (retry && (r->conn = take(b, r->deadline, &r->reused, r->reply)))
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
    request r = {.b = b, .rq = rq, .deadline = deadline_ms, .reply = reply};
    if (!(r.conn = take(b, deadline_ms, &r.reused, reply)))
        return;
    moat_sql_result *res = run(&r, MOAT_SQL_Q_AUTH);
    if (res)
        moat_sql_check_password(res, &b->hp, rq, reply);
    moat_sql_result_free(res);
    if (!reply->error && reply->result == MOAT_AUTH_ALLOW && b->q[MOAT_SQL_Q_SUPER].text && r.conn)
        superuser(&r);
    if (!reply->error && reply->result == MOAT_AUTH_ALLOW && !reply->superuser &&
        b->q[MOAT_SQL_Q_ACL].text && r.conn)
        client_acl(&r);
    if (r.conn)
        give(b, r.conn, false);
}

/* ---- lifetime ---- */

/* Closing is quick (a goodbye message at most) and rare: under the lock. */
static void close_idle(moat_sql_backend *b)
{
    pthread_mutex_lock(&b->mu);
    b->retired = true;
    for (; b->n_idle; b->n_open--)
        b->drv->close(b->idle[--b->n_idle]);
    pthread_mutex_unlock(&b->mu);
}

void moat_sql_backend_retire(void *self)
{
    close_idle(self);
}

void moat_sql_backend_free(void *self)
{
    moat_sql_backend *b = self;
    if (!b)
        return;
    close_idle(b);
    for (int i = 0; i < MOAT_SQL_Q__COUNT; i++)
        moat_sql_tmpl_free(&b->q[i]);
    OPENSSL_cleanse(&b->s, sizeof b->s);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b->idle);
    free(b);
}
