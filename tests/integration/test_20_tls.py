# SPDX-License-Identifier: Apache-2.0
"""ssl listeners with real TLS clients: one-way TLS with a private CA, two-way
TLS with client certificates, protocol versions and cipher suites, plain MQTT
on the TLS port, the handshake timeout, RSA and ECDSA certificates on one
listener. Every refused handshake must also be logged with its reason.

One broker serves the whole module, with one ssl listener per configuration;
tests look only at the log lines written since they started (LogCursor)."""

import re
import socket
import ssl
import subprocess
import time

import pytest

import mqttraw as mr
from conftest import PahoClient, uniq, wait_until
from tlsutil import (s_client_interactive, CLIENT_DN, MUTUAL, OPTIONAL, LogCursor, client_context, handshake_failure_re,
                     local_port, mosquitto, paho_tls, probe_refused, running_broker, s_client,
                     s_client_cert_sha256, tls_broker_lines, tls_connect)

LISTENERS = {
    "oneway": {},                                          # verify_none (the default)
    "mutual": dict(MUTUAL, cacertfile=True),
    "optional": dict(OPTIONAL, cacertfile=True),
    "tls12": {"tls_versions": "tlsv1.2"},
    "tls13": {"tls_versions": "tlsv1.3"},
    "quick": {"handshake_timeout": "1s"},
    "dual": {"certfile2": "EC", "keyfile2": "EC"},         # RSA + ECDSA on one port
    "strict": {"ecdh_curves": "secp384r1", "ciphersuites": "TLS_AES_256_GCM_SHA384",
               "reuse_sessions": False},
    "partial": dict(MUTUAL, cacertfile="int.pem", partial_chain=True,
                    verify_peer_ext_key_usage="clientAuth"),
    "nopartial": dict(MUTUAL, cacertfile="int.pem"),
    "depth0": dict(MUTUAL, cacertfile=True, depth=0),
    "limited": {"max_connections": 2},
    "reneg": {"tls_versions": "tlsv1.2", "secure_renegotiate": True},
}


@pytest.fixture(scope="module")
def hb(tmp_path_factory, pki):
    listeners = {name: dict(opts) for name, opts in LISTENERS.items()}
    listeners["dual"] = {"certfile2": pki("server-ec-fullchain.pem"),
                         "keyfile2": pki("server-ec.key")}
    for opts in listeners.values():
        if opts.get("cacertfile") == "int.pem":
            opts["cacertfile"] = pki("int.pem")
    lines, ports, tcp_port = tls_broker_lines(pki, listeners)
    with running_broker(tmp_path_factory.mktemp("tlsbroker"), lines, ports, tcp_port) as b:
        yield b


def port(b, name):
    return b.tls_ports[name]


def connect_line_re(cid, peer_port=None, listener=None):
    """The connect log line of a TLS client: groups version, cipher, cert DN."""
    return (r"(?m)client connected: id=%s user=\S+ peer=127\.0\.0\.1:%s listener=ssl:%s .* "
            r"tls=(\S+) (\S+)(?: cert=(.*))?$" % (re.escape(cid), peer_port or r"\d+",
                                                   re.escape(listener) if listener else r"\S+"))


def wait_connect_line(cur, cid, peer_port=None, listener=None):
    return cur.wait(connect_line_re(cid, peer_port, listener))


def tls_raw(pki, b, listener, version=4, **ctx_kw):
    ctx = client_context(pki, **ctx_kw)
    c = mr.RawClient(port(b, listener), version=version, tls=ctx, server_hostname="localhost")
    return c


# ------------------------------------------------------------------ one-way TLS

def test_one_way_openssl_s_client(hb, pki):
    """The client trusts only the root CA (ca.pem): the server must send its
    intermediate (fullchain), negotiate TLS 1.3 and verify."""
    r = s_client(port(hb, "oneway"), "-CAfile", pki("ca.pem"), "-servername", "localhost",
                 "-verify_return_error", "-verify_hostname", "localhost", "-showcerts")
    assert r.returncode == 0, r.out
    assert "Verify return code: 0 (ok)" in r.out, r.out
    assert re.search(r"New, TLSv1\.3, Cipher is TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|"
                     r"CHACHA20_POLY1305_SHA256)", r.out), r.out
    # the chain as sent: leaf, then the intermediate, not the root
    assert re.search(r" 0 s:.*CN ?= ?localhost", r.out), r.out
    assert re.search(r" 1 s:.*CN ?= ?moat Test Intermediate CA", r.out), r.out
    assert not re.search(r" 2 s:", r.out), "server sent more than leaf + intermediate:\n" + r.out
    assert s_client_cert_sha256(r.out) == pki.sha256("server.pem")


