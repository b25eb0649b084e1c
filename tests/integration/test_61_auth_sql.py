# SPDX-License-Identifier: Apache-2.0
"""Authentication and ACLs from PostgreSQL (auth.pgsql.*) and MySQL/MariaDB
(auth.mysql.*) with EMQX 4's keys and tables, against real servers started
for this module (sqlservers.py): every stored hash form, superusers,
acl_query rows, an injection attempt, a server that goes away and comes
back, a query slower than auth.timeout."""
import hashlib
import re
import signal
import subprocess
import time
import warnings

import pytest

import mqttraw
from conftest import uniq, wait_until
from mqttraw import RawClient
from sqlservers import my_server, pg_server  # noqa: F401 (fixtures)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt


def sha256(b):
    return hashlib.sha256(b).hexdigest()


# (password_hash setting, username, password, stored, salt)
SCHEMES = [
    ("plain", "u_plain", "pw-plain", "pw-plain", None),
    ("sha256", "u_sha", "pw-sha", sha256(b"pw-sha"), None),
    ("salt,sha256", "u_pre", "pw-pre", sha256(b"NaCl1" + b"pw-pre"), "NaCl1"),
    ("sha256,salt", "u_suf", "pw-suf", sha256(b"pw-suf" + b"NaCl2"), "NaCl2"),
    ("bcrypt", "u_bcrypt", "pw-bc", crypt.crypt("pw-bc", "$2b$04$" + "abcdefghijklmnopqrstuu"),
     None),
    ("pbkdf2,sha256,1000,20", "u_pbkdf2", "pw-pb",
     hashlib.pbkdf2_hmac("sha256", b"pw-pb", b"NaCl3", 1000, 20).hex(), "NaCl3"),
]

# acl_query rows (allow, ipaddr, username, clientid, access, topic); access
# 1 subscribe, 2 publish, 3 both
ACL_ROWS = [
    (0, None, "alice", None, 2, "secret/#"),
    (1, None, "alice", None, 3, "users/%u/#"),
    (1, None, None, "dev-1", 2, "devices/%c/up"),
    (0, None, "$all", None, 1, "eq #"),
    (1, "127.0.0.1", None, None, 1, "public/#"),
    (1, None, "alice", None, 9, "bad/#"),  # no such access: skipped with a warning
]
ACL_QUERY = ("select allow, ipaddr, username, clientid, access, topic from mqtt_acl where "
             "ipaddr = '%a' or username = '%u' or username = '$all' or clientid = '%c' "
             "order by id")


def lit(v):
    return "NULL" if v is None else "'%s'" % v if isinstance(v, str) else str(v)


def seed(db):
    rows = [(u, stored, salt, False) for _, u, _, stored, salt in SCHEMES]
    rows += [("alice", "alice-pw", None, False), ("root", "root-pw", None, True),
             ("nopw", None, None, False), ("slowpoke", "slow-pw", None, False),
             ("carol", "carol-pw", None, False)]
    true, false = ("true", "false") if db.name == "pgsql" else ("1", "0")
    db.sql("; ".join("insert into mqtt_user (username, password, salt, is_superuser) values "
                     "(%s, %s, %s, %s)" % (lit(u), lit(p), lit(s), true if su else false)
                     for u, p, s, su in rows))
    db.sql("; ".join("insert into mqtt_acl (allow, ipaddr, username, clientid, access, topic) "
                     "values (%s)" % ", ".join(lit(v) for v in r) for r in ACL_ROWS))
    db.seeded = True


@pytest.fixture(params=["pgsql", "mysql"])
def db(request):
    s = request.getfixturevalue("pg_server" if request.param == "pgsql" else "my_server")
    if not getattr(s, "seeded", False):
        seed(s)
    if not s.running():  # a failed outage test left it stopped
        s.start()
    return s


def conn(b, version=5, client_id=None, expect_rc=0, **kw):
    c = RawClient(b.port, version=version)
    c.connect(client_id or uniq("c"), expect_rc=expect_rc, **kw)
    return c


def refused(b, rc, version=5, **kw):
    conn(b, version, expect_rc=rc, **kw).expect_closed()


