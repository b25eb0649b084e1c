# SPDX-License-Identifier: Apache-2.0
"""Robustness: garbage, truncated packets, huge lengths, odd segmentation, idle
sockets and many concurrent clients never take the broker down."""

import random
import socket
import threading
import time

import pytest

import mqttraw as mr
from conftest import check_protocol_close, uniq


def assert_serving(b):
    """The broker still accepts a client and routes a QoS 1 message."""
    assert b.alive(), "broker died"
    t = uniq("alive/")
    c = b.raw(5)
    c.connect(uniq("alive"))
    c.subscribe([(t, 1)])
    c.publish(t, b"still here", qos=1)
    assert c.recv_publish().payload == b"still here"
    c.disconnect()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def send_and_close(port, data, linger=0.05):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            s.sendall(data)
            time.sleep(linger)
        except OSError:
            pass
        s.close()
    except OSError:
        pass


def test_random_garbage_before_connect(mod_broker):
    rnd = random.Random(20240601)
    for _ in range(60):
        n = rnd.randint(1, 600)
        send_and_close(mod_broker.port, bytes(rnd.getrandbits(8) for _ in range(n)), 0.01)
    assert_serving(mod_broker)


def test_random_garbage_with_valid_first_byte(mod_broker):
    """Garbage that starts like a CONNECT (0x10) with random lengths and bodies."""
    rnd = random.Random(7)
    for _ in range(60):
        body = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 300)))
        send_and_close(mod_broker.port, b"\x10" + mr.enc_varint(len(body)) + body, 0.01)
    assert_serving(mod_broker)


@pytest.mark.parametrize("version", [4, 5])
def test_random_garbage_after_connect(mod_broker, version):
    rnd = random.Random(99 + version)
    for i in range(30):
        c = mod_broker.raw(version)
        c.connect(uniq("g"))
        c.try_send(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 400))))
        time.sleep(0.005)
        c.close()
    assert_serving(mod_broker)


def test_fuzzed_valid_packets(mod_broker):
    """Valid packets with a few random bytes flipped."""
    rnd = random.Random(4242)
    base = [
        mr.connect("fz", version=5, will={"topic": "w", "payload": b"x", "props": {
            "will_delay_interval": 1}}, props={"session_expiry_interval": 10,
                                               "user_property": [("a", "b")]}),
        mr.connect("fz", version=4, username="u", password=b"p"),
    ]
    after = [
        mr.publish("a/b", b"payload", qos=1, pid=1, version=5,
                   props={"user_property": [("k", "v")], "topic_alias": 1}),
        mr.subscribe(1, [("a/#", 2), ("$share/g/x", 1)], version=5,
                     props={"subscription_identifier": 5}),
        mr.unsubscribe(2, ["a/#"], version=5),
        mr.pubrel(3, version=5), mr.disconnect(0x04, {"reason_string": "x"}, version=5),
    ]
    for i in range(120):
        first = bytearray(rnd.choice(base))
        rest = bytearray(rnd.choice(after))
        target = first if rnd.random() < 0.4 else rest
        for _ in range(rnd.randint(1, 3)):
            target[rnd.randrange(len(target))] = rnd.getrandbits(8)
        send_and_close(mod_broker.port, bytes(first) + bytes(rest), 0.005)
    assert_serving(mod_broker)


def test_truncated_packets(mod_broker):
    """Every prefix of a valid CONNECT, and valid CONNECT + every prefix of other
    packets, then the connection is closed."""
    conn = mr.connect("trunc", version=5, will={"topic": "t/w", "payload": b"w"},
                      props={"session_expiry_interval": 0})
    for cut in range(1, len(conn)):
        send_and_close(mod_broker.port, conn[:cut], 0.002)
    for pkt in (mr.publish("t/p", b"x" * 50, qos=2, pid=9, version=5,
                           props={"content_type": "c"}),
                mr.subscribe(2, [("t/#", 1), ("u/+", 2)], version=5)):
        for cut in range(1, len(pkt)):
            send_and_close(mod_broker.port, conn + pkt[:cut], 0.002)
    assert_serving(mod_broker)


def test_huge_remaining_length_before_connect(mod_broker):
    """A CONNECT announcing 256MB must not make the broker allocate it."""
    before = rss_kb(mod_broker.proc.pid)
    socks = []
    for _ in range(10):
        s = socket.create_connection(("127.0.0.1", mod_broker.port), timeout=5)
        s.sendall(b"\x10\xff\xff\xff\x7f" + b"\x00\x04MQTT\x05" + b"A" * 1000)
        socks.append(s)
    time.sleep(0.5)
    assert_serving(mod_broker)
    grew = rss_kb(mod_broker.proc.pid) - before
    assert grew < 100 * 1024, "RSS grew by %d kB" % grew
    for s in socks:
        s.close()


