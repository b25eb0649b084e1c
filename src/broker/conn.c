/* SPDX-License-Identifier: Apache-2.0 */
/* One client connection: bytes in through the transport, packets decoded and
 * dispatched to the handlers, packets out through the output buffer. Runs on
 * the connection's worker thread only. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/rcstr.h"
#include "broker/internal.h"

#define READ_BUDGET (256 * 1024) /* per event, so one client cannot starve others */
#define OUT_HIGH_WATER (512 * 1024)
#define OUT_FREE_AT 1024             /* drained output buffers up to this size are freed */
#define AUTH_INPUT_MAX (1024 * 1024) /* buffered while a CONNECT waits for a backend */

void conn_ref(moat_conn *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

static void conn_free(moat_conn *c)
{
    moat_buf_free(&c->in);
    moat_buf_free(&c->out);
    if (c->alias) {
        for (uint32_t i = 0; i < c->alias->in_cap; i++)
            free(c->alias->in[i]);
        free(c->alias->in);
        moat_map_free(&c->alias->out);
        free(c->alias);
    }
    msg_unref(c->will);
    moat_rcstr_unref(c->client_id);
    free(c->username);
    conn_ident_free(c->ident);
    free(c->tls_desc);
    free(c->proxy_cn);
    free(c);
}

void conn_unref(moat_conn *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        conn_free(c);
}

/* ------------------------------------------------------------- output */

static void update_write_interest(moat_conn *c)
{
    bool want = moat_buf_avail(&c->out) > 0 || c->tr->ops->wants_write(c->tr);
    if (want == c->want_write)
        return;
    c->want_write = want;
    moat_loop_mod_fd(c->worker->loop, c->tr->fd, MOAT_EV_READ | (want ? MOAT_EV_WRITE : 0));
}

/* Write what we can; MOAT_EIO when the peer is gone. */
static moat_err conn_write_out(moat_conn *c)
{
    if (!moat_buf_avail(&c->out) && c->tr->ops->wants_write(c->tr)) {
        size_t n = 0; /* a filter (TLS) holds bytes of its own: push them */
        moat_err e = c->tr->ops->write(c->tr, NULL, 0, &n);
        if (e && e != MOAT_EAGAIN)
            return e;
    }
    while (moat_buf_avail(&c->out)) {
        size_t n = 0;
        moat_err e = c->tr->ops->write(c->tr, moat_buf_head(&c->out), moat_buf_avail(&c->out), &n);
        if (e == MOAT_EAGAIN)
            break;
        if (e)
            return e;
        WSTAT_ADD(c->worker, bytes_sent, n);
        moat_buf_consume(&c->out, n);
    }
    /* A small buffer goes back as soon as it drains (the CONNACK of an idle
     * client): freed later, buffers of many new clients would leave holes. */
    if (c->out.cap && c->out.cap <= OUT_FREE_AT && !moat_buf_avail(&c->out))
        moat_buf_free(&c->out);
    if (c->state != CS_CLOSED)
        update_write_interest(c);
    return MOAT_OK;
}

moat_err conn_send(moat_conn *c, const mqtt_packet *p)
{
    size_t n = 0;
    moat_err e = mqtt_encode(p, c->version ? c->version : MQTT_V311, &c->out, &n);
    if (e)
        LOG_ERROR("client %s: cannot encode %s: %s", c->client_id ? c->client_id : "-",
                  mqtt_packet_name(p->type), moat_strerror(e));
    return e;
}

/* ---------------------------------------------------------- delivery */

static uint16_t next_packet_id(moat_session *s)
{
    for (;;) {
        uint16_t id = s->next_pid++;
        if (s->next_pid == 0)
            s->next_pid = 1;
        if (id == 0)
            continue;
        if (!session_pid_used(s, id))
            return id;
    }
}

/* Topic alias toward the client: the first alias_max_out distinct topics get
 * an alias; the first PUBLISH carries topic + alias, later ones only the
 * alias. */
static void apply_alias(moat_conn *c, const moat_msg *m, mqtt_packet *p)
{
    if (!c->alias_max_out || m->topic_len == 0)
        return;
    if (!c->alias && !(c->alias = calloc(1, sizeof *c->alias)))
        return;
    uintptr_t a = (uintptr_t)moat_map_get(&c->alias->out, m->topic, m->topic_len);
    if (a) {
        p->props.has |= MQTT_HAS(MQTT_PROP_TOPIC_ALIAS);
        p->props.topic_alias = (uint16_t)a;
        p->u.publish.topic.len = 0;
        return;
    }
    if (c->alias_out_next >= c->alias_max_out)
        return;
    a = ++c->alias_out_next;
    if (moat_map_put(&c->alias->out, m->topic, m->topic_len, (void *)a, NULL) != MOAT_OK) {
        c->alias_out_next--;
        return;
    }
    p->props.has |= MQTT_HAS(MQTT_PROP_TOPIC_ALIAS);
    p->props.topic_alias = (uint16_t)a;
}

/* Encode a PUBLISH for entry e. Returns false when the client's maximum packet
 * size forbids it (the message is then dropped for this client). */
static bool encode_publish(moat_conn *c, qentry *e, int64_t now_wall)
{
    moat_msg *m = e->msg;
    mqtt_packet p;
    memset(&p, 0, sizeof p);
    p.type = MQTT_PUBLISH;
    p.u.publish.topic = (mqtt_bin){(const uint8_t *)m->topic, m->topic_len};
    p.u.publish.payload = (mqtt_bin){m->payload, m->payload_len};
    p.u.publish.qos = e->qos;
    p.u.publish.dup = e->dup;
    p.u.publish.retain = e->retain;
    p.u.publish.packet_id = e->packet_id;
    if (c->version == MQTT_V5) {
        p.props.raw = m->props;
        p.props.raw_len = m->props_len;
        if (m->has_expiry) {
            int64_t left = (m->expiry_at - now_wall + 999) / 1000;
            p.props.has |= MQTT_HAS(MQTT_PROP_MESSAGE_EXPIRY);
            p.props.message_expiry = left > 0 ? (uint32_t)left : 0;
        }
        p.props.sub_ids = e->sub_ids;
        p.props.n_sub_ids = e->n_sub_ids;
    }
    size_t before = c->out.len, n = 0;
    uint16_t alias_before = c->alias_out_next;
    if (c->version == MQTT_V5)
        apply_alias(c, m, &p);
    moat_err err = mqtt_encode(&p, c->version, &c->out, &n);
    if (!err && c->max_packet_out && n > c->max_packet_out) {
        c->out.len = before;
        err = MOAT_ETOOLARGE;
    }
    if (err) {
        /* Never sent: forget an alias this PUBLISH would have introduced. */
        if (c->alias_out_next != alias_before) {
            moat_map_del(&c->alias->out, m->topic, m->topic_len);
            c->alias_out_next = alias_before;
        }
        return false;
    }
    WSTAT_ADD(c->worker, msgs_sent, 1);
    return true;
}

static bool expired(const qentry *e, int64_t now_wall)
{
    return e->msg->has_expiry && now_wall >= e->msg->expiry_at;
}

/* Move queued messages into the output buffer while the client's receive
 * maximum and our output high-water mark allow. Lock held. */
static void pump(moat_conn *c, moat_session *s)
{
    moat_broker *b = c->worker->b;
    int64_t now = wall_ms();
    uint32_t window = c->recv_max < CONF(b)->max_inflight ? c->recv_max : CONF(b)->max_inflight;
    while (s->queue.head && moat_buf_avail(&c->out) < OUT_HIGH_WATER) {
        qentry *e = s->queue.head;
        if (e->qos > 0 && s->inflight.len >= window)
            break;
        qlist_pop(&s->queue);
        if (expired(e, now)) {
            session_unpersist_entry(b, s, e);
            qentry_free(e);
            continue;
        }
        if (e->qos == 0) {
            encode_publish(c, e, now);
            qentry_free(e);
            continue;
        }
        e->packet_id = next_packet_id(s);
        e->state = QE_WAIT_ACK;
        if (!encode_publish(c, e, now)) {
            session_unpersist_entry(b, s, e);
            qentry_free(e);
            continue;
        }
        session_inflight_push(s, e);
        /* Record "sent" so that a restart resends it with DUP and the same
         * packet identifier (exactly-once for QoS 2 depends on it). */
        session_persist_entry(b, s, e);
    }
}

/* Resend the in-flight window after a session resumes: PUBLISH with DUP for
 * those awaiting PUBACK/PUBREC, PUBREL for those awaiting PUBCOMP. Lock held. */
void conn_resend_inflight(moat_conn *c, moat_session *s)
{
    int64_t now = wall_ms();
    for (qentry *e = s->inflight.head; e; e = e->next) {
        if (e->state == QE_WAIT_COMP) {
            mqtt_packet p = {.type = MQTT_PUBREL};
            p.flags = 2;
            p.u.ack.packet_id = e->packet_id;
            conn_send(c, &p);
            continue;
        }
        e->dup = true;
        encode_publish(c, e, now);
    }
}

void conn_flush(moat_conn *c)
{
    moat_broker *b = c->worker->b;
    while (c->state == CS_CONNECTED) {
        pthread_mutex_lock(&b->lock);
        moat_session *s = c->session;
        if (s)
            pump(c, s);
        /* pump stops at the high-water mark with messages still queued; if
         * the socket then takes everything, nothing else would wake us. */
        bool more = s && s->queue.head && moat_buf_avail(&c->out) >= OUT_HIGH_WATER;
        pthread_mutex_unlock(&b->lock);
        if (conn_write_out(c) != MOAT_OK) {
            conn_close(c, MQTT_RC_UNSPECIFIED, "write error", false);
            return;
        }
        if (!more || moat_buf_avail(&c->out) > 0)
            return;
    }
}

/* -------------------------------------------------------------- close */

static void send_disconnect(moat_conn *c, uint8_t reason, const char *text)
{
    mqtt_packet p = {.type = MQTT_DISCONNECT};
    p.u.disconnect.reason = reason;
    if (text && c->request_problem_info) {
        p.props.has |= MQTT_HAS(MQTT_PROP_REASON_STRING);
        p.props.reason_string = (mqtt_bin){(const uint8_t *)text, (uint32_t)strlen(text)};
    }
    conn_send(c, &p);
}

void conn_close(moat_conn *c, uint8_t reason, const char *text, bool disconnect)
{
    if (c->state == CS_CLOSED)
        return;
    moat_broker *b = c->worker->b;
    if (disconnect && c->version == MQTT_V5 && c->state == CS_CONNECTED && reason >= 0x80)
        send_disconnect(c, reason, text);
    bool was_connected = c->state == CS_CONNECTED;
    c->state = CS_CLOSED;
    char why[512]; /* text may belong to the transport, which goes first */
    text = text ? text : "normal";
    size_t tl = strnlen(text, sizeof why - 1); /* a copy without printf: once per client */
    memcpy(why, text, tl);
    why[tl] = '\0';
    text = why;
    if (moat_buf_avail(&c->out))
        conn_write_out(c); /* best effort: CONNACK/DISCONNECT with the reason */
    if (reason == MQTT_RC_SERVER_SHUTTING_DOWN && c->listener->is_ws)
        moat_ws_set_close(c->tr, MOAT_WS_CLOSE_GOING_AWAY, "server shutting down");
    moat_loop_forget_fd(c->worker->loop, c->tr->fd); /* the close takes it out of epoll */
    c->tr->ops->close(c->tr);
    c->tr = NULL;
    if (was_connected) {
        session_on_conn_closed(c);
        atomic_fetch_sub(&b->stats.clients_connected, 1);
        LOG_INFO("client disconnected: id=%s user=%s peer=%s listener=%s reason=%s (0x%02x)",
                 c->client_id, c->username ? c->username : "-", c->peer, c->listener->label,
                 text ? text : "normal", reason);
    } else {
        LOG_DEBUG("connection closed before CONNECT: peer=%s listener=%s reason=%s", c->peer,
                  c->listener->label, text ? text : "closed");
    }
    atomic_fetch_sub(&c->listener->count, 1);
    atomic_fetch_sub(&b->conn_count, 1);
    worker_remove_conn(c->worker, c);
    conn_unref(c);
}

/* ----------------------------------------------------------- dispatch */

static uint8_t reason_from_err(moat_err e)
{
    switch (e) {
    case MOAT_EMALFORMED:
        return MQTT_RC_MALFORMED;
    case MOAT_EPROTOCOL:
        return MQTT_RC_PROTOCOL_ERROR;
    case MOAT_ETOOLARGE:
        return MQTT_RC_PACKET_TOO_LARGE;
    case MOAT_EPAYLOADFMT:
        return MQTT_RC_PAYLOAD_FORMAT_INVALID;
    case MOAT_ETOPIC:
        return MQTT_RC_TOPIC_NAME_INVALID;
    case MOAT_EVERSION:
        return MQTT_RC_UNSUPPORTED_VERSION;
    default:
        return MQTT_RC_UNSPECIFIED;
    }
}

static moat_err dispatch(moat_conn *c, mqtt_packet *p)
{
    if (c->state == CS_NEW) {
        if (p->type != MQTT_CONNECT) {
            c->close_text = "first packet is not CONNECT";
            return MOAT_EPROTOCOL;
        }
        return handle_connect(c, p);
    }
    switch (p->type) {
    case MQTT_PUBLISH:
        return handle_publish(c, p);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBCOMP:
        return handle_puback(c, p);
    case MQTT_PUBREL:
        return handle_pubrel(c, p);
    case MQTT_SUBSCRIBE:
        return handle_subscribe(c, p);
    case MQTT_UNSUBSCRIBE:
        return handle_unsubscribe(c, p);
    case MQTT_PINGREQ: {
        mqtt_packet r = {.type = MQTT_PINGRESP};
        return conn_send(c, &r);
    }
    case MQTT_DISCONNECT:
        return handle_disconnect(c, p);
    case MQTT_CONNECT:
        c->close_text = "second CONNECT";
        return MOAT_EPROTOCOL;
    case MQTT_AUTH:
        c->close_text = "AUTH without an authentication method";
        return MOAT_EPROTOCOL;
    default:
        c->close_text = "packet type not allowed from a client";
        return MOAT_EPROTOCOL;
    }
}

/* Reject a packet whose declared size exceeds what we accept, before we
 * buffer it. */
static moat_err check_frame(moat_conn *c, const uint8_t *buf, size_t len, size_t *need)
{
    size_t hl;
    uint32_t rem;
    moat_err e = mqtt_frame(buf, len, &hl, &rem);
    if (e)
        return e;
    *need = hl + rem;
    if (*need > CONF(c->worker->b)->max_packet_size) {
        c->close_text = "packet larger than mqtt.max_packet_size";
        return MOAT_ETOOLARGE;
    }
    return MOAT_OK;
}

static void fail(moat_conn *c, moat_err e)
{
    uint8_t rc = c->close_reason ? c->close_reason : reason_from_err(e);
    if (!c->close_text)
        c->close_text = moat_strerror(e);
    if (c->state == CS_NEW && e == MOAT_ETOOLARGE)
        LOG_WARN("peer=%s listener=%s: CONNECT larger than mqtt.max_packet_size (%u bytes)",
                 c->peer, c->listener->label, CONF(c->worker->b)->max_packet_size);
    conn_close(c, rc, c->close_text, true);
}

/* Decode and handle every whole packet in buf; returns the bytes used. The
 * packets point into buf while they are handled (zero copy). */
static size_t process_input(moat_conn *c, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (c->state != CS_CLOSED && c->state != CS_AUTH && done < len) {
        size_t need = 0;
        moat_err e = check_frame(c, buf + done, len - done, &need);
        if (e == MOAT_ENEEDMORE || (!e && len - done < need))
            break;
        mqtt_packet p;
        size_t used = 0;
        if (!e)
            e = mqtt_decode(buf + done, len - done, c->version, &p, &used);
        if (e == MOAT_EVERSION && c->state == CS_NEW) {
            handle_connect(c, &p); /* answers with the right CONNACK and closes */
            break;
        }
        if (!e) {
            c->worker->cur_frame = buf + done;
            c->worker->cur_frame_len = used;
            e = dispatch(c, &p);
        }
        if (e) {
            fail(c, e);
            break;
        }
        done += used;
    }
    WSTAT_ADD(c->worker, bytes_received, done);
    return done;
}

/* Bytes just read (in the worker's read buffer): handle whole packets in
 * place and keep only an incomplete tail in the connection's own buffer, so
 * an idle connection holds no input memory. */
static void take_input(moat_conn *c, const uint8_t *rb, size_t n)
{
    if (moat_buf_avail(&c->in) == 0) {
        size_t used = process_input(c, rb, n);
        if (c->state != CS_CLOSED && used < n && moat_buf_append(&c->in, rb + used, n - used))
            conn_close(c, MQTT_RC_UNSPECIFIED, "out of memory", false);
        return;
    }
    if (moat_buf_append(&c->in, rb, n) != MOAT_OK) {
        conn_close(c, MQTT_RC_UNSPECIFIED, "out of memory", false);
        return;
    }
    size_t used = process_input(c, moat_buf_head(&c->in), moat_buf_avail(&c->in));
    if (c->state == CS_CLOSED)
        return;
    if (c->state == CS_AUTH && moat_buf_avail(&c->in) - used > AUTH_INPUT_MAX) {
        conn_close(c, MQTT_RC_UNSPECIFIED,
                   "more than 1 MiB sent while the CONNECT was being authenticated", false);
        return;
    }
    moat_buf_consume(&c->in, used);
    if (moat_buf_avail(&c->in) == 0)
        moat_buf_free(&c->in);
}

void conn_take_buffered(moat_conn *c)
{
    take_input(c, c->worker->rbuf, 0);
}

static const char *read_error_text(moat_conn *c, moat_err e)
{
    const char *detail = NULL;
    if (c->tls && moat_tls_failure(c->tr, &detail) != MOAT_TLS_FAIL_NONE)
        return detail ? detail : "TLS error";
    if (c->listener->is_ws && (detail = moat_ws_failure(c->tr)) != NULL)
        return detail;
    return e == MOAT_EOF ? "connection closed by peer" : "read error";
}

static void on_io(moat_loop *l, int fd, void *arg, unsigned ev);

/* A posted re-read: see the end of on_readable. */
static void read_pending(moat_loop *l, void *arg)
{
    moat_conn *c = arg;
    if (c->state != CS_CLOSED)
        on_io(l, c->tr->fd, c, MOAT_EV_READ);
    conn_unref(c);
}

static void on_readable(moat_conn *c)
{
    size_t budget = READ_BUDGET;
    uint8_t *rb = c->worker->rbuf;
    while (c->state != CS_CLOSED && budget > 0) {
        size_t n = 0;
        moat_err e = c->tr->ops->read(c->tr, rb, WORKER_RBUF, &n);
        if (e == MOAT_EAGAIN)
            break;
        if (e) {
            conn_close(c, MQTT_RC_UNSPECIFIED, read_error_text(c, e), false);
            return;
        }
        budget = n < budget ? budget - n : 0;
        c->last_rx = (int64_t)moat_now_ms();
        take_input(c, rb, n);
        if (c->state == CS_CLOSED)
            return;
        if (n < WORKER_RBUF && !c->tr->ops->has_pending(c->tr))
            break;
    }
    /* Stopped at the budget with bytes inside the transport (TLS records
     * read ahead): the fd may have nothing left, so no event would come for
     * them. Come back once the other ready connections had their turn. */
    if (budget == 0 && c->state != CS_CLOSED && c->tr->ops->has_pending(c->tr)) {
        conn_ref(c);
        if (moat_loop_post(c->worker->loop, read_pending, c) != MOAT_OK)
            conn_unref(c);
    }
}

/* ------------------------------------------------------ PROXY protocol */

/* How many of the n bytes peeked at p (after the have bytes already taken)
 * belong to the PROXY header, so that we never read past it: the layers
 * above (TLS, WebSocket) must find their first byte untouched. 0: not a
 * PROXY header. */
static size_t proxy_take(const uint8_t *have, size_t nhave, const uint8_t *p, size_t n)
{
    uint8_t head[16];
    size_t nh = 0;
    for (size_t i = 0; i < nhave && nh < sizeof head; i++)
        head[nh++] = have[i];
    for (size_t i = 0; i < n && nh < sizeof head; i++)
        head[nh++] = p[i];
    if (!moat_proxy_sniff(head, nh))
        return 0;
    if (head[0] == 'P') { /* v1: up to and including the line feed */
        const uint8_t *lf = memchr(p, '\n', n);
        return lf ? (size_t)(lf - p) + 1 : n;
    }
    if (nh < 16) /* v2: the fixed part first, then exactly its length */
        return n;
    size_t total = 16 + ((size_t)head[14] << 8 | head[15]);
    return total - nhave < n ? total - nhave : n;
}

/* Read the PROXY header into c->in. MOAT_OK once it is complete and
 * applied; MOAT_EAGAIN; an error with c->close_text set. */
static moat_err proxy_step(moat_conn *c)
{
    uint8_t *rb = c->worker->rbuf;
    for (;;) {
        ssize_t r = recv(c->tcp.fd, rb, WORKER_RBUF, MSG_PEEK);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return MOAT_EAGAIN;
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            c->close_text = r == 0 ? "closed before the PROXY header" : "read error";
            return r == 0 ? MOAT_EOF : MOAT_EIO;
        }
        size_t take = proxy_take(moat_buf_head(&c->in), moat_buf_avail(&c->in), rb, (size_t)r);
        if (take == 0) {
            c->close_text = "PROXY header refused: not a PROXY protocol header";
            return MOAT_EPROTOCOL;
        }
        if (moat_buf_reserve(&c->in, take) != MOAT_OK)
            return MOAT_ENOMEM;
        ssize_t got = recv(c->tcp.fd, c->in.data + c->in.len, take, 0);
        if (got <= 0) {
            c->close_text = "read error";
            return MOAT_EIO;
        }
        c->in.len += (size_t)got;
        moat_proxy_info info;
        size_t used = 0;
        const char *why = NULL;
        moat_err e =
            moat_proxy_parse(moat_buf_head(&c->in), moat_buf_avail(&c->in), &used, &info, &why);
        if (e == MOAT_ENEEDMORE)
            continue;
        if (e) {
            static _Thread_local char text[200];
            snprintf(text, sizeof text, "PROXY header refused: %s", why ? why : "malformed");
            c->close_text = text;
            return MOAT_EPROTOCOL;
        }
        moat_buf_free(&c->in);
        c->proxy_pending = false;
        char via[sizeof c->peer];
        snprintf(via, sizeof via, "%s", c->peer);
        if (!info.local) {
            sockaddr_name((const struct sockaddr *)&info.src, c->peer, sizeof c->peer,
                          &c->is_loopback_peer);
            c->addr_forwarded = true;
        }
        if (info.has_ssl && info.ssl_cn[0] && info.ssl_verify == 0 &&
            (info.ssl_client & (MOAT_PP2_CLIENT_CERT_CONN | MOAT_PP2_CLIENT_CERT_SESS))) {
            c->proxy_cn = strdup(info.ssl_cn);
            c->cert_verified = c->proxy_cn != NULL;
        }
        LOG_DEBUG("PROXY v%u header: peer=%s via=%s listener=%s%s%s%s%s", info.version, c->peer,
                  via, c->listener->label, info.has_ssl ? " tls=" : "",
                  info.has_ssl ? (info.ssl_version[0] ? info.ssl_version : "yes") : "",
                  c->proxy_cn ? " cn=" : "", c->proxy_cn ? c->proxy_cn : "");
        return MOAT_OK;
    }
}

