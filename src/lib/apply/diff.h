// What `xdpguard apply` changes on one interface, from what the interface
// enforces (Guard::current_state) and what the config file wants. Pure:
// unit-tested; `apply --diff` prints it, `apply` prints its summary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "guard/guard.h"
#include "telemetry/flood.h"

namespace xdpguard::apply {

struct RuleChange {
  bool added = false;        // else removed
  std::uint32_t id = 0;      // removed: its id (added rules get theirs on install)
  std::size_t position = 0;  // added: its place in the new rule set (0 = first); removed: in the old
  std::string text;          // canonical
};

struct SetChange {
  enum Kind { Added, Changed, Removed } kind = Added;
  std::string name;
  std::uint64_t old_count = 0, new_count = 0;  // members (IPv4 + IPv6)
};

template <class T>
using Change = std::optional<std::pair<T, T>>;  // (from, to), when it changes

// Beside the rule set: top talkers, and the SYN proxy (its settings; none:
// off). What the file wants, and what an interface has.
struct Extras {
  bool talkers = false;
  std::optional<SynproxyConfig> synproxy;  // identity unset
};
// "off", or "ports 80,443 (mss 1460/1440, wscale 7, ttl 64)": equal texts,
// equal settings (ports sorted).
std::string synproxy_settings_text(const std::optional<SynproxyConfig>& sp);

struct InterfaceDiff {
  std::string iface;
  enum class Op { Change, Attach, Detach } op = Op::Change;
  std::vector<RuleChange> rules;  // removed ones first (old order), then added ones (new order)
  std::size_t kept = 0;           // rules whose text stays: ids and counters kept
  bool reordered = false;         // kept rules in another order
  Change<std::uint32_t> default_action, non_ip_action, malformed_action;  // XDP_* values
  std::vector<SetChange> sets;
  std::size_t sets_unchanged = 0;
  Change<std::vector<rules::Prefix>> never_block;
  Change<telemetry::FloodConfig> flood;
  Change<bool> talkers;
  Change<std::string> synproxy;  // synproxy_settings_text of each
  std::size_t new_rules = 0;     // the rule count after the apply

  bool empty() const;
};

// The changes from `cur` to `want`; `want_canon` are want.rules in canonical
// form (what the interface would list), `want_counts` the member count of
// each of want.sets.
[[nodiscard]] InterfaceDiff diff_state(const CurrentState& cur, const DesiredState& want,
                                       const std::vector<std::string>& want_canon,
                                       const telemetry::FloodConfig& cur_flood,
                                       const telemetry::FloodConfig& want_flood, const Extras& cur_x = {},
                                       const Extras& want_x = {});

// `apply --diff`: one line per change, "+"/"-" for rules, "~" for settings:
//   veth1: 2 rules added, 1 removed, 8 kept (ids and counters kept)
//   - rule 4: pass tcp dport 22
//   + rule at 3: drop udp dport 53
//   ~ default: pass -> drop
//   ~ set blocklist: 1000 -> 1002 members (loaded again)
//   ~ synproxy: off -> ports 80,443 (mss 1460/1440, wscale 7, ttl 64)
[[nodiscard]] std::string format_diff(const InterfaceDiff& d);
// The one line `apply` prints per interface ("veth1: unchanged" when so).
[[nodiscard]] std::string summary_line(const InterfaceDiff& d);

}  // namespace xdpguard::apply
