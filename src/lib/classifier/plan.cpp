#include "classifier/plan.h"

#include <linux/bpf.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "bpf/abi.h"
#include "classifier/tables.h"

namespace xdpguard::cls {

const std::optional<rules::AddrMatch>& addr_of(const rules::Rule& r, Field f) {
  return f == Field::Saddr ? r.saddr : r.daddr;
}

std::uint32_t host_v4(const std::array<std::uint8_t, 16>& a) {
  return (std::uint32_t{a[0]} << 24) | (std::uint32_t{a[1]} << 16) | (std::uint32_t{a[2]} << 8) | a[3];
}

namespace {

using rules::Action;
using rules::Family;

bool uses_set(const CompiledRule& r) { return r.saddr_set || r.daddr_set; }

// The FlowSpec matches (icmp-type, icmp-code, length, dscp, frag): compares
// folded into a chain rule's branch, never a table's residual check.
bool uses_flowspec(const rules::Rule& r) {
  return r.icmp_type || r.icmp_code || r.length || r.dscp || r.frag_mask;
}

bool keyed(const TableKey& k, const rules::Rule& r) { return key_ports(k, r) || key_prefix(k, r); }

// The most rules a table with key k can take from `pool` (index_rules takes
// no more): those keyed, at most kMaxTableRules.
std::size_t key_bound(const TableKey& k, const std::vector<std::uint32_t>& pool,
                      const std::vector<CompiledRule>& rules) {
  const auto n = static_cast<std::size_t>(
      std::count_if(pool.begin(), pool.end(), [&](std::uint32_t pos) { return keyed(k, rules[pos].rule); }));
  return std::min<std::size_t>(n, kMaxTableRules);
}

// Table keys worth trying for a partition's remaining rules.
std::vector<TableKey> candidate_keys(std::uint8_t family, std::optional<std::uint8_t> proto,
                                     const std::vector<std::uint32_t>& pool,
                                     const std::vector<CompiledRule>& rules) {
  std::vector<TableKey> keys;
  if (proto == rules::kProtoTcp || proto == rules::kProtoUdp) {
    keys.push_back({GroupKind::Ports, Field::Dport});
    keys.push_back({GroupKind::Ports, Field::Sport});
  }
  for (Field f : {Field::Saddr, Field::Daddr}) {
    if (family == 4) keys.push_back({GroupKind::Trie4, f});
    if (family != 6) continue;
    std::set<std::uint8_t> lens;
    for (auto pos : pool)
      if (const auto& a = addr_of(rules[pos].rule, f); a && a->prefix && a->prefix->len >= 8)
        lens.insert(a->prefix->len);
    // Each length is one trial over the pool: try at most 8, spread over them
    // (the shortest takes the most rules, longer ones split crowded buckets).
    std::vector<std::uint8_t> all(lens.begin(), lens.end());
    const std::size_t n = std::min<std::size_t>(all.size(), 8);
    for (std::size_t i = 0; i < n; ++i) keys.push_back({GroupKind::Hash6, f, all[i * all.size() / n]});
  }
  return keys;
}

// Splits one partition's rules into table groups and (at most) one chain.
void plan_partition(std::uint8_t family, std::optional<std::uint8_t> proto,
                    const std::vector<std::uint32_t>& positions, const std::vector<CompiledRule>& rules,
                    std::vector<Group>& out) {
  std::vector<std::uint32_t> pool, chain;
  // Rules with sets, rules with limits (the limiter resumes after them:
  // limit_code.h) and rules with the FlowSpec matches (tables have no
  // residual check for them) are always chain rules.
  for (auto pos : positions)
    (uses_set(rules[pos]) || rules[pos].rule.limit || uses_flowspec(rules[pos].rule) ? chain : pool)
        .push_back(pos);
  while (pool.size() > kChainMax) {
    // The key that takes the most rules; of those, the first. Tried most
    // promising first, and a key that can take no more than the best so
    // far (nor as many, coming after it) is not built: the same key wins as
    // when every one is tried, for fewer builds (each is a whole table).
    const auto keys = candidate_keys(family, proto, pool, rules);
    std::vector<std::pair<std::size_t, std::size_t>> order;  // (bound, index)
    for (std::size_t i = 0; i < keys.size(); ++i) order.emplace_back(key_bound(keys[i], pool, rules), i);
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    std::optional<std::size_t> best;
    IndexedRules best_trial;
    const auto& best_taken = best_trial.taken;
    for (const auto& [bound, i] : order) {
      if (bound < best_taken.size() || (bound == best_taken.size() && (!best || i > *best))) continue;
      auto trial = index_rules(keys[i], pool, rules, kMaxTableRules);
      if (trial.taken.size() > best_taken.size() ||
          (trial.taken.size() == best_taken.size() && best && i < *best)) {
        best = i;
        best_trial = std::move(trial);
      }
    }
    if (!best || best_taken.size() < kMinTable) break;
    const TableKey* chosen = &keys[*best];
    Group g;
    g.kind = chosen->kind;
    g.field = chosen->field;
    g.family = family;
    g.proto = proto;
    g.key_len = chosen->key_len;
    g.rules = best_taken;
    g.index = std::move(best_trial.index);
    out.push_back(std::move(g));
    std::vector<std::uint32_t> rest;
    std::set_difference(pool.begin(), pool.end(), best_taken.begin(), best_taken.end(),
                        std::back_inserter(rest));
    pool = std::move(rest);
  }
  chain.insert(chain.end(), pool.begin(), pool.end());
  std::sort(chain.begin(), chain.end());
  if (!chain.empty()) {
    Group g;
    g.family = family;
    g.proto = proto;
    g.rules = std::move(chain);
    out.push_back(std::move(g));
  }
}

std::uint32_t xdp_action(Action a) {
  switch (a) {
    case Action::Pass: return XDP_PASS;
    case Action::Drop: return XDP_DROP;
    default: return XDP_REDIRECT;
  }
}

// `log N/M` as the kernel's sampling threshold (abi.h, "The verdict word").
std::uint32_t log_threshold(const rules::LogSpec& l) {
  if (l.n >= l.m) return XDPGUARD_LOG_ALL;
  const std::uint64_t t = (std::uint64_t{l.n} * XDPGUARD_LOG_SCALE + l.m / 2) / l.m;
  return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(t, 1, XDPGUARD_LOG_ALL - 1));
}

}  // namespace

