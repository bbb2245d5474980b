// `xdpguard gen`: the lab traffic generator (src/lib/gen). Sends copies of
// one UDP / TCP SYN / ICMP frame out of a veth as fast as the kernel allows,
// with optional random source addresses and ports, a count and/or duration,
// and a progress line per second.
#include <csignal>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "gen/generator.h"
#include "rules/parser.h"

namespace xdpguard::cli {
namespace {

struct GenArgs {
  std::string iface;
  std::string proto = "udp";
  std::string src, dst, dst_mac, sport = "1024";
  std::uint16_t dport = 9;
  std::uint32_t size = 0;  // 0: 64, or the protocol's minimum if larger
  std::uint64_t count = 0;
  double seconds = 0;
  double rate = 0;
  bool syn_options = false;
  bool force = false;
  bool json = false;
};

std::string fmt_rate(const gen::Progress& p, const std::string& ifname, std::uint32_t size) {
  std::string line = fmt::format("{} frames in {:.1f} s, {:.2f} Mpps, {:.2f} Gbit/s", p.delivered(),
                                 p.seconds, p.pps() / 1e6, p.pps() * size * 8 / 1e9);
  if (p.dropped)
    line += fmt::format(" ({} more refused by {}: its peer's queue was full, or the peer has no XDP program)",
                        p.dropped, ifname);
  return line;
}

Result<void> cmd_gen(const GenArgs& a) {
  XG_CHECK(require_privileges());
  auto iface = XG_TRY(find_interface(a.iface));
  XG_CHECK(gen::check_lab_interface(iface, a.force));

  gen::Spec spec;
  spec.proto = a.proto == "syn" ? gen::Proto::Syn : a.proto == "icmp" ? gen::Proto::Icmp : gen::Proto::Udp;
  auto dst = rules::parse_prefix(a.dst);
  if (!dst || dst->len != (dst->family == rules::Family::V6 ? 128 : 32))
    return fail(EINVAL, "--dst \"{}\" is not an IPv4 or IPv6 address", a.dst);
  spec.dst = dst->addr;
  if (a.src.empty()) {
    spec.src = XG_TRY(gen::interface_address(iface, dst->family));
  } else {
    auto src = rules::parse_prefix(a.src);
    if (!src) return fail(EINVAL, "--src \"{}\" is not an address or prefix (198.18.0.0/24)", a.src);
    if (src->family != dst->family) return fail(EINVAL, "--src and --dst are of different families");
    spec.src = *src;
  }
  auto [lo, hi] = XG_TRY_CTX(gen::parse_port_range(a.sport), "--sport");
  spec.sport_lo = lo, spec.sport_hi = hi;
  spec.dport = a.dport;
  if (a.syn_options && spec.proto != gen::Proto::Syn) return fail(EINVAL, "--syn-options needs --proto syn");
  spec.syn_options = a.syn_options;
  spec.size =
      a.size ? a.size
             : std::max<std::uint32_t>(64, gen::min_frame_size(spec.proto, spec.src.family, a.syn_options));
  spec.src_mac = XG_TRY(gen::interface_mac(iface));
  spec.dst_mac = a.dst_mac.empty() ? XG_TRY(gen::neighbour_mac(iface, a.dst))
                                   : XG_TRY_CTX(gen::parse_mac(a.dst_mac), "--dst-mac");
  if (!a.force) XG_CHECK(gen::check_lab_addresses(spec));
  auto tmpl = XG_TRY(gen::build(spec));
  auto g = XG_TRY(gen::Generator::open(tmpl));

  gen::Limits limits{a.count, a.seconds, a.rate};
  if (!limits.count && limits.seconds <= 0) limits.seconds = 10;
  catch_stop_signals();  // the send returns early
  auto progress = [&](const gen::Progress& p) {
    if (!a.json)
      std::fprintf(stderr, "gen %s: %s\n", iface.name.c_str(), fmt_rate(p, iface.name, spec.size).c_str());
  };
  auto done = XG_TRY(g.run(iface, limits, progress, &stop_requested()));
  if (done.frames && !done.delivered())
    return fail(EHOSTUNREACH,
                "{} refused all {} frames: a veth passes them on only when its peer has an XDP "
                "program attached (any, even one that passes everything)",
                iface.name, done.frames);
  if (a.json) {
    nlohmann::json j = {{"interface", iface.name},    {"proto", a.proto},        {"size", spec.size},
                        {"frames", done.delivered()}, {"refused", done.dropped}, {"seconds", done.seconds},
                        {"pps", done.pps()}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("sent %s\n", fmt_rate(done, iface.name, spec.size).c_str());
  }
  return {};
}

}  // namespace

void register_gen_command(CLI::App& app, Command& cmd) {
  auto a = std::make_shared<GenArgs>();
  auto* gen = app.add_subcommand("gen", "Lab traffic generator: blast frames out of a veth");
  gen->add_option("IFACE", a->iface, "Lab interface (a veth; its peer receives)")->required();
  gen->add_option("--dst", a->dst, "Destination address (IPv4 or IPv6)")->required();
  gen->add_option("--src", a->src,
                  "Source address, or a prefix whose host bits are random per frame "
                  "(default: the interface's address)");
  gen->add_option("--proto", a->proto, "udp, syn (TCP SYN) or icmp (echo request)")
      ->check(CLI::IsMember({"udp", "syn", "icmp"}));
  gen->add_option("--sport", a->sport, "Source port, or a range LO-HI (random per frame); udp and syn");
  gen->add_flag("--syn-options", a->syn_options,
                "SYNs carry the options a Linux client sends (MSS, SACK-permitted, timestamps, window "
                "scale: 20 bytes), not none");
  add_whole(gen, "--dport", a->dport, 0, 65535, "Destination port", "a port");
  add_whole(gen, "--size", a->size, 60, gen::kMaxFrameSize,
            "Frame length in bytes without FCS (default 64; 60..1514, more for IPv6/TCP)", "bytes");
  add_count(gen, a->count, "Stop after this many frames");
  add_duration(gen, a->seconds, "Stop after this many seconds (default 10 without --count)");
  add_decimal(gen, "--rate", a->rate, 1, 1e9, "frames per second",
              "Frames per second at most, paced in the kernel (default: as fast as it can)");
  gen->add_option("--dst-mac", a->dst_mac, "Destination MAC (default: from the neighbour table)");
  gen->add_flag("--force", a->force,
                "Send on an interface that is not a veth, or to/from addresses outside the lab ranges "
                "198.18.0.0/15 and fd00::/8");
  gen->add_flag("--json", a->json, "Print the result as JSON");
  gen->footer(
      "Example: xdpguard -n lab gen veth0 --dst 198.18.0.2 --src 198.18.0.64/26 "
      "--sport 1024-65535 --duration 5");
  gen->callback([&cmd, a] {
    cmd.fn = [a] { return cmd_gen(*a); };
    cmd.context = [a] { return "gen " + a->iface; };
    cmd.needs_bpffs = false;
  });
}

}  // namespace xdpguard::cli
