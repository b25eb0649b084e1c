/* SPDX-License-Identifier: Apache-2.0 */
/* Topic validation and matching, and the two level-tries built on them.
 *
 * Both tries share one node header (tnode): a node is one topic level; its
 * named children live in a dense array (cheap to iterate for '+' and '#') and,
 * once there are more than a few, also in an open-addressing table (cheap to
 * look up for a literal level). A node stores its own level inline; only a
 * node that carries subscriptions or a retained value also stores the whole
 * filter/topic (NUL-terminated, handed to callbacks as is). Storing it in
 * every node would cost O(depth^2) for one deep filter.
 *
 * Matching never allocates and never recurses: the walk goes down the trie
 * and comes back up through parent pointers, recomputing its position in the
 * input string from the '/' separators. With no configured level limit a
 * filter may have 32k levels, which must not cost 32k stack frames. */
#include "mqtt/topic.h"

#include <stdlib.h>
#include <string.h>

#define TOPIC_MAX_LEN 65535u
#define KIDS_SMALL 8  /* up to this many children: linear scan, no table */
#define SUBS_SMALL 8  /* up to this many subscriptions: linear scan, no index */
#define TABLE_MIN 32u /* first table size; kept at most half full */

/* ------------------------------------------------------------ strings */

static bool span_eq(const char *a, const char *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

/* End (index of '/' or len) of the level starting at i. */
static size_t level_end(const char *s, size_t len, size_t i)
{
    if (i >= len)
        return len;
    const char *slash = memchr(s + i, '/', len - i);
    return slash ? (size_t)(slash - s) : len;
}

/* Start of the level that ends at end (a '/' index or the string length). */
static size_t level_start(const char *s, size_t end)
{
    while (end > 0 && s[end - 1] != '/')
        end--;
    return end;
}

static bool is_level(const char *s, size_t i, size_t j, char c)
{
    return j - i == 1 && s[i] == c;
}

/* ------------------------------------------------------------ validation */

static bool levels_ok(size_t slashes, unsigned max_levels)
{
    return max_levels == 0 || slashes < max_levels;
}

bool mqtt_topic_name_valid(const char *t, size_t len, unsigned max_levels)
{
    if (!t || len == 0 || len > TOPIC_MAX_LEN)
        return false;
    size_t slashes = 0;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (c == '+' || c == '#' || c == '\0')
            return false;
        slashes += c == '/';
    }
    return levels_ok(slashes, max_levels);
}

/* One filter level [i, j): a wildcard must be the whole level, and '#' the
 * last one. */
static bool filter_level_ok(const char *f, size_t i, size_t j, bool last)
{
    for (size_t k = i; k < j; k++) {
        char c = f[k];
        if (c == '\0')
            return false;
        if ((c == '+' || c == '#') && j - i != 1)
            return false;
        if (c == '#' && !last)
            return false;
    }
    return true;
}

bool mqtt_topic_filter_valid(const char *f, size_t len, unsigned max_levels)
{
    if (!f || len == 0 || len > TOPIC_MAX_LEN)
        return false;
    size_t slashes = 0;
    for (size_t i = 0;;) {
        size_t j = level_end(f, len, i);
        if (!filter_level_ok(f, i, j, j == len))
            return false;
        if (j == len)
            break;
        slashes++;
        i = j + 1;
    }
    return levels_ok(slashes, max_levels);
}

