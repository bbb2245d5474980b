// Commit-confirm's record of one pending change (confirm/confirm.h): what an
// interface had before a change made with --confirm, and until when the
// change waits for `xdpguard confirm`. Kept as JSON in root's runtime
// directory; this half is pure (unit-tested): the record, its JSON both ways
// (bad input named by key), and the window's syntax.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apply/diff.h"
#include "core/result.h"
#include "guard/guard.h"
#include "telemetry/flood.h"

namespace xdpguard::confirm {

// "60s", "2m", "1h", "90" (seconds): 1 s to 24 h.
[[nodiscard]] Result<std::chrono::seconds> parse_window(std::string_view text);

// An instant as the local time of day ("14:02:31"), for messages.
[[nodiscard]] std::string clock_text(double unix_s);

struct Record {
  std::string iface;
  int ifindex = 0;
  std::uint64_t netns_id = 0;
  // What to put back. attached false: xdpguard was not on the interface
  // (the change attached it): the rollback detaches.
  bool attached = false;
  std::uint32_t meta_id = 0;  // the attachment the state belongs to (0: not attached)
  DesiredState state;         // rules, actions, never-block, sets (kept maps)
  telemetry::FloodConfig flood;
  apply::Extras extras;  // top talkers, the SYN proxy
  // The window: CLOCK_BOOTTIME ms (what the watcher waits on) and the same
  // instant as Unix seconds (what people read).
  std::uint64_t deadline_boot_ms = 0;
  double deadline_unix = 0;
  double armed_unix = 0;
  std::vector<std::string> changes;  // the commands that made the change, in order
  // While a change is being made (from arm() until it is in force): the
  // process making it (pid and start time, core/process.h). The watcher's
  // deadline waits while that process lives, so that a rollback never comes
  // before the change it takes back; 0 once it landed (and in records of
  // xdpguard before this field).
  std::uint32_t making_pid = 0;
  std::uint64_t making_start = 0;
  // Set when it is over: "confirmed", "rolled back", or why it was dropped.
  std::string outcome;
  double outcome_unix = 0;
};

[[nodiscard]] std::string to_json(const Record& r);
// `what` names the file in messages ("/run/xdpguard/ns1-4.confirm: ...").
[[nodiscard]] Result<Record> from_json(std::string_view text, const std::string& what);

}  // namespace xdpguard::confirm
