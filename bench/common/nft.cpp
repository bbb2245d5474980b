#include "common/nft.h"

#include <fmt/format.h>

#include "oracle/nft.h"
#include "rules/parser.h"

namespace xdpguard::bench {

Result<std::string> nft_ingress_script(const std::string& table, const std::string& device,
                                       const std::vector<std::string>& rule_texts) {
  std::string s = fmt::format(
      "table netdev {0}\ndelete table netdev {0}\ntable netdev {0} {{\n  counter xg_last {{ }}\n"
      "  chain in {{\n    type filter hook ingress device \"{1}\" priority 0; policy accept;\n",
      table, device);
  for (std::size_t i = 0; i < rule_texts.size(); ++i) {
    auto rule = XG_TRY(rules::parse_rule(rule_texts[i], i + 1));
    if ((rule.saddr && !rule.saddr->prefix) || (rule.daddr && !rule.daddr->prefix))
      return fail(EINVAL, "nft script: rule {} names a set", i + 1);
    rules::NftOptions opts;
    if (i + 1 == rule_texts.size()) opts.counter = "xg_last";
    for (const auto& line : XG_TRY(rules::to_nft(rule, opts))) s += "    " + line + "\n";
  }
  s += "  }\n}\n";
  return s;
}

}  // namespace xdpguard::bench
