// The classifier's share of rate limits (docs/ddos.md): the few
// instructions the generated code needs around rules with a `limit`
// clause. The limiter itself is C (bpf/include/xdpguard/limiter.h), reached
// through the limiter stage's slot in xg_progs; this only hands it the
// limited rule's request and resumes after it. Rule sets without limits get
// none of this (emit.cpp asks has_limits() first).
//
//   entry   a resume point left by another rule set (lim_stamp differs)
//           is dropped: the packet is classified from the start;
//   match   a limited chain rule before the resume point does not match (it
//           was under its limit: emit.cpp adds "lim_resume <= position" to
//           the rule's terms, so it stays one branch per rule); else it
//           records its request;
//   finish  verdict XDPGUARD_ACTION_LIMIT tail-calls the limiter; if that
//           fails (no limiter stage, or the kernel's tail-call budget is
//           spent) the packet is dropped, counted in ddos[RESUME_FAILED].
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "classifier/asm.h"
#include "classifier/plan.h"

namespace xdpguard::cls {

bool has_limits(const Plan& plan);
// Identity of a rule set (its rules' ids and canonical texts, the default
// action): a resume point is only used by the rule set that made it.
std::uint32_t ruleset_stamp(const Plan& plan);
// Identity of a rule's limit: a bucket made under another epoch restarts.
std::uint32_t limit_epoch(const CompiledRule& r);

// r6 = the per-CPU entry. Clobbers r1.
void emit_limit_entry(Program& p, std::uint32_t stamp);
// After the rule at `pos` matched and won: writes the verdict
// (XDPGUARD_ACTION_LIMIT) and the request for `l`, r's limit. Clobbers r1.
// `tick_ns`: Plan::clock_tick_ns; a bucket is at least two ticks deep.
void emit_limit_match(Program& p, const CompiledRule& r, const rules::Limit& l, std::uint32_t pos,
                      std::uint64_t tick_ns);
// At `limit`: tail call to the limiter; if it fails, the packet is dropped
// and counted as a failed resume by bpf/stubs.bpf.c's xg_limit_failed,
// spliced there (`maps` names the program's maps for it). r6 = the per-CPU
// entry; the context is spilled at fp-8.
[[nodiscard]] Result<void> emit_limit_call(Program& p, MapId progs, Label limit,
                                           const std::function<std::optional<MapId>(std::string_view)>& maps);

}  // namespace xdpguard::cls
