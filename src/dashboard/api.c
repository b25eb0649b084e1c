/* SPDX-License-Identifier: Apache-2.0 */
/* The dashboard's HTTP API (JSON under /api/v1, Prometheus text at /metrics).
 * Every route but login needs a login: "Authorization: Bearer TOKEN" for
 * scripts, or the HttpOnly session cookie the login sets for the browser.
 * Handlers run on a worker thread and read broker state under b->lock;
 * connections are changed (kicked) only on their own worker, by a posted
 * task. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth/ban.h"
#include "base/log.h"
#include "certs/info.h"
#include "dashboard/assets.h"
#include "dashboard/certs_api.h"
#include "dashboard/internal.h"

/* ------------------------------------------------------------ helpers */

void resp_json(http_resp *rs, int status, cJSON *j)
{
    char *text = cJSON_PrintUnformatted(j);
    rs->status = text ? status : 500;
    rs->content_type = "application/json";
    moat_buf_reset(&rs->body);
    if (text)
        moat_buf_append(&rs->body, text, strlen(text));
    free(text);
    cJSON_Delete(j);
}

void resp_json_error(http_resp *rs, int status, const char *code, const char *message)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "code", code);
    cJSON_AddStringToObject(j, "message", message);
    resp_json(rs, status, j);
}

static bool path_is(const http_req *rq, const char *p)
{
    return rq->h->path.len == strlen(p) && !memcmp(rq->h->path.p, p, rq->h->path.len);
}

static bool method_is(const http_req *rq, const char *m)
{
    return moat_http_str_eq(rq->h->method, m);
}

/* %XX-decode p[0..len) into out (NUL-terminated, at most cap - 1 bytes);
 * plus: '+' means a blank (query strings). Returns the length. */
static size_t url_decode(const char *p, size_t len, bool plus, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        unsigned v;
        if (p[i] == '%' && len - i >= 3 && sscanf(p + i + 1, "%2x", &v) == 1) {
            out[o++] = (char)v;
            i += 2;
        } else {
            out[o++] = plus && p[i] == '+' ? ' ' : p[i];
        }
    }
    out[o] = 0;
    return o;
}

/* A query parameter's value, decoded, into out. */
static bool query_param(const http_req *rq, const char *name, char *out, size_t n)
{
    const char *q = rq->h->query.p, *end = q + rq->h->query.len;
    size_t nl = strlen(name);
    while (q && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *e = amp ? amp : end;
        if ((size_t)(e - q) > nl && !memcmp(q, name, nl) && q[nl] == '=') {
            url_decode(q + nl + 1, (size_t)(e - q - nl - 1), true, out, n);
            return true;
        }
        q = amp ? amp + 1 : NULL;
    }
    return false;
}

/* The login token of the request (Bearer header, else session cookie). */
static bool request_token(const http_req *rq, const char **tok, size_t *len)
{
    const moat_http_str *a = moat_http_header(rq->h, "Authorization");
    if (a && a->len > 7 && !strncasecmp(a->p, "Bearer ", 7)) {
        *tok = a->p + 7;
        *len = a->len - 7;
        return true;
    }
    const moat_http_str *c = moat_http_header(rq->h, "Cookie");
    for (const char *p = c ? c->p : NULL, *end = c ? c->p + c->len : NULL; p && p < end;) {
        while (p < end && (*p == ' ' || *p == ';'))
            p++;
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *e = semi ? semi : end;
        if (e - p > 13 && !memcmp(p, "moat_session=", 13)) {
            *tok = p + 13;
            *len = (size_t)(e - p - 13);
            return true;
        }
        p = semi ? semi + 1 : end;
    }
    return false;
}

static int64_t days_left(int64_t not_after)
{
    int64_t now = (int64_t)time(NULL);
    return not_after > now ? (not_after - now) / 86400 : -((now - not_after + 86399) / 86400);
}

/* ------------------------------------------------------------- routes */

static void login(const http_req *rq, http_resp *rs)
{
    cJSON *j = cJSON_ParseWithLength((const char *)rq->body, rq->body_len);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "username");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "password");
    if (!cJSON_IsString(u) || !cJSON_IsString(p)) {
        cJSON_Delete(j);
        resp_json_error(rs, 400, "bad_request",
                        "expected a JSON body {\"username\": \"...\", \"password\": \"...\"}");
        return;
    }
    char tok[65];
    uint32_t ttl = CONF(rq->b)->dashboard_token_ttl;
    moat_err e = auth_login(rq->b->dash, u->valuestring, p->valuestring, rq->peer, ttl, tok);
    if (e == MOAT_ELIMIT) {
        LOG_NOTICE("dashboard: login refused: peer=%s user=%s: too many failures, wait a minute",
                   rq->peer, u->valuestring);
        cJSON_Delete(j);
        resp_header(rs, "Retry-After: 60\r\n");
        resp_json_error(rs, 429, "too_many_attempts",
                        "too many failed logins from this address; wait a minute");
        return;
    }
    if (e) {
        LOG_NOTICE("dashboard: login failed: peer=%s user=%s", rq->peer, u->valuestring);
        cJSON_Delete(j);
        resp_json_error(rs, 401, "bad_credentials", "wrong username or password");
        return;
    }
    LOG_INFO("dashboard: login: peer=%s user=%s", rq->peer, u->valuestring);
    resp_header(rs,
                "Set-Cookie: moat_session=%s; Path=/; Max-Age=%u; HttpOnly; SameSite=Strict%s\r\n",
                tok, ttl, rq->tls ? "; Secure" : "");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "token", tok);
    cJSON_AddStringToObject(r, "username", u->valuestring);
    cJSON_AddNumberToObject(r, "expires_in", ttl);
    cJSON_Delete(j);
    resp_json(rs, 200, r);
}

