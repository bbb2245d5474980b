// The fault points of `xdpguard-faults`, the test build's binary for the
// crash and lifecycle tests (src/lib/core/fault.h): XDPGUARD_FAULT=<step>
// kills the process with SIGKILL at that step, XDPGUARD_STOP=<step> stops it
// there (SIGSTOP) until the test sends SIGCONT. Linked into that binary only,
// where it takes the place of the product's no-op definition
// (src/lib/core/fault.cpp).
#include <signal.h>

#include <cstdlib>
#include <cstring>

#include "core/fault.h"

namespace xdpguard {

void fault_point(const char* step) {
  if (fault_points_off()) return;
  const char* want = std::getenv("XDPGUARD_FAULT");
  if (want && std::strcmp(want, step) == 0) ::raise(SIGKILL);
  const char* stop = std::getenv("XDPGUARD_STOP");
  if (stop && std::strcmp(stop, step) == 0) ::raise(SIGSTOP);
}

}  // namespace xdpguard
