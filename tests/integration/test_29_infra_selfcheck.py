# SPDX-License-Identifier: Apache-2.0
"""Self-check of the harness for the WebSocket and PROXY protocol tests
(nodeutil.py, tests/node/), against Mosquitto 2.0.11 rather than moat, so that
a failure here is the harness's, not the broker's:

- MQTT.js in Node.js over ws and wss, MQTT 3.1.1 and 5, alone and as a
  background subscriber fed by mosquitto_pub;
- MQTT.js in headless Chromium over wss, the test CA's server certificate
  trusted by its SPKI hash only, receiving what mosquitto_pub sends;
- HAProxy terminating TLS (client certificates verified at HAProxy) in front
  of Mosquitto's plain TCP and WebSocket listeners, and the PROXY headers it
  sends (v1, v2 with the SSL TLV and the client's CN), read by ProxyCapture
  since Mosquitto 2.0.11 does not speak PROXY.
"""

import os
import pwd
import shutil
import socket

import pytest

from conftest import uniq
from nodeutil import (Daemon, ProxyCapture, chromium, haproxy_factory, mqttjs,  # noqa: F401
                      need_chromium, need_node, run_mqttjs, spki_hash)
from tlsutil import free_ports, mosquitto, pki  # noqa: F401


def mosquitto_bin():
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                         if os.access("/usr/sbin/mosquitto", os.X_OK) else None)


class Mosquitto(Daemon):
    """Mosquitto with a TCP, a WebSocket and a WebSocket-over-TLS listener.
    (2.0.11 binds its WebSocket listeners to every address, whatever the
    listener line says; only 127.0.0.1 is used here.)"""

    name = "mosquitto"

    def start(self, pki):
        self.tcp, self.ws, self.wss = free_ports(3)
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join([
            # As root it would switch to user "mosquitto", who cannot read the
            # test PKI's keys: stay who we are.
            "user %s" % pwd.getpwuid(os.getuid()).pw_name,
            "per_listener_settings false",
            "allow_anonymous true",
            "persistence false",
            "log_dest stderr",
            "log_type all",
            "listener %d 127.0.0.1" % self.tcp,
            "listener %d 127.0.0.1" % self.ws,
            "protocol websockets",
            "listener %d 127.0.0.1" % self.wss,
            "protocol websockets",
            "certfile %s" % pki("server-fullchain.pem"),
            "keyfile %s" % pki("server.key"),
        ]) + "\n")
        return self.spawn([mosquitto_bin(), "-c", str(conf)], [self.tcp, self.ws, self.wss])


@pytest.fixture(scope="module")
def mosq(tmp_path_factory, pki):  # noqa: F811
    if not mosquitto_bin():
        if os.environ.get("CI"):
            pytest.fail("mosquitto not installed (bash scripts/deps.sh test)")
        pytest.skip("mosquitto not installed (bash scripts/deps.sh test)")
    m = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    m.start(pki)
    yield m
    died = m.proc.poll()
    m.stop()
    if died is not None:
        print(m.log_tail())
        pytest.fail("mosquitto died during the module (exit status %s)" % died)


def pub(port, topic, message, *extra):
    r = mosquitto("mosquitto_pub", port, "-t", topic, "-m", message, *extra, host="127.0.0.1")
    assert r.returncode == 0, r.out


# ------------------------------------------------------------ MQTT.js in Node

@pytest.mark.parametrize("scheme", ["ws", "wss"])
@pytest.mark.parametrize("version", [4, 5])
def test_mqttjs_pubsub(mosq, pki, scheme, version):  # noqa: F811
    """MQTT.js subscribes, publishes 3 QoS 1 messages to itself and gets them."""
    need_node()
    port = mosq.ws if scheme == "ws" else mosq.wss
    t = uniq("self/mqttjs/")
    args = ["--url", "%s://127.0.0.1:%d/mqtt" % (scheme, port),
            "--protocol-version", version, "--client-id", uniq("mj"),
            "--sub", t, "--pub", t, "--message", "m{n}", "--count", 3, "--qos", 1,
            "--expect", 3]
    if scheme == "wss":
        args += ["--ca", pki("ca.pem")]
    rc, ev = run_mqttjs(args, timeout=10)
    assert rc == 0, str(ev)
    assert ev.first("connect")["reason_code"] == 0
    assert ev.first("subscribed")["granted"] == [{"topic": t, "qos": 1}]
    assert sorted(ev.payloads()) == ["m1", "m2", "m3"]
    assert all(m["qos"] == 1 and not m["retain"] for m in ev.of("message"))
    assert ev.first("published")["count"] == 3
    assert ev[-1] == {"event": "done", "ok": True, "received": 3}


