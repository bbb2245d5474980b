// Lint: hand-checked covered / not-covered pairs per field, the messages, and
// a soundness property: whenever lint says rule j is covered by rule i, no
// random packet matches j without matching i (checked with the reference
// matcher, which is the language's semantics).
#include <gtest/gtest.h>

#include <random>

#include <fmt/format.h>

#include "rules/lint.h"
#include "rules/parser.h"
#include "oracle/reference.h"
#include "support/rule_gen.h"

namespace xdpguard::rules {
namespace {

Rule R(std::string_view text) {
  auto r = parse_rule(text);
  EXPECT_TRUE(r) << text << ": " << r.error().message();
  return r ? *r : Rule{};
}

bool cov(std::string_view a, std::string_view b) { return covers(R(a), R(b)); }

TEST(RuleLint, Covers) {
  // No matches at all covers everything.
  EXPECT_TRUE(cov("pass", "drop tcp dport 22"));
  EXPECT_TRUE(cov("pass", "drop"));
  EXPECT_TRUE(cov("pass", "drop saddr @x"));
  // Identical rules (the action does not matter).
  EXPECT_TRUE(cov("drop tcp dport 22", "pass tcp dport 22"));
  // VLAN tags.
  EXPECT_TRUE(cov("drop vlan 5", "drop vlan 5 tcp"));
  EXPECT_TRUE(cov("drop vlan 5", "drop vlan 5 inner 7"));  // the outer tag, whatever is inside
  EXPECT_TRUE(cov("drop vlan 5 inner 7", "drop vlan 5 inner 7 udp"));
  EXPECT_TRUE(cov("drop vlan none", "drop vlan none tcp"));
  EXPECT_TRUE(cov("drop tcp", "drop vlan 5 tcp"));
  EXPECT_FALSE(cov("drop vlan 5 tcp", "drop tcp"));
  EXPECT_FALSE(cov("drop vlan 5", "drop vlan 6"));
  EXPECT_FALSE(cov("drop vlan 5 inner 7", "drop vlan 5"));
  EXPECT_FALSE(cov("drop vlan 5 inner 7", "drop vlan 5 inner 8"));
  EXPECT_FALSE(cov("drop vlan none", "drop vlan 0"));  // VID 0 is a tag
  EXPECT_FALSE(cov("drop vlan 0", "drop vlan none"));
  // Family.
  EXPECT_TRUE(cov("drop ip", "drop icmp"));
  EXPECT_TRUE(cov("drop ip", "drop saddr 10.0.0.0/8"));
  EXPECT_TRUE(cov("drop ip6", "drop ip6 tcp"));
  EXPECT_FALSE(cov("drop ip", "drop tcp"));
  EXPECT_FALSE(cov("drop ip", "drop ip6"));
  EXPECT_FALSE(cov("drop ip", "drop saddr @x"));  // the set may hold IPv6 too
  // Protocol.
  EXPECT_TRUE(cov("drop tcp", "drop tcp dport 22"));
  EXPECT_TRUE(cov("drop proto 47", "drop ip proto 47"));
  EXPECT_FALSE(cov("drop tcp", "drop udp"));
  EXPECT_FALSE(cov("drop tcp", "drop ip"));
  // Prefix containment.
  EXPECT_TRUE(cov("drop saddr 10.0.0.0/8", "drop saddr 10.1.2.0/24"));
  EXPECT_TRUE(cov("drop saddr 10.0.0.0/8", "drop saddr 10.0.0.0/8 tcp"));
  EXPECT_TRUE(cov("drop saddr 10.0.0.0/8", "drop saddr 10.255.255.255"));
  EXPECT_FALSE(cov("drop saddr 10.0.0.0/8", "drop saddr 11.0.0.0/24"));
  EXPECT_FALSE(cov("drop saddr 10.0.0.0/16", "drop saddr 10.0.0.0/8"));
  EXPECT_FALSE(cov("drop saddr 10.0.0.0/8", "drop daddr 10.0.0.0/8"));
  EXPECT_TRUE(cov("drop daddr 2001:db8::/32", "drop daddr 2001:db8:1::/48"));
  EXPECT_FALSE(cov("drop daddr 2001:db8::/32", "drop daddr 2001:db9::/48"));
  EXPECT_TRUE(cov("drop saddr ::/0", "drop ip6 udp"));  // /0 of the later rule's family
  EXPECT_TRUE(cov("drop saddr 0.0.0.0/0", "drop icmp"));
  EXPECT_FALSE(cov("drop saddr 0.0.0.0/0", "drop tcp"));  // IPv6 packets too
  EXPECT_TRUE(cov("drop saddr 0.0.0.0/0", "drop ip saddr @s"));
  // Sets: only the same set covers.
  EXPECT_TRUE(cov("drop saddr @bl", "drop saddr @bl tcp"));
  EXPECT_FALSE(cov("drop saddr @bl", "drop saddr @other"));
  EXPECT_FALSE(cov("drop saddr @bl", "drop saddr 10.0.0.1"));
  EXPECT_FALSE(cov("drop saddr 10.0.0.0/8", "drop ip saddr @bl"));
  EXPECT_FALSE(cov("drop saddr @bl", "drop daddr @bl"));
  // Port ranges.
  EXPECT_TRUE(cov("drop tcp dport 1-1024", "drop tcp dport 22"));
  EXPECT_TRUE(cov("drop tcp dport 1-1024", "drop tcp dport 1-1024"));
  EXPECT_TRUE(cov("drop tcp dport 1-1024", "drop tcp dport 1000-1024 sport 5"));
  EXPECT_FALSE(cov("drop tcp dport 1-1024", "drop tcp dport 1000-1025"));
  EXPECT_FALSE(cov("drop tcp dport 22", "drop tcp sport 22"));
  EXPECT_FALSE(cov("drop tcp dport 22", "drop udp dport 22"));
  EXPECT_FALSE(cov("drop tcp dport 22", "drop tcp"));
  // All ports: covers later rules that also exclude fragments.
  EXPECT_TRUE(cov("drop tcp dport 0-65535", "drop tcp sport 80"));
  EXPECT_TRUE(cov("drop tcp dport 0-65535", "drop tcp tcp-flags syn"));
  // ...but not a rule without ports or flags: it also matches non-first
  // fragments, which a port match never does.
  EXPECT_FALSE(cov("drop tcp dport 0-65535", "drop tcp"));
  EXPECT_FALSE(cov("drop tcp tcp-flags syn", "drop tcp saddr 10.0.0.0/8"));
  // TCP flags: the earlier rule's tests are a subset, same values.
  EXPECT_TRUE(cov("drop tcp tcp-flags syn", "drop tcp tcp-flags syn,!ack"));
  EXPECT_TRUE(cov("drop tcp tcp-flags syn,!ack", "drop tcp tcp-flags syn,!ack,!rst dport 80"));
  EXPECT_FALSE(cov("drop tcp tcp-flags syn,!ack", "drop tcp tcp-flags syn"));
  EXPECT_FALSE(cov("drop tcp tcp-flags syn", "drop tcp tcp-flags !syn"));
  EXPECT_FALSE(cov("drop tcp tcp-flags syn", "drop tcp dport 22"));
  EXPECT_TRUE(cov("drop tcp", "drop tcp tcp-flags syn"));
}

TEST(RuleLint, Warnings) {
  std::vector<Rule> rules = {
      R("drop tcp dport 1-1024"),                   // 1
      R("pass udp dport 53"),                       // 2
      R("pass tcp dport 22 saddr 203.0.113.0/24"),  // 3: dead (1)
      R("drop saddr 10.0.0.0/8"),                   // 4
      R("pass udp saddr 10.1.0.0/16"),              // 5: dead (4)
      R("drop udp dport 53 saddr 10.0.0.1"),        // 6: dead (2 first)
      R("pass tcp dport 2000"),                     // 7
  };
  auto w = lint(rules);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].rule_index, 2u);
  EXPECT_EQ(w[0].covered_by, 0u);
  EXPECT_EQ(w[0].message,
            "rule 3 (pass tcp saddr 203.0.113.0/24 dport 22) can never match: rule 1 (drop tcp "
            "dport 1-1024) matches every packet it would match");
  EXPECT_EQ(w[1].rule_index, 4u);
  EXPECT_EQ(w[1].covered_by, 3u);
  EXPECT_EQ(w[2].rule_index, 5u);
  EXPECT_EQ(w[2].covered_by, 1u);  // the first covering rule is named
}

