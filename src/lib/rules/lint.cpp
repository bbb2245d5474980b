#include "rules/lint.h"

#include <set>
#include <string>
#include <unordered_map>

#include <fmt/format.h>

#include "rules/printer.h"

namespace xdpguard::rules {
namespace {

// Matches on the L4 header: never met by a non-first fragment.
bool has_l4(const Rule& r) { return r.sport || r.dport || r.flags_mask || r.icmp_type || r.icmp_code; }

bool has_matches(const Rule& r) {
  return r.family != Family::Any || r.proto || r.saddr || r.daddr || r.vlan || has_l4(r) || r.length ||
         r.dscp || r.frag_mask;
}

// Is every address of b inside a? (Host bits are clear in both.)
bool prefix_contains(const Prefix& a, const Prefix& b) {
  if (a.family != b.family || a.len > b.len) return false;
  for (std::size_t i = 0, len = a.len; len > 0; ++i, len = len >= 8 ? len - 8 : 0) {
    auto mask = static_cast<std::uint8_t>(len >= 8 ? 0xff : 0xff << (8 - len));
    if ((a.addr[i] & mask) != (b.addr[i] & mask)) return false;
  }
  return true;
}

// Does the earlier address match `a` hold for every packet the later rule
// (whose match is `b`, whose family is `family`) accepts?
bool addr_covers(const std::optional<AddrMatch>& a, const std::optional<AddrMatch>& b, Family family) {
  if (!a) return true;
  if (a->prefix) {
    // A /0 of the later rule's (certain) family holds for all its packets.
    if (a->prefix->len == 0 && family == a->prefix->family) return true;
    return b && b->prefix && prefix_contains(*a->prefix, *b->prefix);
  }
  return b && !b->prefix && b->set == a->set;
}

bool port_covers(const std::optional<PortRange>& a, const std::optional<PortRange>& b) {
  if (!a) return true;
  if (!b) return a->lo == 0 && a->hi == 65535;  // all ports (fragments handled by the caller)
  return a->lo <= b->lo && b->hi <= a->hi;
}

// Does every frame the later rule's vlan match `b` accepts hold for `a`?
bool vlan_covers(const std::optional<VlanMatch>& a, const std::optional<VlanMatch>& b) {
  if (!a) return true;
  if (!b) return false;
  if (a->none || b->none) return a->none && b->none;
  if (a->id != b->id) return false;
  return !a->inner || a->inner == b->inner;
}

// Does every value the later rule's list `b` accepts (absent: every value
// 0..max) lie in the earlier rule's list `a`? Both are normalised (sorted,
// merged), so each range of b must lie inside one range of a.
bool values_cover(const std::optional<ValueList>& a, const std::optional<ValueList>& b, std::uint32_t max) {
  if (!a) return true;
  const ValueList all{{0, max}};
  const ValueList& later = b ? *b : all;
  for (const ValueRange& x : later) {
    bool inside = false;
    for (const ValueRange& y : *a) inside = inside || (y.lo <= x.lo && x.hi <= y.hi);
    if (!inside) return false;
  }
  return true;
}

}  // namespace

bool covers(const Rule& a, const Rule& b) {
  // A rule with a limit lets the packets under it go on: it covers nothing.
  if (a.limit) return false;
  if (a.family != Family::Any && a.family != b.family) return false;
  if (a.proto && a.proto != b.proto) return false;
  if (!vlan_covers(a.vlan, b.vlan)) return false;
  // a's port/flag match excludes non-first fragments; b must exclude them too.
  if (has_l4(a) && !has_l4(b)) return false;
  if (!addr_covers(a.saddr, b.saddr, b.family) || !addr_covers(a.daddr, b.daddr, b.family)) return false;
  if (!port_covers(a.sport, b.sport) || !port_covers(a.dport, b.dport)) return false;
  // a tests a subset of b's flags, expecting the same values.
  if ((a.flags_mask & b.flags_mask) != a.flags_mask) return false;
  if ((a.flags_value & a.flags_mask) != (b.flags_value & a.flags_mask)) return false;
  // Value lists: a's holds every value b's does (the L4 ones' fragments are
  // handled above with has_l4).
  if (!values_cover(a.icmp_type, b.icmp_type, kMaxIcmpValue)) return false;
  if (!values_cover(a.icmp_code, b.icmp_code, kMaxIcmpValue)) return false;
  if (!values_cover(a.length, b.length, kMaxLength)) return false;
  if (!values_cover(a.dscp, b.dscp, kMaxDscp)) return false;
  // Fragment bits as TCP flags: a tests a subset of b's, expecting the same
  // values (conservative: first-fragment implying is-fragment is not used).
  if ((a.frag_mask & b.frag_mask) != a.frag_mask) return false;
  if ((a.frag_value & a.frag_mask) != (b.frag_value & a.frag_mask)) return false;
  // The comment is no match.
  return true;
}

namespace {

LintWarning warning(const Rule& rj, std::size_t j, const Rule& ri, std::size_t i) {
  std::string msg = has_matches(ri) ? fmt::format(
                                          "rule {} ({}) can never match: rule {} ({}) matches every packet "
                                          "it would match",
                                          j + 1, to_string(rj), i + 1, to_string(ri))
                                    : fmt::format(
                                          "rule {} ({}) can never match: rule {} ({}) has no matches and "
                                          "takes every packet",
                                          j + 1, to_string(rj), i + 1, to_string(ri));
  return {j, i, std::move(msg)};
}

std::vector<const Rule*> pointers(const std::vector<Rule>& rules) {
  std::vector<const Rule*> out;
  out.reserve(rules.size());
  for (const auto& r : rules) out.push_back(&r);
  return out;
}

}  // namespace

namespace {

// Where an earlier rule can cover a later one, by two necessary conditions
// of covers(): its source match (none or a /0: any later rule; a prefix:
// later rules whose source prefix lies in it; a set: later rules naming the
// set) and its destination port (one port: later rules matching exactly
// that port; anything else: any later rule). Earlier rules are filed under
// the key of both; a later rule looks only at the keys that could cover it,
// so that a 10,000-rule file is linted in milliseconds, not in 10^8 covers().
class CoverIndex {
 public:
  void add(const Rule& r, std::size_t i) {
    if (r.limit) return;  // covers nothing
    std::string key = source_key(r.saddr);
    if (r.saddr && r.saddr->prefix && r.saddr->prefix->len > 0) {
      const auto& p = *r.saddr->prefix;
      lengths_[p.family == Family::V6].insert(p.len);
    }
    buckets_[fmt::format("{}{}", key, port_key(r.dport))].push_back(i);
  }
  // The first indexed rule that covers `later`, if any.
  std::optional<std::size_t> first_cover(const std::vector<Rule>& rules, const Rule& later) const {
    std::vector<std::string> sources = {source_key(std::nullopt)};
    if (later.saddr && later.saddr->prefix) {
      const Prefix& p = *later.saddr->prefix;
      for (std::uint8_t len : lengths_[p.family == Family::V6]) {
        if (len > p.len) break;
        Prefix up = p;
        up.len = len;
        sources.push_back(source_key(AddrMatch{up, {}}));
      }
    } else if (later.saddr) {
      sources.push_back(source_key(later.saddr));
    }
    std::vector<std::string> ports = {port_key(std::nullopt)};
    if (later.dport && later.dport->lo == later.dport->hi) ports.push_back(port_key(later.dport));
    std::optional<std::size_t> best;
    for (const auto& s : sources)
      for (const auto& p : ports) {
        auto it = buckets_.find(fmt::format("{}{}", s, p));
        if (it == buckets_.end()) continue;
        for (std::size_t i : it->second) {
          if (best && i >= *best) break;
          if (covers(rules[i], later)) {
            best = i;
            break;
          }
        }
      }
    return best;
  }

