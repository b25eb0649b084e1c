# SPDX-License-Identifier: Apache-2.0
"""$SYS topics: published (retained) every broker.sys_interval with sane values."""

import re
import time

import pytest

import mqttraw as mr
from conftest import uniq

SYS_TOPICS = [
    "$SYS/broker/version",
    "$SYS/broker/uptime",
    "$SYS/broker/clients/connected",
    "$SYS/broker/clients/total",
    "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent",
    "$SYS/broker/bytes/received",
    "$SYS/broker/bytes/sent",
    "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count",
]
NUMERIC = SYS_TOPICS[1:]


def connected(b, version=4, cid=None, **kw):
    c = b.raw(version)
    c.connect(cid or uniq("c"), **kw)
    return c


def number(payload):
    m = re.search(rb"\d+", payload)
    assert m, "no number in %r" % payload
    return int(m.group(0))


def sys_snapshot(b, timeout=5.0):
    """Subscribe to $SYS/# and collect the latest value of every listed topic."""
    c = connected(b)
    c.subscribe([("$SYS/#", 0)])
    vals = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(t in vals for t in SYS_TOPICS):
        try:
            m = c.recv_publish(timeout=max(0.05, deadline - time.monotonic()))
        except TimeoutError:
            break
        vals[m.topic] = m
    c.disconnect()
    missing = [t for t in SYS_TOPICS if t not in vals]
    assert not missing, "$SYS topics missing: %r (got %r)" % (missing, sorted(vals))
    return vals


def wait_value(b, topic, pred, timeout=6.0):
    """Watch topic until pred(number) holds; returns the value."""
    c = connected(b)
    c.subscribe([(topic, 0)])
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            m = c.recv_publish(timeout=max(0.05, deadline - time.monotonic()))
        except TimeoutError:
            break
        last = number(m.payload)
        if pred(last):
            c.disconnect()
            return last
    raise AssertionError("%s never satisfied the condition (last value %r)" % (topic, last))


def test_sys_topics_present_and_retained(broker):
    """All listed $SYS topics are published, retained (a new subscriber gets
    them at once with RETAIN=1), with sane values."""
    time.sleep(1.2)  # at least one interval has passed
    vals = sys_snapshot(broker, timeout=3.0)
    for t in SYS_TOPICS:
        assert vals[t].retain, "%s not retained" % t
    assert vals["$SYS/broker/version"].payload.strip(), "empty version"
    for t in NUMERIC:
        assert number(vals[t].payload) >= 0
    # the retained value may predate our connection; the next update counts us
    wait_value(broker, "$SYS/broker/clients/connected", lambda v: v >= 1)


def test_sys_version_matches_binary(broker):
    import subprocess
    from conftest import moat_bin
    out = subprocess.run([moat_bin(), "--version"], capture_output=True, text=True,
                         timeout=10).stdout.strip()
    version = out.split()[-1] if out else ""
    vals = sys_snapshot(broker)
    assert version and version.encode() in vals["$SYS/broker/version"].payload


def test_sys_uptime_increases(broker):
    first = wait_value(broker, "$SYS/broker/uptime", lambda v: True)
    wait_value(broker, "$SYS/broker/uptime", lambda v: v > first, timeout=5)


def test_sys_clients_connected_updates(broker):
    """clients/connected follows connects and disconnects; clients/total counts
    at least the connected ones."""
    base = number(sys_snapshot(broker)["$SYS/broker/clients/connected"].payload)
    extra = [connected(broker) for _ in range(4)]
    wait_value(broker, "$SYS/broker/clients/connected", lambda v: v >= base + 4)
    tot = number(sys_snapshot(broker)["$SYS/broker/clients/total"].payload)
    assert tot >= base + 4
    for c in extra:
        c.disconnect()
    wait_value(broker, "$SYS/broker/clients/connected", lambda v: v <= base + 1)


def test_sys_message_and_byte_counters_increase(broker):
    v0 = sys_snapshot(broker)
    p = connected(broker)
    s = connected(broker)
    s.subscribe([("cnt/t", 1)])
    for i in range(20):
        p.publish("cnt/t", b"x" * 100, qos=1)
    for _ in range(20):
        s.recv_publish()
    r0 = number(v0["$SYS/broker/messages/received"].payload)
    s0 = number(v0["$SYS/broker/messages/sent"].payload)
    b0 = number(v0["$SYS/broker/bytes/received"].payload)
    wait_value(broker, "$SYS/broker/messages/received", lambda v: v >= r0 + 20)
    wait_value(broker, "$SYS/broker/messages/sent", lambda v: v >= s0 + 20)
    wait_value(broker, "$SYS/broker/bytes/received", lambda v: v >= b0 + 2000)
    wait_value(broker, "$SYS/broker/bytes/sent", lambda v: v >= 2000)


def test_sys_subscription_and_retained_counts(broker):
    subs0 = number(sys_snapshot(broker)["$SYS/broker/subscriptions/count"].payload)
    c = connected(broker)
    c.subscribe([("sc/a", 0), ("sc/b", 1), ("sc/+", 2)])
    wait_value(broker, "$SYS/broker/subscriptions/count", lambda v: v >= subs0 + 3)
    p = connected(broker)
    for i in range(3):
        p.publish("rc/%d" % i, b"r", qos=1, retain=True)
    wait_value(broker, "$SYS/broker/retained messages/count", lambda v: v >= 3)
    for i in range(3):
        p.publish("rc/%d" % i, b"", qos=1, retain=True)
    c.unsubscribe(["sc/a", "sc/b", "sc/+"])
    wait_value(broker, "$SYS/broker/subscriptions/count", lambda v: v <= subs0 + 1)


def test_hash_does_not_receive_sys(broker):
    """[MQTT-4.7.2-1]: '#' does not match $SYS topics (and gets normal ones)."""
    c = connected(broker)
    c.subscribe([("#", 0)])
    time.sleep(2.2)  # two $SYS intervals
    connected(broker).publish("normal/topic", b"n", qos=0)
    got = [m.topic for m in c.collect_publishes(0.5)]
    assert not [t for t in got if t.startswith("$")], got
    assert "normal/topic" in got


def test_sys_disabled_with_interval_zero(broker_factory):
    """broker.sys_interval = 0 disables $SYS publishing."""
    b = broker_factory(["broker.sys_interval = 0"])
    c = connected(b)
    c.subscribe([("$SYS/#", 0)])
    c.no_packet(2.0, types=(mr.PUBLISH,))
