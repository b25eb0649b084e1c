/* SPDX-License-Identifier: Apache-2.0 */
/* ACL files: EMQX 4 acl.conf and Mosquitto acl_file syntax, parse errors
 * with file:line, and the first-match check. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "auth/acl.h"
#include "test.h"

static moat_acl *parse(const char *text)
{
    char err[300] = "";
    moat_acl *a = NULL;
    if (moat_acl_parse("t.acl", text, strlen(text), &a, err, sizeof err) != MOAT_OK)
        fprintf(stderr, "  unexpected: %s\n", err);
    return a;
}

static void parse_error(const char *text, const char *want)
{
    char err[300] = "";
    moat_acl *a = NULL;
    CHECK_EQ(moat_acl_parse("t.acl", text, strlen(text), &a, err, sizeof err), MOAT_EINVAL);
    CHECK(a == NULL);
    if (!strstr(err, want))
        fprintf(stderr, "  got: %s\n  want: %s\n", err, want);
    CHECK(strstr(err, want) != NULL);
}

static moat_acl_verdict check(const moat_acl *a, const char *user, const char *cid, int acc,
                              const char *topic)
{
    static struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "10.1.2.3", &sa.sin_addr);
    moat_auth_client cl = {.username = user, .client_id = cid, .addr = (struct sockaddr *)&sa};
    return moat_acl_check(a, &cl, (moat_acl_access)acc, topic, strlen(topic));
}

#define PUB MOAT_ACL_PUBLISH
#define SUB MOAT_ACL_SUBSCRIBE

static void test_emqx(void)
{
    moat_acl *a = parse("%% EMQX\n"
                        "{allow, {user, \"dashboard\"}, subscribe, [\"$SYS/#\"]}.\n"
                        "{allow, {ipaddr, \"10.0.0.0/8\"}, publish, [\"net/#\"]}.\n"
                        "{allow, {user, \"u\"}, pubsub, [\"users/%u/#\", \"dev/%c\"]}.\n"
                        "{deny, all, subscribe, [\"$SYS/#\", {eq, \"#\"}]}.\n"
                        "{allow, all}.\n");
    CHECK_EQ(moat_acl_count(a), (size_t)5);
    CHECK_EQ(check(a, "dashboard", "x", SUB, "$SYS/broker/uptime"), MOAT_ACL_ALLOW);
    CHECK_EQ(check(a, "other", "x", SUB, "$SYS/broker/uptime"), MOAT_ACL_DENY);
    CHECK_EQ(check(a, "other", "x", SUB, "#"), MOAT_ACL_DENY);
    CHECK_EQ(check(a, "other", "x", SUB, "a/#"), MOAT_ACL_ALLOW);
    CHECK_EQ(check(a, NULL, "x", PUB, "net/1"), MOAT_ACL_ALLOW);
    CHECK_EQ(check(a, "u", "c9", PUB, "users/u/x"), MOAT_ACL_ALLOW);
    CHECK_EQ(check(a, "u", "c9", PUB, "dev/c9"), MOAT_ACL_ALLOW);
    moat_acl_free(a);
    a = parse("{allow, {user, \"u\"}, publish, [\"users/%u/#\"]}.\n");
    CHECK_EQ(check(a, "u", "c", PUB, "users/u/1"), MOAT_ACL_ALLOW);
    CHECK_EQ(check(a, "u", "c", PUB, "users/v/1"), MOAT_ACL_NOMATCH);
    CHECK_EQ(check(a, "u", "c", SUB, "users/u/1"), MOAT_ACL_NOMATCH);
    moat_acl_free(a);
    a = parse("");
    CHECK_EQ(moat_acl_count(a), (size_t)0);
    moat_acl_free(a);
}

static void test_emqx_errors(void)
{
    parse_error("{allow, all, publish, [\"a\"]}.\n{allow, {usr, \"x\"}, publish, [\"a\"]}.",
                "t.acl:2: unknown who 'usr'");
    parse_error("{allow, all, publish, [\"a\"]}", "t.acl:1: expected '.' after the rule");
    parse_error("{allow, all, post, [\"a\"]}.", "expected access");
    parse_error("{allow, {ipaddr, \"10.0.0.0/33\"}, publish, [\"a\"]}.", "10.0.0.0/33");
    parse_error("{allow, all, publish, [\"a/#/b\"]}.", "not a topic filter");
    parse_error("{allow, all, publish, [\"a]}.", "expected a topic");
    parse_error("{maybe, all}.", "expected allow or deny");
}

static void test_mosquitto(void)
{
    moat_acl *a = parse("# Mosquitto\n"
                        "topic read public/#\n"
                        "\n"
                        "user alice\n"
                        "topic readwrite users/alice/#\n"
                        "topic write data/#\n"
                        "topic deny data/secret\n"
                        "\n"
                        "pattern write devices/%c/up\n"
                        "pattern read users/%u/inbox\n");
    CHECK_EQ(moat_acl_count(a), (size_t)6);
    CHECK_EQ(check(a, NULL, "c", SUB, "public/x"), MOAT_ACL_ALLOW); /* anonymous */
    CHECK_EQ(check(a, "bob", "c", SUB, "public/x"), MOAT_ACL_NOMATCH);
    CHECK_EQ(check(a, "alice", "c", PUB, "users/alice/1"), MOAT_ACL_ALLOW);
    CHECK_EQ(check(a, "alice", "c", SUB, "data/1"), MOAT_ACL_NOMATCH); /* write only */
    CHECK_EQ(check(a, "alice", "c", PUB, "data/1"), MOAT_ACL_ALLOW);
    CHECK_EQ(check(a, "alice", "c", PUB, "data/secret"), MOAT_ACL_DENY); /* deny wins */
    CHECK_EQ(check(a, "bob", "d7", PUB, "devices/d7/up"), MOAT_ACL_ALLOW);
    CHECK_EQ(check(a, "bob", "d7", PUB, "devices/d8/up"), MOAT_ACL_NOMATCH);
    CHECK_EQ(check(a, "bob", "d7", SUB, "users/bob/inbox"), MOAT_ACL_ALLOW);
    CHECK_EQ(check(a, NULL, "d7", SUB, "users/%u/inbox"), MOAT_ACL_NOMATCH);
    moat_acl_free(a);
    parse_error("user alice\ntopic read a/#/b\n", "t.acl:2: 'a/#/b' is not a topic filter");
    parse_error("topic read a\nallow all\n", "t.acl:2: unknown keyword 'allow'");
}

int main(void)
{
    TEST(test_emqx);
    TEST(test_emqx_errors);
    TEST(test_mosquitto);
    return test_summary("auth_acl");
}
