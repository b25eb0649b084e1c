/* SPDX-License-Identifier: Apache-2.0 */
/* WebSocket: the RFC 6455 examples (5.7 frames, 1.3 accept key), frame
 * headers in the three length forms, every decoder error, streaming with
 * random and byte-by-byte splits against one-shot decoding, control frames
 * inside fragmented messages, close frames, and the opening handshake with
 * each refusal and the exact response text. */
#include <stdlib.h>

#include "ws/ws.h"
#include "test.h"

/* ------------------------------------------------------------ helpers */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    /* xorshift64*, fixed seed: the same splits on every run */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Append a frame to b; masked with MASK when masked. */
static void put_frame(moat_buf *b, uint8_t opcode, bool fin, const void *payload, size_t len,
                      bool masked)
{
    uint8_t h[14];
    size_t hn = moat_ws_frame_header(h, opcode, fin, len, masked ? MASK : NULL);
    moat_buf_append(b, h, hn);
    size_t at = b->len;
    moat_buf_append(b, payload, len);
    if (masked)
        moat_ws_mask(b->data + at, len, MASK, 0);
}

/* What a decode run produced: events (NONE left out) with the output length
 * at the time, and all output bytes. */
typedef struct rec_event {
    moat_ws_event_type type;
    uint16_t close_code;
    const char *why;
    size_t out_at;
    size_t len;
    uint8_t data[MOAT_WS_MAX_CONTROL];
} rec_event;

typedef struct run {
    rec_event ev[64];
    size_t n_ev;
    uint8_t *out;
    size_t out_len;
    bool invariant_broken;
} run;

static void record(run *r, const moat_ws_event *ev, size_t out_at)
{
    if (r->n_ev == sizeof r->ev / sizeof r->ev[0])
        return;
    rec_event *e = &r->ev[r->n_ev++];
    e->type = ev->type;
    e->close_code = ev->close_code;
    e->why = ev->why;
    e->out_at = out_at;
    e->len = ev->len;
    if (ev->len <= MOAT_WS_MAX_CONTROL && ev->len)
        memcpy(e->data, ev->data, ev->len);
}

/* Feed in[0..n) in chunks (cut[i] bytes each; NULL: all at once), the way a
 * transport does: append what arrived and decode until the input is
 * exhausted. keep: the buffer only grows (output and input share it across
 * calls); else the output is taken after each chunk and the buffer starts
 * over (all input was read). */
static void feed_mode(moat_ws_decoder *d, const uint8_t *in, size_t n, const size_t *cut,
                      size_t ncut, bool keep, run *r)
{
    uint8_t *buf = malloc(n + 1);
    r->out = malloc(n + 1);
    r->out_len = 0;
    r->n_ev = 0;
    r->invariant_broken = false;
    size_t fed = 0, k = 0, end = 0, in_pos = 0, out_len = 0;
    bool done = false;
    while (!done && (fed < n || k == 0)) {
        size_t c = cut && k < ncut ? cut[k] : n - fed;
        if (c > n - fed)
            c = n - fed;
        k++;
        if (!keep)
            end = in_pos = out_len = 0;
        memcpy(buf + end, in + fed, c);
        fed += c;
        end += c;
        for (;;) {
            moat_ws_event ev;
            moat_ws_decode(d, buf, end, &in_pos, &out_len, &ev);
            if (out_len > in_pos || in_pos > end)
                r->invariant_broken = true;
            if (ev.type == MOAT_WS_EV_NONE) {
                if (in_pos != end)
                    r->invariant_broken = true;
                break;
            }
            record(r, &ev, r->out_len + out_len);
            if (ev.type == MOAT_WS_EV_ERROR || ev.type == MOAT_WS_EV_CLOSE) {
                done = true;
                break;
            }
        }
        if (!keep) {
            memcpy(r->out + r->out_len, buf, out_len);
            r->out_len += out_len;
        }
    }
    if (keep) {
        memcpy(r->out, buf, out_len);
        r->out_len = out_len;
    }
    free(buf);
}

static void feed(moat_ws_decoder *d, const uint8_t *in, size_t n, const size_t *cut, size_t ncut,
                 run *r)
{
    feed_mode(d, in, n, cut, ncut, false, r);
}

static bool runs_equal(const run *a, const run *b)
{
    if (a->n_ev != b->n_ev || a->out_len != b->out_len ||
        (a->out_len && memcmp(a->out, b->out, a->out_len) != 0))
        return false;
    for (size_t i = 0; i < a->n_ev; i++) {
        const rec_event *x = &a->ev[i], *y = &b->ev[i];
        if (x->type != y->type || x->close_code != y->close_code || x->why != y->why ||
            x->out_at != y->out_at || x->len != y->len ||
            (x->len <= MOAT_WS_MAX_CONTROL && x->len && memcmp(x->data, y->data, x->len) != 0))
            return false;
    }
    return true;
}

static moat_ws_decoder decoder(bool require_mask, uint64_t max_frame)
{
    moat_ws_decoder d;
    memset(&d, 0, sizeof d);
    d.require_mask = require_mask;
    d.max_frame = max_frame;
    return d;
}

/* Decode bytes in one go with a fresh decoder. */
static void decode_once(const uint8_t *in, size_t n, bool require_mask, uint64_t max_frame, run *r)
{
    moat_ws_decoder d = decoder(require_mask, max_frame);
    feed(&d, in, n, NULL, 0, r);
}

/* Expect the bytes to end in exactly one ERROR with code, after no output. */
#define EXPECT_WS_ERR(mask, code, ...)                                                             \
    do {                                                                                           \
        static const uint8_t in_[] = {__VA_ARGS__};                                                \
        run r_;                                                                                    \
        decode_once(in_, sizeof in_, mask, 0, &r_);                                                \
        CHECK_EQ(r_.n_ev, 1);                                                                      \
        CHECK_EQ(r_.ev[0].type, MOAT_WS_EV_ERROR);                                                 \
        CHECK_EQ(r_.ev[0].close_code, code);                                                       \
        CHECK(r_.ev[0].why != NULL && r_.ev[0].len == 0);                                          \
        CHECK(!r_.invariant_broken);                                                               \
        free(r_.out);                                                                              \
    } while (0)

/* ------------------------------------------------------- RFC examples */

