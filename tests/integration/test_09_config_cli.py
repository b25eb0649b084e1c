# SPDX-License-Identifier: Apache-2.0
"""Command line and configuration: --version, --check-config, error messages
(FILE:LINE: KEY: ...), units, SIGHUP reload, SIGTERM shutdown."""

import os
import re
import signal
import subprocess
import time

import pytest

import mqttraw as mr
from conftest import Broker, moat_bin, run, uniq, wait_until


def write(tmp_path, text, name="moat.conf"):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = """# a comment
listener.tcp.default = 127.0.0.1:{port}

node.data_dir = {data}
allow_anonymous = true
log.level = info
broker.sys_interval = 1s
mqtt.max_packet_size = 1MB      # sizes with units
mqtt.max_inflight = 32
mqtt.max_mqueue_len = 1000
mqtt.max_topic_levels = 128
mqtt.max_clientid_len = 65535
mqtt.max_topic_alias = 65535
mqtt.server_keepalive = 0       # 0 = honour client's
mqtt.session_expiry_interval = 2h
mqtt.retry_interval = 30s
node.max_connections = 1024000
listener.tcp.default.max_connections = 1024000
"""


def good_conf(tmp_path, port=None):
    return write(tmp_path, GOOD.format(port=port or 18830, data=tmp_path / "data"))


def test_version():
    r = run([moat_bin(), "--version"], timeout=10)
    assert r.returncode == 0
    out = (r.stdout or r.stderr).strip().splitlines()[0]
    assert re.match(r"^moat \d+\.\d+\.\d+\S*$", out), out


def test_help_config_lists_options():
    r = run([moat_bin(), "--help-config"], timeout=10)
    assert r.returncode == 0
    for key in ("mqtt.max_inflight", "mqtt.max_packet_size", "node.data_dir",
                "allow_anonymous", "broker.sys_interval"):
        assert key in r.stdout, key


def test_check_config_good(tmp_path):
    conf = good_conf(tmp_path)
    r = run([moat_bin(), "--check-config", "-c", str(conf)], timeout=10)
    assert r.returncode == 0, r.stderr


BAD_VALUES = [
    ("mqtt.max_packet_size", "1XB"),
    ("mqtt.max_packet_size", "lots"),
    ("allow_anonymous", "maybe"),
    ("mqtt.max_inflight", "-5"),
    ("mqtt.max_inflight", "70000"),
    ("mqtt.max_inflight", "12abc"),
    ("broker.sys_interval", "5 parsecs"),
    ("mqtt.session_expiry_interval", "2x"),
    ("listener.tcp.default", "127.0.0.1:99999"),
    ("listener.tcp.default", "not-an-address:port"),
    ("log.level", "loud"),
    ("mqtt.max_qos_allowed", "3"),
]


@pytest.mark.parametrize("key,value", BAD_VALUES)
def test_check_config_bad_value(tmp_path, key, value):
    """A bad value: exit 2 and `FILE:LINE: KEY: ...` on stderr."""
    lines = GOOD.format(port=18830, data=tmp_path / "data").splitlines()
    lines = [l for l in lines if not l.startswith(key + " ")]
    lines.insert(4, "%s = %s" % (key, value))   # line 5
    conf = write(tmp_path, "\n".join(lines) + "\n")
    r = run([moat_bin(), "--check-config", "-c", str(conf)], timeout=10)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "%s:5: %s:" % (conf, key) in r.stderr, r.stderr


def test_check_config_unknown_key_did_you_mean(tmp_path):
    lines = GOOD.format(port=18830, data=tmp_path / "data").splitlines()
    lines.insert(6, "mqtt.max_inflght = 3")     # line 7
    conf = write(tmp_path, "\n".join(lines) + "\n")
    r = run([moat_bin(), "--check-config", "-c", str(conf)], timeout=10)
    assert r.returncode == 2
    assert "%s:7: mqtt.max_inflght:" % conf in r.stderr, r.stderr
    assert re.search(r"did you mean", r.stderr, re.I), r.stderr
    assert "mqtt.max_inflight" in r.stderr.split("mqtt.max_inflght:", 1)[1]


