// The rule language's syntax tree (README, "The rule language"). Pure data:
// produced by the parser (rules/parser.h), printed canonically
// (rules/printer.h), checked by the lint (rules/lint.h), and compiled into
// classifier tables (rules/compiler.h).
//
// Normalisation (the parser guarantees it, the printer and compiler rely on
// it): prefixes have their host bits cleared; `family` is V4/V6 whenever a
// prefix, `ip`/`ip6` or a family-specific protocol (icmp -> V4, icmpv6 -> V6)
// implies it; `proto` is set whenever ports or tcp-flags are used.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/limit.h"

namespace xdpguard::rules {

enum class Action : std::uint8_t { Pass, Drop, RedirectXsk, RedirectDev };
enum class Family : std::uint8_t { Any, V4, V6 };

inline constexpr std::uint8_t kProtoIcmp = 1;
inline constexpr std::uint8_t kProtoTcp = 6;
inline constexpr std::uint8_t kProtoUdp = 17;
inline constexpr std::uint8_t kProtoIcmpv6 = 58;

// An IPv4 or IPv6 prefix. IPv4 addresses use bytes 0..3; the rest are zero.
struct Prefix {
  Family family = Family::V4;  // V4 or V6, never Any
  std::array<std::uint8_t, 16> addr{};
  std::uint8_t len = 0;  // 0..32 or 0..128
  bool operator==(const Prefix&) const = default;
};

// saddr/daddr operand: a literal prefix or a named set ("@name").
struct AddrMatch {
  std::optional<Prefix> prefix;
  std::string set;  // non-empty iff !prefix
  bool operator==(const AddrMatch&) const = default;
};

// `vlan none` | `vlan N` | `vlan N inner M`: which 802.1Q/802.1ad tags the
// frame carries (rules/parser.h). A frame reaches the rules with at most two.
struct VlanMatch {
  bool none = false;                   // untagged (no outer tag at all)
  std::uint16_t id = 0;                // the outer (or only) tag's VLAN ID, 0..4095
  std::optional<std::uint16_t> inner;  // the inner tag's VLAN ID: QinQ, two tags
  bool operator==(const VlanMatch&) const = default;
};
inline constexpr std::uint16_t kMaxVlanId = 4095;

struct PortRange {
  std::uint16_t lo = 0, hi = 65535;  // inclusive
  bool operator==(const PortRange&) const = default;
};

// The values a numeric match accepts (`icmp-type`, `icmp-code`, `length`,
// `dscp`): `N`, `N-M` or a comma list of those (`0,3,8-11`), as nft's
// anonymous sets `{ 0, 3, 8-11 }`. Normalised: sorted, no two ranges
// overlap or touch (3,4-6 is 3-6), never empty.
struct ValueRange {
  std::uint32_t lo = 0, hi = 0;  // inclusive
  bool operator==(const ValueRange&) const = default;
};
using ValueList = std::vector<ValueRange>;
inline constexpr std::uint32_t kMaxIcmpValue = 255;
inline constexpr std::uint32_t kMaxLength = 65535 + 40;  // IPv6: the largest payload length + its header
inline constexpr std::uint32_t kMaxDscp = 63;
inline constexpr std::size_t kMaxValueRanges = 16;  // ranges in one list

// `frag FLAG[,FLAG...]`, FLAG := [!]dont-fragment|is-fragment|first-fragment
// |last-fragment: the IP header's fragmentation state, bits as in BGP
// FlowSpec's fragment component (RFC 8955 4.2.2.12) and xdpguard_pkt.frag_bits.
// is-fragment: any fragment (offset != 0 or more-fragments set);
// first-fragment: offset 0 with more-fragments; last-fragment: offset != 0
// without more-fragments; dont-fragment: IPv4's DF bit (never set in IPv6).
// IPv6: the first fragment header that is not atomic (offset 0 without
// more-fragments, which the kernel skips) says; none, no bits.
// Tested as tcp-flags are: named bits with the required values.
inline constexpr std::uint8_t kFragDf = 0x01;
inline constexpr std::uint8_t kFragIsf = 0x02;
inline constexpr std::uint8_t kFragFf = 0x04;
inline constexpr std::uint8_t kFragLf = 0x08;

// `log [N/M]`: matching packets are recorded (events, capture), N of every M
// on average (sampled in the kernel); plain `log` is 1/1. Kept in lowest
// terms (10/1000 is 1/100; N == M is 1/1).
struct LogSpec {
  std::uint32_t n = 1, m = 1;
  bool operator==(const LogSpec&) const = default;
};
inline constexpr std::uint32_t kMaxLogDenominator = 1u << 24;  // the kernel's sampling resolution

struct Rule {
  Action action = Action::Pass;
  std::string redirect_dev;  // for RedirectDev
  // For RedirectXsk: the verdict when the receiving queue has no AF_XDP
  // socket bound (`redirect xsk fallback drop`); Pass or Drop.
  Action xsk_fallback = Action::Pass;
  Family family = Family::Any;
  std::optional<std::uint8_t> proto;
  std::optional<AddrMatch> saddr, daddr;
  std::optional<PortRange> sport, dport;
  std::uint8_t flags_mask = 0;    // TCP flag bits tested (XG_TCP_* in parse.h)
  std::uint8_t flags_value = 0;   // required values of those bits
  std::optional<Limit> limit;     // rate limit predicate (rules/limit.h)
  std::optional<VlanMatch> vlan;  // `vlan none|N [inner M]`
  std::optional<LogSpec> log;     // `log [N/M]`: not a match, a record of the hits
  // `icmp-type V` / `icmp-code V`: need icmp or icmpv6 in the rule, values
  // 0-255; like ports, never met by a non-first fragment.
  std::optional<ValueList> icmp_type, icmp_code;
  // `length V`: the IP packet's length in bytes, header included (IPv4's
  // total length; IPv6's payload length + 40), as FlowSpec's packet length.
  std::optional<ValueList> length;
  std::optional<ValueList> dscp;  // `dscp V`: the DSCP (TOS / traffic class >> 2), 0-63
  std::uint8_t frag_mask = 0;     // `frag ...`: kFrag* bits tested
  std::uint8_t frag_value = 0;    // required values of those bits
  // `comment "TEXT"`: not a match, a label shown with the rule (rule list,
  // top, metrics) and part of its identity: 1-128 printable ASCII
  // characters, no '"' or '\'. FlowSpec routes name themselves here.
  std::string comment;
  bool operator==(const Rule&) const = default;
};

// Whether rule r matches against the named set `name` (saddr or daddr @name).
inline bool uses_set(const Rule& r, std::string_view name) {
  return (r.saddr && r.saddr->set == name) || (r.daddr && r.daddr->set == name);
}

// Adds the names of the sets rule r matches against to `names`.
inline void add_set_names(const Rule& r, std::vector<std::string>& names) {
  for (const auto* m : {&r.saddr, &r.daddr})
    if (*m && !(*m)->set.empty()) names.push_back((*m)->set);
}

// A comment that starts with this marks the FlowSpec consumer's rules
// (guard/groups.h): local rules may not use it.
inline constexpr std::string_view kFlowspecLabel = "flowspec ";

}  // namespace xdpguard::rules
