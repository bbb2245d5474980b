// Compiler: hand-checked expansions, limits, and a property test — the
// replayed tuple walk over compiled tables equals linear first-match on
// random rule sets and packets.
#include <linux/bpf.h>

#include <random>

#include <gtest/gtest.h>

#include "rules/compiler.h"
#include "rules/reference.h"
#include "support/rule_gen.h"

namespace xdpguard::rules {
namespace {

using Blocks = std::vector<std::pair<std::uint16_t, std::uint8_t>>;

TEST(PortBlocks, MinimalPrefixCover) {
  EXPECT_EQ(port_blocks({22, 22}), (Blocks{{22, 16}}));
  EXPECT_EQ(port_blocks({0, 65535}), (Blocks{{0, 0}}));
  EXPECT_EQ(port_blocks({1024, 65535}),
            (Blocks{{1024, 6}, {2048, 5}, {4096, 4}, {8192, 3}, {16384, 2}, {32768, 1}}));
  EXPECT_EQ(port_blocks({65535, 65535}), (Blocks{{65535, 16}}));
  EXPECT_EQ(port_blocks({0, 0}), (Blocks{{0, 16}}));
  EXPECT_EQ(port_blocks({1, 6}), (Blocks{{1, 16}, {2, 15}, {4, 15}, {6, 16}}));
}

TEST(PortBlocks, CoverExactlyTheRange) {
  std::mt19937 rng(7);
  for (int n = 0; n < 2000; ++n) {
    std::uint16_t a = static_cast<std::uint16_t>(rng()), b = static_cast<std::uint16_t>(rng());
    PortRange r{std::min(a, b), std::max(a, b)};
    std::uint32_t covered = 0, expect_next = r.lo;
    for (auto [v, len] : port_blocks(r)) {
      std::uint32_t size = 1u << (16 - len);
      ASSERT_EQ(v, expect_next);
      ASSERT_EQ(v % size, 0u) << "block not aligned";
      covered += size;
      expect_next = v + size;
    }
    EXPECT_EQ(covered, static_cast<std::uint32_t>(r.hi) - r.lo + 1);
    EXPECT_LE(port_blocks(r).size(), 30u);
  }
}

Prefix v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint8_t len) {
  Prefix p;
  p.family = Family::V4;
  p.addr = {a, b, c, d};
  p.len = len;
  // normalise like the parser: clear host bits
  for (int i = 0; i < 4; ++i) {
    int bits = std::clamp(static_cast<int>(len) - i * 8, 0, 8);
    p.addr[i] &= static_cast<std::uint8_t>(bits ? 0xff << (8 - bits) : 0);
  }
  return p;
}

CompileContext no_names() { return {}; }

TEST(Compiler, EmptyRuleSetIsJustAHeader) {
  auto cs = compile({}, XDP_DROP, no_names());
  ASSERT_TRUE(cs);
  ASSERT_EQ(cs->entries.size(), 1u);
  EXPECT_EQ(cs->entries[0].first.kind, XDPGUARD_KEY_HEADER);
  EXPECT_EQ(cs->entries[0].second.header.default_action, XDP_DROP);
  EXPECT_EQ(cs->ntuples, 0u);
}

TEST(Compiler, SameShapeRulesShareOneTuple) {
  std::vector<RuleEntry> rules;
  for (std::uint32_t i = 0; i < 1000; ++i) {
    Rule r;
    r.action = Action::Drop;
    r.family = Family::V4;
    r.proto = kProtoUdp;
    r.dport = PortRange{static_cast<std::uint16_t>(1000 + i), static_cast<std::uint16_t>(1000 + i)};
    r.saddr = AddrMatch{v4(198, 18, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i), 32), ""};
    rules.push_back({i + 1, r});
  }
  auto cs = compile(rules, XDP_PASS, no_names());
  ASSERT_TRUE(cs) << cs.error().message();
  EXPECT_EQ(cs->ntuples, 1u);
  EXPECT_EQ(cs->nmatches, 1000u);
}

