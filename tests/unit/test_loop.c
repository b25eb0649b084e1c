/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/loop.h"
#include "test.h"

static moat_loop *new_loop(void)
{
    moat_loop *l = NULL;
    CHECK_EQ(moat_loop_new(&l), MOAT_OK);
    return l;
}

static void stop_task(moat_loop *l, void *arg)
{
    (void)arg;
    moat_loop_stop(l);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- fds ---- */

typedef struct io_rec {
    int calls;
    unsigned events;
} io_rec;

static void on_io(moat_loop *l, int fd, void *arg, unsigned events)
{
    io_rec *r = arg;
    char buf[16];
    r->calls++;
    r->events = events;
    if (events & MOAT_EV_READ) {
        ssize_t n = read(fd, buf, sizeof buf); /* 0 at EOF */
        CHECK(n >= 0);
    }
    moat_loop_stop(l);
}

static void test_fd_events(void)
{
    moat_loop *l = new_loop();
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    io_rec r = {0};
    CHECK_EQ(moat_loop_add_fd(l, sv[0], MOAT_EV_READ, on_io, &r), MOAT_OK);
    CHECK_EQ(moat_loop_add_fd(l, sv[0], MOAT_EV_READ, on_io, &r), MOAT_EEXIST);
    CHECK_EQ(moat_loop_mod_fd(l, sv[1], MOAT_EV_READ), MOAT_ENOTFOUND);
    CHECK_EQ(moat_loop_add_fd(l, -1, MOAT_EV_READ, on_io, &r), MOAT_EINVAL);
    CHECK_EQ(write(sv[1], "hi", 2), 2);
    moat_loop_run(l);
    CHECK_EQ(r.calls, 1);
    CHECK_EQ(r.events, MOAT_EV_READ);
    /* Writable right away. */
    CHECK_EQ(moat_loop_mod_fd(l, sv[0], MOAT_EV_WRITE), MOAT_OK);
    moat_loop_run(l);
    CHECK_EQ(r.calls, 2);
    CHECK_EQ(r.events, MOAT_EV_WRITE);
    /* Peer gone: reported as an error (with READ for the EOF). */
    CHECK_EQ(moat_loop_mod_fd(l, sv[0], MOAT_EV_READ), MOAT_OK);
    close(sv[1]);
    moat_loop_run(l);
    CHECK_EQ(r.calls, 3);
    CHECK(r.events & MOAT_EV_READ);
    moat_loop_del_fd(l, sv[0]);
    moat_loop_del_fd(l, sv[0]); /* twice is harmless */
    /* Re-adding after del works; the fd stays readable (EOF). */
    CHECK_EQ(moat_loop_add_fd(l, sv[0], MOAT_EV_READ, on_io, &r), MOAT_OK);
    moat_loop_run(l);
    CHECK_EQ(r.calls, 4);
    moat_loop_del_fd(l, sv[0]);
    close(sv[0]);
    moat_loop_free(l);
}

/* Two pipes are readable in the same iteration. Whichever callback runs
 * first deletes and closes the other fd, and registers a fresh pipe that
 * likely gets the same fd number: neither must see the stale event. */
typedef struct race {
    int rd[2];
    int first_calls, other_calls, fresh_calls;
    int fresh[2];
    bool forget; /* moat_loop_forget_fd, the close taking it out of epoll */
} race;

static void on_fresh(moat_loop *l, int fd, void *arg, unsigned events)
{
    (void)l, (void)fd, (void)events;
    ((race *)arg)->fresh_calls++;
}

static void on_race(moat_loop *l, int fd, void *arg, unsigned events)
{
    race *r = arg;
    (void)events;
    if (r->first_calls++ > 0) {
        r->other_calls++;
        return;
    }
    int other = fd == r->rd[0] ? r->rd[1] : r->rd[0];
    if (r->forget)
        moat_loop_forget_fd(l, other);
    else
        moat_loop_del_fd(l, other);
    close(other);
    CHECK_EQ(pipe(r->fresh), 0);
    CHECK_EQ(moat_loop_add_fd(l, r->fresh[0], MOAT_EV_READ, on_fresh, r), MOAT_OK);
    moat_loop_stop(l);
}

static void del_in_callback(bool forget)
{
    moat_loop *l = new_loop();
    race r = {0};
    r.forget = forget;
    int p0[2], p1[2];
    CHECK_EQ(pipe(p0), 0);
    CHECK_EQ(pipe(p1), 0);
    r.rd[0] = p0[0];
    r.rd[1] = p1[0];
    CHECK_EQ(write(p0[1], "a", 1), 1);
    CHECK_EQ(write(p1[1], "b", 1), 1);
    CHECK_EQ(moat_loop_add_fd(l, p0[0], MOAT_EV_READ, on_race, &r), MOAT_OK);
    CHECK_EQ(moat_loop_add_fd(l, p1[0], MOAT_EV_READ, on_race, &r), MOAT_OK);
    moat_loop_run(l);
    CHECK_EQ(r.first_calls, 1);
    CHECK_EQ(r.other_calls, 0);
    CHECK_EQ(r.fresh_calls, 0);
    int survivor = r.fresh[0] == p0[0] ? p1[0] : p0[0];
    if (r.fresh[0] != p0[0] && r.fresh[0] != p1[0])
        fprintf(stderr, "note: fresh pipe did not reuse the closed fd number\n");
    moat_loop_del_fd(l, survivor);
    moat_loop_del_fd(l, r.fresh[0]);
    close(survivor);
    close(r.fresh[0]);
    close(r.fresh[1]);
    close(p0[1]);
    close(p1[1]);
    moat_loop_free(l);
}

static void test_del_in_callback(void)
{
    del_in_callback(false);
}

static void test_forget_in_callback(void)
{
    del_in_callback(true);
}

/* ---- timers ---- */

typedef struct fired {
    int order[16];
    int n;
    uint64_t cancel_id;
} fired;

typedef struct tmark {
    fired *f;
    int tag;
} tmark;

static void on_timer(moat_loop *l, void *arg)
{
    tmark *m = arg;
    m->f->order[m->f->n++] = m->tag;
    if (m->f->cancel_id) {
        moat_loop_timer_cancel(l, m->f->cancel_id);
        m->f->cancel_id = 0;
    }
}

static void test_timers(void)
{
    moat_loop *l = new_loop();
    fired f = {0};
    tmark m[8];
    for (int i = 0; i < 8; i++)
        m[i] = (tmark){&f, i};
    uint64_t t30 = moat_loop_timer(l, 30, on_timer, &m[3]);
    uint64_t t10 = moat_loop_timer(l, 10, on_timer, &m[1]);
    uint64_t t20 = moat_loop_timer(l, 20, on_timer, &m[2]);
    moat_loop_timer(l, 10, on_timer, &m[4]); /* same deadline: after t10 */
    moat_loop_timer(l, 0, on_timer, &m[0]);
    uint64_t t25 = moat_loop_timer(l, 25, on_timer, &m[5]);
    uint64_t t40 = moat_loop_timer(l, 40, on_timer, &m[6]);
    CHECK(t30 && t10 && t20 && t25 && t40);
    CHECK(t30 != t10 && t10 != t20);
    moat_loop_timer_cancel(l, t20);
    moat_loop_timer_cancel(l, t20);     /* twice: ignored */
    moat_loop_timer_cancel(l, 12345);   /* unknown: ignored */
    moat_loop_timer_cancel(l, t10 + 1); /* wrong id: ignored */
    f.cancel_id = t25;                  /* the first to fire cancels t25 */
    uint64_t start = moat_now_ms();
    moat_loop_timer(l, 50, stop_task, NULL);
    moat_loop_run(l);
    CHECK(moat_now_ms() - start >= 50);
    CHECK_EQ(f.n, 5);
    int want[] = {0, 1, 4, 3, 6};
    CHECK_MEM(f.order, want, sizeof want);
    moat_loop_timer_cancel(l, t10); /* fired: ignored */
    /* A freed node is reused under a new id; the old id must not cancel it. */
    uint64_t again = moat_loop_timer(l, 0, on_timer, &m[7]);
    CHECK(again != t10 && again != t20);
    moat_loop_timer_cancel(l, t20);
    moat_loop_timer(l, 5, stop_task, NULL);
    moat_loop_run(l);
    CHECK_EQ(f.n, 6);
    CHECK_EQ(f.order[5], 7);
    moat_loop_free(l);
}

enum { N_TIMERS = 100000 };

/* The loop reads the clock itself, so a timer's deadline is only known to
 * lie in [lo, hi]: the clock before and after moat_loop_timer(), plus ms. */
typedef struct many {
    uint64_t ids[N_TIMERS];
    uint64_t lo[N_TIMERS], hi[N_TIMERS];
    uint8_t cancelled[N_TIMERS];
    uint32_t fired[N_TIMERS];
    uint32_t fired_n, want, early;
    uint64_t max_lo;
    int unordered;
} many;

static many *mt;

static void on_many(moat_loop *l, void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    if (moat_now_ms() < mt->lo[i])
        mt->early++;
    /* Fired in deadline order: no earlier timer's deadline exceeds ours. */
    if (mt->max_lo > mt->hi[i])
        mt->unordered++;
    if (mt->lo[i] > mt->max_lo)
        mt->max_lo = mt->lo[i];
    mt->fired[i]++;
    if (++mt->fired_n == mt->want)
        moat_loop_stop(l);
}

static void test_many_timers(void)
{
    moat_loop *l = new_loop();
    mt = calloc(1, sizeof *mt);
    unsigned seed = 42;
    for (size_t i = 0; i < N_TIMERS; i++) {
        uint64_t ms = (uint64_t)(rand_r(&seed) % 50);
        mt->lo[i] = moat_now_ms() + ms;
        mt->ids[i] = moat_loop_timer(l, ms, on_many, (void *)(uintptr_t)i);
        mt->hi[i] = moat_now_ms() + ms;
    }
    for (size_t i = 0; i < N_TIMERS; i++) {
        if (rand_r(&seed) % 2) {
            mt->cancelled[i] = 1;
            moat_loop_timer_cancel(l, mt->ids[i]);
        } else {
            mt->want++;
        }
    }
    uint64_t guard = moat_loop_timer(l, 5000, stop_task, NULL);
    moat_loop_run(l);
    moat_loop_timer_cancel(l, guard);
    int bad = 0;
    for (size_t i = 0; i < N_TIMERS; i++)
        bad += mt->fired[i] != (mt->cancelled[i] ? 0u : 1u);
    CHECK_EQ(bad, 0);
    CHECK_EQ(mt->fired_n, mt->want);
    CHECK_EQ(mt->early, 0);
    CHECK_EQ(mt->unordered, 0);
    free(mt);
    moat_loop_free(l);
}

/* A million long timers, cancelled in random order, must be cheap. */
static void test_million_cancels(void)
{
    enum { N = 1000000 };
    moat_loop *l = new_loop();
    uint64_t *ids = malloc(N * sizeof *ids);
    unsigned seed = 7;
    uint64_t start = moat_now_ms();
    for (size_t i = 0; i < N; i++)
        ids[i] = moat_loop_timer(l, 3600000 + (uint64_t)(rand_r(&seed) % 1000), on_many, NULL);
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = (size_t)rand_r(&seed) % (i + 1);
        uint64_t t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
    }
    for (size_t i = 0; i < N; i++)
        moat_loop_timer_cancel(l, ids[i]);
    CHECK(moat_now_ms() - start < 20000);
    /* Nothing left but this: the loop must not wake for the cancelled. */
    moat_loop_timer(l, 1, stop_task, NULL);
    moat_loop_run(l);
    free(ids);
    moat_loop_free(l);
}

