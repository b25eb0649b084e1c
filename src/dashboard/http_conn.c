/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.1 connections of the dashboard listeners: read a request head (our
 * parser), then its body, answer through the API, keep the connection for
 * the next request or close it. Limits: head and body sizes, one request at
 * a time (pipelined requests wait their turn), an idle timeout and a time
 * limit per request. Runs on the connection's worker thread only. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "dashboard/internal.h"

struct hconn {
    moat_worker *w;
    moat_listener *l;
    moat_transport tcp;
    moat_transport *tr;
    moat_buf in, out;
    int64_t last_active;   /* ms: last byte in or out */
    int64_t request_start; /* ms: first byte of the request being read; 0 = none */
    bool want_write;
    bool closing; /* close once out is written */
    bool closed;
    bool tls;
    char peer[56];
    hconn *prev, *next; /* the worker's list */
};

static void unlink_conn(hconn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->w->hconns = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

static void hconn_close(hconn *c, const char *why)
{
    if (c->closed)
        return;
    c->closed = true;
    LOG_DEBUG("dashboard connection closed: peer=%s listener=%s reason=%s", c->peer, c->l->label,
              why);
    moat_loop_del_fd(c->w->loop, c->tr->fd);
    c->tr->ops->close(c->tr);
    unlink_conn(c);
    atomic_fetch_sub(&c->l->count, 1);
    moat_buf_free(&c->in);
    moat_buf_free(&c->out);
    free(c);
}

static void set_interest(hconn *c)
{
    bool want = moat_buf_avail(&c->out) > 0 || c->tr->ops->wants_write(c->tr);
    if (want != c->want_write) {
        c->want_write = want;
        moat_loop_mod_fd(c->w->loop, c->tr->fd, MOAT_EV_READ | (want ? MOAT_EV_WRITE : 0));
    }
}

/* false when the connection is gone */
static bool flush(hconn *c)
{
    if (!moat_buf_avail(&c->out) && c->tr->ops->wants_write(c->tr)) {
        size_t n = 0;
        moat_err e = c->tr->ops->write(c->tr, NULL, 0, &n);
        if (e && e != MOAT_EAGAIN) {
            hconn_close(c, "write error");
            return false;
        }
    }
    while (moat_buf_avail(&c->out)) {
        size_t n = 0;
        moat_err e = c->tr->ops->write(c->tr, moat_buf_head(&c->out), moat_buf_avail(&c->out), &n);
        if (e == MOAT_EAGAIN)
            break;
        if (e) {
            hconn_close(c, "write error");
            return false;
        }
        moat_buf_consume(&c->out, n);
        c->last_active = (int64_t)moat_now_ms();
    }
    if (!moat_buf_avail(&c->out)) {
        moat_buf_free(&c->out);
        if (c->closing) {
            hconn_close(c, "done");
            return false;
        }
    }
    set_interest(c);
    return true;
}

/* ------------------------------------------------------------ responses */

void resp_header(http_resp *rs, const char *fmt, ...)
{
    size_t used = strlen(rs->headers);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rs->headers + used, sizeof rs->headers - used, fmt, ap);
    va_end(ap);
}

void resp_text(http_resp *rs, int status, const char *text)
{
    rs->status = status;
    rs->content_type = "text/plain; charset=utf-8";
    moat_buf_reset(&rs->body);
    moat_buf_append(&rs->body, text, strlen(text));
    moat_buf_append(&rs->body, "\n", 1);
}

static void write_response(hconn *c, const moat_http_request *req, http_resp *rs, bool keep)
{
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "X-Frame-Options: DENY\r\n"
                     "Referrer-Policy: no-referrer\r\n"
                     "%s%s%s\r\n",
                     rs->status, moat_http_reason(rs->status),
                     rs->content_type ? rs->content_type : "application/json",
                     moat_buf_avail(&rs->body),
                     c->tls ? "Strict-Transport-Security: max-age=31536000\r\n" : "",
                     keep ? "" : "Connection: close\r\n", rs->headers);
    if (n < 0 || (size_t)n >= sizeof head)
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 500 Internal Server Error\r\nContent-Length: "
                     "0\r\nConnection: close\r\n\r\n");
    moat_buf_append(&c->out, head, (size_t)n);
    bool head_only = req && moat_http_str_eq(req->method, "HEAD");
    if (!head_only)
        moat_buf_append(&c->out, moat_buf_head(&rs->body), moat_buf_avail(&rs->body));
}

static void refuse(hconn *c, int status, const char *why)
{
    http_resp rs = {0};
    resp_json_error(&rs, status, "bad_request", why);
    write_response(c, NULL, &rs, false);
    moat_buf_free(&rs.body);
    c->closing = true;
    LOG_NOTICE("dashboard: request refused: peer=%s listener=%s: %d %s", c->peer, c->l->label,
               status, why);
}

