#include "telemetry/flood.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace xdpguard::telemetry {
namespace {

constexpr std::uint64_t kNsPerSec = 1'000'000'000ULL;

std::uint64_t rate_of(std::uint64_t packets, std::uint64_t ns) {
  return static_cast<std::uint64_t>(
      std::llround(static_cast<double>(packets) * 1e9 / static_cast<double>(ns)));
}

std::string source_address(const xdpguard_flood_source& s) {
  return address_text(static_cast<std::uint8_t>(s.key.family), s.key.addr);
}

double seconds_between(std::uint64_t from_ns, std::uint64_t to_ns) {
  return to_ns > from_ns ? static_cast<double>(to_ns - from_ns) / 1e9 : 0.0;
}

}  // namespace

const char* flood_proto_name(std::size_t proto) {
  switch (proto) {
    case XDPGUARD_FLOOD_SYN: return "syn";
    case XDPGUARD_FLOOD_UDP: return "udp";
    case XDPGUARD_FLOOD_ICMP: return "icmp";
    case XDPGUARD_FLOOD_FRAG: return "fragment";
    default: return "";
  }
}

bool FloodConfig::watching() const {
  return std::any_of(pps.begin(), pps.end(), [](std::uint64_t v) { return v != 0; });
}

FloodConfig FloodConfig::overridden_by(const config::Flood& f) const {
  FloodConfig c = *this;
  if (f.syn_pps) c.pps[XDPGUARD_FLOOD_SYN] = *f.syn_pps;
  if (f.udp_pps) c.pps[XDPGUARD_FLOOD_UDP] = *f.udp_pps;
  if (f.icmp_pps) c.pps[XDPGUARD_FLOOD_ICMP] = *f.icmp_pps;
  if (f.frag_pps) c.pps[XDPGUARD_FLOOD_FRAG] = *f.frag_pps;
  if (f.hold) c.hold_s = *f.hold;
  if (f.top_sources) c.top = *f.top_sources;
  return c;
}

FloodConfig FloodConfig::from_abi(const xdpguard_flood_cfg& c) {
  FloodConfig f;
  if (!c.configured) return f;
  std::copy(std::begin(c.pps), std::end(c.pps), f.pps.begin());
  f.hold_s = c.hold_s;
  f.top = std::min<std::uint32_t>(c.top, XDPGUARD_FLOOD_TOP);
  return f;
}

xdpguard_flood_cfg FloodConfig::to_abi() const {
  xdpguard_flood_cfg c{};
  c.configured = 1;
  std::copy(pps.begin(), pps.end(), std::begin(c.pps));
  c.hold_s = hold_s;
  c.top = std::min<std::uint32_t>(top, XDPGUARD_FLOOD_TOP);
  return c;
}

FloodDetector FloodDetector::resume(const FloodConfig& cfg, const xdpguard_flood_state& st) {
  FloodDetector d(cfg);
  d.st_ = st;
  d.st_.lock = {};
  d.st_.pid = 0;
  return d;
}

std::vector<FloodEvent> FloodDetector::sample(const FloodSample& s) {
  std::vector<FloodEvent> out;
  const bool first = st_.sample_ns == 0;
  if (!first && s.mono_ns <= st_.sample_ns) return out;
  const std::uint64_t from = st_.sample_ns;
  const std::uint64_t dt = s.mono_ns - from;
  for (std::size_t p = 0; p < kFloodProtos && !first; ++p) {
    xdpguard_flood_attack& a = st_.proto[p];
    if (s.packets[p] < st_.packets[p]) {
      // The counters restarted (a new attachment): this interval has no rate.
      a.rate_pps = 0;
      continue;
    }
    const std::uint64_t delta = s.packets[p] - st_.packets[p];
    const std::uint64_t rate = rate_of(delta, dt);
    const std::uint64_t threshold = cfg_.pps[p];
    const bool over = threshold != 0 && static_cast<double>(delta) * 1e9 >
                                            static_cast<double>(threshold) * static_cast<double>(dt);
    a.rate_pps = rate;
    if (!a.active) {
      if (!over) continue;
      const std::uint64_t attacks = a.attacks + 1;
      a = xdpguard_flood_attack{};
      a.attacks = attacks;
      a.active = 1;
      a.started_ns = from;
      a.detected_ns = s.mono_ns;
      a.rate_pps = a.start_pps = a.peak_pps = rate;
      a.threshold_pps = threshold;
      a.packets = delta;
      a.sources = s.sources_from;
      if (s.sources_from == XDPGUARD_FLOOD_SRC_TALKERS) {
        const std::size_t n = std::min<std::size_t>({s.sources.size(), cfg_.top, XDPGUARD_FLOOD_TOP});
        std::copy_n(s.sources.begin(), n, a.top);
        a.nsources = static_cast<std::uint32_t>(n);
      }
      out.push_back({true, p, s.mono_ns, a});
      continue;
    }
    if (over) {
      a.packets += a.pending + delta;
      a.pending = 0;
      a.below_ns = 0;
      a.peak_pps = std::max<std::uint64_t>(a.peak_pps, rate);
      continue;
    }
    if (!a.below_ns) a.below_ns = from;
    a.pending += delta;
    // Not watched any more: ends now. Else after hold_s seconds at or under.
    if (threshold == 0 || s.mono_ns - a.below_ns >= std::uint64_t{cfg_.hold_s} * kNsPerSec) {
      a.active = 0;
      a.ended_ns = a.below_ns;
      a.below_ns = 0;
      a.pending = 0;
      out.push_back({false, p, s.mono_ns, a});
    }
  }
  st_.sample_ns = s.mono_ns;
  std::copy(s.packets.begin(), s.packets.end(), std::begin(st_.packets));
  return out;
}

