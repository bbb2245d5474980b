// Crash consistency: a command killed (SIGKILL, as by a crash or kill -9)
// after any of its steps leaves state that the next command reports exactly
// as the kernel enforces it, or reports as interrupted and repairs on the
// next try. The kill comes from the fault points the library has between
// its steps (core/fault.h: XDPGUARD_FAULT=<step>), which only the test build's
// `xdpguard-faults` binary has; what is enforced is judged by real traffic,
// never by reading the state back.
#include <sys/stat.h>

#include <fstream>

#include <gtest/gtest.h>

#include "e2e/e2e_support.h"

namespace xdpguard::test {
namespace {

constexpr int kKilled = 128 + 9;  // exit status of a process killed by SIGKILL

class CrashTest : public GuardedLabTest {
 protected:
  // `xdpguard-faults -n <server> args...`, killed at `step`.
  CliRun killed_at(const std::string& step, std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", lab_->server().netns});
    auto r = xdpguard_faults_cli(args, {"env", "XDPGUARD_FAULT=" + step});
    EXPECT_EQ(r.code, kKilled) << step << ": " << r.err;
    return r;
  }
  CliRun xg(std::vector<std::string> args) { return xg_srv(*lab_, std::move(args)); }
  const std::string& veth() const { return lab_->server().veth; }

