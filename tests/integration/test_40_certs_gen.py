# SPDX-License-Identifier: Apache-2.0
"""`moat certs gen`, `moat certs dev` and the development certificates made
at first start (node.dev_certs = auto).

What is generated must satisfy the tools our users check with: `openssl
verify` (chain and purpose), `openssl x509 -text` (the extensions), and
mosquitto_sub / mosquitto_pub against moat, two-way TLS included.

The first-start path is exercised on random ports: node.dev_certs = auto is
what the built-in configuration (moat without -c) sets, and a test file can
set it with listeners of its own that name no certificate files. moat
without -c itself binds the fixed ports 1883, 8883 and 8084; that test runs
only when they are free.
"""

import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PahoClient, moat_bin, wait_until
from tlsutil import MUTUAL, free_ports, mosquitto, ssl_listener, wait_port


def certs(*args, cwd, check=True):
    """moat certs ARGS in cwd, with umask 022; CompletedProcess, .out = both."""
    r = subprocess.run([moat_bin(), "certs"] + list(args), cwd=str(cwd), capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL,
                       preexec_fn=lambda: os.umask(0o022))
    r.out = r.stdout + r.stderr
    if check:
        assert r.returncode == 0, "moat certs %s failed (%d):\n%s" % (" ".join(args),
                                                                       r.returncode, r.out)
    return r


def openssl(*args, check=True):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, timeout=60)
    r.out = r.stdout + r.stderr
    if check:
        assert r.returncode == 0, "openssl %s failed:\n%s" % (" ".join(args), r.out)
    return r


def x509_text(path):
    return openssl("x509", "-in", str(path), "-noout", "-text").stdout


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def pem_count(path):
    return Path(path).read_text().count("-----BEGIN CERTIFICATE-----")


def make_pki(d):
    """ca, int (signed by ca), server and client (signed by int) in d."""
    certs("gen", "ca", "--cn", "Test Root CA", cwd=d)
    certs("gen", "intermediate", "--ca", "ca.pem", "--ca-key", "ca.key", cwd=d)
    certs("gen", "server", "--ca", "int.pem", "--ca-key", "int.key", cwd=d)
    certs("gen", "client", "--cn", "device-001", "--ca", "int.pem", "--ca-key", "int.key", cwd=d)


# ------------------------------------------------------------------ gen

def test_gen_chain_verifies_with_openssl(tmp_path):
    make_pki(tmp_path)
    d = tmp_path
    for f in ("ca.key", "int.key", "server.key", "client.key"):
        assert mode(d / f) == 0o600, f
    for f in ("ca.pem", "int.pem", "server.pem", "server-fullchain.pem", "client.pem",
              "client-fullchain.pem"):
        assert mode(d / f) == 0o644, f
    assert not [p for p in os.listdir(d) if ".tmp" in p]

    v = openssl("verify", "-CAfile", str(d / "ca.pem"), "-untrusted", str(d / "int.pem"),
                str(d / "server.pem"))
    assert v.stdout.strip().endswith("server.pem: OK")
    openssl("verify", "-CAfile", str(d / "ca.pem"), "-untrusted", str(d / "int.pem"),
            "-purpose", "sslserver", str(d / "server.pem"))
    openssl("verify", "-CAfile", str(d / "ca.pem"), "-untrusted", str(d / "int.pem"),
            "-purpose", "sslclient", str(d / "client.pem"))
    openssl("verify", "-CAfile", str(d / "ca.pem"), str(d / "int.pem"))
    # wrong purposes and a missing intermediate are refused
    assert openssl("verify", "-CAfile", str(d / "ca.pem"), "-untrusted", str(d / "int.pem"),
                   "-purpose", "sslclient", str(d / "server.pem"), check=False).returncode != 0
    assert openssl("verify", "-CAfile", str(d / "ca.pem"), "-untrusted", str(d / "int.pem"),
                   "-purpose", "sslserver", str(d / "client.pem"), check=False).returncode != 0
    assert openssl("verify", "-CAfile", str(d / "ca.pem"), str(d / "server.pem"),
                   check=False).returncode != 0
    # the fullchain is leaf + intermediate, never the root: -untrusted
    # with it alone completes the chain
    assert pem_count(d / "server-fullchain.pem") == 2
    assert pem_count(d / "client-fullchain.pem") == 2
    assert (d / "ca.pem").read_text() not in (d / "server-fullchain.pem").read_text()
    openssl("verify", "-CAfile", str(d / "ca.pem"), "-untrusted",
            str(d / "server-fullchain.pem"), str(d / "server.pem"))


