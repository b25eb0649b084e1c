/* SPDX-License-Identifier: Apache-2.0 */
/* Sessions: subscriptions, the outbound queue and in-flight window, and their
 * persistence. Every function here runs with the broker lock held. */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/rcstr.h"
#include "auth/ban.h"
#include "broker/internal.h"

/* ------------------------------------------------------------ qlist */

void qlist_push(qlist *l, qentry *e)
{
    e->next = NULL;
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    l->len++;
}

qentry *qlist_pop(qlist *l)
{
    qentry *e = l->head;
    if (!e)
        return NULL;
    l->head = e->next;
    if (!l->head)
        l->tail = NULL;
    l->len--;
    e->next = NULL;
    return e;
}

void qlist_remove(qlist *l, qentry *e, qentry *prev)
{
    if (prev)
        prev->next = e->next;
    else
        l->head = e->next;
    if (l->tail == e)
        l->tail = prev;
    l->len--;
    e->next = NULL;
}

/* Packet identifiers in use toward the client. A small window is scanned;
 * past PID_MAP_AT entries a bitmap of all 65536 ids (8 KB, kept once made)
 * answers at once, so clients with a large receive maximum cost O(1). */
#define PID_MAP_AT 32

static void pid_mark(moat_session *s, uint16_t id, bool used)
{
    if (used)
        s->pid_map[id >> 6] |= 1ull << (id & 63);
    else
        s->pid_map[id >> 6] &= ~(1ull << (id & 63));
}

bool session_pid_used(const moat_session *s, uint16_t id)
{
    if (s->pid_map)
        return (s->pid_map[id >> 6] >> (id & 63)) & 1;
    for (const qentry *e = s->inflight.head; e; e = e->next)
        if (e->packet_id == id)
            return true;
    return false;
}

void session_inflight_push(moat_session *s, qentry *e)
{
    qlist_push(&s->inflight, e);
    if (!s->pid_map && s->inflight.len > PID_MAP_AT) {
        s->pid_map = calloc(65536 / 64, sizeof *s->pid_map);
        for (qentry *x = s->pid_map ? s->inflight.head : NULL; x; x = x->next)
            pid_mark(s, x->packet_id, true);
    } else if (s->pid_map) {
        pid_mark(s, e->packet_id, true);
    }
}

void session_inflight_remove(moat_session *s, qentry *e, qentry *prev)
{
    qlist_remove(&s->inflight, e, prev);
    if (s->pid_map)
        pid_mark(s, e->packet_id, false);
}

void qentry_free(qentry *e)
{
    if (!e)
        return;
    msg_unref(e->msg);
    free(e);
}

static void qlist_clear(qlist *l)
{
    qentry *e;
    while ((e = qlist_pop(l)))
        qentry_free(e);
}

/* ---------------------------------------------------------- store keys */

static size_t entry_key(const moat_session *s, uint64_t seq, uint8_t *k, size_t cap)
{
    size_t n = s->client_id_len;
    if (n + 9 > cap)
        return 0;
    memcpy(k, s->client_id, n);
    k[n] = 0;
    for (int i = 0; i < 8; i++)
        k[n + 1 + i] = (uint8_t)(seq >> (56 - 8 * i));
    return n + 9;
}

static uint8_t *key_buf(const moat_session *s, size_t *cap)
{
    *cap = s->client_id_len + 9;
    return malloc(*cap);
}

void session_persist_entry(moat_broker *b, moat_session *s, qentry *e)
{
    if (!s->persistent || !b->store || e->qos == 0)
        return;
    if (!e->seq)
        e->seq = ++s->next_seq;
    moat_buf v = MOAT_BUF_INIT;
    uint8_t h[6] = {
        e->state,    e->qos, e->retain, (uint8_t)(e->packet_id >> 8), (uint8_t)e->packet_id,
        e->n_sub_ids};
    moat_err err = moat_buf_append(&v, h, sizeof h);
    for (unsigned i = 0; !err && i < e->n_sub_ids; i++)
        err = moat_buf_put_u32(&v, e->sub_ids[i]);
    err = err ? err : msg_serialize(e->msg, &v);
    size_t cap;
    uint8_t *k = key_buf(s, &cap);
    if (!err && k)
        err = moat_store_put(b->store, MOAT_T_MSG, k, entry_key(s, e->seq, k, cap), v.data, v.len);
    if (err || !k)
        LOG_ERROR("store: cannot persist message for client %s: %s", s->client_id,
                  moat_strerror(err ? err : MOAT_ENOMEM));
    free(k);
    moat_buf_free(&v);
}

