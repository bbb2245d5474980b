// Guard's rule-set and prefix-set operations. Read-modify-write of the
// rule set happens under the interface lock (guard/lock.h), so two
// concurrent `xdpguard rule add` calls cannot lose each other's rule.
#include <linux/bpf.h>
#include <net/if.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include <spdlog/spdlog.h>

#include "guard/guard.h"
#include "bpf/clock.h"
#include "classifier/sets.h"
#include "core/fault.h"
#include "guard/set_maps.h"
#include "rules/lint.h"
#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard {
namespace {

// Zeroes a rule's per-CPU counters before its id is (re)used.
Result<void> zero_counters(CounterArray& stats, const std::vector<std::uint32_t>& ids) {
  return with_context(stats.put_all(ids, xdpguard_counter{}), "reset counters");
}

std::uint32_t after(std::uint32_t id) { return id % XDPGUARD_MAX_RULES + 1; }

std::optional<int> ifindex_of(const std::string& name) {
  unsigned idx = ::if_nametoindex(name.c_str());
  if (!idx) return std::nullopt;
  return static_cast<int>(idx);
}

// A rule being added must name an interface that exists (as nft refuses
// `fwd to` an unknown device); one already installed whose device went away
// stays, and drops its packets (cls::CompiledRule::target_missing).
Result<void> check_redirect_target(const rules::Rule& r) {
  if (r.action == rules::Action::RedirectDev && !ifindex_of(r.redirect_dev))
    return fail(ENODEV, "redirect dev {}: no such interface", r.redirect_dev);
  return {};
}

// Ids for `n` new rules, in turn from the record's counter (`next`), wrapping
// past XDPGUARD_MAX_RULES: an id that was given up is handed out again only
// after every other one has been. `avoid` are the ids of the rule set in
// force: a new rule never shares a counter slot with a rule that still
// counts until the swap. Only when the new set and the old one together
// need more than XDPGUARD_MAX_RULES ids do new rules take ids of `reusable`
// (rules the change drops). The caller has checked that n ids exist.
std::vector<std::uint32_t> new_rule_ids(std::uint32_t next, std::size_t n,
                                        const std::vector<std::uint32_t>& avoid,
                                        const std::vector<std::uint32_t>& reusable = {}) {
  std::vector<bool> taken(XDPGUARD_MAX_RULES + 1u, false);  // by id: 2 KB, not a tree of 10,000 nodes
  std::size_t ntaken = 0;
  auto take = [&](std::uint32_t x) {
    if (x >= 1 && x <= XDPGUARD_MAX_RULES && !taken[x]) taken[x] = true, ++ntaken;
  };
  for (std::uint32_t x : avoid) take(x);
  std::uint32_t id = next >= 1 && next <= XDPGUARD_MAX_RULES ? next : 1;
  std::vector<std::uint32_t> out;
  bool released = false;  // reusable ids go back once: an id handed out is never handed out again
  for (std::size_t k = 0; k < n; ++k) {
    if (ntaken >= XDPGUARD_MAX_RULES && !released) {
      released = true;
      for (std::uint32_t r : reusable)
        if (r >= 1 && r <= XDPGUARD_MAX_RULES && taken[r]) taken[r] = false, --ntaken;
    }
    while (taken[id]) id = after(id);
    out.push_back(id);
    take(id);
    id = after(id);
  }
  return out;
}

// An inner map for slot `set` of xg_set4 / xg_set6: an array of the set's
// elements (BPF_F_INNER_MAP: its size may differ from the template's).
template <class Elem>
Result<MapFd> set_map(const char* name, const std::vector<Elem>& elems) {
  LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_INNER_MAP | BPF_F_RDONLY_PROG);
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, name, 4, sizeof(Elem), static_cast<__u32>(elems.size()), &o);
  if (fd < 0) return fail_errno(errno, fmt::format("create map {} ({} elements)", name, elems.size()));
  auto map = XG_TRY(MapFd::adopt(fd));
  std::vector<__u32> keys(elems.size());
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<__u32>(i);
  XG_CHECK(update_batched(map.fd(), keys.data(), sizeof(__u32), elems.data(), sizeof(Elem), keys.size()));
  return map;
}

}  // namespace

