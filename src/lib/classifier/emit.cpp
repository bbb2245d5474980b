#include "classifier/emit.h"

#include <linux/bpf.h>
#include <netinet/in.h>

#include <fmt/format.h>

#include <cstddef>
#include <cstring>
#include <map>
#include <optional>

#include "bpf/abi.h"
#include "classifier/block_code.h"
#include "classifier/limit_code.h"
#include "classifier/percpu_offsets.h"
#include "classifier/sets.h"
#include "classifier/stub.h"

namespace xdpguard::cls {
namespace {

using namespace percpu;  // the per-CPU scratch layout

using R = Reg;

static_assert(rules::kFragDf == XDPGUARD_FRAG_DF && rules::kFragIsf == XDPGUARD_FRAG_ISF &&
                  rules::kFragFf == XDPGUARD_FRAG_FF && rules::kFragLf == XDPGUARD_FRAG_LF,
              "the rule's frag bits are the packet's");

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
  static constexpr std::int16_t vlan_mask = off(offsetof(Rec, vlan_mask));
  static constexpr std::int16_t vlan_val = off(offsetof(Rec, vlan_val));
};

// The outer tag's half of a VlanTest word (the 16 bits at vlan[0]).
std::uint32_t outer_of(std::uint32_t word) {
  std::uint16_t tags[XDPGUARD_MAX_VLAN];
  std::memcpy(tags, &word, sizeof tags);
  return tags[0];
}

std::uint32_t log2_exact(std::uint32_t v) {
  std::uint32_t l = 0;
  while ((1u << l) < v) ++l;
  return l;
}

class Emitter {
 public:
  Emitter(const Plan& plan, const Tables& tables) : plan_(plan), tables_(tables) {
    for (std::uint32_t k = 0; k < kNumMapSlots; ++k) maps_[k] = p_.map(std::string(kMapNames[k]));
    // Blob 0 is kMapBlob; further blobs follow the fixed slots.
    blob_maps_.push_back(maps_[kMapBlob]);
    for (std::size_t k = 1; k < tables.blobs.size(); ++k)
      blob_maps_.push_back(p_.map(fmt::format("rule tables {}", k)));
  }

  Result<Program> run() {
    Label end = p_.label();
    entry(end);
    dispatch(end);
    choose_functions();
    for (auto& [key, code] : class_code_) {
      p_.bind(code.label);
      class_path(*code.path, end);
    }
    XG_CHECK(finish(end));
    // Groups that became functions, after the main program, once each.
    for (auto& [key, fn] : group_fns_) {
      const std::uint32_t gi = key.group;
      const Group& g = plan_.groups[gi];
      ClassKey k{g.family ? g.family : std::uint8_t{4}, kOtherProto, key.frag};
      if (!g.proto) k.proto = kOtherProto;
      p_.begin_function(fn.label,
                        fmt::format("xg_group{}{}{}", gi, key.family ? fmt::format("_v{}", key.family) : "",
                                    key.frag ? "_frag" : ""),
                        FnSig::Group);
      Label not_null = p_.label(), group_end = p_.label();
      p_.jcc(Cond::Ne, R::R1, 0, not_null);  // a global function trusts only its signature
      p_.mov(R::R0, 0);
      p_.exit();
      p_.bind(not_null);
      p_.mov(R::R6, R::R1);
      p_.ldx(Size::W, R::R7, R::R6, kPrio);
      group_code(gi, k, group_end, fn.family);
      p_.bind(group_end);
      p_.mov(R::R0, 0);
      p_.exit();
    }
    // Set membership functions after the main program, once each.
    if (set4_fn_) {
      p_.begin_function(*set4_fn_, "xg_set4_member", FnSig::SetMember);
      XG_CHECK(emit_set4_function(p_, maps_[kMapSet4]));
    }
    if (set6_fn_) {
      p_.begin_function(*set6_fn_, "xg_set6_member", FnSig::SetMember);
      XG_CHECK(emit_set6_function(p_, maps_[kMapSet6]));
    }
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
    talkers();
    if (limits_) emit_limit_entry(p_, ruleset_stamp(plan_));
  }

