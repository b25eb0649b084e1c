# SPDX-License-Identifier: Apache-2.0
"""The core integration tests rerun over secure WebSocket: a wss listener
with two-way TLS, path /mqtt. Raw clients do TLS 1.3 with the device-001
client certificate, then the upgrade, then frame every packet; paho uses its
websockets transport over TLS. See core_reruns.py."""

from conftest import uniq
from core_reruns import *  # noqa: F401,F403
from core_reruns import rerun_fixtures
from tlsutil import MUTUAL, TLSView, client_context, paho_tls

WSS = dict(MUTUAL, cacertfile=True, ltype="wss")


def view(b, pki):
    return TLSView(b, b.tls_ports["core"],
                   client_context(pki, cert="client-fullchain.pem", key="client.key"),
                   paho_tls(pki, "client-fullchain.pem", "client.key"), ws="/mqtt")


mod_broker, broker_factory, broker = rerun_fixtures(WSS, view, "wsscore")


def test_clients_really_use_wss(mod_broker):
    """Guard for the reruns: TLS 1.3 with the client certificate under the
    WebSocket layer, logged on the wss listener."""
    c = mod_broker.raw(5)
    assert c.ws_status == 101
    assert c.sock.sock.version() == "TLSv1.3"
    cid = uniq("guard")
    c.connect(cid)
    mod_broker.wait_log(r"client connected: id=%s .*listener=wss:core .*tls=TLSv1\.3 \S+ "
                        r"cert=CN=device-001" % cid)