def test_password_hashes(db, broker_factory):
    for spec, user, pw, _, salt in SCHEMES:
        q = "select %s from mqtt_user where username = '%%u' limit 1" % (
            "salt, password" if salt else "password")
        b = broker_factory(db.conf_lines(password_hash=spec, auth_query=q) +
                           ["allow_anonymous = false"])
        conn(b, 5, username=user, password=pw.encode()).close()
        conn(b, 4, username=user, password=pw.encode()).close()
        refused(b, 0x86, 5, username=user, password=b"wrong")
        refused(b, 4, 4, username=user, password=b"wrong")
        refused(b, 0x86, 5, username=user)  # no password at all
        b.stop()


def test_unknown_null_and_injection(db, broker_factory):
    b = broker_factory(db.conf_lines(password_hash="plain") + ["allow_anonymous = false"])
    # no row: not the database's client; allow_anonymous decides
    refused(b, 0x87, username="mallory", password=b"x")
    refused(b, 0x87)  # no username: the auth_query cannot be asked
    refused(b, 0x86, username="nopw", password=b"x")  # NULL password column
    # values are parameters: quotes in a username are just characters
    for name in ("' or 1=1 --", "alice' --", "alice' or '1'='1", "x\\' or 1=1 #"):
        refused(b, 0x87, username=name, password=b"alice-pw")
        refused(b, 0x87, username=name, password=b"' or '1'='1")
    refused(b, 0x86, username="alice", password=b"' or '1'='1")
    b2 = broker_factory(db.conf_lines(password_hash="plain") + ["allow_anonymous = true"])
    conn(b2, username="mallory", password=b"x").close()
    refused(b2, 0x86, username="alice", password=b"bad")


@pytest.mark.parametrize("version", [4, 5])
def test_superuser_and_acl_rows(db, broker_factory, version):
    b = broker_factory(db.conf_lines(password_hash="plain", acl_query=ACL_QUERY) +
                       ["acl_nomatch = deny", "allow_anonymous = false"])
    deny = 0x87 if version == 5 else 0x80
    a = conn(b, version, "dev-1", username="alice", password=b"alice-pw")
    codes = a.subscribe([("users/alice/#", 1), ("users/bob/#", 0), ("#", 0), ("public/x", 0),
                         ("secret/x", 0), ("bad/x", 0)]).codes
    assert codes == [1, deny, deny, 0, deny, deny]
    if version == 5:
        assert a.publish("secret/x", b"1", qos=1).rc == 0x87
        assert a.publish("users/bob/x", b"1", qos=1).rc == 0x87
        assert a.publish("users/alice/x", b"1", qos=1).rc == 0
        assert a.publish("devices/dev-1/up", b"1", qos=1).rc == 0
    a.publish("users/alice/q0", b"ok", qos=0)
    assert a.recv_publish().topic in ("users/alice/x", "users/alice/q0")
    r = conn(b, version, username="root", password=b"root-pw")
    assert r.subscribe([("#", 0), ("secret/#", 0)]).codes == [0, 0]
    if version == 5:
        assert r.publish("secret/x", b"1", qos=1).rc == 0
    b.wait_log(r"auth\.%s: acl_query row \d+ for client dev-1 skipped: access is '9'" % db.name)
    a.close()
    r.close()


DB_ERRORS = {"pgsql": r'password authentication failed for user "moat"',
             "mysql": r"Access denied for user 'moat'"}


def test_bad_db_password_and_reload(db, broker_factory):
    lines = db.conf_lines(password_hash="plain")
    b = broker_factory([l for l in lines if ".password =" not in l] +
                       ["auth.%s.password = not-the-Password" % db.name])
    refused(b, 0x88, username="alice", password=b"alice-pw")
    b.wait_log(r"auth\.%s: server \S+ unreachable: .*%s" % (db.name, DB_ERRORS[db.name]))
    assert "not-the-Password" not in b.log
    # SIGHUP with the right password: a new backend (the old one retires)
    b.extra = lines
    b.write_config()
    b.signal(signal.SIGHUP)
    b.wait_log(r"SIGHUP: configuration reloaded")
    conn(b, username="alice", password=b"alice-pw").close()


