#include "flowspec/install.h"

#include <linux/bpf.h>

#include "flowspec/translate.h"

namespace xdpguard::flowspec {

Result<InstallReport> install(Guard& g, const std::vector<std::string>& group, Position pos) {
  auto hold = XG_TRY(g.hold());  // read and replace under one lock
  auto cur = XG_TRY(g.rules());
  auto want = with_flowspec_group(cur, group, pos);
  InstallReport rep;
  rep.flowspec = group.size();
  rep.local = want.size() - group.size();
  std::vector<std::string> have;
  have.reserve(cur.size());
  for (const auto& r : cur) have.push_back(r.text);
  if (have == want) return rep;
  XG_CHECK(g.replace_rules(want));
  rep.changed = true;
  return rep;
}

Result<std::vector<std::string>> installed_group(const Guard& g) {
  auto cur = XG_TRY(g.rules());
  std::vector<std::string> out;
  for (const auto& r : cur)
    if (in_flowspec_group(r.rule)) out.push_back(r.text);
  return out;
}

Result<rules::Action> accept_action(const Guard& g, Position pos) {
  if (pos == Position::BeforeLocal) return rules::Action::Pass;
  auto a = XG_TRY(g.default_action());
  return a == XDP_DROP ? rules::Action::Drop : rules::Action::Pass;
}

}  // namespace xdpguard::flowspec