static void listeners(const http_req *rq, http_resp *rs)
{
    moat_broker *b = rq->b;
    cJSON *arr = cJSON_CreateArray();
    for (uint32_t i = 0; i < b->n_listeners; i++) {
        moat_listener *l = &b->listeners[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", l->conf.name);
        cJSON_AddStringToObject(o, "type", l->conf.type);
        cJSON_AddStringToObject(o, "id", l->label);
        char bind[96];
        snprintf(bind, sizeof bind, "%s:%u", l->conf.bind, l->conf.port);
        cJSON_AddStringToObject(o, "bind", bind);
        cJSON_AddBoolToObject(o, "running", l->fd >= 0);
        cJSON_AddNumberToObject(o, "current_connections", atomic_load(&l->count));
        cJSON_AddNumberToObject(o, "max_connections", CONF(b)->listeners[i].max_connections);
        if (l->is_ws)
            cJSON_AddStringToObject(o, "path", l->conf.mqtt_path);
        cJSON_AddBoolToObject(o, "proxy_protocol", l->conf.proxy_protocol);
        if (l->is_tls) {
            cJSON *t = cJSON_AddObjectToObject(o, "tls");
            const moat_listener_conf *lc = &CONF(b)->listeners[i];
            cJSON_AddStringToObject(t, "verify",
                                    lc->verify == MOAT_VERIFY_PEER
                                        ? (lc->fail_if_no_peer_cert ? "two-way" : "optional")
                                        : "one-way");
            moat_tls_ctx *ctx = moat_tls_slot_get(&l->tls_slot);
            moat_cert_info ci;
            if (ctx && moat_cert_info_get(moat_tls_ctx_leaf(ctx), &ci) == MOAT_OK) {
                cJSON_AddStringToObject(t, "subject", ci.subject ? ci.subject : "");
                cJSON_AddStringToObject(t, "issuer", ci.issuer ? ci.issuer : "");
                moat_cert_info_free(&ci);
            }
            if (ctx) {
                char when[64];
                moat_cert_time_str(moat_tls_ctx_not_after(ctx), when, sizeof when);
                cJSON_AddStringToObject(t, "not_after", when);
                cJSON_AddNumberToObject(t, "days_left",
                                        (double)days_left(moat_tls_ctx_not_after(ctx)));
            }
            moat_tls_ctx_unref(ctx);
        }
        cJSON_AddItemToArray(arr, o);
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "data", arr);
    resp_json(rs, 200, r);
}

typedef struct totals {
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
} totals;

static void sum_workers(moat_broker *b, totals *t)
{
    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < b->n_workers; i++) {
        t->msgs_in += atomic_load_explicit(&b->workers[i].msgs_received, memory_order_relaxed);
        t->msgs_out += atomic_load_explicit(&b->workers[i].msgs_sent, memory_order_relaxed);
        t->bytes_in += atomic_load_explicit(&b->workers[i].bytes_received, memory_order_relaxed);
        t->bytes_out += atomic_load_explicit(&b->workers[i].bytes_sent, memory_order_relaxed);
    }
}

static void stats(const http_req *rq, http_resp *rs)
{
    moat_broker *b = rq->b;
    totals t;
    sum_workers(b, &t);
    pthread_mutex_lock(&b->lock);
    size_t sessions = b->sessions.count;
    size_t retained = moat_rettree_count(b->retained);
    pthread_mutex_unlock(&b->lock);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "connections", atomic_load(&b->stats.clients_connected));
    cJSON_AddNumberToObject(r, "sessions", (double)sessions);
    cJSON_AddNumberToObject(r, "retained", (double)retained);
    cJSON_AddNumberToObject(r, "messages_received", (double)t.msgs_in);
    cJSON_AddNumberToObject(r, "messages_sent", (double)t.msgs_out);
    cJSON_AddNumberToObject(r, "messages_dropped", (double)atomic_load(&b->stats.msgs_dropped));
    cJSON_AddNumberToObject(r, "bytes_received", (double)t.bytes_in);
    cJSON_AddNumberToObject(r, "bytes_sent", (double)t.bytes_out);
    cJSON_AddNumberToObject(r, "uptime_seconds", (double)(wall_ms() - b->started_at) / 1000.0);
    cJSON_AddStringToObject(r, "version", MOAT_VERSION);
    resp_json(rs, 200, r);
}

static bool contains(const char *hay, const char *needle)
{
    return !needle[0] || (hay && strstr(hay, needle));
}

