// BPF_PROG_TEST_RUN for XDP programs: run a program on a frame in the kernel
// without any interface, and read back the verdict and the (possibly
// rewritten) frame. Used by the bpf tests and the ns/packet benchmarks.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/result.h"

namespace xdpguard {

struct TestRunResult {
  std::uint32_t verdict = 0;      // XDP_* action
  std::vector<std::uint8_t> out;  // frame after the program
  std::uint32_t duration_ns = 0;  // mean per repetition, as the kernel reports
};

[[nodiscard]] Result<TestRunResult> test_run(int prog_fd, std::span<const std::uint8_t> frame,
                                             std::uint32_t repeat = 1);

}  // namespace xdpguard
