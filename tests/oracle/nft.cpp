#include "oracle/nft.h"

#include <fmt/format.h>

#include "rules/printer.h"

namespace xdpguard::rules {

namespace {

std::string nft_limit(const Limit& l) {
  static constexpr const char* kUnits[] = {"second", "minute", "hour", "day"};
  return fmt::format("limit rate over {}/{} burst {} packets", l.rate, kUnits[static_cast<int>(l.unit)],
                     l.burst);
}

// The first `len` bits of an address of family f, as nft writes a mask.
std::string nft_mask(Family f, unsigned len) {
  Prefix m{f, {}, static_cast<std::uint8_t>(f == Family::V6 ? 128 : 32)};
  for (unsigned b = 0; b < len; ++b) m.addr[b / 8] |= static_cast<std::uint8_t>(0x80u >> (b % 8));
  return prefix_to_string(m);
}

}  // namespace

Result<std::vector<std::string>> to_nft(const Rule& r, const NftOptions& opts) {
  if (r.action != Action::Drop && r.action != Action::Pass)
    return fail(EINVAL, "nft translation: only pass and drop");
  const bool per_saddr = r.limit && r.limit->per_saddr;
  if (per_saddr && !opts.decls)
    return fail(EINVAL, "nft translation: a per-source limit needs set declarations");
  const bool uses_set = (r.saddr && !r.saddr->prefix) || (r.daddr && !r.daddr->prefix);
  std::vector<Family> fams = {r.family};
  if (r.family == Family::Any && (uses_set || per_saddr)) fams = {Family::V4, Family::V6};
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
  for (Family f : fams)
    for (const auto& vlan : vlans) {
      std::string s = vlan;
      const char* ip = f == Family::V6 ? "ip6" : "ip";
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
      out.push_back(std::move(s));
    }
  return out;
}

}  // namespace xdpguard::rules