static void clients(const http_req *rq, http_resp *rs)
{
    moat_broker *b = rq->b;
    char fid[256] = "", fuser[256] = "", flis[96] = "", v[32];
    query_param(rq, "clientid", fid, sizeof fid);
    query_param(rq, "username", fuser, sizeof fuser);
    query_param(rq, "listener", flis, sizeof flis);
    long page = query_param(rq, "page", v, sizeof v) ? atol(v) : 1;
    long limit = query_param(rq, "limit", v, sizeof v) ? atol(v) : 100;
    if (page < 1)
        page = 1;
    if (limit < 1 || limit > 10000)
        limit = 100;
    cJSON *arr = cJSON_CreateArray();
    long matched = 0, first = (page - 1) * limit;
    int64_t now = (int64_t)moat_now_ms(), wall = wall_ms();
    pthread_mutex_lock(&b->lock);
    size_t it = 0;
    moat_map_slot *sl;
    while ((sl = moat_map_next(&b->sessions, &it))) {
        moat_session *s = sl->value;
        moat_conn *c = s->conn;
        /* A session's connection is not freed while it is attached, and
         * these fields do not change after CONNECT: safe under the lock. */
        if (!c || !contains(c->client_id, fid) || !contains(c->username, fuser) ||
            (flis[0] && strcmp(c->listener->label, flis)))
            continue;
        if (matched++ < first || cJSON_GetArraySize(arr) >= limit)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "clientid", c->client_id);
        if (c->username)
            cJSON_AddStringToObject(o, "username", c->username);
        else
            cJSON_AddNullToObject(o, "username");
        cJSON_AddStringToObject(o, "listener", c->listener->label);
        cJSON_AddStringToObject(o, "peer", c->peer);
        cJSON_AddNumberToObject(o, "proto_ver", c->version);
        cJSON_AddNumberToObject(o, "keepalive", c->keep_alive);
        cJSON_AddNumberToObject(o, "subscriptions", s->n_subs);
        cJSON_AddNumberToObject(o, "queued", s->queue.len);
        cJSON_AddNumberToObject(o, "inflight", s->inflight.len);
        cJSON_AddNumberToObject(o, "connected_at", (double)(wall - (now - c->created)) / 1000.0);
        if (c->tls_desc)
            cJSON_AddStringToObject(o, "tls", c->tls_desc);
        cJSON_AddItemToArray(arr, o);
    }
    pthread_mutex_unlock(&b->lock);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "data", arr);
    cJSON *meta = cJSON_AddObjectToObject(r, "meta");
    cJSON_AddNumberToObject(meta, "page", (double)page);
    cJSON_AddNumberToObject(meta, "limit", (double)limit);
    cJSON_AddNumberToObject(meta, "count", (double)matched);
    resp_json(rs, 200, r);
}

/* page and limit of a listing (limit 100 by default, at most 10000). */
static void paging(const http_req *rq, long *page, long *limit)
{
    char v[32];
    *page = query_param(rq, "page", v, sizeof v) ? atol(v) : 1;
    *limit = query_param(rq, "limit", v, sizeof v) ? atol(v) : 100;
    if (*page < 1)
        *page = 1;
    if (*limit < 1 || *limit > 10000)
        *limit = 100;
}

static void resp_list(http_resp *rs, cJSON *arr, long page, long limit, long count)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "data", arr);
    cJSON *meta = cJSON_AddObjectToObject(r, "meta");
    cJSON_AddNumberToObject(meta, "page", (double)page);
    cJSON_AddNumberToObject(meta, "limit", (double)limit);
    cJSON_AddNumberToObject(meta, "count", (double)count);
    resp_json(rs, 200, r);
}

/* A path's remainder after prefix, %XX-decoded, into out (NUL-terminated). */
size_t path_rest(const http_req *rq, size_t prefix, char *out, size_t cap)
{
    if (prefix >= rq->h->path.len) {
        out[0] = 0;
        return 0;
    }
    return url_decode(rq->h->path.p + prefix, rq->h->path.len - prefix, false, out, cap);
}

/* Every session's subscriptions (online or not), filtered by client id and
 * topic filter substrings. */
