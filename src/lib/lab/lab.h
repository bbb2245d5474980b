// Lab: a private test network of two network namespaces ("client" and
// "server") joined by one veth pair, with addresses from 198.18.0.0/15 and
// fd00::/8. Used by `xdpguard demo`, the e2e tests and the benchmarks.
//
// Names are unique per process ("xg<pid><letter>"), so concurrent labs never
// collide. The destructor removes the namespaces (which destroys the veth
// pair); so does a SIGINT/SIGTERM/SIGHUP arriving while a lab is alive, using
// only async-signal-safe calls. create() also sweeps labs left behind by
// processes that died (e.g. SIGKILL).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/process.h"
#include "core/result.h"

namespace xdpguard {

struct LabHost {
  std::string netns;  // network namespace name (/run/netns/NAME)
  std::string veth;   // its end of the veth pair
  std::string ip4;    // 198.18.0.1 (client) / 198.18.0.2 (server)
  std::string ip6;    // fd00::1 / fd00::2
  std::string mac;
};

struct LabOptions {
  bool ipv6 = true;  // false: IPv6 disabled, so no ND/MLD frames at all
  // Names are "<prefix><pid><letter>"; one of kLabPrefixes (so that
  // sweep_stale_labs() finds them again).
  std::string prefix = "xg";
};

class Lab {
 public:
  [[nodiscard]] static Result<Lab> create(const LabOptions& opts = {});
  Lab(Lab&& o) noexcept;
  Lab& operator=(Lab&&) = delete;
  Lab(const Lab&) = delete;
  ~Lab();

  const LabHost& client() const { return client_; }
  const LabHost& server() const { return server_; }
  const std::string& prefix() const { return prefix_; }

  // argv run inside host's namespace (ip netns exec).
  std::vector<std::string> in(const LabHost& h, std::vector<std::string> argv) const;
  [[nodiscard]] Result<std::string> exec(const LabHost& h, std::vector<std::string> argv,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  // The veth's kernel counters (rx/tx packets and bytes), from its namespace.
  struct LinkCounters {
    std::uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
  };
  [[nodiscard]] Result<LinkCounters> link_counters(const LabHost& h) const;

  // Removes the lab now (idempotent).
  void destroy();

 private:
  Lab() = default;
  std::string prefix_;
  LabHost client_, server_;
  bool alive_ = false;
};

// Name prefixes of labs: "xg" (default), "xd10" (the DDoS tests), "xt11" (the telemetry tests),
// "xf11" (the flood detection tests), "xv16" (the evasion tests), "xb21" (the FlowSpec
// tests and bench: their controller's namespace is "xb21<pid>-ctl").
inline constexpr const char* kLabPrefixes[] = {"xg", "xd10", "xt11", "xf11", "xv16", "xb21"};

// Deletes labs of dead processes (names "<prefix><pid>..." whose pid is gone).
void sweep_stale_labs();

}  // namespace xdpguard
