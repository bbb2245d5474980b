#include "guard/guard.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>
#include <string_view>

#include <spdlog/spdlog.h>

#include "core/fault.h"
#include "core/log.h"
#include "guard.skel.h"
#include "guard/guard_ddos.h"

XDPGUARD_SKELETON(guard_bpf);

namespace xdpguard {
namespace fs = std::filesystem;

namespace {

constexpr const char* kPinnedMaps[] = {
    XDPGUARD_PIN_META, XDPGUARD_PIN_PERCPU, XDPGUARD_PIN_RULE_STATS, XDPGUARD_PIN_PROGS, XDPGUARD_PIN_SET4,
    XDPGUARD_PIN_SET6, XDPGUARD_PIN_SET_NAMES,
    // rate limits (docs/ddos.md)
    XDPGUARD_PIN_LIMIT_AGG, XDPGUARD_PIN_LIMIT_SRC, XDPGUARD_PIN_BLOCKED, XDPGUARD_PIN_DDOS,
    XDPGUARD_PIN_SYNPROXY, XDPGUARD_PIN_NOBLOCK,
    // AF_XDP sockets of `redirect xsk` (filled by consumers: guard_xsk.cpp)
    XDPGUARD_PIN_XSKS,
    // telemetry (docs/telemetry.md)
    XDPGUARD_PIN_EVENTS, XDPGUARD_PIN_TELEMETRY, XDPGUARD_PIN_TM_STATS, XDPGUARD_PIN_TALKERS,
    XDPGUARD_PIN_TALK_ON, XDPGUARD_PIN_FLOOD_CFG, XDPGUARD_PIN_FLOOD};

Result<PinPaths> pin_paths(const Interface& iface) {
  PinPaths p;
  p.netns_id = XG_TRY(current_netns_id());
  p.ifindex = iface.ifindex;
  return p;
}

// Removes an interface's pins, after undoing the SYN proxy's host changes
// they record (undo_pinned_synproxy): if that fails, the pins stay, so that
// a later command can finish it.
Result<void> remove_pins(const PinPaths& paths) {
  XG_CHECK_CTX(undo_pinned_synproxy(paths),
               fmt::format("the SYN proxy's host changes could not be undone, so its state at {} is kept",
                           paths.dir()));
  std::error_code ec;
  fs::remove_all(paths.dir(), ec);  // unlink of a pin drops its reference
  if (ec) spdlog::warn("remove {}: {}", paths.dir(), ec.message());
  // The namespace's directory goes with its last interface (rmdir refuses a
  // directory that still holds one; make_dirs() copes with losing that race).
  ::rmdir(paths.ns_dir().c_str());
  return {};
}

// Unpins everything attach() pinned if a later step fails.
struct PinRollback {
  const PinPaths& paths;
  bool armed = true;
  ~PinRollback() {
    if (!armed) return;
    if (auto r = remove_pins(paths); !r) spdlog::warn("{}", r.error().message());
  }
};

// Why an interface has no pinned state: nothing attached, or (an xdpguard
// program on it) pins that are gone, which nothing can change any more.
Error no_pinned_state(const Interface& iface, const PinPaths& paths) {
  auto found = find_program(iface.ifindex, kGuardProgName);
  if (const auto prog = found ? *found : std::nullopt)
    return fail(
               ESTALE,
               "xdpguard is attached ({} mode, program id {}) but its pinned state is gone (bpffs unmounted, "
               "or {} removed): nothing can change its rules; run detach, then attach again",
               mode_name(prog->mode), prog->prog_id, paths.dir())
        .value();
  return fail(ENOENT, "no xdpguard attached (run: xdpguard attach {})", iface.name).value();
}

}  // namespace

std::string PinPaths::root() const { return bpffs + "/xdpguard"; }
std::string PinPaths::ns_dir() const { return fmt::format("{}/ns{}", root(), netns_id); }
std::string PinPaths::dir() const { return fmt::format("{}/{}", ns_dir(), ifindex); }
std::string PinPaths::map(const char* name) const { return dir() + "/" + name; }
std::string PinPaths::staging() const { return fmt::format("{}/staging-{}", ns_dir(), ifindex); }

namespace {

// The kernel id of the map pinned at `path`; 0 when nothing is pinned there.
Result<std::uint32_t> pinned_map_id(const std::string& path) {
  UniqueFd fd(bpf_obj_get(path.c_str()));
  if (!fd) {
    if (errno == ENOENT) return 0u;
    return fail_errno(errno, "open pinned map " + path);
  }
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return fail_errno(errno, "map info " + path);
  return info.id;
}

}  // namespace

Result<void> check_in_force(const AttachmentId& id) {
  if (id.meta_pin.empty()) return {};
  const std::uint32_t now = XG_TRY(pinned_map_id(id.meta_pin));
  if (now == 0) return fail(ENOENT, "xdpguard was detached");
  if (now != id.meta_id) return fail(ESTALE, "xdpguard was detached and attached again");
  return {};
}

const char* action_name(std::uint32_t a) {
  switch (a) {
    case XDP_ABORTED: return "aborted";
    case XDP_DROP: return "drop";
    case XDP_PASS: return "pass";
    case XDP_TX: return "tx";
    case XDP_REDIRECT: return "redirect";
    default: return "";
  }
}

std::optional<std::uint32_t> parse_action(const std::string& name) {
  if (name == "pass") return XDP_PASS;
  if (name == "drop") return XDP_DROP;
  return std::nullopt;
}

const char* parse_counter_name(int idx) {
  switch (idx) {
    case XDPGUARD_PARSE_IPV4: return "ipv4";
    case XDPGUARD_PARSE_IPV6: return "ipv6";
    case XDPGUARD_PARSE_NON_IP: return "non_ip";
    case XDPGUARD_PARSE_TRUNCATED: return "truncated";
    case XDPGUARD_PARSE_MALFORMED: return "malformed";
    case XDPGUARD_PARSE_UNSAFE: return "unsafe";
    case XDPGUARD_PARSE_FRAGMENT: return "fragment";
    default: return "";
  }
}

// ---- GuardProgram ---------------------------------------------------------

template <class FdOf>
Result<void> GuardProgram::reuse_maps(FdOf&& fd_of, const char* who) {
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, skel_->obj) {
    const std::string name = bpf_map__name(m);
    if (bpf_map__is_internal(m)) {
      // Read-only data (.rodata, .kconfig) is per object and set alike;
      // writable globals (.bss, .data) would not be shared: none allowed.
      if (name.find(".rodata") == std::string::npos && name.find(".kconfig") == std::string::npos)
        return fail(EINVAL, "guard object has writable global data ({}) its two instances would not share",
                    name);
      continue;
    }
    const int fd = XG_TRY(fd_of(name));
    // (libbpf keeps a duplicate of the fd.)
    if (int err = bpf_map__reuse_fd(m, fd))
      return fail_errno(err, fmt::format("{}: reuse map {}", who, name));
  }
  return {};
}