bool mqtt_topic_match(const char *filter, size_t flen, const char *topic, size_t tlen)
{
    if (!filter || flen == 0)
        return false;
    if (!topic || tlen == 0) {
        topic = "";
        tlen = 0;
    }
    /* MQTT 5.0 4.7.2: wildcards at the first level don't reach "$..." topics. */
    if (tlen > 0 && topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
        return false;
    size_t fi = 0, ti = 0;
    for (;;) {
        size_t fj = level_end(filter, flen, fi);
        /* '#' also matches the parent level: "a/#" matches "a". */
        if (is_level(filter, fi, fj, '#'))
            return true;
        if (ti > tlen)
            return false;
        size_t tj = level_end(topic, tlen, ti);
        if (!is_level(filter, fi, fj, '+') &&
            (fj - fi != tj - ti || !span_eq(filter + fi, topic + ti, fj - fi)))
            return false;
        fi = fj + 1;
        ti = tj + 1;
        if (fi > flen)
            return ti > tlen;
    }
}

moat_err mqtt_share_parse(const char *f, size_t len, const char **group, size_t *glen,
                          const char **filter, size_t *flen)
{
    static const char prefix[] = "$share/";
    const size_t plen = sizeof prefix - 1;
    if (!f || len < plen || memcmp(f, prefix, plen) != 0)
        return MOAT_ENOTFOUND;
    const char *g = f + plen;
    size_t rest = len - plen;
    const char *slash = memchr(g, '/', rest);
    if (!slash || slash == g)
        return MOAT_ETOPIC;
    size_t gl = (size_t)(slash - g);
    for (size_t i = 0; i < gl; i++)
        if (g[i] == '+' || g[i] == '#' || g[i] == '\0')
            return MOAT_ETOPIC;
    const char *fl = slash + 1;
    size_t fll = rest - gl - 1;
    if (!mqtt_topic_filter_valid(fl, fll, 0))
        return MOAT_ETOPIC;
    if (group)
        *group = g;
    if (glen)
        *glen = gl;
    if (filter)
        *filter = fl;
    if (flen)
        *flen = fll;
    return MOAT_OK;
}

/* ------------------------------------------------------------ hashing */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Keyed with a per-tree seed so that clients can't easily precompute level
 * names that all land in one probe chain. */
static uint32_t bytes_hash(uint64_t seed, const char *k, size_t len)
{
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, k, 8);
        h = (h ^ w) * 0x9fb21c651e98df25ULL;
        h ^= h >> 29;
        k += 8;
        len -= 8;
    }
    if (len) {
        uint64_t w = 0;
        memcpy(&w, k, len);
        h = (h ^ w) * 0x9fb21c651e98df25ULL;
    }
    return (uint32_t)mix64(h);
}

static uint64_t tree_seed(const void *tree)
{
    static const int anchor;
    /* Heap and image addresses vary per run under ASLR; no syscall needed. */
    return mix64((uint64_t)(uintptr_t)tree ^ ((uint64_t)(uintptr_t)&anchor << 17));
}

/* Linear probing, backward-shift deletion: may the entry at slot j whose home
 * slot is home move back into the hole? Only if that keeps it at or after its
 * home slot, i.e. the hole lies within its probe run. */
static bool probe_can_fill(uint32_t hole, uint32_t j, uint32_t home, uint32_t mask)
{
    return ((j - home) & mask) >= ((j - hole) & mask);
}

static uint32_t table_size_for(uint32_t n)
{
    uint32_t size = TABLE_MIN;
    while (size < 4 * n)
        size *= 2;
    return size;
}

/* ------------------------------------------------------------ trie nodes */

typedef struct tnode tnode;
struct tnode {
    tnode *parent;
    tnode **kv;      /* named children, dense; kin until more than two */
    tnode **tab;     /* index over kv once kn > KIDS_SMALL, else NULL */
    const char *key; /* this level, in the same allocation */
    char *path;      /* whole filter/topic when the node has a payload, else NULL */
    uint32_t kn;     /* children in kv */
    uint32_t kcap;   /* capacity of kv */
    uint32_t tmask;
    uint32_t didx; /* position in parent->kv */
    uint32_t hash; /* of the key */
    uint32_t klen;
    uint32_t plen;
    /* Most nodes have one or two children (".../temp", ".../status"): keep
     * them in the node and save an allocation and a cache miss per level. */
    tnode *kin[2];
};

static const char *tkey(const tnode *n)
{
    return n->key;
}

/* One allocation holds the node (of size bytes) and its key. */
static void *node_new(size_t size, tnode *parent, const char *key, size_t klen)
{
    tnode *n = calloc(1, size + klen + 1);
    if (!n)
        return NULL;
    char *k = (char *)n + size;
    if (klen)
        memcpy(k, key, klen);
    n->parent = parent;
    n->key = k;
    n->klen = (uint32_t)klen;
    return n;
}

