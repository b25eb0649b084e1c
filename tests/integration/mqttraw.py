# SPDX-License-Identifier: Apache-2.0
"""A tiny raw MQTT 3.1 / 3.1.1 / 5.0 packet encoder/decoder and a blocking
socket client for byte-level integration tests.

Written from the specifications (MQTT 3.1.1 OASIS Standard, MQTT 5.0 OASIS
Standard), independent of any broker implementation. The encoder can build
deliberately wrong packets (wrong flags, bad lengths, raw property bytes) so
tests can check how the server handles them. The decoder is strict: a packet
the server sends that does not follow the specification raises
MalformedFromServer, so every test also checks what the server emits.
"""

import select
import socket
import ssl
import struct
import time

# Packet types
CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14
AUTH = 15

TYPE_NAMES = {
    CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK",
    PUBREC: "PUBREC", PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE",
    SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK",
    PINGREQ: "PINGREQ", PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT", AUTH: "AUTH",
}

# MQTT 5 reason codes used by the tests
RC_SUCCESS = 0x00
RC_GRANTED_QOS1 = 0x01
RC_GRANTED_QOS2 = 0x02
RC_DISCONNECT_WITH_WILL = 0x04
RC_NO_MATCHING_SUBSCRIBERS = 0x10
RC_NO_SUBSCRIPTION_EXISTED = 0x11
RC_UNSPECIFIED = 0x80
RC_MALFORMED = 0x81
RC_PROTOCOL_ERROR = 0x82
RC_IMPL_SPECIFIC = 0x83
RC_UNSUPPORTED_VERSION = 0x84
RC_CLIENT_ID_INVALID = 0x85
RC_BAD_USER_PASS = 0x86
RC_NOT_AUTHORIZED = 0x87
RC_SERVER_UNAVAILABLE = 0x88
RC_SERVER_BUSY = 0x89
RC_KEEP_ALIVE_TIMEOUT = 0x8D
RC_SESSION_TAKEN_OVER = 0x8E
RC_TOPIC_FILTER_INVALID = 0x8F
RC_TOPIC_NAME_INVALID = 0x90
RC_RECEIVE_MAX_EXCEEDED = 0x93
RC_TOPIC_ALIAS_INVALID = 0x94
RC_PACKET_TOO_LARGE = 0x95
RC_QUOTA_EXCEEDED = 0x97
RC_PAYLOAD_FORMAT_INVALID = 0x99
RC_RETAIN_NOT_SUPPORTED = 0x9A
RC_QOS_NOT_SUPPORTED = 0x9B
RC_SHARED_NOT_SUPPORTED = 0x9E
RC_CONNECTION_RATE_EXCEEDED = 0x9F
RC_SUB_ID_NOT_SUPPORTED = 0xA1
RC_WILDCARD_NOT_SUPPORTED = 0xA2

# v3.1 / v3.1.1 CONNACK return codes
V3_ACCEPTED = 0
V3_BAD_PROTOCOL = 1
V3_ID_REJECTED = 2
V3_SERVER_UNAVAILABLE = 3
V3_BAD_USER_PASS = 4
V3_NOT_AUTHORIZED = 5

# ---------------------------------------------------------------- properties

# id -> (name, type); types: byte, int2, int4, varint, str, bin, pair
PROPERTIES = {
    0x01: ("payload_format_indicator", "byte"),
    0x02: ("message_expiry_interval", "int4"),
    0x03: ("content_type", "str"),
    0x08: ("response_topic", "str"),
    0x09: ("correlation_data", "bin"),
    0x0B: ("subscription_identifier", "varint"),
    0x11: ("session_expiry_interval", "int4"),
    0x12: ("assigned_client_identifier", "str"),
    0x13: ("server_keep_alive", "int2"),
    0x15: ("authentication_method", "str"),
    0x16: ("authentication_data", "bin"),
    0x17: ("request_problem_information", "byte"),
    0x18: ("will_delay_interval", "int4"),
    0x19: ("request_response_information", "byte"),
    0x1A: ("response_information", "str"),
    0x1C: ("server_reference", "str"),
    0x1F: ("reason_string", "str"),
    0x21: ("receive_maximum", "int2"),
    0x22: ("topic_alias_maximum", "int2"),
    0x23: ("topic_alias", "int2"),
    0x24: ("maximum_qos", "byte"),
    0x25: ("retain_available", "byte"),
    0x26: ("user_property", "pair"),
    0x27: ("maximum_packet_size", "int4"),
    0x28: ("wildcard_subscription_available", "byte"),
    0x29: ("subscription_identifier_available", "byte"),
    0x2A: ("shared_subscription_available", "byte"),
}
PROP_IDS = {name: (pid, typ) for pid, (name, typ) in PROPERTIES.items()}
MULTI_PROPS = ("user_property", "subscription_identifier")

