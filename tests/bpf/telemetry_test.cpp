// Telemetry in the kernel (BPF_PROG_TEST_RUN through the whole pipeline):
// which packets become records, what a record says, sampling, and what
// happens when the ring buffer is full or nobody reads it. The ring buffer
// is read with the same RecordReader `xdpguard events` uses.
#include <arpa/inet.h>
#include <linux/bpf.h>

#include <bpf/bpf.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "bpf/test_run.h"
#include "guard/guard.h"
#include "support/packet.h"
#include "support/privileged.h"
#include "telemetry/maps.h"
#include "telemetry/reader.h"
#include "telemetry/talkers.h"

namespace xdpguard::test {
namespace {

using telemetry::RecordReader;
using telemetry::TelemetryMaps;

struct Got {
  xdpguard_record hdr;
  Bytes frame;
};

class TelemetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    XG_REQUIRE_PRIVILEGES();
    auto prog = GuardProgram::open(GuardConfig{});
    ASSERT_TRUE(prog) << prog.error().message();
    ASSERT_TRUE(prog->load());
    prog_ = std::make_unique<GuardProgram>(std::move(*prog));
    auto g = Guard::from_program(*prog_);
    ASSERT_TRUE(g) << g.error().message();
    guard_ = std::make_unique<Guard>(std::move(*g));
  }

  TelemetryMaps maps() {
    auto m = TelemetryMaps::from_program(*prog_);
    EXPECT_TRUE(m) << m.error().message();
    return std::move(*m);
  }
  telemetry::TmCounters counters() { return *maps().counters(); }

  std::uint32_t run(const Bytes& frame, std::uint32_t repeat = 1) {
    auto r = test_run(prog_->prog_fd(), frame, repeat);
    EXPECT_TRUE(r) << r.error().message();
    return r ? r->verdict : 0xffffffff;
  }

  RecordReader reader(telemetry::ReaderRequest req) {
    auto r = RecordReader::start(maps(), req, std::nullopt);
    EXPECT_TRUE(r) << r.error().message();
    // As `xdpguard capture` does: the classifier checks for a capture
    // only when compiled while one runs.
    auto re = guard_->recompile();
    EXPECT_TRUE(re) << re.error().message();
    return std::move(*r);
  }

  static std::vector<Got> drain(RecordReader& r) {
    std::vector<Got> out;
    auto n = r.drain([&](const xdpguard_record& h, std::span<const std::uint8_t> f) {
      out.push_back({h, Bytes(f.begin(), f.end())});
      return true;
    });
    EXPECT_TRUE(n) << n.error().message();
    return out;
  }

  std::uint64_t rule_packets(std::uint32_t id) {
    auto rules = guard_->rules();
    EXPECT_TRUE(rules);
    if (!rules) return ~0ULL;
    for (const auto& r : *rules)
      if (r.id == id) return r.counter.packets;
    return ~0ULL;
  }

  std::unique_ptr<GuardProgram> prog_;
  std::unique_ptr<Guard> guard_;
};

Bytes syn4(std::uint16_t sport, std::uint16_t dport) {
  return Packet().eth().ipv4("198.18.0.1", "198.18.0.2").tcp(sport, dport).flags(SYN).bytes();
}

