/* SPDX-License-Identifier: Apache-2.0 */
/* Topic validation, matching, share parsing, and both tries, checked against
 * each other. Input: one flags byte, then '\n'-separated strings. Every
 * string is run through the validators and the matcher against every other;
 * the valid filters go into a subtree and the valid names into a rettree,
 * whose match results must equal a brute-force scan with mqtt_topic_match.
 * Finally everything is removed again in an input-chosen order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/topic.h"

#define MAX_STRS 24

typedef struct str {
    const char *p;
    size_t len;
    bool filter_ok, name_ok;
} str;

typedef struct input {
    str s[MAX_STRS];
    int n;
    uint8_t flags;
} input;

static void check(bool cond)
{
    if (!cond)
        abort();
}

static bool same(const str *a, const str *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static void split(input *in, const uint8_t *data, size_t size)
{
    in->n = 0;
    in->flags = size ? data[0] : 0;
    const char *p = size ? (const char *)data + 1 : "";
    size_t len = size ? size - 1 : 0;
    while (in->n < MAX_STRS) {
        const char *nl = len ? memchr(p, '\n', len) : NULL;
        size_t l = nl ? (size_t)(nl - p) : len;
        in->s[in->n++] = (str){.p = p, .len = l};
        if (!nl)
            break;
        p = nl + 1;
        len -= l + 1;
    }
}

/* Properties of the pure functions that hold for any input. */
static void check_pure(const input *in)
{
    unsigned max_levels = in->flags & 7;
    for (int i = 0; i < in->n; i++) {
        const str *a = &in->s[i];
        bool fv = mqtt_topic_filter_valid(a->p, a->len, 0);
        bool nv = mqtt_topic_name_valid(a->p, a->len, 0);
        check(!nv || fv); /* every name is also a filter */
        check(!mqtt_topic_name_valid(a->p, a->len, max_levels) || nv);
        check(!mqtt_topic_filter_valid(a->p, a->len, max_levels) || fv);
        if (nv)
            check(mqtt_topic_match(a->p, a->len, a->p, a->len)); /* a name matches itself */
        const char *g, *f;
        size_t gl, fl;
        moat_err e = mqtt_share_parse(a->p, a->len, &g, &gl, &f, &fl);
        check(e == MOAT_OK || e == MOAT_ENOTFOUND || e == MOAT_ETOPIC);
        if (e == MOAT_OK) {
            check(gl > 0 && !memchr(g, '/', gl) && !memchr(g, '+', gl) && !memchr(g, '#', gl) &&
                  !memchr(g, '\0', gl));
            check(mqtt_topic_filter_valid(f, fl, 0));
            check(f == g + gl + 1 && f + fl == a->p + a->len);
        }
        for (int j = 0; j < in->n; j++)
            (void)mqtt_topic_match(a->p, a->len, in->s[j].p, in->s[j].len);
    }
}

/* ------------------------------------------------------------ subtree */

/* Eleven sessions: with identical lines, more than eight subscriptions can
 * share one filter, which switches that node to its hashed index. */
static int owner_of(int i)
{
    return i % 11;
}

static const char *group_of(const input *in, int i, size_t *glen)
{
    /* Flag bit 3 puts every other subscription into share group "g". */
    bool grouped = (in->flags & 8) && i % 2;
    *glen = grouped ? 1 : 0;
    return grouped ? "g" : NULL;
}

static char owners[11];

typedef struct sctx {
    const input *in;
    int seen[MAX_STRS];
} sctx;

static void sub_cb(void *ctx, const moat_sub *s, const char *filter, size_t flen)
{
    sctx *c = ctx;
    int i = (int)s->sub_id - 1;
    check(i >= 0 && i < c->in->n);
    const str *e = &c->in->s[i];
    size_t glen;
    const char *g = group_of(c->in, i, &glen);
    check(s->owner == &owners[owner_of(i)]);
    check(g ? s->group && strcmp(s->group, g) == 0 : !s->group);
    check(flen == e->len && memcmp(filter, e->p, flen) == 0);
    c->seen[i]++;
}

/* Same subscription key: filter, owner and group. */
static bool same_key(const input *in, int i, int j)
{
    size_t gi, gj;
    return same(&in->s[i], &in->s[j]) && owner_of(i) == owner_of(j) &&
           (group_of(in, i, &gi) == NULL) == (group_of(in, j, &gj) == NULL);
}

/* The index holding i's key in the model (holder[h] == h), or -1. */
static int key_holder(const input *in, const int *holder, int i)
{
    for (int j = 0; j < in->n; j++)
        if (holder[j] == j && same_key(in, i, j))
            return j;
    return -1;
}

static void check_submatch(const moat_subtree *t, const input *in, const int *holder,
                           const str *topic)
{
    sctx c = {.in = in};
    moat_subtree_match(t, topic->p, topic->len, sub_cb, &c);
    for (int i = 0; i < in->n; i++) {
        bool want =
            holder[i] == i && mqtt_topic_match(in->s[i].p, in->s[i].len, topic->p, topic->len);
        check(c.seen[i] == (want ? 1 : 0));
    }
}

