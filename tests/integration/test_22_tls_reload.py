# SPDX-License-Identifier: Apache-2.0
"""Certificate reload without a restart: a Let's Encrypt renewal (live/
symlinks flipped to new archive/ files), files rewritten in place or replaced,
SIGHUP, a CA file change. New handshakes get the new material; connected
clients carry on; bad new material is refused and the old kept. And a reload
under load: ten replacements while clients publish QoS 1 over TLS, with zero
disconnects and zero lost messages."""

import hashlib
import os
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time

import pytest

import mqttraw as mr
from conftest import PahoClient, moat_bin, uniq
from tlsutil import (MUTUAL, LogCursor, client_context, handshake_failure_re, paho_tls,
                     probe_refused, server_fingerprint, start_tls_broker, tls_connect)

RELOADED = r"listener ssl:%s: TLS certificate reloaded \(([^)]*)\)"
REFUSED = r"listener ssl:%s: TLS reload \(([^)]*)\) refused, the running certificate is kept: (.*)"


def write_atomic(path, text):
    """What careful tools do: a temporary file in the same directory, renamed
    over the old one."""
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_in_place(path, text):
    """What `cp new.pem cert.pem` does: truncate and rewrite the same inode."""
    with open(path, "w") as f:
        f.write(text)


def flip_symlink_atomic(link, target):
    """certbot's way: a new symlink under a temporary name, renamed over."""
    tmp = link + ".new"
    os.symlink(target, tmp)
    os.replace(tmp, link)


def flip_symlink_ln_sfn(link, target):
    """`ln -sfn`: unlink, then create."""
    os.unlink(link)
    os.symlink(target, link)


class Material:
    """A certificate + key pair from the PKI, and the leaf's fingerprint."""

    def __init__(self, pki, cert, key, leaf):
        self.cert, self.key = pki.text(cert), pki.text(key)
        self.sha256 = pki.sha256(leaf)


@pytest.fixture
def rsa(pki):
    return Material(pki, "server-fullchain.pem", "server.key", "server.pem")


@pytest.fixture
def ec(pki):
    return Material(pki, "server-ec-fullchain.pem", "server-ec.key", "server-ec.pem")


def cert_dir_broker(broker_factory, pki, tmp_path, material, **opts):
    """A broker whose listener ssl:ext serves certs/cert.pem + certs/key.pem,
    copies the test can rewrite."""
    d = tmp_path / "certs"
    d.mkdir(exist_ok=True)
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    write_atomic(cert, material.cert)
    write_atomic(key, material.key)
    b = start_tls_broker(broker_factory, pki, {"ext": dict({"certfile": cert, "keyfile": key},
                                                           **opts)})
    return b, cert, key


def tls_paho(pki, b, cid, version=5, listener="ext", **kw):
    c = PahoClient(b.tls_ports[listener], cid, version=version, tls=paho_tls(pki, **kw),
                   host="localhost")
    c.connect()
    return c


# ------------------------------------------------------------------ Let's Encrypt

