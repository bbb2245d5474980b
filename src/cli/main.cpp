// xdpguard: the command-line front end. Parses arguments (CLI11), runs one
// subcommand from commands.cpp, and turns its Result into the exit status and
// the one stderr line the product contract promises. No logic lives here.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "bpf/abi.h"
#include "cli/commands.h"
#include "core/log.h"
#include "core/process.h"

namespace {

int run_main(int argc, char** argv) {
  CLI::App app{"xdpguard: kernel-level network defense on XDP", "xdpguard"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "xdpguard " XDPGUARD_VERSION " (pinned-state ABI " +
                                        std::to_string(XDPGUARD_ABI_VERSION) + ")");
  app.set_help_all_flag("--help-all", "Help for every subcommand");
  xdpguard::cli::Globals globals;
  app.add_option("-n,--netns", globals.netns, "Act inside network namespace NETNS (like ip -n)");
  app.add_flag("-v,--verbose", globals.verbose, "More log output (-vv: libbpf debug)");
  app.add_option("--wait", globals.wait,
                 "Seconds to wait for an interface's lock held by another xdpguard command, then fail naming "
                 "it (default 60; 0: fail at once)")
      ->check(CLI::Range(0u, 86400u));
  app.footer(
      "Examples:\n"
      "  xdpguard attach veth1 --mode native\n"
      "  xdpguard -n lab stats veth1 --json\n"
      "  xdpguard --wait 5 rule add veth1 'drop tcp dport 23'\n"
      "  xdpguard demo");

  xdpguard::cli::Command cmd;
  xdpguard::cli::register_commands(app, globals, cmd);
  // CLI11 would call an unknown word an "extra argument"; name it properly.
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-n" || a == "--netns" || a == "--wait") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] == '-') continue;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({}))
      if (sub->get_name() == a) known = true;
    if (!known) {
      std::fprintf(stderr, "xdpguard: unknown subcommand \"%s\" (see xdpguard --help)\n", a.c_str());
      return 2;
    }
    break;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "xdpguard: %s (see xdpguard --help)\n", e.what());
    return 2;
  }
  return xdpguard::cli::run(cmd, globals);
}

}  // namespace

// Commands report failures as Result values; an exception reaching here is a
// bug (or out of memory): one line and status 1, never std::terminate.
int main(int argc, char** argv) {
  xdpguard::prefer_huge_page_heap();
  try {
    xdpguard::log::init();
    return run_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xdpguard: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "xdpguard: internal error: unknown exception\n");
  }
  return 1;
}
