// A userspace replay of the generated classifier (classifier/emit.cpp), for
// unit tests of the planner and the table layout without a kernel.
//
// It follows what the generated code does, step for step: the class
// dispatch on family, "non-first fragment" and protocol; each class's path
// of groups with the early exit before a group whose first rule comes after
// the best rule so far; chains compared rule by rule; table lookups read
// from the blob's bytes (Trie4 levels, the Ports array, Hash6 buckets with
// linear probing), then candidate lists with the same residual checks and
// the same "a candidate after the best so far ends the list" rule. So a
// wrong table layout, a wrong plan or a wrong residual check shows up as a
// verdict different from rules::first_match.
//
// Reading outside the blob throws std::out_of_range (a test failure).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>

#include "classifier/plan.h"
#include "classifier/tables.h"
#include "oracle/reference.h"

namespace xdpguard::test {

// Is addr (of the class's family: 4 or 6) in set `set` (index in
// xg_set4/xg_set6, as CompiledRule::saddr_set)? Unset: nothing is.
using SetIndexMembership =
    std::function<bool(std::uint32_t set, std::uint8_t family, const std::array<std::uint8_t, 16>& addr)>;

// What the classifier leaves in the per-CPU entry.
struct ClsVerdict {
  std::uint32_t prio = 0xffffffff;  // XDPGUARD_PRIO_NONE: no rule matched
  std::uint32_t slot = 0;           // rule id, 0: default
  std::uint32_t action = 0;         // XDP_*
  std::uint32_t ifindex = 0;
};

ClsVerdict plan_verdict(const cls::Plan& plan, const cls::Tables& tables, const rules::PacketFields& p,
                        const SetIndexMembership& in_set = {});

// Position of the matching rule, nullopt for the default action.
std::optional<std::uint32_t> plan_eval(const cls::Plan& plan, const cls::Tables& tables,
                                       const rules::PacketFields& p, const SetIndexMembership& in_set = {});

}  // namespace xdpguard::test
