# SPDX-License-Identifier: Apache-2.0
"""Certificates through the dashboard API: the chain each TLS listener
serves, and uploads in the EMQX Cloud form's shape. Every bad upload is
refused with its message (and the form field at fault) while the running
certificate keeps serving; a good one is served to new connections without a
restart, existing connections carry on, and it is still there after a
restart; deleting it disconnects the listener's TLS clients and returns to
the configured certificate."""

import os
import stat

import pytest
import requests

import mqttraw as mr
from conftest import uniq
from tlsutil import client_context, free_ports, server_fingerprint, ssl_listener, wait_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def cb(broker_factory, pki):
    """A broker with ssl:ext (RSA server certificate from the config file)
    and the dashboard on http; b.api(method, path, json) calls the API."""
    http, ssl_port = free_ports(2)
    b = broker_factory(start=False)
    b.start(["dashboard.listener.http = 127.0.0.1:%d" % http,
             "dashboard.default_user.password = certs-pw"] + ssl_listener("ext", ssl_port, pki))
    wait_port(http)
    wait_port(ssl_port)
    b.ssl_port = ssl_port
    b.http = http
    b.pki = pki

    def api(method, path, body=None):
        tok = requests.post("http://127.0.0.1:%d/api/v1/login" % b.http,
                            json={"username": "admin", "password": "certs-pw"},
                            timeout=10).json()["token"]
        return requests.request(method, "http://127.0.0.1:%d%s" % (b.http, path), json=body,
                                headers={"Authorization": "Bearer " + tok}, timeout=20)
    b.api = api
    return b


def form(pki, cert="server-ec.pem", chain="int.pem", key="server-ec.key", **extra):
    d = {"certificate": pki.text(cert) if cert else "", "chain": pki.text(chain) if chain else "",
         "private_key": pki.text(key) if key else "", "mode": "one-way"}
    d.update(extra)
    return d


def test_list_chain(cb):
    r = cb.api("GET", "/api/v1/certificates")
    assert r.status_code == 200
    (ext,) = [x for x in r.json()["data"] if x["listener"] == "ssl:ext"]
    assert ext["source"] == "configuration" and ext["mode"] == "one-way"
    leaf, inter = ext["chain"][:2]
    assert leaf["subject"] == "CN=localhost,O=moat test" and leaf["key"] == "RSA 2048"
    assert leaf["issuer"] == inter["subject"] and inter["is_ca"]
    assert leaf["sha256"] == cb.pki.sha256("server.pem")
    assert cb.api("GET", "/api/v1/certificates/ssl-ext").json()["listener"] == "ssl:ext"
    assert cb.api("GET", "/api/v1/certificates/ssl:nope").status_code == 404


BAD = [
    ("key of another certificate", dict(key="server.key"), "private_key", "does not belong"),
    ("leaf in chain", dict(chain="server-ec.pem"), "chain", "server certificate itself"),
    ("not PEM", dict(cert=None, extra={"certificate": "hello"}), "certificate",
     "no PEM certificate"),
    ("two certificates", dict(cert="server-ec-fullchain.pem"), "certificate",
     "holds 2 certificates"),
    ("expired", dict(cert="server-expired.pem", key="server-expired.key"), "certificate",
     "does not include now"),
    ("not yet valid", dict(cert="server-notyet.pem", key="server-notyet.key"), "certificate",
     "does not include now"),
    ("RSA 1024", dict(cert="server-rsa1024.pem", key="server-rsa1024.key"), "private_key",
     "expected 2048 or more"),
    ("encrypted, no password", dict(cert="server.pem", key="server-enc.key"), "key_password",
     "give its password"),
    ("encrypted, wrong password", dict(cert="server.pem", key="server-enc.key",
                                       extra={"key_password": "nope"}), "key_password",
     "cannot be decrypted"),
    ("two-way without client CA", dict(extra={"mode": "two-way"}), "client_ca", "is empty"),
    ("bad mode", dict(extra={"mode": "three-way"}), "mode", "expected one-way or two-way"),
    ("empty key", dict(key=None), "private_key", "is empty"),
]


