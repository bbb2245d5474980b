// Top talkers (docs/telemetry.md): per-source packet and byte counts the
// classifier keeps while they are on for the interface (opt-in: an LRU hash
// lookup per IP packet; off, the classifier has no code for them). Owns its
// two map fds (xg_talkers, xg_talk_on).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/abi.h"
#include "bpf/map.h"
#include "core/result.h"
#include "guard/guard.h"

namespace xdpguard::telemetry {

struct Talker {
  xdpguard_talker_key key{};
  std::uint64_t packets = 0, bytes = 0;
  std::string address() const;
};

class Talkers {
 public:
  [[nodiscard]] static Result<Talkers> open(const Guard& g);
  [[nodiscard]] static Result<Talkers> from_program(const GuardProgram& p);

  [[nodiscard]] Result<bool> enabled() const;
  // On: counts start from zero. Off: counting stops, the counts are removed.
  // Either way `g`'s rule set is compiled again, with or without the code
  // that counts (the caller holds g's lock): on, before the flag is set; off,
  // after it is cleared. If the compile fails, talkers stay off.
  [[nodiscard]] Result<void> enable(bool on, Guard& g);
  // Every source counted, most packets first (ties: most bytes).
  [[nodiscard]] Result<std::vector<Talker>> read() const;

 private:
  [[nodiscard]] Result<void> clear();
  Map<std::uint32_t, std::uint32_t> on_;
  PerCpuMap<xdpguard_talker_key, xdpguard_counter> counts_;
};

// stats --json "top_talkers": null when off, else the first `n` sources.
[[nodiscard]] Result<nlohmann::json> talkers_json(const Guard& g, std::size_t n = 10);

}  // namespace xdpguard::telemetry
