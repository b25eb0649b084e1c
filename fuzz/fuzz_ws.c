/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the WebSocket frame decoder (server side: masks required).
 * Input: byte 0 sets max_frame (0: none; 1..127 as is; 128..255 in steps of
 * 64), bytes 1..4 the chunk sizes the stream is cut into (cycled), byte 5
 * bit 0 whether the buffer keeps growing across calls (output and input
 * sharing it) or starts over after each chunk, as a transport may do; the
 * rest is the byte stream.
 *
 * Checked, beyond "no crash": *out_len <= *in_pos <= len after every call,
 * NONE only with the input exhausted, well-formed events (control payloads
 * of at most 125 bytes, CLOSE codes valid or 1005 with an empty reason,
 * reasons UTF-8, ERROR codes among 1002/1003/1007/1009 with a why), a
 * finished decoder answering ERROR again without reading; chunked decoding
 * gives the same events, output and error texts as one-shot decoding; and
 * one-shot decoding agrees with a plain whole-buffer reference decoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws/ws.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------- transcripts */

/* Events serialised into a buffer so that runs compare with memcmp: type,
 * close code, output length at the time, payload; the why pointer too when
 * with_why (the reference decoder has no texts). */
typedef struct transcript {
    moat_buf ev;
    moat_buf out;
} transcript;

static void put_u64(moat_buf *b, uint64_t v)
{
    moat_buf_put_u32(b, (uint32_t)(v >> 32));
    moat_buf_put_u32(b, (uint32_t)v);
}

static void record(transcript *t, moat_ws_event_type type, uint16_t code, uint64_t out_at,
                   const uint8_t *data, size_t len, const char *why, bool with_why)
{
    moat_buf_put_u8(&t->ev, (uint8_t)type);
    moat_buf_put_u16(&t->ev, code);
    put_u64(&t->ev, out_at);
    put_u64(&t->ev, len);
    moat_buf_append(&t->ev, data, len);
    if (with_why)
        put_u64(&t->ev, (uint64_t)(uintptr_t)why);
}

