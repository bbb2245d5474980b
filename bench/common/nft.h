// xdpguard rules as nftables rules, so that nftables can be measured with
// the same rule set. The translation is the one tests/e2e/nft_diff_test.cpp
// checks xdpguard against, written the way a person would write it for nft:
//   drop udp dport 10000 saddr 10.0.0.1   ->  ip saddr 10.0.0.1 udp dport 10000 drop
//   pass tcp dport 10003-10006            ->  tcp dport 10003-10006 accept
//   drop tcp tcp-flags syn,!ack           ->  tcp flags & 0x12 == 0x2 drop
// (nft adds the protocol dependencies `ip saddr` and `udp dport` imply).
// Pure; rules naming a set or redirecting are refused (EINVAL).
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "rules/rule.h"

namespace xdpguard::bench {

// `counter` names a named counter object the rule counts into ("" for none).
[[nodiscard]] Result<std::string> to_nft(const rules::Rule& r, const std::string& counter = "");

// An `nft -f` script: table netdev TABLE with a named counter `xg_last` and one
// base chain `in` on DEVICE's ingress (policy accept) holding the rules in
// order; the last rule counts into `xg_last`.
[[nodiscard]] Result<std::string> nft_ingress_script(const std::string& table, const std::string& device,
                                                     const std::vector<std::string>& rule_texts);

}  // namespace xdpguard::bench
