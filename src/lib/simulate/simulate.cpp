#include "simulate/simulate.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <tuple>

#include "apply/apply.h"
#include "bpf/abi.h"
#include "bpf/map.h"
#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard::simulate {
namespace {

// What BPF_PROG_TEST_RUN takes for an XDP program that does not handle
// fragments: one page, less the headroom and the shared info the kernel
// keeps in it (net/bpf/test_run.c); frames of a standard MTU are far below.
constexpr std::size_t kMaxFrame = 3 * 1024;
constexpr std::size_t kEthHeader = 14;
// Limiter buckets and block-list entries of a pipeline that runs a few
// probes (Simulator::of_rule).
constexpr std::uint32_t kProbeSources = 64;
constexpr const char* kSynproxyNote =
    "the SYN proxy is not simulated (its answers depend on the host's sockets and conntrack): frames are "
    "judged "
    "as with it off";
constexpr const char* kXskNote =
    "AF_XDP sockets are not simulated: frames of `redirect xsk` rules take the rule's fallback (pass unless "
    "`fallback drop`)";

}  // namespace

std::string_view action_name(std::uint32_t action) {
  switch (action) {
    case XDP_ABORTED: return "aborted";
    case XDP_DROP: return "drop";
    case XDP_PASS: return "pass";
    case XDP_TX: return "tx";
    case XDP_REDIRECT: return "redirect";
    default: return "unknown";
  }
}

// ---- the pipeline -------------------------------------------------------------

// The pipeline, loaded in this process with the driven clock (the frames'
// timestamps), an empty rule set in force.
Result<Simulator> Simulator::load(const GuardConfig& base) {
  Simulator s;
  GuardConfig cfg = base;
  cfg.fake_clock = true;
  cfg.simulation = true;
  s.prog_ = std::make_unique<GuardProgram>(XG_TRY(GuardProgram::open(cfg)));
  XG_CHECK_CTX(s.prog_->load(), "load the pipeline");
  s.guard_ = std::make_unique<Guard>(XG_TRY(Guard::from_program(*s.prog_)));
  return s;
}

// Once the state is in force: what run() reads, and the CPU it runs on.
Result<void> Simulator::ready() {
  rules_ = XG_TRY(guard_->rules_uncounted());
  clocked_ = std::any_of(rules_.begin(), rules_.end(), [](const RuleRecord& r) { return r.rule.limit; });
  if (std::any_of(rules_.begin(), rules_.end(),
                  [](const RuleRecord& r) { return r.rule.action == rules::Action::RedirectXsk; }))
    notes_.emplace_back(kXskNote);
  // The per-CPU entry (a plain array in a simulation load: every test run
  // writes the same one, on whichever CPU it runs) and the clock, in place.
  percpu_ = XG_TRY(MappedArray::map(XG_TRY(prog_->map(XDPGUARD_PIN_PERCPU))));
  ddos_ = XG_TRY(MappedArray::map(XG_TRY(prog_->map(XDPGUARD_PIN_DDOS))));
  if (!percpu_.value(0) || !ddos_.value(0)) return fail(EPROTO, "the simulation maps are empty");
  return {};
}

Result<void> Simulator::set_rules(const std::vector<std::string>& texts) {
  XG_CHECK(guard_->replace_rules(texts));
  id_of_.clear();
  rules_ = XG_TRY(guard_->rules_uncounted());
  clocked_ = std::any_of(rules_.begin(), rules_.end(), [](const RuleRecord& r) { return r.rule.limit; });
  return {};
}

Result<Simulator> Simulator::from_state(const GuardConfig& cfg, const DesiredState& want) {
  auto s = XG_TRY(load(cfg));
  auto staged = XG_TRY(s.guard_->prepare(want));
  XG_CHECK(s.guard_->swap(*staged));
  XG_CHECK(s.guard_->finish(*staged));
  XG_CHECK(s.ready());
  return s;
}

Result<Simulator> Simulator::from_config(const config::Config& conf, const config::Interface& section) {
  auto s = XG_TRY_CTX(from_state(apply::guard_config_of(section), apply::desired_of(conf, section)),
                      fmt::format("{}: [interfaces.{}]", conf.source, section.name));
  if (section.synproxy) s.notes_.emplace_back(kSynproxyNote);
  return s;
}

Result<Simulator> Simulator::of_rule(const Interface& iface, const std::string& rule, bool lock_held) {
  auto live = XG_TRY(Guard::open(iface));
  // Under its lock: the sets are read as they are, none half replaced.
  InterfaceLock lk;
  if (!lock_held) lk = XG_TRY(live.lock());
  const auto actions = XG_TRY(live.frame_actions());
  GuardConfig cfg;
  cfg.default_action = XDP_PASS;
  cfg.non_ip_action = actions.non_ip;
  cfg.malformed_action = actions.malformed;
  // A handful of probes, each once: the smallest limiter and block list.
  cfg.limit_buckets = kProbeSources;
  cfg.block_entries = kProbeSources;
  auto s = XG_TRY(load(cfg));
  // The sets it names (one that does not parse is refused by the compile).
  std::vector<std::string> sets;
  if (auto parsed = rules::parse_rule(rule)) rules::add_set_names(*parsed, sets);
  XG_CHECK(s.guard_->share_sets(live, sets));
  XG_CHECK_CTX(s.guard_->replace_rules({rule}), "compile " + rules::quote(rule));
  XG_CHECK(s.ready());
  for (auto& r : s.rules_) {
    s.id_of_[r.id] = kNewRule;
    r.id = kNewRule;
  }
  return s;
}

