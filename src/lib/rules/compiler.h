// Rule compiler: turns an ordered rule set into the classifier's tables (the
// entries of ONE hash map, see bpf/include/xdpguard/abi.h and
// docs/classifier.md). Pure: no kernel I/O, unit-tested against a linear
// reference matcher (rules/reference.h).
//
// Tuple space search: every rule is expanded into exact-match entries of one
// or more tuples (shapes). A port range becomes its minimal prefix blocks
// (1024-65535 -> 6 blocks); each (source block, destination block) pair is
// one entry. Within a tuple the first rule to claim a key keeps it (first
// match wins). Tuples are sorted by their best rule's position.
//
// Fails (Result) on: redirect xsk (no AF_XDP consumer yet), an unknown set
// or redirect interface, more than XDPGUARD_MAX_TUPLES shapes or
// XDPGUARD_MAX_CLS_ENTRIES entries, more than XDPGUARD_MAX_RULES rules.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bpf/abi.h"
#include "core/result.h"
#include "rules/rule.h"

namespace xdpguard::rules {

struct RuleEntry {
  std::uint32_t id = 0;  // stable rule id: counter slot, what `rule del` takes
  Rule rule;
};

struct CompileContext {
  // Set name -> index in xg_set4/xg_set6, nullopt if no such set.
  std::function<std::optional<std::uint32_t>(const std::string&)> set_index;
  // Interface name -> ifindex for `redirect dev`, nullopt if none.
  std::function<std::optional<int>(const std::string&)> ifindex;
};

struct CompiledRuleSet {
  std::vector<std::pair<xdpguard_cls_key, xdpguard_cls_value>> entries;
  std::uint32_t ntuples = 0;
  std::uint32_t nmatches = 0;
};

[[nodiscard]] Result<CompiledRuleSet> compile(const std::vector<RuleEntry>& rules,
                                              std::uint32_t default_action,
                                              const CompileContext& ctx);

// Minimal prefix blocks covering [r.lo, r.hi]: (value, prefix length on 16 bits).
std::vector<std::pair<std::uint16_t, std::uint8_t>> port_blocks(PortRange r);

}  // namespace xdpguard::rules