static void test_rfc_single_frames(void)
{
    /* RFC 6455 5.7: a single-frame unmasked text message: refused. */
    static const uint8_t text_unmasked[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    static const uint8_t text_masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                          0x7f, 0x9f, 0x4d, 0x51, 0x58};
    run r;
    decode_once(text_unmasked, sizeof text_unmasked, false, 0, &r);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0].type, MOAT_WS_EV_ERROR);
    CHECK_EQ(r.ev[0].close_code, MOAT_WS_CLOSE_UNSUPPORTED);
    CHECK_EQ(r.out_len, 0);
    free(r.out);
    decode_once(text_masked, sizeof text_masked, true, 0, &r);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0].close_code, MOAT_WS_CLOSE_UNSUPPORTED);
    free(r.out);

    /* The same frames as binary are accepted. */
    uint8_t bin[sizeof text_masked];
    memcpy(bin, text_unmasked, sizeof text_unmasked);
    bin[0] = 0x82;
    decode_once(bin, sizeof text_unmasked, false, 0, &r);
    CHECK_EQ(r.n_ev, 0);
    CHECK_EQ(r.out_len, 5);
    CHECK_MEM(r.out, "Hello", 5);
    free(r.out);
    memcpy(bin, text_masked, sizeof text_masked);
    bin[0] = 0x82;
    decode_once(bin, sizeof text_masked, true, 0, &r);
    CHECK_EQ(r.n_ev, 0);
    CHECK_EQ(r.out_len, 5);
    CHECK_MEM(r.out, "Hello", 5);
    CHECK(!r.invariant_broken);
    free(r.out);

    /* The unmasked one when masks are required. */
    bin[0] = 0x82;
    bin[1] = 0x05;
    memcpy(bin + 2, "Hello", 5);
    decode_once(bin, 7, true, 0, &r);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0].type, MOAT_WS_EV_ERROR);
    CHECK_EQ(r.ev[0].close_code, MOAT_WS_CLOSE_PROTOCOL);
    free(r.out);
}