VlanTest vlan_test(const rules::VlanMatch& v) {
  // Built as the two 16-bit tags lie in memory, then read as the word the
  // code loads: the same bytes on any host.
  std::uint16_t mask[XDPGUARD_MAX_VLAN] = {0xffff, 0};
  std::uint16_t value[XDPGUARD_MAX_VLAN] = {0, 0};
  if (!v.none) value[0] = static_cast<std::uint16_t>(v.id | XDPGUARD_VLAN_TAGGED);
  if (!v.none && v.inner) {
    mask[1] = 0xffff;
    value[1] = static_cast<std::uint16_t>(*v.inner | XDPGUARD_VLAN_TAGGED);
  }
  VlanTest t;
  static_assert(sizeof mask == sizeof t.mask && sizeof value == sizeof t.value);
  std::memcpy(&t.mask, mask, sizeof t.mask);
  std::memcpy(&t.value, value, sizeof t.value);
  return t;
}

std::uint32_t verdict_word(const CompiledRule& c) { return c.action | c.log << XDPGUARD_LOG_SHIFT; }

const char* kind_name(GroupKind k) {
  switch (k) {
    case GroupKind::Chain: return "chain";
    case GroupKind::Trie4: return "trie4";
    case GroupKind::Hash6: return "hash6";
    case GroupKind::Ports: return "ports";
  }
  return "";
}

const char* field_name(Field f) {
  switch (f) {
    case Field::Saddr: return "saddr";
    case Field::Daddr: return "daddr";
    case Field::Sport: return "sport";
    case Field::Dport: return "dport";
  }
  return "";
}

bool group_applies(const Group& g, const ClassKey& k) {
  if (g.family && g.family != k.family) return false;
  if (g.proto && (k.proto == kOtherProto || *g.proto != k.proto)) return false;
  return !(k.frag && g.all_l4);
}

