/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/jsonw.h"

/* Length of the well-formed UTF-8 sequence at s (1-4), or 0 when the bytes
 * there are not one. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n = c < 0x80                 ? 1
               : c >= 0xc2 && c <= 0xdf ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

size_t jw_escape(const char *str, char *out, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t need = 0;
    char tmp[8];
    while (*s) {
        const char *piece = tmp;
        size_t n;
        size_t u = utf8_len(s);
        if (*s == '"' || *s == '\\') {
            tmp[0] = '\\', tmp[1] = (char)*s, n = 2;
            s++;
        } else if (*s < 0x20 || *s == 0x7f) {
            static const char short_esc[] = "btnvfr"; /* \b \t \n and \f \r */
            if (*s >= 8 && *s <= 13 && *s != 11)
                tmp[0] = '\\', tmp[1] = short_esc[*s - 8], n = 2;
            else
                n = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", *s);
            s++;
        } else if (u == 0) {
            piece = "\\ufffd", n = 6; /* not UTF-8: say so rather than emit invalid JSON */
            s++;
        } else {
            piece = (const char *)s, n = u;
            s += u;
        }
        if (need + n < len)
            memcpy(out + need, piece, n);
        else if (need < len)
            len = need + 1; /* stop writing; keep counting */
        need += n;
    }
    if (len)
        out[need < len ? need : len - 1] = '\0';
    return need;
}

void jw_init(jsonw *w, FILE *f)
{
    memset(w, 0, sizeof *w);
    w->f = f;
}

static void indent(jsonw *w)
{
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->f);
}

/* Before any value: a comma and a new line inside containers, nothing
 * after a key. */
static void pre_value(jsonw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (w->has_items[w->depth])
            fputc(',', w->f);
        indent(w);
    }
    w->has_items[w->depth] = true;
}

static void put_string(jsonw *w, const char *s)
{
    char buf[512];
    size_t need = jw_escape(s, buf, sizeof buf);
    fputc('"', w->f);
    if (need < sizeof buf) {
        fputs(buf, w->f);
    } else {
        char *big = malloc(need + 1);
        if (big) {
            jw_escape(s, big, need + 1);
            fputs(big, w->f);
            free(big);
        }
    }
    fputc('"', w->f);
}

static void open_container(jsonw *w, char c)
{
    pre_value(w);
    fputc(c, w->f);
    if (w->depth < JSONW_MAX_DEPTH - 1)
        w->depth++;
    w->has_items[w->depth] = false;
}

static void close_container(jsonw *w, char c)
{
    bool had = w->has_items[w->depth];
    if (w->depth > 0)
        w->depth--;
    if (had)
        indent(w);
    fputc(c, w->f);
}

void jw_obj(jsonw *w)
{
    open_container(w, '{');
}
void jw_obj_end(jsonw *w)
{
    close_container(w, '}');
}
void jw_arr(jsonw *w)
{
    open_container(w, '[');
}
void jw_arr_end(jsonw *w)
{
    close_container(w, ']');
}

void jw_key(jsonw *w, const char *key)
{
    pre_value(w);
    put_string(w, key);
    fputs(": ", w->f);
    w->after_key = true;
}

void jw_str(jsonw *w, const char *s)
{
    if (!s) {
        jw_null(w);
        return;
    }
    pre_value(w);
    put_string(w, s);
}

void jw_int(jsonw *w, long long v)
{
    pre_value(w);
    fprintf(w->f, "%lld", v);
}

void jw_bool(jsonw *w, bool v)
{
    pre_value(w);
    fputs(v ? "true" : "false", w->f);
}

void jw_null(jsonw *w)
{
    pre_value(w);
    fputs("null", w->f);
}

void jw_kstr(jsonw *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_str(w, s);
}

void jw_kint(jsonw *w, const char *key, long long v)
{
    jw_key(w, key);
    jw_int(w, v);
}

void jw_kbool(jsonw *w, const char *key, bool v)
{
    jw_key(w, key);
    jw_bool(w, v);
}

void jw_end(jsonw *w)
{
    fputc('\n', w->f);
    fflush(w->f);
}
