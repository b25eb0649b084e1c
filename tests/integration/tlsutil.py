# SPDX-License-Identifier: Apache-2.0
"""Helpers for moat's TLS integration tests (test_2*_tls*.py).

- the `pki` fixture: the test PKI made by scripts/gen-test-pki.sh, once per
  session, into the session's temporary directory (or $MOAT_TEST_PKI, kept
  between runs, like the unit tests); never in the repository;
- ssl listener configuration lines and brokers with several TLS listeners;
- client side: ssl contexts, handshakes, server certificate fingerprints,
  openssl s_client / mosquitto_pub runs, paho tls_set() arguments;
- LogCursor: what the broker logged since a point, so tests sharing one
  broker look only at their own lines;
- TLSView: one TLS listener of a broker presented with the Broker interface
  the core tests use (.port, .raw(), .restart() ...), so that they rerun over
  TLS unchanged (test_24_tls_core.py).

Test modules import the fixtures they use from here (`from tlsutil import
pki`).
"""

import base64
import contextlib
import hashlib
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import conftest
import mqttraw
from conftest import REPO_ROOT, Broker, moat_bin, sanitizer_report, wait_until

GEN_PKI = REPO_ROOT / "scripts" / "gen-test-pki.sh"

# Certificates the PKI has only as a bare leaf: tests need them with their
# intermediate too (the broker refuses a leaf whose chain is incomplete, so
# these would otherwise fail for that reason instead of the one under test).
_FULLCHAINS = ["server-expired", "server-notyet", "server-clientauth", "server-rsa1024",
               "server-nosan", "server-expiring", "server-sha1", "server-k256",
               "client-expired"]

CLIENT_DN = "CN=device-001,OU=devices,O=moat test"
CLIENT_CN = "device-001"


# ------------------------------------------------------------------ the PKI

class PKI:
    """The generated PKI. pki("name") is the path of a file in it (str)."""

    def __init__(self, d):
        self.dir = Path(d)

    def __call__(self, name):
        return str(self.dir / name)

    def text(self, name):
        return (self.dir / name).read_text()

    def certs(self, name):
        """The PEM certificate blocks of a file, in order."""
        return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?",
                          self.text(name), re.S)

    def der(self, name):
        """DER of the first certificate in the file."""
        return ssl.PEM_cert_to_DER_cert(self.certs(name)[0])

    def sha256(self, name):
        return hashlib.sha256(self.der(name)).hexdigest()

    def md5(self, name):
        return hashlib.md5(self.der(name)).hexdigest()

    def crt_b64(self, name):
        return base64.b64encode(self.der(name)).decode()

    def subject_rfc2253(self, name):
        r = subprocess.run(["openssl", "x509", "-in", self(name), "-noout", "-subject",
                            "-nameopt", "RFC2253"], capture_output=True, text=True, timeout=30,
                           check=True)
        return r.stdout.strip().split("=", 1)[1].strip()


def make_pki(d):
    d = Path(d)
    r = subprocess.run(["bash", str(GEN_PKI), str(d)], capture_output=True, text=True,
                       timeout=180)
    if r.returncode != 0:
        pytest.fail("scripts/gen-test-pki.sh failed (%d): %s%s" % (r.returncode, r.stdout,
                                                                   r.stderr))
    p = PKI(d)
    for name in _FULLCHAINS:
        full = d / (name + "-fullchain.pem")
        if not full.exists():
            full.write_text(p.text(name + ".pem") + p.text("int.pem"))
    return p


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """The test PKI (see scripts/gen-test-pki.sh for the file names), plus
    <name>-fullchain.pem (leaf + intermediate) for the leaf-only server and
    client certificates listed in _FULLCHAINS."""
    d = os.environ.get("MOAT_TEST_PKI") or str(tmp_path_factory.getbasetemp() / "tls-pki")
    # The script is a no-op on a finished directory, so every module that
    # imports this fixture pays for the generation only once.
    return make_pki(d)


# ------------------------------------------------------------------ config