TEST(RuleLint, RuleWithoutMatches) {
  std::vector<Rule> rules = {R("pass tcp dport 22"), R("drop"), R("pass udp"), R("drop tcp")};
  auto w = lint(rules);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].rule_index, 2u);
  EXPECT_EQ(w[0].covered_by, 1u);
  EXPECT_EQ(w[0].message,
            "rule 3 (pass udp) can never match: rule 2 (drop) has no matches and takes every packet");
  EXPECT_EQ(w[1].rule_index, 3u);
  EXPECT_EQ(w[1].covered_by, 1u);
}

TEST(RuleLint, NothingToSay) {
  EXPECT_TRUE(lint({}).empty());
  EXPECT_TRUE(lint({R("drop")}).empty());
  // Coverage by a union of earlier rules is not claimed (conservative).
  EXPECT_TRUE(
      lint({R("drop tcp dport 1-100"), R("drop tcp dport 101-200"), R("pass tcp dport 50-150")}).empty());
  EXPECT_TRUE(lint({R("drop tcp dport 22"), R("drop tcp")}).empty());
}

TEST(RuleLint, CoversValueListsFragsAndComments) {
  // A list covers a later list when it holds every value of it.
  EXPECT_TRUE(cov("drop dscp 10-20", "drop dscp 12"));
  EXPECT_TRUE(cov("drop dscp 10-20", "drop dscp 10,12-14,20"));
  EXPECT_TRUE(cov("drop dscp 0,3,8-11", "drop dscp 3,9-10"));
  EXPECT_FALSE(cov("drop dscp 0,3,8-11", "drop dscp 3-8"));  // 4-7 is outside
  EXPECT_FALSE(cov("drop dscp 10-20", "drop dscp 9-12"));
  EXPECT_FALSE(cov("drop dscp 10", "drop dscp 10,11"));
  // Absent is every value: only a full list covers it.
  EXPECT_FALSE(cov("drop dscp 1-63", "drop"));
  EXPECT_TRUE(cov("drop dscp 0-63", "drop"));
  EXPECT_TRUE(cov("drop dscp 0-10,11-63", "drop udp"));
  EXPECT_TRUE(cov("drop", "drop dscp 5"));
  EXPECT_TRUE(cov("drop length 0-65575", "drop ip6"));
  EXPECT_FALSE(cov("drop length 0-65535", "drop ip6"));  // an IPv6 jumbo-ish length + 40 is above
  EXPECT_TRUE(cov("drop length 40-1500", "drop length 60,100-200 tcp"));
  EXPECT_FALSE(cov("drop length 40-1500", "drop length 1501"));
  // ICMP type and code.
  EXPECT_TRUE(cov("drop icmp icmp-type 0-10", "drop icmp icmp-type 3,8"));
  EXPECT_FALSE(cov("drop icmp icmp-type 0-10", "drop icmp icmp-type 3,11"));
  EXPECT_TRUE(cov("drop icmp", "drop icmp icmp-type 3 icmp-code 1"));
  EXPECT_FALSE(cov("drop icmp icmp-code 0", "drop icmp icmp-type 3"));
  EXPECT_FALSE(cov("drop icmp icmp-type 3", "drop icmp icmp-code 0 icmp-type 4"));
  EXPECT_FALSE(cov("drop icmp icmp-type 3", "drop icmpv6 icmp-type 3"));
  // icmp-type, even 0-255, is an L4 match: it does not see non-first
  // fragments, which a later rule without one does.
  EXPECT_FALSE(cov("drop icmp icmp-type 0-255", "drop icmp"));
  EXPECT_TRUE(cov("drop icmp icmp-type 0-255", "drop icmp icmp-code 5"));
  EXPECT_FALSE(cov("drop icmp icmp-code 0-255", "drop icmp frag is-fragment"));
  // Fragment bits as TCP flags.
  EXPECT_TRUE(cov("drop frag is-fragment", "drop frag is-fragment,!first-fragment"));
  EXPECT_TRUE(cov("drop frag !dont-fragment", "drop frag !dont-fragment tcp"));
  EXPECT_FALSE(cov("drop frag is-fragment", "drop frag !is-fragment"));
  EXPECT_FALSE(cov("drop frag is-fragment", "drop"));
  EXPECT_FALSE(cov("drop frag is-fragment,!first-fragment", "drop frag is-fragment"));
  EXPECT_FALSE(cov("drop frag dont-fragment", "drop frag last-fragment"));
  EXPECT_TRUE(cov("drop", "drop frag last-fragment"));
  // A comment is no match: it neither narrows nor widens.
  EXPECT_TRUE(cov("drop tcp comment \"a\"", "drop tcp dport 22 comment \"b\""));
  EXPECT_TRUE(cov("drop tcp", "drop tcp comment \"b\""));
  EXPECT_TRUE(cov("drop tcp comment \"a\"", "drop tcp"));
  // Whole rule sets: a rule with only a new match is a rule with matches,
  // and shadows nothing it does not cover.
  EXPECT_TRUE(lint({R("drop dscp 1"), R("drop tcp")}).empty());
  EXPECT_TRUE(lint({R("drop frag is-fragment"), R("drop udp dport 53")}).empty());
  EXPECT_TRUE(lint({R("drop length 0-100"), R("pass length 50-150")}).empty());
  EXPECT_TRUE(lint({R("pass comment \"x\" frag dont-fragment"), R("drop")}).empty());
  auto w = lint({R("drop dscp 0-10"), R("drop udp dscp 5")});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].message,
            "rule 2 (drop udp dscp 5) can never match: rule 1 (drop dscp 0-10) matches every packet it would "
            "match");
}

