// Random rule sets and packets for property and differential tests. Rules are
// normalised as the parser produces them; packets are either aimed at a rule
// of the set (so that matches are frequent) or random. Distributions favour
// edge cases: ports 0/65535, /0 and full-length prefixes, both families.
#pragma once

#include <random>
#include <vector>

#include "rules/reference.h"
#include "rules/rule.h"

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

}  // namespace xdpguard::test
