#include "demo/demo.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bpf/system.h"
#include "core/process.h"
#include "core/unique_fd.h"
#include "gen/frame.h"
#include "gen/generator.h"
#include "guard/guard.h"
#include "lab/lab.h"
#include "report/ddos.h"
#include "report/format.h"
#include "rules/parser.h"
#include "telemetry/maps.h"
#include "telemetry/talkers.h"
#include "telemetry/top.h"

namespace xdpguard {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint16_t kWebPort = 8080;  // served; the SYN proxy guards it in act 2
constexpr std::uint16_t kClosedPort = 9;  // act 1's SYNs
constexpr std::uint16_t kDnsPort = 53;    // act 3's rate limit
// Act 2: the flood's spoofed sources (outside the lab's /24; the client's
// xdpguard drops the SYN-ACKs sent to them). Act 3: the one source that
// goes over the limit.
constexpr const char* kFloodSources = "198.18.128.0/17";
constexpr const char* kNoisySource = "198.18.0.66";
constexpr const char* kDnsLimit = "drop udp dport 53 limit over 100/s burst 50 per saddr block 60s";

// Ctrl-C / SIGTERM while the demo runs: every act ends early and the lab is
// removed as at the end.
std::atomic<bool> g_stop{false};
extern "C" void xg_demo_on_stop_signal(int) { g_stop = true; }

sockaddr_in addr4(const std::string& ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

// Sleeps up to d, in steps that notice a stop.
void nap(Clock::duration d) {
  const auto until = Clock::now() + d;
  while (!g_stop && Clock::now() < until)
    std::this_thread::sleep_for(std::min<Clock::duration>(100ms, until - Clock::now()));
}

// A new TCP connection to ip:port that sends "hello" and reads it back,
// all within `timeout` (a SYN the flood's queue lost is retransmitted by
// TCP after 1 s: part of connecting).
bool tcp_hello(const std::string& ip, std::uint16_t port, std::chrono::milliseconds timeout) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  const auto deadline = Clock::now() + timeout;
  auto left = [&] {
    return static_cast<int>(std::max<long long>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
  };
  auto a = addr4(ip, port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS)
    return false;
  pollfd p{fd.get(), POLLOUT, 0};
  if (::poll(&p, 1, left()) != 1) return false;
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return false;
  if (::send(fd.get(), "hello", 5, MSG_NOSIGNAL) != 5) return false;
  char buf[5];
  std::size_t got = 0;
  while (got < sizeof buf) {
    p = {fd.get(), POLLIN, 0};
    if (::poll(&p, 1, left()) != 1) return false;
    const ssize_t n = ::recv(fd.get(), buf + got, sizeof buf - got, 0);
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return std::memcmp(buf, "hello", 5) == 0;
}

// `top`'s frame, redrawn in place every second on a terminal; elsewhere (a
// pipe, a log) only the act's last frame is printed.
class LiveView {
 public:
  explicit LiveView(std::FILE* out) : out_(out), tty_(::isatty(::fileno(out)) == 1) {}
  void frame(const std::string& text) {
    last_ = text;
    if (!tty_) return;
    if (lines_) std::fprintf(out_, "\x1b[%zuA\x1b[J", lines_);  // up to the last frame, clear below
    std::fputs(text.c_str(), out_);
    std::fflush(out_);
    lines_ = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  }
  // The act is over: its last frame stays on the screen.
  void done() {
    if (!tty_ && !last_.empty()) std::fputs(last_.c_str(), out_);
    lines_ = 0;
    last_.clear();
  }

 private:
  std::FILE* out_;
  bool tty_;
  std::size_t lines_ = 0;
  std::string last_;
};

class Demo {
 public:
  Demo(const DemoOptions& opts, Lab lab)
      : opts_(opts), out_(opts.out), lab_(std::move(lab)), view_(opts.out) {}
  Demo(const Demo&) = delete;
  Demo& operator=(const Demo&) = delete;
  // However the demo ends: traffic stopped, both ends detached (pins
  // removed), the lab's namespaces deleted.
  ~Demo() {
    stop_ = true;
    join_traffic();
    if (listen_) ::shutdown(listen_.get(), SHUT_RDWR);
    if (accept_.joinable()) accept_.join();
    {
      std::lock_guard lock(conns_mu_);
      for (int fd : conns_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : echo_) t.join();
    if (dns_.joinable()) dns_.join();
    server_.reset();
    client_.reset();
    for (const LabHost* h : {&lab_.server(), &lab_.client()})
      (void)run_in_netns(h->netns, [&] {
        if (auto iface = find_interface(h->veth)) (void)Guard::detach(*iface);
      });
    lab_.destroy();
  }

  Result<void> setup();
  Result<void> act_firewall();
  Result<void> act_synproxy();
  Result<void> act_block();
  Result<void> summary();

 private:
  const LabHost& srv() const { return lab_.server(); }
  // Runs fn in host h's namespace and returns its result: a change checks,
  // under the interface's lock, that xdpguard's program is on the
  // interface of the namespace it runs in.
  template <class F>
  auto in_netns(const LabHost& h, F&& fn) -> decltype(fn()) {
    std::optional<decltype(fn())> r;
    XG_CHECK(run_in_netns(h.netns, [&] { r.emplace(fn()); }));
    if (!r) return fail(EINVAL, "did not run in {}", h.netns);
    return std::move(*r);
  }
  const LabHost& cli() const { return lab_.client(); }
  // The two attachments, once setup() made them (every act runs after it).
  Guard& server() const {
    if (!server_) std::abort();
    return *server_;
  }
  Guard& client() const {
    if (!client_) std::abort();
    return *client_;
  }
  // The demo ends (Ctrl-C, or the last act done): the server's threads stop.
  bool ending() const { return g_stop || stop_; }
  // The act ends: its traffic stops (the server's threads serve on).
  bool stopping() const { return ending() || act_over_; }
  // Runs fn on a thread in the client's namespace: the act's traffic, which
  // ends by itself or when the act is over (Act).
  void in_client(std::function<void()> fn) {
    threads_.emplace_back([this, fn = std::move(fn)] { (void)run_in_netns(cli().netns, fn); });
  }
  void join_traffic() {
    act_over_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
    act_over_ = false;
  }
  // An act's scope: however it returns, its traffic has stopped and its
  // threads (which use its locals) are joined.
  struct Act {
    Demo& d;
    ~Act() { d.join_traffic(); }
  };
  // The act's `seconds` of `top` on the server's interface; ends early on a stop.
  Result<void> watch(int seconds);
  Result<telemetry::TopSample> sample() const {
    if (!server_ || !maps_ || !talkers_) return fail(EINVAL, "demo: the server is not set up");
    return telemetry::sample(*server_, *maps_, &*talkers_);
  }
  Result<gen::Generator> generator(gen::Proto proto, const std::string& src, std::uint16_t dport,
                                   const Interface& iface) const;
  std::uint64_t ddos(int counter) const {
    auto st = server().ddos_stats();
    return st ? st->counters[static_cast<std::size_t>(counter)].packets : 0;
  }

  DemoOptions opts_;
  std::FILE* out_;
  Lab lab_;
  LiveView view_;
  mutable std::optional<Guard> server_, client_;
  std::optional<telemetry::TelemetryMaps> maps_;
  std::optional<telemetry::Talkers> talkers_;
  std::atomic<bool> stop_{false}, act_over_{false};
  std::vector<std::thread> threads_;  // the act's traffic

  // The server's services: TCP echo on kWebPort, UDP on kDnsPort.
  UniqueFd listen_, dns_fd_;
  std::thread accept_, dns_;
  std::vector<std::thread> echo_;
  std::mutex conns_mu_;
  std::vector<int> conns_;
  std::atomic<std::uint64_t> dns_from_client_{0}, dns_from_others_{0};
};

Result<gen::Generator> Demo::generator(gen::Proto proto, const std::string& src, std::uint16_t dport,
                                       const Interface& iface) const {
  gen::Spec spec;
  spec.proto = proto;
  auto from = rules::parse_prefix(src);
  auto to = rules::parse_prefix(srv().ip4);
  if (!from || !to) return fail(EINVAL, "bad lab address {} or {}", src, srv().ip4);
  spec.src = *from;
  spec.dst = to->addr;
  if (proto == gen::Proto::Syn) spec.sport_lo = 1024, spec.sport_hi = 65535;
  spec.dport = dport;
  spec.size = std::max<std::uint32_t>(64, gen::min_frame_size(proto, rules::Family::V4));
  spec.src_mac = XG_TRY(gen::interface_mac(iface));
  spec.dst_mac = XG_TRY(gen::parse_mac(srv().mac));
  XG_CHECK(gen::check_lab_addresses(spec));
  return gen::Generator::open(XG_TRY(gen::build(spec)));
}

Result<void> Demo::setup() {
  std::fprintf(out_, "  client %s (%s)  <-- veth -->  server %s (%s)\n", cli().netns.c_str(),
               cli().ip4.c_str(), srv().netns.c_str(), srv().ip4.c_str());
  // xdpguard on both ends, each attached from inside its namespace (the
  // network namespace is per thread); the Guards work from any thread.
  const AttachMode mode = opts_.generic ? AttachMode::Generic : AttachMode::Native;
  auto attach = [&](const LabHost& h) -> Result<Guard> {
    std::optional<Result<Guard>> g;
    XG_CHECK(run_in_netns(h.netns, [&] {
      auto iface = find_interface(h.veth);
      g = iface ? Guard::attach(*iface, mode) : Result<Guard>(tl::unexpected(iface.error()));
    }));
    if (!g) return fail(EINVAL, "attach did not run");
    return std::move(*g);
  };
  server_.emplace(XG_TRY_CTX(attach(srv()), "attach " + srv().veth));
  client_.emplace(XG_TRY_CTX(attach(cli()), "attach " + cli().veth));
  maps_.emplace(XG_TRY(telemetry::TelemetryMaps::open(*server_)));
  talkers_.emplace(XG_TRY(telemetry::Talkers::open(*server_)));
  // top shows the busiest sources
  XG_CHECK_CTX(in_netns(srv(), [&] { return talkers_->enable(true, *server_); }), "talkers");
  // The server's policy: serve the web port and ICMP, drop unsolicited
  // connection attempts to anything else before a socket exists.
  const std::vector<std::string> policy = {fmt::format("pass tcp dport {}", kWebPort), "pass icmp",
                                           "pass icmpv6", "drop tcp tcp-flags syn,!ack"};
  XG_CHECK_CTX(in_netns(srv(), [&] { return server().replace_rules(policy); }), "rules");
  // The client stands for the internet: what is sent to the flood's spoofed
  // sources goes nowhere (and its veth takes the server's XDP_TX frames only
  // with an XDP program on it).
  XG_CHECK_CTX(
      in_netns(cli(),
               [&] { return client().replace_rules({fmt::format("drop ip daddr {}", kFloodSources)}); }),
      "client rules");
  const auto mode_now = XG_TRY(server().stats()).mode;
  std::fprintf(out_, "  xdpguard on %s (%s mode), rules:\n", srv().veth.c_str(), mode_now.c_str());
  for (const auto& r : policy) std::fprintf(out_, "    %s\n", r.c_str());
  std::fprintf(out_, "    (no match: pass)\n");

  // The server's services, sockets made in its namespace (a socket keeps
  // its namespace; the threads that use them need none).
  XG_CHECK(run_in_netns(srv().netns, [&] {
    listen_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    auto a = addr4(srv().ip4, kWebPort);
    if (listen_ && (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
                    ::listen(listen_.get(), 128) != 0))
      listen_.reset();
    dns_fd_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto d = addr4(srv().ip4, kDnsPort);
    if (dns_fd_ && ::bind(dns_fd_.get(), reinterpret_cast<sockaddr*>(&d), sizeof d) != 0) dns_fd_.reset();
  }));
  if (!listen_ || !dns_fd_) return fail(errno ? errno : EIO, "the lab server's sockets");
  accept_ = std::thread([this] {
    while (!ending()) {
      pollfd p{listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::lock_guard lock(conns_mu_);
      conns_.push_back(c);
      echo_.emplace_back([this, c] {
        UniqueFd conn(c);
        char buf[4096];
        ssize_t n;
        while ((n = ::recv(conn.get(), buf, sizeof buf, 0)) > 0)
          if (::send(conn.get(), buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) break;
        std::lock_guard l(conns_mu_);
        std::erase(conns_, conn.get());
      });
    }
  });
  dns_ = std::thread([this] {
    const std::uint32_t client = addr4(cli().ip4, 0).sin_addr.s_addr;
    while (!ending()) {
      pollfd p{dns_fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      char buf[512];
      sockaddr_in from{};
      socklen_t len = sizeof from;
      if (::recvfrom(dns_fd_.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len) < 0)
        continue;
      (from.sin_addr.s_addr == client ? dns_from_client_ : dns_from_others_)++;
    }
  });
  return {};
}

Result<void> Demo::watch(int seconds) {
  auto prev = XG_TRY(sample());
  for (int s = 0; s < seconds && !stopping(); ++s) {
    nap(1s);
    auto cur = XG_TRY(sample());
    view_.frame(telemetry::top_frame(srv().veth, prev, cur, 8));
    prev = std::move(cur);
  }
  view_.done();
  return {};
}

Result<void> Demo::act_firewall() {
  std::fprintf(
      out_,
      "\n== act 1: the firewall. A TCP echo session and pings (legitimate) beside %d SYN/s to closed "
      "port %u (unsolicited), %d s; what `xdpguard top %s` shows:\n\n",
      opts_.syn_rate, kClosedPort, opts_.seconds, srv().veth.c_str());
  Act act{*this};
  // The echo session: 1 KiB every 100 ms, read back.
  std::atomic<std::uint64_t> echoed{0};
  std::atomic<bool> broke{false};
  in_client([&] {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    auto a = addr4(srv().ip4, kWebPort);
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      broke = true;
      return;
    }
    timeval tv{3, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char msg[1024];
    std::memset(msg, 'x', sizeof msg);
    while (!stopping()) {
      std::size_t got = 0;
      if (::send(fd.get(), msg, sizeof msg, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof msg))
        while (got < sizeof msg) {
          char buf[1024];
          const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
          if (n <= 0) break;
          got += static_cast<std::size_t>(n);
        }
      if (got < sizeof msg) {
        broke = true;
        return;
      }
      echoed += got;
      nap(100ms);
    }
  });
  std::atomic<std::uint64_t> syns{0};
  in_client([&] {
    auto a = addr4(srv().ip4, kClosedPort);
    const auto period = std::chrono::microseconds(1'000'000 / std::max(opts_.syn_rate, 1));
    const auto until = Clock::now() + std::chrono::seconds(opts_.seconds);
    for (auto next = Clock::now(); !stopping() && next < until; next += period) {
      UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (fd)
        (void)::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);  // EINPROGRESS: the SYN is out
      ++syns;
      std::this_thread::sleep_until(next);
    }
  });
  auto ping = BackgroundProcess::start(
      lab_.in(cli(), {"ping", "-q", "-i", "0.2", "-c", std::to_string(opts_.seconds * 5), srv().ip4}),
      "/dev/null");
  XG_CHECK(watch(opts_.seconds));
  join_traffic();
  const int ping_rc = ping ? ping->stop(SIGINT, 2s) : -1;
  auto st = XG_TRY(server().stats());
  std::uint64_t by_rule = 0;
  for (const auto& r : st.rules)
    if (r.text == "drop tcp tcp-flags syn,!ack") by_rule = r.counter.packets;
  std::fprintf(
      out_,
      "act 1: %llu SYNs to port %u sent, %llu dropped in XDP by `drop tcp tcp-flags syn,!ack` (no "
      "socket, no RST); the echo session: %llu KiB echoed%s; pings: %s.\n",
      static_cast<unsigned long long>(syns.load()), kClosedPort, static_cast<unsigned long long>(by_rule),
      static_cast<unsigned long long>(echoed.load() / 1024), broke ? ", then it broke" : "",
      ping_rc == 0 ? "answered" : ("some lost (ping exit status " + std::to_string(ping_rc) + ")").c_str());
  return {};
}

Result<void> Demo::act_synproxy() {
  if (stopping()) return {};
  std::fprintf(out_,
               "\n== act 2: a SYN flood against port %u, from random sources in %s at the generator's full "
               "rate, %d s; the SYN proxy answers it in XDP while a real client opens new connections:\n\n",
               kWebPort, kFloodSources, opts_.seconds);
  if (opts_.generic) {
    std::fprintf(out_,
                 "act 2: skipped: the generator's frames reach only a native XDP program (run without "
                 "--generic)\n");
    return {};
  }
  // nftables and the sysctls belong to the server's namespace: enable there.
  std::optional<Result<SynproxyStatus>> on;
  SynproxyConfig sp;  // identity unset: the interface's, as `synproxy enable` finds it
  sp.ports = {kWebPort};
  XG_CHECK(run_in_netns(srv().netns, [&] { on = server().synproxy_enable(sp); }));
  if (!on || !*on) {
    std::fprintf(out_, "act 2: skipped: synproxy enable %s: %s\n", srv().veth.c_str(),
                 on ? on->error().message().c_str() : "did not run");
    return {};
  }
  std::fprintf(out_, "  xdpguard synproxy enable %s --ports %u\n\n", srv().veth.c_str(), kWebPort);
  Act act{*this};
  const std::uint64_t cookies0 = ddos(XDPGUARD_DDOS_SYN_COOKIE);
  std::optional<Result<gen::Progress>> flood;
  std::atomic<bool> flood_done{false};
  in_client([&] {
    auto run = [&]() -> Result<gen::Progress> {
      auto iface = XG_TRY(find_interface(cli().veth));
      auto g = XG_TRY(generator(gen::Proto::Syn, kFloodSources, kWebPort, iface));
      return g.run(iface, {0, static_cast<double>(opts_.seconds), 0}, {}, &act_over_);
    };
    flood = run();
    flood_done = true;
  });
  std::atomic<int> ok{0}, failed{0};
  in_client([&] {
    while (!stopping() && !flood_done) {
      (tcp_hello(srv().ip4, kWebPort, 5s) ? ok : failed)++;
      nap(200ms);
    }
  });
  XG_CHECK(watch(opts_.seconds));
  join_traffic();  // the flood ends by itself, the client with it
  const std::uint64_t cookies = ddos(XDPGUARD_DDOS_SYN_COOKIE) - cookies0;
  std::optional<Result<void>> off;
  XG_CHECK(run_in_netns(srv().netns, [&] { off = server().synproxy_disable(); }));
  if (!flood || !*flood)
    return fail(EIO, "the SYN flood: {}", flood ? flood->error().message() : std::string("did not run"));
  const gen::Progress& p = **flood;
  std::fprintf(
      out_,
      "act 2: %s SYNs in %.1f s (%s/s), each answered in XDP with a SYN cookie (%s cookies sent): no "
      "socket, no conntrack entry for any of them; the real client completed %d of %d new connections "
      "during the flood.\n",
      telemetry::si(static_cast<double>(p.delivered())).c_str(), p.seconds, telemetry::si(p.pps()).c_str(),
      telemetry::si(static_cast<double>(cookies)).c_str(), ok.load(), ok.load() + failed.load());
  if (off && !*off) std::fprintf(out_, "  (synproxy disable: %s)\n", off->error().message().c_str());
  return {};
}

Result<void> Demo::act_block() {
  if (stopping()) return {};
  std::fprintf(out_,
               "\n== act 3: a rate limit that blocks. %s sends 5,000 datagrams/s to udp port %u, the "
               "client 10/s, %d s:\n  xdpguard rule add %s '%s'\n\n",
               kNoisySource, kDnsPort, opts_.seconds, srv().veth.c_str(), kDnsLimit);
  if (opts_.generic) {
    std::fprintf(out_,
                 "act 3: skipped: the generator's frames reach only a native XDP program (run without "
                 "--generic)\n");
    return {};
  }
  XG_CHECK_CTX(in_netns(srv(), [&] { return server().add_rule(kDnsLimit); }), "rule add");
  Act act{*this};
  const std::uint64_t others0 = dns_from_others_, client0 = dns_from_client_;
  std::optional<Result<gen::Progress>> noisy;
  in_client([&] {
    auto run = [&]() -> Result<gen::Progress> {
      auto iface = XG_TRY(find_interface(cli().veth));
      auto g = XG_TRY(generator(gen::Proto::Udp, kNoisySource, kDnsPort, iface));
      return g.run(iface, {0, static_cast<double>(opts_.seconds), 5000}, {}, &act_over_);
    };
    noisy = run();
  });
  std::atomic<int> sent{0};
  in_client([&] {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto to = addr4(srv().ip4, kDnsPort);
    const auto until = Clock::now() + std::chrono::seconds(opts_.seconds);
    while (fd && !stopping() && Clock::now() < until) {
      if (::sendto(fd.get(), "query", 5, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) == 5) ++sent;
      nap(100ms);
    }
  });
  XG_CHECK(watch(opts_.seconds));
  join_traffic();
  nap(300ms);  // the last datagrams into the socket
  const auto blocked = XG_TRY(server().blocked());
  std::fprintf(out_, "  xdpguard blocked list %s\n%s", srv().veth.c_str(), blocked_table(blocked).c_str());
  std::fprintf(out_,
               "act 3: %s sent %llu datagrams, %llu arrived (the burst) before it was blocked, in XDP, where "
               "its rule stands; the client sent %d, %llu arrived.\n",
               kNoisySource, static_cast<unsigned long long>(noisy && *noisy ? (*noisy)->delivered() : 0),
               static_cast<unsigned long long>(dns_from_others_ - others0), sent.load(),
               static_cast<unsigned long long>(dns_from_client_ - client0));
  return {};
}

Result<void> Demo::summary() {
  auto st = XG_TRY(server().stats());
  std::fprintf(out_, "\nsummary on %s: %s packets passed, %s dropped, %s answered by XDP_TX (SYN cookies).\n",
               srv().veth.c_str(), human_count(st.actions[XDP_PASS].packets).c_str(),
               human_count(st.actions[XDP_DROP].packets).c_str(),
               human_count(st.actions[XDP_TX].packets).c_str());
  return {};
}

// SIGINT/SIGTERM set g_stop while the demo runs (the lab's own handlers, which
// delete its namespaces and die, come back after).
class StopSignals {
 public:
  StopSignals() {
    g_stop = false;
    struct sigaction sa{};
    sa.sa_handler = xg_demo_on_stop_signal;
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_{}, old_term_{};
};

}  // namespace

Result<void> run_demo(const DemoOptions& opts) {
  XG_CHECK(require_privileges());
  XG_CHECK(ensure_bpffs());
  std::FILE* out = opts.out;
  // Line by line, also into a pipe or a file: someone (a log, a test)
  // follows the acts as they happen. Before the stream's first output.
  std::setvbuf(out, nullptr, _IOLBF, 0);
  std::fprintf(out, "xdpguard demo: a private lab of two network namespaces joined by a veth pair\n");
  auto lab = XG_TRY(Lab::create({.ipv6 = false}));
  StopSignals signals;  // after the lab's handlers: ours come first while the demo runs
  Result<void> r = [&]() -> Result<void> {
    Demo demo(opts, std::move(lab));
    XG_CHECK(demo.setup());
    XG_CHECK(demo.act_firewall());
    XG_CHECK(demo.act_synproxy());
    XG_CHECK(demo.act_block());
    if (!g_stop) XG_CHECK(demo.summary());
    return {};
  }();
  std::fprintf(out, "lab removed.\n");
  if (r && g_stop) return fail(EINTR, "interrupted (lab removed)");
  return r;
}

}  // namespace xdpguard
