/* SPDX-License-Identifier: Apache-2.0 */
/* MQTT codec: round trips of every packet type and property in 3.1, 3.1.1
 * and 5.0, wire bytes written by hand, every validation rule, truncation
 * (every prefix of a valid packet is MOAT_ENEEDMORE) and remaining-length
 * edge values. */
#include <stdlib.h>

#include "mqtt/codec.h"
#include "test.h"

/* ------------------------------------------------------------ helpers */

static mqtt_bin S(const char *s)
{
    return (mqtt_bin){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static bool bin_is(mqtt_bin b, const char *s)
{
    size_t n = strlen(s);
    return b.len == n && (n == 0 || memcmp(b.p, s, n) == 0);
}

static bool bin_eq(mqtt_bin a, mqtt_bin b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static const uint8_t versions[3] = {MQTT_V31, MQTT_V311, MQTT_V5};

/* Decode d[0..n) and expect error want; a macro so failures name the line. */
#define EXPECT_ERR(ver, want, ...)                                                                 \
    do {                                                                                           \
        static const uint8_t d_[] = {__VA_ARGS__};                                                 \
        mqtt_packet p_;                                                                            \
        size_t u_ = 0;                                                                             \
        CHECK_EQ(mqtt_decode(d_, sizeof d_, ver, &p_, &u_), want);                                 \
    } while (0)

/* Every proper prefix of a complete packet must ask for more input. */
static void check_prefixes(const uint8_t *d, size_t n, uint8_t ver)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        mqtt_packet p;
        size_t used;
        if (mqtt_decode(d, i, ver, &p, &used) != MOAT_ENEEDMORE)
            bad++;
    }
    CHECK_EQ(bad, 0);
}

/* Encode in, then decode it into out (pointing into b, which the caller
 * frees), checking sizes and truncations on the way. */
static bool roundtrip(const mqtt_packet *in, uint8_t ver, moat_buf *b, mqtt_packet *out)
{
    size_t n = 0, used = 0;
    moat_err e = mqtt_encode(in, ver, b, &n);
    CHECK_EQ(e, MOAT_OK);
    if (e)
        return false;
    CHECK_EQ(n, b->len);
    check_prefixes(b->data, b->len, ver);
    e = mqtt_decode(b->data, b->len, ver, out, &used);
    CHECK_EQ(e, MOAT_OK);
    CHECK_EQ(used, b->len);
    if (e == MOAT_OK)
        CHECK_EQ(out->type, in->type);
    return e == MOAT_OK;
}

/* Decode the encoding of in and expect error want. */
static moat_err encode_decode(const mqtt_packet *in, uint8_t ver)
{
    moat_buf b = MOAT_BUF_INIT;
    mqtt_packet out;
    size_t used;
    moat_err e = mqtt_encode(in, ver, &b, NULL);
    CHECK_EQ(e, MOAT_OK);
    if (e == MOAT_OK)
        e = mqtt_decode(b.data, b.len, ver, &out, &used);
    moat_buf_free(&b);
    return e;
}

/* Fields of a decoded property set against the set that was encoded
 * (unset fields are zero on both sides). */
static void check_props_eq(const mqtt_props *a, const mqtt_props *b)
{
    CHECK_EQ(a->has, b->has);
    CHECK_EQ(a->payload_format, b->payload_format);
    CHECK_EQ(a->request_problem_info, b->request_problem_info);
    CHECK_EQ(a->request_response_info, b->request_response_info);
    CHECK_EQ(a->max_qos, b->max_qos);
    CHECK_EQ(a->retain_available, b->retain_available);
    CHECK_EQ(a->wildcard_sub_available, b->wildcard_sub_available);
    CHECK_EQ(a->sub_id_available, b->sub_id_available);
    CHECK_EQ(a->shared_sub_available, b->shared_sub_available);
    CHECK_EQ(a->server_keep_alive, b->server_keep_alive);
    CHECK_EQ(a->receive_max, b->receive_max);
    CHECK_EQ(a->topic_alias_max, b->topic_alias_max);
    CHECK_EQ(a->topic_alias, b->topic_alias);
    CHECK_EQ(a->message_expiry, b->message_expiry);
    CHECK_EQ(a->session_expiry, b->session_expiry);
    CHECK_EQ(a->will_delay, b->will_delay);
    CHECK_EQ(a->max_packet_size, b->max_packet_size);
    CHECK_EQ(a->sub_id, b->sub_id);
    CHECK(bin_eq(a->content_type, b->content_type));
    CHECK(bin_eq(a->response_topic, b->response_topic));
    CHECK(bin_eq(a->correlation_data, b->correlation_data));
    CHECK(bin_eq(a->assigned_client_id, b->assigned_client_id));
    CHECK(bin_eq(a->auth_method, b->auth_method));
    CHECK(bin_eq(a->auth_data, b->auth_data));
    CHECK(bin_eq(a->response_info, b->response_info));
    CHECK(bin_eq(a->server_reference, b->server_reference));
    CHECK(bin_eq(a->reason_string, b->reason_string));
}

/* Two user properties, pre-encoded, as a broker forwards them. */
static const uint8_t user_raw[] = {0x26, 0, 1, 'k', 0, 1, 'v', 0x26, 0, 2, 'k', '2', 0, 0};

static void check_user_props(const mqtt_props *pr)
{
    mqtt_bin k, v;
    uint32_t pos = 0;
    CHECK_EQ(pr->n_user, 2);
    CHECK(mqtt_props_next_user(pr, &pos, &k, &v));
    CHECK(bin_is(k, "k") && bin_is(v, "v"));
    CHECK(mqtt_props_next_user(pr, &pos, &k, &v));
    CHECK(bin_is(k, "k2") && bin_is(v, ""));
    CHECK(!mqtt_props_next_user(pr, &pos, &k, &v));
}

static const mqtt_sub_entry one_entry = {.filter = {(const uint8_t *)"a/+", 3}, .qos = 1};
static const mqtt_bin one_filter = {(const uint8_t *)"a/#", 3};
static const uint8_t zero_reason[1] = {0};

/* A minimal valid packet of each type (type 0 stands for "CONNECT with a
 * will", the slot that will properties live in). */
static void base_packet(uint8_t type, mqtt_packet *p)
{
    memset(p, 0, sizeof *p);
    p->type = type ? type : MQTT_CONNECT;
    switch (type) {
    case 0:
        p->u.connect.will = true;
        p->u.connect.will_topic = S("w");
        p->u.connect.will_payload = S("bye");
        /* fall through */
    case MQTT_CONNECT:
        p->u.connect.client_id = S("c");
        p->u.connect.clean_start = true;
        break;
    case MQTT_PUBLISH:
        p->u.publish.topic = S("t");
        p->u.publish.qos = 1;
        p->u.publish.packet_id = 1;
        p->u.publish.payload = S("p");
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        p->u.ack.packet_id = 1;
        break;
    case MQTT_SUBSCRIBE:
        p->u.sub.packet_id = 1;
        p->u.sub.count = 1;
        p->u.sub.entries = &one_entry;
        break;
    case MQTT_UNSUBSCRIBE:
        p->u.sub.packet_id = 1;
        p->u.sub.count = 1;
        p->u.sub.filters = &one_filter;
        break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        p->u.suback.packet_id = 1;
        p->u.suback.count = 1;
        p->u.suback.reasons = zero_reason;
        break;
    default:
        break;
    }
}

/* The property set of slot (will properties for slot 0). */
static mqtt_props *slot_props(mqtt_packet *p, uint8_t slot)
{
    return slot == 0 ? &p->u.connect.will_props : &p->props;
}

/* Decode a v5 packet of the given slot whose property block is raw (the
 * encoder appends raw verbatim, so this can carry anything). */
static moat_err decode_with_raw_props(uint8_t slot, const uint8_t *raw, uint32_t n)
{
    mqtt_packet p;
    base_packet(slot, &p);
    slot_props(&p, slot)->raw = raw;
    slot_props(&p, slot)->raw_len = n;
    return encode_decode(&p, MQTT_V5);
}

#define EXPECT_PROPS_ERR(slot, want, ...)                                                          \
    do {                                                                                           \
        static const uint8_t r_[] = {__VA_ARGS__};                                                 \
        CHECK_EQ(decode_with_raw_props(slot, r_, sizeof r_), want);                                \
    } while (0)

/* ------------------------------------------------------------ basics */

static void test_names(void)
{
    CHECK_STR(mqtt_packet_name(MQTT_CONNECT), "CONNECT");
    CHECK_STR(mqtt_packet_name(MQTT_PUBLISH), "PUBLISH");
    CHECK_STR(mqtt_packet_name(MQTT_UNSUBSCRIBE), "UNSUBSCRIBE");
    CHECK_STR(mqtt_packet_name(MQTT_AUTH), "AUTH");
    CHECK_STR(mqtt_packet_name(0), "RESERVED");
    CHECK_STR(mqtt_packet_name(16), "UNKNOWN");
    CHECK_STR(mqtt_packet_name(255), "UNKNOWN");
}

#define UTF8_OK(...)                                                                               \
    do {                                                                                           \
        static const uint8_t s_[] = {__VA_ARGS__};                                                 \
        CHECK(mqtt_utf8_valid(s_, sizeof s_));                                                     \
    } while (0)
#define UTF8_BAD(...)                                                                              \
    do {                                                                                           \
        static const uint8_t s_[] = {__VA_ARGS__};                                                 \
        CHECK(!mqtt_utf8_valid(s_, sizeof s_));                                                    \
    } while (0)

static void test_utf8(void)
{
    CHECK(mqtt_utf8_valid(NULL, 0));
    CHECK(mqtt_utf8_valid((const uint8_t *)"sensors/kitchen/temperature", 27));
    UTF8_OK(0xC3, 0xA9);                 /* U+00E9 */
    UTF8_OK(0xC2, 0x80);                 /* U+0080, smallest 2-byte */
    UTF8_OK(0xE0, 0xA0, 0x80);           /* U+0800, smallest 3-byte */
    UTF8_OK(0xED, 0x9F, 0xBF);           /* U+D7FF, just below surrogates */
    UTF8_OK(0xEE, 0x80, 0x80);           /* U+E000, just above */
    UTF8_OK(0xEF, 0xBF, 0xBF);           /* U+FFFF */
    UTF8_OK(0xF0, 0x90, 0x80, 0x80);     /* U+10000 */
    UTF8_OK(0xF4, 0x8F, 0xBF, 0xBF);     /* U+10FFFF */
    UTF8_OK('a', 0xE2, 0x82, 0xAC, 'b'); /* euro sign */
    UTF8_OK(0x01, 0x1F, 0x7F);           /* control chars: SHOULD NOT, not MUST */
    UTF8_BAD(0x00);                      /* U+0000 */
    UTF8_BAD('a', 'b', 0x00);
    UTF8_BAD(0xC0, 0x80);             /* overlong NUL */
    UTF8_BAD(0xC1, 0xBF);             /* overlong */
    UTF8_BAD(0xE0, 0x9F, 0xBF);       /* overlong 3-byte */
    UTF8_BAD(0xF0, 0x8F, 0xBF, 0xBF); /* overlong 4-byte */
    UTF8_BAD(0xED, 0xA0, 0x80);       /* U+D800 */
    UTF8_BAD(0xED, 0xBF, 0xBF);       /* U+DFFF */
    UTF8_BAD(0xF4, 0x90, 0x80, 0x80); /* U+110000 */
    UTF8_BAD(0xF5, 0x80, 0x80, 0x80);
    UTF8_BAD(0xFF);
    UTF8_BAD(0x80); /* lone continuation */
    UTF8_BAD(0xC3); /* truncated */
    UTF8_BAD(0xE2, 0x82);
    UTF8_BAD(0xF0, 0x90, 0x80);
    UTF8_BAD(0xE2, 0x28, 0xA1); /* bad continuation */
    UTF8_BAD(0xF0, 0x90, 0x28, 0x80);

    /* The 8-byte fast path: a bad byte at every position of a long string,
     * and a good multi-byte character at every position. */
    uint8_t s[40];
    for (size_t i = 0; i < sizeof s; i++) {
        memset(s, 'x', sizeof s);
        s[i] = 0;
        CHECK(!mqtt_utf8_valid(s, sizeof s));
        s[i] = 0x80;
        CHECK(!mqtt_utf8_valid(s, sizeof s));
        s[i] = 0xFF;
        CHECK(!mqtt_utf8_valid(s, sizeof s));
        if (i + 1 < sizeof s) {
            s[i] = 0xC3;
            s[i + 1] = 0xA9;
            CHECK(mqtt_utf8_valid(s, sizeof s));
        }
    }
}

/* Minimal variable byte integer encoding, written independently of the
 * codec. */
static size_t put_vbi(uint8_t *w, uint32_t v)
{
    size_t n = 0;
    do {
        uint8_t b = v % 128;
        v /= 128;
        w[n++] = v ? (uint8_t)(b | 0x80) : b;
    } while (v);
    return n;
}

static void test_frame(void)
{
    static const uint32_t edges[] = {0,     1,     127,     128,     16383,
                                     16384, 65535, 2097151, 2097152, 268435455};
    static const size_t sizes[] = {1, 1, 1, 2, 2, 3, 3, 3, 4, 4};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        uint8_t h[5] = {0x30};
        size_t n = 1 + put_vbi(h + 1, edges[i]);
        CHECK_EQ(n, 1 + sizes[i]);
        size_t hl = 0;
        uint32_t rem = 0;
        CHECK_EQ(mqtt_frame(h, n, &hl, &rem), MOAT_OK);
        CHECK_EQ(hl, n);
        CHECK_EQ(rem, edges[i]);
        for (size_t k = 0; k < n; k++)
            CHECK_EQ(mqtt_frame(h, k, &hl, &rem), MOAT_ENEEDMORE);
    }
    size_t hl;
    uint32_t rem;
    /* Five length bytes: rejected as soon as the fourth has its continuation
     * bit, without waiting for the fifth. */
    static const uint8_t five[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    CHECK_EQ(mqtt_frame(five, sizeof five, &hl, &rem), MOAT_EMALFORMED);
    CHECK_EQ(mqtt_frame(five, 5, &hl, &rem), MOAT_EMALFORMED);
    static const uint8_t five0[] = {0x30, 0x80, 0x80, 0x80, 0x80, 0x01};
    CHECK_EQ(mqtt_frame(five0, sizeof five0, &hl, &rem), MOAT_EMALFORMED);
    /* Non-minimal forms. */
    static const uint8_t over2[] = {0x30, 0x80, 0x00};
    static const uint8_t over3[] = {0x30, 0xFF, 0x80, 0x00};
    static const uint8_t over4[] = {0xC0, 0x80, 0x80, 0x80, 0x00};
    CHECK_EQ(mqtt_frame(over2, sizeof over2, &hl, &rem), MOAT_EMALFORMED);
    CHECK_EQ(mqtt_frame(over3, sizeof over3, &hl, &rem), MOAT_EMALFORMED);
    CHECK_EQ(mqtt_frame(over4, sizeof over4, &hl, &rem), MOAT_EMALFORMED);
    /* The whole packet must be present for mqtt_decode. */
    EXPECT_ERR(MQTT_V311, MOAT_ENEEDMORE, 0x30, 0x05, 0x00, 0x01, 't');
    EXPECT_ERR(MQTT_V311, MOAT_EMALFORMED, 0x30, 0x80, 0x80, 0x80, 0x80, 0x01);
    EXPECT_ERR(MQTT_V311, MOAT_EMALFORMED, 0x30, 0x80, 0x00);
}

/* PUBLISH packets whose remaining length is exactly each edge value; the
 * encoder must pick the same header size as the specification. */
static void test_remaining_length_edges(void)
{
    static const uint32_t edges[] = {127, 128, 16383, 16384, 2097151, 2097152};
    uint8_t *payload = calloc(1, 2097152);
    CHECK(payload != NULL);
    if (!payload)
        return;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        mqtt_packet p, q;
        base_packet(MQTT_PUBLISH, &p);
        p.u.publish.qos = 0;
        p.u.publish.topic = S("t"); /* 3 bytes */
        p.u.publish.payload.p = payload;
        p.u.publish.payload.len = edges[i] - 3;
        moat_buf b = MOAT_BUF_INIT;
        if (roundtrip(&p, MQTT_V311, &b, &q)) {
            uint8_t h[5];
            size_t n = put_vbi(h, edges[i]);
            CHECK_EQ(b.len, 1 + n + edges[i]);
            CHECK_MEM(b.data + 1, h, n);
            CHECK_EQ(q.u.publish.payload.len, edges[i] - 3);
        }
        moat_buf_free(&b);
    }
    free(payload);

    /* The largest remaining length is 268435455: one byte more does not
     * encode (checked before the payload is touched, so no memory needed). */
    mqtt_packet p;
    base_packet(MQTT_PUBLISH, &p);
    p.u.publish.qos = 0;
    p.u.publish.payload.p = (const uint8_t *)"";
    p.u.publish.payload.len = 268435455u - 3 + 1;
    moat_buf b = MOAT_BUF_INIT;
    CHECK_EQ(mqtt_encode(&p, MQTT_V311, &b, NULL), MOAT_ETOOLARGE);
    CHECK_EQ(b.len, 0);
    moat_buf_free(&b);
}

