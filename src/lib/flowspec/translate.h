// FlowSpec route -> xdpguard rules (README, "Fleet-wide rules with BGP
// FlowSpec"). Pure. A route is installed only when its rules match exactly
// the packets the route matches (never a broader rule: over-blocking is the
// failure that matters); otherwise translate() fails with the reason, and
// nothing of the route is installed.
//
// Components:
//   destination/source prefix -> daddr/saddr (an IPv6 prefix offset other
//                                than 0: not expressible)
//   protocol                   -> one rule per protocol the operator list
//                                admits (all 256: no protocol match)
//   port / destination-port / source-port
//                              -> sport/dport ranges: one rule per range (a
//                                route's `port` is two: source, then
//                                destination); they need tcp or udp: with
//                                no protocol component, the route's rules
//                                are for tcp and udp (xdpguard reads no other
//                                protocol's ports); a protocol list that
//                                admits another protocol with ports (SCTP,
//                                DCCP, UDP-Lite) is not expressible
//   icmp-type / icmp-code      -> icmp-type / icmp-code lists, with icmp
//                                (IPv4) or icmpv6 (IPv6)
//   tcp-flags, fragment        -> tcp-flags / frag bits: the operator list
//                                in disjunctive form, one rule per term
//   packet-length, dscp        -> length / dscp lists
//   flow-label                 -> not expressible
// An operator list that admits no value makes a route that matches nothing:
// it installs no rule. Numeric operators combine as RFC 8955 says: AND binds
// tighter than OR.
//
// Actions:
//   traffic-rate 0 (bytes or packets)     -> drop
//   traffic-rate-packets R                 -> drop ... limit over R/second
//                                            burst R/10 (at least 5)
//   traffic-rate-bytes R > 0              -> drop ... limit over R bytes/second
//                                            (nft's byte bucket: one second's
//                                            bytes; a packet costs its IP length)
//                                            (either: one aggregate bucket, so a
//                                            route that needs several rules is
//                                            not expressible)
//   sample                                 -> log
//   terminal (the default)                 -> after the route's drop or limit
//                                            rules, the same matches with the
//                                            `accept` action (Options::accept):
//                                            later FlowSpec routes do not see
//                                            what this route accepted
//   redirect, marking, ...                 -> not applied (notes)
// A non-terminal route with no rate installs nothing (it accepts and lets
// later routes decide); one that only samples is not expressible.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/result.h"
#include "flowspec/route.h"
#include "rules/rule.h"

namespace xdpguard::flowspec {

struct Options {
  // What a terminal route's accepted packets get: the interface's default
  // action when FlowSpec rules come after the local ones (they are the last
  // rules), pass when they come first.
  rules::Action accept = rules::Action::Pass;
  std::size_t max_rules = 64;  // per route: more is not installed
};

struct Translation {
  std::vector<rules::Rule> rules;  // in evaluation order, each labelled (Rule::comment)
  std::vector<std::string> notes;  // what the route has that is not applied
};

// The label every rule of `r` carries: "flowspec " + match_text(r), cut to
// `max` characters (a long one ends in "... #" and a hash of the whole
// text, so two long routes keep distinct labels). translate() gives a
// route's rules the longest label that keeps each rule's text within a rule
// set's record (rules::kMaxRuleText), at most kMaxLabel.
inline constexpr std::size_t kMaxLabel = 128;  // what a comment holds
std::string label(const Route& r, std::size_t max = kMaxLabel);
inline constexpr std::string_view kLabelPrefix = rules::kFlowspecLabel;

[[nodiscard]] Result<Translation> translate(const Route& r, const Options& opts = {});

}  // namespace xdpguard::flowspec
