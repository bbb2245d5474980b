// Concurrent xdpguard processes on one interface: every state-changing
// command takes the interface lock, so races end with one clear winner and
// clear errors for the others, and the state is always whole: the program is
// attached exactly when its pins exist.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "e2e/e2e_support.h"

namespace xdpguard::test {
namespace {

// Runs every command at once (one thread each, each a real process).
std::vector<CliRun> race(const Lab& lab, const std::vector<std::vector<std::string>>& cmds) {
  std::vector<CliRun> out(cmds.size());
  std::vector<std::thread> ts;
  for (std::size_t i = 0; i < cmds.size(); ++i) ts.emplace_back([&, i] { out[i] = xg_srv(lab, cmds[i]); });
  for (auto& t : ts) t.join();
  return out;
}

// Attached (the kernel runs xdpguard on the veth) must equal "pins whole"
// (stats and rule list read them).
void expect_whole(const Lab& lab, const std::string& when) {
  bool program = ip_link(lab).find("prog/xdp") != std::string::npos;
  auto stats = xg_srv(lab, {"stats", lab.server().veth, "--json"});
  auto rules = xg_srv(lab, {"rule", "list", lab.server().veth});
  EXPECT_EQ(program, stats.code == 0) << when << ": program attached " << program << ", stats: " << stats.err;
  EXPECT_EQ(program, rules.code == 0)
      << when << ": program attached " << program << ", rule list: " << rules.err;
  if (!program) {
    EXPECT_NE(stats.err.find("no xdpguard attached"), std::string::npos) << when << ": " << stats.err;
  }
}

class LockingTest : public LabTest {};

TEST_F(LockingTest, ConcurrentAttachesHaveOneWinner) {
  const std::string v = lab_->server().veth;
  for (int round = 0; round < 3; ++round) {
    auto runs = race(*lab_, std::vector<std::vector<std::string>>(4, {"attach", v}));
    int won = 0;
    for (const auto& r : runs) {
      if (r.code == 0) {
        ++won;
        continue;
      }
      EXPECT_EQ(r.code, 1);
      EXPECT_NE(r.err.find("already attached"), std::string::npos) << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
    EXPECT_EQ(won, 1) << "round " << round;
    expect_whole(*lab_, "after concurrent attaches");
    ASSERT_EQ(xg_srv(*lab_, {"detach", v}).code, 0);
  }
}

TEST_F(LockingTest, AttachRacingDetachLeavesWholeState) {
  const std::string v = lab_->server().veth;
  for (int round = 0; round < 8; ++round) {
    // Start from both states: attached on odd rounds, detached on even ones.
    auto pre = xg_srv(*lab_, {round % 2 ? "attach" : "detach", v});
    ASSERT_TRUE(pre.code == 0 || pre.err.find("already attached") != std::string::npos ||
                pre.err.find("no xdpguard attached") != std::string::npos)
        << pre.err;
    auto runs = race(*lab_, {{"attach", v}, {"detach", v}, {"attach", v}, {"detach", v}});
    for (const auto& r : runs) {
      if (r.code == 0) continue;
      EXPECT_TRUE(r.err.find("already attached") != std::string::npos ||
                  r.err.find("no xdpguard attached") != std::string::npos)
          << r.err;
    }
    expect_whole(*lab_, "round " + std::to_string(round));
  }
}

TEST_F(LockingTest, ConcurrentRuleAddsAreAllKept) {
  const std::string v = lab_->server().veth;
  ASSERT_EQ(xg_srv(*lab_, {"attach", v}).code, 0);
  std::vector<std::vector<std::string>> cmds;
  for (int i = 0; i < 12; ++i)
    cmds.push_back({"rule", "add", v, "drop udp dport " + std::to_string(20000 + i)});
  auto runs = race(*lab_, cmds);
  std::set<std::string> ids;
  for (const auto& r : runs) {
    EXPECT_EQ(r.code, 0) << r.err;
    ids.insert(r.out);
  }
  EXPECT_EQ(ids.size(), cmds.size()) << "every add got its own id";
  auto list = xg_srv(*lab_, {"rule", "list", v, "--json"});
  ASSERT_EQ(list.code, 0) << list.err;
  auto j = nlohmann::json::parse(list.out);
  EXPECT_EQ(j["rules"].size(), cmds.size()) << list.out;
}

TEST_F(LockingTest, RuleCommandsRacingDetachFailCleanly) {
  const std::string v = lab_->server().veth;
  ASSERT_EQ(xg_srv(*lab_, {"attach", v}).code, 0);
  auto runs = race(*lab_, {{"rule", "add", v, "drop udp dport 1"},
                           {"detach", v},
                           {"rule", "add", v, "drop udp dport 2"},
                           {"set", "list", v}});
  for (const auto& r : runs) {
    if (r.code == 0) continue;
    {
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
      EXPECT_TRUE(r.err.find("no xdpguard attached") != std::string::npos ||
                  r.err.find("detached meanwhile") != std::string::npos)
          << r.err;
    }
  }
  EXPECT_EQ(runs[1].code, 0) << runs[1].err;
  expect_whole(*lab_, "after detach");
}

}  // namespace
}  // namespace xdpguard::test