/* ------------------------------------------------------------ wire bytes */

/* Encoding p must give exactly want, and decoding want must succeed. */
static void check_wire(const mqtt_packet *p, uint8_t ver, const uint8_t *want, size_t n)
{
    moat_buf b = MOAT_BUF_INIT;
    size_t written = 0;
    CHECK_EQ(mqtt_encode(p, ver, &b, &written), MOAT_OK);
    CHECK_EQ(written, n);
    CHECK_EQ(b.len, n);
    if (b.len == n)
        CHECK_MEM(b.data, want, n);
    moat_buf_free(&b);
    mqtt_packet q;
    size_t used = 0;
    CHECK_EQ(mqtt_decode(want, n, ver, &q, &used), MOAT_OK);
    CHECK_EQ(used, n);
    check_prefixes(want, n, ver);
}

#define WIRE(p, ver, ...)                                                                          \
    do {                                                                                           \
        static const uint8_t w_[] = {__VA_ARGS__};                                                 \
        check_wire(p, ver, w_, sizeof w_);                                                         \
    } while (0)

static void test_wire_connect(void)
{
    mqtt_packet p;
    base_packet(MQTT_CONNECT, &p);
    p.u.connect.client_id = S("abc");
    p.u.connect.keep_alive = 60;
    WIRE(&p, MQTT_V311, 0x10, 0x0F, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 3, 'a', 'b', 'c');
    WIRE(&p, MQTT_V31, 0x10, 0x11, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x02, 0, 60, 0, 3, 'a',
         'b', 'c');
    WIRE(&p, MQTT_V5, 0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0, 0, 3, 'a', 'b', 'c');

    /* Will QoS 1 retained, user name and password, v3.1.1. */
    p.u.connect.will = true;
    p.u.connect.will_qos = 1;
    p.u.connect.will_retain = true;
    p.u.connect.will_topic = S("w");
    p.u.connect.will_payload = S("x");
    p.u.connect.has_username = true;
    p.u.connect.username = S("u");
    p.u.connect.has_password = true;
    p.u.connect.password = S("p");
    WIRE(&p, MQTT_V311, 0x10, 0x1B, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xEE, 0, 60, 0, 3, 'a', 'b', 'c',
         0, 1, 'w', 0, 1, 'x', 0, 1, 'u', 0, 1, 'p');
}

static void test_wire_others(void)
{
    mqtt_packet p;

    base_packet(MQTT_CONNACK, &p);
    WIRE(&p, MQTT_V311, 0x20, 0x02, 0x00, 0x00);
    p.u.connack.session_present = true;
    WIRE(&p, MQTT_V311, 0x20, 0x02, 0x01, 0x00);
    WIRE(&p, MQTT_V31, 0x20, 0x02, 0x00, 0x00); /* 3.1 has no session present */
    p.u.connack.session_present = false;
    p.props.has = MQTT_HAS(MQTT_PROP_MAX_QOS);
    p.props.max_qos = 1;
    WIRE(&p, MQTT_V5, 0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x01);

    base_packet(MQTT_PUBLISH, &p);
    p.u.publish.topic = S("a/b");
    p.u.publish.packet_id = 10;
    p.u.publish.payload = S("hi");
    WIRE(&p, MQTT_V311, 0x32, 0x09, 0, 3, 'a', '/', 'b', 0, 10, 'h', 'i');
    p.u.publish.qos = 2;
    p.u.publish.dup = true;
    p.u.publish.retain = true;
    WIRE(&p, MQTT_V311, 0x3D, 0x09, 0, 3, 'a', '/', 'b', 0, 10, 'h', 'i');
    base_packet(MQTT_PUBLISH, &p);
    p.u.publish.qos = 0;
    p.u.publish.payload = S("x");
    WIRE(&p, MQTT_V5, 0x30, 0x05, 0, 1, 't', 0x00, 'x');

    base_packet(MQTT_PUBACK, &p);
    p.u.ack.packet_id = 7;
    WIRE(&p, MQTT_V311, 0x40, 0x02, 0, 7);
    WIRE(&p, MQTT_V5, 0x40, 0x02, 0, 7); /* short form: success, no properties */
    p.u.ack.reason = MQTT_RC_NO_MATCHING_SUBSCRIBERS;
    WIRE(&p, MQTT_V5, 0x40, 0x03, 0, 7, 0x10);
    p.props.has = MQTT_HAS(MQTT_PROP_REASON_STRING);
    p.props.reason_string = S("r");
    WIRE(&p, MQTT_V5, 0x40, 0x08, 0, 7, 0x10, 0x04, 0x1F, 0, 1, 'r');
    p.u.ack.reason = 0;
    WIRE(&p, MQTT_V5, 0x40, 0x08, 0, 7, 0x00, 0x04, 0x1F, 0, 1, 'r');
    base_packet(MQTT_PUBREL, &p);
    p.u.ack.packet_id = 7;
    WIRE(&p, MQTT_V311, 0x62, 0x02, 0, 7);
    base_packet(MQTT_PUBREC, &p);
    WIRE(&p, MQTT_V5, 0x50, 0x02, 0, 1);
    base_packet(MQTT_PUBCOMP, &p);
    WIRE(&p, MQTT_V31, 0x70, 0x02, 0, 1);

    static const mqtt_sub_entry e = {.filter = {(const uint8_t *)"a/#", 3}, .qos = 1};
    base_packet(MQTT_SUBSCRIBE, &p);
    p.u.sub.entries = &e;
    WIRE(&p, MQTT_V311, 0x82, 0x08, 0, 1, 0, 3, 'a', '/', '#', 0x01);
    static const mqtt_sub_entry e5 = {.filter = {(const uint8_t *)"x", 1},
                                      .qos = 2,
                                      .no_local = true,
                                      .retain_as_published = true,
                                      .retain_handling = 1};
    p.u.sub.entries = &e5;
    p.props.has = MQTT_HAS(MQTT_PROP_SUBSCRIPTION_ID);
    p.props.sub_id = 5;
    WIRE(&p, MQTT_V5, 0x82, 0x09, 0, 1, 0x02, 0x0B, 0x05, 0, 1, 'x', 0x1E);

    base_packet(MQTT_UNSUBSCRIBE, &p);
    WIRE(&p, MQTT_V311, 0xA2, 0x07, 0, 1, 0, 3, 'a', '/', '#');
    WIRE(&p, MQTT_V5, 0xA2, 0x08, 0, 1, 0, 0, 3, 'a', '/', '#');

    static const uint8_t granted[2] = {0x01, 0x80};
    base_packet(MQTT_SUBACK, &p);
    p.u.suback.count = 2;
    p.u.suback.reasons = granted;
    WIRE(&p, MQTT_V311, 0x90, 0x04, 0, 1, 0x01, 0x80);
    WIRE(&p, MQTT_V5, 0x90, 0x05, 0, 1, 0x00, 0x01, 0x80);

    base_packet(MQTT_UNSUBACK, &p);
    WIRE(&p, MQTT_V311, 0xB0, 0x02, 0, 1);
    WIRE(&p, MQTT_V5, 0xB0, 0x04, 0, 1, 0x00, 0x00);

    base_packet(MQTT_PINGREQ, &p);
    WIRE(&p, MQTT_V311, 0xC0, 0x00);
    base_packet(MQTT_PINGRESP, &p);
    WIRE(&p, MQTT_V5, 0xD0, 0x00);

    base_packet(MQTT_DISCONNECT, &p);
    WIRE(&p, MQTT_V311, 0xE0, 0x00);
    WIRE(&p, MQTT_V5, 0xE0, 0x00);
    p.u.disconnect.reason = MQTT_RC_SESSION_TAKEN_OVER;
    WIRE(&p, MQTT_V5, 0xE0, 0x01, 0x8E);
    p.props.has = MQTT_HAS(MQTT_PROP_SESSION_EXPIRY);
    p.props.session_expiry = 0x01020304;
    WIRE(&p, MQTT_V5, 0xE0, 0x07, 0x8E, 0x05, 0x11, 1, 2, 3, 4);

    base_packet(MQTT_AUTH, &p);
    WIRE(&p, MQTT_V5, 0xF0, 0x00);
    p.u.disconnect.reason = MQTT_RC_CONTINUE_AUTH;
    p.props.has = MQTT_HAS(MQTT_PROP_AUTH_METHOD);
    p.props.auth_method = S("m");
    WIRE(&p, MQTT_V5, 0xF0, 0x06, 0x18, 0x04, 0x15, 0, 1, 'm');
}

