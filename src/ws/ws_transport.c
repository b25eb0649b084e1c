/* SPDX-License-Identifier: Apache-2.0 */
/* The ws transport: see ws_transport.h. Reads decode frames in place in the
 * caller's buffer (no copy of the payload); writes copy the payload once,
 * behind a frame header, into a buffer that is freed as soon as it drains,
 * so an idle WebSocket connection holds no buffer memory. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws/ws_transport.h"

#define MAX_HEAD (16 * 1024)    /* largest upgrade request accepted */
#define FRAME_CHUNK (32 * 1024) /* payload per outgoing frame */

enum { WS_HANDSHAKE, WS_OPEN, WS_CLOSING, WS_FAILED };

typedef struct ws_conn {
    moat_transport base;
    moat_transport *inner;
    const moat_ws_settings *s;
    moat_buf in;  /* the upgrade request; then bytes read past it, not yet decoded */
    moat_buf out; /* upgrade response and frames not yet taken by inner */
    moat_ws_decoder dec;
    moat_ws_open_fn on_open;
    void *on_open_arg;
    char *why;
    const char *close_reason;
    uint16_t close_code;
    uint8_t state;
    bool peer_closed; /* the client sent a close frame */
    bool close_sent;
} ws_conn;

static void set_why(ws_conn *c, const char *fmt, ...)
{
    if (c->why)
        return; /* the first reason is the real one */
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    c->why = strdup(tmp);
}

/* Push out to inner; MOAT_OK (all gone), MOAT_EAGAIN or an error. */
static moat_err flush_out(ws_conn *c)
{
    while (moat_buf_avail(&c->out)) {
        size_t n = 0;
        moat_err e =
            c->inner->ops->write(c->inner, moat_buf_head(&c->out), moat_buf_avail(&c->out), &n);
        if (e)
            return e;
        moat_buf_consume(&c->out, n);
    }
    moat_buf_free(&c->out);
    if (c->inner->ops->wants_write(c->inner)) {
        size_t n = 0;
        moat_err e = c->inner->ops->write(c->inner, NULL, 0, &n);
        if (e)
            return e;
    }
    return MOAT_OK;
}

static moat_err queue_frame(ws_conn *c, uint8_t op, const void *p, size_t len)
{
    uint8_t h[14];
    size_t hl = moat_ws_frame_header(h, op, true, len, NULL);
    moat_err e = moat_buf_append(&c->out, h, hl);
    return e ? e : moat_buf_append(&c->out, p, len);
}

static void queue_close(ws_conn *c, uint16_t code, const char *reason)
{
    if (c->close_sent)
        return;
    c->close_sent = true;
    moat_ws_close_frame(&c->out, code, reason);
}

/* ---------------------------------------------------------- handshake */

static moat_err refuse(ws_conn *c, int status, const char *why, const char *detail)
{
    moat_ws_upgrade u = {.status = status, .why = why};
    moat_buf_reset(&c->out);
    moat_ws_upgrade_response(&u, &c->out);
    set_why(c, "WebSocket upgrade refused: %d %s: %s%s", status, moat_http_reason(status), why,
            detail ? detail : "");
    c->state = WS_FAILED;
    flush_out(c);
    if (c->on_open)
        c->on_open(&c->base, NULL, c->on_open_arg);
    return MOAT_EPROTOCOL;
}

