// Property test of the generated classifier against the reference
// interpreter (rules::first_match), frame by frame through
// BPF_PROG_TEST_RUN. Rule sets are random: small ones (1..120 rules of
// RuleGen's default mix) and big ones (RuleGen's big mode, 500..3,000 rules
// that the planner turns into Trie4, Ports and Hash6 tables beside chains),
// both with named sets loaded through Guard::load_set and referenced as
// `saddr @s` / `daddr @s`, a random default action and some `redirect dev`
// rules. Frames carry VLAN tags (two at times), IPv4 options, IPv6
// extension headers, first and non-first fragments; the VLAN tests give
// rules `vlan` matches too, the FlowSpec test icmp-type, icmp-code, length,
// dscp and frag matches.
//
// Per frame, the verdict AND the rule that gave it must be the reference's:
// the classifier writes the rule id into the per-CPU entry (xdpguard_percpu
// .slot, 0 for the default rule), and with the test thread pinned to one CPU
// every run's entry is that CPU's, read back after the run. Per rule set,
// every rule's counter (and the default rule's) must have moved by exactly
// the frames and bytes the reference gave it.
#include <linux/bpf.h>

#include <chrono>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "bpf/map.h"
#include "bpf/test_run.h"
#include "guard/guard.h"
#include "rules/printer.h"
#include "support/classifier_fixture.h"
#include "support/packet.h"
#include "support/privileged.h"
#include "support/rule_gen.h"

namespace xdpguard::test {
namespace {

using rules::Action;

std::string describe(const rules::PacketFields& p) {
  std::string tags = p.nvlan == 0   ? "untagged"
                     : p.nvlan == 1 ? fmt::format("vlan {}", p.vlan[0])
                                    : fmt::format("vlan {} inner {}", p.vlan[0], p.vlan[1]);
  return fmt::format(
      "{}, IPv{} proto {} {} -> {} sport {} dport {} flags 0x{:02x} icmp {}/{} length {} dscp {} frag bits "
      "0x{:x}{}",
      tags, p.family, p.proto, ntop(p.family, p.saddr), ntop(p.family, p.daddr), p.sport, p.dport,
      p.tcp_flags, p.icmp_type, p.icmp_code, p.ip_len, p.dscp, p.frag_bits,
      p.frag ? " (non-first fragment)" : "");
}

class ClassifierProperty : public ClassifierFixture {
 protected:
  // Loads sets (replacing those of the same name) and tells g about them.
  void load_sets(RuleGen& g, std::vector<NamedSet> sets) {
    for (const auto& s : sets) {
      auto r = guard_->load_set(s.name, s.prefixes);
      ASSERT_TRUE(r) << s.name << ": " << r.error().message();
    }
    g.use_sets(std::move(sets), 15);
  }

  struct Totals {
    std::size_t frames = 0, matched = 0, dropped = 0, frags = 0, sets_hit = 0, refused = 0, vlan_hit = 0,
                qinq = 0, flowspec_hit = 0, list_hit = 0, frag_hit = 0;
  };

