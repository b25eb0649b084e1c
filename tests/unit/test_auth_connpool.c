/* SPDX-License-Identifier: Apache-2.0 */
/* The backends' connection pool (connpool.h): lazy connects, at most size
 * connections each used by one thread, a failed connect backs off and
 * fails fast meanwhile, broken connections are closed, idle ones closed on
 * retire. The "server" here is a counter: the pool only ever sees the open
 * and close callbacks. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/connpool.h"
#include "core/loop.h"
#include "test.h"

typedef struct fake {
    bool up;     /* does open succeed */
    int opened;  /* connections made */
    int closed;  /* connections closed */
    int live[8]; /* tokens handed out */
} fake;

static void *fake_open(void *self, int64_t deadline_ms, char *why, size_t n)
{
    (void)deadline_ms;
    fake *f = self;
    if (!f->up) {
        snprintf(why, n, "Connection refused");
        return NULL;
    }
    return &f->live[__atomic_fetch_add(&f->opened, 1, __ATOMIC_SEQ_CST) % 8];
}

static void fake_close(void *self, void *conn)
{
    (void)conn;
    __atomic_fetch_add(&((fake *)self)->closed, 1, __ATOMIC_SEQ_CST);
}

static const moat_connpool_ops fake_ops = {fake_open, fake_close};

static int64_t soon(int ms)
{
    return (int64_t)moat_now_ms() + ms;
}

/* A pool over a fake server, and what the last take said. */
typedef struct fx {
    fake f;
    moat_connpool p;
    char why[300];
    bool fresh;
} fx;

static void fx_init(fx *x, bool up, uint32_t size)
{
    memset(x, 0, sizeof *x);
    x->f.up = up;
    CHECK_EQ(moat_connpool_init(&x->p, "auth.test", "127.0.0.1:1", size, &fake_ops, &x->f),
             MOAT_OK);
}

/* A slot, waiting at most ms; -1 none. */
static int take(fx *x, int ms)
{
    void *c;
    return moat_connpool_get(&x->p, soon(ms), &c, &x->fresh, x->why, sizeof x->why);
}

static void test_lazy_and_reuse(void)
{
    fx x;
    fx_init(&x, true, 2);
    CHECK_EQ(x.f.opened, 0); /* nothing before the first request */
    int s = take(&x, 100);
    CHECK(s >= 0 && x.fresh && x.f.opened == 1);
    moat_connpool_put(&x.p, s, MOAT_CONN_OK, NULL);
    int s2 = take(&x, 100);
    CHECK(s2 == s && !x.fresh && x.f.opened == 1); /* kept and reused */
    moat_connpool_put(&x.p, s2, MOAT_CONN_BROKEN, NULL);
    CHECK_EQ(x.f.closed, 1);
    s = take(&x, 100);
    CHECK(s >= 0 && x.fresh && x.f.opened == 2);
    moat_connpool_put(&x.p, s, MOAT_CONN_KEEP, NULL);
    moat_connpool_close_idle(&x.p);
    CHECK_EQ(x.f.closed, 2);
    moat_connpool_destroy(&x.p);
    CHECK_EQ(x.f.closed, 2);
}

static void test_size_and_deadline(void)
{
    fx x;
    fx_init(&x, true, 2);
    int a = take(&x, 100), b = take(&x, 100);
    CHECK(a >= 0 && b >= 0 && a != b);
    uint64_t t = moat_now_ms();
    CHECK_EQ(take(&x, 150), -1);
    CHECK(moat_now_ms() - t >= 140); /* waited for a slot until the deadline */
    CHECK(strstr(x.why, "all 2 connections busy") != NULL);
    moat_connpool_put(&x.p, a, MOAT_CONN_OK, NULL);
    moat_connpool_put(&x.p, b, MOAT_CONN_OK, NULL);
    CHECK_EQ(x.f.opened, 2);
    moat_connpool_destroy(&x.p);
    CHECK_EQ(x.f.closed, 2);
}

static void test_backoff(void)
{
    fx x;
    fx_init(&x, false, 4);
    CHECK_EQ(take(&x, 100), -1);
    CHECK(strstr(x.why, "unreachable: Connection refused") != NULL);
    /* within the 0.5 s window: refused at once, no connect tried */
    x.f.up = true;
    CHECK_EQ(take(&x, 100), -1);
    CHECK(strstr(x.why, "next try in") != NULL);
    CHECK_EQ(x.f.opened, 0);
    usleep(550 * 1000);
    int s = take(&x, 100);
    CHECK(s >= 0 && x.f.opened == 1);
    moat_connpool_put(&x.p, s, MOAT_CONN_OK, NULL);
    CHECK(!x.p.backoff.down);
    /* a request that finds the server gone: DOWN closes and backs off */
    s = take(&x, 100);
    moat_connpool_put(&x.p, s, MOAT_CONN_DOWN, "Connection reset");
    CHECK(x.p.backoff.down && x.f.closed == 1);
    CHECK_EQ(take(&x, 100), -1);
    moat_connpool_destroy(&x.p);
}

typedef struct racer {
    moat_connpool *p;
    int *in_use, *max_in_use;
    pthread_mutex_t *mu;
    int ok;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    for (int i = 0; i < 200; i++) {
        void *c;
        bool fresh;
        char why[300];
        int s = moat_connpool_get(r->p, soon(2000), &c, &fresh, why, sizeof why);
        if (s < 0)
            continue;
        pthread_mutex_lock(r->mu);
        if (++*r->in_use > *r->max_in_use)
            *r->max_in_use = *r->in_use;
        pthread_mutex_unlock(r->mu);
        r->ok++;
        pthread_mutex_lock(r->mu);
        --*r->in_use;
        pthread_mutex_unlock(r->mu);
        moat_connpool_put(r->p, s, MOAT_CONN_OK, NULL);
    }
    return NULL;
}

static void test_threads(void)
{
    fx x;
    fx_init(&x, true, 3);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    int in_use = 0, max_in_use = 0;
    pthread_t th[6];
    racer r[6];
    for (int i = 0; i < 6; i++) {
        r[i] = (racer){&x.p, &in_use, &max_in_use, &mu, 0};
        pthread_create(&th[i], NULL, race, &r[i]);
    }
    int ok = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ok += r[i].ok;
    }
    CHECK_EQ(ok, 1200);
    CHECK(max_in_use <= 3);
    CHECK(x.f.opened <= 3);
    moat_connpool_destroy(&x.p);
}

int main(void)
{
    TEST(test_lazy_and_reuse);
    TEST(test_size_and_deadline);
    TEST(test_backoff);
    TEST(test_threads);
    return test_summary("auth_connpool");
}
