#include "bpf/system.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/fault.h"
#include "core/lock.h"
#include "core/unique_fd.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

namespace xdpguard {
namespace {

bool is_bpffs(const std::string& path) {
  struct statfs st{};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

Result<ino_t> ns_inode(const char* path) {
  struct stat st{};
  if (::stat(path, &st) != 0) return fail_errno(errno, path);
  return st.st_ino;
}

}  // namespace

Result<void> require_privileges() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0) return fail_errno(errno, "capget");
  auto has = [&](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1u; };
  bool bpf = has(CAP_BPF) || has(CAP_SYS_ADMIN);
  bool net = has(CAP_NET_ADMIN);
  if (!bpf || !net) return fail(EPERM, "permission denied (need root, or CAP_BPF and CAP_NET_ADMIN)");
  return {};
}

// Parent pid of `pid` from /proc/PID/status, or 0.
pid_t parent_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("PPid:", 0) == 0) {
      std::string_view v(line);
      v.remove_prefix(5);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      pid_t ppid = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ppid);
      return ec == std::errc() ? ppid : 0;
    }
  return 0;
}

// The closest ancestor living in another mount namespace: the one `ip netns
// exec` (which unshares the mount namespace to remount /sys) was started from.
// A daemon started that way whose parent exited (ExaBGP running `xdpguard
// flowspec`) has init as its parent: then init's mount namespace.
pid_t ancestor_in_other_mount_ns() {
  auto self = ns_inode("/proc/self/ns/mnt");
  if (!self) return 0;
  pid_t pid = ::getppid();
  for (int depth = 0; pid > 0 && depth < 32; ++depth, pid = pid > 1 ? parent_of(pid) : 0) {
    auto ino = ns_inode(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str());
    if (ino && *ino != *self) return pid;
  }
  return 0;
}

Result<void> ensure_bpffs(const std::string& path) {
  if (is_bpffs(path)) return {};
  // Under `ip netns exec` the mount namespace is private and /sys a fresh
  // sysfs without the bpffs: pins made there would vanish with us. Join the
  // mount namespace we were started from instead, so state persists.
  if (pid_t anc = ancestor_in_other_mount_ns()) {
    std::string ns = "/proc/" + std::to_string(anc) + "/ns/mnt";
    UniqueFd fd(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
    std::error_code cwd_ec;
    auto cwd = std::filesystem::current_path(cwd_ec);
    if (fd && ::setns(fd.get(), CLONE_NEWNS) == 0) {
      // setns() moved us to the new namespace's root: keep relative paths working.
      if (!cwd_ec) std::filesystem::current_path(cwd, cwd_ec);
      spdlog::debug("joined the mount namespace of pid {} to reach its bpffs", anc);
      if (is_bpffs(path)) return {};
    } else {
      spdlog::info(
          "cannot join the parent mount namespace ({}); pins made now vanish with "
          "this process's mount namespace (use -n NETNS instead of ip netns exec)",
          std::strerror(errno));
    }
  }
  // Two commands started together on a host without the bpffs would both
  // mount one, the second over the first, hiding the pins made in it: the
  // mount is made under a lock in root's runtime directory, if still needed.
  auto lock = XG_TRY(LockFile::lock("bpffs.lock", "lock the bpffs mount", lock_wait()));
  if (is_bpffs(path)) return {};
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  fault_point("bpffs-mount");
  if (::mount("bpf", path.c_str(), "bpf", 0, "mode=0700") != 0) {
    int err = errno;
    return fail(err, "bpffs is not mounted at {} and mounting it failed: {}", path, std::strerror(err));
  }
  spdlog::info("mounted bpffs at {}", path);
  return {};
}

Result<void> enter_netns(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos)
    return fail(EINVAL, "invalid network namespace name \"{}\"", name);
  std::string path = "/run/netns/" + name;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    if (err == ENOENT) return fail(err, "network namespace \"{}\" not found", name);
    return fail_errno(err, "open " + path);
  }
  if (::setns(fd.get(), CLONE_NEWNET) != 0) return fail_errno(errno, "enter netns " + name);
  return {};
}

