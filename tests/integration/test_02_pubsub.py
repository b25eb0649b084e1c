# SPDX-License-Identifier: Apache-2.0
"""PUBLISH / SUBSCRIBE: QoS flows, wildcards, topic validity, subscription
options, MQTT 5 properties, message expiry, topic aliases, size and flow limits."""

import time

import pytest

import mqttraw as mr
from conftest import check_protocol_close, paho_props, uniq, SubscribeOptions


def connected(b, version, cid=None, **kw):
    c = b.raw(version)
    c.connect(cid or uniq("c"), **kw)
    return c


# ------------------------------------------------------------------ QoS flows

@pytest.mark.parametrize("version", [3, 4, 5])
@pytest.mark.parametrize("sub_qos", [0, 1, 2])
@pytest.mark.parametrize("pub_qos", [0, 1, 2])
def test_qos_flow_and_downgrade(mod_broker, version, pub_qos, sub_qos):
    """[MQTT-3.8.4-6]/[MQTT-3.3.5-1]: delivered QoS = min(published QoS, granted QoS);
    the publisher's flow completes (PUBACK / PUBREC-PUBREL-PUBCOMP); the
    subscriber's flow completes; no DUP or RETAIN on a first live delivery."""
    topic = uniq("qos/%d%d/" % (pub_qos, sub_qos))
    sub = connected(mod_broker, version)
    assert sub.subscribe([(topic, sub_qos)]).codes == [sub_qos]
    pub = connected(mod_broker, version)
    ack = pub.publish(topic, b"payload-%d" % pub_qos, qos=pub_qos)
    if pub_qos:
        assert ack.rc == 0
    m = sub.recv_publish()
    assert m.topic == topic
    assert m.payload == b"payload-%d" % pub_qos
    assert m.qos == min(pub_qos, sub_qos)
    assert not m.retain and not m.dup
    if m.qos == 2:
        sub.finish_qos2()
        assert not sub.awaiting_rel, "server did not send PUBREL after PUBREC"
    sub.no_packet(0.2, types=(mr.PUBLISH,))


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_qos_roundtrip(mod_broker, paho_clients, version, qos):
    topic = uniq("pq/")
    sub = paho_clients(mod_broker, uniq("ps"), version=version)
    assert sub.subscribe(topic, qos) == [qos]
    pub = paho_clients(mod_broker, uniq("pp"), version=version)
    for i in range(5):
        pub.publish(topic, b"m%d" % i, qos=qos)
    msgs = sub.get_n(5)
    assert [m.payload for m in msgs] == [b"m%d" % i for i in range(5)]
    assert all(m.qos == qos and m.topic == topic for m in msgs)


def test_v5_puback_no_matching_subscribers(mod_broker):
    """MQTT 5: PUBACK/PUBREC for a message nobody receives is 0x00 or 0x10."""
    c = connected(mod_broker, 5)
    assert c.publish(uniq("nobody/"), b"x", qos=1).rc in (0x00, mr.RC_NO_MATCHING_SUBSCRIBERS)
    c.send(mr.publish(uniq("nobody/"), b"x", qos=2, pid=50, version=5))
    rec = c.expect(mr.PUBREC)
    assert rec.pid == 50 and rec.rc in (0x00, mr.RC_NO_MATCHING_SUBSCRIBERS)
    c.send(mr.pubrel(50, version=5))
    comp = c.expect(mr.PUBCOMP)
    assert comp.pid == 50 and comp.rc == 0


@pytest.mark.parametrize("version", [4, 5])
def test_qos2_exactly_once_with_duplicate_publish(mod_broker, version):
    """[MQTT-4.3.3]: a QoS 2 PUBLISH re-sent with DUP=1 before PUBREL is the same
    message and is delivered once; after PUBCOMP the packet id is free again and
    the next PUBLISH with it is a new message."""
    topic = uniq("eo/")
    sub = connected(mod_broker, version)
    sub.subscribe([(topic, 2)])
    pub = connected(mod_broker, version)
    pub.send(mr.publish(topic, b"once", qos=2, pid=7, version=version))
    r1 = pub.expect(mr.PUBREC)
    assert r1.pid == 7
    pub.send(mr.publish(topic, b"once", qos=2, pid=7, dup=True, version=version))
    r2 = pub.expect(mr.PUBREC)
    assert r2.pid == 7
    pub.send(mr.pubrel(7, version=version))
    assert pub.expect(mr.PUBCOMP).pid == 7
    # same packet id, new message
    pub.publish(topic, b"again", qos=2, pid=7)
    pub.publish(topic, b"end", qos=2)
    got = [sub.recv_publish().payload for _ in range(3)]
    assert got == [b"once", b"again", b"end"]
    sub.finish_qos2()
    sub.no_packet(0.3, types=(mr.PUBLISH,))


