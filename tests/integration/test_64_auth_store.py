# SPDX-License-Identifier: Apache-2.0
"""The built-in user store: moat ctl users|clients with the broker stopped
and running, the HTTP API (/api/v1/auth/users, /api/v1/auth/clients),
persistence across a restart, superusers past an acl_file, passwords from
stdin, file modes, argon2id entries in the configuration, and 50 argon2id
CONNECTs at once not stalling a connected client."""
import json
import os
import stat
import subprocess
import threading
import time

import pytest
import requests

from conftest import free_port, moat_bin
from mqttraw import RawClient

CLOSED = ["allow_anonymous = false"]


def ctl(conf, *args, input=None):
    return subprocess.run([moat_bin(), "ctl", *args, "-c", str(conf)], capture_output=True,
                          text=True, timeout=30, input=input)


def conn(b, client_id, user=None, pw=None, version=5, expect_rc=0, timeout=10.0):
    c = RawClient(b.port, version=version)
    c.connect(client_id, expect_rc=expect_rc, timeout=timeout, username=user,
              password=pw.encode() if pw is not None else None)
    return c


def ok(b, client_id, user, pw, version=5, timeout=10.0):
    conn(b, client_id, user, pw, version, timeout=timeout).close()


def refused(b, client_id, user, pw, version=5, rc=None):
    rc = rc if rc is not None else (0x86 if version == 5 else 4)
    conn(b, client_id, user, pw, version, expect_rc=rc).expect_closed()


@pytest.fixture
def stopped(tmp_path):
    """A data directory and a ctl configuration for a broker not yet started."""
    data = tmp_path / "data"
    conf = tmp_path / "ctl.conf"
    conf.write_text("node.data_dir = %s\n" % data)
    return data, conf


def test_ctl_stopped_then_running(broker_factory, stopped):
    data, conf = stopped
    r = ctl(conf, "users", "add", "alice", "--password", "pw-one")
    assert r.returncode == 0, r.stderr
    assert "pw-one" not in r.stdout + r.stderr
    b = broker_factory(CLOSED, data_dir=data)
    ok(b, "a1", "alice", "pw-one")
    refused(b, "a2", "alice", "wrong")
    refused(b, "a3", "alice", "wrong", version=4)
    # changed while the broker runs, the password from stdin: next CONNECT
    r = ctl(b.conf_path, "users", "passwd", "alice", input="pw-two\n")
    assert r.returncode == 0, r.stderr
    ok(b, "a4", "alice", "pw-two", version=4)
    refused(b, "a5", "alice", "pw-one")
    refused(b, "a6", "alice", "pw-one", version=4)
    # list, as text and JSON (never a hash)
    ctl(b.conf_path, "users", "add", "root", "--password", "r", "--superuser")
    r = ctl(b.conf_path, "users", "list")
    assert r.stdout.split("\n")[:2] == ["alice", "root (superuser)"], r.stdout
    r = ctl(b.conf_path, "users", "list", "--json")
    assert json.loads(r.stdout) == [{"username": "alice", "is_superuser": False},
                                    {"username": "root", "is_superuser": True}]
    assert "argon2" not in r.stdout
    # deleted: unknown again, so allow_anonymous = false refuses it (0x87)
    assert ctl(b.conf_path, "users", "del", "alice").returncode == 0
    refused(b, "a7", "alice", "pw-two", rc=0x87)
    r = ctl(b.conf_path, "users", "del", "alice")
    assert r.returncode == 1 and "no such user" in r.stderr
    log = b.log_path.read_text()
    assert "pw-one" not in log and "pw-two" not in log and "$argon2id$" not in log


def test_ctl_errors_and_stdin(stopped):
    _, conf = stopped
    r = ctl(conf, "users", "add", "bob", input="")
    assert r.returncode == 1 and "empty password refused" in r.stderr
    r = ctl(conf, "users", "add", "bob", input="\n")
    assert r.returncode == 1 and "empty password refused" in r.stderr
    r = ctl(conf, "users", "add", "bob", input="secret-b\nignored\n")
    assert r.returncode == 0 and "secret-b" not in r.stdout + r.stderr
    r = ctl(conf, "users", "add", "bob", "--password", "x")
    assert r.returncode == 1 and "already in the store" in r.stderr
    r = ctl(conf, "users", "passwd", "nobody", "--password", "x")
    assert r.returncode == 1 and "no such user" in r.stderr
    assert ctl(conf, "users", "frobnicate", "x").returncode == 2
    assert ctl(conf, "users", "add").returncode == 2
    assert ctl(conf, "users", "add", "x" * 300, "--password", "x").returncode == 2


