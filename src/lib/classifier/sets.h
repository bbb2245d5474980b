// Named prefix sets as the classifier reads them (layouts in abi.h): the
// images userspace writes into a set's inner maps, the code that tests
// membership inside the generated classifier, and a userspace replay of that
// code for tests. Pure.
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
// prefixes is one zero element, which matches nothing).
[[nodiscard]] std::vector<xdpguard_set4_elem> build_set4(const std::vector<rules::Prefix>& v4);
[[nodiscard]] Result<std::vector<xdpguard_set6_elem>> build_set6(const std::vector<rules::Prefix>& v6);

// Membership as the generated code computes it (tests compare both).
bool set4_contains(const std::vector<xdpguard_set4_elem>& img, const std::array<std::uint8_t, 4>& addr);
bool set6_contains(const std::vector<xdpguard_set6_elem>& img, const std::array<std::uint8_t, 16>& addr);

// Emits "is the address at offset addr_off of the per-CPU entry (r6) in set `set`?": falls
// through when it is, jumps to not_member when it is not. Clobbers r0-r5,
// r7-r9 and the stack below fp-8.
void emit_set4_member(Program& p, MapId outer, std::uint32_t set, std::int16_t addr_off,
                      Label not_member);
void emit_set6_member(Program& p, MapId outer, std::uint32_t set, std::int16_t addr_off,
                      Label not_member);

}  // namespace xdpguard::cls
