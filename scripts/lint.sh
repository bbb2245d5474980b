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
for tool in "$fmt" clang-tidy-19; do
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
# The product's code gets every check of .clang-tidy; the harnesses' code
# (tests, benchmarks, fuzz targets) every check but the path-sensitive
# analyzer (clang-analyzer-*), which costs two to four times the rest of
# clang-tidy and was two thirds of `make test`'s critical path.
#
# The product's files are checked one module at a time (a folder: src/cli,
# src/lib/X, examples/X): its files' text joined into one file, every
# check. A file alone cost about 4 s of parsing and 8 s of AST matchers
# walking the same standard library, fmt, spdlog and json declarations,
# against a few seconds of its own checks (src/cli's ten files: 280 s of
# CPU alone, 49 s joined). Joined, not a unit that includes them: the
# analyzer looks only at a main file's functions, and told to look at
# included files' (-analyzer-opt-analyze-headers) it walks the system
# headers' too (src/cli: 164 s). Findings are reported at the line of the
# file they are in. What is lost: a file's includes are checked as the
# module's (one that a file forgot and an earlier one had is not seen).
# The library files that cannot share a unit (libpcap's and the kernel's
# headers clash, so do glibc's and the kernel's socket headers) are compiled
# alone by the build and checked alone here: xdpguard_module's ALONE
# (cmake/Modules.cmake), listed by the configure step.
alone_list=$build/alone-sources.txt
[[ -f $alone_list ]] || { echo "lint: $alone_list missing (configure again)" >&2; exit 1; }
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# The build's compilation database with a command for every file: CMake
# lists the files a target compiles as unity files (UNITY_BUILD: the
# library's modules, the CLI, the tests) by those unity files, each of which
# includes them; each file gets its unity file's command.
file_db=$logs/db
mkdir -p "$file_db"
python3 - "$build/compile_commands.json" "$file_db/compile_commands.json" <<'PY' || exit 1
import json, re, sys
entries = []
for e in json.load(open(sys.argv[1])):
    if "/Unity/unity_" not in e["file"]:
        entries.append(e)
        continue
    for inc in re.findall(r'^#include "([^"]+)"', open(e["file"]).read(), re.M):
        entries.append({"directory": e["directory"], "file": inc, "command": e["command"].replace(e["file"], inc)})
json.dump(entries, open(sys.argv[2], "w"))
PY
mapfile -t product_files < <(printf '%s\n' "${sources[@]}" | grep '\.cpp$' | grep -E '^(src|examples)/')
mapfile -t units < <(printf '%s\n' "${product_files[@]}" | grep -Fxf "$alone_list")
mapfile -t product_grouped < <(printf '%s\n' "${product_files[@]}" | grep -vFxf "$alone_list")
mapfile -t product_dirs < <(printf '%s\n' "${product_grouped[@]}" | xargs -n1 dirname | sort -u)
# The harness's folders whose files are linked together (so their names
# cannot clash) and share their headers are checked as one unit that
# includes them all: the tests of one binary (tests/unit, tests/bpf,
# tests/e2e), the tests' and the benchmarks' support libraries, a benchmark
# of several files. clang-tidy then parses and walks the standard library,
# GoogleTest and our headers once per folder instead of once per file (it
# was 6 s of a test file's 7). Every check still looks at every line of
# them (--header-filter takes the included .cpp files in); what is lost is
# what clang-tidy only checks in the main file (misc-unused-using-decls).
# (bench/xsk is not one: its libpcap consumer's pcap/bpf.h and the kernel's
# linux/bpf.h both define struct bpf_insn.)
unity_dirs=(tests/unit tests/bpf tests/e2e tests/support tests/oracle bench/common bench/telemetry)
mapfile -t harness_units < <(printf '%s\n' "${sources[@]}" | grep '\.cpp$' | grep -E '^(tests|bench)/' |
  grep -v '^tests/layering/' | grep -vE "^($(IFS='|'; echo "${unity_dirs[*]}"))/[^/]*\.cpp$")

status=0
echo "lint: clang-format on ${#sources[@]} files"
if ! "$fmt" --dry-run --Werror "${sources[@]}"; then
  echo "lint: clang-format: run  $fmt -i <file>  on the files above" >&2
  status=1
fi