Result<GuardProgram> GuardProgram::parser_for(const GuardProgram& pipeline) {
  auto p = XG_TRY(open(pipeline.cfg_));  // the same rodata knobs
  XG_CHECK(p.reuse_maps(
      [&](const std::string& name) -> Result<int> {
        const bpf_map* src = bpf_object__find_map_by_name(pipeline.skel_->obj, name.c_str());
        if (!src || bpf_map__fd(src) < 0) return fail(ENOENT, "parser: the pipeline has no map {}", name);
        return bpf_map__fd(src);
      },
      "parser"));
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, p.skel_->obj) {
    if (int err = bpf_program__set_autoload(prog, prog == p.skel_->progs.xdpguard))
      return fail_errno(err, "parser: autoload");
  }
  return p;
}

Result<GuardProgram> GuardProgram::over_pins(const GuardConfig& cfg, const std::string& dir) {
  auto p = XG_TRY(open(cfg));
  std::vector<UniqueFd> opened;
  XG_CHECK(p.reuse_maps(
      [&](const std::string& name) -> Result<int> {
        const std::string pin = dir + "/" + name;
        UniqueFd fd(bpf_obj_get(pin.c_str()));
        if (!fd) return fail_errno(errno, "open pinned map " + pin);
        opened.push_back(std::move(fd));
        return opened.back().get();
      },
      "upgrade"));
  return p;
}

