#include "xsk/diag.h"

#include <dirent.h>
#include <linux/if_xdp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <memory>
#include <string_view>

#include <fmt/format.h>

#include "core/number.h"
#include "core/unique_fd.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

namespace xdpguard::xsk {

namespace {

using Dir = std::unique_ptr<DIR, int (*)(DIR*)>;

// The socket inode an fd link names ("socket:[12345]"), if it is a socket.
std::optional<std::uint64_t> socket_inode(std::string_view link) {
  constexpr std::string_view kSocket = "socket:[";
  if (!link.starts_with(kSocket) || !link.ends_with(']')) return std::nullopt;
  auto ino =
      parse_whole(link.substr(kSocket.size(), link.size() - kSocket.size() - 1), "an inode", 1, UINT64_MAX);
  return ino ? std::optional<std::uint64_t>(*ino) : std::nullopt;
}

// Mode and counters of the socket at `fd` of process `pid`, read on a copy
// of the fd (the socket is shared, not moved: the owner keeps using it).
void read_socket(pid_t pid, int fd, SocketInfo& info) {
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) return;
  UniqueFd sock(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0)));
  if (!sock) return;
  xdp_options opts{};
  socklen_t len = sizeof opts;
  if (::getsockopt(sock.get(), SOL_XDP, XDP_OPTIONS, &opts, &len) != 0) return;  // not AF_XDP
  info.zerocopy = (opts.flags & XDP_OPTIONS_ZEROCOPY) != 0;
  xdp_statistics st{};
  len = sizeof st;
  if (::getsockopt(sock.get(), SOL_XDP, XDP_STATISTICS, &st, &len) != 0) return;
  info.kernel = XdpStatistics{st.rx_dropped,   st.rx_invalid_descs,         st.tx_invalid_descs,
                              st.rx_ring_full, st.rx_fill_ring_empty_descs, st.tx_ring_empty_descs};
}

}  // namespace

std::map<std::uint64_t, SocketInfo> inspect_sockets(const std::vector<std::uint64_t>& inodes) {
  std::map<std::uint64_t, SocketInfo> out;
  for (auto ino : inodes) out[ino].inode = ino;
  if (inodes.empty()) return out;
  Dir proc(::opendir("/proc"), ::closedir);
  if (!proc) return out;
  while (const dirent* e = ::readdir(proc.get())) {
    auto parsed = parse_whole(e->d_name, "a pid", 1, INT32_MAX);
    if (!parsed) continue;
    const auto pid = static_cast<pid_t>(*parsed);
    const std::string fd_dir = fmt::format("/proc/{}/fd", pid);
    Dir fds(::opendir(fd_dir.c_str()), ::closedir);
    if (!fds) continue;  // gone, or another user's (without the capability)
    const int fds_fd = ::dirfd(fds.get());
    if (fds_fd < 0) continue;
    std::string comm;
    while (const dirent* f = ::readdir(fds.get())) {
      std::array<char, 64> link{};
      const ssize_t n = ::readlinkat(fds_fd, f->d_name, link.data(), link.size() - 1);
      if (n <= 0) continue;
      auto ino = socket_inode(std::string_view(link.data(), static_cast<std::size_t>(n)));
      if (!ino) continue;
      auto it = out.find(*ino);
      auto fd = parse_whole(f->d_name, "an fd", 0, INT32_MAX);
      if (it == out.end() || !fd) continue;
      if (comm.empty()) std::getline(std::ifstream(fmt::format("/proc/{}/comm", pid)), comm);
      auto& owners = it->second.owners;
      // A process that holds it twice (a dup) is one owner.
      if (owners.empty() || owners.back().pid != pid) owners.push_back({pid, comm, static_cast<int>(*fd)});
    }
  }
  for (auto& [ino, info] : out) {
    std::sort(info.owners.begin(), info.owners.end(),
              [](const SocketOwner& a, const SocketOwner& b) { return a.pid < b.pid; });
    for (const auto& o : info.owners) {
      read_socket(o.pid, o.fd, info);
      if (info.zerocopy) break;
    }
  }
  return out;
}

}  // namespace xdpguard::xsk
