/* SPDX-License-Identifier: Apache-2.0 */
/* PUBLISH from a client and the acknowledgement flows in both directions. */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "broker/internal.h"

static moat_err send_ack(moat_conn *c, uint8_t type, uint16_t id, uint8_t rc, const char *why)
{
    mqtt_packet a = {.type = type};
    a.flags = type == MQTT_PUBREL ? 2 : 0;
    a.u.ack.packet_id = id;
    a.u.ack.reason = c->version == MQTT_V5 ? rc : 0;
    if (c->version == MQTT_V5 && why && rc >= 0x80 && c->request_problem_info) {
        a.props.has |= MQTT_HAS(MQTT_PROP_REASON_STRING);
        a.props.reason_string = (mqtt_bin){(const uint8_t *)why, (uint32_t)strlen(why)};
    }
    return conn_send(c, &a);
}

/* Resolve the v5 topic alias (client -> server). On success *topic holds the
 * topic to use. */
static moat_err resolve_alias(moat_conn *c, mqtt_packet *p, mqtt_bin *topic)
{
    *topic = p->u.publish.topic;
    if (!(p->props.has & MQTT_HAS(MQTT_PROP_TOPIC_ALIAS))) {
        if (topic->len == 0) {
            c->close_text = "empty topic without a topic alias";
            return MOAT_EPROTOCOL;
        }
        return MOAT_OK;
    }
    uint16_t a = p->props.topic_alias;
    if (a == 0 || a > CONF(c->worker->b)->max_topic_alias) {
        c->close_reason = MQTT_RC_TOPIC_ALIAS_INVALID;
        c->close_text = "topic alias out of range (mqtt.max_topic_alias)";
        return MOAT_EPROTOCOL;
    }
    if (!c->alias && !(c->alias = calloc(1, sizeof *c->alias)))
        return MOAT_ENOMEM;
    conn_aliases *al = c->alias;
    if (topic->len) {
        if (a >= al->in_cap) {
            uint32_t nc = a + 1u < 16 ? 16 : a + 1u;
            char **n = realloc(al->in, nc * sizeof *n);
            if (!n)
                return MOAT_ENOMEM;
            memset(n + al->in_cap, 0, (nc - al->in_cap) * sizeof *n);
            al->in = n;
            al->in_cap = nc;
        }
        char *t = strndup((const char *)topic->p, topic->len);
        if (!t)
            return MOAT_ENOMEM;
        free(al->in[a]);
        al->in[a] = t;
        return MOAT_OK;
    }
    if (a >= al->in_cap || !al->in[a]) {
        c->close_text = "unknown topic alias";
        return MOAT_EPROTOCOL;
    }
    *topic = (mqtt_bin){(const uint8_t *)al->in[a], (uint32_t)strlen(al->in[a])};
    return MOAT_OK;
}

static bool awaiting_rel_has(const moat_session *s, uint16_t id)
{
    for (uint32_t i = 0; i < s->n_awaiting_rel; i++)
        if (s->awaiting_rel[i] == id)
            return true;
    return false;
}

static moat_err awaiting_rel_add(moat_session *s, uint16_t id)
{
    if (s->n_awaiting_rel == s->cap_awaiting_rel) {
        uint32_t nc = s->cap_awaiting_rel ? s->cap_awaiting_rel * 2 : 8;
        uint16_t *n = realloc(s->awaiting_rel, nc * sizeof *n);
        if (!n)
            return MOAT_ENOMEM;
        s->awaiting_rel = n;
        s->cap_awaiting_rel = nc;
    }
    s->awaiting_rel[s->n_awaiting_rel++] = id;
    return MOAT_OK;
}

static bool awaiting_rel_del(moat_session *s, uint16_t id)
{
    for (uint32_t i = 0; i < s->n_awaiting_rel; i++) {
        if (s->awaiting_rel[i] == id) {
            s->awaiting_rel[i] = s->awaiting_rel[--s->n_awaiting_rel];
            return true;
        }
    }
    return false;
}

static moat_msg *make_msg(moat_conn *c, const mqtt_packet *p, const mqtt_bin *topic)
{
    moat_buf props = MOAT_BUF_INIT;
    if (c->version == MQTT_V5 && mqtt_props_copy_filtered(p->props.raw, p->props.raw_len,
                                                          MQTT_HAS(MQTT_PROP_TOPIC_ALIAS) |
                                                              MQTT_HAS(MQTT_PROP_MESSAGE_EXPIRY) |
                                                              MQTT_HAS(MQTT_PROP_SUBSCRIPTION_ID),
                                                          &props) != MOAT_OK) {
        moat_buf_free(&props);
        return NULL;
    }
    moat_msg *m = msg_new((const char *)topic->p, topic->len, p->u.publish.payload.p,
                          p->u.publish.payload.len, props.data, props.len);
    moat_buf_free(&props);
    if (!m)
        return NULL;
    m->qos = p->u.publish.qos;
    m->retain = p->u.publish.retain;
    if (p->props.has & MQTT_HAS(MQTT_PROP_PAYLOAD_FORMAT))
        m->payload_format = p->props.payload_format;
    if (p->props.has & MQTT_HAS(MQTT_PROP_MESSAGE_EXPIRY)) {
        m->has_expiry = true;
        m->expiry_at = wall_ms() + (int64_t)p->props.message_expiry * 1000;
    }
    return m;
}

