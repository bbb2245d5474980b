#include "support/rule_gen.h"

#include <arpa/inet.h>

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "rules/limits.h"
#include "rules/printer.h"

namespace xdpguard::test {

using namespace rules;

namespace {

// Value pools: the edges of each field, values nearby, and the common ones.
const std::vector<std::uint32_t> kIcmpPool = {0, 1, 3, 4, 5, 8, 11, 128, 129, 133, 135, 136, 254, 255};
const std::vector<std::uint32_t> kDscpPool = {0, 1, 8, 10, 12, 14, 18, 26, 34, 46, 48, 62, 63};
// IP lengths a frame can have here (20/40-byte headers up to about 200
// bytes of payload; MTU 1500), and the field's edges.
const std::vector<std::uint32_t> kLengthPool = {0,   20,  28,  39,  40,  41,  48,   60,    64,   84,
                                                100, 128, 200, 255, 256, 576, 1500, 65535, 65575};

}  // namespace

std::array<std::uint8_t, 16> RuleGen::addr(std::uint8_t family) {
  std::array<std::uint8_t, 16> a{};
  // A small pool, so that rules overlap and packets hit them. Each draw is
  // its own statement: the operands of + or | are unsequenced, and a seed
  // must give the same rules whatever the compiler.
  auto host = [this] {
    int block = pick(8);
    return static_cast<std::uint8_t>(block * 32 + pick(3));
  };
  if (family == 4) {
    auto third = static_cast<std::uint8_t>(pick(4));
    a = {198, 18, third, host()};
    if (coin(10))
      a = {static_cast<std::uint8_t>(raw()), static_cast<std::uint8_t>(raw()),
           static_cast<std::uint8_t>(raw()), static_cast<std::uint8_t>(raw())};
  } else {
    a = {0xfd, 0, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(pick(4))};
    a[15] = host();
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
  if (!sets_.empty() && coin(set_pct_)) {
    int side = pick(4);  // saddr, daddr, both, saddr
    if (side != 1) r.saddr = set_ref();
    if (side == 1 || side == 2) r.daddr = set_ref();
  }
  if (vlan_pct_ && coin(vlan_pct_)) {
    VlanMatch v;
    const int kind = pick(100);
    if (kind < 20) {
      v.none = true;
    } else {
      v.id = vlan_id();
      if (kind >= 70 && vlan_max_tags_ >= 2) v.inner = vlan_id();
    }
    r.vlan = v;
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
  if (flowspec_pct_ && coin(flowspec_pct_)) {
    const bool icmp = r.proto == kProtoIcmp || r.proto == kProtoIcmpv6;
    if (icmp && coin(60)) r.icmp_type = value_list(kMaxIcmpValue, kIcmpPool);
    if (icmp && coin(40)) r.icmp_code = value_list(kMaxIcmpValue, kIcmpPool);
    if (coin(40)) r.length = value_list(kMaxLength, kLengthPool);
    if (coin(40)) r.dscp = value_list(kMaxDscp, kDscpPool);
    if (coin(40)) {
      static const std::uint8_t bits[] = {kFragDf, kFragIsf, kFragFf, kFragLf};
      const int n = 1 + pick(2);
      for (int i = 0; i < n; ++i) {
        const std::uint8_t b = bits[pick(4)];
        r.frag_mask |= b;
        if (coin(50)) r.frag_value |= b;
      }
      r.frag_value &= r.frag_mask;
    }
    if (coin(20)) r.comment = fmt::format("gen {}", raw() % 1000);
    // The canonical text must fit the kernel's rule-text slot: long lists go.
    for (auto* l : {&r.length, &r.icmp_type, &r.icmp_code, &r.dscp})
      if (to_string(r).size() > kMaxRuleText && *l && (*l)->size() > 1) (*l)->resize(1);
    if (to_string(r).size() > kMaxRuleText) r.comment.clear();
  }
  return r;
}

ValueList RuleGen::value_list(std::uint32_t max, const std::vector<std::uint32_t>& pool) {
  auto value = [&]() -> std::uint32_t {
    if (coin(80)) return pool[static_cast<std::size_t>(pick(static_cast<int>(pool.size())))];
    return raw() % (max + 1);
  };
  const int n = coin(50) ? 1 : 2 + pick(coin(90) ? 3 : 20);
  std::vector<ValueRange> items;
  for (int i = 0; i < n; ++i) {
    const std::uint32_t a = value();
    const std::uint32_t b = coin(50) ? a : value();
    items.push_back({std::min(a, b), std::max(a, b)});
  }
  std::sort(items.begin(), items.end(), [](const ValueRange& x, const ValueRange& y) { return x.lo < y.lo; });
  ValueList out;
  for (const auto& x : items) {
    if (!out.empty() && x.lo <= out.back().hi + 1)
      out.back().hi = std::max(out.back().hi, x.hi);
    else
      out.push_back(x);
  }
  if (out.size() > kMaxValueRanges) out.resize(kMaxValueRanges);
  return out;
}

// A value inside the list (often at a range's edge), or just outside one.
std::uint32_t RuleGen::aim_at(const std::optional<ValueList>& l, std::uint32_t max,
                              const std::vector<std::uint32_t>& pool) {
  if (!l || coin(15)) return pool[static_cast<std::size_t>(pick(static_cast<int>(pool.size())))] % (max + 1);
  const ValueRange& x = (*l)[static_cast<std::size_t>(pick(static_cast<int>(l->size())))];
  const int how = pick(6);
  if (how == 0) return x.lo;
  if (how == 1) return x.hi;
  if (how == 2) return x.lo > 0 ? x.lo - 1 : x.lo;
  if (how == 3) return x.hi < max ? x.hi + 1 : x.hi;
  return x.lo + raw() % (x.hi - x.lo + 1);
}

void RuleGen::use_flowspec(int pct) { flowspec_pct_ = pct; }

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
  if (vlan_pct_) random_tags(p);
  if (flowspec_pct_) {
    if (!p.frag && (p.proto == kProtoIcmp || p.proto == kProtoIcmpv6)) {
      p.icmp_type = static_cast<std::uint8_t>(aim_at(std::nullopt, kMaxIcmpValue, kIcmpPool));
      p.icmp_code = static_cast<std::uint8_t>(coin(50) ? 0 : aim_at(std::nullopt, kMaxIcmpValue, kIcmpPool));
    }
    p.dscp = static_cast<std::uint8_t>(aim_at(std::nullopt, kMaxDscp, kDscpPool));
    p.ip_len = aim_at(std::nullopt, kMaxLength, kLengthPool);
    p.frag_bits = p.family == 4 && coin(30) ? kFragDf : 0;
  }
  return p;
}

std::uint16_t RuleGen::vlan_id() {
  static const std::uint16_t pool[] = {0, 1, 5, 100, 4094, 4095};
  if (coin(80)) return pool[pick(6)];
  return static_cast<std::uint16_t>(pick(4096));
}

void RuleGen::random_tags(PacketFields& p) {
  const int n = pick(100);
  p.nvlan = static_cast<std::uint8_t>(n < 40 ? 0 : (n < 75 || vlan_max_tags_ < 2) ? 1 : 2);
  p.vlan = {};
  for (unsigned i = 0; i < p.nvlan; ++i) p.vlan.at(i) = vlan_id();
}

void RuleGen::use_vlans(int pct, int max_tags) {
  vlan_pct_ = pct;
  vlan_max_tags_ = std::clamp(max_tags, 0, 2);
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
  // A set rule of either family: sometimes take the family of a member.
  const auto* set_match = r.saddr && !r.saddr->prefix   ? &*r.saddr
                          : r.daddr && !r.daddr->prefix ? &*r.daddr
                                                        : nullptr;
  if (r.family == Family::Any && set_match && !sets_.empty() && coin(50)) {
    for (const auto& s : sets_) {
      if (s.name != set_match->set || s.prefixes.empty()) continue;
      const Prefix& m = s.prefixes[static_cast<std::size_t>(pick(static_cast<int>(s.prefixes.size())))];
      std::uint8_t f = m.family == Family::V4 ? 4 : 6;
      if (p.family != f) {
        p.family = f;
        p.saddr = addr(f);
        p.daddr = addr(f);
        if (p.proto == kProtoIcmp || p.proto == kProtoIcmpv6) p.proto = f == 4 ? kProtoIcmp : kProtoIcmpv6;
      }
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
  if (!sets_.empty()) {
    if (r.saddr && !r.saddr->prefix) aim_at_set(r.saddr->set, p.family, p.saddr);
    if (r.daddr && !r.daddr->prefix) aim_at_set(r.daddr->set, p.family, p.daddr);
  }
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
  // The FlowSpec fields: near the rule's values, mostly; ICMP fields only
  // where there is an ICMP header.
  if (flowspec_pct_) {
    if (!p.frag && (p.proto == kProtoIcmp || p.proto == kProtoIcmpv6)) {
      p.icmp_type = static_cast<std::uint8_t>(aim_at(r.icmp_type, kMaxIcmpValue, kIcmpPool));
      p.icmp_code = static_cast<std::uint8_t>(aim_at(r.icmp_code, kMaxIcmpValue, kIcmpPool));
    } else {
      p.icmp_type = p.icmp_code = 0;
    }
    p.dscp = static_cast<std::uint8_t>(aim_at(r.dscp, kMaxDscp, kDscpPool));
    p.ip_len = aim_at(r.length, kMaxLength, kLengthPool);
    // DF as the rule asks, mostly (the other bits follow the fragment drawn).
    const bool df =
        p.family == 4 && ((r.frag_mask & kFragDf) && !coin(20) ? (r.frag_value & kFragDf) != 0 : coin(30));
    p.frag_bits = df ? kFragDf : 0;
  }
  // The rule's tags, mostly (the random part keeps near misses).
  if (r.vlan && !coin(15)) {
    if (r.vlan->none) {
      p.nvlan = 0;
      p.vlan = {};
    } else {
      if (p.nvlan == 0) p.nvlan = 1;
      p.vlan[0] = r.vlan->id;
      if (r.vlan->inner && vlan_max_tags_ >= 2) {
        p.nvlan = 2;
        p.vlan[1] = *r.vlan->inner;
      }
    }
  }
  return p;
}

// ---- named sets ------------------------------------------------------------

namespace {

void mask_to(std::array<std::uint8_t, 16>& a, int len) {
  for (int i = 0; i < 16; ++i) {
    int bits = std::clamp(len - i * 8, 0, 8);
    a[static_cast<std::size_t>(i)] &= static_cast<std::uint8_t>(bits ? 0xff << (8 - bits) : 0);
  }
}

bool prefix_holds(const Prefix& p, std::uint8_t family, const std::array<std::uint8_t, 16>& a) {
  if ((p.family == Family::V4 ? 4 : 6) != family) return false;
  auto x = a;
  mask_to(x, p.len);
  return x == p.addr;
}

}  // namespace

bool set_contains(const NamedSet& s, std::uint8_t family, const std::array<std::uint8_t, 16>& addr) {
  return std::any_of(s.prefixes.begin(), s.prefixes.end(),
                     [&](const Prefix& p) { return prefix_holds(p, family, addr); });
}

std::vector<NamedSet> RuleGen::make_sets(int n) {
  static const int lens4[] = {8, 16, 20, 24, 24, 28, 31, 32, 32, 32};
  static const int lens6[] = {16, 32, 48, 64, 64, 100, 120, 127, 128, 128};
  std::vector<NamedSet> out;
  for (int i = 0; i < n; ++i) {
    NamedSet s;
    s.name = fmt::format("s{}", i);
    int fams = pick(100);  // 15% IPv4 only, 15% IPv6 only
    int count = 1 + pick(40);
    for (int k = 0; k < count; ++k) {
      std::uint8_t f = fams < 15 ? 4 : fams < 30 ? 6 : (coin(50) ? 4 : 6);
      int len = f == 4 ? lens4[pick(10)] : lens6[pick(10)];
      if (coin(2)) len = 0;
      // Mostly the small pool the rules and random packets use, so that
      // sets, literal prefixes and packets overlap; sometimes anywhere.
      Prefix p = coin(70) ? Prefix{f == 4 ? Family::V4 : Family::V6, addr(f), 0} : wide_prefix(f, len);
      p.len = static_cast<std::uint8_t>(len);
      mask_to(p.addr, len);
      if (f == 4) std::fill(p.addr.begin() + 4, p.addr.end(), 0);
      s.prefixes.push_back(p);
    }
    out.push_back(std::move(s));
  }
  return out;
}

void RuleGen::use_sets(std::vector<NamedSet> sets, int pct) {
  sets_ = std::move(sets);
  set_pct_ = pct;
}

rules::SetMembership RuleGen::membership() const {
  auto sets = std::make_shared<const std::vector<NamedSet>>(sets_);
  return [sets](const std::string& name, std::uint8_t family, const std::array<std::uint8_t, 16>& a) {
    for (const auto& s : *sets)
      if (s.name == name) return set_contains(s, family, a);
    return false;
  };
}

AddrMatch RuleGen::set_ref() {
  return AddrMatch{std::nullopt, sets_[static_cast<std::size_t>(pick(static_cast<int>(sets_.size())))].name};
}

void RuleGen::aim_at_set(const std::string& set, std::uint8_t family, std::array<std::uint8_t, 16>& a) {
  std::vector<const Prefix*> members;
  for (const auto& s : sets_)
    if (s.name == set)
      for (const auto& p : s.prefixes)
        if ((p.family == Family::V4 ? 4 : 6) == family) members.push_back(&p);
  if (members.empty() || coin(15)) return;  // the random address: usually outside
  const Prefix& m = *members[static_cast<std::size_t>(pick(static_cast<int>(members.size())))];
  for (int i = 0; i < 16; ++i) {
    int bits = std::clamp(static_cast<int>(m.len) - i * 8, 0, 8);
    auto mask = static_cast<std::uint8_t>(bits ? 0xff << (8 - bits) : 0);
    auto& b = a[static_cast<std::size_t>(i)];
    b = static_cast<std::uint8_t>((m.addr[static_cast<std::size_t>(i)] & mask) | (b & ~mask));
  }
  // A near miss: the prefix's last bit flipped puts the address just outside
  // this member (perhaps inside another one).
  if (m.len > 0 && coin(20)) a[(m.len - 1u) / 8] ^= static_cast<std::uint8_t>(0x80u >> ((m.len - 1u) % 8));
  if (family == 4) std::fill(a.begin() + 4, a.end(), 0);
}

// ---- big mode ---------------------------------------------------------------

Prefix RuleGen::wide_prefix(std::uint8_t family, int len) {
  Prefix p;
  p.family = family == 4 ? Family::V4 : Family::V6;
  std::array<std::uint8_t, 16> a{};
  for (auto& b : a) b = static_cast<std::uint8_t>(raw());
  if (family == 4) {
    // 198.18.0.0/15 holds 512 /24s: enough for thousands of rules with
    // few per trie entry; shorter prefixes spread over the whole space.
    if (len >= 16 && coin(75)) a[0] = 198, a[1] = static_cast<std::uint8_t>(18 + pick(2));
    std::fill(a.begin() + 4, a.end(), 0);
  } else {
    if (len > 8 || coin(50)) a[0] = 0xfd;
    if (coin(60)) {  // clustered: fd00::/48-ish networks, hosts below
      for (int i = 1; i < 6; ++i) a[static_cast<std::size_t>(i)] = 0;
      a[6] = static_cast<std::uint8_t>(pick(4));
      a[7] = static_cast<std::uint8_t>(pick(16));
    }
  }
  p.len = static_cast<std::uint8_t>(len);
  mask_to(a, len);
  p.addr = a;
  return p;
}

std::uint16_t RuleGen::wide_port() { return coin(15) ? port() : static_cast<std::uint16_t>(raw()); }

PortRange RuleGen::wide_range() {
  if (coin(10)) return range();
  auto lo = static_cast<std::uint32_t>(raw() % 65536);
  static const std::uint32_t widths[] = {16, 512, 8192};
  auto r = static_cast<std::uint32_t>(raw());
  std::uint32_t hi = std::min<std::uint32_t>(65535, lo + r % widths[pick(3)]);
  return {static_cast<std::uint16_t>(lo), static_cast<std::uint16_t>(hi)};
}

RuleGen::Shape RuleGen::big_shape() {
  static const int lens4[] = {8, 12, 16, 19, 20, 22, 24, 24, 24, 26, 28, 30, 31, 32, 32, 32};
  static const int lens6[] = {8,  16, 29, 32,  40,  48,  56,  60,  64,  64, 64,
                              72, 80, 96, 104, 112, 120, 124, 127, 128, 128};
  Shape s;
  // Most shapes share a few family + protocol partitions.
  int part = pick(100);
  if (part < 25)
    s.family = Family::V4, s.proto = kProtoTcp;
  else if (part < 40)
    s.family = Family::V4, s.proto = kProtoUdp;
  else if (part < 55)
    s.family = Family::V6, s.proto = kProtoTcp;
  else if (part < 65)
    s.family = Family::V6, s.proto = kProtoUdp;
  else if (part < 72)
    s.family = Family::V4;
  else if (part < 79)
    s.family = Family::V6;
  else if (part < 86)
    s.proto = coin(50) ? kProtoTcp : kProtoUdp;  // either family
  else if (part < 92)
    s.family = coin(50) ? Family::V4 : Family::V6,
    s.proto = s.family == Family::V4 ? kProtoIcmp : kProtoIcmpv6;
  else
    s.family = static_cast<Family>(pick(3)), s.proto = static_cast<std::uint8_t>(coin(50) ? 47 : 132);
  if (s.family != Family::Any) {
    const bool v4 = s.family == Family::V4;
    if (coin(65)) s.slen = v4 ? lens4[pick(16)] : lens6[pick(21)];
    if (coin(40)) s.dlen = v4 ? lens4[pick(16)] : lens6[pick(21)];
  }
  if (!sets_.empty()) {
    if (coin(12)) s.sset = true, s.slen = -1;
    if (coin(6)) s.dset = true, s.dlen = -1;
  }
  const bool l4 = s.proto == kProtoTcp || s.proto == kProtoUdp;
  if (l4) {
    if (coin(70)) s.dport = coin(65) ? 1 : 2;
    if (coin(25)) s.sport = coin(60) ? 1 : 2;
  }
  if (s.proto == kProtoTcp && coin(20)) {
    static const std::uint8_t bits[] = {0x01, 0x02, 0x04, 0x10};  // fin syn rst ack
    std::uint8_t first = bits[pick(4)];
    s.flags_mask = static_cast<std::uint8_t>(first | (coin(40) ? bits[pick(4)] : 0));
  }
  // Every shape has something that tells its rules apart.
  if (s.slen < 0 && s.dlen < 0 && !s.sset && !s.dset && !s.sport && !s.dport) {
    if (l4) {
      s.dport = 1;
    } else {
      if (s.family == Family::Any) s.family = Family::V4;
      s.slen = s.family == Family::V4 ? lens4[pick(16)] : lens6[pick(21)];
    }
  }
  return s;
}

Rule RuleGen::big_rule(const Shape& s) {
  Rule r;
  r.action = coin(50) ? Action::Drop : Action::Pass;
  r.family = s.family;
  r.proto = s.proto;
  const std::uint8_t f = s.family == Family::V4 ? 4 : 6;
  if (s.slen >= 0) r.saddr = AddrMatch{wide_prefix(f, s.slen), ""};
  if (s.dlen >= 0) r.daddr = AddrMatch{wide_prefix(f, s.dlen), ""};
  if (s.sset) r.saddr = set_ref();
  if (s.dset) r.daddr = set_ref();
  if (s.sport) r.sport = s.sport == 1 ? PortRange{wide_port(), 0} : wide_range();
  if (s.dport) r.dport = s.dport == 1 ? PortRange{wide_port(), 0} : wide_range();
  if (r.sport && s.sport == 1) r.sport->hi = r.sport->lo;
  if (r.dport && s.dport == 1) r.dport->hi = r.dport->lo;
  r.flags_mask = s.flags_mask;
  r.flags_value = static_cast<std::uint8_t>(raw() & s.flags_mask);
  return r;
}

std::vector<Rule> RuleGen::big_rules(int n, int shapes) {
  std::vector<Shape> sh;
  std::vector<double> cum;
  double total = 0;
  for (int i = 0; i < shapes; ++i) {
    sh.push_back(big_shape());
    total += 1.0 / (i + 1);  // Zipf: the first shapes hold most rules
    cum.push_back(total);
  }
  std::vector<Rule> out;
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    double u = total * (raw() / 4294967296.0);
    auto k = static_cast<std::size_t>(std::lower_bound(cum.begin(), cum.end(), u) - cum.begin());
    out.push_back(big_rule(sh[std::min(k, sh.size() - 1)]));
  }
  return out;
}

std::string ntop(std::uint8_t family, const std::array<std::uint8_t, 16>& a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == 4 ? AF_INET : AF_INET6, a.data(), buf, sizeof buf);
  return buf;
}

Bytes frame_for(PacketFields& p, RuleGen& g, std::uint32_t tag, bool double_vlan) {
  Packet pk;
  pk.eth("02:00:00:00:00:02", fmt::format("02:d1:{:02x}:{:02x}:{:02x}:{:02x}", (tag >> 24) & 0xff,
                                          (tag >> 16) & 0xff, (tag >> 8) & 0xff, tag & 0xff));
  if (g.vlans()) {
    // p's tags: one (802.1Q, at times 802.1ad), or an outer S-tag (at times
    // a second 802.1Q tag) over an 802.1Q C-tag.
    if (p.nvlan == 1) {
      if (g.coin(15))
        pk.vlan_ad(p.vlan[0]);
      else
        pk.vlan(p.vlan[0]);
    } else if (p.nvlan >= 2) {
      if (g.coin(20))
        pk.vlan(p.vlan[0]);
      else
        pk.vlan_ad(p.vlan[0]);
      pk.vlan(p.vlan[1]);
    }
  } else {
    p.nvlan = 0;
    p.vlan = {};
    if (double_vlan && g.coin(10)) p.vlan[p.nvlan++] = static_cast<std::uint16_t>(1 + g.pick(4094));
    if (p.nvlan) pk.vlan_ad(p.vlan[0]);
    if (g.coin(15)) {
      p.vlan[p.nvlan] = static_cast<std::uint16_t>(1 + g.pick(4094));
      pk.vlan(p.vlan[p.nvlan++]);
    }
  }
  bool first_frag = !p.frag && g.coin(5);
  // The fragment bits follow what is written (DF drawn in flowspec mode).
  const bool flowspec = g.flowspec();
  const bool df = flowspec && p.family == 4 && (p.frag_bits & kFragDf);
  p.frag_bits = df ? kFragDf : 0;
  // (Each draw its own statement, in the order g++ evaluated the call
  // arguments these replace, right to left: seeds keep their frames.)
  if (p.family == 4) {
    pk.ipv4(ntop(4, p.saddr), ntop(4, p.daddr));
    if (flowspec) pk.tos(static_cast<std::uint8_t>(p.dscp << 2 | (g.coin(20) ? 1 : 0)));
    if (df) pk.dont_fragment();
    if (g.coin(15)) pk.ip_options({0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00});
    // (offset 1, 8 bytes, is an unsafe fragment: dropped whatever the rules)
    if (p.frag) {
      const bool more = g.coin(50);
      const auto offset = static_cast<std::uint16_t>(2 + g.pick(100));
      pk.fragment(offset, more);
      p.frag_bits |= kFragIsf | (more ? 0 : kFragLf);
    }
    if (first_frag) {
      pk.fragment(0, true);
      p.frag_bits |= kFragIsf | kFragFf;
    }
  } else {
    pk.ipv6(ntop(6, p.saddr), ntop(6, p.daddr));
    if (flowspec) pk.traffic_class(static_cast<std::uint8_t>(p.dscp << 2 | (g.coin(20) ? 2 : 0)));
    if (g.coin(20)) pk.hop_by_hop();
    if (g.coin(10)) pk.dest_opts();
    if (g.coin(10)) pk.routing({ntop(6, p.daddr)}, 0);
    // Long chains (2 to 20 more headers): walked to the end like any other.
    if (g.coin(10))
      for (int k = 2 + g.pick(19); k > 0; --k) k % 2 ? pk.dest_opts() : pk.routing({}, 0);
    if (p.frag) {
      const std::uint32_t id = g.raw();
      const bool more = g.coin(50);
      const auto offset = static_cast<std::uint16_t>(2 + g.pick(100));
      pk.fragment6(offset, more, id);
      p.frag_bits |= kFragIsf | (more ? 0 : kFragLf);
    }
    if (first_frag) {
      pk.fragment6(0, true, g.raw());
      p.frag_bits |= kFragIsf | kFragFf;
    }
  }
  if (!flowspec && !p.frag && (p.proto == kProtoIcmp || p.proto == kProtoIcmpv6)) {
    // The echo request written below, as it always was.
    p.icmp_type = p.proto == kProtoIcmp ? 8 : 128;
    p.icmp_code = 0;
  }
  switch (p.proto) {
    case kProtoTcp: pk.tcp(p.sport, p.dport).flags(p.tcp_flags); break;
    case kProtoUdp: pk.udp(p.sport, p.dport); break;
    case kProtoIcmp: flowspec ? pk.icmp(p.icmp_type, p.icmp_code) : pk.icmp(); break;
    case kProtoIcmpv6: flowspec ? pk.icmp6(p.icmp_type, p.icmp_code) : pk.icmp6(); break;
    default: pk.proto(p.proto); break;
  }
  if (p.frag) p.icmp_type = p.icmp_code = 0;  // no ICMP header the rules see
  const std::size_t l3_off = 14 + 4u * p.nvlan;
  std::size_t payload = static_cast<std::size_t>(g.pick(24));
  if (flowspec && !g.coin(20)) {
    // The length asked for, where the headers leave room (and no jumbo).
    const std::size_t headers = pk.size() - l3_off;
    if (p.ip_len >= headers && p.ip_len <= 1500) payload = p.ip_len - headers;
  }
  pk.payload(payload);
  Bytes out = pk.bytes();
  p.ip_len = static_cast<std::uint32_t>(out.size() - l3_off);
  return out;
}

}  // namespace xdpguard::test
