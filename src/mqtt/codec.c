/* SPDX-License-Identifier: Apache-2.0 */
/* MQTT 3.1 / 3.1.1 / 5.0 codec; the contract is in codec.h.
 *
 * The decoder only ever runs on a complete packet (mqtt_frame says how long
 * it is), so running out of bytes inside a packet means the packet lied about
 * its own lengths: that is MOAT_EMALFORMED, never MOAT_ENEEDMORE.
 *
 * The encoder first computes the exact remaining length (validating what it
 * must), then reserves once and writes straight into the buffer, so a failed
 * encode appends nothing. */
#include "mqtt/codec.h"

#include <assert.h>
#include <string.h>

#define VARINT_MAX 268435455u /* largest variable byte integer (4 bytes) */
#define BIN_MAX 65535u        /* largest UTF-8 string / binary data */

/* ================================================================ reader */

/* A bounded cursor over one packet (or one property block). */
typedef struct rd {
    const uint8_t *p;
    const uint8_t *end;
} rd;

static inline size_t rd_left(const rd *r)
{
    return (size_t)(r->end - r->p);
}

static inline bool rd_u8(rd *r, uint8_t *v)
{
    if (r->p == r->end)
        return false;
    *v = *r->p++;
    return true;
}

static inline bool rd_u16(rd *r, uint16_t *v)
{
    if (rd_left(r) < 2)
        return false;
    *v = (uint16_t)((unsigned)r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return true;
}

static inline bool rd_u32(rd *r, uint32_t *v)
{
    if (rd_left(r) < 4)
        return false;
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    return true;
}

static inline bool rd_skip(rd *r, size_t n)
{
    if (rd_left(r) < n)
        return false;
    r->p += n;
    return true;
}

/* Variable byte integer: at most 4 bytes, and minimal, because MQTT 5
 * [MQTT-1.5.5-1] requires the shortest form (a multi-byte form whose last
 * byte is 0x00 could have been shorter). */
static bool rd_varint(rd *r, uint32_t *v)
{
    uint32_t x = 0;
    for (unsigned i = 0; i < 4; i++) {
        if (r->p == r->end)
            return false;
        uint8_t b = *r->p++;
        x |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return false;
            *v = x;
            return true;
        }
    }
    return false;
}

/* Two-byte length followed by that many bytes. */
static inline bool rd_bin(rd *r, mqtt_bin *b)
{
    uint16_t n;
    if (!rd_u16(r, &n) || rd_left(r) < n)
        return false;
    b->p = r->p;
    b->len = n;
    r->p += n;
    return true;
}

static inline bool rd_str(rd *r, mqtt_bin *b)
{
    return rd_bin(r, b) && mqtt_utf8_valid(b->p, b->len);
}

/* ============================================================ UTF-8 */

/* True when none of the 8 bytes at s has the high bit set or is NUL (the
 * classic "has zero byte" test is exact about whether any byte is zero). */
static inline bool ascii8(const uint8_t *s)
{
    const uint64_t ones = 0x0101010101010101ull;
    const uint64_t highs = 0x8080808080808080ull;
    uint64_t v;
    memcpy(&v, s, 8);
    return ((v | ((v - ones) & ~v)) & highs) == 0;
}

bool mqtt_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        /* Topics and client ids are nearly always ASCII: take 8 bytes at a
         * time, and finish a string of 8 or more bytes with one (overlapping)
         * look at its last 8 bytes instead of a byte-wise tail. */
        if (len - i >= 8) {
            if (ascii8(s + i)) {
                i += 8;
                continue;
            }
        } else if (len >= 8 && ascii8(s + len - 8)) {
            return true;
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0)
                return false;
            i++;
            continue;
        }
        /* Lead byte decides the length and the allowed range of the first
         * continuation byte, which is where overlong forms (E0, F0),
         * surrogates (ED) and code points above U+10FFFF (F4) show. */
        size_t n;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0xC2) {
            return false; /* stray continuation byte, or overlong C0/C1 */
        } else if (c < 0xE0) {
            n = 1;
        } else if (c < 0xF0) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c < 0xF5) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return false;
        }
        if (len - i - 1 < n || s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        i += n + 1;
    }
    return true;
}

/* ============================================================ names */

const char *mqtt_packet_name(uint8_t type)
{
    static const char *const names[16] = {
        "RESERVED", "CONNECT",  "CONNACK",    "PUBLISH", "PUBACK",      "PUBREC",
        "PUBREL",   "PUBCOMP",  "SUBSCRIBE",  "SUBACK",  "UNSUBSCRIBE", "UNSUBACK",
        "PINGREQ",  "PINGRESP", "DISCONNECT", "AUTH",
    };
    return type < 16 ? names[type] : "UNKNOWN";
}

/* ======================================================= property table */

/* Property value types. */
enum { PT_NONE, PT_BYTE, PT_U16, PT_U32, PT_VARINT, PT_UTF8, PT_BIN, PT_PAIR };

/* Which packets may carry a property: one bit per packet type, and bit 0
 * (type 0 is reserved) stands for the will properties inside CONNECT. */
#define PB(t) (1u << (t))
#define P_WILL 1u
#define P_ACKS (PB(MQTT_PUBACK) | PB(MQTT_PUBREC) | PB(MQTT_PUBREL) | PB(MQTT_PUBCOMP))
#define P_MSG (PB(MQTT_PUBLISH) | P_WILL)
#define P_ALL 0xFFFFu

struct prop_info {
    uint8_t type;
    bool nonzero;     /* value 0 is a protocol error */
    uint16_t packets; /* PB() bits */
    uint16_t off;     /* offsetof the field in mqtt_props (not for PT_PAIR) */
};

#define PROP(id, t, nz, pk, field) [id] = {t, nz, pk, offsetof(mqtt_props, field)}

