/* SPDX-License-Identifier: Apache-2.0 */
/* CONNECT, DISCONNECT, session takeover and wills. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/ban.h"
#include "base/log.h"
#include "base/rcstr.h"
#include "broker/internal.h"

/* v3 CONNACK return codes */
enum {
    V3_ACCEPTED = 0,
    V3_BAD_VERSION = 1,
    V3_BAD_ID = 2,
    V3_UNAVAILABLE = 3,
    V3_BAD_AUTH = 4,
    V3_NOT_AUTHORIZED = 5
};

static uint8_t v3_code(uint8_t rc)
{
    switch (rc) {
    case MQTT_RC_SUCCESS:
        return V3_ACCEPTED;
    case MQTT_RC_UNSUPPORTED_VERSION:
        return V3_BAD_VERSION;
    case MQTT_RC_CLIENT_ID_INVALID:
        return V3_BAD_ID;
    case MQTT_RC_BAD_USER_OR_PASSWORD:
        return V3_BAD_AUTH;
    case MQTT_RC_NOT_AUTHORIZED:
    case MQTT_RC_BANNED:
        return V3_NOT_AUTHORIZED;
    default:
        return V3_UNAVAILABLE;
    }
}

/* Refuse the CONNECT with a CONNACK carrying rc and close. */
static moat_err refuse(moat_conn *c, uint8_t rc, const char *why)
{
    mqtt_packet p = {.type = MQTT_CONNACK};
    p.u.connack.reason = c->version == MQTT_V5 ? rc : v3_code(rc);
    if (c->version == MQTT_V5 && why && c->request_problem_info) {
        p.props.has |= MQTT_HAS(MQTT_PROP_REASON_STRING);
        p.props.reason_string = (mqtt_bin){(const uint8_t *)why, (uint32_t)strlen(why)};
    }
    conn_send(c, &p);
    LOG_NOTICE("connection refused: id=%s peer=%s listener=%s reason=%s (0x%02x)",
               c->client_id ? c->client_id : "-", c->peer, c->listener->label, why, rc);
    conn_close(c, rc, why, false);
    return MOAT_OK;
}

/* allow_anonymous as in force on c's listener (its own, or the global one). */
static moat_anon anon_mode(const moat_conn *c)
{
    const moat_conf *cf = CONF(c->worker->b);
    int own = cf->listeners[c->listener->index].allow_anonymous;
    return own ? (moat_anon)(own - 1) : (moat_anon)cf->allow_anonymous;
}

static bool anonymous_allowed(const moat_conn *c)
{
    if (c->cert_verified) /* a verified client certificate authenticates */
        return true;
    switch (anon_mode(c)) {
    case MOAT_ANON_TRUE:
        return true;
    case MOAT_ANON_FALSE:
        return false;
    default:
        /* Behind a balancer (PROXY, X-Forwarded-For) a loopback listener
         * says nothing about the client: only its own address counts. */
        return (c->listener->loopback && !c->addr_forwarded) || c->is_loopback_peer;
    }
}

/* The peer "ip:port" / "[ipv6]:port" as an address (the client's own,
 * after PROXY or forwarding headers). False when it does not parse. */
static bool peer_addr(const char *peer, struct sockaddr_storage *ss)
{
    char ip[CONN_PEER_MAX];
    memset(ss, 0, sizeof *ss);
    if (peer[0] == '[') {
        const char *e = strchr(peer, ']');
        if (!e || (size_t)(e - peer - 1) >= sizeof ip)
            return false;
        memcpy(ip, peer + 1, (size_t)(e - peer - 1));
        ip[e - peer - 1] = '\0';
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        return inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1;
    }
    size_t n = strcspn(peer, ":");
    if (n >= sizeof ip)
        return false;
    memcpy(ip, peer, n);
    ip[n] = '\0';
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    return inet_pton(AF_INET, ip, &s4->sin_addr) == 1;
}

void conn_auth_client(const moat_conn *c, moat_auth_client *cl, struct sockaddr_storage *addr)
{
    *cl = (moat_auth_client){.username = c->username,
                             .client_id = c->client_id ? c->client_id : "",
                             .cert_cn = c->ident ? c->ident->cert_cn : NULL,
                             .cert_dn = c->ident ? c->ident->cert_dn : NULL,
                             .listener = c->listener->label,
                             .listener_slot = c->listener->index + 1};
    if (peer_addr(c->peer, addr))
        cl->addr = (const struct sockaddr *)addr;
}

/* A refresh of a client's own rules under way (acl_cache_ttl). */
typedef struct acl_refresh_req {
    moat_conn *c;
    moat_auth_answer ans;
} acl_refresh_req;

