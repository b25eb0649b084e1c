# SPDX-License-Identifier: Apache-2.0
"""Real clients and proxies for the WebSocket and PROXY protocol tests.

- MQTT.js in Node.js (tests/node/mqttjs_client.js): run_mqttjs() for a
  client that runs to its end, MqttJs / the `mqttjs` fixture for one in the
  background (a subscriber that others publish to);
- MQTT.js in Debian's Chromium (tests/node/browser_check.js driving
  tests/node/browser/index.html, served by StaticServer): Chromium and the
  `chromium` fixture; spki_hash() for trusting the test CA's server
  certificate in Chromium;
- HAProxy in tcp mode, terminating TLS and/or sending a PROXY header: HAProxy
  and the `haproxy_factory` fixture;
- Daemon: a background process with its log in a file, started and stopped
  by PID, that is ready when its ports listen.

What it needs (scripts/deps.sh test installs it): node, npm ci in tests/node,
/usr/bin/chromium, haproxy. need_node() / need_chromium() / need_haproxy()
skip a test when something is missing, or fail it under CI (CI=true), where
a silent skip would hide a broken setup.

Test modules import the fixtures they use from here (`from nodeutil import
mqttjs, chromium, haproxy_factory`) and the PKI from tlsutil (`pki`).
"""

import base64
import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import PYTHON, REPO_ROOT
from tlsutil import free_ports

NODE_DIR = REPO_ROOT / "tests" / "node"
MQTTJS_CLIENT = NODE_DIR / "mqttjs_client.js"
BROWSER_CHECK = NODE_DIR / "browser_check.js"
CHROMIUM = "/usr/bin/chromium"


# ------------------------------------------------------------ availability

def node_bin():
    return shutil.which("node") or shutil.which("nodejs")


def node_available():
    """node is installed and tests/node's npm packages are (npm ci)."""
    return bool(node_bin()) and (NODE_DIR / "node_modules" / "mqtt" / "package.json").is_file()


def chromium_available():
    return (node_available() and os.access(CHROMIUM, os.X_OK)
            and (NODE_DIR / "node_modules" / "playwright-core" / "package.json").is_file())


def haproxy_available():
    return bool(shutil.which("haproxy"))


def _need(ok, what):
    if ok:
        return
    msg = "%s not available (run `bash scripts/deps.sh test` as root)" % what
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def need_node():
    _need(node_available(), "node + tests/node/node_modules")


def need_chromium():
    _need(chromium_available(), "chromium (%s) + playwright-core" % CHROMIUM)


def need_haproxy():
    _need(haproxy_available(), "haproxy")


# ------------------------------------------------------------ ports, processes

def port_listening(port):
    """Some socket listens on TCP port `port` (any address, IPv4 or IPv6),
    read from /proc/net/tcp{,6}: no connection is made, so the listener logs
    nothing."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) > 3 and parts[3] == "0A" \
                            and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            continue
    return False


class Daemon:
    """A background process (its own session), stdout and stderr into
    self.log_path; ready when every port in `ports` listens. stop() ends it
    by PID: SIGTERM, then SIGKILL after a bounded wait."""

    name = "daemon"

    def __init__(self, base_dir):
        self.dir = Path(base_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = None
        self.log_path = self.dir / ("%s.log" % self.name)
        self.ports = []

    def spawn(self, argv, ports, timeout=10.0, cwd=None, env=None):
        assert self.proc is None or self.proc.poll() is not None, "%s already running" % self.name
        self.ports = list(ports)
        logf = open(self.log_path, "ab")
        logf.write(("---- %s\n" % " ".join(str(a) for a in argv)).encode())
        logf.flush()
        try:
            self.proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf, cwd=str(cwd or self.dir),
                                         env=env, start_new_session=True)
        finally:
            logf.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                pytest.fail("%s exited with status %s during startup; log:\n%s"
                            % (self.name, rc, self.log_tail()))
            if all(port_listening(p) for p in self.ports):
                return
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail("%s did not listen on %s within %.0fs; log:\n%s"
                            % (self.name, self.ports, timeout, self.log_tail()))
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=5.0):
        """Returns the exit status (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        return self.proc.returncode

    @property
    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log.splitlines()[-n:])

    def __repr__(self):
        return "<%s pid=%s ports=%s>" % (type(self).__name__,
                                        self.proc.pid if self.proc else None, self.ports)


