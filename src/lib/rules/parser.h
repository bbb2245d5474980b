// Rule-language parser (README, "The rule language"): text -> Rule, and the
// address / name syntax shared with set files (rules/set_file.h) and the
// config file (config/config.h). Pure functions, no state, no allocation
// beyond the result.
//
//   RULE    := ACTION MATCH*
//   ACTION  := pass | drop | redirect xsk [fallback pass|drop] | redirect dev IFNAME
//              (`redirect xsk`: to the AF_XDP socket bound to the receiving
//              queue; a queue without one takes the fallback, pass unless said)
//   MATCH   := ip | ip6 | tcp | udp | icmp | icmpv6 | proto N
//            | saddr CIDR|@set | daddr CIDR|@set | sport PORTS | dport PORTS
//            | tcp-flags FLAG[,FLAG...]       FLAG := [!]syn|ack|fin|rst|psh|urg|ece|cwr
//            | icmp-type V | icmp-code V      ICMP/ICMPv6 type and code, 0-255; need icmp or
//                                             icmpv6 in the rule; never met by a non-first
//                                             fragment (no ICMP header there)
//            | length V                       the IP packet's length, header included (IPv4:
//                                             total length; IPv6: payload length + 40), 0-65575
//            | dscp V                         DSCP, 0-63 (IPv4 TOS >> 2, IPv6 traffic class >> 2)
//            | frag FRAG[,FRAG...]            FRAG := [!]dont-fragment|is-fragment|first-fragment
//                                             |last-fragment (rules/rule.h): named bits with
//                                             required values, as tcp-flags
//            | vlan none | vlan N [inner M]   802.1Q/802.1ad tags, N and M 0-4095: the
//                                             outer (or only) tag's VLAN ID, and with
//                                             `inner` the second tag's (QinQ);
//                                             `none`: an untagged frame
//            | limit over RATE [burst N] [per saddr[/LEN[/LEN6]]] [block DURATION]
//                                             (rules/limit.h)
//            | log [N/M]                      record the hits (N of every M, sampled)
//            | comment "TEXT"                 not a match: a label, 1-128 printable ASCII
//                                             characters, no " or \; part of the rule's text
//   V       := ITEM[,ITEM...]                 no spaces: `0,3,8-11`
//            | { ITEM[, ITEM...] }            nft's anonymous set, spaces allowed: `{ 0, 3, 8-11 }`
//   ITEM    := N | N-M                        inclusive, N <= M
//
// Tokens are separated by ASCII whitespace, except that a double-quoted
// string ("...") and a brace group ({...}) are one token each. Keywords are
// lower case; matches may come in any order, each at most once. The result
// is normalised as rules/rule.h describes:
//   - host bits of prefixes are cleared (203.0.113.5/24 -> 203.0.113.0/24,
//     as nft does); a bare address is /32 or /128;
//   - `tcp`/`udp`/`icmp`/`icmpv6` are proto 6/17/1/58 and `proto N` with
//     those numbers is the same rule (`proto 6` == `tcp`);
//   - the family is set by ip/ip6, by a literal prefix, and by icmp (IPv4)
//     or icmpv6 (IPv6), also when written `proto 1` / `proto 58`. @set
//     operands do not imply a family (a set may hold both);
//   - flags_value only has bits inside flags_mask, frag_value only inside
//     frag_mask;
//   - value lists are sorted, overlapping or touching ranges merged
//     (`5,1-3,4` is 1-5); at most kMaxValueRanges (16) ranges after that.
// Requirements: ports need `tcp` or `udp` in the rule, tcp-flags need `tcp`,
// icmp-type and icmp-code need `icmp` or `icmpv6` (written; nothing is
// implied); the family sources must agree.
//
// Failure: one Error (code EINVAL) for the first problem found, naming the
// 1-based byte column of the offending token and what was expected:
//   column 18: expected a port or range, got "ssh"
// and with a rule number: `rule 3, column 18: ...`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "rules/rule.h"

namespace xdpguard::rules {

[[nodiscard]] Result<Rule> parse_rule(std::string_view text);
// Same; error messages start with "rule <rule_number>, ".
[[nodiscard]] Result<Rule> parse_rule(std::string_view text, std::size_t rule_number);

// Decimal digits only (no sign, no spaces), value <= max; any number of
// leading zeros is harmless (no octal reading of ports, lengths or rates).
std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max);
// Strict dotted quad "a.b.c.d": four decimal octets 0..255, no leading zeros
// (no octal ambiguity), nothing else.
std::optional<std::array<std::uint8_t, 4>> parse_ipv4(std::string_view text);
// Any IPv6 textual form inet_pton accepts ("::", "::ffff:1.2.3.4", ...); no
// zone ids, no brackets.
std::optional<std::array<std::uint8_t, 16>> parse_ipv6(std::string_view text);
// "ADDR" or "ADDR/LEN" for either family; a bare address is a host prefix.
// Host bits are cleared. nullopt on any syntax error or length out of range.
std::optional<Prefix> parse_prefix(std::string_view text);

// Clears the bits of p.addr beyond p.len (and the unused bytes of IPv4).
void clear_host_bits(Prefix& p);

// Set names: 1..31 of letters, digits, '_' and '-', starting with a letter or '_'.
bool valid_set_name(std::string_view name);
// Interface names as the kernel accepts them (dev_valid_name: 1..15
// characters, not "." or "..", no '/', ':' or whitespace), further limited to
// printable ASCII so that rule text stays printable and valid UTF-8.
bool valid_ifname(std::string_view name);

// `s` as shown in error messages: in double quotes, `"` and `\` escaped,
// bytes outside printable ASCII as \xNN, cut after 48 bytes with "...".
std::string quote(std::string_view s);

}  // namespace xdpguard::rules
