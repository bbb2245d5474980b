#include "classifier/tables.h"

#include <linux/bpf.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>

namespace xdpguard::cls {
namespace {

constexpr std::uint32_t kMaxProbes = 3;  // Hash6 buckets searched per lookup, at most

std::uint32_t align64(std::size_t n) { return static_cast<std::uint32_t>((n + 63) & ~std::size_t{63}); }

std::array<std::uint32_t, 4> mask_words(unsigned len) {
  std::array<std::uint8_t, 16> ones;
  ones.fill(0xff);
  return masked_words(ones, len);
}

// Candidate lists of one group, deduplicated; list 0 is the empty list.
class ListPool {
 public:
  ListPool() { lists_.emplace_back(); }
  std::uint32_t id(const std::vector<std::uint32_t>& recs) {
    if (recs.empty()) return 0;
    auto [it, fresh] = index_.emplace(recs, static_cast<std::uint32_t>(lists_.size()));
    if (fresh) lists_.push_back(recs);
    return it->second;
  }
  const std::vector<std::vector<std::uint32_t>>& lists() const { return lists_; }

 private:
  std::map<std::vector<std::uint32_t>, std::uint32_t> index_;
  std::vector<std::vector<std::uint32_t>> lists_;
};

template <class T>
void put(std::vector<std::uint8_t>& blob, std::size_t off, const T& v) {
  std::memcpy(blob.data() + off, &v, sizeof v);
}
template <class T>
void put(const Blob& blob, std::size_t off, const T& v) {
  std::memcpy(blob.data() + off, &v, sizeof v);
}

struct HeapBytes : BlobOwner {
  explicit HeapBytes(std::size_t n) : bytes(new std::uint8_t[n]()) {}
  std::unique_ptr<std::uint8_t[]> bytes;
};

template <class Rec>
void fill_ports_flags(Rec& r, const CompiledRule& c) {
  r.sport_lo = c.rule.sport ? c.rule.sport->lo : 0;
  r.sport_hi = c.rule.sport ? c.rule.sport->hi : 65535;
  r.dport_lo = c.rule.dport ? c.rule.dport->lo : 0;
  r.dport_hi = c.rule.dport ? c.rule.dport->hi : 65535;
  r.flags_mask = c.rule.flags_mask;
  r.flags_val = c.rule.flags_value & c.rule.flags_mask;
  r.l4 = c.l4;
  r.vlan_mask = c.vlan ? c.vlan->mask : 0;
  r.vlan_val = c.vlan ? c.vlan->value : 0;
}

// A group's tables before they get their place in the blob.
struct Built {
  GroupTables t;
  std::vector<std::uint8_t> index;  // raw bytes of the index region
  std::vector<std::uint8_t> nodes2, nodes3;
  ListPool lists;
};

Result<void> build_hash6(const Hash6Buckets& b, const std::vector<std::uint32_t>& list_ids, Built& out) {
  const unsigned words = std::max(1u, (b.key_len() + 31) / 32);
  const unsigned slot_words = words + 1;
  const unsigned slots = kBucketBytes / (4 * slot_words);
  const std::size_t nkeys = b.buckets().size();
  std::uint32_t bits = 1;
  while ((std::size_t{1} << bits) * slots < 2 * nkeys) ++bits;
  std::vector<std::array<std::uint32_t, 4>> keys;
  for (const auto& [k, v] : b.buckets()) keys.push_back(k);
  for (;; ++bits) {
    if (bits > 20) return fail(E2BIG, "hash table for {} keys does not fit", nkeys);
    const std::uint32_t nb = 1u << bits;
    for (unsigned seed = 0; seed < 16; ++seed) {
      std::mt19937 rng(seed * 7919 + bits);
      Hash6Params p;
      p.bits = bits;
      for (auto& k : p.k) k = (static_cast<std::uint32_t>(rng()) & 0x7fffffffu) | 1u;
      std::vector<std::uint32_t> used(nb, 0);
      std::vector<std::uint8_t> index(std::size_t{nb} * kBucketBytes, 0);
      std::uint32_t probes = 1;
      bool ok = true;
      for (std::size_t i = 0; i < keys.size() && ok; ++i) {
        std::uint32_t home = static_cast<std::uint32_t>(hash6(keys[i], words, p));
        std::uint32_t d = 0;
        while (used[(home + d) & (nb - 1)] == slots) ++d;
        if (d + 1 > kMaxProbes) ok = false;
        probes = std::max(probes, d + 1);
        std::uint32_t bucket = (home + d) & (nb - 1);
        std::size_t off = std::size_t{bucket} * kBucketBytes + used[bucket]++ * 4 * slot_words;
        for (unsigned w = 0; w < words; ++w) put(index, off + 4 * w, keys[i][w]);
        put(index, off + 4 * words, list_ids[i]);
      }
      if (!ok) continue;
      out.index = std::move(index);
      out.t.key_words = words;
      out.t.slot_words = slot_words;
      out.t.slots = slots;
      out.t.probes = probes;
      out.t.hash = p;
      return {};
    }
  }
}

// The builder of table group g: the planner's, or else (a group make_plan
// did not make) one built here into `own`, which must take all its rules.
template <class B>
Result<const B*> group_builder(const Plan& plan, const Group& g, std::shared_ptr<GroupIndex>& own) {
  if (g.index)
    if (const B* b = std::get_if<B>(&g.index->builder)) return b;
  auto built = index_rules({g.kind, g.field, g.key_len}, g.rules, plan.rules, g.rules.size());
  for (std::size_t i = 0; i < g.rules.size(); ++i)
    if (i >= built.taken.size() || built.taken[i] != g.rules[i])
      return fail(EINVAL, "internal: the table refused rule {} the plan gave it", g.rules[i] + 1);
  own = std::move(built.index);
  return &std::get<B>(own->builder);
}

Result<Built> build_group(const Plan& plan, const Group& g) {
  Built b;
  std::shared_ptr<GroupIndex> own;  // the group's builder, if built here
  switch (g.kind) {
    case GroupKind::Trie4: {
      const Trie4& t = *XG_TRY(group_builder<Trie4>(plan, g, own));
      // The builder numbers nodes in one sequence; the tables keep level-2
      // and level-3 nodes apart (their entries differ in size).
      const auto& nodes = t.node_list();
      std::vector<std::int64_t> renum(nodes.size(), -1);
      std::vector<std::size_t> level2, level3;
      for (const auto& e : t.level1())
        if (e.child() >= 0) {
          renum[static_cast<std::size_t>(e.child())] = static_cast<std::int64_t>(level2.size());
          level2.push_back(static_cast<std::size_t>(e.child()));
        }
      for (std::size_t n : level2)
        for (const auto& e : nodes[n])
          if (e.child() >= 0) {
            renum[static_cast<std::size_t>(e.child())] = static_cast<std::int64_t>(level3.size());
            level3.push_back(static_cast<std::size_t>(e.child()));
          }
      // The group's list number of each of the trie's lists, looked up once.
      std::vector<std::uint32_t> list_id(t.pool_size(), ~0u);
      auto list_of = [&](const Trie4::Entry& e) {
        std::uint32_t& id = list_id[e.list()];
        if (id == ~0u) id = b.lists.id(t.list(e));
        return id;
      };
      auto entry = [&](const Trie4::Entry& e) -> std::uint32_t {
        return e.child() >= 0
                   ? kTrieNode | static_cast<std::uint32_t>(renum[static_cast<std::size_t>(e.child())])
                   : list_of(e);
      };
      b.index.resize(65536 * 4);
      for (std::size_t i = 0; i < 65536; ++i) put(b.index, 4 * i, entry(t.level1()[i]));
      b.nodes2.resize(level2.size() * kTrieNode2Bytes);
      for (std::size_t n = 0; n < level2.size(); ++n)
        for (std::size_t i = 0; i < 256; ++i)
          put(b.nodes2, n * kTrieNode2Bytes + 4 * i, entry(nodes[level2[n]][i]));
      b.nodes3.resize(level3.size() * kTrieNode3Bytes);
      for (std::size_t n = 0; n < level3.size(); ++n)
        for (std::size_t i = 0; i < 256; ++i) {
          std::uint32_t id = list_of(nodes[level3[n]][i]);
          if (id > 0xffff) return fail(E2BIG, "a trie needs more than 65,535 candidate lists");
          put(b.nodes3, n * kTrieNode3Bytes + 2 * i, static_cast<std::uint16_t>(id));
        }
      b.t.nnodes2 = static_cast<std::uint32_t>(level2.size());
      b.t.nnodes3 = static_cast<std::uint32_t>(level3.size());
      break;
    }
    case GroupKind::Ports: {
      const PortMap& m = *XG_TRY(group_builder<PortMap>(plan, g, own));
      b.index.resize(65536 * 4);
      const auto& seg = m.segments();
      for (auto it = seg.begin(); it != seg.end(); ++it) {
        auto next = std::next(it);
        std::uint32_t end = next == seg.end() ? 65536 : next->first;
        std::uint32_t id = b.lists.id(it->second);
        for (std::uint32_t p = it->first; p < end; ++p) put(b.index, 4 * p, id);
      }
      break;
    }
    case GroupKind::Hash6: {
      const Hash6Buckets& hb = *XG_TRY(group_builder<Hash6Buckets>(plan, g, own));
      std::vector<std::uint32_t> ids;
      for (const auto& [k, v] : hb.buckets()) ids.push_back(b.lists.id(v));
      XG_CHECK(build_hash6(hb, ids, b));
      break;
    }
    case GroupKind::Chain: break;
  }
  b.t.nlists = static_cast<std::uint32_t>(b.lists.lists().size());
  b.t.nrecs = static_cast<std::uint32_t>(g.rules.size());
  b.t.rec_size = g.family == 6 ? sizeof(Record6) : sizeof(Record4);
  return b;
}

}  // namespace

const rules::PortRange* key_ports(const TableKey& k, const rules::Rule& r) {
  const auto& p = k.field == Field::Sport ? r.sport : r.dport;
  return k.kind == GroupKind::Ports && p ? &*p : nullptr;
}

const rules::Prefix* key_prefix(const TableKey& k, const rules::Rule& r) {
  if (k.kind != GroupKind::Trie4 && k.kind != GroupKind::Hash6) return nullptr;
  const auto& a = addr_of(r, k.field);
  if (!a || !a->prefix) return nullptr;
  const unsigned shortest = k.kind == GroupKind::Trie4 ? Trie4::kMinLen : k.key_len;
  return a->prefix->len >= shortest ? &*a->prefix : nullptr;
}

IndexedRules index_rules(const TableKey& k, std::span<const std::uint32_t> positions,
                         const std::vector<CompiledRule>& rules, std::size_t max) {
  IndexedRules out;
  auto& taken = out.taken;
  // Adds each rule `add` accepts (given the number it would get), in order.
  auto take = [&](auto&& add) {
    for (auto pos : positions) {
      if (taken.size() >= max) break;
      if (add(rules[pos].rule, static_cast<std::uint32_t>(taken.size()))) taken.push_back(pos);
    }
  };
  switch (k.kind) {
    case GroupKind::Ports: {
      PortMap m;
      take([&](const rules::Rule& r, std::uint32_t n) {
        const auto* pr = key_ports(k, r);
        return pr && m.add(pr->lo, pr->hi, n);
      });
      out.index = std::make_shared<GroupIndex>(GroupIndex{std::move(m)});
      break;
    }
    case GroupKind::Trie4: {
      Trie4 t;
      take([&](const rules::Rule& r, std::uint32_t n) {
        const auto* p = key_prefix(k, r);
        return p && t.add(host_v4(p->addr), p->len, n);
      });
      out.index = std::make_shared<GroupIndex>(GroupIndex{std::move(t)});
      break;
    }
    case GroupKind::Hash6: {
      Hash6Buckets b(k.key_len);
      take([&](const rules::Rule& r, std::uint32_t n) {
        const auto* p = key_prefix(k, r);
        return p && b.add(p->addr, n);
      });
      out.index = std::make_shared<GroupIndex>(GroupIndex{std::move(b)});
      break;
    }
    case GroupKind::Chain: break;
  }
  return out;
}

std::array<std::uint32_t, 4> masked_words(const std::array<std::uint8_t, 16>& addr, unsigned len) {
  std::array<std::uint8_t, 16> m{};
  for (unsigned i = 0; i < 16; ++i) {
    unsigned bits = len > i * 8 ? std::min(8u, len - i * 8) : 0;
    m[i] = static_cast<std::uint8_t>(addr[i] & (bits ? 0xff << (8 - bits) : 0));
  }
  std::array<std::uint32_t, 4> w;
  std::memcpy(w.data(), m.data(), 16);
  return w;
}

std::uint64_t hash6(const std::array<std::uint32_t, 4>& key, unsigned words, const Hash6Params& p) {
  std::uint64_t x = 0;
  for (unsigned i = 0; i < words; ++i) x += std::uint64_t{key[i]} * p.k[i];
  x ^= x >> 29;
  x *= p.k[4];
  return x >> (64 - p.bits);
}

// ---- Trie4 -------------------------------------------------------------------

static_assert(sizeof(Trie4::Entry) == 4);

Trie4::Trie4() : l1_(65536) {}

std::size_t Trie4::fill(const Entry& e) const {
  if (e.child() < 0) return pool_[e.list()].size();
  std::size_t m = 0;
  for (const auto& c : nodes_[static_cast<std::size_t>(e.child())]) m = std::max(m, fill(c));
  return m;
}

void Trie4::add_to(Entry& e, std::uint32_t rec) {
  if (e.child() >= 0) {
    for (auto& c : nodes_[static_cast<std::size_t>(e.child())]) add_to(c, rec);
    return;
  }
  auto [it, fresh] = appended_.try_emplace(e.list(), 0);
  if (fresh) {
    const auto& from = pool_[e.list()];
    std::vector<std::uint32_t> l;
    l.reserve(from.size() + 1);
    l.assign(from.begin(), from.end());
    l.push_back(rec);
    it->second = static_cast<std::uint32_t>(pool_.size());
    pool_.push_back(std::move(l));
  }
  e.set_list(it->second);
}

std::int32_t Trie4::split(Entry& e) {
  nodes_.emplace_back();
  auto& node = nodes_.back();
  for (auto& c : node) c = e;
  e.set_child(static_cast<std::uint32_t>(nodes_.size() - 1));
  return e.child();
}

bool Trie4::add(std::uint32_t addr, unsigned len, std::uint32_t rec) {
  if (len < kMinLen || len > 32) return false;
  addr &= len == 32 ? ~0u : ~(~0u >> len);  // host bits would index past the prefix's range
  const std::uint32_t i1 = addr >> 16, i2 = (addr >> 8) & 255, i3 = addr & 255;
  std::size_t fullest = 0, new_nodes = 0;
  Entry& e1 = l1_[i1];
  if (len <= 16) {
    for (std::uint32_t i = i1; i < i1 + (1u << (16 - len)); ++i) fullest = std::max(fullest, fill(l1_[i]));
  } else if (e1.child() < 0) {
    fullest = pool_[e1.list()].size();
    new_nodes = len > 24 ? 2 : 1;
  } else {
    auto& n2 = nodes_[static_cast<std::size_t>(e1.child())];
    if (len <= 24) {
      for (std::uint32_t i = i2; i < i2 + (1u << (24 - len)); ++i) fullest = std::max(fullest, fill(n2[i]));
    } else if (n2[i2].child() < 0) {
      fullest = pool_[n2[i2].list()].size();
      new_nodes = 1;
    } else {
      auto& n3 = nodes_[static_cast<std::size_t>(n2[i2].child())];
      for (std::uint32_t i = i3; i < i3 + (1u << (32 - len)); ++i)
        fullest = std::max(fullest, pool_[n3[i].list()].size());
    }
  }
  std::size_t new2 = 0, new3 = 0;
  if (len > 16 && e1.child() < 0) new2 = 1;
  if (new_nodes > new2) new3 = 1;
  if (fullest + 1 > kMaxCandidates ||
      bytes() + new2 * kTrieNode2Bytes + new3 * kTrieNode3Bytes > kMaxTrieBytes)
    return false;

  appended_.clear();
  if (len <= 16) {
    for (std::uint32_t i = i1; i < i1 + (1u << (16 - len)); ++i) add_to(l1_[i], rec);
    return true;
  }
  if (e1.child() < 0) {
    split(e1);
    ++n2_;
  }
  auto& n2 = nodes_[static_cast<std::size_t>(e1.child())];
  if (len <= 24) {
    for (std::uint32_t i = i2; i < i2 + (1u << (24 - len)); ++i) add_to(n2[i], rec);
    return true;
  }
  if (n2[i2].child() < 0) {
    split(n2[i2]);
    ++n3_;
  }
  auto& n3 = nodes_[static_cast<std::size_t>(n2[i2].child())];
  for (std::uint32_t i = i3; i < i3 + (1u << (32 - len)); ++i) add_to(n3[i], rec);
  return true;
}

// ---- PortMap -----------------------------------------------------------------

PortMap::PortMap() { seg_[0] = {}; }

void PortMap::split_at(std::uint32_t at) {
  if (at >= 65536) return;
  auto it = std::prev(seg_.upper_bound(at));
  if (it->first != at) seg_[at] = it->second;
}

bool PortMap::add(std::uint16_t lo, std::uint16_t hi, std::uint32_t rec) {
  for (auto it = std::prev(seg_.upper_bound(lo)); it != seg_.end() && it->first <= hi; ++it)
    if (it->second.size() + 1 > kMaxCandidates) return false;
  split_at(lo);
  split_at(std::uint32_t{hi} + 1);
  for (auto it = seg_.find(lo); it != seg_.end() && it->first <= hi; ++it) it->second.push_back(rec);
  return true;
}

// ---- Hash6Buckets --------------------------------------------------------------

bool Hash6Buckets::add(const std::array<std::uint8_t, 16>& addr, std::uint32_t rec) {
  auto& v = keys_[masked_words(addr, key_len_)];
  if (v.size() >= kMaxCandidates) return false;
  v.push_back(rec);
  return true;
}

// ---- the blobs -----------------------------------------------------------------

std::size_t Tables::bytes() const {
  std::size_t n = 0;
  for (const auto& b : blobs) n += b.size();
  return n;
}

Blob Blob::on_heap(std::size_t n) {
  auto owner = std::make_shared<HeapBytes>(n);
  std::span<std::uint8_t> bytes(owner->bytes.get(), n);
  return Blob(bytes, std::move(owner));
}

Result<Tables> build_tables(const Plan& plan, const BlobStore& store) {
  Tables out;
  out.groups.resize(plan.groups.size());
  // Each group's tables and the layout of its regions (offsets from the
  // group's start) first; then where each group goes (first fit in group
  // order: a blob holds whole groups); then each blob allocated once and
  // every region written straight into it.
  std::vector<Built> built(plan.groups.size());
  for (std::size_t gi = 0; gi < plan.groups.size(); ++gi) {
    const Group& g = plan.groups[gi];
    if (g.kind == GroupKind::Chain) continue;
    built[gi] = XG_TRY(build_group(plan, g));
    auto& b = built[gi];
    auto& t = b.t;
    std::size_t at = 0;
    auto region = [&](std::uint32_t& off, std::size_t size) {
      off = static_cast<std::uint32_t>(at);
      at += align64(size);
    };
    region(t.index_off, b.index.size());
    region(t.nodes2_off, b.nodes2.size());
    region(t.nodes3_off, b.nodes3.size());
    region(t.lists_off, std::size_t{t.nlists} * sizeof(CandidateList));
    region(t.recs_off, std::size_t{t.nrecs} * t.rec_size);
    if (at > kMaxBlobBytes)
      return fail(E2BIG, "the tables of group {} ({} rules) take {} bytes; one group may take {}", gi,
                  g.rules.size(), at, kMaxBlobBytes);
    t.bytes = static_cast<std::uint32_t>(at);
  }
  std::vector<std::size_t> blob_of(built.size(), 0), blob_bytes;
  for (std::size_t gi = 0; gi < built.size(); ++gi) {
    const std::size_t size = built[gi].t.bytes;
    if (size == 0) continue;
    std::size_t k = 0;
    while (k < blob_bytes.size() && blob_bytes[k] + size > kMaxBlobBytes) ++k;
    if (k == blob_bytes.size()) blob_bytes.push_back(0);
    blob_of[gi] = k;
    blob_bytes[k] += size;
  }
  std::vector<std::size_t> fill(blob_bytes.size(), 0);
  for (std::size_t size : blob_bytes) out.blobs.push_back(store ? XG_TRY(store(size)) : Blob::on_heap(size));
  for (std::size_t gi = 0; gi < built.size(); ++gi) {
    auto& b = built[gi];
    if (b.t.bytes == 0) continue;
    const Group& g = plan.groups[gi];
    const std::size_t k = blob_of[gi];
    const Blob& c = out.blobs[k];
    auto t = b.t;
    t.blob = static_cast<std::uint32_t>(k);
    const auto base = static_cast<std::uint32_t>(fill[k]);
    fill[k] += t.bytes;
    for (auto* off : {&t.index_off, &t.nodes2_off, &t.nodes3_off, &t.lists_off, &t.recs_off}) *off += base;
    out.groups[gi] = t;
    auto copy = [&](std::uint32_t off, const std::vector<std::uint8_t>& v) {
      if (!v.empty()) std::memcpy(c.data() + off, v.data(), v.size());
    };
    copy(t.index_off, b.index);
    copy(t.nodes2_off, b.nodes2);
    copy(t.nodes3_off, b.nodes3);
    const auto& lists = b.lists.lists();
    for (std::size_t i = 0; i < lists.size(); ++i) {
      CandidateList l{};
      l.count = static_cast<std::uint16_t>(lists[i].size());
      for (std::size_t j = 0; j < lists[i].size(); ++j) l.rec[j] = static_cast<std::uint16_t>(lists[i][j]);
      put(c, t.lists_off + i * sizeof(CandidateList), l);
    }
    for (std::uint32_t i = 0; i < g.rules.size(); ++i) {
      const CompiledRule& cr = plan.rules[g.rules[i]];
      const std::size_t off = t.recs_off + std::size_t{i} * t.rec_size;
      auto addr = [&](Field f) -> std::optional<rules::Prefix> {
        const auto& a = addr_of(cr.rule, f);
        if (a && a->prefix) return a->prefix;
        return std::nullopt;
      };
      if (g.family == 6) {
        Record6 r{};
        r.prio = g.rules[i], r.slot = cr.id, r.action = verdict_word(cr), r.ifindex = cr.ifindex;
        if (auto p = addr(Field::Saddr)) {
          auto m = mask_words(p->len), v = masked_words(p->addr, p->len);
          std::copy(m.begin(), m.end(), r.smask), std::copy(v.begin(), v.end(), r.sval);
        }
        if (auto p = addr(Field::Daddr)) {
          auto m = mask_words(p->len), v = masked_words(p->addr, p->len);
          std::copy(m.begin(), m.end(), r.dmask), std::copy(v.begin(), v.end(), r.dval);
        }
        fill_ports_flags(r, cr);
        put(c, off, r);
      } else {
        Record4 r{};
        r.prio = g.rules[i], r.slot = cr.id, r.action = verdict_word(cr), r.ifindex = cr.ifindex;
        if (auto p = addr(Field::Saddr))
          r.smask = mask_words(p->len)[0], r.sval = masked_words(p->addr, p->len)[0];
        if (auto p = addr(Field::Daddr))
          r.dmask = mask_words(p->len)[0], r.dval = masked_words(p->addr, p->len)[0];
        fill_ports_flags(r, cr);
        put(c, off, r);
      }
    }
    b = Built{};  // its memory back before the next group's is touched
  }
  return out;
}

}  // namespace xdpguard::cls
