// attach/detach/status/stats against a real lab with real traffic.
#include <filesystem>

#include "e2e_support.h"

namespace xdpguard::test {
namespace {

namespace fs = std::filesystem;

class AttachTest : public ::testing::TestWithParam<std::string> {};

// Every frame the client sends reaches the server's veth and xdpguard's
// counters: they must equal the client veth's own tx counters exactly.
TEST_P(AttachTest, CountersMatchWhatWasSentExactly) {
  XG_REQUIRE_PRIVILEGES();
  const std::string mode = GetParam();
  auto lab = Lab::create({.ipv6 = false});  // no ND/MLD: only our traffic
  ASSERT_TRUE(lab) << lab.error().message();

  auto att = xg_srv(*lab, {"attach", lab->server().veth, "--mode", mode});
  ASSERT_EQ(att.code, 0) << att.err;
  EXPECT_NE(att.out.find(mode + " mode"), std::string::npos) << att.out;
  if (mode == "native") {
    EXPECT_NE(ip_link(*lab).find("prog/xdp"), std::string::npos);
  } else {
    EXPECT_NE(ip_link(*lab).find("xdpgeneric"), std::string::npos);
  }

  auto before = lab->link_counters(lab->client());
  ASSERT_TRUE(before);
  auto ping = lab->exec(lab->client(), {"ping", "-q", "-c", "5", "-i", "0.05", "-W", "2", lab->server().ip4});
  ASSERT_TRUE(ping) << ping.error().message();
  {
    EchoServer server(*lab, 8080);
    EXPECT_EQ(tcp_echo(*lab, 8080, 3000), 3000u);
  }
  auto after = lab->link_counters(lab->client());
  ASSERT_TRUE(after);
  // Wait for the server side to have seen all the client sent (the veth
  // peer's NAPI runs after the sender returns).
  std::uint64_t sent_so_far = after->tx_packets - before->tx_packets;
  EXPECT_TRUE(wait_until([&] { return total_packets(stats_json(*lab)) >= sent_so_far; }));
  auto stats = stats_json(*lab);
  EXPECT_EQ(stats["interface"], lab->server().veth);
  EXPECT_EQ(stats["mode"], mode);
  std::uint64_t sent = after->tx_packets - before->tx_packets;
  std::uint64_t sent_bytes = after->tx_bytes - before->tx_bytes;
  EXPECT_GE(sent, 5u + 6u);  // 5 echo requests + at least a TCP handshake/data/close
  EXPECT_EQ(total_packets(stats), sent);
  // veth quirk: with native XDP on the peer, the sender's tx bytes are taken
  // from the peer's NAPI queue after eth_type_trans(), i.e. without the
  // 14-byte Ethernet header that XDP (and generic mode's count) includes.
  if (mode == "native") sent_bytes += 14 * sent;
  EXPECT_EQ(total_bytes(stats), sent_bytes);
  EXPECT_EQ(stats["actions"]["pass"]["packets"].get<std::uint64_t>(), sent);
  EXPECT_EQ(stats["parse"]["ipv4"]["packets"].get<std::uint64_t>(), sent);
  EXPECT_EQ(stats["default"]["packets"].get<std::uint64_t>(), sent);
  EXPECT_EQ(stats["default"]["action"], "pass");

  auto det = xg_srv(*lab, {"detach", lab->server().veth});
  EXPECT_EQ(det.code, 0) << det.err;
}

INSTANTIATE_TEST_SUITE_P(Modes, AttachTest, ::testing::Values("native", "generic"));

// attach returns; a later process finds the state and the program keeps
// counting with nobody in user space (fail-static).
TEST(AttachState, SurvivesTheAttachingProcessAndDetachLeavesNothing) {
  XG_REQUIRE_PRIVILEGES();
  auto lab = Lab::create({.ipv6 = false});
  ASSERT_TRUE(lab) << lab.error().message();
  ASSERT_EQ(xg_srv(*lab, {"attach", lab->server().veth}).code, 0);

  auto st = xg_srv(*lab, {"status", "--json"});
  ASSERT_EQ(st.code, 0) << st.err;
  auto j = nlohmann::json::parse(st.out);
  ASSERT_EQ(j["interfaces"].size(), 1u) << st.out;
  EXPECT_EQ(j["interfaces"][0]["interface"], lab->server().veth);
  EXPECT_EQ(j["interfaces"][0]["attached"], true);
  unsigned prog_id = j["interfaces"][0]["program_id"];
  EXPECT_NE(ip_link(*lab).find("id " + std::to_string(prog_id)), std::string::npos);

  EXPECT_EQ(tcp_connect_attempts(*lab, 9, 4), 4);
  EXPECT_TRUE(
      wait_until([&] { return stats_json(*lab)["actions"]["pass"]["packets"].get<std::uint64_t>() >= 4; }));
  auto stats = stats_json(*lab);
  // 4 SYNs reached the program while no xdpguard process existed.
  EXPECT_EQ(stats["actions"]["pass"]["packets"].get<std::uint64_t>(), 4u);

  // The same state seen through `ip netns exec` (private mount namespace).
  auto via_exec =
      xdpguard_cli({"stats", lab->server().veth, "--json"}, {"ip", "netns", "exec", lab->server().netns});
  ASSERT_EQ(via_exec.code, 0) << via_exec.err;
  EXPECT_EQ(nlohmann::json::parse(via_exec.out)["actions"], stats["actions"]);

  auto ns_id = run_process(
      {"ip", "netns", "exec", lab->server().netns, "stat", "-L", "-c", "%i", "/proc/self/ns/net"});
  ASSERT_TRUE(ns_id);
  std::string pin_dir = "/sys/fs/bpf/xdpguard/ns" + ns_id->out.substr(0, ns_id->out.find('\n'));
  EXPECT_TRUE(fs::exists(pin_dir)) << pin_dir;

  auto det = xg_srv(*lab, {"detach", lab->server().veth});
  ASSERT_EQ(det.code, 0) << det.err;
  EXPECT_EQ(ip_link(*lab).find("prog/xdp"), std::string::npos) << ip_link(*lab);
  EXPECT_FALSE(fs::exists(pin_dir)) << pin_dir << " (the namespace directory goes with its last interface)";
  auto st2 = xg_srv(*lab, {"status", "--json"});
  EXPECT_EQ(nlohmann::json::parse(st2.out)["interfaces"].size(), 0u);
}

// attach from inside `ip netns exec`; pins persist in the host bpffs and
// `-n` sees them.
TEST(AttachState, IpNetnsExecAndDashNShareState) {
  XG_REQUIRE_PRIVILEGES();
  auto lab = Lab::create({.ipv6 = false});
  ASSERT_TRUE(lab) << lab.error().message();
  auto att = xdpguard_cli({"attach", lab->server().veth}, {"ip", "netns", "exec", lab->server().netns});
  ASSERT_EQ(att.code, 0) << att.err;
  auto stats = xg_srv(*lab, {"stats", lab->server().veth, "--json"});
  EXPECT_EQ(stats.code, 0) << stats.err;
  auto det = xdpguard_cli({"detach", lab->server().veth}, {"ip", "netns", "exec", lab->server().netns});
  EXPECT_EQ(det.code, 0) << det.err;
}

}  // namespace
}  // namespace xdpguard::test