def test_tls_to_the_server(db, broker_factory):
    """auth.<db>.ssl = on: encrypted; with a CA file the server's certificate
    is verified, and one from another CA is refused."""
    plain = db.conf_lines(password_hash="plain")
    b = broker_factory(plain + ["auth.%s.ssl = on" % db.name])
    conn(b, username="alice", password=b"alice-pw").close()
    b2 = broker_factory(plain + ["auth.%s.ssl = on" % db.name,
                                 "auth.%s.ssl.cacertfile = %s" % (db.name, db.cert("ca.pem"))])
    conn(b2, username="alice", password=b"alice-pw").close()
    b3 = broker_factory(plain + ["auth.%s.ssl = on" % db.name, "auth.%s.ssl.cacertfile = %s"
                                 % (db.name, db.cert("other-ca.pem"))])
    refused(b3, 0x88, username="alice", password=b"alice-pw")
    b3.wait_log(r"auth\.%s: server \S+ unreachable: .*(certificate|verify)" % db.name)
    # EMQX's verify = false (verify_none): encrypted, not verified
    b4 = broker_factory(plain + ["auth.%s.ssl = on" % db.name, "auth.%s.ssl.verify = verify_none"
                                 % db.name, "auth.%s.ssl.cacertfile = %s"
                                 % (db.name, db.cert("other-ca.pem"))])
    conn(b4, username="alice", password=b"alice-pw").close()


def test_verify_without_ca_refused_at_start(broker_factory):
    lines = ["auth.mysql.server = 127.0.0.1:1", "auth.mysql.ssl = on",
             "auth.mysql.ssl.verify = true"]
    b = broker_factory(lines, start=False)
    b.start(lines, wait=False)
    b.proc.wait(timeout=10)
    b.expected_exit = True
    assert b.proc.returncode != 0
    assert "auth.mysql.ssl.verify: true needs ssl.cacertfile" in b.log


