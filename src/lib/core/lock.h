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
// LockFile: one held lock on a file of the runtime directory: the
// interfaces' and namespaces' locks (guard/lock.h), the telemetry readers'
// (telemetry/reader.h, telemetry/flood_monitor.h), which may remove their
// file when they let go, and the bpffs mount's (bpf/system.h).
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

// How long a command waits for a lock in this process (default
// kDefaultLockWait; the CLI sets it from --wait before it runs a command).
void set_lock_wait(std::chrono::milliseconds wait);
std::chrono::milliseconds lock_wait();

}  // namespace xdpguard
