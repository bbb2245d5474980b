// Fault injection for the crash-consistency tests: fault_point("step") kills
// the process with SIGKILL right there (no cleanup, no destructors: what a
// crash or `kill -9` does) when the environment variable XDPGUARD_FAULT names
// that step. Placed between the steps of every command that changes state,
// so a test can prove that whatever step a process dies after, the next
// command sees what the kernel enforces. XDPGUARD_STOP=<step> stops the
// process there instead (SIGSTOP), so that a test can change the world
// under it (a detach and attach between a command's steps) and let it go on
// with SIGCONT. Costs a getenv or two when unset.
#pragma once

namespace xdpguard {

void fault_point(const char* step);

}  // namespace xdpguard
