#include "classifier/stub.h"

#include <elf.h>

#include <cstring>
#include <optional>

#include "stubs.skel.h"

namespace xdpguard::cls {
namespace {

// R_BPF_64_64: the 64-bit immediate of an ld_imm64 (a map, or global data).
constexpr std::uint32_t kRelocLdImm64 = 1;

// The bytes of an ELF structure at `off`, or nothing when out of bounds.
template <class T>
std::optional<T> read_at(std::span<const std::uint8_t> elf, std::uint64_t off) {
  if (off > elf.size() || elf.size() - off < sizeof(T)) return std::nullopt;
  T v;
  std::memcpy(&v, elf.data() + off, sizeof(T));
  return v;
}

}  // namespace

Result<BpfFunction> bpf_function(std::span<const std::uint8_t> elf, std::string_view name) {
  auto bad = [&](std::string_view what) { return fail(EINVAL, "BPF object, function {}: {}", name, what); };
  const auto eh = read_at<Elf64_Ehdr>(elf, 0);
  if (!eh || std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_BPF)
    return bad("not a little-endian 64-bit BPF ELF object");
  if (eh->e_shentsize != sizeof(Elf64_Shdr)) return bad("unexpected section header size");
  std::vector<Elf64_Shdr> sh;
  for (unsigned i = 0; i < eh->e_shnum; ++i) {
    auto s = read_at<Elf64_Shdr>(elf, eh->e_shoff + std::uint64_t{i} * sizeof(Elf64_Shdr));
    if (!s) return bad("section header past the end");
    if (s->sh_type != SHT_NOBITS && (s->sh_offset > elf.size() || elf.size() - s->sh_offset < s->sh_size))
      return bad("section past the end");
    sh.push_back(*s);
  }
  // A NUL-terminated string of section `strtab` at `off`.
  auto str = [&](std::size_t strtab, std::uint64_t off) -> std::optional<std::string_view> {
    if (strtab >= sh.size() || off >= sh[strtab].sh_size) return std::nullopt;
    const char* p = reinterpret_cast<const char*>(elf.data() + sh[strtab].sh_offset + off);
    const std::size_t n = strnlen(p, sh[strtab].sh_size - off);
    if (n == sh[strtab].sh_size - off) return std::nullopt;
    return std::string_view(p, n);
  };
  auto section_name = [&](std::size_t i) { return str(eh->e_shstrndx, sh[i].sh_name).value_or(""); };
  std::size_t symtab = sh.size();
  for (std::size_t i = 0; i < sh.size(); ++i)
    if (sh[i].sh_type == SHT_SYMTAB) symtab = i;
  if (symtab == sh.size() || sh[symtab].sh_entsize != sizeof(Elf64_Sym)) return bad("no symbol table");
  const std::size_t nsyms = sh[symtab].sh_size / sizeof(Elf64_Sym);
  auto sym = [&](std::size_t i) {
    return read_at<Elf64_Sym>(elf, sh[symtab].sh_offset + i * sizeof(Elf64_Sym));
  };

  std::optional<Elf64_Sym> fn;
  for (std::size_t i = 0; i < nsyms && !fn; ++i) {
    auto s = sym(i);
    if (s && ELF64_ST_TYPE(s->st_info) == STT_FUNC && str(sh[symtab].sh_link, s->st_name) == name) fn = s;
  }
  if (!fn) return bad("no such function");
  const std::size_t text = fn->st_shndx;
  if (text == 0 || text >= sh.size() || sh[text].sh_type != SHT_PROGBITS) return bad("not in a code section");
  if (fn->st_size == 0 || fn->st_size % sizeof(bpf_insn) != 0 || fn->st_value % sizeof(bpf_insn) != 0 ||
      fn->st_value > sh[text].sh_size || sh[text].sh_size - fn->st_value < fn->st_size)
    return bad("its size or place is not whole instructions inside its section");

  BpfFunction out;
  out.name = std::string(name);
  out.insns.resize(fn->st_size / sizeof(bpf_insn));
  std::memcpy(out.insns.data(), elf.data() + sh[text].sh_offset + fn->st_value, fn->st_size);

  // Its relocations: the REL section that applies to its section, the
  // entries inside the function.
  for (std::size_t r = 0; r < sh.size(); ++r) {
    if (sh[r].sh_type != SHT_REL || sh[r].sh_info != text) continue;
    if (sh[r].sh_entsize != sizeof(Elf64_Rel) || sh[r].sh_link != symtab)
      return bad("unexpected REL section");
    for (std::uint64_t k = 0; k < sh[r].sh_size / sizeof(Elf64_Rel); ++k) {
      const auto rel = read_at<Elf64_Rel>(elf, sh[r].sh_offset + k * sizeof(Elf64_Rel));
      if (!rel) return bad("relocation past the end");
      if (rel->r_offset < fn->st_value || rel->r_offset >= fn->st_value + fn->st_size) continue;
      const std::size_t at = (rel->r_offset - fn->st_value) / sizeof(bpf_insn);
      const auto target = sym(ELF64_R_SYM(rel->r_info));
      std::string target_name;
      if (target)
        if (auto n = str(sh[symtab].sh_link, target->st_name)) target_name = std::string(*n);
      const std::string what =
          fmt::format("instruction {} refers to {}", at, target_name.empty() ? "?" : target_name);
      if (ELF64_R_TYPE(rel->r_info) != kRelocLdImm64)
        return bad(
            fmt::format("{} by relocation type {}: a call or a reference that cannot be spliced "
                        "(inline it)",
                        what, ELF64_R_TYPE(rel->r_info)));
      if (!target || target_name.empty() || target->st_shndx >= sh.size() ||
          section_name(target->st_shndx) != ".maps")
        return bad(what + ", which is not a map (global data cannot be spliced)");
      if (out.insns[at].code != (kLdImm64) || at + 1 >= out.insns.size())
        return bad(what + " from an instruction that is not an ld_imm64");
      out.maps.push_back({at, target_name});
    }
  }
  return out;
}

Result<void> splice_stub(Program& p, std::string_view name,
                         const std::function<std::optional<MapId>(std::string_view)>& map) {
  const auto fn = XG_TRY(stub_function(name));
  std::vector<std::pair<std::size_t, MapId>> maps;
  for (const auto& m : fn.maps) {
    const auto id = map(m.name);
    if (!id) return fail(EINVAL, "stub {} reads map {}, which this program does not have", fn.name, m.name);
    maps.emplace_back(m.at, *id);
  }
  return with_context(p.splice(fn.insns, maps), "stub " + fn.name);
}

Result<BpfFunction> stub_function(std::string_view name) {
  std::size_t size = 0;
  const void* bytes = stubs_bpf__elf_bytes(&size);
  return bpf_function({static_cast<const std::uint8_t*>(bytes), size}, name);
}

}  // namespace xdpguard::cls
