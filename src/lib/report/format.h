// Output formats of the CLI: JSON documents (the `--json` contract in
// README, "stats") and human tables. Pure functions of the stats structs.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "guard/gc.h"
#include "guard/guard.h"
#include "xsk/diag.h"

namespace xdpguard {

nlohmann::json stats_json(const GuardStats& s);
std::string stats_table(const GuardStats& s);

// `rule list`: rules in order with counters, and the default.
nlohmann::json rules_json(const GuardStats& s);
std::string rules_table(const GuardStats& s);

nlohmann::json sets_json(const std::vector<SetRecord>& sets);
std::string sets_table(const std::vector<SetRecord>& sets);

// `status`: the attached interfaces, and under each the AF_XDP sockets
// serving its queues (`redirect xsk`'s consumers, those still open);
// `xsk_error` when they could not be listed, said instead.
nlohmann::json status_json(const std::vector<GuardStatus>& list,
                           const std::vector<xsk::BoundSocket>& sockets = {},
                           const std::string& xsk_error = "");
std::string status_table(const std::vector<GuardStatus>& list,
                         const std::vector<xsk::BoundSocket>& sockets = {},
                         const std::string& xsk_error = "");

// An AF_XDP socket's drop counters (XDP_STATISTICS, or the diag's copy),
// named as the kernel's struct xdp_statistics names them.
nlohmann::json xdp_statistics_json(const xsk::XdpStatistics& k);

// `status --all` and `gc`: pinned state of every network namespace.
nlohmann::json namespaces_json(const std::vector<PinnedNamespace>& list);
std::string namespaces_table(const std::vector<PinnedNamespace>& list);

// `upgrade`: each stage's program in force and this binary's, per interface.
nlohmann::json upgrade_json(const std::string& ifname, const UpgradeReport& r);
std::string upgrade_table(const std::string& ifname, const UpgradeReport& r);

// 1234567 -> "1.23M"; for the live demo table.
std::string human_count(std::uint64_t n);

}  // namespace xdpguard
