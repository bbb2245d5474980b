// The rate limiter in the kernel (bpf/include/xdpguard/limiter.h), driven by
// BPF_PROG_TEST_RUN on the whole pipeline (parser -> classifier -> limiter)
// with the test clock (GuardConfig::fake_clock): token buckets at their
// edges (burst, refill to the nanosecond), keys (one bucket per rule, per
// source, per IPv4 /24 and IPv6 /64 prefix), limited rules in a row,
// a changed limit taking effect at once, auto-block and its expiry, and the
// counters. (What a limit costs per packet, with 1 and 1,000,000 tracked
// sources, is a row of bench/classifier: `make bench`.)
#include <linux/bpf.h>

#include <gtest/gtest.h>

#include <cstdio>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "bpf/test_run.h"
#include "guard/guard.h"
#include "rules/parser.h"
#include "rules/printer.h"
#include "support/classifier_fixture.h"
#include "support/packet.h"
#include "support/privileged.h"

namespace xdpguard::test {
namespace {

constexpr std::uint64_t kT0 = 1000 * kSec;  // the test clock's start

Bytes udp4(const char* src, std::uint16_t dport = 53) {
  return Packet().eth().ipv4(src, "198.18.0.254").udp(1000, dport).bytes();
}
Bytes tcp4(const char* src) { return Packet().eth().ipv4(src, "198.18.0.254").tcp(1000, 80).bytes(); }
Bytes udp6(const char* src) { return Packet().eth().ipv6(src, "fd00::fe").udp(1000, 53).bytes(); }
// UDP datagrams of `ip_len` bytes of IP (header included: what a byte
// limit charges).
Bytes udp4_sized(const char* src, std::size_t ip_len) {
  return Packet().eth().ipv4(src, "198.18.0.254").udp(1000, 53).payload(ip_len - 28).bytes();
}
Bytes udp6_sized(const char* src, std::size_t ip_len) {
  return Packet().eth().ipv6(src, "fd00::fe").udp(1000, 53).payload(ip_len - 48).bytes();
}

class LimiterTest : public ClassifierFixture {
 protected:
  GuardConfig config() const override {
    GuardConfig cfg;
    cfg.fake_clock = true;
    cfg.limit_buckets = 1024;
    cfg.block_entries = 64;
    return cfg;
  }
  void SetUp() override {
    ClassifierFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    at(kT0);
  }
  void at(std::uint64_t ns) {
    now_ = ns;
    auto r = guard_->set_fake_now(ns);
    ASSERT_TRUE(r) << r.error().message();
  }
  void later(std::uint64_t ns) { at(now_ + ns); }
  void rules(const std::vector<std::string>& texts) {
    auto r = guard_->replace_rules(texts);
    ASSERT_TRUE(r) << r.error().message();
  }
  std::uint32_t verdict(const Bytes& frame) {
    auto r = test_run(prog_->prog_fd(), frame);
    EXPECT_TRUE(r) << r.error().message();
    return r ? r->verdict : 0xffffffff;
  }
  // Verdicts of n copies of frame, as a string of 'p' (pass) and 'd' (drop).
  std::string run(const Bytes& frame, int n) {
    std::string s;
    for (int i = 0; i < n; i++) {
      auto v = verdict(frame);
      s += v == XDP_PASS ? 'p' : v == XDP_DROP ? 'd' : '?';
    }
    return s;
  }
  xdpguard_counter ddos(int idx) {
    auto s = guard_->ddos_stats();
    EXPECT_TRUE(s) << s.error().message();
    return s ? s->counters[idx] : xdpguard_counter{};
  }
  std::uint64_t rule_packets(std::uint32_t id) {
    auto st = guard_->stats();
    EXPECT_TRUE(st);
    for (const auto& r : st->rules)
      if (r.id == id) return r.counter.packets;
    return 0;
  }
  std::uint64_t now_ = 0;
};

TEST_F(LimiterTest, BurstThenOverUntilRefilled) {
  // 10/s: a packet costs 100 ms; burst 3.
  rules({"drop udp limit over 10/s burst 3"});
  EXPECT_EQ(run(udp4("198.18.1.1"), 5), "pppdd");
  later(100'000'000 - 1);  // one ns short of a token
  EXPECT_EQ(run(udp4("198.18.1.1"), 1), "d");
  later(1);
  EXPECT_EQ(run(udp4("198.18.1.1"), 2), "pd");
  later(250'000'000);  // two and a half tokens
  EXPECT_EQ(run(udp4("198.18.1.1"), 3), "ppd");
  later(10 * kSec);  // idle: full again, never more than burst
  EXPECT_EQ(run(udp4("198.18.1.1"), 4), "pppd");
  // No key: every source shares the rule's bucket.
  EXPECT_EQ(run(udp4("198.18.9.9"), 1), "d");
  // Packets the rule's other matches exclude are not charged.
  EXPECT_EQ(run(tcp4("198.18.1.1"), 3), "ppp");
}

TEST_F(LimiterTest, OverMatchesUnderGoesOnToLaterRules) {
  rules({"pass udp limit over 10/s burst 2", "drop udp dport 53", "pass"});
  // Under the limit: rule 1 does not match, rule 2 drops. Over it: rule 1 passes.
  EXPECT_EQ(run(udp4("198.18.1.1"), 4), "ddpp");
  auto ids = guard_->rules();
  ASSERT_TRUE(ids);
  EXPECT_EQ(rule_packets((*ids)[0].id), 2u);
  EXPECT_EQ(rule_packets((*ids)[1].id), 2u);
  EXPECT_EQ(ddos(XDPGUARD_DDOS_LIMIT_OVER).packets, 2u);
  EXPECT_EQ(ddos(XDPGUARD_DDOS_LIMIT_UNDER).packets, 2u);
}

TEST_F(LimiterTest, LimitedRulesInARow) {
  // Per source first, then the aggregate, then a plain rule.
  rules({"drop ip udp limit over 1/s burst 1 per saddr", "drop udp limit over 1/s burst 3",
         "pass udp dport 53", "drop"});
  // Source a: 1st under both, 2nd over rule 1.
  EXPECT_EQ(run(udp4("198.18.1.1"), 2), "pd");
  // Sources b, c: under rule 1 (own buckets), under rule 2 (2nd, 3rd token).
  EXPECT_EQ(run(udp4("198.18.1.2"), 1), "p");
  EXPECT_EQ(run(udp4("198.18.1.3"), 1), "p");
  // Source d: under rule 1, over rule 2.
  EXPECT_EQ(run(udp4("198.18.1.4"), 1), "d");
  // Not UDP port 53: under rule 1 and 2 would fall to "drop" anyway; a TCP
  // packet meets no limited rule.
  EXPECT_EQ(run(tcp4("198.18.1.5"), 1), "d");
  // Twenty limited rules, all under, then pass: past the resume limit the
  // rules after cannot be looked at, and the packet takes the stricter
  // verdict, drop, counted (it used to pass: issue 16).
  std::vector<std::string> many;
  for (int i = 0; i < 20; i++) many.push_back("drop udp limit over " + std::to_string(1000 + i) + "/s");
  many.emplace_back("pass");
  rules(many);
  EXPECT_EQ(run(udp4("198.18.1.1"), 1), "d");
  EXPECT_EQ(ddos(XDPGUARD_DDOS_RESUME_FAILED).packets, 1u);
}

TEST_F(LimiterTest, PerSourceAndPerPrefixKeys) {
  rules({"drop ip udp limit over 1/s burst 2 per saddr", "drop ip6 udp limit over 1/s burst 2 per saddr/64",
         "drop ip tcp limit over 1/s burst 2 per saddr/24"});
  EXPECT_EQ(run(udp4("198.18.1.1"), 3), "ppd");
  EXPECT_EQ(run(udp4("198.18.1.2"), 3), "ppd");  // its own bucket
  // IPv6 /64: two hosts of one /64 share a bucket, another /64 has its own.
  EXPECT_EQ(run(udp6("fd00:0:0:1::1"), 1), "p");
  EXPECT_EQ(run(udp6("fd00:0:0:1:ffff::2"), 2), "pd");
  EXPECT_EQ(run(udp6("fd00:0:0:2::1"), 3), "ppd");
  // IPv4 /24.
  EXPECT_EQ(run(tcp4("198.18.5.1"), 1), "p");
  EXPECT_EQ(run(tcp4("198.18.5.200"), 2), "pd");
  EXPECT_EQ(run(tcp4("198.18.6.1"), 3), "ppd");
  auto s = guard_->ddos_stats();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->buckets, 6u);
  EXPECT_EQ(s->counters[XDPGUARD_DDOS_BUCKET_NEW].packets, 6u);
  EXPECT_EQ(s->bucket_capacity, 1024u);
}

TEST_F(LimiterTest, BucketsEvictedUnderSpoofedSourcesAggregateHolds) {
  // 2,000 sources through a 1,024-bucket LRU map: per-source buckets churn,
  // the aggregate rule after it still holds its rate exactly.
  rules({"drop ip udp limit over 1/s burst 1 per saddr", "drop udp limit over 10/s burst 10", "pass"});
  int passed = 0;
  for (int i = 0; i < 2000; i++) {
    char src[32];
    std::snprintf(src, sizeof src, "198.18.%d.%d", 10 + i / 250, 1 + i % 250);
    passed += verdict(udp4(src)) == XDP_PASS;
  }
  EXPECT_EQ(passed, 10);
  auto s = guard_->ddos_stats();
  ASSERT_TRUE(s);
  EXPECT_LE(s->buckets, 1024u);
  EXPECT_GE(s->bucket_evictions, 2000u - 1024u);
}

TEST_F(LimiterTest, ChangedLimitTakesEffectAtOnce) {
  rules({"drop ip udp limit over 10/s burst 2 per saddr", "drop udp limit over 10/s burst 2"});
  EXPECT_EQ(run(udp4("198.18.1.1"), 5), "ppddd");
  // An unrelated change keeps the buckets (and the ids, and counters).
  rules({"drop ip udp limit over 10/s burst 2 per saddr", "drop udp limit over 10/s burst 2", "drop tcp"});
  EXPECT_EQ(run(udp4("198.18.1.1"), 1), "d");
  // A new rate: every bucket of the changed rules starts again, full, at it.
  rules({"drop ip udp limit over 20/s burst 3 per saddr", "drop udp limit over 10/s burst 4", "drop tcp"});
  // 3 under rule 1 (and charged to rule 2), then over rule 1.
  EXPECT_EQ(run(udp4("198.18.1.1"), 5), "pppdd");
  later(50'000'000);  // one token at 20/s; rule 2 (10/s burst 4) has one left
  EXPECT_EQ(run(udp4("198.18.1.1"), 2), "pd");
}

TEST_F(LimiterTest, BlockDropsTheSourceUntilItExpires) {
  rules({"drop ip udp limit over 10/s burst 1 per saddr/24 block 5s"});
  EXPECT_EQ(run(udp4("198.18.1.1"), 2), "pd");
  // The /24 is blocked before any rule: TCP too, and a neighbour.
  EXPECT_EQ(run(tcp4("198.18.1.1"), 1), "d");
  EXPECT_EQ(run(tcp4("198.18.1.77"), 1), "d");
  EXPECT_EQ(run(tcp4("198.18.2.1"), 1), "p");
  auto b = guard_->blocked();
  ASSERT_TRUE(b) << b.error().message();
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ(rules::prefix_to_string((*b)[0].prefix), "198.18.1.0/24");
  EXPECT_EQ((*b)[0].expires_in_ns, 5 * kSec);
  EXPECT_EQ((*b)[0].packets, 2u);
  EXPECT_EQ(ddos(XDPGUARD_DDOS_BLOCKED).packets, 2u);
  EXPECT_EQ(ddos(XDPGUARD_DDOS_BLOCK_ADDED).packets, 1u);
  later(5 * kSec - 1);
  EXPECT_EQ(run(tcp4("198.18.1.1"), 1), "d");
  later(1);  // expired, with no userspace involved
  EXPECT_EQ(run(tcp4("198.18.1.1"), 1), "p");
  b = guard_->blocked();
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->empty());
  // Blocked again, then unblocked by hand.
  later(kSec);
  EXPECT_EQ(run(udp4("198.18.1.9"), 2), "pd");
  EXPECT_EQ(run(tcp4("198.18.1.1"), 1), "d");
  auto addr = rules::parse_prefix("198.18.1.5");
  ASSERT_TRUE(addr);
  auto removed = guard_->unblock(*addr);
  ASSERT_TRUE(removed) << removed.error().message();
  EXPECT_EQ(removed->size(), 1u);
  EXPECT_EQ(run(tcp4("198.18.1.1"), 1), "p");
  auto again = guard_->unblock(*addr);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message(), "198.18.1.5 is not blocked");
}

