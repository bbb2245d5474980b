#include "cli/commands.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <memory>

#include "apply/apply.h"
#include "service/daemon.h"
#include "bpf/system.h"
#include "cli/options.h"
#include "config/config.h"
#include "core/log.h"
#include "demo/demo.h"
#include "guard/guard.h"
#include "guard/lock.h"
#include "guard/synproxy_setup.h"
#include "report/format.h"
#include "telemetry/flood_monitor.h"
#include "telemetry/stats.h"
#include "simulate/simulate.h"

namespace xdpguard::cli {
namespace {

struct Args {
  std::string iface;
  std::string mode;  // empty: from --config, else auto
  std::string config;
  std::string default_action = "pass";
  bool json = false;
  bool all = false;
  unsigned seconds = 8;
  bool generic = false;
  std::uint32_t limit_buckets = 0;  // 0: from --config, else GuardConfig's
  std::uint32_t block_entries = 0;
  std::string confirm;  // --confirm WINDOW
  bool force = false;   // past the lockout guard
};

void print_warnings(const std::vector<rules::LintWarning>& w) {
  for (const auto& x : w) std::fprintf(stderr, "xdpguard: warning: %s\n", x.message.c_str());
}

Result<void> attach_now(const Args& a);

Result<void> cmd_attach(const Args& a) {
  return with_confirm(a.confirm, {a.iface},
                      "attach " + a.iface + (a.config.empty() ? "" : " --config " + a.config),
                      [&a] { return attach_now(a); });
}

Result<void> attach_now(const Args& a) {
  auto iface = XG_TRY(find_interface(a.iface));
  std::string mode_text = a.mode.empty() ? "auto" : a.mode;
  GuardConfig cfg;
  auto def = parse_action(a.default_action);
  if (!def) return fail(EINVAL, "--default: expected pass or drop, got \"{}\"", a.default_action);
  cfg.default_action = *def;

  // The whole configuration is read and checked before anything is touched.
  std::optional<config::Config> conf;
  const config::Interface* section = nullptr;
  if (!a.config.empty()) {
    conf = XG_TRY(config::load_config(a.config));
    section = conf->find_interface(iface.name);
    if (!section) return fail(ENOENT, "{} has no [interfaces.{}] section", a.config, iface.name);
    if (a.mode.empty()) mode_text = std::string(config::mode_name(section->mode));
    cfg = apply::guard_config_of(*section);
  }
  if (a.limit_buckets) cfg.limit_buckets = a.limit_buckets;
  if (a.block_entries) cfg.block_entries = a.block_entries;
  // The lockout guard: what the attachment would enforce from its first
  // packet, against the packets that keep the operator in (an interface
  // attached already is refused by the attach itself).
  if ((!conf || conf->lockout_guard) && !Guard::open(iface))
    XG_CHECK(simulate::check_lockout(iface.name, a.force,
                                     conf ? conf->management : std::vector<rules::Prefix>{},
                                     [&](const Interface&) -> Result<simulate::Simulator> {
                                       if (section) return simulate::Simulator::from_config(*conf, *section);
                                       DesiredState want;
                                       want.default_action = cfg.default_action;
                                       want.non_ip_action = cfg.non_ip_action;
                                       want.malformed_action = cfg.malformed_action;
                                       return simulate::Simulator::from_state(cfg, want);
                                     }));
  AttachMode mode = mode_text == "native"    ? AttachMode::Native
                    : mode_text == "generic" ? AttachMode::Generic
                                             : AttachMode::Auto;
  // The file's state (sets, rules, settings) in one swap, under the lock
  // attach holds; any failure takes the attachment back down: all or
  // nothing.
  Guard::Setup setup;
  if (section)
    setup = [&](Guard& g) -> Result<void> {
      return with_context(apply::put_in_force(g, apply::desired_of(*conf, *section),
                                              apply::flood_of(*section), section->talkers),
                          a.config);
    };
  auto g = XG_TRY(Guard::attach(iface, mode, cfg, setup));
  // The SYN proxy after the attach (it sets up the host); if it cannot be
  // turned on, nothing stays attached.
  if (section && section->synproxy) {
    const auto want = apply::extras_of(*section).synproxy;
    Result<void> r = want ? validate_synproxy(*want) : Result<void>{};
    if (r) r = apply::put_synproxy(g, want);
    if (!r) {
      if (auto d = Guard::detach(iface); !d)
        spdlog::error("detach {} again: {}", iface.name, d.error().message());
      return tl::unexpected(std::move(r.error()).context(a.config));
    }
  }
  if (section) print_warnings(section->warnings);
  std::printf("xdpguard attached to %s (%s mode, program id %u%s)\n", iface.name.c_str(),
              g.meta().mode == XDPGUARD_MODE_GENERIC ? "generic" : "native", g.meta().prog_id,
              section ? fmt::format(", {} rules", section->rules.size()).c_str() : "");
  return {};
}

struct ApplyArgs {
  std::string config;
  std::vector<std::string> ifaces;
  bool check = false, diff = false, prune = false;
  std::string confirm;  // --confirm WINDOW
  bool force = false;   // past the lockout guard
};

Result<void> cmd_apply(const ApplyArgs& a) {
  auto conf = XG_TRY(config::load_config(a.config));
  // The lockout guard, per interface of the file that exists: it compiles
  // the rule set a second time, in a pipeline of its own, in a thread while
  // apply prepares; its verdict comes before any swap.
  auto checked = a.diff || a.force ? std::function<Result<void>()>{} : simulate::apply_guard(conf, a.ifaces);
  apply::Options o;
  o.only = a.ifaces;
  o.check = a.check;
  o.dry_run = a.diff;
  o.prune = a.prune;
  o.before_swap = checked;
  apply::Report report;
  auto run = [&]() -> Result<void> {
    report = XG_TRY(apply::apply_config(conf, o));
    return {};
  };
  if (!a.confirm.empty() && !a.check && !a.diff) {
    if (a.prune)
      return fail(EINVAL,
                  "--confirm cannot take back --prune (a detached interface's state is gone); "
                  "prune without --confirm");
    std::vector<std::string> names = a.ifaces;
    if (names.empty())
      for (const auto& s : conf.interfaces) names.push_back(s.name);
    XG_CHECK(with_confirm(a.confirm, names, "apply --config " + a.config, run));
  } else {
    XG_CHECK(run());
  }
  for (const auto& w : report.warnings) std::fprintf(stderr, "xdpguard: warning: %s\n", w.c_str());
  for (const auto& d : report.diffs)
    std::fputs((a.diff ? apply::format_diff(d) : apply::summary_line(d) + "\n").c_str(), stdout);
  if (a.check) std::printf("%s: ok (compiled and verified; nothing changed)\n", a.config.c_str());
  return {};
}

struct UpgradeArgs {
  std::vector<std::string> ifaces;
  bool check = false, force = false, json = false;
};

Result<void> cmd_upgrade(const UpgradeArgs& a) {
  std::vector<std::string> names = a.ifaces;
  if (names.empty())
    for (const auto& st : XG_TRY(Guard::list()))
      if (st.attached && !st.ifname.empty()) names.push_back(st.ifname);
  if (names.empty()) return fail(ENOENT, "no interface has xdpguard attached");
  nlohmann::json all = nlohmann::json::array();
  for (const auto& name : names) {
    auto iface = XG_TRY(find_interface(name));
    auto g = XG_TRY(Guard::open(iface));
    auto r = XG_TRY_CTX(g.upgrade(a.check, a.force), iface.name);
    if (a.json)
      all.push_back(upgrade_json(iface.name, r));
    else
      std::fputs(upgrade_table(iface.name, r).c_str(), stdout);
  }
  if (a.json) std::printf("%s\n", all.dump().c_str());
  return {};
}

Result<void> cmd_detach(const Args& a) {
  auto iface = XG_TRY(find_interface(a.iface));
  XG_CHECK(Guard::detach(iface));
  std::printf("xdpguard detached from %s\n", iface.name.c_str());
  return {};
}

struct RunArgs {
  service::Options o;
};

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop = true; }

service::Signals g_signals;
extern "C" void on_service_signal(int sig) {
  if (sig == SIGHUP)
    g_signals.reload = true;
  else
    g_signals.stop = true;
}

Result<void> cmd_run(const RunArgs& a) {
  struct sigaction sa{};
  sa.sa_handler = on_service_signal;
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) (void)sigaction(sig, &sa, nullptr);
  (void)std::signal(SIGPIPE, SIG_IGN);
  return service::run(a.o, g_signals);
}

}  // namespace

