// The classifier's stubs (classifier/stub.h): functions read from a BPF ELF
// object with the maps they name, and spliced into a generated program
// (Program::splice) with their jumps relabeled wherever they land. The
// functions the classifier splices (bpf/stubs.bpf.c) read only the
// pipeline's maps and call only helpers; what cannot be spliced (a call of
// another function, global data, a broken object, jumps out of the code) is
// refused, naming it. (That the spliced code runs as its C says is the bpf
// tests' part: every set and verdict test runs it in the kernel.)
#include <gtest/gtest.h>

#include <linux/bpf.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "classifier/asm.h"
#include "classifier/stub.h"
#include "stub_cases.skel.h"

namespace xdpguard::cls {
namespace {

std::span<const std::uint8_t> cases_elf() {
  std::size_t n = 0;
  const void* p = stub_cases_bpf__elf_bytes(&n);
  return {static_cast<const std::uint8_t*>(p), n};
}

std::set<std::string> map_names(const BpfFunction& f) {
  std::set<std::string> s;
  for (const auto& m : f.maps) s.insert(m.name);
  return s;
}

TEST(ClassifierStub, TheClassifiersStubsReadOnlyPipelineMapsAndCallOnlyHelpers) {
  const std::vector<std::pair<std::string, std::set<std::string>>> want = {
      {"xg_set4_member", {"xg_set4"}},
      {"xg_set6_member", {"xg_set6"}},
      {"xg_verdict", {"xg_rule_stats", "xg_xsks"}},
  };
  for (const auto& [name, maps] : want) {
    auto f = stub_function(name);
    ASSERT_TRUE(f) << f.error().message();
    EXPECT_EQ(map_names(*f), maps) << name;
    for (const auto& m : f->maps) EXPECT_EQ(f->insns.at(m.at).code, kLdImm64) << name;
    for (const auto& i : f->insns) {
      if (i.code == (BPF_JMP | BPF_CALL)) {
        EXPECT_EQ(i.src_reg, 0) << name << ": only helper calls";
      }
    }
    // Each splices into a program, its maps given.
    Program p;
    std::vector<std::pair<std::size_t, MapId>> ids;
    for (const auto& m : f->maps) ids.emplace_back(m.at, p.map(m.name));
    auto r = p.splice(f->insns, ids);
    EXPECT_TRUE(r) << name << ": " << r.error().message();
  }
}

TEST(ClassifierStub, RefusesWhatCannotBeSplicedNamingIt) {
  auto good = bpf_function(cases_elf(), "stub_good");
  ASSERT_TRUE(good) << good.error().message();
  ASSERT_EQ(good->maps.size(), 1u);
  EXPECT_EQ(good->maps[0].name, "stub_counts");

  auto missing = bpf_function(cases_elf(), "no_such_function");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("no_such_function: no such function"), std::string::npos)
      << missing.error().message();

  // A BPF-to-BPF call: refused when read (its relocation) or when spliced.
  auto calls = bpf_function(cases_elf(), "stub_calls");
  std::string why;
  if (!calls) {
    why = calls.error().message();
  } else {
    Program p;
    auto r = p.splice(calls->insns, {});
    ASSERT_FALSE(r) << "a call of another function was spliced";
    why = r.error().message();
  }
  EXPECT_NE(why.find("call"), std::string::npos) << why;

  auto global = bpf_function(cases_elf(), "stub_global_data");
  ASSERT_FALSE(global);
  EXPECT_NE(global.error().message().find("global data cannot be spliced"), std::string::npos)
      << global.error().message();