@pytest.mark.parametrize("version", [4, 5])
def test_pubrel_unknown_packet_id(mod_broker, version):
    """[MQTT-4.3.3-?]: PUBREL for an unknown id still gets PUBCOMP (v5: 0x00 or
    0x92 Packet Identifier not found)."""
    c = connected(mod_broker, version)
    c.send(mr.pubrel(777, version=version))
    p = c.expect(mr.PUBCOMP)
    assert p.pid == 777
    assert p.rc in (0, 0x92)


@pytest.mark.parametrize("version", [4, 5])
def test_subscriber_qos2_flow_packet_ids(mod_broker, version):
    """The server's outgoing QoS 2 flow: PUBLISH -> PUBREC -> PUBREL (same id,
    flags 0x2) -> PUBCOMP; packet ids of in-flight messages are distinct."""
    topic = uniq("q2out/")
    sub = connected(mod_broker, version)
    sub.subscribe([(topic, 2)])
    pub = connected(mod_broker, version)
    for i in range(3):
        pub.publish(topic, b"%d" % i, qos=2)
    pubs = [sub.recv_publish(ack=False) for _ in range(3)]
    assert len({p.pid for p in pubs}) == 3
    for p in pubs:
        sub.send(mr.pubrec(p.pid, version=version))
    rels = [sub.expect(mr.PUBREL) for _ in range(3)]
    assert sorted(r.pid for r in rels) == sorted(p.pid for p in pubs)
    for r in rels:
        sub.send(mr.pubcomp(r.pid, version=version))
    sub.no_packet(0.3)


# ------------------------------------------------------------------ wildcards

