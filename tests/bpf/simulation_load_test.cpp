// The pipeline loaded for simulation (GuardConfig::simulation): its per-CPU
// entry is a plain one-entry array that the simulator maps (MappedArray), so
// a frame costs one system call. These tests check the pieces: the mapping
// is the map's values both ways, PerCpuMap reads the stand-in as one CPU,
// the verdict and rule read in place are right on every CPU the frames run
// on (nothing is pinned any more), the clock is driven in place, and such a
// pipeline is never attached.
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sched.h>

#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "bpf/map.h"
#include "guard/guard.h"
#include "simulate/simulate.h"
#include "support/packet.h"
#include "support/privileged.h"

namespace xdpguard::test {
namespace {

struct SimEntry {
  std::uint64_t a = 0;
  std::uint32_t b = 0;  // 12 bytes: the kernel lays values out every 16
  bool operator==(const SimEntry&) const = default;
};

MapFd sim_array(std::uint32_t entries, std::uint32_t flags, std::size_t value_size = sizeof(SimEntry)) {
  bpf_map_create_opts o{};
  o.sz = sizeof o;
  o.map_flags = flags;
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xg_sim_test", 4, static_cast<__u32>(value_size), entries, &o);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  auto m = MapFd::adopt(fd);
  EXPECT_TRUE(m) << m.error().message();
  return m ? std::move(*m) : MapFd{};
}

class SimulationLoad : public ::testing::Test {
 protected:
  void SetUp() override { XG_REQUIRE_PRIVILEGES(); }
};

TEST_F(SimulationLoad, AMappedArrayIsTheMapsValuesBothWays) {
  auto m = sim_array(3, BPF_F_MMAPABLE);
  auto mapped = MappedArray::map(m);
  ASSERT_TRUE(mapped) << mapped.error().message();
  // Written by a system call, read in place (entry 2: the 16-byte stride).
  const SimEntry two{0x1122334455667788, 42};
  __u32 k = 2;
  ASSERT_EQ(bpf_map_update_elem(m.fd(), &k, &two, BPF_ANY), 0);
  SimEntry seen;
  std::memcpy(&seen, mapped->value(2), sizeof seen);
  EXPECT_EQ(seen, two);
  // Written in place, read by a system call.
  const SimEntry one{7, 8};
  std::memcpy(mapped->value(1), &one, sizeof one);
  k = 1;
  SimEntry got;
  ASSERT_EQ(bpf_map_lookup_elem(m.fd(), &k, &got), 0);
  EXPECT_EQ(got, one);
  EXPECT_EQ(mapped->value(3), nullptr) << "past the last entry";
  // Moved: the new owner maps it, the old one nothing.
  MappedArray moved = std::move(*mapped);
  EXPECT_NE(moved.value(0), nullptr);
  EXPECT_EQ(mapped->value(0), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is the point

  auto plain = MappedArray::map(sim_array(1, 0));
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().message().find("not an mmapable array"), std::string::npos)
      << plain.error().message();
}

TEST_F(SimulationLoad, PerCpuMapReadsAStandInAsOneCpu) {
  auto stand_in = PerCpuMap<std::uint32_t, SimEntry>::wrap(sim_array(1, BPF_F_MMAPABLE));
  ASSERT_TRUE(stand_in) << stand_in.error().message();
  ASSERT_TRUE(stand_in->put_all(0, SimEntry{5, 6}));
  auto vals = stand_in->get(0);
  ASSERT_TRUE(vals) << vals.error().message();
  ASSERT_EQ(vals->size(), static_cast<std::size_t>(possible_cpus()));
  EXPECT_EQ((*vals)[0], (SimEntry{5, 6}));
  for (std::size_t i = 1; i < vals->size(); ++i) EXPECT_EQ((*vals)[i], SimEntry{}) << "CPU " << i;

  // Of more entries (the rule counters), each key the same way, written
  // in batches too.
  auto counters = PerCpuMap<std::uint32_t, SimEntry>::wrap(sim_array(3, BPF_F_MMAPABLE));
  ASSERT_TRUE(counters) << counters.error().message();
  EXPECT_EQ(counters->values_per_key(), 1u);
  ASSERT_TRUE(counters->put_all(std::vector<std::uint32_t>{1, 2}, SimEntry{7, 8}));
  for (std::uint32_t k = 0; k < 3; ++k) {
    auto v = counters->get(k);
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_EQ((*v)[0], (k ? SimEntry{7, 8} : SimEntry{})) << "key " << k;
    for (std::size_t i = 1; i < v->size(); ++i)
      EXPECT_EQ((*v)[i], SimEntry{}) << "key " << k << ", CPU " << i;
  }

  // A plain array that is not mmapable is not a stand-in.
  auto plain = PerCpuMap<std::uint32_t, SimEntry>::wrap(sim_array(1, 0));
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().message().find("not per-CPU"), std::string::npos) << plain.error().message();
}

simulate::Frame frame_of(const Bytes& b, std::uint64_t index, std::uint64_t ts_ns = 0) {
  simulate::Frame f;
  f.index = index;
  f.ts_ns = ts_ns;
  f.wire_len = static_cast<std::uint32_t>(b.size());
  f.data = b;
  return f;
}

// The rule read in place is the frame's own on every CPU the test runs run
// on: the simulator no longer pins itself, and a run on another CPU must
// not read a stale entry.
TEST_F(SimulationLoad, EachFramesRuleIsReadRightOnEveryCpu) {
  DesiredState want;
  want.default_action = 1;  // XDP_DROP
  want.rules = {"drop udp dport 53", "pass tcp dport 22", "pass udp"};
  auto sim = simulate::Simulator::from_state({}, want);
  ASSERT_TRUE(sim) << sim.error().message();
  const Bytes dns = lab_packet(false).udp(1000, 53).payload(8).bytes();
  const Bytes ssh = lab_packet(true).tcp(1000, 22).bytes();
  const Bytes udp = lab_packet(false).udp(1000, 5353).payload(8).bytes();
  const Bytes web = lab_packet(false).tcp(1000, 80).bytes();
  const Bytes arp = Packet().eth().arp("198.18.0.1", "198.18.0.2").bytes();
  struct Want {
    const Bytes* frame;
    std::uint32_t action;
    std::optional<std::uint32_t> rule;
  };
  const Want cases[] = {{&dns, XDP_DROP, 1},
                        {&ssh, XDP_PASS, 2},
                        {&udp, XDP_PASS, 3},
                        {&web, XDP_DROP, 0},
                        {&arp, XDP_PASS, std::nullopt}};
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  int cpus = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    ++cpus;
    std::thread([&, cpu] {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
      std::uint64_t index = 0;
      // Twice over, so that each frame follows one with another rule.
      for (int round = 0; round < 2; ++round)
        for (const Want& w : cases) {
          auto v = sim->run(frame_of(*w.frame, ++index));
          ASSERT_TRUE(v) << v.error().message();
          EXPECT_EQ(v->action, w.action) << "CPU " << cpu << ", frame " << index;
          EXPECT_EQ(v->rule, w.rule) << "CPU " << cpu << ", frame " << index;
        }
    }).join();
  }
  EXPECT_GE(cpus, 1);
}

