/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration parser: reads `key = value` lines and applies each through
 * the option table (conf_table.c). Nothing here knows a particular key except
 * the listener declaration's shape and the log.to / log.file pairing checked
 * at the end of a file. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "certs/devset.h"
#include "conf/conf_int.h"

#define BUILTIN_ORIGIN "built-in"
#define BUILTIN_LISTENER "default"
#define LISTENER_PREFIX "listener."
#define DASHBOARD_PREFIX "dashboard.listener."
/* Larger files are refused rather than slurped: a config is a few KB. */
#define MAX_FILE_SIZE (4u << 20)

#define KB 1024ull
#define MB (1024ull * KB)
#define GB (1024ull * MB)

/* ---- messages ------------------------------------------------------------ */

/* Copies s for a message: at most max bytes, control characters as '?', so a
 * binary or huge line cannot garble the terminal or the log. */
static void sanitize(char *out, size_t n, const char *s, size_t max)
{
    size_t i = 0, j = 0;
    for (; s[i] && i < max && j + 1 < n; i++)
        out[j++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i] && j + 4 < n) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
}

/* A value as shown in messages: "12XB". */
static void quoted(char *out, size_t n, const char *s)
{
    char tmp[100];
    sanitize(tmp, sizeof tmp, s, 64);
    snprintf(out, n, "\"%s\"", tmp);
}

/* Writes "origin: key: message" (origin and key optional) and returns
 * MOAT_EINVAL, so error paths are one line. */
__attribute__((format(printf, 5, 6))) static moat_err
fail(char *err, size_t errlen, const char *origin, const char *key, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return MOAT_EINVAL;
    char msg[600], k[140];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sanitize(k, sizeof k, key ? key : "", 120);
    const char *o = origin && *origin ? origin : NULL;
    if (o && key)
        snprintf(err, errlen, "%s: %s: %s", o, k, msg);
    else if (o || key)
        snprintf(err, errlen, "%s: %s", o ? o : k, msg);
    else
        snprintf(err, errlen, "%s", msg);
    return MOAT_EINVAL;
}

/* ---- value syntax ---------------------------------------------------------- */

typedef struct unit {
    const char *name;
    uint64_t mult;
} unit;

static const unit size_units[] = {
    {"b", 1}, {"k", KB}, {"kb", KB}, {"m", MB}, {"mb", MB}, {"g", GB}, {"gb", GB}, {NULL, 0},
};

static const unit duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {NULL, 0},
};

static const char *skip_blank(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Decimal digits at *s. MOAT_EINVAL: no digits; MOAT_ELIMIT: over 64 bits. */
static moat_err read_u64(const char **s, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*p))
        return MOAT_EINVAL;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return MOAT_ELIMIT;
        v = v * 10 + d;
    }
    *s = p;
    *out = v;
    return MOAT_OK;
}

/* A unit word at *s, case-insensitive. *mult is 0 when there is no word;
 * false for a word that is not a unit. */
static bool read_unit(const char **s, const unit *units, uint64_t *mult)
{
    const char *p = *s;
    size_t n = 0;
    while (isalpha((unsigned char)p[n]))
        n++;
    *mult = 0;
    if (n == 0)
        return true;
    for (const unit *u = units; u->name; u++) {
        if (strlen(u->name) == n && strncasecmp(p, u->name, n) == 0) {
            *mult = u->mult;
            *s = p + n;
            return true;
        }
    }
    return false;
}

moat_err moat_conf_parse_size(const char *s, uint64_t *out)
{
    const char *p = skip_blank(s);
    uint64_t v, mult;
    moat_err e = read_u64(&p, &v);
    if (e != MOAT_OK)
        return e;
    p = skip_blank(p);
    if (!read_unit(&p, size_units, &mult) || *skip_blank(p))
        return MOAT_EINVAL;
    if (mult == 0)
        mult = 1; /* a bare number is bytes */
    if (v > UINT64_MAX / mult)
        return MOAT_ELIMIT;
    *out = v * mult;
    return MOAT_OK;
}

/* "1h30m" is a sum of parts; a bare number is seconds, but only on its own
 * ("1h30" is more likely a mistake than 1h and 30 seconds). */
moat_err moat_conf_parse_duration_ms(const char *s, uint64_t *out)
{
    const char *p = skip_blank(s);
    uint64_t total = 0;
    int parts = 0;
    while (*p) {
        uint64_t v, mult;
        moat_err e = read_u64(&p, &v);
        if (e != MOAT_OK)
            return e;
        p = skip_blank(p);
        if (!read_unit(&p, duration_units, &mult))
            return MOAT_EINVAL;
        if (mult == 0) {
            if (parts > 0 || *p)
                return MOAT_EINVAL;
            mult = 1000;
        }
        if (v > UINT64_MAX / mult || v * mult > UINT64_MAX - total)
            return MOAT_ELIMIT;
        total += v * mult;
        parts++;
        p = skip_blank(p);
    }
    if (parts == 0)
        return MOAT_EINVAL;
    *out = total;
    return MOAT_OK;
}

moat_err moat_conf_parse_bool(const char *s, bool *out)
{
    static const struct {
        const char *name;
        bool value;
    } words[] = {
        {"true", true},   {"on", true},   {"yes", true},
        {"false", false}, {"off", false}, {"no", false},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strcasecmp(s, words[i].name) == 0) {
            *out = words[i].value;
            return MOAT_OK;
        }
    }
    return MOAT_EINVAL;
}

