# SPDX-License-Identifier: Apache-2.0
"""`moat certs check`, `show`, `split` and `bundle` on the test PKI.

Every verdict of `moat certs check` is compared with OpenSSL's own on the
same files: `openssl verify -CAfile -untrusted -purpose -verify_hostname
-verify_ip -auth_level 2` for the chain, validity, purpose, host name and
key strength, the webinar's verify.sh (public key hashes of key and
certificate) for the key pair, `openssl pkey` for an encrypted key, and the
webinar's trace.sh (crl2pkcs7 | pkcs7 -print_certs) for the order. Each
failure must name its fix. `show --json` is checked field by field against
openssl and hashlib; split and bundle round trips are checked with
`openssl verify`."""

import hashlib
import json
import re
import shutil
import ssl
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import SANITIZER_RE, moat_bin
from tlsutil import pki  # noqa: F401 (fixture)

# Checks whose verdict openssl verify also gives.
VERIFIED = {"chain", "validity", "purpose", "host", "strength"}


def run(*args, timeout=60, cwd=None):
    r = subprocess.run([moat_bin(), "certs", *args], capture_output=True, text=True,
                       timeout=timeout, cwd=cwd)
    assert not SANITIZER_RE.search(r.stderr), r.stderr
    return r


def ossl(*args, check=False):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60,
                          check=check)


# ------------------------------------------------------------ the cases

