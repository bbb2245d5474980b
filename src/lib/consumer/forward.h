// What a router does to a frame it forwards, on the bytes alone (pure, no
// kernel): find the IP destination behind the Ethernet header and up to two
// VLAN tags, decrement the IPv4 TTL (the header checksum updated
// incrementally, RFC 1624) or the IPv6 hop limit, and write new Ethernet
// addresses. `xdpguard xsk --forward` and examples/xsk_router use it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "rules/rule.h"

namespace xdpguard::consumer {

using Mac = std::array<std::uint8_t, 6>;

// The IP header's place in a frame and its destination address.
struct IpView {
  std::size_t l3 = 0;  // offset of the IPv4/IPv6 header
  rules::Family family = rules::Family::V4;
  std::array<std::uint8_t, 16> daddr{};  // IPv4 in the first 4 bytes
};
// nullopt: not IPv4/IPv6, or too short for its IP header.
std::optional<IpView> ip_of(std::span<const std::uint8_t> frame);

enum class Forward : std::uint8_t {
  Ok,          // rewritten
  NotIp,       // no IPv4/IPv6 header: not forwarded
  TtlExpired,  // TTL or hop limit <= 1: not forwarded (a router would answer ICMP)
};
// Decrements the TTL / hop limit and sets the Ethernet addresses.
Forward rewrite_for_forward(std::span<std::uint8_t> frame, const Mac& src, const Mac& dst);

// "aa:bb:cc:dd:ee:ff" -> Mac; nullopt if it is not six hex pairs.
std::optional<Mac> parse_mac(std::string_view text);

}  // namespace xdpguard::consumer
