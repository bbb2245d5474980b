#include "lab/lab.h"

#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string_view>

#include <nlohmann/json.hpp>

namespace xdpguard {
namespace {

// Registry of live lab namespaces, readable from a signal handler: fixed
// slots of fixed-size names, no allocation.
constexpr int kSlots = 32;
struct Slot {
  std::atomic<bool> used{false};
  char path[64];
};
Slot g_slots[kSlots];
std::once_flag g_handlers_once;
struct sigaction g_old[3];
constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};

// What `ip netns del` does: detach the bind mount and remove the file. The
// namespace dies with its last user, and the veth pair with it.
void remove_netns_path(const char* path) {
  ::umount2(path, MNT_DETACH);
  ::unlink(path);
}

void on_signal(int sig) {
  for (auto& s : g_slots)
    if (s.used.exchange(false)) remove_netns_path(s.path);
  for (int i = 0; i < 3; ++i)
    if (kSignals[i] == sig) ::sigaction(sig, &g_old[i], nullptr);
  ::raise(sig);
}

void install_handlers() {
  std::call_once(g_handlers_once, [] {
    for (int i = 0; i < 3; ++i) {
      struct sigaction sa{};
      sa.sa_handler = on_signal;
      sigemptyset(&sa.sa_mask);
      ::sigaction(kSignals[i], &sa, &g_old[i]);
    }
  });
}

void register_ns(const std::string& name) {
  std::string path = "/run/netns/" + name;
  for (auto& s : g_slots) {
    bool expected = false;
    if (!s.used.load()) {
      std::strncpy(s.path, path.c_str(), sizeof(s.path) - 1);
      s.path[sizeof(s.path) - 1] = 0;
      if (s.used.compare_exchange_strong(expected, true)) return;
    }
  }
}

void unregister_and_remove(const std::string& name) {
  std::string path = "/run/netns/" + name;
  for (auto& s : g_slots)
    if (s.used.load() && path == s.path) s.used.store(false);
  remove_netns_path(path.c_str());
}

std::atomic<int> g_lab_seq{0};

}  // namespace

void sweep_stale_labs() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
    std::string n = e.path().filename().string();
    for (std::string_view prefix : kLabPrefixes) {
      const std::size_t p = prefix.size();
      if (n.size() < p + 2 || n.compare(0, p, prefix) != 0) continue;
      std::size_t i = p;
      while (i < n.size() && std::isdigit(static_cast<unsigned char>(n[i]))) ++i;
      if (i == p) continue;
      pid_t pid = 0;
      auto [end, ec2] = std::from_chars(n.data() + p, n.data() + i, pid);
      if (ec2 != std::errc() || end != n.data() + i) continue;  // not a pid we wrote
      if (::kill(pid, 0) == 0 || errno == EPERM) break;
      remove_netns_path(e.path().c_str());
      break;
    }
  }
}

