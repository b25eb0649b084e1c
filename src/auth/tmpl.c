/* SPDX-License-Identifier: Apache-2.0 */
/* Request templates (see tmpl.h). */
#include "auth/tmpl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void moat_tmpl_free(moat_tmpl *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].name);
        free(t->v[i].value);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

/* Every % of s (len bytes) starts %% or an allowed placeholder. */
static bool check_vars(const char *s, size_t len, const char *letters, char *why, size_t n)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%')
            continue;
        char l = i + 1 < len ? s[i + 1] : '\0';
        if (l != '%' && (!l || !strchr(letters, l))) {
            size_t o = (size_t)snprintf(why, n, "unknown placeholder '%%%c' in '%.*s' (expected",
                                        l ? l : ' ', (int)len, s);
            for (const char *p = letters; *p && o < n; p++)
                o += (size_t)snprintf(why + o, n - o, " %%%c", *p);
            if (o < n)
                snprintf(why + o, n - o, " or %%%% for a literal %%)");
            return false;
        }
        i++;
    }
    return true;
}

static moat_err add_item(moat_tmpl *t, const char *s, size_t len, bool named, const char *letters,
                         char *why, size_t n)
{
    if (t->n == MOAT_TMPL_MAX_ITEMS) {
        snprintf(why, n, "more than %d items", MOAT_TMPL_MAX_ITEMS);
        return MOAT_EINVAL;
    }
    const char *eq = named ? memchr(s, '=', len) : NULL;
    if (named && (!eq || eq == s || memchr(s, '%', (size_t)(eq - s)))) {
        snprintf(why, n, "'%.*s' is not name=value (expected such as username=%%u)", (int)len, s);
        return MOAT_EINVAL;
    }
    const char *val = eq ? eq + 1 : s;
    size_t vlen = len - (size_t)(val - s);
    if (!check_vars(val, vlen, letters, why, n))
        return MOAT_EINVAL;
    moat_tmpl_item *v = realloc(t->v, (t->n + 1) * sizeof *v);
    if (!v)
        return MOAT_ENOMEM;
    t->v = v;
    moat_tmpl_item *it = &v[t->n];
    it->name = eq ? strndup(s, (size_t)(eq - s)) : NULL;
    it->value = strndup(val, vlen);
    t->n++; /* counted even when half made, so that moat_tmpl_free frees it */
    return it->value && (!eq || it->name) ? MOAT_OK : MOAT_ENOMEM;
}

moat_err moat_tmpl_parse(const char *spec, char sep, bool named, const char *letters,
                         moat_tmpl *out, char *why, size_t n)
{
    moat_tmpl t = {0};
    char skip[4] = {sep, ' ', '\t', '\0'};
    moat_err e = MOAT_OK;
    for (const char *p = spec; !e && *p;) {
        p += strspn(p, skip);
        size_t len = strcspn(p, (char[]){sep, '\0'});
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len)
            e = add_item(&t, p, len, named, letters, why, n);
        p += len;
    }
    if (e) {
        if (e == MOAT_ENOMEM)
            snprintf(why, n, "out of memory");
        moat_tmpl_free(&t);
        return e;
    }
    *out = t;
    return MOAT_OK;
}

bool moat_tmpl_uses(const moat_tmpl *t, char letter)
{
    for (size_t i = 0; i < t->n; i++)
        for (const char *p = t->v[i].value; (p = strchr(p, '%')) != NULL; p += 2) {
            if (p[1] == letter)
                return true;
            if (!p[1])
                break;
        }
    return false;
}

/* Append the expansion of one template. */
static moat_tmpl_res expand_one(const char *s, const moat_auth_req *rq, bool strict, moat_buf *out)
{
    for (const char *p = s; *p;) {
        const char *pc = strchr(p, '%');
        size_t lit = pc ? (size_t)(pc - p) : strlen(p);
        if (lit && moat_buf_append(out, p, lit))
            return MOAT_TMPL_NOMEM;
        if (!pc)
            break;
        p = pc + 2;
        if (pc[1] == '%' || !pc[1]) {
            if (moat_buf_append(out, "%", 1))
                return MOAT_TMPL_NOMEM;
            if (!pc[1])
                break;
            continue;
        }
        size_t vlen = 0;
        const char *v = moat_auth_req_var(rq, pc[1], &vlen);
        if (!v && strict)
            return MOAT_TMPL_MISSING;
        if (v && vlen && moat_buf_append(out, v, vlen))
            return MOAT_TMPL_NOMEM;
    }
    return MOAT_TMPL_OK;
}

