// Output formats of the CLI: JSON documents (the `--json` contract in
// PRODUCT.md) and human tables. Pure functions of the stats structs.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "guard/guard.h"

namespace xdpguard {

nlohmann::json stats_json(const GuardStats& s);
std::string stats_table(const GuardStats& s);

nlohmann::json status_json(const std::vector<GuardStatus>& list);
std::string status_table(const std::vector<GuardStatus>& list);

// 1234567 -> "1.23M"; for the live demo table.
std::string human_count(std::uint64_t n);

}  // namespace xdpguard
