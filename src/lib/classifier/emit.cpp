#include "classifier/emit.h"

#include <linux/bpf.h>

#include <cstddef>
#include <map>

#include "bpf/abi.h"
#include "classifier/sets.h"

namespace xdpguard::cls {
namespace {

using R = Reg;

constexpr std::int16_t off(std::size_t o) { return static_cast<std::int16_t>(o); }

// Scratch offsets.
constexpr std::int16_t kPrio = off(offsetof(xdpguard_percpu, prio));
constexpr std::int16_t kSlot = off(offsetof(xdpguard_percpu, slot));
constexpr std::int16_t kAction = off(offsetof(xdpguard_percpu, action));
constexpr std::int16_t kIfindex = off(offsetof(xdpguard_percpu, ifindex));
constexpr std::int16_t kFamily = off(offsetof(xdpguard_percpu, pkt.family));
constexpr std::int16_t kProto = off(offsetof(xdpguard_percpu, pkt.l4proto));
constexpr std::int16_t kFrag = off(offsetof(xdpguard_percpu, pkt.frag));
constexpr std::int16_t kFlags = off(offsetof(xdpguard_percpu, pkt.tcp_flags));
constexpr std::int16_t kSaddr = off(offsetof(xdpguard_percpu, pkt.saddr));
constexpr std::int16_t kDaddr = off(offsetof(xdpguard_percpu, pkt.daddr));
constexpr std::int16_t kSport = off(offsetof(xdpguard_percpu, pkt.sport));
constexpr std::int16_t kDport = off(offsetof(xdpguard_percpu, pkt.dport));
constexpr std::int16_t kCtx = -8;  // the spilled context

std::int16_t addr_off(Field f) { return f == Field::Saddr ? kSaddr : kDaddr; }
std::int16_t port_off(Field f) { return f == Field::Sport ? kSport : kDport; }

// Record field offsets (same positions in Record4 and Record6 up to ifindex).
template <class Rec>
struct RecOff {
  static constexpr std::int16_t prio = off(offsetof(Rec, prio));
  static constexpr std::int16_t slot = off(offsetof(Rec, slot));
  static constexpr std::int16_t action = off(offsetof(Rec, action));
  static constexpr std::int16_t ifindex = off(offsetof(Rec, ifindex));
  static constexpr std::int16_t smask = off(offsetof(Rec, smask));
  static constexpr std::int16_t sval = off(offsetof(Rec, sval));
  static constexpr std::int16_t dmask = off(offsetof(Rec, dmask));
  static constexpr std::int16_t dval = off(offsetof(Rec, dval));
  static constexpr std::int16_t sport_lo = off(offsetof(Rec, sport_lo));
  static constexpr std::int16_t sport_hi = off(offsetof(Rec, sport_hi));
  static constexpr std::int16_t dport_lo = off(offsetof(Rec, dport_lo));
  static constexpr std::int16_t dport_hi = off(offsetof(Rec, dport_hi));
  static constexpr std::int16_t flags_mask = off(offsetof(Rec, flags_mask));
  static constexpr std::int16_t flags_val = off(offsetof(Rec, flags_val));
  static constexpr std::int16_t l4 = off(offsetof(Rec, l4));
};

std::int32_t imm_u32(std::uint32_t v) { return static_cast<std::int32_t>(v); }

std::uint32_t log2_exact(std::uint32_t v) {
  std::uint32_t l = 0;
  while ((1u << l) < v) ++l;
  return l;
}

const std::optional<rules::AddrMatch>& addr_of(const rules::Rule& r, Field f) {
  return f == Field::Saddr ? r.saddr : r.daddr;
}

class Emitter {
 public:
  Emitter(const Plan& plan, const Tables& tables) : plan_(plan), tables_(tables) {
    maps_[kMapPercpu] = p_.map("xg_percpu");
    maps_[kMapProgs] = p_.map("xg_progs");
    maps_[kMapBlob] = p_.map("rule tables");
    maps_[kMapSet4] = p_.map("xg_set4");
    maps_[kMapSet6] = p_.map("xg_set6");
  }

  Result<Program> run() {
    Label end = p_.label();
    entry(end);
    dispatch(end);
    for (auto& [key, code] : class_code_) {
      p_.bind(code.label);
      class_path(*code.path, end);
    }
    finish(end);
    return std::move(p_);
  }

