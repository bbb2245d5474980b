// The router rows: the lab's 64-byte UDP flow, sent by the client to the
// server's MAC but to 198.18.1.2, a host ("far", a namespace of its own
// behind a second veth of the server: 198.18.1.1/24 on the server's side),
// forwarded by the server three ways, each set up, warmed up, measured and
// torn down in turn in every round:
//   kernel   the kernel's IPv4 forwarding (net.ipv4.ip_forward=1 in the
//            server's namespace, a static neighbour for the far host), a
//            bare XDP_PASS program on the server's veth only (which a veth
//            needs to take the generator's frames): the baseline
//   router   examples/xsk_router as a user runs it (its binary, in the
//            server's namespace; pinned to CPU 0 like the consumers) behind
//            xdpguard's `redirect xsk udp dport 9`: longest-prefix match in
//            its table, TTL decremented, MACs rewritten, out through AF_XDP
//            TX (copy mode on a veth: the kernel makes an skb of each frame
//            in the router's sendto() and sends it on the out veth, on CPU 0)
//   devmap   xdpguard `redirect dev OUT udp dport 9`: XDP_REDIRECT through a
//            devmap, frames sent on as they came (no TTL or MAC rewrite)
// and then the floor of any AF_XDP router here (send_alone): AF_XDP TX
// alone, in copy mode, ready frames sent from one thread on CPU 0 through a
// socket on the out veth, nothing received, nothing looked up.
// The generator's frames restore their headers from the template each time
// (gen::Spec::restore_headers): its live frames' pages come back to it, and
// a forwarder that rewrote them in place (the kernel does: MACs, TTL) would
// otherwise send the next copies to the far host's MAC, which the server
// drops (OTHERHOST).
// What is counted is what reached the far host: its veth runs a bare
// XDP_DROP program (which also makes a veth take XDP-redirected frames) and
// counts the frames in its XDP drops. Checked: the server's veth received
// what the generator delivered, the far host received no more than that,
// and what each forwarder claims to have forwarded over its lifetime (the
// router's own `routed` count, the kernel's IpForwDatagrams, the rule
// counter) is what the far host received, within 1%.
//
// The last run (--quick, 2026-12-06, others' builds on this 2-CPU VM):
// kernel 0.661 Mpps, lossless at what the generator could offer (the kernel
// forwards in the veth's NAPI, on the generator's CPU: the two share it);
// router 0.429 Mpps (0.65x the kernel: the goal, 1.5x, missed; of 1.7 Mpps
// offered, the rest was dropped in its 2048-entry RX ring); devmap 2.105
// Mpps (3.19x), lossless. The floor, AF_XDP TX alone: 0.777 Mpps, 1.18x the
// kernel (0.749, 1.11x, in the run before): in copy mode every sendto()
// makes an skb of each frame and transmits it, the kernel's own transmit
// path plus a copy, so even a router that received nothing could not
// forward 1.5x what the kernel does on this lab; the goal needs a NIC with
// zero-copy AF_XDP. What the router changed toward it: it sleeps in poll()
// only after a pass over its sockets found nothing (0.410 -> 0.429 Mpps,
// within the noise).
#include "xsk/forwarding.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/ethtool.h"
#include "common/lab_xdp.h"
#include "common/workloads.h"
#include "core/process.h"
#include "gen/frame.h"
#include "gen/generator.h"
#include "xsk/socket.h"