static void on_io(moat_loop *l, int fd, void *arg, unsigned ev)
{
    (void)l;
    (void)fd;
    moat_conn *c = arg;
    conn_ref(c);
    if (c->proxy_pending) {
        moat_err e = (ev & (MOAT_EV_READ | MOAT_EV_ERROR)) ? proxy_step(c) : MOAT_EAGAIN;
        if (e && e != MOAT_EAGAIN) {
            if (e == MOAT_EPROTOCOL)
                LOG_NOTICE("%s: peer=%s listener=%s", c->close_text, c->peer, c->listener->label);
            conn_close(c, MQTT_RC_UNSPECIFIED, c->close_text ? c->close_text : "read error", false);
        }
        if (c->proxy_pending || c->state == CS_CLOSED) {
            conn_unref(c);
            return;
        }
    }
    if (ev & (MOAT_EV_READ | MOAT_EV_ERROR))
        on_readable(c);
    if (c->state == CS_CONNECTED && (ev & MOAT_EV_WRITE) && moat_buf_avail(&c->out) == 0)
        conn_flush(c); /* drained: pump more */
    else if (c->state != CS_CLOSED && conn_write_out(c) != MOAT_OK)
        conn_close(c, MQTT_RC_UNSPECIFIED, "write error", false);
    if (c->state == CS_CONNECTED && moat_buf_avail(&c->out) < OUT_HIGH_WATER / 2)
        conn_flush(c);
    conn_unref(c);
}

