// The FlowSpec group in an interface's rule set (guard/groups.h: the rules
// whose comment starts with "flowspec ", translate.h's label, are the
// consumer's; every other rule is local and stays, in its order; an apply
// keeps the group likewise). One install replaces
// the whole group with one atomic rule-set swap (Guard::replace_rules: the
// rules that stay keep their ids and counters), under the interface lock, so
// that a `rule add` meanwhile is neither lost nor duplicated.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/result.h"
#include "guard/groups.h"
#include "guard/guard.h"
#include "rules/rule.h"

namespace xdpguard::flowspec {

using Position = GroupPlace;  // guard/groups.h

// The lockout guard of a group (consumer.cpp): given the whole rule list
// that would be in force, the FlowSpec routes (by label: their rules'
// comment) whose rules would drop or send away a packet that keeps the
// operator in touch (simulate/lockout.h), each with that packet.
using CutsOf =
    std::function<Result<std::map<std::string, std::string>>(const std::vector<std::string>& rules)>;

struct InstallReport {
  std::size_t local = 0, flowspec = 0;         // rules in the new rule set
  bool changed = false;                        // something was installed
  std::map<std::string, std::string> refused;  // route label -> the packet its rules would cut
};
// Puts `group` in force on `g` (nothing when it is so already), but for the
// routes `cuts` names: their rules are left out and the rest checked again
// (at most 8 times; a group still cutting then is refused whole).
[[nodiscard]] Result<InstallReport> install(Guard& g, const std::vector<std::string>& group, Position pos,
                                            const CutsOf& cuts = {});
// The FlowSpec rules installed on `g` now, in order (a consumer starting
// adopts them until it has its speaker's routes).
[[nodiscard]] Result<std::vector<std::string>> installed_group(const Guard& g);
// The action a terminal route's accepted packets get at `pos` (translate.h,
// Options::accept): after the local rules, the interface's default action.
[[nodiscard]] Result<rules::Action> accept_action(const Guard& g, Position pos);

}  // namespace xdpguard::flowspec