# Which properties each packet may carry (MQTT 5 table 2.4), to check the server.
_ALLOWED = {
    CONNACK: {"session_expiry_interval", "assigned_client_identifier", "server_keep_alive",
              "authentication_method", "authentication_data", "response_information",
              "server_reference", "reason_string", "receive_maximum", "topic_alias_maximum",
              "maximum_qos", "retain_available", "user_property", "maximum_packet_size",
              "wildcard_subscription_available", "subscription_identifier_available",
              "shared_subscription_available"},
    PUBLISH: {"payload_format_indicator", "message_expiry_interval", "content_type",
              "response_topic", "correlation_data", "subscription_identifier", "topic_alias",
              "user_property"},
    PUBACK: {"reason_string", "user_property"},
    PUBREC: {"reason_string", "user_property"},
    PUBREL: {"reason_string", "user_property"},
    PUBCOMP: {"reason_string", "user_property"},
    SUBACK: {"reason_string", "user_property"},
    UNSUBACK: {"reason_string", "user_property"},
    DISCONNECT: {"session_expiry_interval", "server_reference", "reason_string",
                 "user_property"},
    AUTH: {"authentication_method", "authentication_data", "reason_string", "user_property"},
}


class MalformedFromServer(AssertionError):
    """The server sent bytes that are not a valid MQTT packet."""


class Closed(Exception):
    """The server closed the connection."""


def enc_varint(n):
    if n < 0 or n > 268435455:
        raise ValueError("varint out of range: %d" % n)
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def enc_str(s):
    if isinstance(s, str):
        s = s.encode("utf-8")
    return struct.pack("!H", len(s)) + s


enc_bin = enc_str


def enc_props(props):
    """props: None, bytes (used verbatim, without the length prefix), a dict
    name -> value (user_property: list of (k, v); subscription_identifier: int
    or list), or a list of (name, value) pairs (order kept, duplicates kept)."""
    if props is None:
        return enc_varint(0)
    if isinstance(props, (bytes, bytearray)):
        return enc_varint(len(props)) + bytes(props)
    items = []
    if isinstance(props, dict):
        for name, value in props.items():
            if name in MULTI_PROPS and isinstance(value, (list, tuple)) and not (
                    name == "user_property" and len(value) == 2 and isinstance(value[0], str)):
                items.extend((name, v) for v in value)
            else:
                items.append((name, value))
    else:
        items = list(props)
    out = bytearray()
    for name, value in items:
        pid, typ = PROP_IDS[name]
        out += enc_varint(pid)
        if typ == "byte":
            out += struct.pack("!B", value)
        elif typ == "int2":
            out += struct.pack("!H", value)
        elif typ == "int4":
            out += struct.pack("!I", value)
        elif typ == "varint":
            out += enc_varint(value)
        elif typ == "str":
            out += enc_str(value)
        elif typ == "bin":
            out += enc_bin(value)
        elif typ == "pair":
            out += enc_str(value[0]) + enc_str(value[1])
    return enc_varint(len(out)) + bytes(out)


def fixed(ptype, flags, body, remaining_length=None):
    rl = len(body) if remaining_length is None else remaining_length
    return bytes([(ptype << 4) | (flags & 0x0F)]) + enc_varint(rl) + bytes(body)


# ---------------------------------------------------------------- encoders

def connect(client_id="", version=4, clean=True, keepalive=60, username=None, password=None,
            will=None, props=None, proto_name=None, proto_level=None, flags_override=None,
            reserved_flag=False, header_flags=0):
    """will: dict(topic=, payload=, qos=0, retain=False, props=None (v5))."""
    if proto_name is None:
        proto_name = "MQIsdp" if version == 3 else "MQTT"
    if proto_level is None:
        proto_level = version
    flags = 0
    if clean:
        flags |= 0x02
    if will is not None:
        flags |= 0x04 | ((will.get("qos", 0) & 3) << 3)
        if will.get("retain"):
            flags |= 0x20
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    if reserved_flag:
        flags |= 0x01
    if flags_override is not None:
        flags = flags_override
    body = bytearray(enc_str(proto_name))
    body += bytes([proto_level, flags]) + struct.pack("!H", keepalive)
    if version == 5:
        body += enc_props(props)
    body += enc_str(client_id)
    if will is not None:
        if version == 5:
            body += enc_props(will.get("props"))
        body += enc_str(will["topic"])
        body += enc_bin(will.get("payload", b""))
    if username is not None:
        body += enc_str(username)
    if password is not None:
        body += enc_bin(password)
    return fixed(CONNECT, header_flags, body)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, pid=None, props=None,
            version=4):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    flags = (0x08 if dup else 0) | ((qos & 3) << 1) | (0x01 if retain else 0)
    body = bytearray(enc_str(topic))
    if qos > 0:
        body += struct.pack("!H", pid if pid is not None else 1)
    if version == 5:
        body += enc_props(props)
    body += payload
    return fixed(PUBLISH, flags, body)