namespace {
constexpr __u32 kSimulationTalkers = 64;
}  // namespace

Result<GuardProgram> GuardProgram::open(const GuardConfig& cfg) {
  GuardProgram p;
  p.skel_ = XG_TRY(BpfSkeleton<guard_bpf>::open("guard"));
  p.cfg_ = cfg;
  p.skel_->rodata->cfg_flood_count = cfg.flood_counters ? 1 : 0;
  XG_CHECK(ddos_internal::configure(*p.skel_.get(), cfg));
  if (cfg.simulation) {
    bpf_map* percpu = p.skel_->maps.xg_percpu;
    bpf_map* ddos = p.skel_->maps.xg_ddos;
    if (int err = bpf_map__set_type(percpu, BPF_MAP_TYPE_ARRAY)) return fail_errno(err, "simulation maps");
    if (int err = bpf_map__set_map_flags(percpu, BPF_F_MMAPABLE)) return fail_errno(err, "simulation maps");
    if (int err = bpf_map__set_map_flags(ddos, bpf_map__map_flags(ddos) | BPF_F_MMAPABLE))
      return fail_errno(err, "simulation maps");
    // The rule counters: a plain array, as the per-CPU entry (a per-CPU
    // array of 16,385 counters took 7 ms of every guarded `rule add`).
    bpf_map* rule_stats = p.skel_->maps.xg_rule_stats;
    if (int err = bpf_map__set_type(rule_stats, BPF_MAP_TYPE_ARRAY))
      return fail_errno(err, "simulation maps");
    if (int err = bpf_map__set_map_flags(rule_stats, BPF_F_MMAPABLE))
      return fail_errno(err, "simulation maps");
    // Top talkers are never on in a simulation: the smallest table (its
    // 16,384 per-CPU LRU entries took 12 ms of every guarded change).
    if (int err = bpf_map__set_max_entries(p.skel_->maps.xg_talkers, kSimulationTalkers))
      return fail_errno(err, "simulation maps");
    // Nobody reads its records: the smallest ring buffer the kernel takes
    // (one page), not 8 MiB to allocate for every guarded change.
    if (int err = bpf_map__set_max_entries(p.skel_->maps.xg_events, static_cast<__u32>(::getpagesize())))
      return fail_errno(err, "simulation maps");
  }
  return p;
}

Result<void> GuardProgram::load() {
  XG_CHECK(load_programs());
  return link_pipeline();
}

Result<void> GuardProgram::load_programs() { return skel_.load(); }

Result<void> GuardProgram::link_pipeline() const {
  __u32 slot = XDPGUARD_PROG_ENFORCE;
  int fd = bpf_program__fd(skel_->progs.xdpguard_enforce);
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.xg_progs), &slot, &fd, BPF_ANY) != 0)
    return fail_errno(errno, "install enforce stage");
  XG_CHECK(ddos_internal::link_stages(*skel_.get()));
  return {};
}

int GuardProgram::prog_fd() const { return bpf_program__fd(skel_->progs.xdpguard); }

int GuardProgram::program_fd(const char* name) const {
  const bpf_program* p = bpf_object__find_program_by_name(skel_->obj, name);
  return p ? bpf_program__fd(p) : -1;
}

