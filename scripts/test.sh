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
#   build            what the tests run: xdpguard, count_syns, the test binaries
#   sanitizer build  SAN: the library, its unit tests, the fuzzers
#   ctest            one run schedules everything: unit, bpf and e2e tests in
#                    parallel, lint (clang-format + clang-tidy) and the fuzzers
#                    beside them, the sanitized unit tests, the kernel floor
#                    check; the timing-sensitive tests alone at the end. Its
#                    summary closes the output.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
san=${SAN:-$build-san}
jobs=${JOBS:-2}
test_jobs=${TEST_JOBS:-4}
fuzz_seconds=${FUZZ_SECONDS:-15}
read -r -a cmake_flags <<<"${CMAKE_FLAGS:--DCMAKE_BUILD_TYPE=RelWithDebInfo}"

times=()
start=$(date +%s)
# phase NAME COMMAND...: runs it, notes how long it took; stops the run on failure.
phase() {
  local name=$1 t0 rc
  shift
  echo "== $name"
  t0=$(date +%s)
  "$@"
  rc=$?
  times+=("$(printf '%-16s %5d s' "$name" $(($(date +%s) - t0)))")
  if ((rc != 0)); then
    echo "make test: $name failed (exit $rc)" >&2
    summary
    exit "$rc"
  fi
}
summary() {
  echo "== time per phase (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
  printf '  %s\n' "${times[@]}"
  printf '  %-16s %5d s\n' "total" $(($(date +%s) - start))
}

configure() {
  cmake -S . -B "$build" -G Ninja "${cmake_flags[@]}" -DXDPGUARD_TESTS=ON -DXDPGUARD_BENCH=ON \
    -DXDPGUARD_SAN_BUILD="$(realpath -m "$san")" -DXDPGUARD_FUZZ_SECONDS="$fuzz_seconds" >/dev/null &&
    CC=clang CXX=clang++ cmake -S . -B "$san" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DXDPGUARD_FUZZ=ON >/dev/null
}

phase setup bash scripts/setup.sh test
phase configure configure
# Only what the tests run (not the benchmarks): the generated headers of the
# rest, for clang-tidy.
phase build cmake --build "$build" -j"$jobs" --target xdpguard count_syns unit_tests bpf_tests e2e_tests \
  generated_headers
phase "sanitizer build" cmake --build "$san" -j"$jobs"
phase ctest ctest --test-dir "$build" -j"$test_jobs" --output-on-failure
summary
