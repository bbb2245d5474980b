#include "guard/groups.h"

#include <algorithm>

namespace xdpguard {
namespace {

std::vector<std::string> joined(const std::vector<std::string>& local, const std::vector<std::string>& group,
                                GroupPlace place) {
  std::vector<std::string> out;
  out.reserve(local.size() + group.size());
  const auto& first = place == GroupPlace::BeforeLocal ? group : local;
  const auto& second = place == GroupPlace::BeforeLocal ? local : group;
  out.insert(out.end(), first.begin(), first.end());
  out.insert(out.end(), second.begin(), second.end());
  return out;
}

}  // namespace

bool in_flowspec_group(const rules::Rule& r) { return r.comment.starts_with(rules::kFlowspecLabel); }

GroupPlace flowspec_place(const std::vector<RuleRecord>& installed) {
  const bool first = !installed.empty() && in_flowspec_group(installed.front().rule);
  const bool any_local = std::any_of(installed.begin(), installed.end(),
                                     [](const RuleRecord& r) { return !in_flowspec_group(r.rule); });
  return first && any_local ? GroupPlace::BeforeLocal : GroupPlace::AfterLocal;
}

std::vector<std::string> with_flowspec_group(const std::vector<RuleRecord>& installed,
                                             const std::vector<std::string>& group, GroupPlace place) {
  std::vector<std::string> local;
  for (const auto& r : installed)
    if (!in_flowspec_group(r.rule)) local.push_back(r.text);
  return joined(local, group, place);
}

std::vector<std::string> with_local_rules(const std::vector<RuleRecord>& installed,
                                          const std::vector<std::string>& local) {
  std::vector<std::string> group;
  for (const auto& r : installed)
    if (in_flowspec_group(r.rule)) group.push_back(r.text);
  return joined(local, group, flowspec_place(installed));
}

}  // namespace xdpguard