TEST_F(TelemetryTest, LogRulesRecordEveryHitWithWhatWasSent) {
  auto ids = guard_->replace_rules({"drop tcp dport 23 log", "pass udp dport 53 log", "drop tcp dport 24"});
  ASSERT_TRUE(ids) << ids.error().message();
  auto rd = reader({XDPGUARD_READER_EVENTS, 64});

  const Bytes tcp = Packet().eth().ipv4("198.18.0.7", "198.18.0.2").tcp(40000, 23).flags(SYN | ECE).bytes();
  const Bytes udp6 = Packet().eth().vlan(7).ipv6("fd00::1", "fd00::2").udp(5353, 53).payload(100).bytes();
  const Bytes other = syn4(40001, 24);  // a rule without log: no record
  const std::uint64_t t0 = monotonic_ns();
  EXPECT_EQ(run(tcp), XDP_DROP);
  EXPECT_EQ(run(udp6), XDP_PASS);
  EXPECT_EQ(run(other), XDP_DROP);
  const std::uint64_t t1 = monotonic_ns();

  auto got = drain(rd);
  ASSERT_EQ(got.size(), 2u);
  const auto& a = got[0].hdr;
  EXPECT_EQ(a.type, XDPGUARD_REC_PACKET);
  EXPECT_EQ(a.reason, XDPGUARD_REASON_LOG);
  EXPECT_EQ(a.verdict, XDP_DROP);
  EXPECT_EQ(a.rule_id, (*ids)[0]);
  EXPECT_EQ(a.orig_len, tcp.size());
  EXPECT_EQ(a.cap_len, tcp.size());  // shorter than the snaplen
  EXPECT_EQ(got[0].frame, tcp);
  EXPECT_GE(a.ts_ns, t0);
  EXPECT_LE(a.ts_ns, t1);
  EXPECT_EQ(a.pkt.family, 4);
  EXPECT_EQ(a.pkt.l4proto, 6);
  EXPECT_EQ(a.pkt.saddr[0], htonl(0xc6120007));
  EXPECT_EQ(a.pkt.daddr[0], htonl(0xc6120002));
  EXPECT_EQ(a.pkt.sport, 40000);
  EXPECT_EQ(a.pkt.dport, 23);
  EXPECT_EQ(a.pkt.tcp_flags, SYN | ECE);

  const auto& b = got[1].hdr;
  EXPECT_EQ(b.verdict, XDP_PASS);
  EXPECT_EQ(b.rule_id, (*ids)[1]);
  EXPECT_EQ(b.orig_len, udp6.size());
  EXPECT_EQ(b.cap_len, 64u);  // the snaplen, not more
  EXPECT_EQ(got[1].frame, Bytes(udp6.begin(), udp6.begin() + 64));
  EXPECT_GE(b.ts_ns, a.ts_ns);
  EXPECT_EQ(b.pkt.family, 6);
  EXPECT_EQ(b.pkt.l4proto, 17);
  EXPECT_EQ(b.pkt.nvlan, 1);
  EXPECT_EQ(b.pkt.sport, 5353);
  EXPECT_EQ(b.pkt.dport, 53);

  auto c = counters();
  EXPECT_EQ(c.records, 2u);
  EXPECT_EQ(c.lost + c.sampled_out + c.unread, 0u);
  EXPECT_EQ(c.record_bytes, tcp.size() + 64);
  // Counters as without log: the rule and the action.
  EXPECT_EQ(rule_packets((*ids)[0]), 1u);
  EXPECT_EQ(rule_packets((*ids)[1]), 1u);
  auto s = guard_->stats();
  EXPECT_EQ(s->actions[XDP_DROP].packets, 2u);
  EXPECT_EQ(s->actions[XDP_PASS].packets, 1u);
}

// A rule with both a limit and log: the hits over the limit (the rule's
// matches) are recorded, the packets under it are not (the rule did not
// match them); the verdicts are the limit's.
TEST_F(TelemetryTest, LimitedRulesWithLogRecordTheirMatches) {
  auto ids = guard_->replace_rules({"drop udp dport 53 limit over 1/minute burst 3 log"});
  ASSERT_TRUE(ids) << ids.error().message();
  auto rd = reader({XDPGUARD_READER_EVENTS, 64});
  const Bytes dns = Packet().eth().ipv4("198.18.0.7", "198.18.0.2").udp(5353, 53).bytes();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run(dns), XDP_PASS) << "packet " << i << " is within the burst";
  for (int i = 0; i < 2; ++i) EXPECT_EQ(run(dns), XDP_DROP) << "packet " << i + 3 << " is over the limit";
  auto got = drain(rd);
  ASSERT_EQ(got.size(), 2u);
  for (const auto& g : got) {
    EXPECT_EQ(g.hdr.verdict, XDP_DROP);
    EXPECT_EQ(g.hdr.rule_id, (*ids)[0]);
    EXPECT_EQ(g.hdr.reason, XDPGUARD_REASON_LOG);
    EXPECT_EQ(g.frame, dns);
  }
  EXPECT_EQ(rule_packets((*ids)[0]), 2u);
  auto s = guard_->stats();
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->actions[XDP_DROP].packets, 2u);
  EXPECT_EQ(s->actions[XDP_PASS].packets, 3u);
}

