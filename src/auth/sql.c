/* SPDX-License-Identifier: Apache-2.0 */
/* Templates to parameterised queries, rows to answers: see sql.h. */
#include "auth/sql.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/acl.h"

/* The placeholders a SQL template may use (backend.h). %P is left out on
 * purpose: a query has no business seeing the password. */
static const char KNOWN[] = "ucaCd";
static const char EXPECTED[] =
    "expected %u username, %c client id, %a address, %C certificate CN, %d certificate DN";

static bool known(char c)
{
    return c && strchr(KNOWN, c);
}

/* The parser's state: input position, output buffer (large enough: see
 * moat_sql_tmpl_parse), the template so far. */
typedef struct tparse {
    const char *s;
    size_t i;
    char *out;
    size_t o;
    moat_sql_style style;
    moat_sql_tmpl *t;
    char *why;
    size_t n;
} tparse;

static bool fail(tparse *p, const char *msg)
{
    snprintf(p->why, p->n, "%s", msg);
    return false;
}

static bool emit_param(tparse *p, char letter)
{
    if (p->t->n_params == MOAT_SQL_MAX_PARAMS)
        return fail(p, "too many placeholders (32 at most)");
    p->t->vars[p->t->n_params++] = letter;
    if (p->style == MOAT_SQL_QMARK)
        p->out[p->o++] = '?';
    else
        p->o += (size_t)sprintf(p->out + p->o, "$%zu", p->t->n_params);
    return true;
}

static void copy(tparse *p, size_t from, size_t to)
{
    memcpy(p->out + p->o, p->s + from, to - from);
    p->o += to - from;
}

/* End (index of the closing quote) of the quoted run starting at p->i, or
 * 0 when it is not closed. A doubled quote stands for itself; in MySQL
 * strings a backslash escapes the next character. */
static size_t quoted_end(const tparse *p, bool backslash)
{
    char q = p->s[p->i];
    for (size_t k = p->i + 1; p->s[k]; k++) {
        if (backslash && p->s[k] == '\\' && p->s[k + 1]) {
            k++;
        } else if (p->s[k] == q) {
            if (p->s[k + 1] != q)
                return k;
            k++;
        }
    }
    return 0;
}

/* A string literal: '%u' as a whole is a parameter; a placeholder inside a
 * longer literal is refused, since it cannot be bound there. */
static bool string_literal(tparse *p)
{
    size_t end = quoted_end(p, p->style == MOAT_SQL_QMARK);
    if (!end)
        return fail(p, "a string literal is not closed (an odd number of quotes)");
    const char *c = p->s + p->i + 1;
    size_t len = end - p->i - 1;
    if (len == 2 && c[0] == '%' && isalpha((unsigned char)c[1])) {
        if (!known(c[1])) {
            snprintf(p->why, p->n, "unknown placeholder %%%c (%s)", c[1], EXPECTED);
            return false;
        }
        p->i = end + 1;
        return emit_param(p, c[1]);
    }
    for (size_t k = 0; k + 1 < len; k++) {
        if (c[k] == '%' && known(c[k + 1])) {
            snprintf(p->why, p->n,
                     "placeholder %%%c inside the longer string '%.*s': it must be a whole "
                     "value, such as '%%%c' (build longer text with concat('%%%c', '...'))",
                     c[k + 1], (int)(len > 40 ? 40 : len), c, c[k + 1], c[k + 1]);
            return false;
        }
    }
    copy(p, p->i, end + 1);
    p->i = end + 1;
    return true;
}

/* A quoted identifier ("col" in PostgreSQL, `col` in MySQL): as it is. */
static bool identifier(tparse *p)
{
    size_t end = quoted_end(p, false);
    if (!end)
        return fail(p, "a quoted name is not closed (an odd number of quotes)");
    copy(p, p->i, end + 1);
    p->i = end + 1;
    return true;
}

static void comment(tparse *p)
{
    const char *s = p->s + p->i;
    const char *e = s[0] == '-' ? strchr(s, '\n') : strstr(s + 2, "*/");
    size_t len = e ? (size_t)(e - s) + (s[0] == '-' ? 0 : 2) : strlen(s);
    copy(p, p->i, p->i + len);
    p->i += len;
}

/* One step of the scan over text outside literals and comments. */
static bool step(tparse *p)
{
    const char *s = p->s + p->i;
    bool my = p->style == MOAT_SQL_QMARK;
    if (s[0] == '\'' || (my && s[0] == '"'))
        return string_literal(p);
    if ((!my && s[0] == '"') || (my && s[0] == '`'))
        return identifier(p);
    if ((s[0] == '-' && s[1] == '-') || (s[0] == '/' && s[1] == '*')) {
        comment(p);
        return true;
    }
    if (s[0] == '%' && isalpha((unsigned char)s[1])) {
        if (!known(s[1])) {
            snprintf(p->why, p->n, "unknown placeholder %%%c (%s)", s[1], EXPECTED);
            return false;
        }
        p->i += 2;
        return emit_param(p, s[1]);
    }
    if ((!my && s[0] == '$' && isdigit((unsigned char)s[1])) || (my && s[0] == '?'))
        return fail(p, my ? "'?' is a parameter marker: moat writes those itself (use '%u', "
                            "'%c' ... for the client's values; a literal ? goes in quotes)"
                          : "'$1' is a parameter marker: moat writes those itself (use '%u', "
                            "'%c' ... for the client's values)");
    p->out[p->o++] = s[0];
    p->i++;
    return true;
}

