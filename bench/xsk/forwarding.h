// xsk_bench's router rows (xsk_bench.cpp): the lab's UDP flow forwarded by
// the server to a host behind it, three ways side by side in one run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "lab/lab.h"

namespace xdpguard::bench {

// What the rows need from xsk_bench: xdpguard attached to the server's veth
// with one rule, and taken off again; that rule's packet counter; the bare
// programs (XDP_PASS on the server's veth for the kernel's forwarding,
// XDP_DROP on the far host's veth, which counts what arrived).
struct ForwardingHooks {
  std::function<Result<void>(const std::string& rule)> guard_with;
  std::function<Result<void>()> guard_off;
  std::function<Result<std::uint64_t>()> rule_count;
  int pass_fd = -1, drop_fd = -1;
};

// What the router rows found: forwarded frames/s (medians) and whether every
// check held.
struct ForwardingResult {
  double router_pps = 0, kernel_pps = 0, devmap_pps = 0;
  // The floor of any AF_XDP forwarder here: copy-mode AF_XDP TX alone (one
  // thread on the router's CPU sending ready frames on the out veth, no
  // receive, no lookup); 0 if it failed.
  double tx_floor_pps = 0;
  int failed = 0;  // rows that failed or whose checks did not hold
  nlohmann::json json;
};

// Sets up the far host (its own namespace, deleted however this ends),
// measures the three forwarders `rounds` times for `seconds` each, prints
// their table (Markdown) and returns the figures.
[[nodiscard]] Result<ForwardingResult> forwarding_rows(const Lab& lab, const ForwardingHooks& hooks,
                                                       int rounds, double seconds, std::uint16_t port,
                                                       std::uint32_t frame);

}  // namespace xdpguard::bench
