// libFuzzer target: the TOML config loader on arbitrary text, in memory. Set
// files are served by a reader that knows one small file and fails for any
// other path (no file system access). The loader must return a Config or an
// Error naming the source and a line — never crash or let an exception out —
// and every rule of a loaded config must be in the parser's normal form
// (its canonical text parses back to it) and use only defined sets; flood
// detection's settings are within their limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.h"
#include "rules/parser.h"
#include "rules/printer.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xdpguard;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  config::FileReader reader = [](const std::string& path) -> Result<std::string> {
    if (path == "/etc/xdpguard/list.txt") return std::string("10.0.0.0/8\n# c\n2001:db8::/32\n");
    return fail(ENOENT, "{}: No such file or directory", path);
  };
  auto c = config::parse_config(text, "/etc/xdpguard/fuzz.toml", reader);
  if (!c) {
    check(c.error().message().rfind("/etc/xdpguard/fuzz.toml line ", 0) == 0);
    return 0;
  }
  auto flood_ok = [](const config::Flood& f) {
    for (const auto& pps : {f.syn_pps, f.udp_pps, f.icmp_pps, f.frag_pps})
      if (pps && *pps > config::kFloodMaxPps) return false;
    return (!f.hold || (*f.hold >= 1 && *f.hold <= config::kFloodMaxHold)) &&
           (!f.top_sources || *f.top_sources <= config::kFloodMaxTop);
  };
  check(flood_ok(c->flood));
  for (const auto& ifc : c->interfaces) {
    check(rules::valid_ifname(ifc.name));
    check(flood_ok(ifc.flood));
    for (const auto& r : ifc.rules) {
      auto back = rules::parse_rule(rules::to_string(r.rule));
      check(back.has_value() && *back == r.rule);
    }
    for (const auto& s : ifc.sets) check(c->find_set(s) != nullptr);
    for (const auto& w : ifc.warnings) check(w.covered_by < w.rule_index && w.rule_index < ifc.rules.size());
  }
  return 0;
}