def _ack(ptype, flags, pid, rc=None, props=None, version=4):
    body = bytearray(struct.pack("!H", pid))
    if version == 5 and (rc is not None or props is not None):
        body.append(rc or 0)
        if props is not None:
            body += enc_props(props)
    return fixed(ptype, flags, body)


def puback(pid, rc=None, props=None, version=4):
    return _ack(PUBACK, 0, pid, rc, props, version)


def pubrec(pid, rc=None, props=None, version=4):
    return _ack(PUBREC, 0, pid, rc, props, version)


def pubrel(pid, rc=None, props=None, version=4, flags=0x02):
    return _ack(PUBREL, flags, pid, rc, props, version)


def pubcomp(pid, rc=None, props=None, version=4):
    return _ack(PUBCOMP, 0, pid, rc, props, version)


def sub_options(qos=0, no_local=False, rap=False, retain_handling=0):
    return (qos & 3) | (0x04 if no_local else 0) | (0x08 if rap else 0) | (
        (retain_handling & 3) << 4)


def subscribe(pid, topics, props=None, version=4, flags=0x02):
    """topics: list of (filter, options_byte) or filter strings (QoS 0)."""
    body = bytearray(struct.pack("!H", pid))
    if version == 5:
        body += enc_props(props)
    for t in topics:
        if isinstance(t, str):
            t = (t, 0)
        body += enc_str(t[0]) + bytes([t[1]])
    return fixed(SUBSCRIBE, flags, body)


def unsubscribe(pid, filters, props=None, version=4, flags=0x02):
    body = bytearray(struct.pack("!H", pid))
    if version == 5:
        body += enc_props(props)
    for f in filters:
        body += enc_str(f)
    return fixed(UNSUBSCRIBE, flags, body)


def pingreq():
    return bytes([0xC0, 0x00])


def disconnect(rc=None, props=None, version=4):
    if version == 5 and (rc is not None or props is not None):
        body = bytes([rc or 0])
        if props is not None:
            body += enc_props(props)
        return fixed(DISCONNECT, 0, body)
    return bytes([0xE0, 0x00])


# ---------------------------------------------------------------- decoder

class Packet:
    def __init__(self, ptype, flags, body):
        self.type = ptype
        self.flags = flags
        self.body = body
        self.props = {}
        self.rc = None
        self.pid = None

    @property
    def name(self):
        return TYPE_NAMES.get(self.type, "type%d" % self.type)

    def __repr__(self):
        fields = {k: v for k, v in self.__dict__.items() if k not in ("body", "flags", "type")
                  and v not in (None, {}, b"")}
        if "payload" in fields and len(fields["payload"]) > 64:
            fields["payload"] = fields["payload"][:64] + b"..."
        return "<%s %s>" % (self.name, fields)


class _Reader:
    def __init__(self, data, what):
        self.d = data
        self.i = 0
        self.what = what

    def need(self, n):
        if self.i + n > len(self.d):
            raise MalformedFromServer("%s: truncated (need %d bytes at %d of %d)" % (
                self.what, n, self.i, len(self.d)))

    def byte(self):
        self.need(1)
        self.i += 1
        return self.d[self.i - 1]

    def int2(self):
        self.need(2)
        self.i += 2
        return struct.unpack_from("!H", self.d, self.i - 2)[0]

    def int4(self):
        self.need(4)
        self.i += 4
        return struct.unpack_from("!I", self.d, self.i - 4)[0]

    def varint(self):
        mult, val = 1, 0
        for n in range(4):
            b = self.byte()
            val += (b & 0x7F) * mult
            if not b & 0x80:
                if n > 0 and b == 0:
                    raise MalformedFromServer("%s: non-minimal variable byte integer" % self.what)
                return val
            mult *= 128
        raise MalformedFromServer("%s: variable byte integer longer than 4 bytes" % self.what)

    def bin(self):
        n = self.int2()
        self.need(n)
        self.i += n
        return bytes(self.d[self.i - n:self.i])

    def str(self):
        raw = self.bin()
        try:
            s = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedFromServer("%s: string is not valid UTF-8: %r" % (self.what, raw))
        if "\x00" in s:
            raise MalformedFromServer("%s: string contains U+0000" % self.what)
        return s

    def rest(self):
        r = bytes(self.d[self.i:])
        self.i = len(self.d)
        return r

    def left(self):
        return len(self.d) - self.i

    def props(self, ptype):
        n = self.varint()
        self.need(n)
        end = self.i + n
        out = {}
        while self.i < end:
            pid = self.varint()
            if pid not in PROPERTIES:
                raise MalformedFromServer("%s: unknown property id 0x%02x" % (self.what, pid))
            name, typ = PROPERTIES[pid]
            if name not in _ALLOWED.get(ptype, ()):
                raise MalformedFromServer("%s: property %s not allowed in this packet" % (
                    self.what, name))
            val = {"byte": self.byte, "int2": self.int2, "int4": self.int4,
                   "varint": self.varint, "str": self.str, "bin": self.bin,
                   "pair": lambda: (self.str(), self.str())}[typ]()
            if name in MULTI_PROPS:
                out.setdefault(name, []).append(val)
            elif name in out:
                raise MalformedFromServer("%s: property %s included twice" % (self.what, name))
            else:
                out[name] = val
        if self.i != end:
            raise MalformedFromServer("%s: property length mismatch" % self.what)
        return out


