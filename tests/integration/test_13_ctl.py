# SPDX-License-Identifier: Apache-2.0
"""moat ctl and the pid file: one broker per data directory; ctl finds it."""
import subprocess
import time

import pytest

from conftest import moat_bin, wait_until


def ctl(broker, *args):
    return subprocess.run([moat_bin(), "ctl", *args, "-c", str(broker.conf_path)],
                          capture_output=True, text=True, timeout=10)


def test_ctl_status_reload_stop(broker):
    r = ctl(broker, "status")
    assert r.returncode == 0, r.stderr
    assert "pid %d" % broker.proc.pid in r.stdout
    r = ctl(broker, "reload")
    assert r.returncode == 0, r.stderr
    broker.wait_log(r"SIGHUP: configuration reloaded", timeout=5)
    r = ctl(broker, "stop")
    assert r.returncode == 0, r.stderr
    broker.expected_exit = True
    wait_until(lambda: broker.proc.poll() is not None, timeout=10, what="moat to stop")
    assert broker.proc.returncode == 0
    r = ctl(broker, "status")
    assert r.returncode == 1 and "no moat is running" in r.stderr


def test_second_broker_on_same_data_dir_refused(broker_factory):
    a = broker_factory()
    b = broker_factory(start=False)
    conf = a.conf_path.read_text().replace(str(a.port), str(a.port + 1 if a.port < 65000 else a.port - 1))
    p = b.dir / "second.conf"
    p.write_text(conf)
    r = subprocess.run([moat_bin(), "-c", str(p)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert "is in use by another moat (pid %d)" % a.proc.pid in r.stderr


def test_ctl_unknown_command(broker):
    r = ctl(broker, "explode")
    assert r.returncode == 2 and "expected reload, stop, status, users or clients" in r.stderr
