// `xdpguard rule plan`: what the compiler made of an interface's rule set
// (groups, the path of each packet class, instructions) beside what the
// kernel took when it was installed. Pure functions of Guard::PlanReport.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "guard/guard.h"

namespace xdpguard {

nlohmann::json plan_json(const Guard::PlanReport& r);
std::string plan_table(const Guard::PlanReport& r);

// The generated program, one instruction a line (for --dump).
std::string plan_dump(const Guard::PlanReport& r);

}  // namespace xdpguard
