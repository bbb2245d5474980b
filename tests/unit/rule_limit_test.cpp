// Rate limits in the rule language (rules/limit.h): parsing, normalisation,
// the canonical text and its round trip, every error with its column, the
// arithmetic handed to the kernel, and what the linter makes of limits.
#include <gtest/gtest.h>

#include "rules/lint.h"
#include "rules/parser.h"
#include "support/rule_text.h"
#include "rules/printer.h"

namespace xdpguard::rules {
namespace {

using test::canon;
using test::err;
using test::ok;

TEST(RuleLimit, Parses) {
  Rule r = ok("drop tcp tcp-flags syn,!ack limit over 200/s burst 400 per saddr");
  ASSERT_TRUE(r.limit);
  EXPECT_EQ(r.limit->rate, 200u);
  EXPECT_EQ(r.limit->unit, RateUnit::Second);
  EXPECT_EQ(r.limit->burst, 400u);
  EXPECT_TRUE(r.limit->per_saddr);
  EXPECT_EQ(r.limit->len4, 32);
  EXPECT_EQ(r.limit->len6, 128);
  EXPECT_EQ(r.limit->block_seconds, 0u);
  EXPECT_EQ(r.flags_mask, 0x12);  // the rest of the rule is untouched

  Rule agg = ok("drop udp dport 53 limit over 50000/s");
  ASSERT_TRUE(agg.limit);
  EXPECT_EQ(agg.limit->burst, kDefaultBurst);
  EXPECT_FALSE(agg.limit->per_saddr);

  Rule blk = ok("drop ip udp limit over 10000/second per saddr/24 block 60s");
  ASSERT_TRUE(blk.limit);
  EXPECT_EQ(blk.limit->len4, 24);
  EXPECT_EQ(blk.limit->block_seconds, 60u);

  EXPECT_EQ(ok("drop ip6 limit over 5/m per saddr/64").limit->len6, 64);
  Rule both = ok("drop limit over 1/h per saddr/24/48");
  EXPECT_EQ(both.limit->len4, 24);
  EXPECT_EQ(both.limit->len6, 48);
  EXPECT_EQ(ok("drop limit over 3/day").limit->unit, RateUnit::Day);
  // Matches after the clause are read as matches.
  Rule after = ok("drop limit over 10/s burst 2 udp dport 53");
  EXPECT_EQ(after.limit->burst, 2u);
  EXPECT_TRUE(after.dport);
  EXPECT_EQ(after, ok("drop udp dport 53 limit over 10/s burst 2"));
}

TEST(RuleLimit, CanonicalTextRoundTrips) {
  EXPECT_EQ(canon("drop udp dport 53 limit over 50000/s"), "drop udp dport 53 limit over 50000/s burst 5");
  EXPECT_EQ(canon("drop ip udp limit over 10000/second per saddr/24 block 60s"),
            "drop ip udp limit over 10000/s burst 5 per saddr/24 block 1m");
  EXPECT_EQ(canon("drop ip limit over 1/s per saddr/32"), "drop ip limit over 1/s burst 5 per saddr");
  EXPECT_EQ(canon("drop ip6 limit over 1/minute burst 9 per saddr/64 block 90s"),
            "drop ip6 limit over 1/m burst 9 per saddr/64 block 90s");
  EXPECT_EQ(canon("drop limit over 7/h per saddr/24/64 block 2d"),
            "drop limit over 7/h burst 5 per saddr/24/64 block 2d");
  EXPECT_EQ(canon("pass limit over 7/d per saddr"), "pass limit over 7/d burst 5 per saddr");
  for (const char* text :
       {"drop tcp tcp-flags syn,!ack limit over 200/s burst 400 per saddr", "drop limit over 1/s",
        "drop ip6 udp limit over 1000000000/s burst 1000000000 per saddr/64 block 7d",
        "redirect xsk udp limit over 3/s", "drop saddr @bad limit over 9/m per saddr/24/56 block 1h"}) {
    Rule r = ok(text);
    EXPECT_EQ(ok(to_string(r)), r) << text;
    EXPECT_EQ(to_string(ok(to_string(r))), to_string(r)) << text;
  }
}

TEST(RuleLimit, EveryCombinationRoundTrips) {
  // Families x rates x bursts x keys x blocks: whatever parses prints to a
  // text that parses to the same rule and prints the same.
  int parsed = 0;
  for (const char* head : {"drop", "drop ip", "drop ip6", "pass udp", "drop saddr 198.18.0.0/15", "drop tcp"})
    for (const char* rate : {"1/s", "7/minute", "1000000000/s", "3/h", "1/d"})
      for (const char* burst : {"", " burst 1", " burst 1000000000"})
        for (const char* per : {"", " per saddr", " per saddr/0", " per saddr/24", " per saddr/64",
                                " per saddr/24/64", " per saddr/32/128", " per saddr/0/0"})
          for (const char* block : {"", " block 1s", " block 90m", " block 7d"}) {
            const std::string text = std::string(head) + " limit over " + rate + burst + per + block;
            auto r = parse_rule(text);
            if (!r) continue;
            ++parsed;
            auto back = parse_rule(to_string(*r));
            ASSERT_TRUE(back) << text << " -> " << to_string(*r) << ": " << back.error().message();
            EXPECT_EQ(*back, *r) << text;
            EXPECT_EQ(to_string(*back), to_string(*r)) << text;
          }
  EXPECT_GT(parsed, 500);
}

TEST(RuleLimit, Arithmetic) {
  Limit l;
  l.rate = 200;
  l.burst = 400;
  EXPECT_EQ(limit_cost_ns(l), 5'000'000u);
  EXPECT_EQ(limit_tau_ns(l), 399u * 5'000'000u);
  l.rate = 3;
  l.unit = RateUnit::Second;
  l.burst = 1;
  EXPECT_EQ(limit_cost_ns(l), 333'333'333u);  // integer division, as nft
  EXPECT_EQ(limit_tau_ns(l), 0u);
  l.unit = RateUnit::Day;
  l.rate = 1;
  EXPECT_EQ(limit_cost_ns(l), 86'400'000'000'000u);
}

TEST(RuleLimitErrors, NameWhatAndWhere) {
  EXPECT_EQ(err("drop limit over 0/s"),
            "column 17: a limit of 0 packets can never be kept: expected a rate of at least 1");
  EXPECT_EQ(
      err("drop limit 5/s"),
      "column 12: expected over after limit (a rule matches the packets over its rate: limit over 200/s), "
      "got \"5/s\"");
  EXPECT_EQ(
      err("drop limit"),
      "column 11: expected over after limit (a rule matches the packets over its rate: limit over 200/s), "
      "got end of rule");
  EXPECT_EQ(
      err("drop limit over 5"),
      "column 17: expected a rate N/s, N/m, N/h or N/d (packets per second, minute, hour, day), got \"5\"");
  EXPECT_EQ(err("drop limit over 5/w"),
            "column 19: expected a unit s, m, h or d (second, minute, hour, day), got \"w\"");
  EXPECT_EQ(
      err("drop limit over x/s"),
      "column 17: expected a rate N/s, N/m, N/h or N/d (packets per second, minute, hour, day), got \"x/s\"");
  EXPECT_EQ(err("drop limit over 2000000000/s"),
            "column 17: rate 2000000000/s is more than 1000000000 packets per unit");
  EXPECT_EQ(err("drop limit over 5/s burst 0"), "column 27: burst must be at least 1 packet, got 0");
  EXPECT_EQ(err("drop limit over 5/s burst 99999999999"),
            "column 27: burst 99999999999 is more than 1000000000 packets");
  EXPECT_EQ(err("drop limit over 1/d burst 1000000000"),
            "column 21: burst 1000000000 at 1/d would take more than 146 years to refill");
  EXPECT_EQ(err("drop limit over 5/s burst"),
            "column 26: expected a burst in packets (1 to 1000000000), got end of rule");
  EXPECT_EQ(err("drop limit over 5/s burst 2 burst 3"), "column 29: duplicate burst in limit (column 21)");
  EXPECT_EQ(err("drop limit over 5/s limit over 6/s"), "column 21: duplicate limit (limit at column 6)");
  EXPECT_EQ(
      err("drop limit over 5/s per daddr"),
      "column 25: expected saddr or saddr/LEN after per (the source address or its prefix), got \"daddr\"");
  EXPECT_EQ(err("drop ip limit over 5/s per saddr/33"),
            "column 9: per saddr/33: an IPv4 prefix length is 0-32");
  EXPECT_EQ(err("drop ip6 limit over 5/s per saddr/129"),
            "column 35: expected a prefix length 0-32 (IPv4) or 0-128 (IPv6), got \"129\"");
  EXPECT_EQ(err("drop ip limit over 5/s per saddr/x"),
            "column 34: expected a prefix length 0-32 (IPv4) or 0-128 (IPv6), got \"x\"");
  EXPECT_EQ(
      err("drop limit over 5/s per saddr/24"),
      "column 6: per saddr/24 in a rule of both families: give the IPv6 length too (per saddr/24/64), or "
      "restrict the rule to ip or ip6");
  EXPECT_EQ(err("drop ip limit over 5/s per saddr/24/64"),
            "column 9: per saddr/24/64 in an IPv4 rule: give one length (per saddr/24)");
  EXPECT_EQ(err("pass ip limit over 5/s per saddr block 1m"),
            "column 9: block needs the drop action (blocked sources are dropped)");
  EXPECT_EQ(
      err("drop ip limit over 5/s block 1m"),
      "column 9: block needs per saddr or per saddr/LEN: it blocks the source (or its prefix) that went "
      "over the limit");
  EXPECT_EQ(err("drop ip limit over 5/s per saddr/0 block 1m"),
            "column 9: block with per saddr/0 would block every source once one went over the limit: give a "
            "longer prefix");
  EXPECT_EQ(err("drop limit over 5/s per saddr/24/0 block 1m"),
            "column 6: block with per saddr/0 would block every source once one went over the limit: give a "
            "longer prefix");
  EXPECT_TRUE(parse_rule("drop ip limit over 5/s per saddr/0"));  // without block: one bucket per family
  EXPECT_EQ(err("drop ip limit over 5/s per saddr block 0s"),
            "column 40: block duration must be at least 1s, got 0");
  EXPECT_EQ(err("drop ip limit over 5/s per saddr block 8d"),
            "column 40: block duration 8d is longer than 7d");
  EXPECT_EQ(err("drop ip limit over 5/s per saddr block 10"),
            "column 40: expected a duration N followed by s, m, h or d (1s to 7d), got \"10\"");
}

TEST(RuleLimitLint, ALimitedRuleCoversNothing) {
  auto R = [](std::string_view t) { return ok(t); };
  // Packets under the limit go on: a limited rule hides no later rule.
  EXPECT_FALSE(covers(R("drop limit over 5/s"), R("drop tcp dport 22")));
  EXPECT_FALSE(covers(R("drop udp limit over 5/s"), R("pass udp")));
  // A rule without a limit hides a later limited rule it covers.
  EXPECT_TRUE(covers(R("drop udp"), R("drop udp dport 53 limit over 5/s")));
  auto w = lint({R("drop udp limit over 5/s per saddr"), R("pass udp dport 53")});
  EXPECT_TRUE(w.empty());
  w = lint({R("pass udp"), R("drop udp dport 53 limit over 5/s")});
  EXPECT_EQ(w.size(), 1u);
}

}  // namespace
}  // namespace xdpguard::rules