static moat_err path_set(tnode *n, const char *s, size_t len)
{
    if (n->path)
        return MOAT_OK;
    n->path = malloc(len + 1);
    if (!n->path)
        return MOAT_ENOMEM;
    memcpy(n->path, s, len);
    n->path[len] = '\0';
    n->plen = (uint32_t)len;
    return MOAT_OK;
}

static void path_clear(tnode *n)
{
    free(n->path);
    n->path = NULL;
    n->plen = 0;
}

static void kids_release(tnode *n)
{
    if (n->kv != n->kin)
        free(n->kv);
    free(n->tab);
    n->kv = n->tab = NULL;
    n->kn = n->kcap = n->tmask = 0;
}

static tnode *kid_find(const tnode *n, const char *k, size_t klen, uint64_t seed)
{
    if (!n->tab) {
        for (uint32_t i = 0; i < n->kn; i++) {
            tnode *c = n->kv[i];
            if (c->klen == klen && span_eq(tkey(c), k, klen))
                return c;
        }
        return NULL;
    }
    uint32_t h = bytes_hash(seed, k, klen);
    for (uint32_t s = h & n->tmask;; s = (s + 1) & n->tmask) {
        tnode *c = n->tab[s];
        if (!c || (c->hash == h && c->klen == klen && span_eq(tkey(c), k, klen)))
            return c;
    }
}

static void tab_put(tnode **tab, uint32_t mask, tnode *c)
{
    uint32_t s = c->hash & mask;
    while (tab[s])
        s = (s + 1) & mask;
    tab[s] = c;
}

/* Make room for one more child so that kids_commit cannot fail. */
static moat_err kids_reserve(tnode *n)
{
    if (n->kcap == 0) {
        n->kv = n->kin;
        n->kcap = 2;
    } else if (n->kn == n->kcap) {
        uint32_t cap = n->kcap * 2;
        tnode **kv = realloc(n->kv == n->kin ? NULL : n->kv, cap * sizeof *kv);
        if (!kv)
            return MOAT_ENOMEM;
        if (n->kv == n->kin)
            memcpy(kv, n->kin, sizeof n->kin);
        n->kv = kv;
        n->kcap = cap;
    }
    uint32_t want = n->kn + 1;
    if (want <= KIDS_SMALL || (n->tab && 2 * want <= n->tmask + 1))
        return MOAT_OK;
    uint32_t size = table_size_for(want);
    tnode **tab = calloc(size, sizeof *tab);
    if (!tab)
        return MOAT_ENOMEM;
    for (uint32_t i = 0; i < n->kn; i++)
        tab_put(tab, size - 1, n->kv[i]);
    free(n->tab);
    n->tab = tab;
    n->tmask = size - 1;
    return MOAT_OK;
}

static void kids_commit(tnode *n, tnode *c)
{
    c->didx = n->kn;
    n->kv[n->kn++] = c;
    if (n->tab)
        tab_put(n->tab, n->tmask, c);
}

static void tab_erase(tnode *n, const tnode *c)
{
    uint32_t mask = n->tmask;
    uint32_t hole = c->hash & mask;
    while (n->tab[hole] != c)
        hole = (hole + 1) & mask;
    for (uint32_t j = (hole + 1) & mask; n->tab[j]; j = (j + 1) & mask) {
        if (probe_can_fill(hole, j, n->tab[j]->hash & mask, mask)) {
            n->tab[hole] = n->tab[j];
            hole = j;
        }
    }
    n->tab[hole] = NULL;
}

static void kids_remove(tnode *n, tnode *c)
{
    if (n->tab)
        tab_erase(n, c);
    tnode *last = n->kv[--n->kn];
    if (last != c) {
        n->kv[c->didx] = last;
        last->didx = c->didx;
    }
    if (n->kn == 0)
        kids_release(n);
}

/* Named child of n at or after position k; at the root a wildcard level skips
 * "$..." children (MQTT 5.0 4.7.2). */
static const tnode *kid_next(const tnode *n, uint32_t k, bool skip_dollar)
{
    for (; k < n->kn; k++) {
        const tnode *c = n->kv[k];
        if (!skip_dollar || c->klen == 0 || tkey(c)[0] != '$')
            return c;
    }
    return NULL;
}

