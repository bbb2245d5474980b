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

#include "rules/limit.h"
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
  for (const auto& [list, max] :
       {std::pair{&r.icmp_type, kMaxIcmpValue}, std::pair{&r.icmp_code, kMaxIcmpValue},
        std::pair{&r.length, kMaxLength}, std::pair{&r.dscp, kMaxDscp}}) {
    if (!list->has_value()) continue;
    const auto& v = list->value();
    // Sorted, neither overlapping nor touching, within bounds, 1-16 ranges.
    check(!v.empty() && v.size() <= kMaxValueRanges);
    for (std::size_t i = 0; i < v.size(); ++i) {
      const ValueRange& x = v[i];
      check(x.lo <= x.hi && x.hi <= max);
      if (i) check(v[i - 1].hi + 1 < x.lo);
    }
  }
  if (r.icmp_type || r.icmp_code) check(r.proto == kProtoIcmp || r.proto == kProtoIcmpv6);
  check((r.frag_mask & ~0x0f) == 0 && (r.frag_value & ~r.frag_mask) == 0);
  check(r.comment.size() <= 128);
  for (char c : r.comment) check(c >= 0x20 && c < 0x7f && c != '"' && c != '\\');
  if (r.limit) {
    const Limit& l = *r.limit;
    check(l.rate >= 1 && limit_depth_ns(l) <= kMaxDepthNs);
    if (l.bytes) {
      // A byte limit: the kernel's fixed point never overflows.
      const ByteCost c = byte_cost(l);
      check(l.rate <= kMaxByteRate && c.shift >= 1 && c.shift <= 63);
      check(c.mult <= UINT64_MAX / kMaxIpLen);
      check(byte_cost_ns(c, kMaxIpLen) >= nft_byte_cost_ns(l, kMaxIpLen));
    } else {
      check(l.rate <= kMaxRate && l.burst >= 1 && limit_cost_ns(l) >= 1);
    }
  }
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
