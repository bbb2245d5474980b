#include "guard/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <string>

#include <fmt/format.h>

#include "bpf/system.h"

namespace xdpguard {
namespace {

constexpr const char* kLockDir = "/run/lock/xdpguard";

Result<UniqueFd> lock_file(const std::string& name) {
  XG_CHECK_CTX(make_dirs(kLockDir), "lock");
  const std::string path = fmt::format("{}/{}", kLockDir, name);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return fail_errno(errno, "lock " + path);
  while (::flock(fd.get(), LOCK_EX) != 0)
    if (errno != EINTR) return fail_errno(errno, "lock " + path);
  return fd;
}

}  // namespace

Result<InterfaceLock> InterfaceLock::acquire(std::uint64_t netns_id, int ifindex) {
  InterfaceLock l;
  l.fd_ = XG_TRY(lock_file(fmt::format("ns{}-{}.lock", netns_id, ifindex)));
  return l;
}

Result<NamespaceLock> NamespaceLock::acquire(std::uint64_t netns_id) {
  NamespaceLock l;
  l.fd_ = XG_TRY(lock_file(fmt::format("ns{}.lock", netns_id)));
  return l;
}

}  // namespace xdpguard
