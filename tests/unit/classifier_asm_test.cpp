// The classifier's assembler (classifier/asm.h): labels bound before and
// after their jumps, BPF-to-BPF calls, the jump distance limits (a far
// unconditional jump becomes a 32-bit `gotol`, a far conditional one is an
// error, both at exactly the int16 boundaries), unbound labels, map
// relocations, the disassembler. And link()'s clean-up (unreachable code,
// jumps to the next instruction, chains of jumps), checked on random
// programs by running them as written and as linked with the same branch
// decisions: same behaviour, no unreachable instruction left, ld_imm64 pairs
// whole, no jump into one.
#include <gtest/gtest.h>

#include <linux/bpf.h>

#include <random>

#include "classifier/asm.h"

namespace xdpguard::cls {
namespace {

constexpr std::uint8_t kGotol = BPF_JMP32 | BPF_JA;

std::vector<bpf_insn> linked(const Program& p, std::span<const int> fds = {}) {
  auto r = p.link(fds);
  EXPECT_TRUE(r) << r.error().message();
  return r ? *r : std::vector<bpf_insn>{};
}

// Where a jump instruction at index i lands.
std::int64_t target_of(const std::vector<bpf_insn>& v, std::size_t i) {
  const bpf_insn& x = v.at(i);
  const bool imm = x.code == kGotol || (x.code == (BPF_JMP | BPF_CALL) && x.src_reg == BPF_PSEUDO_CALL);
  return static_cast<std::int64_t>(i) + 1 + (imm ? x.imm : x.off);
}

TEST(ClassifierAsm, LabelsForwardAndBackward) {
  Program p;
  Label top = p.label(), fwd = p.label(), out = p.label();
  p.bind(top);
  p.mov(Reg::R0, 1);                 // 0
  p.jcc(Cond::Eq, Reg::R1, 7, fwd);  // 1 -> 4
  p.mov(Reg::R0, 2);                 // 2
  p.jmp(out);                        // 3 -> 6
  p.bind(fwd);
  p.jcc(Cond::Gt, Reg::R1, Reg::R2, top);  // 4 -> 0
  p.exit();                                // 5
  p.bind(out);
  p.exit();  // 6
  auto v = linked(p);
  ASSERT_EQ(v.size(), 7u);
  EXPECT_EQ(v[1].code, BPF_JMP | BPF_JEQ | BPF_K);
  EXPECT_EQ(v[1].off, 2);
  EXPECT_EQ(v[1].imm, 7);
  EXPECT_EQ(v[3].code, BPF_JMP | BPF_JA);
  EXPECT_EQ(v[3].off, 2);
  EXPECT_EQ(v[4].code, BPF_JMP | BPF_JGT | BPF_X);
  EXPECT_EQ(v[4].off, -5);
  EXPECT_EQ(v[4].src_reg, 2);
  EXPECT_EQ(target_of(v, 4), 0);
}

TEST(ClassifierAsm, Jmp32AndLocalCall) {
  Program p;
  Label sub = p.label(), l = p.label();
  p.call_local(sub);                 // 0 -> 3
  p.jcc32(Cond::Le, Reg::R0, 5, l);  // 1 -> 2
  p.bind(l);
  p.exit();  // 2
  p.bind(sub);
  p.mov(Reg::R0, 0);  // 3
  p.exit();           // 4
  auto v = linked(p);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0].code, BPF_JMP | BPF_CALL);
  EXPECT_EQ(v[0].src_reg, BPF_PSEUDO_CALL);
  EXPECT_EQ(v[0].imm, 2);
  EXPECT_EQ(v[1].code, BPF_JMP32 | BPF_JLE | BPF_K);
  EXPECT_EQ(v[1].off, 0);
}

// A conditional jump over `gap` instructions that the condition keeps alive.
Program cond_forward(std::size_t gap) {
  Program p;
  Label l = p.label();
  p.jcc(Cond::Eq, Reg::R1, 0, l);
  for (std::size_t i = 0; i < gap; ++i) p.mov(Reg::R0, static_cast<std::int32_t>(i));
  p.bind(l);
  p.exit();
  return p;
}

