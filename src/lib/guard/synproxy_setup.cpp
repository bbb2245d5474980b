#include "guard/synproxy_setup.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "rules/printer.h"

namespace xdpguard {

Result<std::vector<std::uint16_t>> parse_synproxy_ports(const std::string& text) {
  std::vector<std::uint16_t> ports;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    at = comma + 1;
    if (item.empty()) return fail(EINVAL, "--ports \"{}\": an empty item (expected e.g. 80,443)", text);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (ec == std::errc() && end == item.data() + item.size()) {
      if (value == 0 || value > 65535) return fail(EINVAL, "--ports: port {} is out of range 1-65535", item);
    } else {
      const servent* s = ::getservbyname(item.c_str(), "tcp");
      if (!s)
        return fail(EINVAL, "--ports: unknown port \"{}\" (a number 1-65535 or a TCP service name)", item);
      value = ntohs(static_cast<std::uint16_t>(s->s_port));
    }
    const auto port = static_cast<std::uint16_t>(value);
    if (std::find(ports.begin(), ports.end(), port) != ports.end())
      return fail(EINVAL, "--ports: port {} is given twice", port);
    ports.push_back(port);
  }
  if (ports.size() > XDPGUARD_SYNPROXY_MAX_PORTS)
    return fail(EINVAL, "--ports: {} ports, at most {}", ports.size(), XDPGUARD_SYNPROXY_MAX_PORTS);
  return ports;
}

Result<void> validate_synproxy(const SynproxyConfig& cfg) {
  if (cfg.ports.empty()) return fail(EINVAL, "synproxy needs at least one port (--ports 80,443)");
  if (cfg.ports.size() > XDPGUARD_SYNPROXY_MAX_PORTS)
    return fail(EINVAL, "--ports: {} ports, at most {}", cfg.ports.size(), XDPGUARD_SYNPROXY_MAX_PORTS);
  for (auto p : cfg.ports)
    if (p == 0) return fail(EINVAL, "--ports: port 0 is out of range 1-65535");
  if (cfg.mss4 < 536) return fail(EINVAL, "--mss4 {}: expected 536 to 65535", cfg.mss4);
  if (cfg.mss6 < 1220) return fail(EINVAL, "--mss6 {}: expected 1220 to 65535", cfg.mss6);
  if (cfg.wscale > 14) return fail(EINVAL, "--wscale {}: expected 0 to 14", cfg.wscale);
  if (cfg.ttl == 0) return fail(EINVAL, "--ttl 0: expected 1 to 255");
  return {};
}

std::string synproxy_table(int ifindex) { return fmt::format("xdpguard_synproxy_{}", ifindex); }

namespace {

// The nft form of an address: "198.18.0.1", "fd00::1".
std::string nft_addr(const rules::Prefix& p) { return rules::prefix_to_string(p); }

std::string nft_element(const TcpConnection& c) {
  return fmt::format("{} . {} . {} . {}", nft_addr(c.remote), c.remote_port, nft_addr(c.local), c.local_port);
}

// "add element inet T pre4 { ... }" for the connections of one family.
std::string add_elements(const std::string& table, const std::vector<TcpConnection>& existing,
                         rules::Family family) {
  std::vector<std::string> elems;
  for (const auto& c : existing)
    if (c.local.family == family) elems.push_back(nft_element(c));
  if (elems.empty()) return "";
  return fmt::format("add element inet {} {} {{ {} }}\n", table,
                     family == rules::Family::V4 ? "pre4" : "pre6", fmt::join(elems, ", "));
}

// 8 or 32 hex digits of /proc/net/tcp: the address as the kernel's 32-bit
// words printed in host byte order.
bool parse_proc_addr(std::string_view hex, bool v6, rules::Prefix& out) {
  const std::size_t words = v6 ? 4 : 1;
  if (hex.size() != words * 8) return false;
  out = {};
  out.family = v6 ? rules::Family::V6 : rules::Family::V4;
  out.len = v6 ? 128 : 32;
  for (std::size_t w = 0; w < words; ++w) {
    std::uint32_t v = 0;
    auto [end, ec] = std::from_chars(hex.data() + w * 8, hex.data() + w * 8 + 8, v, 16);
    if (ec != std::errc() || end != hex.data() + w * 8 + 8) return false;
    // the kernel printed the word as this machine reads it: its bytes, as
    // they lie in memory, are the address in network order
    std::memcpy(out.addr.data() + w * 4, &v, 4);
  }
  return true;
}

bool parse_proc_endpoint(std::string_view s, bool v6, rules::Prefix& addr, std::uint16_t& port) {
  const std::size_t colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  unsigned p = 0;
  auto rest = s.substr(colon + 1);
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), p, 16);
  if (ec != std::errc() || end != rest.data() + rest.size() || p > 65535) return false;
  port = static_cast<std::uint16_t>(p);
  return parse_proc_addr(s.substr(0, colon), v6, addr);
}

