// The SYN proxy's host side, pure (unit-tested; docs/ddos.md "SYN proxy"):
// the port list a user types, the bounds of the settings, the nftables
// table that hands ACKs with a valid cookie to the kernel's SYNPROXY, the
// connections that existed before enable (read from the socket table), the
// addresses the proxy answers for, and the sysctls SYNPROXY needs.
// guard_synproxy.cpp and synproxy_host.cpp apply them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "guard/ddos.h"
#include "rules/rule.h"

namespace xdpguard {

// "80,443,https": numbers 1-65535 or TCP service names (/etc/services), at
// most XDPGUARD_SYNPROXY_MAX_PORTS, no repeats. Errors name the bad item.
[[nodiscard]] Result<std::vector<std::uint16_t>> parse_synproxy_ports(const std::string& text);

// Checks every setting: at least one port, MSS 536-65535 (IPv4) and
// 1220-65535 (IPv6), window scale 0-14, TTL 1-255.
[[nodiscard]] Result<void> validate_synproxy(const SynproxyConfig& cfg);

// The nftables table of the SYN proxy on interface `ifindex`.
std::string synproxy_table(int ifindex);

// A TCP connection of the host: the remote end and the local one, as a
// packet from the remote end carries them (saddr, sport, daddr, dport).
struct TcpConnection {
  rules::Prefix remote, local;  // full-length prefixes: addresses
  std::uint16_t remote_port = 0, local_port = 0;
  bool operator==(const TcpConnection&) const = default;
};

// The connections of /proc/net/tcp (v6 false) or /proc/net/tcp6 (v6 true)
// text that are not listening sockets and whose local port is one of
// `ports` (established, half-open, closing, time-wait); an IPv4-mapped
// IPv6 one is returned as IPv4 (its packets are). Lines that do not parse
// are skipped.
std::vector<TcpConnection> parse_proc_net_tcp(std::string_view text, bool v6,
                                              const std::vector<std::uint16_t>& ports);

// The `nft -f` script that creates the table. It names the interface by
// its index only (`iif N`: no interface name is ever written into the
// script), and only packets to local addresses (`fib daddr type local`):
//  - SYNs to the ports that reach the kernel are not tracked;
//  - packets of the connections in `existing` (open when enable ran, so
//    in no conntrack table) are accepted first;
//  - packets to the ports conntrack finds invalid or untracked (the ACK that
//    completes a handshake XDP answered) go to SYNPROXY with the same MSS
//    and window scale the SYN-ACKs announced; the other invalid ones are
//    dropped. Everything else is accepted (policy).
std::string nft_synproxy_script(const std::string& table, int ifindex, const SynproxyConfig& cfg,
                                const std::vector<TcpConnection>& existing = {});
// `add element` lines for connections found after the table was loaded
// ("" when there are none).
std::string nft_existing_elements(const std::string& table, const std::vector<TcpConnection>& existing);

// A route of the local routing table of type local (RTN_LOCAL): an
// address of the host (or a prefix of them), and its device.
struct LocalRoute {
  rules::Prefix prefix;
  int oif = 0;
};
// What the proxy on interface `ifindex` answers for: every local route
// but loopback (127.0.0.0/8 and ::1 never arrive from a wire), and IPv6
// link-local ones only of `ifindex` itself (they are local per interface).
std::vector<rules::Prefix> synproxy_local_prefixes(const std::vector<LocalRoute>& routes, int ifindex);

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
