# SPDX-License-Identifier: Apache-2.0
"""Sessions: clean session / clean start, session present, session expiry,
offline queueing, redelivery of in-flight messages, persistence across SIGTERM
restart and kill -9, queue limit."""

import signal
import time

import pytest

import mqttraw as mr
from conftest import PahoClient, uniq


def connected(b, version, cid=None, **kw):
    c = b.raw(version)
    c.connect(cid or uniq("c"), **kw)
    return c


def persistent(b, version, cid, clean=False, expiry=300, **kw):
    """Connect with a session that outlives the connection (v3: clean=0, v5:
    Session Expiry Interval)."""
    if version == 5:
        props = dict(kw.pop("props", {}) or {})
        props.setdefault("session_expiry_interval", expiry)
        return connected(b, 5, cid, clean=clean, props=props, **kw)
    return connected(b, version, cid, clean=clean, **kw)


# ------------------------------------------------------------------ session present

@pytest.mark.parametrize("version", [4, 5])
def test_session_present_flag(mod_broker, version):
    """[MQTT-3.2.2-1..3]: SP=0 with clean session/start; SP=0 for a new persistent
    session; SP=1 when resuming; a clean connect discards the session."""
    cid = uniq("sp")
    c = persistent(mod_broker, version, cid)
    assert not c.connack.session_present
    c.disconnect()
    c = persistent(mod_broker, version, cid)
    assert c.connack.session_present
    c.disconnect()
    c = persistent(mod_broker, version, cid, clean=True)
    assert not c.connack.session_present
    c.disconnect()
    c = persistent(mod_broker, version, cid, clean=False)
    assert c.connack.session_present == (version == 5), \
        "v5: clean start 1 with expiry starts a new session that persists; " \
        "v3.1.1: clean session 1 session is discarded at disconnect"


def test_v31_session_persistent(mod_broker):
    """MQTT 3.1 clean session 0 keeps subscriptions (3.1 CONNACK has no SP flag)."""
    cid = uniq("v31s")
    t = uniq("v31s/")
    c = connected(mod_broker, 3, cid, clean=False)
    c.subscribe([(t, 1)])
    c.disconnect()
    connected(mod_broker, 3).publish(t, b"queued", qos=1)
    c = connected(mod_broker, 3, cid, clean=False)
    assert c.recv_publish().payload == b"queued"


@pytest.mark.parametrize("version", [4, 5])
def test_persistent_subscription_kept(mod_broker, version):
    """[MQTT-3.1.2-4] (3.1.1) / 4.1: the session keeps subscriptions; no need to
    subscribe again after reconnecting."""
    cid = uniq("ps")
    t = uniq("ps/")
    c = persistent(mod_broker, version, cid)
    c.subscribe([(t, 1)])
    c.disconnect()
    c = persistent(mod_broker, version, cid)
    assert c.connack.session_present
    connected(mod_broker, version).publish(t, b"x", qos=1)
    assert c.recv_publish().payload == b"x"


def test_v311_clean_session_discards_subscriptions(mod_broker):
    """[MQTT-3.1.2-6]: a clean session ends with the connection."""
    cid = uniq("cs")
    t = uniq("cs/")
    c = connected(mod_broker, 4, cid, clean=True)
    c.subscribe([(t, 1)])
    c.disconnect()
    c = connected(mod_broker, 4, cid, clean=False)
    assert not c.connack.session_present
    connected(mod_broker, 4).publish(t, b"x", qos=1)
    c.no_packet(0.5, types=(mr.PUBLISH,))


# ------------------------------------------------------------------ v5 expiry

def test_v5_session_expiry_zero(mod_broker):
    """3.1.2.11.2: absent Session Expiry Interval = 0: the session ends when the
    network connection closes."""
    cid = uniq("se0")
    t = uniq("se0/")
    c = connected(mod_broker, 5, cid, clean=True)
    c.subscribe([(t, 1)])
    c.disconnect()
    c = connected(mod_broker, 5, cid, clean=False)
    assert not c.connack.session_present
    connected(mod_broker, 5).publish(t, b"x", qos=1)
    c.no_packet(0.5, types=(mr.PUBLISH,))