def test_gen_extensions(tmp_path):
    make_pki(tmp_path)
    ca = x509_text(tmp_path / "ca.pem")
    assert re.search(r"Basic Constraints: critical\s+CA:TRUE\s", ca)
    assert re.search(r"Key Usage: critical\s+Certificate Sign, CRL Sign\s", ca)
    assert "Subject Key Identifier" in ca
    assert "Extended Key Usage" not in ca
    assert "Subject: CN = Test Root CA" in ca
    assert "Version: 3 (0x2)" in ca

    inter = x509_text(tmp_path / "int.pem")
    assert re.search(r"Basic Constraints: critical\s+CA:TRUE, pathlen:0", inter)
    assert re.search(r"Key Usage: critical\s+Certificate Sign, CRL Sign\s", inter)
    assert "Authority Key Identifier" in inter

    srv = x509_text(tmp_path / "server.pem")
    assert re.search(r"Basic Constraints:\s+CA:FALSE", srv)
    assert re.search(r"Key Usage: critical\s+Digital Signature\s", srv)
    assert re.search(r"Extended Key Usage:\s+TLS Web Server Authentication\s", srv)
    assert re.search(r"Subject Alternative Name:\s+DNS:localhost, IP Address:127.0.0.1, "
                     r"IP Address:0:0:0:0:0:0:0:1", srv)
    assert "Subject Key Identifier" in srv and "Authority Key Identifier" in srv
    assert "ecdsa-with-SHA256" in srv
    # the SKI of the intermediate is the AKI of what it signed
    ski = re.search(r"Subject Key Identifier:\s+([0-9A-F:]+)", inter).group(1)
    aki = re.search(r"Authority Key Identifier:\s+(?:keyid:)?([0-9A-F:]+)", srv).group(1)
    assert ski == aki

    cli = x509_text(tmp_path / "client.pem")
    assert re.search(r"Extended Key Usage:\s+TLS Web Client Authentication\s", cli)
    assert "Subject: CN = device-001" in cli
    assert "Subject Alternative Name" not in cli

    # serials: 128 random bits, all different
    serials = {openssl("x509", "-in", str(tmp_path / f), "-noout", "-serial").stdout
               for f in ("ca.pem", "int.pem", "server.pem", "client.pem")}
    assert len(serials) == 4
    for s in serials:
        assert len(s.strip().split("=")[1]) == 32


def test_gen_server_names_and_rsa(tmp_path):
    certs("gen", "ca", cwd=tmp_path)
    r = certs("gen", "server", "--cn", "mqtt.example.com", "--san", "IP:192.0.2.7,mqtt2.example.com",
              "--key", "rsa2048", "--days", "90", "--org", "Example", cwd=tmp_path)
    # the default CA in the directory was used, and the output says what next
    assert "signing with ca.pem and ca.key" in r.out
    assert "listener.ssl.external.certfile = %s" % (tmp_path / "server-fullchain.pem") in r.out
    assert "mosquitto_sub -h mqtt.example.com -p 8883 --cafile %s" % (tmp_path / "ca.pem") in r.out
    t = x509_text(tmp_path / "server.pem")
    assert "DNS:mqtt.example.com, IP Address:192.0.2.7, DNS:mqtt2.example.com" in t
    assert re.search(r"Key Usage: critical\s+Digital Signature, Key Encipherment", t)
    assert "Public-Key: (2048 bit)" in t
    assert "Subject: O = Example, CN = mqtt.example.com" in t
    start = openssl("x509", "-in", str(tmp_path / "server.pem"), "-noout", "-startdate",
                    "-enddate").stdout
    assert "notBefore" in start and "notAfter" in start
    # -checkend: valid in 89 days, not in 91
    assert openssl("x509", "-in", str(tmp_path / "server.pem"), "-noout", "-checkend",
                   str(89 * 86400), check=False).returncode == 0
    assert openssl("x509", "-in", str(tmp_path / "server.pem"), "-noout", "-checkend",
                   str(91 * 86400), check=False).returncode != 0
    # signed by the root directly: the fullchain is the leaf alone
    assert pem_count(tmp_path / "server-fullchain.pem") == 1
    openssl("verify", "-CAfile", str(tmp_path / "ca.pem"), "-purpose", "sslserver",
            str(tmp_path / "server.pem"))


