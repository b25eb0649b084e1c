#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/deps.sh [run|test|bench|fuzz]
#
# Makes sure the Debian 12 packages that a task needs are installed.
#   run    build and run moat
#   test   run + what `make test` needs (pytest, paho, mosquitto clients,
#          clang + libFuzzer runtime, clang-format)
#   bench  test + the mosquitto broker to compare against
#   fuzz   run + clang + libFuzzer runtime
#
# As root, missing packages are installed (apt-get update first, and only when
# something is missing). Otherwise the exact install command is printed and
# the script exits 1. When everything is present it only costs one dpkg-query.
# MOAT_SKIP_DEPS=1 skips the check entirely (for machines managed by hand).
set -euo pipefail

profile=${1:-run}

run_pkgs=(build-essential cmake pkg-config liblmdb-dev libssl-dev)
fuzz_pkgs=(clang libclang-rt-14-dev)
test_pkgs=(python3 python3-paho-mqtt python3-pytest mosquitto-clients clang-format "${fuzz_pkgs[@]}")
bench_pkgs=(mosquitto util-linux openssl)

case "$profile" in
run) want=("${run_pkgs[@]}") ;;
test) want=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) want=("${run_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
fuzz) want=("${run_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
-h | --help)
    sed -n '4,15p' "$0" | sed 's/^# \{0,1\}//'
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

if ((${#missing[@]} == 0)); then
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
