#!/usr/bin/env bash
# bench/run.sh BUILD_DIR [--quick]: xdpguard's benchmarks. Each figure is
# measured side by side with its baseline in the same run (the machine is
# shared and noisy: only ratios within one run mean anything), and printed
# with its goal and whether it is met. Every receiver and program is checked
# to have done the work it was measured doing (verdicts, counters, drops);
# a failed check makes the exit status 1. Results go to stdout and to
# BUILD_DIR/bench/ as Markdown and JSON:
#   throughput.{md,json}  packets/s through a veth lab: bare XDP_DROP (the
#                         limit), xdpguard, the floor program, xdp-filter,
#                         nftables, iptables
#   classifier.{md,json}  ns/packet in the kernel (BPF_PROG_TEST_RUN), what a rate
#                         limit and flood detection's counters add, and the
#                         control plane (install, add a rule, load sets)
#   telemetry.md          ns/packet with `log` / a capture vs without, records/s
#                         without loss against tcpdump
#   synflood.{md,json}    SYN-ACKs/s under a SYN flood: xdpguard's SYN proxy vs
#                         a bare XDP_TX program, a hand-written cookie floor and
#                         the kernel's own cookies
#   simulate.{md,json}    frames/s of `xdpguard simulate` over a 10M-frame pcap
#                         vs tcpdump reading it with a filter; its peak memory
#   xsk.{md,json}         frames/s to a user-space consumer: AF_XDP through
#                         `redirect xsk` vs AF_PACKET TPACKET_V3 and libpcap,
#                         drops and consumer CPU per frame, the lab's limit
#   flowspec.{md,json}    a FlowSpec route from a real GoBGP enforced on an
#                         edge (ExaBGP + xdpguard): one route's announce and
#                         withdraw, 10,000 routes at once
# --quick: fewer and shorter runs (about 3 minutes; the full run about 12).
set -uo pipefail
build=${1:?usage: bench/run.sh BUILD_DIR [--quick]}
shift || true
quick=()
[[ "${1:-}" == "--quick" ]] && quick=(--quick)
out="$build/bench"
mkdir -p "$out"
status=0

echo "== throughput: line rate through a veth lab, every receiver side by side"
"$build/bench/throughput/throughput_bench" "${quick[@]}" --json "$out/throughput.json" | tee "$out/throughput.md" \
  || status=1
echo
echo "== classifier: ns/packet in the kernel (BPF_PROG_TEST_RUN), rule sets, sets, control plane"
"$build/bench/classifier/classifier_bench" "${quick[@]}" --json "$out/classifier.json" | tee "$out/classifier.md" \
  || status=1
echo
echo "== telemetry: ns/packet of log and capture in the kernel (BPF_PROG_TEST_RUN), records/s to user space"
"$build/bench/telemetry/telemetry_bench" "${quick[@]}" | tee "$out/telemetry.md" || status=1
"$build/bench/telemetry/telemetry_bench" "${quick[@]}" --vs-tcpdump | tee -a "$out/telemetry.md" || status=1
echo
echo "== synflood: SYNs answered per second (XDP SYN cookies, bare XDP_TX, the kernel alone)"
"$build/bench/synflood/synflood_bench" "${quick[@]}" --json "$out/synflood.json" | tee "$out/synflood.md" \
  || status=1
echo
echo "== simulate: a capture through the compiled rules, frames/s vs tcpdump -r"
"$build/bench/simulate/simulate_bench" "${quick[@]}" --json "$out/simulate.json" | tee "$out/simulate.md" \
  || status=1
echo
echo "== xsk: frames/s to a user-space consumer (AF_XDP via redirect xsk, TPACKET_V3, libpcap)"
"$build/bench/xsk/xsk_bench" "${quick[@]}" --json "$out/xsk.json" | tee "$out/xsk.md" || status=1
echo
echo "== flowspec: announce-to-enforced from a GoBGP controller (one route; 10,000 at once)"
"$build/bench/flowspec/flowspec_bench" "${quick[@]}" --json "$out/flowspec.json" | tee "$out/flowspec.md" || status=1
echo
echo "results: $out/{throughput,classifier,synflood,simulate,xsk,flowspec}.{md,json}, $out/telemetry.md"
[[ $status == 0 ]] || echo "bench: a benchmark failed or a check did not hold (see above)" >&2
exit $status
