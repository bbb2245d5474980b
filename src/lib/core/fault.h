// Fault injection for the crash-consistency tests: fault_point("step") kills
// the process with SIGKILL right there (no cleanup, no destructors: what a
// crash or `kill -9` does) when the environment variable XDPGUARD_FAULT names
// that step. Placed between the steps of every command that changes state,
// so a test can prove that whatever step a process dies after, the next
// command sees what the kernel enforces. Costs one getenv when unset.
#pragma once

namespace xdpguard {

void fault_point(const char* step);

}  // namespace xdpguard
