# SPDX-License-Identifier: Apache-2.0
"""Certificate material is checked when loaded: every problem is refused (or
warned about) with a message that names the file, says what is wrong and how
to fix it, and ends with a stable [code]. Each case runs through
`moat --check-config` (exit 2 on an error) and through start-up (exit 1 on an
error; a warning does not stop the listener)."""

import re
import ssl

import pytest

from tlsutil import (check_config, client_context, free_ports, server_fingerprint, ssl_listener,
                     start_expect_failure, start_tls_broker, tls_connect)

# id: (certfile, keyfile, extra options, code, file the message names
#      ("cert", "key", "ca", "dh" or a literal path), words the message has)
ERRORS = {
    "cert_missing": ("nope/missing-cert.pem", "server.key", {}, "file_missing", "cert",
                     ["does not exist"]),
    "key_missing": ("server-fullchain.pem", "missing.key", {}, "file_missing", "key",
                    ["does not exist"]),
    "ca_missing": ("server-fullchain.pem", "server.key", {"cacertfile": "missing-ca.pem"},
                   "file_missing", "ca", ["does not exist"]),
    "cert_empty": ("EMPTY", "server.key", {}, "file_empty", "cert", []),
    "cert_der": ("server.der", "server.key", {}, "not_pem", "cert", ["DER", "PEM"]),
    "cert_p12": ("server.p12", "server.key", {}, "not_pem", "cert", ["PKCS#12", "PEM"]),
    "cert_csr": ("server.csr", "server.key", {}, "wrong_content", "cert",
                 ["signing request"]),
    "swapped": ("server.key", "server-fullchain.pem", {}, "wrong_content", "cert",
                ["swapped"]),
    "key_mismatch": ("server-fullchain.pem", "server-ec.key", {}, "key_mismatch", "key",
                     ["does not belong to the certificate"]),
    "key_encrypted_pkcs8": ("server-fullchain.pem", "server-enc.key", {}, "key_encrypted",
                            "key", ["encrypted", "key_password"]),
    "key_encrypted_traditional": ("server-fullchain.pem", "server-enc-trad.key", {},
                                  "key_encrypted", "key", ["encrypted", "key_password"]),
    "key_bad_password": ("server-fullchain.pem", "server-enc.key", {"key_password": "wrong"},
                         "key_bad_password", "key", ["key_password", "wrong"]),
    "ca_first": ("server-reversed.pem", "server.key", {}, "ca_first", "cert",
                 ["starts with a CA certificate", "CN=moat Test Intermediate CA"]),
    "chain_order": ("server-misordered.pem", "server.key", {}, "chain_order", "cert",
                    ["out of order"]),
    "intermediate_missing": ("server.pem", "server.key", {}, "intermediate_missing", "cert",
                             ["not its issuer", "CN=moat Test Intermediate CA"]),
    "expired": ("server-expired-fullchain.pem", "server-expired.key", {}, "expired", "cert",
                ["expired on 2021-01-01"]),
    "not_yet_valid": ("server-notyet-fullchain.pem", "server-notyet.key", {}, "not_yet_valid",
                      "cert", ["not valid before 2099-01-01"]),
    "no_server_auth": ("server-clientauth-fullchain.pem", "server-clientauth.key", {},
                       "no_server_auth", "cert", ["serverAuth"]),
    "weak_key": ("server-rsa1024-fullchain.pem", "server-rsa1024.key", {}, "weak_key", "cert",
                 ["1024 bits"]),
    "dh_weak": ("server-fullchain.pem", "server.key", {"dhfile": "dh-small.pem"}, "dh_weak",
                "dh", ["1024 bits"]),
}

WARNINGS = {
    "root_included": ("server-chain-with-root.pem", "server.key", {}, "root_included", "cert",
                      ["root CA certificate"], "server.pem"),
    "no_san": ("server-nosan-fullchain.pem", "server-nosan.key", {}, "no_san", "cert",
               ["no subjectAltName"], "server-nosan.pem"),
    "key_password_unused": ("server-fullchain.pem", "server.key", {"key_password": "secret"},
                            "key_password_unused", "key", ["not encrypted"], "server.pem"),
    "expires_soon": ("server-expiring-fullchain.pem", "server-expiring.key", {},
                     "expires_soon", "cert", ["expires on"], "server-expiring.pem"),
}


def case_lines(pki, tmp_path, cert, key, extra):
    def path(name):
        if name == "EMPTY":
            p = tmp_path / "empty.pem"
            p.write_text("")
            return str(p)
        return pki(name)
    opts = {"cacertfile": pki("ca.pem")}
    for k, v in extra.items():
        opts[k] = path(v) if k in ("cacertfile", "dhfile") else v
    files = {"cert": path(cert), "key": path(key), "ca": opts["cacertfile"],
             "dh": opts.get("dhfile")}
    return ssl_listener("external", 1, certfile=files["cert"], keyfile=files["key"],
                        **opts), files


def error_re(code, file):
    return (r"\[error\] listener ssl:external: (?P<msg>[^\n]*%s[^\n]*?)[.?!]? Fix: "
            r"(?P<fix>[^\n]+) \[%s\]" % (re.escape(file), re.escape(code)))


def warning_re(code, file):
    return (r"\[warning\] listener ssl:external: (?P<msg>[^\n]*%s[^\n]*) \[%s\]"
            % (re.escape(file), re.escape(code)))


