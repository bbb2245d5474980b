// Named prefix sets as the classifier reads them (classifier/sets.h):
// set4_contains / set6_contains, the replay of the generated membership code
// over the built images, agree with "some prefix of the set contains the
// address" on random sets (nested and disjoint prefixes, /0, host prefixes,
// duplicates, many distinct IPv6 lengths) for addresses aimed at each prefix
// (first, last, just before, just after, the last prefix bit flipped) and
// random ones. Empty sets match nothing; more than XDPGUARD_SET6_MAX_LENS
// distinct IPv6 lengths is a clear error.
#include <gtest/gtest.h>

#include <random>

#include <fmt/format.h>

#include "classifier/sets.h"
#include "rules/parser.h"

namespace xdpguard::cls {
namespace {

using Addr = std::array<std::uint8_t, 16>;
using rules::Family;
using rules::Prefix;

bool contains(const Prefix& p, const Addr& a) {
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned bits = p.len > 8 * i ? std::min(8u, p.len - 8 * i) : 0;
    const std::uint8_t m = static_cast<std::uint8_t>(bits ? 0xff << (8 - bits) : 0);
    if ((a[i] & m) != (p.addr[i] & m)) return false;
  }
  return true;
}

bool any_contains(const std::vector<Prefix>& v, const Addr& a) {
  return std::any_of(v.begin(), v.end(), [&](const Prefix& p) { return contains(p, a); });
}

Prefix make(Family f, Addr a, unsigned len) {
  Prefix p;
  p.family = f;
  p.addr = a;
  p.len = static_cast<std::uint8_t>(len);
  rules::clear_host_bits(p);
  return p;
}

// The first and last address of p (nbytes: 4 or 16).
Addr last_of(const Prefix& p, unsigned nbytes) {
  Addr a = p.addr;
  for (unsigned i = 0; i < nbytes; ++i) {
    const unsigned bits = p.len > 8 * i ? std::min(8u, p.len - 8 * i) : 0;
    a[i] = static_cast<std::uint8_t>(a[i] | (0xff >> bits));
  }
  return a;
}
Addr step(Addr a, unsigned nbytes, int delta) {  // a +- 1, wrapping
  for (int i = static_cast<int>(nbytes) - 1; i >= 0; --i) {
    const auto u = static_cast<std::size_t>(i);
    if (delta > 0) {
      if (++a[u] != 0) break;
    } else {
      if (a[u]-- != 0) break;
    }
  }
  return a;
}
Addr flip_bit(Addr a, unsigned bit) {
  a[bit / 8] = static_cast<std::uint8_t>(a[bit / 8] ^ (0x80 >> (bit % 8)));
  return a;
}

// Addresses that probe the edges of every prefix, and random ones.
std::vector<Addr> probes(const std::vector<Prefix>& v, unsigned nbytes, std::mt19937& rng, int random) {
  std::vector<Addr> out;
  for (const auto& p : v) {
    const Addr last = last_of(p, nbytes);
    out.push_back(p.addr);
    out.push_back(last);
    out.push_back(step(p.addr, nbytes, -1));
    out.push_back(step(last, nbytes, +1));
    if (p.len > 0) out.push_back(flip_bit(p.addr, p.len - 1u));
    Addr inside = p.addr;
    for (unsigned i = 0; i < nbytes; ++i)
      inside[i] = static_cast<std::uint8_t>(p.addr[i] | (last[i] & rng()));
    out.push_back(inside);
  }
  for (int i = 0; i < random; ++i) {
    Addr a{};
    for (unsigned b = 0; b < nbytes; ++b) a[b] = static_cast<std::uint8_t>(rng());
    out.push_back(a);
  }
  return out;
}

std::string hex(const Addr& a) {
  std::string s;
  for (auto b : a) s += fmt::format("{:02x}", b);
  return s;
}

std::array<std::uint8_t, 4> v4(const Addr& a) { return {a[0], a[1], a[2], a[3]}; }

void expect_set4(const std::vector<Prefix>& v, std::mt19937& rng, int random = 3000) {
  const auto img = build_set4(v);
  std::size_t members = 0;
  for (const Addr& a : probes(v, 4, rng, random)) {
    const bool want = any_contains(v, a);
    members += want;
    ASSERT_EQ(set4_contains(img, v4(a)), want) << int{a[0]} << "." << int{a[1]} << "." << int{a[2]} << "."
                                               << int{a[3]} << " in a set of " << v.size();
  }
  if (!v.empty()) {
    EXPECT_GT(members, 0u);
  }
}

void expect_set6(const std::vector<Prefix>& v, std::mt19937& rng, int random = 3000) {
  auto img = build_set6(v);
  ASSERT_TRUE(img) << img.error().message();
  for (const Addr& a : probes(v, 16, rng, random)) {
    const bool want = any_contains(v, a);
    ASSERT_EQ(set6_contains(*img, a), want) << hex(a) << " in a set of " << v.size();
  }
}

// ---- IPv4 --------------------------------------------------------------------

Prefix random4(std::mt19937& rng) {
  auto r = [&](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };
  static const unsigned lens[] = {8, 12, 16, 20, 23, 24, 24, 25, 26, 28, 30, 31, 32, 32};
  unsigned len = lens[r(14)];
  if (r(20) == 0) len = r(33);
  Addr a{};
  // A clustered pool (10.0-3.0-7.x) so that prefixes nest, plus anywhere.
  a[0] = 10;
  a[1] = static_cast<std::uint8_t>(r(4));
  a[2] = static_cast<std::uint8_t>(r(8));
  const std::uint32_t hi = r(4);
  a[3] = static_cast<std::uint8_t>(hi * 64 + r(4));
  if (r(5) == 0)
    for (int i = 0; i < 4; ++i) a[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(rng());
  return make(Family::V4, a, len);
}

TEST(ClassifierSets, Set4EmptyMatchesNothing) {
  const auto img = build_set4({});
  EXPECT_EQ(img.size(), 1u);
  std::mt19937 rng(1);
  EXPECT_FALSE(set4_contains(img, {0, 0, 0, 0}));
  EXPECT_FALSE(set4_contains(img, {0, 0, 0, 1}));
  EXPECT_FALSE(set4_contains(img, {255, 255, 255, 255}));
  for (int i = 0; i < 1000; ++i) {
    auto x = static_cast<std::uint32_t>(rng());
    ASSERT_FALSE(set4_contains(img, {static_cast<std::uint8_t>(x >> 24), static_cast<std::uint8_t>(x >> 16),
                                     static_cast<std::uint8_t>(x >> 8), static_cast<std::uint8_t>(x)}));
  }
}

TEST(ClassifierSets, Set4HandPicked) {
  std::mt19937 rng(2);
  auto P = [](std::string_view s) { return *rules::parse_prefix(s); };
  // Host prefixes and a /25 inside one /24 (a partial /24), the /24 itself
  // made whole by two /25s, a /8, duplicates.
  expect_set4({P("192.0.2.1"), P("192.0.2.200/32"), P("192.0.2.64/26"), P("198.51.100.0/25"),
               P("198.51.100.128/25"), P("10.0.0.0/8"), P("10.1.2.3"), P("10.0.0.0/8"), P("255.255.255.255")},
              rng);
  expect_set4({P("0.0.0.0/0")}, rng);
  expect_set4({P("0.0.0.0/32")}, rng);
  expect_set4({P("128.0.0.0/1"), P("1.2.3.4/31")}, rng);
}

TEST(ClassifierSets, Set4AgreesWithBruteForce) {
  std::mt19937 rng(3);
  for (int round = 0; round < 6; ++round) {
    std::vector<Prefix> v;
    const int n = round < 2 ? 1 + static_cast<int>(rng() % 8) : 50 + static_cast<int>(rng() % 300);
    for (int i = 0; i < n; ++i) v.push_back(random4(rng));
    for (int i = 0; i < n / 10; ++i) v.push_back(v[rng() % v.size()]);  // duplicates
    SCOPED_TRACE(testing::Message() << "round " << round);
    expect_set4(v, rng, 1000);
  }
}

// ---- IPv6 --------------------------------------------------------------------

// Prefixes around a few base addresses (so that they nest), with lengths from
// a pool of `nlens` distinct ones.
std::vector<Prefix> random6(std::mt19937& rng, int n, unsigned nlens) {
  auto r = [&](std::uint32_t k) { return static_cast<std::uint32_t>(rng() % k); };
  std::vector<unsigned> lens;
  for (unsigned l = 0; l <= 128; ++l) lens.push_back(l);
  std::shuffle(lens.begin(), lens.end(), rng);
  lens.resize(nlens);
  if (r(2)) lens[0] = 128;
  std::vector<Addr> bases;
  for (int i = 0; i < 4; ++i) {
    Addr a{};
    for (auto& b : a) b = static_cast<std::uint8_t>(rng());
    bases.push_back(a);
  }
  std::vector<Prefix> v;
  for (int i = 0; i < n; ++i) {
    Addr a = bases[r(4)];
    // Vary a few bits (anywhere) so that siblings and cousins appear.
    for (int k = 0; k < 3; ++k) a = flip_bit(a, r(128));
    if (r(8) == 0)
      for (auto& b : a) b = static_cast<std::uint8_t>(rng());
    v.push_back(make(Family::V6, a, lens[r(nlens)]));
  }
  return v;
}

TEST(ClassifierSets, Set6EmptyMatchesNothing) {
  auto img = build_set6({});
  ASSERT_TRUE(img);
  EXPECT_EQ(img->size(), 1u);
  std::mt19937 rng(4);
  EXPECT_FALSE(set6_contains(*img, Addr{}));
  for (int i = 0; i < 1000; ++i) {
    Addr a;
    for (auto& b : a) b = static_cast<std::uint8_t>(rng());
    ASSERT_FALSE(set6_contains(*img, a));
  }
}

TEST(ClassifierSets, Set6HandPicked) {
  std::mt19937 rng(5);
  auto P = [](std::string_view s) { return *rules::parse_prefix(s); };
  expect_set6({P("::/0")}, rng);
  expect_set6({P("::")}, rng);
  expect_set6({P("2001:db8::1"), P("2001:db8::/32"), P("2001:db8:1::/48"), P("fd00::/8"), P("fd00::1/128"),
               P("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")},
              rng);
  // Nested, each length once: a marker path through every length.
  std::vector<Prefix> chain;
  const Addr base = *rules::parse_ipv6("2001:db8:aaaa:bbbb::1");
  for (unsigned len = 1; len <= 128; len += 9) chain.push_back(make(Family::V6, base, len));
  expect_set6(chain, rng);
  std::reverse(chain.begin(), chain.end());
  expect_set6(chain, rng);
}

TEST(ClassifierSets, Set6AgreesWithBruteForce) {
  std::mt19937 rng(6);
  // Few lengths, more than 7 (more than one binary-search level per bit of
  // kMaxSteps), many (up to the limit), with small and large sets.
  const unsigned nlens[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 40, 64, 100, 112};
  for (unsigned nl : nlens) {
    for (int round = 0; round < 3; ++round) {
      const int n = round == 0 ? static_cast<int>(nl) : 100 + static_cast<int>(rng() % 300);
      auto v = random6(rng, n, nl);
      for (int i = 0; i < n / 10; ++i) v.push_back(v[rng() % v.size()]);  // duplicates
      SCOPED_TRACE(testing::Message()
                   << nl << " lengths, round " << round << ", " << v.size() << " prefixes");
      expect_set6(v, rng, 500);
    }
  }
}

// Large sets get the filter (abi.h); it must never turn a member away. Prefixes
// shorter than /24 (each covers many /24s), at /24, and longer, clustered
// around /24 edges so that neighbours of members test the filter's edges.
TEST(ClassifierSets, Set6FilterKeepsEveryMember) {
  std::mt19937 rng(8);
  std::vector<Prefix> v;
  const unsigned lens[] = {16, 20, 23, 24, 25, 32, 48, 64, 128};
  for (unsigned len : {8u, 12u, 12u, 15u}) {
    Addr a{};
    for (auto& b : a) b = static_cast<std::uint8_t>(rng());
    v.push_back(make(Family::V6, a, len));
  }
  while (v.size() < 3000) {
    Addr a{};
    for (auto& b : a) b = static_cast<std::uint8_t>(rng());
    if (rng() % 2) a[0] = 0x20, a[1] = static_cast<std::uint8_t>(rng() % 4);  // a crowded corner
    v.push_back(make(Family::V6, a, lens[rng() % std::size(lens)]));
  }
  auto img = build_set6(v);
  ASSERT_TRUE(img) << img.error().message();
  EXPECT_GT((*img)[0].hdr.filter_bits, 0);
  expect_set6(v, rng, 20000);

  auto small = build_set6(std::vector<Prefix>(v.begin(), v.begin() + 100));
  ASSERT_TRUE(small);
  EXPECT_EQ((*small)[0].hdr.filter_bits, 0) << "100 prefixes need no filter";
}

// Disjoint prefixes (first byte distinct), one per length in [from, from+n).
std::vector<Prefix> one_per_length(unsigned from, unsigned n) {
  std::vector<Prefix> v;
  for (unsigned i = 0; i < n; ++i) {
    Addr a{};
    a[0] = static_cast<std::uint8_t>(i);
    for (unsigned b = 1; b < 16; ++b) a[b] = static_cast<std::uint8_t>(0x5a ^ (b * 17 + i));
    v.push_back(make(Family::V6, a, from + i));
  }
  return v;
}

TEST(ClassifierSets, Set6LengthLimit) {
  std::mt19937 rng(7);
  auto ok = one_per_length(8, XDPGUARD_SET6_MAX_LENS);
  expect_set6(ok, rng, 200);
  auto img = build_set6(ok);
  ASSERT_TRUE(img);
  EXPECT_EQ((*img)[0].hdr.nlens, XDPGUARD_SET6_MAX_LENS);

  auto too_many = one_per_length(8, XDPGUARD_SET6_MAX_LENS + 1);
  auto r = build_set6(too_many);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), E2BIG);
  EXPECT_EQ(r.error().message(), fmt::format("{} distinct IPv6 prefix lengths; a set may have at most {}",
                                             XDPGUARD_SET6_MAX_LENS + 1, XDPGUARD_SET6_MAX_LENS));

  // Lengths are counted after prefixes covered by a shorter member are
  // dropped: under ::/0, any number of lengths is one.
  too_many.push_back(make(Family::V6, Addr{}, 0));
  expect_set6(too_many, rng, 200);
}

}  // namespace
}  // namespace xdpguard::cls
