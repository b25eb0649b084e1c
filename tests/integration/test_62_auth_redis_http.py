# SPDX-License-Identifier: Apache-2.0
"""The redis and http authentication backends against real servers: a
private redis-server and a Python HTTP(S) service (authservers.py)."""
import hashlib
import threading
import time
import warnings

import pytest

from authservers import AuthService, RedisServer, auth_service, redis_server  # noqa: F401
from conftest import free_port, wait_until
import mqttraw
from mqttraw import RawClient
from tlsutil import pki, start_expect_failure  # noqa: F401

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt


def conn(b, version=5, client_id="c", expect_rc=0, **kw):
    c = RawClient(b.port, version=version)
    c.connect(client_id, expect_rc=expect_rc, **kw)
    return c


def bad_pw(version):
    return 0x86 if version == 5 else 4


def unauth(version):
    return 0x87 if version == 5 else 5


def unavailable(version):
    return 0x88 if version == 5 else 3


def redis_lines(r, *extra):
    """The backend on r; clear-text passwords unless extra says otherwise
    (moat's default is sha256: clear text only when written)."""
    hashed = any(x.startswith("auth.redis.password_hash") for x in extra)
    return (["auth.redis.server = 127.0.0.1:%d" % r.port, "allow_anonymous = false"] +
            ([] if hashed else ["auth.redis.password_hash = plain"]) + list(extra))


# ------------------------------------------------------------------ Redis

HASHES = {
    "plain": lambda pw, salt: pw,
    "sha256": lambda pw, salt: hashlib.sha256(pw.encode()).hexdigest(),
    "salt,sha256": lambda pw, salt: hashlib.sha256((salt + pw).encode()).hexdigest(),
    "sha512,salt": lambda pw, salt: hashlib.sha512((pw + salt).encode()).hexdigest(),
    "bcrypt": lambda pw, salt: crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)),
}


@pytest.mark.parametrize("spec", list(HASHES))
def test_redis_password_hashes(broker_factory, redis_server, spec):
    key = "h_%s:" % spec.replace(",", "_")
    redis_server.cmd("HSET", key + "u1", "password", HASHES[spec]("pw-1", "s4lt"),
                     "salt", "s4lt")
    b = broker_factory(redis_lines(redis_server, "auth.redis.password_hash = " + spec,
                                   "auth.redis.auth_cmd = HMGET %s%%u password salt" % key))
    for v in (4, 5):
        conn(b, v, "ok%d" % v, username="u1", password=b"pw-1").close()
        conn(b, v, "bad%d" % v, expect_rc=bad_pw(v), username="u1",
             password=b"pw-2").expect_closed()
        conn(b, v, "nopw%d" % v, expect_rc=bad_pw(v), username="u1").expect_closed()
        # unknown to redis: the next source (none), then allow_anonymous = false
        conn(b, v, "unk%d" % v, expect_rc=unauth(v), username="nobody",
             password=b"x").expect_closed()
        conn(b, v, "anon%d" % v, expect_rc=unauth(v)).expect_closed()


def test_redis_default_hash_is_not_clear_text(broker_factory, redis_server):
    """EMQX's default is plain; moat's is sha256: a clear-text password in
    Redis only works when password_hash = plain is written."""
    r = redis_server
    r.cmd("HSET", "dflt:hashed", "password", hashlib.sha256(b"pw-9").hexdigest())
    r.cmd("HSET", "dflt:clear", "password", "pw-9")
    b = broker_factory(["auth.redis.server = 127.0.0.1:%d" % r.port, "allow_anonymous = false",
                        "auth.redis.auth_cmd = HMGET dflt:%u password"])
    conn(b, 5, "d1", username="hashed", password=b"pw-9").close()
    conn(b, 5, "d2", expect_rc=bad_pw(5), username="clear", password=b"pw-9").expect_closed()