std::vector<cls::RuleEntry> Guard::take_entries(std::vector<RuleRecord>& records) {
  std::vector<cls::RuleEntry> out;
  out.reserve(records.size());
  for (auto& r : records) out.emplace_back(r.id, std::move(r.rule), std::move(r.text));
  return out;
}

Result<Guard::Hold> Guard::hold() {
  Hold h;
  h.lock_ = XG_TRY(lock());
  h.g_ = this;
  h.was_ = lock_held_;
  lock_held_ = true;
  return h;
}

Result<InterfaceLock> Guard::lock() {
  if (pin_dir_.empty() || lock_held_) return InterfaceLock();
  fault_point("guard-lock");  // between open() and the lock: where a detach + attach can come
  auto held = XG_TRY(InterfaceLock::acquire(netns_id_, ifindex_, ifname_));
  // The pins this Guard opened may have gone (the lock outlives them), or
  // be another attachment's (a detach and an attach came between open()
  // and here): a change must go into the maps in force, never into
  // orphaned ones that nothing enforces.
  auto in_force = check_in_force(attachment());
  if (in_force) {
    XG_CHECK(check_program());
    XG_CHECK(settle_staged_sets());
    return held;
  }
  if (in_force.error().code() == ENOENT) return fail(ENOENT, "xdpguard was detached meanwhile");
  // Attached again: the same interface? Then act on the new attachment,
  // as if this command had started after it.
  auto iface = find_interface(ifindex_);
  if (!iface || iface->name != ifname_)
    return fail(ENODEV, "{} went away while this command waited (xdpguard was detached)", ifname_);
  auto fresh = XG_TRY(open(*iface));
  spdlog::info("{}: xdpguard was detached and attached again meanwhile; changing the new attachment",
               ifname_);
  *this = std::move(fresh);
  XG_CHECK(check_program());
  XG_CHECK(settle_staged_sets());
  return held;
}

Result<void> Guard::check_program() {
  // The interface is looked up by index in this thread's namespace: from
  // another one it would be another interface, or none.
  if (netns_id_ && XG_TRY(current_netns_id()) != netns_id_)
    return fail(EINVAL, "{} is in another network namespace (netns {}): make changes from there (-n NETNS)",
                ifname_, netns_id_);
  // Pending under the lock: the attach (or upgrade) that set it died (it
  // holds the lock while it runs). If its program is on the interface, the
  // pipeline is whole: write what the attach did not get to write.
  // The record as it is now (this handle's copy may be older than the
  // lock: an attach that completed meanwhile, another process's change).
  if (!pin_dir_.empty()) meta_ = XG_TRY(meta_map_.get(0));
  auto prog = XG_TRY(find_program(ifindex_, kGuardProgName));
  if (meta_.flags & XDPGUARD_META_SETUP_PENDING) {
    if (!prog)
      return fail(ENOENT, "xdpguard is not on {} (an attach died before its program went live); run detach",
                  ifname_);
    meta_.prog_id = prog->prog_id;
    meta_.mode = prog->mode == XDP_MODE_SKB ? XDPGUARD_MODE_GENERIC : XDPGUARD_MODE_NATIVE;
    meta_.flags &= ~XDPGUARD_META_SETUP_PENDING;
    XG_CHECK_CTX(meta_map_.put(0, meta_), "complete the record of an interrupted attach");
    spdlog::info("{}: completed the record of an attach or upgrade that died after going live", ifname_);
    return {};
  }
  // Pins whose program is gone (removed behind xdpguard's back): a change
  // there would be enforced nowhere.
  if (!prog || prog->prog_id != meta_.prog_id)
    return fail(ENOENT,
                "xdpguard's program is no longer on {} (stale state: {} attached, {} expected); run detach",
                ifname_, prog ? prog->prog_id : 0u, meta_.prog_id);
  return {};
}