 private:
  struct ClassCode {
    Label label;
    const ClassPath* path;
  };

  void entry(Label end) {
    (void)end;
    p_.stx(Size::DW, kFp, kCtx, R::R1);
    p_.st(Size::W, kFp, -12, 0);
    p_.ld_map(R::R1, maps_[kMapPercpu]);
    p_.mov(R::R2, kFp);
    p_.alu(Alu::Add, R::R2, -12);
    p_.call(BPF_FUNC_map_lookup_elem);
    Label have = p_.label();
    p_.jcc(Cond::Ne, R::R0, 0, have);
    p_.mov(R::R0, XDP_PASS);  // cannot happen: a per-CPU array's entry 0 exists
    p_.exit();
    p_.bind(have);
    p_.mov(R::R6, R::R0);
    p_.st(Size::W, R::R6, kPrio, imm_u32(XDPGUARD_PRIO_NONE));
    p_.st(Size::W, R::R6, kSlot, XDPGUARD_RULE_DEFAULT);
    p_.st(Size::W, R::R6, kAction, imm_u32(plan_.default_action));
  }

  // Label of the code for a class's path; classes with the same groups (and
  // the same fragment bit) share it.
  Label class_label(const ClassPath& c) {
    std::vector<std::uint32_t> key = c.groups;
    key.push_back(c.key.family);
    key.push_back(c.key.frag);
    auto it = class_code_.find(key);
    if (it == class_code_.end()) it = class_code_.emplace(key, ClassCode{p_.label(), &c}).first;
    return it->second.label;
  }

  void dispatch(Label end) {
    std::map<std::pair<int, bool>, std::vector<const ClassPath*>> by;
    for (const auto& c : plan_.classes) by[{c.key.family, c.key.frag}].push_back(&c);
    p_.ldx(Size::B, R::R1, R::R6, kFamily);
    p_.ldx(Size::B, R::R2, R::R6, kFrag);
    p_.ldx(Size::B, R::R3, R::R6, kProto);
    for (int fam : {4, 6}) {
      Label next_fam = p_.label();
      p_.jcc(Cond::Ne, R::R1, fam, next_fam);
      for (bool frag : {false, true}) {
        Label next_frag = p_.label();
        p_.jcc(Cond::Ne, R::R2, frag ? 1 : 0, next_frag);  // frag is 0 or 1
        const ClassPath* other = nullptr;
        for (const ClassPath* c : by[{fam, frag}]) {
          if (c->key.proto == kOtherProto) {
            other = c;
            continue;
          }
          Label skip = p_.label();
          p_.jcc(Cond::Ne, R::R3, c->key.proto, skip);
          p_.jmp(class_label(*c));
          p_.bind(skip);
        }
        if (other)
          p_.jmp(class_label(*other));
        else
          p_.jmp(end);
        p_.bind(next_frag);
      }
      p_.bind(next_fam);
    }
    p_.jmp(end);
  }

  void class_path(const ClassPath& c, Label end) {
    for (std::size_t i = 0; i < c.groups.size(); ++i) {
      const Group& g = plan_.groups[c.groups[i]];
      p_.ldx(Size::W, R::R7, R::R6, kPrio);
      if (i > 0) {
        // Groups come in order of their first rule: once the best rule so
        // far precedes this group's first, no later group can win either.
        Label go = p_.label();
        p_.jcc(Cond::Gt, R::R7, imm_u32(g.first()), go);
        p_.jmp(end);
        p_.bind(go);
      }
      Label group_end = p_.label();
      switch (g.kind) {
        case GroupKind::Chain: chain(g, c.key, group_end); break;
        case GroupKind::Trie4: trie4(g, tables_.groups[c.groups[i]], c.key, group_end); break;
        case GroupKind::Ports: ports(g, tables_.groups[c.groups[i]], c.key, group_end); break;
        case GroupKind::Hash6: hash6(g, tables_.groups[c.groups[i]], c.key, group_end); break;
      }
      p_.bind(group_end);
    }
    p_.jmp(end);
  }

