#!/usr/bin/env bash
# scripts/setup.sh [build|demo|test|bench|all]: installs the Debian packages a
# make target needs, and only those: `make demo` must not wait for the test
# toolchain, and every tool a target runs is in its list (the target's setup
# installs it). Idempotent: packages already present are not touched, and apt
# is only consulted when something is missing. Default: all.
set -euo pipefail

# Compiling xdpguard (and its BPF programs): every target needs these.
CORE=(
  build-essential cmake ninja-build pkg-config
  clang bpftool linux-libc-dev                   # BPF C -> .bpf.o -> skeleton; UAPI headers
  libbpf-dev libxdp-dev libelf-dev zlib1g-dev
  libcli11-dev libexpected-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libtomlplusplus-dev
  libpcap-dev                                    # capture: pcap files, filters
)

# `make build` compiles the tests too; `make package` runs cpack (cmake) and
# dpkg-shlibdeps for the package's Depends.
BUILD=("${CORE[@]}" libgtest-dev python3 dpkg-dev)

# What `xdpguard demo` runs: its lab (ip netns, veth; sysctl in the lab's
# namespaces), ping as the legitimate client, and the SYN proxy's nftables
# table.
DEMO=(
  iproute2 iputils-ping nftables procps
)

# What `make test` runs besides the product.
TEST=(
  clang-format-19 clang-tidy-19                  # code gates (scripts/lint.sh)
  libclang-rt-dev                                # sanitizer + fuzzer runtimes for clang
  python3                                        # scripts/kernel-floor.py; scapy as an oracle
  python3-scapy
  iproute2 iputils-ping nftables                 # labs; nft as the differential oracle
  xdp-tools                                      # xdp-filter next to xdpguard; its objects
  tshark                                         # reads back what capture wrote
  curl prometheus                                # a real Prometheus scrapes `metrics`, promtool judges it
  procps libcap2-bin util-linux                  # sysctl; capsh; setpriv, unshare, prlimit, mountpoint
  netbase                                        # SYN proxy: TCP service names in --ports (/etc/services)
  systemd dpkg-dev                               # packaging tests: systemd-analyze; cpack's dpkg-shlibdeps
  ethtool                                        # AF_XDP labs: full checksums from veth senders (tx off)
  gobgpd exabgp                                  # FlowSpec: a real controller and real edge speakers
)

# What `make bench` runs: the labs, the receivers it races (xdp-filter,
# nftables, iptables) and tcpdump (telemetry_bench --vs-tcpdump).
BENCH=(
  iproute2 nftables iptables xdp-tools tcpdump procps util-linux
  ethtool                                        # AF_XDP labs: full checksums from veth senders (tx off)
  gobgpd                                         # FlowSpec: announce-to-enforced from a real GoBGP
)

target=${1:-all}
case $target in
  build) want=("${BUILD[@]}") ;;
  demo) want=("${CORE[@]}" "${DEMO[@]}") ;;
  test) want=("${BUILD[@]}" "${TEST[@]}") ;;
  bench) want=("${CORE[@]}" "${BENCH[@]}") ;;
  all) want=("${BUILD[@]}" "${DEMO[@]}" "${TEST[@]}" "${BENCH[@]}") ;;
  *)
    echo "usage: scripts/setup.sh [build|demo|test|bench|all]" >&2
    exit 2
    ;;
esac
mapfile -t want < <(printf '%s\n' "${want[@]}" | awk '!seen[$0]++')

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup ($target): all ${#want[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "setup ($target): missing packages (${missing[*]}) and not root; run: sudo $0 $target" >&2
  exit 1
fi

echo "setup ($target): installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup ($target): done"
