// The classifier's planner (classifier/plan.h) and, through the userspace
// replay of the generated code (support/plan_eval.h), its tables:
//   hand-checked plans: small partitions stay chains; many port rules become
//   one Ports group, many IPv4 prefixes a Trie4, IPv6 prefixes a Hash6; set
//   rules stay in chains; every rule in exactly one group; each class's path
//   is exactly the groups that can match its packets, by first rule; the
//   errors (redirect xsk, unknown set or interface, bad or repeated ids, too
//   many rules);
//   a property: on random rule sets, small and large (large ones shaped so
//   that every kind of table is built, and checked to be), the replay's
//   verdict equals rules::first_match's for aimed, near-miss, random and
//   fragment packets, rule ids and actions included. Every plan is also
//   emitted and linked (a failure there is a rule set the product cannot
//   install). A disabled test holds a known limit: the instruction count of
//   rule sets with many set operands.
#include <gtest/gtest.h>

#include <cstring>

#include <linux/bpf.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include <fmt/format.h>

#include "bpf/abi.h"
#include "classifier/emit.h"
#include "classifier/plan.h"
#include "classifier/sets.h"
#include "classifier/tables.h"
#include "rules/parser.h"
#include "rules/printer.h"
#include "oracle/reference.h"
#include "support/plan_eval.h"
#include "support/rule_gen.h"
#include "support/rule_text.h"

