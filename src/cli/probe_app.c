/* SPDX-License-Identifier: Apache-2.0 */
/* The probe's application step over the established TLS connection: an
 * MQTT CONNECT and its CONNACK (mqtt/codec.h), the same inside WebSocket
 * binary frames after an upgrade (ws/ws.h, http/http.h), or one HTTP GET.
 * And, when the handshake never saw TLS, the same port tried in plain text
 * to say what it is instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cli/probe.h"
#include "http/http.h"
#include "mqtt/codec.h"
#include "ws/ws.h"

#ifndef MOAT_VERSION
#define MOAT_VERSION "dev"
#endif

#define MAX_HEAD 16384

/* ------------------------------------------------------------ words */

static const struct {
    uint8_t rc;
    const char *text;
} v5_reasons[] = {
    {0x00, "Success"},
    {0x80, "Unspecified error"},
    {0x81, "Malformed packet"},
    {0x82, "Protocol error"},
    {0x83, "Implementation specific error"},
    {0x84, "Unsupported protocol version"},
    {0x85, "Client identifier not valid"},
    {0x86, "Bad user name or password"},
    {0x87, "Not authorized"},
    {0x88, "Server unavailable"},
    {0x89, "Server busy"},
    {0x8A, "Banned"},
    {0x8C, "Bad authentication method"},
    {0x90, "Topic name invalid"},
    {0x95, "Packet too large"},
    {0x97, "Quota exceeded"},
    {0x99, "Payload format invalid"},
    {0x9A, "Retain not supported"},
    {0x9B, "QoS not supported"},
    {0x9C, "Use another server"},
    {0x9D, "Server moved"},
    {0x9F, "Connection rate exceeded"},
};

static const char *const v3_returns[] = {
    "Connection accepted", "Unacceptable protocol version", "Identifier rejected",
    "Server unavailable",  "Bad user name or password",     "Not authorized",
};

const char *probe_connack_text(uint8_t version, uint8_t rc)
{
    if (version != MQTT_V5)
        return rc < 6 ? v3_returns[rc] : "Reserved return code";
    for (size_t i = 0; i < sizeof v5_reasons / sizeof v5_reasons[0]; i++)
        if (v5_reasons[i].rc == rc)
            return v5_reasons[i].text;
    return "Unknown reason code";
}

/* Bytes as text for a report: printable ASCII kept, the rest as \xNN. */
static void printable(const uint8_t *p, size_t n, char *out, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < len; i++) {
        uint8_t b = p[i];
        if (b >= 0x20 && b < 0x7F)
            out[o++] = (char)b;
        else if (b == '\r' || b == '\n')
            out[o++] = ' ';
        else
            o += (size_t)snprintf(out + o, len - o, "\\x%02x", b);
    }
    out[o] = '\0';
}

/* ------------------------------------------------------------ stream */

/* MQTT bytes over the connection, inside WebSocket frames or not. */
typedef struct stream {
    probe_conn *c;
    bool ws;
    moat_ws_decoder dec;
    uint8_t data[65536]; /* received application bytes not consumed yet */
    size_t len;
    bool eof;       /* TLS or TCP close */
    bool ws_closed; /* a close frame */
    uint16_t close_code;
    char close_reason[128];
    char ws_error[96];
} stream;

static int stream_send(stream *s, const uint8_t *p, size_t n)
{
    if (!s->ws)
        return probe_send(s->c, p, n);
    /* Client frames are masked (RFC 6455 5.3) with a fresh random key. */
    uint8_t mask[4], hdr[14];
    if (RAND_bytes(mask, sizeof mask) != 1)
        return -1;
    size_t hl = moat_ws_frame_header(hdr, MOAT_WS_OP_BINARY, true, n, mask);
    uint8_t *f = malloc(hl + n);
    if (!f)
        return -1;
    memcpy(f, hdr, hl);
    memcpy(f + hl, p, n);
    moat_ws_mask(f + hl, n, mask, 0);
    int rc = probe_send(s->c, f, hl + n);
    free(f);
    return rc;
}

