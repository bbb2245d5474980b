#include "service/daemon.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "apply/apply.h"
#include "simulate/lockout.h"
#include "bpf/clock.h"
#include "bpf/system.h"
#include "config/config.h"
#include "core/join.h"
#include "core/unique_fd.h"
#include "flowspec/consumer.h"
#include "guard/lock.h"
#include "report/format.h"
#include "service/caps.h"
#include "service/notify.h"
#include "telemetry/flood_monitor.h"
#include "telemetry/metrics.h"
#include "telemetry/metrics_server.h"

namespace xdpguard::service {
namespace {

std::string now_iso() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json event(const char* type) { return {{"time", now_iso()}, {"type", type}}; }

std::string status_line(const config::Config& c) {
  std::size_t rules = 0;
  for (const auto& i : c.interfaces) rules += i.rules.size();
  return fmt::format("{} interface{}, {} rules in force from {}", c.interfaces.size(),
                     c.interfaces.size() == 1 ? "" : "s", rules, c.source);
}

// Applies the file's configuration; the event says what happened.
Result<void> apply_conf(const config::Config& conf, nlohmann::json& ev) {
  // The lockout guard as for `xdpguard apply` (SSH_CONNECTION aside: a
  // service has none): a file that would cut ARP, ND, DHCP replies or the
  // management prefixes is refused, unless it says lockout-guard = false.
  apply::Options o;
  o.before_swap = simulate::apply_guard(conf, {});
  auto report = XG_TRY(apply::apply_config(conf, o));
  nlohmann::json changes = nlohmann::json::array();
  for (const auto& d : report.diffs) changes.push_back(apply::summary_line(d));
  ev["interfaces"] = changes;
  if (!report.warnings.empty()) ev["warnings"] = report.warnings;
  return {};
}

// Loads, checks and applies the file (a reload).
Result<config::Config> apply_file(const std::string& path, nlohmann::json& ev) {
  XG_CHECK(check_config_file(path));
  auto conf = XG_TRY(config::load_config(path));
  XG_CHECK(apply_conf(conf, ev));
  return conf;
}

// A newer xdpguard started over an older one's attachments: where the
// attached programs' code differs from this binary's, this binary's take
// their place (Guard::upgrade), before the file is applied. A failure is
// said and leaves the old programs enforcing; what cannot be opened (not
// attached yet, pins of another ABI) is left to apply, which says why.
template <class Log>
void upgrade_attached(const config::Config& conf, Log&& log) {
  for (const auto& section : conf.interfaces) {
    auto iface = find_interface(section.name);
    if (!iface) continue;
    auto g = Guard::open(*iface);
    if (!g) continue;
    auto r = g->upgrade(false, false);
    if (!r) {
      auto ev = event("upgrade-failed");
      ev["interface"] = iface->name;
      ev["error"] = r.error().message();
      log(ev);
      continue;
    }
    if (!r->replaced) continue;
    auto ev = event("upgraded");
    ev["interface"] = iface->name;
    ev["stages"] = upgrade_json(iface->name, *r)["stages"];
    ev["seconds"] = r->seconds;
    log(ev);
  }
}

// The file's [flowspec]: a GoBGP daemon's FlowSpec routes made rules
// (flowspec/consumer.h) by a thread of the service, started after each
// apply (a reload may change the interfaces, their default actions, the
// settings: the consumer starts again, adopting the rules in force, so
// there is no window) and stopped when the service stops (the rules stay:
// fail-static, like the rest).
class FlowspecThread {
 public:
  ~FlowspecThread() { stop(); }
  template <class Log>
  void start(const config::Config& conf, Log&& log) {
    stop();
    if (!conf.flowspec) return;
    const auto& f = *conf.flowspec;
    flowspec::ConsumerConfig c;
    c.ifaces = f.interfaces;
    if (c.ifaces.empty())
      for (const auto& i : conf.interfaces) c.ifaces.push_back(i.name);
    c.position = f.before_local ? flowspec::Position::BeforeLocal : flowspec::Position::AfterLocal;
    c.max_rules = f.max_rules;
    c.stale = std::chrono::milliseconds(static_cast<long long>(f.stale_s * 1000));
    c.state_file = f.state;
    c.lockout_guard = conf.lockout_guard;  // [guard]
    c.management = conf.management;
    stop_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    auto ev = event("flowspec-started");
    ev["gobgp"] = f.gobgp;
    ev["interfaces"] = c.ifaces;
    log(ev);
    thread_ = std::thread([this, c, addr = f.gobgp, log] {
      auto r = flowspec::run_gobgp(c, addr, stop_.get());
      if (!r) {
        auto e = event("flowspec-failed");
        e["error"] = r.error().message();
        e["in_force"] = "the FlowSpec rules installed until then (the next reload starts it again)";
        log(e);
      }
    });
  }
  void stop() {
    if (!thread_.joinable()) return;
    const std::uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
    thread_.join();
    stop_.reset();
  }

 private:
  UniqueFd stop_;
  std::thread thread_;
};

// The maps of the file's interfaces, held while the service runs: should
// their pins go (bpffs unmounted, the directory removed), the kernel would
// empty each program array with its last user reference, and the parser
// would find no stage (it passes IP packets then). Held, the rules keep
// enforcing until the service stops; the next apply says what happened.
std::vector<Guard> hold_maps(const config::Config& conf) {
  std::vector<Guard> held;
  for (const auto& section : conf.interfaces) {
    auto iface = find_interface(section.name);
    auto g = iface ? Guard::open(*iface) : tl::unexpected(iface.error());
    if (g)
      held.push_back(std::move(*g));
    else
      spdlog::warn("{}: {}", section.name, g.error().message());
  }
  return held;
}

}  // namespace

Result<void> check_config_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return fail_errno(errno, path);
  if (!S_ISREG(st.st_mode)) return fail(EINVAL, "{} is not a regular file", path);
  if (st.st_uid != 0 && st.st_uid != ::geteuid())
    return fail(EPERM,
                "{} is owned by uid {}, not root: whoever owns it controls the firewall; chown root {}", path,
                st.st_uid, path);
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return fail(
        EPERM,
        "{} is writable by {} (mode {:04o}): whoever can write it controls the firewall; chmod go-w {}", path,
        (st.st_mode & S_IWOTH) ? "everyone" : "its group", st.st_mode & 07777, path);
  return {};
}

