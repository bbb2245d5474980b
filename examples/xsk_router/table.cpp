#include "table.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "rules/parser.h"

namespace xsk_router {
namespace {

using xdpguard::Result;
using xdpguard::rules::Family;
using xdpguard::rules::Prefix;

// "line N: TOKEN: what" (TOKEN quoted), code EINVAL.
template <class... Args>
tl::unexpected<xdpguard::Error> bad(std::size_t line, std::string_view token, fmt::format_string<Args...> f,
                                    Args&&... args) {
  return xdpguard::fail(EINVAL, "line {}: {}: {}", line, xdpguard::rules::quote(token),
                        fmt::format(f, std::forward<Args>(args)...));
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> tokens;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    if (j > i) tokens.push_back(line.substr(i, j - i));
    i = j;
  }
  return tokens;
}

// rules::parse_prefix, with the reason when it refuses.
Result<Prefix> prefix_of(std::size_t line, std::string_view token) {
  if (auto p = xdpguard::rules::parse_prefix(token)) return *p;
  const std::size_t slash = token.find('/');
  const std::string_view addr = token.substr(0, slash);
  const bool v4 = xdpguard::rules::parse_ipv4(addr).has_value();
  if (!v4 && !xdpguard::rules::parse_ipv6(addr)) return bad(line, token, "not an IPv4 or IPv6 prefix");
  const unsigned max = v4 ? 32 : 128;
  if (slash != std::string_view::npos &&
      xdpguard::rules::parse_decimal(token.substr(slash + 1), std::numeric_limits<std::uint64_t>::max())
              .value_or(0) > max)
    return bad(line, token, "prefix length over {}", max);
  return bad(line, token, "expected ADDR/LEN with LEN 0-{}", max);
}

// Whether the first p.len bits of addr are p's.
bool holds(const Prefix& p, const std::array<std::uint8_t, 16>& addr) {
  const std::size_t whole = p.len / 8;
  if (!std::equal(p.addr.begin(), p.addr.begin() + static_cast<std::ptrdiff_t>(whole), addr.begin()))
    return false;
  const unsigned rest = p.len % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (addr[whole] & mask) == p.addr[whole];
}

}  // namespace

std::vector<std::string> Table::interfaces() const {
  std::vector<std::string> out;
  for (const Route& r : routes_)
    if (std::find(out.begin(), out.end(), r.ifname) == out.end()) out.push_back(r.ifname);
  return out;
}

std::optional<std::size_t> Table::lookup(Family family, const std::array<std::uint8_t, 16>& addr) const {
  for (std::size_t i : family == Family::V6 ? v6_ : v4_)
    if (holds(routes_[i].prefix, addr)) return i;
  return std::nullopt;
}

Result<Table> parse_table(std::string_view text) {
  Table t;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    line = line.substr(0, line.find('#'));
    const auto tok = split(line);
    if (tok.empty()) continue;
    if (tok.size() < 3) {
      const std::size_t first = line.find_first_not_of(" \t\r"), last = line.find_last_not_of(" \t\r");
      return xdpguard::fail(EINVAL, "line {}: expected PREFIX OUT_IFACE NEXT_HOP_MAC, got {}", line_no,
                            xdpguard::rules::quote(line.substr(first, last - first + 1)));
    }
    if (tok.size() > 3) return bad(line_no, tok[3], "unexpected after the next hop's MAC");
    Route r;
    r.line = line_no;
    r.prefix = XG_TRY(prefix_of(line_no, tok[0]));
    if (!xdpguard::rules::valid_ifname(tok[1])) return bad(line_no, tok[1], "not an interface name");
    r.ifname = std::string(tok[1]);
    auto mac = xdpguard::consumer::parse_mac(tok[2]);
    if (!mac) return bad(line_no, tok[2], "not a MAC address (six hex pairs, as 02:00:00:00:00:02)");
    r.next_hop = *mac;
    for (const Route& o : t.routes_)
      if (o.prefix == r.prefix) return bad(line_no, tok[0], "the same prefix as line {}", o.line);
    t.routes_.push_back(std::move(r));
  }
  if (t.routes_.empty())
    return xdpguard::fail(EINVAL, "no routes (one a line: PREFIX OUT_IFACE NEXT_HOP_MAC)");
  for (std::size_t i = 0; i < t.routes_.size(); ++i)
    (t.routes_[i].prefix.family == Family::V6 ? t.v6_ : t.v4_).push_back(i);
  auto longest_first = [&](std::size_t a, std::size_t b) {
    return t.routes_[a].prefix.len > t.routes_[b].prefix.len;
  };
  std::stable_sort(t.v4_.begin(), t.v4_.end(), longest_first);
  std::stable_sort(t.v6_.begin(), t.v6_.end(), longest_first);
  return t;
}

std::string mac_to_string(const xdpguard::consumer::Mac& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

}  // namespace xsk_router
