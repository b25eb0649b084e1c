/* SPDX-License-Identifier: Apache-2.0 */
/* A backend's connection pool (see connpool.h). */
#include "auth/connpool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "core/loop.h"

moat_err moat_connpool_init(moat_connpool *p, const char *name, const char *target, uint32_t size,
                            const moat_connpool_ops *ops, void *self)
{
    memset(p, 0, sizeof *p);
    p->size = size ? size : 1;
    p->ops = ops;
    p->self = self;
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->target, sizeof p->target, "%s", target);
    p->conns = calloc(p->size, sizeof *p->conns);
    p->busy = calloc(p->size, sizeof *p->busy);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the clock of moat_now_ms */
    bool ok = p->conns && p->busy && !pthread_mutex_init(&p->mu, NULL);
    if (ok && pthread_cond_init(&p->cv, &ca)) {
        pthread_mutex_destroy(&p->mu);
        ok = false;
    }
    pthread_condattr_destroy(&ca);
    if (!ok) {
        free(p->conns);
        free(p->busy);
        p->conns = NULL;
        p->busy = NULL;
        return MOAT_ENOMEM;
    }
    return MOAT_OK;
}

void moat_connpool_destroy(moat_connpool *p)
{
    if (!p->conns)
        return;
    for (uint32_t i = 0; i < p->size; i++)
        if (p->conns[i])
            p->ops->close(p->self, p->conns[i]);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->conns);
    free(p->busy);
    p->conns = NULL;
    p->busy = NULL;
}

void moat_connpool_close_idle(moat_connpool *p)
{
    for (uint32_t i = 0; i < p->size; i++) {
        pthread_mutex_lock(&p->mu);
        void *c = p->busy[i] ? NULL : p->conns[i];
        if (c)
            p->conns[i] = NULL;
        pthread_mutex_unlock(&p->mu);
        if (c)
            p->ops->close(p->self, c);
    }
}

int64_t moat_connpool_left_ms(int64_t deadline_ms)
{
    int64_t left = deadline_ms - (int64_t)moat_now_ms();
    return left > 0 ? left : 1;
}

/* Under p->mu: a free slot, waiting for one until deadline_ms; -1 none. */
static int take_slot(moat_connpool *p, int64_t deadline_ms)
{
    struct timespec ts = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000};
    for (;;) {
        for (uint32_t i = 0; i < p->size; i++)
            if (!p->busy[i]) {
                p->busy[i] = true;
                return (int)i;
            }
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts))
            return -1; /* ETIMEDOUT */
    }
}

/* Under p->mu: slot i is free again. */
static void free_slot(moat_connpool *p, int i)
{
    p->busy[i] = false;
    pthread_cond_signal(&p->cv);
}

/* A connect or request could not reach the server: back off, and say so
 * once. Takes p->mu. */
static void went_down(moat_connpool *p, const char *why)
{
    int64_t now = (int64_t)moat_now_ms();
    pthread_mutex_lock(&p->mu);
    bool change = moat_backoff_fail(&p->backoff, now);
    double delay = p->backoff.delay_ms / 1000.0;
    pthread_mutex_unlock(&p->mu);
    if (change)
        LOG_WARN("%s: server %s unreachable: %s; retrying in %.1f s", p->name, p->target, why,
                 delay);
    else
        LOG_DEBUG("%s: server %s still unreachable: %s; retrying in %.1f s", p->name, p->target,
                  why, delay);
}

int moat_connpool_get(moat_connpool *p, int64_t deadline_ms, void **conn, bool *fresh, char *why,
                      size_t n)
{
    *fresh = false;
    pthread_mutex_lock(&p->mu);
    int i = take_slot(p, deadline_ms);
    if (i < 0) {
        pthread_mutex_unlock(&p->mu);
        snprintf(why, n, "all %u connections busy until the deadline", p->size);
        return -1;
    }
    int64_t now = (int64_t)moat_now_ms();
    if (!moat_backoff_ready(&p->backoff, now)) {
        int64_t wait = p->backoff.until_ms - now;
        free_slot(p, i);
        pthread_mutex_unlock(&p->mu);
        snprintf(why, n, "server %s unreachable, next try in %.1f s", p->target, wait / 1000.0);
        return -1;
    }
    *conn = p->conns[i];
    pthread_mutex_unlock(&p->mu);
    if (*conn)
        return i;
    char cause[200] = "";
    *conn = p->ops->open(p->self, deadline_ms, cause, sizeof cause);
    if (!*conn) {
        went_down(p, cause);
        pthread_mutex_lock(&p->mu);
        free_slot(p, i);
        pthread_mutex_unlock(&p->mu);
        snprintf(why, n, "server %s unreachable: %s", p->target, cause);
        return -1;
    }
    pthread_mutex_lock(&p->mu);
    p->conns[i] = *conn;
    pthread_mutex_unlock(&p->mu);
    *fresh = true;
    return i;
}

void moat_connpool_put(moat_connpool *p, int slot, moat_conn_outcome o, const char *why)
{
    if (o == MOAT_CONN_DOWN)
        went_down(p, why ? why : "connection failed");
    pthread_mutex_lock(&p->mu);
    void *dead = NULL;
    if (o == MOAT_CONN_BROKEN || o == MOAT_CONN_DOWN) {
        dead = p->conns[slot];
        p->conns[slot] = NULL;
    }
    bool back = o == MOAT_CONN_OK && moat_backoff_ok(&p->backoff);
    free_slot(p, slot);
    pthread_mutex_unlock(&p->mu);
    if (dead)
        p->ops->close(p->self, dead);
    if (back)
        LOG_NOTICE("%s: connected again (server %s)", p->name, p->target);
}