  void finish(Label end) {
    p_.bind(end);
    p_.ldx(Size::DW, R::R1, kFp, kCtx);
    p_.ld_map(R::R2, maps_[kMapProgs]);
    p_.mov(R::R3, XDPGUARD_PROG_ENFORCE);
    p_.call(BPF_FUNC_tail_call);
    // No enforce stage: apply the verdict uncounted rather than lose it.
    Label plain = p_.label();
    p_.ldx(Size::W, R::R0, R::R6, kAction);
    p_.jcc(Cond::Ne, R::R0, XDP_REDIRECT, plain);
    p_.ldx(Size::W, R::R1, R::R6, kIfindex);
    p_.mov(R::R2, 0);
    p_.call(BPF_FUNC_redirect);
    p_.bind(plain);
    p_.exit();
  }

  // ---- chains --------------------------------------------------------------

  // Prefix compare of a literal address, word by word. False when the
  // prefix is /0 (nothing to compare).
  bool match_prefix(const rules::Prefix& pfx, std::int16_t at, Label fail) {
    auto m = masked_words(pfx.addr, pfx.len);
    std::array<std::uint8_t, 16> ones;
    ones.fill(0xff);
    auto mask = masked_words(ones, pfx.len);
    const unsigned words = pfx.family == rules::Family::V4 ? 1 : 4;
    for (unsigned w = 0; w < words; ++w) {
      if (mask[w] == 0) break;
      p_.ldx(Size::W, R::R1, R::R6, static_cast<std::int16_t>(at + 4 * w));
      if (mask[w] != 0xffffffffu) p_.alu32(Alu::And, R::R1, imm_u32(mask[w]));
      p_.jcc32(Cond::Ne, R::R1, imm_u32(m[w]), fail);
    }
    return pfx.len > 0;
  }

  // False when the range is every port (nothing to compare).
  bool match_port(const rules::PortRange& r, std::int16_t at, Label fail) {
    if (r.lo == 0 && r.hi == 65535) return false;
    p_.ldx(Size::H, R::R1, R::R6, at);
    if (r.lo == r.hi) {
      p_.jcc(Cond::Ne, R::R1, r.lo, fail);
      return true;
    }
    if (r.lo > 0) p_.jcc(Cond::Lt, R::R1, r.lo, fail);
    if (r.hi < 65535) p_.jcc(Cond::Gt, R::R1, r.hi, fail);
    return true;
  }

  void chain(const Group& g, const ClassKey& k, Label group_end) {
    for (std::uint32_t pos : g.rules) {
      const CompiledRule& c = plan_.rules[pos];
      if (k.frag && c.l4) continue;  // no L4 header in a non-first fragment
      const rules::Rule& r = c.rule;
      Label next = p_.label();
      bool tested = false;  // else the rule matches every packet of the class
      // Cheap, selective tests first; set lookups last.
      if (r.dport) tested |= match_port(*r.dport, kDport, next);
      if (r.sport) tested |= match_port(*r.sport, kSport, next);
      for (Field f : {Field::Saddr, Field::Daddr})
        if (const auto& a = addr_of(r, f); a && a->prefix)
          tested |= match_prefix(*a->prefix, addr_off(f), next);
      if (r.flags_mask) {
        p_.ldx(Size::B, R::R1, R::R6, kFlags);
        p_.alu32(Alu::And, R::R1, r.flags_mask);
        p_.jcc32(Cond::Ne, R::R1, r.flags_value & r.flags_mask, next);
        tested = true;
      }
      for (Field f : {Field::Saddr, Field::Daddr}) {
        auto set = f == Field::Saddr ? c.saddr_set : c.daddr_set;
        if (!set) continue;
        if (k.family == 4)
          emit_set4_member(p_, maps_[kMapSet4], *set, addr_off(f), next);
        else
          emit_set6_member(p_, maps_[kMapSet6], *set, addr_off(f), next);
        tested = true;
      }
      // A match: it wins unless an earlier rule (of another group) already
      // did; then no later rule of this chain can win either.
      Label wins = p_.label();
      p_.ldx(Size::W, R::R7, R::R6, kPrio);
      p_.jcc(Cond::Gt, R::R7, imm_u32(pos), wins);
      p_.jmp(group_end);
      p_.bind(wins);
      p_.st(Size::W, R::R6, kPrio, imm_u32(pos));
      p_.st(Size::W, R::R6, kSlot, imm_u32(c.id));
      p_.st(Size::W, R::R6, kAction, imm_u32(c.action));
      if (c.action == XDP_REDIRECT) p_.st(Size::W, R::R6, kIfindex, imm_u32(c.ifindex));
      p_.jmp(group_end);
      p_.bind(next);
      if (!tested) break;  // later rules of this chain are dead in this class
    }
  }

