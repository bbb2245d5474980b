// Rate limits and auto-block through the real CLI in a lab (names
// "xd10<pid>..."), with real traffic: a UDP flood from random source
// addresses (the project's generator, at its full rate) against `limit over
// R/s` is held to the token bucket's rate, for one bucket per rule, for
// per-prefix buckets and in bytes (`limit over 2 mbytes/s`); `block` blocks
// a source, `blocked list` shows it, it expires by itself and `blocked del`
// lifts it; stats --json carries the counters; bad limits are refused with
// clear errors and change nothing.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "bpf/clock.h"
#include "e2e_support.h"

namespace xdpguard::test {
namespace {

class Ddos : public ::testing::Test {
 protected:
  void SetUp() override {
    XG_REQUIRE_PRIVILEGES();
    auto l = Lab::create({.ipv6 = false, .prefix = "xd10"});
    ASSERT_TRUE(l) << l.error().message();
    lab_.emplace(std::move(*l));
    ASSERT_EQ(lab_->prefix().rfind("xd10", 0), 0u);
    auto att = srv({"attach", lab_->server().veth, "--mode", "native", "--limit-buckets", "4096"});
    ASSERT_EQ(att.code, 0) << att.err;
  }
  void TearDown() override {
    if (lab_) (void)srv({"detach", lab_->server().veth});
  }
  CliRun srv(std::vector<std::string> args) { return xg_srv(*lab_, std::move(args)); }
  std::uint32_t add(const std::string& rule) {
    auto r = srv({"rule", "add", lab_->server().veth, rule});
    EXPECT_EQ(r.code, 0) << r.err;
    return r.code == 0 ? static_cast<std::uint32_t>(std::stoul(r.out)) : 0;
  }
  // The generator from the client at full rate for `seconds`; returns its
  // --json report.
  nlohmann::json flood(const std::string& src, double seconds, std::uint16_t dport) {
    auto r = xdpguard_cli({"-n", lab_->client().netns, "gen", lab_->client().veth, "--dst",
                           lab_->server().ip4, "--src", src, "--dport", std::to_string(dport), "--duration",
                           std::to_string(seconds), "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    return r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json{{"frames", 0}, {"seconds", 0.0}};
  }
  std::optional<Lab> lab_;
};

std::uint64_t ddos_packets(const nlohmann::json& s, const char* name) {
  return s["ddos"][name]["packets"].get<std::uint64_t>();
}

// Datagrams a bucket of `burst` at `rate`/s may pass to one that sends
// without pause for `sending`: the burst, plus what refilled meanwhile (20 ms
// more for the kernel's own timestamps). Sending takes microseconds here, so
// this is the burst exactly; a loaded machine that holds the sender up gets
// the tokens it is owed, not a failed test.
int bucket_passes(int burst, double rate, std::chrono::steady_clock::duration sending) {
  return burst + static_cast<int>(rate * (std::chrono::duration<double>(sending).count() + 0.02));
}

TEST_F(Ddos, UdpFloodFromRandomSourcesIsHeldToTheRuleRate) {
  // One bucket for the rule: 20,000/s, burst 2,000 (100 ms: the flood
  // comes from a process on a shared machine and may pause that long).
  // Sources: 16,384 random addresses, so per-source state would churn; the
  // rule's bucket does not.
  constexpr double kRate = 20000, kBurst = 2000, kSeconds = 2.0;
  add("drop udp dport 7000 limit over 20000/s burst 2000");
  auto before = stats_json(*lab_);
  auto g = flood("198.18.64.0/18", kSeconds, 7000);
  auto after = stats_json(*lab_);
  const std::uint64_t frames = g["frames"].get<std::uint64_t>();
  const double secs = g["seconds"].get<double>();
  const std::uint64_t under = ddos_packets(after, "limit_under") - ddos_packets(before, "limit_under");
  const std::uint64_t over = ddos_packets(after, "limit_over") - ddos_packets(before, "limit_over");
  std::printf(
      "aggregate: offered %llu frames in %.2f s (%.0f pps); passed %llu = %.0f/s for a limit of %.0f/s\n",
      static_cast<unsigned long long>(frames), secs, frames / secs, static_cast<unsigned long long>(under),
      (under - kBurst) / secs, kRate);
  ASSERT_GT(frames, 10 * kRate * secs) << "the flood must be far over the limit to test it";
  EXPECT_EQ(under + over, frames);
  // Token bucket: at most burst + rate x (the flood's duration, plus the
  // moment between the generator's clock and the first frame's arrival);
  // at least the rate over 85 % of it (the flood is continuous, but the
  // generator shares the machine).
  EXPECT_LE(under, kBurst + kRate * (secs + 0.05));
  EXPECT_GE(under, kRate * secs * 0.85);
  EXPECT_EQ(after["ddos"]["buckets"]["used"], 0) << "no per-source state for a rule without per";
}

TEST_F(Ddos, ByteLimitHoldsAFloodToItsByteRate) {
  // The aggregate test in bytes: 1000-byte datagrams (1014-byte frames; a
  // packet costs its 1000 bytes of IP) against 2 mbytes/s with a 200-kbyte
  // burst: the bucket holds rate + burst bytes (nft's byte mode), 2,297
  // datagrams, and refills 2,097 a second.
  constexpr double kRate = 2 * 1024 * 1024, kBurst = 200 * 1024, kSeconds = 2.0, kIpLen = 1000;
  add("drop udp dport 7000 limit over 2 mbytes/s burst 200 kbytes");
  auto before = stats_json(*lab_);
  auto r = xdpguard_cli({"-n", lab_->client().netns, "gen", lab_->client().veth, "--dst", lab_->server().ip4,
                         "--src", "198.18.64.0/18", "--dport", "7000", "--size", "1014", "--duration",
                         std::to_string(kSeconds), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto g = nlohmann::json::parse(r.out);
  auto after = stats_json(*lab_);
  const std::uint64_t frames = g["frames"].get<std::uint64_t>();
  const double secs = g["seconds"].get<double>();
  const std::uint64_t under = ddos_packets(after, "limit_under") - ddos_packets(before, "limit_under");
  const std::uint64_t over = ddos_packets(after, "limit_over") - ddos_packets(before, "limit_over");
  const double passed = static_cast<double>(under) * kIpLen;
  std::printf(
      "bytes: offered %llu frames in %.2f s (%.0f bytes/s of IP); passed %llu = %.0f bytes/s for %.0f\n",
      static_cast<unsigned long long>(frames), secs, frames * kIpLen / secs,
      static_cast<unsigned long long>(under), (passed - kRate - kBurst) / secs, kRate);
  ASSERT_GT(frames * kIpLen, 5 * kRate * secs) << "the flood must be far over the limit to test it";
  EXPECT_EQ(under + over, frames);
  EXPECT_LE(passed, kRate + kBurst + kRate * (secs + 0.05));
  EXPECT_GE(passed, kRate * secs * 0.85);
  auto list = srv({"rule", "list", lab_->server().veth, "--json"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_EQ(nlohmann::json::parse(list.out)["rules"][0]["rule"],
            "drop udp dport 7000 limit over 2 mbytes/s burst 200 kbytes");
}

TEST_F(Ddos, PerPrefixBucketsHoldEachPrefixToTheRate) {
  // 16 source /20s inside 198.18.64.0/16, each with its own bucket.
  constexpr double kRate = 1000, kBurst = 100, kSeconds = 2.0, kPrefixes = 16;
  add("drop ip udp dport 7000 limit over 1000/s burst 100 per saddr/20");
  auto before = stats_json(*lab_);
  auto g = flood("198.18.64.0/16", kSeconds, 7000);
  auto after = stats_json(*lab_);
  const std::uint64_t frames = g["frames"].get<std::uint64_t>();
  const double secs = g["seconds"].get<double>();
  const std::uint64_t under = ddos_packets(after, "limit_under") - ddos_packets(before, "limit_under");
  std::printf("per saddr/20: offered %llu frames in %.2f s; passed %llu = %.0f/s per prefix for %.0f/s\n",
              static_cast<unsigned long long>(frames), secs, static_cast<unsigned long long>(under),
              (under / kPrefixes - kBurst) / secs, kRate);
  ASSERT_GT(frames, 10 * kPrefixes * kRate * secs);
  EXPECT_LE(under, kPrefixes * (kBurst + kRate * (secs + 0.05)));
  EXPECT_GE(under, kPrefixes * kRate * secs * 0.85);
  EXPECT_EQ(after["ddos"]["buckets"]["used"], 16);
  EXPECT_EQ(after["ddos"]["buckets"]["capacity"], 4096);
}

TEST_F(Ddos, BlockBlocksListsExpiresAndIsLifted) {
  using std::chrono::steady_clock;
  const std::string veth = lab_->server().veth;
  // Blocked for 5 s: long enough that the checks below run while it lasts,
  // however slow the machine.
  auto id = add("drop ip udp dport 7000 limit over 10/s burst 5 per saddr block 5s");
  // 40 datagrams at once: 5 under the limit, the 6th blocks the client.
  // (The sentinel datagram is dropped too: wait 200 ms, not a second.)
  steady_clock::duration sending{};
  const auto blocked_at = steady_clock::now();
  const int first = udp_delivered(*lab_, 7000, 40, false, 9, std::chrono::milliseconds(200), &sending);
  EXPECT_GE(first, 5);
  EXPECT_LE(first, bucket_passes(5, 10, sending)) << "sent in " << sending.count() << " ns";
  auto l = srv({"blocked", "list", veth, "--json"});
  const auto listed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - blocked_at).count();
  ASSERT_EQ(l.code, 0) << l.err;
  auto j = nlohmann::json::parse(l.out);
  ASSERT_EQ(j["blocked"].size(), 1u) << l.out;
  EXPECT_EQ(j["blocked"][0]["prefix"], "198.18.0.1");
  EXPECT_EQ(j["blocked"][0]["rule"], id);
  // Blocked at most listed_ms before the list: 5 s from then, less that,
  // and less the lag of the kernel's coarse clock (the limiter's clock,
  // which stamps the block, runs a tick behind CLOCK_MONOTONIC, and more
  // when a tick comes late on a loaded VM: a CI run saw 4,779 ms against
  // a bound of one tick, 4,780), and a millisecond of rounding on each side.
  const auto tick_ms = static_cast<std::int64_t>(coarse_clock_tick_ns() / 1000000);
  EXPECT_LE(j["blocked"][0]["expires_in_ms"].get<std::int64_t>(), 5000);
  EXPECT_GE(j["blocked"][0]["expires_in_ms"].get<std::int64_t>(), 5000 - listed_ms - 2 * tick_ms - 2);
  // Everything from the client is dropped now, not only what the rule names.
  EXPECT_EQ(udp_delivered(*lab_, 7001, 10, false, 9, std::chrono::milliseconds(300)), 0);
  auto table = srv({"blocked", "list", veth});
  EXPECT_NE(table.out.find("198.18.0.1 "), std::string::npos) << table.out;
  // It expires by itself (no userspace involved).
  EXPECT_TRUE(wait_until(
      [&] { return nlohmann::json::parse(srv({"blocked", "list", veth, "--json"}).out)["blocked"].empty(); },
      std::chrono::seconds(15)));
  EXPECT_EQ(udp_delivered(*lab_, 7001, 10), 10);
  // Blocked again, then lifted by hand.
  const int second = udp_delivered(*lab_, 7000, 40, false, 9, std::chrono::milliseconds(200), &sending);
  EXPECT_GE(second, 5);
  EXPECT_LE(second, bucket_passes(5, 10, sending)) << "sent in " << sending.count() << " ns";
  auto del = srv({"blocked", "del", veth, "198.18.0.1"});
  ASSERT_EQ(del.code, 0) << del.err;
  EXPECT_EQ(del.out.rfind("unblocked 198.18.0.1 (", 0), 0u) << del.out;
  EXPECT_EQ(udp_delivered(*lab_, 7001, 10), 10);
  del = srv({"blocked", "del", veth, "198.18.0.1"});
  EXPECT_EQ(del.code, 1);
  EXPECT_EQ(del.err, "xdpguard: blocked del " + veth + ": 198.18.0.1 is not blocked\n");
  del = srv({"blocked", "del", veth, "nonsense"});
  EXPECT_EQ(del.code, 1);
  EXPECT_EQ(del.err, "xdpguard: blocked del " + veth +
                         ": expected an IPv4 or IPv6 address or prefix, got \"nonsense\"\n");
  auto table_stats = srv({"stats", veth});
  EXPECT_NE(table_stats.out.find("  ddos: limit_over="), std::string::npos) << table_stats.out;
  EXPECT_NE(table_stats.out.find("blocked prefixes: 0 of 16384"), std::string::npos) << table_stats.out;
  auto s = stats_json(*lab_);
  EXPECT_EQ(ddos_packets(s, "block_added"), 2u);
  EXPECT_GE(ddos_packets(s, "blocked"), 10u);
  EXPECT_EQ(ddos_packets(s, "limit_under"), static_cast<std::uint64_t>(first + second));
}

// Datagrams from the client's veth with forged source addresses (scapy):
// `sends` is "SRC:DPORT:COUNT ..." in order.
constexpr const char* kForgedUdp = R"PY(
import logging, sys
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import *
iface, src_mac, dst_mac, dst = sys.argv[1:5]
frames = []
for send in sys.argv[5:]:
    src, dport, count = send.split(":")
    for i in range(int(count)):
        frames.append(Ether(src=src_mac, dst=dst_mac) / IP(src=src, dst=dst) / UDP(sport=50000 + i, dport=int(dport)) / Raw(src.encode()))
sendp(frames, iface=iface, verbose=False)
)PY";

// Issue 16: rules `pass udp saddr T` then a `block` rule keyed per /24, and
// a flood forged "from" T's /24: the /24 used to be blocked before every
// rule, cutting T off (0 of 20 datagrams). The block stands at its rule's
// position: T, passed by rule 1, still gets through; its neighbours that
// reach rule 2 do not; other prefixes are untouched. A never-block prefix is
// never blocked at all.
TEST_F(Ddos, SpoofedFloodBlocksOnlyFromItsRulesPosition) {
  const std::string veth = lab_->server().veth;
  add("pass udp saddr 198.18.100.7");
  auto blocker = add("drop ip udp dport 7000 limit over 100/s per saddr/24 block 60s");
  // The forged flood: 2,000 datagrams from random hosts of the /24.
  auto g = flood("198.18.100.0/24", 0.5, 7000);
  ASSERT_GT(g["frames"].get<std::uint64_t>(), 2000u);
  auto l = nlohmann::json::parse(srv({"blocked", "list", veth, "--json"}).out);
  ASSERT_EQ(l["blocked"].size(), 1u) << l.dump();
  EXPECT_EQ(l["blocked"][0]["prefix"], "198.18.100.0/24");
  EXPECT_EQ(l["blocked"][0]["rule"], blocker);

  // Sockets on the server for what arrives.
  std::map<std::uint16_t, UniqueFd> rx;
  ASSERT_TRUE(run_in_netns(lab_->server().netns, [&] {
    for (std::uint16_t port : {7000, 7001}) {
      UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!fd) {
        ADD_FAILURE() << "socket: " << std::strerror(errno);
        return;
      }
      auto a = sockaddr4(lab_->server().ip4, port);
      EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
      rx[port] = std::move(fd);
    }
  }));
  auto forged = [&](std::vector<std::string> sends) {
    const std::string path = "/tmp/" + lab_->prefix() + "-forged.py";
    std::ofstream(path) << kForgedUdp;
    std::vector<std::string> argv = {"/usr/bin/python3",  path,
                                     lab_->client().veth, lab_->client().mac,
                                     lab_->server().mac,  lab_->server().ip4};
    argv.insert(argv.end(), sends.begin(), sends.end());
    auto r = lab_->exec(lab_->client(), argv, std::chrono::seconds(60));
    std::filesystem::remove(path);
    ASSERT_TRUE(r) << r.error().message();
  };
  // Received per source address (the payload names it).
  auto received = [&](std::uint16_t port) {
    std::map<std::string, int> got;
    char buf[64];
    ssize_t n;
    while ((n = ::recv(rx[port].get(), buf, sizeof buf - 1, 0)) > 0)
      got[std::string(buf, static_cast<size_t>(n))]++;
    return got;
  };
  forged({"198.18.100.7:7000:20", "198.18.100.7:7001:20", "198.18.100.9:7001:20", "198.18.101.1:7001:20",
          "198.18.0.1:7001:1"});
  ASSERT_TRUE(wait_until([&] {
    auto s = stats_json(*lab_);
    return total_packets(s) >= g["frames"].get<std::uint64_t>() + 81;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto at7000 = received(7000), at7001 = received(7001);
  EXPECT_EQ(at7000["198.18.100.7"], 20) << "the trusted host, passed by rule 1, was cut off by the block";
  EXPECT_EQ(at7001["198.18.100.7"], 20);
  EXPECT_EQ(at7001["198.18.100.9"], 0) << "a neighbour reaches rule 2's position: blocked";
  EXPECT_EQ(at7001["198.18.101.1"], 20) << "another prefix is not blocked";

  // never-block: the same flood makes no block that covers 198.18.100.7.
  ASSERT_EQ(srv({"blocked", "del", veth, "198.18.100.0/24"}).code, 0);
  auto nb = srv({"blocked", "never", veth, "198.18.100.7"});
  ASSERT_EQ(nb.code, 0) << nb.err;
  EXPECT_EQ(nb.out, "198.18.100.7\n");
  auto before = stats_json(*lab_);
  flood("198.18.100.0/24", 0.5, 7000);
  l = nlohmann::json::parse(srv({"blocked", "list", veth, "--json"}).out);
  EXPECT_TRUE(l["blocked"].empty()) << l.dump();
  auto after = stats_json(*lab_);
  EXPECT_GT(ddos_packets(after, "block_skipped"), ddos_packets(before, "block_skipped"));
  EXPECT_GT(ddos_packets(after, "limit_over"), ddos_packets(before, "limit_over")) << "the limit still drops";
  forged({"198.18.100.9:7001:20", "198.18.0.1:7001:1"});
  ASSERT_TRUE(wait_until([&] { return received(7001)["198.18.100.9"] == 20; }));
}

TEST_F(Ddos, ConfigFileSetsTheMapSizesAndLimitedRules) {
  const std::string veth = lab_->server().veth;
  ASSERT_EQ(srv({"detach", veth}).code, 0);
  const std::string path = "/tmp/" + lab_->prefix() + "-ddos.toml";
  std::ofstream(path)
      << "[interfaces." << veth << "]\nlimit-buckets = 2048\nblock-entries = 512\nrules = [\n"
      << "  \"drop ip udp dport 7000 limit over 10/s burst 3 per saddr/24 block 1m\",\n]\n"
      << "[ddos]\nnever-block = [\"198.18.7.0/24\"]\n[guard]\nmanagement = [\"fd00:99::/64\"]\n";
  auto att = srv({"attach", veth, "--config", path});
  std::filesystem::remove(path);
  ASSERT_EQ(att.code, 0) << att.err;
  std::chrono::steady_clock::duration sending{};
  const int passed = udp_delivered(*lab_, 7000, 10, false, 9, std::chrono::milliseconds(200), &sending);
  EXPECT_GE(passed, 3);
  EXPECT_LE(passed, bucket_passes(3, 10, sending)) << "sent in " << sending.count() << " ns";
  auto s = stats_json(*lab_);
  EXPECT_EQ(s["ddos"]["buckets"]["capacity"], 2048);
  EXPECT_EQ(s["ddos"]["buckets"]["used"], 1);
  EXPECT_EQ(s["ddos"]["block_list"]["capacity"], 512);
  EXPECT_EQ(s["ddos"]["block_list"]["prefixes"], 1);
  auto l = nlohmann::json::parse(srv({"blocked", "list", veth, "--json"}).out);
  ASSERT_EQ(l["blocked"].size(), 1u);
  EXPECT_EQ(l["blocked"][0]["prefix"], "198.18.0.0/24");
  auto nb = srv({"blocked", "never", veth});
  EXPECT_EQ(nb.out, "198.18.7.0/24\nfd00:99::/64\n") << nb.err;
  // --limit-buckets on the command line wins over the file.
  ASSERT_EQ(srv({"detach", veth}).code, 0);
  std::ofstream(path) << "[interfaces." << veth << "]\nlimit-buckets = 2048\n";
  att = srv({"attach", veth, "--config", path, "--limit-buckets", "100"});
  std::filesystem::remove(path);
  ASSERT_EQ(att.code, 0) << att.err;
  EXPECT_EQ(stats_json(*lab_)["ddos"]["buckets"]["capacity"], 100);
}

TEST_F(Ddos, BadLimitsAreRefusedAndChangeNothing) {
  const std::string veth = lab_->server().veth;
  add("drop udp dport 53 limit over 100/s");
  struct Case {
    std::string rule, err;
  };
  for (const Case& c : std::vector<Case>{
           {"drop udp limit over 0/s",
            "column 21: a limit of 0 packets can never be kept: expected a rate of at "
            "least 1"},
           {"drop udp limit over 5/s burst 2000000000",
            "column 31: burst 2000000000 is more than 1000000000 packets"},
           {"drop ip udp limit over 5/s per saddr/40",
            "column 13: per saddr/40: an IPv4 prefix length is 0-32"},
           {"drop udp dport 99999 limit over 5/s", "column 16: expected a port 0-65535, got \"99999\""},
           {"drop udp limit over 5 bytes/s burst 10 packets",
            "column 40: expected bytes, kbytes or mbytes after the burst 10, got \"packets\""},
       }) {
    auto r = srv({"rule", "add", veth, c.rule});
    EXPECT_EQ(r.code, 1) << c.rule;
    EXPECT_NE(r.err.find(c.err), std::string::npos) << r.err;
  }
  auto list = srv({"rule", "list", veth, "--json"});
  auto j = nlohmann::json::parse(list.out);
  ASSERT_EQ(j["rules"].size(), 1u);
  EXPECT_EQ(j["rules"][0]["rule"], "drop udp dport 53 limit over 100/s burst 5");
  // Attach-time sizes are checked too.
  auto r = xdpguard_cli({"-n", lab_->client().netns, "attach", lab_->client().veth, "--limit-buckets", "0"});
  EXPECT_EQ(r.code, 2) << r.err;
}

}  // namespace
}  // namespace xdpguard::test