// ::ffff:a.b.c.d -> a.b.c.d
void unmap_v4(rules::Prefix& p) {
  static constexpr std::array<std::uint8_t, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (p.family != rules::Family::V6 || !std::equal(kMapped.begin(), kMapped.end(), p.addr.begin())) return;
  rules::Prefix v4;
  v4.family = rules::Family::V4;
  v4.len = 32;
  std::copy(p.addr.begin() + 12, p.addr.end(), v4.addr.begin());
  p = v4;
}

}  // namespace

std::vector<TcpConnection> parse_proc_net_tcp(std::string_view text, bool v6,
                                              const std::vector<std::uint16_t>& ports) {
  constexpr unsigned kListen = 0x0A;  // TCP_LISTEN
  std::vector<TcpConnection> out;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    // "  sl  local_address rem_address   st ..."
    std::vector<std::string_view> f;
    for (std::size_t at = 0; at < line.size() && f.size() < 4;) {
      while (at < line.size() && line[at] == ' ') ++at;
      const std::size_t start = at;
      while (at < line.size() && line[at] != ' ') ++at;
      if (at > start) f.push_back(line.substr(start, at - start));
    }
    if (f.size() < 4 || f[0].empty() || f[0].back() != ':') continue;  // the header, or junk
    TcpConnection c;
    unsigned st = 0;
    auto [end, ec] = std::from_chars(f[3].data(), f[3].data() + f[3].size(), st, 16);
    if (ec != std::errc() || end != f[3].data() + f[3].size() || st == kListen) continue;
    if (!parse_proc_endpoint(f[1], v6, c.local, c.local_port) ||
        !parse_proc_endpoint(f[2], v6, c.remote, c.remote_port))
      continue;
    if (std::find(ports.begin(), ports.end(), c.local_port) == ports.end()) continue;
    unmap_v4(c.local);
    unmap_v4(c.remote);
    if (c.local.family != c.remote.family) continue;
    out.push_back(c);
  }
  return out;
}

std::string nft_synproxy_script(const std::string& table, int ifindex, const SynproxyConfig& cfg,
                                const std::vector<TcpConnection>& existing) {
  // `iif N` is an interface index; `fib daddr type local` keeps forwarded
  // traffic (and broadcasts) out of every rule.
  const std::string iface = fmt::format("iif {}", ifindex);
  const std::string match = fmt::format("{} tcp dport {{ {} }}", iface, fmt::join(cfg.ports, ", "));
  std::string s;
  s += fmt::format("table inet {} {{\n", table);
  s += fmt::format(
      "  comment \"xdpguard synproxy on ifindex {}: XDP answers SYNs, SYNPROXY takes the ACKs\"\n", ifindex);
  s += "  set pre4 {\n    type ipv4_addr . inet_service . ipv4_addr . inet_service\n  }\n";
  s += "  set pre6 {\n    type ipv6_addr . inet_service . ipv6_addr . inet_service\n  }\n";
  s += "  chain prerouting {\n";
  s += "    type filter hook prerouting priority raw; policy accept;\n";
  s += fmt::format("    {} tcp flags & (fin | syn | rst | ack) == syn fib daddr type local notrack\n", match);
  s += "  }\n";
  s += "  chain input {\n";
  s += "    type filter hook input priority filter; policy accept;\n";
  s += fmt::format("    {} ip saddr . tcp sport . ip daddr . tcp dport @pre4 accept\n", iface);
  s += fmt::format("    {} ip6 saddr . tcp sport . ip6 daddr . tcp dport @pre6 accept\n", iface);
  for (auto [proto, mss] : {std::pair{"ipv4", cfg.mss4}, std::pair{"ipv6", cfg.mss6}})
    s += fmt::format(
        "    meta nfproto {} {} ct state invalid,untracked synproxy mss {} wscale {} timestamp sack-perm\n",
        proto, match, mss, cfg.wscale);
  s += fmt::format("    {} ct state invalid drop\n", match);
  s += "  }\n";
  s += "}\n";
  s += nft_existing_elements(table, existing);
  return s;
}

std::string nft_existing_elements(const std::string& table, const std::vector<TcpConnection>& existing) {
  return add_elements(table, existing, rules::Family::V4) + add_elements(table, existing, rules::Family::V6);
}

std::vector<rules::Prefix> synproxy_local_prefixes(const std::vector<LocalRoute>& routes, int ifindex) {
  std::vector<rules::Prefix> out;
  for (const auto& r : routes) {
    const auto& a = r.prefix.addr;
    if (r.prefix.family == rules::Family::V4) {
      if (a[0] == 127) continue;  // 127.0.0.0/8: loopback
    } else {
      const bool loopback = r.prefix.len == 128 &&
                            std::all_of(a.begin(), a.begin() + 15, [](auto b) { return b == 0; }) &&
                            a[15] == 1;
      const bool link_local = a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
      if (loopback || (link_local && r.oif != ifindex)) continue;
    }
    if (std::find(out.begin(), out.end(), r.prefix) == out.end()) out.push_back(r.prefix);
  }
  return out;
}

}  // namespace xdpguard