/* Append raw bytes from the wire: as they are, or decoded from frames. */
static void stream_feed(stream *s, uint8_t *raw, size_t n)
{
    if (!s->ws) {
        size_t k = n < sizeof s->data - s->len ? n : sizeof s->data - s->len;
        memcpy(s->data + s->len, raw, k);
        s->len += k;
        return;
    }
    size_t in = 0, out = 0;
    for (;;) {
        moat_ws_event ev;
        moat_ws_decode(&s->dec, raw, n, &in, &out, &ev);
        if (ev.type == MOAT_WS_EV_NONE)
            break;
        if (ev.type == MOAT_WS_EV_CLOSE) {
            s->ws_closed = true;
            s->close_code = ev.close_code;
            printable(ev.data, ev.len, s->close_reason, sizeof s->close_reason);
            break;
        }
        if (ev.type == MOAT_WS_EV_ERROR) {
            snprintf(s->ws_error, sizeof s->ws_error, "%s", ev.why ? ev.why : "bad frame");
            break;
        }
    }
    size_t k = out < sizeof s->data - s->len ? out : sizeof s->data - s->len;
    memcpy(s->data + s->len, raw, k);
    s->len += k;
}

/* Read until one whole MQTT packet is buffered. 1 yes, 0 closed first,
 * -1 error or timeout. */
static int stream_packet(stream *s, size_t *plen)
{
    for (;;) {
        size_t hl;
        uint32_t rem;
        moat_err e = mqtt_frame(s->data, s->len, &hl, &rem);
        if (e == MOAT_OK && s->len >= hl + rem) {
            *plen = hl + rem;
            return 1;
        }
        if (e != MOAT_OK && e != MOAT_ENEEDMORE)
            return -1;
        if (s->eof || s->ws_closed || s->ws_error[0])
            return 0;
        if (s->len == sizeof s->data)
            return -1; /* far more than any CONNACK */
        uint8_t buf[16384];
        long n = probe_recv(s->c, buf, sizeof buf);
        if (n < 0)
            return -1;
        if (n == 0)
            s->eof = true;
        else
            stream_feed(s, buf, (size_t)n);
    }
}

/* ------------------------------------------------------------ MQTT */

