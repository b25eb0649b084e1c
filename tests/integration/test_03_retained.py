# SPDX-License-Identifier: Apache-2.0
"""Retained messages: set, replace, clear, delivery on subscribe, Retain Handling,
Retain As Published, expiry, and persistence across SIGTERM and kill -9."""

import signal
import time

import pytest

import mqttraw as mr
from conftest import uniq


def connected(b, version, cid=None, **kw):
    c = b.raw(version)
    c.connect(cid or uniq("c"), **kw)
    return c


@pytest.mark.parametrize("version", [3, 4, 5])
def test_retained_delivered_on_subscribe(mod_broker, version):
    """[MQTT-3.3.1-5/6] (3.1.1) / [MQTT-3.3.1-5..9] (5): a retained message is
    stored and sent to a new subscriber with RETAIN=1."""
    t = uniq("ret/")
    p = connected(mod_broker, version)
    p.publish(t, b"v1", qos=1, retain=True)
    s = connected(mod_broker, version)
    s.subscribe([(t, 1)])
    m = s.recv_publish()
    assert (m.topic, m.payload, m.qos, m.retain) == (t, b"v1", 1, True)
    s.no_packet(0.3, types=(mr.PUBLISH,))


@pytest.mark.parametrize("version", [4, 5])
def test_retained_replace(mod_broker, version):
    """A new retained message replaces the previous one for the topic."""
    t = uniq("retr/")
    p = connected(mod_broker, version)
    p.publish(t, b"v1", qos=1, retain=True)
    p.publish(t, b"v2", qos=1, retain=True)
    s = connected(mod_broker, version)
    s.subscribe([(t, 1)])
    assert s.recv_publish().payload == b"v2"
    s.no_packet(0.4, types=(mr.PUBLISH,))


@pytest.mark.parametrize("version", [4, 5])
def test_retained_clear_with_empty_payload(mod_broker, version):
    """[MQTT-3.3.1-10/11] (3.1.1) / [MQTT-3.3.1-6/7] (5): a retained message with
    an empty payload removes the retained message (and is not stored itself); it
    is still delivered to current subscribers as a normal message."""
    t = uniq("retc/")
    p = connected(mod_broker, version)
    p.publish(t, b"v1", qos=1, retain=True)
    live = connected(mod_broker, version)
    live.subscribe([(t, 1)])
    assert live.recv_publish().payload == b"v1"
    p.publish(t, b"", qos=1, retain=True)
    m = live.recv_publish()
    assert m.payload == b""
    s = connected(mod_broker, version)
    s.subscribe([(t, 1)])
    s.no_packet(0.6, types=(mr.PUBLISH,))


def test_retained_qos0_discards_previous(mod_broker):
    """[MQTT-3.3.1-7] (3.1.1): a QoS 0 retained message discards the previously
    retained message for the topic (and SHOULD be stored itself)."""
    t = uniq("retq0/")
    p = connected(mod_broker, 4)
    p.publish(t, b"old", qos=1, retain=True)
    p.publish(t, b"new", qos=0, retain=True)
    p.ping()
    s = connected(mod_broker, 4)
    s.subscribe([(t, 1)])
    got = [m.payload for m in s.collect_publishes(0.6)]
    assert got in ([b"new"], []), got
    assert got == [b"new"], "QoS 0 retained message not stored (SHOULD)"


def test_retained_wildcard_subscribe_gets_all(mod_broker):
    root = uniq("retw/")
    p = connected(mod_broker, 4)
    topics = [root + "/" + x for x in ("a", "b", "c/d", "c/e/f")]
    for t in topics:
        p.publish(t, t.encode(), qos=1, retain=True)
    p.publish(root + "x/not", b"no", qos=1, retain=True)
    s = connected(mod_broker, 4)
    s.subscribe([(root + "/#", 1)])
    got = s.collect_publishes(1.0, limit=4)
    assert sorted(m.topic for m in got) == sorted(topics)
    assert all(m.retain and m.payload == m.topic.encode() for m in got)
    s.no_packet(0.3, types=(mr.PUBLISH,))
    s2 = connected(mod_broker, 4)
    s2.subscribe([(root + "/+", 0)])
    got = s2.collect_publishes(1.0, limit=2)
    assert sorted(m.topic for m in got) == sorted(topics[:2])


