#!/usr/bin/env bash
# tests/packaging/check.sh WHAT XDPGUARD_BINARY BUILD_DIR: the packaging
# tests (tests/CMakeLists.txt, Packaging.*).
#   man         packaging/xdpguard.8 is what scripts/man.sh makes of --help
#   completion  packaging/xdpguard.bash lists every subcommand --help lists
#   unit        systemd-analyze verifies packaging/xdpguard.service and
#               rates its exposure <= 3.0 ("OK")
#   deb         cpack makes a .deb of BUILD_DIR's install rules; unpacked
#               into an empty root (dpkg-deb -x), its binary runs --version
#               and --help, and every file is where the unit and the man
#               page say
set -euo pipefail
what=$1 bin=$2 build=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/xg-packaging-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

subcommands() { awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {exit}'; }

case $what in
  man)
    bash "$src/scripts/man.sh" "$bin" >"$tmp/xdpguard.8"
    if ! diff -u "$src/packaging/xdpguard.8" "$tmp/xdpguard.8"; then
      echo "packaging/xdpguard.8 is not what the CLI's help says: bash scripts/man.sh $bin > packaging/xdpguard.8" >&2
      exit 1
    fi
    ;;
  completion)
    # What the completion script offers after WORDS..., run by bash itself
    # (bash-completion's _init_completion stood in for).
    offers() {
      bash -c '_init_completion() { words=("${T[@]}"); cword=$((${#T[@]} - 1)); cur=${words[cword]}; prev=${words[cword - 1]}; }
        complete() { :; }; source "$0"; T=(xdpguard "$@" ""); COMPREPLY=(); _xdpguard; printf "%s\n" "${COMPREPLY[@]}"' \
        "$src/packaging/xdpguard.bash" "$@"
    }
    lists=$(offers)
    status=0
    for c in $("$bin" --help | subcommands); do
      grep -qx "$c" <<<"$lists" || { echo "completion: subcommand $c missing" >&2; status=1; }
      subs=$("$bin" "$c" --help | subcommands | sort | tr '\n' ' ')
      [[ -z $subs ]] && continue
      got=$(offers "$c" | sort | tr '\n' ' ')
      [[ $got == "$subs" ]] || { echo "completion: $c offers '$got', --help lists '$subs'" >&2; status=1; }
    done
    exit $status
    ;;
  unit)
    sed "s|/usr/sbin/xdpguard|$bin|" "$src/packaging/xdpguard.service" >"$tmp/xdpguard.service"
    systemd-analyze verify --man=no "$tmp/xdpguard.service"
    out=$(systemd-analyze security --offline=true "$tmp/xdpguard.service" 2>&1)
    level=$(sed -n 's/.*Overall exposure level for xdpguard.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' <<<"$out")
    echo "systemd-analyze security: exposure $level"
    awk -v l="${level%% *}" 'BEGIN { exit !(l != "" && l <= 3.0) }' || { echo "exposure over 3.0" >&2; exit 1; }
    ;;
  deb)
    (cd "$build" && cpack -G DEB -B "$tmp/out" >/dev/null)
    deb=$(ls "$tmp"/out/xdpguard_*.deb)
    # Read whole first: grep -q stops early, and with pipefail dpkg-deb's SIGPIPE failed the check.
    info=$(dpkg-deb -I "$deb")
    grep -q "Depends:.*libbpf1.*libxdp1" <<<"$info" || { echo "Depends lacks libbpf1/libxdp1: $info" >&2; exit 1; }
    mkdir "$tmp/root"
    dpkg-deb -x "$deb" "$tmp/root"
    for f in usr/sbin/xdpguard usr/lib/systemd/system/xdpguard.service usr/share/man/man8/xdpguard.8 \
      usr/share/bash-completion/completions/xdpguard usr/share/doc/xdpguard/examples/xdpguard.toml; do
      [[ -e $tmp/root/$f ]] || { echo "$deb: no $f" >&2; exit 1; }
    done
    grep -q "^ExecStart=/usr/sbin/xdpguard run " "$tmp/root/usr/lib/systemd/system/xdpguard.service"
    "$tmp/root/usr/sbin/xdpguard" --version
    "$tmp/root/usr/sbin/xdpguard" --help >/dev/null
    # The example configuration is a valid one.
    "$tmp/root/usr/sbin/xdpguard" apply --config "$tmp/root/usr/share/doc/xdpguard/examples/xdpguard.toml" --diff \
      >/dev/null 2>"$tmp/err" || grep -q "no such interface" "$tmp/err"
    ;;
  *) echo "usage: check.sh man|completion|unit|deb XDPGUARD_BINARY BUILD_DIR" >&2; exit 2 ;;
esac