/* Read and answer the upgrade request. MOAT_OK once open. */
static moat_err handshake(ws_conn *c)
{
    for (;;) {
        if (moat_buf_reserve(&c->in, 4096) != MOAT_OK)
            return MOAT_ENOMEM;
        size_t room = c->in.cap - c->in.len, n = 0;
        if (room > MAX_HEAD + 1 - moat_buf_avail(&c->in))
            room = MAX_HEAD + 1 - moat_buf_avail(&c->in);
        moat_err e = c->inner->ops->read(c->inner, c->in.data + c->in.len, room, &n);
        if (e == MOAT_EOF && moat_buf_avail(&c->in))
            set_why(c, "closed by the client during the WebSocket upgrade");
        if (e)
            return e;
        c->in.len += n;
        moat_http_request req;
        int status = 400;
        const char *why = "";
        e = moat_http_parse_request(moat_buf_head(&c->in), moat_buf_avail(&c->in), MAX_HEAD, &req,
                                    &status, &why);
        if (e == MOAT_ENEEDMORE)
            continue;
        if (e)
            return refuse(c, status, why, NULL);
        moat_ws_upgrade u;
        if (moat_ws_check_upgrade(&req, &c->s->upgrade, &u) != MOAT_OK) {
            /* Say what was asked for and what would be right. */
            char detail[320] = "";
            const moat_http_str *o = moat_http_header(&req, "Origin");
            const moat_http_str *p = moat_http_header(&req, "Sec-WebSocket-Protocol");
            if (u.status == 404)
                snprintf(detail, sizeof detail,
                         " (the client asked for %.*s; this listener "
                         "serves %s, its mqtt_path)",
                         (int)(req.path.len < 200 ? req.path.len : 200), req.path.p,
                         c->s->upgrade.path);
            else if (u.status == 403 && o)
                snprintf(detail, sizeof detail, " (Origin %.*s is not in check_origins)",
                         (int)(o->len < 200 ? o->len : 200), o->p);
            else if (u.status == 400 && u.why && strstr(u.why, "subprotocol"))
                snprintf(detail, sizeof detail,
                         " (offered: %.*s; set fail_if_no_subprotocol = "
                         "false to accept such clients)",
                         p ? (int)(p->len < 200 ? p->len : 200) : 4, p ? p->p : "none");
            return refuse(c, u.status, u.why ? u.why : "refused", detail[0] ? detail : NULL);
        }
        if (moat_ws_upgrade_response(&u, &c->out) != MOAT_OK)
            return MOAT_ENOMEM;
        c->state = WS_OPEN;
        if (c->on_open)
            c->on_open(&c->base, &req, c->on_open_arg);
        moat_buf_consume(&c->in, req.head_len);
        if (!moat_buf_avail(&c->in))
            moat_buf_free(&c->in);
        e = flush_out(c);
        return e == MOAT_EAGAIN ? MOAT_OK : e;
    }
}

/* --------------------------------------------------------------- ops */

/* Decode buf[0..got) in place; returns the data bytes left at its start. */
static size_t decode(ws_conn *c, uint8_t *buf, size_t got)
{
    size_t in = 0, out = 0;
    while (c->state == WS_OPEN) {
        moat_ws_event ev;
        moat_ws_decode(&c->dec, buf, got, &in, &out, &ev);
        switch (ev.type) {
        case MOAT_WS_EV_NONE:
            return out;
        case MOAT_WS_EV_PING:
            queue_frame(c, MOAT_WS_OP_PONG, ev.data, ev.len);
            break;
        case MOAT_WS_EV_PONG:
            break;
        case MOAT_WS_EV_CLOSE:
            c->peer_closed = true;
            c->state = WS_CLOSING;
            set_why(c, "WebSocket close from the client: %u%s%.*s", ev.close_code,
                    ev.len ? " " : "", (int)ev.len, (const char *)ev.data);
            /* Echo the status code, as RFC 6455 5.5.1 suggests. */
            queue_close(
                c, ev.close_code == MOAT_WS_CLOSE_NO_STATUS ? MOAT_WS_CLOSE_NORMAL : ev.close_code,
                "");
            break;
        case MOAT_WS_EV_ERROR:
            c->state = WS_CLOSING;
            set_why(c, "WebSocket protocol error: %s (closed with %u)", ev.why, ev.close_code);
            queue_close(c, ev.close_code, ev.why);
            break;
        }
    }
    return out;
}

static moat_err ws_read(moat_transport *t, void *buf, size_t len, size_t *n)
{
    ws_conn *c = (ws_conn *)t;
    *n = 0;
    if (c->state == WS_FAILED)
        return MOAT_EPROTOCOL;
    moat_err e = flush_out(c);
    if (e && e != MOAT_EAGAIN)
        return e;
    if (c->state == WS_HANDSHAKE && (e = handshake(c)) != MOAT_OK)
        return e;
    while (c->state == WS_OPEN) {
        size_t got = 0;
        if (moat_buf_avail(&c->in)) {
            got = moat_buf_avail(&c->in) < len ? moat_buf_avail(&c->in) : len;
            memcpy(buf, moat_buf_head(&c->in), got);
            moat_buf_consume(&c->in, got);
            if (!moat_buf_avail(&c->in))
                moat_buf_free(&c->in);
        } else if ((e = c->inner->ops->read(c->inner, buf, len, &got)) != MOAT_OK) {
            return e;
        }
        size_t out = decode(c, buf, got);
        e = flush_out(c);
        if (e && e != MOAT_EAGAIN)
            return e;
        if (out) {
            *n = out;
            return MOAT_OK;
        }
    }
    return c->peer_closed ? MOAT_EOF : MOAT_EPROTOCOL;
}