static bool same(const moat_buf *a, const moat_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void transcript_free(transcript *t)
{
    moat_buf_free(&t->ev);
    moat_buf_free(&t->out);
}

/* ------------------------------------------------------- UTF-8 reference */

/* Code point by code point, the slow and obvious way (NUL allowed). */
static bool ref_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i], need, min;
        if (c < 0x80) {
            need = 0;
            min = 0;
        } else if ((c & 0xE0) == 0xC0) {
            need = 1;
            min = 0x80;
            c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2;
            min = 0x800;
            c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3;
            min = 0x10000;
            c &= 0x07;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (uint32_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            c = c << 6 | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

/* ------------------------------------------------------- reference */

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* The whole stream at once, frame by frame. Errors surface where the
 * streaming decoder finds them: the first two header bytes, the complete
 * header, the complete control payload. */
static void ref_decode(const uint8_t *s, size_t n, uint64_t max_frame, transcript *t)
{
    size_t pos = 0;
    bool in_msg = false;
    for (;;) {
        if (n - pos < 2)
            return;
        uint8_t b0 = s[pos], b1 = s[pos + 1], op = b0 & 0x0F, l7 = b1 & 0x7F;
        bool fin = b0 & 0x80, masked = b1 & 0x80, ctrl = op >= 8;
        uint16_t err = 0;
        if (b0 & 0x70)
            err = 1002;
        else if (op != 0 && op != 1 && op != 2 && op != 8 && op != 9 && op != 10)
            err = 1002;
        else if (!masked)
            err = 1002;
        else if (ctrl && (!fin || l7 > 125))
            err = 1002;
        else if (op == 1)
            err = 1003;
        else if ((op == 0 && !in_msg) || (op == 2 && in_msg))
            err = 1002;
        if (err) {
            record(t, MOAT_WS_EV_ERROR, err, t->out.len, NULL, 0, NULL, false);
            return;
        }
        size_t hs = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + 4;
        if (n - pos < hs)
            return;
        uint64_t len = l7;
        if (l7 == 126)
            len = (uint64_t)s[pos + 2] << 8 | s[pos + 3];
        else if (l7 == 127)
            len = be64(s + pos + 2);
        if (len >> 63) {
            record(t, MOAT_WS_EV_ERROR, 1002, t->out.len, NULL, 0, NULL, false);
            return;
        }
        if (!ctrl && max_frame && len > max_frame) {
            record(t, MOAT_WS_EV_ERROR, 1009, t->out.len, NULL, 0, NULL, false);
            return;
        }
        if (!ctrl)
            in_msg = op == 2 ? !fin : (fin ? false : in_msg);
        const uint8_t *mask = s + pos + hs - 4;
        size_t avail = n - pos - hs;
        size_t take = (uint64_t)avail < len ? avail : (size_t)len;
        uint8_t p[125];
        for (size_t i = 0; i < take; i++) {
            uint8_t c = s[pos + hs + i] ^ mask[i % 4];
            if (ctrl)
                p[i] = c;
            else
                moat_buf_put_u8(&t->out, c);
        }
        if (take < len)
            return;
        if (op == 9 || op == 10) {
            record(t, op == 9 ? MOAT_WS_EV_PING : MOAT_WS_EV_PONG, 0, t->out.len, p, take, NULL,
                   false);
        } else if (op == 8) {
            uint16_t code = take >= 2 ? (uint16_t)(p[0] << 8 | p[1]) : 1005;
            bool ok_code = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                           (code >= 3000 && code <= 4999);
            if (take == 1 || (take >= 2 && !ok_code))
                record(t, MOAT_WS_EV_ERROR, 1002, t->out.len, NULL, 0, NULL, false);
            else if (take >= 2 && !ref_utf8(p + 2, take - 2))
                record(t, MOAT_WS_EV_ERROR, 1007, t->out.len, NULL, 0, NULL, false);
            else
                record(t, MOAT_WS_EV_CLOSE, code, t->out.len, take ? p + 2 : p, take ? take - 2 : 0,
                       NULL, false);
            return;
        }
        pos += hs + take;
    }
}

/* ------------------------------------------------------- decoder runs */

static void check_event(const moat_ws_event *ev)
{
    switch (ev->type) {
    case MOAT_WS_EV_PING:
    case MOAT_WS_EV_PONG:
        FUZZ_CHECK(ev->len <= MOAT_WS_MAX_CONTROL && ev->data);
        break;
    case MOAT_WS_EV_CLOSE:
        FUZZ_CHECK(ev->len <= MOAT_WS_MAX_CONTROL - 2 && (ev->data || ev->len == 0));
        if (ev->close_code == MOAT_WS_CLOSE_NO_STATUS)
            FUZZ_CHECK(ev->len == 0);
        else
            FUZZ_CHECK(moat_ws_close_code_valid(ev->close_code));
        FUZZ_CHECK(ref_utf8(ev->data, ev->len));
        break;
    case MOAT_WS_EV_ERROR:
        FUZZ_CHECK(ev->close_code == MOAT_WS_CLOSE_PROTOCOL ||
                   ev->close_code == MOAT_WS_CLOSE_UNSUPPORTED ||
                   ev->close_code == MOAT_WS_CLOSE_BAD_DATA ||
                   ev->close_code == MOAT_WS_CLOSE_TOO_BIG);
        FUZZ_CHECK(ev->why && ev->why[0]);
        break;
    default:
        FUZZ_CHECK(ev->type == MOAT_WS_EV_NONE);
    }
}

/* Decode s[0..n) cut in chunks of cut[i % 4] bytes (cut NULL: one piece).
 * keep: one buffer grows with the input; else each chunk starts over at 0
 * once the output is taken. */
static void run(const uint8_t *s, size_t n, uint64_t max_frame, const size_t *cut, bool keep,
                transcript *t)
{
    moat_ws_decoder d;
    memset(&d, 0, sizeof d);
    d.require_mask = true;
    d.max_frame = max_frame;
    uint8_t *buf = malloc(n + 1);
    FUZZ_CHECK(buf);
    size_t fed = 0, k = 0, end = 0, in_pos = 0, out_len = 0, taken = 0;
    bool done = false;
    while (!done && (fed < n || k == 0)) {
        size_t c = cut ? cut[k % 4] : n;
        if (c > n - fed)
            c = n - fed;
        k++;
        if (!keep)
            end = in_pos = out_len = 0;
        if (c)
            memcpy(buf + end, s + fed, c);
        fed += c;
        end += c;
        for (;;) {
            moat_ws_event ev;
            moat_ws_decode(&d, buf, end, &in_pos, &out_len, &ev);
            FUZZ_CHECK(out_len <= in_pos && in_pos <= end);
            check_event(&ev);
            if (ev.type == MOAT_WS_EV_NONE) {
                FUZZ_CHECK(in_pos == end);
                break;
            }
            record(t, ev.type, ev.close_code, taken + out_len, ev.data, ev.len, ev.why, true);
            if (ev.type == MOAT_WS_EV_ERROR || ev.type == MOAT_WS_EV_CLOSE) {
                /* Finished: ERROR again, nothing read. */
                moat_ws_event again;
                size_t ip = in_pos, ol = out_len;
                moat_ws_decode(&d, buf, end, &ip, &ol, &again);
                FUZZ_CHECK(again.type == MOAT_WS_EV_ERROR && ip == in_pos && ol == out_len);
                if (ev.type == MOAT_WS_EV_ERROR)
                    FUZZ_CHECK(again.close_code == ev.close_code && again.why == ev.why);
                else
                    FUZZ_CHECK(again.close_code == MOAT_WS_CLOSE_PROTOCOL);
                done = true;
                break;
            }
        }
        if (!keep || done || fed == n) {
            moat_buf_append(&t->out, buf, out_len);
            taken += out_len;
            if (keep)
                break;
        }
    }
    free(buf);
}

/* The reference's view of a transcript: the same without why pointers. */
static void strip_why(const moat_buf *in, moat_buf *out)
{
    size_t i = 0;
    while (i < in->len) {
        size_t len = 0;
        for (size_t k = 0; k < 8; k++)
            len = len << 8 | in->data[i + 11 + k];
        size_t rec = 1 + 2 + 8 + 8 + len;
        moat_buf_append(out, in->data + i, rec);
        i += rec + 8;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    uint64_t max_frame = data[0] < 128 ? data[0] : (uint64_t)(data[0] - 127) * 64;
    size_t cut[4];
    bool any = false;
    for (size_t i = 0; i < 4; i++) {
        uint8_t b = data[1 + i];
        cut[i] = b < 128 ? b % 16 : (size_t)(b - 128) * 8;
        any |= cut[i] != 0;
    }
    if (!any)
        cut[0] = 1;
    bool keep = data[5] & 1;
    const uint8_t *s = data + 6;
    size_t n = size - 6;

    transcript one = {MOAT_BUF_INIT, MOAT_BUF_INIT}, chunked = {MOAT_BUF_INIT, MOAT_BUF_INIT},
               ref = {MOAT_BUF_INIT, MOAT_BUF_INIT};
    run(s, n, max_frame, NULL, false, &one);
    run(s, n, max_frame, cut, keep, &chunked);
    FUZZ_CHECK(same(&one.ev, &chunked.ev));
    FUZZ_CHECK(same(&one.out, &chunked.out));
    FUZZ_CHECK(one.out.len <= n);

    ref_decode(s, n, max_frame, &ref);
    moat_buf stripped = MOAT_BUF_INIT;
    strip_why(&one.ev, &stripped);
    FUZZ_CHECK(same(&stripped, &ref.ev));
    FUZZ_CHECK(same(&one.out, &ref.out));

    moat_buf_free(&stripped);
    transcript_free(&one);
    transcript_free(&chunked);
    transcript_free(&ref);
    return 0;
}