@pytest.mark.parametrize("what,kw,field,text", BAD, ids=[b[0] for b in BAD])
def test_bad_upload_refused_running_kept(cb, what, kw, field, text):
    before = server_fingerprint(cb.ssl_port)
    extra = kw.pop("extra", {})
    body = form(cb.pki, **kw)
    body.update(extra)
    r = cb.api("POST", "/api/v1/certificates/ssl:ext", body)
    assert r.status_code == 422, r.text
    j = r.json()
    assert j["code"] == "invalid_certificate" and j["field"] == field, j
    assert text in j["message"], j
    assert server_fingerprint(cb.ssl_port) == before
    cb.wait_log(r"listener ssl:ext: TLS certificate upload by admin refused, the running one is "
                r"kept")


def test_broker_checks_refuse_what_the_form_rules_miss(cb):
    """A certificate without the host names in its SAN passes the form's
    rules, but the broker's load-time check (no_san) only warns; a
    certificate for client authentication only is refused by the broker's
    checks and the findings say why."""
    r = cb.api("POST", "/api/v1/certificates/ssl:ext",
               form(cb.pki, cert="server-clientauth.pem", key="server-clientauth.key"))
    if r.status_code == 422:
        j = r.json()
        assert j["findings"] and any(f["severity"] == "error" for f in j["findings"]), j
        assert all(f["fix"] for f in j["findings"] if f["severity"] == "error")
    else:
        assert r.status_code == 200, r.text


def test_good_upload_hot_and_kept_across_restart(cb):
    pki = cb.pki
    old = pki.sha256("server.pem")
    assert server_fingerprint(cb.ssl_port) == old
    c = mr.RawClient(cb.ssl_port, version=5, tls=client_context(pki), server_hostname="localhost")
    t = uniq("up/")
    c.connect(uniq("before-upload"))
    c.subscribe([(t, 1)])
    r = cb.api("POST", "/api/v1/certificates/ssl:ext", form(pki))
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["certificates"]["source"] == "uploaded"
    assert j["certificates"]["chain"][0]["key"] == "EC P-256"
    assert server_fingerprint(cb.ssl_port) == pki.sha256("server-ec.pem")
    # the connection made before carries on
    c.publish(t, b"after upload", qos=1)
    assert c.recv_publish().payload == b"after upload"
    d = os.path.join(cb.data_dir, "tls", "ssl-ext")
    assert stat.S_IMODE(os.stat(os.path.join(d, "key.pem")).st_mode) == 0o600
    c.disconnect()
    cb.restart()
    wait_port(cb.ssl_port)
    assert server_fingerprint(cb.ssl_port) == pki.sha256("server-ec.pem")
    cb.wait_log(r"listener ssl:ext: serving the certificate uploaded through the dashboard")
    # delete: back to the configured certificate, TLS clients disconnected
    c = mr.RawClient(cb.ssl_port, version=5, tls=client_context(pki), server_hostname="localhost")
    c.connect(uniq("dropped"))
    r = cb.api("DELETE", "/api/v1/certificates/ssl:ext")
    assert r.status_code == 200 and r.json()["disconnected"] == 1, r.text
    assert c.expect(mr.DISCONNECT).rc == 0x98
    assert server_fingerprint(cb.ssl_port) == old
    assert not os.path.exists(d)
    assert cb.api("DELETE", "/api/v1/certificates/ssl:ext").status_code == 404


def test_two_way_upload(cb):
    pki = cb.pki
    r = cb.api("POST", "/api/v1/certificates/ssl:ext",
               form(pki, cert="server.pem", key="server-enc.key", key_password="secret",
                    mode="two-way", client_ca=pki.text("ca.pem")))
    assert r.status_code == 200, r.text
    assert r.json()["certificates"]["mode"] == "two-way"
    # without a client certificate: refused; with one: in
    with pytest.raises((OSError, mr.Closed)):
        c = mr.RawClient(cb.ssl_port, version=4, tls=client_context(pki),
                         server_hostname="localhost")
        c.connect(uniq("nocert"))
    c = mr.RawClient(cb.ssl_port, version=4,
                     tls=client_context(pki, cert="client-fullchain.pem", key="client.key"),
                     server_hostname="localhost")
    c.connect(uniq("withcert"))
    c.disconnect()
