// Firewall rules against real clients across a lab: what the rules drop
// never arrives, everything else does, and the counters say which rule did it.
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <fcntl.h>
#include <poll.h>

#include <fstream>
#include <map>

#include "bpf/system.h"
#include "e2e_support.h"
#include "support/packet.h"
#include "core/join.h"

namespace xdpguard::test {
namespace {

// Non-blocking connect from the client namespace; true if the handshake
// completed within `ms` (a dropped SYN just times out; 3 s, so that a loaded
// machine does not turn a slow handshake into a drop).
bool tcp_connects(const Lab& lab, std::uint16_t port, int ms = 3000) {
  bool ok = false;
  EXPECT_TRUE(run_in_netns(lab.client().netns, [&] {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return;
    auto a = sockaddr4(lab.server().ip4, port);
    (void)::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);  // EINPROGRESS
    pollfd p{fd.get(), POLLOUT, 0};
    if (::poll(&p, 1, ms) == 1) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      ok = err == 0;
    }
  }));
  return ok;
}

bool pings(const Lab& lab, const std::string& to, bool v6 = false) {
  std::vector<std::string> argv = {"ping", "-q", "-c", "2", "-i", "0.1", "-W", "1", to};
  if (v6) argv.insert(argv.begin() + 1, "-6");
  return lab.exec(lab.client(), argv).has_value();
}

std::uint32_t add_rule(const Lab& lab, const std::string& rule) {
  auto r = xg_srv(lab, {"rule", "add", lab.server().veth, rule});
  EXPECT_EQ(r.code, 0) << r.err;
  return static_cast<std::uint32_t>(std::stoul(r.out.empty() ? "0" : r.out));
}

nlohmann::json rule_by_id(const nlohmann::json& list, std::uint32_t id) {
  for (const auto& r : list["rules"])
    if (r["id"] == id) return r;
  return {};
}

using RulesTest = GuardedLabTest;

TEST_F(RulesTest, RealClientsArePassedOrDroppedAsTheRulesSay) {
  const Lab& lab = *lab_;
  EchoServer web(lab, 8080), ssh(lab, 8022);
  ASSERT_TRUE(tcp_connects(lab, 8022));
  ASSERT_TRUE(pings(lab, lab.server().ip4));

  std::uint32_t tcp_id = add_rule(lab, "drop tcp dport 8022");
  std::uint32_t udp_id = add_rule(lab, "drop udp dport 5000-5009 saddr " + lab.client().ip4 + "/32");
  std::uint32_t icmp_id = add_rule(lab, "drop icmp");
  std::uint32_t v6_id = add_rule(lab, "drop icmpv6 saddr fd00::/64");

  EXPECT_FALSE(tcp_connects(lab, 8022)) << "SYN to 8022 should be dropped";
  EXPECT_TRUE(tcp_connects(lab, 8080));
  EXPECT_EQ(udp_delivered(lab, 5005, 10), 0);
  EXPECT_EQ(udp_delivered(lab, 5010, 10), 10);
  EXPECT_FALSE(pings(lab, lab.server().ip4));
  EXPECT_FALSE(pings(lab, lab.server().ip6, true));
  EXPECT_EQ(tcp_echo(lab, 8080, 2000), 2000u);

  auto list = nlohmann::json::parse(xg_srv(lab, {"rule", "list", lab.server().veth, "--json"}).out);
  ASSERT_EQ(list["rules"].size(), 4u) << list.dump();
  EXPECT_EQ(rule_by_id(list, tcp_id)["rule"], "drop tcp dport 8022");
  EXPECT_GE(rule_by_id(list, tcp_id)["packets"].get<int>(), 1);  // SYN (+ retransmits)
  EXPECT_EQ(rule_by_id(list, udp_id)["packets"], 10);
  EXPECT_EQ(rule_by_id(list, icmp_id)["packets"], 2);
  EXPECT_EQ(rule_by_id(list, v6_id)["packets"], 2);
  auto stats = stats_json(lab);
  EXPECT_EQ(stats["rules"].size(), 4u);
  EXPECT_GE(stats["actions"]["drop"]["packets"].get<int>(), 15);

  // Deleting the rules restores the traffic.
  for (auto id : {tcp_id, udp_id, icmp_id, v6_id})
    EXPECT_EQ(xg_srv(lab, {"rule", "del", lab.server().veth, std::to_string(id)}).code, 0);
  EXPECT_TRUE(tcp_connects(lab, 8022));
  EXPECT_TRUE(pings(lab, lab.server().ip4));
  EXPECT_EQ(udp_delivered(lab, 5005, 3), 3);
}

