/* SPDX-License-Identifier: Apache-2.0 */
/* $SYS topics, published retained every broker.sys_interval. Names follow
 * Mosquitto's, which most dashboards and scripts already read. */
#include <stdio.h>
#include <string.h>

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

/* Lock held. */
void sys_publish(moat_broker *b)
{
    char s[64];
    sys_put(b, "$SYS/broker/version", "moat " MOAT_VERSION);
    snprintf(s, sizeof s, "%lld seconds", (long long)((wall_ms() - b->started_at) / 1000));
    sys_put(b, "$SYS/broker/uptime", s);
    sys_u64(b, "$SYS/broker/clients/connected", atomic_load(&b->stats.clients_connected));
    sys_u64(b, "$SYS/broker/clients/total", b->sessions.count);
    sys_u64(b, "$SYS/broker/messages/received", atomic_load(&b->stats.msgs_received));
    sys_u64(b, "$SYS/broker/messages/sent", atomic_load(&b->stats.msgs_sent));
    sys_u64(b, "$SYS/broker/messages/dropped", atomic_load(&b->stats.msgs_dropped));
    sys_u64(b, "$SYS/broker/bytes/received", atomic_load(&b->stats.bytes_received));
    sys_u64(b, "$SYS/broker/bytes/sent", atomic_load(&b->stats.bytes_sent));
    sys_u64(b, "$SYS/broker/subscriptions/count", moat_subtree_count(b->subs));
    sys_u64(b, "$SYS/broker/retained messages/count", moat_rettree_count(b->retained));
}
