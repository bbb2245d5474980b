// Commit-confirm (confirm/confirm.h, README "Changing rules safely"): a
// change made with --confirm is taken back unless `xdpguard confirm` comes
// in time, even when everything of the session that made it is killed.
// Every verdict here is what the server's sockets received.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "e2e/e2e_support.h"

namespace xdpguard::test {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t kPortA = 7001;  // dropped by the state before
constexpr std::uint16_t kPortB = 7002;  // passed before; the change drops it

class ConfirmTest : public LabTest {
 protected:
  LabOptions lab_options() const override { return {.ipv6 = false}; }
  void SetUp() override {
    LabTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    base_ = "/tmp/" + lab_->prefix() + "-confirm";
    // Before: port A dropped, and a set that holds nobody of the lab's.
    write(base_ + "-a.toml", {"drop udp dport 7001", "drop saddr @bl"}, "198.51.100.0/24");
    // The change that cuts the operator off: the set now holds the client.
    write(base_ + "-b.toml", {"drop udp dport 7002", "drop saddr @bl"}, lab_->client().ip4 + "/32");
  }
  void TearDown() override {
    if (lab_) (void)xg_srv(*lab_, {"confirm", lab_->server().veth});  // its watcher ends with it
    LabTest::TearDown();
    for (const char* s : {"-a.toml", "-b.toml", "-c.toml"}) std::filesystem::remove(base_ + s);
  }
  void write(const std::string& path, const std::vector<std::string>& rules, const std::string& member) {
    std::ofstream f(path);
    f << "[interfaces." << lab_->server().veth << "]\nrules = [";
    for (std::size_t i = 0; i < rules.size(); ++i) f << (i ? ", " : "") << '"' << rules[i] << '"';
    f << "]\n[sets.bl]\nelements = [\"" << member << "\"]\n";
    f.close();
    ::chmod(path.c_str(), 0644);
  }
  // 20 datagrams to `port`: how many the server's socket got.
  int delivered(std::uint16_t port) { return udp_delivered(*lab_, port, 20, false, 9, 300ms); }
  // The state before (A): port A dropped, port B passed.
  bool state_a() { return delivered(kPortA) == 0 && delivered(kPortB) == 20; }
  nlohmann::json status() {
    auto r = xg_srv(*lab_, {"confirm", "--status", "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_array() && !j.empty() ? j[0] : nlohmann::json();
  }
  bool pending() {
    auto s = status();
    return s.is_object() && s.value("pending", false);
  }
  std::vector<std::string> rule_texts() {
    auto r = xg_srv(*lab_, {"rule", "list", lab_->server().veth, "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    std::vector<std::string> out;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << r.out;
    if (j.is_object())
      for (const auto& x : j["rules"]) out.push_back(x["rule"].get<std::string>());
    return out;
  }
  void attach_a() {
    auto r = xg_srv(*lab_, {"attach", lab_->server().veth, "--config", base_ + "-a.toml"});
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_TRUE(state_a());
  }
  std::string base_;
};

// The case it exists for: the ssh session dies right after the change.
// The command runs in a session and process group of its own, which the
// test kills with SIGKILL once the change is live; the state before comes
// back within the window + 3 s (the watcher wakes within 200 ms of the
// deadline; the rollback is an apply of the old state, which took 1.1 s on
// CI's 2 loaded cores while clang-tidy ran beside it).
TEST_F(ConfirmTest, AChangeIsRolledBackWhenTheSessionThatMadeItIsKilled) {
  attach_a();
  const std::string cmd = fmt::format("{} -n {} apply --config {} --confirm 6s; exec sleep 120", XDPGUARD_BIN,
                                      lab_->server().netns, base_ + "-b.toml");
  auto session = BackgroundProcess::start({"setsid", "sh", "-c", cmd});
  ASSERT_TRUE(session) << session.error().message();
  const pid_t sid = session->pid();
  // Armed first, then in force (seen within the 6 s window: each look
  // sends datagrams and waits for them, which on 2 loaded cores took over
  // 3 s, the window this test had).
  ASSERT_TRUE(wait_until([&] { return pending() && delivered(kPortB) == 0; }, 30s))
      << "the change never went in force";
  ASSERT_EQ(::kill(-sid, SIGKILL), 0) << std::strerror(errno);  // the whole session's group
  session->stop(SIGKILL);
  EXPECT_NE(::kill(-sid, 0), 0) << "the session's process group is still alive";

  // Back within the window + 3 s, and the traffic says so.
  ASSERT_TRUE(wait_until([&] { return !pending(); }, 30s));
  const auto s = status();
  EXPECT_EQ(s["outcome"], "rolled back") << s.dump();
  EXPECT_LE(s["outcome_unix"].get<double>() - s["deadline_unix"].get<double>(), 3.0) << s.dump();
  EXPECT_TRUE(state_a()) << "the state before the change is not back";
  EXPECT_EQ(rule_texts(), (std::vector<std::string>{"drop udp dport 7001", "drop saddr @bl"}));
}

TEST_F(ConfirmTest, AChangeConfirmedInTimeIsKept) {
  attach_a();
  // (Windows of several seconds: on 2 loaded cores one command took over 2.)
  auto add = xg_srv(*lab_, {"rule", "add", lab_->server().veth, "drop udp dport 7002", "--confirm", "6s"});
  ASSERT_EQ(add.code, 0) << add.err;
  EXPECT_NE(add.err.find("unless `xdpguard confirm " + lab_->server().veth + "` comes first"),
            std::string::npos)
      << add.err;
  auto ok = xg_srv(*lab_, {"confirm", lab_->server().veth});
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(ok.out, lab_->server().veth + ": confirmed; 1 change kept\n");
  std::this_thread::sleep_for(7s);  // past the window
  EXPECT_EQ(delivered(kPortB), 0) << "the confirmed rule was taken back";
  EXPECT_EQ(status()["outcome"], "confirmed");
  auto again = xg_srv(*lab_, {"confirm", lab_->server().veth});
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("no change is pending: the last one was confirmed at"), std::string::npos)
      << again.err;
}

// NETCONF's confirmed-commit: a second confirmed change before the first is
// confirmed moves the deadline, and what comes back is the state before the
// first.
TEST_F(ConfirmTest, ASecondConfirmedChangeExtendsTheWindowAndRollsBackToBeforeTheFirst) {
  attach_a();
  write(base_ + "-c.toml", {"drop udp dport 7001", "drop udp dport 7003", "drop saddr @bl"},
        "198.51.100.0/25");
  auto first = xg_srv(*lab_, {"apply", "--config", base_ + "-c.toml", "--confirm", "6s"});
  ASSERT_EQ(first.code, 0) << first.err;
  const double first_deadline = status()["deadline_unix"].get<double>();
  auto second = xg_srv(*lab_, {"rule", "add", lab_->server().veth, "drop udp dport 7002", "--confirm", "9s"});
  ASSERT_EQ(second.code, 0) << second.err;
  auto s = status();
  EXPECT_EQ(s["changes"].size(), 2u) << s.dump();
  EXPECT_GT(s["deadline_unix"].get<double>(), first_deadline) << s.dump();
  EXPECT_EQ(delivered(kPortB), 0);

  ASSERT_TRUE(wait_until([&] { return !pending(); }, 30s));
  s = status();
  EXPECT_EQ(s["outcome"], "rolled back") << s.dump();
  EXPECT_GE(s["outcome_unix"].get<double>(), first_deadline + 1.0) << "rolled back at the first deadline";
  EXPECT_TRUE(state_a());
  EXPECT_EQ(delivered(7003), 20);
  EXPECT_EQ(rule_texts(), (std::vector<std::string>{"drop udp dport 7001", "drop saddr @bl"}));
  auto sets = xg_srv(*lab_, {"set", "list", lab_->server().veth, "--json"});
  EXPECT_NE(sets.out.find("\"ipv4\":1"), std::string::npos) << sets.out;
}

// netopeer2#1826: a change that fails must not leave a rollback armed.
TEST_F(ConfirmTest, AChangeThatFailsArmsNothing) {
  attach_a();
  auto bad = xg_srv(*lab_, {"rule", "add", lab_->server().veth, "drop saddr @nosuchset", "--confirm", "3s"});
  ASSERT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("no set named @nosuchset"), std::string::npos) << bad.err;
  EXPECT_FALSE(pending());
  auto none = xg_srv(*lab_, {"confirm", lab_->server().veth});
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("no change made with --confirm is pending"), std::string::npos) << none.err;
  // A bad window is refused before anything happens.
  auto window = xg_srv(*lab_, {"rule", "add", lab_->server().veth, "drop udp dport 7002", "--confirm", "0s"});
  EXPECT_EQ(window.code, 1);
  EXPECT_NE(window.err.find("--confirm: expected a time from 1s to 24h"), std::string::npos) << window.err;
  EXPECT_EQ(rule_texts().size(), 2u);
  // A failure inside a pending window keeps the pending one as it was.
  ASSERT_EQ(
      xg_srv(*lab_, {"rule", "add", lab_->server().veth, "drop udp dport 7002", "--confirm", "60s"}).code, 0);
  const auto before = status();
  ASSERT_EQ(xg_srv(*lab_, {"rule", "del", lab_->server().veth, "999", "--confirm", "3s"}).code, 1);
  const auto after = status();
  EXPECT_EQ(after["changes"], before["changes"]);
  EXPECT_EQ(after["deadline_unix"], before["deadline_unix"]);
}

// The change was the attach: the rollback detaches.
TEST_F(ConfirmTest, AnAttachIsRolledBackByDetaching) {
  auto r = xg_srv(*lab_, {"attach", lab_->server().veth, "--config", base_ + "-b.toml", "--confirm", "6s"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(delivered(kPortB), 0);
  ASSERT_TRUE(wait_until([&] { return !pending(); }, 30s));
  EXPECT_EQ(status()["outcome"], "rolled back (detached: xdpguard was not attached before)");
  EXPECT_EQ(delivered(kPortA), 20);
  EXPECT_EQ(delivered(kPortB), 20);
  auto st = xg_srv(*lab_, {"status", "--json"});
  EXPECT_TRUE(nlohmann::json::parse(st.out)["interfaces"].empty()) << st.out;
}

// A change slower than its window (a large set to load: the lockout guard
// loads it too; `arm` comes before that preparation): the watcher, due in
// the middle of it, waits for the command making it, and rolls back what
// landed. (Before: the watcher "rolled back" before the change was in
// force, and the change then stayed with nothing pending.)
class ConfirmSlowTest : public ConfirmTest {
 protected:
  // -c.toml: port B dropped, and a set of 1,000,000 /32s of 100.64.0.0/10
  // (none of the lab's).
  void SetUp() override {
    ConfirmTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    big_ = base_ + "-big.txt";
    std::ofstream f(big_);
    for (std::uint32_t i = 0; i < 1'000'000; ++i)
      f << "100." << (64 + (i >> 16)) << '.' << ((i >> 8) & 255) << '.' << (i & 255) << '\n';
    f.close();
    std::ofstream c(base_ + "-c.toml");
    c << "[interfaces." << lab_->server().veth
      << "]\nrules = [\"drop udp dport 7002\", \"drop saddr @big\"]\n"
      << "[sets.big]\nfile = \"" << big_ << "\"\n";
    c.close();
    ::chmod((base_ + "-c.toml").c_str(), 0644);
  }
  void TearDown() override {
    ConfirmTest::TearDown();
    std::filesystem::remove(big_);
  }
  // Runs the change with --confirm 1s; says how long it took.
  void change(std::vector<std::string> argv) {
    argv.insert(argv.end(), {"--confirm", "1s"});
    const auto t0 = std::chrono::steady_clock::now();
    auto r = xg_srv(*lab_, argv);
    took_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(r.code, 0) << r.err;
    std::printf("the change took %.2f s, its window 1 s\n", took_);
    ASSERT_TRUE(wait_until([&] { return !pending(); }, 30s));
  }
  std::string big_;
  double took_ = 0;
};

TEST_F(ConfirmSlowTest, AnAttachIsRolledBackWhenItLands) {
  change({"attach", lab_->server().veth, "--config", base_ + "-c.toml"});
  EXPECT_EQ(status()["outcome"], "rolled back (detached: xdpguard was not attached before)")
      << "the change took " << took_ << " s";
  EXPECT_EQ(delivered(kPortB), 20);
  auto st = xg_srv(*lab_, {"status", "--json"});
  EXPECT_TRUE(nlohmann::json::parse(st.out)["interfaces"].empty()) << st.out;
}

TEST_F(ConfirmSlowTest, AnApplyIsRolledBackWhenItLands) {
  attach_a();
  change({"apply", "--config", base_ + "-c.toml"});
  EXPECT_EQ(status()["outcome"], "rolled back") << "the change took " << took_ << " s";
  EXPECT_TRUE(state_a());
  EXPECT_EQ(rule_texts().size(), 2u);
}

// The watcher is not the service: the service killed and started again
// (with the new file, as an operator who edited it would) during the window
// changes nothing about the rollback.
TEST_F(ConfirmTest, TheServiceRestartedDuringTheWindowDoesNotStopTheRollback) {
  const std::string conf = base_ + "-a.toml";
  auto start = [&](const std::string& file) {
    auto p = BackgroundProcess::start({XDPGUARD_BIN, "-n", lab_->server().netns, "run", "--config", file});
    EXPECT_TRUE(p) << p.error().message();
    return p ? std::move(*p) : BackgroundProcess{};
  };
  auto svc = start(conf);
  ASSERT_TRUE(wait_until([&] { return delivered(kPortA) == 0; }, 30s))
      << "the service never applied its file";
  auto r = xg_srv(*lab_, {"apply", "--config", base_ + "-b.toml", "--confirm", "4s"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(delivered(kPortB), 0);
  svc.stop(SIGKILL);
  svc = start(base_ + "-b.toml");
  ASSERT_TRUE(wait_until([&] { return !pending(); }, 30s));
  EXPECT_EQ(status()["outcome"], "rolled back");
  EXPECT_TRUE(state_a());
  svc.stop(SIGTERM);
}

}  // namespace
}  // namespace xdpguard::test
