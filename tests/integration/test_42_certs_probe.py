# SPDX-License-Identifier: Apache-2.0
"""`moat certs probe HOST:PORT`: against real moat listeners (ssl and wss,
one-way and two-way, a broken chain, a self-signed certificate, a wrong host
name, a client certificate required and missing), a small Python HTTPS
server (an expired certificate, a leaf without its intermediate, --https),
openssl s_server (OCSP staples) and plain ports. Every verification verdict
is compared with `openssl s_client -verify_return_error -verify_hostname
NAME -CAfile CA` run in the test, and every problem must name its fix."""

import contextlib
import json
import re
import socket
import subprocess
import sys
import time

import pytest

from conftest import moat_bin, run
from tlsutil import MUTUAL, OPTIONAL, free_ports, running_broker, s_client, tls_broker_lines, wait_port

LISTENERS = {
    "good": {},
    "mutual": dict(MUTUAL, cacertfile=True),
    "optional": dict(OPTIONAL, cacertfile=True),
    "broken": {"certfile": "probe-server-broken.pem", "keyfile": "probe-server.key"},
    "full": {"certfile": "probe-server-fullchain.pem", "keyfile": "probe-server.key"},
    "self": {"certfile": "probe-selfsigned.pem", "keyfile": "probe-selfsigned.key"},
    "tls12": {"tls_versions": "tlsv1.2"},
    "wss": {"ltype": "wss"},
    "wssmutual": dict(MUTUAL, cacertfile=True, ltype="wss"),
    "ws": {"ltype": "ws"},
}

# Client ids longer than this are refused (CONNACK 0x85), to see a refusal.
MAX_CLIENTID = 23


@pytest.fixture(scope="module")
def pb(tmp_path_factory, pki):
    listeners = {}
    for name, opts in LISTENERS.items():
        opts = dict(opts)
        for k in ("certfile", "keyfile"):
            if k in opts:
                opts[k] = pki(opts[k])
        listeners[name] = opts
    lines, ports, tcp_port = tls_broker_lines(
        pki, listeners, extra=["mqtt.max_clientid_len = %d" % MAX_CLIENTID])
    with running_broker(tmp_path_factory.mktemp("probebroker"), lines, ports, tcp_port) as b:
        yield b


# ------------------------------------------------------------------ helpers