static void subscriptions(const http_req *rq, http_resp *rs)
{
    moat_broker *b = rq->b;
    char fid[256] = "", ftopic[1024] = "";
    long page, limit;
    query_param(rq, "clientid", fid, sizeof fid);
    query_param(rq, "topic", ftopic, sizeof ftopic);
    paging(rq, &page, &limit);
    cJSON *arr = cJSON_CreateArray();
    long matched = 0, first = (page - 1) * limit;
    pthread_mutex_lock(&b->lock);
    size_t it = 0;
    moat_map_slot *sl;
    while ((sl = moat_map_next(&b->sessions, &it))) {
        moat_session *s = sl->value;
        if (!contains(s->client_id, fid))
            continue;
        for (uint32_t i = 0; i < s->n_subs; i++) {
            const sess_sub *ss = &s->subs[i];
            if (!contains(ss->filter, ftopic))
                continue;
            if (matched++ < first || cJSON_GetArraySize(arr) >= limit)
                continue;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "clientid", s->client_id);
            const char *f = ss->filter;
            const char *slash = !strncmp(f, "$share/", 7) ? strchr(f + 7, '/') : NULL;
            if (slash) {
                char group[256];
                snprintf(group, sizeof group, "%.*s", (int)(slash - f - 7), f + 7);
                cJSON_AddStringToObject(o, "topic", slash + 1);
                cJSON_AddStringToObject(o, "share_group", group);
            } else {
                cJSON_AddStringToObject(o, "topic", f);
                cJSON_AddNullToObject(o, "share_group");
            }
            cJSON_AddStringToObject(o, "filter", f);
            cJSON_AddNumberToObject(o, "qos", ss->options & SUBOPT_QOS_MASK);
            cJSON_AddBoolToObject(o, "no_local", ss->options & SUBOPT_NO_LOCAL);
            cJSON_AddBoolToObject(o, "retain_as_published", ss->options & SUBOPT_RAP);
            cJSON_AddNumberToObject(o, "retain_handling", (ss->options >> SUBOPT_RH_SHIFT) & 3);
            if (ss->sub_id)
                cJSON_AddNumberToObject(o, "subscription_identifier", ss->sub_id);
            else
                cJSON_AddNullToObject(o, "subscription_identifier");
            cJSON_AddBoolToObject(o, "online", s->conn != NULL);
            cJSON_AddItemToArray(arr, o);
        }
    }
    pthread_mutex_unlock(&b->lock);
    resp_list(rs, arr, page, limit, matched);
}

#define PREVIEW_MAX 1024

typedef struct ret_walk {
    cJSON *arr;
    const char *substr; /* or NULL */
    long matched, first, limit;
} ret_walk;

static void retained_one(void *ctx, const char *topic, size_t tlen, void *value)
{
    ret_walk *w = ctx;
    const moat_msg *m = value;
    (void)tlen;
    if (w->substr && !strstr(topic, w->substr))
        return;
    if (w->matched++ < w->first || cJSON_GetArraySize(w->arr) >= w->limit)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "topic", topic);
    cJSON_AddNumberToObject(o, "qos", m->qos);
    cJSON_AddNumberToObject(o, "payload_size", m->payload_len);
    size_t n = m->payload_len < PREVIEW_MAX ? m->payload_len : PREVIEW_MAX;
    char b64[4 * ((PREVIEW_MAX + 2) / 3) + 1];
    EVP_EncodeBlock((unsigned char *)b64, m->payload, (int)n);
    cJSON_AddStringToObject(o, "payload_preview", b64);
    cJSON_AddBoolToObject(o, "truncated", n < m->payload_len);
    /* The broker does not record when a retained message was stored. */
    cJSON_AddNullToObject(o, "stored_at");
    cJSON_AddItemToArray(w->arr, o);
}

/* Retained messages, by topic substring (topic=) or MQTT filter (filter=,
 * or topic= with + or #). */
static void retained(const http_req *rq, http_resp *rs)
{
    moat_broker *b = rq->b;
    char ftopic[1024] = "", filter[1024] = "";
    long page, limit;
    query_param(rq, "topic", ftopic, sizeof ftopic);
    query_param(rq, "filter", filter, sizeof filter);
    if (!filter[0] && (strchr(ftopic, '+') || strchr(ftopic, '#'))) {
        memcpy(filter, ftopic, sizeof filter);
        ftopic[0] = 0;
    }
    if (filter[0] && !mqtt_topic_filter_valid(filter, strlen(filter), 0)) {
        resp_json_error(rs, 400, "bad_request",
                        "not a valid MQTT topic filter ('+' and '#' must fill a whole level, '#' "
                        "only at the end)");
        return;
    }
    paging(rq, &page, &limit);
    ret_walk w = {cJSON_CreateArray(), ftopic[0] ? ftopic : NULL, 0, (page - 1) * limit, limit};
    pthread_mutex_lock(&b->lock);
    if (filter[0]) {
        moat_rettree_match(b->retained, filter, strlen(filter), retained_one, &w);
    } else {
        moat_rettree_match(b->retained, "#", 1, retained_one, &w);
        moat_rettree_match(b->retained, "$SYS/#", 6, retained_one, &w);
    }
    pthread_mutex_unlock(&b->lock);
    resp_list(rs, w.arr, page, limit, w.matched);
}

/* Delete a retained message the way an MQTT client does: store the empty
 * retained message (retain_store removes it from the tree and the store). */
static void retained_delete(const http_req *rq, http_resp *rs, const char *user)
{
    moat_broker *b = rq->b;
    char topic[4096];
    size_t n = path_rest(rq, 17, topic, sizeof topic); /* after "/api/v1/retained/" */
    moat_msg *m = n ? msg_new(topic, n, NULL, 0, NULL, 0) : NULL;
    bool found = false;
    if (m) {
        m->retain = true;
        pthread_mutex_lock(&b->lock);
        found = moat_rettree_get(b->retained, topic, n) != NULL;
        if (found)
            retain_store(b, m);
        pthread_mutex_unlock(&b->lock);
        msg_unref(m);
    }
    if (!found) {
        resp_json_error(rs, 404, "not_found", "no retained message on that topic");
        return;
    }
    LOG_NOTICE("dashboard: retained message on %s deleted by %s from %s", topic, user, rq->peer);
    rs->status = 204;
}

