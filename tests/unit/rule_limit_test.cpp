// Rate limits in the rule language (rules/limit.h): parsing, normalisation,
// the canonical text and its round trip, every error with its column, the
// arithmetic handed to the kernel, and what the linter makes of limits.
#include <gtest/gtest.h>

#include <cstdio>

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
      "column 17: expected a rate N/s, N/m, N/h or N/d (packets per second, minute, hour, day) or N bytes/s "
      "(kbytes, mbytes), got \"5\"");
  EXPECT_EQ(err("drop limit over 5/w"),
            "column 19: expected a unit s, m, h or d (second, minute, hour, day), got \"w\"");
  EXPECT_EQ(
      err("drop limit over x/s"),
      "column 17: expected a rate N/s, N/m, N/h or N/d (packets per second, minute, hour, day) or N bytes/s "
      "(kbytes, mbytes), got \"x/s\"");
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

TEST(RuleLimitBytes, Parses) {
  Rule r = ok("drop udp limit over 10 mbytes/second");
  ASSERT_TRUE(r.limit);
  EXPECT_TRUE(r.limit->bytes);
  EXPECT_EQ(r.limit->rate, 10u * 1024 * 1024);  // nft's units: kbytes 1024, mbytes 1024 * 1024
  EXPECT_EQ(r.limit->unit, RateUnit::Second);
  EXPECT_EQ(r.limit->burst, 0u);  // nft's default for byte limits
  EXPECT_FALSE(r.limit->per_saddr);
  EXPECT_EQ(ok("drop limit over 3 kbytes/m").limit->rate, 3072u);
  EXPECT_EQ(ok("drop limit over 3 kbytes/m").limit->unit, RateUnit::Minute);
  EXPECT_EQ(ok("drop limit over 1 bytes/hour").limit->unit, RateUnit::Hour);
  EXPECT_EQ(ok("drop limit over 1 bytes/d").limit->unit, RateUnit::Day);
  // Without /unit, per second (nft's `limit rate 10 mbytes`).
  EXPECT_EQ(ok("drop limit over 10 mbytes"), ok("drop limit over 10 mbytes/s"));
  Rule b = ok("drop ip limit over 1000 bytes/s burst 3 kbytes per saddr/24 block 1m udp");
  EXPECT_EQ(b.limit->burst, 3072u);
  EXPECT_EQ(b.limit->len4, 24);
  EXPECT_EQ(b.limit->block_seconds, 60u);
  EXPECT_TRUE(b.proto);
  EXPECT_EQ(ok("drop limit over 1 mbytes/s burst 2 mbytes").limit->burst, 2u * 1024 * 1024);
  EXPECT_EQ(ok("drop limit over 1 mbytes/s burst 0 bytes").limit->burst, 0u);
  EXPECT_EQ(ok("drop limit over 1 mbytes/s burst 4294967295 bytes").limit->burst, 4294967295u);
  // 10 Gbyte/s and the largest rate, 2^40 bytes per unit.
  EXPECT_EQ(ok("drop limit over 10240 mbytes/s").limit->rate, 10ull << 30);
  EXPECT_EQ(ok("drop limit over 1048576 mbytes/s").limit->rate, kMaxByteRate);
  EXPECT_NE(ok("drop limit over 1024 bytes/s"), ok("drop limit over 1024/s"));
}

TEST(RuleLimitBytes, CanonicalTextRoundTrips) {
  // The largest of bytes, kbytes, mbytes that is exact (nft's printer), the
  // short unit, burst always.
  EXPECT_EQ(canon("drop limit over 10 mbytes/second"), "drop limit over 10 mbytes/s burst 0 bytes");
  EXPECT_EQ(canon("drop limit over 10240 kbytes/s"), "drop limit over 10 mbytes/s burst 0 bytes");
  EXPECT_EQ(canon("drop limit over 1025 kbytes/minute burst 2048 bytes"),
            "drop limit over 1025 kbytes/m burst 2 kbytes");
  EXPECT_EQ(canon("drop limit over 1000 bytes"), "drop limit over 1000 bytes/s burst 0 bytes");
  EXPECT_EQ(canon("drop ip6 udp limit over 1 kbytes/h burst 1048576 bytes per saddr/64 block 90s"),
            "drop ip6 udp limit over 1 kbytes/h burst 1 mbytes per saddr/64 block 90s");
  int parsed = 0;
  for (const char* head : {"drop", "drop ip", "drop ip6", "pass udp", "drop tcp dport 80"})
    for (const char* rate : {"1 bytes/s", "1000 bytes/s", "7 kbytes/minute", "10 mbytes", "1048576 mbytes/s",
                             "3 bytes/h", "1 bytes/d", "1024 kbytes/d"})
      for (const char* burst : {"", " burst 0 bytes", " burst 1500 bytes", " burst 64 kbytes",
                                " burst 4095 mbytes", " burst 4294967295 bytes"})
        for (const char* per : {"", " per saddr", " per saddr/24/64", " per saddr/64"})
          for (const char* block : {"", " block 10s"}) {
            const std::string text = std::string(head) + " limit over " + rate + burst + per + block;
            auto r = parse_rule(text);
            if (!r) continue;
            ++parsed;
            EXPECT_TRUE(r->limit->bytes) << text;
            auto back = parse_rule(to_string(*r));
            ASSERT_TRUE(back) << text << " -> " << to_string(*r) << ": " << back.error().message();
            EXPECT_EQ(*back, *r) << text;
            EXPECT_EQ(to_string(*back), to_string(*r)) << text;
          }
  EXPECT_GT(parsed, 500);
}

