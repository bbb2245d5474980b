// Named prefix sets as the classifier reads them (layouts in abi.h): the
// images userspace writes into a set's inner maps, the code that tests
// membership inside the generated classifier, and membership of an image in
// memory for tests. Pure (the membership functions come from the BPF object
// built into the binary).
//
// IPv4: a direct-indexed bitmap with one "whole /24 in" and one "part of the
//   /24 in" bit per /24, and a 256-bit map per partial /24: membership is one
//   or two array reads. Every IPv4 set takes 8 MiB for the bitmap plus 32
//   bytes per /24 holding longer prefixes.
// IPv6: binary search on the prefix lengths present, over one hash table of
//   prefixes and markers: at most 7 probes for up to 112 distinct lengths.
#pragma once

#include <cstdint>
#include <vector>

#include "bpf/abi.h"
#include "classifier/asm.h"
#include "core/result.h"
#include "rules/rule.h"

namespace xdpguard::cls {

// Element images of one set's inner maps (never empty: a family without
// prefixes is one element that matches nothing). Each records how many
// prefixes were given and the load's `stamp`, shared by both families.
[[nodiscard]] std::vector<xdpguard_set4_elem> build_set4(const std::vector<rules::Prefix>& v4,
                                                         std::uint32_t stamp = 0);
[[nodiscard]] Result<std::vector<xdpguard_set6_elem>> build_set6(const std::vector<rules::Prefix>& v6,
                                                                 std::uint32_t stamp = 0);

// What an image says about its load (element 0).
struct SetImageInfo {
  std::uint64_t count = 0;
  std::uint32_t stamp = 0;
};
SetImageInfo set4_info(const xdpguard_set4_elem& elem0);
SetImageInfo set6_info(const xdpguard_set6_elem& elem0);

// Membership as the generated code computes it, by the same C
// (xdpguard/set_member.h).
bool set4_contains(const std::vector<xdpguard_set4_elem>& img, const std::array<std::uint8_t, 4>& addr);
bool set6_contains(const std::vector<xdpguard_set6_elem>& img, const std::array<std::uint8_t, 16>& addr);

// Membership is one BPF-to-BPF function per family, emitted once at the end
// of a program that needs it, so a rule using a set costs a call, not a
// copy of the lookup. The function takes r1 = set index, r2 = pointer to the
// address (in the per-CPU entry) and returns r0 = 1 if the address is in
// the set, else 0: bpf/stubs.bpf.c's xg_set4_member / xg_set6_member, spliced
// in (classifier/stub.h).
[[nodiscard]] Result<void> emit_set4_function(Program& p, MapId outer);
[[nodiscard]] Result<void> emit_set6_function(Program& p, MapId outer);
// The call: falls through when the address at `addr_off` of the per-CPU
// entry (r6) is in `set`, jumps to not_member when it is not. Clobbers r0-r5.
void emit_set_call(Program& p, Label function, std::uint32_t set, std::int16_t addr_off, Label not_member);

}  // namespace xdpguard::cls