  // Top talkers, only while they are on (Plan::talkers): the packet counted
  // for its source in xg_talkers (a per-CPU LRU hash; a new source gets an
  // entry), once, on the classifier's first run for it (not again when the
  // limiter resumes it). The flag is still read, directly from xg_talk_on's
  // value, so that talkers turned off before the recompile count nothing.
  void talkers() {
    if (!plan_.talkers) return;
    static_assert(sizeof(xdpguard_talker_key) == 20 && offsetof(xdpguard_talker_key, addr) == 4);
    constexpr std::int16_t kKey = -40, kValue = -56;  // below the context (fp-8) and the key at fp-12
    Label done = p_.label(), add = p_.label();
    if (limits_) {
      p_.ldx(Size::W, R::R1, R::R6, kLimResume);
      p_.jcc(Cond::Ne, R::R1, 0, done);
    }
    p_.ld_map_value(R::R1, maps_[kMapTalkOn], 0);
    p_.ldx(Size::W, R::R1, R::R1, 0);
    p_.jcc(Cond::Eq, R::R1, 0, done);
    // The key: the family and the source address (IPv4: words 1-3 zero).
    p_.ldx(Size::B, R::R1, R::R6, kFamily);
    p_.stx(Size::W, kFp, kKey, R::R1);
    for (std::int16_t w = 0; w < 4; ++w) p_.st(Size::W, kFp, static_cast<std::int16_t>(kKey + 4 + 4 * w), 0);
    p_.ldx(Size::W, R::R2, R::R6, kSaddr);
    p_.stx(Size::W, kFp, kKey + 4, R::R2);
    Label v4 = p_.label();
    p_.jcc(Cond::Ne, R::R1, 6, v4);
    for (std::int16_t w = 1; w < 4; ++w) {
      p_.ldx(Size::W, R::R2, R::R6, static_cast<std::int16_t>(kSaddr + 4 * w));
      p_.stx(Size::W, kFp, static_cast<std::int16_t>(kKey + 4 + 4 * w), R::R2);
    }
    p_.bind(v4);
    p_.ld_map(R::R1, maps_[kMapTalkers]);
    p_.mov(R::R2, kFp);
    p_.alu(Alu::Add, R::R2, kKey);
    p_.call(BPF_FUNC_map_lookup_elem);
    p_.ldx(Size::W, R::R8, R::R6, kLen);
    p_.jcc(Cond::Eq, R::R0, 0, add);
    bump(R::R0, 0);
    p_.jmp(done);
    p_.bind(add);
    p_.st(Size::DW, kFp, kValue, 1);
    p_.stx(Size::DW, kFp, kValue + 8, R::R8);
    p_.ld_map(R::R1, maps_[kMapTalkers]);
    p_.mov(R::R2, kFp);
    p_.alu(Alu::Add, R::R2, kKey);
    p_.mov(R::R3, kFp);
    p_.alu(Alu::Add, R::R3, kValue);
    p_.mov(R::R4, BPF_NOEXIST);
    p_.call(BPF_FUNC_map_update_elem);
    p_.bind(done);
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

  // Code of group gi for packets of class k, ending at group_end; r6 = the
  // per-CPU entry, r7 = the best position so far. `family` is the packet's
  // (the group's own, or the class's for a group of any family).
  void group_code(std::uint32_t gi, ClassKey k, Label group_end, std::uint8_t family) {
    const Group& g = plan_.groups[gi];
    k.family = family;
    switch (g.kind) {
      case GroupKind::Chain: chain(g, k, group_end); break;
      case GroupKind::Trie4: trie4(g, tables_.groups[gi], k, group_end); break;
      case GroupKind::Ports: ports(g, tables_.groups[gi], k, group_end); break;
      case GroupKind::Hash6: hash6(g, tables_.groups[gi], k, group_end); break;
    }
  }

  // The groups that became functions: which group, its variant for
  // fragments, and the packet's family for a group that differs by it
  // (per_family(); else 0) -> the function and the family its code is for.
  struct GroupFnKey {
    std::uint32_t group = 0;
    bool frag = false;
    std::uint8_t family = 0;
    auto operator<=>(const GroupFnKey&) const = default;
  };
  struct GroupFn {
    Label label;
    std::uint8_t family = 4;
  };

  // A group's code in a class path: which variant (only a group with a rule
  // that needs L4 differs for fragments; only one of any family differs by
  // the packet's family, through its set tests).
  using Variant = std::pair<std::uint32_t, bool>;
  Variant variant(std::uint32_t gi, const ClassKey& k) const {
    bool l4 = false;
    for (auto pos : plan_.groups[gi].rules) l4 |= plan_.rules[pos].l4;
    return {gi, k.frag && l4};
  }

  // Rough instruction count of a group's code.
  std::size_t estimate(const Group& g) const {
    if (g.kind != GroupKind::Chain) return 60 + 40 * kMaxCandidates;
    return 12 * g.rules.size();
  }

  // Groups whose code would appear in many class paths become global
  // functions: emitted and verified once, called from each path (a call
  // costs a few nanoseconds; inlining stays the rule for small groups).
  void choose_functions() {
    std::map<std::pair<Variant, std::uint8_t>, int> uses;
    for (const auto& [key, code] : class_code_)
      for (auto gi : code.path->groups) ++uses[{variant(gi, code.path->key), code.path->key.family}];
    std::map<Variant, int> total;
    for (const auto& [vk, n] : uses) total[vk.first] += n;
    for (const auto& [vk, n] : uses) {
      const Group& g = plan_.groups[vk.first.first];
      if (total[vk.first] < 2 || estimate(g) * static_cast<std::size_t>(total[vk.first]) < 4000) continue;
      const GroupFnKey fkey = fn_key(vk.first, vk.second);
      if (!group_fns_.count(fkey)) {
        // The family its code is for: the group's own, the packet's for a
        // group of any family with set tests, else either (IPv4's).
        const std::uint8_t fam = g.family ? g.family : fkey.family ? fkey.family : std::uint8_t{4};
        group_fns_.emplace(fkey, GroupFn{p_.label(), fam});
      }
    }
  }

  // A group of any family with set tests differs by the packet's family
  // (its set tests read that family's address): one function per family.
  bool per_family(const Group& g) const {
    if (g.family) return false;
    return std::any_of(g.rules.begin(), g.rules.end(), [&](std::uint32_t pos) {
      return plan_.rules[pos].saddr_set || plan_.rules[pos].daddr_set;
    });
  }
  GroupFnKey fn_key(const Variant& v, std::uint8_t packet_family) const {
    return {v.first, v.second, per_family(plan_.groups[v.first]) ? packet_family : std::uint8_t{0}};
  }

  std::optional<Label> group_function(std::uint32_t gi, const ClassKey& k) const {
    auto it = group_fns_.find(fn_key(variant(gi, k), k.family));
    if (it == group_fns_.end()) return std::nullopt;
    return it->second.label;
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
      if (auto fn = group_function(c.groups[i], c.key)) {
        p_.mov(R::R1, R::R6);
        p_.call_local(*fn);
        continue;
      }
      Label group_end = p_.label();
      group_code(c.groups[i], c.key, group_end, c.key.family);
      p_.bind(group_end);
    }
    p_.jmp(end);
  }