// Soundness: a claimed coverage is never contradicted by a packet.
TEST(RuleLint, NeverWrongOnRandomPackets) {
  std::mt19937 rng(4242);
  auto pick = [&](unsigned n) { return static_cast<unsigned>(rng() % n); };
  // Small vocabularies so that coverage is frequent.
  const char* fams[] = {"", "ip", "ip6"};
  const char* protos[] = {"", "tcp", "udp", "icmp", "proto 47"};
  const char* addrs4[] = {"10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "0.0.0.0/0", "@a", "@b"};
  const char* addrs6[] = {"2001:db8::/32", "2001:db8:1::/48", "::/0", "@a"};
  const char* ports[] = {"0-65535", "1-1024", "22", "20-30", "1000-2000"};
  const char* flags[] = {"syn", "syn,!ack", "!ack", "rst", "syn,ack"};
  const char* vlans[] = {"none", "0", "5", "5 inner 7", "5 inner 0"};
  const char* icmp_types[] = {"0", "3,8", "0-10", "0-255"};
  const char* dscps[] = {"0", "10", "8-12", "0,10,46", "0-63"};
  const char* lengths[] = {"60", "40-100", "100-200,300", "0-65575", "0-1500"};
  const char* frags[] = {"is-fragment",   "!is-fragment",   "first-fragment",
                         "dont-fragment", "!dont-fragment", "is-fragment,!last-fragment"};
  auto gen = [&]() {
    std::string s = "drop";
    unsigned fam = pick(3);
    unsigned pr = pick(5);
    if (pr == 3) fam = 1;  // icmp is IPv4
    if (fam) s += std::string(" ") + fams[fam];
    if (pr) s += std::string(" ") + protos[pr];
    bool v6 = fam == 2 || (fam == 0 && pick(2));  // literal prefixes of one family
    for (const char* kw : {" saddr ", " daddr "}) {
      if (pick(3)) continue;
      s += kw + std::string(v6 ? addrs6[pick(4)] : addrs4[pick(6)]);
    }
    if (pr == 1 || pr == 2) {
      if (!pick(3)) s += std::string(" sport ") + ports[pick(5)];
      if (!pick(3)) s += std::string(" dport ") + ports[pick(5)];
    }
    if (pr == 1 && !pick(3)) s += std::string(" tcp-flags ") + flags[pick(5)];
    if (!pick(3)) s += std::string(" vlan ") + vlans[pick(5)];
    // The FlowSpec matches: value lists and fragment bits.
    if (pr == 3 && !pick(3)) s += std::string(" icmp-type ") + icmp_types[pick(4)];
    if (pr == 3 && !pick(4)) s += std::string(" icmp-code ") + icmp_types[pick(4)];
    if (!pick(4)) s += std::string(" dscp ") + dscps[pick(5)];
    if (!pick(4)) s += std::string(" length ") + lengths[pick(5)];
    if (!pick(4)) s += std::string(" frag ") + frags[pick(6)];
    if (!pick(8)) s += " comment \"c\"";
    return s;
  };
  auto packet = [&]() {
    PacketFields p;
    p.family = pick(2) ? 4 : 6;
    const std::uint8_t ps[] = {6, 17, 1, 47, 58};
    p.proto = ps[pick(5)];
    p.tcp_flags = static_cast<std::uint8_t>(rng());
    p.frag = pick(4) == 0;
    const std::uint16_t pp[] = {0, 22, 25, 80, 1024, 1500, 65535};
    p.sport = pp[pick(7)];
    p.dport = pp[pick(7)];
    auto addr = [&](std::array<std::uint8_t, 16>& a) {
      if (p.family == 4) {
        const std::array<std::uint8_t, 4> v[] = {{10, 1, 2, 3}, {10, 1, 9, 9}, {10, 7, 0, 1}, {192, 0, 2, 1}};
        auto x = v[pick(4)];
        std::copy(x.begin(), x.end(), a.begin());
      } else {
        a = {0x20, 0x01, 0x0d, 0xb8, 0, static_cast<std::uint8_t>(pick(3))};
        if (pick(4) == 0) a[0] = 0xfe;
      }
    };
    addr(p.saddr);
    addr(p.daddr);
    p.nvlan = static_cast<std::uint8_t>(pick(3));
    const std::uint16_t ids[] = {0, 5, 7};
    p.vlan = {ids[pick(3)], ids[pick(3)]};
    const std::uint8_t types[] = {0, 3, 8, 11, 200};
    p.icmp_type = p.frag ? 0 : types[pick(5)];
    p.icmp_code = p.frag ? 0 : types[pick(5)];
    const std::uint8_t ds[] = {0, 8, 10, 12, 46, 63};
    p.dscp = ds[pick(6)];
    const std::uint32_t lens[] = {40, 60, 100, 150, 300, 1500, 65575};
    p.ip_len = lens[pick(7)];
    // The fragment bits of the state drawn (DF in IPv4 at times).
    if (p.frag)
      p.frag_bits = pick(2) ? kFragIsf : kFragIsf | kFragLf;
    else
      p.frag_bits = pick(4) ? 0 : kFragIsf | kFragFf;
    if (p.family == 4 && pick(2)) p.frag_bits |= kFragDf;
    return p;
  };
  // Set "a" holds 10.1.0.0/16 and 2001:db8::/32, set "b" holds 192.0.2.0/24.
  SetMembership in_set = [](const std::string& set, std::uint8_t family,
                            const std::array<std::uint8_t, 16>& a) {
    if (set == "a") return family == 4 ? (a[0] == 10 && a[1] == 1) : (a[0] == 0x20 && a[1] == 0x01);
    return family == 4 && a[0] == 192 && a[1] == 0 && a[2] == 2;
  };
  int claims = 0;
  for (int n = 0; n < 20000; ++n) {
    Rule a = R(gen()), b = R(gen());
    if (!covers(a, b)) continue;
    ++claims;
    for (int k = 0; k < 50; ++k) {
      PacketFields p = packet();
      bool mb = first_match({b}, p, in_set).has_value();
      bool ma = first_match({a}, p, in_set).has_value();
      ASSERT_TRUE(!mb || ma) << "lint claims the first rule covers the second, but a packet "
                                "matches only the second";
    }
  }
  EXPECT_GT(claims, 500);  // the property was exercised
}

}  // namespace
}  // namespace xdpguard::rules

