/* SPDX-License-Identifier: Apache-2.0 */
/* The event loop: level-triggered epoll for fds, a binary min-heap for
 * timers, and a mutex-protected task queue that other threads wake through
 * an eventfd.
 *
 * One iteration: before_sleep, epoll_wait (timeout: 0 when tasks wait, else
 * until the nearest timer), fd callbacks, due timers, posted tasks. */
#include "core/loop.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define NONE UINT32_MAX
/* Timer ids carry the node index + 1 in 32 bits. */
#define MAX_TIMERS (UINT32_MAX - 1)

/* One fd registration. gen changes on every add and travels in the epoll
 * event, so an event fetched for an earlier registration of the same fd
 * number (deleted, maybe re-added, by a callback) is recognised as stale. */
typedef struct fd_slot {
    moat_io_fn fn;
    void *arg;
    uint32_t gen;
    uint8_t events;
    bool live;
} fd_slot; /* 24 bytes: one per fd number, idle connections included */

/* Timers live in a pool of nodes so that an id names its node directly:
 * id = gen << 32 | (index + 1). Cancel finds the node in O(1) and removes it
 * from the heap in O(log n), without a hash table; gen makes ids of fired or
 * cancelled timers harmless. */
typedef struct timer_node {
    moat_task_fn fn;
    void *arg;
    uint32_t gen;
    uint32_t heap_pos; /* NONE when the node is free */
    uint32_t next_free;
} timer_node;

typedef struct heap_ent {
    uint64_t deadline;
    uint64_t seq; /* equal deadlines fire in creation order */
    uint32_t node;
} heap_ent;

typedef struct task {
    moat_task_fn fn;
    void *arg;
} task;

typedef struct task_vec {
    task *v;
    size_t n, cap;
} task_vec;

struct moat_loop {
    int epfd;
    int evfd;
    fd_slot *fds; /* indexed by fd */
    size_t nfds;
    heap_ent *heap; /* same capacity as nodes */
    size_t heap_n;
    timer_node *nodes;
    uint32_t nodes_n, nodes_cap, free_head;
    uint64_t timer_seq;
    moat_task_fn before_sleep;
    void *before_sleep_arg;
    pthread_mutex_t mu; /* guards posted */
    task_vec posted;
    task_vec running; /* loop thread only; swapped with posted to run */
    atomic_bool stop;
};

uint64_t moat_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- fds ---- */

static uint32_t to_epoll(unsigned events)
{
    return (events & MOAT_EV_READ ? EPOLLIN : 0) | (events & MOAT_EV_WRITE ? EPOLLOUT : 0);
}

static unsigned from_epoll(uint32_t e)
{
    return (e & EPOLLIN ? MOAT_EV_READ : 0) | (e & EPOLLOUT ? MOAT_EV_WRITE : 0) |
           (e & (EPOLLERR | EPOLLHUP) ? MOAT_EV_ERROR : 0);
}

static moat_err errno_err(void)
{
    return errno == ENOMEM ? MOAT_ENOMEM : MOAT_EIO;
}

static fd_slot *slot_of(moat_loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].live)
        return NULL;
    return &l->fds[fd];
}

static bool fds_grow(moat_loop *l, int fd)
{
    size_t cap = l->nfds ? l->nfds : 64;
    while (cap <= (size_t)fd)
        cap *= 2;
    fd_slot *p = realloc(l->fds, cap * sizeof *p);
    if (!p)
        return false;
    memset(p + l->nfds, 0, (cap - l->nfds) * sizeof *p);
    l->fds = p;
    l->nfds = cap;
    return true;
}

static int ctl(moat_loop *l, int op, int fd, const fd_slot *s)
{
    struct epoll_event ev = {.events = to_epoll(s->events),
                             .data.u64 = (uint64_t)s->gen << 32 | (uint32_t)fd};
    return epoll_ctl(l->epfd, op, fd, &ev);
}

moat_err moat_loop_add_fd(moat_loop *l, int fd, unsigned events, moat_io_fn fn, void *arg)
{
    if (fd < 0 || !fn)
        return MOAT_EINVAL;
    if ((size_t)fd >= l->nfds && !fds_grow(l, fd))
        return MOAT_ENOMEM;
    if (l->fds[fd].live)
        return MOAT_EEXIST;
    fd_slot s = {fn, arg, l->fds[fd].gen + 1, (uint8_t)events, true};
    if (ctl(l, EPOLL_CTL_ADD, fd, &s) < 0)
        return errno == EEXIST ? MOAT_EEXIST : errno_err();
    l->fds[fd] = s;
    return MOAT_OK;
}

moat_err moat_loop_mod_fd(moat_loop *l, int fd, unsigned events)
{
    fd_slot *s = slot_of(l, fd);
    if (!s)
        return MOAT_ENOTFOUND;
    fd_slot next = *s;
    next.events = (uint8_t)events;
    if (ctl(l, EPOLL_CTL_MOD, fd, &next) < 0)
        return errno_err();
    *s = next;
    return MOAT_OK;
}