/* ---- formatting (shared with conf_doc.c) ----------------------------------- */

void conf_format_size(uint64_t bytes, char *buf, size_t n)
{
    static const unit units[] = {{"GB", GB}, {"MB", MB}, {"KB", KB}};
    for (size_t i = 0; bytes && i < sizeof units / sizeof units[0]; i++) {
        if (bytes % units[i].mult == 0) {
            snprintf(buf, n, "%llu%s", (unsigned long long)(bytes / units[i].mult), units[i].name);
            return;
        }
    }
    snprintf(buf, n, bytes ? "%lluB" : "%llu", (unsigned long long)bytes);
}

void conf_format_duration(uint64_t ms, char *buf, size_t n)
{
    static const unit units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    for (size_t i = 0; ms && i < sizeof units / sizeof units[0]; i++) {
        if (ms % units[i].mult == 0) {
            snprintf(buf, n, "%llu%s", (unsigned long long)(ms / units[i].mult), units[i].name);
            return;
        }
    }
    snprintf(buf, n, ms ? "%llums" : "%llu", (unsigned long long)ms);
}

void conf_format_range(const conf_option *o, char *buf, size_t n)
{
    char lo[32], hi[32];
    switch (o->type) {
    case CONF_UINT:
        snprintf(buf, n, "%llu to %llu", (unsigned long long)o->min, (unsigned long long)o->max);
        return;
    case CONF_SIZE:
        conf_format_size(o->min, lo, sizeof lo);
        conf_format_size(o->max, hi, sizeof hi);
        break;
    case CONF_DURATION:
        conf_format_duration(o->min, lo, sizeof lo);
        conf_format_duration(o->max, hi, sizeof hi);
        break;
    default:
        snprintf(buf, n, "%s", "");
        return;
    }
    snprintf(buf, n, "%s to %s", lo, hi);
}

void conf_format_address(const moat_listener_conf *l, char *buf, size_t n)
{
    if (strchr(l->bind, ':'))
        snprintf(buf, n, "[%s]:%u", l->bind, (unsigned)l->port);
    else
        snprintf(buf, n, "%s:%u", l->bind, (unsigned)l->port);
}

void conf_listener_key(const moat_listener_conf *l, const conf_option *o, char *buf, size_t n)
{
    snprintf(buf, n, "listener.%s.%s%s%s", l->type, l->name, o->name[0] ? "." : "", o->name);
}

/* ---- fields ------------------------------------------------------------------ */

/* Fields are reached through offset and width so one routine serves every
 * uint8_t..uint64_t, bool and enum member; memcpy keeps it free of aliasing
 * and alignment questions. */
static void store_uint(void *p, size_t width, uint64_t v)
{
    uint8_t u8 = (uint8_t)v;
    uint16_t u16 = (uint16_t)v;
    uint32_t u32 = (uint32_t)v;
    switch (width) {
    case 1:
        memcpy(p, &u8, 1);
        break;
    case 2:
        memcpy(p, &u16, 2);
        break;
    case 4:
        memcpy(p, &u32, 4);
        break;
    default:
        memcpy(p, &v, 8);
        break;
    }
}

uint64_t conf_load_uint(const void *p, size_t width)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    switch (width) {
    case 1:
        memcpy(&u8, p, 1);
        return u8;
    case 2:
        memcpy(&u16, p, 2);
        return u16;
    case 4:
        memcpy(&u32, p, 4);
        return u32;
    default:
        memcpy(&u64, p, 8);
        return u64;
    }
}

static const char *enum_name(const conf_option *o, uint64_t v)
{
    for (const conf_enum_value *e = o->values; e->name; e++)
        if ((uint64_t)e->value == v)
            return e->name;
    return "?";
}

void conf_format_value(const conf_option *o, const void *base, char *buf, size_t n)
{
    const char *field = (const char *)base + o->offset;
    bool b;
    switch (o->type) {
    case CONF_STRING:
        snprintf(buf, n, "%s", field);
        break;
    case CONF_BOOL:
        memcpy(&b, field, sizeof b);
        snprintf(buf, n, "%s", b ? "true" : "false");
        break;
    case CONF_UINT:
        snprintf(buf, n, "%llu", (unsigned long long)conf_load_uint(field, o->width));
        break;
    case CONF_SIZE:
        conf_format_size(conf_load_uint(field, o->width), buf, n);
        break;
    case CONF_DURATION:
        conf_format_duration(conf_load_uint(field, o->width) * o->scale, buf, n);
        break;
    case CONF_ENUM:
        snprintf(buf, n, "%s", enum_name(o, conf_load_uint(field, o->width)));
        break;
    case CONF_ADDRESS:
        conf_format_address(base, buf, n);
        break;
    }
}

/* ---- typed setters ------------------------------------------------------------- */

/* Each parses v for option o, stores it in field and returns true, or writes
 * "what is wrong (expected ...)" to msg and returns false. */

static bool set_string(const conf_option *o, char *field, const char *v, char *msg, size_t n)
{
    size_t len = strlen(v);
    if (len == 0 && (o->flags & CONF_NONEMPTY)) {
        snprintf(msg, n, "an empty value is not allowed (expected a non-empty string)");
        return false;
    }
    if (len >= o->width) {
        char q[120];
        quoted(q, sizeof q, v);
        snprintf(msg, n, "%s is too long (expected at most %zu characters)", q, o->width - 1);
        return false;
    }
    if (o->check && !o->check(v, msg, n))
        return false;
    memcpy(field, v, len + 1);
    return true;
}