@pytest.mark.parametrize("abrupt", [False, True])
def test_v5_session_expiry_interval(mod_broker, abrupt):
    """[MQTT-3.1.2-23]: the session is kept for Session Expiry Interval seconds
    after the connection closes (with or without DISCONNECT), then discarded."""
    cid = uniq("sen")
    t = uniq("sen/")
    c = persistent(mod_broker, 5, cid, clean=True, expiry=1)
    c.subscribe([(t, 1)])
    c.close() if abrupt else c.disconnect()
    time.sleep(0.2)
    c = persistent(mod_broker, 5, cid, expiry=1)
    assert c.connack.session_present
    c.close() if abrupt else c.disconnect()
    time.sleep(2.5)
    c = persistent(mod_broker, 5, cid, expiry=1)
    assert not c.connack.session_present
    connected(mod_broker, 5).publish(t, b"x", qos=1)
    c.no_packet(0.5, types=(mr.PUBLISH,))


def test_v5_clean_start_discards_existing_session(mod_broker):
    """[MQTT-3.1.2-4]: Clean Start 1 discards an existing session."""
    cid = uniq("csd")
    t = uniq("csd/")
    c = persistent(mod_broker, 5, cid)
    c.subscribe([(t, 1)])
    c.disconnect()
    connected(mod_broker, 5).publish(t, b"queued", qos=1)
    c = persistent(mod_broker, 5, cid, clean=True)
    assert not c.connack.session_present
    c.no_packet(0.5, types=(mr.PUBLISH,))
    connected(mod_broker, 5).publish(t, b"new", qos=1)
    c.no_packet(0.3, types=(mr.PUBLISH,))


def test_v5_disconnect_sets_session_expiry_zero(mod_broker):
    """3.14.2.2.2: the client may set the Session Expiry Interval to 0 in
    DISCONNECT; the session then ends at once."""
    cid = uniq("dse")
    c = persistent(mod_broker, 5, cid, expiry=300)
    c.subscribe([(uniq("dse/"), 1)])
    c.disconnect(rc=0, props={"session_expiry_interval": 0})
    c = persistent(mod_broker, 5, cid)
    assert not c.connack.session_present


def test_v5_disconnect_session_expiry_from_zero_is_protocol_error(mod_broker):
    """[MQTT-3.14.2-2]: CONNECT expiry 0 then DISCONNECT with a non-zero expiry is
    a Protocol Error: not a valid DISCONNECT (the will is published) and the
    session does not persist."""
    cid = uniq("dpe")
    wt = uniq("dpe-will/")
    w = connected(mod_broker, 5)
    w.subscribe([(wt, 1)])
    c = connected(mod_broker, 5, cid, clean=True,
                  will={"topic": wt, "payload": b"will", "qos": 1})
    c.send(mr.disconnect(rc=0, props={"session_expiry_interval": 30}, version=5))
    got = c.expect_closed()
    assert [p.rc for p in got if p.type == mr.DISCONNECT] in ([], [mr.RC_PROTOCOL_ERROR])
    assert w.recv_publish(timeout=5).payload == b"will"
    c = persistent(mod_broker, 5, cid, expiry=0)
    assert not c.connack.session_present


def test_v5_session_expiry_capped_by_server(broker_factory):
    """mqtt.session_expiry_interval caps the interval; the server tells the
    client the value it uses in CONNACK (3.2.2.3.2) and applies it."""
    b = broker_factory(["mqtt.session_expiry_interval = 1s"])
    cid = uniq("cap")
    c = persistent(b, 5, cid, expiry=3600)
    assert c.connack.props.get("session_expiry_interval") == 1
    c.disconnect()
    time.sleep(2.5)
    c = persistent(b, 5, cid, expiry=3600)
    assert not c.connack.session_present


# ------------------------------------------------------------------ offline queueing

