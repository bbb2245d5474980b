#include "guard/gc.h"

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "bpf/abi.h"
#include "bpf/map.h"
#include "bpf/system.h"
#include "guard/guard.h"
#include "guard/lock.h"

namespace xdpguard {
namespace fs = std::filesystem;

namespace {

// "net:[4026531840]" -> 4026531840.
std::optional<std::uint64_t> net_inode(std::string_view link) {
  constexpr std::string_view kPrefix = "net:[";
  if (link.substr(0, kPrefix.size()) != kPrefix || link.back() != ']') return std::nullopt;
  std::uint64_t v = 0;
  auto digits = link.substr(kPrefix.size(), link.size() - kPrefix.size() - 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return v;
}

std::optional<std::uint64_t> link_inode(const fs::path& p) {
  std::error_code ec;
  auto target = fs::read_symlink(p, ec);
  if (ec) return std::nullopt;
  return net_inode(target.string());
}

bool is_number(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::set<std::uint64_t> live_netns() {
  std::set<std::uint64_t> live;
  std::set<std::uint64_t> mount_namespaces_seen;
  std::error_code ec;
  for (const auto& proc : fs::directory_iterator("/proc", ec)) {
    const std::string pid = proc.path().filename().string();
    if (!is_number(pid)) continue;
    std::error_code ec2;
    // Every thread: threads may sit in other namespaces than their process.
    for (const auto& task : fs::directory_iterator(proc.path() / "task", ec2))
      if (auto n = link_inode(task.path() / "ns" / "net")) live.insert(*n);
    // Namespaces held open by a file descriptor.
    for (const auto& fd : fs::directory_iterator(proc.path() / "fd", ec2))
      if (auto n = link_inode(fd.path())) live.insert(*n);
    // Bind mounts (`ip netns add`), once per mount namespace.
    struct stat mnt{};
    if (::stat((proc.path() / "ns" / "mnt").c_str(), &mnt) != 0 ||
        !mount_namespaces_seen.insert(mnt.st_ino).second)
      continue;
    std::ifstream in(proc.path() / "mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      // id parent major:minor root mount-point ... - fstype source options
      auto dash = line.find(" - ");
      if (dash == std::string::npos || line.compare(dash + 3, 5, "nsfs ") != 0) continue;
      std::istringstream f(line.substr(0, dash));
      std::string id, parent, dev, root;
      f >> id >> parent >> dev >> root;
      if (auto n = net_inode(root)) live.insert(*n);
    }
  }
  return live;
}

Result<std::vector<PinnedNamespace>> survey_namespaces() {
  XG_CHECK(ensure_bpffs());
  PinPaths base;
  const auto live = live_netns();
  const std::uint64_t self = XG_TRY(current_netns_id());
  std::vector<PinnedNamespace> out;
  std::error_code ec;
  if (!fs::exists(base.root(), ec)) return out;
  for (const auto& entry : fs::directory_iterator(base.root(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() < 3 || name.compare(0, 2, "ns") != 0 || !is_number(name.substr(2))) continue;
    PinnedNamespace ns;
    std::from_chars(name.data() + 2, name.data() + name.size(), ns.netns_id);
    ns.dir = entry.path().string();
    ns.current = ns.netns_id == self;
    ns.alive = ns.current || live.count(ns.netns_id);
    std::error_code ec2;
    for (const auto& ifdir : fs::directory_iterator(entry.path(), ec2)) {
      PinnedInterface pi;
      const std::string n = ifdir.path().filename().string();
      if (!is_number(n)) continue;
      std::from_chars(n.data(), n.data() + n.size(), pi.ifindex);
      auto meta = Map<std::uint32_t, xdpguard_meta>::open_pinned((ifdir.path() / XDPGUARD_PIN_META).string());
      if (meta)
        if (auto m = meta->get(0)) {
          pi.ifname = m->ifname;
          pi.mode = m->mode == XDPGUARD_MODE_GENERIC ? "generic" : "native";
          pi.prog_id = m->prog_id;
          pi.attached_unix = m->attached_unix;
        }
      ns.interfaces.push_back(std::move(pi));
    }
    std::sort(ns.interfaces.begin(), ns.interfaces.end(),
              [](const PinnedInterface& a, const PinnedInterface& b) { return a.ifindex < b.ifindex; });
    out.push_back(std::move(ns));
  }
  std::sort(out.begin(), out.end(),
            [](const PinnedNamespace& a, const PinnedNamespace& b) { return a.netns_id < b.netns_id; });
  return out;
}

Result<std::vector<PinnedNamespace>> collect_dead_namespaces() {
  std::vector<PinnedNamespace> removed;
  for (auto& ns : XG_TRY(survey_namespaces())) {
    if (ns.alive) continue;
    // Under the locks of its interfaces, and only if the namespace is still
    // dead then: a new namespace can get a dead one's inode number, and an
    // attach in it (which takes the lock) would pin beside these.
    std::vector<InterfaceLock> held;
    bool busy = false;
    for (const auto& pi : ns.interfaces) {
      auto lk = XG_TRY(InterfaceLock::try_acquire(ns.netns_id, pi.ifindex));
      if (!lk) {
        busy = true;
        break;
      }
      held.push_back(std::move(*lk));
    }
    if (busy || live_netns().count(ns.netns_id)) {
      spdlog::info("network namespace {}: in use again; its pins stay", ns.netns_id);
      continue;
    }
    // A dead namespace took its nftables tables and sysctls with it: the
    // SYN proxy's records (each interface's xg_synproxy, the namespace's
    // xg_sp_ns) go with the pins, nothing to undo (undo_pinned_synproxy is
    // for interfaces that vanished from a live namespace).
    std::error_code ec;
    fs::remove_all(ns.dir, ec);  // unlinking a pin drops its reference on the map
    if (ec) return fail(ec.value(), "remove {}: {}", ns.dir, ec.message());
    spdlog::info("removed the pins of dead network namespace {}", ns.netns_id);
    removed.push_back(std::move(ns));
  }
  return removed;
}

}  // namespace xdpguard
