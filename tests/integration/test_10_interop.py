# SPDX-License-Identifier: Apache-2.0
"""Interoperability with real clients: mosquitto_pub / mosquitto_sub (MQTT 3.1,
3.1.1, 5) and paho clients of every version talking to each other."""

import subprocess
import threading

import pytest

from conftest import PahoClient, paho_props, run, uniq

VOPTS = {3: "mqttv31", 4: "mqttv311", 5: "mqttv5"}


class MosqSub:
    """mosquitto_sub in the background; ready once its SUBACK arrived (-d)."""

    def __init__(self, port, topic, version, qos=1, count=1, timeout=30, extra=()):
        self.lines = []
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            # stdbuf: line-buffered stdout, so the SUBACK debug line shows at once
            ["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-V", VOPTS[version],
             "-t", topic, "-q", str(qos), "-C", str(count), "-W", str(timeout), "-d",
             "-F", "MSG|%t|%q|%r|%p"] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if "SUBACK" in line:
                self.ready.set()

    def wait_ready(self, timeout=10):
        assert self.ready.wait(timeout), "mosquitto_sub not subscribed: %r" % self.lines[-20:]

    def wait(self, timeout=60):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("mosquitto_sub did not finish; last lines %r" % self.lines[-10:])
        self.t.join(5)
        return rc, [l.split("|", 4)[1:] for l in self.lines if l.startswith("MSG|")]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def mosq_subs():
    made = []

    def make(*a, **kw):
        s = MosqSub(*a, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.kill()


def mosq_pub(port, version, topic, *args, input=None, timeout=60):
    r = run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V", VOPTS[version],
             "-t", topic] + list(args), input=input, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r


@pytest.mark.parametrize("version", [3, 4, 5])
def test_mosquitto_retained(mod_broker, version):
    t = uniq("mi/ret/")
    mosq_pub(mod_broker.port, version, t, "-r", "-q", "1", "-m", "retained-%d" % version)
    r = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mod_broker.port), "-V",
             VOPTS[version], "-t", t, "-C", "1", "-W", "10", "-F", "%t|%r|%p"], timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "%s|1|retained-%d" % (t, version)
    # clear it with an empty retained message (-n) and check it is gone
    mosq_pub(mod_broker.port, version, t, "-r", "-q", "1", "-n")
    r = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mod_broker.port), "-V",
             VOPTS[version], "-t", t, "-C", "1", "-W", "1"], timeout=20)
    assert r.stdout.strip() == ""


@pytest.mark.parametrize("version", [3, 4, 5])
def test_mosquitto_qos2(mod_broker, mosq_subs, version):
    t = uniq("mi/q2/")
    s = mosq_subs(mod_broker.port, t, version, qos=2, count=5)
    s.wait_ready()
    for i in range(5):
        mosq_pub(mod_broker.port, version, t, "-q", "2", "-m", "m%d" % i)
    rc, msgs = s.wait()
    assert rc == 0
    assert msgs == [[t, "2", "0", "m%d" % i] for i in range(5)]


@pytest.mark.parametrize("version", [3, 4, 5])
def test_mosquitto_line_mode_1000_in_order(mod_broker, mosq_subs, version):
    """mosquitto_pub -l: 1000 QoS 1 messages on one connection, all received by
    mosquitto_sub in order (ordered topic, 4.6)."""
    t = uniq("mi/lines/")
    n = 1000
    s = mosq_subs(mod_broker.port, t, version, qos=1, count=n, timeout=60)
    s.wait_ready()
    mosq_pub(mod_broker.port, version, t, "-q", "1", "-l",
             input="".join("line-%04d\n" % i for i in range(n)))
    rc, msgs = s.wait(timeout=90)
    assert rc == 0
    payloads = [m[3] for m in msgs]
    assert len(payloads) == n, "received %d of %d" % (len(payloads), n)
    assert payloads == ["line-%04d" % i for i in range(n)]


