#include "oracle/reference.h"

#include <algorithm>
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

bool addr_ok(const std::optional<AddrMatch>& m, const PacketFields& p, const std::array<std::uint8_t, 16>& a,
             const SetMembership& in_set) {
  if (!m) return true;
  if (m->prefix) return prefix_contains(*m->prefix, p.family, a);
  return in_set && in_set(m->set, p.family, a);
}

bool port_ok(const std::optional<PortRange>& r, std::uint16_t v) { return !r || (v >= r->lo && v <= r->hi); }

// `vlan none`: no tag; `vlan N`: the outer (or only) tag is N, whatever
// follows; `vlan N inner M`: a second tag too, and it is M.
bool vlan_ok(const std::optional<VlanMatch>& m, const PacketFields& p) {
  if (!m) return true;
  if (m->none) return p.nvlan == 0;
  if (p.nvlan < 1 || p.vlan[0] != m->id) return false;
  return !m->inner || (p.nvlan >= 2 && p.vlan[1] == *m->inner);
}

// A value list holds v when one of its ranges does (absent: every value).
bool in_list(const std::optional<ValueList>& l, std::uint32_t v) {
  return !l || std::any_of(l->begin(), l->end(), [&](const ValueRange& x) { return x.lo <= v && v <= x.hi; });
}

}  // namespace

std::optional<std::size_t> first_match(const std::vector<Rule>& rules, const PacketFields& p,
                                       const SetMembership& in_set, const LimitOutcome& over_limit) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    if (r.family == Family::V4 && p.family != 4) continue;
    if (r.family == Family::V6 && p.family != 6) continue;
    if (r.proto && *r.proto != p.proto) continue;
    if (!vlan_ok(r.vlan, p)) continue;
    bool l4 = r.sport || r.dport || r.flags_mask || r.icmp_type || r.icmp_code;
    if (l4 && p.frag) continue;  // no L4 header in a non-first fragment
    if (!port_ok(r.sport, p.sport) || !port_ok(r.dport, p.dport)) continue;
    if ((p.tcp_flags & r.flags_mask) != (r.flags_value & r.flags_mask)) continue;
    if (!in_list(r.icmp_type, p.icmp_type) || !in_list(r.icmp_code, p.icmp_code)) continue;
    if (!in_list(r.length, p.ip_len) || !in_list(r.dscp, p.dscp)) continue;
    if ((p.frag_bits & r.frag_mask) != (r.frag_value & r.frag_mask)) continue;
    // (the comment is no match)
    if (!addr_ok(r.saddr, p, p.saddr, in_set) || !addr_ok(r.daddr, p, p.daddr, in_set)) continue;
    if (r.limit && over_limit && !over_limit(i)) continue;  // under the limit: on to later rules
    return i;
  }
  return std::nullopt;
}

bool ReferenceLimiter::over(std::size_t index, const Rule& r, const PacketFields& p, std::uint64_t now_ns) {
  const Limit& l = *r.limit;
  std::array<std::uint8_t, 17> key{};
  if (l.per_saddr) {
    key[16] = p.family;
    const unsigned len = p.family == 6 ? l.len6 : l.len4;
    for (unsigned bit = 0; bit < len; ++bit)
      key[bit / 8] |= static_cast<std::uint8_t>(p.saddr[bit / 8] & (0x80u >> (bit % 8)));
  }
  // A byte limit's packet costs its IP length, in the kernel's fixed point
  // (rules/limit.h: nft's floor(len * unit / rate) for per-second rates).
  const std::uint64_t cost = l.bytes ? byte_cost_ns(byte_cost(l), p.ip_len) : limit_cost_ns(l),
                      depth = limit_depth_ns(l);
  auto [it, fresh] = buckets_.try_emplace({index, key}, Bucket{depth, now_ns});
  Bucket& b = it->second;
  if (!fresh) {
    const std::uint64_t gained = now_ns > b.last ? now_ns - b.last : 0;
    b.tokens = std::min(depth, b.tokens + gained);
    b.last = std::max(b.last, now_ns);
  }
  if (b.tokens < cost) return true;
  b.tokens -= cost;
  return false;
}

LimitOutcome ReferenceLimiter::at(const std::vector<Rule>& rules, const PacketFields& p,
                                  std::uint64_t now_ns) {
  return [this, &rules, p, now_ns](std::size_t i) { return over(i, rules[i], p, now_ns); };
}

}  // namespace xdpguard::rules
