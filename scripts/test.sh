#!/usr/bin/env bash
# scripts/test.sh: what `make test` runs, phase by phase, each timed, the
# times summed up at the end (the figures README "Tests" quotes come from
# here). Environment: BUILD (build), SAN (BUILD-san), JOBS (2: compile jobs),
# TEST_JOBS (4: ctest slots; a test that keeps more CPUs busy counts for more,
# see tests/CMakeLists.txt), FUZZ_SECONDS (15: per fuzzer), CMAKE_FLAGS.
#
#   setup            the packages `make test` needs (scripts/setup.sh test)
#   configure        both builds: BUILD (the product and the tests) and SAN
#                    (clang, ASan+UBSan: the unit tests and the fuzzers)
#   build            what the tests run: xdpguard, xdpguard-faults, count_syns,
#                    the test binaries; the generated headers of both builds
#                    (clang-tidy reads them)
#   tests            ctest on BUILD: unit, bpf and e2e tests in parallel, lint
#                    (clang-format + clang-tidy) and the kernel floor check
#                    beside them; meanwhile, at a lower priority, the
#                    sanitizer build (SAN: the library, its unit tests, the
#                    fuzzers) uses the CPU time the tests leave (they mostly
#                    wait on sockets and timers)
#   sanitizer build  whatever of it is left once those tests are done
#   sanitized, fuzz, timing
#                    ctest again: the unit tests under ASan+UBSan and every
#                    fuzzer in parallel, then alone (RUN_SERIAL, nothing else
#                    running, no build beside) the tests that measure rates
#                    and times
# A failing phase does not stop the ones after it (the build phases aside):
# the run reports every failure, then exits non-zero.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
san=${SAN:-$build-san}
jobs=${JOBS:-2}
test_jobs=${TEST_JOBS:-4}
fuzz_seconds=${FUZZ_SECONDS:-15}
read -r -a cmake_flags <<<"${CMAKE_FLAGS:--DCMAKE_BUILD_TYPE=RelWithDebInfo}"

times=()
failed=()
start=$(date +%s)
# phase NAME COMMAND...: runs it, notes how long it took; stops the run on
# failure. soft_phase: the same, but a failure is noted and the run goes on.
run_phase() {
  local soft=$1 name=$2 t0 rc
  shift 2
  echo "== $name"
  t0=$(date +%s)
  "$@"
  rc=$?
  times+=("$(printf '%-24s %5d s%s' "$name" $(($(date +%s) - t0)) "$( ((rc == 0)) || echo "  FAILED")")")
  ((rc == 0)) && return 0
  failed+=("$name")
  ((soft)) && return 0
  echo "make test: $name failed (exit $rc)" >&2
  summary
  exit "$rc"
}
phase() { run_phase 0 "$@"; }
soft_phase() { run_phase 1 "$@"; }
summary() {
  # ctest's record of what each test took (the last run's), longest first.
  local cost=$build/Testing/Temporary/CTestCostData.txt
  if [[ -f $cost ]]; then
    echo "== the longest tests (seconds)"
    awk 'NF == 3 && $2 ~ /^[0-9]+$/ { printf "  %-72s %6.0f\n", $1, $3 }' "$cost" | sort -k2 -nr | head -12
  fi
  ((${#failed[@]} == 0)) || echo "== failed: ${failed[*]}"
  echo "== time per phase (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
  printf '  %s\n' "${times[@]}"
  printf '  %-24s %5d s\n' "total" $(($(date +%s) - start))
}

# The Makefile's CONFIGURE and SAN_CONFIGURE: debug info as line tables
# only (-g1: stack traces and sanitizer reports still name file:line; full
# -g was 45% of the compile time of a CLI file under g++), the sanitizer
# build at -O1, as ASan and libFuzzer recommend.
configure() {
  cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" "${cmake_flags[@]}" \
    -DXDPGUARD_TESTS=ON -DXDPGUARD_BENCH=ON \
    -DXDPGUARD_SAN_BUILD="$(realpath -m "$san")" -DXDPGUARD_FUZZ_SECONDS="$fuzz_seconds" >/dev/null &&
    CC=clang CXX=clang++ cmake -S . -B "$san" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" -DXDPGUARD_FUZZ=ON >/dev/null
}

build_tests() {
  cmake --build "$build" -j"$jobs" --target xdpguard xdpguard-faults count_syns unit_tests bpf_tests \
    e2e_tests generated_headers &&
    cmake --build "$san" -j"$jobs" --target generated_headers >/dev/null
}
# The sanitizer build started in the background: its end (the time it took
# overall is printed; the phase's own time is what was left after the tests).
wait_san() {
  local rc=0
  wait "$san_pid" || rc=$?
  echo "sanitizer build: $(($(date +%s) - san_t0)) s from its start, beside the tests (log: $san_log)"
  ((rc == 0)) || tail -60 "$san_log"
  return "$rc"
}
phase setup bash scripts/setup.sh test
phase configure configure
# Only what the tests run (not the benchmarks), and the generated headers
# (BPF skeletons) of both builds: lint needs them, and must not run ninja in
# SAN while the sanitizer build runs there (XDPGUARD_LINT_HEADERS_READY).
phase build build_tests
export XDPGUARD_LINT_HEADERS_READY=1

san_log=$build/sanitizer-build.log
nice -n 10 cmake --build "$san" -j"$jobs" >"$san_log" 2>&1 &
san_pid=$!
san_t0=$(date +%s)
soft_phase tests ctest --test-dir "$build" -j"$test_jobs" --output-on-failure -LE "timing|sanitized|fuzz"
phase "sanitizer build" wait_san
soft_phase "sanitized, fuzz, timing" ctest --test-dir "$build" -j"$test_jobs" --output-on-failure \
  -L "timing|sanitized|fuzz"
summary
((${#failed[@]} == 0)) || exit 1
echo "make test: every phase passed"