static void kick_task(moat_loop *l, void *arg)
{
    (void)l;
    moat_conn *c = arg;
    conn_close(c, MQTT_RC_ADMIN_ACTION, "kicked by an administrator", true);
    conn_unref(c);
}

static void kick(const http_req *rq, http_resp *rs, const char *id, size_t idlen, const char *user)
{
    moat_broker *b = rq->b;
    pthread_mutex_lock(&b->lock);
    moat_session *s = moat_map_get(&b->sessions, id, idlen);
    moat_conn *c = s ? s->conn : NULL;
    if (c) {
        conn_ref(c);
        if (moat_loop_post(c->worker->loop, kick_task, c) != MOAT_OK) {
            conn_unref(c);
            c = NULL;
        }
    }
    pthread_mutex_unlock(&b->lock);
    if (!c) {
        resp_json_error(rs, 404, "not_found", "no connected client with that client id");
        return;
    }
    LOG_NOTICE("dashboard: client %.*s kicked by %s from %s", (int)idlen, id, user, rq->peer);
    rs->status = 204;
}

/* ---- the ban list (auth/ban.h) ---- */

static void ban_one(void *ctx, const moat_ban_info *i)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "as", moat_ban_kind_name(i->kind));
    cJSON_AddStringToObject(o, "who", i->who);
    cJSON_AddNumberToObject(o, "since", (double)(i->since / 1000));
    if (i->until == INT64_MAX)
        cJSON_AddNullToObject(o, "until");
    else
        cJSON_AddNumberToObject(o, "until", (double)((i->until + 999) / 1000));
    cJSON_AddStringToObject(o, "by", i->manual ? "administrator" : "failed_logins");
    cJSON_AddStringToObject(o, "reason", i->reason);
    cJSON_AddItemToArray(ctx, o);
}

static void ban_add(const http_req *rq, http_resp *rs, const char *user)
{
    moat_broker *b = rq->b;
    cJSON *j = cJSON_ParseWithLength((const char *)rq->body, rq->body_len);
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(j, "as");
    const cJSON *who = cJSON_GetObjectItemCaseSensitive(j, "who");
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(j, "duration");
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(j, "reason");
    moat_ban_kind kind;
    bool ok = cJSON_IsString(as) && moat_ban_kind_parse(as->valuestring, &kind) &&
              cJSON_IsString(who) && who->valuestring[0] && strlen(who->valuestring) < 1024 &&
              (!dur || cJSON_IsNull(dur) || (cJSON_IsNumber(dur) && dur->valuedouble >= 1)) &&
              (!why || cJSON_IsString(why));
    if (!ok) {
        cJSON_Delete(j);
        resp_json_error(rs, 400, "bad_request",
                        "expected {\"as\": \"clientid\" | \"username\" | \"address\", \"who\": "
                        "\"...\", \"duration\": seconds (leave out: until removed), "
                        "\"reason\": \"...\"}");
        return;
    }
    int64_t now = wall_ms();
    int64_t until = dur && cJSON_IsNumber(dur) && dur->valuedouble < 1e10
                        ? now + (int64_t)(dur->valuedouble * 1000)
                        : INT64_MAX;
    moat_err e =
        moat_bans_add(b->bans, kind, who->valuestring, now, until, why ? why->valuestring : "");
    if (e) {
        cJSON_Delete(j);
        resp_json_error(rs, e == MOAT_ELIMIT ? 503 : 500, "internal_error",
                        e == MOAT_ELIMIT ? "the ban table is full" : "cannot add the ban");
        return;
    }
    LOG_NOTICE("dashboard: %s '%s' banned by %s from %s (%s)", moat_ban_kind_name(kind),
               who->valuestring, user, rq->peer,
               until == INT64_MAX ? "until removed" : "for a time");
    if (kind == MOAT_BAN_CLIENTID) { /* a connected client goes now */
        pthread_mutex_lock(&b->lock);
        moat_session *s = moat_map_get(&b->sessions, who->valuestring, strlen(who->valuestring));
        moat_conn *c = s ? s->conn : NULL;
        if (c) {
            conn_ref(c);
            if (moat_loop_post(c->worker->loop, kick_task, c) != MOAT_OK)
                conn_unref(c);
        }
        pthread_mutex_unlock(&b->lock);
    }
    cJSON *arr = cJSON_CreateArray();
    moat_ban_info info = {.kind = kind,
                          .who = who->valuestring,
                          .until = until,
                          .since = now,
                          .reason = why && why->valuestring[0] ? why->valuestring : "by hand",
                          .manual = true};
    ban_one(arr, &info);
    cJSON *out = cJSON_DetachItemFromArray(arr, 0);
    cJSON_Delete(arr);
    cJSON_Delete(j);
    resp_json(rs, 201, out);
}

