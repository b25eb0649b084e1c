/* SPDX-License-Identifier: Apache-2.0 */
/* WebSocket (RFC 6455) as pure functions over buffers: the opening handshake
 * checked against a listener's rules, frames decoded in place, frame headers
 * encoded. The ws transport (ws_transport.c) does the I/O around them.
 *
 * MQTT over WebSocket (MQTT 5.0 section 6): packets travel in binary frames,
 * may span frames and several may share one; a text frame closes the
 * connection. */
#ifndef MOAT_WS_H
#define MOAT_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/http.h"

enum {
    MOAT_WS_OP_CONT = 0x0,
    MOAT_WS_OP_TEXT = 0x1,
    MOAT_WS_OP_BINARY = 0x2,
    MOAT_WS_OP_CLOSE = 0x8,
    MOAT_WS_OP_PING = 0x9,
    MOAT_WS_OP_PONG = 0xA,
};

/* Close status codes we send. */
enum {
    MOAT_WS_CLOSE_NORMAL = 1000,
    MOAT_WS_CLOSE_GOING_AWAY = 1001,
    MOAT_WS_CLOSE_PROTOCOL = 1002,
    MOAT_WS_CLOSE_UNSUPPORTED = 1003, /* text frame */
    MOAT_WS_CLOSE_NO_STATUS = 1005,   /* never sent: a close frame without a code */
    MOAT_WS_CLOSE_BAD_DATA = 1007,    /* close reason not UTF-8 */
    MOAT_WS_CLOSE_POLICY = 1008,
    MOAT_WS_CLOSE_TOO_BIG = 1009, /* frame over max_frame_size */
    MOAT_WS_CLOSE_INTERNAL = 1011,
};

#define MOAT_WS_MAX_CONTROL 125

/* ------------------------------------------------------------ handshake */

typedef struct moat_ws_upgrade_conf {
    const char *path;                   /* "/mqtt": the request path must equal it; NULL: any */
    bool fail_if_no_subprotocol;        /* refuse a client that offers no MQTT subprotocol */
    bool check_origin;                  /* refuse an Origin not in allowed_origins */
    bool allow_origin_absent;           /* with check_origin: accept a request without Origin */
    const char *const *allowed_origins; /* exact, case-insensitive ("https://a.example:8443") */
    size_t n_allowed_origins;
} moat_ws_upgrade_conf;

typedef struct moat_ws_upgrade {
    int status;              /* 101 when accepted; else 400, 403, 404, 405, 426 ... */
    const char *why;         /* refused: short static text for the log */
    char accept[32];         /* Sec-WebSocket-Accept value, NUL-terminated */
    const char *subprotocol; /* chosen ("mqtt", "mqttv3.1", ...; static) or NULL */
} moat_ws_upgrade;

/* Check a parsed request against RFC 6455 section 4.2.1 and conf: GET,
 * HTTP/1.1, Host present, Upgrade: websocket, Connection: upgrade,
 * Sec-WebSocket-Version: 13 (else 426 with the version we speak), a
 * Sec-WebSocket-Key that is base64 of 16 bytes, the path, the origin, and the
 * subprotocol: among those the client offers (every Sec-WebSocket-Protocol
 * header, compared exactly), the first in our order of preference: mqtt,
 * mqttv3.1, mqtt-v3, mqtt-v3.1.1, mqtt-v5.
 * Checked in that order; the first failure decides: 405 not GET; 400 not
 * HTTP/1.1, no Host, Upgrade without "websocket" (also when Upgrade is
 * absent: 426 is kept for a version the client could retry with),
 * Connection without "upgrade"; 426 version; 400 key; 404 path; 403 origin;
 * 400 no MQTT subprotocol when fail_if_no_subprotocol.
 * MOAT_OK with out->status 101, or MOAT_EPROTOCOL with status and why. */
moat_err moat_ws_check_upgrade(const moat_http_request *req, const moat_ws_upgrade_conf *conf,
                               moat_ws_upgrade *out);

/* Append the HTTP response for out: "101 Switching Protocols" with Upgrade,
 * Connection, Sec-WebSocket-Accept and (when chosen) Sec-WebSocket-Protocol;
 * or the refusal with its status, "Connection: close", a short text body
 * naming why, "Allow: GET" for 405, and for 426 "Upgrade: websocket" and
 * "Sec-WebSocket-Version: 13". */