  // ---- tables --------------------------------------------------------------

  // With the candidate list's address in r8: checks its rules in order; r7
  // holds the best rule position so far.
  template <class Rec>
  void candidates(const Group& g, const GroupTables& t, const ClassKey& k, Label group_end) {
    using O = RecOff<Rec>;
    // Which fields remain to be checked (the key field is exact, except for
    // the bits of a Hash6 address beyond its band).
    bool sport = false, dport = false, flags = false, l4 = false;
    unsigned saddr_words = 0, daddr_words = 0;
    for (auto pos : g.rules) {
      const auto& r = plan_.rules[pos].rule;
      sport |= r.sport && !(g.kind == GroupKind::Ports && g.field == Field::Sport);
      dport |= r.dport && !(g.kind == GroupKind::Ports && g.field == Field::Dport);
      flags |= r.flags_mask != 0;
      l4 |= plan_.rules[pos].l4;
      for (Field f : {Field::Saddr, Field::Daddr}) {
        const auto& a = addr_of(r, f);
        if (!a || !a->prefix || a->prefix->len == 0) continue;
        if (g.kind == GroupKind::Trie4 && g.field == f) continue;
        unsigned words = (a->prefix->len + 31) / 32;
        auto& w = f == Field::Saddr ? saddr_words : daddr_words;
        w = std::max(w, words);
      }
    }
    // Words a Hash6 key already compared in full need no second look.
    unsigned skip_s = 0, skip_d = 0;
    if (g.kind == GroupKind::Hash6) (g.field == Field::Saddr ? skip_s : skip_d) = g.key_len / 32;

    // Without anything left to check, the list's first rule decides.
    const bool residual = (k.frag && l4) || (!k.frag && (sport || dport || flags)) ||
                          saddr_words > skip_s || daddr_words > skip_d;
    const std::uint32_t checked = residual ? kMaxCandidates : 1;

    p_.ldx(Size::H, R::R9, R::R8, 0);  // count
    for (std::uint32_t i = 0; i < checked; ++i) {
      Label next = p_.label();
      p_.jcc(Cond::Le, R::R9, static_cast<std::int32_t>(i), group_end);
      p_.ldx(Size::H, R::R1, R::R8, static_cast<std::int16_t>(2 + 2 * i));
      p_.jcc(Cond::Ge, R::R1, imm_u32(t.nrecs), group_end);
      p_.alu(Alu::Lsh, R::R1, static_cast<std::int32_t>(log2_exact(t.rec_size)));
      p_.ld_map_value(R::R2, maps_[kMapBlob], t.recs_off);
      p_.alu(Alu::Add, R::R2, R::R1);
      p_.ldx(Size::W, R::R3, R::R2, O::prio);
      // Candidates come in rule order: past the best so far, none can win.
      p_.jcc(Cond::Gt, R::R3, R::R7, group_end);
      if (k.frag && l4) {
        p_.ldx(Size::B, R::R1, R::R2, O::l4);
        p_.jcc(Cond::Ne, R::R1, 0, next);
      }
      auto addr_check = [&](std::int16_t pkt, std::int16_t mask, std::int16_t val, unsigned from,
                            unsigned words) {
        for (unsigned w = from; w < words; ++w) {
          auto o = static_cast<std::int16_t>(4 * w);
          p_.ldx(Size::W, R::R1, R::R6, static_cast<std::int16_t>(pkt + o));
          p_.ldx(Size::W, R::R4, R::R2, static_cast<std::int16_t>(mask + o));
          p_.alu(Alu::And, R::R1, R::R4);
          p_.ldx(Size::W, R::R4, R::R2, static_cast<std::int16_t>(val + o));
          p_.jcc(Cond::Ne, R::R1, R::R4, next);
        }
      };
      auto port_check = [&](std::int16_t pkt, std::int16_t lo, std::int16_t hi) {
        p_.ldx(Size::H, R::R1, R::R6, pkt);
        p_.ldx(Size::H, R::R4, R::R2, lo);
        p_.jcc(Cond::Lt, R::R1, R::R4, next);
        p_.ldx(Size::H, R::R4, R::R2, hi);
        p_.jcc(Cond::Gt, R::R1, R::R4, next);
      };
      if (dport && !k.frag) port_check(kDport, O::dport_lo, O::dport_hi);
      if (sport && !k.frag) port_check(kSport, O::sport_lo, O::sport_hi);
      addr_check(kSaddr, O::smask, O::sval, skip_s, saddr_words);
      addr_check(kDaddr, O::dmask, O::dval, skip_d, daddr_words);
      if (flags && !k.frag) {
        p_.ldx(Size::B, R::R1, R::R6, kFlags);
        p_.ldx(Size::B, R::R4, R::R2, O::flags_mask);
        p_.alu(Alu::And, R::R1, R::R4);
        p_.ldx(Size::B, R::R4, R::R2, O::flags_val);
        p_.jcc(Cond::Ne, R::R1, R::R4, next);
      }
      p_.stx(Size::W, R::R6, kPrio, R::R3);
      p_.ldx(Size::W, R::R1, R::R2, O::slot);
      p_.stx(Size::W, R::R6, kSlot, R::R1);
      p_.ldx(Size::W, R::R1, R::R2, O::action);
      p_.stx(Size::W, R::R6, kAction, R::R1);
      p_.ldx(Size::W, R::R1, R::R2, O::ifindex);
      p_.stx(Size::W, R::R6, kIfindex, R::R1);
      p_.jmp(group_end);
      p_.bind(next);
    }
    if (residual) p_.jmp(group_end);
  }