# ------------------------------------------------------------ MQTT.js (Node)

class Events(list):
    """The JSON events a node helper printed, in order; .stderr has what it
    wrote there, .other its stdout lines that were not JSON."""

    def __init__(self, *a):
        super().__init__(*a)
        self.stderr = ""
        self.other = []

    def of(self, kind):
        return [e for e in self if e.get("event") == kind]

    def first(self, kind):
        got = self.of(kind)
        return got[0] if got else None

    def payloads(self):
        return [e["payload"] for e in self.of("message")]

    def errors(self):
        return [e.get("message", "") for e in self.of("error")]

    def __str__(self):
        lines = [json.dumps(e) for e in self] + self.other
        if self.stderr:
            lines.append("stderr: " + self.stderr.strip())
        return "\n".join(lines)


def _parse_lines(text, events):
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            events.other.append(line)
            continue
        if isinstance(ev, dict):
            events.append(ev)
        else:
            events.other.append(line)


def _with_timeout(args, timeout):
    args = [str(a) for a in args]
    if "--timeout" not in args:
        args += ["--timeout", str(int(timeout * 1000))]
    return args


def run_mqttjs(args, timeout=10.0):
    """Run mqttjs_client.js with args (a list: ["--url", url, "--sub", t, ...];
    see the script's header) to its end. --timeout defaults to `timeout`
    seconds; the process is killed if it overruns that by 10 s.
    Returns (exit status, Events)."""
    need_node()
    argv = [node_bin(), str(MQTTJS_CLIENT)] + _with_timeout(args, timeout)
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout + 10, cwd=str(NODE_DIR))
    except subprocess.TimeoutExpired as e:
        ev = Events()
        out = e.stdout or ""
        _parse_lines(out.decode(errors="replace") if isinstance(out, bytes) else out, ev)
        pytest.fail("mqttjs_client.js did not exit within %.0fs; output:\n%s"
                    % (timeout + 10, ev))
    events = Events()
    _parse_lines(r.stdout, events)
    events.stderr = r.stderr
    return r.returncode, events


class _LineProc:
    """A node helper in the background whose stdout JSON lines are collected
    by a thread; wait_event() waits (bounded) for an event of a kind."""

    what = "node"

    def __init__(self, argv, timeout, cwd):
        self.timeout = timeout
        self.events = Events()
        self._q = queue.Queue()
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1,
                                     cwd=str(cwd), start_new_session=True)
        self._t_out = threading.Thread(target=self._read_out, daemon=True)
        self._t_err = threading.Thread(target=self._read_err, daemon=True)
        self._t_out.start()
        self._t_err.start()

    def _read_out(self):
        for line in self.proc.stdout:
            with self._cond:
                _parse_lines(line, self.events)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_err(self):
        for line in self.proc.stderr:
            with self._cond:
                self.events.stderr += line

    def wait_event(self, kind, timeout=None, n=1, stop_kinds=()):
        """The n-th event of `kind` (waits, bounded). Fails early if the
        process ends first or an event in stop_kinds shows up."""
        timeout = self.timeout + 5 if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = self.events.of(kind)
                if len(got) >= n:
                    return got[n - 1]
                stop = [e for e in self.events if e.get("event") in stop_kinds]
                if stop:
                    raise AssertionError("%s: %s before %r; events:\n%s"
                                         % (self.what, stop[0], kind, self.events))
                ended = self.proc.poll() is not None and not self._t_out.is_alive()
                left = deadline - time.monotonic()
                if ended or left <= 0:
                    raise AssertionError("%s: no %r event (%s); events:\n%s" % (
                        self.what, kind,
                        "exited %s" % self.proc.returncode if ended else "timeout",
                        self.events))
                self._cond.wait(min(left, 0.2))

    def wait(self, timeout=None):
        """Wait for the process to end; returns (exit status, Events)."""
        timeout = self.timeout + 10 if timeout is None else timeout
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError("%s did not exit within %.0fs; events:\n%s"
                                 % (self.what, timeout, self.events))
        self._t_out.join(5)
        self._t_err.join(5)
        return rc, self.events

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._t_out.join(5)
        self._t_err.join(5)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


