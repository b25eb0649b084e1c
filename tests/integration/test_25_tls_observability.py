# SPDX-License-Identifier: Apache-2.0
"""TLS observability: handshake counters by result in $SYS, reload counters,
each listener's certificate days-to-expiry in $SYS, and the expiry warning in
the log."""

import re
import socket
import time

import mqttraw as mr
from conftest import uniq, wait_until
from tlsutil import (MUTUAL, client_context, probe_refused, start_tls_broker,
                     tls_connect)


def sys_values(b, topics_filter, want, timeout=8.0):
    """Retained $SYS values {topic: str} once every topic in want is there
    and satisfies its predicate (values are re-published every second)."""
    deadline = time.monotonic() + timeout
    last = {}
    while time.monotonic() < deadline:
        c = b.raw(4)
        c.connect(uniq("sys"))
        c.subscribe([(topics_filter, 0)])
        got = {m.topic: m.payload.decode() for m in c.collect_until_quiet(quiet=0.3, timeout=3)}
        c.disconnect()
        last = got
        if all(t in got and pred(got[t]) for t, pred in want.items()):
            return got
        time.sleep(0.5)
    raise AssertionError("$SYS values not as expected within %.0fs: %r" % (
        timeout, {t: last.get(t) for t in want}))


def test_handshake_and_reload_counters(pki, broker_factory):
    b = start_tls_broker(broker_factory, pki, {
        "ext": {},
        "mtls": dict(MUTUAL, cacertfile=True),
    }, extra=["broker.sys_interval = 1s"])
    for _ in range(3):
        with tls_connect(b.tls_ports["ext"], client_context(pki)) as s:
            s.sendall(mr.connect(uniq("cnt"), version=4))
            s.recv(16)
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", b.tls_ports["ext"]), timeout=5)
        s.sendall(mr.connect(uniq("plain"), version=4))
        s.settimeout(5)
        try:
            s.recv(16)
        except OSError:
            pass
        s.close()
    assert probe_refused(b.tls_ports["mtls"], client_context(pki)) is not None
    base = "$SYS/broker/tls/handshakes/"
    got = sys_values(b, "$SYS/broker/tls/#", {
        base + "ok": lambda v: int(v) >= 3,
        base + "failed/not_tls": lambda v: int(v) >= 2,
        base + "failed/no_client_cert": lambda v: int(v) >= 1,
        "$SYS/broker/tls/reloads": lambda v: int(v) == 0,
        "$SYS/broker/tls/reloads_refused": lambda v: int(v) == 0,
    })
    assert int(got[base + "failed/unknown_ca"]) == 0


def test_cert_days_left_and_expiry_warning(pki, broker_factory):
    b = start_tls_broker(broker_factory, pki, {
        "soon": {"certfile": pki("server-expiring-fullchain.pem"),
                 "keyfile": pki("server-expiring.key")},
        "fine": {},
    }, extra=["broker.sys_interval = 1s"])
    # the PKI makes server-expiring valid for 10 days from its generation
    got = sys_values(b, "$SYS/broker/listeners/#", {
        "$SYS/broker/listeners/ssl:soon/cert_days_left": lambda v: v in ("9", "10"),
        "$SYS/broker/listeners/ssl:fine/cert_days_left": lambda v: 700 < int(v) <= 825,
    })
    assert got
    # a start-up warning from the check, and the runtime expiry warning
    assert re.search(r"\[warning\] listener ssl:soon: .*\[expires_soon\]", b.log), b.log
    wait_until(lambda: re.search(r"\[warning\] listener ssl:soon: the TLS certificate expires "
                                 r"in (9|10) days", b.log), 5,
               what="the expiry warning in the log")
    assert not re.search(r"listener ssl:fine: the TLS certificate expires", b.log)
