// `xdpguard upgrade` (Guard::upgrade) between two builds whose programs
// differ: the product's xdpguard and xdpguard-next (the same pipeline built
// with XDPGUARD_PROGRAM_VARIANT, src/CMakeLists.txt). Under traffic, 20
// replacements one way and the other: no datagram the rules drop arrives,
// none they pass is lost (counted by the sockets on both sides); rule ids,
// counters, sets and blocks carry over. The same code is left alone,
// --check changes nothing, and pins of another ABI are refused with what
// to do.
#include <bpf/bpf.h>

#include <fmt/format.h>

#include "e2e_support.h"
#include "bpf/abi.h"

namespace xdpguard::test {
namespace {

constexpr std::uint16_t kDropPort = 7301, kPassPort = 7302, kLimitPort = 7303, kOtherPort = 7304;

CliRun next_srv(const Lab& lab, std::vector<std::string> args) {
  args.insert(args.begin(), {"-n", lab.server().netns});
  return run_cli(XDPGUARD_NEXT_BIN, std::move(args));
}

class UpgradeTest : public GuardedLabTest {
 protected:
  std::uint32_t prog_id() {
    auto st = nlohmann::json::parse(xg_srv(*lab_, {"status", "--json"}).out)["interfaces"];
    return st.empty() ? 0 : st[0]["program_id"].get<std::uint32_t>();
  }
  nlohmann::json rules() {
    auto r = xg_srv(*lab_, {"rule", "list", lab_->server().veth, "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    return nlohmann::json::parse(r.out)["rules"];
  }
  // One upgrade by `bin`'s CLI: its JSON report for the server's veth.
  nlohmann::json upgrade(bool next, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"upgrade", lab_->server().veth, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = next ? next_srv(*lab_, args) : xg_srv(*lab_, args);
    EXPECT_EQ(r.code, 0) << r.err;
    if (r.code != 0) return {};
    return nlohmann::json::parse(r.out)[0];
  }
};

TEST_F(UpgradeTest, TwentyReplacementsUnderTrafficLetNothingThroughAndLoseNothing) {
  const std::string& veth = lab_->server().veth;
  const std::string set_file = "/tmp/" + lab_->prefix() + "-upgrade.set";
  std::ofstream(set_file) << lab_->client().ip4 << "/32\n";
  ASSERT_EQ(xg_srv(*lab_, {"set", "load", veth, "S", set_file}).code, 0);
  std::filesystem::remove(set_file);
  for (const std::string& rule :
       {fmt::format("drop udp dport {} saddr @S", kDropPort),
        fmt::format("drop ip udp dport {} limit over 10/s burst 5 per saddr block 60s", kLimitPort)})
    ASSERT_EQ(xg_srv(*lab_, {"rule", "add", veth, rule}).code, 0) << rule;
  const auto ids = rules();
  ASSERT_EQ(ids.size(), 2u);

  TwoPortTraffic traffic(*lab_, kDropPort, kPassPort);
  ASSERT_FALSE(HasFailure());
  std::uint32_t last_prog = prog_id();
  std::uint64_t last_count = 0;
  for (int i = 1; i <= 20; ++i) {
    const std::uint64_t before = traffic.sent_drop;
    // Odd: the newer build replaces the product's programs; even: back.
    const bool next = i % 2 == 1;
    auto r = upgrade(next);
    ASSERT_TRUE(r.is_object()) << "upgrade " << i;
    EXPECT_TRUE(r["differ"].get<bool>()) << r.dump();
    ASSERT_TRUE(r["replaced"].get<bool>()) << r.dump();
    for (const auto& st : r["stages"]) {
      if (st["stage"] == "classifier") continue;  // the same emitter in both builds
      EXPECT_TRUE(st["differs"].get<bool>()) << st.dump();
    }
    const std::uint32_t now = prog_id();
    EXPECT_NE(now, last_prog) << "upgrade " << i << " left the parser in place";
    last_prog = now;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_GT(traffic.sent_drop.load(), before) << "no traffic crossed upgrade " << i;
    auto list = rules();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0]["id"], ids[0]["id"]) << "the rule lost its id at upgrade " << i;
    const auto count = list[0]["packets"].get<std::uint64_t>();
    EXPECT_GE(count, last_count) << "its counter went back at upgrade " << i;
    last_count = count;
  }
  traffic.stop();
  EXPECT_GT(traffic.sent_drop.load(), 1'000u);
  EXPECT_EQ(traffic.got_drop.load(), 0u) << "datagrams let through during upgrades, of " << traffic.sent_drop;
  EXPECT_EQ(traffic.got_pass.load(), traffic.sent_pass.load()) << "datagrams lost during upgrades";
  EXPECT_GT(last_count, 0u);

  // Blocks carry over: the limited port blocks the client, an upgrade
  // later it is still blocked (a port the rules pass too), and listed.
  EXPECT_LT(udp_delivered(*lab_, kLimitPort, 40), 40);
  auto blocked = [&] {
    auto b = xg_srv(*lab_, {"blocked", "list", veth, "--json"});
    EXPECT_EQ(b.code, 0) << b.err;
    return b.out;
  };
  ASSERT_NE(blocked().find(lab_->client().ip4), std::string::npos) << blocked();
  ASSERT_TRUE(upgrade(true)["replaced"].get<bool>());
  EXPECT_NE(blocked().find(lab_->client().ip4), std::string::npos) << blocked();
  EXPECT_EQ(udp_delivered(*lab_, kOtherPort, 5), 0) << "the block was lost in the upgrade";
}

TEST_F(UpgradeTest, SameCodeIsLeftAloneAndCheckChangesNothing) {
  ASSERT_EQ(
      xg_srv(*lab_, {"rule", "add", lab_->server().veth, fmt::format("drop udp dport {}", kDropPort)}).code,
      0);
  const std::uint32_t first = prog_id();
  auto same = upgrade(false);
  EXPECT_FALSE(same["differ"].get<bool>()) << same.dump();
  EXPECT_FALSE(same["replaced"].get<bool>()) << same.dump();
  EXPECT_EQ(prog_id(), first);
  auto check = upgrade(true, {"--check"});
  EXPECT_TRUE(check["differ"].get<bool>()) << check.dump();
  EXPECT_FALSE(check["replaced"].get<bool>()) << check.dump();
  EXPECT_EQ(prog_id(), first);
  // --force replaces even the same code; the rules stay in force.
  auto forced = upgrade(false, {"--force"});
  EXPECT_TRUE(forced["replaced"].get<bool>()) << forced.dump();
  EXPECT_NE(prog_id(), first);
  EXPECT_EQ(udp_delivered(*lab_, kDropPort, 5), 0);
  EXPECT_EQ(udp_delivered(*lab_, kPassPort, 5), 5);
  // The human table names each stage.
  auto text = next_srv(*lab_, {"upgrade"});
  EXPECT_EQ(text.code, 0) << text.err;
  for (const char* stage : {"parser", "enforce", "limit", "classifier", "upgraded: 3 of 4 stages differed"})
    EXPECT_NE(text.out.find(stage), std::string::npos) << text.out;
}

TEST_F(UpgradeTest, PinsOfAnotherAbiAreRefusedWithWhatToDo) {
  // What an older xdpguard left: its record says another ABI version.
  auto st = nlohmann::json::parse(xg_srv(*lab_, {"status", "--json"}).out)["interfaces"];
  ASSERT_EQ(st.size(), 1u);
  auto ns_id = run_process(
      {"ip", "netns", "exec", lab_->server().netns, "stat", "-L", "-c", "%i", "/proc/self/ns/net"});
  ASSERT_TRUE(ns_id);
  const std::string meta_pin =
      fmt::format("/sys/fs/bpf/xdpguard/ns{}/{}/" XDPGUARD_PIN_META,
                  ns_id->out.substr(0, ns_id->out.find('\n')), st[0]["ifindex"].get<int>());
  UniqueFd meta(bpf_obj_get(meta_pin.c_str()));
  ASSERT_TRUE(meta) << meta_pin << ": " << std::strerror(errno);
  const __u32 zero = 0;
  xdpguard_meta m{};
  ASSERT_EQ(bpf_map_lookup_elem(meta.get(), &zero, &m), 0);
  m.abi_version = XDPGUARD_ABI_VERSION - 1;
  ASSERT_EQ(bpf_map_update_elem(meta.get(), &zero, &m, BPF_ANY), 0);

  const std::string want =
      fmt::format("pinned state has ABI version {}, this xdpguard speaks {}; detach and attach again",
                  XDPGUARD_ABI_VERSION - 1, XDPGUARD_ABI_VERSION);
  for (std::vector<std::string> args : {std::vector<std::string>{"upgrade", lab_->server().veth},
                                        {"stats", lab_->server().veth},
                                        {"rule", "add", lab_->server().veth, "drop udp dport 9"}}) {
    auto r = xg_srv(*lab_, args);
    EXPECT_EQ(r.code, 1) << args[0];
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  }
  // What it says to do works.
  EXPECT_EQ(xg_srv(*lab_, {"detach", lab_->server().veth}).code, 0);
  auto again = xg_srv(*lab_, {"attach", lab_->server().veth});
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(xg_srv(*lab_, {"stats", lab_->server().veth}).code, 0);
}

}  // namespace
}  // namespace xdpguard::test
