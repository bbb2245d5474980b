// `xdpguard gen`: frames sent from the lab's client veth arrive at the server
// in exactly the number asked for, and the server's own kernel — an
// independent checker — accepts every one: UDP datagrams reach a real socket
// (from random sources and ports inside the ranges asked for), SYNs and echo
// requests are answered with no checksum error counted, over IPv4 and IPv6.
// It refuses interfaces that are not a veth, or are down.
#include <poll.h>

#include <map>
#include <set>
#include <sstream>

#include "e2e_support.h"

namespace xdpguard::test {
namespace {

// A counter of the server namespace's /proc/net/snmp ("Udp", "InCsumErrors")
// or /proc/net/snmp6 ("Icmp6InEchos").
std::map<std::string, long> snmp(const Lab& lab) {
  std::map<std::string, long> m;
  auto v4 = lab.exec(lab.server(), {"cat", "/proc/net/snmp"});
  if (v4) {
    std::istringstream in(*v4);
    std::string names, values;
    while (std::getline(in, names) && std::getline(in, values)) {
      std::istringstream n(names), v(values);
      std::string group, name, value;
      n >> group, v >> value;
      group.pop_back();  // "Udp:"
      while (n >> name && v >> value) m[group + "." + name] = std::stol(value);
    }
  }
  auto v6 = lab.exec(lab.server(), {"cat", "/proc/net/snmp6"});
  if (v6) {
    std::istringstream in(*v6);
    std::string name;
    long value;
    while (in >> name >> value) m[name] = value;
  }
  return m;
}

// xdpguard on the server also makes its veth accept the generator's frames
// (a veth takes XDP_TX/redirected frames only with an XDP program on it).
class Gen : public GuardedLabTest {
 protected:
  CliRun gen(std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", lab_->client().netns, "gen", lab_->client().veth});
    return xdpguard_cli(args);
  }
};

TEST_F(Gen, UdpFromRandomSourcesReachesARealSocketExactly) {
  constexpr int kFrames = 3000;
  // Sources from a /26 of the lab subnet without the server's own address
  // (which the kernel would rightly drop as a martian).
  // A UDP socket in the server's namespace, with room for every datagram.
  UniqueFd sock;
  ASSERT_TRUE(run_in_netns(lab_->server().netns, [&] {
    sock = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    int big = 64 << 20;
    ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(9);
    if (sock && ::bind(sock.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) sock.reset();
  }));
  ASSERT_TRUE(sock);
  auto before = snmp(*lab_);
  auto r = gen({"--dst", lab_->server().ip4, "--src", "198.18.0.64/26", "--sport", "2000-2999", "--size",
                "200", "--count", std::to_string(kFrames), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["frames"], kFrames);
  EXPECT_EQ(j["refused"], 0);

  std::set<std::uint32_t> sources;
  std::set<int> ports;
  int got = 0;
  char buf[2048];
  for (;;) {
    pollfd p{sock.get(), POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) break;
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(sock.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) break;
    EXPECT_EQ(n, 200 - 14 - 20 - 8);
    std::uint32_t src = ntohl(from.sin_addr.s_addr);
    EXPECT_EQ(src >> 6, (198u << 24 | 18u << 16 | 64u) >> 6) << "source outside 198.18.0.64/26";
    int port = ntohs(from.sin_port);
    EXPECT_GE(port, 2000);
    EXPECT_LE(port, 2999);
    sources.insert(src);
    ports.insert(port);
    ++got;
  }
  EXPECT_EQ(got, kFrames);
  EXPECT_EQ(sources.size(), 64u);
  EXPECT_GT(ports.size(), 900u);
  auto after = snmp(*lab_);
  EXPECT_EQ(after["Udp.InCsumErrors"], before["Udp.InCsumErrors"]);
  EXPECT_EQ(after["Ip.InHdrErrors"], before["Ip.InHdrErrors"]);
  // xdpguard on the server saw each frame once (plus nothing else IPv4).
  auto s = stats_json(*lab_);
  EXPECT_EQ(s["parse"]["ipv4"]["packets"], kFrames);
}

TEST_F(Gen, SynAndEchoAreAcceptedByTheKernelOnBothFamilies) {
  constexpr int kFrames = 500;
  struct Case {
    std::string proto, dst, src;
    std::string counter;  // rises by one per accepted frame
    std::string size;
    bool syn_options = false;  // --syn-options: a Linux client's 20 bytes of them
  };
  // Random sources from prefixes of the lab subnets without the server's own
  // address; odd frame sizes among them.
  const std::vector<Case> cases = {
      {"syn", lab_->server().ip4, "198.18.0.64/26", "Tcp.InSegs", "60"},
      {"icmp", lab_->server().ip4, "198.18.0.64/26", "Icmp.InEchos", "129"},
      {"syn", lab_->server().ip6, "fd00::40/122", "Tcp.InSegs", "101"},
      {"icmp", lab_->server().ip6, "fd00::40/122", "Icmp6InEchos", "127"},
      {"udp", lab_->server().ip6, "fd00::40/122", "Udp6NoPorts", "333"},
      {"syn", lab_->server().ip4, "198.18.0.64/26", "Tcp.InSegs", "74", true},
      {"syn", lab_->server().ip6, "fd00::40/122", "Tcp.InSegs", "99", true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.proto + (c.syn_options ? " with options" : "") + " to " + c.dst);
    auto before = snmp(*lab_);
    // Paced (20,000 frames/s: 25 ms): at full speed on a loaded 2-core CI
    // machine the peer veth's queue filled and refused some (CI, 094ffa2);
    // what is checked is that the kernel accepts every frame, not the rate.
    std::vector<std::string> args = {"--proto", c.proto,   "--dst",  c.dst,     "--src",
                                     c.src,     "--dport", "7",      "--count", std::to_string(kFrames),
                                     "--size",  c.size,    "--rate", "20000"};
    if (c.syn_options) args.emplace_back("--syn-options");
    auto r = gen(args);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("sent " + std::to_string(kFrames) + " frames"), std::string::npos) << r.out;
    std::map<std::string, long> after;
    for (int i = 0; i < 50; ++i) {  // counted in NAPI, right after the send; allow a moment
      after = snmp(*lab_);
      if (after[c.counter] - before[c.counter] >= kFrames) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(after[c.counter] - before[c.counter], kFrames);
    for (const char* err : {"Tcp.InCsumErrors", "Icmp.InCsumErrors", "Icmp6InCsumErrors", "Udp6InCsumErrors",
                            "Ip.InHdrErrors", "Ip6InHdrErrors"})
      EXPECT_EQ(after[err], before[err]) << err;
  }
}

TEST_F(Gen, RefusesWhatIsNotALabVeth) {
  ASSERT_TRUE(lab_->exec(lab_->client(), {"ip", "link", "add", "xgbr0", "type", "bridge"}));
  ASSERT_TRUE(lab_->exec(lab_->client(), {"ip", "link", "set", "xgbr0", "up"}));
  auto r = xdpguard_cli({"-n", lab_->client().netns, "gen", "xgbr0", "--dst", "198.18.0.2", "--dst-mac",
                         "02:00:00:00:00:02", "--src", "198.18.0.1", "--count", "1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "xdpguard: gen xgbr0: xgbr0 is not a veth (driver \"bridge\"): refusing to flood what may be "
            "a real network; use a lab veth, or --force if you mean it\n");

  ASSERT_TRUE(lab_->exec(lab_->client(), {"ip", "link", "set", lab_->client().veth, "down"}));
  r = gen({"--dst", lab_->server().ip4, "--count", "1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "xdpguard: gen " + lab_->client().veth + ": " + lab_->client().veth + " is down\n");
  ASSERT_TRUE(lab_->exec(lab_->client(), {"ip", "link", "set", lab_->client().veth, "up"}));

  r = gen({"--dst", "198.18.0.77", "--count", "1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "xdpguard: gen " + lab_->client().veth + ": no MAC address known for 198.18.0.77 on " +
                       lab_->client().veth + "; give --dst-mac, or ping it once first\n");
  r = gen({"--dst", lab_->server().ip4, "--sport", "9-1", "--count", "1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "xdpguard: gen " + lab_->client().veth +
                       ": --sport: \"9-1\" is not a port or a range LO-HI (0..65535, LO <= HI)\n");
  r = gen({"--dst", lab_->server().ip4, "--src", "fd00::1", "--count", "1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "xdpguard: gen " + lab_->client().veth + ": --src and --dst are of different families\n");
}

TEST_F(Gen, DurationBoundsTheRunAndProgressIsPrinted) {
  auto r = gen({"--dst", lab_->server().ip4, "--duration", "2", "--src", "198.18.0.64/28"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("gen " + lab_->client().veth + ": "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" Mpps"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("sent "), std::string::npos) << r.out;
  r = gen({"--dst", lab_->server().ip4, "--duration", "1.5", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GE(j["seconds"].get<double>(), 1.5);
  EXPECT_LT(j["seconds"].get<double>(), 10.0) << "the 10 s default, not --duration";
  EXPECT_GT(j["frames"].get<std::uint64_t>(), 0u);
}

// --rate paces the frames in the kernel: never faster than asked (bursts of a
// few ms' worth at most, after the generator was held up), and the count is
// still exact.
TEST_F(Gen, RateIsNeverExceededAndTheCountIsExact) {
  constexpr int kFrames = 20000;
  auto r =
      gen({"--dst", lab_->server().ip4, "--count", std::to_string(kFrames), "--rate", "20000", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["frames"], kFrames);
  EXPECT_EQ(j["refused"], 0);
  // 20,000 frames at 20,000/s: a second, less what the catch-up of 5 ms
  // (100 frames) and one batch (64) could gain; more on a busy machine.
  EXPECT_GE(j["seconds"].get<double>(), 0.99) << r.out;
  EXPECT_LT(j["seconds"].get<double>(), 5.0) << r.out;
  auto s = stats_json(*lab_);
  EXPECT_EQ(s["parse"]["ipv4"]["packets"], kFrames);
  // A rate of 0 or less is refused with one line.
  auto bad = gen({"--dst", lab_->server().ip4, "--count", "10", "--rate", "0"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("--rate"), std::string::npos) << bad.err;
}

TEST_F(Gen, RefusesNonLabAddressesAndSaysWhenNothingArrives) {
  auto r = gen({"--dst", "8.8.8.8", "--dst-mac", "02:00:00:00:00:02", "--count", "1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "xdpguard: gen " + lab_->client().veth +
                ": destination 8.8.8.8 is outside the lab ranges (198.18.0.0/15, fd00::/8): refusing to "
                "send to what may be a real network; use --force if you mean it\n");
  r = gen({"--dst", lab_->server().ip4, "--src", "0.0.0.0/0", "--count", "1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("source 0.0.0.0/0 is not inside the lab ranges"), std::string::npos) << r.err;

  // Without any XDP program on the peer, the veth refuses every frame.
  ASSERT_EQ(xg_srv(*lab_, {"detach", lab_->server().veth}).code, 0);
  r = gen({"--dst", lab_->server().ip4, "--count", "1000"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "xdpguard: gen " + lab_->client().veth + ": " + lab_->client().veth +
                " refused all 1000 frames: a veth passes them on only when its peer has an XDP program "
                "attached (any, even one that passes everything)\n");
  ASSERT_EQ(xg_srv(*lab_, {"attach", lab_->server().veth}).code, 0);
}

}  // namespace
}  // namespace xdpguard::test