def test_one_way_s_client_brief(hb, pki):
    r = s_client(port(hb, "oneway"), "-CAfile", pki("ca.pem"), "-brief",
                 "-verify_return_error")
    assert r.returncode == 0, r.out
    assert "Protocol version: TLSv1.3" in r.out, r.out
    assert "Verification: OK" in r.out, r.out


def test_one_way_python_ssl_root_only(hb, pki):
    ctx = client_context(pki, ca="ca.pem")
    for name in ("localhost", "127.0.0.1"):  # both are in the SAN
        with tls_connect(port(hb, "oneway"), ctx, server_hostname=name) as s:
            assert s.version() == "TLSv1.3"
            assert s.cipher()[0] in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                     "TLS_CHACHA20_POLY1305_SHA256")
            assert s.getpeercert()["subject"] == ((("organizationName", "moat test"),),
                                                  (("commonName", "localhost"),))


def test_one_way_mosquitto_pub_sub(hb, pki):
    cur = LogCursor(hb)
    topic = uniq("tls/mosq/")
    sub_id = uniq("msub")
    sub = subprocess.Popen(["mosquitto_sub", "-h", "localhost", "-p", str(port(hb, "oneway")),
                            "--cafile", pki("ca.pem"), "-i", sub_id, "-t", topic, "-C", "1",
                            "-W", "15", "-q", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_connect_line(cur, sub_id)
        # retained: delivered whether the subscription is already in place or not
        r = mosquitto("mosquitto_pub", port(hb, "oneway"), "--cafile", pki("ca.pem"),
                      "-t", topic, "-m", "hello over tls", "-q", "1", "-r", "-i", uniq("mpub"))
        assert r.returncode == 0, r.out
        out, err = sub.communicate(timeout=15)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
        mosquitto("mosquitto_pub", port(hb, "oneway"), "--cafile", pki("ca.pem"), "-t", topic,
                  "-r", "-n")
    assert sub.returncode == 0, err
    assert out.strip() == "hello over tls"
    m = wait_connect_line(cur, sub_id)
    assert m.group(1) == "TLSv1.3" and m.group(2).startswith("TLS_")
    assert m.group(3) is None  # one-way: no client certificate


@pytest.mark.parametrize("tool_version", ["mqttv311", "mqttv5"])
def test_one_way_mosquitto_127_0_0_1(hb, pki, tool_version):
    """The server certificate has IP:127.0.0.1 in its SAN: connecting by
    address verifies too."""
    r = mosquitto("mosquitto_pub", port(hb, "oneway"), "--cafile", pki("ca.pem"),
                  "-V", tool_version, "-t", uniq("ip/"), "-m", "x", host="127.0.0.1")
    assert r.returncode == 0, r.out


@pytest.mark.parametrize("version", [3, 4, 5])
def test_one_way_paho(hb, pki, version):
    cur = LogCursor(hb)
    topic = uniq("tls/paho/")
    kw = {"tls": paho_tls(pki)}
    sub = PahoClient(port(hb, "oneway"), uniq("psub"), version=version, **kw)
    pub = PahoClient(port(hb, "oneway"), uniq("ppub"), version=version, **kw)
    try:
        sub.connect()
        assert sub.subscribe(topic, 1) == [1]
        pub.connect()
        pub.publish(topic, b"p1", qos=1)
        m = sub.get()
        assert (m.topic, m.payload, m.qos) == (topic, b"p1", 1)
        line = cur.wait(connect_line_re(pub.c._client_id.decode()))
        assert "proto=%d" % version in line.group(0)
    finally:
        sub.stop()
        pub.stop()


def test_client_without_the_ca_refuses_server(hb, pki):
    """A client that trusts another CA rejects the server; the server logs the
    client's alert."""
    cur = LogCursor(hb)
    ctx = client_context(pki, ca="other-ca.pem")
    with pytest.raises(ssl.SSLCertVerificationError) as ei:
        tls_connect(port(hb, "oneway"), ctx)
    assert "unable to get local issuer certificate" in str(ei.value) or \
        "self-signed certificate in certificate chain" in str(ei.value), ei.value
    cur.wait(r"TLS handshake failed: peer=127\.0\.0\.1:\d+ listener=ssl:oneway "
             r"reason=peer_rejected: client rejected the server certificate")


def test_hostname_mismatch_detected_by_client(hb, pki):
    """The certificate is for localhost / 127.0.0.1: a client asking for
    another name must refuse it (openssl, Python ssl), while the chain itself
    verifies."""
    r = s_client(port(hb, "oneway"), "-CAfile", pki("ca.pem"), "-servername", "mqtt.example.org",
                 "-verify_hostname", "mqtt.example.org", "-verify_return_error")
    assert r.returncode != 0, r.out
    assert "hostname mismatch" in r.out, r.out
    ctx = client_context(pki)
    with pytest.raises(ssl.SSLCertVerificationError) as ei:
        tls_connect(port(hb, "oneway"), ctx, server_hostname="mqtt.example.org")
    assert "Hostname mismatch" in str(ei.value), ei.value
    # the same chain, the right name: fine
    r = s_client(port(hb, "oneway"), "-CAfile", pki("ca.pem"), "-servername", "localhost",
                 "-verify_hostname", "localhost", "-verify_return_error")
    assert r.returncode == 0 and "Verify return code: 0 (ok)" in r.out, r.out


# ------------------------------------------------------------------ two-way TLS

def test_two_way_client_certificate_accepted_mosquitto(hb, pki):
    cur = LogCursor(hb)
    cid = uniq("dev")
    r = mosquitto("mosquitto_pub", port(hb, "mutual"), "--cafile", pki("ca.pem"),
                  "--cert", pki("client-fullchain.pem"), "--key", pki("client.key"),
                  "-i", cid, "-t", uniq("mt/"), "-m", "x", "-q", "1")
    assert r.returncode == 0, r.out
    m = wait_connect_line(cur, cid, listener="mutual")
    assert m.group(1) == "TLSv1.3"
    assert m.group(3) == CLIENT_DN


@pytest.mark.parametrize("version", [4, 5])
def test_two_way_client_certificate_accepted_raw_and_paho(hb, pki, version):
    cur = LogCursor(hb)
    c = tls_raw(pki, hb, "mutual", version=version, cert="client-fullchain.pem",
                key="client.key")
    try:
        cid = uniq("rawdev")
        c.connect(cid)
        m = wait_connect_line(cur, cid, local_port(c), "mutual")
        assert m.group(3) == CLIENT_DN
        assert c.ping().type == mr.PINGRESP
    finally:
        c.close()
    p = PahoClient(port(hb, "mutual"), uniq("pahodev"), version=version,
                   tls=paho_tls(pki, "client-fullchain.pem", "client.key"))
    try:
        p.connect()
        t = uniq("mt/paho/")
        p.subscribe(t, 1)
        p.publish(t, b"mine", qos=1)
        assert p.get().payload == b"mine"
    finally:
        p.stop()


@pytest.mark.parametrize("maxv", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_two_way_no_client_certificate_refused(hb, pki, maxv):
    cur = LogCursor(hb)
    err = probe_refused(port(hb, "mutual"), client_context(pki, max_version=maxv))
    assert err is not None, "server accepted a client without a certificate"
    m = cur.wait(handshake_failure_re("mutual", "no_client_cert"))
    assert m.group(1), "no explanation"
    assert not cur.search(r"client connected: .*listener=ssl:mutual")


def test_two_way_no_client_certificate_mosquitto(hb, pki):
    cur = LogCursor(hb)
    r = mosquitto("mosquitto_pub", port(hb, "mutual"), "--cafile", pki("ca.pem"),
                  "-t", uniq("nc/"), "-m", "x")
    assert r.returncode != 0, r.out
    cur.wait(handshake_failure_re("mutual", "no_client_cert"))


def test_two_way_other_ca_refused(hb, pki):
    cur = LogCursor(hb)
    r = mosquitto("mosquitto_pub", port(hb, "mutual"), "--cafile", pki("ca.pem"),
                  "--cert", pki("other-client.pem"), "--key", pki("other-client.key"),
                  "-t", uniq("oc/"), "-m", "x")
    assert r.returncode != 0, r.out
    m = cur.wait(handshake_failure_re("mutual", "unknown_ca", detail="CN=intruder"))
    assert "CN=intruder" in m.group(1) and "Unrelated Test CA" in m.group(1), m.group(0)
    err = probe_refused(port(hb, "mutual"), client_context(pki, cert="other-client.pem",
                                                           key="other-client.key"))
    assert err is not None


def test_two_way_leaf_without_intermediate_names_the_issuer(hb, pki):
    """cacertfile holds only the root: a client that sends its leaf without the
    intermediate cannot be verified; the log names the missing issuer."""
    cur = LogCursor(hb)
    err = probe_refused(port(hb, "mutual"), client_context(pki, cert="client.pem",
                                                           key="client.key"))
    assert err is not None
    m = cur.wait(handshake_failure_re("mutual", "unknown_ca", detail="moat Test Intermediate CA"))
    assert "moat Test Intermediate CA" in m.group(1), m.group(0)


def test_two_way_expired_client_certificate_refused(hb, pki):
    cur = LogCursor(hb)
    r = mosquitto("mosquitto_pub", port(hb, "mutual"), "--cafile", pki("ca.pem"),
                  "--cert", pki("client-expired-fullchain.pem"),
                  "--key", pki("client-expired.key"), "-t", uniq("ex/"), "-m", "x")
    assert r.returncode != 0, r.out
    m = cur.wait(handshake_failure_re("mutual", "cert_expired"))
    assert "device-old" in m.group(1) and "2021-01-01" in m.group(1), m.group(0)


def test_verify_peer_without_fail_if_no_peer_cert(hb, pki):
    """verify_peer + fail_if_no_peer_cert = false: a client without a
    certificate is accepted, one with a good certificate is identified, one
    with a bad certificate is still refused."""
    cur = LogCursor(hb)
    c = tls_raw(pki, hb, "optional")
    cid = uniq("nocert")
    try:
        c.connect(cid)
        m = wait_connect_line(cur, cid, local_port(c), "optional")
        assert m.group(3) is None
    finally:
        c.close()
    c = tls_raw(pki, hb, "optional", cert="client-fullchain.pem", key="client.key")
    cid = uniq("withcert")
    try:
        c.connect(cid)
        m = wait_connect_line(cur, cid, local_port(c), "optional")
        assert m.group(3) == CLIENT_DN
    finally:
        c.close()
    r = mosquitto("mosquitto_pub", port(hb, "optional"), "--cafile", pki("ca.pem"),
                  "-t", uniq("opt/"), "-m", "x")
    assert r.returncode == 0, r.out
    err = probe_refused(port(hb, "optional"), client_context(pki, cert="other-client.pem",
                                                             key="other-client.key"))
    assert err is not None, "a certificate from an unknown CA was accepted"
    cur.wait(handshake_failure_re("optional", "unknown_ca"))


# ------------------------------------------------------------------ versions, ciphers

def test_tls12_only_listener(hb, pki):
    cur = LogCursor(hb)
    c = tls_raw(pki, hb, "tls12")
    try:
        assert c.sock.version() == "TLSv1.2"
        cid = uniq("t12")
        c.connect(cid)
        m = wait_connect_line(cur, cid, local_port(c), "tls12")
        assert m.group(1) == "TLSv1.2"
        # OpenSSL or IANA spelling of an ECDHE AEAD suite
        assert re.match(r"(ECDHE-RSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)|"
                        r"TLS_ECDHE_RSA_WITH_(AES_(128|256)_GCM_SHA(256|384)|"
                        r"CHACHA20_POLY1305_SHA256))$", m.group(2)), m.group(2)
    finally:
        c.close()
    ctx = client_context(pki, min_version=ssl.TLSVersion.TLSv1_3)
    with pytest.raises(ssl.SSLError):
        tls_connect(port(hb, "tls12"), ctx)
    cur.wait(handshake_failure_re("tls12", "version_mismatch"))
    r = s_client(port(hb, "tls12"), "-CAfile", pki("ca.pem"), "-tls1_3")
    assert r.returncode != 0, r.out


def test_tls13_only_listener(hb, pki):
    cur = LogCursor(hb)
    with tls_connect(port(hb, "tls13"), client_context(pki)) as s:
        assert s.version() == "TLSv1.3"
    ctx = client_context(pki, max_version=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(ssl.SSLError):
        tls_connect(port(hb, "tls13"), ctx)
    m = cur.wait(handshake_failure_re("tls13", "version_mismatch"))
    assert "1.2" in m.group(1), m.group(0)
    r = s_client(port(hb, "tls13"), "-CAfile", pki("ca.pem"), "-tls1_2")
    assert r.returncode != 0, r.out
    # (mosquitto's --tls-version tlsv1.2 means "1.2 or later", so it cannot
    # force 1.2; only its tlsv1.3 is checked)
    r = mosquitto("mosquitto_pub", port(hb, "tls13"), "--cafile", pki("ca.pem"),
                  "--tls-version", "tlsv1.3", "-t", uniq("v/"), "-m", "x")
    assert r.returncode == 0, r.out


@pytest.mark.parametrize("opt", ["-tls1", "-tls1_1"])
@pytest.mark.parametrize("listener", ["oneway", "tls12"])
def test_no_tls10_or_11_ever(hb, pki, opt, listener):
    cur = LogCursor(hb)
    # SECLEVEL=0 so that the client really offers the old version
    r = s_client(port(hb, listener), "-CAfile", pki("ca.pem"), opt,
                 "-cipher", "DEFAULT:@SECLEVEL=0")
    assert r.returncode != 0, r.out
    assert not re.search(r"New, TLSv1(\.[01])?, Cipher is [A-Z]", r.out), r.out
    cur.wait(handshake_failure_re(listener, "version_mismatch"))


@pytest.mark.parametrize("cipher", ["ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384",
                                    "ECDHE-RSA-AES128-SHA256", "AES128-SHA256", "AES128-SHA",
                                    "DHE-RSA-AES128-SHA256"])
def test_tls12_cbc_cipher_refused(hb, pki, cipher):
    """Secure defaults: only AEAD suites in TLS 1.2; a CBC suite offered alone
    fails with cipher_mismatch."""
    cur = LogCursor(hb)
    r = s_client(port(hb, "oneway"), "-CAfile", pki("ca.pem"), "-tls1_2", "-cipher", cipher)
    assert r.returncode != 0, r.out
    cur.wait(handshake_failure_re("oneway", "cipher_mismatch"))
    ctx = client_context(pki, max_version=ssl.TLSVersion.TLSv1_2, ciphers=cipher)
    with pytest.raises(ssl.SSLError):
        tls_connect(port(hb, "oneway"), ctx)


@pytest.mark.parametrize("cipher", ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                                    "ECDHE-RSA-CHACHA20-POLY1305"])
def test_tls12_aead_cipher_accepted(hb, pki, cipher):
    r = s_client(port(hb, "oneway"), "-CAfile", pki("ca.pem"), "-tls1_2", "-cipher", cipher,
                 "-verify_return_error")
    assert r.returncode == 0, r.out
    assert "New, TLSv1.2, Cipher is %s" % cipher in r.out, r.out
    assert "Compression: NONE" in r.out, r.out


def test_tls12_aead_without_forward_secrecy_refused(hb, pki):
    """AES-GCM with RSA key exchange (no ECDHE) is not among the defaults."""
    cur = LogCursor(hb)
    r = s_client(port(hb, "oneway"), "-CAfile", pki("ca.pem"), "-tls1_2",
                 "-cipher", "AES128-GCM-SHA256")
    assert r.returncode != 0, r.out
    cur.wait(handshake_failure_re("oneway", "cipher_mismatch"))


def test_tls12_session_resumption(hb, pki, tmp_path):
    """reuse_sessions (default true): a TLS 1.2 client resumes its session."""
    sess = str(tmp_path / "sess.pem")
    r = s_client(port(hb, "tls12"), "-CAfile", pki("ca.pem"), "-sess_out", sess)
    assert r.returncode == 0, r.out
    r = s_client(port(hb, "tls12"), "-CAfile", pki("ca.pem"), "-sess_in", sess)
    assert r.returncode == 0, r.out
    assert "Reused, TLSv1.2" in r.out, r.out


# ------------------------------------------------------------------ not TLS, timeout

def read_until_close(sock, timeout):
    data = b""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


@pytest.mark.parametrize("version", [4, 5])
def test_plain_mqtt_to_tls_port(hb, version):
    cur = LogCursor(hb)
    s = socket.create_connection(("127.0.0.1", port(hb, "oneway")), timeout=5)
    try:
        s.sendall(mr.connect(uniq("plain"), version=version))
        data, closed = read_until_close(s, 5.0)
        mine = s.getsockname()[1]
    finally:
        s.close()
    assert closed, "server kept a plain MQTT client on its TLS port open"
    assert not data.startswith(b"\x20"), "server answered plain MQTT with a CONNACK: %r" % data
    m = cur.wait(handshake_failure_re("oneway", "not_tls", mine))
    assert "plain MQTT" in m.group(1), m.group(0)


@pytest.mark.parametrize("data,words", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "plain HTTP"),
    (b"PROXY TCP4 10.0.0.1 10.0.0.2 1234 8883\r\n", "PROXY protocol"),
    (b"hello\n", "not TLS"),
], ids=["http", "proxy", "text"])
def test_other_plain_protocols_to_tls_port(hb, data, words):
    cur = LogCursor(hb)
    s = socket.create_connection(("127.0.0.1", port(hb, "oneway")), timeout=5)
    try:
        s.sendall(data)
        _, closed = read_until_close(s, 5.0)
        mine = s.getsockname()[1]
    finally:
        s.close()
    assert closed
    m = cur.wait(handshake_failure_re("oneway", "not_tls", mine))
    assert words in m.group(1), m.group(0)


def test_plain_mosquitto_to_tls_port(hb):
    cur = LogCursor(hb)
    r = mosquitto("mosquitto_pub", port(hb, "oneway"), "-t", uniq("p/"), "-m", "x")
    assert r.returncode != 0, r.out
    cur.wait(handshake_failure_re("oneway", "not_tls"))


@pytest.mark.parametrize("send", [b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"],
                         ids=["nothing", "partial_client_hello"])
def test_handshake_timeout(hb, send):
    """A client that does not finish the handshake is dropped after
    handshake_timeout (1s on this listener)."""
    cur = LogCursor(hb)
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port(hb, "quick")), timeout=5)
    try:
        if send:
            s.sendall(send)
        mine = s.getsockname()[1]
        data, closed = read_until_close(s, 6.0)
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    assert closed, "server did not drop a silent client within 6s"
    assert 0.8 <= elapsed <= 3.5, "dropped after %.2fs, handshake_timeout is 1s" % elapsed
    cur.wait(handshake_failure_re("quick", "timeout", mine))