static void test_rfc_fragments_ping_pong(void)
{
    /* 5.7: "Hel" + "lo" in two fragments (binary here), then the unmasked
     * ping and the masked pong carrying "Hello". */
    static const uint8_t in[] = {0x02, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f,
                                 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x8a, 0x85,
                                 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    run r;
    decode_once(in, sizeof in, false, 0, &r);
    CHECK_EQ(r.out_len, 5);
    CHECK_MEM(r.out, "Hello", 5);
    CHECK_EQ(r.n_ev, 2);
    CHECK_EQ(r.ev[0].type, MOAT_WS_EV_PING);
    CHECK_EQ(r.ev[0].len, 5);
    CHECK_MEM(r.ev[0].data, "Hello", 5);
    CHECK_EQ(r.ev[0].out_at, 5);
    CHECK_EQ(r.ev[1].type, MOAT_WS_EV_PONG);
    CHECK_EQ(r.ev[1].len, 5);
    CHECK_MEM(r.ev[1].data, "Hello", 5);
    CHECK(!r.invariant_broken);
    free(r.out);
}

static void test_rfc_lengths(void)
{
    /* 5.7: 256 bytes in one unmasked binary frame (16-bit length) and 64 KiB
     * (64-bit length). */
    static const uint8_t h256[] = {0x82, 0x7E, 0x01, 0x00};
    static const uint8_t h64k[] = {0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
    uint8_t h[14];
    CHECK_EQ(moat_ws_frame_header(h, MOAT_WS_OP_BINARY, true, 256, NULL), 4);
    CHECK_MEM(h, h256, 4);
    CHECK_EQ(moat_ws_frame_header(h, MOAT_WS_OP_BINARY, true, 65536, NULL), 10);
    CHECK_MEM(h, h64k, 10);

    size_t sizes[] = {256, 65536};
    const uint8_t *hdrs[] = {h256, h64k};
    size_t hlens[] = {4, 10};
    for (size_t t = 0; t < 2; t++) {
        size_t n = hlens[t] + sizes[t];
        uint8_t *in = malloc(n);
        memcpy(in, hdrs[t], hlens[t]);
        for (size_t i = 0; i < sizes[t]; i++)
            in[hlens[t] + i] = (uint8_t)(i * 7);
        run r;
        decode_once(in, n, false, 0, &r);
        CHECK_EQ(r.n_ev, 0);
        CHECK_EQ(r.out_len, sizes[t]);
        CHECK_MEM(r.out, in + hlens[t], sizes[t]);
        free(r.out);
        free(in);
    }
}

static void test_accept_key(void)
{
    char out[32];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    CHECK_EQ(moat_ws_accept_key(key, strlen(key), out), MOAT_OK);
    CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    /* Two more published handshakes. */
    CHECK_EQ(moat_ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out), MOAT_OK);
    CHECK_STR(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    CHECK_EQ(moat_ws_accept_key("wDqumtseNBJdhkihL6PW7w==", 24, out), MOAT_OK);
    CHECK_STR(out, "0FFP+2nmNIf/h+4BP36k9uzrYGk=");
    /* Only key_len bytes count. */
    CHECK_EQ(moat_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==XYZ", 24, out), MOAT_OK);
    CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    char big[200];
    memset(big, 'A', sizeof big);
    CHECK_EQ(moat_ws_accept_key(big, sizeof big, out), MOAT_EINVAL);
}

/* ----------------------------------------------------- frame encoding */

static void test_frame_header(void)
{
    static const uint8_t m[4] = {1, 2, 3, 4};
    static const struct {
        uint64_t len;
        size_t size;
    } cases[] = {{0, 2},      {1, 2},           {125, 2},
                 {126, 4},    {127, 4},         {65535, 4},
                 {65536, 10}, {1ull << 32, 10}, {(1ull << 63) - 1, 10}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t h[14];
        size_t n = moat_ws_frame_header(h, MOAT_WS_OP_BINARY, true, cases[i].len, NULL);
        CHECK_EQ(n, cases[i].size);
        CHECK_EQ(h[0], 0x82);
        CHECK_EQ(h[1] & 0x80, 0);
        uint64_t got = h[1] & 0x7F;
        if (got == 126)
            got = (uint64_t)h[2] << 8 | h[3];
        else if (got == 127)
            got = be64(h + 2);
        CHECK_EQ(got, cases[i].len);
        size_t nm = moat_ws_frame_header(h, MOAT_WS_OP_CONT, false, cases[i].len, m);
        CHECK_EQ(nm, cases[i].size + 4);
        CHECK_EQ(h[0], 0x00);
        CHECK_EQ(h[1] & 0x80, 0x80);
        CHECK_MEM(h + nm - 4, m, 4);
    }
    uint8_t h[14];
    CHECK_EQ(moat_ws_frame_header(h, MOAT_WS_OP_PING, true, 5, m), 6);
    static const uint8_t want[] = {0x89, 0x85, 1, 2, 3, 4};
    CHECK_MEM(h, want, 6);
}

static void test_mask(void)
{
    /* Against the byte-at-a-time definition, every length and offset. */
    static const uint8_t m[4] = {0xA1, 0x07, 0x5C, 0xF0};
    for (size_t len = 0; len < 40; len++) {
        for (size_t off = 0; off < 4; off++) {
            uint8_t p[40], q[40];
            for (size_t i = 0; i < len; i++)
                p[i] = q[i] = (uint8_t)(i * 31 + 5);
            moat_ws_mask(p, len, m, off);
            size_t bad = 0;
            for (size_t i = 0; i < len; i++)
                bad += p[i] != (uint8_t)(q[i] ^ m[(off + i) % 4]);
            CHECK_EQ(bad, 0);
            /* Masking twice restores; split masking equals one pass. */
            moat_ws_mask(p, len / 3, m, off);
            moat_ws_mask(p + len / 3, len - len / 3, m, (off + len / 3) % 4);
            CHECK(len == 0 || memcmp(p, q, len) == 0);
        }
    }
}

static void test_close_code_valid(void)
{
    static const uint16_t ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                  1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const uint16_t bad[] = {0,    1,    999,  1004, 1005, 1006,
                                   1015, 1016, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        CHECK(moat_ws_close_code_valid(ok[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!moat_ws_close_code_valid(bad[i]));
}

static void test_close_frame(void)
{
    moat_buf b = MOAT_BUF_INIT;
    CHECK_EQ(moat_ws_close_frame(&b, 1000, NULL), MOAT_OK);
    static const uint8_t w1[] = {0x88, 0x02, 0x03, 0xE8};
    CHECK_EQ(b.len, sizeof w1);
    CHECK_MEM(b.data, w1, sizeof w1);
    moat_buf_reset(&b);

    CHECK_EQ(moat_ws_close_frame(&b, MOAT_WS_CLOSE_TOO_BIG, "too big"), MOAT_OK);
    static const uint8_t w2[] = {0x88, 0x09, 0x03, 0xF1, 't', 'o', 'o', ' ', 'b', 'i', 'g'};
    CHECK_EQ(b.len, sizeof w2);
    CHECK_MEM(b.data, w2, sizeof w2);
    moat_buf_reset(&b);

    CHECK_EQ(moat_ws_close_frame(&b, MOAT_WS_CLOSE_NO_STATUS, "ignored"), MOAT_OK);
    CHECK_EQ(b.len, 2);
    CHECK_EQ(b.data[0], 0x88);
    CHECK_EQ(b.data[1], 0x00);
    moat_buf_reset(&b);

    /* A long reason is cut to 123 bytes without splitting a character:
     * 122 ASCII bytes then "é" (2 bytes) would end at 124, so it goes. */
    char reason[200];
    memset(reason, 'x', 122);
    strcpy(reason + 122, "\xc3\xa9tail");
    CHECK_EQ(moat_ws_close_frame(&b, 1001, reason), MOAT_OK);
    CHECK_EQ(b.len, 2 + 2 + 122);
    CHECK_EQ(b.data[1], 124);
    /* And our decoder (unmasked allowed) reads it back. */
    run r;
    decode_once(b.data, b.len, false, 0, &r);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0].type, MOAT_WS_EV_CLOSE);
    CHECK_EQ(r.ev[0].close_code, 1001);
    CHECK_EQ(r.ev[0].len, 122);
    free(r.out);
    moat_buf_free(&b);
}

/* ------------------------------------------------------------- errors */

static void test_errors(void)
{
    const uint16_t P = MOAT_WS_CLOSE_PROTOCOL;
    /* Reserved bits. */
    EXPECT_WS_ERR(false, P, 0xC2, 0x00);
    EXPECT_WS_ERR(false, P, 0xA2, 0x00);
    EXPECT_WS_ERR(false, P, 0x92, 0x00);
    EXPECT_WS_ERR(false, P, 0xF9, 0x00);
    /* Unknown opcodes. */
    for (uint8_t op = 3; op < 16; op++) {
        if (op >= 8 && op <= 10)
            continue;
        uint8_t in[2] = {(uint8_t)(0x80 | op), 0x00};
        run r;
        decode_once(in, 2, false, 0, &r);
        CHECK_EQ(r.n_ev, 1);
        CHECK_EQ(r.ev[0].type, MOAT_WS_EV_ERROR);
        CHECK_EQ(r.ev[0].close_code, P);
        free(r.out);
    }
    /* Unmasked frame when masks are required (known after two bytes). */
    EXPECT_WS_ERR(true, P, 0x82, 0x05);
    EXPECT_WS_ERR(true, P, 0x89, 0x00);
    /* Fragmented control frames, control frames over 125. */
    EXPECT_WS_ERR(false, P, 0x09, 0x00);
    EXPECT_WS_ERR(false, P, 0x08, 0x00);
    EXPECT_WS_ERR(false, P, 0x0A, 0x00);
    EXPECT_WS_ERR(false, P, 0x89, 0x7E, 0x00, 0x7E);
    EXPECT_WS_ERR(false, P, 0x8A, 0x7F, 0, 0, 0, 0, 0, 0, 0, 1);
    /* Continuation without a message; new data frame inside one. */
    EXPECT_WS_ERR(false, P, 0x80, 0x00);
    EXPECT_WS_ERR(false, P, 0x00, 0x00);
    EXPECT_WS_ERR(false, P, 0x82, 0x00, 0x80, 0x00);
    EXPECT_WS_ERR(false, P, 0x02, 0x00, 0x82, 0x00);
    EXPECT_WS_ERR(false, P, 0x02, 0x00, 0x02, 0x00);
    /* 64-bit length with the top bit set. */
    EXPECT_WS_ERR(false, P, 0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0);
    EXPECT_WS_ERR(true, P, 0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4);
    /* Text frames, also as a fragment start or inside a message. */
    EXPECT_WS_ERR(false, MOAT_WS_CLOSE_UNSUPPORTED, 0x81, 0x00);
    EXPECT_WS_ERR(false, MOAT_WS_CLOSE_UNSUPPORTED, 0x01, 0x00);
    EXPECT_WS_ERR(false, MOAT_WS_CLOSE_UNSUPPORTED, 0x02, 0x00, 0x81, 0x00);
    /* Close payload of one byte; invalid codes; reason not UTF-8. */
    EXPECT_WS_ERR(false, P, 0x88, 0x01, 0x03);
    EXPECT_WS_ERR(true, P, 0x88, 0x81, 1, 2, 3, 4, 0x03 ^ 1);
    static const uint16_t bad_codes[] = {0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
        uint8_t in[4] = {0x88, 0x02, (uint8_t)(bad_codes[i] >> 8), (uint8_t)bad_codes[i]};
        run r;
        decode_once(in, 4, false, 0, &r);
        CHECK_EQ(r.n_ev, 1);
        CHECK_EQ(r.ev[0].type, MOAT_WS_EV_ERROR);
        CHECK_EQ(r.ev[0].close_code, P);
        free(r.out);
    }
    const uint16_t U = MOAT_WS_CLOSE_BAD_DATA;
    EXPECT_WS_ERR(false, U, 0x88, 0x03, 0x03, 0xE8, 0x80);                   /* lone continuation */
    EXPECT_WS_ERR(false, U, 0x88, 0x04, 0x03, 0xE8, 0xC0, 0x80);             /* overlong NUL */
    EXPECT_WS_ERR(false, U, 0x88, 0x04, 0x03, 0xE8, 0xC1, 0xBF);             /* overlong */
    EXPECT_WS_ERR(false, U, 0x88, 0x05, 0x03, 0xE8, 0xE0, 0x9F, 0xBF);       /* overlong 3 */
    EXPECT_WS_ERR(false, U, 0x88, 0x06, 0x03, 0xE8, 0xF0, 0x8F, 0xBF, 0xBF); /* overlong 4 */
    EXPECT_WS_ERR(false, U, 0x88, 0x05, 0x03, 0xE8, 0xED, 0xA0, 0x80);       /* surrogate */
    EXPECT_WS_ERR(false, U, 0x88, 0x05, 0x03, 0xE8, 0xED, 0xBF, 0xBF);       /* surrogate */
    EXPECT_WS_ERR(false, U, 0x88, 0x06, 0x03, 0xE8, 0xF4, 0x90, 0x80, 0x80); /* > U+10FFFF */
    EXPECT_WS_ERR(false, U, 0x88, 0x06, 0x03, 0xE8, 0xF5, 0x80, 0x80, 0x80);
    EXPECT_WS_ERR(false, U, 0x88, 0x04, 0x03, 0xE8, 0xE2, 0x82); /* truncated */
    EXPECT_WS_ERR(false, U, 0x88, 0x04, 0x03, 0xE8, 0xC3, 0x28); /* bad follower */
    EXPECT_WS_ERR(false, U, 0x88, 0x03, 0x03, 0xE8, 0xFF);

    /* Payload over max_frame: 1009, at the header, before any payload. */
    run r;
    static const uint8_t big[] = {0x82, 0x04, 1, 2, 3, 4};
    decode_once(big, sizeof big, false, 3, &r);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0].close_code, MOAT_WS_CLOSE_TOO_BIG);
    CHECK_EQ(r.out_len, 0);
    free(r.out);
    static const uint8_t big_cont[] = {0x02, 0x03, 1, 2, 3, 0x80, 0x04, 1, 2, 3, 4};
    decode_once(big_cont, sizeof big_cont, false, 3, &r);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0].close_code, MOAT_WS_CLOSE_TOO_BIG);
    CHECK_EQ(r.out_len, 3);
    free(r.out);
    /* Exactly max_frame is fine; control frames are not bounded by it. */
    static const uint8_t fits[] = {0x82, 0x03, 1, 2, 3, 0x89, 0x05, 1, 2, 3, 4, 5};
    decode_once(fits, sizeof fits, false, 3, &r);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0].type, MOAT_WS_EV_PING);
    CHECK_EQ(r.out_len, 3);
    free(r.out);
    /* 64-bit length at the limit of max_frame = 0 (none): streamed. */
    static const uint8_t huge[] = {0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 9};
    decode_once(huge, sizeof huge, false, 0, &r);
    CHECK_EQ(r.n_ev, 0);
    CHECK_EQ(r.out_len, 1);
    free(r.out);
}