static bool set_bool(char *field, const char *v, char *msg, size_t n)
{
    bool b;
    if (moat_conf_parse_bool(v, &b) != MOAT_OK) {
        char q[120];
        quoted(q, sizeof q, v);
        snprintf(msg, n, "%s is not a boolean (expected true, false, on, off, yes or no)", q);
        return false;
    }
    memcpy(field, &b, sizeof b);
    return true;
}

static bool set_enum(const conf_option *o, char *field, const char *v, char *msg, size_t n)
{
    char list[200] = "", q[120];
    for (const conf_enum_value *e = o->values; e->name; e++) {
        if (strcasecmp(v, e->name) == 0) {
            store_uint(field, o->width, (uint64_t)e->value);
            return true;
        }
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", e->name);
    }
    quoted(q, sizeof q, v);
    snprintf(msg, n, "%s is not a valid value (expected one of %s)", q, list);
    return false;
}

/* Integers, sizes and durations: parse, check the range, scale, store. */
static bool set_number(const conf_option *o, char *field, const char *v, char *msg, size_t n)
{
    static const char *const what[] = {
        [CONF_UINT] = "a whole number",
        [CONF_SIZE] = "a size",
        [CONF_DURATION] = "a duration",
    };
    char q[120], range[80], hi[32];
    uint64_t x = 0;
    moat_err e;
    const char *p = v;
    if (o->type == CONF_SIZE)
        e = moat_conf_parse_size(v, &x);
    else if (o->type == CONF_DURATION)
        e = moat_conf_parse_duration_ms(v, &x);
    else if ((e = read_u64(&p, &x)) == MOAT_OK && *p)
        e = MOAT_EINVAL;
    quoted(q, sizeof q, v);
    conf_format_range(o, range, sizeof range);
    if (e == MOAT_EINVAL) {
        if (o->type == CONF_UINT) {
            snprintf(msg, n, "%s is not a whole number (expected a whole number from %s)", q,
                     range);
            return false;
        }
        if (o->type == CONF_SIZE)
            conf_format_size(o->max, hi, sizeof hi);
        else
            conf_format_duration(o->max, hi, sizeof hi);
        snprintf(msg, n, "%s is not %s (expected a number with an optional unit %s, at most %s)", q,
                 what[o->type], o->type == CONF_SIZE ? "B, KB, MB or GB" : "ms, s, m, h or d", hi);
        return false;
    }
    if (e != MOAT_OK || x < o->min || x > o->max) {
        snprintf(msg, n, "%s is out of range (expected %s from %s)", q, what[o->type], range);
        return false;
    }
    if (o->type == CONF_DURATION && o->scale > 1 && x % o->scale) {
        snprintf(msg, n, "%s is not a whole number of seconds (expected a duration such as 90s)",
                 q);
        return false;
    }
    if (o->cap && x > o->cap)
        x = o->cap;
    store_uint(field, o->width, o->type == CONF_DURATION ? x / o->scale : x);
    return true;
}

static bool set_value(const conf_option *o, void *base, const char *v, char *msg, size_t n)
{
    char *field = (char *)base + o->offset;
    switch (o->type) {
    case CONF_STRING:
        return set_string(o, field, v, msg, n);
    case CONF_BOOL:
        return set_bool(field, v, msg, n);
    case CONF_ENUM:
        return set_enum(o, field, v, msg, n);
    case CONF_UINT:
    case CONF_SIZE:
    case CONF_DURATION:
        return set_number(o, field, v, msg, n);
    case CONF_ADDRESS:
        break; /* declarations go through declare_listener */
    }
    snprintf(msg, n, "internal error: no setter");
    return false;
}

/* ---- did you mean ---------------------------------------------------------------- */

#define SUGGEST_MAX 160                /* longer keys get no suggestion */
#define SUGGEST_TEXT (SUGGEST_MAX * 3) /* room for a candidate built from such a key */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[SUGGEST_MAX + 1];
    if (la > SUGGEST_MAX || lb > SUGGEST_MAX)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *last_part(const char *s)
{
    const char *dot = strrchr(s, '.');
    return dot ? dot + 1 : s;
}

typedef struct suggestion {
    const char *key;
    size_t best;
    bool by_suffix;
    char text[SUGGEST_TEXT];
} suggestion;

/* Keeps cand if it is closer to the key than what we have. A candidate with
 * the same last part ("max_packet_size" for "mqtt.max_packet_size") is the
 * fallback when nothing is close by spelling: it catches a wrong section. */
static void consider(suggestion *s, const char *cand)
{
    size_t klen = strlen(s->key), clen = strlen(cand);
    size_t limit = 1 + klen / 6;
    /* The distance is at least the difference in length: skip the
     * quadratic work for candidates that cannot be close enough. */
    size_t d =
        (klen > clen ? klen - clen : clen - klen) > limit ? SIZE_MAX : edit_distance(s->key, cand);
    if (d <= limit && (d < s->best || s->by_suffix)) {
        s->best = d;
        s->by_suffix = false;
        snprintf(s->text, sizeof s->text, "%s", cand);
    } else if (!s->text[0] && strlen(last_part(s->key)) >= 4 &&
               strcmp(last_part(s->key), last_part(cand)) == 0) {
        s->by_suffix = true;
        snprintf(s->text, sizeof s->text, "%s", cand);
    }
}

/* Candidates: every global key, and every per-listener key instantiated with
 * the type and name the user wrote (second and third dotted parts). */
