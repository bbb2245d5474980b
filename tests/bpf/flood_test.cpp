// Flood detection against the kernel (BPF_PROG_TEST_RUN through the whole
// pipeline): the parser's per-protocol counters count exactly the packets
// floods are made of; FloodMonitor turns them into attack events, publishes
// its state, a second monitor of the same interface follows it and takes
// over when it stops. (What the counters cost per packet is a row of
// bench/classifier: `make bench`.)
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "bpf/test_run.h"
#include "guard/guard.h"
#include "support/classifier_fixture.h"
#include "support/packet.h"
#include "support/privileged.h"
#include "telemetry/flood_monitor.h"
#include "telemetry/talkers.h"

namespace xdpguard::test {
namespace {

using telemetry::FloodEvent;
using telemetry::FloodMaps;
using telemetry::FloodMonitor;

constexpr std::size_t kSyn = XDPGUARD_FLOOD_SYN, kUdp = XDPGUARD_FLOOD_UDP, kIcmp = XDPGUARD_FLOOD_ICMP,
                      kFrag = XDPGUARD_FLOOD_FRAG;

struct Loaded {
  std::unique_ptr<GuardProgram> prog;
  std::unique_ptr<Guard> guard;
};

// The guard program loaded in-process with its Guard; null members (and a
// test failure) when it cannot be.
Loaded load(const GuardConfig& cfg = {}) {
  Loaded l;
  auto prog = GuardProgram::open(cfg);
  if (!prog) {
    ADD_FAILURE() << prog.error().message();
    return l;
  }
  if (auto r = prog->load(); !r) {
    ADD_FAILURE() << r.error().message();
    return l;
  }
  l.prog = std::make_unique<GuardProgram>(std::move(*prog));
  auto g = Guard::from_program(*l.prog);
  if (!g) {
    ADD_FAILURE() << g.error().message();
    return l;
  }
  l.guard = std::make_unique<Guard>(std::move(*g));
  return l;
}

class FloodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    XG_REQUIRE_PRIVILEGES();
    l_ = load();
    ASSERT_TRUE(l_.guard);
  }
  std::uint32_t run(const Bytes& frame, std::uint32_t repeat = 1) {
    auto r = test_run(l_.prog->prog_fd(), frame, repeat);
    EXPECT_TRUE(r) << r.error().message();
    return r ? r->verdict : 0xffffffff;
  }
  FloodMaps maps() {
    auto m = FloodMaps::from_program(*l_.prog);
    EXPECT_TRUE(m) << m.error().message();
    return std::move(*m);
  }
  std::array<xdpguard_counter, telemetry::kFloodProtos> counters() { return *maps().counters(); }
  Loaded l_;
};

Bytes udp_from(const char* src = "198.18.0.1") {
  return Packet().eth().ipv4(src, "198.18.0.2").udp(4000, 7000).bytes();
}

TEST_F(FloodTest, CountersCountWhatFloodsAreMadeOf) {
  const Bytes syn = Packet().eth().ipv4("198.18.0.1", "198.18.0.2").tcp(1000, 80).flags(SYN).bytes();
  const Bytes syn_ece =
      Packet().eth().vlan(5).ipv6("fd00::1", "fd00::2").tcp(1000, 80).flags(SYN | ECE | CWR).bytes();
  const Bytes synack = Packet().eth().ipv4("198.18.0.1", "198.18.0.2").tcp(80, 1000).flags(SYN | ACK).bytes();
  const Bytes ack = Packet().eth().ipv4("198.18.0.1", "198.18.0.2").tcp(1000, 80).flags(ACK).bytes();
  const Bytes udp = udp_from();
  const Bytes udp6 =
      Packet().eth().vlan(1).vlan(2).ipv6("fd00::1", "fd00::2").hop_by_hop().udp(53, 53).payload(30).bytes();
  const Bytes udp_first_frag =
      Packet().eth().ipv4("198.18.0.1", "198.18.0.2").fragment(0, true).udp(4000, 7000).payload(100).bytes();
  const Bytes frag4 =
      Packet().eth().ipv4("198.18.0.1", "198.18.0.2").fragment(13, false).proto(17).payload(60).bytes();
  const Bytes frag6 =
      Packet().eth().ipv6("fd00::1", "fd00::2").fragment6(7, true).proto(17).payload(48).bytes();
  const Bytes icmp = Packet().eth().ipv4("198.18.0.1", "198.18.0.2").icmp(8).payload(56).bytes();
  const Bytes icmp6 = Packet().eth().ipv6("fd00::1", "fd00::2").icmp6(135).payload(24).bytes();
  const Bytes arp = Packet().eth("ff:ff:ff:ff:ff:ff").arp("198.18.0.1", "198.18.0.2").bytes();
  Bytes truncated = udp;  // the UDP header cut short: not a complete UDP packet
  truncated.resize(14 + 20 + 4);
  const Bytes gre = Packet().eth().ipv4("198.18.0.1", "198.18.0.2").proto(47).payload(20).bytes();

  run(syn, 3), run(syn_ece, 2), run(synack, 5), run(ack, 7);
  run(udp, 11), run(udp6, 13), run(udp_first_frag, 1);
  run(frag4, 17), run(frag6, 19);
  run(icmp, 23), run(icmp6, 29);
  run(arp, 31), run(truncated, 37), run(gre, 41);

  auto c = counters();
  EXPECT_EQ(c[kSyn].packets, 3u + 2);
  EXPECT_EQ(c[kSyn].bytes, 3 * syn.size() + 2 * syn_ece.size());
  EXPECT_EQ(c[kUdp].packets, 11u + 13 + 1);
  EXPECT_EQ(c[kUdp].bytes, 11 * udp.size() + 13 * udp6.size() + udp_first_frag.size());
  EXPECT_EQ(c[kIcmp].packets, 23u + 29);
  EXPECT_EQ(c[kIcmp].bytes, 23 * icmp.size() + 29 * icmp6.size());
  EXPECT_EQ(c[kFrag].packets, 17u + 19) << "non-first fragments count as fragments only";
  EXPECT_EQ(c[kFrag].bytes, 17 * frag4.size() + 19 * frag6.size());
  // The same in the stats every command reads.
  auto s = l_.guard->stats();
  ASSERT_TRUE(s) << s.error().message();
  for (std::size_t p = 0; p < telemetry::kFloodProtos; ++p) EXPECT_EQ(s->flood[p].packets, c[p].packets) << p;
}