static void acl_refreshed(moat_loop *l, void *arg)
{
    (void)l;
    acl_refresh_req *r = arg;
    moat_conn *c = r->c;
    if (c->state == CS_CONNECTED && c->ident) {
        c->ident->acl_refreshing = false;
        c->ident->acl_at = (int64_t)moat_now_ms();
        if (r->ans.error) { /* keep the old rules; try again after the next TTL */
            LOG_WARN("auth: client %s: rules not refreshed (%s could not answer: %s); the old "
                     "ones stay",
                     c->client_id, r->ans.source, r->ans.why);
        } else {
            moat_acl_free(c->ident->acl);
            c->ident->acl = r->ans.acl ? r->ans.acl : moat_acl_new(); /* none now: none */
            r->ans.acl = NULL;
            LOG_DEBUG("auth: client %s: rules refreshed from %s (%zu)", c->client_id, r->ans.source,
                      moat_acl_count(c->ident->acl));
        }
    }
    moat_acl_free(r->ans.acl);
    free(r);
    conn_unref(c);
}

static void acl_refresh_done(void *arg, moat_auth_answer *a)
{
    acl_refresh_req *r = arg;
    r->ans = *a;
    a->acl = NULL;
    if (!atomic_load(&r->c->worker->b->auth_draining) &&
        moat_loop_post(r->c->worker->loop, acl_refreshed, r) == MOAT_OK)
        return;
    moat_acl_free(r->ans.acl);
    conn_unref(r->c);
    free(r);
}

static void acl_refresh(moat_conn *c)
{
    conn_ident *id = c->ident;
    acl_refresh_req *r = calloc(1, sizeof *r);
    id->acl_refreshing = true;
    id->acl_at = (int64_t)moat_now_ms(); /* a failed start waits a TTL before trying again */
    if (!r)
        goto out;
    r->c = c;
    conn_ref(c);
    moat_auth_client cl;
    struct sockaddr_storage ss;
    conn_auth_client(c, &cl, &ss);
    if (moat_auth_refresh_acl(id->acl_auth, id->acl_src, &cl, acl_refresh_done, r))
        return;
    conn_unref(c);
    free(r);
out:
    id->acl_refreshing = false;
}

bool conn_acl_allows(const moat_conn *c, moat_acl_access access, const char *topic, size_t len)
{
    if (c->superuser)
        return true;
    moat_broker *b = c->worker->b;
    const moat_acl *acl = moat_auth_acl(AUTH(b));
    const moat_acl *own = c->ident ? c->ident->acl : NULL;
    if (!acl && !own) /* no rules: the hot path asks nothing more */
        return CONF(b)->acl_nomatch == MOAT_ACL_NOMATCH_ALLOW;
    if (own && CONF(b)->acl_cache_ttl_ms && !c->ident->acl_refreshing &&
        (int64_t)moat_now_ms() - c->ident->acl_at >= (int64_t)CONF(b)->acl_cache_ttl_ms)
        acl_refresh((moat_conn *)c);
    moat_auth_client cl;
    struct sockaddr_storage ss;
    conn_auth_client(c, &cl, &ss);
    /* The client's own rules (from its backend) first, then acl_file. */
    moat_acl_verdict v = own ? moat_acl_check(own, &cl, access, topic, len) : MOAT_ACL_NOMATCH;
    if (v == MOAT_ACL_NOMATCH && acl)
        v = moat_acl_check(acl, &cl, access, topic, len);
    if (v == MOAT_ACL_NOMATCH)
        return CONF(b)->acl_nomatch == MOAT_ACL_NOMATCH_ALLOW;
    return v == MOAT_ACL_ALLOW;
}

static moat_err make_will(moat_conn *c, const mqtt_packet *p)
{
    moat_broker *b = c->worker->b;
    const mqtt_bin *t = &p->u.connect.will_topic;
    if (!mqtt_topic_name_valid((const char *)t->p, t->len, CONF(b)->max_topic_levels))
        return MOAT_ETOPIC;
    const mqtt_props *wp = &p->u.connect.will_props;
    if ((wp->has & MQTT_HAS(MQTT_PROP_PAYLOAD_FORMAT)) && wp->payload_format == 1 &&
        !mqtt_utf8_valid(p->u.connect.will_payload.p, p->u.connect.will_payload.len))
        return MOAT_EPAYLOADFMT;
    moat_buf props = MOAT_BUF_INIT;
    if (c->version == MQTT_V5 && mqtt_props_copy_filtered(wp->raw, wp->raw_len,
                                                          MQTT_HAS(MQTT_PROP_WILL_DELAY) |
                                                              MQTT_HAS(MQTT_PROP_MESSAGE_EXPIRY),
                                                          &props) != MOAT_OK) {
        moat_buf_free(&props);
        return MOAT_ENOMEM;
    }
    c->will = msg_new((const char *)t->p, t->len, p->u.connect.will_payload.p,
                      p->u.connect.will_payload.len, props.data, props.len);
    moat_buf_free(&props);
    if (!c->will)
        return MOAT_ENOMEM;
    c->will->qos = p->u.connect.will_qos;
    c->will->retain = p->u.connect.will_retain;
    if (wp->has & MQTT_HAS(MQTT_PROP_PAYLOAD_FORMAT))
        c->will->payload_format = wp->payload_format;
    if (wp->has & MQTT_HAS(MQTT_PROP_MESSAGE_EXPIRY)) {
        c->will->has_expiry = true;
        c->will->expiry_at = wall_ms() + (int64_t)wp->message_expiry * 1000;
    }
    c->will_qos = p->u.connect.will_qos;
    c->will_delay = (wp->has & MQTT_HAS(MQTT_PROP_WILL_DELAY)) ? wp->will_delay : 0;
    return MOAT_OK;
}

