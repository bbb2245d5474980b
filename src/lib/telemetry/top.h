// `xdpguard top`: rates per action and per rule between two samples of an
// interface's counters, as one text frame (sorted by packet rate). Pure
// apart from sample(); the CLI redraws the frame every interval (ANSI) or
// prints one (`--once`).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>
#include <string>

#include "core/result.h"
#include "guard/guard.h"
#include "telemetry/maps.h"
#include "telemetry/talkers.h"

namespace xdpguard::telemetry {

struct TopSample {
  GuardStats stats;
  TmCounters records;
  std::optional<std::vector<Talker>> talkers;  // when top talkers are on
  std::uint64_t mono_ns = 0;
};

[[nodiscard]] Result<TopSample> sample(const Guard& g, const TelemetryMaps& maps,
                                       const Talkers* talkers = nullptr);

// The frame for the interval from `a` to `b` (b later), at most `rows` rule lines.
std::string top_frame(const std::string& ifname, const TopSample& a, const TopSample& b,
                      std::size_t rows = 20);

// 1234567 -> "1.23M", 950 -> "950" (SI, three significant digits).
std::string si(double v);

}  // namespace xdpguard::telemetry
