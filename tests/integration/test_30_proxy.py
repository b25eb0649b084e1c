# SPDX-License-Identifier: Apache-2.0
"""The PROXY protocol (v1 and v2) on tcp, ssl, ws and wss listeners, sent by
hand: the client address in the log comes from the header, v2's SSL TLV
gives peer_cert_as_username its CN, LOCAL keeps the socket address, and a
missing, malformed, late or untrusted header closes only that connection."""

import ipaddress
import socket
import struct
import time

import pytest

import mqttraw as mr
from conftest import uniq
from tlsutil import LogCursor, client_context, running_broker, tls_broker_lines

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"

LISTENERS = {
    "pp": {"ltype": "tcp", "proxy_protocol": True, "proxy_protocol_timeout": "500ms",
           "peer_cert_as_username": "cn"},
    "ppstrict": {"ltype": "tcp", "proxy_protocol": True,
                 "proxy_protocol_trusted": "10.0.0.0/8, 192.0.2.1"},
    "ppssl": {"ltype": "ssl", "proxy_protocol": True},
    "ppws": {"ltype": "ws", "proxy_protocol": True},
    "ppwss": {"ltype": "wss", "proxy_protocol": True},
}


@pytest.fixture(scope="module")
def pb(tmp_path_factory, pki):
    # The forwarded addresses are not loopback: let anonymous clients in.
    lines, ports, tcp_port = tls_broker_lines(pki, LISTENERS, extra=["allow_anonymous = true"])
    with running_broker(tmp_path_factory.mktemp("proxy"), lines, ports, tcp_port) as b:
        b.pki = pki
        yield b


def v1(src="203.0.113.9", sport=5555, dst="127.0.0.1", dport=1883):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def tlv(t, value):
    return struct.pack("!BH", t, len(value)) + value


def v2(src="198.51.100.4", sport=6000, dst="127.0.0.1", dport=1883, local=False, tlvs=b""):
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        fam, addrs = 0x11, s.packed + d.packed + struct.pack("!HH", sport, dport)
    else:
        fam, addrs = 0x21, s.packed + d.packed + struct.pack("!HH", sport, dport)
    body = addrs + tlvs
    return V2_SIG + bytes([0x20 if local else 0x21, fam]) + struct.pack("!H", len(body)) + body


def ssl_tlv(cn=b"device-042", verify=0, client=0x07, version=b"TLSv1.3"):
    sub = tlv(0x21, version) + (tlv(0x22, cn) if cn else b"")
    return tlv(0x20, bytes([client]) + struct.pack("!I", verify) + sub)


def client_after(pb, name, header, version=4, split=False, **kw):
    """A RawClient whose connection starts with header (sent before TLS and
    the WebSocket upgrade); split sends it one byte at a time."""
    pre = [header[i:i + 1] for i in range(len(header))] if split else header
    return mr.RawClient(pb.tls_ports[name], version=version, preamble=pre, **kw)