Program cond_backward(std::size_t gap) {
  Program p;
  Label l = p.label();
  p.bind(l);
  for (std::size_t i = 0; i < gap; ++i) p.mov(Reg::R0, static_cast<std::int32_t>(i));
  p.jcc(Cond::Ne, Reg::R1, 0, l);
  p.exit();
  return p;
}

TEST(ClassifierAsm, ConditionalJumpLimits) {
  {
    auto v = linked(cond_forward(32767));
    ASSERT_EQ(v.size(), 32769u);
    EXPECT_EQ(v[0].off, 32767);
    EXPECT_EQ(target_of(v, 0), 32768);
  }
  {
    auto r = cond_forward(32768).link({});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), E2BIG);
    EXPECT_NE(r.error().message().find("conditional jump at instruction 0"), std::string::npos)
        << r.error().message();
    EXPECT_NE(r.error().message().find("32768"), std::string::npos) << r.error().message();
  }
  {
    auto v = linked(cond_backward(32767));  // delta -32768: the int16 minimum
    ASSERT_EQ(v.size(), 32769u);
    EXPECT_EQ(v[32767].off, -32768);
    EXPECT_EQ(target_of(v, 32767), 0);
  }
  {
    auto r = cond_backward(32768).link({});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), E2BIG);
  }
}

// A jmp back to instruction 0 from instruction gap + 3, over `gap` live
// instructions (a conditional jump keeps the code after it alive).
Program back_jmp(std::size_t gap) {
  Program p;
  Label top = p.label(), body = p.label(), over = p.label();
  p.bind(top);
  p.jcc(Cond::Eq, Reg::R1, 0, body);  // 0
  p.exit();                           // 1
  p.bind(body);
  for (std::size_t i = 0; i < gap; ++i) p.mov(Reg::R0, static_cast<std::int32_t>(i));
  p.jcc(Cond::Eq, Reg::R2, 0, over);  // gap + 2
  p.jmp(top);                         // gap + 3
  p.bind(over);
  p.exit();
  return p;
}

TEST(ClassifierAsm, FarJmpBecomesGotol) {
  {
    Program p;
    Label l = p.label(), alive = p.label();
    p.jcc(Cond::Eq, Reg::R1, 0, alive);  // 0
    p.jmp(l);                            // 1: goto 40002 -> delta 40000
    p.bind(alive);
    for (int i = 0; i < 40000; ++i) p.mov(Reg::R0, i);  // 2..40001
    p.bind(l);
    p.exit();  // 40002
    auto v = linked(p);
    ASSERT_EQ(v.size(), 40003u);
    EXPECT_EQ(v[1].code, kGotol);
    EXPECT_EQ(v[1].imm, 40000);
    EXPECT_EQ(v[1].off, 0);
    EXPECT_EQ(target_of(v, 1), 40002);
  }
  {
    auto v = linked(back_jmp(40000));
    ASSERT_EQ(v.size(), 40005u);
    EXPECT_EQ(v[40003].code, kGotol);
    EXPECT_EQ(v[40003].imm, -40004);
    EXPECT_EQ(target_of(v, 40003), 0);
  }
  {
    // Exactly at the int16 limits the short form stays.
    Program p;
    Label l = p.label(), alive = p.label();
    p.jcc(Cond::Eq, Reg::R1, 0, alive);
    p.jmp(l);
    p.bind(alive);
    for (int i = 0; i < 32767; ++i) p.mov(Reg::R0, i);
    p.bind(l);
    p.exit();
    auto v = linked(p);
    EXPECT_EQ(v[1].code, BPF_JMP | BPF_JA);
    EXPECT_EQ(v[1].off, 32767);
  }
  {
    auto v = linked(back_jmp(32764));  // jmp at 32767 -> 0: delta -32768
    EXPECT_EQ(v[32767].code, BPF_JMP | BPF_JA);
    EXPECT_EQ(v[32767].off, -32768);
    auto w = linked(back_jmp(32765));  // delta -32769: gotol
    EXPECT_EQ(w[32768].code, kGotol);
    EXPECT_EQ(w[32768].imm, -32769);
  }
}

