/* SPDX-License-Identifier: Apache-2.0 */
/* Connections and the per-thread event loop.
 *
 * Each worker owns an epoll set and its connections; nothing of a connection
 * is touched by another thread. What crosses threads: a publisher's
 * sent/delivered counters (flow control, see pump()), the eventfd that wakes
 * a publisher's worker, and the counters the main thread samples. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "gen.h"

gen G;

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        perror("calloc");
        exit(2);
    }
    return p;
}

void gen_error(worker *w, conn *c, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&G.mu);
    if (!G.first_err[0]) {
        static const char *roles[] = {"pub", "sub", "idle", "storm", "rpub", "rsub"};
        snprintf(G.first_err, sizeof G.first_err, "%s%s: %s", c ? roles[c->role] : "",
                 c ? " connection" : "", msg);
    }
    pthread_mutex_unlock(&G.mu);
    if (w)
        w->err++;
}

static const char *ssl_err(void)
{
    static _Thread_local char buf[160];
    unsigned long e = ERR_peek_last_error();
    if (!e)
        return "connection closed by peer";
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

/* ---- start queue: a ring of connections waiting to (re)connect ---------- */

typedef struct startq {
    conn **q;
    int cap, head, n;
} startq;

static _Thread_local startq SQ;

static void sq_push(conn *c)
{
    SQ.q[(SQ.head + SQ.n) % SQ.cap] = c;
    SQ.n++;
}

static conn *sq_pop(void)
{
    conn *c = SQ.q[SQ.head];
    SQ.head = (SQ.head + 1) % SQ.cap;
    SQ.n--;
    return c;
}

/* ---- setup ------------------------------------------------------------- */

void worker_init(worker *w, int idx)
{
    memset(w, 0, sizeof *w);
    w->idx = idx;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (w->ep < 0 || w->evfd < 0 || w->tfd < 0) {
        perror("epoll/eventfd/timerfd");
        exit(2);
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->evfd};
    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->evfd, &ev);
    ev.data.ptr = &w->tfd;
    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->tfd, &ev);
    w->scap = 256 * 1024;
    w->scratch = xcalloc(1, w->scap);
    if (G.npubs) {
        w->pend = xcalloc((size_t)G.npubs, sizeof *w->pend);
        w->touched = xcalloc((size_t)G.npubs, sizeof *w->touched);
    }
}

conn *conn_new(worker *w, int role)
{
    conn *c = xcalloc(1, sizeof *c);
    c->fd = -1;
    c->w = w;
    c->role = (uint8_t)role;
    c->state = CS_NEW;
    return c;
}

void worker_add(worker *w, conn *c)
{
    if ((w->nconns & (w->nconns - 1)) == 0) {
        size_t cap = w->nconns ? (size_t)w->nconns * 2 : 8;
        conn **p = realloc(w->conns, cap * sizeof *p);
        if (!p) {
            perror("realloc");
            exit(2);
        }
        w->conns = p;
    }
    w->conns[w->nconns++] = c;
    c->w = w;
    if (c->pub) {
        pub **p = realloc(w->pubs, (size_t)(w->npubs + 1) * sizeof *p);
        if (!p) {
            perror("realloc");
            exit(2);
        }
        w->pubs = p;
        w->pubs[w->npubs++] = c->pub;
    }
}

/* ---- connection life --------------------------------------------------- */

static void conn_arm(conn *c, bool in, bool out)
{
    if (c->in_armed == in && c->out_armed == out)
        return;
    struct epoll_event ev = {.events = (in ? EPOLLIN : 0u) | (out ? EPOLLOUT : 0u), .data.ptr = c};
    epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->in_armed = in;
    c->out_armed = out;
}

static void conn_close(conn *c, bool rst)
{
    if (c->fd >= 0) {
        if (rst) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(c->fd);
    }
    c->fd = -1;
    if (c->ssl)
        SSL_free(c->ssl);
    c->ssl = NULL;
    c->out.len = c->out.off = 0;
    c->llen = 0;
    c->in_armed = c->out_armed = false;
}

/* The connection reached its working state (or, in a storm, its CONNACK). */
static void conn_settled(conn *c)
{
    if (c->t0) {
        c->w->connecting--;
        c->t0 = 0;
    }
}

