// The telemetry maps of one interface (docs/telemetry.md): the ring buffer
// of records, the reader's request and the per-CPU telemetry counters.
// Opened from an attached interface's pins (beside any other command), or
// from an in-process GuardProgram (tests, benchmarks). Owns its map fds.
//
// Failure: "open <pin>: <strerror>", or an ABI size mismatch.
#pragma once

#include <cstdint>
#include <string>

#include "bpf/abi.h"
#include "bpf/clock.h"  // monotonic_ns()
#include "bpf/map.h"
#include "core/result.h"
#include "guard/guard.h"

namespace xdpguard::telemetry {

// Per-CPU counters folded (xdpguard_tm_stats summed over CPUs).
struct TmCounters {
  std::uint64_t records = 0, lost = 0, sampled_out = 0, unread = 0, record_bytes = 0;
};

// The reader's request as the kernel sees it (element 0 of xg_telemetry).
struct ReaderState {
  xdpguard_reader kind = XDPGUARD_READER_NONE;
  std::uint32_t pid = 0;
  bool capture = false;
  bool alive = false;  // its lease has not run out
};

class TelemetryMaps {
 public:
  TelemetryMaps() = default;
  // The pins of an attached interface (Guard::open).
  [[nodiscard]] static Result<TelemetryMaps> open(const Guard& g);
  // The maps of a loaded, in-process guard object.
  [[nodiscard]] static Result<TelemetryMaps> from_program(const GuardProgram& p);

  int events_fd() const { return events_.fd(); }
  int control_fd() const { return control_.fd(); }

  [[nodiscard]] Result<TmCounters> counters() const;
  [[nodiscard]] Result<ReaderState> reader() const;
  // Element 0 of xg_telemetry, read and written under its spin lock.
  [[nodiscard]] Result<xdpguard_telemetry> read_control() const;
  [[nodiscard]] Result<void> write_control(const xdpguard_telemetry& v) const;

 private:
  [[nodiscard]] static Result<TelemetryMaps> wrap(MapFd events, MapFd control, MapFd stats);
  MapFd events_;
  MapFd control_;
  PerCpuMap<std::uint32_t, xdpguard_tm_stats> stats_;
};

}  // namespace xdpguard::telemetry