Result<MapFd> GuardProgram::map(const char* name) const {
  bpf_map* m = bpf_object__find_map_by_name(skel_->obj, name);
  if (!m) return fail(ENOENT, "guard object has no map {}", name);
  return MapFd::from_libbpf(m);
}

// ---- Guard ----------------------------------------------------------------

struct Guard::Maps {
  MapFd meta, percpu, rule_stats, progs, set4, set6, set_names;
  MapFd limit_agg, limit_src, blocked, ddos, synproxy, noblock;
  MapFd telemetry, xsks, talkers, talk_on;
  template <class Get>
  static Result<Maps> get(Get&& get) {
    Maps m;
    m.meta = XG_TRY(get(XDPGUARD_PIN_META));
    m.percpu = XG_TRY(get(XDPGUARD_PIN_PERCPU));
    m.rule_stats = XG_TRY(get(XDPGUARD_PIN_RULE_STATS));
    m.progs = XG_TRY(get(XDPGUARD_PIN_PROGS));
    m.set4 = XG_TRY(get(XDPGUARD_PIN_SET4));
    m.set6 = XG_TRY(get(XDPGUARD_PIN_SET6));
    m.set_names = XG_TRY(get(XDPGUARD_PIN_SET_NAMES));
    m.limit_agg = XG_TRY(get(XDPGUARD_PIN_LIMIT_AGG));
    m.limit_src = XG_TRY(get(XDPGUARD_PIN_LIMIT_SRC));
    m.blocked = XG_TRY(get(XDPGUARD_PIN_BLOCKED));
    m.ddos = XG_TRY(get(XDPGUARD_PIN_DDOS));
    m.synproxy = XG_TRY(get(XDPGUARD_PIN_SYNPROXY));
    m.noblock = XG_TRY(get(XDPGUARD_PIN_NOBLOCK));
    m.telemetry = XG_TRY(get(XDPGUARD_PIN_TELEMETRY));
    m.xsks = XG_TRY(get(XDPGUARD_PIN_XSKS));
    m.talkers = XG_TRY(get(XDPGUARD_PIN_TALKERS));
    m.talk_on = XG_TRY(get(XDPGUARD_PIN_TALK_ON));
    return m;
  }
};

Result<Guard> Guard::from_maps(Maps m) {
  Guard g;
  g.meta_map_ = XG_TRY((Map<std::uint32_t, xdpguard_meta>::wrap(std::move(m.meta))));
  g.percpu_ = XG_TRY((PerCpuMap<std::uint32_t, xdpguard_percpu>::wrap(std::move(m.percpu))));
  g.rule_stats_ = XG_TRY(CounterArray::wrap(std::move(m.rule_stats)));
  g.progs_ = std::move(m.progs);
  g.set_names_ = XG_TRY((Map<std::uint32_t, xdpguard_set_info>::wrap(std::move(m.set_names))));
  g.set4_ = std::move(m.set4);
  g.set6_ = std::move(m.set6);
  g.ddos_maps_ = {std::move(m.limit_agg), std::move(m.limit_src), std::move(m.blocked),
                  std::move(m.ddos),      std::move(m.synproxy),  std::move(m.noblock)};
  g.telemetry_ = std::move(m.telemetry);
  g.xsks_ = std::move(m.xsks);
  g.talkers_ = std::move(m.talkers);
  g.talk_on_ = std::move(m.talk_on);
  g.meta_ = XG_TRY(g.meta_map_.get(0));
  return g;
}

Result<Guard> Guard::from_program(const GuardProgram& prog) {
  auto g = XG_TRY(from_maps(XG_TRY(Maps::get([&](const char* n) { return prog.map(n); }))));
  xdpguard_meta meta{};
  meta.abi_version = XDPGUARD_ABI_VERSION;
  meta.non_ip_action = static_cast<__u8>(prog.config().non_ip_action);
  meta.malformed_action = static_cast<__u8>(prog.config().malformed_action);
  if (prog.config().fake_clock) meta.flags |= XDPGUARD_META_FAKE_CLOCK;
  XG_CHECK_CTX(g.meta_map_.put(0, meta), "write meta");
  g.meta_ = meta;
  XG_CHECK_CTX(g.install({}, prog.config().default_action), "install rules");
  return g;
}

