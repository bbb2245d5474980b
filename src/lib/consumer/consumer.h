// `xdpguard xsk IFACE`: a ready AF_XDP consumer of the frames `redirect xsk`
// rules send to user space (README, "Route selected flows in user space").
// One socket per RX queue of the interface (one shared UMEM, xsk/socket.h),
// each put in the interface's XSKMAP under its lock (Guard::add_xsk); the
// frames are counted, written to a pcap file, and/or forwarded out another
// interface through AF_XDP TX (TTL / hop limit decremented, Ethernet
// addresses from the neighbour table or a fixed MAC), and/or handed back to
// the kernel's stack through a TAP (--reinject). Closing takes the
// sockets out of the map: the rules' fallback is in force again.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "consumer/forward.h"
#include "core/result.h"
#include "guard/guard.h"
#include "xsk/socket.h"

namespace xdpguard::consumer {

struct Options {
  std::vector<std::uint32_t> queues;  // empty: every RX queue of the interface
  std::uint64_t count = 0;            // stop after this many frames (0: no limit)
  double seconds = 0;                 // stop after this long (0: no limit)
  std::string pcap;                   // write the frames here ("" : no file)
  std::uint32_t snaplen = 0;          // bytes of each frame written (0: whole frames)
  std::string forward;                // send the frames out this interface
  std::optional<Mac> dst_mac;         // the forwarded frames' destination MAC (else neighbours)
  bool reinject = false;              // hand the frames back to the kernel (a TAP, consumer/tap.h)
  xsk::Mode mode = xsk::Mode::Auto;
};

struct QueueStats {
  std::uint32_t queue = 0;
  std::uint64_t received = 0;
  xsk::XdpStatistics kernel;
};

struct Stats {
  std::string ifname;
  std::string mode;  // "copy" or "zero-copy"
  std::uint64_t received = 0, bytes = 0;
  std::uint64_t written = 0;  // to the pcap file
  // --forward: sent, refused by a full TX ring, without a next hop's MAC,
  // TTL / hop limit expired, not IP.
  std::uint64_t forwarded = 0, tx_ring_full = 0, no_neighbour = 0, ttl_expired = 0, not_ip = 0;
  // --reinject: written to the TAP, refused by it.
  std::uint64_t reinjected = 0, reinject_failed = 0;
  std::uint64_t fill_ring_full = 0, pool_empty = 0;  // this side's (xsk::SocketCounters)
  std::vector<QueueStats> queues;
  std::optional<xsk::XdpStatistics> forward_kernel;  // the --forward socket's
  double seconds = 0;
};
nlohmann::json stats_json(const Stats& s);
std::string stats_text(const Stats& s);

class Consumer {
 public:
  // Opens the sockets and registers them in `guard`'s map. Fails, nothing
  // left behind, on a queue that does not exist or already has a consumer,
  // AF_XDP unsupported, an MTU larger than a frame, a --forward interface
  // that does not exist.
  [[nodiscard]] static Result<Consumer> open(Guard& guard, const Interface& iface, const Options& o);
  Consumer(Consumer&&) noexcept;
  Consumer& operator=(Consumer&&) = delete;
  ~Consumer();  // close(), errors logged

  // Receives until `stop`, --count or --duration.
  [[nodiscard]] Result<void> run(const std::atomic<bool>& stop);
  // Takes the sockets out of the map and closes them. Idempotent.
  [[nodiscard]] Result<void> close();
  Stats stats() const;

 private:
  Consumer() = default;
  struct State;
  std::unique_ptr<State> st_;
};

}  // namespace xdpguard::consumer
