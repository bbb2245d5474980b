// The subcommand table of the xdpguard binary: one small function per
// subcommand, each returning a Result that run() turns into the exit status.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "core/result.h"
#include "guard/guard.h"
#include "simulate/lockout.h"

namespace xdpguard::cli {

struct Globals {
  std::string netns;
  int verbose = 0;
  unsigned wait = 60;  // seconds a command waits for an interface's lock (--wait)
};

// The chosen subcommand: what to run, and the context for its error line
// ("attach veth1").
struct Command {
  std::function<Result<void>()> fn;
  std::function<std::string()> context;
  bool needs_bpffs = true;
};

// A subcommand's CLI11 callback: once parsing chose `sub`, cmd runs fn on the
// parsed args, with "VERB IFACE" (or "VERB" alone) as its error line's context.
template <class Args>
void bind_subcommand(Command& cmd, CLI::App* sub, std::shared_ptr<Args> args, Result<void> (*fn)(const Args&),
                     std::string verb, bool with_iface = true) {
  sub->callback([&cmd, args, fn, verb = std::move(verb), with_iface] {
    cmd.fn = [args, fn] { return fn(*args); };
    cmd.context = [args, verb, with_iface] {
      if constexpr (requires { args->iface; })
        return with_iface ? verb + " " + args->iface : verb;
      else
        return verb;
    };
  });
}

// Adds every subcommand to app; parsing fills `cmd`, which must outlive app.
void register_commands(CLI::App& app, Globals& g, Command& cmd);

// Subcommand groups living in their own files (cmd_*.cpp) register through
// these; each sets cmd.fn/cmd.context in its CLI11 callback.
void register_gen_command(CLI::App& app, Command& cmd);
void register_rule_commands(CLI::App& app, Command& cmd);
void register_ddos_commands(CLI::App& app, Command& cmd);
void register_telemetry_commands(CLI::App& app, Command& cmd);  // cmd_telemetry.cpp
void register_simulate_command(CLI::App& app, Command& cmd);    // cmd_simulate.cpp
void register_confirm_command(CLI::App& app, Command& cmd);     // cmd_safety.cpp
void register_xsk_command(CLI::App& app, Command& cmd);         // cmd_xsk.cpp
void register_flowspec_command(CLI::App& app, Command& cmd);    // cmd_flowspec.cpp

// `--force`: past the lockout guard (simulate/lockout.h).
CLI::Option* add_force_option(CLI::App* app, bool& force);

// Commit-confirm (cmd_safety.cpp, confirm/confirm.h): `--confirm WINDOW`
// on a command that changes interfaces, and the change run armed: the state
// of each interface in `ifaces` is recorded first; a change that fails
// arms nothing; one that succeeds is rolled back unless confirmed in time.
// An empty `window` runs the change alone.
CLI::Option* add_confirm_option(CLI::App* app, std::string& window);
[[nodiscard]] Result<void> with_confirm(const std::string& window, const std::vector<std::string>& ifaces,
                                        const std::string& change, const std::function<Result<void>()>& run);

// Warnings a command that shows an interface's state prints about it: an
// attach that died half-way.
void warn_about(const GuardStats& s);

// How a long-running command's loop (gen, xsk, events, capture, top,
// metrics) is ended: catch_stop_signals() makes SIGINT, SIGTERM and SIGHUP
// set the flag stop_requested() returns, through handlers without
// SA_RESTART (a blocking wait returns early, and the loop looks at the
// flag), and ignores SIGPIPE (a closed pipe is an EPIPE write).
void catch_stop_signals();
const std::atomic<bool>& stop_requested();

// Applies globals (-n, -v), runs the command, prints the error line.
int run(Command& cmd, const Globals& g);

}  // namespace xdpguard::cli
