// Prometheus metrics (docs/telemetry.md): every counter of every attached
// interface of the current network namespace, read from the pinned maps by
// collect() (so `metrics` runs beside any other xdpguard command), in the
// Prometheus text exposition format (version 0.0.4). The server that serves
// it, at most one collect() a second: telemetry/metrics_server.h.
//
//   xdpguard_packets_total / _bytes_total            {interface, action}
//   xdpguard_rule_packets_total / _bytes_total       {interface, rule_id, action}
//   xdpguard_parse_packets_total / _bytes_total      {interface, outcome}
//   xdpguard_pipeline_errors_packets_total / _bytes  {interface, error}
//   xdpguard_records_total, _records_lost_total, _records_sampled_out_total,
//   xdpguard_records_unread_total, _record_bytes_total {interface}
//   xdpguard_rules, xdpguard_interface_info           gauges
//   xdpguard_flood_packets_total / _bytes_total       {interface, protocol}
//   xdpguard_flood_threshold_packets_per_second, xdpguard_flood_rate_packets_per_second,
//   xdpguard_attack_active                            gauges {interface, protocol}
//   xdpguard_attacks_total {interface, protocol}, xdpguard_flood_detector_up {interface}
//
// collect() fails only when the namespace's pins cannot be listed; an
// interface that cannot be read is left out and counted in
// xdpguard_scrape_errors_total.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "guard/guard.h"
#include "telemetry/flood.h"
#include "telemetry/maps.h"

namespace xdpguard::telemetry {

struct InterfaceMetrics {
  GuardStats stats;  // ifname and mode set
  TmCounters records;
  FloodStatus flood;
};

struct Snapshot {
  std::vector<InterfaceMetrics> interfaces;
  std::uint64_t scrape_errors = 0;  // interfaces that could not be read, this scrape
};

[[nodiscard]] Result<Snapshot> collect();

// The exposition text. Pure.
std::string metrics_text(const Snapshot& s, std::uint64_t scrape_errors_total);

// Where `metrics --listen` listens, as Prometheus exporters take it:
//   127.0.0.1:9435   an address
//   [::1]:9435       an IPv6 address, in brackets
//   localhost:9435   a host name: every address it resolves to
//   :9435            every address of the host (host "")
// Fails with "listen address 'X': ..." (no port, port 0 or > 65535, an
// unbracketed IPv6 address). The server side: telemetry/metrics_server.h.
struct ListenAddress {
  std::string host;  // "" for all addresses
  int port = 0;
};
[[nodiscard]] Result<ListenAddress> parse_listen(const std::string& text);

inline constexpr const char* kDefaultListen = "127.0.0.1:9435";

}  // namespace xdpguard::telemetry