  // The verdict. Pass, drop and redirect (to a device or an AF_XDP socket)
  // the classifier applies itself, one tail call and one per-CPU lookup
  // cheaper than the enforce stage: bpf/stubs.bpf.c's xg_verdict, spliced
  // in (pipeline.h's xg_apply_action, the C enforce runs: one
  // implementation), counts the packet for its rule and its action and
  // applies it. Verdicts that need more (a `log` rule's, a capture's, a
  // passed TCP packet while the SYN proxy is on) go on to the enforce stage.
  Result<void> finish(Label end) {
    p_.bind(end);
    emit_block_check(p_, blocks_, maps_[kMapBlocked], maps_[kMapDdos], plan_.fake_clock);
    Label enforce = p_.label();
    p_.ldx(Size::W, R::R7, R::R6, kAction);
    Label limit = p_.label();
    if (limits_) p_.jcc(Cond::Eq, R::R7, XDPGUARD_ACTION_LIMIT, limit);
    p_.jcc(Cond::Ge, R::R7, XDPGUARD_NUM_ACTIONS, enforce);  // also: a `log` rule's word
    // Only while a capture runs (Plan::capture): it wants every packet
    // recorded by enforce. One load from xg_telemetry's value, addressed
    // directly (no helper call); the flag still decides, so that a capture
    // that ended before the next recompile costs only this load.
    capture_check(enforce);
    // r7: the verdict; the program ends in the spliced code. While the SYN
    // proxy is on (Plan::synproxy), passed TCP packets go to its stage first
    // (it checks the port): the verdict's stub with that test.
    Label apply = p_.label();
    p_.bind(apply);
    p_.ldx(Size::DW, R::R1, kFp, kCtx);
    p_.mov(R::R2, R::R6);
    p_.mov(R::R3, R::R7);
    XG_CHECK(splice_stub(p_, plan_.synproxy ? "xg_verdict_synproxy" : "xg_verdict",
                         [this](std::string_view name) { return map_named(name); }));

    if (limits_)
      XG_CHECK(emit_limit_call(p_, maps_[kMapProgs], limit,
                               [this](std::string_view name) { return map_named(name); }));
    p_.bind(enforce);
    p_.ldx(Size::DW, R::R1, kFp, kCtx);
    p_.ld_map(R::R2, maps_[kMapProgs]);
    p_.mov(R::R3, XDPGUARD_PROG_ENFORCE);
    p_.call(BPF_FUNC_tail_call);
    // No enforce stage: the verdict without its record (a `log` rule's
    // threshold off), counted and applied here rather than lost.
    p_.ldx(Size::W, R::R7, R::R6, kAction);
    p_.alu32(Alu::And, R::R7, XDPGUARD_ACTION_MASK);
    p_.jmp(apply);
    return {};
  }