def check_message(text, rx, words):
    m = re.search(rx, text)
    assert m, "no line matching %r in:\n%s" % (rx, text)
    for w in words:
        assert w in m.group("msg"), "%r not in the message: %s" % (w, m.group(0))
    if "fix" in m.groupdict():
        assert len(m.group("fix")) > 20, "the fix says too little: %s" % m.group(0)
    return m


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_error_check_config(pki, tmp_path, case):
    cert, key, extra, code, which, words = ERRORS[case]
    lines, files = case_lines(pki, tmp_path, cert, key, extra)
    r = check_config(tmp_path, lines)
    assert r.returncode == 2, "exit %d:\n%s" % (r.returncode, r.out)
    check_message(r.out, error_re(code, files[which]), words)
    assert "listener ssl:external: TLS material refused" in r.out, r.out


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_error_stops_start_up(pki, tmp_path, broker_factory, case):
    cert, key, extra, code, which, words = ERRORS[case]
    lines, files = case_lines(pki, tmp_path, cert, key, extra)
    lines[0] = "listener.ssl.external = 127.0.0.1:%d" % free_ports(1)[0]
    rc, log = start_expect_failure(broker_factory, lines)
    assert rc == 1, "exit %s:\n%s" % (rc, log)
    check_message(log, error_re(code, files[which]), words)
    assert "started:" not in log, log


@pytest.mark.parametrize("case", sorted(WARNINGS))
def test_warning_check_config(pki, tmp_path, case):
    cert, key, extra, code, which, words, _ = WARNINGS[case]
    lines, files = case_lines(pki, tmp_path, cert, key, extra)
    r = check_config(tmp_path, lines)
    assert r.returncode == 0, "exit %d:\n%s" % (r.returncode, r.out)
    check_message(r.out, warning_re(code, files[which]), words)
    assert "[error]" not in r.out, r.out


@pytest.mark.parametrize("case", sorted(WARNINGS))
def test_warning_still_starts_and_serves(pki, tmp_path, broker_factory, case):
    cert, key, extra, code, which, words, leaf = WARNINGS[case]
    opts = dict({"cacertfile": True, "certfile": pki(cert), "keyfile": pki(key)},
                **{k: v for k, v in extra.items()})
    b = start_tls_broker(broker_factory, pki, {"external": opts})
    check_message(b.log, warning_re(code, pki(cert) if which == "cert" else pki(key)), words)
    assert server_fingerprint(b.tls_ports["external"]) == pki.sha256(leaf)


def test_no_san_certificate_fails_hostname_check_on_strict_clients(pki, broker_factory):
    """What the no_san warning is about: a client that matches host names
    against the subjectAltName only (Go, browsers; Python with
    hostname_checks_common_name off) refuses the certificate although its CN
    is localhost. (OpenSSL's default, and so mosquitto's and Python's, still
    falls back to the CN.)"""
    b = start_tls_broker(broker_factory, pki, {"external": {
        "cacertfile": True, "certfile": pki("server-nosan-fullchain.pem"),
        "keyfile": pki("server-nosan.key")}})
    ctx = client_context(pki)
    ctx.hostname_checks_common_name = False
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_connect(b.tls_ports["external"], ctx, server_hostname="localhost")


@pytest.mark.parametrize("key", ["server-enc.key", "server-enc-trad.key"])
def test_encrypted_key_with_password(pki, tmp_path, broker_factory, key):
    lines, _ = case_lines(pki, tmp_path, "server-fullchain.pem", key,
                          {"key_password": "secret"})
    r = check_config(tmp_path, lines)
    assert r.returncode == 0, r.out
    assert "configuration is valid" in r.out
    assert "secret" not in r.out, "key_password appears in the output"
    b = start_tls_broker(broker_factory, pki, {"external": {"keyfile": pki(key),
                                                            "key_password": "secret"}})
    with tls_connect(b.tls_ports["external"], client_context(pki)) as s:
        assert s.version() == "TLSv1.3"
    assert "secret" not in b.log, "key_password appears in the log"


def test_first_error_of_several_listeners(pki, tmp_path):
    """Two listeners, one bad: --check-config names the bad one."""
    lines = (ssl_listener("good", 1, pki, cacertfile=pki("ca.pem"))
             + ssl_listener("bad", 2, pki, keyfile=pki("server-ec.key")))
    r = check_config(tmp_path, lines)
    assert r.returncode == 2, r.out
    assert re.search(r"listener ssl:bad: .*\[key_mismatch\]", r.out), r.out
    assert not re.search(r"listener ssl:good: .*\[error\]|\[error\] listener ssl:good", r.out)


def test_good_material_check_config(pki, tmp_path):
    lines, _ = case_lines(pki, tmp_path, "server-fullchain.pem", "server.key", {})
    r = check_config(tmp_path, lines)
    assert r.returncode == 0, r.out
    assert "[warning]" not in r.out and "[error]" not in r.out, r.out


@pytest.mark.parametrize("setting,value,words", [
    ("tls_versions", "tlsv1.1", ["tlsv1.1"]),
    ("tls_versions", "tlsv1.2,tlsv1", ["tlsv1"]),
    ("verify", "verify_maybe", ["verify"]),
    ("peer_cert_as_username", "serial", ["peer_cert_as_username"]),
])
def test_bad_tls_settings_refused(pki, tmp_path, setting, value, words):
    lines, _ = case_lines(pki, tmp_path, "server-fullchain.pem", "server.key", {setting: value})
    r = check_config(tmp_path, lines)
    assert r.returncode == 2, r.out
    for w in words:
        assert w in r.out, r.out


def test_missing_certfile_setting(pki, tmp_path):
    lines = ["listener.ssl.external = 127.0.0.1:1",
             "listener.ssl.external.keyfile = %s" % pki("server.key")]
    r = check_config(tmp_path, lines)
    assert r.returncode == 2, r.out
    assert "certfile" in r.out, r.out