void session_unpersist_entry(moat_broker *b, moat_session *s, qentry *e)
{
    if (!e->seq || !b->store)
        return;
    size_t cap;
    uint8_t *k = key_buf(s, &cap);
    if (k)
        moat_store_del(b->store, MOAT_T_MSG, k, entry_key(s, e->seq, k, cap));
    free(k);
    e->seq = 0;
}

/* Session record: version(1) expiry(4) disconnected_at(8) next_seq(8)
 * n_subs(4) { flen(2) filter options(1) sub_id(4) }... */
void session_persist(moat_broker *b, moat_session *s)
{
    if (!s->persistent || !b->store)
        return;
    moat_buf v = MOAT_BUF_INIT;
    moat_err e = moat_buf_put_u8(&v, s->version);
    e = e ? e : moat_buf_put_u32(&v, s->expiry);
    e = e ? e : moat_buf_put_u32(&v, (uint32_t)((uint64_t)s->disconnected_at >> 32));
    e = e ? e : moat_buf_put_u32(&v, (uint32_t)s->disconnected_at);
    e = e ? e : moat_buf_put_u32(&v, (uint32_t)(s->next_seq >> 32));
    e = e ? e : moat_buf_put_u32(&v, (uint32_t)s->next_seq);
    e = e ? e : moat_buf_put_u32(&v, s->n_subs);
    for (uint32_t i = 0; !e && i < s->n_subs; i++) {
        size_t fl = strlen(s->subs[i].filter);
        e = moat_buf_put_u16(&v, (uint16_t)fl);
        e = e ? e : moat_buf_append(&v, s->subs[i].filter, fl);
        e = e ? e : moat_buf_put_u8(&v, s->subs[i].options);
        e = e ? e : moat_buf_put_u32(&v, s->subs[i].sub_id);
    }
    e = e ? e
          : moat_store_put(b->store, MOAT_T_SESSION, s->client_id, s->client_id_len, v.data, v.len);
    if (e)
        LOG_ERROR("store: cannot persist session %s: %s", s->client_id, moat_strerror(e));
    moat_buf_free(&v);
}

static void session_unpersist(moat_broker *b, moat_session *s)
{
    if (!b->store)
        return;
    moat_store_del(b->store, MOAT_T_SESSION, s->client_id, s->client_id_len);
    uint8_t *k = malloc(s->client_id_len + 1);
    if (!k)
        return;
    memcpy(k, s->client_id, s->client_id_len);
    k[s->client_id_len] = 0;
    moat_store_del_prefix(b->store, MOAT_T_MSG, k, s->client_id_len + 1);
    free(k);
}

/* ------------------------------------------------------------ lifecycle */

moat_session *session_new(moat_broker *b, char *id, size_t idlen)
{
    moat_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (moat_map_put(&b->sessions, id, idlen, s, NULL) != MOAT_OK) {
        free(s);
        return NULL;
    }
    s->client_id = moat_rcstr_ref(id);
    s->client_id_len = (uint32_t)idlen;
    s->next_pid = 1;
    return s;
}

static void remove_tree_sub(moat_broker *b, moat_session *s, const char *f)
{
    size_t fl = strlen(f);
    const char *g = NULL, *rf = f;
    size_t gl = 0, rl = fl;
    if (mqtt_share_parse(f, fl, &g, &gl, &rf, &rl) != MOAT_OK) {
        g = NULL;
        gl = 0;
        rf = f;
        rl = fl;
    }
    moat_subtree_remove(b->subs, rf, rl, s, g, gl);
}

void session_destroy(moat_broker *b, moat_session *s)
{
    if (s->will) {
        /* Session end publishes a still-pending delayed will. */
        moat_msg *w = s->will;
        s->will = NULL;
        broker_publish_will(b, w);
        msg_unref(w);
    }
    for (uint32_t i = 0; i < s->n_subs; i++) {
        remove_tree_sub(b, s, s->subs[i].filter);
        free(s->subs[i].filter);
    }
    if (s->persistent)
        session_unpersist(b, s);
    moat_map_del(&b->sessions, s->client_id, s->client_id_len);
    qlist_clear(&s->inflight);
    qlist_clear(&s->queue);
    free(s->pid_map);
    free(s->subs);
    free(s->awaiting_rel);
    moat_rcstr_unref(s->client_id);
    free(s);
}

