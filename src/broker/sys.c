/* SPDX-License-Identifier: Apache-2.0 */
/* $SYS topics, published retained every broker.sys_interval. Names follow
 * Mosquitto's, which most dashboards and scripts already read. */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "broker/internal.h"

static void sys_put(moat_broker *b, const char *topic, const char *value)
{
    moat_msg *m = msg_new(topic, strlen(topic), value, strlen(value), NULL, 0);
    if (!m)
        return;
    m->retain = true;
    retain_store(b, m);
    broker_publish_locked(b, m, NULL);
    msg_unref(m);
}

static void sys_u64(moat_broker *b, const char *topic, uint64_t v)
{
    char s[32];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    sys_put(b, topic, s);
}

/* Days left on each TLS listener's certificate, and warnings in the log
 * when it crosses 30, 7 and 1 days (once each per certificate). */
static void sys_tls(moat_broker *b)
{
    char topic[200];
    moat_tls_stats st;
    moat_tls_stats_get(&st);
    sys_u64(b, "$SYS/broker/tls/handshakes/ok", st.handshakes_ok);
    sys_u64(b, "$SYS/broker/tls/handshakes/resumed", st.resumed);
    for (int f = 1; f < MOAT_TLS_FAIL__COUNT; f++) {
        snprintf(topic, sizeof topic, "$SYS/broker/tls/handshakes/failed/%s",
                 moat_tls_fail_name((moat_tls_fail)f));
        sys_u64(b, topic, st.failed[f]);
    }
    sys_u64(b, "$SYS/broker/tls/reloads", atomic_load(&b->tls_reloads));
    sys_u64(b, "$SYS/broker/tls/reloads_refused", atomic_load(&b->tls_reload_failed));
    for (uint32_t i = 0; i < b->n_listeners; i++) {
        moat_listener *l = &b->listeners[i];
        if (!l->is_tls)
            continue;
        moat_tls_ctx *ctx = moat_tls_slot_get(&l->tls_slot);
        int64_t left = (moat_tls_ctx_not_after(ctx) - wall_ms() / 1000) / 86400;
        moat_tls_ctx_unref(ctx);
        snprintf(topic, sizeof topic, "$SYS/broker/listeners/%s/cert_days_left", l->label);
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)left);
        sys_put(b, topic, v);
    }
}

void tls_expiry_warnings(moat_broker *b)
{
    static const int levels[] = {30, 7, 1};
    for (uint32_t i = 0; i < b->n_listeners; i++) {
        moat_listener *l = &b->listeners[i];
        if (!l->is_tls)
            continue;
        moat_tls_ctx *ctx = moat_tls_slot_get(&l->tls_slot);
        int64_t na = moat_tls_ctx_not_after(ctx);
        moat_tls_ctx_unref(ctx);
        if (na != l->warned_not_after) { /* a new certificate: warn afresh */
            l->warned_not_after = na;
            l->warned_level = 0;
        }
        int64_t left = (na - wall_ms() / 1000) / 86400;
        for (int k = 2; k >= 0; k--) {
            if (left <= levels[k] && l->warned_level < k + 1) {
                l->warned_level = k + 1;
                LOG_WARN("listener %s: the TLS certificate expires in %lld day%s (%s); renew it "
                         "(moat reloads the new files without a restart)",
                         l->label, (long long)left, left == 1 ? "" : "s",
                         left < 0 ? "already expired" : "soon");
                break;
            }
        }
    }
}

/* Lock held. */
void sys_publish(moat_broker *b)
{
    char s[64];
    sys_put(b, "$SYS/broker/version", "moat " MOAT_VERSION);
    snprintf(s, sizeof s, "%lld seconds", (long long)((wall_ms() - b->started_at) / 1000));
    sys_put(b, "$SYS/broker/uptime", s);
    sys_u64(b, "$SYS/broker/clients/connected", atomic_load(&b->stats.clients_connected));
    sys_u64(b, "$SYS/broker/clients/total", b->sessions.count);
    uint64_t t[4] = {0};
    for (uint32_t i = 0; i < b->n_workers; i++) {
        t[0] += atomic_load_explicit(&b->workers[i].msgs_received, memory_order_relaxed);
        t[1] += atomic_load_explicit(&b->workers[i].msgs_sent, memory_order_relaxed);
        t[2] += atomic_load_explicit(&b->workers[i].bytes_received, memory_order_relaxed);
        t[3] += atomic_load_explicit(&b->workers[i].bytes_sent, memory_order_relaxed);
    }
    sys_u64(b, "$SYS/broker/messages/received", t[0]);
    sys_u64(b, "$SYS/broker/messages/sent", t[1]);
    sys_u64(b, "$SYS/broker/messages/dropped", atomic_load(&b->stats.msgs_dropped));
    sys_u64(b, "$SYS/broker/bytes/received", t[2]);
    sys_u64(b, "$SYS/broker/bytes/sent", t[3]);
    sys_u64(b, "$SYS/broker/subscriptions/count", moat_subtree_count(b->subs));
    sys_u64(b, "$SYS/broker/retained messages/count", moat_rettree_count(b->retained));
    sys_tls(b);
}