# id: moat certs check options (files relative to the PKI), the checks that
# fail, and words the fix of the first failure has. --ca defaults to ca.pem.
CASES = {
    "good": (dict(cert="server-fullchain.pem", key="server.key", host="localhost"), set(), None),
    "good_ec": (dict(cert="server-ec-fullchain.pem", key="server-ec.key", host="localhost"),
                set(), None),
    "good_ip": (dict(cert="server-fullchain.pem", key="server.key", host="127.0.0.1"), set(),
                None),
    "good_deep_chain": (dict(cert="server-deep-fullchain.pem", key="server-deep.key",
                             host="deep.localhost"), set(), None),
    "separate_chain_file": (dict(cert="server.pem", chain="int.pem", key="server.key"), set(),
                            None),
    "wrong_order": (dict(cert="server-misordered.pem", key="server.key"), {"order"},
                    "each certificate is followed by the one that issued it"),
    "reversed": (dict(cert="server-reversed.pem", key="server.key"), {"order"},
                 "Put the server certificate first"),
    "shuffled_deep_chain": (dict(cert="server-deep-shuffled.pem", key="server-deep.key"),
                            {"order"}, "followed by the one that issued it"),
    "leaf_in_chain_file": (dict(cert="server.pem", chain="server-fullchain.pem",
                                key="server.key"), {"order"}, "Remove the server certificate"),
    "missing_intermediate": (dict(cert="server.pem", key="server.key"), {"chain"},
                             "fullchain.pem"),
    "lets_encrypt_cert_only": (dict(cert="le/live/example/cert.pem",
                                    key="le/live/example/privkey.pem"), {"chain"},
                               "fullchain.pem rather than cert.pem"),
    "lets_encrypt_fullchain": (dict(cert="le/live/example/fullchain.pem",
                                    key="le/live/example/privkey.pem", host="example.com"),
                               set(), None),
    "unrelated_ca": (dict(cert="server-fullchain.pem", key="server.key", ca="other-ca.pem"),
                     {"chain"}, "--ca"),
    "intermediate_as_ca": (dict(cert="server-fullchain.pem", key="server.key", ca="int.pem"),
                           {"chain"}, "--ca"),
    "intermediate_as_ca_partial": (dict(cert="server-fullchain.pem", key="server.key",
                                        ca="int.pem", partial=True), set(), None),
    "self_signed": (dict(cert="other-ca.pem", key="other-ca.key"), {"chain", "purpose"},
                    "--ca"),
    "mismatched_key": (dict(cert="server-fullchain.pem", key="server-ec.key"), {"pair"},
                       "must print the same hash"),
    "expired": (dict(cert="server-expired-fullchain.pem", key="server-expired.key"),
                {"validity"}, "Renew"),
    "not_yet_valid": (dict(cert="server-notyet-fullchain.pem", key="server-notyet.key"),
                      {"validity"}, "clock"),
    "wrong_host": (dict(cert="server-fullchain.pem", key="server.key", host="broker.example.org"),
                   {"host"}, "subjectAltName = DNS:broker.example.org"),
    "wrong_ip": (dict(cert="server-fullchain.pem", key="server.key", host="192.0.2.7"), {"host"},
                 "subjectAltName = IP:192.0.2.7"),
    "weak_key": (dict(cert="server-rsa1024-fullchain.pem", key="server-rsa1024.key"),
                 {"strength"}, "at least 2048 bits"),
    "sha1_signature": (dict(cert="server-sha1-fullchain.pem", key="server-sha1.key"),
                       {"strength"}, "SHA-256"),
    "unusual_curve": (dict(cert="server-k256-fullchain.pem", key="server-k256.key"), set(),
                      None),
    "leaf_is_ca": (dict(cert="server-ca.pem", chain="int.pem", key="server-ca.key",
                        host="localhost"), set(), None),
    "root_in_chain": (dict(cert="server-chain-with-root.pem", key="server.key"), set(), None),
    "expires_soon": (dict(cert="server-expiring-fullchain.pem", key="server-expiring.key"),
                     set(), None),
    "no_san_host_by_cn": (dict(cert="server-nosan-fullchain.pem", key="server-nosan.key",
                               host="localhost"), set(), None),
    "x509_v1": (dict(cert="server-v1.pem", chain="int.pem", key="server-v1.key",
                     host="localhost"), set(), None),
    "bad_key_usage": (dict(cert="server-badku.pem", chain="int.pem", key="server-badku.key"),
                      {"purpose"}, "keyUsage = critical, digitalSignature"),
    "client_cert_as_server": (dict(cert="server-clientauth-fullchain.pem",
                                   key="server-clientauth.key"), {"purpose"}, "serverAuth"),
    "client_cert_used_as_server": (dict(cert="client-fullchain.pem", key="client.key"),
                                   {"purpose"}, "serverAuth"),
    "client_cert_as_client": (dict(cert="client-fullchain.pem", key="client.key",
                                   purpose="client"), set(), None),
    "server_cert_as_client": (dict(cert="server-fullchain.pem", key="server.key",
                                   purpose="client"), {"purpose"}, "clientAuth"),
    "encrypted_key": (dict(cert="server-fullchain.pem", key="server-enc.key"), {"key"},
                      "--key-password"),
    "encrypted_key_traditional": (dict(cert="server-fullchain.pem", key="server-enc-trad.key"),
                                  {"key"}, "--key-password"),
    "encrypted_key_with_password": (dict(cert="server-fullchain.pem", key="server-enc.key",
                                         password="secret"), set(), None),
    "encrypted_key_wrong_password": (dict(cert="server-fullchain.pem", key="server-enc.key",
                                          password="wrong"), {"key"}, "--key-password"),
    "der_certificate": (dict(cert="server.der", key="server.key"), {"pem"},
                        "openssl x509 -inform der"),
    "swapped": (dict(cert="server.key", key="server-fullchain.pem"), {"pem"},
                "Set --cert to the certificate"),
}

# Warnings each case must show (check id: code).
WARNINGS = {
    "leaf_is_ca": {"purpose": "leaf_is_ca"},
    "root_in_chain": {"root": "root_included"},
    "expires_soon": {"validity": "expires_soon"},
    "no_san_host_by_cn": {"san": "no_san"},
    "x509_v1": {"x509v3": "not_v3", "san": "no_san"},
    "unusual_curve": {"strength": "unusual_curve"},
    "wrong_order": {"root": "root_included"},
}


def check_args(pki, o, json_out=True):
    args = ["check", "--cert", pki(o["cert"])]
    for opt in ("chain", "key", "host", "purpose"):
        if o.get(opt):
            args += ["--" + opt, o[opt] if opt in ("host", "purpose") else pki(o[opt])]
    args += ["--ca", pki(o.get("ca", "ca.pem"))]
    if o.get("partial"):
        args.append("--partial-chain")
    if o.get("password"):
        args += ["--key-password", o["password"]]
    if json_out:
        args.append("--json")
    return args


