/* SPDX-License-Identifier: Apache-2.0 */
/* The MQTT codec: pure functions over byte buffers for MQTT 3.1 (protocol
 * level 3), 3.1.1 (4) and 5.0 (5). No I/O, no globals, no broker state.
 *
 * Decoding is zero-copy: every mqtt_bin in a decoded packet points into the
 * caller's input buffer and is valid only while that buffer is unchanged.
 *
 * Decoding validates everything the specifications require of a single packet
 * in isolation: fixed-header flags, remaining length form, UTF-8 strings
 * (well-formed, no U+0000, no surrogates), property identifiers allowed for the
 * packet type and not duplicated (except user property / subscription id),
 * property value ranges, QoS 3, packet identifier 0 with QoS > 0, empty
 * SUBSCRIBE/UNSUBSCRIBE, reserved bits, trailing bytes. It does NOT validate
 * topic names/filters semantics (mqtt/topic.h does) nor session state. */
#ifndef MOAT_MQTT_CODEC_H
#define MOAT_MQTT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

enum mqtt_packet_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15,
};

/* Protocol levels as they appear in CONNECT. */
enum { MQTT_V31 = 3, MQTT_V311 = 4, MQTT_V5 = 5 };

/* MQTT 5 reason codes (also used internally for v3 mapping). */
enum mqtt_reason {
    MQTT_RC_SUCCESS = 0x00, /* also normal disconnection, granted QoS 0 */
    MQTT_RC_GRANTED_QOS1 = 0x01,
    MQTT_RC_GRANTED_QOS2 = 0x02,
    MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
    MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    MQTT_RC_CONTINUE_AUTH = 0x18,
    MQTT_RC_REAUTHENTICATE = 0x19,
    MQTT_RC_UNSPECIFIED = 0x80,
    MQTT_RC_MALFORMED = 0x81,
    MQTT_RC_PROTOCOL_ERROR = 0x82,
    MQTT_RC_IMPL_SPECIFIC = 0x83,
    MQTT_RC_UNSUPPORTED_VERSION = 0x84,
    MQTT_RC_CLIENT_ID_INVALID = 0x85,
    MQTT_RC_BAD_USER_OR_PASSWORD = 0x86,
    MQTT_RC_NOT_AUTHORIZED = 0x87,
    MQTT_RC_SERVER_UNAVAILABLE = 0x88,
    MQTT_RC_SERVER_BUSY = 0x89,
    MQTT_RC_BANNED = 0x8A,
    MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
    MQTT_RC_BAD_AUTH_METHOD = 0x8C,
    MQTT_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
    MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
    MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
    MQTT_RC_TOPIC_NAME_INVALID = 0x90,
    MQTT_RC_PACKET_ID_IN_USE = 0x91,
    MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
    MQTT_RC_RECEIVE_MAX_EXCEEDED = 0x93,
    MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
    MQTT_RC_PACKET_TOO_LARGE = 0x95,
    MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
    MQTT_RC_QUOTA_EXCEEDED = 0x97,
    MQTT_RC_ADMIN_ACTION = 0x98,
    MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
    MQTT_RC_USE_ANOTHER_SERVER = 0x9C,
    MQTT_RC_SERVER_MOVED = 0x9D,
    MQTT_RC_SHARED_SUB_NOT_SUPPORTED = 0x9E,
    MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
    MQTT_RC_MAX_CONNECT_TIME = 0xA0,
    MQTT_RC_SUB_IDS_NOT_SUPPORTED = 0xA1,
    MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED = 0xA2,
};

