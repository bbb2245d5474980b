// The SYN proxy's host side, pure (unit-tested; docs/ddos.md "SYN proxy"):
// the port list a user types, the bounds of the settings, the nftables
// table that hands ACKs with a valid cookie to the kernel's SYNPROXY, and the
// sysctls SYNPROXY needs. guard_synproxy.cpp applies them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "guard/ddos.h"

namespace xdpguard {

// "80,443,https": numbers 1-65535 or TCP service names (/etc/services), at
// most XDPGUARD_SYNPROXY_MAX_PORTS, no repeats. Errors name the bad item.
[[nodiscard]] Result<std::vector<std::uint16_t>> parse_synproxy_ports(const std::string& text);

// Checks every setting: at least one port, MSS 536-65535 (IPv4) and
// 1220-65535 (IPv6), window scale 0-14, TTL 1-255.
[[nodiscard]] Result<void> validate_synproxy(const SynproxyConfig& cfg);

// The nftables table of the SYN proxy on interface `ifindex`.
std::string synproxy_table(int ifindex);

// The `nft -f` script that creates it: SYNs to the ports that reach the
// kernel are not tracked, and packets to the ports conntrack finds invalid
// or untracked (the ACK that completes a handshake XDP answered) go to
// SYNPROXY with the same MSS and window scale the SYN-ACKs announced; the
// other invalid ones are dropped. Everything else is accepted (policy).
std::string nft_synproxy_script(const std::string& table, const std::string& ifname,
                                const SynproxyConfig& cfg);

// A sysctl SYNPROXY needs, in the interface's network namespace.
struct SynproxySysctl {
  const char* name;  // net.ipv4.tcp_timestamps
  const char* path;  // /proc/sys/net/ipv4/tcp_timestamps
  int want;
  const char* why;
};
inline constexpr std::array<SynproxySysctl, 2> kSynproxySysctls{{
    {"net.ipv4.tcp_timestamps", "/proc/sys/net/ipv4/tcp_timestamps", 1,
     "SYN cookies carry window scale and SACK in the timestamp"},
    {"net.netfilter.nf_conntrack_tcp_loose", "/proc/sys/net/netfilter/nf_conntrack_tcp_loose", 0,
     "conntrack must not pick up the cookie ACK as a connection, so that SYNPROXY sees it"},
}};

}  // namespace xdpguard
