/* SPDX-License-Identifier: Apache-2.0 */
/* The connection pool a network backend (Redis, HTTP) keeps, as backend.h
 * asks: at most size connections, each used by one pool thread at a time;
 * made lazily by the thread that needs one; closed when broken; after a
 * failed connect a backoff (moat_backoff) during which every request fails
 * at once; a change of state logged once ("unreachable ...; retrying in",
 * "connected again"), never a password.
 *
 * All functions are safe on any thread; open and close run without the
 * pool's lock held. */
#ifndef MOAT_AUTH_CONNPOOL_H
#define MOAT_AUTH_CONNPOOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/backend.h"
#include "base/err.h"

typedef struct moat_connpool_ops {
    /* Make a connection by deadline_ms (moat_now_ms clock); NULL with a
     * short why (no secret in it) when the server cannot be reached. */
    void *(*open)(void *self, int64_t deadline_ms, char *why, size_t n);
    void (*close)(void *self, void *conn);
} moat_connpool_ops;

typedef struct moat_connpool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a slot became free */
    uint32_t size;
    void **conns; /* per slot: a connection, or NULL */
    bool *busy;   /* per slot: taken by a thread */
    moat_backoff backoff;
    const moat_connpool_ops *ops;
    void *self;       /* for ops */
    char name[32];    /* "auth.redis": starts every log line */
    char target[256]; /* "127.0.0.1:6379": the server, no credentials */
} moat_connpool;

/* How a request on a connection ended (moat_connpool_put). */
typedef enum moat_conn_outcome {
    MOAT_CONN_OK = 0, /* the server answered: healthy */
    MOAT_CONN_KEEP,   /* failed, but the connection is still good (an error reply) */
    MOAT_CONN_BROKEN, /* the connection is unusable (timeout, EOF): close it */
    MOAT_CONN_DOWN,   /* the server cannot be reached: close it and back off */
} moat_conn_outcome;

moat_err moat_connpool_init(moat_connpool *p, const char *name, const char *target, uint32_t size,
                            const moat_connpool_ops *ops, void *self);
/* Closes every connection; no thread may be using the pool. */
void moat_connpool_destroy(moat_connpool *p);
/* Close the connections no thread is using (a retired backend). */
void moat_connpool_close_idle(moat_connpool *p);

/* Take a slot and its connection (opened now when the slot has none),
 * waiting for a free slot until deadline_ms. Returns the slot, *conn and
 * *fresh (made by this call); -1 with why when no slot came free in time,
 * the pool is backing off, or the connect failed. */
int moat_connpool_get(moat_connpool *p, int64_t deadline_ms, void **conn, bool *fresh, char *why,
                      size_t n);
/* Give the slot back; why (no secret) says what went wrong with DOWN. */
void moat_connpool_put(moat_connpool *p, int slot, moat_conn_outcome o, const char *why);

/* Milliseconds from now to deadline_ms, at least 1 (for socket timeouts). */
int64_t moat_connpool_left_ms(int64_t deadline_ms);

#endif
