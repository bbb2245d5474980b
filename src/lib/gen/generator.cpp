#include "gen/generator.h"

#include <bpf/bpf.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "core/process.h"
#include "core/unique_fd.h"
#include "gen.skel.h"

XDPGUARD_SKELETON(gen_bpf);

namespace xdpguard::gen {
namespace {

// Frames per BPF_PROG_TEST_RUN call in live mode before the kernel flushes
// the redirect queue (the kernel's default is 64, NAPI's budget).
constexpr std::uint32_t kBatch = 64;
// Repetitions per second of a paced call (most drop a frame that is not
// due yet), before a call has measured it.
constexpr double kSpinRate = 5e6;

// ioctl(req) on an interface through an ifreq; ifr_data = data when given.
bool if_ioctl(const std::string& name, unsigned long req, ifreq& ifr, void* data = nullptr) {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return false;
  std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name.c_str());
  if (data) ifr.ifr_data = static_cast<char*>(data);
  return ::ioctl(s.get(), req, &ifr) == 0;
}

bool ethtool(const std::string& name, void* cmd) {
  ifreq ifr{};
  return if_ioctl(name, SIOCETHTOOL, ifr, cmd);
}

// The interface's driver name as ethtool reports it; "" when unknown.
std::string driver_of(const std::string& name) {
  ethtool_drvinfo info{};
  info.cmd = ETHTOOL_GDRVINFO;
  if (!ethtool(name, &info)) return {};  // no ethtool: not a veth
  return std::string(info.driver);
}

// The interface's tx_dropped counter (rtnl_link_stats through getifaddrs,
// so from the current network namespace; 32 bits, used for differences).
std::uint32_t tx_dropped(const Interface& iface) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return 0;
  std::uint32_t n = 0;
  for (ifaddrs* a = list; a; a = a->ifa_next)
    if (a->ifa_addr && a->ifa_addr->sa_family == AF_PACKET && a->ifa_data && iface.name == a->ifa_name)
      n = static_cast<const rtnl_link_stats*>(a->ifa_data)->tx_dropped;
  ::freeifaddrs(list);
  return n;
}

// The sum of a veth's "tx_queue_N_xdp_xmit" ethtool counters: frames it
// handed to its peer from XDP (the peer's queue took them). nullopt when
// the interface has no such counters (not a veth).
std::optional<std::uint64_t> xdp_xmit_count(const Interface& iface) {
  auto ethtool = [&](void* cmd) { return gen::ethtool(iface.name, cmd); };
  // ethtool_sset_info followed by one __u32 (the one set asked for).
  alignas(ethtool_sset_info) std::uint8_t sset_buf[sizeof(ethtool_sset_info) + sizeof(std::uint32_t)] = {};
  auto* sset = reinterpret_cast<ethtool_sset_info*>(sset_buf);
  sset->cmd = ETHTOOL_GSSET_INFO;
  sset->sset_mask = 1ull << ETH_SS_STATS;
  if (!ethtool(sset) || !(sset->sset_mask & (1ull << ETH_SS_STATS))) return std::nullopt;
  std::uint32_t n;
  std::memcpy(&n, sset_buf + sizeof(ethtool_sset_info), sizeof n);
  if (n == 0) return std::nullopt;
  std::vector<std::uint8_t> strings(sizeof(ethtool_gstrings) + n * ETH_GSTRING_LEN);
  auto* gs = reinterpret_cast<ethtool_gstrings*>(strings.data());
  gs->cmd = ETHTOOL_GSTRINGS;
  gs->string_set = ETH_SS_STATS;
  gs->len = n;
  if (!ethtool(gs)) return std::nullopt;
  std::vector<std::uint8_t> stats(sizeof(ethtool_stats) + n * sizeof(std::uint64_t));
  auto* st = reinterpret_cast<ethtool_stats*>(stats.data());
  st->cmd = ETHTOOL_GSTATS;
  st->n_stats = n;
  if (!ethtool(st)) return std::nullopt;
  std::optional<std::uint64_t> sum;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string name(reinterpret_cast<const char*>(gs->data + i * ETH_GSTRING_LEN),
                     strnlen(reinterpret_cast<const char*>(gs->data + i * ETH_GSTRING_LEN), ETH_GSTRING_LEN));
    if (name.rfind("tx_queue_", 0) == 0 && name.size() > 9 &&
        name.compare(name.size() - 9, 9, "_xdp_xmit") == 0) {
      std::uint64_t v;
      std::memcpy(&v, stats.data() + sizeof(ethtool_stats) + i * sizeof(std::uint64_t), sizeof v);
      sum = sum.value_or(0) + v;
    }
  }
  return sum;
}

}  // namespace

