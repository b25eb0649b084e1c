#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/deps.sh [run|test|bench|fuzz]
#
# Makes sure the Debian 12 packages that a task needs are installed.
#   run    build and run moat
#   test   run + what `make test` needs (pytest, paho, mosquitto clients,
#          clang + libFuzzer runtime, clang-format, Node.js + npm, Chromium,
#          HAProxy), then the npm packages of tests/node
#   bench  test + the mosquitto broker to compare against
#   fuzz   run + clang + libFuzzer runtime
#
# As root, missing packages are installed (apt-get update first, and only when
# something is missing). Otherwise the exact install command is printed and
# the script exits 1. When everything is present it only costs one dpkg-query.
# A package counts as present when an installed package provides it (the
# NodeSource nodejs package provides npm, for instance).
# tests/node: `npm ci` runs when node_modules is missing or older than
# package-lock.json (no root needed: it installs into the work tree).
# MOAT_SKIP_DEPS=1 skips the check entirely (for machines managed by hand).
set -euo pipefail

profile=${1:-run}

# Authentication backends: PostgreSQL (libpq), MySQL/MariaDB (libmariadb),
# Redis (hiredis), LDAP (libldap), HTTP (libcurl), argon2id (libargon2).
run_pkgs=(build-essential cmake pkg-config liblmdb-dev libssl-dev libcjson-dev libcrypt-dev
    libpq-dev libmariadb-dev libhiredis-dev libldap-dev libcurl4-openssl-dev libargon2-dev)
fuzz_pkgs=(clang libclang-rt-14-dev)
# Real clients for the WebSocket and PROXY protocol tests: MQTT.js (Node.js),
# MQTT.js in Chromium, HAProxy in front of the broker; openssl for the test PKI;
# the authentication backends' real servers (started by the tests, on free ports).
test_pkgs=(python3 python3-paho-mqtt python3-pytest python3-requests mosquitto-clients mosquitto clang-format
    nodejs npm chromium haproxy openssl "${fuzz_pkgs[@]}"
    postgresql mariadb-server redis-server slapd ldap-utils argon2)
# The Mosquitto broker is what `make bench` compares moat with.
bench_pkgs=(mosquitto util-linux)

case "$profile" in
run) want=("${run_pkgs[@]}") ;;
test) want=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) want=("${run_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
fuzz) want=("${run_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
-h | --help)
    sed -n '4,21p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "usage: $0 [run|test|bench|fuzz]" >&2
    exit 2
    ;;
esac

if [[ ${MOAT_SKIP_DEPS:-} == 1 ]]; then
    exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: not a Debian system; make sure these (or their equivalents) are installed:" >&2
    echo "deps:   ${want[*]}" >&2
    exit 0
fi

# One dpkg-query for all packages. Unknown packages go to stderr and make it
# exit 1; both are expected here. Status is "want flag status": the package is
# usable when the third word is "installed".
declare -A have=()
while read -r pkg _ _ status; do
    [[ $status == installed ]] && have[${pkg%%:*}]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${want[@]}" 2>/dev/null || true)

missing=()
for pkg in "${want[@]}"; do
    [[ -n ${have[$pkg]:-} ]] || missing+=("$pkg")
done

# Something looks missing: an installed package may provide it (virtual
# packages). One more dpkg-query, over all installed packages.
if ((${#missing[@]} > 0)); then
    while read -r _ _ status provides; do
        [[ $status == installed ]] || continue
        provides=${provides//,/ }
        for p in $provides; do
            [[ $p == \(* || $p == *\) ]] || have[${p%%:*}]=1
        done
    done < <(dpkg-query -W -f='${Status} ${Provides}\n' 2>/dev/null || true)
    still=()
    for pkg in "${missing[@]}"; do
        [[ -n ${have[$pkg]:-} ]] || still+=("$pkg")
    done
    missing=("${still[@]+"${still[@]}"}")
fi

# tests/node/node_modules from tests/node/package-lock.json, when missing or
# out of date. npm writes node_modules/.package-lock.json last, so its age
# tells whether the install finished after the lock file last changed.
node_deps() {
    local dir
    dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/node"
    [[ -f $dir/package-lock.json ]] || return 0
    if [[ -f $dir/node_modules/.package-lock.json &&
        ! $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "deps: npm not found; cannot install tests/node dependencies" >&2
        return 1
    fi
    # playwright-core wants Node.js 20 or later; Debian 12's own nodejs is 18
    # (this project's machines come with NodeSource's 20).
    local major
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    if ((major < 20)); then
        echo "deps: warning: Node.js $(node --version 2>/dev/null) is older than 20;" \
            "the Chromium tests (playwright-core) may not run" >&2
    fi
    echo "deps: npm ci in tests/node" >&2
    local log
    if ! log=$(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error </dev/null 2>&1); then
        echo "deps: npm ci in tests/node failed:" >&2
        echo "$log" >&2
        return 1
    fi
    echo "deps: tests/node ready" >&2
}

if ((${#missing[@]} == 0)); then
    if [[ $profile == test ]]; then
        node_deps
    fi
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "deps: missing Debian packages for '$profile': ${missing[*]}" >&2
    echo "deps: install them with:" >&2
    echo "sudo apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
fi

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-qq -o Dpkg::Use-Pty=0 -o APT::Color=0)
apt-get "${apt_opts[@]}" update </dev/null >/dev/null
apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null >/dev/null
echo "deps: done" >&2
if [[ $profile == test ]]; then
    node_deps
fi