static void add_prop(probe_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_prop(probe_result *r, const char *fmt, ...)
{
    if (r->n_connack_props == PROBE_MAX_HEADERS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->connack_props[r->n_connack_props++], sizeof r->connack_props[0], fmt, ap);
    va_end(ap);
}

static void connack_props(probe_result *r, const mqtt_props *p)
{
    char s[128];
    if (p->has & MQTT_HAS(MQTT_PROP_REASON_STRING)) {
        printable(p->reason_string.p, p->reason_string.len, s, sizeof s);
        add_prop(r, "reason string: %s", s);
    }
    if (p->has & MQTT_HAS(MQTT_PROP_ASSIGNED_CLIENT_ID)) {
        printable(p->assigned_client_id.p, p->assigned_client_id.len, s, sizeof s);
        add_prop(r, "assigned client id: %s", s);
    }
    if (p->has & MQTT_HAS(MQTT_PROP_SERVER_REFERENCE)) {
        printable(p->server_reference.p, p->server_reference.len, s, sizeof s);
        add_prop(r, "server reference: %s", s);
    }
    if (p->has & MQTT_HAS(MQTT_PROP_SERVER_KEEP_ALIVE))
        add_prop(r, "server keep alive: %u s", p->server_keep_alive);
    if (p->has & MQTT_HAS(MQTT_PROP_MAX_PACKET_SIZE))
        add_prop(r, "maximum packet size: %u", p->max_packet_size);
    if (p->has & MQTT_HAS(MQTT_PROP_RECEIVE_MAX))
        add_prop(r, "receive maximum: %u", p->receive_max);
    if (p->has & MQTT_HAS(MQTT_PROP_MAX_QOS))
        add_prop(r, "maximum QoS: %u", p->max_qos);
    if (p->has & MQTT_HAS(MQTT_PROP_RETAIN_AVAILABLE))
        add_prop(r, "retain available: %s", p->retain_available ? "yes" : "no");
}

static bool mqtt_step(const probe_opts *o, stream *s)
{
    probe_result *r = s->c->res;
    uint8_t ver = (uint8_t)o->mqtt_version;
    if (o->client_id)
        snprintf(r->client_id, sizeof r->client_id, "%s", o->client_id);
    else
        snprintf(r->client_id, sizeof r->client_id, "moat-probe-%ld", (long)getpid());
    r->mqtt_version = ver;

    mqtt_packet p = {.type = MQTT_CONNECT};
    p.u.connect.protocol_version = ver;
    p.u.connect.clean_start = true;
    p.u.connect.keep_alive = 30;
    p.u.connect.client_id =
        (mqtt_bin){(const uint8_t *)r->client_id, (uint32_t)strlen(r->client_id)};
    if (o->username) {
        p.u.connect.has_username = true;
        p.u.connect.username =
            (mqtt_bin){(const uint8_t *)o->username, (uint32_t)strlen(o->username)};
    }
    if (o->password) {
        p.u.connect.has_password = true;
        p.u.connect.password =
            (mqtt_bin){(const uint8_t *)o->password, (uint32_t)strlen(o->password)};
    }
    moat_buf out = MOAT_BUF_INIT;
    if (mqtt_encode(&p, ver, &out, NULL) != MOAT_OK) {
        snprintf(r->app_summary, sizeof r->app_summary, "cannot encode the CONNECT packet");
        moat_buf_free(&out);
        return false;
    }
    int sent = stream_send(s, moat_buf_head(&out), moat_buf_avail(&out));
    moat_buf_free(&out);
    /* Even when the send failed, the server may have said why (an alert). */
    size_t plen = 0;
    int got = stream_packet(s, &plen);
    if (got != 1) {
        if (r->timed_out && !r->timeout_step)
            r->timeout_step = "CONNACK";
        if (s->ws_closed)
            snprintf(r->app_summary, sizeof r->app_summary,
                     "the server closed the WebSocket (code %u%s%s) instead of answering our "
                     "CONNECT",
                     s->close_code, s->close_reason[0] ? ": " : "", s->close_reason);
        else if (s->ws_error[0])
            snprintf(r->app_summary, sizeof r->app_summary,
                     "the server sent an invalid WebSocket frame: %s", s->ws_error);
        else if (got == -1 && !r->timed_out && s->len)
            snprintf(r->app_summary, sizeof r->app_summary,
                     "the server answered our CONNECT with bytes that are not MQTT");
        else
            snprintf(r->app_summary, sizeof r->app_summary, "%s",
                     r->timed_out ? "no CONNACK within the timeout"
                     : sent != 0  ? "the connection broke while sending our CONNECT"
                                  : "the server closed the connection without a CONNACK");
        return false;
    }
    mqtt_packet in;
    size_t used;
    moat_err e = mqtt_decode(s->data, plen, ver, &in, &used);
    /* A server without MQTT 5 answers a v5 CONNECT in its own version. */
    if (e != MOAT_OK && ver == MQTT_V5 && plen == 4 && s->data[0] == (MQTT_CONNACK << 4) &&
        mqtt_decode(s->data, plen, MQTT_V311, &in, &used) == MOAT_OK) {
        r->mqtt_version = MQTT_V311;
        e = MOAT_OK;
    }
    if (e != MOAT_OK) {
        snprintf(r->app_summary, sizeof r->app_summary,
                 "the server's answer is not valid MQTT (%s)", moat_strerror(e));
        return false;
    }
    if (in.type == MQTT_DISCONNECT) {
        r->connack_rc = in.u.disconnect.reason;
        snprintf(r->app_summary, sizeof r->app_summary,
                 "the server answered with DISCONNECT 0x%02X (%s) instead of a CONNACK",
                 in.u.disconnect.reason, probe_connack_text(MQTT_V5, in.u.disconnect.reason));
        return false;
    }
    if (in.type != MQTT_CONNACK) {
        snprintf(r->app_summary, sizeof r->app_summary,
                 "the server answered with %s instead of a CONNACK", mqtt_packet_name(in.type));
        return false;
    }
    r->connack = true;
    r->connack_rc = in.u.connack.reason;
    r->session_present = in.u.connack.session_present;
    if (r->mqtt_version == MQTT_V5)
        connack_props(r, &in.props);
    snprintf(r->app_summary, sizeof r->app_summary, "CONNACK 0x%02X %s", r->connack_rc,
             probe_connack_text(r->mqtt_version, r->connack_rc));
    if (r->connack_rc != 0)
        return false;
    /* A polite goodbye: DISCONNECT, so the broker logs a normal close. */
    mqtt_packet d = {.type = MQTT_DISCONNECT};
    moat_buf db = MOAT_BUF_INIT;
    if (mqtt_encode(&d, r->mqtt_version, &db, NULL) == MOAT_OK)
        stream_send(s, moat_buf_head(&db), moat_buf_avail(&db));
    moat_buf_free(&db);
    return true;
}

/* ------------------------------------------------------------ HTTP */

static void host_header(const probe_opts *o, char *out, size_t len)
{
    const char *name = probe_name(o);
    bool v6 = strchr(name, ':') != NULL;
    snprintf(out, len, "%s%s%s%s%s", v6 ? "[" : "", name, v6 ? "]" : "",
             strcmp(o->port, "443") ? ":" : "", strcmp(o->port, "443") ? o->port : "");
}

static const char *const shown_headers[] = {"Server",
                                            "Content-Type",
                                            "Content-Length",
                                            "Location",
                                            "Strict-Transport-Security",
                                            "WWW-Authenticate",
                                            "Sec-WebSocket-Protocol",
                                            "Upgrade"};

/* Read a response head (and keep what follows it in s). 1 parsed, 0 the
 * server closed first, -1 not HTTP or an error (summary set). */
static int read_head(stream *s, moat_http_response *h, uint8_t *buf, size_t *len)
{
    probe_result *r = s->c->res;
    *len = 0;
    for (;;) {
        const char *why = "";
        moat_err e = *len ? moat_http_parse_response(buf, *len, MAX_HEAD, h, &why) : MOAT_ENEEDMORE;
        if (e == MOAT_OK)
            return 1;
        if (e != MOAT_ENEEDMORE) {
            char shown[80];
            printable(buf, *len < 40 ? *len : 40, shown, sizeof shown);
            snprintf(r->app_summary, sizeof r->app_summary,
                     "the server's answer is not HTTP (%s): \"%s\"", why, shown);
            return -1;
        }
        long n = probe_recv(s->c, buf + *len, MAX_HEAD - *len);
        if (n < 0) {
            if (r->timed_out && !r->timeout_step)
                r->timeout_step = "HTTP response";
            snprintf(r->app_summary, sizeof r->app_summary, "%s",
                     r->timed_out ? "no HTTP response within the timeout"
                                  : "the connection broke before an HTTP response");
            return -1;
        }
        if (n == 0) {
            snprintf(r->app_summary, sizeof r->app_summary,
                     "the server closed the connection without an HTTP response");
            return 0;
        }
        *len += (size_t)n;
    }
}

static void record_head(probe_result *r, const moat_http_response *h)
{
    r->http_status = h->status;
    snprintf(r->http_reason, sizeof r->http_reason, "%.*s", (int)h->reason.len, h->reason.p);
    for (size_t i = 0; i < sizeof shown_headers / sizeof shown_headers[0]; i++) {
        const moat_http_str *v = moat_http_response_header(h, shown_headers[i]);
        if (v && r->n_http_headers < PROBE_MAX_HEADERS)
            snprintf(r->http_headers[r->n_http_headers++], sizeof r->http_headers[0], "%s: %.*s",
                     shown_headers[i], (int)(v->len > 120 ? 120 : v->len), v->p);
    }
}

/* The start of a refusal's body: moat says there what was wrong. */
static void read_body_start(stream *s, const moat_http_response *h, const uint8_t *buf, size_t len)
{
    probe_result *r = s->c->res;
    uint8_t body[160];
    size_t n = len - h->head_len;
    if (n > sizeof body)
        n = sizeof body;
    memcpy(body, buf + h->head_len, n);
    size_t want = h->content_length >= 0 && (size_t)h->content_length < sizeof body
                      ? (size_t)h->content_length
                      : sizeof body;
    while (n < want) {
        long k = probe_recv(s->c, body + n, want - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    printable(body, n, r->http_body, sizeof r->http_body);
    /* Trim the trailing blanks a text body ends with. */
    size_t l = strlen(r->http_body);
    while (l && r->http_body[l - 1] == ' ')
        r->http_body[--l] = '\0';
}

static bool wss_step(const probe_opts *o, stream *s)
{
    probe_result *r = s->c->res;
    uint8_t nonce[16];
    char key[32], expect[32], host[300];
    if (RAND_bytes(nonce, sizeof nonce) != 1)
        return false;
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof nonce);
    moat_ws_accept_key(key, strlen(key), expect);
    host_header(o, host, sizeof host);
    const char *proto = o->mqtt_version == MQTT_V31 ? "mqttv3.1" : "mqtt";
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: "
                     "Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: "
                     "13\r\nSec-WebSocket-Protocol: %s\r\nUser-Agent: moat-certs-probe/%s\r\n\r\n",
                     o->path, host, key, proto, MOAT_VERSION);
    if (n <= 0 || (size_t)n >= sizeof req || probe_send(s->c, req, (size_t)n) != 0) {
        snprintf(r->app_summary, sizeof r->app_summary,
                 "the connection broke while sending the upgrade request");
        return false;
    }
    static uint8_t buf[MAX_HEAD];
    size_t len;
    moat_http_response h;
    if (read_head(s, &h, buf, &len) != 1)
        return false;
    record_head(r, &h);
    if (h.status != 101) {
        read_body_start(s, &h, buf, len);
        snprintf(r->app_summary, sizeof r->app_summary, "upgrade refused: HTTP %d %s", h.status,
                 r->http_reason);
        return false;
    }
    const moat_http_str *acc = moat_http_response_header(&h, "sec-websocket-accept");
    r->ws_accept_ok = acc && acc->len == strlen(expect) && !memcmp(acc->p, expect, acc->len);
    const moat_http_str *pr = moat_http_response_header(&h, "sec-websocket-protocol");
    if (pr)
        snprintf(r->ws_protocol, sizeof r->ws_protocol, "%.*s", (int)pr->len, pr->p);
    if (!r->ws_accept_ok) {
        snprintf(r->app_summary, sizeof r->app_summary,
                 "the server's Sec-WebSocket-Accept does not match our key (a proxy that "
                 "rewrote the upgrade?)");
        return false;
    }
    s->ws = true;
    s->dec.require_mask = false;
    /* Frames that came with the 101 belong to the WebSocket stream. */
    if (len > h.head_len)
        stream_feed(s, buf + h.head_len, len - h.head_len);
    bool ok = mqtt_step(o, s);
    if (ok) {
        moat_buf cf = MOAT_BUF_INIT;
        /* Our close frame must be masked like every client frame. */
        if (moat_ws_close_frame(&cf, MOAT_WS_CLOSE_NORMAL, "") == MOAT_OK && cf.len >= 2) {
            uint8_t mask[4] = {0};
            RAND_bytes(mask, sizeof mask);
            uint8_t hdr[14];
            size_t pl = moat_buf_avail(&cf) - 2;
            size_t hl = moat_ws_frame_header(hdr, MOAT_WS_OP_CLOSE, true, pl, mask);
            uint8_t frame[14 + 125];
            memcpy(frame, hdr, hl);
            memcpy(frame + hl, moat_buf_head(&cf) + 2, pl);
            moat_ws_mask(frame + hl, pl, mask, 0);
            probe_send(s->c, frame, hl + pl);
        }
        moat_buf_free(&cf);
    }
    return ok;
}

static bool https_step(const probe_opts *o, stream *s)
{
    probe_result *r = s->c->res;
    char host[300], req[2048];
    host_header(o, host, sizeof host);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: moat-certs-probe/%s\r\nAccept: "
                     "*/*\r\nConnection: close\r\n\r\n",
                     o->path, host, MOAT_VERSION);
    if (n <= 0 || (size_t)n >= sizeof req || probe_send(s->c, req, (size_t)n) != 0) {
        snprintf(r->app_summary, sizeof r->app_summary,
                 "the connection broke while sending the request");
        return false;
    }
    static uint8_t buf[MAX_HEAD];
    size_t len;
    moat_http_response h;
    if (read_head(s, &h, buf, &len) != 1)
        return false;
    record_head(r, &h);
    snprintf(r->app_summary, sizeof r->app_summary, "HTTP/1.%d %d %s", h.version_minor, h.status,
             r->http_reason);
    if (h.status >= 400)
        read_body_start(s, &h, buf, len);
    return h.status >= 200 && h.status < 400;
}