TEST(ClassifierAsm, UnboundLabelIsAnError) {
  Program p;
  Label bound = p.label(), never = p.label();
  p.jcc(Cond::Eq, Reg::R1, 0, bound);
  p.jmp(never);
  p.bind(bound);
  p.exit();
  auto r = p.link({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), EINVAL);
  EXPECT_NE(r.error().message().find("label 1 used at instruction 1 is never bound"), std::string::npos)
      << r.error().message();

  Program q;
  q.call_local(q.label());
  q.exit();
  EXPECT_FALSE(q.link({}));
}

TEST(ClassifierAsm, BindingTwiceIsABug) {
  Program p;
  Label l = p.label();
  p.bind(l);
  EXPECT_THROW(p.bind(l), std::logic_error);
  EXPECT_THROW(p.bind(Label{}), std::logic_error);
  EXPECT_THROW(p.to_be(Reg::R1, 8), std::logic_error);
  EXPECT_THROW(negate(Cond::Set), std::logic_error);
  EXPECT_EQ(negate(Cond::Lt), Cond::Ge);
  EXPECT_EQ(negate(Cond::Gt), Cond::Le);
}

TEST(ClassifierAsm, MapRelocations) {
  Program p;
  MapId a = p.map("xg_a"), b = p.map("xg_b");
  EXPECT_EQ(p.map_names(), (std::vector<std::string>{"xg_a", "xg_b"}));
  p.ld_map(Reg::R1, b);                        // 0, 1
  p.ld_map_value(Reg::R2, a, 12345);           // 2, 3
  p.ld_imm64(Reg::R3, 0x1122334455667788ull);  // 4, 5: not a map
  p.mov(Reg::R0, 0);
  p.exit();
  const int fds[] = {41, 42};
  auto v = linked(p, fds);
  ASSERT_EQ(v.size(), 8u);
  EXPECT_EQ(v[0].code, kLdImm64);
  EXPECT_EQ(v[0].dst_reg, 1);
  EXPECT_EQ(v[0].src_reg, BPF_PSEUDO_MAP_FD);
  EXPECT_EQ(v[0].imm, 42);
  EXPECT_EQ(v[1].code, 0);
  EXPECT_EQ(v[1].imm, 0);
  EXPECT_EQ(v[2].src_reg, BPF_PSEUDO_MAP_VALUE);
  EXPECT_EQ(v[2].dst_reg, 2);
  EXPECT_EQ(v[2].imm, 41);
  EXPECT_EQ(v[3].imm, 12345);
  EXPECT_EQ(v[4].src_reg, 0);
  EXPECT_EQ(static_cast<std::uint32_t>(v[4].imm), 0x55667788u);
  EXPECT_EQ(static_cast<std::uint32_t>(v[5].imm), 0x11223344u);

  const int one[] = {41};
  auto r = p.link(one);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no fd for map 1"), std::string::npos) << r.error().message();
}

TEST(ClassifierAsm, DisassemblesInVerifierNotation) {
  Program p;
  p.ldx(Size::W, Reg::R1, Reg::R6, 40);
  p.alu32(Alu::And, Reg::R1, 255);
  p.stx(Size::DW, kFp, -8, Reg::R1);
  p.exit();
  auto v = linked(p);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(disassemble(v[0]), "r1 = *(u32 *)(r6 +40)");
  EXPECT_EQ(disassemble(v[1]), "w1 &= 255");
  EXPECT_EQ(disassemble(v[2]), "*(u64 *)(r10 -8) = r1");
  EXPECT_EQ(disassemble(v[3]), "exit");
}

// ---- dead code removal -------------------------------------------------------

// ---- dead code removal and jump threading ---------------------------------------
//
// link() may drop unreachable code, jumps to the next instruction, and send
// a jump straight to where a chain of unconditional jumps would take it. The
// checks below are therefore semantic: run the program as written and as
// linked, with the same sequence of branch decisions, and compare what they
// do (the instructions other than unconditional jumps that they execute).

constexpr std::int64_t kTokExit = -1, kTokCall = -2, kTokSpin = -3, kTokOff = -4, kTokBad = -5;
using Trace = std::vector<std::int64_t>;
constexpr std::size_t kMaxEvents = 300;

// The n-th branch decision of a run.
struct Oracle {
  std::uint64_t seed;
  std::uint64_t n = 0;
  bool next() {
    std::uint64_t z = seed + 0x9e3779b97f4a7c15ull * ++n;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return ((z ^ (z >> 31)) & 1) != 0;
  }
};

