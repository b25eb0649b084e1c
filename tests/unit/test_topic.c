/* SPDX-License-Identifier: Apache-2.0 */
/* Topic names, filters and matching, following MQTT 5.0 sections 4.7 and 4.8,
 * then the subscription tree and the retained index, each cross-checked
 * against mqtt_topic_match on random data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/topic.h"
#include "test.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#endif

#if defined(HAVE_ASAN)
/* From the ASan runtime; declared here since gcc ships no header for it. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* Bytes currently allocated, to show that removal frees pruned nodes. Only
 * ASan counts exactly (glibc's mallinfo counts cached free chunks as used),
 * so elsewhere this is 0 and the checks are trivially true. */
static size_t heap_bytes(void)
{
#if defined(HAVE_ASAN)
    return __sanitizer_get_current_allocated_bytes();
#else
    return 0;
#endif
}

#define S(lit) lit, sizeof(lit) - 1

static bool name_ok(const char *s)
{
    return mqtt_topic_name_valid(s, strlen(s), 0);
}
static bool filter_ok(const char *s)
{
    return mqtt_topic_filter_valid(s, strlen(s), 0);
}
static bool match(const char *f, const char *t)
{
    return mqtt_topic_match(f, strlen(f), t, strlen(t));
}

/* ------------------------------------------------------------ validity */

static void test_name_validity(void)
{
    /* 4.7.3: at least one character; spaces and empty levels are fine. */
    CHECK(name_ok("sport/tennis/player1"));
    CHECK(name_ok("Accounts payable"));
    CHECK(name_ok("/"));
    CHECK(name_ok("/finance"));
    CHECK(name_ok("a//b/"));
    CHECK(name_ok("$SYS/broker/load"));
    CHECK(!name_ok(""));
    CHECK(!mqtt_topic_name_valid(NULL, 0, 0));
    /* Wildcards are for filters only (4.7.1). */
    CHECK(!name_ok("sport/+"));
    CHECK(!name_ok("sport/#"));
    CHECK(!name_ok("sport+"));
    CHECK(!name_ok("#"));
    /* U+0000 is not allowed (4.7.3). */
    CHECK(!mqtt_topic_name_valid(S("a\0b"), 0));
}

static void test_filter_validity(void)
{
    /* 4.7.1.2 multi-level wildcard. */
    CHECK(filter_ok("#"));
    CHECK(filter_ok("sport/tennis/#"));
    CHECK(!filter_ok("sport/tennis#"));
    CHECK(!filter_ok("sport/tennis/#/ranking"));
    CHECK(!filter_ok("#/"));
    CHECK(!filter_ok("##"));
    /* 4.7.1.3 single-level wildcard. */
    CHECK(filter_ok("+"));
    CHECK(filter_ok("+/tennis/#"));
    CHECK(!filter_ok("sport+"));
    CHECK(!filter_ok("+sport"));
    CHECK(filter_ok("sport/+/player1"));
    CHECK(filter_ok("+/+"));
    CHECK(filter_ok("/+"));
    CHECK(filter_ok("+/#"));
    CHECK(filter_ok("+/"));
    /* 4.7.3. */
    CHECK(filter_ok("/"));
    CHECK(filter_ok("a//b"));
    CHECK(!filter_ok(""));
    CHECK(!mqtt_topic_filter_valid(NULL, 0, 0));
    CHECK(!mqtt_topic_filter_valid(S("a/\0"), 0));
}

static void test_length_limit(void)
{
    size_t n = 65536;
    char *s = malloc(n);
    memset(s, 'a', n);
    CHECK(mqtt_topic_name_valid(s, 65535, 0));
    CHECK(!mqtt_topic_name_valid(s, 65536, 0));
    CHECK(mqtt_topic_filter_valid(s, 65535, 0));
    CHECK(!mqtt_topic_filter_valid(s, 65536, 0));
    free(s);
}

static void test_max_levels(void)
{
    /* "a/b/c" has three levels, "/" two (both empty). */
    CHECK(mqtt_topic_name_valid(S("a/b/c"), 3));
    CHECK(!mqtt_topic_name_valid(S("a/b/c"), 2));
    CHECK(mqtt_topic_name_valid(S("a/b/c"), 0));
    CHECK(mqtt_topic_name_valid(S("/"), 2));
    CHECK(!mqtt_topic_name_valid(S("/"), 1));
    CHECK(mqtt_topic_name_valid(S("a"), 1));
    CHECK(mqtt_topic_filter_valid(S("a/+/#"), 3));
    CHECK(!mqtt_topic_filter_valid(S("a/+/#"), 2));
    CHECK(!mqtt_topic_filter_valid(S("a/"), 1));
    CHECK(mqtt_topic_filter_valid(S("#"), 1));
}

/* ------------------------------------------------------------ matching */

