/* SPDX-License-Identifier: Apache-2.0 */
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"

static char tmpdir[64];

#if defined(__SANITIZE_THREAD__)
/* LMDB hands pages between readers and the writer through its reader table
 * in shared memory, with plain loads and stores TSan cannot see, so page
 * reuse looks like a race. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
    return "race:liblmdb.so\n";
}
#endif

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh store directory under tmpdir. */
static const char *store_dir(const char *name)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    rm_tree(path);
    return path;
}

static moat_store *open_at(const char *dir, size_t map_size)
{
    moat_store *s = NULL;
    char err[256] = "";
    moat_err e = moat_store_open(dir, map_size, &s, err, sizeof err);
    if (e)
        fprintf(stderr, "open: %s\n", err);
    CHECK_EQ(e, MOAT_OK);
    return s;
}

static moat_err put_str(moat_store *s, moat_table t, const char *k, const char *v)
{
    return moat_store_put(s, t, k, strlen(k), v, strlen(v));
}

/* True when key k holds exactly v. */
static int has(moat_store *s, moat_table t, const void *k, size_t kl, const void *v, size_t vl)
{
    void *got = NULL;
    size_t gl = 0;
    if (moat_store_get(s, t, k, kl, &got, &gl) != MOAT_OK)
        return 0;
    int ok = gl == vl && memcmp(got, v, vl) == 0;
    free(got);
    return ok;
}

static int has_str(moat_store *s, moat_table t, const char *k, const char *v)
{
    return has(s, t, k, strlen(k), v, strlen(v));
}

static void test_basic(void)
{
    moat_store *s = open_at(store_dir("basic"), 0);
    void *v = NULL;
    size_t vl = 0;
    CHECK_EQ(moat_store_get(s, MOAT_T_SESSION, "a", 1, &v, &vl), MOAT_ENOTFOUND);
    CHECK_EQ(put_str(s, MOAT_T_SESSION, "a", "one"), MOAT_OK);
    CHECK(has_str(s, MOAT_T_SESSION, "a", "one"));
    CHECK_EQ(put_str(s, MOAT_T_SESSION, "a", "two!"), MOAT_OK);
    CHECK(has_str(s, MOAT_T_SESSION, "a", "two!"));
    CHECK_EQ(moat_store_get(s, MOAT_T_RETAIN, "a", 1, &v, &vl), MOAT_ENOTFOUND);
    CHECK_EQ(moat_store_put(s, MOAT_T_META, "empty", 5, NULL, 0), MOAT_OK);
    CHECK(has(s, MOAT_T_META, "empty", 5, "", 0));
    CHECK_EQ(moat_store_del(s, MOAT_T_SESSION, "a", 1), MOAT_OK);
    CHECK_EQ(moat_store_del(s, MOAT_T_SESSION, "a", 1), MOAT_ENOTFOUND);
    CHECK_EQ(moat_store_get(s, MOAT_T_SESSION, "a", 1, &v, &vl), MOAT_ENOTFOUND);
    CHECK_EQ(moat_store_put(s, MOAT_T_META, "", 0, "x", 1), MOAT_EINVAL);
    CHECK_EQ(moat_store_put(s, MOAT_T__COUNT, "k", 1, "x", 1), MOAT_EINVAL);
    moat_store_close(s);
    moat_store_close(NULL);
}

typedef struct seen {
    char keys[64][64];
    int n;
    int stop_after;
} seen;

