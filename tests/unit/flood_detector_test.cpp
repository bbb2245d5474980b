// FloodDetector (telemetry/flood.h): counter samples in, attack events out.
// Samples are one second apart unless a test says otherwise; rates are
// exact (packets per second over the interval).
#include <arpa/inet.h>

#include <gtest/gtest.h>

#include "telemetry/flood.h"

namespace xdpguard::telemetry {
namespace {

constexpr std::uint64_t kSec = 1'000'000'000ULL;
constexpr std::size_t kUdp = XDPGUARD_FLOOD_UDP;
constexpr std::size_t kSyn = XDPGUARD_FLOOD_SYN;
constexpr std::size_t kFrag = XDPGUARD_FLOOD_FRAG;

xdpguard_flood_source source(const char* ip4, std::uint64_t pps) {
  xdpguard_flood_source s{};
  s.key.family = 4;
  inet_pton(AF_INET, ip4, &s.key.addr[0]);
  s.pps = pps;
  return s;
}

// Feeds the detector second by second: rate(s) packets/s of a protocol.
class Feeder {
 public:
  // Starts with a baseline sample one second after t0.
  explicit Feeder(FloodDetector& d, std::uint64_t t0 = 100 * kSec) : d_(d), now_(t0) { (void)step({}); }
  // Goes on from a detector's last sample (no baseline of its own).
  Feeder(FloodDetector& d, const xdpguard_flood_state& from) : d_(d), now_(from.sample_ns) {
    std::copy(std::begin(from.packets), std::end(from.packets), counters_.begin());
  }
  // One more second at these rates (packets/s by protocol).
  std::vector<FloodEvent> step(std::array<std::uint64_t, kFloodProtos> rates,
                               std::vector<xdpguard_flood_source> sources = {}, std::uint64_t seconds = 1) {
    FloodSample s;
    now_ += seconds * kSec;
    for (std::size_t p = 0; p < kFloodProtos; ++p) counters_[p] += rates[p] * seconds;
    s.mono_ns = now_;
    s.packets = counters_;
    s.sources = std::move(sources);
    s.sources_from = sources_from_;
    return d_.sample(s);
  }
  std::vector<FloodEvent> udp(std::uint64_t pps, std::uint64_t seconds = 1) {
    return step({0, pps, 0, 0}, {}, seconds);
  }
  std::uint64_t now() const { return now_; }
  std::array<std::uint64_t, kFloodProtos>& counters() { return counters_; }
  xdpguard_flood_sources sources_from_ = XDPGUARD_FLOOD_SRC_TALKERS_OFF;

