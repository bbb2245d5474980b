// The configuration file (TOML, read with toml++): per interface its attach
// mode, default action and ordered rules; named prefix sets shared by the
// interfaces' rules. Example:
//
//   # /etc/xdpguard.toml
//   [interfaces.eth1]
//   mode = "native"           # native | generic | auto (default: auto)
//   default = "pass"          # pass | drop: no rule matched (default: pass)
//   non-ip = "pass"           # pass | drop: frames that are not IPv4/IPv6 (default: pass)
//   malformed = "pass"        # pass | drop: truncated or malformed headers (default: pass)
//   limit-buckets = 65536     # per-source rate-limit buckets (LRU), docs/ddos.md
//   block-entries = 16384     # blocked source prefixes (hash)
//   rules = [                 # first match wins, as in an nft chain
//     "drop tcp dport 22 saddr 203.0.113.0/24",
//     "pass udp dport 53",
//     "drop saddr @blocklist",
//   ]
//
//   talkers = true            # count packets per source (top talkers; default false)
//
//   [interfaces.eth1.flood]   # flood detection (docs/telemetry.md): over the [flood] below
//   udp-pps = 50000
//
//   [interfaces.eth1.synproxy]   # XDP SYN cookies for these ports (docs/ddos.md; absent: off)
//   ports = [80, 443]
//   mss4 = 1460               # MSS, window scale and TTL of the SYN-ACKs (these are the defaults)
//   mss6 = 1440
//   wscale = 7
//   ttl = 64
//
//   [interfaces."eth0.100"]   # names with dots need quotes (TOML keys)
//   rules = ["drop ip6 icmpv6"]
//
//   [sets.blocklist]
//   file = "bad-prefixes.txt" # one CIDR per line; relative to this file's directory
//   [sets.office]
//   elements = ["192.0.2.0/24", "2001:db8::/32"]   # or inline (exactly one of the two)
//
//   [ddos]                    # auto-block (docs/ddos.md), for every interface of the file
//   never-block = ["192.0.2.53", "2001:db8:1::/48"]   # never blocked by a rule's `block`
//
//   [guard]                   # the operator's own networks
//   management = ["198.51.100.0/24"]   # never blocked either; the lockout guard keeps them reachable
//   lockout-guard = true                # refuse changes that cut the operator off (default)
//
//   [flowspec]                # `xdpguard run` enforces a GoBGP daemon's FlowSpec routes
//   gobgp = "127.0.0.1:50051" # its gRPC API (gobgp -u HOST -p PORT)
//   interfaces = ["eth1"]     # default: every interface of the file
//   position = "after-local"  # after-local (default) | before-local
//   max-rules = 10000         # rules the routes may take at most
//   stale-time = 60           # seconds a gone daemon's routes stay
//   state = "/run/xdpguard/flowspec.json"   # each route and what it became (default: none)
//
//   [flood]                   # flood detection for every interface of the file
//   syn-pps = 20000           # packets/s over which an attack starts (0 or left out: not watched)
//   udp-pps = 200000
//   icmp-pps = 5000           # ICMP and ICMPv6
//   frag-pps = 5000           # non-first IP fragments
//   hold = 10                 # seconds at or under the threshold before it ends (default 10)
//   top-sources = 5           # sources an attack-started event names (0-10, default 5)
//
// Loading is all or nothing: either a Config that is fully parsed and
// checked (every rule parses, every @set is defined, every set file parses,
// limits of rules/limits.h hold, no unknown key anywhere) or one Error
// (EINVAL, E2BIG for limits, errno for I/O) naming the file, the line and
// what was expected:
//   /etc/xdpguard.toml line 7: rule 2, column 6: expected tcp or udp before dport
// Lint findings (rules/lint.h) are not errors; they come back in
// Interface::warnings for the caller to print.
//
// Bounds, checked before toml++ sees the text (it recurses as deep as the
// file nests: a header [a.a.a...] of 100,000 parts overflowed an 8 MiB
// stack): a config file is a regular file of at most kMaxConfigBytes, and
// no table, key or value in it is nested more than kMaxConfigDepth levels
// deep (table header parts, dotted key parts, arrays and inline tables
// together); set files are regular files of at most
// rules::kMaxSetFileBytes. Errors name the line and column:
//   /etc/xdpguard.toml line 3, column 40: nested more than 32 levels deep ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "rules/lint.h"
#include "rules/rule.h"
#include "rules/set_file.h"

