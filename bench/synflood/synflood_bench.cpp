// synflood_bench: SYNs answered per second under a SYN flood, five
// answerers side by side in one run, same generator, same frames (64-byte
// SYNs from random sources in 198.18.128.0/17 to port 80):
//
//   bare XDP_TX       a program that swaps the MACs and returns XDP_TX: the
//                     limit of answering in XDP on this machine
//   cookie floor      the least a program can do to answer with a cookie
//                     (cookie_floor.bpf.c: fixed offsets, IPv4, an MSS
//                     option, no rules, no counters): what any SYN proxy
//                     in XDP costs here
//   xdpguard          attached as the CLI attaches it, `synproxy enable
//                     --ports 80` (nftables SYNPROXY table, sysctls): each
//                     SYN gets a SYN-ACK with a kernel SYN cookie, XDP_TX
//   kernel alone      no XDP program of ours (a bare XDP_PASS, which a veth
//                     needs to take generated frames), a listening socket
//                     on port 80 and net.ipv4.tcp_syncookies=2: the kernel
//                     answers every SYN with its own SYN cookie
//   xdpguard, options the same xdpguard, the flood's SYNs carrying the 20
//                     bytes of options a Linux client sends (gen
//                     --syn-options: MSS, SACK-permitted, timestamps, window
//                     scale), which the stage walks and answers in kind; no
//                     floor answers those, so it is compared with xdpguard
//                     on plain SYNs
//
// First, what the stage's host check (destination MAC and address) and
// socket lookup (connections open before enable) cost: BPF_PROG_TEST_RUN
// through the pipeline (in-process: guard program, classifier, synproxy
// stage), the real stage and the same stage with both compiled out
// (synproxy_unchecked.bpf.c) taking turns in its slot, same frames, rounds
// interleaved; ns per packet, the difference is the cost.
//
// Answers are counted where they are made: the server veth's XDP_TX counter
// (ethtool rx_queue_N_xdp_tx) for the XDP answerers, TcpExtSyncookiesSent
// for the kernel. Checks: xdpguard's own syn_cookies counter equals its
// XDP_TX count (1%), and every answerer answered at least 90 % of the SYNs
// delivered to it. The client's veth runs a bare XDP_DROP program, which
// takes the answers off the wire (a veth delivers XDP_TX frames only to a
// peer running XDP). Generator and answerer share a CPU: figures are ratios.
//
//   synflood_bench [--quick] [--json FILE]
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "common/ethtool.h"
#include "common/lab_xdp.h"
#include "common/packets.h"
#include "common/workloads.h"
#include "core/log.h"
#include "core/process.h"
#include "core/unique_fd.h"
#include "gen/generator.h"
#include "guard/guard.h"
#include "lab/lab.h"
#include "bpf/test_run.h"
#include "cookie_floor.skel.h"
#include "rules/parser.h"
#include "synproxy_unchecked.skel.h"

XDPGUARD_SKELETON(cookie_floor_bpf);
XDPGUARD_SKELETON(synproxy_unchecked_bpf);

using namespace xdpguard;

