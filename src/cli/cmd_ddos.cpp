// `xdpguard blocked list|del`: the sources that `block DURATION` rules
// blocked (docs/ddos.md).
#include <cstdio>
#include <memory>

#include "bpf/system.h"
#include "cli/commands.h"
#include "guard/guard.h"
#include "report/ddos.h"
#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard::cli {
namespace {

struct DdosArgs {
  std::string iface;
  std::string addr;
  bool json = false;
};

Result<void> blocked_list(const DdosArgs& a) {
  auto iface = XG_TRY(find_interface(a.iface));
  auto g = XG_TRY(Guard::open(iface));
  auto list = XG_TRY(g.blocked());
  if (a.json)
    std::printf("%s\n", blocked_json(iface.name, list).dump().c_str());
  else
    std::fputs(blocked_table(list).c_str(), stdout);
  return {};
}

Result<void> blocked_del(const DdosArgs& a) {
  auto p = rules::parse_prefix(a.addr);
  if (!p) return fail(EINVAL, "expected an IPv4 or IPv6 address or prefix, got \"{}\"", a.addr);
  auto iface = XG_TRY(find_interface(a.iface));
  auto g = XG_TRY(Guard::open(iface));
  for (const auto& e : XG_TRY(g.unblock(*p)))
    std::printf("unblocked %s (%.1fs were left, %llu packets dropped)\n",
                rules::prefix_to_string(e.prefix).c_str(), static_cast<double>(e.expires_in_ns) / 1e9,
                static_cast<unsigned long long>(e.packets));
  return {};
}

}  // namespace

void register_ddos_commands(CLI::App& app, Command& cmd) {
  auto args = std::make_shared<DdosArgs>();
  auto bind = [&cmd, args](CLI::App* sub, Result<void> (*fn)(const DdosArgs&), std::string verb) {
    sub->callback([&cmd, args, fn, verb] {
      cmd.fn = [args, fn] { return fn(*args); };
      cmd.context = [args, verb] { return verb + " " + args->iface; };
    });
  };

  auto* blocked = app.add_subcommand("blocked", "Sources blocked by `block DURATION` rules");
  blocked->require_subcommand(1);
  blocked->footer("Example: xdpguard blocked list eth1");

  auto* list = blocked->add_subcommand("list", "Blocked source prefixes, time left, packets dropped");
  list->add_option("IFACE", args->iface, "Interface")->required();
  list->add_flag("--json", args->json, "One JSON document");
  list->footer("Example: xdpguard blocked list eth1 --json");
  bind(list, blocked_list, "blocked list");

  auto* del = blocked->add_subcommand("del", "Unblock every blocked prefix containing ADDR");
  del->add_option("IFACE", args->iface, "Interface")->required();
  del->add_option("ADDR", args->addr, "An address or prefix, IPv4 or IPv6")->required();
  del->footer("Example: xdpguard blocked del eth1 203.0.113.7");
  bind(del, blocked_del, "blocked del");
}

}  // namespace xdpguard::cli
