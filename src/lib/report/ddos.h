// Output of the DDoS parts of the CLI (docs/ddos.md): the "ddos" object of
// `stats --json` and its lines in the table, and `blocked list`. Pure
// functions of guard/ddos.h's structs.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "guard/ddos.h"

namespace xdpguard {

// {"limit_over": {"packets": .., "bytes": ..}, ..., "buckets": {"used": ..,
// "capacity": .., "evicted": ..}, "block_list": {"prefixes": .., "capacity": ..}}
nlohmann::json ddos_json(const DdosStats& s);
// Indented lines for `stats`; empty when nothing DDoS-related ever happened.
std::string ddos_table(const DdosStats& s);

// {"interface": IFACE, "blocked": [{"prefix": "198.18.1.0/24", "expires_in_ms": ..,
//  "age_ms": .., "packets": .., "rule": ID}, ...]}
nlohmann::json blocked_json(const std::string& ifname, const std::vector<BlockedEntry>& list);
std::string blocked_table(const std::vector<BlockedEntry>& list);

// `synproxy status`: {"interface": .., "state": "on"|"off"|"changing", "ports": [..],
//  "mss4": .., "mss6": .., "wscale": .., "ttl": .., "nft_table": "inet NAME"|null,
//  "changed_sysctls": [..], "counters": {"syn_cookies": {"packets": .., "bytes": ..}, ...}}
nlohmann::json synproxy_json(const std::string& ifname, const SynproxyStatus& st, const DdosStats& s);
std::string synproxy_text(const std::string& ifname, const SynproxyStatus& st, const DdosStats& s);

}  // namespace xdpguard
