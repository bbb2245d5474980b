// examples/count_syns: N real connection attempts -> count N for the client.
#include <fstream>
#include <sstream>

#include "e2e_support.h"

namespace xdpguard::test {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The count printed for `ip` in the last complete per-second block.
long last_count(const std::string& out, const std::string& ip) {
  long count = -1;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("--- ", 0) == 0) count = 0;
    if (line.rfind(ip + " ", 0) == 0) count = std::stol(line.substr(ip.size() + 1));
  }
  return count;
}

TEST(CountSyns, CountsEveryConnectionAttemptAndDetachesOnSigterm) {
  XG_REQUIRE_PRIVILEGES();
  auto lab = Lab::create({.ipv6 = false});
  ASSERT_TRUE(lab) << lab.error().message();
  std::string out_file = "/tmp/" + lab->prefix() + "-count_syns.out";
  auto proc =
      BackgroundProcess::start(lab->in(lab->server(), {COUNT_SYNS_BIN, lab->server().veth}), out_file);
  ASSERT_TRUE(proc);
  for (int i = 0; i < 100 && slurp(out_file).find("attached") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_NE(slurp(out_file).find("attached to " + lab->server().veth), std::string::npos) << slurp(out_file);

  constexpr int kClosed = 7, kOpen = 3;
  EXPECT_EQ(tcp_connect_attempts(*lab, 9, kClosed), kClosed);  // SYN, RST
  {
    EchoServer server(*lab, 8080);
    for (int i = 0; i < kOpen; ++i) EXPECT_EQ(tcp_echo(*lab, 8080, 100), 100u);  // SYN, SYN-ACK, ...
  }
  // Wait for a block printed after the traffic.
  long n = -1;
  for (int i = 0; i < 60 && n != kClosed + kOpen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    n = last_count(slurp(out_file), lab->client().ip4);
  }
  EXPECT_EQ(n, kClosed + kOpen) << slurp(out_file);
  // SYN-ACKs from the server are not SYN-only: the server never appears.
  EXPECT_EQ(last_count(slurp(out_file), lab->server().ip4), 0) << slurp(out_file);

  EXPECT_EQ(proc->stop(SIGTERM), 0);
  EXPECT_NE(slurp(out_file).find("detached from " + lab->server().veth), std::string::npos);
  EXPECT_EQ(ip_link(*lab).find("prog/xdp"), std::string::npos) << ip_link(*lab);
  std::filesystem::remove(out_file);
}

}  // namespace
}  // namespace xdpguard::test