def test_mosquitto_v5_properties(mod_broker, mosq_subs):
    """mosquitto_pub -D publish properties reach a paho v5 subscriber."""
    t = uniq("mi/props/")
    sub = PahoClient(mod_broker.port, uniq("ps"), version=5)
    try:
        sub.connect()
        sub.subscribe(t, 1)
        mosq_pub(mod_broker.port, 5, t, "-q", "1", "-m", "p",
                 "-D", "publish", "user-property", "k", "v",
                 "-D", "publish", "content-type", "text/x",
                 "-D", "publish", "response-topic", "r/t")
        m = sub.get()
        assert m.properties.UserProperty == [("k", "v")]
        assert m.properties.ContentType == "text/x"
        assert m.properties.ResponseTopic == "r/t"
    finally:
        sub.stop()


def test_mosquitto_sub_wildcard_and_will(mod_broker, mosq_subs):
    root = uniq("mi/wild/")
    s = mosq_subs(mod_broker.port, root + "/#", 4, qos=1, count=3)
    s.wait_ready()
    for sub in ("a", "b/c", "d/e/f"):
        mosq_pub(mod_broker.port, 4, root + "/" + sub, "-q", "1", "-m", sub)
    rc, msgs = s.wait()
    assert rc == 0
    assert sorted(m[0] for m in msgs) == sorted(root + "/" + x for x in ("a", "b/c", "d/e/f"))


@pytest.mark.parametrize("sub_v", [3, 4, 5])
@pytest.mark.parametrize("pub_v", [3, 4, 5])
def test_paho_cross_version(mod_broker, pub_v, sub_v):
    """paho clients of different protocol versions exchange QoS 0/1/2 and retained
    messages through moat."""
    t = uniq("mi/x/")
    pub = PahoClient(mod_broker.port, uniq("xp"), version=pub_v)
    sub = PahoClient(mod_broker.port, uniq("xs"), version=sub_v)
    try:
        pub.connect()
        sub.connect()
        assert sub.subscribe(t + "/#", 2) == [2]
        props = paho_props("PUBLISH", UserProperty=[("x", "y")]) if pub_v == 5 else None
        for q in (0, 1, 2):
            pub.publish(t + "/q%d" % q, b"from-v%d-q%d" % (pub_v, q), qos=q, props=props)
        got = sub.get_n(3)
        assert sorted((m.topic, m.payload, m.qos) for m in got) == sorted(
            (t + "/q%d" % q, b"from-v%d-q%d" % (pub_v, q), q) for q in (0, 1, 2))
        if pub_v == 5 and sub_v == 5:
            assert all(m.properties.UserProperty == [("x", "y")] for m in got)
        pub.publish(t + "/r", b"ret", qos=1, retain=True)
        assert sub.get().payload == b"ret"
        late = PahoClient(mod_broker.port, uniq("xl"), version=sub_v)
        try:
            late.connect()
            late.subscribe(t + "/r", 1)
            m = late.get()
            assert m.payload == b"ret" and m.retain
        finally:
            late.stop()
        pub.publish(t + "/r", b"", qos=1, retain=True)
    finally:
        pub.stop()
        sub.stop()


def test_paho_request_response_v5(mod_broker):
    """A v5 request/response exchange using Response Topic + Correlation Data."""
    req_t = uniq("mi/req/")
    server = PahoClient(mod_broker.port, uniq("srv"), version=5)
    client = PahoClient(mod_broker.port, uniq("cli"), version=5)
    try:
        server.connect()
        client.connect()
        server.subscribe(req_t, 1)
        client.subscribe(req_t + "/reply", 1)
        client.publish(req_t, b"ping", qos=1, props=paho_props(
            "PUBLISH", ResponseTopic=req_t + "/reply", CorrelationData=b"42"))
        req = server.get()
        server.publish(req.properties.ResponseTopic, b"pong", qos=1, props=paho_props(
            "PUBLISH", CorrelationData=req.properties.CorrelationData))
        rep = client.get()
        assert rep.payload == b"pong" and rep.properties.CorrelationData == b"42"
    finally:
        server.stop()
        client.stop()