def test_redis_superuser_and_acl(broker_factory, redis_server, tmp_path):
    r = redis_server
    r.cmd("HSET", "mqtt_user:root", "password", "root-pw", "is_superuser", "1")
    r.cmd("HSET", "mqtt_user:dev", "password", "dev-pw", "is_superuser", "0")
    r.cmd("HSET", "mqtt_acl:dev", "dev/%u/#", "3", "up/#", "2", "down/#", "1")
    acl = tmp_path / "acl.conf"
    acl.write_text('{allow, all, subscribe, ["common/#"]}.\n')
    b = broker_factory(redis_lines(r, "acl_nomatch = deny", "acl_file = %s" % acl))
    for v in (4, 5):
        deny = 0x87 if v == 5 else 0x80
        d = conn(b, v, "d%d" % v, username="dev", password=b"dev-pw")
        codes = d.subscribe([("dev/dev/x", 1), ("down/1", 0), ("up/1", 0), ("other", 0),
                             ("common/x", 0), ("dev/root/x", 0)]).codes
        assert codes == [1, 0, deny, deny, 0, deny]
        if v == 5:
            assert d.publish("up/1", b"x", qos=1).rc == 0
            assert d.publish("down/1", b"x", qos=1).rc == 0x87
            assert d.publish("dev/dev/y", b"x", qos=1).rc == 0
            assert d.publish("other", b"x", qos=1).rc == 0x87
        d.publish("dev/dev/x", b"back", qos=0)
        assert d.recv_publish().payload == b"back"
        d.close()
        s = conn(b, v, "s%d" % v, username="root", password=b"root-pw")
        assert s.subscribe([("#", 0), ("other", 0)]).codes == [0, 0]
        if v == 5:
            assert s.publish("down/1", b"x", qos=1).rc == 0
        s.close()


def test_redis_acl_cmd_failure_fails_closed(broker_factory, redis_server):
    r = redis_server
    r.cmd("HSET", "mqtt_user:wt", "password", "wt-pw")
    r.cmd("SET", "mqtt_acl:wt", "not a hash")  # HGETALL: WRONGTYPE
    b = broker_factory(redis_lines(r))
    conn(b, 5, "wt", expect_rc=0x88, username="wt", password=b"wt-pw").expect_closed()
    b.wait_log(r"redis could not answer \(acl_cmd: WRONGTYPE")
    # without acl_cmd the same user gets in; and SIGHUP swaps the backend
    b.stop()
    b.start(redis_lines(r, "auth.redis.acl_cmd ="))
    conn(b, 5, "wt2", username="wt", password=b"wt-pw").close()
    import signal
    b.signal(signal.SIGHUP)
    b.wait_log(r"SIGHUP: configuration reloaded")
    conn(b, 5, "wt3", username="wt", password=b"wt-pw").close()


def test_redis_small_pool_many_logins(broker_factory, redis_server):
    redis_server.cmd("HSET", "mqtt_user:many", "password", "m-pw")
    b = broker_factory(redis_lines(redis_server, "auth.redis.pool = 2", "auth.pool_size = 8"))
    errors = []

    def login(i):
        try:
            conn(b, 5, "m%d" % i, username="many", password=b"m-pw").close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=login, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not errors, errors
    info = redis_server.cmd("INFO", "clients").decode()
    # the broker's connections (at most auth.redis.pool) and this one
    assert int(info.split("connected_clients:")[1].split()[0]) <= 3, info