def run_check(pki, o):
    r = run(*check_args(pki, o))
    assert r.returncode in (0, 1), r.stdout + r.stderr
    d = json.loads(r.stdout)
    return r, d


def statuses(d):
    return {c["id"]: c["status"] for c in d["checks"]}


# ------------------------------------------------ what openssl says

def leaf_file(pki, o):
    """The leaf as a file of its own, and the rest of the certificates as
    the untrusted chain, as openssl verify takes them."""
    certs = pki.certs(o["cert"]) + (pki.certs(o["chain"]) if o.get("chain") else [])
    return certs


def openssl_verify(pki, o, tmp_path):
    certs = leaf_file(pki, o)
    key_pub = None
    if o.get("key") and o["key"] != "server-fullchain.pem":
        k = ossl("pkey", "-in", pki(o["key"]), "-pubout", "-passin", "pass:" + (o.get("password")
                                                                               or "x"))
        key_pub = k.stdout if k.returncode == 0 else None
    # The leaf is the certificate of the key (the order may be wrong).
    leaf = certs[0]
    for c in certs:
        p = tmp_path / "c.pem"
        p.write_text(c)
        pub = ossl("x509", "-in", str(p), "-pubkey", "-noout").stdout
        if key_pub and pub == key_pub:
            leaf = c
            break
    else:
        for c in certs:  # no key: the first certificate that is not a CA
            p = tmp_path / "c.pem"
            p.write_text(c)
            if "CA:TRUE" not in ossl("x509", "-in", str(p), "-noout", "-text").stdout:
                leaf = c
                break
    (tmp_path / "leaf.pem").write_text(leaf)
    (tmp_path / "untrusted.pem").write_text("".join(certs))
    args = ["verify", "-auth_level", "2", "-CAfile", pki(o.get("ca", "ca.pem")),
            "-untrusted", str(tmp_path / "untrusted.pem"),
            "-purpose", "sslclient" if o.get("purpose") == "client" else "sslserver"]
    if o.get("partial"):
        args.append("-partial_chain")
    host = o.get("host")
    if host:
        args += ["-verify_ip" if re.fullmatch(r"[0-9.]+|[0-9a-f:]+", host) else
                 "-verify_hostname", host]
    r = ossl(*args, str(tmp_path / "leaf.pem"))
    errors = {(int(c), int(d)) for c, d in
              re.findall(r"error (\d+) at (\d+) depth lookup", r.stdout + r.stderr)}
    assert errors or r.returncode == 0, r.stdout + r.stderr
    return errors


def openssl_items(errors):
    """Which of moat's checks each openssl verify error belongs to."""
    items = set()
    for code, depth in errors:
        if code in (2, 18, 19, 20, 21, 24):
            items.add("chain")
        elif code in (9, 10):
            items.add("validity" if depth == 0 else "chain")
        elif code == 26:
            items.add("purpose" if depth == 0 else "chain")
        elif code in (62, 64):
            items.add("host")
        elif code in (66, 67, 68):
            items.add("strength")
        else:
            items.add("openssl error %d" % code)
    return items


def webinar_pair_ok(pki, o, tmp_path):
    """verify.sh: the public key of the key and of the certificate hash the
    same. (None when the key does not open; the first certificate of the
    file, as verify.sh takes it, and any certificate of the files.)"""
    k = ossl("pkey", "-in", pki(o["key"]), "-pubout", "-outform", "pem",
             "-passin", "pass:" + (o.get("password") or ""))
    if k.returncode != 0:
        return None, None
    key_hash = hashlib.sha256(k.stdout.encode()).digest()
    hashes = []
    for i, pem in enumerate(leaf_file(pki, o)):
        p = tmp_path / ("pair%d.pem" % i)
        p.write_text(pem)
        c = ossl("x509", "-in", str(p), "-pubkey", "-noout", "-outform", "pem")
        hashes.append(hashlib.sha256(c.stdout.encode()).digest())
    return hashes[0] == key_hash, key_hash in hashes