/* Forms other implementations may send that the encoder never produces. */
static void test_wire_short_forms(void)
{
    mqtt_packet p;
    size_t used;
    /* v5 PUBACK: reason 0 explicitly, with and without an empty property
     * block. */
    static const uint8_t a3[] = {0x40, 0x03, 0, 9, 0x00};
    static const uint8_t a4[] = {0x40, 0x04, 0, 9, 0x10, 0x00};
    CHECK_EQ(mqtt_decode(a3, sizeof a3, MQTT_V5, &p, &used), MOAT_OK);
    CHECK_EQ(p.u.ack.packet_id, 9);
    CHECK_EQ(p.u.ack.reason, 0);
    CHECK_EQ(mqtt_decode(a4, sizeof a4, MQTT_V5, &p, &used), MOAT_OK);
    CHECK_EQ(p.u.ack.reason, 0x10);
    CHECK_EQ(p.props.has, 0);
    /* v5 DISCONNECT with reason and an empty property block. */
    static const uint8_t d2[] = {0xE0, 0x02, 0x04, 0x00};
    CHECK_EQ(mqtt_decode(d2, sizeof d2, MQTT_V5, &p, &used), MOAT_OK);
    CHECK_EQ(p.u.disconnect.reason, MQTT_RC_DISCONNECT_WITH_WILL);
    /* v5 AUTH with only a reason code. */
    static const uint8_t au[] = {0xF0, 0x01, 0x19};
    CHECK_EQ(mqtt_decode(au, sizeof au, MQTT_V5, &p, &used), MOAT_OK);
    CHECK_EQ(p.u.disconnect.reason, MQTT_RC_REAUTHENTICATE);
    /* 3.1 CONNACK: the first byte is unused, whatever it holds. */
    static const uint8_t c31[] = {0x20, 0x02, 0xFF, 0x02};
    CHECK_EQ(mqtt_decode(c31, sizeof c31, MQTT_V31, &p, &used), MOAT_OK);
    CHECK(!p.u.connack.session_present);
    CHECK_EQ(p.u.connack.reason, 2);
    /* Version 0 (before CONNECT) decodes with the 3.1.1 rules. */
    static const uint8_t pub[] = {0x30, 0x04, 0, 1, 't', 'x'};
    CHECK_EQ(mqtt_decode(pub, sizeof pub, 0, &p, &used), MOAT_OK);
    CHECK(bin_is(p.u.publish.payload, "x"));
}

/* ------------------------------------------------------------ round trips */

static void test_roundtrip_connect(void)
{
    for (size_t vi = 0; vi < 3; vi++) {
        uint8_t ver = versions[vi];
        mqtt_packet p, q;
        moat_buf b = MOAT_BUF_INIT;

        /* Empty client id, no flags. */
        base_packet(MQTT_CONNECT, &p);
        p.u.connect.client_id = S("");
        p.u.connect.clean_start = false;
        if (roundtrip(&p, ver, &b, &q)) {
            CHECK_EQ(q.u.connect.protocol_version, ver);
            CHECK(bin_is(q.u.connect.protocol_name, ver == MQTT_V31 ? "MQIsdp" : "MQTT"));
            CHECK(!q.u.connect.clean_start && !q.u.connect.will);
            CHECK(!q.u.connect.has_username && !q.u.connect.has_password);
            CHECK_EQ(q.u.connect.client_id.len, 0);
            CHECK_EQ(q.props.has, 0);
        }
        moat_buf_reset(&b);

        /* Everything set. */
        static const uint8_t pw[] = {0x00, 0xFF, 0xC0};
        base_packet(0, &p);
        p.u.connect.client_id = S("client-\xC3\xA9");
        p.u.connect.keep_alive = 65535;
        p.u.connect.will_qos = 2;
        p.u.connect.will_retain = true;
        p.u.connect.will_payload = (mqtt_bin){pw, 3};
        p.u.connect.has_username = true;
        p.u.connect.username = S("user");
        p.u.connect.has_password = true;
        p.u.connect.password = (mqtt_bin){pw, 3};
        if (roundtrip(&p, ver, &b, &q)) {
            CHECK(q.u.connect.clean_start);
            CHECK_EQ(q.u.connect.keep_alive, 65535);
            CHECK(bin_is(q.u.connect.client_id, "client-\xC3\xA9"));
            CHECK(q.u.connect.will && q.u.connect.will_retain);
            CHECK_EQ(q.u.connect.will_qos, 2);
            CHECK(bin_is(q.u.connect.will_topic, "w"));
            CHECK(bin_eq(q.u.connect.will_payload, p.u.connect.will_payload));
            CHECK(q.u.connect.has_username && bin_is(q.u.connect.username, "user"));
            CHECK(q.u.connect.has_password && bin_eq(q.u.connect.password, p.u.connect.password));
        }
        moat_buf_reset(&b);

        /* Will QoS 0/1, username without password. */
        for (uint8_t wq = 0; wq < 2; wq++) {
            base_packet(0, &p);
            p.u.connect.will_qos = wq;
            p.u.connect.has_username = true;
            p.u.connect.username = S("");
            if (roundtrip(&p, ver, &b, &q)) {
                CHECK_EQ(q.u.connect.will_qos, wq);
                CHECK(!q.u.connect.will_retain);
                CHECK(q.u.connect.has_username && !q.u.connect.has_password);
            }
            moat_buf_reset(&b);
        }
        moat_buf_free(&b);
    }

    /* v5 only: password without user name. */
    mqtt_packet p, q;
    moat_buf b = MOAT_BUF_INIT;
    base_packet(MQTT_CONNECT, &p);
    p.u.connect.has_password = true;
    p.u.connect.password = S("secret");
    if (roundtrip(&p, MQTT_V5, &b, &q))
        CHECK(q.u.connect.has_password && !q.u.connect.has_username);
    moat_buf_free(&b);
}

static void test_roundtrip_connack(void)
{
    for (size_t vi = 0; vi < 3; vi++) {
        uint8_t ver = versions[vi];
        for (uint8_t rc = 0; rc <= 5; rc++) {
            mqtt_packet p, q;
            moat_buf b = MOAT_BUF_INIT;
            base_packet(MQTT_CONNACK, &p);
            /* v5 codes for the v5 run; v3 return codes otherwise. */
            p.u.connack.reason = ver == MQTT_V5 ? (rc ? (uint8_t)(0x80 + rc) : 0) : rc;
            p.u.connack.session_present = rc == 0 && ver != MQTT_V31;
            if (roundtrip(&p, ver, &b, &q)) {
                CHECK_EQ(q.u.connack.reason, p.u.connack.reason);
                CHECK_EQ(q.u.connack.session_present, p.u.connack.session_present);
            }
            moat_buf_free(&b);
        }
    }
}

static void test_roundtrip_publish(void)
{
    for (size_t vi = 0; vi < 3; vi++) {
        uint8_t ver = versions[vi];
        for (uint8_t qos = 0; qos <= 2; qos++) {
            for (int flags = 0; flags < 4; flags++) {
                bool dup = flags & 1, retain = flags & 2;
                if (dup && qos == 0)
                    continue;
                mqtt_packet p, q;
                moat_buf b = MOAT_BUF_INIT;
                base_packet(MQTT_PUBLISH, &p);
                p.u.publish.topic = S("a/b/\xE2\x82\xAC");
                p.u.publish.qos = qos;
                p.u.publish.dup = dup;
                p.u.publish.retain = retain;
                p.u.publish.packet_id = qos ? 65535 : 0;
                p.u.publish.payload = flags == 3 ? S("") : S("\xFF binary ok");
                if (roundtrip(&p, ver, &b, &q)) {
                    CHECK(bin_eq(q.u.publish.topic, p.u.publish.topic));
                    CHECK_EQ(q.u.publish.qos, qos);
                    CHECK_EQ(q.u.publish.dup, dup);
                    CHECK_EQ(q.u.publish.retain, retain);
                    CHECK_EQ(q.u.publish.packet_id, p.u.publish.packet_id);
                    CHECK(bin_eq(q.u.publish.payload, p.u.publish.payload));
                    CHECK_EQ(q.flags, (dup ? 8 : 0) | qos << 1 | (retain ? 1 : 0));
                }
                moat_buf_free(&b);
            }
        }
    }

    /* v5: empty topic with a topic alias, alias 0 is left to the broker. */
    for (uint16_t alias = 0; alias < 2; alias++) {
        mqtt_packet p, q;
        moat_buf b = MOAT_BUF_INIT;
        base_packet(MQTT_PUBLISH, &p);
        p.u.publish.topic = S("");
        p.props.has = MQTT_HAS(MQTT_PROP_TOPIC_ALIAS);
        p.props.topic_alias = alias;
        if (roundtrip(&p, MQTT_V5, &b, &q)) {
            CHECK_EQ(q.u.publish.topic.len, 0);
            CHECK_EQ(q.props.topic_alias, alias);
        }
        moat_buf_free(&b);
    }
}

static void test_roundtrip_acks(void)
{
    static const uint8_t types[] = {MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP};
    static const uint8_t rcs[] = {0x00, 0x10, 0x92};
    for (size_t ti = 0; ti < 4; ti++) {
        for (size_t vi = 0; vi < 3; vi++) {
            uint8_t ver = versions[vi];
            for (size_t ri = 0; ri < 3; ri++) {
                for (int with_props = 0; with_props < 2; with_props++) {
                    uint8_t rc = rcs[ri], t = types[ti];
                    if (ver != MQTT_V5 && (rc || with_props))
                        continue;
                    bool rel = t == MQTT_PUBREL || t == MQTT_PUBCOMP;
                    if ((rc == 0x10 && rel) || (rc == 0x92 && !rel))
                        continue;
                    mqtt_packet p, q;
                    moat_buf b = MOAT_BUF_INIT;
                    base_packet(t, &p);
                    p.u.ack.packet_id = 0x1234;
                    p.u.ack.reason = rc;
                    if (with_props) {
                        p.props.has = MQTT_HAS(MQTT_PROP_REASON_STRING);
                        p.props.reason_string = S("why");
                        p.props.raw = user_raw;
                        p.props.raw_len = sizeof user_raw;
                    }
                    if (roundtrip(&p, ver, &b, &q)) {
                        CHECK_EQ(q.flags, t == MQTT_PUBREL ? 2 : 0);
                        CHECK_EQ(q.u.ack.packet_id, 0x1234);
                        CHECK_EQ(q.u.ack.reason, rc);
                        size_t want = with_props ? 4 + 1 + 1 + 6 + sizeof user_raw : rc ? 5 : 4;
                        CHECK_EQ(b.len, want);
                        if (with_props) {
                            CHECK(bin_is(q.props.reason_string, "why"));
                            check_user_props(&q.props);
                        }
                    }
                    moat_buf_free(&b);
                }
            }
        }
    }
}

static void test_roundtrip_subscribe(void)
{
    for (size_t vi = 0; vi < 3; vi++) {
        uint8_t ver = versions[vi];
        bool v5 = ver == MQTT_V5;
        mqtt_sub_entry es[6];
        memset(es, 0, sizeof es);
        static const char *const filters[6] = {"a/b", "#", "+/x/+", "$share/g/t", "\xC3\xA9", "z"};
        for (int i = 0; i < 6; i++) {
            es[i].filter = S(filters[i]);
            es[i].qos = (uint8_t)(i % 3);
            if (v5) {
                es[i].no_local = i & 1;
                es[i].retain_as_published = i & 2;
                es[i].retain_handling = (uint8_t)(i % 3);
            }
        }
        mqtt_packet p, q;
        moat_buf b = MOAT_BUF_INIT;
        base_packet(MQTT_SUBSCRIBE, &p);
        p.u.sub.packet_id = 42;
        p.u.sub.count = 6;
        p.u.sub.entries = es;
        if (roundtrip(&p, ver, &b, &q)) {
            CHECK_EQ(q.flags, 2);
            CHECK_EQ(q.u.sub.packet_id, 42);
            CHECK_EQ(q.u.sub.count, 6);
            uint32_t pos = 0;
            mqtt_sub_entry e;
            for (int i = 0; i < 6; i++) {
                CHECK(mqtt_sub_next(&q, ver, &pos, &e));
                CHECK(bin_eq(e.filter, es[i].filter));
                CHECK_EQ(e.qos, es[i].qos);
                CHECK_EQ(e.no_local, es[i].no_local);
                CHECK_EQ(e.retain_as_published, es[i].retain_as_published);
                CHECK_EQ(e.retain_handling, es[i].retain_handling);
            }
            CHECK(!mqtt_sub_next(&q, ver, &pos, &e));
            /* Re-encoding from the decoded raw payload gives the same bytes. */
            mqtt_packet r = q;
            r.u.sub.entries = NULL;
            moat_buf b2 = MOAT_BUF_INIT;
            CHECK_EQ(mqtt_encode(&r, ver, &b2, NULL), MOAT_OK);
            CHECK_EQ(b2.len, b.len);
            if (b2.len == b.len)
                CHECK_MEM(b2.data, b.data, b.len);
            moat_buf_free(&b2);
        }
        moat_buf_free(&b);
    }
}

