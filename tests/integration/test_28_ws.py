# SPDX-License-Identifier: Apache-2.0
"""MQTT over WebSocket (ws) and secure WebSocket (wss): the upgrade and its
refusals, subprotocols, origins, framing (packets across frames, several
packets in a frame, fragmented messages, pings), the close handshake with its
status codes, malformed frames (each closes only its own connection),
X-Forwarded-For from trusted proxies, and wss with certificate identity."""

import socket
import struct
import time

import pytest

import mqttraw as mr
from conftest import uniq
from tlsutil import (MUTUAL, LogCursor, TLSView, client_context, running_broker,
                     tls_broker_lines)

LISTENERS = {
    "main": {"ltype": "ws"},
    "lax": {"ltype": "ws", "fail_if_no_subprotocol": False, "mqtt_path": "/ws/mqtt"},
    "origin": {"ltype": "ws", "check_origin_enable": True,
               "allowed_origins": "https://good.example, http://localhost:8080"},
    "small": {"ltype": "ws", "max_frame_size": "1KB"},
    "proxied": {"ltype": "ws", "trusted_proxies": "127.0.0.1/32, ::1"},
    "secure": dict(MUTUAL, cacertfile=True, ltype="wss", peer_cert_as_username="cn"),
}


@pytest.fixture(scope="module")
def wb(tmp_path_factory, pki):
    # X-Forwarded-For names addresses that are not loopback: let anonymous
    # clients in.
    lines, ports, tcp_port = tls_broker_lines(pki, LISTENERS, extra=["allow_anonymous = true"])
    with running_broker(tmp_path_factory.mktemp("ws"), lines, ports, tcp_port) as b:
        b.pki = pki
        yield b