static const struct prop_info prop_table[64] = {
    PROP(MQTT_PROP_PAYLOAD_FORMAT, PT_BYTE, false, P_MSG, payload_format),
    PROP(MQTT_PROP_MESSAGE_EXPIRY, PT_U32, false, P_MSG, message_expiry),
    PROP(MQTT_PROP_CONTENT_TYPE, PT_UTF8, false, P_MSG, content_type),
    PROP(MQTT_PROP_RESPONSE_TOPIC, PT_UTF8, false, P_MSG, response_topic),
    PROP(MQTT_PROP_CORRELATION_DATA, PT_BIN, false, P_MSG, correlation_data),
    PROP(MQTT_PROP_SUBSCRIPTION_ID, PT_VARINT, true, PB(MQTT_PUBLISH) | PB(MQTT_SUBSCRIBE), sub_id),
    PROP(MQTT_PROP_SESSION_EXPIRY, PT_U32, false,
         PB(MQTT_CONNECT) | PB(MQTT_CONNACK) | PB(MQTT_DISCONNECT), session_expiry),
    PROP(MQTT_PROP_ASSIGNED_CLIENT_ID, PT_UTF8, false, PB(MQTT_CONNACK), assigned_client_id),
    PROP(MQTT_PROP_SERVER_KEEP_ALIVE, PT_U16, false, PB(MQTT_CONNACK), server_keep_alive),
    PROP(MQTT_PROP_AUTH_METHOD, PT_UTF8, false, PB(MQTT_CONNECT) | PB(MQTT_CONNACK) | PB(MQTT_AUTH),
         auth_method),
    PROP(MQTT_PROP_AUTH_DATA, PT_BIN, false, PB(MQTT_CONNECT) | PB(MQTT_CONNACK) | PB(MQTT_AUTH),
         auth_data),
    PROP(MQTT_PROP_REQUEST_PROBLEM_INFO, PT_BYTE, false, PB(MQTT_CONNECT), request_problem_info),
    PROP(MQTT_PROP_WILL_DELAY, PT_U32, false, P_WILL, will_delay),
    PROP(MQTT_PROP_REQUEST_RESPONSE_INFO, PT_BYTE, false, PB(MQTT_CONNECT), request_response_info),
    PROP(MQTT_PROP_RESPONSE_INFO, PT_UTF8, false, PB(MQTT_CONNACK), response_info),
    PROP(MQTT_PROP_SERVER_REFERENCE, PT_UTF8, false, PB(MQTT_CONNACK) | PB(MQTT_DISCONNECT),
         server_reference),
    PROP(MQTT_PROP_REASON_STRING, PT_UTF8, false,
         PB(MQTT_CONNACK) | P_ACKS | PB(MQTT_SUBACK) | PB(MQTT_UNSUBACK) | PB(MQTT_DISCONNECT) |
             PB(MQTT_AUTH),
         reason_string),
    PROP(MQTT_PROP_RECEIVE_MAX, PT_U16, true, PB(MQTT_CONNECT) | PB(MQTT_CONNACK), receive_max),
    PROP(MQTT_PROP_TOPIC_ALIAS_MAX, PT_U16, false, PB(MQTT_CONNECT) | PB(MQTT_CONNACK),
         topic_alias_max),
    PROP(MQTT_PROP_TOPIC_ALIAS, PT_U16, false, PB(MQTT_PUBLISH), topic_alias),
    PROP(MQTT_PROP_MAX_QOS, PT_BYTE, false, PB(MQTT_CONNACK), max_qos),
    PROP(MQTT_PROP_RETAIN_AVAILABLE, PT_BYTE, false, PB(MQTT_CONNACK), retain_available),
    [MQTT_PROP_USER_PROPERTY] = {PT_PAIR, false, P_ALL & ~PB(MQTT_PINGREQ) & ~PB(MQTT_PINGRESP), 0},
    PROP(MQTT_PROP_MAX_PACKET_SIZE, PT_U32, true, PB(MQTT_CONNECT) | PB(MQTT_CONNACK),
         max_packet_size),
    PROP(MQTT_PROP_WILDCARD_SUB_AVAILABLE, PT_BYTE, false, PB(MQTT_CONNACK),
         wildcard_sub_available),
    PROP(MQTT_PROP_SUB_ID_AVAILABLE, PT_BYTE, false, PB(MQTT_CONNACK), sub_id_available),
    PROP(MQTT_PROP_SHARED_SUB_AVAILABLE, PT_BYTE, false, PB(MQTT_CONNACK), shared_sub_available),
};

static inline const struct prop_info *prop_lookup(uint32_t id)
{
    if (id >= 64 || prop_table[id].type == PT_NONE)
        return NULL;
    return &prop_table[id];
}

/* Step over one property value of the given type (input already validated
 * by the decoder, but still bounds-checked). */
static bool skip_value(rd *r, uint8_t type)
{
    uint32_t v;
    mqtt_bin b;
    switch (type) {
    case PT_BYTE:
        return rd_skip(r, 1);
    case PT_U16:
        return rd_skip(r, 2);
    case PT_U32:
        return rd_skip(r, 4);
    case PT_VARINT:
        return rd_varint(r, &v);
    case PT_UTF8:
    case PT_BIN:
        return rd_bin(r, &b);
    case PT_PAIR:
        return rd_bin(r, &b) && rd_bin(r, &b);
    default:
        return false;
    }
}

/* ===================================================== property decoding */

/* Read a fixed-size or variable-int value into the field of pr at pi->off
 * (store=false: read and check only, for a repeated subscription id). */
static moat_err dec_number(rd *r, const struct prop_info *pi, mqtt_props *pr, bool store)
{
    uint8_t *field = (uint8_t *)pr + pi->off;
    uint32_t v;
    uint8_t b;
    uint16_t h;
    bool ok;
    switch (pi->type) {
    case PT_BYTE:
        ok = rd_u8(r, &b);
        v = b;
        break;
    case PT_U16:
        ok = rd_u16(r, &h);
        v = h;
        break;
    case PT_U32:
        ok = rd_u32(r, &v);
        break;
    default:
        ok = rd_varint(r, &v);
        break;
    }
    if (!ok)
        return MOAT_EMALFORMED;
    /* Every byte-sized property is a 0/1 flag; values outside the range are
     * protocol errors per the property definitions in MQTT 5 3.x. */
    if ((pi->type == PT_BYTE && v > 1) || (pi->nonzero && v == 0))
        return MOAT_EPROTOCOL;
    if (!store)
        return MOAT_OK;
    if (pi->type == PT_BYTE)
        *field = (uint8_t)v;
    else if (pi->type == PT_U16)
        *(uint16_t *)(void *)field = (uint16_t)v;
    else
        *(uint32_t *)(void *)field = v;
    return MOAT_OK;
}

static moat_err dec_prop(rd *r, uint16_t pkt, mqtt_props *pr)
{
    uint32_t id;
    if (!rd_varint(r, &id))
        return MOAT_EMALFORMED;
    const struct prop_info *pi = prop_lookup(id);
    /* MQTT 5 2.2.2.2: an identifier not valid for the packet type is a
     * Malformed Packet. */
    if (!pi || !(pi->packets & pkt))
        return MOAT_EMALFORMED;
    if (pi->type == PT_PAIR) {
        mqtt_bin k, v;
        if (!rd_str(r, &k) || !rd_str(r, &v))
            return MOAT_EMALFORMED;
        pr->n_user++;
        return MOAT_OK;
    }
    uint64_t bit = MQTT_HAS(id);
    bool store = true;
    if (pr->has & bit) {
        /* A server may send several subscription ids in one PUBLISH; every
         * other repetition is a protocol error. Keep the first id. */
        if (id != MQTT_PROP_SUBSCRIPTION_ID || pkt != PB(MQTT_PUBLISH))
            return MOAT_EPROTOCOL;
        store = false;
    }
    pr->has |= bit;
    if (pi->type == PT_UTF8 || pi->type == PT_BIN) {
        mqtt_bin *b = (mqtt_bin *)(void *)((uint8_t *)pr + pi->off);
        bool ok = pi->type == PT_UTF8 ? rd_str(r, b) : rd_bin(r, b);
        return ok ? MOAT_OK : MOAT_EMALFORMED;
    }
    return dec_number(r, pi, pr, store);
}

