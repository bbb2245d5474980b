#include "classifier/sets.h"

#include "classifier/plan.h"

#include <linux/bpf.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <tuple>
#include <unordered_map>

#include "classifier/stub.h"

// Membership: the C that bpf/stubs.bpf.c compiles for the kernel, here over
// an image in memory.
namespace {
template <class Elem>
const Elem* set_elem(const std::vector<Elem>& img, std::uint32_t idx) {
  return idx < img.size() ? &img[idx] : nullptr;
}
}  // namespace
#define XG_SET4_IMAGE const std::vector<xdpguard_set4_elem>&
#define XG_SET4_ELEM(img, idx) set_elem(img, idx)
#define XG_SET6_IMAGE const std::vector<xdpguard_set6_elem>&
#define XG_SET6_ELEM(img, idx) set_elem(img, idx)
#include <xdpguard/set_member.h>

namespace xdpguard::cls {
namespace {

using R = Reg;

// ---- IPv6 hashing: the arithmetic of xdpguard/set_member.h's search --------

constexpr std::uint32_t kK[5] = {XG_SET6_K0, XG_SET6_K1, XG_SET6_K2, XG_SET6_K3, XG_SET6_K4};
constexpr std::uint32_t kMaxProbes6 = XG_SET6_MAX_PROBES;  // xdpguard/set_member.h
// Sets with at least this many (uncovered) IPv6 prefixes get the filter
// (abi.h): about 16 regions per prefix, at most 2^24 (16 MiB); below it a
// miss costs a few probes of a small table that stays in cache.
constexpr std::size_t kFilterMin6 = 1024;
constexpr std::uint32_t kFilterPerElem = sizeof(xdpguard_set6_elem);
static_assert(kFilterPerElem == 128);
// xg_set6_has reads a bucket's six tags, flags and padding in one 8-byte load.
static_assert(offsetof(xdpguard_set6_elem, bucket.tag) % 8 == 0 && sizeof(xdpguard_set6_elem) % 8 == 0 &&
              offsetof(xdpguard_set6_elem, bucket.flags) == offsetof(xdpguard_set6_elem, bucket.tag) + 6);
constexpr unsigned kMaxSteps6 = XG_SET6_MAX_STEPS;  // binary search over at most 104 lengths
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

// bpf/stubs.bpf.c's xg_set4_member / xg_set6_member: set_member.h's
// membership, compiled by clang; their one map is `outer`.
Result<void> emit_set4_function(Program& p, MapId outer) {
  return splice_stub(p, "xg_set4_member", [&](std::string_view n) {
    return n == "xg_set4" ? std::optional(outer) : std::nullopt;
  });
}

Result<void> emit_set6_function(Program& p, MapId outer) {
  return splice_stub(p, "xg_set6_member", [&](std::string_view n) {
    return n == "xg_set6" ? std::optional(outer) : std::nullopt;
  });
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
  std::array<std::uint32_t, 4> net;  // the address's words as the packet has them
  std::memcpy(net.data(), a.data(), sizeof net);
  return xg_set6_has(img, net.data()) != 0;
}

}  // namespace xdpguard::cls
