#include "guard/lock.h"

#include <fmt/format.h>

namespace xdpguard {

std::string InterfaceLock::file_name(std::uint64_t netns_id, int ifindex) {
  return fmt::format("ns{}-{}.lock", netns_id, ifindex);
}

Result<InterfaceLock> InterfaceLock::acquire(std::uint64_t netns_id, int ifindex, const std::string& ifname,
                                             std::optional<std::chrono::milliseconds> wait,
                                             const std::string& dir) {
  InterfaceLock l;
  l.lock_ =
      XG_TRY(LockFile::lock(file_name(netns_id, ifindex), "lock " + ifname, wait.value_or(lock_wait()), dir));
  return l;
}

Result<NamespaceLock> NamespaceLock::acquire(std::uint64_t netns_id,
                                             std::optional<std::chrono::milliseconds> wait,
                                             const std::string& dir) {
  NamespaceLock l;
  l.lock_ = XG_TRY(LockFile::lock(fmt::format("ns{}.lock", netns_id),
                                  fmt::format("lock network namespace {}", netns_id),
                                  wait.value_or(lock_wait()), dir));
  return l;
}

Result<std::optional<InterfaceLock>> InterfaceLock::try_acquire(std::uint64_t netns_id, int ifindex,
                                                                const std::string& dir) {
  auto got = XG_TRY(LockFile::try_lock(file_name(netns_id, ifindex), false, dir));
  if (!got) return std::optional<InterfaceLock>{};
  InterfaceLock l;
  l.lock_ = std::move(*got);
  return std::optional<InterfaceLock>(std::move(l));
}

}  // namespace xdpguard