/* Checks that make the server refuse this message; returns the reason code
 * (0 = fine) and sets *fatal when the connection must close. */
static uint8_t check_publish(moat_conn *c, const mqtt_packet *p, const mqtt_bin *topic, bool *fatal,
                             const char **why)
{
    moat_broker *b = c->worker->b;
    *fatal = true;
    if (!mqtt_topic_name_valid((const char *)topic->p, topic->len, 0)) {
        *why = "invalid topic name";
        return MQTT_RC_TOPIC_NAME_INVALID;
    }
    if (p->u.publish.qos > CONF(b)->max_qos_allowed) {
        *why = "QoS above mqtt.max_qos_allowed";
        return MQTT_RC_QOS_NOT_SUPPORTED;
    }
    if (p->u.publish.retain && !CONF(b)->retain_available) {
        *why = "retain is not available (mqtt.retain_available)";
        return MQTT_RC_RETAIN_NOT_SUPPORTED;
    }
    *fatal = c->version != MQTT_V5; /* v3 has no way to refuse one message */
    if (!mqtt_topic_name_valid((const char *)topic->p, topic->len, CONF(b)->max_topic_levels)) {
        *why = "too many topic levels (mqtt.max_topic_levels)";
        return MQTT_RC_TOPIC_NAME_INVALID;
    }
    if (c->version == MQTT_V5 && (p->props.has & MQTT_HAS(MQTT_PROP_PAYLOAD_FORMAT)) &&
        p->props.payload_format == 1 &&
        !mqtt_utf8_valid(p->u.publish.payload.p, p->u.publish.payload.len)) {
        *fatal = p->u.publish.qos == 0;
        *why = "payload is not valid UTF-8 but the payload format indicator says it is";
        return MQTT_RC_PAYLOAD_FORMAT_INVALID;
    }
    *fatal = false;
    return 0;
}

/* A PUBLISH the ACL refuses is not routed. acl_deny_action = disconnect
 * closes the connection (v5: DISCONNECT 0x87); otherwise QoS 0 is dropped
 * silently, and QoS 1/2 is answered 0x87 (v5) or acknowledged as usual (v3
 * has no way to refuse one message). */
static moat_err refuse_by_acl(moat_conn *c, uint8_t qos, uint16_t id, const mqtt_bin *topic)
{
    LOG_INFO("client %s: PUBLISH to '%.*s' not authorized (acl_file)", c->client_id,
             (int)topic->len, (const char *)topic->p);
    if (CONF(c->worker->b)->acl_deny_action == MOAT_ACL_DENY_DISCONNECT) {
        c->close_reason = MQTT_RC_NOT_AUTHORIZED;
        c->close_text = "publish not authorized (acl_deny_action = disconnect)";
        return MOAT_EPROTOCOL;
    }
    if (qos == 0)
        return MOAT_OK;
    uint8_t rc = c->version == MQTT_V5 ? MQTT_RC_NOT_AUTHORIZED : 0;
    return send_ack(c, qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, id, rc,
                    rc ? "not authorized (acl_file)" : NULL);
}

