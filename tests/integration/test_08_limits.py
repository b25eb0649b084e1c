# SPDX-License-Identifier: Apache-2.0
"""Configured limits: connections (listener and node), topic levels, in-flight
window, queue length, packet size, client id length, topic aliases. When a limit
is hit the log names the limit's config key."""

import time

import pytest

import mqttraw as mr
from conftest import check_protocol_close, uniq


def connected(b, version=5, cid=None, **kw):
    c = b.raw(version)
    c.connect(cid or uniq("c"), **kw)
    return c


def try_connect(b, version):
    """Connect; returns (client, CONNACK or None if closed without one)."""
    c = b.raw(version)
    try:
        c.send(mr.connect(uniq("lim"), version=version))
        p = c.expect(mr.CONNACK, timeout=5)
        return c, p
    except (mr.Closed, OSError):
        return c, None


def connect_eventually(b, version, timeout=5.0):
    """A connection that must succeed (retrying while the broker may still count
    a just-closed connection, e.g. the readiness probe)."""
    deadline = time.monotonic() + timeout
    while True:
        c, p = try_connect(b, version)
        if p is not None and p.rc == 0:
            return c
        c.close()
        assert time.monotonic() < deadline, "connection within the limit refused: %r" % p
        time.sleep(0.2)


def assert_refused(b, version):
    """The connection over the limit: CONNACK failure (v5 >= 0x80, e.g. 0x97
    Quota exceeded / 0x9F; v3 non-zero, e.g. 3 Server unavailable) then close,
    or closed right away."""
    c, p = try_connect(b, version)
    if p is not None:
        assert p.rc != 0, "connection over the limit accepted"
        if version == 5:
            assert p.rc >= 0x80
        c.expect_closed()
    c.close()


@pytest.mark.parametrize("key", ["listener.tcp.default.max_connections",
                                 "node.max_connections"])
@pytest.mark.parametrize("version", [4, 5])
def test_max_connections(broker_factory, key, version):
    b = broker_factory(["%s = 3" % key])
    clients = [connect_eventually(b, version) for _ in range(3)]
    assert_refused(b, version)
    b.wait_log(key.replace(".", r"\."), timeout=5)
    for c in clients:
        c.ping()
    clients[0].disconnect()
    connect_eventually(b, version).ping()


def test_max_connections_listener_and_node(broker_factory):
    """The smaller of the two limits applies."""
    b = broker_factory(["listener.tcp.default.max_connections = 5", "node.max_connections = 2"])
    [connect_eventually(b, 4) for _ in range(2)]
    assert_refused(b, 4)
    b.wait_log(r"node\.max_connections", timeout=5)


@pytest.mark.parametrize("version", [4, 5])
def test_max_topic_levels_publish(broker_factory, version):
    """mqtt.max_topic_levels = 3: a 3-level topic works; a 4-level PUBLISH is
    refused (v5 DISCONNECT 0x90 Topic Name invalid, or close; v3 close)."""
    b = broker_factory(["mqtt.max_topic_levels = 3"])
    w = connected(b, 5)
    w.subscribe([("a/#", 0)])
    c = connected(b, version)
    c.publish("a/b/c", b"ok", qos=1)
    assert w.recv_publish().payload == b"ok"
    c.send(mr.publish("a/b/c/d", b"too-deep", version=version))
    check_protocol_close(c, allowed_v5=(mr.RC_TOPIC_NAME_INVALID,))
    w.no_packet(0.3, types=(mr.PUBLISH,))
    b.wait_log(r"mqtt\.max_topic_levels", timeout=5)


@pytest.mark.parametrize("version", [4, 5])
def test_max_topic_levels_subscribe(broker_factory, version):
    """A filter deeper than mqtt.max_topic_levels -> SUBACK failure (v5 0x8F,
    v3 0x80); a filter within the limit is granted."""
    b = broker_factory(["mqtt.max_topic_levels = 3"])
    c = connected(b, version)
    s = c.subscribe([("a/b/c", 1), ("a/b/c/d", 1), ("a/+/c/#", 1), ("a/+/#", 1)])
    bad = mr.RC_TOPIC_FILTER_INVALID if version == 5 else 0x80
    assert s.codes[0] == 1 and s.codes[3] == 1
    assert s.codes[1] in (bad, 0x80) and s.codes[2] in (bad, 0x80)
    b.wait_log(r"mqtt\.max_topic_levels", timeout=5)


@pytest.mark.parametrize("version", [4, 5])
def test_max_inflight_outgoing(broker_factory, version):
    """mqtt.max_inflight = 4: at most 4 unacknowledged QoS 1 PUBLISHes to a client
    (even if its Receive Maximum is larger); acks release more."""
    b = broker_factory(["mqtt.max_inflight = 4"])
    props = {"receive_maximum": 100} if version == 5 else None
    c = connected(b, version, props=props)
    c.subscribe([("inf/t", 1)])
    p = connected(b, version)
    for i in range(10):
        p.publish("inf/t", b"%d" % i, qos=1)
    got = c.collect_publishes(1.5, ack=False)
    assert len(got) == 4, [m.payload for m in got]
    for m in got[:2]:
        c.send(mr.puback(m.pid, version=version))
    more = c.collect_publishes(1.0, ack=False)
    assert [m.payload for m in more] == [b"4", b"5"]
    for m in got[2:] + more:
        c.send(mr.puback(m.pid, version=version))
    rest = c.collect_publishes(3.0, limit=4)
    assert [m.payload for m in rest] == [b"6", b"7", b"8", b"9"]