def webinar_trace_ordered(pki, o, tmp_path):
    """trace.sh: each certificate's issuer is the next one's subject."""
    p = tmp_path / "all.pem"
    p.write_text("".join(leaf_file(pki, o)))
    r = subprocess.run("openssl crl2pkcs7 -nocrl -certfile %s | openssl pkcs7 -print_certs "
                       "-noout" % p, shell=True, capture_output=True, text=True, timeout=60)
    subjects = re.findall(r"^subject=(.*)$", r.stdout, re.M)
    issuers = re.findall(r"^issuer=(.*)$", r.stdout, re.M)
    assert subjects and len(subjects) == len(issuers), r.stdout + r.stderr
    return all(issuers[i] == subjects[i + 1] for i in range(len(subjects) - 1))


# ----------------------------------------------------------------- check

@pytest.mark.parametrize("case", sorted(CASES))
def test_check_agrees_with_openssl(pki, tmp_path, case):
    o, fails, fix_words = CASES[case]
    r, d = run_check(pki, o)
    st = statuses(d)
    failing = {k for k, v in st.items() if v == "error"}
    assert failing == fails, "%s: failing %s, expected %s\n%s" % (case, failing, fails, r.stdout)
    assert r.returncode == (1 if fails else 0)
    assert d["verdict"] == ("fail" if fails else "warn" if d["warnings"] else "ok")
    if "pem" in fails:
        return  # nothing for openssl to verify
    if "key" not in fails:
        # openssl verify's verdict on chain, validity, purpose, host, strength.
        ossl_items = openssl_items(openssl_verify(pki, o, tmp_path))
        assert failing & VERIFIED == ossl_items, \
            "%s: moat %s, openssl %s\n%s" % (case, failing & VERIFIED, ossl_items, r.stdout)
    if o.get("key"):
        first, anywhere = webinar_pair_ok(pki, o, tmp_path)
        if first is None:  # the key does not open: openssl pkey agrees
            assert st["key"] == "error" and st["pair"] == "skipped", st
        else:
            assert (st["pair"] == "ok") == anywhere, (st["pair"], anywhere)
            # verify.sh on the file's first certificate: a mismatch there is
            # a wrong key or a wrong order, and moat says which.
            assert first or st["pair"] == "error" or st["order"] == "error", st
    assert (st["order"] != "error") == webinar_trace_ordered(pki, o, tmp_path), st
    for check_id, code in WARNINGS.get(case, {}).items():
        assert st[check_id] == "warning", (check_id, st)
        assert code in [f["code"] for f in d["findings"] if f["check"] == check_id]


@pytest.mark.parametrize("case", sorted(c for c in CASES if CASES[c][1]))
def test_every_failure_names_its_fix(pki, case):
    o, fails, fix_words = CASES[case]
    _, d = run_check(pki, o)
    errors = [f for f in d["findings"] if f["severity"] == "error"]
    assert errors
    for f in errors:
        assert len(f["fix"]) > 30, f
        assert f["check"] in fails, f
    assert any(fix_words in f["fix"] for f in errors), (fix_words, errors)
    # The text output: one line per check with its mark, then the fixes.
    r = run(*check_args(pki, o, json_out=False))
    assert r.returncode == 1
    for f in errors:
        assert "✗" in r.stdout and f["message"] in r.stdout
        assert f["fix"] in r.stdout.split("How to fix:", 1)[1], r.stdout
    assert re.search(r"NOT OK: \d+ error", r.stdout)


def test_check_text_checklist(pki):
    r = run("check", "--cert", pki("server-chain-with-root.pem"), "--key", pki("server.key"),
            "--ca", pki("ca.pem"), "--host", "localhost")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for title in ("PEM form", "X.509 v3", "private key", "key pair", "certificates", "chain",
                  "root", "validity", "host name", "subjectAltName", "purpose", "key strength",
                  "CA file"):
        assert re.search(r"^  [✓!✗-] %s" % re.escape(title), out, re.M), (title, out)
    assert re.search(r"^  ! root +the certificate file .* ends with the root CA", out, re.M), out
    assert "trust anchor from %s #1" % pki("ca.pem") in out
    assert "subject=CN=localhost,O=moat test" in out
    assert re.search(r"days left", out)
    assert "OK: 0 error(s), 1 warning(s)" in out