TEST_F(FloodTest, BlockedSourcesStillCountTowardsTheRate) {
  // What arrives is what a flood is: a source the limiter blocked is dropped
  // before the classifier, but its packets are still counted.
  ASSERT_TRUE(l_.guard->replace_rules({"drop udp dport 7000 limit over 1/s burst 1 per saddr block 60s"}));
  EXPECT_EQ(run(udp_from(), 50), XDP_DROP);
  auto s = l_.guard->stats();
  ASSERT_TRUE(s);
  EXPECT_GT(s->ddos.counters[XDPGUARD_DDOS_BLOCKED].packets, 0u);
  EXPECT_EQ(counters()[kUdp].packets, 50u);
}

TEST(FloodCountersOff, TheBaselineKnobCountsNothingAndChangesNoVerdict) {
  XG_REQUIRE_PRIVILEGES();
  GuardConfig cfg;
  cfg.flood_counters = false;
  auto l = load(cfg);
  ASSERT_TRUE(l.guard);
  ASSERT_TRUE(l.guard->replace_rules({"drop udp dport 7000"}));
  auto r = test_run(l.prog->prog_fd(), udp_from(), 10);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->verdict, XDP_DROP);
  auto m = FloodMaps::from_program(*l.prog);
  ASSERT_TRUE(m);
  EXPECT_EQ((*m->counters())[kUdp].packets, 0u);
  EXPECT_EQ(l.guard->stats()->actions[XDP_DROP].packets, 10u);
}

// ---- FloodMonitor -------------------------------------------------------------

class FloodMonitorTest : public FloodTest {
 protected:
  void SetUp() override {
    FloodTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    telemetry::FloodConfig cfg;
    cfg.pps[kUdp] = 1000;
    cfg.hold_s = 2;
    cfg.top = 3;
    ASSERT_TRUE(maps().set_config(cfg));
    // An interface no real one has, so that the lock is this test's own.
    lock_ = telemetry::ReaderLockId{0xf100d000ULL + static_cast<std::uint64_t>(::getpid()), 1, "test0", {}};
  }
  void TearDown() override {
    std::filesystem::remove(std::string(kRuntimeDir) + "/" + lock_.lock_name("flood"));
  }
  FloodMonitor monitor(bool locked = true, bool with_talkers = true) {
    std::optional<telemetry::Talkers> t;
    if (with_talkers) t = *telemetry::Talkers::from_program(*l_.prog);
    auto m = FloodMonitor::open(maps(), std::move(t), locked ? std::optional(lock_) : std::nullopt);
    EXPECT_TRUE(m) << m.error().message();
    return std::move(*m);
  }
  std::vector<FloodEvent> tick(FloodMonitor& m, std::uint64_t t) {
    auto ev = m.tick(t);
    EXPECT_TRUE(ev) << ev.error().message();
    return ev ? *ev : std::vector<FloodEvent>{};
  }
  telemetry::ReaderLockId lock_;
};

