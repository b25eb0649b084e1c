/* SPDX-License-Identifier: Apache-2.0 */
/* A small JSON writer for the --json output of `moat certs`: output only,
 * pretty-printed, every string escaped (control characters as \uXXXX, bytes
 * that are not UTF-8 as U+FFFD), so that any file name or certificate field
 * yields valid JSON. Commas and nesting are tracked here, not by callers. */
#ifndef MOAT_CLI_JSONW_H
#define MOAT_CLI_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define JSONW_MAX_DEPTH 32

typedef struct jsonw {
    FILE *f;
    int depth;
    bool has_items[JSONW_MAX_DEPTH]; /* something was written at this level */
    bool after_key;                  /* the next value completes a "key": pair */
} jsonw;

void jw_init(jsonw *w, FILE *f);
void jw_obj(jsonw *w);     /* { */
void jw_obj_end(jsonw *w); /* } */
void jw_arr(jsonw *w);     /* [ */
void jw_arr_end(jsonw *w); /* ] */
void jw_key(jsonw *w, const char *key);
void jw_str(jsonw *w, const char *s); /* NULL writes null */
void jw_int(jsonw *w, long long v);
void jw_bool(jsonw *w, bool v);
void jw_null(jsonw *w);
/* key + value in one call. */
void jw_kstr(jsonw *w, const char *key, const char *s);
void jw_kint(jsonw *w, const char *key, long long v);
void jw_kbool(jsonw *w, const char *key, bool v);
/* Finish the document with a newline. */
void jw_end(jsonw *w);

/* Escape s as the inside of a JSON string into out (NUL-terminated, cut at
 * len); returns the length the whole escaped text needs. */
size_t jw_escape(const char *s, char *out, size_t len);

#endif
