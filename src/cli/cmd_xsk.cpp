// `xdpguard xsk IFACE`: the ready AF_XDP consumer of `redirect xsk` rules
// (consumer/consumer.h): count, write to pcap, forward out another interface.
#include <atomic>
#include <csignal>
#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "consumer/consumer.h"

namespace xdpguard::cli {
namespace {

struct XskArgs {
  std::string iface;
  consumer::Options o;  // what the options set directly
  std::string dst_mac;
  std::string mode = "auto";
  bool json = false;
};

Result<void> cmd_xsk(const XskArgs& a) {
  consumer::Options o = a.o;
  if (!a.dst_mac.empty()) {
    o.dst_mac = consumer::parse_mac(a.dst_mac);
    if (!o.dst_mac)
      return fail(EINVAL, "--dst-mac {}: expected six hex pairs, as 02:00:00:00:00:01", a.dst_mac);
    if (o.forward.empty()) return fail(EINVAL, "--dst-mac needs --forward");
  }
  if (a.mode == "copy")
    o.mode = xsk::Mode::Copy;
  else if (a.mode == "zero-copy")
    o.mode = xsk::Mode::ZeroCopy;
  else if (a.mode != "auto")
    return fail(EINVAL, "--mode {}: expected auto, copy or zero-copy", a.mode);

  auto iface = XG_TRY(find_interface(a.iface));
  auto guard = XG_TRY(Guard::open(iface));
  bool any = false;
  for (const auto& r : XG_TRY(guard.rules())) any = any || r.text.rfind("redirect xsk", 0) == 0;
  if (!any)
    spdlog::warn(
        "no rule of {} sends packets to AF_XDP sockets yet (e.g. xdpguard rule add {} 'redirect xsk udp "
        "dport 9000')",
        a.iface, a.iface);
  catch_stop_signals();  // the wait returns early
  auto c = XG_TRY(consumer::Consumer::open(guard, iface, o));
  {
    auto st = c.stats();
    std::fprintf(stderr, "xdpguard: xsk %s: %s mode; Ctrl-C stops\n", a.iface.c_str(), st.mode.c_str());
  }
  auto ran = c.run(stop_requested());
  auto closed = c.close();
  const auto st = c.stats();
  if (a.json)
    std::printf("%s\n", consumer::stats_json(st).dump().c_str());
  else
    std::fputs(consumer::stats_text(st).c_str(), stderr);
  XG_CHECK(ran);
  return closed;
}

}  // namespace

void register_xsk_command(CLI::App& app, Command& cmd) {
  auto a = std::make_shared<XskArgs>();
  auto* x = app.add_subcommand("xsk", "Receive the frames `redirect xsk` rules send to user space (AF_XDP)");
  x->add_option("IFACE", a->iface, "Interface")->required();
  x->add_option("--queue", a->o.queues, "Only these RX queues (repeatable; default: every queue)");
  add_count(x, a->o.count, "Stop after this many frames");
  add_duration(x, a->o.seconds, "Stop after this many seconds");
  x->add_option("-w,--write", a->o.pcap, "Write the frames to this pcap file (- for stdout)");
  add_whole(x, "--snaplen", a->o.snaplen, 0, 65535, "Bytes of each frame written (default 0: whole frames)");
  x->add_option(
      "--forward", a->o.forward,
      "Send the frames out this interface (AF_XDP TX; TTL / hop limit decremented, the next hop's MAC "
      "from the neighbour table)");
  x->add_option("--dst-mac", a->dst_mac,
                "With --forward: this destination MAC instead of the neighbour table");
  x->add_flag(
      "--reinject", a->o.reinject,
      "Hand the frames back to the kernel (through a TAP named xgr<ifindex> with the interface's MAC): "
      "they reach the host's sockets after passing through here");
  x->add_option("--mode", a->mode, "auto (zero-copy where the driver has it), copy or zero-copy");
  x->add_flag("--json", a->json, "Statistics on exit as one JSON object on stdout");
  x->footer(
      "Example: xdpguard rule add eth1 'redirect xsk udp dport 9000'\n"
      "         xdpguard xsk eth1 -w flows.pcap --count 1000 --json");
  bind_subcommand(cmd, x, a, &cmd_xsk, "xsk");
}

}  // namespace xdpguard::cli