def test_files_private(stopped):
    data, conf = stopped
    os.umask(0o022)
    assert ctl(conf, "clients", "add", "dev", "--password", "p").returncode == 0
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    for name in ("auth_store.mdb", "auth_store.mdb-lock"):
        assert stat.S_IMODE(os.stat(data / name).st_mode) == 0o600, name


def test_persistence_and_client_ids(broker_factory, stopped):
    data, conf = stopped
    b = broker_factory(CLOSED, data_dir=data)
    assert ctl(b.conf_path, "clients", "add", "dev-9", "--password", "cpw").returncode == 0
    assert ctl(b.conf_path, "users", "add", "carl", "--password", "upw").returncode == 0
    # the client id decides first, whatever the username
    ok(b, "dev-9", "anyone", "cpw")
    refused(b, "dev-9", "carl", "upw")
    ok(b, "other", "carl", "upw")
    b.stop()
    b.start(CLOSED, data_dir=data)
    ok(b, "dev-9", "x", "cpw", version=4)  # 3.1.1: no password without a username
    ok(b, "x", "carl", "upw")
    r = ctl(b.conf_path, "clients", "list", "--json")
    assert json.loads(r.stdout) == [{"clientid": "dev-9", "is_superuser": False}]


def test_superuser_past_acl(broker_factory, tmp_path):
    acl = tmp_path / "acl.conf"
    acl.write_text("{deny, all}.\n")
    b = broker_factory(CLOSED + ["acl_file = %s" % acl])
    assert ctl(b.conf_path, "users", "add", "su", "--password", "s", "--superuser").returncode == 0
    assert ctl(b.conf_path, "users", "add", "nu", "--password", "n").returncode == 0
    s = conn(b, "s1", "su", "s")
    assert s.subscribe([("x/#", 0)]).codes == [0]
    n = conn(b, "n1", "nu", "n")
    assert n.subscribe([("x/#", 0)]).codes == [0x87]
    # demoted through passwd --no-superuser: the next CONNECT is a plain user
    assert ctl(b.conf_path, "users", "passwd", "su", "--password", "s",
               "--no-superuser").returncode == 0
    s2 = conn(b, "s2", "su", "s")
    assert s2.subscribe([("x/#", 0)]).codes == [0x87]
    for c in (s, n, s2):
        c.close()


def test_argon2id_in_config(broker_factory):
    # made with: printf password | argon2 somesalt -id -t 2 -k 19456 -p 1 -e
    h = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E"
    b = broker_factory(CLOSED + ["auth.mnesia.password_hash = argon2id",
                                 "auth.user.1.username = cfg", "auth.user.1.password = " + h])
    ok(b, "c1", "cfg", "password")
    refused(b, "c2", "cfg", "Password")


def api_broker(broker_factory):
    http = free_port()
    b = broker_factory(CLOSED + ["dashboard.listener.http = 127.0.0.1:%d" % http,
                                 "dashboard.default_user.password = pw-64"])
    b.url = "http://127.0.0.1:%d/api/v1" % http
    r = requests.post(b.url + "/login", json={"username": "admin", "password": "pw-64"},
                      timeout=10)
    assert r.status_code == 200, r.text
    b.h = {"Authorization": "Bearer " + r.json()["token"]}
    return b