TEST(Compiler, EarlierRuleKeepsAnIdenticalKey) {
  Rule a;
  a.action = Action::Pass;
  a.proto = kProtoTcp;
  a.dport = PortRange{22, 22};
  Rule b = a;
  b.action = Action::Drop;
  auto cs = compile({{1, a}, {2, b}}, XDP_PASS, no_names());
  ASSERT_TRUE(cs);
  EXPECT_EQ(cs->nmatches, 1u);
  PacketFields p;
  p.family = 4;
  p.proto = kProtoTcp;
  p.dport = 22;
  auto v = simulate(*cs, p);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->slot, 1u);
  EXPECT_EQ(v->action, static_cast<std::uint32_t>(XDP_PASS));
}

TEST(Compiler, ErrorsNameTheRule) {
  Rule x;
  x.action = Action::RedirectXsk;
  auto r = compile({{5, x}}, XDP_PASS, no_names());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "rule 1 (id 5): redirect xsk: AF_XDP sockets are not supported yet");

  Rule s;
  s.action = Action::Drop;
  s.saddr = AddrMatch{std::nullopt, "blocklist"};
  r = compile({{1, Rule{}}, {2, s}}, XDP_PASS, no_names());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "rule 2 (id 2): no set named @blocklist");

  Rule d;
  d.action = Action::RedirectDev;
  d.redirect_dev = "eth9";
  r = compile({{3, d}}, XDP_PASS, no_names());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "rule 1 (id 3): redirect dev eth9: no such interface");
}

TEST(Compiler, TooManyShapesIsAClearError) {
  std::vector<RuleEntry> rules;
  std::uint32_t id = 1;
  // 33 source lengths x 33 destination lengths = 1089 shapes > 1024
  for (std::uint8_t s = 0; s <= 32; ++s)
    for (std::uint8_t d = 0; d <= 32; ++d) {
      Rule r;
      r.action = Action::Drop;
      r.family = Family::V4;
      r.saddr = AddrMatch{v4(10, 0, 0, 0, s), ""};
      r.daddr = AddrMatch{v4(10, 0, 0, 0, d), ""};
      rules.push_back({id++, r});
    }
  auto cs = compile(rules, XDP_PASS, no_names());
  ASSERT_FALSE(cs);
  EXPECT_NE(cs.error().message().find("1089 distinct rule shapes"), std::string::npos)
      << cs.error().message();
}

// ---- property test --------------------------------------------------------

TEST(Compiler, TupleWalkEqualsLinearFirstMatch) {
  std::size_t packets = 0, matched = 0;
  for (unsigned seed = 1; seed <= 150; ++seed) {
    test::RuleGen g(seed);
    std::vector<RuleEntry> entries;
    std::vector<Rule> rules;
    int n = 1 + g.pick(60);
    for (int i = 0; i < n; ++i) {
      rules.push_back(g.rule());
      entries.push_back({static_cast<std::uint32_t>(i + 1), rules.back()});
    }
    auto cs = compile(entries, XDP_PASS, no_names());
    if (!cs) {
      ASSERT_NE(cs.error().message().find("distinct rule shapes"), std::string::npos)
          << cs.error().message();
      continue;
    }
    for (int k = 0; k < 300; ++k) {
      PacketFields p = g.coin(50) ? g.packet_for(rules[g.pick(n)]) : g.random_packet();
      auto want = first_match(rules, p);
      auto got = simulate(*cs, p);
      ++packets;
      ASSERT_EQ(want.has_value(), got.has_value()) << "seed " << seed << " packet " << k;
      if (want) {
        ++matched;
        ASSERT_EQ(got->slot, *want + 1) << "seed " << seed << " packet " << k;
      }
    }
  }
  // The generator must exercise both outcomes.
  EXPECT_GT(matched, packets / 10);
  EXPECT_LT(matched, packets);
}

}  // namespace
}  // namespace xdpguard::rules
