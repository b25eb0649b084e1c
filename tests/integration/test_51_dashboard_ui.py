# SPDX-License-Identifier: Apache-2.0
"""The dashboard's web interface, built into the binary:

- every file of src/dashboard/ui/ is served at /ui/NAME byte for byte, with
  its content type, the UI's Content-Security-Policy and the usual security
  headers; / is index.html; no login is needed for them; other methods,
  unknown files and path tricks are refused; index.html loads only
  same-origin files and has no inline script or style;
- the interface in headless Chromium over https (tests/node/dashboard_ui.js):
  login, the overview charts, the listeners page following a TLS client
  (mosquitto_sub) as it connects, clients searched, paged and kicked, the
  certificates page (the real API, then a mocked one for the chains and the
  upload form's messages), an upload to the real certificates API (the key
  of another certificate refused under its field, then the EC P-256 chain
  accepted and shown), subscriptions (a shared group among them), retained
  messages (one deleted through the dialog), an API key made and deleted on
  the settings page, the session ending under the page, logout.
  Screenshots are kept in build/test-artifacts/dashboard-*.png."""

import os
import re
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import REPO_ROOT, uniq
from nodeutil import _LineProc, NODE_DIR, need_chromium, node_bin, spki_hash
from test_50_dashboard_api import dash_lines, raw_http
from tlsutil import free_ports, running_broker

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

UI_DIR = REPO_ROOT / "src" / "dashboard" / "ui"
DASHBOARD_UI = NODE_DIR / "dashboard_ui.js"
ARTIFACTS = Path(os.environ.get("MOAT_ARTIFACT_DIR") or REPO_ROOT / "build" / "test-artifacts")

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


@pytest.fixture(scope="module")
def ui(tmp_path_factory, pki):
    http, https, ssl_port, tcp = free_ports(4)
    with running_broker(tmp_path_factory.mktemp("dashui"), dash_lines(pki, http, https, ssl_port),
                        {"http": http, "https": https, "mqtts": ssl_port}, tcp) as b:
        b.pki = pki
        m = re.search(r"administrator 'admin' created with the generated password (\S+)", b.log)
        assert m, b.log_tail()
        b.password = m.group(1)
        b.url = "http://127.0.0.1:%d" % http
        # "localhost": the name in the test server certificate
        b.surl = "https://localhost:%d" % https
        yield b


def ui_files():
    return sorted(p for p in UI_DIR.iterdir() if p.is_file() and not p.name.startswith("."))


# ------------------------------------------------------------ assets over HTTP

def test_every_asset_served_with_its_type(ui):
    files = ui_files()
    assert {p.name for p in files} >= {"index.html", "app.js", "app.css"}
    for p in files:
        r = requests.get(ui.url + "/ui/" + p.name, timeout=10)
        assert r.status_code == 200, p.name
        assert r.headers["Content-Type"] == TYPES[p.suffix], p.name
        assert r.content == p.read_bytes(), p.name
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp


def test_index_at_root_over_http_and_https(ui):
    index = (UI_DIR / "index.html").read_bytes()
    for url, kw in ((ui.url, {}), (ui.surl, {"verify": ui.pki("ca.pem")})):
        for path in ("/", "/index.html"):
            r = requests.get(url + path, timeout=10, **kw)
            assert r.status_code == 200 and r.content == index
            assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    r = requests.head(ui.url + "/", timeout=10)
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["Content-Length"]) == len(index)


def test_assets_refusals(ui):
    # raw requests: a client library would tidy "/ui/../" away
    for path in ("/ui/nope.js", "/ui/", "/ui", "/ui/../ui/app.js", "/ui/./app.js", "/ui/app.js/",
                 "/UI/app.js", "/ui/%2e%2e/ui/app.js", "/ui//app.js", "/favicon.ico",
                 "/src/dashboard/ui/app.js", "/ui/app.js%00"):
        out = raw_http(ui.tls_ports["http"], ("GET %s HTTP/1.1\r\nHost: x\r\n"
                                             "Connection: close\r\n\r\n" % path).encode())
        assert out.startswith(b"HTTP/1.1 404 "), (path, out[:200])
    for m in ("POST", "PUT", "DELETE"):
        r = requests.request(m, ui.url + "/ui/app.js", timeout=10)
        assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    # the API keeps needing a login
    assert requests.get(ui.url + "/api/v1/stats", timeout=10).status_code == 401
    assert requests.get(ui.url + "/metrics", timeout=10).status_code == 401


def test_index_has_no_inline_code_nor_foreign_urls():
    html = (UI_DIR / "index.html").read_text()
    for m in re.finditer(r"<script\b[^>]*>(.*?)</script>", html, re.S):
        assert "src=" in m.group(0) and not m.group(1).strip(), m.group(0)
    assert "<style" not in html and not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    for p in ui_files():
        if p.suffix in (".html", ".js", ".css", ".svg"):
            text = p.read_text()
            assert "SPDX-License-Identifier: Apache-2.0" in "\n".join(text.splitlines()[:3]), p.name
            assert not re.search(r"(?:https?:)?//(?!www\.w3\.org/2000/svg)[a-z0-9.-]+\.[a-z]{2,}/",
                                 text), "%s refers to another site" % p.name