void catch_stop_signals() {
  struct sigaction sa{};
  sa.sa_handler = on_stop_signal;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) (void)sigaction(sig, &sa, nullptr);
  (void)std::signal(SIGPIPE, SIG_IGN);
}

const std::atomic<bool>& stop_requested() { return g_stop; }

void warn_about(const GuardStats& s) {
  if (!s.classifier)
    std::fprintf(stderr,
                 "xdpguard: warning: %s: no classifier installed (an attach was "
                 "interrupted): IP packets pass; detach and attach again\n",
                 s.ifname.c_str());
  if (s.setup_pending)
    std::fprintf(stderr,
                 "xdpguard: warning: %s: attach was interrupted after the program went live, before its "
                 "record (program id, mode) was written; its rules are in force, and the next change "
                 "completes the record\n",
                 s.ifname.c_str());
}

namespace {

Result<std::vector<xsk::BoundSocket>> xsk_sockets(const std::vector<GuardStatus>& list) {
  if (list.empty()) return std::vector<xsk::BoundSocket>{};
  const std::uint64_t netns = XG_TRY(current_netns_id());
  std::vector<std::pair<int, Guard::XskRecord>> records;
  std::vector<std::uint64_t> inodes;
  for (const auto& st : list)
    for (const auto& r : XG_TRY(Guard::xsk_records(netns, st.ifindex))) {
      records.emplace_back(st.ifindex, r);
      inodes.push_back(r.inode);
    }
  auto info = xsk::inspect_sockets(inodes);
  std::vector<xsk::BoundSocket> out;
  for (const auto& [ifindex, r] : records) {
    const auto& s = info[r.inode];
    // No holder: closed (a consumer killed), and so out of the map too.
    if (!s.owners.empty()) out.push_back({ifindex, r.queue, s});
  }
  return out;
}

Result<void> cmd_status(const Args& a) {
  if (a.all) {
    auto list = XG_TRY(survey_namespaces());
    if (a.json)
      std::printf("%s\n", namespaces_json(list).dump().c_str());
    else
      std::fputs(namespaces_table(list).c_str(), stdout);
    return {};
  }
  auto list = XG_TRY(Guard::list());
  // The AF_XDP sockets in those interfaces' maps that a process still
  // holds: what `redirect xsk` delivers to. Without them the rest is still
  // shown, and why not.
  std::vector<xsk::BoundSocket> sockets;
  std::string xsk_error;
  if (auto r = xsk_sockets(list); r)
    sockets = std::move(*r);
  else
    xsk_error = r.error().message();
  if (a.json)
    std::printf("%s\n", status_json(list, sockets, xsk_error).dump().c_str());
  else
    std::fputs(status_table(list, sockets, xsk_error).c_str(), stdout);
  return {};
}

Result<void> cmd_gc(const Args& a) {
  auto removed = XG_TRY(collect_dead_namespaces());
  if (a.json) {
    std::printf("%s\n", namespaces_json(removed).dump().c_str());
    return {};
  }
  if (removed.empty()) std::printf("nothing to remove: every pinned namespace is alive\n");
  for (const auto& ns : removed)
    std::printf("removed %s (network namespace %llu is gone, %zu interface%s)\n", ns.dir.c_str(),
                static_cast<unsigned long long>(ns.netns_id), ns.interfaces.size(),
                ns.interfaces.size() == 1 ? "" : "s");
  return {};
}

Result<void> cmd_stats(const Args& a) {
  auto iface = XG_TRY(find_interface(a.iface));
  auto g = XG_TRY(Guard::open(iface));
  auto s = XG_TRY(g.stats());
  s.ifname = iface.name;
  warn_about(s);
  if (a.json) {
    auto j = stats_json(s);
    XG_CHECK(telemetry::add_stats_json(j, g));  // records, reader, top talkers
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::fputs(stats_table(s).c_str(), stdout);
    std::fputs(XG_TRY(telemetry::stats_lines(g)).c_str(), stdout);
  }
  return {};
}

Result<void> cmd_demo(const Args& a) {
  DemoOptions o;
  o.seconds = static_cast<int>(a.seconds);
  o.generic = a.generic;
  return run_demo(o);
}

}  // namespace

