/* SPDX-License-Identifier: Apache-2.0 */
/* What the SQL backends (src_pgsql.c, src_mysql.c) share and can be tested
 * without a server: an EMQX 4 query template turned into a parameterised
 * query, and the rows a query returns turned into an answer (a password
 * check, a superuser flag, a client's ACL rules).
 *
 * Placeholders (%u %c %a %C %d, backend.h moat_auth_req_var) are never
 * pasted into SQL text. A template such as
 *     select password from mqtt_user where username = '%u' limit 1
 * becomes
 *     select password from mqtt_user where username = $1 limit 1   (libpq)
 *     select password from mqtt_user where username = ? limit 1    (MySQL)
 * with the client's username bound as parameter 1: a quoted '%u' (the
 * whole string literal) and a bare %u both become a parameter.
 *
 * Leaf module: no logging, no global state; safe on any thread. */
#ifndef MOAT_AUTH_SQL_H
#define MOAT_AUTH_SQL_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/backend.h"
#include "auth/hash.h"
#include "base/err.h"

#define MOAT_SQL_MAX_PARAMS 32

/* How a parameter is written in the query text. */
typedef enum moat_sql_style {
    MOAT_SQL_DOLLAR = 0, /* $1, $2 ... (PostgreSQL); "" quotes an identifier */
    MOAT_SQL_QMARK,      /* ? (MySQL); "" quotes a string, \ escapes in strings */
} moat_sql_style;

/* A parsed template. Owned by whoever parsed it (moat_sql_tmpl_free). */
typedef struct moat_sql_tmpl {
    char *text;                         /* the query with parameters in place */
    char vars[MOAT_SQL_MAX_PARAMS + 1]; /* placeholder letter of parameter i+1, NUL-ended */
    size_t n_params;
} moat_sql_tmpl;

/* Turn template into out. Rules, so that nothing a client sends can become
 * SQL: '%x' as a whole string literal and %x outside literals become
 * parameters; a known placeholder inside a longer literal ('%u@x') is
 * refused (write concat('%u', '@x') instead); a % followed by another
 * letter outside literals is an unknown placeholder; the parameter marker
 * itself ($1, ?) outside literals and comments is refused; literals must be
 * closed. -- and slash-star comments are copied as they are. An empty
 * template gives text "" and no parameters. On error MOAT_EINVAL with what
 * is wrong and what would be right in why (*out untouched); MOAT_ENOMEM. */
moat_err moat_sql_tmpl_parse(const char *tmpl, moat_sql_style style, moat_sql_tmpl *out, char *why,
                             size_t n);
void moat_sql_tmpl_free(moat_sql_tmpl *t);

/* The values of t's parameters for rq: vals[i] / lens[i]. False when the
 * client lacks one of them (no username, no certificate); its vals[i] is
 * NULL then, to be bound as SQL NULL (which equals nothing). */
bool moat_sql_tmpl_values(const moat_sql_tmpl *t, const moat_auth_req *rq, const char **vals,
                          size_t *lens);

/* "host", "host:port", "[v6addr]:port" into host and *port (def_port when
 * none). False with why when it does not parse. */
bool moat_sql_server_parse(const char *server, unsigned def_port, char *host, size_t hostlen,
                           unsigned *port, char *why, size_t n);

/* A query's answer as text, the way both client libraries give it: rows x
 * cols cells, NULL for SQL NULL. Built with moat_sql_result_new and
 * moat_sql_result_set (which copy), freed with moat_sql_result_free. */
typedef struct moat_sql_result {
    size_t rows, cols;
    char **names; /* cols column names */
    char **cells; /* rows * cols, row-major */
} moat_sql_result;

moat_sql_result *moat_sql_result_new(size_t rows, size_t cols);
/* Copy len bytes of v (NULL: SQL NULL) into the cell (row, col); col ==
 * SIZE_MAX sets the name of column row instead. MOAT_ENOMEM. */
moat_err moat_sql_result_set(moat_sql_result *r, size_t row, size_t col, const char *v, size_t len);
void moat_sql_result_free(moat_sql_result *r);
/* The cell, or NULL (SQL NULL, or out of range). */
const char *moat_sql_cell(const moat_sql_result *r, size_t row, size_t col);
/* Index of the column named name (case-insensitive), or -1. */
int moat_sql_column(const moat_sql_result *r, const char *name);

/* An auth_query's answer: no row -> IGNORE; else the first column is the
 * stored password (NULL -> DENY), a column "salt" if any its salt, checked
 * with hp -> ALLOW or DENY (with why). */
void moat_sql_check_password(const moat_sql_result *r, const moat_hash_params *hp,
                             const moat_auth_req *rq, moat_auth_reply *reply);

/* Is a column value true: 1 (any non-zero number), t, true, y, yes, on. */
bool moat_sql_truthy(const char *v);

/* One acl_query row (allow, ipaddr, username, clientid, access, topic;
 * NULL cells allowed) appended to acl. allow: 1/0 (or true/false, allow/
 * deny); access: 1 subscribe, 2 publish, 3 pubsub (or those words); who:
 * username '$all' -> everyone, else the client id if set, else the username,
 * else the address (or CIDR), else everyone; a topic written "eq t" matches
 * the literal filter t only. MOAT_EINVAL with why for a row that makes no
 * rule (skip it); MOAT_ENOMEM. */
moat_err moat_sql_acl_row(struct moat_acl *acl, const char *const cols[6], char *why, size_t n);

/* Value checks for the option table (conf_int.h's check): a server, a
 * password_hash, a PostgreSQL or MySQL query template. False with "what is
 * wrong (what would be right)" in msg. */
bool moat_sql_conf_check_server(const char *v, char *msg, size_t n);
bool moat_sql_conf_check_hash(const char *v, char *msg, size_t n);
bool moat_sql_conf_check_pgsql(const char *v, char *msg, size_t n);
bool moat_sql_conf_check_mysql(const char *v, char *msg, size_t n);

#endif
