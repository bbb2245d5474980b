// The systemd notification protocol (sd_notify(3)), without libsystemd: one
// datagram per state change to the AF_UNIX socket in $NOTIFY_SOCKET (a path,
// or an abstract name written with a leading '@'). Nothing when the variable
// is unset (not started by systemd, or by a test that does not listen).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/result.h"

namespace xdpguard::service {

// Sends `state` ("READY=1\nSTATUS=...") if $NOTIFY_SOCKET is set.
[[nodiscard]] Result<void> notify(const std::string& state);
// $WATCHDOG_USEC when it is for this process ($WATCHDOG_PID unset or ours):
// the service pings (WATCHDOG=1) at half of it.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace xdpguard::service