@pytest.mark.parametrize("version", [4, 5])
def test_offline_messages_queued(mod_broker, version):
    """4.1: QoS 1 and QoS 2 messages for an offline persistent session are stored
    and delivered in order on reconnect (at the subscription's QoS)."""
    cid = uniq("oq")
    t1, t2 = uniq("oq1/"), uniq("oq2/")
    c = persistent(mod_broker, version, cid)
    c.subscribe([(t1, 1), (t2, 2)])
    c.disconnect()
    p = connected(mod_broker, version)
    for i in range(5):
        p.publish(t1, b"a%d" % i, qos=1)
        p.publish(t2, b"b%d" % i, qos=2)
    c = persistent(mod_broker, version, cid)
    assert c.connack.session_present
    got = [c.recv_publish() for _ in range(10)]
    c.finish_qos2()
    assert [m.payload for m in got if m.topic == t1] == [b"a%d" % i for i in range(5)]
    assert [m.payload for m in got if m.topic == t2] == [b"b%d" % i for i in range(5)]
    assert all(m.qos == (1 if m.topic == t1 else 2) for m in got)
    c.no_packet(0.3, types=(mr.PUBLISH,))


def test_offline_messages_queued_paho_v311(mod_broker):
    cid = uniq("pq")
    t = uniq("pq/")
    c = PahoClient(mod_broker.port, cid, version=4, clean=False)
    c.connect()
    c.subscribe(t, 2)
    c.disconnect()
    p = PahoClient(mod_broker.port, uniq("pp"), version=4)
    p.connect()
    for i in range(3):
        p.publish(t, b"m%d" % i, qos=2)
    p.disconnect()
    c = PahoClient(mod_broker.port, cid, version=4, clean=False)
    try:
        c.connect()
        assert c.connack["session_present"]
        assert [m.payload for m in c.get_n(3)] == [b"m0", b"m1", b"m2"]
    finally:
        c.stop()


def _queue_for_offline(b, version, cid, t, n=4):
    c = persistent(b, version, cid)
    c.subscribe([(t + "/q1", 1), (t + "/q2", 2)])
    c.disconnect()
    p = connected(b, version)
    for i in range(n):
        p.publish(t + "/q1", b"a%d" % i, qos=1)
        p.publish(t + "/q2", b"b%d" % i, qos=2)
    p.disconnect()


def _check_offline(b, version, cid, t, n=4):
    c = persistent(b, version, cid)
    assert c.connack.session_present
    got = [c.recv_publish(timeout=10) for _ in range(2 * n)]
    c.finish_qos2()
    assert [m.payload for m in got if m.topic == t + "/q1"] == [b"a%d" % i for i in range(n)]
    assert [m.payload for m in got if m.topic == t + "/q2"] == [b"b%d" % i for i in range(n)]
    c.no_packet(0.3, types=(mr.PUBLISH,))
    # the subscriptions survived as well
    connected(b, version).publish(t + "/q1", b"after", qos=1)
    assert c.recv_publish().payload == b"after"


@pytest.mark.parametrize("version", [4, 5])
def test_offline_queue_survives_sigterm_restart(broker, version):
    """Persistent sessions with their subscriptions and queued QoS 1/2 messages
    survive a SIGTERM restart."""
    _queue_for_offline(broker, version, "offline-term", "oqt")
    broker.restart(sig=signal.SIGTERM)
    _check_offline(broker, version, "offline-term", "oqt")


@pytest.mark.parametrize("version", [4, 5])
def test_offline_queue_survives_kill9(broker, version):
    """Same after kill -9: survives because the LMDB store commits each queued
    message before the publisher gets its PUBACK/PUBREC."""
    _queue_for_offline(broker, version, "offline-kill", "oqk")
    broker.restart(sig=signal.SIGKILL)
    _check_offline(broker, version, "offline-kill", "oqk")