static void banned(const http_req *rq, http_resp *rs, const char *user)
{
    moat_broker *b = rq->b;
    if (path_is(rq, "/api/v1/banned")) {
        if (method_is(rq, "GET") || method_is(rq, "HEAD")) {
            cJSON *arr = cJSON_CreateArray();
            size_t n = moat_bans_each(b->bans, wall_ms(), ban_one, arr);
            cJSON *r = cJSON_CreateObject();
            cJSON_AddItemToObject(r, "data", arr);
            cJSON_AddNumberToObject(r, "count", (double)n);
            resp_json(rs, 200, r);
        } else if (method_is(rq, "POST")) {
            ban_add(rq, rs, user);
        } else {
            resp_json_error(rs, 405, "method_not_allowed", "use GET or POST");
        }
        return;
    }
    if (!method_is(rq, "DELETE")) {
        resp_json_error(rs, 405, "method_not_allowed", "use DELETE /api/v1/banned/{as}/{who}");
        return;
    }
    char rest[1100];
    path_rest(rq, 15, rest, sizeof rest); /* after "/api/v1/banned/" */
    char *slash = strchr(rest, '/');
    moat_ban_kind kind;
    if (slash)
        *slash = '\0';
    if (!slash || !moat_ban_kind_parse(rest, &kind) || !slash[1]) {
        resp_json_error(rs, 400, "bad_request",
                        "expected /api/v1/banned/{clientid|username|address}/{who}");
        return;
    }
    if (!moat_bans_del(b->bans, kind, slash + 1)) {
        resp_json_error(rs, 404, "not_found", "no such ban");
        return;
    }
    LOG_NOTICE("dashboard: ban on %s '%s' lifted by %s from %s", rest, slash + 1, user, rq->peer);
    rs->status = 204;
}