/* ------------------------------------------------------------- accept */

void sockaddr_name(const struct sockaddr *sa, char *out, size_t len, bool *loopback)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    *loopback = false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
        *loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
        snprintf(out, len, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
                    (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
        snprintf(out, len, "[%s]:%u", ip, port);
    } else {
        snprintf(out, len, "unknown");
    }
}

/* Runs inside the transport's read/write when the TLS handshake ends. */
static void on_tls_handshake(moat_transport *t, void *arg)
{
    moat_conn *c = arg;
    if (moat_tls_get_state(t) == MOAT_TLS_FAILED) {
        const char *detail = NULL;
        moat_tls_fail f = moat_tls_failure(t, &detail);
        /* A connect-and-close with no byte sent is a health check or a port
         * scan, not worth a notice. */
        moat_log(f == MOAT_TLS_FAIL_NO_DATA ? MOAT_LOG_DEBUG : MOAT_LOG_NOTICE,
                 "TLS handshake failed: peer=%s listener=%s reason=%s: %s", c->peer,
                 c->listener->label, moat_tls_fail_name(f), detail ? detail : "");
        return;
    }
    moat_tls_session_info si;
    char cn[256] = "-";
    if (moat_tls_session(t, &si) != MOAT_OK)
        return;
    c->cert_verified = si.peer_cert;
    if (si.peer_cert)
        moat_tls_peer_identity(t, MOAT_CERT_ID_DN, cn, sizeof cn);
    char desc[384];
    snprintf(desc, sizeof desc, "%s %s%s%s", si.version, si.cipher, si.peer_cert ? " cert=" : "",
             si.peer_cert ? cn : "");
    free(c->tls_desc);
    c->tls_desc = strdup(desc);
    LOG_DEBUG("TLS handshake done: peer=%s listener=%s %s %s group=%s resumed=%d client_cert=%s",
              c->peer, c->listener->label, si.version, si.cipher, si.group, si.resumed, cn);
}