  // Installs `rs` and runs `nframes` frames, checking verdict, rule id and
  // counters against the reference.
  void check_rule_set(RuleGen& g, std::vector<rules::Rule> rs, int nframes, const std::string& name,
                      Totals& tot) {
    // A few redirects (to lo: the verdict is XDP_REDIRECT under test run).
    for (auto& r : rs)
      if (g.coin(3)) r.action = Action::RedirectDev, r.redirect_dev = "lo";
    // A fifth with `log` (every hit, or sampled): it must change nothing of
    // the verdict, the rule id or the counters (no reader: nothing recorded).
    // Its own generator, so the rule sets stay those of the seeds.
    std::mt19937 log_rng(static_cast<unsigned>(rs.size()) * 7919u + nframes);
    for (auto& r : rs)
      if (log_rng() % 5 == 0) r.log = log_rng() % 2 ? rules::LogSpec{1, 1} : rules::LogSpec{1, 7};
    const std::uint32_t dflt = g.coin(25) ? XDP_DROP : XDP_PASS;
    ASSERT_TRUE(guard_->set_default_action(dflt));
    std::vector<std::string> texts;
    for (const auto& r : rs) texts.push_back(rules::to_string(r));
    auto ids = guard_->replace_rules(texts);
    if (!ids) ++tot.refused;
    ASSERT_TRUE(ids) << name << ": " << rs.size() << " rules, " <<
        [&] {
          std::size_t n = 0, any = 0;
          for (const auto& r : rs) {
            bool set = (r.saddr && !r.saddr->prefix) || (r.daddr && !r.daddr->prefix);
            n += set;
            any += set && r.family == rules::Family::Any;
          }
          return fmt::format("{} of them with a set ({} of either family)", n, any);
        }()
                     << ", refused: " << ids.error().message();
    ASSERT_EQ(ids->size(), rs.size());

    auto counters = [&]() {
      std::map<std::uint32_t, xdpguard_counter> c;
      auto recs = guard_->rules();
      EXPECT_TRUE(recs) << recs.error().message();
      if (recs)
        for (const auto& r : *recs) c[r.id] = r.counter;
      auto st = guard_->stats();
      EXPECT_TRUE(st) << st.error().message();
      if (st) c[XDPGUARD_RULE_DEFAULT] = st->default_rule;
      return c;
    };
    const auto before = counters();
    ASSERT_EQ(before.size(), rs.size() + 1) << "every rule has its own id, and the default rule";
    std::map<std::uint32_t, xdpguard_counter> expected_delta;

    const auto in_set = g.membership();
    for (int i = 0; i < nframes; ++i) {
      rules::PacketFields p;
      const int kind = g.pick(100);
      if (kind < 70) {
        p = g.packet_for(rs[static_cast<std::size_t>(g.pick(static_cast<int>(rs.size())))]);
      } else if (kind < 88) {
        p = g.random_packet();
      } else {  // a non-first fragment of a packet aimed at a rule
        p = g.packet_for(rs[static_cast<std::size_t>(g.pick(static_cast<int>(rs.size())))]);
        p.frag = true;
        p.sport = p.dport = 0;
        p.tcp_flags = 0;
      }
      Bytes f = frame_for(p, g, static_cast<std::uint32_t>(i), /*double_vlan=*/true);
      auto want = rules::first_match(rs, p, in_set);
      Outcome expect{want ? xdp_of(rs[*want].action) : dflt,
                     want ? (*ids)[*want] : std::uint32_t{XDPGUARD_RULE_DEFAULT}};
      Outcome got = run(f);
      ASSERT_EQ(got, expect) << name << ", frame " << i << ": " << describe(p) << "\n  reference: "
                             << (want ? fmt::format("rule {} (id {}) {}", *want + 1, (*ids)[*want],
                                                    texts[*want])
                                      : std::string("no rule: default"))
                             << "\n  kernel: verdict " << got.verdict << ", rule id " << got.slot
                             << "\n  frame: " << to_hex(f);
      auto& d = expected_delta[expect.slot];
      d.packets += 1;
      d.bytes += f.size();
      ++tot.frames;
      tot.matched += want.has_value();
      tot.dropped += expect.verdict == XDP_DROP;
      tot.frags += p.frag;
      tot.sets_hit += want && ((rs[*want].saddr && !rs[*want].saddr->prefix) ||
                               (rs[*want].daddr && !rs[*want].daddr->prefix));
      tot.vlan_hit += want && rs[*want].vlan.has_value();
      if (want) {
        const rules::Rule& w = rs[*want];
        tot.flowspec_hit += w.icmp_type || w.icmp_code || w.length || w.dscp || w.frag_mask;
        bool list = false;
        for (const auto* l : {&w.icmp_type, &w.icmp_code, &w.length, &w.dscp})
          list = list || (*l && (*l)->size() > 1);
        tot.list_hit += list;
        tot.frag_hit += w.frag_mask != 0;
      }
      tot.qinq += p.nvlan == 2;
    }
    const auto after = counters();
    ASSERT_EQ(after.size(), before.size());
    for (const auto& [id, c] : after) {
      auto b = before.find(id);
      ASSERT_NE(b, before.end()) << "rule id " << id << " appeared";
      auto d = expected_delta[id];
      EXPECT_EQ(c.packets - b->second.packets, d.packets) << name << ": packets of rule id " << id;
      EXPECT_EQ(c.bytes - b->second.bytes, d.bytes) << name << ": bytes of rule id " << id;
    }
  }
};

TEST_F(ClassifierProperty, SmallRuleSets) {
  Totals tot;
  for (unsigned set = 0; set < 300; ++set) {
    RuleGen g(7000 + set);
    auto rs = g.rules(1 + g.pick(120));
    check_rule_set(g, std::move(rs), 120, fmt::format("small set {} (seed {})", set, 7000 + set), tot);
    if (HasFatalFailure()) return;
  }
  std::printf("small rule sets: %zu frames, %zu matched a rule, %zu dropped, %zu non-first fragments\n",
              tot.frames, tot.matched, tot.dropped, tot.frags);
  // The distribution exercises both outcomes and fragments.
  EXPECT_GT(tot.matched, tot.frames / 2);
  EXPECT_GT(tot.dropped, tot.frames / 10);
  EXPECT_GT(tot.frags, tot.frames / 20);
}

// Named sets of both families, loaded through Guard::load_set (replaced
// every few rule sets) and referenced by about 15% of the rules, of either
// family: `drop saddr @s1` tests IPv4 packets against s1's IPv4 prefixes and
// IPv6 packets against its IPv6 ones.
//
// A rule set the kernel refuses fails the test but does not end it (the
// others are still compared); after three refusals it stops, as each can
// cost the verifier its whole budget twice. (Before b499f63 most of these
// rule sets were refused: see SetRulesOfEitherFamily in
// classifier_limits_test.cpp.)
TEST_F(ClassifierProperty, SmallRuleSetsWithSets) {
  Totals tot;
  unsigned tried = 0;
  for (unsigned set = 0; set < 40 && tot.refused < 3; ++set, ++tried) {
    RuleGen g(7500 + set);
    RuleGen sg(900 + set / 10);
    load_sets(g, sg.make_sets(4));
    if (HasFatalFailure()) return;
    auto rs = g.rules(1 + g.pick(60));
    [&] {
      check_rule_set(g, std::move(rs), 150, fmt::format("small set with sets {} (seed {})", set, 7500 + set),
                     tot);
    }();
  }
  std::printf(
      "small rule sets with sets: %u tried, %zu refused; %zu frames, %zu matched a rule (%zu "
      "through a set), %zu dropped\n",
      tried, tot.refused, tot.frames, tot.matched, tot.sets_hit, tot.dropped);
  EXPECT_EQ(tot.refused, 0u) << "rule sets with sets the kernel refused (stopped after 3)";
  EXPECT_GT(tot.sets_hit, tot.frames / 20);
}

// Big mode: hundreds to thousands of rules in the planner's tables (the
// test checks that they are: most rules in Trie4 / Ports / Hash6 groups,
// and every kind of group seen).
TEST_F(ClassifierProperty, BigRuleSets) {
  Totals tot;
  std::set<cls::GroupKind> kinds_seen;
  const int sizes[] = {500, 1000, 2000, 3000, 1500, 3000, 800, 2500, 3000, 1200};
  for (unsigned k = 0; k < std::size(sizes); ++k) {
    const unsigned seed = 8100 + k;
    RuleGen g(seed);
    auto rs = g.big_rules(sizes[k], 24 + g.pick(40));
    auto t0 = std::chrono::steady_clock::now();
    check_rule_set(g, rs, 700, fmt::format("big set {} ({} rules, seed {})", k, sizes[k], seed), tot);
    if (HasFatalFailure()) return;
    auto plan = guard_->plan();
    ASSERT_TRUE(plan) << plan.error().message();
    std::map<cls::GroupKind, int> groups;
    std::size_t tabled = 0;
    for (const auto& gr : plan->compiled.plan.groups) {
      groups[gr.kind]++;
      if (gr.kind != cls::GroupKind::Chain) tabled += gr.rules.size();
      kinds_seen.insert(gr.kind);
    }
    std::printf(
        "big set %u: %d rules: %d trie4 + %d ports + %d hash6 tables (%zu rules) + %d chains; "
        "%u insns, %u verified; %.1f s\n",
        k, sizes[k], groups[cls::GroupKind::Trie4], groups[cls::GroupKind::Ports],
        groups[cls::GroupKind::Hash6], tabled, groups[cls::GroupKind::Chain], plan->installed.insns,
        plan->installed.verified_insns,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    EXPECT_GT(tabled, rs.size() / 2) << "big set " << k << ": most rules should be in tables";
  }
  EXPECT_TRUE(kinds_seen.count(cls::GroupKind::Trie4));
  EXPECT_TRUE(kinds_seen.count(cls::GroupKind::Ports));
  EXPECT_TRUE(kinds_seen.count(cls::GroupKind::Hash6));
  EXPECT_TRUE(kinds_seen.count(cls::GroupKind::Chain));
  std::printf("big rule sets: %zu frames, %zu matched a rule, %zu dropped, %zu non-first fragments\n",
              tot.frames, tot.matched, tot.dropped, tot.frags);
  EXPECT_GT(tot.matched, tot.frames / 2);
  EXPECT_GT(tot.dropped, tot.frames / 10);
}

// Big mode with sets: some shapes reference sets instead of literal prefixes.
TEST_F(ClassifierProperty, BigRuleSetsWithSets) {
  Totals tot;
  const int sizes[] = {1000, 2500, 3000, 600};
  for (unsigned k = 0; k < std::size(sizes); ++k) {
    const unsigned seed = 8200 + k;
    RuleGen g(seed);
    load_sets(g, g.make_sets(3));
    if (HasFatalFailure()) return;
    auto rs = g.big_rules(sizes[k], 24 + g.pick(40));
    check_rule_set(g, rs, 700, fmt::format("big set with sets {} ({} rules, seed {})", k, sizes[k], seed),
                   tot);
    if (HasFatalFailure()) return;
  }
  std::printf("big rule sets with sets: %zu frames, %zu matched a rule (%zu through a set)\n", tot.frames,
              tot.matched, tot.sets_hit);
  EXPECT_GT(tot.sets_hit, 0u);
}

// VLAN matches: half of the rules say `vlan none`, `vlan N` or `vlan N
// inner M` (IDs from a small pool, so that rules and frames meet), frames
// carry 0, 1 or 2 tags (802.1Q, 802.1ad, and an S-tag or a second C-tag
// over a C-tag), aimed at a rule's tags most of the time. Small rule sets
// (chains: one compare per rule) and big ones with VLAN matches added to a
// third of the rules (tables: the residual check per candidate).
TEST_F(ClassifierProperty, VlanRuleSets) {
  Totals tot;
  for (unsigned set = 0; set < 120; ++set) {
    RuleGen g(7700 + set);
    g.use_vlans(50);
    auto rs = g.rules(1 + g.pick(120));
    check_rule_set(g, std::move(rs), 120, fmt::format("vlan set {} (seed {})", set, 7700 + set), tot);
    if (HasFatalFailure()) return;
  }
  std::printf(
      "vlan rule sets: %zu frames (%zu with two tags), %zu matched a rule (%zu a rule with a vlan match), "
      "%zu dropped\n",
      tot.frames, tot.qinq, tot.matched, tot.vlan_hit, tot.dropped);
  EXPECT_GT(tot.vlan_hit, tot.frames / 16) << "vlan rules decided too few frames to mean anything";
  EXPECT_GT(tot.qinq, tot.frames / 10);
  EXPECT_GT(tot.dropped, tot.frames / 10);
}

// The FlowSpec matches: about half of the rules carry some of icmp-type,
// icmp-code, length, dscp and frag (single values, ranges and lists of up
// to 16 ranges: the List term), frames carry ICMP types and codes, DSCPs,
// DF, lengths near the rules' edges, and first and non-first fragments with
// and without more-fragments. Chains only (plan.cpp); some sets with VLAN
// matches too.
TEST_F(ClassifierProperty, FlowSpecRuleSets) {
  Totals tot;
  for (unsigned set = 0; set < 150; ++set) {
    RuleGen g(9100 + set);
    g.use_flowspec(50);
    if (set % 4 == 0) g.use_vlans(20);
    auto rs = g.rules(1 + g.pick(100));
    check_rule_set(g, std::move(rs), 120, fmt::format("flowspec set {} (seed {})", set, 9100 + set), tot);
    if (HasFatalFailure()) return;
  }
  std::printf(
      "flowspec rule sets: %zu frames, %zu matched a rule (%zu a rule with a FlowSpec match, %zu with a "
      "list of ranges, %zu with frag), %zu dropped, %zu non-first fragments\n",
      tot.frames, tot.matched, tot.flowspec_hit, tot.list_hit, tot.frag_hit, tot.dropped, tot.frags);
  EXPECT_GT(tot.flowspec_hit, tot.frames / 10) << "FlowSpec rules decided too few frames to mean anything";
  EXPECT_GT(tot.list_hit, tot.frames / 50);
  EXPECT_GT(tot.frag_hit, tot.frames / 50);
  EXPECT_GT(tot.dropped, tot.frames / 10);
}

TEST_F(ClassifierProperty, BigVlanRuleSets) {
  Totals tot;
  const int sizes[] = {1000, 2500, 600};
  std::size_t tabled_vlan = 0;
  for (unsigned k = 0; k < std::size(sizes); ++k) {
    const unsigned seed = 8300 + k;
    RuleGen g(seed);
    g.use_vlans(30);
    auto rs = g.big_rules(sizes[k], 24 + g.pick(40));
    static const std::uint16_t ids[] = {0, 1, 5, 100, 4094, 4095};
    for (auto& r : rs) {
      if (!g.coin(30)) continue;
      rules::VlanMatch v;
      const int kind = g.pick(10);
      v.none = kind < 2;
      if (!v.none) v.id = ids[g.pick(6)];
      if (kind >= 7) v.inner = ids[g.pick(6)];
      r.vlan = v;
    }
    check_rule_set(g, rs, 700, fmt::format("big vlan set {} ({} rules, seed {})", k, sizes[k], seed), tot);
    if (HasFatalFailure()) return;
    auto plan = guard_->plan();
    ASSERT_TRUE(plan) << plan.error().message();
    for (const auto& gr : plan->compiled.plan.groups)
      if (gr.kind != cls::GroupKind::Chain) tabled_vlan += gr.vlan_rules;
  }
  std::printf(
      "big vlan rule sets: %zu frames, %zu matched a rule (%zu with a vlan match); %zu vlan rules in "
      "tables\n",
      tot.frames, tot.matched, tot.vlan_hit, tabled_vlan);
  EXPECT_GT(tabled_vlan, 100u) << "the tables' residual vlan check went untested";
  EXPECT_GT(tot.vlan_hit, tot.frames / 20);
}

}  // namespace
}  // namespace xdpguard::test
