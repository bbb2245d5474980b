#!/usr/bin/env bash
# bench/run.sh BUILD_DIR [--quick]: xdpguard's benchmarks. Each figure is
# measured side by side with its baseline in the same run (the machine is
# shared and noisy: only ratios within one run mean anything). Results go to
# stdout and to BUILD_DIR/bench/ as Markdown and JSON.
set -euo pipefail
build=${1:?usage: bench/run.sh BUILD_DIR [--quick]}
shift || true
quick=()
[[ "${1:-}" == "--quick" ]] && quick=(--quick)
out="$build/bench"
mkdir -p "$out"

echo "== classifier: ns/packet in the kernel (BPF_PROG_TEST_RUN), rule sets, sets"
"$build/bench/classifier/classifier_bench" "${quick[@]}" --json "$out/classifier.json" | tee "$out/classifier.md"
echo
echo "results: $out/classifier.md, $out/classifier.json"
