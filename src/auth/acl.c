/* SPDX-License-Identifier: Apache-2.0 */
/* EMQX 4 acl.conf rules: see acl.h. A small tokenizer for the subset of
 * Erlang terms the file uses, a recursive-descent parser per rule, and a
 * first-match check. */
#include "auth/acl.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/topic.h"
#include "proxy/proxy.h"

#define ACL_MAX_STRING 1024
#define ACL_MAX_TOPICS 256

/* WHO_ANONYMOUS: clients without a username (Mosquitto's topic lines before
 * any user line). */
typedef enum who_kind { WHO_ALL, WHO_USER, WHO_CLIENT, WHO_IPADDR, WHO_CN, WHO_ANONYMOUS } who_kind;

typedef struct acl_topic {
    char *text;
    bool eq;          /* {eq, "t"}: literal comparison */
    bool placeholder; /* holds %u or %c */
} acl_topic;

typedef struct acl_rule {
    bool allow;
    who_kind who;
    char *who_value;
    moat_cidr_list cidrs; /* WHO_IPADDR */
    unsigned access;      /* moat_acl_access bits */
    bool any_topic;       /* two-element rule */
    acl_topic *topics;
    size_t n_topics;
} acl_rule;

struct moat_acl {
    acl_rule *rules;
    size_t n;
};

/* ---- tokens ---- */

typedef enum tok_kind { T_END, T_PUNCT, T_ATOM, T_STRING, T_BAD } tok_kind;

typedef struct lexer {
    const char *p, *end;
    int line;
    tok_kind kind;
    char punct;
    char text[ACL_MAX_STRING];
    const char *name;
    char *err;
    size_t errlen;
} lexer;

static void skip_space(lexer *lx)
{
    while (lx->p < lx->end) {
        char ch = *lx->p;
        if (ch == '\n')
            lx->line++;
        if (ch == '%') {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
            continue;
        }
        if (!isspace((unsigned char)ch))
            return;
        lx->p++;
    }
}

static void read_string(lexer *lx)
{
    size_t n = 0;
    lx->p++; /* the opening quote */
    while (lx->p < lx->end && *lx->p != '"') {
        char ch = *lx->p++;
        if (ch == '\\' && lx->p < lx->end)
            ch = *lx->p++;
        if (ch == '\n' || ch == '\0' || n + 1 >= sizeof lx->text) {
            lx->kind = T_BAD;
            return;
        }
        lx->text[n++] = ch;
    }
    lx->text[n] = '\0';
    if (lx->p >= lx->end) {
        lx->kind = T_BAD;
        return;
    }
    lx->p++;
    lx->kind = T_STRING;
}

static void next(lexer *lx)
{
    skip_space(lx);
    if (lx->p >= lx->end) {
        lx->kind = T_END;
        return;
    }
    char ch = *lx->p;
    if (strchr("{}[],.", ch)) {
        lx->kind = T_PUNCT;
        lx->punct = ch;
        lx->p++;
        return;
    }
    if (ch == '"') {
        read_string(lx);
        return;
    }
    size_t n = 0;
    while (lx->p < lx->end && (isalnum((unsigned char)*lx->p) || *lx->p == '_') &&
           n + 1 < sizeof lx->text)
        lx->text[n++] = *lx->p++;
    lx->text[n] = '\0';
    lx->kind = n ? T_ATOM : T_BAD;
}

__attribute__((format(printf, 2, 3))) static bool fail(lexer *lx, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(lx->err, lx->errlen, "%s:%d: %s", lx->name, lx->line, msg);
    return false;
}

static bool expect(lexer *lx, char punct)
{
    if (lx->kind != T_PUNCT || lx->punct != punct)
        return fail(lx, "expected '%c'", punct);
    next(lx);
    return true;
}

static bool is_atom(const lexer *lx, const char *a)
{
    return lx->kind == T_ATOM && !strcmp(lx->text, a);
}

/* ---- rules ---- */