namespace xdpguard::cls {
namespace {

using rules::PacketFields;
using rules::Rule;
using test::ok;
using test::plan_eval;
using test::plan_verdict;

std::vector<RuleEntry> entries(const std::vector<std::string>& texts) {
  std::vector<RuleEntry> out;
  for (const auto& t : texts) out.emplace_back(static_cast<std::uint32_t>(out.size() + 1), ok(t));
  return out;
}

// Sets s0 and s1 (indices 0 and 1), interface eth9 (ifindex 9).
CompileContext context() {
  CompileContext c;
  c.set_index = [](const std::string& name) -> std::optional<std::uint32_t> {
    if (name == "s0") return 0;
    if (name == "s1") return 1;
    return std::nullopt;
  };
  c.ifindex = [](const std::string& name) -> std::optional<int> {
    if (name == "eth9") return 9;
    return std::nullopt;
  };
  return c;
}

Plan plan_of(const std::vector<RuleEntry>& e, std::uint32_t def = XDP_PASS) {
  auto p = make_plan(e, def, context());
  EXPECT_TRUE(p) << p.error().message();
  return p ? std::move(*p) : Plan{};
}

// Can some packet of class k match rule c? (The planner's group_applies,
// stated over rules instead of groups.)
bool rule_applies(const CompiledRule& c, const ClassKey& k) {
  if (c.family && c.family != k.family) return false;
  // "Other" is the protocols no rule names.
  if (c.rule.proto && (k.proto == kOtherProto || *c.rule.proto != k.proto)) return false;
  return !(k.frag && c.l4);
}

// Structure every plan must have.
void check_structure(const Plan& plan) {
  // Every rule in exactly one group; groups non-empty, ascending, by first rule.
  std::vector<int> seen(plan.rules.size(), 0);
  for (std::size_t gi = 0; gi < plan.groups.size(); ++gi) {
    const Group& g = plan.groups[gi];
    ASSERT_FALSE(g.rules.empty());
    EXPECT_TRUE(std::is_sorted(g.rules.begin(), g.rules.end()));
    if (gi) {
      EXPECT_LT(plan.groups[gi - 1].first(), g.first());
    }
    bool all_l4 = true;
    for (auto pos : g.rules) {
      ASSERT_LT(pos, plan.rules.size());
      ++seen[pos];
      const CompiledRule& c = plan.rules[pos];
      all_l4 = all_l4 && c.l4;
      EXPECT_EQ(c.family, g.family) << "rule " << pos;
      EXPECT_EQ(c.rule.proto, g.proto) << "rule " << pos;
      if (g.kind == GroupKind::Chain) continue;
      EXPECT_FALSE(c.saddr_set || c.daddr_set) << "a set rule in a table, rule " << pos;
      const auto& a = g.field == Field::Saddr ? c.rule.saddr : c.rule.daddr;
      const auto& pr = g.field == Field::Sport ? c.rule.sport : c.rule.dport;
      switch (g.kind) {
        case GroupKind::Ports: EXPECT_TRUE(pr.has_value()); break;
        case GroupKind::Trie4:
          EXPECT_EQ(g.family, 4);
          ASSERT_TRUE(a && a->prefix);
          EXPECT_GE(a->prefix->len, Trie4::kMinLen);
          break;
        case GroupKind::Hash6:
          EXPECT_EQ(g.family, 6);
          ASSERT_TRUE(a && a->prefix);
          EXPECT_GE(a->prefix->len, g.key_len);
          EXPECT_GE(g.key_len, 8);
          break;
        case GroupKind::Chain: break;
      }
    }
    EXPECT_EQ(g.all_l4, all_l4);
    if (g.kind != GroupKind::Chain) {
      EXPECT_GE(g.rules.size(), kMinTable);
    }
  }
  for (std::size_t pos = 0; pos < seen.size(); ++pos) EXPECT_EQ(seen[pos], 1) << "rule " << pos;
  // One chain at most per partition.
  std::set<std::pair<int, int>> chains;
  for (const auto& g : plan.groups)
    if (g.kind == GroupKind::Chain) {
      EXPECT_TRUE(chains.insert({g.family, g.proto ? *g.proto : -1}).second) << "two chains in a partition";
    }

  // Classes: per family, each protocol a rule of that family (or none)
  // names, and "other"; each with and without the fragment bit.
  std::set<std::tuple<int, int, bool>> want, got;
  for (std::uint8_t fam : {4, 6}) {
    for (bool frag : {false, true}) {
      want.insert({fam, kOtherProto, frag});
      for (const auto& c : plan.rules)
        if (c.rule.proto && (c.family == 0 || c.family == fam)) want.insert({fam, *c.rule.proto, frag});
    }
  }
  for (const auto& c : plan.classes) {
    EXPECT_TRUE(got.insert({c.key.family, c.key.proto, c.key.frag}).second) << "class twice";
    // The path: exactly the groups holding a rule that can match, in order.
    std::vector<std::uint32_t> path;
    for (std::uint32_t gi = 0; gi < plan.groups.size(); ++gi) {
      const Group& g = plan.groups[gi];
      const bool applies = std::any_of(g.rules.begin(), g.rules.end(), [&](std::uint32_t pos) {
        return rule_applies(plan.rules[pos], c.key);
      });
      EXPECT_EQ(group_applies(g, c.key), applies) << "group " << gi;
      if (applies) path.push_back(gi);
    }
    EXPECT_EQ(c.groups, path) << "class " << int{c.key.family} << "/" << c.key.proto << "/" << c.key.frag;
  }
  EXPECT_EQ(got, want);
}

std::size_t count_kind(const Plan& p, GroupKind k) {
  return static_cast<std::size_t>(
      std::count_if(p.groups.begin(), p.groups.end(), [&](const Group& g) { return g.kind == k; }));
}

Tables tables_of(const Plan& plan) {
  auto t = build_tables(plan);
  EXPECT_TRUE(t) << t.error().message();
  return t ? std::move(*t) : Tables{};
}

PacketFields pkt4(std::uint8_t proto, std::string_view src, std::string_view dst, std::uint16_t sport = 0,
                  std::uint16_t dport = 0) {
  PacketFields p;
  p.family = 4;
  p.proto = proto;
  auto s = rules::parse_ipv4(src), d = rules::parse_ipv4(dst);
  EXPECT_TRUE(s && d);
  std::copy(s->begin(), s->end(), p.saddr.begin());
  std::copy(d->begin(), d->end(), p.daddr.begin());
  p.sport = sport;
  p.dport = dport;
  return p;
}

PacketFields pkt6(std::uint8_t proto, std::string_view src, std::string_view dst, std::uint16_t sport = 0,
                  std::uint16_t dport = 0) {
  PacketFields p;
  p.family = 6;
  p.proto = proto;
  p.saddr = *rules::parse_ipv6(src);
  p.daddr = *rules::parse_ipv6(dst);
  p.sport = sport;
  p.dport = dport;
  return p;
}

PacketFields frag(PacketFields p) {
  p.frag = true;
  p.sport = p.dport = 0;
  p.tcp_flags = 0;
  return p;
}

// ---- hand-checked plans ----------------------------------------------------------

TEST(ClassifierPlan, SmallPartitionsStayChains) {
  std::vector<std::string> t;
  for (int i = 0; i < static_cast<int>(kChainMax); ++i)
    t.push_back(fmt::format("drop udp dport {}", 1000 + i));
  for (int i = 0; i < 5; ++i) t.push_back(fmt::format("drop tcp dport {}", 1000 + i));
  for (int i = 0; i < 5; ++i) t.push_back(fmt::format("pass saddr 2001:db8:{}::/48", i));
  auto plan = plan_of(entries(t));
  check_structure(plan);
  ASSERT_EQ(plan.groups.size(), 3u);
  for (const auto& g : plan.groups) EXPECT_EQ(g.kind, GroupKind::Chain);
  EXPECT_EQ(plan.groups[0].rules.size(), kChainMax);
  EXPECT_EQ(plan.groups[0].proto, rules::kProtoUdp);
  EXPECT_EQ(plan.groups[2].family, 6);
  auto tables = tables_of(plan);
  EXPECT_TRUE(tables.blobs.empty());
  EXPECT_EQ(plan_eval(plan, tables, pkt4(17, "1.1.1.1", "2.2.2.2", 5, 1011)), 11u);
  EXPECT_EQ(plan_eval(plan, tables, pkt6(6, "::1", "::2", 5, 1004)), 16u);
  EXPECT_EQ(plan_eval(plan, tables, pkt6(6, "2001:db8:3::1", "::2", 5, 1005)), 20u);
  EXPECT_EQ(plan_eval(plan, tables, frag(pkt6(6, "2001:db8:3::1", "::2"))), 20u);
  EXPECT_EQ(plan_eval(plan, tables, pkt4(17, "1.1.1.1", "2.2.2.2", 5, 1012)), std::nullopt);

  // One more rule in the partition and it is worth a table.
  t.insert(t.begin() + kChainMax, "drop udp dport 2000");
  plan = plan_of(entries(t));
  check_structure(plan);
  ASSERT_EQ(plan.groups.size(), 3u);
  EXPECT_EQ(plan.groups[0].kind, GroupKind::Ports);
  EXPECT_EQ(plan.groups[0].rules.size(), kChainMax + 1);
}

TEST(ClassifierPlan, PortRulesBecomeOnePortsGroup) {
  std::vector<std::string> t;
  for (int i = 0; i < 200; ++i) t.push_back(fmt::format("drop udp dport {}", 7 * i + 3));
  auto plan = plan_of(entries(t), XDP_PASS);
  check_structure(plan);
  ASSERT_EQ(plan.groups.size(), 1u);
  const Group& g = plan.groups[0];
  EXPECT_EQ(g.kind, GroupKind::Ports);
  EXPECT_EQ(g.field, Field::Dport);
  EXPECT_EQ(g.family, 0);
  EXPECT_EQ(g.proto, rules::kProtoUdp);
  EXPECT_EQ(g.rules.size(), 200u);
  EXPECT_TRUE(g.all_l4);
  // UDP classes of both families see it; fragments and other protocols do not.
  for (const auto& c : plan.classes)
    EXPECT_EQ(c.groups.size(), c.key.proto == rules::kProtoUdp && !c.key.frag ? 1u : 0u);
  auto tables = tables_of(plan);
  auto v = plan_verdict(plan, tables, pkt4(17, "1.1.1.1", "2.2.2.2", 9, 7 * 150 + 3));
  EXPECT_EQ(v.prio, 150u);
  EXPECT_EQ(v.slot, 151u);
  EXPECT_EQ(v.action, static_cast<std::uint32_t>(XDP_DROP));
  EXPECT_EQ(plan_eval(plan, tables, pkt6(17, "::1", "::2", 9, 3)), 0u);
  EXPECT_EQ(plan_eval(plan, tables, pkt6(17, "::1", "::2", 9, 4)), std::nullopt);
  EXPECT_EQ(plan_eval(plan, tables, pkt4(6, "1.1.1.1", "2.2.2.2", 9, 3)), std::nullopt);
  EXPECT_EQ(plan_eval(plan, tables, frag(pkt4(17, "1.1.1.1", "2.2.2.2", 9, 3))), std::nullopt);
  v = plan_verdict(plan, tables, pkt4(17, "1.1.1.1", "2.2.2.2", 9, 4));
  EXPECT_EQ(v.prio, XDPGUARD_PRIO_NONE);
  EXPECT_EQ(v.slot, 0u);
  EXPECT_EQ(v.action, static_cast<std::uint32_t>(XDP_PASS));
}

// The key that takes the most rules wins, and of keys that take as many, the
// first tried in candidate order (ports before prefixes, dport before
// sport): the planner skips building a key that cannot beat the best so
// far, and that must not change which key wins.
TEST(ClassifierPlan, TheKeyTakingTheMostRulesWinsTiesTheFirst) {
  auto first_group = [](const std::vector<std::string>& t) {
    auto plan = plan_of(entries(t), XDP_PASS);
    check_structure(plan);
    EXPECT_FALSE(plan.groups.empty());
    return plan.groups.empty() ? Group{} : plan.groups[0];
  };
  std::vector<std::string> both, more_prefixes, more_sports;
  for (int i = 0; i < 300; ++i) {
    // Every rule has a dport and an IPv4 source: a tie, dport comes first.
    both.push_back(fmt::format("drop ip udp dport {} saddr 10.1.{}.0/24", 1000 + i, i % 256));
    // A third without a dport: the trie takes more.
    more_prefixes.push_back(i % 3 ? fmt::format("drop ip udp dport {} saddr 10.2.{}.0/24", 1000 + i, i % 256)
                                  : fmt::format("drop ip udp saddr 10.3.{}.0/24", i % 256));
    // sports on all, dports on half: sport takes more, though tried after dport.
    more_sports.push_back(i % 2 ? fmt::format("drop udp sport {} dport {}", 2000 + i, 3000 + i)
                                : fmt::format("drop udp sport {}", 2000 + i));
  }
  auto g = first_group(both);
  EXPECT_EQ(g.kind, GroupKind::Ports);
  EXPECT_EQ(g.field, Field::Dport);
  EXPECT_EQ(g.rules.size(), 300u);
  g = first_group(more_prefixes);
  EXPECT_EQ(g.kind, GroupKind::Trie4);
  EXPECT_EQ(g.field, Field::Saddr);
  EXPECT_EQ(g.rules.size(), 300u);
  g = first_group(more_sports);
  EXPECT_EQ(g.kind, GroupKind::Ports);
  EXPECT_EQ(g.field, Field::Sport);
  EXPECT_EQ(g.rules.size(), 300u);
}

TEST(ClassifierPlan, PrefixRulesBecomeATrie) {
  std::vector<std::string> t;
  for (int i = 0; i < 2000; ++i) t.push_back(fmt::format("drop saddr 10.{}.{}.0/24", i / 256, i % 256));
  t.emplace_back("pass");
  auto plan = plan_of(entries(t), XDP_DROP);
  check_structure(plan);
  ASSERT_EQ(plan.groups.size(), 2u);
  const Group& g = plan.groups[0];
  EXPECT_EQ(g.kind, GroupKind::Trie4);
  EXPECT_EQ(g.field, Field::Saddr);
  EXPECT_EQ(g.family, 4);
  EXPECT_FALSE(g.proto);
  EXPECT_EQ(g.rules.size(), 2000u);
  EXPECT_EQ(plan.groups[1].kind, GroupKind::Chain);
  auto tables = tables_of(plan);
  EXPECT_EQ(plan_eval(plan, tables, pkt4(6, "10.3.7.200", "1.1.1.1", 1, 2)), 3u * 256 + 7);
  EXPECT_EQ(plan_eval(plan, tables, frag(pkt4(6, "10.7.207.1", "1.1.1.1"))), 1999u);
  EXPECT_EQ(plan_eval(plan, tables, pkt4(1, "10.7.208.1", "1.1.1.1")), 2000u);  // the last rule
  EXPECT_EQ(plan_eval(plan, tables, pkt6(6, "::1", "::2", 1, 2)), 2000u);
}

TEST(ClassifierPlan, Ipv6PrefixesBecomeAHash) {
  // Distinct /64s: one hash keyed on /64 takes them all.
  std::vector<std::string> t;
  for (int i = 0; i < 400; ++i)
    t.push_back(fmt::format("drop daddr 2001:db8:{:x}:{:x}::/64", i / 20, i % 20 + 1));
  auto plan = plan_of(entries(t));
  check_structure(plan);
  ASSERT_EQ(plan.groups.size(), 1u);
  const Group& g = plan.groups[0];
  EXPECT_EQ(g.kind, GroupKind::Hash6);
  EXPECT_EQ(g.field, Field::Daddr);
  EXPECT_EQ(g.key_len, 64);
  auto tables = tables_of(plan);
  EXPECT_EQ(plan_eval(plan, tables, pkt6(17, "::1", "2001:db8:3:5::77", 1, 2)), 64u);
  EXPECT_EQ(plan_eval(plan, tables, pkt6(17, "::1", "2001:db8:3:0::77", 1, 2)), std::nullopt);
  EXPECT_EQ(plan_eval(plan, tables, pkt4(17, "1.1.1.1", "2.2.2.2", 1, 2)), std::nullopt);

  // Mixed lengths: longer prefixes are checked past the key's band.
  t.clear();
  for (int i = 0; i < 100; ++i)
    t.push_back(fmt::format("pass saddr 2001:db8:{:x}::/{}", i, i % 2 ? 48 : 112));
  plan = plan_of(entries(t));
  check_structure(plan);
  ASSERT_EQ(plan.groups.size(), 1u);
  EXPECT_EQ(plan.groups[0].kind, GroupKind::Hash6);
  EXPECT_EQ(plan.groups[0].key_len, 48);
  tables = tables_of(plan);
  EXPECT_EQ(plan_eval(plan, tables, pkt6(6, "2001:db8:7::1", "::2", 1, 2)), 7u);
  EXPECT_EQ(plan_eval(plan, tables, pkt6(6, "2001:db8:8::", "::2", 1, 2)), 8u);  // a /112
  EXPECT_EQ(plan_eval(plan, tables, pkt6(6, "2001:db8:8::ffff", "::2", 1, 2)), 8u);
  EXPECT_EQ(plan_eval(plan, tables, pkt6(6, "2001:db8:8::1:0", "::2", 1, 2)), std::nullopt);
  EXPECT_EQ(plan_eval(plan, tables, pkt6(6, "2001:db8:8:1::", "::2", 1, 2)), std::nullopt);
  EXPECT_EQ(plan_eval(plan, tables, pkt6(6, "2001:db8:8::1:1", "::2", 1, 2)), std::nullopt);
  EXPECT_EQ(plan_eval(plan, tables, pkt6(6, "2001:db8:9:ffff::", "::2", 1, 2)), 9u);  // a /48
}

TEST(ClassifierPlan, SetRulesStayInChains) {
  std::vector<std::string> t;
  for (int i = 0; i < 100; ++i) t.push_back(fmt::format("drop udp dport {} saddr @s{}", i, i % 2));
  auto plan = plan_of(entries(t));
  check_structure(plan);
  ASSERT_EQ(plan.groups.size(), 1u);
  EXPECT_EQ(plan.groups[0].kind, GroupKind::Chain);
  EXPECT_EQ(plan.rules[0].saddr_set, 0u);
  EXPECT_EQ(plan.rules[1].saddr_set, 1u);
  EXPECT_FALSE(plan.rules[1].daddr_set);
  auto tables = tables_of(plan);
  auto in_s1 = [](std::uint32_t set, std::uint8_t fam, const std::array<std::uint8_t, 16>& a) {
    return set == 1 && fam == 4 && a[0] == 10;
  };
  EXPECT_EQ(plan_eval(plan, tables, pkt4(17, "10.0.0.1", "1.1.1.1", 1, 41), in_s1), 41u);
  EXPECT_EQ(plan_eval(plan, tables, pkt4(17, "10.0.0.1", "1.1.1.1", 1, 40), in_s1), std::nullopt);
  EXPECT_EQ(plan_eval(plan, tables, pkt4(17, "11.0.0.1", "1.1.1.1", 1, 41), in_s1), std::nullopt);
  EXPECT_EQ(plan_eval(plan, tables, pkt6(17, "a::1", "::1", 1, 41), in_s1), std::nullopt);

  // Mixed: the set rules make a chain, the rest still a table.
  for (int i = 0; i < 100; ++i) t.push_back(fmt::format("drop udp dport {}", 1000 + i));
  plan = plan_of(entries(t));
  check_structure(plan);
  ASSERT_EQ(plan.groups.size(), 2u);
  EXPECT_EQ(plan.groups[0].kind, GroupKind::Chain);
  EXPECT_EQ(plan.groups[0].rules.size(), 100u);
  EXPECT_EQ(plan.groups[1].kind, GroupKind::Ports);
}

TEST(ClassifierPlan, ClassesAndPaths) {
  auto plan = plan_of(entries({
      "drop tcp dport 22",      // 0: (any, tcp), l4
      "pass ip6 proto 132",     // 1: (6, 132)
      "drop icmp",              // 2: (4, icmp)
      "pass saddr 10.0.0.0/8",  // 3: (4, any)
      "drop",                   // 4: (any, any)
  }));
  check_structure(plan);
  ASSERT_EQ(plan.groups.size(), 5u);
  std::map<std::tuple<int, int, bool>, std::vector<std::uint32_t>> paths;
  for (const auto& c : plan.classes) paths[{c.key.family, c.key.proto, c.key.frag}] = c.groups;
  using K = std::tuple<int, int, bool>;
  const std::map<K, std::vector<std::uint32_t>> want = {
      {K{4, 1, false}, {2, 3, 4}},        {K{4, 1, true}, {2, 3, 4}},
      {K{4, 6, false}, {0, 3, 4}},        {K{4, 6, true}, {3, 4}},
      {K{4, kOtherProto, false}, {3, 4}}, {K{4, kOtherProto, true}, {3, 4}},
      {K{6, 6, false}, {0, 4}},           {K{6, 6, true}, {4}},
      {K{6, 132, false}, {1, 4}},         {K{6, 132, true}, {1, 4}},
      {K{6, kOtherProto, false}, {4}},    {K{6, kOtherProto, true}, {4}},
  };
  EXPECT_EQ(paths, want);
  auto tables = tables_of(plan);
  EXPECT_EQ(plan_eval(plan, tables, pkt4(132, "1.1.1.1", "2.2.2.2")), 4u);  // v4 132 is "other"
  EXPECT_EQ(plan_eval(plan, tables, pkt6(132, "::1", "::2")), 1u);
  EXPECT_EQ(plan_eval(plan, tables, frag(pkt4(6, "1.1.1.1", "2.2.2.2"))), 4u);
  EXPECT_EQ(plan_eval(plan, tables, pkt4(6, "10.1.1.1", "2.2.2.2", 1, 22)), 0u);
}

TEST(ClassifierPlan, RedirectDev) {
  auto plan = plan_of(entries({"redirect dev eth9 udp dport 53", "drop"}));
  ASSERT_EQ(plan.rules.size(), 2u);
  EXPECT_EQ(plan.rules[0].action, static_cast<std::uint32_t>(XDP_REDIRECT));
  EXPECT_EQ(plan.rules[0].ifindex, 9u);
  EXPECT_EQ(plan.rules[1].action, static_cast<std::uint32_t>(XDP_DROP));
  auto v = plan_verdict(plan, tables_of(plan), pkt4(17, "1.1.1.1", "2.2.2.2", 1, 53));
  EXPECT_EQ(v.action, static_cast<std::uint32_t>(XDP_REDIRECT));
  EXPECT_EQ(v.ifindex, 9u);
  EXPECT_FALSE(plan.rules[0].target_missing);
}

// `redirect xsk`: XDP_REDIRECT to the XSKMAP, the fallback in the target
// word's low bits (abi.h, "AF_XDP").
TEST(ClassifierPlan, RedirectXsk) {
  auto plan = plan_of(entries({"redirect xsk udp dport 53", "redirect xsk fallback drop tcp", "drop"}));
  ASSERT_EQ(plan.rules.size(), 3u);
  EXPECT_EQ(plan.rules[0].action, static_cast<std::uint32_t>(XDP_REDIRECT));
  EXPECT_EQ(plan.rules[0].ifindex, XDPGUARD_REDIRECT_XSK | XDP_PASS);
  EXPECT_EQ(plan.rules[1].ifindex, XDPGUARD_REDIRECT_XSK | XDP_DROP);
  auto v = plan_verdict(plan, tables_of(plan), pkt4(6, "1.1.1.1", "2.2.2.2", 1, 80));
  EXPECT_EQ(v.action, static_cast<std::uint32_t>(XDP_REDIRECT));
  EXPECT_EQ(v.ifindex, XDPGUARD_REDIRECT_XSK | XDP_DROP);
}

// A redirect target that does not exist (deleted since the rule was added)
// no longer fails the whole compile, so that every later change still works:
// as nftables' `fwd to` a device that went away, the rule stays and its
// packets are dropped (docs/classifier.md, "Redirect targets").
TEST(ClassifierPlan, RedirectToAMissingDeviceDrops) {
  auto plan =
      plan_of(entries({"pass udp dport 1", "redirect dev eth0 udp dport 53", "redirect dev eth9 tcp"}));
  ASSERT_EQ(plan.rules.size(), 3u);
  EXPECT_TRUE(plan.rules[1].target_missing);
  EXPECT_EQ(plan.rules[1].action, static_cast<std::uint32_t>(XDP_DROP));
  EXPECT_EQ(plan.rules[1].ifindex, 0u);
  EXPECT_EQ(plan.rules[1].id, 2u) << "the rule stays, with its id";
  EXPECT_FALSE(plan.rules[2].target_missing);
  auto tables = tables_of(plan);
  auto v = plan_verdict(plan, tables, pkt4(17, "1.1.1.1", "2.2.2.2", 1, 53));
  EXPECT_EQ(v.action, static_cast<std::uint32_t>(XDP_DROP));
  EXPECT_EQ(plan_eval(plan, tables, pkt4(17, "1.1.1.1", "2.2.2.2", 1, 53)), 1u) << "counted for rule 2";
  EXPECT_EQ(plan_verdict(plan, tables, pkt4(6, "1.1.1.1", "2.2.2.2", 1, 80)).action,
            static_cast<std::uint32_t>(XDP_REDIRECT));
  // Without a context no interface exists: the same.
  auto none = make_plan(entries({"redirect dev eth9"}), XDP_PASS, {});
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_TRUE(none->rules[0].target_missing);
}

TEST(ClassifierPlan, Errors) {
  auto err = [](const std::vector<RuleEntry>& e) {
    auto p = make_plan(e, XDP_PASS, context());
    EXPECT_FALSE(p);
    return p ? Error(0, "") : p.error();
  };
  auto e = err(entries({"drop saddr @s0 daddr @nope"}));
  EXPECT_EQ(e.code(), ENOENT);
  EXPECT_EQ(e.message(), "rule 1 (id 1): no set named @nope");
  EXPECT_FALSE(make_plan(entries({"drop saddr @s0"}), XDP_PASS, {}));  // no context: no sets

  e = err({{0, ok("pass")}});
  EXPECT_EQ(e.code(), EINVAL);
  EXPECT_NE(e.message().find("rule id out of range 1..16384"), std::string::npos) << e.message();
  e = err({{XDPGUARD_MAX_RULES + 1, ok("pass")}});
  EXPECT_EQ(e.code(), EINVAL);
  e = err({{5, ok("pass")}, {6, ok("drop")}, {5, ok("drop")}});
  EXPECT_EQ(e.code(), EINVAL);
  EXPECT_EQ(e.message(), "rule 3 (id 5): rule id used twice");
  EXPECT_TRUE(make_plan({{XDPGUARD_MAX_RULES, ok("pass")}, {1, ok("drop")}}, XDP_PASS, context()));

  std::vector<RuleEntry> many;
  for (std::uint32_t i = 1; i <= XDPGUARD_MAX_RULES + 1; ++i) many.emplace_back(i, Rule{});
  e = err(many);
  EXPECT_EQ(e.code(), E2BIG);
  EXPECT_EQ(e.message(), "16385 rules, the limit is 16384");
  many.pop_back();
  EXPECT_TRUE(make_plan(many, XDP_PASS, context()));
}

TEST(ClassifierPlan, EmptyRuleSet) {
  auto plan = plan_of({}, XDP_DROP);
  check_structure(plan);
  EXPECT_TRUE(plan.groups.empty());
  EXPECT_EQ(plan.classes.size(), 4u);
  auto tables = tables_of(plan);
  auto v = plan_verdict(plan, tables, pkt4(6, "1.1.1.1", "2.2.2.2", 1, 2));
  EXPECT_EQ(v.prio, XDPGUARD_PRIO_NONE);
  EXPECT_EQ(v.action, static_cast<std::uint32_t>(XDP_DROP));
}

// What is off is not compiled in: the classifier reads the capture flag
// only while a capture runs (a load of the map's value), the SYN proxy's
// state only while it is on.
TEST(ClassifierPlan, CaptureAndSynproxyChecksOnlyWhileOn) {
  const std::vector<RuleEntry> rules = {{1, *rules::parse_rule("drop udp dport 9")}};
  for (bool capture : {false, true})
    for (bool synproxy : {false, true}) {
      SCOPED_TRACE(fmt::format("capture {}, synproxy {}", capture, synproxy));
      CompileContext ctx = context();
      ctx.capture = capture;
      ctx.synproxy = synproxy;
      auto plan = make_plan(rules, XDP_PASS, ctx);
      ASSERT_TRUE(plan) << plan.error().message();
      auto tables = build_tables(*plan);
      ASSERT_TRUE(tables) << tables.error().message();
      auto prog = emit_classifier(*plan, *tables);
      ASSERT_TRUE(prog) << prog.error().message();
      // Map k gets fd 1000 + k; every map the program names gets one.
      std::vector<int> fds(prog->map_names().size());
      std::iota(fds.begin(), fds.end(), 1000);
      auto linked = prog->link_program(fds);
      ASSERT_TRUE(linked) << linked.error().message();
      // (ld_imm64 of the map, or of its value)
      auto references = [&](std::uint32_t slot) {
        return std::count_if(linked->insns.begin(), linked->insns.end(), [&](const bpf_insn& i) {
          return i.code == kLdImm64 &&
                 (i.src_reg == BPF_PSEUDO_MAP_VALUE || i.src_reg == BPF_PSEUDO_MAP_FD) &&
                 i.imm == static_cast<std::int32_t>(1000 + slot);
        });
      };
      EXPECT_EQ(references(kMapTelemetry), capture ? 1 : 0);
      // the SYN proxy's test (the spliced xg_verdict_synproxy) looks it up
      EXPECT_EQ(references(kMapSynproxy) > 0, synproxy);
    }
}

// ---- the property -------------------------------------------------------------

// Named sets as the compiler and the classifier see them: set k of
// `named` has index k; the replay reads the images build_set4/build_set6
// make, first_match gets the brute-force answer (test::set_contains).
class World {
 public:
  explicit World(std::vector<test::NamedSet> named) : named_(std::move(named)) {
    for (const auto& s : named_) {
      std::vector<rules::Prefix> f4, f6;
      for (const auto& p : s.prefixes) (p.family == rules::Family::V4 ? f4 : f6).push_back(p);
      s4_.push_back(build_set4(f4));
      auto img6 = build_set6(f6);
      EXPECT_TRUE(img6) << img6.error().message();
      s6_.push_back(img6 ? std::move(*img6) : std::vector<xdpguard_set6_elem>(1));
    }
  }
  CompileContext context() const {
    CompileContext c = cls::context();
    c.set_index = [this](const std::string& name) -> std::optional<std::uint32_t> {
      for (std::uint32_t i = 0; i < named_.size(); ++i)
        if (named_[i].name == name) return i;
      return std::nullopt;
    };
    return c;
  }
  bool replay(std::uint32_t set, std::uint8_t family, const std::array<std::uint8_t, 16>& a) const {
    if (set >= named_.size()) return false;
    if (family == 4) return set4_contains(s4_[set], {a[0], a[1], a[2], a[3]});
    return set6_contains(s6_[set], a);
  }
  bool reference(const std::string& name, std::uint8_t family, const std::array<std::uint8_t, 16>& a) const {
    for (const auto& s : named_)
      if (s.name == name) return test::set_contains(s, family, a);
    return false;
  }

