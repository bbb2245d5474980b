// GuardUnderTest: the guard program loaded in-process (no interface), for
// BPF_PROG_TEST_RUN tables: run one frame, get its verdict and how much every
// parse and action counter moved.
#pragma once

#include <array>
#include <optional>
#include <span>
#include <string>

#include "bpf/test_run.h"
#include "guard/guard.h"

namespace xdpguard::test {

// One frame through the kernel: verdict and what every counter did.
struct KernelRun {
  std::uint32_t verdict = 0;
  std::array<xdpguard_counter, XDPGUARD_PARSE_MAX> parse{};
  std::array<xdpguard_counter, XDPGUARD_NUM_ACTIONS> actions{};

  // The exclusive parse counter (ipv4..malformed) that moved, or -1 unless
  // exactly one did.
  int outcome() const {
    int found = -1;
    for (int i = 0; i < XDPGUARD_PARSE_FRAGMENT; i++) {
      if (parse[i].packets == 0) continue;
      if (found >= 0) return -1;
      found = i;
    }
    return found;
  }
};

class GuardUnderTest {
 public:
  // nullopt with *err set when the program cannot be opened or loaded.
  static std::optional<GuardUnderTest> load(const GuardConfig& cfg, std::string* err);
  Result<KernelRun> run(std::span<const std::uint8_t> frame);

 private:
  GuardUnderTest(GuardProgram prog, Guard guard) : prog_(std::move(prog)), guard_(std::move(guard)) {}
  GuardProgram prog_;
  Guard guard_;
};

}  // namespace xdpguard::test