def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (all bound at once, then freed)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _val(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def ssl_listener(name, port, pki=None, ltype="ssl", **opts):
    """Config lines for listener.<ltype>.<name> on 127.0.0.1:port (ltype ssl,
    or wss, or ws / tcp with pki=None). certfile and keyfile default to the
    PKI's RSA server-fullchain.pem / server.key; an option given as None is
    left out."""
    o = {}
    if pki is not None:
        o = {"certfile": pki("server-fullchain.pem"), "keyfile": pki("server.key")}
    o.update(opts)
    lines = ["listener.%s.%s = 127.0.0.1:%d" % (ltype, name, port)]
    for k, v in o.items():
        if v is not None:
            lines.append("listener.%s.%s.%s = %s" % (ltype, name, k, _val(v)))
    return lines


MUTUAL = {"verify": "verify_peer", "fail_if_no_peer_cert": True}
OPTIONAL = {"verify": "verify_peer", "fail_if_no_peer_cert": False}


def wait_port(port, timeout=10.0):
    def ok():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return True
        except OSError:
            return False
    wait_until(ok, timeout, what="port %d to accept connections" % port)


def inotify_watch_count(pid):
    """How many inotify watches the process holds (from /proc/PID/fdinfo)."""
    n = 0
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return 0
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != "anon_inode:inotify":
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                n += sum(1 for line in f if line.startswith("inotify wd:"))
        except OSError:
            pass
    return n


def wait_cert_watches(b, timeout=5.0):
    """Wait until the broker watches its certificate files.

    Known broker race (reported to the lead): the TLS contexts are built
    (files read) before the listeners open, but the inotify watches are added
    only after "started" is logged (tls_reloader_start() at the end of
    moat_broker_run), and nothing re-checks the files then. A file changed in
    between, e.g. by a test that rewrites it as soon as the port accepts, is
    never picked up (until the next change or SIGHUP). Tests wait here so
    that they test the reload, not that window."""
    if not any(".certfile = " in line for line in getattr(b, "extra", ())):
        return  # no TLS listener (ws only): nothing to watch
    wait_until(lambda: inotify_watch_count(b.proc.pid) > 0, timeout,
               what="the broker's inotify watches on its certificate files")


def tls_broker_lines(pki, listeners, extra=()):
    """(lines, {name: port}, tcp_port) for several ssl listeners: listeners
    maps a name to its options (see ssl_listener); a "cacertfile" of True
    means the PKI's ca.pem. tcp_port is free for the broker's plain listener
    (all ports chosen together, so they differ)."""
    all_ports = free_ports(len(listeners) + 1)
    ports = dict(zip(listeners, all_ports[1:]))
    lines = []
    for name, opts in listeners.items():
        opts = dict(opts)
        if opts.get("cacertfile") is True:
            opts["cacertfile"] = pki("ca.pem")
        plain = opts.get("ltype") in ("ws", "tcp")
        lines += ssl_listener(name, ports[name], None if plain else pki, **opts)
    return lines + list(extra), ports, all_ports[0]


def start_tls_broker(broker_factory, pki, listeners, extra=()):
    """A started broker (its plain TCP port as usual) with the given ssl
    listeners; b.tls_ports maps each listener name to its port."""
    lines, ports, tcp_port = tls_broker_lines(pki, listeners, extra)
    b = broker_factory(start=False)
    b.start(lines, port=tcp_port)
    for p in ports.values():
        wait_port(p)
    wait_cert_watches(b)
    b.tls_ports = ports
    return b


@contextlib.contextmanager
def running_broker(base_dir, lines, tls_ports=None, port=None):
    """A broker for a whole module (use from a module-scoped fixture); on
    exit it is stopped and checked like conftest's mod_broker."""
    b = Broker(base_dir)
    try:
        b.start(lines, port=port)
        for p in (tls_ports or {}).values():
            wait_port(p)
        if tls_ports:
            wait_cert_watches(b)
        b.tls_ports = dict(tls_ports or {})
        yield b
    finally:
        crashed = None
        if b.proc is not None and not b.expected_exit and b.proc.poll() is not None:
            crashed = b.proc.returncode
        b.stop()
        if crashed is not None or b.forced_kill:
            print(b.log_tail(80))
            pytest.fail("module broker died (exit status %s) or did not stop" % crashed)
        san = sanitizer_report(b)
        if san:
            pytest.fail("sanitizer report in the moat log:\n" + san)


def start_expect_failure(broker_factory, lines, timeout=15.0):
    """Start a broker that must refuse to start; returns (exit status, log)."""
    b = broker_factory(start=False)
    b.start(lines, wait=False)
    try:
        rc = b.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        b.stop()
        pytest.fail("moat started although it should have refused; log:\n" + b.log_tail())
    b.expected_exit = True
    return rc, b.log


def check_config(tmp_path, lines, timeout=30):
    """moat --check-config on a config made of lines (plus a TCP listener and
    a data dir); returns CompletedProcess with stdout+stderr in .out."""
    conf = Path(tmp_path) / ("check-%d.conf" % time.monotonic_ns())
    conf.write_text("\n".join(["listener.tcp.default = 127.0.0.1:%d" % free_ports(1)[0],
                               "node.data_dir = %s" % (Path(tmp_path) / "check-data")]
                              + list(lines)) + "\n")
    r = subprocess.run([moat_bin(), "--check-config", "-c", str(conf)], capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    r.out = r.stdout + r.stderr
    return r


# ------------------------------------------------------------------ log

class LogCursor:
    """The part of a broker's log written after the cursor was made."""

    def __init__(self, b):
        self.b = b
        self.pos = len(b.log)

    def text(self):
        return self.b.log[self.pos:]

    def search(self, pattern):
        return re.search(pattern, self.text())

    def count(self, pattern):
        return len(re.findall(pattern, self.text()))

    def wait(self, pattern, timeout=10.0):
        rx = re.compile(pattern)
        try:
            return wait_until(lambda: rx.search(self.text()), timeout,
                              what="log line matching %r" % pattern)
        except AssertionError:
            raise AssertionError("no log line matching %r within %.0fs; new log lines:\n%s"
                                 % (pattern, timeout, self.text()[-4000:]))

    def wait_count(self, pattern, n, timeout=10.0):
        try:
            wait_until(lambda: self.count(pattern) >= n, timeout,
                       what="%d log lines matching %r" % (n, pattern))
        except AssertionError:
            raise AssertionError("%d (not %d) log lines matching %r within %.0fs; new log "
                                 "lines:\n%s" % (self.count(pattern), n, pattern, timeout,
                                                 self.text()[-4000:]))


def handshake_failure_re(listener, reason, peer_port=None, detail=None):
    """The log line of a failed handshake. detail: text the explanation must
    hold, so a late line of an earlier test with the same reason is skipped."""
    peer = r"127\.0\.0\.1:%s" % (peer_port if peer_port is not None else r"\d+")
    expl = r"(.*%s.*)" % re.escape(detail) if detail else r"(.*)"
    return (r"TLS handshake failed: peer=%s listener=ssl:%s reason=%s: %s"
            % (peer, re.escape(listener), re.escape(reason), expl))


# ------------------------------------------------------------------ client side

def client_context(pki, ca="ca.pem", cert=None, key=None, verify=True, check_hostname=True,
                   min_version=None, max_version=None, ciphers=None):
    """An ssl.SSLContext for a TLS client. ca/cert/key are PKI file names."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        if ca:
            ctx.load_verify_locations(pki(ca))
        ctx.check_hostname = check_hostname
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(pki(cert), pki(key))
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def tls_connect(port, ctx, server_hostname="localhost", timeout=5.0, session=None):
    """A TLS socket to 127.0.0.1:port after a completed handshake (resuming
    session when given)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_hostname, session=session)
    except BaseException:
        raw.close()
        raise


def server_fingerprint(port, timeout=5.0):
    """SHA-256 of the leaf certificate the server presents to a new handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with tls_connect(port, ctx, timeout=timeout) as s:
        return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def probe_refused(port, ctx, server_hostname="localhost", timeout=5.0):
    """Handshake and, when it seems to succeed, send a CONNECT and read: a
    server that refuses the client's certificate can do so after the client
    finished its side of a TLS 1.3 handshake. Returns the SSLError / OSError
    (None means the server answered with an MQTT packet)."""
    try:
        s = tls_connect(port, ctx, server_hostname=server_hostname, timeout=timeout)
    except (ssl.SSLError, OSError) as e:
        return e
    with s:
        try:
            s.sendall(mqttraw.connect("probe", version=4))
            data = s.recv(4096)
        except (ssl.SSLError, OSError) as e:
            return e
        if not data:
            return ConnectionAbortedError("closed without an alert")
        return None


def local_port(client):
    """The local port of a RawClient / socket (the broker logs it as peer=)."""
    sock = getattr(client, "sock", client)
    return sock.getsockname()[1]


def s_client(port, *args, input="", timeout=20):
    """openssl s_client -connect 127.0.0.1:port ARGS; stdin is closed at once
    after input, so it disconnects after the handshake. .out = stdout+stderr."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + list(args),
                       input=input, capture_output=True, text=True, timeout=timeout)
    r.out = r.stdout + r.stderr
    return r