TEST_F(TelemetryTest, WithoutAReaderNothingIsRecordedAndTheHitsCountAsUnread) {
  ASSERT_TRUE(guard_->replace_rules({"drop tcp dport 23 log"}));
  EXPECT_EQ(run(syn4(1, 23), 10), XDP_DROP);
  auto c = counters();
  EXPECT_EQ(c.unread, 10u);
  EXPECT_EQ(c.records, 0u);
  auto rd = reader({XDPGUARD_READER_EVENTS, 0});
  EXPECT_TRUE(drain(rd).empty());
  EXPECT_EQ(rule_packets(1), 10u);
}

TEST_F(TelemetryTest, SamplingIsDecidedInTheKernelWithinItsBound) {
  ASSERT_TRUE(guard_->replace_rules({"drop udp dport 9 log 1/10"}));
  auto rd = reader({XDPGUARD_READER_EVENTS, 0});
  const Bytes f = Packet().eth().ipv4("198.18.0.1", "198.18.0.2").udp(1, 9).bytes();
  constexpr std::uint32_t kN = 20000;
  EXPECT_EQ(run(f, kN), XDP_DROP);
  auto c = counters();
  EXPECT_EQ(c.records + c.sampled_out, kN);  // every hit either way
  EXPECT_EQ(c.lost + c.unread, 0u);
  // Binomial(20000, 0.1): mean 2000, sd 42.4; six sd either side.
  EXPECT_GT(c.records, 2000u - 255);
  EXPECT_LT(c.records, 2000u + 255);
  EXPECT_EQ(drain(rd).size(), c.records);
}

TEST_F(TelemetryTest, AFullRingBufferLosesRecordsCountedExactlyAndNeverTheVerdict) {
  ASSERT_TRUE(guard_->replace_rules({"drop udp log"}));
  auto rd = reader({XDPGUARD_READER_EVENTS, 0});
  const Bytes f = Packet().eth().ipv4("198.18.0.1", "198.18.0.2").udp(1, 9).bytes();
  // 88 bytes a record in the ring buffer: 8 MiB hold about 95,000.
  constexpr std::uint32_t kN = 150000;
  EXPECT_EQ(run(f, kN), XDP_DROP);
  auto c = counters();
  EXPECT_GT(c.lost, 0u);
  EXPECT_EQ(c.records + c.lost, kN);
  EXPECT_EQ(drain(rd).size(), c.records);
  EXPECT_EQ(guard_->stats()->actions[XDP_DROP].packets, kN);
  EXPECT_EQ(rule_packets(1), kN);
}

TEST_F(TelemetryTest, ACaptureRecordsWhatItAskedForOnTheFastPathToo) {
  // No log anywhere: these verdicts are applied inline by the classifier,
  // unless a capture runs.
  ASSERT_TRUE(guard_->replace_rules({"drop tcp dport 23", "pass udp"}));
  const Bytes drop = syn4(1, 23), pass = Packet().eth().ipv4("198.18.0.1", "198.18.0.2").udp(1, 9).bytes();
  const Bytes arp = Packet().eth("ff:ff:ff:ff:ff:ff").arp("198.18.0.1", "198.18.0.2").bytes();
  {
    auto rd = reader({XDPGUARD_READER_CAPTURE, 4096, 1u << XDP_DROP});
    run(drop), run(pass), run(drop), run(arp);
    auto got = drain(rd);
    ASSERT_EQ(got.size(), 2u);
    for (const auto& g : got) {
      EXPECT_EQ(g.hdr.reason, XDPGUARD_REASON_CAPTURE);
      EXPECT_EQ(g.hdr.verdict, XDP_DROP);
      EXPECT_EQ(g.frame, drop);
    }
  }
  {
    auto rd = reader({XDPGUARD_READER_CAPTURE, 4096, 0xff});
    run(arp), run(pass);
    auto got = drain(rd);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].frame, arp);  // not IP: never classified
    EXPECT_EQ(got[0].hdr.rule_id, XDPGUARD_SLOT_NONE);
    EXPECT_EQ(got[1].hdr.verdict, XDP_PASS);
    EXPECT_EQ(got[1].hdr.rule_id, 2u);
  }
  // The capture stopped: nothing is recorded, nothing counted.
  auto before = counters();
  run(drop), run(pass);
  auto after = counters();
  EXPECT_EQ(after.records, before.records);
  EXPECT_EQ(after.unread, before.unread);
}