  // The MapId of a pipeline map by the name a spliced function gives it.
  std::optional<MapId> map_named(std::string_view name) const {
    for (std::uint32_t k = 0; k < kNumMapSlots; ++k)
      if (k != kMapBlob && kMapNames[k] == name) return maps_[k];
    return std::nullopt;
  }

  // While a capture runs (Plan::capture), every packet goes to enforce.
  void capture_check(Label enforce) {
    if (!plan_.capture) return;
    static_assert(offsetof(xdpguard_telemetry, capture) == 0);
    p_.ld_map_value(R::R1, maps_[kMapTelemetry], offsetof(xdpguard_telemetry, capture));
    p_.ldx(Size::W, R::R1, R::R1, 0);
    p_.jcc(Cond::Ne, R::R1, 0, enforce);
  }

  void bump(Reg base, std::int16_t off) {
    p_.ldx(Size::DW, R::R2, base, off);
    p_.alu(Alu::Add, R::R2, 1);
    p_.stx(Size::DW, base, off, R::R2);
    p_.ldx(Size::DW, R::R2, base, static_cast<std::int16_t>(off + 8));
    p_.alu(Alu::Add, R::R2, R::R8);
    p_.stx(Size::DW, base, static_cast<std::int16_t>(off + 8), R::R2);
  }

  // ---- chains --------------------------------------------------------------
  //
  // Each rule costs ONE conditional jump (to the next rule): its tests are
  // folded without branches into a register that is zero when all hold. The
  // verifier keeps the target of every conditional jump pending until the
  // path it follows ends; with one jump per rule that is one at a time, with
  // two it would be one per rule, and it gives up at 8,192 pending jumps.
  // (Folding also spares the CPU mispredicted branches; the cost is that a
  // rule's later tests run even when its first one fails.)

  // A test of one field of the packet against constants: equal (under a
  // mask), in a range, in a named set, or in one of several ranges (List: a
  // value list of the FlowSpec matches, `dscp 0,3,8-11`).
  struct Term {
    enum Kind { Eq, Range, Set, List } kind;
    Size size = Size::W;
    std::int16_t at = 0;                     // offset in the per-CPU entry
    std::uint32_t mask = 0;                  // Eq: 0 = no mask
    std::uint32_t value = 0;                 // Eq
    std::uint32_t lo = 0, hi = 65535;        // Range
    std::uint8_t family = 4;                 // Set
    std::uint32_t set = 0;                   // Set
    const rules::ValueList* list = nullptr;  // List: normalised, 2 or more ranges
  };

  // A value-list match on the packet field at `at` (loaded with `size`),
  // whose values are 0..max: no term when the list is every value, else Eq
  // (one value), Range (one range) or List.
  static void list_term(std::vector<Term>& t, const std::optional<rules::ValueList>& v, Size size,
                        std::int16_t at, std::uint32_t max) {
    if (!v || v->empty()) return;
    const rules::ValueRange& x = v->front();
    if (v->size() == 1 && x.lo == 0 && x.hi >= max) return;
    if (v->size() == 1 && x.lo == x.hi)
      t.push_back({Term::Eq, size, at, 0, x.lo});
    else if (v->size() == 1)
      t.push_back({Term::Range, size, at, 0, 0, x.lo, x.hi});
    else
      t.push_back({Term::List, size, at, 0, 0, 0, 0, 0, 0, &*v});
  }

