#include "flowspec/translate.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "rules/limit.h"
#include "rules/limits.h"
#include "rules/printer.h"

namespace xdpguard::flowspec {
namespace {

using rules::Rule;

// ---- value sets: sorted disjoint inclusive ranges over [0, max]

struct Span {
  std::uint64_t lo, hi;
  bool operator==(const Span&) const = default;
};
using Spans = std::vector<Span>;

Spans normalise(Spans s) {
  std::sort(s.begin(), s.end(), [](const Span& a, const Span& b) { return a.lo < b.lo; });
  Spans out;
  for (const Span& x : s) {
    if (!out.empty() && x.lo <= out.back().hi + 1)
      out.back().hi = std::max(out.back().hi, x.hi);
    else
      out.push_back(x);
  }
  return out;
}

Spans intersect(const Spans& a, const Spans& b) {
  Spans out;
  for (const Span& x : a)
    for (const Span& y : b) {
      std::uint64_t lo = std::max(x.lo, y.lo), hi = std::min(x.hi, y.hi);
      if (lo <= hi) out.push_back({lo, hi});
    }
  return normalise(std::move(out));
}

// The values one operator admits.
Spans op_spans(const NumericOp& o, std::uint64_t max) {
  const std::uint64_t v = std::min(o.value, max);
  Spans s;
  if (o.lt && v > 0) s.push_back({0, v - 1});
  if (o.eq) s.push_back({v, v});
  if (o.gt && v < max) s.push_back({v + 1, max});
  return normalise(std::move(s));
}

// A numeric operator list: OR of AND-groups (RFC 8955 4.2.1.1).
Spans list_spans(const std::vector<NumericOp>& ops, std::uint64_t max) {
  Spans result, group;
  bool open = false;
  for (const NumericOp& o : ops) {
    Spans s = op_spans(o, max);
    if (o.and_ && open) {
      group = intersect(group, s);
    } else {
      if (open) result.insert(result.end(), group.begin(), group.end());
      group = std::move(s);
      open = true;
    }
  }
  if (open) result.insert(result.end(), group.begin(), group.end());
  return normalise(std::move(result));
}

bool is_all(const Spans& s, std::uint64_t max) { return s.size() == 1 && s[0].lo == 0 && s[0].hi == max; }

// ---- bitmask lists: disjunctions of terms "these bits have these values"

struct Bits {
  std::uint8_t mask = 0, value = 0;
  bool operator==(const Bits&) const = default;
};
using Dnf = std::vector<Bits>;  // OR of terms; {} is false, {{0,0}} is true

Dnf and_dnf(const Dnf& a, const Dnf& b) {
  Dnf out;
  for (const Bits& x : a)
    for (const Bits& y : b) {
      const std::uint8_t both = x.mask & y.mask;
      if ((x.value & both) != (y.value & both)) continue;  // contradiction
      out.push_back(
          {static_cast<std::uint8_t>(x.mask | y.mask), static_cast<std::uint8_t>(x.value | y.value)});
    }
  return out;
}

// Drops repeated terms and terms another term implies away (a term with a
// subset of the other's bits, agreeing on them, admits more).
Dnf simplify(Dnf d) {
  Dnf out;
  for (std::size_t i = 0; i < d.size(); ++i) {
    bool redundant = false;
    for (std::size_t j = 0; j < d.size() && !redundant; ++j) {
      if (i == j) continue;
      const Bits& a = d[j];  // does a admit everything d[i] admits?
      const bool wider = (a.mask & d[i].mask) == a.mask && (d[i].value & a.mask) == a.value;
      if (wider && (a != d[i] || j < i)) redundant = true;
    }
    if (!redundant) out.push_back(d[i]);
  }
  return out;
}

Dnf op_dnf(const BitmaskOp& o) {
  const auto v = static_cast<std::uint8_t>(o.value);
  Dnf d;
  if (o.match && !o.not_) return {{v, v}};  // all of v set
  if (!o.match && o.not_) return {{v, 0}};  // none of v set
  for (int b = 0; b < 8; ++b) {
    const auto bit = static_cast<std::uint8_t>(1u << b);
    if (!(v & bit)) continue;
    if (o.match)  // not all set: some bit of v clear
      d.push_back({bit, 0});
    else  // some bit of v set
      d.push_back({bit, bit});
  }
  return d;
}

Dnf list_dnf(const std::vector<BitmaskOp>& ops) {
  Dnf result, group;
  bool open = false;
  for (const BitmaskOp& o : ops) {
    Dnf d = op_dnf(o);
    if (o.and_ && open) {
      group = and_dnf(group, d);
    } else {
      if (open) result.insert(result.end(), group.begin(), group.end());
      group = std::move(d);
      open = true;
    }
  }
  if (open) result.insert(result.end(), group.begin(), group.end());
  return simplify(std::move(result));
}

const Component* find(const Route& r, Type t) {
  for (const Component& c : r.components)
    if (c.type == t) return &c;
  return nullptr;
}

rules::ValueList value_list(const Spans& s) {
  rules::ValueList l;
  for (const Span& x : s) l.push_back({static_cast<std::uint32_t>(x.lo), static_cast<std::uint32_t>(x.hi)});
  return l;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::string label(const Route& r, std::size_t max) {
  std::string s = std::string(kLabelPrefix) + match_text(r);
  if (s.size() <= max) return s;
  std::string tail = fmt::format("... #{:08x}", static_cast<std::uint32_t>(fnv1a(s)));
  s.resize(max > tail.size() ? max - tail.size() : 0);
  return s + tail;
}

namespace {
Result<Translation> translate_rules(const Route& r, const Options& opts);
}  // namespace

Result<Translation> translate(const Route& r, const Options& opts) {
  auto t = XG_TRY(translate_rules(r, opts));
  // Every rule's text, its label included, must fit the rule set's record
  // (rules::kMaxRuleText): the label gives way first, down to a short
  // one that still names the route by its hash.
  constexpr std::size_t kCommentWords = std::string_view(" comment \"\"").size();
  constexpr std::size_t kShortest = kLabelPrefix.size() + 16;
  std::size_t room = kMaxLabel;
  for (const rules::Rule& x : t.rules) {
    rules::Rule bare = x;
    bare.comment.clear();
    const std::size_t body = rules::to_string(bare).size() + kCommentWords;
    room = std::min(room, body < rules::kMaxRuleText ? rules::kMaxRuleText - body : 0);
  }
  if (room < kShortest)
    return fail(ENOTSUP, "a rule of {} characters: too long for a rule set's record ({})",
                rules::kMaxRuleText - room + kShortest, rules::kMaxRuleText);
  const std::string l = label(r, room);
  for (rules::Rule& x : t.rules) x.comment = l;
  return t;
}

namespace {

Result<Translation> translate_rules(const Route& r, const Options& opts) {
  XG_CHECK(validate(r));
  const bool v4 = r.family == rules::Family::V4;
  Translation out;
  auto refuse = [](std::string why) { return fail(ENOTSUP, "{}", why); };

  // The matches every rule of the route shares.
  Rule base;
  base.family = r.family;
  base.comment = label(r);
  for (Type t : {Type::Destination, Type::Source}) {
    const Component* c = find(r, t);
    if (!c) continue;
    if (c->offset)
      return refuse(fmt::format("{}: a prefix offset ({}) has no rule match", type_name(t), c->offset));
    (t == Type::Destination ? base.daddr : base.saddr) = rules::AddrMatch{c->prefix, {}};
  }
  if (find(r, Type::FlowLabel)) return refuse("flow-label has no rule match");
  for (auto [t, field, max] : {std::tuple{Type::PacketLength, &Rule::length, std::uint64_t{65535}},
                               std::tuple{Type::Dscp, &Rule::dscp, std::uint64_t{63}}}) {
    const Component* c = find(r, t);
    if (!c) continue;
    Spans s = list_spans(c->numeric, max);
    if (s.empty()) return out;  // admits no packet: nothing to install
    if (s.size() > rules::kMaxValueRanges)
      return refuse(
          fmt::format("{}: {} ranges, a rule holds {}", type_name(t), s.size(), rules::kMaxValueRanges));
    if (!is_all(s, max)) base.*field = value_list(s);
  }

  // Protocols: every value the list admits, constrained by what the other
  // components need.
  Spans protos{{0, 255}};
  if (const Component* c = find(r, Type::Protocol)) protos = list_spans(c->numeric, 255);
  const Component* port = find(r, Type::Port);
  const Component* dport = find(r, Type::DestinationPort);
  const Component* sport = find(r, Type::SourcePort);
  const Component* icmp_type = find(r, Type::IcmpType);
  const Component* icmp_code = find(r, Type::IcmpCode);
  const Component* flags = find(r, Type::TcpFlags);
  const Component* frag = find(r, Type::Fragment);
  const std::uint8_t icmp = v4 ? rules::kProtoIcmp : rules::kProtoIcmpv6;
  if (port || dport || sport) {
    // Only packets with ports match: in xdpguard, TCP's and UDP's.
    const bool any = is_all(protos, 255);
    for (std::uint8_t other :
         {std::uint8_t{33}, std::uint8_t{132}, std::uint8_t{136}})  // DCCP, SCTP, UDP-Lite
      if (!any && !intersect(protos, {{other, other}}).empty())
        return refuse(fmt::format("ports of protocol {}: xdpguard reads only tcp and udp ports", other));
    if (any)
      out.notes.emplace_back("ports: matched in tcp and udp (xdpguard reads no other protocol's ports)");
    protos = intersect(protos, {{rules::kProtoTcp, rules::kProtoTcp}, {rules::kProtoUdp, rules::kProtoUdp}});
    protos = normalise(protos);
  }
  if (icmp_type || icmp_code) protos = intersect(protos, {{icmp, icmp}});
  if (flags) protos = intersect(protos, {{rules::kProtoTcp, rules::kProtoTcp}});
  if (protos.empty()) return out;

  if (icmp_type || icmp_code) {
    for (auto [c, field] : {std::pair{icmp_type, &Rule::icmp_type}, std::pair{icmp_code, &Rule::icmp_code}}) {
      if (!c) continue;
      Spans s = list_spans(c->numeric, 255);
      if (s.empty()) return out;
      if (s.size() > rules::kMaxValueRanges)
        return refuse(fmt::format("{}: {} ranges, a rule holds {}", type_name(c->type), s.size(),
                                  rules::kMaxValueRanges));
      if (!is_all(s, 255)) base.*field = value_list(s);
    }
  }

  // The rules: protocols x port choices x flag terms x fragment terms.
  std::vector<Rule> rules;
  std::uint64_t protocol_count = 0;
  for (const Span& s : protos) protocol_count += s.hi - s.lo + 1;
  std::vector<std::optional<std::uint8_t>> proto_choices;
  if (protocol_count == 256)
    proto_choices.emplace_back();
  else
    for (const Span& s : protos)
      for (std::uint64_t p = s.lo; p <= s.hi; ++p) proto_choices.emplace_back(static_cast<std::uint8_t>(p));
  if (proto_choices.size() > opts.max_rules)
    return refuse(fmt::format("{} protocols: more than {} rules", proto_choices.size(), opts.max_rules));

  // Port choices: (sport spans, dport spans) pairs; `port` is either one.
  const Spans all_ports{{0, 65535}};
  Spans sp = sport ? list_spans(sport->numeric, 65535) : all_ports;
  Spans dp = dport ? list_spans(dport->numeric, 65535) : all_ports;
  std::vector<std::pair<Spans, Spans>> port_choices;
  if (port) {
    Spans either = list_spans(port->numeric, 65535);
    port_choices.emplace_back(intersect(sp, either), dp);
    port_choices.emplace_back(sp, intersect(dp, either));
  } else {
    port_choices.emplace_back(sp, dp);
  }
  Dnf flag_terms = flags ? list_dnf(flags->bitmask) : Dnf{{0, 0}};
  Dnf frag_terms{{0, 0}};
  if (frag) {
    for (const BitmaskOp& o : frag->bitmask)
      if (o.value & ~std::uint64_t{0x0f})
        return refuse(fmt::format("fragment: bits 0x{:x} are not DF, IsF, FF or LF", o.value));
    frag_terms = list_dnf(frag->bitmask);
  }

  for (const auto& pc : proto_choices)
    for (const auto& [sps, dps] : port_choices)
      for (const Span& s1 : sps)
        for (const Span& d1 : dps)
          for (const Bits& fl : flag_terms)
            for (const Bits& fr : frag_terms) {
              Rule x = base;
              x.proto = pc;
              if (pc == rules::kProtoIcmp) x.family = rules::Family::V4;
              if (pc == rules::kProtoIcmpv6) x.family = rules::Family::V6;
              if (!(s1.lo == 0 && s1.hi == 65535))
                x.sport =
                    rules::PortRange{static_cast<std::uint16_t>(s1.lo), static_cast<std::uint16_t>(s1.hi)};
              if (!(d1.lo == 0 && d1.hi == 65535))
                x.dport =
                    rules::PortRange{static_cast<std::uint16_t>(d1.lo), static_cast<std::uint16_t>(d1.hi)};
              x.flags_mask = fl.mask;
              x.flags_value = fl.value;
              x.frag_mask = fr.mask;
              x.frag_value = fr.value;
              rules.push_back(std::move(x));
              if (rules.size() > opts.max_rules)
                return refuse(fmt::format("the route needs more than {} rules", opts.max_rules));
            }
  if (rules.empty()) return out;  // a port list that admits no port

  // The actions.
  const Actions& a = r.actions;
  for (const auto& i : a.ignored) out.notes.push_back(i + ": not applied");
  std::optional<double> rate;
  if (a.rate_bytes && a.rate_packets && *a.rate_bytes != *a.rate_packets && *a.rate_bytes != 0 &&
      *a.rate_packets != 0)
    return refuse("both a byte rate and a packet rate");
  if (a.rate_bytes && *a.rate_bytes == 0) rate = 0;
  if (a.rate_packets) rate = rate ? std::min(*rate, *a.rate_packets) : *a.rate_packets;
  // A byte rate (traffic-rate-bytes > 0) is a byte limit; with a packet
  // rate too, both would have to hold: not one rule.
  const bool bytes = a.rate_bytes && *a.rate_bytes > 0 && !(rate && *rate == 0);
  if (bytes) {
    if (a.rate_packets && *a.rate_packets > 0) return refuse("both a byte rate and a packet rate");
    rate = a.rate_bytes;
  }
  if (rate && !(std::isfinite(*rate) && *rate >= 0)) return refuse("a rate that is not a number");

  if (rate && *rate == 0) {  // discard: final whatever the terminal bit says
    for (Rule& x : rules) {
      x.action = rules::Action::Drop;
      if (a.sample) x.log = rules::LogSpec{};
    }
    out.rules = std::move(rules);
    return out;
  }
  if (rate) {  // drop over the rate, one aggregate bucket
    const char* what = bytes ? "traffic-rate-bytes" : "traffic-rate-packets";
    if (rules.size() > 1)
      return refuse(
          fmt::format("a rate limit over {} rules would be {} buckets, not one", rules.size(), rules.size()));
    rules::Limit l;
    double per_s = *rate;
    if (per_s >= 1 && per_s == std::floor(per_s)) {
      l.rate = static_cast<std::uint64_t>(per_s);
      l.unit = rules::RateUnit::Second;
    } else if (per_s * 60 >= 1 && per_s * 60 == std::floor(per_s * 60)) {
      l.rate = static_cast<std::uint64_t>(per_s * 60);
      l.unit = rules::RateUnit::Minute;
    } else {
      return refuse(fmt::format("{} {}: not a whole number per second or minute", what, per_s));
    }
    const std::uint64_t max = bytes ? rules::kMaxByteRate : rules::kMaxRate;
    if (l.rate > max) return refuse(fmt::format("{} {}: over {}", what, per_s, max));
    if (bytes) {
      // nft's byte bucket: one unit's bytes (burst 0).
      l.bytes = true;
      l.burst = 0;
    } else {
      // A tenth of a second's packets: what arrives in one burst of a NIC's
      // interrupt is not cut, and the rate holds over any second.
      l.burst = static_cast<std::uint32_t>(
          std::max<std::uint64_t>(rules::kDefaultBurst, l.unit == rules::RateUnit::Second ? l.rate / 10 : 1));
    }
    Rule x = rules.front();
    x.action = rules::Action::Drop;
    x.limit = l;
    if (a.sample) x.log = rules::LogSpec{};
    out.rules.push_back(std::move(x));
  } else if (!a.terminal) {
    if (a.sample)
      return refuse("sample on a non-terminal route without a rate: a log rule would end the evaluation");
    return out;  // accepts and lets later routes decide: nothing to do
  }
  if (a.terminal)
    for (Rule& x : rules) {
      x.action = opts.accept;
      if (a.sample && !rate) x.log = rules::LogSpec{};
      out.rules.push_back(std::move(x));
    }
  return out;
}

}  // namespace

}  // namespace xdpguard::flowspec
