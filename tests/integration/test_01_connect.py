# SPDX-License-Identifier: Apache-2.0
"""CONNECT / CONNACK, keep alive, session takeover, malformed packets.

References are to the normative statements of MQTT 3.1.1 and MQTT 5.0."""

import select
import struct
import subprocess
import time

import pytest

import mqttraw as mr
from conftest import check_protocol_close, run, uniq


def read_bytes_until_close(sock, timeout=5.0):
    """All bytes the server sends until it closes; fails on timeout."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("connection not closed within %.1fs (got %r)" % (timeout, data))
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            return data
        if not chunk:
            return data
        data += chunk


def check_connect_refused(c, timeout=5.0):
    """After a bad CONNECT: the server closes; it may first send a CONNACK with a
    failure code (never success). Returns the CONNACK or None."""
    got = c.expect_closed(timeout=timeout)
    assert all(p.type == mr.CONNACK for p in got), "unexpected packets: %r" % got
    assert len(got) <= 1
    if got:
        assert got[0].rc != 0, "bad CONNECT was accepted: %r" % got[0]
        if c.version == 5:
            assert got[0].rc >= 0x80
        return got[0]
    return None


# ------------------------------------------------------------------ happy paths

@pytest.mark.parametrize("version", [3, 4, 5])
def test_connect_connack_raw(mod_broker, version):
    """v3.1 (MQIsdp/3), v3.1.1 (MQTT/4) and v5 (MQTT/5) CONNECT gets CONNACK 0;
    PINGREQ gets PINGRESP."""
    c = mod_broker.raw(version)
    ack = c.connect(uniq("c%d-" % version), clean=True)
    assert ack.rc == 0
    assert not ack.session_present  # [MQTT-3.2.2-1] clean session -> session present 0
    c.ping()
    c.disconnect()


def test_connect_v31_connack_is_two_bytes(mod_broker):
    """An MQTT 3.1 CONNACK is 0x20 0x02 <reserved> <rc>."""
    c = mod_broker.raw(3)
    c.send(mr.connect(uniq("v31"), version=3))
    data = b""
    deadline = time.monotonic() + 5
    while len(data) < 4 and time.monotonic() < deadline:
        r, _, _ = select.select([c.sock], [], [], 0.5)
        if r:
            chunk = c.sock.recv(4 - len(data))
            if not chunk:
                break
            data += chunk
    assert data == b"\x20\x02\x00\x00"
    c.close()


@pytest.mark.parametrize("version", [3, 4, 5])
def test_connect_paho(mod_broker, paho_clients, version):
    """paho clients of every protocol version connect, subscribe, publish and receive."""
    topic = uniq("paho/connect/")
    c = paho_clients(mod_broker, uniq("pc%d-" % version), version=version)
    assert c.connack["rc"] == 0
    assert c.subscribe(topic, 1) == [1]
    c.publish(topic, b"hello", qos=1)
    m = c.get()
    assert (m.topic, m.payload, m.qos) == (topic, b"hello", 1)
    c.disconnect()


@pytest.mark.parametrize("vopt", ["mqttv31", "mqttv311", "mqttv5"])
def test_connect_mosquitto_pub(mod_broker, vopt):
    r = run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mod_broker.port), "-V", vopt,
             "-i", uniq("mp"), "-t", uniq("mp/t"), "-m", "x", "-q", "1"], timeout=20)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ protocol level / name

@pytest.mark.parametrize("level", [0, 2, 6, 255])
def test_unsupported_protocol_level(mod_broker, level):
    """[MQTT-3.1.2-2] (3.1.1): CONNACK return code 1 then close. MQTT 5 (3.1.2.2)
    allows CONNACK 0x84 instead. The server cannot know the client's real version,
    so either form is accepted; nothing else."""
    c = mod_broker.raw(4)
    c.send(mr.connect(uniq("lvl"), version=4, proto_level=level))
    data = read_bytes_until_close(c.sock)
    assert data, "closed without CONNACK; 3.1.1 requires CONNACK return code 1"
    if data == b"\x20\x02\x00\x01":
        return
    # MQTT 5 form: 0x20, remaining length, flags 0, reason 0x84, properties
    assert data[0] == 0x20 and data[1] >= 3 and data[2] == 0 and data[3] == 0x84, \
        "expected CONNACK rc 1 (v3) or 0x84 (v5), got %r" % data
    assert len(data) == 2 + data[1]


@pytest.mark.parametrize("name", ["MQTX", "mqtt", "MQIsdpX"])
def test_wrong_protocol_name(mod_broker, name):
    """[MQTT-3.1.2-1]: a wrong protocol name is not accepted as MQTT."""
    c = mod_broker.raw(4)
    c.send(mr.connect(uniq("pn"), version=4, proto_name=name))
    data = read_bytes_until_close(c.sock)
    if data:
        assert data[0] == 0x20 and data[3] != 0, "wrong protocol name accepted: %r" % data


# ------------------------------------------------------------------ first/second CONNECT

@pytest.mark.parametrize("first", ["pingreq", "publish", "subscribe", "disconnect"])
def test_first_packet_must_be_connect(mod_broker, first):
    """[MQTT-3.1.0-1]: the first packet must be CONNECT; otherwise the server closes
    the connection without answering it."""
    pkt = {"pingreq": mr.pingreq(), "publish": mr.publish("a/b", b"x"),
           "subscribe": mr.subscribe(1, [("a/#", 0)]), "disconnect": mr.disconnect()}[first]
    c = mod_broker.raw(4)
    c.send(pkt)
    data = read_bytes_until_close(c.sock)
    assert data == b"" or (data[0] == 0x20 and data[3] != 0), \
        "server answered a non-CONNECT first packet: %r" % data


@pytest.mark.parametrize("version", [4, 5])
def test_second_connect_is_protocol_error(mod_broker, version):
    """[MQTT-3.1.0-2]: a second CONNECT is a protocol error; connection closed."""
    cid = uniq("twice")
    c = mod_broker.raw(version)
    c.connect(cid)
    c.send(mr.connect(cid, version=version))
    check_protocol_close(c, allowed_v5=(mr.RC_PROTOCOL_ERROR,))


@pytest.mark.parametrize("version", [4, 5])
def test_connect_reserved_flag(mod_broker, version):
    """[MQTT-3.1.2-3]: CONNECT reserved flag must be 0, else close."""
    c = mod_broker.raw(version)
    c.send(mr.connect(uniq("rsv"), version=version, reserved_flag=True))
    check_connect_refused(c)


@pytest.mark.parametrize("version", [4, 5])
def test_connect_fixed_header_flags(mod_broker, version):
    """[MQTT-2.2.2-2]: CONNECT fixed header flags must be 0."""
    c = mod_broker.raw(version)
    c.send(mr.connect(uniq("hdr"), version=version, header_flags=0x01))
    check_connect_refused(c)


WILL_FLAG_CASES = {
    # will flag 0 but will QoS 1 [MQTT-3.1.2-11/13]
    "no_will_but_qos": lambda v: mr.connect(uniq("wf"), version=v, flags_override=0x02 | 0x08),
    # will flag 0 but will retain [MQTT-3.1.2-15]
    "no_will_but_retain": lambda v: mr.connect(uniq("wf"), version=v,
                                               flags_override=0x02 | 0x20),
    # will QoS 3 [MQTT-3.1.2-14]
    "will_qos3": lambda v: mr.connect(uniq("wf"), version=v,
                                      will={"topic": "w/t", "payload": b"x", "qos": 3}),
    # username flag set, but no username in the payload
    "username_missing": lambda v: mr.connect(uniq("wf"), version=v, flags_override=0x82),
}


@pytest.mark.parametrize("case", sorted(WILL_FLAG_CASES))
@pytest.mark.parametrize("version", [4, 5])
def test_connect_bad_flags(mod_broker, version, case):
    c = mod_broker.raw(version)
    c.send(WILL_FLAG_CASES[case](version))
    check_connect_refused(c)


def test_v311_password_without_username(mod_broker):
    """[MQTT-3.1.2-22] (3.1.1 only): password flag without username flag."""
    c = mod_broker.raw(4)
    body = mr.connect(uniq("pw"), version=4, password=b"secret")
    c.send(body)
    check_connect_refused(c)


@pytest.mark.parametrize("case", ["receive_maximum_0", "maximum_packet_size_0",
                                  "duplicate_session_expiry", "request_problem_info_2"])
def test_v5_connect_bad_properties(mod_broker, case):
    """MQTT 5 3.1.2.11: protocol errors in CONNECT properties."""
    props = {
        "receive_maximum_0": [("receive_maximum", 0)],
        "maximum_packet_size_0": [("maximum_packet_size", 0)],
        "duplicate_session_expiry": [("session_expiry_interval", 1),
                                     ("session_expiry_interval", 2)],
        "request_problem_info_2": [("request_problem_information", 2)],
    }[case]
    c = mod_broker.raw(5)
    c.send(mr.connect(uniq("bp"), version=5, props=props))
    check_connect_refused(c)


# ------------------------------------------------------------------ client identifiers

def test_v311_empty_client_id_clean_session(mod_broker):
    """[MQTT-3.1.3-6/7]: zero-length id with CleanSession=1 is accepted; two such
    clients get different identities (neither takes over the other)."""
    a = mod_broker.raw(4)
    assert a.connect("", clean=True).rc == 0
    b = mod_broker.raw(4)
    assert b.connect("", clean=True).rc == 0
    a.ping()
    b.ping()
    a.disconnect()
    b.disconnect()


def test_v311_empty_client_id_persistent_rejected(mod_broker):
    """[MQTT-3.1.3-8]: zero-length id with CleanSession=0 -> CONNACK 0x02, close."""
    c = mod_broker.raw(4)
    c.connect("", clean=False, expect_rc=mr.V3_ID_REJECTED)
    assert c.expect_closed() == []


def test_v31_empty_client_id_rejected(mod_broker):
    """MQTT 3.1: client id must be 1..23 characters; empty -> identifier rejected."""
    c = mod_broker.raw(3)
    c.connect("", clean=True, expect_rc=mr.V3_ID_REJECTED)
    assert c.expect_closed() == []


def test_v5_assigned_client_identifier(mod_broker):
    """[MQTT-3.1.3-6/7] [MQTT-3.2.2-16]: an empty id gets a unique assigned id,
    returned in CONNACK; the assigned id is the session's real id."""
    a = mod_broker.raw(5)
    ack_a = a.connect("", clean=True)
    ida = ack_a.props.get("assigned_client_identifier")
    assert ida, "no Assigned Client Identifier in CONNACK: %r" % ack_a
    b = mod_broker.raw(5)
    idb = b.connect("", clean=True).props.get("assigned_client_identifier")
    assert idb and idb != ida
    # Connecting with the assigned id takes over a's session.
    c = mod_broker.raw(5)
    c.connect(ida, clean=True)
    got = a.expect_closed()
    assert [p.rc for p in got if p.type == mr.DISCONNECT] in ([], [mr.RC_SESSION_TAKEN_OVER])
    b.ping()
    c.ping()


