# SPDX-License-Identifier: Apache-2.0
"""The LDAP source against a private slapd (ldapserver.py), and the JWT
source with tokens made here (hmac for HS256, openssl dgst for RS256 and
ES256)."""
import base64
import hashlib
import hmac
import json
import signal
import subprocess
import time

import pytest

from conftest import wait_until
from ldapserver import DEVICE_DN, slapd  # noqa: F401 (fixture)
from mqttraw import RawClient

SALT = b"\x07\x01moat-salt"
PLAIN = {"ssha": "ssha-pw", "sha": "sha-pw", "crypt": "crypt-pw", "plain": "plain-pw",
         "pbkdf2": "pbkdf2-pw", "root": "root-pw", "person": "person-pw"}


def b64(b):
    return base64.b64encode(b).decode()


def ab64(b):
    return b64(b).rstrip("=").replace("+", ".")


def stored(user, pw):
    """userPassword of each test user, made here as a directory tool would."""
    p = pw.encode()
    if user in ("ssha", "person", "root"):
        return "{SSHA}" + b64(hashlib.sha1(p + SALT).digest() + SALT)
    if user == "sha":
        return "{SHA}" + b64(hashlib.sha1(p).digest())
    if user == "crypt":
        h = subprocess.run(["openssl", "passwd", "-6", "-salt", "moatsalt", pw], check=True,
                           capture_output=True, text=True, timeout=10).stdout.strip()
        return "{CRYPT}" + h
    if user == "pbkdf2":
        dk = hashlib.pbkdf2_hmac("sha256", p, SALT, 1000)
        return "{PBKDF2-SHA256}1000$%s$%s" % (ab64(SALT), ab64(dk))
    return pw


def entry(user):
    pw = stored(user, PLAIN[user])
    if user == "person":
        return ("dn: uid=person,%s\nobjectClass: inetOrgPerson\nuid: person\ncn: A Person\n"
                "sn: Person\nuserPassword: %s\n" % (DEVICE_DN, pw))
    su = "isSuperuser: TRUE\n" if user == "root" else ""
    return ("dn: uid=%s,%s\nobjectClass: account\nobjectClass: simpleSecurityObject\n"
            "objectClass: mqttUser\nuid: %s\nuserPassword: %s\n%s" % (user, DEVICE_DN, user, pw, su))


@pytest.fixture(scope="module")
def ldap(slapd):  # noqa: F811
    slapd.add("\n".join(entry(u) for u in PLAIN))
    return slapd


def conn(b, client_id, version=5, expect_rc=0, **kw):
    c = RawClient(b.port, version=version)
    c.connect(client_id, expect_rc=expect_rc, **kw)
    return c


def login(b, user, pw, version=5, expect_rc=0, client_id=None):
    c = conn(b, client_id or "c-" + user[:20], version, expect_rc, username=user,
             password=pw.encode() if isinstance(pw, str) else pw)
    if expect_rc:
        c.expect_closed()
    else:
        c.close()


CLOSED = ["allow_anonymous = false", "auth.on_error = deny"]


# ---------------------------------------------------------------- LDAP


def test_ldap_search_and_compare(broker_factory, ldap):
    b = broker_factory(ldap.config_lines() + CLOSED + [
        "auth.chain = ldap, builtin", "auth.mnesia.password_hash = plain",
        "auth.user.1.username = local", "auth.user.1.password = local-pw"])
    for user in ("ssha", "sha", "crypt", "plain", "pbkdf2", "root"):
        login(b, user, PLAIN[user])
        login(b, user, PLAIN[user] + "x", expect_rc=0x86)
    login(b, "ssha", "wrong", version=4, expect_rc=4)
    login(b, "ssha", b"", expect_rc=0x86)
    # not in the directory: the next source decides
    login(b, "local", "local-pw")
    login(b, "nobody", "x", expect_rc=0x87)
    # inetOrgPerson is not mqttUser: not found
    login(b, "person", PLAIN["person"], expect_rc=0x87)
    assert "ssha-pw" not in b.log and "plain-pw" not in b.log
    # a reload builds a new pool (the old one closes its connections)
    b.signal(signal.SIGHUP)
    b.wait_log(r"SIGHUP: configuration reloaded")
    login(b, "crypt", PLAIN["crypt"])
    login(b, "crypt", "nope", expect_rc=0x86)