def closed_without_connack(port, data, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if data:
            s.sendall(data)
        got = b""
        while True:
            try:
                chunk = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            got += chunk
        return got
    finally:
        s.close()


@pytest.mark.parametrize("header,peer", [
    (v1(), r"203\.0\.113\.9:5555"),
    (v1("2001:db8::1", 7, "::1"), r"\[2001:db8::1\]:7"),
    (v2(), r"198\.51\.100\.4:6000"),
    (v2("2001:db8::2", 8, "::1"), r"\[2001:db8::2\]:8"),
    (v2(tlvs=tlv(0x02, b"mqtt.example.com") + tlv(0x04 + 0x80, b"zz")), r"198\.51\.100\.4:6000"),
])
def test_address_from_header(pb, header, peer):
    log = LogCursor(pb)
    cid = uniq("pp")
    c = client_after(pb, "pp", header)
    c.connect(cid)
    log.wait(r"client connected: id=%s user=- peer=%s listener=tcp:pp" % (cid, peer))
    c.disconnect()


def test_header_byte_by_byte(pb):
    log = LogCursor(pb)
    cid = uniq("ppsplit")
    c = client_after(pb, "pp", v2(tlvs=ssl_tlv()), split=True)
    c.connect(cid)
    log.wait(r"client connected: id=%s user=device-042 peer=198\.51\.100\.4:6000" % cid)
    c.disconnect()


def test_local_keeps_socket_address(pb):
    log = LogCursor(pb)
    cid = uniq("pplocal")
    c = client_after(pb, "pp", v2(local=True))
    c.connect(cid)
    log.wait(r"client connected: id=%s user=- peer=127\.0\.0\.1:\d+ " % cid)
    c.disconnect()


def test_ssl_tlv_cn_becomes_username(pb):
    log = LogCursor(pb)
    cid = uniq("ppcn")
    c = client_after(pb, "pp", v2(tlvs=ssl_tlv(b"device-042")))
    c.connect(cid)
    log.wait(r"client connected: id=%s user=device-042 peer=198\.51\.100\.4:6000" % cid)
    c.disconnect()


@pytest.mark.parametrize("tl", [ssl_tlv(verify=1), ssl_tlv(client=0x01), ssl_tlv(cn=None)],
                         ids=["unverified", "no-cert", "no-cn"])
def test_ssl_tlv_without_verified_cert_gives_no_username(pb, tl):
    log = LogCursor(pb)
    cid = uniq("ppnocn")
    c = client_after(pb, "pp", v2(tlvs=tl))
    c.connect(cid)
    log.wait(r"client connected: id=%s user=- " % cid)
    c.disconnect()


@pytest.mark.parametrize("data,why", [
    (mr.connect("plain", version=4), "not a PROXY protocol header"),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "PROXY header refused"),
    (b"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n", "PROXY header refused"),
    (b"PROXY " + b"x" * 120, "PROXY header refused"),
    (V2_SIG + b"\x22\x11\x00\x0c" + b"\x00" * 12, "PROXY header refused"),
    (V2_SIG + b"\x21\x31\x00\x00", "PROXY header refused"),  # AF_UNIX
    (V2_SIG + b"\x21\x11\x00\x0f" + b"\x00" * 12 + b"\x20\x00\x05", "PROXY header refused"),
])
def test_malformed_or_missing_header_closes(pb, data, why):
    log = LogCursor(pb)
    got = closed_without_connack(pb.tls_ports["pp"], data)
    assert got == b""
    log.wait(r"%s.*listener=tcp:pp" % why)
    c = client_after(pb, "pp", v1())
    c.connect(uniq("ppafter"))
    c.disconnect()


def test_header_timeout(pb):
    log = LogCursor(pb)
    t0 = time.monotonic()
    got = closed_without_connack(pb.tls_ports["pp"], b"PROXY TCP4 ", timeout=10)
    assert got == b"" and time.monotonic() - t0 < 5
    log.wait(r"PROXY header refused: .*none within 500ms .*proxy_protocol_timeout")


def test_untrusted_sender_refused(pb):
    log = LogCursor(pb)
    got = closed_without_connack(pb.tls_ports["ppstrict"], v1())
    assert got == b""
    log.wait(r"PROXY header refused: peer=127\.0\.0\.1:\d+ listener=tcp:ppstrict: the address "
             r"is not in listener\.tcp\.ppstrict\.proxy_protocol_trusted")


def test_ssl_after_header(pb):
    log = LogCursor(pb)
    cid = uniq("ppssl")
    c = client_after(pb, "ppssl", v1("192.0.2.55", 1234), tls=client_context(pb.pki),
                     server_hostname="localhost")
    c.connect(cid)
    log.wait(r"client connected: id=%s .*peer=192\.0\.2\.55:1234 listener=ssl:ppssl .*tls=TLSv1\.3"
             % cid)
    c.disconnect()


def test_ws_and_wss_after_header(pb):
    log = LogCursor(pb)
    cid = uniq("ppws")
    c = client_after(pb, "ppws", v2("192.0.2.66", 99), ws="/mqtt")
    c.connect(cid)
    log.wait(r"client connected: id=%s .*peer=192\.0\.2\.66:99 listener=ws:ppws" % cid)
    c.disconnect()
    cid = uniq("ppwss")
    c = client_after(pb, "ppwss", v1("192.0.2.67", 98), ws="/mqtt", tls=client_context(pb.pki),
                     server_hostname="localhost")
    c.connect(cid)
    log.wait(r"client connected: id=%s .*peer=192\.0\.2\.67:98 listener=wss:ppwss" % cid)
    c.disconnect()


def test_forwarded_client_is_not_loopback(broker_factory, pki):
    """A loopback listener behind a local balancer: with the default
    allow_anonymous = loopback, an anonymous client the PROXY header places
    elsewhere is refused, one it places on loopback is accepted."""
    lines, ports, tcp_port = tls_broker_lines(pki, {"lb": {"ltype": "tcp",
                                                           "proxy_protocol": True}},
                                              extra=["allow_anonymous = loopback"])
    b = broker_factory(start=False)
    b.start(lines, port=tcp_port)
    b.tls_ports = ports
    c = client_after(b, "lb", v1("203.0.113.10", 1000))
    c.connect(uniq("remote"), expect_rc=5)
    c = client_after(b, "lb", v1("127.0.0.1", 1001))
    c.connect(uniq("local"))
    c.disconnect()
