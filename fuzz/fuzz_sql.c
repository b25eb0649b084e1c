/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the SQL backends' template parser (auth/sql.h), the server address
 * parser and the acl_query row reader. The first byte picks the style
 * (PostgreSQL $n or MySQL ?); the rest is the template. Beyond "no crash, no
 * leak": a parsed template has only known placeholder letters, at most
 * MOAT_SQL_MAX_PARAMS of them, and fits the room the parser promises. The
 * same bytes, split at '|', are also read as one acl_query row. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/acl.h"
#include "auth/sql.h"

static void acl_row(const char *s)
{
    char *copy = strdup(s), *cols[6] = {0}, *p = copy;
    for (int i = 0; p && i < 6; i++) {
        cols[i] = strsep(&p, "|");
        if (!strcmp(cols[i], "NULL"))
            cols[i] = NULL;
    }
    moat_acl *a = moat_acl_new();
    char why[200];
    if (a && copy)
        (void)moat_sql_acl_row(a, (const char *const *)cols, why, sizeof why);
    moat_acl_free(a);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    moat_sql_style style = data[0] & 1 ? MOAT_SQL_QMARK : MOAT_SQL_DOLLAR;
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0'; /* stops at the first NUL, as a configuration value would */
    moat_sql_tmpl t;
    char why[300];
    if (moat_sql_tmpl_parse(s, style, &t, why, sizeof why) == MOAT_OK) {
        if (t.n_params > MOAT_SQL_MAX_PARAMS || strlen(t.vars) != t.n_params ||
            strspn(t.vars, "ucaCd") != t.n_params || strlen(t.text) > 2 * strlen(s))
            abort();
        moat_sql_tmpl_free(&t);
    } else if (!why[0]) {
        abort(); /* a refusal always says why */
    }
    char host[64];
    unsigned port;
    if (moat_sql_server_parse(s, 5432, host, sizeof host, &port, why, sizeof why) &&
        (!host[0] || port < 1 || port > 65535))
        abort();
    acl_row(s);
    free(s);
    return 0;
}