/* Property length + properties; fills pr (which the caller zeroed). */
static moat_err dec_props(rd *r, uint16_t pkt, mqtt_props *pr)
{
    uint32_t n;
    if (!rd_varint(r, &n) || n > rd_left(r))
        return MOAT_EMALFORMED;
    if (n == 0)
        return MOAT_OK; /* the common case: nothing to look at */
    rd pr_r = {r->p, r->p + n};
    pr->raw = r->p;
    pr->raw_len = n;
    r->p += n;
    while (pr_r.p < pr_r.end) {
        moat_err e = dec_prop(&pr_r, pkt, pr);
        if (e)
            return e;
    }
    /* "It is a Protocol Error to include Authentication Data if there is no
     * Authentication Method" (MQTT 5 3.1.2.11.10 and 3.2.2.3.18). */
    if ((pr->has & MQTT_HAS(MQTT_PROP_AUTH_DATA)) && !(pr->has & MQTT_HAS(MQTT_PROP_AUTH_METHOD)))
        return MOAT_EPROTOCOL;
    return MOAT_OK;
}

/* ======================================================= reason codes */

/* Reason codes a v5 packet may carry, as two 64-bit sets: codes 0x00..0x3F
 * and codes 0x80..0xBF (no packet uses any other code). */
struct rc_set {
    uint64_t lo, hi;
};
#define LO(c) (1ull << (c))
#define HI(c) (1ull << ((c)-0x80))

static const struct rc_set rc_sets[16] = {
    [MQTT_CONNACK] = {LO(0x00), HI(0x80) | HI(0x81) | HI(0x82) | HI(0x83) | HI(0x84) | HI(0x85) |
                                    HI(0x86) | HI(0x87) | HI(0x88) | HI(0x89) | HI(0x8A) |
                                    HI(0x8C) | HI(0x90) | HI(0x95) | HI(0x97) | HI(0x99) |
                                    HI(0x9A) | HI(0x9B) | HI(0x9C) | HI(0x9D) | HI(0x9F)},
    [MQTT_PUBACK] = {LO(0x00) | LO(0x10),
                     HI(0x80) | HI(0x83) | HI(0x87) | HI(0x90) | HI(0x91) | HI(0x97) | HI(0x99)},
    [MQTT_PUBREC] = {LO(0x00) | LO(0x10),
                     HI(0x80) | HI(0x83) | HI(0x87) | HI(0x90) | HI(0x91) | HI(0x97) | HI(0x99)},
    [MQTT_PUBREL] = {LO(0x00), HI(0x92)},
    [MQTT_PUBCOMP] = {LO(0x00), HI(0x92)},
    [MQTT_SUBACK] = {LO(0x00) | LO(0x01) | LO(0x02), HI(0x80) | HI(0x83) | HI(0x87) | HI(0x8F) |
                                                         HI(0x91) | HI(0x97) | HI(0x9E) | HI(0xA1) |
                                                         HI(0xA2)},
    [MQTT_UNSUBACK] = {LO(0x00) | LO(0x11), HI(0x80) | HI(0x83) | HI(0x87) | HI(0x8F) | HI(0x91)},
    [MQTT_DISCONNECT] = {LO(0x00) | LO(0x04),
                         HI(0x80) | HI(0x81) | HI(0x82) | HI(0x83) | HI(0x87) | HI(0x89) |
                             HI(0x8B) | HI(0x8D) | HI(0x8E) | HI(0x8F) | HI(0x90) | HI(0x93) |
                             HI(0x94) | HI(0x95) | HI(0x96) | HI(0x97) | HI(0x98) | HI(0x99) |
                             HI(0x9A) | HI(0x9B) | HI(0x9C) | HI(0x9D) | HI(0x9E) | HI(0x9F) |
                             HI(0xA0) | HI(0xA1) | HI(0xA2)},
    [MQTT_AUTH] = {LO(0x00) | LO(0x18) | LO(0x19), 0},
};

static bool rc_ok(uint8_t type, uint8_t rc, bool v5)
{
    if (!v5) {
        /* 3.1.1 SUBACK return codes; other v3 packets carry none. */
        return rc <= 2 || rc == 0x80;
    }
    const struct rc_set *s = &rc_sets[type & 15];
    if (rc < 0x40)
        return (s->lo >> rc) & 1;
    if (rc >= 0x80 && rc < 0xC0)
        return (s->hi >> (rc - 0x80)) & 1;
    return false;
}

/* ===================================================== fixed header */

/* The low nibble rules of MQTT 5 2.1.3 / 3.1.1 2.2.2: fixed for every type
 * but PUBLISH, whose QoS must not be 3 and whose DUP needs QoS > 0. */
static bool fixed_header_ok(uint8_t b0)
{
    unsigned type = b0 >> 4, flags = b0 & 0x0F;
    switch (type) {
    case 0:
        return false;
    case MQTT_PUBLISH: {
        unsigned qos = (flags >> 1) & 3;
        return qos != 3 && !(qos == 0 && (flags & 0x8));
    }
    case MQTT_PUBREL:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return flags == 0x2;
    default:
        return flags == 0;
    }
}

/* Besides the length, the first byte is checked here too so that a broker
 * rejects garbage before buffering a (possibly huge) remaining length. */
moat_err mqtt_frame(const uint8_t *buf, size_t len, size_t *header_len, uint32_t *remaining)
{
    if (len == 0)
        return MOAT_ENEEDMORE;
    if (!fixed_header_ok(buf[0]))
        return MOAT_EMALFORMED;
    uint32_t v = 0;
    for (size_t i = 1; i <= 4; i++) {
        if (i >= len)
            return MOAT_ENEEDMORE;
        uint8_t b = buf[i];
        v |= (uint32_t)(b & 0x7f) << (7 * (i - 1));
        if (!(b & 0x80)) {
            if (b == 0 && i > 1)
                return MOAT_EMALFORMED; /* non-minimal encoding */
            *header_len = i + 1;
            *remaining = v;
            return MOAT_OK;
        }
    }
    return MOAT_EMALFORMED; /* a fifth length byte would be needed */
}

/* ===================================================== packet decoding */

static moat_err finish(const rd *r)
{
    return r->p == r->end ? MOAT_OK : MOAT_EMALFORMED;
}

