// Flood detection, the pure part (docs/telemetry.md, "Flood detection").
// FloodDetector is fed samples of an interface's per-protocol packet
// counters (SYN, UDP, ICMP, fragments: enum xdpguard_flood_proto) with their
// CLOCK_MONOTONIC times, turns them into rates, and compares each with its
// threshold:
//
//   - an attack starts in the first interval whose rate is over the
//     threshold (event "attack started": rate, threshold, top sources);
//   - it ends once the rate has stayed at or under the threshold for
//     `hold_s` seconds (event "attack ended": duration, peak rate, packets);
//     an interval over the threshold before then continues the same attack,
//     so one quiet second in a flood does not end it and start another;
//   - a counter that went backwards (the program was attached again, so
//     the counters restarted) gives no rate for that interval: nothing
//     starts, ends or counts then; the next interval measures from the new
//     values;
//   - removing a protocol's threshold ends its attack at once.
//
// Its state is the ABI's xdpguard_flood_state, so that the detector running
// for an interface publishes it as it is (xg_flood) and another process can
// take over where it stopped (resume). No I/O, no clock: unit-tested.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/abi.h"
#include "config/config.h"
#include "telemetry/record.h"

namespace xdpguard::telemetry {

inline constexpr std::size_t kFloodProtos = XDPGUARD_FLOOD_MAX;
inline constexpr std::uint32_t kFloodDefaultHold = 10;  // seconds
inline constexpr std::uint32_t kFloodDefaultTop = 5;    // sources
static_assert(config::kFloodMaxTop == XDPGUARD_FLOOD_TOP);

// "syn", "udp", "icmp", "fragment" (metric labels, JSON, config keys' stems).
const char* flood_proto_name(std::size_t proto);

struct FloodConfig {
  std::array<std::uint64_t, kFloodProtos> pps{};  // threshold, packets/s; 0: not watched
  std::uint32_t hold_s = kFloodDefaultHold;
  std::uint32_t top = kFloodDefaultTop;  // sources named in "attack started" (<= XDPGUARD_FLOOD_TOP)

  bool watching() const;
  bool operator==(const FloodConfig&) const = default;
  // This one with the keys the config file (or the command line) sets.
  FloodConfig overridden_by(const config::Flood& f) const;
  // The map element (`configured` 0: the defaults above).
  static FloodConfig from_abi(const xdpguard_flood_cfg& c);
  xdpguard_flood_cfg to_abi() const;
};

// One look at the counters.
struct FloodSample {
  std::uint64_t mono_ns = 0;
  std::array<std::uint64_t, kFloodProtos> packets{};
  // The busiest sources since the previous sample, busiest first (at most
  // XDPGUARD_FLOOD_TOP), and where they came from; named in an attack that
  // starts at this sample.
  xdpguard_flood_sources sources_from = XDPGUARD_FLOOD_SRC_TALKERS_OFF;
  std::vector<xdpguard_flood_source> sources;
};

struct FloodEvent {
  bool started = false;  // else ended
  std::size_t proto = 0;
  std::uint64_t at_ns = 0;         // the sample that decided it
  xdpguard_flood_attack attack{};  // the protocol's attack as it stood then
};

class FloodDetector {
 public:
  explicit FloodDetector(const FloodConfig& cfg = {}) : cfg_(cfg) {}
  // Goes on from a published state: its last sample is the baseline, its
  // attacks go on (an attack it had is not announced again).
  static FloodDetector resume(const FloodConfig& cfg, const xdpguard_flood_state& st);

  // New thresholds take effect from the next sample.
  void configure(const FloodConfig& cfg) { cfg_ = cfg; }
  const FloodConfig& config() const { return cfg_; }

  // The events this sample decides, in protocol order. The first sample is
  // only the baseline; a sample not later than the last one is ignored.
  std::vector<FloodEvent> sample(const FloodSample& s);

  // What to publish (pid 0: the caller sets it).
  const xdpguard_flood_state& state() const { return st_; }

 private:
  FloodConfig cfg_;
  xdpguard_flood_state st_{};
};

// ---- what `events` and the other commands print --------------------------

// An interface's flood detection as the pinned maps say.
struct FloodStatus {
  FloodConfig config;
  std::array<xdpguard_counter, kFloodProtos> counters{};  // packets and bytes so far
  xdpguard_flood_state state{};                           // as last published
  bool detector = false;                                  // a detector runs (else the rates are old or none)
  std::uint64_t now_ns = 0;
};
// `flood --json`, and "flood" in `stats --json`.
nlohmann::json flood_status_json(const FloodStatus& s, const Clock& clock);
// `flood`: a table; `stats`: one line.
std::string flood_status_table(const FloodStatus& s, const std::string& ifname, const Clock& clock);
std::string flood_status_line(const FloodStatus& s);

// The attack's top sources: [{"address": ..., "pps": ...}], or null when
// they are unknown (then `note` says why).
nlohmann::json flood_sources_json(const xdpguard_flood_attack& a);
std::string flood_sources_note(const xdpguard_flood_attack& a, const std::string& ifname);

// 12:00:05.000123 attack started: udp flood on veth1, 812345 pps over the threshold of 10000 pps ...
std::string flood_event_line(const FloodEvent& e, const std::string& ifname, const Clock& clock);
// {"type":"attack_started"|"attack_ended","time":...,"interface":...,"protocol":"udp",...}
nlohmann::json flood_event_json(const FloodEvent& e, const std::string& ifname, const Clock& clock);

}  // namespace xdpguard::telemetry