Result<void> check_lab_interface(const Interface& iface, bool force) {
  ifreq ifr{};
  if (!if_ioctl(iface.name, SIOCGIFFLAGS, ifr)) return fail_errno(errno, iface.name);
  if (!(ifr.ifr_flags & IFF_UP)) return fail(ENETDOWN, "{} is down", iface.name);
  if (force) return {};
  const std::string driver = driver_of(iface.name);
  if (driver != "veth")
    return fail(EPERM,
                "{} is not a veth (driver \"{}\"): refusing to flood what may be a real network; "
                "use a lab veth, or --force if you mean it",
                iface.name, driver.empty() ? "unknown" : driver);
  return {};
}

Result<Mac> interface_mac(const Interface& iface) {
  ifreq ifr{};
  if (!if_ioctl(iface.name, SIOCGIFHWADDR, ifr)) return fail_errno(errno, iface.name + ": MAC address");
  Mac m;
  std::memcpy(m.data(), ifr.ifr_hwaddr.sa_data, 6);
  return m;
}

Result<rules::Prefix> interface_address(const Interface& iface, rules::Family family) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return fail_errno(errno, "getifaddrs");
  std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> guard(list, ::freeifaddrs);
  const bool v6 = family == rules::Family::V6;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || iface.name != a->ifa_name) continue;
    rules::Prefix p;
    p.family = family;
    if (!v6 && a->ifa_addr->sa_family == AF_INET) {
      std::memcpy(p.addr.data(), &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, 4);
      p.len = 32;
      return p;
    }
    if (v6 && a->ifa_addr->sa_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr)) continue;
      std::memcpy(p.addr.data(), &sin6->sin6_addr, 16);
      p.len = 128;
      return p;
    }
  }
  return fail(EADDRNOTAVAIL, "{} has no {} address; give --src", iface.name, v6 ? "IPv6" : "IPv4");
}

Result<Mac> neighbour_mac(const Interface& iface, const std::string& addr) {
  auto out = run_checked({"ip", "-j", "neigh", "show", "to", addr, "dev", iface.name});
  if (out) {
    auto j = nlohmann::json::parse(*out, nullptr, false);
    if (j.is_array())
      for (const auto& n : j)
        if (n.contains("lladdr") && n["lladdr"].is_string())
          if (auto m = parse_mac(n["lladdr"].get<std::string>())) return *m;
  }
  return fail(EHOSTUNREACH, "no MAC address known for {} on {}; give --dst-mac, or ping it once first", addr,
              iface.name);
}

Result<Generator> Generator::open(const Template& t) {
  Generator g;
  g.skel_ = XG_TRY(BpfSkeleton<gen_bpf>::open("gen"));
  g.skel_->rodata->cfg = t.cfg;
  XG_CHECK(g.skel_.load());
  g.frame_ = t.frame;
  return g;
}