static void test_match_multi_level_wildcard(void)
{
    /* 4.7.1.2 */
    CHECK(match("sport/tennis/player1/#", "sport/tennis/player1"));
    CHECK(match("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
    CHECK(match("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
    CHECK(match("sport/#", "sport"));
    CHECK(match("sport/#", "sport/"));
    CHECK(!match("sport/#", "sports"));
    CHECK(!match("sport/tennis/player1/#", "sport/tennis"));
    CHECK(match("#", "sport"));
    CHECK(match("#", "/"));
    CHECK(match("#", "a/b/c"));
}

static void test_match_single_level_wildcard(void)
{
    /* 4.7.1.3 */
    CHECK(match("sport/tennis/+", "sport/tennis/player1"));
    CHECK(match("sport/tennis/+", "sport/tennis/player2"));
    CHECK(!match("sport/tennis/+", "sport/tennis/player1/ranking"));
    CHECK(!match("sport/+", "sport"));
    CHECK(match("sport/+", "sport/"));
    CHECK(match("+/+", "/finance"));
    CHECK(match("/+", "/finance"));
    CHECK(!match("+", "/finance"));
    CHECK(match("+", "x"));
    CHECK(match("+/+", "/"));
    CHECK(match("a/+/c", "a//c"));
    CHECK(match("+/tennis/#", "sport/tennis"));
    CHECK(!match("sport/+/player1", "sport/player1"));
}

static void test_match_literal(void)
{
    /* 4.7.3: case-sensitive; a leading '/' makes a distinct level. */
    CHECK(match("ACCOUNTS", "ACCOUNTS"));
    CHECK(!match("ACCOUNTS", "Accounts"));
    CHECK(match("Accounts payable", "Accounts payable"));
    CHECK(!match("/finance", "finance"));
    CHECK(!match("finance", "/finance"));
    CHECK(match("/", "/"));
    CHECK(!match("a/b", "a/b/c"));
    CHECK(!match("a/b/c", "a/b"));
    CHECK(!match("a/b", "a/bc"));
    CHECK(!match("a", "a/"));
    CHECK(!match("", "a"));
}

static void test_match_dollar_topics(void)
{
    /* 4.7.2: wildcards at the first level don't match "$" topics. */
    CHECK(!match("#", "$SYS/broker/load"));
    CHECK(!match("+/monitor/Clients", "$SYS/monitor/Clients"));
    CHECK(!match("+", "$"));
    CHECK(!match("+/#", "$SYS"));
    CHECK(match("$SYS/#", "$SYS/monitor/Clients"));
    CHECK(match("$SYS/#", "$SYS"));
    CHECK(match("$SYS/monitor/+", "$SYS/monitor/Clients"));
    /* Only the first character counts. */
    CHECK(match("#", "a/$SYS"));
    CHECK(match("+/+", "a/$x"));
}

/* ------------------------------------------------------------ shared subs */

static moat_err share(const char *f, const char **g, size_t *gl, const char **fl, size_t *fll)
{
    return mqtt_share_parse(f, strlen(f), g, gl, fl, fll);
}

static void test_share_parse(void)
{
    const char *g, *fl;
    size_t gl, fll;
    /* 4.8.2 examples. */
    CHECK_EQ(share("$share/consumer1/sport/tennis/+", &g, &gl, &fl, &fll), MOAT_OK);
    CHECK(gl == 9 && memcmp(g, "consumer1", 9) == 0);
    CHECK(fll == 14 && memcmp(fl, "sport/tennis/+", 14) == 0);
    CHECK_EQ(share("$share/consumer1//finance", &g, &gl, &fl, &fll), MOAT_OK);
    CHECK(fll == 8 && memcmp(fl, "/finance", 8) == 0);
    CHECK_EQ(share("$share/g/#", &g, &gl, &fl, &fll), MOAT_OK);
    CHECK(gl == 1 && fll == 1 && fl[0] == '#');

    /* Not shared at all: ordinary filters, even "$share" itself. */
    CHECK_EQ(share("sport/#", &g, &gl, &fl, &fll), MOAT_ENOTFOUND);
    CHECK_EQ(share("$share", &g, &gl, &fl, &fll), MOAT_ENOTFOUND);
    CHECK_EQ(share("$SYS/x", &g, &gl, &fl, &fll), MOAT_ENOTFOUND);
    CHECK_EQ(share("$sharex/g/a", &g, &gl, &fl, &fll), MOAT_ENOTFOUND);

    /* Shared but malformed. */
    CHECK_EQ(share("$share/", &g, &gl, &fl, &fll), MOAT_ETOPIC);
    CHECK_EQ(share("$share//a", &g, &gl, &fl, &fll), MOAT_ETOPIC);
    CHECK_EQ(share("$share/g", &g, &gl, &fl, &fll), MOAT_ETOPIC);
    CHECK_EQ(share("$share/g/", &g, &gl, &fl, &fll), MOAT_ETOPIC);
    CHECK_EQ(share("$share/g+/a", &g, &gl, &fl, &fll), MOAT_ETOPIC);
    CHECK_EQ(share("$share/#/a", &g, &gl, &fl, &fll), MOAT_ETOPIC);
    CHECK_EQ(share("$share/+/a", &g, &gl, &fl, &fll), MOAT_ETOPIC);
    CHECK_EQ(share("$share/g/a#", &g, &gl, &fl, &fll), MOAT_ETOPIC);
    CHECK_EQ(share("$share/g/#/a", &g, &gl, &fl, &fll), MOAT_ETOPIC);
    CHECK_EQ(mqtt_share_parse(S("$share/g\0/a"), &g, &gl, &fl, &fll), MOAT_ETOPIC);
}

/* ------------------------------------------------------------ subtree */

typedef struct hit {
    void *owner;
    const char *group;
    uint32_t sub_id;
    uint8_t options;
    char filter[64];
} hit;

typedef struct hits {
    hit h[64];
    int n;
} hits;

static void collect(void *ctx, const moat_sub *s, const char *filter, size_t flen)
{
    hits *hs = ctx;
    if (hs->n == 64)
        return;
    hit *h = &hs->h[hs->n++];
    h->owner = s->owner;
    h->group = s->group;
    h->sub_id = s->sub_id;
    h->options = s->options;
    size_t n = flen < sizeof h->filter - 1 ? flen : sizeof h->filter - 1;
    memcpy(h->filter, filter, n);
    h->filter[n] = '\0';
}

static hits smatch(const moat_subtree *t, const char *topic)
{
    hits hs = {.n = 0};
    moat_subtree_match(t, topic, strlen(topic), collect, &hs);
    return hs;
}

/* Does the result contain (filter, owner) with this sub_id? */
static bool has(const hits *hs, const char *filter, void *owner, uint32_t sub_id)
{
    for (int i = 0; i < hs->n; i++)
        if (strcmp(hs->h[i].filter, filter) == 0 && hs->h[i].owner == owner &&
            hs->h[i].sub_id == sub_id)
            return true;
    return false;
}

static moat_err sadd(moat_subtree *t, const char *f, void *owner, const char *g, uint32_t id,
                     bool *replaced)
{
    return moat_subtree_add(t, f, strlen(f), owner, g, g ? strlen(g) : 0, (uint8_t)id, id,
                            replaced);
}

static moat_err sdel(moat_subtree *t, const char *f, void *owner, const char *g)
{
    return moat_subtree_remove(t, f, strlen(f), owner, g, g ? strlen(g) : 0);
}

static int A, B, C; /* three sessions */

static void test_subtree_add_replace_remove(void)
{
    moat_subtree *t;
    size_t heap0 = heap_bytes();
    CHECK_EQ(moat_subtree_new(&t), MOAT_OK);
    bool rep = true;
    CHECK_EQ(sadd(t, "sport/tennis/+", &A, NULL, 1, &rep), MOAT_OK);
    CHECK(!rep);
    CHECK_EQ(sadd(t, "sport/tennis/+", &B, NULL, 2, &rep), MOAT_OK);
    CHECK(!rep);
    CHECK_EQ(moat_subtree_count(t), 2);

    /* Same (filter, owner, group): replaced in place. */
    CHECK_EQ(sadd(t, "sport/tennis/+", &A, NULL, 7, &rep), MOAT_OK);
    CHECK(rep);
    CHECK_EQ(moat_subtree_count(t), 2);
    hits hs = smatch(t, "sport/tennis/player1");
    CHECK_EQ(hs.n, 2);
    CHECK(has(&hs, "sport/tennis/+", &A, 7));
    CHECK(has(&hs, "sport/tennis/+", &B, 2));
    CHECK(!has(&hs, "sport/tennis/+", &A, 1));

    /* A group makes a distinct key for the same owner. */
    CHECK_EQ(sadd(t, "sport/tennis/+", &A, "g1", 3, &rep), MOAT_OK);
    CHECK(!rep);
    CHECK_EQ(sadd(t, "sport/tennis/+", &A, "g2", 4, &rep), MOAT_OK);
    CHECK(!rep);
    CHECK_EQ(sadd(t, "sport/tennis/+", &A, "g1", 5, NULL), MOAT_OK);
    CHECK_EQ(moat_subtree_count(t), 4);
    hs = smatch(t, "sport/tennis/x");
    CHECK_EQ(hs.n, 4);
    int grouped = 0;
    for (int i = 0; i < hs.n; i++)
        if (hs.h[i].group) {
            grouped++;
            CHECK(strcmp(hs.h[i].group, "g1") == 0 || strcmp(hs.h[i].group, "g2") == 0);
        }
    CHECK_EQ(grouped, 2);

    /* An empty group is no group (share_parse never yields one); a group
     * with NUL in it is refused. */
    CHECK_EQ(moat_subtree_add(t, S("sport/tennis/+"), &B, "", 0, 2, 2, &rep), MOAT_OK);
    CHECK(rep);
    CHECK_EQ(moat_subtree_add(t, S("sport/tennis/+"), &B, S("g\0"), 0, 2, NULL), MOAT_ETOPIC);
    CHECK_EQ(moat_subtree_count(t), 4);

    /* Invalid filters are refused; removal of unknown keys reports so. */
    CHECK_EQ(sadd(t, "a/#/b", &A, NULL, 1, NULL), MOAT_ETOPIC);
    CHECK_EQ(sadd(t, "", &A, NULL, 1, NULL), MOAT_ETOPIC);
    CHECK_EQ(sdel(t, "sport/tennis/+", &C, NULL), MOAT_ENOTFOUND);
    CHECK_EQ(sdel(t, "sport/tennis/+", &A, "g3"), MOAT_ENOTFOUND);
    CHECK_EQ(sdel(t, "sport/tennis", &A, NULL), MOAT_ENOTFOUND);
    CHECK_EQ(sdel(t, "sport/tennis/+/x", &A, NULL), MOAT_ENOTFOUND);

    CHECK_EQ(sdel(t, "sport/tennis/+", &A, "g1"), MOAT_OK);
    CHECK_EQ(sdel(t, "sport/tennis/+", &A, "g1"), MOAT_ENOTFOUND);
    CHECK_EQ(sdel(t, "sport/tennis/+", &A, NULL), MOAT_OK);
    CHECK_EQ(sdel(t, "sport/tennis/+", &B, NULL), MOAT_OK);
    CHECK_EQ(sdel(t, "sport/tennis/+", &A, "g2"), MOAT_OK);
    CHECK_EQ(moat_subtree_count(t), 0);
    CHECK_EQ(smatch(t, "sport/tennis/x").n, 0);
    moat_subtree_free(t);
    CHECK_EQ(heap_bytes(), heap0);
}

static void test_subtree_overlapping_filters(void)
{
    moat_subtree *t;
    CHECK_EQ(moat_subtree_new(&t), MOAT_OK);
    /* One session, several filters matching the same topic: one callback
     * each (deduplication is the broker's job). */
    const char *fs[] = {
        "sport/tennis/player1", "sport/tennis/+",  "sport/#", "#",
        "+/tennis/#",           "sport/+/player1", "+/+/+",   "sport/tennis/player1/#"};
    const int nf = (int)(sizeof fs / sizeof fs[0]);
    for (int i = 0; i < nf; i++)
        CHECK_EQ(sadd(t, fs[i], &A, NULL, (uint32_t)i + 1, NULL), MOAT_OK);
    CHECK_EQ(sadd(t, "sport/tennis", &B, NULL, 100, NULL), MOAT_OK);
    CHECK_EQ(sadd(t, "sport/+", &B, NULL, 101, NULL), MOAT_OK);

    hits hs = smatch(t, "sport/tennis/player1");
    CHECK_EQ(hs.n, nf);
    for (int i = 0; i < nf; i++)
        CHECK(has(&hs, fs[i], &A, (uint32_t)i + 1));

    hs = smatch(t, "sport/tennis");
    CHECK_EQ(hs.n, 5); /* sport/#, #, +/tennis/#, sport/tennis, sport/+ */
    CHECK(has(&hs, "sport/#", &A, 3));
    CHECK(has(&hs, "#", &A, 4));
    CHECK(has(&hs, "+/tennis/#", &A, 5));
    CHECK(has(&hs, "sport/tennis", &B, 100));
    CHECK(has(&hs, "sport/+", &B, 101));

    hs = smatch(t, "sport");
    CHECK_EQ(hs.n, 2); /* "sport/#" matches its parent level, and "#" */
    CHECK(has(&hs, "sport/#", &A, 3));

    /* Removing one filter leaves the others. */
    CHECK_EQ(sdel(t, "sport/#", &A, NULL), MOAT_OK);
    hs = smatch(t, "sport");
    CHECK_EQ(hs.n, 1);
    CHECK(has(&hs, "#", &A, 4));
    moat_subtree_free(t); /* frees what is still subscribed */
}

static void test_subtree_dollar_topics(void)
{
    moat_subtree *t;
    CHECK_EQ(moat_subtree_new(&t), MOAT_OK);
    CHECK_EQ(sadd(t, "#", &A, NULL, 1, NULL), MOAT_OK);
    CHECK_EQ(sadd(t, "+/monitor/Clients", &A, NULL, 2, NULL), MOAT_OK);
    CHECK_EQ(sadd(t, "$SYS/#", &A, NULL, 3, NULL), MOAT_OK);
    CHECK_EQ(sadd(t, "$SYS/monitor/+", &A, NULL, 4, NULL), MOAT_OK);
    CHECK_EQ(sadd(t, "+/+/+", &A, NULL, 5, NULL), MOAT_OK);

    hits hs = smatch(t, "$SYS/monitor/Clients");
    CHECK_EQ(hs.n, 2);
    CHECK(has(&hs, "$SYS/#", &A, 3));
    CHECK(has(&hs, "$SYS/monitor/+", &A, 4));

    hs = smatch(t, "x/monitor/Clients");
    CHECK_EQ(hs.n, 3);
    CHECK(has(&hs, "#", &A, 1));
    CHECK(has(&hs, "+/monitor/Clients", &A, 2));
    CHECK(has(&hs, "+/+/+", &A, 5));
    moat_subtree_free(t);
}

/* Counts deliveries per session of test_subtree_many_subscribers. */
typedef struct fan {
    const char *owners;
    unsigned char got[3000];
    int total;
} fan;

static void fan_cb(void *ctx, const moat_sub *s, const char *filter, size_t flen)
{
    fan *f = ctx;
    (void)filter;
    (void)flen;
    f->got[(const char *)s->owner - f->owners]++;
    f->total++;
}

static void test_subtree_many_subscribers(void)
{
    /* Thousands of sessions on one filter, removed in a scattered order:
     * exercises the per-node subscription index. */
    enum { N = 3000 };
    static char owners[N];
    static fan f;
    moat_subtree *t;
    size_t heap0 = heap_bytes();
    CHECK_EQ(moat_subtree_new(&t), MOAT_OK);
    for (int i = 0; i < N; i++)
        CHECK_EQ(sadd(t, "fan/out", &owners[i], i % 7 ? NULL : "g", (uint32_t)i, NULL), MOAT_OK);
    for (int i = 0; i < N; i += 3) /* replace a third: no growth */
        CHECK_EQ(sadd(t, "fan/out", &owners[i], i % 7 ? NULL : "g", (uint32_t)i, NULL), MOAT_OK);
    CHECK_EQ(moat_subtree_count(t), N);
    for (int k = 0; k < N; k++) {
        int i = (int)((k * 1237L) % N); /* 1237 is coprime with N */
        CHECK_EQ(sdel(t, "fan/out", &owners[i], i % 7 ? "g" : NULL), MOAT_ENOTFOUND);
        CHECK_EQ(sdel(t, "fan/out", &owners[i], i % 7 ? NULL : "g"), MOAT_OK);
        if (k == N / 2) {
            /* Every session still subscribed gets exactly one delivery. */
            memset(&f, 0, sizeof f);
            f.owners = owners;
            moat_subtree_match(t, S("fan/out"), fan_cb, &f);
            CHECK_EQ(f.total, N - N / 2 - 1);
            CHECK_EQ(moat_subtree_count(t), (size_t)f.total);
            int wrong = 0;
            for (int j = 0; j <= k; j++)
                wrong += f.got[(j * 1237L) % N] != 0;
            for (int j = 0; j < N; j++)
                wrong += f.got[j] > 1;
            CHECK_EQ(wrong, 0);
        }
    }
    CHECK_EQ(moat_subtree_count(t), 0);
    moat_subtree_free(t);
    CHECK_EQ(heap_bytes(), heap0);
}

static void test_subtree_wide_and_deep(void)
{
    moat_subtree *t;
    CHECK_EQ(moat_subtree_new(&t), MOAT_OK);
    size_t heap0 = heap_bytes();
    /* Many siblings: the children table, growth and deletion. */
    char f[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(f, sizeof f, "dev/%d/temp", i);
        CHECK_EQ(sadd(t, f, &A, NULL, (uint32_t)i, NULL), MOAT_OK);
    }
    hits hs = smatch(t, "dev/4321/temp");
    CHECK(hs.n == 1 && has(&hs, "dev/4321/temp", &A, 4321));
    for (int i = 0; i < 5000; i += 2) {
        snprintf(f, sizeof f, "dev/%d/temp", i);
        CHECK_EQ(sdel(t, f, &A, NULL), MOAT_OK);
    }
    CHECK_EQ(smatch(t, "dev/4320/temp").n, 0);
    hs = smatch(t, "dev/4321/temp");
    CHECK(hs.n == 1 && has(&hs, "dev/4321/temp", &A, 4321));
    for (int i = 1; i < 5000; i += 2) {
        snprintf(f, sizeof f, "dev/%d/temp", i);
        CHECK_EQ(sdel(t, f, &A, NULL), MOAT_OK);
    }
    CHECK_EQ(heap_bytes(), heap0); /* every node pruned, the root's table too */

    /* 30000 levels: matching must not recurse per level. */
    enum { L = 30000 };
    char *deep = malloc(2 * L);
    for (int i = 0; i < L; i++) {
        deep[2 * i] = i % 2 ? '+' : 'a';
        deep[2 * i + 1] = '/';
    }
    deep[2 * L - 1] = '\0';
    CHECK_EQ(moat_subtree_add(t, deep, 2 * L - 1, &A, NULL, 0, 0, 9, NULL), MOAT_OK);
    deep[2 * L - 2] = '#';
    CHECK_EQ(moat_subtree_add(t, deep, 2 * L - 1, &B, NULL, 0, 0, 10, NULL), MOAT_OK);
    for (int i = 0; i < L; i++)
        deep[2 * i] = 'a';
    hits dh = {.n = 0};
    moat_subtree_match(t, deep, 2 * L - 1, collect, &dh);
    CHECK_EQ(dh.n, 2);
    moat_subtree_free(t);
    free(deep);
}

/* Random filters and topics over a small vocabulary, so that they overlap a
 * lot; the tree must report exactly what a brute-force scan reports. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *const vocab[] = {"a",  "b",  "c",  "",   "sport", "$SYS", "$x", "d0", "d1", "d2",
                                    "d3", "d4", "d5", "d6", "d7",    "d8",   "d9", "e0", "e1", "e2",
                                    "e3", "e4", "e5", "e6", "e7",    "e8",   "e9", "f"};

static void rand_topic(char *out, size_t cap, uint32_t words, bool wild)
{
    size_t len = 0;
    uint32_t levels = 1 + rnd(5);
    out[0] = '\0';
    for (uint32_t l = 0; l < levels; l++) {
        const char *w = vocab[rnd(words)];
        if ((w[0] == '$' && l > 0) || (w[0] == '\0' && levels == 1))
            w = "a"; /* '$' only leads; "" alone is not a topic */
        if (wild && rnd(4) == 0)
            w = "+";
        if (wild && l == levels - 1 && rnd(5) == 0)
            w = "#";
        len += (size_t)snprintf(out + len, cap - len, "%s%s", l ? "/" : "", w);
    }
}

typedef struct ssh {
    char filter[64];
    void *owner;
    const char *group;
    bool live;
} ssh;

typedef struct xcheck {
    const ssh *shadow;
    unsigned char *seen;
    int bad;
} xcheck;

/* sub_id is index + 1 into the shadow, which names the expected entry. */
static void xcheck_cb(void *ctx, const moat_sub *s, const char *filter, size_t flen)
{
    xcheck *x = ctx;
    const ssh *e = &x->shadow[s->sub_id - 1];
    bool same_group =
        (!e->group && !s->group) || (e->group && s->group && strcmp(e->group, s->group) == 0);
    if (!e->live || e->owner != s->owner || !same_group || strlen(e->filter) != flen ||
        memcmp(e->filter, filter, flen) != 0 || x->seen[s->sub_id - 1]++)
        x->bad++;
}

static int find_shadow(const ssh *sh, int n, const char *f, void *owner, const char *g)
{
    for (int i = 0; i < n; i++)
        if (sh[i].live && sh[i].owner == owner && sh[i].group == g && strcmp(sh[i].filter, f) == 0)
            return i;
    return -1;
}

static void subtree_random_round(uint32_t words, int nsubs, int ntopics)
{
    static const char *const groups[] = {NULL, NULL, NULL, "g1", "g2"};
    static char owners[40];
    ssh *sh = calloc((size_t)nsubs, sizeof *sh);
    unsigned char *seen = calloc((size_t)nsubs, 1);
    moat_subtree *t;
    size_t heap0 = heap_bytes();
    CHECK_EQ(moat_subtree_new(&t), MOAT_OK);
    int n = 0;
    for (int i = 0; i < nsubs; i++) {
        ssh *e = &sh[n];
        rand_topic(e->filter, sizeof e->filter, words, true);
        e->owner = &owners[rnd(40)];
        e->group = groups[rnd(5)];
        int dup = find_shadow(sh, n, e->filter, e->owner, e->group);
        bool rep;
        CHECK_EQ(sadd(t, e->filter, e->owner, e->group, (uint32_t)(dup >= 0 ? dup : n) + 1, &rep),
                 MOAT_OK);
        CHECK_EQ(rep, dup >= 0);
        if (dup < 0)
            sh[n++].live = true;
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t live = 0;
        for (int i = 0; i < n; i++)
            live += sh[i].live;
        CHECK_EQ(moat_subtree_count(t), live);
        for (int k = 0; k < ntopics; k++) {
            char topic[64];
            rand_topic(topic, sizeof topic, words, false);
            xcheck x = {sh, seen, 0};
            memset(seen, 0, (size_t)nsubs);
            moat_subtree_match(t, topic, strlen(topic), xcheck_cb, &x);
            CHECK_EQ(x.bad, 0);
            int missing = 0;
            for (int i = 0; i < n; i++)
                missing += sh[i].live && !seen[i] && match(sh[i].filter, topic);
            for (int i = 0; i < n; i++)
                missing += seen[i] && !match(sh[i].filter, topic);
            CHECK_EQ(missing, 0);
        }
        /* Second pass: after removing about half. */
        for (int i = 0; i < n; i++)
            if (sh[i].live && rnd(2)) {
                CHECK_EQ(sdel(t, sh[i].filter, sh[i].owner, sh[i].group), MOAT_OK);
                sh[i].live = false;
            }
    }
    for (int i = 0; i < n; i++)
        if (sh[i].live)
            CHECK_EQ(sdel(t, sh[i].filter, sh[i].owner, sh[i].group), MOAT_OK);
    CHECK_EQ(moat_subtree_count(t), 0);
    moat_subtree_free(t);
    CHECK_EQ(heap_bytes(), heap0);
    free(sh);
    free(seen);
}

static void test_subtree_random_crosscheck(void)
{
    subtree_random_round(7, 3000, 3000);  /* few words: deep overlap */
    subtree_random_round(28, 4000, 3000); /* wider nodes, more tables */
}

/* ------------------------------------------------------------ rettree */

typedef struct rhits {
    char topic[8][64];
    void *value[8];
    int n;
    int unterminated;
} rhits;

static void rcollect(void *ctx, const char *topic, size_t tlen, void *value)
{
    rhits *r = ctx;
    if (topic[tlen] != '\0')
        r->unterminated++;
    if (r->n == 8 || tlen >= 64)
        return;
    memcpy(r->topic[r->n], topic, tlen + 1);
    r->value[r->n++] = value;
}

static rhits rmatch(const moat_rettree *t, const char *filter)
{
    rhits r = {.n = 0};
    moat_rettree_match(t, filter, strlen(filter), rcollect, &r);
    return r;
}

static bool rhas(const rhits *r, const char *topic, void *value)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->topic[i], topic) == 0 && r->value[i] == value)
            return true;
    return false;
}

