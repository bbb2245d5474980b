#include "flowspec/route.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard::flowspec {
namespace {

bool is_prefix(Type t) { return t == Type::Destination || t == Type::Source; }
bool is_bitmask(Type t) { return t == Type::TcpFlags || t == Type::Fragment; }

// The largest value the packet field of a numeric type can hold.
std::uint64_t max_value(Type t) {
  switch (t) {
    case Type::Port:
    case Type::DestinationPort:
    case Type::SourcePort:
    case Type::PacketLength: return 65535;
    case Type::Dscp: return 63;
    case Type::FlowLabel: return (1u << 20) - 1;
    default: return 255;  // protocol, ICMP type and code, TCP flags, fragment bits
  }
}

std::string op_text(const NumericOp& o) {
  std::string s = o.and_ ? "&" : "";
  if (o.lt && o.gt && o.eq) return s + "true";
  if (!o.lt && !o.gt && !o.eq) return s + "false";
  if (o.lt && o.gt) return s + fmt::format("!={}", o.value);
  if (o.lt) s += '<';
  if (o.gt) s += '>';
  if (o.eq) s += '=';
  return s + std::to_string(o.value);
}

std::string op_text(const BitmaskOp& o) {
  std::string s = o.and_ ? "&" : "";
  if (o.not_) s += '!';
  if (o.match) s += '=';
  return s + fmt::format("0x{:x}", o.value);
}

// The shortest of 1, 2, 4, 8 bytes holding v: its length code (RFC 8955
// 4.2.1.1, the len field) and size.
std::pair<std::uint8_t, unsigned> value_size(std::uint64_t v) {
  if (v <= 0xff) return {0, 1};
  if (v <= 0xffff) return {1, 2};
  if (v <= 0xffffffffu) return {2, 4};
  return {3, 8};
}

}  // namespace

const char* type_name(Type t) {
  switch (t) {
    case Type::Destination: return "destination";
    case Type::Source: return "source";
    case Type::Protocol: return "protocol";
    case Type::Port: return "port";
    case Type::DestinationPort: return "destination-port";
    case Type::SourcePort: return "source-port";
    case Type::IcmpType: return "icmp-type";
    case Type::IcmpCode: return "icmp-code";
    case Type::TcpFlags: return "tcp-flags";
    case Type::PacketLength: return "packet-length";
    case Type::Dscp: return "dscp";
    case Type::Fragment: return "fragment";
    case Type::FlowLabel: return "flow-label";
  }
  return "?";
}

Result<void> validate(const Route& r) {
  if (r.family != rules::Family::V4 && r.family != rules::Family::V6)
    return fail(EINVAL, "a route of no address family");
  int last = 0;
  for (const Component& c : r.components) {
    const int t = static_cast<int>(c.type);
    const char* name = type_name(c.type);
    if (t < 1 || t > kMaxType) return fail(EINVAL, "unknown component type {}", t);
    if (t <= last) return fail(EINVAL, "{}: components out of order or repeated", name);
    last = t;
    if (c.type == Type::FlowLabel && r.family != rules::Family::V6)
      return fail(EINVAL, "flow-label: an IPv6 component in an IPv4 route");
    if (is_prefix(c.type)) {
      if (!c.prefix) return fail(EINVAL, "{}: no prefix", name);
      if (c.prefix->family != r.family)
        return fail(EINVAL, "{}: {} is not an {} prefix", name, rules::prefix_to_string(*c.prefix),
                    r.family == rules::Family::V4 ? "IPv4" : "IPv6");
      const unsigned bits = r.family == rules::Family::V4 ? 32 : 128;
      if (c.prefix->len > bits || c.offset > c.prefix->len)
        return fail(EINVAL, "{}: prefix length {} offset {} out of range", name, c.prefix->len, c.offset);
      continue;
    }
    const std::size_t n = is_bitmask(c.type) ? c.bitmask.size() : c.numeric.size();
    if (n == 0) return fail(EINVAL, "{}: no operator", name);
    const std::uint64_t max = max_value(c.type);
    for (std::size_t i = 0; i < n; ++i) {
      const bool and_ = is_bitmask(c.type) ? c.bitmask[i].and_ : c.numeric[i].and_;
      const std::uint64_t v = is_bitmask(c.type) ? c.bitmask[i].value : c.numeric[i].value;
      if (i == 0 && and_) return fail(EINVAL, "{}: the first operator has the AND bit", name);
      if (v > max) return fail(EINVAL, "{}: value {} is over {}", name, v, max);
    }
  }
  return {};
}

std::string match_text(const Route& r) {
  std::string s = r.family == rules::Family::V4 ? "ipv4" : "ipv6";
  for (const Component& c : r.components) {
    s += ' ';
    s += type_name(c.type);
    if (is_prefix(c.type)) {
      s += ' ' + (c.prefix ? rules::prefix_to_string(*c.prefix) : std::string("?"));
      if (c.prefix && c.prefix->len == (r.family == rules::Family::V4 ? 32 : 128))
        s += fmt::format("/{}", c.prefix->len);
      if (c.offset) s += fmt::format(" offset {}", c.offset);
      continue;
    }
    s += ' ';
    const std::size_t n = is_bitmask(c.type) ? c.bitmask.size() : c.numeric.size();
    for (std::size_t i = 0; i < n; ++i) {
      const bool and_ = is_bitmask(c.type) ? c.bitmask[i].and_ : c.numeric[i].and_;
      if (i && !and_) s += ' ';
      s += is_bitmask(c.type) ? op_text(c.bitmask[i]) : op_text(c.numeric[i]);
    }
  }
  return s;
}

