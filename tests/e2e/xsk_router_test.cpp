// examples/xsk_router (README, "Route selected flows in user space"): the
// flows a `redirect xsk` rule sends to AF_XDP, routed by the example's own
// table out of two more veths to two more namespaces. Judged by what the far
// hosts' kernels accepted (real UDP sockets: the kernel checks the checksums;
// IP_RECVTTL / IPV6_RECVHOPLIMIT show the hop taken), and by the router's
// counters for what it dropped.
#include <netinet/ip.h>
#include <signal.h>

#include <fmt/format.h>

#include <map>

#include "e2e/e2e_support.h"

namespace xdpguard::test {
namespace router_e2e {

using namespace std::chrono_literals;

// `ip netns exec NETNS xsk_router ARGS` in the background, stdout and stderr in files.
struct Router {
  BackgroundProcess proc;
  std::string out, err;
  // Its exit code once it ends by itself (SIGKILLed after `timeout`).
  int wait(std::chrono::milliseconds timeout) { return proc.stop(0, timeout); }
};

Router start_router(const std::string& netns, const std::vector<std::string>& args, const std::string& base) {
  Router r;
  r.out = base + ".out";
  r.err = base + ".err";
  std::vector<std::string> argv = {
      "sh", "-c", "exec \"$0\" \"$@\" 2>" + r.err, "ip", "netns", "exec", netns, XSK_ROUTER_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  auto p = BackgroundProcess::start(argv, r.out);
  EXPECT_TRUE(p) << p.error().message();
  if (p) r.proc = std::move(*p);
  // Ready once its sockets are bound and in the map: it says so.
  EXPECT_TRUE(wait_until([&] { return slurp(r.err).find("Ctrl-C stops") != std::string::npos; }, 30s))
      << "the router did not start: " << slurp(r.err);
  return r;
}

// The payloads "<tag> 0000" .. "<tag> <n-1>", each once.
std::map<std::string, int> each_once(const std::string& tag, int n) {
  std::map<std::string, int> m;
  for (int i = 0; i < n; ++i) m[fmt::format("{} {:04}", tag, i)] = 1;
  return m;
}

class XskRouterTest : public GuardedLabTest {
 protected:
  void TearDown() override {
    GuardedLabTest::TearDown();
    for (const auto& f : files_) std::filesystem::remove(f);
  }
  std::string temp(const std::string& what) {
    files_.push_back("/tmp/" + lab_->prefix() + "-" + what);
    return files_.back();
  }
  void sh(const std::string& cmd) {
    auto r = run_process({"sh", "-c", cmd}, 30s);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->exit_code, 0) << cmd << ": " << r->err;
  }
  std::string mac_of(const std::string& netns, const std::string& dev) {
    auto r = run_process({"ip", "-j", "-n", netns, "link", "show", dev}, 30s);
    EXPECT_TRUE(r && r->exit_code == 0) << (r ? r->err : r.error().message());
    return r ? nlohmann::json::parse(r->out)[0]["address"].get<std::string>() : "";
  }
  std::string write_table(const std::string& text) {
    const std::string path = temp("routes");
    std::ofstream(path) << text;
    return path;
  }
  void add_rule(const std::string& text) {
    auto r = xg_srv(*lab_, {"rule", "add", lab_->server().veth, text});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  CliRun router_cli(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"netns", "exec", lab_->server().netns, XSK_ROUTER_BIN};
    all.insert(all.end(), args.begin(), args.end());
    return run_cli("ip", all);
  }
  std::vector<std::string> files_;
};

// Namespaces of this test beside the lab's, deleted however the test ends.
struct ExtraNetns {
  std::vector<std::string> names;
  ExtraNetns() = default;
  ExtraNetns(const ExtraNetns&) = delete;
  ExtraNetns& operator=(const ExtraNetns&) = delete;
  ~ExtraNetns() {
    for (const auto& n : names) (void)run_process({"ip", "netns", "del", n}, std::chrono::seconds(10));
  }
};

TEST_F(XskRouterTest, EachPrefixReachesItsHostOnceWithOneHopTakenAndUnroutedFlowsReachNoOne) {
  const Lab& lab = *lab_;
  const std::string& srv = lab.server().netns;
  // Two hosts behind two more veths of the server: "far" (198.18.1.0/24,
  // fd00:1::/64) and "far2" (198.18.3.0/24).
  const std::string far = lab.prefix() + "far", far2 = lab.prefix() + "far2";
  const std::string out1 = lab.prefix() + "o", in1 = lab.prefix() + "fi";
  const std::string out2 = lab.prefix() + "p", in2 = lab.prefix() + "gi";
  ExtraNetns extra;
  extra.names = {far, far2};
  sh(fmt::format(
      "ip netns add {far} && ip netns add {far2} && "
      "ip link add {out1} netns {srv} type veth peer name {in1} netns {far} && "
      "ip link add {out2} netns {srv} type veth peer name {in2} netns {far2} && "
      "ip -n {srv} addr add 198.18.1.1/24 dev {out1} && ip -n {srv} addr add fd00:1::1/64 dev {out1} nodad "
      "&& "
      "ip -n {far} addr add 198.18.1.2/24 dev {in1} && ip -n {far} addr add fd00:1::2/64 dev {in1} nodad && "
      "ip -n {srv} addr add 198.18.3.1/24 dev {out2} && ip -n {far2} addr add 198.18.3.2/24 dev {in2} && "
      "ip -n {srv} link set {out1} up && ip -n {srv} link set {out2} up && "
      "ip -n {far} link set {in1} up && ip -n {far2} link set {in2} up && "
      "ip -n {far} route add 198.18.0.0/24 via 198.18.1.1 && ip -n {far} route add fd00::/64 via fd00:1::1 "
      "&& "
      "ip -n {far2} route add 198.18.0.0/24 via 198.18.3.1",
      fmt::arg("far", far), fmt::arg("far2", far2), fmt::arg("srv", srv), fmt::arg("out1", out1),
      fmt::arg("in1", in1), fmt::arg("out2", out2), fmt::arg("in2", in2)));
  // The client sends all of it to the server; 198.18.5.0/24 has no route in
  // the router's table, and its one address is the server's own: a frame
  // given back to the kernel would show there.
  sh(fmt::format(
      "ip -n {cli} route add 198.18.1.0/24 via {s4} && ip -n {cli} route add 198.18.3.0/24 via {s4} && "
      "ip -n {cli} route add 198.18.5.0/24 via {s4} && ip -n {cli} route add fd00:1::/64 via {s6} && "
      "ip -n {srv} addr add 198.18.5.1/32 dev lo",
      fmt::arg("cli", lab.client().netns), fmt::arg("srv", srv), fmt::arg("s4", lab.server().ip4),
      fmt::arg("s6", lab.server().ip6)));
  // A veth sender leaves UDP checksums to an offload that never comes
  // (CHECKSUM_PARTIAL), IPv4 and IPv6 alike: frames a NIC receives carry
  // full ones, as here.
  sh(fmt::format("ip netns exec {} ethtool -K {} tx off >/dev/null", lab.client().netns, lab.client().veth));
  if (HasFatalFailure()) return;
  const std::string mac1 = mac_of(far, in1), mac2 = mac_of(far2, in2);
  const std::string table =
      write_table(fmt::format("# the far hosts\n"
                              "198.18.1.0/24 {0} {1}\n"
                              "198.18.3.0/24 {2} {3}\n"
                              "\n"
                              "fd00:1::/64   {0} {1}   # far, IPv6\n",
                              out1, mac1, out2, mac2));
  add_rule("redirect xsk udp dport 9000");

  HopCountingSocket rx1(far, "198.18.1.2", false), rx2(far2, "198.18.3.2", false),
      rx6(far, "fd00:1::2", true);
  HopCountingSocket local(srv, "198.18.5.1", false);
  constexpr int kN = 100, kUnrouted = 50;
  constexpr int kTotal = 3 * kN + kUnrouted;
  auto router = start_router(
      srv,
      {lab.server().veth, "--table", table, "--count", std::to_string(kTotal), "--duration", "60", "--json"},
      temp("router"));
  files_.push_back(router.out);
  files_.push_back(router.err);
  ASSERT_TRUE(run_in_netns(lab.client().netns, [&] {
    UniqueFd tx4(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    UniqueFd tx6(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    const auto to1 = sockaddr4("198.18.1.2", 9000), to3 = sockaddr4("198.18.3.2", 9000),
               to5 = sockaddr4("198.18.5.1", 9000);
    const auto to6 = sockaddr6("fd00:1::2", 9000);
    auto send = [](int fd, const std::string& msg, const auto& to) {
      ASSERT_EQ(::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to),
                static_cast<ssize_t>(msg.size()))
          << std::strerror(errno);
    };
    for (int i = 0; i < kN; ++i) {
      send(tx4.get(), fmt::format("a {:04}", i), to1);
      send(tx4.get(), fmt::format("b {:04}", i), to3);
      send(tx6.get(), fmt::format("d {:04}", i), to6);
      if (i < kUnrouted) send(tx4.get(), fmt::format("c {:04}", i), to5);
      if (i % 20 == 19) std::this_thread::sleep_for(5ms);
    }
  }));
  const int code = router.wait(70s);
  ASSERT_EQ(code, 0) << slurp(router.err);
  const auto j = nlohmann::json::parse(slurp(router.out));
  EXPECT_EQ(j["received"], kTotal) << j.dump();
  EXPECT_EQ(j["routed"], 3 * kN) << j.dump();
  EXPECT_EQ(j["no_route"], kUnrouted) << j.dump();
  EXPECT_EQ(j["ttl_expired"], 0) << j.dump();
  EXPECT_EQ(j["not_ip"], 0) << j.dump();
  EXPECT_EQ(j["tx_ring_full"], 0) << j.dump();
  ASSERT_EQ(j["routes"].size(), 3u) << j.dump();
  for (const auto& r : j["routes"]) EXPECT_EQ(r["routed"], kN) << j.dump();
  EXPECT_EQ(j["routes"][2]["prefix"], "fd00:1::/64");
  EXPECT_EQ(j["routes"][1]["next_hop"], mac2);

  // Each far host's kernel accepted exactly its prefix's datagrams, each
  // once, with TTL / hop limit 63: the client's 64, less the one hop.
  EXPECT_TRUE(wait_until([&] { return rx1.drain() >= kN && rx2.drain() >= kN && rx6.drain() >= kN; }, 10s));
  std::this_thread::sleep_for(300ms);  // what would come twice, or late
  rx1.drain(), rx2.drain(), rx6.drain(), local.drain();
  EXPECT_EQ(rx1.got, each_once("a", kN));
  EXPECT_EQ(rx2.got, each_once("b", kN));
  EXPECT_EQ(rx6.got, each_once("d", kN));
  EXPECT_EQ(rx1.hops, (std::map<int, int>{{63, kN}}));
  EXPECT_EQ(rx2.hops, (std::map<int, int>{{63, kN}}));
  EXPECT_EQ(rx6.hops, (std::map<int, int>{{63, kN}}));
  EXPECT_TRUE(local.got.empty()) << "an unrouted datagram reached the server's kernel";
  EXPECT_EQ(stats_json(lab)["xsk"]["redirected"]["packets"], kTotal);
}

TEST_F(XskRouterTest, SigtermTakesTheSocketsOutAndPrintsTheCounters) {
  const Lab& lab = *lab_;
  add_rule("redirect xsk udp dport 9000");
  // Its one route goes back out of the interface it reads (queue 0's socket
  // sends); the server's own address has no route.
  const std::string table =
      write_table(fmt::format("198.18.9.0/24 {} {}\n", lab.server().veth, lab.client().mac));
  auto router = start_router(lab.server().netns, {lab.server().veth, "--table", table, "--duration", "60"},
                             temp("router"));
  files_.push_back(router.out);
  files_.push_back(router.err);
  EXPECT_EQ(udp_delivered(lab, 9000, 20), 0);
  const int code = router.proc.stop(SIGTERM, 20s);
  ASSERT_EQ(code, 0) << slurp(router.err);
  const std::string out = slurp(router.out);
  EXPECT_NE(out.find("20 frames received, 0 routed; dropped: 20 no route"), std::string::npos) << out;
  EXPECT_NE(out.find("198.18.9.0/24"), std::string::npos) << out;
  // Gone, and its sockets with it: the rule's fallback (pass) is in force.
  EXPECT_EQ(udp_delivered(lab, 9000, 20), 20);
}

TEST_F(XskRouterTest, ErrorsAreOneLineNamingWhatIsWrong) {
  const Lab& lab = *lab_;
  const std::string& veth = lab.server().veth;
  auto one_line = [](const CliRun& r, const std::string& want) {
    EXPECT_EQ(r.code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  add_rule("redirect xsk udp dport 9000");
  const std::string bad =
      write_table("# routes\n198.18.1.0/24 eth0 02:00:00:00:00:02\n198.18.1.0/33 eth0 x\n");
  one_line(router_cli({veth, "--table", bad}), bad + ": line 3: \"198.18.1.0/33\": prefix length over 32");
  one_line(router_cli({veth, "--table", "/nonexistent/routes"}), "/nonexistent/routes: No such file");
  const std::string nosuch = write_table("198.18.1.0/24 nosuch0 02:00:00:00:00:02\n");
  one_line(router_cli({veth, "--table", nosuch}), "out interface nosuch0");
  // Nothing was left in the map by the refused start: the fallback passes.
  EXPECT_EQ(udp_delivered(lab, 9000, 10), 10);
  auto usage = router_cli({veth});
  EXPECT_EQ(usage.code, 2);
  EXPECT_NE(usage.err.find("usage: xsk_router IN_IFACE --table FILE"), std::string::npos) << usage.err;

  const std::string ok = write_table(fmt::format("198.18.1.0/24 {} 02:00:00:00:00:02\n", veth));
  ASSERT_EQ(xg_srv(lab, {"detach", veth}).code, 0);
  one_line(router_cli({veth, "--table", ok}), "no xdpguard attached (run: xdpguard attach " + veth + ")");
}

}  // namespace router_e2e
}  // namespace xdpguard::test
