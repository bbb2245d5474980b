// xsk_bench: frames per second delivered to a user-space consumer through
// the veth lab (issue 19): AF_XDP through xdpguard (`redirect xsk`) against
// AF_PACKET TPACKET_V3 and libpcap, every consumer doing the same work on
// each frame (folding its first 64 bytes into a checksum), all measured side
// by side in one run next to the lab's limit (a bare XDP_DROP program).
//
// The generator (src/lib/gen) sends 64-byte UDP frames from the client's
// veth on the last CPU; the server veth's NAPI (XDP, the copy into the AF_XDP
// socket, AF_PACKET's receive path, the kernel stack) runs there too. The
// consumer is one thread pinned to CPU 0 that blocks when it has nothing to
// read (poll), so its CPU time is the work it did.
//
// Receivers, each set up, warmed up, measured and torn down in turn in every
// round (the figures are medians over the rounds):
//   limit       a bare XDP_DROP program on the server veth
//   xg_drop     xdpguard, `drop udp dport 9`: the pipeline without the socket
//   afxdp_defaults  xdpguard attached (Guard::attach, as `xdpguard attach`
//               does), `redirect xsk udp dport 9`, one AF_XDP socket per RX
//               queue (xsk::Umem / xsk::Socket with the library's defaults:
//               rings of 2048, 4 KiB frames; copy mode, veth has no
//               zero-copy) registered with Guard::add_xsk; recv/release
//               batches of 64, poll when the ring is empty
//   afxdp_poll  the same with rings of 32768 and 2 KiB frames
//   afxdp       the same with the consumer tuned (the goals' row): batches
//               of 256, each batch's frame data prefetched before it is
//               folded, and after a batch that emptied the RX ring a 1 ms
//               nap before reading again (poll only when the ring was empty)
//   afxdp_spin  the same, the consumer never sleeping (no nap, no poll)
//   afxdp_floor the floor of the consumer CPU goal: the afxdp row's reading
//               written directly on libxdp's rings, without src/lib/xsk
//               (floor_consumer.cpp): one socket, its fill ring refilled with
//               the frames it read; what any consumer of a copy-mode socket
//               pays per frame here, library or not
//   tpacket     AF_PACKET TPACKET_V3 (an mmap'd ring of 64 1-MiB blocks) on the
//               server veth, no xdpguard: a bare XDP_PASS program only, which
//               a veth needs to take the generator's XDP_TX frames at all
//   pcap        libpcap as users run it: pcap_open_live (tcpdump's snaplen,
//               the default 2 MiB buffer), pcap_dispatch; same XDP_PASS
//
// Then the router rows (forwarding.cpp): the same flow forwarded by the
// server to a host behind it by examples/xsk_router, by the kernel and by
// xdpguard's `redirect dev` (goal: the router >= 1.5x the kernel).
//
// Checks, every round: the kernel saw every frame the generator delivered
// (the veth's rx_packets; xdpguard's `redirect xsk` counter, the veth's XDP
// drops or the rule counter; AF_PACKET's tp_packets, libpcap's ps_recv) and
// the consumer read every frame the kernel did not drop, within 1%.
//
// Consumer CPU per frame (the goal: 3x below TPACKET_V3's). Both are the
// consumer thread's CPU time (user + system, getrusage) over the frames it
// read. TPACKET_V3's consumer wakes once per retired block: at its ~0.3
// Mpps a 1 MiB block (~7,000 frames) retires by its 10 ms timeout, so it
// sleeps about once per 2,000-3,000 frames. An AF_XDP consumer that polls
// whenever its ring is empty is woken per NAPI batch, every ~120 frames
// (afxdp_poll): ~165 ns/frame. What each change measured, each in one run
// beside tpacket on this 2-CPU VM (others' builds running; figures move by
// 20% between runs, the ratios less):
//   - prefetching a 256-frame batch alone: 182 vs 189 ns (no gain: batches
//     were a few frames);
//   - a nap after a batch that emptied the ring (as TPACKET_V3's block
//     timeout gathers frames): with unprefetched batches of 64, 1 ms: 221
//     vs 189 ns (still ~8 sleeps per 1,000 frames); with prefetched batches
//     of 256, 1 ms: 69 ns, 3 ms: 67 (unprefetched, 3 ms: 87): one sleep per
//     ~2,000 frames, as TPACKET_V3;
//   - a smaller UMEM (4,096 or 16,384 frames instead of 65,536: fewer pages
//     and TLB misses): no change (64, 68 ns; 4,096 frames drop frames);
//   - transparent huge pages for the UMEM (MADV_HUGEPAGE): the pages stayed
//     small (pinned by the UMEM registration); no change;
//   - the frame pool's per-frame division by the frame size made a shift
//     (FramePool), the UMEM kept out of fork()s (MADV_DONTFORK: forking `ip`
//     had copied the pinned UMEM, in the main thread): within the noise
//     (62 ns) for the consumer;
//   - SO_PREFER_BUSY_POLL + SO_BUSY_POLL 20 us + SO_BUSY_POLL_BUDGET 256: no
//     change (69 and 200 ns with and without the nap): a copy-mode socket on
//     a veth has no NAPI id to busy-poll.
// What is left (perf): ~85% of the consumer's time is the first load of
// each frame's data (the prefetch instructions themselves stall): every
// frame is a cache line the kernel just wrote on the other CPU (copy mode),
// a cache-to-cache transfer; TPACKET_V3's frames lie packed in its block
// and stream in. The last run: afxdp 61 ns/frame, afxdp_poll 167,
// TPACKET_V3 34: 0.55x, the goal missed.
//
//   xsk_bench [--quick] [--json FILE]
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/ethtool.h"
#include "common/lab_xdp.h"
#include "common/workloads.h"
#include "core/unique_fd.h"
#include "guard/guard.h"
#include "lab/lab.h"
#include "xsk/socket.h"
#include "xsk/bench_consumer.h"
#include "xsk/forwarding.h"