/* MQTT 5 property identifiers. */
enum mqtt_prop_id {
    MQTT_PROP_PAYLOAD_FORMAT = 0x01,
    MQTT_PROP_MESSAGE_EXPIRY = 0x02,
    MQTT_PROP_CONTENT_TYPE = 0x03,
    MQTT_PROP_RESPONSE_TOPIC = 0x08,
    MQTT_PROP_CORRELATION_DATA = 0x09,
    MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
    MQTT_PROP_SESSION_EXPIRY = 0x11,
    MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
    MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
    MQTT_PROP_AUTH_METHOD = 0x15,
    MQTT_PROP_AUTH_DATA = 0x16,
    MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
    MQTT_PROP_WILL_DELAY = 0x18,
    MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
    MQTT_PROP_RESPONSE_INFO = 0x1A,
    MQTT_PROP_SERVER_REFERENCE = 0x1C,
    MQTT_PROP_REASON_STRING = 0x1F,
    MQTT_PROP_RECEIVE_MAX = 0x21,
    MQTT_PROP_TOPIC_ALIAS_MAX = 0x22,
    MQTT_PROP_TOPIC_ALIAS = 0x23,
    MQTT_PROP_MAX_QOS = 0x24,
    MQTT_PROP_RETAIN_AVAILABLE = 0x25,
    MQTT_PROP_USER_PROPERTY = 0x26,
    MQTT_PROP_MAX_PACKET_SIZE = 0x27,
    MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
    MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

/* Bit for property id in mqtt_props.has: (1ull << id). Ids are < 64. */
#define MQTT_HAS(id) (1ull << (id))

/* A length-delimited byte string (UTF-8 string or binary data). Not NUL
 * terminated. Points into the decode input, or into caller memory for
 * encoding. */
typedef struct mqtt_bin {
    const uint8_t *p;
    uint32_t len;
} mqtt_bin;

typedef struct mqtt_props {
    uint64_t has; /* MQTT_HAS(id) for each property present (except user props) */
    uint8_t payload_format;
    uint8_t request_problem_info;
    uint8_t request_response_info;
    uint8_t max_qos;
    uint8_t retain_available;
    uint8_t wildcard_sub_available;
    uint8_t sub_id_available;
    uint8_t shared_sub_available;
    uint16_t server_keep_alive;
    uint16_t receive_max;
    uint16_t topic_alias_max;
    uint16_t topic_alias;
    uint32_t message_expiry;
    uint32_t session_expiry;
    uint32_t will_delay;
    uint32_t max_packet_size;
    uint32_t sub_id; /* decode: the (single) subscription identifier of a SUBSCRIBE */
    mqtt_bin content_type;
    mqtt_bin response_topic;
    mqtt_bin correlation_data;
    mqtt_bin assigned_client_id;
    mqtt_bin auth_method;
    mqtt_bin auth_data;
    mqtt_bin response_info;
    mqtt_bin server_reference;
    mqtt_bin reason_string;
    uint32_t n_user; /* number of user properties */
    /* Decode: the whole property block as received (without its length
     * prefix), for mqtt_props_next() and mqtt_props_copy_filtered().
     * Encode: pre-encoded properties appended verbatim after the ones set
     * above (e.g. forwarded user properties, content type ...). */
    const uint8_t *raw;
    uint32_t raw_len;
    /* Encode only (PUBLISH to a client): several subscription identifiers. */
    const uint32_t *sub_ids;
    uint32_t n_sub_ids;
} mqtt_props;

/* One SUBSCRIBE entry. */
typedef struct mqtt_sub_entry {
    mqtt_bin filter;
    uint8_t qos;              /* 0..2 */
    bool no_local;            /* v5 */
    bool retain_as_published; /* v5 */
    uint8_t retain_handling;  /* v5: 0..2 */
} mqtt_sub_entry;

typedef struct mqtt_packet {
    uint8_t type;     /* enum mqtt_packet_type */
    uint8_t flags;    /* low 4 bits of the fixed header */
    mqtt_props props; /* v5 only; zeroed otherwise */
    union {
        struct {
            mqtt_bin protocol_name;
            uint8_t protocol_version; /* 3, 4 or 5 */
            bool clean_start;
            uint16_t keep_alive;
            mqtt_bin client_id;
            bool will;
            uint8_t will_qos;
            bool will_retain;
            mqtt_props will_props;
            mqtt_bin will_topic;
            mqtt_bin will_payload;
            bool has_username;
            mqtt_bin username;
            bool has_password;
            mqtt_bin password;
        } connect;
        struct {
            bool session_present;
            uint8_t reason; /* v5 reason code; v3 return code 0..5 */
        } connack;
        struct {
            mqtt_bin topic;     /* may be empty in v5 when a topic alias is used */
            uint16_t packet_id; /* 0 for QoS 0 */
            uint8_t qos;
            bool dup;
            bool retain;
            mqtt_bin payload;
        } publish;
        struct { /* PUBACK, PUBREC, PUBREL, PUBCOMP */
            uint16_t packet_id;
            uint8_t reason;
        } ack;
        struct { /* SUBSCRIBE, UNSUBSCRIBE */
            uint16_t packet_id;
            uint32_t count; /* number of entries, >= 1 */
            /* Decode: the payload; iterate with mqtt_sub_next/mqtt_unsub_next.
             * Encode: entries/filters below are used instead. */
            const uint8_t *raw;
            uint32_t raw_len;
            const mqtt_sub_entry *entries; /* encode SUBSCRIBE */
            const mqtt_bin *filters;       /* encode UNSUBSCRIBE */
        } sub;
        struct { /* SUBACK, UNSUBACK */
            uint16_t packet_id;
            uint32_t count;
            const uint8_t *reasons; /* count reason codes (v3 UNSUBACK: count 0) */
        } suback;
        struct { /* DISCONNECT, AUTH */
            uint8_t reason;
        } disconnect;
    } u;
} mqtt_packet;

/* Look at the fixed header only. On MOAT_OK: *header_len is 2..5 and
 * *remaining is the remaining length; the whole packet is header_len+remaining
 * bytes. MOAT_ENEEDMORE if the fixed header is incomplete; MOAT_EMALFORMED if
 * the remaining length uses more than 4 bytes or a non-minimal form is
 * impossible to finish. */
moat_err mqtt_frame(const uint8_t *buf, size_t len, size_t *header_len, uint32_t *remaining);

/* Decode one whole packet from buf. version: the protocol level negotiated on
 * this connection (ignored for CONNECT, whose own level is used; pass 0 before
 * CONNECT). On MOAT_OK *consumed is the packet's full size and *out is filled.
 * Errors: MOAT_ENEEDMORE (buf holds less than one packet), MOAT_EMALFORMED,
 * MOAT_EPROTOCOL, MOAT_EVERSION (CONNECT with unknown name/level; out->u.connect
 * .protocol_version is set so the caller can answer in the right form). */
moat_err mqtt_decode(const uint8_t *buf, size_t len, uint8_t version, mqtt_packet *out,
                     size_t *consumed);

/* Iterate SUBSCRIBE entries: *pos starts at 0. Returns true and fills *e while
 * entries remain. Input was validated by mqtt_decode. */
bool mqtt_sub_next(const mqtt_packet *p, uint8_t version, uint32_t *pos, mqtt_sub_entry *e);
/* Iterate UNSUBSCRIBE filters. */
bool mqtt_unsub_next(const mqtt_packet *p, uint32_t *pos, mqtt_bin *filter);

/* Iterate user properties of a decoded property block: *pos starts at 0. */
bool mqtt_props_next_user(const mqtt_props *pr, uint32_t *pos, mqtt_bin *key, mqtt_bin *val);

/* Append to out the wire encoding (no length prefix) of every property of
 * the decoded block raw/raw_len whose id is NOT in drop_mask (MQTT_HAS bits).
 * Used to forward a PUBLISH's or a will's properties. */
moat_err mqtt_props_copy_filtered(const uint8_t *raw, uint32_t raw_len, uint64_t drop_mask,
                                  moat_buf *out);

/* Encode one packet and append it to out. version selects the wire form
 * (properties and reason codes only in v5; v3 CONNACK uses the return code in
 * connack.reason as given). On success *written (if not NULL) is the number of
 * bytes appended. On error nothing is appended. */
moat_err mqtt_encode(const mqtt_packet *p, uint8_t version, moat_buf *out, size_t *written);

/* UTF-8 check per MQTT: well-formed, no U+0000, no surrogates (U+D800..DFFF).
 * Returns true when valid. */
bool mqtt_utf8_valid(const uint8_t *s, size_t len);

/* Name of a packet type ("PUBLISH"), for logs. */
const char *mqtt_packet_name(uint8_t type);

#endif