def test_v5_client_id_given_no_assigned_property(mod_broker):
    """Assigned Client Identifier only when the client sent an empty id."""
    c = mod_broker.raw(5)
    ack = c.connect(uniq("given"))
    assert "assigned_client_identifier" not in ack.props


def test_v5_empty_client_id_clean_start_0(mod_broker):
    """MQTT 5 allows an empty id regardless of Clean Start: either accepted with an
    assigned id, or refused with 0x85."""
    c = mod_broker.raw(5)
    ack = c.connect("", clean=False, expect_rc=None)
    if ack.rc == 0:
        assert ack.props.get("assigned_client_identifier")
    else:
        assert ack.rc == mr.RC_CLIENT_ID_INVALID
        c.expect_closed()


def test_client_id_23_alnum_and_long(mod_broker):
    """[MQTT-3.1.3-5]: 1..23 of [0-9a-zA-Z] must be allowed; longer ids are allowed
    by this config (max_clientid_len 65535)."""
    for cid in ["aZ09" * 5 + "xyz", "long-" + "x" * 500]:
        c = mod_broker.raw(4)
        assert c.connect(cid).rc == 0
        c.disconnect()


@pytest.mark.parametrize("version", [3, 4, 5])
def test_client_id_too_long(broker_factory, version):
    """mqtt.max_clientid_len: a longer id is refused (v5 0x85, v3 rc 2); an id of
    exactly the limit is accepted."""
    b = broker_factory(["mqtt.max_clientid_len = 23"])  # 23: the spec's minimum
    ok = b.raw(version)
    assert ok.connect("a" * 23).rc == 0
    c = b.raw(version)
    c.connect("b" * 24, expect_rc=mr.RC_CLIENT_ID_INVALID if version == 5 else mr.V3_ID_REJECTED)
    assert c.expect_closed() == []