@pytest.mark.parametrize("version", [4, 5])
def test_huge_remaining_length_after_connect(mod_broker, version):
    """A PUBLISH announcing 256MB (> mqtt.max_packet_size) is refused at once:
    v5 DISCONNECT 0x95 (or 0x81) and close; v3 close."""
    c = mod_broker.raw(version)
    c.connect(uniq("huge"))
    c.send(b"\x30\xff\xff\xff\x7f" + b"\x00\x03a/b" + b"x" * 100)
    check_protocol_close(c, allowed_v5=(mr.RC_PACKET_TOO_LARGE, mr.RC_MALFORMED))
    assert_serving(mod_broker)


def test_idle_sockets_do_not_block_others(mod_broker):
    socks = [socket.create_connection(("127.0.0.1", mod_broker.port), timeout=5)
             for _ in range(50)]
    try:
        assert_serving(mod_broker)
    finally:
        for s in socks:
            s.close()


def test_byte_by_byte(mod_broker):
    """Packets split into 1-byte TCP segments are reassembled."""
    t = uniq("bb/")
    c = mod_broker.raw(5)
    data = (mr.connect(uniq("bb"), version=5, props={"user_property": [("a", "b")]}) +
            mr.subscribe(1, [(t, 1)], version=5) +
            mr.publish(t, b"y" * 300, qos=1, pid=2, version=5))
    for i in range(len(data)):
        c.send(data[i:i + 1])
        if i % 50 == 0:
            time.sleep(0.001)
    assert c.expect(mr.CONNACK).rc == 0
    assert c.expect(mr.SUBACK).codes == [1]
    assert c.expect(mr.PUBACK).pid == 2
    assert c.recv_publish().payload == b"y" * 300


def test_pipelined_packets_in_one_write(mod_broker):
    """CONNECT, SUBSCRIBE and 200 PUBLISHes in one write are all processed in order."""
    t = uniq("pipe/")
    c = mod_broker.raw(4)
    data = mr.connect(uniq("pipe"), version=4) + mr.subscribe(1, [(t, 0)])
    data += b"".join(mr.publish(t, b"%03d" % i) for i in range(200))
    data += mr.pingreq()
    c.send(data)
    assert c.expect(mr.CONNACK).rc == 0
    assert c.expect(mr.SUBACK).codes == [0]
    got = [c.recv_publish().payload for _ in range(200)]
    assert got == [b"%03d" % i for i in range(200)]
    c.expect(mr.PINGRESP)


def test_abrupt_disconnects_during_traffic(mod_broker):
    """Subscribers that vanish mid-stream (QoS 1/2 in flight) do not disturb others."""
    t = uniq("ab/")
    steady = mod_broker.raw(4)
    steady.connect(uniq("steady"))
    steady.subscribe([(t, 1)])
    flaky = []
    for i in range(10):
        f = mod_broker.raw(5 if i % 2 else 4)
        f.connect(uniq("flaky"), clean=bool(i % 3))
        f.subscribe([(t, 2)])
        flaky.append(f)
    p = mod_broker.raw(4)
    p.connect(uniq("pub"))
    for i in range(50):
        p.publish(t, b"%02d" % i, qos=1)
        if i % 5 == 0 and flaky:
            flaky.pop().close()
    got = [steady.recv_publish().payload for _ in range(50)]
    assert got == [b"%02d" % i for i in range(50)]


def test_200_concurrent_publishers_exactly_once(broker_factory):
    """200 clients (v3.1.1 and v5) publish 5 QoS 1 messages each concurrently; a
    QoS 1 subscriber receives every message exactly once."""
    b = broker_factory(["mqtt.max_mqueue_len = 100000"])
    n_clients, per = 200, 5
    sub = b.raw(5)
    sub.connect("collector", props={"receive_maximum": 100})
    sub.subscribe([("load/#", 1)])
    errors = []
    start = threading.Event()

    def worker(i):
        try:
            c = mr.RawClient(b.port, version=5 if i % 2 else 4, timeout=20)
            start.wait(10)
            c.connect("load-%d" % i, timeout=20)
            for j in range(per):
                c.publish("load/%d" % i, b"%d-%d" % (i, j), qos=1, timeout=20)
            c.disconnect()
        except Exception as e:  # noqa: BLE001
            errors.append("client %d: %r" % (i, e))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True)
               for i in range(n_clients)]
    for th in threads:
        th.start()
    start.set()
    want = n_clients * per
    got = []
    deadline = time.monotonic() + 90
    while len(got) < want and time.monotonic() < deadline:
        try:
            m = sub.recv_publish(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break
        got.append(m.payload)
    for th in threads:
        th.join(30)
    assert not errors, errors[:5]
    got += [m.payload for m in sub.collect_publishes(0.5)]
    assert len(got) == want, "received %d of %d" % (len(got), want)
    assert len(set(got)) == want, "duplicates received"
    # per-publisher order
    for i in (0, 1, 77, 199):
        mine = [g for g in got if g.startswith(b"%d-" % i)]
        assert mine == [b"%d-%d" % (i, j) for j in range(per)]
    assert_serving(b)