  std::vector<Term> terms_of(const CompiledRule& c, const ClassKey& k) {
    std::vector<Term> t;
    const rules::Rule& r = c.rule;
    if (c.vlan) {
      // The outer tag alone is a 16-bit load of vlan[0] (all of its bits
      // are compared: no mask); with the inner tag, both as one word.
      if (c.vlan->mask == vlan_test(rules::VlanMatch{}).mask)
        t.push_back({Term::Eq, Size::H, kVlan, 0, outer_of(c.vlan->value)});
      else
        t.push_back(
            {Term::Eq, Size::W, kVlan, c.vlan->mask == 0xffffffffu ? 0 : c.vlan->mask, c.vlan->value});
    }
    for (auto [port, at] : {std::pair{r.dport, kDport}, std::pair{r.sport, kSport}}) {
      if (!port || (port->lo == 0 && port->hi == 65535)) continue;
      if (port->lo == port->hi)
        t.push_back({Term::Eq, Size::H, at, 0, port->lo});
      else
        t.push_back({Term::Range, Size::H, at, 0, 0, port->lo, port->hi});
    }
    for (Field f : {Field::Saddr, Field::Daddr}) {
      const auto& a = addr_of(r, f);
      if (!a || !a->prefix) continue;
      auto m = masked_words(a->prefix->addr, a->prefix->len);
      std::array<std::uint8_t, 16> ones;
      ones.fill(0xff);
      auto mask = masked_words(ones, a->prefix->len);
      const unsigned words = a->prefix->family == rules::Family::V4 ? 1 : 4;
      for (unsigned w = 0; w < words && mask[w]; ++w)
        t.push_back({Term::Eq, Size::W, static_cast<std::int16_t>(addr_off(f) + 4 * w),
                     mask[w] == 0xffffffffu ? 0 : mask[w], m[w]});
    }
    if (r.flags_mask)
      t.push_back({Term::Eq, Size::B, kFlags, r.flags_mask,
                   static_cast<std::uint32_t>(r.flags_value & r.flags_mask)});
    list_term(t, r.icmp_type, Size::B, kIcmpType, rules::kMaxIcmpValue);
    list_term(t, r.icmp_code, Size::B, kIcmpCode, rules::kMaxIcmpValue);
    list_term(t, r.length, Size::W, kIpLen, rules::kMaxLength);
    list_term(t, r.dscp, Size::B, kDscp, rules::kMaxDscp);
    if (r.frag_mask)
      t.push_back({Term::Eq, Size::B, kFragBits, r.frag_mask,
                   static_cast<std::uint32_t>(r.frag_value & r.frag_mask)});
    for (Field f : {Field::Saddr, Field::Daddr})
      if (auto set = f == Field::Saddr ? c.saddr_set : c.daddr_set)
        t.push_back({Term::Set, Size::W, addr_off(f), 0, 0, 0, 0, k.family, *set});
    return t;
  }

