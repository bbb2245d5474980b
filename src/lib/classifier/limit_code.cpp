#include "classifier/limit_code.h"

#include <linux/bpf.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string_view>

#include "bpf/abi.h"
#include "classifier/percpu_offsets.h"
#include "classifier/stub.h"
#include "rules/printer.h"

namespace xdpguard::cls {
namespace {

using namespace percpu;  // the per-CPU scratch layout

constexpr std::int16_t kStamp = off(offsetof(xdpguard_percpu, lim_stamp));
constexpr std::int16_t kLim = off(offsetof(xdpguard_percpu, lim));
constexpr std::int16_t kCost = kLim + off(offsetof(xdpguard_limit_req, cost_ns));
constexpr std::int16_t kTau = kLim + off(offsetof(xdpguard_limit_req, tau_ns));
constexpr std::int16_t kBlock = kLim + off(offsetof(xdpguard_limit_req, block_ns));
constexpr std::int16_t kLimAction = kLim + off(offsetof(xdpguard_limit_req, action));
constexpr std::int16_t kEpoch = kLim + off(offsetof(xdpguard_limit_req, epoch));
constexpr std::int16_t kLimKey = kLim + off(offsetof(xdpguard_limit_req, key));
static_assert(offsetof(xdpguard_limit_req, len4) == offsetof(xdpguard_limit_req, key) + 1 &&
              offsetof(xdpguard_limit_req, len6) == offsetof(xdpguard_limit_req, key) + 2 &&
              offsetof(xdpguard_limit_req, byte_shift) == offsetof(xdpguard_limit_req, key) + 3 &&
              offsetof(xdpguard_limit_req, key) % 4 == 0);

// FNV-1a, 32 bits.
struct Fnv {
  std::uint32_t h = 2166136261u;
  void add(const void* data, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 16777619u;
  }
  void add(std::string_view s) {
    add(s.data(), s.size());
    add("\n", 1);
  }
  void add(std::uint32_t v) { add(&v, sizeof v); }
};

// A 64-bit value into the per-CPU entry at `at` (st takes 32-bit immediates).
void store64(Program& p, std::int16_t at, std::uint64_t v) {
  if (v <= INT32_MAX) {
    p.st(Size::DW, Reg::R6, at, static_cast<std::int32_t>(v));
    return;
  }
  p.ld_imm64(Reg::R1, v);
  p.stx(Size::DW, Reg::R6, at, Reg::R1);
}

}  // namespace

bool has_limits(const Plan& plan) {
  return std::any_of(plan.rules.begin(), plan.rules.end(),
                     [](const CompiledRule& r) { return r.rule.limit.has_value(); });
}

std::uint32_t ruleset_stamp(const Plan& plan) {
  Fnv f;
  f.add(plan.default_action);
  for (const auto& r : plan.rules) {
    f.add(r.id);
    f.add(rules::to_string(r.rule));
  }
  return f.h | 1;  // never 0, the value of an entry no classifier stamped
}

std::uint32_t limit_epoch(const CompiledRule& r) {
  Fnv f;
  f.add(r.id);
  f.add(rules::to_string(r.rule));
  return f.h | 1;  // never 0, the epoch of a bucket never charged
}

void emit_limit_entry(Program& p, std::uint32_t stamp) {
  Label same = p.label();
  p.ldx(Size::W, Reg::R1, Reg::R6, kStamp);
  p.jcc32(Cond::Eq, Reg::R1, imm_u32(stamp), same);
  p.st(Size::W, Reg::R6, kLimResume, 0);
  p.st(Size::W, Reg::R6, kStamp, imm_u32(stamp));
  p.bind(same);
}

void emit_limit_match(Program& p, const CompiledRule& r, const rules::Limit& l, std::uint32_t pos,
                      std::uint64_t tick_ns) {
  p.st(Size::W, Reg::R6, kPrio, imm_u32(pos));
  p.st(Size::W, Reg::R6, kSlot, imm_u32(r.id));
  p.st(Size::W, Reg::R6, kAction, XDPGUARD_ACTION_LIMIT);
  if (r.action == XDP_REDIRECT) p.st(Size::W, Reg::R6, kIfindex, imm_u32(r.ifindex));
  const rules::ByteCost bytes = l.bytes ? rules::byte_cost(l) : rules::ByteCost{};
  if (l.bytes) {
    // abi.h: ns per byte in fixed point, and the bucket's depth (at least
    // one unit, a second: far deeper than the clock's ticks).
    store64(p, kCost, bytes.mult);
    store64(p, kTau, rules::limit_depth_ns(l));
  } else {
    store64(p, kCost, rules::limit_cost_ns(l));
    // The clock advances a tick at a time, and now and then two at once (a
    // tick missed on a busy machine): a bucket shallower than that would not
    // hold the tokens of the jump (docs/ddos.md, "The clock").
    store64(p, kTau, std::max(rules::limit_tau_ns(l), 2 * tick_ns));
  }
  store64(p, kBlock, std::uint64_t{l.block_seconds} * 1'000'000'000u);
  p.st(Size::W, Reg::R6, kLimAction, imm_u32(verdict_word(r)));  // with the rule's log threshold
  p.st(Size::W, Reg::R6, kEpoch, imm_u32(limit_epoch(r)));
  // key, len4, len6 and byte_shift: one store.
  const std::uint8_t key[4] = {
      static_cast<std::uint8_t>(l.per_saddr ? XDPGUARD_LIMIT_KEY_SADDR : XDPGUARD_LIMIT_KEY_NONE), l.len4,
      l.len6, bytes.shift};
  std::uint32_t word;
  std::memcpy(&word, key, sizeof word);
  p.st(Size::W, Reg::R6, kLimKey, imm_u32(word));
}

Result<void> emit_limit_call(Program& p, MapId progs, Label limit,
                             const std::function<std::optional<MapId>(std::string_view)>& maps) {
  p.bind(limit);
  p.ldx(Size::DW, Reg::R1, kFp, kCtx);
  p.ld_map(Reg::R2, progs);
  p.mov(Reg::R3, XDPGUARD_PROG_LIMIT);
  p.call(BPF_FUNC_tail_call);
  // The tail call failed: no limiter stage (an interrupted attach), or the
  // packet used up the kernel's 33 tail calls. Dropped and counted as a
  // failed resume by the C the limiter runs when it cannot come back
  // (pipeline.h's xg_resume_failed, spliced: bpf/stubs.bpf.c).
  p.ldx(Size::DW, Reg::R1, kFp, kCtx);
  p.mov(Reg::R2, Reg::R6);
  return splice_stub(p, "xg_limit_failed", maps);
}

}  // namespace xdpguard::cls