def test_v5_session_expiry_survives_restart(broker):
    """A session with an expiry interval is still there after a restart, and
    a session that expired is not resurrected."""
    keep = persistent(broker, 5, "keep", expiry=300)
    keep.subscribe([("ser/k", 1)])
    keep.disconnect()
    gone = persistent(broker, 5, "gone", expiry=0)
    gone.subscribe([("ser/g", 1)])
    gone.disconnect()
    broker.restart()
    assert persistent(broker, 5, "keep", expiry=300).connack.session_present
    assert not persistent(broker, 5, "gone", expiry=300).connack.session_present


# ------------------------------------------------------------------ redelivery

@pytest.mark.parametrize("version", [4, 5])
def test_inflight_qos1_redelivered_with_dup(mod_broker, version):
    """[MQTT-4.4.0-1], [MQTT-3.3.1-1], [MQTT-4.6.0-1]: unacknowledged QoS 1
    PUBLISHes are re-sent on reconnect with DUP=1, their original packet ids, in
    their original order, before newer messages."""
    cid = uniq("rd")
    t = uniq("rd/")
    c = persistent(mod_broker, version, cid)
    c.subscribe([(t, 1)])
    p = connected(mod_broker, version)
    for i in range(3):
        p.publish(t, b"m%d" % i, qos=1)
    first = [c.recv_publish(ack=False) for _ in range(3)]
    assert not any(m.dup for m in first)
    c.close()  # no PUBACK, no DISCONNECT
    time.sleep(0.3)
    p.publish(t, b"later", qos=1)
    c = persistent(mod_broker, version, cid)
    assert c.connack.session_present
    again = [c.recv_publish(ack=False) for _ in range(3)]
    assert [(m.payload, m.pid, m.dup) for m in again] == [(m.payload, m.pid, True)
                                                         for m in first]
    for m in again:
        c.send(mr.puback(m.pid, version=version))
    m = c.recv_publish()
    assert m.payload == b"later" and not m.dup
    c.no_packet(0.3, types=(mr.PUBLISH,))


@pytest.mark.parametrize("version", [4, 5])
def test_inflight_qos2_publish_redelivered(mod_broker, version):
    """A QoS 2 PUBLISH not yet PUBREC'd is re-sent with DUP=1 and the same id."""
    cid = uniq("rd2")
    t = uniq("rd2/")
    c = persistent(mod_broker, version, cid)
    c.subscribe([(t, 2)])
    connected(mod_broker, version).publish(t, b"q2", qos=2)
    m1 = c.recv_publish(ack=False)
    c.close()
    time.sleep(0.3)
    c = persistent(mod_broker, version, cid)
    m2 = c.recv_publish()
    assert (m2.payload, m2.pid, m2.dup, m2.qos) == (b"q2", m1.pid, True, 2)
    c.finish_qos2()
    assert not c.awaiting_rel


@pytest.mark.parametrize("version", [4, 5])
def test_qos2_pubrel_resent_after_reconnect(mod_broker, version):
    """[MQTT-4.4.0-1]: after PUBREC the server owes a PUBREL; on reconnect it
    re-sends the PUBREL (same id), not the PUBLISH."""
    cid = uniq("rel")
    t = uniq("rel/")
    c = persistent(mod_broker, version, cid)
    c.subscribe([(t, 2)])
    connected(mod_broker, version).publish(t, b"x", qos=2)
    m = c.recv_publish(ack=False)
    c.send(mr.pubrec(m.pid, version=version))
    rel = c.expect(mr.PUBREL)
    assert rel.pid == m.pid
    c.close()  # no PUBCOMP
    time.sleep(0.3)
    c = persistent(mod_broker, version, cid)
    rel2 = c.recv(timeout=5)
    assert rel2.type == mr.PUBREL and rel2.pid == m.pid, rel2
    c.send(mr.pubcomp(rel2.pid, version=version))
    c.no_packet(0.5)


