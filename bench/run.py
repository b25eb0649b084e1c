#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""make bench: moat against Mosquitto, side by side, in one run.

Starts each broker fresh for every measurement (own config in a temp dir,
same certificates), runs one scenario of build/moat-bench against it, and
interleaves the brokers A B A B over BENCH_REPS repetitions. Two tables:

  per core   the broker pinned to one CPU, the generator to another; moat with
             node.workers = 1
  all cores  nothing pinned, moat with node.workers = 0 (one loop per core),
             the generator with two threads

It prints a markdown table (medians, ratio moat/Mosquitto, targets from issue
4) and writes it, with the machine's description and every run, to
bench/results/<date>.md (raw JSON lines next to it in <date>.jsonl).

Environment:
  BENCH_QUICK=1        short run: one repetition, short scenarios, no idle-max
  BENCH_REPS=N         repetitions (default 3; 1 with BENCH_QUICK)
  BENCH_ONLY=REGEX     only scenarios whose id matches
  BENCH_TABLES=LIST    core,all (default both)
  BENCH_OUT=DIR        results directory (default bench/results)
  MOAT_BIN, MOAT_BENCH_BIN, MOSQUITTO   binaries (build/moat, build/moat-bench,
                       /usr/sbin/mosquitto)
Standard library only.
"""

import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MOAT = os.environ.get("MOAT_BIN") or str(REPO / "build" / "moat")
GEN = os.environ.get("MOAT_BENCH_BIN") or str(REPO / "build" / "moat-bench")
MOSQ = os.environ.get("MOSQUITTO") or "/usr/sbin/mosquitto"
QUICK = os.environ.get("BENCH_QUICK") == "1"
REPS = int(os.environ.get("BENCH_REPS") or (1 if QUICK else 3))
ONLY = re.compile(os.environ.get("BENCH_ONLY") or ".")
TABLES = (os.environ.get("BENCH_TABLES") or "core,all").split(",")
OUT = Path(os.environ.get("BENCH_OUT") or REPO / "bench" / "results")

DUR = 1.5 if QUICK else 3.0
WARM = 0.5 if QUICK else 1.0
NCPU = os.cpu_count() or 1
BROKER_CPU, GEN_CPU = "0", ("1" if NCPU > 1 else "0")
HARD_NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
IDLE_MAX = max(1000, min(HARD_NOFILE, 1 << 20) - 100)
BROKERS = ("moat", "mosquitto")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ scenarios
#
# A scenario is one moat-bench invocation. figs: the figures shown for it,
# (json key, label, "hi" or "lo" for which way is better, target). A target is
# ("ratio", x): moat/Mosquitto >= x (or <= x for "lo"), ("abs", v): moat's
# figure >= v ("hi") or <= v ("lo"), ("mosq",): no worse than Mosquitto.

TP = "msgs_per_s"
DL = "deliveries_per_s"


class Sc:
    def __init__(self, sid, title, mode, args, figs, tls=None, tables=("core",), quick_args=None):
        self.id, self.title, self.mode, self.args = sid, title, mode, list(args)
        self.figs, self.tls, self.tables = figs, tls, tables
        self.quick_args = quick_args

    def gen_args(self):
        a = list(self.args)
        if QUICK and self.quick_args:
            a = a + list(self.quick_args)
        return a


def tls_opt(version="1.3", cert="ec", groups="X25519", two_way=False, verify=False):
    return {"version": version, "cert": cert, "groups": groups, "two_way": two_way,
            "verify": verify}


def pubsub_scenarios():
    out = []
    for qos in (0, 1):
        for size in (16, 1024):
            for tls in (False, True):
                sid = "q%d-1to1-%s-%s" % (qos, "16B" if size == 16 else "1KiB",
                                           "tls13" if tls else "tcp")
                title = "QoS %d 1→1, %s, %s" % (qos, "16 B" if size == 16 else "1 KiB",
                                               "TLS 1.3" if tls else "TCP")
                target = None
                if (qos, size, tls) in ((0, 16, False), (0, 1024, True), (1, 1024, False)):
                    target = ("ratio", 2.0)
                window = 5000 if size == 16 and qos == 0 else 1000
                tables = ("core", "all") if (qos, size, tls) in (
                    (0, 16, False), (1, 1024, False), (0, 1024, True)) else ("core",)
                out.append(Sc(sid, title, "pubsub",
                              ["--qos", str(qos), "--size", str(size), "--window", str(window)],
                              [(TP, "msg/s", "hi", target)],
                              tls=tls_opt(verify=True) if tls else None, tables=tables))
    out.append(Sc("q1-1to1-1KiB-tcp-v5", "QoS 1 1→1, 1 KiB, TCP, MQTT 5", "pubsub",
                  ["--qos", "1", "--size", "1024", "--mqtt", "5"], [(TP, "msg/s", "hi", None)]))
    out.append(Sc("fanout-100", "fan-out 1→100, 16 B", "pubsub",
                  ["--subs", "100", "--window", "100"],
                  [(DL, "deliveries/s", "hi", ("ratio", 3.0))], tables=("core", "all")))
    out.append(Sc("fanout-1000", "fan-out 1→1000, 16 B", "pubsub",
                  ["--subs", "1000", "--window", "20"], [(DL, "deliveries/s", "hi", None)]))
    out.append(Sc("fanin-100", "fan-in 100→1 via bench/#, 16 B", "pubsub",
                  ["--pubs", "100", "--topology", "fanin", "--window", "50"],
                  [(TP, "msg/s", "hi", ("ratio", 2.0))], tables=("core", "all")))
    out.append(Sc("wildcards", "1000 topics, 40 subscribers with wildcards + 800 idle filters",
                  "pubsub",
                  ["--pubs", "10", "--topics", "100", "--subs", "40", "--extra-filters", "20",
                   "--topology", "wild", "--window", "200"],
                  [(DL, "deliveries/s", "hi", None), (TP, "msg/s", "hi", None)]))
    out.append(Sc("pairs-8", "8 pairs 1→1, QoS 0, 16 B", "pubsub",
                  ["--pubs", "8", "--subs", "8", "--topology", "pairs", "--window", "1000"],
                  [(TP, "msg/s", "hi", None)], tables=("all",)))
    out.append(Sc("retained", "retained storm: 10k stored, 10 subscribers take all", "retained",
                  ["--retained", "10000", "--subs", "10"],
                  [(DL, "retained deliveries/s", "hi", None),
                   ("stores_per_s", "retained stores/s (QoS 1)", "hi", None)],
                  quick_args=["--retained", "5000", "--subs", "4"]))
    out.append(Sc("latency-10k", "latency at 10k msg/s, QoS 0, 1 KiB, TCP", "pubsub",
                  ["--size", "1024", "--rate", "10000", "--window", "100000"],
                  [("lat_p50_us", "p50 µs", "lo", ("mosq",)),
                   ("lat_p99_us", "p99 µs", "lo", ("mosq",))]))
    out.append(Sc("latency-10k-tls13", "latency at 10k msg/s, QoS 0, 1 KiB, TLS 1.3", "pubsub",
                  ["--size", "1024", "--rate", "10000", "--window", "100000"],
                  [("lat_p50_us", "p50 µs", "lo", ("mosq",)),
                   ("lat_p99_us", "p99 µs", "lo", ("mosq",))], tls=tls_opt(verify=True)))
    return out


HS_FIGS = "storm"  # marker: storms get the handshake rows


def storm_scenarios():
    out = [Sc("storm-tcp", "CONNECT/CONNACK storm, TCP", "storm", ["--conns", "32"],
              [("conns_per_broker_cpu_s", "connections per broker CPU s", "hi", ("ratio", 1.5)),
               ("conns_per_s", "connections/s (wall)", "hi", None),
               ("broker_us_per_conn", "broker CPU µs per connection", "lo", None)],
              tables=("core", "all"))]
    specs = [
        ("storm-tls13-ecdsa-p256", "TLS 1.3 storm, ECDSA P-256 cert, P-256 key exchange",
         tls_opt("1.3", "ec", "P-256"), ("ratio", 2.5), ("core",)),
        ("storm-tls13-ecdsa-x25519", "TLS 1.3 storm, ECDSA P-256 cert, X25519",
         tls_opt("1.3", "ec", "X25519"), ("abs", 4000), ("core", "all")),
        ("storm-tls13-rsa", "TLS 1.3 storm, RSA-2048 cert, X25519",
         tls_opt("1.3", "rsa", "X25519"), ("ratio", 1.7), ("core",)),
        ("storm-tls13-ecdsa-2way", "two-way TLS 1.3 storm, ECDSA certs, X25519",
         tls_opt("1.3", "ec", "X25519", two_way=True), ("ratio", 2.2), ("core",)),
        # TLS 1.2: the client's supported groups also limit the curve of an
        # ECDSA certificate, so P-256 must be offered; X25519 is preferred.
        ("storm-tls12-ecdsa", "TLS 1.2 storm, ECDSA P-256 cert, ECDHE X25519",
         tls_opt("1.2", "ec", "X25519:P-256"), None, ("core",)),
        ("storm-tls12-rsa", "TLS 1.2 storm, RSA-2048 cert, ECDHE X25519",
         tls_opt("1.2", "rsa", "X25519"), None, ("core",)),
    ]
    for sid, title, tls, target, tables in specs:
        # The handshake figures are per broker CPU second: the generator's
        # client side costs more than the server's, so on one core it is
        # usually the bottleneck.
        out.append(Sc(sid, title, "storm", ["--conns", "32"],
                      [("conns_per_broker_cpu_s", "handshakes per broker CPU s", "hi", target),
                       ("conns_per_s", "handshakes/s (wall)", "hi", None),
                       ("broker_us_per_conn", "broker CPU µs per handshake", "lo", None)],
                      tls=tls, tables=tables))
    return out


def idle_scenarios():
    n10 = 2000 if QUICK else 10000
    out = [
        Sc("idle-tcp-%dk" % (n10 // 1000), "idle TCP connections × %d" % n10, "idle",
           ["--conns", str(n10)], [("bytes_per_conn", "broker bytes/conn", "lo", ("abs", 736))]),
        Sc("idle-tls13-%dk" % (n10 // 1000), "idle TLS 1.3 connections × %d (ECDSA, X25519)" % n10,
           "idle", ["--conns", str(n10)],
           [("bytes_per_conn", "broker bytes/conn", "lo", ("abs", 16384))],
           tls=tls_opt("1.3", "ec", "X25519")),
    ]
    if not QUICK:
        out += [
            Sc("idle-tcp-max", "idle TCP connections × %d (fd limit)" % IDLE_MAX, "idle",
               ["--conns", str(IDLE_MAX)],
               [("bytes_per_conn", "broker bytes/conn", "lo", ("abs", 736))]),
            Sc("idle-tls13-max", "idle TLS 1.3 connections × %d (fd limit)" % IDLE_MAX, "idle",
               ["--conns", str(IDLE_MAX)],
               [("bytes_per_conn", "broker bytes/conn", "lo", ("abs", 16384))],
               tls=tls_opt("1.3", "ec", "X25519")),
        ]
    return out


SCENARIOS = [s for s in pubsub_scenarios() + storm_scenarios() + idle_scenarios()
             if ONLY.search(s.id)]


# ------------------------------------------------------------------- helpers

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def make_certs(d):
    """A P-256 CA and an RSA-2048 CA; server certificates of each kind for
    127.0.0.1/localhost and an ECDSA client certificate. Throw-away keys,
    readable by all (Mosquitto drops to its own user when started as root)."""
    d.mkdir(parents=True, exist_ok=True)
    ossl = "openssl"

    def key(name, kind):
        alg = (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ec"
               else ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        run([ossl, "genpkey"] + alg + ["-out", str(d / (name + ".key"))], check=True)

    (d / "srv.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               "basicConstraints=CA:FALSE\n"
                               "keyUsage=digitalSignature,keyEncipherment\n"
                               "extendedKeyUsage=serverAuth\n")
    (d / "cli.ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                               "extendedKeyUsage=clientAuth\n")
    for kind in ("ec", "rsa"):
        key("ca-" + kind, kind)
        run([ossl, "req", "-x509", "-new", "-key", str(d / ("ca-%s.key" % kind)), "-subj",
             "/CN=moat-bench CA %s" % kind, "-days", "365", "-out", str(d / ("ca-%s.crt" % kind))],
            check=True)

    def issue(name, kind, ca, ext, cn):
        key(name, kind)
        csr = run([ossl, "req", "-new", "-key", str(d / (name + ".key")), "-subj", "/CN=" + cn],
                  check=True).stdout
        subprocess.run([ossl, "x509", "-req", "-CA", str(d / ("ca-%s.crt" % ca)), "-CAkey",
                        str(d / ("ca-%s.key" % ca)), "-CAcreateserial", "-days", "365",
                        "-extfile", str(d / ext), "-out", str(d / (name + ".crt"))],
                       input=csr, text=True, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    issue("server-ec", "ec", "ec", "srv.ext", "localhost")
    issue("server-rsa", "rsa", "rsa", "srv.ext", "localhost")
    issue("client-ec", "ec", "ec", "cli.ext", "moat-bench client")
    (d / "ca-all.crt").write_text((d / "ca-ec.crt").read_text() + (d / "ca-rsa.crt").read_text())
    os.chmod(d, 0o755)
    for p in d.iterdir():
        os.chmod(p, 0o644)
    return d


def crypto_speed():
    """ops/s from `openssl speed` on the broker's CPU: ECDSA P-256 sign and
    verify, ECDH P-256 and X25519, RSA-2048 sign."""
    secs = "1"
    cmd = ["taskset", "-c", BROKER_CPU, "openssl", "speed", "-mr", "-seconds", secs,
           "ecdsap256", "ecdhp256", "ecdhx25519", "rsa2048"]
    r = run(cmd)
    sp = {}
    for line in r.stdout.splitlines():
        f = line.split(":")
        if line.startswith("+F2:") and f[2] == "2048":
            sp["rsa2048_sign"], sp["rsa2048_verify"] = float(f[3]), float(f[4])
        elif line.startswith("+F4:") and f[2] == "256":
            sp["p256_sign"], sp["p256_verify"] = float(f[3]), float(f[4])
        elif line.startswith("+F5:") and f[2] == "256":
            sp["ecdh_p256"] = float(f[3])
        elif line.startswith("+F5:") and f[2] == "253":
            sp["x25519"] = float(f[3])
    return sp


def ceiling(sp, tls):
    """Handshakes per second of one core if the server did nothing but its
    private-key operations: one signature plus one key-exchange derive (plus,
    two-way, two ECDSA verifications: CertificateVerify and the chain)."""
    try:
        t = 1.0 / (sp["p256_sign"] if tls["cert"] == "ec" else sp["rsa2048_sign"])
        t += 1.0 / (sp["ecdh_p256"] if tls["groups"].startswith("P-256") else sp["x25519"])
        if tls["two_way"]:
            t += 2.0 / sp["p256_verify"]
        return 1.0 / t
    except (KeyError, ZeroDivisionError):
        return None


# -------------------------------------------------------------------- brokers

class Broker:
    def __init__(self, kind, work, certs, table):
        self.kind, self.work, self.certs, self.table = kind, work, certs, table
        self.proc = None
        self.n = 0

    def cert_files(self, tls):
        c = self.certs
        return (str(c / ("server-%s.crt" % tls["cert"])), str(c / ("server-%s.key" % tls["cert"])),
                str(c / "ca-all.crt"))

    def moat_config(self, port, tls, data):
        lines = ["# written by bench/run.py"]
        if tls:
            crt, key, ca = self.cert_files(tls)
            lines += ["listener.ssl.bench = 127.0.0.1:%d" % port,
                      "listener.ssl.bench.certfile = " + crt,
                      "listener.ssl.bench.keyfile = " + key,
                      "listener.ssl.bench.cacertfile = " + ca,
                      "listener.ssl.bench.verify = " + (
                          "verify_peer" if tls["two_way"] else "verify_none"),
                      "listener.ssl.bench.fail_if_no_peer_cert = " + (
                          "true" if tls["two_way"] else "false")]
        else:
            lines.append("listener.tcp.bench = 127.0.0.1:%d" % port)
        lines += ["node.data_dir = " + data,
                  "allow_anonymous = true",
                  "log.level = warning",
                  "broker.sys_interval = 0",
                  "node.workers = %d" % (1 if self.table == "core" else 0),
                  "mqtt.max_inflight = 65535",
                  "mqtt.max_mqueue_len = 0"]
        return "\n".join(lines) + "\n"

    def mosq_config(self, port, tls):
        lines = ["# written by bench/run.py", "listener %d 127.0.0.1" % port]
        if tls:
            crt, key, ca = self.cert_files(tls)
            lines += ["certfile " + crt, "keyfile " + key, "cafile " + ca,
                      "require_certificate " + ("true" if tls["two_way"] else "false")]
        lines += ["allow_anonymous true", "persistence false", "log_dest none",
                  "set_tcp_nodelay true", "max_queued_messages 1000000",
                  "max_inflight_messages 0", "max_connections -1", "sys_interval 0"]
        return "\n".join(lines) + "\n"

    def write_config(self, port, tls):
        self.n += 1
        d = self.work / ("%s-%s-%d" % (self.kind, self.table, self.n))
        d.mkdir(parents=True)
        conf = d / ("moat.conf" if self.kind == "moat" else "mosquitto.conf")
        if self.kind == "moat":
            conf.write_text(self.moat_config(port, tls, str(d / "data")))
        else:
            conf.write_text(self.mosq_config(port, tls))
        return d, conf

    def check(self, tls):
        """None when this broker takes the config, else why not."""
        if self.kind != "moat":
            return None
        d, conf = self.write_config(free_port(), tls)
        r = run([MOAT, "--check-config", "-c", str(conf)])
        shutil.rmtree(d, ignore_errors=True)
        if r.returncode == 0:
            return None
        msg = (r.stderr or r.stdout).strip().splitlines()
        # drop the "FILE:LINE: " prefix: the file is a temporary one
        return re.sub(r"^\S+:\d+: ", "", msg[0]) if msg else "rejected (exit %d)" % r.returncode

    def start(self, tls):
        port = free_port()
        d, conf = self.write_config(port, tls)
        exe = [MOAT, "-c", str(conf)] if self.kind == "moat" else [MOSQ, "-c", str(conf)]
        pin = ["taskset", "-c", BROKER_CPU] if self.table == "core" else []
        self.logf = open(d / "broker.log", "wb")
        self.dir = d
        self.proc = subprocess.Popen(pin + exe, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=self.logf, cwd=str(d), preexec_fn=raise_nofile,
                                     start_new_session=True)
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited (%s) at start: %s" % (
                    self.kind, self.proc.returncode, self.log_tail()))
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("%s did not listen on %d" % (self.kind, port))
                time.sleep(0.02)
        self.port = port
        return port

    def log_tail(self):
        try:
            return (self.dir / "broker.log").read_text(errors="replace")[-600:]
        except OSError:
            return ""

    def stop(self):
        if not self.proc:
            return None
        rc = self.proc.poll()
        if rc is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.logf.close()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


def gen_cmd(sc, table, port, pid, certs):
    cmd = [] if table != "core" else ["taskset", "-c", GEN_CPU]
    cmd += [GEN, sc.mode, "--port", str(port), "--broker-pid", str(pid), "--name", sc.id,
            "--duration", str(DUR), "--warmup", str(WARM),
            "--threads", "1" if table == "core" else str(min(NCPU, 4))]
    if sc.tls:
        t = sc.tls
        cmd += ["--tls-version", t["version"], "--groups", t["groups"], "--ca",
                str(certs / "ca-all.crt")]
        if t["verify"]:
            cmd.append("--verify")
        if t["two_way"]:
            cmd += ["--cert", str(certs / "client-ec.crt"), "--key", str(certs / "client-ec.key")]
    if sc.mode == "idle":
        cmd += ["--parallel", "64"]
    return cmd + sc.gen_args()


def run_one(sc, table, broker, certs):
    try:
        port = broker.start(sc.tls)
    except RuntimeError as e:
        return {"ok": False, "first_error": str(e)}
    pid = broker.proc.pid
    cmd = gen_cmd(sc, table, port, pid, certs)
    timeout = 180 + DUR * 4 + (IDLE_MAX / 200 if sc.mode == "idle" else 0)
    try:
        r = run(cmd, timeout=timeout)
        out = r.stdout.strip().splitlines()
        res = json.loads(out[-1]) if out else {"ok": False}
        if not out:
            res["first_error"] = "moat-bench exit %d: %s" % (r.returncode, r.stderr.strip()[-300:])
    except subprocess.TimeoutExpired:
        res = {"ok": False, "first_error": "moat-bench timed out after %ds" % timeout}
    except ValueError:
        res = {"ok": False, "first_error": "moat-bench printed no JSON: %s" % r.stderr[-300:]}
    died = broker.proc.poll()
    if died is not None:
        res["ok"] = False
        res["first_error"] = "%s died during the run (exit %s): %s" % (
            broker.kind, died, broker.log_tail())
    broker.stop()
    res["broker"] = broker.kind
    res["table"] = table
    return res


def tls_floor(sc, certs):
    t = sc.tls
    cmd = ["taskset", "-c", BROKER_CPU, GEN, "tlsfloor", "--name", sc.id,
           "--tls-version", t["version"], "--groups", t["groups"],
           "--server-cert", str(certs / ("server-%s.crt" % t["cert"])),
           "--server-key", str(certs / ("server-%s.key" % t["cert"])),
           "--duration", "0.5" if QUICK else "1"]
    if t["two_way"]:
        cmd += ["--cert", str(certs / "client-ec.crt"), "--key", str(certs / "client-ec.key"),
                "--ca", str(certs / "ca-all.crt")]
    r = run(cmd)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


# --------------------------------------------------------------------- report

def med(runs, key):
    vals = [r[key] for r in runs if r.get("ok") and isinstance(r.get(key), (int, float))]
    return (statistics.median(vals), vals) if vals else (None, [])


def fmt(v, key=""):
    if v is None:
        return "—"
    if "pct" in key or key.startswith("frac"):
        return "%.0f %%" % v
    if key == "bytes_per_conn":
        return "%.0f B" % v if v < 10000 else "%.1f KB" % (v / 1024)
    a = abs(v)
    if a >= 1e6:
        return "%.2fM" % (v / 1e6)
    if a >= 1e4:
        return "%.0fk" % (v / 1e3)
    if a >= 1e3:
        return "%.2fk" % (v / 1e3)
    if a >= 100:
        return "%.0f" % v
    return "%.1f" % v


def target_text(target, better, key):
    if not target:
        return ""
    if target[0] == "ratio":
        return ("≥ %gx" if better == "hi" else "≤ %gx") % target[1]
    if target[0] == "abs":
        return ("≥ %s" if better == "hi" else "≤ %s") % fmt(target[1], key)
    return "≤ Mosquitto" if better == "lo" else "≥ Mosquitto"


def target_met(target, better, m, q):
    if not target or m is None:
        return ""
    if target[0] == "ratio":
        if q is None or q == 0:
            return ""
        ok = m / q >= target[1] if better == "hi" else m / q <= target[1]
    elif target[0] == "abs":
        ok = m >= target[1] if better == "hi" else m <= target[1]
    else:
        if q is None:
            return ""
        ok = m <= q if better == "lo" else m >= q
    return "yes" if ok else "**no**"


def notes_for(runs_by_broker, table):
    notes = []
    for b in BROKERS:
        runs = runs_by_broker.get(b, [])
        bad = [r for r in runs if not r.get("ok")]
        if bad:
            notes.append("%s: %d/%d runs failed (%s)" % (
                b, len(bad), len(runs), (bad[0].get("first_error") or "?")[:160]))
        ok = [r for r in runs if r.get("ok")]
        if not ok:
            continue
        g = statistics.median([r.get("gen_cpu_pct") or r.get("connect_gen_cpu_pct") or 0
                               for r in ok])
        bc = statistics.median([r.get("broker_cpu_pct") or r.get("connect_broker_cpu_pct") or 0
                                for r in ok])
        threads = ok[0].get("threads", 1)
        if table == "core" and g >= 90 * threads:
            notes.append("%s: generator-bound (generator %.0f %% CPU, broker %.0f %%)"
                         % (b, g, bc))
        elif table == "all" and g + bc >= 90 * NCPU:
            notes.append("%s: machine-bound (generator %.0f %% + broker %.0f %% of %d CPUs)"
                         % (b, g, bc, NCPU))
    return notes


def build_table(table, scs, results, skips, floors, speed):
    rows = ["| scenario | figure | moat | Mosquitto | moat/Mosq | target | met | notes |",
            "|---|---|---|---|---|---|---|---|"]
    for sc in scs:
        if table not in sc.tables:
            continue
        rb = results.get((table, sc.id), {})
        notes = notes_for(rb, table)
        if skips.get(sc.id):
            notes.insert(0, "moat skipped (TLS listener not accepted)")
        if sc.tls:
            neg = []
            for b in BROKERS:
                info = next((r.get("tls_info") for r in rb.get(b, []) if r.get("tls_info")), None)
                if info:
                    neg.append("%s %s %s %s" % (b, info.get("version"), info.get("cipher"),
                                                info.get("group")))
            if neg:
                notes.append("negotiated: " + ", ".join(neg))
        figs = list(sc.figs)
        if sc.mode == "storm" and sc.tls:
            ceil = ceiling(speed, sc.tls)
            fls = [f["server_us_per_hs"] for f in floors.get(sc.id, [])
                   if f.get("ok") and f.get("server_us_per_hs")]
            fl_us = statistics.median(fls) if fls else None
            for b in BROKERS:
                for r in rb.get(b, []):
                    if r.get("ok") and r.get("conns_per_broker_cpu_s"):
                        if ceil:
                            r["frac_ceiling_pct"] = 100.0 * r["conns_per_broker_cpu_s"] / ceil
                        if fl_us and r.get("broker_us_per_conn"):
                            r["frac_floor_pct"] = 100.0 * fl_us / r["broker_us_per_conn"]
            figs += [("frac_floor_pct", "share of OpenSSL's in-process floor (%s µs)" % (
                         fmt(fl_us) if fl_us else "?"), "hi", None),
                     ("frac_ceiling_pct", "share of crypto ceiling (%s/s)" % fmt(ceil), "hi",
                      None)]
        first = True
        for key, label, better, target in figs:
            m, mv = med(rb.get("moat", []), key)
            q, qv = med(rb.get("mosquitto", []), key)
            ratio = "%.2fx" % (m / q) if m is not None and q else "—"
            cells = [sc.title if first else "", label,
                     fmt(m, key), fmt(q, key), ratio, target_text(target, better, key),
                     target_met(target, better, m, q),
                     "; ".join(notes) if first else ""]
            rows.append("| " + " | ".join(cells) + " |")
            first = False
    return "\n".join(rows)


def runs_table(scs, results):
    rows = ["| table | scenario | broker | runs (primary figure) | broker CPU % | generator CPU % |"
            " checks |", "|---|---|---|---|---|---|---|"]
    for (table, sid), rb in results.items():
        sc = next(s for s in scs if s.id == sid)
        key = sc.figs[0][0]
        for b in BROKERS:
            runs = rb.get(b, [])
            if not runs:
                continue
            vals = ", ".join(fmt(r.get(key), key) if r.get("ok") else "FAIL" for r in runs)
            bc = ", ".join("%.0f" % (r.get("broker_cpu_pct") or r.get("connect_broker_cpu_pct")
                                     or 0) for r in runs)
            gc = ", ".join("%.0f" % (r.get("gen_cpu_pct") or r.get("connect_gen_cpu_pct") or 0)
                           for r in runs)
            chk = "ok" if all(r.get("ok") for r in runs) else "FAILED"
            rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (table, sid, b, vals, bc, gc, chk))
    return "\n".join(rows)


def machine():
    info = {}
    r = run(["lscpu"])
    for line in r.stdout.splitlines():
        k, _, v = line.partition(":")
        info[k.strip()] = v.strip()
    git = run(["git", "-C", str(REPO), "describe", "--always", "--dirty"]).stdout.strip()
    mv = run([MOSQ, "-h"]).stdout.splitlines()
    return {
        "cpu": info.get("Model name", platform.processor()),
        "cpus": NCPU,
        "hypervisor": info.get("Hypervisor vendor", "none"),
        "kernel": platform.release(),
        "openssl": run(["openssl", "version"]).stdout.strip(),
        "mosquitto": mv[0] if mv else "?",
        "moat": git or "?",
        "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "nofile": HARD_NOFILE,
        "load": os.getloadavg(),
    }


def main():
    global MOAT, GEN
    for exe in (MOAT, GEN, MOSQ):
        if not os.access(exe, os.X_OK):
            sys.exit("bench: %s not found (build first: make build; mosquitto: "
                     "scripts/deps.sh bench)" % exe)
    if not shutil.which("taskset"):
        sys.exit("bench: taskset not found (util-linux)")
    raise_nofile()
    started = time.monotonic()
    when = datetime.datetime.now()
    m = machine()
    log("==> bench: %s, %d CPUs, %s, %s; %d repetition(s), %s s per figure%s" % (
        m["cpu"], NCPU, m["openssl"], m["mosquitto"], REPS, DUR, " (quick)" if QUICK else ""))
    if m["load"][0] > 0.5:
        log("    note: load average %.2f before the run: other work shares this machine"
            % m["load"][0])
    work = Path(tempfile.mkdtemp(prefix="moat-bench-"))
    os.chmod(work, 0o755)
    try:
        # Run private copies: a rebuild of build/ during the run must not
        # change the binaries half-way.
        (work / "bin").mkdir()
        MOAT = shutil.copy2(MOAT, work / "bin" / "moat")
        GEN = shutil.copy2(GEN, work / "bin" / "moat-bench")
        certs = make_certs(work / "certs")
        log("==> openssl speed on CPU %s" % BROKER_CPU)
        speed = crypto_speed()
        floors = {}  # scenario id -> tlsfloor results, one per repetition
        results, skips = {}, {}
        jobs = [(t, sc) for t in ("core", "all") if t in TABLES for sc in SCENARIOS
                if t in sc.tables]
        total = len(jobs) * REPS * len(BROKERS)
        done = 0
        for table, sc in jobs:
            brokers = {b: Broker(b, work, certs, table) for b in BROKERS}
            if sc.tls and sc.id not in skips:
                why = brokers["moat"].check(sc.tls)
                if why:
                    skips[sc.id] = why
            rb = results.setdefault((table, sc.id), {})
            for rep in range(REPS):
                if sc.mode == "storm" and sc.tls and table == "core":
                    # OpenSSL's own floor, measured next to the runs it is
                    # compared with (the machine's load changes over time).
                    fl = tls_floor(sc, certs)
                    if fl:
                        floors.setdefault(sc.id, []).append(fl)
                for b in BROKERS:
                    done += 1
                    if b == "moat" and skips.get(sc.id):
                        continue
                    res = run_one(sc, table, brokers[b], certs)
                    res["rep"] = rep
                    rb.setdefault(b, []).append(res)
                    key = sc.figs[0][0]
                    log("    [%d/%d] %-5s %-26s %-9s rep %d: %s %s%s" % (
                        done, total, table, sc.id, b, rep + 1, fmt(res.get(key), key),
                        sc.figs[0][1], "" if res.get("ok") else
                        "  FAILED: " + str(res.get("first_error"))[:200]))
        elapsed = time.monotonic() - started
        report = render(m, when, speed, floors, results, skips, elapsed)
        print(report)
        OUT.mkdir(parents=True, exist_ok=True)
        stem = when.strftime("%Y-%m-%d") + ("-quick" if QUICK else "")
        (OUT / (stem + ".md")).write_text(report)
        with open(OUT / (stem + ".jsonl"), "w") as f:
            for (table, sid), rb in results.items():
                for b, runs in rb.items():
                    for r in runs:
                        f.write(json.dumps(r, sort_keys=True) + "\n")
            for sid, fls in floors.items():
                for fl in fls:
                    f.write(json.dumps(fl, sort_keys=True) + "\n")
            f.write(json.dumps({"openssl_speed": speed, "machine": m}) + "\n")
        log("==> wrote %s and %s (%.0f s)" % (OUT / (stem + ".md"), OUT / (stem + ".jsonl"),
                                                elapsed))
        failed = sum(1 for rb in results.values() for runs in rb.values() for r in runs
                     if not r.get("ok"))
        if failed:
            log("==> %d run(s) failed their checks; see the notes column" % failed)
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def render(m, when, speed, floors, results, skips, elapsed):
    out = ["# moat vs Mosquitto — %s" % when.strftime("%Y-%m-%d %H:%M"), ""]
    out.append("Machine: %s, %d CPUs (hypervisor: %s), %.1f GB RAM, kernel %s, %s, %s, "
               "open-file limit %d. moat %s." % (
                   m["cpu"], m["cpus"], m["hypervisor"], m["mem_gb"], m["kernel"], m["openssl"],
                   m["mosquitto"], m["nofile"], m["moat"]))
    out.append("")
    out.append("Run: %d repetition(s) per broker, interleaved moat, Mosquitto, moat, ...; "
               "%.1f s measured after %.1f s warm-up; each broker started fresh for every "
               "measurement; load average at start %.2f; %.0f s in all.%s" % (
                   REPS, DUR, WARM, m["load"][0], elapsed,
                   " **Quick run** (BENCH_QUICK=1): indicative only." if QUICK else ""))
    out.append("")
    out.append("Figures are medians of the runs that passed their checks (no loss, no "
               "duplicates, order kept, counts right). Throughput runs are closed-loop: each "
               "publisher keeps at most a window of messages not yet delivered. Handshake "
               "rows are per broker CPU second, because the generator's client side of a "
               "handshake costs more than the server's, so one generator core cannot saturate "
               "a fast broker. The generator does not verify the server chain in storms; the "
               "broker's work is the same either way.")
    if speed:
        out.append("")
        out.append("Crypto on the broker's CPU (`openssl speed`): ECDSA P-256 sign %s/s, verify "
                   "%s/s; ECDH P-256 %s/s; X25519 %s/s; RSA-2048 sign %s/s. The ceiling is one "
                   "signature + one derive per handshake (+ 2 verifications two-way). The "
                   "floor is a full handshake's server side inside OpenSSL over a BIO pair "
                   "(`moat-bench tlsfloor`, no tickets, thread CPU time; median of one measurement "
                   "before each repetition)." % tuple(
                       fmt(speed.get(k)) for k in ("p256_sign", "p256_verify", "ecdh_p256",
                                                   "x25519", "rsa2048_sign")))
    if skips:
        out.append("")
        out.append("moat skipped %d TLS scenario(s): %s" % (
            len(skips), sorted(set(skips.values()))[0]))
    scs = SCENARIOS
    if "core" in TABLES:
        out += ["", "## Per core: broker on CPU %s, generator on CPU %s, moat node.workers = 1"
                % (BROKER_CPU, GEN_CPU), "",
                build_table("core", scs, results, skips, floors, speed)]
    if "all" in TABLES:
        out += ["", "## All cores: nothing pinned, moat node.workers = 0, generator %d threads"
                % min(NCPU, 4), "",
                "On a machine with few CPUs the generator competes with the broker here.", "",
                build_table("all", scs, results, skips, floors, speed)]
    out += ["", "## Every run", "", runs_table(scs, results), ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
