#!/usr/bin/env bash
# Installs exactly the Debian packages xdpguard needs to build, test, demo and
# benchmark. Idempotent: packages already present are not touched, and apt is
# only consulted when something is missing.
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang llvm
  # code gates (scripts/lint.sh)
  clang-format-19 clang-tidy-19
  # BPF / XDP
  libbpf-dev libxdp-dev libelf-dev zlib1g-dev bpftool xdp-tools linux-libc-dev
  # C++ libraries
  libcli11-dev libexpected-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev libpcap-dev
  # sanitizer + fuzzer runtimes for clang
  libclang-rt-dev
  # lab + oracles used by tests
  iproute2 iputils-ping netcat-openbsd python3 python3-scapy tshark nftables
  iptables procps libcap2-bin util-linux
  # telemetry tests: a real Prometheus server scrapes `metrics`, promtool judges it
  prometheus curl
  # SYN proxy: TCP service names in --ports (/etc/services)
  netbase
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PKGS[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: missing packages (${missing[*]}) and not root; run: sudo $0" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
