/* SPDX-License-Identifier: Apache-2.0 */
/* A bounded pool of threads for blocking work that must stay off the event
 * loops (authentication backends). Jobs run in the order submitted; the
 * threads start with the first job. A full queue refuses a job at once
 * (MOAT_ELIMIT) so that a slow backend turns into fast refusals, not an
 * unbounded backlog. */
#ifndef MOAT_AUTH_POOL_H
#define MOAT_AUTH_POOL_H

#include <stdbool.h>

#include "base/err.h"

typedef struct moat_pool moat_pool;

/* Run a job. cancelled: the pool is being freed and the job never started;
 * fn must still release what arg holds. */
typedef void (*moat_pool_fn)(void *arg, bool cancelled);

moat_err moat_pool_new(unsigned threads, unsigned queue_max, moat_pool **out);
/* MOAT_ELIMIT: queue full; MOAT_ENOMEM; MOAT_EIO: no thread could start. */
moat_err moat_pool_submit(moat_pool *p, moat_pool_fn fn, void *arg);
/* Jobs waiting and jobs running, for statistics. */
void moat_pool_load(moat_pool *p, unsigned *queued, unsigned *running);
/* Waits for running jobs, cancels queued ones (fn(arg, true)), joins. */
void moat_pool_free(moat_pool *p);

#endif