Result<cls::CompileContext> Guard::compile_context(const std::map<std::string, std::uint32_t>* set_slots,
                                                   std::optional<bool> talkers) const {
  std::map<std::string, std::uint32_t> sets;
  if (set_slots)
    sets = *set_slots;
  else
    for (const auto& s : XG_TRY(this->sets())) sets[s.name] = s.index;
  cls::CompileContext ctx;
  ctx.fake_clock = meta_.flags & XDPGUARD_META_FAKE_CLOCK;
  ctx.clock_tick_ns = coarse_clock_tick_ns();
  // What is on besides the rules: a capture whose lease runs (one that died
  // stops counting once its lease is over), the SYN proxy.
  const __u32 zero = 0;
  xdpguard_telemetry tm{};
  if (bpf_map_lookup_elem(telemetry_.fd(), &zero, &tm) != 0)
    return fail_errno(errno, "read the capture state");
  ctx.capture = tm.capture != 0 && tm.lease_ns >= monotonic_ns();
  xdpguard_synproxy sp{};
  if (bpf_map_lookup_elem(ddos_maps_.synproxy.fd(), &zero, &sp) != 0)
    return fail_errno(errno, "read the SYN proxy state");
  ctx.synproxy = sp.active != 0;
  __u32 talk_on = 0;
  if (bpf_map_lookup_elem(talk_on_.fd(), &zero, &talk_on) != 0)
    return fail_errno(errno, "read whether top talkers are on");
  ctx.talkers = talkers.value_or(talk_on != 0);
  ctx.set_index = [sets](const std::string& n) -> std::optional<std::uint32_t> {
    auto it = sets.find(n);
    if (it == sets.end()) return std::nullopt;
    return it->second;
  };
  // Resolved at every compile: a device deleted since the last one makes
  // its rules drop; one of that name created again is used from then on.
  ctx.ifindex = ifindex_of;
  return ctx;
}

std::optional<std::string> redirect_warning(std::uint32_t id, const rules::Rule& rule) {
  if (rule.action != rules::Action::RedirectDev || ifindex_of(rule.redirect_dev)) return std::nullopt;
  return fmt::format(
      "rule id {}: redirect dev {}: no such interface: the packets it matches are dropped (a new {} is used "
      "from the next rule change)",
      id, rule.redirect_dev, rule.redirect_dev);
}

namespace {

// An installed rule's text, parsed again.
Result<rules::Rule> parse_installed(const cls::InstalledRule& r) {
  auto parsed = rules::parse_rule(r.text);
  if (!parsed)
    return fail(EPROTO, "installed rule {} \"{}\" no longer parses: {}", r.id, r.text,
                parsed.error().message());
  return std::move(*parsed);
}

// Appends installed rules [from, to), except the one with id `skip`, to a
// new rule set's entries: each parsed straight into it, before its text
// moves on (no copy of 10,000 rules, no second list of them).
Result<void> append_installed(std::vector<cls::InstalledRule>& rules, std::size_t from, std::size_t to,
                              std::vector<cls::RuleEntry>& entries, std::uint32_t skip = 0) {
  for (std::size_t i = from; i < to; ++i) {
    if (skip && rules[i].id == skip) continue;
    auto parsed = XG_TRY(parse_installed(rules[i]));
    entries.emplace_back(rules[i].id, std::move(parsed), std::move(rules[i].text));
  }
  return {};
}

// The record's texts, moved from: their memory back to the heap now, for
// the compile to reuse (fresh memory is most of a `rule add`'s time on a
// VM: docs/architecture.md, "Memory").
void release(std::vector<cls::InstalledRule>& rules) { std::vector<cls::InstalledRule>().swap(rules); }

}  // namespace

Result<cls::InstalledRuleSet> Guard::read_record() const {
  auto in = XG_TRY(cls::read_installed(progs_.fd()));
  if (!in.classifier) in.record.default_action = XDP_PASS;  // what the parser does then
  return in;
}

Result<Guard::Installed> Guard::installed() const {
  auto in = XG_TRY(read_record());
  Installed out;
  out.classifier = in.classifier;
  out.prog_id = in.prog_id;
  out.record = in.record;
  out.rules.reserve(in.rules.size());
  for (std::size_t pos = 0; pos < in.rules.size(); ++pos) {
    auto rule = XG_TRY(parse_installed(in.rules[pos]));  // before its text moves on
    out.rules.push_back({in.rules[pos].id,
                         static_cast<std::uint32_t>(pos),
                         std::move(in.rules[pos].text),
                         std::move(rule),
                         {}});
  }
  return out;
}

Result<std::vector<RuleRecord>> Guard::rules() const {
  auto out = XG_TRY(installed()).rules;
  XG_CHECK(add_counters(out));
  return out;
}