/* Runs inside the transport's read when the WebSocket upgrade ends. A
 * trusted proxy's address header names the real client. */
static void on_ws_open(moat_transport *t, const moat_http_request *req, void *arg)
{
    moat_conn *c = arg;
    const moat_listener_conf *lc = &c->listener->conf;
    if (!req) {
        LOG_NOTICE("%s: peer=%s listener=%s", moat_ws_failure(t), c->peer, c->listener->label);
        return;
    }
    const moat_http_str *a = NULL, *p = NULL;
    if (c->via_trusted_proxy && lc->proxy_address_header[0])
        a = moat_http_header(req, lc->proxy_address_header);
    if (a && a->len) {
        /* X-Forwarded-For: client, proxy1, proxy2: the first entry is the
         * client as the first proxy saw it. */
        size_t n = 0;
        while (n < a->len && a->p[n] != ',')
            n++;
        while (n && (a->p[n - 1] == ' ' || a->p[n - 1] == '\t'))
            n--;
        char ip[64];
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        snprintf(ip, sizeof ip, "%.*s", (int)(n < sizeof ip - 1 ? n : sizeof ip - 1), a->p);
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1)
            ss.ss_family = AF_INET;
        else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1)
            ss.ss_family = AF_INET6;
        if (ss.ss_family) {
            unsigned port = 0;
            if (lc->proxy_port_header[0] && (p = moat_http_header(req, lc->proxy_port_header))) {
                char pb[8];
                snprintf(pb, sizeof pb, "%.*s", (int)(p->len < 7 ? p->len : 7), p->p);
                char *end = NULL;
                unsigned long v = strtoul(pb, &end, 10);
                port = end && !*end && v < 65536 ? (unsigned)v : 0;
            }
            in4->sin_port = htons((uint16_t)port); /* same offset in sin6 */
            char via[sizeof c->peer];
            snprintf(via, sizeof via, "%s", c->peer);
            sockaddr_name((const struct sockaddr *)&ss, c->peer, sizeof c->peer,
                          &c->is_loopback_peer);
            c->addr_forwarded = true;
            LOG_DEBUG("WebSocket open: peer=%s via=%s (%s) listener=%s", c->peer, via,
                      lc->proxy_address_header, c->listener->label);
            return;
        }
        LOG_NOTICE("peer=%s listener=%s: %s header '%s' is not an address; ignored", c->peer,
                   c->listener->label, lc->proxy_address_header, ip);
    }
    LOG_DEBUG("WebSocket open: peer=%s listener=%s", c->peer, c->listener->label);
}