  // r2 = candidate list number (nonzero): r8 := its address, then the candidates.
  void list(const Group& g, const GroupTables& t, const ClassKey& k, Label group_end) {
    p_.jcc(Cond::Ge, R::R2, imm_u32(t.nlists), group_end);
    p_.alu(Alu::Lsh, R::R2, 5);
    static_assert(sizeof(CandidateList) == 32);
    p_.ld_map_value(R::R8, maps_[kMapBlob], t.lists_off);
    p_.alu(Alu::Add, R::R8, R::R2);
    if (g.family == 6)
      candidates<Record6>(g, t, k, group_end);
    else
      candidates<Record4>(g, t, k, group_end);
  }

  void trie4(const Group& g, const GroupTables& t, const ClassKey& k, Label group_end) {
    Label found = p_.label();
    p_.ldx(Size::W, R::R9, R::R6, addr_off(g.field));
    p_.to_be(R::R9, 32);  // host order: the trie indexes by the address's top bits
    p_.mov(R::R2, R::R9);
    p_.alu(Alu::Rsh, R::R2, 16);
    p_.alu(Alu::Lsh, R::R2, 2);
    p_.ld_map_value(R::R3, maps_[kMapBlob], t.index_off);
    p_.alu(Alu::Add, R::R3, R::R2);
    p_.ldx(Size::W, R::R2, R::R3, 0);
    p_.jcc(Cond::Eq, R::R2, 0, group_end);
    if (t.nnodes) {
      for (int level = 2; level <= 3; ++level) {
        Label down = p_.label();
        p_.jcc(Cond::Set, R::R2, imm_u32(kTrieNode), down);
        p_.jmp(found);
        p_.bind(down);
        p_.alu(Alu::And, R::R2, 0x7fffffff);
        p_.jcc(Cond::Ge, R::R2, imm_u32(t.nnodes), group_end);
        p_.alu(Alu::Lsh, R::R2, 10);  // 1 KiB nodes
        p_.mov(R::R3, R::R9);
        if (level == 2) p_.alu(Alu::Rsh, R::R3, 8);
        p_.alu(Alu::And, R::R3, 255);
        p_.alu(Alu::Lsh, R::R3, 2);
        p_.alu(Alu::Add, R::R2, R::R3);
        p_.ld_map_value(R::R3, maps_[kMapBlob], t.nodes_off);
        p_.alu(Alu::Add, R::R3, R::R2);
        p_.ldx(Size::W, R::R2, R::R3, 0);
        p_.jcc(Cond::Eq, R::R2, 0, group_end);
      }
    }
    p_.bind(found);
    list(g, t, k, group_end);
  }

