#include "rules/printer.h"

#include <arpa/inet.h>

#include <fmt/format.h>

namespace xdpguard::rules {
namespace {

constexpr const char* kFlagNames[8] = {"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"};
// In kFrag* bit order (rules/rule.h).
constexpr const char* kFragNames[4] = {"dont-fragment", "is-fragment", "first-fragment", "last-fragment"};

void append_ports(std::string& s, const char* kw, const std::optional<PortRange>& p) {
  if (!p) return;
  if (p->lo == p->hi)
    s += fmt::format(" {} {}", kw, p->lo);
  else
    s += fmt::format(" {} {}-{}", kw, p->lo, p->hi);
}

void append_addr(std::string& s, const char* kw, const std::optional<AddrMatch>& m) {
  if (!m) return;
  s += ' ';
  s += kw;
  s += ' ';
  if (m->prefix)
    s += prefix_to_string(*m->prefix);
  else
    s += "@" + m->set;
}

void append_values(std::string& s, const char* kw, const std::optional<ValueList>& v) {
  if (!v) return;
  s += ' ';
  s += kw;
  char sep = ' ';
  for (const ValueRange& x : *v) {
    s += sep;
    sep = ',';
    s += x.lo == x.hi ? fmt::format("{}", x.lo) : fmt::format("{}-{}", x.lo, x.hi);
  }
}

}  // namespace

std::string_view action_name(Action a) {
  switch (a) {
    case Action::Pass: return "pass";
    case Action::Drop: return "drop";
    case Action::RedirectXsk: return "redirect xsk";
    case Action::RedirectDev: return "redirect dev";
  }
  return "?";
}

std::string prefix_to_string(const Prefix& p) {
  char buf[INET6_ADDRSTRLEN] = "";
  bool v4 = p.family == Family::V4;
  if (!inet_ntop(v4 ? AF_INET : AF_INET6, p.addr.data(), buf, sizeof buf)) return "?";
  if (p.len == (v4 ? 32 : 128)) return buf;
  return fmt::format("{}/{}", buf, p.len);
}

std::string to_string(const Rule& r) {
  std::string s(action_name(r.action));
  if (r.action == Action::RedirectDev) s += " " + r.redirect_dev;
  if (r.action == Action::RedirectXsk && r.xsk_fallback == Action::Drop) s += " fallback drop";
  if (r.vlan) {
    if (r.vlan->none)
      s += " vlan none";
    else if (r.vlan->inner)
      s += fmt::format(" vlan {} inner {}", r.vlan->id, *r.vlan->inner);
    else
      s += fmt::format(" vlan {}", r.vlan->id);
  }

  // The family the parser would infer from what is printed anyway.
  Family implied = Family::Any;
  if (r.proto == kProtoIcmp) implied = Family::V4;
  if (r.proto == kProtoIcmpv6) implied = Family::V6;
  if (r.saddr && r.saddr->prefix) implied = r.saddr->prefix->family;
  if (r.daddr && r.daddr->prefix) implied = r.daddr->prefix->family;
  if (r.family != Family::Any && r.family != implied) s += r.family == Family::V4 ? " ip" : " ip6";

  if (r.proto) {
    switch (*r.proto) {
      case kProtoTcp: s += " tcp"; break;
      case kProtoUdp: s += " udp"; break;
      case kProtoIcmp: s += " icmp"; break;
      case kProtoIcmpv6: s += " icmpv6"; break;
      default: s += fmt::format(" proto {}", *r.proto); break;
    }
  }
  append_addr(s, "saddr", r.saddr);
  append_addr(s, "daddr", r.daddr);
  append_ports(s, "sport", r.sport);
  append_ports(s, "dport", r.dport);
  if (r.flags_mask) {
    s += " tcp-flags ";
    bool first = true;
    for (int b = 0; b < 8; ++b) {
      auto bit = static_cast<std::uint8_t>(1u << b);
      if (!(r.flags_mask & bit)) continue;
      if (!first) s += ',';
      first = false;
      if (!(r.flags_value & bit)) s += '!';
      s += kFlagNames[b];
    }
  }
  append_values(s, "icmp-type", r.icmp_type);
  append_values(s, "icmp-code", r.icmp_code);
  append_values(s, "length", r.length);
  append_values(s, "dscp", r.dscp);
  if (r.frag_mask) {
    s += " frag ";
    bool first = true;
    for (int b = 0; b < 4; ++b) {
      auto bit = static_cast<std::uint8_t>(1u << b);
      if (!(r.frag_mask & bit)) continue;
      if (!first) s += ',';
      first = false;
      if (!(r.frag_value & bit)) s += '!';
      s += kFragNames[b];
    }
  }
  if (r.limit) s += limit_to_string(*r.limit, r.family);
  if (r.log) s += r.log->n == r.log->m ? std::string(" log") : fmt::format(" log {}/{}", r.log->n, r.log->m);
  if (!r.comment.empty()) s += fmt::format(" comment \"{}\"", r.comment);
  return s;
}

}  // namespace xdpguard::rules