class MqttJs(_LineProc):
    """mqttjs_client.js in the background, e.g. a subscriber:

        sub = MqttJs(["--url", url, "--sub", "t", "--expect", "1"])
        sub.wait_event("subscribed")
        ... publish with another client ...
        rc, events = sub.wait()
    """

    what = "mqttjs_client.js"

    def __init__(self, args, timeout=10.0):
        need_node()
        super().__init__([node_bin(), str(MQTTJS_CLIENT)] + _with_timeout(args, timeout),
                         timeout, NODE_DIR)

    def wait_subscribed(self, timeout=None):
        return self.wait_event("subscribed", timeout, stop_kinds=("done",))


@pytest.fixture
def mqttjs():
    """mqttjs(args, timeout=10.0) -> a started MqttJs; all stopped at teardown."""
    made = []

    def make(args, timeout=10.0):
        c = MqttJs(args, timeout)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


# ------------------------------------------------------------ Chromium

def spki_hash(cert_path):
    """base64 SHA-256 of the SubjectPublicKeyInfo of the first certificate in
    cert_path: the form Chromium's --ignore-certificate-errors-spki-list takes."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert_path), "-noout", "-pubkey"],
                         capture_output=True, timeout=30, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, timeout=30, check=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


class StaticServer(Daemon):
    """python3 -m http.server for tests/node/ (the test page and the MQTT.js
    bundle in node_modules) on 127.0.0.1, a free port. .base is its URL."""

    name = "http"

    def start(self, root=NODE_DIR, timeout=10.0):
        self.port = free_ports(1)[0]
        self.base = "http://127.0.0.1:%d" % self.port
        return self.spawn([PYTHON, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
                           "--directory", str(root)], [self.port], timeout)


class ChromiumRun(_LineProc):
    what = "browser_check.js"

    def wait_ready(self, timeout=None):
        """The {"event":"ready"} line: the page is subscribed."""
        return self.wait_event("ready", timeout, stop_kinds=("result",))

    def wait_result(self, timeout=None):
        """(exit status, result event, Events) once browser_check.js ended."""
        rc, events = self.wait(timeout)
        return rc, events.first("result"), events


class Chromium:
    """The test page in headless Chromium, through browser_check.js.

        run = chromium.start(url="wss://127.0.0.1:%d/mqtt" % port, topic=t,
                             expect=["hello"], spki=[spki_hash(pki("server.pem"))],
                             screenshot=tmp_path / "page.png")
        run.wait_ready()
        ... publish "hello" to t ...
        rc, result, events = run.wait_result()

    The static HTTP server is started on first use and stopped with stop()."""

    def __init__(self, base_dir):
        self.dir = Path(base_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.http = StaticServer(self.dir / "http")
        self.runs = []

    def start(self, url, topic, expect=(), spki=(), screenshot=None, timeout=30.0,
              expect_status="connected", protocol_version=4, qos=0, client_id=None,
              username=None, password=None, pub=None, message=None, extra=()):
        need_chromium()
        if not self.http.alive():
            self.http.start()
        args = ["--base", self.http.base, "--url", url, "--topic", topic,
                "--qos", str(qos), "--protocol-version", str(protocol_version),
                "--expect-status", expect_status, "--timeout", str(int(timeout * 1000))]
        for text in expect:
            args += ["--expect", text]
        for h in spki:
            args += ["--spki", h]
        for opt, v in (("--screenshot", screenshot), ("--client-id", client_id),
                       ("--username", username), ("--password", password),
                       ("--pub", pub), ("--message", message)):
            if v is not None:
                args += [opt, str(v)]
        run = ChromiumRun([node_bin(), str(BROWSER_CHECK)] + args + list(extra), timeout,
                          NODE_DIR)
        self.runs.append(run)
        return run

    def run(self, **kw):
        """start() and wait for the result, nothing in between:
        (exit status, result event, Events)."""
        return self.start(**kw).wait_result()

    def stop(self):
        for r in self.runs:
            r.stop()
        self.http.stop()


@pytest.fixture
def chromium(tmp_path):
    """A Chromium helper for this test; its runs and HTTP server end at
    teardown."""
    c = Chromium(tmp_path / "chromium")
    yield c
    c.stop()


# ------------------------------------------------------------ HAProxy

PROXY_SERVER_OPTS = {
    None: "",
    "none": "",
    "v1": "send-proxy",
    "v2": "send-proxy-v2",
    "v2-ssl": "send-proxy-v2-ssl",
    "v2-ssl-cn": "send-proxy-v2-ssl-cn",
}


def crt_pem(path, cert, key):
    """Write cert (a chain file is fine: leaf first) and key into one PEM at
    path, as haproxy's `crt` wants them. Returns path (str)."""
    path = Path(path)
    text = Path(cert).read_text()
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text + Path(key).read_text())
    os.chmod(path, 0o600)
    return str(path)