@pytest.mark.parametrize("sub_qos", [0, 1, 2])
def test_retained_qos_downgrade(mod_broker, sub_qos):
    """Retained messages are delivered at min(message QoS, granted QoS)."""
    t = uniq("retqd/")
    p = connected(mod_broker, 5)
    p.publish(t, b"q2", qos=2, retain=True)
    s = connected(mod_broker, 5)
    s.subscribe([(t, sub_qos)])
    m = s.recv_publish()
    assert m.qos == sub_qos and m.retain
    s.finish_qos2()


def test_v311_resubscribe_resends_retained(mod_broker):
    """[MQTT-3.8.4-3] (3.1.1): a SUBSCRIBE replacing an existing subscription
    re-sends the matching retained messages."""
    t = uniq("retrs/")
    p = connected(mod_broker, 4)
    p.publish(t, b"r", qos=1, retain=True)
    s = connected(mod_broker, 4)
    s.subscribe([(t, 1)])
    assert s.recv_publish().payload == b"r"
    s.subscribe([(t, 1)])
    m = s.recv_publish()
    assert m.payload == b"r" and m.retain


def test_v5_retain_handling_0(mod_broker):
    """[MQTT-3.3.1-9]: Retain Handling 0: retained messages are sent on every
    SUBSCRIBE, also when the subscription already exists."""
    t = uniq("rh0/")
    connected(mod_broker, 5).publish(t, b"r", qos=1, retain=True)
    s = connected(mod_broker, 5)
    for _ in range(2):
        s.subscribe([(t, mr.sub_options(qos=1, retain_handling=0))])
        m = s.recv_publish()
        assert m.payload == b"r" and m.retain


def test_v5_retain_handling_1(mod_broker):
    """[MQTT-3.3.1-10]: Retain Handling 1: sent only if the subscription did not
    exist already."""
    t = uniq("rh1/")
    connected(mod_broker, 5).publish(t, b"r", qos=1, retain=True)
    s = connected(mod_broker, 5)
    s.subscribe([(t, mr.sub_options(qos=1, retain_handling=1))])
    assert s.recv_publish().payload == b"r"
    s.subscribe([(t, mr.sub_options(qos=1, retain_handling=1))])
    s.no_packet(0.6, types=(mr.PUBLISH,))
    # after unsubscribing, the subscription is new again
    s.unsubscribe([t])
    s.subscribe([(t, mr.sub_options(qos=1, retain_handling=1))])
    assert s.recv_publish().payload == b"r"


def test_v5_retain_handling_2(mod_broker):
    """[MQTT-3.3.1-11]: Retain Handling 2: retained messages are never sent at
    subscribe time; live messages still arrive."""
    t = uniq("rh2/")
    p = connected(mod_broker, 5)
    p.publish(t, b"r", qos=1, retain=True)
    s = connected(mod_broker, 5)
    s.subscribe([(t, mr.sub_options(qos=1, retain_handling=2))])
    s.no_packet(0.6, types=(mr.PUBLISH,))
    p.publish(t, b"live", qos=1)
    m = s.recv_publish()
    assert m.payload == b"live" and not m.retain


@pytest.mark.parametrize("rap", [False, True])
def test_v5_retain_as_published(mod_broker, rap):
    """[MQTT-3.3.1-12/13]: messages sent at subscribe time always have RETAIN=1;
    a live message published with RETAIN=1 keeps it only with Retain As Published."""
    t = uniq("rap/")
    p = connected(mod_broker, 5)
    p.publish(t, b"stored", qos=1, retain=True)
    s = connected(mod_broker, 5)
    s.subscribe([(t, mr.sub_options(qos=1, rap=rap))])
    m = s.recv_publish()
    assert m.payload == b"stored" and m.retain
    p.publish(t, b"live-retained", qos=1, retain=True)
    p.publish(t, b"live-plain", qos=1, retain=False)
    got = [s.recv_publish() for _ in range(2)]
    assert [(x.payload, x.retain) for x in got] == [(b"live-retained", rap),
                                                     (b"live-plain", False)]