/* Read the client's v5 CONNECT properties into the connection. */
static moat_err read_props(moat_conn *c, const mqtt_props *pr, uint32_t *expiry)
{
    moat_broker *b = c->worker->b;
    if (pr->has & MQTT_HAS(MQTT_PROP_AUTH_METHOD)) {
        c->close_reason = MQTT_RC_BAD_AUTH_METHOD;
        return MOAT_EINVAL;
    }
    if (pr->has & MQTT_HAS(MQTT_PROP_SESSION_EXPIRY))
        *expiry = pr->session_expiry;
    if (pr->has & MQTT_HAS(MQTT_PROP_RECEIVE_MAX))
        c->recv_max = pr->receive_max;
    if (pr->has & MQTT_HAS(MQTT_PROP_MAX_PACKET_SIZE))
        c->max_packet_out = pr->max_packet_size;
    if (pr->has & MQTT_HAS(MQTT_PROP_TOPIC_ALIAS_MAX))
        c->alias_max_out = pr->topic_alias_max;
    if (pr->has & MQTT_HAS(MQTT_PROP_REQUEST_PROBLEM_INFO))
        c->request_problem_info = pr->request_problem_info;
    (void)b;
    return MOAT_OK;
}

static void fill_connack_props(moat_conn *c, mqtt_packet *ack, uint32_t granted_expiry,
                               uint32_t asked_expiry, bool assigned, bool ka_changed)
{
    moat_broker *b = c->worker->b;
    mqtt_props *pr = &ack->props;
    if (granted_expiry != asked_expiry) {
        pr->has |= MQTT_HAS(MQTT_PROP_SESSION_EXPIRY);
        pr->session_expiry = granted_expiry;
    }
    pr->has |= MQTT_HAS(MQTT_PROP_RECEIVE_MAX) | MQTT_HAS(MQTT_PROP_MAX_PACKET_SIZE) |
               MQTT_HAS(MQTT_PROP_TOPIC_ALIAS_MAX);
    pr->receive_max = CONF(b)->max_inflight;
    pr->max_packet_size = CONF(b)->max_packet_size;
    pr->topic_alias_max = CONF(b)->max_topic_alias;
    if (CONF(b)->max_qos_allowed < 2) {
        pr->has |= MQTT_HAS(MQTT_PROP_MAX_QOS);
        pr->max_qos = CONF(b)->max_qos_allowed;
    }
    if (!CONF(b)->retain_available) {
        pr->has |= MQTT_HAS(MQTT_PROP_RETAIN_AVAILABLE);
        pr->retain_available = 0;
    }
    if (!CONF(b)->wildcard_subscription) {
        pr->has |= MQTT_HAS(MQTT_PROP_WILDCARD_SUB_AVAILABLE);
        pr->wildcard_sub_available = 0;
    }
    if (!CONF(b)->shared_subscription) {
        pr->has |= MQTT_HAS(MQTT_PROP_SHARED_SUB_AVAILABLE);
        pr->shared_sub_available = 0;
    }
    if (assigned) {
        pr->has |= MQTT_HAS(MQTT_PROP_ASSIGNED_CLIENT_ID);
        pr->assigned_client_id =
            (mqtt_bin){(const uint8_t *)c->client_id, (uint32_t)strlen(c->client_id)};
    }
    if (ka_changed) {
        pr->has |= MQTT_HAS(MQTT_PROP_SERVER_KEEP_ALIVE);
        pr->server_keep_alive = c->keep_alive;
    }
}

static void close_taken_over(moat_loop *l, void *arg)
{
    (void)l;
    moat_conn *old = arg;
    conn_close(old, MQTT_RC_SESSION_TAKEN_OVER, "session taken over", true);
    conn_unref(old);
}