Result<void> EventLog::write(const std::string& line) {
  std::lock_guard lock(mu_);
  if (path_.empty()) {
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
    return {};
  }
  UniqueFd fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!fd) return fail_errno(errno, "events " + path_);
  const std::string text = line + "\n";
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return fail_errno(errno, "write events " + path_);
  struct stat st{};
  if (::fstat(fd.get(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) >= max_)
    if (::rename(path_.c_str(), (path_ + ".1").c_str()) != 0) return fail_errno(errno, "rotate " + path_);
  return {};
}

Result<void> run(const Options& opts, Signals& signals) {
  // One service per network namespace.
  const auto netns = XG_TRY(current_netns_id());
  auto held = XG_TRY(LockFile::lock(fmt::format("run-ns{}.lock", netns),
                                    "the service of this network namespace", std::chrono::milliseconds(0)));
  EventLog events(opts.events_path, opts.events_max_bytes);
  auto log = [&events](const nlohmann::json& e) {
    if (auto r = events.write(e.dump()); !r) spdlog::warn("{}", r.error().message());
  };

  // The file in force (adopting what is pinned, with this binary's
  // programs), before anything else.
  XG_CHECK(check_config_file(opts.config));
  auto conf = XG_TRY(config::load_config(opts.config));
  upgrade_attached(conf, log);
  auto ev = event("applied");
  XG_CHECK(apply_conf(conf, ev));
  log(ev);
  auto held_maps = hold_maps(conf);

  // The metrics endpoint's sockets, while the process may still bind any port.
  std::vector<telemetry::Listener> listeners;
  telemetry::ServerLimits limits;
  if (!opts.metrics.empty()) {
    const auto addr = XG_TRY(telemetry::parse_listen(opts.metrics));
    limits.max_connections = XG_TRY(telemetry::connection_limit(limits.max_connections));
    listeners = XG_TRY(telemetry::open_listeners(addr));
  }
  if (conf.flowspec) (void)XG_TRY_CTX(flowspec::parse_gobgp_address(conf.flowspec->gobgp), opts.config);
  XG_CHECK(drop_capabilities());  // before any thread: capabilities are per thread

  std::atomic<bool> server_stop{false};
  std::thread server_thread;
  Result<void> server_result;
  JoinOnExit join_server{server_stop, {&server_thread}};  // on every way out
  // Notifications are best effort (as sd_notify's): a manager that does not
  // listen must not stop the firewall.
  auto tell = [](const std::string& state) {
    if (auto r = notify(state); !r) spdlog::warn("{}", r.error().message());
  };
  if (!listeners.empty()) {
    server_thread = std::thread([&, ls = std::move(listeners)]() mutable {
      telemetry::MetricsServer server(std::move(ls), telemetry::exposition_renderer(), limits);
      server_result = server.run(server_stop);
    });
  }
  FlowspecThread flowspec_thread;
  flowspec_thread.start(conf, log);
  auto started = event("started");
  started["pid"] = ::getpid();
  started["config"] = opts.config;
  if (!opts.metrics.empty()) started["metrics"] = opts.metrics;
  log(started);
  tell(fmt::format("READY=1\nSTATUS={}\nMAINPID={}", status_line(conf), ::getpid()));

  const auto watchdog = watchdog_interval();
  auto last_ping = std::chrono::steady_clock::now();
  telemetry::FloodService flood;
  const auto clock = telemetry::Clock::now();
  while (!signals.stop) {
    if (signals.reload.exchange(false)) {
      tell("RELOADING=1");
      auto e = event("applied");
      auto r = apply_file(opts.config, e);
      if (r) {
        conf = std::move(*r);
        held_maps = hold_maps(conf);
        log(e);
        flowspec_thread.start(conf, log);
      } else {
        auto f = event("apply_failed");
        f["error"] = r.error().message();
        f["in_force"] = "the state before this reload";
        log(f);
      }
      tell(fmt::format("READY=1\nSTATUS={}{}", status_line(conf), r ? "" : " (the last reload failed)"));
    }
    auto t = flood.tick(monotonic_ns(), [&](const std::string& ifname, const telemetry::FloodEvent& fe) {
      log(telemetry::flood_event_json(fe, ifname, clock));
    });
    if (!t) spdlog::warn("flood detection: {}", t.error().message());
    if (watchdog && std::chrono::steady_clock::now() - last_ping >= *watchdog / 2) {
      tell("WATCHDOG=1");
      last_ping = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  tell("STOPPING=1");
  flowspec_thread.stop();
  auto stopping = event("stopping");
  stopping["programs"] = opts.detach_on_exit ? "detached" : "left enforcing (fail-static)";
  log(stopping);
  server_stop = true;
  if (server_thread.joinable()) server_thread.join();
  if (opts.detach_on_exit)
    for (const auto& i : conf.interfaces)
      if (auto iface = find_interface(i.name); iface)
        if (auto r = Guard::detach(*iface); !r) spdlog::warn("detach {}: {}", i.name, r.error().message());
  return server_result;
}

}  // namespace xdpguard::service
