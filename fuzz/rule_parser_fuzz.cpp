// libFuzzer target: the rule parser and the canonical printer. Any input
// either fails with an error (never a crash, never an exception) or parses;
// a parsed rule must satisfy the normal form of rules/rule.h, print to text
// that parses back to the same rule, and that text must be a fixed point.
// A violated invariant aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "rules/parser.h"
#include "rules/printer.h"

namespace {

using namespace xdpguard::rules;

void check(bool ok) {
  if (!ok) std::abort();
}

void check_prefix(const Prefix& p) {
  check(p.family == Family::V4 || p.family == Family::V6);
  check(p.len <= (p.family == Family::V4 ? 32 : 128));
  Prefix q = p;
  clear_host_bits(q);
  check(q == p);
}

void check_normal_form(const Rule& r) {
  for (const auto* m : {&r.saddr, &r.daddr}) {
    if (!*m) continue;
    check((*m)->prefix.has_value() != !(*m)->set.empty());
    if ((*m)->prefix) {
      check_prefix(*(*m)->prefix);
      check(r.family == (*m)->prefix->family);
    } else {
      check(valid_set_name((*m)->set));
    }
  }
  if (r.sport) check(r.sport->lo <= r.sport->hi);
  if (r.dport) check(r.dport->lo <= r.dport->hi);
  if (r.sport || r.dport) check(r.proto == kProtoTcp || r.proto == kProtoUdp);
  if (r.flags_mask) check(r.proto == kProtoTcp);
  check((r.flags_value & ~r.flags_mask) == 0);
  if (r.proto == kProtoIcmp) check(r.family == Family::V4);
  if (r.proto == kProtoIcmpv6) check(r.family == Family::V6);
  check((r.action == Action::RedirectDev) == !r.redirect_dev.empty());
  if (r.action == Action::RedirectDev) check(valid_ifname(r.redirect_dev));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = parse_rule(text, 7);
  if (!r) {
    const std::string& m = r.error().message();
    check(m.rfind("rule 7, column ", 0) == 0);
    return 0;
  }
  check_normal_form(*r);
  std::string canon = to_string(*r);
  auto back = parse_rule(canon);
  check(back.has_value());
  check(*back == *r);
  check(to_string(*back) == canon);
  return 0;
}
