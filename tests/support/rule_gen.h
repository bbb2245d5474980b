// Random rule sets and packets for property and differential tests. Rules are
// normalised as the parser produces them; packets are either aimed at a rule
// of the set (so that matches are frequent) or random. Distributions favour
// edge cases: ports 0/65535, /0 and full-length prefixes, both families.
#pragma once

#include <random>
#include <vector>

#include "rules/reference.h"
#include "rules/rule.h"
#include "support/packet.h"

namespace xdpguard::test {

class RuleGen {
 public:
  explicit RuleGen(unsigned seed) : rng_(seed) {}

  int pick(int n) { return static_cast<int>(rng_() % static_cast<unsigned>(n)); }
  bool coin(int pct) { return pick(100) < pct; }
  std::uint32_t raw() { return static_cast<std::uint32_t>(rng_()); }

  rules::Rule rule();
  std::vector<rules::Rule> rules(int n);
  // A packet aimed at `r` (usually matching it), or a random one.
  rules::PacketFields packet_for(const rules::Rule& r);
  rules::PacketFields random_packet();

 private:
  std::array<std::uint8_t, 16> addr(std::uint8_t family);
  rules::Prefix prefix(std::uint8_t family);
  std::uint16_t port();
  rules::PortRange range();
  std::mt19937 rng_;
};

// A frame carrying p's fields in a random encoding: sometimes VLAN-tagged
// (twice if double_vlan), IPv4 options, IPv6 extension headers, a first
// fragment; p.frag makes it a non-first fragment. `tag` becomes the source
// MAC (02:d1:tag), so a frame can be recognised where it arrives.
Bytes frame_for(const rules::PacketFields& p, RuleGen& g, std::uint32_t tag, bool double_vlan);

std::string ntop(std::uint8_t family, const std::array<std::uint8_t, 16>& a);

}  // namespace xdpguard::test
