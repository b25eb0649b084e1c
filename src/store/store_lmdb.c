/* SPDX-License-Identifier: Apache-2.0 */
/* The store over LMDB: one environment, one named database per table.
 *
 * Locking: LMDB forbids changing the map size while any transaction of this
 * process is open, so every transaction runs under a rwlock taken shared, and
 * only growing the map takes it exclusively. Writers are still serialised by
 * LMDB's own writer lock.
 *
 * Long keys: LMDB keys are limited to 511 bytes, but client ids (and so the
 * session and msg keys) may be up to 65535. A key of at most DIRECT_MAX bytes
 * is the LMDB key as it is. A longer key is stored under an encoded LMDB key
 * of exactly ENC_LEN bytes:
 *
 *     key[0..448) | FNV-1a-64(key) (be64) | slot (be32)
 *
 * and its value starts with the full key: len (be32) | key | value. The slot
 * numbers keys whose first 448 bytes and hash collide (FNV is easy to collide
 * on purpose), so a lookup walks the few entries sharing prefix and hash and
 * compares full keys: collisions cost time, never correctness. Since encoded
 * keys are longer than any direct key, the LMDB key length says which kind an
 * entry is.
 *
 * LMDB order matches the callers' key order except among long keys sharing
 * their first 448 bytes (ordered by hash there), so scan sorts such runs. */
#include "store/store.h"
#include "store/lmdb_err.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_MAP_SIZE ((size_t)1 << 30)
#define MAX_READERS 256
/* Doubling this many times covers any single write from a 64 KiB map. */
#define MAX_GROWS 40
#define ENV_FLAGS (MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOTLS)

#define DIRECT_MAX 448
#define HASH_OFF DIRECT_MAX
#define SLOT_OFF (HASH_OFF + 8)
#define ENC_LEN (SLOT_OFF + 4)
#define HDR_LEN 4
/* Tests may build with -DSTORE_HASH_MASK=0 to make every long key collide. */
#ifndef STORE_HASH_MASK
#define STORE_HASH_MASK UINT64_MAX
#endif

static const char *const table_names[MOAT_T__COUNT] = {
    [MOAT_T_RETAIN] = "retain",
    [MOAT_T_SESSION] = "session",
    [MOAT_T_MSG] = "msg",
    [MOAT_T_META] = "meta",
};

struct moat_store {
    MDB_env *env;
    MDB_dbi dbi[MOAT_T__COUNT];
    pthread_rwlock_t lock; /* shared: any transaction; exclusive: map resize */
    size_t map_size;       /* changed only under the exclusive lock */
};

/* One request; the txn functions below read their inputs and outputs here. */
typedef struct op {
    moat_table t;
    const uint8_t *k;
    size_t kl;
    const void *v;
    size_t vl;
    void **out; /* get */
    size_t *outl;
    moat_store_cb cb; /* scan */
    void *ctx;
    size_t count;
} op;

/* One entry as callers see it. */
typedef struct entry {
    const uint8_t *k;
    size_t kl;
    const uint8_t *v;
    size_t vl;
} entry;

typedef int (*txn_fn)(moat_store *s, MDB_txn *txn, op *o);

moat_err moat_lmdb_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return MOAT_OK;
    case MDB_NOTFOUND:
        return MOAT_ENOTFOUND;
    case ENOMEM:
        return MOAT_ENOMEM;
    case MDB_BAD_VALSIZE:
        return MOAT_EINVAL;
    default:
        return MOAT_ESTORE;
    }
}

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h & STORE_HASH_MASK;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static bool starts_with(const void *p, size_t len, const void *prefix, size_t pl)
{
    return len >= pl && (pl == 0 || memcmp(p, prefix, pl) == 0);
}

/* Turn an LMDB entry into the caller's key and value. */
static int decode(const MDB_val *key, const MDB_val *val, entry *e)
{
    if (key->mv_size <= DIRECT_MAX) {
        *e = (entry){key->mv_data, key->mv_size, val->mv_data, val->mv_size};
        return 0;
    }
    const uint8_t *p = val->mv_data;
    if (key->mv_size != ENC_LEN || val->mv_size < HDR_LEN)
        return MDB_CORRUPTED;
    size_t kl = get_be(p, HDR_LEN);
    if (kl > val->mv_size - HDR_LEN)
        return MDB_CORRUPTED;
    *e = (entry){p + HDR_LEN, kl, p + HDR_LEN + kl, val->mv_size - HDR_LEN - kl};
    return 0;
}

