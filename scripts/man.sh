#!/usr/bin/env bash
# scripts/man.sh XDPGUARD_BINARY: prints the xdpguard(8) man page (roff),
# made from the CLI's own --help of every command and subcommand, so that
# the page says what the binary does. packaging/xdpguard.8 is its output;
# the test Packaging.ManPageMatchesTheHelp fails when they differ (run
# `bash scripts/man.sh build/src/xdpguard > packaging/xdpguard.8`).
set -euo pipefail
bin=${1:?usage: scripts/man.sh XDPGUARD_BINARY}
version=$("$bin" --version | awk '{print $2}')

# roff: a backslash is \e; a line that starts with . or ' is protected.
esc() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }

# The subcommands that `help` lists, one per line.
subcommands() { awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {exit}' <<<"$1"; }

section() {  # section "rule add": the page's part for `xdpguard rule add`
  local path=$1 help
  # shellcheck disable=SC2086  # the words of the path are separate arguments
  help=$("$bin" $path --help)
  echo ".SS \"xdpguard $path\""
  echo ".nf"
  esc <<<"$help"
  echo ".fi"
  local sub
  for sub in $(subcommands "$help"); do section "$path $sub"; done
}

top=$("$bin" --help)
cat <<ROFF
.TH XDPGUARD 8 "" "xdpguard $version" "System Administration"
.SH NAME
xdpguard \\- kernel-level network defense on XDP: firewall, DDoS mitigation, telemetry
.SH SYNOPSIS
.B xdpguard
[\\fIOPTIONS\\fR] \\fISUBCOMMAND\\fR ...
.SH DESCRIPTION
xdpguard runs an eBPF program in the network driver (XDP) that judges every packet by
ordered rules before the kernel allocates anything for it. Its state is pinned under
/sys/fs/bpf/xdpguard and keeps enforcing when no xdpguard process runs. The service
(\\fBxdpguard run\\fR, xdpguard.service) keeps a configuration file in force, serves
metrics and detects floods.
.SH OPTIONS
.nf
$(esc <<<"$top")
.fi
.SH COMMANDS
ROFF
for sub in $(subcommands "$top"); do section "$sub"; done
cat <<'ROFF'
.SH FILES
.TP
.I /etc/xdpguard.toml
The configuration file of \fBxdpguard run\fR and \fBxdpguard apply\fR (root's, not writable by others).
.TP
.I /sys/fs/bpf/xdpguard/
Pinned state of every attached interface, per network namespace.
.TP
.I /run/xdpguard/
Locks of the commands and of the service.
.SH SEE ALSO
.BR nft (8),
.BR xdp-filter (8),
.BR bpftool (8)
ROFF
