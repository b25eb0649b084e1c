/* SPDX-License-Identifier: Apache-2.0 */
/* A small epoll event loop, one per worker thread. It knows nothing about
 * MQTT, TLS or sockets beyond file descriptors.
 *
 * Threading: every function must be called from the loop's own thread except
 * moat_loop_post() and moat_loop_stop(), which any thread may call. */
#ifndef MOAT_LOOP_H
#define MOAT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

typedef struct moat_loop moat_loop;

enum { MOAT_EV_READ = 1, MOAT_EV_WRITE = 2, MOAT_EV_ERROR = 4 /* HUP/ERR, reported only */ };

typedef void (*moat_io_fn)(moat_loop *l, int fd, void *arg, unsigned events);
typedef void (*moat_task_fn)(moat_loop *l, void *arg);

moat_err moat_loop_new(moat_loop **out);
/* Frees the loop; fds are not closed; posted tasks not yet run are dropped. */
void moat_loop_free(moat_loop *l);

/* Watch fd for events (MOAT_EV_READ|MOAT_EV_WRITE); level-triggered. One
 * registration per fd; arg is passed back to fn and not owned. */
moat_err moat_loop_add_fd(moat_loop *l, int fd, unsigned events, moat_io_fn fn, void *arg);
moat_err moat_loop_mod_fd(moat_loop *l, int fd, unsigned events);
/* Stop watching fd. Safe to call from inside fn of the same fd; no further
 * callbacks for fd are made in the current iteration. */
void moat_loop_del_fd(moat_loop *l, int fd);
/* As moat_loop_del_fd for an fd the caller closes right after, leaving its
 * removal from epoll to close(): one system call less. Only when no other
 * descriptor refers to the same open file (no dup, no fork). */
void moat_loop_forget_fd(moat_loop *l, int fd);

/* One-shot timer after ms milliseconds. Returns an id > 0 (0 on ENOMEM). */
uint64_t moat_loop_timer(moat_loop *l, uint64_t ms, moat_task_fn fn, void *arg);
/* Cancel a pending timer; unknown or fired ids are ignored. */
void moat_loop_timer_cancel(moat_loop *l, uint64_t id);

/* Called once per iteration just before the loop waits (batched flushes). */
void moat_loop_set_before_sleep(moat_loop *l, moat_task_fn fn, void *arg);

/* Run fn(l, arg) on the loop's thread soon. Thread-safe; wakes the loop
 * through an eventfd. Tasks run in the order posted. */
moat_err moat_loop_post(moat_loop *l, moat_task_fn fn, void *arg);

/* Run until moat_loop_stop(). */
void moat_loop_run(moat_loop *l);
/* After moat_loop_run has returned: run the tasks posted meanwhile (and
 * those they post), on the calling thread, so that none is lost at
 * shutdown. */
void moat_loop_run_posted(moat_loop *l);
/* Thread-safe: make moat_loop_run return after the current iteration. */
void moat_loop_stop(moat_loop *l);

/* Milliseconds from CLOCK_MONOTONIC. */
uint64_t moat_now_ms(void);

#endif
