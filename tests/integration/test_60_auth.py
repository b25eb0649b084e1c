# SPDX-License-Identifier: Apache-2.0
"""Authentication (built-in users and client ids, Mosquitto password files)
and authorization (an EMQX 4 acl.conf file)."""
import hashlib
import shutil
import signal
import subprocess

import pytest

import mqttraw
from mqttraw import RawClient

USERS = [
    "auth.mnesia.password_hash = plain",
    "auth.user.1.username = alice",
    "auth.user.1.password = alice-pw",
    "auth.user.2.username = root",
    "auth.user.2.password = root-pw",
    "auth.user.2.is_superuser = true",
    "auth.client.1.clientid = dev-1",
    "auth.client.1.password = dev-pw",
]


def conn(b, version=5, client_id="c", expect_rc=0, **kw):
    c = RawClient(b.port, version=version)
    c.connect(client_id, expect_rc=expect_rc, **kw)
    return c


@pytest.mark.parametrize("version", [4, 5])
def test_builtin_users(broker_factory, version):
    b = broker_factory(USERS + ["allow_anonymous = false"])
    bad = 0x86 if version == 5 else 4
    unauth = 0x87 if version == 5 else 5
    conn(b, version, "a1", username="alice", password=b"alice-pw").close()
    c = conn(b, version, "a2", expect_rc=bad, username="alice", password=b"wrong")
    c.expect_closed()
    conn(b, version, "a3", expect_rc=bad, username="alice").expect_closed()
    # unknown to every source: allow_anonymous decides
    conn(b, version, "a4", expect_rc=unauth, username="mallory", password=b"x").expect_closed()
    conn(b, version, "a5", expect_rc=unauth).expect_closed()
    # by client id: the password goes with the client id, whatever the username
    conn(b, version, "dev-1", username="any", password=b"dev-pw").close()
    conn(b, version, "dev-1", expect_rc=bad, username="any", password=b"nope").expect_closed()


def test_unknown_user_anonymous_allowed(broker_factory):
    b = broker_factory(USERS)  # the test base config: allow_anonymous = true
    conn(b, 5, "x", username="mallory", password=b"x").close()
    # a known user with a wrong password is refused all the same
    conn(b, 5, "y", expect_rc=0x86, username="alice", password=b"bad").expect_closed()


def test_hashed_config_passwords(broker_factory):
    h = hashlib.sha256(b"s3cret").hexdigest()
    b = broker_factory(["auth.mnesia.password_hash = sha256", "auth.user.1.username = bob",
                        "auth.user.1.password = " + h, "allow_anonymous = false"])
    conn(b, 4, "b1", username="bob", password=b"s3cret").close()
    conn(b, 4, "b2", expect_rc=4, username="bob", password=h.encode()).expect_closed()