Result<Guard> Guard::attach(const Interface& iface, AttachMode mode, const GuardConfig& cfg,
                            const Setup& setup) {
  if (cfg.simulation) return fail(EINVAL, "a pipeline configured for simulation cannot be attached");
  XG_CHECK(require_privileges());
  XG_CHECK(ensure_bpffs());
  PinPaths paths = XG_TRY(pin_paths(iface));
  auto held = XG_TRY(InterfaceLock::acquire(paths.netns_id, iface.ifindex, iface.name));

  if (auto cur = XG_TRY(find_program(iface.ifindex, kGuardProgName))) {
    if (!fs::exists(paths.dir())) return tl::unexpected(no_pinned_state(iface, paths));
    return fail(EEXIST, "already attached ({} mode, program id {}); detach it first", mode_name(cur->mode),
                cur->prog_id);
  }
  if (fs::exists(paths.dir())) {
    spdlog::info("removing stale state of a former attachment at {}", paths.dir());
    XG_CHECK(remove_pins(paths));
  }
  std::error_code ec;
  fs::remove_all(paths.staging(), ec);  // what an attach that died before going live left

  // 1. The pipeline, not yet on the interface: maps, the enforce and
  // limiter stages in xg_progs (the parser is loaded last, by libxdp).
  auto prog = XG_TRY(GuardProgram::open(cfg));
  if (int err = bpf_program__set_autoload(prog.skel()->progs.xdpguard, false))
    return fail_errno(err, "load the pipeline");
  XG_CHECK(prog.load());

  // 2. Its pins, in a staging directory; the record; the first rule set;
  // the caller's setup (sets, rules, thresholds) under the lock we hold.
  XG_CHECK(make_dirs(paths.staging()));
  struct Unstage {
    std::string dir;
    ~Unstage() {
      std::error_code e;
      if (!dir.empty()) fs::remove_all(dir, e);
    }
  } unstage{paths.staging()};
  for (const char* name : kPinnedMaps) {
    const std::string pin = paths.staging() + "/" + name;
    if (int err = bpf_map__pin(bpf_object__find_map_by_name(prog.skel()->obj, name), pin.c_str()))
      return fail_errno(err, fmt::format("pin {}", pin));
  }
  xdpguard_meta meta{};
  meta.abi_version = XDPGUARD_ABI_VERSION;
  meta.ifindex = static_cast<__u32>(iface.ifindex);
  meta.non_ip_action = static_cast<__u8>(cfg.non_ip_action);
  meta.malformed_action = static_cast<__u8>(cfg.malformed_action);
  meta.attached_unix = static_cast<__u64>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  std::strncpy(meta.ifname, iface.name.c_str(), sizeof(meta.ifname) - 1);
  // Until the program is live and its id and mode are written here.
  meta.flags |= XDPGUARD_META_SETUP_PENDING;
  if (cfg.fake_clock) meta.flags |= XDPGUARD_META_FAKE_CLOCK;
  auto g = XG_TRY(from_maps(XG_TRY(Maps::get([&](const char* n) { return prog.map(n); }))));
  XG_CHECK_CTX(g.meta_map_.put(0, meta), "write meta");
  g.meta_ = meta;
  g.pin_dir_ = paths.staging();
  g.netns_id_ = paths.netns_id;
  g.ifindex_ = iface.ifindex;
  g.ifname_ = iface.name;
  XG_CHECK_CTX(g.install({}, cfg.default_action), "install rules");
  if (setup) {
    g.lock_held_ = true;
    XG_CHECK(setup(g));
    g.lock_held_ = false;
  }
  fault_point("attach-ready");

  // 3. The pins into place (one rename: whole or absent), then the parser
  // onto the interface: from its first packet, the pipeline is complete.
  if (::rename(paths.staging().c_str(), paths.dir().c_str()) != 0)
    return fail_errno(errno, fmt::format("move {} to {}", paths.staging(), paths.dir()));
  unstage.dir.clear();
  g.pin_dir_ = paths.dir();
  PinRollback rollback{paths};
  fault_point("attach-pinned");
  auto parser = XG_TRY(GuardProgram::parser_for(prog));
  auto att = XG_TRY(XdpAttachment::attach(parser.skeleton(), kGuardProgName, iface.ifindex, mode));
  fault_point("attach-attached");

  g.meta_.mode = att.mode() == XDP_MODE_SKB ? XDPGUARD_MODE_GENERIC : XDPGUARD_MODE_NATIVE;
  g.meta_.prog_id = att.prog_id();
  g.meta_.flags &= ~XDPGUARD_META_SETUP_PENDING;
  XG_CHECK_CTX(g.meta_map_.put(0, g.meta_), "write meta");
  rollback.armed = false;
  att.release();  // fail-static: libxdp's pins keep the program attached
  return g;
}