Result<Lab> Lab::create(const LabOptions& opts) {
  sweep_stale_labs();
  install_handlers();
  Lab lab;
  char letter = static_cast<char>('a' + (g_lab_seq++ % 26));
  if (std::find(std::begin(kLabPrefixes), std::end(kLabPrefixes), opts.prefix) == std::end(kLabPrefixes))
    return fail(EINVAL, "lab: unknown name prefix {}", opts.prefix);
  lab.prefix_ = fmt::format("{}{}{}", opts.prefix, ::getpid(), letter);
  lab.client_ = {lab.prefix_ + "-cli", lab.prefix_ + "c", "198.18.0.1", "fd00::1", "02:00:c6:12:00:01"};
  lab.server_ = {lab.prefix_ + "-srv", lab.prefix_ + "s", "198.18.0.2", "fd00::2", "02:00:c6:12:00:02"};
  for (const LabHost* h : {&lab.client_, &lab.server_}) {
    XG_TRY_CTX(run_checked({"ip", "netns", "add", h->netns}), "lab");
    register_ns(h->netns);
  }
  lab.alive_ = true;  // from here the destructor cleans up

  const auto& c = lab.client_;
  const auto& s = lab.server_;
  XG_TRY_CTX(run_checked({"ip", "-n", c.netns, "link", "add", c.veth, "address", c.mac, "type", "veth",
                          "peer", "name", s.veth, "address", s.mac, "netns", s.netns}),
             "lab");
  for (const LabHost* h : {&c, &s}) {
    const LabHost& peer = h == &c ? s : c;
    auto sysctl = [&](const std::string& kv) {
      return run_checked({"ip", "netns", "exec", h->netns, "sysctl", "-qw", kv});
    };
    if (!opts.ipv6) {
      XG_TRY_CTX(sysctl("net.ipv6.conf.all.disable_ipv6=1"), "lab");
      XG_TRY_CTX(sysctl("net.ipv6.conf.default.disable_ipv6=1"), "lab");
      XG_TRY_CTX(sysctl("net.ipv6.conf." + h->veth + ".disable_ipv6=1"), "lab");
    } else {
      // No DAD delay, no router solicitations: quiet links, usable at once.
      XG_TRY_CTX(sysctl("net.ipv6.conf." + h->veth + ".accept_dad=0"), "lab");
      XG_TRY_CTX(sysctl("net.ipv6.conf." + h->veth + ".router_solicitations=0"), "lab");
      XG_TRY_CTX(run_checked({"ip", "-n", h->netns, "addr", "add", h->ip6 + "/64", "dev", h->veth, "nodad"}),
                 "lab");
      XG_TRY_CTX(run_checked({"ip", "-n", h->netns, "neigh", "add", peer.ip6, "lladdr", peer.mac, "dev",
                              h->veth, "nud", "permanent"}),
                 "lab");
    }
    XG_TRY_CTX(run_checked({"ip", "-n", h->netns, "addr", "add", h->ip4 + "/24", "dev", h->veth}), "lab");
    // Static neighbours: no ARP frames mixed into exact counts.
    XG_TRY_CTX(run_checked({"ip", "-n", h->netns, "neigh", "add", peer.ip4, "lladdr", peer.mac, "dev",
                            h->veth, "nud", "permanent"}),
               "lab");
    XG_TRY_CTX(run_checked({"ip", "-n", h->netns, "link", "set", "lo", "up"}), "lab");
    XG_TRY_CTX(run_checked({"ip", "-n", h->netns, "link", "set", h->veth, "up"}), "lab");
  }
  return lab;
}

Lab::Lab(Lab&& o) noexcept
    : prefix_(std::move(o.prefix_)),
      client_(std::move(o.client_)),
      server_(std::move(o.server_)),
      alive_(std::exchange(o.alive_, false)) {}

Lab::~Lab() { destroy(); }

void Lab::destroy() {
  if (!alive_) return;
  alive_ = false;
  unregister_and_remove(client_.netns);
  unregister_and_remove(server_.netns);
}

std::vector<std::string> Lab::in(const LabHost& h, std::vector<std::string> argv) const {
  std::vector<std::string> full = {"ip", "netns", "exec", h.netns};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

Result<std::string> Lab::exec(const LabHost& h, std::vector<std::string> argv,
                              std::chrono::milliseconds timeout) const {
  return run_checked(in(h, std::move(argv)), timeout);
}

Result<Lab::LinkCounters> Lab::link_counters(const LabHost& h) const {
  auto out = XG_TRY(run_checked({"ip", "-n", h.netns, "-s", "-j", "link", "show", h.veth}));
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.is_array() || j.empty()) return fail(EIO, "cannot parse `ip -s -j link` output");
  // Read without exceptions: a field of another type is an error value.
  auto field = [&](const char* dir, const char* name) -> Result<std::uint64_t> {
    const auto& st = j[0].value("stats64", nlohmann::json::object());
    auto d = st.find(dir);
    if (d == st.end() || !d->is_object()) return fail(EIO, "`ip -s -j link`: no stats64.{}", dir);
    auto v = d->find(name);
    if (v == d->end() || !v->is_number_unsigned())
      return fail(EIO, "`ip -s -j link`: stats64.{}.{} is not a count", dir, name);
    return v->get<std::uint64_t>();
  };
  LinkCounters c;
  c.rx_packets = XG_TRY(field("rx", "packets"));
  c.rx_bytes = XG_TRY(field("rx", "bytes"));
  c.tx_packets = XG_TRY(field("tx", "packets"));
  c.tx_bytes = XG_TRY(field("tx", "bytes"));
  return c;
}

}  // namespace xdpguard
