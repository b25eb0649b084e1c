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
from tlsutil import (MUTUAL, TLSView, client_context, paho_tls, running_broker, tls_broker_lines,
                     wait_port)

# The reruns: collected here as tests of this module, with its fixtures.
from test_01_connect import (  # noqa: F401
    test_client_id_too_long, test_connect_connack_raw, test_connect_paho,
    test_connect_v31_connack_is_two_bytes, test_first_packet_must_be_connect,
    test_keepalive_timeout, test_malformed_packet_closes, test_second_connect_is_protocol_error,
    test_session_takeover, test_v311_empty_client_id_clean_session,
    test_v5_assigned_client_identifier)
from test_02_pubsub import (  # noqa: F401
    test_overlapping_subscriptions, test_paho_qos_roundtrip,
    test_publish_exceeding_server_maximum_packet_size, test_pubrel_unknown_packet_id,
    test_qos2_exactly_once_with_duplicate_publish, test_qos_flow_and_downgrade,
    test_subscriber_qos2_flow_packet_ids, test_v5_client_receive_maximum,
    test_v5_topic_alias_server_to_client, test_wildcard_matching)
from test_03_retained import (  # noqa: F401
    test_retained_clear_with_empty_payload, test_retained_delivered_on_subscribe,
    test_retained_replace, test_retained_survive_kill9, test_retained_survive_sigterm_restart,
    test_retained_wildcard_subscribe_gets_all)
from test_04_sessions import (  # noqa: F401
    test_inbound_qos2_state_survives_reconnect, test_inflight_qos1_redelivered_with_dup,
    test_inflight_qos2_publish_redelivered, test_inflight_survives_kill9,
    test_offline_messages_queued, test_offline_queue_survives_kill9,
    test_offline_queue_survives_sigterm_restart, test_persistent_subscription_kept,
    test_qos2_pubrel_resent_after_reconnect, test_session_present_flag,
    test_v5_session_expiry_survives_restart)
from test_05_will import (  # noqa: F401
    test_no_will_on_normal_disconnect, test_v5_disconnect_with_will_message,
    test_v5_will_delay, test_v5_will_on_takeover_without_delay, test_will_on_abrupt_close,
    test_will_on_keepalive_timeout, test_will_on_protocol_error, test_will_paho_v311,
    test_will_qos, test_will_retain)
from test_06_shared import (  # noqa: F401
    test_shared_and_normal_subscribers, test_shared_each_message_to_exactly_one_member)
from test_11_robustness import (  # noqa: F401
    assert_serving, test_abrupt_disconnects_during_traffic, test_byte_by_byte,
    test_huge_remaining_length_after_connect, test_idle_sockets_do_not_block_others,
    test_pipelined_packets_in_one_write, test_random_garbage_before_connect)

CORE_LISTENER = dict(MUTUAL, cacertfile=True)


def view(b, pki):
    return TLSView(b, b.tls_ports["core"],
                   client_context(pki, cert="client-fullchain.pem", key="client.key"),
                   paho_tls(pki, "client-fullchain.pem", "client.key"))


@pytest.fixture(scope="module")
def mod_broker(tmp_path_factory, pki):
    lines, ports, tcp_port = tls_broker_lines(pki, {"core": CORE_LISTENER})
    with running_broker(tmp_path_factory.mktemp("tlscore"), lines, ports, tcp_port) as b:
        yield view(b, pki)


@pytest.fixture
def broker_factory(broker_factory, pki):
    """conftest's broker_factory, each broker with the TLS listener added and
    handed out as a TLSView."""
    def make(config_extra_lines=(), data_dir=None, start=True):
        assert start, "TLSView brokers are started by the factory"
        lines, ports, tcp_port = tls_broker_lines(pki, {"core": CORE_LISTENER},
                                                  extra=config_extra_lines)
        b = broker_factory(start=False)
        b.start(lines, data_dir=data_dir, port=tcp_port)
        wait_port(ports["core"])
        b.tls_ports = ports
        return view(b, pki)
    return make


@pytest.fixture
def broker(broker_factory):
    return broker_factory()


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