static int collect(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    seen *c = ctx;
    (void)v;
    (void)vl;
    if (kl < sizeof c->keys[0] && c->n < 64)
        memcpy(c->keys[c->n], k, kl), c->keys[c->n][kl] = '\0';
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

/* Scan callbacks may read the store. */
typedef struct nest {
    moat_store *s;
    int ok;
} nest;

static int nested_get(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    nest *n = ctx;
    n->ok += has(n->s, MOAT_T_RETAIN, k, kl, v, vl);
    return 0;
}

static void test_scan(void)
{
    moat_store *s = open_at(store_dir("scan"), 0);
    const char *keys[] = {"a/3", "b/1", "a/1", "a", "a/2", "a0", "c"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        CHECK_EQ(put_str(s, MOAT_T_RETAIN, keys[i], keys[i]), MOAT_OK);
    seen c = {0};
    CHECK_EQ(moat_store_scan(s, MOAT_T_RETAIN, "a/", 2, collect, &c), MOAT_OK);
    CHECK_EQ(c.n, 3);
    CHECK_STR(c.keys[0], "a/1");
    CHECK_STR(c.keys[1], "a/2");
    CHECK_STR(c.keys[2], "a/3");
    c = (seen){0};
    CHECK_EQ(moat_store_scan(s, MOAT_T_RETAIN, NULL, 0, collect, &c), MOAT_OK);
    CHECK_EQ(c.n, 7);
    CHECK_STR(c.keys[0], "a");
    CHECK_STR(c.keys[4], "a0");
    CHECK_STR(c.keys[6], "c");
    c = (seen){.stop_after = 2};
    CHECK_EQ(moat_store_scan(s, MOAT_T_RETAIN, "a", 1, collect, &c), MOAT_OK);
    CHECK_EQ(c.n, 2);
    c = (seen){0};
    CHECK_EQ(moat_store_scan(s, MOAT_T_RETAIN, "zz", 2, collect, &c), MOAT_OK);
    CHECK_EQ(c.n, 0);
    CHECK_EQ(moat_store_count(s, MOAT_T_RETAIN), 7);
    nest n = {s, 0};
    CHECK_EQ(moat_store_scan(s, MOAT_T_RETAIN, NULL, 0, nested_get, &n), MOAT_OK);
    CHECK_EQ(n.ok, 7);
    CHECK_EQ(moat_store_count(s, MOAT_T_MSG), 0);
    moat_store_close(s);
}

static void test_del_prefix(void)
{
    moat_store *s = open_at(store_dir("delprefix"), 0);
    char k[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "%c%05d", "abc"[i % 3], i);
        CHECK_EQ(put_str(s, MOAT_T_MSG, k, k), MOAT_OK);
    }
    CHECK_EQ(moat_store_del_prefix(s, MOAT_T_MSG, "b", 1), MOAT_OK);
    CHECK_EQ(moat_store_count(s, MOAT_T_MSG), 2000);
    CHECK(has_str(s, MOAT_T_MSG, "a00000", "a00000"));
    CHECK(has_str(s, MOAT_T_MSG, "c02999", "c02999"));
    CHECK(!has_str(s, MOAT_T_MSG, "b00001", "b00001"));
    CHECK_EQ(moat_store_del_prefix(s, MOAT_T_MSG, "nothing", 7), MOAT_OK);
    CHECK_EQ(moat_store_del_prefix(s, MOAT_T_MSG, NULL, 0), MOAT_OK);
    CHECK_EQ(moat_store_count(s, MOAT_T_MSG), 0);
    moat_store_close(s);
}

/* A msg-table key: id of idl bytes (filled with fill), '\0', seq (be64). */
static size_t msg_key(uint8_t *k, size_t idl, char fill, uint64_t seq)
{
    memset(k, fill, idl);
    k[idl] = '\0';
    for (int i = 0; i < 8; i++)
        k[idl + 1 + i] = (uint8_t)(seq >> (56 - 8 * i));
    return idl + 9;
}

typedef struct order {
    uint64_t last;
    size_t n, kl;
    int sorted;
} order;

static int check_order(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    order *o = ctx;
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++)
        seq = seq << 8 | ((const uint8_t *)k)[kl - 8 + i];
    if ((o->n && seq <= o->last) || kl != o->kl || vl != 8 || memcmp(v, &seq, 8) != 0)
        o->sorted = 0;
    o->last = seq;
    o->n++;
    return 0;
}

static void put_msgs(moat_store *s, size_t idl, char fill, int n)
{
    uint8_t *k = malloc(idl + 9);
    /* Reverse insertion so that order has to come from the store. */
    for (uint64_t seq = (uint64_t)n; seq > 0; seq--) {
        size_t kl = msg_key(k, idl, fill, seq);
        CHECK_EQ(moat_store_put(s, MOAT_T_MSG, k, kl, &seq, 8), MOAT_OK);
    }
    free(k);
}

static void check_msgs(moat_store *s, size_t idl, char fill, size_t n)
{
    uint8_t *k = malloc(idl + 9);
    size_t pl = msg_key(k, idl, fill, 0) - 8;
    order o = {.kl = idl + 9, .sorted = 1};
    CHECK_EQ(moat_store_scan(s, MOAT_T_MSG, k, pl, check_order, &o), MOAT_OK);
    CHECK_EQ(o.n, n);
    CHECK(o.sorted);
    free(k);
}

