// Offsets into struct xdpguard_percpu (bpf/include/xdpguard/abi.h) that the
// generated code reads and writes through r6, shared by every emitter
// (emit.cpp, limit_code.cpp, sets.cpp), so that one layout change is one edit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bpf/abi.h"

namespace xdpguard::cls::percpu {

constexpr std::int16_t off(std::size_t o) { return static_cast<std::int16_t>(o); }

inline constexpr std::int16_t kPrio = off(offsetof(xdpguard_percpu, prio));
inline constexpr std::int16_t kSlot = off(offsetof(xdpguard_percpu, slot));
inline constexpr std::int16_t kAction = off(offsetof(xdpguard_percpu, action));
inline constexpr std::int16_t kIfindex = off(offsetof(xdpguard_percpu, ifindex));
inline constexpr std::int16_t kLen = off(offsetof(xdpguard_percpu, len));
inline constexpr std::int16_t kXsk = off(offsetof(xdpguard_percpu, xsk));
inline constexpr std::int16_t kLimResume = off(offsetof(xdpguard_percpu, lim_resume));
// The spilled context, on the classifier's stack.
inline constexpr std::int16_t kCtx = -8;

}  // namespace xdpguard::cls::percpu
