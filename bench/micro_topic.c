/* SPDX-License-Identifier: Apache-2.0 */
/* Micro-benchmark of the topic tries (not part of the build):
 *   cc -O2 -D_GNU_SOURCE -Isrc src/base/err.c src/mqtt/topic.c bench/micro_topic.c -o micro_topic
 * Reports match rates for a wide fan-out, a large filter set, and retained
 * storms. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqtt/topic.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ULL;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static size_t hits;
static void count_sub(void *ctx, const moat_sub *s, const char *f, size_t flen)
{
    (void)ctx;
    (void)f;
    (void)flen;
    hits += s->options + 1u;
}

static void count_ret(void *ctx, const char *t, size_t tlen, void *v)
{
    (void)ctx;
    (void)t;
    (void)v;
    hits += tlen;
}

static void fanout(int nsubs)
{
    moat_subtree *t;
    moat_subtree_new(&t);
    char *owners = calloc((size_t)nsubs, 1);
    double t0 = now();
    for (int i = 0; i < nsubs; i++)
        moat_subtree_add(t, "bench/topic", 11, &owners[i], NULL, 0, 1, 0, NULL);
    double t1 = now();
    int iters = 20000;
    for (int k = 0; k < iters; k++)
        moat_subtree_match(t, "bench/topic", 11, count_sub, NULL);
    double t2 = now();
    for (int i = 0; i < nsubs; i++)
        moat_subtree_remove(t, "bench/topic", 11, &owners[i], NULL, 0);
    double t3 = now();
    printf("fan-out %d subs on one topic: add %.0f ns/sub, match %.2f us/publish "
           "(%.1f M deliveries/s), remove %.0f ns/sub\n",
           nsubs, (t1 - t0) / nsubs * 1e9, (t2 - t1) / iters * 1e6,
           (double)nsubs * iters / (t2 - t1) / 1e6, (t3 - t2) / nsubs * 1e9);
    moat_subtree_free(t);
    free(owners);
}

/* n filters "site/<s>/dev/<d>/<m>" with a few '+' and '#' mixed in. */
static void many_filters(int n)
{
    moat_subtree *t;
    moat_subtree_new(&t);
    static char owner;
    char f[64];
    double t0 = now();
    for (int i = 0; i < n; i++) {
        int kind = i % 20;
        if (kind == 0)
            snprintf(f, sizeof f, "site/%d/dev/+/temp", i % 1000);
        else if (kind == 1)
            snprintf(f, sizeof f, "site/%d/dev/%d/#", i % 1000, i);
        else if (kind == 2)
            snprintf(f, sizeof f, "+/%d/dev/%d/temp", i % 1000, i);
        else
            snprintf(f, sizeof f, "site/%d/dev/%d/temp", i % 1000, i);
        moat_subtree_add(t, f, strlen(f), &owner + 0, NULL, 0, 0, (uint32_t)i, NULL);
    }
    double t1 = now();
    int iters = 2000000;
    char(*topics)[64] = malloc(4096 * sizeof *topics);
    for (int k = 0; k < 4096; k++) {
        int i = (int)rnd((uint32_t)n);
        snprintf(topics[k], 64, "site/%d/dev/%d/temp", i % 1000, i);
    }
    size_t before = hits;
    double t2 = now();
    for (int k = 0; k < iters; k++) {
        const char *tp = topics[k & 4095];
        moat_subtree_match(t, tp, strlen(tp), count_sub, NULL);
    }
    double t3 = now();
    printf("%d distinct filters: add %.0f ns/filter, match %.0f ns/publish (%.2f M/s, "
           "%.2f callbacks/publish)\n",
           n, (t1 - t0) / n * 1e9, (t3 - t2) / iters * 1e9, iters / (t3 - t2) / 1e6,
           (double)(hits - before) / iters);
    moat_subtree_free(t);
    free(topics);
}

static void retained(int n)
{
    moat_rettree *t;
    moat_rettree_new(&t);
    char topic[64];
    double t0 = now();
    for (int i = 0; i < n; i++) {
        snprintf(topic, sizeof topic, "site/%d/dev/%d/temp", i % 100, i);
        moat_rettree_set(t, topic, strlen(topic), (void *)(uintptr_t)(i + 1), NULL);
    }
    double t1 = now();
    int iters = 200;
    for (int k = 0; k < iters; k++)
        moat_rettree_match(t, "#", 1, count_ret, NULL);
    double t2 = now();
    for (int k = 0; k < iters; k++)
        moat_rettree_match(t, "site/+/dev/+/temp", 17, count_ret, NULL);
    double t3 = now();
    int gets = 1000000;
    for (int k = 0; k < gets; k++) {
        int i = (int)rnd((uint32_t)n);
        snprintf(topic, sizeof topic, "site/%d/dev/%d/temp", i % 100, i);
        hits += moat_rettree_get(t, topic, strlen(topic)) != NULL;
    }
    double t4 = now();
    printf("%d retained: set %.0f ns/topic, '#' %.2f ms (%.0f ns/topic), "
           "'site/+/dev/+/temp' %.2f ms, get+snprintf %.0f ns\n",
           n, (t1 - t0) / n * 1e9, (t2 - t1) / iters * 1e3, (t2 - t1) / iters / n * 1e9,
           (t3 - t2) / iters * 1e3, (t4 - t3) / gets * 1e9);
    moat_rettree_free(t, NULL);
}

int main(void)
{
    fanout(1000);
    fanout(10000);
    many_filters(100000);
    many_filters(1000000);
    retained(10000);
    retained(100000);
    printf("(checksum %zu)\n", hits);
    return 0;
}
