#include "bpf/clock.h"

#include <time.h>

namespace xdpguard {

std::uint64_t coarse_clock_tick_ns() {
  struct timespec res{};
  if (::clock_getres(CLOCK_MONOTONIC_COARSE, &res) != 0 || (res.tv_sec == 0 && res.tv_nsec == 0))
    return 10'000'000;
  return static_cast<std::uint64_t>(res.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(res.tv_nsec);
}

std::uint64_t monotonic_ns() {
  timespec ts{};
  (void)::clock_gettime(CLOCK_MONOTONIC, &ts);  // cannot fail for this clock
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace xdpguard
