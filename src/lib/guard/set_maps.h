// Internal to the guard module: a prefix set's member maps, built beside
// the live ones (guard_rules.cpp), for `set load` and `apply`.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "bpf/map.h"
#include "core/result.h"
#include "rules/rule.h"

namespace xdpguard::set_internal {

struct MemberMaps {
  MapFd v4, v6;  // inner maps for a slot of xg_set4 / xg_set6, in no slot yet
  std::size_t nv4 = 0, nv6 = 0;
};
// Both families' member maps of set `name`, under a fresh load stamp.
[[nodiscard]] Result<MemberMaps> member_maps(const std::string& name,
                                             const std::vector<rules::Prefix>& prefixes);

}  // namespace xdpguard::set_internal
