# SPDX-License-Identifier: Apache-2.0
"""A private OpenLDAP server (slapd) for the LDAP source's tests.

The `slapd` fixture (one per test module) writes a slapd.conf into a tmp
dir: the core, cosine, inetorgperson and nis schemas from /etc/ldap/schema
plus docs/ldap/moat.schema (mqttUser, isSuperuser), an mdb database for
dc=emqx,dc=io in that dir, rootdn cn=root,dc=emqx,dc=io / rootpw public. It
listens on ldap://127.0.0.1:<free port>/ and ldaps://127.0.0.1:<free port>/
(the test PKI's server certificate), runs in the foreground (-d 0) and is
stopped by its PID. Entries are added with ldapadd.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, free_port

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=emqx,dc=io"
ROOT_DN = "cn=root," + SUFFIX
ROOT_PW = "public"
DEVICE_DN = "ou=device," + SUFFIX
SCHEMAS = ["core", "cosine", "inetorgperson", "nis"]


class Slapd:
    def __init__(self, d, pki):
        self.dir = Path(d)
        self.port = free_port()
        self.ldaps_port = free_port()
        self.proc = None
        self.pki = pki
        self.log_path = self.dir / "slapd.log"

    def conf_text(self):
        lines = ["include /etc/ldap/schema/%s.schema" % s for s in SCHEMAS]
        lines += [
            "include %s" % (REPO_ROOT / "docs" / "ldap" / "moat.schema"),
            "pidfile %s" % (self.dir / "slapd.pid"),
            "argsfile %s" % (self.dir / "slapd.args"),
            "modulepath /usr/lib/ldap",
            "moduleload back_mdb",
            "TLSCACertificateFile %s" % self.pki("ca.pem"),
            "TLSCertificateFile %s" % self.pki("server-fullchain.pem"),
            "TLSCertificateKeyFile %s" % self.pki("server.key"),
            "database mdb",
            "maxsize 16777216",
            'suffix "%s"' % SUFFIX,
            'rootdn "%s"' % ROOT_DN,
            "rootpw %s" % ROOT_PW,
            "directory %s" % (self.dir / "db"),
            # as a real directory would: nobody but the entry itself and the
            # root DN reads a password; an anonymous connection may bind
            "access to attrs=userPassword by self read by anonymous auth by * none",
            "access to * by * read",
        ]
        return "\n".join(lines) + "\n"

    def start(self, timeout=10.0):
        (self.dir / "db").mkdir(parents=True, exist_ok=True)
        conf = self.dir / "slapd.conf"
        conf.write_text(self.conf_text())
        urls = "ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/" % (self.port, self.ldaps_port)
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([SLAPD, "-d", "0", "-h", urls, "-f", str(conf)],
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     start_new_session=True)
        logf.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("slapd exited with %s:\n%s" % (
                    self.proc.returncode, self.log_path.read_text(errors="replace")[-3000:]))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("slapd did not listen within %.0fs" % timeout)
            time.sleep(0.05)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.kill(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def add(self, ldif):
        r = subprocess.run(["ldapadd", "-x", "-H", "ldap://127.0.0.1:%d" % self.port, "-D",
                            ROOT_DN, "-w", ROOT_PW], input=ldif, capture_output=True, text=True,
                           timeout=20)
        assert r.returncode == 0, "ldapadd: %s %s" % (r.stdout, r.stderr)

    def search(self, base, filt, *attrs, binddn=ROOT_DN, pw=ROOT_PW):
        args = ["ldapsearch", "-x", "-LLL", "-H", "ldap://127.0.0.1:%d" % self.port, "-b", base]
        if binddn:
            args += ["-D", binddn, "-w", pw]
        r = subprocess.run(args + [filt] + list(attrs), capture_output=True, text=True,
                           timeout=20)
        return r.stdout

    def config_lines(self, **over):
        """moat settings for this server (keyword arguments override keys
        after auth.ldap.)."""
        kv = {"servers": "127.0.0.1", "port": str(self.port), "bind_dn": ROOT_DN,
              "bind_password": ROOT_PW, "device_dn": DEVICE_DN, "timeout": "2s",
              "allow_plain_password": "true"}
        kv.update({k.replace("__", "."): v for k, v in over.items()})
        return ["auth.ldap.%s = %s" % (k, v) for k, v in kv.items()]


@pytest.fixture(scope="module")
def slapd(tmp_path_factory, pki):
    if not os.path.exists(SLAPD) or not shutil.which("ldapadd"):
        pytest.skip("slapd / ldap-utils not installed (scripts/deps.sh test)")
    s = Slapd(tmp_path_factory.mktemp("slapd"), pki)
    s.start()
    s.add("dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: emqx\no: emqx\n\n"
          "dn: %s\nobjectClass: organizationalUnit\nou: device\n" % (SUFFIX, DEVICE_DN))
    yield s
    s.stop()
