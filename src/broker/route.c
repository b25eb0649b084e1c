/* SPDX-License-Identifier: Apache-2.0 */
/* Routing a published message to the sessions whose subscriptions match it,
 * and keeping retained messages. This is the one place a cluster transport
 * will hook into later: a local publish goes out through here, and a remote
 * one comes in through broker_publish(). */
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "broker/internal.h"

static route_target *target_for(moat_broker *b, moat_session *s)
{
    if (s->route_epoch == b->route_epoch)
        return &b->targets[s->route_idx];
    if (b->n_targets == b->cap_targets) {
        uint32_t nc = b->cap_targets ? b->cap_targets * 2 : 64;
        route_target *n = realloc(b->targets, nc * sizeof *n);
        if (!n)
            return NULL;
        b->targets = n;
        b->cap_targets = nc;
    }
    s->route_epoch = b->route_epoch;
    s->route_idx = b->n_targets;
    route_target *t = &b->targets[b->n_targets++];
    memset(t, 0, sizeof *t);
    t->s = s;
    return t;
}

static void add_sub_id(route_target *t, uint32_t id)
{
    if (id && t->n_sub_ids < 4)
        t->sub_ids[t->n_sub_ids++] = id;
}

static route_group *group_for(moat_broker *b, const moat_sub *sub, const char *filter, size_t fl)
{
    for (uint32_t i = 0; i < b->n_groups; i++) {
        route_group *g = &b->groups[i];
        if (g->flen == fl && memcmp(g->filter, filter, fl) == 0 &&
            strcmp(g->group, sub->group) == 0)
            return g;
    }
    if (b->n_groups == b->cap_groups) {
        uint32_t nc = b->cap_groups ? b->cap_groups * 2 : 8;
        route_group *n = realloc(b->groups, nc * sizeof *n);
        if (!n)
            return NULL;
        memset(n + b->cap_groups, 0, (nc - b->cap_groups) * sizeof *n);
        b->groups = n;
        b->cap_groups = nc;
    }
    route_group *g = &b->groups[b->n_groups++];
    g->group = sub->group;
    g->filter = filter;
    g->flen = fl;
    g->n = 0;
    return g;
}

static void group_add(route_group *g, const moat_sub *sub)
{
    if (g->n == g->cap) {
        uint32_t nc = g->cap ? g->cap * 2 : 8;
        moat_session **m = realloc(g->members, nc * sizeof *m);
        uint8_t *o = m ? realloc(g->opts, nc) : NULL;
        uint32_t *id = o ? realloc(g->sub_id, nc * sizeof *id) : NULL;
        if (m)
            g->members = m;
        if (o)
            g->opts = o;
        if (!id)
            return;
        g->sub_id = id;
        g->cap = nc;
    }
    g->members[g->n] = sub->owner;
    g->opts[g->n] = sub->options;
    g->sub_id[g->n] = sub->sub_id;
    g->n++;
}

typedef struct route_ctx {
    moat_broker *b;
    moat_msg *m;
} route_ctx;

static void on_match(void *ctx, const moat_sub *sub, const char *filter, size_t fl)
{
    route_ctx *rc = ctx;
    moat_msg *m = rc->m;
    if (sub->group) {
        route_group *g = group_for(rc->b, sub, filter, fl);
        if (g)
            group_add(g, sub);
        return;
    }
    moat_session *s = sub->owner;
    if ((sub->options & SUBOPT_NO_LOCAL) && m->origin == s)
        return;
    route_target *t = target_for(rc->b, s);
    if (!t)
        return;
    uint8_t q = sub->options & SUBOPT_QOS_MASK;
    if (q > m->qos)
        q = m->qos;
    if (q > t->qos)
        t->qos = q;
    if ((sub->options & SUBOPT_RAP) && m->retain)
        t->retain = true;
    add_sub_id(t, sub->sub_id);
}

/* One member per group, round robin over the group's members, preferring
 * members that are online so that a message is not parked on a session that
 * went away while a live one could take it. */