/* ---- tasks ---- */

enum { N_POSTERS = 4, PER_POSTER = 20000 };

typedef struct posts {
    moat_loop *l;
    uint32_t next[N_POSTERS];
    int bad;
    int total;
} posts;

static posts *pp;

static void on_post(moat_loop *l, void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    uint32_t who = (uint32_t)(v >> 24), seq = (uint32_t)(v & 0xffffff);
    if (who >= N_POSTERS || seq != pp->next[who])
        pp->bad++;
    else
        pp->next[who]++;
    if (++pp->total == N_POSTERS * PER_POSTER)
        moat_loop_stop(l);
}

static void *poster(void *arg)
{
    uintptr_t who = (uintptr_t)arg;
    for (uintptr_t i = 0; i < PER_POSTER; i++) {
        if (moat_loop_post(pp->l, on_post, (void *)(who << 24 | i)) != MOAT_OK)
            pp->bad++;
        if (i % 1000 == 0)
            sleep_ms(1); /* let the loop drain and sleep in between */
    }
    return NULL;
}

static void test_post_threads(void)
{
    moat_loop *l = new_loop();
    pp = calloc(1, sizeof *pp);
    pp->l = l;
    pthread_t th[N_POSTERS];
    for (uintptr_t i = 0; i < N_POSTERS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, poster, (void *)i), 0);
    moat_loop_run(l);
    for (int i = 0; i < N_POSTERS; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(pp->bad, 0);
    CHECK_EQ(pp->total, N_POSTERS * PER_POSTER);
    for (int i = 0; i < N_POSTERS; i++)
        CHECK_EQ(pp->next[i], PER_POSTER);
    free(pp);
    moat_loop_free(l);
}

