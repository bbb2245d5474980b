#include "telemetry/flood_monitor.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bpf/system.h"
#include "guard/lock.h"

namespace xdpguard::telemetry {
namespace {

template <class V>
Result<V> locked_read(const MapFd& m, const char* name) {
  V v{};
  __u32 zero = 0;
  if (bpf_map_lookup_elem_flags(m.fd(), &zero, &v, BPF_F_LOCK) != 0)
    return fail_errno(errno, fmt::format("read {}", name));
  return v;
}

template <class V>
Result<void> locked_write(const MapFd& m, const V& v, const char* name) {
  __u32 zero = 0;
  if (bpf_map_update_elem(m.fd(), &zero, &v, BPF_F_LOCK) != 0)
    return fail_errno(errno, fmt::format("write {}", name));
  return {};
}

using TalkerId = std::array<std::uint32_t, 5>;
TalkerId talker_id(const xdpguard_talker_key& k) {
  return {k.family, k.addr[0], k.addr[1], k.addr[2], k.addr[3]};
}

std::uint64_t ns_of(std::chrono::nanoseconds d) { return static_cast<std::uint64_t>(d.count()); }

}  // namespace

// ---- FloodMaps --------------------------------------------------------------

Result<FloodMaps> FloodMaps::wrap(MapFd cfg, MapFd state, MapFd percpu) {
  XG_CHECK(cfg.expect_sizes(sizeof(std::uint32_t), sizeof(xdpguard_flood_cfg)));
  XG_CHECK(state.expect_sizes(sizeof(std::uint32_t), sizeof(xdpguard_flood_state)));
  FloodMaps m;
  m.cfg_ = std::move(cfg);
  m.state_ = std::move(state);
  m.percpu_ = XG_TRY((PerCpuMap<std::uint32_t, xdpguard_percpu>::wrap(std::move(percpu))));
  return m;
}

Result<FloodMaps> FloodMaps::open(const Guard& g) {
  if (g.pin_dir().empty()) return fail(EINVAL, "flood: this guard has no pins");
  auto get = [&](const char* name) { return MapFd::open_pinned(g.pin_dir() + "/" + name); };
  return wrap(XG_TRY(get(XDPGUARD_PIN_FLOOD_CFG)), XG_TRY(get(XDPGUARD_PIN_FLOOD)),
              XG_TRY(get(XDPGUARD_PIN_PERCPU)));
}

Result<FloodMaps> FloodMaps::from_program(const GuardProgram& p) {
  return wrap(XG_TRY(p.map(XDPGUARD_PIN_FLOOD_CFG)), XG_TRY(p.map(XDPGUARD_PIN_FLOOD)),
              XG_TRY(p.map(XDPGUARD_PIN_PERCPU)));
}

Result<FloodConfig> FloodMaps::config() const {
  return FloodConfig::from_abi(XG_TRY(locked_read<xdpguard_flood_cfg>(cfg_, XDPGUARD_PIN_FLOOD_CFG)));
}

Result<void> FloodMaps::set_config(const FloodConfig& c) const {
  return locked_write(cfg_, c.to_abi(), XDPGUARD_PIN_FLOOD_CFG);
}

Result<xdpguard_flood_state> FloodMaps::state() const {
  return locked_read<xdpguard_flood_state>(state_, XDPGUARD_PIN_FLOOD);
}

Result<void> FloodMaps::publish(const xdpguard_flood_state& st) const {
  return locked_write(state_, st, XDPGUARD_PIN_FLOOD);
}

Result<std::array<xdpguard_counter, kFloodProtos>> FloodMaps::counters() const {
  std::array<xdpguard_counter, kFloodProtos> n{};
  for (const auto& cpu : XG_TRY(percpu_.get(0))) {
    for (std::size_t p = 0; p < XDPGUARD_FLOOD_COUNTED; ++p) n[p] += cpu.flood[p];
    n[XDPGUARD_FLOOD_FRAG] += cpu.parse[XDPGUARD_PARSE_FRAGMENT];
  }
  return n;
}

Result<FloodStatus> flood_status(const Guard& g) {
  auto maps = XG_TRY(FloodMaps::open(g));
  FloodStatus st;
  st.config = XG_TRY(maps.config());
  st.counters = XG_TRY(maps.counters());
  st.state = XG_TRY(maps.state());
  st.now_ns = monotonic_ns();
  st.detector = detector_alive(st.state, st.now_ns);
  return st;
}

bool detector_alive(const xdpguard_flood_state& st, std::uint64_t now_ns) {
  return st.pid != 0 && st.sample_ns != 0 &&
         (now_ns < st.sample_ns || now_ns - st.sample_ns <= ns_of(kFloodStale));
}

// ---- FloodMonitor -----------------------------------------------------------

struct FloodMonitor::State {
  FloodMaps maps;
  std::optional<Talkers> talkers;
  std::string lock_name;  // empty: in-process, always the detector
  LockFile lock;
  AttachmentId attachment;
  std::uint64_t checked_ns = 0;           // when the attachment was last seen in force
  std::optional<FloodDetector> detector;  // while this process detects
  xdpguard_flood_state seen{};            // the published state as last read (following)
  std::uint64_t last_sample_ns = 0;
  std::map<TalkerId, std::uint64_t> prev_talkers;  // packets per source at the last sample
  std::uint64_t prev_talkers_ns = 0;               // 0: no earlier count