static void test_roundtrip_unsubscribe(void)
{
    for (size_t vi = 0; vi < 3; vi++) {
        uint8_t ver = versions[vi];
        mqtt_bin fs[3] = {S("a/b"), S("#"), S("x/+/\xF0\x9F\x98\x80")};
        mqtt_packet p, q;
        moat_buf b = MOAT_BUF_INIT;
        base_packet(MQTT_UNSUBSCRIBE, &p);
        p.u.sub.packet_id = 7;
        p.u.sub.count = 3;
        p.u.sub.filters = fs;
        if (roundtrip(&p, ver, &b, &q)) {
            CHECK_EQ(q.flags, 2);
            CHECK_EQ(q.u.sub.packet_id, 7);
            CHECK_EQ(q.u.sub.count, 3);
            uint32_t pos = 0;
            mqtt_bin f;
            for (int i = 0; i < 3; i++) {
                CHECK(mqtt_unsub_next(&q, &pos, &f));
                CHECK(bin_eq(f, fs[i]));
            }
            CHECK(!mqtt_unsub_next(&q, &pos, &f));
        }
        moat_buf_free(&b);
    }
}

static void test_roundtrip_acks_sub(void)
{
    static const uint8_t v3codes[] = {0x00, 0x01, 0x02, 0x80};
    static const uint8_t v5codes[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                      0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
    static const uint8_t uncodes[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
    for (size_t vi = 0; vi < 3; vi++) {
        uint8_t ver = versions[vi];
        bool v5 = ver == MQTT_V5;
        mqtt_packet p, q;
        moat_buf b = MOAT_BUF_INIT;
        base_packet(MQTT_SUBACK, &p);
        p.u.suback.packet_id = 99;
        p.u.suback.reasons = v5 ? v5codes : v3codes;
        p.u.suback.count = v5 ? sizeof v5codes : sizeof v3codes;
        if (roundtrip(&p, ver, &b, &q)) {
            CHECK_EQ(q.u.suback.packet_id, 99);
            CHECK_EQ(q.u.suback.count, p.u.suback.count);
            CHECK_MEM(q.u.suback.reasons, p.u.suback.reasons, p.u.suback.count);
        }
        moat_buf_reset(&b);

        base_packet(MQTT_UNSUBACK, &p);
        p.u.suback.packet_id = 98;
        p.u.suback.reasons = uncodes;
        p.u.suback.count = sizeof uncodes;
        if (roundtrip(&p, ver, &b, &q)) {
            CHECK_EQ(q.u.suback.packet_id, 98);
            CHECK_EQ(q.u.suback.count, v5 ? sizeof uncodes : 0);
            if (v5)
                CHECK_MEM(q.u.suback.reasons, uncodes, sizeof uncodes);
            else
                CHECK_EQ(b.len, 4);
        }
        moat_buf_free(&b);
    }
}

static void test_roundtrip_small(void)
{
    for (size_t vi = 0; vi < 3; vi++) {
        uint8_t ver = versions[vi];
        static const uint8_t types[] = {MQTT_PINGREQ, MQTT_PINGRESP, MQTT_DISCONNECT};
        for (size_t i = 0; i < 3; i++) {
            mqtt_packet p, q;
            moat_buf b = MOAT_BUF_INIT;
            base_packet(types[i], &p);
            if (roundtrip(&p, ver, &b, &q)) {
                CHECK_EQ(b.len, 2);
                CHECK_EQ(q.u.disconnect.reason, 0);
            }
            moat_buf_free(&b);
        }
    }
    /* v5 DISCONNECT and AUTH with every allowed reason code. */
    static const uint8_t drc[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                                  0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                                  0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
    static const uint8_t arc[] = {0x00, 0x18, 0x19};
    for (size_t i = 0; i < sizeof drc + sizeof arc; i++) {
        bool auth = i >= sizeof drc;
        mqtt_packet p, q;
        moat_buf b = MOAT_BUF_INIT;
        base_packet(auth ? MQTT_AUTH : MQTT_DISCONNECT, &p);
        p.u.disconnect.reason = auth ? arc[i - sizeof drc] : drc[i];
        if (roundtrip(&p, MQTT_V5, &b, &q)) {
            CHECK_EQ(q.u.disconnect.reason, p.u.disconnect.reason);
            CHECK_EQ(b.len, p.u.disconnect.reason == 0 ? 2u : auth ? 4u : 3u);
        }
        moat_buf_free(&b);
    }
}

/* ------------------------------------------------------------ properties */

/* Every property with a distinctive value, for packets that allow it. */
static void fill_props(mqtt_props *pr, uint8_t slot)
{
    static const uint8_t bin[] = {0x00, 0xFF, 0x80};
    memset(pr, 0, sizeof *pr);
    switch (slot) {
    case 0:
    case MQTT_PUBLISH:
        pr->has |= MQTT_HAS(MQTT_PROP_PAYLOAD_FORMAT) | MQTT_HAS(MQTT_PROP_MESSAGE_EXPIRY) |
                   MQTT_HAS(MQTT_PROP_CONTENT_TYPE) | MQTT_HAS(MQTT_PROP_RESPONSE_TOPIC) |
                   MQTT_HAS(MQTT_PROP_CORRELATION_DATA);
        pr->payload_format = 1;
        pr->message_expiry = 0xFFFFFFFF;
        pr->content_type = S("text/plain");
        pr->response_topic = S("resp/x");
        pr->correlation_data = (mqtt_bin){bin, 3};
        if (slot == 0) {
            pr->has |= MQTT_HAS(MQTT_PROP_WILL_DELAY);
            pr->will_delay = 86400;
        } else {
            pr->has |= MQTT_HAS(MQTT_PROP_SUBSCRIPTION_ID) | MQTT_HAS(MQTT_PROP_TOPIC_ALIAS);
            pr->sub_id = 268435455;
            pr->topic_alias = 65535;
        }
        break;
    case MQTT_CONNECT:
        pr->has |= MQTT_HAS(MQTT_PROP_SESSION_EXPIRY) | MQTT_HAS(MQTT_PROP_AUTH_METHOD) |
                   MQTT_HAS(MQTT_PROP_AUTH_DATA) | MQTT_HAS(MQTT_PROP_REQUEST_PROBLEM_INFO) |
                   MQTT_HAS(MQTT_PROP_REQUEST_RESPONSE_INFO) | MQTT_HAS(MQTT_PROP_RECEIVE_MAX) |
                   MQTT_HAS(MQTT_PROP_TOPIC_ALIAS_MAX) | MQTT_HAS(MQTT_PROP_MAX_PACKET_SIZE);
        pr->session_expiry = 3600;
        pr->auth_method = S("SCRAM-SHA-1");
        pr->auth_data = (mqtt_bin){bin, 3};
        pr->request_problem_info = 0;
        pr->request_response_info = 1;
        pr->receive_max = 1;
        pr->topic_alias_max = 10;
        pr->max_packet_size = 268435460;
        break;
    case MQTT_CONNACK:
        pr->has = MQTT_HAS(MQTT_PROP_SESSION_EXPIRY) | MQTT_HAS(MQTT_PROP_ASSIGNED_CLIENT_ID) |
                  MQTT_HAS(MQTT_PROP_SERVER_KEEP_ALIVE) | MQTT_HAS(MQTT_PROP_AUTH_METHOD) |
                  MQTT_HAS(MQTT_PROP_AUTH_DATA) | MQTT_HAS(MQTT_PROP_RESPONSE_INFO) |
                  MQTT_HAS(MQTT_PROP_SERVER_REFERENCE) | MQTT_HAS(MQTT_PROP_REASON_STRING) |
                  MQTT_HAS(MQTT_PROP_RECEIVE_MAX) | MQTT_HAS(MQTT_PROP_TOPIC_ALIAS_MAX) |
                  MQTT_HAS(MQTT_PROP_MAX_QOS) | MQTT_HAS(MQTT_PROP_RETAIN_AVAILABLE) |
                  MQTT_HAS(MQTT_PROP_MAX_PACKET_SIZE) | MQTT_HAS(MQTT_PROP_WILDCARD_SUB_AVAILABLE) |
                  MQTT_HAS(MQTT_PROP_SUB_ID_AVAILABLE) | MQTT_HAS(MQTT_PROP_SHARED_SUB_AVAILABLE);
        pr->session_expiry = 0xFFFFFFFF;
        pr->assigned_client_id = S("auto-1");
        pr->server_keep_alive = 30;
        pr->auth_method = S("m");
        pr->auth_data = S("");
        pr->response_info = S("ri");
        pr->server_reference = S("other:1883");
        pr->reason_string = S("ok");
        pr->receive_max = 65535;
        pr->topic_alias_max = 0;
        pr->max_qos = 1;
        pr->retain_available = 0;
        pr->max_packet_size = 1;
        pr->wildcard_sub_available = 1;
        pr->sub_id_available = 0;
        pr->shared_sub_available = 1;
        break;
    case MQTT_SUBSCRIBE:
        pr->has = MQTT_HAS(MQTT_PROP_SUBSCRIPTION_ID);
        pr->sub_id = 1;
        break;
    case MQTT_UNSUBSCRIBE:
        break;
    case MQTT_DISCONNECT:
        pr->has = MQTT_HAS(MQTT_PROP_SESSION_EXPIRY) | MQTT_HAS(MQTT_PROP_SERVER_REFERENCE) |
                  MQTT_HAS(MQTT_PROP_REASON_STRING);
        pr->session_expiry = 0;
        pr->server_reference = S("s");
        pr->reason_string = S("bye");
        break;
    case MQTT_AUTH:
        pr->has = MQTT_HAS(MQTT_PROP_AUTH_METHOD) | MQTT_HAS(MQTT_PROP_AUTH_DATA) |
                  MQTT_HAS(MQTT_PROP_REASON_STRING);
        pr->auth_method = S("m");
        pr->auth_data = S("d");
        pr->reason_string = S("r");
        break;
    default: /* acks, SUBACK, UNSUBACK */
        pr->has = MQTT_HAS(MQTT_PROP_REASON_STRING);
        pr->reason_string = S("\xE2\x82\xAC reason");
        break;
    }
    pr->raw = user_raw;
    pr->raw_len = sizeof user_raw;
}

static void test_props_all(void)
{
    for (uint8_t slot = 0; slot < 16; slot++) {
        if (slot == MQTT_PINGREQ || slot == MQTT_PINGRESP)
            continue;
        mqtt_packet p, q;
        moat_buf b = MOAT_BUF_INIT;
        base_packet(slot, &p);
        fill_props(slot_props(&p, slot), slot);
        if (slot == 0) /* the CONNECT's own properties too */
            fill_props(&p.props, MQTT_CONNECT);
        if (roundtrip(&p, MQTT_V5, &b, &q)) {
            check_props_eq(slot_props(&p, slot), slot_props(&q, slot));
            check_user_props(slot_props(&q, slot));
            if (slot == 0) {
                check_props_eq(&p.props, &q.props);
                check_user_props(&q.props);
            }
        }
        moat_buf_free(&b);

        /* Properties are ignored entirely in 3.1.1. */
        if (slot != MQTT_AUTH) {
            b = (moat_buf)MOAT_BUF_INIT;
            if (roundtrip(&p, MQTT_V311, &b, &q)) {
                CHECK_EQ(q.props.has, 0);
                CHECK_EQ(q.props.raw_len, 0);
                if (slot <= MQTT_CONNECT)
                    CHECK_EQ(q.u.connect.will_props.has, 0);
            }
            moat_buf_free(&b);
        }
    }
}

/* Several subscription ids in a PUBLISH to a client: the first one lands in
 * sub_id, the others are still on the wire (props.raw). */
static void test_props_sub_ids(void)
{
    static const uint32_t ids[] = {3, 128, 268435455};
    mqtt_packet p, q;
    moat_buf b = MOAT_BUF_INIT;
    base_packet(MQTT_PUBLISH, &p);
    p.props.sub_ids = ids;
    p.props.n_sub_ids = 3;
    if (roundtrip(&p, MQTT_V5, &b, &q)) {
        CHECK_EQ(q.props.has, MQTT_HAS(MQTT_PROP_SUBSCRIPTION_ID));
        CHECK_EQ(q.props.sub_id, 3);
        static const uint8_t want[] = {0x0B, 3, 0x0B, 0x80, 0x01, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F};
        CHECK_EQ(q.props.raw_len, sizeof want);
        CHECK_MEM(q.props.raw, want, sizeof want);
    }
    moat_buf_free(&b);

    /* Only PUBLISH may carry a list; 0 is not a subscription id. */
    moat_buf c = MOAT_BUF_INIT;
    base_packet(MQTT_SUBSCRIBE, &p);
    p.props.sub_ids = ids;
    p.props.n_sub_ids = 1;
    CHECK_EQ(mqtt_encode(&p, MQTT_V5, &c, NULL), MOAT_EINVAL);
    static const uint32_t bad[] = {0};
    base_packet(MQTT_PUBLISH, &p);
    p.props.sub_ids = bad;
    p.props.n_sub_ids = 1;
    CHECK_EQ(mqtt_encode(&p, MQTT_V5, &c, NULL), MOAT_EINVAL);
    static const uint32_t big[] = {268435456};
    p.props.sub_ids = big;
    CHECK_EQ(mqtt_encode(&p, MQTT_V5, &c, NULL), MOAT_EINVAL);
    CHECK_EQ(c.len, 0);
    moat_buf_free(&c);
}

/* The test's own copy of the MQTT 5 property table (2.2.2.2), to cross-check
 * the codec's: value type and where each property may appear. */
enum { T_BYTE = 1, T_U16, T_U32, T_VBI, T_STR, T_BIN, T_PAIR };
#define B(t) (1u << (t))
#define WILL 1u
static const struct {
    uint8_t id, type;
    uint16_t where;
} spec_props[] = {
    {0x01, T_BYTE, B(3) | WILL},
    {0x02, T_U32, B(3) | WILL},
    {0x03, T_STR, B(3) | WILL},
    {0x08, T_STR, B(3) | WILL},
    {0x09, T_BIN, B(3) | WILL},
    {0x0B, T_VBI, B(3) | B(8)},
    {0x11, T_U32, B(1) | B(2) | B(14)},
    {0x12, T_STR, B(2)},
    {0x13, T_U16, B(2)},
    {0x15, T_STR, B(1) | B(2) | B(15)},
    {0x16, T_BIN, B(1) | B(2) | B(15)},
    {0x17, T_BYTE, B(1)},
    {0x18, T_U32, WILL},
    {0x19, T_BYTE, B(1)},
    {0x1A, T_STR, B(2)},
    {0x1C, T_STR, B(2) | B(14)},
    {0x1F, T_STR, B(2) | B(4) | B(5) | B(6) | B(7) | B(9) | B(11) | B(14) | B(15)},
    {0x21, T_U16, B(1) | B(2)},
    {0x22, T_U16, B(1) | B(2)},
    {0x23, T_U16, B(3)},
    {0x24, T_BYTE, B(2)},
    {0x25, T_BYTE, B(2)},
    {0x26, T_PAIR, 0xFFFF & ~B(12) & ~B(13)},
    {0x27, T_U32, B(1) | B(2)},
    {0x28, T_BYTE, B(2)},
    {0x29, T_BYTE, B(2)},
    {0x2A, T_BYTE, B(2)},
};
#define N_SPEC_PROPS (sizeof spec_props / sizeof spec_props[0])

/* One property on the wire with a valid (non-zero) value. */
static size_t spec_prop_bytes(size_t i, uint8_t *w)
{
    static const uint8_t val[][6] = {
        [T_BYTE] = {1},
        [T_U16] = {0, 1},
        [T_U32] = {0, 0, 0, 1},
        [T_VBI] = {1},
        [T_STR] = {0, 1, 's'},
        [T_BIN] = {0, 1, 0xFF},
        [T_PAIR] = {0, 1, 'k', 0, 1, 'v'},
    };
    static const size_t len[] = {[T_BYTE] = 1, [T_U16] = 2, [T_U32] = 4, [T_VBI] = 1,
                                 [T_STR] = 3,  [T_BIN] = 3, [T_PAIR] = 6};
    w[0] = spec_props[i].id;
    memcpy(w + 1, val[spec_props[i].type], len[spec_props[i].type]);
    return 1 + len[spec_props[i].type];
}

/* Every property in every packet: allowed ones round-trip, others are
 * refused by the encoder and rejected as malformed by the decoder. The
 * property is also sent twice: a protocol error for all but user property
 * (and subscription id in PUBLISH). Unknown ids are malformed. */
static void test_props_matrix(void)
{
    for (size_t i = 0; i < N_SPEC_PROPS; i++) {
        for (uint8_t slot = 0; slot < 16; slot++) {
            if (slot == MQTT_PINGREQ || slot == MQTT_PINGRESP)
                continue;
            uint8_t one[8], two[16];
            size_t n = spec_prop_bytes(i, one);
            memcpy(two, one, n);
            memcpy(two + n, one, n);
            uint8_t id = spec_props[i].id;
            bool allowed = spec_props[i].where & B(slot);
            /* Authentication data needs a method: add one in front. */
            uint8_t pre[24] = {0x15, 0, 1, 'm'};
            size_t pn = 0;
            if (id == MQTT_PROP_AUTH_DATA && allowed)
                pn = 4;
            memcpy(pre + pn, one, n);
            moat_err got = decode_with_raw_props(slot, pre, (uint32_t)(pn + n));
            CHECK_EQ(got, allowed ? MOAT_OK : MOAT_EMALFORMED);
            if (got != (allowed ? MOAT_OK : MOAT_EMALFORMED))
                fprintf(stderr, "  property 0x%02X in slot %u\n", id, slot);
            if (allowed) {
                memcpy(pre + pn, two, 2 * n);
                bool multi = id == MQTT_PROP_USER_PROPERTY ||
                             (id == MQTT_PROP_SUBSCRIPTION_ID && slot == MQTT_PUBLISH);
                got = decode_with_raw_props(slot, pre, (uint32_t)(pn + 2 * n));
                CHECK_EQ(got, multi ? MOAT_OK : MOAT_EPROTOCOL);
            }
            if (id == MQTT_PROP_USER_PROPERTY)
                continue;
            /* The same through the structured fields. */
            mqtt_packet p, q;
            base_packet(slot, &p);
            mqtt_props *pr = slot_props(&p, slot);
            pr->has = MQTT_HAS(id);
            pr->payload_format = pr->request_problem_info = pr->request_response_info = 1;
            pr->max_qos = pr->retain_available = pr->wildcard_sub_available = 1;
            pr->sub_id_available = pr->shared_sub_available = 1;
            pr->server_keep_alive = pr->receive_max = pr->topic_alias_max = pr->topic_alias = 1;
            pr->message_expiry = pr->session_expiry = pr->will_delay = 1;
            pr->max_packet_size = pr->sub_id = 1;
            pr->content_type = pr->response_topic = pr->correlation_data = S("s");
            pr->assigned_client_id = pr->auth_method = pr->auth_data = S("s");
            pr->response_info = pr->server_reference = pr->reason_string = S("s");
            if (id == MQTT_PROP_AUTH_DATA)
                pr->has |= MQTT_HAS(MQTT_PROP_AUTH_METHOD);
            moat_buf b = MOAT_BUF_INIT;
            if (!allowed) {
                CHECK_EQ(mqtt_encode(&p, MQTT_V5, &b, NULL), MOAT_EINVAL);
                CHECK_EQ(b.len, 0);
            } else if (roundtrip(&p, MQTT_V5, &b, &q)) {
                mqtt_props *qr = slot_props(&q, slot);
                CHECK_EQ(qr->has, pr->has);
                CHECK_EQ(qr->raw_len,
                         spec_prop_bytes(i, one) + (id == MQTT_PROP_AUTH_DATA ? 4 : 0));
            }
            moat_buf_free(&b);
        }
    }
    /* Identifiers that do not exist. */
    static const uint8_t unknown[] = {0x00, 0x04, 0x0A, 0x0C, 0x10, 0x14, 0x1B,
                                      0x1D, 0x1E, 0x20, 0x2B, 0x3F, 0x40, 0x7F};
    for (size_t i = 0; i < sizeof unknown; i++) {
        uint8_t raw[2] = {unknown[i], 1};
        CHECK_EQ(decode_with_raw_props(MQTT_PUBLISH, raw, 2), MOAT_EMALFORMED);
    }
    /* A multi-byte identifier: 0x81 0x01 is 129 (unknown), 0x81 0x00 is an
     * overlong 1. */
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_EMALFORMED, 0x81, 0x01, 1);
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_EMALFORMED, 0x81, 0x00, 1);
}

static void test_props_values(void)
{
    /* Byte properties are 0 or 1. */
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_EPROTOCOL, 0x01, 2);
    EXPECT_PROPS_ERR(0, MOAT_EPROTOCOL, 0x01, 0xFF);
    EXPECT_PROPS_ERR(MQTT_CONNECT, MOAT_EPROTOCOL, 0x17, 2);
    EXPECT_PROPS_ERR(MQTT_CONNECT, MOAT_EPROTOCOL, 0x19, 2);
    EXPECT_PROPS_ERR(MQTT_CONNACK, MOAT_EPROTOCOL, 0x24, 2);
    EXPECT_PROPS_ERR(MQTT_CONNACK, MOAT_EPROTOCOL, 0x25, 2);
    EXPECT_PROPS_ERR(MQTT_CONNACK, MOAT_EPROTOCOL, 0x28, 2);
    EXPECT_PROPS_ERR(MQTT_CONNACK, MOAT_EPROTOCOL, 0x29, 2);
    EXPECT_PROPS_ERR(MQTT_CONNACK, MOAT_EPROTOCOL, 0x2A, 2);
    EXPECT_PROPS_ERR(MQTT_CONNACK, MOAT_OK, 0x24, 0, 0x25, 1, 0x28, 0, 0x29, 1, 0x2A, 0);
    /* Zero where zero is not allowed. */
    EXPECT_PROPS_ERR(MQTT_CONNECT, MOAT_EPROTOCOL, 0x21, 0, 0);
    EXPECT_PROPS_ERR(MQTT_CONNACK, MOAT_EPROTOCOL, 0x21, 0, 0);
    EXPECT_PROPS_ERR(MQTT_CONNECT, MOAT_EPROTOCOL, 0x27, 0, 0, 0, 0);
    EXPECT_PROPS_ERR(MQTT_CONNACK, MOAT_EPROTOCOL, 0x27, 0, 0, 0, 0);
    EXPECT_PROPS_ERR(MQTT_SUBSCRIBE, MOAT_EPROTOCOL, 0x0B, 0);
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_EPROTOCOL, 0x0B, 0);
    /* ... and zero where it is (topic alias 0 is the broker's call). */
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_OK, 0x23, 0, 0);
    EXPECT_PROPS_ERR(MQTT_CONNECT, MOAT_OK, 0x22, 0, 0, 0x11, 0, 0, 0, 0);
    /* Subscription id: largest value, overlong and five-byte forms. */
    EXPECT_PROPS_ERR(MQTT_SUBSCRIBE, MOAT_OK, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F);
    EXPECT_PROPS_ERR(MQTT_SUBSCRIBE, MOAT_EMALFORMED, 0x0B, 0x81, 0x00);
    EXPECT_PROPS_ERR(MQTT_SUBSCRIBE, MOAT_EMALFORMED, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01);
    EXPECT_PROPS_ERR(MQTT_SUBSCRIBE, MOAT_EPROTOCOL, 0x0B, 1, 0x0B, 2);
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_OK, 0x0B, 1, 0x0B, 2);
    /* Duplicates, not adjacent. */
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_EPROTOCOL, 0x23, 0, 1, 0x02, 0, 0, 0, 1, 0x23, 0, 2);
    EXPECT_PROPS_ERR(MQTT_CONNACK, MOAT_EPROTOCOL, 0x1F, 0, 0, 0x1F, 0, 0);
    /* Authentication data needs a method. */
    EXPECT_PROPS_ERR(MQTT_CONNECT, MOAT_EPROTOCOL, 0x16, 0, 1, 'x');
    EXPECT_PROPS_ERR(MQTT_AUTH, MOAT_EPROTOCOL, 0x16, 0, 1, 'x');
    EXPECT_PROPS_ERR(MQTT_CONNECT, MOAT_OK, 0x16, 0, 1, 'x', 0x15, 0, 1, 'm');
    /* UTF-8 validity of every string property, binary ones are free. */
    static const uint8_t strs[] = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F};
    static const uint8_t slots[] = {MQTT_PUBLISH, MQTT_PUBLISH, MQTT_CONNACK, MQTT_CONNACK,
                                    MQTT_CONNACK, MQTT_CONNACK, MQTT_CONNACK};
    for (size_t i = 0; i < sizeof strs; i++) {
        uint8_t bad[] = {strs[i], 0, 2, 0xC0, 0x80};
        uint8_t nul[] = {strs[i], 0, 1, 0x00};
        uint8_t sur[] = {strs[i], 0, 3, 0xED, 0xA0, 0x80};
        uint8_t ok[] = {strs[i], 0, 2, 0xC3, 0xA9};
        CHECK_EQ(decode_with_raw_props(slots[i], bad, sizeof bad), MOAT_EMALFORMED);
        CHECK_EQ(decode_with_raw_props(slots[i], nul, sizeof nul), MOAT_EMALFORMED);
        CHECK_EQ(decode_with_raw_props(slots[i], sur, sizeof sur), MOAT_EMALFORMED);
        CHECK_EQ(decode_with_raw_props(slots[i], ok, sizeof ok), MOAT_OK);
    }
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_OK, 0x09, 0, 2, 0xC0, 0x00);
    EXPECT_PROPS_ERR(MQTT_CONNACK, MOAT_OK, 0x15, 0, 1, 'm', 0x16, 0, 2, 0xC0, 0x00);
    /* User property key and value. */
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_EMALFORMED, 0x26, 0, 1, 0xFF, 0, 1, 'v');
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_EMALFORMED, 0x26, 0, 1, 'k', 0, 1, 0x00);
    EXPECT_PROPS_ERR(MQTT_PUBACK, MOAT_EMALFORMED, 0x26, 0, 1, 'k', 0, 3, 0xED, 0xBF, 0xBF);
    /* Values cut short by the end of the block. */
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_EMALFORMED, 0x02, 0, 0, 0);
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_EMALFORMED, 0x23, 0);
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_EMALFORMED, 0x01);
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_EMALFORMED, 0x03, 0, 5, 'a');
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_EMALFORMED, 0x26, 0, 1, 'k');
    EXPECT_PROPS_ERR(MQTT_PUBLISH, MOAT_EMALFORMED, 0x0B, 0x80);

    /* The property length itself: longer than the packet, overlong. */
    EXPECT_ERR(MQTT_V5, MOAT_EMALFORMED, 0x30, 0x05, 0, 1, 't', 0x05, 0x01);
    EXPECT_ERR(MQTT_V5, MOAT_EMALFORMED, 0x30, 0x06, 0, 1, 't', 0x80, 0x00, 'x');
    EXPECT_ERR(MQTT_V5, MOAT_EMALFORMED, 0x30, 0x03, 0, 1, 't'); /* missing */
    EXPECT_ERR(MQTT_V5, MOAT_EMALFORMED, 0x82, 0x02, 0, 1);
    EXPECT_ERR(MQTT_V5, MOAT_EMALFORMED, 0x90, 0x02, 0, 1);
    EXPECT_ERR(MQTT_V5, MOAT_EMALFORMED, 0x20, 0x02, 0, 0);
}