static bool parse_who(lexer *lx, acl_rule *r)
{
    if (is_atom(lx, "all")) {
        r->who = WHO_ALL;
        next(lx);
        return true;
    }
    if (!expect(lx, '{'))
        return fail(lx, "expected who: all, {user, \"u\"}, {client, \"c\"}, {ipaddr, \"cidr\"} "
                        "or {cn, \"x\"}");
    static const struct {
        const char *atom;
        who_kind kind;
    } kinds[] = {
        {"user", WHO_USER}, {"client", WHO_CLIENT}, {"ipaddr", WHO_IPADDR}, {"cn", WHO_CN}};
    size_t k = 0;
    while (k < 4 && !is_atom(lx, kinds[k].atom))
        k++;
    if (k == 4)
        return fail(lx, "unknown who '%s' (expected user, client, ipaddr or cn)",
                    lx->kind == T_ATOM ? lx->text : "?");
    r->who = kinds[k].kind;
    next(lx);
    if (!expect(lx, ','))
        return false;
    if (lx->kind != T_STRING)
        return fail(lx, "expected a quoted string after %s", kinds[k].atom);
    if (r->who == WHO_IPADDR) {
        char why[200];
        if (moat_cidr_list_parse(lx->text, &r->cidrs, why, sizeof why) != MOAT_OK)
            return fail(lx, "%s (expected an address or network such as 10.0.0.0/8)", why);
    }
    if (!(r->who_value = strdup(lx->text)))
        return fail(lx, "out of memory");
    next(lx);
    return expect(lx, '}');
}

static bool parse_access(lexer *lx, acl_rule *r)
{
    if (is_atom(lx, "publish"))
        r->access = MOAT_ACL_PUBLISH;
    else if (is_atom(lx, "subscribe"))
        r->access = MOAT_ACL_SUBSCRIBE;
    else if (is_atom(lx, "pubsub"))
        r->access = MOAT_ACL_PUBLISH | MOAT_ACL_SUBSCRIBE;
    else
        return fail(lx, "expected access: publish, subscribe or pubsub");
    next(lx);
    return true;
}

static bool parse_topic(lexer *lx, acl_topic *t)
{
    if (lx->kind == T_PUNCT && lx->punct == '{') {
        next(lx);
        if (!is_atom(lx, "eq"))
            return fail(lx, "expected {eq, \"topic\"}");
        next(lx);
        if (!expect(lx, ','))
            return false;
        t->eq = true;
    }
    if (lx->kind != T_STRING || !lx->text[0])
        return fail(lx, "expected a topic as a non-empty quoted string");
    if (!t->eq && !mqtt_topic_filter_valid(lx->text, strlen(lx->text), 0))
        return fail(lx, "'%s' is not a topic filter", lx->text);
    t->placeholder = strstr(lx->text, "%u") || strstr(lx->text, "%c");
    if (!(t->text = strdup(lx->text)))
        return fail(lx, "out of memory");
    next(lx);
    return !t->eq || expect(lx, '}');
}

static bool parse_topics(lexer *lx, acl_rule *r)
{
    if (!expect(lx, '['))
        return false;
    while (!(lx->kind == T_PUNCT && lx->punct == ']')) {
        if (r->n_topics && !expect(lx, ','))
            return false;
        if (r->n_topics == ACL_MAX_TOPICS)
            return fail(lx, "more than %d topics in one rule", ACL_MAX_TOPICS);
        acl_topic *t = realloc(r->topics, (r->n_topics + 1) * sizeof *t);
        if (!t)
            return fail(lx, "out of memory");
        r->topics = t;
        memset(&t[r->n_topics], 0, sizeof *t);
        if (!parse_topic(lx, &t[r->n_topics++]))
            return false;
    }
    next(lx);
    return true;
}

static bool parse_rule(lexer *lx, acl_rule *r)
{
    if (!expect(lx, '{'))
        return false;
    if (is_atom(lx, "allow") || is_atom(lx, "deny"))
        r->allow = is_atom(lx, "allow");
    else
        return fail(lx, "expected allow or deny");
    next(lx);
    if (!expect(lx, ',') || !parse_who(lx, r))
        return false;
    if (lx->kind == T_PUNCT && lx->punct == '}') {
        r->any_topic = true;
        r->access = MOAT_ACL_PUBLISH | MOAT_ACL_SUBSCRIBE;
    } else if (!expect(lx, ',') || !parse_access(lx, r) || !expect(lx, ',') ||
               !parse_topics(lx, r)) {
        return false;
    }
    if (!expect(lx, '}'))
        return false;
    if (lx->kind != T_PUNCT || lx->punct != '.')
        return fail(lx, "expected '.' after the rule");
    next(lx);
    return true;
}