bool probe_app_run(const probe_opts *o, probe_conn *c)
{
    probe_result *r = c->res;
    if (o->app == PROBE_TLS_ONLY)
        return true;
    static stream s;
    memset(&s, 0, sizeof s);
    s.c = c;
    r->app_tried = true;
    switch (o->app) {
    case PROBE_WSS:
        r->app_ok = wss_step(o, &s);
        break;
    case PROBE_HTTPS:
        r->app_ok = https_step(o, &s);
        break;
    default:
        r->app_ok = mqtt_step(o, &s);
    }
    return r->app_ok;
}

/* ------------------------------------------------------------ plain text */

static void describe_plain(const uint8_t *b, size_t n, char *out, size_t len)
{
    char shown[96];
    printable(b, n < 48 ? n : 48, shown, sizeof shown);
    if (n >= 5 && !memcmp(b, "HTTP/", 5)) {
        size_t e = 0;
        while (e < n && e < 60 && b[e] != '\r' && b[e] != '\n')
            e++;
        snprintf(out, len, "plain HTTP (it answered \"%.*s\" without TLS)", (int)e,
                 (const char *)b);
    } else if (n >= 2 && b[0] == (MQTT_CONNACK << 4)) {
        uint8_t rc = n >= 4 ? b[3] : 0;
        snprintf(out, len, "plain MQTT (it answered a CONNACK without TLS, return code %u)", rc);
    } else if (strstr(shown, "<html") || strstr(shown, "<HTML") || strstr(shown, "<!DOCTYPE")) {
        snprintf(out, len, "plain HTTP (it answered with an HTML page without TLS)");
    } else if (n >= 4 && !memcmp(b, "SSH-", 4)) {
        snprintf(out, len, "SSH (\"%s\")", shown);
    } else {
        snprintf(out, len, "an unknown protocol (it sent \"%s\")", shown);
    }
}

