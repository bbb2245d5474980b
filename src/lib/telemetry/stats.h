// What `xdpguard stats` shows of telemetry: the record counters (records,
// lost, sampled out, unread), the reader, (when enabled) the top talkers,
// and flood detection ("flood": thresholds, counters, attacks). Added to the stats JSON document as
// "telemetry" and as lines under the stats table.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "guard/guard.h"
#include "telemetry/maps.h"

namespace xdpguard::telemetry {

nlohmann::json counters_json(const TmCounters& c, const ReaderState& r);
std::string counters_line(const TmCounters& c, const ReaderState& r);

// stats_json(...)["telemetry"] = ...; for an attached interface.
[[nodiscard]] Result<void> add_stats_json(nlohmann::json& stats, const Guard& g);
[[nodiscard]] Result<std::string> stats_lines(const Guard& g);

const char* reader_name(xdpguard_reader kind);

}  // namespace xdpguard::telemetry
