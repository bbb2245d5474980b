#include "report/plan.h"

#include <fmt/format.h>

#include "classifier/emit.h"

namespace xdpguard {
namespace {

using cls::GroupKind;

std::string family_text(std::uint8_t f) { return f == 4 ? "ipv4" : f == 6 ? "ipv6" : "any"; }

std::string proto_text(std::optional<std::uint8_t> p) {
  if (!p) return "any";
  switch (*p) {
    case 6: return "tcp";
    case 17: return "udp";
    case 1: return "icmp";
    case 58: return "icmpv6";
    default: return fmt::format("proto {}", *p);
  }
}

std::string class_text(const cls::ClassKey& k) {
  std::string p = k.proto == cls::kOtherProto ? "other" : proto_text(static_cast<std::uint8_t>(k.proto));
  return fmt::format("{} {}{}", family_text(k.family), p, k.frag ? " fragment" : "");
}

std::string key_text(const cls::Group& g) {
  switch (g.kind) {
    case GroupKind::Chain: return "-";
    case GroupKind::Hash6: return fmt::format("{}/{}", cls::field_name(g.field), g.key_len);
    default: return cls::field_name(g.field);
  }
}

// Table lookups (index reads, up to 3 for a trie) and chain rules a packet
// of the class meets at most.
struct PathCost {
  std::uint32_t tables = 0, index_reads = 0, chain_rules = 0;
};
PathCost path_cost(const cls::Plan& plan, const cls::Tables& t, const cls::ClassPath& c) {
  PathCost out;
  for (auto gi : c.groups) {
    const auto& g = plan.groups[gi];
    if (g.kind == GroupKind::Chain) {
      for (auto pos : g.rules)
        if (!(c.key.frag && plan.rules[pos].l4)) ++out.chain_rules;
      continue;
    }
    ++out.tables;
    out.index_reads += g.kind == GroupKind::Trie4   ? (t.groups[gi].nnodes3   ? 3
                                                       : t.groups[gi].nnodes2 ? 2
                                                                              : 1)
                       : g.kind == GroupKind::Hash6 ? t.groups[gi].probes
                                                    : 1;
  }
  return out;
}

}  // namespace

nlohmann::json plan_json(const Guard::PlanReport& r) {
  const auto& plan = r.compiled.plan;
  const auto& tables = r.compiled.tables;
  nlohmann::json groups = nlohmann::json::array();
  for (std::size_t i = 0; i < plan.groups.size(); ++i) {
    const auto& g = plan.groups[i];
    const auto& t = tables.groups[i];
    nlohmann::json j = {{"group", i},
                        {"kind", cls::kind_name(g.kind)},
                        {"key", key_text(g)},
                        {"family", family_text(g.family)},
                        {"protocol", proto_text(g.proto)},
                        {"rules", g.rules.size()},
                        {"first_rule", g.first() + 1},
                        {"vlan_rules", g.vlan_rules}};
    if (g.kind != GroupKind::Chain)
      j["table"] = {{"bytes", t.bytes},
                    {"lists", t.nlists},
                    {"nodes", t.nnodes2 + t.nnodes3},
                    {"blob", t.blob},
                    {"probes", t.probes}};
    groups.push_back(std::move(j));
  }
  nlohmann::json classes = nlohmann::json::array();
  for (const auto& c : plan.classes) {
    auto cost = path_cost(plan, tables, c);
    classes.push_back(
        {{"family", family_text(c.key.family)},
         {"protocol",
          c.key.proto == cls::kOtherProto ? "other" : proto_text(static_cast<std::uint8_t>(c.key.proto))},
         {"fragment", c.key.frag},
         {"groups", c.groups},
         {"table_lookups", cost.tables},
         {"index_reads", cost.index_reads},
         {"chain_rules", cost.chain_rules}});
  }
  return {{"rules", plan.rules.size()},
          {"default", action_name(plan.default_action)},
          {"groups", groups},
          {"classes", classes},
          {"program",
           {{"instructions", r.compiled.program.size()},
            {"table_bytes", tables.bytes()},
            {"table_maps", tables.blobs.size()}}},
          {"installed",
           {{"instructions", r.installed.insns},
            {"verified_instructions", r.installed.verified_insns},
            {"verifier_limit", 1000000},
            {"load_us", r.installed.load_us},
            {"table_bytes", r.installed.table_bytes},
            {"generation", r.installed.generation}}}};
}

std::string plan_table(const Guard::PlanReport& r) {
  const auto& plan = r.compiled.plan;
  const auto& tables = r.compiled.tables;
  const auto& in = r.installed;
  std::string out = fmt::format(
      "{} rules, default {}: {} groups, {} instructions, {:.1f} KiB of tables\n"
      "installed: {} instructions, verifier processed {} (limit 1000000), loaded in {:.1f} ms "
      "(generation {})\n",
      plan.rules.size(), action_name(plan.default_action), plan.groups.size(), r.compiled.program.size(),
      static_cast<double>(tables.bytes()) / 1024, in.insns, in.verified_insns, in.load_us / 1000.0,
      in.generation);
  if (!plan.groups.empty()) {
    out += fmt::format("\n{:>5}  {:<6} {:<10} {:<6} {:<8} {:>6} {:>6}  {}\n", "group", "kind", "key",
                       "family", "protocol", "rules", "first", "table");
    for (std::size_t i = 0; i < plan.groups.size(); ++i) {
      const auto& g = plan.groups[i];
      const auto& t = tables.groups[i];
      std::string table =
          g.kind == GroupKind::Chain
              ? "straight-line compares"
              : fmt::format("{:.1f} KiB, {} lists{}", t.bytes / 1024.0, t.nlists,
                            g.kind == GroupKind::Trie4   ? fmt::format(", {} nodes", t.nnodes2 + t.nnodes3)
                            : g.kind == GroupKind::Hash6 ? fmt::format(", {} probes", t.probes)
                                                         : "");
      // VLAN matches are compares, never a key: in a chain one per rule, in
      // a table one per candidate checked.
      if (g.vlan_rules)
        table += fmt::format("; vlan compare in {} rule{}", g.vlan_rules, g.vlan_rules == 1 ? "" : "s");
      out += fmt::format("{:>5}  {:<6} {:<10} {:<6} {:<8} {:>6} {:>6}  {}\n", i, cls::kind_name(g.kind),
                         key_text(g), family_text(g.family), proto_text(g.proto), g.rules.size(),
                         g.first() + 1, table);
    }
  }
  out += fmt::format("\n{:<22} {:<24} {}\n", "packets", "groups in order", "per packet at most");
  for (const auto& c : plan.classes) {
    std::string gs;
    for (auto gi : c.groups) gs += (gs.empty() ? "" : " ") + std::to_string(gi);
    auto cost = path_cost(plan, tables, c);
    out += fmt::format("{:<22} {:<24} {} table lookups ({} index reads), {} chain rules\n", class_text(c.key),
                       gs.empty() ? "-" : gs, cost.tables, cost.index_reads, cost.chain_rules);
  }
  return out;
}

std::string plan_dump(const Guard::PlanReport& r) {
  std::vector<int> fds(cls::kNumMapSlots, 0);
  auto insns = r.compiled.program.link(fds);
  if (!insns) return insns.error().message() + "\n";
  std::string out;
  for (std::size_t i = 0; i < insns->size(); ++i) {
    out += fmt::format("{:6}: {}\n", i, cls::disassemble((*insns)[i]));
    if ((*insns)[i].code == cls::kLdImm64) ++i;  // two slots
  }
  return out;
}

}  // namespace xdpguard
