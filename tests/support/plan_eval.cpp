#include "support/plan_eval.h"

#include <linux/bpf.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "bpf/abi.h"

namespace xdpguard::test {
namespace {

using cls::CandidateList;
using cls::Field;
using cls::Group;
using cls::GroupKind;
using cls::GroupTables;

// A typed read of the blob, as the generated code's loads; out of bounds is a
// layout bug the verifier would have refused.
template <class T>
T load(const cls::Blob& blob, std::size_t off) {
  if (off + sizeof(T) > blob.size())
    throw std::out_of_range(
        fmt::format("classifier blob: read of {} bytes at {} (blob has {})", sizeof(T), off, blob.size()));
  T v;
  std::memcpy(&v, blob.data() + off, sizeof v);
  return v;
}

// The packet as the per-CPU entry holds it.
struct Pkt {
  std::array<std::uint32_t, 4> saddr{}, daddr{};  // memory order (network byte order words)
  std::uint16_t sport = 0, dport = 0;
  std::uint8_t family = 0, proto = 0, flags = 0;
  bool frag = false;
  std::uint32_t vlan = 0;  // xdpguard_pkt.vlan as one word (memory order)
  const rules::PacketFields* fields = nullptr;

  const std::array<std::uint32_t, 4>& addr(Field f) const { return f == Field::Saddr ? saddr : daddr; }
  std::uint16_t port(Field f) const { return f == Field::Sport ? sport : dport; }
};

std::array<std::uint32_t, 4> words_of(const std::array<std::uint8_t, 16>& a) {
  std::array<std::uint32_t, 4> w;
  std::memcpy(w.data(), a.data(), 16);
  return w;
}

std::uint32_t host_order(std::uint32_t memory_word) {
  std::uint8_t b[4];
  std::memcpy(b, &memory_word, 4);
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

std::array<std::uint32_t, 4> mask_words(unsigned len) {
  std::array<std::uint8_t, 16> ones;
  ones.fill(0xff);
  return cls::masked_words(ones, len);
}

class Eval {
 public:
  Eval(const cls::Plan& plan, const cls::Tables& tables, const Pkt& pkt, const SetIndexMembership& in_set)
      : plan_(plan), tables_(tables), pkt_(pkt), in_set_(in_set) {
    v_.action = plan.default_action;
  }

  ClsVerdict run() {
    if (pkt_.family != 4 && pkt_.family != 6) return v_;
    const cls::ClassPath* cls = nullptr;
    const cls::ClassPath* other = nullptr;
    for (const auto& c : plan_.classes) {
      if (c.key.family != pkt_.family || c.key.frag != pkt_.frag) continue;
      if (c.key.proto == cls::kOtherProto)
        other = other ? other : &c;
      else if (c.key.proto == pkt_.proto && !cls)
        cls = &c;
    }
    if (!cls) cls = other;
    if (!cls) return v_;
    for (std::size_t i = 0; i < cls->groups.size(); ++i) {
      const std::uint32_t gi = cls->groups.at(i);
      const Group& g = plan_.groups.at(gi);
      // Groups in order of their first rule: the path ends at the first one
      // that cannot improve on the best so far.
      if (i > 0 && !(v_.prio > g.first())) break;
      switch (g.kind) {
        case GroupKind::Chain: chain(g, cls->key); break;
        case GroupKind::Trie4: trie4(g, tables_.groups.at(gi), cls->key); break;
        case GroupKind::Ports: ports(g, tables_.groups.at(gi), cls->key); break;
        case GroupKind::Hash6: hash6(g, tables_.groups.at(gi), cls->key); break;
      }
    }
    return v_;
  }

 private:
  // ---- chains: each rule's matches compared as the emitted code does -------

  bool port_ok(const std::optional<rules::PortRange>& r, std::uint16_t v) const {
    if (!r || (r->lo == 0 && r->hi == 65535)) return true;
    return v >= r->lo && v <= r->hi;
  }

  bool prefix_ok(const rules::Prefix& pfx, const std::array<std::uint32_t, 4>& a) const {
    const auto val = cls::masked_words(pfx.addr, pfx.len);
    const auto mask = mask_words(pfx.len);
    const unsigned words = pfx.family == rules::Family::V4 ? 1 : 4;
    for (unsigned w = 0; w < words; ++w) {
      if (mask[w] == 0) break;
      if ((a[w] & mask[w]) != val[w]) return false;
    }
    return true;
  }

  void chain(const Group& g, const cls::ClassKey& k) {
    for (std::uint32_t pos : g.rules) {
      const cls::CompiledRule& c = plan_.rules.at(pos);
      if (k.frag && c.l4) continue;  // not even emitted for this class
      const rules::Rule& r = c.rule;
      if (c.vlan && (pkt_.vlan & c.vlan->mask) != c.vlan->value) continue;
      if (!port_ok(r.dport, pkt_.dport) || !port_ok(r.sport, pkt_.sport)) continue;
      bool ok = true;
      for (Field f : {Field::Saddr, Field::Daddr})
        if (const auto& a = addr_of(r, f); a && a->prefix) ok = ok && prefix_ok(*a->prefix, pkt_.addr(f));
      if (!ok) continue;
      if (r.flags_mask && (pkt_.flags & r.flags_mask) != (r.flags_value & r.flags_mask)) continue;
      // The FlowSpec matches (chain rules only, plan.cpp): value lists and
      // the fragment bits.
      const rules::PacketFields& pf = *pkt_.fields;
      auto in = [](const std::optional<rules::ValueList>& l, std::uint32_t v) {
        if (!l) return true;
        for (const auto& x : *l)
          if (x.lo <= v && v <= x.hi) return true;
        return false;
      };
      if (!in(r.icmp_type, pf.icmp_type) || !in(r.icmp_code, pf.icmp_code)) continue;
      if (!in(r.length, pf.ip_len) || !in(r.dscp, pf.dscp)) continue;
      if ((pf.frag_bits & r.frag_mask) != (r.frag_value & r.frag_mask)) continue;
      for (Field f : {Field::Saddr, Field::Daddr}) {
        auto set = f == Field::Saddr ? c.saddr_set : c.daddr_set;
        if (!set) continue;
        const auto& bytes = f == Field::Saddr ? pkt_.fields->saddr : pkt_.fields->daddr;
        ok = ok && in_set_ && in_set_(*set, k.family, bytes);
      }
      if (!ok) continue;
      if (v_.prio > pos) {
        v_.prio = pos;
        v_.slot = c.id;
        v_.action = c.action;
        if (c.action == XDP_REDIRECT) v_.ifindex = c.ifindex;
      }
      return;  // the first match of a chain ends it, won or not
    }
  }

  // ---- tables ----------------------------------------------------------------

  // What remains to be checked per candidate (the emitter's computation).
  struct Residual {
    bool sport = false, dport = false, flags = false, l4 = false, vlan = false;
    unsigned saddr_words = 0, daddr_words = 0, skip_s = 0, skip_d = 0;
    bool any = false;
  };

  Residual residual(const Group& g, const cls::ClassKey& k) const {
    Residual x;
    for (auto pos : g.rules) {
      const auto& r = plan_.rules.at(pos).rule;
      x.sport |= r.sport && !(g.kind == GroupKind::Ports && g.field == Field::Sport);
      x.dport |= r.dport && !(g.kind == GroupKind::Ports && g.field == Field::Dport);
      x.flags |= r.flags_mask != 0;
      x.l4 |= plan_.rules.at(pos).l4;
      x.vlan |= plan_.rules.at(pos).vlan.has_value();
      for (Field f : {Field::Saddr, Field::Daddr}) {
        const auto& a = addr_of(r, f);
        if (!a || !a->prefix || a->prefix->len == 0) continue;
        if (g.kind == GroupKind::Trie4 && g.field == f) continue;
        unsigned words = (a->prefix->len + 31u) / 32u;
        auto& w = f == Field::Saddr ? x.saddr_words : x.daddr_words;
        w = std::max(w, words);
      }
    }
    if (g.kind == GroupKind::Hash6) (g.field == Field::Saddr ? x.skip_s : x.skip_d) = g.key_len / 32u;
    x.any = (k.frag && x.l4) || (!k.frag && (x.sport || x.dport || x.flags)) || x.saddr_words > x.skip_s ||
            x.daddr_words > x.skip_d || x.vlan;
    return x;
  }

  template <class Rec>
  bool record_ok(const Rec& rec, const Residual& x, const cls::ClassKey& k) const {
    if (k.frag && x.l4 && rec.l4 != 0) return false;
    if (x.vlan && (pkt_.vlan & rec.vlan_mask) != rec.vlan_val) return false;
    if (x.dport && !k.frag && (pkt_.dport < rec.dport_lo || pkt_.dport > rec.dport_hi)) return false;
    if (x.sport && !k.frag && (pkt_.sport < rec.sport_lo || pkt_.sport > rec.sport_hi)) return false;
    auto words = [](const Rec& r, bool mask, Field f) -> std::array<std::uint32_t, 4> {
      if constexpr (sizeof(Rec) == sizeof(cls::Record6)) {
        const std::uint32_t* p = f == Field::Saddr ? (mask ? r.smask : r.sval) : (mask ? r.dmask : r.dval);
        return {p[0], p[1], p[2], p[3]};
      } else {
        return {f == Field::Saddr ? (mask ? r.smask : r.sval) : (mask ? r.dmask : r.dval), 0, 0, 0};
      }
    };
    for (Field f : {Field::Saddr, Field::Daddr}) {
      const unsigned from = f == Field::Saddr ? x.skip_s : x.skip_d;
      const unsigned to = f == Field::Saddr ? x.saddr_words : x.daddr_words;
      const auto m = words(rec, true, f), val = words(rec, false, f);
      for (unsigned w = from; w < to; ++w)
        if ((pkt_.addr(f).at(w) & m.at(w)) != val.at(w)) return false;
    }
    if (x.flags && !k.frag && (pkt_.flags & rec.flags_mask) != rec.flags_val) return false;
    return true;
  }

  template <class Rec>
  void candidates(const Group& g, const GroupTables& t, const cls::ClassKey& k, std::uint32_t list_no) {
    const Residual x = residual(g, k);
    const std::uint32_t checked = x.any ? cls::kMaxCandidates : 1;
    const auto cl = load<CandidateList>(tables_.blobs.at(t.blob),
                                        t.lists_off + std::size_t{list_no} * sizeof(CandidateList));
    const std::uint32_t best = v_.prio;
    for (std::uint32_t i = 0; i < checked; ++i) {
      if (cl.count <= i) return;
      const std::uint32_t rec_no = cl.rec[i];
      if (rec_no >= t.nrecs) return;
      const auto rec = load<Rec>(tables_.blobs.at(t.blob), t.recs_off + std::size_t{rec_no} * t.rec_size);
      if (rec.prio > best) return;  // lists are in rule order
      if (!record_ok(rec, x, k)) continue;
      v_.prio = rec.prio;
      v_.slot = rec.slot;
      v_.action = rec.action & XDPGUARD_ACTION_MASK;  // a `log` threshold above the action
      v_.ifindex = rec.ifindex;
      return;
    }
  }

  void list(const Group& g, const GroupTables& t, const cls::ClassKey& k, std::uint32_t list_no) {
    if (list_no >= t.nlists) return;
    if (g.family == 6)
      candidates<cls::Record6>(g, t, k, list_no);
    else
      candidates<cls::Record4>(g, t, k, list_no);
  }

  void trie4(const Group& g, const GroupTables& t, const cls::ClassKey& k) {
    const std::uint32_t host = host_order(pkt_.addr(g.field)[0]);
    std::uint32_t e =
        load<std::uint32_t>(tables_.blobs.at(t.blob), t.index_off + 4 * std::size_t{host >> 16});
    if (e == 0) return;
    if (t.nnodes2 && (e & cls::kTrieNode)) {
      const std::uint32_t n2 = e & 0x7fffffffu;
      if (n2 >= t.nnodes2) return;
      e = load<std::uint32_t>(
          tables_.blobs.at(t.blob),
          t.nodes2_off + std::size_t{n2} * cls::kTrieNode2Bytes + 4 * ((host >> 8) & 255));
      if (e == 0) return;
      if (t.nnodes3 && (e & cls::kTrieNode)) {
        const std::uint32_t n3 = e & 0x7fffffffu;
        if (n3 >= t.nnodes3) return;
        e = load<std::uint16_t>(tables_.blobs.at(t.blob),
                                t.nodes3_off + std::size_t{n3} * cls::kTrieNode3Bytes + 2 * (host & 255));
        if (e == 0) return;
      }
    }
    list(g, t, k, e);
  }

  void ports(const Group& g, const GroupTables& t, const cls::ClassKey& k) {
    const std::uint32_t e =
        load<std::uint32_t>(tables_.blobs.at(t.blob), t.index_off + 4 * std::size_t{pkt_.port(g.field)});
    if (e == 0) return;
    list(g, t, k, e);
  }

  void hash6(const Group& g, const GroupTables& t, const cls::ClassKey& k) {
    std::array<std::uint32_t, 4> key{};
    const auto mask = mask_words(g.key_len);
    for (unsigned w = 0; w < t.key_words; ++w) {
      key.at(w) = pkt_.addr(g.field).at(w);
      if (w + 1 == t.key_words && mask.at(w) != 0xffffffffu) key.at(w) &= mask.at(w);
    }
    // Independent of cls::hash6(): the arithmetic the emitted code does.
    std::uint64_t h = 0;
    for (unsigned w = 0; w < t.key_words; ++w) h += std::uint64_t{key.at(w)} * t.hash.k.at(w);
    h ^= h >> 29;
    h *= t.hash.k[4];
    h >>= 64 - t.hash.bits;
    const std::uint32_t slot_bytes = 4 * t.slot_words;
    for (std::uint32_t probe = 0; probe < t.probes; ++probe) {
      const std::uint64_t bucket = (h + probe) & ((std::uint64_t{1} << t.hash.bits) - 1);
      const std::size_t base = t.index_off + bucket * cls::kBucketBytes;
      for (std::uint32_t s = 0; s < t.slots; ++s) {
        bool equal = true;
        for (unsigned w = 0; w < t.key_words && equal; ++w)
          equal = load<std::uint32_t>(tables_.blobs.at(t.blob), base + s * slot_bytes + 4 * w) == key.at(w);
        if (!equal) continue;
        const auto list_no =
            load<std::uint32_t>(tables_.blobs.at(t.blob), base + s * slot_bytes + 4 * t.key_words);
        if (list_no == 0) return;  // an empty slot: the key is absent
        list(g, t, k, list_no);
        return;
      }
      // A bucket with a free slot ends the search: the key would be there.
      if (load<std::uint32_t>(tables_.blobs.at(t.blob),
                              base + (t.slots - 1) * slot_bytes + 4 * t.key_words) == 0)
        return;
    }
  }

  const cls::Plan& plan_;
  const cls::Tables& tables_;
  const Pkt& pkt_;
  const SetIndexMembership& in_set_;
  ClsVerdict v_;
};

}  // namespace

ClsVerdict plan_verdict(const cls::Plan& plan, const cls::Tables& tables, const rules::PacketFields& p,
                        const SetIndexMembership& in_set) {
  if (tables.groups.size() != plan.groups.size())
    throw std::invalid_argument("plan_verdict: tables do not belong to the plan");
  Pkt pkt;
  pkt.saddr = words_of(p.saddr);
  pkt.daddr = words_of(p.daddr);
  pkt.sport = p.sport;
  pkt.dport = p.dport;
  pkt.family = p.family;
  pkt.proto = p.proto;
  pkt.flags = p.tcp_flags;
  pkt.frag = p.frag;
  // As the parser records the tags (parse.h): VID | TAGGED per tag present.
  std::uint16_t tags[XDPGUARD_MAX_VLAN] = {0, 0};
  for (unsigned i = 0; i < p.nvlan && i < XDPGUARD_MAX_VLAN; ++i)
    tags[i] = static_cast<std::uint16_t>((p.vlan.at(i) & XDPGUARD_VLAN_VID) | XDPGUARD_VLAN_TAGGED);
  std::memcpy(&pkt.vlan, tags, sizeof pkt.vlan);
  pkt.fields = &p;
  return Eval(plan, tables, pkt, in_set).run();
}

std::optional<std::uint32_t> plan_eval(const cls::Plan& plan, const cls::Tables& tables,
                                       const rules::PacketFields& p, const SetIndexMembership& in_set) {
  const ClsVerdict v = plan_verdict(plan, tables, p, in_set);
  if (v.prio == XDPGUARD_PRIO_NONE) return std::nullopt;
  return v.prio;
}

}  // namespace xdpguard::test
