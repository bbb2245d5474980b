#include "common/packets.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard::bench {

using rules::Family;
using rules::PacketFields;
using rules::Prefix;

namespace {

void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

std::array<std::uint8_t, 16> parse_address(std::string_view text, std::uint8_t& family) {
  auto p = rules::parse_prefix(text);
  if (!p || p->len != (p->family == Family::V4 ? 32 : 128)) {
    std::fprintf(stderr, "bench: bad address literal %.*s\n", static_cast<int>(text.size()), text.data());
    std::abort();
  }
  family = p->family == Family::V4 ? 4 : 6;
  return p->addr;
}

}  // namespace

PacketFields packet(std::uint8_t proto, std::string_view src, std::string_view dst, std::uint16_t sport,
                    std::uint16_t dport, std::uint8_t tcp_flags) {
  PacketFields p;
  std::uint8_t f1 = 0, f2 = 0;
  p.saddr = parse_address(src, f1);
  p.daddr = parse_address(dst, f2);
  if (f1 != f2) std::abort();
  p.family = f1;
  p.proto = proto;
  if (proto == rules::kProtoTcp || proto == rules::kProtoUdp) p.sport = sport, p.dport = dport;
  if (proto == rules::kProtoTcp) p.tcp_flags = tcp_flags;
  return p;
}

Bytes with_dest_opts(const Bytes& f, int n) {
  constexpr std::size_t kIp = 14, kNext = kIp + 6, kLen = kIp + 4, kL4 = kIp + 40;
  Bytes out(f.begin(), f.begin() + kL4);
  std::uint8_t next = f[kNext];
  for (int i = 0; i < n; ++i) {
    const std::uint8_t nh = i + 1 < n ? 60 : next;
    const std::uint8_t hdr[8] = {nh, 0, 1, 4, 0, 0, 0, 0};  // length 0 (8 bytes), PadN of 4
    out.insert(out.end(), hdr, hdr + 8);
  }
  out.insert(out.end(), f.begin() + kL4, f.end());
  if (n > 0) out[kNext] = 60;
  put16(&out[kLen], static_cast<std::uint16_t>(((f[kLen] << 8) | f[kLen + 1]) + 8 * n));
  return out;
}

Bytes frame(const PacketFields& p) {
  const bool v4 = p.family == 4;
  const std::size_t l3 = v4 ? 20 : 40;
  const std::size_t l4 = p.proto == rules::kProtoTcp ? 20 : 8;
  Bytes f(std::max<std::size_t>(60, 14 + l3 + l4), 0);
  const std::uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0, 0x02}, src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
  std::copy(dst_mac, dst_mac + 6, f.begin());
  std::copy(src_mac, src_mac + 6, f.begin() + 6);
  put16(&f[12], v4 ? 0x0800 : 0x86dd);
  std::uint8_t* ip = &f[14];
  if (v4) {
    ip[0] = 0x45;
    put16(ip + 2, static_cast<std::uint16_t>(l3 + l4));
    ip[8] = 64;
    ip[9] = p.proto;
    std::copy(p.saddr.begin(), p.saddr.begin() + 4, ip + 12);
    std::copy(p.daddr.begin(), p.daddr.begin() + 4, ip + 16);
  } else {
    ip[0] = 0x60;
    put16(ip + 4, static_cast<std::uint16_t>(l4));
    ip[6] = p.proto;
    ip[7] = 64;
    std::copy(p.saddr.begin(), p.saddr.end(), ip + 8);
    std::copy(p.daddr.begin(), p.daddr.end(), ip + 24);
  }
  std::uint8_t* h = ip + l3;
  switch (p.proto) {
    case rules::kProtoTcp:
      put16(h, p.sport), put16(h + 2, p.dport);
      h[12] = 0x50;  // data offset 5: no options
      h[13] = p.tcp_flags;
      put16(h + 14, 65535);
      break;
    case rules::kProtoUdp:
      put16(h, p.sport), put16(h + 2, p.dport);
      put16(h + 4, static_cast<std::uint16_t>(l4));
      break;
    case rules::kProtoIcmp: h[0] = 8; break;      // echo request
    case rules::kProtoIcmpv6: h[0] = 128; break;  // echo request
    default: break;                               // 8 payload bytes
  }
  // VLAN tags after the MAC addresses: one 802.1Q tag, or an 802.1ad S-tag
  // over an 802.1Q C-tag (QinQ).
  for (unsigned i = p.nvlan; i-- > 0;) {
    const std::uint16_t tpid = i == 0 && p.nvlan == 2 ? 0x88a8 : 0x8100;
    std::uint8_t tag[4];
    put16(tag, tpid);
    put16(tag + 2, static_cast<std::uint16_t>(p.vlan.at(i) & 0x0fff));
    f.insert(f.begin() + 12, tag, tag + 4);
  }
  return f;
}

