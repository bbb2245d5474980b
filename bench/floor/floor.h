// Floor: the hand-written floor10 XDP programs (floor10.bpf.c) loaded in this
// process, for BPF_PROG_TEST_RUN or to be attached to a lab veth.
//
// Owns the floor10 skeleton (programs, their counter and bucket maps); the
// kernel objects go with it. Failure: "load floor10: <verifier log tail>".
#pragma once

#include <cstdint>

#include "bpf/map.h"
#include "bpf/skeleton.h"
#include "core/result.h"

struct floor10_bpf;

namespace xdpguard::bench {

class Floor {
 public:
  static constexpr std::uint32_t kRules = 10;  // slots 1..10; slot 0: no rule matched

  // limit_buckets: the size of the limiter floor's bucket map (fl_limit_src).
  [[nodiscard]] static Result<Floor> load(std::uint32_t limit_buckets = 1024);

  int prog_fd() const;
  // floor_no_rules: the same parser and counters without rules.
  int no_rules_prog_fd() const;
  // floor_split / floor_split_no_rules: the same two jobs split in two
  // programs as xdpguard splits them (a parser, a tail call, a stage that
  // reads the fields back from a per-CPU entry): the price of the split.
  int split_prog_fd() const;
  int split_no_rules_prog_fd() const;
  // floor_kept_no_rules: xdpguard's parser stage and verdict in one
  // program; it counts in xg_rule_stats (kept_rule_packets).
  int kept_no_rules_prog_fd() const;
  // floor_limit / floor_nolimit: the limiter's two rules with and without
  // their limits (rule ids 1 and 2 in the bucket keys, slots 1 and 2).
  int limit_prog_fd() const;
  int nolimit_prog_fd() const;
  int limit_map_fd() const;
  // Packets counted for a rule slot / an XDP_* action, summed over CPUs.
  [[nodiscard]] Result<std::uint64_t> rule_packets(std::uint32_t slot) const;
  [[nodiscard]] Result<std::uint64_t> action_packets(std::uint32_t action) const;
  [[nodiscard]] Result<std::uint64_t> kept_rule_packets(std::uint32_t slot) const;

 private:
  Floor() = default;
  BpfSkeleton<floor10_bpf> skel_;
  PerCpuMap<std::uint32_t, xdpguard_counter> rules_, actions_, kept_rules_;
};

}  // namespace xdpguard::bench
