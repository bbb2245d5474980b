// The classifier's plan: what the compiler makes of an ordered rule set
// before any instruction exists (docs/classifier.md). Pure data and a pure
// function: unit-tested, printed by `xdpguard rule plan`.
//
// The packet's family, protocol and "non-first fragment" bit pick a class;
// each class has a path: the groups of rules that can match its packets, in
// order of their first rule. A group is one of
//   Chain  straight-line compares, a few instructions per rule;
//   Trie4  a direct-indexed 16-8-8 trie on the IPv4 source or destination
//          address: 1 to 3 array reads give the few candidate rules;
//   Hash6  a hash table on an IPv6 address masked to one length (a band):
//          one probe gives the candidates;
//   Ports  a 65,536-entry array on the source or destination port.
// A table's candidates (at most kMaxCandidates, in rule order) are checked
// on their remaining fields with data from the table. First match wins
// across groups: each group can only improve on the best rule found so far,
// and a path stops at the first group whose first rule comes after it.
//
// Every rule lands in exactly one group. Tables are chosen greedily per
// partition (rules with the same family and protocol): the key that covers
// the most rules without overflowing a candidate list, again and again;
// what no table takes is a chain. Rules with a set, a limit or one of the
// FlowSpec matches (icmp-type, icmp-code, length, dscp, frag) are always
// chain rules: a table's candidates are checked on addresses, ports, flags
// and VLAN tags only.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "rules/rule.h"