/* One plain-text attempt: an MQTT CONNECT or an HTTP GET. True when the
 * server answered (res->plain describes it). */
static bool plain_try(const probe_opts *o, probe_result *res, bool mqtt)
{
    probe_result tmp;
    probe_result_init(&tmp);
    probe_conn c = {.fd = -1};
    if (probe_connect(o, &c, &tmp) != 0) {
        probe_result_free(&tmp);
        return false;
    }
    uint8_t msg[512];
    size_t n = 0;
    if (mqtt) {
        mqtt_packet p = {.type = MQTT_CONNECT};
        p.u.connect.protocol_version = MQTT_V311;
        p.u.connect.clean_start = true;
        p.u.connect.client_id = (mqtt_bin){(const uint8_t *)"moat-probe-plain", 16};
        moat_buf b = MOAT_BUF_INIT;
        if (mqtt_encode(&p, MQTT_V311, &b, NULL) == MOAT_OK && b.len <= sizeof msg) {
            n = moat_buf_avail(&b);
            memcpy(msg, moat_buf_head(&b), n);
        }
        moat_buf_free(&b);
    } else {
        char host[300];
        host_header(o, host, sizeof host);
        n = (size_t)snprintf((char *)msg, sizeof msg,
                             "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
    }
    uint8_t buf[256];
    long got = -1;
    if (n && probe_send(&c, msg, n) == 0)
        got = probe_recv(&c, buf, sizeof buf);
    if (got > 0)
        describe_plain(buf, (size_t)got, res->plain, sizeof res->plain);
    if (tmp.timed_out)
        res->timed_out = true;
    probe_close(&c);
    probe_result_free(&tmp);
    return got > 0;
}

void probe_plain_check(const probe_opts *o, probe_result *res)
{
    /* What the server said to our ClientHello settles it when it said
     * anything that is not TLS. */
    if (res->n_first > 0) {
        describe_plain(res->first, res->n_first, res->plain, sizeof res->plain);
        return;
    }
    /* Otherwise ask in plain text: the protocol expected first, then the
     * other (a plain MQTT port probed with --wss, or the reverse). */
    bool mqtt_first = o->app == PROBE_MQTT || o->app == PROBE_TLS_ONLY;
    if (!plain_try(o, res, mqtt_first))
        plain_try(o, res, !mqtt_first);
}
