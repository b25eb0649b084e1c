# SPDX-License-Identifier: Apache-2.0
"""Brute-force protection and the ban list: failed logins counted per client
id and per address (auth.ban.*), bans refusing a CONNECT before any source
is asked (v5 0x8A, v3 5), loopback exempt by default, bans ending, and the
HTTP API's ban list (list, ban by hand, lift; a banned connected client is
kicked)."""
import time

import pytest
import requests

from conftest import free_port
import mqttraw
from mqttraw import RawClient

USERS = ["auth.mnesia.password_hash = plain", "auth.user.1.username = alice",
         "auth.user.1.password = alice-pw", "allow_anonymous = false"]


def conn(b, client_id, version=5, expect_rc=0, **kw):
    c = RawClient(b.port, version=version)
    c.connect(client_id, expect_rc=expect_rc, **kw)
    return c


def fail(b, client_id, version=5):
    conn(b, client_id, version, expect_rc=0x86 if version == 5 else 4, username="alice",
         password=b"wrong").expect_closed()


@pytest.mark.parametrize("version", [4, 5])
def test_client_id_banned_after_failures(broker_factory, version):
    b = broker_factory(USERS + ["auth.ban.max_failures = 3", "auth.ban.duration = 2s"])
    banned = 0x8A if version == 5 else 5
    for _ in range(3):
        fail(b, "guesser", version)
    # even the right password is refused now, before any source is asked
    conn(b, "guesser", version, expect_rc=banned, username="alice",
         password=b"alice-pw").expect_closed()
    b.wait_log(r"client id 'guesser' banned for 2 s after 3 failed logins within 60 s")
    assert "banned clientid 'guesser' (failed logins)" in b.log
    # loopback is exempt from address bans: another client id still gets in
    conn(b, "honest", version, username="alice", password=b"alice-pw").close()
    time.sleep(2.2)
    conn(b, "guesser", version, username="alice", password=b"alice-pw").close()


def test_address_ban_and_success_resets(broker_factory):
    b = broker_factory(USERS + ["auth.ban.max_failures = 3", "auth.ban.duration = 30s",
                                "auth.ban.exempt = "])
    # a good login in between forgets the client id's failures
    fail(b, "dev-1")
    fail(b, "dev-1")
    conn(b, "dev-1", username="alice", password=b"alice-pw").close()
    fail(b, "dev-1")
    # ... but not the address's: the third failure from 127.0.0.1 bans it
    conn(b, "someone-else", expect_rc=0x8A, username="alice",
         password=b"alice-pw").expect_closed()
    b.wait_log(r"address 127\.0\.0\.1 banned for 30 s")


def test_bans_off(broker_factory):
    b = broker_factory(USERS + ["auth.ban.max_failures = 0", "auth.ban.exempt = "])
    for _ in range(12):
        fail(b, "g")
    conn(b, "g", username="alice", password=b"alice-pw").close()


def test_ban_list_api(broker_factory):
    http = free_port()
    b = broker_factory(USERS + ["auth.ban.max_failures = 2", "auth.ban.duration = 1m",
                                "dashboard.listener.http = 127.0.0.1:%d" % http,
                                "dashboard.default_user.password = Adm1n-pass-word"])
    url = "http://127.0.0.1:%d" % http
    r = requests.post(url + "/api/v1/login", json={"username": "admin",
                                                   "password": "Adm1n-pass-word"}, timeout=10)
    assert r.status_code == 200, r.text
    h = {"Authorization": "Bearer " + r.json()["token"]}
    assert requests.get(url + "/api/v1/banned", timeout=10).status_code == 401
    fail(b, "g1")
    fail(b, "g1")
    r = requests.get(url + "/api/v1/banned", headers=h, timeout=10)
    assert r.status_code == 200
    data = r.json()["data"]
    assert [(d["as"], d["who"], d["by"]) for d in data] == [("clientid", "g1", "failed_logins")]
    assert data[0]["until"] - data[0]["since"] in (59, 60, 61)
    # ban a username by hand, until removed
    r = requests.post(url + "/api/v1/banned", headers=h, timeout=10,
                      json={"as": "username", "who": "alice", "reason": "stolen laptop"})
    assert r.status_code == 201 and r.json()["until"] is None, r.text
    assert r.json()["reason"] == "stolen laptop" and r.json()["by"] == "administrator"
    conn(b, "c2", expect_rc=0x8A, username="alice", password=b"alice-pw").expect_closed()
    assert requests.delete(url + "/api/v1/banned/username/alice", headers=h,
                           timeout=10).status_code == 204
    assert requests.delete(url + "/api/v1/banned/username/alice", headers=h,
                           timeout=10).status_code == 404
    conn(b, "c2", username="alice", password=b"alice-pw").close()
    # banning a connected client's id kicks it (v5 DISCONNECT 0x98), EMQX's "peerhost" works
    c = conn(b, "victim", username="alice", password=b"alice-pw")
    r = requests.post(url + "/api/v1/banned", headers=h, timeout=10,
                      json={"as": "clientid", "who": "victim", "duration": 30})
    assert r.status_code == 201 and r.json()["until"] - r.json()["since"] in (29, 30, 31)
    d = c.expect(mqttraw.DISCONNECT, timeout=5)
    assert d.rc == 0x98
    r = requests.post(url + "/api/v1/banned", headers=h, timeout=10,
                      json={"as": "peerhost", "who": "10.9.8.7", "duration": 5})
    assert r.status_code == 201 and r.json()["as"] == "address"
    # bad requests say what is expected
    for body in ({"as": "ip", "who": "x"}, {"as": "clientid"}, {"as": "clientid", "who": "x",
                                                                "duration": -1}):
        r = requests.post(url + "/api/v1/banned", headers=h, timeout=10, json=body)
        assert r.status_code == 400 and "expected" in r.json()["message"], body
    r = requests.delete(url + "/api/v1/banned/ip/x", headers=h, timeout=10)
    assert r.status_code == 400
    listed = {(d["as"], d["who"]) for d in
              requests.get(url + "/api/v1/banned", headers=h, timeout=10).json()["data"]}
    assert listed == {("clientid", "g1"), ("clientid", "victim"), ("address", "10.9.8.7")}
