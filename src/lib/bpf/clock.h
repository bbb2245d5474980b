// The kernel's clocks as the BPF programs read them.
#pragma once

#include <cstdint>

namespace xdpguard {

// How often the kernel's tick clock (CLOCK_MONOTONIC_COARSE, what
// bpf_ktime_get_coarse_ns() reads: the limiter's clock) advances, in ns: its
// resolution, one tick (1/HZ: 4 ms at HZ=250). 10 ms if the kernel does not
// say.
std::uint64_t coarse_clock_tick_ns();

// CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns() (leases, samples).
std::uint64_t monotonic_ns();

}  // namespace xdpguard
