# SPDX-License-Identifier: Apache-2.0
"""The dashboard's HTTP API over http and https, with curl and
python3-requests: the first administrator (generated password printed once,
or the configured one), logins and tokens, throttling, every endpoint
refusing requests without a login, listeners with live connection counts
(mosquitto_sub over TLS), clients (filters, paging, kick), statistics,
Prometheus metrics, and the HTTP server's limits."""

import os
import re
import socket
import stat
import subprocess
import time

import pytest
import requests

from conftest import uniq
from tlsutil import free_ports, mosquitto, running_broker, ssl_listener, wait_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def dash_lines(pki, http, https, ssl_port, extra=()):
    return [
        "dashboard.listener.http = 127.0.0.1:%d" % http,
        "dashboard.listener.https = 127.0.0.1:%d" % https,
        "dashboard.listener.https.certfile = %s" % pki("server-fullchain.pem"),
        "dashboard.listener.https.keyfile = %s" % pki("server.key"),
    ] + ssl_listener("mqtts", ssl_port, pki) + list(extra)


@pytest.fixture(scope="module")
def db(tmp_path_factory, pki):
    http, https, ssl_port, tcp = free_ports(4)
    with running_broker(tmp_path_factory.mktemp("dash"), dash_lines(pki, http, https, ssl_port),
                        {"http": http, "https": https, "mqtts": ssl_port}, tcp) as b:
        b.pki = pki
        m = re.search(r"administrator 'admin' created with the generated password (\S+)", b.log)
        assert m, b.log_tail()
        b.password = m.group(1)
        b.url = "http://127.0.0.1:%d" % http
        b.surl = "https://localhost:%d" % https
        yield b


def login(b, password=None, url=None, **kw):
    r = requests.post((url or b.url) + "/api/v1/login",
                      json={"username": "admin", "password": password or b.password},
                      timeout=10, **kw)
    return r


def token(b):
    r = login(b)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def auth(b):
    return {"Authorization": "Bearer " + token(b)}


ROUTES = [("GET", "/api/v1/listeners"), ("GET", "/api/v1/stats"), ("GET", "/api/v1/clients"),
          ("DELETE", "/api/v1/clients/x"), ("GET", "/metrics"), ("POST", "/api/v1/logout")]


@pytest.mark.parametrize("method,path", ROUTES)
def test_login_required(db, method, path):
    r = requests.request(method, db.url + path, timeout=10)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.request(method, db.url + path, timeout=10,
                         headers={"Authorization": "Bearer " + "0" * 64})
    assert r.status_code == 401


def test_generated_password_printed_once_and_stored_hashed(db):
    assert db.log.count("generated password") == 1
    path = os.path.join(db.data_dir, "dashboard-admins")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path).read()
    assert db.password not in text and text.startswith("admin:pbkdf2-sha256:")


def test_login_token_and_cookie(db):
    r = login(db)
    assert r.status_code == 200
    j = r.json()
    assert re.fullmatch(r"[0-9a-f]{64}", j["token"]) and j["username"] == "admin"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    # the cookie works like the token (what the browser UI uses)
    s = requests.Session()
    assert s.post(db.url + "/api/v1/login", json={"username": "admin", "password": db.password},
                  timeout=10).status_code == 200
    assert s.get(db.url + "/api/v1/stats", timeout=10).status_code == 200


def test_https_login_cookie_is_secure(db):
    r = login(db, url=db.surl, verify=db.pki("ca.pem"))
    assert r.status_code == 200
    assert "Secure" in r.headers["Set-Cookie"]
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    h = {"Authorization": "Bearer " + r.json()["token"]}
    assert requests.get(db.surl + "/api/v1/stats", headers=h, verify=db.pki("ca.pem"),
                        timeout=10).status_code == 200


def test_https_with_curl(db):
    tok = token(db)
    out = subprocess.run(["curl", "-s", "--cacert", db.pki("ca.pem"), "-H",
                          "Authorization: Bearer " + tok, db.surl + "/api/v1/listeners"],
                         capture_output=True, text=True, timeout=20)
    assert '"id":"https:dashboard"' in out.stdout, out.stdout + out.stderr


def test_wrong_password_and_throttling(broker_factory, pki):
    """Five failures from one address lock it out for a minute (429), even
    for the right password; other checks pass meanwhile."""
    http, https, ssl_port = free_ports(3)
    b = broker_factory(start=False)
    b.start(dash_lines(pki, http, https, ssl_port, ["dashboard.default_user.password = s3cret-pw"]))
    wait_port(http)
    url = "http://127.0.0.1:%d" % http
    assert "generated password" not in b.log
    for _ in range(5):
        r = requests.post(url + "/api/v1/login", json={"username": "admin", "password": "nope"},
                          timeout=10)
        assert r.status_code == 401 and r.json()["code"] == "bad_credentials"
    r = requests.post(url + "/api/v1/login", json={"username": "admin", "password": "s3cret-pw"},
                      timeout=10)
    assert r.status_code == 429 and r.headers["Retry-After"] == "60"
    b.wait_log(r"dashboard: login refused: peer=127\.0\.0\.1:\d+ user=admin: too many failures")
    for bad in (b"not json", b'{"username": 1}', b"{}"):
        r = requests.post(url + "/api/v1/login", data=bad, timeout=10)
        assert r.status_code in (400, 429)