static void conn_fail(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_fail(conn *c, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    worker *w = c->w;
    int ph = atomic_load(&G.phase);
    if (ph != PH_QUIT)
        gen_error(w, c, "%s", msg);
    conn_settled(c);
    conn_close(c, true);
    if (c->role == ROLE_STORM) {
        c->state = CS_NEW;
        if (ph == PH_RUN || ph == PH_SETUP)
            sq_push(c);
        return;
    }
    c->state = CS_DEAD;
    w->live--;
    if (ph != PH_QUIT)
        atomic_fetch_add(&G.failed, 1);
}

static void conn_start(worker *w, conn *c)
{
    int fd = socket(G.addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->t0 = now_ns();
    w->connecting++;
    if (fd < 0) {
        c->fd = -1;
        conn_fail(c, "socket: %s", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->state = CS_TCP;
    c->serial = ++w->serial;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    c->in_armed = c->out_armed = true;
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        conn_fail(c, "epoll_ctl: %s", strerror(errno));
        return;
    }
    if (connect(fd, (struct sockaddr *)G.addr, G.addrlen) != 0 && errno != EINPROGRESS)
        conn_fail(c, "connect: %s", strerror(errno));
}

static int conn_flush(conn *c)
{
    while (wb_pending(&c->out)) {
        size_t n = wb_pending(&c->out);
        ssize_t r;
        if (c->ssl) {
            ERR_clear_error();
            int k = SSL_write(c->ssl, c->out.p + c->out.off, n > INT_MAX ? INT_MAX : (int)n);
            if (k <= 0) {
                int e = SSL_get_error(c->ssl, k);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    conn_arm(c, true, e == SSL_ERROR_WANT_WRITE);
                    return 0;
                }
                conn_fail(c, "SSL_write: %s", ssl_err());
                return -1;
            }
            r = k;
        } else {
            r = send(c->fd, c->out.p + c->out.off, n, MSG_NOSIGNAL);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    conn_arm(c, true, true);
                    return 0;
                }
                conn_fail(c, "send: %s", strerror(errno));
                return -1;
            }
        }
        c->out.off += (size_t)r;
    }
    c->out.off = c->out.len = 0;
    if (c->out_armed)
        conn_arm(c, true, false);
    return 1;
}

static void send_connect(conn *c)
{
    static const char roles[] = "psisrq";
    char cid[64];
    snprintf(cid, sizeof cid, "mb%d-%c%d-%llu", (int)getpid(), roles[c->role], c->w->idx,
             (unsigned long long)c->serial);
    mq_connect(&c->out, G.o.mqtt, cid, (uint16_t)G.o.keepalive);
    c->state = CS_MQTT;
    conn_flush(c);
}