def test_ldap_clear_text_needs_opt_in(broker_factory, ldap):
    """A userPassword without {SCHEME} is clear text: compared only with
    auth.ldap.allow_plain_password = true (the default is false)."""
    b = broker_factory(ldap.config_lines(allow_plain_password="false") + CLOSED)
    login(b, "plain", PLAIN["plain"], expect_rc=0x86)
    b.wait_log(r"auth.ldap: user 'plain': the LDAP entry's password is clear text, refused "
               r"\(auth.ldap.allow_plain_password = false\)")
    login(b, "ssha", PLAIN["ssha"])
    assert "plain-pw" not in b.log


@pytest.mark.parametrize("bind_as_user", ["false", "true"])
def test_ldap_injection_harmless(broker_factory, ldap, bind_as_user):
    b = broker_factory(ldap.config_lines(bind_as_user=bind_as_user) + CLOSED)
    for user in ("*", "*)(uid=*", "ssha)(|(uid=*", "ss*", "*)(objectClass=*",
                 "ssha,ou=device", "uid=ssha," + DEVICE_DN, "ssha\\"):
        for pw in (PLAIN["ssha"], "x"):
            login(b, user, pw, expect_rc=0x87)
    login(b, "ssha", PLAIN["ssha"])


def test_ldap_superuser(broker_factory, ldap, tmp_path):
    acl = tmp_path / "acl.conf"
    acl.write_text("{deny, all}.\n")
    b = broker_factory(ldap.config_lines() + CLOSED + ["acl_file = %s" % acl])
    r = conn(b, "su", username="root", password=b"root-pw")
    assert r.subscribe([("x/#", 0)]).codes == [0]
    p = conn(b, "pl", username="plain", password=b"plain-pw")
    assert p.subscribe([("x/#", 0)]).codes == [0x87]
    r.close()
    p.close()


def test_ldap_bind_as_user(broker_factory, ldap):
    b = broker_factory(ldap.config_lines(bind_as_user="true") + CLOSED)
    for user in ("ssha", "crypt", "plain", "sha"):
        login(b, user, PLAIN[user])
        login(b, user, "wrong", expect_rc=0x86)
    login(b, "plain", b"", expect_rc=0x86)  # an empty password never binds anonymously
    login(b, "nobody", "x", expect_rc=0x87)
    # the connection is bound as the client now: the next search still works
    login(b, "ssha", PLAIN["ssha"])


def test_ldap_inetorgperson(broker_factory, ldap):
    b = broker_factory(ldap.config_lines(match_objectclass="inetOrgPerson") + CLOSED)
    login(b, "person", PLAIN["person"])
    login(b, "person", "nope", expect_rc=0x86)
    login(b, "ssha", PLAIN["ssha"], expect_rc=0x87)


def test_ldaps(broker_factory, ldap, pki):
    lines = ldap.config_lines(port=str(ldap.ldaps_port), ssl="true",
                              ssl__cacertfile=pki("ca.pem")) + CLOSED
    b = broker_factory(lines)
    login(b, "ssha", PLAIN["ssha"])
    # a CA that did not sign slapd's certificate: no answer, so 0x88
    b2 = broker_factory(ldap.config_lines(port=str(ldap.ldaps_port), ssl="true",
                                          ssl__cacertfile=pki("other-ca.pem")) + CLOSED)
    login(b2, "ssha", PLAIN["ssha"], expect_rc=0x88)
    b2.wait_log(r"auth\.ldap: server ldaps://127\.0\.0\.1:\d+ unreachable: Can't contact LDAP "
                r"server \(or TLS failed: does auth\.ldap\.ssl\.cacertfile sign")
    # not verified at all (verify_none): it works, for what that is worth
    b3 = broker_factory(ldap.config_lines(port=str(ldap.ldaps_port), ssl="true",
                                          ssl__cacertfile=pki("other-ca.pem"),
                                          ssl__verify="verify_none") + CLOSED)
    login(b3, "ssha", PLAIN["ssha"])


