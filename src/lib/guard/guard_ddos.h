// Internal to the guard module: the DDoS parts of the guard object's
// setup (guard_ddos.cpp), called by GuardProgram::open / link_pipeline.
#pragma once

#include "core/result.h"
#include "guard/guard.h"

struct guard_bpf;

namespace xdpguard::ddos_internal {

// Before load: the sizes of the limiter's and the block list's LRU maps,
// the test clock.
[[nodiscard]] Result<void> configure(guard_bpf& skel, const GuardConfig& cfg);
// After load: the limiter stage into its xg_progs slot.
[[nodiscard]] Result<void> link_stages(const guard_bpf& skel);

}  // namespace xdpguard::ddos_internal
