#include "report/ddos.h"

#include <fmt/format.h>

#include "rules/printer.h"

namespace xdpguard {
namespace {

std::uint64_t ms(std::uint64_t ns) { return ns / 1'000'000; }

std::string seconds_text(std::uint64_t ns) { return fmt::format("{:.1f}s", static_cast<double>(ns) / 1e9); }

const char* state_name(int state) {
  switch (state) {
    case XDPGUARD_SYNPROXY_ON: return "on";
    case XDPGUARD_SYNPROXY_CHANGING: return "changing";
    default: return "off";
  }
}

constexpr int kSynproxyCounters[] = {XDPGUARD_DDOS_SYN_COOKIE,  XDPGUARD_DDOS_ACK_VALID,
                                     XDPGUARD_DDOS_ACK_INVALID, XDPGUARD_DDOS_ESTABLISHED,
                                     XDPGUARD_DDOS_SOCKET,      XDPGUARD_DDOS_SYN_INVALID,
                                     XDPGUARD_DDOS_NOT_LOCAL,   XDPGUARD_DDOS_SYNPROXY_DROP};

std::string mac_text(const std::array<std::uint8_t, 6>& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

std::vector<std::string> local_text(const SynproxyIdentity& id) {
  std::vector<std::string> out;
  for (const auto& p : id.local) out.push_back(rules::prefix_to_string(p));
  return out;
}

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

nlohmann::json synproxy_json(const std::string& ifname, const SynproxyStatus& st, const DdosStats& s) {
  nlohmann::json counters = nlohmann::json::object();
  for (int i : kSynproxyCounters)
    counters[ddos_counter_name(i)] = {{"packets", s.counters[i].packets}, {"bytes", s.counters[i].bytes}};
  nlohmann::json j = {{"interface", ifname},      {"state", state_name(st.state)},
                      {"ports", st.config.ports}, {"mss4", st.config.mss4},
                      {"mss6", st.config.mss6},   {"wscale", st.config.wscale},
                      {"ttl", st.config.ttl},     {"changed_sysctls", st.changed_sysctls},
                      {"counters", counters}};
  j["nft_table"] = st.table.empty() ? nlohmann::json(nullptr) : nlohmann::json("inet " + st.table);
  if (st.state != XDPGUARD_SYNPROXY_OFF) {
    j["answers_for"] = {{"mac", mac_text(st.identity.mac)}, {"addresses", local_text(st.identity)}};
    j["namespace_interfaces"] = st.namespace_ifaces;
  }
  return j;
}

std::string synproxy_text(const std::string& ifname, const SynproxyStatus& st, const DdosStats& s) {
  if (st.state == XDPGUARD_SYNPROXY_OFF) return fmt::format("synproxy on {}: off\n", ifname);
  std::string out = fmt::format("synproxy on {}: {}, ports {}\n", ifname, state_name(st.state),
                                fmt::join(st.config.ports, ","));
  out += fmt::format("  SYN-ACKs: mss {} (IPv4) / {} (IPv6), wscale {}, ttl {}\n", st.config.mss4,
                     st.config.mss6, st.config.wscale, st.config.ttl);
  const auto local = local_text(st.identity);
  out += fmt::format("  answers SYNs to {} at {}\n", mac_text(st.identity.mac),
                     local.empty() ? std::string("(no address)") : fmt::format("{}", fmt::join(local, " ")));
  if (!st.table.empty()) out += fmt::format("  nftables: table inet {} (SYNPROXY)\n", st.table);
  for (const auto& c : st.changed_sysctls)
    out += fmt::format("  changed in this namespace: {} (for ifindex {})\n", c,
                       fmt::join(st.namespace_ifaces, ","));
  out += " ";
  for (int i : kSynproxyCounters) out += fmt::format(" {}={}", ddos_counter_name(i), s.counters[i].packets);
  out += "\n";
  return out;
}

}  // namespace xdpguard
