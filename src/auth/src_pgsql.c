/* SPDX-License-Identifier: Apache-2.0 */
/* The PostgreSQL backend (auth.pgsql.*, EMQX 4's emqx_auth_pgsql keys) over
 * libpq. Connects and queries without blocking past the deadline: the
 * connect with PQconnectStartParams / PQconnectPoll and the query with
 * PQsendQueryParams, each waiting in poll(); a query that runs out of time
 * is cancelled (PQcancel) and its connection dropped. The rest (pool,
 * backoff, the order of the queries) is sql_backend.c. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "auth/backend.h"
#include "auth/sql_backend.h"
#include "conf/conf.h"
#include "core/loop.h"

/* The library's message on one line: its newlines and tabs become one
 * space, the trailing newline goes. */
static void pg_why(const char *msg, char *why, size_t n)
{
    size_t o = 0;
    bool space = false;
    if (!msg || !msg[0])
        msg = "unknown error";
    for (; *msg && o + 1 < n; msg++) {
        bool blank = *msg == '\n' || *msg == '\r' || *msg == '\t' || *msg == ' ';
        if (blank) {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < n)
            why[o++] = ' ';
        space = false;
        why[o++] = *msg;
    }
    why[o] = '\0';
}

/* Wait for fd to be readable (or writable) until deadline: 1 ready, 0 the
 * deadline passed, -1 error. */
static int wait_fd(int fd, bool write, int64_t deadline_ms)
{
    int64_t left = deadline_ms - (int64_t)moat_now_ms();
    if (left <= 0)
        return 0;
    struct pollfd p = {.fd = fd, .events = write ? POLLOUT : POLLIN};
    int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
    return r < 0 ? -1 : r;
}

static void *pg_open(const moat_sql_target *t, int64_t deadline_ms, char *why, size_t n)
{
    const struct moat_conf_sql *s = t->s;
    char port[8];
    snprintf(port, sizeof port, "%u", t->port);
    const char *sslmode = !s->ssl ? "disable" : t->verify ? "verify-full" : "require";
    const char *keys[16], *vals[16];
    int k = 0;
#define KV(key, val)                                                                               \
    do {                                                                                           \
        if ((val)[0]) {                                                                            \
            keys[k] = key;                                                                         \
            vals[k++] = val;                                                                       \
        }                                                                                          \
    } while (0)
    KV("host", t->host);
    KV("port", port);
    KV("user", s->username);
    KV("password", s->password);
    KV("dbname", s->database);
    KV("client_encoding", s->encoding);
    KV("sslmode", sslmode);
    if (t->verify)
        KV("sslrootcert", s->ssl_cacertfile);
    KV("sslcert", s->ssl_certfile);
    KV("sslkey", s->ssl_keyfile);
    KV("application_name", "moat");
#undef KV
    keys[k] = vals[k] = NULL;
    PGconn *pc = PQconnectStartParams(keys, vals, 0);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (pc && PQstatus(pc) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
           st != PGRES_POLLING_FAILED) {
        int r = wait_fd(PQsocket(pc), st == PGRES_POLLING_WRITING, deadline_ms);
        if (r <= 0) {
            snprintf(why, n, r ? "poll failed" : "connect timed out (auth.timeout)");
            PQfinish(pc);
            return NULL;
        }
        st = PQconnectPoll(pc);
    }
    if (!pc || PQstatus(pc) != CONNECTION_OK) {
        pg_why(pc ? PQerrorMessage(pc) : "out of memory", why, n);
        PQfinish(pc);
        return NULL;
    }
    return pc;
}

/* Out of time: ask the server to stop the query; the connection is not
 * used again either way. */
static void pg_cancel(PGconn *pc)
{
    char buf[128];
    PGcancel *cn = PQgetCancel(pc);
    if (cn) {
        PQcancel(cn, buf, sizeof buf);
        PQfreeCancel(cn);
    }
}