  // The rule texts `rule list --json` shows, in order.
  std::vector<std::string> listed() {
    auto r = xg({"rule", "list", veth(), "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    std::vector<std::string> out;
    if (r.code != 0) return out;
    const auto doc = nlohmann::json::parse(r.out);  // the loop must not outlive it
    for (const auto& j : doc["rules"]) out.push_back(j["rule"]);
    return out;
  }
  static bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }
  std::string set_file(const std::string& name, const std::vector<std::string>& lines) {
    std::string path = "/tmp/" + lab_->prefix() + "-" + name + ".txt";
    std::ofstream f(path);
    for (const auto& l : lines) f << l << "\n";
    files_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const auto& f : files_) std::filesystem::remove(f);
    GuardedLabTest::TearDown();
  }
  std::vector<std::string> files_;
};

// The rule a command adds or removes, and whether UDP to its port arrives.
TEST_F(CrashTest, RuleAddKilledAtEveryStep) {
  const std::string rule = "drop udp dport 7001";
  for (const char* step : {"rules-loaded", "rules-installed"}) {
    killed_at(step, {"rule", "add", veth(), rule});
    bool listed_now = has(listed(), rule);
    bool enforced = udp_delivered(*lab_, 7001, 5) == 0;
    EXPECT_EQ(listed_now, enforced) << step << ": listed " << listed_now << ", enforced " << enforced;
    // Killed before the one write that installs, nothing changed; after it,
    // the rule is in.
    EXPECT_EQ(listed_now, std::string(step) == "rules-installed") << step;
    if (listed_now) {
      auto rules = nlohmann::json::parse(xg({"rule", "list", veth(), "--json"}).out)["rules"];
      ASSERT_EQ(xg({"rule", "del", veth(), std::to_string(rules[0]["id"].get<int>())}).code, 0);
    }
  }
}

TEST_F(CrashTest, RuleDelKilledAtEveryStep) {
  const std::string rule = "drop udp dport 7002";
  for (const char* step : {"rules-loaded", "rules-installed"}) {
    auto add = xg({"rule", "add", veth(), rule});
    ASSERT_EQ(add.code, 0) << add.err;
    killed_at(step, {"rule", "del", veth(), add.out.substr(0, add.out.find('\n'))});
    bool listed_now = has(listed(), rule);
    bool enforced = udp_delivered(*lab_, 7002, 5) == 0;
    EXPECT_EQ(listed_now, enforced) << step;
    EXPECT_EQ(listed_now, std::string(step) == "rules-loaded") << step;
    if (listed_now) {
      ASSERT_EQ(xg({"rule", "del", veth(), add.out.substr(0, add.out.find('\n'))}).code, 0);
    }
  }
}

// A set replaced half-way (IPv4 swapped, IPv6 not): `set list` gives each
// family's size as enforced and says the set is torn; loading it again
// repairs it.
TEST_F(CrashTest, SetReplacedHalfWayIsReportedAndRepaired) {
  const auto& c = lab_->client();
  auto old_file = set_file("old", {c.ip4, "203.0.113.0/24"});  // 2 IPv4, 0 IPv6
  auto new_file = set_file("new", {std::string(c.ip6)});       // 0 IPv4, 1 IPv6
  ASSERT_EQ(xg({"set", "load", veth(), "s", old_file}).code, 0);
  ASSERT_EQ(xg({"rule", "add", veth(), "drop udp dport 7003 saddr @s"}).code, 0);
  ASSERT_EQ(udp_delivered(*lab_, 7003, 5), 0) << "old set: the client's IPv4 address is in";
  ASSERT_EQ(udp_delivered(*lab_, 7003, 5, true), 5) << "old set: no IPv6 member";

  killed_at("set-v4-swapped", {"set", "load", veth(), "s", new_file});
  auto list = xg({"set", "list", veth(), "--json"});
  ASSERT_EQ(list.code, 0) << list.err;
  auto s = nlohmann::json::parse(list.out)["sets"][0];
  EXPECT_EQ(s["ipv4"], 0) << "IPv4 members are the new load's";
  EXPECT_EQ(s["ipv6"], 0) << "IPv6 members are still the old load's";
  EXPECT_EQ(s["consistent"], false);
  EXPECT_NE(xg({"set", "list", veth()}).err.find("different loads"), std::string::npos);
  // What the kernel does agrees: neither family blocks the client.
  EXPECT_EQ(udp_delivered(*lab_, 7003, 5), 5);
  EXPECT_EQ(udp_delivered(*lab_, 7003, 5, true), 5);

  ASSERT_EQ(xg({"set", "load", veth(), "s", new_file}).code, 0);
  s = nlohmann::json::parse(xg({"set", "list", veth(), "--json"}).out)["sets"][0];
  EXPECT_EQ(s["ipv6"], 1);
  EXPECT_EQ(s["consistent"], true);
  EXPECT_EQ(udp_delivered(*lab_, 7003, 5, true), 0) << "repaired: the IPv6 member blocks";
}

// A new set whose load died before it was named does not exist; the next
// load clears what it left and says so.
TEST_F(CrashTest, NewSetKilledBeforeItsNameIsGone) {
  auto file = set_file("n", {lab_->client().ip4});
  for (const char* step : {"set-v4-swapped", "set-v6-swapped"}) {
    killed_at(step, {"set", "load", veth(), "fresh", file});
    auto list = xg({"set", "list", veth(), "--json"});
    ASSERT_EQ(list.code, 0) << list.err;
    EXPECT_TRUE(nlohmann::json::parse(list.out)["sets"].empty()) << step << ": " << list.out;
    auto use = xg({"rule", "add", veth(), "drop saddr @fresh"});
    EXPECT_NE(use.code, 0) << step << ": a rule could use a set that does not exist";
  }
  auto again = xg({"set", "load", veth(), "fresh", file});
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.err.find("interrupted set load"), std::string::npos) << again.err;
}

TEST_F(CrashTest, SetDeleteKilledAfterUnnaming) {
  auto file = set_file("d", {lab_->client().ip4});
  ASSERT_EQ(xg({"set", "load", veth(), "gone", file}).code, 0);
  killed_at("set-unnamed", {"set", "del", veth(), "gone"});
  auto list = xg({"set", "list", veth(), "--json"});
  EXPECT_TRUE(nlohmann::json::parse(list.out)["sets"].empty()) << list.out;
  auto again = xg({"set", "load", veth(), "other", file});
  EXPECT_EQ(again.code, 0) << again.err;
}

// `apply` (and the service's apply at its start, `run`) from state A to
// state B (tests/e2e/apply_test.cpp: the rules and the set both change, and
// a mix of them would pass what both drop), killed after every step: what is enforced is A or B whole (the
// client's datagrams to 7009 are dropped either way), the listed rules are what is enforced (A's until the
// one write, B's from it), and the next apply settles what the killed one staged (one set left, B's members).
TEST_F(CrashTest, ApplyKilledAtEveryStepLeavesTheOldOrTheNewState) {
  const std::string path = "/tmp/" + lab_->prefix() + "-apply.toml";
  files_.push_back(path);
  const std::string client = lab_->client().ip4;
  auto state = [&](bool b) {
    std::string rules = "\"drop udp dport 7009 saddr @S\"";
    if (b) rules += ", \"drop udp dport 7009 saddr " + client + "\"";
    std::ofstream(path) << "[interfaces." << veth() << "]\nrules = [" << rules
                        << "]\n[sets.S]\nelements = [\"" << (b ? "198.19.9.0/24" : client + "/32") << "\"]\n";
  };
  const std::vector<std::string> apply = {"apply", "--config", path};
  // The same apply run by the service at its start (`run`: the file is
  // root's, 0644).
  const std::vector<std::string> run = {"run", "--config", path};
  for (const auto& command : {apply, run}) {
    for (const char* step : {"apply-staged", "apply-prepared", "rules-loaded", "rules-installed",
                             "apply-swapped", "apply-set-freed"}) {
      SCOPED_TRACE(command[0] + " killed at " + step);
      state(false);
      auto a = xg(apply);
      ASSERT_EQ(a.code, 0) << step << ": " << a.err;
      state(true);
      killed_at(step, command);
      EXPECT_EQ(udp_delivered(*lab_, 7009, 5), 0)
          << step << ": old rules met new sets, or new rules old sets";
      const bool new_rules = listed().size() == 2;
      const bool installed = std::string(step) != "apply-staged" && std::string(step) != "apply-prepared" &&
                             std::string(step) != "rules-loaded";
      EXPECT_EQ(new_rules, installed) << step;
      // The next apply finishes or frees what was staged.
      auto again = xg(apply);
      ASSERT_EQ(again.code, 0) << step << ": " << again.err;
      EXPECT_EQ(listed().size(), 2u) << step;
      auto sets = nlohmann::json::parse(xg({"set", "list", veth(), "--json"}).out)["sets"];
      ASSERT_EQ(sets.size(), 1u) << step << ": " << sets.dump();
      EXPECT_EQ(sets[0]["ipv4"], 1) << step;
      EXPECT_EQ(udp_delivered(*lab_, 7009, 5), 0) << step;
    }
  }
}

// `upgrade --force` killed after loading, after the first program-array
// write and after the parser's replacement (before its id is recorded):
// a whole pipeline enforces (stages of one ABI mix), status says attached,
// and the next change completes the record.
TEST_F(CrashTest, UpgradeKilledAtEveryStepLeavesAWholePipeline) {
  ASSERT_EQ(xg({"rule", "add", veth(), "drop udp dport 7009"}).code, 0);
  for (const char* step : {"upgrade-loaded", "upgrade-stage", "upgrade-replaced"}) {
    killed_at(step, {"upgrade", veth(), "--force"});
    EXPECT_EQ(udp_delivered(*lab_, 7009, 5), 0) << step;
    EXPECT_EQ(udp_delivered(*lab_, 7008, 5), 5) << step;
    auto add = xg({"rule", "add", veth(), "drop udp dport 7010"});
    ASSERT_EQ(add.code, 0) << step << ": " << add.err;
    auto st = nlohmann::json::parse(xg({"status", "--json"}).out)["interfaces"];
    ASSERT_EQ(st.size(), 1u) << step;
    EXPECT_EQ(st[0]["attached"], true) << step << ": " << st.dump();
    EXPECT_EQ(st[0]["setup_pending"], false) << step << ": " << st.dump();
    EXPECT_EQ(udp_delivered(*lab_, 7010, 5), 0) << step;
    ASSERT_EQ(xg({"rule", "del", veth(), add.out.substr(0, add.out.find('\n'))}).code, 0) << step;
  }
}

// Attach builds the whole pipeline (pins in a staging directory, the first
// rule set, the config's sets and rules), moves the pins into place, and
// attaches last. Killed after any step, it leaves either nothing on the
// interface (traffic as before the attach) or the whole pipeline (the
// config's verdicts from the first packet): never a program without its
// stages, rules or sets. The config: default drop, and a pass rule that
// needs its set (the client is its one member).
TEST_F(CrashTest, AttachKilledAtEveryStepLeavesNothingOrTheWholePipeline) {
  ASSERT_EQ(xg({"detach", veth()}).code, 0);
  auto set = set_file("cfg", {lab_->client().ip4});
  std::string conf = "/tmp/" + lab_->prefix() + "-crash.toml";
  {
    std::ofstream f(conf);
    f << "[interfaces." << veth() << "]\ndefault = \"drop\"\n"
      << "rules = [\"pass udp dport 7005 saddr @b\"]\n"
      << "[sets.b]\nfile = \"" << set << "\"\n";
  }
  files_.push_back(conf);
  for (const char* step : {"rules-loaded", "apply-staged", "rules-installed", "attach-ready", "attach-pinned",
                           "attach-attached"}) {
    killed_at(step, {"attach", veth(), "--config", conf, "--force"});  // default drop
    const bool program = ip_link(*lab_).find("prog/xdp") != std::string::npos;
    const int passed = udp_delivered(*lab_, 7005, 5);       // the rule passes it (with its set)
    const int dropped = 5 - udp_delivered(*lab_, 7008, 5);  // the default drops it
    if (program) {
      EXPECT_EQ(passed, 5) << step << ": the program is live without the config's rule or set";
      EXPECT_EQ(dropped, 5) << step << ": the program is live without the default action";
    } else {
      EXPECT_EQ(passed, 5) << step;
      EXPECT_EQ(dropped, 0) << step << ": nothing is attached, yet something drops";
    }
    // Only a kill after the attach leaves the program.
    EXPECT_EQ(program, std::string(step) == "attach-attached") << step;
    auto st = xg({"status", "--json"});
    ASSERT_EQ(st.code, 0) << st.err;
    auto ifs = nlohmann::json::parse(st.out)["interfaces"];
    if (std::string(step) == "attach-attached") {
      // Live, record not yet final: status says so; the next change (under
      // the lock) completes it, and rules are those of the config.
      ASSERT_EQ(ifs.size(), 1u) << st.out;
      EXPECT_EQ(ifs[0]["attached"], true) << st.out;
      EXPECT_EQ(ifs[0]["setup_pending"], true) << st.out;
      EXPECT_NE(xg({"status"}).out.find("record incomplete"), std::string::npos);
      EXPECT_EQ(listed(), std::vector<std::string>{"pass udp saddr @b dport 7005"});
      ASSERT_EQ(xg({"rule", "add", veth(), "drop udp dport 7009"}).code, 0);
      auto after = nlohmann::json::parse(xg({"status", "--json"}).out)["interfaces"];
      EXPECT_EQ(after[0]["setup_pending"], false) << after.dump();
      EXPECT_EQ(after[0]["program_id"], ifs[0]["program_id"]);
    } else if (std::string(step) == "attach-pinned") {
      // Pins in place, no program: stale; a change there is refused.
      ASSERT_EQ(ifs.size(), 1u) << st.out;
      EXPECT_EQ(ifs[0]["attached"], false);
      auto add = xg({"rule", "add", veth(), "drop udp dport 7009"});
      EXPECT_EQ(add.code, 1);
      EXPECT_NE(add.err.find("died before its program went live); run detach"), std::string::npos) << add.err;
    } else {
      EXPECT_TRUE(ifs.empty()) << step << ": " << st.out;
    }
    // The next attach (after a detach where there is something to detach)
    // takes whatever was left.
    (void)xg({"detach", veth()});
    auto again = xg({"attach", veth(), "--config", conf, "--force"});
    ASSERT_EQ(again.code, 0) << step << ": " << again.err;
    EXPECT_EQ(udp_delivered(*lab_, 7005, 5), 5) << step;
    EXPECT_EQ(udp_delivered(*lab_, 7008, 5), 0) << step;
    ASSERT_EQ(xg({"detach", veth()}).code, 0);
  }
}

// A staging directory left by an attach killed before going live is removed
// by the next attach, or by status when no command holds the lock.
TEST_F(CrashTest, WhatAnAttachKilledBeforeGoingLiveLeftIsRemoved) {
  ASSERT_EQ(xg({"detach", veth()}).code, 0);
  killed_at("attach-ready", {"attach", veth(), "--default", "drop", "--force"});
  struct stat ns{};
  ASSERT_EQ(::stat(("/run/netns/" + lab_->server().netns).c_str(), &ns), 0);
  const std::string dir = "/sys/fs/bpf/xdpguard/ns" + std::to_string(ns.st_ino);
  auto staging = [&] {
    std::error_code ec;
    for (const auto& d : std::filesystem::directory_iterator(dir, ec))
      if (d.path().filename().string().rfind("staging-", 0) == 0) return true;
    return false;
  };
  EXPECT_TRUE(staging());
  EXPECT_EQ(ip_link(*lab_).find("prog/xdp"), std::string::npos);
  EXPECT_EQ(udp_delivered(*lab_, 7004, 5), 5) << "nothing attached: traffic as before";
  ASSERT_EQ(xg({"status"}).code, 0);
  EXPECT_FALSE(staging()) << "status left it";
  killed_at("rules-loaded", {"attach", veth(), "--default", "drop", "--force"});
  EXPECT_TRUE(staging());
  EXPECT_EQ(xg({"attach", veth(), "--default", "drop", "--force"}).code, 0);
  EXPECT_FALSE(staging()) << "attach left it";
  EXPECT_EQ(udp_delivered(*lab_, 7004, 5), 0);
}

// The product binary has no fault points: the variable that kills the test
// binary half-way does nothing to it (a root process that an environment
// variable could kill in the middle of a change was a hole), and it does not
// even carry the variable's name.
TEST_F(CrashTest, TheProductBinaryHasNoFaultPoints) {
  const std::string rule = "drop udp dport 7006";
  auto r = xdpguard_cli({"-n", lab_->server().netns, "rule", "add", veth(), rule},
                        {"env", "XDPGUARD_FAULT=rules-loaded"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(listed(), rule));
  EXPECT_EQ(udp_delivered(*lab_, 7006, 5), 0);
  std::ifstream bin(XDPGUARD_BIN, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(bin)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 0u);
  EXPECT_EQ(bytes.find("XDPGUARD_FAULT"), std::string::npos);
}

}  // namespace
}  // namespace xdpguard::test
