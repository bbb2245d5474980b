// The locks of the commands that change an interface (core/lock.h: the
// runtime directory and its lock files).
//
// InterfaceLock: the lock every command that changes an interface's
// xdpguard state takes (attach, detach, rule, set, flood set, talkers,
// synproxy), so that two concurrent commands end with one clear winner and
// one clear error, never with half-written or deleted pins. The file,
// ns<netns inode>-<ifindex>.lock, exists before an attachment and outlives
// its pins; it is never deleted (deleting a lock file races with the next
// locker); /run is emptied at boot. Waiting is bounded (lock_wait(), 60 s
// unless the CLI's --wait says otherwise), then it fails naming the holder:
// "lock veth1: held by pid 1234 (xdpguard rule add veth1 ...) for 60 s; try again".
//
// NamespaceLock: the same, for what one network namespace shares among its
// interfaces (the SYN proxy's sysctls, guard/synproxy_host.h), in
// ns<netns inode>.lock beside them, with the same bounded wait. Taken only
// while holding an interface lock (never the other way round), so the two
// cannot deadlock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/lock.h"
#include "core/result.h"

namespace xdpguard {

class InterfaceLock {
 public:
  InterfaceLock() = default;
  // Waits at most lock_wait() (or `wait`) for the lock; `ifname` names the
  // interface in the message when it gives up.
  [[nodiscard]] static Result<InterfaceLock> acquire(std::uint64_t netns_id, int ifindex,
                                                     const std::string& ifname,
                                                     std::optional<std::chrono::milliseconds> wait = {},
                                                     const std::string& dir = kRuntimeDir);
  // One try: nullopt when another process holds it.
  [[nodiscard]] static Result<std::optional<InterfaceLock>> try_acquire(std::uint64_t netns_id, int ifindex,
                                                                        const std::string& dir = kRuntimeDir);
  static std::string file_name(std::uint64_t netns_id, int ifindex);
  bool held() const { return lock_.held(); }

 private:
  LockFile lock_;
};

class NamespaceLock {
 public:
  NamespaceLock() = default;
  // Waits at most lock_wait() (or `wait`) for the lock.
  [[nodiscard]] static Result<NamespaceLock> acquire(std::uint64_t netns_id,
                                                     std::optional<std::chrono::milliseconds> wait = {},
                                                     const std::string& dir = kRuntimeDir);
  bool held() const { return lock_.held(); }

 private:
  LockFile lock_;
};

}  // namespace xdpguard
