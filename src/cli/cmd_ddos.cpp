// `xdpguard blocked list|del|never`: the sources that `block DURATION` rules
// blocked, and those they never block; `xdpguard synproxy enable|disable|status`: XDP SYN cookies
// (docs/ddos.md).
#include <cstdio>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "guard/guard.h"
#include "guard/synproxy_setup.h"
#include "report/ddos.h"
#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard::cli {
namespace {

struct DdosArgs {
  std::string iface;
  std::string addr;
  std::vector<std::string> prefixes;  // blocked never
  bool clear = false;
  bool json = false;
  // synproxy enable
  std::string ports;
  unsigned mss4 = 1460, mss6 = 1440, wscale = 7, ttl = 64;
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

Result<void> blocked_never(const DdosArgs& a) {
  auto iface = XG_TRY(find_interface(a.iface));
  auto g = XG_TRY(Guard::open(iface));
  if (a.clear && !a.prefixes.empty()) return fail(EINVAL, "either PREFIX... or --clear, not both");
  if (a.clear || !a.prefixes.empty()) {
    std::vector<rules::Prefix> list;
    for (const auto& t : a.prefixes) {
      auto p = rules::parse_prefix(t);
      if (!p) return fail(EINVAL, "expected an IPv4 or IPv6 address or prefix, got \"{}\"", t);
      list.push_back(*p);
    }
    XG_CHECK(g.set_never_block(list));
  }
  const auto now = XG_TRY(g.never_block());
  if (a.json) {
    nlohmann::json j = {{"interface", iface.name}, {"never_block", nlohmann::json::array()}};
    for (const auto& p : now) j["never_block"].push_back(rules::prefix_to_string(p));
    std::printf("%s\n", j.dump().c_str());
  } else {
    for (const auto& p : now) std::printf("%s\n", rules::prefix_to_string(p).c_str());
  }
  return {};
}

Result<void> synproxy_enable(const DdosArgs& a) {
  SynproxyConfig cfg;
  cfg.ports = XG_TRY(parse_synproxy_ports(a.ports));
  cfg.mss4 = static_cast<std::uint16_t>(a.mss4);
  cfg.mss6 = static_cast<std::uint16_t>(a.mss6);
  cfg.wscale = static_cast<std::uint8_t>(a.wscale);
  cfg.ttl = static_cast<std::uint8_t>(a.ttl);
  XG_CHECK(validate_synproxy(cfg));
  auto iface = XG_TRY(find_interface(a.iface));
  auto g = XG_TRY(Guard::open(iface));
  auto st = XG_TRY(g.synproxy_enable(cfg));
  std::fputs(synproxy_text(iface.name, st, XG_TRY(g.ddos_stats())).c_str(), stdout);
  return {};
}

Result<void> synproxy_disable(const DdosArgs& a) {
  auto iface = XG_TRY(find_interface(a.iface));
  auto g = XG_TRY(Guard::open(iface));
  XG_CHECK(g.synproxy_disable());
  std::printf("synproxy on %s: off\n", iface.name.c_str());
  return {};
}

Result<void> synproxy_status(const DdosArgs& a) {
  auto iface = XG_TRY(find_interface(a.iface));
  auto g = XG_TRY(Guard::open(iface));
  auto st = XG_TRY(g.synproxy_status());
  auto stats = XG_TRY(g.ddos_stats());
  if (a.json)
    std::printf("%s\n", synproxy_json(iface.name, st, stats).dump().c_str());
  else
    std::fputs(synproxy_text(iface.name, st, stats).c_str(), stdout);
  return {};
}

}  // namespace

void register_ddos_commands(CLI::App& app, Command& cmd) {
  auto args = std::make_shared<DdosArgs>();
  auto bind = [&cmd, args](CLI::App* sub, Result<void> (*fn)(const DdosArgs&), std::string verb) {
    bind_subcommand(cmd, sub, args, fn, std::move(verb));
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

  auto* never = blocked->add_subcommand(
      "never", "Prefixes a rule's `block` never blocks: show them, or replace them with PREFIX...");
  never->add_option("IFACE", args->iface, "Interface")->required();
  never->add_option("PREFIX", args->prefixes, "IPv4 or IPv6 prefixes (replace the list)");
  never->add_flag("--clear", args->clear, "Empty the list");
  never->add_flag("--json", args->json, "One JSON document");
  never->footer(
      "A block that would cover one of them is not made (counted in block_skipped), and\n"
      "setting them removes the blocks in force that cover them. Also from the config file:\n"
      "[ddos] never-block and [guard] management.\n"
      "Example: xdpguard blocked never eth1 192.0.2.53 198.51.100.0/24\n"
      "         xdpguard blocked never eth1 --json");
  bind(never, blocked_never, "blocked never");

  auto* sp =
      app.add_subcommand("synproxy", "XDP SYN cookies for TCP ports (the kernel's SYNPROXY takes the ACKs)");
  sp->require_subcommand(1);
  sp->footer("Example: xdpguard synproxy enable eth1 --ports 80,443");

  auto* en = sp->add_subcommand("enable", "Answer SYNs to PORTS with SYN cookies in XDP (XDP_TX)");
  en->add_option("IFACE", args->iface, "Interface")->required();
  en->add_option("--ports", args->ports, "TCP ports or service names, comma-separated (at most 16)")
      ->required();
  add_whole(en, "--mss4", args->mss4, 536, 65535, "MSS announced to IPv4 clients (default 1460)", "bytes");
  add_whole(en, "--mss6", args->mss6, 1220, 65535, "MSS announced to IPv6 clients (default 1440)", "bytes");
  add_whole(en, "--wscale", args->wscale, 0, 14, "Window scale announced (0-14, default 7)");
  add_whole(en, "--ttl", args->ttl, 1, 255, "TTL / hop limit of the SYN-ACKs (default 64)");
  en->footer(
      "Answers SYNs only to the interface's MAC and the namespace's local addresses (as they are now).\n"
      "Sets up an nftables table (inet xdpguard_synproxy_IFINDEX) and net.ipv4.tcp_timestamps=1,\n"
      "net.netfilter.nf_conntrack_tcp_loose=0 in the interface's namespace (shared by its interfaces:\n"
      "the last disable restores them); disable and detach undo it. Connections open now keep working.\n"
      "Example: xdpguard synproxy enable eth1 --ports 80,443");
  bind(en, synproxy_enable, "synproxy enable");

  auto* dis = sp->add_subcommand("disable", "Turn the SYN proxy off and undo its host setup");
  dis->add_option("IFACE", args->iface, "Interface")->required();
  dis->footer("Example: xdpguard synproxy disable eth1");
  bind(dis, synproxy_disable, "synproxy disable");

  auto* stat = sp->add_subcommand("status", "Ports, settings, host setup and cookie counters");
  stat->add_option("IFACE", args->iface, "Interface")->required();
  stat->add_flag("--json", args->json, "One JSON document");
  stat->footer("Example: xdpguard synproxy status eth1 --json");
  bind(stat, synproxy_status, "synproxy status");
}

}  // namespace xdpguard::cli
