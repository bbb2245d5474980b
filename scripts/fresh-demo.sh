#!/usr/bin/env bash
# scripts/fresh-demo.sh [DIR]: times `make demo` as a newcomer on a fresh
# Debian 12 gets it. A minimal Debian 12 system (debootstrap minbase, from the
# Debian mirror) is made in DIR (default: a new directory under /tmp), given
# only what a newcomer types `make demo` with (git, make), and a clean clone
# of this repository; then `make demo` runs inside it with every line stamped
# with the seconds since it started. The demo's lab is its own (two network
# namespaces and a veth pair, removed at its end); the chroot shares this
# host's kernel, /sys and /dev. Everything made is removed on exit.
# Root only; needs debootstrap (apt-get install debootstrap).
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "fresh-demo: run as root (debootstrap, chroot, XDP)" >&2
  exit 1
fi
command -v debootstrap >/dev/null || {
  echo "fresh-demo: needs debootstrap (apt-get install debootstrap)" >&2
  exit 1
}
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-$(mktemp -d /tmp/xg-fresh.XXXXXX)}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

cleanup() {
  # deepest mounts first; `ip netns` inside may have left /run/netns mounted
  if mountpoint -q "$root"; then
    findmnt -rn -o TARGET | grep "^$root" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
  rm -rf "$root"
}
trap cleanup EXIT

echo "fresh-demo: a minimal Debian 12 in $root ..." >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
  {
    tail -5 "$root.debootstrap.log" >&2
    exit 1
  }
rm -f "$root.debootstrap.log"
# `ip netns` makes its mounts propagate from "/": the chroot's "/" must be a
# mount point of its own.
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
mkdir -p "$root/run/netns"
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" bash -c 'apt-get update -qq && apt-get install -y -qq git make ca-certificates >/dev/null'
git clone -q "$repo" "$root/root/xdpguard"

echo "fresh-demo: make demo (seconds since its start, then the line):" >&2
# shellcheck disable=SC2016  # expanded by the chroot's bash, not this one
chroot "$root" bash -c '
  cd /root/xdpguard
  start=$(date +%s%N)
  since() { local t=$(( ($(date +%s%N) - start) / 100000000 )); printf "%d.%d" $((t / 10)) $((t % 10)); }
  make demo 2>&1 | while IFS= read -r line; do printf "%7s %s\n" "$(since)" "$line"; done
  rc=${PIPESTATUS[0]}
  echo "make demo exited $rc after $(since) s; packages downloaded: $(ls /var/cache/apt/archives/*.deb | wc -l) ($(du -sh /var/cache/apt/archives | cut -f1))"
  exit $rc'
