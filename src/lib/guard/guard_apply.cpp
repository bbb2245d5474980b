// Guard::prepare/swap/finish: an interface's whole state put in force at
// once (`xdpguard apply`; the protocol is in guard.h and abi.h,
// XDPGUARD_SET_STAGED).
#include <linux/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include <spdlog/spdlog.h>

#include "guard/guard.h"
#include "guard/groups.h"
#include "guard/set_maps.h"
#include "rules/limits.h"
#include "core/fault.h"
#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard {
namespace {

std::uint64_t hash_of(const xdpguard_set_info& i) {
  return (static_cast<std::uint64_t>(i.hash_hi) << 32) | i.hash_lo;
}

std::string name_of(const xdpguard_set_info& i) {
  return std::string(i.name, strnlen(i.name, sizeof(i.name)));
}

}  // namespace

std::uint64_t set_members_hash(std::vector<rules::Prefix> prefixes) {
  auto key = [](const rules::Prefix& p) { return std::tuple(p.family, p.len, p.addr); };
  std::sort(prefixes.begin(), prefixes.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
  prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
  std::uint64_t h = 14695981039346656037ULL;
  auto mix = [&h](std::uint8_t b) {
    h ^= b;
    h *= 1099511628211ULL;
  };
  for (const auto& p : prefixes) {
    mix(p.family == rules::Family::V6 ? 6 : 4);
    mix(p.len);
    for (std::size_t i = 0; i < (p.family == rules::Family::V6 ? 16u : 4u); ++i) mix(p.addr[i]);
  }
  return h ? h : 1;
}

Guard::Pending::~Pending() {
  if (guard && !done && !swapped) guard->abort(*this);
  if (guard) guard->lock_held_ = lock_was_held;
}

Result<Guard::FrameActions> Guard::frame_actions() const {
  const auto meta = XG_TRY(meta_map_.get(0));
  return FrameActions{meta.non_ip_action, meta.malformed_action};
}

Result<CurrentState> Guard::current_state() const { return current_state(XG_TRY(installed())); }

Result<CurrentState> Guard::current_state(Installed in) const {
  CurrentState c;
  c.default_action = in.record.default_action;
  c.rules = std::move(in.rules);
  const auto actions = XG_TRY(frame_actions());
  c.non_ip_action = actions.non_ip;
  c.malformed_action = actions.malformed;
  for (const auto& s : XG_TRY(sets())) {
    auto info = XG_TRY(set_names_.get(s.index));
    c.sets.push_back({s.name, hash_of(info), s.nv4, s.nv6});
  }
  c.never_block = XG_TRY(never_block());
  return c;
}

Result<DesiredState> Guard::keep_state(const std::string& dir) const {
  auto in = XG_TRY(installed());
  DesiredState d;
  d.default_action = in.record.default_action;
  // The local rules: a rollback leaves the FlowSpec group as it is then
  // (the consumer's routes, not the state before the change).
  for (auto& r : in.rules)
    if (!in_flowspec_group(r.rule)) d.rules.push_back(std::move(r.text));
  d.keep_flowspec = true;
  const auto actions = XG_TRY(frame_actions());
  d.non_ip_action = actions.non_ip;
  d.malformed_action = actions.malformed;
  d.never_block = XG_TRY(never_block());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return fail_errno(errno, "mkdir " + dir);
  for (std::uint32_t i = 0; i < XDPGUARD_MAX_SETS; ++i) {
    auto info = XG_TRY(set_names_.get(i));
    if (info.in_use != XDPGUARD_SET_LIVE) continue;
    DesiredState::KeptSet k;
    k.name = name_of(info);
    k.hash = hash_of(info);
    // The member maps (inner maps of xg_set4/xg_set6) pinned: a later
    // change frees the slot, the pin keeps the maps.
    for (auto [outer, fam, path] : {std::tuple{set4_.fd(), 4, &k.pin4}, std::tuple{set6_.fd(), 6, &k.pin6}}) {
      __u32 key = i, id = 0;
      if (bpf_map_lookup_elem(outer, &key, &id) != 0)
        return fail_errno(errno, fmt::format("set {}: read its IPv{} members", k.name, fam));
      UniqueFd fd(bpf_map_get_fd_by_id(id));
      if (!fd) return fail_errno(errno, fmt::format("set {}: open its IPv{} members", k.name, fam));
      *path = fmt::format("{}/set{}_{}", dir, fam, i);
      (void)::unlink(path->c_str());
      if (bpf_obj_pin(fd.get(), path->c_str()) != 0) return fail_errno(errno, "pin " + *path);
    }
    d.kept_sets.push_back(std::move(k));
  }
  return d;
}

Result<void> Guard::settle_staged_sets() {
  std::vector<std::pair<std::uint32_t, xdpguard_set_info>> staged, live;
  for (std::uint32_t i = 0; i < XDPGUARD_MAX_SETS; ++i) {
    auto info = XG_TRY(set_names_.get(i));
    if (info.in_use == XDPGUARD_SET_STAGED) staged.emplace_back(i, info);
    if (info.in_use == XDPGUARD_SET_LIVE) live.emplace_back(i, info);
  }
  if (staged.empty()) return {};
  auto in = XG_TRY(cls::read_installed(progs_.fd()));
  const std::uint32_t gen = in.classifier ? in.record.generation : 0;
  for (auto& [idx, info] : staged) {
    __u32 key = idx;
    if (info.staged_gen == gen) {
      // The rule set that refers to it is in force: it is the set now; the
      // slot it replaced is freed.
      for (const auto& [old, oinfo] : live)
        if (name_of(oinfo) == name_of(info)) {
          __u32 okey = old;
          XG_CHECK(set_names_.put(old, xdpguard_set_info{}));
          (void)bpf_map_delete_elem(set4_.fd(), &okey);
          (void)bpf_map_delete_elem(set6_.fd(), &okey);
        }
      info.in_use = XDPGUARD_SET_LIVE;
      info.staged_gen = 0;
      XG_CHECK(set_names_.put(idx, info));
      spdlog::info("set {}: finished what an interrupted apply left (its rule set is in force)",
                   name_of(info));
    } else {
      // Never in force: freed.
      XG_CHECK(set_names_.put(idx, xdpguard_set_info{}));
      (void)bpf_map_delete_elem(set4_.fd(), &key);
      (void)bpf_map_delete_elem(set6_.fd(), &key);
      spdlog::info("set {}: removed what an interrupted apply staged (it never went live)", name_of(info));
    }
  }
  return {};
}

Result<std::unique_ptr<Guard::Pending>> Guard::prepare(const DesiredState& want) {
  if (want.never_block.size() > rules::kMaxNeverBlock)
    return fail(E2BIG, "{} never-block prefixes, the limit is {}", want.never_block.size(),
                rules::kMaxNeverBlock);
  auto p = std::make_unique<Pending>();
  p->lock = XG_TRY(lock());
  p->guard = this;
  p->lock_was_held = lock_held_;
  lock_held_ = true;  // the Pending holds it; released with the Pending
  p->want = want;
  auto cur = XG_TRY(installed());
  const std::uint32_t gen = (cur.classifier ? cur.record.generation : 0) + 1;
  // The rule set: the FlowSpec group read under the lock, so that the
  // consumer's install and this one cannot undo each other.
  if (want.keep_flowspec) {
    // (A comment is the language's only quoted text.)
    const std::string label = fmt::format("\"{}", rules::kFlowspecLabel);
    for (std::size_t i = 0; i < want.rules.size(); ++i)
      if (want.rules[i].find(label) != std::string::npos)
        return fail(EINVAL, "rule {}: a comment that starts with \"{}\" marks the FlowSpec consumer's rules",
                    i + 1, rules::kFlowspecLabel);
    p->want.rules = with_local_rules(cur.rules, want.rules);
  }
  const auto& texts = p->want.rules;
  if (texts.size() > XDPGUARD_MAX_RULES)
    return fail(E2BIG, "{} rules, the limit is {}", texts.size(), XDPGUARD_MAX_RULES);
  std::vector<rules::Rule> parsed;
  std::vector<std::string> canon;
  parsed.reserve(texts.size());
  canon.reserve(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto r = rules::parse_rule(texts[i]);
    if (!r) return tl::unexpected(std::move(r.error()).context(fmt::format("rule {}", i + 1)));
    canon.push_back(rules::to_string(*r));
    if (canon.back().size() >= XDPGUARD_RULE_TEXT)
      return fail(E2BIG, "rule {}: longer than {} characters", i + 1, XDPGUARD_RULE_TEXT - 1);
    parsed.push_back(std::move(*r));
  }

  // Sets: an unchanged one (same name, same members) stays in its slot;
  // a changed or new one goes into a free slot, staged.
  std::map<std::string, std::uint32_t> slots;
  std::set<std::uint32_t> busy;
  std::map<std::string, std::pair<std::uint32_t, std::uint64_t>> live;  // name -> slot, hash
  for (std::uint32_t i = 0; i < XDPGUARD_MAX_SETS; ++i) {
    auto info = XG_TRY(set_names_.get(i));
    if (info.in_use) busy.insert(i);
    if (info.in_use == XDPGUARD_SET_LIVE) live[name_of(info)] = {i, hash_of(info)};
  }
  // A changed or new set: its member maps into a free slot, staged.
  auto stage = [&](const std::string& name, std::uint64_t hash, MapFd v4, MapFd v6) -> Result<void> {
    std::optional<std::uint32_t> idx;
    for (std::uint32_t i = 0; i < XDPGUARD_MAX_SETS && !idx; ++i)
      if (!busy.count(i)) idx = i;
    if (!idx)
      return fail(E2BIG, "set {}: no free set slot to stage it in ({} in use, the limit is {})", name,
                  busy.size(), XDPGUARD_MAX_SETS);
    // The name first (staged: a crash from here on is settled by the next
    // lock), then the members into the slot nothing refers to yet.
    xdpguard_set_info info{};
    std::strncpy(info.name, name.c_str(), sizeof(info.name) - 1);
    info.hash_lo = static_cast<__u32>(hash);
    info.hash_hi = static_cast<__u32>(hash >> 32);
    info.staged_gen = gen;
    info.in_use = XDPGUARD_SET_STAGED;
    XG_CHECK(set_names_.put(*idx, info));
    p->staged.push_back(*idx);
    busy.insert(*idx);
    __u32 key = *idx;
    int f4 = v4.fd(), f6 = v6.fd();
    if (bpf_map_update_elem(set4_.fd(), &key, &f4, BPF_ANY) != 0 ||
        bpf_map_update_elem(set6_.fd(), &key, &f6, BPF_ANY) != 0)
      return fail_errno(errno, "stage set " + name);
    slots[name] = *idx;
    return {};
  };
  auto unchanged = [&](const std::string& name, std::uint64_t hash) {
    auto it = live.find(name);
    if (it == live.end() || it->second.second != hash) return false;
    slots[name] = it->second.first;
    return true;
  };
  for (const auto& [name, members] : want.sets) {
    if (name.empty() || name.size() >= sizeof(xdpguard_set_info::name))
      return fail(EINVAL, "set name \"{}\" must have 1 to {} characters", name,
                  sizeof(xdpguard_set_info::name) - 1);
    const std::uint64_t hash = set_members_hash(members);
    if (unchanged(name, hash)) continue;
    auto m = XG_TRY(set_internal::member_maps(name, members));
    XG_CHECK(stage(name, hash, std::move(m.v4), std::move(m.v6)));
  }
  for (const auto& k : want.kept_sets) {
    if (unchanged(k.name, k.hash)) continue;
    auto open_pin = [&k](const std::string& path) -> Result<MapFd> {
      int fd = bpf_obj_get(path.c_str());
      if (fd < 0) return fail_errno(errno, fmt::format("set {}: its kept members {}", k.name, path));
      return MapFd::adopt(fd);
    };
    auto v4 = XG_TRY(open_pin(k.pin4));
    auto v6 = XG_TRY(open_pin(k.pin6));
    XG_CHECK(stage(k.name, k.hash, std::move(v4), std::move(v6)));
  }
  fault_point("apply-staged");

  // The rule set, compiled against those slots and loaded (verified).
  auto ids = plan_ids(cur, canon);
  const std::set<std::uint32_t> fresh(ids.fresh.begin(), ids.fresh.end());
  std::vector<cls::RuleEntry> entries;
  entries.reserve(parsed.size());
  for (std::size_t i = 0; i < parsed.size(); ++i)
    entries.emplace_back(ids.ids[i], std::move(parsed[i]), std::move(canon[i]));
  p->classifier = XG_TRY(load_rule_set(std::move(entries), want.default_action, ids.fresh,
                                       cur.classifier ? &cur.record : nullptr, &slots));
  p->ids = std::move(ids.ids);
  p->fresh = std::move(ids.fresh);
  p->before = XG_TRY(current_state(std::move(cur)));
  return p;
}

Result<void> Guard::swap(Pending& p) {
  XG_CHECK(with_context(rule_stats_.put_all(p.fresh, xdpguard_counter{}), "reset counters"));
  fault_point("rules-loaded");
  __u32 slot = XDPGUARD_PROG_CLASSIFIER, old_id = 0;
  if (bpf_map_lookup_elem(progs_.fd(), &slot, &old_id) == 0)
    p.replaced = UniqueFd(bpf_prog_get_fd_by_id(old_id));
  int fd = p.classifier.prog.get();
  if (bpf_map_update_elem(progs_.fd(), &slot, &fd, BPF_ANY) != 0)
    return fail_errno(errno, "install classifier");
  p.swapped = true;
  fault_point("rules-installed");
  return {};
}

Result<void> Guard::unswap(Pending& p) {
  if (!p.swapped) return {};
  __u32 slot = XDPGUARD_PROG_CLASSIFIER;
  int fd = p.replaced.get();
  int rc = fd >= 0 ? bpf_map_update_elem(progs_.fd(), &slot, &fd, BPF_ANY)
                   : bpf_map_delete_elem(progs_.fd(), &slot);
  if (rc != 0) return fail_errno(errno, "put back the classifier in force before");
  p.swapped = false;
  abort(p);
  return {};
}

Result<void> Guard::finish(Pending& p) {
  // The frames outside the rules: non-IP, malformed (read per frame).
  auto meta = XG_TRY(meta_map_.get(0));
  if (meta.non_ip_action != p.want.non_ip_action || meta.malformed_action != p.want.malformed_action) {
    meta.non_ip_action = static_cast<__u8>(p.want.non_ip_action);
    meta.malformed_action = static_cast<__u8>(p.want.malformed_action);
    XG_CHECK_CTX(meta_map_.put(0, meta), "write the non-IP and malformed actions");
    meta_ = meta;
  }
  // The staged slots are the sets now: the slots they replaced, and the
  // sets the new rule set does not use, are freed (name first).
  std::set<std::string> wanted;
  for (const auto& [name, m] : p.want.sets) wanted.insert(name);
  for (const auto& k : p.want.kept_sets) wanted.insert(k.name);
  std::set<std::uint32_t> staged(p.staged.begin(), p.staged.end());
  std::map<std::string, std::uint32_t> staged_names;
  for (std::uint32_t i : p.staged) staged_names[name_of(XG_TRY(set_names_.get(i)))] = i;
  for (std::uint32_t i = 0; i < XDPGUARD_MAX_SETS; ++i) {
    auto info = XG_TRY(set_names_.get(i));
    if (info.in_use != XDPGUARD_SET_LIVE) continue;
    const auto name = name_of(info);
    if (wanted.count(name) && !staged_names.count(name)) continue;  // unchanged
    XG_CHECK(set_names_.put(i, xdpguard_set_info{}));
    fault_point("apply-set-freed");
    __u32 key = i;
    (void)bpf_map_delete_elem(set4_.fd(), &key);
    (void)bpf_map_delete_elem(set6_.fd(), &key);
  }
  for (std::uint32_t i : p.staged) {
    auto info = XG_TRY(set_names_.get(i));
    info.in_use = XDPGUARD_SET_LIVE;
    info.staged_gen = 0;
    XG_CHECK(set_names_.put(i, info));
  }
  p.staged.clear();
  XG_CHECK(set_never_block(p.want.never_block));
  p.done = true;
  return {};
}

void Guard::abort(Pending& p) {
  for (std::uint32_t i : p.staged) {
    __u32 key = i;
    (void)set_names_.put(i, xdpguard_set_info{});
    (void)bpf_map_delete_elem(set4_.fd(), &key);
    (void)bpf_map_delete_elem(set6_.fd(), &key);
  }
  p.staged.clear();
  p.done = true;
}

}  // namespace xdpguard
