#include "classifier/block_code.h"

#include <linux/bpf.h>

#include <array>
#include <cstddef>
#include <cstring>

#include "bpf/abi.h"
#include "classifier/percpu_offsets.h"
#include "classifier/tables.h"

namespace xdpguard::cls {
namespace {

using namespace percpu;  // the per-CPU scratch layout

constexpr std::int16_t kBlockedCounter =
    off(offsetof(xdpguard_percpu, ddos) + XDPGUARD_DDOS_BLOCKED * sizeof(xdpguard_counter));
// The lookup key, on the classifier's stack (below the spilled context and
// the 4-byte key of the counter lookup at fp-12).
constexpr std::int16_t kBlockKey = -40;
static_assert(sizeof(xdpguard_block_key) == 24 &&
              -kBlockKey - 16 >= static_cast<int>(sizeof(xdpguard_block_key)));
constexpr std::int16_t kKeyRule = kBlockKey + off(offsetof(xdpguard_block_key, rule));
constexpr std::int16_t kKeyFamily = kBlockKey + off(offsetof(xdpguard_block_key, family));
constexpr std::int16_t kKeyAddr = kBlockKey + off(offsetof(xdpguard_block_key, addr));
static_assert(offsetof(xdpguard_block_key, len) == offsetof(xdpguard_block_key, family) + 1 &&
              offsetof(xdpguard_block_key, family) % 4 == 0);

// The (family, len, pad) word of the key as it lies in memory, whatever the
// byte order (limiter.h's xg_family_len() writes the same bytes).
std::int32_t family_len_word(std::uint8_t family, std::uint8_t len) {
  const std::uint8_t b[4] = {family, len, 0, 0};
  std::uint32_t w;
  std::memcpy(&w, b, sizeof w);
  return imm_u32(w);
}

// The key's address words: the packet's source masked to `len` (IPv4 in
// word 0, the others zero), as limiter.h's xg_mask_saddr() makes them.
void emit_key_addr(Program& p, std::uint8_t family, std::uint8_t len) {
  std::array<std::uint8_t, 16> ones;
  ones.fill(0xff);
  const auto mask = masked_words(ones, len);
  for (unsigned w = 0; w < 4; ++w) {
    const auto at = static_cast<std::int16_t>(kKeyAddr + 4 * w);
    if ((family == 4 && w > 0) || mask[w] == 0) {
      p.st(Size::W, kFp, at, 0);
      continue;
    }
    p.ldx(Size::W, Reg::R1, Reg::R6, static_cast<std::int16_t>(kSaddr + 4 * w));
    if (mask[w] != 0xffffffffu) p.alu32(Alu::And, Reg::R1, imm_u32(mask[w]));
    p.stx(Size::W, kFp, at, Reg::R1);
  }
}

}  // namespace

std::vector<BlockRule> block_rules(const Plan& plan) {
  std::vector<BlockRule> out;
  for (std::uint32_t pos = 0; pos < plan.rules.size(); ++pos) {
    const auto& r = plan.rules[pos];
    if (!r.rule.limit || !r.rule.limit->block_seconds) continue;
    out.push_back({pos, r.id, r.family, r.rule.limit->len4, r.rule.limit->len6});
  }
  return out;
}

void emit_block_check(Program& p, const std::vector<BlockRule>& rules, MapId blocked, MapId ddos,
                      bool fake_clock) {
  if (rules.empty()) return;
  Label done = p.label(), active = p.label();
  // Nothing blocked (block_until 0): one load.
  static_assert(offsetof(xdpguard_ddos, block_until) == 0);
  p.ld_map_value(Reg::R1, ddos, 0);
  p.ldx(Size::DW, Reg::R9, Reg::R1, 0);
  p.jcc(Cond::Eq, Reg::R9, 0, done);
  if (fake_clock) {
    p.ld_map_value(Reg::R1, ddos, static_cast<std::uint32_t>(offsetof(xdpguard_ddos, fake_now)));
    p.ldx(Size::DW, Reg::R0, Reg::R1, 0);
  } else {
    p.call(BPF_FUNC_ktime_get_coarse_ns);  // the limiter's clock
  }
  p.jcc(Cond::Lt, Reg::R0, Reg::R9, active);
  // Every block has expired: stop looking until the limiter makes the next
  // one (it raises block_until first; if it did meanwhile, this changes
  // nothing).
  p.mov(Reg::R0, Reg::R9);
  p.mov(Reg::R2, 0);
  p.ld_map_value(Reg::R1, ddos, 0);
  p.cmpxchg(Size::DW, Reg::R1, 0, Reg::R2);
  p.jmp(done);

  p.bind(active);
  p.mov(Reg::R9, Reg::R0);  // now
  p.ldx(Size::W, Reg::R7, Reg::R6, kPrio);
  p.ldx(Size::B, Reg::R8, Reg::R6, kFamily);
  for (const BlockRule& b : rules) {
    Label next = p.label(), lookup = p.label();
    // A rule before this one decided: its block, and every later one, lose.
    p.jcc(Cond::Lt, Reg::R7, imm_u32(b.pos), done);
    p.st(Size::W, kFp, kKeyRule, imm_u32(b.id));
    for (std::uint8_t fam : {std::uint8_t{4}, std::uint8_t{6}}) {
      if (b.family && b.family != fam) continue;
      Label other = p.label();
      p.jcc(Cond::Ne, Reg::R8, fam, (b.family || fam == 6) ? next : other);
      const std::uint8_t len = fam == 4 ? b.len4 : b.len6;
      p.st(Size::W, kFp, kKeyFamily, family_len_word(fam, len));
      emit_key_addr(p, fam, len);
      p.jmp(lookup);
      p.bind(other);
    }
    p.bind(lookup);
    p.ld_map(Reg::R1, blocked);
    p.mov(Reg::R2, kFp);
    p.alu(Alu::Add, Reg::R2, kBlockKey);
    p.call(BPF_FUNC_map_lookup_elem);
    p.jcc(Cond::Eq, Reg::R0, 0, next);
    p.ldx(Size::DW, Reg::R1, Reg::R0, static_cast<std::int16_t>(offsetof(xdpguard_block, expires_ns)));
    p.jcc(Cond::Le, Reg::R1, Reg::R9, next);
    // It holds: the block decides.
    p.mov(Reg::R1, 1);
    p.atomic_add(Size::DW, Reg::R0, static_cast<std::int16_t>(offsetof(xdpguard_block, packets)), Reg::R1);
    p.st(Size::W, Reg::R6, kPrio, imm_u32(b.pos));
    p.st(Size::W, Reg::R6, kSlot, imm_u32(b.id));
    p.st(Size::W, Reg::R6, kAction, XDP_DROP);
    p.ldx(Size::DW, Reg::R1, Reg::R6, kBlockedCounter);
    p.alu(Alu::Add, Reg::R1, 1);
    p.stx(Size::DW, Reg::R6, kBlockedCounter, Reg::R1);
    p.ldx(Size::W, Reg::R2, Reg::R6, kLen);
    p.ldx(Size::DW, Reg::R1, Reg::R6, static_cast<std::int16_t>(kBlockedCounter + 8));
    p.alu(Alu::Add, Reg::R1, Reg::R2);
    p.stx(Size::DW, Reg::R6, static_cast<std::int16_t>(kBlockedCounter + 8), Reg::R1);
    p.jmp(done);
    p.bind(next);
  }
  p.bind(done);
}

}  // namespace xdpguard::cls
