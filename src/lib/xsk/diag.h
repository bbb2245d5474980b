// Who holds an AF_XDP socket, and what the kernel says of it, for
// `xdpguard status`: the processes with the socket's inode among their fds
// (/proc/PID/fd, as `ss -p` and lsof find them) and, through a copy of the
// first one's fd (pidfd_getfd: root, or the same user without ptrace
// restrictions), the socket's copy or zero-copy mode (XDP_OPTIONS) and the
// kernel's drop counters (XDP_STATISTICS).
//
// Why not the kernel's socket diagnostics (NETLINK_SOCK_DIAG for AF_XDP,
// what `ss --xdp` reads, which also has the queue): kernels built without
// CONFIG_XDP_SOCKETS_DIAG (this project's CI machine among them) have none,
// and an XSKMAP cannot be read from user space. Which queue a socket serves
// comes from the record Guard::add_xsk keeps (guard/guard.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "xsk/socket.h"

namespace xdpguard::xsk {

struct SocketOwner {
  pid_t pid = 0;
  std::string command;  // /proc/PID/comm
  int fd = -1;          // the socket's fd number in that process
  bool operator==(const SocketOwner&) const = default;
};

struct SocketInfo {
  std::uint64_t inode = 0;
  std::vector<SocketOwner> owners;      // by pid; empty: no process holds it (closed)
  std::optional<bool> zerocopy;         // nullopt: not an AF_XDP socket, or its fd not reachable
  std::optional<XdpStatistics> kernel;  // likewise
  const char* mode() const { return !zerocopy ? "unknown" : *zerocopy ? "zero-copy" : "copy"; }
};

// What the system says of each socket inode asked for (an inode no process
// holds has no owners). Never fails: what cannot be read is left unknown.
std::map<std::uint64_t, SocketInfo> inspect_sockets(const std::vector<std::uint64_t>& inodes);

// An AF_XDP socket bound to a queue of an interface, as `status` shows it.
struct BoundSocket {
  int ifindex = 0;
  std::uint32_t queue = 0;
  SocketInfo socket;
};

}  // namespace xdpguard::xsk