namespace xdpguard::config {

inline constexpr std::size_t kMaxConfigBytes = 16u << 20;  // 16 MiB
inline constexpr std::size_t kMaxConfigDepth = 32;         // xdpguard's own keys need 4

enum class Mode { Native, Generic, Auto };

// Flood detection's settings (docs/telemetry.md); a key left out is not set
// here (an interface's [interfaces.NAME.flood] falls back to [flood], that
// to xdpguard's defaults).
inline constexpr std::uint64_t kFloodMaxPps = 1'000'000'000'000ULL;  // more is a typo, not a link
inline constexpr std::uint32_t kFloodMaxHold = 3600;                 // seconds
inline constexpr std::uint32_t kFloodMaxTop = 10;                    // XDPGUARD_FLOOD_TOP
struct Flood {
  std::optional<std::uint64_t> syn_pps, udp_pps, icmp_pps, frag_pps;  // 0: not watched
  std::optional<std::uint32_t> hold;                                  // seconds, 1..kFloodMaxHold
  std::optional<std::uint32_t> top_sources;                           // 0..kFloodMaxTop
  bool any() const { return syn_pps || udp_pps || icmp_pps || frag_pps || hold || top_sources; }
  // `over`'s keys where it has them, this one's elsewhere.
  Flood overridden_by(const Flood& over) const;
  bool operator==(const Flood&) const = default;
};

struct RuleSource {
  std::string text;  // as written in the file
  rules::Rule rule;  // parsed and normalised
  std::size_t line = 0;
};

// [interfaces.NAME.synproxy]: the SYN proxy's settings (checked further by
// guard/synproxy_setup.h's validate_synproxy when applied).
struct Synproxy {
  std::vector<std::uint16_t> ports;
  std::uint16_t mss4 = 1460, mss6 = 1440;
  std::uint8_t wscale = 7, ttl = 64;
  std::size_t line = 0;
};

struct Interface {
  std::string name;
  Mode mode = Mode::Auto;
  rules::Action default_action = rules::Action::Pass;    // Pass or Drop
  rules::Action non_ip_action = rules::Action::Pass;     // Pass or Drop
  rules::Action malformed_action = rules::Action::Pass;  // Pass or Drop
  std::vector<RuleSource> rules;
  // Rate limits (docs/ddos.md): sizes of the per-source bucket and the
  // block list LRU maps; 0 = xdpguard's default.
  std::uint32_t limit_buckets = 0, block_entries = 0;
  // Flood detection: the file's [flood] with [interfaces.NAME.flood] over it.
  Flood flood;
  bool talkers = false;              // top talkers counted
  std::optional<Synproxy> synproxy;  // absent: the SYN proxy is off
  std::vector<std::string> sets;     // names of the sets its rules use, sorted, unique
  std::vector<rules::LintWarning> warnings;
  std::size_t line = 0;
};

struct Set {
  std::string name;
  std::string file;  // resolved path of `file`, empty for inline `elements`
  rules::PrefixList prefixes;
  std::size_t line = 0;
};

// [flowspec]: `xdpguard run` follows a GoBGP daemon's FlowSpec routes
// (flowspec/consumer.h; the settings of `xdpguard flowspec --gobgp`).
inline constexpr double kFlowspecMaxStale = 86400;  // seconds
struct Flowspec {
  std::string gobgp;                    // HOST:PORT of its gRPC API
  std::vector<std::string> interfaces;  // empty: every interface of the file
  bool before_local = false;            // position = "before-local" (default "after-local")
  std::size_t max_rules = 10000;
  double stale_s = 60;
  std::string state;  // the state file (empty: none)
  std::size_t line = 0;
  bool operator==(const Flowspec&) const = default;
};

struct Config {
  std::string source;                 // the config file's path (or given name)
  std::vector<Interface> interfaces;  // in file order
  std::vector<Set> sets;              // in file order
  Flood flood;                        // the top-level [flood] table
  // [ddos] never-block and [guard] management: prefixes a `block` never
  // blocks (docs/ddos.md).
  std::vector<rules::Prefix> never_block, management;
  // [guard] lockout-guard: changes that would cut the operator off (the SSH
  // session, ARP/ND, DHCP replies, management prefixes) are refused unless
  // --force (simulate/lockout.h). Default on.
  bool lockout_guard = true;
  std::optional<Flowspec> flowspec;  // absent: no FlowSpec consumer in the service

  const Interface* find_interface(std::string_view name) const;
  const Set* find_set(std::string_view name) const;
};

// How set files are read: given the resolved path, the file's contents.
// Tests and the fuzzer pass their own; the default reads the file system.
using FileReader = std::function<Result<std::string>(const std::string& path)>;

// Parses `text` as the config file `source` (used in messages and to resolve
// relative set file paths: relative to the directory of `source`).
[[nodiscard]] Result<Config> parse_config(std::string_view text, std::string_view source,
                                          const FileReader& read_file = {});
// Reads and parses the file at `path`.
[[nodiscard]] Result<Config> load_config(const std::string& path);

std::string_view mode_name(Mode m);

}  // namespace xdpguard::config
