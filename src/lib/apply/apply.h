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
// flood thresholds) are written, and last `--prune` detaches what the file
// no longer has. A failure before the swaps changes nothing (attached ones
// are detached again); a swap that fails puts the swapped ones back.
//
// What cannot change in place is refused before anything is touched, with
// what to do: the attach mode and the kernel's limiter/block-list sizes
// (detach and attach again).
#pragma once

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
};

struct Report {
  std::vector<InterfaceDiff> diffs;   // per interface, file order (pruned ones last)
  std::vector<std::string> warnings;  // lint findings of the file's rules
};

// The file's state for one of its interfaces.
[[nodiscard]] DesiredState desired_of(const config::Config& conf, const config::Interface& section);
// What a new attachment of `section` is loaded with (attach --config).
[[nodiscard]] GuardConfig guard_config_of(const config::Interface& section);
// Puts `want` (and the flood thresholds) in force on `g` at once: what
// attach --config runs as its setup, and apply on one interface.
[[nodiscard]] Result<void> put_in_force(Guard& g, const DesiredState& want,
                                        const telemetry::FloodConfig& flood);
// The flood thresholds the file gives `section`.
[[nodiscard]] telemetry::FloodConfig flood_of(const config::Interface& section);

[[nodiscard]] Result<Report> apply_config(const config::Config& conf, const Options& opts);

}  // namespace xdpguard::apply
