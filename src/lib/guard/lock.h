// InterfaceLock: the one lock every command that changes an interface's
// xdpguard state takes (attach, detach, rule, set, config), so that two
// concurrent commands end with one clear winner and one clear error, never
// with half-written or deleted pins.
//
// An flock on /run/lock/xdpguard/ns<netns inode>-<ifindex>.lock: a file that
// exists before an attachment and outlives its pins (bpffs holds no regular
// files). The kernel drops the lock when the process dies, so a crashed
// command never leaves the interface locked. Lock files are never deleted
// (deleting a lock file races with the next locker); /run is emptied at boot.
//
// NamespaceLock: the same, for what one network namespace shares among its
// interfaces (the SYN proxy's sysctls, guard/synproxy_host.h), in
// ns<netns inode>.lock beside them. Taken only while holding an interface
// lock (never the other way round), so the two cannot deadlock.
//
// Failure: "lock eth1: <strerror>" when the lock file cannot be opened.
#pragma once

#include <cstdint>

#include "core/result.h"
#include "core/unique_fd.h"

namespace xdpguard {

class InterfaceLock {
 public:
  InterfaceLock() = default;
  // Blocks until the lock is ours.
  [[nodiscard]] static Result<InterfaceLock> acquire(std::uint64_t netns_id, int ifindex);
  bool held() const { return static_cast<bool>(fd_); }

 private:
  UniqueFd fd_;
};

class NamespaceLock {
 public:
  NamespaceLock() = default;
  // Blocks until the lock is ours.
  [[nodiscard]] static Result<NamespaceLock> acquire(std::uint64_t netns_id);
  bool held() const { return static_cast<bool>(fd_); }

 private:
  UniqueFd fd_;
};

}  // namespace xdpguard
