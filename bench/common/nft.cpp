#include "common/nft.h"

#include <fmt/format.h>

#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard::bench {

using rules::Family;

Result<std::string> to_nft(const rules::Rule& r, const std::string& counter) {
  if ((r.saddr && !r.saddr->prefix) || (r.daddr && !r.daddr->prefix))
    return fail(EINVAL, "nft translation: sets are not translated");
  if (r.action != rules::Action::Drop && r.action != rules::Action::Pass)
    return fail(EINVAL, "nft translation: only pass and drop");
  std::string s;
  const bool has_addr = r.saddr || r.daddr;
  const char* ip = r.family == Family::V6 ? "ip6" : "ip";
  // The family, unless an address match implies it.
  if (r.family != Family::Any && !has_addr) s += fmt::format("meta protocol {} ", ip);
  if (r.saddr) s += fmt::format("{} saddr {} ", ip, rules::prefix_to_string(*r.saddr->prefix));
  if (r.daddr) s += fmt::format("{} daddr {} ", ip, rules::prefix_to_string(*r.daddr->prefix));
  const bool l4 = r.sport || r.dport || r.flags_mask;
  // The protocol, unless a port or flag match implies it.
  if (r.proto && !l4) s += fmt::format("meta l4proto {} ", *r.proto);
  const char* proto = r.proto == rules::kProtoTcp ? "tcp" : "udp";
  auto ports = [](const rules::PortRange& p) {
    return p.lo == p.hi ? std::to_string(p.lo) : fmt::format("{}-{}", p.lo, p.hi);
  };
  if (r.sport) s += fmt::format("{} sport {} ", proto, ports(*r.sport));
  if (r.dport) s += fmt::format("{} dport {} ", proto, ports(*r.dport));
  if (r.flags_mask) s += fmt::format("tcp flags & 0x{:x} == 0x{:x} ", r.flags_mask, r.flags_value);
  if (!counter.empty()) s += fmt::format("counter name \"{}\" ", counter);
  s += r.action == rules::Action::Drop ? "drop" : "accept";
  return s;
}

Result<std::string> nft_ingress_script(const std::string& table, const std::string& device,
                                       const std::vector<std::string>& rule_texts) {
  std::string s = fmt::format(
      "table netdev {0}\ndelete table netdev {0}\ntable netdev {0} {{\n  counter xg_last {{ }}\n"
      "  chain in {{\n    type filter hook ingress device \"{1}\" priority 0; policy accept;\n",
      table, device);
  for (std::size_t i = 0; i < rule_texts.size(); ++i) {
    auto rule = XG_TRY(rules::parse_rule(rule_texts[i], i + 1));
    s += "    " + XG_TRY(to_nft(rule, i + 1 == rule_texts.size() ? "xg_last" : "")) + "\n";
  }
  s += "  }\n}\n";
  return s;
}

}  // namespace xdpguard::bench
