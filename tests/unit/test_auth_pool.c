/* SPDX-License-Identifier: Apache-2.0 */
/* The worker pool for blocking backends (auth/pool.h), the chain's rules
 * built one by one (moat_acl_add) and the reconnect backoff. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "auth/acl.h"
#include "auth/backend.h"
#include "auth/pool.h"
#include "test.h"

static atomic_int ran, cancelled;

static void count(void *arg, bool c)
{
    (void)arg;
    if (c)
        atomic_fetch_add(&cancelled, 1);
    else
        atomic_fetch_add(&ran, 1);
}

/* Blocks until *gate is set: keeps a thread busy. */
static void hold(void *arg, bool c)
{
    atomic_bool *gate = arg;
    while (!c && !atomic_load(gate))
        usleep(1000);
    atomic_fetch_add(c ? &cancelled : &ran, 1);
}

static void test_runs_all(void)
{
    moat_pool *p = NULL;
    atomic_store(&ran, 0);
    CHECK_EQ(moat_pool_new(4, 1000, &p), MOAT_OK);
    for (int i = 0; i < 500; i++)
        CHECK_EQ(moat_pool_submit(p, count, NULL), MOAT_OK);
    for (int i = 0; i < 2000 && atomic_load(&ran) < 500; i++)
        usleep(1000);
    CHECK_EQ(atomic_load(&ran), 500);
    moat_pool_free(p);
}

static void test_bounded_queue(void)
{
    moat_pool *p = NULL;
    atomic_bool gate = false;
    atomic_store(&ran, 0);
    atomic_store(&cancelled, 0);
    CHECK_EQ(moat_pool_new(1, 3, &p), MOAT_OK);
    CHECK_EQ(moat_pool_submit(p, hold, &gate), MOAT_OK);
    for (int i = 0; i < 1000; i++) { /* the one thread has taken it */
        unsigned q, r;
        moat_pool_load(p, &q, &r);
        if (r == 1)
            break;
        usleep(1000);
    }
    CHECK_EQ(moat_pool_submit(p, count, NULL), MOAT_OK);
    CHECK_EQ(moat_pool_submit(p, count, NULL), MOAT_OK);
    CHECK_EQ(moat_pool_submit(p, count, NULL), MOAT_OK);
    /* full: refused at once rather than queued without bound */
    CHECK_EQ(moat_pool_submit(p, count, NULL), MOAT_ELIMIT);
    unsigned q = 0, r = 0;
    moat_pool_load(p, &q, &r);
    CHECK_EQ(q, 3u);
    CHECK_EQ(r, 1u);
    atomic_store(&gate, true);
    moat_pool_free(p); /* queued jobs either ran or were cancelled, never lost */
    CHECK_EQ(atomic_load(&ran) + atomic_load(&cancelled), 4);
}

static void test_free_cancels(void)
{
    moat_pool *p = NULL;
    atomic_bool gate = false;
    atomic_store(&ran, 0);
    atomic_store(&cancelled, 0);
    CHECK_EQ(moat_pool_new(1, 10, &p), MOAT_OK);
    CHECK_EQ(moat_pool_submit(p, hold, &gate), MOAT_OK);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(moat_pool_submit(p, count, NULL), MOAT_OK);
    atomic_store(&gate, true);
    moat_pool_free(p);
    CHECK_EQ(atomic_load(&ran) + atomic_load(&cancelled), 6);
    /* a pool never used starts no thread and frees cleanly */
    CHECK_EQ(moat_pool_new(8, 10, &p), MOAT_OK);
    moat_pool_free(p);
}

