// The benchmarks' hands in a lab: run code in a lab host's network namespace
// with its veth, attach a program to that veth (native XDP) and take it off.
// Shared by throughput_bench and synflood_bench.
#pragma once

#include <functional>

#include "bpf/system.h"
#include "core/result.h"
#include "lab/lab.h"

namespace xdpguard::bench {

// Runs fn on a thread in h's network namespace, with h's veth.
[[nodiscard]] Result<void> on_host(const LabHost& h, const std::function<Result<void>(const Interface&)>& fn);
// Attaches program fd to h's veth in native mode (replacing what was there).
[[nodiscard]] Result<void> attach_xdp(const LabHost& h, int fd);
// Detaches whatever native XDP program h's veth has.
[[nodiscard]] Result<void> detach_xdp(const LabHost& h);

}  // namespace xdpguard::bench