TEST_F(LimiterTest, BlockIPv6Prefix) {
  rules({"drop ip6 limit over 1/s burst 1 per saddr/48 block 1m"});
  EXPECT_EQ(run(udp6("fd00:1:2:3::1"), 2), "pd");
  EXPECT_EQ(run(udp6("fd00:1:2:ffff::9"), 1), "d");  // same /48, blocked
  EXPECT_EQ(run(udp6("fd00:1:3::1"), 1), "p");
  auto b = guard_->blocked();
  ASSERT_TRUE(b);
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ(rules::prefix_to_string((*b)[0].prefix), "fd00:1:2::/48");
}

// Issue 16: a spoofed flood made a block of a trusted host's /24, and the
// block was checked before every rule. A block is a match at its rule's
// position: an earlier rule that matches still wins.
TEST_F(LimiterTest, ABlockDropsOnlyWhatReachesItsRule) {
  rules({"pass udp saddr 198.18.100.7",
         "drop ip udp dport 7000 limit over 100/s burst 1 per saddr/24 block 60s", "pass"});
  // Spoofed sources of the trusted host's /24 trip the limit: blocked.
  EXPECT_EQ(run(udp4("198.18.100.9", 7000), 2), "pd");
  auto b = guard_->blocked();
  ASSERT_TRUE(b) << b.error().message();
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ(rules::prefix_to_string((*b)[0].prefix), "198.18.100.0/24");
  // The trusted host is passed by rule 1, before the block: every protocol
  // and port of it, its UDP to 7000 too.
  EXPECT_EQ(run(udp4("198.18.100.7", 7000), 5), "ppppp");
  EXPECT_EQ(run(udp4("198.18.100.7", 53), 3), "ppp");
  // Its neighbours reach rule 2's position: the block drops them, any port
  // and protocol (and counts them for rule 2).
  EXPECT_EQ(run(udp4("198.18.100.10", 53), 2), "dd");
  EXPECT_EQ(run(tcp4("198.18.100.11"), 1), "d");
  EXPECT_EQ(run(udp4("198.18.101.1", 53), 1), "p");
  auto ids = guard_->rules();
  ASSERT_TRUE(ids);
  EXPECT_EQ(rule_packets((*ids)[0].id), 8u);
  EXPECT_EQ(rule_packets((*ids)[1].id), 1u + 3u);  // the over-limit drop, then the block's three
  EXPECT_EQ(ddos(XDPGUARD_DDOS_BLOCKED).packets, 3u);
  b = guard_->blocked();
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)[0].packets, 3u);
}