def test_lets_encrypt_renewal_without_restart(pki, broker_factory, tmp_path):
    le = tmp_path / "le"
    shutil.copytree(pki.dir / "le", le, symlinks=True)
    live = le / "live" / "example"
    assert os.path.islink(live / "fullchain.pem")
    b = start_tls_broker(broker_factory, pki, {"ext": {
        "certfile": str(live / "fullchain.pem"), "keyfile": str(live / "privkey.pem")}})
    port = b.tls_ports["ext"]
    pid = b.proc.pid
    v1, v2 = pki.sha256("le-1.pem"), pki.sha256("le-2.pem")
    assert server_fingerprint(port) == v1
    topic = uniq("le/")
    sub = tls_paho(pki, b, uniq("le-sub"), version=5)
    raw = mr.RawClient(port, version=4, tls=client_context(pki), server_hostname="localhost")
    try:
        assert sub.subscribe(topic, 1) == [1]
        raw.connect(uniq("le-raw"))
        raw.publish(topic, b"before", qos=1)
        assert sub.get().payload == b"before"

        # renewal 1 -> 2: certbot wrote archive/*2.pem; flip the live/ links
        cur = LogCursor(b)
        for f in ("cert", "chain", "fullchain", "privkey"):
            flip_symlink_atomic(str(live / ("%s.pem" % f)), "../../archive/example/%s2.pem" % f)
        m = cur.wait(RELOADED % "ext")
        assert "certificate files changed" in m.group(1)
        assert server_fingerprint(port) == v2, "new handshakes still get the old certificate"
        assert not cur.search(REFUSED % "ext")
        # the clients connected before carry on, on their old session
        assert hashlib_sha256(raw.sock.getpeercert(binary_form=True)) == v1
        raw.publish(topic, b"after", qos=1)
        assert sub.get().payload == b"after"
        assert raw.ping().type == mr.PINGRESP
        assert not sub.disconnected.is_set()
        # a new verified client connects with the renewed certificate
        c = mr.RawClient(port, version=5, tls=client_context(pki), server_hostname="localhost")
        try:
            c.connect(uniq("le-new"))
            assert hashlib_sha256(c.sock.getpeercert(binary_form=True)) == v2
        finally:
            c.close()

        # renewal 2 -> 3 (the first key again, in new files), flipped the
        # `ln -sfn` way: unlink, then create
        arch = le / "archive" / "example"
        for f in ("cert", "chain", "fullchain", "privkey"):
            shutil.copy(arch / ("%s1.pem" % f), arch / ("%s3.pem" % f))
        cur = LogCursor(b)
        for f in ("cert", "chain", "fullchain", "privkey"):
            flip_symlink_ln_sfn(str(live / ("%s.pem" % f)), "../../archive/example/%s3.pem" % f)
        cur.wait(RELOADED % "ext")
        assert server_fingerprint(port) == v1
        raw.publish(topic, b"after-2", qos=1)
        assert sub.get().payload == b"after-2"
        assert not sub.disconnected.is_set()
    finally:
        sub.stop()
        raw.close()
    assert b.proc.pid == pid and b.starts == 1 and b.alive()


def hashlib_sha256(data):
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ bad material

def _bad(pki, rsa, kind):
    """(cert text or None, key text or None, expected code) for a bad update."""
    if kind == "expired":
        return (pki.text("server-expired-fullchain.pem"), pki.text("server-expired.key"),
                "expired")
    if kind == "not_yet_valid":
        return (pki.text("server-notyet-fullchain.pem"), pki.text("server-notyet.key"),
                "not_yet_valid")
    if kind == "garbage":
        return "this is not a certificate\n", None, "not_pem"
    if kind == "truncated":
        return rsa.cert[:len(rsa.cert) // 3], None, "pem_corrupt"
    if kind == "new_cert_old_key":
        return pki.text("server-ec-fullchain.pem"), None, "key_mismatch"
    if kind == "weak_key":
        return (pki.text("server-rsa1024-fullchain.pem"), pki.text("server-rsa1024.key"),
                "weak_key")
    if kind == "ca_first":
        return pki.text("server-reversed.pem"), None, "ca_first"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["expired", "not_yet_valid", "garbage", "truncated",
                                  "new_cert_old_key", "weak_key", "ca_first", "key_deleted"])