def test_api_crud(broker_factory):
    b = api_broker(broker_factory)
    u, h = b.url + "/auth/users", b.h
    assert requests.get(u, timeout=10).status_code == 401
    assert requests.get(u, headers=h, timeout=10).json() == {"data": []}
    r = requests.post(u, headers=h, json={"username": "api", "password": "a1"}, timeout=10)
    assert r.status_code == 201 and r.json() == {"username": "api", "is_superuser": False}
    assert requests.post(u, headers=h, json={"username": "api", "password": "x"},
                         timeout=10).status_code == 409
    for bad in ({"username": "z"}, {"username": "z", "password": ""}, {"password": "x"},
                {"username": "z", "password": "x", "is_superuser": "yes"}, [1]):
        r = requests.post(u, headers=h, json=bad, timeout=10)
        assert r.status_code == 400 and r.json()["message"], bad
    assert requests.post(u, headers=h, data="{", timeout=10).status_code == 400
    ok(b, "c1", "api", "a1")
    r = requests.get(u + "/api", headers=h, timeout=10)
    assert r.json() == {"username": "api", "is_superuser": False}
    assert requests.get(u + "/nobody", headers=h, timeout=10).status_code == 404
    r = requests.put(u + "/api", headers=h, json={"password": "a2", "is_superuser": True},
                     timeout=10)
    assert r.status_code == 200 and r.json()["is_superuser"] is True
    assert requests.put(u + "/api", headers=h, json={}, timeout=10).status_code == 400
    assert requests.put(u + "/nobody", headers=h, json={"password": "x"},
                        timeout=10).status_code == 404
    ok(b, "c2", "api", "a2")
    refused(b, "c3", "api", "a1")
    # seen by ctl too (the same file)
    r = ctl(b.conf_path, "users", "list", "--json")
    assert json.loads(r.stdout) == [{"username": "api", "is_superuser": True}]
    assert requests.delete(u + "/api", headers=h, timeout=10).status_code == 204
    assert requests.delete(u + "/api", headers=h, timeout=10).status_code == 404
    refused(b, "c4", "api", "a2", rc=0x87)
    # client ids, with a name that needs URL encoding
    c = b.url + "/auth/clients"
    r = requests.post(c, headers=h, json={"clientid": "dev/1 x", "password": "d"}, timeout=10)
    assert r.status_code == 201, r.text
    assert requests.get(c, headers=h, timeout=10).json() == {
        "data": [{"clientid": "dev/1 x", "is_superuser": False}]}
    ok(b, "dev/1 x", None, "d")
    assert requests.delete(c + "/dev%2F1%20x", headers=h, timeout=10).status_code == 204
    assert requests.get(b.url + "/auth/other", headers=h, timeout=10).status_code == 404
    log = b.log_path.read_text()
    assert "$argon2id$" not in log and '"password"' not in log


def test_connect_storm_does_not_stall(broker_factory):
    # the checks queue for the pool: under ASan on a busy 2-core machine the
    # last ones wait longer than auth.timeout's default 5 s
    b = broker_factory(CLOSED + ["auth.timeout = 60s"])
    for i in range(5):
        assert ctl(b.conf_path, "users", "add", "u%d" % i, "--password", "p%d" % i).returncode == 0
    watcher = conn(b, "watch", "u0", "p0")
    watcher.subscribe([("storm/echo", 0)])
    results, errors = [], []

    def one(i):
        try:
            # 50 argon2id checks share the pool's threads (and, on a small
            # machine running other tests, the CPU): generous CONNACK wait
            ok(b, "s%d" % i, "u%d" % (i % 5), "p%d" % (i % 5), timeout=60)
            results.append(i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    worst = 0.0
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        t0 = time.monotonic()
        watcher.publish("storm/echo", b"x")
        watcher.recv_publish(timeout=10)
        worst = max(worst, time.monotonic() - t0)
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(results) == 50
    # argon2id runs on the auth pool, not on the loop serving this client: were
    # it on the loops, the watcher's loop would run some 25 checks of ~30 ms
    # back to back
    print("storm: worst round trip %.3f s" % worst)
    assert worst < 0.5, "a connected client stalled %.3f s" % worst
    watcher.close()


def test_argon2id_config_needs_store(broker_factory):
    from tlsutil import start_expect_failure
    rc, log = start_expect_failure(broker_factory, [
        "auth.chain = builtin", "auth.mnesia.password_hash = argon2id",
        "auth.user.1.username = cfg", "auth.user.1.password = $argon2id$v=19$m=8,t=1,p=1$x$y"])
    assert rc != 0 and "add store to it" in log