Result<void> run_in_netns(const std::string& name, const std::function<void()>& fn) {
  UniqueFd fd(::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(errno, "open netns " + name);
  std::optional<Error> err;
  std::thread t([&] {
    // setns(CLONE_NEWNET) changes only the calling thread.
    if (::setns(fd.get(), CLONE_NEWNET) != 0) {
      err = Error(errno, fmt::format("enter netns {}: {}", name, std::strerror(errno)));
      return;
    }
    fn();
  });
  t.join();
  if (err) return tl::unexpected(std::move(*err));
  return {};
}

// The calling thread's namespace (setns() is per thread: run_in_netns()),
// not the process's: /proc/self would name the main thread's, and two
// interfaces of equal ifindex in two namespaces would share one pin
// directory.
Result<std::uint64_t> current_netns_id() { return XG_TRY(ns_inode("/proc/thread-self/ns/net")); }

Result<Interface> find_interface(const std::string& name) {
  if (name.empty() || name.size() >= IF_NAMESIZE) return fail(EINVAL, "invalid interface name \"{}\"", name);
  unsigned idx = ::if_nametoindex(name.c_str());
  if (idx == 0) return fail(ENODEV, "no such interface");
  return Interface{name, static_cast<int>(idx)};
}

Result<Interface> find_interface(int ifindex) {
  char buf[IF_NAMESIZE]{};
  if (!::if_indextoname(static_cast<unsigned>(ifindex), buf))
    return fail(ENODEV, "no interface with index {}", ifindex);
  return Interface{buf, ifindex};
}

Result<std::array<std::uint8_t, 6>> interface_mac(int ifindex) {
  char name[IF_NAMESIZE] = "";
  if (!::if_indextoname(static_cast<unsigned>(ifindex), name))
    return fail_errno(errno, fmt::format("interface {}", ifindex));
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno(errno, "socket");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name, sizeof ifr.ifr_name);
  if (::ioctl(s.get(), SIOCGIFHWADDR, &ifr) != 0)
    return fail_errno(errno, fmt::format("{}: MAC address", name));
  std::array<std::uint8_t, 6> mac{};
  std::memcpy(mac.data(), ifr.ifr_hwaddr.sa_data, mac.size());
  return mac;
}

Result<void> rtnl_dump(std::uint16_t type, std::uint8_t family,
                       const std::function<void(const nlmsghdr&)>& each, const char* what) {
  UniqueFd s(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!s) return fail_errno(errno, "rtnetlink socket");
  // The header, then the request's body: every dump request (rtmsg, ndmsg,
  // ifaddrmsg, ...) starts with the family byte; 12 zero bytes cover them.
  struct {
    nlmsghdr nh;
    std::uint8_t body[12];
  } req{};
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = type;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.body[0] = family;
  if (::send(s.get(), &req, sizeof req, 0) != static_cast<ssize_t>(sizeof req))
    return fail_errno(errno, fmt::format("rtnetlink: dump {}", what));
  std::vector<char> buf(1 << 16);
  for (;;) {
    const ssize_t n = ::recv(s.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, fmt::format("rtnetlink: read {}", what));
    }
    auto len = static_cast<unsigned>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type == NLMSG_DONE) return {};
      if (nh->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(nh));
        return fail_errno(-e->error, fmt::format("rtnetlink: read {}", what));
      }
      each(*nh);
    }
  }
}

Result<void> rtnl_routes(std::uint8_t family, const std::function<void(const RtRoute&)>& each) {
  return rtnl_dump(
      RTM_GETROUTE, family,
      [&](const nlmsghdr& nh) {
        if (nh.nlmsg_type != RTM_NEWROUTE) return;
        const auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(&nh));
        if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) return;
        const std::size_t alen = rt->rtm_family == AF_INET6 ? 16 : 4;
        RtRoute r;
        r.family = rt->rtm_family;
        r.type = rt->rtm_type;
        r.dst_len = rt->rtm_dst_len;
        r.table = rt->rtm_table;
        int len = static_cast<int>(RTM_PAYLOAD(&nh));
        for (const auto* a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
          const std::size_t plen = RTA_PAYLOAD(a);
          if (a->rta_type == RTA_DST && plen == alen) std::memcpy(r.dst.data(), RTA_DATA(a), alen);
          if (a->rta_type == RTA_GATEWAY && plen == alen) {
            r.gateway.emplace();
            std::memcpy(r.gateway->data(), RTA_DATA(a), alen);
          }
          if (a->rta_type == RTA_OIF && plen == 4) std::memcpy(&r.oif, RTA_DATA(a), 4);
          if (a->rta_type == RTA_TABLE && plen == 4) std::memcpy(&r.table, RTA_DATA(a), 4);
        }
        each(r);
      },
      "routes");
}

Result<void> make_dirs(const std::string& path) {
  std::error_code ec;
  // A concurrent rmdir of an empty parent (detach of another interface) can
  // slip between two mkdirs: ENOENT then, and another try succeeds.
  for (int i = 0; i < 4; ++i) {
    std::filesystem::create_directories(path, ec);
    if (ec.value() != ENOENT) break;
  }
  if (ec) return fail(ec.value(), "create {}: {}", path, ec.message());
  return {};
}

}  // namespace xdpguard
