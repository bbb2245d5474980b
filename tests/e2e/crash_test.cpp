// Crash consistency: a command killed (SIGKILL, as by a crash or kill -9)
// after any of its steps leaves state that the next command reports exactly
// as the kernel enforces it, or reports as interrupted and repairs on the
// next try. The kill comes from the fault points the library has between
// its steps (core/fault.h: XDPGUARD_FAULT=<step>), which only the test build's
// `xdpguard-faults` binary has; what is enforced is judged by real traffic,
// never by reading the state back.
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
    args.insert(args.begin(), {XDPGUARD_FAULT_BIN, "-n", lab_->server().netns});
    auto r = run_cli(args, {"env", "XDPGUARD_FAULT=" + step});
    EXPECT_EQ(r.code, kKilled) << step << ": " << r.err;
    return r;
  }
  CliRun xg(std::vector<std::string> args) { return xg_srv(*lab_, std::move(args)); }
  // argv run under `prefix` (a program and its arguments).
  static CliRun run_cli(const std::vector<std::string>& argv, std::vector<std::string> prefix) {
    prefix.insert(prefix.end(), argv.begin(), argv.end());
    auto r = run_process(prefix, std::chrono::seconds(60));
    if (!r) return {-1, "", r.error().message()};
    return {r->exit_code, r->out, r->err};
  }
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

// Attach killed after the program went onto the interface, before its state
// was pinned: status shows it, attach refuses clearly, detach cleans up.
TEST_F(CrashTest, AttachKilledBeforePinning) {
  ASSERT_EQ(xg({"detach", veth()}).code, 0);
  killed_at("attach-attached", {"attach", veth()});
  auto st = xg({"status", "--json"});
  ASSERT_EQ(st.code, 0) << st.err;
  auto ifs = nlohmann::json::parse(st.out)["interfaces"];
  ASSERT_EQ(ifs.size(), 1u) << st.out;
  EXPECT_EQ(ifs[0]["pinned"], false);
  EXPECT_EQ(ifs[0]["attached"], true);
  EXPECT_NE(xg({"status"}).out.find("attach died"), std::string::npos);
  auto again = xg({"attach", veth()});
  EXPECT_NE(again.err.find("already attached"), std::string::npos) << again.err;
  EXPECT_EQ(xg({"detach", veth()}).code, 0);
  EXPECT_EQ(ip_link(*lab_).find("prog/xdp"), std::string::npos);
  EXPECT_EQ(xg({"attach", veth()}).code, 0);
}

// Attach killed after pinning, before its first rule set: nothing filters
// (IP passes) and rule list / stats say so.
TEST_F(CrashTest, AttachKilledBeforeTheFirstRuleSet) {
  ASSERT_EQ(xg({"detach", veth()}).code, 0);
  killed_at("attach-pinned", {"attach", veth(), "--default", "drop"});
  auto list = xg({"rule", "list", veth()});
  EXPECT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.err.find("no classifier installed"), std::string::npos) << list.err;
  EXPECT_NE(list.out.find("(default) pass"), std::string::npos) << list.out;
  EXPECT_EQ(udp_delivered(*lab_, 7004, 5), 5) << "no classifier: IP packets pass";
  auto stats = stats_json(*lab_);
  EXPECT_GE(stats["errors"]["no_classifier"]["packets"].get<std::uint64_t>(), 5u) << stats.dump();
  EXPECT_EQ(xg({"detach", veth()}).code, 0);
  EXPECT_EQ(xg({"attach", veth(), "--default", "drop"}).code, 0);
  EXPECT_EQ(udp_delivered(*lab_, 7004, 5), 0);
}

// attach --config killed between its sets and its rules: what is enforced
// is listed, and status says the config was only half applied.
TEST_F(CrashTest, AttachConfigKilledHalfWay) {
  ASSERT_EQ(xg({"detach", veth()}).code, 0);
  auto set = set_file("cfg", {lab_->client().ip4});
  std::string conf = "/tmp/" + lab_->prefix() + "-crash.toml";
  {
    std::ofstream f(conf);
    f << "[interfaces." << veth() << "]\nrules = [\"drop udp dport 7005 saddr @b\"]\n"
      << "[sets.b]\nfile = \"" << set << "\"\n";
  }
  files_.push_back(conf);
  killed_at("rules-loaded", {"attach", veth(), "--config", conf});
  auto st = nlohmann::json::parse(xg({"status", "--json"}).out)["interfaces"];
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0]["setup_pending"], true);
  EXPECT_NE(xg({"status"}).out.find("config half applied"), std::string::npos);
  auto rules = listed();
  EXPECT_TRUE(rules.empty()) << "the rules never went in";
  EXPECT_EQ(udp_delivered(*lab_, 7005, 5), 5) << "and nothing drops";
  EXPECT_NE(xg({"stats", veth()}).err.find("attach --config was interrupted"), std::string::npos);
  EXPECT_EQ(xg({"detach", veth()}).code, 0);
  EXPECT_EQ(xg({"attach", veth(), "--config", conf}).code, 0);
  EXPECT_EQ(udp_delivered(*lab_, 7005, 5), 0);
  EXPECT_EQ(nlohmann::json::parse(xg({"status", "--json"}).out)["interfaces"][0]["setup_pending"], false);
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
