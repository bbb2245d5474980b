// The generator's template and per-frame rewrite (src/lib/gen/frame.h,
// bpf/include/xdpguard/gen.h — the same code the BPF program runs): every
// frame it can produce has correct checksums recomputed from scratch, random
// fields stay in their ranges, and nothing else changes. Checksums are
// checked with a plain RFC 1071 written here; tests/e2e/gen_test has the
// receiving kernel check real frames.
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

// RFC 1071 written out plainly (big-endian words, odd byte padded), not the
// code under test: the ones'-complement sum of a range that includes its
// checksum field is 0xffff when the checksum is right.
std::uint16_t rfc1071_sum(const std::vector<std::uint8_t>& b) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < b.size(); i += 2) sum += (b[i] << 8) + (i + 1 < b.size() ? b[i + 1] : 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

// Verifies every length and checksum of an Ethernet/IP/L4 frame; lengths
// come from the headers (a SYN's frame may end in padding).
void expect_valid(const Bytes& f, const std::string& where) {
  const bool v6 = be16(&f[12]) == 0x86dd;
  const std::size_t ip = 14, l4 = ip + (v6 ? 40 : 20);
  const std::uint8_t proto = v6 ? f[ip + 6] : f[ip + 9];
  const std::size_t l4_len = v6 ? be16(&f[ip + 4]) : be16(&f[ip + 2]) - 20u;
  ASSERT_LE(l4 + l4_len, f.size()) << where;
  if (proto == 6) {
    ASSERT_EQ(l4_len, (f[l4 + 12] >> 4) * 4u) << where << ": a SYN carries no data";
  } else {
    ASSERT_EQ(l4 + l4_len, f.size()) << where << ": the datagram fills the frame";
  }
  if (!v6) {
    ASSERT_EQ(rfc1071_sum(Bytes(&f[ip], &f[ip] + 20)), 0xffff) << where << ": IPv4 header checksum";
  }
  Bytes seg;
  if (v6 || proto != 1) {  // pseudo-header: addresses, protocol, length
    const std::size_t a = ip + (v6 ? 8 : 12), n = v6 ? 32 : 8;
    seg.assign(&f[a], &f[a] + n);
    seg.insert(seg.end(),
               {0, proto, static_cast<std::uint8_t>(l4_len >> 8), static_cast<std::uint8_t>(l4_len)});
  }
  seg.insert(seg.end(), &f[l4], &f[l4] + l4_len);
  ASSERT_EQ(rfc1071_sum(seg), 0xffff) << where << ": L4 checksum (proto " << int(proto) << ")";
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
    for (bool syn_options : {false, true})
      for (bool v6 : {false, true})
        for (const char* src : {"198.18.0.1", "198.18.0.0/24", "198.16.0.0/13", "0.0.0.0/0", "fd00::1",
                                "fd00::ab00/120", "fd00::/96"})
          for (std::uint32_t extra : {0u, 1u, 36u, 67u, 1000u}) {
            if (v6 != (std::string(src).find(':') != std::string::npos)) continue;
            if (syn_options && proto != Proto::Syn) continue;
            Spec s = spec_for(proto, v6, 0, src);
            s.syn_options = syn_options;
            s.size = std::min(min_frame_size(proto, s.src.family, syn_options) + extra, kMaxFrameSize);
            s.sport_lo = extra % 2 ? 1 : 1024;
            s.sport_hi = extra % 2 ? 65535 : 1024;
            if (extra == 1000) s.sport_lo = 0, s.sport_hi = 65535;  // span 65536
            auto t = build(s);
            std::string where = std::string(proto_name(proto)) + (syn_options ? " with options " : " ") +
                                src + " size " + std::to_string(s.size);
            ASSERT_TRUE(t) << where << ": " << t.error().message();
            ASSERT_EQ(t->frame.size(), s.size);
            expect_valid(t->frame, where + " (template)");
            // The program rewrites over whatever the page held before.
            Bytes f = t->frame;
            std::set<std::uint32_t> sources;
            for (int i = 0; i < 300; ++i) {
              Bytes before = f;
              ASSERT_EQ(xg_gen_rewrite(f.data(), f.data() + f.size(), &t->cfg,
                                       static_cast<std::uint32_t>(rng()), static_cast<std::uint32_t>(rng())),
                        0);
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
                bool random =
                    (t->cfg.saddr_off && k >= t->cfg.saddr_off && k < t->cfg.saddr_off + 4u) ||
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

// --syn-options: the options a Linux client's SYN carries, in its order,
// in a 40-byte TCP header, restored before every frame like the rest.
TEST(GenFrame, SynOptionsAreALinuxClients) {
  for (bool v6 : {false, true}) {
    Spec s = spec_for(Proto::Syn, v6, 0, v6 ? "fd00::1" : "198.18.0.1");
    s.syn_options = true;
    s.size = min_frame_size(Proto::Syn, s.src.family, true);
    EXPECT_EQ(s.size, v6 ? 94u : 74u);
    auto t = build(s);
    ASSERT_TRUE(t) << t.error().message();
    const std::size_t l4 = 14 + (v6 ? 40 : 20);
    EXPECT_EQ(t->frame[l4 + 12], 0xa0) << "data offset 10 (40 bytes)";
    const Bytes opts(&t->frame[l4 + 20], &t->frame[l4 + 40]);
    EXPECT_EQ(opts, (Bytes{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 1, 3, 3, 7}));
    // The program's restore (bpf/gen.bpf.c, abi.h) over a page that held a
    // SYN-ACK: the headers and options come back whole.
    EXPECT_EQ(t->cfg.restore_len, l4 + 40) << "the options are restored with the headers";
    Bytes page(t->frame.size(), 0xee);
    for (std::uint32_t i = 0; i * 8 < t->cfg.restore_len; ++i)
      std::memcpy(&page[std::min(i * 8, t->cfg.restore_len - 8)], &t->cfg.head[i], 8);
    EXPECT_EQ(Bytes(page.begin(), page.begin() + l4 + 40),
              Bytes(t->frame.begin(), t->frame.begin() + l4 + 40));
  }
  Spec u = spec_for(Proto::Udp, false, 64, "198.18.0.1");
  u.syn_options = true;
  auto t = build(u);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message(), "SYN options need SYNs (proto syn)");
}

TEST(GenFrame, UdpChecksumZeroIsSentAsFfff) {
  // Random 32-bit sources: about one frame in 65,535 sums to checksum 0,
  // which UDP must send as 0xffff (0 means "no checksum").
  auto t = build(spec_for(Proto::Udp, false, 64, "0.0.0.0/0"));
  ASSERT_TRUE(t);
  Bytes f = t->frame;
  int ffff = 0;
  for (std::uint32_t r = 0; r < (1u << 21); ++r) {
    ASSERT_EQ(xg_gen_rewrite(f.data(), f.data() + f.size(), &t->cfg, r * 2654435761u, 0), 0);
    std::uint16_t field = be16(&f[14 + 20 + 6]);
    ASSERT_NE(field, 0);
    if (field == 0xffff) {
      ++ffff;
      expect_valid(f, "checksum 0xffff");
    }
  }
  EXPECT_GT(ffff, 5);
}

TEST(GenFrame, OnlyLabAddressesWithoutForce) {
  auto check = [](const char* src, const char* dst) {
    Spec s = spec_for(Proto::Udp, std::string(dst).find(':') != std::string::npos, 64, src);
    s.dst = rules::parse_prefix(dst)->addr;
    auto r = check_lab_addresses(s);
    return r ? std::string("ok") : r.error().message();
  };
  EXPECT_EQ(check("198.18.0.1", "198.18.0.2"), "ok");
  EXPECT_EQ(check("198.19.0.0/16", "198.19.255.255"), "ok");
  EXPECT_EQ(check("fd00::1", "fdff::2"), "ok");
  auto bad_dst = [](const std::string& a) {
    return "destination " + a +
           " is outside the lab ranges (198.18.0.0/15, fd00::/8): refusing to send to "
           "what may be a real network; use --force if you mean it";
  };
  auto bad_src = [](const std::string& p) {
    return "source " + p +
           " is not inside the lab ranges (198.18.0.0/15, fd00::/8): refusing to spoof "
           "what may be real addresses; use --force if you mean it";
  };
  EXPECT_EQ(check("198.18.0.1", "8.8.8.8"), bad_dst("8.8.8.8"));
  EXPECT_EQ(check("198.18.0.1", "198.20.0.1"), bad_dst("198.20.0.1"));
  EXPECT_EQ(check("fd00::1", "fe80::1"), bad_dst("fe80::1"));
  EXPECT_EQ(check("0.0.0.0/0", "198.18.0.2"), bad_src("0.0.0.0/0"));
  EXPECT_EQ(check("198.16.0.0/13", "198.18.0.2"), bad_src("198.16.0.0/13"));
  EXPECT_EQ(check("2001:db8::1", "fd00::2"), bad_src("2001:db8::1"));
}

TEST(GenFrame, RejectsWhatItCannotBuild) {
  auto msg = [](Spec s) {
    auto t = build(s);
    return t ? std::string("built") : t.error().message();
  };
  Spec s = spec_for(Proto::Udp, false, 64, "198.18.0.1");
  s.size = 41;
  EXPECT_EQ(msg(s), "frame size 41 out of range: IPv4 udp frames are 60..1514 bytes");
  s.size = 0;
  EXPECT_EQ(msg(s), "frame size 0 out of range: IPv4 udp frames are 60..1514 bytes");
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
  for (const char* bad : {"", "02:ab:00:ff:10", "02:ab:00:ff:10:9c:00", "02-ab-00-ff-10-9c",
                          "0g:ab:00:ff:10:9c", "2:ab:00:ff:10:9c:"}) {
    auto r = parse_mac(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message(),
              fmt::format("\"{}\" is not a MAC address (expected aa:bb:cc:dd:ee:ff)", bad));
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