std::string actions_text(const Actions& a) {
  std::vector<std::string> parts;
  if (a.rate_bytes) parts.push_back(fmt::format("rate-bytes {}", *a.rate_bytes));
  if (a.rate_packets) parts.push_back(fmt::format("rate-packets {}", *a.rate_packets));
  if (a.sample) parts.emplace_back("sample");
  if (!a.terminal) parts.emplace_back("non-terminal");
  for (const auto& i : a.ignored) parts.push_back(i + " (not applied)");
  if (parts.empty()) return "accept";
  return fmt::format("{}", fmt::join(parts, " "));
}

bool add_extended_community(std::uint64_t c, Actions& a) {
  const auto type = static_cast<std::uint8_t>(c >> 56);
  const auto sub = static_cast<std::uint8_t>(c >> 48);
  auto rate = [&] {
    const auto bits = static_cast<std::uint32_t>(c);
    float f = 0;
    static_assert(sizeof f == sizeof bits);
    std::memcpy(&f, &bits, sizeof f);
    return static_cast<double>(f);
  };
  switch ((type << 8) | sub) {
    case 0x8006: a.rate_bytes = rate(); return true;
    case 0x800c: a.rate_packets = rate(); return true;
    case 0x8007:
      a.sample = (c & 0x02) != 0;
      a.terminal = (c & 0x01) == 0;
      return true;
    case 0x8008:
    case 0x8108:
    case 0x8208: a.ignored.emplace_back("redirect to VRF"); return true;
    case 0x0800:
    case 0x010c: a.ignored.emplace_back("redirect to IP"); return true;
    case 0x8009: a.ignored.push_back(fmt::format("traffic-marking dscp {}", c & 0x3f)); return true;
    default: return false;
  }
}

std::vector<std::uint8_t> encode_ops(const Component& c) {
  std::vector<std::uint8_t> out;
  const std::size_t n = is_bitmask(c.type) ? c.bitmask.size() : c.numeric.size();
  for (std::size_t i = 0; i < n; ++i) {
    std::uint8_t op = i + 1 == n ? 0x80 : 0;  // end of list
    std::uint64_t v = 0;
    if (is_bitmask(c.type)) {
      const auto& o = c.bitmask[i];
      op |= static_cast<std::uint8_t>((o.and_ ? 0x40 : 0) | (o.not_ ? 0x02 : 0) | (o.match ? 0x01 : 0));
      v = o.value;
    } else {
      const auto& o = c.numeric[i];
      op |= static_cast<std::uint8_t>((o.and_ ? 0x40 : 0) | (o.lt ? 0x04 : 0) | (o.gt ? 0x02 : 0) |
                                      (o.eq ? 0x01 : 0));
      v = o.value;
    }
    auto [code, size] = value_size(v);
    op |= static_cast<std::uint8_t>(code << 4);
    out.push_back(op);
    for (unsigned b = size; b-- > 0;) out.push_back(static_cast<std::uint8_t>(v >> (8 * b)));
  }
  return out;
}

bool precedes(const Route& a, const Route& b) {
  auto ia = a.components.begin(), ib = b.components.begin();
  for (;;) {
    // A route with a component the other lacks comes first.
    if (ib == b.components.end()) return ia != a.components.end();
    if (ia == a.components.end()) return false;
    if (ia->type != ib->type) return ia->type < ib->type;  // the one with the lower type first
    if (is_prefix(ia->type)) {
      const std::optional<rules::Prefix>& oa = ia->prefix;
      const std::optional<rules::Prefix>& ob = ib->prefix;
      if (!oa || !ob) return oa.has_value();  // (validate() refuses such routes)
      const rules::Prefix& pa = *oa;
      const rules::Prefix& pb = *ob;
      // The lower address over the common length first, then the longer prefix.
      rules::Prefix ca = pa, cb = pb;
      ca.len = cb.len = std::min(pa.len, pb.len);
      rules::clear_host_bits(ca);
      rules::clear_host_bits(cb);
      if (ca.addr != cb.addr) return ca.addr < cb.addr;
      if (pa.len != pb.len) return pa.len > pb.len;
      if (ia->offset != ib->offset) return ia->offset < ib->offset;
    } else {
      auto ea = encode_ops(*ia), eb = encode_ops(*ib);
      const std::size_t common = std::min(ea.size(), eb.size());
      auto [ma, mb] = std::mismatch(ea.begin(), ea.begin() + static_cast<std::ptrdiff_t>(common), eb.begin());
      if (ma != ea.begin() + static_cast<std::ptrdiff_t>(common)) return *ma < *mb;
      if (ea.size() != eb.size()) return ea.size() > eb.size();
    }
    ++ia;
    ++ib;
  }
}

}  // namespace xdpguard::flowspec
