// `xdpguard run` (service/daemon.h), as systemd runs it: READY only once the
// file is in force (the notification socket is the test's), SIGHUP applies
// the file again (a broken one is logged and changes nothing), SIGTERM
// leaves the programs enforcing, kill -9 at any moment under traffic lets
// nothing through and the next start adopts what is pinned (same program,
// counters go on), a newer build replaces the programs at start, one
// service per namespace, an untrusted file refused, the capabilities it
// keeps.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "e2e_support.h"
#include "core/join.h"
#include "service/caps.h"

namespace xdpguard::test {
namespace {

constexpr std::uint16_t kDropA = 7201, kDropB = 7202;

class ServiceTest : public LabTest {
 protected:
  void SetUp() override {
    LabTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    base_ = "/tmp/" + lab_->prefix() + "-svc";
    conf_ = base_ + ".toml";
    events_ = base_ + ".events";
    write_conf(kDropA);
    notify_path_ = base_ + ".notify";
    notify_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", notify_path_.c_str());
    ASSERT_EQ(::bind(notify_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  }
  void TearDown() override {
    daemon_ = BackgroundProcess{};
    LabTest::TearDown();
    for (const auto& f : {conf_, events_, events_ + ".1", notify_path_, base_ + ".out"})
      std::filesystem::remove(f);
  }
  void write_conf(std::uint16_t port) {
    std::ofstream(conf_) << fmt::format("[interfaces.{}]\nrules = [\"drop udp dport {}\"]\n",
                                        lab_->server().veth, port);
    ::chmod(conf_.c_str(), 0644);
  }
  std::vector<std::string> run_argv(std::vector<std::string> extra = {}) const {
    std::vector<std::string> argv = {"env",
                                     "NOTIFY_SOCKET=" + notify_path_,
                                     bin_,
                                     "-n",
                                     lab_->server().netns,
                                     "run",
                                     "--config",
                                     conf_,
                                     "--events",
                                     events_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  void start(std::vector<std::string> extra = {}) {
    auto p = BackgroundProcess::start(run_argv(std::move(extra)), base_ + ".out");
    ASSERT_TRUE(p) << p.error().message();
    daemon_ = std::move(*p);
  }
  // The next notification that contains `what`, within `wait`.
  std::string notified(const std::string& what, std::chrono::milliseconds wait = std::chrono::seconds(15)) {
    const auto end = std::chrono::steady_clock::now() + wait;
    char buf[4096];
    while (std::chrono::steady_clock::now() < end) {
      pollfd pf{notify_.get(), POLLIN, 0};
      if (::poll(&pf, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(notify_.get(), buf, sizeof buf, 0);
      if (n <= 0) continue;
      std::string msg(buf, static_cast<std::size_t>(n));
      if (msg.find(what) != std::string::npos) return msg;
    }
    return "";
  }
  // Events of `type` written so far.
  std::vector<nlohmann::json> events(const std::string& type) const {
    std::vector<nlohmann::json> out;
    std::ifstream in(events_);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.value("type", "") == type) out.push_back(j);
    }
    return out;
  }
  std::uint32_t prog_id() {
    auto st = nlohmann::json::parse(xg_srv(*lab_, {"status", "--json"}).out)["interfaces"];
    return st.empty() ? 0 : st[0]["program_id"].get<std::uint32_t>();
  }
  std::string base_, conf_, events_, notify_path_;
  std::string bin_ = XDPGUARD_BIN;  // the service's binary
  UniqueFd notify_;
  BackgroundProcess daemon_;
};

TEST_F(ServiceTest, ReadyReloadAndFailStaticExit) {
  start({"--metrics", "127.0.0.1:19435"});
  const auto ready = notified("READY=1");
  ASSERT_NE(ready, "") << slurp(base_ + ".out");
  EXPECT_NE(ready.find("STATUS=1 interface, 1 rules in force"), std::string::npos) << ready;
  // READY came after the file went live: its rule drops from then on.
  EXPECT_EQ(udp_delivered(*lab_, kDropA, 5), 0);
  EXPECT_EQ(udp_delivered(*lab_, kDropB, 5), 5);
  ASSERT_EQ(events("applied").size(), 1u);

  // The capabilities it kept: exactly service/caps.h's.
  std::uint64_t want = 0;
  for (int c : service::kKeptCapabilities) want |= 1ull << c;
  std::ifstream status("/proc/" + std::to_string(daemon_.pid()) + "/status");
  std::string line, eff, bnd;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) eff = line.substr(7);
    if (line.rfind("CapBnd:", 0) == 0) bnd = line.substr(7);
  }
  EXPECT_EQ(std::stoull(eff, nullptr, 16), want) << eff;
  EXPECT_EQ(std::stoull(bnd, nullptr, 16), want) << bnd;

  // The metrics endpoint, from the server's namespace.
  auto metrics = lab_->exec(lab_->server(), {"curl", "-s", "http://127.0.0.1:19435/metrics"});
  ASSERT_TRUE(metrics) << metrics.error().message();
  EXPECT_NE(metrics->find("xdpguard_rule_packets_total"), std::string::npos);

  // A second service in the namespace: refused, naming the first.
  auto second = xg_srv(*lab_, {"run", "--config", conf_});
  EXPECT_EQ(second.code, 1);
  EXPECT_NE(second.err.find(fmt::format("held by pid {}", daemon_.pid())), std::string::npos) << second.err;

  // SIGHUP with a broken file: logged with its line, the old rules stay.
  std::ofstream(conf_, std::ios::app) << "rules = [\n";
  ASSERT_EQ(::kill(daemon_.pid(), SIGHUP), 0);
  ASSERT_TRUE(wait_until([&] { return !events("apply_failed").empty(); }));
  EXPECT_NE(events("apply_failed")[0]["error"].get<std::string>().find("line 3"), std::string::npos);
  EXPECT_TRUE(daemon_.running());
  EXPECT_EQ(udp_delivered(*lab_, kDropA, 5), 0);
  EXPECT_NE(notified("last reload failed"), "");

  // SIGHUP with a good file: in force within a second.
  write_conf(kDropB);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(daemon_.pid(), SIGHUP), 0);
  ASSERT_TRUE(wait_until([&] { return events("applied").size() == 2; }));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ(udp_delivered(*lab_, kDropB, 5), 0);
  EXPECT_EQ(udp_delivered(*lab_, kDropA, 5), 5);

  // SIGTERM: exit 0, the programs stay and enforce.
  const auto id = prog_id();
  EXPECT_EQ(daemon_.stop(SIGTERM), 0);
  EXPECT_EQ(prog_id(), id);
  EXPECT_EQ(udp_delivered(*lab_, kDropB, 5), 0);
  EXPECT_EQ(events("stopping").size(), 1u);
}

TEST_F(ServiceTest, KilledAtRandomUnderTrafficLetsNothingThroughAndRestartAdopts) {
  // Traffic to the dropped port all along, bounded in datagrams and time.
  UniqueFd rx, tx;
  ASSERT_TRUE(run_in_netns(lab_->server().netns, [&] {
    rx.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    auto a = sockaddr4(lab_->server().ip4, kDropA);
    if (rx && ::bind(rx.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) rx.reset();
  }));
  ASSERT_TRUE(
      run_in_netns(lab_->client().netns, [&] { tx.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)); }));
  ASSERT_TRUE(rx && tx);
  start();
  ASSERT_NE(notified("READY=1"), "") << slurp(base_ + ".out");
  const auto id = prog_id();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> sent{0};
  std::thread sender([&] {
    const auto to = sockaddr4(lab_->server().ip4, kDropA);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    while (!stop && sent < 5'000'000 && std::chrono::steady_clock::now() < until) {
      for (int i = 0; i < 16; ++i)
        if (::sendto(tx.get(), "x", 1, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 1) ++sent;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  JoinOnExit join{stop, {&sender}};

  auto rule_packets = [&]() -> std::uint64_t {
    auto r = xg_srv(*lab_, {"rule", "list", lab_->server().veth, "--json"});
    if (r.code != 0) return 0;
    return nlohmann::json::parse(r.out)["rules"][0]["packets"].get<std::uint64_t>();
  };
  std::mt19937 rng(7);
  std::uint64_t last = 0;
  constexpr int kKills = 50;
  for (int i = 0; i < kKills; ++i) {
    // A random moment: while it applies the file at start, or after.
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 300));
    EXPECT_NE(daemon_.stop(SIGKILL), 0) << "kill " << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 50));  // no service at all meanwhile
    const std::uint64_t now = rule_packets();
    EXPECT_GE(now, last) << "counter went back after kill " << i;
    last = now;
    start();
    if (HasFatalFailure()) return;
  }
  ASSERT_NE(notified("READY=1"), "");
  stop = true;
  sender.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::uint64_t got = 0;
  char buf[16];
  while (::recv(rx.get(), buf, sizeof buf, 0) > 0) ++got;
  EXPECT_GT(sent.load(), 10'000u);
  EXPECT_EQ(got, 0u) << "datagrams the rules drop reached the server, of " << sent;
  EXPECT_EQ(prog_id(), id) << "a restart attached again instead of adopting";
  EXPECT_GT(rule_packets(), last);
}

TEST_F(ServiceTest, ANewerBuildUpgradesTheAttachedProgramsAtStart) {
  // The product's xdpguard attached the file; a newer build's service
  // (xdpguard-next: the same pipeline, other code) starts over it.
  auto att = xg_srv(*lab_, {"attach", lab_->server().veth, "--config", conf_});
  ASSERT_EQ(att.code, 0) << att.err;
  const auto first = prog_id();
  bin_ = XDPGUARD_NEXT_BIN;
  start();
  ASSERT_NE(notified("READY=1"), "") << slurp(base_ + ".out");
  auto up = events("upgraded");
  ASSERT_EQ(up.size(), 1u) << slurp(events_);
  EXPECT_EQ(up[0]["interface"], lab_->server().veth);
  EXPECT_NE(prog_id(), first);
  EXPECT_EQ(udp_delivered(*lab_, kDropA, 5), 0);
  EXPECT_EQ(udp_delivered(*lab_, kDropB, 5), 5);
  // Started again, the same build finds its own programs: nothing to do.
  const auto second = prog_id();
  EXPECT_EQ(daemon_.stop(SIGTERM), 0);
  start();
  ASSERT_NE(notified("READY=1"), "") << slurp(base_ + ".out");
  EXPECT_EQ(events("upgraded").size(), 1u) << slurp(events_);
  EXPECT_EQ(prog_id(), second);
}

TEST_F(ServiceTest, BpffsUnmountedUnderTheServiceIsAClearErrorOnReload) {
  // The service in a mount namespace of its own, with a bpffs of its own:
  // unmounting that one takes every pin with it (the host's bpffs and the
  // other tests are not touched).
  std::string cmd = "umount -l /sys/fs/bpf 2>/dev/null; mount -t bpf bpf /sys/fs/bpf && exec";
  for (const auto& a : run_argv()) cmd += " '" + a + "'";
  auto p = BackgroundProcess::start({"unshare", "-m", "--propagation", "private", "sh", "-c", cmd},
                                    base_ + ".out");
  ASSERT_TRUE(p) << p.error().message();
  daemon_ = std::move(*p);
  ASSERT_NE(notified("READY=1"), "") << slurp(base_ + ".out");
  EXPECT_EQ(udp_delivered(*lab_, kDropA, 5), 0);
  auto um = run_process({"nsenter", "-t", std::to_string(daemon_.pid()), "-m", "umount", "/sys/fs/bpf"});
  ASSERT_TRUE(um && um->exit_code == 0) << (um ? um->err : um.error().message());

  // The next reload cannot reach the state: it says so and what to do, the
  // service lives on, and the programs go on enforcing the rules.
  ASSERT_EQ(::kill(daemon_.pid(), SIGHUP), 0);
  ASSERT_TRUE(wait_until([&] { return !events("apply_failed").empty(); })) << slurp(events_);
  const std::string err = events("apply_failed")[0]["error"];
  EXPECT_NE(err.find(lab_->server().veth), std::string::npos) << err;
  EXPECT_NE(err.find("pinned state is gone (bpffs unmounted"), std::string::npos) << err;
  EXPECT_NE(err.find("run detach, then attach again"), std::string::npos) << err;
  EXPECT_TRUE(daemon_.running());
  EXPECT_EQ(udp_delivered(*lab_, kDropA, 5), 0);
  EXPECT_EQ(udp_delivered(*lab_, kDropB, 5), 5);
}

TEST_F(ServiceTest, UntrustedFileRefusedAndDetachOnExit) {
  ::chmod(conf_.c_str(), 0666);
  auto r = xg_srv(*lab_, {"run", "--config", conf_});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("writable by everyone (mode 0666)"), std::string::npos) << r.err;
  ::chmod(conf_.c_str(), 0644);
  ASSERT_EQ(::chown(conf_.c_str(), 65534, 65534), 0);
  r = xg_srv(*lab_, {"run", "--config", conf_});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("owned by uid 65534, not root"), std::string::npos) << r.err;
  EXPECT_EQ(prog_id(), 0u);  // nothing was attached
  ASSERT_EQ(::chown(conf_.c_str(), 0, 0), 0);

  start({"--detach-on-exit"});
  ASSERT_NE(notified("READY=1"), "") << slurp(base_ + ".out");
  EXPECT_NE(prog_id(), 0u);
  EXPECT_EQ(daemon_.stop(SIGTERM), 0);
  EXPECT_EQ(prog_id(), 0u);
  EXPECT_EQ(udp_delivered(*lab_, kDropA, 5), 5);
}

}  // namespace
}  // namespace xdpguard::test