using namespace xdpguard;
using bench::Clock;
using bench::Consumer;
using bench::Count;
using bench::fold;
using bench::kPcapTimeoutMs;
using bench::Session;
using bench::thread_cpu_s;

namespace {

constexpr std::uint16_t kPort = 9;
constexpr std::uint32_t kFrame = 64;
constexpr std::size_t kBatch = 64;  // frames per recv/release
constexpr auto kPoll = std::chrono::milliseconds(10);
// Fill and RX rings that ride out the consumer's scheduling delays on a busy
// machine (about 30 ms of frames at 1 Mpps; the 2048 of the library's
// defaults, about 2 ms, lose frames here).
constexpr std::uint32_t kBigRing = 32768;

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

// How the AF_XDP consumer reads (the rows differ only in this).
struct XskTuning {
  std::size_t batch = kBatch;  // frames per recv/release
  bool prefetch = false;       // prefetch a batch's frame data before folding it
  // After a batch that emptied the RX ring, sleep this long before reading
  // again (0: read again at once, poll when empty), so that frames gather
  // in the ring as they do in a TPACKET_V3 block.
  std::chrono::microseconds nap{0};
  bool spin = false;  // never sleep
};

// The afxdp row's consumer (see the header for what each part measured).
constexpr std::size_t kTunedBatch = 256;
constexpr XskTuning kTuned{.batch = kTunedBatch, .prefetch = true, .nap = std::chrono::milliseconds(1)};

// AF_XDP sockets on a shared Umem, one per RX queue, in xdpguard's map.
class XskConsumer : public Consumer {
 public:
  XskConsumer(Guard& g, XskTuning t) : guard_(g), t_(t) {}
  ~XskConsumer() override {
    for (auto& s : socks_)
      if (auto r = guard_.remove_xsk(s.queue()); !r)
        std::fprintf(stderr, "  %s\n", r.error().message().c_str());
  }
  Result<void> open(const Interface& i, const xsk::UmemConfig& ucfg, const xsk::SocketConfig& scfg) {
    const std::uint32_t queues = xsk::rx_queue_count(i.name).value_or(1);
    umem_.emplace(XG_TRY(xsk::Umem::create(ucfg)));
    for (std::uint32_t q = 0; q < queues; ++q) {
      socks_.push_back(XG_TRY(xsk::Socket::create(*umem_, i.name, q, scfg)));
      if (auto r = guard_.add_xsk(q, socks_.back().fd()); !r) {
        socks_.pop_back();
        return r;
      }
    }
    return {};
  }
  const char* mode() const { return socks_.empty() ? "-" : xsk::mode_name(socks_.front().mode()); }