WILDCARD_CASES = [
    ("sport/tennis/player1/#", "sport/tennis/player1", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
    ("sport/#", "sport", True),
    ("sport/tennis/#", "sport/tennis", True),
    ("sport/tennis/#", "sport/tennisx", False),
    ("sport/tennis/+", "sport/tennis/player1", True),
    ("sport/tennis/+", "sport/tennis/player1/tracking", False),
    ("sport/+", "sport", False),
    ("sport/+", "sport/", True),
    ("+/+", "/finance", True),
    ("/+", "/finance", True),
    ("+", "/finance", False),
    ("+", "finance", True),
    ("+/tennis/#", "sport/tennis/x/y", True),
    ("a/+/c", "a//c", True),
    ("a/+/c", "a/b/c/d", False),
    ("a/b", "a/b/c", False),
    ("a/b", "a/b", True),
    ("a/b", "A/b", False),
    ("a/b/", "a/b", False),
    ("a b/c d", "a b/c d", True),
    ("#", "x/y/z", True),
    ("+/+/+", "x/y/z", True),
    ("+/+/+", "x/y", False),
    ("caf\u00e9/+", "caf\u00e9/x", True),
]


@pytest.mark.parametrize("version", [4, 5])
def test_wildcard_matching(broker, version):
    """4.7.1: '#' multi-level (also matches the parent level), '+' single level
    (also an empty level); matching is case sensitive and level exact. Each case
    runs under its own root level, which preserves its semantics."""
    subs = []
    for i, (flt, topic, _) in enumerate(WILDCARD_CASES):
        c = connected(broker, version)
        assert c.subscribe([("w%d/%s" % (i, flt), 1)]).codes == [1]
        subs.append(c)
    pub = connected(broker, version)
    for i, (flt, topic, _) in enumerate(WILDCARD_CASES):
        pub.publish("w%d/%s" % (i, topic), b"%d" % i, qos=1)
    errors = []
    for i, (flt, topic, match) in enumerate(WILDCARD_CASES):
        if match:
            try:
                m = subs[i].recv_publish(timeout=5)
                if m.topic != "w%d/%s" % (i, topic):
                    errors.append("filter %r: got topic %r" % (flt, m.topic))
            except TimeoutError:
                errors.append("filter %r topic %r: expected a match, got nothing" % (
                    flt, topic))
    time.sleep(0.5)
    for i, (flt, topic, match) in enumerate(WILDCARD_CASES):
        extra = subs[i].collect_publishes(0.02)
        if extra:
            errors.append("filter %r topic %r: unexpected %r" % (
                flt, topic, [m.topic for m in extra]))
    assert not errors, "\n".join(errors)


def test_dollar_topics_not_matched_by_leading_wildcards(broker):
    """[MQTT-4.7.2-1]: filters starting with '#' or '+' do not match topic names
    starting with '$' ($SYS is published by the broker every second)."""
    dollar = connected(broker, 4)
    dollar.subscribe([("$SYS/#", 0)])
    others = {}
    for flt in ("#", "+/broker/#", "+/+/version", "+/#"):
        c = connected(broker, 4)
        c.subscribe([(flt, 0)])
        others[flt] = c
    m = dollar.recv_publish(timeout=5)
    assert m.topic.startswith("$SYS/")
    time.sleep(1.5)  # at least one more $SYS interval
    for flt, c in others.items():
        got = [p.topic for p in c.collect_publishes(0.1)]
        assert not [t for t in got if t.startswith("$")], "%r received %r" % (flt, got)


def test_dollar_filter_matches_explicitly(broker):
    c = connected(broker, 5)
    c.subscribe([("$SYS/broker/+", 0)])
    m = c.recv_publish(timeout=5)
    assert m.topic.startswith("$SYS/broker/") and m.topic.count("/") == 2


# ------------------------------------------------------------------ invalid topics

BAD_FILTERS = ["a/#/b", "a#", "#a", "a/b#", "a+", "+a/b", "a/+b", "++", "##", ""]


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("bad", BAD_FILTERS)
def test_invalid_topic_filter_suback_failure(mod_broker, version, bad):
    """4.7.1/4.7.3: an invalid filter gets SUBACK failure (3.1.1: 0x80; 5: 0x8F
    Topic Filter invalid, 0x80 tolerated) while the other filters of the same
    SUBSCRIBE are granted and work. (The spec would also allow closing the
    connection; moat answers with SUBACK.)"""
    good = uniq("fgood/")
    c = connected(mod_broker, version)
    s = c.subscribe([(good, 1), (bad, 1)])
    assert s.codes[0] == 1
    if version == 5:
        assert s.codes[1] in (mr.RC_TOPIC_FILTER_INVALID, mr.RC_UNSPECIFIED)
    else:
        assert s.codes[1] == 0x80
    c.publish(good, b"ok", qos=1)
    assert c.recv_publish().payload == b"ok"


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("bad", ["a/+", "a/#", "+", "#", "a/b/+/c", "x#", "y+"])
def test_publish_wildcard_topic_closes(mod_broker, version, bad):
    """[MQTT-3.3.2-2]: a PUBLISH topic name must not contain wildcards; the
    server closes (v5: DISCONNECT 0x90 Topic Name invalid, or 0x81/0x82 first);
    nothing is delivered."""
    root = uniq("pw/")
    watcher = connected(mod_broker, 5)
    watcher.subscribe([(root + "/#", 0)])
    c = connected(mod_broker, version)
    c.send(mr.publish(root + "/" + bad, b"bad", version=version))
    check_protocol_close(c, allowed_v5=(mr.RC_MALFORMED, mr.RC_PROTOCOL_ERROR,
                                        mr.RC_TOPIC_NAME_INVALID))
    watcher.no_packet(0.3, types=(mr.PUBLISH,))


@pytest.mark.parametrize("version", [4, 5])
def test_publish_empty_topic_closes(mod_broker, version):
    """[MQTT-4.7.3-1] (3.1.1) topic names are at least one character; MQTT 5: zero
    length topic without a Topic Alias is a Protocol Error."""
    c = connected(mod_broker, version)
    c.send(mr.publish("", b"x", version=version))
    check_protocol_close(c, allowed_v5=(mr.RC_MALFORMED, mr.RC_PROTOCOL_ERROR,
                                        mr.RC_TOPIC_NAME_INVALID))


# ------------------------------------------------------------------ subscriptions

@pytest.mark.parametrize("version", [4, 5])
def test_overlapping_subscriptions(mod_broker, version):
    """[MQTT-3.3.5-1] (3.1.1) / [MQTT-3.3.4-2..5] (5): a message matching several
    subscriptions of one client is delivered respecting the maximum QoS; either
    one copy (v5: carrying all subscription ids) or one per subscription (each
    with its own id and QoS)."""
    root = uniq("ov/")
    c = connected(mod_broker, version)
    if version == 5:
        c.subscribe([(root + "/+", 1)], props={"subscription_identifier": 7})
        c.subscribe([(root + "/#", 2)], props={"subscription_identifier": 9})
    else:
        c.subscribe([(root + "/+", 1), (root + "/#", 2)])
    p = connected(mod_broker, version)
    p.publish(root + "/x", b"m", qos=2)
    got = [c.recv_publish()]
    got += c.collect_publishes(0.5)
    c.finish_qos2()
    assert len(got) in (1, 2), got
    assert all(m.topic == root + "/x" and m.payload == b"m" for m in got)
    assert max(m.qos for m in got) == 2
    if version == 5:
        if len(got) == 1:
            assert sorted(got[0].props.get("subscription_identifier", [])) == [7, 9]
        else:
            by_id = {tuple(m.props.get("subscription_identifier", [])): m.qos for m in got}
            assert by_id == {(7,): 1, (9,): 2}
    elif len(got) == 2:
        assert sorted(m.qos for m in got) == [1, 2]


@pytest.mark.parametrize("version", [4, 5])
def test_resubscribe_replaces_subscription(mod_broker, version):
    """[MQTT-3.8.4-3]: subscribing again to an identical filter replaces the
    subscription (new QoS), it does not add a second one."""
    t = uniq("rs/")
    c = connected(mod_broker, version)
    assert c.subscribe([(t, 0)]).codes == [0]
    assert c.subscribe([(t, 1)]).codes == [1]
    p = connected(mod_broker, version)
    p.publish(t, b"x", qos=1)
    m = c.recv_publish()
    assert m.qos == 1
    c.no_packet(0.4, types=(mr.PUBLISH,))


@pytest.mark.parametrize("version", [4, 5])
def test_unsubscribe(mod_broker, version):
    """[MQTT-3.10.4-1..6]: UNSUBACK with the same packet id, also for a filter that
    was not subscribed; v5 reason codes 0x00 / 0x11 No subscription existed;
    after UNSUBACK no new messages for that filter."""
    t = uniq("un/")
    c = connected(mod_broker, version)
    c.subscribe([(t, 1)])
    ua = c.unsubscribe([t, t + "/never"])
    if version == 5:
        assert ua.codes == [0x00, mr.RC_NO_SUBSCRIPTION_EXISTED]
    p = connected(mod_broker, version)
    p.publish(t, b"after", qos=1)
    c.no_packet(0.5, types=(mr.PUBLISH,))
    ua2 = c.unsubscribe([t])
    if version == 5:
        assert ua2.codes == [mr.RC_NO_SUBSCRIPTION_EXISTED]


def test_unsubscribe_only_exact_filter(mod_broker):
    """Unsubscribing "a/+" does not remove "a/#"."""
    root = uniq("uo/")
    c = connected(mod_broker, 5)
    c.subscribe([(root + "/#", 1), (root + "/+", 1)])
    c.unsubscribe([root + "/+"])
    p = connected(mod_broker, 5)
    p.publish(root + "/x", b"m", qos=1)
    assert c.recv_publish().payload == b"m"
    c.no_packet(0.3, types=(mr.PUBLISH,))


def test_v5_no_local(mod_broker):
    """[MQTT-3.8.3-3]: No Local: the server must not forward a client's own
    messages to it; messages from other clients still arrive."""
    t = uniq("nl/")
    c = connected(mod_broker, 5)
    c.subscribe([(t, mr.sub_options(qos=1, no_local=True))])
    c.publish(t, b"own", qos=1)
    other = connected(mod_broker, 5)
    other.publish(t, b"other", qos=1)
    assert c.recv_publish().payload == b"other"
    c.no_packet(0.3, types=(mr.PUBLISH,))


def test_v5_no_local_off_receives_own(mod_broker):
    t = uniq("nl0/")
    c = connected(mod_broker, 5)
    c.subscribe([(t, 1)])
    c.publish(t, b"own", qos=1)
    assert c.recv_publish().payload == b"own"


def test_v5_retain_as_published_live(mod_broker):
    """[MQTT-3.3.1-12/13]: on a live message the RETAIN flag is kept only for a
    subscription with Retain As Published."""
    t = uniq("rap/")
    rap = connected(mod_broker, 5)
    rap.subscribe([(t, mr.sub_options(qos=1, rap=True))])
    norap = connected(mod_broker, 5)
    norap.subscribe([(t, mr.sub_options(qos=1, rap=False))])
    p = connected(mod_broker, 5)
    p.publish(t, b"r", qos=1, retain=True)
    p.publish(t, b"n", qos=1, retain=False)
    a = [rap.recv_publish() for _ in range(2)]
    b = [norap.recv_publish() for _ in range(2)]
    assert [(m.payload, m.retain) for m in a] == [(b"r", True), (b"n", False)]
    assert [(m.payload, m.retain) for m in b] == [(b"r", False), (b"n", False)]
    p.publish(t, b"", qos=1, retain=True)  # clear


@pytest.mark.parametrize("version", [3, 4])
def test_v3_live_message_retain_flag_cleared(mod_broker, version):
    """[MQTT-3.3.1-9] (3.1.1): RETAIN is 0 on messages sent because of an
    established subscription, however it was published."""
    t = uniq("r0/")
    c = connected(mod_broker, version)
    c.subscribe([(t, 1)])
    p = connected(mod_broker, version)
    p.publish(t, b"r", qos=1, retain=True)
    m = c.recv_publish()
    assert m.payload == b"r" and not m.retain
    p.publish(t, b"", qos=1, retain=True)


def test_v5_subscription_identifiers(mod_broker):
    """[MQTT-3.3.4-3/4], 3.8.2.1.2: the Subscription Identifier is returned with
    matching messages; only for the subscription that has it; a re-subscribe
    with another id replaces it; max value 268435455."""
    root = uniq("sid/")
    c = connected(mod_broker, 5)
    c.subscribe([(root + "/a", 1)], props={"subscription_identifier": 268435455})
    c.subscribe([(root + "/b", 1)])
    p = connected(mod_broker, 5)
    p.publish(root + "/a", b"a", qos=1)
    m = c.recv_publish()
    assert m.props.get("subscription_identifier") == [268435455]
    p.publish(root + "/b", b"b", qos=1)
    m = c.recv_publish()
    assert "subscription_identifier" not in m.props
    c.subscribe([(root + "/a", 1)], props={"subscription_identifier": 11})
    p.publish(root + "/a", b"a2", qos=1)
    m = c.recv_publish()
    assert m.payload == b"a2" and m.props.get("subscription_identifier") == [11]


def test_v5_subscription_identifier_paho(mod_broker, paho_clients):
    t = uniq("sidp/")
    c = paho_clients(mod_broker, uniq("sp"))
    c.subscribe(t, 1, props=paho_props("SUBSCRIBE", SubscriptionIdentifier=42))
    c.publish(t, b"x", qos=1)
    m = c.get()
    assert m.properties.SubscriptionIdentifier == [42]


# ------------------------------------------------------------------ properties

def test_v5_publish_properties_forwarded(mod_broker):
    """[MQTT-3.3.2-4, -15, -16, -17, -18, -20]: Payload Format Indicator, Response
    Topic, Correlation Data, User Properties (in order, duplicates kept) and
    Content Type are forwarded unaltered."""
    t = uniq("props/")
    sub = connected(mod_broker, 5)
    sub.subscribe([(t, 1)])
    pub = connected(mod_broker, 5)
    ups = [("k1", "v1"), ("k2", "v2"), ("k1", "v3"), ("\u00fcnic\u00f8de", "\u20ac")]
    pub.publish(t, "h\u00e9llo".encode(), qos=1, props=[
        ("payload_format_indicator", 1),
        ("response_topic", "reply/to/" + t),
        ("correlation_data", b"\x00\x01\xffcorr"),
        ("content_type", "text/plain; charset=utf-8"),
    ] + [("user_property", kv) for kv in ups])
    m = sub.recv_publish()
    assert m.payload == "h\u00e9llo".encode()
    assert m.props.get("payload_format_indicator") == 1
    assert m.props.get("response_topic") == "reply/to/" + t
    assert m.props.get("correlation_data") == b"\x00\x01\xffcorr"
    assert m.props.get("content_type") == "text/plain; charset=utf-8"
    assert m.props.get("user_property") == ups


def test_v5_properties_paho(mod_broker, paho_clients):
    t = uniq("propp/")
    sub = paho_clients(mod_broker, uniq("s"))
    sub.subscribe(t, 1)
    pub = paho_clients(mod_broker, uniq("p"))
    pub.publish(t, b"{}", qos=1, props=paho_props(
        "PUBLISH", ContentType="application/json", ResponseTopic="r/t",
        CorrelationData=b"id-1", UserProperty=[("a", "1"), ("b", "2")]))
    m = sub.get()
    assert m.properties.ContentType == "application/json"
    assert m.properties.ResponseTopic == "r/t"
    assert m.properties.CorrelationData == b"id-1"
    assert m.properties.UserProperty == [("a", "1"), ("b", "2")]


def test_v5_properties_not_sent_to_v311_subscriber(mod_broker):
    """A v3.1.1 subscriber gets the message (without properties: the v3 decoder
    would fail on a property section)."""
    t = uniq("propv3/")
    sub = connected(mod_broker, 4)
    sub.subscribe([(t, 1)])
    pub = connected(mod_broker, 5)
    pub.publish(t, b"x", qos=1, props={"user_property": [("a", "b")], "content_type": "c"})
    m = sub.recv_publish()
    assert m.payload == b"x"


def test_v5_payload_format_invalid(mod_broker):
    """3.3.2.3.2: Payload Format Indicator 1 with a payload that is not UTF-8. The
    spec lets the receiver validate (MAY); moat does: PUBACK 0x99 or DISCONNECT
    0x99 are accepted; the message must not be delivered."""
    t = uniq("pfi/")
    sub = connected(mod_broker, 5)
    sub.subscribe([(t, 1)])
    c = connected(mod_broker, 5)
    c.send(mr.publish(t, b"\xff\xfe\xfd", qos=1, pid=9, props={"payload_format_indicator": 1},
                      version=5))
    try:
        p = c.recv(timeout=5)
    except mr.Closed:
        p = None
    if p is not None and p.type == mr.PUBACK:
        assert p.pid == 9 and p.rc == mr.RC_PAYLOAD_FORMAT_INVALID
    else:
        assert p is not None and p.type == mr.DISCONNECT, "closed without DISCONNECT 0x99/PUBACK"
        assert p.rc == mr.RC_PAYLOAD_FORMAT_INVALID
        c.expect_closed()
    sub.no_packet(0.3, types=(mr.PUBLISH,))


def test_v5_payload_format_valid_utf8_delivered(mod_broker):
    t = uniq("pfiok/")
    sub = connected(mod_broker, 5)
    sub.subscribe([(t, 1)])
    c = connected(mod_broker, 5)
    assert c.publish(t, "\u00e9\u20ac\U0001F600".encode(), qos=1,
                     props={"payload_format_indicator": 1}).rc == 0
    m = sub.recv_publish()
    assert m.payload.decode("utf-8") == "\u00e9\u20ac\U0001F600"


# ------------------------------------------------------------------ message expiry

def test_v5_message_expiry_offline_session(mod_broker):
    """[MQTT-3.3.2-5/6]: a message whose expiry passed while the subscriber was
    offline is not delivered; a surviving one is delivered with the Message
    Expiry Interval decremented by the time it waited; no expiry -> no property."""
    t = uniq("mexp/")
    cid = uniq("mexps")
    s = connected(mod_broker, 5, cid, clean=True, props={"session_expiry_interval": 60})
    s.subscribe([(t, 1)])
    s.disconnect()
    p = connected(mod_broker, 5)
    p.publish(t, b"short", qos=1, props={"message_expiry_interval": 1})
    p.publish(t, b"long", qos=1, props={"message_expiry_interval": 30})
    p.publish(t, b"none", qos=1)
    time.sleep(2.5)
    s = connected(mod_broker, 5, cid, clean=False, props={"session_expiry_interval": 60})
    assert s.connack.session_present
    got = [s.recv_publish(), s.recv_publish()]
    assert [m.payload for m in got] == [b"long", b"none"]
    mei = got[0].props.get("message_expiry_interval")
    assert mei is not None and 1 <= mei <= 28, "expiry not decremented: %r" % mei
    assert "message_expiry_interval" not in got[1].props
    s.no_packet(0.3, types=(mr.PUBLISH,))


def test_v5_message_expiry_forwarded_live(mod_broker):
    t = uniq("mexl/")
    s = connected(mod_broker, 5)
    s.subscribe([(t, 1)])
    p = connected(mod_broker, 5)
    p.publish(t, b"x", qos=1, props={"message_expiry_interval": 100})
    m = s.recv_publish()
    assert 98 <= m.props.get("message_expiry_interval", -1) <= 100


# ------------------------------------------------------------------ topic aliases

def test_v5_topic_alias_client_to_server(mod_broker):
    """3.3.2.3.4: alias set with a topic, then used with an empty topic; re-mapped
    to another topic; subscribers (no alias maximum announced) get full topic
    names and no Topic Alias."""
    root = uniq("ta/")
    sub = connected(mod_broker, 5)
    sub.subscribe([(root + "/#", 1)])
    sub3 = connected(mod_broker, 4)
    sub3.subscribe([(root + "/#", 1)])
    c = connected(mod_broker, 5)
    assert c.connack.props.get("topic_alias_maximum", 0) >= 1
    c.publish(root + "/a", b"1", qos=1, props={"topic_alias": 1})
    c.publish("", b"2", qos=1, props={"topic_alias": 1})
    c.publish(root + "/b", b"3", qos=1, props={"topic_alias": 1})
    c.publish("", b"4", qos=1, props={"topic_alias": 1})
    c.publish(root + "/c", b"5", qos=1, props={"topic_alias": 2})
    c.publish("", b"6", qos=1, props={"topic_alias": 2})
    c.publish("", b"7", qos=1, props={"topic_alias": 1})
    want = [(root + "/a", b"1"), (root + "/a", b"2"), (root + "/b", b"3"), (root + "/b", b"4"),
            (root + "/c", b"5"), (root + "/c", b"6"), (root + "/b", b"7")]
    for s in (sub, sub3):
        got = [s.recv_publish() for _ in want]
        assert sorted((m.topic, m.payload) for m in got) == sorted(want)
        if s is sub:
            assert all("topic_alias" not in m.props for m in got)


def test_v5_topic_alias_above_maximum(broker_factory):
    """[MQTT-3.3.2-10]: alias greater than the server's Topic Alias Maximum ->
    DISCONNECT 0x94 Topic Alias invalid."""
    b = broker_factory(["mqtt.max_topic_alias = 5"])
    c = connected(b, 5)
    assert c.connack.props.get("topic_alias_maximum") == 5
    c.publish("ta/ok", b"x", qos=1, props={"topic_alias": 5})
    c.send(mr.publish("ta/x", b"x", props={"topic_alias": 6}, version=5))
    check_protocol_close(c, allowed_v5=(mr.RC_TOPIC_ALIAS_INVALID,))


def test_v5_topic_alias_when_server_maximum_zero(broker_factory):
    """[MQTT-3.2.2-18]: no Topic Alias Maximum (0) -> client must not use aliases."""
    b = broker_factory(["mqtt.max_topic_alias = 0"])
    c = connected(b, 5)
    c.send(mr.publish("ta/x", b"x", props={"topic_alias": 1}, version=5))
    check_protocol_close(c, allowed_v5=(mr.RC_TOPIC_ALIAS_INVALID, mr.RC_PROTOCOL_ERROR))


def test_v5_topic_alias_unknown(mod_broker):
    """An empty topic with an alias that has no mapping is a Protocol Error."""
    c = connected(mod_broker, 5)
    c.send(mr.publish("", b"x", props={"topic_alias": 3}, version=5))
    check_protocol_close(c, allowed_v5=(mr.RC_PROTOCOL_ERROR, mr.RC_TOPIC_ALIAS_INVALID))


def test_v5_topic_alias_not_carried_across_connections(mod_broker):
    """[MQTT-3.3.2-7]: alias mappings do not survive the network connection."""
    cid = uniq("tac")
    c = connected(mod_broker, 5, cid, clean=False, props={"session_expiry_interval": 30})
    c.publish(uniq("tac/"), b"x", qos=1, props={"topic_alias": 1})
    c.disconnect()
    c = connected(mod_broker, 5, cid, clean=False, props={"session_expiry_interval": 0})
    c.send(mr.publish("", b"x", props={"topic_alias": 1}, version=5))
    check_protocol_close(c, allowed_v5=(mr.RC_PROTOCOL_ERROR, mr.RC_TOPIC_ALIAS_INVALID))


@pytest.mark.parametrize("alias_max", [0, 2])
def test_v5_topic_alias_server_to_client(mod_broker, alias_max):
    """[MQTT-3.1.2-26/27], [MQTT-3.3.2-12]: the server may use topic aliases up to
    the client's Topic Alias Maximum (none when 0). Whatever it does, every
    message must resolve to the right topic."""
    root = uniq("tas/")
    c = connected(mod_broker, 5, props={"topic_alias_maximum": alias_max} if alias_max else None)
    c.subscribe([(root + "/#", 1)])
    p = connected(mod_broker, 5)
    topics = [root + "/" + x for x in "abcabcaab"]
    for i, t in enumerate(topics):
        p.publish(t, b"%d" % i, qos=1)
    aliases = {}
    got = []
    for _ in topics:
        m = c.recv_publish()
        alias = m.props.get("topic_alias")
        if alias is not None:
            assert alias_max and 1 <= alias <= alias_max, "bad alias %r" % alias
            if m.topic:
                aliases[alias] = m.topic
            else:
                assert alias in aliases, "alias %d used before being set" % alias
            got.append((aliases[alias], m.payload))
        else:
            assert m.topic, "empty topic without alias"
            got.append((m.topic, m.payload))
    assert got == [(t, b"%d" % i) for i, t in enumerate(topics)]


# ------------------------------------------------------------------ packet size

def test_v5_client_maximum_packet_size(mod_broker):
    """[MQTT-3.1.2-24/25]: the server does not send a packet larger than the
    client's Maximum Packet Size; it drops that message and carries on."""
    t = uniq("cmps/")
    c = connected(mod_broker, 5, props={"maximum_packet_size": 200})
    c.subscribe([(t, 1)])
    p = connected(mod_broker, 5)
    p.publish(t, b"x" * 500, qos=1)
    p.publish(t, b"small", qos=1)
    m = c.recv_publish()
    assert m.payload == b"small"
    c.no_packet(0.3, types=(mr.PUBLISH,))


@pytest.mark.parametrize("version", [4, 5])
def test_publish_exceeding_server_maximum_packet_size(broker_factory, version):
    """[MQTT-3.2.2-?] / 3.2.2.3.6: a packet bigger than mqtt.max_packet_size (1KB
    here) -> v5 DISCONNECT 0x95 Packet too large (or close), v3 close; not
    delivered. A packet under the limit is delivered."""
    b = broker_factory(["mqtt.max_packet_size = 1KB"])
    t = "mps/t"
    sub = connected(b, 5)
    sub.subscribe([(t, 0)])
    c = connected(b, version)
    c.publish(t, b"y" * 900, qos=1)
    assert sub.recv_publish().payload == b"y" * 900
    c.send(mr.publish(t, b"z" * 2000, qos=1, pid=2, version=version))
    check_protocol_close(c, allowed_v5=(mr.RC_PACKET_TOO_LARGE,))
    sub.no_packet(0.3, types=(mr.PUBLISH,))


# ------------------------------------------------------------------ flow control

def test_v5_client_receive_maximum(mod_broker):
    """[MQTT-3.3.4-9]: the server sends no more than the client's Receive Maximum
    unacknowledged QoS 1/2 PUBLISHes; one PUBACK releases one more."""
    t = uniq("rmax/")
    c = connected(mod_broker, 5, props={"receive_maximum": 3})
    c.subscribe([(t, 1)])
    p = connected(mod_broker, 5)
    for i in range(10):
        p.publish(t, b"%d" % i, qos=1)
    got = c.collect_publishes(1.5, ack=False)
    assert len(got) == 3, "received %d unacked PUBLISHes, receive maximum 3" % len(got)
    assert [m.payload for m in got] == [b"0", b"1", b"2"]
    c.send(mr.puback(got[0].pid, version=5))
    more = c.collect_publishes(1.0, ack=False)
    assert [m.payload for m in more] == [b"3"]
    for m in got[1:] + more:
        c.send(mr.puback(m.pid, version=5))
    rest = c.collect_publishes(3.0, ack=True, limit=6)
    assert [m.payload for m in rest] == [b"%d" % i for i in range(4, 10)]


def test_v5_exceeding_server_receive_maximum(broker_factory):
    """[MQTT-3.3.4-8]/4.9: more unacknowledged QoS 2 PUBLISHes (no PUBREL sent) than
    the server's Receive Maximum (mqtt.max_inflight = 2) -> DISCONNECT 0x93."""
    b = broker_factory(["mqtt.max_inflight = 2"])
    c = connected(b, 5)
    assert c.connack.props.get("receive_maximum") == 2
    for pid in (1, 2):
        c.send(mr.publish("rm/x", b"x", qos=2, pid=pid, version=5))
        assert c.expect(mr.PUBREC).pid == pid
    c.send(mr.publish("rm/x", b"x", qos=2, pid=3, version=5))
    d = check_protocol_close(c, allowed_v5=(mr.RC_RECEIVE_MAX_EXCEEDED,),
                             require_disconnect=True)
    assert d.rc == mr.RC_RECEIVE_MAX_EXCEEDED


def test_v5_request_problem_information_0(mod_broker):
    """[MQTT-3.1.2-29]: with Request Problem Information 0 the server sends no
    Reason String / User Property on packets other than PUBLISH, CONNACK,
    DISCONNECT; everything works as usual."""
    t = uniq("rpi/")
    c = connected(mod_broker, 5, props={"request_problem_information": 0})
    s = c.subscribe([(t, 1)])
    assert s.codes == [1]
    assert "reason_string" not in s.props and "user_property" not in s.props
    u = c.unsubscribe([t + "/none"])
    assert u.codes == [mr.RC_NO_SUBSCRIPTION_EXISTED]
    assert "reason_string" not in u.props and "user_property" not in u.props
    a = c.publish(uniq("rpi-nobody/"), b"x", qos=1)
    assert "reason_string" not in a.props and "user_property" not in a.props
    c.send(mr.pubrel(4242, version=5))
    comp = c.expect(mr.PUBCOMP)
    assert "reason_string" not in comp.props and "user_property" not in comp.props
    c.publish(t, b"y", qos=1)
    assert c.recv_publish().payload == b"y"


def test_v5_request_problem_information_0_failed_suback(mod_broker):
    """[MQTT-3.1.2-29] also for a SUBACK failure (moat answers a bad filter with
    SUBACK 0x8F rather than closing)."""
    c = connected(mod_broker, 5, props={"request_problem_information": 0})
    s = c.subscribe([(uniq("rpi/"), 1), ("bad/#/filter", 1)])
    assert s.codes[0] == 1 and s.codes[1] >= 0x80
    assert "reason_string" not in s.props and "user_property" not in s.props


# ------------------------------------------------------------------ paho v5 options

def test_paho_v5_subscribe_options(mod_broker, paho_clients):
    t = uniq("po/")
    c = paho_clients(mod_broker, uniq("po"))
    granted = c.subscribe(t, options=SubscribeOptions(qos=2, noLocal=True,
                                                      retainAsPublished=True))
    assert granted == [2]
    c.publish(t, b"own", qos=1)
    o = paho_clients(mod_broker, uniq("po2"))
    o.publish(t, b"theirs", qos=2, retain=True)
    m = c.get()
    assert m.payload == b"theirs" and m.retain and m.qos == 2
    o.publish(t, b"", qos=1, retain=True)