static bool version_known(mqtt_bin name, uint8_t level)
{
    if (level == MQTT_V31)
        return name.len == 6 && memcmp(name.p, "MQIsdp", 6) == 0;
    if (level == MQTT_V311 || level == MQTT_V5)
        return name.len == 4 && memcmp(name.p, "MQTT", 4) == 0;
    return false;
}

static moat_err dec_connect_flags(mqtt_packet *out, uint8_t f, uint8_t level)
{
    if (f & 0x01)
        return MOAT_EMALFORMED; /* reserved bit */
    out->u.connect.clean_start = f & 0x02;
    out->u.connect.will = f & 0x04;
    out->u.connect.will_qos = (f >> 3) & 3;
    out->u.connect.will_retain = f & 0x20;
    out->u.connect.has_password = f & 0x40;
    out->u.connect.has_username = f & 0x80;
    if (!out->u.connect.will && (f & 0x38))
        return MOAT_EMALFORMED;
    if (out->u.connect.will_qos == 3)
        return MOAT_EMALFORMED;
    /* 3.1.1 [MQTT-3.1.2-22]: no password without a user name; v5 allows it. */
    if (level != MQTT_V5 && out->u.connect.has_password && !out->u.connect.has_username)
        return MOAT_EMALFORMED;
    return MOAT_OK;
}

/* The payload after the variable header: client id, will, user, password. */
static moat_err dec_connect_payload(rd *r, mqtt_packet *out, bool v5)
{
    if (!rd_str(r, &out->u.connect.client_id))
        return MOAT_EMALFORMED;
    if (out->u.connect.will) {
        if (v5) {
            moat_err e = dec_props(r, P_WILL, &out->u.connect.will_props);
            if (e)
                return e;
        }
        if (!rd_str(r, &out->u.connect.will_topic) || !rd_bin(r, &out->u.connect.will_payload))
            return MOAT_EMALFORMED;
    }
    if (out->u.connect.has_username && !rd_str(r, &out->u.connect.username))
        return MOAT_EMALFORMED;
    if (out->u.connect.has_password && !rd_bin(r, &out->u.connect.password))
        return MOAT_EMALFORMED;
    return finish(r);
}

static moat_err dec_connect(rd *r, mqtt_packet *out)
{
    mqtt_bin name;
    uint8_t level, flags;
    if (!rd_bin(r, &name) || !rd_u8(r, &level))
        return MOAT_EMALFORMED;
    out->u.connect.protocol_name = name;
    out->u.connect.protocol_version = level;
    if (!version_known(name, level))
        return MOAT_EVERSION;
    if (!rd_u8(r, &flags) || !rd_u16(r, &out->u.connect.keep_alive))
        return MOAT_EMALFORMED;
    moat_err e = dec_connect_flags(out, flags, level);
    if (e)
        return e;
    bool v5 = level == MQTT_V5;
    if (v5 && (e = dec_props(r, PB(MQTT_CONNECT), &out->props)))
        return e;
    return dec_connect_payload(r, out, v5);
}

static moat_err dec_connack(rd *r, mqtt_packet *out, uint8_t version)
{
    uint8_t af, rc;
    if (!rd_u8(r, &af) || !rd_u8(r, &rc))
        return MOAT_EMALFORMED;
    /* 3.1 had no session present flag: its first byte is simply unused. */
    if (version != MQTT_V31) {
        if (af & 0xFE)
            return MOAT_EMALFORMED;
        out->u.connack.session_present = af & 1;
    }
    out->u.connack.reason = rc;
    if (version == MQTT_V5) {
        if (!rc_ok(MQTT_CONNACK, rc, true))
            return MOAT_EPROTOCOL;
        moat_err e = dec_props(r, PB(MQTT_CONNACK), &out->props);
        if (e)
            return e;
    } else if (rc > 5) {
        return MOAT_EPROTOCOL; /* 3.1.1 return codes 6..255 are reserved */
    }
    if (out->u.connack.session_present && rc != 0)
        return MOAT_EPROTOCOL; /* [MQTT-3.2.2-4] / [MQTT-3.2.2-6] */
    return finish(r);
}