 private:
  FloodDetector& d_;
  std::uint64_t now_;
  std::array<std::uint64_t, kFloodProtos> counters_{};
};

FloodConfig udp_over(std::uint64_t pps, std::uint32_t hold = 3) {
  FloodConfig c;
  c.pps[kUdp] = pps;
  c.hold_s = hold;
  return c;
}

TEST(FloodDetector, FirstSampleIsOnlyTheBaseline) {
  FloodDetector d(udp_over(1000));
  FloodSample s;
  s.mono_ns = 5 * kSec;
  s.packets[kUdp] = 1'000'000'000;  // whatever the counters say, no rate yet
  EXPECT_TRUE(d.sample(s).empty());
  EXPECT_EQ(d.state().proto[kUdp].attacks, 0u);
  EXPECT_EQ(d.state().sample_ns, 5 * kSec);
}

TEST(FloodDetector, StartsInTheFirstIntervalOverTheThreshold) {
  FloodDetector d(udp_over(1000));
  Feeder f(d);
  EXPECT_TRUE(f.udp(500).empty());
  EXPECT_TRUE(f.udp(1000).empty()) << "at the threshold is not over it";
  const std::uint64_t from = f.now();
  auto ev = f.udp(1001);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(ev[0].started);
  EXPECT_EQ(ev[0].proto, kUdp);
  EXPECT_EQ(ev[0].at_ns, f.now());
  const auto& a = ev[0].attack;
  EXPECT_EQ(a.attacks, 1u);
  EXPECT_EQ(a.active, 1u);
  EXPECT_EQ(a.started_ns, from);  // the start of the interval over it
  EXPECT_EQ(a.detected_ns, f.now());
  EXPECT_EQ(a.start_pps, 1001u);
  EXPECT_EQ(a.threshold_pps, 1000u);
  EXPECT_EQ(a.packets, 1001u);
  EXPECT_EQ(a.sources, XDPGUARD_FLOOD_SRC_TALKERS_OFF);
  EXPECT_EQ(a.nsources, 0u);
  // Going on: no more events, the peak and packets follow.
  EXPECT_TRUE(f.udp(5000).empty());
  EXPECT_TRUE(f.udp(3000).empty());
  EXPECT_EQ(d.state().proto[kUdp].peak_pps, 5000u);
  EXPECT_EQ(d.state().proto[kUdp].packets, 1001u + 5000 + 3000);
  EXPECT_EQ(d.state().proto[kUdp].rate_pps, 3000u);
}

TEST(FloodDetector, EndsAfterHoldSecondsAtOrUnderTheThreshold) {
  FloodDetector d(udp_over(1000, 3));
  Feeder f(d);
  ASSERT_EQ(f.udp(4000).size(), 1u);
  ASSERT_TRUE(f.udp(2000).empty());
  const std::uint64_t last_over = f.now();
  EXPECT_TRUE(f.udp(10).empty());
  EXPECT_TRUE(f.udp(1000).empty());
  EXPECT_TRUE(d.state().proto[kUdp].active);
  auto ev = f.udp(0);  // third second at or under it
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_FALSE(ev[0].started);
  EXPECT_EQ(ev[0].at_ns, f.now());
  const auto& a = ev[0].attack;
  EXPECT_EQ(a.active, 0u);
  EXPECT_EQ(a.ended_ns, last_over);
  EXPECT_EQ(a.ended_ns - a.started_ns, 2 * kSec);  // the time over the threshold
  EXPECT_EQ(a.peak_pps, 4000u);
  EXPECT_EQ(a.packets, 6000u) << "the quiet seconds after the attack are not its packets";
  EXPECT_EQ(a.attacks, 1u);
  // Quiet stays quiet; the next attack is number 2.
  EXPECT_TRUE(f.udp(0).empty());
  auto again = f.udp(7000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].started);
  EXPECT_EQ(again[0].attack.attacks, 2u);
  EXPECT_EQ(again[0].attack.peak_pps, 7000u) << "a new attack starts from scratch";
}

TEST(FloodDetector, QuietSecondsInsideTheHoldDoNotFlap) {
  FloodDetector d(udp_over(1000, 3));
  Feeder f(d);
  std::vector<FloodEvent> all;
  auto add = [&](std::vector<FloodEvent> ev) { all.insert(all.end(), ev.begin(), ev.end()); };
  // On and off for 20 s, never 3 quiet seconds in a row.
  for (int i = 0; i < 10; ++i) {
    add(f.udp(5000));
    add(f.udp(i % 2 ? 0 : 900));
    if (i % 3 == 0) add(f.udp(0));
  }
  ASSERT_EQ(all.size(), 1u) << "one attack, started once";
  EXPECT_TRUE(all[0].started);
  const auto& a = d.state().proto[kUdp];
  EXPECT_TRUE(a.active);
  // The dips inside it are the attack's packets too.
  EXPECT_EQ(a.packets, 10u * 5000 + 5 * 900);
  add(f.udp(0));
  add(f.udp(0));
  add(f.udp(0));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_FALSE(all[1].started);
  EXPECT_EQ(all[1].attack.packets, 10u * 5000 + 5 * 900);
}

TEST(FloodDetector, ProtocolsAreIndependent) {
  FloodConfig c;
  c.pps[kSyn] = 100;
  c.pps[kFrag] = 10;
  c.hold_s = 1;
  FloodDetector d(c);
  Feeder f(d);
  auto ev = f.step({200, 1'000'000, 0, 50});  // UDP is not watched: no attack at any rate
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].proto, kSyn);
  EXPECT_EQ(ev[1].proto, kFrag);
  ev = f.step({200, 0, 0, 0});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].proto, kFrag);
  EXPECT_FALSE(ev[0].started);
  EXPECT_TRUE(d.state().proto[kSyn].active);
  EXPECT_EQ(d.state().proto[kUdp].attacks, 0u);
  EXPECT_EQ(d.state().proto[kUdp].rate_pps, 0u);
}