moat_err handle_publish(moat_conn *c, mqtt_packet *p)
{
    moat_broker *b = c->worker->b;
    WSTAT_ADD(c->worker, msgs_received, 1);
    mqtt_bin topic;
    moat_err e = c->version == MQTT_V5 ? resolve_alias(c, p, &topic) : MOAT_OK;
    if (c->version != MQTT_V5)
        topic = p->u.publish.topic;
    if (e)
        return e;
    uint8_t qos = p->u.publish.qos;
    uint16_t id = p->u.publish.packet_id;
    bool fatal;
    const char *why = NULL;
    uint8_t rc = check_publish(c, p, &topic, &fatal, &why);
    if (rc) {
        LOG_NOTICE("client %s: PUBLISH to '%.*s' refused: %s", c->client_id, (int)topic.len,
                   (const char *)topic.p, why);
        if (fatal) {
            c->close_reason = rc;
            c->close_text = why;
            return MOAT_EPROTOCOL;
        }
        if (qos == 0) { /* no acknowledgement to carry the refusal: disconnect */
            c->close_reason = rc;
            c->close_text = why;
            return MOAT_EPROTOCOL;
        }
        return send_ack(c, qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, id, rc, why);
    }
    if (!conn_acl_allows(c, MOAT_ACL_PUBLISH, (const char *)topic.p, topic.len))
        return refuse_by_acl(c, qos, id, &topic);
    pthread_mutex_lock(&b->lock);
    moat_session *s = c->session;
    if (qos == 2 && s && awaiting_rel_has(s, id)) {
        /* A resent PUBLISH (DUP) before PUBREL: acknowledge, do not route again. */
        pthread_mutex_unlock(&b->lock);
        return send_ack(c, MQTT_PUBREC, id, 0, NULL);
    }
    if (qos == 2 && s && s->n_awaiting_rel >= CONF(b)->max_inflight) {
        pthread_mutex_unlock(&b->lock);
        c->close_reason = MQTT_RC_RECEIVE_MAX_EXCEEDED;
        c->close_text =
            "more unacknowledged QoS 2 PUBLISH than the receive maximum (mqtt.max_inflight)";
        return MOAT_EPROTOCOL;
    }
    uint32_t max_rel = CONF(b)->max_awaiting_rel;
    if (qos == 2 && s && max_rel && s->n_awaiting_rel >= max_rel) {
        /* Above our own cap but within the receive maximum we announced:
         * refuse this message (v5), or close (v3 has no way to refuse one). */
        pthread_mutex_unlock(&b->lock);
        LOG_NOTICE("client %s: QoS 2 PUBLISH refused: %u messages await PUBREL "
                   "(mqtt.max_awaiting_rel)",
                   c->client_id, max_rel);
        if (c->version == MQTT_V5)
            return send_ack(c, MQTT_PUBREC, id, MQTT_RC_QUOTA_EXCEEDED,
                            "too many QoS 2 messages awaiting PUBREL (mqtt.max_awaiting_rel)");
        c->close_reason = MQTT_RC_QUOTA_EXCEEDED;
        c->close_text = "too many QoS 2 messages awaiting PUBREL (mqtt.max_awaiting_rel)";
        return MOAT_ELIMIT;
    }
    moat_msg *m = make_msg(c, p, &topic);
    if (!m) {
        pthread_mutex_unlock(&b->lock);
        return MOAT_ENOMEM;
    }
    /* Clients may not publish into the broker's own $SYS tree. */
    bool sys = m->topic[0] == '$' && strncmp(m->topic, "$SYS", 4) == 0 &&
               (m->topic[4] == '/' || m->topic[4] == 0);
    if (!sys) {
        if (m->retain)
            retain_store(b, m);
        broker_publish_locked(b, m, s);
    }
    if (qos == 2 && s)
        awaiting_rel_add(s, id);
    pthread_mutex_unlock(&b->lock);
    msg_unref(m);
    if (qos == 1)
        return send_ack(c, MQTT_PUBACK, id, 0, NULL);
    if (qos == 2)
        return send_ack(c, MQTT_PUBREC, id, 0, NULL);
    return MOAT_OK;
}

moat_err handle_pubrel(moat_conn *c, mqtt_packet *p)
{
    moat_broker *b = c->worker->b;
    pthread_mutex_lock(&b->lock);
    bool found = c->session && awaiting_rel_del(c->session, p->u.ack.packet_id);
    pthread_mutex_unlock(&b->lock);
    return send_ack(c, MQTT_PUBCOMP, p->u.ack.packet_id, found ? 0 : MQTT_RC_PACKET_ID_NOT_FOUND,
                    NULL);
}

/* PUBACK, PUBREC, PUBCOMP from the client for a message we sent. */
moat_err handle_puback(moat_conn *c, mqtt_packet *p)
{
    moat_broker *b = c->worker->b;
    uint16_t id = p->u.ack.packet_id;
    pthread_mutex_lock(&b->lock);
    moat_session *s = c->session;
    qentry *prev = NULL, *e = s ? s->inflight.head : NULL;
    while (e && e->packet_id != id) {
        prev = e;
        e = e->next;
    }
    bool send_rel = false, found = e != NULL;
    if (e) {
        bool ok = (p->type == MQTT_PUBACK && e->qos == 1) ||
                  (p->type == MQTT_PUBREC && e->qos == 2 && e->state == QE_WAIT_ACK) ||
                  (p->type == MQTT_PUBCOMP && e->qos == 2 && e->state == QE_WAIT_COMP);
        bool failed_rec =
            p->type == MQTT_PUBREC && c->version == MQTT_V5 && p->u.ack.reason >= 0x80;
        if (!ok) {
            send_rel = p->type == MQTT_PUBREC && e->state == QE_WAIT_COMP;
        } else if (p->type == MQTT_PUBREC && !failed_rec) {
            e->state = QE_WAIT_COMP;
            session_persist_entry(b, s, e);
            send_rel = true;
        } else {
            session_inflight_remove(s, e, prev);
            session_unpersist_entry(b, s, e);
            qentry_free(e);
        }
    }
    pthread_mutex_unlock(&b->lock);
    if (send_rel)
        return send_ack(c, MQTT_PUBREL, id, 0, NULL);
    if (!found && p->type == MQTT_PUBREC)
        return send_ack(c, MQTT_PUBREL, id, MQTT_RC_PACKET_ID_NOT_FOUND, NULL);
    if (found)
        worker_mark_dirty(c); /* the window has room again */
    return MOAT_OK;
}
