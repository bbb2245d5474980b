// A network interface's driver statistics (what `ethtool -S` prints), read
// with the SIOCETHTOOL ioctl in the calling thread's network namespace. The
// benchmarks use a veth's rx_queue_N_xdp_drops to check that a receiver
// really dropped the frames it was measured dropping.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/result.h"

namespace xdpguard::bench {

[[nodiscard]] Result<std::map<std::string, std::uint64_t>> ethtool_stats(const std::string& ifname);

// The sum of the statistics whose names end with `suffix` ("_xdp_drops").
[[nodiscard]] Result<std::uint64_t> ethtool_sum(const std::string& ifname, const std::string& suffix);

}  // namespace xdpguard::bench
