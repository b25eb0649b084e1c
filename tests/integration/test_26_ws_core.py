# SPDX-License-Identifier: Apache-2.0
"""The core integration tests rerun over MQTT over WebSocket (a ws listener,
path /mqtt): raw clients frame every packet in binary frames and paho uses
its websockets transport. See core_reruns.py."""

from conftest import uniq
from core_reruns import *  # noqa: F401,F403
from core_reruns import rerun_fixtures
from tlsutil import TLSView

WS = {"ltype": "ws"}


def view(b, pki):
    return TLSView(b, b.tls_ports["core"], None, None, ws="/mqtt")


mod_broker, broker_factory, broker = rerun_fixtures(WS, view, "wscore")


def test_clients_really_use_ws(mod_broker):
    """Guard for the reruns: the view's raw clients speak WebSocket and the
    broker logs them on the ws listener."""
    c = mod_broker.raw(5)
    assert c.ws_status == 101 and c.ws_headers.get("sec-websocket-protocol") == "mqtt"
    cid = uniq("guard")
    c.connect(cid)
    mod_broker.wait_log(r"client connected: id=%s .*listener=ws:core" % cid)