# ------------------------------------------------------------ in Chromium

class DashboardUi(_LineProc):
    what = "dashboard_ui.js"


def connect_tls_sub(ui, client_id):
    return subprocess.Popen(["mosquitto_sub", "-h", "localhost", "-p", str(ui.tls_ports["mqtts"]),
                             "--cafile", ui.pki("ca.pem"), "-t", uniq("ui/"), "-i", client_id],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_dashboard_in_chromium(ui, raw_clients):
    need_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("dashboard-*.png"):
        old.unlink()
    tag = uniq("uic") + "c"  # no other client id has it as a substring
    victim = "%s-kick" % tag
    raws = {}
    for i in range(10):
        c = raw_clients(ui, version=4)
        c.connect("%s-%02d" % (tag, i), keepalive=0)
        raws[i] = c
    kicked = raw_clients(ui, version=5)
    kicked.connect(victim, keepalive=0)
    raws[0].subscribe([(tag + "/a/+", 1)])
    raws[1].subscribe([("$share/grp/%s/b" % tag, 0)])
    ret = uniq("uir")
    raws[2].publish(ret + "/one", b"hello retained", qos=1, retain=True)
    raws[2].publish(ret + "/two", bytes(range(256)), qos=1, retain=True)

    run = DashboardUi([node_bin(), str(DASHBOARD_UI), "--url", ui.surl, "--password", ui.password,
                       "--listener", "ssl:mqtts", "--clients", tag, "--kick", victim,
                       "--expect-clients", "12", "--spki", spki_hash(ui.pki("server.pem")),
                       "--screenshots", str(ARTIFACTS), "--timeout", "120000",
                       "--retained", ret, "--good-cert", ui.pki("server-ec.pem"),
                       "--good-chain", ui.pki("int.pem"), "--good-key", ui.pki("server-ec.key"),
                       "--bad-key", ui.pki("server.key")],
                      120, NODE_DIR)
    sub = None
    try:
        ev = run.wait_event("listeners", stop_kinds=("result",))
        assert ev["cells"][0] == "mqtts"
        # the page shows the listener; a TLS client connects while it watches
        sub = connect_tls_sub(ui, "%s-tls" % tag)
        up = run.wait_event("count_up", stop_kinds=("result",))
        assert up["count"] >= ev["count"] + 1
        got = run.wait_event("clients", stop_kinds=("result",))
        assert got == {"event": "clients", "count": 12, "pages": 2}
        run.wait_event("kicked", stop_kinds=("result",))
        d = kicked.expect(0xE0 >> 4)  # DISCONNECT
        assert d.rc == 0x98  # administrative action
        ui.wait_log(r"client %s kicked by admin" % victim)
        rc, events = run.wait()
    finally:
        run.stop()
        if sub is not None:
            sub.terminate()
            sub.wait(10)
    result = events.first("result")
    assert rc == 0 and result and result["ok"], str(events)
    for kind in ("certificates", "certificates_upload", "certificates_mock", "subscriptions",
                 "retained_deleted", "api_key_deleted", "relogin", "logged_out"):
        assert events.first(kind) is not None, kind
    assert events.first("subscriptions")["count"] >= 2
    ui.wait_log(r"TLS certificate upload by admin refused")
    ui.wait_log(r"TLS certificate uploaded by admin")
    ui.wait_log(r"retained message on %s/one deleted by admin" % ret)
    # the API key worked while it existed: it is gone now
    key = events.first("api_key")
    basic = requests.auth.HTTPBasicAuth(key["id"], key["secret"])
    assert requests.get(ui.url + "/api/v1/stats", auth=basic, timeout=10).status_code == 401
    r = requests.post(ui.url + "/api/v1/login", json={"username": "admin",
                                                       "password": ui.password}, timeout=10)
    left = requests.get(ui.url + "/api/v1/retained", params={"topic": ret},
                        headers={"Authorization": "Bearer " + r.json()["token"]},
                        timeout=10).json()
    assert [m["topic"] for m in left["data"]] == [ret + "/two"]
    names = {Path(s).name for s in result["screenshots"]}
    for n in ("login", "overview", "listeners", "clients", "clients-kick", "certificates",
              "certificates-mock", "certificates-upload-error", "certificates-real-error",
              "certificates-real-uploaded", "subscriptions", "retained", "settings"):
        assert "dashboard-%s.png" % n in names
        assert (ARTIFACTS / ("dashboard-%s.png" % n)).stat().st_size > 5000
    assert "dashboard: login failed: peer=127.0.0.1" in ui.log  # the wrong password tried first
