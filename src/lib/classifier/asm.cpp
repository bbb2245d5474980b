#include "classifier/asm.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace xdpguard::cls {
namespace {

std::uint8_t r(Reg x) { return static_cast<std::uint8_t>(x); }

bool is_jump(const bpf_insn& i) {
  const unsigned cls = BPF_CLASS(i.code);
  if (cls != BPF_JMP && cls != BPF_JMP32) return false;
  const unsigned op = BPF_OP(i.code);
  return op != BPF_EXIT && op != BPF_CALL;
}
bool is_gotol(const bpf_insn& i) { return i.code == (BPF_JMP32 | BPF_JA); }
bool is_local_call(const bpf_insn& i) {
  return i.code == (BPF_JMP | BPF_CALL) && i.src_reg == BPF_PSEUDO_CALL;
}
bool is_ld_imm64(const bpf_insn& i) { return i.code == kLdImm64; }

std::int64_t jump_delta(const bpf_insn& i) { return is_gotol(i) || is_local_call(i) ? i.imm : i.off; }

bool is_goto(const bpf_insn& i) {
  return BPF_OP(i.code) == BPF_JA && (BPF_CLASS(i.code) == BPF_JMP || BPF_CLASS(i.code) == BPF_JMP32);
}

// Where control lands when it arrives at instruction `at`: past any chain of
// unconditional jumps (the emitter closes every group and class with one).
std::int64_t land(const std::vector<bpf_insn>& in, std::int64_t at) {
  for (std::size_t hops = 0; hops < 64 && at >= 0 && static_cast<std::size_t>(at) < in.size() &&
                             is_goto(in[static_cast<std::size_t>(at)]);
       ++hops)
    at = at + 1 + jump_delta(in[static_cast<std::size_t>(at)]);
  return at;
}

// Removes instructions no path from the entry reaches (the verifier refuses
// them) and jumps to the next instruction, and sends every jump straight to
// where a chain of jumps would take it. The emitter can then close a rule
// that matches everything, or a group, without caring what follows.
//
// A 16-bit jump is sent further only while its offset stays within half the
// int16 range: the kernel inlines map lookups and tail calls when it loads
// the program and moves every jump across the instructions it adds, and a
// jump that overflows on the way fails the load ("insn N cannot be patched
// due to 16-bit range"). The emitter's own jumps are local; threading them
// to a far target is what would put them near the limit.
constexpr std::int64_t kMaxThreaded = INT16_MAX / 2;

struct Compacted {
  std::vector<bpf_insn> insns;
  std::vector<std::int64_t> to;  // old index -> new index
  std::vector<bool> live;        // by old index
};

Result<Compacted> drop_unreachable(std::vector<bpf_insn> in) {
  const std::size_t n = in.size();
  for (std::size_t i = 0; i < n; ++i) {
    bpf_insn& x = in[i];
    if (!is_jump(x)) continue;
    std::int64_t target = land(in, static_cast<std::int64_t>(i) + 1 + jump_delta(x));
    std::int64_t delta = target - static_cast<std::int64_t>(i) - 1;
    if (is_gotol(x))
      x.imm = static_cast<std::int32_t>(delta);
    else if (delta >= -kMaxThreaded && delta <= kMaxThreaded)
      x.off = static_cast<std::int16_t>(delta);
  }
  std::vector<bool> live(n, false);
  std::vector<std::size_t> todo{0};
  auto push = [&](std::int64_t at) {
    if (at >= 0 && static_cast<std::size_t>(at) < n && !live[static_cast<std::size_t>(at)])
      todo.push_back(static_cast<std::size_t>(at));
  };
  while (!todo.empty()) {
    std::size_t i = todo.back();
    todo.pop_back();
    if (live[i]) continue;
    live[i] = true;
    const bpf_insn& x = in[i];
    if (is_ld_imm64(x)) {
      if (i + 1 < n) live[i + 1] = true;
      push(static_cast<std::int64_t>(i) + 2);
      continue;
    }
    if (x.code == (BPF_JMP | BPF_EXIT)) continue;
    if (is_local_call(x)) push(static_cast<std::int64_t>(i) + 1 + x.imm);
    if (is_jump(x)) {
      push(static_cast<std::int64_t>(i) + 1 + jump_delta(x));
      if (BPF_OP(x.code) == BPF_JA) continue;
    }
    push(static_cast<std::int64_t>(i) + 1);
  }
  // A jump to the next instruction does nothing: drop it (its successor,
  // reached by falling through, is live already).
  for (std::size_t i = 0; i < n; ++i)
    if (live[i] && is_goto(in[i]) && jump_delta(in[i]) == 0) live[i] = false;
  std::vector<std::int64_t> to(n + 1, 0);
  std::int64_t k = 0;
  for (std::size_t i = 0; i < n; ++i) {
    to[i] = k;
    k += live[i];
  }
  to[n] = k;
  std::vector<bpf_insn> out;
  out.reserve(static_cast<std::size_t>(k));
  for (std::size_t i = 0; i < n; ++i) {
    if (!live[i]) continue;
    bpf_insn x = in[i];
    if (is_jump(x) || is_local_call(x)) {
      std::int64_t target = static_cast<std::int64_t>(i) + 1 + jump_delta(x);
      // A live jump's target is live (or a dropped jump-to-next, whose place
      // is its successor's), so it has a new place.
      std::int64_t delta = to[static_cast<std::size_t>(target)] - to[i] - 1;
      if (is_gotol(x) || is_local_call(x))
        x.imm = static_cast<std::int32_t>(delta);
      else
        x.off = static_cast<std::int16_t>(delta);  // only shrinks
    }
    out.push_back(x);
  }
  return Compacted{std::move(out), std::move(to), std::move(live)};
}

}  // namespace