namespace xdpguard::bench {

namespace {

using namespace std::chrono_literals;

constexpr const char* kFarIp = "198.18.1.2";

// The far host's namespace, deleted however the rows end.
struct FarHost {
  LabHost host;
  FarHost() = default;
  FarHost(const FarHost&) = delete;
  FarHost& operator=(const FarHost&) = delete;
  ~FarHost() {
    if (!host.netns.empty()) (void)run_process({"ip", "netns", "del", host.netns}, 10s);
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The server namespace's IpForwDatagrams (/proc/net/snmp).
Result<std::uint64_t> forwarded_datagrams(const Lab& lab) {
  const std::string snmp = XG_TRY(lab.exec(lab.server(), {"cat", "/proc/net/snmp"}));
  std::istringstream in(snmp);
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (!names.starts_with("Ip: ")) continue;
    std::istringstream n(names), v(values);
    std::string name, value;
    while (n >> name && v >> value)
      if (name == "ForwDatagrams") return std::stoull(value);
  }
  return fail(ENOENT, "no Ip ForwDatagrams in the server's /proc/net/snmp");
}

// xsk_router running in the server's namespace; stop() ends it (SIGTERM)
// and returns the frames it says it routed.
class RouterProcess {
 public:
  explicit RouterProcess(std::string base) : out_(base + "-router.out"), err_(base + "-router.err") {}
  RouterProcess(const RouterProcess&) = delete;
  RouterProcess& operator=(const RouterProcess&) = delete;
  ~RouterProcess() {
    if (proc_) proc_->stop(SIGKILL, 5s);
    std::filesystem::remove(out_);
    std::filesystem::remove(err_);
  }
  Result<void> start(const Lab& lab, const std::string& table) {
    const std::vector<std::string> argv = {"sh",
                                           "-c",
                                           "exec \"$0\" \"$@\" 2>" + err_,
                                           "taskset",
                                           "-c",
                                           "0",
                                           "ip",
                                           "netns",
                                           "exec",
                                           lab.server().netns,
                                           XSK_ROUTER_BIN,
                                           lab.server().veth,
                                           "--table",
                                           table,
                                           "--duration",
                                           "600",
                                           "--json"};
    proc_.emplace(XG_TRY(BackgroundProcess::start(argv, out_)));
    // Ready once its sockets are bound and in xdpguard's map: it says so.
    for (int i = 0; i < 300; ++i) {
      if (slurp(err_).find("Ctrl-C stops") != std::string::npos) return {};
      if (!proc_->running()) break;
      std::this_thread::sleep_for(100ms);
    }
    return fail(EIO, "xsk_router did not start: {}", slurp(err_));
  }
  Result<std::uint64_t> stop() {
    if (!proc_) return fail(ESRCH, "xsk_router is not running");
    const int code = proc_->stop(SIGTERM, 10s);
    proc_.reset();
    if (code != 0) return fail(EIO, "xsk_router exited with {}: {}", code, slurp(err_));
    const auto j = nlohmann::json::parse(slurp(out_), nullptr, false);
    if (j.is_discarded() || !j.contains("routed")) return fail(EIO, "xsk_router printed no counters");
    return j["routed"].get<std::uint64_t>();
  }

