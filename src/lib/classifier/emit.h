// The classifier's code: turns a plan and its tables into eBPF instructions
// (docs/classifier.md, "Generated code"). Pure: the result references maps by
// MapId (the fixed order below) and becomes loadable in loader.h.
//
// Shape of the program:
//   entry     r6 = the per-CPU entry (xg_percpu); verdict := default; while
//             top talkers are on, the packet counted for its source
//   dispatch  family, then "non-first fragment", then protocol -> a class
//   classes   each class's groups in order of their first rule; before a
//             group, stop when the best rule so far comes earlier
//   end       a rule set with `block` rules: the blocks of the rules up to
//             the best position (block_code.h); then
//             pass/drop: count and return, unless the verdict word asks for
//             a log record or a capture runs (xg_telemetry); then, and for
//             redirect, tail call enforce (slot XDPGUARD_PROG_ENFORCE); if
//             that fails, apply the verdict here
//
// Registers: r6 per-CPU entry, r7 best rule position (reloaded from the
// per-CPU entry at each group, so that the verifier sees an unknown value and
// can prune), r8/r9 per group, r1-r5 temporaries; the context is spilled at
// fp-8.
#pragma once

#include <array>
#include <string_view>

#include "classifier/asm.h"
#include "classifier/plan.h"
#include "classifier/tables.h"

namespace xdpguard::cls {

// MapIds of every generated classifier, in this order.
enum MapSlot : std::uint32_t {
  kMapPercpu = 0,     // xg_percpu
  kMapProgs = 1,      // xg_progs
  kMapBlob = 2,       // this rule set's first table blob (one-element array);
                      // further blobs get MapIds from kNumMapSlots on
  kMapSet4 = 3,       // xg_set4
  kMapSet6 = 4,       // xg_set6
  kMapRuleStats = 5,  // xg_rule_stats
  kMapTelemetry = 6,  // xg_telemetry: a running capture sends every packet to enforce
  kMapSynproxy = 7,   // xg_synproxy: while active, passed TCP goes to the synproxy stage
  kMapBlocked = 8,    // xg_blocked: rule sets with `block` look up their blocks
  kMapDdos = 9,       // xg_ddos: whether a block may hold (block_until), the test clock
  kMapXsks = 10,      // xg_xsks: the AF_XDP sockets of `redirect xsk`, by RX queue
  kMapTalkers = 11,   // xg_talkers: packets and bytes per source, while top talkers are on
  kMapTalkOn = 12,    // xg_talk_on: whether they are on
  kNumMapSlots = 13,
};

// Each slot's map by the name the program gives it (what `rule plan` and
// bpftool show): the one list of the maps a classifier references.
inline constexpr std::array<std::string_view, kNumMapSlots> kMapNames = {
    "xg_percpu",   "xg_progs",   "rule tables", "xg_set4", "xg_set6",    "xg_rule_stats", "xg_telemetry",
    "xg_synproxy", "xg_blocked", "xg_ddos",     "xg_xsks", "xg_talkers", "xg_talk_on",
};

// The pipeline's maps by slot, as borrowed fds (the loader makes kMapBlob's,
// the rule set's own; its entry here is not read).
using PipelineFds = std::array<int, kNumMapSlots>;

[[nodiscard]] Result<Program> emit_classifier(const Plan& plan, const Tables& tables);

}  // namespace xdpguard::cls