Cond negate(Cond c) {
  switch (c) {
    case Cond::Eq: return Cond::Ne;
    case Cond::Ne: return Cond::Eq;
    case Cond::Gt: return Cond::Le;
    case Cond::Ge: return Cond::Lt;
    case Cond::Lt: return Cond::Ge;
    case Cond::Le: return Cond::Gt;
    case Cond::Set: break;
  }
  throw std::logic_error("Cond::Set has no negation");
}

Label Program::label() {
  labels_.push_back(-1);
  return Label{static_cast<std::uint32_t>(labels_.size() - 1)};
}

void Program::bind(Label l) {
  if (l.id >= labels_.size() || labels_[l.id] >= 0) throw std::logic_error("label bound twice or invalid");
  labels_[l.id] = static_cast<std::int64_t>(insns_.size());
}

void Program::begin_function(Label entry, std::string name, FnSig sig) {
  bind(entry);
  functions_.push_back({entry, std::move(name), sig});
}

MapId Program::map(std::string name) {
  maps_.push_back(std::move(name));
  return MapId{static_cast<std::uint32_t>(maps_.size() - 1)};
}

void Program::emit(std::uint8_t code, Reg d, Reg s, std::int16_t off, std::int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = r(d) & 0xf;
  i.src_reg = r(s) & 0xf;
  i.off = off;
  i.imm = imm;
  insns_.push_back(i);
}

void Program::mov(Reg d, Reg s) { emit(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0); }
void Program::mov(Reg d, std::int32_t imm) { emit(BPF_ALU64 | BPF_MOV | BPF_K, d, Reg::R0, 0, imm); }
void Program::mov32(Reg d, Reg s) { emit(BPF_ALU | BPF_MOV | BPF_X, d, s, 0, 0); }
void Program::mov32(Reg d, std::int32_t imm) { emit(BPF_ALU | BPF_MOV | BPF_K, d, Reg::R0, 0, imm); }
void Program::alu(Alu op, Reg d, Reg s) {
  emit(BPF_ALU64 | static_cast<std::uint8_t>(op) | BPF_X, d, s, 0, 0);
}
void Program::alu(Alu op, Reg d, std::int32_t imm) {
  emit(BPF_ALU64 | static_cast<std::uint8_t>(op) | BPF_K, d, Reg::R0, 0, imm);
}
void Program::alu32(Alu op, Reg d, Reg s) {
  emit(BPF_ALU | static_cast<std::uint8_t>(op) | BPF_X, d, s, 0, 0);
}
void Program::alu32(Alu op, Reg d, std::int32_t imm) {
  emit(BPF_ALU | static_cast<std::uint8_t>(op) | BPF_K, d, Reg::R0, 0, imm);
}

void Program::to_be(Reg d, int bits) {
  if (bits != 16 && bits != 32 && bits != 64) throw std::logic_error("to_be: 16, 32 or 64 bits");
  emit(BPF_ALU | BPF_END | BPF_TO_BE, d, Reg::R0, 0, bits);
}

void Program::ld_imm64(Reg d, std::uint64_t v) {
  emit(kLdImm64, d, Reg::R0, 0, static_cast<std::int32_t>(v & 0xffffffffu));
  emit(0, Reg::R0, Reg::R0, 0, static_cast<std::int32_t>(v >> 32));
}

