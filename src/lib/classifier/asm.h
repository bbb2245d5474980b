// A small eBPF assembler for generated programs (the classifier).
//
// Program owns an instruction vector, its jump fix-ups and its map
// references. Instructions come only from typed methods (Reg, Size, Alu,
// Cond), so an invalid opcode cannot be built. Jumps target Labels, patched
// by link() once every position is known; map references are symbolic
// (MapId) and become file descriptors in link(), so emitting code needs no
// kernel at all and can be unit-tested.
//
// Distances: conditional jumps reach +-32767 instructions (the emitter keeps
// them local); jmp() reaches any distance (a 32-bit `gotol` when needed,
// kernel 6.4+ only then). link() fails, naming the label, when a
// conditional jump is out of reach or a label was never bound.
#pragma once

#include <linux/bpf.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace xdpguard::cls {

enum class Reg : std::uint8_t { R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 };
inline constexpr Reg kFp = Reg::R10;
// The opcode of the one two-slot instruction (BPF_LD and BPF_IMM are both 0).
inline constexpr std::uint8_t kLdImm64 = BPF_DW | BPF_LD | BPF_IMM;  // NOLINT(misc-redundant-expression)

// An instruction's 16-bit offset field from a structure's offsetof().
constexpr std::int16_t off(std::size_t o) { return static_cast<std::int16_t>(o); }
// A 32-bit immediate with the bits of an unsigned value (the field is
// signed; the verifier and the JIT read its bits).
constexpr std::int32_t imm_u32(std::uint32_t v) { return static_cast<std::int32_t>(v); }

enum class Size : std::uint8_t { B = BPF_B, H = BPF_H, W = BPF_W, DW = BPF_DW };

enum class Alu : std::uint8_t {
  Add = BPF_ADD,
  Sub = BPF_SUB,
  Mul = BPF_MUL,
  Or = BPF_OR,
  And = BPF_AND,
  Lsh = BPF_LSH,
  Rsh = BPF_RSH,
  Xor = BPF_XOR,
  Arsh = BPF_ARSH,
};

// Unsigned comparisons, plus Set (a & b != 0).
enum class Cond : std::uint8_t {
  Eq = BPF_JEQ,
  Ne = BPF_JNE,
  Gt = BPF_JGT,
  Ge = BPF_JGE,
  Lt = BPF_JLT,
  Le = BPF_JLE,
  Set = BPF_JSET,
};
// The condition that holds exactly when c does not (Set has none).
Cond negate(Cond c);

struct Label {
  std::uint32_t id = UINT32_MAX;
};

struct MapId {
  std::uint32_t index = 0;
};

// The signatures of the functions a generated program has; the loader turns
// them into BTF (the kernel verifies a global function once, on its own,
// trusting only these types, however many call sites it has).
enum class FnSig : std::uint8_t {
  Main,       // int f(struct xdp_md *ctx): the program's entry, instruction 0
  SetMember,  // int f(u32 set, struct xdpguard_addr *addr): 1 if addr is in set
  Group,      // int f(struct xdpguard_percpu *s): updates s's verdict
};

struct FunctionInfo {
  std::uint32_t offset = 0;  // of its first instruction
  std::string name;
  FnSig sig = FnSig::Main;
};

struct LinkedProgram {
  std::vector<bpf_insn> insns;
  std::vector<FunctionInfo> functions;  // by offset; functions[0] is the entry
};

class Program {
 public:
  // Labels and maps.
  [[nodiscard]] Label label();
  void bind(Label l);  // to the next instruction
  // Starts a global function at the next instruction (binding `entry`); its
  // code runs until the next function. Instruction 0 starts the entry.
  void begin_function(Label entry, std::string name, FnSig sig);
  [[nodiscard]] MapId map(std::string name);
  std::size_t size() const { return insns_.size(); }
  const std::vector<std::string>& map_names() const { return maps_; }