@pytest.mark.parametrize("key,text,sig", [
    ("ec256", "Public-Key: (256 bit)", "ecdsa-with-SHA256"),
    ("ec384", "Public-Key: (384 bit)", "ecdsa-with-SHA384"),
    ("ed25519", "ED25519", "ED25519"),
    ("rsa2048", "Public-Key: (2048 bit)", "sha256WithRSAEncryption"),
    ("rsa3072", "Public-Key: (3072 bit)", "sha256WithRSAEncryption"),
    ("rsa4096", "Public-Key: (4096 bit)", "sha256WithRSAEncryption"),
])
def test_gen_key_types(tmp_path, key, text, sig):
    certs("gen", "ca", "--key", key, cwd=tmp_path)
    certs("gen", "client", "--key", key, cwd=tmp_path)
    for f in ("ca.pem", "client.pem"):
        t = x509_text(tmp_path / f)
        assert text in t, f
        assert "Signature Algorithm: %s" % sig in t, f
    assert mode(tmp_path / "client.key") == 0o600
    openssl("verify", "-CAfile", str(tmp_path / "ca.pem"), "-purpose", "sslclient",
            str(tmp_path / "client.pem"))
    # the key file is the certificate's
    pub1 = openssl("x509", "-in", str(tmp_path / "client.pem"), "-noout", "-pubkey").stdout
    pub2 = openssl("pkey", "-in", str(tmp_path / "client.key"), "-pubout").stdout
    assert pub1 == pub2


def test_gen_errors_name_the_fix(tmp_path):
    d = tmp_path
    r = certs("gen", "server", cwd=d, check=False)
    assert r.returncode == 2 and "moat certs gen ca" in r.stderr
    certs("gen", "ca", cwd=d)
    certs("gen", "ca", "--name", "other", cwd=d)
    certs("gen", "server", "--cn", "localhost", cwd=d)

    r = certs("gen", "client", "--ca", "ca.pem", cwd=d, check=False)
    assert r.returncode == 2
    assert "--ca needs --ca-key" in r.stderr and "--ca-key ca.key" in r.stderr
    r = certs("gen", "client", "--ca-key", "ca.key", cwd=d, check=False)
    assert r.returncode == 2 and "--ca-key needs --ca" in r.stderr
    r = certs("gen", "client", "--ca", "ca.pem", "--ca-key", "other.key", cwd=d, check=False)
    assert r.returncode == 2 and "other.key is not the private key of ca.pem" in r.stderr
    r = certs("gen", "client", "--ca", "server.pem", "--ca-key", "server.key", cwd=d, check=False)
    assert r.returncode == 2 and "is not a CA certificate" in r.stderr
    r = certs("gen", "client", "--ca", "ca.key", "--ca-key", "ca.pem", cwd=d, check=False)
    assert r.returncode == 2 and "holds a private key, not a certificate" in r.stderr
    certs("gen", "intermediate", cwd=d)
    r = certs("gen", "intermediate", "--ca", "int.pem", "--ca-key", "int.key", "--name", "i2",
              cwd=d, check=False)
    assert r.returncode == 2 and "pathlen 0" in r.stderr
    r = certs("gen", "ca", "--ca", "ca.pem", "--ca-key", "ca.key", "--name", "x", cwd=d,
              check=False)
    assert r.returncode == 2 and "intermediate" in r.stderr
    r = certs("gen", "server", "--san", "DNS:bad name", "--name", "x", cwd=d, check=False)
    assert r.returncode == 2 and "is not a DNS name" in r.stderr
    r = certs("gen", "server", "--key", "rsa1024", "--name", "x", cwd=d, check=False)
    assert r.returncode == 2 and "ec256, ec384, ed25519, rsa2048, rsa3072, rsa4096" in r.stderr
    r = certs("gen", "server", "--cn", "My Broker", "--name", "x", cwd=d, check=False)
    assert r.returncode == 2 and "--san" in r.stderr
    r = certs("gen", "leaf", cwd=d, check=False)
    assert r.returncode == 2 and "expected ca, intermediate, server or client" in r.stderr
    r = certs("gen", "--help", cwd=d)
    assert "int.pem int.key" in r.stdout and "server-fullchain.pem" in r.stdout
    assert not (d / "x.pem").exists() and not (d / "x.key").exists()