moat_err moat_sql_tmpl_parse(const char *tmpl, moat_sql_style style, moat_sql_tmpl *out, char *why,
                             size_t n)
{
    size_t len = strlen(tmpl);
    moat_sql_tmpl t = {0};
    /* The longest growth is a bare %u (2 bytes) becoming $32 (3). */
    if (!(t.text = malloc(2 * len + 1)))
        return MOAT_ENOMEM;
    tparse p = {.s = tmpl, .out = t.text, .style = style, .t = &t, .why = why, .n = n};
    while (tmpl[p.i]) {
        if (!step(&p)) {
            free(t.text);
            return MOAT_EINVAL;
        }
    }
    t.text[p.o] = '\0';
    *out = t;
    return MOAT_OK;
}

void moat_sql_tmpl_free(moat_sql_tmpl *t)
{
    free(t->text);
    t->text = NULL;
    t->n_params = 0;
}

bool moat_sql_tmpl_values(const moat_sql_tmpl *t, const moat_auth_req *rq, const char **vals,
                          size_t *lens)
{
    bool all = true;
    for (size_t i = 0; i < t->n_params; i++) {
        lens[i] = 0;
        if (!(vals[i] = moat_auth_req_var(rq, t->vars[i], &lens[i])))
            all = false;
    }
    return all;
}

bool moat_sql_server_parse(const char *server, unsigned def_port, char *host, size_t hostlen,
                           unsigned *port, char *why, size_t n)
{
    const char *h = server, *colon = strrchr(server, ':');
    size_t hl = strlen(server);
    if (server[0] == '[') { /* [::1]:5432 */
        const char *close = strchr(server, ']');
        h = server + 1;
        hl = close ? (size_t)(close - h) : 0;
        colon = close && close[1] == ':' ? close + 1 : NULL;
        if (close && close[1] && !colon)
            hl = 0;
    } else if (colon && strchr(server, ':') != colon) {
        colon = NULL; /* a bare IPv6 address */
    } else if (colon) {
        hl = (size_t)(colon - server);
    }
    unsigned long p = def_port;
    char *end = NULL;
    if (colon)
        p = strtoul(colon + 1, &end, 10);
    if (!hl || hl >= hostlen || strspn(h, " \t") || (colon && (*end || !colon[1])) || p < 1 ||
        p > 65535) {
        snprintf(why, n,
                 "'%s' is not a server (expected host or host:port, such as "
                 "127.0.0.1:%u or [::1]:%u)",
                 server, def_port, def_port);
        return false;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned)p;
    return true;
}

/* ---- results ---- */

moat_sql_result *moat_sql_result_new(size_t rows, size_t cols)
{
    moat_sql_result *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->rows = rows;
    r->cols = cols;
    r->names = calloc(cols + 1, sizeof *r->names);
    r->cells = rows <= SIZE_MAX / (cols + 1) ? calloc(rows * cols + 1, sizeof *r->cells) : NULL;
    if (!r->names || !r->cells) {
        moat_sql_result_free(r);
        return NULL;
    }
    return r;
}

moat_err moat_sql_result_set(moat_sql_result *r, size_t row, size_t col, const char *v, size_t len)
{
    char **slot = col == SIZE_MAX ? &r->names[row] : &r->cells[row * r->cols + col];
    if (!v)
        return MOAT_OK;
    if (!(*slot = malloc(len + 1)))
        return MOAT_ENOMEM;
    memcpy(*slot, v, len);
    (*slot)[len] = '\0';
    return MOAT_OK;
}

void moat_sql_result_free(moat_sql_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->names && i < r->cols; i++)
        free(r->names[i]);
    for (size_t i = 0; r->cells && i < r->rows * r->cols; i++)
        free(r->cells[i]);
    free(r->names);
    free(r->cells);
    free(r);
}

const char *moat_sql_cell(const moat_sql_result *r, size_t row, size_t col)
{
    return row < r->rows && col < r->cols ? r->cells[row * r->cols + col] : NULL;
}

int moat_sql_column(const moat_sql_result *r, const char *name)
{
    for (size_t i = 0; i < r->cols; i++)
        if (r->names[i] && !strcasecmp(r->names[i], name))
            return (int)i;
    return -1;
}

/* ---- answers ---- */

