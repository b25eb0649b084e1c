/* SPDX-License-Identifier: Apache-2.0 */
/* The probe's connection: TCP with a deadline per step, and TLS over two
 * memory BIOs that we pump ourselves. Pumping by hand costs a few lines and
 * buys what a socket BIO hides: the server's first raw bytes (to tell a
 * plain MQTT or HTTP port from a TLS one), whether it closed or reset, and
 * one poll() deadline for every wait. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "cli/probe.h"

/* ------------------------------------------------------------ results */

void probe_result_init(probe_result *r)
{
    memset(r, 0, sizeof *r);
    r->alert_in = r->alert_out = -1;
    r->ocsp_cert_status = r->ocsp_reason = -1;
    r->cert_required = -1;
}

void probe_result_free(probe_result *r)
{
    sk_X509_pop_free(r->sent, X509_free);
    sk_X509_pop_free(r->verified, X509_free);
    sk_X509_pop_free(r->trust_certs, X509_free);
    sk_X509_NAME_pop_free(r->ca_names, X509_NAME_free);
    for (int i = 0; i < r->n_verr; i++)
        X509_free(r->verr[i].cert);
    for (int i = 0; i < r->n_findings; i++) {
        free(r->findings[i].message);
        free(r->findings[i].fix);
    }
    memset(r, 0, sizeof *r);
}

void probe_add(probe_result *r, const char *topic, bool problem, const char *fix, const char *fmt,
               ...)
{
    if (r->n_findings == PROBE_MAX_FINDINGS)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    probe_finding *f = &r->findings[r->n_findings];
    f->topic = topic;
    f->problem = problem;
    f->message = strdup(msg);
    f->fix = fix ? strdup(fix) : NULL;
    if (f->message)
        r->n_findings++;
}

const char *probe_fmt(const char *fmt, ...)
{
    static char bufs[8][1536];
    static int next;
    char *b = bufs[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

bool probe_is_ip(const char *s)
{
    unsigned char a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* ------------------------------------------------------------ time */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until the deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* ------------------------------------------------------------ TCP */

static void addr_str(const struct sockaddr *sa, char *out, size_t len)
{
    char h[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, h, sizeof h);
        port = ntohs(in->sin_port);
        snprintf(out, len, "%s:%d", h, port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, h, sizeof h);
        port = ntohs(in6->sin6_port);
        snprintf(out, len, "[%s]:%d", h, port);
    }
}

/* One address: 0 connected, else the errno (ETIMEDOUT for our deadline). */
static int connect_one(const struct addrinfo *ai, int timeout_ms, int *fd_out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int err = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, now_ms() + timeout_ms);
            socklen_t sl = sizeof err;
            if (w == 0)
                err = ETIMEDOUT;
            else if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0)
                err = errno;
        }
    }
    if (err) {
        close(fd);
        return err;
    }
    *fd_out = fd;
    return 0;
}

int probe_connect(const probe_opts *o, probe_conn *c, probe_result *res)
{
    c->fd = -1;
    c->res = res;
    c->timeout_ms = o->timeout_ms;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list = NULL;
    int g = getaddrinfo(o->host, o->port, &hints, &list);
    if (g != 0) {
        snprintf(res->net_error, sizeof res->net_error, "cannot resolve host name '%s': %s",
                 o->host, gai_strerror(g));
        return -1;
    }
    int err = 0;
    char tried[80] = "";
    for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        addr_str(ai->ai_addr, tried, sizeof tried);
        err = connect_one(ai, o->timeout_ms, &c->fd);
        if (!err) {
            snprintf(res->address, sizeof res->address, "%s", tried);
            res->connected = true;
            break;
        }
    }
    freeaddrinfo(list);
    if (res->connected)
        return 0;
    if (err == ECONNREFUSED)
        snprintf(res->net_error, sizeof res->net_error,
                 "connection refused by %s: nothing listens on port %s there", tried, o->port);
    else if (err == ETIMEDOUT)
        snprintf(res->net_error, sizeof res->net_error,
                 "no answer from %s within %d ms (a firewall dropping packets, or the wrong "
                 "address)",
                 tried, o->timeout_ms);
    else
        snprintf(res->net_error, sizeof res->net_error, "cannot connect to %s: %s", tried,
                 strerror(err));
    return -1;
}

/* ------------------------------------------------------------ raw I/O */

static void note_sock_error(probe_conn *c, int err)
{
    if (!c->res->sock_errno)
        c->res->sock_errno = err;
}

/* Send everything OpenSSL queued in the out BIO (or buf when not NULL). */
static int send_raw(probe_conn *c, const uint8_t *buf, size_t len, int64_t deadline)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = wait_fd(c->fd, POLLOUT, deadline);
            if (w == 0) {
                c->res->timed_out = true;
                return -1;
            }
            if (w > 0)
                continue;
        }
        note_sock_error(c, errno);
        return -1;
    }
    return 0;
}