namespace {

constexpr std::uint16_t kPort = 80;

struct Answerer {
  std::string label, key;
  std::function<Result<void>()> setup, teardown;
  std::function<Result<std::uint64_t>()> answers;  // cumulative
  std::string answers_name;
  // The answerer's own count of its answers (cumulative), if it keeps one.
  std::function<Result<std::uint64_t>()> own;
  bool syn_options = false;  // the flood's SYNs carry a Linux client's options
};

struct Sample {
  std::vector<double> mpps;
  std::uint64_t delivered = 0, answered = 0;
  std::string bad;
  double median() const { return bench::median(mpps); }
};

// Each frame runs `repeat` times in one run, so it must come out unchanged:
// an answered SYN is rewritten in place (a repeat would measure the
// SYN-ACK, and one frame per run measures the test run's own overhead,
// hundreds of ns, more than anything here). The stage checks a SYN with
// IPv4 options or IPv6 extension headers exactly as it checks any SYN,
// then leaves it to the kernel's SYNPROXY: that is the check's cost.
struct CostCase {
  std::string label, key;
  bench::Bytes frame;
  std::uint32_t verdict;  // what both stages must answer
  std::vector<double> with, without;
};

// The IPv6 SYN with an 8-byte Destination Options header (PadN).
bench::Bytes with_ext_header(bench::Bytes f) {
  const std::uint8_t dest[8] = {6, 0, 1, 4, 0, 0, 0, 0};
  f.insert(f.begin() + 14 + 40, dest, dest + 8);
  f[14 + 6] = 60;
  const unsigned len = ((f[18] << 8) | f[19]) + 8;
  f[18] = static_cast<std::uint8_t>(len >> 8);
  f[19] = static_cast<std::uint8_t>(len);
  return f;
}

// The SYN with 4 bytes of IPv4 options (NOP, NOP, NOP, EOL).
bench::Bytes with_ip_options(bench::Bytes f) {
  const std::uint8_t opts[4] = {1, 1, 1, 0};
  f.insert(f.begin() + 14 + 20, opts, opts + 4);
  f[14] = 0x46;
  const unsigned len = ((f[16] << 8) | f[17]) + 4;
  f[16] = static_cast<std::uint8_t>(len >> 8);
  f[17] = static_cast<std::uint8_t>(len);
  return f;
}

Result<nlohmann::json> check_cost(int rounds, std::uint32_t repeat) {
  auto prog = XG_TRY(GuardProgram::open(GuardConfig{}));
  XG_CHECK(prog.load());
  auto guard = XG_TRY(Guard::from_program(prog));
  SynproxyConfig cfg;
  cfg.ports = {kPort};
  SynproxyIdentity id;
  id.mac = {0x02, 0, 0, 0, 0, 0x02};  // bench::frame()'s destination
  std::vector<std::string> local = {"198.18.0.2", "fd00::2"};
  for (int i = 0; i < 62; ++i)  // a host with a few more addresses than the lab's
    local.push_back(fmt::format("198.18.{}.{}", 100 + i / 8, 1 + i));
  for (const auto& a : local) {
    auto p = rules::parse_prefix(a);
    if (!p) return fail(EINVAL, "address {} does not parse", a);
    id.local.push_back(*p);
  }
  cfg.identity = id;
  XG_CHECK(guard.synproxy_enable(cfg, /*host=*/false));
  // The stage enable installed (the program array gives its id), and the
  // unchecked one over the same maps.
  auto progs = XG_TRY(prog.map(XDPGUARD_PIN_PROGS));
  __u32 slot = XDPGUARD_PROG_SYNPROXY, id_real = 0;
  if (bpf_map_lookup_elem(progs.fd(), &slot, &id_real) != 0) return fail_errno(errno, "read the stage's id");
  UniqueFd real(bpf_prog_get_fd_by_id(id_real));
  if (!real) return fail_errno(errno, "open the stage");
  auto unchecked = XG_TRY(BpfSkeleton<synproxy_unchecked_bpf>::open("synproxy_unchecked"));
  std::vector<MapFd> keep;
  for (auto [m, name] : {std::pair{unchecked->maps.xg_percpu, XDPGUARD_PIN_PERCPU},
                         std::pair{unchecked->maps.xg_rule_stats, XDPGUARD_PIN_RULE_STATS},
                         std::pair{unchecked->maps.xg_progs, XDPGUARD_PIN_PROGS},
                         std::pair{unchecked->maps.xg_synproxy, XDPGUARD_PIN_SYNPROXY}}) {
    keep.push_back(XG_TRY(prog.map(name)));
    if (int err = bpf_map__reuse_fd(m, keep.back().fd())) return fail_errno(err, "reuse the pipeline's maps");
  }
  XG_CHECK(unchecked.load());
  const int unchecked_fd = bpf_program__fd(unchecked->progs.xdpguard_synproxy);
  auto install = [&](int fd) -> Result<void> {
    if (bpf_map_update_elem(progs.fd(), &slot, &fd, BPF_ANY) != 0)
      return fail_errno(errno, "install a stage");
    return {};
  };

  const auto syn4 =
      bench::frame(bench::packet(rules::kProtoTcp, "198.18.0.1", "198.18.0.2", 40000, kPort, 0x02));
  const auto syn6 = bench::frame(bench::packet(rules::kProtoTcp, "fd00::1", "fd00::2", 40000, kPort, 0x02));
  std::vector<CostCase> cases = {
      {"SYN, IPv4 (checked, then left to SYNPROXY: IPv4 options)",
       "syn4",
       with_ip_options(syn4),
       XDP_PASS,
       {},
       {}},
      {"SYN, IPv6 (checked, then left to SYNPROXY: extension header)",
       "syn6",
       with_ext_header(syn6),
       XDP_PASS,
       {},
       {}},
      {"spoofed ACK, IPv4 (no connection, bad cookie: dropped)",
       "spoofed_ack4",
       bench::frame(bench::packet(rules::kProtoTcp, "198.18.0.1", "198.18.0.2", 40001, kPort, 0x10)),
       XDP_DROP,
       {},
       {}},
  };
  for (int round = 0; round < rounds; ++round) {
    for (auto& c : cases) {
      for (bool with : {true, false}) {
        XG_CHECK(install(with ? real.get() : unchecked_fd));
        auto r = XG_TRY(test_run(prog.prog_fd(), c.frame, repeat));
        if (r.verdict != c.verdict)
          return fail(EPROTO, "{}: verdict {}, expected {}", c.label, r.verdict, c.verdict);
        (with ? c.with : c.without).push_back(r.duration_ns);
      }
    }
  }
  XG_CHECK(install(real.get()));
  std::printf(
      "SYN proxy stage: the host check and the socket lookup, BPF_PROG_TEST_RUN through the pipeline "
      "(ns/packet, median of %d rounds x %u repeats)\n\n",
      rounds, repeat);
  std::printf(
      "| packet | stage | without host check and socket lookup | they cost |\n| --- | ---: | ---: | ---: "
      "|\n");
  nlohmann::json j;
  for (const auto& c : cases) {
    const double w = bench::median(c.with), wo = bench::median(c.without);
    std::printf("| %s | %.0f | %.0f | %+.0f |\n", c.label.c_str(), w, wo, w - wo);
    j[c.key] = {{"ns", w}, {"ns_without_checks", wo}, {"cost_ns", w - wo}};
  }
  std::printf("\n");
  return j;
}

int run_bench(const bench::Args& args) {
  const auto& [quick, json_path] = args;
  auto die = [](const std::string& what) {
    std::fprintf(stderr, "synflood_bench: %s\n", what.c_str());
    return 1;
  };
  const int reps = quick ? 3 : 7;
  const double secs = quick ? 0.5 : 1.0;
  auto costs = check_cost(quick ? 5 : 11, quick ? 200000 : 1000000);
  if (!costs) return die("host check cost: " + costs.error().message());

  LabOptions lo;
  lo.ipv6 = false;
  auto lab = Lab::create(lo);
  if (!lab) return die(lab.error().message());

  gen::Spec spec;
  spec.proto = gen::Proto::Syn;
  auto src = rules::parse_prefix("198.18.128.0/17"), dst = rules::parse_prefix(lab->server().ip4);
  if (!src || !dst) return die("lab addresses do not parse");
  spec.src = *src;
  spec.dst = dst->addr;
  spec.sport_lo = 1024;
  spec.sport_hi = 65535;
  spec.dport = kPort;
  spec.size = 64;
  auto src_mac = gen::parse_mac(lab->client().mac), dst_mac = gen::parse_mac(lab->server().mac);
  if (!src_mac || !dst_mac) return die("lab MAC addresses do not parse");
  spec.src_mac = *src_mac;
  spec.dst_mac = *dst_mac;
  if (auto r = gen::check_lab_addresses(spec); !r) return die(r.error().message());
  auto tmpl = gen::build(spec);
  if (!tmpl) return die(tmpl.error().message());
  auto generator = gen::Generator::open(*tmpl);
  if (!generator) return die(generator.error().message());
  // The same flood with the 20 bytes of options a Linux client's SYN has
  // (what a real stack, or a flood tool that mimics one, sends): the stage
  // walks them and echoes what SYNPROXY needs.
  gen::Spec spec_opts = spec;
  spec_opts.syn_options = true;
  spec_opts.size = gen::min_frame_size(gen::Proto::Syn, rules::Family::V4, true);
  auto tmpl_opts = gen::build(spec_opts);
  if (!tmpl_opts) return die(tmpl_opts.error().message());
  auto generator_opts = gen::Generator::open(*tmpl_opts);
  if (!generator_opts) return die(generator_opts.error().message());

  auto tx = bench::bare_tx_program();
  auto pass = bench::bare_program(XDP_PASS);
  auto drop = bench::bare_program(XDP_DROP);
  if (!tx || !pass || !drop) return die("cannot load the bare programs");
  auto floor = BpfSkeleton<cookie_floor_bpf>::open("cookie_floor");
  if (!floor || !floor->load()) return die("cannot load the cookie floor program");
  const int floor_fd = bpf_program__fd((*floor)->progs.cookie_floor);

  auto on = bench::on_host;
  auto xdp = bench::attach_xdp;
  auto xdp_off = bench::detach_xdp;
  auto xdp_tx = [&]() -> Result<std::uint64_t> {
    std::uint64_t n = 0;
    XG_CHECK(on(lab->server(), [&](const Interface& i) -> Result<void> {
      auto stats = XG_TRY(bench::ethtool_stats(i.name));
      for (const auto& [k, v] : stats)
        if (k.size() > 7 && k.compare(k.size() - 7, 7, "_xdp_tx") == 0) n += v;
      return {};
    }));
    return n;
  };
  auto cookies_sent = [&]() -> Result<std::uint64_t> {
    auto out = XG_TRY(lab->exec(lab->server(), {"nstat", "-az", "TcpExtSyncookiesSent"}));
    std::istringstream in(out);
    std::string line, name;
    std::uint64_t v = 0;
    while (std::getline(in, line)) {
      std::istringstream l(line);
      if (l >> name >> v && name == "TcpExtSyncookiesSent") return v;
    }
    return fail(EIO, "nstat shows no TcpExtSyncookiesSent");
  };
  if (auto r = xdp(lab->client(), drop->get()); !r) return die("client XDP_DROP: " + r.error().message());
  // The flood's sources are "out there": the server routes to them through
  // the client, as a server routes to the internet through its gateway
  // (without a route the kernel drops the SYNs before answering).
  if (auto r = lab->exec(lab->server(), {"ip", "route", "add", "198.18.128.0/17", "via", lab->client().ip4});
      !r)
    return die("route to the flood's sources: " + r.error().message());

  std::optional<Guard> guard;
  UniqueFd listener;
  std::string old_syncookies;
  std::vector<Answerer> all;
  all.push_back({"bare XDP_TX program (the limit)", "bare_tx", [&] { return xdp(lab->server(), tx->get()); },
                 [&] { return xdp_off(lab->server()); }, xdp_tx, "veth xdp_tx", nullptr});
  all.push_back({"hand-written cookie floor", "cookie_floor", [&] { return xdp(lab->server(), floor_fd); },
                 [&] { return xdp_off(lab->server()); }, xdp_tx, "veth xdp_tx", nullptr});
  auto xg_setup = [&]() -> Result<void> {
    return on(lab->server(), [&](const Interface& i) -> Result<void> {
      guard.emplace(XG_TRY(Guard::attach(i, AttachMode::Native)));
      SynproxyConfig cfg;
      cfg.ports = {kPort};
      XG_CHECK(guard->synproxy_enable(cfg));
      return {};
    });
  };
  auto xg_teardown = [&]() -> Result<void> {
    guard.reset();
    return on(lab->server(), [](const Interface& i) { return Guard::detach(i); });
  };
  auto xg_cookies = [&]() -> Result<std::uint64_t> {
    return XG_TRY(guard->ddos_stats()).counters[XDPGUARD_DDOS_SYN_COOKIE].packets;
  };
  all.push_back({"xdpguard synproxy (XDP SYN cookies)", "xdpguard_synproxy", xg_setup, xg_teardown, xdp_tx,
                 "veth xdp_tx", xg_cookies});
  all.push_back(
      {"kernel alone (tcp_syncookies=2)", "kernel_syncookies",
       [&]() -> Result<void> {
         XG_CHECK(xdp(lab->server(), pass->get()));
         old_syncookies = XG_TRY(lab->exec(lab->server(), {"sysctl", "-n", "net.ipv4.tcp_syncookies"}));
         XG_CHECK(lab->exec(lab->server(), {"sysctl", "-qw", "net.ipv4.tcp_syncookies=2"}));
         return on(lab->server(), [&](const Interface&) -> Result<void> {
           listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
           if (!listener) return fail_errno(errno, "socket");
           sockaddr_in a{};
           a.sin_family = AF_INET;
           a.sin_port = htons(kPort);
           if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
               ::listen(listener.get(), 1024) != 0)
             return fail_errno(errno, "listen on port 80");
           return {};
         });
       },
       [&]() -> Result<void> {
         listener.reset();
         while (!old_syncookies.empty() && old_syncookies.back() == '\n') old_syncookies.pop_back();
         if (!old_syncookies.empty())
           XG_CHECK(lab->exec(lab->server(), {"sysctl", "-qw", "net.ipv4.tcp_syncookies=" + old_syncookies}));
         return xdp_off(lab->server());
       },
       cookies_sent, "TcpExtSyncookiesSent", nullptr});
  all.push_back({"xdpguard synproxy, 74-byte SYNs with a Linux client's options", "xdpguard_synproxy_options",
                 xg_setup, xg_teardown, xdp_tx, "veth xdp_tx", xg_cookies, true});

