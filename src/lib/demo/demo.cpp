#include "demo/demo.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "bpf/system.h"
#include "core/unique_fd.h"
#include "guard/guard.h"
#include "lab/lab.h"
#include "report/format.h"

namespace xdpguard {
namespace {

using namespace std::chrono_literals;
constexpr std::uint16_t kEchoPort = 8080;
constexpr std::uint16_t kClosedPort = 9;

sockaddr_in addr4(const std::string& ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

struct Traffic {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> echo_bytes{0};
  std::atomic<std::uint64_t> syns{0};
};

// Server side: accept one connection and echo until it closes.
void echo_server(int listen_fd, Traffic& t) {
  UniqueFd conn(::accept(listen_fd, nullptr, nullptr));
  if (!conn) return;
  char buf[4096];
  while (!t.stop) {
    ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    ::send(conn.get(), buf, static_cast<size_t>(n), MSG_NOSIGNAL);
  }
}

// Legitimate client: 1 KiB every 100 ms, reads the echo back.
void echo_client(const std::string& server_ip, Traffic& t) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  auto a = addr4(server_ip, kEchoPort);
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
  timeval tv{1, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char msg[1024];
  std::memset(msg, 'x', sizeof msg);
  while (!t.stop) {
    if (::send(fd.get(), msg, sizeof msg, MSG_NOSIGNAL) <= 0) break;
    std::size_t got = 0;
    while (got < sizeof msg) {
      char buf[1024];
      ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    t.echo_bytes += got;
    std::this_thread::sleep_for(100ms);
  }
}

// Attack: non-blocking connects to a closed port; each sends one SYN (the
// server answers RST). Bounded by rate and the demo's duration.
void syn_burst(const std::string& server_ip, int rate, Traffic& t) {
  auto a = addr4(server_ip, kClosedPort);
  auto period = std::chrono::microseconds(1'000'000 / std::max(rate, 1));
  auto next = std::chrono::steady_clock::now();
  while (!t.stop) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd)
      (void)::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);  // EINPROGRESS: the SYN is out
    ++t.syns;
    next += period;
    std::this_thread::sleep_until(next);
  }
}

void print_table(std::FILE* out, int second, const GuardStats& s, const Traffic& t) {
  std::fprintf(out, "\n[t=%2ds] xdpguard on %s (%s mode)\n", second, s.ifname.c_str(), s.mode.c_str());
  std::fprintf(out, "  %-9s %10s %12s\n", "action", "packets", "bytes");
  for (std::uint32_t i = 0; i < XDPGUARD_NUM_ACTIONS; ++i)
    std::fprintf(out, "  %-9s %10s %12s\n", action_name(i), human_count(s.actions[i].packets).c_str(),
                 human_count(s.actions[i].bytes).c_str());
  std::fprintf(out, "  parsed: ipv4=%llu ipv6=%llu non-ip=%llu truncated=%llu malformed=%llu\n",
               static_cast<unsigned long long>(s.parse[XDPGUARD_PARSE_IPV4].packets),
               static_cast<unsigned long long>(s.parse[XDPGUARD_PARSE_IPV6].packets),
               static_cast<unsigned long long>(s.parse[XDPGUARD_PARSE_NON_IP].packets),
               static_cast<unsigned long long>(s.parse[XDPGUARD_PARSE_TRUNCATED].packets),
               static_cast<unsigned long long>(s.parse[XDPGUARD_PARSE_MALFORMED].packets));
  std::fprintf(out, "  %-5s %10s  %s\n", "rule", "packets", "");
  for (const auto& r : s.rules)
    std::fprintf(out, "  %-5u %10s  %s\n", r.id, human_count(r.counter.packets).c_str(), r.text.c_str());
  std::fprintf(out, "  traffic: legit echo %llu bytes, attack SYNs sent %llu\n",
               static_cast<unsigned long long>(t.echo_bytes.load()),
               static_cast<unsigned long long>(t.syns.load()));
  std::fflush(out);
}

}  // namespace

