// Loading a generated classifier: creates the rule set's table map, loads
// the program with bpf_prog_load (no compiler at run time) and hands back
// both, owned. Installing it is one write to the pipeline's program array.
//
// Failure: "load classifier: <strerror>: <the verifier's last line>"; the
// verifier log's tail is logged at info level (xdpguard -v).
#pragma once

#include <cstdint>
#include <string>

#include "bpf/map.h"
#include "classifier/asm.h"
#include "classifier/plan.h"
#include "classifier/tables.h"
#include "core/result.h"
#include "core/unique_fd.h"

namespace xdpguard::cls {

// The pipeline maps every classifier references (borrowed fds).
struct PipelineFds {
  int percpu = -1, progs = -1, set4 = -1, set6 = -1;
};

struct LoadStats {
  std::uint32_t prog_id = 0;
  std::uint32_t insns = 0;           // generated
  std::uint32_t verified_insns = 0;  // processed by the verifier
  std::uint32_t verify_us = 0;       // bpf_prog_load wall time
  std::uint32_t table_bytes = 0;
};

// A rule set compiled: plan, tables, code. Pure.
struct Compiled {
  Plan plan;
  Tables tables;
  Program program;
};
[[nodiscard]] Result<Compiled> compile(const std::vector<RuleEntry>& rules,
                                       std::uint32_t default_action, const CompileContext& ctx);

// A loaded classifier. The program holds its own reference to the table map.
struct LoadedClassifier {
  UniqueFd prog;
  LoadStats stats;
};
[[nodiscard]] Result<LoadedClassifier> load_classifier(const Compiled& c, const PipelineFds& fds);

}  // namespace xdpguard::cls
