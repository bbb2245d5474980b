// An interface's rule set has two writers, and neither removes or moves the
// other's rules:
//   the local rules   the operator's: the config file (attach, apply, run,
//                     a reload), `rule add/del`, commit-confirm's rollback;
//   the FlowSpec group  the FlowSpec consumer's (flowspec/consumer.h): the
//                     rules whose comment starts with rules::kFlowspecLabel,
//                     after the local rules or before them, all together.
// An apply of a file (which has no FlowSpec routes) keeps the installed
// group where it is: before the local rules when the rule set starts with
// it, else after them (a group alone stays after: the consumer's default
// place, which its next install corrects). An install of the group keeps
// the local rules, in their order. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "guard/guard.h"
#include "rules/rule.h"

namespace xdpguard {

enum class GroupPlace : std::uint8_t { AfterLocal, BeforeLocal };

bool in_flowspec_group(const rules::Rule& r);
// Where the installed FlowSpec group is.
GroupPlace flowspec_place(const std::vector<RuleRecord>& installed);
// The rule texts with `group` as the FlowSpec group at `place`, and the
// installed local rules.
std::vector<std::string> with_flowspec_group(const std::vector<RuleRecord>& installed,
                                             const std::vector<std::string>& group, GroupPlace place);
// The rule texts with `local` as the local rules, and the installed
// FlowSpec group at its place.
std::vector<std::string> with_local_rules(const std::vector<RuleRecord>& installed,
                                          const std::vector<std::string>& local);

}  // namespace xdpguard