  // r1 := 0 when the term holds, nonzero when not (r1-r5 scratch; a set
  // test calls the set's function, which clobbers r0-r5).
  void term_miss(const Term& t) {
    switch (t.kind) {
      case Term::Eq:
        p_.ldx(t.size, R::R1, R::R6, t.at);
        if (t.mask) p_.alu32(Alu::And, R::R1, imm_u32(t.mask));
        p_.alu32(Alu::Xor, R::R1, imm_u32(t.value));
        return;
      case Term::Range:
        // (x - lo) | (hi - x) is negative exactly when x is outside [lo, hi].
        p_.ldx(t.size, R::R1, R::R6, t.at);
        p_.mov(R::R2, imm_u32(t.hi));
        p_.alu(Alu::Sub, R::R2, R::R1);
        p_.alu(Alu::Sub, R::R1, imm_u32(t.lo));
        p_.alu(Alu::Or, R::R1, R::R2);
        p_.alu(Alu::Rsh, R::R1, 63);
        return;
      case Term::List:
        // Each range's (x - lo) | (hi - x) >> 63 is 1 when x is outside it;
        // their AND is 0 exactly when x lies in one of them. x (zero-extended
        // by the load) in r3; the bounds are at most kMaxLength: positive
        // immediates.
        p_.ldx(t.size, R::R3, R::R6, t.at);
        for (std::size_t i = 0; i < t.list->size(); ++i) {
          const rules::ValueRange& x = (*t.list)[i];
          p_.mov(R::R2, imm_u32(x.hi));
          p_.alu(Alu::Sub, R::R2, R::R3);
          p_.mov(R::R4, R::R3);
          p_.alu(Alu::Sub, R::R4, imm_u32(x.lo));
          p_.alu(Alu::Or, R::R4, R::R2);
          p_.alu(Alu::Rsh, R::R4, 63);
          if (i == 0)
            p_.mov(R::R1, R::R4);
          else
            p_.alu(Alu::And, R::R1, R::R4);
        }
        return;
      case Term::Set: {
        p_.mov(R::R1, static_cast<std::int32_t>(t.set));
        p_.mov(R::R2, R::R6);
        p_.alu(Alu::Add, R::R2, t.at);
        p_.call_local(t.family == 4 ? set4_fn() : set6_fn());
        p_.mov(R::R1, R::R0);
        p_.alu(Alu::Xor, R::R1, 1);
        return;
      }
    }
  }

  // Jumps to `fail` unless every term holds; nothing when there is none.
  void match_terms(const std::vector<Term>& terms, Label fail) {
    if (terms.empty()) return;
    if (terms.size() == 1 && terms[0].kind == Term::Eq) {
      const Term& t = terms[0];
      p_.ldx(t.size, R::R1, R::R6, t.at);
      if (t.mask) p_.alu32(Alu::And, R::R1, imm_u32(t.mask));
      p_.jcc32(Cond::Ne, R::R1, imm_u32(t.value), fail);
      return;
    }
    // r9 (kept across set calls) collects the misses.
    for (std::size_t i = 0; i < terms.size(); ++i) {
      term_miss(terms[i]);
      if (i == 0)
        p_.mov(R::R9, R::R1);
      else
        p_.alu(Alu::Or, R::R9, R::R1);
    }
    p_.jcc(Cond::Ne, R::R9, 0, fail);
  }