static void test_error_sticks(void)
{
    moat_ws_decoder d = decoder(true, 0);
    uint8_t in[] = {0x81, 0x80, 1, 2, 3, 4, 0x82, 0x80, 1, 2, 3, 4};
    size_t ip = 0, ol = 0;
    moat_ws_event ev;
    moat_ws_decode(&d, in, sizeof in, &ip, &ol, &ev);
    CHECK_EQ(ev.type, MOAT_WS_EV_ERROR);
    CHECK_EQ(ev.close_code, MOAT_WS_CLOSE_UNSUPPORTED);
    const char *why = ev.why;
    size_t ip1 = ip;
    moat_ws_decode(&d, in, sizeof in, &ip, &ol, &ev);
    CHECK_EQ(ev.type, MOAT_WS_EV_ERROR);
    CHECK_EQ(ev.close_code, MOAT_WS_CLOSE_UNSUPPORTED);
    CHECK(ev.why == why);
    CHECK_EQ(ip, ip1);
    CHECK(ol <= ip);

    /* After a close frame, nothing more is read. */
    d = decoder(true, 0);
    uint8_t c[] = {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8, 0x82, 0x80, 1, 2, 3, 4};
    ip = ol = 0;
    moat_ws_decode(&d, c, sizeof c, &ip, &ol, &ev);
    CHECK_EQ(ev.type, MOAT_WS_EV_CLOSE);
    CHECK_EQ(ev.close_code, 1000);
    CHECK_EQ(ev.len, 0);
    CHECK_EQ(ip, 8);
    moat_ws_decode(&d, c, sizeof c, &ip, &ol, &ev);
    CHECK_EQ(ev.type, MOAT_WS_EV_ERROR);
    CHECK_EQ(ev.close_code, MOAT_WS_CLOSE_PROTOCOL);
    CHECK_EQ(ip, 8);
}

/* ------------------------------------------------------- close frames */

static void test_close_events(void)
{
    moat_buf b = MOAT_BUF_INIT;
    run r;
    /* Empty close: 1005. */
    put_frame(&b, MOAT_WS_OP_CLOSE, true, "", 0, true);
    decode_once(b.data, b.len, true, 0, &r);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0].type, MOAT_WS_EV_CLOSE);
    CHECK_EQ(r.ev[0].close_code, MOAT_WS_CLOSE_NO_STATUS);
    CHECK_EQ(r.ev[0].len, 0);
    free(r.out);
    moat_buf_reset(&b);

    /* Code and a UTF-8 reason with 2, 3 and 4 byte characters and a NUL. */
    static const uint8_t p[] = {0x0F, 0xA0, 'b',  0xC3, 0xBC, 0xE2, 0x82, 0xAC, 0xF0, 0x9F,
                                0x98, 0x80, 0xF4, 0x8F, 0xBF, 0xBF, 0xEF, 0xBF, 0xBF, 0x00};
    put_frame(&b, MOAT_WS_OP_CLOSE, true, p, sizeof p, true);
    decode_once(b.data, b.len, true, 0, &r);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0].type, MOAT_WS_EV_CLOSE);
    CHECK_EQ(r.ev[0].close_code, 4000);
    CHECK_EQ(r.ev[0].len, sizeof p - 2);
    CHECK_MEM(r.ev[0].data, p + 2, sizeof p - 2);
    free(r.out);
    moat_buf_reset(&b);

    /* The longest close payload, 125 bytes. */
    uint8_t lp[125];
    lp[0] = 0x03;
    lp[1] = 0xE9;
    memset(lp + 2, 'r', 123);
    put_frame(&b, MOAT_WS_OP_CLOSE, true, lp, sizeof lp, true);
    decode_once(b.data, b.len, true, 0, &r);
    CHECK_EQ(r.n_ev, 1);
    CHECK_EQ(r.ev[0].close_code, 1001);
    CHECK_EQ(r.ev[0].len, 123);
    free(r.out);
    moat_buf_free(&b);
}