// Runs linked code: movs and ld_imm64 report their immediate, conditional
// jumps theirs and then branch as the oracle says (calls too, as "call").
Trace run_linked(const std::vector<bpf_insn>& v, std::uint64_t seed) {
  Trace t;
  Oracle o{seed};
  std::int64_t pc = 0;
  // More unconditional jumps in a row than instructions: a loop of them.
  for (std::size_t quiet = 0, seen = 0; t.size() < kMaxEvents; ++quiet) {
    if (t.size() != seen) seen = t.size(), quiet = 0;
    if (quiet > v.size()) {
      t.push_back(kTokSpin);
      break;
    }
    if (pc < 0 || static_cast<std::size_t>(pc) >= v.size()) {
      t.push_back(kTokOff);
      break;
    }
    const auto i = static_cast<std::size_t>(pc);
    const bpf_insn& x = v[i];
    if (x.code == kLdImm64) {
      t.push_back(x.imm);
      pc += 2;
    } else if (x.code == (BPF_ALU64 | BPF_MOV | BPF_K)) {
      t.push_back(x.imm);
      ++pc;
    } else if (x.code == (BPF_JMP | BPF_EXIT)) {
      t.push_back(kTokExit);
      break;
    } else if (x.code == (BPF_JMP | BPF_JA) || x.code == kGotol) {
      pc = target_of(v, i);
    } else if (x.code == (BPF_JMP | BPF_CALL) && x.src_reg == BPF_PSEUDO_CALL) {
      t.push_back(kTokCall);
      pc = o.next() ? target_of(v, i) : pc + 1;
    } else if (x.code == (BPF_JMP | BPF_JEQ | BPF_K)) {
      t.push_back(x.imm);
      pc = o.next() ? target_of(v, i) : pc + 1;
    } else {
      t.push_back(kTokBad);
      break;
    }
  }
  return t;
}

// Instructions of linked code that no path reaches, or jumps into the middle
// of an ld_imm64 or out of the program: all refused by the verifier.
std::vector<std::string> static_problems(const std::vector<bpf_insn>& v) {
  std::vector<std::string> out;
  std::vector<bool> second_half(v.size(), false), live(v.size(), false);
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i].code == kLdImm64) {
      if (i + 1 >= v.size() || v[i + 1].code != 0) out.push_back("split ld_imm64 at " + std::to_string(i));
      if (i + 1 < v.size()) second_half[i + 1] = true;
      ++i;
    }
  std::vector<std::int64_t> todo{0};
  while (!todo.empty()) {
    const std::int64_t pc = todo.back();
    todo.pop_back();
    if (pc < 0 || static_cast<std::size_t>(pc) >= v.size()) {
      out.push_back("control leaves the program at " + std::to_string(pc));
      continue;
    }
    const auto i = static_cast<std::size_t>(pc);
    if (second_half[i]) out.push_back("jump into an ld_imm64 at " + std::to_string(i));
    if (live[i]) continue;
    live[i] = true;
    const bpf_insn& x = v[i];
    if (x.code == kLdImm64) {
      live[i + 1] = true;
      todo.push_back(pc + 2);
      continue;
    }
    if (x.code == (BPF_JMP | BPF_EXIT)) continue;
    const bool ja = x.code == (BPF_JMP | BPF_JA) || x.code == kGotol;
    const bool branch = BPF_CLASS(x.code) == BPF_JMP || BPF_CLASS(x.code) == BPF_JMP32;
    const bool helper = x.code == (BPF_JMP | BPF_CALL) && x.src_reg != BPF_PSEUDO_CALL;
    if (branch && !helper) todo.push_back(target_of(v, i));
    if (!ja) todo.push_back(pc + 1);
  }
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!live[i]) out.push_back("unreachable instruction " + std::to_string(i) + ": " + disassemble(v[i]));
  return out;
}