static void test_props_iterate_copy(void)
{
    /* content type, user, message expiry, user, subscription id, user. */
    static const uint8_t raw[] = {0x03, 0,    1, 'c', 0x26, 0,    1, 'a', 0,  1, 'b',
                                  0x02, 0,    0, 0,   9,    0x26, 0, 0,   0,  0, 0x0B,
                                  5,    0x26, 0, 2,   'x',  'y',  0, 1,   'z'};
    mqtt_props pr = {.raw = raw, .raw_len = sizeof raw};
    mqtt_bin k, v;
    uint32_t pos = 0;
    CHECK(mqtt_props_next_user(&pr, &pos, &k, &v));
    CHECK(bin_is(k, "a") && bin_is(v, "b"));
    CHECK(mqtt_props_next_user(&pr, &pos, &k, &v));
    CHECK(bin_is(k, "") && bin_is(v, ""));
    CHECK(mqtt_props_next_user(&pr, &pos, &k, &v));
    CHECK(bin_is(k, "xy") && bin_is(v, "z"));
    CHECK(!mqtt_props_next_user(&pr, &pos, &k, &v));
    CHECK(!mqtt_props_next_user(&pr, &pos, &k, &v));
    mqtt_props empty = {0};
    pos = 0;
    CHECK(!mqtt_props_next_user(&empty, &pos, &k, &v));
    static const uint8_t none[] = {0x01, 0x01, 0x23, 0, 1};
    mqtt_props only_std = {.raw = none, .raw_len = sizeof none};
    pos = 0;
    CHECK(!mqtt_props_next_user(&only_std, &pos, &k, &v));
    CHECK_EQ(pos, sizeof none);

    moat_buf b = MOAT_BUF_INIT;
    CHECK_EQ(mqtt_props_copy_filtered(raw, sizeof raw, 0, &b), MOAT_OK);
    CHECK_EQ(b.len, sizeof raw);
    CHECK_MEM(b.data, raw, sizeof raw);
    moat_buf_reset(&b);

    CHECK_EQ(mqtt_props_copy_filtered(raw, sizeof raw, MQTT_HAS(MQTT_PROP_USER_PROPERTY), &b),
             MOAT_OK);
    static const uint8_t no_user[] = {0x03, 0, 1, 'c', 0x02, 0, 0, 0, 9, 0x0B, 5};
    CHECK_EQ(b.len, sizeof no_user);
    CHECK_MEM(b.data, no_user, sizeof no_user);
    moat_buf_reset(&b);

    /* Forwarding a PUBLISH: drop subscription id and message expiry (the
     * broker writes its own), keep the rest. Appends after existing data. */
    CHECK_EQ(moat_buf_put_u8(&b, 0xAA), MOAT_OK);
    CHECK_EQ(mqtt_props_copy_filtered(
                 raw, sizeof raw,
                 MQTT_HAS(MQTT_PROP_SUBSCRIPTION_ID) | MQTT_HAS(MQTT_PROP_MESSAGE_EXPIRY), &b),
             MOAT_OK);
    static const uint8_t fwd[] = {0xAA, 0x03, 0, 1, 'c',  0x26, 0, 1,   'a', 0, 1, 'b', 0x26,
                                  0,    0,    0, 0, 0x26, 0,    2, 'x', 'y', 0, 1, 'z'};
    CHECK_EQ(b.len, sizeof fwd);
    CHECK_MEM(b.data, fwd, sizeof fwd);
    moat_buf_reset(&b);

    CHECK_EQ(mqtt_props_copy_filtered(raw, sizeof raw, ~0ull, &b), MOAT_OK);
    CHECK_EQ(b.len, 0);
    CHECK_EQ(mqtt_props_copy_filtered(NULL, 0, 0, &b), MOAT_OK);
    CHECK_EQ(b.len, 0);

    /* Garbage: nothing appended. */
    static const uint8_t junk[] = {0x03, 0, 9, 'c'};
    static const uint8_t junk2[] = {0x26, 0, 1, 'a', 0, 1, 'b', 0x7F, 0};
    CHECK_EQ(moat_buf_put_u8(&b, 1), MOAT_OK);
    CHECK_EQ(mqtt_props_copy_filtered(junk, sizeof junk, 0, &b), MOAT_EMALFORMED);
    CHECK_EQ(mqtt_props_copy_filtered(junk2, sizeof junk2, 0, &b), MOAT_EMALFORMED);
    CHECK_EQ(b.len, 1);
    moat_buf_free(&b);

    /* A decoded block copies back into an encodable packet. */
    mqtt_packet p, q, r;
    moat_buf b1 = MOAT_BUF_INIT, b2 = MOAT_BUF_INIT, pb = MOAT_BUF_INIT;
    base_packet(MQTT_PUBLISH, &p);
    fill_props(&p.props, MQTT_PUBLISH);
    if (roundtrip(&p, MQTT_V5, &b1, &q)) {
        uint64_t drop = MQTT_HAS(MQTT_PROP_TOPIC_ALIAS) | MQTT_HAS(MQTT_PROP_SUBSCRIPTION_ID);
        CHECK_EQ(mqtt_props_copy_filtered(q.props.raw, q.props.raw_len, drop, &pb), MOAT_OK);
        base_packet(MQTT_PUBLISH, &p);
        p.props.raw = pb.data;
        p.props.raw_len = (uint32_t)pb.len;
        p.props.has = MQTT_HAS(MQTT_PROP_TOPIC_ALIAS);
        p.props.topic_alias = 9;
        if (roundtrip(&p, MQTT_V5, &b2, &r)) {
            uint64_t want = (q.props.has & ~drop) | MQTT_HAS(MQTT_PROP_TOPIC_ALIAS);
            CHECK_EQ(r.props.has, want);
            CHECK_EQ(r.props.topic_alias, 9);
            CHECK_EQ(r.props.sub_id, 0);
            CHECK(bin_eq(r.props.content_type, q.props.content_type));
            CHECK(bin_eq(r.props.correlation_data, q.props.correlation_data));
            CHECK_EQ(r.props.message_expiry, q.props.message_expiry);
            check_user_props(&r.props);
        }
    }
    moat_buf_free(&b1);
    moat_buf_free(&b2);
    moat_buf_free(&pb);
}