  Session consume(const std::atomic<bool>& stop, Clock::time_point deadline) override {
    Session s;
    std::vector<xsk::Socket*> ptrs;
    for (auto& k : socks_) ptrs.push_back(&k);
    std::vector<xsk::Frame> batch(t_.batch);
    const double cpu0 = thread_cpu_s();
    for (;;) {
      std::size_t got = 0;
      bool drained = true;
      for (auto& k : socks_) {
        const std::size_t n = k.recv(batch);
        if (n == batch.size()) drained = false;
        const std::uint8_t* area = k.data(xsk::Frame{}).data();  // the UMEM's start
        if (t_.prefetch)
          for (std::size_t j = 0; j < n; ++j) __builtin_prefetch(area + batch[j].addr);
        for (std::size_t j = 0; j < n; ++j) s.sum += fold(area + batch[j].addr, batch[j].len);
        k.release(std::span(batch.data(), n));
        got += n;
      }
      s.frames += got;
      if (got && !drained) continue;
      if (got) {
        if (t_.nap.count() > 0) {
          ++s.sleeps;
          std::this_thread::sleep_for(t_.nap);
        }
        continue;
      }
      if (stop.load(std::memory_order_relaxed) || Clock::now() > deadline) break;
      if (!t_.spin) {
        ++s.sleeps;
        (void)xsk::wait(ptrs, kPoll);
      }
    }
    s.cpu_s = thread_cpu_s() - cpu0;
    return s;
  }
  Result<Count> count() override {
    Count c;
    c.seen = XG_TRY(guard_.stats()).xsk[XDPGUARD_XSK_REDIRECTED].packets;
    for (const auto& k : socks_) {
      const auto st = XG_TRY(k.statistics());
      c.ring_full += st.rx_ring_full;
      c.fill_empty += st.rx_fill_ring_empty_descs;
      c.rx_dropped += st.rx_dropped;
      c.wakeups += k.counters().rx_wakeups;
    }
    // A frame dropped for want of a fill-ring frame is counted in both
    // rx_fill_ring_empty_descs and rx_dropped (the kernel's __xsk_rcv).
    c.dropped = c.ring_full + c.rx_dropped;
    return c;
  }

 private:
  Guard& guard_;
  XskTuning t_;
  std::optional<xsk::Umem> umem_;
  std::vector<xsk::Socket> socks_;  // after umem_: destroyed first
};

// AF_PACKET TPACKET_V3: an mmap'd ring of blocks the kernel fills and
// retires (full, or after retire_ms), the consumer walks and hands back.
class TpacketConsumer : public Consumer {
 public:
  ~TpacketConsumer() override {
    if (ring_ != MAP_FAILED) munmap(ring_, size_);
  }
  Result<void> open(const Interface& i) {
    fd_ = UniqueFd(::socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
    if (!fd_) return fail_errno(errno, "AF_PACKET socket");
    int v = TPACKET_V3, one = 1;
    if (setsockopt(fd_.get(), SOL_PACKET, PACKET_VERSION, &v, sizeof v) != 0)
      return fail_errno(errno, "PACKET_VERSION TPACKET_V3");
    // The server's ICMP errors going out are not the measured traffic.
    (void)setsockopt(fd_.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    tpacket_req3 req{};
    req.tp_block_size = 1u << 20;
    req.tp_block_nr = 64;
    req.tp_frame_size = 2048;
    req.tp_frame_nr = req.tp_block_size / req.tp_frame_size * req.tp_block_nr;
    req.tp_retire_blk_tov = 10;  // ms
    if (setsockopt(fd_.get(), SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
      return fail_errno(errno, "PACKET_RX_RING");
    blocks_ = req.tp_block_nr;
    block_size_ = req.tp_block_size;
    size_ = static_cast<std::size_t>(blocks_) * block_size_;
    ring_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd_.get(), 0);
    if (ring_ == MAP_FAILED) return fail_errno(errno, "mmap the TPACKET_V3 ring");
    sockaddr_ll ll{};
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_ALL);
    ll.sll_ifindex = i.ifindex;
    if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&ll), sizeof ll) != 0)
      return fail_errno(errno, "bind AF_PACKET to " + i.name);
    return {};
  }
  Session consume(const std::atomic<bool>& stop, Clock::time_point deadline) override {
    Session s;
    const double cpu0 = thread_cpu_s();
    for (;;) {
      auto* bd = reinterpret_cast<tpacket_block_desc*>(static_cast<std::uint8_t*>(ring_) +
                                                       static_cast<std::size_t>(cur_) * block_size_);
      if ((__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) {
        if (stop.load(std::memory_order_relaxed) || Clock::now() > deadline) break;
        ++s.sleeps;
        pollfd p{fd_.get(), POLLIN | POLLERR, 0};
        (void)poll(&p, 1, static_cast<int>(kPoll.count()));
        continue;
      }
      const std::uint32_t n = bd->hdr.bh1.num_pkts;
      auto* h = reinterpret_cast<tpacket3_hdr*>(reinterpret_cast<std::uint8_t*>(bd) +
                                                bd->hdr.bh1.offset_to_first_pkt);
      for (std::uint32_t k = 0; k < n; ++k) {
        s.sum += fold(reinterpret_cast<const std::uint8_t*>(h) + h->tp_mac, h->tp_snaplen);
        h = reinterpret_cast<tpacket3_hdr*>(reinterpret_cast<std::uint8_t*>(h) + h->tp_next_offset);
      }
      s.frames += n;
      __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      cur_ = (cur_ + 1) % blocks_;
    }
    s.cpu_s = thread_cpu_s() - cpu0;
    return s;
  }
  // PACKET_STATISTICS resets the kernel's counters: summed here.
  Result<Count> count() override {
    tpacket_stats_v3 st{};
    socklen_t len = sizeof st;
    if (getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0)
      return fail_errno(errno, "PACKET_STATISTICS");
    total_.seen += st.tp_packets;  // drops included
    total_.dropped += st.tp_drops;
    return total_;
  }

 private:
  UniqueFd fd_;
  void* ring_ = MAP_FAILED;
  std::size_t size_ = 0;
  std::uint32_t blocks_ = 0, block_size_ = 0, cur_ = 0;
  Count total_;
};

struct Receiver {
  std::string key, label;
  std::function<Result<void>()> setup, teardown;
  // The kernel's count when no consumer (the frames end in XDP).
  std::function<Result<std::uint64_t>()> xdp_count;
  std::string counted;  // what the kernel's count is, for messages
};

// Every round's figures of one receiver, and its checks summed over rounds.
struct Sample {
  std::vector<double> offered, received, cpu_ns;
  std::uint64_t delivered = 0, arrived = 0, frames = 0, sleeps = 0;
  Count kernel;
  std::string bad_round, error;
  bool ok() const { return error.empty() && bad_round.empty() && !received.empty(); }
};

// "a == b within 1% (and a few frames)"
bool close(std::uint64_t a, std::uint64_t b) {
  const double d = std::abs(static_cast<double>(a) - static_cast<double>(b));
  return d <= 0.01 * static_cast<double>(b) + 16;
}

std::string mpps(double pps) { return fmt::format("{:.3f}", pps / 1e6); }

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);  // best effort: steadier figures
}

}  // namespace