TEST(ClassifierAsm, DropsCodeAfterExitAndUnconditionalJumps) {
  Program p;
  Label l = p.label(), unused = p.label();
  p.mov(Reg::R0, 1);
  p.jmp(l);
  p.mov(Reg::R0, 2);        // dead
  p.bind(unused);           // bound, but no jump uses it
  p.ld_imm64(Reg::R2, 99);  // dead pair
  p.exit();                 // dead
  p.bind(l);
  p.mov(Reg::R0, 3);
  p.exit();
  auto v = linked(p);
  EXPECT_LE(v.size(), 4u);
  EXPECT_EQ(static_problems(v), std::vector<std::string>{});
  EXPECT_EQ(run_linked(v, 0), (Trace{1, 3, kTokExit}));
  (void)unused;
}

TEST(ClassifierAsm, ThreadsJumpChains) {
  // A conditional jump to a jump to a jump: it goes straight to the end, and
  // the chain, now unreachable, goes.
  Program p;
  Label a = p.label(), b = p.label(), c = p.label();
  p.jcc(Cond::Eq, Reg::R1, 5, a);
  p.mov(Reg::R0, 1);
  p.exit();
  p.bind(a);
  p.jmp(b);
  p.bind(b);  // a jump to the next instruction
  p.jmp(c);
  p.mov(Reg::R0, 2);
  p.bind(c);
  p.mov(Reg::R0, 3);
  p.exit();
  auto v = linked(p);
  EXPECT_EQ(static_problems(v), std::vector<std::string>{});
  for (std::uint64_t seed = 0; seed < 8; ++seed) {
    const Trace t = run_linked(v, seed);
    EXPECT_TRUE(t == (Trace{5, 1, kTokExit}) || t == (Trace{5, 3, kTokExit})) << seed;
  }
  EXPECT_EQ(v.size(), 5u) << "the chain of jumps is still there";
  if (!v.empty()) {
    EXPECT_EQ(target_of(v, 0), 3);
  }
}

TEST(ClassifierAsm, GotolSurvivesRemovalAndShrinks) {
  Program p;
  Label alive = p.label(), far = p.label();
  p.jcc(Cond::Eq, Reg::R1, 0, alive);  // 0
  p.jmp(far);                          // 1: gotol +40002 before removal
  p.exit();                            // dead: after a jump
  p.bind(alive);
  for (int i = 0; i < 20000; ++i) p.mov(Reg::R0, i);  // live
  p.exit();
  for (int i = 0; i < 20000; ++i) p.mov(Reg::R0, -i);  // dead
  p.bind(far);
  p.mov(Reg::R0, 777);
  p.exit();
  auto v = linked(p);
  ASSERT_EQ(v.size(), 2u + 20000 + 1 + 2);
  EXPECT_EQ(v[1].code, kGotol);
  const auto t = target_of(v, 1);
  ASSERT_EQ(t, 20003);
  EXPECT_EQ(v[static_cast<std::size_t>(t)].imm, 777);
  EXPECT_EQ(v[0].off, 1);
}

// A random program and a model of its control flow.
struct Model {
  enum Kind { Mov, Jcc, Jmp, Exit, Imm64, Call };
  struct Item {
    Kind kind;
    int label = -1;       // jump target
    std::int32_t id = 0;  // immediate that identifies the instruction
  };
  std::vector<Item> items;
  std::vector<std::size_t> label_item;  // item a label is bound before
};

Model random_model(std::mt19937& rng, std::size_t n) {
  Model m;
  auto pick = [&](std::size_t k) { return static_cast<std::size_t>(rng() % k); };
  const std::size_t nlabels = 1 + n / 4;
  for (std::size_t l = 0; l < nlabels; ++l) m.label_item.push_back(pick(n));
  for (std::size_t i = 0; i < n; ++i) {
    Model::Item it;
    const std::size_t r = pick(100);
    it.kind = r < 35   ? Model::Mov
              : r < 57 ? Model::Jcc
              : r < 75 ? Model::Jmp
              : r < 85 ? Model::Exit
              : r < 95 ? Model::Imm64
                       : Model::Call;
    if (i + 1 == n) it.kind = Model::Exit;
    if (it.kind == Model::Jcc || it.kind == Model::Jmp || it.kind == Model::Call)
      it.label = static_cast<int>(pick(nlabels));
    it.id = static_cast<std::int32_t>(1000 + i);
    m.items.push_back(it);
  }
  return m;
}

