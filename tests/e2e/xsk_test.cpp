// AF_XDP custom routing (README, "Route selected flows in user space"):
// `redirect xsk` rules hand frames to `xdpguard xsk`, the ready consumer.
// Judged by what arrived where: the consumer's pcap against the frames scapy
// sent (byte for byte), the kernel's sockets for everything else, a socket
// in a third namespace for forwarded frames (the kernel checks their
// checksums; IP_RECVTTL shows the TTL), the kernel's XDP_STATISTICS for its drops.
#include <linux/if_packet.h>
#include <netinet/ip.h>
#include <signal.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include <future>
#include <set>

#include "e2e/e2e_support.h"

namespace xdpguard::test {
// Named (not anonymous): lint checks every e2e file in one unit.
namespace xsk_e2e {

using namespace std::chrono_literals;

constexpr const char* kPython = "/usr/bin/python3";

// Sends frames from the client's veth: `chosen` (to UDP port 9000: IPv4,
// IPv6 behind a hop-by-hop and a destination options header, 802.1Q, and
// 802.1ad + 802.1Q tagged) written to SENT first, then three IPv4
// datagrams to port 9001 the rules leave to the kernel.
constexpr const char* kSendScript = R"PY(
import logging, sys
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import *
iface, src_mac, dst_mac, src4, dst4, src6, dst6, sent = sys.argv[1:9]
eth = Ether(src=src_mac, dst=dst_mac)
chosen = [
    eth / IP(src=src4, dst=dst4) / UDP(sport=40001, dport=9000) / Raw(b"plain ipv4"),
    eth / IPv6(src=src6, dst=dst6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
        UDP(sport=40002, dport=9000) / Raw(b"ipv6 behind two extension headers"),
    Ether(src=src_mac, dst=dst_mac) / Dot1Q(vlan=100) / IP(src=src4, dst=dst4) /
        UDP(sport=40003, dport=9000) / Raw(b"802.1Q"),
    Ether(src=src_mac, dst=dst_mac, type=0x88a8) / Dot1AD(vlan=200) / Dot1Q(vlan=100) /
        IP(src=src4, dst=dst4) / UDP(sport=40004, dport=9000) / Raw(b"QinQ" * 100),
]
chosen = [Ether(bytes(f)) for f in chosen]  # checksums and lengths filled in
wrpcap(sent, chosen)
others = [eth / IP(src=src4, dst=dst4) / UDP(sport=40010 + i, dport=9001) / Raw(b"kernel") for i in range(3)]
sendp(chosen + others, iface=iface, verbose=False)
)PY";

// Whether two pcap files hold the same frames, byte for byte, in order.
constexpr const char* kComparePcaps = R"PY(
import logging, sys
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import rdpcap
a = [bytes(p) for p in rdpcap(sys.argv[1])]
b = [bytes(p) for p in rdpcap(sys.argv[2])]
print("same" if a == b else "differ: %d vs %d frames; %s" % (len(a), len(b),
      [i for i in range(min(len(a), len(b))) if a[i] != b[i]]))
)PY";

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = "/tmp/" + name;
  std::ofstream(path) << text;
  return path;
}

