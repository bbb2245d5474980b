#include "apply/diff.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "rules/printer.h"

namespace xdpguard::apply {
namespace {

template <class T>
Change<T> change(const T& from, const T& to) {
  if (from == to) return std::nullopt;
  return std::make_pair(from, to);
}

std::string prefixes_text(const std::vector<rules::Prefix>& v) {
  if (v.empty()) return "(none)";
  std::string out;
  for (const auto& p : v) out += (out.empty() ? "" : ", ") + rules::prefix_to_string(p);
  return out;
}

std::string flood_text(const telemetry::FloodConfig& f) {
  static const char* names[] = {"syn", "udp", "icmp", "frag"};
  std::string out;
  for (std::size_t i = 0; i < f.pps.size() && i < 4; ++i)
    if (f.pps[i]) out += fmt::format("{}{}-pps {}", out.empty() ? "" : ", ", names[i], f.pps[i]);
  if (out.empty()) out = "not watched";
  return fmt::format("{}, hold {} s, top {}", out, f.hold_s, f.top);
}

const char* action_text(std::uint32_t a) {
  const char* n = action_name(a);
  return *n ? n : "?";
}

std::vector<rules::Prefix> sorted(std::vector<rules::Prefix> v) {
  auto key = [](const rules::Prefix& p) { return std::tuple(p.family, p.len, p.addr); };
  std::sort(v.begin(), v.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

std::string synproxy_settings_text(const std::optional<SynproxyConfig>& sp) {
  if (!sp) return "off";
  auto ports = sp->ports;
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  return fmt::format("ports {} (mss {}/{}, wscale {}, ttl {})", fmt::join(ports, ","), sp->mss4, sp->mss6,
                     sp->wscale, sp->ttl);
}

bool InterfaceDiff::empty() const {
  return op == Op::Change && rules.empty() && !reordered && !default_action && !non_ip_action &&
         !malformed_action && sets.empty() && !never_block && !flood && !talkers && !synproxy;
}

InterfaceDiff diff_state(const CurrentState& cur, const DesiredState& want,
                         const std::vector<std::string>& want_canon, const telemetry::FloodConfig& cur_flood,
                         const telemetry::FloodConfig& want_flood, const Extras& cur_x,
                         const Extras& want_x) {
  InterfaceDiff d;
  d.new_rules = want_canon.size();
  // Rules are matched by canonical text, as the install keeps ids: each old
  // rule goes to the first unmatched new rule with its text.
  std::multimap<std::string, std::size_t> old_at;
  for (std::size_t i = 0; i < cur.rules.size(); ++i) old_at.emplace(cur.rules[i].text, i);
  std::vector<bool> old_kept(cur.rules.size(), false);
  std::vector<std::size_t> kept_order;  // old positions of kept rules, in the new order
  std::vector<RuleChange> added;
  for (std::size_t i = 0; i < want_canon.size(); ++i) {
    auto it = old_at.find(want_canon[i]);
    if (it == old_at.end()) {
      added.push_back({true, 0, i, want_canon[i]});
      continue;
    }
    old_kept[it->second] = true;
    kept_order.push_back(it->second);
    old_at.erase(it);
  }
  for (std::size_t i = 0; i < cur.rules.size(); ++i)
    if (!old_kept[i]) d.rules.push_back({false, cur.rules[i].id, i, cur.rules[i].text});
  d.rules.insert(d.rules.end(), added.begin(), added.end());
  d.kept = kept_order.size();
  d.reordered = !std::is_sorted(kept_order.begin(), kept_order.end());

  d.default_action = change(cur.default_action, want.default_action);
  d.non_ip_action = change(cur.non_ip_action, want.non_ip_action);
  d.malformed_action = change(cur.malformed_action, want.malformed_action);

  std::map<std::string, const CurrentState::SetState*> have;
  for (const auto& s : cur.sets) have[s.name] = &s;
  for (const auto& [name, members] : want.sets) {
    auto it = have.find(name);
    const std::uint64_t n = members.size();
    if (it == have.end()) {
      d.sets.push_back({SetChange::Added, name, 0, n});
      continue;
    }
    if (it->second->hash != set_members_hash(members))
      d.sets.push_back({SetChange::Changed, name, it->second->nv4 + it->second->nv6, n});
    else
      ++d.sets_unchanged;
    have.erase(it);
  }
  for (const auto& [name, s] : have) d.sets.push_back({SetChange::Removed, name, s->nv4 + s->nv6, 0});

  d.never_block = change(sorted(cur.never_block), sorted(want.never_block));
  d.flood = change(cur_flood, want_flood);
  d.talkers = change(cur_x.talkers, want_x.talkers);
  d.synproxy = change(synproxy_settings_text(cur_x.synproxy), synproxy_settings_text(want_x.synproxy));
  return d;
}

std::string summary_line(const InterfaceDiff& d) {
  if (d.op == InterfaceDiff::Op::Detach)
    return fmt::format("{}: detached (not in the file, --prune)", d.iface);
  std::size_t add = 0, del = 0;
  for (const auto& r : d.rules) (r.added ? add : del)++;
  std::string what;
  auto part = [&what](const std::string& s) { what += (what.empty() ? "" : ", ") + s; };
  if (d.op == InterfaceDiff::Op::Attach)
    part(fmt::format("attached with {} rules", d.new_rules));
  else if (add || del || d.reordered)
    part(fmt::format("{} rule{} added, {} removed, {} kept{}", add, add == 1 ? "" : "s", del, d.kept,
                     d.reordered ? " (reordered)" : ""));
  if (d.op == InterfaceDiff::Op::Change) {
    if (d.default_action) part(fmt::format("default {}", action_text(d.default_action->second)));
    if (d.non_ip_action) part(fmt::format("non-ip {}", action_text(d.non_ip_action->second)));
    if (d.malformed_action) part(fmt::format("malformed {}", action_text(d.malformed_action->second)));
    std::size_t sets = d.sets.size();
    if (sets) part(fmt::format("{} set{} changed", sets, sets == 1 ? "" : "s"));
    if (d.never_block) part("never-block changed");
    if (d.flood) part("flood thresholds changed");
    if (d.talkers) part(fmt::format("top talkers {}", d.talkers->second ? "on" : "off"));
    if (d.synproxy) part(d.synproxy->second == "off" ? "SYN proxy off" : "SYN proxy " + d.synproxy->second);
  }
  if (what.empty()) what = "unchanged";
  return fmt::format("{}: {}", d.iface, what);
}

std::string format_diff(const InterfaceDiff& d) {
  std::string out = summary_line(d) + "\n";
  if (d.op == InterfaceDiff::Op::Detach) return out;
  for (const auto& r : d.rules) {
    if (r.added)
      out += fmt::format("+ rule at {}: {}\n", r.position + 1, r.text);
    else
      out += fmt::format("- rule {}: {}\n", r.id, r.text);
  }
  if (d.reordered) out += "~ kept rules in a new order\n";
  auto action = [&out](const char* what, const Change<std::uint32_t>& c) {
    if (c) out += fmt::format("~ {}: {} -> {}\n", what, action_text(c->first), action_text(c->second));
  };
  action("default", d.default_action);
  action("non-ip", d.non_ip_action);
  action("malformed", d.malformed_action);
  for (const auto& s : d.sets) {
    switch (s.kind) {
      case SetChange::Added: out += fmt::format("+ set {}: {} members\n", s.name, s.new_count); break;
      case SetChange::Removed: out += fmt::format("- set {}: {} members\n", s.name, s.old_count); break;
      case SetChange::Changed:
        out += fmt::format("~ set {}: {} -> {} members (loaded again)\n", s.name, s.old_count, s.new_count);
        break;
    }
  }
  if (d.never_block)
    out += fmt::format("~ never-block: {} -> {}\n", prefixes_text(d.never_block->first),
                       prefixes_text(d.never_block->second));
  if (d.flood)
    out += fmt::format("~ flood: {} -> {}\n", flood_text(d.flood->first), flood_text(d.flood->second));
  if (d.talkers)
    out += fmt::format("~ talkers: {} -> {}\n", d.talkers->first ? "on" : "off",
                       d.talkers->second ? "on" : "off");
  if (d.synproxy) out += fmt::format("~ synproxy: {} -> {}\n", d.synproxy->first, d.synproxy->second);
  return out;
}

}  // namespace xdpguard::apply
