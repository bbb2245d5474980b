#include "classifier/sets.h"

#include "classifier/plan.h"

#include <linux/bpf.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <map>
#include <random>
#include <set>
#include <tuple>
#include <unordered_map>

#include "classifier/stub.h"

// IPv4 membership: the C that bpf/sets.bpf.c compiles for the kernel, here
// over an image in memory.
namespace {
const xdpguard_set4_elem* set4_elem(const std::vector<xdpguard_set4_elem>& img, std::uint32_t idx) {
  return idx < img.size() ? &img[idx] : nullptr;
}
}  // namespace
#define XG_SET4_IMAGE const std::vector<xdpguard_set4_elem>&
#define XG_SET4_ELEM(img, idx) set4_elem(img, idx)
#include <xdpguard/set_member.h>

namespace xdpguard::cls {
namespace {

using R = Reg;

// ---- IPv6 hashing: the same arithmetic as the generated code --------------

constexpr std::uint32_t kK[5] = {0x2545F491u, 0x4F6CDD1Du, 0x61C88647u, 0x7FEB352Du, 0x5BD1E995u};
constexpr std::uint32_t kMaxProbes6 = 4;
// Sets with at least this many (uncovered) IPv6 prefixes get the filter
// (abi.h): about 16 regions per prefix, at most 2^24 (16 MiB); below it a
// miss costs a few probes of a small table that stays in cache.
constexpr std::size_t kFilterMin6 = 1024;
constexpr std::uint32_t kFilterPerElem = sizeof(xdpguard_set6_elem);
static_assert(kFilterPerElem == 128);
constexpr unsigned kMaxSteps6 = 7;  // binary search over at most 112 lengths
static_assert((1u << kMaxSteps6) > XDPGUARD_SET6_MAX_LENS);

using Words = std::array<std::uint32_t, 4>;  // host byte order

Words host_words(const std::array<std::uint8_t, 16>& a, unsigned len) {
  Words w{};
  for (unsigned i = 0; i < 16; ++i) {
    unsigned bits = len > i * 8 ? std::min(8u, len - i * 8) : 0;
    std::uint32_t byte = a[i] & (bits ? 0xffu << (8 - bits) : 0u) & 0xffu;
    w[i / 4] |= byte << (24 - 8 * (i % 4));
  }
  return w;
}

// The key's hash; its home bucket is ((x >> 32) * buckets) >> 32 and its
// tag 0x80 | (x >> 16 & 0x7f).
std::uint64_t set6_hash(const Words& w, unsigned len, std::uint32_t seed) {
  std::uint64_t x = std::uint64_t{w[0] ^ seed} * kK[0];
  for (int i = 1; i < 4; ++i) x += std::uint64_t{w[i]} * kK[i];
  x += len;
  x ^= x >> 29;
  x *= kK[4];
  return x;
}
std::uint64_t set6_home(std::uint64_t x, std::uint64_t buckets) { return ((x >> 32) * buckets) >> 32; }
std::uint8_t set6_tag(std::uint64_t x) { return static_cast<std::uint8_t>(0x80 | ((x >> 16) & 0x7f)); }

struct Entry6 {
  Words w;
  std::uint8_t len;
  std::uint8_t kind;
};

// w (host order) masked to len bits.
Words mask_words(Words w, unsigned len) {
  for (unsigned i = 0; i < 4; ++i) {
    unsigned bits = len > 32 * i ? std::min(32u, len - 32 * i) : 0;
    w[i] &= bits == 0 ? 0u : bits == 32 ? ~0u : ~0u << (32 - bits);
  }
  return w;
}

}  // namespace

// ---- IPv4 ----------------------------------------------------------------------

SetImageInfo set4_info(const xdpguard_set4_elem& e) { return {e.rec.count, e.rec.stamp}; }
SetImageInfo set6_info(const xdpguard_set6_elem& e) { return {e.hdr.count, e.hdr.stamp}; }

std::vector<xdpguard_set4_elem> build_set4(const std::vector<rules::Prefix>& v4, std::uint32_t stamp) {
  if (v4.empty()) {
    std::vector<xdpguard_set4_elem> img(1);
    img[0].rec.stamp = stamp;
    return img;
  }
  constexpr std::size_t kWords = std::size_t{1} << 18;  // one per 64 /24s
  std::vector<std::uint64_t> full(kWords, 0), partial(kWords, 0);
  auto set_bit = [](std::vector<std::uint64_t>& v, std::uint32_t n) { v[n >> 6] |= 1ull << (n & 63); };
  auto bit = [](const std::vector<std::uint64_t>& v, std::uint32_t n) { return (v[n >> 6] >> (n & 63)) & 1; };
  for (const auto& p : v4) {
    if (p.len > 24) continue;
    std::uint32_t n0 = host_v4(p.addr) >> 8;
    for (std::uint32_t n = n0; n < n0 + (1u << (24 - p.len)); ++n) set_bit(full, n);
  }
  std::map<std::uint32_t, std::array<std::uint64_t, 4>> maps;  // /24 -> its 256 addresses
  for (const auto& p : v4) {
    if (p.len <= 24) continue;
    std::uint32_t host = host_v4(p.addr), n = host >> 8;
    if (bit(full, n)) continue;
    auto& m = maps[n];
    for (std::uint32_t a = host & 255; a < (host & 255) + (1u << (32 - p.len)); ++a)
      m[a >> 6] |= 1ull << (a & 63);
  }
  std::vector<std::pair<std::uint32_t, std::array<std::uint64_t, 4>>> overflow;
  for (const auto& [n, m] : maps) {
    if (bit(full, n)) continue;
    if (m[0] == ~0ull && m[1] == ~0ull && m[2] == ~0ull && m[3] == ~0ull) {
      set_bit(full, n);
      continue;
    }
    set_bit(partial, n);
    overflow.emplace_back(n, m);
  }
  std::vector<xdpguard_set4_elem> img(XDPGUARD_SET4_RECORDS + overflow.size());
  std::uint32_t rank = 0;
  for (std::size_t r = 0; r < kWords; ++r) {
    img[r].rec.full = full[r];
    img[r].rec.partial = partial[r];
    img[r].rec.rank = rank;
    rank += static_cast<std::uint32_t>(std::popcount(partial[r]));
  }
  for (std::size_t i = 0; i < overflow.size(); ++i)
    for (int w = 0; w < 4; ++w) img[XDPGUARD_SET4_RECORDS + i].bits[w] = overflow[i].second[w];
  img[0].rec.stamp = stamp;
  img[0].rec.count = v4.size();
  return img;
}

bool set4_contains(const std::vector<xdpguard_set4_elem>& img, const std::array<std::uint8_t, 4>& a) {
  const std::uint32_t host =
      (std::uint32_t{a[0]} << 24) | (std::uint32_t{a[1]} << 16) | (std::uint32_t{a[2]} << 8) | a[3];
  return xg_set4_has(img, host) != 0;
}

void emit_set_call(Program& p, Label function, std::uint32_t set, std::int16_t addr_off, Label not_member) {
  p.mov(R::R1, static_cast<std::int32_t>(set));
  p.mov(R::R2, R::R6);
  p.alu(Alu::Add, R::R2, addr_off);
  p.call_local(function);
  p.jcc(Cond::Eq, R::R0, 0, not_member);
}

namespace {

// The function's two ways out.
void function_exits(Program& p, Label member, Label not_member) {
  p.bind(member);
  p.mov(R::R0, 1);
  p.exit();
  p.bind(not_member);
  p.mov(R::R0, 0);
  p.exit();
}

}  // namespace

Result<void> emit_set4_function(Program& p, MapId outer) {
  // bpf/sets.bpf.c's xg_set4_member: xdpguard/set_member.h's xg_set4_has,
  // compiled by clang, over the set's inner map of xg_set4.
  static const Result<BpfFunction> fn = sets_function("xg_set4_member");
  if (!fn) return tl::unexpected(fn.error());
  std::vector<std::pair<std::size_t, MapId>> maps;
  for (const auto& m : fn->maps) {
    if (m.name != "xg_set4") return fail(EINVAL, "{} reads map {}, not xg_set4", fn->name, m.name);
    maps.emplace_back(m.at, outer);
  }
  return p.splice(fn->insns, maps);
}

// ---- IPv6 ----------------------------------------------------------------------

Result<std::vector<xdpguard_set6_elem>> build_set6(const std::vector<rules::Prefix>& v6,
                                                   std::uint32_t stamp) {
  if (v6.empty()) {
    std::vector<xdpguard_set6_elem> img(1);
    img[0].hdr.stamp = stamp;
    return img;
  }
  // Drop prefixes a shorter member covers: then a marker never hides a
  // shorter match, and the search needs no "best so far". Prefixes are
  // nested or disjoint ranges: sorted by start, then length, each one is
  // covered exactly when the innermost range still open contains it.
  using U128 = unsigned __int128;
  struct Range {
    U128 first;
    std::uint8_t len;
    U128 last() const { return first | (len == 0 ? ~U128{0} : (U128{1} << (128 - len)) - 1); }
  };
  std::vector<Range> ranges;
  ranges.reserve(v6.size());
  for (const auto& p : v6) {
    U128 first = 0;
    for (auto x : host_words(p.addr, p.len)) first = first << 32 | x;
    ranges.push_back({first, p.len});
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.first != b.first ? a.first < b.first : a.len < b.len;
  });
  std::vector<U128> open;  // ends of the ranges still open, innermost last
  std::vector<std::pair<Words, std::uint8_t>> prefixes;
  prefixes.reserve(ranges.size());
  std::vector<bool> has_len(129, false);
  for (const auto& r : ranges) {
    while (!open.empty() && open.back() < r.first) open.pop_back();
    if (!open.empty()) continue;  // inside a shorter (or the same) prefix
    open.push_back(r.last());
    Words w;
    for (int i = 3; i >= 0; --i)
      w[static_cast<std::size_t>(i)] = static_cast<std::uint32_t>(r.first >> (32 * (3 - i)));
    prefixes.emplace_back(w, r.len);
    has_len[r.len] = true;
  }
  std::vector<std::uint8_t> lv;  // lengths present, ascending
  for (unsigned l = 0; l <= 128; ++l)
    if (has_len[l]) lv.push_back(static_cast<std::uint8_t>(l));
  if (lv.size() > XDPGUARD_SET6_MAX_LENS)
    return fail(E2BIG, "{} distinct IPv6 prefix lengths; a set may have at most {}", lv.size(),
                XDPGUARD_SET6_MAX_LENS);
  // Prefixes, and the markers the binary search needs on the way to each.
  std::vector<Entry6> list;
  std::size_t depth = 1;
  while ((std::size_t{1} << depth) <= lv.size()) ++depth;
  list.reserve(prefixes.size() * depth);
  for (const auto& [w, len] : prefixes) {
    list.push_back({w, len, XDPGUARD_SET6_KIND_PREFIX});
    std::size_t ip = static_cast<std::size_t>(std::lower_bound(lv.begin(), lv.end(), len) - lv.begin());
    std::size_t lo = 0, hi = lv.size();
    while (lo < hi) {
      std::size_t mid = (lo + hi) / 2;
      if (mid == ip) break;
      if (mid < ip) {
        list.push_back({mask_words(w, lv[mid]), lv[mid], XDPGUARD_SET6_KIND_MARKER});
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
  }
  // One entry per (length, address); a prefix wins over a marker (kind 1 < 2).
  std::sort(list.begin(), list.end(), [](const Entry6& a, const Entry6& b) {
    return std::tie(a.len, a.w, a.kind) < std::tie(b.len, b.w, b.kind);
  });
  list.erase(std::unique(list.begin(), list.end(),
                         [](const Entry6& a, const Entry6& b) { return a.len == b.len && a.w == b.w; }),
             list.end());

  // Buckets at about 80% load; any count (the home bucket is a multiply and
  // a shift of the hash, not a mask), so memory follows the set's size.
  std::uint64_t nb = std::max<std::uint64_t>(1, list.size() * 10 / (XDPGUARD_SET6_SLOTS * 8) + 1);
  for (;; nb = nb * 5 / 4 + 1) {
    if (nb > (1u << 26)) return fail(E2BIG, "IPv6 set too large ({} entries)", list.size());
    for (std::uint32_t attempt = 0; attempt < 8; ++attempt) {
      std::mt19937 rng(static_cast<unsigned>(nb * 31 + attempt));
      std::uint32_t seed = static_cast<std::uint32_t>(rng());
      const std::size_t total = nb + kMaxProbes6 - 1;
      // First only count per bucket (cheap): does this seed fit?
      std::vector<std::uint8_t> used(total, 0);
      std::vector<std::uint32_t> where(list.size());
      std::vector<std::uint8_t> tags(list.size());
      std::uint32_t probes = 1;
      bool ok = true;
      for (std::size_t i = 0; i < list.size() && ok; ++i) {
        const auto& e = list[i];
        const std::uint64_t x = set6_hash(e.w, e.len, seed);
        const std::uint64_t home = set6_home(x, nb);
        std::uint32_t d = 0;
        while (d < kMaxProbes6 && used[home + d] == XDPGUARD_SET6_SLOTS) ++d;
        ok = d < kMaxProbes6;
        if (!ok) break;
        probes = std::max(probes, d + 1);
        where[i] = static_cast<std::uint32_t>(home + d);
        tags[i] = set6_tag(x);
        ++used[home + d];
      }
      if (!ok) continue;
      const std::size_t filter_at = 1 + nb + probes - 1;
      unsigned g = 0;
      if (prefixes.size() >= kFilterMin6)
        while (g < XDPGUARD_SET6_FILTER_MAX_BITS && (std::size_t{1} << g) < 16 * prefixes.size()) ++g;
      std::vector<xdpguard_set6_elem> img(filter_at + (g ? (std::size_t{1} << g) / kFilterPerElem : 0));
      if (g) {
        // Prefixes are disjoint here: 2^g regions marked in all, at most.
        for (const auto& [w, len] : prefixes) {
          const std::uint8_t mark =
              static_cast<std::uint8_t>(1 + (std::lower_bound(lv.begin(), lv.end(), len) - lv.begin()));
          const std::uint32_t top = w[0] >> (32 - g);
          const std::uint32_t n = len >= g ? 1u : 1u << (g - len);
          for (std::uint32_t r = top; r < top + n; ++r) {
            auto& v = img[filter_at + r / kFilterPerElem].filter[r % kFilterPerElem];
            v = v == 0 || v == mark ? mark : XDPGUARD_SET6_FILTER_MANY;
          }
        }
      }
      std::fill(used.begin(), used.end(), 0);
      for (std::size_t i = 0; i < list.size(); ++i) {
        const auto& e = list[i];
        auto& b = img[1 + where[i]].bucket;
        const std::uint8_t s = used[where[i]]++;
        std::copy(e.w.begin(), e.w.end(), b.slot[s].addr);
        b.slot[s].len = e.len;
        b.slot[s].kind = e.kind;
        b.tag[s] = tags[i];
        // Every bucket the key passed over says: go on past me.
        const std::uint64_t home = set6_home(set6_hash(e.w, e.len, seed), nb);
        for (std::uint64_t k = home; k < where[i]; ++k) img[1 + k].bucket.flags |= XDPGUARD_SET6_OVERFLOW;
      }
      auto& h = img[0].hdr;
      std::copy(lv.begin(), lv.end(), h.lens);
      h.nlens = static_cast<std::uint32_t>(lv.size());
      h.buckets = static_cast<std::uint32_t>(nb);
      h.seed = seed;
      h.probes = static_cast<std::uint8_t>(probes);
      h.filter_bits = static_cast<std::uint8_t>(g);
      h.count = static_cast<std::uint32_t>(v6.size());
      h.stamp = stamp;
      return img;
    }
  }
}

bool set6_contains(const std::vector<xdpguard_set6_elem>& img, const std::array<std::uint8_t, 16>& a) {
  const auto& h = img[0].hdr;
  std::uint64_t lo = 0, hi = h.nlens;
  if (const unsigned g = h.filter_bits) {
    const std::uint32_t top = host_words(a, 32)[0] >> (32 - g);
    const std::size_t e = std::size_t{1} + h.buckets + h.probes - 1 + top / kFilterPerElem;
    if (e >= img.size()) return false;
    const std::uint8_t v = img[e].filter[top % kFilterPerElem];
    if (v == 0) return false;
    if (v != XDPGUARD_SET6_FILTER_MANY) lo = v - 1u, hi = v;  // one length: one probe
  }
  for (unsigned step = 0; step < kMaxSteps6; ++step) {
    if (lo >= hi) return false;
    std::uint64_t mid = (lo + hi) >> 1;
    if (mid >= XDPGUARD_SET6_MAX_LENS) return false;
    unsigned len = h.lens[mid];
    Words w = host_words(a, len);
    const std::uint64_t x = set6_hash(w, len, h.seed);
    const std::uint64_t home = set6_home(x, h.buckets);
    const std::uint8_t tag = set6_tag(x);
    int found = 0;  // 0 miss, 1 prefix, 2 marker
    for (std::uint32_t pr = 0; pr < std::min<std::uint32_t>(h.probes, kMaxProbes6) && !found; ++pr) {
      std::size_t b = 1 + home + pr;
      if (b >= img.size()) break;
      const auto& bk = img[b].bucket;
      for (int s = 0; s < XDPGUARD_SET6_SLOTS && !found; ++s)
        if (bk.tag[s] == tag && bk.slot[s].len == len && std::equal(w.begin(), w.end(), bk.slot[s].addr))
          found = bk.slot[s].kind == XDPGUARD_SET6_KIND_PREFIX ? 1 : 2;
      if (!(bk.flags & XDPGUARD_SET6_OVERFLOW)) break;
    }
    if (found == 1) return true;
    if (found == 2)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

void emit_set6_function(Program& p, MapId outer) {
  constexpr std::int16_t addr_off = 0;
  // Stack: lookup key, search bounds, the probe's length, mid, home bucket,
  // the masked address words.
  constexpr std::int16_t kKey = -16, kLo = -24, kHi = -32, kLen = -40, kMid = -48, kHome = -56, kWords = -72,
                         kTag = -80, kCand = -88;
  constexpr std::int16_t kTags = off(offsetof(xdpguard_set6_elem, bucket.tag));
  constexpr std::int16_t kLens = off(offsetof(xdpguard_set6_elem, hdr.lens));
  constexpr std::int16_t kNlens = off(offsetof(xdpguard_set6_elem, hdr.nlens));
  constexpr std::int16_t kBuckets = off(offsetof(xdpguard_set6_elem, hdr.buckets));
  constexpr std::int16_t kSeed = off(offsetof(xdpguard_set6_elem, hdr.seed));
  constexpr std::int16_t kProbes = off(offsetof(xdpguard_set6_elem, hdr.probes));
  constexpr std::int16_t kFilterBits = off(offsetof(xdpguard_set6_elem, hdr.filter_bits));
  constexpr std::int16_t kSlotSize = sizeof(xdpguard_set6_slot);
  constexpr std::int16_t kSlotLen = off(offsetof(xdpguard_set6_slot, len));
  constexpr std::int16_t kSlotKind = off(offsetof(xdpguard_set6_slot, kind));
  constexpr std::int16_t kSlot0 = off(offsetof(xdpguard_set6_elem, bucket.slot));

  Label member = p.label(), not_member = p.label();
  auto lookup = [&](Reg map, Label fail) {
    if (map != R::R1) p.mov(R::R1, map);
    p.mov(R::R2, kFp);
    p.alu(Alu::Add, R::R2, kKey);
    p.call(BPF_FUNC_map_lookup_elem);
    p.jcc(Cond::Eq, R::R0, 0, fail);
  };
  p.mov(R::R6, R::R2);  // the address
  // A global function trusts only its signature: the pointer may be NULL.
  p.jcc(Cond::Eq, R::R6, 0, not_member);
  p.stx(Size::W, kFp, kKey, R::R1);
  p.ld_map(R::R1, outer);
  lookup(R::R1, not_member);
  p.mov(R::R8, R::R0);
  p.st(Size::W, kFp, kKey, 0);
  lookup(R::R8, not_member);
  p.mov(R::R9, R::R0);  // header
  p.st(Size::DW, kFp, kLo, 0);
  p.ldx(Size::W, R::R1, R::R9, kNlens);
  p.stx(Size::DW, kFp, kHi, R::R1);
  {
    // The filter (abi.h): none of the set's lengths here ends the search,
    // exactly one narrows it to one probe.
    Label search = p.label();
    p.ldx(Size::B, R::R1, R::R9, kFilterBits);
    p.jcc(Cond::Eq, R::R1, 0, search);
    p.jcc(Cond::Gt, R::R1, XDPGUARD_SET6_FILTER_MAX_BITS, search);
    p.ldx(Size::W, R::R7, R::R6, addr_off);
    p.to_be(R::R7, 32);
    p.mov(R::R2, 32);
    p.alu(Alu::Sub, R::R2, R::R1);
    p.alu(Alu::Rsh, R::R7, R::R2);           // the region: the top g bits
    p.ldx(Size::W, R::R1, R::R9, kBuckets);  // its element: buckets + probes + region / 128
    p.ldx(Size::B, R::R2, R::R9, kProbes);
    p.alu(Alu::Add, R::R1, R::R2);
    p.mov(R::R2, R::R7);
    p.alu(Alu::Rsh, R::R2, 7);
    p.alu(Alu::Add, R::R1, R::R2);
    p.stx(Size::W, kFp, kKey, R::R1);
    lookup(R::R8, not_member);
    p.alu(Alu::And, R::R7, 127);
    p.alu(Alu::Add, R::R0, R::R7);
    p.ldx(Size::B, R::R1, R::R0, 0);
    p.jcc(Cond::Eq, R::R1, 0, not_member);
    p.jcc(Cond::Eq, R::R1, XDPGUARD_SET6_FILTER_MANY, search);
    p.stx(Size::DW, kFp, kHi, R::R1);
    p.alu(Alu::Sub, R::R1, 1);
    p.stx(Size::DW, kFp, kLo, R::R1);
    p.bind(search);
  }

  for (unsigned step = 0; step < kMaxSteps6; ++step) {
    Label miss = p.label(), marker = p.label(), next = p.label();
    p.ldx(Size::DW, R::R1, kFp, kLo);
    p.ldx(Size::DW, R::R2, kFp, kHi);
    p.jcc(Cond::Ge, R::R1, R::R2, not_member);
    p.alu(Alu::Add, R::R1, R::R2);
    p.alu(Alu::Rsh, R::R1, 1);
    p.stx(Size::DW, kFp, kMid, R::R1);
    p.jcc(Cond::Ge, R::R1, XDPGUARD_SET6_MAX_LENS, not_member);
    p.mov(R::R2, R::R9);
    p.alu(Alu::Add, R::R2, R::R1);
    p.ldx(Size::B, R::R3, R::R2, kLens);
    p.stx(Size::DW, kFp, kLen, R::R3);
    // The address masked to the probe's length, word by word (host order).
    for (int w = 0; w < 4; ++w) {
      Label zero = p.label(), keep = p.label();
      p.ldx(Size::W, R::R2, R::R6, static_cast<std::int16_t>(addr_off + 4 * w));
      p.to_be(R::R2, 32);
      p.jcc(Cond::Le, R::R3, 32 * w, zero);
      p.jcc(Cond::Ge, R::R3, 32 * (w + 1), keep);
      p.mov(R::R4, 32 * (w + 1));
      p.alu(Alu::Sub, R::R4, R::R3);
      p.alu(Alu::Rsh, R::R2, R::R4);
      p.alu(Alu::Lsh, R::R2, R::R4);
      p.jmp(keep);
      p.bind(zero);
      p.mov(R::R2, 0);
      p.bind(keep);
      p.stx(Size::W, kFp, static_cast<std::int16_t>(kWords + 4 * w), R::R2);
    }
    // set6_hash() above, instruction for instruction.
    p.ldx(Size::W, R::R1, kFp, kWords);
    p.ldx(Size::W, R::R2, R::R9, kSeed);
    p.alu(Alu::Xor, R::R1, R::R2);
    p.alu(Alu::Mul, R::R1, static_cast<std::int32_t>(kK[0]));
    for (int w = 1; w < 4; ++w) {
      p.ldx(Size::W, R::R2, kFp, static_cast<std::int16_t>(kWords + 4 * w));
      p.alu(Alu::Mul, R::R2, static_cast<std::int32_t>(kK[w]));
      p.alu(Alu::Add, R::R1, R::R2);
    }
    p.alu(Alu::Add, R::R1, R::R3);
    p.mov(R::R2, R::R1);
    p.alu(Alu::Rsh, R::R2, 29);
    p.alu(Alu::Xor, R::R1, R::R2);
    p.alu(Alu::Mul, R::R1, static_cast<std::int32_t>(kK[4]));
    // tag = 0x80 | (x >> 16 & 0x7f), repeated in every byte of a word
    p.mov(R::R2, R::R1);
    p.alu(Alu::Rsh, R::R2, 16);
    p.alu(Alu::And, R::R2, 0x7f);
    p.alu(Alu::Or, R::R2, 0x80);
    p.ld_imm64(R::R3, 0x0101010101010101ull);
    p.alu(Alu::Mul, R::R2, R::R3);
    p.stx(Size::DW, kFp, kTag, R::R2);
    p.alu(Alu::Rsh, R::R1, 32);
    p.ldx(Size::W, R::R2, R::R9, kBuckets);  // home = ((x >> 32) * buckets) >> 32
    p.alu(Alu::Mul, R::R1, R::R2);
    p.alu(Alu::Rsh, R::R1, 32);
    p.stx(Size::DW, kFp, kHome, R::R1);
    for (std::uint32_t probe = 0; probe < kMaxProbes6; ++probe) {
      Label checked = p.label();
      if (probe) {
        p.ldx(Size::B, R::R2, R::R9, kProbes);
        p.jcc(Cond::Le, R::R2, static_cast<std::int32_t>(probe), miss);
      }
      p.ldx(Size::DW, R::R1, kFp, kHome);
      p.alu(Alu::Add, R::R1, static_cast<std::int32_t>(1 + probe));
      p.stx(Size::W, kFp, kKey, R::R1);
      lookup(R::R8, miss);
      p.mov(R::R7, R::R0);
      // Slots whose tag is the key's: a zero byte of tags ^ tag (the
      // "has a zero byte" bit trick; it may flag a byte too many, never one
      // too few, and the full compare sorts that out).
      p.ldx(Size::DW, R::R1, R::R7, kTags);
      p.ldx(Size::DW, R::R2, kFp, kTag);
      p.alu(Alu::Xor, R::R2, R::R1);
      p.mov(R::R3, R::R2);
      p.ld_imm64(R::R4, 0x0101010101010101ull);
      p.alu(Alu::Sub, R::R3, R::R4);
      p.alu(Alu::Xor, R::R2, -1);
      p.alu(Alu::And, R::R3, R::R2);
      p.ld_imm64(R::R4, 0x0000808080808080ull);  // the six slots' bytes
      p.alu(Alu::And, R::R3, R::R4);
      p.jcc(Cond::Eq, R::R3, 0, checked);
      p.stx(Size::DW, kFp, kCand, R::R3);  // the candidates, kept across compares
      for (int s = 0; s < XDPGUARD_SET6_SLOTS; ++s) {
        Label other = p.label();
        const auto so = static_cast<std::int16_t>(kSlot0 + s * kSlotSize);
        p.ldx(Size::DW, R::R1, kFp, kCand);
        p.alu(Alu::Rsh, R::R1, 8 * s + 7);
        p.alu(Alu::And, R::R1, 1);
        p.jcc(Cond::Eq, R::R1, 0, other);
        p.ldx(Size::B, R::R1, R::R7, static_cast<std::int16_t>(so + kSlotLen));
        p.ldx(Size::DW, R::R2, kFp, kLen);
        p.jcc(Cond::Ne, R::R1, R::R2, other);
        for (int w = 0; w < 4; ++w) {
          p.ldx(Size::W, R::R1, R::R7, static_cast<std::int16_t>(so + 4 * w));
          p.ldx(Size::W, R::R2, kFp, static_cast<std::int16_t>(kWords + 4 * w));
          p.jcc(Cond::Ne, R::R1, R::R2, other);
        }
        p.ldx(Size::B, R::R1, R::R7, static_cast<std::int16_t>(so + kSlotKind));
        p.jcc(Cond::Eq, R::R1, XDPGUARD_SET6_KIND_PREFIX, member);
        p.jmp(marker);
        p.bind(other);
      }
      p.bind(checked);
      // Not here: go on only if a key homed here was pushed further.
      p.ldx(Size::B, R::R1, R::R7, static_cast<std::int16_t>(kTags + XDPGUARD_SET6_SLOTS));
      p.alu(Alu::And, R::R1, XDPGUARD_SET6_OVERFLOW);
      p.jcc(Cond::Eq, R::R1, 0, miss);
    }
    p.bind(miss);  // shorter lengths
    p.ldx(Size::DW, R::R1, kFp, kMid);
    p.stx(Size::DW, kFp, kHi, R::R1);
    p.jmp(next);
    p.bind(marker);  // longer lengths
    p.ldx(Size::DW, R::R1, kFp, kMid);
    p.alu(Alu::Add, R::R1, 1);
    p.stx(Size::DW, kFp, kLo, R::R1);
    p.bind(next);
  }
  p.jmp(not_member);
  function_exits(p, member, not_member);
}

}  // namespace xdpguard::cls
