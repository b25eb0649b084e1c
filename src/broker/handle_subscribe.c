/* SPDX-License-Identifier: Apache-2.0 */
/* SUBSCRIBE and UNSUBSCRIBE, and retained messages sent on subscription. */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "broker/internal.h"

#define MAX_ENTRIES_STACK 64

typedef struct retained_ctx {
    moat_broker *b;
    moat_session *s;
    uint8_t qos;
    uint32_t sub_id;
    int64_t now;
} retained_ctx;

static void on_retained(void *ctx, const char *topic, size_t tlen, void *value)
{
    (void)topic;
    (void)tlen;
    retained_ctx *rc = ctx;
    moat_msg *m = value;
    if (m->has_expiry && rc->now >= m->expiry_at)
        return;
    uint8_t q = m->qos < rc->qos ? m->qos : rc->qos;
    session_enqueue(rc->b, rc->s, m, q, true, &rc->sub_id, rc->sub_id ? 1 : 0);
}

/* Validate one entry; returns the reason code to answer (granted QoS or a
 * failure). */
static uint8_t check_entry(moat_conn *c, const mqtt_sub_entry *e, bool *shared, uint8_t *granted,
                           const char **why)
{
    moat_broker *b = c->worker->b;
    const char *f = (const char *)e->filter.p, *g, *rf = f;
    size_t gl, rl = e->filter.len;
    moat_err se = mqtt_share_parse(f, e->filter.len, &g, &gl, &rf, &rl);
    *shared = se == MOAT_OK;
    *why = "invalid topic filter";
    if (se == MOAT_ETOPIC)
        return MQTT_RC_TOPIC_FILTER_INVALID;
    if (se == MOAT_ENOTFOUND) {
        rf = f;
        rl = e->filter.len;
    }
    if (!mqtt_topic_filter_valid(rf, rl, 0))
        return MQTT_RC_TOPIC_FILTER_INVALID;
    *why = "too many topic levels (mqtt.max_topic_levels)";
    if (!mqtt_topic_filter_valid(rf, rl, CONF(b)->max_topic_levels))
        return MQTT_RC_TOPIC_FILTER_INVALID;
    *why = "shared subscriptions are disabled (mqtt.shared_subscription)";
    if (*shared && !CONF(b)->shared_subscription)
        return MQTT_RC_SHARED_SUB_NOT_SUPPORTED;
    *why = "wildcard subscriptions are disabled (mqtt.wildcard_subscription)";
    if (!CONF(b)->wildcard_subscription && (memchr(rf, '+', rl) || memchr(rf, '#', rl)))
        return MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED;
    *why = "not authorized (acl_file)";
    if (!conn_acl_allows(c, MOAT_ACL_SUBSCRIBE, rf, rl))
        return MQTT_RC_NOT_AUTHORIZED;
    *granted = e->qos < CONF(b)->max_qos_allowed ? e->qos : CONF(b)->max_qos_allowed;
    return *granted;
}

moat_err handle_subscribe(moat_conn *c, mqtt_packet *p)
{
    moat_broker *b = c->worker->b;
    uint32_t n = p->u.sub.count;
    uint8_t stack_codes[MAX_ENTRIES_STACK];
    uint8_t *codes = n <= MAX_ENTRIES_STACK ? stack_codes : malloc(n);
    if (!codes)
        return MOAT_ENOMEM;
    uint32_t sub_id = (p->props.has & MQTT_HAS(MQTT_PROP_SUBSCRIPTION_ID)) ? p->props.sub_id : 0;
    mqtt_sub_entry e;
    uint32_t pos = 0, i = 0;
    moat_err err = MOAT_OK;
    pthread_mutex_lock(&b->lock);
    moat_session *s = c->session;
    while (s && i < n && mqtt_sub_next(p, c->version, &pos, &e)) {
        bool shared = false;
        uint8_t granted = 0;
        const char *why = NULL;
        uint8_t rc = check_entry(c, &e, &shared, &granted, &why);
        if (rc < 0x80 && shared && e.no_local) {
            c->close_text = "no local on a shared subscription";
            err = MOAT_EPROTOCOL;
            break;
        }
        if (rc < 0x80) {
            uint8_t opts = (uint8_t)(granted | (e.no_local ? SUBOPT_NO_LOCAL : 0) |
                                     (e.retain_as_published ? SUBOPT_RAP : 0) |
                                     (e.retain_handling << SUBOPT_RH_SHIFT));
            bool existed = false;
            if (session_add_sub(b, s, (const char *)e.filter.p, e.filter.len, opts, sub_id,
                                &existed) != MOAT_OK)
                rc = MQTT_RC_UNSPECIFIED;
            else if (!shared && (e.retain_handling == 0 || (e.retain_handling == 1 && !existed))) {
                retained_ctx rc2 = {b, s, granted, sub_id, wall_ms()};
                moat_rettree_match(b->retained, (const char *)e.filter.p, e.filter.len, on_retained,
                                   &rc2);
            }
        } else {
            LOG_NOTICE("client %s: subscription to '%.*s' refused: %s (0x%02x)", c->client_id,
                       (int)e.filter.len, (const char *)e.filter.p, why, rc);
        }
        codes[i++] = c->version == MQTT_V5 ? rc : (rc >= 0x80 ? 0x80 : rc);
        if (rc == MQTT_RC_NOT_AUTHORIZED && CONF(b)->acl_deny_action == MOAT_ACL_DENY_DISCONNECT) {
            c->close_reason = MQTT_RC_NOT_AUTHORIZED;
            c->close_text = "subscription not authorized (acl_deny_action = disconnect)";
            err = MOAT_EPROTOCOL;
            break;
        }
    }
    if (s && !err)
        session_persist(b, s);
    pthread_mutex_unlock(&b->lock);
    if (!err) {
        mqtt_packet ack = {.type = MQTT_SUBACK};
        ack.u.suback.packet_id = p->u.sub.packet_id;
        ack.u.suback.count = i;
        ack.u.suback.reasons = codes;
        err = conn_send(c, &ack);
        worker_mark_dirty(c);
    }
    if (codes != stack_codes)
        free(codes);
    return err;
}

moat_err handle_unsubscribe(moat_conn *c, mqtt_packet *p)
{
    moat_broker *b = c->worker->b;
    uint32_t n = p->u.sub.count;
    uint8_t stack_codes[MAX_ENTRIES_STACK];
    uint8_t *codes = n <= MAX_ENTRIES_STACK ? stack_codes : malloc(n);
    if (!codes)
        return MOAT_ENOMEM;
    mqtt_bin f;
    uint32_t pos = 0, i = 0;
    pthread_mutex_lock(&b->lock);
    moat_session *s = c->session;
    while (s && i < n && mqtt_unsub_next(p, &pos, &f)) {
        moat_err e = session_del_sub(b, s, (const char *)f.p, f.len);
        codes[i++] = e == MOAT_OK ? MQTT_RC_SUCCESS : MQTT_RC_NO_SUBSCRIPTION_EXISTED;
    }
    if (s)
        session_persist(b, s);
    pthread_mutex_unlock(&b->lock);
    mqtt_packet ack = {.type = MQTT_UNSUBACK};
    ack.u.suback.packet_id = p->u.sub.packet_id;
    ack.u.suback.count = c->version == MQTT_V5 ? i : 0;
    ack.u.suback.reasons = codes;
    moat_err err = conn_send(c, &ack);
    if (codes != stack_codes)
        free(codes);
    return err;
}