/* ---------------------------------------------------------------- subtree */

/* A subscription plus the hash of its (owner, group) key. */
typedef struct sent {
    moat_sub s;
    uint32_t h;
} sent;

typedef struct snode {
    tnode b;
    struct snode *plus_kid; /* the '+' child */
    struct snode *hash_kid; /* the '#' child, always a leaf */
    sent *subs;             /* &one until a second subscription arrives */
    uint32_t *six;          /* once nsubs > SUBS_SMALL: slot -> subs index + 1, 0 = empty */
    uint32_t nsubs, csubs, simask;
    sent one; /* most filters have a single subscriber */
} snode;

struct moat_subtree {
    snode *root;
    size_t count;
    uint64_t seed;
};

static snode *sparent(const snode *n)
{
    return (snode *)n->b.parent;
}

static uint32_t sub_hash(uint64_t seed, const void *owner, const char *group, size_t glen)
{
    uint32_t h = (uint32_t)mix64((uint64_t)(uintptr_t)owner ^ seed);
    return group ? h ^ bytes_hash(seed, group, glen) : h;
}

/* stored is NUL-terminated without inner NULs; group is a (pointer, length)
 * span that may contain anything. */
static bool group_eq(const char *stored, const char *group, size_t glen)
{
    if (!stored || !group)
        return stored == group;
    for (size_t i = 0; i < glen; i++)
        if (stored[i] == '\0' || stored[i] != group[i])
            return false;
    return stored[glen] == '\0';
}

static bool sent_is(const sent *e, uint32_t h, const void *owner, const char *group, size_t glen)
{
    return e->h == h && e->s.owner == owner && group_eq(e->s.group, group, glen);
}

#define SUB_NONE UINT32_MAX

static uint32_t sub_find(const snode *n, uint32_t h, const void *owner, const char *group,
                         size_t glen)
{
    if (!n->six) {
        for (uint32_t i = 0; i < n->nsubs; i++)
            if (sent_is(&n->subs[i], h, owner, group, glen))
                return i;
        return SUB_NONE;
    }
    for (uint32_t s = h & n->simask; n->six[s]; s = (s + 1) & n->simask) {
        uint32_t i = n->six[s] - 1;
        if (sent_is(&n->subs[i], h, owner, group, glen))
            return i;
    }
    return SUB_NONE;
}

static void six_put(uint32_t *six, uint32_t mask, const sent *subs, uint32_t i)
{
    uint32_t s = subs[i].h & mask;
    while (six[s])
        s = (s + 1) & mask;
    six[s] = i + 1;
}

static uint32_t six_slot(const snode *n, uint32_t i)
{
    uint32_t s = n->subs[i].h & n->simask;
    while (n->six[s] != i + 1)
        s = (s + 1) & n->simask;
    return s;
}

static void six_erase(snode *n, uint32_t hole)
{
    uint32_t mask = n->simask;
    for (uint32_t j = (hole + 1) & mask; n->six[j]; j = (j + 1) & mask) {
        if (probe_can_fill(hole, j, n->subs[n->six[j] - 1].h & mask, mask)) {
            n->six[hole] = n->six[j];
            hole = j;
        }
    }
    n->six[hole] = 0;
}

/* Room for one more subscription at n, so that the append cannot fail. */
static moat_err subs_reserve(snode *n)
{
    if (n->csubs == 0) {
        n->subs = &n->one;
        n->csubs = 1;
    } else if (n->nsubs == n->csubs) {
        uint32_t cap = n->csubs < 4 ? 4 : n->csubs * 2;
        sent *subs = realloc(n->subs == &n->one ? NULL : n->subs, cap * sizeof *subs);
        if (!subs)
            return MOAT_ENOMEM;
        if (n->subs == &n->one)
            subs[0] = n->one;
        n->subs = subs;
        n->csubs = cap;
    }
    uint32_t want = n->nsubs + 1;
    if (want <= SUBS_SMALL || (n->six && 2 * want <= n->simask + 1))
        return MOAT_OK;
    uint32_t size = table_size_for(want);
    uint32_t *six = calloc(size, sizeof *six);
    if (!six)
        return MOAT_ENOMEM;
    for (uint32_t i = 0; i < n->nsubs; i++)
        six_put(six, size - 1, n->subs, i);
    free(n->six);
    n->six = six;
    n->simask = size - 1;
    return MOAT_OK;
}

