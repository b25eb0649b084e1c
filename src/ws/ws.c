/* SPDX-License-Identifier: Apache-2.0 */
/* WebSocket (RFC 6455): opening handshake checks, the in-place streaming
 * frame decoder, frame headers and close frames. SHA-1 and base64 come from
 * OpenSSL. */
#include "ws/ws.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

/* ---------------------------------------------------------- helpers */

/* Next element of a comma-separated list (RFC 9110 5.6.1): blanks around
 * elements dropped, empty elements skipped. Advances *list; false at the end.
 * (Subprotocols are matched exactly, so moat_http_header_has_token, which
 * ignores case, does not fit there.) */
static bool ws_list_next(moat_http_str *list, moat_http_str *item)
{
    for (;;) {
        while (list->len > 0 && (*list->p == ' ' || *list->p == '\t' || *list->p == ',')) {
            list->p++;
            list->len--;
        }
        if (list->len == 0)
            return false;
        size_t n = 0;
        while (n < list->len && list->p[n] != ',')
            n++;
        item->p = list->p;
        item->len = n;
        list->p += n;
        list->len -= n;
        while (item->len > 0 && (item->p[item->len - 1] == ' ' || item->p[item->len - 1] == '\t'))
            item->len--;
        if (item->len > 0)
            return true;
    }
}

/* ------------------------------------------------------------ handshake */

/* Our order of preference; the names clients use for MQTT over WebSocket. */
static const char *const ws_subprotocols[] = {"mqtt", "mqttv3.1", "mqtt-v3", "mqtt-v3.1.1",
                                              "mqtt-v5"};

static bool str_is(moat_http_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && (n == 0 || memcmp(s.p, lit, n) == 0);
}

/* Subprotocol names are compared exactly: a browser fails the connection
 * unless the answer is byte for byte one of its offers. */
static bool subprotocol_offered(const moat_http_request *req, const char *name)
{
    for (uint32_t i = 0; i < req->n_headers && i < MOAT_HTTP_MAX_HEADERS; i++) {
        if (!moat_http_str_eq(req->headers[i].name, "Sec-WebSocket-Protocol"))
            continue;
        moat_http_str list = req->headers[i].value, item;
        while (ws_list_next(&list, &item))
            if (str_is(item, name))
                return true;
    }
    return false;
}

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* base64 of 16 bytes is 22 characters and "==". EVP_DecodeBlock neither
 * checks nor strips the padding (it decodes 24 characters to 18 bytes), so
 * the shape is checked here and the decode only confirms the alphabet. */
