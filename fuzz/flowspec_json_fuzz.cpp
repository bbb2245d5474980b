// libFuzzer target: the FlowSpec consumer's input (flowspec/exabgp.h,
// flowspec/gobgp.h) on arbitrary lines. Neither decoder may crash or throw;
// every route a decoder accepts is valid (flowspec/route.h validate), and
// each rule it translates to is printed as text the rule parser reads back
// to the same rule (what the consumer installs is what it meant).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "flowspec/exabgp.h"
#include "flowspec/gobgp.h"
#include "flowspec/translate.h"
#include "rules/parser.h"
#include "rules/printer.h"

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}

void check_events(const xdpguard::flowspec::Decoded& d) {
  using namespace xdpguard;
  for (const auto& e : d.events) {
    if (e.kind != flowspec::Event::Kind::Announce && e.kind != flowspec::Event::Kind::Withdraw) continue;
    check(flowspec::validate(e.route).has_value());
    auto t = flowspec::translate(e.route);
    if (!t) continue;
    for (const auto& r : t->rules) {
      const std::string text = rules::to_string(r);
      auto back = rules::parse_rule(text);
      check(back.has_value());
      check(*back == r);
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xdpguard;
  std::string_view line(reinterpret_cast<const char*>(data), size);
  check_events(flowspec::decode_exabgp(line));
  check_events(flowspec::decode_gobgp(line, rules::Family::V4, "g"));
  check_events(flowspec::decode_gobgp(line, rules::Family::V6, "g"));
  return 0;
}
