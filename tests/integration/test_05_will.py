# SPDX-License-Identifier: Apache-2.0
"""Will messages: when they are and are not published, delay, retain, QoS,
properties."""

import time

import pytest

import mqttraw as mr
from conftest import check_protocol_close, uniq


def connected(b, version, cid=None, **kw):
    c = b.raw(version)
    c.connect(cid or uniq("c"), **kw)
    return c


def watcher(b, topic, qos=2, version=5):
    w = connected(b, version)
    w.subscribe([(topic, qos)])
    return w


def will(topic, payload=b"gone", qos=1, retain=False, props=None):
    return {"topic": topic, "payload": payload, "qos": qos, "retain": retain, "props": props}


@pytest.mark.parametrize("version", [3, 4, 5])
def test_will_on_abrupt_close(mod_broker, version):
    """[MQTT-3.1.2-8]: network closed without DISCONNECT -> will published."""
    t = uniq("w/abrupt/")
    w = watcher(mod_broker, t)
    c = connected(mod_broker, version, will=will(t, b"bye-%d" % version))
    c.close()
    m = w.recv_publish(timeout=5)
    assert (m.topic, m.payload, m.qos) == (t, b"bye-%d" % version, 1)


@pytest.mark.parametrize("version", [3, 4, 5])
def test_no_will_on_normal_disconnect(mod_broker, version):
    """[MQTT-3.1.2-10] (3.1.1) / [MQTT-3.1.2-10] (5): DISCONNECT (0x00) deletes
    the will."""
    t = uniq("w/normal/")
    w = watcher(mod_broker, t)
    c = connected(mod_broker, version, will=will(t))
    c.disconnect()
    w.no_packet(1.0, types=(mr.PUBLISH,))


def test_v5_disconnect_with_will_message(mod_broker):
    """3.14.2.1: DISCONNECT reason 0x04 -> the will is published."""
    t = uniq("w/rc4/")
    w = watcher(mod_broker, t)
    c = connected(mod_broker, 5, will=will(t, b"rc4"))
    c.disconnect(rc=mr.RC_DISCONNECT_WITH_WILL)
    assert w.recv_publish(timeout=5).payload == b"rc4"


@pytest.mark.parametrize("version", [4, 5])
def test_will_on_keepalive_timeout(mod_broker, version):
    """[MQTT-3.1.2-8]: the server closing a silent client (keep alive) publishes
    its will."""
    t = uniq("w/ka/")
    w = watcher(mod_broker, t)
    c = connected(mod_broker, version, keepalive=2, will=will(t, b"timeout"))
    t0 = time.monotonic()
    m = w.recv_publish(timeout=8)
    assert m.payload == b"timeout"
    assert time.monotonic() - t0 >= 1.9
    c.close()


@pytest.mark.parametrize("version", [4, 5])
def test_will_on_protocol_error(mod_broker, version):
    """[MQTT-3.1.2-8] (3.1.1: "the Server closes the Network Connection because
    of a protocol violation"): will published when the server closes the
    connection for a protocol error (here a second CONNECT)."""
    t = uniq("w/perr/")
    w = watcher(mod_broker, t)
    cid = uniq("perr")
    c = connected(mod_broker, version, cid, will=will(t, b"perr"))
    c.send(mr.connect(cid, version=version))
    check_protocol_close(c, allowed_v5=(mr.RC_PROTOCOL_ERROR,))
    assert w.recv_publish(timeout=5).payload == b"perr"


def test_v5_will_delay(mod_broker):
    """3.1.3.2.2: with a Will Delay Interval the will is published only after the
    delay (session expiry longer than the delay)."""
    t = uniq("w/delay/")
    w = watcher(mod_broker, t)
    c = connected(mod_broker, 5, uniq("wd"), props={"session_expiry_interval": 30},
                  will=will(t, b"late", props={"will_delay_interval": 2}))
    c.close()
    t0 = time.monotonic()
    w.no_packet(1.2, types=(mr.PUBLISH,))
    m = w.recv_publish(timeout=6)
    assert m.payload == b"late"
    assert time.monotonic() - t0 >= 1.8


def test_v5_will_delay_cancelled_by_reconnect(mod_broker):
    """[MQTT-3.1.3-9]: a new connection for the session before the delay elapses
    means the will is not sent."""
    t = uniq("w/cancel/")
    w = watcher(mod_broker, t)
    cid = uniq("wc")
    c = connected(mod_broker, 5, cid, props={"session_expiry_interval": 30},
                  will=will(t, b"never", props={"will_delay_interval": 2}))
    c.close()
    time.sleep(0.3)
    c = connected(mod_broker, 5, cid, clean=False, props={"session_expiry_interval": 30})
    assert c.connack.session_present
    w.no_packet(3.0, types=(mr.PUBLISH,))
    c.disconnect()


def test_v5_will_delay_ended_by_session_expiry(mod_broker):
    """3.1.2.5: the will is published when the delay passes or the session ends,
    whichever is first (session expiry 1s < will delay 60s)."""
    t = uniq("w/sess/")
    w = watcher(mod_broker, t)
    c = connected(mod_broker, 5, uniq("ws"), props={"session_expiry_interval": 1},
                  will=will(t, b"sess-end", props={"will_delay_interval": 60}))
    c.close()
    m = w.recv_publish(timeout=5)
    assert m.payload == b"sess-end"