static moat_err dec_publish(rd *r, mqtt_packet *out, bool v5)
{
    uint8_t f = out->flags;
    out->u.publish.qos = (f >> 1) & 3; /* 3 was rejected by mqtt_frame */
    out->u.publish.dup = f & 0x8;
    out->u.publish.retain = f & 0x1;
    if (!rd_str(r, &out->u.publish.topic))
        return MOAT_EMALFORMED;
    if (out->u.publish.qos > 0) {
        if (!rd_u16(r, &out->u.publish.packet_id) || out->u.publish.packet_id == 0)
            return MOAT_EMALFORMED;
    }
    if (v5) {
        moat_err e = dec_props(r, PB(MQTT_PUBLISH), &out->props);
        if (e)
            return e;
        /* An empty topic is only meaningful with a topic alias (3.3.2.1). */
        if (out->u.publish.topic.len == 0 && !(out->props.has & MQTT_HAS(MQTT_PROP_TOPIC_ALIAS)))
            return MOAT_EPROTOCOL;
    }
    out->u.publish.payload.p = r->p;
    out->u.publish.payload.len = (uint32_t)rd_left(r);
    r->p = r->end;
    return MOAT_OK;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP. In v5 the reason code and the property
 * length may each be left out (remaining length 2 or 3). */
static moat_err dec_ack(rd *r, mqtt_packet *out, bool v5)
{
    if (!rd_u16(r, &out->u.ack.packet_id) || out->u.ack.packet_id == 0)
        return MOAT_EMALFORMED;
    if (v5 && r->p != r->end) {
        out->u.ack.reason = *r->p++;
        if (!rc_ok(out->type, out->u.ack.reason, true))
            return MOAT_EPROTOCOL;
        if (r->p != r->end) {
            moat_err e = dec_props(r, PB(out->type), &out->props);
            if (e)
                return e;
        }
    }
    return finish(r);
}

/* Subscription options: v3 has only the QoS (bits 2-7 reserved); v5 adds
 * no local, retain as published and retain handling (bits 6-7 reserved). */
static moat_err check_sub_options(uint8_t o, bool v5)
{
    if (o & (v5 ? 0xC0 : 0xFC))
        return MOAT_EMALFORMED;
    if ((o & 3) == 3)
        return MOAT_EMALFORMED;
    if (((o >> 4) & 3) == 3)
        return MOAT_EPROTOCOL;
    return MOAT_OK;
}

static moat_err dec_sub_head(rd *r, mqtt_packet *out, bool v5)
{
    if (!rd_u16(r, &out->u.sub.packet_id) || out->u.sub.packet_id == 0)
        return MOAT_EMALFORMED;
    if (v5) {
        moat_err e = dec_props(r, PB(out->type), &out->props);
        if (e)
            return e;
    }
    out->u.sub.raw = r->p;
    out->u.sub.raw_len = (uint32_t)rd_left(r);
    return MOAT_OK;
}

/* SUBSCRIBE and UNSUBSCRIBE: validate every entry, count them. */
static moat_err dec_sub(rd *r, mqtt_packet *out, bool v5)
{
    moat_err e = dec_sub_head(r, out, v5);
    if (e)
        return e;
    bool is_sub = out->type == MQTT_SUBSCRIBE;
    uint32_t n = 0;
    while (r->p != r->end) {
        mqtt_bin filter;
        uint8_t opt;
        if (!rd_str(r, &filter))
            return MOAT_EMALFORMED;
        if (is_sub) {
            if (!rd_u8(r, &opt))
                return MOAT_EMALFORMED;
            if ((e = check_sub_options(opt, v5)))
                return e;
        }
        n++;
    }
    if (n == 0)
        return MOAT_EPROTOCOL; /* [MQTT-3.8.3-2] / [MQTT-3.10.3-2] */
    out->u.sub.count = n;
    return MOAT_OK;
}

/* SUBACK, UNSUBACK: one reason code per entry (none in v3 UNSUBACK). */
static moat_err dec_suback(rd *r, mqtt_packet *out, bool v5)
{
    if (!rd_u16(r, &out->u.suback.packet_id) || out->u.suback.packet_id == 0)
        return MOAT_EMALFORMED;
    if (!v5 && out->type == MQTT_UNSUBACK)
        return finish(r);
    if (v5) {
        moat_err e = dec_props(r, PB(out->type), &out->props);
        if (e)
            return e;
    }
    if (r->p == r->end)
        return MOAT_EPROTOCOL; /* acknowledges a packet with >= 1 entry */
    out->u.suback.reasons = r->p;
    out->u.suback.count = (uint32_t)rd_left(r);
    for (; r->p != r->end; r->p++)
        if (!rc_ok(out->type, *r->p, v5))
            return MOAT_EPROTOCOL;
    return MOAT_OK;
}

/* DISCONNECT and AUTH: v3 DISCONNECT is empty; v5 reason and properties are
 * each optional (remaining length 0 means reason 0x00). */
static moat_err dec_disconnect(rd *r, mqtt_packet *out, bool v5)
{
    if (!v5)
        return out->type == MQTT_AUTH ? MOAT_EMALFORMED : finish(r);
    if (r->p != r->end) {
        out->u.disconnect.reason = *r->p++;
        if (!rc_ok(out->type, out->u.disconnect.reason, true))
            return MOAT_EPROTOCOL;
        if (r->p != r->end) {
            moat_err e = dec_props(r, PB(out->type), &out->props);
            if (e)
                return e;
        }
    }
    return finish(r);
}

/* Zero what the packet type can use: only CONNECT needs the large union
 * member (it embeds a second mqtt_props), so PUBLISH stays cheap. */
static void packet_clear(mqtt_packet *p, uint8_t type)
{
    size_t small = sizeof p->u.publish;
    if (sizeof p->u.sub > small)
        small = sizeof p->u.sub;
    if (sizeof p->u.suback > small)
        small = sizeof p->u.suback;
    memset(p, 0, offsetof(mqtt_packet, u) + (type == MQTT_CONNECT ? sizeof p->u : small));
}

static moat_err dec_body(rd *r, mqtt_packet *out, uint8_t version)
{
    bool v5 = version == MQTT_V5;
    switch (out->type) {
    case MQTT_CONNECT:
        return dec_connect(r, out);
    case MQTT_CONNACK:
        return dec_connack(r, out, version);
    case MQTT_PUBLISH:
        return dec_publish(r, out, v5);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return dec_ack(r, out, v5);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return dec_sub(r, out, v5);
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        return dec_suback(r, out, v5);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
        return finish(r);
    default: /* DISCONNECT, AUTH (type 0 was rejected by mqtt_frame) */
        return dec_disconnect(r, out, v5);
    }
}

moat_err mqtt_decode(const uint8_t *buf, size_t len, uint8_t version, mqtt_packet *out,
                     size_t *consumed)
{
    size_t hl;
    uint32_t rem;
    moat_err e = mqtt_frame(buf, len, &hl, &rem);
    if (e)
        return e;
    if (len - hl < rem)
        return MOAT_ENEEDMORE;
    uint8_t type = buf[0] >> 4;
    packet_clear(out, type);
    out->type = type;
    out->flags = buf[0] & 0x0F;
    rd r = {buf + hl, buf + hl + rem};
    e = dec_body(&r, out, version);
    if (e)
        return e;
    *consumed = hl + rem;
    return MOAT_OK;
}

/* ===================================================== iterators */

bool mqtt_sub_next(const mqtt_packet *p, uint8_t version, uint32_t *pos, mqtt_sub_entry *e)
{
    if (!p->u.sub.raw || *pos >= p->u.sub.raw_len)
        return false;
    rd r = {p->u.sub.raw + *pos, p->u.sub.raw + p->u.sub.raw_len};
    uint8_t o;
    if (!rd_bin(&r, &e->filter) || !rd_u8(&r, &o))
        return false;
    bool v5 = version == MQTT_V5;
    e->qos = o & 3;
    e->no_local = v5 && (o & 0x04);
    e->retain_as_published = v5 && (o & 0x08);
    e->retain_handling = v5 ? (o >> 4) & 3 : 0;
    *pos = (uint32_t)(r.p - p->u.sub.raw);
    return true;
}

bool mqtt_unsub_next(const mqtt_packet *p, uint32_t *pos, mqtt_bin *filter)
{
    if (!p->u.sub.raw || *pos >= p->u.sub.raw_len)
        return false;
    rd r = {p->u.sub.raw + *pos, p->u.sub.raw + p->u.sub.raw_len};
    if (!rd_bin(&r, filter))
        return false;
    *pos = (uint32_t)(r.p - p->u.sub.raw);
    return true;
}

bool mqtt_props_next_user(const mqtt_props *pr, uint32_t *pos, mqtt_bin *key, mqtt_bin *val)
{
    if (!pr->raw || *pos >= pr->raw_len)
        return false;
    rd r = {pr->raw + *pos, pr->raw + pr->raw_len};
    while (r.p < r.end) {
        uint32_t id;
        if (!rd_varint(&r, &id))
            return false;
        const struct prop_info *pi = prop_lookup(id);
        if (!pi)
            return false;
        if (pi->type == PT_PAIR) {
            if (!rd_bin(&r, key) || !rd_bin(&r, val))
                return false;
            *pos = (uint32_t)(r.p - pr->raw);
            return true;
        }
        if (!skip_value(&r, pi->type))
            return false;
    }
    *pos = pr->raw_len;
    return false;
}

moat_err mqtt_props_copy_filtered(const uint8_t *raw, uint32_t raw_len, uint64_t drop_mask,
                                  moat_buf *out)
{
    if (raw_len == 0)
        return MOAT_OK;
    if (!raw)
        return MOAT_EINVAL;
    moat_err e = moat_buf_reserve(out, raw_len);
    if (e)
        return e;
    uint8_t *w = out->data + out->len;
    rd r = {raw, raw + raw_len};
    const uint8_t *run = raw; /* start of the kept bytes not yet copied */
    while (r.p < r.end) {
        const uint8_t *start = r.p;
        uint32_t id;
        if (!rd_varint(&r, &id))
            return MOAT_EMALFORMED;
        const struct prop_info *pi = prop_lookup(id);
        if (!pi || !skip_value(&r, pi->type))
            return MOAT_EMALFORMED;
        if (drop_mask & MQTT_HAS(id)) {
            /* Copy kept properties in runs: one memcpy per gap. */
            memcpy(w, run, (size_t)(start - run));
            w += start - run;
            run = r.p;
        }
    }
    memcpy(w, run, (size_t)(r.end - run));
    w += r.end - run;
    out->len = (size_t)(w - out->data);
    return MOAT_OK;
}

/* ===================================================== writer */

static inline size_t varint_size(uint32_t v)
{
    return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : 4;
}

static inline uint8_t *put_u16(uint8_t *w, uint16_t v)
{
    w[0] = (uint8_t)(v >> 8);
    w[1] = (uint8_t)v;
    return w + 2;
}

static inline uint8_t *put_u32(uint8_t *w, uint32_t v)
{
    w[0] = (uint8_t)(v >> 24);
    w[1] = (uint8_t)(v >> 16);
    w[2] = (uint8_t)(v >> 8);
    w[3] = (uint8_t)v;
    return w + 4;
}

static inline uint8_t *put_varint(uint8_t *w, uint32_t v)
{
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        *w++ = v ? (uint8_t)(b | 0x80) : b;
    } while (v);
    return w;
}