Result<Guard> Guard::open(const Interface& iface) {
  XG_CHECK(ensure_bpffs());
  PinPaths paths = XG_TRY(pin_paths(iface));
  auto none = [&]() -> Result<Guard> { return tl::unexpected(no_pinned_state(iface, paths)); };
  // The maps are opened one by one: a detach (and attach) meanwhile shows
  // as a pin gone, or as an xg_meta pinned now that is not the one opened
  // first; then all of them again.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto get = [&](const char* n) -> Result<MapFd> { return MapFd::open_pinned(paths.map(n)); };
    auto meta = get(XDPGUARD_PIN_META);
    if (!meta && meta.error().code() == ENOENT) return none();
    auto mm = XG_TRY((Map<std::uint32_t, xdpguard_meta>::wrap(XG_TRY(std::move(meta)))));
    if (auto m = mm.get(0); m && m->abi_version != XDPGUARD_ABI_VERSION)
      return fail(EPROTO,
                  "pinned state has ABI version {}, this xdpguard speaks {}; detach and "
                  "attach again",
                  m->abi_version, XDPGUARD_ABI_VERSION);
    auto maps = Maps::get(get);
    if (!maps && maps.error().code() == ENOENT) return none();
    auto g = XG_TRY(from_maps(XG_TRY(std::move(maps))));
    g.pin_dir_ = paths.dir();
    g.netns_id_ = paths.netns_id;
    g.ifindex_ = iface.ifindex;
    g.ifname_ = iface.name;
    if (g.meta_.abi_version != XDPGUARD_ABI_VERSION)
      return fail(EPROTO,
                  "pinned state has ABI version {}, this xdpguard speaks {}; detach and "
                  "attach again",
                  g.meta_.abi_version, XDPGUARD_ABI_VERSION);
    auto in_force = check_in_force(g.attachment());
    if (in_force) return g;
    if (in_force.error().code() == ENOENT) return none();
  }
  return fail(EAGAIN, "xdpguard on {} keeps being detached and attached again; try again", iface.name);
}

Result<void> Guard::detach(const Interface& iface) {
  XG_CHECK(require_privileges());
  XG_CHECK(ensure_bpffs());
  PinPaths paths = XG_TRY(pin_paths(iface));
  auto held = XG_TRY(InterfaceLock::acquire(paths.netns_id, iface.ifindex, iface.name));
  return detach_locked(iface, paths);
}

Result<void> Guard::detach(const Interface& iface, const InterfaceLock& held) {
  if (!held.held()) return fail(EINVAL, "detach {}: the interface lock is not held", iface.name);
  return detach_locked(iface, XG_TRY(pin_paths(iface)));
}