Result<std::vector<RuleRecord>> Guard::rules_uncounted() const { return XG_TRY(installed()).rules; }

Result<std::optional<std::string>> Guard::rule_text(std::uint32_t id) const {
  for (auto& r : XG_TRY(cls::read_installed(progs_.fd())).rules)
    if (r.id == id) return std::optional<std::string>(std::move(r.text));
  return std::optional<std::string>{};
}

Result<void> Guard::add_counters(std::vector<RuleRecord>& out) const {
  if (out.empty()) return {};
  // Every rule's counter: one batch read of the whole per-CPU array.
  const std::size_t ncpu = rule_stats_.values_per_key();
  const std::size_t slots = XDPGUARD_MAX_RULES + 1;
  std::vector<__u32> keys(slots);
  std::vector<xdpguard_counter> vals(slots * ncpu);
  std::size_t done = 0;
  __u32 cursor = 0;
  while (done < slots) {
    LIBBPF_OPTS(bpf_map_batch_opts, bo);
    __u32 count = static_cast<__u32>(slots - done), in = cursor;
    int err = bpf_map_lookup_batch(rule_stats_.fd(), done ? &in : nullptr, &cursor, &keys[done],
                                   &vals[done * ncpu], &count, &bo);
    if (err && errno != ENOENT) return fail_errno(errno, "read rule counters");
    done += count;
    if (err) break;
  }
  std::vector<xdpguard_counter> sum(slots);
  for (std::size_t i = 0; i < done; ++i)
    if (keys[i] < slots)
      for (std::size_t c = 0; c < ncpu; ++c) sum[keys[i]] += vals[i * ncpu + c];
  for (auto& r : out) r.counter = sum[r.id];
  return {};
}

Result<std::uint32_t> Guard::default_action() const { return XG_TRY(installed()).record.default_action; }

Result<cls::LoadedClassifier> Guard::load_rule_set(std::vector<cls::RuleEntry> entries,
                                                   std::uint32_t default_action,
                                                   const std::vector<std::uint32_t>& fresh,
                                                   const xdpguard_ruleset_hdr* record,
                                                   const std::map<std::string, std::uint32_t>* set_slots,
                                                   std::optional<bool> talkers) {
  auto ctx = XG_TRY(compile_context(set_slots, talkers));
  const std::size_t nrules = entries.size();
  auto compiled = XG_TRY(cls::compile(std::move(entries), default_action, ctx, cls::table_map_store()));
  std::optional<xdpguard_ruleset_hdr> in_force;
  if (record) {
    in_force = *record;
  } else {
    auto current = XG_TRY(cls::read_installed(progs_.fd()));
    if (current.classifier) in_force = current.record;
  }
  // The id counter goes on after the last id handed out (fresh is in the
  // order they were), and stays where it was when none was.
  const std::uint32_t next_id = !fresh.empty() ? after(fresh.back())
                                : in_force     ? std::max<std::uint32_t>(in_force->next_id, 1)
                                               : 1;
  cls::PipelineFds fds;
  fds.fill(-1);
  fds[cls::kMapPercpu] = percpu_.fd();
  fds[cls::kMapProgs] = progs_.fd();
  fds[cls::kMapSet4] = set4_.fd();
  fds[cls::kMapSet6] = set6_.fd();
  fds[cls::kMapRuleStats] = rule_stats_.fd();
  fds[cls::kMapTelemetry] = telemetry_.fd();
  fds[cls::kMapSynproxy] = ddos_maps_.synproxy.fd();
  fds[cls::kMapBlocked] = ddos_maps_.blocked.fd();
  fds[cls::kMapDdos] = ddos_maps_.ddos.fd();
  fds[cls::kMapXsks] = xsks_.fd();
  fds[cls::kMapTalkers] = talkers_.fd();
  fds[cls::kMapTalkOn] = talk_on_.fd();
  auto loaded = XG_TRY(cls::load_classifier(compiled, fds, in_force ? in_force->generation + 1 : 1, next_id));
  const auto& h = loaded.record;
  spdlog::debug("loaded {} rules: {} groups, {} instructions ({} verified, {} us), {} table bytes", nrules,
                compiled.plan.groups.size(), h.insns, h.verified_insns, h.load_us, h.table_bytes);
  return loaded;
}