static moat_err sub_append(snode *n, const char *f, size_t flen, uint32_t h, void *owner,
                           const char *group, size_t glen, uint8_t options, uint32_t sub_id)
{
    if (path_set(&n->b, f, flen) != MOAT_OK)
        return MOAT_ENOMEM;
    char *g = NULL;
    if (group) {
        g = malloc(glen + 1);
        if (!g) {
            if (n->nsubs == 0)
                path_clear(&n->b);
            return MOAT_ENOMEM;
        }
        memcpy(g, group, glen);
        g[glen] = '\0';
    }
    if (subs_reserve(n) != MOAT_OK) {
        free(g);
        if (n->nsubs == 0)
            path_clear(&n->b);
        return MOAT_ENOMEM;
    }
    uint32_t i = n->nsubs++;
    n->subs[i] =
        (sent){.s = {.owner = owner, .group = g, .options = options, .sub_id = sub_id}, .h = h};
    if (n->six)
        six_put(n->six, n->simask, n->subs, i);
    return MOAT_OK;
}

static void subs_release(snode *n)
{
    for (uint32_t i = 0; i < n->nsubs; i++)
        free(n->subs[i].s.group);
    if (n->subs != &n->one)
        free(n->subs);
    free(n->six);
    n->subs = NULL;
    n->six = NULL;
    n->nsubs = n->csubs = n->simask = 0;
    path_clear(&n->b);
}

/* Swap-remove entry i, keeping the index pointing at the moved entry. */
static void sub_delete(snode *n, uint32_t i)
{
    uint32_t last = n->nsubs - 1;
    free(n->subs[i].s.group);
    n->subs[i].s.group = NULL;
    if (n->six) {
        six_erase(n, six_slot(n, i));
        if (i != last)
            n->six[six_slot(n, last)] = i + 1;
    }
    n->subs[i] = n->subs[last];
    n->nsubs = last;
    if (last == 0)
        subs_release(n);
}

static bool snode_empty(const snode *n)
{
    return n->nsubs == 0 && n->b.kn == 0 && !n->plus_kid && !n->hash_kid;
}

static void snode_destroy(snode *n)
{
    subs_release(n);
    kids_release(&n->b);
    free(n);
}

/* Free n and its ancestors for as long as they hold nothing. */
static void sprune(moat_subtree *t, snode *n)
{
    while (n != t->root && snode_empty(n)) {
        snode *p = sparent(n);
        if (p->plus_kid == n)
            p->plus_kid = NULL;
        else if (p->hash_kid == n)
            p->hash_kid = NULL;
        else
            kids_remove(&p->b, &n->b);
        snode_destroy(n);
        n = p;
    }
}

moat_err moat_subtree_new(moat_subtree **out)
{
    moat_subtree *t = calloc(1, sizeof *t);
    if (!t)
        return MOAT_ENOMEM;
    t->root = node_new(sizeof(snode), NULL, "", 0);
    if (!t->root) {
        free(t);
        return MOAT_ENOMEM;
    }
    t->seed = tree_seed(t);
    *out = t;
    return MOAT_OK;
}

/* Unlink some child of n (without fixing n's table: n is about to go). */
static snode *sdetach_any(snode *n)
{
    snode *c = NULL;
    if (n->b.kn) {
        c = (snode *)n->b.kv[--n->b.kn];
    } else if (n->plus_kid) {
        c = n->plus_kid;
        n->plus_kid = NULL;
    } else if (n->hash_kid) {
        c = n->hash_kid;
        n->hash_kid = NULL;
    }
    return c;
}

void moat_subtree_free(moat_subtree *t)
{
    if (!t)
        return;
    /* Post-order without recursion: detach a child, descend, free on the
     * way back up. */
    snode *n = t->root;
    while (n) {
        snode *c = sdetach_any(n);
        if (c) {
            n = c;
            continue;
        }
        snode *p = sparent(n);
        snode_destroy(n);
        n = p;
    }
    free(t);
}

