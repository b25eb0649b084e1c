# SPDX-License-Identifier: Apache-2.0
"""Private database servers for the SQL backend tests: a PostgreSQL 15 and a
MariaDB, each in a tmp dir of its own, on a free random port of 127.0.0.1,
started once per test module (module-scoped fixtures pg_server, my_server)
and stopped by PID. Password authentication over TCP, as moat uses them.
SQL goes in through the servers' own command-line clients over the unix
socket."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import free_port

PG_BIN = "/usr/lib/postgresql/15/bin"
DB_USER = "moat"
DB_PASSWORD = "db-Secret-7"
DB_NAME = "mqtt"


def _wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(0.1)


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True,
                   timeout=30)


def make_certs(d):
    """A CA (ca.pem), a server certificate for 127.0.0.1 signed by it
    (server.pem, server.key) and a CA that signed nothing (other-ca.pem)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=moat test database CA", cwd=d)
    _openssl("req", "-x509", *ec, "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days",
             "2", "-subj", "/CN=some other CA", cwd=d)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
             cwd=d)
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext", cwd=d)


class _Server:
    """What both servers share: a tmp dir, a port, a process to stop. Both
    offer TLS (optional for clients) with a certificate for 127.0.0.1."""

    name = "?"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="moat-%s-" % self.name)
        self.port = free_port()
        self.proc = None
        make_certs(self.dir)

    def cert(self, name):
        return os.path.join(self.dir, name)

    def conf_lines(self, **keys):
        lines = ["auth.%s.server = 127.0.0.1:%d" % (self.name, self.port),
                 "auth.%s.username = %s" % (self.name, DB_USER),
                 "auth.%s.password = %s" % (self.name, DB_PASSWORD),
                 "auth.%s.database = %s" % (self.name, DB_NAME)]
        lines += ["auth.%s.%s = %s" % (self.name, k, v) for k, v in keys.items()]
        return lines

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        logf = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen(self.server_cmd(), stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=logf, start_new_session=True)
        logf.close()
        try:
            _wait(lambda: self.proc.poll() is None and self.ready(), 30,
                  "%s on port %d" % (self.name, self.port))
        except AssertionError:
            self.stop()
            raise AssertionError("%s did not start:\n%s" % (self.name, self.log_tail()))

    def stop(self):
        """Stop our server (by PID); SIGKILL when it does not go in time."""
        if not self.running():
            return
        pid = self.server_pid()
        for sig, wait in ((self.stop_signal, 15), (signal.SIGKILL, 10)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def server_pid(self):
        return self.proc.pid

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PgServer(_Server):
    name = "pgsql"
    stop_signal = signal.SIGINT  # fast shutdown: sessions end at once

    def __init__(self):
        super().__init__()
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        os.mkdir(self.sock)
        pw = os.path.join(self.dir, "pw")
        with open(pw, "w") as f:
            f.write("pg-Super-1\n")
        for p in (self.dir, self.sock, pw, self.cert("server.key"), self.cert("server.pem")):
            shutil.chown(p, "postgres", "postgres")
        os.chmod(self.cert("server.key"), 0o600)
        subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/initdb", "-D", self.data,
                        "-U", "postgres", "--pwfile", pw, "--auth-local=trust",
                        "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, timeout=60)

    def server_cmd(self):
        return ["runuser", "-u", "postgres", "--", PG_BIN + "/postgres", "-D", self.data,
                "-p", str(self.port), "-k", self.sock, "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off", "-c", "max_connections=40", "-c", "ssl=on",
                "-c", "ssl_cert_file=" + self.cert("server.pem"),
                "-c", "ssl_key_file=" + self.cert("server.key")]

    def server_pid(self):
        # runuser waits for postgres as its child: signal postgres itself
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return self.proc.pid

    def ready(self):
        return self.psql("select 1", db="postgres", check=False).returncode == 0

    def psql(self, sql, db=DB_NAME, check=True):
        r = subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/psql", "-h", self.sock,
                            "-p", str(self.port), "-U", "postgres", "-d", db, "-v",
                            "ON_ERROR_STOP=1", "-Atq", "-c", sql],
                           capture_output=True, text=True, timeout=30)
        if check and r.returncode:
            raise AssertionError("psql: %s\n%s" % (sql, r.stderr))
        return r

    sql = psql

    def setup(self):
        self.psql("create user %s password '%s'" % (DB_USER, DB_PASSWORD), db="postgres")
        self.psql("create database %s owner %s" % (DB_NAME, DB_USER), db="postgres")
        self.psql("set role %s; create table mqtt_user (id serial primary key, username "
                  "varchar(100) unique, password varchar(200), salt varchar(40), "
                  "is_superuser boolean default false); create table mqtt_acl (id serial "
                  "primary key, allow integer, ipaddr varchar(60), username varchar(100), "
                  "clientid varchar(100), access integer, topic varchar(100))" % DB_USER)


class MyServer(_Server):
    name = "mysql"
    stop_signal = signal.SIGTERM

    def __init__(self):
        super().__init__()
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=" + self.data,
                        "--auth-root-authentication-method=normal", "--skip-test-db",
                        "--user=root"], check=True, capture_output=True, timeout=120)

    def server_cmd(self):
        return ["/usr/sbin/mariadbd", "--no-defaults", "--datadir=" + self.data,
                "--port=%d" % self.port, "--socket=" + self.sock, "--bind-address=127.0.0.1",
                "--user=root", "--skip-networking=0", "--pid-file=" + self.dir + "/pid",
                "--innodb-buffer-pool-size=16M", "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=0", "--max-connections=40",
                "--ssl-cert=" + self.cert("server.pem"), "--ssl-key=" + self.cert("server.key"),
                "--ssl-ca=" + self.cert("ca.pem")]

    def ready(self):
        return self.sql("select 1", db="", check=False).returncode == 0

    def sql(self, sql, db=DB_NAME, check=True):
        r = subprocess.run(["mariadb", "--no-defaults", "-S", self.sock, "-u", "root", "-N",
                            "-B"] + ([db] if db else []) + ["-e", sql],
                           capture_output=True, text=True, timeout=30)
        if check and r.returncode:
            raise AssertionError("mariadb: %s\n%s" % (sql, r.stderr))
        return r

    def setup(self):
        self.sql("create database %s; create user '%s'@'%%' identified by '%s'; grant all on "
                 "%s.* to '%s'@'%%'" % (DB_NAME, DB_USER, DB_PASSWORD, DB_NAME, DB_USER), db="")
        self.sql("create table mqtt_user (id int unsigned not null auto_increment primary key, "
                 "username varchar(100), password varchar(200), salt varchar(40), "
                 "is_superuser tinyint(1) default 0, unique key (username)); "
                 "create table mqtt_acl (id int unsigned not null auto_increment primary key, "
                 "allow int(1), ipaddr varchar(60), username varchar(100), "
                 "clientid varchar(100), access int(2), topic varchar(100))")


def _server(cls):
    if cls is PgServer and not os.path.exists(PG_BIN + "/postgres"):
        pytest.skip("PostgreSQL 15 not installed (scripts/deps.sh test)")
    if cls is MyServer and not shutil.which("mariadbd", path="/usr/sbin:/usr/bin"):
        pytest.skip("MariaDB not installed (scripts/deps.sh test)")
    s = cls()
    try:
        s.start()
        s.setup()
    except BaseException:
        s.cleanup()
        raise
    return s


@pytest.fixture(scope="module")
def pg_server():
    s = _server(PgServer)
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def my_server():
    s = _server(MyServer)
    yield s
    s.cleanup()
