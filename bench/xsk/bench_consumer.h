// xsk_bench's consumers (xsk_bench.cpp): what every one does with a frame,
// what a session of one reports, and the libpcap one, in a translation unit
// of its own (pcap/bpf.h's struct bpf_insn collides with linux/bpf.h's).
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>

#include "bpf/system.h"
#include "core/result.h"

namespace xdpguard {
class Guard;
}

namespace xdpguard::bench {

using Clock = std::chrono::steady_clock;

// The per-frame work: the frame's first 64 bytes folded into a sum, so that
// reading them cannot be optimised away.
inline std::uint64_t fold(const std::uint8_t* p, std::size_t len) {
  std::uint64_t w[8] = {};
  std::memcpy(w, p, std::min<std::size_t>(len, sizeof w));
  return w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7];
}

// CPU time (user + system) of the calling thread, in seconds.
inline double thread_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

// What a consumer did in one session.
struct Session {
  std::uint64_t frames = 0, sum = 0;
  std::uint64_t sleeps = 0;  // times it blocked for want of frames
  double cpu_s = 0;
};

// What the kernel counted for a receiver (cumulative): frames that reached
// it, and of those, frames it dropped before the consumer (AF_XDP: RX ring
// full, fill ring empty, other; AF_PACKET: tp_drops).
struct Count {
  std::uint64_t seen = 0, dropped = 0;
  std::uint64_t ring_full = 0, fill_empty = 0, rx_dropped = 0, wakeups = 0;
  Count operator-(const Count& o) const {
    return {seen - o.seen,
            dropped - o.dropped,
            ring_full - o.ring_full,
            fill_empty - o.fill_empty,
            rx_dropped - o.rx_dropped,
            wakeups - o.wakeups};
  }
};

// A user-space consumer: consume() runs on the consumer thread until `stop`
// and nothing is left to read (or `deadline`); wake(), called after `stop`
// is set, ends a wait that has no timeout.
class Consumer {
 public:
  virtual ~Consumer() = default;
  virtual Session consume(const std::atomic<bool>& stop, Clock::time_point deadline) = 0;
  virtual void wake() {}
  [[nodiscard]] virtual Result<Count> count() = 0;
};

// libpcap as tcpdump opens an interface (pcap_open_live: its snaplen, the
// default buffer, a timeout of kPcapTimeoutMs; incoming frames only),
// read with pcap_dispatch. Opened in the calling thread's namespace.
inline constexpr int kPcapTimeoutMs = 100;
[[nodiscard]] Result<std::unique_ptr<Consumer>> open_pcap(const Interface& iface);

// The floor of the AF_XDP rows (floor_consumer.cpp): a consumer written
// directly on libxdp's rings, no src/lib/xsk, one copy-mode socket on queue
// 0 registered in `guard`'s XSKMAP; reads as the tuned row does. Opened in
// the calling thread's namespace; the interface must have one RX queue.
[[nodiscard]] Result<std::unique_ptr<Consumer>> open_floor_xsk(Guard& guard, const Interface& iface);

}  // namespace xdpguard::bench