def test_ldap_second_server(broker_factory, ldap):
    # nothing listens on 127.0.0.2: libldap goes on to the next server
    b = broker_factory(ldap.config_lines(servers="127.0.0.2, 127.0.0.1") + CLOSED)
    login(b, "sha", PLAIN["sha"])


def test_ldap_config_errors(broker_factory, ldap, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("junk\n")
    cases = [(["auth.ldap.device_dn = not a dn"], "auth.ldap.device_dn"),
             (["auth.ldap.username.attributetype = u id"], "auth.ldap.username.attributetype"),
             (["auth.ldap.ssl = true", "auth.ldap.ssl.cacertfile = %s" % (tmp_path / "none.pem")],
              "auth.ldap.ssl.cacertfile"),
             (["auth.ldap.ssl = true", "auth.ldap.ssl.certfile = %s" % junk],
              "auth.ldap.ssl.certfile: %s: no certificate in it" % junk),
             (["auth.ldap.ssl = true", "auth.ldap.ssl.keyfile = %s" % junk],
              "auth.ldap.ssl.keyfile: %s: no unencrypted private key" % junk),
             (["auth.ldap.servers = bad/host"], "auth.ldap.servers")]
    for extra, key in cases:
        b = broker_factory(start=False)
        b.start(ldap.config_lines() + extra, wait=False)
        b.proc.wait(timeout=10)
        b.expected_exit = True
        assert b.proc.returncode != 0, extra
        assert key in b.log, b.log_tail()


def test_ldap_outage(broker_factory, ldap):
    b = broker_factory(ldap.config_lines() + CLOSED)
    a = conn(b, "keeper", username="ssha", password=b"ssha-pw")
    assert a.subscribe([("outage/#", 1)]).codes == [1]
    ldap.stop()
    try:
        t0 = time.monotonic()
        login(b, "plain", "plain-pw", expect_rc=0x88)
        login(b, "plain", "plain-pw", expect_rc=0x88)  # backing off: at once
        assert time.monotonic() - t0 < 2.0
        # the connected client is not affected
        assert a.publish("outage/x", b"still", qos=1).rc == 0
        assert a.recv_publish().payload == b"still"
        b.wait_log(r"\[warning\] auth\.ldap: server ldap://127\.0\.0\.1:\d+ unreachable: "
                   r"Can't contact LDAP server, binding as 'cn=root,dc=emqx,dc=io'; retrying in "
                   r"0\.5 s")
    finally:
        ldap.start()

    def back():
        c = RawClient(b.port, version=5)
        try:
            return c.connect("back", username="plain", password=b"plain-pw",
                             expect_rc=None).rc == 0
        finally:
            c.close()
    wait_until(back, timeout=15, interval=0.3, what="LDAP logins after slapd restarted")
    b.wait_log(r"auth\.ldap: connected again \(server ldap://127\.0\.0\.1:\d+\)")
    assert len([ln for ln in b.log.splitlines() if "[warning] auth.ldap: server" in ln]) == 1
    a.close()


def test_ldap_down_on_error_ignore(broker_factory, ldap):
    # nothing listens there: with auth.on_error = ignore the next source decides
    b = broker_factory(ldap.config_lines(servers="127.0.0.2") + [
        "allow_anonymous = false", "auth.on_error = ignore", "auth.chain = ldap, builtin",
        "auth.mnesia.password_hash = plain", "auth.user.1.username = local",
        "auth.user.1.password = local-pw"])
    login(b, "local", "local-pw")
    login(b, "ssha", PLAIN["ssha"], expect_rc=0x87)
    b.wait_log(r"auth: ldap failed \(server ldap://127\.0\.0\.2:\d+ unreachable.*\); "
               r"auth\.on_error = ignore: asking the next source")


# ---------------------------------------------------------------- JWT

SECRET = "moat-jwt-secret"


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(claims, alg="HS256", secret=SECRET, key=None, header=None):
    h = dict({"alg": alg, "typ": "JWT"}, **(header or {}))
    si = b64url(json.dumps(h).encode()) + "." + b64url(json.dumps(claims).encode())
    if alg.startswith("HS"):
        md = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        sig = hmac.new(secret.encode() if isinstance(secret, str) else secret, si.encode(),
                       md).digest()
    elif alg == "none":
        sig = b""
    else:
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=si.encode(),
                             capture_output=True, check=True, timeout=10).stdout
        if alg == "ES256":
            sig = der_to_raw(sig)
    return si + "." + b64url(sig)