# ------------------------------------------------------------------ takeover

@pytest.mark.parametrize("version", [4, 5])
def test_session_takeover(mod_broker, version):
    """[MQTT-3.1.4-2] (3.1.1) / [MQTT-3.1.4-3] (5): a second connection with the same
    client id closes the first; MQTT 5 first sends DISCONNECT 0x8E."""
    cid = uniq("take")
    a = mod_broker.raw(version)
    a.connect(cid)
    b = mod_broker.raw(version)
    assert b.connect(cid).rc == 0
    got = a.expect_closed()
    if version == 5:
        assert [(p.type, p.rc) for p in got] == [(mr.DISCONNECT, mr.RC_SESSION_TAKEN_OVER)]
    else:
        assert got == []
    b.ping()
    # and the new connection works
    t = uniq("take/t")
    b.subscribe([(t, 1)])
    b.publish(t, b"m", qos=1)
    assert b.recv_publish().payload == b"m"


# ------------------------------------------------------------------ anonymous

@pytest.mark.parametrize("version", [3, 4, 5])
def test_anonymous_refused(broker_factory, version):
    """allow_anonymous = false: no username -> v5 0x87 (not authorized), v3 rc 5;
    then close."""
    b = broker_factory(["allow_anonymous = false"])
    c = b.raw(version)
    c.connect(uniq("anon"), expect_rc=mr.RC_NOT_AUTHORIZED if version == 5
              else mr.V3_NOT_AUTHORIZED)
    assert c.expect_closed() == []