static void tls_step(conn *c)
{
    ERR_clear_error();
    int r = SSL_connect(c->ssl);
    if (r == 1) {
        if (!G.tls_info[0]) {
            pthread_mutex_lock(&G.mu);
            if (!G.tls_info[0])
                tls_describe(c->ssl, G.tls_info, sizeof G.tls_info);
            pthread_mutex_unlock(&G.mu);
        }
        conn_arm(c, true, false);
        send_connect(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        conn_arm(c, true, false);
    else if (e == SSL_ERROR_WANT_WRITE)
        conn_arm(c, true, true);
    else
        conn_fail(c, "TLS handshake: %s", ssl_err());
}

/* ---- flow control ------------------------------------------------------ */

static void wake_pub(worker *self, pub *p)
{
    worker *w = p->c->w;
    if (w == self)
        return; /* our own loop pumps its publishers on every turn */
    uint64_t one = 1;
    if (write(w->evfd, &one, sizeof one) < 0 && errno != EAGAIN)
        gen_error(self, NULL, "eventfd write: %s", strerror(errno));
}

static void flush_deliveries(worker *w)
{
    for (int i = 0; i < w->ntouched; i++) {
        int pi = w->touched[i];
        uint64_t n = w->pend[pi];
        w->pend[pi] = 0;
        pub *p = &G.pubs[pi];
        uint64_t d = atomic_fetch_add(&p->delivered, n) + n;
        if (atomic_load(&p->blocked)) {
            uint64_t sd = atomic_load(&p->sent_deliv);
            if (sd - d <= p->win / 2 && atomic_exchange(&p->blocked, 0))
                wake_pub(w, p);
        }
    }
    w->ntouched = 0;
}

static void pub_stop(pub *p)
{
    if (atomic_load(&p->stopped))
        return;
    for (int i = 0; i < p->ns; i++) {
        stream *s = &G.streams[p->s0 + i];
        atomic_store(&s->final_n, s->next_seq);
    }
    atomic_store(&p->stopped, 1);
}

static uint16_t take_pid(pub *p)
{
    for (;;) {
        uint16_t id = ++p->next_pid;
        if (id == 0)
            continue;
        if (!(p->pidmap[id >> 3] & (1u << (id & 7)))) {
            p->pidmap[id >> 3] |= (uint8_t)(1u << (id & 7));
            p->inflight++;
            return id;
        }
    }
}

static void put_header(uint8_t *pl, uint32_t seq, uint32_t sid)
{
    uint64_t ts = now_ns();
    memcpy(pl, &ts, 8);
    memcpy(pl + 8, &seq, 4);
    memcpy(pl + 12, &sid, 4);
    memcpy(pl + HDR_LEN, G.pattern, (size_t)G.o.size - HDR_LEN);
}

/* Encode and send what the publisher may send now. Returns true when it
 * stopped only because its output buffer is full (call again at once). */
static bool pump(worker *w, pub *p)
{
    conn *c = p->c;
    if (c->state != CS_READY)
        return false;
    int ph = atomic_load(&G.phase);
    if (ph != PH_RUN) {
        if (ph >= PH_DRAIN)
            pub_stop(p);
        return false;
    }
    if (wb_pending(&c->out))
        return false; /* the socket is full; EPOLLOUT resumes */
    uint64_t due = UINT64_MAX;
    if (G.o.rate > 0) {
        uint64_t now = now_ns();
        if (!p->t_start)
            p->t_start = now;
        due = (uint64_t)((double)(now - p->t_start) * G.o.rate / 1e9) + 1;
    }
    bool more = false;
    uint64_t sd = p->sent_deliv_local;
    const int qos = G.o.qos, ver = G.o.mqtt;
    const size_t size = (size_t)G.o.size;
    for (;;) {
        if (c->out.len >= FLUSH_AT) {
            more = true;
            break;
        }
        if (p->sent >= due)
            break;
        if (qos && p->inflight >= p->max_inflight)
            break;
        int sid = p->s0 + p->rr;
        stream *s = &G.streams[sid];
        if (sd - atomic_load_explicit(&p->delivered, memory_order_relaxed) + s->fanout > p->win) {
            atomic_store(&p->sent_deliv, sd);
            atomic_store(&p->blocked, 1);
            if (sd - atomic_load(&p->delivered) + s->fanout > p->win)
                break;
            atomic_store(&p->blocked, 0);
        }
        uint16_t pid = qos ? take_pid(p) : 0;
        uint8_t *pl = mq_publish(&c->out, ver, s->topic, s->tlen, qos, false, pid, size);
        put_header(pl, s->next_seq++, (uint32_t)sid);
        sd += s->fanout;
        p->sent++;
        w->npub++;
        p->rr = p->rr + 1 == p->ns ? 0 : p->rr + 1;
    }
    p->sent_deliv_local = sd;
    atomic_store(&p->sent_deliv, sd);
    if (G.o.rate > 0)
        p->next_due = p->t_start + (uint64_t)((double)p->sent * 1e9 / G.o.rate);
    if (wb_pending(&c->out) && conn_flush(c) <= 0)
        return false;
    return more;
}

/* Retained mode: publish o.retained retained messages at QoS 1, each on its
 * own topic, with at most 1000 awaiting PUBACK. */
static bool pump_rpub(worker *w, pub *p)
{
    conn *c = p->c;
    if (c->state != CS_READY || atomic_load(&G.phase) != PH_RUN || wb_pending(&c->out))
        return false;
    bool more = false;
    while (p->sent < (uint64_t)G.o.retained && p->inflight < 1000) {
        if (c->out.len >= FLUSH_AT) {
            more = true;
            break;
        }
        char topic[64];
        int tl = snprintf(topic, sizeof topic, "bench/r/%llu/%llu",
                          (unsigned long long)(p->sent / 100), (unsigned long long)(p->sent % 100));
        uint16_t pid = take_pid(p);
        uint8_t *pl =
            mq_publish(&c->out, G.o.mqtt, topic, (uint16_t)tl, 1, true, pid, (size_t)G.o.size);
        put_header(pl, (uint32_t)p->sent, 0);
        p->sent++;
        w->npub++;
    }
    if (wb_pending(&c->out) && conn_flush(c) <= 0)
        return false;
    return more;
}

/* ---- receiving --------------------------------------------------------- */

static inline uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void on_publish(conn *c, uint8_t b0, const uint8_t *b, uint32_t n)
{
    worker *w = c->w;
    int qos = (b0 >> 1) & 3;
    bool dup = b0 & 8, retain = b0 & 1;
    if (n < 2 || 2u + be16(b) > n) {
        gen_error(w, c, "PUBLISH too short");
        return;
    }
    uint32_t pos = 2u + be16(b);
    uint16_t pid = 0;
    if (qos) {
        if (pos + 2 > n) {
            gen_error(w, c, "PUBLISH without packet id");
            return;
        }
        pid = be16(b + pos);
        pos += 2;
    }
    if (G.o.mqtt == 5) {
        uint32_t plen = 0, shift = 0;
        for (;;) {
            if (pos >= n || shift > 21) {
                gen_error(w, c, "PUBLISH properties malformed");
                return;
            }
            uint8_t d = b[pos++];
            plen |= (uint32_t)(d & 0x7f) << shift;
            shift += 7;
            if (!(d & 0x80))
                break;
        }
        pos += plen;
        if (pos > n) {
            gen_error(w, c, "PUBLISH properties overrun");
            return;
        }
    }
    if (qos == 1)
        mq_puback(&c->out, pid);
    else if (qos == 2)
        gen_error(w, c, "unexpected QoS 2 delivery");
    sub *s = c->sub;
    const uint8_t *pl = b + pos;
    uint32_t plen = n - pos;
    if (!s) {
        gen_error(w, c, "PUBLISH to a connection without subscriptions");
        return;
    }
    s->received++;
    if (plen < HDR_LEN) {
        s->bad++;
        return;
    }
    uint64_t ts;
    uint32_t seq, sid;
    memcpy(&ts, pl, 8);
    memcpy(&seq, pl + 8, 4);
    memcpy(&sid, pl + 12, 4);
    if (plen != (uint32_t)G.o.size)
        s->bad++;
    if (c->role == ROLE_RSUB) {
        if (!retain)
            s->not_retained++;
        if (seq >= (uint32_t)G.o.retained || sid != 0) {
            s->unexpected++;
            return;
        }
        if (s->seen[seq >> 3] & (1u << (seq & 7))) {
            if (dup)
                s->dup_redeliv++;
            else
                s->dups++;
            return;
        }
        s->seen[seq >> 3] |= (uint8_t)(1u << (seq & 7));
        w->deliv++;
        if (++s->nseen == (uint64_t)G.o.retained && !s->complete) {
            s->complete = true;
            atomic_fetch_add(&G.subs_done, 1);
        }
        return;
    }
    if (sid >= (uint32_t)G.nstreams || !s->match[sid]) {
        s->unexpected++;
        return;
    }
    if (retain)
        s->not_retained++; /* counted as "retain flag unexpected" in pubsub mode */
    uint32_t exp = s->next[sid];
    if (seq < exp) {
        if (dup)
            s->dup_redeliv++;
        else
            s->dups++;
        return;
    }
    if (seq > exp)
        s->gaps++;
    s->next[sid] = seq + 1;
    s->count[sid]++;
    w->deliv++;
    int pi = G.streams[sid].pub;
    if (w->pend[pi]++ == 0)
        w->touched[w->ntouched++] = pi;
    if (ts >= atomic_load_explicit(&G.t_meas0, memory_order_relaxed) &&
        ts < atomic_load_explicit(&G.t_meas1, memory_order_relaxed) && w->now > ts)
        hist_add(&w->lat, w->now - ts);
}

static void become_ready(conn *c)
{
    c->state = CS_READY;
    conn_settled(c);
    atomic_fetch_add(&G.ready, 1);
}

static void send_subscribe(conn *c)
{
    sub *s = c->sub;
    mq_subscribe(&c->out, G.o.mqtt, 1, s->filters, s->nfilters,
                 G.o.mode == MODE_RETAINED ? 1 : G.o.qos);
    c->state = CS_SUBSCRIBING;
    conn_flush(c);
}

/* Returns -1 when the connection was closed or recycled. */
static int on_packet(conn *c, uint8_t b0, const uint8_t *b, uint32_t n)
{
    worker *w = c->w;
    switch (b0 >> 4) {
    case 2: /* CONNACK */
        if (c->state != CS_MQTT || n < 2) {
            conn_fail(c, "unexpected CONNACK");
            return -1;
        }
        if (b[1] != 0) {
            conn_fail(c, "CONNACK refused, code 0x%02x", b[1]);
            return -1;
        }
        if (G.o.mqtt == 5 && c->pub) {
            uint32_t rm = 65535;
            if (mq_connack_props(b + 2, n - 2, &rm) != 0) {
                conn_fail(c, "CONNACK properties malformed");
                return -1;
            }
            if (rm && rm < c->pub->max_inflight)
                c->pub->max_inflight = rm;
        }
        switch (c->role) {
        case ROLE_SUB:
            send_subscribe(c);
            return c->state == CS_DEAD ? -1 : 0;
        case ROLE_STORM: {
            uint64_t now = now_ns();
            if (c->t0 >= atomic_load(&G.t_meas0) && now < atomic_load(&G.t_meas1))
                hist_add(&w->hs, now - c->t0);
            w->done++;
            conn_settled(c);
            mq_disconnect(&c->out, G.o.mqtt);
            if (c->ssl)
                SSL_write(c->ssl, c->out.p, (int)c->out.len);
            else if (send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL) < 0) {
                /* the reset below ends it anyway */
            }
            conn_close(c, true);
            c->state = CS_NEW;
            if (atomic_load(&G.storm_on))
                sq_push(c);
            return -1;
        }
        default:
            become_ready(c);
            return 0;
        }
    case 9: /* SUBACK */
        if (c->state != CS_SUBSCRIBING || n < 3 || be16(b) != 1) {
            conn_fail(c, "unexpected SUBACK");
            return -1;
        }
        {
            uint32_t pos = 2;
            if (G.o.mqtt == 5) {
                uint32_t plen = b[pos++];
                if (plen & 0x80) {
                    conn_fail(c, "SUBACK properties too long");
                    return -1;
                }
                pos += plen;
            }
            if (pos + (uint32_t)c->sub->nfilters != n) {
                conn_fail(c, "SUBACK with %u codes for %d filters", n - pos, c->sub->nfilters);
                return -1;
            }
            for (; pos < n; pos++) {
                if (b[pos] >= 0x80) {
                    conn_fail(c, "subscription refused, code 0x%02x", b[pos]);
                    return -1;
                }
            }
        }
        if (c->role == ROLE_RSUB)
            c->state = CS_READY;
        else
            become_ready(c);
        return 0;
    case 3: /* PUBLISH */
        if (c->state != CS_READY && c->state != CS_SUBSCRIBING) {
            conn_fail(c, "PUBLISH before the subscription");
            return -1;
        }
        on_publish(c, b0, b, n);
        return 0;
    case 4: { /* PUBACK */
        pub *p = c->pub;
        if (!p || n < 2) {
            conn_fail(c, "unexpected PUBACK");
            return -1;
        }
        uint16_t id = be16(b);
        if (!(p->pidmap[id >> 3] & (1u << (id & 7)))) {
            p->bad_acks++;
            return 0;
        }
        if (n >= 3 && b[2] >= 0x80) {
            conn_fail(c, "PUBACK with reason 0x%02x", b[2]);
            return -1;
        }
        p->pidmap[id >> 3] &= (uint8_t) ~(1u << (id & 7));
        p->inflight--;
        p->acked++;
        if (c->role == ROLE_RPUB)
            w->done++; /* the retained run counts stored messages here */
        return 0;
    }
    case 13: /* PINGRESP */
        return 0;
    case 14: /* DISCONNECT */
        conn_fail(c, "DISCONNECT from the broker, reason 0x%02x", n ? b[0] : 0);
        return -1;
    default:
        conn_fail(c, "unexpected packet type %d", b0 >> 4);
        return -1;
    }
}

/* Parse whole packets; returns bytes consumed or -1 if the connection went. */
static long parse(conn *c, const uint8_t *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        uint32_t hl, rem;
        int r = mq_frame(buf + pos, len - pos, &hl, &rem);
        if (r == 0)
            break;
        if (r < 0) {
            conn_fail(c, "malformed remaining length");
            return -1;
        }
        uint8_t b0 = buf[pos];
        const uint8_t *body = buf + pos + hl;
        pos += hl + rem;
        if (on_packet(c, b0, body, rem) < 0)
            return -1;
    }
    return (long)pos;
}