void register_commands(CLI::App& app, Globals&, Command& cmd) {
  auto args = std::make_shared<Args>();
  auto bind = [&cmd, args](CLI::App* sub, Result<void> (*fn)(const Args&), bool with_iface) {
    bind_subcommand(cmd, sub, args, fn, sub->get_name(), with_iface);
  };

  auto* attach = app.add_subcommand("attach", "Load xdpguard and attach it to an interface");
  attach->add_option("IFACE", args->iface, "Interface")->required();
  attach->add_option("--mode", args->mode, "native, generic or auto (native, else generic)")
      ->check(CLI::IsMember({"native", "generic", "auto"}));
  attach->add_option("--config", args->config,
                     "TOML file: mode, default action and rules of this interface, sets, flood thresholds");
  attach->add_option("--default", args->default_action, "Action when no rule matches: pass|drop")
      ->check(CLI::IsMember({"pass", "drop"}));
  add_whole(attach, "--limit-buckets", args->limit_buckets, 1, 1u << 24,
            "Per-source rate-limit buckets the kernel keeps (LRU; default 65536)");
  add_whole(attach, "--block-entries", args->block_entries, 1, 1u << 24,
            "Blocked source prefixes the kernel keeps (LRU; default 16384)");
  add_confirm_option(attach, args->confirm);
  add_force_option(attach, args->force);
  attach->footer(
      "Example: xdpguard attach veth1 --mode native\n"
      "         xdpguard attach eth1 --config /etc/xdpguard.toml");
  bind(attach, cmd_attach, true);

  auto apply_args = std::make_shared<ApplyArgs>();
  auto* apply =
      app.add_subcommand("apply", "Make the interfaces match a config file, each in one atomic step");
  apply->add_option("--config", apply_args->config, "TOML file (see attach --config)")->required();
  apply->add_option("IFACE", apply_args->ifaces, "Only these interfaces of the file (default: all of them)");
  apply->add_flag("--check", apply_args->check,
                  "Compile, stage and verify everything; change nothing (exit status 1 with the error)");
  apply->add_flag("--diff", apply_args->diff, "Print what would change; change nothing");
  apply->add_flag("--prune", apply_args->prune, "Detach xdpguard from interfaces the file does not have");
  add_confirm_option(apply, apply_args->confirm);
  add_force_option(apply, apply_args->force);
  apply->footer(
      "Rules, sets, default/non-ip/malformed actions, never-block and flood thresholds go live at once per\n"
      "interface; rules whose text stays keep their ids and counters; unchanged sets are not reloaded.\n"
      "Interfaces in the file but not attached are attached. Any failure leaves every interface as it was.\n"
      "Example: xdpguard apply --config /etc/xdpguard.toml --diff\n"
      "         xdpguard apply --config /etc/xdpguard.toml");
  bind_subcommand(cmd, apply, apply_args, cmd_apply, "apply", false);

  auto run_args = std::make_shared<RunArgs>();
  auto* run = app.add_subcommand(
      "run", "The service: apply a config file, then serve metrics, detect floods, log events");
  run->add_option("--config", run_args->o.config, "TOML file (root's, not writable by others)")->required();
  run->add_option("--metrics", run_args->o.metrics, "Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9435)");
  run->add_option("--events", run_args->o.events_path,
                  "Write events as JSON lines to FILE (default: stderr)");
  add_whole(run, "--events-max-bytes", run_args->o.events_max_bytes, 4096, 1ull << 40,
            "Rotate the events file to FILE.1 at this size (default 64 MiB)");
  run->add_flag("--detach-on-exit", run_args->o.detach_on_exit,
                "Detach the file's interfaces on SIGTERM (default: they keep enforcing)");
  run->footer(
      "SIGHUP applies the file again (a broken file is logged, the old state stays); SIGTERM stops.\n"
      "Pins that exist are adopted: counters, rate-limit buckets and blocks carry on.\n"
      "Example: xdpguard run --config /etc/xdpguard.toml --metrics 127.0.0.1:9435");
  bind_subcommand(cmd, run, run_args, cmd_run, "run", false);

  auto upgrade_args = std::make_shared<UpgradeArgs>();
  auto* upgrade =
      app.add_subcommand("upgrade", "Replace the attached programs with this xdpguard's, keeping all state");
  upgrade->add_option("IFACE", upgrade_args->ifaces, "Interfaces (default: every attached one)");
  upgrade->add_flag("--check", upgrade_args->check,
                    "Load and verify, show which stages differ; change nothing");
  upgrade->add_flag("--force", upgrade_args->force, "Replace the programs even when their code is the same");
  upgrade->add_flag("--json", upgrade_args->json, "One JSON document");
  upgrade->footer(
      "Parser, enforce, limiter, SYN proxy stage and the compiled rule set are replaced atomically\n"
      "(program-array writes, then XDP_FLAGS_REPLACE): no packet goes unfiltered. Maps, counters,\n"
      "buckets, blocks and rule ids are kept. `xdpguard run` does it at start.\n"
      "Example: xdpguard upgrade veth1 --check\n"
      "         xdpguard upgrade");
  bind_subcommand(cmd, upgrade, upgrade_args, cmd_upgrade, "upgrade", false);

  auto* detach = app.add_subcommand("detach", "Detach xdpguard and remove its pinned state");
  detach->add_option("IFACE", args->iface, "Interface")->required();
  detach->footer("Example: xdpguard detach veth1");
  bind(detach, cmd_detach, true);

  auto* status = app.add_subcommand(
      "status", "List interfaces with xdpguard attached, and the AF_XDP sockets on their queues");
  status->add_flag("--json", args->json, "One JSON document");
  status->add_flag("--all", args->all,
                   "Pinned state of every network namespace, and whether the namespace lives");
  status->footer("Example: xdpguard status --json\n         xdpguard status --all");
  bind(status, cmd_status, false);

  auto* gc = app.add_subcommand("gc", "Remove the pins of network namespaces that are gone");
  gc->add_flag("--json", args->json, "One JSON document of what was removed");
  gc->footer("Example: xdpguard gc");
  bind(gc, cmd_gc, false);

  auto* stats = app.add_subcommand("stats", "Packet and byte counters of an interface");
  stats->add_option("IFACE", args->iface, "Interface")->required();
  stats->add_flag("--json", args->json, "One JSON document");
  stats->footer("Example: xdpguard stats veth1 --json");
  bind(stats, cmd_stats, true);

  auto* demo = app.add_subcommand("demo", "Self-contained lab: attach, traffic, live counters");
  add_whole(demo, "--seconds", args->seconds, 1, 600, "Traffic duration (default 8)", "seconds");
  demo->add_flag("--generic", args->generic, "Attach in generic (SKB) mode");
  demo->footer("Example: xdpguard demo --seconds 10");
  bind(demo, cmd_demo, false);

  register_rule_commands(app, cmd);
  register_gen_command(app, cmd);
  register_ddos_commands(app, cmd);
  register_telemetry_commands(app, cmd);
  register_simulate_command(app, cmd);
  register_confirm_command(app, cmd);
  register_xsk_command(app, cmd);
  register_flowspec_command(app, cmd);
}

