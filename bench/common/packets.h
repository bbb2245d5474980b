// Benchmark packets: frames built from the fields rules look at, and packets
// chosen for a rule set with the reference semantics (rules/reference.h): a
// packet whose first matching rule is a given one, or one no rule matches.
// Pure; the benchmarks still check, with the programs' own counters, that
// the packet did land where it was meant to.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "oracle/reference.h"
#include "rules/rule.h"

namespace xdpguard::bench {

using Bytes = std::vector<std::uint8_t>;

// Fields of a packet from literal addresses (either family); flags for TCP.
rules::PacketFields packet(std::uint8_t proto, std::string_view src, std::string_view dst,
                           std::uint16_t sport, std::uint16_t dport, std::uint8_t tcp_flags = 0);

// The Ethernet frame carrying p: IPv4 (no options) or IPv6 (no extension
// headers), then a TCP (no options), UDP or ICMP/ICMPv6 echo header, or 8
// payload bytes for another protocol; padded to 60 bytes. Checksums are
// left zero (nothing on the XDP path checks them). p.nvlan tags follow the
// MAC addresses: one 802.1Q tag, or an 802.1ad tag over an 802.1Q one.
Bytes frame(const rules::PacketFields& p);

// An IPv6 frame of frame() with `n` Destination Options headers (8 bytes,
// one PadN option each) between the IPv6 header and its L4 header.
Bytes with_dest_opts(const Bytes& ipv6_frame, int n);

// "tcp 10.0.1.7:40000 -> 198.51.100.1:10001 flags 0x10"
std::string describe(const rules::PacketFields& p);

// A packet whose first matching rule is rules[index]: the rule's own fields,
// everything else drawn at random (public addresses, ports 1024..65535, TCP
// flags among SYN, ACK, SYN+ACK, PSH+ACK, FIN+ACK); nullopt when `tries`
// draws all match an earlier rule. Rules must not use sets.
std::optional<rules::PacketFields> packet_for(const std::vector<rules::Rule>& rules, std::size_t index,
                                              std::mt19937& rng, int tries = 1000);

// Parses rule texts; a bug in a workload if one does not parse (aborts).
std::vector<rules::Rule> parse_all(const std::vector<std::string>& texts);

// Random addresses of public unicast space (IPv4 1.0.0.0-223.255.255.255,
// IPv6 2000::/3), host bits included.
std::array<std::uint8_t, 16> random_address(std::uint8_t family, std::mt19937& rng);
// A random address inside p.
std::array<std::uint8_t, 16> address_in(const rules::Prefix& p, std::mt19937& rng);
// Does p contain the address a (of p's family)?
bool contains(const rules::Prefix& p, const std::array<std::uint8_t, 16>& a);

}  // namespace xdpguard::bench
