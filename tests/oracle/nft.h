// xdpguard rules as nftables rules (netdev family), written the way a person
// would write them for nft:
//   drop udp dport 10000 saddr 10.0.0.1   ->  ip saddr 10.0.0.1 udp dport 10000 drop
//   pass tcp dport 10003-10006            ->  tcp dport 10003-10006 accept
//   drop tcp tcp-flags syn,!ack           ->  tcp flags & 0x12 == 0x2 drop
//   drop saddr @bad                       ->  ip saddr @bad_v4 drop
//                                             ip6 saddr @bad_v6 drop
// (nft adds the dependencies `ip saddr` and `udp dport` imply). An xdpguard
// set holds both families and nft sets one: a rule naming a set becomes one
// nft rule per family it applies to, over NAME_v4 and NAME_v6, IPv4 first (a
// packet has one family, so first-match order is kept).
//
// The one translation: the nft differential test checks xdpguard against it
// and the throughput benchmark measures nft with it. Pure; `redirect` rules
// are refused (EINVAL).
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "rules/rule.h"

namespace xdpguard::rules {

// `counter` names a named counter object the rules count into ("" for none).
[[nodiscard]] Result<std::vector<std::string>> to_nft(const Rule& r, const std::string& counter = "");

}  // namespace xdpguard::rules
