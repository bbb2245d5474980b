// Reference semantics of the rule language, for tests: a plain linear
// first-match evaluation of the rules (what nftables does). The generated
// classifier must agree with it on every packet.
#pragma once

#include <cstdint>
#include <functional>
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "rules/rule.h"

namespace xdpguard::rules {

// The parsed fields the rules look at (a userspace copy of xdpguard_pkt's).
struct PacketFields {
  std::uint8_t family = 0;  // 4 or 6
  std::uint8_t proto = 0;
  std::uint8_t tcp_flags = 0;
  bool frag = false;  // non-first fragment
  std::uint16_t sport = 0, dport = 0;
  std::array<std::uint8_t, 16> saddr{}, daddr{};  // IPv4 in bytes 0..3
};

// Is addr (of the packet's family) in the named set?
using SetMembership = std::function<bool(const std::string& set, std::uint8_t family,
                                         const std::array<std::uint8_t, 16>& addr)>;

// Index of the first matching rule, or nullopt.
std::optional<std::size_t> first_match(const std::vector<Rule>& rules, const PacketFields& p,
                                       const SetMembership& in_set = {});

}  // namespace xdpguard::rules
