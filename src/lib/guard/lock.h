// Locks of xdpguard's processes, and the one directory they live in.
//
// Every lock is an flock on a file in the runtime directory /run/xdpguard:
// root's own directory (mode 0700, owned by uid 0), so that no local user
// can create, hold or redirect a lock (THREATS.md, attacker 3). The
// directory is made if absent, and refused if it is anything else (a
// symlink, another owner, group or other access). Lock files are opened with
// O_NOFOLLOW and checked with fstat (a regular file, ours). The kernel drops
// an flock when its process dies, so a crashed command never leaves anything
// locked.
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
//
// LockFile: one held lock on a file of the runtime directory, for the
// interface lock and the telemetry readers' locks (telemetry/reader.h,
// telemetry/flood_monitor.h), which may remove their file when they let go.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/result.h"
#include "core/unique_fd.h"

namespace xdpguard {

inline constexpr const char* kRuntimeDir = "/run/xdpguard";
inline constexpr std::chrono::seconds kDefaultLockWait{60};

// Makes sure `dir` is root's private directory, creating it (mode 0700) if
// absent; returns an fd of it (the inode that was checked). Refuses, with
// what is wrong and what to do, a symlink ("/run/xdpguard is a symlink, not
// a directory; remove it"), another owner ("... is owned by uid 1000, not
// root; remove it") or a mode with group/other access.
[[nodiscard]] Result<UniqueFd> open_runtime_dir(const std::string& dir = kRuntimeDir);

// Who holds an flock on a file (from /proc/locks): its pid and command line.
struct LockHolder {
  pid_t pid = 0;
  std::string command;  // "" when the process is gone meanwhile
};
[[nodiscard]] std::optional<LockHolder> lock_holder(int fd);

class LockFile {
 public:
  LockFile() = default;
  LockFile(LockFile&&) noexcept = default;
  LockFile& operator=(LockFile&&) noexcept;
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  ~LockFile();

  // One try: nullopt when another process holds it. With `remove`, the
  // file is unlinked when the lock is let go (only for files keyed by
  // something that is never locked again, such as one attachment).
  [[nodiscard]] static Result<std::optional<LockFile>> try_lock(const std::string& name, bool remove = false,
                                                                const std::string& dir = kRuntimeDir);
  // Waits at most `wait` (0: one try), then fails naming the holder;
  // `what` names the lock in messages ("lock veth1").
  [[nodiscard]] static Result<LockFile> lock(const std::string& name, const std::string& what,
                                             std::chrono::milliseconds wait,
                                             const std::string& dir = kRuntimeDir);

  bool held() const { return static_cast<bool>(fd_); }
  int fd() const { return fd_.get(); }
  // Lets go now (what the destructor does).
  void unlock();

 private:
  UniqueFd dir_;
  UniqueFd fd_;
  std::string name_;
  bool remove_ = false;
};

// How long an InterfaceLock waits in this process (default kDefaultLockWait;
// the CLI sets it from --wait before it runs a command).
void set_lock_wait(std::chrono::milliseconds wait);
std::chrono::milliseconds lock_wait();

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