static moat_err rset(moat_rettree *t, const char *topic, void *v, void **old)
{
    return moat_rettree_set(t, topic, strlen(topic), v, old);
}

static void test_rettree_set_get_del(void)
{
    moat_rettree *t;
    size_t heap0 = heap_bytes();
    CHECK_EQ(moat_rettree_new(&t), MOAT_OK);
    void *old = &A;
    CHECK_EQ(rset(t, "sport/tennis", &A, &old), MOAT_OK);
    CHECK(old == NULL);
    CHECK_EQ(rset(t, "sport/tennis", &B, &old), MOAT_OK);
    CHECK(old == &A);
    CHECK_EQ(moat_rettree_count(t), 1);
    CHECK(moat_rettree_get(t, S("sport/tennis")) == &B);
    CHECK(moat_rettree_get(t, S("sport")) == NULL);
    CHECK(moat_rettree_get(t, S("sport/tennis/x")) == NULL);
    CHECK_EQ(rset(t, "sport", &C, NULL), MOAT_OK);
    CHECK_EQ(moat_rettree_count(t), 2);
    CHECK_EQ(rset(t, "sport/#", &C, NULL), MOAT_ETOPIC);
    CHECK_EQ(rset(t, "", &C, NULL), MOAT_ETOPIC);

    /* Storing NULL deletes: NULL is what get() says when there is nothing. */
    CHECK_EQ(rset(t, "sport", NULL, &old), MOAT_OK);
    CHECK(old == &C);
    CHECK_EQ(moat_rettree_count(t), 1);

    CHECK(moat_rettree_del(t, S("sport/tennis/x")) == NULL);
    CHECK(moat_rettree_del(t, S("sport")) == NULL);
    CHECK(moat_rettree_del(t, S("sport/tennis")) == &B);
    CHECK(moat_rettree_del(t, S("sport/tennis")) == NULL);
    CHECK_EQ(moat_rettree_count(t), 0);
    moat_rettree_free(t, NULL);
    CHECK_EQ(heap_bytes(), heap0);
}

