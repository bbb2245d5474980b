// Property test of rate limits in the kernel against the reference: random
// rule sets (RuleGen's mix) in which some rules carry a random limit (rate,
// burst, one bucket or per source /N; a third of them byte limits, drawn
// from a generator of their own so that the packet limits of each seed are
// what they were), random packets aimed at the rules,
// and the test clock moving by random steps. Every frame's verdict must be
// rules::first_match's with a rules::ReferenceLimiter (nft's token bucket,
// written independently of the kernel's GCRA form), and at the end every
// rule's counter must have moved by what the reference gave it.
#include <linux/bpf.h>

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "bpf/test_run.h"
#include "guard/guard.h"
#include "rules/parser.h"
#include "rules/printer.h"
#include "support/classifier_fixture.h"
#include "support/packet.h"
#include "support/privileged.h"
#include "support/rule_gen.h"

namespace xdpguard::test {
namespace {

using rules::Action;

class LimiterProperty : public ClassifierFixture {
 protected:
  GuardConfig config() const override {
    GuardConfig cfg;
    cfg.fake_clock = true;
    return cfg;
  }

  // Gives some of the rules a limit; returns the rules as the parser
  // normalises them (through their canonical text).
  static std::vector<rules::Rule> with_limits(RuleGen& g, std::vector<rules::Rule> rs, unsigned seed) {
    std::mt19937 bg(seed);
    int limited = 0;
    for (auto& r : rs) {
      if (limited == 12 || !g.coin(40)) continue;
      rules::Limit l;
      static constexpr std::uint64_t kRates[] = {1, 2, 5, 10, 50, 200, 1000};
      l.rate = kRates[g.pick(7)];
      l.unit = g.coin(80) ? rules::RateUnit::Second : rules::RateUnit::Minute;
      l.burst = static_cast<std::uint32_t>(1 + g.pick(4));
      if (g.coin(60)) {
        l.per_saddr = true;
        static constexpr std::uint8_t kLen4[] = {32, 24, 16, 0}, kLen6[] = {128, 64, 48, 0};
        l.len4 = r.family == rules::Family::V6 ? 32 : kLen4[g.pick(4)];
        l.len6 = r.family == rules::Family::V4 ? 128 : kLen6[g.pick(4)];
      }
      if (bg() % 3 == 0) {
        // Frames here are 28 to 100-odd bytes of IP.
        static constexpr std::uint64_t kByteRates[] = {40, 100, 500, 1000, 3000, 1024 * 64};
        static constexpr std::uint32_t kByteBursts[] = {0, 0, 60, 1500};
        l.bytes = true;
        l.rate = kByteRates[bg() % 6];
        l.burst = kByteBursts[bg() % 4];
      }
      r.limit = l;
      ++limited;
    }
    std::vector<rules::Rule> out;
    for (const auto& r : rs) {
      auto back = rules::parse_rule(rules::to_string(r));
      EXPECT_TRUE(back) << rules::to_string(r) << ": " << back.error().message();
      out.push_back(back ? *back : r);
    }
    return out;
  }
};

TEST_F(LimiterProperty, RandomRuleSetsAgainstReferenceBuckets) {
  std::size_t frames = 0, limited_hits = 0, over = 0, byte_checks = 0, byte_over = 0;
  for (unsigned set = 0; set < 60; ++set) {
    const unsigned seed = 9100 + set;
    RuleGen g(seed);
    auto rs = with_limits(g, g.rules(1 + g.pick(25)), seed);
    std::vector<std::string> texts;
    for (const auto& r : rs) texts.push_back(rules::to_string(r));
    ASSERT_TRUE(guard_->reset_ddos_state());
    auto ids = guard_->replace_rules(texts);
    ASSERT_TRUE(ids) << ids.error().message();
    auto counters = [&]() {
      std::map<std::uint32_t, std::uint64_t> c;
      auto recs = guard_->rules();
      EXPECT_TRUE(recs);
      if (recs)
        for (const auto& r : *recs) c[r.id] = r.counter.packets;
      return c;
    };
    const auto before = counters();
    std::map<std::uint32_t, std::uint64_t> want_delta;

    rules::ReferenceLimiter ref;
    std::uint64_t now = 1'000'000'000'000 + seed;
    for (int i = 0; i < 150; ++i) {
      static constexpr std::uint64_t kSteps[] = {0,         0,          1,           999'999,
                                                 1'000'000, 20'000'000, 100'000'000, 700'000'000};
      now += kSteps[g.pick(8)] + (g.coin(20) ? g.raw() % 50'000'000 : 0);
      ASSERT_TRUE(guard_->set_fake_now(now));
      rules::PacketFields p =
          g.coin(85) ? g.packet_for(rs[static_cast<std::size_t>(g.pick(static_cast<int>(rs.size())))])
                     : g.random_packet();
      p.frag = false;  // fragments are the classifier property test's business
      // The frame first: it sets p.ip_len, what a byte limit charges.
      Bytes f = frame_for(p, g, static_cast<std::uint32_t>(i), /*double_vlan=*/false);
      bool met_limit = false;
      auto outcome = [&](std::size_t k) {
        met_limit = true;
        bool o = ref.over(k, rs[k], p, now);
        over += o;
        byte_checks += rs[k].limit->bytes;
        byte_over += rs[k].limit->bytes && o;
        return o;
      };
      auto want = rules::first_match(rs, p, {}, outcome);
      auto r = test_run(prog_->prog_fd(), f);
      ASSERT_TRUE(r) << r.error().message();
      const std::uint32_t expect = want ? xdp_of(rs[*want].action) : std::uint32_t{XDP_PASS};
      ASSERT_EQ(r->verdict, expect) << "seed " << seed << ", frame " << i << ", at " << now
                                    << " ns\n  reference: " << (want ? texts[*want] : std::string("default"));
      if (want) want_delta[(*ids)[*want]] += 1;
      ++frames;
      limited_hits += met_limit;
    }
    const auto after = counters();
    for (const auto& [id, n] : after)
      EXPECT_EQ(n - before.at(id), want_delta[id]) << "seed " << seed << ": rule id " << id;
  }
  std::printf(
      "limits: %zu frames, %zu met a limited rule, %zu limit checks over; byte limits: %zu checks, %zu "
      "over\n",
      frames, limited_hits, over, byte_checks, byte_over);
  EXPECT_GT(byte_checks, 200u);
  EXPECT_GT(byte_over, 50u);
  EXPECT_GT(over, 100u);
  EXPECT_GT(limited_hits, 1000u);
}

}  // namespace
}  // namespace xdpguard::test
