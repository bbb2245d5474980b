// Operator safety around the commands that change interfaces: the lockout
// guard (simulate/lockout.h) and commit-confirm (confirm/confirm.h):
// `xdpguard confirm IFACE...`, `confirm --status`, the watcher (`confirm
// --watch IFACE`, started by a change made with --confirm), and the
// --confirm and --force options.
#include <cstdio>
#include <ctime>
#include <memory>
#include <ranges>

#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "cli/commands.h"
#include "confirm/confirm.h"
#include "guard/guard.h"

namespace xdpguard::cli {

CLI::Option* add_confirm_option(CLI::App* app, std::string& window) {
  return app
      ->add_option(
          "--confirm", window,
          "Roll the change back after WINDOW (60s, 5m, 1h) unless `xdpguard confirm IFACE` comes first")
      ->type_name("WINDOW");
}

CLI::Option* add_force_option(CLI::App* app, bool& force) {
  return app->add_flag("--force", force,
                       "Make the change even if it would cut the operator off (the SSH session, ARP/ND, "
                       "DHCP replies, management prefixes)");
}

Result<void> with_confirm(const std::string& window, const std::vector<std::string>& ifaces,
                          const std::string& change, const std::function<Result<void>()>& run) {
  if (window.empty()) return run();
  const auto w = XG_TRY_CTX(confirm::parse_window(window), "--confirm");
  std::vector<confirm::Armed> armed;
  auto disarm_all = [&armed] {
    for (const auto& a : armed | std::views::reverse) confirm::disarm(a);
  };
  for (const auto& name : ifaces) {
    auto iface = find_interface(name);
    auto a = iface ? confirm::arm(*iface, w, change) : tl::unexpected(iface.error());
    if (!a) {
      disarm_all();
      return tl::unexpected(std::move(a.error()).context("--confirm " + name));
    }
    armed.push_back(std::move(*a));
  }
  if (auto r = run(); !r) {
    disarm_all();
    return r;
  }
  for (const auto& a : armed) confirm::landed(a);
  for (const auto& a : armed)
    std::fprintf(
        stderr,
        "xdpguard: %s: rolls back at %s (in %lld s) to the state before %s, unless `xdpguard confirm "
        "%s` comes first\n",
        a.iface.name.c_str(), confirm::clock_text(a.record.deadline_unix).c_str(),
        static_cast<long long>(w.count()),
        a.extended
            ? fmt::format("\"{}\" ({} changes pending)", a.record.changes.front(), a.record.changes.size())
                  .c_str()
            : "this change",
        a.iface.name.c_str());
  return {};
}

namespace {

struct ConfirmArgs {
  std::vector<std::string> ifaces;
  std::string watch;
  bool status = false;
  bool json = false;
};

nlohmann::json status_json(const confirm::Status& s) {
  const auto& r = s.record;
  nlohmann::json j = {{"iface", r.iface},
                      {"pending", s.pending},
                      {"changes", r.changes},
                      {"armed_unix", r.armed_unix},
                      {"deadline_unix", r.deadline_unix},
                      {"rules_before", r.attached ? nlohmann::json(r.state.rules.size()) : nlohmann::json()},
                      {"attached_before", r.attached}};
  if (s.pending) {
    j["seconds_left"] = s.seconds_left;
    j["watcher_pid"] = s.watcher;
  } else {
    j["outcome"] = r.outcome;
    j["outcome_unix"] = r.outcome_unix;
  }
  return j;
}

Result<void> cmd_confirm(const ConfirmArgs& a) {
  if (!a.watch.empty()) return confirm::watch(XG_TRY(find_interface(a.watch)));
  if (a.status || a.ifaces.empty()) {
    auto list = XG_TRY(confirm::status());
    if (a.json) {
      nlohmann::json all = nlohmann::json::array();
      for (const auto& s : list) all.push_back(status_json(s));
      std::printf("%s\n", all.dump().c_str());
      return {};
    }
    if (list.empty()) std::printf("no change made with --confirm, pending or past\n");
    for (const auto& s : list) {
      const auto& r = s.record;
      if (s.pending)
        std::printf("%s: pending, rolls back in %.0f s (at %s) to %s; %zu change%s: %s%s\n", r.iface.c_str(),
                    s.seconds_left, confirm::clock_text(r.deadline_unix).c_str(),
                    r.attached ? fmt::format("{} rule{} as before \"{}\"", r.state.rules.size(),
                                             r.state.rules.size() == 1 ? "" : "s", r.changes.front())
                                     .c_str()
                               : "no xdpguard (detach)",
                    r.changes.size(), r.changes.size() == 1 ? "" : "s",
                    fmt::format("{}", fmt::join(r.changes, "; ")).c_str(),
                    s.watcher ? fmt::format(" (watcher pid {})", s.watcher).c_str()
                              : " (no watcher: it could not be started again)");
      else
        std::printf("%s: %s at %s; %zu change%s: %s\n", r.iface.c_str(), r.outcome.c_str(),
                    confirm::clock_text(r.outcome_unix).c_str(), r.changes.size(),
                    r.changes.size() == 1 ? "" : "s", fmt::format("{}", fmt::join(r.changes, "; ")).c_str());
    }
    return {};
  }
  for (const auto& name : a.ifaces) {
    auto iface = XG_TRY(find_interface(name));
    auto r = XG_TRY_CTX(confirm::confirm(iface), name);
    std::printf("%s: confirmed; %zu change%s kept\n", name.c_str(), r.changes.size(),
                r.changes.size() == 1 ? "" : "s");
  }
  return {};
}

}  // namespace

void register_confirm_command(CLI::App& app, Command& cmd) {
  auto args = std::make_shared<ConfirmArgs>();
  auto* c = app.add_subcommand("confirm", "Keep changes made with --confirm (else they are rolled back)");
  c->add_option("IFACE", args->ifaces, "Interfaces whose pending change to keep");
  c->add_flag("--status", args->status, "What is pending, the time left, and how past ones ended");
  c->add_flag("--json", args->json, "With --status: one JSON document");
  c->add_option("--watch", args->watch, "The watcher that rolls back IFACE (started by --confirm)")
      ->group("");
  c->footer(
      "A change made with --confirm WINDOW (apply, attach --config, rule add|del, set load) is rolled back\n"
      "after WINDOW by a watcher process of its own, even when the shell or ssh session that made it is "
      "gone.\n"
      "Example: xdpguard apply --config /etc/xdpguard.toml --confirm 60s\n"
      "         xdpguard confirm eth1\n"
      "         xdpguard confirm --status");
  bind_subcommand(cmd, c, args, cmd_confirm, "confirm", false);
}

}  // namespace xdpguard::cli