TEST(FloodDetector, RatesUseTheRealIntervalBetweenSamples) {
  FloodDetector d(udp_over(1000));
  Feeder f(d);
  // 1,500 packets in 2 s: 750/s, under.
  EXPECT_TRUE(f.step({0, 750, 0, 0}, {}, 2).empty());
  EXPECT_EQ(d.state().proto[kUdp].rate_pps, 750u);
  // 1,500 packets in 1.25 s: 1,200/s, over.
  FloodSample s;
  s.mono_ns = f.now() + kSec + kSec / 4;
  s.packets = f.counters();
  s.packets[kUdp] += 1500;
  auto ev = d.sample(s);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].attack.start_pps, 1200u);
  // A sample not later than the last one is ignored.
  s.packets[kUdp] += 1'000'000;
  EXPECT_TRUE(d.sample(s).empty());
  EXPECT_EQ(d.state().proto[kUdp].packets, 1500u);
}

TEST(FloodDetector, CountersThatRestartGiveNoRate) {
  // The program was attached again: the counters start over from 0.
  xdpguard_flood_state before{};  // long-running counters
  before.sample_ns = 100 * kSec;
  before.packets[kUdp] = 50'000'000;
  FloodDetector d = FloodDetector::resume(udp_over(1000, 2), before);
  Feeder f(d, before);
  ASSERT_EQ(f.udp(3000).size(), 1u);
  // Restarted: far less than before. No rate for this interval; the attack
  // neither ends nor counts, whatever the new values.
  f.counters()[kUdp] = 0;
  EXPECT_TRUE(f.udp(100).empty());
  EXPECT_TRUE(d.state().proto[kUdp].active);
  EXPECT_EQ(d.state().proto[kUdp].rate_pps, 0u);
  EXPECT_EQ(d.state().proto[kUdp].packets, 3000u);
  // From the new values on, rates again.
  EXPECT_TRUE(f.udp(2500).empty());
  EXPECT_EQ(d.state().proto[kUdp].packets, 5500u);
  EXPECT_TRUE(f.udp(0).empty());
  auto ev = f.udp(0);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_FALSE(ev[0].started);

  // A restart never starts an attack either (the difference would be huge if
  // taken as unsigned: it must not be).
  FloodDetector d2(udp_over(1000));
  Feeder f2(d2);
  f2.counters()[kUdp] = 10;
  EXPECT_TRUE(f2.udp(0).empty());
  f2.counters()[kUdp] = 0;
  EXPECT_TRUE(f2.udp(0).empty());
  EXPECT_EQ(d2.state().proto[kUdp].attacks, 0u);
}

TEST(FloodDetector, TheTopSourcesOfTheStartingSampleAreNamed) {
  FloodConfig c = udp_over(1000);
  c.top = 2;
  FloodDetector d(c);
  Feeder f(d);
  f.sources_from_ = XDPGUARD_FLOOD_SRC_TALKERS;
  auto ev = f.step({0, 9000, 0, 0},
                   {source("198.18.0.1", 8000), source("198.18.0.7", 900), source("198.18.0.9", 100)});
  ASSERT_EQ(ev.size(), 1u);
  const auto& a = ev[0].attack;
  EXPECT_EQ(a.sources, XDPGUARD_FLOOD_SRC_TALKERS);
  ASSERT_EQ(a.nsources, 2u);  // top = 2
  EXPECT_EQ(a.top[0].pps, 8000u);
  EXPECT_EQ(a.top[1].pps, 900u);
  auto j = flood_sources_json(a);
  ASSERT_TRUE(j.is_array());
  EXPECT_EQ(j.dump(), R"([{"address":"198.18.0.1","pps":8000},{"address":"198.18.0.7","pps":900}])");
}

TEST(FloodDetector, UnknownSourcesSaySo) {
  FloodDetector d(udp_over(1000));
  Feeder f(d);
  auto ev = f.udp(2000);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(flood_sources_json(ev[0].attack).is_null());
  EXPECT_EQ(flood_sources_note(ev[0].attack, "veth1"), "top talkers are off (xdpguard talkers veth1 on)");
}

TEST(FloodDetector, RemovingAThresholdEndsItsAttackAtOnce) {
  FloodDetector d(udp_over(1000, 60));
  Feeder f(d);
  ASSERT_EQ(f.udp(5000).size(), 1u);
  const std::uint64_t until = f.now();
  d.configure(FloodConfig{});
  auto ev = f.udp(5000);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_FALSE(ev[0].started);
  EXPECT_EQ(ev[0].attack.ended_ns, until);
  EXPECT_TRUE(f.udp(5000).empty()) << "not watched: no new attack";
}