static inline uint8_t *put_raw(uint8_t *w, const uint8_t *p, size_t n)
{
    if (n) /* p may be NULL for an empty field; memcpy(NULL, 0) is UB */
        memcpy(w, p, n);
    return w + n;
}

static inline uint8_t *put_bin(uint8_t *w, mqtt_bin b)
{
    return put_raw(put_u16(w, (uint16_t)b.len), b.p, b.len);
}

/* Encoded size of a length-prefixed string, or fail if it cannot fit. */
static inline bool bin_size(mqtt_bin b, uint64_t *acc)
{
    if (b.len > BIN_MAX)
        return false;
    *acc += 2u + b.len;
    return true;
}

/* ===================================================== property encoding */

static inline const void *prop_field(const mqtt_props *pr, const struct prop_info *pi)
{
    return (const uint8_t *)pr + pi->off;
}

static bool prop_value_size(const mqtt_props *pr, const struct prop_info *pi, uint64_t *acc)
{
    const void *f = prop_field(pr, pi);
    switch (pi->type) {
    case PT_BYTE:
        *acc += 1;
        return true;
    case PT_U16:
        *acc += 2;
        return true;
    case PT_U32:
        *acc += 4;
        return true;
    case PT_VARINT: {
        uint32_t v = *(const uint32_t *)f;
        *acc += varint_size(v);
        return v > 0 && v <= VARINT_MAX;
    }
    case PT_UTF8:
    case PT_BIN:
        return bin_size(*(const mqtt_bin *)f, acc);
    default:
        return false; /* user properties only travel in raw */
    }
}

/* Content length of the property block for packet bit pkt (without its
 * length prefix). MOAT_EINVAL for a property the packet may not carry or a
 * value that cannot be encoded. */
static moat_err props_len(const mqtt_props *pr, uint16_t pkt, uint32_t *len)
{
    uint64_t n = 0;
    for (uint64_t has = pr->has; has; has &= has - 1) {
        unsigned id = (unsigned)__builtin_ctzll(has);
        const struct prop_info *pi = prop_lookup(id);
        if (!pi || !(pi->packets & pkt) || !prop_value_size(pr, pi, &n))
            return MOAT_EINVAL;
        n += 1; /* identifier: every id is below 128 */
    }
    if (pr->n_sub_ids) {
        /* Only a PUBLISH to a client may carry several subscription ids. */
        if (pkt != PB(MQTT_PUBLISH) || !pr->sub_ids)
            return MOAT_EINVAL;
        for (uint32_t i = 0; i < pr->n_sub_ids; i++) {
            uint32_t v = pr->sub_ids[i];
            if (v == 0 || v > VARINT_MAX)
                return MOAT_EINVAL;
            n += 1 + varint_size(v);
        }
    }
    if (pr->raw_len && !pr->raw)
        return MOAT_EINVAL;
    n += pr->raw_len;
    if (n > VARINT_MAX)
        return MOAT_ETOOLARGE;
    *len = (uint32_t)n;
    return MOAT_OK;
}

static uint8_t *put_prop(uint8_t *w, const mqtt_props *pr, unsigned id)
{
    const struct prop_info *pi = &prop_table[id];
    const void *f = prop_field(pr, pi);
    *w++ = (uint8_t)id;
    switch (pi->type) {
    case PT_BYTE:
        *w++ = *(const uint8_t *)f;
        return w;
    case PT_U16:
        return put_u16(w, *(const uint16_t *)f);
    case PT_U32:
        return put_u32(w, *(const uint32_t *)f);
    case PT_VARINT:
        return put_varint(w, *(const uint32_t *)f);
    default:
        return put_bin(w, *(const mqtt_bin *)f);
    }
}

/* Canonical order: set fields by ascending id, then the extra subscription
 * ids, then the pre-encoded raw properties verbatim. */
static uint8_t *put_props(uint8_t *w, const mqtt_props *pr, uint32_t len)
{
    w = put_varint(w, len);
    for (uint64_t has = pr->has; has; has &= has - 1)
        w = put_prop(w, pr, (unsigned)__builtin_ctzll(has));
    for (uint32_t i = 0; i < pr->n_sub_ids; i++) {
        *w++ = MQTT_PROP_SUBSCRIPTION_ID;
        w = put_varint(w, pr->sub_ids[i]);
    }
    return put_raw(w, pr->raw, pr->raw_len);
}

/* Size of the property length prefix plus the block. */
static inline uint64_t props_total(uint32_t len)
{
    return varint_size(len) + len;
}

/* ===================================================== packet encoding */

/* Reserve the whole packet once and write the fixed header. */
static moat_err enc_begin(moat_buf *out, uint8_t b0, uint64_t rem, uint8_t **w)
{
    if (rem > VARINT_MAX)
        return MOAT_ETOOLARGE;
    moat_err e = moat_buf_reserve(out, 1 + varint_size((uint32_t)rem) + (size_t)rem);
    if (e)
        return e;
    uint8_t *p = out->data + out->len;
    *p++ = b0;
    *w = put_varint(p, (uint32_t)rem);
    return MOAT_OK;
}