void moat_loop_del_fd(moat_loop *l, int fd)
{
    fd_slot *s = slot_of(l, fd);
    if (!s)
        return;
    s->live = false;
    /* Fails harmlessly when the caller closed fd first: epoll dropped it. */
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
}

void moat_loop_forget_fd(moat_loop *l, int fd)
{
    fd_slot *s = slot_of(l, fd);
    if (s)
        s->live = false; /* events already fetched for it are dropped by live/gen */
}

static void dispatch(moat_loop *l, const struct epoll_event *ev)
{
    int fd = (int)(uint32_t)ev->data.u64;
    fd_slot *s = slot_of(l, fd);
    if (!s || s->gen != (uint32_t)(ev->data.u64 >> 32))
        return;
    /* Drop readiness the callback no longer asked for (mod_fd earlier in
     * this iteration); errors are always reported. */
    unsigned events = from_epoll(ev->events) & (s->events | MOAT_EV_ERROR);
    if (events)
        s->fn(l, fd, s->arg, events);
}

/* ---- timers ---- */

static bool ent_less(const heap_ent *a, const heap_ent *b)
{
    return a->deadline != b->deadline ? a->deadline < b->deadline : a->seq < b->seq;
}

static void heap_set(moat_loop *l, size_t i, heap_ent e)
{
    l->heap[i] = e;
    l->nodes[e.node].heap_pos = (uint32_t)i;
}

static void sift_up(moat_loop *l, size_t i)
{
    heap_ent e = l->heap[i];
    while (i > 0 && ent_less(&e, &l->heap[(i - 1) / 2])) {
        heap_set(l, i, l->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(l, i, e);
}

static void sift_down(moat_loop *l, size_t i)
{
    heap_ent e = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->heap_n)
            break;
        if (c + 1 < l->heap_n && ent_less(&l->heap[c + 1], &l->heap[c]))
            c++;
        if (!ent_less(&l->heap[c], &e))
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, e);
}

static void heap_remove(moat_loop *l, size_t i)
{
    l->heap_n--;
    if (i == l->heap_n)
        return;
    heap_set(l, i, l->heap[l->heap_n]);
    if (i > 0 && ent_less(&l->heap[i], &l->heap[(i - 1) / 2]))
        sift_up(l, i);
    else
        sift_down(l, i);
}

static bool nodes_grow(moat_loop *l)
{
    if (l->nodes_cap >= MAX_TIMERS)
        return false;
    size_t cap = l->nodes_cap ? (size_t)l->nodes_cap * 2 : 64;
    if (cap > MAX_TIMERS)
        cap = MAX_TIMERS;
    heap_ent *h = realloc(l->heap, cap * sizeof *h);
    if (!h)
        return false;
    l->heap = h; /* larger is harmless if the next realloc fails */
    timer_node *n = realloc(l->nodes, cap * sizeof *n);
    if (!n)
        return false;
    l->nodes = n;
    l->nodes_cap = (uint32_t)cap;
    return true;
}

static uint32_t node_alloc(moat_loop *l)
{
    uint32_t i = l->free_head;
    if (i != NONE) {
        l->free_head = l->nodes[i].next_free;
        return i;
    }
    if (l->nodes_n == l->nodes_cap && !nodes_grow(l))
        return NONE;
    l->nodes[l->nodes_n].gen = 1;
    return l->nodes_n++;
}

static void node_free(moat_loop *l, uint32_t i)
{
    timer_node *n = &l->nodes[i];
    n->gen++;
    n->heap_pos = NONE;
    n->next_free = l->free_head;
    l->free_head = i;
}

uint64_t moat_loop_timer(moat_loop *l, uint64_t ms, moat_task_fn fn, void *arg)
{
    uint32_t i = node_alloc(l);
    if (i == NONE)
        return 0;
    timer_node *n = &l->nodes[i];
    n->fn = fn;
    n->arg = arg;
    uint64_t now = moat_now_ms();
    uint64_t deadline = ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
    l->heap[l->heap_n++] = (heap_ent){deadline, l->timer_seq++, i};
    sift_up(l, l->heap_n - 1);
    return (uint64_t)n->gen << 32 | ((uint64_t)i + 1);
}

void moat_loop_timer_cancel(moat_loop *l, uint64_t id)
{
    uint64_t low = id & UINT32_MAX;
    if (low == 0 || low > l->nodes_n)
        return;
    uint32_t i = (uint32_t)(low - 1);
    timer_node *n = &l->nodes[i];
    if (n->gen != (uint32_t)(id >> 32) || n->heap_pos == NONE)
        return;
    heap_remove(l, n->heap_pos);
    node_free(l, i);
}