Result<void> run_demo(const DemoOptions& opts) {
  XG_CHECK(require_privileges());
  XG_CHECK(ensure_bpffs());
  std::FILE* out = opts.out;
  std::fprintf(out, "xdpguard demo: building a private lab (two network namespaces, one veth pair)\n");
  auto lab = XG_TRY_CTX(Lab::create(), "demo");
  const auto& cli = lab.client();
  const auto& srv = lab.server();
  std::fprintf(out, "  client %s (%s, %s)  <-- veth -->  server %s (%s, %s)\n", cli.netns.c_str(),
               cli.ip4.c_str(), cli.ip6.c_str(), srv.netns.c_str(), srv.ip4.c_str(), srv.ip6.c_str());

  // Attach from inside the server namespace, on a helper thread (the
  // network namespace is per thread), and keep the stats handle.
  std::optional<Result<Guard>> guard;
  XG_CHECK(run_in_netns(srv.netns, [&] {
    auto iface = find_interface(srv.veth);
    if (!iface) {
      guard = tl::unexpected(iface.error());
      return;
    }
    guard = Guard::attach(*iface, opts.generic ? AttachMode::Generic : AttachMode::Native);
  }));
  if (!guard) return fail(EINVAL, "demo: attach did not run");
  if (!*guard) return tl::unexpected(std::move(guard->error()).context("demo: attach"));
  Guard& g = **guard;
  // The default policy: serve the echo port and ICMP, drop unsolicited
  // connection attempts to anything else before a socket exists.
  const std::vector<std::string> policy = {fmt::format("pass tcp dport {}", kEchoPort), "pass icmp",
                                           "pass icmpv6", "drop tcp tcp-flags syn,!ack"};
  XG_CHECK_CTX(g.replace_rules(policy), "demo: rules");
  std::fprintf(out, "  xdpguard attached to %s in %s mode with the policy:\n", srv.veth.c_str(),
               g.stats()->mode.c_str());
  for (const auto& r : policy) std::fprintf(out, "    %s\n", r.c_str());
  std::fprintf(out, "    (default: pass)\n");

  Traffic t;
  UniqueFd listen_fd;
  XG_CHECK(run_in_netns(srv.netns, [&] {
    listen_fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(listen_fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    auto a = addr4(srv.ip4, kEchoPort);
    if (listen_fd && ::bind(listen_fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0)
      ::listen(listen_fd.get(), 16);
  }));
  // Sockets keep the namespace they were created in; threads that only
  // accept/recv on them need no setns.
  std::thread server([&] { echo_server(listen_fd.get(), t); });
  std::thread client([&] { (void)run_in_netns(cli.netns, [&] { echo_client(srv.ip4, t); }); });
  std::thread attack([&] { (void)run_in_netns(cli.netns, [&] { syn_burst(srv.ip4, opts.syn_rate, t); }); });
  auto ping = BackgroundProcess::start(
      lab.in(cli, {"ping", "-q", "-i", "0.2", "-c", std::to_string(opts.seconds * 5), srv.ip4}));

  std::fprintf(out,
               "  traffic: TCP echo session + pings (legitimate), %d SYN/s to closed port %u "
               "(attack), for %d s\n",
               opts.syn_rate, kClosedPort, opts.seconds);
  for (int s = 1; s <= opts.seconds; ++s) {
    std::this_thread::sleep_for(1s);
    if (auto st = g.stats()) print_table(out, s, *st, t);
  }
  t.stop = true;
  ::shutdown(listen_fd.get(), SHUT_RDWR);
  client.join();
  attack.join();
  server.join();

  auto final_stats = g.stats();
  XG_CHECK(run_in_netns(srv.netns, [&] {
    if (auto iface = find_interface(srv.veth)) (void)Guard::detach(*iface);
  }));
  lab.destroy();
  if (final_stats)
    std::fprintf(out,
                 "\nsummary: %llu packets passed, %llu dropped (the SYN burst), the echo "
                 "session kept working; lab removed.\n",
                 static_cast<unsigned long long>(final_stats->actions[XDP_PASS].packets),
                 static_cast<unsigned long long>(final_stats->actions[XDP_DROP].packets));
  return {};
}

}  // namespace xdpguard
