// Commit-confirm (README, "Changing rules safely"): a change made with
// `--confirm 60s` goes live at once, and is taken back unless
// `xdpguard confirm IFACE` comes within the window.
//
// Mechanism: a detached watcher process. Before the change, arm() reads the
// interface's state under its lock into a Record (rule texts, default,
// non-IP and malformed actions, never-block, flood thresholds, top talkers,
// the SYN proxy's settings; each set's member maps are pinned in the
// interface's pin directory, <pins>/confirm/, so they outlive the change)
// and writes it to /run/xdpguard/ns<netns>-<ifindex>.confirm (root's
// directory). It then starts a watcher: `xdpguard confirm --watch IFACE`
// in its own session, stdio on /dev/null, so the shell, the ssh session and
// the process group that ran the change can all die without it. The watcher
// holds an flock on ns<netns>-<ifindex>.watch while it lives (one per
// interface; `confirm --status` names it) and wakes at the deadline: under
// the interface lock it puts the record's state back with apply's one-swap
// step (rules and sets in one program-array write; Guard::prepare/swap/
// finish), or detaches when the change was the attach, then marks the
// record "rolled back" and says so in syslog. `confirm` removes the record
// under the same lock: one of the two wins, never both.
//
// A change that is still being made at the deadline (a slow attach or apply
// of a large set: arm() comes before its preparation) is not raced: the
// record names the process making it until landed(), and the watcher waits
// while that process lives (at most kMakingGrace past the deadline), then
// rolls back what landed. A command killed before its change leaves a
// dead pid: the rollback comes at the deadline.
//
// A second confirmed change while one is pending keeps the first record's
// state (what comes back is the state before the first) and moves the
// deadline to its own window (NETCONF's confirmed-commit). A change that
// fails is disarmed: a fresh record is removed, an extended one restored.
//
// What it cannot survive: the watcher killed (kill -9) and no other arm or
// `confirm` after it; a reboot (the programs are gone then anyway). The
// next change made with --confirm, and `xdpguard confirm --status`, start a
// watcher again for a record that has none.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "bpf/system.h"
#include "confirm/record.h"
#include "core/result.h"

namespace xdpguard::confirm {

// What arm() wrote, and what it replaced (for disarm()).
struct Armed {
  Interface iface;
  std::uint64_t netns_id = 0;
  Record record;
  std::optional<Record> previous;  // the record there before (a past one, or the pending one)
  bool extended = false;           // previous was pending: this change joined it
};

// How long past its deadline a rollback waits for a change still being made.
inline constexpr std::chrono::seconds kMakingGrace{300};

// Before a change of `iface`: records the state in force (or extends the
// pending record), starts the watcher. `change` is the command, for people.
[[nodiscard]] Result<Armed> arm(const Interface& iface, std::chrono::seconds window,
                                const std::string& change);
// After a change that failed: as before arm() (a failure is logged).
void disarm(const Armed& a);
// After the change made under `a` is in force: the watcher's deadline no
// longer waits for this process (a failure is logged).
void landed(const Armed& a);

// `xdpguard confirm IFACE`: keeps the change; returns the record it ends.
// Fails when nothing is pending, naming how the last one ended.
[[nodiscard]] Result<Record> confirm(const Interface& iface);

struct Status {
  Record record;
  bool pending = false;
  double seconds_left = 0;
  pid_t watcher = 0;  // 0: none alive (started again by confirm_status)
};
// Every record of the current network namespace (pending first). A
// pending record without a watcher gets one.
[[nodiscard]] Result<std::vector<Status>> status();

// The watcher (`xdpguard confirm --watch IFACE`): waits for the deadline of
// the interface's record and rolls back; returns when the record is
// confirmed, rolled back, or dropped, or when another watcher has it.
[[nodiscard]] Result<void> watch(const Interface& iface);

}  // namespace xdpguard::confirm
