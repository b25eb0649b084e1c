# SPDX-License-Identifier: Apache-2.0
"""More of the dashboard's HTTP API: subscriptions (filters, paging, MQTT 5
options, shared groups), retained messages (substring and MQTT filters,
payload previews, deletion through the broker's own path, persisted), and
API keys for scripts (Basic id:secret, shown once, stored hashed, kept
across restarts, cached)."""

import base64
import os
import re
import stat

import pytest
import requests

import mqttraw
from conftest import uniq
from tlsutil import free_ports, running_broker, wait_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def dash_lines(http):
    return ["dashboard.listener.http = 127.0.0.1:%d" % http]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    http, tcp = free_ports(2)
    with running_broker(tmp_path_factory.mktemp("dash53"), dash_lines(http), {"http": http},
                        tcp) as b:
        pattern = r"administrator 'admin' created with the generated password (\S+)"
        b.wait_log(pattern)
        b.password = re.search(pattern, b.log).group(1)
        b.url = "http://127.0.0.1:%d" % http
        yield b


def auth(b):
    r = requests.post(b.url + "/api/v1/login",
                      json={"username": "admin", "password": b.password}, timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["token"]}


@pytest.mark.parametrize("method,path", [("GET", "/api/v1/subscriptions"),
                                         ("GET", "/api/v1/retained"),
                                         ("DELETE", "/api/v1/retained/a"),
                                         ("GET", "/api/v1/api_keys"),
                                         ("POST", "/api/v1/api_keys"),
                                         ("DELETE", "/api/v1/api_keys/x")])
def test_login_required(db, method, path):
    r = requests.request(method, db.url + path, timeout=10)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"


def test_subscriptions(db, raw_clients):
    h = auth(db)
    tag = uniq("ds")
    c = raw_clients(db, version=5)
    c.connect(tag + "-a")
    c.subscribe([("%s/x/+" % tag, mqttraw.sub_options(qos=1, no_local=True, rap=True,
                                                      retain_handling=2)),
                 ("$share/grp/%s/y" % tag, mqttraw.sub_options(qos=2))],
                props={"subscription_identifier": 42})
    d = raw_clients(db, version=4)
    d.connect(tag + "-b")
    d.subscribe([("%s/z/#" % tag, 0)])
    r = requests.get(db.url + "/api/v1/subscriptions", params={"clientid": tag}, headers=h,
                     timeout=10).json()
    assert r["meta"]["count"] == 3
    by = {s["filter"]: s for s in r["data"]}
    a = by["%s/x/+" % tag]
    assert a == {"clientid": tag + "-a", "topic": "%s/x/+" % tag, "filter": "%s/x/+" % tag,
                 "share_group": None, "qos": 1, "no_local": True, "retain_as_published": True,
                 "retain_handling": 2, "subscription_identifier": 42, "online": True}
    s = by["$share/grp/%s/y" % tag]
    assert s["share_group"] == "grp" and s["topic"] == "%s/y" % tag and s["qos"] == 2
    z = by["%s/z/#" % tag]
    assert z["clientid"] == tag + "-b" and z["subscription_identifier"] is None
    assert not z["no_local"] and z["retain_handling"] == 0
    # topic substring, client id and paging
    r = requests.get(db.url + "/api/v1/subscriptions", params={"topic": tag + "/z"}, headers=h,
                     timeout=10).json()
    assert [x["clientid"] for x in r["data"]] == [tag + "-b"]
    r = requests.get(db.url + "/api/v1/subscriptions",
                     params={"clientid": tag, "limit": 2, "page": 2}, headers=h,
                     timeout=10).json()
    assert r["meta"] == {"page": 2, "limit": 2, "count": 3} and len(r["data"]) == 1


def test_retained_list_filter_and_delete(db, raw_clients):
    h = auth(db)
    tag = uniq("dr")
    c = raw_clients(db, version=4)
    c.connect(tag)
    big = bytes(range(256)) * 8  # 2 KiB
    c.publish("%s/a/1" % tag, b"hello", qos=1, retain=True)
    c.publish("%s/a/2" % tag, big, qos=1, retain=True)
    c.publish("%s/b/1" % tag, b"x", qos=0, retain=True)
    c.publish("%s/b/1" % tag, b"x", qos=1, retain=True)  # replaced, not added
    r = requests.get(db.url + "/api/v1/retained", params={"topic": tag}, headers=h,
                     timeout=10).json()
    assert r["meta"]["count"] == 3
    by = {m["topic"]: m for m in r["data"]}
    one = by["%s/a/1" % tag]
    assert one["qos"] == 1 and one["payload_size"] == 5 and not one["truncated"]
    assert base64.b64decode(one["payload_preview"]) == b"hello" and "stored_at" in one
    two = by["%s/a/2" % tag]
    assert two["payload_size"] == 2048 and two["truncated"]
    assert base64.b64decode(two["payload_preview"]) == big[:1024]
    # MQTT filters, as topic= with a wildcard or as filter=
    for params in ({"topic": "%s/+/1" % tag}, {"filter": "%s/+/1" % tag}):
        r = requests.get(db.url + "/api/v1/retained", params=params, headers=h,
                         timeout=10).json()
        assert sorted(m["topic"] for m in r["data"]) == ["%s/a/1" % tag, "%s/b/1" % tag]
    r = requests.get(db.url + "/api/v1/retained", params={"filter": "%s/a/#" % tag,
                                                          "limit": 1, "page": 2},
                     headers=h, timeout=10).json()
    assert r["meta"] == {"page": 2, "limit": 1, "count": 2} and len(r["data"]) == 1
    for bad in ("%s/#/x" % tag, "%s/a+" % tag):
        r = requests.get(db.url + "/api/v1/retained", params={"filter": bad}, headers=h,
                         timeout=10)
        assert r.status_code == 400 and r.json()["code"] == "bad_request", bad
    # delete (URL-encoded topic), then it is gone for MQTT clients too
    before = requests.get(db.url + "/api/v1/stats", headers=h, timeout=10).json()["retained"]
    r = requests.delete(db.url + "/api/v1/retained/" + requests.utils.quote(
        "%s/a/1" % tag, safe=""), headers=h, timeout=10)
    assert r.status_code == 204, r.text
    db.wait_log(r"retained message on %s/a/1 deleted by admin" % tag)
    after = requests.get(db.url + "/api/v1/stats", headers=h, timeout=10).json()["retained"]
    assert after == before - 1
    r = requests.delete(db.url + "/api/v1/retained/%s/a/1" % tag, headers=h, timeout=10)
    assert r.status_code == 404
    s = raw_clients(db, version=4)
    s.connect(tag + "-s")
    s.subscribe("%s/a/#" % tag)
    p = s.recv_publish()
    assert p.topic == "%s/a/2" % tag
    s.no_packet(0.5)