static bool suggest(const char *key, char *out, size_t n)
{
    suggestion s = {.key = key, .best = SIZE_MAX};
    char seg[2][SUGGEST_MAX], cand[SUGGEST_TEXT];
    const char *p = strchr(key, '.');
    bool have_segs = false;
    if (strlen(key) > SUGGEST_MAX)
        return false;
    if (p && strchr(p + 1, '.')) {
        const char *q = strchr(p + 1, '.'), *r = strchr(q + 1, '.');
        snprintf(seg[0], sizeof seg[0], "%.*s", (int)(q - p - 1), p + 1);
        snprintf(seg[1], sizeof seg[1], "%.*s", (int)(r ? (size_t)(r - q - 1) : strlen(q + 1)),
                 q + 1);
        have_segs = true;
    }
    for (size_t i = 0; i < conf_n_options; i++) {
        const conf_option *o = &conf_options[i];
        if (!(o->flags & CONF_LISTENER)) {
            consider(&s, o->name);
        } else if (have_segs) {
            snprintf(cand, sizeof cand, "listener.%s.%s%s%s", seg[0], seg[1], o->name[0] ? "." : "",
                     o->name);
            consider(&s, cand);
        }
    }
    if (!s.text[0] || strcmp(s.text, key) == 0)
        return false;
    snprintf(out, n, "%s", s.text);
    return true;
}

static moat_err unknown_key(char *err, size_t errlen, const char *origin, const char *key)
{
    char hint[SUGGEST_TEXT], shown[SUGGEST_TEXT];
    if (suggest(key, hint, sizeof hint)) {
        sanitize(shown, sizeof shown, hint, sizeof shown); /* may hold parts of the key */
        return fail(err, errlen, origin, key, "unknown key (did you mean %s?)", shown);
    }
    return fail(err, errlen, origin, key,
                "unknown key (expected a key listed by moat --help-config)");
}

/* ---- listeners -------------------------------------------------------------------- */

typedef struct listener_key {
    size_t type;     /* index in conf_listener_types */
    char name[64];   /* validated */
    const char *opt; /* after listener.<type>.<name>.; NULL for the declaration */
} listener_key;

static void supported_types(char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < conf_n_listener_types; i++) {
        if (conf_listener_types[i].supported && used < n) {
            snprintf(buf + used, n - used, "%s%s", used ? ", " : "", conf_listener_types[i].name);
            used = strlen(buf);
        }
    }
}