Program assemble(const Model& m) {
  Program p;
  std::vector<Label> labels;
  for (std::size_t l = 0; l < m.label_item.size(); ++l) labels.push_back(p.label());
  for (std::size_t i = 0; i < m.items.size(); ++i) {
    for (std::size_t l = 0; l < labels.size(); ++l)
      if (m.label_item[l] == i) p.bind(labels[l]);
    const auto& it = m.items[i];
    switch (it.kind) {
      case Model::Mov: p.mov(Reg::R0, it.id); break;
      case Model::Jcc: p.jcc(Cond::Eq, Reg::R1, it.id, labels[static_cast<std::size_t>(it.label)]); break;
      case Model::Jmp: p.jmp(labels[static_cast<std::size_t>(it.label)]); break;
      case Model::Exit: p.exit(); break;
      case Model::Imm64:
        p.ld_imm64(Reg::R2, (std::uint64_t{0xabcd} << 32) | static_cast<std::uint32_t>(it.id));
        break;
      case Model::Call: p.call_local(labels[static_cast<std::size_t>(it.label)]); break;
    }
  }
  return p;
}

// Runs the program as written (the model), like run_linked.
Trace run_model(const Model& m, std::uint64_t seed) {
  Trace t;
  Oracle o{seed};
  std::size_t pc = 0;
  for (std::size_t quiet = 0, seen = 0; t.size() < kMaxEvents; ++quiet) {
    if (t.size() != seen) seen = t.size(), quiet = 0;
    if (quiet > m.items.size()) {
      t.push_back(kTokSpin);
      break;
    }
    if (pc >= m.items.size()) {
      t.push_back(kTokOff);
      break;
    }
    const auto& it = m.items[pc];
    const std::size_t target = it.label >= 0 ? m.label_item[static_cast<std::size_t>(it.label)] : 0;
    switch (it.kind) {
      case Model::Mov:
      case Model::Imm64: t.push_back(it.id), ++pc; break;
      case Model::Exit: t.push_back(kTokExit); return t;
      case Model::Jmp: pc = target; break;
      case Model::Jcc: t.push_back(it.id), pc = o.next() ? target : pc + 1; break;
      case Model::Call: t.push_back(kTokCall), pc = o.next() ? target : pc + 1; break;
    }
  }
  return t;
}

std::string dump(const Model& m, const std::vector<bpf_insn>& v) {
  static const char* names[] = {"mov", "jcc", "jmp", "exit", "imm64", "call"};
  std::string s = "model:\n";
  for (std::size_t i = 0; i < m.items.size(); ++i) {
    s += "  " + std::to_string(i) + ": ";
    for (std::size_t l = 0; l < m.label_item.size(); ++l)
      if (m.label_item[l] == i) s += "L" + std::to_string(l) + ": ";
    s += std::string(names[m.items[i].kind]) + " " + std::to_string(m.items[i].id);
    if (m.items[i].label >= 0) s += " L" + std::to_string(m.items[i].label);
    s += "\n";
  }
  s += "linked:\n";
  for (std::size_t k = 0; k < v.size(); ++k) s += "  " + std::to_string(k) + ": " + disassemble(v[k]) + "\n";
  return s;
}

TEST(ClassifierAsm, LinkedCodeBehavesAsWritten) {
  std::mt19937 rng(20240611);
  for (int round = 0; round < 400; ++round) {
    const std::size_t n = 1 + rng() % (round < 300 ? 40 : 400);
    const Model m = random_model(rng, n);
    auto v = linked(assemble(m));
    SCOPED_TRACE(testing::Message() << "round " << round << ", " << n << " items");
    const auto problems = static_problems(v);
    ASSERT_EQ(problems, std::vector<std::string>{}) << dump(m, v);
    // Nothing that runs was lost: every instruction of the model that some
    // run executes is in the linked code (a run that reaches it shows it).
    std::size_t executed = 0;
    for (std::uint64_t seed = 0; seed < 40; ++seed) {
      const Trace want = run_model(m, seed);
      const Trace got = run_linked(v, seed);
      ASSERT_EQ(got, want) << "oracle seed " << seed << "\n" << dump(m, v);
      executed += want.size();
    }
    EXPECT_GT(executed, 0u);
  }
}

}  // namespace
}  // namespace xdpguard::cls