def test_max_inflight_incoming_log(broker_factory):
    """Exceeding the server's Receive Maximum (mqtt.max_inflight): DISCONNECT
    0x93, and the log names mqtt.max_inflight."""
    b = broker_factory(["mqtt.max_inflight = 1"])
    c = connected(b, 5)
    c.send(mr.publish("x/y", b"1", qos=2, pid=1, version=5))
    c.expect(mr.PUBREC)
    c.send(mr.publish("x/y", b"2", qos=2, pid=2, version=5))
    check_protocol_close(c, allowed_v5=(mr.RC_RECEIVE_MAX_EXCEEDED,), require_disconnect=True)
    b.wait_log(r"mqtt\.max_inflight", timeout=5)


def test_max_mqueue_len_online(broker_factory):
    """mqtt.max_mqueue_len = 3 with mqtt.max_inflight = 2: a client that does not
    ack gets 2 in flight and 3 queued; the rest is dropped (and logged)."""
    b = broker_factory(["mqtt.max_inflight = 2", "mqtt.max_mqueue_len = 3"])
    c = connected(b, 4)
    c.subscribe([("mq/t", 1)])
    p = connected(b, 4)
    for i in range(20):
        p.publish("mq/t", b"%02d" % i, qos=1)
    first = c.collect_publishes(1.0, ack=False)
    assert len(first) == 2
    for m in first:
        c.send(mr.puback(m.pid, version=4))
    rest = c.collect_until_quiet(0.7, ack=True)
    total = [m.payload for m in first + rest]
    assert 3 <= len(total) <= 5, total
    assert total == sorted(total)
    b.wait_log(r"mqtt\.max_mqueue_len", timeout=5)


def test_max_packet_size_log(broker_factory):
    b = broker_factory(["mqtt.max_packet_size = 512B"])
    c = connected(b, 5)
    assert c.connack.props.get("maximum_packet_size") == 512
    c.send(mr.publish("big/t", b"x" * 1000, qos=0, version=5))
    check_protocol_close(c, allowed_v5=(mr.RC_PACKET_TOO_LARGE,))
    b.wait_log(r"mqtt\.max_packet_size", timeout=5)


def test_max_packet_size_connect(broker_factory):
    """A CONNECT bigger than the limit is refused too (no CONNACK success)."""
    b = broker_factory(["mqtt.max_packet_size = 512B"])
    c = b.raw(4)
    c.send(mr.connect("big", version=4, will={"topic": "w", "payload": b"x" * 2000}))
    got = c.expect_closed()
    assert all(p.type == mr.CONNACK and p.rc != 0 for p in got)


def test_max_clientid_len_log(broker_factory):
    b = broker_factory(["mqtt.max_clientid_len = 23"])
    c = b.raw(5)
    c.connect("x" * 24, expect_rc=mr.RC_CLIENT_ID_INVALID)
    b.wait_log(r"mqtt\.max_clientid_len", timeout=5)


def test_max_topic_alias_log(broker_factory):
    b = broker_factory(["mqtt.max_topic_alias = 2"])
    c = connected(b, 5)
    c.send(mr.publish("ta/x", b"x", props={"topic_alias": 3}, version=5))
    check_protocol_close(c, allowed_v5=(mr.RC_TOPIC_ALIAS_INVALID,))
    b.wait_log(r"mqtt\.max_topic_alias", timeout=5)


def test_max_awaiting_rel_v5_refuses_with_quota_exceeded(broker_factory):
    """mqtt.max_awaiting_rel = 2: a third QoS 2 PUBLISH while two await PUBREL
    gets PUBREC 0x97 (v5) and is not delivered; the log names the key."""
    b = broker_factory(["mqtt.max_awaiting_rel = 2"])
    t = uniq("rel/")
    w = connected(b, 5)
    w.subscribe([(t, 2)])
    c = connected(b, 5)
    for pid in (1, 2, 3):
        c.send(mr.publish(t, b"m%d" % pid, qos=2, pid=pid, version=5))
    codes = [c.expect(mr.PUBREC).rc for _ in range(3)]
    assert codes[:2] == [0, 0] and codes[2] == mr.RC_QUOTA_EXCEEDED, codes
    b.wait_log(r"mqtt\.max_awaiting_rel", timeout=5)


def test_max_awaiting_rel_v3_closes(broker_factory):
    b = broker_factory(["mqtt.max_awaiting_rel = 2"])
    c = connected(b, 4)
    for pid in (1, 2, 3):
        c.send(mr.publish(uniq("rel3/"), b"x", qos=2, pid=pid, version=4))
    c.expect(mr.PUBREC)
    c.expect(mr.PUBREC)
    c.expect_closed(timeout=5)
    b.wait_log(r"mqtt\.max_awaiting_rel", timeout=5)