// nft's byte cost, floor(len * unit / rate), in 128 bits.
std::uint64_t exact_cost(const Limit& l, std::uint32_t len) {
  return static_cast<std::uint64_t>(static_cast<unsigned __int128>(unit_ns(l.unit)) * len / l.rate);
}

TEST(RuleLimitBytes, Arithmetic) {
  Limit l;
  l.bytes = true;
  l.burst = 0;
  l.rate = 1000;  // 1000 bytes/s: 1 ms a byte
  EXPECT_EQ(byte_cost_ns(byte_cost(l), 100), 100'000'000u);
  EXPECT_EQ(byte_cost_ns(byte_cost(l), 1500), 1'500'000'000u);
  EXPECT_EQ(limit_depth_ns(l), 1'000'000'000u);  // nft's tokens_max: a unit's bytes (burst 0)
  l.burst = 500;
  EXPECT_EQ(limit_depth_ns(l), 1'500'000'000u);  // unit * (rate + burst) / rate
  l.rate = 3;
  l.burst = 0;
  EXPECT_EQ(byte_cost_ns(byte_cost(l), 1), 333'333'333u);  // floor, as nft
  EXPECT_EQ(byte_cost_ns(byte_cost(l), 2), 666'666'666u);
  // Lengths above the largest IP length cost the largest (the kernel clamps).
  EXPECT_EQ(byte_cost_ns(byte_cost(l), UINT32_MAX), byte_cost_ns(byte_cost(l), kMaxIpLen));
  // A packet limit's depth is burst packets.
  Limit p;
  p.rate = 200;
  p.burst = 400;
  EXPECT_EQ(limit_depth_ns(p), 400u * 5'000'000u);
}

TEST(RuleLimitBytes, FixedPointIsNftsCostWithoutOverflow) {
  // Every per-second rate: cost(len) == nft's floor(len * unit / rate) for
  // every IP length. /m, /h, /d: never below nft's, at most 1 ns above for
  // rates of 28 bytes/m, 1678 bytes/h, 40265 bytes/d and more, and within a
  // relative 2^-46 below those. No product overflows: 65575 * mult < 2^64.
  const std::uint64_t rates[] = {1,
                                 2,
                                 3,
                                 7,
                                 28,
                                 29,
                                 999,
                                 1000,
                                 1678,
                                 1679,
                                 40265,
                                 40266,
                                 1000000,
                                 1000003,
                                 10ull << 30,
                                 12345678901,
                                 kMaxByteRate - 1,
                                 kMaxByteRate};
  for (RateUnit u : {RateUnit::Second, RateUnit::Minute, RateUnit::Hour, RateUnit::Day})
    for (std::uint64_t rate : rates) {
      Limit l;
      l.bytes = true;
      l.burst = 0;
      l.rate = rate;
      l.unit = u;
      const ByteCost c = byte_cost(l);
      ASSERT_GE(c.shift, 1) << rate;
      ASSERT_LE(c.shift, 63) << rate;
      ASSERT_LE(static_cast<unsigned __int128>(c.mult) * kMaxIpLen, UINT64_MAX) << rate;
      const bool per_s = u == RateUnit::Second;
      const bool one_ns = (std::uint64_t{1} << c.shift) >= kMaxIpLen;
      std::uint64_t worst = 0;
      for (std::uint32_t len = 0; len <= kMaxIpLen; ++len) {
        const std::uint64_t got = byte_cost_ns(c, len), want = exact_cost(l, len);
        ASSERT_EQ(want, nft_byte_cost_ns(l, len));
        ASSERT_GE(got, want) << rate << " " << len;
        worst = std::max(worst, got - want);
        if (per_s) {
          ASSERT_EQ(got, want) << rate << "/s, len " << len;
        }
        if (one_ns) {
          ASSERT_LE(got - want, 1u) << rate << " per unit " << static_cast<int>(u) << ", len " << len;
        }
        // relative: (got - want) <= want * 2^-46 + 1
        ASSERT_LE(got - want, (want >> 46) + 1) << rate << " " << len;
      }
      if (worst > 0)
        std::printf("%llu bytes per unit %d: shift %d, cost up to %llu ns above nft's\n",
                    static_cast<unsigned long long>(rate), static_cast<int>(u), c.shift,
                    static_cast<unsigned long long>(worst));
    }
  // The extremes: 1 byte/day (a 65575-byte packet costs 65575 days: no
  // overflow) and 2^40 bytes/s (a 40-byte packet is free, as in nft).
  Limit slow;
  slow.bytes = true;
  slow.burst = 0;
  slow.rate = 1;
  slow.unit = RateUnit::Day;
  EXPECT_EQ(byte_cost_ns(byte_cost(slow), kMaxIpLen), std::uint64_t{kMaxIpLen} * 86'400'000'000'000u);
  Limit fast = slow;
  fast.rate = kMaxByteRate;
  fast.unit = RateUnit::Second;
  EXPECT_EQ(byte_cost_ns(byte_cost(fast), 40), 0u);
  EXPECT_EQ(byte_cost_ns(byte_cost(fast), kMaxIpLen), 59u);  // 65575e9 / 2^40
}

TEST(RuleLimitBytesErrors, NameWhatAndWhere) {
  EXPECT_EQ(err("drop limit over 0 bytes/s"),
            "column 17: a limit of 0 bytes can never be kept: expected a rate of at least 1");
  EXPECT_EQ(err("drop limit over 5 mbytes/w"),
            "column 26: expected a unit s, m, h or d (second, minute, hour, day), got \"w\"");
  EXPECT_EQ(err("drop limit over 1048577 mbytes/s"),
            "column 17: rate 1048577 mbytes/s is more than 1048576 mbytes per unit");
  EXPECT_EQ(err("drop limit over 99999999999999 bytes/s"),
            "column 17: rate 99999999999999 bytes/s is more than 1048576 mbytes per unit");
  EXPECT_EQ(err("drop limit over 5 gbytes/s"),
            "column 17: expected a rate N/s, N/m, N/h or N/d (packets per second, minute, hour, day) or N "
            "bytes/s (kbytes, mbytes), got \"5\"");
  EXPECT_EQ(err("drop limit over 5 bytes/s burst"),
            "column 32: expected a burst N bytes, kbytes or mbytes (0 to 4294967295 bytes), got end of rule");
  EXPECT_EQ(err("drop limit over 5 bytes/s burst 10"),
            "column 35: expected bytes, kbytes or mbytes after the burst 10, got end of rule");
  EXPECT_EQ(err("drop limit over 5 bytes/s burst 10 packets"),
            "column 36: expected bytes, kbytes or mbytes after the burst 10, got \"packets\"");
  EXPECT_EQ(err("drop limit over 5 bytes/s burst x bytes"),
            "column 33: expected a burst N bytes, kbytes or mbytes (0 to 4294967295 bytes), got \"x\"");
  EXPECT_EQ(err("drop limit over 5 bytes/s burst 4096 mbytes"),
            "column 33: burst 4096 mbytes is more than 4294967295 bytes");
  EXPECT_EQ(err("drop limit over 5 bytes/s burst 4294967296 bytes"),
            "column 33: burst 4294967296 is more than 4294967295 bytes");
  EXPECT_EQ(err("drop limit over 1 bytes/d burst 4095 mbytes"),
            "column 27: burst 4095 mbytes at 1 bytes/d would take more than 146 years to refill");
  EXPECT_EQ(err("drop limit over 5 bytes/s burst 1 bytes burst 2 bytes"),
            "column 41: duplicate burst in limit (column 27)");
  EXPECT_EQ(err("pass ip limit over 5 kbytes/s per saddr block 1m"),
            "column 9: block needs the drop action (blocked sources are dropped)");
  EXPECT_EQ(
      err("drop limit over 5 kbytes/s per saddr/24"),
      "column 6: per saddr/24 in a rule of both families: give the IPv6 length too (per saddr/24/64), or "
      "restrict the rule to ip or ip6");
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
  // Byte limits alike.
  EXPECT_FALSE(covers(R("drop udp limit over 10 mbytes/s"), R("pass udp")));
  EXPECT_TRUE(covers(R("drop udp"), R("drop udp dport 53 limit over 10 mbytes/s per saddr")));
  EXPECT_TRUE(lint({R("drop udp limit over 1 kbytes/s per saddr"), R("pass udp dport 53")}).empty());
}

}  // namespace
}  // namespace xdpguard::rules