static void free_rule(acl_rule *r)
{
    for (size_t i = 0; i < r->n_topics; i++)
        free(r->topics[i].text);
    free(r->topics);
    free(r->who_value);
    moat_cidr_list_free(&r->cidrs);
}

void moat_acl_free(moat_acl *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        free_rule(&a->rules[i]);
    free(a->rules);
    free(a);
}

static moat_err parse_emqx(const char *name, const char *text, size_t len, moat_acl **out,
                           char *err, size_t errlen);

/* ---- Mosquitto's acl_file syntax ---- */

typedef struct mq_state {
    const char *name;
    int line;
    char *user; /* current `user` block; NULL before the first */
    char *err;
    size_t errlen;
} mq_state;

__attribute__((format(printf, 2, 3))) static bool mq_fail(mq_state *st, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(st->err, st->errlen, "%s:%d: %s", st->name, st->line, msg);
    return false;
}

/* "[read|write|readwrite|deny] topic" after topic / pattern: the access
 * bits and the topic, which may contain blanks. */
static bool mq_access(mq_state *st, char *rest, acl_rule *r, char **topic)
{
    static const struct {
        const char *word;
        unsigned access;
        bool allow;
    } words[] = {
        {"read", MOAT_ACL_SUBSCRIBE, true},
        {"write", MOAT_ACL_PUBLISH, true},
        {"readwrite", MOAT_ACL_PUBLISH | MOAT_ACL_SUBSCRIBE, true},
        {"deny", MOAT_ACL_PUBLISH | MOAT_ACL_SUBSCRIBE, false},
    };
    r->access = MOAT_ACL_PUBLISH | MOAT_ACL_SUBSCRIBE;
    r->allow = true;
    size_t wl = strcspn(rest, " \t");
    for (size_t i = 0; i < 4; i++) {
        if (wl == strlen(words[i].word) && !strncmp(rest, words[i].word, wl) && rest[wl]) {
            r->access = words[i].access;
            r->allow = words[i].allow;
            rest += wl;
            while (*rest == ' ' || *rest == '\t')
                rest++;
            break;
        }
    }
    if (!*rest || !mqtt_topic_filter_valid(rest, strlen(rest), 0))
        return mq_fail(st,
                       "'%s' is not a topic filter (expected topic [read|write|readwrite|"
                       "deny] <filter>)",
                       rest);
    *topic = rest;
    return true;
}

/* One line: "user u", "topic [access] t", "pattern [access] t", comment. */
static bool mq_line(mq_state *st, char *p, moat_acl *a)
{
    while (*p == ' ' || *p == '\t')
        p++;
    size_t l = strlen(p);
    while (l && (p[l - 1] == '\r' || p[l - 1] == ' ' || p[l - 1] == '\t'))
        p[--l] = '\0';
    if (!l || p[0] == '#')
        return true;
    size_t kw = strcspn(p, " \t");
    char *rest = p + kw;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (kw == 4 && !strncmp(p, "user", 4)) {
        if (!*rest)
            return mq_fail(st, "user needs a name");
        free(st->user);
        return (st->user = strdup(rest)) != NULL || mq_fail(st, "out of memory");
    }
    bool pattern = kw == 7 && !strncmp(p, "pattern", 7);
    if (!pattern && !(kw == 5 && !strncmp(p, "topic", 5)))
        return mq_fail(st, "unknown keyword '%.*s' (expected user, topic or pattern)", (int)kw, p);
    acl_rule r = {0};
    char *topic = NULL;
    if (!mq_access(st, rest, &r, &topic))
        return false;
    r.who = pattern ? WHO_ALL : st->user ? WHO_USER : WHO_ANONYMOUS;
    r.topics = calloc(1, sizeof *r.topics);
    r.n_topics = 1;
    if (!r.topics || !(r.topics[0].text = strdup(topic)) ||
        (r.who == WHO_USER && !(r.who_value = strdup(st->user)))) {
        free_rule(&r);
        return mq_fail(st, "out of memory");
    }
    r.topics[0].placeholder = pattern && (strstr(topic, "%u") || strstr(topic, "%c"));
    acl_rule *v = realloc(a->rules, (a->n + 1) * sizeof *v);
    if (!v) {
        free_rule(&r);
        return mq_fail(st, "out of memory");
    }
    a->rules = v;
    a->rules[a->n++] = r;
    return true;
}