/* Attach c to its session (lock held). Returns session_present. */
static bool attach_session(moat_conn *c, bool clean, uint32_t expiry)
{
    moat_broker *b = c->worker->b;
    size_t idlen = strlen(c->client_id);
    moat_session *s = moat_map_get(&b->sessions, c->client_id, idlen);
    bool taken_over = s && s->conn;
    if (taken_over) {
        moat_conn *old = s->conn;
        old->session = NULL;
        s->conn = NULL;
        /* The old connection's will: a resumed session with a will delay
         * cancels it; otherwise it goes out now (spec 3.1.3.2.2). */
        if (old->will && !(old->will_delay > 0 && !clean))
            broker_publish_will(b, old->will);
        msg_unref(old->will);
        old->will = NULL;
        conn_ref(old);
        if (moat_loop_post(old->worker->loop, close_taken_over, old) != MOAT_OK)
            conn_unref(old);
        LOG_INFO("session taken over: id=%s old peer=%s new peer=%s", c->client_id, old->peer,
                 c->peer);
    }
    bool present = false;
    /* Taking over a session that ends with its connection (expiry 0, a
     * clean v3 session) does not resume it: it ended as the old connection
     * was closed, even if that close is still being processed elsewhere. */
    if (s && (clean || (s->expiry == 0 && taken_over))) {
        session_destroy(b, s);
        s = NULL;
    }
    if (s) {
        present = true;
        if (s->will) { /* reconnected within the will delay */
            msg_unref(s->will);
            s->will = NULL;
            s->will_at = 0;
        }
        /* One copy of the identifier for the connection and its session. */
        moat_rcstr_unref(c->client_id);
        c->client_id = moat_rcstr_ref(s->client_id);
    } else {
        s = session_new(b, c->client_id, idlen);
        if (!s)
            return false;
    }
    bool was_persistent = s->persistent;
    s->conn = c;
    s->version = c->version;
    s->expiry = expiry;
    s->persistent = expiry > 0;
    c->session = s;
    if (s->persistent) {
        s->disconnected_at = 0;
        session_persist(b, s);
    } else if (was_persistent) {
        moat_store_del(b->store, MOAT_T_SESSION, s->client_id, s->client_id_len);
    }
    return present;
}

static moat_err assign_client_id(moat_conn *c)
{
    moat_broker *b = c->worker->b;
    char id[64];
    pthread_mutex_lock(&b->lock);
    unsigned n = ++b->assigned_id_counter;
    pthread_mutex_unlock(&b->lock);
    snprintf(id, sizeof id, "moat-%lx-%x-%llx", (unsigned long)(b->started_at / 1000), n,
             (unsigned long long)c->id);
    c->client_id = moat_rcstr_new(id, strlen(id));
    return c->client_id ? MOAT_OK : MOAT_ENOMEM;
}

static char *dup_bin(const mqtt_bin *b)
{
    char *s = malloc(b->len + 1);
    if (s) {
        memcpy(s, b->p, b->len);
        s[b->len] = 0;
    }
    return s;
}

/* A part of the client certificate: from the TLS layer, or, behind a
 * balancer that terminated TLS, the CN its PROXY v2 header carried (the only
 * part it carries). kind is a moat_conf_peer_id (not off). */
static moat_err peer_identity(moat_conn *c, int kind, char *id, size_t n)
{
    if (c->proxy_cn && !c->tls) {
        if ((moat_cert_id)(kind - 1) != MOAT_CERT_ID_CN)
            return MOAT_ENOTFOUND;
        snprintf(id, n, "%s", c->proxy_cn);
        return MOAT_OK;
    }
    return moat_tls_peer_identity(c->tr, (moat_cert_id)(kind - 1), id, n);
}

/* Certificate identity (ssl and wss listeners, or the CN from a balancer's
 * PROXY v2 header): peer_cert_as_username, peer_cert_as_clientid and
 * clientid_must_match. Returns a refusal reason or 0. */
static uint8_t apply_cert_identity(moat_conn *c, const char **why)
{
    moat_broker *b = c->worker->b;
    const moat_listener_conf *lc = &CONF(b)->listeners[c->listener->index];
    static _Thread_local char id[16384];
    /* A mapping that is configured but cannot be served from this
     * certificate refuses the client: falling back to what it claims would
     * let a certified device pick another device's identity. */
    if (lc->peer_cert_as_username && c->cert_verified) {
        *why = "the client certificate lacks the field peer_cert_as_username names";
        if (peer_identity(c, lc->peer_cert_as_username, id, sizeof id) != MOAT_OK)
            return MQTT_RC_NOT_AUTHORIZED;
        free(c->username);
        c->username = strdup(id);
    }
    if (lc->peer_cert_as_clientid && c->cert_verified) {
        *why = "the client certificate lacks the field peer_cert_as_clientid names";
        if (peer_identity(c, lc->peer_cert_as_clientid, id, sizeof id) != MOAT_OK)
            return MQTT_RC_CLIENT_ID_INVALID;
        char *n = moat_rcstr_new(id, strlen(id));
        if (n) {
            moat_rcstr_unref(c->client_id);
            c->client_id = n;
        }
    }
    if (!lc->clientid_must_match)
        return 0;
    *why = "client identifier does not match the client certificate "
           "(listener clientid_must_match)";
    if (!c->cert_verified || peer_identity(c, lc->clientid_must_match, id, sizeof id) != MOAT_OK)
        return MQTT_RC_NOT_AUTHORIZED;
    return strcmp(id, c->client_id) == 0 ? 0 : MQTT_RC_CLIENT_ID_INVALID;
}

void conn_ident_free(conn_ident *id)
{
    if (!id)
        return;
    free(id->cert_cn);
    free(id->cert_dn);
    moat_acl_free(id->acl);
    free(id);
}

static conn_ident *ident_of(moat_conn *c)
{
    if (!c->ident)
        c->ident = calloc(1, sizeof *c->ident);
    return c->ident;
}

/* Give back an ident that holds nothing (after a backend's wait): idle
 * clients keep their per-connection memory as small as before. */