// Blocks of two rules: each one drops from its own rule's position, so a
// rule between them wins over the later block and loses to the earlier one.
TEST_F(LimiterTest, BlocksOfSeveralRulesInPositionOrder) {
  rules({"drop ip udp dport 1000 limit over 10/s burst 1 per saddr block 20s", "pass ip tcp dport 22",
         "drop ip udp limit over 10/s burst 1 per saddr/24 block 20s", "pass"});
  auto tcp22 = Packet().eth().ipv4("198.18.5.5", "198.18.0.254").tcp(1000, 22).bytes();
  // Rule 3 blocks 198.18.5.0/24.
  EXPECT_EQ(run(udp4("198.18.5.5"), 2), "pd");
  // Rule 2 comes before that block: SSH passes.
  EXPECT_EQ(run(tcp22, 1), "p");
  // UDP to 1000: under rule 1's limit, on to rule 3's position: blocked.
  EXPECT_EQ(run(udp4("198.18.5.5", 1000), 1), "d");
  // Over rule 1's limit: rule 1 blocks 198.18.5.5 too, at position 1 ...
  EXPECT_EQ(run(udp4("198.18.5.5", 1000), 1), "d");
  // ... before rule 2: now SSH from it is dropped, counted for rule 1.
  EXPECT_EQ(run(tcp22, 1), "d");
  auto ids = guard_->rules();
  ASSERT_TRUE(ids);
  EXPECT_EQ(rule_packets((*ids)[0].id), 2u);  // its over-limit drop and its block's
  EXPECT_EQ(rule_packets((*ids)[1].id), 1u);
  EXPECT_EQ(rule_packets((*ids)[2].id), 2u);  // its over-limit drop and its block's
  EXPECT_EQ(ddos(XDPGUARD_DDOS_BLOCKED).packets, 2u);
}