/* Mosquitto denies when any matching line says deny, whatever its place:
 * here the first match wins, so deny lines move to the front (in order). */
static void deny_first(moat_acl *a)
{
    size_t k = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->rules[i].allow)
            continue;
        acl_rule r = a->rules[i];
        memmove(&a->rules[k + 1], &a->rules[k], (i - k) * sizeof r);
        a->rules[k++] = r;
    }
}

static moat_err parse_mosquitto(const char *name, const char *text, size_t len, moat_acl *a,
                                char *err, size_t errlen)
{
    mq_state st = {.name = name, .err = err, .errlen = errlen};
    char *copy = malloc(len + 1);
    if (!copy)
        return MOAT_ENOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    bool ok = true;
    for (char *p = copy, *nl; ok && p; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        st.line++;
        ok = strlen(p) == (size_t)((nl ? nl : copy + len) - p)
                 ? mq_line(&st, p, a)
                 : mq_fail(&st, "a NUL byte in the line");
    }
    free(st.user);
    free(copy);
    if (ok)
        deny_first(a);
    return ok ? MOAT_OK : MOAT_EINVAL;
}

/* EMQX files start (after comments) with '{'; anything else is read as
 * Mosquitto's syntax. */
static bool looks_emqx(const char *text, size_t len)
{
    lexer lx = {.p = text, .end = text + len, .line = 1};
    skip_space(&lx);
    return lx.p >= lx.end || *lx.p == '{';
}

moat_err moat_acl_parse(const char *name, const char *text, size_t len, moat_acl **out, char *err,
                        size_t errlen)
{
    if (!looks_emqx(text, len)) {
        moat_acl *a = calloc(1, sizeof *a);
        if (!a)
            return MOAT_ENOMEM;
        moat_err e = parse_mosquitto(name, text, len, a, err, errlen);
        if (e) {
            moat_acl_free(a);
            return e;
        }
        *out = a;
        return MOAT_OK;
    }
    return parse_emqx(name, text, len, out, err, errlen);
}

static moat_err parse_emqx(const char *name, const char *text, size_t len, moat_acl **out,
                           char *err, size_t errlen)
{
    lexer lx = {
        .p = text, .end = text + len, .line = 1, .name = name, .err = err, .errlen = errlen};
    moat_acl *a = calloc(1, sizeof *a);
    if (!a)
        return MOAT_ENOMEM;
    next(&lx);
    while (lx.kind != T_END) {
        acl_rule *r = realloc(a->rules, (a->n + 1) * sizeof *r);
        if (!r) {
            fail(&lx, "out of memory");
            goto fail;
        }
        a->rules = r;
        memset(&r[a->n], 0, sizeof *r);
        if (!parse_rule(&lx, &r[a->n++]))
            goto fail;
    }
    *out = a;
    return MOAT_OK;
fail:
    moat_acl_free(a);
    return MOAT_EINVAL;
}

size_t moat_acl_count(const moat_acl *a)
{
    return a ? a->n : 0;
}

/* ---- rules built by a source ---- */

moat_acl *moat_acl_new(void)
{
    return calloc(1, sizeof(moat_acl));
}

