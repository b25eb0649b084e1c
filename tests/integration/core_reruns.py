# SPDX-License-Identifier: Apache-2.0
"""The core integration tests that are rerun over another transport (TLS,
WebSocket, secure WebSocket). A rerun module does `from core_reruns import *`
and overrides the mod_broker / broker / broker_factory fixtures with a view
(tlsutil.TLSView) whose clients use that transport; the test functions are
the core modules' own, unchanged: rerun_fixtures() makes those fixtures."""

import pytest

from tlsutil import running_broker, tls_broker_lines, wait_port

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


__all__ = [
    "test_client_id_too_long",
    "test_connect_connack_raw",
    "test_connect_paho",
    "test_connect_v31_connack_is_two_bytes",
    "test_first_packet_must_be_connect",
    "test_keepalive_timeout",
    "test_malformed_packet_closes",
    "test_second_connect_is_protocol_error",
    "test_session_takeover",
    "test_v311_empty_client_id_clean_session",
    "test_v5_assigned_client_identifier",
    "test_overlapping_subscriptions",
    "test_paho_qos_roundtrip",
    "test_publish_exceeding_server_maximum_packet_size",
    "test_pubrel_unknown_packet_id",
    "test_qos2_exactly_once_with_duplicate_publish",
    "test_qos_flow_and_downgrade",
    "test_subscriber_qos2_flow_packet_ids",
    "test_v5_client_receive_maximum",
    "test_v5_topic_alias_server_to_client",
    "test_wildcard_matching",
    "test_retained_clear_with_empty_payload",
    "test_retained_delivered_on_subscribe",
    "test_retained_replace",
    "test_retained_survive_kill9",
    "test_retained_survive_sigterm_restart",
    "test_retained_wildcard_subscribe_gets_all",
    "test_inbound_qos2_state_survives_reconnect",
    "test_inflight_qos1_redelivered_with_dup",
    "test_inflight_qos2_publish_redelivered",
    "test_inflight_survives_kill9",
    "test_offline_messages_queued",
    "test_offline_queue_survives_kill9",
    "test_offline_queue_survives_sigterm_restart",
    "test_persistent_subscription_kept",
    "test_qos2_pubrel_resent_after_reconnect",
    "test_session_present_flag",
    "test_v5_session_expiry_survives_restart",
    "test_no_will_on_normal_disconnect",
    "test_v5_disconnect_with_will_message",
    "test_v5_will_delay",
    "test_v5_will_on_takeover_without_delay",
    "test_will_on_abrupt_close",
    "test_will_on_keepalive_timeout",
    "test_will_on_protocol_error",
    "test_will_paho_v311",
    "test_will_qos",
    "test_will_retain",
    "test_shared_and_normal_subscribers",
    "test_shared_each_message_to_exactly_one_member",
    "assert_serving",
    "test_abrupt_disconnects_during_traffic",
    "test_byte_by_byte",
    "test_huge_remaining_length_after_connect",
    "test_idle_sockets_do_not_block_others",
    "test_pipelined_packets_in_one_write",
    "test_random_garbage_before_connect",
]


def rerun_fixtures(listener, make_view, name):
    """(mod_broker, broker_factory, broker) fixtures for a rerun module: each
    broker gets a listener "core" with the options listener (see
    tlsutil.tls_broker_lines) and is handed out as make_view(broker, pki).
    Assign them to those three names in the module."""

    @pytest.fixture(scope="module")
    def mod_broker(tmp_path_factory, pki):
        lines, ports, tcp_port = tls_broker_lines(pki, {"core": listener})
        with running_broker(tmp_path_factory.mktemp(name), lines, ports, tcp_port) as b:
            yield make_view(b, pki)

    @pytest.fixture
    def broker_factory(broker_factory, pki):
        """conftest's broker_factory, each broker with the listener added."""
        def make(config_extra_lines=(), data_dir=None, start=True):
            assert start, "views are started by the factory"
            lines, ports, tcp_port = tls_broker_lines(pki, {"core": listener},
                                                      extra=config_extra_lines)
            b = broker_factory(start=False)
            b.start(lines, data_dir=data_dir, port=tcp_port)
            wait_port(ports["core"])
            b.tls_ports = ports
            return make_view(b, pki)
        return make

    @pytest.fixture
    def broker(broker_factory):
        return broker_factory()

    return mod_broker, broker_factory, broker