static moat_err ws_write(moat_transport *t, const void *buf, size_t len, size_t *n)
{
    ws_conn *c = (ws_conn *)t;
    *n = 0;
    moat_err e = flush_out(c);
    if (e && e != MOAT_EAGAIN)
        return e;
    if (e == MOAT_EAGAIN || c->state == WS_HANDSHAKE)
        return len ? MOAT_EAGAIN : MOAT_OK;
    if (len == 0)
        return MOAT_OK;
    if (c->state != WS_OPEN)
        return MOAT_EPROTOCOL;
    size_t chunk = len < FRAME_CHUNK ? len : FRAME_CHUNK;
    if (queue_frame(c, MOAT_WS_OP_BINARY, buf, chunk) != MOAT_OK)
        return MOAT_ENOMEM;
    *n = chunk;
    e = flush_out(c);
    return e == MOAT_EAGAIN ? MOAT_OK : e;
}

static bool ws_has_pending(moat_transport *t)
{
    ws_conn *c = (ws_conn *)t;
    if (c->state == WS_FAILED || c->state == WS_CLOSING)
        return false;
    return (c->state == WS_OPEN && moat_buf_avail(&c->in)) || c->inner->ops->has_pending(c->inner);
}

static bool ws_wants_write(moat_transport *t)
{
    ws_conn *c = (ws_conn *)t;
    return moat_buf_avail(&c->out) > 0 || c->inner->ops->wants_write(c->inner);
}

static void ws_close(moat_transport *t)
{
    ws_conn *c = (ws_conn *)t;
    if (c->state == WS_OPEN)
        queue_close(c, c->close_code ? c->close_code : MOAT_WS_CLOSE_NORMAL,
                    c->close_reason ? c->close_reason : "");
    flush_out(c); /* best effort: the response or close frame, then the lower close */
    c->inner->ops->close(c->inner);
    moat_buf_free(&c->in);
    moat_buf_free(&c->out);
    free(c->why);
    free(c);
}

static moat_transport *ws_lower(moat_transport *t)
{
    return ((ws_conn *)t)->inner;
}

static const moat_transport_ops ws_ops = {
    .name = "ws",
    .read = ws_read,
    .write = ws_write,
    .has_pending = ws_has_pending,
    .wants_write = ws_wants_write,
    .close = ws_close,
    .lower = ws_lower,
};

moat_err moat_ws_transport_new(const moat_ws_settings *s, moat_transport *inner,
                               moat_transport **out)
{
    ws_conn *c = calloc(1, sizeof *c);
    if (!c)
        return MOAT_ENOMEM;
    c->base.ops = &ws_ops;
    c->base.fd = inner->fd;
    c->inner = inner;
    c->s = s;
    c->dec.max_frame = s->max_frame;
    c->dec.require_mask = true;
    c->state = WS_HANDSHAKE;
    *out = &c->base;
    return MOAT_OK;
}

static ws_conn *find_ws(const moat_transport *t)
{
    return (ws_conn *)moat_transport_find((moat_transport *)t, &ws_ops);
}

void moat_ws_on_open(moat_transport *t, moat_ws_open_fn fn, void *arg)
{
    ws_conn *c = find_ws(t);
    if (c) {
        c->on_open = fn;
        c->on_open_arg = arg;
    }
}

bool moat_ws_is(const moat_transport *t)
{
    return find_ws(t) != NULL;
}

const char *moat_ws_failure(const moat_transport *t)
{
    ws_conn *c = find_ws(t);
    return c ? c->why : NULL;
}

void moat_ws_set_close(moat_transport *t, uint16_t code, const char *reason)
{
    ws_conn *c = find_ws(t);
    if (c) {
        c->close_code = code;
        c->close_reason = reason;
    }
}
