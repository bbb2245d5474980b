// `xdpguard apply` (apply/apply.h) with real traffic: a file's rules and
// sets change under traffic 200 times and no packet is judged by old rules
// with new sets or the other way round, none that should pass is lost, the
// counters of rules that stay keep counting; --check and --diff change
// nothing; a failure on one interface changes no interface; --prune.
//
// How a mixed state would show: in state A the set S holds the client and
// the rule `drop udp dport 7101 saddr @S` drops its datagrams; in state B
// S holds another prefix, and a second rule drops the client by address.
// Either state drops every datagram to 7101. A's rules with B's set (or a
// rule set installed before its set) pass them: one arriving is a mix.
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

#include <fstream>
#include <functional>
#include <thread>

#include <fmt/format.h>

#include "e2e_support.h"
#include "gen/frame.h"

namespace xdpguard::test {
namespace {

constexpr std::uint16_t kDropped = 7101;  // dropped by both states
constexpr std::uint16_t kPassed = 7102;   // passed by both states
constexpr std::uint16_t kProxied = 7103;  // the SYN proxy's port when the file has it

class ApplyTest : public LabTest {
 protected:
  void SetUp() override {
    LabTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    path_ = "/tmp/" + lab_->prefix() + "-apply.toml";
  }
  void TearDown() override {
    if (lab_ && !dummy_.empty()) (void)xg_srv(*lab_, {"detach", dummy_});
    LabTest::TearDown();
    std::filesystem::remove(path_);
  }
  const std::string& veth() const { return lab_->server().veth; }

