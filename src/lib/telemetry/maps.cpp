#include "telemetry/maps.h"

namespace xdpguard::telemetry {

Result<TelemetryMaps> TelemetryMaps::wrap(MapFd events, MapFd control, MapFd stats) {
  if (events.info().type != BPF_MAP_TYPE_RINGBUF)
    return fail(EPROTO, "{} is not a ring buffer", XDPGUARD_PIN_EVENTS);
  XG_CHECK(control.expect_sizes(sizeof(std::uint32_t), sizeof(xdpguard_telemetry)));
  TelemetryMaps m;
  m.events_ = std::move(events);
  m.control_ = std::move(control);
  m.stats_ = XG_TRY((PerCpuMap<std::uint32_t, xdpguard_tm_stats>::wrap(std::move(stats))));
  return m;
}

Result<TelemetryMaps> TelemetryMaps::open(const Guard& g) {
  if (g.pin_dir().empty()) return fail(EINVAL, "telemetry: this guard has no pins");
  auto get = [&](const char* name) { return MapFd::open_pinned(g.pin_dir() + "/" + name); };
  return wrap(XG_TRY(get(XDPGUARD_PIN_EVENTS)), XG_TRY(get(XDPGUARD_PIN_TELEMETRY)),
              XG_TRY(get(XDPGUARD_PIN_TM_STATS)));
}

Result<TelemetryMaps> TelemetryMaps::from_program(const GuardProgram& p) {
  return wrap(XG_TRY(p.map(XDPGUARD_PIN_EVENTS)), XG_TRY(p.map(XDPGUARD_PIN_TELEMETRY)),
              XG_TRY(p.map(XDPGUARD_PIN_TM_STATS)));
}

Result<TmCounters> TelemetryMaps::counters() const {
  TmCounters c;
  for (const auto& v : XG_TRY(stats_.get(0))) {
    c.records += v.records;
    c.lost += v.lost;
    c.sampled_out += v.sampled_out;
    c.unread += v.unread;
    c.record_bytes += v.record_bytes;
  }
  return c;
}

Result<xdpguard_telemetry> TelemetryMaps::read_control() const {
  xdpguard_telemetry v{};
  __u32 zero = 0;
  if (bpf_map_lookup_elem_flags(control_.fd(), &zero, &v, BPF_F_LOCK) != 0)
    return fail_errno(errno, "read " XDPGUARD_PIN_TELEMETRY);
  return v;
}

Result<void> TelemetryMaps::write_control(const xdpguard_telemetry& v) const {
  __u32 zero = 0;
  if (bpf_map_update_elem(control_.fd(), &zero, &v, BPF_F_LOCK) != 0)
    return fail_errno(errno, "write " XDPGUARD_PIN_TELEMETRY);
  return {};
}

Result<ReaderState> TelemetryMaps::reader() const {
  auto v = XG_TRY(read_control());
  ReaderState r;
  r.kind = static_cast<xdpguard_reader>(v.reader);
  r.pid = v.reader_pid;
  r.capture = v.capture != 0;
  r.alive = v.reader != XDPGUARD_READER_NONE && v.lease_ns >= monotonic_ns();
  return r;
}

}  // namespace xdpguard::telemetry
