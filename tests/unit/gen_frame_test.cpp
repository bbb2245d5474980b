// The generator's template and per-frame rewrite (src/lib/gen/frame.h,
// bpf/include/xdpguard/gen.h — the same code the BPF program runs): every
// frame it can produce has correct checksums recomputed from scratch, random
// fields stay in their ranges, and nothing else changes. tests/e2e/gen_test
// checks real frames with tshark, an independent decoder.
#include <cstring>
#include <random>
#include <set>

#include <gtest/gtest.h>
#include <xdpguard/gen.h>

#include "gen/frame.h"
#include "rules/parser.h"

namespace xdpguard::gen {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

// Verifies every checksum of an Ethernet/IP/L4 frame from first principles.
void expect_valid(const Bytes& f, const std::string& where) {
  const bool v6 = be16(&f[12]) == 0x86dd;
  const std::size_t ip = 14, l4 = ip + (v6 ? 40 : 20);
  const std::uint8_t proto = v6 ? f[ip + 6] : f[ip + 9];
  const std::size_t l4_len = f.size() - l4;
  if (!v6) {
    ASSERT_EQ(checksum(&f[ip], 20), 0) << where << ": IPv4 header checksum";
    ASSERT_EQ(be16(&f[ip + 2]), f.size() - 14) << where;
  } else {
    ASSERT_EQ(be16(&f[ip + 4]), l4_len) << where;
  }
  std::uint32_t pseudo = 0;
  if (v6 || proto != 1) {
    Bytes ph;
    const std::size_t a = ip + (v6 ? 8 : 12), n = v6 ? 32 : 8;
    ph.insert(ph.end(), f.begin() + static_cast<long>(a), f.begin() + static_cast<long>(a + n));
    ph.insert(ph.end(), {0, proto, static_cast<std::uint8_t>(l4_len >> 8), static_cast<std::uint8_t>(l4_len)});
    for (std::size_t i = 0; i < ph.size(); i += 2) {
      std::uint16_t w;
      std::memcpy(&w, &ph[i], 2);
      pseudo += w;
    }
  }
  ASSERT_EQ(checksum(&f[l4], l4_len, pseudo), 0) << where << ": L4 checksum (proto " << int(proto) << ")";
  if (proto == 17) {
    ASSERT_NE(be16(&f[l4 + 6]), 0) << where << ": UDP checksum 0 means none";
  }
}

Spec spec_for(Proto proto, bool v6, std::uint32_t size, const char* src) {
  Spec s;
  s.proto = proto;
  s.src_mac = {2, 0, 0, 0, 0, 1};
  s.dst_mac = {2, 0, 0, 0, 0, 2};
  s.src = *rules::parse_prefix(src);
  s.dst = rules::parse_prefix(v6 ? "fd00::2" : "198.18.0.2")->addr;
  s.dport = 9;
  s.size = size;
  return s;
}

TEST(GenFrame, EveryRewrittenFrameIsValid) {
  std::mt19937 rng(1);
  int frames = 0;
  for (Proto proto : {Proto::Udp, Proto::Syn, Proto::Icmp})
    for (bool v6 : {false, true})
      for (const char* src : {"198.18.0.1", "198.18.0.0/24", "198.16.0.0/13", "0.0.0.0/0", "fd00::1",
                              "fd00::ab00/120", "fd00::/96"})
        for (std::uint32_t extra : {0u, 1u, 36u, 1000u}) {
          if (v6 != (std::string(src).find(':') != std::string::npos)) continue;
          Spec s = spec_for(proto, v6, 0, src);
          s.size = std::min(min_frame_size(proto, s.src.family) + extra, kMaxFrameSize);
          s.sport_lo = extra % 2 ? 1 : 1024;
          s.sport_hi = extra % 2 ? 65535 : 1024;
          if (extra == 1000) s.sport_lo = 0, s.sport_hi = 65535;  // span 65536
          auto t = build(s);
          std::string where = std::string(proto_name(proto)) + " " + src + " size " + std::to_string(s.size);
          ASSERT_TRUE(t) << where << ": " << t.error().message();
          ASSERT_EQ(t->frame.size(), s.size);
          expect_valid(t->frame, where + " (template)");
          // The program rewrites over whatever the page held before.
          Bytes f = t->frame;
          std::set<std::uint32_t> sources;
          for (int i = 0; i < 300; ++i) {
            Bytes before = f;
            ASSERT_EQ(xg_gen_rewrite(f.data(), f.data() + f.size(), &t->cfg, static_cast<std::uint32_t>(rng()),
                                     static_cast<std::uint32_t>(rng())), 0);
            expect_valid(f, where);
            ++frames;
            const bool v6f = v6;
            const std::size_t sa = 14 + (v6f ? 8 : 12), alen = v6f ? 16 : 4;
            rules::Prefix got;
            got.family = s.src.family;
            std::memcpy(got.addr.data(), &f[sa], alen);
            // Source inside the prefix.
            for (unsigned b = 0; b < s.src.len; ++b)
              ASSERT_EQ((got.addr[b / 8] >> (7 - b % 8)) & 1, (s.src.addr[b / 8] >> (7 - b % 8)) & 1)
                  << where << " bit " << b;
            std::uint32_t last;
            std::memcpy(&last, &f[sa + alen - 4], 4);
            sources.insert(last);
            if (proto != Proto::Icmp) {
              std::uint16_t sport = be16(&f[14 + (v6 ? 40 : 20)]);
              ASSERT_GE(sport, s.sport_lo) << where;
              ASSERT_LE(sport, s.sport_hi) << where;
            }
            // Nothing but the random fields and checksums moves: compare
            // with the template outside those bytes.
            for (std::size_t k = 0; k < f.size(); ++k) {
              bool random = (t->cfg.saddr_off && k >= t->cfg.saddr_off && k < t->cfg.saddr_off + 4u) ||
                            (t->cfg.sport_off && k >= t->cfg.sport_off && k < t->cfg.sport_off + 2u) ||
                            (t->cfg.ip_csum_off && k >= t->cfg.ip_csum_off && k < t->cfg.ip_csum_off + 2u) ||
                            (t->cfg.l4_csum_off && k >= t->cfg.l4_csum_off && k < t->cfg.l4_csum_off + 2u);
              if (!random) {
                ASSERT_EQ(f[k], t->frame[k]) << where << " byte " << k;
              }
            }
          }
          const unsigned random_bits = (v6 ? 128u : 32u) - s.src.len;
          if (random_bits >= 8) {
            EXPECT_GT(sources.size(), 100u) << where;
          }
          if (random_bits == 0) {
            EXPECT_EQ(sources.size(), 1u) << where;
          }
        }
  EXPECT_GT(frames, 10000);
}

TEST(GenFrame, RejectsWhatItCannotBuild) {
  auto msg = [](Spec s) {
    auto t = build(s);
    return t ? std::string("built") : t.error().message();
  };
  Spec s = spec_for(Proto::Udp, false, 64, "198.18.0.1");
  s.size = 41;
  EXPECT_EQ(msg(s), "frame size 41 out of range: IPv4 udp frames are 60..1514 bytes");
  s.size = 1515;
  EXPECT_EQ(msg(s), "frame size 1515 out of range: IPv4 udp frames are 60..1514 bytes");
  s = spec_for(Proto::Syn, true, 64, "fd00::1");
  EXPECT_EQ(msg(s), "frame size 64 out of range: IPv6 syn frames are 74..1514 bytes");
  s = spec_for(Proto::Udp, true, 100, "fd00::/64");
  EXPECT_EQ(msg(s), "source /64 leaves 64 random bits; at most 32 are randomised (use /96 or longer)");
  s = spec_for(Proto::Udp, false, 64, "198.18.0.1");
  s.sport_lo = 10, s.sport_hi = 9;
  EXPECT_EQ(msg(s), "source port range 10-9 is backwards");
}

TEST(GenFrame, ParsesOperatorInput) {
  auto mac = parse_mac("02:aB:00:ff:10:9c");
  ASSERT_TRUE(mac);
  EXPECT_EQ(*mac, (Mac{0x02, 0xab, 0x00, 0xff, 0x10, 0x9c}));
  for (const char* bad : {"", "02:ab:00:ff:10", "02:ab:00:ff:10:9c:00", "02-ab-00-ff-10-9c", "0g:ab:00:ff:10:9c",
                          "2:ab:00:ff:10:9c:"}) {
    auto r = parse_mac(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message(), fmt::format("\"{}\" is not a MAC address (expected aa:bb:cc:dd:ee:ff)", bad));
  }
  using Range = std::pair<std::uint16_t, std::uint16_t>;
  EXPECT_EQ(*parse_port_range("0"), Range(0, 0));
  EXPECT_EQ(*parse_port_range("1024-65535"), Range(1024, 65535));
  for (const char* bad : {"", "-", "65536", "10-9", "1-", "-5", "a", "1-2-3", "+1", " 1", "000001"}) {
    auto r = parse_port_range(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message(),
              fmt::format("\"{}\" is not a port or a range LO-HI (0..65535, LO <= HI)", bad));
  }
}

}  // namespace
}  // namespace xdpguard::gen
