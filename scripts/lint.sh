#!/usr/bin/env bash
# The code gates `make test` runs: clang-format (.clang-format) and clang-tidy
# (.clang-tidy, every warning an error) on the project's C++ — the files git
# knows, never the generated skeletons in the build tree, never bpf/ (C,
# checked by the verifier and the tests). Usage: scripts/lint.sh BUILD_DIR
# [FUZZ_BUILD_DIR] (configured builds: clang-tidy reads their
# compile_commands.json; the fuzz targets are only in the second, by default
# BUILD_DIR-san, made by `make fuzz`, and checked when it exists). Exit 0
# only when both are clean; every finding is printed. `make test` runs it as
# the test Lint.ClangFormatAndClangTidy.
set -uo pipefail
build=${1:?usage: scripts/lint.sh BUILD_DIR [FUZZ_BUILD_DIR]}
fuzz_build=${2:-$build-san}
cd "$(dirname "$0")/.."
fmt=clang-format-19
tidy=run-clang-tidy-19
for tool in "$fmt" "$tidy" clang-tidy-19; do
  command -v "$tool" >/dev/null || { echo "lint: $tool not found (scripts/setup.sh installs it)" >&2; exit 1; }
done
[[ -f $build/compile_commands.json ]] || { echo "lint: $build/compile_commands.json missing (configure first)" >&2; exit 1; }
# clang-tidy compiles every file: the generated headers (BPF skeletons) they
# include must exist, without building anything else. (scripts/test.sh makes
# them before and says so with XDPGUARD_LINT_HEADERS_READY: it builds in the
# second build dir while lint runs, and two ninjas must not share a dir.)
[[ -n ${XDPGUARD_LINT_HEADERS_READY:-} ]] || for b in "$build" "$fuzz_build"; do
  if [[ -f $b/compile_commands.json ]] && ! cmake --build "$b" --target generated_headers >/dev/null; then
    echo "lint: cannot generate the headers of $b (cmake --build $b --target generated_headers)" >&2
    exit 1
  fi
done

mapfile -t sources < <(git ls-files '*.cpp' '*.h' | grep -v '^bpf/' | grep -v '\.bpf\.')
# tests/layering holds a file that must not compile (the layering gate).
# The product's code gets every check of .clang-tidy; the tests' and the
# benchmarks' code every check but the path-sensitive analyzer
# (clang-analyzer-*), which costs two to four times the rest of clang-tidy
# and was two thirds of `make test`'s critical path.
mapfile -t units < <(printf '%s\n' "${sources[@]}" | grep '\.cpp$' | grep -E '^(src|examples)/')
mapfile -t harness_units < <(printf '%s\n' "${sources[@]}" | grep '\.cpp$' | grep -E '^(tests|bench)/' |
  grep -v '^tests/layering/')

status=0
echo "lint: clang-format on ${#sources[@]} files"
if ! "$fmt" --dry-run --Werror "${sources[@]}"; then
  echo "lint: clang-format: run  $fmt -i <file>  on the files above" >&2
  status=1
fi

# One clang-tidy pass per compilation database: the fuzz targets are only in
# the fuzz build, checked when it exists.
mapfile -t fuzz_units < <(git ls-files 'fuzz/*.cpp')
log=$(mktemp)
trap 'rm -f "$log"' EXIT
tidy_pass() {  # DB_DIR EXTRA_CHECKS FILES...
  local db=$1 checks=$2 extra=()
  shift 2
  [[ -n $checks ]] && extra=(-checks="$checks")
  echo "lint: clang-tidy on $# files ($db${checks:+, checks $checks})"
  # libbpf's LIBBPF_OPTS() names only some fields of the options it makes:
  # clang 19 warns of that in C++ (-Wextra, an error with -Werror) where
  # the g++ the project builds with does not.
  "$tidy" -clang-tidy-binary clang-tidy-19 -p "$db" "${extra[@]}" \
    -extra-arg=-Wno-missing-designated-field-initializers -quiet -j "${JOBS:-2}" "$@" >>"$log" 2>&1
}
tidy_pass "$build" "" "${units[@]}"
tidy_pass "$build" "-clang-analyzer-*" "${harness_units[@]}"
if [[ -f $fuzz_build/compile_commands.json && ${#fuzz_units[@]} -gt 0 ]]; then
  tidy_pass "$fuzz_build" "" "${fuzz_units[@]}"
fi
# Findings in our files; the analyzer also reports paths ending in generated
# skeleton code under a build tree, which is not ours to fix.
findings=$(grep -E '^/[^:]+:[0-9]+:[0-9]+: (warning|error):' "$log" | grep -v "^$PWD/build" |
  grep -v "^$(realpath "$build")/" | sort -u)
if [[ -n $findings ]]; then
  echo "$findings"
  echo "lint: clang-tidy: $(wc -l <<<"$findings") finding(s)" >&2
  status=1
fi
if grep -qE 'Error while processing|error: (unable|no such file|unknown)' "$log"; then
  grep -E 'Error while processing|error: (unable|no such file|unknown)' "$log" | head -20
  echo "lint: clang-tidy could not check every file" >&2
  status=1
fi
((status == 0)) && echo "lint: clean"
exit $status