AttachmentId Guard::attachment() const {
  AttachmentId id;
  id.netns_id = netns_id_;
  id.ifindex = ifindex_;
  id.meta_id = meta_map_.id();
  if (!pin_dir_.empty()) id.meta_pin = pin_dir_ + "/" XDPGUARD_PIN_META;
  return id;
}

Result<void> Guard::detach_locked(const Interface& iface, const PinPaths& paths) {
  bool pinned = fs::exists(paths.dir());
  auto cur = XG_TRY(find_program(iface.ifindex, kGuardProgName));
  if (!cur && !pinned) return fail(ENOENT, "no xdpguard attached");
  // The SYN proxy's host side (nftables table, sysctls) outlives the pins:
  // undo it first; if that fails, nothing is detached (a later detach, or
  // `synproxy disable`, finishes it).
  if (pinned)
    XG_CHECK_CTX(undo_pinned_synproxy(paths),
                 "the SYN proxy's host changes could not be undone; still attached, its state kept");
  if (cur) XG_CHECK(detach_program(iface.ifindex, kGuardProgName));
  XG_CHECK(remove_pins(paths));
  // The records of its AF_XDP sockets (guard_xsk.cpp): the map went with the pins.
  if (auto records = xsk_records(paths.netns_id, iface.ifindex))
    for (const auto& r : *records) remove_xsk_record(paths.netns_id, iface.ifindex, r.queue);
  return {};
}

Result<std::vector<GuardStatus>> Guard::list() {
  XG_CHECK(ensure_bpffs());
  PinPaths base;
  base.netns_id = XG_TRY(current_netns_id());
  std::vector<GuardStatus> out;
  std::error_code ec;
  // (No pin directory: the loop is empty; attachments without pins follow.)
  for (const auto& entry : fs::directory_iterator(base.ns_dir(), ec)) {
    GuardStatus st;
    const std::string name = entry.path().filename().string();
    // What an attach that died before going live left (staging-<ifindex>):
    // removed under that interface's lock (an attach in progress holds it).
    if (constexpr std::string_view kStaging = "staging-"; name.rfind(kStaging, 0) == 0) {
      int idx = 0;
      auto [end, e] = std::from_chars(name.data() + kStaging.size(), name.data() + name.size(), idx);
      if (e != std::errc() || end != name.data() + name.size()) continue;
      if (auto lk = InterfaceLock::try_acquire(base.netns_id, idx); lk && *lk) {
        std::error_code e2;
        fs::remove_all(entry.path(), e2);
      }
      continue;
    }
    auto [end, ec2] = std::from_chars(name.data(), name.data() + name.size(), st.ifindex);
    if (ec2 != std::errc() || end != name.data() + name.size() || st.ifindex <= 0) continue;
    PinPaths p = base;
    p.ifindex = st.ifindex;
    std::uint32_t meta_id = 0;
    auto meta_map = Map<std::uint32_t, xdpguard_meta>::open_pinned(p.map(XDPGUARD_PIN_META));
    if (meta_map) {
      meta_id = meta_map->id();
      if (auto m = meta_map->get(0)) {
        st.mode = m->mode == XDPGUARD_MODE_GENERIC ? "generic" : "native";
        st.prog_id = m->prog_id;
        st.attached_unix = m->attached_unix;
        st.ifname = m->ifname;
        st.setup_pending = m->flags & XDPGUARD_META_SETUP_PENDING;
      }
    }
    auto iface = find_interface(st.ifindex);
    if (!iface) {
      // The interface is gone and the kernel detached its program with it;
      // the SYN proxy's host changes (table, sysctls) are not gone with it.
      // Its pins go under its lock, and only if that still holds: a new
      // interface may have this ifindex now, and its attach takes the lock.
      auto lk = XG_TRY(InterfaceLock::try_acquire(base.netns_id, st.ifindex));
      if (!lk) continue;  // a command works on it: next time
      if (!find_interface(st.ifindex) && XG_TRY(pinned_map_id(p.map(XDPGUARD_PIN_META))) == meta_id) {
        spdlog::info("removing state of vanished interface {} (ifindex {})", st.ifname, st.ifindex);
        if (auto r = remove_pins(p); !r) spdlog::warn("{}", r.error().message());
      }
      continue;
    }
    st.ifname = iface->name;
    auto cur = find_program(st.ifindex, kGuardProgName);
    if (const auto prog = cur ? *cur : std::nullopt) {
      // An attach that died after going live left its record without the
      // program's id and mode: the program on the interface is its own.
      if (st.setup_pending && st.prog_id == 0) {
        st.prog_id = prog->prog_id;
        st.mode = prog->mode == XDP_MODE_SKB ? "generic" : "native";
      }
      st.attached = prog->prog_id == st.prog_id;
      st.dispatcher = prog->dispatcher;
    }
    out.push_back(std::move(st));
  }
  // An attach that died before pinning leaves a program no pin describes.
  std::set<int> seen;
  for (const auto& st : out) seen.insert(st.ifindex);
  if (auto* ifs = ::if_nameindex()) {
    for (auto* i = ifs; i->if_index; ++i) {
      int idx = static_cast<int>(i->if_index);
      if (seen.count(idx)) continue;
      auto cur = find_program(idx, kGuardProgName);
      const auto prog = cur ? *cur : std::nullopt;
      if (!prog) continue;
      GuardStatus st;
      st.ifname = i->if_name;
      st.ifindex = idx;
      st.mode = prog->mode == XDP_MODE_SKB ? "generic" : "native";
      st.prog_id = prog->prog_id;
      st.attached = true;
      st.dispatcher = prog->dispatcher;
      st.pinned = false;
      out.push_back(std::move(st));
    }
    ::if_freenameindex(ifs);
  }
  std::sort(out.begin(), out.end(),
            [](const GuardStatus& a, const GuardStatus& b) { return a.ifindex < b.ifindex; });
  return out;
}