namespace xdpguard::rules {
namespace {

std::vector<Rule> parsed_all(const std::vector<std::string>& texts) {
  std::vector<Rule> out;
  for (const auto& t : texts) {
    auto r = parse_rule(t);
    EXPECT_TRUE(r) << t;
    if (r) out.push_back(*r);
  }
  return out;
}

// More limited rules than a packet can be under (the tail-call budget):
// warned of, naming the packets that can meet them.
TEST(RuleLint, LimitDepth) {
  std::vector<std::string> texts;
  for (int i = 0; i < 16; ++i)
    texts.push_back("drop udp dport " + std::to_string(1000 + i) + " limit over 10/s");
  EXPECT_FALSE(limit_depth_warning(parsed_all(texts)));
  // A TCP rule does not meet UDP packets.
  texts.emplace_back("drop tcp limit over 10/s");
  EXPECT_FALSE(limit_depth_warning(parsed_all(texts)));
  // A rule of any protocol does.
  texts.emplace_back("drop ip limit over 10/s");
  auto w = limit_depth_warning(parsed_all(texts));
  ASSERT_TRUE(w);
  EXPECT_EQ(
      *w,
      "17 rules with limits can apply to one IPv4 UDP packet: a packet under the limits of more than 16 of "
      "them cannot be classified further and is dropped (counted in limit_resume_failed)");
  // IPv6 TCP rules do not count for IPv4 (or UDP) packets.
  texts.back() = "drop ip6 tcp limit over 10/s";
  EXPECT_FALSE(limit_depth_warning(parsed_all(texts)));
}

// lint() files earlier rules by source and destination port, and asks
// covers() only where it could hold: the same warnings as asking it of every
// earlier rule (the pairs, written out here), on random rule sets (with
// sets, /0s, nested prefixes, single ports and ranges) and on 2,000 rules that
// shadow each other in chains.
TEST(RuleLint, IndexedLintEqualsEveryPair) {
  auto pairwise = [](const std::vector<Rule>& rules) {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    for (std::size_t j = 1; j < rules.size(); ++j)
      for (std::size_t i = 0; i < j; ++i)
        if (covers(rules[i], rules[j])) {
          out.emplace_back(j, i);
          break;
        }
    return out;
  };
  auto indexed = [](const std::vector<Rule>& rules) {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    for (const auto& w : lint(rules)) out.emplace_back(w.rule_index, w.covered_by);
    return out;
  };
  std::size_t warned = 0;
  for (unsigned seed = 1; seed <= 200; ++seed) {
    test::RuleGen g(seed);
    if (seed % 2) g.use_sets(g.make_sets(3), 30);
    auto rules = g.rules(static_cast<int>(20 + seed % 60));
    const auto want = pairwise(rules);
    warned += want.size();
    ASSERT_EQ(indexed(rules), want) << "seed " << seed;
  }
  EXPECT_GT(warned, 100u);  // the random sets do shadow rules
  std::vector<Rule> chain;
  for (int i = 0; i < 2000; ++i) {
    const int len = 8 + (i % 4) * 8;
    auto r = parse_rule(fmt::format("drop udp dport {} saddr 10.{}.{}.0/{}", i % 3 ? 53 : 1000 + i, i % 7,
                                    (i / 7) % 256, len));
    ASSERT_TRUE(r);
    chain.push_back(*r);
  }
  const auto want = pairwise(chain);
  EXPECT_GT(want.size(), 100u);
  EXPECT_EQ(indexed(chain), want);
}

}  // namespace
}  // namespace xdpguard::rules
