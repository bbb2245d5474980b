// `xdpguard simulate` (docs/simulate.md): every frame of a capture through
// the real compiled pipeline of a configuration, without attaching anything.
//
// The pipeline is xdpguard's own (the parser, the classifier compiled from
// the config section's rules and sets, enforce, the limiter), loaded in this
// process and never attached: each frame runs once in BPF_PROG_TEST_RUN,
// and the verdict is what the program returned; the rule that decided is
// what the pipeline wrote in its per-CPU entry (the same slot it counts),
// read in place: loaded for simulation (GuardConfig::simulation), that entry
// is a mapped one-entry array, so a frame costs one system call.
// The limiter's clock is the frames' own timestamps (the pipeline is loaded
// with the user-space driven clock), so rate limits and the blocks they make
// behave as they would have at the capture's pace, from fresh state.
//
// What is not simulated, and said so (Simulator::notes): the SYN proxy (its
// answers depend on the host's sockets and conntrack), frames longer than
// one XDP buffer or shorter than an Ethernet header.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/config.h"
#include "simulate/capture_file.h"
#include "core/result.h"
#include "bpf/system.h"
#include "bpf/map.h"
#include "guard/guard.h"

namespace xdpguard::simulate {

// What happened to one frame.
struct Verdict {
  bool simulated = true;     // false: not run (why: `skipped`)
  std::string skipped;       // "frame truncated by the capture (snaplen)", ...
  std::uint32_t action = 0;  // XDP_* the pipeline returned
  // The rule that decided: its id; 0 the default action; nullopt for frames
  // no rule judges (non-IP, malformed or unsafe: the [interfaces] actions).
  std::optional<std::uint32_t> rule;
};

// Verdict::rule of a rule that Simulator::Edit added (it has no id yet).
inline constexpr std::uint32_t kNewRule = 0xfffffffe;

// "pass", "drop", "tx", "redirect", "aborted".
std::string_view action_name(std::uint32_t action);

class Simulator {
 public:
  // The pipeline with `section`'s state in force: rules, sets, default,
  // non-IP and malformed actions, never-block prefixes, limiter sizes.
  [[nodiscard]] static Result<Simulator> from_config(const config::Config& conf,
                                                     const config::Interface& section);

  // The pipeline with what `iface` enforces now: its rules (ids kept), its
  // sets (their member maps shared, read-only), default, non-IP and
  // malformed actions, never-block prefixes and limiter sizes. Limits,
  // blocks and counters start fresh; the interface is not touched.
  [[nodiscard]] static Result<Simulator> from_interface(const Interface& iface);

  // The pipeline with `want` in force, loaded as `cfg` says (the default,
  // non-IP and malformed actions, the limiter's sizes).
  [[nodiscard]] static Result<Simulator> from_state(const GuardConfig& cfg, const DesiredState& want);

  // What `iface` would enforce after a `rule add`, `rule del` or `set load`
  // (the lockout guard's "after"): from_interface with that change made to
  // the copy. A rule it adds decides as kNewRule.
  struct Edit {
    std::optional<std::string> add;           // a rule text
    std::optional<std::uint32_t> add_before;  // ... before the rule with this id (else last)
    std::optional<std::uint32_t> del;         // a rule id
    std::optional<std::pair<std::string, std::vector<rules::Prefix>>> set;  // a set's new members
  };
  // `lock_held`: this process holds the interface's lock already (apply,
  // between its prepare and its swap); it is not taken again.
  [[nodiscard]] static Result<Simulator> from_interface(const Interface& iface, const Edit& edit,
                                                        bool lock_held = false);

  // `rule` alone (a text), as `iface` would judge with it: its non-IP and
  // malformed actions, its sets (shared, read-only); the rule decides as
  // kNewRule, and the default action passes. The lockout guard's first look
  // at a change of one rule (lockout.h, check_rule_edit): matching is per
  // packet, so a probe this rule does not decide alone it does not decide
  // among the others either, and there is nothing more to compare. Reads
  // none of the interface's rules. `lock_held`: as from_interface's.
  [[nodiscard]] static Result<Simulator> of_rule(const Interface& iface, const std::string& rule,
                                                 bool lock_held = false);

  // Another rule set in the copy, in one swap (ids its own from then on):
  // one pipeline checks rule set after rule set (the FlowSpec consumer's
  // lockout guard, flowspec/consumer.h) at the cost of a compile each.
  [[nodiscard]] Result<void> set_rules(const std::vector<std::string>& texts);

  // Runs one frame (once: counters, buckets and blocks carry over to the
  // next frame, as on an interface).
  [[nodiscard]] Result<Verdict> run(const Frame& f);

  // The rules in force, by id (for reports), and what is not simulated.
  const std::vector<RuleRecord>& rules() const { return rules_; }
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  Simulator() = default;
  [[nodiscard]] static Result<Simulator> load(const GuardConfig& cfg);
  [[nodiscard]] Result<void> ready();
  std::unique_ptr<GuardProgram> prog_;
  std::unique_ptr<Guard> guard_;
  MappedArray percpu_;  // the pipeline's xdpguard_percpu (GuardConfig::simulation)
  MappedArray ddos_;    // its xdpguard_ddos: the clock (fake_now)
  std::vector<RuleRecord> rules_;
  std::vector<std::string> notes_;
  bool clocked_ = false;  // the rule set has limits: the clock follows the frames
  // Slot -> the id the copied interface shows (from_interface).
  std::map<std::uint32_t, std::uint32_t> id_of_;
};

}  // namespace xdpguard::simulate
