// `xdpguard apply`: makes the interfaces of the current network namespace
// match a config file, each in one atomic step (Guard::prepare/swap/finish),
// all interfaces or none.
//
// Order: the file is read and checked whole; every interface in it must
// exist. Attached interfaces are prepared (sets staged, the rule set
// compiled and verified, their locks held, in ifindex order so that two
// applies cannot deadlock), then the interfaces not attached yet are
// attached (the file's state in force from their first packet), then every
// prepared interface swaps with one program-array write each, then the
// settings outside the rule set (non-IP/malformed actions, never-block,
// flood thresholds, top talkers) are written, and last `--prune` detaches
// what the file no longer has. A failure before the swaps changes nothing
// (attached ones are detached again); a swap that fails puts the swapped
// ones back.
//
// The SYN proxy is not a map write: turning it on sets up the host
// (nftables, sysctls) and takes the interface's lock itself. Its changes
// come first, before any lock is taken (a settings change is a disable and
// an enable: SYNs go to the kernel's own SYN cookies meanwhile), and are
// undone if a later step fails; on an interface being attached it is
// enabled right after the attach (a failure detaches it again).
//
// What cannot change in place is refused before anything is touched, with
// what to do: the attach mode and the kernel's limiter/block-list sizes
// (detach and attach again).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "apply/diff.h"
#include "config/config.h"
#include "core/result.h"
#include "guard/guard.h"

namespace xdpguard::apply {

struct Options {
  std::vector<std::string> only;  // these interfaces of the file (empty: all)
  bool check = false;             // compile, stage and verify; change nothing
  bool dry_run = false;           // --diff: compute the changes; change nothing
  bool prune = false;             // detach attached interfaces the file has not
  // Called once every attached interface is prepared (and with --check),
  // before anything goes live: a failure aborts the apply, changing nothing.
  // The CLI's lockout guard, run meanwhile in a thread of its own.
  std::function<Result<void>()> before_swap;
};

struct Report {
  std::vector<InterfaceDiff> diffs;   // per interface, file order (pruned ones last)
  std::vector<std::string> warnings;  // lint findings of the file's rules
};

// The file's state for one of its interfaces.
[[nodiscard]] DesiredState desired_of(const config::Config& conf, const config::Interface& section);
// What a new attachment of `section` is loaded with (attach --config).
[[nodiscard]] GuardConfig guard_config_of(const config::Interface& section);
// Puts `want` (and the flood thresholds, top talkers on or off) in force on
// `g` at once: what attach --config runs as its setup, and apply on one
// interface.
[[nodiscard]] Result<void> put_in_force(Guard& g, const DesiredState& want,
                                        const telemetry::FloodConfig& flood, bool talkers);
// Top talkers and the SYN proxy as the file gives them for `section`, and as
// `g` has them.
[[nodiscard]] Extras extras_of(const config::Interface& section);
[[nodiscard]] Result<Extras> current_extras(const Guard& g);
// The SYN proxy as `want` says (none: off): nothing when it is so already,
// else a disable (when on) and an enable (when wanted). An enable or
// disable that died half-way is finished.
[[nodiscard]] Result<void> put_synproxy(Guard& g, const std::optional<SynproxyConfig>& want);
// The flood thresholds the file gives `section`.
[[nodiscard]] telemetry::FloodConfig flood_of(const config::Interface& section);

[[nodiscard]] Result<Report> apply_config(const config::Config& conf, const Options& opts);

}  // namespace xdpguard::apply
