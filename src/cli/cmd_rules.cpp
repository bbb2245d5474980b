// `xdpguard rule add|del|list` and `xdpguard set load|list|del`.
#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <optional>

#include "bpf/system.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "guard/guard.h"
#include "report/format.h"
#include "report/plan.h"
#include "rules/lint.h"
#include "rules/parser.h"
#include "rules/set_file.h"
#include "simulate/simulate.h"

namespace xdpguard::cli {
namespace {

struct RuleArgs {
  std::string iface;
  std::string rule;
  std::uint32_t id = 0;
  std::uint32_t before = 0;
  std::string set_name;
  std::string file;
  bool json = false;
  bool dump = false;
  std::string confirm;  // --confirm WINDOW
  bool force = false;   // past the lockout guard
};

void warn(const std::string& what) { std::fprintf(stderr, "xdpguard: warning: %s\n", what.c_str()); }

Result<Guard> open_guard(const std::string& name) {
  auto iface = XG_TRY(find_interface(name));
  return Guard::open(iface);
}

// One change of the rule set (`rule add`, `rule del`), checked against
// cutting the operator off: under one hold of the interface's lock, the
// lockout check runs in a thread (when `check`) while `prepare` compiles and
// loads the new rule set; a refusal comes first, whatever else failed. The
// new set goes in under the same hold, or with --confirm once armed. If
// another change came between (arming lets the lock go), `redo` makes the
// change again, checked, against the rule set then.
template <class Prepared>
Result<void> change_rules(Guard& g, const RuleArgs& a, const simulate::Simulator::Edit& e, bool check,
                          const std::function<Result<Prepared>()>& prepare,
                          const std::function<Result<void>()>& redo, const std::string& what,
                          Prepared& prepared) {
  auto commit = [&]() -> Result<void> {
    if (XG_TRY(g.commit(prepared))) return {};
    XG_CHECK(simulate::check_rule_edit(a.iface, a.force, e));
    return redo();
  };
  {
    auto held = XG_TRY(g.hold());
    std::future<Result<void>> checking;
    if (check)
      checking = std::async(std::launch::async,
                            [&a, &e] { return simulate::check_rule_edit(a.iface, false, e, true); });
    auto p = prepare();
    if (checking.valid()) XG_CHECK(checking.get());
    prepared = XG_TRY(std::move(p));
    if (a.confirm.empty()) return commit();
  }
  return with_confirm(a.confirm, {a.iface}, what, commit);
}

Result<void> rule_add(const RuleArgs& a) {
  auto g = XG_TRY(open_guard(a.iface));
  std::optional<std::uint32_t> before;
  if (a.before) before = a.before;
  simulate::Simulator::Edit e;
  e.add = a.rule;
  e.add_before = before;
  // A pass rule cannot cut anyone off, and a rule that does not parse fails
  // in prepare_rule, with its column: neither is checked. The linter's
  // warnings come with the rule (never-matching or shadowed rules, redirect
  // targets that are gone, limits too deep).
  Guard::PreparedRule prepared;
  std::optional<Guard::AddedRule> redone;
  XG_CHECK(change_rules<Guard::PreparedRule>(
      g, a, e, !a.force && rules::parse_rule(a.rule).has_value(),
      [&] { return g.prepare_rule(a.rule, before); },
      [&]() -> Result<void> {
        redone = XG_TRY(g.add_rule(a.rule, before));
        return {};
      },
      fmt::format("rule add {} {}", a.iface, rules::quote(a.rule)), prepared));
  const Guard::AddedRule& added = redone ? *redone : prepared.added;
  std::printf("%u\n", added.id);
  for (const auto& w : added.warnings) warn(w);
  return {};
}

Result<void> rule_del(const RuleArgs& a) {
  auto g = XG_TRY(open_guard(a.iface));
  simulate::Simulator::Edit e;
  e.del = a.id;
  // Deleting a rule that passes may cut someone off: checked as rule add.
  Guard::Prepared prepared;
  return change_rules<Guard::Prepared>(
      g, a, e, !a.force, [&] { return g.prepare_delete(a.id); }, [&] { return g.delete_rule(a.id); },
      fmt::format("rule del {} {}", a.iface, a.id), prepared);
}

Result<void> rule_list(const RuleArgs& a) {
  auto g = XG_TRY(open_guard(a.iface));
  auto s = XG_TRY(g.stats());
  s.ifname = a.iface;
  warn_about(s);
  for (const auto& r : s.rules)
    if (auto w = redirect_warning(r.id, r.rule)) warn(*w);
  if (a.json) {
    std::printf("%s\n", rules_json(s).dump().c_str());
    return {};
  }
  std::fputs(rules_table(s).c_str(), stdout);
  std::vector<rules::Rule> list;
  for (const auto& r : s.rules) list.push_back(r.rule);
  for (const auto& w : rules::lint(list))
    std::printf("warning: rule id %u can never match: rule id %u matches every packet it would\n",
                s.rules[w.rule_index].id, s.rules[w.covered_by].id);
  if (auto w = rules::limit_depth_warning(list)) std::printf("warning: %s\n", w->c_str());
  return {};
}

Result<void> rule_plan(const RuleArgs& a) {
  auto g = XG_TRY(open_guard(a.iface));
  auto report = XG_TRY(g.plan());
  for (const auto& c : report.compiled.plan.rules)
    if (c.target_missing)
      if (auto w = redirect_warning(c.id, c.rule)) warn(*w);
  if (a.json)
    std::printf("%s\n", plan_json(report).dump().c_str());
  else
    std::fputs((a.dump ? plan_dump(report) : plan_table(report)).c_str(), stdout);
  return {};
}

Result<void> set_load(const RuleArgs& a) {
  auto g = XG_TRY(open_guard(a.iface));
  auto prefixes = XG_TRY(rules::parse_set_file(a.file));
  XG_CHECK(simulate::check_lockout(a.iface, a.force, {}, [&](const Interface& i) {
    simulate::Simulator::Edit e;
    e.set = std::pair(a.set_name, prefixes.all());
    return simulate::Simulator::from_interface(i, e);
  }));
  SetRecord rec;
  XG_CHECK(with_confirm(a.confirm, {a.iface}, fmt::format("set load {} {} {}", a.iface, a.set_name, a.file),
                        [&]() -> Result<void> {
                          rec = XG_TRY(g.load_set(a.set_name, prefixes.all()));
                          return {};
                        }));
  std::printf("set %s: %llu IPv4 and %llu IPv6 prefixes\n", rec.name.c_str(),
              static_cast<unsigned long long>(rec.nv4), static_cast<unsigned long long>(rec.nv6));
  return {};
}

Result<void> set_list(const RuleArgs& a) {
  auto g = XG_TRY(open_guard(a.iface));
  auto sets = XG_TRY(g.sets());
  if (a.json)
    std::printf("%s\n", sets_json(sets).dump().c_str());
  else
    std::fputs(sets_table(sets).c_str(), stdout);
  for (const auto& s : sets)
    if (s.torn)
      std::fprintf(stderr,
                   "xdpguard: warning: set %s: its IPv4 and IPv6 members come from two "
                   "different loads (a set load was interrupted); load it again\n",
                   s.name.c_str());
  return {};
}

Result<void> set_del(const RuleArgs& a) {
  auto g = XG_TRY(open_guard(a.iface));
  return g.delete_set(a.set_name);
}

}  // namespace

void register_rule_commands(CLI::App& app, Command& cmd) {
  auto args = std::make_shared<RuleArgs>();
  auto bind = [&cmd, args](CLI::App* sub, Result<void> (*fn)(const RuleArgs&), std::string verb) {
    bind_subcommand(cmd, sub, args, fn, std::move(verb));
  };

  auto* rule = app.add_subcommand("rule", "Ordered firewall rules of an interface (first match wins)");
  rule->require_subcommand(1);
  rule->footer("Example: xdpguard rule add eth1 'drop tcp dport 22 saddr 203.0.113.0/24'");

  auto* add = rule->add_subcommand("add", "Append a rule; prints its id");
  add->add_option("IFACE", args->iface, "Interface")->required();
  add->add_option("RULE", args->rule, "Rule text, e.g. 'drop tcp dport 22'")->required();
  add_whole(add, "--before", args->before, 1, XDPGUARD_MAX_RULES, "Insert before the rule with this id",
            "a rule id");
  add_confirm_option(add, args->confirm);
  add_force_option(add, args->force);
  add->footer(
      "Example: xdpguard rule add eth1 'pass udp dport 53' --before 3\n"
      "         xdpguard rule add eth1 'drop tcp dport 23' --confirm 60s   (then: xdpguard confirm eth1)");
  bind(add, rule_add, "rule add");

  auto* del = rule->add_subcommand("del", "Delete a rule by id");
  del->add_option("IFACE", args->iface, "Interface")->required();
  add_whole(del, "ID", args->id, 1, XDPGUARD_MAX_RULES, "Rule id (see rule list)", "a rule id")->required();
  add_confirm_option(del, args->confirm);
  add_force_option(del, args->force);
  del->footer("Example: xdpguard rule del eth1 7");
  bind(del, rule_del, "rule del");

  auto* list = rule->add_subcommand("list", "Rules in evaluation order with their counters");
  list->add_option("IFACE", args->iface, "Interface")->required();
  list->add_flag("--json", args->json, "One JSON document");
  list->footer("Example: xdpguard rule list eth1 --json");
  bind(list, rule_list, "rule list");

  auto* plan = rule->add_subcommand("plan",
                                    "What the compiler made of the rules: groups, "
                                    "each packet's path, instructions, verifier cost");
  plan->add_option("IFACE", args->iface, "Interface")->required();
  plan->add_flag("--json", args->json, "One JSON document");
  plan->add_flag("--dump", args->dump, "The generated program, one instruction a line");
  plan->footer("Example: xdpguard rule plan eth1 --json");
  bind(plan, rule_plan, "rule plan");

  auto* set = app.add_subcommand("set", "Named IPv4/IPv6 prefix sets (use as saddr @NAME)");
  set->require_subcommand(1);
  set->footer("Example: xdpguard set load eth1 blocklist ./bad-prefixes.txt");

  auto* load = set->add_subcommand("load", "Create or atomically replace a set from a file");
  load->add_option("IFACE", args->iface, "Interface")->required();
  load->add_option("NAME", args->set_name, "Set name")->required();
  load->add_option("FILE", args->file, "One CIDR per line; # comments")->required();
  add_confirm_option(load, args->confirm);
  add_force_option(load, args->force);
  load->footer("Example: xdpguard set load eth1 blocklist ./bad-prefixes.txt");
  bind(load, set_load, "set load");

  auto* slist = set->add_subcommand("list", "Sets and their sizes");
  slist->add_option("IFACE", args->iface, "Interface")->required();
  slist->add_flag("--json", args->json, "One JSON document");
  slist->footer("Example: xdpguard set list eth1");
  bind(slist, set_list, "set list");

  auto* sdel = set->add_subcommand("del", "Delete a set no rule uses");
  sdel->add_option("IFACE", args->iface, "Interface")->required();
  sdel->add_option("NAME", args->set_name, "Set name")->required();
  sdel->footer("Example: xdpguard set del eth1 blocklist");
  bind(sdel, set_del, "set del");
}

}  // namespace xdpguard::cli
