#include "telemetry/top.h"

#include <algorithm>
#include <map>
#include <vector>

#include <fmt/format.h>

namespace xdpguard::telemetry {

Result<TopSample> sample(const Guard& g, const TelemetryMaps& maps, const Talkers* talkers) {
  TopSample s;
  s.stats = XG_TRY(g.stats());
  s.records = XG_TRY(maps.counters());
  if (talkers && XG_TRY(talkers->enabled())) s.talkers = XG_TRY(talkers->read());
  s.mono_ns = monotonic_ns();
  return s;
}

std::string si(double v) {
  static constexpr const char* kUnits[] = {"", "k", "M", "G", "T"};
  int u = 0;
  while (v >= 999.5 && u < 4) v /= 1000, ++u;
  if (u == 0) return fmt::format("{:.0f}", v);
  if (v < 9.995) return fmt::format("{:.2f}{}", v, kUnits[u]);
  if (v < 99.95) return fmt::format("{:.1f}{}", v, kUnits[u]);
  return fmt::format("{:.0f}{}", v, kUnits[u]);
}

namespace {

struct Row {
  std::string id, action, text;
  double pps = 0, bps = 0;
  std::uint64_t packets = 0;
};

// Counters that went backwards (a rule replaced, an interface re-attached): no rate.
double rate(std::uint64_t a, std::uint64_t b, double secs) {
  return b >= a && secs > 0 ? static_cast<double>(b - a) / secs : 0;
}

}  // namespace

std::string top_frame(const std::string& ifname, const TopSample& a, const TopSample& b, std::size_t rows) {
  const double secs = static_cast<double>(b.mono_ns - a.mono_ns) / 1e9;
  std::string out = fmt::format("xdpguard top {}  mode {}  interval {:.1f} s  rules {}\n\n", ifname,
                                b.stats.mode, secs, b.stats.rules.size());

  out += fmt::format("{:<10} {:>9} {:>10} {:>14}\n", "action", "pps", "bits/s", "packets");
  std::vector<Row> actions;
  actions.reserve(XDPGUARD_NUM_ACTIONS);
  for (std::uint32_t i = 0; i < XDPGUARD_NUM_ACTIONS; ++i)
    actions.push_back(
        {"", action_name(i), "", rate(a.stats.actions[i].packets, b.stats.actions[i].packets, secs),
         8 * rate(a.stats.actions[i].bytes, b.stats.actions[i].bytes, secs), b.stats.actions[i].packets});
  std::stable_sort(actions.begin(), actions.end(), [](const Row& x, const Row& y) { return x.pps > y.pps; });
  for (const auto& r : actions)
    out += fmt::format("{:<10} {:>9} {:>10} {:>14}\n", r.action, si(r.pps), si(r.bps), r.packets);

  std::map<std::uint32_t, xdpguard_counter> before;
  for (const auto& r : a.stats.rules) before[r.id] = r.counter;
  std::vector<Row> rules;
  rules.reserve(b.stats.rules.size() + 1);
  for (const auto& r : b.stats.rules) {
    const auto& p = before[r.id];  // a new rule: from zero
    rules.push_back({std::to_string(r.id), "", r.text, rate(p.packets, r.counter.packets, secs),
                     8 * rate(p.bytes, r.counter.bytes, secs), r.counter.packets});
  }
  rules.push_back({"default", action_name(b.stats.default_action), "(no rule matched)",
                   rate(a.stats.default_rule.packets, b.stats.default_rule.packets, secs),
                   8 * rate(a.stats.default_rule.bytes, b.stats.default_rule.bytes, secs),
                   b.stats.default_rule.packets});
  std::stable_sort(rules.begin(), rules.end(), [](const Row& x, const Row& y) { return x.pps > y.pps; });
  out += fmt::format("\n{:>7} {:>9} {:>10} {:>14}  {}\n", "rule", "pps", "bits/s", "packets", "rule");
  for (std::size_t i = 0; i < rules.size() && i < rows; ++i) {
    const auto& r = rules[i];
    out += fmt::format("{:>7} {:>9} {:>10} {:>14}  {}\n", r.id, si(r.pps), si(r.bps), r.packets,
                       r.action.empty() ? r.text : r.action + " " + r.text);
  }
  if (rules.size() > rows) out += fmt::format("    ... {} more rules\n", rules.size() - rows);

  if (b.talkers) {
    std::map<std::string, xdpguard_counter> prev;
    if (a.talkers)
      for (const auto& t : *a.talkers) prev[t.address()] = {t.packets, t.bytes};
    std::vector<Row> src;
    src.reserve(b.talkers->size());
    for (const auto& t : *b.talkers) {
      const auto& p = prev[t.address()];
      src.push_back({t.address(), "", "", rate(p.packets, t.packets, secs), 8 * rate(p.bytes, t.bytes, secs),
                     t.packets});
    }
    std::stable_sort(src.begin(), src.end(), [](const Row& x, const Row& y) { return x.pps > y.pps; });
    out += fmt::format("\n{:<39} {:>9} {:>10} {:>14}\n", "top sources", "pps", "bits/s", "packets");
    for (std::size_t i = 0; i < src.size() && i < 10; ++i)
      out += fmt::format("{:<39} {:>9} {:>10} {:>14}\n", src[i].id, si(src[i].pps), si(src[i].bps),
                         src[i].packets);
  }

  out += fmt::format("\nrecords {}/s written, {}/s lost, {}/s sampled out, {}/s unread\n",
                     si(rate(a.records.records, b.records.records, secs)),
                     si(rate(a.records.lost, b.records.lost, secs)),
                     si(rate(a.records.sampled_out, b.records.sampled_out, secs)),
                     si(rate(a.records.unread, b.records.unread, secs)));
  return out;
}

}  // namespace xdpguard::telemetry