/* -------------------------------------------------- fragments, splits */

static void test_fragmented_with_control(void)
{
    moat_buf b = MOAT_BUF_INIT;
    put_frame(&b, MOAT_WS_OP_BINARY, false, "ab", 2, true);
    put_frame(&b, MOAT_WS_OP_PING, true, "p1", 2, true);
    put_frame(&b, MOAT_WS_OP_CONT, false, "cde", 3, true);
    put_frame(&b, MOAT_WS_OP_PONG, true, "", 0, true);
    put_frame(&b, MOAT_WS_OP_CONT, false, "", 0, true);
    put_frame(&b, MOAT_WS_OP_PING, true, "p2", 2, true);
    put_frame(&b, MOAT_WS_OP_CONT, true, "f", 1, true);
    /* The message is closed: a new one may start, a continuation may not. */
    put_frame(&b, MOAT_WS_OP_BINARY, true, "gh", 2, true);
    put_frame(&b, MOAT_WS_OP_CONT, true, "x", 1, true);
    run r;
    decode_once(b.data, b.len, true, 0, &r);
    CHECK_EQ(r.out_len, 8);
    CHECK_MEM(r.out, "abcdefgh", 8);
    CHECK_EQ(r.n_ev, 4);
    CHECK_EQ(r.ev[0].type, MOAT_WS_EV_PING);
    CHECK_EQ(r.ev[0].out_at, 2);
    CHECK_MEM(r.ev[0].data, "p1", 2);
    CHECK_EQ(r.ev[1].type, MOAT_WS_EV_PONG);
    CHECK_EQ(r.ev[1].out_at, 5);
    CHECK_EQ(r.ev[1].len, 0);
    CHECK_EQ(r.ev[2].type, MOAT_WS_EV_PING);
    CHECK_MEM(r.ev[2].data, "p2", 2);
    CHECK_EQ(r.ev[3].type, MOAT_WS_EV_ERROR);
    CHECK_EQ(r.ev[3].close_code, MOAT_WS_CLOSE_PROTOCOL);
    CHECK_EQ(r.ev[3].out_at, 8);
    CHECK(!r.invariant_broken);
    free(r.out);
    moat_buf_free(&b);
}

static void test_zero_length(void)
{
    /* A zero-length frame completing exactly at the end of the input is
     * reported in the same call. */
    moat_ws_decoder d = decoder(true, 0);
    uint8_t in[] = {0x82, 0x80, 1, 2, 3, 4, 0x89, 0x80, 9, 9, 9, 9};
    size_t ip = 0, ol = 0;
    moat_ws_event ev;
    moat_ws_decode(&d, in, 6, &ip, &ol, &ev);
    CHECK_EQ(ev.type, MOAT_WS_EV_NONE);
    CHECK_EQ(ip, 6);
    CHECK_EQ(ol, 0);
    moat_ws_decode(&d, in, sizeof in, &ip, &ol, &ev);
    CHECK_EQ(ev.type, MOAT_WS_EV_PING);
    CHECK_EQ(ev.len, 0);
    CHECK_EQ(ip, sizeof in);
    moat_ws_decode(&d, in, sizeof in, &ip, &ol, &ev);
    CHECK_EQ(ev.type, MOAT_WS_EV_NONE);

    /* Nothing to read: NONE, positions unchanged. */
    ip = ol = 0;
    d = decoder(true, 0);
    moat_ws_decode(&d, in, 0, &ip, &ol, &ev);
    CHECK_EQ(ev.type, MOAT_WS_EV_NONE);
    CHECK_EQ(ip, 0);
}

static void test_in_place(void)
{
    /* Several frames in one buffer: the output is compacted at the front
     * of the same buffer, and a control frame in the middle returns with
     * the positions so far. */
    moat_buf b = MOAT_BUF_INIT;
    put_frame(&b, MOAT_WS_OP_BINARY, true, "0123456789", 10, true);
    put_frame(&b, MOAT_WS_OP_BINARY, true, "abc", 3, true);
    put_frame(&b, MOAT_WS_OP_PING, true, "!", 1, true);
    put_frame(&b, MOAT_WS_OP_BINARY, true, "XYZ", 3, true);
    moat_ws_decoder d = decoder(true, 0);
    size_t ip = 0, ol = 0;
    moat_ws_event ev;
    moat_ws_decode(&d, b.data, b.len, &ip, &ol, &ev);
    CHECK_EQ(ev.type, MOAT_WS_EV_PING);
    CHECK_EQ(ol, 13);
    CHECK_EQ(ip, 16 + 9 + 7);
    CHECK_MEM(b.data, "0123456789abc", 13);
    moat_ws_decode(&d, b.data, b.len, &ip, &ol, &ev);
    CHECK_EQ(ev.type, MOAT_WS_EV_NONE);
    CHECK_EQ(ol, 16);
    CHECK_EQ(ip, b.len);
    CHECK_MEM(b.data, "0123456789abcXYZ", 16);
    moat_buf_free(&b);
}

/* A long stream of every kind of frame, masked. */
static void build_stream(moat_buf *b)
{
    static const size_t sizes[] = {0, 1, 2, 3, 5, 125, 126, 127, 200, 65535, 65536, 70001};
    uint8_t *p = malloc(70001);
    for (size_t i = 0; i < 70001; i++)
        p[i] = (uint8_t)(i * 13 + (i >> 8));
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        put_frame(b, MOAT_WS_OP_BINARY, true, p, sizes[i], true);
        put_frame(b, MOAT_WS_OP_PING, true, p + i, i * 10 % 126, true);
        put_frame(b, MOAT_WS_OP_BINARY, false, p + 1, sizes[i] / 2, true);
        put_frame(b, MOAT_WS_OP_PONG, true, p + 2, 125 - i, true);
        put_frame(b, MOAT_WS_OP_CONT, false, p + 3, sizes[i] / 3, true);
        put_frame(b, MOAT_WS_OP_PING, true, p, 0, true);
        put_frame(b, MOAT_WS_OP_CONT, true, p + 4, sizes[i] - sizes[i] / 2, true);
    }
    static const uint8_t close[] = {0x03, 0xE8, 'b', 'y', 'e'};
    put_frame(b, MOAT_WS_OP_CLOSE, true, close, sizeof close, true);
    free(p);
}

