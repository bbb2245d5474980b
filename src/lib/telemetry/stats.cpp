#include "telemetry/stats.h"

#include <fmt/format.h>

#include "telemetry/flood_monitor.h"
#include "telemetry/talkers.h"

namespace xdpguard::telemetry {

const char* reader_name(xdpguard_reader kind) {
  switch (kind) {
    case XDPGUARD_READER_EVENTS: return "events";
    case XDPGUARD_READER_CAPTURE: return "capture";
    default: return "";
  }
}

nlohmann::json counters_json(const TmCounters& c, const ReaderState& r) {
  nlohmann::json reader = nullptr;
  if (r.kind != XDPGUARD_READER_NONE && r.alive) reader = {{"kind", reader_name(r.kind)}, {"pid", r.pid}};
  return {{"records", c.records},           {"lost", c.lost},
          {"sampled_out", c.sampled_out},   {"unread", c.unread},
          {"record_bytes", c.record_bytes}, {"reader", reader}};
}

std::string counters_line(const TmCounters& c, const ReaderState& r) {
  std::string s = fmt::format("  records: {} written, {} lost (ring buffer full), {} sampled out, {} unread",
                              c.records, c.lost, c.sampled_out, c.unread);
  if (r.kind != XDPGUARD_READER_NONE && r.alive)
    s += fmt::format("; read by {} (pid {})", reader_name(r.kind), r.pid);
  return s + "\n";
}

Result<void> add_stats_json(nlohmann::json& stats, const Guard& g) {
  auto maps = XG_TRY(TelemetryMaps::open(g));
  stats["telemetry"] = counters_json(XG_TRY(maps.counters()), XG_TRY(maps.reader()));
  stats["top_talkers"] = XG_TRY(talkers_json(g));
  stats["flood"] = flood_status_json(XG_TRY(flood_status(g)), Clock::now());
  return {};
}

Result<std::string> stats_lines(const Guard& g) {
  auto maps = XG_TRY(TelemetryMaps::open(g));
  return counters_line(XG_TRY(maps.counters()), XG_TRY(maps.reader())) +
         flood_status_line(XG_TRY(flood_status(g)));
}

}  // namespace xdpguard::telemetry