/* Fire due timers. Timers created meanwhile wait for the next iteration, so
 * a callback re-arming itself with 0 ms cannot starve fds and tasks. */
static void run_timers(moat_loop *l)
{
    uint64_t now = moat_now_ms(), limit = l->timer_seq;
    while (l->heap_n > 0 && l->heap[0].deadline <= now && l->heap[0].seq < limit) {
        uint32_t i = l->heap[0].node;
        task t = {l->nodes[i].fn, l->nodes[i].arg};
        heap_remove(l, 0);
        node_free(l, i);
        t.fn(l, t.arg);
    }
}

/* ---- tasks ---- */

static bool task_push(task_vec *q, task t)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        task *v = realloc(q->v, cap * sizeof *v);
        if (!v)
            return false;
        q->v = v;
        q->cap = cap;
    }
    q->v[q->n++] = t;
    return true;
}

static void wake(moat_loop *l)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the loop will wake. */
    while (write(l->evfd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

static void on_wake(moat_loop *l, int fd, void *arg, unsigned events)
{
    (void)l;
    (void)arg;
    (void)events;
    uint64_t n;
    while (read(fd, &n, sizeof n) < 0 && errno == EINTR)
        ;
}

moat_err moat_loop_post(moat_loop *l, moat_task_fn fn, void *arg)
{
    pthread_mutex_lock(&l->mu);
    bool ok = task_push(&l->posted, (task){fn, arg});
    bool first = ok && l->posted.n == 1;
    pthread_mutex_unlock(&l->mu);
    if (!ok)
        return MOAT_ENOMEM;
    /* Later posters find the queue non-empty: the loop is already woken. */
    if (first)
        wake(l);
    return MOAT_OK;
}

static bool tasks_waiting(moat_loop *l)
{
    pthread_mutex_lock(&l->mu);
    bool waiting = l->posted.n > 0;
    pthread_mutex_unlock(&l->mu);
    return waiting;
}

/* Run the tasks posted so far; tasks they post run next iteration. */
static void run_tasks(moat_loop *l)
{
    pthread_mutex_lock(&l->mu);
    task_vec t = l->posted;
    l->posted = l->running;
    l->running = t;
    pthread_mutex_unlock(&l->mu);
    for (size_t i = 0; i < l->running.n; i++)
        l->running.v[i].fn(l, l->running.v[i].arg);
    l->running.n = 0;
}

void moat_loop_run_posted(moat_loop *l)
{
    while (tasks_waiting(l))
        run_tasks(l);
}

/* ---- loop ---- */

void moat_loop_set_before_sleep(moat_loop *l, moat_task_fn fn, void *arg)
{
    l->before_sleep = fn;
    l->before_sleep_arg = arg;
}

static int wait_timeout(moat_loop *l)
{
    if (tasks_waiting(l) || atomic_load(&l->stop))
        return 0;
    if (l->heap_n == 0)
        return -1;
    uint64_t now = moat_now_ms(), deadline = l->heap[0].deadline;
    if (deadline <= now)
        return 0;
    return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

static void iterate(moat_loop *l)
{
    struct epoll_event evs[MAX_EVENTS];
    if (l->before_sleep)
        l->before_sleep(l, l->before_sleep_arg);
    /* EINTR (n < 0) just ends the wait early. */
    int n = epoll_wait(l->epfd, evs, MAX_EVENTS, wait_timeout(l));
    for (int i = 0; i < n; i++)
        dispatch(l, &evs[i]);
    run_timers(l);
    run_tasks(l);
}

void moat_loop_run(moat_loop *l)
{
    while (!atomic_load(&l->stop))
        iterate(l);
    atomic_store(&l->stop, false);
}

void moat_loop_stop(moat_loop *l)
{
    atomic_store(&l->stop, true);
    wake(l);
}

moat_err moat_loop_new(moat_loop **out)
{
    moat_loop *l = calloc(1, sizeof *l);
    if (!l)
        return MOAT_ENOMEM;
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return MOAT_ENOMEM;
    }
    l->free_head = NONE;
    atomic_init(&l->stop, false);
    l->evfd = -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd >= 0)
        l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    moat_err e =
        l->evfd < 0 ? errno_err() : moat_loop_add_fd(l, l->evfd, MOAT_EV_READ, on_wake, NULL);
    if (e)
        goto fail;
    *out = l;
    return MOAT_OK;
fail:
    moat_loop_free(l);
    return e;
}

void moat_loop_free(moat_loop *l)
{
    if (!l)
        return;
    if (l->evfd >= 0)
        close(l->evfd);
    if (l->epfd >= 0)
        close(l->epfd);
    pthread_mutex_destroy(&l->mu);
    free(l->fds);
    free(l->heap);
    free(l->nodes);
    free(l->posted.v);
    free(l->running.v);
    free(l);
}
