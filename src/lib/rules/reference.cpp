#include "rules/reference.h"

#include <cstring>

namespace xdpguard::rules {
namespace {

bool prefix_contains(const Prefix& p, std::uint8_t family, const std::array<std::uint8_t, 16>& a) {
  if ((p.family == Family::V4) != (family == 4)) return false;
  std::uint8_t len = p.len;
  for (int i = 0; len > 0; ++i, len = len >= 8 ? len - 8 : 0) {
    std::uint8_t mask = len >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - len));
    if ((a[i] & mask) != (p.addr[i] & mask)) return false;
  }
  return true;
}

bool addr_ok(const std::optional<AddrMatch>& m, const PacketFields& p,
             const std::array<std::uint8_t, 16>& a, const SetMembership& in_set) {
  if (!m) return true;
  if (m->prefix) return prefix_contains(*m->prefix, p.family, a);
  return in_set && in_set(m->set, p.family, a);
}

bool port_ok(const std::optional<PortRange>& r, std::uint16_t v) {
  return !r || (v >= r->lo && v <= r->hi);
}

}  // namespace

std::optional<std::size_t> first_match(const std::vector<Rule>& rules, const PacketFields& p,
                                       const SetMembership& in_set) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    if (r.family == Family::V4 && p.family != 4) continue;
    if (r.family == Family::V6 && p.family != 6) continue;
    if (r.proto && *r.proto != p.proto) continue;
    bool l4 = r.sport || r.dport || r.flags_mask;
    if (l4 && p.frag) continue;  // no L4 header in a non-first fragment
    if (!port_ok(r.sport, p.sport) || !port_ok(r.dport, p.dport)) continue;
    if ((p.tcp_flags & r.flags_mask) != (r.flags_value & r.flags_mask)) continue;
    if (!addr_ok(r.saddr, p, p.saddr, in_set) || !addr_ok(r.daddr, p, p.daddr, in_set)) continue;
    return i;
  }
  return std::nullopt;
}

std::optional<SimVerdict> simulate(const CompiledRuleSet& cs, const PacketFields& p,
                                   const std::function<bool(std::uint32_t, bool)>& in_set) {
  auto find = [&](const xdpguard_cls_key& k) -> const xdpguard_cls_value* {
    for (const auto& [ek, ev] : cs.entries)
      if (std::memcmp(&ek, &k, sizeof k) == 0) return &ev;
    return nullptr;
  };
  auto mask_words = [](const std::array<std::uint8_t, 16>& a, unsigned len, bool v4, __u32 out[4]) {
    std::array<std::uint8_t, 16> m{};
    for (unsigned i = 0; i < (v4 ? 4u : 16u); ++i) {
      unsigned bits = len > i * 8 ? std::min(8u, len - i * 8) : 0;
      m[i] = static_cast<std::uint8_t>(a[i] & (bits ? (0xff << (8 - bits)) : 0));
    }
    std::memcpy(out, m.data(), 16);
  };
  std::optional<SimVerdict> best;
  for (std::uint32_t i = 0; i < cs.ntuples; ++i) {
    xdpguard_cls_key tk{};
    tk.kind = XDPGUARD_KEY_TUPLE;
    tk.tuple = static_cast<std::uint16_t>(i);
    const auto* tv = find(tk);
    if (!tv) break;
    const auto& t = tv->tuple;
    if (best && t.min_prio >= best->prio) break;
    if (t.family && t.family != p.family) continue;
    if (t.has_proto && t.proto != p.proto) continue;
    if (t.l4 && p.frag) continue;
    if (t.saddr_set && !(in_set && in_set(t.saddr_set - 1u, true))) continue;
    if (t.daddr_set && !(in_set && in_set(t.daddr_set - 1u, false))) continue;
    xdpguard_cls_key k{};
    k.kind = XDPGUARD_KEY_MATCH;
    k.tuple = static_cast<std::uint16_t>(i);
    k.family = t.family ? p.family : 0;
    k.proto = t.has_proto ? p.proto : 0;
    k.flags = p.tcp_flags & t.flags_mask;
    k.sport = static_cast<std::uint16_t>(p.sport & (t.sport_len ? (0xffff0000u >> t.sport_len) : 0));
    k.dport = static_cast<std::uint16_t>(p.dport & (t.dport_len ? (0xffff0000u >> t.dport_len) : 0));
    if (t.family && !t.saddr_set) mask_words(p.saddr, t.saddr_len, p.family == 4, k.saddr);
    if (t.family && !t.daddr_set) mask_words(p.daddr, t.daddr_len, p.family == 4, k.daddr);
    if (const auto* mv = find(k); mv && (!best || mv->match.prio < best->prio))
      best = SimVerdict{mv->match.slot, mv->match.action, mv->match.prio};
  }
  return best;
}

}  // namespace xdpguard::rules