def test_bad_material_refused_old_kept(pki, broker_factory, tmp_path, rsa, ec, kind):
    b, cert, key = cert_dir_broker(broker_factory, pki, tmp_path, rsa,
                                   cacertfile=pki("ca.pem"))
    port = b.tls_ports["ext"]
    sub = tls_paho(pki, b, uniq("bad-sub"))
    try:
        topic = uniq("bad/")
        sub.subscribe(topic, 1)
        cur = LogCursor(b)
        if kind == "key_deleted":
            os.unlink(key)
            code = "file_missing"
        else:
            new_cert, new_key, code = _bad(pki, rsa, kind)
            write_in_place(cert, new_cert)
            if new_key is not None:
                write_in_place(key, new_key)
        m = cur.wait(REFUSED % "ext")
        assert "certificate files changed" in m.group(1)
        assert re.search(r"\[error\] listener ssl:ext: .*\[(%s)\]" % code, cur.text()), \
            cur.text()
        assert not cur.search(RELOADED % "ext")
        # the old certificate is still served, to verified clients too
        assert server_fingerprint(port) == rsa.sha256
        with tls_connect(port, client_context(pki)) as s:
            assert s.version() == "TLSv1.3"
        c = tls_paho(pki, b, uniq("bad-pub"))
        c.publish(topic, b"still served", qos=1)
        c.stop()
        assert sub.get().payload == b"still served"
        # then the operator puts good material in place: taken at once
        cur = LogCursor(b)
        write_atomic(cert, ec.cert)
        write_atomic(key, ec.key)
        cur.wait(RELOADED % "ext")
        assert server_fingerprint(port) == ec.sha256
        assert not sub.disconnected.is_set()
    finally:
        sub.stop()


def test_renewal_cert_first_then_key(pki, broker_factory, tmp_path, rsa, ec):
    """A renewal that writes the certificate, then (a second later) the key:
    the first step is refused (key mismatch) and nothing changes; the second
    is taken."""
    b, cert, key = cert_dir_broker(broker_factory, pki, tmp_path, rsa)
    port = b.tls_ports["ext"]
    cur = LogCursor(b)
    write_atomic(cert, ec.cert)
    cur.wait(REFUSED % "ext")
    assert "[key_mismatch]" in cur.text()
    assert server_fingerprint(port) == rsa.sha256
    cur = LogCursor(b)
    write_atomic(key, ec.key)
    cur.wait(RELOADED % "ext")
    assert server_fingerprint(port) == ec.sha256


@pytest.mark.parametrize("how", ["atomic", "in_place"])
def test_rewritten_files_reloaded(pki, broker_factory, tmp_path, rsa, ec, how):
    b, cert, key = cert_dir_broker(broker_factory, pki, tmp_path, rsa)
    port = b.tls_ports["ext"]
    write = write_atomic if how == "atomic" else write_in_place
    for mat in (ec, rsa, ec):
        cur = LogCursor(b)
        write(cert, mat.cert)
        write(key, mat.key)
        cur.wait(RELOADED % "ext")
        assert server_fingerprint(port) == mat.sha256


def test_unchanged_files_touched_no_reload(pki, broker_factory, tmp_path, rsa):
    """Rewriting the same content is not a reload (nothing logged, nothing
    swapped)."""
    b, cert, key = cert_dir_broker(broker_factory, pki, tmp_path, rsa)
    cur = LogCursor(b)
    write_in_place(cert, rsa.cert)
    os.utime(key)
    time.sleep(1.0)
    assert not cur.search(RELOADED % "ext") and not cur.search(REFUSED % "ext"), cur.text()
    assert server_fingerprint(b.tls_ports["ext"]) == rsa.sha256


def test_ca_file_change_reloaded(pki, broker_factory, tmp_path):
    """Two-way TLS: adding a CA to cacertfile lets its clients in, without a
    restart; connected clients stay."""
    d = tmp_path / "ca"
    d.mkdir()
    cafile = str(d / "clients-ca.pem")
    write_atomic(cafile, pki.text("ca.pem"))
    b = start_tls_broker(broker_factory, pki, {"ext": dict(MUTUAL, cacertfile=cafile)})
    port = b.tls_ports["ext"]
    other = client_context(pki, cert="other-client.pem", key="other-client.key")
    mine = tls_paho(pki, b, uniq("ca-keep"), cert="client-fullchain.pem", key="client.key")
    try:
        cur = LogCursor(b)
        assert probe_refused(port, other) is not None
        cur.wait(handshake_failure_re("ext", "unknown_ca"))
        cur = LogCursor(b)
        write_atomic(cafile, pki.text("ca.pem") + pki.text("other-ca.pem"))
        cur.wait(RELOADED % "ext")
        assert probe_refused(port, other) is None, "client of the added CA still refused"
        assert not mine.disconnected.is_set()
        t = uniq("ca/")
        mine.subscribe(t, 1)
        mine.publish(t, b"x", qos=1)
        assert mine.get().payload == b"x"
    finally:
        mine.stop()