def test_redis_acl_refresh(broker_factory, redis_server):
    r = redis_server
    r.cmd("HSET", "mqtt_user:rf", "password", "rf-pw")
    r.cmd("HSET", "mqtt_acl:rf", "r/1", "3")
    b = broker_factory(redis_lines(r, "acl_nomatch = deny", "acl_cache_ttl = 1s"))
    c = conn(b, 5, "rf", username="rf", password=b"rf-pw")
    assert c.subscribe([("r/1", 0), ("r/2", 0)]).codes == [0, 0x87]
    r.cmd("HSET", "mqtt_acl:rf", "r/2", "1")
    r.cmd("HDEL", "mqtt_acl:rf", "r/1")
    # fetched again (acl_cmd, no password) once the rules are older than 1 s
    wait_until(lambda: c.subscribe([("r/2", 0)]).codes == [0], timeout=5, interval=0.3,
               what="the new rules from redis")
    assert c.subscribe([("r/1", 0)]).codes == [0x87]
    c.close()


def test_redis_injection_is_one_argument(broker_factory, redis_server):
    r = redis_server
    r.cmd("HSET", "mqtt_user:eve", "password", "eve-pw")
    r.cmd("SET", "canary", "alive")
    b = broker_factory(redis_lines(r))
    # "eve password" must stay one key name, not HMGET mqtt_user:eve password password
    for i, user in enumerate(["eve password", "eve\r\nFLUSHALL", "%u %c", "* 1"]):
        conn(b, 5, "inj%d" % i, expect_rc=0x87, username=user, password=b"eve-pw").expect_closed()
    assert r.cmd("GET", "canary") == b"alive"
    conn(b, 5, "eve", username="eve", password=b"eve-pw").close()


def test_redis_requirepass_database(broker_factory, tmp_path):
    r = RedisServer(tmp_path / "rpw", password="r-secret-9").start()
    try:
        r.cmd("SELECT", "3")  # a fresh connection each time: write with HSET in db 3 below
        with_db = ["auth.redis.database = 3", "auth.redis.password_hash = sha256",
                   "auth.redis.query_timeout = 2s"]
        # write into database 3 over one connection (MULTI-free: SELECT + HSET pipelined)
        import socket
        from authservers import _resp_encode, _RespReader
        with socket.create_connection(("127.0.0.1", r.port), timeout=5) as s:
            rd = _RespReader(s)
            for c in (["AUTH", "r-secret-9"], ["SELECT", "3"],
                      ["HSET", "mqtt_user:kim", "password",
                       hashlib.sha256(b"kim-pw").hexdigest()]):
                s.sendall(_resp_encode(c))
                rd.read()
        b = broker_factory(redis_lines(r, "auth.redis.password = r-secret-9", *with_db))
        conn(b, 5, "k1", username="kim", password=b"kim-pw").close()
        # a wrong server password: no answer (0x88), and the password is never logged
        b2 = broker_factory(redis_lines(r, "auth.redis.password = wrong-one-7", *with_db))
        conn(b2, 5, "k2", expect_rc=0x88, username="kim", password=b"kim-pw").expect_closed()
        b2.wait_log(r"auth\.redis: server 127\.0\.0\.1:%d unreachable: AUTH refused" % r.port)
        assert "wrong-one-7" not in b2.log and "kim-pw" not in b2.log
    finally:
        r.stop()


def test_redis_down_and_back(broker_factory, tmp_path):
    r = RedisServer(tmp_path / "rdown").start()
    try:
        r.cmd("HSET", "mqtt_user:ann", "password", "ann-pw")
        b = broker_factory(redis_lines(r, "auth.timeout = 2s"))
        keep = conn(b, 5, "keep", username="ann", password=b"ann-pw")
        keep.subscribe([("k/#", 0)])
        r.stop()
        for i in range(3):
            t = time.monotonic()
            conn(b, 5, "n%d" % i, expect_rc=0x88, username="ann", password=b"ann-pw").expect_closed()
            assert time.monotonic() - t < 1.0
            keep.publish("k/%d" % i, b"still", qos=0)
            assert keep.recv_publish().payload == b"still"
        b.wait_log(r"\[warning\] auth\.redis: server 127\.0\.0\.1:%d unreachable: "
                   r"Connection refused; retrying in 0\.5 s" % r.port)
        assert b.log.count("unreachable: Connection refused; retrying") == 1
        r.start()  # same port, empty data set
        r.cmd("HSET", "mqtt_user:ann", "password", "ann-pw")

        def back():
            c = RawClient(b.port, version=5)
            c.send(mqttraw.connect("back", version=5, username="ann", password=b"ann-pw"))
            ok = c.expect(mqttraw.CONNACK).rc == 0
            c.close()
            return ok
        t = time.monotonic()
        wait_until(back, timeout=5, interval=0.2, what="logins through redis again")
        assert time.monotonic() - t < 4
        b.wait_log(r"\[notice\] auth\.redis: connected again")
        keep.close()
        r.stop()
    finally:
        r.stop()  # stopped even when the test fails half-way


