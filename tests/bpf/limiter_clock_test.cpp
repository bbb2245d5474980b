// The limiter on the kernel's tick clock (bpf_ktime_get_coarse_ns), in real
// time: BPF_PROG_TEST_RUN through the pipeline with the clock `attach` uses,
// one frame a run, as fast as the test can send (far over the limit). What
// the tick clock may cost in exactness is bounded (docs/ddos.md, "The
// clock"): over each 1 s window the packets let through are the rate's
// within 2%, and an idle bucket lets through at once no more than its depth
// (its burst, and at least two ticks' worth) plus one tick's refill. A
// bucket shallower than that (the default burst of 5 at 20,000/s holds
// 250 us) must keep its rate too: with its own depth it would pass 5
// packets a tick, 1,250/s, and with one tick's it loses the tokens of every
// jump of two ticks (a tick missed on a busy machine: 5% of them here).
#include <linux/bpf.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "bpf/clock.h"
#include "bpf/test_run.h"
#include "support/classifier_fixture.h"
#include "support/packet.h"

namespace xdpguard::test {
namespace {

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC, the kernel's clocks' base

class LimiterClockTest : public ClassifierFixture {
 protected:
  void rules(const std::vector<std::string>& texts) {
    auto r = guard_->replace_rules(texts);
    ASSERT_TRUE(r) << r.error().message();
  }
  bool passed(const Bytes& frame) {
    auto r = test_run(prog_->prog_fd(), frame);
    EXPECT_TRUE(r) << r.error().message();
    return r && r->verdict == XDP_PASS;
  }
  const Bytes frame_ = Packet().eth().ipv4("198.18.1.1", "198.18.0.254").udp(1000, 53).bytes();
};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

TEST_F(LimiterClockTest, DeliveredRateWithinTwoPercentOverOneSecondWindows) {
  constexpr double kRate = 20000;  // per second; the default burst of 5 holds 250 us
  const double tick = static_cast<double>(coarse_clock_tick_ns()) / 1e9;
  rules({"drop udp limit over 20000/s"});

  // Send until three windows of 1 s were sent without a pause, or 20 s.
  // A pause (the test descheduled on a loaded machine) lets the bucket
  // fill: the window after it may rightly carry more, the one with it less.
  constexpr double kWindow = 1.0, kMaxPause = 0.005;
  struct Window {
    std::uint64_t sent = 0, passed = 0;
    double longest_pause = 0;
  };
  std::vector<Window> clean, all;
  Window w;
  const auto start = Clock::now();
  auto window_start = start, last = start;
  // The first 200 ms take the bucket's initial burst and reach the steady state.
  while (seconds(Clock::now() - start) < 0.2) (void)passed(frame_);
  window_start = last = Clock::now();
  while (clean.size() < 3 && seconds(Clock::now() - start) < 20.0) {
    const bool p = passed(frame_);
    const auto now = Clock::now();
    w.sent++;
    w.passed += p;
    w.longest_pause = std::max(w.longest_pause, seconds(now - last));
    last = now;
    if (seconds(now - window_start) >= kWindow) {
      // Scaled to exactly one window (the last run ended a little after it).
      const double span = seconds(now - window_start);
      w.passed = static_cast<std::uint64_t>(std::llround(static_cast<double>(w.passed) * kWindow / span));
      all.push_back(w);
      if (w.longest_pause <= kMaxPause) clean.push_back(w);
      w = Window{};
      window_start = now;
    }
  }
  std::string seen = " tick " + std::to_string(tick * 1e3) + " ms:";
  for (const auto& x : all)
    seen += " [sent " + std::to_string(x.sent) + ", passed " + std::to_string(x.passed) + ", longest pause " +
            std::to_string(x.longest_pause * 1e3) + " ms]";
  if (clean.empty()) GTEST_SKIP() << "the machine paused the sender in every window:" << seen;
  for (const auto& x : clean) {
    EXPECT_GT(static_cast<double>(x.sent), 2 * kRate) << "the sender must be far over the limit" << seen;
    // 2% of the rate, with room for one tick's refill at each edge of
    // the window (the tick clock lags by up to a tick) and a pause.
    const double slack = 0.02 * kRate * kWindow;
    EXPECT_GE(static_cast<double>(x.passed), kRate * kWindow - slack) << seen;
    EXPECT_LE(static_cast<double>(x.passed), kRate * kWindow + slack) << seen;
  }
}

TEST_F(LimiterClockTest, AnIdleBucketPassesItsBurstPlusAtMostOneTick) {
  const double tick = static_cast<double>(coarse_clock_tick_ns()) / 1e9;
  struct Case {
    const char* rule;
    double rate;
    std::uint64_t burst;
  };
  // A deep bucket (50 ms), and one shallower than a tick (250 us).
  for (const Case c : {Case{"drop udp limit over 1000/s burst 50", 1000, 50},
                       Case{"drop udp limit over 20000/s", 20000, 5}}) {
    rules({c.rule});
    for (int round = 0; round < 3; ++round) {
      // Idle far longer than the bucket takes to fill.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const auto t0 = Clock::now();
      std::uint64_t through = 0;
      for (int i = 0; i < 400; ++i) through += passed(frame_);
      const double spent = seconds(Clock::now() - t0);
      // The burst is honoured...
      EXPECT_GE(through, c.burst) << c.rule << ", round " << round;
      // ...and the bucket's depth (at least two ticks) exceeded by no more
      // than one tick's refill (the clock lags by up to a tick), beside what
      // the rate refills while the 400 runs take (`spent`).
      const double depth = std::max(static_cast<double>(c.burst), c.rate * 2 * tick + 1);
      const double most = depth + c.rate * (tick + spent) + 1;
      EXPECT_LE(static_cast<double>(through), most)
          << c.rule << ", round " << round << ": tick " << tick * 1e3 << " ms, the runs took " << spent * 1e3
          << " ms";
    }
  }
}

}  // namespace
}  // namespace xdpguard::test