def upgrade(port, path="/mqtt", protocols=("mqtt",), headers=(), request=None):
    """Open a socket, send an upgrade (or the raw request), return
    (status, headers, socket, leftover)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if request is not None:
        s.sendall(request)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        line = buf.split(b"\r\n", 1)[0].decode("latin-1")
        return int(line.split()[1]) if line.startswith("HTTP/1.1 ") else 0, buf, s, b""
    status, hdrs, rest = mr.ws_handshake(s, "127.0.0.1", path, protocols, headers)
    return status, hdrs, s, rest


def ws_sock(wb, name="main", **kw):
    status, hdrs, s, rest = upgrade(wb.tls_ports[name], **kw)
    assert status == 101, (status, hdrs)
    return mr.WSSocket(s, rest)


def read_until_closed(ws, timeout=5.0):
    """Read everything until the server closes; returns the data bytes."""
    data = b""
    deadline = time.monotonic() + timeout
    ws.sock.settimeout(timeout)
    while time.monotonic() < deadline:
        try:
            chunk = ws.recv(65536)
        except (ConnectionResetError, OSError):
            break
        if not chunk:
            break
        data += chunk
    return data


def raw(wb, name="main", version=5, **kw):
    kw.setdefault("ws", "/mqtt")
    return mr.RawClient(wb.tls_ports[name], version=version, **kw)


def assert_ws_serving(wb, name="main"):
    """The ws listener still serves a client end to end."""
    t = uniq("alive/")
    c = raw(wb, name)
    c.connect(uniq("alive"))
    c.subscribe([(t, 1)])
    c.publish(t, b"still here", qos=1)
    assert c.recv_publish().payload == b"still here"
    c.disconnect()


# ------------------------------------------------------------------ upgrade

@pytest.mark.parametrize("offer,chosen", [
    (("mqtt",), "mqtt"),
    (("mqttv3.1",), "mqttv3.1"),
    (("foo", "mqtt"), "mqtt"),
    (("mqtt-v5", "mqtt"), "mqtt"),
    (("mqtt-v3.1.1",), "mqtt-v3.1.1"),
])
def test_subprotocol_negotiated(wb, offer, chosen):
    status, hdrs, s, _ = upgrade(wb.tls_ports["main"], protocols=offer)
    s.close()
    assert status == 101 and hdrs.get("sec-websocket-protocol") == chosen


def test_no_subprotocol_refused_by_default(wb):
    log = LogCursor(wb)
    status, _, s, _ = upgrade(wb.tls_ports["main"], protocols=())
    s.close()
    assert status == 400
    log.wait(r"WebSocket upgrade refused: 400 .*subprotocol.* listener=ws:main")


def test_no_subprotocol_accepted_when_not_required(wb):
    status, hdrs, s, rest = upgrade(wb.tls_ports["lax"], path="/ws/mqtt", protocols=())
    s.close()
    assert status == 101 and "sec-websocket-protocol" not in hdrs
    c = mr.RawClient(wb.tls_ports["lax"], version=4, ws="/ws/mqtt", ws_protocols=())
    c.connect(uniq("lax"))
    c.disconnect()


@pytest.mark.parametrize("path,status", [("/other", 404), ("/mqtt/x", 404), ("/", 404),
                                         ("/mqtt?a=1", 101)])
def test_path(wb, path, status):
    got, _, s, _ = upgrade(wb.tls_ports["main"], path=path)
    s.close()
    assert got == status


def test_wrong_version_gets_426(wb):
    req = (b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
           b"Sec-WebSocket-Protocol: mqtt\r\n\r\n")
    status, head, s, _ = upgrade(wb.tls_ports["main"], request=req)
    s.close()
    assert status == 426 and b"Sec-WebSocket-Version: 13" in head


@pytest.mark.parametrize("req,status", [
    (b"POST /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # not an upgrade
    (b"GET /mqtt HTTP/1.0\r\n\r\n", 400),
    (b"GET /mqtt HTTP/1.1\r\nHost x\r\n\r\n", 400),  # header without colon
    (b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", 400),  # MQTT without the upgrade
])
def test_bad_upgrade_requests(wb, req, status):
    log = LogCursor(wb)
    got, _, s, _ = upgrade(wb.tls_ports["main"], request=req + b"\r\n\r\n" if req[0] == 0x10
                           else req)
    s.close()
    assert got == status
    log.wait(r"WebSocket upgrade refused: %d" % status)
    assert_ws_serving(wb)


@pytest.mark.parametrize("origin,status", [
    ("https://good.example", 101), ("http://localhost:8080", 101), ("HTTPS://GOOD.EXAMPLE", 101),
    ("https://evil.example", 403), ("https://good.example:444", 403), (None, 101)])
def test_origin_check(wb, origin, status):
    headers = ["Origin: " + origin] if origin else []
    got, _, s, _ = upgrade(wb.tls_ports["origin"], headers=headers)
    s.close()
    assert got == status


def test_origin_not_checked_by_default(wb):
    got, _, s, _ = upgrade(wb.tls_ports["main"], headers=["Origin: https://evil.example"])
    s.close()
    assert got == 101


# ------------------------------------------------------------------ framing

def test_every_byte_in_its_own_frame(wb):
    """MQTT packets spanning many frames: one byte per frame both ways in."""
    t = uniq("bytes/")
    c = mr.RawClient(wb.tls_ports["main"], version=5, ws="/mqtt", ws_frame_size=1)
    c.connect(uniq("bytes"))
    c.subscribe([(t, 2)])
    c.publish(t, b"x" * 300, qos=1)
    assert c.recv_publish().payload == b"x" * 300
    c.disconnect()


def test_several_packets_in_one_frame(wb):
    t = uniq("multi/")
    c = raw(wb, version=4)
    c.sock.send_frame(2, mr.connect(uniq("multi"), version=4) + mr.subscribe(1, [(t, 0)]) +
                      mr.publish(t, b"one") + mr.publish(t, b"two") + mr.pingreq())
    assert c.expect(mr.CONNACK).rc == 0
    assert c.expect(mr.SUBACK)
    assert [c.recv_publish().payload for _ in range(2)] == [b"one", b"two"]
    assert c.expect(mr.PINGRESP)
    c.disconnect()


def test_fragmented_message_with_ping_inside(wb):
    """A CONNECT sent as a fragmented binary message (BINARY fin=0, CONT,
    CONT fin=1) with a ping between the fragments: the ping is answered with
    its payload and the CONNECT is accepted."""
    ws = ws_sock(wb)
    pkt = mr.connect(uniq("frag"), version=4)
    ws.send_frame(2, pkt[:3], fin=False)
    ws.send_frame(9, b"are you there")
    ws.send_frame(0, pkt[3:7], fin=False)
    ws.send_frame(0, pkt[7:], fin=True)
    ws.sock.settimeout(5)
    data = ws.recv(4)
    assert data == b"\x20\x02\x00\x00"  # CONNACK accepted
    assert ws.pongs == [b"are you there"]
    ws.close()


def test_empty_frames_are_harmless(wb):
    ws = ws_sock(wb)
    ws.send_frame(2, b"")
    ws.send_frame(2, mr.connect(uniq("empty"), version=4))
    ws.send_frame(2, b"")
    ws.sock.settimeout(5)
    assert ws.recv(4) == b"\x20\x02\x00\x00"
    ws.close()


def test_large_payload_both_ways(wb):
    """A 1 MB payload (many 32 KiB frames from the server) arrives intact."""
    t = uniq("big/")
    payload = bytes(i % 251 for i in range(1000000))
    sub = raw(wb)
    sub.connect(uniq("bigsub"))
    sub.subscribe([(t, 1)])
    pub = mr.RawClient(wb.tls_ports["main"], version=5, ws="/mqtt", ws_frame_size=70000)
    pub.connect(uniq("bigpub"))
    pub.publish(t, payload, qos=1, timeout=20)
    m = sub.recv_publish(timeout=20)
    assert m.payload == payload
    assert max(len(f[2]) for f in sub.sock.frames) <= 32 * 1024


# ------------------------------------------------------------------ close

def test_client_close_is_answered(wb):
    log = LogCursor(wb)
    c = raw(wb, version=4)
    cid = uniq("closer")
    c.connect(cid)
    c.sock.send_frame(8, struct.pack("!H", 1000) + b"bye")
    read_until_closed(c.sock)
    assert c.sock.close_code == 1000
    log.wait(r"client disconnected: id=%s .*WebSocket close from the client: 1000 bye" % cid)


def test_close_without_code_is_answered_1000(wb):
    ws = ws_sock(wb)
    ws.send_frame(8, b"")
    read_until_closed(ws)
    assert ws.close_code == 1000


def test_mqtt_protocol_error_ends_with_close_frame(wb):
    """The broker closes a client (second CONNECT): DISCONNECT 0x82 in a
    binary frame, then a close frame."""
    c = raw(wb, version=5)
    c.connect(uniq("twice"))
    c.send(mr.connect(uniq("twice2"), version=5))
    d = c.expect(mr.DISCONNECT)
    assert d.rc == 0x82
    read_until_closed(c.sock)
    assert c.sock.close_code == 1000


MALFORMED = [
    ("bad opcode", lambda: mr.ws_frame(3, b"x"), 1002),
    ("unmasked", lambda: mr.ws_frame(2, b"\xc0\x00", mask=False), 1002),
    ("text frame", lambda: mr.ws_frame(1, b"hello"), 1003),
    ("reserved bit", lambda: mr.ws_frame(2, b"\xc0\x00", rsv=4), 1002),
    ("close code 999", lambda: mr.ws_frame(8, struct.pack("!H", 999)), 1002),
    ("close code 1005", lambda: mr.ws_frame(8, struct.pack("!H", 1005)), 1002),
    ("close 1 byte", lambda: mr.ws_frame(8, b"\x03"), 1002),
    ("close reason not utf-8", lambda: mr.ws_frame(8, struct.pack("!H", 1000) + b"\xff\xfe"),
     1007),
    ("fragmented ping", lambda: mr.ws_frame(9, b"x", fin=False), 1002),
    ("long ping", lambda: mr.ws_frame(9, b"x" * 126), 1002),
    ("continuation first", lambda: mr.ws_frame(0, b"x"), 1002),
]


@pytest.mark.parametrize("what,frame,code", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_frame_closes_only_that_connection(wb, what, frame, code):
    log = LogCursor(wb)
    other = raw(wb, version=4)
    other.connect(uniq("bystander"))
    ws = ws_sock(wb)
    ws.sock.sendall(frame())
    read_until_closed(ws)
    assert ws.close_code == code, what
    log.wait(r"WebSocket protocol error: .*\(closed with %d\)" % code)
    other.ping()
    assert_ws_serving(wb)


def test_frame_over_max_frame_size(wb):
    ws = ws_sock(wb, "small")
    ws.send_frame(2, b"\x10" + b"\x00" * 2000)
    read_until_closed(ws)
    assert ws.close_code == 1009
    ws2 = ws_sock(wb, "small")
    ws2.send_frame(2, mr.connect(uniq("fits"), version=4))
    ws2.sock.settimeout(5)
    assert ws2.recv(4) == b"\x20\x02\x00\x00"
    ws2.close()


def test_client_vanishing_mid_frame(wb):
    ws = ws_sock(wb)
    ws.sock.sendall(mr.ws_frame(2, b"\x10" * 100)[:20])
    ws.sock.close()
    assert_ws_serving(wb)


# ------------------------------------------------------------------ addresses

def test_forwarded_for_from_trusted_proxy(wb):
    log = LogCursor(wb)
    cid = uniq("xff")
    c = mr.RawClient(wb.tls_ports["proxied"], version=4, ws="/mqtt",
                     ws_headers=["X-Forwarded-For: 203.0.113.7, 10.0.0.1",
                                 "X-Forwarded-Port: 4711"])
    c.connect(cid)
    log.wait(r"client connected: id=%s .*peer=203\.0\.113\.7:4711 listener=ws:proxied" % cid)
    c.disconnect()
    cid = uniq("xff6")
    c = mr.RawClient(wb.tls_ports["proxied"], version=4, ws="/mqtt",
                     ws_headers=["X-Forwarded-For: 2001:db8::5"])
    c.connect(cid)
    log.wait(r"client connected: id=%s .*peer=\[2001:db8::5\]:0 " % cid)
    c.disconnect()


def test_forwarded_for_ignored_from_others(wb):
    log = LogCursor(wb)
    cid = uniq("noxff")
    c = mr.RawClient(wb.tls_ports["main"], version=4, ws="/mqtt",
                     ws_headers=["X-Forwarded-For: 203.0.113.7"])
    c.connect(cid)
    log.wait(r"client connected: id=%s .*peer=127\.0\.0\.1:\d+ listener=ws:main" % cid)
    c.disconnect()


def test_forwarded_for_garbage_ignored(wb):
    log = LogCursor(wb)
    cid = uniq("badxff")
    c = mr.RawClient(wb.tls_ports["proxied"], version=4, ws="/mqtt",
                     ws_headers=["X-Forwarded-For: not-an-address"])
    c.connect(cid)
    log.wait(r"client connected: id=%s .*peer=127\.0\.0\.1:\d+ " % cid)
    c.disconnect()


# ------------------------------------------------------------------ wss

def test_wss_identity_and_paho(wb, paho_clients):
    """wss with two-way TLS: the certificate CN becomes the username, and paho
    over wss (v5 and 3.1.1) exchanges messages with a ws client."""
    log = LogCursor(wb)
    pki = wb.pki
    view = TLSView(wb, wb.tls_ports["secure"],
                   client_context(pki, cert="client-fullchain.pem", key="client.key"),
                   {"ca_certs": pki("ca.pem"), "certfile": pki("client-fullchain.pem"),
                    "keyfile": pki("client.key")}, ws="/mqtt")
    cid = uniq("wssid")
    c = view.raw(5)
    c.connect(cid)
    log.wait(r"client connected: id=%s user=device-001 .*listener=wss:secure .*tls=TLSv1\.3" %
             cid)
    t = uniq("wsspaho/")
    for version in (5, 4):
        p = paho_clients(view, uniq("paho"), version=version)
        p.subscribe(t, 1)
        sender = raw(wb)
        sender.connect(uniq("sender"))
        sender.publish(t, b"to paho %d" % version, qos=1)
        assert p.get(timeout=10).payload == b"to paho %d" % version
        p.disconnect()


def test_wss_without_client_certificate_refused(wb):
    with pytest.raises((OSError, mr.Closed, ConnectionRefusedError)):
        c = mr.RawClient(wb.tls_ports["secure"], version=4, ws="/mqtt",
                         tls=client_context(wb.pki), server_hostname="localhost")
        c.connect(uniq("nocert"))