static void test_backoff(void)
{
    moat_backoff b = {0};
    CHECK(moat_backoff_ready(&b, 0));
    CHECK(moat_backoff_fail(&b, 1000)); /* healthy -> down: log once */
    CHECK(!moat_backoff_ready(&b, 1200));
    CHECK(moat_backoff_ready(&b, 1500));
    CHECK(!moat_backoff_fail(&b, 1500)); /* still down: no new log */
    CHECK_EQ(b.delay_ms, 1000u);
    for (int i = 0; i < 20; i++)
        moat_backoff_fail(&b, 2000);
    CHECK_EQ(b.delay_ms, 30000u);
    CHECK(moat_backoff_ok(&b)); /* down -> healthy: log once */
    CHECK(!moat_backoff_ok(&b));
    CHECK(moat_backoff_ready(&b, 0));
}

static void test_req_vars(void)
{
    moat_auth_req rq = {.username = "u1",
                        .client_id = "c1",
                        .password = "p\0w",
                        .password_len = 3,
                        .addr = "10.0.0.7",
                        .cert_cn = NULL};
    size_t n = 0;
    CHECK(!strcmp(moat_auth_req_var(&rq, 'u', &n), "u1") && n == 2);
    CHECK(!strcmp(moat_auth_req_var(&rq, 'c', &n), "c1"));
    CHECK(!strcmp(moat_auth_req_var(&rq, 'a', &n), "10.0.0.7") && n == 8);
    CHECK(moat_auth_req_var(&rq, 'C', &n) == NULL);
    CHECK(moat_auth_req_var(&rq, 'd', &n) == NULL);
    CHECK(moat_auth_req_var(&rq, 'P', &n) == rq.password && n == 3);
    CHECK(moat_auth_req_var(&rq, 'x', &n) == NULL);
    rq.addr = "";
    CHECK(moat_auth_req_var(&rq, 'a', &n) == NULL);
}

static void test_acl_built(void)
{
    moat_acl *a = moat_acl_new();
    char why[200];
    CHECK(a != NULL);
    CHECK_EQ(moat_acl_add(a, true, MOAT_ACL_WHO_ALL, NULL, MOAT_ACL_PUBLISH, "dev/%c/up", false,
                          why, sizeof why),
             MOAT_OK);
    CHECK_EQ(moat_acl_add(a, false, MOAT_ACL_WHO_ALL, NULL, 3, "#", true, why, sizeof why),
             MOAT_OK);
    CHECK_EQ(moat_acl_add(a, true, MOAT_ACL_WHO_USER, "bob", MOAT_ACL_SUBSCRIBE, "x/#", false, why,
                          sizeof why),
             MOAT_OK);
    CHECK_EQ(moat_acl_add(a, true, MOAT_ACL_WHO_ALL, NULL, 3, "a/#/b", false, why, sizeof why),
             MOAT_EINVAL);
    CHECK(strstr(why, "not a topic filter") != NULL);
    CHECK_EQ(
        moat_acl_add(a, true, MOAT_ACL_WHO_IPADDR, "not-an-ip", 3, "t", false, why, sizeof why),
        MOAT_EINVAL);
    CHECK_EQ(moat_acl_count(a), 3u);
    moat_auth_client cl = {.username = "bob", .client_id = "c9"};
    CHECK_EQ(moat_acl_check(a, &cl, MOAT_ACL_PUBLISH, "dev/c9/up", 9), MOAT_ACL_ALLOW);
    CHECK_EQ(moat_acl_check(a, &cl, MOAT_ACL_PUBLISH, "dev/c8/up", 9), MOAT_ACL_NOMATCH);
    CHECK_EQ(moat_acl_check(a, &cl, MOAT_ACL_SUBSCRIBE, "#", 1), MOAT_ACL_DENY);
    CHECK_EQ(moat_acl_check(a, &cl, MOAT_ACL_SUBSCRIBE, "x/1", 3), MOAT_ACL_ALLOW);
    moat_acl_free(a);
}

int main(void)
{
    TEST(test_runs_all);
    TEST(test_bounded_queue);
    TEST(test_free_cancels);
    TEST(test_backoff);
    TEST(test_req_vars);
    TEST(test_acl_built);
    return test_summary("auth_pool");
}