/* Handle every complete request in c->in. false when the connection is gone. */
static bool process(hconn *c)
{
    while (!c->closing && moat_buf_avail(&c->in)) {
        moat_http_request req;
        int status = 0;
        const char *why = "";
        moat_err e = moat_http_parse_request(moat_buf_head(&c->in), moat_buf_avail(&c->in),
                                             HTTP_MAX_HEAD, &req, &status, &why);
        if (e == MOAT_ENEEDMORE)
            return true;
        if (e) {
            refuse(c, status ? status : 400, why);
            break;
        }
        if (req.chunked) {
            refuse(c, 411, "chunked request bodies are not accepted; send Content-Length");
            break;
        }
        size_t body = req.content_length > 0 ? (size_t)req.content_length : 0;
        if (body > HTTP_MAX_BODY) {
            refuse(c, 413, "request body larger than 1 MB");
            break;
        }
        if (moat_buf_avail(&c->in) < req.head_len + body)
            return true; /* the body is still coming */
        http_req rq = {.b = c->w->b,
                       .h = &req,
                       .body = moat_buf_head(&c->in) + req.head_len,
                       .body_len = body,
                       .peer = c->peer,
                       .tls = c->tls,
                       .listener = c->l};
        http_resp rs = {0};
        api_handle(&rq, &rs);
        bool keep = req.keep_alive && rs.status < 500 && !atomic_load(&c->w->b->stopping);
        LOG_DEBUG("dashboard: %.*s %.*s -> %d peer=%s", (int)req.method.len, req.method.p,
                  (int)req.path.len, req.path.p, rs.status, c->peer);
        write_response(c, &req, &rs, keep);
        moat_buf_free(&rs.body);
        moat_buf_consume(&c->in, req.head_len + body);
        c->request_start = moat_buf_avail(&c->in) ? (int64_t)moat_now_ms() : 0;
        if (!keep)
            c->closing = true;
    }
    if (!moat_buf_avail(&c->in))
        moat_buf_free(&c->in);
    return flush(c);
}

static void on_io(moat_loop *l, int fd, void *arg, unsigned ev)
{
    (void)l;
    (void)fd;
    hconn *c = arg;
    if (ev & (MOAT_EV_READ | MOAT_EV_ERROR)) {
        uint8_t *rb = c->w->rbuf;
        for (int rounds = 0; rounds < 16 && !c->closing; rounds++) {
            size_t n = 0;
            moat_err e = c->tr->ops->read(c->tr, rb, WORKER_RBUF, &n);
            if (e == MOAT_EAGAIN)
                break;
            if (e) {
                hconn_close(c, e == MOAT_EOF ? "closed by peer" : "read error");
                return;
            }
            if (moat_buf_avail(&c->in) + n > HTTP_MAX_HEAD + HTTP_MAX_BODY) {
                refuse(c, 413, "request too large");
                break;
            }
            if (!moat_buf_avail(&c->in))
                c->request_start = (int64_t)moat_now_ms();
            moat_buf_append(&c->in, rb, n);
            c->last_active = (int64_t)moat_now_ms();
            if (n < WORKER_RBUF && !c->tr->ops->has_pending(c->tr))
                break;
        }
        if (!process(c))
            return;
    }
    if (!c->closed)
        flush(c);
}

void hconn_accept(moat_worker *w, moat_listener *l, int fd, const struct sockaddr *sa)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    hconn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->w = w;
    c->l = l;
    moat_tcp_transport_init(&c->tcp, fd);
    c->tr = &c->tcp;
    bool loopback;
    sockaddr_name(sa, c->peer, sizeof c->peer, &loopback);
    moat_tls_ctx *ctx = l->is_tls ? moat_tls_slot_get(&l->tls_slot) : NULL;
    if (l->is_tls && !ctx) { /* never serve a TLS port in plain text */
        c->tr->ops->close(c->tr);
        free(c);
        return;
    }
    if (ctx) {
        moat_transport *t = NULL;
        moat_err e = moat_tls_transport_new(ctx, c->tr, &t);
        moat_tls_ctx_unref(ctx);
        if (e) {
            c->tr->ops->close(c->tr);
            free(c);
            return;
        }
        c->tr = t;
        c->tls = true;
    }
    if (atomic_fetch_add(&l->count, 1) + 1 > l->conf.max_connections ||
        moat_loop_add_fd(w->loop, fd, MOAT_EV_READ, on_io, c) != MOAT_OK) {
        atomic_fetch_sub(&l->count, 1);
        c->tr->ops->close(c->tr);
        free(c);
        return;
    }
    c->last_active = (int64_t)moat_now_ms();
    c->next = w->hconns;
    if (w->hconns)
        w->hconns->prev = c;
    w->hconns = c;
}

void hconn_sweep(moat_worker *w, int64_t now)
{
    for (hconn *c = w->hconns, *next; c; c = next) {
        next = c->next;
        if (c->request_start && now - c->request_start > HTTP_REQUEST_MS)
            hconn_close(c, "request not complete in time");
        else if (now - c->last_active > HTTP_IDLE_MS)
            hconn_close(c, "idle");
    }
}

void hconn_close_all(moat_worker *w)
{
    while (w->hconns)
        hconn_close(w->hconns, "server shutting down");
}
