// The lockout guard (simulate/lockout.h, README "Changing rules safely"): a
// change that would cut the operator off (the SSH session of the caller,
// ARP, IPv6 neighbour discovery, DHCP replies, management prefixes) is
// refused, naming the rule and the packet, unless --force or the config
// turns the guard off. What is accepted is then checked with real traffic:
// the session's port really answers, ARP and ND really resolve.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>

#include "e2e/e2e_support.h"
#include "rules/printer.h"
#include "simulate/lockout.h"

namespace xdpguard::test {
namespace {

using namespace std::chrono_literals;

class LockoutTest : public LabTest {
 protected:
  void SetUp() override {
    LabTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    conf_ = "/tmp/" + lab_->prefix() + "-lockout.toml";
    ssh_ = "SSH_CONNECTION=" + lab_->client().ip4 + " 50122 " + lab_->server().ip4 + " 22";
    // ND needs the link-local addresses settled (not tentative).
    ASSERT_TRUE(wait_until(
        [&] {
          return lab_->exec(lab_->server(), {"ip", "-6", "addr", "show", "tentative"}).value_or("x").empty();
        },
        10s));
  }
  void TearDown() override {
    LabTest::TearDown();
    std::filesystem::remove(conf_);
  }
  // The server's interface section, and `extra` after it.
  void write(const std::string& section, const std::string& extra = "") {
    std::ofstream(conf_) << "[interfaces." << lab_->server().veth << "]\n" << section << "\n" << extra;
  }
  // xdpguard in the server's namespace, as the operator's ssh session runs it.
  CliRun as_operator(std::vector<std::string> args) {
    args.insert(args.begin(), {ssh_, XDPGUARD_BIN, "-n", lab_->server().netns});
    return run_cli("env", args);
  }
  bool attached() {
    auto st = xg_srv(*lab_, {"status", "--json"});
    return !nlohmann::json::parse(st.out)["interfaces"].empty();
  }
  // Real resolution: the client forgets the server's MAC and reaches it
  // again (ARP for IPv4, neighbour discovery for IPv6).
  bool arp_resolves() {
    (void)lab_->exec(lab_->client(), {"ip", "neigh", "flush", "dev", lab_->client().veth});
    return lab_->exec(lab_->client(), {"ping", "-c", "1", "-W", "2", lab_->server().ip4}).has_value();
  }
  bool nd_resolves() {
    (void)lab_->exec(lab_->client(), {"ip", "-6", "neigh", "flush", "dev", lab_->client().veth});
    return lab_->exec(lab_->client(), {"ping", "-6", "-c", "1", "-W", "2", lab_->server().ip6}).has_value();
  }
  std::string conf_, ssh_;
};

TEST_F(LockoutTest, DefaultDropWithNoAllowRulesIsRefusedNamingArpNdAndTheSshSession) {
  write("default = \"drop\"\nnon-ip = \"drop\"\nrules = []");
  auto r = as_operator({"attach", lab_->server().veth, "--config", conf_});
  ASSERT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.err.find("refused: it would cut the operator off " + lab_->server().veth), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("the default action would drop the SSH session " + lab_->client().ip4 + ":50122 -> " +
                       lab_->server().ip4 + ":22"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("the non-IP/malformed action would drop ARP request for " + lab_->server().ip4),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("IPv6 neighbour solicitation for fd00::2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("IPv6 router advertisement"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  EXPECT_FALSE(attached());
  EXPECT_TRUE(arp_resolves());

  // --attach --default drop without a file: the same.
  auto d = as_operator({"attach", lab_->server().veth, "--default", "drop"});
  EXPECT_EQ(d.code, 1);
  EXPECT_NE(d.err.find("the default action would drop the SSH session"), std::string::npos) << d.err;
  EXPECT_FALSE(attached());
}

TEST_F(LockoutTest, WithAllowRulesForThemItIsAcceptedAndTheyReallyPass) {
  write("default = \"drop\"\nrules = [\"pass tcp dport 22 saddr " + lab_->client().ip4 +
        "\", \"pass icmpv6\", \"pass icmp\"]");
  auto r = as_operator({"attach", lab_->server().veth, "--config", conf_});
  ASSERT_EQ(r.code, 0) << r.err;
  EchoServer ssh(*lab_, 22);
  EXPECT_EQ(tcp_echo(*lab_, 22, 1000), 1000u) << "the session's port does not answer";
  EXPECT_TRUE(arp_resolves());
  EXPECT_TRUE(nd_resolves());
  EXPECT_EQ(udp_delivered(*lab_, 7001, 10, false, 9, 300ms), 0) << "the default drop is not in force";

  // Changes that would cut the session, each refused and naming its rule.
  auto add = as_operator(
      {"rule", "add", lab_->server().veth, "drop tcp saddr " + lab_->client().ip4, "--before", "1"});
  EXPECT_EQ(add.code, 1);
  EXPECT_NE(
      add.err.find("the new rule (drop tcp saddr " + lab_->client().ip4 + ") would drop the SSH session"),
      std::string::npos)
      << add.err;
  auto del = as_operator({"rule", "del", lab_->server().veth, "1"});
  EXPECT_EQ(del.code, 1);
  EXPECT_NE(del.err.find("the default action would drop the SSH session"), std::string::npos) << del.err;
  // A pass rule, and a drop rule that spares them, go in.
  EXPECT_EQ(as_operator({"rule", "add", lab_->server().veth, "drop udp dport 7002"}).code, 0);
  EXPECT_EQ(as_operator({"rule", "add", lab_->server().veth, "pass udp dport 7003"}).code, 0);
  EXPECT_EQ(tcp_echo(*lab_, 22, 1000), 1000u);

  // A set that a drop rule uses, loaded with the session's client in it.
  const std::string set_file = "/tmp/" + lab_->prefix() + "-lockout.set";
  std::ofstream(set_file) << "198.19.0.0/24\n";
  ASSERT_EQ(as_operator({"set", "load", lab_->server().veth, "bad", set_file}).code, 0);
  ASSERT_EQ(as_operator({"rule", "add", lab_->server().veth, "drop saddr @bad", "--before", "1"}).code, 0);
  std::ofstream(set_file) << lab_->client().ip4 << "\n";
  auto set = as_operator({"set", "load", lab_->server().veth, "bad", set_file});
  std::filesystem::remove(set_file);
  EXPECT_EQ(set.code, 1);
  EXPECT_NE(set.err.find("(drop saddr @bad) would drop the SSH session"), std::string::npos) << set.err;
  EXPECT_EQ(tcp_echo(*lab_, 22, 1000), 1000u) << "the refused set went in";
}

TEST_F(LockoutTest, ForceOrTheConfigTurnsItOff) {
  write("default = \"drop\"\nrules = []");
  auto forced = as_operator({"attach", lab_->server().veth, "--config", conf_, "--force"});
  ASSERT_EQ(forced.code, 0) << forced.err;
  EXPECT_FALSE(nd_resolves()) << "the forced default drop is not in force";
  ASSERT_EQ(xg_srv(*lab_, {"detach", lab_->server().veth}).code, 0);
  write("default = \"drop\"\nrules = []", "[guard]\nlockout-guard = false\n");
  auto off = as_operator({"attach", lab_->server().veth, "--config", conf_});
  EXPECT_EQ(off.code, 0) << off.err;
}

// What the interface drops now is not the change's doing: a change that
// cuts nothing more goes in.
TEST_F(LockoutTest, OnlyWhatTheChangeWouldCutCounts) {
  ASSERT_EQ(xg_srv(*lab_, {"attach", lab_->server().veth}).code, 0);
  ASSERT_EQ(xg_srv(*lab_, {"rule", "add", lab_->server().veth, "drop ip6", "--force"}).code, 0);
  auto r = as_operator({"rule", "add", lab_->server().veth, "drop udp dport 7002"});
  EXPECT_EQ(r.code, 0) << r.err;
  auto again = as_operator({"rule", "add", lab_->server().veth, "drop ip6 saddr fe80::/10"});
  EXPECT_EQ(again.code, 0) << again.err;
}

// `rule add` and `rule del` first run the one rule alone
// (simulate::check_rule_edit, Simulator::of_rule) and copy the whole rule
// set only when that rule decides a probe: the verdict and its words are
// the whole copy's, for rules the probes meet first, meet after a rule that
// passes them, or never meet.
TEST_F(LockoutTest, TheOneRuleShortcutAgreesWithTheWholeCopy) {
  const std::string client = lab_->client().ip4;
  write("rules = [\"pass tcp dport 22 saddr " + client +
        "\", \"drop udp dport 7002\", \"drop tcp dport 23\", \"pass icmpv6 saddr fe80::/10\"]");
  ASSERT_EQ(as_operator({"attach", lab_->server().veth, "--config", conf_}).code, 0);
  const std::vector<std::string> adds = {"drop tcp dport 22",
                                         "drop icmpv6",
                                         "drop ip6",
                                         "drop",
                                         "drop udp dport 7003",
                                         "tx tcp dport 22",
                                         "drop limit 5/s",
                                         "pass icmpv6",
                                         "drop tcp saddr " + client,
                                         "drop ip6 saddr fe80::/10",
                                         "drop ip6 daddr ff02::/16",
                                         "redirect xsk tcp dport 22"};
  std::vector<simulate::Simulator::Edit> edits;
  for (const auto& a : adds)
    for (std::optional<std::uint32_t> before :
         {std::optional<std::uint32_t>{}, std::optional<std::uint32_t>{1}, std::optional<std::uint32_t>{4}}) {
      simulate::Simulator::Edit e;
      e.add = a;
      e.add_before = before;
      edits.push_back(e);
    }
  for (std::uint32_t id = 1; id <= 4; ++id) {
    simulate::Simulator::Edit e;
    e.del = id;
    edits.push_back(e);
  }
  // The probes are the host's addresses: the link-local one comes when the
  // kernel sees the link up (its link watch, up to a second late), and the
  // two checks of one edit must see the same probes.
  ASSERT_TRUE(wait_until([&] {
    auto r = run_process({"ip", "-n", lab_->server().netns, "-6", "addr", "show", "dev", lab_->server().veth,
                          "scope", "link"});
    return r && r->out.find("fe80::") != std::string::npos;
  }));
  const std::string ssh = ssh_.substr(ssh_.find('=') + 1);
  ASSERT_EQ(::setenv("SSH_CONNECTION", ssh.c_str(), 1), 0);
  int refused = 0, accepted = 0;
  ASSERT_TRUE(run_in_netns(lab_->server().netns, [&] {
    for (const auto& e : edits) {
      const std::string what =
          e.add ? "add " + *e.add + (e.add_before ? " before " + std::to_string(*e.add_before) : "")
                : "del " + std::to_string(*e.del);
      auto shortcut = simulate::check_rule_edit(lab_->server().veth, false, e);
      auto whole = simulate::check_lockout(lab_->server().veth, false, {}, [&](const Interface& i) {
        return simulate::Simulator::from_interface(i, e);
      });
      ASSERT_EQ(shortcut.has_value(), whole.has_value())
          << what << ": " << (shortcut ? whole.error().message() : shortcut.error().message());
      if (shortcut) {
        ++accepted;
      } else {
        ++refused;
        EXPECT_EQ(shortcut.error().message(), whole.error().message()) << what;
      }
    }
  }));
  ::unsetenv("SSH_CONNECTION");
  // Both kinds were met: the shortcut was tried where it matters.
  EXPECT_GE(refused, 6);
  EXPECT_GE(accepted, 6);
}

TEST_F(LockoutTest, ManagementPrefixesAndDhcpRepliesStayReachable) {
  // A leased address (a lifetime, as a DHCP client sets it).
  ASSERT_TRUE(lab_->exec(lab_->server(), {"ip", "addr", "add", "198.18.5.2/24", "dev", lab_->server().veth,
                                          "valid_lft", "600", "preferred_lft", "600"}));
  write("rules = [\"drop tcp saddr 198.19.0.0/16\", \"drop udp sport 67\"]",
        "[guard]\nmanagement = [\"198.19.7.0/24\"]\n");
  auto r = xdpguard_cli({"-n", lab_->server().netns, "apply", "--config", conf_});
  ASSERT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("rule id 1 (drop tcp saddr 198.19.0.0/16) would drop management 198.19.7.0/24: a "
                       "connection from 198.19.7.1 to " +
                       lab_->server().ip4 + ":22"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("(drop udp sport 67) would drop DHCP reply"), std::string::npos) << r.err;
  EXPECT_FALSE(attached());
  write(
      "rules = [\"pass tcp saddr 198.19.7.0/24 dport 22\", \"pass udp sport 67 dport 68\", \"drop tcp saddr "
      "198.19.0.0/16\", \"drop udp sport 67\"]",
      "[guard]\nmanagement = [\"198.19.7.0/24\"]\n");
  auto ok = xdpguard_cli({"-n", lab_->server().netns, "apply", "--config", conf_});
  EXPECT_EQ(ok.code, 0) << ok.err;
  // apply to an attached interface is checked too, and --check says so.
  write("non-ip = \"drop\"\nrules = []");
  auto check = xdpguard_cli({"-n", lab_->server().netns, "apply", "--config", conf_, "--check"});
  EXPECT_EQ(check.code, 1);
  EXPECT_NE(check.err.find("the non-IP/malformed action would drop ARP request"), std::string::npos)
      << check.err;
  EXPECT_TRUE(arp_resolves());
}

// What the guard knows of the interface (read with rtnetlink) is what `ip`,
// a tool no one here wrote, says of it: its MAC; its addresses in order,
// with their subnets, leased (a lifetime) or not; the IPv4 default route's
// gateway by it.
TEST_F(LockoutTest, HostFactsAreWhatIpSays) {
  const std::string dev = lab_->server().veth;
  ASSERT_TRUE(lab_->exec(lab_->server(), {"ip", "addr", "add", "198.18.5.2/24", "dev", dev, "valid_lft",
                                          "600", "preferred_lft", "600"}));
  ASSERT_TRUE(lab_->exec(lab_->server(), {"ip", "addr", "add", "fd00:5::2/80", "dev", dev, "nodad"}));
  ASSERT_TRUE(lab_->exec(lab_->server(), {"ip", "route", "add", "default", "via", "198.18.0.1", "dev", dev}));
  std::optional<Result<simulate::HostFacts>> facts;
  ASSERT_TRUE(run_in_netns(lab_->server().netns, [&] {
    auto i = find_interface(dev);
    facts = i ? simulate::host_facts(*i, {}) : Result<simulate::HostFacts>(tl::unexpected(i.error()));
  }));
  ASSERT_TRUE(facts && *facts) << (facts ? facts->error().message() : "");
  const simulate::HostFacts& h = **facts;

  auto ip = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"ip", "-j"});
    return nlohmann::json::parse(lab_->exec(lab_->server(), argv).value_or("[]"));
  };
  const auto link = ip({"link", "show", "dev", dev});
  ASSERT_FALSE(link.empty());
  EXPECT_EQ(fmt::format("{:02x}", fmt::join(h.mac, ":")), link[0]["address"].get<std::string>());
  // an address, without the /32 or /128 of a host prefix
  auto addr = [](const rules::Prefix& p) {
    const std::string t = rules::prefix_to_string(p);
    return t.substr(0, t.find('/'));
  };
  std::vector<std::string> want, got;
  const auto addrs = ip({"addr", "show", "dev", dev});
  ASSERT_FALSE(addrs.empty());
  for (const auto& a : addrs[0]["addr_info"])
    want.push_back(fmt::format("{}/{}{}", a["local"].get<std::string>(), a["prefixlen"].get<int>(),
                               a.value("dynamic", false) ? " leased" : ""));
  for (const auto& a : h.addrs)
    got.push_back(fmt::format("{}/{}{}", addr(a.addr), a.prefixlen, a.leased ? " leased" : ""));
  EXPECT_EQ(got, want);
  EXPECT_GE(want.size(), 4u);  // 198.18.0.2, 198.18.5.2 (leased), fd00::2, fd00:5::2, fe80::
  const auto routes = ip({"-4", "route", "show", "default", "dev", dev});
  ASSERT_EQ(routes.size(), 1u);
  ASSERT_TRUE(h.gateway4);
  EXPECT_EQ(addr(*h.gateway4), routes[0]["gateway"].get<std::string>());
}

// The service applies its file with the same guard: a reload that would
// cut ARP is refused (the event says why) and the state before stays.
TEST_F(LockoutTest, TheServiceRefusesAReloadThatWouldCutTheOperatorOff) {
  const std::string events = conf_ + ".events";
  write("rules = [\"drop udp dport 7001\"]");
  ::chmod(conf_.c_str(), 0644);
  auto svc = BackgroundProcess::start(
      {XDPGUARD_BIN, "-n", lab_->server().netns, "run", "--config", conf_, "--events", events});
  ASSERT_TRUE(svc) << svc.error().message();
  ASSERT_TRUE(wait_until([&] { return udp_delivered(*lab_, 7001, 5, false, 9, 300ms) == 0; }, 30s))
      << "the service never applied its file";
  write("non-ip = \"drop\"\nrules = [\"drop udp dport 7001\"]");
  ASSERT_EQ(::kill(svc->pid(), SIGHUP), 0);
  ASSERT_TRUE(wait_until([&] { return slurp(events).find("apply_failed") != std::string::npos; }, 30s))
      << slurp(events);
  EXPECT_NE(
      slurp(events).find("the non-IP/malformed action would drop ARP request for " + lab_->server().ip4),
      std::string::npos)
      << slurp(events);
  EXPECT_TRUE(arp_resolves());
  EXPECT_EQ(udp_delivered(*lab_, 7001, 5, false, 9, 300ms), 0) << "the state before the reload is gone";
  svc->stop(SIGTERM);
  std::filesystem::remove(events);
}

}  // namespace
}  // namespace xdpguard::test
