#include "flowspec/exabgp.h"

#include <cerrno>
#include <algorithm>
#include <charconv>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "rules/parser.h"

namespace xdpguard::flowspec {
namespace {

using nlohmann::json;

// Names ExaBGP (and GoBGP) print instead of numbers.
constexpr std::pair<std::string_view, unsigned> kProtocols[] = {
    {"icmp", 1},  {"igmp", 2},  {"tcp", 6},    {"egp", 8},     {"udp", 17},
    {"rsvp", 46}, {"gre", 47},  {"esp", 50},   {"ah", 51},     {"ospf", 89},
    {"ipip", 94}, {"pim", 103}, {"sctp", 132}, {"icmpv6", 58}, {"ipv6-icmp", 58}};
constexpr std::pair<std::string_view, unsigned> kIcmpTypes[] = {{"echo-reply", 0},
                                                                {"unreachable", 3},
                                                                {"source-quench", 4},
                                                                {"redirect", 5},
                                                                {"echo-request", 8},
                                                                {"router-advertisement", 9},
                                                                {"router-solicit", 10},
                                                                {"time-exceeded", 11},
                                                                {"parameter-problem", 12},
                                                                {"timestamp", 13},
                                                                {"timestamp-reply", 14},
                                                                {"info-request", 15},
                                                                {"info-reply", 16},
                                                                {"mask-request", 17},
                                                                {"mask-reply", 18},
                                                                {"traceroute", 30},
                                                                {"experimental-mobility", 41},
                                                                {"extended-echo-request", 42},
                                                                {"extended-echo-reply", 43},
                                                                {"experimental-one", 253},
                                                                {"experimental-two", 254}};
constexpr std::pair<std::string_view, std::uint8_t> kTcpFlags[] = {
    {"fin", 0x01}, {"syn", 0x02},    {"rst", 0x04}, {"push", 0x08}, {"ack", 0x10},
    {"urg", 0x20}, {"urgent", 0x20}, {"ece", 0x40}, {"cwr", 0x80}};
constexpr std::pair<std::string_view, std::uint8_t> kFragments[] = {{"not-a-fragment", 0},
                                                                    {"dont-fragment", 0x01},
                                                                    {"is-fragment", 0x02},
                                                                    {"first-fragment", 0x04},
                                                                    {"last-fragment", 0x08}};

std::optional<std::uint64_t> number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

Result<std::uint64_t> value_of(std::string_view s, Type type) {
  if (auto v = number(s)) return *v;
  if (type == Type::Protocol)
    for (auto [n, v] : kProtocols)
      if (s == n) return v;
  if (type == Type::IcmpType)
    for (auto [n, v] : kIcmpTypes)
      if (s == n) return v;
  // ExaBGP's name for a value it has no name for: "unknown protocol type 123".
  if (s.starts_with("unknown ")) {
    auto sp = s.rfind(' ');
    if (auto v = number(s.substr(sp + 1))) return *v;
  }
  return fail(EINVAL, "{}: {} is not a number", type_name(type), rules::quote(s));
}

// One bitmask op: [&][!][=]NAME[+NAME...].
Result<BitmaskOp> bitmask_op(std::string_view s, Type type, bool and_) {
  BitmaskOp o;
  o.and_ = and_;
  if (s.starts_with('!')) {
    o.not_ = true;
    s.remove_prefix(1);
  }
  if (s.starts_with('=')) {
    o.match = true;
    s.remove_prefix(1);
  }
  if (s.empty()) return fail(EINVAL, "{}: an operator without a value", type_name(type));
  if (auto v = number(s)) {
    o.value = *v;
    return o;
  }
  std::size_t pos = 0;
  for (;;) {
    auto plus = s.find('+', pos);
    std::string_view name = s.substr(pos, plus == std::string_view::npos ? plus : plus - pos);
    bool found = false;
    if (type == Type::TcpFlags) {
      for (auto [n, b] : kTcpFlags)
        if (name == n) {
          o.value |= b;
          found = true;
        }
    } else {
      for (auto [n, b] : kFragments)
        if (name == n) {
          o.value |= b;
          found = true;
        }
    }
    if (!found) return fail(EINVAL, "{}: unknown bit {}", type_name(type), rules::quote(name));
    if (plus == std::string_view::npos) break;
    pos = plus + 1;
  }
  // "not-a-fragment" is the value 0 on the wire (ExaBGP's and GoBGP's),
  // which read as RFC 8955 says would match nothing: both mean !is-fragment.
  if (type == Type::Fragment && o.value == 0 && !o.not_ && !o.match) {
    o.not_ = true;
    o.value = 0x02;
  }
  return o;
}

// The bitmask component `name` from the route's "string": the word after
// " name ", or the bracketed list "[ a b&c ]" after it.
Result<std::optional<Component>> bitmask_from_string(std::string_view str, Type type) {
  const std::string key = fmt::format(" {} ", type_name(type));
  auto at = str.find(key);
  if (at == std::string_view::npos) return std::optional<Component>{};
  std::string_view rest = str.substr(at + key.size());
  std::vector<std::string_view> items;
  if (rest.starts_with("[ ")) {
    auto end = rest.find(" ]");
    if (end == std::string_view::npos)
      return fail(EINVAL, "{}: an unclosed [ in {}", type_name(type), rules::quote(str));
    rest = rest.substr(2, end - 2);
    std::size_t p = 0;
    while (p < rest.size()) {
      auto sp = rest.find(' ', p);
      if (sp == std::string_view::npos) sp = rest.size();
      if (sp > p) items.push_back(rest.substr(p, sp - p));
      p = sp + 1;
    }
  } else {
    items.push_back(rest.substr(0, rest.find(' ')));
  }
  Component c;
  c.type = type;
  for (std::string_view item : items) {
    bool first = true;
    std::size_t p = 0;
    for (;;) {
      auto amp = item.find('&', p);
      std::string_view op = item.substr(p, amp == std::string_view::npos ? amp : amp - p);
      c.bitmask.push_back(XG_TRY(bitmask_op(op, type, !first)));
      first = false;
      if (amp == std::string_view::npos) break;
      p = amp + 1;
    }
  }
  return std::optional<Component>(std::move(c));
}

Result<Type> component_type(std::string_view name, rules::Family f) {
  const bool v4 = f == rules::Family::V4;
  if (name == (v4 ? "destination-ipv4" : "destination-ipv6")) return Type::Destination;
  if (name == (v4 ? "source-ipv4" : "source-ipv6")) return Type::Source;
  if (name == "protocol" || name == "next-header") return Type::Protocol;
  if (name == "port") return Type::Port;
  if (name == "destination-port") return Type::DestinationPort;
  if (name == "source-port") return Type::SourcePort;
  if (name == "icmp-type") return Type::IcmpType;
  if (name == "icmp-code") return Type::IcmpCode;
  if (name == "tcp-flags") return Type::TcpFlags;
  if (name == "packet-length") return Type::PacketLength;
  if (name == "dscp" || name == "traffic-class") return Type::Dscp;
  if (name == "fragment") return Type::Fragment;
  if (name == "flow-label") return Type::FlowLabel;
  return fail(EINVAL, "unknown component {}", rules::quote(name));
}

Result<Component> prefix_component(const json& v, Type type, rules::Family f) {
  if (!v.is_array() || v.size() != 1 || !v[0].is_string())
    return fail(EINVAL, "{}: expected one prefix", type_name(type));
  std::string s = v[0].get<std::string>();
  Component c;
  c.type = type;
  if (f == rules::Family::V6) {  // ADDR/LEN/OFFSET
    auto last = s.rfind('/');
    auto first = s.find('/');
    if (last != first && last != std::string::npos) {
      auto off = number(std::string_view(s).substr(last + 1));
      if (!off || *off > 128) return fail(EINVAL, "{}: bad offset in {}", type_name(type), rules::quote(s));
      c.offset = static_cast<std::uint8_t>(*off);
      s.resize(last);
    }
  }
  auto p = rules::parse_prefix(s);
  if (!p || p->family != f)
    return fail(EINVAL, "{}: {} is not an {} prefix", type_name(type), rules::quote(s),
                f == rules::Family::V4 ? "IPv4" : "IPv6");
  // parse_prefix cleared host bits; a route with them set is the same
  // filter to the speaker (RFC 8955 compares prefixes by their bits).
  c.prefix = *p;
  return c;
}

Result<Route> route_of(const json& nlri, rules::Family f, const Actions& actions) {
  if (!nlri.is_object()) return fail(EINVAL, "a route that is not an object");
  Route r;
  r.family = f;
  r.actions = actions;
  std::string str =
      nlri.contains("string") && nlri["string"].is_string() ? nlri["string"].get<std::string>() : "";
  for (const auto& [key, v] : nlri.items()) {
    if (key == "string" || key == "next-hop") continue;
    if (key == "rd") return fail(ENOTSUP, "a route distinguisher (flow-vpn) is not for this host");
    Type t = XG_TRY(component_type(key, f));
    Component c;
    if (t == Type::Destination || t == Type::Source) {
      c = XG_TRY(prefix_component(v, t, f));
    } else if (t == Type::TcpFlags || t == Type::Fragment) {
      auto from = XG_TRY(bitmask_from_string(str, t));
      if (!from) return fail(EINVAL, "{}: not in the route's string {}", type_name(t), rules::quote(str));
      c = std::move(*from);
    } else {
      if (!v.is_array()) return fail(EINVAL, "{}: expected a list", type_name(t));
      c.type = t;
      for (const auto& g : v) {
        if (!g.is_string()) return fail(EINVAL, "{}: expected strings", type_name(t));
        XG_CHECK(parse_numeric_group(g.get<std::string>(), t, c.numeric));
      }
    }
    r.components.push_back(std::move(c));
  }
  std::sort(r.components.begin(), r.components.end(),
            [](const Component& a, const Component& b) { return a.type < b.type; });
  XG_CHECK(validate(r));
  return r;
}

Result<rules::Family> family_of(std::string_view key) {
  if (key == "ipv4 flow") return rules::Family::V4;
  if (key == "ipv6 flow") return rules::Family::V6;
  return fail(ENOTSUP, "family {}", key);
}

std::string peer_of(const json& msg) {
  const json* n = msg.contains("neighbor") ? &msg["neighbor"] : nullptr;
  if (n && n->contains("address") && (*n)["address"].is_object() && (*n)["address"].contains("peer") &&
      (*n)["address"]["peer"].is_string())
    return (*n)["address"]["peer"].get<std::string>();
  if (n && n->contains("ip") && (*n)["ip"].is_string()) return (*n)["ip"].get<std::string>();
  return {};
}

}  // namespace

Result<void> parse_numeric_group(std::string_view text, Type type, std::vector<NumericOp>& out) {
  bool first = true;
  std::size_t p = 0;
  for (;;) {
    auto amp = text.find('&', p);
    std::string_view s = text.substr(p, amp == std::string_view::npos ? amp : amp - p);
    NumericOp o;
    o.and_ = !first;
    first = false;
    if (s == "true") {
      o.lt = o.gt = o.eq = true;
    } else if (s != "false") {
      std::size_t n = 0;
      while (n < s.size() && (s[n] == '<' || s[n] == '>' || s[n] == '=' || s[n] == '!')) ++n;
      std::string_view op = s.substr(0, n);
      if (op == "=" || op == "==" || op.empty())
        o.eq = true;  // a bare value is equality
      else if (op == ">")
        o.gt = true;
      else if (op == "<")
        o.lt = true;
      else if (op == ">=")
        o.gt = o.eq = true;
      else if (op == "<=")
        o.lt = o.eq = true;
      else if (op == "!=" || op == "!")
        o.lt = o.gt = true;
      else
        return fail(EINVAL, "{}: unknown operator {}", type_name(type), rules::quote(op));
      o.value = XG_TRY(value_of(s.substr(n), type));
    }
    out.push_back(o);
    if (amp == std::string_view::npos) return {};
    p = amp + 1;
  }
}

Decoded decode_exabgp_unchecked(std::string_view line);

Decoded decode_exabgp(std::string_view line) {
  // A value of an unexpected JSON type (`"type": 5`) is the line's error.
  try {
    return decode_exabgp_unchecked(line);
  } catch (const nlohmann::json::exception& e) {
    Decoded d;
    d.errors.push_back(fmt::format("unexpected JSON: {}: {}", e.what(), rules::quote(line)));
    return d;
  }
}

Decoded decode_exabgp_unchecked(std::string_view line) {
  Decoded d;
  json msg = json::parse(line, nullptr, false);
  if (msg.is_discarded() || !msg.is_object()) {
    d.errors.push_back(fmt::format("not a JSON object: {}", rules::quote(line)));
    return d;
  }
  const std::string type = msg.value("type", "");
  const std::string peer = peer_of(msg);
  if (type == "state") {
    const json& n = msg["neighbor"];
    std::string state = n.is_object() ? n.value("state", "") : "";
    if (state == "down") d.events.push_back({Event::Kind::PeerDown, peer, {}});
    if (state == "up") d.events.push_back({Event::Kind::PeerUp, peer, {}});
    return d;
  }
  if (type == "notification" && msg.value("notification", "") == "shutdown") {
    d.events.push_back({Event::Kind::PeerDown, "", {}});  // every peer: ExaBGP stops
    return d;
  }
  if (type != "update") return d;
  const json* message = nullptr;
  if (msg.contains("neighbor") && msg["neighbor"].is_object() && msg["neighbor"].contains("message") &&
      msg["neighbor"]["message"].is_object())
    message = &msg["neighbor"]["message"];
  if (!message) {
    d.errors.emplace_back("an update without neighbor.message");
    return d;
  }
  if (message->contains("eor")) {  // end of RIB, per family
    const json& eor = (*message)["eor"];
    if (eor.is_object() && eor.value("safi", "") == "flow") {
      Event e{Event::Kind::EndOfRib, peer, {}};
      const std::string afi = eor.value("afi", "");
      if (afi != "ipv4" && afi != "ipv6") return d;
      e.route.family = afi == "ipv4" ? rules::Family::V4 : rules::Family::V6;
      d.events.push_back(std::move(e));
    }
    return d;
  }
  const json* update = message->contains("update") ? &(*message)["update"] : nullptr;
  if (!update || !update->is_object()) {
    d.errors.emplace_back("an update without neighbor.message.update");
    return d;
  }
  Actions actions;
  if (update->contains("attribute") && (*update)["attribute"].is_object() &&
      (*update)["attribute"].contains("extended-community")) {
    for (const auto& c : (*update)["attribute"]["extended-community"]) {
      if (c.is_object() && c.contains("value") && c["value"].is_number_unsigned())
        add_extended_community(c["value"].get<std::uint64_t>(), actions);
      else if (c.is_number_unsigned())
        add_extended_community(c.get<std::uint64_t>(), actions);
    }
  }
  // Announces: family -> next hop -> routes.
  if (update->contains("announce") && (*update)["announce"].is_object()) {
    for (const auto& [fam, hops] : (*update)["announce"].items()) {
      auto f = family_of(fam);
      if (!f) continue;  // another family: not ours
      if (!hops.is_object()) {
        d.errors.push_back(fmt::format("announce {}: not an object", fam));
        continue;
      }
      for (const auto& [hop, list] : hops.items())
        for (const auto& nlri : list.is_array() ? list : json::array()) {
          auto r = route_of(nlri, *f, actions);
          if (!r) {
            d.errors.push_back(fmt::format("announce from {}: {} not installed: {}", peer, nlri.dump(),
                                           r.error().message()));
            continue;
          }
          d.events.push_back({Event::Kind::Announce, peer, std::move(*r)});
        }
    }
  }
  if (update->contains("withdraw") && (*update)["withdraw"].is_object()) {
    for (const auto& [fam, list] : (*update)["withdraw"].items()) {
      auto f = family_of(fam);
      if (!f) continue;
      for (const auto& nlri : list.is_array() ? list : json::array()) {
        auto r = route_of(nlri, *f, {});
        if (!r) {
          d.errors.push_back(fmt::format("withdraw from {}: {}: {}", peer, nlri.dump(), r.error().message()));
          continue;
        }
        d.events.push_back({Event::Kind::Withdraw, peer, std::move(*r)});
      }
    }
  }
  return d;
}

}  // namespace xdpguard::flowspec