static void test_rettree_match(void)
{
    moat_rettree *t;
    CHECK_EQ(moat_rettree_new(&t), MOAT_OK);
    static int v[8];
    const char *topics[] = {"sport",
                            "sport/tennis/player1",
                            "sport/tennis/player2",
                            "sport/",
                            "/finance",
                            "$SYS/broker/load",
                            "$SYS",
                            "a/$x"};
    for (int i = 0; i < 8; i++)
        CHECK_EQ(rset(t, topics[i], &v[i], NULL), MOAT_OK);

    rhits r = rmatch(t, "#");
    CHECK_EQ(r.n, 6); /* all but the two "$SYS" ones */
    CHECK(!rhas(&r, "$SYS", &v[6]));
    CHECK(rhas(&r, "a/$x", &v[7]));
    CHECK_EQ(r.unterminated, 0);

    r = rmatch(t, "sport/#");
    CHECK_EQ(r.n, 4);
    CHECK(rhas(&r, "sport", &v[0]));
    CHECK(rhas(&r, "sport/", &v[3]));

    r = rmatch(t, "sport/tennis/+");
    CHECK_EQ(r.n, 2);
    CHECK(rhas(&r, "sport/tennis/player1", &v[1]));
    CHECK(rhas(&r, "sport/tennis/player2", &v[2]));

    r = rmatch(t, "sport/+");
    CHECK_EQ(r.n, 1);
    CHECK(rhas(&r, "sport/", &v[3]));

    r = rmatch(t, "+/+");
    CHECK_EQ(r.n, 3); /* sport/, /finance, a/$x */
    CHECK(rhas(&r, "/finance", &v[4]));

    r = rmatch(t, "+");
    CHECK_EQ(r.n, 1);
    CHECK(rhas(&r, "sport", &v[0]));

    r = rmatch(t, "$SYS/#");
    CHECK_EQ(r.n, 2);
    CHECK(rhas(&r, "$SYS", &v[6]));
    CHECK(rhas(&r, "$SYS/broker/load", &v[5]));
    CHECK_EQ(rmatch(t, "+/broker/+").n, 0);
    CHECK_EQ(rmatch(t, "$SYS/+/load").n, 1);
    CHECK_EQ(rmatch(t, "sport/tennis/player1").n, 1);
    CHECK_EQ(rmatch(t, "sport/tennis").n, 0);
    CHECK_EQ(rmatch(t, "nothing/#").n, 0);
    moat_rettree_free(t, NULL);
}