# Every file with its compilation database (the fuzz targets are only in
# the fuzz build, checked when it exists) and its checks, the largest first:
# the JOBS (2) clang-tidy processes then end together, instead of one
# waiting out the other's last big file at the end of each of three passes.
mapfile -t fuzz_units < <(git ls-files 'fuzz/*.cpp')
[[ -f $fuzz_build/compile_commands.json ]] || fuzz_units=()
tasks=()
add_tasks() {  # DB CHECKS(- for .clang-tidy's) FILES...: the size, the analyzer's 3x, is the cost
  local db=$1 checks=$2 f weight=1
  shift 2
  [[ $checks == - ]] && weight=3
  for f; do tasks+=("$(($(stat -c %s "$f") * weight)) $db $checks $PWD/$f"); done
}
# The unity files, and their compilation database: each gets the command of
# the first file it includes (a binary's or a module's files are compiled
# alike).
unity_db=$logs/unity
mkdir -p "$unity_db"
unity_units=()
for d in "${unity_dirs[@]}" "${product_dirs[@]}"; do
  name=$(tr / _ <<<"$d")
  mkdir -p "$unity_db/$name"
  if [[ $d == tests/* || $d == bench/* ]]; then
    mapfile -t files < <(printf '%s\n' "${sources[@]}" | grep -E "^$d/[^/]*\.cpp$")
    ((${#files[@]})) || continue
    u=$unity_db/$name/${name}_unity.cpp
    printf '#include "%s"\n' "${files[@]/#/$PWD/}" >"$u"
  else
    # the module's files joined; $u.map: each file's first line in it
    mapfile -t files < <(printf '%s\n' "${product_grouped[@]}" | grep -E "^$d/[^/]*\.cpp$")
    u=$unity_db/$name/${name}_module.cpp
    line=1
    : >"$u"
    for f in "${files[@]}"; do
      echo "$line $PWD/$f" >>"$u.map"
      cat "$f" >>"$u"
      echo >>"$u"
      line=$((line + $(wc -l <"$f") + 1))
    done
  fi
  unity_units+=("$u")
  # beside it, the checks that apply to the files it includes (those of the
  # .clang-tidy files above them: tests/.clang-tidy's)
  clang-tidy-19 -p "$file_db" --dump-config "$PWD/${files[0]}" 2>/dev/null >"$unity_db/$name/.clang-tidy"
done
python3 - "$file_db/compile_commands.json" "$unity_db" "${unity_units[@]}" <<'PY' || exit 1
import json, os, sys
db_path, out, units = sys.argv[1], sys.argv[2], sys.argv[3:]
db = {os.path.realpath(e["file"]): e for e in json.load(open(db_path))}
entries = []
for u in units:
    module = os.path.exists(u + ".map")
    first = open(u + ".map").readline().split()[1] if module else open(u).readline().split('"')[1]
    e = db.get(os.path.realpath(first))
    if e is None:
        sys.exit(f"lint: {first} is not in {db_path} (configure with -DXDPGUARD_TESTS=ON)")
    cmd = e["command"].replace(e["file"], u)
    if module:  # its files' own "file.h" includes
        cmd += " -iquote " + os.path.dirname(first)
    entries.append({"directory": e["directory"], "file": u, "command": cmd})
json.dump(entries, open(os.path.join(out, "compile_commands.json"), "w"))
PY
add_tasks "$file_db" - "${units[@]}"
add_tasks "$file_db" "-clang-analyzer-*" "${harness_units[@]}"
for u in "${unity_units[@]}"; do
  if [[ $u == */tests_* || $u == */bench_* ]]; then
    tasks+=("$(($(wc -l <"$u") * 30000)) $unity_db -clang-analyzer-*,-bugprone-suspicious-include $u")
  else  # a module of the product: every check, the analyzer's 3x
    tasks+=("$(($(stat -c %s "$u") * 3)) $unity_db - $u")
  fi
done
add_tasks "$fuzz_build" "-clang-analyzer-*" "${fuzz_units[@]}"
echo "lint: clang-tidy on the product's code (every check): ${#product_dirs[@]} modules (each joined) and" \
  "${#units[@]} files; ${#harness_units[@]} test and benchmark files, ${#unity_dirs[@]} test and benchmark" \
  "folders (a unit each) and ${#fuzz_units[@]} fuzz targets (no clang-analyzer-*)"
# libbpf's LIBBPF_OPTS() names only some fields of the options it makes:
# clang 19 warns of that in C++ (-Wextra, an error with -Werror) where the
# g++ the project builds with does not. The build's commands are g++'s, with
# g++'s own warning options (-Wno-subobject-linkage, cmake/Modules.cmake).
printf '%s\n' "${tasks[@]}" | sort -nr | cut -d' ' -f2- | nl -w1 -s' ' |
  xargs -P "${JOBS:-2}" -L1 bash -c '
    n=$1 db=$2 checks=$3 file=$4 extra=()
    [[ $checks == - ]] || extra=(-checks="$checks")
    # a unity file: the .cpp files it includes are checked as the headers are
    [[ $file == */*_unity.cpp ]] &&
      extra+=(--header-filter=".*/(src|tests|bench|fuzz|examples)/[a-z0-9_/]*[a-z0-9_]\.(h|cpp)$")
    t0=$(date +%s%N)
    clang-tidy-19 -p "$db" "${extra[@]}" \
      -extra-arg=-Wno-missing-designated-field-initializers -extra-arg=-Wno-unknown-warning-option -quiet "$file" >"$0/$n.log" 2>&1 || true
    echo "$(( ($(date +%s%N) - t0) / 1000000 )) ${file#"$PWD"/}" >"$0/$n.time"' "$logs"
log=$logs/all
# a joined module's file:line back to the file it is in
cat "$logs"/*.log | python3 -c '
import bisect, re, sys
maps = {}
def where(m):
    path, line = m.group(1), int(m.group(2))
    if path not in maps:
        rows = [l.split(" ", 1) for l in open(path + ".map").read().splitlines()]
        maps[path] = ([int(r[0]) for r in rows], [r[1] for r in rows])
    starts, files = maps[path]
    i = bisect.bisect_right(starts, line) - 1
    return f"{files[i]}:{line - starts[i] + 1}:"
for l in sys.stdin:
    sys.stdout.write(re.sub(r"(/[^ :]*_module\.cpp):([0-9]+):", where, l))
' >"$log"
# What took the time: the longest units (a unity file by its module).
echo "lint: the longest clang-tidy runs (s):"
cat "$logs"/*.time | sort -nr | head -8 | awk '{ printf "  %6.1f  %s\n", $1 / 1000, $2 }' | sed 's|[^ ]*/unity/[^/]*/||'
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
