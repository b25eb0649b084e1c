# SPDX-License-Identifier: Apache-2.0
"""Authentication per listener: a listener's own auth_chain and
allow_anonymous, next to listeners that follow the global settings; a bad
per-listener chain stops start-up with the key named."""
import subprocess

from conftest import free_port
from mqttraw import RawClient
from test_60_auth import mosquitto_passwd


def conn(port, client_id, version=5, expect_rc=0, **kw):
    c = RawClient(port, version=version)
    c.connect(client_id, expect_rc=expect_rc, **kw)
    return c


def test_listener_chain_and_anonymous(broker_factory, tmp_path):
    pw = tmp_path / "passwd"
    mosquitto_passwd(pw, "bob", "bob-pw", create=True)
    second = free_port()
    b = broker_factory(["auth.mnesia.password_hash = plain", "auth.user.1.username = alice",
                        "auth.user.1.password = alice-pw", "password_file = %s" % pw,
                        "listener.tcp.devices = 127.0.0.1:%d" % second,
                        "listener.tcp.devices.auth_chain = passwd_file",
                        "listener.tcp.devices.allow_anonymous = false"])
    # the default listener: auth.chain (builtin, passwd_file), allow_anonymous = true
    conn(b.port, "a1", username="alice", password=b"alice-pw").close()
    conn(b.port, "b1", username="bob", password=b"bob-pw").close()
    conn(b.port, "anon").close()
    # the devices listener asks only the password file and refuses the unknown
    conn(second, "b2", username="bob", password=b"bob-pw").close()
    conn(second, "b3", 4, expect_rc=4, username="bob", password=b"nope").expect_closed()
    conn(second, "a2", expect_rc=0x87, username="alice", password=b"alice-pw").expect_closed()
    conn(second, "anon2", 4, expect_rc=5).expect_closed()
    b.wait_log(r"anonymous access refused \(allow_anonymous = false\)")


def test_listener_anonymous_true_overrides(broker_factory):
    second = free_port()
    b = broker_factory(["allow_anonymous = false",
                        "listener.tcp.open = 127.0.0.1:%d" % second,
                        "listener.tcp.open.allow_anonymous = true"])
    conn(b.port, "x", expect_rc=0x87).expect_closed()
    conn(second, "y").close()


def test_bad_listener_chain_stops_startup(broker_factory, tmp_path):
    b = broker_factory(start=False)
    b.port = free_port()
    b.data_dir = str(tmp_path / "d")
    b.extra = ["listener.tcp.default.auth_chain = builtin, nosuch"]
    b.write_config()
    from conftest import moat_bin
    r = subprocess.run([moat_bin(), "-c", str(b.conf_path)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode != 0
    assert "listener.tcp.default.auth_chain" in r.stderr and "unknown source 'nosuch'" in r.stderr