static void test_splits(void)
{
    moat_buf b = MOAT_BUF_INIT;
    build_stream(&b);
    run one, split;
    decode_once(b.data, b.len, true, 0, &one);
    CHECK(!one.invariant_broken);
    CHECK_EQ(one.n_ev, 12 * 3 + 1);
    CHECK_EQ(one.ev[one.n_ev - 1].type, MOAT_WS_EV_CLOSE);
    CHECK_EQ(one.ev[one.n_ev - 1].close_code, 1000);

    /* Byte by byte. */
    size_t *cut = malloc(b.len * sizeof *cut);
    for (size_t i = 0; i < b.len; i++)
        cut[i] = 1;
    moat_ws_decoder d = decoder(true, 0);
    feed(&d, b.data, b.len, cut, b.len, &split);
    CHECK(!split.invariant_broken);
    CHECK(runs_equal(&one, &split));
    free(split.out);
    d = decoder(true, 0);
    feed_mode(&d, b.data, b.len, cut, b.len, true, &split);
    CHECK(!split.invariant_broken);
    CHECK(runs_equal(&one, &split));
    free(split.out);

    /* Random split points, small and large chunks, some empty. */
    for (int round = 0; round < 50; round++) {
        size_t n = 0, total = 0;
        while (total < b.len && n < b.len) {
            uint32_t x = rnd();
            size_t c = (x & 3) == 0 ? x % 20 : (x & 3) == 1 ? x % 300 : x % 20000;
            cut[n++] = c;
            total += c;
        }
        d = decoder(true, 0);
        feed_mode(&d, b.data, b.len, cut, n, round & 1, &split);
        CHECK(!split.invariant_broken);
        CHECK(runs_equal(&one, &split));
        free(split.out);
    }

    /* Every split point of a short stream with all frame kinds. */
    moat_buf s = MOAT_BUF_INIT;
    put_frame(&s, MOAT_WS_OP_BINARY, false, "hello", 5, true);
    put_frame(&s, MOAT_WS_OP_PING, true, "ping", 4, true);
    put_frame(&s, MOAT_WS_OP_CONT, true, "world", 5, true);
    uint8_t mid[300];
    memset(mid, 'm', sizeof mid);
    put_frame(&s, MOAT_WS_OP_BINARY, true, mid, sizeof mid, true);
    put_frame(&s, MOAT_WS_OP_CLOSE, true, "\x03\xe8ok", 4, true);
    run ref;
    decode_once(s.data, s.len, true, 0, &ref);
    size_t bad = 0;
    for (size_t i = 0; i <= s.len; i++) {
        for (size_t j = i; j <= s.len; j += 7) {
            size_t c3[3] = {i, j - i, s.len - j};
            d = decoder(true, 0);
            feed(&d, s.data, s.len, c3, 3, &split);
            bad += split.invariant_broken || !runs_equal(&ref, &split);
            free(split.out);
        }
    }
    CHECK_EQ(bad, 0);
    free(ref.out);
    moat_buf_free(&s);
    free(one.out);
    free(cut);
    moat_buf_free(&b);
}

/* Errors are found at the same place however the input is split. */
static void test_error_splits(void)
{
    static const uint8_t streams[][24] = {
        {0x82, 0x81, 1, 2, 3, 4, 'a' ^ 1, 0x81, 0x80, 1, 2, 3, 4},
        {0x82, 0x81, 1, 2, 3, 4, 'a' ^ 1, 0x88, 0x83, 1, 2, 3, 4, 0x03 ^ 1, 0xE8 ^ 2, 0x80 ^ 3},
        {0x02, 0x82, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2, 0x89, 0x80, 1, 2, 3, 4, 0x82, 0x80},
        {0x82, 0x85, 1, 2, 3, 4, 1, 2, 3, 4, 5, 0x82, 0x86, 1, 2, 3, 4},
    };
    static const size_t lens[] = {13, 16, 16, 17};
    for (size_t t = 0; t < 4; t++) {
        run ref, split;
        decode_once(streams[t], lens[t], true, 5, &ref);
        CHECK(ref.n_ev >= 1);
        CHECK_EQ(ref.ev[ref.n_ev - 1].type, MOAT_WS_EV_ERROR);
        for (int round = 0; round < 30; round++) {
            size_t cut[64], n = 0;
            for (size_t total = 0; total < lens[t] && n < 64; total += cut[n++])
                cut[n] = rnd() % 4;
            moat_ws_decoder d = decoder(true, 5);
            feed_mode(&d, streams[t], lens[t], cut, n, round & 1, &split);
            CHECK(!split.invariant_broken);
            CHECK(runs_equal(&ref, &split));
            free(split.out);
        }
        free(ref.out);
    }
}

/* ---------------------------------------------------------- handshake */

static moat_http_str hs(const char *s)
{
    return (moat_http_str){s, strlen(s)};
}

static void add_header(moat_http_request *r, const char *name, const char *value)
{
    r->headers[r->n_headers].name = hs(name);
    r->headers[r->n_headers].value = hs(value);
    r->n_headers++;
}

