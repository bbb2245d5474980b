// Canonical printing of rules (what `rule list` shows and what rule ids are
// keyed by). One fixed token order:
//   ACTION [vlan V] [ip|ip6] [PROTOCOL] [saddr X] [daddr X] [sport P] [dport P] [tcp-flags F]
//     [icmp-type V] [icmp-code V] [length V] [dscp V] [frag F] [limit ...] [log [N/M]]
//     [comment "TEXT"]
// - vlan as `none`, `N` or `N inner M` (decimal, no leading zeros);
// - the family keyword only when nothing else printed implies it (a literal
//   prefix, icmp, icmpv6);
// - the protocol as tcp/udp/icmp/icmpv6 for 6/17/1/58, else `proto N`;
// - prefixes in inet_ntop's shortest form, /32 and /128 omitted;
// - ports `N` or `N-M`; TCP flags in bit order fin,syn,rst,psh,ack,urg,ece,cwr,
//   a clear-bit test written `!name`; fragment flags likewise in bit order
//   dont-fragment,is-fragment,first-fragment,last-fragment;
// - value lists (icmp-type, icmp-code, length, dscp) as the normalised comma
//   list, a single value as `N`, a range as `N-M` (`dscp 10,12-14`), never
//   the brace form.
// Invariant (unit-tested and fuzzed): parse_rule(to_string(r)) == r for every
// r the parser produces, hence to_string is idempotent through the parser.
// Never fails; a Rule the parser could not produce prints as best it can.
#pragma once

#include <string>
#include <string_view>

#include "rules/rule.h"

namespace xdpguard::rules {

std::string to_string(const Rule& r);
std::string prefix_to_string(const Prefix& p);
// "pass", "drop", "redirect xsk" or "redirect dev" (without the interface).
std::string_view action_name(Action a);

}  // namespace xdpguard::rules