int run_bench(const bench::Args& args) {
  const auto& [quick, json_path] = args;
  auto die = [](const std::string& what) {
    std::fprintf(stderr, "xsk_bench: %s\n", what.c_str());
    return 1;
  };
  // The machine is shared: the consumer and the generator (threads made
  // from this one inherit it) take their CPU from others' builds first.
  if (setpriority(PRIO_PROCESS, 0, -20) != 0)
    std::fprintf(stderr, "xsk_bench: nice -20: %s\n", std::strerror(errno));
  const int rounds = quick ? 3 : 7;
  const double secs = quick ? 0.5 : 1.0;
  // After the generator stops: the last frames through NAPI, the last
  // TPACKET_V3 blocks retired, libpcap's timeout passed.
  const auto drain = std::chrono::milliseconds(2 * kPcapTimeoutMs + 50);

  LabOptions lo;
  lo.ipv6 = false;  // no ND/MLD chatter in the counters
  auto lab = Lab::create(lo);
  if (!lab) return die(lab.error().message());
  auto generator = bench::lab_udp_generator(*lab, kPort, kFrame);
  if (!generator) return die(generator.error().message());
  auto drop = bench::bare_program(XDP_DROP);
  auto pass = bench::bare_program(XDP_PASS);
  if (!drop || !pass) return die("cannot load the bare programs");
  const LabHost& srv = lab->server();
  auto on_server = [&](const std::function<Result<void>(const Interface&)>& fn) {
    return bench::on_host(srv, fn);
  };

  // ---- the receivers' parts
  std::optional<Guard> guard;
  std::unique_ptr<Consumer> consumer;
  std::string xsk_mode;
  auto guard_with = [&](const std::string& rule) -> Result<void> {
    return on_server([&](const Interface& i) -> Result<void> {
      guard.emplace(XG_TRY(Guard::attach(i, AttachMode::Native, GuardConfig{}, [&](Guard& g) -> Result<void> {
        XG_TRY(g.replace_rules({rule}));
        return {};
      })));
      return {};
    });
  };
  auto guard_off = [&]() -> Result<void> {
    return on_server([&](const Interface& i) {
      consumer.reset();  // its sockets out of the map (from the namespace) and closed first
      guard.reset();
      return Guard::detach(i);
    });
  };
  // The library's defaults (what `xdpguard xsk` uses: rings of 2048, 4 KiB
  // frames) or rings of kBigRing and 2 KiB frames (`big`).
  auto afxdp = [&](bool big, XskTuning tune) {
    return [&, big, tune]() -> Result<void> {
      XG_CHECK(guard_with(fmt::format("redirect xsk udp dport {}", kPort)));
      return on_server([&](const Interface& i) -> Result<void> {
        auto c = std::make_unique<XskConsumer>(*guard, tune);
        xsk::UmemConfig ucfg;
        xsk::SocketConfig scfg;
        if (big) {
          ucfg.frame_size = 2048;
          ucfg.fill_size = scfg.rx_size = kBigRing;
          ucfg.frame_count = 2 * kBigRing;
        }
        XG_CHECK(c->open(i, ucfg, scfg));
        xsk_mode = c->mode();
        consumer = std::move(c);
        return {};
      });
    };
  };
  auto packet_with = [&](auto make) {
    return [&, make]() -> Result<void> {
      XG_CHECK(bench::attach_xdp(srv, pass->get()));
      return on_server([&](const Interface& i) -> Result<void> {
        consumer = XG_TRY(make(i));
        return {};
      });
    };
  };
  auto packet_off = [&]() -> Result<void> {
    consumer.reset();
    return bench::detach_xdp(srv);
  };
  auto xdp_drops = [&]() -> Result<std::uint64_t> {
    std::uint64_t n = 0;
    XG_CHECK(on_server([&](const Interface& i) -> Result<void> {
      n = XG_TRY(bench::ethtool_sum(i.name, "_xdp_drops"));
      return {};
    }));
    return n;
  };
  auto rule_count = [&]() -> Result<std::uint64_t> {
    if (!guard) return fail(ENOENT, "xdpguard is not attached");
    auto rules = XG_TRY(guard->rules());
    if (rules.empty()) return fail(ENOENT, "no rule installed");
    return rules.front().counter.packets;
  };

  std::vector<Receiver> rx;
  rx.push_back({"limit", "bare XDP_DROP program (the limit)",
                [&] { return bench::attach_xdp(srv, drop->get()); }, [&] { return bench::detach_xdp(srv); },
                xdp_drops, "veth XDP drops"});
  rx.push_back({"xg_drop", "xdpguard, `drop udp dport 9` (the pipeline, no socket)",
                [&] { return guard_with(fmt::format("drop udp dport {}", kPort)); }, guard_off, rule_count,
                "rule counter"});
  rx.push_back(
      {"afxdp_defaults",
       "AF_XDP via xdpguard `redirect xsk udp dport 9`, the library's defaults (rings of 2048, 4 KiB "
       "frames), poll when idle",
       afxdp(false, XskTuning{}),
       guard_off,
       {},
       "xdpguard redirected"});
  rx.push_back(
      {"afxdp_poll",
       "AF_XDP via xdpguard, rings of 32768, 2 KiB frames, batches of 64, poll whenever the ring is empty",
       afxdp(true, XskTuning{}),
       guard_off,
       {},
       "xdpguard redirected"});
  rx.push_back({"afxdp",
                "AF_XDP via xdpguard, rings of 32768, 2 KiB frames, batches of 256 prefetched, a 1 ms nap "
                "after draining the ring",
                afxdp(true, kTuned),
                guard_off,
                {},
                "xdpguard redirected"});
  rx.push_back({"afxdp_floor",
                "floor: a consumer written on libxdp's rings (no library), one socket, read as the row above",
                [&]() -> Result<void> {
                  XG_CHECK(guard_with(fmt::format("redirect xsk udp dport {}", kPort)));
                  return on_server([&](const Interface& i) -> Result<void> {
                    consumer = XG_TRY(bench::open_floor_xsk(*guard, i));
                    return {};
                  });
                },
                guard_off,
                {},
                "xdpguard redirected"});
  rx.push_back(
      {"afxdp_spin",
       "AF_XDP via xdpguard, rings of 32768, batches of 256 prefetched, the consumer spinning (never "
       "sleeps)",
       afxdp(true, XskTuning{.batch = kTunedBatch, .prefetch = true, .spin = true}),
       guard_off,
       {},
       "xdpguard redirected"});
  rx.push_back({"tpacket",
                "AF_PACKET TPACKET_V3 (64 x 1 MiB blocks, 10 ms retire), no xdpguard",
                packet_with([](const Interface& i) -> Result<std::unique_ptr<Consumer>> {
                  auto c = std::make_unique<TpacketConsumer>();
                  XG_CHECK(c->open(i));
                  return std::unique_ptr<Consumer>(std::move(c));
                }),
                packet_off,
                {},
                "tp_packets"});
  rx.push_back({"pcap",
                "libpcap pcap_open_live + pcap_dispatch, no xdpguard",
                packet_with([](const Interface& i) { return bench::open_pcap(i); }),
                packet_off,
                {},
                "ps_recv"});
  bool forwarding = true;
  if (const char* only = std::getenv("XDPGUARD_BENCH_ONLY"); only && *only) {
    const std::string keys = std::string(",") + only + ",";
    forwarding = keys.find(",forwarding,") != std::string::npos;
    std::erase_if(rx, [&](const Receiver& r) {
      return r.key != "limit" && keys.find("," + r.key + ",") == std::string::npos;
    });
  }

  // One session: the consumer thread (CPU 0) reads while the generator
  // sends for `seconds` (at `rate`, 0: as fast as it can).
  struct Run {
    gen::Progress sent;
    Session session;
    Count kernel;
    std::uint64_t arrived = 0;
  };
  auto session = [&](const Receiver& r, double seconds, double rate) -> Result<Run> {
    Run run;
    const auto link0 = XG_TRY(lab->link_counters(srv));
    Count k0;
    if (consumer)
      k0 = XG_TRY(consumer->count());
    else
      k0.seen = XG_TRY(r.xdp_count());
    std::atomic<bool> stop{false}, ready{false};
    std::thread t;
    if (consumer) {
      const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                               std::chrono::duration<double>(seconds + 30));
      t = std::thread([&, deadline] {
        pin_to(0);
        ready = true;
        run.session = consumer->consume(stop, deadline);
      });
      while (!ready) std::this_thread::yield();
    }
    auto sent = bench::send_from_client(
        *lab, *generator, gen::Limits{static_cast<std::uint64_t>(30e6 * seconds), seconds, rate});
    std::this_thread::sleep_for(drain);
    stop = true;
    if (consumer) consumer->wake();
    if (t.joinable()) t.join();
    XG_CHECK(sent);
    run.sent = *sent;
    Count k1;
    if (consumer)
      k1 = XG_TRY(consumer->count());
    else
      k1.seen = XG_TRY(r.xdp_count());
    run.kernel = k1 - k0;
    run.arrived = XG_TRY(lab->link_counters(srv)).rx_packets - link0.rx_packets;
    return run;
  };
  // Adds a measured run to s and checks it.
  auto record = [&](Sample& s, const Run& run, bool consumes) {
    const std::uint64_t delivered = run.sent.delivered();
    const double t = run.sent.seconds;
    s.offered.push_back(run.sent.pps());
    const std::uint64_t got = consumes ? run.session.frames : run.kernel.seen - run.kernel.dropped;
    s.received.push_back(t > 0 ? static_cast<double>(got) / t : 0);
    if (consumes && got) s.cpu_ns.push_back(run.session.cpu_s * 1e9 / static_cast<double>(got));
    s.delivered += delivered, s.arrived += run.arrived, s.frames += got, s.sleeps += run.session.sleeps;
    const Count& k = run.kernel;
    s.kernel.seen += k.seen, s.kernel.dropped += k.dropped, s.kernel.ring_full += k.ring_full;
    s.kernel.fill_empty += k.fill_empty, s.kernel.rx_dropped += k.rx_dropped, s.kernel.wakeups += k.wakeups;
    const bool ok =
        close(run.arrived, delivered) && close(k.seen, delivered) && close(got + k.dropped, k.seen);
    if (s.bad_round.empty() && !ok)
      s.bad_round = fmt::format(
          "round {}: {} delivered, veth received {}, kernel counted {} ({} dropped), "
          "consumer read {}",
          s.received.size(), delivered, run.arrived, k.seen, k.dropped, got);
  };

  std::vector<Sample> samples(rx.size());
  for (int round = 1; round <= rounds; ++round) {
    std::fprintf(stderr, "  round %d of %d\n", round, rounds);
    for (std::size_t i = 0; i < rx.size(); ++i) {
      Sample& s = samples[i];
      if (!s.error.empty()) continue;
      std::fprintf(stderr, "    %s ...\n", rx[i].label.c_str());
      Result<void> res = rx[i].setup();
      if (res) {
        auto warm = session(rx[i], 0.2, 0);
        auto run = warm ? session(rx[i], secs, 0) : warm;
        if (run)
          record(s, *run, consumer != nullptr);
        else
          res = tl::unexpected(run.error());
      }
      auto down = rx[i].teardown();  // also after a failed setup
      if (!res)
        s.error = res.error().message();
      else if (!down)
        s.error = down.error().message();
      if (rx[i].key == "limit" && !s.error.empty()) return die("the limit: " + s.error);
    }
  }

  // ---- report
  auto find = [&](const char* key) -> const Sample* {
    for (std::size_t i = 0; i < rx.size(); ++i)
      if (rx[i].key == key && samples[i].ok()) return &samples[i];
    return nullptr;
  };
  const Sample* lim = find("limit");
  const double lim_pps = lim ? bench::median(lim->received) : 0;
  int met = 0, missed = 0, bad = 0;
  nlohmann::json out = {{"frame_bytes", kFrame},
                        {"rounds", rounds},
                        {"seconds_per_round", secs},
                        {"batch", kBatch},
                        {"xsk_mode", xsk_mode}};
  std::printf(
      "## Frames/s to a user-space consumer through a veth lab (64-byte UDP; the consumer folds each "
      "frame's first 64 bytes into a sum on CPU 0, the generator and the veth's NAPI on CPU 1; %d rounds "
      "of %.1f s per receiver, medians)\n\n",
      rounds, secs);
  std::printf(
      "| receiver | offered Mpps | received Mpps (min / median / max) | x limit | kernel drops | consumer "
      "CPU "
      "ns/frame | checked |\n|---|---:|---:|---:|---|---:|---|\n");
  for (std::size_t i = 0; i < rx.size(); ++i) {
    const Sample& s = samples[i];
    if (!s.error.empty() || s.received.empty()) {
      ++bad;
      std::printf("| %s | - | - | - | - | - | FAILED: %s |\n", rx[i].label.c_str(), s.error.c_str());
      out["receivers"][rx[i].key] = {{"label", rx[i].label}, {"error", s.error}};
      continue;
    }
    if (!s.ok()) ++bad;
    const double med = bench::median(s.received);
    const bool xsk = rx[i].key.starts_with("afxdp");
    std::string drops = "-";
    if (xsk)
      drops = fmt::format("{} (RX ring full {}, fill ring empty {}, other {})", s.kernel.dropped,
                          s.kernel.ring_full, s.kernel.fill_empty, s.kernel.rx_dropped - s.kernel.fill_empty);
    else if (!s.cpu_ns.empty())
      drops = fmt::format("{} ({} of {})", s.kernel.dropped, rx[i].key == "pcap" ? "ps_drop" : "tp_drops",
                          rx[i].counted);
    const std::string check =
        fmt::format("{}{}: {} of {} delivered, consumer read {}",
                    s.ok() ? "ok, " : "CHECK FAILED: ", rx[i].counted, s.kernel.seen, s.delivered, s.frames) +
        (s.bad_round.empty() ? "" : "; " + s.bad_round);
    std::printf("| %s | %s | %s / %s / %s | %.2f | %s | %s | %s |\n", rx[i].label.c_str(),
                mpps(bench::median(s.offered)).c_str(),
                mpps(*std::min_element(s.received.begin(), s.received.end())).c_str(), mpps(med).c_str(),
                mpps(*std::max_element(s.received.begin(), s.received.end())).c_str(),
                lim_pps > 0 ? med / lim_pps : 0, drops.c_str(),
                s.cpu_ns.empty() ? "-" : fmt::format("{:.0f}", bench::median(s.cpu_ns)).c_str(),
                check.c_str());
    out["receivers"][rx[i].key] = {{"label", rx[i].label},
                                   {"offered_pps", s.offered},
                                   {"received_pps", s.received},
                                   {"median_offered_pps", bench::median(s.offered)},
                                   {"median_received_pps", med},
                                   {"x_limit", lim_pps > 0 ? med / lim_pps : 0},
                                   {"cpu_ns_per_frame", s.cpu_ns},
                                   {"median_cpu_ns_per_frame", bench::median(s.cpu_ns)},
                                   {"delivered", s.delivered},
                                   {"kernel_seen", s.kernel.seen},
                                   {"kernel_dropped", s.kernel.dropped},
                                   {"rx_ring_full", s.kernel.ring_full},
                                   {"fill_ring_empty", s.kernel.fill_empty},
                                   {"rx_dropped", s.kernel.rx_dropped},
                                   {"consumer_frames", s.frames},
                                   {"consumer_sleeps", s.sleeps},
                                   {"rx_wakeups", s.kernel.wakeups},
                                   {"check_ok", s.ok()},
                                   {"check", check}};
  }

  // ---- the router rows (forwarding.h)
  std::optional<bench::ForwardingResult> fwd;
  if (forwarding) {
    const bench::ForwardingHooks hooks{guard_with, guard_off, rule_count, pass->get(), drop->get()};
    auto r = bench::forwarding_rows(*lab, hooks, rounds, secs, kPort, kFrame);
    if (r) {
      fwd = std::move(*r);
      bad += fwd->failed;
      out["forwarding"] = fwd->json;
    } else {
      ++bad;
      std::printf("\nForwarding: FAILED: %s\n", r.error().message().c_str());
      out["forwarding"] = {{"error", r.error().message()}};
    }
  }

  // ---- goals (issue 19), on medians of this run
  std::printf("\n| goal | figure | |\n|---|---|---|\n");
  nlohmann::json goals = nlohmann::json::array();
  auto goal = [&](const std::string& what, std::optional<double> value, const std::string& figure, bool ok) {
    if (!value) {
      ++missed;
      std::printf("| %s | not measured | MISSED |\n", what.c_str());
      goals.push_back({{"goal", what}, {"met", false}, {"error", "not measured"}});
      return;
    }
    (ok ? met : missed)++;
    std::printf("| %s | %s | %s |\n", what.c_str(), figure.c_str(), bench::verdict_word(ok));
    goals.push_back({{"goal", what}, {"value", *value}, {"figure", figure}, {"met", ok}});
  };
  const Sample *x = find("afxdp"), *spin = find("afxdp_spin"), *tp = find("tpacket"), *xd = find("xg_drop");
  if (x) {
    const std::uint64_t d = x->kernel.ring_full + x->kernel.fill_empty;
    goal("AF_XDP lossless at the lab's full offered rate (0 RX-ring and fill-ring drops)",
         static_cast<double>(d),
         fmt::format("{} dropped of {} redirected at {} Mpps offered", d, x->kernel.seen,
                     mpps(bench::median(x->offered))),
         d == 0);
  } else {
    goal("AF_XDP lossless at the lab's full offered rate", std::nullopt, "", false);
  }
  if (x && tp) {
    const double r = bench::median(x->received) / bench::median(tp->received);
    goal("AF_XDP frames/s >= 2.2x TPACKET_V3's", r, fmt::format("{:.2f}x", r), r >= 2.2);
    const double c = bench::median(tp->cpu_ns) / bench::median(x->cpu_ns);
    const Sample* fl = find("afxdp_floor");
    goal("consumer CPU per frame >= 3x lower than TPACKET_V3's", c,
         fmt::format("{:.2f}x ({:.0f} vs {:.0f} ns/frame; the floor, a consumer on libxdp's rings without "
                     "the library: {})",
                     c, bench::median(tp->cpu_ns), bench::median(x->cpu_ns),
                     fl ? fmt::format("{:.0f} ns/frame, {:.2f}x TPACKET_V3's", bench::median(fl->cpu_ns),
                                      bench::median(tp->cpu_ns) / bench::median(fl->cpu_ns))
                        : std::string("not measured")),
         c >= 3);
  } else {
    goal("AF_XDP frames/s >= 2.2x TPACKET_V3's", std::nullopt, "", false);
    goal("consumer CPU per frame >= 3x lower than TPACKET_V3's", std::nullopt, "", false);
  }
  if (fwd && fwd->router_pps > 0 && fwd->kernel_pps > 0) {
    const double r = fwd->router_pps / fwd->kernel_pps;
    goal("xsk_router forwards >= 1.5x the kernel's frames/s", r,
         fmt::format("{:.2f}x ({} vs {} Mpps; xdpguard `redirect dev`: {} Mpps; the floor, AF_XDP TX alone "
                     "in copy mode: {} Mpps = {:.2f}x the kernel)",
                     r, mpps(fwd->router_pps), mpps(fwd->kernel_pps), mpps(fwd->devmap_pps),
                     mpps(fwd->tx_floor_pps), fwd->tx_floor_pps / fwd->kernel_pps),
         r >= 1.5);
  } else if (forwarding) {
    goal("xsk_router forwards >= 1.5x the kernel's frames/s", std::nullopt, "", false);
  }
  out["goals"] = goals;

  // ---- where the generator CPU's time per frame goes (1 / offered rate)
  if (x && lim && xd) {
    auto ns = [](const Sample& s) { return 1e9 / bench::median(s.offered); };
    const double l = ns(*lim), dr = ns(*xd), xs = ns(*x);
    std::printf(
        "\nAF_XDP delivered %.2f of the bare XDP_DROP limit (%s of %s Mpps). Per frame on the generator's "
        "CPU "
        "(1 / offered rate): the limit %.0f ns (the generator and the veth); xdpguard's pipeline adds %.0f "
        "ns "
        "(`drop udp dport 9`); the redirect into the socket adds %.0f ns more (XSKMAP lookup, the copy of "
        "the "
        "frame into the UMEM, the RX and fill rings, waking the consumer)",
        bench::median(x->received) / lim_pps, mpps(bench::median(x->received)).c_str(), mpps(lim_pps).c_str(),
        l, dr - l, xs - dr);
    nlohmann::json w = {{"limit_ns", l}, {"pipeline_ns", dr - l}, {"redirect_ns", xs - dr}};
    if (spin) {
      // A consumer that never sleeps spares the kernel the wakeups, but its
      // endless reads of the rings' producer and consumer words pull their
      // cache lines away from the kernel's CPU at every frame.
      const double sp = ns(*spin);
      std::printf("; a consumer that never sleeps changes that by %+.0f ns (%s)", sp - xs,
                  sp > xs ? "the wakeups cost less than its cache-line traffic on the rings"
                          : "what the wakeups cost");
      w["spinning_consumer_ns"] = sp - xs;
    }
    std::printf(
        ". The consumer slept %.3f times per 1,000 frames; it kicked the kernel for the fill ring "
        "(need_wakeup) %llu "
        "times.\n",
        x->frames ? 1e3 * static_cast<double>(x->sleeps) / static_cast<double>(x->frames) : 0,
        static_cast<unsigned long long>(x->kernel.wakeups));
    out["where_the_time_goes"] = w;
  }
  std::printf("\nGoals: %d met, %d missed.%s\n", met, missed,
              bad ? fmt::format(" {} receiver check(s) FAILED.", bad).c_str() : "");
  out["goals_met"] = met;
  out["goals_missed"] = missed;
  out["check_failures"] = bad;
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return bad ? 1 : 0;
}  // NOLINT(clang-analyzer-cplusplus.NewDeleteLeaks)

int main(int argc, char** argv) { return bench::guarded_main("xsk_bench", run_bench, argc, argv); }
