// Functions that clang compiled, for the generated classifier to splice in
// (bpfilter's "ELF stubs"): a verdict's or a lookup's logic is written once,
// in C (bpf/stubs.bpf.c), and the emitter copies its instructions into the
// program it generates (Program::splice) instead of assembling them by hand.
//
// bpf_function() reads one global function of a BPF ELF object (the bytes a
// skeleton embeds): its instructions, and for each ld_imm64 that names a map
// (an R_BPF_64_64 relocation against a symbol of the .maps section) the
// map's name. Anything else it cannot carry over is refused, naming it: a
// call to another function (BPF-to-BPF or kfunc: the source must inline it),
// a reference to global data, a relocation of another kind.
#pragma once

#include <linux/bpf.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "classifier/asm.h"
#include "core/result.h"

namespace xdpguard::cls {

struct BpfFunction {
  std::string name;
  std::vector<bpf_insn> insns;
  struct MapRef {
    std::size_t at;    // the ld_imm64's instruction index
    std::string name;  // the map's symbol
  };
  std::vector<MapRef> maps;
};

[[nodiscard]] Result<BpfFunction> bpf_function(std::span<const std::uint8_t> elf, std::string_view name);

// A function of bpf/stubs.bpf.c ("xg_set4_member", "xg_verdict"), read from
// the object built into this binary.
[[nodiscard]] Result<BpfFunction> stub_function(std::string_view name);

// Splices stub function `name` into `p` at its current position
// (Program::splice); `map` gives the program's MapId for each map the
// function names (nothing: refused, naming it).
[[nodiscard]] Result<void> splice_stub(Program& p, std::string_view name,
                                       const std::function<std::optional<MapId>(std::string_view)>& map);

}  // namespace xdpguard::cls