/* The child of n for filter level [i, j), created when create is set. */
static moat_err schild(moat_subtree *t, snode *n, const char *f, size_t i, size_t j, bool create,
                       snode **out)
{
    snode **slot = is_level(f, i, j, '+')   ? &n->plus_kid
                   : is_level(f, i, j, '#') ? &n->hash_kid
                                            : NULL;
    snode *c = slot ? *slot : (snode *)kid_find(&n->b, f + i, j - i, t->seed);
    if (c || !create) {
        *out = c;
        return MOAT_OK;
    }
    c = node_new(sizeof(snode), &n->b, f + i, j - i);
    if (!c)
        return MOAT_ENOMEM;
    if (slot) {
        *slot = c;
    } else {
        c->b.hash = bytes_hash(t->seed, f + i, j - i);
        if (kids_reserve(&n->b) != MOAT_OK) {
            free(c);
            return MOAT_ENOMEM;
        }
        kids_commit(&n->b, &c->b);
    }
    *out = c;
    return MOAT_OK;
}

/* Node for filter; NULL in *out when absent and not create. */
static moat_err snode_at(moat_subtree *t, const char *f, size_t flen, bool create, snode **out)
{
    snode *n = t->root;
    for (size_t i = 0;;) {
        size_t j = level_end(f, flen, i);
        snode *c;
        moat_err e = schild(t, n, f, i, j, create, &c);
        if (e != MOAT_OK) {
            sprune(t, n);
            return e;
        }
        n = c;
        if (!n || j >= flen)
            break;
        i = j + 1;
    }
    *out = n;
    return MOAT_OK;
}

moat_err moat_subtree_add(moat_subtree *t, const char *filter, size_t flen, void *owner,
                          const char *group, size_t glen, uint8_t options, uint32_t sub_id,
                          bool *replaced)
{
    if (replaced)
        *replaced = false;
    if (!mqtt_topic_filter_valid(filter, flen, 0))
        return MOAT_ETOPIC;
    if (glen == 0)
        group = NULL; /* share_parse never yields an empty group */
    if (group && memchr(group, '\0', glen))
        return MOAT_ETOPIC; /* nor one with NUL, which the stored copy can't keep */
    snode *n;
    moat_err e = snode_at(t, filter, flen, true, &n);
    if (e != MOAT_OK)
        return e;
    uint32_t h = sub_hash(t->seed, owner, group, glen);
    uint32_t i = sub_find(n, h, owner, group, glen);
    if (i != SUB_NONE) {
        n->subs[i].s.options = options;
        n->subs[i].s.sub_id = sub_id;
        if (replaced)
            *replaced = true;
        return MOAT_OK;
    }
    e = sub_append(n, filter, flen, h, owner, group, glen, options, sub_id);
    if (e != MOAT_OK) {
        sprune(t, n);
        return e;
    }
    t->count++;
    return MOAT_OK;
}

moat_err moat_subtree_remove(moat_subtree *t, const char *filter, size_t flen, void *owner,
                             const char *group, size_t glen)
{
    if (!mqtt_topic_filter_valid(filter, flen, 0))
        return MOAT_ENOTFOUND;
    if (glen == 0)
        group = NULL;
    snode *n;
    snode_at(t, filter, flen, false, &n);
    if (!n)
        return MOAT_ENOTFOUND;
    uint32_t i = sub_find(n, sub_hash(t->seed, owner, group, glen), owner, group, glen);
    if (i == SUB_NONE)
        return MOAT_ENOTFOUND;
    sub_delete(n, i);
    t->count--;
    sprune(t, n);
    return MOAT_OK;
}

static void sreport(const snode *n, moat_subtree_cb cb, void *ctx)
{
    for (uint32_t i = 0; i < n->nsubs; i++)
        cb(ctx, &n->subs[i].s, n->b.path, n->b.plen);
}

/* Depth-first over the trie: at each node try the literal child, then '+';
 * a '#' child is a leaf and is reported without descending. Going back up
 * uses parent pointers, and the topic position of the parent is found again
 * by scanning back to the previous '/'. */