TEST_F(TelemetryTest, ALapsedLeaseEndsTheRequestInTheKernel) {
  ASSERT_TRUE(guard_->replace_rules({"drop udp"}));
  // A capture whose reader died a second ago without clearing its request
  // (the rule set was compiled while it ran).
  xdpguard_telemetry v{};
  v.capture = 1;
  v.reader = XDPGUARD_READER_CAPTURE;
  v.lease_ns = monotonic_ns() + 60'000'000'000ULL;
  v.verdicts = 0xff;
  v.sample = XDPGUARD_LOG_ALL;
  auto m = maps();
  ASSERT_TRUE(m.write_control(v));
  ASSERT_TRUE(guard_->recompile());
  v.lease_ns = monotonic_ns() - 1'000'000'000ULL;
  ASSERT_TRUE(m.write_control(v));
  const Bytes f = Packet().eth().ipv4("198.18.0.1", "198.18.0.2").udp(1, 9).bytes();
  EXPECT_EQ(run(f), XDP_DROP);
  auto now = *m.read_control();
  EXPECT_EQ(now.capture, 0u);
  EXPECT_EQ(now.reader, 0u);
  EXPECT_EQ(counters().unread, 1u);
  EXPECT_EQ(counters().records, 0u);
}

TEST_F(TelemetryTest, RecordsOlderThanTheReaderAreSkipped) {
  ASSERT_TRUE(guard_->replace_rules({"drop udp log"}));
  const Bytes f = Packet().eth().ipv4("198.18.0.1", "198.18.0.2").udp(1, 9).bytes();
  {
    auto first = reader({XDPGUARD_READER_EVENTS, 0});
    run(f, 5);  // left in the ring buffer: this reader goes without reading
  }
  auto second = reader({XDPGUARD_READER_EVENTS, 0});
  run(f, 3);
  EXPECT_EQ(drain(second).size(), 3u);
  EXPECT_EQ(second.stale(), 5u);
}

// Whether the classifier in force references xg_talkers (the kernel lists
// the maps a program's instructions load).
bool classifier_counts_talkers(const GuardProgram& prog) {
  auto progs = prog.map(XDPGUARD_PIN_PROGS);
  auto talkers = prog.map(XDPGUARD_PIN_TALKERS);
  EXPECT_TRUE(progs && talkers);
  if (!progs || !talkers) return false;
  __u32 slot = XDPGUARD_PROG_CLASSIFIER, id = 0;
  EXPECT_EQ(bpf_map_lookup_elem(progs->fd(), &slot, &id), 0) << "no classifier installed";
  UniqueFd fd(bpf_prog_get_fd_by_id(id));
  EXPECT_TRUE(fd) << strerror(errno);
  std::array<__u32, 32> ids{};
  bpf_prog_info info{};
  info.nr_map_ids = ids.size();
  info.map_ids = reinterpret_cast<std::uintptr_t>(ids.data());
  __u32 len = sizeof info;
  EXPECT_EQ(bpf_obj_get_info_by_fd(fd.get(), &info, &len), 0) << strerror(errno);
  bpf_map_info mi{};
  __u32 mlen = sizeof mi;
  EXPECT_EQ(bpf_obj_get_info_by_fd(talkers->fd(), &mi, &mlen), 0) << strerror(errno);
  const auto end = ids.begin() + std::min<std::size_t>(info.nr_map_ids, ids.size());
  return std::find(ids.begin(), end, mi.id) != end;
}