static int freed;
static void count_free(void *v)
{
    (void)v;
    freed++;
}

static void test_rettree_storm(void)
{
    /* 20000 retained topics: "#" sees them all, each exactly once. */
    moat_rettree *t;
    CHECK_EQ(moat_rettree_new(&t), MOAT_OK);
    char topic[48];
    for (int i = 0; i < 20000; i++) {
        snprintf(topic, sizeof topic, "site/%d/dev/%d", i % 100, i);
        CHECK_EQ(rset(t, topic, (void *)(uintptr_t)(i + 1), NULL), MOAT_OK);
    }
    CHECK_EQ(moat_rettree_count(t), 20000);
    rhits r = {.n = 0};
    moat_rettree_match(t, S("#"), rcollect, &r);
    CHECK_EQ(r.n, 8); /* rcollect keeps 8 */
    moat_rettree_free(t, count_free);
    CHECK_EQ(freed, 20000);
}

typedef struct rsh {
    char topic[64];
    bool live;
} rsh;

typedef struct rxcheck {
    const rsh *shadow;
    unsigned char *seen;
    int bad;
} rxcheck;

static void rxcheck_cb(void *ctx, const char *topic, size_t tlen, void *value)
{
    rxcheck *x = ctx;
    size_t i = (size_t)(uintptr_t)value - 1;
    const rsh *e = &x->shadow[i];
    if (!e->live || strlen(e->topic) != tlen || memcmp(e->topic, topic, tlen + 1) != 0 ||
        x->seen[i]++)
        x->bad++;
}

