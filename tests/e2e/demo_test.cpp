// `xdpguard demo` end to end, the real binary in its own lab: each act shows
// what it claims with figures the test checks (SYNs dropped by the rule; a
// real client's new connections completing during a SYN flood the SYN proxy
// answers; a source over the rate limit blocked while the legitimate one's
// datagrams all arrive), and nothing is left behind: not its namespaces, not
// its pins, after a normal end or a Ctrl-C.
#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>

#include "e2e_support.h"

namespace xdpguard::test {
namespace {

namespace fs = std::filesystem;

// The numbers `re` captures in `text` (empty if it does not match).
std::vector<std::uint64_t> numbers(const std::string& text, const std::string& re) {
  std::smatch m;
  std::vector<std::uint64_t> out;
  if (!std::regex_search(text, m, std::regex(re))) return out;
  for (std::size_t i = 1; i < m.size(); ++i) out.push_back(std::stoull(m[i].str()));
  return out;
}

class DemoTest : public ::testing::Test {
 protected:
  void SetUp() override { XG_REQUIRE_PRIVILEGES(); }
  void TearDown() override {
    // Ctrl-C first: the demo removes its lab; SIGKILL only if it hangs.
    if (demo_) (void)demo_->stop(SIGINT, std::chrono::seconds(60));
    std::filesystem::remove(out_);
  }

  // Starts `xdpguard demo --seconds S`; once its lab exists, notes the
  // namespaces' inodes (the pins of an interface live under ns<inode>).
  void start(int seconds) {
    auto p = BackgroundProcess::start({XDPGUARD_BIN, "demo", "--seconds", std::to_string(seconds)}, out_);
    ASSERT_TRUE(p) << p.error().message();
    demo_.emplace(std::move(*p));
    prefix_ = "xg" + std::to_string(demo_->pid());
    ASSERT_TRUE(wait_until([&] { return slurp(out_).find("== act 1") != std::string::npos; },
                           std::chrono::seconds(60)))
        << slurp(out_);
    for (const char* end : {"a-srv", "a-cli"}) {
      struct stat st{};
      ASSERT_EQ(::stat(("/run/netns/" + prefix_ + end).c_str(), &st), 0) << prefix_ << end;
      inodes_.push_back(st.st_ino);
    }
  }
  // Its exit status, once it has ended by itself (at most `timeout`).
  int wait_exit(std::chrono::seconds timeout) {
    const int code = demo_->stop(0, timeout);
    demo_.reset();
    return code;
  }
  void expect_nothing_left() {
    for (const auto& e : fs::directory_iterator("/run/netns"))
      EXPECT_NE(e.path().filename().string().rfind(prefix_, 0), 0u) << "namespace left: " << e.path();
    for (auto ino : inodes_)
      EXPECT_FALSE(fs::exists(std::string(kDefaultBpffs) + "/xdpguard/ns" + std::to_string(ino)))
          << "pins left for netns " << ino;
  }

  std::string out_ = "/tmp/xg" + std::to_string(::getpid()) + "-demo.out";
  std::optional<BackgroundProcess> demo_;
  std::string prefix_;
  std::vector<std::uint64_t> inodes_;
};

TEST_F(DemoTest, ShowsTheFirewallTheSynProxyAndABlockThenRemovesItsLab) {
  start(3);
  const int code = wait_exit(std::chrono::seconds(120));
  const std::string out = slurp(out_);
  ASSERT_EQ(code, 0) << out;
  SCOPED_TRACE(out);

  // Act 1: the rule dropped the SYNs to the closed port (those in flight at
  // the end aside).
  auto a1 = numbers(out, R"(act 1: (\d+) SYNs to port 9 sent, (\d+) dropped in XDP)");
  ASSERT_EQ(a1.size(), 2u);
  EXPECT_GT(a1[1], 0u);
  EXPECT_LE(a1[1], a1[0]);
  EXPECT_NE(out.find("act 1: "), std::string::npos);
  EXPECT_EQ(out.find("then it broke"), std::string::npos) << "the echo session broke";

  // Act 2: the flood was answered with cookies, and the real client got
  // through (a connect may lose its SYN in the flood's queue and retry after
  // 1 s: the demo gives each 5 s).
  EXPECT_EQ(out.find("act 2: skipped"), std::string::npos) << "this kernel has the SYN proxy";
  auto a2 = numbers(out, R"(the real client completed (\d+) of (\d+) new connections)");
  ASSERT_EQ(a2.size(), 2u);
  EXPECT_GE(a2[1], 3u) << "too few connects to judge";
  EXPECT_GE(a2[0] * 10, a2[1] * 9) << "fewer than 90 % of the real client's connections completed";
  EXPECT_NE(out.find("cookies sent"), std::string::npos);

  // Act 3: the noisy source is blocked (listed), its burst aside nothing of
  // it arrived, and every datagram of the client did.
  EXPECT_NE(out.find("198.18.0.66"), std::string::npos) << "not in the blocked list";
  auto noisy = numbers(out, R"(act 3: 198\.18\.0\.66 sent (\d+) datagrams, (\d+) arrived)");
  ASSERT_EQ(noisy.size(), 2u);
  EXPECT_GT(noisy[0], 1000u);
  EXPECT_LE(noisy[1], 100u) << "burst 50 at 100/s, then blocked";
  auto client = numbers(out, R"(the client sent (\d+), (\d+) arrived)");
  ASSERT_EQ(client.size(), 2u);
  EXPECT_GE(client[0], 5u);
  EXPECT_EQ(client[1], client[0]);

  EXPECT_NE(out.find("lab removed."), std::string::npos);
  expect_nothing_left();
}

TEST_F(DemoTest, CtrlCEndsItAndRemovesTheLab) {
  start(30);
  ASSERT_TRUE(wait_until([&] { return slurp(out_).find("== act 2") != std::string::npos; },
                         std::chrono::seconds(90)));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // in the flood
  ASSERT_EQ(::kill(demo_->pid(), SIGINT), 0);
  const int code = wait_exit(std::chrono::seconds(60));
  const std::string out = slurp(out_);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("xdpguard: demo: interrupted (lab removed)"), std::string::npos) << out;
  expect_nothing_left();
}

}  // namespace
}  // namespace xdpguard::test
