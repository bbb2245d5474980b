// Flood detection against the kernel (docs/telemetry.md, "Flood detection").
//
// FloodMaps owns the fds of one interface's flood state: the thresholds
// (xg_flood_cfg), the state the detector publishes (xg_flood) and the
// per-CPU counters (xg_percpu). Failure: "open <pin>: <strerror>", an ABI
// size mismatch, or "read/write xg_flood...: <strerror>".
//
// FloodMonitor runs the FloodDetector for one interface, or follows the
// process that does. One process detects per attachment: the holder of an
// flock on /run/xdpguard/ns<netns>-<ifindex>-<xg_meta id>.flood.lock
// (guard/lock.h; the kernel drops it when the process dies). tick() fails
// with "xdpguard was detached" once the attachment is no longer in force
// (checked once a second). The detector samples the counters (and,
// while top talkers are on and a threshold is set, the per-source counts)
// once a second and publishes its state in xg_flood with its pid and the
// sample's time; a monitor that does not hold the lock reads that state
// and turns its changes into the same events, and takes the lock over when
// it comes free, going on from the published state (no attack announced
// twice, none lost). Owns its maps, the lock and the detector; stop() (and
// the destructor) clears the published pid.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <optional>
#include <vector>

#include "bpf/map.h"
#include "core/result.h"
#include "core/unique_fd.h"
#include "guard/guard.h"
#include "telemetry/flood.h"
#include "telemetry/reader.h"
#include "telemetry/talkers.h"

namespace xdpguard::telemetry {

inline constexpr std::chrono::seconds kFloodInterval{1};
// A published state older than this has no detector behind it.
inline constexpr std::chrono::seconds kFloodStale{3};

class FloodMaps {
 public:
  FloodMaps() = default;
  [[nodiscard]] static Result<FloodMaps> open(const Guard& g);
  [[nodiscard]] static Result<FloodMaps> from_program(const GuardProgram& p);

  [[nodiscard]] Result<FloodConfig> config() const;
  [[nodiscard]] Result<void> set_config(const FloodConfig& c) const;
  [[nodiscard]] Result<xdpguard_flood_state> state() const;
  [[nodiscard]] Result<void> publish(const xdpguard_flood_state& st) const;
  // Packets and bytes per protocol now, summed over CPUs.
  [[nodiscard]] Result<std::array<xdpguard_counter, kFloodProtos>> counters() const;

 private:
  [[nodiscard]] static Result<FloodMaps> wrap(MapFd cfg, MapFd state, MapFd percpu);
  MapFd cfg_;
  MapFd state_;
  PerCpuMap<std::uint32_t, xdpguard_percpu> percpu_;
};

// Does a detector stand behind the published state at `now_ns`?
bool detector_alive(const xdpguard_flood_state& st, std::uint64_t now_ns);

// Thresholds, counters and published state of an attached interface (what
// `flood`, `stats` and `metrics` show).
[[nodiscard]] Result<FloodStatus> flood_status(const Guard& g);

class FloodMonitor {
 public:
  FloodMonitor();
  FloodMonitor(FloodMonitor&&) noexcept;
  FloodMonitor& operator=(FloodMonitor&&) noexcept;
  ~FloodMonitor();

  // `talkers`: the interface's top talkers (the attack's sources); `lock`:
  // the interface (none: in-process, this monitor always detects).
  [[nodiscard]] static Result<FloodMonitor> open(FloodMaps maps, std::optional<Talkers> talkers,
                                                 const std::optional<ReaderLockId>& lock);

  // The attacks going on as the published state says, as "started" events
  // (what `events` prints first).
  std::vector<FloodEvent> in_progress() const;

  // Call often (every 250 ms or less); `now_ns` is CLOCK_MONOTONIC. Detects
  // (a sample when a second has passed) or follows; returns the events.
  [[nodiscard]] Result<std::vector<FloodEvent>> tick(std::uint64_t now_ns);

  bool detecting() const;
  // Stops detecting: the published pid is cleared, the lock released.
  [[nodiscard]] Result<void> stop();

 private:
  struct State;
  std::unique_ptr<State> st_;
};

// Detection for every attached interface of the current network namespace
// (`metrics --listen`): a FloodMonitor per interface, made when it appears
// (or is attached again: a new program id) and dropped when it goes.
class FloodService {
 public:
  using OnEvent = std::function<void(const std::string& ifname, const FloodEvent& e)>;
  // Call every 250 ms or less; interfaces are looked up once a second. An
  // interface that fails is left out until it is looked up again (warned).
  [[nodiscard]] Result<void> tick(std::uint64_t now_ns, const OnEvent& on_event);

 private:
  struct Entry {
    std::string ifname;
    std::uint32_t prog_id = 0;
    FloodMonitor monitor;
  };
  std::map<int, Entry> monitors_;  // by ifindex
  std::uint64_t listed_ns_ = 0;
};

}  // namespace xdpguard::telemetry