/* ------------------------------------------------------------ rejections */

static void test_err_fixed_header(void)
{
    for (size_t vi = 0; vi < 4; vi++) {
        uint8_t ver = vi < 3 ? versions[vi] : 0;
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x00, 0x00); /* type 0 */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x01, 0x00);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x11, 0x00);                 /* CONNECT flags */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x28, 0x02, 0, 0);           /* CONNACK flags */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x36, 0x04, 0, 1, 't', 'x'); /* QoS 3 */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x3E, 0x04, 0, 1, 't', 'x');
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x38, 0x04, 0, 1, 't', 'x'); /* DUP, QoS 0 */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x39, 0x04, 0, 1, 't', 'x');
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x42, 0x02, 0, 1); /* PUBACK */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x51, 0x02, 0, 1); /* PUBREC */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x60, 0x02, 0, 1); /* PUBREL needs 2 */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x63, 0x02, 0, 1);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x72, 0x02, 0, 1); /* PUBCOMP */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x80, 0x06, 0, 1, 0, 1, 'a', 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x8A, 0x06, 0, 1, 0, 1, 'a', 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x92, 0x03, 0, 1, 0); /* SUBACK */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xA0, 0x05, 0, 1, 0, 1, 'a');
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xA3, 0x05, 0, 1, 0, 1, 'a');
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xB4, 0x02, 0, 1); /* UNSUBACK */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xC1, 0x00);       /* PINGREQ */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xD8, 0x00);       /* PINGRESP */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xE2, 0x00);       /* DISCONNECT */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xF1, 0x00);       /* AUTH */
        /* The flags are judged from the first byte alone. */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x60);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x00);
        /* Remaining length of the bare packets. */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xC0, 0x01, 0x00);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xD0, 0x02, 0x00, 0x00);
        /* Trailing bytes. */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x62, 0x01, 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x40, 0x00);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xB0, 0x01, 0);
    }
    for (size_t vi = 0; vi < 2; vi++) {
        uint8_t ver = versions[vi];
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xE0, 0x01, 0x00); /* v3 DISCONNECT is empty */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xF0, 0x00);       /* no AUTH before v5 */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x40, 0x03, 0, 1, 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xB0, 0x03, 0, 1, 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x20, 0x03, 0, 0, 0);
    }
    EXPECT_ERR(MQTT_V5, MOAT_EMALFORMED, 0x20, 0x04, 0, 0, 0, 0);
    EXPECT_ERR(MQTT_V5, MOAT_OK, 0xE0, 0x01, 0x00);
    EXPECT_ERR(MQTT_V5, MOAT_EMALFORMED, 0xE0, 0x03, 0x00, 0x00, 0x00);
    EXPECT_ERR(MQTT_V5, MOAT_EMALFORMED, 0x40, 0x05, 0, 1, 0, 0, 0);
}