static void *stopper(void *arg)
{
    sleep_ms(50);
    moat_loop_stop(arg);
    return NULL;
}

static void test_stop_thread(void)
{
    moat_loop *l = new_loop();
    pthread_t th;
    uint64_t start = moat_now_ms();
    CHECK_EQ(pthread_create(&th, NULL, stopper, l), 0);
    moat_loop_run(l); /* nothing to wait for: only stop can end this */
    CHECK(moat_now_ms() - start >= 40);
    pthread_join(th, NULL);
    /* A stop before run makes run return at once; tasks are dropped on free. */
    moat_loop_stop(l);
    moat_loop_run(l);
    CHECK_EQ(moat_loop_post(l, stop_task, NULL), MOAT_OK);
    moat_loop_free(l);
}

typedef struct sleeps {
    int calls;
    int posted;
} sleeps;

/* Called before every wait; posting from it must not leave the loop asleep:
 * the wait that follows has to return at once and run the task. */
static void before(moat_loop *l, void *arg)
{
    sleeps *s = arg;
    if (++s->calls == 2) {
        s->posted = 1;
        CHECK_EQ(moat_loop_post(l, stop_task, NULL), MOAT_OK);
    }
}

static void noop_timer(moat_loop *l, void *arg)
{
    (void)l;
    (void)arg;
}

static void test_before_sleep(void)
{
    moat_loop *l = new_loop();
    sleeps s = {0};
    moat_loop_set_before_sleep(l, before, &s);
    moat_loop_timer(l, 1, noop_timer, NULL); /* ends the first wait */
    moat_loop_run(l);
    CHECK_EQ(s.calls, 2);
    CHECK_EQ(s.posted, 1);
    moat_loop_free(l);
}

int main(void)
{
    TEST(test_fd_events);
    TEST(test_del_in_callback);
    TEST(test_forget_in_callback);
    TEST(test_timers);
    TEST(test_many_timers);
    TEST(test_million_cancels);
    TEST(test_post_threads);
    TEST(test_stop_thread);
    TEST(test_before_sleep);
    return test_summary("loop");
}