Result<Plan> make_plan(std::vector<RuleEntry> entries, std::uint32_t default_action,
                       const CompileContext& ctx) {
  if (entries.size() > XDPGUARD_MAX_RULES)
    return fail(E2BIG, "{} rules, the limit is {}", entries.size(), XDPGUARD_MAX_RULES);
  Plan plan;
  plan.default_action = default_action;
  plan.fake_clock = ctx.fake_clock;
  plan.clock_tick_ns = ctx.fake_clock ? 0 : ctx.clock_tick_ns;
  plan.capture = ctx.capture;
  plan.synproxy = ctx.synproxy;
  plan.talkers = ctx.talkers;
  std::vector<bool> id_used(XDPGUARD_MAX_RULES + 1, false);
  std::size_t blocks = 0;
  plan.rules.reserve(entries.size());
  for (std::uint32_t pos = 0; pos < entries.size(); ++pos) {
    auto& e = entries[pos];
    auto where = [&](std::string_view what) {
      return fmt::format("rule {} (id {}): {}", pos + 1, e.id, what);
    };
    if (e.id == XDPGUARD_RULE_DEFAULT || e.id > XDPGUARD_MAX_RULES)
      return fail(EINVAL, "{}", where(fmt::format("rule id out of range 1..{}", XDPGUARD_MAX_RULES)));
    if (id_used[e.id]) return fail(EINVAL, "{}", where("rule id used twice"));
    id_used[e.id] = true;
    CompiledRule c;
    c.id = e.id;
    c.rule = std::move(e.rule);  // the plan keeps the rules: moved, not copied
    c.text = std::move(e.text);
    const auto& rule = c.rule;
    c.action = xdp_action(rule.action);
    if (rule.action == Action::RedirectXsk) {
      c.ifindex = XDPGUARD_REDIRECT_XSK | (rule.xsk_fallback == Action::Drop ? XDP_DROP : XDP_PASS);
      plan.xsk = true;
    }
    if (rule.action == Action::RedirectDev) {
      auto idx = ctx.ifindex ? ctx.ifindex(rule.redirect_dev) : std::nullopt;
      if (idx) {
        c.ifindex = static_cast<std::uint32_t>(*idx);
      } else {
        // The device is gone: as nftables' `fwd to` a device that went
        // away, the rule stays and the packets it matches are dropped.
        c.action = XDP_DROP;
        c.target_missing = true;
      }
    }
    if (rule.limit && rule.limit->block_seconds && ++blocks > XDPGUARD_MAX_BLOCK_RULES)
      return fail(E2BIG, "{}",
                  where(fmt::format("more than {} rules with block (each costs every packet a lookup "
                                    "while blocks hold)",
                                    XDPGUARD_MAX_BLOCK_RULES)));
    if (rule.log) c.log = log_threshold(*rule.log);
    c.family = rule.family == Family::V4 ? 4 : rule.family == Family::V6 ? 6 : 0;
    c.l4 = rule.sport || rule.dport || rule.flags_mask || rule.icmp_type || rule.icmp_code;
    if (rule.vlan) c.vlan = vlan_test(*rule.vlan);
    for (Field f : {Field::Saddr, Field::Daddr}) {
      const auto& a = addr_of(rule, f);
      if (!a || a->prefix) continue;
      auto idx = ctx.set_index ? ctx.set_index(a->set) : std::nullopt;
      if (!idx) return fail(ENOENT, "{}", where(fmt::format("no set named @{}", a->set)));
      (f == Field::Saddr ? c.saddr_set : c.daddr_set) = idx;
    }
    plan.rules.push_back(std::move(c));
  }
  // The entries, moved from: their memory back to the heap for the tables.
  std::vector<RuleEntry>().swap(entries);

  // Partitions: rules with the same family and protocol requirement.
  std::map<std::pair<std::uint8_t, int>, std::vector<std::uint32_t>> parts;
  for (std::uint32_t pos = 0; pos < plan.rules.size(); ++pos) {
    const auto& r = plan.rules[pos];
    parts[{r.family, r.rule.proto ? int{*r.rule.proto} : -1}].push_back(pos);
  }
  for (const auto& [key, positions] : parts) {
    std::optional<std::uint8_t> proto;
    if (key.second >= 0) proto = static_cast<std::uint8_t>(key.second);
    plan_partition(key.first, proto, positions, plan.rules, plan.groups);
  }
  std::sort(plan.groups.begin(), plan.groups.end(),
            [](const Group& a, const Group& b) { return a.first() < b.first(); });
  for (auto& g : plan.groups) {
    g.all_l4 =
        std::all_of(g.rules.begin(), g.rules.end(), [&](std::uint32_t pos) { return plan.rules[pos].l4; });
    g.vlan_rules = static_cast<std::uint32_t>(std::count_if(
        g.rules.begin(), g.rules.end(), [&](std::uint32_t pos) { return plan.rules[pos].vlan.has_value(); }));
  }

  // Classes: per family, each protocol some rule names, the rest, and
  // non-first fragments of each.
  for (std::uint8_t fam : {std::uint8_t{4}, std::uint8_t{6}}) {
    std::set<std::uint16_t> protos;
    for (const auto& r : plan.rules)
      if (r.rule.proto && (r.family == 0 || r.family == fam)) protos.insert(*r.rule.proto);
    protos.insert(kOtherProto);
    for (auto p : protos) {
      for (bool frag : {false, true}) {
        ClassPath c;
        c.key = {fam, p, frag};
        for (std::uint32_t i = 0; i < plan.groups.size(); ++i)
          if (group_applies(plan.groups[i], c.key)) c.groups.push_back(i);
        plan.classes.push_back(std::move(c));
      }
    }
  }
  return plan;
}

}  // namespace xdpguard::cls