Result<void> Guard::install(std::vector<cls::RuleEntry> entries, std::uint32_t default_action,
                            const std::vector<std::uint32_t>& fresh, const xdpguard_ruleset_hdr* record,
                            std::optional<bool> talkers) {
  auto loaded = XG_TRY(load_rule_set(std::move(entries), default_action, fresh, record, nullptr, talkers));
  return swap_in(loaded, fresh);
}

Result<void> Guard::swap_in(const cls::LoadedClassifier& loaded, const std::vector<std::uint32_t>& fresh) {
  // A new rule starts at zero: its slot is zeroed once the new set has
  // loaded, right before it takes over. No rule of the set in force counts
  // into it meanwhile (new_rule_ids avoids their ids; the one exception, a
  // change needing more ids than there are, is in docs/classifier.md).
  XG_CHECK(zero_counters(rule_stats_, fresh));
  fault_point("rules-loaded");
  // One write swaps the whole rule set, with its record: a packet runs the
  // classifier it started with (the old one stays alive until it is done),
  // and from this write on, `rule list` reads the new record.
  __u32 slot = XDPGUARD_PROG_CLASSIFIER;
  int fd = loaded.prog.get();
  if (bpf_map_update_elem(progs_.fd(), &slot, &fd, BPF_ANY) != 0)
    return fail_errno(errno, "install classifier");
  fault_point("rules-installed");
  return {};
}

Result<void> Guard::recompile() {
  auto lk = XG_TRY(lock());
  return recompile_locked();
}

Result<void> Guard::recompile_locked(std::optional<bool> talkers) {
  auto in = XG_TRY(installed());
  // No classifier: the parser fails open, and there is nothing to compile.
  if (!in.classifier) return {};
  return install(take_entries(in.rules), in.record.default_action, {}, &in.record, talkers);
}

Result<Guard::PlanReport> Guard::plan() const {
  auto in = XG_TRY(installed());
  auto ctx = XG_TRY(compile_context());
  return PlanReport{XG_TRY(cls::compile(take_entries(in.rules), in.record.default_action, ctx)), in.record};
}

Result<Guard::AddedRule> Guard::add_rule(const std::string& text, std::optional<std::uint32_t> before) {
  auto held = XG_TRY(hold());  // one lock for both steps
  auto p = XG_TRY(prepare_rule(text, before));
  XG_CHECK(swap_in(p.loaded, p.fresh));
  return std::move(p.added);
}

Result<bool> Guard::commit(const Prepared& p) {
  auto lk = XG_TRY(lock());
  if (XG_TRY(cls::installed_prog_id(progs_.fd())) != p.based_on) return false;
  XG_CHECK(swap_in(p.loaded, p.fresh));
  return true;
}

Result<Guard::PreparedRule> Guard::prepare_rule(const std::string& text,
                                                std::optional<std::uint32_t> before) {
  auto rule = XG_TRY(rules::parse_rule(text));
  std::string canon = rules::to_string(rule);
  if (canon.size() >= XDPGUARD_RULE_TEXT)
    return fail(E2BIG, "rule text longer than {} characters", XDPGUARD_RULE_TEXT - 1);
  XG_CHECK(check_redirect_target(rule));
  auto lk = XG_TRY(lock());
  // The record as read, each rule parsed straight into the new rule set,
  // the new one in its place.
  auto cur = XG_TRY(read_record());
  const std::size_t n = cur.rules.size();
  if (n >= XDPGUARD_MAX_RULES)
    return fail(E2BIG, "{} rules installed, the limit is {}", n, XDPGUARD_MAX_RULES);
  std::vector<std::uint32_t> used;
  used.reserve(n);
  for (const auto& r : cur.rules) used.push_back(r.id);
  const std::uint32_t id = new_rule_ids(cur.record.next_id, 1, used).front();

  std::size_t at = n;
  if (before) {
    auto it = std::find(used.begin(), used.end(), *before);
    if (it == used.end()) return fail(ENOENT, "no rule with id {}", *before);
    at = static_cast<std::size_t>(it - used.begin());
  }
  std::vector<cls::RuleEntry> entries;
  entries.reserve(n + 1);
  XG_CHECK(append_installed(cur.rules, 0, at, entries));
  entries.emplace_back(id, rule, std::move(canon));
  XG_CHECK(append_installed(cur.rules, at, n, entries));
  release(cur.rules);

  // The linter's word on the new rule set, before it goes live.
  std::vector<const rules::Rule*> list;
  list.reserve(entries.size());
  for (const auto& e : entries) list.push_back(&e.rule);
  AddedRule added{id, {}};
  for (const auto& e : entries)
    if (auto w = redirect_warning(e.id, e.rule)) added.warnings.push_back(std::move(*w));
  for (const auto& w : rules::lint_rule(list, at))
    added.warnings.push_back(
        fmt::format("rule id {} can never match: rule id {} matches every packet it would",
                    entries[w.rule_index].id, entries[w.covered_by].id));
  if (rule.limit)
    if (auto w = rules::limit_depth_warning(list)) added.warnings.push_back(std::move(*w));

  const xdpguard_ruleset_hdr record = cur.record;
  auto loaded = XG_TRY(load_rule_set(std::move(entries), cur.record.default_action, {id},
                                     cur.classifier ? &record : nullptr, nullptr));
  PreparedRule out;
  out.loaded = std::move(loaded);
  out.based_on = cur.classifier ? cur.prog_id : 0;
  out.fresh = {id};
  out.added = std::move(added);
  return out;
}