/* Position c on the entry of long key k and copy its LMDB key into enc. When
 * absent, returns MDB_NOTFOUND with enc set to a free slot to insert under. */
static int long_find(MDB_cursor *c, const uint8_t *k, size_t kl, uint8_t *enc, MDB_val *val)
{
    memcpy(enc, k, DIRECT_MAX);
    put_be(enc + HASH_OFF, fnv1a64(k, kl), 8);
    put_be(enc + SLOT_OFF, 0, 4);
    MDB_val key = {ENC_LEN, enc};
    uint64_t free_slot = 0;
    int rc = mdb_cursor_get(c, &key, val, MDB_SET_RANGE);
    for (; rc == 0 && starts_with(key.mv_data, key.mv_size, enc, SLOT_OFF);
         rc = mdb_cursor_get(c, &key, val, MDB_NEXT)) {
        entry e;
        if (decode(&key, val, &e) != 0)
            return MDB_CORRUPTED;
        if (e.kl == kl && memcmp(e.k, k, kl) == 0) {
            memcpy(enc, key.mv_data, ENC_LEN);
            return 0;
        }
        free_slot = get_be((const uint8_t *)key.mv_data + SLOT_OFF, 4) + 1;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    put_be(enc + SLOT_OFF, free_slot, 4);
    return MDB_NOTFOUND;
}

/* Look up key k: on success *val is the caller's value. With c, the cursor is
 * left on the entry (for deletion). */
static int find(MDB_txn *txn, MDB_dbi dbi, const op *o, MDB_val *val, MDB_cursor **cp)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc)
        return rc;
    uint8_t enc[ENC_LEN];
    MDB_val key = {o->kl, (void *)o->k};
    if (o->kl <= DIRECT_MAX) {
        rc = mdb_cursor_get(c, &key, val, MDB_SET_KEY);
    } else {
        rc = long_find(c, o->k, o->kl, enc, val);
        key = (MDB_val){ENC_LEN, enc};
    }
    entry e;
    if (rc == 0 && (rc = decode(&key, val, &e)) == 0)
        *val = (MDB_val){e.vl, (void *)e.v};
    if (rc == 0 && cp)
        *cp = c;
    else
        mdb_cursor_close(c);
    return rc;
}

static int long_put(moat_store *s, MDB_txn *txn, op *o)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->dbi[o->t], &c);
    if (rc)
        return rc;
    uint8_t enc[ENC_LEN];
    MDB_val key = {ENC_LEN, enc}, val;
    rc = long_find(c, o->k, o->kl, enc, &val);
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    val.mv_size = HDR_LEN + o->kl + o->vl;
    rc = mdb_put(txn, s->dbi[o->t], &key, &val, MDB_RESERVE);
    if (rc)
        return rc;
    uint8_t *p = val.mv_data;
    put_be(p, o->kl, HDR_LEN);
    memcpy(p + HDR_LEN, o->k, o->kl);
    if (o->vl)
        memcpy(p + HDR_LEN + o->kl, o->v, o->vl);
    return 0;
}

static int txn_put(moat_store *s, MDB_txn *txn, op *o)
{
    if (o->kl > DIRECT_MAX)
        return long_put(s, txn, o);
    MDB_val key = {o->kl, (void *)o->k}, val = {o->vl, (void *)(o->v ? o->v : "")};
    return mdb_put(txn, s->dbi[o->t], &key, &val, 0);
}

static int txn_del(moat_store *s, MDB_txn *txn, op *o)
{
    MDB_cursor *c;
    MDB_val val;
    int rc = find(txn, s->dbi[o->t], o, &val, &c);
    if (rc)
        return rc;
    rc = mdb_cursor_del(c, 0);
    mdb_cursor_close(c);
    return rc;
}