moat_err moat_acl_add(moat_acl *a, bool allow, moat_acl_who who, const char *value, unsigned access,
                      const char *topic, bool eq, char *why, size_t n)
{
    static const who_kind kinds[] = {WHO_ALL, WHO_USER, WHO_CLIENT, WHO_IPADDR, WHO_CN};
    if (!topic || !topic[0] || (!eq && !mqtt_topic_filter_valid(topic, strlen(topic), 0))) {
        snprintf(why, n, "'%s' is not a topic filter", topic ? topic : "");
        return MOAT_EINVAL;
    }
    if ((unsigned)who >= sizeof kinds / sizeof kinds[0] || !(access & 3)) {
        snprintf(why, n, "bad rule");
        return MOAT_EINVAL;
    }
    acl_rule r = {.allow = allow, .who = kinds[who], .access = access & 3};
    if (who != MOAT_ACL_WHO_ALL && !(r.who_value = strdup(value ? value : "")))
        return MOAT_ENOMEM;
    if (who == MOAT_ACL_WHO_IPADDR && moat_cidr_list_parse(r.who_value, &r.cidrs, why, n)) {
        free(r.who_value);
        return MOAT_EINVAL;
    }
    if ((r.topics = calloc(1, sizeof *r.topics)))
        r.n_topics = 1;
    acl_rule *v = r.topics ? realloc(a->rules, (a->n + 1) * sizeof *v) : NULL;
    if (v)
        a->rules = v;
    if (!v || !(r.topics[0].text = strdup(topic))) {
        free_rule(&r);
        return MOAT_ENOMEM;
    }
    r.topics[0].eq = eq;
    r.topics[0].placeholder = strstr(topic, "%u") || strstr(topic, "%c");
    a->rules[a->n++] = r;
    return MOAT_OK;
}

/* ---- check ---- */

static bool who_matches(const acl_rule *r, const moat_auth_client *cl)
{
    switch (r->who) {
    case WHO_ALL:
        return true;
    case WHO_USER:
        return cl->username && !strcmp(cl->username, r->who_value);
    case WHO_CLIENT:
        return cl->client_id && !strcmp(cl->client_id, r->who_value);
    case WHO_IPADDR:
        return cl->addr && moat_cidr_list_match(&r->cidrs, cl->addr);
    case WHO_CN:
        return cl->cert_cn && !strcmp(cl->cert_cn, r->who_value);
    case WHO_ANONYMOUS:
        return !cl->username;
    }
    return false;
}

/* t with %u and %c replaced into buf; false when the client lacks one or
 * the result does not fit. */
static bool expand(const char *t, const moat_auth_client *cl, char *buf, size_t n)
{
    size_t o = 0;
    for (const char *p = t; *p; p++) {
        const char *sub = NULL;
        if (p[0] == '%' && (p[1] == 'u' || p[1] == 'c')) {
            sub = p[1] == 'u' ? cl->username : cl->client_id;
            if (!sub || !sub[0])
                return false;
            p++;
        }
        size_t sl = sub ? strlen(sub) : 1;
        if (o + sl + 1 > n)
            return false;
        memcpy(buf + o, sub ? sub : p, sl);
        o += sl;
    }
    buf[o] = '\0';
    return true;
}

static bool topic_matches(const acl_topic *t, const moat_auth_client *cl, const char *topic,
                          size_t len)
{
    char buf[ACL_MAX_STRING * 2];
    const char *f = t->text;
    if (t->placeholder) {
        if (!expand(t->text, cl, buf, sizeof buf))
            return false;
        f = buf;
    }
    size_t fl = strlen(f);
    if (t->eq)
        return fl == len && !memcmp(f, topic, len);
    return mqtt_topic_match(f, fl, topic, len);
}

moat_acl_verdict moat_acl_check(const moat_acl *a, const moat_auth_client *cl,
                                moat_acl_access access, const char *topic, size_t len)
{
    for (size_t i = 0; a && i < a->n; i++) {
        const acl_rule *r = &a->rules[i];
        if (!(r->access & access) || !who_matches(r, cl))
            continue;
        bool hit = r->any_topic;
        for (size_t k = 0; !hit && k < r->n_topics; k++)
            hit = topic_matches(&r->topics[k], cl, topic, len);
        if (hit)
            return r->allow ? MOAT_ACL_ALLOW : MOAT_ACL_DENY;
    }
    return MOAT_ACL_NOMATCH;
}