std::string describe(const PacketFields& p) {
  Prefix s{p.family == 4 ? Family::V4 : Family::V6, p.saddr,
           static_cast<std::uint8_t>(p.family == 4 ? 32 : 128)};
  Prefix d{s.family, p.daddr, s.len};
  auto host = [&](const Prefix& a, std::uint16_t port) {
    std::string t = rules::prefix_to_string(a);
    if (p.proto != rules::kProtoTcp && p.proto != rules::kProtoUdp) return t;
    return p.family == 6 ? fmt::format("[{}]:{}", t, port) : fmt::format("{}:{}", t, port);
  };
  std::string proto = p.proto == rules::kProtoTcp      ? "tcp"
                      : p.proto == rules::kProtoUdp    ? "udp"
                      : p.proto == rules::kProtoIcmp   ? "icmp"
                      : p.proto == rules::kProtoIcmpv6 ? "icmpv6"
                                                       : fmt::format("proto {}", p.proto);
  std::string out = fmt::format("{} {} -> {}", proto, host(s, p.sport), host(d, p.dport));
  if (p.proto == rules::kProtoTcp) out += fmt::format(" flags 0x{:02x}", p.tcp_flags);
  return out;
}

std::array<std::uint8_t, 16> random_address(std::uint8_t family, std::mt19937& rng) {
  std::array<std::uint8_t, 16> a{};
  if (family == 4) {
    std::uint32_t x = rng();
    for (int i = 0; i < 4; ++i) a[i] = static_cast<std::uint8_t>(x >> (24 - 8 * i));
    a[0] = static_cast<std::uint8_t>(1 + a[0] % 223);
  } else {
    for (auto& b : a) b = static_cast<std::uint8_t>(rng());
    a[0] = static_cast<std::uint8_t>(0x20 | (a[0] & 0x1f));  // 2000::/3
  }
  return a;
}

bool contains(const Prefix& p, const std::array<std::uint8_t, 16>& a) {
  for (int bit = 0; bit < p.len; ++bit) {
    std::uint8_t m = static_cast<std::uint8_t>(0x80 >> (bit % 8));
    if ((a[bit / 8] & m) != (p.addr[bit / 8] & m)) return false;
  }
  return true;
}

std::array<std::uint8_t, 16> address_in(const Prefix& p, std::mt19937& rng) {
  auto a = random_address(p.family == Family::V4 ? 4 : 6, rng);
  const int bits = p.family == Family::V4 ? 32 : 128;
  for (int bit = 0; bit < p.len && bit < bits; ++bit) {
    std::uint8_t m = static_cast<std::uint8_t>(0x80 >> (bit % 8));
    a[bit / 8] = static_cast<std::uint8_t>((a[bit / 8] & ~m) | (p.addr[bit / 8] & m));
  }
  if (p.family == Family::V4) std::fill(a.begin() + 4, a.end(), 0);
  return a;
}

std::optional<PacketFields> packet_for(const std::vector<rules::Rule>& rules, std::size_t index,
                                       std::mt19937& rng, int tries) {
  const rules::Rule& r = rules.at(index);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto in_range = [&](const rules::PortRange& pr) {
    return static_cast<std::uint16_t>(pr.lo + rng() % (static_cast<unsigned>(pr.hi - pr.lo) + 1));
  };
  const std::uint8_t flag_choices[] = {0x02, 0x10, 0x12, 0x18, 0x11};
  for (int t = 0; t < tries; ++t) {
    PacketFields p;
    p.family = r.family == Family::V4 ? 4 : r.family == Family::V6 ? 6 : (pick(2) ? 4 : 6);
    if (r.proto) {
      p.proto = *r.proto;
    } else {
      const std::uint8_t any[] = {rules::kProtoTcp, rules::kProtoUdp,
                                  p.family == 4 ? rules::kProtoIcmp : rules::kProtoIcmpv6, 47};
      p.proto = any[pick(4)];
    }
    auto addr = [&](const std::optional<rules::AddrMatch>& m) {
      return m && m->prefix ? address_in(*m->prefix, rng) : random_address(p.family, rng);
    };
    p.saddr = addr(r.saddr);
    p.daddr = addr(r.daddr);
    if (p.proto == rules::kProtoTcp || p.proto == rules::kProtoUdp) {
      p.sport = r.sport ? in_range(*r.sport) : static_cast<std::uint16_t>(1024 + pick(64512));
      p.dport = r.dport ? in_range(*r.dport) : static_cast<std::uint16_t>(1024 + pick(64512));
    }
    if (p.proto == rules::kProtoTcp)
      p.tcp_flags =
          static_cast<std::uint8_t>((flag_choices[pick(5)] & ~r.flags_mask) | (r.flags_value & r.flags_mask));
    if (rules::first_match(rules, p) == index) return p;
  }
  return std::nullopt;
}

std::vector<rules::Rule> parse_all(const std::vector<std::string>& texts) {
  std::vector<rules::Rule> out;
  out.reserve(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto r = rules::parse_rule(texts[i], i + 1);
    if (!r) {
      std::fprintf(stderr, "bench: workload rule does not parse: %s\n", r.error().message().c_str());
      std::abort();
    }
    out.push_back(*r);
  }
  return out;
}

}  // namespace xdpguard::bench