static void test_err_connect(void)
{
    mqtt_packet p;
    size_t used;
    /* Unknown protocol name or level: MOAT_EVERSION with the level filled. */
    static const uint8_t v3name4[] = {0x10, 0x0D, 0, 4, 'M', 'Q', 'T', 'T',
                                      3,    0x02, 0, 0, 0,   1,   'c'};
    CHECK_EQ(mqtt_decode(v3name4, sizeof v3name4, 0, &p, &used), MOAT_EVERSION);
    CHECK_EQ(p.type, MQTT_CONNECT);
    CHECK_EQ(p.u.connect.protocol_version, 3);
    static const uint8_t lvl6[] = {0x10, 0x0D, 0, 4, 'M', 'Q', 'T', 'T', 6, 0x02, 0, 0, 0, 1, 'c'};
    CHECK_EQ(mqtt_decode(lvl6, sizeof lvl6, 0, &p, &used), MOAT_EVERSION);
    CHECK_EQ(p.u.connect.protocol_version, 6);
    static const uint8_t isdp4b[] = {0x10, 0x0D, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 4, 2, 0, 0, 0};
    CHECK_EQ(mqtt_decode(isdp4b, sizeof isdp4b, 0, &p, &used), MOAT_EVERSION);
    CHECK_EQ(p.u.connect.protocol_version, 4);
    static const uint8_t http[] = {0x10, 0x0A, 0, 4, 'H', 'T', 'T', 'P', 4, 0, 0, 0};
    CHECK_EQ(mqtt_decode(http, sizeof http, 0, &p, &used), MOAT_EVERSION);
    static const uint8_t mqtt5lc[] = {0x10, 0x0A, 0, 4, 'm', 'q', 't', 't', 5, 0, 0, 0};
    CHECK_EQ(mqtt_decode(mqtt5lc, sizeof mqtt5lc, 0, &p, &used), MOAT_EVERSION);
    CHECK_EQ(p.u.connect.protocol_version, 5);
    /* Cut before the level byte: malformed, the version is unknown. */
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x06, 0, 4, 'M', 'Q', 'T', 'T');
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x02, 0, 4);
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x00);
    /* The version argument is ignored for CONNECT. */
    static const uint8_t ok5[] = {0x10, 0x0E, 0, 4, 'M', 'Q', 'T', 'T',
                                  5,    0x02, 0, 0, 0,   0,   1,   'c'};
    CHECK_EQ(mqtt_decode(ok5, sizeof ok5, MQTT_V311, &p, &used), MOAT_OK);
    CHECK_EQ(mqtt_decode(ok5, sizeof ok5, 0, &p, &used), MOAT_OK);

#define C4(flags, ...) 0x10, 0, 0, 4, 'M', 'Q', 'T', 'T', 4, flags, 0, 10, 0, 1, 'c', __VA_ARGS__
    /* v3.1.1 CONNECT with client id "c" and the given flags, followed by
     * the listed bytes; n counts the bytes used (a lone trailing 0 is only
     * there because a variadic macro needs an argument). The remaining
     * length is patched in below. */
    struct {
        uint8_t b[40];
        size_t n;
        moat_err want;
    } cases[] = {
        {{C4(0x02, 0)}, 15, MOAT_OK},
        {{C4(0x03, 0)}, 15, MOAT_EMALFORMED}, /* reserved bit */
        {{C4(0x01, 0)}, 15, MOAT_EMALFORMED},
        {{C4(0x08, 0)}, 15, MOAT_EMALFORMED}, /* will QoS, no will */
        {{C4(0x10, 0)}, 15, MOAT_EMALFORMED},
        {{C4(0x20, 0)}, 15, MOAT_EMALFORMED},               /* will retain, no will */
        {{C4(0x1C, 0, 1, 'w', 0, 0)}, 20, MOAT_EMALFORMED}, /* will QoS 3 */
        {{C4(0x14, 0, 1, 'w', 0, 0)}, 20, MOAT_OK},         /* will QoS 2 */
        {{C4(0x2C, 0, 1, 'w', 0, 0)}, 20, MOAT_OK},         /* will QoS 1 retain */
        {{C4(0x42, 0, 1, 'p')}, 18, MOAT_EMALFORMED},       /* password, no user */
        {{C4(0xC2, 0, 1, 'u', 0, 1, 'p')}, 21, MOAT_OK},
        {{C4(0x82, 0, 1, 'u')}, 18, MOAT_OK},
        {{C4(0x82, 0)}, 15, MOAT_EMALFORMED},                      /* user name missing */
        {{C4(0xC2, 0, 1, 'u')}, 18, MOAT_EMALFORMED},              /* password missing */
        {{C4(0x82, 0, 2, 'u')}, 18, MOAT_EMALFORMED},              /* user name cut */
        {{C4(0x82, 0, 1, 0xFF)}, 18, MOAT_EMALFORMED},             /* user name UTF-8 */
        {{C4(0xC2, 0, 1, 'u', 0, 2, 0xC0, 0x80)}, 22, MOAT_OK},    /* password is binary */
        {{C4(0x06, 0, 1, 'w')}, 18, MOAT_EMALFORMED},              /* will payload missing */
        {{C4(0x06, 0, 2, 0xED, 0xA0, 0, 0)}, 22, MOAT_EMALFORMED}, /* will topic UTF-8 */
        {{C4(0x06, 0, 1, 'w', 0, 2, 0xC0, 0x80)}, 22, MOAT_OK},    /* will payload binary */
        {{C4(0x02, 0, 0)}, 16, MOAT_EMALFORMED},                   /* trailing byte */
        {{C4(0x06, 0, 1, 'w', 0, 0, 0)}, 21, MOAT_EMALFORMED},     /* trailing byte */
    };
#undef C4
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *b = cases[i].b;
        size_t n = cases[i].n;
        b[1] = (uint8_t)(n - 2);
        moat_err got = mqtt_decode(b, n, 0, &p, &used);
        CHECK_EQ(got, cases[i].want);
        if (got != cases[i].want)
            fprintf(stderr, "  connect case %zu: got %d\n", i, got);
    }

    /* Client id: UTF-8, length within the packet. */
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x0E, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, 2, 0xC0,
               0x80);
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x0D, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, 1, 0);
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x0D, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, 2, 'c');
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x0B, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0);
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x09, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0);
    /* 3.1 has the same flag rules. */
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x12, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x42, 0, 0, 0,
               1, 'c', 0, 1, 'p');
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x0F, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x03, 0, 0, 0,
               1, 'c');

    /* v5: password without user name is fine; properties are checked
     * (CONNACK-only property here), and so are the will properties. */
    EXPECT_ERR(0, MOAT_OK, 0x10, 0x11, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x42, 0, 0, 0, 0, 1, 'c', 0, 1,
               'p');
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x0F, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 2, 0x24, 1,
               0, 0);
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x13, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x06, 0, 0, 0, 0, 1,
               'c', 0, 1, 'w', 0, 0); /* will properties missing */
    EXPECT_ERR(0, MOAT_OK, 0x10, 0x14, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x06, 0, 0, 0, 0, 1, 'c', 0, 0,
               1, 'w', 0, 0);
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x17, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x06, 0, 0, 0, 0, 1,
               'c', 3, 0x23, 0, 1, 0, 1, 'w', 0, 0); /* topic alias in will */
    EXPECT_ERR(0, MOAT_EMALFORMED, 0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 0, 0, 0, 1,
               'c', 0, 0); /* trailing */
}

static void test_err_publish(void)
{
    for (size_t vi = 0; vi < 4; vi++) {
        uint8_t ver = vi < 3 ? versions[vi] : 0;
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x32, 0x05, 0, 1, 't', 0, 0); /* packet id 0 */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x34, 0x05, 0, 1, 't', 0, 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x3A, 0x05, 0, 1, 't', 0, 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x32, 0x04, 0, 1, 't', 0); /* id cut */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x30, 0x03, 0, 2, 't');    /* topic cut */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x30, 0x01, 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x30, 0x00);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x30, 0x03, 0, 1, 0x00);             /* U+0000 */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x30, 0x04, 0, 2, 0xC0, 0xAF);       /* overlong */
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x30, 0x05, 0, 3, 0xED, 0xA0, 0x80); /* surrogate */
    }
    /* Empty topic: topic.h's business in v3, a protocol error in v5 unless a
     * topic alias stands in for it. */
    EXPECT_ERR(MQTT_V311, MOAT_OK, 0x30, 0x03, 0, 0, 'x');
    EXPECT_ERR(MQTT_V5, MOAT_EPROTOCOL, 0x30, 0x04, 0, 0, 0, 'x');
    EXPECT_ERR(MQTT_V5, MOAT_OK, 0x30, 0x07, 0, 0, 3, 0x23, 0, 1, 'x');
    /* v5 payload starts right after the properties; a v3 packet read as v5
     * (no property length) fails. */
    EXPECT_ERR(MQTT_V5, MOAT_EMALFORMED, 0x30, 0x05, 0, 1, 't', 0x40, 'x');
    EXPECT_ERR(MQTT_V5, MOAT_OK, 0x30, 0x05, 0, 1, 't', 0x00, 0x40);
}

static void test_err_subscribe(void)
{
    for (size_t vi = 0; vi < 4; vi++) {
        uint8_t ver = vi < 3 ? versions[vi] : 0;
        bool v5 = ver == MQTT_V5;
        /* Build "SUBSCRIBE id=1 [props] a opt" for several options. */
        for (unsigned opt = 0; opt < 256; opt++) {
            uint8_t b[] = {0x82, 0, 0, 1, 0, 0, 1, 'a', (uint8_t)opt};
            size_t n = sizeof b;
            if (!v5) { /* no property length byte */
                memmove(b + 4, b + 5, 4);
                n--;
            }
            b[1] = (uint8_t)(n - 2);
            moat_err want = MOAT_OK;
            if ((opt & 3) == 3 || (opt & (v5 ? 0xC0 : 0xFC)))
                want = MOAT_EMALFORMED;
            else if (((opt >> 4) & 3) == 3)
                want = MOAT_EPROTOCOL;
            mqtt_packet p;
            size_t used;
            CHECK_EQ(mqtt_decode(b, n, ver, &p, &used), want);
        }
        if (v5) {
            EXPECT_ERR(ver, MOAT_EPROTOCOL, 0x82, 0x03, 0, 1, 0); /* no entries */
            EXPECT_ERR(ver, MOAT_EPROTOCOL, 0xA2, 0x03, 0, 1, 0);
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0x82, 0x07, 0, 0, 0, 0, 1, 'a', 0); /* id 0 */
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0xA2, 0x06, 0, 0, 0, 0, 1, 'a');
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0x82, 0x06, 0, 1, 0, 0, 1, 'a'); /* no options */
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0x82, 0x07, 0, 1, 0, 0, 1, 0xFF, 0);
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0xA2, 0x06, 0, 1, 0, 0, 1, 0xFF);
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0xA2, 0x06, 0, 1, 0, 0, 2, 'a');
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0x82, 0x0A, 0, 1, 0, 0, 1, 'a', 0, 0, 1, 'b');
        } else {
            EXPECT_ERR(ver, MOAT_EPROTOCOL, 0x82, 0x02, 0, 1);
            EXPECT_ERR(ver, MOAT_EPROTOCOL, 0xA2, 0x02, 0, 1);
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0x82, 0x06, 0, 0, 0, 1, 'a', 0);
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0xA2, 0x05, 0, 0, 0, 1, 'a');
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0x82, 0x05, 0, 1, 0, 1, 'a');
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0x82, 0x06, 0, 1, 0, 1, 0x00, 0);
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0xA2, 0x05, 0, 1, 0, 1, 0x80);
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0xA2, 0x06, 0, 1, 0, 1, 'a', 0);
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0x82, 0x09, 0, 1, 0, 1, 'a', 0, 0, 1, 'b');
            EXPECT_ERR(ver, MOAT_EMALFORMED, 0x82, 0x01, 0);
        }
    }
}