static bool valid_listener_name(const char *s, size_t len)
{
    if (len == 0 || len > 63)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

/* Splits listener.<type>.<name>[.<option>], checking type and name. */
static bool parse_listener_key(const char *key, listener_key *k, char *msg, size_t n)
{
    const char *t = key + strlen(LISTENER_PREFIX);
    const char *dot = strchr(t, '.');
    size_t tlen = dot ? (size_t)(dot - t) : strlen(t);
    char raw[80], shown[80], types[80];
    supported_types(types, sizeof types);
    for (k->type = 0; k->type < conf_n_listener_types; k->type++) {
        const char *name = conf_listener_types[k->type].name;
        if (strlen(name) == tlen && strncmp(t, name, tlen) == 0)
            break;
    }
    snprintf(raw, sizeof raw, "%.*s", (int)(tlen < 40 ? tlen : 40), t);
    sanitize(shown, sizeof shown, raw, 40);
    if (k->type == conf_n_listener_types) {
        snprintf(msg, n, "unknown listener type '%s' (expected %s)", shown, types);
        return false;
    }
    if (!conf_listener_types[k->type].supported) {
        snprintf(msg, n, "listener type '%s' is not supported yet in this version (expected %s)",
                 shown, types);
        return false;
    }
    if (!dot) {
        snprintf(msg, n, "missing listener name (expected listener.%s.<name> = [ip:]port)", shown);
        return false;
    }
    const char *name = dot + 1, *dot2 = strchr(name, '.');
    size_t nlen = dot2 ? (size_t)(dot2 - name) : strlen(name);
    if (!valid_listener_name(name, nlen)) {
        snprintf(raw, sizeof raw, "%.*s", (int)(nlen < 64 ? nlen : 64), name);
        sanitize(shown, sizeof shown, raw, 64);
        snprintf(msg, n,
                 "invalid listener name '%s' (expected 1 to 63 of A-Z, a-z, 0-9, '_' and '-')",
                 shown);
        return false;
    }
    memcpy(k->name, name, nlen);
    k->name[nlen] = '\0';
    k->opt = dot2 ? dot2 + 1 : NULL;
    return true;
}

static const conf_option *find_listener_option(const listener_key *k)
{
    bool declaration = k->opt == NULL;
    for (size_t i = 0; i < conf_n_options; i++) {
        const conf_option *o = &conf_options[i];
        if (!(o->flags & CONF_LISTENER) || (o->type == CONF_ADDRESS) != declaration)
            continue;
        if (!declaration && strcmp(o->name, k->opt) != 0)
            continue;
        if (o->listener_types == 0 || (o->listener_types & (1u << k->type)))
            return o;
    }
    return NULL;
}

/* A per-listener option of that name for any listener type. */
static const conf_option *find_listener_option_any(const char *opt)
{
    for (size_t i = 0; i < conf_n_options; i++)
        if ((conf_options[i].flags & CONF_LISTENER) && conf_options[i].type != CONF_ADDRESS &&
            strcmp(conf_options[i].name, opt) == 0)
            return &conf_options[i];
    return NULL;
}

static moat_listener_conf *find_listener(moat_conf *c, const char *type, const char *name)
{
    for (uint32_t i = 0; i < c->n_listeners; i++)
        if (!strcmp(c->listeners[i].type, type) && !strcmp(c->listeners[i].name, name))
            return &c->listeners[i];
    return NULL;
}

/* A fresh listener entry with every per-listener default applied. */
static void init_listener(moat_listener_conf *l, size_t type, const char *name)
{
    char msg[200];
    memset(l, 0, sizeof *l);
    snprintf(l->type, sizeof l->type, "%s", conf_listener_types[type].name);
    snprintf(l->name, sizeof l->name, "%s", name);
    for (size_t i = 0; i < conf_n_options; i++) {
        const conf_option *o = &conf_options[i];
        if ((o->flags & CONF_LISTENER) && o->type != CONF_ADDRESS &&
            (o->listener_types == 0 || (o->listener_types & (1u << type))) &&
            !set_value(o, l, o->def, msg, sizeof msg))
            abort(); /* a default that does not parse: the table is wrong */
    }
}

static bool is_wildcard(const char *bind)
{
    return !strcmp(bind, "0.0.0.0") || !strcmp(bind, "::");
}

/* Whether two listeners could not both bind: same port and the same address,
 * or a wildcard of the same family (Linux refuses 127.0.0.1:p next to
 * 0.0.0.0:p even with SO_REUSEADDR). */
static bool addresses_clash(const moat_listener_conf *a, const moat_listener_conf *b)
{
    if (a->port != b->port)
        return false;
    if (!strcmp(a->bind, b->bind))
        return true;
    bool same_family = (strchr(a->bind, ':') != NULL) == (strchr(b->bind, ':') != NULL);
    return same_family && (is_wildcard(a->bind) || is_wildcard(b->bind));
}

static bool parse_port(const char *s, uint16_t *port)
{
    uint64_t v;
    const char *p = s;
    if (read_u64(&p, &v) != MOAT_OK || *p || v == 0 || v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* "1883", "127.0.0.1:1883", "127.0.0.1", "[::1]:1883", "[::1]". A bare ip
 * takes the type's default port. IPv6 needs brackets, because "::1:1883" is
 * itself a valid IPv6 address and would silently mean something else. The
 * address is stored normalised, so "::0:1" and "::1" compare equal. */
static bool parse_address(const char *v, uint16_t defport, moat_listener_conf *l)
{
    char host[64];
    const char *port = NULL, *colon = strchr(v, ':');
    bool v6 = v[0] == '[';
    unsigned char addr[16];
    size_t hlen;
    if (v[0] && strspn(v, "0123456789") == strlen(v)) {
        snprintf(l->bind, sizeof l->bind, "0.0.0.0");
        return parse_port(v, &l->port);
    }
    if (v6) {
        const char *close = strchr(v, ']');
        if (!close || (close[1] && close[1] != ':'))
            return false;
        hlen = (size_t)(close - v - 1);
        port = close[1] ? close + 2 : NULL;
        v++;
    } else {
        if (colon && strchr(colon + 1, ':'))
            return false;
        hlen = colon ? (size_t)(colon - v) : strlen(v);
        port = colon ? colon + 1 : NULL;
    }
    if (hlen == 0 || hlen >= sizeof host)
        return false;
    memcpy(host, v, hlen);
    host[hlen] = '\0';
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, addr) != 1 ||
        !inet_ntop(v6 ? AF_INET6 : AF_INET, addr, l->bind, sizeof l->bind))
        return false;
    if (!port) {
        l->port = defport;
        return true;
    }
    return parse_port(port, &l->port);
}

static bool is_builtin(const moat_listener_conf *l)
{
    return l->declared && strcmp(l->origin, BUILTIN_ORIGIN) == 0;
}

/* A file that says where to listen means only there: its first declaration
 * drops the built-in listener(s), except one it re-declares by name. */
static bool dropped_by(const moat_listener_conf *l, const moat_listener_conf *decl)
{
    return is_builtin(l) && (strcmp(l->type, decl->type) || strcmp(l->name, decl->name));
}

static void drop_builtin(moat_conf *c, const moat_listener_conf *decl)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < c->n_listeners; i++)
        if (!dropped_by(&c->listeners[i], decl))
            c->listeners[j++] = c->listeners[i];
    c->n_listeners = j;
}

static moat_err declare_listener(moat_conf *c, const listener_key *k, const char *value,
                                 const char *origin, const char *key, char *err, size_t errlen)
{
    moat_listener_conf decl;
    char q[120], where[80];
    init_listener(&decl, k->type, k->name);
    quoted(q, sizeof q, value);
    if (!parse_address(value, conf_listener_types[k->type].default_port, &decl))
        return fail(err, errlen, origin, key,
                    "%s is not a listener address (expected [ip:]port, e.g. 1883, "
                    "127.0.0.1:1883 or [::1]:1883)",
                    q);
    for (uint32_t i = 0; i < c->n_listeners; i++) {
        const moat_listener_conf *o = &c->listeners[i];
        if (!o->declared || dropped_by(o, &decl) || !strcmp(o->name, decl.name) ||
            !addresses_clash(o, &decl))
            continue;
        conf_format_address(o, where, sizeof where);
        return fail(err, errlen, origin, key,
                    "%s clashes with listener.%s.%s on %s (%s) (expected an address no other "
                    "listener uses)",
                    q, o->type, o->name, where, o->origin);
    }
    drop_builtin(c, &decl);
    moat_listener_conf *l = find_listener(c, decl.type, decl.name);
    if (!l && c->n_listeners == MOAT_CONF_MAX_LISTENERS)
        return fail(err, errlen, origin, key, "too many listeners (expected at most %d)",
                    MOAT_CONF_MAX_LISTENERS);
    if (!l) {
        l = &c->listeners[c->n_listeners++];
        *l = decl;
    }
    memcpy(l->bind, decl.bind, sizeof l->bind);
    l->port = decl.port;
    l->declared = true;
    snprintf(l->origin, sizeof l->origin, "%s", origin ? origin : "");
    return MOAT_OK;
}

