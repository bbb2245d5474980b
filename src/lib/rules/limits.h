// Limits of the rule language, its sets and the config file: the one place
// userspace checks them. Kernel-sized limits come from the shared ABI header
// (bpf/include/xdpguard/abi.h) so the two can never disagree; the rest are
// userspace policy. Whoever enforces a limit reports it as a Result error
// naming the limit, never by truncating.
#pragma once

#include <cstddef>

#include <xdpguard/abi.h>

namespace xdpguard::rules {

// Rules per interface: the classifier's rule slots (xg_rule_stats).
inline constexpr std::size_t kMaxRules = XDPGUARD_MAX_RULES;

// Named prefix sets per interface (xg_set4 / xg_set6 outer map size); the
// config file may not define more than this many sets either.
inline constexpr std::size_t kMaxSets = XDPGUARD_MAX_SETS;

// Prefixes in one set (IPv4 and IPv6 together, after duplicates are removed).
inline constexpr std::size_t kMaxSetPrefixes = 2'000'000;

// Bytes of a set file: 2,000,000 prefixes of the longest IPv6 text (43
// characters and a newline) fit, with room for comments.
inline constexpr std::size_t kMaxSetFileBytes = 256u << 20;  // 256 MiB

// Set names: letters, digits, '_' and '-', starting with a letter or '_'.
// The bound is xdpguard_set_info::name without its NUL.
inline constexpr std::size_t kMaxSetName = sizeof(xdpguard_set_info::name) - 1;
static_assert(kMaxSetName == 31);

// Interface names, as the kernel's dev_valid_name(): IFNAMSIZ - 1.
inline constexpr std::size_t kMaxIfname = 15;

// never-block and management prefixes together (docs/ddos.md): each takes 32
// (IPv4) or 128 (IPv6) entries of the kernel's xg_noblock.
inline constexpr std::size_t kMaxNeverBlock = XDPGUARD_NOBLOCK_MAX / 128;
static_assert(kMaxNeverBlock == 256);

// Canonical rule text must fit xdpguard_rule_info::text with its NUL; the
// printer's longest output is far below this (checked by a unit test).
inline constexpr std::size_t kMaxRuleText = XDPGUARD_RULE_TEXT - 1;

}  // namespace xdpguard::rules
