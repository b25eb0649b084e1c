/* SPDX-License-Identifier: Apache-2.0 */
#include "auth/ban.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/map.h"

typedef struct entry {
    uint32_t failures;    /* within the window that began at window_start */
    int64_t window_start; /* wall ms */
    int64_t since, until; /* the ban in force: until > now */
    bool manual;
    char reason[96];
} entry;

struct moat_bans {
    pthread_mutex_t lock;
    moat_map map; /* "<kind char><who>" -> entry */
};

static const char kind_char[] = {'c', 'u', 'a'};

moat_bans *moat_bans_new(void)
{
    moat_bans *b = calloc(1, sizeof *b);
    if (b)
        pthread_mutex_init(&b->lock, NULL);
    return b;
}

static void free_all(moat_map *m)
{
    size_t i = 0;
    for (moat_map_slot *s; (s = moat_map_next(m, &i));)
        free(s->value);
    moat_map_free(m);
}

void moat_bans_free(moat_bans *b)
{
    if (!b)
        return;
    free_all(&b->map);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* The map key of (kind, who) into k; its length. */
static size_t key_of(moat_ban_kind kind, const char *who, char *k, size_t n)
{
    int l = snprintf(k, n, "%c%s", kind_char[kind], who);
    return l < 0 ? 0 : (size_t)l < n ? (size_t)l : n - 1;
}

static entry *get(moat_bans *b, moat_ban_kind kind, const char *who, bool create, bool *full)
{
    char k[1100];
    size_t kl = key_of(kind, who, k, sizeof k);
    entry *e = moat_map_get(&b->map, k, kl);
    if (e || !create)
        return e;
    if (b->map.count >= MOAT_BANS_MAX) {
        if (full)
            *full = true;
        return NULL;
    }
    if (!(e = calloc(1, sizeof *e)))
        return NULL;
    if (moat_map_put(&b->map, k, kl, e, NULL) != MOAT_OK) {
        free(e);
        return NULL;
    }
    return e;
}

static bool banned(const entry *e, int64_t now)
{
    return e && e->until > now;
}

bool moat_bans_check(moat_bans *b, const char *client_id, const char *username, const char *addr,
                     int64_t now, moat_ban_info *hit, char *who, size_t wholen)
{
    const char *whos[] = {client_id, username, addr};
    bool found = false;
    pthread_mutex_lock(&b->lock);
    for (int k = 0; !found && k < 3; k++) {
        if (!whos[k] || !whos[k][0])
            continue;
        const entry *e = get(b, (moat_ban_kind)k, whos[k], false, NULL);
        if (!banned(e, now))
            continue;
        found = true;
        if (hit) {
            snprintf(who, wholen, "%s", whos[k]);
            *hit = (moat_ban_info){.kind = (moat_ban_kind)k,
                                   .who = who,
                                   .until = e->until,
                                   .since = e->since,
                                   .reason = "",
                                   .manual = e->manual};
        }
    }
    pthread_mutex_unlock(&b->lock);
    return found;
}

/* One more failure for (kind, who); true when it starts a ban. */
static bool count_failure(moat_bans *b, const moat_ban_policy *p, moat_ban_kind kind,
                          const char *who, int64_t now, bool *full)
{
    entry *e = get(b, kind, who, true, full);
    if (!e || banned(e, now))
        return false;
    if (!e->failures || now - e->window_start >= (int64_t)p->window_ms) {
        e->window_start = now;
        e->failures = 0;
    }
    if (++e->failures < p->max_failures)
        return false;
    e->failures = 0;
    e->since = now;
    e->until = now + p->duration_ms;
    e->manual = false;
    snprintf(e->reason, sizeof e->reason, "%u failed logins within %u s", p->max_failures,
             p->window_ms / 1000);
    return true;
}

unsigned moat_bans_failure(moat_bans *b, const moat_ban_policy *p, const char *client_id,
                           const char *addr, int64_t now, bool *table_full)
{
    unsigned started = 0;
    if (!p->max_failures)
        return 0;
    pthread_mutex_lock(&b->lock);
    if (client_id && client_id[0] &&
        count_failure(b, p, MOAT_BAN_CLIENTID, client_id, now, table_full))
        started |= 1u << MOAT_BAN_CLIENTID;
    if (addr && addr[0] && count_failure(b, p, MOAT_BAN_ADDRESS, addr, now, table_full))
        started |= 1u << MOAT_BAN_ADDRESS;
    pthread_mutex_unlock(&b->lock);
    return started;
}

void moat_bans_success(moat_bans *b, const char *client_id)
{
    if (!client_id || !client_id[0])
        return;
    pthread_mutex_lock(&b->lock);
    entry *e = get(b, MOAT_BAN_CLIENTID, client_id, false, NULL);
    if (e)
        e->failures = 0;
    pthread_mutex_unlock(&b->lock);
}

moat_err moat_bans_add(moat_bans *b, moat_ban_kind kind, const char *who, int64_t now,
                       int64_t until, const char *reason)
{
    if (!who || !who[0] || (unsigned)kind > MOAT_BAN_ADDRESS)
        return MOAT_EINVAL;
    bool full = false;
    pthread_mutex_lock(&b->lock);
    entry *e = get(b, kind, who, true, &full);
    if (e) {
        e->since = now;
        e->until = until;
        e->manual = true;
        e->failures = 0;
        snprintf(e->reason, sizeof e->reason, "%s", reason && reason[0] ? reason : "by hand");
    }
    pthread_mutex_unlock(&b->lock);
    return e ? MOAT_OK : full ? MOAT_ELIMIT : MOAT_ENOMEM;
}

bool moat_bans_del(moat_bans *b, moat_ban_kind kind, const char *who)
{
    if (!who || (unsigned)kind > MOAT_BAN_ADDRESS)
        return false;
    char k[1100];
    size_t kl = key_of(kind, who, k, sizeof k);
    pthread_mutex_lock(&b->lock);
    entry *e = moat_map_del(&b->map, k, kl);
    bool was = e && e->until > 0;
    free(e);
    pthread_mutex_unlock(&b->lock);
    return was;
}

size_t moat_bans_each(moat_bans *b, int64_t now, void (*fn)(void *ctx, const moat_ban_info *i),
                      void *ctx)
{
    size_t n = 0, i = 0;
    pthread_mutex_lock(&b->lock);
    for (moat_map_slot *s; (s = moat_map_next(&b->map, &i));) {
        const entry *e = s->value;
        if (!banned(e, now))
            continue;
        moat_ban_kind kind = s->key[0] == 'c'   ? MOAT_BAN_CLIENTID
                             : s->key[0] == 'u' ? MOAT_BAN_USERNAME
                                                : MOAT_BAN_ADDRESS;
        moat_ban_info info = {.kind = kind,
                              .who = s->key + 1,
                              .until = e->until,
                              .since = e->since,
                              .reason = e->reason,
                              .manual = e->manual};
        fn(ctx, &info);
        n++;
    }
    pthread_mutex_unlock(&b->lock);
    return n;
}

void moat_bans_sweep(moat_bans *b, const moat_ban_policy *p, int64_t now)
{
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < b->map.cap;) {
        moat_map_slot *s = &b->map.slots[i];
        const entry *e = s->key ? s->value : NULL;
        bool stale = e && !banned(e, now) && now - e->window_start >= (int64_t)p->window_ms;
        if (!stale) {
            i++;
            continue;
        }
        /* backward-shift deletion may move another entry into slot i: look
         * at it again */
        free(moat_map_del(&b->map, s->key, s->klen));
    }
    pthread_mutex_unlock(&b->lock);
}

const char *moat_ban_kind_name(moat_ban_kind k)
{
    static const char *const names[] = {"clientid", "username", "address"};
    return (unsigned)k <= MOAT_BAN_ADDRESS ? names[k] : "?";
}

bool moat_ban_kind_parse(const char *s, moat_ban_kind *out)
{
    if (!strcmp(s, "clientid"))
        *out = MOAT_BAN_CLIENTID;
    else if (!strcmp(s, "username"))
        *out = MOAT_BAN_USERNAME;
    else if (!strcmp(s, "address") || !strcmp(s, "peerhost"))
        *out = MOAT_BAN_ADDRESS;
    else
        return false;
    return true;
}