/* A per-listener option. The listener may be declared later in the file, so
 * an unknown one is created undeclared; moat_conf_validate catches it if the
 * declaration never comes. */
static moat_err set_listener_option(moat_conf *c, const listener_key *k, const conf_option *o,
                                    const char *value, const char *origin, const char *key,
                                    char *err, size_t errlen)
{
    char msg[400];
    moat_listener_conf *l = find_listener(c, conf_listener_types[k->type].name, k->name), tmp;
    if (!l && c->n_listeners == MOAT_CONF_MAX_LISTENERS)
        return fail(err, errlen, origin, key, "too many listeners (expected at most %d)",
                    MOAT_CONF_MAX_LISTENERS);
    if (l) {
        tmp = *l;
    } else {
        init_listener(&tmp, k->type, k->name);
        snprintf(tmp.origin, sizeof tmp.origin, "%s", origin ? origin : "");
        snprintf(tmp.first_key, sizeof tmp.first_key, "%s", key);
    }
    if (!set_value(o, &tmp, value, msg, sizeof msg))
        return fail(err, errlen, origin, key, "%s", msg);
    if (!l)
        l = &c->listeners[c->n_listeners++];
    *l = tmp;
    return MOAT_OK;
}

static moat_err set_listener_key(moat_conf *c, const char *key, const char *value,
                                 const char *origin, char *err, size_t errlen)
{
    listener_key k;
    char msg[400];
    if (!parse_listener_key(key, &k, msg, sizeof msg))
        return fail(err, errlen, origin, key, "%s", msg);
    const conf_option *o = find_listener_option(&k);
    if (!o && k.opt && (o = find_listener_option_any(k.opt)) != NULL) {
        char types[64] = "";
        for (size_t i = 0; i < conf_n_listener_types; i++)
            if (conf_listener_types[i].supported && (o->listener_types & (1u << i))) {
                size_t used = strlen(types);
                snprintf(types + used, sizeof types - used, "%s%s", used ? ", " : "",
                         conf_listener_types[i].name);
            }
        return fail(err, errlen, origin, key,
                    "not an option of %s listeners (expected it on a listener of type %s)",
                    conf_listener_types[k.type].name, types);
    }
    if (!o)
        return unknown_key(err, errlen, origin, key);
    if (o->type == CONF_ADDRESS)
        return declare_listener(c, &k, value, origin, key, err, errlen);
    return set_listener_option(c, &k, o, value, origin, key, err, errlen);
}

/* ---- setting keys ------------------------------------------------------------------ */

void conf_numbered_key(const conf_option *o, uint32_t idx, char *buf, size_t n)
{
    const char *mark = strstr(o->name, CONF_NUMBERED_MARK);
    snprintf(buf, n, "%.*s.%u.%s", (int)(mark - o->name), o->name, (unsigned)idx + 1,
             mark + strlen(CONF_NUMBERED_MARK));
}

/* Does key name entry N of the numbered option o? *idx gets N - 1. */
static bool match_numbered(const conf_option *o, const char *key, uint32_t *idx)
{
    const char *mark = strstr(o->name, CONF_NUMBERED_MARK);
    size_t pre = (size_t)(mark - o->name) + 1; /* up to and with the '.' */
    if (strncmp(key, o->name, pre) != 0)
        return false;
    const char *p = key + pre;
    uint32_t v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 4) {
        v = v * 10 + (uint32_t)(*p++ - '0');
        digits++;
    }
    if (!digits || v == 0 || v > o->count || *p != '.' || key[pre] == '0')
        return false;
    if (strcmp(p + 1, mark + strlen(CONF_NUMBERED_MARK)) != 0)
        return false;
    *idx = v - 1;
    return true;
}

/* The global option key names; for a numbered one, *idx is its entry. */
static const conf_option *find_global_at(const char *key, uint32_t *idx)
{
    *idx = 0;
    for (size_t i = 0; i < conf_n_options; i++) {
        const conf_option *o = &conf_options[i];
        if (o->flags & CONF_LISTENER)
            continue;
        if (o->count ? match_numbered(o, key, idx) : !strcmp(o->name, key))
            return o;
    }
    return NULL;
}

static const conf_option *find_global(const char *key)
{
    uint32_t idx;
    return find_global_at(key, &idx);
}