static void ident_trim(moat_conn *c)
{
    conn_ident *id = c->ident;
    if (id && !id->cert_cn && !id->cert_dn && !id->acl && !id->wait) {
        free(id);
        c->ident = NULL;
    }
}

/* A CONNECT waiting for a backend (state CS_AUTH). It holds a reference
 * to the connection until the answer has come back to its loop. */
typedef struct auth_wait {
    moat_conn *c;
    const moat_auth *auth; /* the chain that was asked (a reload may swap it) */
    moat_auth_answer ans;  /* filled by auth_done */
    uint32_t asked;        /* session expiry the client asked for */
    bool assigned;         /* the client id was assigned by the broker */
    size_t len;
    uint8_t pkt[]; /* the CONNECT as received, decoded again to go on */
} auth_wait;

static moat_err connect_decided(moat_conn *c, const mqtt_packet *p, const moat_auth *acl_auth,
                                moat_auth_answer *ans, uint32_t asked, bool assigned);

static void client_of(moat_conn *c, const mqtt_packet *p, moat_auth_client *cl,
                      struct sockaddr_storage *ss)
{
    conn_auth_client(c, cl, ss);
    if (p->u.connect.has_password) {
        cl->password = (const char *)p->u.connect.password.p;
        cl->password_len = p->u.connect.password.len;
        if (!cl->password)
            cl->password = "";
    }
}

static void wait_free(auth_wait *w)
{
    moat_acl_free(w->ans.acl);
    OPENSSL_cleanse(w->pkt, w->len); /* holds the password */
    free(w);
}

static void auth_resumed(moat_loop *l, void *arg);

/* Pool thread: the backend has answered. Back to the connection's loop. */
static void auth_done(void *arg, moat_auth_answer *a)
{
    auth_wait *w = arg;
    moat_conn *c = w->c;
    w->ans = *a;
    a->acl = NULL; /* taken */
    if (!atomic_load(&c->worker->b->auth_draining) &&
        moat_loop_post(c->worker->loop, auth_resumed, w) == MOAT_OK)
        return;
    /* Stopping (the loops no longer run): the answer goes nowhere. */
    wait_free(w);
    conn_unref(c);
}

static void auth_resumed(moat_loop *l, void *arg)
{
    (void)l;
    auth_wait *w = arg;
    moat_conn *c = w->c;
    if (c->state != CS_AUTH || !c->ident || c->ident->wait != w ||
        atomic_load(&c->worker->b->auth_draining)) { /* closed meanwhile, or stopping */
        wait_free(w);
        conn_unref(c);
        return;
    }
    mqtt_packet p;
    size_t used = 0;
    moat_auth_answer out;
    moat_err e = mqtt_decode(w->pkt, w->len, 0, &p, &used);
    if (e == MOAT_OK) {
        moat_auth_client cl;
        struct sockaddr_storage ss;
        client_of(c, &p, &cl, &ss);
        moat_auth_continue(w->auth, &w->ans, &cl, &out, auth_done, w);
        w->ans.acl = NULL;                   /* passed into out */
        if (out.result == MOAT_AUTH_PENDING) /* the next backend has it */
            return;
        c->ident->wait = NULL;
        c->state = CS_NEW;
        e = connect_decided(c, &p, w->auth, &out, w->asked, w->assigned);
        moat_acl_free(out.acl);
        if (c->state != CS_CLOSED)
            ident_trim(c);
    }
    if (e) {
        c->close_text = c->close_text ? c->close_text : "CONNECT could not be completed";
        conn_close(c, MQTT_RC_UNSPECIFIED, c->close_text, false);
    }
    wait_free(w);
    /* Packets that came behind the CONNECT wait in c->in: take them now. */
    if (c->state == CS_CONNECTED && moat_buf_avail(&c->in))
        conn_take_buffered(c);
    conn_unref(c);
}

/* Park the CONNECT (state CS_AUTH) for an answer that may come later; it
 * holds a reference to c. */
static auth_wait *wait_new(moat_conn *c, const moat_auth *auth, uint32_t asked, bool assigned)
{
    moat_worker *w = c->worker;
    auth_wait *aw = malloc(sizeof *aw + w->cur_frame_len);
    conn_ident *id = ident_of(c);
    if (!aw || !id) {
        free(aw);
        return NULL;
    }
    *aw = (auth_wait){
        .c = c, .auth = auth, .asked = asked, .assigned = assigned, .len = w->cur_frame_len};
    memcpy(aw->pkt, w->cur_frame, w->cur_frame_len);
    id->wait = aw;
    conn_ref(c);
    c->state = CS_AUTH;
    return aw;
}

typedef struct wait_ctx {
    moat_conn *c;
    const moat_auth *auth;
    uint32_t asked;
    bool assigned;
    auth_wait *made;
} wait_ctx;

static void *wait_make(void *ctx)
{
    wait_ctx *wc = ctx;
    if (!wc->made)
        wc->made = wait_new(wc->c, wc->auth, wc->asked, wc->assigned);
    return wc->made;
}