def test_anonymous_allowed(mod_broker):
    c = mod_broker.raw(4)
    assert c.connect(uniq("anon")).rc == 0


# ------------------------------------------------------------------ keep alive

@pytest.mark.parametrize("version", [4, 5])
def test_keepalive_timeout(mod_broker, version):
    """[MQTT-3.1.2-24] (3.1.1) / [MQTT-3.1.2-22] (5): no packet within 1.5 x keep
    alive -> disconnected (v5 may send DISCONNECT 0x8D first). Not before 1 x."""
    c = mod_broker.raw(version)
    c.connect(uniq("ka"), keepalive=2)
    t0 = time.monotonic()
    got = c.expect_closed(timeout=8)
    elapsed = time.monotonic() - t0
    assert 2.0 <= elapsed <= 3.0 + 2.5, "closed after %.2fs, keep alive 2s" % elapsed
    if version == 5:
        assert [p.rc for p in got] in ([], [mr.RC_KEEP_ALIVE_TIMEOUT])
    else:
        assert got == []


def test_keepalive_pingreq_keeps_connection(mod_broker):
    """A client sending PINGREQ within the keep alive stays connected."""
    c = mod_broker.raw(4)
    c.connect(uniq("kap"), keepalive=1)
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        c.ping()
        time.sleep(0.4)
    c.ping()


def test_keepalive_zero_no_timeout(mod_broker):
    """Keep alive 0 switches the mechanism off (server_keepalive = 0 in config)."""
    c = mod_broker.raw(4)
    c.connect(uniq("ka0"), keepalive=0)
    assert c.is_open_after(2.0)
    c.ping()