TEST_F(RulesTest, RuntimeRuleDoesNotBreakAnEstablishedConnectionItDoesNotMatch) {
  const Lab& lab = *lab_;
  EchoServer server(lab, 8080);
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0}, failures{0};
  std::thread client([&] {
    const auto entered = run_in_netns(lab.client().netns, [&] {
      UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!fd) {
        ++failures;
        return;
      }
      timeval tv{2, 0};
      ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      auto a = sockaddr4(lab.server().ip4, 8080);
      if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ++failures;
        return;
      }
      // Until the test is done with it (bounded: 60 s), however long the
      // rule changes take on a loaded machine.
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (!stop && std::chrono::steady_clock::now() < until) {
        char buf[64] = "ping";
        if (::send(fd.get(), buf, sizeof buf, MSG_NOSIGNAL) != sizeof buf ||
            ::recv(fd.get(), buf, sizeof buf, MSG_WAITALL) != sizeof buf) {
          ++failures;
          return;
        }
        ++rounds;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
    if (!entered.has_value()) ++failures;  // else the wait below would have nothing to wait for
  });
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop, client};
  // Bounded: a client that never gets going fails the test instead of hanging it.
  ASSERT_TRUE(wait_until([&] { return rounds >= 20 || failures > 0; }, std::chrono::seconds(30)))
      << "the client made " << rounds << " round trips in 30 s";
  // Rules that do not match this connection, added and removed while it runs.
  std::uint32_t a = add_rule(lab, "drop tcp dport 9999");
  std::uint32_t b = add_rule(lab, "drop udp");
  std::uint32_t c = add_rule(lab, "pass tcp dport 8080 tcp-flags syn,!ack");
  int before = rounds;
  EXPECT_TRUE(wait_until([&] { return rounds > before || failures > 0; }))
      << "no round trip after the rules were added";
  EXPECT_GT(rounds, before);
  EXPECT_EQ(xg_srv(lab, {"rule", "del", lab.server().veth, std::to_string(b)}).code, 0);
  stop = true;
  client.join();
  EXPECT_EQ(failures, 0);
  EXPECT_GT(a, 0u);
  EXPECT_GT(c, 0u);
}

TEST_F(RulesTest, SetsBlockAndReloadsReplaceTheirContent) {
  const Lab& lab = *lab_;
  std::string file = "/tmp/" + lab.prefix() + "-set.txt";
  {
    std::ofstream f(file);
    f << "# lab clients\n" << lab.client().ip4 << "\n192.0.2.0/24   # documentation net\n\nfd00::1/128\n";
  }
  auto load = xg_srv(lab, {"set", "load", lab.server().veth, "blocked", file});
  ASSERT_EQ(load.code, 0) << load.err;
  EXPECT_NE(load.out.find("2 IPv4 and 1 IPv6"), std::string::npos) << load.out;
  add_rule(lab, "drop saddr @blocked");
  EXPECT_FALSE(pings(lab, lab.server().ip4));
  EXPECT_FALSE(pings(lab, lab.server().ip6, true));

  // Replace the set's content; the rule stays, the client is let through.
  {
    std::ofstream f(file);
    f << "192.0.2.0/24\n";
  }
  ASSERT_EQ(xg_srv(lab, {"set", "load", lab.server().veth, "blocked", file}).code, 0);
  EXPECT_TRUE(pings(lab, lab.server().ip4));
  EXPECT_TRUE(pings(lab, lab.server().ip6, true));

  auto del = xg_srv(lab, {"set", "del", lab.server().veth, "blocked"});
  EXPECT_EQ(del.code, 1);
  EXPECT_NE(del.err.find("set blocked is used by rule"), std::string::npos) << del.err;
  auto sets = nlohmann::json::parse(xg_srv(lab, {"set", "list", lab.server().veth, "--json"}).out);
  ASSERT_EQ(sets["sets"].size(), 1u);
  EXPECT_EQ(sets["sets"][0]["ipv4"], 1);
  std::filesystem::remove(file);
}

