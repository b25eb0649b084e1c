# SPDX-License-Identifier: Apache-2.0
"""The asynchronous path every external backend takes, driven through the
HTTP backend and a real (Python) HTTP service whose answers are slow on
purpose: a CONNECT waits without blocking its loop, packets the client sent
behind its CONNECT are handled in order once it is let in, clients that
leave while they wait, a full worker queue failing fast (CONNACK 0x88), a
reload and a shutdown while requests are under way, and connected clients
that keep flowing meanwhile."""
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import mqttraw
from mqttraw import RawClient


class AuthService:
    """POST form clientid/username/password: 200 when password is
    '<username>-pw', else 401; sleeps `delay` seconds first."""

    def __init__(self):
        self.delay = 0.0
        self.calls = 0
        svc = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                svc.calls += 1
                time.sleep(svc.delay)
                user = form.get("username", [""])[0]
                ok = user and form.get("password", [""])[0] == user + "-pw"
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def lines(self, extra=()):
        return ["auth.http.auth_req = http://127.0.0.1:%d/auth" % self.port,
                "auth.http.auth_req.method = post",
                "auth.http.auth_req.params = clientid=%c,username=%u,password=%P",
                "allow_anonymous = false"] + list(extra)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def svc():
    s = AuthService()
    yield s
    s.close()


def test_pipelined_packets_wait_for_the_answer(broker_factory, svc):
    b = broker_factory(svc.lines())
    svc.delay = 0.5
    c = RawClient(b.port, version=5)
    t0 = time.monotonic()
    # CONNECT, SUBSCRIBE and a QoS 1 PUBLISH to itself in one write
    c.send(mqttraw.connect("pipe", version=5, username="u1", password=b"u1-pw") +
           mqttraw.subscribe(1, [("pipe/t", 1)], version=5) +
           mqttraw.publish("pipe/t", b"early", qos=1, pid=2, version=5))
    ack = c.expect(mqttraw.CONNACK, timeout=5)
    assert ack.rc == 0 and time.monotonic() - t0 >= 0.45
    assert c.expect(mqttraw.SUBACK).codes == [1]
    assert c.expect(mqttraw.PUBACK).pid == 2
    got = c.recv_publish()
    assert got.topic == "pipe/t" and got.payload == b"early"
    c.close()


def test_others_flow_while_a_connect_waits(broker_factory, svc):
    b = broker_factory(svc.lines())
    busy = RawClient(b.port, version=5)
    busy.connect("busy", username="u2", password=b"u2-pw")
    busy.subscribe([("flow/#", 0)])
    svc.delay = 2.0
    waiting = [RawClient(b.port, version=5) for _ in range(4)]
    for i, w in enumerate(waiting):
        w.send(mqttraw.connect("w%d" % i, version=5, username="w%d" % i,
                               password=("w%d-pw" % i).encode()))
    # while four CONNECTs wait two seconds, the connected client's messages
    # make their round trip at once
    worst = 0
    for i in range(50):
        t0 = time.monotonic()
        busy.publish("flow/x", b"%d" % i)
        assert busy.recv_publish(timeout=2).payload == b"%d" % i
        worst = max(worst, time.monotonic() - t0)
    assert worst < 0.5, worst
    for w in waiting:
        assert w.expect(mqttraw.CONNACK, timeout=5).rc == 0
        w.close()
    busy.close()


def test_wrong_password_and_leaving_while_waiting(broker_factory, svc):
    b = broker_factory(svc.lines())
    c = RawClient(b.port, version=4)
    c.connect("bad", expect_rc=4, username="u3", password=b"nope")
    svc.delay = 0.5
    for i in range(5):  # the answer comes back to a closed connection
        s = socket.create_connection(("127.0.0.1", b.port))
        s.sendall(mqttraw.connect("gone%d" % i, version=4, username="u4", password=b"u4-pw"))
        s.close()
    time.sleep(0.8)
    ok = RawClient(b.port, version=4)
    ok.connect("after", username="u5", password=b"u5-pw")
    ok.close()
    assert b.alive()


def test_full_queue_fails_fast(broker_factory, svc):
    b = broker_factory(svc.lines(["auth.pool_size = 1", "auth.queue_max = 2"]))
    svc.delay = 1.0
    cs = [RawClient(b.port, version=5) for _ in range(8)]
    t0 = time.monotonic()
    for i, c in enumerate(cs):
        c.send(mqttraw.connect("q%d" % i, version=5, username="q%d" % i,
                               password=("q%d-pw" % i).encode()))
    codes = []

    def wait(c):
        p = c.expect(mqttraw.CONNACK, timeout=10)
        codes.append((p.rc, time.monotonic() - t0))

    ts = [threading.Thread(target=wait, args=(c,)) for c in cs]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    refused = [t for rc, t in codes if rc == 0x88]
    # one running and two queued: the others are refused at once
    assert len(refused) >= 4 and max(refused) < 0.8, codes
    b.wait_log(r"worker queue full \(auth.queue_max\)")


def test_timeout_fails_closed_and_on_error_ignore(broker_factory, svc):
    b = broker_factory(svc.lines(["auth.timeout = 500ms"]))
    svc.delay = 1.5
    t0 = time.monotonic()
    c = RawClient(b.port, version=5)
    c.connect("slow", expect_rc=0x88, username="s1", password=b"s1-pw")
    assert time.monotonic() - t0 < 1.3
    b.wait_log(r"http could not answer .*refused \(auth.on_error = deny\)")
    b2 = broker_factory(svc.lines(["auth.timeout = 500ms", "auth.on_error = ignore",
                                   "auth.mnesia.password_hash = plain",
                                   "auth.user.1.username = s1", "auth.user.1.password = x",
                                   "auth.chain = http, builtin"]))
    c = RawClient(b2.port, version=5)
    c.connect("slow2", username="s1", password=b"x")
    c.close()


def test_reload_and_stop_while_waiting(broker_factory, svc):
    import signal
    b = broker_factory(svc.lines())
    svc.delay = 1.0
    c = RawClient(b.port, version=5)
    c.send(mqttraw.connect("r1", version=5, username="r1", password=b"r1-pw"))
    time.sleep(0.2)
    b.proc.send_signal(signal.SIGHUP)  # the answer still applies to the old chain
    assert c.expect(mqttraw.CONNACK, timeout=5).rc == 0
    c.close()
    d = RawClient(b.port, version=5)
    d.send(mqttraw.connect("r2", version=5, username="r2", password=b"r2-pw"))
    time.sleep(0.2)
    t0 = time.monotonic()
    assert b.stop() == 0  # waits for the request under way, then exits cleanly
    assert time.monotonic() - t0 < 5