  std::vector<Sample> samples(all.size());
  for (int round = 0; round < reps; ++round) {
    for (std::size_t k = 0; k < all.size(); ++k) {
      auto& a = all[k];
      auto& s = samples[k];
      if (auto r = a.setup(); !r) return die(a.label + ": " + r.error().message());
      // warm-up, then one measured run
      gen::Progress sent;
      auto run = [&](double seconds) -> Result<void> {
        return on(lab->client(), [&](const Interface& i) -> Result<void> {
          cpu_set_t set;
          CPU_ZERO(&set);
          CPU_SET(static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)) - 1, &set);
          sched_setaffinity(0, sizeof set, &set);
          sent = XG_TRY((a.syn_options ? generator_opts : generator)->run(i, gen::Limits{0, seconds}));
          return {};
        });
      };
      if (auto r = run(0.2); !r) return die(r.error().message());
      auto before = a.answers();
      auto own_before = a.own ? a.own() : Result<std::uint64_t>(0);
      if (!before || !own_before) return die(a.label + ": cannot read its counters");
      if (auto r = run(secs); !r) return die(r.error().message());
      auto after = a.answers();
      auto own_after = a.own ? a.own() : Result<std::uint64_t>(0);
      if (!after || !own_after) return die(a.label + ": cannot read its counters");
      const std::uint64_t answered = *after - *before, own = *own_after - *own_before;
      s.mpps.push_back(static_cast<double>(answered) / sent.seconds / 1e6);
      s.delivered += sent.delivered();
      s.answered += answered;
      const double d = static_cast<double>(own) - static_cast<double>(answered);
      if (a.own && std::abs(d) > 0.01 * static_cast<double>(answered) + 16 && s.bad.empty())
        s.bad = fmt::format("round {}: it counted {} answers, {} says {}", round + 1, own, a.answers_name,
                            answered);
      if (static_cast<double>(answered) < 0.9 * static_cast<double>(sent.delivered()) && s.bad.empty())
        s.bad =
            fmt::format("round {}: answered {} of {} SYNs delivered", round + 1, answered, sent.delivered());
      if (auto r = a.teardown(); !r) return die(a.label + ": " + r.error().message());
    }
  }

  int status = 0;
  nlohmann::json j;
  std::printf(
      "SYN flood, 64-byte SYNs from random sources (74-byte ones with options where said), answered SYN-ACKs "
      "in "
      "Mpps (median of %d rounds)\n\n",
      reps);
  std::printf("| answerer | Mpps answered | of SYNs delivered | check |\n| --- | ---: | ---: | --- |\n");
  for (std::size_t k = 0; k < all.size(); ++k) {
    const auto& s = samples[k];
    const bool ok = s.bad.empty();
    status |= ok ? 0 : 1;
    std::printf(
        "| %s | %.2f | %.1f %% | %s |\n", all[k].label.c_str(), s.median(),
        s.delivered ? 100.0 * static_cast<double>(s.answered) / static_cast<double>(s.delivered) : 0.0,
        ok ? ("ok: " + all[k].answers_name).c_str() : ("FAILED " + s.bad).c_str());
    j[all[k].key] = {
        {"mpps", s.median()}, {"answered", s.answered}, {"delivered", s.delivered}, {"check_ok", ok}};
  }
  const double bare = samples[0].median(), floor_mpps = samples[1].median(), xg = samples[2].median(),
               kern = samples[3].median(), xg_opts = samples[4].median();
  auto goal = [](double v, double want) { return v >= want ? "met" : "MISSED"; };
  std::printf("\nxdpguard synproxy vs bare XDP_TX: %.2fx (goal >= 0.8x: %s)\n", bare > 0 ? xg / bare : 0,
              goal(bare > 0 ? xg / bare : 0, 0.8));
  std::printf(
      "cookie floor vs bare XDP_TX: %.2fx; xdpguard synproxy vs the cookie floor: %.2fx (goal >= 0.9x: %s)\n",
      bare > 0 ? floor_mpps / bare : 0, floor_mpps > 0 ? xg / floor_mpps : 0,
      goal(floor_mpps > 0 ? xg / floor_mpps : 0, 0.9));
  std::printf("xdpguard synproxy vs the kernel's own SYN cookies: %.2fx (goal >= 5x: %s)\n",
              kern > 0 ? xg / kern : 0, goal(kern > 0 ? xg / kern : 0, 5));
  std::printf(
      "xdpguard synproxy, SYNs with a Linux client's options vs without: %.2fx (no goal; the floor answers "
      "only "
      "SYNs without options)\n",
      xg > 0 ? xg_opts / xg : 0);
  j["ratio_options_vs_plain"] = xg > 0 ? xg_opts / xg : 0;
  j["ratio_vs_bare_tx"] = bare > 0 ? xg / bare : 0;
  j["ratio_vs_kernel"] = kern > 0 ? xg / kern : 0;
  j["ratio_vs_floor"] = floor_mpps > 0 ? xg / floor_mpps : 0;
  j["synproxy_checks"] = *costs;
  if (!json_path.empty()) std::ofstream(json_path) << j.dump(2) << "\n";
  (void)xdp_off(lab->client());
  return status;
}

}  // namespace

int main(int argc, char** argv) { return bench::guarded_main("synflood_bench", run_bench, argc, argv); }
