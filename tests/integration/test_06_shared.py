# SPDX-License-Identifier: Apache-2.0
"""MQTT 5 shared subscriptions ($share/{ShareName}/{filter}), 4.8.2."""

import collections

import pytest

import mqttraw as mr
from conftest import check_protocol_close, uniq


def connected(b, version=5, cid=None, **kw):
    c = b.raw(version)
    c.connect(cid or uniq("c"), **kw)
    return c


def members(b, group, flt, n, qos=1, version=5):
    out = []
    for _ in range(n):
        c = connected(b, version)
        s = c.subscribe([("$share/%s/%s" % (group, flt), qos)])
        assert s.codes == [qos], s
        out.append(c)
    return out


def drain(clients, total, timeout=10.0, quiet=0.3):
    """Collect PUBLISHes from all clients until `total` arrived (bounded), then a
    short quiet period to catch extra deliveries."""
    import time
    got = {i: [] for i in range(len(clients))}
    deadline = time.monotonic() + timeout
    while sum(len(v) for v in got.values()) < total and time.monotonic() < deadline:
        for i, c in enumerate(clients):
            got[i] += [m.payload for m in c.collect_publishes(0.02)]
    for i, c in enumerate(clients):
        got[i] += [m.payload for m in c.collect_publishes(quiet if i == 0 else 0.02)]
    return got


def test_shared_each_message_to_exactly_one_member(mod_broker):
    """4.8.2: each message is sent to exactly one member of the share group; the
    load is spread (each of 3 members gets a fair part of 60 messages)."""
    root = uniq("sh/")
    ms = members(mod_broker, "g1", root + "/+", 3)
    p = connected(mod_broker)
    n = 60
    for i in range(n):
        p.publish(root + "/x", b"%03d" % i, qos=1)
    got = drain(ms, n)
    allmsgs = [x for v in got.values() for x in v]
    assert sorted(allmsgs) == [b"%03d" % i for i in range(n)], "lost or duplicated messages"
    counts = [len(v) for v in got.values()]
    assert min(counts) >= 5, "share group load not spread: %r" % counts
    # within one member, order is kept
    for v in got.values():
        assert v == sorted(v)


def test_two_groups_each_get_every_message(mod_broker):
    root = uniq("sh2/")
    ga = members(mod_broker, "ga", root + "/#", 2)
    gb = members(mod_broker, "gb", root + "/#", 2)
    p = connected(mod_broker)
    n = 20
    for i in range(n):
        p.publish(root + "/t", b"%02d" % i, qos=1)
    for group in (ga, gb):
        got = drain(group, n)
        assert sorted(x for v in got.values() for x in v) == [b"%02d" % i for i in range(n)]


def test_shared_and_normal_subscribers(mod_broker):
    """A normal subscription on the same filter gets every message, independent
    of the share group; a client may hold both."""
    root = uniq("sh3/")
    ms = members(mod_broker, "g", root, 2)
    normal = connected(mod_broker)
    normal.subscribe([(root, 1)])
    p = connected(mod_broker)
    for i in range(10):
        p.publish(root, b"%d" % i, qos=1)
    got = drain(ms, 10)
    assert sorted(x for v in got.values() for x in v) == sorted(b"%d" % i for i in range(10))
    assert [m.payload for m in normal.collect_publishes(3.0, limit=10)] == \
        [b"%d" % i for i in range(10)]


def test_shared_member_leaving(mod_broker):
    """After a member unsubscribes and another disconnects, the remaining member
    gets every message."""
    root = uniq("sh4/")
    ms = members(mod_broker, "g", root, 3)
    ms[0].unsubscribe(["$share/g/" + root])
    ms[1].disconnect()
    p = connected(mod_broker)
    for i in range(10):
        p.publish(root, b"%d" % i, qos=1)
    got = [m.payload for m in ms[2].collect_publishes(3.0, limit=10)]
    assert got == [b"%d" % i for i in range(10)]
    ms[0].no_packet(0.2, types=(mr.PUBLISH,))


def test_shared_suback_granted_qos(mod_broker):
    """SUBACK grants the requested QoS; the message QoS is min(pub, granted)."""
    root = uniq("sh5/")
    c = connected(mod_broker)
    s = c.subscribe([("$share/q/%s/0" % root, 0), ("$share/q/%s/1" % root, 1),
                     ("$share/q/%s/2" % root, 2)])
    assert s.codes == [0, 1, 2]
    p = connected(mod_broker)
    for q in range(3):
        p.publish("%s/%d" % (root, q), b"x", qos=2)
    got = sorted((m.topic, m.qos) for m in [c.recv_publish() for _ in range(3)])
    c.finish_qos2()
    assert got == [("%s/%d" % (root, q), q) for q in range(3)]