namespace xdpguard::cls {

inline constexpr std::size_t kMaxCandidates = 8;   // rules one table lookup can yield
inline constexpr std::size_t kChainMax = 12;       // partitions this small stay chains
inline constexpr std::size_t kMinTable = 8;        // a table must take at least this many
inline constexpr std::uint16_t kOtherProto = 256;  // class of protocols no rule names

struct RuleEntry {
  RuleEntry() = default;
  RuleEntry(std::uint32_t i, rules::Rule r, std::string t = {})
      : id(i), rule(std::move(r)), text(std::move(t)) {}
  std::uint32_t id = 0;  // stable rule id: counter slot, what `rule del` takes
  rules::Rule rule;
  std::string text;  // rules::to_string(rule) when the caller has it; empty: made for the record
};

struct CompileContext {
  // Set name -> index in xg_set4/xg_set6, nullopt if no such set.
  std::function<std::optional<std::uint32_t>(const std::string&)> set_index;
  // Interface name -> ifindex for `redirect dev`, nullopt if none (the
  // rule is then compiled to drop its packets: CompiledRule::target_missing).
  std::function<std::optional<int>(const std::string&)> ifindex;
  // The limiter's clock is xg_ddos.fake_now (GuardConfig::fake_clock, tests).
  bool fake_clock = false;
  // How far the limiter's clock (the kernel's tick clock) jumps at once:
  // a bucket holds at least two ticks, or the tokens of a jump would not
  // fit (coarse_clock_tick_ns(); 0 for the exact test clock).
  std::uint64_t clock_tick_ns = 0;
  // What is on besides the rules and takes a verdict out of the classifier's
  // own path (docs/classifier.md, "Paying only for what is on"): a running
  // capture (every packet to the enforce stage, which records it) and the
  // SYN proxy (passed TCP packets to its stage). Off, the classifier does not
  // even look; Guard recompiles the rule set when either turns on or off.
  bool capture = false;
  bool synproxy = false;
  // Top talkers (telemetry/talkers.h): the classifier counts each IP packet
  // for its source address. Off, it has no code for them (Talkers::enable
  // recompiles).
  bool talkers = false;
};

enum class Field : std::uint8_t { Saddr, Daddr, Sport, Dport };

// The rule's source (Saddr) or destination (Daddr) address match.
const std::optional<rules::AddrMatch>& addr_of(const rules::Rule& r, Field f);
// An IPv4 address (an address's first 4 bytes) in host byte order.
std::uint32_t host_v4(const std::array<std::uint8_t, 16>& a);
enum class GroupKind : std::uint8_t { Chain, Trie4, Hash6, Ports };

// `vlan none|N [inner M]` as the generated code tests it: one compare of
// the packet's VLAN word (xdpguard_pkt.vlan, both tags loaded as one 32-bit
// value in memory order), (word & mask) == value. A compare, never a class
// or table key: VLAN matches are few in a rule set and one load and XOR,
// folded into the rule's one branch, costs less than a dispatch would.
struct VlanTest {
  std::uint32_t mask = 0, value = 0;
  bool operator==(const VlanTest&) const = default;
};
VlanTest vlan_test(const rules::VlanMatch& v);

// One rule as the code generator needs it; index = position in the rule set.
struct CompiledRule {
  std::uint32_t id = 0;
  std::string text;             // RuleEntry::text
  std::uint32_t action = 0;     // XDP_*
  std::uint32_t ifindex = 0;    // redirect target: an ifindex, or XDPGUARD_REDIRECT_XSK | fallback
  bool target_missing = false;  // `redirect dev` names no interface: action is XDP_DROP
  rules::Rule rule;
  std::uint8_t family = 0;  // 0 (any), 4, 6
  bool l4 = false;          // a port, TCP flag or ICMP type/code match: never matches a non-first fragment
  std::optional<std::uint32_t> saddr_set, daddr_set;  // set indices
  std::optional<VlanTest> vlan;                       // `vlan ...`
  // `log`: the sampling threshold (abi.h, "The verdict word"); 0: no log.
  std::uint32_t log = 0;
};

// What the classifier writes for the rule: its action, and its log
// threshold above it (abi.h).
std::uint32_t verdict_word(const CompiledRule& c);

struct GroupIndex;  // a table's builder (tables.h)

struct Group {
  GroupKind kind = GroupKind::Chain;
  Field field = Field::Saddr;  // the key of a table
  std::uint8_t family = 0;     // of its partition: 0, 4, 6
  std::optional<std::uint8_t> proto;
  std::uint8_t key_len = 0;          // Hash6: addresses masked to this length
  std::vector<std::uint32_t> rules;  // positions, ascending
  bool all_l4 = false;               // every rule needs L4: skipped for fragments
  std::uint32_t vlan_rules = 0;      // rules with a VLAN compare (a table checks it per candidate)
  // The table's builder as the planner left it, its rules added (a table
  // group made by make_plan): build_tables lays it out without adding them
  // again. Null: build_tables builds it.
  std::shared_ptr<const GroupIndex> index;
  std::uint32_t first() const { return rules.front(); }
};

struct ClassKey {
  std::uint8_t family = 4;
  std::uint16_t proto = kOtherProto;
  bool frag = false;
};

struct ClassPath {
  ClassKey key;
  std::vector<std::uint32_t> groups;  // indices into Plan::groups, by first rule
};

struct Plan {
  std::vector<CompiledRule> rules;
  std::vector<Group> groups;
  std::vector<ClassPath> classes;
  std::uint32_t default_action = 2;  // XDP_PASS
  bool fake_clock = false;           // CompileContext::fake_clock
  std::uint64_t clock_tick_ns = 0;   // CompileContext::clock_tick_ns
  bool capture = false;              // CompileContext::capture
  bool synproxy = false;             // CompileContext::synproxy
  bool talkers = false;              // CompileContext::talkers
  // Some rule is `redirect xsk`: the classifier redirects to the AF_XDP
  // socket itself (xg_xsks), no enforce stage in between.
  bool xsk = false;
};

// Fails (Result) on: redirect xsk (no AF_XDP consumer yet), an unknown set,
// more than XDPGUARD_MAX_RULES rules, more than XDPGUARD_MAX_BLOCK_RULES rules
// with `block`, rule ids out of range or repeated. A `redirect dev` to an
// interface that does not exist is no error here: its packets are dropped
// (Guard refuses such a rule when it is added).
[[nodiscard]] Result<Plan> make_plan(std::vector<RuleEntry> rules, std::uint32_t default_action,
                                     const CompileContext& ctx);

// Does group g hold rules that can match packets of class k?
bool group_applies(const Group& g, const ClassKey& k);

const char* kind_name(GroupKind k);
const char* field_name(Field f);

}  // namespace xdpguard::cls
