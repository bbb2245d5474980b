// Rule ids (docs/classifier.md, "Rule ids"): an id names one rule for its
// whole life. A deleted or replaced rule's id is not handed out again while
// other ids are free (else a metrics series rule_id="3" would silently change
// meaning), ids wrap past XDPGUARD_MAX_RULES, and a new rule's counter is
// zero when it goes live even while packets keep hitting the rule it
// replaces until the swap.
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "bpf/test_run.h"
#include "core/unique_fd.h"
#include "guard/guard.h"
#include "support/packet.h"
#include "support/privileged.h"

namespace xdpguard::test {
namespace {

class RuleIds : public ::testing::Test {
 protected:
  void SetUp() override {
    XG_REQUIRE_PRIVILEGES();
    auto p = GuardProgram::open({});
    ASSERT_TRUE(p);
    ASSERT_TRUE(p->load());
    prog_.emplace(std::move(*p));
    auto g = Guard::from_program(*prog_);
    ASSERT_TRUE(g) << g.error().message();
    guard_.emplace(std::move(*g));
  }
  std::uint32_t add(const std::string& text, std::optional<std::uint32_t> before = {}) {
    auto id = guard_->add_rule(text, before);
    EXPECT_TRUE(id) << text << ": " << id.error().message();
    return id ? id->id : 0;
  }
  std::vector<std::uint32_t> ids() {
    std::vector<std::uint32_t> out;
    auto rs = guard_->rules();
    EXPECT_TRUE(rs) << rs.error().message();
    if (rs)
      for (const auto& r : *rs) out.push_back(r.id);
    return out;
  }
  std::uint32_t next_id() {
    auto p = guard_->plan();
    EXPECT_TRUE(p) << p.error().message();
    return p ? p->installed.next_id : 0;
  }
  std::optional<GuardProgram> prog_;
  std::optional<Guard> guard_;
};

TEST_F(RuleIds, AFreedIdIsNotReusedWhileOthersAreFree) {
  EXPECT_EQ(add("drop udp dport 1"), 1u);
  EXPECT_EQ(add("drop udp dport 2"), 2u);
  ASSERT_TRUE(guard_->delete_rule(1));
  EXPECT_EQ(add("drop udp dport 3"), 3u) << "the id of the deleted rule 1 was handed out again";
  ASSERT_TRUE(guard_->delete_rule(3));
  EXPECT_EQ(add("drop udp dport 4", 2), 4u);
  EXPECT_EQ(ids(), (std::vector<std::uint32_t>{4, 2}));
  EXPECT_EQ(next_id(), 5u);
  // The counter survives changes that hand out no id.
  ASSERT_TRUE(guard_->delete_rule(4));
  ASSERT_TRUE(guard_->set_default_action(XDP_DROP));
  EXPECT_EQ(next_id(), 5u);

  // replace_rules: rules whose canonical text stays keep their ids (and the
  // same text twice keeps both), the others get new ones, in turn.
  auto r = guard_->replace_rules({"drop udp dport 10", "drop udp dport 2", "drop udp dport 11"});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, (std::vector<std::uint32_t>{5, 2, 6}));
  r = guard_->replace_rules({"drop udp dport 11", "drop udp   dport 10", "drop udp dport 12"});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, (std::vector<std::uint32_t>{6, 5, 7})) << "dropped rule 2's id is not reused";
  EXPECT_EQ(next_id(), 8u);
}