moat_err conn_accept(moat_worker *w, moat_listener *l, int fd, const struct sockaddr *sa)
{
    moat_broker *b = w->b;
    moat_conn *c = calloc(1, sizeof *c); /* TCP_NODELAY: inherited from the listener */
    if (!c) {
        close(fd);
        return MOAT_ENOMEM;
    }
    moat_tcp_transport_init(&c->tcp, fd);
    c->tr = &c->tcp;
    moat_tls_ctx *ctx = l->is_tls ? moat_tls_slot_get(&l->tls_slot) : NULL;
    if (l->is_tls && !ctx) { /* never serve a TLS port in plain text */
        c->tr->ops->close(c->tr);
        free(c);
        return MOAT_EINVAL;
    }
    if (ctx) {
        moat_transport *t = NULL;
        moat_err te = moat_tls_transport_new(ctx, c->tr, &t);
        c->hs_timeout_ms = moat_tls_ctx_handshake_timeout_ms(ctx);
        moat_tls_ctx_unref(ctx); /* the transport holds its own reference */
        if (te != MOAT_OK) {
            c->tr->ops->close(c->tr);
            free(c);
            return MOAT_ENOMEM;
        }
        c->tr = t;
        c->tls = true;
        moat_tls_on_handshake(t, on_tls_handshake, c);
    }
    if (l->is_ws) {
        moat_transport *t = NULL;
        if (moat_ws_transport_new(&l->ws, c->tr, &t) != MOAT_OK) {
            c->tr->ops->close(c->tr);
            free(c);
            return MOAT_ENOMEM;
        }
        c->tr = t;
        moat_ws_on_open(t, on_ws_open, c);
    }
    atomic_init(&c->refs, 1);
    c->worker = w;
    c->listener = l;
    c->id = atomic_fetch_add(&b->next_conn_id, 1);
    c->created = c->last_rx = (int64_t)moat_now_ms();
    c->recv_max = 65535;
    c->request_problem_info = true;
    sockaddr_name(sa, c->peer, sizeof c->peer, &c->is_loopback_peer);
    c->via_trusted_proxy = l->is_ws && moat_cidr_list_match(&l->trusted_proxies, sa);
    c->proxy_pending = l->conf.proxy_protocol;
    if (c->proxy_pending && l->proxy_trusted.n && !moat_cidr_list_match(&l->proxy_trusted, sa)) {
        LOG_NOTICE("PROXY header refused: peer=%s listener=%s: the address is not in "
                   "listener.%s.%s.proxy_protocol_trusted",
                   c->peer, l->label, l->conf.type, l->conf.name);
        c->tr->ops->close(c->tr);
        free(c);
        return MOAT_EPROTOCOL;
    }
    unsigned lc = atomic_fetch_add(&l->count, 1) + 1;
    unsigned gc = atomic_fetch_add(&b->conn_count, 1) + 1;
    if (lc > l->conf.max_connections) {
        c->over_limit = true;
        LOG_WARN("peer=%s: connection refused: listener.%s.%s.max_connections (%u) reached",
                 c->peer, l->conf.type, l->conf.name, l->conf.max_connections);
    } else if (gc > CONF(b)->max_connections) {
        c->over_limit = true;
        LOG_WARN("peer=%s: connection refused: node.max_connections (%u) reached", c->peer,
                 CONF(b)->max_connections);
    }
    if (moat_loop_add_fd(w->loop, fd, MOAT_EV_READ, on_io, c) != MOAT_OK) {
        atomic_fetch_sub(&l->count, 1);
        atomic_fetch_sub(&b->conn_count, 1);
        c->tr->ops->close(c->tr);
        free(c);
        return MOAT_EIO;
    }
    worker_add_conn(w, c);
    LOG_DEBUG("connection accepted: peer=%s listener=%s", c->peer, l->label);
    return MOAT_OK;
}