void Program::ld_map(Reg d, MapId m) {
  relocs_.push_back({insns_.size(), m, false, 0});
  ld_imm64(d, 0);
}

void Program::ld_map_value(Reg d, MapId m, std::uint32_t offset) {
  relocs_.push_back({insns_.size(), m, true, offset});
  ld_imm64(d, 0);
}

void Program::ldx(Size sz, Reg d, Reg base, std::int16_t off) {
  emit(BPF_LDX | BPF_MEM | static_cast<std::uint8_t>(sz), d, base, off, 0);
}
void Program::stx(Size sz, Reg base, std::int16_t off, Reg s) {
  emit(BPF_STX | BPF_MEM | static_cast<std::uint8_t>(sz), base, s, off, 0);
}
void Program::st(Size sz, Reg base, std::int16_t off, std::int32_t imm) {
  emit(BPF_ST | BPF_MEM | static_cast<std::uint8_t>(sz), base, Reg::R0, off, imm);
}
void Program::atomic_add(Size sz, Reg base, std::int16_t off, Reg s) {
  emit(BPF_STX | BPF_ATOMIC | static_cast<std::uint8_t>(sz), base, s, off, BPF_ADD);
}
void Program::cmpxchg(Size sz, Reg base, std::int16_t off, Reg s) {
  emit(BPF_STX | BPF_ATOMIC | static_cast<std::uint8_t>(sz), base, s, off, BPF_CMPXCHG);
}

void Program::jmp(Label target) {
  fixups_.push_back({insns_.size(), target, Fix::Uncond});
  emit(BPF_JMP | BPF_JA, Reg::R0, Reg::R0, 0, 0);
}
void Program::jcc(Cond c, Reg a, std::int32_t imm, Label target) {
  fixups_.push_back({insns_.size(), target, Fix::Cond});
  emit(BPF_JMP | static_cast<std::uint8_t>(c) | BPF_K, a, Reg::R0, 0, imm);
}
void Program::jcc(Cond c, Reg a, Reg b, Label target) {
  fixups_.push_back({insns_.size(), target, Fix::Cond});
  emit(BPF_JMP | static_cast<std::uint8_t>(c) | BPF_X, a, b, 0, 0);
}
void Program::jcc32(Cond c, Reg a, std::int32_t imm, Label target) {
  fixups_.push_back({insns_.size(), target, Fix::Cond});
  emit(BPF_JMP32 | static_cast<std::uint8_t>(c) | BPF_K, a, Reg::R0, 0, imm);
}
void Program::call(bpf_func_id helper) {
  emit(BPF_JMP | BPF_CALL, Reg::R0, Reg::R0, 0, static_cast<std::int32_t>(helper));
}
void Program::call_local(Label subprogram) {
  fixups_.push_back({insns_.size(), subprogram, Fix::Call});
  emit(BPF_JMP | BPF_CALL, Reg::R0, static_cast<Reg>(BPF_PSEUDO_CALL), 0, 0);
}
void Program::exit() { emit(BPF_JMP | BPF_EXIT, Reg::R0, Reg::R0, 0, 0); }