void moat_subtree_match(const moat_subtree *t, const char *topic, size_t tlen, moat_subtree_cb cb,
                        void *ctx)
{
    if (!topic || tlen == 0) {
        topic = "";
        tlen = 0;
    }
    const snode *root = t->root;
    bool dollar = tlen > 0 && topic[0] == '$';
    const snode *n = root;
    size_t i = 0; /* start of the topic level below n; > tlen once all consumed */
    for (;;) {
        const snode *next = NULL;
        bool wild = n != root || !dollar;
        if (i > tlen) {
            sreport(n, cb, ctx);
            if (n->hash_kid)
                sreport(n->hash_kid, cb, ctx); /* "a/#" matches "a" */
        } else {
            size_t j = level_end(topic, tlen, i);
            if (n->hash_kid && wild)
                sreport(n->hash_kid, cb, ctx);
            next = (const snode *)kid_find(&n->b, topic + i, j - i, t->seed);
            if (!next && wild)
                next = n->plus_kid;
            if (next) {
                n = next;
                i = j + 1;
                continue;
            }
        }
        for (;;) {
            if (n == root)
                return;
            const snode *p = sparent(n);
            if (n != p->plus_kid && p->plus_kid && (p != root || !dollar)) {
                n = p->plus_kid; /* same topic level, other branch */
                break;
            }
            n = p;
            i = level_start(topic, i - 1);
        }
    }
}

size_t moat_subtree_count(const moat_subtree *t)
{
    return t->count;
}

/* ---------------------------------------------------------------- rettree */

typedef struct rnode {
    tnode b;
    void *value; /* NULL = no retained message here */
} rnode;

struct moat_rettree {
    rnode *root;
    size_t count;
    uint64_t seed;
};

static bool rnode_empty(const rnode *n)
{
    return !n->value && n->b.kn == 0;
}

static void rnode_destroy(rnode *n)
{
    path_clear(&n->b);
    kids_release(&n->b);
    free(n);
}

static void rprune(moat_rettree *t, rnode *n)
{
    while (n != t->root && rnode_empty(n)) {
        rnode *p = (rnode *)n->b.parent;
        kids_remove(&p->b, &n->b);
        rnode_destroy(n);
        n = p;
    }
}

moat_err moat_rettree_new(moat_rettree **out)
{
    moat_rettree *t = calloc(1, sizeof *t);
    if (!t)
        return MOAT_ENOMEM;
    t->root = node_new(sizeof(rnode), NULL, "", 0);
    if (!t->root) {
        free(t);
        return MOAT_ENOMEM;
    }
    t->seed = tree_seed(t);
    *out = t;
    return MOAT_OK;
}

void moat_rettree_free(moat_rettree *t, void (*free_value)(void *))
{
    if (!t)
        return;
    rnode *n = t->root;
    while (n) {
        if (n->b.kn) {
            n = (rnode *)n->b.kv[--n->b.kn];
            continue;
        }
        rnode *p = (rnode *)n->b.parent;
        if (n->value && free_value)
            free_value(n->value);
        rnode_destroy(n);
        n = p;
    }
    free(t);
}

/* Node for topic, creating the missing levels when create is set. */
static moat_err rnode_at(moat_rettree *t, const char *topic, size_t tlen, bool create, rnode **out)
{
    rnode *n = t->root;
    for (size_t i = 0;;) {
        size_t j = level_end(topic, tlen, i);
        rnode *c = (rnode *)kid_find(&n->b, topic + i, j - i, t->seed);
        if (!c && create) {
            c = node_new(sizeof(rnode), &n->b, topic + i, j - i);
            if (!c || kids_reserve(&n->b) != MOAT_OK) {
                free(c);
                rprune(t, n);
                return MOAT_ENOMEM;
            }
            c->b.hash = bytes_hash(t->seed, topic + i, j - i);
            kids_commit(&n->b, &c->b);
        }
        n = c;
        if (!n || j >= tlen)
            break;
        i = j + 1;
    }
    *out = n;
    return MOAT_OK;
}

