// xdpguard rules as nftables rules (netdev family), written the way a person
// would write them for nft:
//   drop udp dport 10000 saddr 10.0.0.1   ->  ip saddr 10.0.0.1 udp dport 10000 drop
//   pass tcp dport 10003-10006            ->  tcp dport 10003-10006 accept
//   drop tcp tcp-flags syn,!ack           ->  tcp flags & 0x12 == 0x2 drop
//   drop saddr @bad                       ->  ip saddr @bad_v4 drop
//                                             ip6 saddr @bad_v6 drop
//   drop udp limit over 10/s per saddr    ->  meta protocol ip udp update @lim0_v4
//                                             { ip saddr and 255.255.255.255 limit rate
//                                             over 10/second burst 5 packets } drop (+ ip6)
//   drop vlan 5 tcp                       ->  ether type 8021q vlan id 5 meta l4proto 6 drop
//                                             ether type 8021ad vlan id 5 meta l4proto 6 drop
//   pass vlan 5 inner 7                   ->  ether type 8021q vlan id 5 vlan type 8021q
//                                             vlan id 7 accept (and the three other tag
//                                             protocol pairs)
//   drop vlan none                        ->  ether type != { 8021q, 8021ad } drop
//   drop icmp icmp-type 0,3,8-11 icmp-code 0
//                                         ->  meta protocol ip meta l4proto 1 icmp type
//                                             { 0, 3, 8-11 } icmp code 0 drop (icmpv6 alike)
//   drop length 40-60,1500 dscp 46        ->  meta protocol ip ip length { 40-60, 1500 }
//                                             ip dscp 46 drop
//                                             meta protocol ip6 ip6 length { 0-20, 1460 }
//                                             ip6 dscp 46 drop (ip6 length is the payload's:
//                                             xdpguard's length - 40; none below 40)
//   drop ip frag dont-fragment,!is-fragment
//                                         ->  meta protocol ip ip frag-off & 0x4000 != 0
//                                             ip frag-off & 0x3fff 0x0 drop
//   drop ip6 frag is-fragment,!last-fragment
//                                         ->  meta protocol ip6 frag frag-off 0 frag
//                                             more-fragments 1 drop
//                                             meta protocol ip6 frag frag-off != 0 frag
//                                             more-fragments 1 drop
//                                             (one rule per state of the fragment header
//                                             that satisfies the bits; `!is-fragment` is
//                                             `exthdr frag missing` or an atomic fragment;
//                                             IPv6 has no DF: dont-fragment matches none)
//   pass comment "x"                      ->  accept comment "x"
// (nft adds the dependencies `ip saddr` and `udp dport` imply). An xdpguard
// set holds both families and nft sets one: a rule naming a set becomes one
// nft rule per family it applies to, over NAME_v4 and NAME_v6, IPv4 first (a
// packet has one family, so first-match order is kept).
//
// The one translation: the nft differential test checks xdpguard against it
// and the throughput benchmark measures nft with it. Pure; `redirect` rules
// are refused (EINVAL).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/result.h"
#include "rules/rule.h"

namespace xdpguard::rules {

struct NftOptions {
  // A named counter object the rules count into ("" for none).
  std::string counter;
  // A `limit over` becomes nft's `limit rate over RATE/UNIT burst N packets`
  // (one bucket for the rule) or, with `per saddr[/N]`, an update of a
  // dynamic set per family keyed by the masked source, named limINDEX_v4 and
  // limINDEX_v6 (xdpguard's buckets are per family too). Their declarations
  // are appended to *decls (needed for such a rule).
  std::size_t index = 0;
  std::string* decls = nullptr;
};

[[nodiscard]] Result<std::vector<std::string>> to_nft(const Rule& r, const NftOptions& opts = {});

}  // namespace xdpguard::rules
