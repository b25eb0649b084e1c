/* SPDX-License-Identifier: Apache-2.0 */
/* Bans: brute-force protection and a ban list.
 *
 * Failed logins (a source said DENY: wrong password) are counted per client
 * id and per client address over a sliding window; max_failures within
 * window bans that client id or address for duration. An administrator can
 * also ban a client id, a username or an address by hand (the HTTP API), for
 * a time or until removed. A banned client's CONNECT is refused before any
 * source is asked (v5 CONNACK 0x8A Banned, v3 5 not authorized), so a
 * password guesser costs the broker nothing, and backends are spared.
 *
 * One table per broker, under its own mutex: it is touched on CONNECT only,
 * never per message. Times are wall-clock milliseconds (the API shows them).
 * The table is bounded (MOAT_BANS_MAX entries); when full, new failure
 * counters are not started (existing bans keep working) and
 * moat_bans_failure says so once. */
#ifndef MOAT_AUTH_BAN_H
#define MOAT_AUTH_BAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define MOAT_BANS_MAX 100000

typedef enum moat_ban_kind {
    MOAT_BAN_CLIENTID = 0,
    MOAT_BAN_USERNAME,
    MOAT_BAN_ADDRESS,
} moat_ban_kind;

typedef struct moat_ban_policy {
    uint32_t max_failures; /* 0: failures never ban */
    uint32_t window_ms;
    uint32_t duration_ms;
} moat_ban_policy;

typedef struct moat_ban_info {
    moat_ban_kind kind;
    const char *who;
    int64_t until; /* wall ms; INT64_MAX: until removed */
    int64_t since; /* wall ms */
    const char *reason;
    bool manual; /* set by an administrator, not by failed logins */
} moat_ban_info;

typedef struct moat_bans moat_bans;

moat_bans *moat_bans_new(void);
void moat_bans_free(moat_bans *b);

/* Is the client id, username (may be NULL) or address (may be NULL or "")
 * banned at now? On true, *hit (may be NULL) says which (strings valid
 * until the next call). */
bool moat_bans_check(moat_bans *b, const char *client_id, const char *username, const char *addr,
                     int64_t now, moat_ban_info *hit, char *who, size_t wholen);

/* A failed login by client_id from addr (NULL: the address is exempt from
 * bans). Returns a bit set of what this failure banned: 1 << MOAT_BAN_CLIENTID,
 * 1 << MOAT_BAN_ADDRESS; *table_full (may be NULL) tells when a counter could
 * not be kept. */
unsigned moat_bans_failure(moat_bans *b, const moat_ban_policy *p, const char *client_id,
                           const char *addr, int64_t now, bool *table_full);

/* A successful login: forget the client id's failures (not its address's:
 * one good device behind a NAT must not hide a guesser next to it). */
void moat_bans_success(moat_bans *b, const char *client_id);

/* Ban by hand until `until` (INT64_MAX: until removed). Replaces a ban on
 * the same who. MOAT_ELIMIT when the table is full, MOAT_EINVAL for an
 * empty who. */
moat_err moat_bans_add(moat_bans *b, moat_ban_kind kind, const char *who, int64_t now,
                       int64_t until, const char *reason);
/* Lift a ban (and forget its failures). False when there was none. */
bool moat_bans_del(moat_bans *b, moat_ban_kind kind, const char *who);

/* Calls fn for every ban in force at now (not for mere failure counters),
 * under the table's lock: fn must not call back into b. Returns the count. */
size_t moat_bans_each(moat_bans *b, int64_t now, void (*fn)(void *ctx, const moat_ban_info *i),
                      void *ctx);

/* Drop expired bans and stale failure counters (call now and then). */
void moat_bans_sweep(moat_bans *b, const moat_ban_policy *p, int64_t now);

/* "clientid" / "username" / "address" (EMQX's "peerhost" is accepted by the
 * parser too). */
const char *moat_ban_kind_name(moat_ban_kind k);
bool moat_ban_kind_parse(const char *s, moat_ban_kind *out);

#endif