Result<void> Program::splice(std::span<const bpf_insn> code,
                             std::span<const std::pair<std::size_t, MapId>> maps) {
  const std::size_t n = code.size();
  auto bad = [](std::size_t i, std::string_view what) {
    return fail(EINVAL, "spliced code: instruction {}: {}", i, what);
  };
  auto is_jump = [](const bpf_insn& x) {
    const unsigned cls = BPF_CLASS(x.code), op = BPF_OP(x.code);
    return (cls == BPF_JMP || cls == BPF_JMP32) && op != BPF_CALL && op != BPF_EXIT;
  };
  // Where each jump lands; an ld_imm64's second slot is no instruction.
  std::vector<bool> second(n + 1, false);
  for (std::size_t i = 0; i < n; ++i)
    if (code[i].code == kLdImm64) {
      if (i + 1 >= n) return bad(i, "an ld_imm64 cut short");
      second[++i] = true;
    }
  std::vector<std::int64_t> target(n, -1);
  std::vector<Label> at(n);
  std::vector<bool> has_label(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    if (second[i] || !is_jump(code[i])) continue;
    // gotol (BPF_JMP32 | BPF_JA) keeps its displacement in imm
    const bool wide = BPF_CLASS(code[i].code) == BPF_JMP32 && BPF_OP(code[i].code) == BPF_JA;
    const std::int64_t t = static_cast<std::int64_t>(i) + 1 + (wide ? code[i].imm : code[i].off);
    if (t < 0 || t >= static_cast<std::int64_t>(n) || second[static_cast<std::size_t>(t)])
      return bad(i, "a jump out of the code or into an ld_imm64");
    target[i] = t;
    if (!has_label[static_cast<std::size_t>(t)]) at[static_cast<std::size_t>(t)] = label();
    has_label[static_cast<std::size_t>(t)] = true;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (second[i]) continue;
    if (has_label[i]) bind(at[i]);
    bpf_insn x = code[i];
    if (x.dst_reg > 10 || x.src_reg > 10) return bad(i, "a register past r10");
    const unsigned cls = BPF_CLASS(x.code), op = BPF_OP(x.code);
    if (x.code == kLdImm64) {
      const auto m = std::find_if(maps.begin(), maps.end(), [&](const auto& p) { return p.first == i; });
      if (m != maps.end()) {
        ld_map(static_cast<Reg>(x.dst_reg), m->second);
      } else {
        if (x.src_reg != 0) return bad(i, "an ld_imm64 of a map, function or data not given");
        ld_imm64(static_cast<Reg>(x.dst_reg),
                 static_cast<std::uint32_t>(x.imm) |
                     std::uint64_t{static_cast<std::uint32_t>(code[i + 1].imm)} << 32);
      }
    } else if (is_jump(x)) {
      const bool uncond = op == BPF_JA;
      if (uncond) {
        x.code = BPF_JMP | BPF_JA;  // link() widens it again if it must
        x.imm = 0;
      }
      x.off = 0;
      fixups_.push_back(
          {insns_.size(), at[static_cast<std::size_t>(target[i])], uncond ? Fix::Uncond : Fix::Cond});
      insns_.push_back(x);
    } else if (cls == BPF_JMP && op == BPF_CALL) {
      if (x.src_reg != 0) return bad(i, "a call of a function or kfunc (the source must inline it)");
      call(static_cast<bpf_func_id>(x.imm));
    } else if (cls == BPF_JMP && op == BPF_EXIT) {
      exit();
    } else if (cls == BPF_ALU || cls == BPF_ALU64 || cls == BPF_LDX || cls == BPF_ST || cls == BPF_STX) {
      insns_.push_back(x);
    } else {
      return bad(i, fmt::format("opcode {:#04x} cannot be spliced", x.code));
    }
  }
  return {};
}

Result<LinkedProgram> Program::link_program(std::span<const int> map_fds) const {
  std::vector<bpf_insn> out = insns_;
  for (const auto& f : fixups_) {
    if (f.target.id >= labels_.size() || labels_[f.target.id] < 0)
      return fail(EINVAL, "generated code: label {} used at instruction {} is never bound", f.target.id,
                  f.at);
    std::int64_t delta = labels_[f.target.id] - static_cast<std::int64_t>(f.at) - 1;
    bpf_insn& i = out[f.at];
    switch (f.kind) {
      case Fix::Call: i.imm = static_cast<std::int32_t>(delta); break;
      case Fix::Uncond:
        if (delta >= std::numeric_limits<std::int16_t>::min() &&
            delta <= std::numeric_limits<std::int16_t>::max()) {
          i.off = static_cast<std::int16_t>(delta);
        } else {
          i.code = BPF_JMP32 | BPF_JA;  // gotol: 32-bit displacement in imm
          i.imm = static_cast<std::int32_t>(delta);
        }
        break;
      case Fix::Cond:
        if (delta < std::numeric_limits<std::int16_t>::min() ||
            delta > std::numeric_limits<std::int16_t>::max())
          return fail(E2BIG,
                      "generated code: conditional jump at instruction {} spans {} "
                      "instructions (limit 32767)",
                      f.at, delta);
        i.off = static_cast<std::int16_t>(delta);
        break;
    }
  }
  for (const auto& rl : relocs_) {
    if (rl.map.index >= map_fds.size()) return fail(EINVAL, "generated code: no fd for map {}", rl.map.index);
    bpf_insn& i = out[rl.at];
    i.src_reg = rl.value ? BPF_PSEUDO_MAP_VALUE : BPF_PSEUDO_MAP_FD;
    i.imm = map_fds[rl.map.index];
    out[rl.at + 1].imm = static_cast<std::int32_t>(rl.offset);
  }
  auto c = XG_TRY(drop_unreachable(std::move(out)));
  LinkedProgram lp;
  lp.functions.push_back({0, "xg_classifier", FnSig::Main});
  for (const auto& f : functions_) {
    auto at = labels_[f.entry.id];
    if (at <= 0) return fail(EINVAL, "generated code: function {} at the entry", f.name);
    // A function nobody calls is gone; one that is called starts where its
    // first instruction went.
    const auto i = static_cast<std::size_t>(at);
    if (i >= c.live.size() || !c.live[i]) continue;
    lp.functions.push_back({static_cast<std::uint32_t>(c.to[i]), f.name, f.sig});
  }
  lp.insns = std::move(c.insns);
  return lp;
}