# ------------------------------------------------------------------ SIGHUP

def test_sighup_with_unchanged_material(pki, broker_factory, tmp_path, rsa):
    """SIGHUP re-checks the TLS material: unchanged, nothing is swapped and
    connected clients are not disturbed."""
    b, cert, key = cert_dir_broker(broker_factory, pki, tmp_path, rsa)
    sub = tls_paho(pki, b, uniq("hup"))
    try:
        cur = LogCursor(b)
        b.signal(signal.SIGHUP)
        cur.wait(r"SIGHUP: configuration reloaded")
        time.sleep(0.5)
        assert not cur.search(REFUSED % "ext"), cur.text()
        assert server_fingerprint(b.tls_ports["ext"]) == rsa.sha256
        t = uniq("hup/")
        sub.subscribe(t, 1)
        sub.publish(t, b"y", qos=1)
        assert sub.get().payload == b"y"
        assert not sub.disconnected.is_set()
    finally:
        sub.stop()


def _repoint(b, cert, key):
    b.extra = [re.sub(r"(listener\.ssl\.ext\.certfile = ).*", r"\g<1>" + cert, line)
               for line in b.extra]
    b.extra = [re.sub(r"(listener\.ssl\.ext\.keyfile = ).*", r"\g<1>" + key, line)
               for line in b.extra]
    b.write_config()


def test_sighup_applies_changed_certfile_setting(pki, broker_factory, tmp_path, rsa, ec):
    b, cert, key = cert_dir_broker(broker_factory, pki, tmp_path, rsa)
    cur = LogCursor(b)
    _repoint(b, pki("server-ec-fullchain.pem"), pki("server-ec.key"))
    b.signal(signal.SIGHUP)
    cur.wait(r"SIGHUP: configuration reloaded")
    time.sleep(1.0)
    assert server_fingerprint(b.tls_ports["ext"]) == ec.sha256, \
        "SIGHUP with a new certfile: still the old certificate; log:\n" + cur.text()


def test_sighup_with_bad_certfile_setting_keeps_serving(pki, broker_factory, tmp_path, rsa):
    """A SIGHUP config pointing at a missing file never takes the listener
    down."""
    b, cert, key = cert_dir_broker(broker_factory, pki, tmp_path, rsa)
    cur = LogCursor(b)
    _repoint(b, str(tmp_path / "missing.pem"), key)
    b.signal(signal.SIGHUP)
    cur.wait(r"SIGHUP: configuration")
    time.sleep(1.0)
    assert server_fingerprint(b.tls_ports["ext"]) == rsa.sha256
    assert not cur.search(RELOADED % "ext")


def _set_option(b, key, value):
    """Set (or add) listener.ssl.ext.<key> in the broker's config file."""
    line = "listener.ssl.ext.%s = %s" % (key, value)
    rx = re.compile(r"^listener\.ssl\.ext\.%s\s*=" % re.escape(key))
    if any(rx.match(x) for x in b.extra):
        b.extra = [line if rx.match(x) else x for x in b.extra]
    else:
        b.extra.append(line)
    b.write_config()