def test_server_keepalive(broker_factory):
    """MQTT 5 3.2.2.3.14: mqtt.server_keepalive is returned as Server Keep Alive
    and the client must use it [MQTT-3.1.2-21]; the server enforces it."""
    b = broker_factory(["mqtt.server_keepalive = 2"])
    c = b.raw(5)
    ack = c.connect(uniq("ska"), keepalive=60)
    assert ack.props.get("server_keep_alive") == 2
    t0 = time.monotonic()
    got = c.expect_closed(timeout=8)
    elapsed = time.monotonic() - t0
    assert 2.0 <= elapsed <= 5.5, "closed after %.2fs, server keep alive 2s" % elapsed
    assert [p.rc for p in got] in ([], [mr.RC_KEEP_ALIVE_TIMEOUT])


def test_no_server_keepalive_when_not_configured(mod_broker):
    c = mod_broker.raw(5)
    ack = c.connect(uniq("nska"), keepalive=30)
    assert ack.props.get("server_keep_alive") in (None, 30)


# ------------------------------------------------------------------ malformed packets

def _pub_body(topic_bytes, version, qos=0, pid=1, props=b"\x00", payload=b"x"):
    body = struct.pack("!H", len(topic_bytes)) + topic_bytes
    if qos:
        body += struct.pack("!H", pid)
    if version == 5:
        body += props
    return body + payload


MALFORMED = {
    # name: (builder(version), allowed v5 DISCONNECT reasons, versions)
    "publish_qos3": (lambda v: mr.fixed(mr.PUBLISH, 0x06, _pub_body(b"a/b", v, qos=1)),
                     {0x81}, (4, 5)),
    "remaining_length_5_bytes": (lambda v: b"\x30\xff\xff\xff\xff\x7f", {0x81}, (4, 5)),
    "subscribe_flags_0": (lambda v: mr.subscribe(1, [("a/b", 0)], version=v, flags=0),
                          {0x81}, (4, 5)),
    "unsubscribe_flags_0": (lambda v: mr.unsubscribe(1, ["a/b"], version=v, flags=0),
                            {0x81}, (4, 5)),
    "pubrel_flags_0": (lambda v: mr.pubrel(1, version=v, flags=0), {0x81}, (4, 5)),
    "pingreq_flags": (lambda v: b"\xc1\x00", {0x81}, (4, 5)),
    "topic_invalid_utf8": (lambda v: mr.fixed(mr.PUBLISH, 0, _pub_body(b"a/\xff\xfe", v)),
                           {0x81}, (4, 5)),
    "topic_overlong_utf8": (lambda v: mr.fixed(mr.PUBLISH, 0, _pub_body(b"a/\xc0\xaf", v)),
                            {0x81}, (4, 5)),
    "topic_surrogate": (lambda v: mr.fixed(mr.PUBLISH, 0, _pub_body(b"a/\xed\xa0\x80", v)),
                        {0x81}, (4, 5)),
    "topic_nul": (lambda v: mr.fixed(mr.PUBLISH, 0, _pub_body(b"a/\x00b", v)), {0x81}, (4, 5)),
    "topic_length_beyond_packet": (
        lambda v: mr.fixed(mr.PUBLISH, 0, b"\x00\x64abc"), {0x81}, (4, 5)),
    "publish_qos1_pid0": (lambda v: mr.fixed(mr.PUBLISH, 0x02, _pub_body(b"a/b", v, 1, pid=0)),
                          {0x81, 0x82}, (4, 5)),
    "subscribe_no_filters": (lambda v: mr.subscribe(1, [], version=v), {0x81, 0x82}, (4, 5)),
    "unsubscribe_no_filters": (lambda v: mr.unsubscribe(1, [], version=v), {0x81, 0x82},
                               (4, 5)),
    "subscribe_qos3": (lambda v: mr.subscribe(1, [("a/b", 3)], version=v), {0x81, 0x82},
                       (4, 5)),
    "subscribe_pid0": (lambda v: mr.subscribe(0, [("a/b", 0)], version=v), {0x81, 0x82},
                       (4, 5)),
    "subscribe_reserved_bits_v3": (lambda v: mr.subscribe(1, [("a/b", 0x04)], version=v),
                                   set(), (4,)),
    "subscribe_reserved_bits_v5": (lambda v: mr.subscribe(1, [("a/b", 0xC0)], version=v),
                                   {0x81}, (5,)),
    "subscribe_retain_handling_3": (lambda v: mr.subscribe(1, [("a/b", 0x30)], version=v),
                                    {0x81, 0x82}, (5,)),
    "packet_type_0": (lambda v: b"\x00\x00", {0x81, 0x82}, (4, 5)),
    "client_sends_connack": (lambda v: b"\x20\x02\x00\x00" if v == 4 else b"\x20\x03\x00\x00\x00",
                             {0x81, 0x82}, (4, 5)),
    "client_sends_suback": (lambda v: b"\x90\x03\x00\x01\x00" if v == 4
                            else b"\x90\x04\x00\x01\x00\x00", {0x81, 0x82}, (4, 5)),
    "client_sends_pingresp": (lambda v: b"\xd0\x00", {0x81, 0x82}, (4, 5)),
    "duplicate_property": (
        lambda v: mr.publish("a/b", b"x", props=[("payload_format_indicator", 0),
                                                 ("payload_format_indicator", 0)], version=v),
        {0x81, 0x82}, (5,)),
    "property_not_for_publish": (
        lambda v: mr.publish("a/b", b"x", props=[("session_expiry_interval", 5)], version=v),
        {0x81, 0x82}, (5,)),
    "unknown_property_id": (lambda v: mr.publish("a/b", b"x", props=b"\x7f\x00", version=v),
                            {0x81, 0x82}, (5,)),
    "property_length_beyond_packet": (
        lambda v: mr.fixed(mr.PUBLISH, 0, _pub_body(b"a/b", v, props=b"\x20", payload=b"")),
        {0x81}, (5,)),
    "subscription_identifier_0": (
        lambda v: mr.subscribe(1, [("a/b", 0)], props={"subscription_identifier": 0},
                               version=v), {0x81, 0x82}, (5,)),
    "topic_alias_0": (lambda v: mr.publish("a/b", b"x", props={"topic_alias": 0}, version=v),
                      {0x81, 0x82, 0x94}, (5,)),
    "auth_without_method": (lambda v: b"\xf0\x02\x18\x00", {0x81, 0x82}, (5,)),
}