/* A valid browser-like request, the key of RFC 6455 1.3. */
static void good_request(moat_http_request *r)
{
    memset(r, 0, sizeof *r);
    r->method = hs("GET");
    r->target = hs("/mqtt");
    r->path = hs("/mqtt");
    r->query = hs("");
    r->version_minor = 1;
    r->content_length = -1;
    add_header(r, "Host", "broker.example:8080");
    add_header(r, "Upgrade", "websocket");
    add_header(r, "Connection", "Upgrade");
    add_header(r, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    add_header(r, "Sec-WebSocket-Version", "13");
    add_header(r, "Sec-WebSocket-Protocol", "mqtt");
    add_header(r, "Origin", "https://a.example:8443");
}

/* Replace the value of header name (or remove it with value NULL). */
static void set_header(moat_http_request *r, const char *name, const char *value)
{
    for (uint32_t i = 0; i < r->n_headers; i++) {
        if (strcmp(r->headers[i].name.p, name) != 0)
            continue;
        if (value) {
            r->headers[i].value = hs(value);
        } else {
            memmove(&r->headers[i], &r->headers[i + 1],
                    (r->n_headers - i - 1) * sizeof r->headers[0]);
            r->n_headers--;
        }
        return;
    }
    if (value)
        add_header(r, name, value);
}

static const char *const origins[] = {"https://a.example:8443", "http://localhost"};

static moat_ws_upgrade_conf default_conf(void)
{
    return (moat_ws_upgrade_conf){.path = "/mqtt",
                                  .fail_if_no_subprotocol = true,
                                  .check_origin = true,
                                  .allow_origin_absent = false,
                                  .allowed_origins = origins,
                                  .n_allowed_origins = 2};
}

static int check(const moat_http_request *r, const moat_ws_upgrade_conf *c, moat_ws_upgrade *u)
{
    moat_err e = moat_ws_check_upgrade(r, c, u);
    if (u->status == 101)
        CHECK_EQ(e, MOAT_OK);
    else
        CHECK(e == MOAT_EPROTOCOL && u->why != NULL && u->accept[0] == '\0');
    return u->status;
}

/* Status for good_request with header name set to value (NULL: removed). */
static int status_with(const char *name, const char *value)
{
    moat_http_request r;
    moat_ws_upgrade u;
    moat_ws_upgrade_conf c = default_conf();
    good_request(&r);
    set_header(&r, name, value);
    return check(&r, &c, &u);
}

static void test_upgrade_accept(void)
{
    moat_http_request r;
    moat_ws_upgrade u;
    moat_ws_upgrade_conf c = default_conf();
    good_request(&r);
    CHECK_EQ(check(&r, &c, &u), 101);
    CHECK_STR(u.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK_STR(u.subprotocol, "mqtt");

    /* Header names and the Upgrade/Connection tokens in any case, in lists;
     * HTTP/1.1 and a query string do not matter. */
    good_request(&r);
    r.headers[1].name = hs("UPGRADE");
    r.headers[1].value = hs("WebSocket");
    r.headers[2].name = hs("connection");
    r.headers[2].value = hs("keep-alive, , upGrade");
    r.target = hs("/mqtt?x=1");
    r.query = hs("x=1");
    CHECK_EQ(check(&r, &c, &u), 101);

    /* Connection tokens may come in a second header. */
    good_request(&r);
    set_header(&r, "Connection", "keep-alive");
    add_header(&r, "Connection", "Upgrade");
    CHECK_EQ(check(&r, &c, &u), 101);

    /* No path rule, no origin rule. */
    c.path = NULL;
    c.check_origin = false;
    good_request(&r);
    r.path = hs("/anything");
    set_header(&r, "Origin", "https://evil.example");
    CHECK_EQ(check(&r, &c, &u), 101);
}

static void test_upgrade_refusals(void)
{
    moat_http_request r;
    moat_ws_upgrade u;
    moat_ws_upgrade_conf c = default_conf();

    good_request(&r);
    r.method = hs("POST");
    CHECK_EQ(check(&r, &c, &u), 405);
    good_request(&r);
    r.method = hs("get"); /* methods are case-sensitive */
    CHECK_EQ(check(&r, &c, &u), 405);

    good_request(&r);
    r.version_minor = 0;
    CHECK_EQ(check(&r, &c, &u), 400);

    CHECK_EQ(status_with("Host", NULL), 400);
    CHECK_EQ(status_with("Upgrade", NULL), 400);
    CHECK_EQ(status_with("Upgrade", "h2c"), 400);
    CHECK_EQ(status_with("Upgrade", "websockets"), 400);
    CHECK_EQ(status_with("Connection", NULL), 400);
    CHECK_EQ(status_with("Connection", "keep-alive"), 400);
    CHECK_EQ(status_with("Connection", "upgraded"), 400);

    CHECK_EQ(status_with("Sec-WebSocket-Version", NULL), 426);
    CHECK_EQ(status_with("Sec-WebSocket-Version", "8"), 426);
    CHECK_EQ(status_with("Sec-WebSocket-Version", "13, 8"), 426);
    CHECK_EQ(status_with("Sec-WebSocket-Version", "013"), 426);

    CHECK_EQ(status_with("Sec-WebSocket-Key", NULL), 400);
    CHECK_EQ(status_with("Sec-WebSocket-Key", ""), 400);
    CHECK_EQ(status_with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ="), 400);  /* 23 */
    CHECK_EQ(status_with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ"), 400);   /* no pad */
    CHECK_EQ(status_with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQQ="), 400); /* 17 bytes */
    CHECK_EQ(status_with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZ==="), 400);
    CHECK_EQ(status_with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j*Q=="), 400);
    CHECK_EQ(status_with("Sec-WebSocket-Key", "dGhlIHNhbXBs ZSBub25jZ=="), 400);
    CHECK_EQ(status_with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ=="),
             400);
    CHECK_EQ(status_with("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA=="), 101);
    CHECK_EQ(status_with("Sec-WebSocket-Key", "+/+/+/+/+/+/+/+/+/+/+w=="), 101);

    good_request(&r);
    r.path = hs("/mqtt/");
    CHECK_EQ(check(&r, &c, &u), 404);
    good_request(&r);
    r.path = hs("/MQTT");
    CHECK_EQ(check(&r, &c, &u), 404);
    CHECK_STR(u.why, "unknown path");

    /* The first failing rule decides. */
    good_request(&r);
    r.path = hs("/x");
    set_header(&r, "Sec-WebSocket-Version", "7");
    CHECK_EQ(check(&r, &c, &u), 426);
    CHECK_STR(u.why, "Sec-WebSocket-Version is not 13");
}

static void test_upgrade_origin(void)
{
    moat_http_request r;
    moat_ws_upgrade u;
    moat_ws_upgrade_conf c = default_conf();
    CHECK_EQ(status_with("Origin", "http://localhost"), 101);
    CHECK_EQ(status_with("Origin", "HTTPS://A.EXAMPLE:8443"), 101);
    CHECK_EQ(status_with("Origin", "https://a.example"), 403);
    CHECK_EQ(status_with("Origin", "https://a.example:8443/"), 403);
    CHECK_EQ(status_with("Origin", "null"), 403);
    CHECK_EQ(status_with("Origin", NULL), 403);
    good_request(&r);
    set_header(&r, "Origin", NULL);
    c.allow_origin_absent = true;
    CHECK_EQ(check(&r, &c, &u), 101);
    set_header(&r, "Origin", "https://b.example");
    CHECK_EQ(check(&r, &c, &u), 403);
    CHECK_STR(u.why, "Origin not allowed");
    c.n_allowed_origins = 0;
    set_header(&r, "Origin", "http://localhost");
    CHECK_EQ(check(&r, &c, &u), 403);
}

/* The subprotocol chosen for the given Sec-WebSocket-Protocol headers. */
static const char *chosen(bool fail, const char *h1, const char *h2, int *status)
{
    moat_http_request r;
    static moat_ws_upgrade u;
    moat_ws_upgrade_conf c = default_conf();
    c.fail_if_no_subprotocol = fail;
    good_request(&r);
    set_header(&r, "Sec-WebSocket-Protocol", h1);
    if (h2)
        add_header(&r, "Sec-WebSocket-Protocol", h2);
    *status = check(&r, &c, &u);
    return u.subprotocol;
}

static void test_upgrade_subprotocol(void)
{
    int st;
    const char *s;
    s = chosen(true, "mqtt", NULL, &st);
    CHECK(st == 101 && s && strcmp(s, "mqtt") == 0);
    /* Our preference, not the client's order. */
    s = chosen(true, "mqtt-v5, mqttv3.1, mqtt", NULL, &st);
    CHECK(st == 101 && s && strcmp(s, "mqtt") == 0);
    s = chosen(true, "mqtt-v5,mqtt-v3.1.1", NULL, &st);
    CHECK(st == 101 && s && strcmp(s, "mqtt-v3.1.1") == 0);
    s = chosen(true, "chat, mqtt-v3", NULL, &st);
    CHECK(st == 101 && s && strcmp(s, "mqtt-v3") == 0);
    s = chosen(true, "chat", "mqttv3.1", &st);
    CHECK(st == 101 && s && strcmp(s, "mqttv3.1") == 0);
    s = chosen(true, "mqtt-v5", "mqtt-v3", &st);
    CHECK(st == 101 && s && strcmp(s, "mqtt-v3") == 0);
    s = chosen(true, " \tmqtt-v5 \t", NULL, &st);
    CHECK(st == 101 && s && strcmp(s, "mqtt-v5") == 0);
    /* Exact names only. */
    s = chosen(true, "MQTT", NULL, &st);
    CHECK(st == 400 && s == NULL);
    s = chosen(true, "mqtt5, mqttx, mqtt-v3.1", NULL, &st);
    CHECK(st == 400 && s == NULL);
    /* None offered. */
    s = chosen(true, NULL, NULL, &st);
    CHECK(st == 400 && s == NULL);
    s = chosen(false, NULL, NULL, &st);
    CHECK(st == 101 && s == NULL);
    s = chosen(false, "chat, superchat", NULL, &st);
    CHECK(st == 101 && s == NULL);

    moat_http_request r;
    moat_ws_upgrade u;
    moat_ws_upgrade_conf c = default_conf();
    good_request(&r);
    set_header(&r, "Sec-WebSocket-Protocol", "wamp");
    CHECK_EQ(check(&r, &c, &u), 400);
    CHECK_STR(u.why, "no MQTT subprotocol offered");
}

static bool buf_is(const moat_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len != n || memcmp(b->data, s, n) != 0) {
        fprintf(stderr, "got:\n%.*s\nwant:\n%s\n", (int)b->len, (const char *)b->data, s);
        return false;
    }
    return true;
}

static void test_upgrade_response(void)
{
    moat_http_request r;
    moat_ws_upgrade u;
    moat_ws_upgrade_conf c = default_conf();
    moat_buf b = MOAT_BUF_INIT;

    good_request(&r);
    CHECK_EQ(check(&r, &c, &u), 101);
    CHECK_EQ(moat_ws_upgrade_response(&u, &b), MOAT_OK);
    CHECK(buf_is(&b, "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                     "Sec-WebSocket-Protocol: mqtt\r\n"
                     "\r\n"));
    moat_buf_reset(&b);

    c.fail_if_no_subprotocol = false;
    set_header(&r, "Sec-WebSocket-Protocol", NULL);
    CHECK_EQ(check(&r, &c, &u), 101);
    CHECK_EQ(moat_ws_upgrade_response(&u, &b), MOAT_OK);
    CHECK(buf_is(&b, "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                     "\r\n"));
    moat_buf_reset(&b);

    set_header(&r, "Sec-WebSocket-Version", "8");
    CHECK_EQ(check(&r, &c, &u), 426);
    CHECK_EQ(moat_ws_upgrade_response(&u, &b), MOAT_OK);
    CHECK(buf_is(&b, "HTTP/1.1 426 Upgrade Required\r\n"
                     "Upgrade: websocket\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Connection: close\r\n"
                     "Content-Type: text/plain\r\n"
                     "Content-Length: 32\r\n"
                     "\r\n"
                     "Sec-WebSocket-Version is not 13\n"));
    moat_buf_reset(&b);

    good_request(&r);
    set_header(&r, "Host", NULL);
    CHECK_EQ(check(&r, &c, &u), 400);
    CHECK_EQ(moat_ws_upgrade_response(&u, &b), MOAT_OK);
    CHECK(buf_is(&b, "HTTP/1.1 400 Bad Request\r\n"
                     "Connection: close\r\n"
                     "Content-Type: text/plain\r\n"
                     "Content-Length: 15\r\n"
                     "\r\n"
                     "no Host header\n"));
    moat_buf_reset(&b);

    good_request(&r);
    r.method = hs("PUT");
    CHECK_EQ(check(&r, &c, &u), 405);
    CHECK_EQ(moat_ws_upgrade_response(&u, &b), MOAT_OK);
    CHECK(buf_is(&b, "HTTP/1.1 405 Method Not Allowed\r\n"
                     "Allow: GET\r\n"
                     "Connection: close\r\n"
                     "Content-Type: text/plain\r\n"
                     "Content-Length: 18\r\n"
                     "\r\n"
                     "method is not GET\n"));
    moat_buf_reset(&b);

    static const int st[] = {403, 404};
    for (size_t i = 0; i < 2; i++) {
        good_request(&r);
        if (st[i] == 403)
            set_header(&r, "Origin", "https://x.example");
        else
            r.path = hs("/");
        CHECK_EQ(check(&r, &c, &u), st[i]);
        CHECK_EQ(moat_ws_upgrade_response(&u, &b), MOAT_OK);
        const char *want =
            st[i] == 403 ? "HTTP/1.1 403 Forbidden\r\n" : "HTTP/1.1 404 Not Found\r\n";
        CHECK(b.len > strlen(want) && memcmp(b.data, want, strlen(want)) == 0);
        moat_buf_reset(&b);
    }

    /* A 101 without an accept value is refused. */
    moat_ws_upgrade bad = {.status = 101};
    CHECK_EQ(moat_ws_upgrade_response(&bad, &b), MOAT_EINVAL);
    bad.status = 42;
    CHECK_EQ(moat_ws_upgrade_response(&bad, &b), MOAT_EINVAL);
    CHECK_EQ(b.len, 0);
    moat_buf_free(&b);
}

int main(void)
{
    TEST(test_rfc_single_frames);
    TEST(test_rfc_fragments_ping_pong);
    TEST(test_rfc_lengths);
    TEST(test_accept_key);
    TEST(test_frame_header);
    TEST(test_mask);
    TEST(test_close_code_valid);
    TEST(test_close_frame);
    TEST(test_errors);
    TEST(test_error_sticks);
    TEST(test_close_events);
    TEST(test_fragmented_with_control);
    TEST(test_zero_length);
    TEST(test_in_place);
    TEST(test_splits);
    TEST(test_error_splits);
    TEST(test_upgrade_accept);
    TEST(test_upgrade_refusals);
    TEST(test_upgrade_origin);
    TEST(test_upgrade_subprotocol);
    TEST(test_upgrade_response);
    return test_summary("ws");
}