 private:
  std::vector<test::NamedSet> named_;
  std::vector<std::vector<xdpguard_set4_elem>> s4_;
  std::vector<std::vector<xdpguard_set6_elem>> s6_;
};

// s0 and s1 over RuleGen's small address pool (198.18.0-3.x, fd00::0-3:x).
const World& small_world() {
  static const World w = [] {
    auto P = [](std::string_view s) { return *rules::parse_prefix(s); };
    return World({{"s0",
                   {P("198.18.0.0/24"), P("198.18.2.64/27"), P("198.18.3.1"), P("fd00:0:0:1::/64"),
                    P("fd00:0:0:2::40/122"), P("fd00:0:0:3::1")}},
                  {"s1",
                   {P("198.18.1.0/25"), P("198.18.0.32/28"), P("198.18.3.0/31"), P("fd00::/62"),
                    P("fd00:0:0:2::/120")}}});
  }();
  return w;
}

// Rules of a few shapes that share family and protocol, so that their
// partitions are large and tables get built.
Rule port_rule(test::RuleGen& g) {
  Rule r;
  r.action = g.coin(50) ? rules::Action::Drop : rules::Action::Pass;
  r.proto = g.coin(70) ? rules::kProtoUdp : rules::kProtoTcp;
  if (g.coin(20)) r.family = g.coin(50) ? rules::Family::V4 : rules::Family::V6;
  const auto p = static_cast<std::uint16_t>(g.coin(30) ? g.pick(1024) : g.raw());
  r.dport = rules::PortRange{p, g.coin(80) ? p : static_cast<std::uint16_t>(std::min(65535, p + g.pick(50)))};
  if (g.coin(20)) {
    const auto s = static_cast<std::uint16_t>(g.pick(2048));
    r.sport = rules::PortRange{s, static_cast<std::uint16_t>(s + g.pick(3))};
  }
  if (r.proto == rules::kProtoTcp && g.coin(25)) {
    r.flags_mask = 0x12;
    r.flags_value = g.coin(50) ? 0x02 : 0x12;
  }
  return r;
}

rules::Prefix prefix(std::uint8_t family, test::RuleGen& g, unsigned len) {
  rules::Prefix p;
  p.family = family == 4 ? rules::Family::V4 : rules::Family::V6;
  if (family == 4) {
    const std::uint32_t a = g.raw();
    p.addr = {static_cast<std::uint8_t>(1 + (a >> 24) % 223), static_cast<std::uint8_t>(a >> 16),
              static_cast<std::uint8_t>(a >> 8), static_cast<std::uint8_t>(a)};
  } else {
    p.addr = {0x20, 0x01, 0x0d, 0xb8};
    for (std::size_t i = 4; i < 16; ++i)
      p.addr[i] = static_cast<std::uint8_t>(g.coin(60) ? g.pick(4) : g.raw());
  }
  p.len = static_cast<std::uint8_t>(len);
  rules::clear_host_bits(p);
  return p;
}

Rule v4_rule(test::RuleGen& g) {
  static const unsigned lens[] = {8, 12, 16, 20, 22, 24, 24, 24, 27, 32, 32};
  Rule r;
  r.action = g.coin(50) ? rules::Action::Drop : rules::Action::Pass;
  r.family = rules::Family::V4;
  auto& a = g.coin(70) ? r.saddr : r.daddr;
  a = rules::AddrMatch{prefix(4, g, lens[g.pick(11)]), ""};
  if (g.coin(20)) {
    r.proto = rules::kProtoTcp;
    const auto lo = static_cast<std::uint16_t>(g.pick(100));
    r.dport = rules::PortRange{lo, static_cast<std::uint16_t>(100 + g.pick(10))};
  }
  if (g.coin(15)) (r.saddr ? r.daddr : r.saddr) = rules::AddrMatch{prefix(4, g, lens[g.pick(11)]), ""};
  return r;
}

Rule v6_rule(test::RuleGen& g) {
  static const unsigned lens[] = {32, 40, 48, 56, 60, 64, 64, 64, 80, 96, 127, 128};
  Rule r;
  r.action = g.coin(50) ? rules::Action::Drop : rules::Action::Pass;
  r.family = rules::Family::V6;
  auto& a = g.coin(70) ? r.saddr : r.daddr;
  a = rules::AddrMatch{prefix(6, g, lens[g.pick(12)]), ""};
  if (g.coin(20)) {
    r.proto = rules::kProtoUdp;
    const auto lo = static_cast<std::uint16_t>(g.pick(100));
    r.dport = rules::PortRange{lo, static_cast<std::uint16_t>(100 + g.pick(10))};
  }
  if (g.coin(10)) (r.saddr ? r.daddr : r.saddr) = rules::AddrMatch{prefix(6, g, lens[g.pick(12)]), ""};
  return r;
}

struct Mix {
  int gen = 100, port = 0, v4 = 0, v6 = 0;  // weights
  int sets = 0, redirects = 0;              // percent of rules
};

std::vector<Rule> make_rules(test::RuleGen& g, int n, const Mix& m) {
  std::vector<Rule> out;
  const int total = m.gen + m.port + m.v4 + m.v6;
  for (int i = 0; i < n; ++i) {
    const int x = g.pick(total);
    Rule r = x < m.gen                   ? g.rule()
             : x < m.gen + m.port        ? port_rule(g)
             : x < m.gen + m.port + m.v4 ? v4_rule(g)
                                         : v6_rule(g);
    if (g.coin(m.sets)) {
      const std::string set = g.coin(50) ? "s0" : "s1";
      (g.coin(50) ? r.saddr : r.daddr) = rules::AddrMatch{std::nullopt, set};
    }
    if (g.coin(m.redirects)) {
      r.action = rules::Action::RedirectDev;
      r.redirect_dev = "eth9";
    }
    out.push_back(std::move(r));
  }
  return out;
}

PacketFields make_packet(test::RuleGen& g, const std::vector<Rule>& rs) {
  PacketFields p;
  const int kind = g.pick(100);
  if (rs.empty() || kind < 15) {
    p = g.random_packet();
  } else {
    p = g.packet_for(rs[static_cast<std::size_t>(g.pick(static_cast<int>(rs.size())))]);
    if (kind < 40) {  // a near miss: one address bit or one port off
      const unsigned width = p.family == 4 ? 32 : 128;
      const int what = g.pick(3);
      if (what < 2) {
        auto& a = what == 0 ? p.saddr : p.daddr;
        const unsigned bit = static_cast<unsigned>(g.pick(static_cast<int>(width)));
        a[bit / 8] = static_cast<std::uint8_t>(a[bit / 8] ^ (0x80 >> (bit % 8)));
      } else if (p.proto == rules::kProtoTcp || p.proto == rules::kProtoUdp) {
        auto& port = g.coin(70) ? p.dport : p.sport;
        port = static_cast<std::uint16_t>(port + (g.coin(50) ? 1 : -1));
      }
    }
  }
  if (g.coin(12)) p.frag = true;
  if (p.frag) p.sport = p.dport = 0, p.tcp_flags = 0;
  if (p.frag) {  // no ICMP header; a non-first fragment's bits
    p.icmp_type = p.icmp_code = 0;
    p.frag_bits = static_cast<std::uint8_t>((p.frag_bits & rules::kFragDf) | rules::kFragIsf |
                                            (g.flowspec() && g.coin(50) ? rules::kFragLf : 0));
  }
  return p;
}

std::string describe(const PacketFields& p) {
  return fmt::format("family {} proto {} frag {} {} -> {} sport {} dport {} flags {:#x}", p.family, p.proto,
                     p.frag, test::ntop(p.family, p.saddr), test::ntop(p.family, p.daddr), p.sport, p.dport,
                     p.tcp_flags);
}

struct RunStats {
  std::size_t packets = 0, matched = 0;
  std::size_t insns = 0;  // linked
  std::string times;      // per step, for the test's properties
};

struct Stopwatch {
  std::chrono::steady_clock::time_point t = std::chrono::steady_clock::now();
  long long lap() {
    auto now = std::chrono::steady_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count();
    t = now;
    return ms;
  }
};

// Plans, builds, emits and links `rs`, then compares the replay with
// first_match on `npackets` packets. Returns the plan for further checks.
Plan check_rule_set(const std::vector<Rule>& rs, const World& world, test::RuleGen& g, int npackets,
                    RunStats& stats) {
  // Distinct, unordered ids.
  std::vector<std::uint32_t> ids(rs.size());
  std::iota(ids.begin(), ids.end(), 1u);
  for (std::size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[g.raw() % i]);
  for (auto& id : ids) id = id * 3 % XDPGUARD_MAX_RULES + 1;  // still distinct: 3 is coprime to 16384
  std::vector<RuleEntry> es;
  for (std::size_t i = 0; i < rs.size(); ++i) es.emplace_back(ids[i], rs[i]);
  const std::uint32_t def = g.coin(50) ? XDP_PASS : XDP_DROP;

  Stopwatch sw;
  auto planned = make_plan(es, def, world.context());
  stats.times += fmt::format("plan {} ms", sw.lap());
  if (!planned) {
    ADD_FAILURE() << planned.error().message();
    return {};
  }
  Plan plan = std::move(*planned);
  check_structure(plan);
  sw.lap();
  auto tables = build_tables(plan);
  stats.times += fmt::format(", tables {} ms", sw.lap());
  if (!tables) {
    ADD_FAILURE() << tables.error().message();
    return plan;
  }
  auto prog = emit_classifier(plan, *tables);
  if (!prog) {
    ADD_FAILURE() << prog.error().message();
  } else {
    std::vector<int> fds(prog->map_names().size());
    for (std::size_t i = 0; i < fds.size(); ++i) fds[i] = 3 + static_cast<int>(i);
    stats.times += fmt::format(", emit {} ms", sw.lap());
    auto linked = prog->link(fds);
    stats.times += fmt::format(", link {} ms", sw.lap());
    EXPECT_TRUE(linked) << linked.error().message();
    if (linked) stats.insns = linked->size();
  }

  auto by_index = [&](std::uint32_t set, std::uint8_t fam, const std::array<std::uint8_t, 16>& a) {
    return world.replay(set, fam, a);
  };
  auto by_name = [&](const std::string& name, std::uint8_t fam, const std::array<std::uint8_t, 16>& a) {
    return world.reference(name, fam, a);
  };
  int failures = 0;
  for (int i = 0; i < npackets && failures < 5; ++i) {
    const PacketFields p = make_packet(g, rs);
    const auto want = rules::first_match(rs, p, by_name);
    const test::ClsVerdict v = plan_verdict(plan, *tables, p, by_index);
    ++stats.packets;
    stats.matched += want.has_value();
    bool ok;
    if (!want) {
      ok = v.prio == XDPGUARD_PRIO_NONE && v.slot == XDPGUARD_RULE_DEFAULT && v.action == def;
    } else {
      const auto& r = rs[*want];
      const std::uint32_t action = r.action == rules::Action::Drop   ? XDP_DROP
                                   : r.action == rules::Action::Pass ? XDP_PASS
                                                                     : XDP_REDIRECT;
      ok = v.prio == *want && v.slot == ids[*want] && v.action == action &&
           (action != XDP_REDIRECT || v.ifindex == 9);
    }
    if (ok) continue;
    ++failures;
    const std::string wanted = want ? fmt::format("rule {}: {}", *want, rules::to_string(rs[*want])) : "none";
    std::string msg = fmt::format("packet {}\n  first_match: {}\n  replay: prio {} slot {} action {}\n",
                                  describe(p), wanted, v.prio, v.slot, v.action);
    if (v.prio < rs.size()) msg += fmt::format("  replay's rule: {}\n", rules::to_string(rs[v.prio]));
    if (rs.size() <= 60)
      for (std::size_t k = 0; k < rs.size(); ++k)
        msg += fmt::format("  {:3} {}\n", k, rules::to_string(rs[k]));
    ADD_FAILURE() << msg;
  }
  return plan;
}

TEST(ClassifierPlan, AgreesWithFirstMatchOnSmallRuleSets) {
  RunStats stats;
  for (unsigned seed = 1; seed <= 150; ++seed) {
    test::RuleGen g(seed);
    Mix m;
    m.sets = seed % 3 == 0 ? 10 : 0;
    m.redirects = seed % 4 == 0 ? 10 : 0;
    if (seed % 5 == 0) m = {40, 20, 20, 20, m.sets, m.redirects};
    const auto rs = make_rules(g, 1 + g.pick(seed % 10 == 0 ? 60 : 25), m);
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    check_rule_set(rs, small_world(), g, 120, stats);
    if (HasFailure()) return;
  }
  // Not all verdicts are the default.
  EXPECT_GT(stats.matched, stats.packets / 3);
}

// One large rule set: `rules` rules from `mix`, or from RuleGen::big_rules
// with four of RuleGen's sets; the plan must hold tables of `kinds`.
struct LargeCase {
  int rules;
  Mix mix;
  std::vector<GroupKind> kinds;
  bool big = false;
};

void large(const LargeCase& c, unsigned seed) {
  test::RuleGen g(seed);
  std::vector<Rule> rs;
  std::optional<World> big_world;
  if (c.big) {
    auto named = g.make_sets(4);
    g.use_sets(named, 10);
    big_world.emplace(std::move(named));
    rs = g.big_rules(c.rules);
  } else {
    rs = make_rules(g, c.rules, c.mix);
  }
  const World& world = big_world ? *big_world : small_world();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  RunStats stats;
  Stopwatch sw;
  const Plan plan = check_rule_set(rs, world, g, 1500, stats);
  const long long ms = sw.lap();
  std::size_t tabled = 0;
  for (const auto& gr : plan.groups)
    if (gr.kind != GroupKind::Chain) tabled += gr.rules.size();
  for (GroupKind k : c.kinds) EXPECT_GT(count_kind(plan, k), 0u) << "no " << kind_name(k) << " group";
  EXPECT_GT(tabled, 0u) << "no table at all";
  if (!c.kinds.empty()) {
    EXPECT_GT(tabled, rs.size() / 2) << "most rules should be in tables";
  }
  EXPECT_GT(stats.matched, stats.packets / 4);
  testing::Test::RecordProperty(
      "plan", fmt::format("{} groups, {} of {} rules in tables, {} instructions; {}; total {} ms",
                          plan.groups.size(), tabled, rs.size(), stats.insns, stats.times, ms));
}

// Separate tests, so that ctest -j runs them side by side.
constexpr GroupKind kPorts = GroupKind::Ports, kTrie4 = GroupKind::Trie4, kHash6 = GroupKind::Hash6;
TEST(ClassifierPlan, LargeRuleGen) { large({1500, {100, 0, 0, 0, 0, 0}, {}}, 1001); }
TEST(ClassifierPlan, LargePorts) { large({1000, {0, 100, 0, 0, 0, 0}, {kPorts}}, 1002); }
TEST(ClassifierPlan, LargeIpv4Prefixes) { large({1200, {0, 0, 100, 0, 0, 0}, {kTrie4}}, 1003); }
TEST(ClassifierPlan, LargeIpv6Prefixes) { large({1500, {0, 0, 0, 100, 0, 0}, {kHash6}}, 1004); }
TEST(ClassifierPlan, LargeMixed) { large({2000, {25, 25, 25, 25, 2, 3}, {kPorts, kTrie4, kHash6}}, 1005); }
TEST(ClassifierPlan, LargeMixedFew) { large({400, {10, 30, 30, 30, 0, 0}, {kPorts, kTrie4, kHash6}}, 1006); }
TEST(ClassifierPlan, LargeBigRules) { large({2000, {}, {kPorts, kTrie4, kHash6}, true}, 1007); }
TEST(ClassifierPlan, LargeBigRulesFew) { large({300, {}, {}, true}, 1008); }

// The planner hands each table group's builder over (Group::index): the
// tables laid out from it are, byte for byte, those built again from the
// group's rules.
TEST(ClassifierPlan, TablesFromThePlannersBuildersAreTheSameBytes) {
  test::RuleGen g(1009);
  const auto rs = make_rules(g, 2000, {25, 25, 25, 25, 0, 0});
  std::vector<RuleEntry> e;
  for (std::size_t i = 0; i < rs.size(); ++i) e.emplace_back(static_cast<std::uint32_t>(i + 1), rs[i]);
  const Plan plan = plan_of(e);
  Plan again = plan;
  std::set<GroupKind> handed;
  for (auto& gr : again.groups) {
    if (gr.index) handed.insert(gr.kind);
    gr.index.reset();
  }
  EXPECT_EQ(handed, (std::set<GroupKind>{GroupKind::Ports, GroupKind::Trie4, GroupKind::Hash6}));
  const auto a = tables_of(plan), b = tables_of(again);
  ASSERT_EQ(a.blobs.size(), b.blobs.size());
  ASSERT_FALSE(a.blobs.empty());
  for (std::size_t k = 0; k < a.blobs.size(); ++k) {
    ASSERT_EQ(a.blobs[k].size(), b.blobs[k].size());
    EXPECT_EQ(std::memcmp(a.blobs[k].data(), b.blobs[k].data(), a.blobs[k].size()), 0) << "blob " << k;
  }
}

// Found by the property test (big_rules with sets: 2 to 4 million
// instructions for 3,000 rules): every rule with a set operand inlines the
// set's membership code (about 4,300 instructions for IPv6) in each class
// path holding it, so some 230 such rules exceed the kernel's limit of one
// million instructions per program and cannot be installed. Enable once the
// membership code is shared (a BPF-to-BPF call per family, say).
// VLAN matches are compares: in chains per rule, in tables per candidate
// (Group::vlan_rules says where); `vlan N` reads the outer tag only.
PacketFields tags(PacketFields p, std::uint8_t n, std::uint16_t outer = 0, std::uint16_t inner = 0) {
  p.nvlan = n;
  p.vlan = {outer, inner};
  return p;
}

TEST(ClassifierPlan, VlanMatches) {
  std::vector<std::string> t = {"drop vlan 5 udp dport 53", "pass vlan 5 inner 7", "drop vlan none tcp",
                                "pass vlan 0"};
  for (int i = 0; i < 20; ++i) t.push_back(fmt::format("drop vlan 100 udp dport {}", 2000 + i));
  t.emplace_back("drop udp dport 2000");
  auto plan = plan_of(entries(t));
  check_structure(plan);
  std::size_t in_chains = 0, in_ports = 0;
  for (const auto& g : plan.groups) (g.kind == GroupKind::Chain ? in_chains : in_ports) += g.vlan_rules;
  EXPECT_EQ(in_chains, 3u);
  EXPECT_EQ(in_ports, 21u) << "the UDP port rules with a tag are a Ports table checking it per candidate";
  // The compare's word: both tags in memory order, VID | XDPGUARD_VLAN_TAGGED.
  std::uint16_t w[2] = {5 | XDPGUARD_VLAN_TAGGED, 7 | XDPGUARD_VLAN_TAGGED};
  std::uint32_t both = 0;
  std::memcpy(&both, w, 4);
  EXPECT_EQ(plan.rules[1].vlan, (VlanTest{0xffffffffu, both}));
  w[1] = 0;
  std::memcpy(&both, w, 4);
  std::uint16_t m[2] = {0xffff, 0};
  std::uint32_t outer_mask = 0;
  std::memcpy(&outer_mask, m, 4);
  EXPECT_EQ(plan.rules[0].vlan, (VlanTest{outer_mask, both}));
  EXPECT_EQ(plan.rules[2].vlan, (VlanTest{outer_mask, 0}));
  EXPECT_FALSE(plan.rules[24].vlan);

  auto tables = tables_of(plan);
  const auto udp53 = pkt4(17, "198.18.0.1", "198.18.0.2", 5, 53),
             tcp = pkt4(6, "198.18.0.1", "198.18.0.2", 5, 80);
  const auto udp2000 = pkt4(17, "198.18.0.1", "198.18.0.2", 5, 2000);
  EXPECT_EQ(plan_eval(plan, tables, tags(udp53, 1, 5)), 0u);
  EXPECT_EQ(plan_eval(plan, tables, tags(udp53, 2, 5, 9)),
            0u);  // `vlan 5`: the outer tag, whatever is inside
  EXPECT_EQ(plan_eval(plan, tables, tags(udp53, 1, 6)), std::nullopt);
  EXPECT_EQ(plan_eval(plan, tables, tags(udp53, 0)), std::nullopt);
  EXPECT_EQ(plan_eval(plan, tables, tags(tcp, 2, 5, 7)), 1u);
  EXPECT_EQ(plan_eval(plan, tables, tags(tcp, 2, 7, 5)), std::nullopt);
  EXPECT_EQ(plan_eval(plan, tables, tags(tcp, 1, 5)), std::nullopt);  // no inner tag
  EXPECT_EQ(plan_eval(plan, tables, tags(tcp, 0)), 2u);
  EXPECT_EQ(plan_eval(plan, tables, tags(tcp, 1, 0)), 3u);  // VID 0 (a priority tag) is a tag
  EXPECT_EQ(plan_eval(plan, tables, tags(udp2000, 1, 100)), 4u);
  EXPECT_EQ(plan_eval(plan, tables, tags(udp2000, 2, 100, 1)), 4u);
  EXPECT_EQ(plan_eval(plan, tables, tags(udp2000, 1, 101)), 24u);
  EXPECT_EQ(plan_eval(plan, tables, tags(udp2000, 0)), 24u);
}

TEST(ClassifierPlan, AgreesWithFirstMatchOnVlanRuleSets) {
  RunStats stats;
  std::size_t tabled = 0;
  for (unsigned seed = 1; seed <= 120; ++seed) {
    test::RuleGen g(4000 + seed);
    g.use_vlans(40);
    Mix m;
    if (seed % 3 == 0) m = {40, 20, 20, 20, 0, 0};
    auto rs = make_rules(g, 1 + g.pick(seed % 4 == 0 ? 200 : 30), m);
    // Table rules get tags too (make_rules' port/v4/v6 rules have none).
    for (auto& r : rs)
      if (!r.vlan && g.coin(30))
        r.vlan = rules::VlanMatch{g.coin(20), static_cast<std::uint16_t>(g.pick(3)), {}};
    for (auto& r : rs)
      if (r.vlan && r.vlan->none) r.vlan->id = 0;
    SCOPED_TRACE(testing::Message() << "seed " << 4000 + seed);
    const Plan plan = check_rule_set(rs, small_world(), g, 150, stats);
    if (HasFailure()) return;
    for (const auto& gr : plan.groups)
      if (gr.kind != GroupKind::Chain) tabled += gr.vlan_rules;
  }
  EXPECT_GT(stats.matched, stats.packets / 3);
  EXPECT_GT(tabled, 50u) << "the tables' residual vlan check went untested";
}

// The FlowSpec matches (icmp-type, icmp-code, length, dscp, frag): chain
// rules only, each a term of the rule's one branch (lists of ranges: the
// List term); plan_eval reads them as the emitted code does.
TEST(ClassifierPlan, AgreesWithFirstMatchOnFlowSpecRuleSets) {
  RunStats stats;
  std::size_t flowspec_rules = 0;
  for (unsigned seed = 1; seed <= 120; ++seed) {
    test::RuleGen g(4500 + seed);
    g.use_flowspec(50);
    Mix m;
    if (seed % 3 == 0) m = {40, 20, 20, 20, 0, 0};
    auto rs = make_rules(g, 1 + g.pick(seed % 4 == 0 ? 200 : 30), m);
    SCOPED_TRACE(testing::Message() << "seed " << 4500 + seed);
    const Plan plan = check_rule_set(rs, small_world(), g, 150, stats);
    if (HasFailure()) return;
    for (const auto& gr : plan.groups)
      for (auto pos : gr.rules) {
        const Rule& r = plan.rules[pos].rule;
        const bool fs = r.icmp_type || r.icmp_code || r.length || r.dscp || r.frag_mask;
        flowspec_rules += fs;
        EXPECT_TRUE(!fs || gr.kind == GroupKind::Chain) << "a FlowSpec rule in a table";
        EXPECT_EQ(plan.rules[pos].l4, r.sport || r.dport || r.flags_mask || r.icmp_type || r.icmp_code);
      }
  }
  EXPECT_GT(stats.matched, stats.packets / 3);
  EXPECT_GT(flowspec_rules, 500u);
}

TEST(ClassifierPlan, SetRulesFitTheKernelInstructionLimit) {
  std::vector<std::string> t;
  for (int i = 1; i <= 230; ++i) t.push_back(fmt::format("drop saddr @s0 udp dport {}", i));
  auto plan = plan_of(entries(t));
  auto tables = tables_of(plan);
  auto prog = emit_classifier(plan, tables);
  ASSERT_TRUE(prog) << prog.error().message();
  std::vector<int> fds(prog->map_names().size(), 3);
  auto linked = prog->link(fds);
  ASSERT_TRUE(linked) << linked.error().message();
  EXPECT_LE(linked->size(), 1000000u);  // BPF_COMPLEXITY_LIMIT_INSNS, the most a program may have
}

}  // namespace
}  // namespace xdpguard::cls