def test_gen_refuses_to_overwrite(tmp_path):
    certs("gen", "ca", cwd=tmp_path)
    certs("gen", "server", cwd=tmp_path)
    before = {f: (tmp_path / f).read_bytes() for f in ("server.pem", "server.key", "ca.pem")}
    r = certs("gen", "server", cwd=tmp_path, check=False)
    assert r.returncode == 2 and "already exists" in r.stderr and "--force" in r.stderr
    r = certs("gen", "ca", cwd=tmp_path, check=False)
    assert r.returncode == 2 and "already exists" in r.stderr
    for f, data in before.items():
        assert (tmp_path / f).read_bytes() == data, f
    # --force replaces, and the key is 0600 whatever the old file's mode
    os.chmod(tmp_path / "server.key", 0o644)
    certs("gen", "server", "--force", cwd=tmp_path)
    assert (tmp_path / "server.pem").read_bytes() != before["server.pem"]
    assert mode(tmp_path / "server.key") == 0o600


def test_gen_out_dir_and_name(tmp_path):
    certs("gen", "ca", "--out-dir", "pki/root", cwd=tmp_path)
    certs("gen", "client", "--cn", "device-7", "--name", "device-7", "--out-dir", "pki/root",
          cwd=tmp_path)
    d = tmp_path / "pki" / "root"
    assert sorted(os.listdir(d)) == ["ca.key", "ca.pem", "device-7-fullchain.pem", "device-7.key",
                                     "device-7.pem"]
    assert mode(d / "device-7.key") == 0o600


# ------------------------------------------------------------------ dev

def test_dev_set(tmp_path):
    r = certs("dev", "--host", "mqtt.local,10.1.2.3", "--host", "other.local", cwd=tmp_path)
    d = tmp_path / "certs"
    assert sorted(os.listdir(d)) == sorted([
        "ca.pem", "ca.key", "server.pem", "server.key", "server-fullchain.pem", "client.pem",
        "client.key", "client-fullchain.pem"])
    for f in ("ca.key", "server.key", "client.key"):
        assert mode(d / f) == 0o600
    openssl("verify", "-CAfile", str(d / "ca.pem"), "-purpose", "sslserver", str(d / "server.pem"))
    openssl("verify", "-CAfile", str(d / "ca.pem"), "-purpose", "sslclient", str(d / "client.pem"))
    t = x509_text(d / "server.pem")
    for name in ("DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1",
                 "DNS:mqtt.local", "IP Address:10.1.2.3", "DNS:other.local"):
        assert name in t
    host = socket.gethostname()
    if re.fullmatch(r"[A-Za-z0-9_.-]+", host) and host != "localhost":
        assert "DNS:%s" % host in t
    assert "Subject: CN = moat-dev-client" in x509_text(d / "client.pem") or \
        "CN = moat-dev-client" in x509_text(d / "client.pem")
    # how to use it, with absolute paths
    assert "listener.ssl.dev.certfile = %s" % (d / "server-fullchain.pem") in r.stdout
    assert "--cafile %s" % (d / "ca.pem") in r.stdout
    assert "--cert %s --key %s" % (d / "client.pem", d / "client.key") in r.stdout
    # again: refused; --force: a new CA
    ca = (d / "ca.pem").read_bytes()
    r = certs("dev", cwd=tmp_path, check=False)
    assert r.returncode == 2 and "replace the whole set" in r.stderr
    assert (d / "ca.pem").read_bytes() == ca
    certs("dev", "--force", cwd=tmp_path)
    assert (d / "ca.pem").read_bytes() != ca


# ------------------------------------------------------------------ against moat

def _retained_roundtrip(port, topic, pub_args, sub_args):
    """Publish a retained message and read it back; returns the payload."""
    payload = "hello-%d" % port
    r = mosquitto("mosquitto_pub", port, "-t", topic, "-m", payload, "-r", "-q", "1", *pub_args)
    assert r.returncode == 0, "mosquitto_pub failed: %s" % r.out
    r = mosquitto("mosquitto_sub", port, "-t", topic, "-C", "1", "-W", "10", *sub_args)
    assert r.returncode == 0, "mosquitto_sub failed: %s" % r.out
    return r.stdout.strip(), payload


