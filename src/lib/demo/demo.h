// `xdpguard demo`: a self-contained lab showing xdpguard at work. Creates a
// Lab, attaches xdpguard to the server side, runs legitimate traffic (a TCP
// echo session, pings) next to an attack (a bounded burst of SYNs to a closed
// port), prints a live counter table every second, then removes everything.
#pragma once

#include <cstdio>

#include "core/result.h"

namespace xdpguard {

struct DemoOptions {
  int seconds = 8;       // traffic duration
  int syn_rate = 500;    // attack SYNs per second (bounded)
  bool generic = false;  // attach in generic mode
  std::FILE* out = stdout;
};

[[nodiscard]] Result<void> run_demo(const DemoOptions& opts);

}  // namespace xdpguard