Result<void> Guard::delete_rule(std::uint32_t id) {
  auto held = XG_TRY(hold());  // one lock for both steps
  auto p = XG_TRY(prepare_delete(id));
  return swap_in(p.loaded, p.fresh);
}

Result<Guard::Prepared> Guard::prepare_delete(std::uint32_t id) {
  auto lk = XG_TRY(lock());
  auto cur = XG_TRY(read_record());
  if (std::none_of(cur.rules.begin(), cur.rules.end(),
                   [&](const cls::InstalledRule& r) { return r.id == id; }))
    return fail(ENOENT, "no rule with id {}", id);
  // The others, parsed straight into the new rule set.
  std::vector<cls::RuleEntry> entries;
  entries.reserve(cur.rules.size() - 1);
  XG_CHECK(append_installed(cur.rules, 0, cur.rules.size(), entries, id));
  release(cur.rules);
  Prepared out;
  out.loaded = XG_TRY(load_rule_set(std::move(entries), cur.record.default_action, {},
                                    cur.classifier ? &cur.record : nullptr, nullptr));
  out.based_on = cur.classifier ? cur.prog_id : 0;
  return out;
}

Result<std::vector<std::uint32_t>> Guard::replace_rules(const std::vector<std::string>& texts) {
  if (texts.size() > XDPGUARD_MAX_RULES)
    return fail(E2BIG, "{} rules, the limit is {}", texts.size(), XDPGUARD_MAX_RULES);
  std::vector<rules::Rule> parsed;
  std::vector<std::string> canon;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto r = rules::parse_rule(texts[i]);
    if (!r) return tl::unexpected(std::move(r.error()).context(fmt::format("rule {}", i + 1)));
    canon.push_back(rules::to_string(*r));
    parsed.push_back(std::move(*r));
  }
  auto lk = XG_TRY(lock());
  auto cur = XG_TRY(installed());
  auto plan = plan_ids(cur, canon);
  const std::set<std::uint32_t> fresh(plan.fresh.begin(), plan.fresh.end());
  std::vector<cls::RuleEntry> entries;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (fresh.count(plan.ids[i]))
      XG_CHECK_CTX(check_redirect_target(parsed[i]), fmt::format("rule {}", i + 1));
    entries.emplace_back(plan.ids[i], std::move(parsed[i]), std::move(canon[i]));
  }
  XG_CHECK(install(std::move(entries), cur.record.default_action, plan.fresh,
                   cur.classifier ? &cur.record : nullptr));
  return plan.ids;
}

