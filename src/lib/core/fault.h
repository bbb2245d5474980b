// Fault points for the crash-consistency tests: fault_point("step") marks a
// place between the steps of a command that changes state, where a test can
// have the process killed (SIGKILL: no cleanup, no destructors, what a crash
// or `kill -9` does) to prove that whatever step a process dies after, the
// next command sees what the kernel enforces; or stopped (SIGSTOP), so that
// a test can change the world under it (a detach and attach between a
// command's steps) and let it go on with SIGCONT.
//
// In the product they do nothing (fault.cpp): no environment variable can
// kill or stop the xdpguard binary half-way through a change. The test build
// links tests/fault/fault_points.cpp into a binary of its own,
// `xdpguard-faults`, where XDPGUARD_FAULT=<step> kills it at that step and
// XDPGUARD_STOP=<step> stops it there (tests/CMakeLists.txt).
#pragma once

namespace xdpguard {

void fault_point(const char* step);

}  // namespace xdpguard