@pytest.mark.parametrize("case,version", [(c, v) for c in sorted(MALFORMED)
                                          for v in MALFORMED[c][2]])
def test_malformed_packet_closes(mod_broker, case, version):
    """Malformed packets and protocol errors close the connection [MQTT-4.8.0-1]
    (3.1.1) / 4.13 (5: optionally DISCONNECT 0x81/0x82 or the specific code first).
    The broker keeps serving."""
    build, allowed, _ = MALFORMED[case]
    c = mod_broker.raw(version)
    c.connect(uniq("mal"))
    c.send(build(version))
    check_protocol_close(c, allowed_v5=tuple(sorted(allowed)))
    ok = mod_broker.raw(version)
    ok.connect(uniq("after"))
    ok.ping()


# ------------------------------------------------------------------ v5 CONNACK properties

def test_v5_connack_properties_default(mod_broker):
    """MQTT 5 3.2.2.3: Receive Maximum = mqtt.max_inflight (32), Maximum Packet Size
    = mqtt.max_packet_size (1MB), Topic Alias Maximum = mqtt.max_topic_alias;
    retain/wildcard/sub-id/shared available (absent or 1); no Maximum QoS (2)."""
    c = mod_broker.raw(5)
    ack = c.connect(uniq("props"))
    p = ack.props
    assert p.get("receive_maximum") == 32
    assert p.get("maximum_packet_size") == 1024 * 1024
    assert p.get("topic_alias_maximum") == 65535
    for k in ("retain_available", "wildcard_subscription_available",
              "subscription_identifier_available", "shared_subscription_available"):
        assert p.get(k, 1) == 1, k
    assert "maximum_qos" not in p, "Maximum QoS must be absent when QoS 2 is supported"


