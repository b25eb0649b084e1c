# SPDX-License-Identifier: Apache-2.0
"""Real servers for the authentication backends' tests: a private
redis-server per module, and a small HTTP(S) authentication service whose
users and behaviour the test controls. Each is stopped by the PID (or the
thread) it started; nothing else is touched."""

import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port, wait_until

REDIS_SERVER = "/usr/bin/redis-server"


# ------------------------------------------------------------------ Redis

def _resp_encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class _RespReader:
    def __init__(self, sock):
        self.f = sock.makefile("rb")

    def read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError("redis error: " + rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("bad RESP line %r" % line)


class RedisServer:
    """redis-server on 127.0.0.1 and a free random port, without persistence,
    in dir. cmd(...) runs one command over a fresh connection."""

    def __init__(self, dir_, password=None):
        self.dir = str(dir_)
        os.makedirs(self.dir, exist_ok=True)
        self.password = password
        self.port = free_port()
        self.proc = None

    def start(self):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir]
        if self.password:
            args += ["--requirepass", self.password]
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True)
        log.close()
        wait_until(self._answers, timeout=10, what="redis-server on port %d" % self.port)
        return self

    def _answers(self):
        try:
            return self.cmd("PING") == "PONG"
        except (OSError, ConnectionError):
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def cmd(self, *args):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            r = _RespReader(s)
            if self.password:
                s.sendall(_resp_encode(["AUTH", self.password]))
                r.read()
            s.sendall(_resp_encode(list(args)))
            return r.read()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.skip("redis-server not installed (scripts/deps.sh test)")
    r = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield r
    r.stop()


# ------------------------------------------------------------------ HTTP

class AuthService:
    """An HTTP authentication service in a thread of the test process.

    POST/GET /auth: the parameters (form, JSON or query) are recorded in
    .requests; users maps username -> password; mode changes the answer:
      "status"  200 for a right password, 401 for a wrong one, 404 unknown;
      "ignore"  200 "ignore" for unknown users;
      "json"    always 200 with {"result": ..., "is_superuser": ...};
      "500"     HTTP 500;  "slow"  sleeps delay seconds first.
    /super: 200 when the username is in superusers, else 403."""

    def __init__(self, tls=None, port=0):
        self.users = {}
        self.superusers = set()
        self.mode = "status"
        self.delay = 0.0
        self.requests = []
        self.lock = threading.Lock()
        svc = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                self._serve(b"")

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self._serve(self.rfile.read(n))

            def _serve(self, body):
                url = urllib.parse.urlsplit(self.path)
                ctype = self.headers.get("Content-Type") or ""
                if self.command == "GET":
                    params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                elif ctype.startswith("application/json"):
                    params = json.loads(body)
                else:
                    params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
                with svc.lock:
                    svc.requests.append({"method": self.command, "path": url.path,
                                         "ctype": ctype, "body": body, "params": params})
                status, out = svc.answer(url.path, params)
                if svc.mode == "slow":
                    time.sleep(svc.delay)
                self.send_response(status)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path="/auth"):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.port, path)

    def answer(self, path, p):
        user, pw = p.get("username"), p.get("password")
        if path == "/super":
            return (200, b"") if user in self.superusers else (403, b"")
        if self.mode == "500":
            return 500, b"oops"
        known = user in self.users
        right = known and self.users[user] == pw
        if self.mode == "json":
            res = "allow" if right else ("deny" if known else "ignore")
            return 200, json.dumps({"result": res,
                                    "is_superuser": user in self.superusers}).encode()
        if not known:
            return (200, b"ignore") if self.mode == "ignore" else (404, b"")
        return (200, b"ok") if right else (401, b"")

    def last(self):
        with self.lock:
            return self.requests[-1]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def auth_service():
    s = AuthService()
    yield s
    s.stop()
