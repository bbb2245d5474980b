#include "flowspec/install.h"

#include <linux/bpf.h>

#include "flowspec/translate.h"
#include "rules/parser.h"

namespace xdpguard::flowspec {

Result<InstallReport> install(Guard& g, const std::vector<std::string>& group, Position pos,
                              const CutsOf& cuts) {
  auto hold = XG_TRY(g.hold());  // read, check and replace under one lock
  auto cur = XG_TRY(g.rules());
  InstallReport rep;
  std::vector<std::string> kept = group;
  auto want = with_flowspec_group(cur, kept, pos);
  for (int round = 0; cuts; ++round) {
    auto cut = XG_TRY(cuts(want));
    if (cut.empty()) break;
    if (round == 8) return fail(EPERM, "the FlowSpec rules would still cut {}", cut.begin()->second);
    std::vector<std::string> left;
    for (const auto& text : kept) {
      auto r = rules::parse_rule(text);
      if (!r) return tl::unexpected(std::move(r.error()).context(text));
      if (!cut.count(r->comment)) left.push_back(text);
    }
    rep.refused.merge(cut);
    kept = std::move(left);
    want = with_flowspec_group(cur, kept, pos);
  }
  rep.flowspec = kept.size();
  rep.local = want.size() - kept.size();
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