// Atomicity under load: a client sends UDP without pause while the set its
// rule matches is reloaded again and again. Every version of the set holds the
// client (beside 4,096 other addresses that change), so a reload that ever let
// a packet see a half-filled or empty set would deliver one. A last reload
// without the client, same traffic, shows the receiver does receive.
TEST_F(RulesTest, SetReloadsUnderTrafficNeverLetAMemberThrough) {
  const Lab& lab = *lab_;
  constexpr std::uint16_t kPort = 5555;
  const std::string base = "/tmp/" + lab.prefix() + "-churn-";
  auto write_set = [&](int version, bool with_client) {
    std::string path = base + std::to_string(version) + ".txt";
    std::ofstream f(path);
    for (int i = 0; i < 4096; ++i)  // never sent to: data for the set only
      f << "198.19." << (version % 2) * 128 + i / 256 << "." << i % 256 << "/32\n";
    if (with_client) f << lab.client().ip4 << "/32\n";
    return path;
  };
  ASSERT_EQ(xg_srv(lab, {"set", "load", lab.server().veth, "churn", write_set(0, true)}).code, 0);
  std::uint32_t id = add_rule(lab, fmt::format("drop udp dport {} saddr @churn", kPort));
  auto hits = [&] {
    auto list = nlohmann::json::parse(xg_srv(lab, {"rule", "list", lab.server().veth, "--json"}).out);
    return rule_by_id(list, id)["packets"].get<std::uint64_t>();
  };

  UniqueFd rx, tx;
  ASSERT_TRUE(run_in_netns(lab.server().netns, [&] {
    rx.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    auto a = sockaddr4(lab.server().ip4, kPort);
    if (rx && ::bind(rx.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) rx.reset();
  }));
  ASSERT_TRUE(
      run_in_netns(lab.client().netns, [&] { tx.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)); }));
  ASSERT_TRUE(rx && tx);
  auto delivered = [&] {
    std::uint64_t n = 0;
    char buf[64];
    while (::recv(rx.get(), buf, sizeof buf, 0) > 0) ++n;
    return n;
  };

  // Bounded: at most 2,000,000 datagrams or 30 s, in bursts of 32 with a pause.
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> sent{0};
  std::thread sender([&] {
    auto to = sockaddr4(lab.server().ip4, kPort);
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!stop && sent < 2'000'000 && std::chrono::steady_clock::now() < until) {
      for (int i = 0; i < 32; ++i)
        if (::sendto(tx.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) == 1) ++sent;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  });
  JoinOnExit join{stop, {&sender}};

  ASSERT_TRUE(wait_until([&] { return hits() > 0; }));
  constexpr int kReloads = 6;
  for (int v = 1; v <= kReloads; ++v) {
    std::uint64_t sent0 = sent, hits0 = hits();
    auto r = xg_srv(lab, {"set", "load", lab.server().veth, "churn", write_set(v, true)});
    ASSERT_EQ(r.code, 0) << r.err;
    std::uint64_t hits1 = hits();
    // Traffic really crossed the reload and the rule kept matching it.
    EXPECT_GT(sent.load(), sent0) << "reload " << v;
    EXPECT_GT(hits1, hits0) << "reload " << v;
  }
  EXPECT_EQ(delivered(), 0u) << "a member of every version of the set got through";

  // Control: the same traffic, a set without the client.
  ASSERT_EQ(xg_srv(lab, {"set", "load", lab.server().veth, "churn", write_set(kReloads + 1, false)}).code, 0);
  std::uint64_t got = 0;
  EXPECT_TRUE(wait_until([&] { return (got += delivered()) >= 100; })) << got;
  stop = true;
  sender.join();
  for (int v = 0; v <= kReloads + 1; ++v) std::filesystem::remove(base + std::to_string(v) + ".txt");
}

TEST_F(RulesTest, BadRulesAreRefusedWithOneLine) {
  const Lab& lab = *lab_;
  auto r = xg_srv(lab, {"rule", "add", lab.server().veth, "drop tcp dport ssh"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("xdpguard: rule add " + lab.server().veth + ": column 16"), std::string::npos)
      << r.err;
  auto d = xg_srv(lab, {"rule", "del", lab.server().veth, "42"});
  EXPECT_EQ(d.code, 1);
  EXPECT_EQ(d.err, "xdpguard: rule del " + lab.server().veth + ": no rule with id 42\n");
  auto s = xg_srv(lab, {"rule", "add", lab.server().veth, "drop saddr @nosuch"});
  EXPECT_EQ(s.code, 1);
  EXPECT_NE(s.err.find("no set named @nosuch"), std::string::npos) << s.err;
}

}  // namespace
}  // namespace xdpguard::test

