// `xdpguard flowspec IFACE... --exabgp | --gobgp HOST:PORT`: BGP FlowSpec
// routes made rules on every interface named (flowspec/consumer.h).
#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "flowspec/consumer.h"
#include "rules/parser.h"

namespace xdpguard::cli {
namespace {

struct FlowspecArgs {
  std::vector<std::string> ifaces;
  bool exabgp = false;
  std::string gobgp;
  std::string position = "after-local";
  std::size_t max_rules = 10000;
  double stale_s = 60;
  std::string state;
  std::vector<std::string> management;
  bool no_lockout_guard = false;
};

Result<void> cmd_flowspec(const FlowspecArgs& a) {
  flowspec::ConsumerConfig c;
  c.ifaces = a.ifaces;
  if (a.position == "after-local")
    c.position = flowspec::Position::AfterLocal;
  else if (a.position == "before-local")
    c.position = flowspec::Position::BeforeLocal;
  else
    return fail(EINVAL, "--position {}: expected after-local or before-local", a.position);
  c.max_rules = a.max_rules;
  c.stale = std::chrono::milliseconds(static_cast<long long>(a.stale_s * 1000));
  c.state_file = a.state;
  c.lockout_guard = !a.no_lockout_guard;
  for (const auto& m : a.management) {
    auto p = rules::parse_prefix(m);
    if (!p)
      return fail(EINVAL, "--management {}: not a prefix (e.g. 192.0.2.0/24, 2001:db8::/32)",
                  rules::quote(m));
    c.management.push_back(*p);
  }
  if (a.exabgp == !a.gobgp.empty()) return fail(EINVAL, "give one source: --exabgp or --gobgp HOST:PORT");
  if (a.exabgp) return flowspec::run_exabgp(c, STDIN_FILENO, STDOUT_FILENO);
  return flowspec::run_gobgp(c, a.gobgp);
}

}  // namespace

void register_flowspec_command(CLI::App& app, Command& cmd) {
  auto a = std::make_shared<FlowspecArgs>();
  auto* f = app.add_subcommand("flowspec", "Enforce BGP FlowSpec routes (from ExaBGP or GoBGP) as rules");
  f->add_option("IFACE", a->ifaces, "Interfaces (attached) that enforce the routes")->required();
  f->add_flag("--exabgp", a->exabgp,
              "Run as an ExaBGP process: its JSON API on stdin (encoder json; receive { parsed; update; })");
  f->add_option("--gobgp", a->gobgp, "Follow the GoBGP daemon whose gRPC API is at HOST:PORT (gobgp -u/-p)");
  f->add_option("--position", a->position,
                "Where the FlowSpec rules go: after-local (default: local rules first) or before-local");
  add_whole(f, "--max-rules", a->max_rules, 1, XDPGUARD_MAX_RULES,
            "Rules the routes may take at most (default 10000); routes past it are not installed");
  add_decimal(f, "--stale-time", a->stale_s, 0, 86400, "seconds",
              "How long a down session's routes stay (default 60)");
  f->add_option("--state", a->state, "Keep this JSON file up to date: each route, what it became, counts");
  f->add_option(
      "--management", a->management,
      "The operator's prefixes: a route that would cut SSH from them is not installed (repeatable)");
  f->add_flag("--no-lockout-guard", a->no_lockout_guard,
              "Install routes even if they would cut ARP, ND, DHCP replies or SSH from --management");
  f->footer(
      "Example (an ExaBGP process):\n"
      "  process xdpguard { run /usr/sbin/xdpguard flowspec eth1 --exabgp; encoder json; }\n"
      "Example (GoBGP): xdpguard flowspec eth1 eth2 --gobgp 127.0.0.1:50051");
  f->callback([&cmd, a] {
    cmd.fn = [a] { return cmd_flowspec(*a); };
    cmd.context = [a] { return fmt::format("flowspec {}", fmt::join(a->ifaces, " ")); };
  });
}

}  // namespace xdpguard::cli
