// The SYN proxy through the real CLI in a lab (names "xd10<pid>..."): a real
// HTTP server (python3 -m http.server) in the server namespace, real clients
// (curl) in the client namespace, and a SYN flood from random source
// addresses out of the project's generator at its full rate. With
// `synproxy enable` at least 99 % of the clients' connections complete
// during the flood and the server's listen queue never overflows (nstat);
// the same flood against the kernel alone, same run, gives the comparison.
// Also: the host setup (nftables table, sysctls) exists exactly while the
// proxy is on; bad settings and a host without nft are refused, leaving
// nothing behind; a connection open before `enable` keeps working (data
// both ways) while new ones go through the proxy. SynproxyHostE2e: the
// namespace's sysctls with two interfaces, enabled and disabled in either
// order; the undo after a failed teardown, a kill -9, a deleted interface
// and stale pins, each exactly once; interface names nft must not read.
//
// The client runs xdpguard too (rule: pass what is addressed to it, drop
// the rest): the SYN-ACKs to the flood's spoofed sources would go to the
// internet in real life, not to our client; and a veth delivers XDP_TX
// frames only to a peer that runs XDP.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include <net/if.h>

#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "e2e_support.h"

namespace xdpguard::test {
namespace {

constexpr std::uint16_t kProxiedPort = 80;

struct Connects {
  int ok = 0, failed = 0;
  double rate() const { return ok + failed ? 100.0 * ok / (ok + failed) : 0; }
};

class SynproxyE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    XG_REQUIRE_PRIVILEGES();
    auto l = Lab::create({.ipv6 = true, .prefix = "xd10"});
    ASSERT_TRUE(l) << l.error().message();
    lab_.emplace(std::move(*l));
    ASSERT_EQ(srv({"attach", lab_->server().veth, "--mode", "native"}).code, 0);
    // The client keeps what is addressed to it (and ARP/ND), nothing else.
    ASSERT_EQ(cli({"attach", lab_->client().veth, "--mode", "native", "--default", "drop", "--force"}).code,
              0);
    for (const auto& r :
         {"pass daddr " + lab_->client().ip4, "pass daddr " + lab_->client().ip6, std::string("pass icmpv6")})
      ASSERT_EQ(cli({"rule", "add", lab_->client().veth, r}).code, 0) << r;
    // The flood's sources are "out there": the server routes to them via the
    // client, as a server reaches the internet through its gateway (without
    // a route the kernel drops their SYNs unanswered, as ListenDrops).
    ASSERT_TRUE(
        lab_->exec(lab_->server(), {"ip", "route", "add", "198.18.128.0/17", "via", lab_->client().ip4}));
    std::ofstream(dir_ + "/index.html") << "hello from the lab\n";
    auto web = BackgroundProcess::start(
        lab_->in(lab_->server(), {"/usr/bin/python3", "-m", "http.server", std::to_string(kProxiedPort),
                                  "--bind", "::", "--directory", dir_}));
    ASSERT_TRUE(web) << web.error().message();
    web_.emplace(std::move(*web));
    for (int i = 0; i < 50 && !get(lab_->server().ip4); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(get(lab_->server().ip4)) << "the HTTP server does not answer";
  }
  void TearDown() override {
    web_.reset();
    if (lab_) {
      (void)srv({"detach", lab_->server().veth});
      (void)cli({"detach", lab_->client().veth});
    }
    std::filesystem::remove_all(dir_);
  }
  CliRun srv(std::vector<std::string> args) { return xg_srv(*lab_, std::move(args)); }
  CliRun cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", lab_->client().netns});
    return xdpguard_cli(args);
  }
  // One HTTP GET by curl from the client: completed within 3 s?
  bool get(const std::string& ip) {
    const std::string host = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
    auto r = lab_->exec(lab_->client(),
                        {"curl", "-g", "-s", "-o", "/dev/null", "--max-time", "3", "-w", "%{http_code}",
                         "http://" + host + ":" + std::to_string(kProxiedPort) + "/"});
    return r && *r == "200";
  }
  // `workers` curl loops for `seconds` each, in parallel, in the client. A
  // connect counts when the page arrives within 7 s: TCP's own retries of a
  // lost SYN (after 1 and 3 s) are part of completing it; the flood shares
  // the veth's rings with the clients, as it shares a NIC's queues.
  Connects connect_loops(int workers, int seconds) {
    const std::string loop = "end=$((SECONDS+" + std::to_string(seconds) +
                             ")); ok=0; bad=0; while [ $SECONDS -lt $end ]; do "
                             "r=$(curl -s -o /dev/null --max-time 7 -w '%{http_code} connect "
                             "%{time_connect}s total %{time_total}s' "
                             "http://" +
                             lab_->server().ip4 + ":" + std::to_string(kProxiedPort) +
                             "/); rc=$?; if [ \"${r%% *}\" = 200 ]; then ok=$((ok+1)); else bad=$((bad+1)); "
                             "echo \"failed: curl exit $rc, $r\"; fi; done; echo $ok $bad";
    std::vector<std::thread> threads;
    std::vector<Connects> each(static_cast<std::size_t>(workers));
    for (int w = 0; w < workers; ++w)
      threads.emplace_back([&, w] {
        auto r = lab_->exec(lab_->client(), {"bash", "-c", loop}, std::chrono::seconds(seconds + 30));
        if (!r) return;
        std::istringstream in(*r);
        std::string line, last;
        while (std::getline(in, line)) {
          if (line.rfind("failed:", 0) == 0)
            std::printf("  %s\n", line.c_str());  // what a failed connect looked like
          else
            last = line;
        }
        std::istringstream(last) >> each[static_cast<std::size_t>(w)].ok >>
            each[static_cast<std::size_t>(w)].failed;
      });
    for (auto& t : threads) t.join();
    Connects all;
    for (const auto& c : each) {
      all.ok += c.ok;
      all.failed += c.failed;
    }
    return all;
  }
  // The server's TcpExtListenOverflows + TcpExtListenDrops (absolute).
  std::uint64_t listen_drops() {
    auto r = lab_->exec(lab_->server(), {"nstat", "-az", "TcpExtListenOverflows", "TcpExtListenDrops"});
    EXPECT_TRUE(r);
    std::uint64_t sum = 0;
    std::istringstream in(r ? *r : "");
    std::string name;
    std::uint64_t v = 0;
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream l(line);
      if (l >> name >> v && name.rfind("TcpExtListen", 0) == 0) sum += v;
    }
    return sum;
  }
  struct Round {
    Connects connects;
    std::uint64_t listen_drops = 0, flood_frames = 0;
    double flood_seconds = 0;
  };
  // The flood (random sources, full rate) for 7 s; curl loops for 5 s of it.
  Round flood_round() {
    Round r;
    const auto drops0 = listen_drops();
    const std::string out = dir_ + "/gen.json";
    auto gen = BackgroundProcess::start({XDPGUARD_BIN,
                                         "-n",
                                         lab_->client().netns,
                                         "gen",
                                         lab_->client().veth,
                                         "--dst",
                                         lab_->server().ip4,
                                         "--dst-mac",
                                         lab_->server().mac,
                                         "--src",
                                         "198.18.128.0/17",
                                         "--proto",
                                         "syn",
                                         "--sport",
                                         "1024-65535",
                                         "--dport",
                                         std::to_string(kProxiedPort),
                                         "--duration",
                                         "7",
                                         "--json"},
                                        out);
    EXPECT_TRUE(gen) << gen.error().message();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    r.connects = connect_loops(2, 5);
    if (gen) {
      EXPECT_EQ(gen->stop(0, std::chrono::seconds(30)), 0) << "the generator failed";
    }
    r.listen_drops = listen_drops() - drops0;
    std::ifstream in(out);
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_discarded()) {
      r.flood_frames = j["frames"].get<std::uint64_t>();
      r.flood_seconds = j["seconds"].get<double>();
    }
    return r;
  }
  // A two-instruction XDP_PASS program on the server's veth.
  bool attach_bare_pass() {
    bpf_insn insns[] = {{BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, XDP_PASS}, {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
    UniqueFd fd(bpf_prog_load(BPF_PROG_TYPE_XDP, "xd10_pass", "GPL", insns, 2, nullptr));
    if (!fd) return false;
    bool ok = false;
    auto ns = run_in_netns(lab_->server().netns, [&] {
      auto iface = find_interface(lab_->server().veth);
      ok = iface && bpf_xdp_attach(iface->ifindex, fd.get(), XDP_FLAGS_DRV_MODE, nullptr) == 0;
    });
    return ns && ok;
  }
  std::string nft_tables() {
    auto r = lab_->exec(lab_->server(), {"nft", "list", "tables"});
    return r ? *r : "";
  }
  std::string sysctl(const char* name) {
    auto r = lab_->exec(lab_->server(), {"sysctl", "-n", name});
    std::string v = r ? *r : "?";
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    return v;
  }
  nlohmann::json status() {
    auto r = srv({"synproxy", "status", lab_->server().veth, "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    return r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json{};
  }
  std::optional<Lab> lab_;
  std::optional<BackgroundProcess> web_;
  std::string dir_ = [] {
    char d[] = "/tmp/xg-synproxy-web-XXXXXX";
    const char* made = ::mkdtemp(d);
    return std::string(made ? made : "/tmp/xg-synproxy-web");
  }();
};

TEST_F(SynproxyE2e, LegitimateClientsConnectThroughASynFlood) {
  auto en = srv({"synproxy", "enable", lab_->server().veth, "--ports", std::to_string(kProxiedPort)});
  ASSERT_EQ(en.code, 0) << en.err;
  ASSERT_TRUE(get(lab_->server().ip4));
  ASSERT_TRUE(get(lab_->server().ip6)) << "IPv6 through the proxy";
  auto before = status()["counters"];
  ASSERT_GE(before["cookie_acks_valid"]["packets"].get<std::uint64_t>(), 2u);

  const Round with = flood_round();
  const auto after = status()["counters"];
  const auto cookies = after["syn_cookies"]["packets"].get<std::uint64_t>() -
                       before["syn_cookies"]["packets"].get<std::uint64_t>();

  // The same flood against the kernel alone (its own SYN cookies), same run.
  // A veth takes generated frames only when it runs XDP: a bare XDP_PASS.
  ASSERT_EQ(srv({"detach", lab_->server().veth}).code, 0);
  ASSERT_TRUE(attach_bare_pass());
  const Round without = flood_round();

  std::printf(
      "SYN flood from random sources, %.2f Mpps offered (%llu frames): with xdpguard synproxy %d/%d connects "
      "(%.2f %%), listen overflows+drops %llu, %llu SYNs answered by XDP cookies; kernel alone %d/%d (%.2f "
      "%%), "
      "listen overflows+drops %llu (flood %.2f Mpps)\n",
      static_cast<double>(with.flood_frames) / with.flood_seconds / 1e6,
      static_cast<unsigned long long>(with.flood_frames), with.connects.ok,
      with.connects.ok + with.connects.failed, with.connects.rate(),
      static_cast<unsigned long long>(with.listen_drops), static_cast<unsigned long long>(cookies),
      without.connects.ok, without.connects.ok + without.connects.failed, without.connects.rate(),
      static_cast<unsigned long long>(without.listen_drops),
      static_cast<double>(without.flood_frames) / without.flood_seconds / 1e6);
  RecordProperty("with_synproxy_percent", std::to_string(with.connects.rate()));
  RecordProperty("kernel_alone_percent", std::to_string(without.connects.rate()));

  EXPECT_GE(with.connects.ok + with.connects.failed, 50) << "too few connects to judge";
  EXPECT_GE(with.connects.rate(), 99.0);
  EXPECT_EQ(with.listen_drops, 0u);
  // Every flood SYN reached the proxy and was answered (the veth may lose a
  // few frames on the way).
  EXPECT_GE(cookies, with.flood_frames * 9 / 10);
  EXPECT_GT(with.flood_frames, 100000u) << "the flood must be a flood";
}

TEST_F(SynproxyE2e, HostSetupExistsExactlyWhileOnAndDetachUndoesIt) {
  const std::string loose = sysctl("net.netfilter.nf_conntrack_tcp_loose");
  const std::string table = "xdpguard_synproxy_";
  ASSERT_EQ(nft_tables().find(table), std::string::npos);
  ASSERT_EQ(srv({"synproxy", "enable", lab_->server().veth, "--ports", "80,https"}).code, 0);
  auto st = status();
  EXPECT_EQ(st["state"], "on");
  EXPECT_EQ(st["ports"], nlohmann::json({80, 443}));
  EXPECT_NE(nft_tables().find(table), std::string::npos);
  EXPECT_EQ(sysctl("net.netfilter.nf_conntrack_tcp_loose"), "0");
  EXPECT_EQ(sysctl("net.ipv4.tcp_timestamps"), "1");
  auto stats = stats_json(*lab_);
  EXPECT_TRUE(stats["ddos"].contains("syn_cookies"));

  ASSERT_EQ(srv({"synproxy", "disable", lab_->server().veth}).code, 0);
  EXPECT_EQ(status()["state"], "off");
  EXPECT_EQ(nft_tables().find(table), std::string::npos);
  EXPECT_EQ(sysctl("net.netfilter.nf_conntrack_tcp_loose"), loose);
  auto again = srv({"synproxy", "disable", lab_->server().veth});
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("not on"), std::string::npos) << again.err;

  // Detach turns it off too.
  ASSERT_EQ(srv({"synproxy", "enable", lab_->server().veth, "--ports", "80"}).code, 0);
  ASSERT_EQ(srv({"detach", lab_->server().veth}).code, 0);
  EXPECT_EQ(nft_tables().find(table), std::string::npos);
  EXPECT_EQ(sysctl("net.netfilter.nf_conntrack_tcp_loose"), loose);
}

TEST_F(SynproxyE2e, BadSettingsAndAHostWithoutNftAreRefusedLeavingNothing) {
  const std::string veth = lab_->server().veth;
  const std::string loose = sysctl("net.netfilter.nf_conntrack_tcp_loose");
  struct Case {
    std::vector<std::string> args;
    const char* says;
  };
  const std::vector<Case> cases = {
      {{"--ports", "0"}, "out of range"},
      {{"--ports", "70000"}, "out of range"},
      {{"--ports", "htp"}, "unknown port \"htp\""},
      {{"--ports", "80,80"}, "given twice"},
      {{"--ports", "80,"}, "empty item"},
      {{"--ports", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"}, "at most 16"},
      {{"--ports", "80", "--wscale", "15"}, "--wscale: expected a whole number between 0 and 14, got \"15\""},
      {{"--ports", "80", "--mss4", "100"}, "--mss4: expected bytes between 536 and 65535, got \"100\""},
      {{"--ports", "80", "--ttl", "0"}, "--ttl: expected a whole number between 1 and 255, got \"0\""},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"synproxy", "enable", veth};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = srv(args);
    EXPECT_NE(r.code, 0) << c.says;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
  }
  // No nft on PATH: a clear error, and nothing half-configured.
  auto r = xdpguard_cli({"-n", lab_->server().netns, "synproxy", "enable", veth, "--ports", "80"},
                        {"env", "PATH=/nonexistent"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("nft"), std::string::npos) << r.err;
  EXPECT_EQ(status()["state"], "off");
  EXPECT_EQ(nft_tables().find("xdpguard_synproxy_"), std::string::npos);
  EXPECT_EQ(sysctl("net.netfilter.nf_conntrack_tcp_loose"), loose);
  // Not attached: says so.
  auto na = cli({"synproxy", "enable", "lo", "--ports", "80"});
  EXPECT_NE(na.code, 0);
  EXPECT_NE(na.err.find("no xdpguard attached"), std::string::npos) << na.err;
}

// An echo server in the server's namespace serving any number of
// connections at once (a thread each), on the server's IPv4 address.
class EchoServers {
 public:
  EchoServers(const Lab& lab, std::uint16_t port) {
    EXPECT_TRUE(run_in_netns(lab.server().netns, [&] {
      fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!fd_) return;
      int one = 1;
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      auto a = sockaddr4(lab.server().ip4, port);
      if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) ::listen(fd_.get(), 64);
    }));
    acceptor_ = std::thread([this] {
      while (true) {
        const int c = ::accept(fd_.get(), nullptr, nullptr);
        if (c < 0) return;
        std::lock_guard<std::mutex> l(mu_);
        conns_.emplace_back(c);
        workers_.emplace_back([c] {
          char buf[8192];
          ssize_t n;
          while ((n = ::recv(c, buf, sizeof buf, 0)) > 0)
            if (::send(c, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) return;
        });
      }
    });
  }
  ~EchoServers() {
    ::shutdown(fd_.get(), SHUT_RDWR);
    acceptor_.join();
    std::lock_guard<std::mutex> l(mu_);
    for (auto& c : conns_) ::shutdown(c.get(), SHUT_RDWR);
    for (auto& w : workers_) w.join();
  }

 private:
  UniqueFd fd_;
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<UniqueFd> conns_;
  std::vector<std::thread> workers_;
};

// A TCP connection from the client's namespace to the server, kept open.
class OpenConnection {
 public:
  OpenConnection(const Lab& lab, std::uint16_t port) {
    EXPECT_TRUE(run_in_netns(lab.client().netns, [&] {
      fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!fd_) return;
      timeval tv{5, 0};
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      auto a = sockaddr4(lab.server().ip4, port);
      connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }));
  }
  bool connected() const { return connected_; }
  // Sends `bytes` and reads them back (the server echoes); the bytes echoed.
  std::size_t echo(std::size_t bytes) {
    const std::string msg(bytes, 'e');
    std::size_t sent = 0, got = 0;
    char buf[8192];
    while (got < bytes) {
      if (sent < bytes) {
        ssize_t n =
            ::send(fd_.get(), msg.data() + sent, std::min<std::size_t>(bytes - sent, 4096), MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    return got;
  }

 private:
  UniqueFd fd_;
  bool connected_ = false;
};

// An SSH session (or any connection) open while the port gets proxied: its
// packets are in no conntrack table (conntrack may not even have run in the
// namespace before) and carry no cookie; it keeps working, both ways, and
// new connections to the same port go through the proxy.
TEST_F(SynproxyE2e, AConnectionOpenBeforeEnableKeepsWorking) {
  constexpr std::uint16_t kEcho = 2222;
  EchoServers echo(*lab_, kEcho);
  OpenConnection before(*lab_, kEcho);
  ASSERT_TRUE(before.connected());
  ASSERT_EQ(before.echo(100), 100u);

  auto en = srv({"synproxy", "enable", lab_->server().veth, "--ports", std::to_string(kEcho) + ",80"});
  ASSERT_EQ(en.code, 0) << en.err;
  EXPECT_EQ(sysctl("net.netfilter.nf_conntrack_tcp_loose"), "0");
  // Both directions, more than a window's worth of ACKs and data.
  EXPECT_EQ(before.echo(10), 10u) << "the connection open before enable was cut";
  EXPECT_EQ(before.echo(200000), 200000u);
  // New connections: through the proxy (a cookie SYN-ACK from XDP).
  const auto cookies0 = status()["counters"]["syn_cookies"]["packets"].get<std::uint64_t>();
  EXPECT_EQ(tcp_echo(*lab_, kEcho, 1000), 1000u);
  EXPECT_TRUE(get(lab_->server().ip4));
  EXPECT_GE(status()["counters"]["syn_cookies"]["packets"].get<std::uint64_t>(), cookies0 + 2);
  // ...and the old one still.
  EXPECT_EQ(before.echo(10), 10u);
}

// The namespace-wide part of the SYN proxy, with fresh labs: no HTTP server.
class SynproxyHostE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    XG_REQUIRE_PRIVILEGES();
    auto l = Lab::create({.ipv6 = true, .prefix = "xd10"});
    ASSERT_TRUE(l) << l.error().message();
    lab_.emplace(std::move(*l));
    ASSERT_EQ(srv({"attach", lab_->server().veth}).code, 0);
    // Both sysctls differ from what SYNPROXY needs, so both get changed.
    ASSERT_TRUE(lab_->exec(lab_->server(), {"sysctl", "-qw", "net.ipv4.tcp_timestamps=0"}));
    ASSERT_TRUE(lab_->exec(lab_->server(), {"sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=1"}));
  }
  void TearDown() override {
    if (!lab_) return;
    for (const auto& i : extra_) (void)srv({"detach", i});
    (void)srv({"detach", lab_->server().veth});
  }
  CliRun srv(std::vector<std::string> args) { return xg_srv(*lab_, std::move(args)); }
  // `xdpguard -n <server> args` with `env` settings before it.
  CliRun srv_env(const std::string& env, std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", lab_->server().netns});
    return xdpguard_cli(args, {"env", env});
  }
  // The same with the test build's binary, which has fault points
  // (XDPGUARD_FAULT=<step>: tests/fault).
  CliRun srv_faults(const std::string& env, std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", lab_->server().netns});
    return xdpguard_faults_cli(args, {"env", env});
  }
  // A second veth pair in the server's namespace, its end `name` attached.
  void add_interface(const std::string& name, const std::string& peer, const char* mode = "native") {
    for (const std::vector<std::string>& cmd :
         {std::vector<std::string>{"ip", "link", "add", "name", name, "type", "veth", "peer", "name", peer},
          {"ip", "link", "set", "dev", name, "up"},
          {"ip", "link", "set", "dev", peer, "up"}}) {
      auto r = lab_->exec(lab_->server(), cmd);
      ASSERT_TRUE(r) << r.error().message();
    }
    auto att = srv({"attach", name, "--mode", mode});
    ASSERT_EQ(att.code, 0) << att.err;
    extra_.push_back(name);
  }
  int ifindex(const std::string& name) {
    int idx = 0;
    EXPECT_TRUE(
        run_in_netns(lab_->server().netns, [&] { idx = static_cast<int>(::if_nametoindex(name.c_str())); }));
    return idx;
  }
  std::string sysctls() {
    auto get = [&](const char* n) {
      auto r = lab_->exec(lab_->server(), {"sysctl", "-n", n});
      std::string v = r ? *r : "?";
      while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
      return v;
    };
    return "timestamps=" + get("net.ipv4.tcp_timestamps") +
           " loose=" + get("net.netfilter.nf_conntrack_tcp_loose");
  }
  bool has_table(int idx) {
    auto r = lab_->exec(lab_->server(), {"nft", "list", "tables"});
    return r && r->find("inet xdpguard_synproxy_" + std::to_string(idx) + "\n") != std::string::npos;
  }
  bool enable(const std::string& iface) {
    auto r = srv({"synproxy", "enable", iface, "--ports", "80"});
    EXPECT_EQ(r.code, 0) << iface << ": " << r.err;
    return r.code == 0;
  }
  bool disable(const std::string& iface) {
    auto r = srv({"synproxy", "disable", iface});
    EXPECT_EQ(r.code, 0) << iface << ": " << r.err;
    return r.code == 0;
  }
  static constexpr const char* kBefore = "timestamps=0 loose=1";
  static constexpr const char* kProxied = "timestamps=1 loose=0";
  static constexpr int kKilled = 128 + 9;  // exit status of a process killed by SIGKILL
  std::optional<Lab> lab_;
  std::vector<std::string> extra_;
};

// tcp_timestamps and nf_conntrack_tcp_loose are per namespace: the first
// enable saves them, the last disable restores them; in between, whatever
// the order, they stay as SYNPROXY needs them.
TEST_F(SynproxyHostE2e, TwoInterfacesOfANamespaceShareItsSysctls) {
  const std::string a = lab_->server().veth;
  add_interface("spb0", "spb1");
  ASSERT_EQ(sysctls(), kBefore);
  for (bool a_first : {true, false}) {
    SCOPED_TRACE(a_first ? "disable a, then b" : "disable b, then a");
    ASSERT_TRUE(enable(a));
    EXPECT_EQ(sysctls(), kProxied);
    ASSERT_TRUE(enable("spb0"));
    EXPECT_EQ(sysctls(), kProxied);
    ASSERT_TRUE(disable(a_first ? a : "spb0"));
    EXPECT_EQ(sysctls(), kProxied) << "one interface still has the proxy on";
    ASSERT_TRUE(disable(a_first ? "spb0" : a));
    EXPECT_EQ(sysctls(), kBefore) << "the last disable restores what the first enable found";
  }
  // Detach is a disable too.
  ASSERT_TRUE(enable(a));
  ASSERT_TRUE(enable("spb0"));
  ASSERT_EQ(srv({"detach", a}).code, 0);
  EXPECT_EQ(sysctls(), kProxied);
  ASSERT_EQ(srv({"detach", "spb0"}).code, 0);
  EXPECT_EQ(sysctls(), kBefore);
  EXPECT_FALSE(has_table(ifindex(a)));
  EXPECT_FALSE(has_table(ifindex("spb0")));
}

// A detach whose undo fails (nft cannot run) detaches nothing and keeps the
// record: it says so, and the next detach finishes the undo, once.
TEST_F(SynproxyHostE2e, AFailedTeardownKeepsItsRecordForALaterUndo) {
  const std::string a = lab_->server().veth;
  const int idx = ifindex(a);
  ASSERT_TRUE(enable(a));
  ASSERT_TRUE(has_table(idx));
  auto failed = srv_env("PATH=/nonexistent", {"detach", a});
  EXPECT_NE(failed.code, 0) << "a detach that could not undo the SYN proxy said nothing";
  EXPECT_NE(failed.err.find("nft"), std::string::npos) << failed.err;
  EXPECT_NE(failed.err.find("kept"), std::string::npos) << failed.err;
  EXPECT_TRUE(has_table(idx));
  EXPECT_EQ(sysctls(), kProxied);
  auto st = srv({"synproxy", "status", a, "--json"});
  ASSERT_EQ(st.code, 0) << "the record is gone: " << st.err;
  EXPECT_EQ(nlohmann::json::parse(st.out)["state"], "changing");

  auto done = srv({"detach", a});
  EXPECT_EQ(done.code, 0) << done.err;
  EXPECT_FALSE(has_table(idx));
  EXPECT_EQ(sysctls(), kBefore);
}

// kill -9 between the steps of a disable (table deleted, namespace not yet
// told), with a second interface still proxied: the next command finishes
// the undo, exactly once (the other interface's need for the sysctls
// survives it).
TEST_F(SynproxyHostE2e, KilledHalfWayTheUndoIsFinishedOnce) {
  const std::string a = lab_->server().veth;
  add_interface("spb0", "spb1");
  ASSERT_TRUE(enable(a));
  ASSERT_TRUE(enable("spb0"));
  for (const char* step : {"synproxy-teardown", "synproxy-teardown-nft"}) {
    SCOPED_TRACE(step);
    auto killed = srv_faults(std::string("XDPGUARD_FAULT=") + step, {"synproxy", "disable", a});
    EXPECT_EQ(killed.code, kKilled) << killed.err;
    EXPECT_EQ(sysctls(), kProxied);
    // again, killed at the same step: still once
    killed = srv_faults(std::string("XDPGUARD_FAULT=") + step, {"synproxy", "disable", a});
    EXPECT_EQ(killed.code, kKilled) << killed.err;
    ASSERT_TRUE(disable(a));
    EXPECT_FALSE(has_table(ifindex(a)));
    EXPECT_EQ(sysctls(), kProxied) << "the undo of one interface ran twice: the other's share went too";
    ASSERT_TRUE(enable(a));
  }
  // Killed while enabling, after the namespace registered it: detach undoes.
  ASSERT_TRUE(disable(a));
  auto killed = srv_faults("XDPGUARD_FAULT=synproxy-sysctl", {"synproxy", "enable", a, "--ports", "80"});
  EXPECT_EQ(killed.code, kKilled) << killed.err;
  ASSERT_EQ(srv({"detach", a}).code, 0);
  EXPECT_FALSE(has_table(ifindex(a)));
  EXPECT_EQ(sysctls(), kProxied);
  ASSERT_TRUE(disable("spb0"));
  EXPECT_EQ(sysctls(), kBefore);
}

// An interface deleted with the proxy on takes its XDP program with it,
// not its nftables table nor the namespace's sysctls: `status`, which drops
// the pins of vanished interfaces, undoes them first.
TEST_F(SynproxyHostE2e, ADeletedInterfaceIsUndoneByTheSweepOfItsPins) {
  add_interface("spb0", "spb1");
  const int idx = ifindex("spb0");
  ASSERT_TRUE(enable("spb0"));
  ASSERT_EQ(sysctls(), kProxied);
  ASSERT_TRUE(lab_->exec(lab_->server(), {"ip", "link", "del", "spb0"}));
  extra_.clear();
  auto st = srv({"status"});
  EXPECT_EQ(st.code, 0) << st.err;
  EXPECT_FALSE(has_table(idx)) << "the deleted interface's nft table is left behind";
  EXPECT_EQ(sysctls(), kBefore);
  // once: a second sweep has nothing left to do, and says nothing of it
  auto again = srv({"status"});
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(again.err.find("synproxy"), std::string::npos) << again.err;
}

// Pins whose program is gone (detached behind xdpguard's back): `attach`
// removes them as stale state, undoing the SYN proxy they record first.
TEST_F(SynproxyHostE2e, AttachOverStaleStateUndoesItsSynproxy) {
  add_interface("spb0", "spb1");
  const int idx = ifindex("spb0");
  ASSERT_TRUE(enable("spb0"));
  ASSERT_TRUE(lab_->exec(lab_->server(), {"ip", "link", "set", "dev", "spb0", "xdp", "off"}));
  auto att = srv({"attach", "spb0"});
  ASSERT_EQ(att.code, 0) << att.err;
  EXPECT_FALSE(has_table(idx)) << "the stale attachment's nft table is left behind";
  EXPECT_EQ(sysctls(), kBefore);
  auto st = srv({"synproxy", "status", "spb0", "--json"});
  ASSERT_EQ(st.code, 0) << st.err;
  EXPECT_EQ(nlohmann::json::parse(st.out)["state"], "off");
}

// Linux allows quotes, braces, semicolons, '*' and '#' in interface names;
// none of them may change the nft script, whose only reference to the
// interface is its index.
TEST_F(SynproxyHostE2e, HostileInterfaceNamesCannotChangeTheScript) {
  for (const std::string name : {"x\"y;}", "q{*}#", "z\";drop"}) {
    SCOPED_TRACE(name);
    add_interface(name, "peer" + std::to_string(extra_.size()), "generic");
    const int idx = ifindex(name);
    ASSERT_GT(idx, 0);
    auto en = srv({"synproxy", "enable", name, "--ports", "80,443"});
    ASSERT_EQ(en.code, 0) << en.err;
    // The kernel's view (nft --debug=netlink): every rule compares iif
    // with our index, the one thing that names the interface.
    auto r = lab_->exec(lab_->server(), {"nft", "--debug=netlink", "list", "table", "inet",
                                         "xdpguard_synproxy_" + std::to_string(idx)});
    ASSERT_TRUE(r) << r.error().message();
    int rules = 0, by_iface = 0;
    std::istringstream lines(*r);
    std::string line, prev;
    const std::string chain = "inet xdpguard_synproxy_" + std::to_string(idx) + " ";
    const std::string cmp = fmt::format("[ cmp eq reg 1 0x{:08x} ]", idx);
    while (std::getline(lines, line)) {
      rules += line.rfind(chain + "prerouting ", 0) == 0 || line.rfind(chain + "input ", 0) == 0;
      by_iface +=
          prev.find("[ meta load iif => reg 1 ]") != std::string::npos && line.find(cmp) != std::string::npos;
      prev = line;
    }
    EXPECT_EQ(rules, 6);
    EXPECT_EQ(by_iface, 6) << *r;
    ASSERT_EQ(srv({"synproxy", "disable", name}).code, 0);
    EXPECT_FALSE(has_table(idx));
  }
  EXPECT_EQ(sysctls(), kBefore);
}

// nft reads `iif N` as the interface named "N" first: with such an
// interface present (named after another's index), enable refuses.
TEST_F(SynproxyHostE2e, AnInterfaceNamedAfterTheIndexIsRefused) {
  const std::string a = lab_->server().veth;
  const std::string digits = std::to_string(ifindex(a));
  ASSERT_TRUE(lab_->exec(lab_->server(),
                         {"ip", "link", "add", "name", digits, "type", "veth", "peer", "name", "spd1"}));
  auto en = srv({"synproxy", "enable", a, "--ports", "80"});
  EXPECT_NE(en.code, 0);
  EXPECT_NE(en.err.find("an interface named \"" + digits + "\""), std::string::npos) << en.err;
  EXPECT_FALSE(has_table(ifindex(a)));
  EXPECT_EQ(sysctls(), kBefore);
}

}  // namespace
}  // namespace xdpguard::test