namespace xdpguard::test {
namespace {

TEST_F(RulesTest, AddingADeadRuleWarns) {
  const Lab& lab = *lab_;
  std::uint32_t first = add_rule(lab, "drop udp");
  auto r = xg_srv(lab, {"rule", "add", lab.server().veth, "drop udp dport 53"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, fmt::format("xdpguard: warning: rule id {} can never match: rule id {} matches "
                               "every packet it would\n",
                               first + 1, first));
}

class ConfigTest : public LabTest {
 protected:
  void SetUp() override {
    LabTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    dir_ = "/tmp/" + lab_->prefix() + "-conf";
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    LabTest::TearDown();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(ConfigTest, AttachAppliesModeDefaultSetsAndRules) {
  const Lab& lab = *lab_;
  write("blocked.txt", "# who may not talk to us\n" + lab.client().ip6 + "\n192.0.2.0/24\n");
  std::string conf = write("xdpguard.toml", fmt::format(R"([interfaces.{0}]
mode = "generic"
default = "drop"
rules = [
  "pass icmp",
  "drop saddr @blocked",
  "pass icmpv6",
  "pass tcp dport 8080",
]

[sets.blocked]
file = "blocked.txt"
)",
                                                        lab.server().veth));
  auto att = xg_srv(lab, {"attach", lab.server().veth, "--config", conf});
  ASSERT_EQ(att.code, 0) << att.err;
  EXPECT_NE(att.out.find("generic mode"), std::string::npos) << att.out;
  EXPECT_NE(att.out.find("4 rules"), std::string::npos) << att.out;

  auto list = nlohmann::json::parse(xg_srv(lab, {"rule", "list", lab.server().veth, "--json"}).out);
  ASSERT_EQ(list["rules"].size(), 4u);
  EXPECT_EQ(list["rules"][1]["rule"], "drop saddr @blocked");
  EXPECT_EQ(list["default"]["action"], "drop");

  EchoServer web(lab, 8080), other(lab, 8081);
  EXPECT_TRUE(pings(lab, lab.server().ip4));
  EXPECT_FALSE(pings(lab, lab.server().ip6, true));  // in @blocked
  EXPECT_TRUE(tcp_connects(lab, 8080));
  EXPECT_FALSE(tcp_connects(lab, 8081));  // default drop
}

TEST_F(ConfigTest, ABadConfigChangesNothing) {
  const Lab& lab = *lab_;
  std::string conf = write("bad.toml", fmt::format(R"([interfaces.{0}]
rules = [
  "pass icmp",
  "drop tcp dport ssh",
]
)",
                                                   lab.server().veth));
  auto att = xg_srv(lab, {"attach", lab.server().veth, "--config", conf});
  EXPECT_EQ(att.code, 1);
  EXPECT_EQ(std::count(att.err.begin(), att.err.end(), '\n'), 1) << att.err;
  EXPECT_NE(att.err.find(conf + " line 4: rule 2, column 16: expected a port or range, got \"ssh\""),
            std::string::npos)
      << att.err;
  EXPECT_EQ(ip_link(lab).find("prog/xdp"), std::string::npos) << "nothing may be attached";

  // A config without this interface is refused too.
  std::string other = write("other.toml", "[interfaces.eth9]\nrules = []\n");
  auto r = xg_srv(lab, {"attach", lab.server().veth, "--config", other});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("has no [interfaces." + lab.server().veth + "] section"), std::string::npos) << r.err;
}

// VLAN matches from a config file, judged by what reaches the server: a
// packet socket on its veth (behind XDP) sees every frame xdpguard passes,
// none it drops. (This kernel has no 802.1Q devices, so no VLAN device's UDP
// socket can be the judge.) The frames come from an AF_PACKET socket on the
// client's veth, which writes the tag into the frame; each kind has its own
// source MAC.
TEST_F(ConfigTest, VlanRulesFromAConfigFile) {
  const Lab& lab = *lab_;
  std::string conf = write("vlan.toml", fmt::format(R"([interfaces.{0}]
default = "drop"
rules = [
  "drop udp dport 7001 vlan 100",
  "pass vlan 100",
  "pass vlan none",
  "drop vlan 100 inner 5",
  "pass vlan 300 inner 6",
]
)",
                                                    lab.server().veth));
  auto att = xg_srv(lab, {"attach", lab.server().veth, "--config", conf});
  ASSERT_EQ(att.code, 0) << att.err;
  auto list = nlohmann::json::parse(xg_srv(lab, {"rule", "list", lab.server().veth, "--json"}).out);
  ASSERT_EQ(list["rules"].size(), 5u);
  EXPECT_EQ(list["rules"][0]["rule"], "drop vlan 100 udp dport 7001");  // canonical: the tag first
  EXPECT_EQ(list["rules"][3]["rule"], "drop vlan 100 inner 5");
  auto plan = xg_srv(lab, {"rule", "plan", lab.server().veth});
  EXPECT_NE(plan.out.find("vlan compare in"), std::string::npos) << plan.out;