static void test_err_acks(void)
{
    /* v3 SUBACK return codes and v3 CONNACK return codes. */
    for (unsigned rc = 0; rc < 256; rc++) {
        uint8_t sa[] = {0x90, 0x03, 0, 1, (uint8_t)rc};
        uint8_t ca[] = {0x20, 0x02, 0, (uint8_t)rc};
        mqtt_packet p;
        size_t used;
        bool ok = rc <= 2 || rc == 0x80;
        CHECK_EQ(mqtt_decode(sa, sizeof sa, MQTT_V311, &p, &used), ok ? MOAT_OK : MOAT_EPROTOCOL);
        CHECK_EQ(mqtt_decode(ca, sizeof ca, MQTT_V311, &p, &used),
                 rc <= 5 ? MOAT_OK : MOAT_EPROTOCOL);
        CHECK_EQ(mqtt_decode(ca, sizeof ca, MQTT_V31, &p, &used),
                 rc <= 5 ? MOAT_OK : MOAT_EPROTOCOL);
    }
    /* v5 reason codes, per packet type. */
    static const struct {
        uint8_t type;
        uint8_t codes[32];
        size_t n;
    } allowed[] = {
        {MQTT_CONNACK,
         {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
          0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F},
         22},
        {MQTT_PUBACK, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}, 9},
        {MQTT_PUBREC, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99}, 9},
        {MQTT_PUBREL, {0x00, 0x92}, 2},
        {MQTT_PUBCOMP, {0x00, 0x92}, 2},
        {MQTT_SUBACK, {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2}, 12},
        {MQTT_UNSUBACK, {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}, 7},
        {MQTT_DISCONNECT,
         {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
          0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2},
         29},
        {MQTT_AUTH, {0x00, 0x18, 0x19}, 3},
    };
    for (size_t t = 0; t < sizeof allowed / sizeof allowed[0]; t++) {
        for (unsigned rc = 0; rc < 256; rc++) {
            bool ok = memchr(allowed[t].codes, (int)rc, allowed[t].n) != NULL;
            uint8_t type = allowed[t].type;
            uint8_t b[8];
            size_t n = 0;
            b[n++] = (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 2 : 0));
            b[n++] = 0;
            if (type == MQTT_CONNACK) {
                b[n++] = 0;
                b[n++] = (uint8_t)rc;
                b[n++] = 0;
            } else if (type == MQTT_SUBACK || type == MQTT_UNSUBACK) {
                b[n++] = 0;
                b[n++] = 1;
                b[n++] = 0;
                b[n++] = (uint8_t)rc;
            } else if (type == MQTT_DISCONNECT || type == MQTT_AUTH) {
                b[n++] = (uint8_t)rc;
            } else {
                b[n++] = 0;
                b[n++] = 1;
                b[n++] = (uint8_t)rc;
            }
            b[1] = (uint8_t)(n - 2);
            mqtt_packet p;
            size_t used;
            moat_err got = mqtt_decode(b, n, MQTT_V5, &p, &used);
            CHECK_EQ(got, ok ? MOAT_OK : MOAT_EPROTOCOL);
            if (got != (ok ? MOAT_OK : MOAT_EPROTOCOL))
                fprintf(stderr, "  %s reason 0x%02X\n", mqtt_packet_name(type), rc);
        }
    }
    /* Several SUBACK codes, one bad at the end. */
    EXPECT_ERR(MQTT_V5, MOAT_EPROTOCOL, 0x90, 0x06, 0, 1, 0, 0, 1, 0x03);
    EXPECT_ERR(MQTT_V311, MOAT_EPROTOCOL, 0x90, 0x05, 0, 1, 0, 1, 0x81);
    /* An ack acknowledges at least one entry. */
    EXPECT_ERR(MQTT_V311, MOAT_EPROTOCOL, 0x90, 0x02, 0, 1);
    EXPECT_ERR(MQTT_V5, MOAT_EPROTOCOL, 0x90, 0x03, 0, 1, 0);
    EXPECT_ERR(MQTT_V5, MOAT_EPROTOCOL, 0xB0, 0x03, 0, 1, 0);
    /* Packet id 0. */
    for (size_t vi = 0; vi < 3; vi++) {
        uint8_t ver = versions[vi];
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x40, 0x02, 0, 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x50, 0x02, 0, 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x62, 0x02, 0, 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x70, 0x02, 0, 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0xB0, 0x02, 0, 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x90, 0x03, 0, 0, 0);
        EXPECT_ERR(ver, MOAT_EMALFORMED, 0x40, 0x01, 0);
    }
    /* CONNACK: reserved flag bits, session present with an error. */
    EXPECT_ERR(MQTT_V311, MOAT_EMALFORMED, 0x20, 0x02, 0x02, 0x00);
    EXPECT_ERR(MQTT_V5, MOAT_EMALFORMED, 0x20, 0x03, 0x80, 0x00, 0x00);
    EXPECT_ERR(MQTT_V311, MOAT_EPROTOCOL, 0x20, 0x02, 0x01, 0x05);
    EXPECT_ERR(MQTT_V5, MOAT_EPROTOCOL, 0x20, 0x03, 0x01, 0x80, 0x00);
    EXPECT_ERR(MQTT_V311, MOAT_EMALFORMED, 0x20, 0x01, 0x00);
    /* v5 ack with properties not allowed there. */
    EXPECT_ERR(MQTT_V5, MOAT_EMALFORMED, 0x40, 0x09, 0, 1, 0, 5, 0x11, 0, 0, 0, 1);
    EXPECT_ERR(MQTT_V5, MOAT_EMALFORMED, 0xE0, 0x05, 0, 3, 0x23, 0, 1);
    EXPECT_ERR(MQTT_V5, MOAT_OK, 0xE0, 0x07, 0, 5, 0x11, 0, 0, 0, 1);
}

static void test_encode_errors(void)
{
    moat_buf b = MOAT_BUF_INIT;
    mqtt_packet p;
    /* Not representable. */
    base_packet(MQTT_PUBLISH, &p);
    p.u.publish.qos = 3;
    CHECK_EQ(mqtt_encode(&p, MQTT_V311, &b, NULL), MOAT_EINVAL);
    p.u.publish.qos = 0;
    p.u.publish.dup = true;
    CHECK_EQ(mqtt_encode(&p, MQTT_V311, &b, NULL), MOAT_EINVAL);
    base_packet(MQTT_PUBLISH, &p);
    p.u.publish.topic.len = 65536;
    CHECK_EQ(mqtt_encode(&p, MQTT_V311, &b, NULL), MOAT_EINVAL);
    base_packet(MQTT_CONNECT, &p);
    p.u.connect.has_username = true;
    p.u.connect.username = (mqtt_bin){(const uint8_t *)"", 70000};
    CHECK_EQ(mqtt_encode(&p, MQTT_V311, &b, NULL), MOAT_EINVAL);
    p.u.connect.has_username = false;
    p.u.connect.protocol_version = 0;
    CHECK_EQ(mqtt_encode(&p, 0, &b, NULL), MOAT_EINVAL);
    /* AUTH has no v3 form; unknown types. */
    base_packet(MQTT_AUTH, &p);
    CHECK_EQ(mqtt_encode(&p, MQTT_V311, &b, NULL), MOAT_EINVAL);
    p.type = 0;
    CHECK_EQ(mqtt_encode(&p, MQTT_V5, &b, NULL), MOAT_EINVAL);
    p.type = 16;
    CHECK_EQ(mqtt_encode(&p, MQTT_V5, &b, NULL), MOAT_EINVAL);
    /* User properties only travel pre-encoded. */
    base_packet(MQTT_PUBLISH, &p);
    p.props.has = MQTT_HAS(MQTT_PROP_USER_PROPERTY);
    CHECK_EQ(mqtt_encode(&p, MQTT_V5, &b, NULL), MOAT_EINVAL);
    p.props.has = MQTT_HAS(0x3F);
    CHECK_EQ(mqtt_encode(&p, MQTT_V5, &b, NULL), MOAT_EINVAL);
    p.props.has = MQTT_HAS(MQTT_PROP_SUBSCRIPTION_ID); /* sub_id 0 */
    CHECK_EQ(mqtt_encode(&p, MQTT_V5, &b, NULL), MOAT_EINVAL);
    /* ... but the same packet is fine without properties (3.1.1). */
    CHECK_EQ(mqtt_encode(&p, MQTT_V311, &b, NULL), MOAT_OK);
    CHECK_EQ(b.len, 8);
    moat_buf_reset(&b);
    base_packet(MQTT_SUBACK, &p);
    p.u.suback.reasons = NULL;
    CHECK_EQ(mqtt_encode(&p, MQTT_V5, &b, NULL), MOAT_EINVAL);
    CHECK_EQ(b.len, 0);

    /* SUBSCRIBE / UNSUBSCRIBE: a filter too long, raw without bytes. */
    base_packet(MQTT_UNSUBSCRIBE, &p);
    mqtt_bin huge = {(const uint8_t *)"", 65536};
    p.u.sub.filters = &huge;
    CHECK_EQ(mqtt_encode(&p, MQTT_V311, &b, NULL), MOAT_EINVAL);
    p.u.sub.filters = NULL;
    p.u.sub.raw_len = 3;
    CHECK_EQ(mqtt_encode(&p, MQTT_V311, &b, NULL), MOAT_EINVAL);
    base_packet(MQTT_PUBLISH, &p);
    p.props.raw_len = 3;
    CHECK_EQ(mqtt_encode(&p, MQTT_V5, &b, NULL), MOAT_EINVAL);
    CHECK_EQ(b.len, 0);

    /* Semantic problems are encoded as given, so tests can build them; the
     * decoder rejects them. */
    base_packet(MQTT_SUBSCRIBE, &p);
    p.u.sub.count = 0;
    CHECK_EQ(encode_decode(&p, MQTT_V311), MOAT_EPROTOCOL);
    base_packet(MQTT_UNSUBSCRIBE, &p);
    p.u.sub.count = 0;
    CHECK_EQ(encode_decode(&p, MQTT_V5), MOAT_EPROTOCOL);
    base_packet(MQTT_PUBLISH, &p);
    p.u.publish.packet_id = 0;
    CHECK_EQ(encode_decode(&p, MQTT_V311), MOAT_EMALFORMED);
    base_packet(0, &p);
    p.u.connect.will = false;
    p.u.connect.will_qos = 1;
    CHECK_EQ(encode_decode(&p, MQTT_V311), MOAT_EMALFORMED);
    base_packet(MQTT_CONNECT, &p);
    p.u.connect.protocol_version = 9;
    CHECK_EQ(encode_decode(&p, MQTT_V311), MOAT_EVERSION);
    base_packet(MQTT_CONNECT, &p);
    p.u.connect.protocol_name = S("MQIsdp");
    p.u.connect.protocol_version = 4;
    CHECK_EQ(encode_decode(&p, MQTT_V311), MOAT_EVERSION);
    moat_buf_free(&b);
}

/* Several packets back to back in one buffer, as they arrive on a socket. */
static void test_stream(void)
{
    moat_buf b = MOAT_BUF_INIT;
    mqtt_packet p;
    static const uint8_t types[] = {MQTT_CONNECT, MQTT_PUBLISH,   MQTT_PUBACK,    MQTT_PUBREC,
                                    MQTT_PUBREL,  MQTT_PUBCOMP,   MQTT_SUBSCRIBE, MQTT_UNSUBSCRIBE,
                                    MQTT_PINGREQ, MQTT_DISCONNECT};
    size_t n = sizeof types;
    for (size_t i = 0; i < n; i++) {
        base_packet(types[i], &p);
        CHECK_EQ(mqtt_encode(&p, MQTT_V5, &b, NULL), MOAT_OK);
    }
    size_t off = 0, i = 0;
    while (off < b.len) {
        size_t used = 0;
        moat_err e = mqtt_decode(b.data + off, b.len - off, MQTT_V5, &p, &used);
        CHECK_EQ(e, MOAT_OK);
        if (e)
            break;
        CHECK_EQ(p.type, types[i]);
        off += used;
        i++;
    }
    CHECK_EQ(i, n);
    CHECK_EQ(off, b.len);
    /* Buffer with one and a half packets: the first decodes, the rest is
     * incomplete. */
    size_t used = 0;
    CHECK_EQ(mqtt_decode(b.data, 20, MQTT_V5, &p, &used), MOAT_OK);
    CHECK_EQ(p.type, MQTT_CONNECT);
    CHECK_EQ(mqtt_decode(b.data + used, 3, MQTT_V5, &p, &used), MOAT_ENEEDMORE);
    moat_buf_free(&b);
}

int main(void)
{
    TEST(test_names);
    TEST(test_utf8);
    TEST(test_frame);
    TEST(test_remaining_length_edges);
    TEST(test_wire_connect);
    TEST(test_wire_others);
    TEST(test_wire_short_forms);
    TEST(test_roundtrip_connect);
    TEST(test_roundtrip_connack);
    TEST(test_roundtrip_publish);
    TEST(test_roundtrip_acks);
    TEST(test_roundtrip_subscribe);
    TEST(test_roundtrip_unsubscribe);
    TEST(test_roundtrip_acks_sub);
    TEST(test_roundtrip_small);
    TEST(test_props_all);
    TEST(test_props_sub_ids);
    TEST(test_props_matrix);
    TEST(test_props_values);
    TEST(test_props_iterate_copy);
    TEST(test_err_fixed_header);
    TEST(test_err_connect);
    TEST(test_err_publish);
    TEST(test_err_subscribe);
    TEST(test_err_acks);
    TEST(test_encode_errors);
    TEST(test_stream);
    return test_summary("codec");
}
