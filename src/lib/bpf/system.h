// Process-level preconditions for touching the kernel: privileges, the BPF
// filesystem, network namespaces, interfaces. Pure syscalls, no BPF objects.
#pragma once

#include <linux/netlink.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/result.h"

namespace xdpguard {

inline constexpr const char* kDefaultBpffs = "/sys/fs/bpf";

// Fails with "permission denied (need root, or CAP_BPF and CAP_NET_ADMIN)"
// when the effective capabilities cannot load and attach XDP programs.
[[nodiscard]] Result<void> require_privileges();

// Makes sure `path` is a mounted bpffs. When it is not and this process runs
// in a private mount namespace (as under `ip netns exec`, which remounts
// /sys), it first joins PID 1's mount namespace so that pins land in the
// host's bpffs and outlive this process; otherwise it mounts bpffs there,
// under a lock in the runtime directory (core/lock.h), so that commands
// started together mount one bpffs, never one over another's pins.
// Must be called before any thread is started.
[[nodiscard]] Result<void> ensure_bpffs(const std::string& path = kDefaultBpffs);

// Joins the network namespace /run/netns/NAME (only the network namespace:
// the mount namespace, and so the bpffs, stays the same), like `ip -n`.
[[nodiscard]] Result<void> enter_netns(const std::string& name);

// Runs fn on a new thread that has joined /run/netns/NAME, and waits for it.
// (Network namespaces are per thread: the caller's stays as it is.)
[[nodiscard]] Result<void> run_in_netns(const std::string& name, const std::function<void()>& fn);

// Identifies the calling thread's network namespace (inode of
// /proc/thread-self/ns/net: run_in_netns() moves one thread).
[[nodiscard]] Result<std::uint64_t> current_netns_id();

struct Interface {
  std::string name;
  int ifindex = 0;
};

// "no such interface" when `name` does not exist in the current namespace.
[[nodiscard]] Result<Interface> find_interface(const std::string& name);
// Name of ifindex, or an error if it is gone.
[[nodiscard]] Result<Interface> find_interface(int ifindex);
// The MAC address of interface `ifindex`.
[[nodiscard]] Result<std::array<std::uint8_t, 6>> interface_mac(int ifindex);

// An rtnetlink dump (RTM_GETROUTE, RTM_GETNEIGH, ...) of address family
// `family` in the calling thread's network namespace: `each` gets every
// message of the reply (the answer's own, not NLMSG_DONE). `what` names it
// in errors: "rtnetlink: read neighbours: ...".
[[nodiscard]] Result<void> rtnl_dump(std::uint16_t type, std::uint8_t family,
                                     const std::function<void(const nlmsghdr&)>& each, const char* what);

// A route of an rtnetlink route dump, with the attributes xdpguard reads
// (addresses in network order, the first dst_len/8 or 4/16 bytes used).
struct RtRoute {
  std::uint8_t family = 0;   // AF_INET, AF_INET6
  std::uint8_t type = 0;     // RTN_LOCAL, RTN_UNICAST, ...
  std::uint8_t dst_len = 0;  // prefix length of dst (0: a default route)
  std::uint32_t table = 0;   // RTA_TABLE, or rtm_table
  int oif = 0;               // RTA_OIF (0: none)
  std::array<std::uint8_t, 16> dst{};
  std::optional<std::array<std::uint8_t, 16>> gateway;  // RTA_GATEWAY
};
// Every route of `family` (AF_UNSPEC: both) in the calling thread's
// namespace, through rtnl_dump.
[[nodiscard]] Result<void> rtnl_routes(std::uint8_t family, const std::function<void(const RtRoute&)>& each);

// mkdir -p (tolerating a parent removed concurrently by an rmdir)
[[nodiscard]] Result<void> make_dirs(const std::string& path);

}  // namespace xdpguard
