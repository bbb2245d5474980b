// Reference semantics of the rule language, for tests: a plain linear
// first-match evaluation of the rules (what nftables does). The generated
// classifier must agree with it on every packet.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
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
  // The frame's 802.1Q/802.1ad tags, outer first: how many (0..2) and their
  // 12-bit VLAN IDs.
  std::uint8_t nvlan = 0;
  std::array<std::uint16_t, 2> vlan{};
  // The FlowSpec fields: ICMP/ICMPv6 type and code (0 without the header),
  // the IP length (IPv4 total length, IPv6 payload length + 40), the DSCP,
  // and the fragment bits (kFragDf|kFragIsf|kFragFf|kFragLf).
  std::uint8_t icmp_type = 0, icmp_code = 0;
  std::uint32_t ip_len = 0;
  std::uint8_t dscp = 0;
  std::uint8_t frag_bits = 0;
};

// Is addr (of the packet's family) in the named set?
using SetMembership = std::function<bool(const std::string& set, std::uint8_t family,
                                         const std::array<std::uint8_t, 16>& addr)>;

// Is the packet over the limit of rule `index` (which has one, and whose
// other matches all hold)? Called in rule order, at most once per rule; a
// packet over the limit matches the rule, one under it goes on to later
// rules. The tests decide: a fixed answer, or a ReferenceLimiter.
using LimitOutcome = std::function<bool(std::size_t index)>;

// Index of the first matching rule, or nullopt. Without `over_limit`, every
// limit counts as over (a limited rule matches as if it had no limit).
std::optional<std::size_t> first_match(const std::vector<Rule>& rules, const PacketFields& p,
                                       const SetMembership& in_set = {}, const LimitOutcome& over_limit = {});

// Token buckets the way nftables keeps them (net/netfilter/nft_limit.c,
// packet mode): tokens counted in nanoseconds, a packet costs unit / rate,
// a bucket holds at most burst packets' worth and starts full; a packet is
// under the limit if a whole packet's worth is there (then it is taken).
// Byte limits (nft's byte mode): a packet costs its IP length's worth (in
// the kernel's fixed point, rules/limit.h), a bucket holds unit * (rate +
// burst) / rate.
// A bucket per rule index, and per source prefix for `per saddr` rules.
// Deliberately not the kernel's formulation (a GCRA "theoretical arrival
// time"): the two must agree to the nanosecond.
class ReferenceLimiter {
 public:
  // Is packet p over rule r's limit at time now_ns? Charges it if not.
  bool over(std::size_t index, const Rule& r, const PacketFields& p, std::uint64_t now_ns);
  // Forgets every bucket (a rule set whose limits all changed).
  void reset() { buckets_.clear(); }
  // A LimitOutcome for first_match over `rules` at time now_ns.
  LimitOutcome at(const std::vector<Rule>& rules, const PacketFields& p, std::uint64_t now_ns);

 private:
  struct Bucket {
    std::uint64_t tokens = 0;  // ns of credit
    std::uint64_t last = 0;    // when tokens was last brought up to date
  };
  std::map<std::pair<std::size_t, std::array<std::uint8_t, 17>>, Bucket> buckets_;
};

}  // namespace xdpguard::rules