def test_shared_same_client_different_groups(mod_broker):
    root = uniq("sh6/")
    c = connected(mod_broker)
    c.subscribe([("$share/a/" + root, 1), ("$share/b/" + root, 1)])
    connected(mod_broker).publish(root, b"m", qos=1)
    got = [c.recv_publish()] + c.collect_publishes(0.5)
    assert 1 <= len(got) <= 2 and all(m.payload == b"m" for m in got)


@pytest.mark.parametrize("bad", ["$share//t", "$share/g", "$share/g/", "$share/g+/t",
                                 "$share/g#/t", "$share/g/a/#/b"])
def test_shared_invalid_filter(mod_broker, bad):
    """[MQTT-4.8.2-1/2]: ShareName at least one character, no '/', '+', '#',
    followed by '/' and a valid Topic Filter: otherwise SUBACK failure (0x8F or
    0x80), or the connection is closed as a protocol error."""
    c = connected(mod_broker)
    c.send(mr.subscribe(c.pid(), [(bad, 1)], version=5))
    try:
        p = c.expect(mr.SUBACK)
        assert p.codes[0] in (mr.RC_TOPIC_FILTER_INVALID, mr.RC_UNSPECIFIED,
                              mr.RC_PROTOCOL_ERROR), p
    except mr.Closed:
        discs = [p for p in c.backlog if p.type == mr.DISCONNECT]
        assert all(d.rc >= 0x80 for d in discs)


def test_shared_no_local_is_protocol_error(mod_broker):
    """[MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error."""
    c = connected(mod_broker)
    c.send(mr.subscribe(c.pid(), [("$share/g/nl", mr.sub_options(qos=1, no_local=True))],
                        version=5))
    check_protocol_close(c, allowed_v5=(mr.RC_PROTOCOL_ERROR,))


def test_shared_v311_client(mod_broker):
    """A v3.1.1 client may use $share filters too (moat, like most brokers)."""
    root = uniq("sh7/")
    ms = members(mod_broker, "g", root, 2, version=4)
    p = connected(mod_broker, 4)
    for i in range(6):
        p.publish(root, b"%d" % i, qos=1)
    got = drain(ms, 6)
    assert sorted(x for v in got.values() for x in v) == sorted(b"%d" % i for i in range(6))


def test_shared_subscription_disabled(broker_factory):
    """mqtt.shared_subscription = false: CONNACK Shared Subscription Available 0
    and SUBSCRIBE to $share -> SUBACK 0x9E (or DISCONNECT 0x9E)."""
    b = broker_factory(["mqtt.shared_subscription = false"])
    c = connected(b)
    assert c.connack.props.get("shared_subscription_available") == 0
    c.send(mr.subscribe(c.pid(), [("$share/g/t", 1)], version=5))
    try:
        p = c.expect(mr.SUBACK)
        assert p.codes == [mr.RC_SHARED_NOT_SUPPORTED]
    except mr.Closed:
        discs = [p for p in c.backlog if p.type == mr.DISCONNECT]
        assert [d.rc for d in discs] == [mr.RC_SHARED_NOT_SUPPORTED]


def test_shared_unsubscribe_codes(mod_broker):
    c = connected(mod_broker)
    c.subscribe([("$share/g/u/t", 1)])
    u = c.unsubscribe(["$share/g/u/t", "$share/other/u/t", "u/t"])
    assert u.codes == [0, mr.RC_NO_SUBSCRIPTION_EXISTED, mr.RC_NO_SUBSCRIPTION_EXISTED]


def test_shared_load_balance_counts(mod_broker):
    """Balanced enough with 2 members: each gets at least a quarter of 40."""
    root = uniq("sh8/")
    ms = members(mod_broker, "g", root, 2, qos=0)
    p = connected(mod_broker)
    for i in range(40):
        p.publish(root, b"%02d" % i, qos=0)
    p.ping()
    got = drain(ms, 40)
    counts = collections.Counter({i: len(v) for i, v in got.items()})
    assert sum(counts.values()) == 40
    assert min(counts.values()) >= 10, counts