TEST_F(TelemetryTest, TopTalkersCountEachSourceOnlyWhileOn) {
  ASSERT_TRUE(guard_->replace_rules({"drop udp dport 9"}));
  auto t = telemetry::Talkers::from_program(*prog_);
  ASSERT_TRUE(t) << t.error().message();
  // Off, the classifier has no code for them (not even the flag's load).
  EXPECT_FALSE(classifier_counts_talkers(*prog_));
  auto udp = [](const char* src) { return Packet().eth().ipv4(src, "198.18.0.2").udp(1, 9).bytes(); };
  const Bytes a = udp("198.18.1.1"), b = udp("198.18.1.2");
  const Bytes v6 = Packet().eth().ipv6("fd00::7", "fd00::2").udp(1, 9).bytes();
  const Bytes arp = Packet().eth("ff:ff:ff:ff:ff:ff").arp("198.18.0.1", "198.18.0.2").bytes();
  run(a, 5);  // off: not counted
  EXPECT_EQ(*t->enabled(), false);
  EXPECT_TRUE(t->read()->empty());

  ASSERT_TRUE(t->enable(true, *guard_));
  EXPECT_TRUE(classifier_counts_talkers(*prog_));
  run(a, 7), run(v6, 3), run(b, 2), run(arp, 4);  // v6 after a: words 1-3 of an IPv4 key stay 0
  run(a, 1);
  auto got = t->read();
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].address(), "198.18.1.1");
  EXPECT_EQ((*got)[0].packets, 8u);
  EXPECT_EQ((*got)[0].bytes, 8 * a.size());
  EXPECT_EQ((*got)[1].address(), "fd00::7");
  EXPECT_EQ((*got)[1].packets, 3u);
  EXPECT_EQ((*got)[2].address(), "198.18.1.2");
  EXPECT_EQ((*got)[2].packets, 2u);
  // Verdicts and rule counters as without.
  EXPECT_EQ(rule_packets(1), 5u + 7 + 3 + 2 + 1);

  ASSERT_TRUE(t->enable(false, *guard_));
  EXPECT_FALSE(classifier_counts_talkers(*prog_));
  run(a, 3);
  EXPECT_TRUE(t->read()->empty());
}

TEST_F(TelemetryTest, TopTalkersCountAPacketOnceThroughTheLimiter) {
  // Under its limit the limited rule does not match and the limiter resumes
  // the classifier after it: the packet still counts once for its source.
  // Over the limit the limiter applies the verdict itself: counted too.
  ASSERT_TRUE(guard_->replace_rules({"drop udp dport 9 limit over 1000000/s burst 1000000",
                                     "drop udp dport 10 limit over 1/d burst 1", "pass udp"}));
  auto t = telemetry::Talkers::from_program(*prog_);
  ASSERT_TRUE(t) << t.error().message();
  ASSERT_TRUE(t->enable(true, *guard_));
  // A rule set installed while they are on is compiled with them.
  ASSERT_TRUE(guard_->replace_rules({"drop udp dport 9 limit over 1000000/s burst 1000000",
                                     "drop udp dport 10 limit over 1/d burst 1", "pass udp"}));
  EXPECT_TRUE(classifier_counts_talkers(*prog_));
  const Bytes under = Packet().eth().ipv4("198.18.1.1", "198.18.0.2").udp(1, 9).bytes();
  const Bytes over = Packet().eth().ipv6("fd00::7", "fd00::2").udp(1, 10).bytes();
  EXPECT_EQ(run(under, 5), XDP_PASS);
  EXPECT_EQ(run(over, 1), XDP_PASS);  // the burst
  EXPECT_EQ(run(over, 3), XDP_DROP);
  auto got = t->read();
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].address(), "198.18.1.1");
  EXPECT_EQ((*got)[0].packets, 5u);
  EXPECT_EQ((*got)[1].address(), "fd00::7");
  EXPECT_EQ((*got)[1].packets, 4u);
}

}  // namespace
}  // namespace xdpguard::test