@pytest.mark.parametrize("version", [4, 5])
def test_inbound_qos2_state_survives_reconnect(mod_broker, version):
    """[MQTT-4.3.3] / 4.1 session state: a QoS 2 message received but not released
    is remembered; a re-sent PUBLISH (DUP) after reconnect is not delivered
    again; PUBREL completes it with PUBCOMP."""
    cid = uniq("in2")
    t = uniq("in2/")
    s = connected(mod_broker, version)
    s.subscribe([(t, 2)])
    c = persistent(mod_broker, version, cid)
    c.send(mr.publish(t, b"once", qos=2, pid=10, version=version))
    assert c.expect(mr.PUBREC).pid == 10
    c.close()
    time.sleep(0.3)
    c = persistent(mod_broker, version, cid)
    assert c.connack.session_present
    c.send(mr.publish(t, b"once", qos=2, pid=10, dup=True, version=version))
    assert c.expect(mr.PUBREC).pid == 10
    c.send(mr.pubrel(10, version=version))
    comp = c.expect(mr.PUBCOMP)
    assert comp.pid == 10 and comp.rc == 0
    c.publish(t, b"end", qos=2)
    got = [s.recv_publish().payload for _ in range(2)]
    assert got == [b"once", b"end"]
    s.no_packet(0.3, types=(mr.PUBLISH,))


def test_inflight_survives_kill9(broker):
    """In-flight (sent, unacknowledged) QoS 1 and awaiting-PUBCOMP QoS 2 state of
    a persistent session survives kill -9 (LMDB commit before ack): after the
    restart the PUBLISH is re-sent with DUP=1 and the PUBREL is re-sent, with
    their original packet ids."""
    c = persistent(broker, 5, "infl9")
    c.subscribe([("if9/q1", 1), ("if9/q2", 2)])
    p = connected(broker, 5)
    p.publish("if9/q1", b"one", qos=1)
    m1 = c.recv_publish(ack=False)
    p.publish("if9/q2", b"two", qos=2)
    m2 = c.recv_publish(ack=False)
    c.send(mr.pubrec(m2.pid, version=5))
    assert c.expect(mr.PUBREL).pid == m2.pid
    time.sleep(0.3)
    c.close()
    broker.restart(sig=signal.SIGKILL)
    c = persistent(broker, 5, "infl9")
    assert c.connack.session_present
    got = [c.recv(timeout=10) for _ in range(2)]
    pubs = [g for g in got if g.type == mr.PUBLISH]
    rels = [g for g in got if g.type == mr.PUBREL]
    assert [(g.payload, g.pid, g.dup) for g in pubs] == [(b"one", m1.pid, True)]
    assert [g.pid for g in rels] == [m2.pid]
    c.send(mr.puback(m1.pid, version=5))
    c.send(mr.pubcomp(m2.pid, version=5))
    c.no_packet(0.5)


def test_v5_no_resend_while_connected(broker_factory):
    """[MQTT-4.4.0-1] (5): PUBLISH packets are re-sent only on reconnect, never
    while the connection lasts (even with a short mqtt.retry_interval)."""
    b = broker_factory(["mqtt.retry_interval = 1s"])
    c = connected(b, 5)
    c.subscribe([("nr/t", 1)])
    connected(b, 5).publish("nr/t", b"x", qos=1)
    c.recv_publish(ack=False)
    c.no_packet(2.5, types=(mr.PUBLISH,))


# ------------------------------------------------------------------ queue limit

def test_max_mqueue_len_offline(broker_factory):
    """mqtt.max_mqueue_len: an offline session queues at most that many messages;
    the rest are dropped (the log names the limit's key)."""
    b = broker_factory(["mqtt.max_mqueue_len = 5"])
    c = persistent(b, 5, "mq")
    c.subscribe([("mq/t", 1)])
    c.disconnect()
    p = connected(b, 5)
    for i in range(12):
        p.publish("mq/t", b"%02d" % i, qos=1)
    c = persistent(b, 5, "mq")
    got = c.collect_until_quiet(0.7)
    payloads = [m.payload for m in got]
    assert len(payloads) == 5, payloads
    assert payloads == sorted(payloads), "queued messages out of order: %r" % payloads
    b.wait_log(r"mqtt\.max_mqueue_len", timeout=5)
