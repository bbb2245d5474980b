// examples/count_syns: N real connection attempts -> count N for the client.
// The example sees the server's ingress only; what it must not count crosses
// that hook too: the client answering the server's own connections with
// SYN-ACKs (SYN set, but not a connection attempt).
#include <fstream>
#include <sstream>

#include "e2e_support.h"

namespace xdpguard::test {
namespace {

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

// A listener in the client namespace and `n` connects to it from the server
// namespace. Returns how many completed.
int reverse_connects(const Lab& lab, std::uint16_t port, int n) {
  UniqueFd listener;
  EXPECT_TRUE(run_in_netns(lab.client().netns, [&] {
    listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto a = sockaddr4(lab.client().ip4, port);
    if (!listener || ::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener.get(), 64) != 0)
      listener.reset();
  }));
  if (!listener) return -1;
  int done = 0;
  EXPECT_TRUE(run_in_netns(lab.server().netns, [&] {
    for (int i = 0; i < n; ++i) {
      UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      auto a = sockaddr4(lab.client().ip4, port);
      if (fd && ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) ++done;
    }
  }));
  return done;
}

TEST(CountSyns, CountsEveryConnectionAttemptAndDetachesOnSigterm) {
  XG_REQUIRE_PRIVILEGES();
  auto lab = Lab::create({.ipv6 = false});
  ASSERT_TRUE(lab) << lab.error().message();
  std::string out_file = "/tmp/" + lab->prefix() + "-count_syns.out";
  auto proc =
      BackgroundProcess::start(lab->in(lab->server(), {COUNT_SYNS_BIN, lab->server().veth}), out_file);
  ASSERT_TRUE(proc);
  (void)wait_until([&] { return slurp(out_file).find("attached") != std::string::npos; },
                   std::chrono::seconds(30));
  ASSERT_NE(slurp(out_file).find("attached to " + lab->server().veth), std::string::npos) << slurp(out_file);

  constexpr int kClosed = 7, kOpen = 3;
  EXPECT_EQ(tcp_connect_attempts(*lab, 9, kClosed), kClosed);  // SYN, RST
  {
    EchoServer server(*lab, 8080);
    for (int i = 0; i < kOpen; ++i) EXPECT_EQ(tcp_echo(*lab, 8080, 100), 100u);  // SYN, SYN-ACK, ...
  }
  // The other way round: the server connects to a listener on the client,
  // which answers each SYN with a SYN-ACK through the hook being measured.
  constexpr int kReverse = 5;
  EXPECT_EQ(reverse_connects(*lab, 7070, kReverse), kReverse);
  // Wait for a block printed after the traffic.
  long n = -1;
  (void)wait_until([&] { return (n = last_count(slurp(out_file), lab->client().ip4)) == kClosed + kOpen; },
                   std::chrono::seconds(30));
  EXPECT_EQ(n, kClosed + kOpen) << "SYN-ACKs counted as connection attempts?\n" << slurp(out_file);

  EXPECT_EQ(proc->stop(SIGTERM), 0);
  EXPECT_NE(slurp(out_file).find("detached from " + lab->server().veth), std::string::npos);
  EXPECT_EQ(ip_link(*lab).find("prog/xdp"), std::string::npos) << ip_link(*lab);
  std::filesystem::remove(out_file);
}

}  // namespace
}  // namespace xdpguard::test