Result<Simulator> Simulator::from_interface(const Interface& iface) { return from_interface(iface, Edit{}); }

Result<Simulator> Simulator::from_interface(const Interface& iface, const Edit& edit, bool lock_held) {
  auto live = XG_TRY(Guard::open(iface));
  // Under its lock: the rules and the sets they name are read together.
  InterfaceLock lk;
  if (!lock_held) lk = XG_TRY(live.lock());
  const auto cur = XG_TRY(live.current_state());
  GuardConfig cfg;
  cfg.default_action = cur.default_action;
  cfg.non_ip_action = cur.non_ip_action;
  cfg.malformed_action = cur.malformed_action;
  std::tie(cfg.limit_buckets, cfg.block_entries) = XG_TRY(live.ddos_map_sizes());
  auto s = XG_TRY(load(cfg));
  // The sets the rule set after the edit names (a rule deleted may name
  // one more: sharing it changes no verdict).
  std::vector<std::string> sets;
  for (const auto& r : cur.rules) rules::add_set_names(r.rule, sets);
  if (edit.add)
    if (auto parsed = rules::parse_rule(*edit.add)) rules::add_set_names(*parsed, sets);
  XG_CHECK(s.guard_->share_sets(live, sets));
  if (edit.set) XG_CHECK(s.guard_->load_set(edit.set->first, edit.set->second));
  // The rule set, with the edit made; each rule's id on the interface (0:
  // the one the edit adds).
  std::vector<std::string> texts;
  std::vector<std::uint32_t> ids;
  std::vector<std::string> shown;  // the texts as the interface has them
  texts.reserve(cur.rules.size() + 1);
  for (const auto& r : cur.rules) {
    if (edit.del && r.id == *edit.del) continue;
    if (edit.add && edit.add_before && r.id == *edit.add_before) {
      texts.push_back(*edit.add);
      shown.push_back(*edit.add);
      ids.push_back(0);
    }
    // A `redirect dev` whose interface is gone drops on the interface
    // (cls::CompiledRule::target_missing): the copy drops too.
    if (r.rule.action == rules::Action::RedirectDev && !find_interface(r.rule.redirect_dev)) {
      rules::Rule d = r.rule;
      d.action = rules::Action::Drop;
      d.redirect_dev.clear();
      texts.push_back(rules::to_string(d));
    } else {
      texts.push_back(r.text);
    }
    shown.push_back(r.text);
    ids.push_back(r.id);
  }
  if (edit.del && texts.size() == cur.rules.size()) return fail(ENOENT, "no rule with id {}", *edit.del);
  if (edit.add && edit.add_before && ids.size() == cur.rules.size())
    return fail(ENOENT, "no rule with id {} to insert before", *edit.add_before);
  if (edit.add && !edit.add_before) {
    texts.push_back(*edit.add);
    shown.push_back(*edit.add);
    ids.push_back(0);
  }
  XG_CHECK_CTX(s.guard_->replace_rules(texts), "compile " + iface.name + "'s rules");
  XG_CHECK(s.guard_->set_never_block(cur.never_block));
  if (XG_TRY(live.synproxy_status()).state != XDPGUARD_SYNPROXY_OFF) s.notes_.emplace_back(kSynproxyNote);
  XG_CHECK(s.ready());
  // The ids the interface shows (a copied rule set numbers its rules anew).
  for (std::size_t i = 0; i < s.rules_.size() && i < ids.size(); ++i) {
    const std::uint32_t id = ids[i] ? ids[i] : kNewRule;
    s.id_of_[s.rules_[i].id] = id;
    s.rules_[i].id = id;
    if (ids[i]) s.rules_[i].text = shown[i];
  }
  return s;
}

Result<Verdict> Simulator::run(const Frame& f) {
  Verdict v;
  if (f.data.size() < f.wire_len) {
    v.simulated = false;
    v.skipped = fmt::format("captured {} of its {} bytes (the capture's snaplen)", f.data.size(), f.wire_len);
    return v;
  }
  if (f.data.size() < kEthHeader || f.data.size() > kMaxFrame) {
    v.simulated = false;
    v.skipped = f.data.size() < kEthHeader
                    ? fmt::format("{} bytes: shorter than an Ethernet header", f.data.size())
                    : fmt::format(
                          "{} bytes: longer than one XDP buffer ({} bytes here; captures taken "
                          "after GRO/GSO hold frames no driver receives)",
                          f.data.size(), kMaxFrame);
    return v;
  }
  if (!guard_) return fail(EINVAL, "the simulator was moved from");
  if (clocked_)
    __atomic_store_n(reinterpret_cast<std::uint64_t*>(ddos_.value(0) + offsetof(xdpguard_ddos, fake_now)),
                     f.ts_ns, __ATOMIC_RELAXED);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.data.data(),
              .data_size_in = static_cast<__u32>(f.data.size()), .repeat = 1);
  if (bpf_prog_test_run_opts(prog_->prog_fd(), &opts) != 0)
    return fail_errno(errno, fmt::format("frame {}: test run", f.index));
  v.action = opts.retval;
  xdpguard_percpu s{};
  std::memcpy(&s, percpu_.value(0), sizeof s);
  if (s.slot <= XDPGUARD_MAX_RULES) {
    auto it = id_of_.find(s.slot);
    v.rule = it == id_of_.end() ? s.slot : it->second;
  }
  return v;
}

}  // namespace xdpguard::simulate
