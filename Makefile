# SPDX-License-Identifier: Apache-2.0
#
# Front door for building, running and testing moat. CMake does the real
# build; this file only strings the steps together. `make help` lists targets.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# Every recipe below is one bash script (not one shell per line), so each starts
# with @ and prints its own progress lines.
.ONESHELL:
# The steps of `make test` must run in order; parallelism happens inside
# cmake --build and ctest instead.
.NOTPARALLEL:
.DEFAULT_GOAL := build
# cmake --build runs make too; keep its output free of "Entering directory".
MAKEFLAGS += --no-print-directory

NPROC := $(shell nproc 2>/dev/null || echo 2)
GENERATOR := Unix Makefiles
BUILD_TYPE ?= RelWithDebInfo
ASAN_BUILD_TYPE ?= Debug
CTEST_JOBS ?= 2
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 20
CLANG_FORMAT ?= clang-format
DEPS := bash scripts/deps.sh
# Extra arguments for `make run`, e.g. make run ARGS="-c moat.conf".
ARGS ?=

SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

FUZZ_TARGETS = $(sort $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c)))
FORMAT_FILES = $(shell find src tests fuzz bench -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | LC_ALL=C sort)

# `make test` collects one line per stage here ("stage passed failed") and
# prints the totals at the end. When the variable is set, stages record their
# result and let the next stage run; when it is not (a stage run on its own),
# they simply fail.
TEST_RESULTS := $(CURDIR)/build/test-results.txt

.PHONY: all build run test deps deps-test build-asan build-fuzz test-release test-asan \
	fuzz-smoke fuzz bench format format-check clean help

all: build

## build: configure and build build/moat (RelWithDebInfo)
build:
	@$(DEPS) run
	echo "==> build (build/, $(BUILD_TYPE))"
	cmake -S . -B build -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	cmake --build build -j$(NPROC)

## run: build, then run build/moat in the foreground (ARGS="..." adds arguments)
run: build
	@echo "==> build/moat $(ARGS)  (Ctrl-C to stop)"
	exec ./build/moat $(ARGS)

## deps: install (as root) or list the packages needed to build and run
deps:
	@$(DEPS) run

## test: format check, unit + integration tests (plain and ASan+UBSan), fuzz smoke run
test: export MOAT_TEST_RESULTS := $(TEST_RESULTS)
test: deps-test format-check build test-release build-asan test-asan fuzz-smoke
	@echo
	echo "==> make test summary"
	awk '{ p += $$2; f += $$3; printf "    %-14s %4d passed, %d failed\n", $$1, $$2, $$3 }
	     END { if (NR == 0) f = 1; printf "total: %d passed, %d failed\n", p, f; exit (f > 0) }' \
	    "$$MOAT_TEST_RESULTS"

deps-test:
	@$(DEPS) test
	mkdir -p build
	rm -f "$(TEST_RESULTS)"

# $(call ctest_stage,STAGE,BUILD_DIR): run the suite in BUILD_DIR and record
# how many tests passed and failed (ctest's own summary line is the source).
define ctest_stage
	echo "==> ctest in $(2)"
	log="$(2)/ctest-last.log"
	rc=0
	ctest --test-dir "$(2)" --output-on-failure --no-tests=error -j$(CTEST_JOBS) 2>&1 | tee "$$log" || rc=$$?
	line=$$(grep -E '^[0-9]+% tests passed' "$$log" | tail -n 1 || true)
	total=$$(sed -nE 's/.* out of ([0-9]+).*/\1/p' <<<"$$line")
	failed=$$(sed -nE 's/.* ([0-9]+) tests? failed.*/\1/p' <<<"$$line")
	if [ -z "$$total" ] || [ -z "$$failed" ]; then total=1; failed=1; fi
	if [ "$$rc" -ne 0 ] && [ "$$failed" -eq 0 ]; then failed=1; fi
	if [ -n "$${MOAT_TEST_RESULTS:-}" ]; then
	    echo "$(1) $$((total - failed)) $$failed" >>"$$MOAT_TEST_RESULTS"
	    exit 0
	fi
	exit $$rc
endef

## test-release: build, then run ctest on build/
test-release: build
	@$(call ctest_stage,release,build)

## build-asan: configure and build build-asan/ with ASan+UBSan
build-asan:
	@$(DEPS) run
	echo "==> build-asan (ASan+UBSan, $(ASAN_BUILD_TYPE))"
	cmake -S . -B build-asan -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=$(ASAN_BUILD_TYPE) -DMOAT_SANITIZE=ON >/dev/null
	cmake --build build-asan -j$(NPROC)

## test-asan: build-asan, then run ctest on it with ASan+UBSan options
test-asan: build-asan
	@export $(SAN_ENV)
	$(call ctest_stage,asan+ubsan,build-asan)

