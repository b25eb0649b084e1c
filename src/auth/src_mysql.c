/* SPDX-License-Identifier: Apache-2.0 */
/* The MySQL / MariaDB backend (auth.mysql.*, EMQX 4's emqx_auth_mysql keys)
 * over MariaDB Connector/C. Each query is a prepared statement (prepared
 * once per connection) whose ? parameters carry the client's values. The
 * deadline is kept with the library's nonblocking calls (MYSQL_OPT_NONBLOCK,
 * *_start / *_cont) and poll(): a connect or query still running at the
 * deadline is abandoned and its connection dropped. The library's own read
 * and write timeouts (auth.mysql.query_timeout, whole seconds) stay as a
 * second bound. The rest (pool, backoff, the order of the queries) is
 * sql_backend.c. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <errmsg.h>
#include <mysql.h>

#include "auth/backend.h"
#include "auth/sql_backend.h"
#include "conf/conf.h"
#include "core/loop.h"

typedef struct my_conn {
    MYSQL *m;
    MYSQL_STMT *st[MOAT_SQL_Q__COUNT]; /* prepared on first use */
} my_conn;

static unsigned seconds_up(int64_t ms)
{
    return ms <= 1000 ? 1 : (unsigned)((ms + 999) / 1000);
}

static const char *opt(const char *v)
{
    return v[0] ? v : NULL;
}

static void my_close(void *conn);

/* Wait for what a nonblocking call asks (status: MYSQL_WAIT_* bits), no
 * later than the deadline: the status to resume it with, or 0 when the
 * deadline passed. */
static int my_wait(MYSQL *m, int status, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - (int64_t)moat_now_ms();
        if (left <= 0)
            return 0;
        int timeout = left > 60000 ? 60000 : (int)left;
        bool lib = false; /* the library's own timeout comes first */
        if ((status & MYSQL_WAIT_TIMEOUT) && mysql_get_timeout_value_ms(m) < (unsigned)timeout) {
            timeout = (int)mysql_get_timeout_value_ms(m);
            lib = true;
        }
        struct pollfd p = {.fd = mysql_get_socket(m),
                           .events = (short)((status & MYSQL_WAIT_READ ? POLLIN : 0) |
                                             (status & MYSQL_WAIT_WRITE ? POLLOUT : 0) |
                                             (status & MYSQL_WAIT_EXCEPT ? POLLPRI : 0))};
        int r = poll(&p, 1, timeout);
        if (r > 0) {
            int ev = (p.revents & (POLLIN | POLLHUP | POLLERR) ? MYSQL_WAIT_READ : 0) |
                     (p.revents & (POLLOUT | POLLHUP | POLLERR) ? MYSQL_WAIT_WRITE : 0) |
                     (p.revents & POLLPRI ? MYSQL_WAIT_EXCEPT : 0);
            return ev & status ? ev & status : status;
        }
        if (r == 0 && lib)
            return MYSQL_WAIT_TIMEOUT;
        if (r < 0 && errno != EINTR)
            return 0;
    }
}

/* Out of time in the middle of a call: nothing more goes over this
 * connection (its close then fails fast instead of waiting). */
static void my_abandon(my_conn *mc, bool *broken, char *why, size_t n, const char *what)
{
    shutdown(mysql_get_socket(mc->m), SHUT_RDWR);
    *broken = true;
    snprintf(why, n, "%s timed out (auth.timeout)", what);
}

static bool my_connect(my_conn *mc, const moat_sql_target *t, int64_t deadline_ms, char *why,
                       size_t n)
{
    const struct moat_conf_sql *s = t->s;
    MYSQL *ret = NULL;
    int st = mysql_real_connect_start(&ret, mc->m, t->host, s->username, s->password,
                                      opt(s->database), t->port, NULL, 0);
    while (st) {
        int ev = my_wait(mc->m, st, deadline_ms);
        if (!ev) {
            bool broken;
            my_abandon(mc, &broken, why, n, "connect");
            return false;
        }
        st = mysql_real_connect_cont(&ret, mc->m, ev);
    }
    if (!ret)
        snprintf(why, n, "%s", mysql_error(mc->m));
    return ret != NULL;
}

