// Atomicity under load: packets are classified continuously (BPF_PROG_TEST_RUN
// on every CPU) while the rule set is swapped thousands of times between A
// and B. Each packet must get the verdict of A or of B, never anything else.
#include <linux/bpf.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "bpf/test_run.h"
#include "guard/guard.h"
#include "support/privileged.h"

namespace xdpguard::test {
namespace {

// Ethernet + IPv4 + UDP to dport, valid checksum not needed for XDP.
std::vector<std::uint8_t> udp_frame(std::uint16_t dport) {
  std::vector<std::uint8_t> f(14 + 20 + 8 + 8, 0);
  f[12] = 0x08;  // IPv4
  std::uint8_t* ip = &f[14];
  ip[0] = 0x45;
  ip[3] = 36;  // total length
  ip[8] = 64;
  ip[9] = 17;  // UDP
  ip[12] = 198, ip[13] = 18, ip[14] = 0, ip[15] = 1;
  ip[16] = 198, ip[17] = 18, ip[18] = 0, ip[19] = 2;
  std::uint8_t* udp = &f[34];
  udp[0] = 0x30, udp[1] = 0x39;  // sport 12345
  udp[2] = static_cast<std::uint8_t>(dport >> 8), udp[3] = static_cast<std::uint8_t>(dport);
  udp[5] = 16;
  return f;
}

TEST(AtomicSwap, EveryVerdictComesFromOneRuleSet) {
  XG_REQUIRE_PRIVILEGES();
  auto prog = GuardProgram::open({});
  ASSERT_TRUE(prog);
  ASSERT_TRUE(prog->load());
  auto guard = Guard::from_program(*prog);
  ASSERT_TRUE(guard) << guard.error().message();

  // P (dport 1000): A pass, B drop. Q (dport 2000): A drop, B pass.
  // R (dport 3000): pass in both. A torn rule set
  // (A's tuples with B's entries or vice versa) would give P or Q the other
  // set's catch-all or default, and redirect is in neither.
  const std::vector<std::string> a = {"pass udp dport 1000", "drop udp dport 2000",
                                      "pass udp", "redirect dev lo tcp"};
  const std::vector<std::string> b = {"drop udp dport 1000", "pass udp dport 2000",
                                      "redirect dev lo tcp dport 7"};
  ASSERT_TRUE(guard->replace_rules(a));

  struct Kind {
    std::vector<std::uint8_t> frame;
    std::uint32_t in_a, in_b;
  };
  const std::vector<Kind> kinds = {{udp_frame(1000), XDP_PASS, XDP_DROP},
                                   {udp_frame(2000), XDP_DROP, XDP_PASS},
                                   {udp_frame(3000), XDP_PASS, XDP_PASS}};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> total{0}, bad{0}, as_a{0}, as_b{0};
  std::vector<std::thread> workers;
  unsigned ncpu = std::max(2u, std::thread::hardware_concurrency());
  for (unsigned w = 0; w < ncpu; ++w) {
    workers.emplace_back([&, w] {
      for (std::size_t i = w; !stop; ++i) {
        const Kind& k = kinds[i % kinds.size()];
        auto r = test_run(prog->prog_fd(), k.frame);
        if (!r) {
          ++bad;
          continue;
        }
        ++total;
        if (r->verdict == k.in_a && r->verdict == k.in_b) continue;
        if (r->verdict == k.in_a)
          ++as_a;
        else if (r->verdict == k.in_b)
          ++as_b;
        else
          ++bad;
      }
    });
  }
  constexpr int kSwaps = 2000;
  for (int s = 0; s < kSwaps; ++s) {
    auto r = guard->replace_rules(s % 2 ? a : b);
    ASSERT_TRUE(r) << r.error().message();
  }
  stop = true;
  for (auto& t : workers) t.join();
  EXPECT_EQ(bad, 0u) << "packets with a verdict neither rule set gives";
  // Both rule sets were really in force while packets flowed.
  EXPECT_GT(as_a, 0u);
  EXPECT_GT(as_b, 0u);
  RecordProperty("packets", std::to_string(total.load()));
  std::printf("atomic swap: %d swaps, %llu packets (%llu by A, %llu by B), 0 torn\n", kSwaps,
              static_cast<unsigned long long>(total.load()),
              static_cast<unsigned long long>(as_a.load()),
              static_cast<unsigned long long>(as_b.load()));
}

}  // namespace
}  // namespace xdpguard::test