def test_bad_numbered_key_refused(tmp_path):
    from conftest import moat_bin
    for key in ("auth.user.65.username", "auth.user.0.username", "auth.user.01.username",
                "auth.user.x.username", "auth.user.1.name"):
        f = tmp_path / "m.conf"
        f.write_text("%s = x\n" % key)
        r = subprocess.run([moat_bin(), "--check-config", "-c", str(f)],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode != 0, key
        assert key in r.stderr + r.stdout


def mosquitto_passwd(path, user, pw, create=False):
    exe = shutil.which("mosquitto_passwd")
    if not exe:
        pytest.skip("mosquitto_passwd not installed (scripts/deps.sh test)")
    args = [exe] + (["-c"] if create else []) + ["-b", str(path), user, pw]
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def test_password_file_and_sighup(broker_factory, tmp_path):
    pw = tmp_path / "passwd"
    mosquitto_passwd(pw, "carol", "carol-pw", create=True)
    assert pw.read_text().startswith("carol:$7$")  # 2.0.x writes PBKDF2-SHA512
    b = broker_factory(["password_file = %s" % pw, "allow_anonymous = false"])
    conn(b, 5, "c1", username="carol", password=b"carol-pw").close()
    conn(b, 5, "c2", expect_rc=0x86, username="carol", password=b"x").expect_closed()
    conn(b, 5, "c3", expect_rc=0x87, username="dave", password=b"dave-pw").expect_closed()
    mosquitto_passwd(pw, "dave", "dave-pw")
    mosquitto_passwd(pw, "carol", "new-pw")
    b.signal(signal.SIGHUP)
    b.wait_log(r"SIGHUP: configuration reloaded")
    conn(b, 5, "c4", username="dave", password=b"dave-pw").close()
    conn(b, 5, "c5", expect_rc=0x86, username="carol", password=b"carol-pw").expect_closed()
    conn(b, 5, "c6", username="carol", password=b"new-pw").close()
    # a file that does not parse: the running one stays
    pw.write_text("garbage line\n")
    b.signal(signal.SIGHUP)
    b.wait_log(r"configuration not reloaded.*passwd:1")
    conn(b, 5, "c7", username="dave", password=b"dave-pw").close()


def test_chain_order(broker_factory, tmp_path):
    pw = tmp_path / "passwd"
    mosquitto_passwd(pw, "alice", "file-pw", create=True)
    lines = USERS + ["password_file = %s" % pw, "allow_anonymous = false"]
    b = broker_factory(lines + ["auth.chain = passwd_file, builtin"])
    conn(b, 5, "o1", username="alice", password=b"file-pw").close()
    conn(b, 5, "o2", expect_rc=0x86, username="alice", password=b"alice-pw").expect_closed()
    b2 = broker_factory(lines + ["auth.chain = builtin"])
    conn(b2, 5, "o3", username="alice", password=b"alice-pw").close()
    # passwd_file is not in the chain: its users are unknown
    conn(b2, 5, "o4", expect_rc=0x86, username="alice", password=b"file-pw").expect_closed()


ACL = r"""
%% EMQX 4 acl.conf
{allow, {user, "root"}, pubsub, ["#"]}.
{deny, {user, "alice"}, publish, ["secret/#"]}.
{allow, {user, "alice"}, pubsub, ["users/%u/#", {eq, "exact/#"}]}.
{allow, {client, "dev-1"}, publish, ["devices/%c/up"]}.
{allow, {ipaddr, "127.0.0.0/8"}, subscribe, ["public/#"]}.
{deny, all, subscribe, ["$SYS/#", {eq, "#"}]}.
{allow, all, publish, ["open/+"]}.
"""


def acl_broker(broker_factory, tmp_path, *extra):
    f = tmp_path / "acl.conf"
    f.write_text(ACL)
    return broker_factory(USERS + ["acl_file = %s" % f] + list(extra))


@pytest.mark.parametrize("version", [4, 5])
def test_acl_matrix(broker_factory, tmp_path, version):
    b = acl_broker(broker_factory, tmp_path, "acl_nomatch = deny")
    deny = 0x87 if version == 5 else 0x80
    a = conn(b, version, "ca", username="alice", password=b"alice-pw")
    codes = a.subscribe([("users/alice/#", 1), ("users/bob/#", 1), ("exact/#", 0),
                         ("exact/x", 0), ("public/news", 0), ("#", 0), ("$SYS/#", 0)]).codes
    assert codes == [1, deny, 0, deny, 0, deny, deny]
    if version == 5:
        assert a.publish("users/alice/x", b"1", qos=1).rc == 0
        assert a.publish("secret/x", b"1", qos=1).rc == 0x87
        assert a.publish("users/bob/x", b"1", qos=1).rc == 0x87
        assert a.publish("open/x", b"1", qos=1).rc == 0
    # refused messages are not delivered; allowed ones are
    a.publish("users/alice/q0", b"ok", qos=0)
    a.publish("secret/q0", b"dropped", qos=0)
    seen = []
    while not seen or seen[-1] != "users/alice/q0":
        seen.append(a.recv_publish().topic)
    assert not [t for t in seen if not t.startswith("users/alice/")], seen
    d = conn(b, version, "dev-1", username="dev", password=b"dev-pw")
    d.publish("devices/dev-1/up", b"u", qos=0)
    if version == 5:
        assert d.publish("devices/dev-2/up", b"u", qos=1).rc == 0x87
    r = conn(b, version, "cr", username="root", password=b"root-pw")
    assert r.subscribe([("#", 0), ("$SYS/#", 0)]).codes == [0, 0]
    if version == 5:
        assert r.publish("secret/x", b"1", qos=1).rc == 0
    # anonymous (allowed by the base config): ipaddr and all rules only
    n = conn(b, version, "cn")
    assert n.subscribe([("public/x", 0), ("users/alice/#", 0)]).codes == [0, deny]
    for c in (a, d, r, n):
        c.close()


def test_acl_superuser_bypasses(broker_factory, tmp_path):
    f = tmp_path / "acl.conf"
    f.write_text('{deny, all}.\n')
    b = broker_factory(USERS + ["acl_file = %s" % f])
    r = conn(b, 5, "su", username="root", password=b"root-pw")
    assert r.subscribe([("x/#", 0)]).codes == [0]
    a = conn(b, 5, "nu", username="alice", password=b"alice-pw")
    assert a.subscribe([("x/#", 0)]).codes == [0x87]
    assert a.publish("x/1", b"", qos=1).rc == 0x87


def test_acl_nomatch_allow(broker_factory, tmp_path):
    b = acl_broker(broker_factory, tmp_path)  # acl_nomatch = allow (default)
    a = conn(b, 5, "ca", username="alice", password=b"alice-pw")
    assert a.subscribe([("other/x", 0), ("#", 0)]).codes == [0, 0x87]
    assert a.publish("secret/x", b"", qos=1).rc == 0x87
    assert a.publish("other/x", b"", qos=1).rc == 0


@pytest.mark.parametrize("what", ["publish", "publish0", "subscribe"])
def test_acl_deny_disconnect(broker_factory, tmp_path, what):
    b = acl_broker(broker_factory, tmp_path, "acl_deny_action = disconnect")
    a = conn(b, 5, "ca", username="alice", password=b"alice-pw")
    if what == "subscribe":
        a.send(mqttraw.subscribe(1, [("$SYS/#", 0)], version=5))
    else:
        a.send(mqttraw.publish("secret/x", b"", qos=0 if what == "publish0" else 1,
                               pid=None if what == "publish0" else 1, version=5))
    got = a.expect_closed()
    assert [p.type for p in got] == [mqttraw.DISCONNECT]
    assert got[0].rc == 0x87


def test_acl_file_errors_named(broker_factory, tmp_path):
    f = tmp_path / "acl.conf"
    f.write_text('{allow, all, publish, ["a"]}.\n{allow, {usr, "x"}, publish, ["a"]}.\n')
    b = broker_factory(["acl_file = %s" % f], start=False)
    b.start(["acl_file = %s" % f], wait=False)
    b.proc.wait(timeout=10)
    b.expected_exit = True
    assert b.proc.returncode != 0
    assert "acl.conf:2" in b.log and "usr" in b.log


def test_acl_mosquitto_syntax_and_reload(broker_factory, tmp_path):
    f = tmp_path / "acl"
    f.write_text("user alice\ntopic readwrite users/alice/#\ntopic deny users/alice/locked\n"
                 "pattern write devices/%c/up\n")
    b = broker_factory(USERS + ["acl_file = %s" % f, "acl_nomatch = deny"])
    a = conn(b, 5, "d1", username="alice", password=b"alice-pw")
    assert a.subscribe([("users/alice/#", 0), ("other/#", 0)]).codes == [0, 0x87]
    assert a.publish("users/alice/locked", b"", qos=1).rc == 0x87
    assert a.publish("devices/d1/up", b"", qos=1).rc == 0
    assert a.publish("devices/d2/up", b"", qos=1).rc == 0x87
    f.write_text("user alice\ntopic readwrite other/#\n")
    b.signal(signal.SIGHUP)
    b.wait_log(r"SIGHUP: configuration reloaded")
    # an ACL change applies to connected clients at their next packet
    assert a.subscribe([("users/alice/#", 0), ("other/#", 0)]).codes == [0x87, 0]
    a.close()