static void test_long_key_values(moat_store *s, size_t kl)
{
    uint8_t *k = malloc(kl);
    for (size_t i = 0; i < kl; i++)
        k[i] = (uint8_t)(i * 7);
    CHECK_EQ(moat_store_put(s, MOAT_T_SESSION, k, kl, "v1", 2), MOAT_OK);
    CHECK(has(s, MOAT_T_SESSION, k, kl, "v1", 2));
    CHECK_EQ(moat_store_put(s, MOAT_T_SESSION, k, kl, "value2", 6), MOAT_OK);
    CHECK(has(s, MOAT_T_SESSION, k, kl, "value2", 6));
    k[kl - 1] ^= 1; /* same prefix and length, another key */
    CHECK(!has(s, MOAT_T_SESSION, k, kl, "value2", 6));
    CHECK_EQ(moat_store_del(s, MOAT_T_SESSION, k, kl), MOAT_ENOTFOUND);
    CHECK_EQ(moat_store_put(s, MOAT_T_SESSION, k, kl, "other", 5), MOAT_OK);
    CHECK(has(s, MOAT_T_SESSION, k, kl, "other", 5));
    CHECK_EQ(moat_store_del(s, MOAT_T_SESSION, k, kl), MOAT_OK);
    k[kl - 1] ^= 1;
    CHECK(has(s, MOAT_T_SESSION, k, kl, "value2", 6));
    CHECK_EQ(moat_store_del(s, MOAT_T_SESSION, k, kl), MOAT_OK);
    CHECK_EQ(moat_store_count(s, MOAT_T_SESSION), 0);
    free(k);
}

static int count_cb(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    ++*(size_t *)ctx;
    return 0;
}

static void test_long_keys(void)
{
    moat_store *s = open_at(store_dir("long"), 0);
    test_long_key_values(s, 1000);
    test_long_key_values(s, 65535);
    test_long_key_values(s, 449);
    /* Ids sharing their first 448+ bytes: 1000-byte ids "x..x" and "x..xy",
     * a 60000-byte id, a 447-byte one, and short ones. */
    put_msgs(s, 1000, 'x', 300);
    put_msgs(s, 1001, 'x', 200);
    put_msgs(s, 60000, 'x', 20);
    put_msgs(s, 447, 'x', 50);
    put_msgs(s, 10, 'x', 50);
    check_msgs(s, 1000, 'x', 300);
    check_msgs(s, 1001, 'x', 200);
    check_msgs(s, 60000, 'x', 20);
    check_msgs(s, 447, 'x', 50);
    /* A prefix longer than 448 bytes that is not a whole id: all ids of at
     * least 1000 bytes match. */
    uint8_t *p = malloc(1000);
    memset(p, 'x', 1000);
    size_t n = 0;
    CHECK_EQ(moat_store_scan(s, MOAT_T_MSG, p, 1000, count_cb, &n), MOAT_OK);
    CHECK_EQ(n, 520);
    n = 0;
    CHECK_EQ(moat_store_scan(s, MOAT_T_MSG, p, 448, count_cb, &n), MOAT_OK);
    CHECK_EQ(n, 520);
    n = 0;
    CHECK_EQ(moat_store_scan(s, MOAT_T_MSG, p, 447, count_cb, &n), MOAT_OK);
    CHECK_EQ(n, 570);
    n = 0;
    CHECK_EQ(moat_store_scan(s, MOAT_T_MSG, NULL, 0, count_cb, &n), MOAT_OK);
    CHECK_EQ(n, 620);
    /* Deleting "x*1000 \0" must spare the 1001- and 60000-byte ids. */
    uint8_t *k = malloc(1009);
    size_t pl = msg_key(k, 1000, 'x', 0) - 8;
    CHECK_EQ(moat_store_del_prefix(s, MOAT_T_MSG, k, pl), MOAT_OK);
    check_msgs(s, 1000, 'x', 0);
    check_msgs(s, 1001, 'x', 200);
    check_msgs(s, 60000, 'x', 20);
    check_msgs(s, 447, 'x', 50);
    CHECK_EQ(moat_store_count(s, MOAT_T_MSG), 320);
    CHECK_EQ(moat_store_del_prefix(s, MOAT_T_MSG, p, 1000), MOAT_OK);
    CHECK_EQ(moat_store_count(s, MOAT_T_MSG), 100);
    check_msgs(s, 447, 'x', 50);
    check_msgs(s, 10, 'x', 50);
    free(k);
    free(p);
    moat_store_close(s);
}

static void test_reopen(void)
{
    const char *dir = store_dir("reopen/nested/dirs");
    moat_store *s = open_at(dir, 0);
    CHECK_EQ(put_str(s, MOAT_T_META, "version", "1"), MOAT_OK);
    put_msgs(s, 2000, 'r', 10);
    CHECK_EQ(moat_store_sync(s), MOAT_OK);
    moat_store_close(s);
    s = open_at(dir, 0);
    CHECK(has_str(s, MOAT_T_META, "version", "1"));
    check_msgs(s, 2000, 'r', 10);
    CHECK_EQ(moat_store_count(s, MOAT_T_MSG), 10);
    moat_store_close(s);
}