Result<GuardStats> Guard::stats() const {
  GuardStats s;
  s.ifname = meta_.ifname;
  auto in = XG_TRY(installed());
  s.default_action = in.record.default_action;
  s.classifier = in.classifier;
  s.setup_pending = meta_.flags & XDPGUARD_META_SETUP_PENDING;
  s.mode = meta_.mode == XDPGUARD_MODE_GENERIC  ? "generic"
           : meta_.mode == XDPGUARD_MODE_NATIVE ? "native"
                                                : "none";
  for (const auto& cpu : XG_TRY(percpu_.get(0))) {
    for (std::uint32_t i = 0; i < XDPGUARD_NUM_ACTIONS; ++i) s.actions[i] += cpu.actions[i];
    for (std::uint32_t i = 0; i < XDPGUARD_PARSE_MAX; ++i) s.parse[i] += cpu.parse[i];
    for (std::uint32_t i = 0; i < XDPGUARD_ERR_MAX; ++i) s.errors[i] += cpu.errors[i];
    for (std::uint32_t i = 0; i < XDPGUARD_FLOOD_COUNTED; ++i) s.flood[i] += cpu.flood[i];
    for (std::uint32_t i = 0; i < XDPGUARD_XSK_MAX; ++i) s.xsk[i] += cpu.xsk[i];
  }
  s.flood[XDPGUARD_FLOOD_FRAG] = s.parse[XDPGUARD_PARSE_FRAGMENT];
  s.default_rule = XG_TRY(rule_stats_.sum(XDPGUARD_RULE_DEFAULT));
  XG_CHECK(add_counters(in.rules));
  s.rules = std::move(in.rules);
  s.ddos = XG_TRY(ddos_stats());
  return s;
}

}  // namespace xdpguard