def test_mqttjs_background_subscriber(mosq, pki, mqttjs):  # noqa: F811
    """A background MQTT.js subscriber over wss (v5) receives a retained and
    a live message that mosquitto_pub sends over TCP."""
    t = uniq("self/bg/")
    pub(mosq.tcp, t, "kept", "-r")
    sub = mqttjs(["--url", "wss://127.0.0.1:%d/mqtt" % mosq.wss, "--ca", pki("ca.pem"),
                  "--protocol-version", 5, "--sub", t, "--qos", 1, "--expect", 2])
    sub.wait_subscribed()
    pub(mosq.tcp, t, "live", "-q", "1")
    rc, ev = sub.wait()
    assert rc == 0, str(ev)
    msgs = [(m["payload"], m["retain"]) for m in ev.of("message")]
    assert msgs == [("kept", True), ("live", False)]
    pub(mosq.tcp, t, "", "-r")  # clear the retained message


def test_mqttjs_failures(mosq):
    """Failures are reported as error events and exit status 1, in time: an
    untrusted server certificate, a closed port, nothing arriving."""
    need_node()
    rc, ev = run_mqttjs(["--url", "wss://127.0.0.1:%d/mqtt" % mosq.wss], timeout=5)
    assert rc == 1 and ev.first("connect") is None, str(ev)
    assert any("certificate" in e for e in ev.errors()), str(ev)

    closed = free_ports(1)[0]
    rc, ev = run_mqttjs(["--url", "ws://127.0.0.1:%d/mqtt" % closed], timeout=5)
    assert rc == 1 and any(e.get("code") == "ECONNREFUSED" for e in ev.of("error")), str(ev)

    rc, ev = run_mqttjs(["--url", "ws://127.0.0.1:%d/mqtt" % mosq.ws, "--sub", uniq("self/none/"),
                         "--expect", 1, "--timeout", 700], timeout=5)
    assert rc == 1, str(ev)
    assert ev.first("subscribed") is not None
    assert any("timeout after 700 ms" in e for e in ev.errors()), str(ev)
    assert ev[-1]["event"] == "done" and ev[-1]["ok"] is False


# ------------------------------------------------------------ Chromium

def test_chromium_wss(mosq, pki, chromium, tmp_path):  # noqa: F811
    """The test page in Chromium connects over wss (the server certificate
    trusted by its SPKI hash), subscribes, and shows what mosquitto_pub sends."""
    need_chromium()
    t = uniq("self/browser/")
    shot = tmp_path / "page.png"
    run = chromium.start(url="wss://127.0.0.1:%d/mqtt" % mosq.wss, topic=t,
                         expect=["hello from mosquitto_pub"],
                         spki=[spki_hash(pki("server.pem"))], screenshot=shot, timeout=30)
    run.wait_ready()
    pub(mosq.tcp, t, "hello from mosquitto_pub")
    rc, result, ev = run.wait_result()
    assert rc == 0, str(ev)
    assert result["ok"] and result["status"] == "connected", str(ev)
    assert result["messages"] == [{"topic": t, "text": "hello from mosquitto_pub", "qos": 0}]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_chromium_wss_untrusted(mosq, chromium):  # noqa: F811
    """Without the SPKI hash Chromium refuses the test CA: the page says error."""
    need_chromium()
    rc, result, ev = chromium.run(url="wss://127.0.0.1:%d/mqtt" % mosq.wss,
                                  topic=uniq("self/browser/"), expect_status="error",
                                  timeout=20)
    assert rc == 0, str(ev)
    assert result["status"].startswith("error:"), str(ev)
    assert any("ERR_CERT_AUTHORITY_INVALID" in e.get("text", "") for e in ev.of("console")), \
        str(ev)


# ------------------------------------------------------------ HAProxy

