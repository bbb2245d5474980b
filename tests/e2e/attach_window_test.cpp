// Attach has no fail-open window: the program goes onto the interface only
// once the whole pipeline is in place (enforce and limiter stages, the first
// classifier with the config's sets and rules). A sender floods the server
// with UDP from before `attach` until after it returns; the server's socket
// must receive nothing the configuration drops. (A veth accepts the
// generator's frames only once an XDP program is on it, so every frame that
// arrives went through xdpguard.)
#include <poll.h>

#include <fstream>

#include "e2e/e2e_support.h"

namespace xdpguard::test {
namespace {

constexpr std::uint16_t kEchoPort = 7100;

class AttachWindowTest : public LabTest {
 protected:
  void TearDown() override {
    LabTest::TearDown();
    for (const auto& f : files_) std::filesystem::remove(f);
  }

  // A UDP socket on the server with room for every datagram.
  UniqueFd receiver() {
    UniqueFd sock;
    EXPECT_TRUE(run_in_netns(lab_->server().netns, [&] {
      sock = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      int big = 64 << 20;
      ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
      auto a = sockaddr4("0.0.0.0", kEchoPort);
      if (sock && ::bind(sock.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) sock.reset();
    }));
    return sock;
  }

  static int drain(const UniqueFd& sock) {
    int n = 0;
    char buf[2048];
    while (::recv(sock.get(), buf, sizeof buf, 0) > 0) ++n;
    return n;
  }

  // The generator on the client, flooding the server's kEchoPort from sources
  // in 198.18.0.64/26, for at most `seconds`.
  BackgroundProcess flood(int seconds) {
    auto p = BackgroundProcess::start({XDPGUARD_BIN, "-n", lab_->client().netns, "gen", lab_->client().veth,
                                       "--dst", lab_->server().ip4, "--dst-mac", lab_->server().mac, "--src",
                                       "198.18.0.64/26", "--dport", std::to_string(kEchoPort), "--duration",
                                       std::to_string(seconds)});
    EXPECT_TRUE(p) << p.error().message();
    return p ? std::move(*p) : BackgroundProcess{};
  }

  // `attach args...` while the generator floods; returns the datagrams the
  // server's socket got from before the attach until a second after it.
  int delivered_during(std::vector<std::string> attach_args) {
    auto sock = receiver();
    EXPECT_TRUE(sock);
    if (!sock) return -1;
    auto gen = flood(60);
    // The generator is running (its frames vanish at the veth until an XDP
    // program is on it).
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_TRUE(gen.running()) << "the generator did not start";
    // Default drop: the lockout guard would refuse it (ND is not allowed).
    attach_args.insert(attach_args.begin(), {"attach", lab_->server().veth, "--force"});
    auto att = xg_srv(*lab_, attach_args);
    EXPECT_EQ(att.code, 0) << att.err;
    if (att.code != 0) return -1;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    EXPECT_TRUE(gen.running()) << "the generator stopped before the attach was over";
    gen.stop(SIGINT);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    int got = drain(sock);
    // Not vacuous: the flood did reach the program.
    auto s = stats_json(*lab_);
    EXPECT_GT(s["actions"]["drop"]["packets"].get<std::uint64_t>(), 1000u) << s.dump();
    return got;
  }

  std::string file(const std::string& name, const std::string& text) {
    std::string path = "/tmp/" + lab_->prefix() + "-" + name;
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }

  // 200,000 prefixes: every /32 of 198.18.0.0/15 (the generator's sources
  // among them) and 68,928 IPv6 /128s of fd00::/8.
  std::string big_set() {
    std::string text;
    text.reserve(200000 * 20);
    for (std::uint32_t i = 0; i < (1u << 17); ++i)
      text += fmt::format("198.{}.{}.{}\n", 18 + (i >> 16), (i >> 8) & 0xff, i & 0xff);
    for (std::uint32_t i = 1; i <= 200000 - (1u << 17); ++i)
      text += fmt::format("fd00:77::{:x}:{:x}\n", i >> 16, i & 0xffff);
    return file("big.txt", text);
  }

  std::vector<std::string> files_;
};

TEST_F(AttachWindowTest, DefaultDropConfigWithALargeSetDeliversNothing) {
  auto set = big_set();
  auto conf = file("drop.toml", fmt::format("[interfaces.{}]\ndefault = \"drop\"\n"
                                            "rules = [\"drop udp dport 7101 saddr @big\"]\n"
                                            "[sets.big]\nfile = \"{}\"\n",
                                            lab_->server().veth, set));
  EXPECT_EQ(delivered_during({"--config", conf}), 0);
}

TEST_F(AttachWindowTest, ConfigRuleWithALargeSetDropsFromTheFirstFrame) {
  auto set = big_set();
  auto conf = file("rule.toml", fmt::format("[interfaces.{}]\ndefault = \"pass\"\n"
                                            "rules = [\"drop udp dport {} saddr @big\"]\n"
                                            "[sets.big]\nfile = \"{}\"\n",
                                            lab_->server().veth, kEchoPort, set));
  EXPECT_EQ(delivered_during({"--config", conf}), 0);
}

TEST_F(AttachWindowTest, DefaultDropWithoutConfigDeliversNothing) {
  EXPECT_EQ(delivered_during({"--default", "drop"}), 0);
}

}  // namespace
}  // namespace xdpguard::test