static moat_err enc_end(moat_buf *out, uint8_t *w, uint64_t rem, size_t *written)
{
    size_t n = (size_t)(w - (out->data + out->len));
    assert(n == 1 + varint_size((uint32_t)rem) + rem);
    (void)rem;
    out->len += n;
    if (written)
        *written = n;
    return MOAT_OK;
}

static const mqtt_bin name_mqtt = {(const uint8_t *)"MQTT", 4};
static const mqtt_bin name_mqisdp = {(const uint8_t *)"MQIsdp", 6};

static uint8_t connect_flags(const mqtt_packet *p)
{
    uint8_t f = 0;
    f |= p->u.connect.clean_start ? 0x02 : 0;
    f |= p->u.connect.will ? 0x04 : 0;
    f |= (uint8_t)((p->u.connect.will_qos & 3) << 3);
    f |= p->u.connect.will_retain ? 0x20 : 0;
    f |= p->u.connect.has_password ? 0x40 : 0;
    f |= p->u.connect.has_username ? 0x80 : 0;
    return f;
}

/* Length of everything in a CONNECT but the fixed header and the two
 * property blocks, whose lengths come back in *plen / *wlen. */
static moat_err connect_len(const mqtt_packet *p, mqtt_bin name, bool v5, uint64_t *rem,
                            uint32_t *plen, uint32_t *wlen)
{
    uint64_t n = 1 + 1 + 2; /* level, flags, keep alive */
    bool ok = bin_size(name, &n) && bin_size(p->u.connect.client_id, &n);
    if (p->u.connect.will)
        ok = ok && bin_size(p->u.connect.will_topic, &n) && bin_size(p->u.connect.will_payload, &n);
    if (p->u.connect.has_username)
        ok = ok && bin_size(p->u.connect.username, &n);
    if (p->u.connect.has_password)
        ok = ok && bin_size(p->u.connect.password, &n);
    if (!ok)
        return MOAT_EINVAL;
    if (v5) {
        moat_err e = props_len(&p->props, PB(MQTT_CONNECT), plen);
        if (e)
            return e;
        n += props_total(*plen);
        if (p->u.connect.will) {
            if ((e = props_len(&p->u.connect.will_props, P_WILL, wlen)))
                return e;
            n += props_total(*wlen);
        }
    }
    *rem = n;
    return MOAT_OK;
}

/* CONNECT: the level written is protocol_version (or version when 0), the
 * name protocol_name (or the one that goes with the level), and the wire
 * form follows the level, mirroring mqtt_decode. Flags are written as given
 * so tests can build invalid combinations. */
static moat_err enc_connect(const mqtt_packet *p, uint8_t version, moat_buf *out, size_t *written)
{
    uint8_t level = p->u.connect.protocol_version ? p->u.connect.protocol_version : version;
    if (level == 0)
        return MOAT_EINVAL;
    mqtt_bin name = p->u.connect.protocol_name;
    if (name.len == 0)
        name = level == MQTT_V31 ? name_mqisdp : name_mqtt;
    bool v5 = level == MQTT_V5;
    uint64_t rem;
    uint32_t plen = 0, wlen = 0;
    moat_err e = connect_len(p, name, v5, &rem, &plen, &wlen);
    uint8_t *w;
    if (e || (e = enc_begin(out, MQTT_CONNECT << 4, rem, &w)))
        return e;
    w = put_bin(w, name);
    *w++ = level;
    *w++ = connect_flags(p);
    w = put_u16(w, p->u.connect.keep_alive);
    if (v5)
        w = put_props(w, &p->props, plen);
    w = put_bin(w, p->u.connect.client_id);
    if (p->u.connect.will) {
        if (v5)
            w = put_props(w, &p->u.connect.will_props, wlen);
        w = put_bin(w, p->u.connect.will_topic);
        w = put_bin(w, p->u.connect.will_payload);
    }
    if (p->u.connect.has_username)
        w = put_bin(w, p->u.connect.username);
    if (p->u.connect.has_password)
        w = put_bin(w, p->u.connect.password);
    return enc_end(out, w, rem, written);
}

static moat_err enc_connack(const mqtt_packet *p, uint8_t version, moat_buf *out, size_t *written)
{
    bool v5 = version == MQTT_V5;
    uint64_t rem = 2;
    uint32_t plen = 0;
    moat_err e;
    if (v5) {
        if ((e = props_len(&p->props, PB(MQTT_CONNACK), &plen)))
            return e;
        rem += props_total(plen);
    }
    uint8_t *w;
    if ((e = enc_begin(out, MQTT_CONNACK << 4, rem, &w)))
        return e;
    /* 3.1 has no session present flag. */
    *w++ = version != MQTT_V31 && p->u.connack.session_present;
    *w++ = p->u.connack.reason;
    if (v5)
        w = put_props(w, &p->props, plen);
    return enc_end(out, w, rem, written);
}

static moat_err enc_publish(const mqtt_packet *p, uint8_t version, moat_buf *out, size_t *written)
{
    uint8_t qos = p->u.publish.qos;
    if (qos > 2 || (qos == 0 && p->u.publish.dup))
        return MOAT_EINVAL; /* not representable in a valid fixed header */
    uint64_t rem = (qos ? 2u : 0u) + (uint64_t)p->u.publish.payload.len;
    if (!bin_size(p->u.publish.topic, &rem) ||
        (p->u.publish.payload.len && !p->u.publish.payload.p))
        return MOAT_EINVAL;
    bool v5 = version == MQTT_V5;
    uint32_t plen = 0;
    moat_err e;
    if (v5) {
        if ((e = props_len(&p->props, PB(MQTT_PUBLISH), &plen)))
            return e;
        rem += props_total(plen);
    }
    uint8_t b0 = (uint8_t)(MQTT_PUBLISH << 4 | (p->u.publish.dup ? 0x8 : 0) | qos << 1 |
                           (p->u.publish.retain ? 1 : 0));
    uint8_t *w;
    if ((e = enc_begin(out, b0, rem, &w)))
        return e;
    w = put_bin(w, p->u.publish.topic);
    if (qos)
        w = put_u16(w, p->u.publish.packet_id);
    if (v5)
        w = put_props(w, &p->props, plen);
    w = put_raw(w, p->u.publish.payload.p, p->u.publish.payload.len);
    return enc_end(out, w, rem, written);
}

/* PUBACK..PUBCOMP: v5 uses the short forms when it can (reason 0 and no
 * properties: remaining length 2; reason only: 3). */