class HAProxy(Daemon):
    """haproxy -db (foreground) in tcp mode with the frontends added by
    frontend(), each on its own free 127.0.0.1 port. Logs (one line per
    connection, TLS failures included) go to self.log."""

    name = "haproxy"

    def __init__(self, base_dir):
        super().__init__(base_dir)
        self.frontends = []
        self.conf_path = self.dir / "haproxy.cfg"
        self.timeouts = {"connect": "5s", "client": "60s", "server": "60s",
                         "client-fin": "5s", "server-fin": "5s"}

    def crt(self, cert, key, name="crt.pem"):
        """A combined cert+key PEM in this proxy's directory (see crt_pem)."""
        return crt_pem(self.dir / name, cert, key)

    def frontend(self, backend_port, crt=None, ca_file=None, verify=None, proxy=None,
                 port=None, backend_host="127.0.0.1", bind_extra="", server_extra=""):
        """Add a frontend forwarding to backend_host:backend_port; returns its
        port. crt: a combined cert+key PEM (self.crt()) makes it terminate
        TLS; ca_file and verify ("required", "optional" or "none") check
        client certificates. proxy: None (plain TCP to the backend), "v1"
        (send-proxy), "v2" (send-proxy-v2), "v2-ssl" (send-proxy-v2-ssl),
        "v2-ssl-cn" (send-proxy-v2-ssl-cn), or any haproxy server keywords.
        Call before start()."""
        if port is None:
            port = free_ports(1)[0]
        bind = "bind 127.0.0.1:%d" % port
        if crt:
            bind += " ssl crt %s" % crt
            if ca_file:
                bind += " ca-file %s" % ca_file
            if verify:
                bind += " verify %s" % verify
        else:
            assert not (ca_file or verify), "ca_file / verify need crt (a TLS frontend)"
        if bind_extra:
            bind += " " + bind_extra
        server = "server s %s:%d %s %s" % (backend_host, backend_port,
                                           PROXY_SERVER_OPTS.get(proxy, proxy or ""),
                                           server_extra)
        self.frontends.append({"port": port, "bind": bind, "server": " ".join(server.split())})
        return port

    def config_text(self):
        lines = ["# written by tests/integration/nodeutil.py",
                 "global",
                 "    log stderr format raw local0 info",
                 "    maxconn 4096",
                 "    nbthread 1",
                 "",
                 "defaults",
                 "    mode tcp",
                 "    log global",
                 "    option tcplog",
                 "    option dontlognull"]
        for k, v in self.timeouts.items():
            lines.append("    timeout %s %s" % (k, v))
        for i, fe in enumerate(self.frontends):
            lines += ["",
                      "frontend fe%d" % i,
                      "    " + fe["bind"],
                      "    default_backend be%d" % i,
                      "",
                      "backend be%d" % i,
                      "    " + fe["server"]]
        return "\n".join(lines) + "\n"

    def start(self, timeout=10.0):
        assert self.frontends, "add a frontend() first"
        self.conf_path.write_text(self.config_text())
        exe = shutil.which("haproxy")
        return self.spawn([exe, "-f", str(self.conf_path), "-db"],
                          [fe["port"] for fe in self.frontends], timeout)


@pytest.fixture
def haproxy_factory(tmp_path):
    """haproxy_factory() -> a new, not yet started HAProxy (add frontends,
    then start()); all stopped at teardown."""
    need_haproxy()
    made = []

    def make():
        h = HAProxy(tmp_path / ("haproxy%d" % len(made)))
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()