def test_sighup_applies_changed_tls_options(pki, broker_factory, tmp_path, rsa):
    """verify_peer without fail_if_no_peer_cert, then SIGHUP with
    fail_if_no_peer_cert = true and tls_versions = tlsv1.3: new handshakes
    follow the new options; a client connected before stays."""
    b, cert, key = cert_dir_broker(broker_factory, pki, tmp_path, rsa,
                                   cacertfile=pki("ca.pem"), verify="verify_peer",
                                   fail_if_no_peer_cert=False)
    port = b.tls_ports["ext"]
    early = tls_paho(pki, b, uniq("early"))  # no client certificate
    try:
        assert probe_refused(port, client_context(pki)) is None
        cur = LogCursor(b)
        _set_option(b, "fail_if_no_peer_cert", "true")
        _set_option(b, "tls_versions", "tlsv1.3")
        b.signal(signal.SIGHUP)
        m = cur.wait(RELOADED % "ext")
        assert "SIGHUP" in m.group(1)
        assert probe_refused(port, client_context(pki)) is not None
        cur.wait(handshake_failure_re("ext", "no_client_cert"))
        tls12 = client_context(pki, cert="client-fullchain.pem", key="client.key",
                               max_version=ssl.TLSVersion.TLSv1_2)
        assert probe_refused(port, tls12) is not None
        cur.wait(handshake_failure_re("ext", "version_mismatch"))
        good = client_context(pki, cert="client-fullchain.pem", key="client.key")
        assert probe_refused(port, good) is None
        t = uniq("early/")
        early.subscribe(t, 1)
        early.publish(t, b"z", qos=1)
        assert early.get().payload == b"z"
        assert not early.disconnected.is_set()
    finally:
        early.stop()


def test_sighup_applies_changed_identity_mapping(pki, broker_factory, tmp_path, rsa):
    b, cert, key = cert_dir_broker(broker_factory, pki, tmp_path, rsa,
                                   cacertfile=pki("ca.pem"), verify="verify_peer",
                                   fail_if_no_peer_cert=True, peer_cert_as_username="cn")
    port = b.tls_ports["ext"]
    ctx = client_context(pki, cert="client-fullchain.pem", key="client.key")

    def user_of_new_connection():
        c = mr.RawClient(port, version=4, tls=ctx, server_hostname="localhost")
        cur = LogCursor(b)
        try:
            cid = uniq("map")
            c.connect(cid)
            return cur.wait(r"client connected: id=%s user=(\S+) " % re.escape(cid)).group(1)
        finally:
            c.close()

    assert user_of_new_connection() == "device-001"
    cur = LogCursor(b)
    _set_option(b, "peer_cert_as_username", "md5")
    b.signal(signal.SIGHUP)
    cur.wait(r"SIGHUP: configuration reloaded")
    assert user_of_new_connection() == pki.md5("client.pem")