int run(Command& cmd, const Globals& g) {
  set_lock_wait(std::chrono::seconds(g.wait));
  if (g.verbose >= 2)
    spdlog::set_level(spdlog::level::trace);
  else if (g.verbose == 1)
    spdlog::set_level(spdlog::level::info);
  if (!cmd.fn) {
    std::fprintf(stderr, "xdpguard: no subcommand (see xdpguard --help)\n");
    return 2;
  }
  // The bpffs (and, under `ip netns exec`, the host mount namespace) is
  // settled first, while the process is still single-threaded.
  if (cmd.needs_bpffs) {
    if (auto r = require_privileges(); !r) {
      std::fprintf(stderr, "xdpguard: %s: %s\n", cmd.context().c_str(), r.error().message().c_str());
      return 1;
    }
    if (auto r = ensure_bpffs(); !r) {
      std::fprintf(stderr, "xdpguard: %s: %s\n", cmd.context().c_str(), r.error().message().c_str());
      return 1;
    }
  }
  if (!g.netns.empty()) {
    if (auto r = enter_netns(g.netns); !r) {
      std::fprintf(stderr, "xdpguard: %s\n", r.error().message().c_str());
      return 1;
    }
  }
  auto r = cmd.fn();
  if (!r) {
    std::fprintf(stderr, "xdpguard: %s: %s\n", cmd.context().c_str(), r.error().message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace xdpguard::cli
