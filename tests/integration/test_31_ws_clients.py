# SPDX-License-Identifier: Apache-2.0
"""moat with the real clients and the real balancer of issue 5:

- MQTT.js (npm `mqtt`) in Node.js over ws and wss, MQTT 3.1.1 and 5.0, and
  messages both ways between it and mosquitto_pub / mosquitto_sub over tcp
  and ssl;
- a real browser: headless Chromium loads a local page whose MQTT.js
  connects over wss, subscribes and shows what mosquitto_pub sends over
  8883-style TLS; the screenshot is kept in build/test-artifacts/;
- HAProxy terminating two-way TLS in front of moat with
  send-proxy-v2-ssl-cn: the MQTT username becomes the client certificate's
  CN; a client without a certificate is refused at HAProxy; PROXY v1 from
  send-proxy works too, and so does wss offloaded to a ws listener."""

import os
import threading
from pathlib import Path

import pytest

import mqttraw as mr
from conftest import uniq
from nodeutil import (chromium, haproxy_factory, mqttjs, need_chromium, need_node,  # noqa: F401
                      run_mqttjs, spki_hash)
from tlsutil import LogCursor, mosquitto, running_broker, tls_broker_lines

ARTIFACTS = Path(os.environ.get("MOAT_ARTIFACT_DIR") or
                 Path(__file__).resolve().parents[2] / "build" / "test-artifacts")

LISTENERS = {
    "ws": {"ltype": "ws"},
    "wss": {"ltype": "wss"},
    "ssl": {"ltype": "ssl"},
    # behind HAProxy
    "lbcn": {"ltype": "tcp", "proxy_protocol": True, "peer_cert_as_username": "cn"},
    "lbv1": {"ltype": "tcp", "proxy_protocol": True},
    "lbws": {"ltype": "ws", "proxy_protocol": True, "peer_cert_as_username": "cn"},
}


@pytest.fixture(scope="module")
def mb(tmp_path_factory, pki):
    lines, ports, tcp_port = tls_broker_lines(pki, LISTENERS)
    with running_broker(tmp_path_factory.mktemp("wsclients"), lines, ports, tcp_port) as b:
        b.pki = pki
        yield b


def url(mb, name, scheme):
    return "%s://127.0.0.1:%d/mqtt" % (scheme, mb.tls_ports[name])


def sub_cmd(mb, name, topic, n, *extra):
    """mosquitto_sub argv tail for listener name (tcp or ssl)."""
    port = mb.port if name == "tcp" else mb.tls_ports[name]
    args = ["-t", topic, "-C", str(n), "-W", "10", "-q", "1"] + list(extra)
    if name == "ssl":
        args += ["--cafile", mb.pki("ca.pem")]
    return port, args


# ------------------------------------------------------------------ MQTT.js

@pytest.mark.parametrize("scheme", ["ws", "wss"])
@pytest.mark.parametrize("version", [4, 5])
def test_mqttjs_pubsub(mb, scheme, version):
    need_node()
    t = uniq("mj/")
    args = ["--url", url(mb, scheme, scheme), "--protocol-version", version,
            "--client-id", uniq("mj"), "--sub", t, "--pub", t, "--message", "m{n}",
            "--count", 3, "--qos", 1, "--expect", 3]
    if scheme == "wss":
        args += ["--ca", mb.pki("ca.pem")]
    rc, ev = run_mqttjs(args, timeout=15)
    assert rc == 0, str(ev)
    assert ev.first("connect")["reason_code"] == 0
    assert sorted(ev.payloads()) == ["m1", "m2", "m3"]


@pytest.mark.parametrize("scheme,via", [("ws", "tcp"), ("wss", "ssl")])
@pytest.mark.parametrize("version", [4, 5])
def test_mqttjs_to_mosquitto(mb, mqttjs, scheme, via, version):  # noqa: F811
    """MQTT.js over ws/wss → mosquitto_sub over tcp/ssl, and mosquitto_pub
    over tcp/ssl → MQTT.js, with MQTT 3.1.1 and 5.0 on both sides."""
    need_node()
    t = uniq("both/")
    tls = ["--ca", mb.pki("ca.pem")] if scheme == "wss" else []
    vflag = ["-V", "mqttv5" if version == 5 else "mqttv311"]
    host = "localhost" if via == "ssl" else "127.0.0.1"
    # mosquitto_pub → MQTT.js
    sub = mqttjs(["--url", url(mb, scheme, scheme), "--protocol-version", version, "--sub", t,
                  "--qos", 1, "--expect", 2] + tls, timeout=15)
    sub.wait_subscribed()
    port, _ = sub_cmd(mb, via, t, 1)
    extra = ["--cafile", mb.pki("ca.pem")] if via == "ssl" else []
    for m in ("one", "two"):
        r = mosquitto("mosquitto_pub", port, "-t", t, "-m", m, "-q", "1", *vflag, *extra,
                      host=host)
        assert r.returncode == 0, r.out
    rc, ev = sub.wait()
    assert rc == 0 and ev.payloads() == ["one", "two"], str(ev)
    # MQTT.js → mosquitto_sub: publish until the subscriber (started in a
    # thread, so its subscription time is unknown) has got one.
    port, args = sub_cmd(mb, via, t, 1, *vflag)
    out = {}
    th = threading.Thread(target=lambda: out.update(r=mosquitto("mosquitto_sub", port, *args,
                                                                host=host)))
    th.start()
    for _ in range(20):
        rc, ev = run_mqttjs(["--url", url(mb, scheme, scheme), "--protocol-version", version,
                             "--pub", t, "--message", "from mqttjs", "--qos", 1] + tls,
                            timeout=15)
        assert rc == 0, str(ev)
        th.join(0.5)
        if not th.is_alive():
            break
    th.join(20)
    assert out["r"].returncode == 0 and out["r"].stdout.strip() == "from mqttjs", out["r"].out