// Issue 16: the block list was an LRU map: spoofing more prefixes than it
// holds evicted the blocks that mattered (fail open). It is a plain hash
// now: a full list makes no new blocks (counted), and the limit still drops
// what is over it.
TEST_F(LimiterTest, SpoofedPrefixesCannotFlushTheBlockList) {
  rules({"drop ip udp limit over 10/s burst 1 per saddr block 60s", "pass"});
  EXPECT_EQ(run(udp4("198.18.1.1"), 2), "pd");
  EXPECT_EQ(run(tcp4("198.18.1.1"), 1), "d");  // blocked
  // 200 more sources over the limit, into a list of 64 entries.
  for (int i = 0; i < 200; ++i) {
    const auto src = fmt::format("198.18.{}.{}", 2 + i / 200, 1 + i % 200);
    EXPECT_EQ(run(udp4(src.c_str()), 2), "pd") << src;
  }
  EXPECT_EQ(ddos(XDPGUARD_DDOS_BLOCK_ADDED).packets, 64u);
  EXPECT_EQ(ddos(XDPGUARD_DDOS_BLOCK_FAILED).packets, 200u - 63u);
  // The first block holds.
  EXPECT_EQ(run(tcp4("198.18.1.1"), 1), "d");
  // Once blocks expire, a full list makes room: the sweep deletes the
  // expired ones (at most once a second) and the new block goes in.
  later(61 * kSec);
  EXPECT_EQ(run(tcp4("198.18.1.1"), 1), "p");
  EXPECT_EQ(run(udp4("198.18.9.9"), 2), "pd");
  EXPECT_EQ(run(tcp4("198.18.9.9"), 1), "d");
  auto b = guard_->blocked();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size(), 1u);
}