static int txn_get(moat_store *s, MDB_txn *txn, op *o)
{
    MDB_val val;
    int rc = find(txn, s->dbi[o->t], o, &val, NULL);
    if (rc)
        return rc;
    /* malloc(0) may return NULL, which would read as ENOMEM. */
    void *p = malloc(val.mv_size ? val.mv_size : 1);
    if (!p)
        return ENOMEM;
    memcpy(p, val.mv_data, val.mv_size);
    *o->out = p;
    *o->outl = val.mv_size;
    return 0;
}

static int txn_count(moat_store *s, MDB_txn *txn, op *o)
{
    MDB_stat st;
    int rc = mdb_stat(txn, s->dbi[o->t], &st);
    if (rc == 0)
        o->count = st.ms_entries;
    return rc;
}

/* The LMDB keys that can hold keys with prefix o->k all start with its first
 * DIRECT_MAX bytes: position c on the first of them. */
static size_t range_first(MDB_cursor *c, const op *o, MDB_val *key, MDB_val *val, int *rc)
{
    size_t rl = o->kl < DIRECT_MAX ? o->kl : DIRECT_MAX;
    *key = (MDB_val){rl, (void *)o->k};
    *rc = mdb_cursor_get(c, key, val, rl ? MDB_SET_RANGE : MDB_FIRST);
    return rl;
}

static int txn_del_prefix(moat_store *s, MDB_txn *txn, op *o)
{
    MDB_cursor *c;
    MDB_val key, val;
    int rc = mdb_cursor_open(txn, s->dbi[o->t], &c);
    if (rc)
        return rc;
    size_t rl = range_first(c, o, &key, &val, &rc);
    while (rc == 0 && starts_with(key.mv_data, key.mv_size, o->k, rl)) {
        entry e;
        rc = decode(&key, &val, &e);
        if (rc == 0 && starts_with(e.k, e.kl, o->k, o->kl))
            rc = mdb_cursor_del(c, 0);
        /* After a delete the cursor already sits on the next entry; LMDB
         * makes this MDB_NEXT return that entry rather than skip it. */
        if (rc == 0)
            rc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int entry_cmp(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int r = memcmp(x->k, y->k, x->kl < y->kl ? x->kl : y->kl);
    if (r)
        return r;
    return (x->kl > y->kl) - (x->kl < y->kl);
}

/* Entries of a run of long keys, sorted before they are visited. */
typedef struct run {
    entry *v;
    size_t n, cap;
} run;

static int run_push(run *r, const entry *e)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        entry *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = *e;
    return 0;
}

/* Collect the run of long entries sharing the current entry's first
 * DIRECT_MAX bytes; leaves c on the entry after the run. Pointers stay valid
 * for the whole read transaction. */
static int collect_run(MDB_cursor *c, MDB_val *key, MDB_val *val, run *r)
{
    const void *head = key->mv_data;
    int rc = 0;
    r->n = 0;
    while (rc == 0 && key->mv_size == ENC_LEN && memcmp(key->mv_data, head, DIRECT_MAX) == 0) {
        entry e;
        rc = decode(key, val, &e);
        if (rc == 0)
            rc = run_push(r, &e);
        if (rc == 0)
            rc = mdb_cursor_get(c, key, val, MDB_NEXT);
    }
    if (rc == 0 || rc == MDB_NOTFOUND)
        qsort(r->v, r->n, sizeof *r->v, entry_cmp);
    return rc;
}

/* Visit e if it matches; sets *stop when the callback asks to stop. */
static void visit(const op *o, const entry *e, bool *stop)
{
    if (starts_with(e->k, e->kl, o->k, o->kl))
        *stop = o->cb(o->ctx, e->k, e->kl, e->v, e->vl) != 0;
}

/* Visit the entry under c (or the run it starts) and move past it. */
static int scan_step(MDB_cursor *c, MDB_val *key, MDB_val *val, const op *o, run *r, bool *stop)
{
    entry e;
    if (key->mv_size <= DIRECT_MAX) {
        int rc = decode(key, val, &e);
        if (rc)
            return rc;
        visit(o, &e, stop);
        return *stop ? 0 : mdb_cursor_get(c, key, val, MDB_NEXT);
    }
    int rc = collect_run(c, key, val, r);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    for (size_t i = 0; i < r->n && !*stop; i++)
        visit(o, &r->v[i], stop);
    return rc;
}

static int txn_scan(moat_store *s, MDB_txn *txn, op *o)
{
    MDB_cursor *c;
    MDB_val key, val;
    int rc = mdb_cursor_open(txn, s->dbi[o->t], &c);
    if (rc)
        return rc;
    run r = {0};
    bool stop = false;
    size_t rl = range_first(c, o, &key, &val, &rc);
    while (rc == 0 && !stop && starts_with(key.mv_data, key.mv_size, o->k, rl))
        rc = scan_step(c, &key, &val, o, &r, &stop);
    free(r.v);
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Run fn in a transaction; a write transaction commits when fn succeeds. */
static int run_txn(moat_store *s, unsigned flags, txn_fn fn, op *o)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, flags, &txn);
    if (rc)
        return rc;
    rc = fn(s, txn, o);
    if (rc == 0 && !(flags & MDB_RDONLY))
        return mdb_txn_commit(txn);
    mdb_txn_abort(txn);
    return rc;
}

