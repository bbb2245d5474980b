#include "oracle/nft.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "rules/printer.h"

namespace xdpguard::rules {

namespace {

std::string nft_limit(const Limit& l) {
  static constexpr const char* kUnits[] = {"second", "minute", "hour", "day"};
  if (l.bytes)
    return fmt::format("limit rate over {} bytes/{} burst {} bytes", l.rate, kUnits[static_cast<int>(l.unit)],
                       l.burst);
  return fmt::format("limit rate over {}/{} burst {} packets", l.rate, kUnits[static_cast<int>(l.unit)],
                     l.burst);
}

// The first `len` bits of an address of family f, as nft writes a mask.
std::string nft_mask(Family f, unsigned len) {
  Prefix m{f, {}, static_cast<std::uint8_t>(f == Family::V6 ? 128 : 32)};
  for (unsigned b = 0; b < len; ++b) m.addr[b / 8] |= static_cast<std::uint8_t>(0x80u >> (b % 8));
  return prefix_to_string(m);
}

// A value list as nft writes a value or an anonymous set: `8`, `8-11`,
// `{ 0, 3, 8-11 }`; `shift` is subtracted from every value first (IPv6's
// length field is the payload's: xdpguard's length - 40) and values below it
// dropped, as are values above `max` (the field's range). Empty: no value of
// the field can match.
std::string nft_values(const ValueList& l, std::uint32_t shift = 0, std::uint32_t max = 0xffffffffu) {
  std::vector<std::string> items;
  for (const ValueRange& x : l) {
    if (x.hi < shift || x.lo > max + shift) continue;
    const std::uint32_t lo = std::max(x.lo, shift) - shift, hi = std::min(x.hi - shift, max);
    items.push_back(lo == hi ? std::to_string(lo) : fmt::format("{}-{}", lo, hi));
  }
  if (items.size() <= 1) return items.empty() ? "" : items[0];
  return fmt::format("{{ {} }}", fmt::join(items, ", "));
}

// The fragmentation states of a packet (xdpguard_pkt.frag_bits without DF):
// not a fragment, first, middle, last fragment. Which of them satisfy the
// rule's frag bits?
struct FragState {
  std::uint8_t bits;
  const char* v4;  // the IPv4 frag-off & 0x3fff values (MF and offset)
  const char* v6;  // the IPv6 fragment header's state
};
constexpr FragState kFragStates[] = {
    {0, "0x0", "exthdr frag missing"},
    {kFragIsf | kFragLf, "0x1-0x1fff", "frag frag-off != 0 frag more-fragments 0"},
    {kFragIsf | kFragFf, "0x2000", "frag frag-off 0 frag more-fragments 1"},
    {kFragIsf, "0x2001-0x3fff", "frag frag-off != 0 frag more-fragments 1"},
};
// An IPv6 atomic fragment (offset 0, no more fragments) is no fragment either.
constexpr const char* kV6Atomic = "frag frag-off 0 frag more-fragments 0";

// The rule's `frag` as alternatives, each one nft expression (or "" for
// none): one rule per alternative, in order (a packet is in one state, so
// first-match order is kept). None: the rule matches no packet of the family.
std::vector<std::string> nft_frag(const Rule& r, Family f) {
  const std::uint8_t df = r.frag_mask & kFragDf;
  const std::uint8_t mask = r.frag_mask & static_cast<std::uint8_t>(~kFragDf);
  std::vector<const FragState*> ok;
  for (const auto& st : kFragStates)
    if ((st.bits & mask) == (r.frag_value & mask)) ok.push_back(&st);
  if (ok.empty()) return {};
  if (f == Family::V6) {
    if (df && (r.frag_value & kFragDf)) return {};  // IPv6 has no DF
    if (!mask) return {""};
    std::vector<std::string> out;
    for (const auto* st : ok) {
      out.emplace_back(st->v6);
      if (st->bits == 0) out.emplace_back(kV6Atomic);
    }
    return out;
  }
  std::string s;
  if (df) s = fmt::format("ip frag-off & 0x4000 {} 0 ", (r.frag_value & kFragDf) ? "!=" : "==");
  if (mask && ok.size() < std::size(kFragStates)) {
    // The states are the contiguous intervals 0, 1-0x1fff, 0x2000,
    // 0x2001-0x3fff of frag-off & 0x3fff: one set.
    std::vector<std::string> items;
    for (const auto* st : ok) items.emplace_back(st->v4);
    s += items.size() == 1 ? fmt::format("ip frag-off & 0x3fff {} ", items[0])
                           : fmt::format("ip frag-off & 0x3fff {{ {} }} ", fmt::join(items, ", "));
  }
  if (!s.empty()) s.pop_back();
  return {s};
}

}  // namespace

Result<std::vector<std::string>> to_nft(const Rule& r, const NftOptions& opts) {
  if (r.action != Action::Drop && r.action != Action::Pass)
    return fail(EINVAL, "nft translation: only pass and drop");
  const bool per_saddr = r.limit && r.limit->per_saddr;
  if (per_saddr && !opts.decls)
    return fail(EINVAL, "nft translation: a per-source limit needs set declarations");
  const bool uses_set = (r.saddr && !r.saddr->prefix) || (r.daddr && !r.daddr->prefix);
  // length, dscp and frag are fields of the IP header: one rule per family.
  const bool ip_fields = r.length || r.dscp || r.frag_mask;
  std::vector<Family> fams = {r.family};
  if (r.family == Family::Any && (uses_set || per_saddr || ip_fields)) fams = {Family::V4, Family::V6};
  // (ports and flags imply the protocol; icmp type and code are written
  // with it)
  const bool l4 = r.sport || r.dport || r.flags_mask;
  auto ports = [](const PortRange& p) {
    return p.lo == p.hi ? std::to_string(p.lo) : fmt::format("{}-{}", p.lo, p.hi);
  };
  // VLAN tags. `vlan id` reads the tag after an `ether type` of 8021q, or
  // of 8021ad when that is written (nft 1.0.6 misplaces `vlan id` after an
  // `ether type` set: one rule per tag protocol instead, and the same for
  // the inner tag's `vlan type`); xdpguard takes either protocol in either
  // place. A frame has one protocol per tag, so first-match order is kept.
  // In the netdev ingress hook the kernel has already moved the outer tag
  // out of the frame (skb_vlan_untag) and nft puts it back for `ether type`
  // and `vlan id`: what nft sees is the frame as sent, as for xdpguard.
  std::vector<std::string> vlans = {""};
  if (r.vlan) {
    static constexpr const char* kTpids[] = {"8021q", "8021ad"};
    vlans.clear();
    if (r.vlan->none) {
      vlans.emplace_back("ether type != { 8021q, 8021ad } ");
    } else {
      for (const char* outer : kTpids) {
        if (!r.vlan->inner) {
          vlans.push_back(fmt::format("ether type {} vlan id {} ", outer, r.vlan->id));
          continue;
        }
        for (const char* inner : kTpids)
          vlans.push_back(fmt::format("ether type {} vlan id {} vlan type {} vlan id {} ", outer, r.vlan->id,
                                      inner, *r.vlan->inner));
      }
    }
  }
  std::vector<std::string> out;
  for (Family f : fams) {
    const char* ip = f == Family::V6 ? "ip6" : "ip";
    // The FlowSpec matches of the IP header, for this family.
    std::string ip_matches;
    if (r.length) {
      // IPv4 `ip length` is the total length (0-65535); IPv6 `ip6 length`
      // the payload length: xdpguard's length - 40 (a length below 40 is no
      // IPv6 packet's).
      std::string v = f == Family::V6 ? nft_values(*r.length, 40, 65535) : nft_values(*r.length, 0, 65535);
      if (v.empty()) continue;  // no packet of this family has such a length
      ip_matches += fmt::format("{} length {} ", ip, v);
    }
    if (r.dscp) ip_matches += fmt::format("{} dscp {} ", ip, nft_values(*r.dscp));
    std::vector<std::string> frags = {""};
    if (r.frag_mask) frags = nft_frag(r, f);
    if (frags.empty()) continue;  // no packet of this family is in such a state
    if (frags.size() > 1 && r.limit)
      return fail(EINVAL, "nft translation: a limit on a rule split in several (IPv6 frag alternatives)");
    for (const auto& frag : frags)
      for (const auto& vlan : vlans) {
        std::string s = vlan;
        auto addr = [&](const AddrMatch& m) {
          return m.prefix ? prefix_to_string(*m.prefix)
                          : fmt::format("@{}_v{}", m.set, f == Family::V6 ? 6 : 4);
        };
        // The family, unless an address match implies it.
        if (f != Family::Any && !r.saddr && !r.daddr) s += fmt::format("meta protocol {} ", ip);
        if (r.saddr) s += fmt::format("{} saddr {} ", ip, addr(*r.saddr));
        if (r.daddr) s += fmt::format("{} daddr {} ", ip, addr(*r.daddr));
        // The protocol, unless a port or flag match implies it.
        if (r.proto && !l4) s += fmt::format("meta l4proto {} ", *r.proto);
        const char* proto = r.proto == kProtoTcp ? "tcp" : "udp";
        if (r.sport) s += fmt::format("{} sport {} ", proto, ports(*r.sport));
        if (r.dport) s += fmt::format("{} dport {} ", proto, ports(*r.dport));
        if (r.flags_mask) s += fmt::format("tcp flags & 0x{:x} == 0x{:x} ", r.flags_mask, r.flags_value);
        const char* icmp = r.proto == kProtoIcmpv6 ? "icmpv6" : "icmp";
        if (r.icmp_type) s += fmt::format("{} type {} ", icmp, nft_values(*r.icmp_type));
        if (r.icmp_code) s += fmt::format("{} code {} ", icmp, nft_values(*r.icmp_code));
        s += ip_matches;
        if (!frag.empty()) s += frag + " ";
        if (r.limit && !per_saddr) s += nft_limit(*r.limit) + " ";
        if (per_saddr) {
          const std::string set = fmt::format("lim{}_v{}", opts.index, f == Family::V6 ? 6 : 4);
          *opts.decls += fmt::format("  set {} {{ type {}; size 65535; flags dynamic; }}\n", set,
                                     f == Family::V6 ? "ipv6_addr" : "ipv4_addr");
          s += fmt::format("update @{} {{ {} saddr and {} {} }} ", set, ip,
                           nft_mask(f, f == Family::V6 ? r.limit->len6 : r.limit->len4), nft_limit(*r.limit));
        }
        if (!opts.counter.empty()) s += fmt::format("counter name \"{}\" ", opts.counter);
        s += r.action == Action::Drop ? "drop" : "accept";
        if (!r.comment.empty()) s += fmt::format(" comment \"{}\"", r.comment);
        out.push_back(std::move(s));
      }
  }
  return out;
}

}  // namespace xdpguard::rules