/* Read what is there, parse it, flush what that produced (PUBACKs). Returns
 * -1 when the connection was closed or recycled. */
static int conn_read(conn *c)
{
    worker *w = c->w;
    for (int round = 0; round < 8; round++) {
        size_t have = c->llen;
        if (have + 65536 > w->scap) {
            size_t cap = w->scap * 2;
            while (have + 65536 > cap)
                cap *= 2;
            uint8_t *p = realloc(w->scratch, cap);
            if (!p) {
                perror("realloc");
                exit(2);
            }
            w->scratch = p;
            w->scap = cap;
        }
        if (have)
            memcpy(w->scratch, c->lbuf, have);
        size_t got = 0;
        bool eof = false, drained = false;
        if (c->ssl) {
            while (have + got < w->scap) {
                ERR_clear_error();
                int k = SSL_read(c->ssl, w->scratch + have + got, (int)(w->scap - have - got));
                if (k > 0) {
                    got += (size_t)k;
                    continue;
                }
                int e = SSL_get_error(c->ssl, k);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                    drained = true;
                    break;
                }
                if (e == SSL_ERROR_ZERO_RETURN ||
                    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
                    eof = true;
                    break;
                }
                conn_fail(c, "SSL_read: %s", ssl_err());
                return -1;
            }
        } else {
            ssize_t r = recv(c->fd, w->scratch + have, w->scap - have, 0);
            if (r > 0) {
                got = (size_t)r;
                drained = got < w->scap - have;
            } else if (r == 0) {
                eof = true;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                drained = true;
            } else {
                conn_fail(c, "recv: %s", strerror(errno));
                return -1;
            }
        }
        w->now = now_ns();
        size_t total = have + got;
        long used = parse(c, w->scratch, total);
        if (used < 0)
            return -1;
        size_t left = total - (size_t)used;
        if (left > c->lcap) {
            uint8_t *p = realloc(c->lbuf, left);
            if (!p) {
                perror("realloc");
                exit(2);
            }
            c->lbuf = p;
            c->lcap = (uint32_t)left;
        }
        if (left)
            memmove(c->lbuf, w->scratch + used, left);
        c->llen = (uint32_t)left;
        if (eof) {
            if (wb_pending(&c->out))
                conn_flush(c);
            conn_fail(c, "connection closed by the broker");
            return -1;
        }
        if (drained && !(c->ssl && SSL_has_pending(c->ssl)))
            break;
    }
    if (wb_pending(&c->out) && conn_flush(c) < 0)
        return -1;
    return 0;
}

