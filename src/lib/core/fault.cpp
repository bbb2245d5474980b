#include "core/fault.h"

#include <signal.h>

#include <cstdlib>
#include <cstring>

namespace xdpguard {

void fault_point(const char* step) {
  const char* want = std::getenv("XDPGUARD_FAULT");
  if (want && std::strcmp(want, step) == 0) ::raise(SIGKILL);
  const char* stop = std::getenv("XDPGUARD_STOP");
  if (stop && std::strcmp(stop, step) == 0) ::raise(SIGSTOP);
}

}  // namespace xdpguard
