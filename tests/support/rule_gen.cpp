#include "support/rule_gen.h"

#include <arpa/inet.h>

#include <algorithm>

#include <fmt/format.h>

namespace xdpguard::test {

using namespace rules;

std::array<std::uint8_t, 16> RuleGen::addr(std::uint8_t family) {
  std::array<std::uint8_t, 16> a{};
  // A small pool, so that rules overlap and packets hit them.
  if (family == 4) {
    a = {198, 18, static_cast<std::uint8_t>(pick(4)), static_cast<std::uint8_t>(pick(8) * 32 + pick(3))};
    if (coin(10)) a = {static_cast<std::uint8_t>(raw()), static_cast<std::uint8_t>(raw()),
                       static_cast<std::uint8_t>(raw()), static_cast<std::uint8_t>(raw())};
  } else {
    a = {0xfd, 0, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(pick(4))};
    a[15] = static_cast<std::uint8_t>(pick(8) * 32 + pick(3));
    if (coin(10))
      for (int i = 1; i < 16; ++i) a[i] = static_cast<std::uint8_t>(raw());
  }
  return a;
}

Prefix RuleGen::prefix(std::uint8_t family) {
  Prefix p;
  p.family = family == 4 ? Family::V4 : Family::V6;
  p.addr = addr(family);
  static const int lens4[] = {0, 8, 16, 24, 24, 30, 32, 32};
  static const int lens6[] = {0, 32, 48, 64, 64, 120, 127, 128};
  p.len = static_cast<std::uint8_t>(family == 4 ? lens4[pick(8)] : lens6[pick(8)]);
  if (coin(5)) p.len = static_cast<std::uint8_t>(pick(family == 4 ? 33 : 129));
  for (int i = 0; i < 16; ++i) {
    int bits = std::clamp(static_cast<int>(p.len) - i * 8, 0, 8);
    p.addr[i] &= static_cast<std::uint8_t>(bits ? 0xff << (8 - bits) : 0);
  }
  return p;
}

std::uint16_t RuleGen::port() {
  static const std::uint16_t ports[] = {0, 1, 22, 53, 80, 443, 1023, 1024, 8080, 65535};
  return coin(75) ? ports[pick(10)] : static_cast<std::uint16_t>(raw());
}

PortRange RuleGen::range() {
  static const PortRange common[] = {{0, 1023}, {1024, 65535}, {6000, 6063}, {33434, 33534}, {0, 65535}};
  if (coin(55)) {
    auto p = port();
    return {p, p};
  }
  if (coin(70)) return common[pick(5)];
  auto a = port(), b = port();
  return {std::min(a, b), std::max(a, b)};
}

Rule RuleGen::rule() {
  Rule r;
  r.action = coin(50) ? Action::Drop : Action::Pass;
  int fam = pick(3);
  r.family = fam == 0 ? Family::Any : fam == 1 ? Family::V4 : Family::V6;
  int proto = pick(6);
  if (proto == 1 || proto == 4) r.proto = kProtoTcp;
  if (proto == 2) r.proto = kProtoUdp;
  if (proto == 3) {
    if (r.family == Family::Any) r.family = coin(50) ? Family::V4 : Family::V6;
    r.proto = r.family == Family::V6 ? kProtoIcmpv6 : kProtoIcmp;
  }
  if (proto == 5 && coin(30)) r.proto = static_cast<std::uint8_t>(coin(50) ? 47 : 132);
  if (r.family != Family::Any) {
    std::uint8_t f = r.family == Family::V4 ? 4 : 6;
    if (coin(50)) r.saddr = AddrMatch{prefix(f), ""};
    if (coin(35)) r.daddr = AddrMatch{prefix(f), ""};
  }
  if (r.proto == kProtoTcp || r.proto == kProtoUdp) {
    if (coin(25)) r.sport = range();
    if (coin(55)) r.dport = range();
  }
  if (r.proto == kProtoTcp && coin(30)) {
    static const std::uint8_t bits[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80};
    int n = 1 + pick(2);
    for (int i = 0; i < n; ++i) {
      std::uint8_t b = bits[coin(60) ? (coin(50) ? 1 : 4) : pick(8)];  // syn/ack favoured
      r.flags_mask |= b;
      if (coin(50)) r.flags_value |= b;
    }
    r.flags_value &= r.flags_mask;
  }
  return r;
}

std::vector<Rule> RuleGen::rules(int n) {
  std::vector<Rule> out;
  for (int i = 0; i < n; ++i) out.push_back(rule());
  return out;
}

PacketFields RuleGen::random_packet() {
  PacketFields p;
  p.family = coin(50) ? 4 : 6;
  static const std::uint8_t protos[] = {kProtoTcp, kProtoTcp, kProtoUdp, kProtoUdp, 0, 47, 132};
  p.proto = protos[pick(7)];
  if (p.proto == 0) p.proto = p.family == 4 ? kProtoIcmp : kProtoIcmpv6;
  p.saddr = addr(p.family);
  p.daddr = addr(p.family);
  p.frag = coin(5);
  if (!p.frag && (p.proto == kProtoTcp || p.proto == kProtoUdp)) {
    p.sport = port();
    p.dport = port();
  }
  if (!p.frag && p.proto == kProtoTcp) p.tcp_flags = static_cast<std::uint8_t>(raw());
  return p;
}

PacketFields RuleGen::packet_for(const Rule& r) {
  PacketFields p = random_packet();
  if (coin(10)) return p;  // near misses come from the random part
  if (r.family == Family::V4 || r.family == Family::V6) {
    std::uint8_t f = r.family == Family::V4 ? 4 : 6;
    if (p.family != f) {
      p.family = f;
      p.saddr = addr(f);
      p.daddr = addr(f);
      if (p.proto == kProtoIcmp || p.proto == kProtoIcmpv6) p.proto = f == 4 ? kProtoIcmp : kProtoIcmpv6;
    }
  }
  if (r.proto) p.proto = *r.proto;
  auto inside = [&](const std::optional<AddrMatch>& m, std::array<std::uint8_t, 16>& a) {
    if (!m || !m->prefix) return;
    const Prefix& px = *m->prefix;
    for (int i = 0; i < 16; ++i) {
      int bits = std::clamp(static_cast<int>(px.len) - i * 8, 0, 8);
      std::uint8_t mask = static_cast<std::uint8_t>(bits ? 0xff << (8 - bits) : 0);
      a[i] = static_cast<std::uint8_t>((px.addr[i] & mask) | (a[i] & ~mask));
    }
    if (p.family == 4) std::fill(a.begin() + 4, a.end(), 0);
  };
  inside(r.saddr, p.saddr);
  inside(r.daddr, p.daddr);
  p.frag = coin(4);
  if (p.proto == kProtoTcp || p.proto == kProtoUdp) {
    auto in_range = [&](const std::optional<PortRange>& pr) -> std::uint16_t {
      if (!pr) return port();
      if (coin(30)) return coin(50) ? pr->lo : pr->hi;
      return static_cast<std::uint16_t>(pr->lo + raw() % (static_cast<std::uint32_t>(pr->hi) - pr->lo + 1));
    };
    p.sport = in_range(r.sport);
    p.dport = in_range(r.dport);
  } else {
    p.sport = p.dport = 0;
  }
  if (p.proto == kProtoTcp) {
    p.tcp_flags = static_cast<std::uint8_t>((raw() & ~r.flags_mask) | (r.flags_value & r.flags_mask));
  } else {
    p.tcp_flags = 0;
  }
  if (p.frag) p.sport = p.dport = 0, p.tcp_flags = 0;
  return p;
}

std::string ntop(std::uint8_t family, const std::array<std::uint8_t, 16>& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == 4 ? AF_INET : AF_INET6, a.data(), buf, sizeof buf);
  return buf;
}

