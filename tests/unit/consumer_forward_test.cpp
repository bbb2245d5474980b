// What `xdpguard xsk --forward` and examples/xsk_router do to a frame
// (consumer/forward.h): the TTL's incremental checksum update against a
// full recomputation, hop limits, VLAN tags, what is not forwarded.
#include <gtest/gtest.h>

#include <random>

#include "consumer/forward.h"

namespace xdpguard::consumer {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::uint16_t full_checksum(const std::uint8_t* h, std::size_t len) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < len; i += 2)
    if (i != 10) sum += static_cast<std::uint32_t>(h[i] << 8 | h[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

Bytes ipv4_frame(std::mt19937& rng, std::uint8_t ttl, std::size_t tags = 0) {
  Bytes f = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2};
  for (std::size_t t = 0; t < tags; ++t)
    f.insert(f.end(), {t ? std::uint8_t{0x81} : std::uint8_t{0x88},
                       t ? std::uint8_t{0x00} : std::uint8_t{0xa8}, 0, 100});
  f.insert(f.end(), {0x08, 0x00});
  Bytes ip(20);
  for (auto& b : ip) b = static_cast<std::uint8_t>(rng());
  ip[0] = 0x45;
  ip[8] = ttl;
  const std::uint16_t c = full_checksum(ip.data(), 20);
  ip[10] = static_cast<std::uint8_t>(c >> 8);
  ip[11] = static_cast<std::uint8_t>(c);
  f.insert(f.end(), ip.begin(), ip.end());
  f.insert(f.end(), 8, 0xab);  // a payload
  return f;
}

constexpr Mac kSrc = {0x02, 0, 0, 0, 0, 0x11}, kDst = {0x02, 0, 0, 0, 0, 0x22};

TEST(ConsumerForward, Ipv4TtlChecksumEqualsAFullRecomputation) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const auto ttl = static_cast<std::uint8_t>(2 + rng() % 254);
    const std::size_t tags = static_cast<std::size_t>(i % 3);
    Bytes f = ipv4_frame(rng, ttl, tags);
    const Bytes before = f;
    ASSERT_EQ(rewrite_for_forward(f, kSrc, kDst), Forward::Ok);
    const std::size_t l3 = 14 + 4 * tags;
    EXPECT_EQ(f[l3 + 8], ttl - 1);
    const std::uint16_t c = static_cast<std::uint16_t>(f[l3 + 10] << 8 | f[l3 + 11]);
    ASSERT_EQ(c, full_checksum(&f[l3], 20)) << "ttl " << int(ttl) << " frame " << i;
    EXPECT_TRUE(std::equal(f.begin(), f.begin() + 6, kDst.begin()));
    EXPECT_TRUE(std::equal(f.begin() + 6, f.begin() + 12, kSrc.begin()));
    // Nothing else changed: tags, the rest of the header, the payload.
    for (std::size_t k = 12; k < f.size(); ++k) {
      if (k != l3 + 8 && k != l3 + 10 && k != l3 + 11) {
        ASSERT_EQ(f[k], before[k]) << k;
      }
    }
  }
}

TEST(ConsumerForward, ExpiredTtlAndNonIpAreNotForwarded) {
  std::mt19937 rng(1);
  for (std::uint8_t ttl : {0, 1}) {
    Bytes f = ipv4_frame(rng, ttl);
    const Bytes before = f;
    EXPECT_EQ(rewrite_for_forward(f, kSrc, kDst), Forward::TtlExpired);
    EXPECT_EQ(f, before) << "untouched";
  }
  Bytes arp = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1};
  EXPECT_EQ(rewrite_for_forward(arp, kSrc, kDst), Forward::NotIp);
  Bytes cut = ipv4_frame(rng, 64);
  cut.resize(14 + 19);
  EXPECT_EQ(rewrite_for_forward(cut, kSrc, kDst), Forward::NotIp);
  EXPECT_EQ(rewrite_for_forward({}, kSrc, kDst), Forward::NotIp);
}

TEST(ConsumerForward, Ipv6HopLimit) {
  Bytes f = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x86, 0xdd};
  Bytes ip(40, 0);
  ip[0] = 0x60;
  ip[7] = 64;
  ip[24] = 0xfd;  // fd00::9
  ip[39] = 9;
  f.insert(f.end(), ip.begin(), ip.end());
  auto v = ip_of(f);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->family, rules::Family::V6);
  EXPECT_EQ(v->daddr[0], 0xfd);
  EXPECT_EQ(v->daddr[15], 9);
  ASSERT_EQ(rewrite_for_forward(f, kSrc, kDst), Forward::Ok);
  EXPECT_EQ(f[14 + 7], 63);
  f[14 + 7] = 1;
  EXPECT_EQ(rewrite_for_forward(f, kSrc, kDst), Forward::TtlExpired);
}

TEST(ConsumerForward, ParseMac) {
  auto m = parse_mac("02:aB:cd:EF:00:9f");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, (Mac{0x02, 0xab, 0xcd, 0xef, 0x00, 0x9f}));
  for (const char* bad :
       {"", "02:00:00:00:00", "02:00:00:00:00:0g", "02-00-00-00-00-01", "02:00:00:00:00:001"})
    EXPECT_FALSE(parse_mac(bad)) << bad;
}

}  // namespace
}  // namespace xdpguard::consumer
