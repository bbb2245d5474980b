#include "apply/apply.h"

#include <linux/bpf.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include <spdlog/spdlog.h>

#include "core/fault.h"
#include "guard/groups.h"
#include "guard/synproxy_setup.h"
#include "rules/printer.h"
#include "telemetry/flood_monitor.h"
#include "telemetry/talkers.h"

namespace xdpguard::apply {
namespace {

std::uint32_t xdp_of(rules::Action a) { return a == rules::Action::Drop ? XDP_DROP : XDP_PASS; }

std::vector<std::string> canonical(const config::Interface& s) {
  std::vector<std::string> out;
  out.reserve(s.rules.size());
  for (const auto& r : s.rules) out.push_back(rules::to_string(r.rule));
  return out;
}

AttachMode attach_mode(config::Mode m) {
  return m == config::Mode::Native    ? AttachMode::Native
         : m == config::Mode::Generic ? AttachMode::Generic
                                      : AttachMode::Auto;
}

// What cannot change on an attached interface without a new attachment.
Result<void> check_fixed(const Guard& g, const config::Interface& s, const std::string& source) {
  const char* attached = g.meta().mode == XDPGUARD_MODE_GENERIC ? "generic" : "native";
  if (s.mode != config::Mode::Auto && config::mode_name(s.mode) != attached)
    return fail(
        EINVAL,
        "{} line {}: {} is attached in {} mode, the file says mode = \"{}\": a mode changes only with "
        "a new attachment (xdpguard detach {} first)",
        source, s.line, s.name, attached, config::mode_name(s.mode), s.name);
  auto sizes = XG_TRY(g.ddos_map_sizes());
  const GuardConfig want = guard_config_of(s);
  if (sizes.first != want.limit_buckets || sizes.second != want.block_entries)
    return fail(
        EINVAL,
        "{} line {}: {} has limit-buckets {} and block-entries {}, the file says {} and {}: the kernel's "
        "map sizes change only with a new attachment (xdpguard detach {} first)",
        source, s.line, s.name, sizes.first, sizes.second, want.limit_buckets, want.block_entries, s.name);
  return {};
}

struct Target {
  const config::Interface* section = nullptr;
  Interface iface;
  std::unique_ptr<Guard> guard;  // attached
  DesiredState want;
  telemetry::FloodConfig flood;
  Extras want_x, cur_x;
  std::unique_ptr<Guard::Pending> pending;
};

// Undoes the SYN proxy changes apply made first, if a later step fails.
struct SynproxyUndo {
  std::vector<std::pair<Target*, std::optional<SynproxyConfig>>> done;  // (target, what it had)
  bool armed = true;
  ~SynproxyUndo() {
    if (!armed) return;
    for (auto& [t, before] : done)
      if (auto r = put_synproxy(*t->guard, before); !r)
        spdlog::error("apply: {}: putting the SYN proxy back: {}", t->section->name, r.error().message());
  }
};

}  // namespace

DesiredState desired_of(const config::Config& conf, const config::Interface& s) {
  DesiredState d;
  d.default_action = xdp_of(s.default_action);
  d.non_ip_action = xdp_of(s.non_ip_action);
  d.malformed_action = xdp_of(s.malformed_action);
  for (const auto& r : s.rules) d.rules.push_back(r.text);
  d.keep_flowspec = true;  // a file's rules are the local ones (guard/groups.h)
  for (const auto& name : s.sets) d.sets.emplace_back(name, conf.find_set(name)->prefixes.all());
  d.never_block = conf.never_block;
  d.never_block.insert(d.never_block.end(), conf.management.begin(), conf.management.end());
  return d;
}

GuardConfig guard_config_of(const config::Interface& s) {
  GuardConfig cfg;
  cfg.default_action = xdp_of(s.default_action);
  cfg.non_ip_action = xdp_of(s.non_ip_action);
  cfg.malformed_action = xdp_of(s.malformed_action);
  if (s.limit_buckets) cfg.limit_buckets = s.limit_buckets;
  if (s.block_entries) cfg.block_entries = s.block_entries;
  return cfg;
}

telemetry::FloodConfig flood_of(const config::Interface& s) {
  return telemetry::FloodConfig{}.overridden_by(s.flood);
}

Extras extras_of(const config::Interface& s) {
  Extras x;
  x.talkers = s.talkers;
  if (s.synproxy) {
    SynproxyConfig c;
    c.ports = s.synproxy->ports;
    c.mss4 = s.synproxy->mss4;
    c.mss6 = s.synproxy->mss6;
    c.wscale = s.synproxy->wscale;
    c.ttl = s.synproxy->ttl;
    x.synproxy = std::move(c);
  }
  return x;
}

Result<Extras> current_extras(const Guard& g) {
  Extras x;
  x.talkers = XG_TRY(XG_TRY(telemetry::Talkers::open(g)).enabled());
  auto st = XG_TRY(g.synproxy_status());
  if (st.state != XDPGUARD_SYNPROXY_OFF) x.synproxy = st.config;
  return x;
}

Result<void> put_synproxy(Guard& g, const std::optional<SynproxyConfig>& want) {
  auto st = XG_TRY(g.synproxy_status());
  const auto cur =
      st.state == XDPGUARD_SYNPROXY_OFF ? std::nullopt : std::optional<SynproxyConfig>(st.config);
  if (st.state != XDPGUARD_SYNPROXY_CHANGING && synproxy_settings_text(cur) == synproxy_settings_text(want))
    return {};
  if (st.state != XDPGUARD_SYNPROXY_OFF) XG_CHECK(g.synproxy_disable());
  if (want) XG_TRY(g.synproxy_enable(*want));
  return {};
}

Result<void> put_in_force(Guard& g, const DesiredState& want, const telemetry::FloodConfig& flood,
                          bool talkers) {
  auto p = XG_TRY(g.prepare(want));
  XG_CHECK(g.swap(*p));
  XG_CHECK(g.finish(*p));
  auto maps = XG_TRY(telemetry::FloodMaps::open(g));
  if (XG_TRY(maps.config()) != flood) XG_CHECK(maps.set_config(flood));
  auto tk = XG_TRY(telemetry::Talkers::open(g));
  if (XG_TRY(tk.enabled()) != talkers) XG_CHECK(tk.enable(talkers, g));
  return {};
}

Result<Report> apply_config(const config::Config& conf, const Options& opts) {
  if (opts.prune && !opts.only.empty())
    return fail(EINVAL, "--prune detaches the interfaces the file does not have: it takes no IFACE");
  for (const auto& name : opts.only)
    if (!conf.find_interface(name))
      return fail(ENOENT, "{} has no [interfaces.{}] section", conf.source, name);

  Report report;
  std::vector<Target> targets;
  for (const auto& s : conf.interfaces) {
    if (!opts.only.empty() && std::find(opts.only.begin(), opts.only.end(), s.name) == opts.only.end())
      continue;
    Target t;
    t.section = &s;
    t.iface = XG_TRY_CTX(find_interface(s.name),
                         fmt::format("{} line {}: [interfaces.{}]", conf.source, s.line, s.name));
    t.want = desired_of(conf, s);
    t.flood = flood_of(s);
    t.want_x = extras_of(s);
    if (t.want_x.synproxy && s.synproxy)
      XG_CHECK_CTX(validate_synproxy(*t.want_x.synproxy), fmt::format("{} line {}: [interfaces.{}.synproxy]",
                                                                      conf.source, s.synproxy->line, s.name));
    for (const auto& w : s.warnings) report.warnings.push_back(fmt::format("{}: {}", s.name, w.message));
    targets.push_back(std::move(t));
  }
  std::map<int, Target*> by_ifindex;
  for (auto& t : targets) by_ifindex[t.iface.ifindex] = &t;

  std::vector<GuardStatus> pruned;
  for (const auto& st : XG_TRY(Guard::list())) {
    if (!st.attached) continue;
    auto it = by_ifindex.find(st.ifindex);
    if (it != by_ifindex.end()) {
      it->second->guard =
          std::make_unique<Guard>(XG_TRY_CTX(Guard::open(Interface{st.ifname, st.ifindex}), st.ifname));
      XG_CHECK(check_fixed(*it->second->guard, *it->second->section, conf.source));
      it->second->cur_x = XG_TRY_CTX(current_extras(*it->second->guard), st.ifname);
    } else if (opts.prune && !st.ifname.empty()) {
      pruned.push_back(st);
    }
  }

  // 0. The SYN proxy changes of attached interfaces (they take the lock
  // themselves), undone if a later step fails.
  const bool dry = opts.dry_run && !opts.check;
  SynproxyUndo sp_undo;
  if (!dry && !opts.check)
    for (auto& [ifindex, t] : by_ifindex) {
      if (!t->guard ||
          synproxy_settings_text(t->cur_x.synproxy) == synproxy_settings_text(t->want_x.synproxy))
        continue;
      XG_CHECK_CTX(put_synproxy(*t->guard, t->want_x.synproxy), t->section->name);
      sp_undo.done.emplace_back(t, t->cur_x.synproxy);
    }

  // 1. Prepare every attached interface (locks in ifindex order); --diff
  // alone only reads.
  for (auto& [ifindex, t] : by_ifindex)
    if (t->guard && !dry)
      t->pending =
          XG_TRY_CTX(t->guard->prepare(t->want), fmt::format("{}: {}", conf.source, t->section->name));

  // The changes, for the report (and all of --diff): from what prepare
  // read under the lock.
  for (auto& t : targets) {
    InterfaceDiff d;
    const auto canon = canonical(*t.section);
    if (t.guard) {
      auto flood_now = XG_TRY(XG_TRY(telemetry::FloodMaps::open(*t.guard)).config());
      const auto before = t.pending ? t.pending->before : XG_TRY(t.guard->current_state());
      // The FlowSpec group in force stays (prepare() read it under the lock).
      auto want = t.want;
      want.rules = with_local_rules(before.rules, want.rules);
      d = diff_state(before, want, with_local_rules(before.rules, canon), flood_now, t.flood, t.cur_x,
                     t.want_x);
    } else {
      d.op = InterfaceDiff::Op::Attach;
      d.new_rules = canon.size();
      for (std::size_t i = 0; i < canon.size(); ++i) d.rules.push_back({true, 0, i, canon[i]});
    }
    d.iface = t.section->name;
    report.diffs.push_back(std::move(d));
  }
  for (const auto& st : pruned) {
    InterfaceDiff d;
    d.iface = st.ifname;
    d.op = InterfaceDiff::Op::Detach;
    report.diffs.push_back(std::move(d));
  }
  if (dry) {
    sp_undo.armed = false;
    return report;
  }
  // An interface whose state is the file's already: nothing to install.
  for (std::size_t i = 0; i < targets.size(); ++i)
    if (targets[i].pending && report.diffs[i].empty()) {
      targets[i].guard->abort(*targets[i].pending);
      targets[i].pending.reset();
    }
  if (opts.before_swap) XG_CHECK(opts.before_swap());
  if (opts.check) {
    // The interfaces not attached: the same, in a pipeline of this process
    // (loaded, verified, attached nowhere).
    for (auto& t : targets) {
      if (t.guard) continue;
      auto prog = XG_TRY(GuardProgram::open(guard_config_of(*t.section)));
      XG_CHECK(prog.load());
      auto g = XG_TRY(Guard::from_program(prog));
      auto p = XG_TRY_CTX(g.prepare(t.want), fmt::format("{}: {}", conf.source, t.section->name));
      g.abort(*p);
    }
    for (auto& t : targets)
      if (t.pending) t.guard->abort(*t.pending);
    sp_undo.armed = false;
    return report;  // nothing changed
  }
  fault_point("apply-prepared");

  // 2. Attach the ones not attached, with the file's state from the start.
  std::vector<Interface> attached_now;
  auto undo_attach = [&attached_now] {
    for (const auto& i : attached_now)
      if (auto r = Guard::detach(i); !r)
        spdlog::error("apply: detach {} again: {}", i.name, r.error().message());
  };
  for (auto& t : targets) {
    if (t.guard) continue;
    auto g = Guard::attach(t.iface, attach_mode(t.section->mode), guard_config_of(*t.section),
                           [&t](Guard& g) { return put_in_force(g, t.want, t.flood, t.want_x.talkers); });
    if (g) attached_now.push_back(t.iface);
    Result<void> sp = g ? put_synproxy(*g, t.want_x.synproxy) : tl::unexpected(g.error());
    if (!sp) {
      undo_attach();
      return tl::unexpected(
          std::move(sp.error()).context(fmt::format("{}: {}", conf.source, t.section->name)));
    }
  }

  // 3. The swaps: one write each; one that fails puts the others back.
  std::vector<Target*> swapped;
  for (auto& [ifindex, t] : by_ifindex) {
    if (!t->pending) continue;
    auto r = t->guard->swap(*t->pending);
    if (!r) {
      for (auto* s : swapped)
        if (auto u = s->guard->unswap(*s->pending); !u)
          spdlog::error("apply: {}: {}", s->section->name, u.error().message());
      undo_attach();
      return tl::unexpected(std::move(r.error()).context(t->section->name));
    }
    swapped.push_back(t);
    fault_point("apply-swapped");
  }

  // 4. What is outside the rule set; then --prune.
  for (auto* t : swapped) {
    XG_CHECK_CTX(t->guard->finish(*t->pending), t->section->name);
    t->pending.reset();
    auto maps = XG_TRY(telemetry::FloodMaps::open(*t->guard));
    if (XG_TRY(maps.config()) != t->flood) XG_CHECK_CTX(maps.set_config(t->flood), t->section->name);
  }
  sp_undo.armed = false;  // the rules are in force: the SYN proxy changes stay with them
  for (auto& t : targets)
    if (t.guard && t.cur_x.talkers != t.want_x.talkers)
      XG_CHECK_CTX(XG_TRY(telemetry::Talkers::open(*t.guard)).enable(t.want_x.talkers, *t.guard),
                   t.section->name);
  for (const auto& st : pruned) XG_CHECK(Guard::detach(Interface{st.ifname, st.ifindex}));
  return report;
}

}  // namespace xdpguard::apply