Result<Progress> Generator::run(const Interface& iface, const Limits& limits,
                                const std::function<void(const Progress&)>& on_progress,
                                const std::atomic<bool>* stop, double interval) {
  if (!limits.count && limits.seconds <= 0) return fail(EINVAL, "generator needs a count or a duration");
  using clock = std::chrono::steady_clock;
  volatile __u64* sent = &skel_->bss->frames;
  const bool paced = limits.rate > 0;
  skel_->bss->pace_ns = 0;
  skel_->bss->limit = 0;
  if (paced) {
    // A paced run drops most of its copies, so a template the program
    // refuses would not show in the count: one copy, not sent, first.
    LIBBPF_OPTS(bpf_test_run_opts, probe, .data_in = frame_.data(),
                .data_size_in = static_cast<__u32>(frame_.size()), .repeat = 1);
    if (bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.xg_gen), &probe) != 0)
      return fail_errno(errno, "gen program: test run");
    if (probe.retval != XDP_TX) return fail(EIO, "gen program refused the template frame");
  }
  const __u64 base = *sent;
  // Frames that left: a veth counts what its peer's queue took (xdp_xmit);
  // other drivers count what they dropped.
  const std::optional<std::uint64_t> xmit_base = xdp_xmit_count(iface);
  const std::uint32_t dropped_base = xmit_base ? 0 : tx_dropped(iface);
  const auto t0 = clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(clock::now() - t0).count(); };
  Progress p;
  double next_report = interval;
  std::uint64_t chunk = 1u << 16;
  xdp_md ctx{};
  ctx.data_end = static_cast<__u32>(frame_.size());
  ctx.ingress_ifindex = static_cast<__u32>(iface.ifindex);
  const int fd = bpf_program__fd(skel_->progs.xg_gen);
  skel_->bss->pace_ns = paced ? std::max<__u64>(static_cast<__u64>(1e9 / limits.rate), 1) : 0;
  skel_->bss->next_ns = 0;
  skel_->bss->first_ns = skel_->bss->last_ns = 0;
  skel_->bss->limit = paced && limits.count ? base + limits.count : 0;
  double spin_rate = kSpinRate;  // paced: repetitions per second of a call
  auto update = [&] {
    p.frames = *sent - base;
    std::uint64_t lost;
    if (xmit_base) {
      auto xmit = xdp_xmit_count(iface);
      lost = p.frames - std::min(xmit ? *xmit - *xmit_base : p.frames, p.frames);
    } else {
      lost = static_cast<std::uint32_t>(tx_dropped(iface) - dropped_base);
    }
    p.dropped = std::min(lost, p.frames);
    p.seconds = elapsed();
  };
  for (;;) {
    update();
    if (limits.count && p.frames >= limits.count) break;
    if (limits.seconds > 0 && p.seconds >= limits.seconds) break;
    if (stop && stop->load()) break;
    if (on_progress && p.seconds >= next_report) {
      on_progress(p);
      next_report += interval;
    }
    // About a tenth of a second per call, so limits and progress stay precise.
    if (p.seconds > 0.01)
      chunk = std::clamp<std::uint64_t>(
          static_cast<std::uint64_t>(static_cast<double>(p.frames) / p.seconds / 10), 1024, 1u << 22);
    std::uint64_t n = chunk;
    if (limits.count) n = std::min<std::uint64_t>(n, limits.count - p.frames);
    // Paced: the program sends each frame when it is due and drops the
    // run's frames in between (gen.bpf.c), up to the count. A call spins
    // for as long as the frames still due take (half a second at most),
    // at the speed the last call spun; a gap between calls (the kernel's
    // setup of a live run takes some 20 ms) is lost time, not a burst.
    if (paced) {
      const double left = limits.count ? static_cast<double>(limits.count - p.frames) / limits.rate
                                       : limits.seconds - p.seconds;
      const double want = std::clamp(left, 0.0, 0.5) * 1.1 + 0.005;
      n = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(spin_rate * want), 4096, 1u << 30);
    }
    const auto call_start = clock::now();
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame_.data(),
                .data_size_in = static_cast<__u32>(frame_.size()), .ctx_in = &ctx, .ctx_size_in = sizeof ctx,
                .repeat = static_cast<int>(n), .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = kBatch);
    if (bpf_prog_test_run_opts(fd, &opts) != 0) {
      if (errno == EINTR) continue;  // a signal: the loop re-checks stop
      return fail_errno(errno, "send on " + iface.name + " (BPF_PROG_TEST_RUN, live frames" +
                                   (errno == EINVAL ? "; they need Linux 5.18 or later)" : ")"));
    }
    if (paced) {
      const double took = std::chrono::duration<double>(clock::now() - call_start).count();
      if (took > 0) spin_rate = static_cast<double>(n) / took;
    }
    // Only XDP_ABORTED (rewrite out of bounds) skips the count.
    if (!paced && *sent - base - p.frames < n) return fail(EIO, "gen program refused the template frame");
  }
  // Paced, the time is the sending's: from the first frame to one interval
  // after the last (a call spins on a little after its last frame).
  if (paced && p.frames > 1 && skel_->bss->last_ns > skel_->bss->first_ns)
    p.seconds = static_cast<double>(skel_->bss->last_ns - skel_->bss->first_ns + skel_->bss->pace_ns) / 1e9;
  return p;
}

}  // namespace xdpguard::gen
