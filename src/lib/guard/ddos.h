// What Guard says about its DDoS state (docs/ddos.md): blocked sources,
// limiter and SYN-proxy counters, the SYN proxy's configuration. Plain
// data, filled by guard_ddos.cpp and guard_synproxy.cpp, printed by report/.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bpf/abi.h"
#include "rules/rule.h"

namespace xdpguard {

// One blocked source prefix (xg_blocked), as `blocked list` shows it.
struct BlockedEntry {
  rules::Prefix prefix;
  std::uint64_t expires_in_ns = 0;  // time left
  std::uint64_t age_ns = 0;         // since it was blocked
  std::uint64_t packets = 0;        // dropped by the block
  std::uint32_t rule = 0;           // rule id that blocked it
};

// Limiter and block list state, summed over CPUs.
struct DdosStats {
  std::array<xdpguard_counter, XDPGUARD_DDOS_MAX> counters{};
  std::uint64_t buckets = 0;           // per-source buckets in the LRU map now
  std::uint64_t bucket_capacity = 0;   // its size (attach --limit-buckets)
  std::uint64_t bucket_evictions = 0;  // created - present: taken by the LRU
  std::uint64_t blocked = 0;           // unexpired blocked prefixes
  std::uint64_t block_capacity = 0;
  bool synproxy = false;  // the SYN proxy is on
};

// Whom the SYN proxy answers for: frames to the interface's MAC, to the
// host's local addresses (docs/ddos.md "SYN proxy").
struct SynproxyIdentity {
  std::array<std::uint8_t, 6> mac{};
  std::vector<rules::Prefix> local;  // addresses (or prefixes of them)
};

// The SYN proxy's settings (`synproxy enable`).
struct SynproxyConfig {
  std::vector<std::uint16_t> ports;
  std::uint16_t mss4 = 1460, mss6 = 1440;
  std::uint8_t wscale = 7;
  std::uint8_t ttl = 64;
  // Unset (the CLI): the interface's MAC and the namespace's local routes,
  // read by enable. In-process programs (tests) have no interface: they
  // say whom they stand for.
  std::optional<SynproxyIdentity> identity;
};

struct SynproxyStatus {
  int state = XDPGUARD_SYNPROXY_OFF;         // XDPGUARD_SYNPROXY_*
  bool active = false;                       // passed TCP goes to the stage
  bool stage = false;                        // the stage is in its xg_progs slot
  bool host = false;                         // enable set up nftables and sysctls
  std::string table;                         // the nftables table (inet), if host
  std::vector<std::string> changed_sysctls;  // "name (was N)": the namespace's, restored by the last disable
  std::vector<int> namespace_ifaces;         // interfaces of the namespace registered with them
  SynproxyIdentity identity;                 // what it answers for (addresses as far as pinned)
  SynproxyConfig config;
};

const char* ddos_counter_name(int idx);

}  // namespace xdpguard
