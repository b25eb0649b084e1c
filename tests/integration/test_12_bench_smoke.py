# SPDX-License-Identifier: Apache-2.0
"""Smoke run of the load generator behind `make bench` (build/moat-bench, or
$MOAT_BENCH_BIN) against moat: small scenarios of about a second each. Only
correctness is asserted (the generator's own checks: no loss, no duplicates,
order kept, every count right), never speed."""

import json
import os
import subprocess

import pytest

from conftest import REPO_ROOT

BENCH_CONFIG = [
    "mqtt.max_inflight = 65535",
    "mqtt.max_mqueue_len = 0",
    "log.level = warning",
    "broker.sys_interval = 0",
]


def bench_bin():
    return os.environ.get("MOAT_BENCH_BIN") or str(REPO_ROOT / "build" / "moat-bench")


@pytest.fixture
def bbroker(broker_factory):
    return broker_factory(config_extra_lines=BENCH_CONFIG)


def run_bench(broker, mode, *args, timeout=120):
    exe = bench_bin()
    if not os.path.exists(exe):
        pytest.fail("moat-bench not found at %s (set MOAT_BENCH_BIN or build it)" % exe)
    cmd = [exe, mode, "--port", str(broker.port), "--broker-pid", str(broker.proc.pid),
           "--duration", "1", "--warmup", "0.2", "--drain", "20"] + [str(a) for a in args]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    lines = r.stdout.strip().splitlines()
    assert lines, "moat-bench printed nothing (exit %d): %s" % (r.returncode, r.stderr)
    res = json.loads(lines[-1])
    assert res["ok"], "moat-bench check failed: %s\n%s" % (res.get("first_error"), lines[-1])
    assert r.returncode == 0, r.stderr
    assert res["errors"] == 0
    assert broker.alive(), "moat died under the generator"
    return res


def assert_exact(res, fanout):
    """Every message sent reached every matching subscriber exactly once, in order."""
    assert res["sent"] > 0
    assert res["expected_deliveries"] == res["sent"] * fanout
    assert res["received"] == res["expected_deliveries"]
    for k in ("lost", "extra", "dups", "gaps", "unexpected", "bad_payload", "bad_acks",
              "unacked"):
        assert res[k] == 0, (k, res)
    assert res["drained"] is True
    assert res["lat_n"] > 0 and res["lat_p50_us"] > 0


@pytest.mark.parametrize("mqtt", ["3.1.1", "5"])
def test_qos1_one_to_one(bbroker, mqtt):
    res = run_bench(bbroker, "pubsub", "--qos", 1, "--size", 1024, "--mqtt", mqtt,
                    "--window", 200)
    assert res["qos"] == 1 and res["mqtt"] == mqtt
    assert_exact(res, 1)
    assert res["broker_cpu_s"] >= 0 and res["broker_rss_kb"] > 0


def test_qos0_fanout(bbroker):
    res = run_bench(bbroker, "pubsub", "--subs", 10, "--window", 50)
    assert_exact(res, 10)


def test_fanin_and_wildcards(bbroker):
    res = run_bench(bbroker, "pubsub", "--pubs", 10, "--topology", "fanin", "--window", 20,
                    "--qos", 1)
    assert res["streams"] == 10
    assert_exact(res, 1)
    # 3 publishers x 5 topics; 8 subscribers each with one wildcard filter
    # that matches some topics and 3 that match none.
    res = run_bench(bbroker, "pubsub", "--pubs", 3, "--topics", 5, "--subs", 8,
                    "--topology", "wild", "--extra-filters", 3, "--window", 20)
    assert res["sent"] > 0 and res["received"] == res["expected_deliveries"] > 0
    for k in ("lost", "extra", "dups", "gaps", "unexpected"):
        assert res[k] == 0, (k, res)


def test_retained_and_connections(bbroker):
    res = run_bench(bbroker, "retained", "--retained", 300, "--subs", 3)
    assert res["missing"] == 0 and res["dups"] == 0 and res["retain_flag_missing"] == 0
    res = run_bench(bbroker, "storm", "--conns", 4, "--duration", "0.5")
    assert res["connections"] > 0 and res["hs_n"] > 0
    res = run_bench(bbroker, "idle", "--conns", 50, "--hold", "0.2")
    assert res["held"] == 50