moat_tmpl_res moat_tmpl_expand(const moat_tmpl *t, const moat_auth_req *rq, bool strict,
                               moat_buf *out, size_t *off, size_t *len)
{
    /* Room up front: out->data is never NULL (even when every value is
     * empty), and a short password is not left behind by a realloc. */
    if (moat_buf_reserve(out, 256))
        return MOAT_TMPL_NOMEM;
    for (size_t i = 0; i < t->n; i++) {
        off[i] = out->len;
        moat_tmpl_res r = expand_one(t->v[i].value, rq, strict, out);
        if (r)
            return r;
        len[i] = out->len - off[i];
    }
    return MOAT_TMPL_OK;
}

/* ---- encodings ---- */

static const char hexd[] = "0123456789ABCDEF";

static bool put_form(moat_buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
        char e[3] = {'%', hexd[ch >> 4], hexd[ch & 15]};
        if (moat_buf_append(out, plain ? (const char *)&s[i] : e, plain ? 1 : 3))
            return false;
    }
    return true;
}

/* A JSON string with its quotes. Bytes >= 0x80 go through as they are
 * (UTF-8 from the client); control characters and NUL are escaped. */
static bool put_json(moat_buf *out, const char *s, size_t n)
{
    if (moat_buf_append(out, "\"", 1))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char e[6] = {'\\', (char)ch};
        size_t el = 2;
        if (ch < 0x20) {
            memcpy(e, "\\u00", 4);
            e[4] = hexd[ch >> 4];
            e[5] = hexd[ch & 15];
            el = 6;
        } else if (ch != '"' && ch != '\\') {
            e[0] = (char)ch;
            el = 1;
        }
        if (moat_buf_append(out, e, el))
            return false;
    }
    return moat_buf_append(out, "\"", 1) == MOAT_OK;
}

static bool put_pair(moat_buf *out, moat_tmpl_enc enc, size_t i, const char *name, const char *v,
                     size_t vlen)
{
    bool json = enc == MOAT_TMPL_JSON;
    const char *sep = json ? (i ? "," : "") : (i ? "&" : "");
    if (moat_buf_append(out, sep, strlen(sep)))
        return false;
    if (!(json ? put_json(out, name, strlen(name)) : put_form(out, name, strlen(name))))
        return false;
    if (moat_buf_append(out, json ? ":" : "=", 1))
        return false;
    return json ? put_json(out, v, vlen) : put_form(out, v, vlen);
}

moat_tmpl_res moat_tmpl_encode(const moat_tmpl *t, const moat_auth_req *rq, moat_tmpl_enc enc,
                               moat_buf *out)
{
    moat_buf vals = MOAT_BUF_INIT;
    size_t off[MOAT_TMPL_MAX_ITEMS], len[MOAT_TMPL_MAX_ITEMS];
    moat_tmpl_res r = moat_tmpl_expand(t, rq, false, &vals, off, len);
    bool ok = r == MOAT_TMPL_OK;
    if (ok && enc == MOAT_TMPL_JSON)
        ok = moat_buf_append(out, "{", 1) == MOAT_OK;
    for (size_t i = 0; ok && i < t->n; i++)
        ok = put_pair(out, enc, i, t->v[i].name ? t->v[i].name : "",
                      (const char *)vals.data + off[i], len[i]);
    if (ok && enc == MOAT_TMPL_JSON)
        ok = moat_buf_append(out, "}", 1) == MOAT_OK;
    ok = ok && moat_buf_reserve(out, 1) == MOAT_OK;
    if (ok)
        out->data[out->len] = '\0';
    if (vals.data)
        OPENSSL_cleanse(vals.data, vals.cap);
    moat_buf_free(&vals);
    return ok ? MOAT_TMPL_OK : MOAT_TMPL_NOMEM;
}
