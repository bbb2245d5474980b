// The classifier's share of auto-block (docs/ddos.md, abi.h "Auto-block"):
// a block made by rule R's limit is a match at R's position. Once the
// classifier knows the packet's best rule (or that none matched), it looks
// up the blocks of the rules with `block` up to that position, in position
// order; the first unexpired one decides: drop, counted for R and in
// ddos[BLOCKED]. A rule before R that matches still wins; the blocks of R
// never drop a packet that an earlier rule decided. The limiter (C,
// limiter.h) makes the blocks; only the lookup is generated here, because
// which rules block, their positions and their prefix lengths are the rule
// set's. Rule sets without `block` get none of this.
#pragma once

#include <cstdint>
#include <vector>

#include "classifier/asm.h"
#include "classifier/plan.h"

namespace xdpguard::cls {

// A rule with `block`, as the lookup needs it.
struct BlockRule {
  std::uint32_t pos = 0;  // position in the rule set
  std::uint32_t id = 0;
  std::uint8_t family = 0;  // 0 (both), 4, 6
  std::uint8_t len4 = 32, len6 = 128;
};
// In position order.
std::vector<BlockRule> block_rules(const Plan& plan);

// At the classifier's verdict, r6 = the per-CPU entry: if a block of a rule
// at or before the best position holds for the packet's source, the verdict
// becomes that block's drop. Clobbers r0-r5, r7-r9; falls through to the
// next instruction either way. `fake_clock`: the time is xg_ddos.fake_now
// (tests), else bpf_ktime_get_ns().
void emit_block_check(Program& p, const std::vector<BlockRule>& rules, MapId blocked, MapId ddos,
                      bool fake_clock);

}  // namespace xdpguard::cls
