/* SPDX-License-Identifier: Apache-2.0 */
/* Access control lists in EMQX 4's acl.conf syntax: Erlang terms, one rule
 * each, first match wins, `%` starts a comment:
 *
 *     {allow, {user, "dashboard"}, subscribe, ["$SYS/#"]}.
 *     {allow, {ipaddr, "127.0.0.1"}, pubsub, ["$SYS/#", "#"]}.
 *     {deny, all, subscribe, ["$SYS/#", {eq, "#"}]}.
 *     {allow, {client, "c1"}, publish, ["devices/%c/#"]}.
 *     {allow, all}.
 *
 * who: all | {user, "u"} | {client, "c"} | {ipaddr, "CIDR"} | {cn, "x"}
 * (the CN of a verified client certificate); access: publish | subscribe |
 * pubsub; topics: filters where %u and %c stand for the username and client
 * id (a rule naming %u does not match a client without a username), or
 * {eq, "t"} to match the literal text t only (so {eq, "#"} is the
 * subscription "#" and not every topic). A two-element rule {allow|deny, who}
 * matches every access and topic.
 *
 * Leaf module: no logging; a parsed moat_acl is immutable and may be used by
 * any thread at once. */
#ifndef MOAT_AUTH_ACL_H
#define MOAT_AUTH_ACL_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"
#include "base/err.h"

typedef struct moat_acl moat_acl;

typedef enum moat_acl_access {
    MOAT_ACL_PUBLISH = 1,
    MOAT_ACL_SUBSCRIBE = 2,
} moat_acl_access;

typedef enum moat_acl_verdict {
    MOAT_ACL_NOMATCH = 0,
    MOAT_ACL_ALLOW,
    MOAT_ACL_DENY,
} moat_acl_verdict;

/* Parse text (name is used in messages). On error MOAT_EINVAL and
 * "name:line: what is wrong (expected ...)" in err; *out untouched. The
 * caller owns *out (moat_acl_free). */
moat_err moat_acl_parse(const char *name, const char *text, size_t len, moat_acl **out, char *err,
                        size_t errlen);
void moat_acl_free(moat_acl *a);
size_t moat_acl_count(const moat_acl *a);

/* Rules built one by one, for sources that fetch a client's rules from a
 * backend (a database's acl_query rows, a JWT claim): */
typedef enum moat_acl_who {
    MOAT_ACL_WHO_ALL = 0,
    MOAT_ACL_WHO_USER,
    MOAT_ACL_WHO_CLIENT,
    MOAT_ACL_WHO_IPADDR, /* value: an address or CIDR list */
    MOAT_ACL_WHO_CN,
} moat_acl_who;

/* An empty list (NULL when out of memory). */
moat_acl *moat_acl_new(void);
/* Append one rule: allow or deny, who (value ignored for ALL), access bits
 * (MOAT_ACL_PUBLISH | MOAT_ACL_SUBSCRIBE), one topic filter (with %u / %c
 * placeholders; eq: literal comparison). MOAT_EINVAL with why when the
 * topic is not a filter or the address does not parse. */
moat_err moat_acl_add(moat_acl *a, bool allow, moat_acl_who who, const char *value, unsigned access,
                      const char *topic, bool eq, char *why, size_t n);

/* The first rule matching cl, access and topic (a topic name for publish,
 * the filter for subscribe). */
moat_acl_verdict moat_acl_check(const moat_acl *a, const moat_auth_client *cl,
                                moat_acl_access access, const char *topic, size_t len);

#endif
