#include "consumer/consumer.h"

#include <spdlog/spdlog.h>

#include <array>
#include <ctime>
#include <thread>

#include "consumer/neighbours.h"
#include "consumer/tap.h"
#include "guard/synproxy_host.h"
#include "report/format.h"
#include "telemetry/capture.h"

namespace xdpguard::consumer {
namespace {

constexpr std::size_t kBatch = 64;
constexpr std::uint64_t kMaxFrames = 65536;  // 256 MiB of 4096-byte frames

std::int64_t wall_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

struct Consumer::State {
  Guard* guard = nullptr;
  std::string ifname;
  Options opts;
  std::optional<xsk::Umem> umem;
  std::vector<xsk::Socket> rx;  // one per queue, registered
  std::vector<std::uint32_t> registered;
  std::optional<xsk::Socket> out;  // --forward
  std::optional<Neighbours> neigh;
  std::optional<Tap> tap;  // --reinject
  Mac out_mac{};
  std::optional<telemetry::PcapWriter> pcap;
  Stats stats;
  std::vector<std::uint64_t> per_queue;
  std::chrono::steady_clock::time_point start;
  bool closed = false;
};

Consumer::Consumer(Consumer&&) noexcept = default;

Consumer::~Consumer() {
  if (st_ && !st_->closed)
    if (auto r = close(); !r) spdlog::warn("xsk {}: {}", st_->ifname, r.error().message());
}

Result<Consumer> Consumer::open(Guard& guard, const Interface& iface, const Options& o) {
  Consumer c;
  c.st_ = std::make_unique<State>();
  State& st = *c.st_;
  st.guard = &guard;
  st.ifname = iface.name;
  st.opts = o;
  st.start = std::chrono::steady_clock::now();
  std::vector<std::uint32_t> queues = o.queues;
  if (queues.empty()) {
    auto n = xsk::rx_queue_count(iface.name);
    const std::uint32_t count = n ? *n : 1;
    for (std::uint32_t q = 0; q < count; ++q) queues.push_back(q);
  }
  if (!o.pcap.empty())
    st.pcap = XG_TRY(telemetry::PcapWriter::open({o.pcap, o.snaplen ? o.snaplen : 65535, ""}));
  if (o.reinject && !o.forward.empty()) return fail(EINVAL, "--reinject and --forward: one or the other");
  std::optional<Interface> out_iface;
  if (!o.forward.empty()) out_iface = XG_TRY_CTX(find_interface(o.forward), "--forward");

  // Rings of 2048 per socket and two frames per fill-ring slot (one in the
  // kernel's hands, one in flight or ours), so a fill ring never waits for
  // the pool; past 16 sockets the rings shrink to keep the UMEM at 256 MiB.
  const std::uint32_t sockets = static_cast<std::uint32_t>(queues.size()) + (out_iface ? 1 : 0);
  std::uint32_t ring = 2048;
  while (ring > 64 && std::uint64_t{sockets} * 2 * ring > kMaxFrames) ring /= 2;
  xsk::UmemConfig ucfg;
  ucfg.fill_size = ucfg.comp_size = ring;
  ucfg.frame_count = std::max<std::uint32_t>(4096, sockets * 2 * ring);
  st.umem = XG_TRY(xsk::Umem::create(ucfg));
  xsk::SocketConfig scfg;
  scfg.rx_size = scfg.tx_size = ring;
  scfg.mode = o.mode;
  // Registered in the map as each is made; on failure the State's
  // destruction (close) takes out what was put in.
  for (std::uint32_t q : queues) {
    st.rx.push_back(XG_TRY(xsk::Socket::create(*st.umem, iface.name, q, scfg)));
    XG_CHECK(guard.add_xsk(q, st.rx.back().fd()));
    st.registered.push_back(q);
    st.per_queue.push_back(0);
  }
  if (out_iface) {
    st.out = XG_TRY_CTX(xsk::Socket::create(*st.umem, out_iface->name, 0, scfg), "--forward");
    st.out_mac = XG_TRY_CTX(interface_mac(out_iface->ifindex), "--forward");
    if (!o.dst_mac) {
      st.neigh.emplace(out_iface->ifindex);
      XG_CHECK_CTX(st.neigh->refresh(), "--forward");
    }
  }
  if (o.reinject) {
    // The TAP stands in for the interface: its MAC, a name of its own.
    st.tap = XG_TRY_CTX(
        Tap::create(fmt::format("xgr{}", iface.ifindex), XG_TRY(interface_mac(iface.ifindex))), "--reinject");
  }
  st.stats.ifname = iface.name;
  st.stats.mode = st.rx.empty() ? "" : xsk::mode_name(st.rx.front().mode());
  return c;
}

Result<void> Consumer::run(const std::atomic<bool>& stop) {
  State& st = *st_;
  st.start = std::chrono::steady_clock::now();
  const Options& o = st.opts;
  std::vector<xsk::Socket*> socks;
  for (auto& s : st.rx) socks.push_back(&s);
  std::array<xsk::Frame, kBatch> batch{};
  std::array<xsk::Frame, kBatch> tx{};
  std::array<xsk::Frame, kBatch> drop{};
  auto done = [&] {
    if (stop) return true;
    if (o.count && st.stats.received >= o.count) return true;
    return o.seconds > 0 &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - st.start).count() >= o.seconds;
  };
  // One batch of queue i's socket: counted, written, forwarded or handed
  // back, released; returns how many frames it read.
  auto take = [&](std::size_t i) -> std::size_t {
    xsk::Socket& s = st.rx[i];
    const std::size_t got = s.recv(batch);
    if (!got) return 0;
    std::size_t n = got;
    if (o.count) n = std::min<std::size_t>(n, o.count - st.stats.received);  // past --count: released
    std::size_t ntx = 0, ndrop = 0;
    const std::int64_t now = st.pcap ? wall_ns() : 0;
    for (std::size_t k = 0; k < n; ++k) {
      const xsk::Frame& f = batch[k];
      auto bytes = s.data(f);
      ++st.stats.received;
      ++st.per_queue[i];
      st.stats.bytes += f.len;
      if (st.pcap && st.pcap->write(now, f.len, bytes)) ++st.stats.written;
      if (st.tap) ++(st.tap->write(bytes) ? st.stats.reinjected : st.stats.reinject_failed);
      if (!st.out) {
        drop[ndrop++] = f;
        continue;
      }
      std::optional<Mac> dst = o.dst_mac;
      if (!dst) {
        auto ip = ip_of(bytes);
        if (ip && st.neigh) dst = st.neigh->lookup(ip->family, ip->daddr);
        if (!dst) {
          ++(ip ? st.stats.no_neighbour : st.stats.not_ip);
          drop[ndrop++] = f;
          continue;
        }
      }
      switch (rewrite_for_forward(bytes, st.out_mac, *dst)) {
        case Forward::Ok: tx[ntx++] = f; break;
        case Forward::NotIp: ++st.stats.not_ip, drop[ndrop++] = f; break;
        case Forward::TtlExpired: ++st.stats.ttl_expired, drop[ndrop++] = f; break;
      }
    }
    for (std::size_t k = n; k < got; ++k) drop[ndrop++] = batch[k];
    if (ntx && st.out) {
      const std::size_t sent = st.out->send(std::span(tx.data(), ntx));
      st.stats.forwarded += sent;
      st.stats.tx_ring_full += ntx - sent;
      for (std::size_t k = sent; k < ntx; ++k) drop[ndrop++] = tx[k];
    }
    s.release(std::span(drop.data(), ndrop));
    return got;
  };
  while (!done()) {
    XG_CHECK(xsk::wait(socks, std::chrono::milliseconds(100)));
    if (st.out) st.out->complete();
    for (std::size_t i = 0; i < st.rx.size() && !done(); ++i) (void)take(i);
    if (st.pcap) XG_CHECK(st.pcap->flush());
  }
  // Stopped by a signal or --duration: what the rings hold already was
  // taken from the interface for us, so it is read too (for at most a
  // second), not lost with the socket.
  const auto drain_until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (bool more = true; more && !(o.count && st.stats.received >= o.count) &&
                         std::chrono::steady_clock::now() < drain_until;) {
    more = false;
    for (std::size_t i = 0; i < st.rx.size(); ++i) more = take(i) > 0 || more;
  }
  if (st.pcap) XG_CHECK(st.pcap->flush());
  // Frames still in the --forward TX ring leave before the socket closes
  // (at most a second: a link that went down does not hold the exit).
  if (st.out) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (st.out->tx_outstanding() && std::chrono::steady_clock::now() < until) {
      if (!st.out->complete()) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  return {};
}

Result<void> Consumer::close() {
  State& st = *st_;
  if (st.closed) return {};
  st.closed = true;
  Result<void> first;
  // Out of the map first (the fallback from the next packet on), then closed.
  for (std::uint32_t q : st.registered)
    if (auto r = st.guard->remove_xsk(q); !r && first) first = r;
  st.registered.clear();
  if (!st.rx.empty()) {
    st.stats.queues.clear();
    for (std::size_t i = 0; i < st.rx.size(); ++i) {
      QueueStats q{st.rx[i].queue(), st.per_queue[i], {}};
      if (auto k = st.rx[i].statistics()) q.kernel = *k;
      st.stats.queues.push_back(q);
      st.stats.fill_ring_full += st.rx[i].counters().fill_ring_full;
      st.stats.pool_empty += st.rx[i].counters().pool_empty;
    }
  }
  if (st.out)
    if (auto k = st.out->statistics()) st.stats.forward_kernel = *k;
  st.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - st.start).count();
  st.rx.clear();
  st.out.reset();
  if (st.pcap)
    if (auto r = st.pcap->close(); !r && first) first = r;
  return first;
}

Stats Consumer::stats() const { return st_->stats; }

nlohmann::json stats_json(const Stats& s) {
  nlohmann::json queues = nlohmann::json::array();
  for (const auto& q : s.queues)
    queues.push_back(
        {{"queue", q.queue}, {"received", q.received}, {"kernel", xdp_statistics_json(q.kernel)}});
  nlohmann::json j = {{"interface", s.ifname},
                      {"mode", s.mode},
                      {"seconds", s.seconds},
                      {"received", s.received},
                      {"bytes", s.bytes},
                      {"written", s.written},
                      {"forwarded", s.forwarded},
                      {"reinjected", s.reinjected},
                      {"reinject_failed", s.reinject_failed},
                      {"dropped",
                       {{"tx_ring_full", s.tx_ring_full},
                        {"no_neighbour", s.no_neighbour},
                        {"ttl_expired", s.ttl_expired},
                        {"not_ip", s.not_ip}}},
                      {"fill_ring_full", s.fill_ring_full},
                      {"pool_empty", s.pool_empty},
                      {"queues", queues}};
  if (s.forward_kernel) j["forward_kernel"] = xdp_statistics_json(*s.forward_kernel);
  return j;
}

std::string stats_text(const Stats& s) {
  std::uint64_t overruns = 0, fill_empty = 0;
  for (const auto& q : s.queues) {
    overruns += q.kernel.rx_ring_full + q.kernel.rx_dropped;
    fill_empty += q.kernel.rx_fill_ring_empty_descs;
  }
  std::string out = fmt::format("xsk {} ({} mode, {} queues): {} frames ({} bytes) received", s.ifname,
                                s.mode, s.queues.size(), s.received, s.bytes);
  if (s.written) out += fmt::format(", {} written", s.written);
  if (s.forward_kernel || s.forwarded)
    out += fmt::format(", {} forwarded ({} TX ring full, {} no neighbour, {} TTL expired, {} not IP)",
                       s.forwarded, s.tx_ring_full, s.no_neighbour, s.ttl_expired, s.not_ip);
  out +=
      fmt::format("; kernel: {} dropped (RX ring full or other), {} fill ring empty\n", overruns, fill_empty);
  return out;
}

}  // namespace xdpguard::consumer