def test_haproxy_tls_termination(mosq, pki, haproxy_factory):  # noqa: F811
    """HAProxy terminates TLS and checks client certificates in front of
    Mosquitto's TCP and WebSocket listeners: a client with a certificate of
    the test CA gets through (mqtts, and wss offloaded to ws); one without a
    certificate, or with one of another CA, is refused at HAProxy."""
    need_node()
    h = haproxy_factory()
    crt = h.crt(pki("server-fullchain.pem"), pki("server.key"))
    # ca-bundle.pem: root + intermediate, since client.pem is a bare leaf.
    mqtts = h.frontend(mosq.tcp, crt=crt, ca_file=pki("ca-bundle.pem"), verify="required")
    wss = h.frontend(mosq.ws, crt=crt, ca_file=pki("ca-bundle.pem"), verify="required")
    h.start()
    tls = ["--ca", pki("ca.pem")]
    cert = ["--cert", pki("client.pem"), "--key", pki("client.key")]

    t = uniq("self/haproxy/")
    for url in ("mqtts://127.0.0.1:%d" % mqtts, "wss://127.0.0.1:%d/mqtt" % wss):
        rc, ev = run_mqttjs(["--url", url, "--protocol-version", 5, "--sub", t, "--pub", t,
                             "--message", "via haproxy", "--expect", 1] + tls + cert, timeout=10)
        assert rc == 0, "%s\nhaproxy log:\n%s" % (ev, h.log_tail())
        assert ev.payloads() == ["via haproxy"]

    rc, ev = run_mqttjs(["--url", "mqtts://127.0.0.1:%d" % mqtts] + tls, timeout=5)
    assert rc == 1 and ev.first("connect") is None, str(ev)
    assert any("certificate required" in e for e in ev.errors()), str(ev)

    rc, ev = run_mqttjs(["--url", "mqtts://127.0.0.1:%d" % mqtts, "--cert",
                         pki("other-client.pem"), "--key", pki("other-client.key")] + tls,
                        timeout=5)
    assert rc == 1 and ev.first("connect") is None, str(ev)
    assert any("unknown ca" in e for e in ev.errors()), str(ev)

    log = h.log
    assert "SSL handshake failure" in log, log
    assert "SSL client certificate not trusted" in log, log
    assert h.alive()


def test_haproxy_proxy_headers(pki, haproxy_factory):  # noqa: F811
    """The PROXY headers HAProxy sends, as a PROXY-aware broker will read
    them: v1 and v2 from a plain TCP frontend, v2 with the SSL TLV and the
    client certificate's CN from a TLS one (verify optional)."""
    cap = ProxyCapture()
    try:
        h = haproxy_factory()
        crt = h.crt(pki("server-fullchain.pem"), pki("server.key"))
        v1 = h.frontend(cap.port, proxy="v1")
        v2 = h.frontend(cap.port, proxy="v2")
        cn = h.frontend(cap.port, crt=crt, ca_file=pki("ca-bundle.pem"), verify="optional",
                        proxy="v2-ssl-cn")
        h.start()

        for n, port in enumerate((v1, v2), 1):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"\x10\x00")  # haproxy connects to the backend on data
                src_port = s.getsockname()[1]
                hdr = cap.wait(n)[n - 1]
            assert hdr.get("version") == n, hdr
            assert hdr["family"] == "TCP4" and hdr["command"] == "PROXY", hdr
            assert (hdr["src"], hdr["sport"]) == ("127.0.0.1", src_port), hdr
            assert (hdr["dst"], hdr["dport"]) == ("127.0.0.1", port), hdr
            assert hdr["rest"].startswith(b"\x10\x00"), hdr

        # With a client certificate: SSL TLV, flags SSL|CERT_CONN|CERT_SESS
        # (0x07), verify 0 (ok), CN of the certificate.
        need_node()
        rc, ev = run_mqttjs(["--url", "mqtts://127.0.0.1:%d" % cn, "--ca", pki("ca.pem"),
                             "--cert", pki("client.pem"), "--key", pki("client.key"),
                             "--timeout", 1500], timeout=5)
        assert rc == 1, str(ev)  # the capture backend answers nothing
        hdr = cap.wait(3)[2]
        assert hdr.get("version") == 2, hdr
        assert hdr["ssl"] is not None, hdr
        assert hdr["ssl"]["client"] == 0x07 and hdr["ssl"]["verify"] == 0, hdr
        assert hdr["ssl"]["cn"] == "device-001", hdr
        assert hdr["ssl"]["version"].startswith("TLSv1."), hdr
        assert hdr["rest"][:1] == b"\x10", hdr  # the client's CONNECT follows

        # Without one: the SSL TLV says TLS, no certificate, no CN.
        rc, ev = run_mqttjs(["--url", "mqtts://127.0.0.1:%d" % cn, "--ca", pki("ca.pem"),
                             "--timeout", 1500], timeout=5)
        hdr = cap.wait(4)[3]
        assert hdr["ssl"] is not None and hdr["ssl"]["client"] == 0x01, hdr
        assert "cn" not in hdr["ssl"], hdr
    finally:
        cap.close()
