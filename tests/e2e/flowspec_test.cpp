// BGP FlowSpec end to end (flowspec/, README "Fleet-wide rules with BGP
// FlowSpec"): a real GoBGP controller and three edges, each a real ExaBGP
// running `xdpguard flowspec --exabgp` over xdpguard attached in the edge's
// namespace; and `xdpguard flowspec --gobgp` following a real gobgpd. Every
// verdict is what the edges' sockets received.
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <functional>
#include <optional>
#include <thread>

#include "e2e/e2e_support.h"
#include "lab/bgp_lab.h"
#include "lab/probe.h"

namespace xdpguard::test {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr std::uint16_t kFsPort = 7100;     // the routes' port
constexpr std::uint16_t kFsControl = 7101;  // a port no route names

bool have_tool(const char* name) {
  auto r = run_process({"sh", "-c", fmt::format("command -v {}", name)});
  return r && r->exit_code == 0;
}

// The first of `tools` that is not installed.
std::optional<std::string> missing_tool(std::initializer_list<const char*> tools) {
  for (const char* tool : tools)
    if (!have_tool(tool)) return std::string(tool);
  return std::nullopt;
}

// Skips a test that needs root and these BGP speakers where they are not;
// in CI (which installs them, scripts/setup.sh test) a missing one fails.
#define NEED_SPEAKERS(...)                                                               \
  do {                                                                                   \
    if (auto why = privileged_unavailable()) GTEST_SKIP() << *why;                       \
    if (auto tool = missing_tool({__VA_ARGS__})) {                                       \
      if (in_ci()) FAIL() << *tool << " is missing (scripts/setup.sh test installs it)"; \
      GTEST_SKIP() << *tool << " is not installed";                                      \
    }                                                                                    \
  } while (false)

class FlowspecFleetTest : public ::testing::Test {
 protected:
  static constexpr int kEdges = 3;

  void SetUp() override {
    NEED_SPEAKERS("gobgpd", "gobgp", "exabgp");
    auto b = BgpLab::create({.edges = kEdges, .xdpguard = XDPGUARD_BIN, .stale_seconds = 3});
    ASSERT_TRUE(b) << b.error().message();
    fleet_ = std::move(*b);
    // A local rule on each edge: FlowSpec's come after it.
    for (int i = 0; i < kEdges; ++i) {
      auto r = xg_srv(edge(i), {"rule", "add", edge(i).server().veth, "pass tcp dport 22"});
      ASSERT_EQ(r.code, 0) << r.err;
    }
  }
  void TearDown() override {
    if (HasFailure() && fleet_) std::fprintf(stderr, "%s\n", fleet_->logs().c_str());
    fleet_.reset();
  }

