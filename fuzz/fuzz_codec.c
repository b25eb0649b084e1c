/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the MQTT codec. Input: one byte selecting the protocol level the
 * stream starts with (0, 3, 4 or 5 by its low two bits), then a stream of
 * packets decoded one after the other until the first error (a CONNECT
 * switches the level, as on a real connection).
 *
 * Beyond "no crash", every decoded packet is checked for:
 *  - truncation: one byte less is MOAT_ENEEDMORE;
 *  - re-encoding with its raw properties/payloads: decodes to the same
 *    packet, is byte-identical to the input for packets with one canonical
 *    form, and re-encoding is idempotent;
 *  - re-encoding from the structured fields: decodes to the same fields;
 *  - iteration of SUBSCRIBE entries, UNSUBSCRIBE filters, user properties;
 *  - mqtt_props_copy_filtered: kept + dropped properties partition the block.
 * mqtt_utf8_valid is compared against a straightforward reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt/codec.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool bin_eq(mqtt_bin a, mqtt_bin b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static bool mem_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

/* ------------------------------------------------------- UTF-8 reference */

/* Decode code point by code point, the slow and obvious way. */
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
        if (c < min || c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

/* ------------------------------------------------------- comparison */

static bool props_eq(const mqtt_props *a, const mqtt_props *b, bool with_raw)
{
    if (with_raw &&
        (a->n_user != b->n_user || a->raw_len != b->raw_len || !mem_eq(a->raw, b->raw, a->raw_len)))
        return false;
    return a->has == b->has && a->payload_format == b->payload_format &&
           a->request_problem_info == b->request_problem_info &&
           a->request_response_info == b->request_response_info && a->max_qos == b->max_qos &&
           a->retain_available == b->retain_available &&
           a->wildcard_sub_available == b->wildcard_sub_available &&
           a->sub_id_available == b->sub_id_available &&
           a->shared_sub_available == b->shared_sub_available &&
           a->server_keep_alive == b->server_keep_alive && a->receive_max == b->receive_max &&
           a->topic_alias_max == b->topic_alias_max && a->topic_alias == b->topic_alias &&
           a->message_expiry == b->message_expiry && a->session_expiry == b->session_expiry &&
           a->will_delay == b->will_delay && a->max_packet_size == b->max_packet_size &&
           a->sub_id == b->sub_id && bin_eq(a->content_type, b->content_type) &&
           bin_eq(a->response_topic, b->response_topic) &&
           bin_eq(a->correlation_data, b->correlation_data) &&
           bin_eq(a->assigned_client_id, b->assigned_client_id) &&
           bin_eq(a->auth_method, b->auth_method) && bin_eq(a->auth_data, b->auth_data) &&
           bin_eq(a->response_info, b->response_info) &&
           bin_eq(a->server_reference, b->server_reference) &&
           bin_eq(a->reason_string, b->reason_string);
}

static bool connect_eq(const mqtt_packet *a, const mqtt_packet *b, bool with_raw)
{
    if (!bin_eq(a->u.connect.protocol_name, b->u.connect.protocol_name) ||
        a->u.connect.protocol_version != b->u.connect.protocol_version ||
        a->u.connect.clean_start != b->u.connect.clean_start ||
        a->u.connect.keep_alive != b->u.connect.keep_alive ||
        !bin_eq(a->u.connect.client_id, b->u.connect.client_id) ||
        a->u.connect.will != b->u.connect.will ||
        a->u.connect.has_username != b->u.connect.has_username ||
        a->u.connect.has_password != b->u.connect.has_password)
        return false;
    if (a->u.connect.will &&
        (a->u.connect.will_qos != b->u.connect.will_qos ||
         a->u.connect.will_retain != b->u.connect.will_retain ||
         !props_eq(&a->u.connect.will_props, &b->u.connect.will_props, with_raw) ||
         !bin_eq(a->u.connect.will_topic, b->u.connect.will_topic) ||
         !bin_eq(a->u.connect.will_payload, b->u.connect.will_payload)))
        return false;
    if (a->u.connect.has_username && !bin_eq(a->u.connect.username, b->u.connect.username))
        return false;
    return !a->u.connect.has_password || bin_eq(a->u.connect.password, b->u.connect.password);
}

static bool packet_eq(const mqtt_packet *a, const mqtt_packet *b, bool with_raw)
{
    if (a->type != b->type || a->flags != b->flags || !props_eq(&a->props, &b->props, with_raw))
        return false;
    switch (a->type) {
    case MQTT_CONNECT:
        return connect_eq(a, b, with_raw);
    case MQTT_CONNACK:
        return a->u.connack.session_present == b->u.connack.session_present &&
               a->u.connack.reason == b->u.connack.reason;
    case MQTT_PUBLISH:
        return bin_eq(a->u.publish.topic, b->u.publish.topic) &&
               a->u.publish.packet_id == b->u.publish.packet_id &&
               a->u.publish.qos == b->u.publish.qos && a->u.publish.dup == b->u.publish.dup &&
               a->u.publish.retain == b->u.publish.retain &&
               bin_eq(a->u.publish.payload, b->u.publish.payload);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return a->u.ack.packet_id == b->u.ack.packet_id && a->u.ack.reason == b->u.ack.reason;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return a->u.sub.packet_id == b->u.sub.packet_id && a->u.sub.count == b->u.sub.count &&
               a->u.sub.raw_len == b->u.sub.raw_len &&
               mem_eq(a->u.sub.raw, b->u.sub.raw, a->u.sub.raw_len);
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        return a->u.suback.packet_id == b->u.suback.packet_id &&
               a->u.suback.count == b->u.suback.count &&
               mem_eq(a->u.suback.reasons, b->u.suback.reasons, a->u.suback.count);
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        return a->u.disconnect.reason == b->u.disconnect.reason;
    default:
        return true;
    }
}

/* ------------------------------------------------------- re-encoding */

/* Encode p, decode the result; both must succeed. Returns the encoding in
 * b; *out points into it. */
static void encode_decode(const mqtt_packet *p, uint8_t version, moat_buf *b, mqtt_packet *out)
{
    size_t written = 0, used = 0;
    FUZZ_CHECK(mqtt_encode(p, version, b, &written) == MOAT_OK);
    FUZZ_CHECK(written == b->len);
    FUZZ_CHECK(mqtt_decode(b->data, b->len, version, out, &used) == MOAT_OK);
    FUZZ_CHECK(used == b->len);
}

/* Encoding version for p: a CONNECT carries its own. */
static uint8_t enc_version(const mqtt_packet *p, uint8_t version)
{
    return p->type == MQTT_CONNECT ? p->u.connect.protocol_version : version;
}

/* The v5 short forms (and the unused 3.1 CONNACK byte) have several valid
 * encodings; every other packet has exactly one. */
static bool one_wire_form(const mqtt_packet *p, uint8_t version)
{
    switch (p->type) {
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        return version != MQTT_V5;
    case MQTT_CONNACK:
        return version != MQTT_V31;
    default:
        return true;
    }
}

/* Re-encode with props.raw (has cleared so nothing is written twice) and
 * the SUBSCRIBE/UNSUBSCRIBE payload verbatim. */
static void check_reencode_raw(const mqtt_packet *p, uint8_t version, const uint8_t *wire, size_t n)
{
    uint8_t ver = enc_version(p, version);
    mqtt_packet q = *p, r, s;
    q.props.has = 0;
    if (q.type == MQTT_CONNECT)
        q.u.connect.will_props.has = 0;
    moat_buf b1 = MOAT_BUF_INIT, b2 = MOAT_BUF_INIT;
    encode_decode(&q, ver, &b1, &r);
    FUZZ_CHECK(packet_eq(p, &r, true));
    if (one_wire_form(p, ver))
        FUZZ_CHECK(b1.len == n && memcmp(b1.data, wire, n) == 0);
    else
        FUZZ_CHECK(b1.len <= n + 1); /* AUTH with a bare reason grows by one */
    /* Idempotence: the canonical form re-encodes to itself. */
    r.props.has = 0;
    if (r.type == MQTT_CONNECT)
        r.u.connect.will_props.has = 0;
    encode_decode(&r, ver, &b2, &s);
    FUZZ_CHECK(b2.len == b1.len && memcmp(b2.data, b1.data, b1.len) == 0);
    moat_buf_free(&b1);
    moat_buf_free(&b2);
}

/* Re-encode from the structured fields only: no raw properties (so no user
 * properties nor extra subscription ids), SUBSCRIBE entries and
 * UNSUBSCRIBE filters rebuilt by the iterators. */
static void check_reencode_fields(const mqtt_packet *p, uint8_t version)
{
    uint8_t ver = enc_version(p, version);
    mqtt_packet q = *p, r;
    q.props.raw = NULL;
    q.props.raw_len = 0;
    q.props.n_user = 0;
    if (q.type == MQTT_CONNECT) {
        q.u.connect.will_props.raw = NULL;
        q.u.connect.will_props.raw_len = 0;
        q.u.connect.will_props.n_user = 0;
    }
    mqtt_sub_entry *entries = NULL;
    mqtt_bin *filters = NULL;
    if (p->type == MQTT_SUBSCRIBE || p->type == MQTT_UNSUBSCRIBE) {
        uint32_t pos = 0, i = 0;
        if (p->type == MQTT_SUBSCRIBE) {
            entries = malloc(p->u.sub.count * sizeof *entries);
            FUZZ_CHECK(entries);
            while (i < p->u.sub.count && mqtt_sub_next(p, ver, &pos, &entries[i]))
                i++;
            q.u.sub.entries = entries;
        } else {
            filters = malloc(p->u.sub.count * sizeof *filters);
            FUZZ_CHECK(filters);
            while (i < p->u.sub.count && mqtt_unsub_next(p, &pos, &filters[i]))
                i++;
            q.u.sub.filters = filters;
        }
        FUZZ_CHECK(i == p->u.sub.count && pos == p->u.sub.raw_len);
        q.u.sub.raw = NULL;
        q.u.sub.raw_len = 0;
    }
    moat_buf b = MOAT_BUF_INIT;
    encode_decode(&q, ver, &b, &r);
    FUZZ_CHECK(packet_eq(p, &r, false));
    moat_buf_free(&b);
    free(entries);
    free(filters);
}

/* ------------------------------------------------------- properties */

static void check_props(const mqtt_props *pr, uint64_t drop)
{
    mqtt_bin k, v;
    uint32_t pos = 0, n = 0;
    while (mqtt_props_next_user(pr, &pos, &k, &v)) {
        FUZZ_CHECK(mqtt_utf8_valid(k.p, k.len) && mqtt_utf8_valid(v.p, v.len));
        n++;
    }
    FUZZ_CHECK(n == pr->n_user);

    /* Kept and dropped properties partition the block, and what is kept
     * contains nothing that should have been dropped. */
    moat_buf kept = MOAT_BUF_INIT, dropped = MOAT_BUF_INIT, again = MOAT_BUF_INIT;
    FUZZ_CHECK(mqtt_props_copy_filtered(pr->raw, pr->raw_len, drop, &kept) == MOAT_OK);
    FUZZ_CHECK(mqtt_props_copy_filtered(pr->raw, pr->raw_len, ~drop, &dropped) == MOAT_OK);
    FUZZ_CHECK(kept.len + dropped.len == pr->raw_len);
    FUZZ_CHECK(mqtt_props_copy_filtered(kept.data, (uint32_t)kept.len, drop, &again) == MOAT_OK);
    FUZZ_CHECK(again.len == kept.len && mem_eq(again.data, kept.data, kept.len));
    mqtt_props kp = {.raw = kept.data, .raw_len = (uint32_t)kept.len};
    pos = n = 0;
    while (mqtt_props_next_user(&kp, &pos, &k, &v))
        n++;
    FUZZ_CHECK(n == ((drop & MQTT_HAS(MQTT_PROP_USER_PROPERTY)) ? 0 : pr->n_user));
    moat_buf_free(&kept);
    moat_buf_free(&dropped);
    moat_buf_free(&again);
}

static void check_packet(const mqtt_packet *p, uint8_t version, const uint8_t *wire, size_t n,
                         uint64_t drop)
{
    /* One byte less is never enough. */
    mqtt_packet t;
    size_t used;
    FUZZ_CHECK(mqtt_decode(wire, n - 1, version, &t, &used) == MOAT_ENEEDMORE);
    FUZZ_CHECK(mqtt_packet_name(p->type)[0] != '\0');

    check_props(&p->props, drop);
    if (p->type == MQTT_CONNECT && p->u.connect.will)
        check_props(&p->u.connect.will_props, drop);
    if (p->type == MQTT_SUBSCRIBE) {
        FUZZ_CHECK(p->u.sub.count > 0);
        mqtt_sub_entry e;
        uint32_t pos = 0;
        while (mqtt_sub_next(p, version, &pos, &e))
            FUZZ_CHECK(e.qos <= 2 && e.retain_handling <= 2);
    }
    check_reencode_raw(p, version, wire, n);
    check_reencode_fields(p, version);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t start_versions[4] = {0, MQTT_V31, MQTT_V311, MQTT_V5};
    if (size == 0)
        return 0;
    uint8_t version = start_versions[data[0] & 3];
    /* Derive a property drop mask from the input so it varies. */
    uint64_t drop = (uint64_t)data[0] * 0x9E3779B97F4A7C15ull;
    data++;
    size--;
    FUZZ_CHECK(mqtt_utf8_valid(data, size) == ref_utf8(data, size));

    while (size > 0) {
        mqtt_packet p;
        size_t used = 0, hl = 0;
        uint32_t rem = 0;
        moat_err fe = mqtt_frame(data, size, &hl, &rem);
        moat_err e = mqtt_decode(data, size, version, &p, &used);
        if (fe != MOAT_OK)
            FUZZ_CHECK(e == fe);
        else if (size - hl < rem)
            FUZZ_CHECK(e == MOAT_ENEEDMORE);
        if (e == MOAT_EVERSION)
            FUZZ_CHECK(p.type == MQTT_CONNECT);
        if (e != MOAT_OK)
            break;
        FUZZ_CHECK(fe == MOAT_OK && used == hl + rem && used <= size);
        if (p.type == MQTT_CONNECT)
            version = p.u.connect.protocol_version;
        check_packet(&p, version, data, used, drop);
        data += used;
        size -= used;
        drop = drop << 7 | drop >> 57;
    }
    return 0;
}
