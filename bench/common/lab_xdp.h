// The benchmarks' hands in a lab: run code in a lab host's network namespace
// with its veth, attach a program to that veth (native XDP) and take it off,
// and the lab's UDP traffic generator. Shared by throughput_bench,
// synflood_bench and xsk_bench.
#pragma once

#include <functional>

#include "bpf/system.h"
#include "core/result.h"
#include "gen/generator.h"
#include "lab/lab.h"

namespace xdpguard::bench {

// Runs fn on a thread in h's network namespace, with h's veth.
[[nodiscard]] Result<void> on_host(const LabHost& h, const std::function<Result<void>(const Interface&)>& fn);
// Attaches program fd to h's veth in native mode (replacing what was there).
[[nodiscard]] Result<void> attach_xdp(const LabHost& h, int fd);
// Detaches whatever native XDP program h's veth has.
[[nodiscard]] Result<void> detach_xdp(const LabHost& h);

// The generator of `size`-byte UDP frames from the client (random sources
// in its /24) to the server's port `dport`, between the lab's MACs; to IPv4
// address `dst` instead of the server's when given (a host behind it, still
// sent to the server's MAC: frames for it to forward).
[[nodiscard]] Result<gen::Generator> lab_udp_generator(const Lab& lab, std::uint16_t dport,
                                                       std::uint32_t size, const std::string& dst = {});
// Runs g from the client's veth, the thread pinned to the last CPU (the
// server veth's NAPI runs where the frames are sent): what it sent.
[[nodiscard]] Result<gen::Progress> send_from_client(const Lab& lab, gen::Generator& g,
                                                     const gen::Limits& limits);

}  // namespace xdpguard::bench
