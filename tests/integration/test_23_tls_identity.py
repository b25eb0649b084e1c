# SPDX-License-Identifier: Apache-2.0
"""Client certificates as identity: peer_cert_as_username and
peer_cert_as_clientid (EMQX 4's cn, dn, crt, pem, md5 and moat's san_dns,
san_email, san_uri, san_ip, fingerprint), the clientid_must_match policy,
and a verified certificate counting as authentication.

The client certificate (client.pem) is CN=device-001, OU=devices, O=moat test
with SAN DNS:device-001.example.com, email:device-001@example.com,
URI:urn:moat:device-001, IP:10.0.0.1; the expected values are computed here
from the PEM file, independently of the broker."""

import re

import pytest

import mqttraw as mr
from conftest import uniq
from tlsutil import (CLIENT_CN, MUTUAL, OPTIONAL, LogCursor, client_context, local_port,
                     running_broker, tls_broker_lines)

VALUES = ["cn", "dn", "crt", "pem", "md5", "san_dns", "san_email", "san_uri", "san_ip",
          "fingerprint"]


def expected(pki, what):
    return {
        "cn": CLIENT_CN,
        "dn": pki.subject_rfc2253("client.pem"),
        "crt": pki.crt_b64("client.pem"),
        "pem": pki.certs("client.pem")[0],
        "md5": pki.md5("client.pem"),
        "san_dns": "device-001.example.com",
        "san_email": "device-001@example.com",
        "san_uri": "urn:moat:device-001",
        "san_ip": "10.0.0.1",
        "fingerprint": pki.sha256("client.pem"),
    }[what]


@pytest.fixture(scope="module")
def ib(tmp_path_factory, pki):
    listeners = {}
    for v in VALUES:
        listeners["u_" + v] = dict(MUTUAL, cacertfile=True, peer_cert_as_username=v)
        listeners["c_" + v] = dict(MUTUAL, cacertfile=True, peer_cert_as_clientid=v)
    listeners["both_cn"] = dict(MUTUAL, cacertfile=True, peer_cert_as_username="cn",
                                peer_cert_as_clientid="cn")
    listeners["opt_user"] = dict(OPTIONAL, cacertfile=True, peer_cert_as_username="cn",
                                 peer_cert_as_clientid="cn")
    listeners["match_cn"] = dict(OPTIONAL, cacertfile=True, clientid_must_match="cn")
    listeners["match_uri"] = dict(MUTUAL, cacertfile=True, clientid_must_match="san_uri")
    listeners["optional"] = dict(OPTIONAL, cacertfile=True)
    lines, ports, tcp_port = tls_broker_lines(pki, listeners,
                                              extra=["allow_anonymous = false"])
    with running_broker(tmp_path_factory.mktemp("idbroker"), lines, ports, tcp_port) as b:
        yield b


def client(pki, b, listener, version=4, cert=True):
    kw = {"cert": "client-fullchain.pem", "key": "client.key"} if cert else {}
    return mr.RawClient(b.tls_ports[listener], version=version, tls=client_context(pki, **kw),
                        server_hostname="localhost")


def connect_line(cur, c, listener):
    """(id, user) of this connection's connect log line."""
    rx = (r"client connected: id=(?P<id>.*?) user=(?P<user>.*?) peer=127\.0\.0\.1:%d "
          r"listener=ssl:%s " % (local_port(c), re.escape(listener)))
    m = cur.wait("(?s)" + rx)
    return m.group("id"), m.group("user")


def logged(value):
    """How a value appears in the log: control bytes never reach it (a
    newline becomes a space), so one entry stays one line."""
    return "".join(" " if ch == "\n" else ("?" if ord(ch) < 0x20 else ch) for ch in value)


@pytest.mark.parametrize("what", VALUES)
@pytest.mark.parametrize("version", [4, 5])
def test_peer_cert_as_username(ib, pki, what, version):
    cur = LogCursor(ib)
    c = client(pki, ib, "u_" + what, version)
    try:
        cid = uniq("u")
        c.connect(cid, username="claimed-name", password=b"pw")
        got_id, got_user = connect_line(cur, c, "u_" + what)
        assert got_id == cid
        assert got_user == logged(expected(pki, what))
        assert c.ping().type == mr.PINGRESP
    finally:
        c.close()


@pytest.mark.parametrize("what", VALUES)
@pytest.mark.parametrize("version", [4, 5])
def test_peer_cert_as_clientid(ib, pki, what, version):
    cur = LogCursor(ib)
    c = client(pki, ib, "c_" + what, version)
    try:
        c.connect(uniq("claimed-id"))
        got_id, got_user = connect_line(cur, c, "c_" + what)
        assert got_id == logged(expected(pki, what))
        assert got_user == "-"
        assert c.ping().type == mr.PINGRESP
    finally:
        c.close()


def test_clientid_from_certificate_is_the_session_identity(ib, pki):
    """Two connections with the same certificate and different CONNECT client
    ids are one client: the second takes the session over."""
    a = client(pki, ib, "c_cn", 5)
    b = client(pki, ib, "c_cn", 5)
    try:
        a.connect("first-claim")
        b.connect("second-claim", clean=False)
        got = a.expect_closed(timeout=5)
        assert any(p.type == mr.DISCONNECT and p.rc == mr.RC_SESSION_TAKEN_OVER for p in got), got
        assert b.ping().type == mr.PINGRESP
    finally:
        a.close()
        b.close()