  // Broken objects: not ELF, cut short.
  const std::vector<std::uint8_t> junk(64, 0x5a);
  EXPECT_FALSE(bpf_function(junk, "stub_good"));
  for (std::size_t n : {std::size_t{16}, std::size_t{64}, cases_elf().size() / 2, cases_elf().size() - 1}) {
    auto cut = bpf_function(cases_elf().first(n), "stub_good");
    // The function may still be whole in a prefix; never a crash, never a
    // function that is not the object's.
    if (cut) {
      EXPECT_EQ(cut->insns.size(), good->insns.size()) << n;
    }
  }
}

// Where jump i lands (its offset, or a gotol's imm).
std::size_t lands_at(const std::vector<bpf_insn>& v, std::size_t i) {
  const bool wide = v[i].code == (BPF_JMP32 | BPF_JA);
  return static_cast<std::size_t>(static_cast<std::int64_t>(i) + 1 + (wide ? v[i].imm : v[i].off));
}

TEST(ClassifierStub, SplicedJumpsLandWhereTheyDidWhereverTheCodeGoes) {
  auto good = bpf_function(cases_elf(), "stub_good");
  ASSERT_TRUE(good) << good.error().message();
  const auto& code = good->insns;
  // Placed after other code, twice, with a map given.
  Program p;
  const MapId counts = p.map("stub_counts");
  for (int k = 0; k < 7; ++k) p.mov(Reg::R0, k);
  const std::vector<std::pair<std::size_t, MapId>> ids = {{good->maps[0].at, counts}};
  ASSERT_TRUE(p.splice(code, ids));
  ASSERT_TRUE(p.splice(code, ids));
  const std::vector<int> fds = {42};
  auto linked = p.link(fds);
  ASSERT_TRUE(linked) << linked.error().message();
  // link() drops what no path reaches (the second copy: the first exits);
  // the first copy is there, instruction for instruction.
  const auto& out = *linked;
  ASSERT_GE(out.size(), 7 + code.size());
  for (std::size_t i = 0; i < code.size(); ++i) {
    const bpf_insn& a = code[i];
    const bpf_insn& b = out[7 + i];
    const unsigned cls = BPF_CLASS(a.code), op = BPF_OP(a.code);
    if ((cls == BPF_JMP || cls == BPF_JMP32) && op != BPF_CALL && op != BPF_EXIT) {
      EXPECT_EQ(lands_at(out, 7 + i), 7 + lands_at(code, i)) << "jump " << i;
    } else if (i == good->maps[0].at) {
      EXPECT_EQ(b.src_reg, BPF_PSEUDO_MAP_FD) << i;
      EXPECT_EQ(b.imm, 42) << i;
    } else if (i > 0 && code[i - 1].code == (kLdImm64)) {
      continue;  // the second half of an ld_imm64
    } else {
      EXPECT_EQ(std::memcmp(&a, &b, sizeof a), 0) << "instruction " << i << " copied";
    }
  }
}

TEST(ClassifierStub, SpliceRefusesBrokenCode) {
  auto insn = [](std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off, std::int32_t imm) {
    bpf_insn i{};
    i.code = code;
    i.dst_reg = dst;
    i.src_reg = src;
    i.off = off;
    i.imm = imm;
    return i;
  };
  const bpf_insn exit_ = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  struct Case {
    const char* what;
    std::vector<bpf_insn> code;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"jump past the end", {insn(BPF_JMP | BPF_JA, 0, 0, 5, 0), exit_}, "jump out of the code"},
      {"jump before the start",
       {insn(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, -3, 0), exit_},
       "jump out of the code"},
      {"jump into an ld_imm64",
       {insn(BPF_JMP | BPF_JA, 0, 0, 1, 0), insn(kLdImm64, 1, 0, 0, 7), insn(0, 0, 0, 0, 0), exit_},
       "into an ld_imm64"},
      {"ld_imm64 cut short", {exit_, insn(kLdImm64, 1, 0, 0, 7)}, "cut short"},
      {"pseudo ld_imm64 not given",
       {insn(kLdImm64, 1, BPF_PSEUDO_MAP_FD, 0, 3), insn(0, 0, 0, 0, 0), exit_},
       "not given"},
      {"BPF-to-BPF call",
       {insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 1), exit_, exit_},
       "call of a function"},
      // BPF_LD | BPF_ABS | BPF_W: the class and the size are 0
      {"legacy packet load", {insn(BPF_ABS, 0, 0, 0, 12), exit_}, "cannot be spliced"},
      {"register past r10", {insn(BPF_ALU64 | BPF_MOV | BPF_K, 11, 0, 0, 1), exit_}, "past r10"},
  };
  for (const auto& c : cases) {
    Program p;
    auto r = p.splice(c.code, {});
    ASSERT_FALSE(r) << c.what;
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << c.what << ": " << r.error().message();
  }
}

}  // namespace
}  // namespace xdpguard::cls