static void metrics(const http_req *rq, http_resp *rs)
{
    moat_broker *b = rq->b;
    totals t;
    sum_workers(b, &t);
    moat_buf *o = &rs->body;
    char line[512];
#define EMIT(...)                                                                                  \
    do {                                                                                           \
        int n_ = snprintf(line, sizeof line, __VA_ARGS__);                                         \
        if (n_ > 0)                                                                                \
            moat_buf_append(o, line, (size_t)n_ < sizeof line ? (size_t)n_ : sizeof line - 1);     \
    } while (0)
    EMIT("# HELP moat_connections Connected MQTT clients.\n# TYPE moat_connections gauge\n");
    EMIT("moat_connections %u\n", atomic_load(&b->stats.clients_connected));
    EMIT("# HELP moat_listener_connections Open connections per listener.\n"
         "# TYPE moat_listener_connections gauge\n");
    for (uint32_t i = 0; i < b->n_listeners; i++)
        EMIT("moat_listener_connections{listener=\"%s\"} %u\n", b->listeners[i].label,
             atomic_load(&b->listeners[i].count));
    EMIT("# HELP moat_messages_received_total PUBLISH packets received.\n"
         "# TYPE moat_messages_received_total counter\nmoat_messages_received_total %llu\n",
         (unsigned long long)t.msgs_in);
    EMIT("# HELP moat_messages_sent_total PUBLISH packets sent.\n"
         "# TYPE moat_messages_sent_total counter\nmoat_messages_sent_total %llu\n",
         (unsigned long long)t.msgs_out);
    EMIT("# HELP moat_messages_dropped_total Messages dropped (queue limits).\n"
         "# TYPE moat_messages_dropped_total counter\nmoat_messages_dropped_total %llu\n",
         (unsigned long long)atomic_load(&b->stats.msgs_dropped));
    EMIT("# HELP moat_bytes_received_total Bytes received from MQTT clients.\n"
         "# TYPE moat_bytes_received_total counter\nmoat_bytes_received_total %llu\n",
         (unsigned long long)t.bytes_in);
    EMIT("# HELP moat_bytes_sent_total Bytes sent to MQTT clients.\n"
         "# TYPE moat_bytes_sent_total counter\nmoat_bytes_sent_total %llu\n",
         (unsigned long long)t.bytes_out);
    moat_tls_stats st;
    moat_tls_stats_get(&st);
    EMIT("# HELP moat_tls_handshakes_total TLS handshakes by result and failure reason.\n"
         "# TYPE moat_tls_handshakes_total counter\n");
    EMIT("moat_tls_handshakes_total{result=\"ok\",reason=\"\"} %llu\n",
         (unsigned long long)st.handshakes_ok);
    for (int f = 1; f < MOAT_TLS_FAIL__COUNT; f++)
        EMIT("moat_tls_handshakes_total{result=\"failed\",reason=\"%s\"} %llu\n",
             moat_tls_fail_name((moat_tls_fail)f), (unsigned long long)st.failed[f]);
    EMIT("# HELP moat_tls_certificate_expiry_seconds When each TLS listener's certificate "
         "expires (Unix time).\n# TYPE moat_tls_certificate_expiry_seconds gauge\n");
    for (uint32_t i = 0; i < b->n_listeners; i++) {
        if (!b->listeners[i].is_tls)
            continue;
        moat_tls_ctx *ctx = moat_tls_slot_get(&b->listeners[i].tls_slot);
        if (ctx)
            EMIT("moat_tls_certificate_expiry_seconds{listener=\"%s\"} %lld\n",
                 b->listeners[i].label, (long long)moat_tls_ctx_not_after(ctx));
        moat_tls_ctx_unref(ctx);
    }
#undef EMIT
    rs->status = 200;
    rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* The TLS listener named by "ssl:external" or "ssl-external", or NULL. */
static moat_listener *tls_listener_named(moat_broker *b, const char *id, size_t n)
{
    for (uint32_t i = 0; i < b->n_listeners; i++) {
        moat_listener *l = &b->listeners[i];
        size_t tl = strlen(l->conf.type);
        if (!l->is_tls || n != strlen(l->label))
            continue;
        if (!memcmp(id, l->label, n) || (!memcmp(id, l->label, tl) && id[tl] == '-' &&
                                         !memcmp(id + tl + 1, l->conf.name, n - tl - 1)))
            return l;
    }
    return NULL;
}

static void certificates(const http_req *rq, http_resp *rs, const char *user)
{
    moat_broker *b = rq->b;
    const char *rest = rq->h->path.p + 20; /* after "/api/v1/certificates" */
    size_t n = rq->h->path.len - 20;
    if (n == 0) {
        if (!method_is(rq, "GET") && !method_is(rq, "HEAD")) {
            resp_json_error(rs, 405, "method_not_allowed", "use GET");
            return;
        }
        cJSON *arr = cJSON_CreateArray();
        for (uint32_t i = 0; i < b->n_listeners; i++)
            if (b->listeners[i].is_tls)
                cJSON_AddItemToArray(arr, certs_listener_json(b, &b->listeners[i]));
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToObject(r, "data", arr);
        resp_json(rs, 200, r);
        return;
    }
    /* the id may come URL-encoded ("ssl%3Aexternal") */
    char id[96];
    size_t idn = rest[0] == '/' ? path_rest(rq, 21, id, sizeof id) : 0;
    moat_listener *l = idn ? tls_listener_named(b, id, idn) : NULL;
    if (!l) {
        resp_json_error(rs, 404, "not_found",
                        "no TLS listener of that name (expected an id "
                        "such as ssl:external, from GET /api/v1/listeners)");
        return;
    }
    cJSON *out = NULL;
    int status;
    if (method_is(rq, "GET") || method_is(rq, "HEAD")) {
        out = certs_listener_json(b, l);
        status = 200;
    } else if (method_is(rq, "POST") || method_is(rq, "PUT")) {
        status = certs_upload(b, l, (const char *)rq->body, rq->body_len, &out, user);
    } else if (method_is(rq, "DELETE")) {
        status = certs_delete(b, l, &out, user);
    } else {
        resp_json_error(rs, 405, "method_not_allowed", "use GET, POST or DELETE");
        return;
    }
    resp_json(rs, status, out);
}

/* An API key in "Authorization: Basic base64(id:secret)": 1 when valid (user
 * set), 0 when there is none or it is wrong, -1 when the address is
 * throttled. */
static int basic_key(const http_req *rq, char *user, size_t ulen)
{
    const moat_http_str *a = moat_http_header(rq->h, "Authorization");
    if (!a || a->len <= 6 || strncasecmp(a->p, "Basic ", 6))
        return 0;
    const char *b64 = a->p + 6;
    size_t n = a->len - 6;
    while (n && b64[0] == ' ')
        b64++, n--;
    if (n == 0 || n % 4 || n > 256)
        return 0;
    unsigned char dec[200];
    int dl = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
    if (dl < 0)
        return 0;
    for (size_t i = n; i > 0 && b64[i - 1] == '='; i--)
        dl--; /* EVP_DecodeBlock counts the padding */
    const char *d = (const char *)dec, *colon = memchr(d, ':', (size_t)dl);
    if (!colon)
        return 0;
    moat_err e = auth_key_check(rq->b->dash, d, (size_t)(colon - d), colon + 1,
                                (size_t)(d + dl - colon - 1), rq->peer, user, ulen);
    if (e == MOAT_ELIMIT)
        return -1;
    if (e)
        LOG_NOTICE("dashboard: API key refused: peer=%s id=%.*s", rq->peer,
                   (int)((colon - d) < 32 ? colon - d : 32), d);
    return e == MOAT_OK;
}

static void api_keys(const http_req *rq, http_resp *rs, const char *user)
{
    dash_auth *a = rq->b->dash;
    if (path_is(rq, "/api/v1/api_keys")) {
        if (method_is(rq, "GET") || method_is(rq, "HEAD")) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddItemToObject(r, "data", auth_keys_json(a));
            resp_json(rs, 200, r);
            return;
        }
        if (!method_is(rq, "POST")) {
            resp_json_error(rs, 405, "method_not_allowed", "use GET or POST");
            return;
        }
        cJSON *j = cJSON_ParseWithLength((const char *)rq->body, rq->body_len);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
        char id[KEY_ID_BUF], secret[KEY_SECRET_BUF];
        moat_err e =
            cJSON_IsString(name) ? auth_key_create(a, name->valuestring, id, secret) : MOAT_EINVAL;
        if (e == MOAT_EINVAL) {
            cJSON_Delete(j);
            resp_json_error(rs, 400, "bad_request",
                            "expected a JSON body {\"name\": \"...\"} (1 to 63 bytes, no "
                            "control characters)");
            return;
        }
        if (e) {
            cJSON_Delete(j);
            resp_json_error(rs, 500, "internal_error", "cannot store the API key");
            return;
        }
        LOG_NOTICE("dashboard: API key %s (%s) created by %s from %s", id, name->valuestring, user,
                   rq->peer);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "id", id);
        cJSON_AddStringToObject(r, "secret", secret);
        cJSON_AddStringToObject(r, "name", name->valuestring);
        OPENSSL_cleanse(secret, sizeof secret);
        cJSON_Delete(j);
        resp_json(rs, 201, r);
        return;
    }
    if (!method_is(rq, "DELETE")) {
        resp_json_error(rs, 405, "method_not_allowed", "use DELETE");
        return;
    }
    char id[64], name[64];
    path_rest(rq, 17, id, sizeof id);
    moat_err e = auth_key_delete(a, id, name, sizeof name);
    if (e == MOAT_ENOTFOUND) {
        resp_json_error(rs, 404, "not_found", "no API key with that id");
        return;
    }
    if (e) {
        resp_json_error(rs, 500, "internal_error", "cannot store the API keys");
        return;
    }
    LOG_NOTICE("dashboard: API key %s (%s) deleted by %s from %s", id, name, user, rq->peer);
    rs->status = 204;
}