def test_both_mappings(ib, pki):
    cur = LogCursor(ib)
    c = client(pki, ib, "both_cn", 5)
    try:
        c.connect("whatever", username="someone")
        assert connect_line(cur, c, "both_cn") == (CLIENT_CN, CLIENT_CN)
    finally:
        c.close()


def test_mapping_without_certificate_keeps_what_the_client_sent(ib, pki):
    """verify_peer without fail_if_no_peer_cert, mappings on: a client
    without a certificate keeps its own client id, and (allow_anonymous =
    false, no password backend) is refused as anonymous."""
    cur = LogCursor(ib)
    c = client(pki, ib, "opt_user", 4, cert=False)
    try:
        cid = uniq("own")
        c.connect(cid, username="own-user", password=b"x", expect_rc=mr.V3_NOT_AUTHORIZED)
    finally:
        c.close()
    cur.wait(r"connection refused: id=%s peer=127\.0\.0\.1:\d+ listener=ssl:opt_user "
             % re.escape(cid))
    c = client(pki, ib, "opt_user", 4)
    try:
        c.connect(uniq("own"), username="own-user")
        assert connect_line(cur, c, "opt_user") == (CLIENT_CN, CLIENT_CN)
    finally:
        c.close()


def test_pem_identity_logged_on_one_line(ib, pki):
    cur = LogCursor(ib)
    c = client(pki, ib, "u_pem", 4)
    try:
        c.connect(uniq("pemline"))
        cur.wait(r"listener=ssl:u_pem proto=4")
    finally:
        c.close()
    for line in cur.text().splitlines():
        assert re.match(r"\d{4}-\d\d-\d\dT", line), "log line continued: %r" % line


# ------------------------------------------------------------------ clientid_must_match

@pytest.mark.parametrize("version", [4, 5])
def test_clientid_must_match_cn_accepts_the_cn(ib, pki, version):
    cur = LogCursor(ib)
    c = client(pki, ib, "match_cn", version)
    try:
        c.connect(CLIENT_CN)
        assert connect_line(cur, c, "match_cn")[0] == CLIENT_CN
    finally:
        c.close()


@pytest.mark.parametrize("version,rc", [(5, mr.RC_CLIENT_ID_INVALID),
                                        (4, mr.V3_ID_REJECTED)])
@pytest.mark.parametrize("cid", ["device-002", "Device-001", "device-001x", "dev"])
def test_clientid_must_match_cn_refuses_another_id(ib, pki, version, rc, cid):
    cur = LogCursor(ib)
    c = client(pki, ib, "match_cn", version)
    try:
        p = c.connect(cid, expect_rc=rc)
        assert p.rc == rc
        c.expect_closed(timeout=5)
    finally:
        c.close()
    m = cur.wait(r"connection refused: id=%s peer=127\.0\.0\.1:\d+ listener=ssl:match_cn "
                 r"reason=([^\n]*)\(0x85\)" % re.escape(cid))
    assert "certificate" in m.group(1)
    assert not cur.search(r"client connected: id=%s " % re.escape(cid))


@pytest.mark.parametrize("version,rc", [(5, mr.RC_NOT_AUTHORIZED),
                                        (4, mr.V3_NOT_AUTHORIZED)])
def test_clientid_must_match_without_certificate(ib, pki, version, rc):
    """No certificate on a listener that requires the client id to match it:
    not authorized (0x87; v3.1.1: 5)."""
    c = client(pki, ib, "match_cn", version, cert=False)
    try:
        c.connect(CLIENT_CN, expect_rc=rc)
        c.expect_closed(timeout=5)
    finally:
        c.close()


def test_clientid_must_match_san_uri(ib, pki):
    c = client(pki, ib, "match_uri", 5)
    try:
        c.connect("urn:moat:device-001")
    finally:
        c.close()
    c = client(pki, ib, "match_uri", 5)
    try:
        c.connect(CLIENT_CN, expect_rc=mr.RC_CLIENT_ID_INVALID)
    finally:
        c.close()


# ------------------------------------------------------------------ authentication

@pytest.mark.parametrize("version", [4, 5])
def test_verified_certificate_authenticates(ib, pki, version):
    """allow_anonymous = false: a client with a verified certificate and no
    username is let in; the same client without a certificate is not."""
    c = client(pki, ib, "optional", version)
    try:
        c.connect(uniq("certauth"))
        assert c.ping().type == mr.PINGRESP
    finally:
        c.close()
    c = client(pki, ib, "optional", version, cert=False)
    try:
        rc = mr.RC_NOT_AUTHORIZED if version == 5 else mr.V3_NOT_AUTHORIZED
        p = c.connect(uniq("anon"), expect_rc=None)
        assert p.rc in (rc, mr.RC_BAD_USER_PASS if version == 5 else mr.V3_BAD_USER_PASS), p
    finally:
        c.close()