moat_err moat_conf_set(moat_conf *c, const char *key, const char *value, const char *origin,
                       char *err, size_t errlen)
{
    char msg[400];
    uint32_t idx;
    const conf_option *o = find_global_at(key, &idx);
    if (o) {
        if (!set_value(o, (char *)c + idx * o->stride, value, msg, sizeof msg))
            return fail(err, errlen, origin, key, "%s", msg);
        return MOAT_OK;
    }
    if (!strncmp(key, LISTENER_PREFIX, strlen(LISTENER_PREFIX)))
        return set_listener_key(c, key, value, origin, err, errlen);
    /* EMQX's dashboard.listener.http[s][.option] is the listener
     * listener.http[s].dashboard[.option]. */
    if (!strncmp(key, DASHBOARD_PREFIX, strlen(DASHBOARD_PREFIX))) {
        const char *t = key + strlen(DASHBOARD_PREFIX);
        size_t tl = strcspn(t, ".");
        if ((tl == 4 && !strncmp(t, "http", 4)) || (tl == 5 && !strncmp(t, "https", 5))) {
            char mapped[256];
            snprintf(mapped, sizeof mapped, "listener.%.*s.dashboard%s", (int)tl, t, t + tl);
            return set_listener_key(c, mapped, value, origin, err, errlen);
        }
    }
    return unknown_key(err, errlen, origin, key);
}

/* A built-in listener of type t on 0.0.0.0 and the type's port. */
static void add_builtin_listener(moat_conf *c, size_t t)
{
    moat_listener_conf *l = &c->listeners[c->n_listeners++];
    /* the dashboard's listeners (http, https) are named "dashboard" */
    init_listener(l, t, conf_listener_types[t].name[0] == 'h' ? "dashboard" : BUILTIN_LISTENER);
    snprintf(l->bind, sizeof l->bind, "0.0.0.0");
    l->port = conf_listener_types[t].default_port;
    l->declared = true;
    snprintf(l->origin, sizeof l->origin, "%s", BUILTIN_ORIGIN);
}

void moat_conf_defaults(moat_conf *c)
{
    char msg[200];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < conf_n_options; i++) {
        const conf_option *o = &conf_options[i];
        if (!(o->flags & CONF_LISTENER) && !o->count && !set_value(o, c, o->def, msg, sizeof msg))
            abort(); /* a default that does not parse: the table is wrong */
    }
    /* The built-in listener: the first supported type on its default port. */
    size_t t = 0;
    while (!conf_listener_types[t].supported)
        t++;
    add_builtin_listener(c, t);
    c->log_to_console = true;
}

void moat_conf_builtin(moat_conf *c)
{
    char err[200];
    moat_conf_defaults(c);
    c->dev_certs = MOAT_DEV_CERTS_AUTO;
    for (size_t t = 0; t < conf_n_listener_types; t++)
        if (conf_listener_types[t].supported && (!strcmp(conf_listener_types[t].name, "ssl") ||
                                                 !strcmp(conf_listener_types[t].name, "wss") ||
                                                 !strcmp(conf_listener_types[t].name, "https")))
            add_builtin_listener(c, t);
    if (moat_conf_validate(c, err, sizeof err) != MOAT_OK)
        abort(); /* the built-in configuration is wrong */
}

const char *moat_anon_name(moat_anon a)
{
    switch (a) {
    case MOAT_ANON_LOOPBACK:
        return "loopback";
    case MOAT_ANON_TRUE:
        return "true";
    case MOAT_ANON_FALSE:
        return "false";
    }
    return "?";
}

/* ---- end-of-input checks ----------------------------------------------------------- */

/* What the loader remembers about a file for the checks at its end. */
typedef struct load_state {
    const char *name;
    int line;
    int set_at[CONF_MAX_OPTIONS]; /* line that last set each option, 0: none */
} load_state;

static size_t option_index(const char *key)
{
    const conf_option *o = find_global(key);
    return o ? (size_t)(o - conf_options) : 0;
}

/* "file:line" of the line that set key, or NULL outside a file. */
static const char *origin_of(const load_state *ls, const char *key, char *buf, size_t n)
{
    int line = ls ? ls->set_at[option_index(key)] : 0;
    if (!line)
        return ls ? ls->name : NULL;
    snprintf(buf, n, "%s:%d", ls->name, line);
    return buf;
}

/* node.dev_certs = auto: listeners without certificate files of their own
 * serve the development set, and check its chain against its CA (a leaf of
 * a private root is refused without it). The paths come from devset.h
 * only, so the broker that makes the files and the listeners agree. */
static void use_dev_certs(moat_conf *c)
{
    if (c->dev_certs != MOAT_DEV_CERTS_AUTO)
        return;
    for (uint32_t i = 0; i < c->n_listeners; i++) {
        moat_listener_conf *l = &c->listeners[i];
        if (!moat_listener_is_tls(l) || l->certfile[0] || l->keyfile[0])
            continue;
        moat_devset_path(c->data_dir, MOAT_DEVSET_SERVER_CHAIN, l->certfile, sizeof l->certfile);
        moat_devset_path(c->data_dir, MOAT_DEVSET_SERVER_KEY, l->keyfile, sizeof l->keyfile);
        if (!l->cacertfile[0])
            moat_devset_path(c->data_dir, MOAT_DEVSET_CA, l->cacertfile, sizeof l->cacertfile);
    }
}