  // ALU, 64-bit; *32 operate on the low 32 bits and zero the upper ones.
  void mov(Reg d, Reg s);
  void mov(Reg d, std::int32_t imm);
  void mov32(Reg d, Reg s);
  void mov32(Reg d, std::int32_t imm);
  void alu(Alu op, Reg d, Reg s);
  void alu(Alu op, Reg d, std::int32_t imm);
  void alu32(Alu op, Reg d, Reg s);
  void alu32(Alu op, Reg d, std::int32_t imm);
  // Host to big-endian byte order of the low `bits` (16, 32, 64) bits; the
  // rest are zeroed. On a little-endian host: a byte swap.
  void to_be(Reg d, int bits);
  void ld_imm64(Reg d, std::uint64_t v);
  void ld_map(Reg d, MapId m);                              // pointer to the map
  void ld_map_value(Reg d, MapId m, std::uint32_t offset);  // into value 0

  // Memory.
  void ldx(Size sz, Reg d, Reg base, std::int16_t off);
  void stx(Size sz, Reg base, std::int16_t off, Reg s);
  void st(Size sz, Reg base, std::int16_t off, std::int32_t imm);
  // Atomic (W or DW): *(base + off) += s; and compare-and-exchange: if
  // *(base + off) equals r0 it becomes s; r0 := the value found.
  void atomic_add(Size sz, Reg base, std::int16_t off, Reg s);
  void cmpxchg(Size sz, Reg base, std::int16_t off, Reg s);

  // Control flow.
  void jmp(Label target);
  void jcc(Cond c, Reg a, std::int32_t imm, Label target);
  void jcc(Cond c, Reg a, Reg b, Label target);
  void jcc32(Cond c, Reg a, std::int32_t imm, Label target);  // compares the low 32 bits
  void call(bpf_func_id helper);
  void call_local(Label subprogram);  // BPF-to-BPF call
  void exit();

  // Appends code that clang compiled (a BpfFunction's instructions,
  // classifier/stub.h): its jumps get labels (so the code may be placed
  // anywhere, and link() patches them as it patches the emitter's), the
  // ld_imm64 at index `maps[k].first` loads map `maps[k].second`, helper
  // calls and everything else are copied. Refused, naming the instruction:
  // calls of functions or kfuncs, other pseudo ld_imm64s, legacy packet
  // loads, jumps out of the code or into an ld_imm64.
  [[nodiscard]] Result<void> splice(std::span<const bpf_insn> code,
                                    std::span<const std::pair<std::size_t, MapId>> maps);

  // The finished instructions: jumps patched, map references given the fds
  // (indexed by MapId::index), and code no path reaches left out (the
  // verifier refuses it; the emitter need not track which labels died).
  [[nodiscard]] Result<LinkedProgram> link_program(std::span<const int> map_fds) const;
  [[nodiscard]] Result<std::vector<bpf_insn>> link(std::span<const int> map_fds) const {
    return link_program(map_fds).map([](LinkedProgram&& p) { return std::move(p.insns); });
  }

 private:
  enum class Fix : std::uint8_t { Cond, Uncond, Call };
  struct Fixup {
    std::size_t at;
    Label target;
    Fix kind;
  };
  struct Reloc {
    std::size_t at;
    MapId map;
    bool value;
    std::uint32_t offset;
  };
  void emit(std::uint8_t code, Reg d, Reg s, std::int16_t off, std::int32_t imm);

  std::vector<bpf_insn> insns_;
  std::vector<std::int64_t> labels_;  // bound position, or -1
  std::vector<Fixup> fixups_;
  std::vector<Reloc> relocs_;
  std::vector<std::string> maps_;
  struct Function {
    Label entry;
    std::string name;
    FnSig sig;
  };
  std::vector<Function> functions_;
};

// One instruction in the kernel verifier's notation ("r1 = *(u32 *)(r6 +40)"),
// for `xdpguard rule plan --dump` and for debugging the emitter.
std::string disassemble(const bpf_insn& i);

}  // namespace xdpguard::cls