def test_mqttjs_wrong_path_refused(mb):
    need_node()
    rc, ev = run_mqttjs(["--url", "ws://127.0.0.1:%d/nope" % mb.tls_ports["ws"]], timeout=8)
    assert rc == 1 and ev.first("connect") is None, str(ev)


# ------------------------------------------------------------------ browser

def test_browser_over_wss(mb, chromium):  # noqa: F811
    """Headless Chromium, trusting only the test server key (SPKI hash),
    connects with MQTT.js over wss and shows a message that mosquitto_pub
    publishes over TLS."""
    need_chromium()
    t = uniq("browser/")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "ws-browser.png"
    run = chromium.start(url=url(mb, "wss", "wss"), topic=t, expect=["hello browser"],
                         spki=[spki_hash(mb.pki("server.pem"))], screenshot=shot, timeout=40,
                         protocol_version=5, qos=1)
    run.wait_ready()
    r = mosquitto("mosquitto_pub", mb.tls_ports["ssl"], "-t", t, "-m", "hello browser", "-q", "1",
                  "--cafile", mb.pki("ca.pem"), host="localhost")
    assert r.returncode == 0, r.out
    rc, result, ev = run.wait_result()
    assert rc == 0, str(ev)
    assert result["ok"] and result["status"] == "connected", str(ev)
    assert [m["text"] for m in result["messages"]] == ["hello browser"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ HAProxy

def test_haproxy_two_way_tls_cn_as_username(mb, haproxy_factory):  # noqa: F811
    """HAProxy terminates two-way TLS and forwards with send-proxy-v2-ssl-cn:
    moat takes the client address from the header and the username from the
    CN (peer_cert_as_username = cn on a tcp listener). Without a client
    certificate HAProxy refuses the client; moat never sees it."""
    need_node()
    pki = mb.pki
    h = haproxy_factory()
    crt = h.crt(pki("server-fullchain.pem"), pki("server.key"))
    fe = h.frontend(mb.tls_ports["lbcn"], crt=crt, ca_file=pki("ca-bundle.pem"),
                    verify="required", proxy="v2-ssl-cn")
    fews = h.frontend(mb.tls_ports["lbws"], crt=crt, ca_file=pki("ca-bundle.pem"),
                      verify="required", proxy="v2-ssl-cn")
    h.start()
    log = LogCursor(mb)
    tls = ["--ca", pki("ca.pem"), "--cert", pki("client.pem"), "--key", pki("client.key")]
    for u, listener in (("mqtts://127.0.0.1:%d" % fe, "tcp:lbcn"),
                        ("wss://127.0.0.1:%d/mqtt" % fews, "ws:lbws")):
        cid = uniq("lb")
        t = uniq("lb/")
        rc, ev = run_mqttjs(["--url", u, "--client-id", cid, "--protocol-version", 5,
                             "--sub", t, "--pub", t, "--message", "via haproxy", "--expect", 1]
                            + tls, timeout=15)
        assert rc == 0, "%s\n%s" % (ev, h.log_tail())
        log.wait(r"client connected: id=%s user=device-001 peer=127\.0\.0\.1:\d+ listener=%s"
                 % (cid, listener))
    before = LogCursor(mb)
    rc, ev = run_mqttjs(["--url", "mqtts://127.0.0.1:%d" % fe, "--ca", pki("ca.pem")],
                        timeout=8)
    assert rc == 1 and ev.first("connect") is None, str(ev)
    assert any("certificate required" in e for e in ev.errors()), str(ev)
    assert "client connected" not in before.text()


def test_haproxy_send_proxy_v1(mb, haproxy_factory):  # noqa: F811
    """Plain TCP through HAProxy with send-proxy (v1): the logged peer is the
    client's own address and port, not HAProxy's."""
    h = haproxy_factory()
    fe = h.frontend(mb.tls_ports["lbv1"], proxy="v1")
    h.start()
    log = LogCursor(mb)
    cid = uniq("v1")
    c = mr.RawClient(fe, version=4)
    port = c.sock.getsockname()[1]
    c.connect(cid)
    log.wait(r"client connected: id=%s user=- peer=127\.0\.0\.1:%d listener=tcp:lbv1" %
             (cid, port))
    c.disconnect()