def probe(*args, timeout=60):
    """moat certs probe ARGS; returns (exit status, text output)."""
    r = run([moat_bin(), "certs", "probe"] + [str(a) for a in args], timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def probe_json(*args):
    """moat certs probe ARGS --json; returns (exit status, parsed object)."""
    rc, out = probe(*args, "--json")
    try:
        return rc, json.loads(out)
    except ValueError:
        raise AssertionError("not JSON (exit %d):\n%s" % (rc, out))


def is_ip(name):
    return bool(re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]+", name))


def s_client_verdict(port, name, ca, *extra):
    """OpenSSL's verdict on the server's chain and name: 0 or the verify
    error number (s_client aborts at the first one with -verify_return_error)."""
    args = ["-verify_return_error", "-CAfile", ca]
    args += ["-verify_ip", name] if is_ip(name) else ["-servername", name, "-verify_hostname",
                                                      name]
    r = s_client(port, *args, *extra)
    m = re.search(r"verify error:num=(\d+)", r.out)
    if m:
        return int(m.group(1))
    m = re.search(r"Verify return code: (\d+)", r.out)
    assert m, "no verdict from s_client:\n" + r.out
    return int(m.group(1))


def verdict(j):
    """The probe's verification verdict in s_client's terms."""
    return 0 if j["verify"]["ok"] else j["verify"]["code"]


def problems(j):
    return [f for f in j["findings"] if f["problem"]]


def assert_fixes(j):
    """Every problem names what to do."""
    for f in problems(j):
        assert f["fix"], "a problem without a fix: %r" % f


def agree(port, name, ca, *probe_args, s_args=()):
    """Probe host:port and run s_client; both must give the same verdict.
    Returns (exit status, probe JSON)."""
    host = "127.0.0.1" if is_ip(name) else "localhost"
    args = ["%s:%d" % (host, port), "--ca", ca] + list(probe_args)
    if not is_ip(name) and name != host:
        args += ["--sni", name]
    rc, j = probe_json(*args)
    assert verdict(j) == s_client_verdict(port, name, ca, *s_args), j
    assert_fixes(j)
    return rc, j


@contextlib.contextmanager
def process(cmd, port):
    """A helper server for one test: started, waited for, stopped by PID."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            if p.poll() is not None:
                pytest.fail("helper server exited (%s): %s" % (p.returncode,
                                                               p.stderr.read().decode()))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("helper server did not listen on %d" % port)
                time.sleep(0.05)
        yield p
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
        p.stderr.close()


HTTPS_SERVER = r'''
import http.server, ssl, sys
certfile, keyfile, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "probe-test/1"

    def do_GET(self):
        found = self.path == "/"
        body = b"hello from the test server\n" if found else b"no such page\n"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass

httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(certfile, keyfile)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
httpd.serve_forever()
'''


def https_server(pki, cert, key):
    port = free_ports(1)[0]
    return process([sys.executable, "-c", HTTPS_SERVER, pki(cert), pki(key), str(port)], port), port


def s_server(pki, status_file=None):
    port = free_ports(1)[0]
    cmd = ["openssl", "s_server", "-accept", str(port), "-cert", pki("server.pem"), "-key",
           pki("server.key"), "-cert_chain", pki("int.pem"), "-www", "-quiet"]
    if status_file:
        cmd += ["-status_file", pki(status_file)]
    return process(cmd, port), port


# ------------------------------------------------------------------ one-way TLS

def test_good_listener(pb, pki):
    """A correct chain: verified, the name matches, CONNECT accepted; the
    text shows version, cipher, the chain with days left, and OK."""
    port = pb.tls_ports["good"]
    rc, j = agree(port, "localhost", pki("ca.pem"))
    assert rc == 0 and j["ok"], j
    assert j["tls"]["version"] == "TLSv1.3" and j["tls"]["cipher"].startswith("TLS_")
    assert [c["subject"] for c in j["chain"]] == ["CN=localhost,O=moat test",
                                                  "CN=moat Test Intermediate CA,O=moat test"]
    assert j["chain"][0]["days_left"] > 700
    assert j["client_cert"]["requested"] is False
    assert j["ocsp"] == {"requested": True, "stapled": False, "status": None,
                         "signature_ok": False, "note": None}
    c = j["app"]["connack"]
    assert c["mqtt_version"] == 5 and c["reason_code"] == 0 and c["reason"] == "Success"
    assert problems(j) == []
    rc, out = probe("localhost:%d" % port, "--ca", pki("ca.pem"))
    assert rc == 0, out
    for want in ("TLSv1.3", "2 certificates sent by the server", "days left",
                 "Verify    OK", "CONNACK 0x00 Success", "Result    OK"):
        assert want in out, out


def test_ip_address_verified_against_ip_san(pb, pki):
    """By address and without --sni: no SNI is sent and the IP SAN is checked
    (s_client -verify_ip)."""
    rc, j = agree(pb.tls_ports["good"], "127.0.0.1", pki("ca.pem"))
    assert rc == 0 and j["target"]["sni_sent"] is False, j


def test_broken_chain_names_the_missing_intermediate(pb, pki):
    """certfile lacks one of the two intermediates: error 20, like the
    webinar's "Verify return code: 20"; the message names the missing
    issuer and the fix names certfile."""
    rc, j = agree(pb.tls_ports["broken"], "localhost", pki("probe-root.pem"))
    assert rc == 1 and j["verify"]["code"] == 20, j
    assert j["verify"]["error"] == "unable to get local issuer certificate"
    assert len(j["chain"]) == 2
    p = problems(j)[0]
    assert "moat Probe Intermediate CA 1" in p["message"]
    assert "neither sent by the server nor in" in p["message"] and "broken" in p["message"]
    assert "certfile" in p["fix"] and "moat Probe Intermediate CA 2" in p["fix"]
    # The complete chain from the same CA verifies (and the probe agrees).
    rc, j = agree(pb.tls_ports["good"], "localhost", pki("ca.pem"))
    assert rc == 0


def test_regenerated_ca_of_the_same_name(pb, pki):
    """The client has a CA of the right name but not the one that signed the
    chain (a CA made anew): error 20; the message says so."""
    port = pb.tls_ports["full"]
    rc, j = agree(port, "localhost", pki("probe-root.pem"))
    assert rc == 0, j
    rc, j = agree(port, "localhost", pki("probe-root-regen.pem"))
    assert rc == 1 and j["verify"]["code"] == 20, j
    p = problems(j)[0]
    assert "holds a certificate of that name, but not the one that signed it" in p["message"], p
    assert "--ca" in p["fix"]


def test_wrong_ca_file(pb, pki):
    """The client's CA file is not the server's CA: error 20 at depth 1, and
    the fix asks whether --ca is the right file."""
    rc, j = agree(pb.tls_ports["good"], "localhost", pki("other-ca.pem"))
    assert rc == 1 and j["verify"]["code"] == 20 and j["verify"]["depth"] == 1, j
    p = problems(j)[0]
    assert "moat Test Root CA" in p["message"]
    assert "--ca" in p["fix"] and "other-ca.pem" in p["fix"]


def test_hostname_mismatch_lists_the_names(pb, pki):
    rc, j = agree(pb.tls_ports["good"], "wrong.example", pki("ca.pem"))
    assert rc == 1 and j["verify"]["code"] == 62, j
    p = problems(j)[0]
    assert "wrong.example" in p["message"]
    assert "DNS:localhost" in p["message"] and "IP:127.0.0.1" in p["message"]
    assert "--sni localhost" in p["fix"] and "subjectAltName" in p["fix"]
    # The MQTT step still ran: the problem is the name only.
    assert j["app"]["connack"]["reason_code"] == 0


def test_self_signed(pb, pki):
    port = pb.tls_ports["self"]
    rc, j = agree(port, "localhost", pki("ca.pem"))
    assert rc == 1 and j["verify"]["code"] == 18, j
    p = problems(j)[0]
    assert "self-signed" in p["message"] and "--ca" in p["fix"]
    # Trusting that very certificate makes it verify, for both.
    rc, j = agree(port, "localhost", pki("probe-selfsigned.pem"))
    assert rc == 0, j


def test_expired_server_certificate(pki):
    """moat refuses to serve an expired certificate, so a Python server
    does: error 10, the date, and "renew"."""
    srv, port = https_server(pki, "server-expired-fullchain.pem", "server-expired.key")
    with srv:
        rc, j = agree(port, "localhost", pki("ca.pem"), "--https", "/")
    assert rc == 1 and j["verify"]["code"] == 10, j
    p = problems(j)[0]
    assert "expired on 2021-01-01" in p["message"], p
    assert "Renew" in p["fix"]
    assert j["chain"][0]["days_left"] < 0
    assert j["app"]["http_status"] == 200  # the HTTPS step ran anyway


def test_leaf_without_intermediate(pki):
    """The classic: certfile holds only the server certificate (cert.pem
    instead of fullchain.pem). Error 20 at depth 0; the fix says fullchain."""
    srv, port = https_server(pki, "server.pem", "server.key")
    with srv:
        rc, j = agree(port, "localhost", pki("ca.pem"), "--https", "/")
    assert rc == 1 and j["verify"]["code"] == 20 and j["verify"]["depth"] == 0, j
    assert len(j["chain"]) == 1
    p = problems(j)[0]
    assert "only its own certificate" in p["message"]
    assert "moat Test Intermediate CA" in p["message"]
    assert "fullchain.pem" in p["fix"] and "certfile" in p["fix"]


# ------------------------------------------------------------------ client certificates

def test_client_cert_required_and_missing_tls13(pb, pki):
    """TLS 1.3: the handshake completes, then the server refuses us with an
    alert when we send the CONNECT. The verdict on the server's chain is
    still s_client's (OK), but the probe fails and says --cert."""
    rc, j = agree(pb.tls_ports["mutual"], "localhost", pki("ca.pem"))
    assert rc == 1, j
    assert j["verify"]["ok"] is True
    assert j["client_cert"]["requested"] is True and j["client_cert"]["sent"] is False
    assert j["client_cert"]["required"] is True
    assert j["client_cert"]["ca_names"] == ["CN=moat Test Root CA,O=moat test"]
    assert j["tls"]["alert_received"] == "certificate required"
    assert j["tls"]["alert_after_handshake"] is True
    p = problems(j)[0]
    assert "requires a client certificate" in p["message"] and "after the handshake" in p["message"]
    assert "--cert" in p["fix"] and "moat Test Root CA" in p["fix"]


def test_client_cert_required_and_missing_tls12(pb, pki):
    """TLS 1.2: the server refuses during the handshake."""
    rc, j = agree(pb.tls_ports["mutual"], "localhost", pki("ca.pem"), "--tls1.2",
                  s_args=["-tls1_2"])
    assert rc == 1 and j["tls"]["ok"] is False, j
    assert j["client_cert"]["requested"] is True
    assert j["tls"]["alert_after_handshake"] is False
    p = problems(j)[0]
    assert "requires a client certificate" in p["message"] and "--cert" in p["fix"]


def test_client_cert_required_tls_only(pb, pki):
    """--tls-only sends nothing: the probe waits briefly for the alert a TLS
    1.3 server sends after the handshake."""
    rc, j = probe_json("localhost:%d" % pb.tls_ports["mutual"], "--ca", pki("ca.pem"),
                       "--tls-only")
    assert rc == 1 and j["tls"]["alert_received"] == "certificate required", j
    assert "--cert" in problems(j)[0]["fix"]


def test_client_cert_given(pb, pki):
    rc, j = probe_json("localhost:%d" % pb.tls_ports["mutual"], "--ca", pki("ca.pem"), "--cert",
                       pki("client-fullchain.pem"), "--key", pki("client.key"))
    assert rc == 0 and j["ok"], j
    assert j["client_cert"] == {"requested": True, "sent": True, "required": None,
                                "ca_names": ["CN=moat Test Root CA,O=moat test"]}


def test_client_cert_of_unknown_ca(pb, pki):
    rc, j = probe_json("localhost:%d" % pb.tls_ports["mutual"], "--ca", pki("ca.pem"), "--cert",
                       pki("other-client.pem"), "--key", pki("other-client.key"))
    assert rc == 1, j
    p = problems(j)[0]
    assert "does not trust the CA of our client certificate" in p["message"], p
    assert "Unrelated Test CA" in p["message"] and "cacertfile" in p["fix"]


def test_client_cert_optional(pb, pki):
    """Asked for but not required: OK, with a note."""
    rc, j = probe_json("localhost:%d" % pb.tls_ports["optional"], "--ca", pki("ca.pem"))
    assert rc == 0 and j["ok"], j
    assert j["client_cert"]["requested"] is True and j["client_cert"]["required"] is False
    assert any("optional" in f["message"] for f in j["findings"] if not f["problem"])


def test_client_cert_not_asked_for(pb, pki):
    rc, out = probe("localhost:%d" % pb.tls_ports["good"], "--ca", pki("ca.pem"), "--cert",
                    pki("client-fullchain.pem"), "--key", pki("client.key"))
    assert rc == 0, out
    assert "did not ask for one" in out and "verify_peer" in out


# ------------------------------------------------------------------ WebSocket

def test_wss(pb, pki):
    rc, j = agree(pb.tls_ports["wss"], "localhost", pki("ca.pem"), "--wss", "/mqtt")
    assert rc == 0 and j["ok"], j
    a = j["app"]
    assert a["protocol"] == "wss" and a["http_status"] == 101 and a["ws_protocol"] == "mqtt"
    assert a["connack"]["reason_code"] == 0
    rc, out = probe("localhost:%d" % pb.tls_ports["wss"], "--ca", pki("ca.pem"), "--wss", "/mqtt",
                    "--mqtt-version", "4")
    assert rc == 0, out
    assert "GET /mqtt -> HTTP 101 Switching Protocols" in out
    assert "Sec-WebSocket-Protocol: mqtt" in out and "CONNACK 0x00 Connection accepted" in out


def test_wss_wrong_path(pb, pki):
    rc, j = probe_json("localhost:%d" % pb.tls_ports["wss"], "--ca", pki("ca.pem"), "--wss",
                       "/nope")
    assert rc == 1 and j["app"]["http_status"] == 404, j
    assert_fixes(j)
    p = problems(j)[0]
    assert "/nope" in p["message"] and "mqtt_path" in p["fix"]


def test_wss_on_an_mqtt_port(pb, pki):
    rc, j = probe_json("localhost:%d" % pb.tls_ports["good"], "--ca", pki("ca.pem"), "--wss",
                       "/mqtt")
    assert rc == 1, j
    assert "without --wss" in problems(j)[0]["fix"]


def test_wss_client_cert_required(pb, pki):
    port = pb.tls_ports["wssmutual"]
    rc, j = agree(port, "localhost", pki("ca.pem"), "--wss", "/mqtt")
    assert rc == 1 and "--cert" in problems(j)[0]["fix"], j
    rc, j = probe_json("localhost:%d" % port, "--ca", pki("ca.pem"), "--wss", "/mqtt", "--cert",
                       pki("client-fullchain.pem"), "--key", pki("client.key"))
    assert rc == 0 and j["app"]["connack"]["reason_code"] == 0, j


# ------------------------------------------------------------------ HTTPS, OCSP

def test_https_get(pki):
    srv, port = https_server(pki, "server-fullchain.pem", "server.key")
    with srv:
        rc, out = probe("localhost:%d" % port, "--ca", pki("ca.pem"), "--https", "/")
        assert rc == 0, out
        assert "GET / -> HTTP 200 OK" in out and "Server: probe-test/1" in out
        rc, j = probe_json("localhost:%d" % port, "--ca", pki("ca.pem"), "--https", "/missing")
    assert rc == 1 and j["app"]["http_status"] == 404, j
    assert_fixes(j)
    assert "no such page" in problems(j)[0]["message"]


def test_ocsp_staple(pki):
    srv, port = s_server(pki, "probe-ocsp-good.der")
    with srv:
        rc, j = probe_json("localhost:%d" % port, "--ca", pki("ca.pem"), "--https", "/")
    assert rc == 0, j
    assert j["ocsp"]["stapled"] is True and j["ocsp"]["status"] == "good"
    assert j["ocsp"]["signature_ok"] is True
    srv, port = s_server(pki, "probe-ocsp-revoked.der")
    with srv:
        rc, j = probe_json("localhost:%d" % port, "--ca", pki("ca.pem"), "--https", "/")
    assert rc == 1 and j["ocsp"]["status"] == "revoked", j
    p = problems(j)[0]
    assert p["topic"] == "ocsp" and "REVOKED" in p["message"] and "keyCompromise" in p["message"]
    assert_fixes(j)


# ------------------------------------------------------------------ not TLS, refused

def test_plain_tcp_port_is_not_tls(pb, pki):
    rc, j = probe_json("localhost:%d" % pb.port, "--ca", pki("ca.pem"))
    assert rc == 1 and j["tls"]["ok"] is False, j
    p = problems(j)[0]
    assert p["message"].startswith("not TLS:") and "plain MQTT" in p["message"], p
    assert "listener.ssl" in p["fix"]
    rc, out = probe("localhost:%d" % pb.port)
    assert rc == 1 and "not TLS" in out and "Fix:" in out, out


def test_plain_websocket_port_is_not_tls(pb, pki):
    """A ws port probed with --wss: it answers the ClientHello in HTTP."""
    rc, j = probe_json("localhost:%d" % pb.tls_ports["ws"], "--wss", "/mqtt")
    assert rc == 1 and j["tls"]["ok"] is False, j
    p = problems(j)[0]
    assert p["message"].startswith("not TLS:") and "plain HTTP" in p["message"], p
    assert_fixes(j)


def test_plain_mqtt_port_probed_with_wss(pb, pki):
    """The plain-text check tries MQTT too when HTTP gets no answer."""
    rc, out = probe("localhost:%d" % pb.port, "--wss", "/mqtt")
    assert rc == 1 and "not TLS" in out and "plain MQTT" in out, out


RESET_SERVER = r'''
import socket, struct, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        c.recv(4096)
    except OSError:
        pass
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
'''


def test_server_resets_after_client_hello():
    """The webinar's third error ("write:errno=104", no certificates): the
    server resets the connection after the ClientHello."""
    port = free_ports(1)[0]
    with process([sys.executable, "-c", RESET_SERVER, str(port)], port):
        rc, j = probe_json("127.0.0.1:%d" % port)
    assert rc == 1 and j["chain"] == [], j
    p = problems(j)[0]
    assert p["message"].startswith("no certificate sent:") and "reset" in p["message"], p
    assert "certfile" in p["fix"]


def test_connection_refused():
    port = free_ports(1)[0]
    rc, j = probe_json("127.0.0.1:%d" % port)
    assert rc == 1 and j["connected"] is False, j
    assert "refused" in problems(j)[0]["message"] and problems(j)[0]["fix"]


def test_tls_versions(pb, pki):
    rc, j = probe_json("localhost:%d" % pb.tls_ports["good"], "--ca", pki("ca.pem"), "--tls1.2")
    assert rc == 0 and j["tls"]["version"] == "TLSv1.2", j
    rc, j = probe_json("localhost:%d" % pb.tls_ports["tls12"], "--ca", pki("ca.pem"), "--tls1.3")
    assert rc == 1, j
    p = problems(j)[0]
    assert "no common TLS version" in p["message"] and "tls_versions" in p["fix"], p


# ------------------------------------------------------------------ MQTT

def test_mqtt_versions_and_credentials(pb, pki):
    port = pb.tls_ports["good"]
    for v, text in (("3", "Connection accepted"), ("4", "Connection accepted"), ("5", "Success")):
        rc, out = probe("localhost:%d" % port, "--ca", pki("ca.pem"), "--mqtt-version", v,
                        "--client-id", "probe-v" + v, "--username", "u", "--password", "p")
        assert rc == 0 and "CONNACK 0x00 " + text in out, out
        assert 'client id "probe-v%s"' % v in out


def test_connack_refusal_in_words(pb, pki):
    rc, j = probe_json("localhost:%d" % pb.tls_ports["good"], "--ca", pki("ca.pem"),
                       "--client-id", "x" * (MAX_CLIENTID + 10))
    assert rc == 1, j
    c = j["app"]["connack"]
    assert c["reason_code"] == 0x85 and c["reason"] == "Client identifier not valid", j
    assert "--client-id" in problems(j)[0]["fix"]


def test_tls_only(pb, pki):
    rc, j = probe_json("localhost:%d" % pb.tls_ports["good"], "--ca", pki("ca.pem"), "--tls-only")
    assert rc == 0 and j["app"]["tried"] is False, j


# ------------------------------------------------------------------ usage

@pytest.mark.parametrize("args,msg", [
    ([], "HOST:PORT is missing"),
    (["localhost"], "not HOST:PORT"),
    (["localhost:99999"], "not HOST:PORT"),
    (["::1:8883"], "brackets"),
    (["localhost:8883", "--cert", "c.pem"], "--cert and --key go together"),
    (["localhost:8883", "--bogus"], "unknown option"),
    (["localhost:8883", "--wss"], "--wss needs a value"),
    (["localhost:8883", "--wss", "mqtt"], "must start with '/'"),
    (["localhost:8883", "--mqtt-version", "6"], "3, 4 or 5"),
    (["localhost:8883", "--tls1.2", "--tls1.3"], "choose one"),
    (["localhost:8883", "--wss", "/mqtt", "--https", "/"], "choose one"),
    (["localhost:8883", "--ca", "/nonexistent/ca.pem"], "/nonexistent/ca.pem"),
])
def test_usage_errors(args, msg):
    rc, out = probe(*args)
    assert rc == 2 and msg in out, out


def test_unusable_key_is_exit_2(pki):
    rc, out = probe("localhost:1", "--cert", pki("client.pem"), "--key", pki("server.key"))
    assert rc == 2 and "not the private key" in out, out


def test_help():
    rc, out = probe("--help")
    assert rc == 0 and "--wss PATH" in out and "Exit status" in out
