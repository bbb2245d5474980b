#include "guard/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "bpf/system.h"

namespace xdpguard {

Result<InterfaceLock> InterfaceLock::acquire(std::uint64_t netns_id, int ifindex) {
  constexpr const char* kDir = "/run/lock/xdpguard";
  XG_CHECK_CTX(make_dirs(kDir), "lock");
  const std::string path = fmt::format("{}/ns{}-{}.lock", kDir, netns_id, ifindex);
  InterfaceLock l;
  l.fd_ = UniqueFd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!l.fd_) return fail_errno(errno, "lock " + path);
  while (::flock(l.fd_.get(), LOCK_EX) != 0)
    if (errno != EINTR) return fail_errno(errno, "lock " + path);
  return l;
}

}  // namespace xdpguard