static void test_open_error(void)
{
    char path[128], err[256] = "";
    snprintf(path, sizeof path, "%s/file", tmpdir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "%s/file/store", tmpdir);
    moat_store *s = NULL;
    CHECK(moat_store_open(path, 0, &s, err, sizeof err) != MOAT_OK);
    CHECK(strstr(err, "cannot create store directory") != NULL);
    CHECK(strstr(err, "Not a directory (check node.data_dir)") != NULL);
}

static void test_map_growth(void)
{
    const char *dir = store_dir("grow");
    moat_store *s = open_at(dir, 64 * 1024);
    size_t big = 3 << 20;
    uint8_t *v = malloc(big);
    for (size_t i = 0; i < big; i++)
        v[i] = (uint8_t)(i * 13);
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "k%d", i);
        CHECK_EQ(moat_store_put(s, MOAT_T_MSG, k, strlen(k), v, 4096), MOAT_OK);
    }
    CHECK_EQ(moat_store_put(s, MOAT_T_RETAIN, "big", 3, v, big), MOAT_OK);
    CHECK(has(s, MOAT_T_RETAIN, "big", 3, v, big));
    moat_store_close(s);
    /* WRITEMAP sizes the file to the map: it must have grown past 3 MiB. */
    char path[160];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    CHECK(stat(path, &st) == 0 && (size_t)st.st_size > big);
    s = open_at(dir, 64 * 1024);
    CHECK(has(s, MOAT_T_RETAIN, "big", 3, v, big));
    CHECK(has(s, MOAT_T_MSG, "k999", 4, v, 4096));
    CHECK_EQ(moat_store_count(s, MOAT_T_MSG), 1000);
    CHECK_EQ(moat_store_put(s, MOAT_T_RETAIN, "big2", 4, v, big), MOAT_OK);
    moat_store_close(s);
    free(v);
}

enum { N_THREADS = 4, PER_THREAD = 1500 };

typedef struct worker {
    moat_store *s;
    int id;
    int errors;
} worker;

static void *writer(void *arg)
{
    worker *w = arg;
    char k[32], v[600];
    memset(v, 'a' + w->id, sizeof v);
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(k, sizeof k, "t%d/%05d", w->id, i);
        if (moat_store_put(w->s, MOAT_T_SESSION, k, strlen(k), v, sizeof v) != MOAT_OK)
            w->errors++;
        /* Read back while others write and grow the map. */
        if (!has(w->s, MOAT_T_SESSION, k, strlen(k), v, sizeof v))
            w->errors++;
    }
    return NULL;
}

static void test_concurrent(void)
{
    moat_store *s = open_at(store_dir("threads"), 64 * 1024);
    pthread_t th[N_THREADS];
    worker w[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (worker){s, i, 0};
        CHECK_EQ(pthread_create(&th[i], NULL, writer, &w[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(w[i].errors, 0);
    }
    CHECK_EQ(moat_store_count(s, MOAT_T_SESSION), N_THREADS * PER_THREAD);
    size_t n = 0;
    CHECK_EQ(moat_store_scan(s, MOAT_T_SESSION, "t2/", 3, count_cb, &n), MOAT_OK);
    CHECK_EQ(n, PER_THREAD);
    moat_store_close(s);
}

/* A child writes 1000 keys and is killed without closing: they must all be
 * there, since a committed write lives in the shared mapping. */
static void child_writes(const char *dir, int fd)
{
    moat_store *s = NULL;
    char err[256], k[32];
    if (moat_store_open(dir, 0, &s, err, sizeof err) != MOAT_OK)
        _exit(1);
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "key%d", i);
        if (moat_store_put(s, MOAT_T_SESSION, k, strlen(k), k, strlen(k)) != MOAT_OK)
            _exit(1);
    }
    if (write(fd, "x", 1) != 1)
        _exit(1);
    for (;;)
        pause();
}

static void test_kill9(void)
{
    const char *dir = store_dir("kill9");
    int p[2];
    CHECK_EQ(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        child_writes(dir, p[1]);
    }
    close(p[1]);
    char c = 0;
    CHECK_EQ(read(p[0], &c, 1), 1);
    close(p[0]);
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    moat_store *s = open_at(dir, 0);
    char k[32];
    int found = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "key%d", i);
        found += has_str(s, MOAT_T_SESSION, k, k);
    }
    CHECK_EQ(found, 1000);
    CHECK_EQ(moat_store_count(s, MOAT_T_SESSION), 1000);
    moat_store_close(s);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/moat-store-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    TEST(test_basic);
    TEST(test_scan);
    TEST(test_del_prefix);
    TEST(test_long_keys);
    TEST(test_reopen);
    TEST(test_open_error);
    TEST(test_map_growth);
    TEST(test_concurrent);
    TEST(test_kill9);
    rm_tree(tmpdir);
    return test_summary("store");
}