static void deliver_group(moat_broker *b, moat_msg *m, route_group *g)
{
    char key[512];
    int kl = snprintf(key, sizeof key, "%s", g->group);
    size_t room = sizeof key - (size_t)kl - 1;
    size_t fl = g->flen < room ? g->flen : room;
    key[kl] = 0;
    memcpy(key + kl + 1, g->filter, fl);
    size_t klen = (size_t)kl + 1 + fl;
    uintptr_t rr = (uintptr_t)moat_map_get(&b->share_rr, key, klen);
    uint32_t pick = UINT32_MAX;
    for (uint32_t i = 0; i < g->n; i++) {
        uint32_t j = (uint32_t)((rr + i) % g->n);
        if (g->members[j]->conn) {
            pick = j;
            break;
        }
    }
    if (pick == UINT32_MAX)
        pick = (uint32_t)(rr % g->n);
    moat_map_put(&b->share_rr, key, klen, (void *)(rr + 1), NULL);
    uint8_t q = g->opts[pick] & SUBOPT_QOS_MASK;
    if (q > m->qos)
        q = m->qos;
    bool retain = (g->opts[pick] & SUBOPT_RAP) && m->retain;
    uint32_t id = g->sub_id[pick];
    session_enqueue(b, g->members[pick], m, q, retain, &id, id ? 1 : 0);
}

void broker_publish_locked(moat_broker *b, moat_msg *m, const void *origin_session)
{
    m->origin = origin_session;
    b->route_epoch++;
    b->n_targets = 0;
    b->n_groups = 0;
    route_ctx rc = {b, m};
    moat_subtree_match(b->subs, m->topic, m->topic_len, on_match, &rc);
    for (uint32_t i = 0; i < b->n_targets; i++) {
        route_target *t = &b->targets[i];
        session_enqueue(b, t->s, m, t->qos, t->retain, t->sub_ids, t->n_sub_ids);
    }
    for (uint32_t i = 0; i < b->n_groups; i++)
        if (b->groups[i].n)
            deliver_group(b, m, &b->groups[i]);
}

void broker_publish(moat_broker *b, moat_msg *m, const void *origin_session)
{
    pthread_mutex_lock(&b->lock);
    broker_publish_locked(b, m, origin_session);
    pthread_mutex_unlock(&b->lock);
}

static void retain_persist(moat_broker *b, const moat_msg *m)
{
    if (!b->store)
        return;
    moat_err e;
    if (m->payload_len == 0) {
        e = moat_store_del(b->store, MOAT_T_RETAIN, m->topic, m->topic_len);
        if (e == MOAT_ENOTFOUND)
            e = MOAT_OK;
    } else {
        moat_buf v = MOAT_BUF_INIT;
        e = msg_serialize(m, &v);
        e = e ? e : moat_store_put(b->store, MOAT_T_RETAIN, m->topic, m->topic_len, v.data, v.len);
        moat_buf_free(&v);
    }
    if (e)
        LOG_ERROR("store: cannot persist retained message on %s: %s", m->topic, moat_strerror(e));
}

void retain_store(moat_broker *b, moat_msg *m)
{
    void *old = NULL;
    if (m->payload_len == 0) {
        old = moat_rettree_del(b->retained, m->topic, m->topic_len);
    } else {
        if (CONF(b)->max_retained && !moat_rettree_get(b->retained, m->topic, m->topic_len) &&
            moat_rettree_count(b->retained) >= CONF(b)->max_retained) {
            LOG_WARN("retained message on %s not kept (retainer.max_retained_messages = %u)",
                     m->topic, CONF(b)->max_retained);
            return;
        }
        if (CONF(b)->max_retained_payload && m->payload_len > CONF(b)->max_retained_payload) {
            LOG_WARN("retained message on %s not kept: %u bytes (retainer.max_payload_size = %u)",
                     m->topic, m->payload_len, CONF(b)->max_retained_payload);
            return;
        }
        if (moat_rettree_set(b->retained, m->topic, m->topic_len, msg_ref(m), &old) != MOAT_OK) {
            msg_unref(m);
            return;
        }
    }
    msg_unref(old);
    if (m->topic[0] != '$')
        retain_persist(b, m);
}

void broker_publish_will(moat_broker *b, moat_msg *w)
{
    if (w->retain)
        retain_store(b, w);
    broker_publish_locked(b, w, NULL);
}