moat_err moat_rettree_set(moat_rettree *t, const char *topic, size_t tlen, void *value, void **old)
{
    if (old)
        *old = NULL;
    if (!mqtt_topic_name_valid(topic, tlen, 0))
        return MOAT_ETOPIC;
    /* NULL can't be told apart from "nothing stored", so storing it deletes. */
    if (!value) {
        void *prev = moat_rettree_del(t, topic, tlen);
        if (old)
            *old = prev;
        return MOAT_OK;
    }
    rnode *n;
    moat_err e = rnode_at(t, topic, tlen, true, &n);
    if (e != MOAT_OK)
        return e;
    if (path_set(&n->b, topic, tlen) != MOAT_OK) {
        rprune(t, n);
        return MOAT_ENOMEM;
    }
    if (old)
        *old = n->value;
    t->count += n->value == NULL;
    n->value = value;
    return MOAT_OK;
}

void *moat_rettree_del(moat_rettree *t, const char *topic, size_t tlen)
{
    if (!mqtt_topic_name_valid(topic, tlen, 0))
        return NULL;
    rnode *n;
    rnode_at(t, topic, tlen, false, &n);
    if (!n || !n->value)
        return NULL;
    void *v = n->value;
    n->value = NULL;
    path_clear(&n->b);
    t->count--;
    rprune(t, n);
    return v;
}

void *moat_rettree_get(const moat_rettree *t, const char *topic, size_t tlen)
{
    if (!mqtt_topic_name_valid(topic, tlen, 0))
        return NULL;
    rnode *n;
    rnode_at((moat_rettree *)t, topic, tlen, false, &n);
    return n ? n->value : NULL;
}

typedef struct rmatch {
    moat_rettree_cb cb;
    void *ctx;
} rmatch;

static void rreport(const rmatch *m, const tnode *n)
{
    const rnode *r = (const rnode *)n;
    if (r->value)
        m->cb(m->ctx, n->path, n->plen, r->value);
}

/* Report every value strictly below top, in pre-order, without a stack. */
static void rwalk(const rmatch *m, const tnode *top)
{
    bool skip = top->parent == NULL; /* '#' as first level: no "$..." topics */
    const tnode *c = kid_next(top, 0, skip);
    while (c) {
        rreport(m, c);
        if (c->kn) {
            c = c->kv[0];
            continue;
        }
        for (;;) {
            const tnode *p = c->parent;
            const tnode *s = kid_next(p, c->didx + 1, skip && p == top);
            if (s) {
                c = s;
                break;
            }
            if (p == top)
                return;
            c = p;
        }
    }
}

/* Depth-first like moat_subtree_match, with the roles swapped: the filter is
 * the input, '+' iterates the children and '#' reports the whole subtree. */
void moat_rettree_match(const moat_rettree *t, const char *filter, size_t flen, moat_rettree_cb cb,
                        void *ctx)
{
    if (!filter || flen == 0)
        return;
    const rmatch m = {cb, ctx};
    const tnode *root = &t->root->b;
    const tnode *n = root;
    size_t i = 0; /* start of the filter level below n; > flen once all consumed */
    for (;;) {
        const tnode *next = NULL;
        size_t j = level_end(filter, flen, i);
        if (i > flen) {
            rreport(&m, n);
        } else if (is_level(filter, i, j, '#')) {
            rreport(&m, n); /* "a/#" matches "a"; the root holds no value */
            rwalk(&m, n);
        } else if (is_level(filter, i, j, '+')) {
            next = kid_next(n, 0, n == root);
        } else {
            next = kid_find(n, filter + i, j - i, t->seed);
        }
        if (next) {
            n = next;
            i = j + 1;
            continue;
        }
        for (;;) {
            if (n == root)
                return;
            const tnode *p = n->parent;
            size_t pi = level_start(filter, i - 1);
            if (is_level(filter, pi, i - 1, '+')) {
                const tnode *s = kid_next(p, n->didx + 1, p == root);
                if (s) {
                    n = s; /* next sibling for the same '+' level */
                    break;
                }
            }
            n = p;
            i = pi;
        }
    }
}

size_t moat_rettree_count(const moat_rettree *t)
{
    return t->count;
}