## build-fuzz: build the libFuzzer targets (clang, ASan+UBSan) in build-fuzz/
# -fsanitize=fuzzer-no-link on every object gives libFuzzer coverage of the
# code under test, not only of the harness file. Only the fuzz targets are
# built here: the broker and unit tests are not meant to link with it.
build-fuzz:
	@$(DEPS) fuzz
	if [ -z "$(FUZZ_TARGETS)" ]; then echo "==> no fuzz targets (fuzz/fuzz_*.c)"; exit 0; fi
	echo "==> build-fuzz (clang, libFuzzer, ASan+UBSan)"
	CC=clang cmake -S . -B build-fuzz -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DMOAT_FUZZ=ON -DMOAT_SANITIZE=ON -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link >/dev/null
	cmake --build build-fuzz -j$(NPROC) --target $(FUZZ_TARGETS)

# $(call fuzz_loop,SECONDS,MODE): run every fuzz target for SECONDS.
# smoke: on a throw-away copy of its seed corpus; long: on build-fuzz/corpus/T,
# which keeps what it finds (the seeds in fuzz/corpus/T are read, never written).
# A dictionary fuzz/T.dict is used when present. Crashes go to build-fuzz/crashes/.
# (Under .ONESHELL no recipe line may start with '-', '@' or '+': make would
# strip it as a prefix.)
define fuzz_loop
	export $(SAN_ENV)
	mkdir -p build-fuzz/crashes
	pass=0; fail=0
	for t in $(FUZZ_TARGETS); do
	    tmp=$$(mktemp -d)
	    if [ "$(2)" = smoke ]; then
	        corpus=("$$tmp/corpus")
	        mkdir -p "$$tmp/corpus"
	        if [ -d "fuzz/corpus/$$t" ]; then cp -R "fuzz/corpus/$$t/." "$$tmp/corpus/"; fi
	    else
	        corpus=("build-fuzz/corpus/$$t")
	        mkdir -p "build-fuzz/corpus/$$t"
	        if [ -d "fuzz/corpus/$$t" ]; then corpus+=("fuzz/corpus/$$t"); fi
	    fi
	    opts=(-max_total_time=$(1) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
	    opts+=(-artifact_prefix="$(CURDIR)/build-fuzz/crashes/$$t-")
	    if [ -f "fuzz/$$t.dict" ]; then opts+=(-dict="fuzz/$$t.dict"); fi
	    echo "==> fuzz $$t for $(1) s"
	    if "build-fuzz/$$t" "$${opts[@]}" "$${corpus[@]}" >"$$tmp/log" 2>&1; then
	        pass=$$((pass + 1))
	        runs=$$(sed -nE 's/^stat::number_of_executed_units: *//p' "$$tmp/log" | tail -n 1)
	        echo "    ok: $${runs:-?} inputs, no crash"
	    else
	        fail=$$((fail + 1))
	        echo "    FAILED: last lines of the libFuzzer log:"
	        tail -n 60 "$$tmp/log" | sed 's/^/    /'
	    fi
	    rm -rf "$$tmp"
	done
	echo "==> fuzz: $$pass passed, $$fail failed"
	if [ -n "$${MOAT_TEST_RESULTS:-}" ]; then
	    echo "fuzz-smoke $$pass $$fail" >>"$$MOAT_TEST_RESULTS"
	    exit 0
	fi
	[ "$$fail" -eq 0 ]
endef

## fuzz-smoke: run every fuzz target for FUZZ_SMOKE_SECONDS (20) on a copy of its corpus
fuzz-smoke: build-fuzz
	@$(call fuzz_loop,$(FUZZ_SMOKE_SECONDS),smoke)

## fuzz: long run of every fuzz target, FUZZ_SECONDS (600) each; corpus kept in build-fuzz/corpus
fuzz: build-fuzz
	@$(call fuzz_loop,$(FUZZ_SECONDS),long)

## bench: moat against Mosquitto side by side (BENCH_QUICK=1: short run); table in bench/results/
# bench/run.py does the work; its docstring lists the knobs (BENCH_REPS,
# BENCH_ONLY, BENCH_TABLES ...). Not part of `make test`.
bench:
	@$(DEPS) bench
	echo "==> build (build/, $(BUILD_TYPE))"
	cmake -S . -B build -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	cmake --build build -j$(NPROC) --target moat moat-bench
	/usr/bin/python3 bench/run.py

## format: clang-format -i every .c/.h under src, tests and fuzz
# (With no file name clang-format would read stdin, hence the guards.)
format:
	@if [ -n "$(FORMAT_FILES)" ]; then $(CLANG_FORMAT) -i $(FORMAT_FILES); fi

## format-check: fail if clang-format would change any file
format-check:
	@echo "==> clang-format check"
	if [ -z "$(FORMAT_FILES)" ]; then exit 0; fi
	if ! $(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES); then
	    echo "format-check: the files above are not formatted; run 'make format'" >&2
	    exit 1
	fi

## clean: remove build, build-asan and build-fuzz (data/ is kept)
clean:
	@rm -rf build build-asan build-fuzz

## help: list the targets
help:
	@sed -n 's/^## //p' $(firstword $(MAKEFILE_LIST))