/* Keep alive: 1.5 times the interval without a packet closes the connection;
 * a connection that never sends CONNECT is closed after 10 seconds. */
void conn_keepalive_sweep(moat_worker *w, int64_t now)
{
    for (uint32_t i = 0; i < w->n_conns;) {
        moat_conn *c = w->conns[i];
        uint32_t before = w->n_conns;
        if (c->proxy_pending &&
            now - c->created > (int64_t)c->listener->conf.proxy_protocol_timeout_ms) {
            LOG_NOTICE("PROXY header refused: peer=%s listener=%s: none within %ums "
                       "(listener.%s.%s.proxy_protocol_timeout)",
                       c->peer, c->listener->label, c->listener->conf.proxy_protocol_timeout_ms,
                       c->listener->conf.type, c->listener->conf.name);
            conn_close(c, MQTT_RC_UNSPECIFIED, "no PROXY header in time", false);
        } else if (c->state == CS_NEW && c->tls && !c->proxy_pending &&
                   moat_tls_get_state(c->tr) == MOAT_TLS_HANDSHAKING &&
                   now - c->created > (int64_t)c->hs_timeout_ms) {
            moat_tls_fail_timeout(c->tr);
            LOG_NOTICE("TLS handshake failed: peer=%s listener=%s reason=timeout: no handshake "
                       "within %ums (listener.%s.%s.handshake_timeout)",
                       c->peer, c->listener->label, c->hs_timeout_ms, c->listener->conf.type,
                       c->listener->conf.name);
            conn_close(c, MQTT_RC_UNSPECIFIED, "TLS handshake timeout", false);
        } else if (c->state == CS_AUTH &&
                   now - c->created >
                       12000 + (int64_t)c->hs_timeout_ms + (int64_t)CONF(w->b)->auth_timeout_ms) {
            connect_auth_overdue(c);
        } else if (c->state == CS_NEW && now - c->created > 10000 + (int64_t)c->hs_timeout_ms)
            conn_close(c, MQTT_RC_MAX_CONNECT_TIME, "no CONNECT within 10s", false);
        else if (c->state == CS_CONNECTED && c->keep_alive &&
                 now - c->last_rx > (int64_t)c->keep_alive * 1500)
            conn_close(c, MQTT_RC_KEEP_ALIVE_TIMEOUT, "keep alive timeout", true);
        if (w->n_conns == before) {
            /* Give back the output buffer of a connection with nothing to
             * send: idle connections then cost no buffer memory. */
            if (c->state != CS_CLOSED && moat_buf_avail(&c->out) == 0 && c->out.cap)
                moat_buf_free(&c->out);
            i++;
        }
    }
}