  const Lab& edge(int i) const { return fleet_->edge(i); }
  std::string logs() const { return fleet_->logs(); }
  nlohmann::json state_json(int i) const {
    return nlohmann::json::parse(slurp(fleet_->state_file(i)), nullptr, false);
  }
  std::vector<std::string> flowspec_rules(const Lab& lab) {
    auto r = xg_srv(lab, {"rule", "list", lab.server().veth, "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    std::vector<std::string> out;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_object())
      for (const auto& x : j["rules"])
        if (x["rule"].get<std::string>().find("comment \"flowspec ") != std::string::npos)
          out.push_back(x["rule"].get<std::string>());
    return out;
  }
  std::vector<UdpFlow> flows(std::uint16_t port) {
    std::vector<UdpFlow> out;
    for (int i = 0; i < kEdges; ++i) {
      auto f = UdpFlow::open(edge(i), port);
      EXPECT_TRUE(f) << f.error().message();
      if (f) out.push_back(std::move(*f));
    }
    return out;
  }
  void announce_drop() {
    auto r = fleet_->gobgp({"global", "rib", "-a", "ipv4-flowspec", "add", "match", "destination",
                            "198.18.0.2/32", "protocol", "udp", "destination-port",
                            fmt::format("=={}", kFsPort), "then", "discard"});
    ASSERT_TRUE(r && r->exit_code == 0) << (r ? r->err : r.error().message());
  }
  void withdraw_drop() {
    auto r =
        fleet_->gobgp({"global", "rib", "-a", "ipv4-flowspec", "del", "match", "destination", "198.18.0.2/32",
                       "protocol", "udp", "destination-port", fmt::format("=={}", kFsPort)});
    ASSERT_TRUE(r && r->exit_code == 0) << (r ? r->err : r.error().message());
  }

  std::unique_ptr<BgpLab> fleet_;
};

// One announce on the controller: every edge drops within 1 s (each
// measured), the port beside it still passes, the rule carries the route's
// label and counts; the withdraw lifts it everywhere within 1 s.
TEST_F(FlowspecFleetTest, AnAnnouncedDropHoldsOnEveryEdgeWithinASecondAndTheWithdrawLiftsIt) {
  auto fl = flows(kFsPort);
  auto before = time_to_change(fl, SteadyClock::now(), false, 3s);
  for (int i = 0; i < kEdges; ++i) ASSERT_TRUE(before[i]) << "edge " << i << " drops before any route";

  const auto t0 = SteadyClock::now();
  ASSERT_NO_FATAL_FAILURE(announce_drop());
  auto dropped = time_to_change(fl, t0, true, 5s);
  for (int i = 0; i < kEdges; ++i) {
    ASSERT_TRUE(dropped[i]) << "edge " << i << " never dropped\n" << logs();
    EXPECT_LE(*dropped[i], 1.0) << "edge " << i;
    std::fprintf(stderr, "edge %d: announce to enforced %.0f ms\n", i, *dropped[i] * 1000);
  }
  for (int i = 0; i < kEdges; ++i) {
    EXPECT_EQ(udp_delivered(edge(i), kFsControl, 20, false, 9, 300ms), 20) << "edge " << i << " over-blocks";
    auto rules = flowspec_rules(edge(i));
    ASSERT_EQ(rules.size(), 1u);
    EXPECT_EQ(
        rules[0],
        "drop udp daddr 198.18.0.2 dport 7100 comment \"flowspec ipv4 destination 198.18.0.2/32 protocol =17 "
        "destination-port =7100\"");
    // After the local rule.
    auto all = xg_srv(edge(i), {"rule", "list", edge(i).server().veth, "--json"});
    auto j = nlohmann::json::parse(all.out, nullptr, false);
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j["rules"][0]["rule"], "pass tcp dport 22");
    EXPECT_GT(j["rules"][1]["packets"].get<std::uint64_t>(), 0u);
  }

  const auto t1 = SteadyClock::now();
  ASSERT_NO_FATAL_FAILURE(withdraw_drop());
  auto passed = time_to_change(fl, t1, false, 5s);
  for (int i = 0; i < kEdges; ++i) {
    ASSERT_TRUE(passed[i]) << "edge " << i << " still drops after the withdraw\n" << logs();
    EXPECT_LE(*passed[i], 1.0) << "edge " << i;
    std::fprintf(stderr, "edge %d: withdraw to lifted %.0f ms\n", i, *passed[i] * 1000);
    EXPECT_TRUE(flowspec_rules(edge(i)).empty());
  }
}

// A rate-limit route (GoBGP's `rate-limit`: traffic-rate-bytes) holds on
// every edge: 2,000 datagrams of 128 IP bytes at 1,000/s against 20,000
// bytes/s deliver the bucket's first second and 20,000 bytes a second after.
TEST_F(FlowspecFleetTest, ARateLimitRouteHoldsItsRateOnEveryEdge) {
  constexpr std::uint16_t kPort = 7102;
  constexpr double kRate = 20000;  // bytes/s
  auto r = fleet_->gobgp({"global", "rib", "-a", "ipv4-flowspec", "add", "match", "destination",
                          "198.18.0.2/32", "protocol", "udp", "destination-port", fmt::format("=={}", kPort),
                          "then", "rate-limit", fmt::format("{}", kRate)});
  ASSERT_TRUE(r && r->exit_code == 0) << (r ? r->err : r.error().message());
  // Every edge gets the route on its own session: wait for all of them (a
  // sanitized run once found edge 2 still without it when edge 0 had it).
  ASSERT_TRUE(wait_until(
      [&] {
        for (int i = 0; i < kEdges; ++i)
          if (flowspec_rules(edge(i)).size() != 2) return false;
        return true;
      },
      5s))
      << logs();
  for (int i = 0; i < kEdges; ++i) {
    auto rules = flowspec_rules(edge(i));
    ASSERT_EQ(rules.size(), 2u);
    EXPECT_NE(rules[0].find("limit over 20000 bytes/s"), std::string::npos) << rules[0];
  }
  // Every edge at once: a sender and a receiver per edge, 100-byte payloads.
  std::vector<UniqueFd> tx(kEdges), rx(kEdges);
  for (int i = 0; i < kEdges; ++i) {
    auto a = sockaddr4(edge(i).server().ip4, kPort);
    ASSERT_TRUE(run_in_netns(edge(i).server().netns, [&] {
      rx[i] = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      int big = 1 << 22;
      ::setsockopt(rx[i].get(), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
      EXPECT_EQ(::bind(rx[i].get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }));
    ASSERT_TRUE(run_in_netns(edge(i).client().netns, [&] {
      tx[i] = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      EXPECT_EQ(::connect(tx[i].get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }));
  }
  char payload[100] = {};
  constexpr int kSent = 2000;
  std::vector<int> got(kEdges, 0);
  const auto t0 = SteadyClock::now();
  for (int k = 0; k < kSent; ++k) {
    for (int i = 0; i < kEdges; ++i) (void)::send(tx[i].get(), payload, sizeof payload, 0);
    std::this_thread::sleep_until(t0 + std::chrono::microseconds(1000 * (k + 1)));
  }
  const double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  std::this_thread::sleep_for(50ms);
  char buf[256];
  for (int i = 0; i < kEdges; ++i)
    while (::recv(rx[i].get(), buf, sizeof buf, 0) > 0) ++got[i];
  // 128 IP bytes each: the first second's bucket, then the rate.
  const double want = kRate * (1 + secs) / 128;
  for (int i = 0; i < kEdges; ++i) {
    std::fprintf(stderr, "edge %d: %d of %d datagrams through in %.2f s (the limit lets %.0f)\n", i, got[i],
                 kSent, secs, want);
    EXPECT_GE(got[i], want * 0.9) << "edge " << i;
    EXPECT_LE(got[i], want * 1.1 + 2) << "edge " << i;
  }
}

// The controller dies (SIGKILL: no withdraw ever comes): each edge keeps the
// rule for its stale time (3 s), then removes it.
TEST_F(FlowspecFleetTest, WhenTheControllerDiesTheRoutesStayForTheStaleTimeThenGo) {
  auto fl = flows(kFsPort);
  ASSERT_NO_FATAL_FAILURE(announce_drop());
  auto dropped = time_to_change(fl, SteadyClock::now(), true, 5s);
  for (int i = 0; i < kEdges; ++i) ASSERT_TRUE(dropped[i]) << "edge " << i << "\n" << logs();

  const auto t0 = SteadyClock::now();
  fleet_->kill_controller();
  // Nothing through until its stale time: passed[i] >= 2.9 s below.
  auto passed = time_to_change(fl, t0, false, 8s);
  for (int i = 0; i < kEdges; ++i) {
    ASSERT_TRUE(passed[i]) << "edge " << i << " kept the rule\n" << logs();
    EXPECT_GE(*passed[i], 2.9) << "edge " << i;
    EXPECT_LE(*passed[i], 5.0) << "edge " << i;
    std::fprintf(stderr, "edge %d: controller gone to rule removed %.2f s (stale time 3 s)\n", i, *passed[i]);
  }
}

// An edge's consumer is killed; ExaBGP starts it again: the new one keeps
// the rules in force (adopted), asks for the routes again (route refresh),
// and is the speaker's alone once its stale time is over: not one datagram
// gets through meanwhile.
TEST_F(FlowspecFleetTest, ARestartedConsumerConvergesWithoutAWindow) {
  ASSERT_NO_FATAL_FAILURE(announce_drop());
  auto fl = flows(kFsPort);
  auto dropped = time_to_change(fl, SteadyClock::now(), true, 5s);
  ASSERT_TRUE(dropped[0]) << logs();
  const std::string pattern = fmt::format("flowspec {} --exabgp", edge(0).server().veth);
  auto pid = run_process({"pgrep", "-f", pattern});
  ASSERT_TRUE(pid && pid->exit_code == 0) << "no consumer running";
  const std::string old_pid = pid->out;
  ASSERT_TRUE(run_process({"pkill", "-KILL", "-f", pattern}));
  // 5 s of traffic (past the 3 s the adopted rules stay at most): none through.
  std::uint64_t through = 0;
  const auto t0 = SteadyClock::now();
  for (std::uint32_t seq = 0; SteadyClock::now() - t0 < 5s; ++seq) {
    fl[0].send(seq);
    std::this_thread::sleep_for(2ms);
    through += fl[0].drain().size();
  }
  std::this_thread::sleep_for(50ms);
  through += fl[0].drain().size();
  EXPECT_EQ(through, 0u) << "datagrams got through while the consumer restarted\n" << logs();
  auto again = run_process({"pgrep", "-f", pattern});
  ASSERT_TRUE(again && again->exit_code == 0) << "ExaBGP did not start the consumer again\n" << logs();
  EXPECT_NE(again->out, old_pid);
  nlohmann::json s;
  EXPECT_TRUE(wait_until(
      [&] {
        s = state_json(0);
        return s.is_object() && !s["stats"]["adopting"].get<bool>();
      },
      3s))
      << s.dump();
  ASSERT_TRUE(s.is_object()) << slurp(fleet_->state_file(0));
  EXPECT_FALSE(s["stats"]["adopting"].get<bool>()) << s.dump();
  EXPECT_EQ(s["stats"]["installed"], 1) << "the route did not come again: " << s.dump();
  EXPECT_EQ(flowspec_rules(edge(0)).size(), 1u);
}

// `xdpguard flowspec --gobgp`: following a gobgpd on the edge itself, IPv4
// and IPv6 routes; gobgpd gone, its routes stay (stale); back with an empty
// RIB, they go at once.
// A gobgpd in the lab's server namespace (no BGP listener: its gRPC API
// on 127.0.0.1:50051 is all the tests use), in a directory of the test's.
struct LocalGobgpd {
  const Lab* lab = nullptr;
  std::string dir;
  std::optional<BackgroundProcess> daemon;

  LocalGobgpd(const Lab& l, const std::string& name)
      : lab(&l), dir(fmt::format("/tmp/xb21{}-{}", ::getpid(), name)) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/gobgpd.toml") << "[global.config]\n  as = 65001\n  router-id = \"198.19.9.1\"\n"
                                           "  port = -1\n";
  }
  ~LocalGobgpd() {
    daemon.reset();
    std::filesystem::remove_all(dir);
  }
  LocalGobgpd(const LocalGobgpd&) = delete;
  LocalGobgpd& operator=(const LocalGobgpd&) = delete;
  // Started (again), and answering.
  [[nodiscard]] bool start() {
    auto p = BackgroundProcess::start(
        {"ip", "netns", "exec", lab->server().netns, "gobgpd", "-f", dir + "/gobgpd.toml", "--pprof-disable"},
        dir + "/gobgpd.log");
    if (!p) return false;
    daemon = std::move(*p);
    return wait_until(
        [&] {
          auto r = cli({"global"});
          return r && r->exit_code == 0;
        },
        20s);
  }
  Result<ProcessResult> cli(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"ip", "netns", "exec", lab->server().netns, "gobgp"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, 10s);
  }
  // `then discard` for UDP to the server's kFsPort (IPv4 or IPv6).
  [[nodiscard]] bool add_drop(bool v6) const {
    auto r = cli({"global", "rib", "-a", v6 ? "ipv6-flowspec" : "ipv4-flowspec", "add", "match",
                  "destination", v6 ? "fd00::2/128" : "198.18.0.2/32", "protocol", "udp", "destination-port",
                  fmt::format("=={}", kFsPort), "then", "discard"});
    return r && r->exit_code == 0;
  }
  std::string log() const { return slurp(dir + "/gobgpd.log"); }
};

TEST(FlowspecGobgpTest, FollowsGobgpdItsRibAndItsRestart) {
  NEED_SPEAKERS("gobgpd", "gobgp");
  auto lab = Lab::create({.ipv6 = true, .prefix = "xb21"});
  ASSERT_TRUE(lab) << lab.error().message();
  LocalGobgpd gobgpd(*lab, "gobgp");
  const std::string& dir = gobgpd.dir;
  auto a = xg_srv(*lab, {"attach", lab->server().veth});
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_TRUE(gobgpd.start()) << gobgpd.log();
  auto consumer = BackgroundProcess::start(
      {XDPGUARD_BIN, "-n", lab->server().netns, "flowspec", lab->server().veth, "--gobgp", "127.0.0.1:50051",
       "--stale-time", "2", "--state", dir + "/state.json"},
      dir + "/consumer.log");
  ASSERT_TRUE(consumer) << consumer.error().message();
  auto log = [&] { return slurp(dir + "/consumer.log") + gobgpd.log(); };
  ASSERT_TRUE(gobgpd.add_drop(false) && gobgpd.add_drop(true)) << log();
  auto both_dropped = [&] {
    return udp_delivered(*lab, kFsPort, 5, false, 9, 200ms) == 0 &&
           udp_delivered(*lab, kFsPort, 5, true, 9, 200ms) == 0;
  };
  ASSERT_TRUE(wait_until(both_dropped, 5s)) << log();
  EXPECT_EQ(udp_delivered(*lab, kFsControl, 5, true, 9, 300ms), 5);

  gobgpd.daemon->stop(SIGKILL);
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(both_dropped()) << "the routes went before their stale time";
  // Back, with nothing in its RIB: the monitor's first line says so, and the
  // stale routes go without waiting for their time.
  ASSERT_TRUE(gobgpd.start()) << log();
  ASSERT_TRUE(wait_until(
      [&] {
        return udp_delivered(*lab, kFsPort, 5, false, 9, 200ms) == 5 &&
               udp_delivered(*lab, kFsPort, 5, true, 9, 200ms) == 5;
      },
      10s))
      << log();
  nlohmann::json s;
  EXPECT_TRUE(wait_until(
      [&] {
        s = nlohmann::json::parse(slurp(dir + "/state.json"), nullptr, false);
        return s.is_object() && s["stats"]["routes"] == 0;
      },
      3s))
      << s.dump();
  consumer->stop(SIGTERM);
  (void)xg_srv(*lab, {"detach", lab->server().veth});
}

// The lockout guard applies to FlowSpec routes: one that would drop SSH
// from a management prefix is not installed (named, with the packet it
// would cut), the others are; a real TCP connection from the management
// address to port 22 still gets through, the other route's datagrams do
// not. With --no-lockout-guard the route goes in.
TEST(FlowspecGobgpTest, ARouteThatWouldCutTheOperatorOffIsLeftOut) {
  NEED_SPEAKERS("gobgpd", "gobgp");
  auto lab = Lab::create({.ipv6 = false, .prefix = "xb21"});
  ASSERT_TRUE(lab) << lab.error().message();
  LocalGobgpd gobgpd(*lab, "lockout");
  const std::string& dir = gobgpd.dir;
  ASSERT_EQ(xg_srv(*lab, {"attach", lab->server().veth}).code, 0);
  ASSERT_TRUE(gobgpd.start()) << gobgpd.log();
  EchoServer ssh(*lab, 22);
  auto start = [&](bool guard) {
    std::vector<std::string> argv{XDPGUARD_BIN,
                                  "-n",
                                  lab->server().netns,
                                  "flowspec",
                                  lab->server().veth,
                                  "--gobgp",
                                  "127.0.0.1:50051",
                                  "--management",
                                  lab->client().ip4 + "/32"};
    if (!guard) argv.emplace_back("--no-lockout-guard");
    return BackgroundProcess::start(argv, dir + "/consumer.log");
  };
  auto consumer = start(true);
  ASSERT_TRUE(consumer) << consumer.error().message();
  auto log = [&] { return slurp(dir + "/consumer.log") + gobgpd.log(); };
  auto r = gobgpd.cli({"global", "rib", "-a", "ipv4-flowspec", "add", "match", "destination", "198.18.0.2/32",
                       "protocol", "tcp", "destination-port", "==22", "then", "discard"});
  ASSERT_TRUE(r && r->exit_code == 0) << log();
  ASSERT_TRUE(gobgpd.add_drop(false)) << log();
  ASSERT_TRUE(wait_until([&] { return udp_delivered(*lab, kFsPort, 5, false, 9, 200ms) == 0; }, 10s))
      << log();
  ASSERT_TRUE(wait_until([&] { return log().find("refused by the lockout guard") != std::string::npos; }, 5s))
      << log();
  EXPECT_NE(log().find("destination-port =22\" would cut"), std::string::npos) << log();
  EXPECT_NE(log().find("management " + lab->client().ip4), std::string::npos) << log();
  EXPECT_EQ(tcp_echo(*lab, 22, 100), 100u) << "SSH from the management prefix was cut";
  auto list = xg_srv(*lab, {"rule", "list", lab->server().veth}).out;
  EXPECT_EQ(list.find("dport 22"), std::string::npos) << list;
  // Without the guard, the operator's word: the route is in force.
  consumer->stop(SIGTERM);
  auto unguarded = start(false);
  ASSERT_TRUE(unguarded) << unguarded.error().message();
  EXPECT_TRUE(wait_until(
      [&] {
        return xg_srv(*lab, {"rule", "list", lab->server().veth}).out.find("dport 22") != std::string::npos;
      },
      10s))
      << log();
  unguarded->stop(SIGTERM);
  (void)xg_srv(*lab, {"detach", lab->server().veth});
}

// `xdpguard run` with a [flowspec] section follows gobgpd as the command
// does; and the service's reload, `xdpguard apply` and a rollback of the
// local rules leave the FlowSpec group in force (an apply of a file, which
// has no FlowSpec routes, used to remove them until the next route change).
// Checked on what the server received, datagrams sent all through the
// reload and the apply.
TEST(FlowspecServiceTest, RunFollowsGobgpdAndReloadsAndAppliesKeepTheRoutes) {
  NEED_SPEAKERS("gobgpd", "gobgp");
  auto lab = Lab::create({.ipv6 = false, .prefix = "xb21"});
  ASSERT_TRUE(lab) << lab.error().message();
  LocalGobgpd gobgpd(*lab, "svc");
  const std::string& dir = gobgpd.dir;
  ASSERT_TRUE(gobgpd.start()) << gobgpd.log();
  const std::string conf = dir + "/xdpguard.toml", events = dir + "/events.jsonl";
  constexpr std::uint16_t kLocalA = 7102, kLocalB = 7103;
  auto write_conf = [&](std::uint16_t local) {
    std::ofstream(conf) << fmt::format(
        "[interfaces.{}]\nrules = [\"drop udp dport {}\"]\n\n[flowspec]\ngobgp = \"127.0.0.1:50051\"\n"
        "stale-time = 30\nstate = \"{}/state.json\"\n",
        lab->server().veth, local, dir);
    ::chmod(conf.c_str(), 0600);
  };
  write_conf(kLocalA);
  auto service = BackgroundProcess::start(
      {XDPGUARD_BIN, "-n", lab->server().netns, "run", "--config", conf, "--events", events},
      dir + "/service.log");
  ASSERT_TRUE(service) << service.error().message();
  auto log = [&] { return slurp(dir + "/service.log") + slurp(events) + gobgpd.log(); };
  auto started = [&] {  // flowspec-started events so far
    const std::string e = slurp(events);
    int n = 0;
    for (auto at = e.find("\"flowspec-started\""); at != std::string::npos;
         at = e.find("\"flowspec-started\"", at + 1))
      ++n;
    return n;
  };
  ASSERT_TRUE(gobgpd.add_drop(false)) << log();
  auto dropped = [&] { return udp_delivered(*lab, kFsPort, 5, false, 9, 200ms) == 0; };
  ASSERT_TRUE(wait_until(dropped, 10s)) << log();
  EXPECT_EQ(udp_delivered(*lab, kLocalA, 5, false, 9, 300ms), 0) << "the file's rule";
  EXPECT_EQ(udp_delivered(*lab, kFsControl, 5, false, 9, 300ms), 5);
  auto rules = [&] { return xg_srv(*lab, {"rule", "list", lab->server().veth}).out; };
  EXPECT_NE(rules().find("drop udp daddr 198.18.0.2 dport 7100 comment \"flowspec "), std::string::npos)
      << rules();

  // While datagrams to the route's port keep coming, not one gets through
  // (the change itself sends none: the sentinel port is the sender's).
  auto none_through_while = [&](const std::function<void()>& change) {
    std::atomic<bool> done{false};
    std::atomic<int> through{0}, sent{0};
    std::thread sender([&] {
      const auto end = SteadyClock::now() + 30s;
      while (!done && SteadyClock::now() < end) {
        through += udp_delivered(*lab, kFsPort, 20, false, 9, 50ms);
        sent += 20;
      }
    });
    change();
    std::this_thread::sleep_for(500ms);
    done = true;
    sender.join();
    EXPECT_GT(sent.load(), 0);
    return through.load();
  };
  // A reload with another local rule.
  write_conf(kLocalB);
  EXPECT_EQ(none_through_while([&] {
              ASSERT_EQ(::kill(service->pid(), SIGHUP), 0);
              ASSERT_TRUE(wait_until([&] { return started() == 2; }, 15s)) << log();
            }),
            0)
      << "FlowSpec-dropped datagrams got through during the reload\n"
      << rules();
  EXPECT_EQ(udp_delivered(*lab, kLocalB, 5, false, 9, 300ms), 0) << "the file's new rule is not in force";
  EXPECT_EQ(udp_delivered(*lab, kLocalA, 5, false, 9, 300ms), 5) << "the file's old rule is still in force";
  // `xdpguard apply` of the same file, and of one without the local rule.
  write_conf(kLocalA);
  EXPECT_EQ(none_through_while([&] {
              auto r = xg_srv(*lab, {"apply", "--config", conf});
              EXPECT_EQ(r.code, 0) << r.err;
            }),
            0)
      << rules();
  auto diff = xg_srv(*lab, {"apply", "--config", conf, "--diff"});
  EXPECT_NE(diff.out.find("unchanged"), std::string::npos) << "apply --diff would remove the FlowSpec rules\n"
                                                           << diff.out;
  // A local rule may not pretend to be a route's.
  std::ofstream(dir + "/bad.toml") << fmt::format(
      "[interfaces.{}]\nrules = [\"pass udp comment \\\"flowspec mine\\\"\"]\n", lab->server().veth);
  ::chmod((dir + "/bad.toml").c_str(), 0600);
  auto bad = xg_srv(*lab, {"apply", "--config", dir + "/bad.toml"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("marks the FlowSpec consumer's rules"), std::string::npos) << bad.err;

  // The service stops: the routes' rules stay (fail-static).
  service->stop(SIGTERM);
  EXPECT_TRUE(dropped()) << rules();
  (void)xg_srv(*lab, {"detach", lab->server().veth});
}

// ExaBGP's JSON as a file on stdin: bad lines are named and skipped, routes
// that cannot be expressed are not installed (never a broader rule), 2,000
// flaps of one route are batched into a few installs, and at the end of
// input the rules stay in force.
TEST(FlowspecInputTest, BadLinesAreNamedFlapsBatchedAndTheRulesStay) {
  if (auto why = privileged_unavailable()) GTEST_SKIP() << *why;
  auto lab = Lab::create({.ipv6 = false, .prefix = "xb21"});
  ASSERT_TRUE(lab) << lab.error().message();
  auto a = xg_srv(*lab, {"attach", lab->server().veth});
  ASSERT_EQ(a.code, 0) << a.err;
  const std::string dir = fmt::format("/tmp/xb21{}-input", ::getpid());
  std::filesystem::create_directories(dir);
  auto update = [](const std::string& what, const std::string& route, std::uint64_t community) {
    std::string attr =
        community
            ? fmt::format(R"("attribute": {{ "extended-community": [ {{ "value": {} }} ] }}, )", community)
            : std::string();
    std::string body =
        what == "announce"
            ? fmt::format(R"("announce": {{ "ipv4 flow": {{ "no-nexthop": [ {} ] }} }})", route)
            : fmt::format(R"("withdraw": {{ "ipv4 flow": [ {} ] }})", route);
    return fmt::format(
        R"({{ "exabgp": "4.0.1", "type": "update", "neighbor": {{ "address": {{ "local": "198.19.1.2", "peer": "198.19.1.1" }}, "direction": "receive", "message": {{ "update": {{ {}{} }} }} }} }})",
        attr, body);
  };
  constexpr std::uint64_t kDiscard = 0x8006000000000000ull;
  const std::string drop_route = fmt::format(
      R"({{ "destination-ipv4": [ "198.18.0.2/32" ], "protocol": [ "=udp" ], "destination-port": [ "={}" ] }})",
      kFsPort);
  const std::string flap_route = R"({ "destination-ipv4": [ "198.51.100.9/32" ] })";
  {
    std::ofstream f(dir + "/in.jsonl");
    f << "this is not json\n";
    f << update("announce", R"({ "destination-ipv4": [ "198.18.0.2/32" ], "colour": [ "=1" ] })", kDiscard)
      << "\n";
    f << update("announce", R"({ "destination-ipv4": [ "198.18.0.0/40" ] })", kDiscard) << "\n";
    f << update("announce", R"({ "destination-ipv4": [ "198.18.0.2/32" ], "packet-length": [ ">70000" ] })",
                kDiscard)
      << "\n";
    // Not expressible: ports of SCTP (xdpguard reads TCP's and UDP's only).
    f << update(
             "announce",
             R"({ "destination-ipv4": [ "198.18.0.0/24" ], "protocol": [ "=sctp" ], "destination-port": [ "=9" ] })",
             kDiscard)
      << "\n";
    f << update("announce", drop_route, kDiscard) << "\n";
    for (int i = 0; i < 1000; ++i) {
      f << update("announce", flap_route, kDiscard) << "\n";
      f << update("withdraw", flap_route, 0) << "\n";
    }
    f << update("announce", flap_route, kDiscard) << "\n";
  }
  auto r = run_process({"sh", "-c",
                        fmt::format("{} -n {} flowspec {} --exabgp --state {}/state.json < {}/in.jsonl",
                                    XDPGUARD_BIN, lab->server().netns, lab->server().veth, dir, dir)},
                       60s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0) << r->err;
  for (const char* said :
       {"not a JSON object: \"this is not json\"", "unknown component \"colour\"",
        "\"198.18.0.0/40\" is not an IPv4 prefix", "packet-length: value 70000 is over 65535",
        "ports of protocol 132: xdpguard reads only tcp and udp ports"})
    EXPECT_NE(r->err.find(said), std::string::npos) << said << "\n" << r->err;
  auto s = nlohmann::json::parse(slurp(dir + "/state.json"), nullptr, false);
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["stats"]["installed"], 2) << s.dump();
  EXPECT_EQ(s["stats"]["refused"], 1) << s.dump();
  EXPECT_LE(s["stats"]["installs"].get<int>(), 5) << "2,000 flaps were not batched";
  auto list = xg_srv(*lab, {"rule", "list", lab->server().veth});
  EXPECT_NE(list.out.find("drop udp daddr 198.18.0.2 dport 7100 comment"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("drop daddr 198.51.100.9 comment"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("198.18.0.0/24"), std::string::npos)
      << "a route that cannot be expressed was installed";
  // Enforced after the consumer ended.
  EXPECT_EQ(udp_delivered(*lab, kFsPort, 10, false, 9, 300ms), 0);
  EXPECT_EQ(udp_delivered(*lab, kFsControl, 10, false, 9, 300ms), 10);
  (void)xg_srv(*lab, {"detach", lab->server().veth});
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xdpguard::test
