#include "report/ddos.h"

#include <fmt/format.h>

#include "rules/printer.h"

namespace xdpguard {
namespace {

std::uint64_t ms(std::uint64_t ns) { return ns / 1'000'000; }

std::string seconds_text(std::uint64_t ns) { return fmt::format("{:.1f}s", static_cast<double>(ns) / 1e9); }

}  // namespace

nlohmann::json ddos_json(const DdosStats& s) {
  nlohmann::json j = nlohmann::json::object();
  for (int i = 0; i < XDPGUARD_DDOS_MAX; ++i)
    j[ddos_counter_name(i)] = {{"packets", s.counters[i].packets}, {"bytes", s.counters[i].bytes}};
  j["buckets"] = {{"used", s.buckets}, {"capacity", s.bucket_capacity}, {"evicted", s.bucket_evictions}};
  j["block_list"] = {{"prefixes", s.blocked}, {"capacity", s.block_capacity}};
  return j;
}

std::string ddos_table(const DdosStats& s) {
  bool any = s.buckets || s.blocked;
  for (const auto& c : s.counters) any = any || c.packets;
  if (!any) return "";
  std::string out = "  ddos:";
  for (int i = 0; i < XDPGUARD_DDOS_MAX; ++i)
    if (s.counters[i].packets) out += fmt::format(" {}={}", ddos_counter_name(i), s.counters[i].packets);
  out += fmt::format("\n  limiter buckets: {} of {} in use, {} evicted; blocked prefixes: {} of {}\n",
                     s.buckets, s.bucket_capacity, s.bucket_evictions, s.blocked, s.block_capacity);
  return out;
}

nlohmann::json blocked_json(const std::string& ifname, const std::vector<BlockedEntry>& list) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& e : list)
    arr.push_back({{"prefix", rules::prefix_to_string(e.prefix)},
                   {"expires_in_ms", ms(e.expires_in_ns)},
                   {"age_ms", ms(e.age_ns)},
                   {"packets", e.packets},
                   {"rule", e.rule}});
  return {{"interface", ifname}, {"blocked", arr}};
}

std::string blocked_table(const std::vector<BlockedEntry>& list) {
  if (list.empty()) return "no blocked sources\n";
  std::string out =
      fmt::format("{:<44} {:>10} {:>10} {:>12} {:>6}\n", "prefix", "time left", "age", "dropped", "rule");
  for (const auto& e : list)
    out += fmt::format("{:<44} {:>10} {:>10} {:>12} {:>6}\n", rules::prefix_to_string(e.prefix),
                       seconds_text(e.expires_in_ns), seconds_text(e.age_ns), e.packets, e.rule);
  return out;
}

}  // namespace xdpguard