 private:
  std::string out_, err_;
  std::optional<BackgroundProcess> proc_;
};

struct Forwarder {
  std::string key, label, claimed;  // claimed: what its own count is
  std::function<Result<void>()> setup;
  // Ends the forwarding: the frames it says it forwarded since setup.
  std::function<Result<std::uint64_t>()> stop;
  std::function<Result<void>()> teardown;
};

struct Row {
  std::vector<double> offered, forwarded;
  std::uint64_t delivered = 0, arrived = 0, far = 0, claim = 0, far_life = 0;
  std::string error, bad;
};

bool close(std::uint64_t a, std::uint64_t b) {
  const double d = std::abs(static_cast<double>(a) - static_cast<double>(b));
  return d <= 0.01 * static_cast<double>(b) + 16;
}

// The floor of an AF_XDP router here: AF_XDP TX alone, in copy mode (all a
// veth has), from one thread on CPU 0 (where the router runs) through a
// socket on the out veth: ready 64-byte frames to the far host, sent as fast
// as the socket takes them for `seconds`, in batches of 64, with nothing
// received and nothing looked up. In copy mode each sendto() makes an skb of
// each queued frame and transmits it (at most 32 per call): the kernel's own
// transmit path plus a copy, which a router pays on top of its receive side.
// Returns the frames the socket completed in that time (the caller counts
// what reached the far host).
Result<std::uint64_t> send_alone(const LabHost& out, const std::string& far_mac, double seconds) {
  std::uint64_t completed = 0;
  XG_CHECK(on_host(out, [&](const Interface& i) -> Result<void> {
    cpu_set_t was, cpu0;
    if (sched_getaffinity(0, sizeof was, &was) != 0) return fail_errno(errno, "sched_getaffinity");
    CPU_ZERO(&cpu0);
    CPU_SET(0, &cpu0);
    if (sched_setaffinity(0, sizeof cpu0, &cpu0) != 0) return fail_errno(errno, "pin to CPU 0");
    struct Unpin {
      cpu_set_t set;
      ~Unpin() { (void)sched_setaffinity(0, sizeof set, &set); }
    } unpin{was};
    auto umem = XG_TRY(xsk::Umem::create());
    xsk::SocketConfig cfg;
    cfg.mode = xsk::Mode::Copy;
    auto sock = XG_TRY(xsk::Socket::create(umem, i.name, 0, cfg));
    // The frame: to the far host's MAC and address, from the out veth's.
    const gen::Mac dst = XG_TRY(gen::parse_mac(far_mac)), src = XG_TRY(gen::interface_mac(i));
    std::array<std::uint8_t, 60> frame{};
    std::copy(dst.begin(), dst.end(), frame.begin());
    std::copy(src.begin(), src.end(), frame.begin() + 6);
    const std::uint8_t rest[] = {0x08, 0x00,                                      // IPv4
                                 0x45, 0,    0, 46, 0,   0,  0, 0, 64, 17, 0, 0,  // 46 bytes, UDP
                                 198,  18,   1, 1,  198, 18, 1, 2,                // .1.1 -> .1.2
                                 0x30, 0x39, 0, 9,  0,   26, 0, 0};               // 12345 -> 9
    std::copy(std::begin(rest), std::end(rest), frame.begin() + 12);
    std::uint32_t sum = 0;  // the IPv4 header checksum
    for (int k = 14; k < 34; k += 2) sum += (frame[k] << 8) | frame[k + 1];
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    frame[24] = static_cast<std::uint8_t>(~sum >> 8);
    frame[25] = static_cast<std::uint8_t>(~sum);

    std::array<xsk::Frame, 64> batch;
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    const std::uint64_t done0 = sock.counters().tx_completed;
    while (std::chrono::steady_clock::now() < until) {
      sock.complete();
      const std::size_t n = umem.alloc(batch);
      for (std::size_t k = 0; k < n; ++k) {
        std::memcpy(umem.room(batch[k]).data(), frame.data(), frame.size());
        batch[k].len = frame.size();
      }
      const std::size_t sent = sock.send(std::span(batch.data(), n));
      umem.release(std::span(batch.data() + sent, n - sent));
    }
    sock.complete();
    completed = sock.counters().tx_completed - done0;
    // The last sends leave before the socket closes (bounded).
    const auto drain = std::chrono::steady_clock::now() + 1s;
    while (sock.tx_outstanding() && std::chrono::steady_clock::now() < drain) {
      sock.complete();
      std::this_thread::sleep_for(1ms);
    }
    return {};
  }));
  return completed;
}

}  // namespace

Result<ForwardingResult> forwarding_rows(const Lab& lab, const ForwardingHooks& hooks, int rounds,
                                         double seconds, std::uint16_t port, std::uint32_t frame) {
  const LabHost& srv = lab.server();
  FarHost far;
  far.host.netns = lab.prefix() + "far";
  far.host.veth = lab.prefix() + "fi";
  const std::string out = lab.prefix() + "o";
  XG_CHECK(run_checked(
      {"sh", "-c",
       fmt::format(
           "ip netns add {far} && ip link add {out} netns {srv} type veth peer name {in} netns {far} && "
           "ip -n {srv} addr add 198.18.1.1/24 dev {out} && ip -n {far} addr add {ip}/24 dev {in} && "
           "ip -n {srv} link set {out} up && ip -n {far} link set {in} up",
           fmt::arg("far", far.host.netns), fmt::arg("srv", srv.netns), fmt::arg("out", out),
           fmt::arg("in", far.host.veth), fmt::arg("ip", kFarIp))}));
  const std::string link =
      XG_TRY(run_checked({"ip", "-j", "-n", far.host.netns, "link", "show", far.host.veth}));
  const auto lj = nlohmann::json::parse(link, nullptr, false);
  if (lj.is_discarded() || lj.empty()) return fail(EIO, "no MAC for {}", far.host.veth);
  const std::string far_mac = lj[0]["address"].get<std::string>();
  // The far host's XDP_DROP answers no ARP: the kernel's neighbour is static.
  XG_CHECK(run_checked({"ip", "-n", srv.netns, "neigh", "replace", kFarIp, "lladdr", far_mac, "dev", out,
                        "nud", "permanent"}));
  XG_CHECK(attach_xdp(far.host, hooks.drop_fd));
  auto far_count = [&]() -> Result<std::uint64_t> {
    std::uint64_t n = 0;
    XG_CHECK(on_host(far.host, [&](const Interface& i) -> Result<void> {
      n = XG_TRY(ethtool_sum(i.name, "_xdp_drops"));
      return {};
    }));
    return n;
  };
  auto generator = XG_TRY(lab_udp_generator(lab, port, frame, kFarIp));

  const std::string base = "/tmp/" + lab.prefix();
  const std::string table = base + "-routes";
  std::ofstream(table) << fmt::format("198.18.1.0/24 {} {}\n", out, far_mac);
  struct RemoveTable {
    std::string path;
    ~RemoveTable() { std::filesystem::remove(path); }
  } remove_table{table};

  std::unique_ptr<RouterProcess> router;
  std::uint64_t forw0 = 0;
  std::vector<Forwarder> fw;
  fw.push_back({"kernel", "the kernel's IPv4 forwarding (ip_forward=1, a bare XDP_PASS program)",
                "IpForwDatagrams",
                [&]() -> Result<void> {
                  XG_CHECK(attach_xdp(srv, hooks.pass_fd));
                  XG_CHECK(lab.exec(srv, {"sysctl", "-qw", "net.ipv4.ip_forward=1"}));
                  forw0 = XG_TRY(forwarded_datagrams(lab));
                  return {};
                },
                [&]() -> Result<std::uint64_t> { return XG_TRY(forwarded_datagrams(lab)) - forw0; },
                [&]() -> Result<void> {
                  auto r = lab.exec(srv, {"sysctl", "-qw", "net.ipv4.ip_forward=0"});
                  XG_CHECK(detach_xdp(srv));
                  if (!r) return tl::unexpected(r.error());
                  return {};
                }});
  fw.push_back({"router", "xsk_router (`redirect xsk udp dport 9`, AF_XDP RX and TX, its own table)",
                "routed",
                [&]() -> Result<void> {
                  XG_CHECK(hooks.guard_with(fmt::format("redirect xsk udp dport {}", port)));
                  router = std::make_unique<RouterProcess>(base);
                  return router->start(lab, table);
                },
                [&]() -> Result<std::uint64_t> { return router->stop(); },
                [&]() -> Result<void> {
                  router.reset();
                  return hooks.guard_off();
                }});
  fw.push_back({"devmap", fmt::format("xdpguard `redirect dev {} udp dport 9` (devmap, no rewrite)", out),
                "rule counter",
                [&]() -> Result<void> {
                  return hooks.guard_with(fmt::format("redirect dev {} udp dport {}", out, port));
                },
                hooks.rule_count, hooks.guard_off});

  const auto drain = 100ms;
  std::vector<Row> rows(fw.size());
  for (int round = 1; round <= rounds; ++round) {
    std::fprintf(stderr, "  forwarding, round %d of %d\n", round, rounds);
    for (std::size_t i = 0; i < fw.size(); ++i) {
      Row& r = rows[i];
      if (!r.error.empty()) continue;
      std::fprintf(stderr, "    %s ...\n", fw[i].label.c_str());
      auto body = [&]() -> Result<void> {
        XG_CHECK(fw[i].setup());
        const std::uint64_t f0 = XG_TRY(far_count());
        XG_CHECK(
            send_from_client(lab, generator, gen::Limits{static_cast<std::uint64_t>(30e6 * 0.2), 0.2, 0}));
        std::this_thread::sleep_for(drain);
        const auto link0 = XG_TRY(lab.link_counters(srv));
        const std::uint64_t f1 = XG_TRY(far_count());
        const auto sent = XG_TRY(send_from_client(
            lab, generator, gen::Limits{static_cast<std::uint64_t>(30e6 * seconds), seconds, 0}));
        std::this_thread::sleep_for(drain);
        const std::uint64_t f2 = XG_TRY(far_count());
        const std::uint64_t arrived = XG_TRY(lab.link_counters(srv)).rx_packets - link0.rx_packets;
        const std::uint64_t claim = XG_TRY(fw[i].stop());
        const std::uint64_t f3 = XG_TRY(far_count());
        const std::uint64_t delivered = sent.delivered();
        r.offered.push_back(sent.pps());
        r.forwarded.push_back(sent.seconds > 0 ? static_cast<double>(f2 - f1) / sent.seconds : 0);
        r.delivered += delivered, r.arrived += arrived, r.far += f2 - f1, r.claim += claim,
            r.far_life += f3 - f0;
        if (r.bad.empty() &&
            !(close(arrived, delivered) && f2 - f1 <= delivered + 16 && close(f3 - f0, claim)))
          r.bad = fmt::format(
              "round {}: {} delivered, server veth received {}, far host received {} ({} since setup), "
              "{} {}",
              round, delivered, arrived, f2 - f1, f3 - f0, fw[i].claimed, claim);
        return {};
      };
      auto res = body();
      auto down = fw[i].teardown();
      if (!res)
        r.error = res.error().message();
      else if (!down)
        r.error = down.error().message();
    }
  }

  // The floor, with the same rounds; what reached the far host per second.
  std::vector<double> floor_pps;
  std::string floor_error, floor_check;
  std::uint64_t floor_sent = 0, floor_far = 0;
  {
    LabHost out_host = srv;
    out_host.veth = out;
    std::fprintf(stderr, "  forwarding floor: AF_XDP TX alone ...\n");
    for (int round = 1; round <= rounds && floor_error.empty(); ++round) {
      auto body = [&]() -> Result<void> {
        const std::uint64_t f0 = XG_TRY(far_count());
        const std::uint64_t sent = XG_TRY(send_alone(out_host, far_mac, seconds));
        std::this_thread::sleep_for(drain);
        const std::uint64_t f1 = XG_TRY(far_count());
        floor_sent += sent, floor_far += f1 - f0;
        // What arrived over the send loop's own seconds (the socket's set-up
        // and its last sends' drain are outside them).
        floor_pps.push_back(static_cast<double>(f1 - f0) / seconds);
        return {};
      };
      if (auto r = body(); !r) floor_error = r.error().message();
    }
    if (floor_error.empty() && !close(floor_far, floor_sent))
      floor_check = fmt::format("CHECK FAILED: the socket completed {} frames, the far host received {}",
                                floor_sent, floor_far);
  }

  ForwardingResult result;
  const double kernel = rows[0].error.empty() && !rows[0].forwarded.empty() ? median(rows[0].forwarded) : 0;
  std::printf(
      "\n## Forwarding: the same UDP flow from the client through the server to a host behind it (%d rounds "
      "of %.1f s per forwarder, medians)\n\n"
      "| forwarder | offered Mpps | forwarded Mpps (min / median / max) | x kernel | checked |\n"
      "|---|---:|---:|---:|---|\n",
      rounds, seconds);
  for (std::size_t i = 0; i < fw.size(); ++i) {
    const Row& r = rows[i];
    if (!r.error.empty() || r.forwarded.empty()) {
      ++result.failed;
      std::printf("| %s | - | - | - | FAILED: %s |\n", fw[i].label.c_str(), r.error.c_str());
      result.json[fw[i].key] = {{"label", fw[i].label}, {"error", r.error}};
      continue;
    }
    if (!r.bad.empty()) ++result.failed;
    const double med = median(r.forwarded);
    const auto [lo, hi] = std::minmax_element(r.forwarded.begin(), r.forwarded.end());
    const std::string check = fmt::format(
        "{}far host received {} of {} delivered (server veth: {}); {} {} vs far host {} since setup{}",
        r.bad.empty() ? "ok, " : "CHECK FAILED: ", r.far, r.delivered, r.arrived, fw[i].claimed, r.claim,
        r.far_life, r.bad.empty() ? "" : "; " + r.bad);
    std::printf("| %s | %.3f | %.3f / %.3f / %.3f | %.2f | %s |\n", fw[i].label.c_str(),
                median(r.offered) / 1e6, *lo / 1e6, med / 1e6, *hi / 1e6, kernel > 0 ? med / kernel : 0,
                check.c_str());
    result.json[fw[i].key] = {{"label", fw[i].label},
                              {"offered_pps", r.offered},
                              {"forwarded_pps", r.forwarded},
                              {"median_forwarded_pps", med},
                              {"x_kernel", kernel > 0 ? med / kernel : 0},
                              {"delivered", r.delivered},
                              {"far_received", r.far},
                              {"claimed", r.claim},
                              {"far_received_since_setup", r.far_life},
                              {"check_ok", r.bad.empty()},
                              {"check", check}};
    (fw[i].key == "router"   ? result.router_pps
     : fw[i].key == "kernel" ? result.kernel_pps
                             : result.devmap_pps) = med;
  }
  const std::string floor_label =
      "floor: AF_XDP TX alone, copy mode (ready frames from one thread on CPU 0, nothing received)";
  if (!floor_error.empty() || floor_pps.empty()) {
    ++result.failed;
    std::printf("| %s | - | - | - | FAILED: %s |\n", floor_label.c_str(), floor_error.c_str());
    result.json["tx_floor"] = {{"label", floor_label}, {"error", floor_error}};
  } else {
    if (!floor_check.empty()) ++result.failed;
    const double med = median(floor_pps);
    const auto [lo, hi] = std::minmax_element(floor_pps.begin(), floor_pps.end());
    const std::string check =
        floor_check.empty() ? fmt::format("ok, far host received {} of the {} frames the socket completed",
                                          floor_far, floor_sent)
                            : floor_check;
    std::printf("| %s | - | %.3f / %.3f / %.3f | %.2f | %s |\n", floor_label.c_str(), *lo / 1e6, med / 1e6,
                *hi / 1e6, kernel > 0 ? med / kernel : 0, check.c_str());
    result.json["tx_floor"] = {{"label", floor_label},
                               {"forwarded_pps", floor_pps},
                               {"median_forwarded_pps", med},
                               {"x_kernel", kernel > 0 ? med / kernel : 0},
                               {"completed", floor_sent},
                               {"far_received", floor_far},
                               {"check_ok", floor_check.empty()},
                               {"check", check}};
    result.tx_floor_pps = med;
  }
  (void)detach_xdp(far.host);
  return result;
}

}  // namespace xdpguard::bench
