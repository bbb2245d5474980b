// Atomicity under load: packets are classified continuously (BPF_PROG_TEST_RUN
// on every CPU) while the rule set is swapped thousands of times between A
// and B. Each packet must get the verdict of A or of B, never anything else,
// and no packet may find the classifier slot empty (the guard program then
// passes it unclassified and counts XDPGUARD_ERR_NO_CLASSIFIER). A quarter of
// the swaps install big variants of A and B: the same deciding rules among a
// few hundred others, so that the deciding ones sit in Ports tables and the
// classifier has Trie4 and Hash6 tables to walk past.
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <atomic>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "bpf/test_run.h"
#include "guard/guard.h"
#include "support/packet.h"
#include "support/privileged.h"

namespace xdpguard::test {
namespace {

// UDP from 198.18.0.1:12345 (or fd00::1) to dport.
Bytes udp_frame(std::uint16_t dport, bool v6 = false) {
  return lab_packet(v6).udp(12345, dport).payload(8).bytes();
}

// `rules` after a few hundred that match none of the test frames, with
// tables of every kind: UDP ports (the partition of the deciding rules, so
// they end up in the same Ports table), IPv4 prefixes, IPv6 prefixes.
std::vector<std::string> big(const std::vector<std::string>& rules, int variant) {
  std::vector<std::string> out;
  for (int i = 0; i < 200; ++i) out.push_back(fmt::format("drop udp dport {}", 10000 + 300 * variant + i));
  for (int i = 0; i < 100; ++i) out.push_back(fmt::format("drop ip saddr 10.{}.{}.0/24", variant, i));
  for (int i = 0; i < 100; ++i) out.push_back(fmt::format("pass ip6 daddr fd01:{}:{:x}::/48", variant, i));
  out.insert(out.end(), rules.begin(), rules.end());
  return out;
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
  const std::vector<std::string> a = {"pass udp dport 1000", "drop udp dport 2000", "pass udp",
                                      "redirect dev lo tcp"};
  const std::vector<std::string> b = {"drop udp dport 1000", "pass udp dport 2000",
                                      "redirect dev lo tcp dport 7"};
  const std::vector<std::string> big_a = big(a, 0), big_b = big(b, 1);
  for (const auto* rs : {&big_a, &big_b}) {
    ASSERT_TRUE(guard->replace_rules(*rs));
    auto plan = guard->plan();
    ASSERT_TRUE(plan) << plan.error().message();
    std::set<cls::GroupKind> kinds;
    for (const auto& g : plan->compiled.plan.groups) kinds.insert(g.kind);
    ASSERT_TRUE(kinds.count(cls::GroupKind::Ports) && kinds.count(cls::GroupKind::Trie4) &&
                kinds.count(cls::GroupKind::Hash6))
        << "the big rule sets are meant to have tables of every kind";
  }
  // The error counter works: with slot 0 empty, an IP packet counts there.
  {
    auto progs = prog->map("xg_progs");
    ASSERT_TRUE(progs) << progs.error().message();
    __u32 slot = XDPGUARD_PROG_CLASSIFIER;
    ASSERT_EQ(bpf_map_delete_elem(progs->fd(), &slot), 0);
    auto r = test_run(prog->prog_fd(), udp_frame(1000));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->verdict, XDP_PASS) << "no classifier: fail open";
  }
  ASSERT_TRUE(guard->replace_rules(a));
  auto stats0 = guard->stats();
  ASSERT_TRUE(stats0) << stats0.error().message();
  ASSERT_EQ(stats0->errors[XDPGUARD_ERR_NO_CLASSIFIER].packets, 1u);

  struct Kind {
    Bytes frame;
    std::uint32_t in_a, in_b;
  };
  const std::vector<Kind> kinds = {{udp_frame(1000), XDP_PASS, XDP_DROP},
                                   {udp_frame(2000), XDP_DROP, XDP_PASS},
                                   {udp_frame(3000), XDP_PASS, XDP_PASS},
                                   {udp_frame(1000, true), XDP_PASS, XDP_DROP},
                                   {udp_frame(2000, true), XDP_DROP, XDP_PASS}};
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
  int big_swaps = 0;
  std::optional<std::string> failed;
  for (int s = 0; s < kSwaps && !failed; ++s) {
    const bool use_big = (s / 2) % 4 == 3;  // A, B, A, B, A, B, big A, big B, ...
    big_swaps += use_big;
    auto r = guard->replace_rules(s % 2 ? (use_big ? big_b : b) : (use_big ? big_a : a));
    if (!r) failed = fmt::format("swap {}: {}", s, r.error().message());
  }
  stop = true;
  for (auto& t : workers) t.join();
  ASSERT_FALSE(failed) << *failed;
  EXPECT_EQ(bad, 0u) << "packets with a verdict neither rule set gives";
  // Both rule sets were really in force while packets flowed.
  EXPECT_GT(as_a, 0u);
  EXPECT_GT(as_b, 0u);
  // And no packet ever ran between two classifiers.
  auto stats = guard->stats();
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->errors[XDPGUARD_ERR_NO_CLASSIFIER].packets, 1u)
      << "packets found no classifier in slot 0 during a swap (1 is the probe above)";
  EXPECT_EQ(stats->errors[XDPGUARD_ERR_NO_ENFORCE].packets, 0u);
  std::uint64_t counted = 0;
  for (const auto& c : stats->actions) counted += c.packets;
  EXPECT_GE(counted, total.load()) << "every classified packet is counted by its action";
  RecordProperty("packets", std::to_string(total.load()));
  std::printf(
      "atomic swap: %d swaps (%d of rule sets with %zu rules), %llu packets (%llu by A, "
      "%llu by B), 0 torn, 0 unclassified\n",
      kSwaps, big_swaps, big_a.size(), static_cast<unsigned long long>(total.load()),
      static_cast<unsigned long long>(as_a.load()), static_cast<unsigned long long>(as_b.load()));
}

}  // namespace
}  // namespace xdpguard::test
