/* SPDX-License-Identifier: Apache-2.0 */
#include "auth/pool.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct job {
    moat_pool_fn fn;
    void *arg;
} job;

struct moat_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    job *ring; /* queue_max slots */
    unsigned cap, head, len;
    unsigned running;
    pthread_t *threads;
    unsigned n_threads, started;
    bool stopping;
};

moat_err moat_pool_new(unsigned threads, unsigned queue_max, moat_pool **out)
{
    moat_pool *p = calloc(1, sizeof *p);
    if (!p)
        return MOAT_ENOMEM;
    p->cap = queue_max ? queue_max : 1;
    p->n_threads = threads ? threads : 1;
    p->ring = calloc(p->cap, sizeof *p->ring);
    p->threads = calloc(p->n_threads, sizeof *p->threads);
    if (!p->ring || !p->threads) {
        free(p->ring);
        free(p->threads);
        free(p);
        return MOAT_ENOMEM;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    *out = p;
    return MOAT_OK;
}

static void *run(void *arg)
{
    moat_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->len && !p->stopping)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->stopping)
            break;
        job j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        p->running++;
        pthread_mutex_unlock(&p->lock);
        j.fn(j.arg, false);
        pthread_mutex_lock(&p->lock);
        p->running--;
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

moat_err moat_pool_submit(moat_pool *p, moat_pool_fn fn, void *arg)
{
    moat_err e = MOAT_OK;
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->len == p->cap) {
        e = MOAT_ELIMIT;
    } else {
        /* One more thread while some are missing and none is idle. */
        if (p->started < p->n_threads && p->running + p->len >= p->started) {
            if (pthread_create(&p->threads[p->started], NULL, run, p) == 0)
                p->started++;
            else if (!p->started)
                e = MOAT_EIO;
        }
        if (!e) {
            p->ring[(p->head + p->len) % p->cap] = (job){fn, arg};
            p->len++;
            pthread_cond_signal(&p->cond);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return e;
}

void moat_pool_load(moat_pool *p, unsigned *queued, unsigned *running)
{
    pthread_mutex_lock(&p->lock);
    *queued = p->len;
    *running = p->running;
    pthread_mutex_unlock(&p->lock);
}

void moat_pool_free(moat_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    while (p->len) { /* never started: let them release what they hold */
        job j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        j.fn(j.arg, true);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->ring);
    free(p->threads);
    free(p);
}
