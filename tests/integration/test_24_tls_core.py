# SPDX-License-Identifier: Apache-2.0
"""The core integration tests rerun over TLS: it is the transport that is
under test. The test functions are imported from test_01..test_11 unchanged;
this module overrides the mod_broker / broker / broker_factory fixtures so
that they hand out a TLSView: a broker with a two-way TLS listener, whose
.port is the TLS port and whose clients (RawClient, paho) connect over TLS
1.3 with the device-001 client certificate. Restarts, kill -9, the log and
the rest are the real broker's.

Then a few checks only TLS needs: payloads across many TLS records, a
pipelined burst, and many concurrent TLS clients."""

import threading
import time

import pytest

import mqttraw as mr
from conftest import uniq
from tlsutil import MUTUAL, TLSView, client_context, paho_tls

# The reruns: collected here as tests of this module, with its fixtures.
from core_reruns import *  # noqa: F401,F403
from core_reruns import assert_serving, rerun_fixtures

CORE_LISTENER = dict(MUTUAL, cacertfile=True)


def view(b, pki):
    return TLSView(b, b.tls_ports["core"],
                   client_context(pki, cert="client-fullchain.pem", key="client.key"),
                   paho_tls(pki, "client-fullchain.pem", "client.key"))


mod_broker, broker_factory, broker = rerun_fixtures(CORE_LISTENER, view, "tlscore")


def test_clients_really_use_tls(mod_broker):
    """Guard for the reruns above: the view's clients are TLS 1.3 with the
    client certificate, and the broker logs them as such."""
    c = mod_broker.raw(5)
    assert c.sock.version() == "TLSv1.3"
    cid = uniq("guard")
    c.connect(cid)
    mod_broker.wait_log(r"client connected: id=%s .*listener=ssl:core .*tls=TLSv1\.3 \S+ "
                        r"cert=CN=device-001" % cid)


# ------------------------------------------------------------------ TLS specific

@pytest.mark.parametrize("size", [16383, 16384, 16385, 65536, 300000, 1000000])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_payloads_across_tls_records(mod_broker, size, qos):
    """Payloads around and far beyond the 16 KiB TLS record size arrive
    intact in both directions."""
    t = uniq("big/")
    payload = bytes((i * 7 + size) % 251 for i in range(size))
    sub = mod_broker.raw(5)
    sub.connect(uniq("bigsub"))
    sub.subscribe([(t, 2)])
    pub = mod_broker.raw(4)
    pub.connect(uniq("bigpub"))
    pub.publish(t, payload, qos=qos, timeout=20)
    m = sub.recv_publish(timeout=20)
    assert m.qos == qos and len(m.payload) == size and m.payload == payload
    if qos == 2:
        sub.finish_qos2()


def test_pipelined_qos1_burst(mod_broker):
    """1000 QoS 1 PUBLISHes written back to back, acknowledged in order, and
    delivered in order to a subscriber over TLS."""
    t = uniq("burst/")
    sub = mod_broker.raw(4)
    sub.connect(uniq("burstsub"))
    sub.subscribe([(t, 1)])
    pub = mod_broker.raw(4)
    pub.connect(uniq("burstpub"))
    n = 1000
    pub.send(b"".join(mr.publish(t, b"%04d" % i, qos=1, pid=i + 1) for i in range(n)))
    acks = [pub.expect(mr.PUBACK, timeout=20).pid for _ in range(n)]
    assert acks == list(range(1, n + 1))
    got = [sub.recv_publish(timeout=20).payload for _ in range(n)]
    assert got == [b"%04d" % i for i in range(n)]


def test_many_concurrent_tls_clients(broker_factory):
    """100 TLS clients handshake and publish 5 QoS 1 messages each at the
    same time; the subscriber gets each message exactly once."""
    b = broker_factory(["mqtt.max_mqueue_len = 100000"])
    n_clients, per = 100, 5
    sub = b.raw(5)
    sub.connect("collector", props={"receive_maximum": 100})
    sub.subscribe([("tlsload/#", 1)])
    errors = []
    start = threading.Event()

    def worker(i):
        try:
            start.wait(10)
            c = mr.RawClient(b.port, version=5 if i % 2 else 4, timeout=30,
                             **b.raw_client_kw)
            c.connect("tlsload-%d" % i, timeout=30)
            for j in range(per):
                c.publish("tlsload/%d" % i, b"%d-%d" % (i, j), qos=1, timeout=30)
            c.disconnect()
        except Exception as e:  # noqa: BLE001
            errors.append("client %d: %r" % (i, e))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n_clients)]
    for th in threads:
        th.start()
    start.set()
    want = n_clients * per
    got = []
    deadline = time.monotonic() + 60
    while len(got) < want and time.monotonic() < deadline:
        try:
            got.append(sub.recv_publish(timeout=max(0.1, deadline - time.monotonic())).payload)
        except TimeoutError:
            break
    for th in threads:
        th.join(30)
    assert not errors, errors[:5]
    got += [m.payload for m in sub.collect_publishes(0.5)]
    assert len(got) == want and len(set(got)) == want, "received %d (%d distinct) of %d" % (
        len(got), len(set(got)), want)
    assert_serving(b)