def test_generated_certs_two_way_tls_with_mosquitto(broker_factory, tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    (port,) = free_ports(1)
    lines = ssl_listener("gen", port, certfile=pki / "server-fullchain.pem",
                         keyfile=pki / "server.key", cacertfile=pki / "ca.pem", **MUTUAL)
    b = broker_factory(start=False)
    b.start(lines)
    wait_port(port)
    # moat's own checks found nothing to say about the generated files
    assert not re.search(r"\[(warning|error)\] listener ssl:gen", b.log), b.log_tail()
    client = ["--cafile", str(pki / "ca.pem"), "--cert", str(pki / "client-fullchain.pem"),
              "--key", str(pki / "client.key")]
    got, want = _retained_roundtrip(port, "certs/gen/two-way", client, client)
    assert got == want
    wait_until(lambda: re.search(r"client connected: .*listener=ssl:gen", b.log),
               what="connection log line")
    # without a client certificate: refused
    r = mosquitto("mosquitto_sub", port, "-t", "x", "-C", "1", "-W", "5", "--cafile",
                  str(pki / "ca.pem"))
    assert r.returncode != 0
    # a server certificate is no client certificate
    r = mosquitto("mosquitto_sub", port, "-t", "x", "-C", "1", "-W", "5", "--cafile",
                  str(pki / "ca.pem"), "--cert", str(pki / "server-fullchain.pem"), "--key",
                  str(pki / "server.key"))
    assert r.returncode != 0


def test_check_config_accepts_generated_files(tmp_path):
    make_pki(tmp_path)
    conf = tmp_path / "moat.conf"
    conf.write_text("\n".join([
        "node.data_dir = %s" % (tmp_path / "data"),
        "listener.ssl.external = 127.0.0.1:%d" % free_ports(1)[0],
        "listener.ssl.external.certfile = %s" % (tmp_path / "server-fullchain.pem"),
        "listener.ssl.external.keyfile = %s" % (tmp_path / "server.key"),
        "listener.ssl.external.cacertfile = %s" % (tmp_path / "ca.pem"),
    ]) + "\n")
    r = subprocess.run([moat_bin(), "--check-config", "-c", str(conf)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warning" not in r.stderr, r.stderr


# ------------------------------------------------------------------ first start

def test_first_start_makes_dev_certs(broker_factory):
    one_way, two_way, wss = free_ports(3)
    lines = ["node.dev_certs = auto",
             "listener.ssl.dev = 127.0.0.1:%d" % one_way,
             "listener.ssl.devmutual = 127.0.0.1:%d" % two_way,
             "listener.ssl.devmutual.verify = verify_peer",
             "listener.ssl.devmutual.fail_if_no_peer_cert = true",
             "listener.wss.devws = 127.0.0.1:%d" % wss]
    b = broker_factory(start=False)
    b.start(lines)
    for p in (one_way, two_way, wss):
        wait_port(p)
    certs_dir = Path(b.data_dir) / "certs"
    ca = certs_dir / "ca.pem"
    # made once, keys 0600, and the log says how clients trust it
    for f in ("ca.key", "server.key", "client.key"):
        assert mode(certs_dir / f) == 0o600
    log = b.log
    assert log.count("made a development CA") == 1
    assert "mosquitto_sub -h localhost -p %d --cafile %s -t '#' -v" % (one_way, ca) in log
    assert ("mosquitto_sub -h localhost -p %d --cafile %s --cert %s --key %s" %
            (two_way, ca, certs_dir / "client.pem", certs_dir / "client.key")) in log
    assert "wss://localhost:%d/mqtt" % wss in log
    assert not re.search(r"\[(warning|error)\]", log), b.log_tail()
    openssl("verify", "-CAfile", str(ca), "-purpose", "sslserver", str(certs_dir / "server.pem"))

    got, want = _retained_roundtrip(one_way, "certs/dev/one-way", ["--cafile", str(ca)],
                                    ["--cafile", str(ca)])
    assert got == want
    client = ["--cafile", str(ca), "--cert", str(certs_dir / "client.pem"), "--key",
              str(certs_dir / "client.key")]
    got, want = _retained_roundtrip(two_way, "certs/dev/two-way", client, client)
    assert got == want
    # MQTT over secure WebSocket, verifying the host name against the CA
    c = PahoClient(wss, ws="/mqtt", host="localhost",
                   tls={"ca_certs": str(ca), "tls_version": ssl.PROTOCOL_TLS_CLIENT})
    try:
        assert c.connect()["rc"] == 0
    finally:
        c.stop()

    # a restart uses the same set and says nothing about trusting it again
    ca_bytes = ca.read_bytes()
    srv_bytes = (certs_dir / "server.pem").read_bytes()
    b.restart()
    wait_port(one_way)
    assert b.log.count("made a development CA") == 1
    assert ca.read_bytes() == ca_bytes
    assert (certs_dir / "server.pem").read_bytes() == srv_bytes
    got, want = _retained_roundtrip(one_way, "certs/dev/again", ["--cafile", str(ca)],
                                    ["--cafile", str(ca)])
    assert got == want

    # a missing client file: new leaves from the same CA, clients unaffected
    (certs_dir / "client.key").unlink()
    b.restart()
    wait_port(one_way)
    assert "new server and client certificates" in b.log
    assert ca.read_bytes() == ca_bytes
    got, want = _retained_roundtrip(one_way, "certs/dev/renewed", ["--cafile", str(ca)],
                                    ["--cafile", str(ca)])
    assert got == want


def test_dev_certs_only_where_asked(broker_factory, pki):
    """A file without node.dev_certs makes no certificates, and a TLS
    listener with files of its own keeps them under auto."""
    (port,) = free_ports(1)
    b = broker_factory(start=False)
    b.start(["node.dev_certs = auto"] + ssl_listener("own", port, pki))
    wait_port(port)
    assert (Path(b.data_dir) / "certs" / "ca.pem").exists()  # auto: the set is made
    assert "made a development CA" in b.log
    out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                          "-servername", "localhost"], input="", capture_output=True, text=True,
                         timeout=20).stdout
    assert "moat Test Root CA" in out or "moat Test Intermediate CA" in out  # its own chain
    b2 = broker_factory()
    assert not (Path(b2.data_dir) / "certs").exists()
    assert "development" not in b2.log


def test_builtin_check_config_makes_nothing(tmp_path):
    r = subprocess.run([moat_bin(), "--check-config"], cwd=str(tmp_path), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "built-in defaults: configuration is valid" in r.stdout
    assert "ssl:default, wss:default" in r.stdout
    assert not (tmp_path / "data").exists()


def _ports_free(ports):
    for p in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("0.0.0.0", p))
            except OSError:
                return False
    return True


def test_builtin_defaults_first_start(tmp_path):
    """moat without -c: tcp 1883, ssl 8883, wss 8084 and the dashboard on
    https 18084 with a CA made in data/certs. Fixed ports: skipped when
    something else holds them."""
    if not _ports_free((1883, 8883, 8084, 18084)):
        pytest.skip("ports 1883/8883/8084/18084 are in use on this machine")
    log = tmp_path / "moat.log"
    with open(log, "wb") as lf:
        p = subprocess.Popen([moat_bin()], cwd=str(tmp_path), stdin=subprocess.DEVNULL,
                             stdout=lf, stderr=lf, start_new_session=True)
    try:
        # its own log, not a connection: another moat could hold the ports
        wait_until(lambda: p.poll() is not None or "started:" in log.read_text(), 15,
                   what="moat to start")
        text = log.read_text()
        if p.poll() is not None:
            if "cannot listen" in text:
                pytest.skip("a fixed port was taken meanwhile: " + text[-300:])
            pytest.fail("moat without -c exited (%s):\n%s" % (p.returncode, text))
        ca = tmp_path / "data" / "certs" / "ca.pem"
        assert ca.exists() and mode(tmp_path / "data" / "certs" / "ca.key") == 0o600
        assert "mosquitto_sub -h localhost -p 8883 --cafile data/certs/ca.pem" in text
        assert "wss://localhost:8084/mqtt" in text
        assert "https://localhost:18084/ (the dashboard" in text
        assert "dashboard: administrator 'admin' created with the generated password" in text
        r = subprocess.run(["mosquitto_sub", "-h", "localhost", "-p", "8883", "--cafile",
                            "data/certs/ca.pem", "-t", "$SYS/broker/version", "-C", "1", "-W",
                            "10"], cwd=str(tmp_path), capture_output=True, text=True, timeout=20)
        assert r.returncode == 0 and "moat" in r.stdout, r.stdout + r.stderr
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(10)