def s_client_interactive(port, args, steps, timeout=20):
    """Run openssl s_client with its stdin open: steps is a list of (bytes to
    write, seconds to read afterwards). s_client's command lines ("K\n": TLS
    1.3 key update, "R\n": renegotiation) work because -ign_eof is not used.
    Returns everything it printed (its output and the server's bytes)."""
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + list(args),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        for data, wait in steps:
            try:
                p.stdin.write(data)
                p.stdin.flush()
            except (BrokenPipeError, OSError):
                break
            t = min(time.monotonic() + wait, deadline)
            while time.monotonic() < t:
                r, _, _ = select.select([p.stdout], [], [], 0.05)
                if r:
                    chunk = os.read(p.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    out += chunk
    finally:
        p.kill()
        p.wait(10)
        out += p.stdout.read() or b""
        for f in (p.stdout, p.stdin):
            try:
                f.close()
            except OSError:
                pass
    return out


def s_client_cert_sha256(out):
    """SHA-256 of the server certificate printed by s_client."""
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    assert m, "no server certificate in s_client output:\n" + out
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(m.group(0))).hexdigest()


def mosquitto(tool, port, *args, host="localhost", timeout=20):
    """mosquitto_pub / mosquitto_sub with -h host -p port ARGS (bounded)."""
    r = subprocess.run([tool, "-h", host, "-p", str(port)] + list(args), capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    r.out = r.stdout + r.stderr
    return r


def paho_tls(pki, cert=None, key=None, ca="ca.pem", **kw):
    """Keyword arguments for paho's tls_set() (PahoClient(tls=...))."""
    d = {"ca_certs": pki(ca), "tls_version": ssl.PROTOCOL_TLS_CLIENT}
    if cert:
        d["certfile"] = pki(cert)
        d["keyfile"] = pki(key)
    d.update(kw)
    return d


# ------------------------------------------------------------------ TLSView

class TLSView:
    """One TLS listener of a Broker, looking like a Broker: .port is the TLS
    port, .raw() makes TLS RawClients, conftest's raw_clients / paho_clients
    fixtures pick up raw_client_kw / paho_client_kw, and everything else
    (log, restart, signal, stop, proc ...) is the underlying broker's, so
    that tests written for a plain broker rerun over TLS unchanged."""

    _OWN = ("_b", "tls_port", "raw_client_kw", "paho_client_kw")

    def __init__(self, b, tls_port, raw_ctx, paho_kw, ws=None):
        """raw_ctx / paho_kw None: no TLS; ws: the WebSocket path, for a ws or
        wss listener."""
        raw_kw = {"tls": raw_ctx, "server_hostname": "localhost"} if raw_ctx else {}
        paho = {"tls": paho_kw} if paho_kw else {}
        if ws is not None:
            raw_kw["ws"] = paho["ws"] = ws
        object.__setattr__(self, "_b", b)
        object.__setattr__(self, "tls_port", tls_port)
        object.__setattr__(self, "raw_client_kw", raw_kw)
        object.__setattr__(self, "paho_client_kw", paho)

    @property
    def port(self):
        return self.tls_port

    @property
    def broker(self):
        return self._b

    def raw(self, version=4, **kw):
        kw = dict(self.raw_client_kw, **kw)
        c = mqttraw.RawClient(self.tls_port, version=version, **kw)
        conftest._open_clients.append(c)
        return c

    def restart(self, sig=signal.SIGTERM):
        self._b.restart(sig=sig)
        wait_port(self.tls_port)
        return self

    def __getattr__(self, name):
        return getattr(self._b, name)

    def __setattr__(self, name, value):
        if name in self._OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self._b, name, value)

    def __repr__(self):
        return "<TLSView port=%d of %r>" % (self.tls_port, self._b)
