# SPDX-License-Identifier: Apache-2.0
"""Fixtures and helpers for moat's integration tests.

Every test runs the real broker binary ($MOAT_BIN, default build/moat) on
127.0.0.1 on a free random port, with a config file written into a tmp dir,
and stops only the process it started, by PID.
"""

import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import mqttraw

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"


def moat_bin():
    return os.environ.get("MOAT_BIN") or str(REPO_ROOT / "build" / "moat")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll pred() until it returns a true value; return it. Bounded."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


# Defaults every test broker gets; config_extra_lines may override any key.
DEFAULT_CONFIG = [
    ("allow_anonymous", "true"),
    ("log.level", "debug"),
    ("broker.sys_interval", "1s"),
    ("mqtt.max_packet_size", "1MB"),
    ("mqtt.max_inflight", "32"),
    ("mqtt.max_mqueue_len", "1000"),
    ("mqtt.max_topic_levels", "128"),
    ("mqtt.max_clientid_len", "65535"),
    ("mqtt.max_topic_alias", "65535"),
    ("mqtt.server_keepalive", "0"),
    ("mqtt.session_expiry_interval", "2h"),
    ("mqtt.retry_interval", "30s"),
    ("node.max_connections", "1024000"),
    ("listener.tcp.default.max_connections", "1024000"),
]

_open_clients = []

_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*=")


