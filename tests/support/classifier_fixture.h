// ClassifierFixture: the guard program loaded in-process (no interface) with
// its Guard, for tests that run frames through BPF_PROG_TEST_RUN and need to
// know which rule a frame hit. The classifier writes the rule id into the
// per-CPU entry (xdpguard_percpu.slot, 0 for the default rule); with the test
// thread pinned to one CPU every run's entry is that CPU's, read back after.
#pragma once

#include <sched.h>

#include <cstdint>
#include <optional>

#include <gtest/gtest.h>

#include "bpf/map.h"
#include "guard/guard.h"
#include "support/packet.h"

namespace xdpguard::test {

// A second of the test clock, in its nanoseconds.
inline constexpr std::uint64_t kSec = 1'000'000'000ULL;

// The XDP verdict of a rule's action (any redirect: XDP_REDIRECT).
inline std::uint32_t xdp_of(rules::Action a) {
  switch (a) {
    case rules::Action::Pass: return XDP_PASS;
    case rules::Action::Drop: return XDP_DROP;
    default: return XDP_REDIRECT;
  }
}

// Pins the calling thread to the CPU it is on; restores its mask after.
class CpuPin {
 public:
  CpuPin();
  ~CpuPin();
  CpuPin(const CpuPin&) = delete;
  CpuPin& operator=(const CpuPin&) = delete;
  bool ok() const { return ok_; }
  int cpu() const { return cpu_; }

 private:
  cpu_set_t old_{};
  int cpu_ = -1;
  bool ok_ = false;
};

// A frame's verdict and the rule id it counted (0 the default rule;
// XDPGUARD_SLOT_NONE not classified; all ones when the run failed).
struct Outcome {
  std::uint32_t verdict = 0;
  std::uint32_t slot = 0;
  bool operator==(const Outcome&) const = default;
};

class ClassifierFixture : public ::testing::Test {
 protected:
  // The program's load-time settings (a fake clock, map sizes, ...).
  virtual GuardConfig config() const { return {}; }
  void SetUp() override;
  // One frame through the kernel.
  Outcome run(const Bytes& frame);

  std::optional<GuardProgram> prog_;
  std::optional<Guard> guard_;

 private:
  std::optional<PerCpuMap<std::uint32_t, xdpguard_percpu>> percpu_;
  std::optional<CpuPin> pin_;
};

}  // namespace xdpguard::test