static void *my_open(const moat_sql_target *t, int64_t deadline_ms, char *why, size_t n)
{
    const struct moat_conf_sql *s = t->s;
    my_conn *mc = calloc(1, sizeof *mc);
    if (!mc || !(mc->m = mysql_init(NULL))) {
        free(mc);
        snprintf(why, n, "out of memory");
        return NULL;
    }
    unsigned ct = seconds_up(deadline_ms - (int64_t)moat_now_ms());
    unsigned rw = seconds_up(t->query_timeout_ms);
    mysql_options(mc->m, MYSQL_OPT_NONBLOCK, 0);
    mysql_options(mc->m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
    mysql_options(mc->m, MYSQL_OPT_READ_TIMEOUT, &rw);
    mysql_options(mc->m, MYSQL_OPT_WRITE_TIMEOUT, &rw);
    mysql_options(mc->m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (s->ssl) {
        my_bool on = 1, verify = t->verify;
        mysql_ssl_set(mc->m, opt(s->ssl_keyfile), opt(s->ssl_certfile),
                      verify ? opt(s->ssl_cacertfile) : NULL, NULL, NULL);
        mysql_options(mc->m, MYSQL_OPT_SSL_ENFORCE, &on);
        mysql_options(mc->m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    }
    if (!my_connect(mc, t, deadline_ms, why, n)) {
        my_close(mc);
        return NULL;
    }
    /* Connector/C 3.3 quietly goes on in clear text when the server offers
     * no TLS, SSL_ENFORCE or not: check. */
    if (s->ssl && !mysql_get_ssl_cipher(mc->m)) {
        snprintf(why, n, "the server does not offer TLS, but auth.mysql.ssl is on");
        my_close(mc);
        return NULL;
    }
    return mc;
}

static void my_close(void *conn)
{
    my_conn *mc = conn;
    /* The connection first: it detaches its statements, which then go
     * without a round trip each (the server drops them with the session). */
    mysql_close(mc->m);
    for (int i = 0; i < MOAT_SQL_Q__COUNT; i++)
        if (mc->st[i])
            mysql_stmt_close(mc->st[i]);
    free(mc);
}

/* A failed statement: its message, and whether the connection went with it
 * (client-side errors: lost, timed out). The statement is prepared again
 * next time. */
static bool my_fail(my_conn *mc, int which, bool *broken, char *why, size_t n)
{
    MYSQL_STMT *st = mc->st[which];
    unsigned no = st ? mysql_stmt_errno(st) : mysql_errno(mc->m);
    snprintf(why, n, "%s", st ? mysql_stmt_error(st) : mysql_error(mc->m));
    *broken = no >= CR_MIN_ERROR;
    if (st)
        mysql_stmt_close(st);
    mc->st[which] = NULL;
    return false;
}

typedef int (*my_cont_fn)(int *ret, MYSQL_STMT *st, int status);

/* Finish a statement call begun nonblocking (status: what its _start gave):
 * true when it is done (*ret its result), false when the deadline came. */
static bool my_finish(my_conn *mc, MYSQL_STMT *st, int status, int *ret, my_cont_fn cont,
                      int64_t deadline_ms)
{
    while (status) {
        int ev = my_wait(mc->m, status, deadline_ms);
        if (!ev)
            return false;
        status = cont(ret, st, ev);
    }
    return true;
}

/* One fetched cell into the result; a value longer than its buffer is read
 * again whole. */
static moat_err my_cell(MYSQL_STMT *st, MYSQL_BIND *b, size_t row, size_t col, moat_sql_result *r)
{
    if (*b->is_null)
        return MOAT_OK;
    if (*b->length <= b->buffer_length)
        return moat_sql_result_set(r, row, col, b->buffer, *b->length);
    MYSQL_BIND big = *b;
    big.buffer_length = *b->length;
    if (!(big.buffer = malloc(big.buffer_length)))
        return MOAT_ENOMEM;
    moat_err e = mysql_stmt_fetch_column(st, &big, (unsigned)col, 0)
                     ? MOAT_EIO
                     : moat_sql_result_set(r, row, col, big.buffer, *b->length);
    free(big.buffer);
    return e;
}

typedef struct my_out {
    MYSQL_BIND b[64];
    unsigned long len[64];
    my_bool null[64];
} my_out;

/* The stored rows of st into *out. */
static moat_err my_rows(MYSQL_STMT *st, moat_sql_result **out)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata(st);
    size_t cols = meta ? mysql_num_fields(meta) : 0, rows = meta ? mysql_stmt_num_rows(st) : 0;
    MYSQL_FIELD *f = meta ? mysql_fetch_fields(meta) : NULL;
    my_out *o = calloc(1, sizeof *o);
    moat_err e =
        o && cols <= 64 && (*out = moat_sql_result_new(rows, cols)) ? MOAT_OK : MOAT_ENOMEM;
    for (size_t c = 0; !e && c < cols; c++) {
        o->b[c] = (MYSQL_BIND){.buffer_type = MYSQL_TYPE_STRING,
                               .buffer_length = (f[c].max_length > 64 ? f[c].max_length : 64) + 1,
                               .length = &o->len[c],
                               .is_null = &o->null[c]};
        if (!(o->b[c].buffer = malloc(o->b[c].buffer_length)) ||
            moat_sql_result_set(*out, c, SIZE_MAX, f[c].name, strlen(f[c].name)))
            e = MOAT_ENOMEM;
    }
    if (!e && cols && mysql_stmt_bind_result(st, o->b))
        e = MOAT_EIO;
    for (size_t row = 0; !e && cols && row < rows; row++) {
        int rc = mysql_stmt_fetch(st);
        if (rc == 1 || rc == MYSQL_NO_DATA)
            e = MOAT_EIO;
        for (size_t c = 0; !e && c < cols; c++)
            e = my_cell(st, &o->b[c], row, c, *out);
    }
    for (size_t c = 0; o && c < cols && c < 64; c++)
        free(o->b[c].buffer);
    free(o);
    if (meta)
        mysql_free_result(meta);
    mysql_stmt_free_result(st);
    return e;
}

static bool my_query(void *conn, int which, const moat_sql_tmpl *q, const char *const *vals,
                     const size_t *lens, int64_t deadline_ms, moat_sql_result **out, bool *broken,
                     char *why, size_t n)
{
    my_conn *mc = conn;
    MYSQL_STMT *st = mc->st[which];
    int ret = 0;
    if (!st) { /* prepared once per connection */
        my_bool on = 1;
        if (!(st = mc->st[which] = mysql_stmt_init(mc->m)))
            return my_fail(mc, which, broken, why, n);
        if (!my_finish(mc, st, mysql_stmt_prepare_start(&ret, st, q->text, strlen(q->text)), &ret,
                       mysql_stmt_prepare_cont, deadline_ms))
            goto late;
        if (ret)
            return my_fail(mc, which, broken, why, n);
        mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &on); /* sizes my_rows' buffers */
    }
    MYSQL_BIND in[MOAT_SQL_MAX_PARAMS];
    memset(in, 0, sizeof in);
    for (size_t i = 0; i < q->n_params; i++) {
        in[i].buffer_type = vals[i] ? MYSQL_TYPE_STRING : MYSQL_TYPE_NULL;
        in[i].buffer = (void *)vals[i];
        in[i].buffer_length = vals[i] ? lens[i] : 0;
    }
    if (q->n_params && mysql_stmt_bind_param(st, in))
        return my_fail(mc, which, broken, why, n);
    if (!my_finish(mc, st, mysql_stmt_execute_start(&ret, st), &ret, mysql_stmt_execute_cont,
                   deadline_ms))
        goto late;
    if (!ret && !my_finish(mc, st, mysql_stmt_store_result_start(&ret, st), &ret,
                           mysql_stmt_store_result_cont, deadline_ms))
        goto late;
    if (ret)
        return my_fail(mc, which, broken, why, n);
    moat_err e = my_rows(st, out);
    if (e == MOAT_EIO)
        return my_fail(mc, which, broken, why, n);
    if (e)
        snprintf(why, n, "out of memory");
    return e == MOAT_OK;
late:
    my_abandon(mc, broken, why, n, "query");
    return false;
}

/* Not thread-safe by itself, and mysql_init would call it on a pool
 * thread. */
static bool my_init(void)
{
    return mysql_library_init(0, NULL, NULL) == 0;
}

static const moat_sql_driver my_driver = {
    .name = "mysql",
    .style = MOAT_SQL_QMARK,
    .default_port = 3306,
    .init = my_init,
    .open = my_open,
    .query = my_query,
    .close = my_close,
};

static bool my_configured(const moat_conf *c)
{
    return c->mysql.server[0] != '\0';
}

static moat_err my_create(const moat_conf *c, void **self, char *err, size_t errlen)
{
    return moat_sql_backend_new(&my_driver, c, &c->mysql, self, err, errlen);
}

const moat_backend_ops moat_backend_mysql = {
    .name = "mysql",
    .configured = my_configured,
    .create = my_create,
    .authenticate = moat_sql_backend_auth,
    .acl = moat_sql_backend_acl,
    .retire = moat_sql_backend_retire,
    .destroy = moat_sql_backend_free,
};
