// Offsets into struct xdpguard_percpu (bpf/include/xdpguard/abi.h) that the
// generated code reads and writes through r6, shared by every emitter
// (emit.cpp, limit_code.cpp, block_code.cpp), so that one layout change is one edit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bpf/abi.h"
#include "classifier/asm.h"

namespace xdpguard::cls::percpu {

inline constexpr std::int16_t kPrio = off(offsetof(xdpguard_percpu, prio));
inline constexpr std::int16_t kSlot = off(offsetof(xdpguard_percpu, slot));
inline constexpr std::int16_t kAction = off(offsetof(xdpguard_percpu, action));
inline constexpr std::int16_t kIfindex = off(offsetof(xdpguard_percpu, ifindex));
inline constexpr std::int16_t kLen = off(offsetof(xdpguard_percpu, len));
inline constexpr std::int16_t kXsk = off(offsetof(xdpguard_percpu, xsk));
inline constexpr std::int16_t kLimResume = off(offsetof(xdpguard_percpu, lim_resume));
// The parsed packet (struct xdpguard_pkt).
inline constexpr std::int16_t kFamily = off(offsetof(xdpguard_percpu, pkt.family));
inline constexpr std::int16_t kProto = off(offsetof(xdpguard_percpu, pkt.l4proto));
inline constexpr std::int16_t kFrag = off(offsetof(xdpguard_percpu, pkt.frag));
inline constexpr std::int16_t kFlags = off(offsetof(xdpguard_percpu, pkt.tcp_flags));
inline constexpr std::int16_t kSaddr = off(offsetof(xdpguard_percpu, pkt.saddr));
inline constexpr std::int16_t kDaddr = off(offsetof(xdpguard_percpu, pkt.daddr));
inline constexpr std::int16_t kSport = off(offsetof(xdpguard_percpu, pkt.sport));
inline constexpr std::int16_t kDport = off(offsetof(xdpguard_percpu, pkt.dport));
inline constexpr std::int16_t kVlan = off(offsetof(xdpguard_percpu, pkt.vlan));
inline constexpr std::int16_t kIcmpType = off(offsetof(xdpguard_percpu, pkt.icmp_type));
inline constexpr std::int16_t kIcmpCode = off(offsetof(xdpguard_percpu, pkt.icmp_code));
inline constexpr std::int16_t kDscp = off(offsetof(xdpguard_percpu, pkt.dscp));
inline constexpr std::int16_t kIpLen = off(offsetof(xdpguard_percpu, pkt.ip_len));
inline constexpr std::int16_t kFragBits = off(offsetof(xdpguard_percpu, pkt.frag_bits));
inline constexpr std::int16_t kActions = off(offsetof(xdpguard_percpu, actions));
static_assert(offsetof(xdpguard_percpu, pkt.ip_len) % 4 == 0, "one aligned word");
static_assert(offsetof(xdpguard_percpu, pkt.vlan) % 4 == 0, "both tags are one aligned word");
// The spilled context, on the classifier's stack.
inline constexpr std::int16_t kCtx = -8;

}  // namespace xdpguard::cls::percpu