  UniqueFd rx, tx;
  int tx_ifindex = 0;
  ASSERT_TRUE(run_in_netns(lab.server().netns, [&] {
    rx.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL)));
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(ETH_P_ALL);
    a.sll_ifindex = static_cast<int>(::if_nametoindex(lab.server().veth.c_str()));
    if (rx && ::bind(rx.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) rx.reset();
  }));
  ASSERT_TRUE(rx) << "packet socket: " << std::strerror(errno);
  ASSERT_TRUE(run_in_netns(lab.client().netns, [&] {
    tx.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    tx_ifindex = static_cast<int>(::if_nametoindex(lab.client().veth.c_str()));
  }));
  ASSERT_TRUE(tx && tx_ifindex > 0);
  // Kind k's frames come from 02:76:6c:00:00:0k.
  auto send = [&](int kind, std::vector<std::uint16_t> tags, std::uint16_t port) {
    for (int i = 0; i < 5; ++i) {
      Packet pk;
      pk.eth(lab.server().mac, fmt::format("02:76:6c:00:00:{:02x}", kind));
      if (tags.size() == 2) pk.vlan_ad(tags[0]);
      if (!tags.empty()) pk.vlan(tags.back());
      Bytes f = pk.ipv4(lab.client().ip4, lab.server().ip4).udp(40000, port).payload(8).bytes();
      sockaddr_ll to{};
      to.sll_family = AF_PACKET;
      to.sll_ifindex = tx_ifindex;
      to.sll_halen = 6;
      std::memcpy(to.sll_addr, f.data(), 6);
      ASSERT_EQ(::sendto(tx.get(), f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
                static_cast<ssize_t>(f.size()))
          << std::strerror(errno);
    }
  };
  send(1, {100}, 7001);     // rule 1: dropped
  send(2, {100}, 7002);     // rule 2: passed
  send(3, {}, 7001);        // rule 3: passed (untagged)
  send(4, {200}, 7002);     // no rule: the default drops it
  send(5, {100, 5}, 7002);  // rule 2 (`vlan 100`: the outer tag): passed before rule 4 could drop it
  send(6, {300, 6}, 7002);  // rule 5: passed
  send(7, {300, 7}, 7002);  // no rule: dropped
  send(8, {6}, 7002);       // the inner tag alone is no `vlan 300 inner 6`: dropped
  std::map<int, int> got;
  EXPECT_TRUE(wait_until([&] {
    std::uint8_t buf[2048];
    ssize_t n;
    while ((n = ::recv(rx.get(), buf, sizeof buf, 0)) >= 12)
      if (buf[6] == 0x02 && buf[7] == 0x76 && buf[8] == 0x6c) ++got[buf[11]];
    return got[2] >= 5 && got[3] >= 5 && got[5] >= 5 && got[6] >= 5;
  }));
  const int want[] = {0, 0, 5, 5, 0, 5, 5, 0, 0};
  for (int k = 1; k <= 8; ++k) EXPECT_EQ(got[k], want[k]) << "frames of kind " << k << " that arrived";
  // Each rule counted its own frames.
  list = nlohmann::json::parse(xg_srv(lab, {"rule", "list", lab.server().veth, "--json"}).out);
  EXPECT_EQ(list["rules"][0]["packets"], 5);
  EXPECT_EQ(list["rules"][1]["packets"], 10);
  EXPECT_GE(list["rules"][2]["packets"], 5);  // and whatever else untagged the lab sent
  EXPECT_EQ(list["rules"][3]["packets"], 0);
  EXPECT_EQ(list["rules"][4]["packets"], 5);
}

}  // namespace
}  // namespace xdpguard::test