static void run_subtree(const input *in)
{
    moat_subtree *t;
    if (moat_subtree_new(&t) != MOAT_OK)
        return;
    int holder[MAX_STRS]; /* the model: holder[i] == i when i's key is stored by i */
    for (int i = 0; i < MAX_STRS; i++)
        holder[i] = -1;
    size_t count = 0;
    for (int i = 0; i < in->n; i++) {
        const str *s = &in->s[i];
        size_t glen;
        const char *g = group_of(in, i, &glen);
        bool rep;
        int prev = key_holder(in, holder, i);
        moat_err e = moat_subtree_add(t, s->p, s->len, &owners[owner_of(i)], g, glen, 0,
                                      (uint32_t)i + 1, &rep);
        if (!s->filter_ok) {
            check(e == MOAT_ETOPIC);
            continue;
        }
        check(e == MOAT_OK && rep == (prev >= 0));
        if (prev >= 0)
            holder[prev] = -1;
        else
            count++;
        holder[i] = i;
        check(moat_subtree_count(t) == count);
    }
    for (int i = 0; i < in->n; i++)
        if (in->s[i].name_ok)
            check_submatch(t, in, holder, &in->s[i]);
    if (in->flags & 1) { /* sometimes free a populated tree */
        moat_subtree_free(t);
        return;
    }
    /* Remove in an order picked by the flags, checking after each. */
    int step = (in->flags >> 4) % 5 + 1;
    for (int k = 0; k < in->n; k++) {
        int i = (k * step + (in->flags >> 6)) % in->n;
        size_t glen;
        const char *g = group_of(in, i, &glen);
        int h = key_holder(in, holder, i);
        moat_err e =
            moat_subtree_remove(t, in->s[i].p, in->s[i].len, &owners[owner_of(i)], g, glen);
        check(e == (h >= 0 ? MOAT_OK : MOAT_ENOTFOUND));
        if (h >= 0) {
            holder[h] = -1;
            count--;
        }
        check(moat_subtree_count(t) == count);
        if (in->s[i].name_ok)
            check_submatch(t, in, holder, &in->s[i]);
    }
    for (int i = 0; i < in->n; i++)
        if (holder[i] == i) {
            size_t glen;
            const char *g = group_of(in, i, &glen);
            check(moat_subtree_remove(t, in->s[i].p, in->s[i].len, &owners[owner_of(i)], g, glen) ==
                  MOAT_OK);
        }
    check(moat_subtree_count(t) == 0);
    moat_subtree_free(t);
}

/* ------------------------------------------------------------ rettree */

typedef struct rctx {
    const input *in;
    int seen[MAX_STRS];
} rctx;

static void ret_cb(void *ctx, const char *topic, size_t tlen, void *value)
{
    rctx *c = ctx;
    int i = (int)(uintptr_t)value - 1;
    check(i >= 0 && i < c->in->n);
    check(topic[tlen] == '\0');
    check(tlen == c->in->s[i].len && memcmp(topic, c->in->s[i].p, tlen) == 0);
    c->seen[i]++;
}

static void check_retmatch(const moat_rettree *t, const input *in, const int *holder,
                           const str *filter)
{
    rctx c = {.in = in};
    moat_rettree_match(t, filter->p, filter->len, ret_cb, &c);
    for (int i = 0; i < in->n; i++) {
        bool want =
            holder[i] == i && mqtt_topic_match(filter->p, filter->len, in->s[i].p, in->s[i].len);
        check(c.seen[i] == (want ? 1 : 0));
    }
}

static size_t freed;
static void count_freed(void *v)
{
    check(v != NULL);
    freed++;
}

static void run_rettree(const input *in)
{
    moat_rettree *t;
    if (moat_rettree_new(&t) != MOAT_OK)
        return;
    /* holder[i] == i when string i is the stored holder of its topic. */
    int holder[MAX_STRS];
    size_t count = 0;
    for (int i = 0; i < in->n; i++) {
        holder[i] = -1;
        void *old = NULL;
        moat_err e =
            moat_rettree_set(t, in->s[i].p, in->s[i].len, (void *)(uintptr_t)(i + 1), &old);
        if (!in->s[i].name_ok) {
            check(e == MOAT_ETOPIC);
            continue;
        }
        check(e == MOAT_OK);
        int prev = -1;
        for (int j = 0; j < i; j++)
            if (holder[j] == j && same(&in->s[i], &in->s[j]))
                prev = j;
        check(old == (prev >= 0 ? (void *)(uintptr_t)(prev + 1) : NULL));
        if (prev >= 0)
            holder[prev] = -1;
        else
            count++;
        holder[i] = i;
        check(moat_rettree_count(t) == count);
        check(moat_rettree_get(t, in->s[i].p, in->s[i].len) == (void *)(uintptr_t)(i + 1));
    }
    for (int i = 0; i < in->n; i++)
        if (in->s[i].filter_ok)
            check_retmatch(t, in, holder, &in->s[i]);
    if (in->flags & 1) {
        freed = 0;
        moat_rettree_free(t, count_freed);
        check(freed == count);
        return;
    }
    for (int k = in->n - 1; k >= 0; k--) {
        int i = (k * 7 + in->flags) % in->n;
        void *v = moat_rettree_del(t, in->s[i].p, in->s[i].len);
        int h = -1;
        for (int j = 0; j < in->n; j++)
            if (holder[j] == j && same(&in->s[i], &in->s[j]))
                h = j;
        check(v == (h >= 0 ? (void *)(uintptr_t)(h + 1) : NULL));
        if (h >= 0) {
            holder[h] = -1;
            count--;
        }
        check(moat_rettree_count(t) == count);
        if (in->s[i].filter_ok)
            check_retmatch(t, in, holder, &in->s[i]);
    }
    for (int i = 0; i < in->n; i++)
        if (holder[i] == i)
            check(moat_rettree_del(t, in->s[i].p, in->s[i].len) != NULL);
    check(moat_rettree_count(t) == 0);
    moat_rettree_free(t, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in;
    split(&in, data, size);
    for (int i = 0; i < in.n; i++) {
        in.s[i].filter_ok = mqtt_topic_filter_valid(in.s[i].p, in.s[i].len, 0);
        in.s[i].name_ok = mqtt_topic_name_valid(in.s[i].p, in.s[i].len, 0);
    }
    check_pure(&in);
    run_subtree(&in);
    run_rettree(&in);
    return 0;
}