def test_handshake_timeout_is_per_listener(hb):
    """The default (15s) listener does not drop a silent client after 1.5s."""
    s = socket.create_connection(("127.0.0.1", port(hb, "oneway")), timeout=5)
    try:
        data, closed = read_until_close(s, 1.5)
    finally:
        s.close()
    assert not closed


def test_tls_client_to_plain_port_fails_cleanly(hb, pki):
    """TLS to the plain MQTT port: the handshake fails on the client, the
    broker keeps running."""
    with pytest.raises((ssl.SSLError, OSError)):
        tls_connect(hb.port, client_context(pki), timeout=5)
    c = hb.raw(4)
    c.connect(uniq("after"))


# ------------------------------------------------------------------ RSA + ECDSA

@pytest.mark.parametrize("args,want", [
    (["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"], "server-ec.pem"),
    (["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], "server.pem"),
    (["-tls1_3", "-sigalgs", "ECDSA+SHA256"], "server-ec.pem"),
    (["-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256"], "server.pem"),
], ids=["tls12-ecdsa", "tls12-rsa", "tls13-ecdsa", "tls13-rsa"])
def test_rsa_and_ecdsa_on_one_listener(hb, pki, args, want):
    """certfile (RSA) + certfile2 (ECDSA): each client gets the certificate it
    can use."""
    r = s_client(port(hb, "dual"), "-CAfile", pki("ca.pem"), "-verify_return_error", *args)
    assert r.returncode == 0, r.out
    assert s_client_cert_sha256(r.out) == pki.sha256(want)


def test_handshake_failures_do_not_disturb_established_clients(hb, pki):
    """A burst of failing handshakes next to a working TLS connection."""
    c = tls_raw(pki, hb, "mutual", cert="client-fullchain.pem", key="client.key")
    try:
        c.connect(uniq("steady"))
        t = uniq("steady/")
        c.subscribe([(t, 1)])
        for _ in range(10):
            assert probe_refused(port(hb, "mutual"), client_context(pki)) is not None
            s = socket.create_connection(("127.0.0.1", port(hb, "mutual")), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\n\r\n")
            s.close()
        c.publish(t, b"still here", qos=1)
        assert c.recv_publish().payload == b"still here"
    finally:
        c.close()
    wait_until(lambda: hb.alive(), 1)


# ------------------------------------------------------------------ TLS options

def test_ecdh_curves_and_ciphersuites(hb, pki):
    """ecdh_curves = secp384r1, ciphersuites = TLS_AES_256_GCM_SHA384: a
    client without them fails (cipher_mismatch, naming the setting), one
    with them gets exactly them."""
    cur = LogCursor(hb)
    r = s_client(port(hb, "strict"), "-CAfile", pki("ca.pem"), "-groups", "X25519")
    assert r.returncode != 0, r.out
    m = cur.wait(handshake_failure_re("strict", "cipher_mismatch"))
    assert "ecdh_curves" in m.group(1), m.group(0)
    cur = LogCursor(hb)
    r = s_client(port(hb, "strict"), "-CAfile", pki("ca.pem"), "-ciphersuites",
                 "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256")
    assert r.returncode != 0, r.out
    m = cur.wait(handshake_failure_re("strict", "cipher_mismatch"))
    assert "ciphersuites" in m.group(1), m.group(0)
    r = s_client(port(hb, "strict"), "-CAfile", pki("ca.pem"), "-verify_return_error")
    assert r.returncode == 0, r.out
    assert "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" in r.out, r.out
    assert re.search(r"Server Temp Key: ECDH, (secp384r1|P-384)", r.out), r.out


def mqtt_session_over_tls(port, ctx, session=None):
    """Connect (resuming session when given), do an MQTT CONNECT/CONNACK so
    that TLS 1.3 tickets sent after the handshake are read; returns
    (reused, the TLS session for a next connection)."""
    with tls_connect(port, ctx, session=session) as s:
        s.sendall(mr.connect(uniq("resume"), version=4))
        assert s.recv(4) == b"\x20\x02\x00\x00"
        return s.session_reused, s.session


@pytest.mark.parametrize("maxv", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_session_resumption(hb, pki, maxv):
    """reuse_sessions (default true): a client resumes its session (TLS 1.3
    ticket, TLS 1.2 session); the resumed connection is a full MQTT one."""
    ctx = client_context(pki, max_version=maxv)
    reused, sess = mqtt_session_over_tls(port(hb, "oneway"), ctx)
    assert not reused and sess is not None
    reused, _ = mqtt_session_over_tls(port(hb, "oneway"), ctx, session=sess)
    assert reused, "session not resumed"


@pytest.mark.parametrize("maxv", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_reuse_sessions_false(hb, pki, maxv):
    """reuse_sessions = false: no ticket, no session id; nothing resumes."""
    ctx = client_context(pki, max_version=maxv)
    reused, sess = mqtt_session_over_tls(port(hb, "strict"), ctx)
    assert not sess.has_ticket and not sess.id, "the server offered a session to resume"
    reused, _ = mqtt_session_over_tls(port(hb, "strict"), ctx, session=sess)
    assert not reused


def test_partial_chain_and_client_eku(hb, pki):
    """cacertfile = the intermediate only + partial_chain: its clients are
    verified without the root; verify_peer_ext_key_usage = clientAuth turns
    away a certificate made for servers."""
    cur = LogCursor(hb)
    c = tls_raw(pki, hb, "partial", cert="client.pem", key="client.key")
    try:
        cid = uniq("partial")
        c.connect(cid)
        assert wait_connect_line(cur, cid, local_port(c), "partial").group(3) == CLIENT_DN
    finally:
        c.close()
    err = probe_refused(port(hb, "partial"), client_context(pki, cert="server-fullchain.pem",
                                                            key="server.key"))
    assert err is not None, "a serverAuth-only certificate was accepted as a client certificate"
    m = cur.wait(handshake_failure_re("partial", "bad_client_cert"))
    assert "extended key usage" in m.group(1), m.group(0)


def test_intermediate_as_ca_without_partial_chain(hb, pki):
    """The same cacertfile without partial_chain: the intermediate alone is
    not a trust anchor (start-up warned: ca_no_root)."""
    cur = LogCursor(hb)
    assert re.search(r"\[warning\] listener ssl:nopartial: .*\[ca_no_root\]", hb.log)
    err = probe_refused(port(hb, "nopartial"), client_context(pki, cert="client-fullchain.pem",
                                                              key="client.key"))
    assert err is not None
    cur.wait(r"TLS handshake failed: peer=\S+ listener=ssl:nopartial reason=")


def test_depth(hb, pki):
    """depth = 0: a client certificate issued by an intermediate is too deep."""
    cur = LogCursor(hb)
    err = probe_refused(port(hb, "depth0"), client_context(pki, cert="client-fullchain.pem",
                                                           key="client.key"))
    assert err is not None
    m = cur.wait(handshake_failure_re("depth0", "bad_client_cert"))
    assert "depth" in m.group(1), m.group(0)


def test_max_connections_on_ssl_listener(hb, pki):
    a, b = tls_raw(pki, hb, "limited"), tls_raw(pki, hb, "limited")
    c = tls_raw(pki, hb, "limited", version=5)
    try:
        a.connect(uniq("lim"))
        b.connect(uniq("lim"))
        c.connect(uniq("lim"), expect_rc=mr.RC_QUOTA_EXCEEDED)
    finally:
        for x in (a, b, c):
            x.close()


CONNECT_AB = mr.connect("ab-%d" % time.monotonic_ns(), version=4)


def test_tls13_key_update(hb, pki):
    """A TLS 1.3 KeyUpdate in the middle of an MQTT session: the session goes
    on (PINGREQ answered before and after)."""
    out = s_client_interactive(port(hb, "oneway"), ["-CAfile", pki("ca.pem"), "-tls1_3"],
                               [(CONNECT_AB, 1.0), (b"\xc0\x00", 0.5), (b"K\n", 0.5),
                                (b"\xc0\x00", 1.0)])
    tail = out[out.find(b"Verify return code"):]
    assert b" \x02\x00\x00" in tail, out[-500:]
    assert b"KEYUPDATE" in tail, out[-500:]
    after = tail[tail.find(b"KEYUPDATE"):]
    assert tail.count(b"\xd0\x00") == 2 and b"\xd0\x00" in after, tail


def test_client_renegotiation_refused_by_default(hb, pki):
    cur = LogCursor(hb)
    out = s_client_interactive(port(hb, "tls12"), ["-CAfile", pki("ca.pem")],
                               [(CONNECT_AB, 1.0), (b"R\n", 1.0), (b"\xc0\x00", 1.0)])
    tail = out[out.find(b"Verify return code"):]
    assert b" \x02\x00\x00" in tail, out[-500:]
    assert b"RENEGOTIATING" in tail, out[-500:]
    assert b"\xd0\x00" not in tail, "renegotiation went through: %r" % tail
    assert hb.alive()
    cur.wait(r"client disconnected: id=ab-")


def test_renegotiation_allowed_with_secure_renegotiate(hb, pki):
    out = s_client_interactive(port(hb, "reneg"), ["-CAfile", pki("ca.pem")],
                               [(CONNECT_AB, 1.0), (b"R\n", 1.0), (b"\xc0\x00", 1.0)])
    tail = out[out.find(b"Verify return code"):]
    assert b"RENEGOTIATING" in tail, out[-500:]
    assert b"\xd0\x00" in tail[tail.find(b"RENEGOTIATING"):], tail