static moat_sql_result *pg_rows(const PGresult *res)
{
    size_t rows = (size_t)PQntuples(res), cols = (size_t)PQnfields(res);
    moat_sql_result *r = moat_sql_result_new(rows, cols);
    bool ok = r != NULL;
    for (size_t c = 0; ok && c < cols; c++) {
        const char *name = PQfname(res, (int)c);
        ok = moat_sql_result_set(r, c, SIZE_MAX, name, strlen(name)) == MOAT_OK;
    }
    for (size_t i = 0; ok && i < rows; i++)
        for (size_t c = 0; ok && c < cols; c++)
            if (!PQgetisnull(res, (int)i, (int)c))
                ok = moat_sql_result_set(r, i, c, PQgetvalue(res, (int)i, (int)c),
                                         (size_t)PQgetlength(res, (int)i, (int)c)) == MOAT_OK;
    if (!ok) {
        moat_sql_result_free(r);
        return NULL;
    }
    return r;
}

/* Wait until the whole answer is in (PQisBusy false), or the deadline. */
static bool pg_wait(PGconn *pc, int64_t deadline_ms, bool *broken, char *why, size_t n)
{
    while (PQisBusy(pc)) {
        int r = wait_fd(PQsocket(pc), false, deadline_ms);
        if (r == 0) {
            pg_cancel(pc);
            snprintf(why, n, "query timed out (auth.timeout)");
            *broken = true;
            return false;
        }
        if (r < 0 || !PQconsumeInput(pc)) {
            pg_why(PQerrorMessage(pc), why, n);
            *broken = true;
            return false;
        }
    }
    return true;
}

static bool pg_query(void *conn, int which, const moat_sql_tmpl *q, const char *const *vals,
                     const size_t *lens, int64_t deadline_ms, moat_sql_result **out, bool *broken,
                     char *why, size_t n)
{
    (void)which;
    (void)lens; /* text parameters: NUL-terminated */
    PGconn *pc = conn;
    if (!PQsendQueryParams(pc, q->text, (int)q->n_params, NULL, vals, NULL, NULL, 0)) {
        pg_why(PQerrorMessage(pc), why, n);
        *broken = PQstatus(pc) != CONNECTION_OK;
        return false;
    }
    if (!pg_wait(pc, deadline_ms, broken, why, n))
        return false;
    bool ok = false;
    for (PGresult *res; (res = PQgetResult(pc));) { /* the last one is NULL */
        ExecStatusType st = PQresultStatus(res);
        if (!ok && !*out && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)) {
            ok = (*out = pg_rows(res)) != NULL;
            if (!ok)
                snprintf(why, n, "out of memory");
        } else if (!*out && !why[0]) {
            pg_why(PQresultErrorMessage(res), why, n);
        }
        PQclear(res);
        if (!pg_wait(pc, deadline_ms, broken, why, n))
            return false;
    }
    *broken = PQstatus(pc) != CONNECTION_OK;
    return ok && !*broken;
}

static void pg_close(void *conn)
{
    PQfinish(conn);
}

static const moat_sql_driver pg_driver = {
    .name = "pgsql",
    .style = MOAT_SQL_DOLLAR,
    .default_port = 5432,
    .open = pg_open,
    .query = pg_query,
    .close = pg_close,
};

static bool pg_configured(const moat_conf *c)
{
    return c->pgsql.server[0] != '\0';
}

static moat_err pg_create(const moat_conf *c, void **self, char *err, size_t errlen)
{
    return moat_sql_backend_new(&pg_driver, c, &c->pgsql, self, err, errlen);
}

const moat_backend_ops moat_backend_pgsql = {
    .name = "pgsql",
    .configured = pg_configured,
    .create = pg_create,
    .authenticate = moat_sql_backend_auth,
    .acl = moat_sql_backend_acl,
    .retire = moat_sql_backend_retire,
    .destroy = moat_sql_backend_free,
};