void connect_auth_overdue(moat_conn *c)
{
    /* The wait keeps its reference; its answer finds the connection closed. */
    if (c->ident)
        c->ident->wait = NULL;
    c->state = CS_NEW;
    refuse(c, MQTT_RC_SERVER_UNAVAILABLE, "authentication did not finish in time (auth.timeout)");
}

/* The client's IP address as text into ip ("" when unknown). */
static void addr_text(const struct sockaddr *sa, char *ip, size_t n)
{
    ip[0] = '\0';
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, (socklen_t)n);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, (socklen_t)n);
}

static bool is_banned(moat_conn *c, const moat_auth_client *cl)
{
    char ip[INET6_ADDRSTRLEN], who[512];
    moat_ban_info hit;
    addr_text(cl->addr, ip, sizeof ip);
    if (!moat_bans_check(c->worker->b->bans, cl->client_id, cl->username, ip, wall_ms(), &hit, who,
                         sizeof who))
        return false;
    int64_t left = hit.until == INT64_MAX ? -1 : (hit.until - wall_ms() + 999) / 1000;
    LOG_NOTICE("auth: peer=%s id=%s: banned %s '%s' (%s), %lld s left", c->peer, cl->client_id,
               moat_ban_kind_name(hit.kind), who,
               hit.manual ? "by an administrator" : "failed logins", (long long)left);
    return true;
}

/* Count a failed login towards a ban; forget failures after a good one. */
static void ban_account(moat_conn *c, const moat_auth_answer *ans)
{
    moat_broker *b = c->worker->b;
    if (ans->result == MOAT_AUTH_ALLOW) {
        moat_bans_success(b->bans, c->client_id);
        return;
    }
    if (ans->result != MOAT_AUTH_DENY || ans->error || !CONF(b)->ban_max_failures)
        return;
    moat_auth_client cl;
    struct sockaddr_storage ss;
    conn_auth_client(c, &cl, &ss);
    char ip[INET6_ADDRSTRLEN];
    addr_text(cl.addr, ip, sizeof ip);
    bool exempt = moat_auth_ban_exempt(AUTH(b), cl.addr), full = false;
    moat_ban_policy bp = {CONF(b)->ban_max_failures, CONF(b)->ban_window_ms,
                          CONF(b)->ban_duration_ms};
    unsigned started =
        moat_bans_failure(b->bans, &bp, c->client_id, exempt ? NULL : ip, wall_ms(), &full);
    if (started & (1u << MOAT_BAN_CLIENTID))
        LOG_WARN("auth: client id '%s' banned for %u s after %u failed logins within %u s "
                 "(auth.ban.*)",
                 c->client_id, bp.duration_ms / 1000, bp.max_failures, bp.window_ms / 1000);
    if (started & (1u << MOAT_BAN_ADDRESS))
        LOG_WARN("auth: address %s banned for %u s after %u failed logins within %u s "
                 "(auth.ban.*; exempt networks: auth.ban.exempt)",
                 ip, bp.duration_ms / 1000, bp.max_failures, bp.window_ms / 1000);
    if (full)
        LOG_WARN("auth: the ban table is full (%d entries); failed logins are not all counted",
                 MOAT_BANS_MAX);
}

static void log_answer(const moat_conn *c, const moat_auth_answer *ans)
{
    if (ans->result == MOAT_AUTH_IGNORE)
        return;
    if (ans->error)
        LOG_WARN("auth: id=%s user=%s peer=%s: %s could not answer (%s); refused "
                 "(auth.on_error = deny)",
                 c->client_id, c->username ? c->username : "-", c->peer, ans->source, ans->why);
    else
        LOG_DEBUG("auth: id=%s user=%s peer=%s: %s by %s%s%s%s", c->client_id,
                  c->username ? c->username : "-", c->peer,
                  ans->result == MOAT_AUTH_ALLOW ? "allowed" : "denied", ans->source,
                  ans->superuser ? " (superuser)" : "", ans->why[0] ? ": " : "", ans->why);
}

