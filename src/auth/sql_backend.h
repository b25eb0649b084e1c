/* SPDX-License-Identifier: Apache-2.0 */
/* The body of an SQL backend, shared by PostgreSQL and MySQL: the checked
 * settings, the connection pool (at most `pool` connections, each used by
 * one thread at a time, made lazily on a pool thread), the reconnect
 * backoff and its log lines, and the order of the queries (auth_query, then
 * super_query, then acl_query). The connections are a moat_connpool
 * (connpool.h). A client library plugs in through a moat_sql_driver: open a
 * connection, run one parameterised query, close.
 *
 * Threads: moat_sql_backend_auth runs on the worker pool, on several threads
 * at once; new, retire and free on the thread that builds the chain. */
#ifndef MOAT_AUTH_SQL_BACKEND_H
#define MOAT_AUTH_SQL_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/backend.h"
#include "auth/sql.h"

struct moat_conf;
struct moat_conf_sql;

/* Which of the three queries a call runs, so a driver may keep one prepared
 * statement per query and connection. */
enum { MOAT_SQL_Q_AUTH = 0, MOAT_SQL_Q_SUPER, MOAT_SQL_Q_ACL, MOAT_SQL_Q__COUNT };

/* Where and how to connect: the checked settings. */
typedef struct moat_sql_target {
    char host[256];
    unsigned port;
    uint32_t query_timeout_ms;     /* the smaller of query_timeout (if set) and auth.timeout */
    bool verify;                   /* with ssl: check the certificate and name (ssl.verify) */
    const struct moat_conf_sql *s; /* user, password, database, encoding, TLS files */
} moat_sql_target;

typedef struct moat_sql_driver {
    const char *name; /* "pgsql": log lines say "auth.pgsql: ..." */
    moat_sql_style style;
    unsigned default_port;
    /* Once, on the thread that builds the chain (may be NULL). False: the
     * library cannot start. */
    bool (*init)(void);
    /* Connect to t before deadline_ms (moat_now_ms clock). NULL with why (the
     * library's message; never the password) when it cannot. */
    void *(*open)(const moat_sql_target *t, int64_t deadline_ms, char *why, size_t n);
    /* Run q (query number which) with the parameter values vals (NULL: SQL
     * NULL) before deadline_ms; *out gets the rows (caller frees). False
     * with why on failure, and *broken when the connection cannot be used
     * again (lost, timed out). */
    bool (*query)(void *conn, int which, const moat_sql_tmpl *q, const char *const *vals,
                  const size_t *lens, int64_t deadline_ms, moat_sql_result **out, bool *broken,
                  char *why, size_t n);
    void (*close)(void *conn);
} moat_sql_driver;

typedef struct moat_sql_backend moat_sql_backend;

/* Check s, the auth.<name>.* block of c (server, pool, password_hash, the
 * queries), and build the backend (backend.h create). On error MOAT_EINVAL
 * with "auth.<name>.<key>: what is wrong (what would be right)" in err. */
moat_err moat_sql_backend_new(const moat_sql_driver *drv, const struct moat_conf *c,
                              const struct moat_conf_sql *s, void **out, char *err, size_t errlen);
/* backend.h authenticate. */
void moat_sql_backend_auth(void *self, const moat_auth_req *rq, int64_t deadline_ms,
                           moat_auth_reply *reply);
/* backend.h acl: the acl_query alone (acl_cache_ttl refreshes). */
void moat_sql_backend_acl(void *self, const moat_auth_req *rq, int64_t deadline_ms,
                          moat_auth_reply *reply);
/* backend.h retire: close idle connections. */
void moat_sql_backend_retire(void *self);
/* backend.h destroy: no request may be under way. */
void moat_sql_backend_free(void *self);

#endif