static int flush_out(probe_conn *c, int64_t deadline)
{
    uint8_t buf[16384];
    int n;
    while (c->out && (n = BIO_read(c->out, buf, sizeof buf)) > 0)
        if (send_raw(c, buf, (size_t)n, deadline) != 0)
            return -1;
    return 0;
}

/* Read what the socket has (waiting until the deadline) into buf. > 0 bytes,
 * 0 end of stream, -1 error or timeout. Records the first bytes seen. */
static long read_raw(probe_conn *c, uint8_t *buf, size_t len, int64_t deadline)
{
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n > 0) {
            probe_result *r = c->res;
            if (r->n_first < sizeof r->first) {
                size_t k = sizeof r->first - r->n_first;
                if (k > (size_t)n)
                    k = (size_t)n;
                memcpy(r->first + r->n_first, buf, k);
                r->n_first += k;
            }
            r->bytes_in += (uint64_t)n;
            return (long)n;
        }
        if (n == 0) {
            c->res->peer_eof = true;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            note_sock_error(c, errno);
            return -1;
        }
        int w = wait_fd(c->fd, POLLIN, deadline);
        if (w == 0) {
            c->res->timed_out = true;
            return -1;
        }
        if (w < 0) {
            note_sock_error(c, errno);
            return -1;
        }
    }
}

/* Feed the in BIO from the socket. 1 fed, 0 end of stream (the BIO now
 * reports EOF to OpenSSL), -1 error or timeout. */
static int fill_in(probe_conn *c, int64_t deadline)
{
    uint8_t buf[16384];
    long n = read_raw(c, buf, sizeof buf, deadline);
    if (n > 0) {
        BIO_write(c->in, buf, (int)n);
        return 1;
    }
    /* From now on an empty BIO means EOF, not "try again". */
    BIO_set_mem_eof_return(c->in, 0);
    return n == 0 ? 0 : -1;
}

/* Keep OpenSSL's reason ("unexpected eof while reading"), the first one. */
static void ssl_error_text(probe_conn *c)
{
    probe_result *r = c->res;
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (reason && !r->tls_error[0])
        snprintf(r->tls_error, sizeof r->tls_error, "%s", reason);
    ERR_clear_error();
}

int probe_handshake(probe_conn *c)
{
    int64_t deadline = now_ms() + c->timeout_ms;
    bool eof = false;
    for (;;) {
        ERR_clear_error();
        int rc = SSL_connect(c->ssl);
        int fl = flush_out(c, deadline); /* the ClientHello, our Finished, or an alert */
        if (rc == 1) {
            /* A failed flush of our Finished shows up at the next read. */
            (void)fl;
            c->res->hs_ok = true;
            return 1;
        }
        int e = SSL_get_error(c->ssl, rc);
        if (e == SSL_ERROR_WANT_READ && !eof) {
            int f = fill_in(c, deadline);
            if (f < 0) {
                if (c->res->timed_out)
                    c->res->timeout_step = "TLS handshake";
                ssl_error_text(c);
                return 0;
            }
            eof = f == 0;
            continue;
        }
        ssl_error_text(c);
        return 0;
    }
}

int probe_send(probe_conn *c, const void *buf, size_t len)
{
    int64_t deadline = now_ms() + c->timeout_ms;
    if (!c->ssl)
        return send_raw(c, buf, len, deadline);
    size_t off = 0;
    while (off < len) {
        ERR_clear_error();
        int n = SSL_write(c->ssl, (const uint8_t *)buf + off, (int)(len - off));
        if (n <= 0) {
            ssl_error_text(c);
            return -1;
        }
        off += (size_t)n;
    }
    return flush_out(c, deadline);
}

long probe_recv(probe_conn *c, void *buf, size_t len)
{
    int64_t deadline = now_ms() + c->timeout_ms;
    if (!c->ssl)
        return read_raw(c, buf, len, deadline);
    bool eof = false;
    for (;;) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, buf, (int)len);
        flush_out(c, deadline); /* key updates, alerts */
        if (n > 0)
            return n;
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0; /* close_notify */
        if (e == SSL_ERROR_WANT_READ && !eof) {
            int f = fill_in(c, deadline);
            if (f < 0) {
                ssl_error_text(c);
                return -1;
            }
            eof = f == 0;
            continue;
        }
        ssl_error_text(c);
        /* A TCP close without close_notify: what many servers do. */
        return c->res->peer_eof && c->res->alert_in < 0 ? 0 : -1;
    }
}

void probe_wait_alert(probe_conn *c, int ms)
{
    int saved = c->timeout_ms;
    bool timed_out = c->res->timed_out;
    uint8_t buf[512];
    c->timeout_ms = ms < saved ? ms : saved;
    probe_recv(c, buf, sizeof buf);
    c->timeout_ms = saved;
    c->res->timed_out = timed_out;
}

void probe_close(probe_conn *c)
{
    if (c->ssl) {
        if (c->res && c->res->hs_ok && !c->res->sock_errno) {
            SSL_shutdown(c->ssl);
            flush_out(c, now_ms() + 200);
        }
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}