TEST_F(FloodMonitorTest, DetectsWithTheTopSourcesAndPublishes) {
  auto talkers = telemetry::Talkers::from_program(*l_.prog);
  ASSERT_TRUE(talkers->enable(true, *l_.guard));
  FloodMonitor m = monitor(false);
  const std::uint64_t t0 = 1000 * kSec;
  EXPECT_TRUE(tick(m, t0).empty());  // baseline
  EXPECT_TRUE(m.detecting());
  run(udp_from("198.18.0.1"), 800);  // under 1000/s
  EXPECT_TRUE(tick(m, t0 + kSec).empty());
  EXPECT_TRUE(tick(m, t0 + kSec + kSec / 2).empty()) << "not a second since the last sample: no sample";
  run(udp_from("198.18.0.9"), 3000), run(udp_from("198.18.0.7"), 500), run(udp_from("198.18.0.8"), 100),
      run(udp_from("198.18.0.5"), 10);
  auto ev = tick(m, t0 + 2 * kSec);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(ev[0].started);
  EXPECT_EQ(ev[0].proto, kUdp);
  const auto& a = ev[0].attack;
  EXPECT_EQ(a.start_pps, 3610u);
  EXPECT_EQ(a.threshold_pps, 1000u);
  EXPECT_EQ(a.started_ns, t0 + kSec);
  ASSERT_EQ(a.sources, XDPGUARD_FLOOD_SRC_TALKERS);
  ASSERT_EQ(a.nsources, 3u);  // top = 3
  const auto j = telemetry::flood_sources_json(a);
  EXPECT_EQ(
      j.dump(),
      R"([{"address":"198.18.0.9","pps":3000},{"address":"198.18.0.7","pps":500},{"address":"198.18.0.8","pps":100}])");

  auto st = maps().state();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->pid, static_cast<std::uint32_t>(::getpid()));
  EXPECT_EQ(st->sample_ns, t0 + 2 * kSec);
  EXPECT_EQ(st->packets[kUdp], 800u + 3610);
  EXPECT_EQ(st->proto[kUdp].active, 1u);
  EXPECT_EQ(st->proto[kUdp].attacks, 1u);

  // Quiet for the hold (2 s): ended.
  EXPECT_TRUE(tick(m, t0 + 3 * kSec).empty());
  ev = tick(m, t0 + 4 * kSec);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_FALSE(ev[0].started);
  EXPECT_EQ(ev[0].attack.packets, 3610u);
  EXPECT_EQ(ev[0].attack.ended_ns, t0 + 2 * kSec);
  ASSERT_TRUE(m.stop());
  EXPECT_EQ(maps().state()->pid, 0u) << "a detector that stopped says so";
}

TEST_F(FloodMonitorTest, WithoutTopTalkersTheSourcesAreUnknown) {
  FloodMonitor m = monitor(false);
  const std::uint64_t t0 = 1000 * kSec;
  (void)tick(m, t0);
  run(udp_from(), 5000);
  auto ev = tick(m, t0 + kSec);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].attack.sources, XDPGUARD_FLOOD_SRC_TALKERS_OFF);
  EXPECT_TRUE(telemetry::flood_sources_json(ev[0].attack).is_null());
}

TEST_F(FloodMonitorTest, OneDetectsTheOtherFollowsAndTakesOver) {
  FloodMonitor a = monitor();
  FloodMonitor b = monitor();
  const std::uint64_t t0 = 1000 * kSec;
  EXPECT_TRUE(tick(a, t0).empty());
  EXPECT_TRUE(tick(b, t0).empty());
  EXPECT_TRUE(a.detecting());
  EXPECT_FALSE(b.detecting()) << "one detector per interface";

  run(udp_from(), 4000);
  auto ea = tick(a, t0 + kSec);
  auto eb = tick(b, t0 + kSec);
  ASSERT_EQ(ea.size(), 1u);
  ASSERT_EQ(eb.size(), 1u) << "the follower reports the same attack";
  EXPECT_TRUE(eb[0].started);
  EXPECT_EQ(eb[0].attack.attacks, ea[0].attack.attacks);
  EXPECT_EQ(eb[0].attack.start_pps, 4000u);
  EXPECT_EQ(eb[0].at_ns, ea[0].at_ns);
  // A third monitor that starts now sees the attack in progress.
  FloodMonitor c = monitor();
  auto going = c.in_progress();
  ASSERT_EQ(going.size(), 1u);
  EXPECT_EQ(going[0].proto, kUdp);

  // The detector stops (its process ends): the follower takes over and goes
  // on with the same attack, not a new one.
  ASSERT_TRUE(a.stop());
  run(udp_from(), 4000);
  EXPECT_TRUE(tick(b, t0 + 2 * kSec).empty());
  EXPECT_TRUE(b.detecting());
  EXPECT_TRUE(tick(c, t0 + 2 * kSec).empty());
  EXPECT_FALSE(c.detecting());
  EXPECT_TRUE(tick(b, t0 + 3 * kSec).empty());
  auto end = tick(b, t0 + 4 * kSec);
  ASSERT_EQ(end.size(), 1u);
  EXPECT_FALSE(end[0].started);
  EXPECT_EQ(end[0].attack.attacks, 1u);
  EXPECT_EQ(end[0].attack.packets, 8000u);
  auto ec = tick(c, t0 + 4 * kSec);
  ASSERT_EQ(ec.size(), 1u);
  EXPECT_FALSE(ec[0].started);
  EXPECT_EQ(ec[0].attack.packets, 8000u);
}

}  // namespace
}  // namespace xdpguard::test