TEST(FloodDetector, ResumeGoesOnFromAPublishedState) {
  FloodDetector d(udp_over(1000, 2));
  Feeder f(d);
  ASSERT_EQ(f.udp(5000).size(), 1u);
  ASSERT_TRUE(f.udp(6000).empty());
  // Another process takes over from the published state: no second start.
  xdpguard_flood_state published = d.state();
  published.pid = 1234;
  FloodDetector next = FloodDetector::resume(udp_over(1000, 2), published);
  EXPECT_EQ(next.state().pid, 0u);
  Feeder g(next, published);  // its first sample measures from the published one
  EXPECT_TRUE(g.udp(7000).empty());
  EXPECT_EQ(next.state().proto[kUdp].attacks, 1u);
  EXPECT_EQ(next.state().proto[kUdp].peak_pps, 7000u);
  EXPECT_TRUE(g.udp(0).empty());
  auto ev = g.udp(0);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_FALSE(ev[0].started);
  EXPECT_EQ(ev[0].attack.packets, 5000u + 6000 + 7000);
}

TEST(FloodDetector, ConfigFromTheFileOverTheDefaults) {
  config::Flood f;
  f.udp_pps = 5000;
  f.hold = 2;
  const FloodConfig c = FloodConfig{}.overridden_by(f);
  EXPECT_EQ(c.pps[kUdp], 5000u);
  EXPECT_EQ(c.pps[kSyn], 0u);
  EXPECT_EQ(c.hold_s, 2u);
  EXPECT_EQ(c.top, kFloodDefaultTop);
  EXPECT_TRUE(c.watching());
  EXPECT_FALSE(FloodConfig{}.watching());
  // Through the map element and back; a zeroed element is the defaults.
  EXPECT_EQ(FloodConfig::from_abi(c.to_abi()), c);
  EXPECT_EQ(FloodConfig::from_abi(xdpguard_flood_cfg{}), FloodConfig{});
}

// ---- what events print ------------------------------------------------------

FloodEvent started_event() {
  FloodEvent e;
  e.started = true;
  e.proto = kUdp;
  e.at_ns = 12 * kSec;
  e.attack.attacks = 3;
  e.attack.active = 1;
  e.attack.started_ns = 11 * kSec;
  e.attack.detected_ns = 12 * kSec;
  e.attack.start_pps = e.attack.peak_pps = 812345;
  e.attack.threshold_pps = 10000;
  e.attack.sources = XDPGUARD_FLOOD_SRC_TALKERS;
  e.attack.nsources = 2;
  e.attack.top[0] = source("198.18.0.1", 800000);
  e.attack.top[1] = source("198.18.0.7", 12345);
  return e;
}

TEST(FloodFormat, StartedAsJsonAndText) {
  const Clock clock{1'700'000'000LL * 1'000'000'000LL};
  const FloodEvent e = started_event();
  auto j = flood_event_json(e, "veth1", clock);
  EXPECT_EQ(j["type"], "attack_started");
  EXPECT_EQ(j["interface"], "veth1");
  EXPECT_EQ(j["protocol"], "udp");
  EXPECT_EQ(j["attack"], 3);
  EXPECT_EQ(j["rate_pps"], 812345);
  EXPECT_EQ(j["threshold_pps"], 10000);
  EXPECT_EQ(j["time"], "2023-11-14T22:13:32.000000000Z");
  EXPECT_EQ(j["started"], "2023-11-14T22:13:31.000000000Z");
  EXPECT_EQ(j["ts_ns"], 12 * kSec);
  EXPECT_EQ(j["top_sources_from"], "top_talkers");
  EXPECT_EQ(j["top_sources"].dump(),
            R"([{"address":"198.18.0.1","pps":800000},{"address":"198.18.0.7","pps":12345}])");
  EXPECT_FALSE(j.contains("top_sources_note"));
  const std::string line = flood_event_line(e, "veth1", clock);
  EXPECT_EQ(line.substr(15),
            " attack started: udp flood on veth1 (attack 3): 812345 pps over the threshold of 10000 pps; top "
            "sources (all protocols): 198.18.0.1 800000 pps, 198.18.0.7 12345 pps")
      << line;

  FloodEvent off = e;
  off.proto = kSyn;
  off.attack.sources = XDPGUARD_FLOOD_SRC_TALKERS_OFF;
  off.attack.nsources = 0;
  j = flood_event_json(off, "veth1", clock);
  EXPECT_EQ(j["protocol"], "syn");
  EXPECT_TRUE(j["top_sources"].is_null());
  EXPECT_TRUE(j["top_sources_from"].is_null());
  EXPECT_EQ(j["top_sources_note"], "top talkers are off (xdpguard talkers veth1 on)");
  EXPECT_NE(flood_event_line(off, "veth1", clock)
                .find("top sources unknown: top talkers are off (xdpguard talkers veth1 on)"),
            std::string::npos);
}