def test_retained_delete_is_persisted(broker_factory, raw_clients):
    http, = free_ports(1)
    tag = uniq("dp")
    b = broker_factory(start=False)
    b.start(dash_lines(http) + ["dashboard.default_user.password = pw-53"])
    wait_port(http)
    b.url = "http://127.0.0.1:%d" % http
    b.password = "pw-53"
    c = raw_clients(b)
    c.connect(tag)
    c.publish(tag + "/keep", b"1", qos=1, retain=True)
    c.publish(tag + "/gone", b"2", qos=1, retain=True)
    r = requests.delete(b.url + "/api/v1/retained/%s/gone" % tag, headers=auth(b), timeout=10)
    assert r.status_code == 204
    b.restart()
    wait_port(http)
    c = raw_clients(b)
    c.connect(tag + "-2")
    c.subscribe(tag + "/#")
    assert c.recv_publish().topic == tag + "/keep"
    c.no_packet(0.5)


def basic(key_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (key_id, secret)).encode()).decode()}


def test_api_keys(broker_factory):
    http, = free_ports(1)
    b = broker_factory(start=False)
    b.start(dash_lines(http) + ["dashboard.default_user.password = pw-keys"])
    wait_port(http)
    b.url = "http://127.0.0.1:%d" % http
    b.password = "pw-keys"
    h = auth(b)
    r = requests.post(b.url + "/api/v1/api_keys", json={"name": "ci: deploy"}, headers=h,
                      timeout=10)
    assert r.status_code == 201, r.text
    k = r.json()
    assert k["name"] == "ci: deploy" and re.fullmatch(r"[0-9a-f]{16}", k["id"])
    assert re.fullmatch(r"[0-9a-f]{48}", k["secret"])
    b.wait_log(r"API key %s \(ci: deploy\) created by admin" % k["id"])
    assert k["secret"] not in b.log
    # stored hashed, mode 0600; listed without the secret
    path = os.path.join(b.data_dir, "dashboard-api-keys")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path).read()
    assert k["id"] in text and k["secret"] not in text and "pbkdf2-sha256" in text
    lst = requests.get(b.url + "/api/v1/api_keys", headers=h, timeout=10).json()["data"]
    assert [(x["id"], x["name"]) for x in lst] == [(k["id"], "ci: deploy")]
    assert "secret" not in lst[0] and lst[0]["created_at"] > 0
    # the key works on the other routes, twice (the second from the cache)
    kh = basic(k["id"], k["secret"])
    for _ in range(2):
        r = requests.get(b.url + "/api/v1/stats", headers=kh, timeout=10)
        assert r.status_code == 200, r.text
    assert requests.get(b.url + "/metrics", headers=kh, timeout=10).status_code == 200
    assert requests.get(b.url + "/api/v1/api_keys", headers=kh, timeout=10).status_code == 200
    # but cannot make or delete keys, nor log out
    for method, path in (("POST", "/api/v1/api_keys"), ("DELETE", "/api/v1/api_keys/" + k["id"]),
                         ("POST", "/api/v1/logout")):
        r = requests.request(method, b.url + path, json={"name": "x"}, headers=kh, timeout=10)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", (method, path)
    # a wrong secret, an unknown id
    assert requests.get(b.url + "/api/v1/stats", headers=basic(k["id"], "0" * 48),
                        timeout=10).status_code == 401
    assert requests.get(b.url + "/api/v1/stats", headers=basic("0" * 16, k["secret"]),
                        timeout=10).status_code == 401
    assert requests.post(b.url + "/api/v1/api_keys", json={"name": ""}, headers=h,
                         timeout=10).status_code == 400
    # kept across a restart
    b.restart()
    wait_port(http)
    assert requests.get(b.url + "/api/v1/stats", headers=kh, timeout=10).status_code == 200
    h = auth(b)
    r = requests.delete(b.url + "/api/v1/api_keys/" + k["id"], headers=h, timeout=10)
    assert r.status_code == 204
    assert requests.get(b.url + "/api/v1/stats", headers=kh, timeout=10).status_code == 401
    assert requests.delete(b.url + "/api/v1/api_keys/" + k["id"], headers=h,
                           timeout=10).status_code == 404
    assert requests.get(b.url + "/api/v1/api_keys", headers=h, timeout=10).json()["data"] == []


def test_api_key_guessing_is_throttled(broker_factory):
    http, = free_ports(1)
    b = broker_factory(start=False)
    b.start(dash_lines(http))
    wait_port(http)
    bad = basic("0" * 16, "1" * 48)
    codes = [requests.get("http://127.0.0.1:%d/api/v1/stats" % http, headers=bad, timeout=10).status_code
             for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