def test_redis_down_on_error_ignore(broker_factory):
    dead = free_port()
    b = broker_factory(["auth.redis.server = 127.0.0.1:%d" % dead, "allow_anonymous = false",
                        "auth.on_error = ignore", "auth.mnesia.password_hash = plain",
                        "auth.user.1.username = local", "auth.user.1.password = local-pw"])
    conn(b, 5, "l1", username="local", password=b"local-pw").close()
    conn(b, 4, "l2", expect_rc=4, username="local", password=b"nope").expect_closed()
    conn(b, 5, "l3", expect_rc=0x87, username="other", password=b"x").expect_closed()
    b.wait_log(r"auth: redis failed .*; auth\.on_error = ignore")


@pytest.mark.parametrize("lines,msg", [
    (["auth.redis.type = sentinel"], "auth.redis.type: sentinel is not supported yet, use single"),
    (["auth.redis.type = cluster"], "cluster is not supported yet, use single"),
    (["auth.redis.password_hash = sha3"], "auth.redis.password_hash"),
    (["auth.redis.auth_cmd = HGET u:%x password"], "auth.redis.auth_cmd: unknown placeholder '%x'"),
    (["auth.redis.super_cmd = HGET u:%P su"], "auth.redis.super_cmd: unknown placeholder '%P'"),
])
def test_redis_config_errors(broker_factory, lines, msg):
    rc, log = start_expect_failure(broker_factory, ["auth.redis.server = 127.0.0.1:1"] + lines)
    assert rc != 0 and msg in log, log


# ------------------------------------------------------------------ HTTP

def http_lines(svc, *extra):
    return ["auth.http.auth_req = " + svc.url(), "allow_anonymous = false"] + list(extra)


def test_http_form_post(broker_factory, auth_service):
    s = auth_service
    s.users = {"hu": "p&w=1 %é+"}
    b = broker_factory(http_lines(s))
    for v in (4, 5):
        conn(b, v, "cid/%d" % v, username="hu", password="p&w=1 %é+".encode()).close()
        got = s.last()
        assert got["method"] == "POST" and got["path"] == "/auth"
        assert got["ctype"] == "application/x-www-form-urlencoded"
        assert got["params"] == {"clientid": "cid/%d" % v, "username": "hu",
                                 "password": "p&w=1 %é+"}
        conn(b, v, "w%d" % v, expect_rc=bad_pw(v), username="hu", password=b"x").expect_closed()
        # 404 for an unknown user is a 4xx: deny
        conn(b, v, "u%d" % v, expect_rc=bad_pw(v), username="who", password=b"x").expect_closed()
    # no username: sent as ""
    conn(b, 5, "nouser", expect_rc=0x86, password=b"x").expect_closed()
    assert s.last()["params"]["username"] == ""
    assert "p&w=1" not in b.log