moat_err moat_ws_upgrade_response(const moat_ws_upgrade *u, moat_buf *out);

/* base64(SHA-1(key || 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)) into out (NUL-terminated). */
moat_err moat_ws_accept_key(const char *key, size_t key_len, char out[32]);

/* -------------------------------------------------------------- frames */

typedef struct moat_ws_decoder {
    /* settings */
    uint64_t max_frame; /* largest data frame payload accepted; 0 = no limit */
    bool require_mask;  /* server side: client frames must be masked */
    /* state (zero-initialise the whole struct, then set the settings) */
    uint8_t hdr[14];
    uint8_t hdr_len;
    uint8_t opcode; /* of the frame being read */
    bool fin;
    bool masked;
    bool in_message; /* a fragmented binary message is open */
    uint8_t mask[4];
    uint8_t mask_off;
    uint64_t remaining; /* payload bytes of the current frame still to come */
    uint8_t ctrl[MOAT_WS_MAX_CONTROL];
    uint8_t ctrl_len;
} moat_ws_decoder;

typedef enum moat_ws_event_type {
    MOAT_WS_EV_NONE = 0, /* input exhausted */
    MOAT_WS_EV_PING,     /* data/len: the payload to echo in a pong */
    MOAT_WS_EV_PONG,
    MOAT_WS_EV_CLOSE, /* close_code: the peer's (1005 when it sent none); data/len: reason */
    MOAT_WS_EV_ERROR, /* close_code: the code to send; why: text for the log */
} moat_ws_event_type;

typedef struct moat_ws_event {
    moat_ws_event_type type;
    const uint8_t *data; /* inside the decoder; valid until the next call */
    size_t len;
    uint16_t close_code;
    const char *why; /* static */
} moat_ws_event;

/* Decode frames in place. Input is buf[*in_pos .. len). The unmasked payload
 * of binary and continuation frames is written at buf[*out_len] onward and
 * *out_len advanced; *out_len <= *in_pos holds throughout, so the output
 * never overtakes unread input. Returns when the input is exhausted
 * (MOAT_WS_EV_NONE), after a control frame completed (PING, PONG, CLOSE: call
 * again for the rest), or on a protocol error (ERROR; stop reading and send a
 * close frame with close_code). Errors: reserved bits set (1002), unknown
 * opcode (1002), unmasked frame when require_mask (1002), control frame
 * fragmented or longer than 125 (1002), continuation with no message open or
 * a new data frame inside one (1002), 64-bit length with the top bit set
 * (1002), text frame (1003), payload over max_frame (1009), close payload of
 * one byte or with an invalid code (1002), close reason not UTF-8 (1007).
 * Each error is found at a fixed byte of the stream (header checks as soon
 * as their bytes arrive), so events and output do not depend on how the
 * input is split.
 * After ERROR or CLOSE the decoder is finished: every later call returns
 * ERROR without reading (the same code and why after an ERROR; 1002 after a
 * CLOSE, as nothing may follow a close frame). */
void moat_ws_decode(moat_ws_decoder *d, uint8_t *buf, size_t len, size_t *in_pos, size_t *out_len,
                    moat_ws_event *ev);

/* Write a frame header for a payload of len bytes into out; returns its size
 * (2 to 14). mask NULL: unmasked (server to client); else the 4-byte key is
 * included (client to server; the caller masks the payload). */
size_t moat_ws_frame_header(uint8_t out[14], uint8_t opcode, bool fin, uint64_t len,
                            const uint8_t *mask);

/* XOR p with mask, starting at key offset off (0..3). */
void moat_ws_mask(uint8_t *p, size_t len, const uint8_t mask[4], size_t off);

/* Codes a peer may send in a close frame (RFC 6455 7.4): 1000-1003,
 * 1007-1011 (1012-1014 as registered since), 3000-4999. */
bool moat_ws_close_code_valid(uint16_t code);

/* Append a whole close frame (code and reason, unmasked) to out. The reason
 * is cut to fit 125 bytes at a UTF-8 character boundary; code 0 or 1005
 * gives a close frame without payload. */
moat_err moat_ws_close_frame(moat_buf *out, uint16_t code, const char *reason);

#endif