// Ids are handed out in turn up to XDPGUARD_MAX_RULES, then from 1 again,
// skipping the ids in force; a rule set that needs every id at once still
// installs.
TEST_F(RuleIds, IdsWrapPastTheLimit) {
  auto texts = [](int base, int n) {
    std::vector<std::string> t;
    for (int i = 0; i < n; ++i) t.push_back(fmt::format("drop udp dport {}", base + i));
    return t;
  };
  constexpr int kHalf = XDPGUARD_MAX_RULES / 2;
  auto a = guard_->replace_rules(texts(1, kHalf));  // ids 1..8192
  ASSERT_TRUE(a) << a.error().message();
  auto b = guard_->replace_rules(texts(20001, kHalf));  // 8193..16384
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->front(), static_cast<std::uint32_t>(kHalf + 1));
  EXPECT_EQ(b->back(), static_cast<std::uint32_t>(XDPGUARD_MAX_RULES));
  EXPECT_EQ(next_id(), 1u) << "wrapped";
  // Keep the first 100 of b; 100 new rules take 1..100 (free again).
  auto keep = texts(20001, 100);
  auto more = texts(40001, 100);
  keep.insert(keep.end(), more.begin(), more.end());
  auto c = guard_->replace_rules(keep);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ((*c)[0], static_cast<std::uint32_t>(kHalf + 1));
  EXPECT_EQ((*c)[100], 1u);
  EXPECT_EQ((*c)[199], 100u);
  // A full rule set replaced by a wholly different full one: more ids than
  // exist without the dropped ones; it installs, each id used once.
  auto full = guard_->replace_rules(texts(1, XDPGUARD_MAX_RULES));
  ASSERT_TRUE(full) << full.error().message();
  auto other = guard_->replace_rules(texts(30000, XDPGUARD_MAX_RULES));
  ASSERT_TRUE(other) << other.error().message();
  EXPECT_EQ(std::set<std::uint32_t>(other->begin(), other->end()).size(),
            static_cast<std::size_t>(XDPGUARD_MAX_RULES));
}