def test_http_json_get_and_params(broker_factory, auth_service):
    s = auth_service
    s.users = {"j\"u": "pw\\\"x"}
    b = broker_factory(http_lines(s, "auth.http.auth_req.headers.content-type = application/json",
                                  "auth.http.auth_req.params = u=%u,p=%P,ip=%a,fixed=a%%b,"
                                  "username=%u,password=%P"))
    conn(b, 5, "jc", username='j"u', password=b'pw\\"x').close()
    got = s.last()
    assert got["ctype"] == "application/json"
    assert got["params"] == {"u": 'j"u', "p": 'pw\\"x', "ip": "127.0.0.1", "fixed": "a%b",
                             "username": 'j"u', "password": 'pw\\"x'}
    g = broker_factory(["auth.http.auth_req.url = " + s.url("/auth?x=1"),
                        "auth.http.auth_req.method = get", "allow_anonymous = false"])
    conn(g, 5, "g c", username='j"u', password=b'pw\\"x').close()
    got = s.last()
    assert got["method"] == "GET" and got["body"] == b""
    assert got["params"] == {"x": "1", "clientid": "g c", "username": 'j"u',
                             "password": 'pw\\"x'}


def test_http_answers(broker_factory, auth_service, tmp_path):
    s = auth_service
    s.users = {"a": "a-pw", "root": "root-pw"}
    s.superusers = {"root"}
    acl = tmp_path / "acl.conf"
    acl.write_text("{deny, all}.\n")
    common = ["acl_file = %s" % acl, "auth.on_error = deny"]
    b = broker_factory(http_lines(s, *common))
    # "ignore" for unknown users: next source (none), allow_anonymous = false
    s.mode = "ignore"
    conn(b, 5, "i1", expect_rc=0x87, username="zed", password=b"x").expect_closed()
    # JSON results, and is_superuser
    s.mode = "json"
    conn(b, 5, "j1", expect_rc=0x86, username="a", password=b"bad").expect_closed()
    conn(b, 5, "j2", expect_rc=0x87, username="zed", password=b"x").expect_closed()
    a = conn(b, 5, "j3", username="a", password=b"a-pw")
    assert a.subscribe([("x", 0)]).codes == [0x87]
    r = conn(b, 5, "j4", username="root", password=b"root-pw")
    assert r.subscribe([("x", 0)]).codes == [0]
    # 5xx: an error, auth.on_error = deny
    s.mode = "500"
    conn(b, 5, "e1", expect_rc=0x88, username="a", password=b"a-pw").expect_closed()
    conn(b, 4, "e2", expect_rc=3, username="a", password=b"a-pw").expect_closed()
    b.wait_log(r"http could not answer \(the service answered HTTP 500\)")
    # superuser through super_req
    s.mode = "status"
    # EMQX 4.3's own spellings load too (content_type, enable_pipelining)
    b2 = broker_factory(http_lines(s, *common, "auth.http.super_req.url = " + s.url("/super"),
                                   "auth.http.super_req.headers.content_type = application/json",
                                   "auth.http.enable_pipelining = true"))
    r = conn(b2, 5, "s1", username="root", password=b"root-pw")
    assert r.subscribe([("x", 0)]).codes == [0]
    assert s.last()["path"] == "/super" and s.last()["ctype"] == "application/json"
    a = conn(b2, 5, "s2", username="a", password=b"a-pw")
    assert a.subscribe([("x", 0)]).codes == [0x87]


def test_http_500_on_error_ignore(broker_factory, auth_service):
    s = auth_service
    s.mode = "500"
    b = broker_factory(http_lines(s, "auth.on_error = ignore", "auth.mnesia.password_hash = plain",
                                  "auth.user.1.username = local",
                                  "auth.user.1.password = local-pw",
                                  "auth.chain = http, builtin"))
    conn(b, 5, "l1", username="local", password=b"local-pw").close()
    conn(b, 5, "l2", expect_rc=0x86, username="local", password=b"bad").expect_closed()