static bool key_valid(moat_http_str k)
{
    if (k.len != 24 || k.p[22] != '=' || k.p[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!b64_char(k.p[i]))
            return false;
    unsigned char raw[18];
    return EVP_DecodeBlock(raw, (const unsigned char *)k.p, 24) == 18;
}

static bool origin_allowed(const moat_http_request *req, const moat_ws_upgrade_conf *conf)
{
    const moat_http_str *o = moat_http_header(req, "Origin");
    if (!o)
        return conf->allow_origin_absent;
    for (size_t i = 0; i < conf->n_allowed_origins; i++)
        if (conf->allowed_origins[i] && moat_http_str_eq(*o, conf->allowed_origins[i]))
            return true;
    return false;
}

static moat_err refuse(moat_ws_upgrade *out, int status, const char *why)
{
    out->status = status;
    out->why = why;
    return MOAT_EPROTOCOL;
}

moat_err moat_ws_check_upgrade(const moat_http_request *req, const moat_ws_upgrade_conf *conf,
                               moat_ws_upgrade *out)
{
    memset(out, 0, sizeof *out);
    if (!str_is(req->method, "GET"))
        return refuse(out, 405, "method is not GET");
    if (req->version_minor < 1)
        return refuse(out, 400, "not HTTP/1.1");
    if (!moat_http_header(req, "Host"))
        return refuse(out, 400, "no Host header");
    /* A request without Upgrade (a plain GET of the WebSocket path) is a bad
     * request here like any other broken handshake: 400, not 426. 426 is
     * kept for the one case where the client can retry, another version. */
    if (!moat_http_header_has_token(req, "Upgrade", "websocket"))
        return refuse(out, 400, "Upgrade is not websocket");
    if (!moat_http_header_has_token(req, "Connection", "upgrade"))
        return refuse(out, 400, "Connection lacks upgrade");
    const moat_http_str *v = moat_http_header(req, "Sec-WebSocket-Version");
    if (!v || !str_is(*v, "13"))
        return refuse(out, 426, "Sec-WebSocket-Version is not 13");
    const moat_http_str *key = moat_http_header(req, "Sec-WebSocket-Key");
    if (!key || !key_valid(*key))
        return refuse(out, 400, "bad Sec-WebSocket-Key");
    if (conf->path && !str_is(req->path, conf->path))
        return refuse(out, 404, "unknown path");
    if (conf->check_origin && !origin_allowed(req, conf))
        return refuse(out, 403, "Origin not allowed");
    for (size_t i = 0; i < sizeof ws_subprotocols / sizeof ws_subprotocols[0]; i++) {
        if (subprotocol_offered(req, ws_subprotocols[i])) {
            out->subprotocol = ws_subprotocols[i];
            break;
        }
    }
    if (!out->subprotocol && conf->fail_if_no_subprotocol)
        return refuse(out, 400, "no MQTT subprotocol offered");
    moat_err e = moat_ws_accept_key(key->p, key->len, out->accept);
    if (e) {
        out->subprotocol = NULL;
        return e;
    }
    out->status = 101;
    return MOAT_OK;
}

static moat_err put_str(moat_buf *b, const char *s)
{
    return moat_buf_append(b, s, strlen(s));
}

moat_err moat_ws_upgrade_response(const moat_ws_upgrade *u, moat_buf *out)
{
    char line[160];
    moat_err e;
    if (u->status < 100 || u->status > 599)
        return MOAT_EINVAL;
    if (u->status == 101) {
        if (!u->accept[0] || memchr(u->accept, '\0', sizeof u->accept) == NULL)
            return MOAT_EINVAL;
        snprintf(line, sizeof line,
                 "HTTP/1.1 101 Switching Protocols\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n",
                 u->accept);
        if ((e = put_str(out, line)))
            return e;
        if (u->subprotocol) {
            if ((e = put_str(out, "Sec-WebSocket-Protocol: ")) ||
                (e = put_str(out, u->subprotocol)) || (e = put_str(out, "\r\n")))
                return e;
        }
        return put_str(out, "\r\n");
    }
    const char *reason = moat_http_reason(u->status);
    const char *why = u->why && u->why[0] ? u->why : reason;
    snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", u->status, reason[0] ? reason : "Error");
    if ((e = put_str(out, line)))
        return e;
    /* RFC 9110: 405 lists the allowed methods; 426 names the protocol to
     * upgrade to, and RFC 6455 4.4 adds the version we speak. */
    if (u->status == 405 && (e = put_str(out, "Allow: GET\r\n")))
        return e;
    if (u->status == 426 &&
        (e = put_str(out, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n")))
        return e;
    snprintf(line, sizeof line,
             "Connection: close\r\n"
             "Content-Type: text/plain\r\n"
             "Content-Length: %zu\r\n"
             "\r\n",
             strlen(why) + 1);
    if ((e = put_str(out, line)) || (e = put_str(out, why)))
        return e;
    return put_str(out, "\n");
}

moat_err moat_ws_accept_key(const char *key, size_t key_len, char out[32])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char in[128 + sizeof guid];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    out[0] = '\0';
    /* A real key is 24 characters; the bound keeps the input on the stack. */
    if (key_len > 128)
        return MOAT_EINVAL;
    memcpy(in, key, key_len);
    memcpy(in + key_len, guid, sizeof guid - 1);
    if (!EVP_Digest(in, key_len + sizeof guid - 1, md, &md_len, EVP_sha1(), NULL) || md_len != 20)
        return MOAT_EINVAL;
    /* 20 bytes encode to 28 characters plus the NUL EVP_EncodeBlock writes. */
    EVP_EncodeBlock((unsigned char *)out, md, (int)md_len);
    return MOAT_OK;
}

/* -------------------------------------------------------------- frames */

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
 * U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false; /* continuation byte, C0/C1 overlong lead, F5..FF */
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
            return false;
        if (need == 3 && (cp < 0x10000 || cp > 0x10FFFF))
            return false;
        i += need + 1;
    }
    return true;
}

/* hdr_len value of a decoder that reported ERROR or CLOSE; d->opcode then
 * holds the index of the error every later call reports. */
#define WS_DEAD 0xFF

enum {
    WE_RSV,
    WE_OPCODE,
    WE_UNMASKED,
    WE_CTRL_FRAG,
    WE_CTRL_LONG,
    WE_CONT,
    WE_NESTED,
    WE_LEN64,
    WE_TEXT,
    WE_TOO_BIG,
    WE_CLOSE_SHORT,
    WE_CLOSE_CODE,
    WE_CLOSE_UTF8,
    WE_AFTER_CLOSE,
};

static const struct {
    uint16_t code;
    const char *why;
} ws_errors[] = {
    [WE_RSV] = {MOAT_WS_CLOSE_PROTOCOL, "reserved bits set"},
    [WE_OPCODE] = {MOAT_WS_CLOSE_PROTOCOL, "unknown opcode"},
    [WE_UNMASKED] = {MOAT_WS_CLOSE_PROTOCOL, "unmasked client frame"},
    [WE_CTRL_FRAG] = {MOAT_WS_CLOSE_PROTOCOL, "fragmented control frame"},
    [WE_CTRL_LONG] = {MOAT_WS_CLOSE_PROTOCOL, "control frame over 125 bytes"},
    [WE_CONT] = {MOAT_WS_CLOSE_PROTOCOL, "continuation frame without a message"},
    [WE_NESTED] = {MOAT_WS_CLOSE_PROTOCOL, "new data frame inside a fragmented message"},
    [WE_LEN64] = {MOAT_WS_CLOSE_PROTOCOL, "64-bit frame length with the top bit set"},
    [WE_TEXT] = {MOAT_WS_CLOSE_UNSUPPORTED, "text frame"},
    [WE_TOO_BIG] = {MOAT_WS_CLOSE_TOO_BIG, "frame larger than the maximum"},
    [WE_CLOSE_SHORT] = {MOAT_WS_CLOSE_PROTOCOL, "close frame of one byte"},
    [WE_CLOSE_CODE] = {MOAT_WS_CLOSE_PROTOCOL, "invalid close code"},
    [WE_CLOSE_UTF8] = {MOAT_WS_CLOSE_BAD_DATA, "close reason not UTF-8"},
    [WE_AFTER_CLOSE] = {MOAT_WS_CLOSE_PROTOCOL, "frame after close"},
};

static void report(moat_ws_decoder *d, int err, moat_ws_event *ev)
{
    d->hdr_len = WS_DEAD;
    d->opcode = (uint8_t)err;
    memset(ev, 0, sizeof *ev);
    ev->type = MOAT_WS_EV_ERROR;
    ev->close_code = ws_errors[err].code;
    ev->why = ws_errors[err].why;
}

/* Header size given its first two bytes. */
static size_t hdr_size(const uint8_t *h)
{
    size_t n = 2;
    uint8_t l = h[1] & 0x7F;
    if (l == 126)
        n += 2;
    else if (l == 127)
        n += 8;
    if (h[1] & 0x80)
        n += 4;
    return n;
}

/* The checks the first two bytes allow; -1 when they pass. Done before the
 * rest of the header arrives so a broken stream fails early. */
static int check_start(const moat_ws_decoder *d)
{
    uint8_t b0 = d->hdr[0], b1 = d->hdr[1], op = b0 & 0x0F;
    bool fin = b0 & 0x80;
    if (b0 & 0x70)
        return WE_RSV;
    switch (op) {
    case MOAT_WS_OP_CONT:
    case MOAT_WS_OP_TEXT:
    case MOAT_WS_OP_BINARY:
    case MOAT_WS_OP_CLOSE:
    case MOAT_WS_OP_PING:
    case MOAT_WS_OP_PONG:
        break;
    default:
        return WE_OPCODE;
    }
    if (d->require_mask && !(b1 & 0x80))
        return WE_UNMASKED;
    if (op & 0x8) {
        if (!fin)
            return WE_CTRL_FRAG;
        if ((b1 & 0x7F) > MOAT_WS_MAX_CONTROL)
            return WE_CTRL_LONG;
        return -1;
    }
    if (op == MOAT_WS_OP_TEXT)
        return WE_TEXT;
    if (op == MOAT_WS_OP_CONT && !d->in_message)
        return WE_CONT;
    if (op == MOAT_WS_OP_BINARY && d->in_message)
        return WE_NESTED;
    return -1;
}

/* The header is complete: take the length and the mask, set up the frame. */
static int start_frame(moat_ws_decoder *d)
{
    const uint8_t *h = d->hdr;
    uint8_t l = h[1] & 0x7F;
    size_t pos = 2;
    uint64_t len = l;
    if (l == 126) {
        len = (uint64_t)h[2] << 8 | h[3];
        pos = 4;
    } else if (l == 127) {
        len = 0;
        for (size_t i = 0; i < 8; i++)
            len = len << 8 | h[2 + i];
        pos = 10;
        if (len >> 63)
            return WE_LEN64;
    }
    d->opcode = h[0] & 0x0F;
    d->fin = h[0] & 0x80;
    d->masked = h[1] & 0x80;
    if (d->masked)
        memcpy(d->mask, h + pos, 4);
    d->mask_off = 0;
    d->remaining = len;
    d->ctrl_len = 0;
    if (d->opcode & 0x8)
        return -1;
    /* max_frame bounds data frames only: control frames are at most 125
     * bytes and land in d->ctrl, never in the caller's buffer. */
    if (d->max_frame && len > d->max_frame)
        return WE_TOO_BIG;
    if (d->opcode == MOAT_WS_OP_BINARY)
        d->in_message = !d->fin;
    else if (d->fin)
        d->in_message = false;
    return -1;
}

/* A control frame is complete: fill ev, or return the error. */
static int control_event(moat_ws_decoder *d, moat_ws_event *ev)
{
    ev->data = d->ctrl;
    ev->len = d->ctrl_len;
    if (d->opcode == MOAT_WS_OP_PING) {
        ev->type = MOAT_WS_EV_PING;
        return -1;
    }
    if (d->opcode == MOAT_WS_OP_PONG) {
        ev->type = MOAT_WS_EV_PONG;
        return -1;
    }
    if (d->ctrl_len == 1)
        return WE_CLOSE_SHORT;
    if (d->ctrl_len == 0) {
        ev->close_code = MOAT_WS_CLOSE_NO_STATUS;
    } else {
        ev->close_code = (uint16_t)(d->ctrl[0] << 8 | d->ctrl[1]);
        if (!moat_ws_close_code_valid(ev->close_code))
            return WE_CLOSE_CODE;
        if (!utf8_valid(d->ctrl + 2, d->ctrl_len - 2u))
            return WE_CLOSE_UTF8;
        ev->data = d->ctrl + 2;
        ev->len = d->ctrl_len - 2u;
    }
    ev->type = MOAT_WS_EV_CLOSE;
    /* Nothing may follow a close frame. */
    d->hdr_len = WS_DEAD;
    d->opcode = WE_AFTER_CLOSE;
    return -1;
}

static size_t take(uint8_t *dst, size_t want, const uint8_t *src, size_t avail)
{
    size_t n = want < avail ? want : avail;
    memcpy(dst, src, n);
    return n;
}

void moat_ws_decode(moat_ws_decoder *d, uint8_t *buf, size_t len, size_t *in_pos, size_t *out_len,
                    moat_ws_event *ev)
{
    size_t in = *in_pos, out = *out_len;
    int err = -1;
    memset(ev, 0, sizeof *ev);
    if (d->hdr_len == WS_DEAD) {
        report(d, d->opcode, ev);
        return;
    }
    for (;;) {
        /* Header: bytes gather in d->hdr, however the input is split. A
         * frame is in progress while hdr_len equals its header size. */
        if (d->hdr_len < 2 || d->hdr_len < hdr_size(d->hdr)) {
            if (in == len)
                break;
            if (d->hdr_len < 2) {
                size_t n = take(d->hdr + d->hdr_len, 2u - d->hdr_len, buf + in, len - in);
                d->hdr_len = (uint8_t)(d->hdr_len + n);
                in += n;
                if (d->hdr_len < 2)
                    continue;
                if ((err = check_start(d)) >= 0)
                    break;
            }
            size_t want = hdr_size(d->hdr);
            size_t n = take(d->hdr + d->hdr_len, want - d->hdr_len, buf + in, len - in);
            d->hdr_len = (uint8_t)(d->hdr_len + n);
            in += n;
            if (d->hdr_len < want)
                continue;
            if ((err = start_frame(d)) >= 0)
                break;
        }
        /* Payload: data frames move left to the output, control frames
         * gather in d->ctrl; both unmasked with the running key offset. */
        if (d->remaining > 0) {
            if (in == len)
                break;
            size_t n = len - in;
            if ((uint64_t)n > d->remaining)
                n = (size_t)d->remaining;
            uint8_t *dst;
            if (d->opcode & 0x8) {
                dst = d->ctrl + d->ctrl_len;
                memcpy(dst, buf + in, n);
                d->ctrl_len = (uint8_t)(d->ctrl_len + n);
            } else {
                dst = buf + out;
                memmove(dst, buf + in, n);
                out += n;
            }
            if (d->masked) {
                moat_ws_mask(dst, n, d->mask, d->mask_off);
                d->mask_off = (uint8_t)((d->mask_off + n) & 3);
            }
            in += n;
            d->remaining -= n;
            if (d->remaining > 0)
                continue;
        }
        /* The frame is complete. */
        d->hdr_len = 0;
        if (d->opcode & 0x8) {
            if ((err = control_event(d, ev)) >= 0)
                break;
            *in_pos = in;
            *out_len = out;
            return;
        }
    }
    *in_pos = in;
    *out_len = out;
    if (err >= 0)
        report(d, err, ev);
    else
        ev->type = MOAT_WS_EV_NONE;
}

size_t moat_ws_frame_header(uint8_t out[14], uint8_t opcode, bool fin, uint64_t len,
                            const uint8_t *mask)
{
    size_t n = 2;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (uint8_t)len;
    } else if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = 127;
        for (size_t i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        out[1] |= 0x80;
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void moat_ws_mask(uint8_t *p, size_t len, const uint8_t mask[4], size_t off)
{
    /* Eight bytes at a time with the key rotated to off; byte order does
     * not matter since the key is laid out in memory like the data. */
    uint8_t m[8];
    for (size_t i = 0; i < 8; i++)
        m[i] = mask[(off + i) & 3];
    uint64_t mw;
    memcpy(&mw, m, 8);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= mw;
        memcpy(p + i, &w, 8);
    }
    for (; i < len; i++)
        p[i] ^= m[i & 7];
}

bool moat_ws_close_code_valid(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

moat_err moat_ws_close_frame(moat_buf *out, uint16_t code, const char *reason)
{
    uint8_t h[14];
    /* 1005 means "no status" and is never put on the wire: send an empty
     * close frame instead (also for code 0). */
    if (code == 0 || code == MOAT_WS_CLOSE_NO_STATUS) {
        size_t hn = moat_ws_frame_header(h, MOAT_WS_OP_CLOSE, true, 0, NULL);
        return moat_buf_append(out, h, hn);
    }
    size_t rn = reason ? strlen(reason) : 0;
    /* The payload is at most 125 bytes; cut the reason at a character
     * boundary so it stays UTF-8. */
    if (rn > MOAT_WS_MAX_CONTROL - 2) {
        rn = MOAT_WS_MAX_CONTROL - 2;
        while (rn > 0 && ((uint8_t)reason[rn] & 0xC0) == 0x80)
            rn--;
    }
    size_t hn = moat_ws_frame_header(h, MOAT_WS_OP_CLOSE, true, 2 + rn, NULL);
    moat_err e = moat_buf_reserve(out, hn + 2 + rn);
    if (e)
        return e;
    moat_buf_append(out, h, hn);
    moat_buf_put_u16(out, code);
    return moat_buf_append(out, reason, rn);
}