void api_handle(const http_req *rq, http_resp *rs)
{
    rs->status = 404;
    if ((rq->h->path.len < 5 || memcmp(rq->h->path.p, "/api/", 5)) && !path_is(rq, "/metrics")) {
        assets_handle(rq, rs); /* the web interface: /, /ui/... */
        return;
    }
    if (path_is(rq, "/api/v1/login")) {
        if (!method_is(rq, "POST")) {
            resp_header(rs, "Allow: POST\r\n");
            resp_json_error(rs, 405, "method_not_allowed", "use POST");
            return;
        }
        login(rq, rs);
        return;
    }
    const char *tok = NULL;
    size_t tlen = 0;
    char user[64];
    int key = basic_key(rq, user, sizeof user);
    if (key < 0) {
        resp_header(rs, "Retry-After: 60\r\n");
        resp_json_error(rs, 429, "too_many_attempts",
                        "too many failed logins from this address; wait a minute");
        return;
    }
    if (!key && (!request_token(rq, &tok, &tlen) ||
                 !auth_token_user(rq->b->dash, tok, tlen, user, sizeof user))) {
        resp_header(rs, "WWW-Authenticate: Bearer realm=\"moat\"\r\n");
        resp_json_error(rs, 401, "unauthorized",
                        "log in first: POST /api/v1/login, then send Authorization: Bearer TOKEN "
                        "(or use an API key: Authorization: Basic base64(id:secret))");
        return;
    }
    bool get = method_is(rq, "GET") || method_is(rq, "HEAD");
    bool keys_route = path_is(rq, "/api/v1/api_keys") ||
                      (rq->h->path.len > 17 && !memcmp(rq->h->path.p, "/api/v1/api_keys/", 17));
    if (key && !get && (keys_route || path_is(rq, "/api/v1/logout"))) {
        resp_json_error(rs, 403, "forbidden",
                        "API keys cannot create or delete API keys nor log out: log in as an "
                        "administrator");
    } else if (keys_route) {
        api_keys(rq, rs, user);
    } else if (path_is(rq, "/api/v1/logout") && method_is(rq, "POST")) {
        auth_logout(rq->b->dash, tok, tlen);
        resp_header(rs,
                    "Set-Cookie: moat_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict\r\n");
        rs->status = 204;
    } else if (path_is(rq, "/api/v1/listeners") && get) {
        listeners(rq, rs);
    } else if (path_is(rq, "/api/v1/stats") && get) {
        stats(rq, rs);
    } else if (path_is(rq, "/api/v1/clients") && get) {
        clients(rq, rs);
    } else if (rq->h->path.len > 16 && !memcmp(rq->h->path.p, "/api/v1/clients/", 16) &&
               method_is(rq, "DELETE")) {
        char id[1024];
        size_t n = path_rest(rq, 16, id, sizeof id);
        kick(rq, rs, id, n, user);
    } else if (rq->h->path.len >= 20 && !memcmp(rq->h->path.p, "/api/v1/certificates", 20) &&
               (rq->h->path.len == 20 || rq->h->path.p[20] == '/')) {
        certificates(rq, rs, user);
    } else if (path_is(rq, "/api/v1/subscriptions") && get) {
        subscriptions(rq, rs);
    } else if (path_is(rq, "/api/v1/retained") && get) {
        retained(rq, rs);
    } else if (rq->h->path.len > 17 && !memcmp(rq->h->path.p, "/api/v1/retained/", 17) &&
               method_is(rq, "DELETE")) {
        retained_delete(rq, rs, user);
    } else if (path_is(rq, "/api/v1/banned") ||
               (rq->h->path.len > 15 && !memcmp(rq->h->path.p, "/api/v1/banned/", 15))) {
        banned(rq, rs, user);
    } else if (rq->h->path.len >= 13 && !memcmp(rq->h->path.p, "/api/v1/auth/", 13)) {
        users_api(rq, rs, user);
    } else if (path_is(rq, "/metrics") && get) {
        metrics(rq, rs);
    } else {
        resp_json_error(rs, 404, "not_found", "no such API route");
    }
}