void moat_sql_check_password(const moat_sql_result *r, const moat_hash_params *hp,
                             const moat_auth_req *rq, moat_auth_reply *reply)
{
    if (!r || !r->rows || !r->cols) {
        reply->result = MOAT_AUTH_IGNORE;
        return;
    }
    /* EMQX reads the column named password; the first one otherwise. */
    int pc = moat_sql_column(r, "password"), sc = moat_sql_column(r, "salt");
    const char *stored = moat_sql_cell(r, 0, pc >= 0 ? (size_t)pc : 0);
    moat_hash_params p = *hp;
    p.salt = sc >= 0 && moat_sql_cell(r, 0, (size_t)sc) ? moat_sql_cell(r, 0, (size_t)sc) : "";
    reply->result = MOAT_AUTH_DENY;
    if (!stored)
        snprintf(reply->why, sizeof reply->why, "no password stored (NULL)");
    else if (!rq->password)
        snprintf(reply->why, sizeof reply->why, "no password given");
    else if (!moat_hash_verify(&p, rq->password, rq->password_len, stored))
        snprintf(reply->why, sizeof reply->why, "wrong password");
    else
        reply->result = MOAT_AUTH_ALLOW;
}

static bool word_is(const char *v, const char *const *words)
{
    for (; *words; words++)
        if (!strcasecmp(v, *words))
            return true;
    return false;
}

bool moat_sql_truthy(const char *v)
{
    static const char *const yes[] = {"t", "true", "y", "yes", "on", NULL};
    if (!v)
        return false;
    while (isspace((unsigned char)*v))
        v++;
    if (isdigit((unsigned char)*v) || *v == '-' || *v == '+')
        return strtod(v, NULL) != 0;
    return word_is(v, yes);
}

static bool set(const char *v)
{
    return v && v[0];
}

/* EMQX 4's access numbers: 1 subscribe, 2 publish, 3 both. */
static unsigned access_of(const char *v)
{
    static const char *const sub[] = {"1", "subscribe", "sub", NULL};
    static const char *const pub[] = {"2", "publish", "pub", NULL};
    static const char *const both[] = {"3", "pubsub", NULL};
    if (!v)
        return 0;
    if (word_is(v, sub))
        return MOAT_ACL_SUBSCRIBE;
    if (word_is(v, pub))
        return MOAT_ACL_PUBLISH;
    return word_is(v, both) ? MOAT_ACL_SUBSCRIBE | MOAT_ACL_PUBLISH : 0;
}

moat_err moat_sql_acl_row(moat_acl *acl, const char *const cols[6], char *why, size_t n)
{
    static const char *const allow_words[] = {"1", "t", "true", "allow", NULL};
    static const char *const deny_words[] = {"0", "f", "false", "deny", NULL};
    const char *allow = cols[0], *ip = cols[1], *user = cols[2], *client = cols[3];
    const char *topic = cols[5];
    bool is_allow = allow && word_is(allow, allow_words);
    if (!is_allow && !(allow && word_is(allow, deny_words))) {
        snprintf(why, n, "allow is '%s' (expected 1 or 0)", allow ? allow : "NULL");
        return MOAT_EINVAL;
    }
    unsigned access = access_of(cols[4]);
    if (!access) {
        snprintf(why, n, "access is '%s' (expected 1 subscribe, 2 publish or 3 pubsub)",
                 cols[4] ? cols[4] : "NULL");
        return MOAT_EINVAL;
    }
    if (!set(topic)) {
        snprintf(why, n, "topic is empty");
        return MOAT_EINVAL;
    }
    bool eq = !strncmp(topic, "eq ", 3);
    moat_acl_who who = MOAT_ACL_WHO_ALL;
    const char *value = NULL;
    if (set(user) && !strcmp(user, "$all"))
        who = MOAT_ACL_WHO_ALL;
    else if (set(client))
        who = MOAT_ACL_WHO_CLIENT, value = client;
    else if (set(user))
        who = MOAT_ACL_WHO_USER, value = user;
    else if (set(ip))
        who = MOAT_ACL_WHO_IPADDR, value = ip;
    return moat_acl_add(acl, is_allow, who, value, access, eq ? topic + 3 : topic, eq, why, n);
}

/* ---- option checks ---- */

bool moat_sql_conf_check_server(const char *v, char *msg, size_t n)
{
    char host[256];
    unsigned port;
    return !v[0] || moat_sql_server_parse(v, 5432, host, sizeof host, &port, msg, n);
}

bool moat_sql_conf_check_hash(const char *v, char *msg, size_t n)
{
    moat_hash_params hp;
    return moat_hash_spec_parse(v, &hp, msg, n);
}

static bool check_query(const char *v, moat_sql_style style, char *msg, size_t n)
{
    moat_sql_tmpl t;
    moat_err e = moat_sql_tmpl_parse(v, style, &t, msg, n);
    if (e == MOAT_OK)
        moat_sql_tmpl_free(&t);
    return e != MOAT_EINVAL;
}

bool moat_sql_conf_check_pgsql(const char *v, char *msg, size_t n)
{
    return check_query(v, MOAT_SQL_DOLLAR, msg, n);
}

bool moat_sql_conf_check_mysql(const char *v, char *msg, size_t n)
{
    return check_query(v, MOAT_SQL_QMARK, msg, n);
}
