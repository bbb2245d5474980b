#!/usr/bin/env bash
# bench/run.sh BUILD_DIR [--quick]: xdpguard's benchmarks. Each figure is
# measured side by side with its baseline in the same run (the machine is
# shared and noisy: only ratios within one run mean anything). Results go to
# stdout and to BUILD_DIR/bench/ as Markdown and JSON:
#   throughput.{md,json}  packets/s through a veth lab: bare XDP_DROP (the
#                         limit), xdpguard, xdp-filter, nftables, iptables
#   classifier.{md,json}  ns/packet in the kernel (BPF_PROG_TEST_RUN)
set -euo pipefail
build=${1:?usage: bench/run.sh BUILD_DIR [--quick]}
shift || true
quick=()
[[ "${1:-}" == "--quick" ]] && quick=(--quick)
out="$build/bench"
mkdir -p "$out"

echo "== throughput: line rate through a veth lab, every receiver side by side"
"$build/bench/throughput/throughput_bench" "${quick[@]}" --json "$out/throughput.json" | tee "$out/throughput.md"
echo
echo "== classifier: ns/packet in the kernel (BPF_PROG_TEST_RUN), rule sets, sets"
"$build/bench/classifier/classifier_bench" "${quick[@]}" --json "$out/classifier.json" | tee "$out/classifier.md"
echo
echo "results: $out/{throughput,classifier}.{md,json}"
