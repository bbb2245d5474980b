// Logging: one spdlog logger to stderr. libbpf and libxdp messages are routed
// into it one level down (their warnings become debug lines), and the last
// lines they printed are kept so that a failed load can carry the verifier log
// tail in its Error instead of dumping it on success.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "core/result.h"

namespace xdpguard::log {

// Sets the level and installs the libbpf/libxdp print hooks. Idempotent.
void init(spdlog::level::level_enum level = spdlog::level::warn);

// Forgets the captured libbpf/libxdp output (call before an operation).
void clear_bpf_log();

// The last `lines` lines libbpf/libxdp printed, joined with " | " ("" if none).
std::string bpf_log_tail(std::size_t lines = 6);

// Runs a libbpf load (returns 0 or -errno) with the capture cleared first; a
// failure reads "load WHAT: <strerror>: <verifier log tail>".
[[nodiscard]] Result<void> bpf_load(std::string_view what, const std::function<int()>& load);

}  // namespace xdpguard::log
