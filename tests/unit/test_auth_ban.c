/* SPDX-License-Identifier: Apache-2.0 */
/* Bans: failed-login counting per client id and address, windows, manual
 * bans, listing and sweeping (auth/ban.h). */
#include <stdint.h>
#include <string.h>

#include "auth/ban.h"
#include "test.h"

static const moat_ban_policy P = {.max_failures = 3, .window_ms = 60000, .duration_ms = 300000};

static void test_failures_ban(void)
{
    moat_bans *b = moat_bans_new();
    CHECK(!moat_bans_check(b, "c1", NULL, "10.0.0.1", 0, NULL, NULL, 0));
    CHECK_EQ(moat_bans_failure(b, &P, "c1", "10.0.0.1", 1000, NULL), 0u);
    CHECK_EQ(moat_bans_failure(b, &P, "c1", "10.0.0.1", 2000, NULL), 0u);
    /* the third within the window bans both */
    CHECK_EQ(moat_bans_failure(b, &P, "c1", "10.0.0.1", 3000, NULL),
             (1u << MOAT_BAN_CLIENTID) | (1u << MOAT_BAN_ADDRESS));
    moat_ban_info hit;
    char who[64];
    CHECK(moat_bans_check(b, "c1", NULL, NULL, 4000, &hit, who, sizeof who));
    CHECK_EQ(hit.kind, MOAT_BAN_CLIENTID);
    CHECK(!strcmp(hit.who, "c1") && !hit.manual && hit.until == 303000);
    /* another client id from the same address is refused too */
    CHECK(moat_bans_check(b, "c2", "u", "10.0.0.1", 4000, &hit, who, sizeof who));
    CHECK_EQ(hit.kind, MOAT_BAN_ADDRESS);
    /* the ban ends */
    CHECK(!moat_bans_check(b, "c1", NULL, "10.0.0.1", 303000, NULL, NULL, 0));
    moat_bans_free(b);
}

static void test_window_and_success(void)
{
    moat_bans *b = moat_bans_new();
    moat_bans_failure(b, &P, "c1", NULL, 0, NULL);
    moat_bans_failure(b, &P, "c1", NULL, 1000, NULL);
    /* outside the window: counting starts again */
    CHECK_EQ(moat_bans_failure(b, &P, "c1", NULL, 61000, NULL), 0u);
    CHECK_EQ(moat_bans_failure(b, &P, "c1", NULL, 62000, NULL), 0u);
    /* a good login forgets the client id's failures */
    moat_bans_success(b, "c1");
    CHECK_EQ(moat_bans_failure(b, &P, "c1", NULL, 63000, NULL), 0u);
    CHECK_EQ(moat_bans_failure(b, &P, "c1", NULL, 64000, NULL), 0u);
    CHECK_EQ(moat_bans_failure(b, &P, "c1", NULL, 65000, NULL), 1u << MOAT_BAN_CLIENTID);
    /* NULL address (exempt): never banned by address */
    CHECK(!moat_bans_check(b, "other", NULL, "127.0.0.1", 66000, NULL, NULL, 0));
    /* max_failures 0: never bans */
    moat_ban_policy off = P;
    off.max_failures = 0;
    for (int i = 0; i < 10; i++)
        CHECK_EQ(moat_bans_failure(b, &off, "c9", "10.9.9.9", 1000 + i, NULL), 0u);
    moat_bans_free(b);
}

typedef struct seen {
    int n;
    bool manual_user;
} seen;

static void collect(void *ctx, const moat_ban_info *i)
{
    seen *s = ctx;
    s->n++;
    if (i->kind == MOAT_BAN_USERNAME && i->manual && !strcmp(i->who, "mallory") &&
        i->until == INT64_MAX && !strcmp(i->reason, "abuse"))
        s->manual_user = true;
}

static void test_manual_list_sweep(void)
{
    moat_bans *b = moat_bans_new();
    CHECK_EQ(moat_bans_add(b, MOAT_BAN_USERNAME, "mallory", 0, INT64_MAX, "abuse"), MOAT_OK);
    CHECK_EQ(moat_bans_add(b, MOAT_BAN_CLIENTID, "", 0, INT64_MAX, NULL), MOAT_EINVAL);
    CHECK_EQ(moat_bans_add(b, MOAT_BAN_ADDRESS, "10.1.1.1", 0, 5000, NULL), MOAT_OK);
    moat_bans_failure(b, &P, "x", NULL, 0, NULL); /* a counter, not a ban */
    CHECK(moat_bans_check(b, "any", "mallory", NULL, 1000, NULL, NULL, 0));
    CHECK(!moat_bans_check(b, "any", "alice", NULL, 1000, NULL, NULL, 0));
    seen s = {0};
    CHECK_EQ(moat_bans_each(b, 1000, collect, &s), 2u);
    CHECK(s.manual_user && s.n == 2);
    /* after the address ban ends and the window passes, the sweep drops
     * both it and the counter; the ban until removed stays */
    moat_bans_sweep(b, &P, 100000);
    s = (seen){0};
    CHECK_EQ(moat_bans_each(b, 100000, collect, &s), 1u);
    CHECK(moat_bans_del(b, MOAT_BAN_USERNAME, "mallory"));
    CHECK(!moat_bans_del(b, MOAT_BAN_USERNAME, "mallory"));
    CHECK(!moat_bans_check(b, "any", "mallory", NULL, 1000, NULL, NULL, 0));
    moat_ban_kind k;
    CHECK(moat_ban_kind_parse("peerhost", &k) && k == MOAT_BAN_ADDRESS);
    CHECK(moat_ban_kind_parse("clientid", &k) && k == MOAT_BAN_CLIENTID);
    CHECK(!moat_ban_kind_parse("ip", &k));
    CHECK(!strcmp(moat_ban_kind_name(MOAT_BAN_USERNAME), "username"));
    moat_bans_free(b);
}

static void test_sweep_many(void)
{
    moat_bans *b = moat_bans_new();
    char id[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "c%d", i);
        moat_bans_failure(b, &P, id, NULL, i % 2 ? 0 : 50000, NULL);
    }
    moat_bans_sweep(b, &P, 70000); /* the ones counted at 0 are stale */
    int left = 0;
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "c%d", i);
        /* two more failures ban only those whose counter survived */
        moat_bans_failure(b, &P, id, NULL, 70001, NULL);
        if (moat_bans_failure(b, &P, id, NULL, 70002, NULL))
            left++;
    }
    CHECK_EQ(left, 2500);
    moat_bans_free(b);
}

int main(void)
{
    TEST(test_failures_ban);
    TEST(test_window_and_success);
    TEST(test_manual_list_sweep);
    TEST(test_sweep_many);
    return test_summary("auth_ban");
}