// never-block: a block that would cover a never-block prefix (or lie in one)
// is not made; the limit still applies. Setting the list lifts the blocks in
// force that cover it.
TEST_F(LimiterTest, NeverBlockPrefixesAreNeverBlocked) {
  rules({"drop ip udp limit over 10/s burst 1 per saddr/24 block 60s", "pass"});
  auto p7 = rules::parse_prefix("198.18.100.7");
  auto net = rules::parse_prefix("198.18.200.0/24");
  ASSERT_TRUE(p7 && net);
  ASSERT_TRUE(guard_->set_never_block({*p7, *net}));
  // A spoofed neighbour of .7: over the limit, but its /24 holds .7.
  EXPECT_EQ(run(udp4("198.18.100.9"), 3), "pdd");
  EXPECT_EQ(run(tcp4("198.18.100.7"), 1), "p");
  EXPECT_EQ(run(tcp4("198.18.100.9"), 1), "p");
  // Inside a never-block /24: the same.
  EXPECT_EQ(run(udp4("198.18.200.50"), 2), "pd");
  EXPECT_EQ(run(tcp4("198.18.200.50"), 1), "p");
  EXPECT_EQ(ddos(XDPGUARD_DDOS_BLOCK_SKIPPED).packets, 3u);
  EXPECT_EQ(ddos(XDPGUARD_DDOS_BLOCK_ADDED).packets, 0u);
  // Elsewhere blocks are made as before.
  EXPECT_EQ(run(udp4("198.18.101.9"), 2), "pd");
  EXPECT_EQ(run(tcp4("198.18.101.1"), 1), "d");
  // A never-block list that covers it lifts that block.
  auto p101 = rules::parse_prefix("198.18.101.1");
  ASSERT_TRUE(p101);
  ASSERT_TRUE(guard_->set_never_block({*p7, *net, *p101}));
  EXPECT_EQ(run(tcp4("198.18.101.1"), 1), "p");
  auto listed = guard_->never_block();
  ASSERT_TRUE(listed) << listed.error().message();
  std::vector<std::string> texts;
  for (const auto& p : *listed) texts.push_back(rules::prefix_to_string(p));
  EXPECT_EQ(texts, (std::vector<std::string>{"198.18.100.7", "198.18.101.1", "198.18.200.0/24"}));
  ASSERT_TRUE(guard_->set_never_block({}));
  listed = guard_->never_block();
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
}