  // Takes the detector lock if it is free.
  Result<bool> try_lock() {
    if (lock_name.empty() || lock.held()) return true;
    auto got = XG_TRY_CTX(LockFile::try_lock(lock_name, true), "flood detector lock");
    if (!got) return false;
    lock = std::move(*got);
    return true;
  }

  // Once a second: is the attachment still the one in force? (A detector
  // or follower of a detached one would watch counters nothing counts.)
  Result<void> check_attachment(std::uint64_t now_ns) {
    if (now_ns - checked_ns < ns_of(kFloodInterval)) return {};
    checked_ns = now_ns;
    return check_in_force(attachment);
  }

  // The changes of the published state since the last look, as events.
  Result<std::vector<FloodEvent>> follow() {
    const auto st = XG_TRY(maps.state());
    std::vector<FloodEvent> out;
    for (std::size_t p = 0; p < kFloodProtos; ++p) {
      const xdpguard_flood_attack& now = st.proto[p];
      const xdpguard_flood_attack& was = seen.proto[p];
      if (now.attacks > was.attacks) {
        out.push_back({true, p, now.detected_ns, now});
        if (!now.active) out.push_back({false, p, st.sample_ns, now});
      } else if (now.attacks == was.attacks && was.active && !now.active) {
        out.push_back({false, p, st.sample_ns, now});
      }
    }
    seen = st;
    return out;
  }

  // The busiest sources since the last sample, from top talkers.
  Result<void> add_sources(FloodSample& s, bool watching) {
    s.sources_from = XDPGUARD_FLOOD_SRC_TALKERS_OFF;
    if (!talkers || !watching || !XG_TRY(talkers->enabled())) {
      prev_talkers.clear();
      prev_talkers_ns = 0;
      return {};
    }
    std::map<TalkerId, std::uint64_t> cur;
    std::vector<xdpguard_flood_source> list;
    const auto all = XG_TRY(talkers->read());
    for (const auto& t : all) {
      const TalkerId id = talker_id(t.key);
      cur[id] = t.packets;
      if (!prev_talkers_ns) continue;
      auto it = prev_talkers.find(id);
      // A count under the last one was evicted (LRU) or cleared meanwhile: all of it is new.
      const std::uint64_t d =
          it == prev_talkers.end() || it->second > t.packets ? t.packets : t.packets - it->second;
      if (!d) continue;
      xdpguard_flood_source src{};
      src.key = t.key;
      src.pps = static_cast<std::uint64_t>(
          std::llround(static_cast<double>(d) * 1e9 / static_cast<double>(s.mono_ns - prev_talkers_ns)));
      list.push_back(src);
    }
    if (prev_talkers_ns) {
      std::sort(list.begin(), list.end(),
                [](const xdpguard_flood_source& a, const xdpguard_flood_source& b) { return a.pps > b.pps; });
      if (list.size() > XDPGUARD_FLOOD_TOP) list.resize(XDPGUARD_FLOOD_TOP);
      s.sources = std::move(list);
      s.sources_from = XDPGUARD_FLOOD_SRC_TALKERS;
    } else {
      s.sources_from = XDPGUARD_FLOOD_SRC_NO_BASELINE;
    }
    prev_talkers = std::move(cur);
    prev_talkers_ns = s.mono_ns;
    return {};
  }