static moat_err store_read(moat_store *s, txn_fn fn, op *o)
{
    pthread_rwlock_rdlock(&s->lock);
    int rc = run_txn(s, MDB_RDONLY, fn, o);
    pthread_rwlock_unlock(&s->lock);
    return moat_lmdb_err(rc);
}

/* Double the map unless another writer already grew it past seen. */
static int grow(moat_store *s, size_t seen)
{
    int rc = 0;
    pthread_rwlock_wrlock(&s->lock);
    if (s->map_size == seen) {
        rc = seen > SIZE_MAX / 2 ? MDB_MAP_FULL : mdb_env_set_mapsize(s->env, seen * 2);
        MDB_envinfo info;
        if (rc == 0 && (rc = mdb_env_info(s->env, &info)) == 0)
            s->map_size = info.me_mapsize;
    }
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

/* Writes that fill the map are aborted whole, so retrying after growing it
 * is safe; a single large value may need several doublings. */
static moat_err store_write(moat_store *s, txn_fn fn, op *o)
{
    for (int i = 0;; i++) {
        pthread_rwlock_rdlock(&s->lock);
        size_t seen = s->map_size;
        int rc = run_txn(s, 0, fn, o);
        pthread_rwlock_unlock(&s->lock);
        if (rc != MDB_MAP_FULL || i == MAX_GROWS)
            return moat_lmdb_err(rc);
        rc = grow(s, seen);
        if (rc)
            return moat_lmdb_err(rc);
    }
}

static bool key_ok(moat_table t, size_t kl)
{
    /* The long-key header holds the length in 32 bits. */
    return (unsigned)t < MOAT_T__COUNT && kl > 0 && kl <= UINT32_MAX;
}

moat_err moat_store_put(moat_store *s, moat_table t, const void *k, size_t kl, const void *v,
                        size_t vl)
{
    if (!key_ok(t, kl) || (vl && !v))
        return MOAT_EINVAL;
    op o = {.t = t, .k = k, .kl = kl, .v = v, .vl = vl};
    return store_write(s, txn_put, &o);
}

moat_err moat_store_del(moat_store *s, moat_table t, const void *k, size_t kl)
{
    if (!key_ok(t, kl))
        return MOAT_EINVAL;
    op o = {.t = t, .k = k, .kl = kl};
    return store_write(s, txn_del, &o);
}

moat_err moat_store_del_prefix(moat_store *s, moat_table t, const void *prefix, size_t pl)
{
    if ((unsigned)t >= MOAT_T__COUNT)
        return MOAT_EINVAL;
    op o = {.t = t, .k = prefix, .kl = pl};
    return store_write(s, txn_del_prefix, &o);
}

moat_err moat_store_get(moat_store *s, moat_table t, const void *k, size_t kl, void **v, size_t *vl)
{
    if (!key_ok(t, kl))
        return MOAT_EINVAL;
    op o = {.t = t, .k = k, .kl = kl, .out = v, .outl = vl};
    return store_read(s, txn_get, &o);
}

moat_err moat_store_scan(moat_store *s, moat_table t, const void *prefix, size_t pl,
                         moat_store_cb cb, void *ctx)
{
    if ((unsigned)t >= MOAT_T__COUNT || !cb)
        return MOAT_EINVAL;
    op o = {.t = t, .k = prefix, .kl = pl, .cb = cb, .ctx = ctx};
    return store_read(s, txn_scan, &o);
}

size_t moat_store_count(moat_store *s, moat_table t)
{
    if ((unsigned)t >= MOAT_T__COUNT)
        return 0;
    op o = {.t = t};
    return store_read(s, txn_count, &o) == MOAT_OK ? o.count : 0;
}

moat_err moat_store_sync(moat_store *s)
{
    /* Shared lock: msync must not race a remap. */
    pthread_rwlock_rdlock(&s->lock);
    int rc = mdb_env_sync(s->env, 1);
    pthread_rwlock_unlock(&s->lock);
    return rc ? MOAT_ESTORE : MOAT_OK;
}

/* mkdir -p with mode 0700; returns 0 or an errno. */
static int make_dirs(const char *dir)
{
    char *path = strdup(dir);
    if (!path)
        return ENOMEM;
    int err = 0;
    for (char *p = path + 1; *p && !err; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            err = errno;
        *p = '/';
    }
    if (!err && mkdir(path, 0700) < 0 && errno != EEXIST)
        err = errno;
    free(path);
    return err;
}

static int env_open(moat_store *s, const char *dir, size_t map_size)
{
    int rc = mdb_env_create(&s->env);
    if (rc)
        return rc;
    if ((rc = mdb_env_set_maxdbs(s->env, MOAT_T__COUNT)) ||
        (rc = mdb_env_set_maxreaders(s->env, MAX_READERS)) ||
        (rc = mdb_env_set_mapsize(s->env, map_size)) ||
        (rc = mdb_env_open(s->env, dir, ENV_FLAGS, 0600)))
        return rc;
    /* A killed process leaves its reader slots behind; free them. */
    int dead;
    mdb_reader_check(s->env, &dead);
    if (mdb_env_get_maxkeysize(s->env) < ENC_LEN)
        return MDB_BAD_VALSIZE;
    MDB_envinfo info;
    rc = mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize;
    return rc;
}

static int open_tables(moat_store *s)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return rc;
    for (int t = 0; t < MOAT_T__COUNT && rc == 0; t++)
        rc = mdb_dbi_open(txn, table_names[t], MDB_CREATE, &s->dbi[t]);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

moat_err moat_store_open(const char *dir, size_t map_size, moat_store **out, char *errbuf,
                         size_t errlen)
{
    moat_store *s = calloc(1, sizeof *s);
    if (!s || pthread_rwlock_init(&s->lock, NULL) != 0) {
        snprintf(errbuf, errlen, "cannot open store in %s: out of memory", dir);
        free(s);
        return MOAT_ENOMEM;
    }
    int rc = make_dirs(dir);
    if (rc) {
        snprintf(errbuf, errlen, "cannot create store directory %s: %s (check node.data_dir)", dir,
                 strerror(rc));
        goto fail;
    }
    rc = env_open(s, dir, map_size ? map_size : DEFAULT_MAP_SIZE);
    if (rc == 0)
        rc = open_tables(s);
    if (rc) {
        snprintf(errbuf, errlen, "cannot open store in %s: %s (check node.data_dir)", dir,
                 mdb_strerror(rc));
        goto fail;
    }
    *out = s;
    return MOAT_OK;
fail:
    if (s->env)
        mdb_env_close(s->env);
    pthread_rwlock_destroy(&s->lock);
    free(s);
    return rc == ENOMEM ? MOAT_ENOMEM : MOAT_ESTORE;
}

void moat_store_close(moat_store *s)
{
    if (!s)
        return;
    mdb_env_sync(s->env, 1);
    mdb_env_close(s->env);
    pthread_rwlock_destroy(&s->lock);
    free(s);
}
