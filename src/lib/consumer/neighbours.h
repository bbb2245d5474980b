// The kernel's neighbour table (ARP and IPv6 ND) of one interface, read
// through rtnetlink: the next hop's MAC address for a forwarded frame.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>

#include "consumer/forward.h"
#include "core/result.h"

namespace xdpguard::consumer {

class Neighbours {
 public:
  explicit Neighbours(int ifindex) : ifindex_(ifindex) {}
  // Reads the table (entries that hold a MAC: reachable, stale, delay,
  // probe, permanent, noarp).
  [[nodiscard]] Result<void> refresh();
  // The MAC of `addr` (IPv4 in the first 4 bytes); on a miss the table is
  // read again, at most once a second, so a flood of unknown destinations
  // costs one dump a second.
  std::optional<Mac> lookup(rules::Family family, const std::array<std::uint8_t, 16>& addr);
  std::size_t size() const { return table_.size(); }

 private:
  using Key = std::pair<int, std::array<std::uint8_t, 16>>;
  int ifindex_;
  std::map<Key, Mac> table_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace xdpguard::consumer