  // A sample when a second has passed (the caller holds the lock).
  Result<std::vector<FloodEvent>> detect(FloodDetector& detector, std::uint64_t now_ns) {
    if (last_sample_ns && now_ns - last_sample_ns < ns_of(kFloodInterval) * 9 / 10)
      return std::vector<FloodEvent>{};
    detector.configure(XG_TRY(maps.config()));
    FloodSample s;
    s.mono_ns = now_ns;
    const auto counters = XG_TRY(maps.counters());
    for (std::size_t p = 0; p < kFloodProtos; ++p) s.packets[p] = counters[p].packets;
    XG_CHECK(add_sources(s, detector.config().watching()));
    auto events = detector.sample(s);
    last_sample_ns = now_ns;
    seen = detector.state();
    seen.pid = static_cast<std::uint32_t>(::getpid());
    XG_CHECK(maps.publish(seen));
    return events;
  }
};

FloodMonitor::FloodMonitor() = default;
FloodMonitor::FloodMonitor(FloodMonitor&&) noexcept = default;
FloodMonitor& FloodMonitor::operator=(FloodMonitor&&) noexcept = default;
FloodMonitor::~FloodMonitor() {
  if (st_ && st_->detector)
    if (auto r = stop(); !r) spdlog::warn("flood detection: {}", r.error().message());
}

Result<FloodMonitor> FloodMonitor::open(FloodMaps maps, std::optional<Talkers> talkers,
                                        const std::optional<ReaderLockId>& lock) {
  FloodMonitor m;
  m.st_ = std::make_unique<State>();
  State& s = *m.st_;
  s.maps = std::move(maps);
  s.talkers = std::move(talkers);
  if (lock) {
    s.lock_name = lock->lock_name("flood");
    s.attachment = lock->attachment;
  }
  s.seen = XG_TRY(s.maps.state());
  return m;
}

std::vector<FloodEvent> FloodMonitor::in_progress() const {
  std::vector<FloodEvent> out;
  for (std::size_t p = 0; p < kFloodProtos; ++p)
    if (st_->seen.proto[p].active)
      out.push_back({true, p, st_->seen.proto[p].detected_ns, st_->seen.proto[p]});
  return out;
}

Result<std::vector<FloodEvent>> FloodMonitor::tick(std::uint64_t now_ns) {
  State& s = *st_;
  XG_CHECK(s.check_attachment(now_ns));
  if (s.detector) return s.detect(*s.detector, now_ns);
  // Following: what the detector published since the last look.
  auto events = XG_TRY(s.follow());
  if (!XG_TRY(s.try_lock())) return events;
  // The detector is gone (or there was none): go on from where it stopped.
  const auto cfg = XG_TRY(s.maps.config());
  FloodDetector& d =
      s.detector.emplace(s.seen.sample_ns ? FloodDetector::resume(cfg, s.seen) : FloodDetector(cfg));
  s.last_sample_ns = 0;
  auto more = XG_TRY(s.detect(d, now_ns));
  events.insert(events.end(), more.begin(), more.end());
  return events;
}

bool FloodMonitor::detecting() const { return st_ && st_->detector.has_value(); }

Result<void> FloodMonitor::stop() {
  if (!st_) return {};
  State& s = *st_;
  if (!s.detector.has_value()) return {};
  xdpguard_flood_state st = s.detector->state();
  st.pid = 0;
  s.detector.reset();
  auto r = s.maps.publish(st);
  s.lock.unlock();
  return r;
}

// ---- FloodService -----------------------------------------------------------

Result<void> FloodService::tick(std::uint64_t now_ns, const OnEvent& on_event) {
  if (!listed_ns_ || now_ns - listed_ns_ >= ns_of(kFloodInterval)) {
    listed_ns_ = now_ns;
    std::map<int, Entry> next;
    for (const auto& st : XG_TRY(Guard::list())) {
      if (!st.attached || !st.pinned) continue;
      auto it = monitors_.find(st.ifindex);
      if (it != monitors_.end() && it->second.prog_id == st.prog_id) {
        next.emplace(st.ifindex, std::move(it->second));
        continue;
      }
      auto open = [&]() -> Result<FloodMonitor> {
        auto iface = XG_TRY(find_interface(st.ifindex));
        auto g = XG_TRY(Guard::open(iface));
        return FloodMonitor::open(XG_TRY(FloodMaps::open(g)), XG_TRY(Talkers::open(g)),
                                  ReaderLockId{g.netns_id(), iface.ifindex, iface.name, g.attachment()});
      };
      auto m = open();
      if (!m) {
        spdlog::warn("flood detection: {}: {}", st.ifname, m.error().message());
        continue;
      }
      next.emplace(st.ifindex, Entry{st.ifname, st.prog_id, std::move(*m)});
    }
    monitors_ = std::move(next);  // the monitors of interfaces gone stop here
  }
  for (auto it = monitors_.begin(); it != monitors_.end();) {
    auto events = it->second.monitor.tick(now_ns);
    if (!events) {
      spdlog::warn("flood detection: {}: {}", it->second.ifname, events.error().message());
      it = monitors_.erase(it);
      continue;
    }
    for (const auto& e : *events) on_event(it->second.ifname, e);
    ++it;
  }
  return {};
}

}  // namespace xdpguard::telemetry
