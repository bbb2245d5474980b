#include "guard/synproxy_setup.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

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

std::string nft_synproxy_script(const std::string& table, const std::string& ifname,
                                const SynproxyConfig& cfg) {
  const std::string match =
      fmt::format("iifname \"{}\" tcp dport {{ {} }}", ifname, fmt::join(cfg.ports, ", "));
  std::string s;
  s += fmt::format("table inet {} {{\n", table);
  s += fmt::format("  comment \"xdpguard synproxy on {}: XDP answers SYNs, SYNPROXY takes the ACKs\"\n",
                   ifname);
  s += "  chain prerouting {\n";
  s += "    type filter hook prerouting priority raw; policy accept;\n";
  s += fmt::format("    {} tcp flags & (fin | syn | rst | ack) == syn notrack\n", match);
  s += "  }\n";
  s += "  chain input {\n";
  s += "    type filter hook input priority filter; policy accept;\n";
  for (auto [proto, mss] : {std::pair{"ipv4", cfg.mss4}, std::pair{"ipv6", cfg.mss6}})
    s += fmt::format(
        "    meta nfproto {} {} ct state invalid,untracked synproxy mss {} wscale {} timestamp sack-perm\n",
        proto, match, mss, cfg.wscale);
  s += fmt::format("    {} ct state invalid drop\n", match);
  s += "  }\n";
  s += "}\n";
  return s;
}

}  // namespace xdpguard
