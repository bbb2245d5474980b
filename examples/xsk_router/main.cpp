// xsk_router IN_IFACE --table FILE [--count N] [--duration S] [--json]
//
// Custom routing in user space (README, "Route selected flows in user
// space"): the frames that xdpguard's `redirect xsk` rules send to AF_XDP on
// IN_IFACE are routed by this program's own table (table.h): longest prefix
// match on the destination, TTL / hop limit decremented, Ethernet addresses
// rewritten, sent out of the route's interface through AF_XDP TX, without a
// copy. A frame without a route, with TTL 1 or not IP is counted and dropped.
//
// Sockets: one per RX queue of IN_IFACE, registered in xdpguard's XSKMAP
// (Guard::add_xsk) and taken out on exit (Ctrl-C, SIGTERM, --count,
// --duration); one TX socket on queue 0 of each interface the table names
// (the RX socket of queue 0 when that is IN_IFACE itself). All share one
// UMEM, so a frame received on one leaves on another as it is.
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "consumer/forward.h"
#include "core/log.h"
#include "guard/guard.h"
#include "guard/synproxy_host.h"
#include "rules/parser.h"
#include "rules/printer.h"
#include "table.h"
#include "xsk/socket.h"

using namespace xdpguard;
using xsk_router::Table;

namespace {

constexpr std::size_t kBatch = 64;

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

struct Args {
  std::string iface, table;
  std::uint64_t count = 0;  // stop after this many frames (0: no limit)
  double seconds = 0;       // stop after this long (0: no limit)
  bool json = false;
};

struct Counters {
  std::uint64_t received = 0, no_route = 0, ttl_expired = 0, not_ip = 0, tx_ring_full = 0;
  std::vector<std::uint64_t> routed;  // per route, in table order
};

// An out interface: its TX socket and MAC, and the frames of the batch in
// hand that leave through it.
struct Out {
  xsk::Socket* sock = nullptr;
  consumer::Mac mac{};
  std::array<xsk::Frame, kBatch> frames{};
  std::array<std::size_t, kBatch> route{};  // each frame's route
  std::size_t n = 0;
};

// Takes the RX sockets out of xdpguard's map when it goes (every way out of
// run()): the rules' fallback is in force again from the next packet.
struct Registration {
  Guard* guard = nullptr;
  std::vector<std::uint32_t> queues;
  Registration() = default;
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  ~Registration() {
    for (std::uint32_t q : queues)
      if (auto r = guard->remove_xsk(q); !r)
        std::fprintf(stderr, "xsk_router: queue %u: %s\n", q, r.error().message().c_str());
  }
};

Result<Table> read_table(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail_errno(errno, path);
  std::stringstream text;
  text << in.rdbuf();
  return with_context(xsk_router::parse_table(text.str()), path);
}

void print(const Args& a, const Table& table, const Counters& c, const std::string& mode, double seconds) {
  const auto& routes = table.routes();
  std::uint64_t routed = 0;
  for (std::uint64_t n : c.routed) routed += n;
  if (a.json) {
    nlohmann::json per_route = nlohmann::json::array();
    for (std::size_t i = 0; i < routes.size(); ++i)
      per_route.push_back({{"prefix", rules::prefix_to_string(routes[i].prefix)},
                           {"interface", routes[i].ifname},
                           {"next_hop", xsk_router::mac_to_string(routes[i].next_hop)},
                           {"routed", c.routed[i]}});
    const nlohmann::json j = {{"interface", a.iface},   {"mode", mode},
                              {"seconds", seconds},     {"received", c.received},
                              {"routed", routed},       {"routes", per_route},
                              {"no_route", c.no_route}, {"ttl_expired", c.ttl_expired},
                              {"not_ip", c.not_ip},     {"tx_ring_full", c.tx_ring_full}};
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf(
      "%s (%s mode, %.1f s): %llu frames received, %llu routed; dropped: %llu no route, %llu TTL "
      "expired, %llu not IP, %llu TX ring full\n",
      a.iface.c_str(), mode.c_str(), seconds, (unsigned long long)c.received, (unsigned long long)routed,
      (unsigned long long)c.no_route, (unsigned long long)c.ttl_expired, (unsigned long long)c.not_ip,
      (unsigned long long)c.tx_ring_full);
  for (std::size_t i = 0; i < routes.size(); ++i)
    std::printf("  %-24s via %s %s: %llu\n", rules::prefix_to_string(routes[i].prefix).c_str(),
                routes[i].ifname.c_str(), xsk_router::mac_to_string(routes[i].next_hop).c_str(),
                (unsigned long long)c.routed[i]);
}

Result<void> run(const Args& a) {
  const Table table = XG_TRY(read_table(a.table));
  XG_CHECK(require_privileges());
  const Interface in = XG_TRY(find_interface(a.iface));
  Guard guard = XG_TRY(Guard::open(in));  // "no xdpguard attached (run: xdpguard attach IN)"
  bool any = false;
  for (const auto& r : XG_TRY(guard.rules())) any = any || r.rule.action == rules::Action::RedirectXsk;
  if (!any)
    std::fprintf(stderr,
                 "xsk_router: warning: no rule of %s sends frames to AF_XDP yet (e.g. xdpguard rule add %s "
                 "'redirect xsk udp dport 9000')\n",
                 a.iface.c_str(), a.iface.c_str());

  const auto queues = xsk::rx_queue_count(in.name);
  const std::uint32_t nqueues = queues ? *queues : 1;
  const std::vector<std::string> out_names = table.interfaces();
  // Rings of 2048 per socket and two frames per fill-ring slot, so that a
  // fill ring never waits for the pool; past 16 sockets the rings shrink to
  // keep the UMEM at 256 MiB (as `xdpguard xsk` does).
  const auto sockets = nqueues + static_cast<std::uint32_t>(out_names.size());
  std::uint32_t ring = 2048;
  while (ring > 64 && std::uint64_t{sockets} * 2 * ring > 65536) ring /= 2;
  xsk::UmemConfig ucfg;
  ucfg.fill_size = ucfg.comp_size = ring;
  ucfg.frame_count = std::max<std::uint32_t>(4096, sockets * 2 * ring);
  xsk::SocketConfig scfg;
  scfg.rx_size = scfg.tx_size = ring;
  xsk::Umem umem = XG_TRY(xsk::Umem::create(ucfg));

  // The RX sockets, each in the map as soon as it is bound.
  std::vector<xsk::Socket> rx;
  Registration reg;
  reg.guard = &guard;
  for (std::uint32_t q = 0; q < nqueues; ++q) {
    rx.push_back(XG_TRY(xsk::Socket::create(umem, in.name, q, scfg)));
    XG_CHECK(guard.add_xsk(q, rx.back().fd()));
    reg.queues.push_back(q);
  }
  // The TX sockets, and for each route, its out interface.
  std::vector<xsk::Socket> tx;
  tx.reserve(out_names.size());  // Out::sock points into it
  std::vector<Out> outs(out_names.size());
  for (std::size_t i = 0; i < out_names.size(); ++i) {
    const std::string ctx = "out interface " + out_names[i];
    const Interface out = XG_TRY_CTX(find_interface(out_names[i]), ctx);
    outs[i].mac = XG_TRY_CTX(interface_mac(out.ifindex), ctx);
    if (out.ifindex == in.ifindex) {
      outs[i].sock = &rx.front();  // queue 0's socket sends too
    } else {
      tx.push_back(XG_TRY_CTX(xsk::Socket::create(umem, out.name, 0, scfg), ctx));
      outs[i].sock = &tx.back();
    }
  }
  std::vector<std::size_t> out_of_route;
  for (const auto& r : table.routes())
    out_of_route.push_back(static_cast<std::size_t>(std::find(out_names.begin(), out_names.end(), r.ifname) -
                                                    out_names.begin()));

  const std::string mode = xsk::mode_name(rx.front().mode());
  std::string out_list;
  for (const auto& n : out_names) out_list += (out_list.empty() ? "" : ", ") + n;
  std::fprintf(stderr, "xsk_router: %s (%u RX queues, %s mode): %zu routes out %s; Ctrl-C stops\n",
               in.name.c_str(), nqueues, mode.c_str(), table.routes().size(), out_list.c_str());

  Counters c;
  c.routed.assign(table.routes().size(), 0);
  std::vector<xsk::Socket*> rx_ptrs;
  for (auto& s : rx) rx_ptrs.push_back(&s);
  std::array<xsk::Frame, kBatch> batch{}, drop{};
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  auto done = [&] {
    return g_stop || (a.count && c.received >= a.count) || (a.seconds > 0 && elapsed() >= a.seconds);
  };

  // Sleeps in poll() only when a pass over the sockets found nothing: under
  // load it goes from batch to batch without a system call of its own.
  bool idle = true;
  while (!done()) {
    if (idle)
      XG_CHECK(xsk::wait(rx_ptrs, std::chrono::milliseconds(100)));  // also reaps the RX sockets' sends
    idle = true;
    for (auto& s : tx) s.complete();
    for (xsk::Socket& s : rx) {
      const std::size_t got = s.recv(batch);
      if (got) idle = false;
      std::size_t n = got;
      if (a.count) n = std::min<std::size_t>(n, a.count - c.received);  // past --count: released
      std::size_t ndrop = 0;
      for (std::size_t k = 0; k < n; ++k) {
        const xsk::Frame& f = batch[k];
        const auto bytes = s.data(f);
        ++c.received;
        const auto ip = consumer::ip_of(bytes);
        const auto route = ip ? table.lookup(ip->family, ip->daddr) : std::nullopt;
        if (!route) {
          ++(ip ? c.no_route : c.not_ip);
          drop[ndrop++] = f;
          continue;
        }
        Out& o = outs[out_of_route[*route]];
        switch (consumer::rewrite_for_forward(bytes, o.mac, table.routes()[*route].next_hop)) {
          case consumer::Forward::Ok:
            o.route[o.n] = *route;
            o.frames[o.n++] = f;
            break;
          case consumer::Forward::NotIp: ++c.not_ip, drop[ndrop++] = f; break;
          case consumer::Forward::TtlExpired: ++c.ttl_expired, drop[ndrop++] = f; break;
        }
      }
      for (std::size_t k = n; k < got; ++k) drop[ndrop++] = batch[k];
      for (Out& o : outs) {
        const std::size_t sent = o.n ? o.sock->send(std::span(o.frames.data(), o.n)) : 0;
        for (std::size_t k = 0; k < sent; ++k) ++c.routed[o.route[k]];
        for (std::size_t k = sent; k < o.n; ++k) drop[ndrop++] = o.frames[k];  // TX ring full
        c.tx_ring_full += o.n - sent;
        o.n = 0;
      }
      s.release(std::span(drop.data(), ndrop));
    }
  }
  // Let the last sends leave before the sockets close (bounded: 1 s).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (Out& o : outs)
    while (o.sock->tx_outstanding() && std::chrono::steady_clock::now() < until) {
      o.sock->complete();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  print(a, table, c, mode, elapsed());
  return {};
}

std::optional<Args> parse_args(int argc, char** argv_in) {
  const std::vector<std::string> argv(argv_in + 1, argv_in + argc);
  Args a;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    const bool has_value = i + 1 < argv.size();
    if (arg == "--json") {
      a.json = true;
    } else if (arg == "--table" && has_value) {
      a.table = argv[++i];
    } else if (arg == "--count" && has_value) {
      auto n = rules::parse_decimal(argv[++i], UINT64_MAX);
      if (!n) return std::nullopt;
      a.count = *n;
    } else if (arg == "--duration" && has_value) {
      const std::string& v = argv[++i];
      char* end = nullptr;
      a.seconds = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(a.seconds >= 0)) return std::nullopt;
    } else if (a.iface.empty() && !arg.empty() && arg[0] != '-') {
      a.iface = arg;
    } else {
      return std::nullopt;
    }
  }
  if (a.iface.empty() || a.table.empty()) return std::nullopt;
  return a;
}

int router_main(int argc, char** argv) {
  const auto args = parse_args(argc, argv);
  if (!args) {
    std::fprintf(stderr,
                 "usage: xsk_router IN_IFACE --table FILE [--count N] [--duration SECONDS] [--json]\n"
                 "  FILE: one route a line, PREFIX OUT_IFACE NEXT_HOP_MAC (e.g. 198.18.1.0/24 eth2 "
                 "02:00:00:00:00:02)\n");
    return 2;
  }
  log::init();
  struct sigaction sa{};
  sa.sa_handler = on_signal;  // no SA_RESTART: the wait returns early
  (void)sigaction(SIGINT, &sa, nullptr);
  (void)sigaction(SIGTERM, &sa, nullptr);
  if (auto r = run(*args); !r) {
    std::fprintf(stderr, "xsk_router: %s: %s\n", args->iface.c_str(), r.error().message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

// Failures are Result values; an exception reaching here is a bug (or out
// of memory): one line and status 1, as the xdpguard CLI does.
int main(int argc, char** argv) {
  try {
    return router_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xsk_router: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "xsk_router: internal error: unknown exception\n");
  }
  return 1;
}