Guard::IdPlan Guard::plan_ids(const Installed& cur, const std::vector<std::string>& canon) {
  // Keep ids (and counters) of rules that stay; the others get new ids.
  std::multimap<std::string, std::uint32_t> old_ids;
  std::vector<std::uint32_t> in_force;
  for (const auto& r : cur.rules) {
    old_ids.emplace(r.text, r.id);
    in_force.push_back(r.id);
  }
  IdPlan plan;
  plan.ids.assign(canon.size(), 0);
  std::size_t n_new = 0;
  for (std::size_t i = 0; i < canon.size(); ++i) {
    auto it = old_ids.find(canon[i]);
    if (it != old_ids.end()) {
      plan.ids[i] = it->second;
      old_ids.erase(it);
    } else {
      ++n_new;
    }
  }
  std::vector<std::uint32_t> dropped;  // what old_ids still holds
  for (const auto& [text, id] : old_ids) dropped.push_back(id);
  plan.fresh = new_rule_ids(cur.record.next_id, n_new, in_force, dropped);
  for (std::size_t i = 0, k = 0; i < canon.size(); ++i)
    if (!plan.ids[i]) plan.ids[i] = plan.fresh[k++];
  return plan;
}

Result<void> Guard::set_default_action(std::uint32_t action) {
  auto lk = XG_TRY(lock());
  auto cur = XG_TRY(installed());
  return install(take_entries(cur.rules), action);
}

namespace {

// Element 0 of the inner map in slot `idx` of an outer set map, if any.
template <class Elem>
std::optional<Elem> set_head(int outer_fd, std::uint32_t idx) {
  __u32 key = idx, id = 0;
  if (bpf_map_lookup_elem(outer_fd, &key, &id) != 0) return std::nullopt;
  UniqueFd inner(bpf_map_get_fd_by_id(id));
  if (!inner) return std::nullopt;
  Elem e{};
  __u32 zero = 0;
  if (bpf_map_lookup_elem(inner.get(), &zero, &e) != 0) return std::nullopt;
  return e;
}

std::uint32_t new_stamp() {
  static std::mt19937 rng(std::random_device{}());
  std::uint32_t s;
  do s = static_cast<std::uint32_t>(rng());
  while (s == 0);
  return s;
}

}  // namespace

namespace set_internal {

Result<MemberMaps> member_maps(const std::string& name, const std::vector<rules::Prefix>& prefixes) {
  std::vector<rules::Prefix> v4, v6;
  for (const auto& p : prefixes) (p.family == rules::Family::V4 ? v4 : v6).push_back(p);
  const std::uint32_t stamp = new_stamp();
  auto img6 = XG_TRY_CTX(cls::build_set6(v6, stamp), "set " + name);
  auto img4 = cls::build_set4(v4, stamp);
  MemberMaps m;
  m.v4 = XG_TRY_CTX(set_map("xg_set_v4", img4), "set " + name);
  m.v6 = XG_TRY_CTX(set_map("xg_set_v6", img6), "set " + name);
  m.nv4 = v4.size();
  m.nv6 = v6.size();
  return m;
}

}  // namespace set_internal

Result<std::vector<SetRecord>> Guard::sets() const {
  std::vector<SetRecord> out;
  for (std::uint32_t i = 0; i < XDPGUARD_MAX_SETS; ++i) {
    auto info = XG_TRY(set_names_.get(i));
    if (info.in_use != XDPGUARD_SET_LIVE) continue;
    SetRecord r{i, std::string(info.name, strnlen(info.name, sizeof(info.name))), 0, 0, false};
    auto h4 = set_head<xdpguard_set4_elem>(set4_.fd(), i);
    auto h6 = set_head<xdpguard_set6_elem>(set6_.fd(), i);
    if (h4) r.nv4 = cls::set4_info(*h4).count;
    if (h6) r.nv6 = cls::set6_info(*h6).count;
    r.torn = !h4 || !h6 || cls::set4_info(*h4).stamp != cls::set6_info(*h6).stamp;
    out.push_back(std::move(r));
  }
  return out;
}