moat_err handle_connect(moat_conn *c, mqtt_packet *p)
{
    moat_broker *b = c->worker->b;
    c->version = p->u.connect.protocol_version;
    if (c->version != MQTT_V31 && c->version != MQTT_V311 && c->version != MQTT_V5) {
        c->version = MQTT_V311; /* answer in a form an old client understands */
        return refuse(c, MQTT_RC_UNSUPPORTED_VERSION, "unsupported protocol version");
    }
    if (p->type != MQTT_CONNECT) /* EVERSION path with name/level mismatch */
        return refuse(c, MQTT_RC_UNSUPPORTED_VERSION, "unsupported protocol version");
    const mqtt_bin *cid = &p->u.connect.client_id;
    bool assigned = false;
    if (p->u.connect.has_username)
        c->username = dup_bin(&p->u.connect.username);
    if (cid->len == 0) {
        if (c->version == MQTT_V31 || (c->version == MQTT_V311 && !p->u.connect.clean_start))
            return refuse(c, MQTT_RC_CLIENT_ID_INVALID, "empty client identifier");
        if (assign_client_id(c) != MOAT_OK)
            return MOAT_ENOMEM;
        assigned = true;
    } else {
        c->client_id = moat_rcstr_new(cid->p, cid->len);
        if (!c->client_id)
            return MOAT_ENOMEM;
    }
    if (c->tls || c->listener->conf.proxy_protocol) {
        const char *why = NULL;
        uint8_t rc = apply_cert_identity(c, &why);
        if (rc)
            return refuse(c, rc, why);
        if (!c->client_id)
            return MOAT_ENOMEM;
    }
    if (c->over_limit)
        return refuse(c,
                      c->version == MQTT_V5 ? MQTT_RC_QUOTA_EXCEEDED : MQTT_RC_SERVER_UNAVAILABLE,
                      "connection limit reached");
    if (cid->len > CONF(b)->max_clientid_len || (cid->len && memchr(cid->p, 0, cid->len)))
        return refuse(c, MQTT_RC_CLIENT_ID_INVALID,
                      "client identifier too long (mqtt.max_clientid_len)");
    uint32_t asked = 0;
    if (c->version == MQTT_V5) {
        if (read_props(c, &p->props, &asked) != MOAT_OK)
            return refuse(c, MQTT_RC_BAD_AUTH_METHOD, "enhanced authentication is not supported");
    } else {
        asked = p->u.connect.clean_start ? 0 : UINT32_MAX;
    }
    if (c->cert_verified || c->proxy_cn) {
        char id[1024];
        conn_ident *ci = ident_of(c);
        if (!ci)
            return MOAT_ENOMEM;
        if (peer_identity(c, MOAT_PEER_ID_CN, id, sizeof id) == MOAT_OK)
            ci->cert_cn = strdup(id);
        if (peer_identity(c, MOAT_PEER_ID_DN, id, sizeof id) == MOAT_OK)
            ci->cert_dn = strdup(id);
    }
    const moat_auth *auth = AUTH(b);
    moat_auth_client cl;
    struct sockaddr_storage ss;
    client_of(c, p, &cl, &ss);
    if (is_banned(c, &cl))
        return refuse(c, MQTT_RC_BANNED, "banned (see the ban list: /api/v1/banned)");
    /* A backend's answer comes later: the wait is made (moat_auth_check_lazy
     * calls wait_make) just before its request leaves, as the answer may
     * race back; a client the local sources decide costs nothing more. */
    wait_ctx wc = {c, auth, asked, assigned, NULL};
    moat_auth_answer ans;
    moat_auth_check_lazy(auth, &cl, &ans, auth_done, wait_make, &wc);
    if (ans.result == MOAT_AUTH_PENDING)
        return MOAT_OK; /* c is CS_AUTH: auth_resumed goes on */
    if (wc.made) {      /* made, but the request could not leave */
        c->ident->wait = NULL;
        c->state = CS_NEW;
        wait_free(wc.made);
        ident_trim(c);
        conn_unref(c);
    }
    moat_err e = connect_decided(c, p, auth, &ans, asked, assigned);
    moat_acl_free(ans.acl);
    return e;
}

/* The rest of CONNECT once the chain has decided. ans->acl is taken when
 * the client is let in. */