static void conn_event(conn *c, uint32_t ev)
{
    switch (c->state) {
    case CS_TCP: {
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) == 0 && err) {
            conn_fail(c, "connect: %s", strerror(err));
            return;
        }
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (G.ctx) {
            c->ssl = SSL_new(G.ctx);
            if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
                conn_fail(c, "SSL_new: %s", ssl_err());
                return;
            }
            SSL_set_connect_state(c->ssl);
            c->state = CS_TLS;
            tls_step(c);
        } else {
            conn_arm(c, true, false);
            send_connect(c);
        }
        return;
    }
    case CS_TLS:
        tls_step(c);
        return;
    case CS_NEW:
    case CS_DEAD:
        return;
    default:
        if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && conn_read(c) < 0)
            return;
        if ((ev & EPOLLOUT) && c->state != CS_DEAD && c->state != CS_NEW)
            conn_flush(c);
    }
}

/* ---- the loop ---------------------------------------------------------- */

static void start_pending(worker *w)
{
    int limit = G.o.mode == MODE_STORM ? INT_MAX : G.o.parallel;
    while (SQ.n > 0 && w->connecting < limit) {
        int ph = atomic_load(&G.phase);
        if (ph == PH_QUIT || (G.o.mode == MODE_STORM && !atomic_load(&G.storm_on)))
            return;
        conn_start(w, sq_pop());
    }
}