def test_configured_password_survives_restart(broker_factory, pki):
    http, https, ssl_port = free_ports(3)
    b = broker_factory(start=False)
    b.start(dash_lines(pki, http, https, ssl_port, ["dashboard.default_user.password = first-pw"]))
    wait_port(http)
    url = "http://127.0.0.1:%d" % http
    b.restart()
    wait_port(http)
    ok = requests.post(url + "/api/v1/login", json={"username": "admin", "password": "first-pw"},
                       timeout=10)
    assert ok.status_code == 200
    # tokens are per run: a restart logs everybody out
    tok = ok.json()["token"]
    b.restart()
    wait_port(http)
    assert requests.get(url + "/api/v1/stats", headers={"Authorization": "Bearer " + tok},
                        timeout=10).status_code == 401


def test_logout(db):
    h = auth(db)
    assert requests.get(db.url + "/api/v1/stats", headers=h, timeout=10).status_code == 200
    assert requests.post(db.url + "/api/v1/logout", headers=h, timeout=10).status_code == 204
    assert requests.get(db.url + "/api/v1/stats", headers=h, timeout=10).status_code == 401


def test_listeners_count_tls_clients(db):
    h = auth(db)

    def mqtts():
        r = requests.get(db.url + "/api/v1/listeners", headers=h, timeout=10).json()["data"]
        return {x["id"]: x for x in r}["ssl:mqtts"]
    before = mqtts()
    assert before["type"] == "ssl" and before["running"]
    assert before["tls"]["verify"] == "one-way"
    assert before["tls"]["subject"] == "CN=localhost,O=moat test"
    assert 700 < before["tls"]["days_left"] < 900
    t = uniq("dash/")
    p = subprocess.Popen(["mosquitto_sub", "-h", "localhost", "-p", str(db.tls_ports["mqtts"]),
                          "--cafile", db.pki("ca.pem"), "-t", t, "-i", uniq("dashsub")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while mqtts()["current_connections"] != before["current_connections"] + 1:
            assert time.monotonic() < deadline, "the count did not go up"
            time.sleep(0.1)
    finally:
        p.terminate()
        p.wait(10)


def test_clients_filter_page_and_kick(db, raw_clients):
    h = auth(db)
    tag = uniq("dk")
    cs = []
    for i in range(5):
        c = raw_clients(db, version=5)
        c.connect("%s-%d" % (tag, i))
        cs.append(c)
    r = requests.get(db.url + "/api/v1/clients", params={"clientid": tag, "limit": 2, "page": 2},
                     headers=h, timeout=10).json()
    assert r["meta"] == {"page": 2, "limit": 2, "count": 5}
    assert len(r["data"]) == 2
    one = r["data"][0]
    assert one["clientid"].startswith(tag) and one["listener"] == "tcp:default"
    assert one["proto_ver"] == 5 and re.fullmatch(r"127\.0\.0\.1:\d+", one["peer"])
    victim = "%s-3" % tag
    r = requests.delete(db.url + "/api/v1/clients/" + victim, headers=h, timeout=10)
    assert r.status_code == 204
    d = cs[3].expect(0xE0 >> 4)  # DISCONNECT
    assert d.rc == 0x98
    db.wait_log(r"client %s kicked by admin" % victim)
    r = requests.delete(db.url + "/api/v1/clients/" + victim, headers=h, timeout=10)
    assert r.status_code == 404


def test_stats_and_metrics(db, raw_clients):
    h = auth(db)
    c = raw_clients(db, version=4)
    c.connect(uniq("ms"))
    s = requests.get(db.url + "/api/v1/stats", headers=h, timeout=10).json()
    assert s["connections"] >= 1 and s["version"] and s["uptime_seconds"] > 0
    m = requests.get(db.url + "/metrics", headers=h, timeout=10)
    assert m.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = m.text
    assert re.search(r"^moat_connections \d+$", text, re.M)
    assert re.search(r'^moat_listener_connections\{listener="ssl:mqtts"\} \d+$', text, re.M)
    assert re.search(r'^moat_tls_handshakes_total\{result="ok",reason=""\} \d+$', text, re.M)
    assert re.search(r'^moat_tls_certificate_expiry_seconds\{listener="https:dashboard"\} \d+$',
                     text, re.M)
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(r"[a-z_]+(\{[^}]*\})? -?\d+", line), line


def raw_http(port, data, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def test_http_limits_and_errors(db):
    port = db.tls_ports["http"]
    assert raw_http(port, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    big = b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"
    assert raw_http(port, big).startswith(b"HTTP/1.1 413 ")
    long_head = b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000 + b"\r\n\r\n"
    assert raw_http(port, long_head).startswith(b"HTTP/1.1 431 ")
    r = requests.get(db.url + "/nothing-here", headers=auth(db), timeout=10)
    assert r.status_code == 404


def test_keep_alive_several_requests(db):
    """Two pipelined requests on one connection, answered in order."""
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    out = raw_http(db.tls_ports["http"], req + req + b"GET / HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200 OK") == 3


def test_dashboard_https_reloads_its_certificate(db):
    """The https listener is a TLS listener like ssl: SIGHUP keeps it serving."""
    db.signal_hup() if hasattr(db, "signal_hup") else os.kill(db.proc.pid, 1)
    time.sleep(0.5)
    assert login(db, url=db.surl, verify=db.pki("ca.pem")).status_code == 200