  void ports(const Group& g, const GroupTables& t, const ClassKey& k, Label group_end) {
    p_.ldx(Size::H, R::R2, R::R6, port_off(g.field));
    p_.alu(Alu::Lsh, R::R2, 2);
    p_.ld_map_value(R::R3, maps_[kMapBlob], t.index_off);
    p_.alu(Alu::Add, R::R3, R::R2);
    p_.ldx(Size::W, R::R2, R::R3, 0);
    p_.jcc(Cond::Eq, R::R2, 0, group_end);
    list(g, t, k, group_end);
  }

  // Loads key word w of a Hash6 group (masked) into dst.
  void key_word(const Group& g, const GroupTables& t, unsigned w, Reg dst) {
    p_.ldx(Size::W, dst, R::R6, static_cast<std::int16_t>(addr_off(g.field) + 4 * w));
    std::array<std::uint8_t, 16> ones;
    ones.fill(0xff);
    std::uint32_t mask = masked_words(ones, g.key_len)[w];
    if (w + 1 == t.key_words && mask != 0xffffffffu) p_.alu32(Alu::And, dst, imm_u32(mask));
  }

  void hash6(const Group& g, const GroupTables& t, const ClassKey& k, Label group_end) {
    Label found = p_.label();
    const auto& h = t.hash;
    p_.mov(R::R9, 0);
    for (unsigned w = 0; w < t.key_words; ++w) {
      key_word(g, t, w, R::R1);
      p_.alu(Alu::Mul, R::R1, imm_u32(h.k[w]));
      p_.alu(Alu::Add, R::R9, R::R1);
    }
    p_.mov(R::R1, R::R9);
    p_.alu(Alu::Rsh, R::R1, 29);
    p_.alu(Alu::Xor, R::R9, R::R1);
    p_.alu(Alu::Mul, R::R9, imm_u32(h.k[4]));
    p_.alu(Alu::Rsh, R::R9, static_cast<std::int32_t>(64 - h.bits));
    const std::uint32_t slot_bytes = 4 * t.slot_words;
    for (std::uint32_t probe = 0; probe < t.probes; ++probe) {
      p_.mov(R::R8, R::R9);
      if (probe) p_.alu(Alu::Add, R::R8, static_cast<std::int32_t>(probe));
      p_.alu(Alu::And, R::R8, imm_u32((1u << h.bits) - 1));
      p_.alu(Alu::Lsh, R::R8, 6);
      static_assert(kBucketBytes == 64);
      p_.ld_map_value(R::R3, maps_[kMapBlob], t.index_off);
      p_.alu(Alu::Add, R::R8, R::R3);
      for (std::uint32_t s = 0; s < t.slots; ++s) {
        Label other = p_.label();
        const auto base = static_cast<std::int16_t>(s * slot_bytes);
        for (unsigned w = 0; w < t.key_words; ++w) {
          p_.ldx(Size::W, R::R1, R::R8, static_cast<std::int16_t>(base + 4 * w));
          key_word(g, t, w, R::R4);
          p_.jcc(Cond::Ne, R::R1, R::R4, other);
        }
        // Equal keys: the entry, or an empty slot (no list) if it is absent.
        p_.ldx(Size::W, R::R2, R::R8, static_cast<std::int16_t>(base + 4 * t.key_words));
        p_.jcc(Cond::Eq, R::R2, 0, group_end);
        p_.jmp(found);
        p_.bind(other);
      }
      // A bucket with a free slot ends the search: the key would be there.
      p_.ldx(Size::W, R::R2, R::R8,
             static_cast<std::int16_t>((t.slots - 1) * slot_bytes + 4 * t.key_words));
      p_.jcc(Cond::Eq, R::R2, 0, group_end);
    }
    p_.jmp(group_end);
    p_.bind(found);
    list(g, t, k, group_end);
  }

  const Plan& plan_;
  const Tables& tables_;
  Program p_;
  MapId maps_[kNumMapSlots];
  std::map<std::vector<std::uint32_t>, ClassCode> class_code_;
};

}  // namespace

Result<Program> emit_classifier(const Plan& plan, const Tables& tables) {
  if (tables.groups.size() != plan.groups.size())
    return fail(EINVAL, "internal: tables for {} groups, plan has {}", tables.groups.size(),
                plan.groups.size());
  return Emitter(plan, tables).run();
}

}  // namespace xdpguard::cls
