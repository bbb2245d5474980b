// Rule-set lint: finds rules that can never match because an earlier rule
// matches every packet they would match (first match wins, so the later
// rule is dead). Pure; never fails; warnings, not errors: a dead rule is
// legal, just almost certainly not what the operator meant.
//
// Conservative: a warning means coverage is certain. Only single earlier
// rules are considered (a rule covered by the union of several is not
// reported), and a named set covers only a reference to the same set (set
// contents can change at runtime). Coverage is decided field by field:
// family, protocol, VLAN tags (none, an outer ID, an outer and inner ID: an
// earlier `vlan N` covers a later `vlan N inner M`), saddr/daddr prefix
// containment, port range containment,
// and TCP flags (the earlier rule's flag tests are a subset of the later
// one's, with the same values); the value lists (icmp-type, icmp-code,
// length, dscp: the earlier list holds every value of the later one, an
// absent list being every value) and the fragment bits (as TCP flags); the
// comment is no match and plays no part. Also the fragment rule: an earlier
// rule with a port, TCP flag or ICMP type/code match does not see non-first
// fragments, so it covers only later rules that have such a match too.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "rules/rule.h"

namespace xdpguard::rules {

struct LintWarning {
  std::size_t rule_index;  // 0-based index of the dead rule
  std::size_t covered_by;  // 0-based index of the first earlier rule covering it
  std::string message;     // uses 1-based rule numbers, as the parser's errors do
  bool operator==(const LintWarning&) const = default;
};

// At most one warning per rule, in rule order. For whole rule sets
// (config files, `rule list`).
std::vector<LintWarning> lint(const std::vector<Rule>& rules);

// The warnings rule k takes part in, O(n): k covered by an earlier rule (the
// first one), and later rules k covers (whether or not an earlier rule
// covers them too). For `rule add`.
std::vector<LintWarning> lint_rule(const std::vector<Rule>& rules, std::size_t k);
// The same over rules kept elsewhere (`rule add`: the entries it compiles).
std::vector<LintWarning> lint_rule(std::span<const Rule* const> rules, std::size_t k);

// Rules with limits that one packet can meet, at most (per family and
// protocol, counting every limited rule that could match it). A packet under
// the limits of more than kMaxLimitedUnder of them cannot be classified
// further (the kernel allows 33 tail calls) and is dropped, counted in
// limit_resume_failed (docs/ddos.md). The warning when a rule set can get
// there, naming the packets; nullopt when it cannot.
inline constexpr std::size_t kMaxLimitedUnder = 16;
std::optional<std::string> limit_depth_warning(const std::vector<Rule>& rules);
std::optional<std::string> limit_depth_warning(std::span<const Rule* const> rules);

// Does every packet that matches `later` also match `earlier`? (Exposed for tests.)
bool covers(const Rule& earlier, const Rule& later);

}  // namespace xdpguard::rules