Result<SetRecord> Guard::load_set(const std::string& name, const std::vector<rules::Prefix>& prefixes) {
  if (name.empty() || name.size() >= sizeof(xdpguard_set_info::name))
    return fail(EINVAL, "set name \"{}\" must have 1 to {} characters", name,
                sizeof(xdpguard_set_info::name) - 1);
  auto lk = XG_TRY(lock());
  auto current = XG_TRY(sets());
  std::optional<std::uint32_t> index;
  std::set<std::uint32_t> taken;
  for (const auto& s : current) {
    taken.insert(s.index);
    if (s.name == name) index = s.index;
  }
  // Member maps in slots without a name are what a `set load` of a new set
  // left when it died before naming it: nothing uses them; clear them.
  for (std::uint32_t i = 0; i < XDPGUARD_MAX_SETS; ++i) {
    if (taken.count(i)) continue;
    __u32 key = i;
    bool stale = bpf_map_delete_elem(set4_.fd(), &key) == 0;
    stale |= bpf_map_delete_elem(set6_.fd(), &key) == 0;
    if (stale) spdlog::warn("set slot {}: removed the members of an interrupted set load", i);
  }
  if (!index) {
    for (std::uint32_t i = 0; i < XDPGUARD_MAX_SETS && !index; ++i)
      if (!taken.count(i)) index = i;
    if (!index) return fail(E2BIG, "{} sets exist, the limit is {}", current.size(), XDPGUARD_MAX_SETS);
  }

  // New maps beside the live ones, then one write per family swaps them in
  // (a packet only ever consults its own family's map); the name comes last,
  // so a new set exists only once both families are in.
  auto m = XG_TRY(set_internal::member_maps(name, prefixes));
  __u32 idx = *index;
  int f4 = m.v4.fd(), f6 = m.v6.fd();
  if (bpf_map_update_elem(set4_.fd(), &idx, &f4, BPF_ANY) != 0)
    return fail_errno(errno, "install set " + name);
  fault_point("set-v4-swapped");
  if (bpf_map_update_elem(set6_.fd(), &idx, &f6, BPF_ANY) != 0)
    return fail_errno(errno, "install set " + name);
  fault_point("set-v6-swapped");
  xdpguard_set_info info{};
  std::strncpy(info.name, name.c_str(), sizeof(info.name) - 1);
  info.in_use = XDPGUARD_SET_LIVE;
  const std::uint64_t hash = set_members_hash(prefixes);
  info.hash_lo = static_cast<__u32>(hash);
  info.hash_hi = static_cast<__u32>(hash >> 32);
  XG_CHECK(set_names_.put(idx, info));
  return SetRecord{idx, name, m.nv4, m.nv6, false};
}

Result<void> Guard::share_sets(const Guard& from, std::span<const std::string> names) {
  for (const auto& s : XG_TRY(from.sets())) {
    // Each slot written costs the kernel's wait for every BPF program
    // running (an outer map's update: synchronize_rcu, 13-24 ms here).
    if (std::find(names.begin(), names.end(), s.name) == names.end()) continue;
    __u32 idx = s.index;
    for (auto [src, dst] : {std::pair{&from.set4_, &set4_}, std::pair{&from.set6_, &set6_}}) {
      __u32 id = 0;
      if (bpf_map_lookup_elem(src->fd(), &idx, &id) != 0)
        return fail_errno(errno, "read the maps of set " + s.name);
      UniqueFd member(bpf_map_get_fd_by_id(id));
      if (!member) return fail_errno(errno, "open the maps of set " + s.name);
      const int fd = member.get();
      if (bpf_map_update_elem(dst->fd(), &idx, &fd, BPF_ANY) != 0)
        return fail_errno(errno, "share the maps of set " + s.name);
    }
    XG_CHECK(set_names_.put(idx, XG_TRY(from.set_names_.get(idx))));
  }
  return {};
}

Result<void> Guard::delete_set(const std::string& name) {
  auto lk = XG_TRY(lock());
  std::optional<std::uint32_t> index;
  for (const auto& s : XG_TRY(sets()))
    if (s.name == name) index = s.index;
  if (!index) return fail(ENOENT, "no set named {}", name);
  for (const auto& r : XG_TRY(installed()).rules) {
    if (rules::uses_set(r.rule, name))
      return fail(EBUSY, "set {} is used by rule {} ({})", name, r.id, r.text);
  }
  // The name goes first: from then on the slot is free, and its member maps
  // (deleted next, or by the next `set load` if this process dies) unused.
  __u32 idx = *index;
  XG_CHECK(set_names_.put(idx, xdpguard_set_info{}));
  fault_point("set-unnamed");
  for (int outer : {set4_.fd(), set6_.fd()})
    if (bpf_map_delete_elem(outer, &idx) != 0 && errno != ENOENT)
      return fail_errno(errno, "remove the members of set " + name);
  return {};
}

}  // namespace xdpguard
