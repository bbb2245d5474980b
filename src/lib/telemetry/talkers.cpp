#include "telemetry/talkers.h"

#include <algorithm>

#include "telemetry/record.h"

namespace xdpguard::telemetry {
std::string Talker::address() const { return address_text(static_cast<std::uint8_t>(key.family), key.addr); }

Result<Talkers> Talkers::open(const Guard& g) {
  if (g.pin_dir().empty()) return fail(EINVAL, "talkers: this guard has no pins");
  auto get = [&](const char* name) { return MapFd::open_pinned(g.pin_dir() + "/" + name); };
  Talkers t;
  t.counts_ =
      XG_TRY((PerCpuMap<xdpguard_talker_key, xdpguard_counter>::wrap(XG_TRY(get(XDPGUARD_PIN_TALKERS)))));
  t.on_ = XG_TRY((Map<std::uint32_t, std::uint32_t>::wrap(XG_TRY(get(XDPGUARD_PIN_TALK_ON)))));
  return t;
}

Result<Talkers> Talkers::from_program(const GuardProgram& p) {
  Talkers t;
  t.counts_ =
      XG_TRY((PerCpuMap<xdpguard_talker_key, xdpguard_counter>::wrap(XG_TRY(p.map(XDPGUARD_PIN_TALKERS)))));
  t.on_ = XG_TRY((Map<std::uint32_t, std::uint32_t>::wrap(XG_TRY(p.map(XDPGUARD_PIN_TALK_ON)))));
  return t;
}

Result<bool> Talkers::enabled() const { return XG_TRY(on_.get(0)) != 0; }

Result<void> Talkers::clear() {
  // One bounded pass (bpf/map.h): sources counted meanwhile may stay.
  for (const auto& [k, v] : XG_TRY_CTX(counts_.entries(), "read " XDPGUARD_PIN_TALKERS))
    if (bpf_map_delete_elem(counts_.fd(), &k) != 0 && errno != ENOENT)
      return fail_errno(errno, "clear " XDPGUARD_PIN_TALKERS);
  return {};
}

Result<void> Talkers::enable(bool on, Guard& g) {
  // The flag is what says on or off, and the count is in the classifier
  // whenever the flag is set: on compiles the count in before the flag is
  // set, off clears the flag before compiling the count out. A process
  // killed in between leaves talkers off, with code that reads the flag
  // (one load) until the next change.
  if (on) {
    XG_CHECK(clear());
    XG_CHECK(g.recompile_locked(true));
    return on_.put(0, 1);
  }
  XG_CHECK(on_.put(0, 0));
  XG_CHECK(g.recompile_locked(false));
  return clear();
}

Result<std::vector<Talker>> Talkers::read() const {
  std::vector<Talker> out;
  // One batch walk of the LRU map: each source at most once, at most
  // max_entries of them, however fast a flood replaces them meanwhile.
  for (const auto& [k, vals] : XG_TRY_CTX(counts_.entries(), "read " XDPGUARD_PIN_TALKERS)) {
    Talker t;
    t.key = k;
    for (const auto& v : vals) t.packets += v.packets, t.bytes += v.bytes;
    out.push_back(t);
  }
  std::sort(out.begin(), out.end(), [](const Talker& a, const Talker& b) {
    return a.packets != b.packets ? a.packets > b.packets : a.bytes > b.bytes;
  });
  return out;
}

Result<nlohmann::json> talkers_json(const Guard& g, std::size_t n) {
  auto t = XG_TRY(Talkers::open(g));
  if (!XG_TRY(t.enabled())) return nlohmann::json(nullptr);
  nlohmann::json list = nlohmann::json::array();
  auto all = XG_TRY(t.read());
  for (std::size_t i = 0; i < all.size() && i < n; ++i)
    list.push_back({{"address", all[i].address()}, {"packets", all[i].packets}, {"bytes", all[i].bytes}});
  return list;
}

}  // namespace xdpguard::telemetry
