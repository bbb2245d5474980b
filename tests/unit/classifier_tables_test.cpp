// The classifier's table builders (classifier/tables.h) and the blob:
//   Trie4: the candidate cap on nested prefixes over one address (the
//     refusal changes nothing, in any insertion order), a /8 over 256
//     level-1 entries, node splits copying the pushed-down lists, and every
//     address's list = the accepted prefixes containing it, in rule order;
//   PortMap: segments cover 0..65535 exactly, every port's list = the
//     accepted ranges containing it, the cap;
//   Hash6Buckets: keys are the masked addresses, the cap per key;
//   build_tables: regions inside the blob, aligned, disjoint; list 0 empty;
//     every entry, list and record well formed and records faithful to rules.
#include <gtest/gtest.h>

#include <linux/bpf.h>

#include <cstring>
#include <random>
#include <set>

#include <fmt/format.h>

#include "classifier/plan.h"
#include "classifier/tables.h"
#include "rules/parser.h"
#include "support/rule_gen.h"
#include "support/rule_text.h"

namespace xdpguard::cls {
namespace {

using List = std::vector<std::uint32_t>;
using test::ok;

std::uint32_t ip4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return (std::uint32_t{a} << 24) | (std::uint32_t{b} << 16) | (std::uint32_t{c} << 8) | d;
}
std::uint32_t mask4(unsigned len) { return len == 0 ? 0 : ~0u << (32 - len); }

// The list the trie gives an address (host order).
const List& walk(const Trie4& t, std::uint32_t addr) {
  const Trie4::Entry* e = &t.level1().at(addr >> 16);
  if (e->child() >= 0) e = &t.node_list().at(static_cast<std::size_t>(e->child()))[(addr >> 8) & 255];
  if (e->child() >= 0) e = &t.node_list().at(static_cast<std::size_t>(e->child()))[addr & 255];
  EXPECT_LT(e->child(), 0) << "a third level";
  return t.list(*e);
}

// A deep copy of a trie's state, for "refusal changes nothing".
struct TrieState {
  std::vector<std::pair<std::int32_t, List>> l1;
  std::vector<std::vector<std::pair<std::int32_t, List>>> nodes;
  bool operator==(const TrieState&) const = default;
};
TrieState state(const Trie4& t) {
  TrieState s;
  for (const auto& e : t.level1()) s.l1.emplace_back(e.child(), t.list(e));
  for (const auto& n : t.node_list()) {
    s.nodes.emplace_back();
    for (const auto& e : n) s.nodes.back().emplace_back(e.child(), t.list(e));
  }
  return s;
}

TEST(ClassifierTables, Trie4SlashEightFillsLevelOne) {
  Trie4 t;
  ASSERT_TRUE(t.add(ip4(10, 0, 0, 0), 8, 0));
  EXPECT_EQ(t.nodes(), 0u);
  for (std::uint32_t i = 0; i < 65536; ++i)
    ASSERT_EQ(t.list(t.level1()[i]), ((i >> 8) == 10 ? List{0} : List{})) << i;
  EXPECT_FALSE(t.add(ip4(10, 0, 0, 0), 7, 1));  // shorter than kMinLen
  EXPECT_FALSE(t.add(ip4(10, 0, 0, 0), 33, 1));
  EXPECT_EQ(t.nodes(), 0u);
}

TEST(ClassifierTables, Trie4SplitsCopyLists) {
  Trie4 t;
  ASSERT_TRUE(t.add(ip4(10, 0, 0, 0), 8, 0));
  ASSERT_TRUE(t.add(ip4(10, 1, 2, 0), 24, 1));
  ASSERT_EQ(t.nodes(), 1u);
  const auto& e1 = t.level1()[ip4(10, 1, 0, 0) >> 16];
  ASSERT_GE(e1.child(), 0);
  EXPECT_TRUE(t.list(e1).empty());
  const auto& n2 = t.node_list()[static_cast<std::size_t>(e1.child())];
  for (std::uint32_t i = 0; i < 256; ++i) EXPECT_EQ(t.list(n2[i]), (i == 2 ? List{0, 1} : List{0})) << i;
  ASSERT_TRUE(t.add(ip4(10, 1, 2, 128), 25, 2));
  ASSERT_EQ(t.nodes(), 2u);
  ASSERT_GE(n2[2].child(), 0);
  const auto& n3 = t.node_list()[static_cast<std::size_t>(n2[2].child())];
  for (std::uint32_t i = 0; i < 256; ++i)
    EXPECT_EQ(t.list(n3[i]), (i >= 128 ? List{0, 1, 2} : List{0, 1})) << i;
  // A shorter prefix added later is pushed down into the existing nodes.
  ASSERT_TRUE(t.add(ip4(10, 0, 0, 0), 15, 3));
  EXPECT_EQ(walk(t, ip4(10, 1, 2, 200)), (List{0, 1, 2, 3}));
  EXPECT_EQ(walk(t, ip4(10, 1, 2, 1)), (List{0, 1, 3}));
  EXPECT_EQ(walk(t, ip4(10, 1, 3, 1)), (List{0, 3}));
  EXPECT_EQ(walk(t, ip4(10, 2, 0, 0)), (List{0}));
  EXPECT_EQ(walk(t, ip4(11, 0, 0, 0)), (List{}));
  EXPECT_EQ(t.nodes(), 2u);
}

TEST(ClassifierTables, Trie4StabbingCap) {
  // kMaxCandidates + 1 nested prefixes over 10.1.2.3: the last one added is
  // refused, whatever the order, and the refusal leaves the trie as it was.
  const std::vector<unsigned> lens = {8, 12, 16, 20, 24, 26, 28, 30, 32};
  ASSERT_EQ(lens.size(), kMaxCandidates + 1);
  std::mt19937 rng(7);
  for (int round = 0; round < 4; ++round) {
    std::vector<unsigned> order = lens;
    if (round == 1) std::reverse(order.begin(), order.end());
    if (round > 1) std::shuffle(order.begin(), order.end(), rng);
    Trie4 t;
    for (std::size_t i = 0; i < kMaxCandidates; ++i)
      ASSERT_TRUE(t.add(ip4(10, 1, 2, 3) & mask4(order[i]), order[i], static_cast<std::uint32_t>(i)));
    const TrieState before = state(t);
    EXPECT_FALSE(t.add(ip4(10, 1, 2, 3) & mask4(order.back()), order.back(), 99)) << "round " << round;
    EXPECT_TRUE(state(t) == before) << "round " << round;
    EXPECT_EQ(walk(t, ip4(10, 1, 2, 3)).size(), kMaxCandidates);
    // Elsewhere there is still room.
    EXPECT_TRUE(t.add(ip4(10, 9, 0, 0), 16, 100));
  }
}

bool contains4(std::uint32_t pfx, unsigned len, std::uint32_t a) { return (a & mask4(len)) == pfx; }

TEST(ClassifierTables, Trie4ListsAreTheContainingPrefixes) {
  std::mt19937 rng(11);
  auto r = [&](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };
  for (int round = 0; round < 6; ++round) {
    struct P {
      std::uint32_t addr;
      unsigned len;
    };
    std::vector<P> accepted;
    std::vector<P> refused;
    Trie4 t;
    for (int i = 0; i < 300; ++i) {
      // A small pool: prefixes nest and collide.
      static const unsigned lens[] = {8, 9, 15, 16, 17, 23, 24, 25, 28, 31, 32};
      unsigned len = lens[r(11)];
      const auto b1 = static_cast<std::uint8_t>(r(3));
      const auto b2 = static_cast<std::uint8_t>(r(4) * 64);
      const auto b2low = static_cast<std::uint8_t>(r(2));
      std::uint32_t a = ip4(10, b1, static_cast<std::uint8_t>(b2 + b2low), static_cast<std::uint8_t>(r(256)));
      if (r(10) == 0) a = static_cast<std::uint32_t>(rng());
      a &= mask4(len);
      if (t.add(a, len, static_cast<std::uint32_t>(accepted.size())))
        accepted.push_back({a, len});
      else
        refused.push_back({a, len});
    }
    EXPECT_FALSE(refused.empty()) << "the pool is meant to overflow some lists";
    auto expect_list = [&](std::uint32_t a) {
      List want;
      for (std::uint32_t i = 0; i < accepted.size(); ++i)
        if (contains4(accepted[i].addr, accepted[i].len, a)) want.push_back(i);
      ASSERT_EQ(walk(t, a), want) << std::hex << a;
    };
    for (const auto& p : accepted) {
      expect_list(p.addr);
      expect_list(p.addr | ~mask4(p.len));
      expect_list(p.addr - 1);
      expect_list((p.addr | ~mask4(p.len)) + 1);
    }
    for (int i = 0; i < 2000; ++i) expect_list(static_cast<std::uint32_t>(rng()));
    // A refusal is justified: some address of the prefix has a full list.
    for (const auto& p : refused) {
      if (p.len < 20) continue;
      std::size_t fullest = 0;
      for (std::uint32_t a = p.addr; a <= (p.addr | ~mask4(p.len)) && a >= p.addr; ++a) {
        fullest = std::max(fullest, walk(t, a).size());
        if (a == 0xffffffffu) break;
      }
      EXPECT_EQ(fullest, kMaxCandidates) << std::hex << p.addr << "/" << std::dec << p.len;
    }
  }
}

// ---- PortMap -------------------------------------------------------------------

void expect_covering(const PortMap& m) {
  const auto& seg = m.segments();
  ASSERT_FALSE(seg.empty());
  EXPECT_EQ(seg.begin()->first, 0u);
  EXPECT_LT(seg.rbegin()->first, 65536u);
}

List port_list(const PortMap& m, std::uint32_t port) {
  auto it = std::prev(m.segments().upper_bound(port));
  return it->second;
}

TEST(ClassifierTables, PortMapSegmentsCoverAllPorts) {
  PortMap m;
  expect_covering(m);
  EXPECT_EQ(m.segments().size(), 1u);
  ASSERT_TRUE(m.add(0, 65535, 0));
  ASSERT_TRUE(m.add(65535, 65535, 1));
  ASSERT_TRUE(m.add(0, 0, 2));
  ASSERT_TRUE(m.add(80, 443, 3));
  ASSERT_TRUE(m.add(443, 1000, 4));
  expect_covering(m);
  EXPECT_EQ(port_list(m, 0), (List{0, 2}));
  EXPECT_EQ(port_list(m, 1), (List{0}));
  EXPECT_EQ(port_list(m, 79), (List{0}));
  EXPECT_EQ(port_list(m, 80), (List{0, 3}));
  EXPECT_EQ(port_list(m, 443), (List{0, 3, 4}));
  EXPECT_EQ(port_list(m, 444), (List{0, 4}));
  EXPECT_EQ(port_list(m, 1000), (List{0, 4}));
  EXPECT_EQ(port_list(m, 1001), (List{0}));
  EXPECT_EQ(port_list(m, 65535), (List{0, 1}));
  // Segments: 0, 1, 80, 443, 444, 1001, 65535.
  EXPECT_EQ(m.segments().size(), 7u);
}

TEST(ClassifierTables, PortMapCap) {
  PortMap m;
  for (std::uint32_t i = 0; i < kMaxCandidates; ++i)
    ASSERT_TRUE(m.add(static_cast<std::uint16_t>(70 + i), static_cast<std::uint16_t>(80 + i), i));
  const auto before = m.segments();
  EXPECT_FALSE(m.add(80, 80, 50));  // 80 is in all eight
  EXPECT_FALSE(m.add(0, 65535, 50));
  EXPECT_EQ(m.segments(), before);
  EXPECT_TRUE(m.add(81, 81, 51));  // 81 is in seven
  EXPECT_EQ(port_list(m, 81).size(), kMaxCandidates);
}

TEST(ClassifierTables, PortMapListsAreTheContainingRanges) {
  std::mt19937 rng(5);
  auto r = [&](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };
  for (int round = 0; round < 4; ++round) {
    PortMap m;
    std::vector<std::pair<std::uint16_t, std::uint16_t>> accepted, refused;
    for (int i = 0; i < 120; ++i) {
      static const std::uint16_t pool[] = {0, 1, 22, 53, 79, 80, 443, 1023, 1024, 8080, 65534, 65535};
      std::uint16_t a = r(3) ? pool[r(12)] : static_cast<std::uint16_t>(rng());
      std::uint16_t b = r(2) ? a : (r(3) ? pool[r(12)] : static_cast<std::uint16_t>(rng()));
      if (a > b) std::swap(a, b);
      if (m.add(a, b, static_cast<std::uint32_t>(accepted.size())))
        accepted.emplace_back(a, b);
      else
        refused.emplace_back(a, b);
    }
    expect_covering(m);
    EXPECT_FALSE(refused.empty());
    // A list can only change where some range starts or ends: check each
    // segment at its first port, and that no range starts or ends inside it.
    std::set<std::uint32_t> edges = {0};
    for (const auto& [a, b] : accepted) edges.insert(a), edges.insert(std::uint32_t{b} + 1);
    auto want_at = [&](std::uint32_t p) {
      List want;
      for (std::uint32_t i = 0; i < accepted.size(); ++i)
        if (p >= accepted[i].first && p <= accepted[i].second) want.push_back(i);
      return want;
    };
    const auto& seg = m.segments();
    for (auto it = seg.begin(); it != seg.end(); ++it) {
      const std::uint32_t end = std::next(it) == seg.end() ? 65536 : std::next(it)->first;
      ASSERT_LT(it->first, end);
      EXPECT_LE(it->second.size(), kMaxCandidates);
      ASSERT_EQ(it->second, want_at(it->first)) << "segment at " << it->first;
      auto inside = edges.upper_bound(it->first);
      EXPECT_TRUE(inside == edges.end() || *inside >= end)
          << "a range edge at " << *inside << " inside the segment at " << it->first << ".." << end - 1;
    }
    // A refusal is justified: some port of the range has a full list.
    for (const auto& [a, b] : refused) {
      std::size_t fullest = 0;
      for (auto it = std::prev(seg.upper_bound(a)); it != seg.end() && it->first <= b; ++it)
        fullest = std::max(fullest, it->second.size());
      EXPECT_EQ(fullest, kMaxCandidates) << a << "-" << b;
    }
  }
}

// ---- Hash6Buckets ------------------------------------------------------------------

std::array<std::uint8_t, 16> ip6(std::string_view text) {
  auto a = rules::parse_ipv6(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(std::array<std::uint8_t, 16>{});
}

TEST(ClassifierTables, MaskedWordsAreInMemoryOrder) {
  auto a = ip6("2001:db8:1234:5678:9abc:def0:1122:3344");
  auto w = masked_words(a, 128);
  EXPECT_EQ(std::memcmp(w.data(), a.data(), 16), 0);
  auto m = masked_words(a, 28);
  std::array<std::uint8_t, 16> bytes;
  std::memcpy(bytes.data(), m.data(), 16);
  EXPECT_EQ(bytes,
            (std::array<std::uint8_t, 16>{0x20, 0x01, 0x0d, 0xb0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  m = masked_words(a, 33);
  std::memcpy(bytes.data(), m.data(), 16);
  EXPECT_EQ(bytes, (std::array<std::uint8_t, 16>{0x20, 0x01, 0x0d, 0xb8, 0x00}));
  m = masked_words(a, 36);
  std::memcpy(bytes.data(), m.data(), 16);
  EXPECT_EQ(bytes, (std::array<std::uint8_t, 16>{0x20, 0x01, 0x0d, 0xb8, 0x10}));
  m = masked_words(a, 127);
  std::memcpy(bytes.data(), m.data(), 16);
  EXPECT_EQ(bytes[15], 0x44);
  EXPECT_EQ(masked_words(a, 127)[3], masked_words(a, 128)[3]);  // 0x44: its last bit is 0
  EXPECT_EQ(masked_words(a, 0), (std::array<std::uint32_t, 4>{}));
}

TEST(ClassifierTables, Hash6BucketsCapPerKey) {
  Hash6Buckets b(48);
  EXPECT_EQ(b.key_len(), 48u);
  for (std::uint32_t i = 0; i < kMaxCandidates; ++i)
    ASSERT_TRUE(b.add(ip6(fmt::format("2001:db8:1:{:x}::", i + 1)), i));
  EXPECT_EQ(b.buckets().size(), 1u);
  const auto before = b.buckets();
  EXPECT_FALSE(b.add(ip6("2001:db8:1:ffff::"), 50));
  EXPECT_EQ(b.buckets(), before);
  EXPECT_TRUE(b.add(ip6("2001:db8:2::"), 51));
  ASSERT_EQ(b.buckets().size(), 2u);
  const auto key = masked_words(ip6("2001:db8:1:5::"), 48);
  ASSERT_TRUE(b.buckets().count(key));
  EXPECT_EQ(b.buckets().at(key).size(), kMaxCandidates);
  EXPECT_EQ(b.buckets().at(masked_words(ip6("2001:db8:2::"), 48)), List{51});
}

// ---- build_tables --------------------------------------------------------------------

// A rule set whose plan has every kind of table, with residual fields.
std::vector<RuleEntry> tabled_rules(unsigned seed) {
  std::mt19937 rng(seed);
  test::RuleGen gen(seed);
  auto r = [&](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };
  std::vector<RuleEntry> out;
  auto push = [&](rules::Rule rule) {
    out.emplace_back(static_cast<std::uint32_t>(out.size() + 1), std::move(rule));
  };
  for (int i = 0; i < 900; ++i) {
    // Each number drawn in its own statement: the sequence is the same
    // whatever order a compiler gives function arguments.
    const std::uint32_t kind = r(5), x = r(65536), y = r(256), z = r(256), w = r(100);
    switch (kind) {
      case 0: push(ok(fmt::format("drop udp dport {}", x))); break;
      case 1:
        push(ok(fmt::format("pass tcp dport {}-{} saddr 10.{}.{}.0/24 tcp-flags syn", w, 100 + w % 37, x % 4,
                            y)));
        break;
      case 2: push(ok(fmt::format("drop saddr {}.{}.{}.0/{}", 1 + y % 200, z, x % 256, 8 + w % 17))); break;
      case 3:
        push(ok(
            fmt::format("drop daddr 2001:db8:{:x}:{:x}::/{} udp sport {}", y % 16, x, 48 + z % 81, w * 10)));
        break;
      default: push(gen.rule()); break;
    }
  }
  return out;
}

TEST(ClassifierTables, BlobInvariants) {
  for (unsigned seed : {1u, 2u}) {
    auto plan = make_plan(tabled_rules(seed), XDP_PASS, {});
    ASSERT_TRUE(plan) << plan.error().message();
    auto tables = build_tables(*plan);
    ASSERT_TRUE(tables) << tables.error().message();
    ASSERT_EQ(tables->groups.size(), plan->groups.size());
    std::set<GroupKind> kinds;
    // Per blob: where the last group placed in it ended (groups fill blobs
    // in order, whole, each blob at most kMaxBlobBytes).
    std::vector<std::uint32_t> blob_end(tables->blobs.size(), 0);
    for (const auto& b : tables->blobs) EXPECT_LE(b.size(), kMaxBlobBytes);
    for (std::size_t gi = 0; gi < plan->groups.size(); ++gi) {
      const Group& g = plan->groups[gi];
      const GroupTables& t = tables->groups[gi];
      kinds.insert(g.kind);
      SCOPED_TRACE(testing::Message() << "seed " << seed << " group " << gi << " " << kind_name(g.kind));
      if (g.kind == GroupKind::Chain) {
        EXPECT_EQ(t.bytes, 0u);
        EXPECT_EQ(t.nrecs, 0u);
        continue;
      }
      // Regions in order, 64-byte aligned, inside its blob, after the
      // previous group's there.
      ASSERT_LT(t.blob, tables->blobs.size());
      const auto& blob = tables->blobs[t.blob];
      EXPECT_EQ(t.index_off, blob_end[t.blob]);
      for (auto o : {t.index_off, t.nodes2_off, t.nodes3_off, t.lists_off, t.recs_off}) EXPECT_EQ(o % 64, 0u);
      EXPECT_LE(t.index_off, t.nodes2_off);
      EXPECT_LE(t.nodes2_off + t.nnodes2 * kTrieNode2Bytes, t.nodes3_off);
      EXPECT_LE(t.nodes3_off + t.nnodes3 * kTrieNode3Bytes, t.lists_off);
      EXPECT_LE(t.lists_off + t.nlists * sizeof(CandidateList), t.recs_off);
      EXPECT_LE(t.recs_off + t.nrecs * t.rec_size, t.index_off + t.bytes);
      EXPECT_LE(t.index_off + t.bytes, blob.size());
      blob_end[t.blob] = t.index_off + t.bytes;
      EXPECT_EQ(t.nrecs, g.rules.size());
      EXPECT_EQ(t.rec_size, g.family == 6 ? sizeof(Record6) : sizeof(Record4));
      auto u32 = [&](std::size_t off) {
        std::uint32_t v;
        EXPECT_LE(off + 4, blob.size());
        std::memcpy(&v, blob.data() + off, 4);
        return v;
      };
      // Lists: 0 empty, the rest non-empty, ascending, in range, capped.
      ASSERT_GE(t.nlists, 1u);
      for (std::uint32_t l = 0; l < t.nlists; ++l) {
        CandidateList cl;
        std::memcpy(&cl, blob.data() + t.lists_off + l * sizeof cl, sizeof cl);
        if (l == 0) {
          EXPECT_EQ(cl.count, 0);
          continue;
        }
        ASSERT_GE(cl.count, 1);
        ASSERT_LE(cl.count, kMaxCandidates);
        for (unsigned i = 0; i < cl.count; ++i) {
          EXPECT_LT(cl.rec[i], t.nrecs);
          if (i) {
            EXPECT_LT(cl.rec[i - 1], cl.rec[i]);
          }
        }
      }
      // Index entries name lists or nodes that exist.
      std::set<std::uint32_t> used_lists;
      switch (g.kind) {
        case GroupKind::Trie4: {
          // Level 1 -> level-2 nodes (32-bit entries) -> level-3 nodes
          // (16-bit entries, lists only); each node reached exactly once.
          std::vector<int> seen2(t.nnodes2, 0), seen3(t.nnodes3, 0);
          auto list_entry = [&](std::uint32_t e) {
            ASSERT_LT(e, t.nlists);
            used_lists.insert(e);
          };
          auto entry = [&](std::uint32_t e, std::vector<int>& below) {
            if (!(e & kTrieNode)) return list_entry(e);
            const std::uint32_t n = e & ~kTrieNode;
            ASSERT_LT(n, below.size());
            EXPECT_EQ(below[n]++, 0) << "node " << n << " reached twice";
          };
          for (std::uint32_t i = 0; i < 65536; ++i) entry(u32(t.index_off + 4 * i), seen2);
          for (std::uint32_t n = 0; n < t.nnodes2; ++n)
            for (std::uint32_t i = 0; i < 256; ++i)
              entry(u32(t.nodes2_off + n * kTrieNode2Bytes + 4 * i), seen3);
          for (std::uint32_t n = 0; n < t.nnodes3; ++n)
            for (std::uint32_t i = 0; i < 256; ++i) {
              std::uint16_t e;
              std::memcpy(&e, blob.data() + t.nodes3_off + n * kTrieNode3Bytes + 2 * i, 2);
              list_entry(e);
            }
          for (std::uint32_t n = 0; n < t.nnodes2; ++n) EXPECT_EQ(seen2[n], 1) << "level-2 node " << n;
          for (std::uint32_t n = 0; n < t.nnodes3; ++n) EXPECT_EQ(seen3[n], 1) << "level-3 node " << n;
          break;
        }
        case GroupKind::Ports:
          for (std::uint32_t p = 0; p < 65536; ++p) {
            ASSERT_LT(u32(t.index_off + 4 * p), t.nlists);
            used_lists.insert(u32(t.index_off + 4 * p));
          }
          break;
        case GroupKind::Hash6: {
          EXPECT_GE(t.probes, 1u);
          EXPECT_EQ(t.slot_words, t.key_words + 1);
          EXPECT_EQ(t.key_words, std::max(1u, (g.key_len + 31u) / 32u));
          EXPECT_LE(t.slots * t.slot_words * 4, kBucketBytes);
          const std::uint32_t buckets = 1u << t.hash.bits;
          EXPECT_LE(std::size_t{buckets} * kBucketBytes, t.nodes2_off - t.index_off);
          for (std::uint32_t b = 0; b < buckets; ++b)
            for (std::uint32_t s = 0; s < t.slots; ++s) {
              const std::uint32_t l =
                  u32(t.index_off + b * kBucketBytes + s * 4 * t.slot_words + 4 * t.key_words);
              ASSERT_LT(l, t.nlists);
              used_lists.insert(l);
            }
          break;
        }
        case GroupKind::Chain: break;
      }
      for (std::uint32_t l = 1; l < t.nlists; ++l) {
        EXPECT_TRUE(used_lists.count(l)) << "list " << l << " unused";
      }
      // Records: rule position, id, action.
      for (std::uint32_t i = 0; i < t.nrecs; ++i) {
        const std::size_t off = t.recs_off + std::size_t{i} * t.rec_size;
        const CompiledRule& c = plan->rules[g.rules[i]];
        EXPECT_EQ(u32(off + offsetof(Record4, prio)), g.rules[i]);
        EXPECT_EQ(u32(off + offsetof(Record4, slot)), c.id);
        EXPECT_EQ(u32(off + offsetof(Record4, action)), c.action);
      }
    }
    EXPECT_TRUE(kinds.count(GroupKind::Trie4)) << "seed " << seed;
    EXPECT_TRUE(kinds.count(GroupKind::Ports)) << "seed " << seed;
    EXPECT_TRUE(kinds.count(GroupKind::Hash6)) << "seed " << seed;
    for (std::size_t k = 0; k < tables->blobs.size(); ++k) EXPECT_EQ(blob_end[k], tables->blobs[k].size());
  }
}

TEST(ClassifierTables, NoTablesNoBlob) {
  auto plan = make_plan({{1, ok("drop tcp dport 22")}, {2, ok("pass udp")}}, XDP_DROP, {});
  ASSERT_TRUE(plan);
  auto tables = build_tables(*plan);
  ASSERT_TRUE(tables);
  EXPECT_TRUE(tables->blobs.empty());
  EXPECT_EQ(tables->groups.size(), plan->groups.size());
}

}  // namespace
}  // namespace xdpguard::cls
