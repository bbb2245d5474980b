#!/usr/bin/env bash
# run-fuzzers.sh BUILD_DIR SECONDS [NAME]: runs every libFuzzer target of
# BUILD_DIR (a build configured with XDPGUARD_FUZZ), or only NAME, for SECONDS
# over its seed corpus (fuzz/corpus/<name>/, copied to a scratch dir so the
# repo is not modified). Fails on the first crash. `make test` runs each
# target as a test of its own (tests/CMakeLists.txt: Fuzz.<name>).
set -euo pipefail
build=${1:?build dir}
secs=${2:-15}
only=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
n=0
bins=("$build"/fuzz/*_fuzz)
if [[ -n $only ]]; then
  bins=("$build/fuzz/$only")
  [[ -x ${bins[0]} ]] || { echo "fuzz: $only: no such fuzzer in $build/fuzz (build it first)" >&2; exit 1; }
fi
for bin in "${bins[@]}"; do
  name=$(basename "$bin")
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  [[ -d "$root/fuzz/corpus/$name" ]] && cp -r "$root/fuzz/corpus/$name/." "$work/"
  if ! "$bin" -max_total_time="$secs" -print_final_stats=0 "$work" >"$work.log" 2>&1; then
    echo "fuzz: $name FAILED; log:"; tail -40 "$work.log"; exit 1
  fi
  echo "fuzz: $name ok ($(grep -o 'Done [0-9]* runs' "$work.log" | tail -1 || echo "ran"), ${secs}s)"
  rm -rf "$work" "$work.log"
  n=$((n + 1))
done
echo "fuzz: $n targets ran"
