#include "rules/compiler.h"

#include <linux/bpf.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

namespace xdpguard::rules {
namespace {

struct Shape {
  std::uint8_t family, saddr_len, daddr_len, saddr_set, daddr_set, sport_len, dport_len, has_proto,
      proto, flags_mask, l4;
  auto tie() const {
    return std::tie(family, saddr_len, daddr_len, saddr_set, daddr_set, sport_len, dport_len,
                    has_proto, proto, flags_mask, l4);
  }
  bool operator<(const Shape& o) const { return tie() < o.tie(); }
};

struct KeyLess {
  bool operator()(const xdpguard_cls_key& a, const xdpguard_cls_key& b) const {
    return std::memcmp(&a, &b, sizeof a) < 0;
  }
};

std::uint8_t family_code(Family f) {
  return f == Family::V4 ? 4 : f == Family::V6 ? 6 : 0;
}

// The prefix's bytes as the packet's address words (network byte order).
void prefix_words(const Prefix& p, __u32 out[4]) {
  std::memcpy(out, p.addr.data(), 16);
}

std::uint32_t xdp_action(Action a) {
  switch (a) {
    case Action::Pass: return XDP_PASS;
    case Action::Drop: return XDP_DROP;
    default: return XDP_REDIRECT;
  }
}

}  // namespace

std::vector<std::pair<std::uint16_t, std::uint8_t>> port_blocks(PortRange r) {
  std::vector<std::pair<std::uint16_t, std::uint8_t>> out;
  std::uint32_t lo = r.lo, hi = r.hi;
  while (lo <= hi) {
    // Largest aligned block starting at lo that stays within hi.
    std::uint8_t len = 16;
    while (len > 0) {
      std::uint32_t size = 1u << (16 - (len - 1));
      if ((lo & (size - 1)) != 0 || lo + size - 1 > hi) break;
      --len;
    }
    out.emplace_back(static_cast<std::uint16_t>(lo), len);
    lo += 1u << (16 - len);
  }
  return out;
}

Result<CompiledRuleSet> compile(const std::vector<RuleEntry>& rules, std::uint32_t default_action,
                                const CompileContext& ctx) {
  if (rules.size() > XDPGUARD_MAX_RULES)
    return fail(E2BIG, "{} rules, the limit is {}", rules.size(), XDPGUARD_MAX_RULES);

  std::map<Shape, std::uint32_t> shape_prio;          // shape -> best (lowest) position
  std::map<Shape, std::uint32_t> shape_first_seen;    // tie-break: order of appearance
  struct Pending {
    Shape shape;
    xdpguard_cls_key key;
    xdpguard_match match;
  };
  std::vector<Pending> pending;
  std::map<std::pair<Shape, xdpguard_cls_key>, bool,
           decltype([](const auto& a, const auto& b) {
             if (a.first < b.first) return true;
             if (b.first < a.first) return false;
             return std::memcmp(&a.second, &b.second, sizeof a.second) < 0;
           })>
      claimed;

  for (std::uint32_t pos = 0; pos < rules.size(); ++pos) {
    const Rule& r = rules[pos].rule;
    auto where = [&](std::string_view what) {
      return fmt::format("rule {} (id {}): {}", pos + 1, rules[pos].id, what);
    };
    if (rules[pos].id == XDPGUARD_RULE_DEFAULT || rules[pos].id > XDPGUARD_MAX_RULES)
      return fail(EINVAL, "{}", where(fmt::format("rule id out of range 1..{}", XDPGUARD_MAX_RULES)));

    xdpguard_match m{};
    m.prio = pos;
    m.slot = rules[pos].id;
    m.action = xdp_action(r.action);
    if (r.action == Action::RedirectXsk)
      return fail(ENOTSUP, "{}", where("redirect xsk: AF_XDP sockets are not supported yet"));
    if (r.action == Action::RedirectDev) {
      auto idx = ctx.ifindex ? ctx.ifindex(r.redirect_dev) : std::nullopt;
      if (!idx)
        return fail(ENODEV, "{}", where(fmt::format("redirect dev {}: no such interface", r.redirect_dev)));
      m.ifindex = static_cast<std::uint32_t>(*idx);
    }

    Shape base{};
    base.family = family_code(r.family);
    base.has_proto = r.proto.has_value();
    base.proto = r.proto.value_or(0);
    base.flags_mask = r.flags_mask;
    base.l4 = r.sport || r.dport || r.flags_mask;
    auto addr_shape = [&](const std::optional<AddrMatch>& a, std::uint8_t& len,
                          std::uint8_t& set) -> Result<void> {
      if (!a) return {};
      if (a->prefix) {
        len = a->prefix->len;
        return {};
      }
      auto idx = ctx.set_index ? ctx.set_index(a->set) : std::nullopt;
      if (!idx) return fail(ENOENT, "{}", where(fmt::format("no set named @{}", a->set)));
      set = static_cast<std::uint8_t>(*idx + 1);
      return {};
    };
    XG_CHECK(addr_shape(r.saddr, base.saddr_len, base.saddr_set));
    XG_CHECK(addr_shape(r.daddr, base.daddr_len, base.daddr_set));

    xdpguard_cls_key kbase{};
    kbase.kind = XDPGUARD_KEY_MATCH;
    kbase.family = base.family;
    kbase.proto = r.proto.value_or(0);
    kbase.flags = r.flags_value & r.flags_mask;
    if (r.saddr && r.saddr->prefix) prefix_words(*r.saddr->prefix, kbase.saddr);
    if (r.daddr && r.daddr->prefix) prefix_words(*r.daddr->prefix, kbase.daddr);

    auto sblocks = r.sport ? port_blocks(*r.sport) : std::vector<std::pair<std::uint16_t, std::uint8_t>>{{0, 0}};
    auto dblocks = r.dport ? port_blocks(*r.dport) : std::vector<std::pair<std::uint16_t, std::uint8_t>>{{0, 0}};
    for (const auto& [sv, sl] : sblocks) {
      for (const auto& [dv, dl] : dblocks) {
        Shape sh = base;
        sh.sport_len = sl;
        sh.dport_len = dl;
        xdpguard_cls_key k = kbase;
        k.sport = sv;
        k.dport = dv;
        // First match wins: an earlier rule with the same shape and key
        // already decides every packet this entry would see.
        if (!claimed.emplace(std::make_pair(sh, k), true).second) continue;
        if (!shape_prio.count(sh)) {
          shape_prio[sh] = pos;
          shape_first_seen[sh] = static_cast<std::uint32_t>(shape_first_seen.size());
        }
        pending.push_back({sh, k, m});
        if (pending.size() > XDPGUARD_MAX_CLS_ENTRIES)
          return fail(E2BIG, "the rule set needs more than {} classifier entries (port ranges "
                      "expand into prefix blocks)", XDPGUARD_MAX_CLS_ENTRIES);
      }
    }
  }

  if (shape_prio.size() > XDPGUARD_MAX_TUPLES)
    return fail(E2BIG,
                "the rule set has {} distinct rule shapes (combinations of family, prefix lengths, "
                "sets, port-range blocks, protocol and flags); the limit is {}",
                shape_prio.size(), XDPGUARD_MAX_TUPLES);

  // Order tuples by their best rule, then by first appearance.
  std::vector<Shape> order;
  for (const auto& [sh, prio] : shape_prio) order.push_back(sh);
  std::sort(order.begin(), order.end(), [&](const Shape& a, const Shape& b) {
    return std::make_pair(shape_prio[a], shape_first_seen[a]) <
           std::make_pair(shape_prio[b], shape_first_seen[b]);
  });
  std::map<Shape, std::uint16_t> index;
  for (std::size_t i = 0; i < order.size(); ++i) index[order[i]] = static_cast<std::uint16_t>(i);

  CompiledRuleSet out;
  out.ntuples = static_cast<std::uint32_t>(order.size());
  out.nmatches = static_cast<std::uint32_t>(pending.size());
  out.entries.reserve(1 + order.size() + pending.size());
  {
    xdpguard_cls_key k{};
    k.kind = XDPGUARD_KEY_HEADER;
    xdpguard_cls_value v{};
    v.header.ntuples = out.ntuples;
    v.header.default_action = default_action;
    v.header.nrules = static_cast<std::uint32_t>(rules.size());
    out.entries.emplace_back(k, v);
  }
  for (std::size_t i = 0; i < order.size(); ++i) {
    const Shape& sh = order[i];
    xdpguard_cls_key k{};
    k.kind = XDPGUARD_KEY_TUPLE;
    k.tuple = static_cast<std::uint16_t>(i);
    xdpguard_cls_value v{};
    v.tuple.min_prio = shape_prio[sh];
    v.tuple.family = sh.family;
    v.tuple.saddr_len = sh.saddr_len;
    v.tuple.daddr_len = sh.daddr_len;
    v.tuple.saddr_set = sh.saddr_set;
    v.tuple.daddr_set = sh.daddr_set;
    v.tuple.sport_len = sh.sport_len;
    v.tuple.dport_len = sh.dport_len;
    v.tuple.has_proto = sh.has_proto;
    v.tuple.proto = sh.proto;
    v.tuple.flags_mask = sh.flags_mask;
    v.tuple.l4 = sh.l4;
    out.entries.emplace_back(k, v);
  }
  for (const auto& p : pending) {
    xdpguard_cls_key k = p.key;
    k.tuple = index[p.shape];
    xdpguard_cls_value v{};
    v.match = p.match;
    out.entries.emplace_back(k, v);
  }
  return out;
}

}  // namespace xdpguard::rules