@pytest.mark.parametrize("line, says", [
    ("auth.pgsql.password_hash = sha3", "auth.pgsql.password_hash"),
    ("auth.mysql.password_hash = pbkdf2,sha256,0,20", "auth.mysql.password_hash"),
    ("auth.pgsql.auth_query = select password from u where name = '%x'", "unknown placeholder %x"),
    ("auth.mysql.acl_query = select * from a where u = '%u", "not closed"),
    ("auth.pgsql.super_query = select 1 where u = $1", "parameter marker"),
    ("auth.mysql.auth_query = select 1 where u = 'id-%u'", "inside the longer string"),
    ("auth.pgsql.server = db:99999", "auth.pgsql.server"),
])
def test_config_errors_named(tmp_path, line, says):
    from conftest import moat_bin
    f = tmp_path / "m.conf"
    f.write_text(line + "\n")
    r = subprocess.run([moat_bin(), "--check-config", "-c", str(f)], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode != 0
    assert "m.conf:1" in r.stderr + r.stdout and says in r.stderr + r.stdout, r.stderr


def test_acl_rows_refreshed(db, broker_factory):
    """acl_cache_ttl: a connected client's rules are fetched again, so a row
    added to mqtt_acl applies without a reconnect."""
    b = broker_factory(db.conf_lines(password_hash="plain", acl_query=ACL_QUERY) +
                       ["acl_nomatch = deny", "acl_cache_ttl = 1s"])
    c = conn(b, username="carol", password=b"carol-pw")
    assert c.publish("carol/x", b"1", qos=1).rc == 0x87
    db.sql("insert into mqtt_acl (allow, ipaddr, username, clientid, access, topic) values "
           "(1, NULL, 'carol', NULL, 2, 'carol/#')")
    try:
        wait_until(lambda: c.publish("carol/x", b"1", qos=1).rc == 0, timeout=10, interval=0.3,
                   what="carol's new rule")
    finally:
        db.sql("delete from mqtt_acl where username = 'carol'")
    c.close()


SLOW = {
    "pgsql": "select password from mqtt_user, pg_sleep(3) where username = '%u' limit 1",
    "mysql": "select password from mqtt_user where username = '%u' and sleep(3) = 0 limit 1",
}


def test_slow_query_times_out(db, broker_factory):
    b = broker_factory(db.conf_lines(password_hash="plain", auth_query=SLOW[db.name]) +
                       ["auth.timeout = 1s"])
    other = conn(b, 5)  # anonymous: no %u, the database is not asked
    topic = uniq("flow/")
    other.subscribe([(topic, 1)])
    slow = RawClient(b.port, version=5)
    t0 = time.monotonic()
    slow.send(mqttraw.connect("slow", version=5, username="alice", password=b"alice-pw"))
    for i in range(5):  # the loop keeps serving while the query runs
        assert other.publish(topic, b"%d" % i, qos=1).rc == 0
        assert other.recv_publish().payload == b"%d" % i
    p = slow.expect(mqttraw.CONNACK, timeout=5)
    took = time.monotonic() - t0
    assert p.rc == 0x88, p
    assert 0.8 < took < 2.5, took
    slow.close()
    other.close()


SLOW_FOR_ONE = {
    "pgsql": "select password from mqtt_user where username = '%u' and "
             "(username <> 'slowpoke' or (select count(*) from pg_sleep(3)) = 1)",
    "mysql": "select password from mqtt_user where username = '%u' and "
             "(username <> 'slowpoke' or sleep(3) = 0)",
}


def test_deadline_frees_the_connection(db, broker_factory):
    """With one connection (pool = 1), a query still running at auth.timeout
    is given up then, not later: the next client gets a connection at once."""
    b = broker_factory(db.conf_lines(password_hash="plain", pool=1,
                                     auth_query=SLOW_FOR_ONE[db.name]) +
                       ["auth.timeout = 1100ms", "allow_anonymous = false"])
    conn(b, username="alice", password=b"alice-pw").close()  # the connection is made
    slow = RawClient(b.port, version=5)
    t0 = time.monotonic()
    slow.send(mqttraw.connect("slowpoke", version=5, username="slowpoke", password=b"slow-pw"))
    assert slow.expect(mqttraw.CONNACK, timeout=5).rc == 0x88
    t1 = time.monotonic()
    conn(b, username="alice", password=b"alice-pw").close()
    t2 = time.monotonic()
    assert 0.9 < t1 - t0 < 1.8, t1 - t0
    assert t2 - t1 < 0.4, t2 - t1
    slow.close()


def test_server_down_and_back(db, broker_factory):
    lines = db.conf_lines(password_hash="plain") + ["allow_anonymous = false",
                                                    "auth.timeout = 3s"]
    b = broker_factory(lines + ["auth.on_error = deny"])
    b2 = broker_factory(lines + ["auth.on_error = ignore", "auth.chain = %s, builtin" % db.name,
                                 "auth.mnesia.password_hash = plain",
                                 "auth.user.1.username = bob", "auth.user.1.password = bob-pw"])
    a = conn(b, 5, username="alice", password=b"alice-pw")
    topic = uniq("keep/")
    a.subscribe([(topic, 1)])
    db.stop()
    try:
        t0 = time.monotonic()
        refused(b, 0x88, username="alice", password=b"alice-pw")
        refused(b, 3, 4, username="alice", password=b"alice-pw")
        assert time.monotonic() - t0 < 2.0
        # the client already in keeps going
        for i in range(3):
            assert a.publish(topic, b"m%d" % i, qos=1).rc == 0
            assert a.recv_publish().payload == b"m%d" % i
        b.wait_log(r"auth\.%s: server 127\.0\.0\.1:%d unreachable: .+; retrying in 0\.5 s"
                   % (db.name, db.port))
        assert "db-Secret-7" not in b.log
        # auth.on_error = ignore: the next source decides
        conn(b2, 5, username="bob", password=b"bob-pw").close()
        refused(b2, 0x87, username="alice", password=b"alice-pw")
    finally:
        db.start()
    t1 = time.monotonic()

    def back():
        c = conn(b, 5, expect_rc=None, username="alice", password=b"alice-pw")
        ok = c.connack.rc == 0
        c.close()
        return ok

    wait_until(back, timeout=10, interval=0.2, what="logins through %s again" % db.name)
    assert time.monotonic() - t1 < 8
    b.wait_log(r"auth\.%s: connected again" % db.name)
    # one line per change of state, not one per refused client
    assert len(re.findall(r"auth\.%s: server \S+ unreachable" % db.name, b.log)) == 1
    conn(b2, 5, username="alice", password=b"alice-pw").close()
    a.close()