def test_v5_retained_properties_kept(mod_broker):
    """Properties of a retained message are delivered with it at subscribe time."""
    t = uniq("retp/")
    p = connected(mod_broker, 5)
    p.publish(t, b"{}", qos=1, retain=True, props=[
        ("content_type", "application/json"), ("response_topic", "resp/x"),
        ("correlation_data", b"cd"), ("user_property", ("k", "v")),
        ("payload_format_indicator", 1)])
    s = connected(mod_broker, 5)
    s.subscribe([(t, 1)])
    m = s.recv_publish()
    assert m.props.get("content_type") == "application/json"
    assert m.props.get("response_topic") == "resp/x"
    assert m.props.get("correlation_data") == b"cd"
    assert m.props.get("user_property") == [("k", "v")]
    assert m.props.get("payload_format_indicator") == 1


def test_v5_retained_message_expiry(mod_broker):
    """[MQTT-3.3.2-5/6]: an expired retained message is no longer sent; a live
    one is sent with the remaining expiry interval."""
    root = uniq("retexp/")
    p = connected(mod_broker, 5)
    p.publish(root + "/short", b"s", qos=1, retain=True, props={"message_expiry_interval": 1})
    p.publish(root + "/long", b"l", qos=1, retain=True, props={"message_expiry_interval": 60})
    time.sleep(2.5)
    s = connected(mod_broker, 5)
    s.subscribe([(root + "/#", 1)])
    got = s.collect_publishes(1.0)
    assert [m.topic for m in got] == [root + "/long"]
    mei = got[0].props.get("message_expiry_interval")
    assert mei is not None and 1 <= mei <= 58


# ------------------------------------------------------------------ persistence

def _publish_retained_set(b, root):
    p = connected(b, 5)
    for i in range(20):
        p.publish("%s/%d" % (root, i), b"v%d" % i, qos=1, retain=True,
                  props={"content_type": "ct%d" % i} if i == 0 else None)
    p.publish(root + "/gone", b"x", qos=1, retain=True)
    p.publish(root + "/gone", b"", qos=1, retain=True)   # cleared: must stay cleared
    p.publish(root + "/5", b"v5-new", qos=1, retain=True)  # replaced
    p.disconnect()


def _check_retained_set(b, root):
    s = connected(b, 5)
    s.subscribe([(root + "/#", 1)])
    got = {m.topic: m for m in s.collect_publishes(5.0, limit=20)}
    s.no_packet(0.3, types=(mr.PUBLISH,))
    want = {"%s/%d" % (root, i): (b"v%d" % i if i != 5 else b"v5-new") for i in range(20)}
    assert {t: m.payload for t, m in got.items()} == want
    assert all(m.retain for m in got.values())
    assert got[root + "/0"].props.get("content_type") == "ct0"


def test_retained_survive_sigterm_restart(broker):
    """Retained messages (and their removal/replacement) survive a SIGTERM restart."""
    _publish_retained_set(broker, "persist")
    broker.restart(sig=signal.SIGTERM)
    _check_retained_set(broker, "persist")


def test_retained_survive_kill9(broker):
    """Retained messages survive kill -9: the store (LMDB) commits before the
    PUBACK is sent, so an acknowledged retained message is durable."""
    _publish_retained_set(broker, "persist9")
    broker.restart(sig=signal.SIGKILL)
    _check_retained_set(broker, "persist9")


def test_retained_survive_two_restarts(broker):
    _publish_retained_set(broker, "p2")
    broker.restart()
    connected(broker, 4).publish("p2/extra", b"e", qos=1, retain=True)
    broker.restart(sig=signal.SIGKILL)
    s = connected(broker, 4)
    s.subscribe([("p2/extra", 1), ("p2/3", 1)])
    got = sorted(m.payload for m in s.collect_publishes(3.0, limit=2))
    assert got == [b"e", b"v3"]
