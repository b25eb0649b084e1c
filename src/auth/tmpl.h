/* SPDX-License-Identifier: Apache-2.0 */
/* Request templates with EMQX 4 placeholders, for the backends that send a
 * client's values as separate items rather than as text pasted into a
 * query:
 *   a Redis command   "HMGET mqtt_user:%u password salt"  split at spaces
 *                      into arguments, each sent as one Redis argument;
 *   HTTP parameters    "clientid=%c,username=%u,password=%P"  split at
 *                      commas into name=value pairs, each value encoded
 *                      (form or JSON) on its own.
 * A placeholder is % and a letter of moat_auth_req_var (backend.h); %% is a
 * literal %. Expansion happens inside one item only, so a value can never
 * become another argument or parameter whatever it holds (spaces, commas,
 * quotes, NUL bytes).
 *
 * Leaf module: no logging, no global state; a parsed list is immutable and
 * may be used by any thread at once. */
#ifndef MOAT_AUTH_TMPL_H
#define MOAT_AUTH_TMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/backend.h"
#include "base/buf.h"
#include "base/err.h"

/* More items than any real command or parameter list needs. */
#define MOAT_TMPL_MAX_ITEMS 32

typedef struct moat_tmpl_item {
    char *name;  /* named lists (HTTP): the parameter name, no placeholder; else NULL */
    char *value; /* the template, NUL-terminated */
} moat_tmpl_item;

/* A parsed template list. Owned by whoever parsed it (moat_tmpl_free). */
typedef struct moat_tmpl {
    moat_tmpl_item *v;
    size_t n;
} moat_tmpl;

/* Parse spec into items separated by sep (runs of sep and blanks around
 * items are skipped). named: every item is name=value. letters: the
 * placeholders allowed ("ucaCd"). On error MOAT_EINVAL with what is wrong
 * and what would be right in why, or MOAT_ENOMEM; *out is then empty. An
 * empty spec gives an empty list. */
moat_err moat_tmpl_parse(const char *spec, char sep, bool named, const char *letters,
                         moat_tmpl *out, char *why, size_t n);
void moat_tmpl_free(moat_tmpl *t);

/* Does template text use placeholder %letter? */
bool moat_tmpl_uses(const moat_tmpl *t, char letter);

typedef enum moat_tmpl_res {
    MOAT_TMPL_OK = 0,
    MOAT_TMPL_MISSING, /* strict, and rq has no value for a placeholder */
    MOAT_TMPL_NOMEM,
} moat_tmpl_res;

/* Append the value of every item of t for rq to out, one after the other;
 * item i lies at out->data + off[i], len[i] bytes (arrays of t->n). With
 * strict, a placeholder rq has no value for gives MOAT_TMPL_MISSING; else
 * it expands to "". out->data is not NULL afterwards, even when every value
 * is empty. Values may hold the password: the caller wipes out. */
moat_tmpl_res moat_tmpl_expand(const moat_tmpl *t, const moat_auth_req *rq, bool strict,
                               moat_buf *out, size_t *off, size_t *len);

typedef enum moat_tmpl_enc {
    MOAT_TMPL_FORM = 0, /* name=value&name=value, application/x-www-form-urlencoded */
    MOAT_TMPL_JSON,     /* {"name":"value",...}, every value a JSON string */
} moat_tmpl_enc;

/* A named list for rq, encoded as enc, appended to out with a NUL after it
 * (not counted in out->len). Missing values are "". */
moat_tmpl_res moat_tmpl_encode(const moat_tmpl *t, const moat_auth_req *rq, moat_tmpl_enc enc,
                               moat_buf *out);

#endif