def test_moat_ctl_reload(pki, broker_factory, tmp_path, rsa, ec):
    """`moat ctl reload -c FILE` reloads like SIGHUP (TLS material included)."""
    b, cert, key = cert_dir_broker(broker_factory, pki, tmp_path, rsa)
    cur = LogCursor(b)
    _repoint(b, pki("server-ec-fullchain.pem"), pki("server-ec.key"))
    r = subprocess.run([moat_bin(), "ctl", "reload", "-c", str(b.conf_path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    cur.wait(RELOADED % "ext")
    assert server_fingerprint(b.tls_ports["ext"]) == ec.sha256


# ------------------------------------------------------------------ under load

def test_reload_under_load(pki, broker_factory, tmp_path, rsa, ec):
    """Four publishers (paho, TLS, v5 and v3.1.1) publish QoS 1 to a TLS
    subscriber while the certificate is replaced ten times (atomically and in
    place, alternating RSA and ECDSA): no client is disconnected, every
    acknowledged message arrives, and each new connection sees the
    certificate just installed."""
    b, cert, key = cert_dir_broker(broker_factory, pki, tmp_path, rsa)
    port = b.tls_ports["ext"]
    sub = tls_paho(pki, b, "load-sub", version=5)
    pubs = []
    stop = threading.Event()
    sent = {}
    errors = []

    def publisher(i, p):
        n = 0
        try:
            while not stop.is_set():
                payload = b"%d:%d" % (i, n)
                info = p.c.publish("load/%d" % i, payload, qos=1)
                info.wait_for_publish(10)
                if not info.is_published():
                    errors.append("publisher %d: message %d not acknowledged in 10s" % (i, n))
                    return
                sent[i].append(payload)
                n += 1
                time.sleep(0.003)
        except Exception as e:  # reported by the test, not lost in the thread
            errors.append("publisher %d: %r" % (i, e))

    threads = []
    try:
        assert sub.subscribe("load/#", 1) == [1]
        for i, v in enumerate([5, 4, 5, 4]):
            pubs.append(tls_paho(pki, b, "load-pub%d" % i, version=v))
            sent[i] = []
        for i, p in enumerate(pubs):
            t = threading.Thread(target=publisher, args=(i, p), daemon=True)
            t.start()
            threads.append(t)
        time.sleep(0.3)
        cur = LogCursor(b)
        for k in range(10):
            mat = ec if k % 2 == 0 else rsa
            write = write_atomic if k % 3 != 2 else write_in_place
            write(cert, mat.cert)
            write(key, mat.key)
            cur.wait_count(RELOADED % "ext", k + 1, timeout=10)
            assert server_fingerprint(port) == mat.sha256, "replacement %d not served" % (k + 1)
            c = mr.RawClient(port, version=4, tls=client_context(pki),
                             server_hostname="localhost")
            c.connect(uniq("load-new"))
            c.disconnect()
            assert not errors, errors
        assert cur.count(RELOADED % "ext") == 10
        assert not cur.search(REFUSED % "ext"), cur.text()
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    try:
        assert not errors, errors
        total = sum(len(v) for v in sent.values())
        assert total > 200, "only %d messages published; the load was too light" % total
        print("reload under load: %d QoS 1 messages published" % total)
        got = set()
        deadline = time.monotonic() + 20
        want = {(i, p) for i, v in sent.items() for p in v}
        while len(got & want) < len(want) and time.monotonic() < deadline:
            try:
                m = sub.messages.get(timeout=0.5)
            except Exception:
                continue
            got.add((int(m.topic.rsplit("/", 1)[1]), m.payload))
        missing = want - got
        assert not missing, "%d of %d QoS 1 messages lost, e.g. %r" % (
            len(missing), len(want), sorted(missing)[:5])
        dropped = [c.c._client_id for c in pubs + [sub] if c.disconnected.is_set()]
        assert not dropped, "disconnected during the reloads: %r" % dropped
        assert not re.search(r"client disconnected: id=load-(pub|sub)", b.log), \
            "the broker disconnected a loaded client"
    finally:
        for p in pubs + [sub]:
            p.stop()


def test_wss_reload_keeps_connections(pki, broker_factory, tmp_path, rsa, ec):
    """A wss listener reloads like an ssl one (the same code): new files are
    taken for new handshakes while a connected WebSocket client carries on."""
    b, cert, key = cert_dir_broker(broker_factory, pki, tmp_path, rsa, ltype="wss")
    port = b.tls_ports["ext"]
    t = uniq("wssreload/")
    c = mr.RawClient(port, version=5, tls=client_context(pki), server_hostname="localhost",
                     ws="/mqtt")
    c.connect(uniq("wssreload"))
    c.subscribe([(t, 1)])
    cur = LogCursor(b)
    write_atomic(cert, ec.cert)
    write_atomic(key, ec.key)
    cur.wait(RELOADED.replace("ssl:", "wss:") % "ext")
    assert server_fingerprint(port) == ec.sha256
    c.publish(t, b"still on the old session", qos=1)
    assert c.recv_publish().payload == b"still on the old session"
    n = mr.RawClient(port, version=4, tls=client_context(pki), server_hostname="localhost",
                     ws="/mqtt")
    n.connect(uniq("wssnew"))
    n.disconnect()
    c.disconnect()