// ---- formatting -------------------------------------------------------------

nlohmann::json flood_sources_json(const xdpguard_flood_attack& a) {
  if (a.sources != XDPGUARD_FLOOD_SRC_TALKERS) return nullptr;
  nlohmann::json list = nlohmann::json::array();
  for (std::uint32_t i = 0; i < a.nsources && i < XDPGUARD_FLOOD_TOP; ++i)
    list.push_back({{"address", source_address(a.top[i])}, {"pps", a.top[i].pps}});
  return list;
}

std::string flood_sources_note(const xdpguard_flood_attack& a, const std::string& ifname) {
  switch (a.sources) {
    case XDPGUARD_FLOOD_SRC_TALKERS:
      return "the busiest sources over the interval, all protocols (top talkers)";
    case XDPGUARD_FLOOD_SRC_NO_BASELINE:
      return "top talkers had just been turned on: no earlier count to take a rate from";
    default: return fmt::format("top talkers are off (xdpguard talkers {} on)", ifname);
  }
}

std::string flood_event_line(const FloodEvent& e, const std::string& ifname, const Clock& clock) {
  const xdpguard_flood_attack& a = e.attack;
  const std::string head =
      fmt::format("{} attack {}: {} flood on {} (attack {})", short_time(clock.wall_ns(e.at_ns)),
                  e.started ? "started" : "ended", flood_proto_name(e.proto), ifname, a.attacks);
  if (!e.started)
    return fmt::format("{}: {:.1f} s over the threshold of {} pps, peak {} pps, {} packets", head,
                       seconds_between(a.started_ns, a.ended_ns), a.threshold_pps, a.peak_pps, a.packets);
  std::string s =
      fmt::format("{}: {} pps over the threshold of {} pps; ", head, a.start_pps, a.threshold_pps);
  if (a.sources != XDPGUARD_FLOOD_SRC_TALKERS)
    return s + "top sources unknown: " + flood_sources_note(a, ifname);
  s += "top sources (all protocols):";
  if (a.nsources == 0) return s + " none counted";
  for (std::uint32_t i = 0; i < a.nsources && i < XDPGUARD_FLOOD_TOP; ++i)
    s += fmt::format("{} {} {} pps", i ? "," : "", source_address(a.top[i]), a.top[i].pps);
  return s;
}

nlohmann::json flood_event_json(const FloodEvent& e, const std::string& ifname, const Clock& clock) {
  const xdpguard_flood_attack& a = e.attack;
  nlohmann::json j = {{"type", e.started ? "attack_started" : "attack_ended"},
                      {"time", iso_time(clock.wall_ns(e.at_ns))},
                      {"ts_ns", e.at_ns},
                      {"interface", ifname},
                      {"protocol", flood_proto_name(e.proto)},
                      {"attack", a.attacks},
                      {"started", iso_time(clock.wall_ns(a.started_ns))},
                      {"threshold_pps", a.threshold_pps}};
  if (e.started) {
    j["rate_pps"] = a.start_pps;
    j["top_sources"] = flood_sources_json(a);
    j["top_sources_from"] = a.sources == XDPGUARD_FLOOD_SRC_TALKERS ? nlohmann::json("top_talkers") : nullptr;
    if (a.sources != XDPGUARD_FLOOD_SRC_TALKERS) j["top_sources_note"] = flood_sources_note(a, ifname);
  } else {
    j["ended"] = iso_time(clock.wall_ns(a.ended_ns));
    j["duration_s"] = seconds_between(a.started_ns, a.ended_ns);
    j["peak_pps"] = a.peak_pps;
    j["packets"] = a.packets;
  }
  return j;
}

}  // namespace xdpguard::telemetry