TEST(FloodFormat, EndedAsJsonAndText) {
  const Clock clock{1'700'000'000LL * 1'000'000'000LL};
  FloodEvent e = started_event();
  e.started = false;
  e.proto = kFrag;
  e.at_ns = 25 * kSec;
  e.attack.active = 0;
  e.attack.ended_ns = 21 * kSec + kSec / 2;
  e.attack.peak_pps = 900000;
  e.attack.packets = 7654321;
  auto j = flood_event_json(e, "veth1", clock);
  EXPECT_EQ(j["type"], "attack_ended");
  EXPECT_EQ(j["protocol"], "fragment");
  EXPECT_EQ(j["ended"], "2023-11-14T22:13:41.500000000Z");
  EXPECT_DOUBLE_EQ(j["duration_s"].get<double>(), 10.5);
  EXPECT_EQ(j["peak_pps"], 900000);
  EXPECT_EQ(j["packets"], 7654321);
  EXPECT_FALSE(j.contains("top_sources"));
  const std::string line = flood_event_line(e, "veth1", clock);
  EXPECT_EQ(line.substr(15),
            " attack ended: fragment flood on veth1 (attack 3): 10.5 s over the threshold of 10000 pps, peak "
            "900000 pps, 7654321 packets")
      << line;
}

TEST(FloodFormat, StatusShowsThresholdsRatesAndAttacks) {
  const Clock clock{1'700'000'000LL * 1'000'000'000LL};
  FloodStatus s;
  s.config.pps[kUdp] = 10000;
  s.counters[kUdp] = {123456, 7890000};
  s.state.pid = 42;
  s.state.sample_ns = 20 * kSec;
  s.state.proto[kUdp] = started_event().attack;
  s.state.proto[kUdp].rate_pps = 700000;
  s.now_ns = 20 * kSec + kSec / 2;
  s.detector = true;
  auto j = flood_status_json(s, clock);
  EXPECT_EQ(j["detector"]["pid"], 42);
  EXPECT_DOUBLE_EQ(j["detector"]["last_sample_s_ago"].get<double>(), 0.5);
  EXPECT_EQ(j["protocols"]["udp"]["threshold_pps"], 10000);
  EXPECT_EQ(j["protocols"]["udp"]["rate_pps"], 700000);
  EXPECT_EQ(j["protocols"]["udp"]["active"], true);
  EXPECT_EQ(j["protocols"]["udp"]["packets"], 123456);
  EXPECT_EQ(j["protocols"]["udp"]["bytes"], 7890000);
  EXPECT_EQ(j["protocols"]["udp"]["attack"]["attack"], 3);
  EXPECT_TRUE(j["protocols"]["udp"]["attack"]["ended"].is_null());
  EXPECT_EQ(j["protocols"]["syn"]["threshold_pps"], 0);
  EXPECT_TRUE(j["protocols"]["syn"]["attack"].is_null());
  const std::string t = flood_status_table(s, "veth1", clock);
  EXPECT_NE(t.find("detected by pid 42, last sample 0.5 s ago"), std::string::npos) << t;
  EXPECT_NE(t.find("udp                10000       700000           123456        3  ATTACK since"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("syn                    -            0                0        0  not watched"),
            std::string::npos)
      << t;
  EXPECT_EQ(flood_status_line(s),
            "  flood detection: udp 700000 pps (threshold 10000) ATTACK; detected by pid 42\n");

  // No detector: rates and attack states are unknown, not zero.
  s.detector = false;
  j = flood_status_json(s, clock);
  EXPECT_TRUE(j["detector"].is_null());
  EXPECT_TRUE(j["protocols"]["udp"]["rate_pps"].is_null());
  EXPECT_EQ(j["protocols"]["udp"]["active"], false);
  EXPECT_NE(flood_status_table(s, "veth1", clock).find("no detector running, rates unknown"),
            std::string::npos);
}

}  // namespace
}  // namespace xdpguard::telemetry