// `rule add` compiles and loads the new rule set while its lockout check
// runs (Guard::prepare_rule), and swaps it in afterwards (commit) only
// if the rule set it extends is still the one in force: a change that came
// between is never undone, and no id goes to two rules.
TEST_F(RuleIds, APreparedRuleGoesInOnlyOverTheRuleSetItExtends) {
  const Bytes port2 = lab_packet(false).udp(12345, 2).payload(8).bytes();
  const Bytes port4 = lab_packet(false).udp(12345, 4).payload(8).bytes();
  EXPECT_EQ(add("drop udp dport 1"), 1u);
  auto stale = guard_->prepare_rule("drop udp dport 2");
  ASSERT_TRUE(stale) << stale.error().message();
  EXPECT_EQ(stale->added.id, 2u);
  // Loaded, not in force: nothing changed yet.
  EXPECT_EQ(ids(), (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(test_run(prog_->prog_fd(), port2)->verdict, XDP_PASS);
  // Another change meanwhile takes the next id, the same one.
  EXPECT_EQ(add("drop udp dport 3"), 2u);
  auto late = guard_->commit(*stale);
  ASSERT_TRUE(late) << late.error().message();
  EXPECT_FALSE(*late);
  EXPECT_EQ(ids(), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(test_run(prog_->prog_fd(), port2)->verdict, XDP_PASS);
  auto rs = guard_->rules();
  ASSERT_TRUE(rs);
  EXPECT_EQ(rs->back().text, "drop udp dport 3");
  // Prepared over the rule set in force: it goes in, as add_rule would.
  auto fresh = guard_->prepare_rule("drop udp dport 4", 1);
  ASSERT_TRUE(fresh) << fresh.error().message();
  auto in = guard_->commit(*fresh);
  ASSERT_TRUE(in) << in.error().message();
  EXPECT_TRUE(*in);
  EXPECT_EQ(ids(), (std::vector<std::uint32_t>{3, 1, 2}));
  EXPECT_EQ(test_run(prog_->prog_fd(), port4)->verdict, XDP_DROP);
}

// Records were not always mmapable: a classifier installed by an earlier
// xdpguard (an upgrade while it runs) carries a record read by batch lookup.
// Its rules read the same, and the next change builds on them.
TEST_F(RuleIds, ARecordFromBeforeRecordsWereMmapableReadsTheSame) {
  EXPECT_EQ(add("drop udp dport 1"), 1u);
  EXPECT_EQ(add("pass tcp dport 22 comment \"ssh\""), 2u);
  auto before = guard_->plan();
  ASSERT_TRUE(before) << before.error().message();
  // The same record as an earlier xdpguard made it: not mmapable, written
  // by update, frozen, bound to the classifier in slot 0.
  LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_RDONLY_PROG);
  UniqueFd rec(
      bpf_map_create(BPF_MAP_TYPE_ARRAY, XDPGUARD_RULESET_MAP, 4, sizeof(xdpguard_ruleset_entry), 3, &mo));
  ASSERT_TRUE(rec) << std::strerror(errno);
  const char* texts[] = {"drop udp dport 1", "pass tcp dport 22 comment \"ssh\""};
  for (__u32 k = 0; k < 3; ++k) {
    xdpguard_ruleset_entry e{};
    if (k == 0) {
      e.hdr = before->installed;
    } else {
      e.rule.id = k;
      std::strcpy(e.text, texts[k - 1]);
    }
    ASSERT_EQ(bpf_map_update_elem(rec.get(), &k, &e, BPF_ANY), 0) << std::strerror(errno);
  }
  ASSERT_EQ(bpf_map_freeze(rec.get()), 0);
  const bpf_insn pass[] = {{BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, XDP_PASS},
                           {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
  LIBBPF_OPTS(bpf_prog_load_opts, po, .expected_attach_type = BPF_XDP);
  UniqueFd old(bpf_prog_load(BPF_PROG_TYPE_XDP, "xg_classifier", "Dual BSD/GPL", pass, 2, &po));
  ASSERT_TRUE(old) << std::strerror(errno);
  ASSERT_EQ(bpf_prog_bind_map(old.get(), rec.get(), nullptr), 0);
  auto progs = prog_->map(XDPGUARD_PIN_PROGS);
  ASSERT_TRUE(progs) << progs.error().message();
  __u32 slot = XDPGUARD_PROG_CLASSIFIER;
  int fd = old.get();
  ASSERT_EQ(bpf_map_update_elem(progs->fd(), &slot, &fd, BPF_ANY), 0);

  auto rs = guard_->rules();
  ASSERT_TRUE(rs) << rs.error().message();
  ASSERT_EQ(rs->size(), 2u);
  EXPECT_EQ((*rs)[0].id, 1u);
  EXPECT_EQ((*rs)[0].text, texts[0]);
  EXPECT_EQ((*rs)[1].id, 2u);
  EXPECT_EQ((*rs)[1].text, texts[1]);
  // The next change reads it, and what it installs is mmapable and real.
  EXPECT_EQ(add("drop udp dport 2"), 3u);
  EXPECT_EQ(ids(), (std::vector<std::uint32_t>{1, 2, 3}));
  EXPECT_EQ(test_run(prog_->prog_fd(), lab_packet(false).udp(12345, 2).payload(8).bytes())->verdict,
            XDP_DROP);
  EXPECT_EQ(test_run(prog_->prog_fd(), lab_packet(false).udp(12345, 1).payload(8).bytes())->verdict,
            XDP_DROP);
}

// Packets keep hitting rule A (udp dport 1000) from another thread while the
// rule set is replaced, again and again, by B (udp dport 2000) and back. No
// packet ever matches B, so B's counter must read 0 right after every swap
// to B: before ids were kept apart, B took A's id and slot, which was zeroed
// before the swap while A still counted into it.
TEST_F(RuleIds, NewRuleCounterStartsAtZeroWhileTheOldRuleCounts) {
  const Bytes hit_a = lab_packet(false).udp(12345, 1000).payload(8).bytes();
  ASSERT_TRUE(guard_->replace_rules({"drop udp dport 1000"}));
  ASSERT_EQ(test_run(prog_->prog_fd(), hit_a)->verdict, XDP_DROP);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> runs{0};
  std::thread traffic([&] {
    while (!stop) {
      auto r = test_run(prog_->prog_fd(), hit_a, 2000);
      if (!r) return;
      runs += 2000;
    }
  });
  int leaked = 0, swaps = 0;
  std::string first;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int i = 0; i < 1000 && std::chrono::steady_clock::now() < deadline; ++i) {
    auto b = guard_->replace_rules({"drop udp dport 2000"});
    ASSERT_TRUE(b) << b.error().message();
    ++swaps;
    auto rs = guard_->rules();
    ASSERT_TRUE(rs) << rs.error().message();
    ASSERT_EQ(rs->size(), 1u);
    if ((*rs)[0].counter.packets != 0) {
      if (!leaked++)
        first = fmt::format("swap {}: rule id {} (udp dport 2000) shows {} packets", i, (*rs)[0].id,
                            (*rs)[0].counter.packets);
    }
    ASSERT_TRUE(guard_->replace_rules({"drop udp dport 1000"}));
  }
  stop = true;
  traffic.join();
  EXPECT_GT(runs.load(), 0u);
  EXPECT_EQ(leaked, 0) << leaked << " of " << swaps
                       << " new rules started with hits of the rule they replaced; " << first;
  std::printf("%d swaps, %llu packets hitting the old rule meanwhile\n", swaps,
              static_cast<unsigned long long>(runs.load()));
}

}  // namespace
}  // namespace xdpguard::test