// The driven clock is written in place: a limit of 2/s, burst 2, passes two
// frames of one second, drops the third, and passes again a second later.
TEST_F(SimulationLoad, TheClockIsTheFramesTimestamps) {
  DesiredState want;
  want.rules = {"drop udp dport 53 limit over 2/s burst 2", "pass udp"};
  auto sim = simulate::Simulator::from_state({}, want);
  ASSERT_TRUE(sim) << sim.error().message();
  const Bytes dns = lab_packet(false).udp(1000, 53).payload(8).bytes();
  const std::uint64_t t0 = 1'000'000'000'000;
  std::vector<std::uint32_t> got;
  std::uint64_t index = 0;
  for (std::uint64_t ts : {t0, t0 + 1'000'000, t0 + 2'000'000, t0 + 3'000'000, t0 + 2'000'000'000}) {
    auto v = sim->run(frame_of(dns, ++index, ts));
    ASSERT_TRUE(v) << v.error().message();
    got.push_back(v->action);
  }
  // Two within the rate pass (the drop rule is over the limit only after
  // them); then drops; two seconds later it passes again.
  EXPECT_EQ(got[0], XDP_PASS);
  EXPECT_EQ(got[1], XDP_PASS);
  EXPECT_EQ(got[2], XDP_DROP);
  EXPECT_EQ(got[3], XDP_DROP);
  EXPECT_EQ(got[4], XDP_PASS);
}

TEST_F(SimulationLoad, APipelineLoadedForSimulationIsNeverAttached) {
  GuardConfig cfg;
  cfg.simulation = true;
  auto g = Guard::attach(Interface{"xg-nonexistent", 999999}, AttachMode::Native, cfg);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message().find("simulation cannot be attached"), std::string::npos)
      << g.error().message();
}

}  // namespace
}  // namespace xdpguard::test