def test_http_down(broker_factory):
    dead = free_port()
    b = broker_factory(["auth.http.auth_req = http://127.0.0.1:%d/auth" % dead,
                        "allow_anonymous = false"])
    for i in range(3):
        t = time.monotonic()
        conn(b, 5, "d%d" % i, expect_rc=0x88, username="u", password=b"p").expect_closed()
        assert time.monotonic() - t < 1.0
    b.wait_log(r"\[warning\] auth\.http: server 127\.0\.0\.1:%d unreachable: .*; "
               r"retrying in 0\.5 s" % dead)
    assert b.log.count("retrying in") == 1
    # the service comes up: logins recover within the backoff
    s = AuthService(port=dead)
    try:
        s.users = {"u": "p"}

        def ok():
            c = RawClient(b.port, version=5)
            c.send(mqttraw.connect("up", version=5, username="u", password=b"p"))
            rc = c.expect(mqttraw.CONNACK).rc
            c.close()
            return rc == 0
        wait_until(ok, timeout=5, interval=0.2, what="logins through http again")
        b.wait_log(r"\[notice\] auth\.http: connected again \(server 127\.0\.0\.1:%d\)" % dead)
    finally:
        s.stop()


def test_http_slow_service(broker_factory, auth_service):
    s = auth_service
    s.users = {"a": "a-pw"}
    b = broker_factory(http_lines(s, "auth.timeout = 1s", "auth.mnesia.password_hash = plain",
                                  "auth.user.1.username = fast", "auth.user.1.password = f-pw"))
    fast = conn(b, 5, "fast", username="fast", password=b"f-pw")
    fast.subscribe([("f/#", 0)])
    s.mode, s.delay = "slow", 3.0
    result = {}

    def slow_login():
        t = time.monotonic()
        c = conn(b, 5, "slow", expect_rc=0x88, username="a", password=b"a-pw")
        result["took"] = time.monotonic() - t
        c.close()
    th = threading.Thread(target=slow_login)
    th.start()
    for i in range(5):  # the loop keeps serving while the login waits
        fast.publish("f/%d" % i, b"x", qos=0)
        assert fast.recv_publish(timeout=1).topic == "f/%d" % i
        time.sleep(0.1)
    th.join(timeout=5)
    assert 0.9 <= result["took"] < 2.0, result


def test_https_verified(broker_factory, pki):
    s = AuthService(tls=(pki("server-fullchain.pem"), pki("server.key")))
    try:
        s.users = {"t": "t-pw"}
        b = broker_factory(http_lines(s, "auth.http.ssl.cacertfile = " + pki("ca.pem")))
        conn(b, 5, "t1", username="t", password=b"t-pw").close()
        conn(b, 5, "t2", expect_rc=0x86, username="t", password=b"no").expect_closed()
        # the wrong CA: no answer, and a log line that says why
        w = broker_factory(http_lines(s, "auth.http.ssl.cacertfile = " + pki("other-ca.pem")))
        conn(w, 5, "t3", expect_rc=0x88, username="t", password=b"t-pw").expect_closed()
        w.wait_log(r"\[warning\] auth\.http: server 127\.0\.0\.1:%d unreachable: "
                   r"SSL certificate problem" % s.port)
    finally:
        s.stop()


@pytest.mark.parametrize("lines,msg", [
    (["auth.http.auth_req = ftp://x/y"], "auth.http.auth_req: 'ftp://x/y' is not an http or "
                                         "https URL"),
    (["auth.http.auth_req = http://127.0.0.1:1/a", "auth.http.auth_req.params = u=%q"],
     "auth.http.auth_req.params: unknown placeholder '%q'"),
    (["auth.http.auth_req = http://127.0.0.1:1/a", "auth.http.auth_req.params = nameonly"],
     "is not name=value"),
    (["auth.http.auth_req = http://127.0.0.1:1/a", "auth.http.ssl.cacertfile = /nonexistent.pem"],
     "auth.http.ssl.cacertfile: cannot open /nonexistent.pem"),
])
def test_http_config_errors(broker_factory, lines, msg):
    rc, log = start_expect_failure(broker_factory, lines)
    assert rc != 0 and msg in log, log