std::string disassemble(const bpf_insn& i) {
  static const char* alu[] = {
      "+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=", "end", "?", "?"};
  static const char* jmp[] = {
      "goto", "==", ">", ">=", "&", "!=", "s>", "s>=", "call", "exit", "<", "<=", "s<", "s<=", "?", "?"};
  static const char* size[] = {"u32", "u16", "u8", "u64"};
  const unsigned cls = BPF_CLASS(i.code), op = BPF_OP(i.code) >> 4;
  const bool x = BPF_SRC(i.code) == BPF_X;
  auto src = [&] { return x ? fmt::format("r{}", i.src_reg) : fmt::format("{}", i.imm); };
  switch (cls) {
    case BPF_ALU:
    case BPF_ALU64: {
      const char* r = cls == BPF_ALU64 ? "r" : "w";
      if (BPF_OP(i.code) == BPF_END) return fmt::format("r{} = be{} r{}", i.dst_reg, i.imm, i.dst_reg);
      return fmt::format("{}{} {} {}{}", r, i.dst_reg, alu[op], x ? r : "",
                         x ? fmt::format("{}", i.src_reg) : src());
    }
    case BPF_LDX:
      return fmt::format("r{} = *({} *)(r{} {:+})", i.dst_reg, size[BPF_SIZE(i.code) >> 3], i.src_reg, i.off);
    case BPF_STX:
      if (BPF_MODE(i.code) == BPF_ATOMIC) {
        if (i.imm == BPF_CMPXCHG)
          return fmt::format("r0 = cmpxchg(({} *)(r{} {:+}), r0, r{})", size[BPF_SIZE(i.code) >> 3],
                             i.dst_reg, i.off, i.src_reg);
        return fmt::format("lock *({} *)(r{} {:+}) {} r{}", size[BPF_SIZE(i.code) >> 3], i.dst_reg, i.off,
                           alu[(i.imm & 0xf0) >> 4], i.src_reg);
      }
      return fmt::format("*({} *)(r{} {:+}) = r{}", size[BPF_SIZE(i.code) >> 3], i.dst_reg, i.off, i.src_reg);
    case BPF_ST:
      return fmt::format("*({} *)(r{} {:+}) = {}", size[BPF_SIZE(i.code) >> 3], i.dst_reg, i.off, i.imm);
    case BPF_LD:  // the first slot of ld_imm64 (the second holds the upper 32 bits / offset)
      if (i.src_reg == BPF_PSEUDO_MAP_FD) return fmt::format("r{} = map[fd {}]", i.dst_reg, i.imm);
      if (i.src_reg == BPF_PSEUDO_MAP_VALUE) return fmt::format("r{} = &map[fd {}] value", i.dst_reg, i.imm);
      return fmt::format("r{} = {:#x} (low 32 bits)", i.dst_reg, static_cast<std::uint32_t>(i.imm));
    case BPF_JMP:
    case BPF_JMP32: {
      if (BPF_OP(i.code) == BPF_EXIT) return "exit";
      if (BPF_OP(i.code) == BPF_CALL)
        return i.src_reg == BPF_PSEUDO_CALL ? fmt::format("call pc{:+}", i.imm)
                                            : fmt::format("call #{}", i.imm);
      if (BPF_OP(i.code) == BPF_JA) return fmt::format("goto pc{:+}", cls == BPF_JMP32 ? i.imm : i.off);
      const char* r = cls == BPF_JMP ? "r" : "w";
      return fmt::format("if {}{} {} {}{} goto pc{:+}", r, i.dst_reg, jmp[op], x ? r : "",
                         x ? fmt::format("{}", i.src_reg) : src(), i.off);
    }
    default: return fmt::format("(code {:#x})", i.code);
  }
}

}  // namespace xdpguard::cls