def test_v5_connack_properties_configured(broker_factory):
    b = broker_factory(["mqtt.max_inflight = 7", "mqtt.max_packet_size = 64KB",
                        "mqtt.max_topic_alias = 9", "mqtt.retain_available = false",
                        "mqtt.wildcard_subscription = false",
                        "mqtt.shared_subscription = false", "mqtt.max_qos_allowed = 1"])
    c = b.raw(5)
    p = c.connect(uniq("props")).props
    assert p.get("receive_maximum") == 7
    assert p.get("maximum_packet_size") == 64 * 1024
    assert p.get("topic_alias_maximum") == 9
    assert p.get("retain_available") == 0
    assert p.get("wildcard_subscription_available") == 0
    assert p.get("shared_subscription_available") == 0
    assert p.get("maximum_qos") == 1


def test_v5_topic_alias_maximum_zero_absent(broker_factory):
    b = broker_factory(["mqtt.max_topic_alias = 0"])
    c = b.raw(5)
    p = c.connect(uniq("ta0")).props
    assert p.get("topic_alias_maximum", 0) == 0


def test_v5_max_qos_0(broker_factory):
    b = broker_factory(["mqtt.max_qos_allowed = 0"])
    c = b.raw(5)
    assert c.connect(uniq("mq0")).props.get("maximum_qos") == 0
    # [MQTT-3.2.2-9..] subscriptions are granted at most QoS 0
    s = c.subscribe([(uniq("mq0/t"), 2)])
    assert s.codes == [0]


def test_v5_max_qos_publish_exceeding_disconnect(broker_factory):
    """[MQTT-3.2.2-11]: PUBLISH with QoS above Maximum QoS -> DISCONNECT 0x9B."""
    b = broker_factory(["mqtt.max_qos_allowed = 1"])
    c = b.raw(5)
    c.connect(uniq("mq1"))
    sub = c.subscribe([(uniq("mq1/t"), 2)])
    assert sub.codes[0] in (0, 1)
    c.send(mr.publish("mq1/x", b"x", qos=2, pid=3, version=5))
    check_protocol_close(c, allowed_v5=(mr.RC_QOS_NOT_SUPPORTED,), require_disconnect=False)


def test_v5_will_qos_exceeding_max_qos_refused(broker_factory):
    """[MQTT-3.2.2-12]: Will QoS above the server's maximum -> CONNACK 0x9B."""
    b = broker_factory(["mqtt.max_qos_allowed = 1"])
    c = b.raw(5)
    c.connect(uniq("wq"), will={"topic": "w/q", "payload": b"x", "qos": 2},
              expect_rc=mr.RC_QOS_NOT_SUPPORTED)
    c.expect_closed()


def test_v5_retain_not_available(broker_factory):
    """[MQTT-3.2.2-13]/3.3.1.3: with Retain Available 0, a Will with retain gets
    CONNACK 0x9A and a retained PUBLISH gets DISCONNECT 0x9A."""
    b = broker_factory(["mqtt.retain_available = false"])
    w = b.raw(5)
    w.connect(uniq("wr"), will={"topic": "w/r", "payload": b"x", "retain": True},
              expect_rc=mr.RC_RETAIN_NOT_SUPPORTED)
    w.expect_closed()
    c = b.raw(5)
    c.connect(uniq("rp"))
    c.send(mr.publish("r/p", b"x", retain=True, version=5))
    check_protocol_close(c, allowed_v5=(mr.RC_RETAIN_NOT_SUPPORTED,))


def test_v5_wildcard_subscription_not_available(broker_factory):
    """Wildcard Subscription Available 0: a wildcard filter -> SUBACK 0xA2
    (or DISCONNECT 0xA2); plain filters still work."""
    b = broker_factory(["mqtt.wildcard_subscription = false"])
    c = b.raw(5)
    c.connect(uniq("wc"))
    s = c.subscribe([("plain/topic", 1)])
    assert s.codes == [1]
    c.send(mr.subscribe(c.pid(), [("a/+", 1), ("b/#", 0)], version=5))
    try:
        p = c.expect(mr.SUBACK)
        assert p.codes == [mr.RC_WILDCARD_NOT_SUPPORTED] * 2
    except mr.Closed:
        discs = [p for p in c.backlog if p.type == mr.DISCONNECT]
        assert [d.rc for d in discs] in ([], [mr.RC_WILDCARD_NOT_SUPPORTED])