  void chain(const Group& g, const ClassKey& k, Label group_end) {
    for (std::uint32_t pos : g.rules) {
      const CompiledRule& c = plan_.rules[pos];
      if (k.frag && c.l4) continue;  // no L4 header in a non-first fragment
      Label next = p_.label();
      auto terms = terms_of(c, k);
      // A limited rule the classifier resumed past was under its limit
      // (limit_code.h): a term like the others, so still one branch per rule.
      if (c.rule.limit) terms.push_back({Term::Range, Size::W, kLimResume, 0, 0, 0, pos});
      match_terms(terms, next);
      // A match: it wins unless an earlier rule (of another group) already
      // did; then no later rule of this chain can win either.
      Label wins = p_.label();
      p_.ldx(Size::W, R::R7, R::R6, kPrio);
      p_.jcc(Cond::Gt, R::R7, imm_u32(pos), wins);
      p_.jmp(group_end);
      p_.bind(wins);
      if (c.rule.limit) {
        // Limited rules are always in chains (plan.cpp): a packet under the
        // limit goes on with the next rule.
        emit_limit_match(p_, c, *c.rule.limit, pos, plan_.clock_tick_ns);
        p_.jmp(group_end);
        p_.bind(next);
        continue;
      }
      p_.st(Size::W, R::R6, kPrio, imm_u32(pos));
      p_.st(Size::W, R::R6, kSlot, imm_u32(c.id));
      p_.st(Size::W, R::R6, kAction, imm_u32(verdict_word(c)));
      if (c.action == XDP_REDIRECT) p_.st(Size::W, R::R6, kIfindex, imm_u32(c.ifindex));
      p_.jmp(group_end);
      p_.bind(next);
      if (terms.empty()) break;  // it matches every packet of the class: the rest is dead
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
    const bool vlan = g.vlan_rules != 0;
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
    const bool residual = (k.frag && l4) || (!k.frag && (sport || dport || flags)) || saddr_words > skip_s ||
                          daddr_words > skip_d || vlan;
    const std::uint32_t checked = residual ? kMaxCandidates : 1;

    p_.ldx(Size::H, R::R9, R::R8, 0);  // count
    for (std::uint32_t i = 0; i < checked; ++i) {
      Label next = p_.label();
      p_.jcc(Cond::Le, R::R9, static_cast<std::int32_t>(i), group_end);
      p_.ldx(Size::H, R::R1, R::R8, static_cast<std::int16_t>(2 + 2 * i));
      p_.jcc(Cond::Ge, R::R1, imm_u32(t.nrecs), group_end);
      p_.alu(Alu::Lsh, R::R1, static_cast<std::int32_t>(log2_exact(t.rec_size)));
      p_.ld_map_value(R::R2, blob(t), t.recs_off);
      p_.alu(Alu::Add, R::R2, R::R1);
      p_.ldx(Size::W, R::R3, R::R2, O::prio);
      // Candidates come in rule order: past the best so far, none can win.
      p_.jcc(Cond::Gt, R::R3, R::R7, group_end);
      // The remaining fields, folded into r0 (zero: all hold) and tested
      // with one jump, as chains are (see there).
      bool any = false;
      auto fold = [&] {
        if (!any)
          p_.mov(R::R0, R::R1);
        else
          p_.alu(Alu::Or, R::R0, R::R1);
        any = true;
      };
      if (k.frag && l4) {
        p_.ldx(Size::B, R::R1, R::R2, O::l4);  // no L4 header in a fragment
        fold();
      }
      auto addr_check = [&](std::int16_t pkt, std::int16_t mask, std::int16_t val, unsigned from,
                            unsigned words) {
        for (unsigned w = from; w < words; ++w) {
          auto o = static_cast<std::int16_t>(4 * w);
          p_.ldx(Size::W, R::R1, R::R6, static_cast<std::int16_t>(pkt + o));
          p_.ldx(Size::W, R::R4, R::R2, static_cast<std::int16_t>(mask + o));
          p_.alu(Alu::And, R::R1, R::R4);
          p_.ldx(Size::W, R::R4, R::R2, static_cast<std::int16_t>(val + o));
          p_.alu(Alu::Xor, R::R1, R::R4);
          fold();
        }
      };
      auto port_check = [&](std::int16_t pkt, std::int16_t lo, std::int16_t hi) {
        // (x - lo) | (hi - x) is negative exactly when x is outside [lo, hi].
        p_.ldx(Size::H, R::R1, R::R6, pkt);
        p_.ldx(Size::H, R::R4, R::R2, lo);
        p_.ldx(Size::H, R::R5, R::R2, hi);
        p_.alu(Alu::Sub, R::R5, R::R1);
        p_.alu(Alu::Sub, R::R1, R::R4);
        p_.alu(Alu::Or, R::R1, R::R5);
        p_.alu(Alu::Rsh, R::R1, 63);
        fold();
      };
      if (vlan) {
        // Both tags as one word, masked by the record (mask 0: no vlan match).
        p_.ldx(Size::W, R::R1, R::R6, kVlan);
        p_.ldx(Size::W, R::R4, R::R2, O::vlan_mask);
        p_.alu(Alu::And, R::R1, R::R4);
        p_.ldx(Size::W, R::R4, R::R2, O::vlan_val);
        p_.alu(Alu::Xor, R::R1, R::R4);
        fold();
      }
      if (dport && !k.frag) port_check(kDport, O::dport_lo, O::dport_hi);
      if (sport && !k.frag) port_check(kSport, O::sport_lo, O::sport_hi);
      addr_check(kSaddr, O::smask, O::sval, skip_s, saddr_words);
      addr_check(kDaddr, O::dmask, O::dval, skip_d, daddr_words);
      if (flags && !k.frag) {
        p_.ldx(Size::B, R::R1, R::R6, kFlags);
        p_.ldx(Size::B, R::R4, R::R2, O::flags_mask);
        p_.alu(Alu::And, R::R1, R::R4);
        p_.ldx(Size::B, R::R4, R::R2, O::flags_val);
        p_.alu(Alu::Xor, R::R1, R::R4);
        fold();
      }
      if (any) p_.jcc(Cond::Ne, R::R0, 0, next);
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
    p_.ld_map_value(R::R8, blob(t), t.lists_off);
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
    p_.ld_map_value(R::R3, blob(t), t.index_off);
    p_.alu(Alu::Add, R::R3, R::R2);
    p_.ldx(Size::W, R::R2, R::R3, 0);
    p_.jcc(Cond::Eq, R::R2, 0, group_end);
    if (t.nnodes2) {
      // Level 2: 32-bit entries (a level-3 node or a list).
      Label down2 = p_.label();
      p_.jcc(Cond::Set, R::R2, imm_u32(kTrieNode), down2);
      p_.jmp(found);
      p_.bind(down2);
      p_.alu(Alu::And, R::R2, 0x7fffffff);
      p_.jcc(Cond::Ge, R::R2, imm_u32(t.nnodes2), group_end);
      static_assert(kTrieNode2Bytes == 1024);
      p_.alu(Alu::Lsh, R::R2, 10);
      p_.mov(R::R3, R::R9);
      p_.alu(Alu::Rsh, R::R3, 8);
      p_.alu(Alu::And, R::R3, 255);
      p_.alu(Alu::Lsh, R::R3, 2);
      p_.alu(Alu::Add, R::R2, R::R3);
      p_.ld_map_value(R::R3, blob(t), t.nodes2_off);
      p_.alu(Alu::Add, R::R3, R::R2);
      p_.ldx(Size::W, R::R2, R::R3, 0);
      p_.jcc(Cond::Eq, R::R2, 0, group_end);
      if (t.nnodes3) {
        // Level 3: 16-bit entries, lists only.
        Label down3 = p_.label();
        p_.jcc(Cond::Set, R::R2, imm_u32(kTrieNode), down3);
        p_.jmp(found);
        p_.bind(down3);
        p_.alu(Alu::And, R::R2, 0x7fffffff);
        p_.jcc(Cond::Ge, R::R2, imm_u32(t.nnodes3), group_end);
        static_assert(kTrieNode3Bytes == 512);
        p_.alu(Alu::Lsh, R::R2, 9);
        p_.mov(R::R3, R::R9);
        p_.alu(Alu::And, R::R3, 255);
        p_.alu(Alu::Lsh, R::R3, 1);
        p_.alu(Alu::Add, R::R2, R::R3);
        p_.ld_map_value(R::R3, blob(t), t.nodes3_off);
        p_.alu(Alu::Add, R::R3, R::R2);
        p_.ldx(Size::H, R::R2, R::R3, 0);
        p_.jcc(Cond::Eq, R::R2, 0, group_end);
      }
    }
    p_.bind(found);
    list(g, t, k, group_end);
  }

  void ports(const Group& g, const GroupTables& t, const ClassKey& k, Label group_end) {
    p_.ldx(Size::H, R::R2, R::R6, port_off(g.field));
    p_.alu(Alu::Lsh, R::R2, 2);
    p_.ld_map_value(R::R3, blob(t), t.index_off);
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
      p_.ld_map_value(R::R3, blob(t), t.index_off);
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
      p_.ldx(Size::W, R::R2, R::R8, static_cast<std::int16_t>((t.slots - 1) * slot_bytes + 4 * t.key_words));
      p_.jcc(Cond::Eq, R::R2, 0, group_end);
    }
    p_.jmp(group_end);
    p_.bind(found);
    list(g, t, k, group_end);
  }

  Label set4_fn() { return set4_fn_ ? *set4_fn_ : *(set4_fn_ = p_.label()); }
  Label set6_fn() { return set6_fn_ ? *set6_fn_ : *(set6_fn_ = p_.label()); }

  const Plan& plan_;
  const Tables& tables_;
  Program p_;
  std::optional<Label> set4_fn_, set6_fn_;
  std::map<GroupFnKey, GroupFn> group_fns_;
  MapId maps_[kNumMapSlots];
  std::vector<MapId> blob_maps_;  // per blob of tables_
  MapId blob(const GroupTables& t) const { return blob_maps_.at(t.blob); }
  std::map<std::vector<std::uint32_t>, ClassCode> class_code_;
  bool limits_ = has_limits(plan_);  // after plan_: members initialise in order
  std::vector<BlockRule> blocks_ = block_rules(plan_);
};

}  // namespace

Result<Program> emit_classifier(const Plan& plan, const Tables& tables) {
  if (tables.groups.size() != plan.groups.size())
    return fail(EINVAL, "internal: tables for {} groups, plan has {}", tables.groups.size(),
                plan.groups.size());
  return Emitter(plan, tables).run();
}

}  // namespace xdpguard::cls