def der_to_raw(der):
    """An ECDSA DER signature (SEQUENCE of two INTEGERs) as JWS r || s."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b"\x00").rjust(32, b"\x00")
        i += 2 + n
    return out


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("jwtkeys")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=30)  # noqa: E731
    run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
        str(d / "rsa.key"))
    run("openssl", "pkey", "-in", str(d / "rsa.key"), "-pubout", "-out", str(d / "rsa.pub"))
    run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
        str(d / "ec.key"))
    run("openssl", "pkey", "-in", str(d / "ec.key"), "-pubout", "-out", str(d / "ec.pub"))
    return d


def later(s):
    return int(time.time()) + s


def test_jwt_hmac(broker_factory):
    b = broker_factory(["auth.jwt.secret = " + SECRET, "auth.jwt.acl_claim_name = "] + CLOSED)
    login(b, "u", token({"exp": later(60)}))
    for alg in ("HS384", "HS512"):
        login(b, "u", token({"exp": later(60)}, alg=alg))
    login(b, "u", token({}))  # no exp: valid
    login(b, "u", token({"exp": later(-120)}), expect_rc=0x86)
    login(b, "u", token({"nbf": later(600)}), expect_rc=0x86)
    login(b, "u", token({"exp": later(60)}, secret="other"), expect_rc=0x86)
    login(b, "u", token({"exp": later(60)}, alg="none"), expect_rc=0x86)
    login(b, "u", token({"exp": later(60)}), version=4)
    login(b, "u", token({"exp": later(-120)}), version=4, expect_rc=4)
    # not a token: not the JWT source's business
    login(b, "u", "a.b.c", expect_rc=0x87)
    b.wait_log(r"token expired")


def test_jwt_rsa_ec_and_confusion(broker_factory, keys):
    rsa = broker_factory(["auth.jwt.pubkey = %s" % (keys / "rsa.pub")] + CLOSED)
    login(rsa, "u", token({"exp": later(60)}, alg="RS256", key=str(keys / "rsa.key")))
    # HS256 signed with the public key's PEM as the secret: refused
    pem = (keys / "rsa.pub").read_bytes()
    login(rsa, "u", token({"exp": later(60)}, secret=pem), expect_rc=0x86)
    login(rsa, "u", token({"exp": later(60)}, alg="ES256", key=str(keys / "ec.key")),
          expect_rc=0x86)
    ec = broker_factory(["auth.jwt.pubkey = %s" % (keys / "ec.pub")] + CLOSED)
    login(ec, "u", token({"exp": later(60)}, alg="ES256", key=str(keys / "ec.key")))
    login(ec, "u", token({"exp": later(60)}, alg="RS256", key=str(keys / "rsa.key")),
          expect_rc=0x86)


def test_jwt_key_errors(broker_factory, keys, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key\n")
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-384", "-out", str(tmp_path / "p384.key")], check=True,
                   capture_output=True, timeout=30)
    subprocess.run(["openssl", "pkey", "-in", str(tmp_path / "p384.key"), "-pubout", "-out",
                    str(tmp_path / "p384.pub")], check=True, capture_output=True, timeout=30)
    cases = [("auth.jwt.pubkey = %s" % bad, "cannot read a public key"),
             ("auth.jwt.pubkey = %s" % (tmp_path / "missing.pem"), "cannot read a public key"),
             ("auth.jwt.pubkey = %s" % (tmp_path / "p384.pub"), "secp384r1"),
             ("auth.jwt.secret = -----BEGIN PUBLIC KEY-----", "holds a PEM key")]
    for line, what in cases:
        b = broker_factory(start=False)
        b.start([line], wait=False)
        b.proc.wait(timeout=10)
        b.expected_exit = True
        assert b.proc.returncode != 0, line
        assert what in b.log and "auth.jwt." in b.log, b.log_tail()


def test_jwt_claims_and_from_username(broker_factory):
    b = broker_factory(["auth.jwt.secret = " + SECRET, "auth.jwt.verify_claims = true",
                        "auth.jwt.verify_claims.username = %u",
                        "auth.jwt.verify_claims.clientid = %c"] + CLOSED)
    login(b, "alice", token({"username": "alice", "clientid": "c1"}), client_id="c1")
    login(b, "bob", token({"username": "alice", "clientid": "c1"}), client_id="c1",
          expect_rc=0x86)
    login(b, "alice", token({"username": "alice", "clientid": "c1"}), client_id="c2",
          expect_rc=0x86)
    login(b, "alice", token({"clientid": "c1"}), client_id="c1", expect_rc=0x86)
    u = broker_factory(["auth.jwt.secret = " + SECRET, "auth.jwt.from = username"] + CLOSED)
    c = conn(u, "fu", username=token({"exp": later(60)}), password=b"ignored")
    c.close()
    conn(u, "fu2", expect_rc=0x86, username=token({"exp": later(-120)})).expect_closed()


@pytest.mark.parametrize("version", [4, 5])
def test_jwt_acl_claim(broker_factory, version):
    b = broker_factory(["auth.jwt.secret = " + SECRET] + CLOSED)
    acl = {"pub": ["t/1"], "sub": ["t/#"], "all": ["x/%u"]}
    c = conn(b, "ja", version, username="alice", password=token({"acl": acl}).encode())
    deny = 0x87 if version == 5 else 0x80
    assert c.subscribe([("t/#", 1), ("x/alice", 1), ("x/bob", 0), ("#", 0),
                        ("$SYS/#", 0)]).codes == [1, 1, deny, deny, deny]
    if version == 5:
        assert c.publish("t/1", b"1", qos=1).rc == 0
        assert c.publish("t/2", b"2", qos=1).rc == 0x87
        assert c.publish("x/alice", b"3", qos=1).rc == 0
        assert c.publish("x/bob", b"4", qos=1).rc == 0x87
    else:
        c.publish("t/2", b"dropped", qos=0)
        c.publish("t/1", b"kept", qos=0)
        assert c.recv_publish().payload == b"kept"
    c.close()
    # a token without the claim: acl_nomatch (allow) applies
    d = conn(b, "jb", version, username="bob", password=token({}).encode())
    assert d.subscribe([("any/#", 0)]).codes == [0]
    d.close()
    # a malformed claim is a refused token
    conn(b, "jc", version, expect_rc=0x86 if version == 5 else 4, username="bob",
         password=token({"acl": {"pub": "t/1"}}).encode()).expect_closed()


def test_ldap_then_jwt(broker_factory, ldap):
    # auth.chain = auto asks ldap before jwt
    b = broker_factory(ldap.config_lines() + ["auth.jwt.secret = " + SECRET] + CLOSED)
    login(b, "ssha", PLAIN["ssha"])  # not a token: jwt ignores it, ldap allows
    login(b, "anyone", token({"exp": later(60)}))  # unknown to ldap: jwt allows