static void rettree_random_round(uint32_t words, int ntopics, int nfilters)
{
    rsh *sh = calloc((size_t)ntopics, sizeof *sh);
    unsigned char *seen = calloc((size_t)ntopics, 1);
    moat_rettree *t;
    size_t heap0 = heap_bytes();
    CHECK_EQ(moat_rettree_new(&t), MOAT_OK);
    int n = 0;
    for (int i = 0; i < ntopics; i++) {
        rand_topic(sh[n].topic, sizeof sh[n].topic, words, false);
        void *cur = moat_rettree_get(t, sh[n].topic, strlen(sh[n].topic));
        void *old = &A;
        size_t slot = cur ? (size_t)(uintptr_t)cur - 1 : (size_t)n;
        CHECK_EQ(rset(t, sh[n].topic, (void *)(uintptr_t)(slot + 1), &old), MOAT_OK);
        CHECK(old == cur);
        if (!cur)
            sh[n++].live = true;
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t live = 0;
        for (int i = 0; i < n; i++)
            live += sh[i].live;
        CHECK_EQ(moat_rettree_count(t), live);
        for (int k = 0; k < nfilters; k++) {
            char filter[64];
            rand_topic(filter, sizeof filter, words, true);
            rxcheck x = {sh, seen, 0};
            memset(seen, 0, (size_t)ntopics);
            moat_rettree_match(t, filter, strlen(filter), rxcheck_cb, &x);
            CHECK_EQ(x.bad, 0);
            int wrong = 0;
            for (int i = 0; i < n; i++)
                wrong += (sh[i].live && match(filter, sh[i].topic)) != (seen[i] != 0);
            CHECK_EQ(wrong, 0);
        }
        for (int i = 0; i < n; i++)
            if (rnd(2)) {
                void *v = moat_rettree_del(t, sh[i].topic, strlen(sh[i].topic));
                CHECK(v == (sh[i].live ? (void *)(uintptr_t)(i + 1) : NULL));
                sh[i].live = false;
            }
    }
    for (int i = 0; i < n; i++)
        if (sh[i].live)
            CHECK(moat_rettree_del(t, sh[i].topic, strlen(sh[i].topic)) != NULL);
    CHECK_EQ(moat_rettree_count(t), 0);
    moat_rettree_free(t, NULL);
    CHECK_EQ(heap_bytes(), heap0);
    free(sh);
    free(seen);
}

static void test_rettree_random_crosscheck(void)
{
    rettree_random_round(7, 2000, 3000);
    rettree_random_round(28, 5000, 3000);
}

int main(void)
{
    TEST(test_name_validity);
    TEST(test_filter_validity);
    TEST(test_length_limit);
    TEST(test_max_levels);
    TEST(test_match_multi_level_wildcard);
    TEST(test_match_single_level_wildcard);
    TEST(test_match_literal);
    TEST(test_match_dollar_topics);
    TEST(test_share_parse);
    TEST(test_subtree_add_replace_remove);
    TEST(test_subtree_overlapping_filters);
    TEST(test_subtree_dollar_topics);
    TEST(test_subtree_many_subscribers);
    TEST(test_subtree_wide_and_deep);
    TEST(test_subtree_random_crosscheck);
    TEST(test_rettree_set_get_del);
    TEST(test_rettree_match);
    TEST(test_rettree_storm);
    TEST(test_rettree_random_crosscheck);
    return test_summary("topic");
}