/* ------------------------------------------------------------ queueing */

void session_enqueue(moat_broker *b, moat_session *s, moat_msg *m, uint8_t qos, bool retain,
                     const uint32_t *sub_ids, uint8_t n_sub_ids)
{
    if (!s->conn && qos == 0 && !CONF(b)->mqueue_store_qos0)
        return;
    if (CONF(b)->max_mqueue_len && s->queue.len >= CONF(b)->max_mqueue_len) {
        if (s->dropped++ % 1000 == 0)
            LOG_WARN("client %s: queue full, message to %s dropped (mqtt.max_mqueue_len = %u)",
                     s->client_id, m->topic, CONF(b)->max_mqueue_len);
        atomic_fetch_add(&b->stats.msgs_dropped, 1);
        return;
    }
    qentry *e = calloc(1, sizeof *e);
    if (!e)
        return;
    e->msg = msg_ref(m);
    e->qos = qos;
    e->retain = retain;
    e->n_sub_ids = n_sub_ids > 4 ? 4 : n_sub_ids;
    memcpy(e->sub_ids, sub_ids, e->n_sub_ids * sizeof *sub_ids);
    qlist_push(&s->queue, e);
    session_persist_entry(b, s, e);
    if (s->conn)
        worker_mark_dirty(s->conn);
}

/* ------------------------------------------------------- subscriptions */

static sess_sub *find_sub(moat_session *s, const char *f, size_t fl)
{
    for (uint32_t i = 0; i < s->n_subs; i++)
        if (strlen(s->subs[i].filter) == fl && memcmp(s->subs[i].filter, f, fl) == 0)
            return &s->subs[i];
    return NULL;
}

moat_err session_add_sub(moat_broker *b, moat_session *s, const char *filter, size_t flen,
                         uint8_t options, uint32_t sub_id, bool *existed)
{
    const char *g = NULL, *rf = filter;
    size_t gl = 0, rl = flen;
    if (mqtt_share_parse(filter, flen, &g, &gl, &rf, &rl) != MOAT_OK) {
        g = NULL;
        gl = 0;
        rf = filter;
        rl = flen;
    }
    moat_err e = moat_subtree_add(b->subs, rf, rl, s, g, gl, options, sub_id, NULL);
    if (e)
        return e;
    sess_sub *ss = find_sub(s, filter, flen);
    *existed = ss != NULL;
    if (!ss) {
        if (s->n_subs == s->cap_subs) {
            uint32_t nc = s->cap_subs ? s->cap_subs * 2 : 4;
            sess_sub *n = realloc(s->subs, nc * sizeof *n);
            if (!n)
                return MOAT_ENOMEM;
            s->subs = n;
            s->cap_subs = nc;
        }
        ss = &s->subs[s->n_subs++];
        ss->filter = strndup(filter, flen);
        if (!ss->filter) {
            s->n_subs--;
            return MOAT_ENOMEM;
        }
    }
    ss->options = options;
    ss->sub_id = sub_id;
    return MOAT_OK;
}

moat_err session_del_sub(moat_broker *b, moat_session *s, const char *filter, size_t flen)
{
    sess_sub *ss = find_sub(s, filter, flen);
    if (!ss)
        return MOAT_ENOTFOUND;
    remove_tree_sub(b, s, ss->filter);
    free(ss->filter);
    *ss = s->subs[--s->n_subs];
    return MOAT_OK;
}

/* ---------------------------------------------------------------- tick */

static void fire_will(moat_broker *b, moat_session *s)
{
    moat_msg *w = s->will;
    s->will = NULL;
    s->will_at = 0;
    broker_publish_will(b, w);
    msg_unref(w);
}

/* Delayed wills, session expiry; lock held. */
static void expire_sessions(moat_broker *b, int64_t now)
{
    size_t i = 0;
    moat_map_slot *sl;
    moat_session *dead[64];
    unsigned n_dead = 0;
    while ((sl = moat_map_next(&b->sessions, &i)) && n_dead < 64) {
        moat_session *s = sl->value;
        if (s->conn)
            continue;
        if (s->will && s->will_at && now >= s->will_at)
            fire_will(b, s);
        if (s->expiry != UINT32_MAX && now >= s->disconnected_at + (int64_t)s->expiry * 1000)
            dead[n_dead++] = s;
    }
    for (unsigned k = 0; k < n_dead; k++) {
        LOG_INFO("session expired: id=%s", dead[k]->client_id);
        session_destroy(b, dead[k]);
    }
}