  // State A (b false) or B (b true) of the file, for the server's veth (and
  // the second interface when there is one, with `dummy_extra` in its section).
  std::string state(bool b, const std::string& dummy_extra = "", bool with_dummy = true) const {
    const std::string client = lab_->client().ip4;
    std::string rules = fmt::format("\"drop udp dport {} saddr @S\"", kDropped);
    if (b) rules += fmt::format(", \"drop udp dport {} saddr {}\"", kDropped, client);
    std::string text = fmt::format("[interfaces.{}]\nrules = [{}]\n", veth(), rules);
    if (!dummy_.empty() && with_dummy)
      text += fmt::format("[interfaces.{}]\n{}rules = [{}]\n", dummy_, dummy_extra, rules);
    text += fmt::format("[sets.S]\nelements = [\"{}\"]\n", b ? "198.19.7.0/24" : client + "/32");
    return text;
  }
  CliRun apply(const std::string& text, std::vector<std::string> extra = {}) {
    std::ofstream(path_) << text;
    std::vector<std::string> args = {"apply", "--config", path_};
    args.insert(args.end(), extra.begin(), extra.end());
    return xg_srv(*lab_, args);
  }
  // (id, packets) of each listed rule.
  std::vector<std::pair<std::uint32_t, std::uint64_t>> listed(const std::string& iface) {
    auto r = xg_srv(*lab_, {"rule", "list", iface, "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> out;
    if (r.code != 0) return out;
    const auto doc = nlohmann::json::parse(r.out);
    for (const auto& j : doc["rules"])
      out.emplace_back(j["id"].get<std::uint32_t>(), j["packets"].get<std::uint64_t>());
    return out;
  }
  void add_dummy() {
    dummy_ = lab_->prefix() + "d";
    // A second interface of the server: one end of a veth pair it holds
    // both ends of (removed with the namespace).
    const std::string& ns = lab_->server().netns;
    ASSERT_EQ(std::system(
                  fmt::format("ip -n {0} link add {1} type veth peer name {1}p && ip -n {0} link set {1} up "
                              "&& ip -n {0} link set {1}p up",
                              ns, dummy_)
                      .c_str()),
              0);
  }
  std::string path_, dummy_;
};

TEST_F(ApplyTest, TwoHundredChangesUnderTrafficNeverMixOldAndNewState) {
  auto first = apply(state(false));
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_NE(first.out.find("attached with 1 rules"), std::string::npos) << first.out;
  const auto ids = listed(veth());
  ASSERT_EQ(ids.size(), 1u);
  const std::uint32_t kept_id = ids[0].first;

  TwoPortTraffic traffic(*lab_, kDropped, kPassed);
  ASSERT_FALSE(HasFailure());

  constexpr int kChanges = 200;
  std::uint64_t last_count = 0;
  for (int i = 1; i <= kChanges; ++i) {
    const std::uint64_t before = traffic.sent_drop;
    auto r = apply(state(i % 2 == 1));
    ASSERT_EQ(r.code, 0) << "change " << i << ": " << r.err;
    if (i % 20 == 0) {
      EXPECT_GT(traffic.sent_drop.load(), before) << "no traffic crossed change " << i;
      auto now = listed(veth());
      ASSERT_FALSE(now.empty());
      EXPECT_EQ(now[0].first, kept_id) << "the rule that stays lost its id at change " << i;
      EXPECT_GE(now[0].second, last_count) << "its counter went back at change " << i;
      last_count = now[0].second;
    }
  }
  traffic.stop();
  EXPECT_GT(traffic.sent_drop.load(), 10'000u);
  EXPECT_EQ(traffic.got_drop.load(), 0u)
      << "datagrams judged by a mix of old and new state, of " << traffic.sent_drop;
  EXPECT_EQ(traffic.got_pass.load(), traffic.sent_pass.load()) << "datagrams that both states pass were lost";
  EXPECT_GT(last_count, 0u);
  // Set slots: the one live set, nothing staged left behind.
  auto sets = xg_srv(*lab_, {"set", "list", veth(), "--json"});
  ASSERT_EQ(sets.code, 0) << sets.err;
  EXPECT_EQ(nlohmann::json::parse(sets.out)["sets"].size(), 1u) << sets.out;
}

TEST_F(ApplyTest, CheckAndDiffChangeNothing) {
  ASSERT_EQ(apply(state(false)).code, 0);
  const auto before = listed(veth());
  // A rule that does not parse: the line and column, exit status 1.
  std::string bad = state(true);
  bad.replace(bad.find("drop udp dport"), 4, "drpo");
  auto r = apply(bad, {"--check"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  // A good file: verified, and still nothing changed.
  r = apply(state(true), {"--check"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ok (compiled and verified; nothing changed)"), std::string::npos) << r.out;
  r = apply(state(true), {"--diff"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(fmt::format("+ rule at 2: drop udp saddr {} dport {}", lab_->client().ip4, kDropped)),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("~ set S: 1 -> 1 members (loaded again)"), std::string::npos) << r.out;
  EXPECT_EQ(listed(veth()), before);
  auto sets = nlohmann::json::parse(xg_srv(*lab_, {"set", "list", veth(), "--json"}).out)["sets"];
  EXPECT_EQ(sets.size(), 1u);
  EXPECT_EQ(udp_delivered(*lab_, kDropped, 5), 0);  // A's set still holds the client
  // --check of an interface not attached loads it in this process only.
  add_dummy();
  r = apply(state(true, "mode = \"generic\"\n"), {"--check"});
  EXPECT_EQ(r.code, 0) << r.err;
  auto status = xg_srv(*lab_, {"status", "--json"});
  EXPECT_EQ(status.out.find(dummy_), std::string::npos) << status.out;
}

TEST_F(ApplyTest, AFailureOnOneInterfaceChangesNoInterface) {
  add_dummy();
  auto r = apply(state(false, "mode = \"generic\"\n"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto before = listed(veth());
  // B for both, but the dummy's limiter size differs from its attachment's:
  // refused before anything changes, naming what and where.
  r = apply(state(true, "mode = \"generic\"\nlimit-buckets = 1024\n"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("limit-buckets"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(dummy_), std::string::npos) << r.err;
  EXPECT_EQ(listed(veth()), before);
  // An interface of the file that does not exist: the same.
  std::string ghost = state(true) + "[interfaces.nosuchif0]\nrules = []\n";
  r = apply(ghost);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("nosuchif0"), std::string::npos) << r.err;
  EXPECT_EQ(listed(veth()), before);
  EXPECT_EQ(udp_delivered(*lab_, kPassed, 5), 5);
  // A mode the attachment does not have: refused the same way.
  r = apply(state(true, "mode = \"native\"\n"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("mode"), std::string::npos) << r.err;
  EXPECT_EQ(listed(veth()), before);
}

// Frames of a local experimental EtherType (not IP) from the client to the
// server: how many a packet socket on the server's veth saw (XDP runs first).
int non_ip_delivered(const Lab& lab, int n) {
  constexpr std::uint16_t kEtherType = 0x88b5;
  UniqueFd rx, tx;
  // The receiver binds (whole frames); the sender's kernel builds the
  // Ethernet header (SOCK_DGRAM) to the server's address.
  auto packet_socket = [](const std::string& ifname, bool receiver) {
    UniqueFd fd(::socket(AF_PACKET, (receiver ? SOCK_RAW : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK,
                         htons(kEtherType)));
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(kEtherType);
    a.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (fd && receiver && ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fd.reset();
    return std::make_pair(std::move(fd), a);
  };
  EXPECT_TRUE(run_in_netns(lab.server().netns, [&] { rx = packet_socket(lab.server().veth, true).first; }));
  EXPECT_TRUE(run_in_netns(lab.client().netns, [&] {
    auto [fd, a] = packet_socket(lab.client().veth, false);
    a.sll_halen = 6;
    const auto mac = gen::parse_mac(lab.server().mac);
    ASSERT_TRUE(mac) << lab.server().mac;
    std::copy(mac->begin(), mac->end(), a.sll_addr);
    const char payload[46] = "xdpguard apply: a frame that is not IP";
    for (int i = 0; i < n; ++i)
      (void)::sendto(fd.get(), payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }));
  if (!rx) return -1;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int got = 0;
  char buf[128];
  while (::recv(rx.get(), buf, sizeof buf, 0) > 0) ++got;
  return got;
}

TEST_F(ApplyTest, SettingsOutsideTheRulesAndPrune) {
  add_dummy();
  ASSERT_EQ(apply(state(false, "mode = \"generic\"\n")).code, 0);
  EXPECT_EQ(non_ip_delivered(*lab_, 5), 5);
  // The non-IP action changes in place, and the dummy goes.
  std::string text = state(false, "", false);
  text.insert(text.find("rules ="), "non-ip = \"drop\"\n");
  auto r = apply(text, {"--prune", "--force"});  // non-IP drop: past the lockout guard
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(dummy_ + ": detached (not in the file, --prune)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("non-ip drop"), std::string::npos) << r.out;
  auto status = xg_srv(*lab_, {"status", "--json"});
  EXPECT_EQ(status.out.find(dummy_), std::string::npos) << status.out;
  EXPECT_EQ(non_ip_delivered(*lab_, 5), 0);
  EXPECT_EQ(udp_delivered(*lab_, kPassed, 3), 3);     // IP still judged by the rules
  ASSERT_EQ(apply(state(false, "", false)).code, 0);  // and back
  EXPECT_EQ(non_ip_delivered(*lab_, 5), 5);
}

// Top talkers and the SYN proxy follow the file as the rules do: on when it
// has them (a real TCP client completes its handshake through the proxy's
// cookies), unchanged when applied again, off when the file drops them.
TEST_F(ApplyTest, SynproxyAndTalkersFollowTheFile) {
  std::string on = state(false);
  on.insert(on.find("rules ="), "talkers = true\n");
  on.insert(on.find("[sets.S]"), fmt::format("[interfaces.{}.synproxy]\nports = [{}]\n", veth(), kProxied));
  auto proxy = [&] {
    auto s = xg_srv(*lab_, {"synproxy", "status", veth(), "--json"});
    EXPECT_EQ(s.code, 0) << s.err;
    return s.code == 0 ? nlohmann::json::parse(s.out) : nlohmann::json{};
  };
  // Attached by apply with them on; then off; then on again in place.
  auto r = apply(on);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(proxy()["state"], "on");
  ASSERT_EQ(apply(state(false)).code, 0);
  EXPECT_EQ(proxy()["state"], "off");
  r = apply(on, {"--diff"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(
      r.out.find(fmt::format("~ synproxy: off -> ports {} (mss 1460/1440, wscale 7, ttl 64)", kProxied)),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("~ talkers: off -> on"), std::string::npos) << r.out;
  r = apply(on);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("top talkers on, SYN proxy ports"), std::string::npos) << r.out;

  EXPECT_EQ(proxy()["state"], "on");
  EXPECT_EQ(proxy()["ports"], nlohmann::json::array({kProxied}));
  // A listening socket on the server, a real connect from the client (whose
  // veth takes the SYN-ACKs the server's XDP_TX sends only with an XDP
  // program of its own: xdpguard, passing everything).
  auto on_client = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", lab_->client().netns});
    return xdpguard_cli(args);
  };
  ASSERT_EQ(on_client({"attach", lab_->client().veth}).code, 0);
  struct DetachClient {
    std::function<void()> f;
    ~DetachClient() { f(); }
  } detach_client{[&] { (void)on_client({"detach", lab_->client().veth}); }};
  UniqueFd listener;
  ASSERT_TRUE(run_in_netns(lab_->server().netns, [&] {
    listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto a = sockaddr4(lab_->server().ip4, kProxied);
    if (!listener || ::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener.get(), 16) != 0)
      listener.reset();
  }));
  ASSERT_TRUE(listener);
  bool connected = false;
  ASSERT_TRUE(run_in_netns(lab_->client().netns, [&] {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    timeval tv{3, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    auto a = sockaddr4(lab_->server().ip4, kProxied);
    connected = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }));
  EXPECT_TRUE(connected);
  EXPECT_GE(proxy()["counters"]["syn_cookies"]["packets"].get<std::uint64_t>(), 1u) << proxy().dump();
  EXPECT_EQ(xg_srv(*lab_, {"talkers", veth(), "--json"}).code, 0);

  r = apply(on);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("unchanged"), std::string::npos) << r.out;

  r = apply(state(false));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("top talkers off, SYN proxy off"), std::string::npos) << r.out;
  EXPECT_EQ(proxy()["state"], "off");
  EXPECT_EQ(proxy()["nft_table"], nullptr) << "the host's SYNPROXY table is gone";
  auto off = xg_srv(*lab_, {"talkers", veth()});
  EXPECT_EQ(off.code, 1);
  EXPECT_NE(off.err.find("top talkers are off"), std::string::npos) << off.err;
}

}  // namespace
}  // namespace xdpguard::test