static moat_err connect_decided(moat_conn *c, const mqtt_packet *p, const moat_auth *acl_auth,
                                moat_auth_answer *ans, uint32_t asked, bool assigned)
{
    moat_broker *b = c->worker->b;
    log_answer(c, ans);
    ban_account(c, ans);
    if (ans->result == MOAT_AUTH_DENY && ans->error)
        return refuse(c, MQTT_RC_SERVER_UNAVAILABLE, "authentication service unavailable");
    if (ans->result == MOAT_AUTH_DENY)
        return refuse(c, MQTT_RC_BAD_USER_OR_PASSWORD, "bad username or password");
    c->superuser = ans->superuser;
    if (ans->result == MOAT_AUTH_IGNORE && !anonymous_allowed(c))
        return refuse(c, MQTT_RC_NOT_AUTHORIZED,
                      anon_mode(c) == MOAT_ANON_FALSE
                          ? "anonymous access refused (allow_anonymous = false); use a client "
                            "certificate on a verify_peer listener"
                          : "anonymous access refused on a non-loopback listener (set "
                            "allow_anonymous = true, or use a client certificate)");
    if (ans->acl) {
        conn_ident *ci = ident_of(c);
        if (!ci)
            return MOAT_ENOMEM;
        moat_acl_free(ci->acl);
        ci->acl = ans->acl;
        ans->acl = NULL;
        ci->acl_auth = acl_auth;
        ci->acl_src = ans->src;
        ci->acl_at = (int64_t)moat_now_ms();
    }
    if (p->u.connect.will) {
        moat_err e = make_will(c, p);
        if (e == MOAT_ETOPIC)
            return refuse(c, MQTT_RC_TOPIC_NAME_INVALID, "invalid will topic");
        if (e == MOAT_EPAYLOADFMT)
            return refuse(c, MQTT_RC_PAYLOAD_FORMAT_INVALID, "will payload is not UTF-8");
        if (e)
            return e;
        if (c->will_qos > CONF(b)->max_qos_allowed)
            return refuse(c, MQTT_RC_QOS_NOT_SUPPORTED, "will QoS above mqtt.max_qos_allowed");
        if (c->will->retain && !CONF(b)->retain_available)
            return refuse(c, MQTT_RC_RETAIN_NOT_SUPPORTED, "retain not available");
    }
    uint32_t granted = asked;
    if (granted > CONF(b)->session_expiry_max && granted != UINT32_MAX)
        granted = CONF(b)->session_expiry_max;
    if (granted == UINT32_MAX)
        granted = CONF(b)->session_expiry_max ? CONF(b)->session_expiry_max : UINT32_MAX;
    c->keep_alive = p->u.connect.keep_alive;
    bool ka_changed = false;
    if (c->version == MQTT_V5 && CONF(b)->server_keepalive &&
        CONF(b)->server_keepalive != c->keep_alive) {
        c->keep_alive = CONF(b)->server_keepalive;
        ka_changed = true;
    }

    mqtt_packet ack = {.type = MQTT_CONNACK};
    pthread_mutex_lock(&b->lock);
    ack.u.connack.session_present = attach_session(c, p->u.connect.clean_start, granted);
    if (!c->session) {
        pthread_mutex_unlock(&b->lock);
        return MOAT_ENOMEM;
    }
    c->state = CS_CONNECTED;
    atomic_fetch_add(&b->stats.clients_connected, 1);
    if (c->version == MQTT_V5)
        fill_connack_props(c, &ack, c->version == MQTT_V5 ? granted : asked, asked, assigned,
                           ka_changed);
    conn_send(c, &ack);
    conn_resend_inflight(c, c->session);
    pthread_mutex_unlock(&b->lock);
    LOG_INFO("client connected: id=%s user=%s peer=%s listener=%s proto=%u clean=%d keepalive=%u "
             "session_present=%d%s%s",
             c->client_id, c->username ? c->username : "-", c->peer, c->listener->label, c->version,
             p->u.connect.clean_start, c->keep_alive, ack.u.connack.session_present,
             c->tls_desc ? " tls=" : "", c->tls_desc ? c->tls_desc : "");
    worker_mark_dirty(c);
    return MOAT_OK;
}

moat_err handle_disconnect(moat_conn *c, mqtt_packet *p)
{
    uint8_t rc = c->version == MQTT_V5 ? p->u.disconnect.reason : 0;
    if (c->version == MQTT_V5 && (p->props.has & MQTT_HAS(MQTT_PROP_SESSION_EXPIRY))) {
        moat_broker *b = c->worker->b;
        pthread_mutex_lock(&b->lock);
        moat_session *s = c->session;
        bool bad = s && s->expiry == 0 && p->props.session_expiry != 0;
        if (s && !bad) {
            uint32_t e = p->props.session_expiry;
            if (e > CONF(b)->session_expiry_max)
                e = CONF(b)->session_expiry_max;
            if (s->persistent && e == 0)
                moat_store_del(b->store, MOAT_T_SESSION, s->client_id, s->client_id_len);
            s->expiry = e;
            s->persistent = e > 0;
        }
        pthread_mutex_unlock(&b->lock);
        if (bad) {
            c->close_text = "session expiry set in DISCONNECT after CONNECT had 0";
            return MOAT_EPROTOCOL;
        }
    }
    c->graceful = rc != MQTT_RC_DISCONNECT_WITH_WILL;
    conn_close(c, rc, rc == 0 ? "client disconnected" : "client disconnected with reason", false);
    return MOAT_OK;
}

void session_on_conn_closed(moat_conn *c)
{
    moat_broker *b = c->worker->b;
    pthread_mutex_lock(&b->lock);
    moat_session *s = c->session;
    if (!s) { /* taken over: the will was handled then */
        pthread_mutex_unlock(&b->lock);
        return;
    }
    s->conn = NULL;
    c->session = NULL;
    moat_msg *w = c->graceful ? NULL : c->will;
    if (w) {
        uint32_t delay = c->will_delay < s->expiry ? c->will_delay : s->expiry;
        if (delay == 0) {
            broker_publish_will(b, w);
        } else {
            s->will = msg_ref(w);
            s->will_at = wall_ms() + (int64_t)delay * 1000;
        }
    }
    if (s->expiry == 0) {
        session_destroy(b, s);
    } else {
        s->disconnected_at = wall_ms();
        if (!CONF(b)->mqueue_store_qos0) {
            /* QoS 0 messages still queued are not kept for an offline client. */
            qentry *prev = NULL, *e = s->queue.head;
            while (e) {
                qentry *next = e->next;
                if (e->qos == 0) {
                    qlist_remove(&s->queue, e, prev);
                    qentry_free(e);
                } else {
                    prev = e;
                }
                e = next;
            }
        }
        session_persist(b, s);
    }
    pthread_mutex_unlock(&b->lock);
}