static moat_err enc_ack(const mqtt_packet *p, uint8_t version, moat_buf *out, size_t *written)
{
    uint8_t type = p->type;
    uint64_t rem = 2;
    uint32_t plen = 0;
    moat_err e;
    bool v5 = version == MQTT_V5;
    if (v5 && (e = props_len(&p->props, PB(type), &plen)))
        return e;
    bool with_reason = v5 && (p->u.ack.reason != 0 || plen != 0);
    bool with_props = v5 && plen != 0;
    rem += with_reason + (with_props ? props_total(plen) : 0);
    uint8_t *w;
    if ((e = enc_begin(out, (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 0x2 : 0)), rem, &w)))
        return e;
    w = put_u16(w, p->u.ack.packet_id);
    if (with_reason)
        *w++ = p->u.ack.reason;
    if (with_props)
        w = put_props(w, &p->props, plen);
    return enc_end(out, w, rem, written);
}

/* Payload length of a SUBSCRIBE / UNSUBSCRIBE: from entries / filters when
 * given, else raw (a decoded payload re-sent verbatim). */
static moat_err sub_payload_len(const mqtt_packet *p, uint64_t *n)
{
    bool is_sub = p->type == MQTT_SUBSCRIBE;
    const void *list = is_sub ? (const void *)p->u.sub.entries : (const void *)p->u.sub.filters;
    if (!list) {
        if (p->u.sub.raw_len && !p->u.sub.raw)
            return MOAT_EINVAL;
        *n += p->u.sub.raw_len;
        return MOAT_OK;
    }
    for (uint32_t i = 0; i < p->u.sub.count; i++) {
        mqtt_bin f = is_sub ? p->u.sub.entries[i].filter : p->u.sub.filters[i];
        if (!bin_size(f, n))
            return MOAT_EINVAL;
        *n += is_sub;
    }
    return MOAT_OK;
}

static uint8_t sub_options(const mqtt_sub_entry *s, bool v5)
{
    uint8_t o = s->qos & 3;
    if (v5) {
        o |= s->no_local ? 0x04 : 0;
        o |= s->retain_as_published ? 0x08 : 0;
        o |= (uint8_t)((s->retain_handling & 3) << 4);
    }
    return o;
}

static uint8_t *put_sub_payload(uint8_t *w, const mqtt_packet *p, bool v5)
{
    if (p->type == MQTT_SUBSCRIBE && p->u.sub.entries) {
        for (uint32_t i = 0; i < p->u.sub.count; i++) {
            w = put_bin(w, p->u.sub.entries[i].filter);
            *w++ = sub_options(&p->u.sub.entries[i], v5);
        }
        return w;
    }
    if (p->type == MQTT_UNSUBSCRIBE && p->u.sub.filters) {
        for (uint32_t i = 0; i < p->u.sub.count; i++)
            w = put_bin(w, p->u.sub.filters[i]);
        return w;
    }
    return put_raw(w, p->u.sub.raw, p->u.sub.raw_len);
}

static moat_err enc_sub(const mqtt_packet *p, uint8_t version, moat_buf *out, size_t *written)
{
    bool v5 = version == MQTT_V5;
    uint64_t rem = 2;
    uint32_t plen = 0;
    moat_err e = sub_payload_len(p, &rem);
    if (e)
        return e;
    if (v5) {
        if ((e = props_len(&p->props, PB(p->type), &plen)))
            return e;
        rem += props_total(plen);
    }
    uint8_t *w;
    if ((e = enc_begin(out, (uint8_t)(p->type << 4 | 0x2), rem, &w)))
        return e;
    w = put_u16(w, p->u.sub.packet_id);
    if (v5)
        w = put_props(w, &p->props, plen);
    w = put_sub_payload(w, p, v5);
    return enc_end(out, w, rem, written);
}

static moat_err enc_suback(const mqtt_packet *p, uint8_t version, moat_buf *out, size_t *written)
{
    bool v5 = version == MQTT_V5;
    /* A v3 UNSUBACK is just the packet id. */
    uint32_t count = (!v5 && p->type == MQTT_UNSUBACK) ? 0 : p->u.suback.count;
    if (count && !p->u.suback.reasons)
        return MOAT_EINVAL;
    uint64_t rem = 2 + (uint64_t)count;
    uint32_t plen = 0;
    moat_err e;
    if (v5) {
        if ((e = props_len(&p->props, PB(p->type), &plen)))
            return e;
        rem += props_total(plen);
    }
    uint8_t *w;
    if ((e = enc_begin(out, (uint8_t)(p->type << 4), rem, &w)))
        return e;
    w = put_u16(w, p->u.suback.packet_id);
    if (v5)
        w = put_props(w, &p->props, plen);
    w = put_raw(w, p->u.suback.reasons, count);
    return enc_end(out, w, rem, written);
}

/* PINGREQ, PINGRESP, and v3 DISCONNECT: a bare fixed header. */
static moat_err enc_empty(uint8_t type, moat_buf *out, size_t *written)
{
    uint8_t *w;
    moat_err e = enc_begin(out, (uint8_t)(type << 4), 0, &w);
    return e ? e : enc_end(out, w, 0, written);
}

/* v5 DISCONNECT / AUTH. DISCONNECT drops what it can (reason 0 and no
 * properties: empty; reason only: 1 byte). AUTH only has the empty short
 * form in the specification, so any other AUTH gets a property length. */
static moat_err enc_disconnect(const mqtt_packet *p, uint8_t version, moat_buf *out,
                               size_t *written)
{
    uint8_t type = p->type;
    if (version != MQTT_V5)
        return type == MQTT_AUTH ? MOAT_EINVAL : enc_empty(type, out, written);
    uint32_t plen;
    moat_err e = props_len(&p->props, PB(type), &plen);
    if (e)
        return e;
    bool with_reason = p->u.disconnect.reason != 0 || plen != 0;
    bool with_props = plen != 0 || (type == MQTT_AUTH && with_reason);
    uint64_t rem = with_reason + (with_props ? props_total(plen) : 0);
    uint8_t *w;
    if ((e = enc_begin(out, (uint8_t)(type << 4), rem, &w)))
        return e;
    if (with_reason)
        *w++ = p->u.disconnect.reason;
    if (with_props)
        w = put_props(w, &p->props, plen);
    return enc_end(out, w, rem, written);
}

moat_err mqtt_encode(const mqtt_packet *p, uint8_t version, moat_buf *out, size_t *written)
{
    switch (p->type) {
    case MQTT_CONNECT:
        return enc_connect(p, version, out, written);
    case MQTT_CONNACK:
        return enc_connack(p, version, out, written);
    case MQTT_PUBLISH:
        return enc_publish(p, version, out, written);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return enc_ack(p, version, out, written);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return enc_sub(p, version, out, written);
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        return enc_suback(p, version, out, written);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
        return enc_empty(p->type, out, written);
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        return enc_disconnect(p, version, out, written);
    default:
        return MOAT_EINVAL;
    }
}