void broker_tick(moat_broker *b)
{
    int64_t now = wall_ms();
    int64_t mono = (int64_t)moat_now_ms();
    pthread_mutex_lock(&b->lock);
    expire_sessions(b, now);
    if (CONF(b)->sys_interval_ms && mono - b->last_sys >= (int64_t)CONF(b)->sys_interval_ms) {
        b->last_sys = mono;
        sys_publish(b);
    }
    pthread_mutex_unlock(&b->lock);
    if (mono - b->last_ban_sweep >= 10000) {
        b->last_ban_sweep = mono;
        moat_ban_policy bp = {CONF(b)->ban_max_failures, CONF(b)->ban_window_ms,
                              CONF(b)->ban_duration_ms};
        moat_bans_sweep(b->bans, &bp, now);
    }
    if (mono - b->last_expiry_check >= 60000 || !b->last_expiry_check) {
        b->last_expiry_check = mono;
        tls_expiry_warnings(b);
    }
}

/* ---------------------------------------------------------------- load */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int load_session(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    moat_broker *b = ctx;
    const uint8_t *p = v;
    if (vl < 29)
        return 0;
    char *id = moat_rcstr_new(k, kl);
    moat_session *s = id ? session_new(b, id, kl) : NULL;
    moat_rcstr_unref(id);
    if (!s)
        return 1;
    s->version = p[0];
    s->expiry = rd32(p + 1);
    s->disconnected_at = (int64_t)((uint64_t)rd32(p + 5) << 32 | rd32(p + 9));
    if (!s->disconnected_at)
        s->disconnected_at = wall_ms();
    s->next_seq = (uint64_t)rd32(p + 13) << 32 | rd32(p + 17);
    s->persistent = true;
    uint32_t n = rd32(p + 21);
    size_t off = 25;
    for (uint32_t i = 0; i < n && off + 2 <= vl; i++) {
        size_t fl = (size_t)p[off] << 8 | p[off + 1];
        if (off + 2 + fl + 5 > vl)
            break;
        bool ex;
        session_add_sub(b, s, (const char *)p + off + 2, fl, p[off + 2 + fl],
                        rd32(p + off + 3 + fl), &ex);
        off += 2 + fl + 5;
    }
    return 0;
}

static int load_msg(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    moat_broker *b = ctx;
    const uint8_t *key = k, *p = v;
    if (kl < 9 || vl < 6)
        return 0;
    moat_session *s = moat_map_get(&b->sessions, key, kl - 9);
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++)
        seq = seq << 8 | key[kl - 8 + i];
    size_t off = 6 + (size_t)p[5] * 4;
    moat_msg *m = (s && off <= vl) ? msg_deserialize(p + off, vl - off, NULL) : NULL;
    qentry *e = m ? calloc(1, sizeof *e) : NULL;
    if (!e) {
        msg_unref(m);
        return 0;
    }
    e->msg = m;
    e->seq = seq;
    e->state = p[0];
    e->qos = p[1];
    e->retain = p[2];
    e->packet_id = (uint16_t)(p[3] << 8 | p[4]);
    e->n_sub_ids = p[5] > 4 ? 4 : p[5];
    for (unsigned i = 0; i < e->n_sub_ids; i++)
        e->sub_ids[i] = rd32(p + 6 + 4 * i);
    if (seq > s->next_seq)
        s->next_seq = seq;
    if (e->state == QE_QUEUED) {
        qlist_push(&s->queue, e);
    } else {
        e->dup = true;
        session_inflight_push(s, e);
    }
    return 0;
}

static int load_retained(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    moat_broker *b = ctx;
    moat_msg *m = msg_deserialize(v, vl, NULL);
    void *old = NULL;
    if (m && moat_rettree_set(b->retained, k, kl, m, &old) != MOAT_OK)
        msg_unref(m);
    msg_unref(old);
    return 0;
}

moat_err broker_load(moat_broker *b, char *err, size_t errlen)
{
    moat_err e = moat_store_scan(b->store, MOAT_T_RETAIN, NULL, 0, load_retained, b);
    e = e ? e : moat_store_scan(b->store, MOAT_T_SESSION, NULL, 0, load_session, b);
    e = e ? e : moat_store_scan(b->store, MOAT_T_MSG, NULL, 0, load_msg, b);
    if (e)
        snprintf(err, errlen, "cannot load state from the store in %s: %s", CONF(b)->data_dir,
                 moat_strerror(e));
    return e;
}