static moat_err validate(moat_conf *c, const load_state *ls, char *err, size_t errlen)
{
    char where[600];
    for (uint32_t i = 0; i < c->n_listeners; i++) {
        const moat_listener_conf *l = &c->listeners[i];
        if (!l->declared)
            return fail(err, errlen, l->origin, l->first_key,
                        "set but listener.%s.%s is not declared (expected a line "
                        "listener.%s.%s = [ip:]port)",
                        l->type, l->name, l->type, l->name);
    }
    if (c->log_to != MOAT_LOG_TO_CONSOLE && !c->log_file[0])
        return fail(err, errlen, origin_of(ls, "log.to", where, sizeof where), "log.to",
                    "%s needs log.file (expected log.file = <path>, or log.to = console)",
                    c->log_to == MOAT_LOG_TO_FILE ? "file" : "both");
    c->log_to_console = c->log_to != MOAT_LOG_TO_FILE;
    if (c->log_to == MOAT_LOG_TO_CONSOLE)
        c->log_file[0] = '\0'; /* so that log_file != "" means: log to it */
    use_dev_certs(c);
    return MOAT_OK;
}

moat_err moat_conf_validate(moat_conf *c, char *err, size_t errlen)
{
    return validate(c, NULL, err, errlen);
}

/* ---- files ------------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* The value after '=': one pair of double quotes keeps everything inside
 * (a '#', blanks); otherwise a '#' at the start or after a blank begins a
 * comment, so "a#b" stays a value. Returns NULL with *what on bad quoting. */
static char *clean_value(char *v, const char **what)
{
    v = trim(v);
    if (*v == '"') {
        char *close = strchr(v + 1, '"');
        if (!close) {
            *what = "unterminated quote (expected a closing \")";
            return NULL;
        }
        const char *rest = skip_blank(close + 1);
        if (*rest && *rest != '#') {
            *what = "text after the closing quote (expected only a # comment)";
            return NULL;
        }
        *close = '\0';
        return v + 1;
    }
    for (char *p = v; *p; p++) {
        if (*p == '#' && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    }
    return trim(v);
}

static moat_err parse_line(moat_conf *c, char *line, load_state *ls, char *err, size_t errlen)
{
    char origin[600], shown[120];
    const char *what = NULL;
    snprintf(origin, sizeof origin, "%s:%d", ls->name, ls->line);
    line = trim(line);
    if (!*line || *line == '#')
        return MOAT_OK;
    char *eq = strchr(line, '=');
    if (!eq || eq == line) { /* the line is trimmed: eq == line means no key */
        quoted(shown, sizeof shown, line);
        return fail(err, errlen, origin, NULL, "%s: not a key = value line", shown);
    }
    *eq = '\0';
    char *key = trim(line);
    char *value = clean_value(eq + 1, &what);
    if (!value)
        return fail(err, errlen, origin, key, "%s", what);
    moat_err e = moat_conf_set(c, key, value, origin, err, errlen);
    const conf_option *o = find_global(key);
    if (e == MOAT_OK && o)
        ls->set_at[o - conf_options] = ls->line;
    return e;
}

static moat_err parse_text(moat_conf *c, char *text, load_state *ls, char *err, size_t errlen)
{
    char *line = text;
    if (!strncmp(line, "\xEF\xBB\xBF", 3))
        line += 3; /* a UTF-8 byte order mark from some editors */
    while (line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        ls->line++;
        moat_err e = parse_line(c, line, ls, err, errlen);
        if (e != MOAT_OK)
            return e;
        line = nl ? nl + 1 : NULL;
    }
    return MOAT_OK;
}

/* Works on a copy so that a file with an error changes nothing (a SIGHUP
 * with a broken file keeps the running configuration). */
moat_err moat_conf_load_string(moat_conf *c, const char *name, const char *text, char *err,
                               size_t errlen)
{
    load_state *ls = calloc(1, sizeof *ls);
    moat_conf *work = malloc(sizeof *work);
    char *copy = strdup(text);
    moat_err e = MOAT_ENOMEM;
    if (ls && work && copy) {
        ls->name = name ? name : "<string>";
        *work = *c;
        e = parse_text(work, copy, ls, err, errlen);
        if (e == MOAT_OK)
            e = validate(work, ls, err, errlen);
        if (e == MOAT_OK)
            *c = *work;
    } else if (err && errlen) {
        snprintf(err, errlen, "%s: out of memory", name ? name : "<string>");
    }
    free(copy);
    free(work);
    free(ls);
    return e;
}

/* Reads the whole file; refuses huge files and NUL bytes (not a text file). */
static moat_err read_file(const char *path, char **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail(err, errlen, path, NULL, "cannot open: %s", strerror(errno));
        return MOAT_EIO;
    }
    char *buf = malloc(MAX_FILE_SIZE + 1);
    size_t len = buf ? fread(buf, 1, MAX_FILE_SIZE + 1, f) : 0;
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    moat_err e = MOAT_OK;
    if (!buf) {
        fail(err, errlen, path, NULL, "out of memory");
        return MOAT_ENOMEM;
    }
    if (rerr) {
        fail(err, errlen, path, NULL, "cannot read: %s", strerror(rerr));
        e = MOAT_EIO;
    } else if (len > MAX_FILE_SIZE) {
        e = fail(err, errlen, path, NULL, "too large (expected at most %u bytes)", MAX_FILE_SIZE);
    } else if (memchr(buf, '\0', len)) {
        e = fail(err, errlen, path, NULL, "contains a NUL byte (expected a text file)");
    }
    if (e != MOAT_OK) {
        free(buf);
        return e;
    }
    buf[len] = '\0';
    *out = buf;
    return MOAT_OK;
}

moat_err moat_conf_load(moat_conf *c, const char *path, char *err, size_t errlen)
{
    char *text;
    moat_err e = read_file(path, &text, err, errlen);
    if (e != MOAT_OK)
        return e;
    e = moat_conf_load_string(c, path, text, err, errlen);
    free(text);
    return e;
}