 private:
  static std::string source_key(const std::optional<AddrMatch>& a) {
    if (!a || (a->prefix && a->prefix->len == 0)) return "*";
    if (!a->prefix) return fmt::format("@{}\n", a->set);
    // The prefix with its host bits clear (whatever the rule's text had).
    Prefix p = *a->prefix;
    for (std::size_t b = p.len; b < 128; ++b) p.addr[b / 8] &= static_cast<std::uint8_t>(~(0x80u >> (b % 8)));
    return fmt::format(
        "{}{}/{}", p.family == Family::V6 ? '6' : '4', p.len,
        std::string_view(reinterpret_cast<const char*>(p.addr.data()), p.family == Family::V6 ? 16 : 4));
  }
  static std::string port_key(const std::optional<PortRange>& d) {
    if (d && d->lo == d->hi) return fmt::format("|{}", d->lo);
    return "|*";
  }
  std::unordered_map<std::string, std::vector<std::size_t>> buckets_;
  std::set<std::uint8_t> lengths_[2];  // source prefix lengths filed, per family (IPv4, IPv6)
};

}  // namespace

std::vector<LintWarning> lint(const std::vector<Rule>& rules) {
  std::vector<LintWarning> out;
  CoverIndex index;
  for (std::size_t j = 0; j < rules.size(); ++j) {
    if (auto i = index.first_cover(rules, rules[j])) out.push_back(warning(rules[j], j, rules[*i], *i));
    index.add(rules[j], j);
  }
  return out;
}

std::vector<LintWarning> lint_rule(const std::vector<Rule>& rules, std::size_t k) {
  return lint_rule(pointers(rules), k);
}

std::vector<LintWarning> lint_rule(std::span<const Rule* const> rules, std::size_t k) {
  std::vector<LintWarning> out;
  if (k >= rules.size()) return out;
  for (std::size_t i = 0; i < k; ++i) {
    if (covers(*rules[i], *rules[k])) {
      out.push_back(warning(*rules[k], k, *rules[i], i));
      break;
    }
  }
  for (std::size_t j = k + 1; j < rules.size(); ++j)
    if (covers(*rules[k], *rules[j])) out.push_back(warning(*rules[j], j, *rules[k], k));
  return out;
}

std::optional<std::string> limit_depth_warning(const std::vector<Rule>& rules) {
  return limit_depth_warning(pointers(rules));
}

std::optional<std::string> limit_depth_warning(std::span<const Rule* const> rules) {
  struct Kind {
    Family family;
    std::optional<std::uint8_t> proto;  // nullopt: a protocol no rule names
    const char* name;
  };
  static const Kind kinds[] = {{Family::V4, 6, "IPv4 TCP"},     {Family::V4, 17, "IPv4 UDP"},
                               {Family::V4, 1, "IPv4 ICMP"},    {Family::V4, {}, "IPv4"},
                               {Family::V6, 6, "IPv6 TCP"},     {Family::V6, 17, "IPv6 UDP"},
                               {Family::V6, 58, "IPv6 ICMPv6"}, {Family::V6, {}, "IPv6"}};
  std::size_t most = 0;
  const char* which = "";
  for (const auto& k : kinds) {
    std::size_t n = 0;
    for (const Rule* r : rules)
      n += r->limit && (r->family == Family::Any || r->family == k.family) &&
           (!r->proto || r->proto == k.proto);
    if (n > most) {
      most = n;
      which = k.name;
    }
  }
  if (most <= kMaxLimitedUnder) return std::nullopt;
  return fmt::format(
      "{} rules with limits can apply to one {} packet: a packet under the limits of more than {} of them "
      "cannot be classified further and is dropped (counted in limit_resume_failed)",
      most, which, kMaxLimitedUnder);
}

}  // namespace xdpguard::rules