TEST_F(LimiterTest, TheLargestRuleSetsOfLimitedRulesLoad) {
  // Limited rules are chain rules with one more branch each (the resume
  // check): 16,384 of them, the most an interface holds, must still load.
  for (int n : {2000, 16384}) {
    std::vector<std::string> many;
    for (int i = 0; i < n; i++)
      many.push_back(fmt::format("drop {} dport {} limit over {}/s{}", i % 3 ? "udp" : "tcp", i % 60000,
                                 1 + i % 1000, i % 2 ? " per saddr" : ""));
    auto t0 = std::chrono::steady_clock::now();
    auto ids = guard_->replace_rules(many);
    ASSERT_TRUE(ids) << n << " rules: " << ids.error().message();
    std::printf("%d limited rules loaded in %.1f s\n", n,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  // The last UDP rule (16,383rd: udp dport 16382, 383/s, one bucket) still
  // works: over its limit after the burst.
  EXPECT_EQ(run(udp4("198.18.1.1", 16382), 6), "pppppd");
}

TEST_F(LimiterTest, ByteLimitChargesTheIpLength) {
  // 1000 bytes/s, nft's default burst 0: the bucket holds a second's bytes.
  rules({"drop udp limit over 1000 bytes/s"});
  const Bytes small = udp4_sized("198.18.1.1", 100), big = udp4_sized("198.18.1.1", 1500);
  EXPECT_EQ(run(small, 11), "ppppppppppd");
  later(100'000'000 - 1);  // 100 bytes are 100 ms: one ns short
  EXPECT_EQ(run(small, 1), "d");
  later(1);
  EXPECT_EQ(run(small, 2), "pd");
  // Steady state: a 100-byte packet every 10 ms (10 kbytes/s offered), 10
  // a second pass, for 3 seconds.
  std::string got;
  for (int i = 0; i < 300; ++i) {
    later(10'000'000);
    got += run(small, 1);
  }
  EXPECT_EQ(std::count(got.begin(), got.end(), 'p'), 30) << got;
  for (int i = 0; i < 300; i += 10) EXPECT_EQ(got.substr(i, 10), "dddddddddp") << i;
  // A 1500-byte packet never fits a 1000-byte bucket, not even full; it
  // leaves the bucket as it was.
  later(10 * kSec);
  EXPECT_EQ(run(big, 3), "ddd");
  EXPECT_EQ(run(udp6_sized("fd00::1", 1500), 1), "d");
  EXPECT_EQ(run(small, 11), "ppppppppppd");
  // IPv6 counts its header too: 100 bytes of IP are 100 ms.
  later(kSec);
  EXPECT_EQ(run(udp6_sized("fd00::1", 100), 11), "ppppppppppd");
  // A mix: 10 ms of 1 byte/ms after a 999-byte packet on a full bucket.
  later(kSec);
  EXPECT_EQ(run(udp4_sized("198.18.1.1", 999), 1), "p");
  EXPECT_EQ(run(udp4_sized("198.18.1.1", 28), 1), "d");
  later(27'000'000);
  EXPECT_EQ(run(udp4_sized("198.18.1.1", 28), 2), "pd");
  // Packets the rule's other matches exclude are not charged.
  EXPECT_EQ(run(tcp4("198.18.1.1"), 3), "ppp");
}

TEST_F(LimiterTest, ByteLimitBurstAndRuleOrder) {
  // burst 500 bytes: the bucket holds 1500 bytes (unit * (rate + burst) /
  // rate, nft's tokens_max), a 1500-byte packet fits a full one.
  rules({"pass udp limit over 1 kbytes/s burst 500 bytes", "drop udp dport 53", "pass"});
  const Bytes big = udp4_sized("198.18.1.1", 1500);
  // Under the limit the packet goes on to rule 2 (drop); over it rule 1 passes.
  EXPECT_EQ(run(big, 2), "dp");
  // 1500 bytes cost 1,464,843,750 ns at 1024 bytes/s; the bucket holds
  // 1,488,281,250: a second one fits once 1476 bytes are back.
  later(1'441'406'250 - 1);
  EXPECT_EQ(run(big, 1), "p");
  later(1);
  EXPECT_EQ(run(big, 2), "dp");
  EXPECT_EQ(ddos(XDPGUARD_DDOS_LIMIT_UNDER).packets, 2u);
  EXPECT_EQ(ddos(XDPGUARD_DDOS_LIMIT_OVER).packets, 3u);
  // A packet limit and a byte limit on one source: each its own bucket.
  rules({"drop ip udp limit over 2/s burst 2 per saddr", "drop ip udp limit over 300 bytes/s per saddr",
         "pass"});
  // 100-byte packets: two under rule 1, then over it.
  EXPECT_EQ(run(udp4_sized("198.18.2.1", 100), 3), "ppd");
  later(kSec);  // two packet tokens back; the byte bucket had 200 bytes taken, full again
  // 200 bytes under both, then 200 more do not fit the 100 left.
  EXPECT_EQ(run(udp4_sized("198.18.2.1", 200), 2), "pd");
}

TEST_F(LimiterTest, ByteLimitPerSourceAndBlock) {
  rules({"drop ip udp limit over 1000 bytes/s per saddr", "drop ip6 udp limit over 1000 bytes/s per saddr/64",
         "drop ip tcp limit over 100 bytes/s per saddr/24 block 5s"});
  EXPECT_EQ(run(udp4_sized("198.18.1.1", 500), 3), "ppd");
  EXPECT_EQ(run(udp4_sized("198.18.1.2", 500), 3), "ppd");  // its own bucket
  EXPECT_EQ(run(udp6_sized("fd00:0:0:1::1", 400), 2), "pp");
  EXPECT_EQ(run(udp6_sized("fd00:0:0:1::2", 400), 1), "d");  // the /64's bucket: 200 bytes left
  EXPECT_EQ(run(udp6_sized("fd00:0:0:1::2", 200), 1), "p");
  EXPECT_EQ(run(udp6_sized("fd00:0:0:2::1", 1000), 2), "pd");
  auto s = guard_->ddos_stats();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->buckets, 4u);
  // A TCP packet of 140 bytes (a 100-byte bucket can never hold it) is
  // over at once: the /24 is blocked, without a bucket made.
  const Bytes tcp140 = Packet().eth().ipv4("198.18.5.1", "198.18.0.254").tcp(1000, 80).payload(100).bytes();
  EXPECT_EQ(run(tcp140, 1), "d");
  EXPECT_EQ(ddos(XDPGUARD_DDOS_BLOCK_ADDED).packets, 1u);
  EXPECT_EQ(run(tcp4("198.18.5.77"), 1), "d");  // 40 bytes, but blocked
  EXPECT_EQ(run(tcp4("198.18.6.1"), 2), "pp");  // another /24: 80 of its 100 bytes
  s = guard_->ddos_stats();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->buckets, 5u);
  later(5 * kSec + 1);
  EXPECT_EQ(run(tcp4("198.18.5.77"), 2), "pp");  // the block expired; a fresh bucket
}

}  // namespace
}  // namespace xdpguard::test