class Broker:
    """One moat process. start() writes moat.conf into its directory and waits
    (bounded) until the TCP port accepts connections."""

    def __init__(self, base_dir):
        self.dir = Path(base_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = None
        self.port = None
        self.data_dir = None
        self.extra = []
        self.conf_path = self.dir / "moat.conf"
        self.log_path = self.dir / "moat.log"
        self.expected_exit = True
        self.forced_kill = False
        self.starts = 0

    # -- config
    def config_text(self):
        extra_keys = set()
        for line in self.extra:
            m = _KEY_RE.match(line)
            if m:
                extra_keys.add(m.group(1))
        lines = ["# written by tests/integration/conftest.py",
                 "listener.tcp.default = 127.0.0.1:%d" % self.port,
                 "node.data_dir = %s" % self.data_dir]
        for k, v in DEFAULT_CONFIG:
            if k not in extra_keys:
                lines.append("%s = %s" % (k, v))
        lines.extend(self.extra)
        return "\n".join(lines) + "\n"

    def write_config(self):
        self.conf_path.write_text(self.config_text())

    # -- lifecycle
    def start(self, config_extra_lines=(), data_dir=None, port=None, wait=True):
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.extra = list(config_extra_lines)
        if data_dir is not None:
            self.data_dir = str(data_dir)
        if self.data_dir is None:
            self.data_dir = str(self.dir / "data")
        if port is not None:
            self.port = port
        if self.port is None:
            self.port = free_port()
        self.write_config()
        return self._spawn(wait)

    def _spawn(self, wait=True):
        exe = moat_bin()
        if not os.path.exists(exe):
            pytest.fail("moat binary not found at %s (set MOAT_BIN or build it)" % exe)
        logf = open(self.log_path, "ab")
        logf.write(("---- start #%d: %s -c %s\n" % (self.starts + 1, exe, self.conf_path))
                   .encode())
        logf.flush()
        self.proc = subprocess.Popen([exe, "-c", str(self.conf_path)], stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf, cwd=str(self.dir),
                                     start_new_session=True)
        logf.close()
        self.starts += 1
        self.expected_exit = False
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.expected_exit = True
                pytest.fail("moat exited with code %s during startup; log:\n%s" % (
                    rc, self.log_tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill9()
                pytest.fail("moat did not accept connections on port %d within %.0fs; log:\n%s"
                            % (self.port, timeout, self.log_tail()))
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Send sig to our process (by PID); SIGKILL if still running after
        timeout. Returns the exit status."""
        if self.proc is None:
            return None
        self.expected_exit = True
        self.forced_kill = False
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.forced_kill = sig != signal.SIGKILL
                try:
                    os.kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def kill9(self):
        return self.stop(sig=signal.SIGKILL)

    def restart(self, sig=signal.SIGTERM):
        """Stop (SIGTERM by default; signal.SIGKILL for a crash) and start again
        with the same config, data dir and port."""
        self.stop(sig=sig)
        if self.forced_kill:
            pytest.fail("moat did not exit within 10s of signal %d; log:\n%s" % (
                sig, self.log_tail()))
        deadline = time.monotonic() + 10
        while True:  # the port must become bindable again (SO_REUSEADDR servers: at once)
            try:
                self._spawn(wait=True)
                return self
            except pytest.fail.Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    # -- log
    @property
    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log.splitlines()[-n:])

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log), timeout,
                          what="log line matching %r; log tail:\n%s" % (pattern, "<see log>"))

    # -- clients
    def raw(self, version=4, **kw):
        """A RawClient to this broker; closed automatically after the test."""
        c = mqttraw.RawClient(self.port, version=version, **kw)
        _open_clients.append(c)
        return c

    def __repr__(self):
        return "<Broker pid=%s port=%s>" % (self.proc.pid if self.proc else None, self.port)


SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|ThreadSanitizer")


def sanitizer_report(b):
    """The sanitizer findings in the broker's log (ASan/UBSan builds), or None."""
    try:
        text = Path(b.log_path).read_text(errors="replace")
    except OSError:
        return None
    m = SANITIZER_RE.search(text)
    return text[max(0, m.start() - 200):m.start() + 4000] if m else None


def _finish_broker(b, request):
    crashed = None
    if b.proc is not None and not b.expected_exit and b.proc.poll() is not None:
        crashed = b.proc.returncode
    b.stop()
    failed = getattr(request.node, "rep_call", None)
    if crashed is not None or b.forced_kill or (failed is not None and failed.failed):
        print("\n---- moat log (%s) tail ----\n%s" % (b.log_path, b.log_tail(80)))
    if crashed is not None:
        pytest.fail("moat died during the test (exit status %s); see log above" % crashed)
    if b.forced_kill:
        pytest.fail("moat did not exit within 10s of SIGTERM (killed); see log above")
    san = sanitizer_report(b)
    if san:
        pytest.fail("sanitizer report in the moat log:\n" + san)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def broker_factory(tmp_path, request):
    """broker_factory(config_extra_lines=(), data_dir=None) -> started Broker."""
    made = []

    def make(config_extra_lines=(), data_dir=None, start=True):
        b = Broker(tmp_path / ("broker%d" % len(made)))
        made.append(b)
        if start:
            b.start(config_extra_lines, data_dir=data_dir)
        return b

    yield make
    for b in made:
        _finish_broker(b, request)


@pytest.fixture
def broker(broker_factory):
    """A broker with the default test config, for this test only."""
    return broker_factory()


@pytest.fixture(scope="module")
def mod_broker(tmp_path_factory, request):
    """A default-config broker shared by one test module (tests use unique topics
    and client ids)."""
    b = Broker(tmp_path_factory.mktemp("modbroker"))
    b.start()
    yield b
    crashed = None
    if not b.expected_exit and b.proc.poll() is not None:
        crashed = b.proc.returncode
    b.stop()
    if crashed is not None:
        print(b.log_tail(80))
        pytest.fail("module broker died (exit status %s)" % crashed)
    if b.forced_kill:
        print(b.log_tail(80))
        pytest.fail("module broker did not exit within 10s of SIGTERM (killed)")
    san = sanitizer_report(b)
    if san:
        pytest.fail("sanitizer report in the moat log:\n" + san)


@pytest.fixture(autouse=True)
def _mod_broker_alive(request):
    """Close the test's raw clients; fail a test (not just the module) if the
    shared broker died during it."""
    yield
    while _open_clients:
        _open_clients.pop().close()
    if "mod_broker" in request.fixturenames:
        b = request.getfixturevalue("mod_broker")
        if b.proc is not None and not b.expected_exit and b.proc.poll() is not None:
            b.expected_exit = True
            print(b.log_tail(80))
            pytest.fail("shared moat died during this test (exit status %s)"
                        % b.proc.returncode)


_uniq_lock = threading.Lock()
_uniq_n = [0]


def uniq(prefix="t"):
    """A unique name (topic prefix / client id) within this test run."""
    with _uniq_lock:
        _uniq_n[0] += 1
        return "%s%d-%d" % (prefix, os.getpid() % 10000, _uniq_n[0])


@pytest.fixture
def raw_clients():
    """raw_clients(broker, version=4) -> RawClient; all closed at teardown."""
    made = []

    def make(b, version=4, **kw):
        # A broker stand-in may ask for client options (tlsutil.TLSView: TLS).
        kw = dict(getattr(b, "raw_client_kw", None) or {}, **kw)
        c = mqttraw.RawClient(b.port, version=version, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def check_protocol_close(client, allowed_v5=(mqttraw.RC_MALFORMED, mqttraw.RC_PROTOCOL_ERROR),
                         timeout=5.0, require_disconnect=False):
    """The server must close the connection. A v5 server may first send a
    DISCONNECT whose reason code is in allowed_v5; a v3 server sends nothing
    (it has no DISCONNECT). Returns the DISCONNECT packet or None."""
    got = client.expect_closed(timeout=timeout)
    discs = [p for p in got if p.type == mqttraw.DISCONNECT]
    others = [p for p in got if p.type != mqttraw.DISCONNECT]
    assert not others, "unexpected packets before close: %r" % others
    if client.version == 5:
        assert len(discs) <= 1, "more than one DISCONNECT: %r" % discs
        if discs:
            assert discs[0].rc in allowed_v5, \
                "DISCONNECT reason %#x, expected one of %s" % (
                    discs[0].rc, ", ".join("%#x" % r for r in allowed_v5))
            return discs[0]
        assert not require_disconnect, "expected DISCONNECT with one of %s before close" % (
            ", ".join("%#x" % r for r in allowed_v5))
    return None


# ---------------------------------------------------------------- paho wrapper

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: E402

PAHO_PROTO = {3: mqtt.MQTTv31, 4: mqtt.MQTTv311, 5: mqtt.MQTTv5}


def paho_props(ptype, **kw):
    """paho Properties for packet type ptype ("PUBLISH", "CONNECT", ...) from
    keyword names as paho spells them (e.g. MessageExpiryInterval=5,
    UserProperty=[("a","b")])."""
    p = Properties(getattr(PacketTypes, ptype))
    for k, v in kw.items():
        setattr(p, k, v)
    return p


class PahoClient:
    """A synchronous wrapper around paho (thread loop) with bounded waits."""

    def __init__(self, port, client_id="", version=5, clean=True, keepalive=30, will=None,
                 username=None, password=None, connect_props=None, tls=None, host="127.0.0.1",
                 ws=None):
        """tls: None for plain MQTT, or keyword arguments for paho's tls_set()
        (ca_certs, certfile, keyfile, tls_version, ciphers ...). ws: None, or
        the URL path for MQTT over WebSocket (paho's websockets transport)."""
        self.port = port
        self.host = host
        self.version = version
        self.clean = clean
        self.keepalive = keepalive
        self.connect_props = connect_props
        transport = "websockets" if ws is not None else "tcp"
        if version == 5:
            self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5, transport=transport)
        else:
            self.c = mqtt.Client(client_id=client_id, clean_session=clean,
                                 protocol=PAHO_PROTO[version], transport=transport)
        if ws is not None:
            self.c.ws_set_options(path=ws)
        if tls is not None:
            self.c.tls_set(**tls)
        if username is not None:
            self.c.username_pw_set(username, password)
        if will is not None:
            self.c.will_set(will["topic"], will.get("payload"), will.get("qos", 0),
                            will.get("retain", False), properties=will.get("props"))
        self.messages = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connack = None
        self.disconnect_rc = None
        self._subacks = {}
        self._unsubacks = {}
        self._lock = threading.Lock()
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.c.on_disconnect = self._on_disconnect

    # callbacks
    def _on_connect(self, c, ud, flags, rc, props=None):
        rcv = rc.value if hasattr(rc, "value") else rc
        self.connack = {"flags": flags, "rc": rcv, "props": props,
                        "session_present": bool(flags.get("session present"))}
        self.connected.set()

    def _on_message(self, c, ud, msg):
        self.messages.put(msg)

    def _on_subscribe(self, c, ud, mid, granted, props=None):
        codes = [g.value if hasattr(g, "value") else g for g in granted]
        with self._lock:
            self._subacks[mid] = codes

    def _on_unsubscribe(self, c, ud, mid, props=None, rcs=None):
        with self._lock:
            self._unsubacks[mid] = rcs

    def _on_disconnect(self, c, ud, rc, props=None):
        self.disconnect_rc = rc.value if hasattr(rc, "value") else rc
        self.disconnected.set()

    # operations
    def connect(self, timeout=10.0, expect_rc=0):
        if self.version == 5:
            self.c.connect(self.host, self.port, keepalive=self.keepalive,
                           clean_start=self.clean, properties=self.connect_props)
        else:
            self.c.connect(self.host, self.port, keepalive=self.keepalive)
        self.c.loop_start()
        assert self.connected.wait(timeout), "no CONNACK within %.0fs" % timeout
        if expect_rc is not None:
            assert self.connack["rc"] == expect_rc, "CONNACK rc %r" % self.connack
        return self.connack

    def subscribe(self, topic, qos=0, options=None, props=None, timeout=10.0):
        if self.version == 5:
            opts = options if options is not None else SubscribeOptions(qos=qos)
            rc, mid = self.c.subscribe(topic, options=opts, properties=props)
        else:
            rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        wait_until(lambda: mid in self._subacks, timeout, what="SUBACK")
        return self._subacks[mid]

    def unsubscribe(self, topic, props=None, timeout=10.0):
        if self.version == 5:
            rc, mid = self.c.unsubscribe(topic, properties=props)
        else:
            rc, mid = self.c.unsubscribe(topic)
        wait_until(lambda: mid in self._unsubacks, timeout, what="UNSUBACK")
        return self._unsubacks[mid]

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None, timeout=10.0):
        info = self.c.publish(topic, payload, qos, retain, properties=props)
        info.wait_for_publish(timeout)
        assert info.is_published(), "publish of %r not completed within %.0fs" % (topic, timeout)
        return info

    def get(self, timeout=5.0):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message within %.1fs" % timeout)

    def get_n(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("got %d of %d messages within %.1fs: %r" % (
                    len(out), n, timeout, [(m.topic, m.payload) for m in out]))
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                pass
        return out

    def expect_none(self, duration=0.5):
        try:
            m = self.messages.get(timeout=duration)
        except queue.Empty:
            return
        raise AssertionError("unexpected message %r %r" % (m.topic, m.payload))

    def disconnect(self, props=None, reasoncode=None):
        if self.version == 5:
            self.c.disconnect(reasoncode=reasoncode, properties=props)
        else:
            self.c.disconnect()
        self.disconnected.wait(5.0)
        self.c.loop_stop()

    def stop(self):
        """Close the connection without a DISCONNECT and stop the loop thread."""
        try:
            self.c._thread_terminate = True  # paho 1.6: makes loop_forever return
            s = self.c.socket()
            s = getattr(s, "_socket", s)  # the TCP (or TLS) socket under paho's WebSocket
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)  # wakes the loop's select at once
                except OSError:
                    pass
            self.c.loop_stop()
            if s is not None:
                s.close()
        except Exception:
            pass


@pytest.fixture
def paho_clients():
    """paho_clients(broker, client_id="", version=5, ...) -> connected PahoClient
    (connect=False to only create it). All stopped at teardown."""
    made = []

    def make(b, client_id="", version=5, connect=True, **kw):
        kw = dict(getattr(b, "paho_client_kw", None) or {}, **kw)
        c = PahoClient(b.port, client_id=client_id, version=version, **kw)
        made.append(c)
        if connect:
            c.connect()
        return c

    yield make
    for c in made:
        c.stop()


def run(cmd, timeout=30, input=None, check=False):
    """Run a command with a bounded timeout; return CompletedProcess (text)."""
    return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                          check=check)


# The TLS tests' session-wide test PKI fixture (see tlsutil.py); imported here
# so that every module can request `pki` without importing it.
from tlsutil import pki  # noqa: E402,F401