def test_check_without_ca_uses_system_store(pki):
    """Without --ca the chain is traced to the system's roots; the test root
    is not among them, which is a warning (the root may be a private CA)."""
    r = run("check", "--cert", pki("server-fullchain.pem"), "--key", pki("server.key"), "--json")
    d = json.loads(r.stdout)
    assert r.returncode == 0
    st = statuses(d)
    assert st["chain"] == "warning" and st["ca"] == "skipped"
    assert not d["anchored"]
    f = [f for f in d["findings"] if f["check"] == "chain"][0]
    assert "--ca" in f["fix"]


def test_check_key_password_file(pki, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    r = run("check", "--cert", pki("server-fullchain.pem"), "--key", pki("server-enc.key"),
            "--ca", pki("ca.pem"), "--key-password-file", str(pw))
    assert r.returncode == 0, r.stdout
    assert "encrypted, opened with the password given" in r.stdout
    assert "secret" not in r.stdout + r.stderr


def test_check_chain_json_trace(pki):
    _, d = run_check(pki, dict(cert="server-deep-shuffled.pem", key="server-deep.key"))
    subjects = [c["subject"] for c in d["chain"]]
    assert subjects == ["CN=deep.localhost,O=moat test", "CN=moat Deep Intermediate 2,O=moat test",
                        "CN=moat Deep Intermediate 1,O=moat test", "CN=moat Test Root CA,O=moat test"]
    assert d["anchored"] and d["chain"][-1]["anchor"]
    assert d["chain"][-1]["from"] == pki("ca.pem") + " #1"
    assert d["chain"][1]["from"] == pki("server-deep-shuffled.pem") + " #4"


def test_check_unreadable_certificate(pki, tmp_path):
    """The certificate does not load: the key is still checked, the rest is
    marked as not checked, and the PEM line says why."""
    r = run("check", "--cert", str(tmp_path / "missing.pem"), "--key", pki("server.key"),
            "--json")
    assert r.returncode == 1
    st = statuses(json.loads(r.stdout))
    assert st["pem"] == "error" and st["key"] == "ok" and st["pair"] == "skipped"
    assert st["chain"] == "skipped" and st["validity"] == "skipped"


@pytest.mark.parametrize("args", [
    [], ["--key", "x"], ["--cert", "a", "--purpose", "both"], ["--cert", "a", "--bogus"],
    ["--cert"], ["--cert", "a", "extra"],
    ["--cert", "a", "--key-password", "x", "--key-password-file", "y"],
])
def test_check_usage_errors(args):
    r = run("check", *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr


def test_check_help():
    r = run("check", "--help")
    assert r.returncode == 0 and "--purpose" in r.stdout


# ------------------------------------------------------------------ show

def openssl_field(path_pem, *opt):
    return ossl("x509", "-in", path_pem, "-noout", *opt, check=True).stdout.strip()


def ssl_time(s):
    return datetime.strptime(s, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=timezone.utc)


SHOW_FILES = sorted(
    ["ca.pem", "int.pem", "ca-bundle.pem", "server.pem", "server.key", "server-fullchain.pem",
     "server-chain-with-root.pem", "server-reversed.pem", "server-misordered.pem",
     "server-enc.key", "server-enc-trad.key", "server-ec.pem", "server-ec.key",
     "server-expired.pem", "server-notyet.pem", "server-expiring.pem", "server-rsa1024.pem",
     "server-nosan.pem", "server-clientauth.pem", "server-sha1.pem", "server-k256.pem",
     "client.pem", "client.key", "client-fullchain.pem", "other-ca.pem", "server-ca.pem",
     "server-badku.pem", "server-v1.pem", "server-deep-shuffled.pem", "server-with-key.pem",
     "server.der", "server.csr", "dh.pem", "le/live/example/fullchain.pem"])


@pytest.mark.parametrize("name", SHOW_FILES)
def test_show_json_fields(pki, tmp_path, name):
    r = run("show", "--json", pki(name))
    assert r.returncode == 0, r.stdout + r.stderr
    d = json.loads(r.stdout)
    (f,) = d["files"]
    assert f["file"] == pki(name) and f["readable"]
    pems = [ssl.DER_cert_to_PEM_cert(Path(pki(name)).read_bytes())] if name.endswith(".der") \
        else pki.certs(name)
    assert f["format"] == ("DER" if name.endswith(".der") else "PEM")
    assert len(f["certificates"]) == len(pems)
    for i, (c, pem) in enumerate(zip(f["certificates"], pems)):
        p = tmp_path / ("c%d.pem" % i)
        p.write_text(pem)
        assert c["index"] == i + 1
        assert c["sha256"] == hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
        assert c["subject"] == openssl_field(str(p), "-subject", "-nameopt", "RFC2253") \
            .split("=", 1)[1].strip()
        assert c["issuer"] == openssl_field(str(p), "-issuer", "-nameopt", "RFC2253") \
            .split("=", 1)[1].strip()
        assert int(c["serial"], 16) == int(openssl_field(str(p), "-serial").split("=")[1], 16)
        end = ssl_time(openssl_field(str(p), "-enddate").split("=", 1)[1])
        assert c["not_after"] == end.strftime("%Y-%m-%dT%H:%M:%SZ")
        start = ssl_time(openssl_field(str(p), "-startdate").split("=", 1)[1])
        assert c["not_before"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
        now = datetime.now(timezone.utc)
        assert abs(c["days_left"] - (end - now).total_seconds() / 86400) <= 1
        assert c["expired"] == (end < now)
        text = openssl_field(str(p), "-text")
        m = re.search(r"Public-Key: \((\d+) bit\)", text)
        assert c["key"]["bits"] == int(m.group(1))
        assert c["key"]["type"] == ("RSA" if "rsaEncryption" in text else "EC")
        m = re.search(r"Subject Alternative Name:.*?\n\s+(.*)\n", text)
        san = m.group(1) if m else ""
        for dns in c["san"]["dns"]:
            assert "DNS:" + dns in san
        for ip in c["san"]["ip"]:
            assert "IP Address:" + ip in san
        assert len(c["san"]["dns"]) + len(c["san"]["ip"]) + len(c["san"]["email"]) + \
            len(c["san"]["uri"]) == (san.count(",") + 1 if san else 0)
        bc = re.search(r"Basic Constraints:.*\n\s+CA:(TRUE|FALSE)(?:, pathlen:(\d+))?", text)
        if bc:
            assert c["basic_constraints"]["ca"] == (bc.group(1) == "TRUE")
            assert c["basic_constraints"]["path_len"] == (int(bc.group(2)) if bc.group(2)
                                                          else None)
        else:
            assert c["basic_constraints"] is None
        assert ("serverAuth" in (c["ext_key_usage"] or [])) == \
            ("TLS Web Server Authentication" in text)
        assert ("keyCertSign" in (c["key_usage"] or [])) == ("Certificate Sign" in text)
        ski = re.search(r"Subject Key Identifier:.*\n\s+([0-9A-F:]+)", text)
        assert c["subject_key_id"] == (ski.group(1) if ski else None)
        aki = re.search(r"Authority Key Identifier:.*\n\s+(?:keyid:)?([0-9A-F:]+)", text)
        assert c["authority_key_id"] == (aki.group(1) if aki else None)
        assert c["version"] == int(re.search(r"Version: (\d)", text).group(1))
        assert c["self_signed"] == (c["subject"] == c["issuer"])
    keys = re.findall(r"-----BEGIN ([A-Z ]*PRIVATE KEY)-----", Path(pki(name)).read_text(
        errors="replace")) if not name.endswith(".der") else []
    assert [k["label"] for k in f["private_keys"]] == keys
    for k in f["private_keys"]:
        assert k["encrypted"] == (name in ("server-enc.key", "server-enc-trad.key"))
        assert k["decrypted"] == (not k["encrypted"])
        if k["decrypted"]:
            bits = re.search(r"(\d+) bit", ossl("pkey", "-in", pki(name), "-noout", "-text")
                             .stdout).group(1)
            assert k["bits"] == int(bits)
    if name == "server.csr":
        assert f["other"] == ["CERTIFICATE REQUEST"]


def test_show_matches_keys_to_certificates(pki):
    r = run("show", "--json", "--key-password", "secret", pki("server-fullchain.pem"),
            pki("server-enc.key"), pki("server-ec.key"), pki("server-ec.pem"))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    full, enc, eckey, ecpem = d["files"]
    assert full["certificates"][0]["private_keys"] == [{"file": pki("server-enc.key"),
                                                        "index": 1}]
    assert full["certificates"][1]["private_keys"] == []
    k = enc["private_keys"][0]
    assert k["encrypted"] and k["decrypted"] and k["bits"] == 2048 and k["type"] == "RSA"
    assert k["certificates"] == [{"file": pki("server-fullchain.pem"), "index": 1,
                                  "subject": "CN=localhost,O=moat test"}]
    assert eckey["private_keys"][0]["certificates"][0]["file"] == pki("server-ec.pem")
    assert eckey["private_keys"][0]["description"] == "EC P-256"


def test_show_text(pki):
    r = run("show", pki("server-with-key.pem"), pki("server-enc-trad.key"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for field in ("Subject:", "Issuer:", "Serial:", "Validity:", "days left", "SubjectAltName:",
                  "DNS:localhost, IP:127.0.0.1", "Public key:       RSA 2048", "Key usage:",
                  "Ext. key usage:   serverAuth", "Basic constr.:    CA:FALSE",
                  "Subject key ID:", "Authority key ID:", "SHA-256:",
                  "Private key:      key #1 in " + pki("server-with-key.pem"),
                  "Belongs to:       certificate #1 in " + pki("server-with-key.pem"),
                  "encrypted (give --key-password to open it)",
                  "(certificate #2 in this file)"):
        assert field in out, (field, out)
    fp = hashlib.sha256(pki.der("server.pem")).hexdigest().upper()
    assert ":".join(fp[i:i + 2] for i in range(0, 64, 2)) in out


def test_show_unreadable_files(pki, tmp_path):
    r = run("show", "--json", pki("server.p12"), str(tmp_path / "missing.pem"))
    assert r.returncode == 1
    d = json.loads(r.stdout)
    assert [f["readable"] for f in d["files"]] == [False, False]
    assert d["files"][0]["findings"][0]["code"] == "not_pem"
    assert d["files"][1]["findings"][0]["code"] == "file_missing"
    r = run("show")
    assert r.returncode == 2


# ------------------------------------------------------- split / bundle

def verify_fullchain(pki, path, ca="ca.pem"):
    first = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n",
                       Path(path).read_text(), re.S)[0]
    leaf = Path(str(path) + ".leaf")
    leaf.write_text(first)
    r = ossl("verify", "-CAfile", pki(ca), "-untrusted", str(path), str(leaf))
    return r.returncode == 0 and ": OK" in r.stdout


def test_split_then_bundle_round_trip(pki, tmp_path):
    out = tmp_path / "split"
    out.mkdir()
    r = run("split", pki("server-chain-with-root.pem"), "--out-dir", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "The order in the file is right" in r.stdout
    assert (out / "cert.pem").read_text() == pki.text("server.pem")
    assert (out / "chain.pem").read_text() == pki.text("int.pem")
    assert (out / "root.pem").read_text() == pki.text("ca.pem")
    r = run("bundle", str(out / "root.pem"), str(out / "chain.pem"), str(out / "cert.pem"),
            "--out", str(tmp_path / "full.pem"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "full.pem").read_text() == pki.text("server-fullchain.pem")
    assert "the root, not included" in r.stdout
    assert verify_fullchain(pki, tmp_path / "full.pem")
    # And the result passes moat's own check.
    c = run("check", "--cert", str(tmp_path / "full.pem"), "--key", pki("server.key"),
            "--ca", pki("ca.pem"))
    assert c.returncode == 0, c.stdout


def test_split_wrong_order(pki, tmp_path):
    r = run("split", pki("server-deep-shuffled.pem"), "--out-dir", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "The order in the file is WRONG" in r.stdout
    assert "Traced subject → issuer: #3 → #4 → #1 → #2" in r.stdout
    assert (tmp_path / "cert.pem").read_text() == pki.text("server-deep.pem")
    assert (tmp_path / "chain.pem").read_text() == pki.text("deep-int2.pem") + \
        pki.text("deep-int1.pem")
    assert (tmp_path / "root.pem").read_text() == pki.text("ca.pem")
    # Without the root, bundle cannot tell that the chain is complete.
    r = run("bundle", str(tmp_path / "cert.pem"), str(tmp_path / "chain.pem"))
    assert r.returncode == 2 and "cannot be completed" in r.stderr
    r = run("bundle", str(tmp_path / "chain.pem"), str(tmp_path / "cert.pem"),
            str(tmp_path / "root.pem"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == pki.text("server-deep-fullchain.pem")


def test_split_without_root_and_refusals(pki, tmp_path):
    r = run("split", pki("server-reversed.pem"), "--out-dir", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WRONG" in r.stdout and "no root.pem" in r.stdout
    assert not (tmp_path / "root.pem").exists()
    assert (tmp_path / "cert.pem").read_text() == pki.text("server.pem")
    before = (tmp_path / "cert.pem").stat().st_mtime_ns
    r = run("split", pki("server-fullchain.pem"), "--out-dir", str(tmp_path))
    assert r.returncode == 2 and "--force" in r.stderr
    assert (tmp_path / "cert.pem").stat().st_mtime_ns == before
    r = run("split", pki("server-ec-fullchain.pem"), "--out-dir", str(tmp_path), "--force")
    assert r.returncode == 0
    assert (tmp_path / "cert.pem").read_text() == pki.text("server-ec.pem")
    odd = tmp_path / "odd.pem"
    odd.write_text(pki.text("server-fullchain.pem") + pki.text("other-ca.pem"))
    r = run("split", str(odd), "--out-dir", str(tmp_path / "nope"))
    assert r.returncode == 2 and "not in the chain" in r.stderr
    r = run("split", pki("ca.pem"), "--out-dir", str(tmp_path))
    assert r.returncode == 2 and "self-signed" in r.stderr
    assert run("split").returncode == 2


def test_bundle_completes_missing_intermediate_from_ca_dir(pki, tmp_path):
    cadir = tmp_path / "cas"
    cadir.mkdir()
    for n in ("deep-int1.pem", "deep-int2.pem", "ca.pem", "int.pem", "other-ca.pem"):
        shutil.copy(pki(n), cadir / n)
    (cadir / "notes.txt").write_text("not a certificate\n")
    r = run("bundle", pki("server-deep.pem"), "--ca-dir", str(cadir), "--out",
            str(tmp_path / "full.pem"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "full.pem").read_text() == pki.text("server-deep-fullchain.pem")
    assert r.stdout.count("added from --ca-dir") == 2
    assert verify_fullchain(pki, tmp_path / "full.pem")
    # Refuses to overwrite, and to go on without the intermediates.
    r = run("bundle", pki("server-deep.pem"), "--ca-dir", str(cadir), "--out",
            str(tmp_path / "full.pem"))
    assert r.returncode == 2 and "--force" in r.stderr
    r = run("bundle", pki("server-deep.pem"))
    assert r.returncode == 2 and r.stdout == ""
    assert "cannot be completed" in r.stderr and "CN=moat Deep Intermediate 2" in r.stderr
    assert "--ca-dir" in r.stderr


def test_bundle_lets_encrypt_layout_and_extra_files(pki, tmp_path):
    cadir = tmp_path / "cas"
    cadir.mkdir()
    shutil.copy(pki("ca.pem"), cadir)
    r = run("bundle", pki("le/live/example/chain.pem"), pki("le/live/example/cert.pem"),
            pki("le/live/example/privkey.pem"), pki("server-ec.pem"), "--ca-dir", str(cadir))
    assert r.returncode == 0, r.stderr
    assert r.stdout == pki.text("le/live/example/fullchain.pem")
    assert "left out: CN=localhost,O=moat test" in r.stderr
    # Two leaves and no key: which one is meant?
    r = run("bundle", pki("server.pem"), pki("server-ec.pem"), pki("int.pem"), "--ca-dir",
            str(cadir))
    assert r.returncode == 2 and "more than one" in r.stderr