def test_v5_will_delay_session_expiry_zero(mod_broker):
    """Session expiry 0: the session ends with the connection, so the will is
    published at once despite a will delay."""
    t = uniq("w/se0/")
    w = watcher(mod_broker, t)
    c = connected(mod_broker, 5, uniq("w0"),
                  will=will(t, b"now", props={"will_delay_interval": 30}))
    c.close()
    assert w.recv_publish(timeout=3).payload == b"now"


def test_v5_normal_disconnect_deletes_delayed_will(mod_broker):
    t = uniq("w/deld/")
    w = watcher(mod_broker, t)
    cid = uniq("wdd")
    c = connected(mod_broker, 5, cid, props={"session_expiry_interval": 2},
                  will=will(t, b"no", props={"will_delay_interval": 1}))
    c.disconnect()
    w.no_packet(2.5, types=(mr.PUBLISH,))


@pytest.mark.parametrize("version", [4, 5])
def test_will_retain(mod_broker, version):
    """[MQTT-3.1.2-17]: Will Retain 1 -> the will is published as retained."""
    t = uniq("w/ret/")
    live = watcher(mod_broker, t)
    c = connected(mod_broker, version, will=will(t, b"ret", retain=True))
    c.close()
    assert live.recv_publish(timeout=5).payload == b"ret"
    later = connected(mod_broker, version)
    later.subscribe([(t, 1)])
    m = later.recv_publish()
    assert m.payload == b"ret" and m.retain
    later.publish(t, b"", qos=1, retain=True)


@pytest.mark.parametrize("will_qos", [0, 1, 2])
def test_will_qos(mod_broker, will_qos):
    """[MQTT-3.1.2-14..16]: the will is published with its Will QoS."""
    t = uniq("w/qos/")
    w = watcher(mod_broker, t, qos=2, version=4)
    c = connected(mod_broker, 4, will=will(t, b"q", qos=will_qos))
    c.close()
    m = w.recv_publish(timeout=5)
    assert m.qos == will_qos
    w.finish_qos2()


def test_v5_will_properties_forwarded(mod_broker):
    """3.1.3.2: Will Properties (payload format, message expiry, content type,
    response topic, correlation data, user properties) go with the will."""
    t = uniq("w/props/")
    w = watcher(mod_broker, t)
    ups = [("a", "1"), ("b", "2"), ("a", "3")]
    props = [("payload_format_indicator", 1), ("message_expiry_interval", 120),
             ("content_type", "text/plain"), ("response_topic", "resp/" + t),
             ("correlation_data", b"\x01\x02")] + [("user_property", kv) for kv in ups]
    c = connected(mod_broker, 5, will=will(t, "w\u00e9".encode(), props=props))
    c.close()
    m = w.recv_publish(timeout=5)
    assert m.payload == "w\u00e9".encode()
    assert m.props.get("payload_format_indicator") == 1
    assert 115 <= m.props.get("message_expiry_interval", -1) <= 120
    assert m.props.get("content_type") == "text/plain"
    assert m.props.get("response_topic") == "resp/" + t
    assert m.props.get("correlation_data") == b"\x01\x02"
    assert m.props.get("user_property") == ups


def test_v5_will_on_takeover_without_delay(mod_broker):
    """3.1.4 step 2 + 3.1.2.5: on session takeover the existing connection is
    closed and, with no will delay, its will is published."""
    t = uniq("w/take/")
    w = watcher(mod_broker, t)
    cid = uniq("wt")
    a = connected(mod_broker, 5, cid, will=will(t, b"taken"))
    b = connected(mod_broker, 5, cid)
    got = a.expect_closed()
    assert [p.rc for p in got if p.type == mr.DISCONNECT] in ([], [mr.RC_SESSION_TAKEN_OVER])
    assert w.recv_publish(timeout=5).payload == b"taken"
    b.disconnect()


def test_v5_no_will_on_takeover_within_delay(mod_broker):
    """[MQTT-3.1.3-9]/3.1.2.5: a takeover that resumes the session (Clean Start 0)
    within the Will Delay Interval: the will is not published."""
    t = uniq("w/takeresume/")
    w = watcher(mod_broker, t)
    cid = uniq("wtr")
    a = connected(mod_broker, 5, cid, props={"session_expiry_interval": 60},
                  will=will(t, b"no", props={"will_delay_interval": 2}))
    b = connected(mod_broker, 5, cid, clean=False, props={"session_expiry_interval": 60})
    assert b.connack.session_present
    a.expect_closed()
    w.no_packet(3.0, types=(mr.PUBLISH,))
    b.disconnect()


def test_will_paho_v311(mod_broker, paho_clients):
    t = uniq("w/paho/")
    w = paho_clients(mod_broker, uniq("pw"), version=4)
    w.subscribe(t, 1)
    c = paho_clients(mod_broker, uniq("pwc"), version=4, connect=False,
                     will={"topic": t, "payload": b"paho-will", "qos": 1})
    c.connect()
    c.stop()  # closes the socket without DISCONNECT
    m = w.get(timeout=5)
    assert m.payload == b"paho-will" and m.qos == 1