Bytes frame_for(const PacketFields& p, RuleGen& g, std::uint32_t tag, bool double_vlan) {
  Packet pk;
  pk.eth("02:00:00:00:00:02", fmt::format("02:d1:{:02x}:{:02x}:{:02x}:{:02x}", (tag >> 24) & 0xff,
                                          (tag >> 16) & 0xff, (tag >> 8) & 0xff, tag & 0xff));
  if (double_vlan && g.coin(10)) pk.vlan_ad(static_cast<std::uint16_t>(1 + g.pick(4094)));
  if (g.coin(15)) pk.vlan(static_cast<std::uint16_t>(1 + g.pick(4094)));
  bool first_frag = !p.frag && g.coin(5);
  if (p.family == 4) {
    pk.ipv4(ntop(4, p.saddr), ntop(4, p.daddr));
    if (g.coin(15)) pk.ip_options({0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00});
    if (p.frag) pk.fragment(static_cast<std::uint16_t>(1 + g.pick(100)), g.coin(50));
    if (first_frag) pk.fragment(0, true);
  } else {
    pk.ipv6(ntop(6, p.saddr), ntop(6, p.daddr));
    if (g.coin(20)) pk.hop_by_hop();
    if (g.coin(10)) pk.dest_opts();
    if (g.coin(10)) pk.routing({ntop(6, p.daddr)}, 0);
    if (p.frag) pk.fragment6(static_cast<std::uint16_t>(1 + g.pick(100)), g.coin(50), g.raw());
    if (first_frag) pk.fragment6(0, true, g.raw());
  }
  switch (p.proto) {
    case kProtoTcp: pk.tcp(p.sport, p.dport).flags(p.tcp_flags); break;
    case kProtoUdp: pk.udp(p.sport, p.dport); break;
    case kProtoIcmp: pk.icmp(); break;
    case kProtoIcmpv6: pk.icmp6(); break;
    default: pk.proto(p.proto); break;
  }
  pk.payload(static_cast<std::size_t>(g.pick(24)));
  return pk.bytes();
}

}  // namespace xdpguard::test