# Reason codes each packet may carry from a server (MQTT 5 section 2.4 and each
# packet's reason code table); v3 codes for CONNACK/SUBACK.
_V5_CODES = {
    CONNACK: {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A,
              0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F},
    PUBACK: {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
    PUBREC: {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
    PUBREL: {0x00, 0x92},
    PUBCOMP: {0x00, 0x92},
    SUBACK: {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2},
    UNSUBACK: {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91},
    DISCONNECT: {0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90,
                 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E,
                 0x9F, 0xA0, 0xA1, 0xA2},
    AUTH: {0x00, 0x18, 0x19},
}
_V3_CODES = {CONNACK: {0, 1, 2, 3, 4, 5}, SUBACK: {0, 1, 2, 0x80}}


def _check_codes(p, version):
    if version == 5:
        allowed = _V5_CODES.get(p.type)
        codes = getattr(p, "codes", None) or ([p.rc] if p.rc is not None else [])
    else:
        allowed = _V3_CODES.get(p.type)
        codes = getattr(p, "codes", None) or ([p.rc] if p.rc is not None else [])
    if allowed is None:
        return
    bad = [c for c in codes if c not in allowed]
    if bad:
        raise MalformedFromServer("%s with reason code(s) %s not allowed for it" % (
            p.name, ", ".join("0x%02x" % c for c in bad)))


_EXPECTED_FLAGS = {CONNACK: 0, PUBACK: 0, PUBREC: 0, PUBREL: 2, PUBCOMP: 0, SUBACK: 0,
                   UNSUBACK: 0, PINGRESP: 0, DISCONNECT: 0, AUTH: 0}


def decode(ptype, flags, body, version):
    """Decode one server->client packet body."""
    p = Packet(ptype, flags, body)
    r = _Reader(body, TYPE_NAMES.get(ptype, "type%d" % ptype))
    if ptype in (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ) or ptype == 0:
        raise MalformedFromServer("server sent a %s packet" % p.name)
    if ptype != PUBLISH and flags != _EXPECTED_FLAGS[ptype]:
        raise MalformedFromServer("%s with fixed header flags %x" % (p.name, flags))
    if ptype == CONNACK:
        ack_flags = r.byte()
        if version != 3 and ack_flags & 0xFE:
            raise MalformedFromServer("CONNACK reserved flags set: %x" % ack_flags)
        p.session_present = bool(ack_flags & 1)
        p.rc = r.byte()
        if version == 5:
            p.props = r.props(ptype)
        if p.rc != 0 and p.session_present:
            raise MalformedFromServer("CONNACK refusal with Session Present 1 "
                                      "[MQTT-3.2.2-4/6]")
    elif ptype == PUBLISH:
        p.qos = (flags >> 1) & 3
        p.dup = bool(flags & 8)
        p.retain = bool(flags & 1)
        if p.qos == 3:
            raise MalformedFromServer("PUBLISH with QoS 3")
        if p.qos == 0 and p.dup:
            raise MalformedFromServer("QoS 0 PUBLISH with DUP set [MQTT-3.3.1-2]")
        p.topic = r.str()
        if p.qos:
            p.pid = r.int2()
            if p.pid == 0:
                raise MalformedFromServer("PUBLISH with packet id 0")
        if version == 5:
            p.props = r.props(ptype)
        if version != 5 and not p.topic:
            raise MalformedFromServer("PUBLISH with empty topic")
        for ch in "+#":
            if ch in p.topic:
                raise MalformedFromServer("PUBLISH topic with wildcard: %r" % p.topic)
        p.payload = r.rest()
    elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        p.pid = r.int2()
        p.rc = 0
        if version == 5 and r.left():
            p.rc = r.byte()
            if r.left():
                p.props = r.props(ptype)
    elif ptype == SUBACK:
        p.pid = r.int2()
        if version == 5:
            p.props = r.props(ptype)
        p.codes = list(r.rest())
        if not p.codes:
            raise MalformedFromServer("SUBACK with no return codes")
    elif ptype == UNSUBACK:
        p.pid = r.int2()
        p.codes = []
        if version == 5:
            p.props = r.props(ptype)
            p.codes = list(r.rest())
            if not p.codes:
                raise MalformedFromServer("UNSUBACK with no reason codes")
    elif ptype == PINGRESP:
        pass
    elif ptype == DISCONNECT:
        if version != 5:
            raise MalformedFromServer("server sent DISCONNECT to an MQTT %s client" % (
                {3: "3.1", 4: "3.1.1"}.get(version, version)))
        p.rc = 0
        if r.left():
            p.rc = r.byte()
            if r.left():
                p.props = r.props(ptype)
    elif ptype == AUTH:
        if version != 5:
            raise MalformedFromServer("server sent AUTH to a v3 client")
        p.rc = 0
        if r.left():
            p.rc = r.byte()
            if r.left():
                p.props = r.props(ptype)
    if r.left():
        raise MalformedFromServer("%s: %d trailing bytes" % (p.name, r.left()))
    _check_codes(p, version)
    if 0 in p.props.get("subscription_identifier", []):
        raise MalformedFromServer("subscription identifier 0")
    return p


# ---------------------------------------------------------------- client


# ---------------------------------------------------------------- WebSocket

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept_value(key):
    import base64
    import hashlib
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def ws_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """One WebSocket frame as a client sends it (masked unless mask=False).
    length overrides the encoded payload length (for broken frames)."""
    import os
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_handshake(sock, host="127.0.0.1", path="/mqtt", protocols=("mqtt",), headers=(),
                 timeout=10.0):
    """Send an upgrade request on a connected socket and read the response
    head. Returns (status, {lower-case header: value}, bytes after the head)."""
    import base64
    import os
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % host, "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
    if protocols:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
    lines += list(headers)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline:
            raise TimeoutError("no upgrade response")
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/1.1 "):
        return 0, {}, buf
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if status == 101 and hdrs.get("sec-websocket-accept") != ws_accept_value(key):
        raise AssertionError("bad Sec-WebSocket-Accept: %r" % hdrs.get("sec-websocket-accept"))
    return status, hdrs, rest


class WSSocket:
    """A socket-like object that carries a byte stream in WebSocket binary
    frames, so RawClient speaks MQTT over ws/wss unchanged. frame_size splits
    what is sent into frames of at most that many bytes (packets then span
    frames). Control frames from the server are handled here: pings are
    answered, a close frame is answered and ends the stream; close_code,
    close_reason and pongs record what came."""

    def __init__(self, sock, leftover=b"", frame_size=None):
        self.sock = sock
        self.rbuf = bytearray(leftover)
        self.data = bytearray()
        self.frame_size = frame_size
        self.close_code = None
        self.close_reason = None
        self.pongs = []
        self.frames = []  # (opcode, fin, payload) of every frame received
        self.eof = False
        self.sent_close = False

    def __getattr__(self, name):
        return getattr(self.sock, name)

    def fileno(self):
        return self.sock.fileno()

    def _frame(self):
        b = self.rbuf
        if len(b) < 2:
            return None
        n, i = b[1] & 0x7F, 2
        if b[1] & 0x80:
            raise MalformedFromServer("server frame is masked")
        if n == 126:
            if len(b) < 4:
                return None
            n, i = struct.unpack("!H", b[2:4])[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, i = struct.unpack("!Q", b[2:10])[0], 10
        if len(b) < i + n:
            return None
        fin, op = bool(b[0] & 0x80), b[0] & 0x0F
        if b[0] & 0x70:
            raise MalformedFromServer("server frame with reserved bits")
        payload = bytes(b[i:i + n])
        del b[:i + n]
        return op, fin, payload

    def _take_frames(self):
        while not self.eof:
            f = self._frame()
            if f is None:
                return
            op, fin, payload = f
            self.frames.append(f)
            if op in (0, 2):
                self.data += payload
            elif op == 9:
                self.send_frame(10, payload)
            elif op == 10:
                self.pongs.append(payload)
            elif op == 8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.close_reason = payload[2:].decode("utf-8", "replace")
                if not self.sent_close:
                    self.send_frame(8, payload[:2])
                self.eof = True
            else:
                raise MalformedFromServer("server sent frame opcode %d" % op)

    def pending(self):
        p = getattr(self.sock, "pending", None)
        return bool(self.data) or bool(p and p())

    def recv(self, n):
        while not self.data and not self.eof:
            self._take_frames()
            if self.data or self.eof:
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                self.eof = True
                break
            self.rbuf += chunk
        out = bytes(self.data[:n])
        del self.data[:n]
        return out

    def send_frame(self, opcode, payload=b"", **kw):
        if opcode == 8:
            self.sent_close = True
        try:
            self.sock.sendall(ws_frame(opcode, payload, **kw))
        except OSError:
            pass

    def sendall(self, data):
        step = self.frame_size or max(len(data), 1)
        for i in range(0, max(len(data), 1), step):
            self.sock.sendall(ws_frame(2, data[i:i + step]))

    def shutdown(self, how):
        if not self.sent_close:
            self.send_frame(8, struct.pack("!H", 1000))

    def close(self):
        if not self.sent_close and not self.eof:
            self.send_frame(8, struct.pack("!H", 1000))
        self.sock.close()


class RawClient:
    """A blocking raw MQTT client over one TCP socket, or over TLS when given
    tls=<ssl.SSLContext> (the handshake completes in the constructor and
    raises ssl.SSLError / OSError when it fails; server_hostname defaults to
    host), and over WebSocket when given ws=<path> (then self.sock is a
    WSSocket). preamble is sent before anything else (a PROXY header).

    recv() returns the next decoded packet (first from the backlog of packets
    that expect() skipped), raises Closed when the server closed the
    connection and TimeoutError when nothing arrived in time. Over TLS, an
    alert from the server after the handshake (TLS 1.3 reports a refused
    client certificate that way) also counts as closed; it is kept in
    tls_error."""

    def __init__(self, port, version=4, host="127.0.0.1", timeout=10.0, tls=None,
                 server_hostname=None, ws=None, ws_protocols=("mqtt",), ws_headers=(),
                 ws_frame_size=None, preamble=None):
        self.version = version
        self.port = port
        self.tls_error = None
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=timeout)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # preamble: bytes sent first (a PROXY protocol header); a list is sent
        # chunk by chunk, with a pause between them.
        for i, chunk in enumerate([preamble] if isinstance(preamble, bytes) else preamble or []):
            if i:
                time.sleep(0.002)
            self.sock.sendall(chunk)
        if tls is not None:
            raw = self.sock
            try:
                self.sock = tls.wrap_socket(raw, server_hostname=server_hostname or host)
            except BaseException:
                raw.close()
                raise
        self.ws_status = None
        if ws is not None:  # ws: the URL path; the upgrade must succeed
            status, hdrs, rest = ws_handshake(self.sock, host, ws, ws_protocols, ws_headers,
                                              timeout)
            self.ws_status, self.ws_headers = status, hdrs
            if status != 101:
                self.sock.close()
                raise ConnectionRefusedError("WebSocket upgrade refused: %d" % status)
            self.sock = WSSocket(self.sock, rest, ws_frame_size)
        self.buf = bytearray()
        self.backlog = []
        self.closed = False
        self.next_pid = 1
        self.awaiting_rel = set()   # QoS 2 packet ids we sent PUBREC for
        self.connack = None
        self.topic_alias_max = 0    # what we announced in CONNECT (v5)
        self.max_packet_size = None

    # -- bytes
    def send(self, data):
        self.sock.sendall(data)

    def try_send(self, data):
        """Send, ignoring errors from a connection the server already closed."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def _fill(self, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no packet from server within timeout")
            # TLS: decrypted bytes may already wait inside the SSL object,
            # where select() cannot see them.
            pending = getattr(self.sock, "pending", None)
            if not (pending and pending()):
                r, _, _ = select.select([self.sock], [], [], min(left, 0.5))
                if not r:
                    continue
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
                data = b""
            except ssl.SSLWantReadError:
                continue  # a TLS record not complete yet, or a post-handshake message
            except ssl.SSLError as e:
                self.tls_error = e
                data = b""
            if not data:
                self.closed = True
                raise Closed()
            self.buf += data
            return

    def _decode(self, got):
        ptype, flags, body, size = got
        p = decode(ptype, flags, body, self.version)
        if self.max_packet_size is not None and size > self.max_packet_size:
            raise MalformedFromServer("server sent a %d byte %s, above our Maximum Packet "
                                      "Size %d [MQTT-3.1.2-24]" % (size, p.name,
                                                                    self.max_packet_size))
        alias = p.props.get("topic_alias") if p.type == PUBLISH else None
        if alias is not None and not 1 <= alias <= self.topic_alias_max:
            raise MalformedFromServer("server used Topic Alias %d, our maximum is %d "
                                      "[MQTT-3.2.2-17]" % (alias, self.topic_alias_max))
        return p

    def _parse_one(self):
        """Return (type, flags, body, size) if a whole packet is buffered, else None."""
        if len(self.buf) < 2:
            return None
        mult, rl, i = 1, 0, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            rl += (b & 0x7F) * mult
            i += 1
            if not b & 0x80:
                break
            mult *= 128
            if i > 4:
                raise MalformedFromServer("remaining length longer than 4 bytes")
        if len(self.buf) < i + rl:
            return None
        ptype, flags = self.buf[0] >> 4, self.buf[0] & 0x0F
        body = bytes(self.buf[i:i + rl])
        del self.buf[:i + rl]
        return ptype, flags, body, i + rl

    def recv(self, timeout=5.0):
        if self.backlog:
            return self.backlog.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            got = self._parse_one()
            if got is not None:
                return self._decode(got)
            if self.closed:
                raise Closed()
            self._fill(deadline)

    def expect(self, ptype, timeout=5.0):
        """Return the first packet of type ptype; other packets go to the backlog."""
        for i, p in enumerate(self.backlog):
            if p.type == ptype:
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        skipped = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("expected %s, got only %r" % (TYPE_NAMES[ptype], skipped))
                got = self._parse_one()
                if got is None:
                    if self.closed:
                        raise Closed("expected %s, connection closed after %r" % (
                            TYPE_NAMES[ptype], skipped))
                    self._fill(deadline)
                    continue
                p = self._decode(got)
                if p.type == ptype:
                    return p
                skipped.append(p)
        finally:
            self.backlog.extend(skipped)

    def expect_closed(self, timeout=5.0):
        """Wait for the server to close; return the packets received meanwhile."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                got.append(self.recv(timeout=max(0.01, deadline - time.monotonic())))
            except Closed:
                return got
            except TimeoutError:
                raise AssertionError("server did not close the connection within %.1fs "
                                     "(received %r)" % (timeout, got))

    def is_open_after(self, duration):
        """True if the connection is still open after `duration` seconds; packets
        received meanwhile are kept in the backlog."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            try:
                p = self.recv(timeout=max(0.01, deadline - time.monotonic()))
                self.backlog.append(p)
                if len(self.backlog) > 10000:
                    break
            except TimeoutError:
                break
            except Closed:
                return False
        return True

    def no_packet(self, duration, types=None):
        """Assert no packet (of the given types) arrives within duration."""
        deadline = time.monotonic() + duration
        keep = []
        try:
            while time.monotonic() < deadline:
                try:
                    p = self.recv(timeout=max(0.01, deadline - time.monotonic()))
                except TimeoutError:
                    break
                if types is None or p.type in types:
                    raise AssertionError("unexpected packet %r" % p)
                keep.append(p)
        finally:
            self.backlog = keep + self.backlog

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    # -- MQTT level helpers
    def pid(self):
        p = self.next_pid
        self.next_pid = self.next_pid % 65535 + 1
        return p

    def connect(self, client_id="", expect_rc=0, timeout=5.0, **kw):
        kw.setdefault("version", self.version)
        props = kw.get("props")
        if kw["version"] == 5 and isinstance(props, dict):
            self.topic_alias_max = props.get("topic_alias_maximum", 0)
            self.max_packet_size = props.get("maximum_packet_size")
        self.send(connect(client_id, **kw))
        p = self.expect(CONNACK, timeout=timeout)
        self.connack = p
        if expect_rc is not None:
            assert p.rc == expect_rc, "CONNACK return code %#x, expected %#x (%r)" % (
                p.rc, expect_rc, p)
        return p

    def subscribe(self, topics, props=None, timeout=5.0):
        """topics: list of (filter, options) or a single filter string."""
        if isinstance(topics, str):
            topics = [(topics, 0)]
        pid = self.pid()
        self.send(subscribe(pid, topics, props=props, version=self.version))
        p = self.expect(SUBACK, timeout=timeout)
        assert p.pid == pid, "SUBACK packet id %d, expected %d" % (p.pid, pid)
        assert len(p.codes) == len(topics), "SUBACK has %d codes for %d filters" % (
            len(p.codes), len(topics))
        return p

    def unsubscribe(self, filters, props=None, timeout=5.0):
        pid = self.pid()
        self.send(unsubscribe(pid, filters, props=props, version=self.version))
        p = self.expect(UNSUBACK, timeout=timeout)
        assert p.pid == pid
        return p

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None, pid=None,
                timeout=5.0, dup=False):
        """Publish and complete the QoS flow. Returns the PUBACK/PUBCOMP (or PUBREC
        with a failure code) packet, or None for QoS 0."""
        if qos and pid is None:
            pid = self.pid()
        self.send(publish(topic, payload, qos=qos, retain=retain, dup=dup, pid=pid, props=props,
                          version=self.version))
        if qos == 0:
            return None
        if qos == 1:
            p = self.expect(PUBACK, timeout=timeout)
            assert p.pid == pid, "PUBACK for %d, expected %d" % (p.pid, pid)
            return p
        p = self.expect(PUBREC, timeout=timeout)
        assert p.pid == pid, "PUBREC for %d, expected %d" % (p.pid, pid)
        if p.rc >= 0x80:
            return p
        self.send(pubrel(pid, version=self.version))
        p = self.expect(PUBCOMP, timeout=timeout)
        assert p.pid == pid, "PUBCOMP for %d, expected %d" % (p.pid, pid)
        return p

    def ping(self, timeout=5.0):
        self.send(pingreq())
        return self.expect(PINGRESP, timeout=timeout)

    def recv_publish(self, timeout=5.0, ack=True):
        """Next PUBLISH; acknowledges it (QoS 1: PUBACK, QoS 2: PUBREC and later
        PUBCOMP for the PUBREL) when ack. PUBRELs for our PUBRECs are answered
        transparently."""
        deadline = time.monotonic() + timeout
        while True:
            for i, p in enumerate(self.backlog):
                if p.type in (PUBLISH, PUBREL):
                    self.backlog.pop(i)
                    break
            else:
                p = self._next_pub_or_rel(deadline)
            if p.type == PUBREL:
                if ack:
                    self.awaiting_rel.discard(p.pid)
                    self.send(pubcomp(p.pid, version=self.version))
                    continue
                self.backlog.append(p)
                continue
            if ack:
                if p.qos == 1:
                    self.send(puback(p.pid, version=self.version))
                elif p.qos == 2:
                    self.send(pubrec(p.pid, version=self.version))
                    self.awaiting_rel.add(p.pid)
            return p

    def _next_pub_or_rel(self, deadline):
        skipped = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no PUBLISH within timeout (other packets: %r)" % skipped)
                got = self._parse_one()
                if got is None:
                    if self.closed:
                        raise Closed("connection closed while waiting for PUBLISH "
                                     "(other packets: %r)" % skipped)
                    self._fill(deadline)
                    continue
                p = self._decode(got)
                if p.type in (PUBLISH, PUBREL):
                    return p
                skipped.append(p)
        finally:
            self.backlog.extend(skipped)

    def collect_publishes(self, duration, ack=True, limit=None):
        """All PUBLISHes arriving within duration (stops early at limit)."""
        out = []
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline and (limit is None or len(out) < limit):
            try:
                out.append(self.recv_publish(timeout=max(0.01, deadline - time.monotonic()),
                                             ack=ack))
            except TimeoutError:
                break
        return out

    def collect_until_quiet(self, quiet=0.5, timeout=10.0, ack=True, limit=None):
        """PUBLISHes until none arrived for `quiet` seconds (or timeout/limit)."""
        out = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (limit is None or len(out) < limit):
            try:
                out.append(self.recv_publish(
                    timeout=max(0.01, min(quiet, deadline - time.monotonic())), ack=ack))
            except TimeoutError:
                break
        return out

    def finish_qos2(self, timeout=2.0):
        """Answer outstanding PUBRELs (so the server can complete QoS 2 flows)."""
        deadline = time.monotonic() + timeout
        while self.awaiting_rel and time.monotonic() < deadline:
            try:
                p = self.recv(timeout=max(0.01, deadline - time.monotonic()))
            except (TimeoutError, Closed):
                return
            if p.type == PUBREL:
                self.awaiting_rel.discard(p.pid)
                self.send(pubcomp(p.pid, version=self.version))
            else:
                self.backlog.append(p)

    def disconnect(self, rc=None, props=None):
        self.try_send(disconnect(rc, props, version=self.version))
        # Give the server the chance to read DISCONNECT before the FIN.
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                r, _, _ = select.select([self.sock], [], [], 0.2)
                if r and not self.sock.recv(65536):
                    break
            except OSError:
                break
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