static void arm_timer(worker *w)
{
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < w->npubs; i++) {
        pub *p = w->pubs[i];
        if (p->c->state == CS_READY && p->t_start && p->next_due < next)
            next = p->next_due;
    }
    if (next == UINT64_MAX || next == w->tfd_armed)
        return;
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(next / 1000000000ull),
                                          .tv_nsec = (long)(next % 1000000000ull)}};
    timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    w->tfd_armed = next;
}

static void publish_counters(worker *w)
{
    atomic_store_explicit(&w->a_deliv, w->deliv, memory_order_relaxed);
    atomic_store_explicit(&w->a_pubs, w->npub, memory_order_relaxed);
    atomic_store_explicit(&w->a_done, w->done, memory_order_relaxed);
    atomic_store_explicit(&w->a_err, w->err, memory_order_relaxed);
}

void *worker_main(void *arg)
{
    worker *w = arg;
    SQ.cap = w->nconns ? w->nconns : 1;
    SQ.q = xcalloc((size_t)SQ.cap, sizeof *SQ.q);
    for (int i = 0; i < w->nconns; i++)
        sq_push(w->conns[i]);
    w->live = w->nconns;
    bool rsub_sent = false;
    struct epoll_event evs[512];
    for (;;) {
        int ph = atomic_load(&G.phase);
        if (ph == PH_QUIT)
            break;
        start_pending(w);
        if (G.o.mode == MODE_RETAINED && !rsub_sent && atomic_load(&G.storm_on)) {
            rsub_sent = true;
            for (int i = 0; i < w->nconns; i++) {
                conn *c = w->conns[i];
                if (c->role == ROLE_RSUB && c->state == CS_READY)
                    send_subscribe(c);
            }
        }
        bool busy = false;
        for (int i = 0; i < w->npubs; i++) {
            pub *p = w->pubs[i];
            busy |= p->c->role == ROLE_RPUB ? pump_rpub(w, p) : pump(w, p);
            if (G.o.rate > 0 && p->t_start && p->next_due <= now_ns())
                busy = true;
        }
        if (G.o.rate > 0)
            arm_timer(w);
        int n = epoll_wait(w->ep, evs, 512, busy ? 0 : 10);
        for (int i = 0; i < n; i++) {
            void *ptr = evs[i].data.ptr;
            if (ptr == &w->evfd) {
                uint64_t v;
                if (read(w->evfd, &v, sizeof v) < 0) {
                    /* spurious: nothing to drain */
                }
                continue;
            }
            if (ptr == &w->tfd) {
                uint64_t v;
                if (read(w->tfd, &v, sizeof v) < 0) {
                    /* not expired yet */
                }
                w->tfd_armed = 0;
                continue;
            }
            conn_event(ptr, evs[i].events);
        }
        flush_deliveries(w);
        publish_counters(w);
    }
    /* quit: a DISCONNECT for the working connections of a pub/sub run, a
     * reset for the rest */
    for (int i = 0; i < w->nconns; i++) {
        conn *c = w->conns[i];
        if (c->pub)
            c->pub->unsent_at_quit = wb_pending(&c->out);
        if (c->sub)
            c->sub->partial_at_quit = c->llen + (c->ssl ? (uint64_t)SSL_pending(c->ssl) : 0);
        if (c->fd < 0)
            continue;
        bool graceful = c->state == CS_READY && G.o.mode != MODE_IDLE && G.o.mode != MODE_STORM;
        if (graceful) {
            c->out.len = c->out.off = 0;
            mq_disconnect(&c->out, G.o.mqtt);
            if (c->ssl)
                SSL_write(c->ssl, c->out.p, (int)c->out.len);
            else if (send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL) < 0) {
                /* closing anyway */
            }
        }
        conn_close(c, !graceful);
    }
    publish_counters(w);
    free(SQ.q);
    return NULL;
}