def test_check_config_line_without_equals(tmp_path):
    conf = write(tmp_path, "# c\n\nthis line has no equals sign\n")
    r = run([moat_bin(), "--check-config", "-c", str(conf)], timeout=10)
    assert r.returncode == 2
    assert "%s:3:" % conf in r.stderr, r.stderr


def test_check_config_missing_file(tmp_path):
    r = run([moat_bin(), "--check-config", "-c", str(tmp_path / "nope.conf")], timeout=10)
    assert r.returncode != 0
    assert "nope.conf" in r.stderr


def test_run_with_bad_config_exits_2(tmp_path):
    """Not only --check-config: starting with a bad config fails fast with 2."""
    conf = write(tmp_path, "listener.tcp.default = 127.0.0.1:18830\nmqtt.bogus_key = 1\n")
    r = run([moat_bin(), "-c", str(conf)], timeout=15)
    assert r.returncode == 2
    assert "%s:2: mqtt.bogus_key:" % conf in r.stderr, r.stderr


def test_runs_on_random_port_and_answers(broker):
    c = broker.raw(4)
    assert c.connect("hello").rc == 0
    c.ping()
    assert broker.alive()


def test_config_comments_units_applied(tmp_path):
    """Inline comments, blank lines, size and duration units are applied."""
    b = Broker(tmp_path / "b")
    try:
        b.start(["mqtt.max_packet_size = 2KB   # two kilobytes", "",
                 "# comment line", "mqtt.server_keepalive = 1m", "mqtt.max_inflight = 9"])
        c = b.raw(5)
        p = c.connect("units", keepalive=300).props
        assert p.get("maximum_packet_size") == 2048
        assert p.get("server_keep_alive") == 60
        assert p.get("receive_maximum") == 9
    finally:
        b.stop()


def test_log_line_for_connect_and_disconnect(broker):
    """Connect/disconnect log lines carry client id, username, peer and listener."""
    c = broker.raw(4)
    c.connect("log-me", username="bob", password=b"pw")
    port = c.sock.getsockname()[1]
    line = broker.wait_log(r"client connected: .*id=log-me").group(0)
    full = [l for l in broker.log.splitlines() if "id=log-me" in l][0]
    assert "user=bob" in full and "127.0.0.1:%d" % port in full and "tcp:default" in full, full
    c.disconnect()
    broker.wait_log(r"client disconnected: .*id=log-me")
    assert line


def test_sighup_does_not_kill_and_reloads_log_level(broker_factory):
    """SIGHUP: moat keeps running, keeps its clients, and applies a changed
    log.level."""
    b = broker_factory(["log.level = error"])
    keep = b.raw(4)
    keep.connect("before-hup")
    keep.ping()
    time.sleep(0.3)
    assert "before-hup" not in b.log
    b.extra = ["log.level = debug"]
    b.write_config()
    b.signal(signal.SIGHUP)
    n = [0]

    def seen():
        n[0] += 1
        cid = "after-hup-%d" % n[0]
        c = b.raw(4)
        c.connect(cid)
        c.disconnect()
        time.sleep(0.1)
        return cid in b.log

    wait_until(seen, timeout=8, interval=0.3, what="debug/info logging after SIGHUP")
    assert b.alive()
    keep.ping()


def test_sigterm_clean_shutdown(broker):
    """SIGTERM: clients are disconnected (v5 may get DISCONNECT 0x8B Server
    shutting down) and moat exits 0."""
    c = broker.raw(5)
    c.connect("term")
    rc = broker.stop(signal.SIGTERM)
    assert rc == 0
    got = c.expect_closed(timeout=5)
    assert [p.rc for p in got if p.type == mr.DISCONNECT] in ([], [0x8B])


def test_data_dir_created(tmp_path):
    b = Broker(tmp_path / "b")
    data = tmp_path / "deep" / "nested" / "data"
    try:
        b.start([], data_dir=data)
        c = b.raw(4)
        c.connect("dd")
        c.publish("dd/r", b"x", qos=1, retain=True)
        assert data.is_dir()
    finally:
        b.stop()
