// nftables with the same rule set as xdpguard, for the throughput benchmark.
// The translation of each rule is tests/oracle/nft.h's, the one the nft
// differential test checks xdpguard against.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "rules/rule.h"

namespace xdpguard::bench {

// An `nft -f` script: table netdev TABLE with a named counter `xg_last` and one
// base chain `in` on DEVICE's ingress (policy accept) holding the rules in
// order; the last rule counts into `xg_last`. Rules naming a set are refused.
[[nodiscard]] Result<std::string> nft_ingress_script(const std::string& table, const std::string& device,
                                                     const std::vector<std::string>& rule_texts);

}  // namespace xdpguard::bench