// `xdpguard -n NETNS xsk ARGS` running in the background, its stdout and
// stderr in files.
struct Consumer {
  BackgroundProcess proc;
  std::string out, err;
  // Its result once it ends by itself (SIGKILLed after `timeout`).
  CliRun wait(std::chrono::milliseconds timeout) {
    const int code = proc.stop(0, timeout);
    return {code, slurp(out), slurp(err)};
  }
  static std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

Consumer start_consumer(const std::string& netns, std::vector<std::string> args, const std::string& base) {
  Consumer c;
  c.out = base + ".out";
  c.err = base + ".err";
  std::vector<std::string> argv = {"sh",  "-c", "exec \"$0\" \"$@\" 2>" + c.err, XDPGUARD_BIN, "-n",
                                   netns, "xsk"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto p = BackgroundProcess::start(argv, c.out);
  EXPECT_TRUE(p) << p.error().message();
  if (p) c.proc = std::move(*p);
  // Ready once its sockets are bound and in the map: it says so.
  EXPECT_TRUE(
      wait_until([&] { return Consumer::slurp(c.err).find("Ctrl-C stops") != std::string::npos; }, 30s))
      << "the consumer did not start: " << Consumer::slurp(c.err);
  return c;
}

class XskTest : public GuardedLabTest {
 protected:
  void TearDown() override {
    GuardedLabTest::TearDown();
    for (const auto& f : files_) {
      std::filesystem::remove(f);
      std::filesystem::remove(f + ".out");
      std::filesystem::remove(f + ".err");
    }
  }
  std::string temp(const std::string& what) {
    files_.push_back("/tmp/" + lab_->prefix() + "-" + what);
    return files_.back();
  }
  void add_rule(const std::string& text) {
    auto r = xg_srv(*lab_, {"rule", "add", lab_->server().veth, text});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  // `xdpguard xsk` on the server's veth in the background; returns once its
  // sockets are in the map (it says so on stderr).
  Consumer start(std::vector<std::string> args) {
    return start_consumer(lab_->server().netns, args, temp("xsk"));
  }
  nlohmann::json xsk_counters() { return stats_json(*lab_)["xsk"]; }
  // `status --json`'s AF_XDP sockets under the server's veth.
  nlohmann::json status_sockets() {
    auto r = xg_srv(*lab_, {"status", "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    for (const auto& i : j["interfaces"])
      if (i["interface"] == lab_->server().veth) return i["xsk_sockets"];
    ADD_FAILURE() << "status does not list " << lab_->server().veth << ": " << r.out;
    return nlohmann::json();
  }
  std::vector<std::string> files_;
};

TEST_F(XskTest, ChosenFramesArriveOnceByteIdenticalAndTheOthersReachTheKernel) {
  const Lab& lab = *lab_;
  add_rule("redirect xsk udp dport 9000");
  const std::string got = temp("got.pcap"), sent = temp("sent.pcap");
  // The kernel's socket for what the rules leave alone (port 9001).
  UniqueFd kernel;
  ASSERT_TRUE(run_in_netns(lab.server().netns, [&] {
    kernel.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    auto a = sockaddr4(lab.server().ip4, 9001);
    ASSERT_EQ(::bind(kernel.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }));
  auto xsk = start({lab.server().veth, "-w", got, "--count", "4", "--duration", "30", "--json"});
  const std::string script = write_temp(lab.prefix() + "-send.py", kSendScript);
  files_.push_back(script);
  auto r = lab.exec(lab.client(),
                    {kPython, script, lab.client().veth, lab.client().mac, lab.server().mac, lab.client().ip4,
                     lab.server().ip4, lab.client().ip6, lab.server().ip6, sent},
                    60s);
  ASSERT_TRUE(r) << r.error().message();
  CliRun c = xsk.wait(40s);
  ASSERT_EQ(c.code, 0) << c.err;
  auto j = nlohmann::json::parse(c.out);
  EXPECT_EQ(j["received"], 4) << c.out;
  EXPECT_EQ(j["written"], 4) << c.out;
  EXPECT_EQ(j["mode"], "copy") << "veth has no zero-copy";

  // Byte for byte what was sent, in order, once each (scapy reads both).
  const std::string cmp = write_temp(lab.prefix() + "-cmp.py", kComparePcaps);
  files_.push_back(cmp);
  auto same = run_process({kPython, cmp, sent, got}, 60s);
  ASSERT_TRUE(same) << same.error().message();
  EXPECT_EQ(same->out, "same\n") << same->err;

  // The rest went to the kernel: its socket has all three.
  int n = 0;
  char buf[64];
  ASSERT_TRUE(wait_until(
      [&] {
        while (::recv(kernel.get(), buf, sizeof buf, 0) > 0) ++n;
        return n >= 3;
      },
      10s));
  std::this_thread::sleep_for(200ms);
  while (::recv(kernel.get(), buf, sizeof buf, 0) > 0) ++n;
  EXPECT_EQ(n, 3);
  // The consumer is gone: its sockets left the map with it.
  EXPECT_EQ(udp_delivered(lab, 9000, 20), 20) << "the fallback (pass) is in force again";
  auto x = xsk_counters();
  EXPECT_EQ(x["redirected"]["packets"], 4) << x.dump();
  EXPECT_GE(x["fallback_no_socket"]["packets"], 20) << x.dump();
}

TEST_F(XskTest, AConsumerKilledUnderTrafficLeavesTheFallbackFromTheNextPacket) {
  const Lab& lab = *lab_;
  add_rule("redirect xsk udp dport 9000");
  auto xsk = start({lab.server().veth, "--duration", "120"});
  // While it runs, the kernel's socket gets nothing of port 9000.
  EXPECT_EQ(udp_delivered(lab, 9000, 100), 0);
  EXPECT_EQ(xsk_counters()["redirected"]["packets"], 100);

  // kill -9 under traffic: datagrams go on while the consumer dies.
  TwoPortTraffic traffic(lab, 9000, 9002);
  ASSERT_TRUE(wait_until([&] { return traffic.sent_drop >= 200; }, 30s));
  const std::uint64_t received_before = traffic.got_drop;
  EXPECT_EQ(xsk.proc.stop(SIGKILL), 128 + SIGKILL);
  const std::uint64_t sent_at_kill = traffic.sent_drop;
  ASSERT_TRUE(wait_until([&] { return traffic.sent_drop >= sent_at_kill + 400; }, 30s));
  traffic.stop();
  // Every datagram after the socket closed reached the kernel: the map entry
  // went with the socket, nothing is black-holed.
  auto x = xsk_counters();
  const std::uint64_t fell_back = x["fallback_no_socket"]["packets"];
  const std::uint64_t redirected = x["redirected"]["packets"];
  EXPECT_EQ(received_before, 0u) << "before the kill, port 9000 went to the consumer";
  EXPECT_EQ(traffic.got_drop, fell_back) << x.dump();
  EXPECT_EQ(redirected - 100 + fell_back, traffic.sent_drop) << x.dump();
  EXPECT_GE(fell_back, 400u) << x.dump();  // every one sent after the kill, at least
  EXPECT_EQ(traffic.got_pass, traffic.sent_pass);
  EXPECT_TRUE(status_sockets().empty()) << "no process holds the killed consumer's socket";
  // Its record (the socket's inode, for `status`) stays until the interface
  // is detached, then goes with the pins.
  struct stat ns{};
  ASSERT_EQ(::stat(("/run/netns/" + lab.server().netns).c_str(), &ns), 0);
  const auto s = nlohmann::json::parse(xg_srv(lab, {"status", "--json"}).out);
  ASSERT_EQ(s["interfaces"].size(), 1u) << s.dump();
  const std::string record =
      fmt::format("/run/xdpguard/ns{}-{}-q0.xsk", ns.st_ino, s["interfaces"][0]["ifindex"].get<int>());
  EXPECT_TRUE(std::filesystem::exists(record)) << record;
  ASSERT_EQ(xg_srv(lab, {"detach", lab.server().veth}).code, 0);
  EXPECT_FALSE(std::filesystem::exists(record)) << record;
}

// THREATS.md's flooding sender against a redirected flow: spoofed sources
// at a high rate while the consumer stalls (SIGSTOP: its RX ring fills).
// The flood never reaches the host's stack (its socket on the port gets
// nothing), a real TCP transfer through the same queue completes, and
// every redirected frame is either read by the consumer or counted by the
// kernel as dropped for lack of room.
TEST_F(XskTest, AFloodOnTheRedirectedFlowWhileTheConsumerStallsNeitherReachesTheHostNorStopsOtherTraffic) {
  const Lab& lab = *lab_;
  add_rule("redirect xsk udp dport 9000");
  UniqueFd kernel;
  ASSERT_TRUE(run_in_netns(lab.server().netns, [&] {
    kernel.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    auto a = sockaddr4(lab.server().ip4, 9000);
    ASSERT_EQ(::bind(kernel.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }));
  EchoServer echo(lab, 9100);
  auto xsk = start({lab.server().veth, "--json", "--duration", "120"});
  ASSERT_EQ(::kill(xsk.proc.pid(), SIGSTOP), 0);

  const std::string gen_out = temp("gen.json");
  auto gen =
      BackgroundProcess::start({XDPGUARD_BIN, "-n", lab.client().netns, "gen", lab.client().veth, "--dst",
                                lab.server().ip4, "--src", "198.18.128.0/17", "--sport", "1024-65535",
                                "--dport", "9000", "--rate", "200000", "--duration", "3", "--json"},
                               gen_out);
  ASSERT_TRUE(gen) << gen.error().message();
  ASSERT_TRUE(
      wait_until([&] { return xsk_counters()["redirected"]["packets"].get<std::uint64_t>() > 10'000; }, 20s))
      << "the flood did not start: " << xsk_counters().dump();
  // Real TCP transfers through the flood, for as long as it lasts.
  constexpr std::size_t kBytes = 256 << 10;
  int transfers = 0;
  while (gen->running() && transfers < 50) {
    ASSERT_EQ(tcp_echo(lab, 9100, kBytes), kBytes) << "transfer " << transfers << " during the flood";
    ++transfers;
  }
  EXPECT_GT(transfers, 0) << "the flood ended before a transfer started";
  ASSERT_TRUE(wait_until([&] { return !gen->running(); }, 30s));

  ::kill(xsk.proc.pid(), SIGCONT);
  const int code = xsk.proc.stop(SIGINT, 20s);
  ASSERT_EQ(code, 0) << Consumer::slurp(xsk.err);
  auto j = nlohmann::json::parse(Consumer::slurp(xsk.out));
  char buf[64];
  int leaked = 0;
  while (::recv(kernel.get(), buf, sizeof buf, 0) > 0) ++leaked;
  EXPECT_EQ(leaked, 0) << "flood datagrams reached the host's socket while the consumer held the queue";

  const std::uint64_t redirected = xsk_counters()["redirected"]["packets"];
  ASSERT_EQ(j["queues"].size(), 1u) << j.dump();
  const auto& k = j["queues"][0]["kernel"];
  const std::uint64_t full = k["rx_ring_full"], dropped = k["rx_dropped"], received = j["received"];
  EXPECT_GT(full + dropped, 0u) << "a stalled consumer's ring did not fill: " << j.dump();
  EXPECT_EQ(received + full + dropped, redirected) << j.dump();
}

TEST_F(XskTest, WithFallbackDropAQueueWithoutConsumerDrops) {
  add_rule("redirect xsk fallback drop udp dport 9000");
  EXPECT_EQ(udp_delivered(*lab_, 9000, 20), 0);
  EXPECT_EQ(xsk_counters()["fallback_no_socket"]["packets"], 20);
  EXPECT_EQ(udp_delivered(*lab_, 9001, 20), 20);
}

TEST_F(XskTest, CtrlCTakesTheSocketsOutAndPrintsTheStatistics) {
  const Lab& lab = *lab_;
  add_rule("redirect xsk udp dport 9000");
  auto xsk = start({lab.server().veth, "--json"});
  EXPECT_EQ(udp_delivered(lab, 9000, 50), 0);
  // `status` shows the consumer's socket under the interface: its queue,
  // mode (the kernel's XDP_OPTIONS) and process.
  auto sockets = status_sockets();
  ASSERT_EQ(sockets.size(), 1u) << sockets.dump();
  EXPECT_EQ(sockets[0]["queue"], 0);
  EXPECT_EQ(sockets[0]["mode"], "copy");
  ASSERT_EQ(sockets[0]["processes"].size(), 1u) << sockets.dump();
  EXPECT_EQ(sockets[0]["processes"][0]["pid"], xsk.proc.pid());
  EXPECT_EQ(sockets[0]["processes"][0]["command"], "xdpguard");
  auto table = xg_srv(lab, {"status"});
  EXPECT_NE(table.out.find(fmt::format("  AF_XDP queue 0: copy mode, pid {} (xdpguard)", xsk.proc.pid())),
            std::string::npos)
      << table.out;
  const int code = xsk.proc.stop(SIGINT, 20s);
  ASSERT_EQ(code, 0) << Consumer::slurp(xsk.err);
  CliRun c{code, Consumer::slurp(xsk.out), Consumer::slurp(xsk.err)};
  auto j = nlohmann::json::parse(c.out);
  EXPECT_EQ(j["received"], 50) << c.out;
  ASSERT_EQ(j["queues"].size(), 1u) << c.out;
  EXPECT_EQ(j["queues"][0]["kernel"]["rx_ring_full"], 0) << c.out;
  EXPECT_EQ(udp_delivered(lab, 9000, 20), 20);
  EXPECT_TRUE(status_sockets().empty()) << "the socket is gone with the consumer";
}

TEST_F(XskTest, ForwardSendsFramesOutAnotherInterfaceWithTtlDecrementedAndValidChecksums) {
  const Lab& lab = *lab_;
  // A third host, "far", behind a second veth of the server.
  const std::string far = lab.prefix() + "far", out = lab.prefix() + "o", in = lab.prefix() + "i";
  auto sh = [&](const std::string& cmd) {
    auto r = run_process({"sh", "-c", cmd}, 30s);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->exit_code, 0) << cmd << ": " << r->err;
  };
  struct Cleanup {
    std::string ns;
    ~Cleanup() { (void)run_process({"ip", "netns", "del", ns}, std::chrono::seconds(10)); }
  } cleanup{far};
  sh(
      fmt::format("ip netns add {0} && ip link add {1} netns {2} type veth peer name {3} netns {0} && "
                  "ip -n {2} addr add 198.18.1.1/24 dev {1} && ip -n {0} addr add 198.18.1.2/24 dev {3} && "
                  "ip -n {2} link set {1} up && ip -n {0} link set {3} up && ip -n {0} link set lo up && "
                  "ip -n {0} route add 198.18.0.0/24 via 198.18.1.1 && "
                  "ip -n {4} route add 198.18.1.0/24 via {5}",
                  far, out, lab.server().netns, in, lab.client().netns, lab.server().ip4));
  // A veth sender leaves UDP checksums to an offload that never comes
  // (CHECKSUM_PARTIAL): frames a NIC receives carry full ones, as here.
  sh(fmt::format("ip netns exec {} ethtool -K {} tx off >/dev/null", lab.client().netns, lab.client().veth));
  // The next hop's MAC from the server's neighbour table (resolved by a ping).
  sh(fmt::format("ip netns exec {} ping -c 1 -W 2 198.18.1.2 >/dev/null", lab.server().netns));
  add_rule("redirect xsk udp dport 9000");

  HopCountingSocket rx(far, "198.18.1.2", false);
  constexpr int kN = 200;
  auto xsk = start(
      {lab.server().veth, "--forward", out, "--count", std::to_string(kN), "--duration", "60", "--json"});
  ASSERT_TRUE(run_in_netns(lab.client().netns, [&] {
    UniqueFd tx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto to = sockaddr4("198.18.1.2", 9000);
    for (int i = 0; i < kN; ++i) {
      const std::string msg = fmt::format("datagram {:04}", i);
      ASSERT_EQ(::sendto(tx.get(), msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
                static_cast<ssize_t>(msg.size()));
      if (i % 50 == 49) std::this_thread::sleep_for(5ms);
    }
  }));
  CliRun c = xsk.wait(70s);
  ASSERT_EQ(c.code, 0) << c.err;
  auto j = nlohmann::json::parse(c.out);
  EXPECT_EQ(j["forwarded"], kN) << c.out;

  // The far host's kernel accepted each one (it checks the IP and UDP
  // checksums), with TTL 63: the client's 64, less the one hop.
  EXPECT_TRUE(wait_until([&] { return rx.drain() >= kN; }, 10s)) << rx.drain() << " of " << kN << " arrived";
  EXPECT_EQ(rx.got.size(), static_cast<std::size_t>(kN)) << "each datagram";
  for (const auto& [payload, times] : rx.got) EXPECT_EQ(times, 1) << payload;
  EXPECT_EQ(rx.hops, (std::map<int, int>{{63, kN}}));
}

// --reinject: the chosen datagrams pass through user space and reach the
// host's socket all the same (through a TAP standing in for the interface).
TEST_F(XskTest, ReinjectHandsTheFramesBackToTheHostsSockets) {
  const Lab& lab = *lab_;
  add_rule("redirect xsk udp dport 9000");
  auto off = lab.exec(lab.client(), {"ethtool", "-K", lab.client().veth, "tx", "off"});
  ASSERT_TRUE(off) << off.error().message();
  constexpr int kN = 100;
  auto xsk =
      start({lab.server().veth, "--reinject", "--count", std::to_string(kN), "--duration", "60", "--json"});
  UniqueFd rx;
  ASSERT_TRUE(run_in_netns(lab.server().netns, [&] {
    rx.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    auto a = sockaddr4(lab.server().ip4, 9000);
    ASSERT_EQ(::bind(rx.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }));
  ASSERT_TRUE(run_in_netns(lab.client().netns, [&] {
    UniqueFd tx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto to = sockaddr4(lab.server().ip4, 9000);
    for (int i = 0; i < kN; ++i)
      ASSERT_EQ(::sendto(tx.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 1);
  }));
  // (The reinjected path is longer than the kernel's: wait for them.)
  int n = 0;
  char buf[16];
  EXPECT_TRUE(wait_until(
      [&] {
        while (::recv(rx.get(), buf, sizeof buf, 0) > 0) ++n;
        return n >= kN;
      },
      10s))
      << n << " of " << kN;
  CliRun c = xsk.wait(30s);
  ASSERT_EQ(c.code, 0) << c.err;
  auto j = nlohmann::json::parse(c.out);
  EXPECT_EQ(j["received"], kN) << c.out;
  EXPECT_EQ(j["reinjected"], kN) << c.out;
  EXPECT_EQ(xsk_counters()["redirected"]["packets"], kN);
  // The TAP went with the consumer.
  auto links = lab.exec(lab.server(), {"ip", "-o", "link"});
  ASSERT_TRUE(links) << links.error().message();
  EXPECT_EQ(links->find("xgr"), std::string::npos) << *links;
}

TEST_F(XskTest, BadInputAndTakenQueuesAreRefusedInOneLine) {
  const Lab& lab = *lab_;
  const std::string& veth = lab.server().veth;
  add_rule("redirect xsk udp dport 9000");
  auto one_line = [](const CliRun& r, const std::string& want) {
    EXPECT_EQ(r.code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  one_line(xg_srv(lab, {"xsk", veth, "--queue", "7"}), "queue 7 does not exist on " + veth + " (1 RX queue)");
  one_line(xg_srv(lab, {"xsk", lab.client().veth}), "xsk " + lab.client().veth + ": no such interface");
  one_line(xg_srv(lab, {"xsk", veth, "--forward", "nosuch0"}), "--forward");
  one_line(xg_srv(lab, {"xsk", veth, "--dst-mac", "02:00:00:00:00"}), "--dst-mac 02:00:00:00:00");
  one_line(xg_srv(lab, {"xsk", veth, "--mode", "fast"}), "--mode fast");

  // Two consumers on one queue: the second is refused, the first keeps it.
  auto first = start({veth, "--count", "10", "--duration", "60", "--json"});
  one_line(xg_srv(lab, {"xsk", veth}), "queue 0 of " + veth + " already has");
  EXPECT_EQ(udp_delivered(lab, 9000, 10), 0);
  auto f = first.wait(30s);
  ASSERT_EQ(f.code, 0) << f.err;
  EXPECT_EQ(nlohmann::json::parse(f.out)["received"], 10);

  // An MTU larger than a 4096-byte frame can carry: refused at bind.
  auto mtu = lab.exec(lab.server(), {"ip", "link", "set", veth, "mtu", "9000"});
  ASSERT_TRUE(mtu) << mtu.error().message();
  one_line(xg_srv(lab, {"xsk", veth}), "MTU 9000 of " + veth + " is too large for 4096-byte frames");
}

// One socket per RX queue of a 4-queue veth: traffic from many flows spreads
// over the queues, and every frame sent arrives in the consumer.
TEST(XskMultiQueueTest, EveryQueueGetsItsShareAndNothingIsLost) {
  XG_REQUIRE_PRIVILEGES();
  const std::string p = fmt::format("xg{}m", ::getpid());
  const std::string a = p + "a", b = p + "b";
  struct Cleanup {
    std::string a, b;
    ~Cleanup() {
      (void)run_process({"ip", "netns", "del", a}, std::chrono::seconds(10));
      (void)run_process({"ip", "netns", "del", b}, std::chrono::seconds(10));
    }
  } cleanup{a, b};
  auto r = run_process(
      {"sh", "-c",
       fmt::format(
           "ip netns add {0} && ip netns add {1} && ip link add {0}0 netns {0} numtxqueues 4 "
           "numrxqueues 4 type veth peer name {1}0 netns {1} numtxqueues 4 numrxqueues 4 && "
           "ip -n {0} addr add 198.18.2.1/24 dev {0}0 && ip -n {1} addr add 198.18.2.2/24 dev {1}0 && "
           "ip -n {0} link set {0}0 up && ip -n {1} link set {1}0 up",
           a, b)},
      30s);
  ASSERT_TRUE(r && r->exit_code == 0) << (r ? r->err : r.error().message());
  auto xg = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", b});
    return xdpguard_cli(args);
  };
  ASSERT_EQ(xg({"attach", b + "0"}).code, 0);
  ASSERT_EQ(xg({"rule", "add", b + "0", "redirect xsk udp dport 9000"}).code, 0);
  constexpr int kFlows = 64, kPerFlow = 50;
  auto xsk = start_consumer(
      b, {b + "0", "--count", std::to_string(kFlows * kPerFlow), "--duration", "60", "--json"}, "/tmp/" + p);
  ASSERT_TRUE(run_in_netns(a, [&] {
    auto to = sockaddr4("198.18.2.2", 9000);
    std::vector<UniqueFd> socks;
    for (int f = 0; f < kFlows; ++f) socks.emplace_back(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    for (int i = 0; i < kPerFlow; ++i) {
      for (auto& s : socks)
        ASSERT_EQ(::sendto(s.get(), "x", 1, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to), 1);
      std::this_thread::sleep_for(1ms);
    }
  }));
  CliRun c = xsk.wait(70s);
  std::filesystem::remove(xsk.out);
  std::filesystem::remove(xsk.err);
  ASSERT_EQ(c.code, 0) << c.err;
  auto j = nlohmann::json::parse(c.out);
  EXPECT_EQ(j["received"], kFlows * kPerFlow) << c.out;
  ASSERT_EQ(j["queues"].size(), 4u) << c.out;
  for (const auto& q : j["queues"]) {
    EXPECT_GT(q["received"].get<std::uint64_t>(), 0u) << "queue " << q["queue"] << ": " << c.out;
    EXPECT_EQ(q["kernel"]["rx_ring_full"], 0) << c.out;
    EXPECT_EQ(q["kernel"]["rx_dropped"], 0) << c.out;
  }
  (void)xg({"detach", b + "0"});
}

}  // namespace xsk_e2e
}  // namespace xdpguard::test