namespace xdpguard::telemetry {
namespace {

nlohmann::json attack_json(const xdpguard_flood_attack& a, const Clock& clock) {
  if (!a.attacks) return nullptr;
  return {{"attack", a.attacks},
          {"started", iso_time(clock.wall_ns(a.started_ns))},
          {"ended", a.active ? nlohmann::json() : nlohmann::json(iso_time(clock.wall_ns(a.ended_ns)))},
          {"start_pps", a.start_pps},
          {"peak_pps", a.peak_pps},
          {"threshold_pps", a.threshold_pps},
          {"packets", a.packets},
          {"top_sources", flood_sources_json(a)}};
}

}  // namespace

nlohmann::json flood_status_json(const FloodStatus& s, const Clock& clock) {
  nlohmann::json detector = nullptr;
  if (s.detector)
    detector = {{"pid", s.state.pid}, {"last_sample_s_ago", seconds_between(s.state.sample_ns, s.now_ns)}};
  nlohmann::json protos = nlohmann::json::object();
  for (std::size_t p = 0; p < kFloodProtos; ++p) {
    const xdpguard_flood_attack& a = s.state.proto[p];
    protos[flood_proto_name(p)] = {{"threshold_pps", s.config.pps[p]},
                                   {"packets", s.counters[p].packets},
                                   {"bytes", s.counters[p].bytes},
                                   {"rate_pps", s.detector ? nlohmann::json(a.rate_pps) : nlohmann::json()},
                                   {"active", s.detector && a.active != 0},
                                   {"attacks", a.attacks},
                                   {"attack", attack_json(a, clock)}};
  }
  return {{"detector", detector},
          {"hold_s", s.config.hold_s},
          {"top_sources", s.config.top},
          {"protocols", protos}};
}

std::string flood_status_table(const FloodStatus& s, const std::string& ifname, const Clock& clock) {
  std::string out = fmt::format("flood detection on {}: ", ifname);
  if (s.detector)
    out += fmt::format("detected by pid {}, last sample {:.1f} s ago", s.state.pid,
                       seconds_between(s.state.sample_ns, s.now_ns));
  else
    out += fmt::format(
        "no detector running, rates unknown (`xdpguard events {}` or `xdpguard metrics --listen "
        "ADDR:PORT` detects)",
        ifname);
  out += fmt::format("; hold {} s, top sources {}\n\n", s.config.hold_s, s.config.top);
  out += fmt::format("{:<9} {:>14} {:>12} {:>16} {:>8}  {}\n", "protocol", "threshold pps", "rate pps",
                     "packets", "attacks", "state");
  for (std::size_t p = 0; p < kFloodProtos; ++p) {
    const xdpguard_flood_attack& a = s.state.proto[p];
    std::string state;
    if (s.detector && a.active)
      state = fmt::format("ATTACK since {} ({:.1f} s), peak {} pps", short_time(clock.wall_ns(a.started_ns)),
                          seconds_between(a.started_ns, s.now_ns), a.peak_pps);
    else if (!s.config.pps[p])
      state = "not watched";
    else
      state = "-";
    if (a.attacks && !a.active)
      state +=
          fmt::format("; last attack {} for {:.1f} s, peak {} pps", short_time(clock.wall_ns(a.started_ns)),
                      seconds_between(a.started_ns, a.ended_ns), a.peak_pps);
    out +=
        fmt::format("{:<9} {:>14} {:>12} {:>16} {:>8}  {}\n", flood_proto_name(p),
                    s.config.pps[p] ? std::to_string(s.config.pps[p]) : "-",
                    s.detector ? std::to_string(a.rate_pps) : "-", s.counters[p].packets, a.attacks, state);
  }
  return out;
}

std::string flood_status_line(const FloodStatus& s) {
  if (!s.config.watching()) return "  flood detection: nothing watched (no thresholds)\n";
  std::string out = "  flood detection:";
  const char* sep = " ";
  for (std::size_t p = 0; p < kFloodProtos; ++p) {
    if (!s.config.pps[p]) continue;
    const xdpguard_flood_attack& a = s.state.proto[p];
    out += fmt::format("{}{} {} pps (threshold {}){}", sep, flood_proto_name(p),
                       s.detector ? std::to_string(a.rate_pps) : "?", s.config.pps[p],
                       s.detector && a.active ? " ATTACK" : "");
    sep = ", ";
  }
  out += s.detector ? fmt::format("; detected by pid {}\n", s.state.pid) : "; no detector running\n";
  return out;
}

}  // namespace xdpguard::telemetry
