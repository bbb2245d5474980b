#include "telemetry/record.h"

#include <arpa/inet.h>
#include <time.h>

#include <sstream>

#include <fmt/format.h>

#include "guard/guard.h"

namespace xdpguard::telemetry {

Clock Clock::now() {
  timespec mono{}, real{};
  (void)clock_gettime(CLOCK_MONOTONIC, &mono);  // cannot fail for these clocks
  (void)clock_gettime(CLOCK_REALTIME, &real);
  auto ns = [](const timespec& t) { return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; };
  return Clock{ns(real) - ns(mono)};
}

std::string tcp_flags_text(std::uint8_t flags) {
  static constexpr const char* kNames[8] = {"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"};
  std::string s;
  for (int b = 0; b < 8; ++b) {
    if (!(flags & (1u << b))) continue;
    if (!s.empty()) s += ',';
    s += kNames[b];
  }
  return s;
}

std::string address_text(std::uint8_t family, const std::uint32_t addr[4]) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (family == 4) inet_ntop(AF_INET, addr, buf, sizeof buf);
  if (family == 6) inet_ntop(AF_INET6, addr, buf, sizeof buf);
  return buf;
}

std::string proto_text(std::uint8_t proto) {
  switch (proto) {
    case 6: return "tcp";
    case 17: return "udp";
    case 1: return "icmp";
    case 58: return "icmpv6";
    default: return std::to_string(proto);
  }
}

std::string reason_text(std::uint8_t reason) {
  std::string s;
  if (reason & XDPGUARD_REASON_LOG) s += "log";
  if (reason & XDPGUARD_REASON_CAPTURE) s += s.empty() ? "capture" : ",capture";
  return s;
}

std::string iso_time(std::int64_t wall_ns) {
  const time_t sec = static_cast<time_t>(wall_ns / 1'000'000'000);
  tm t{};
  if (!gmtime_r(&sec, &t)) return std::to_string(wall_ns);  // out of range for a calendar
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                     t.tm_hour, t.tm_min, t.tm_sec, wall_ns % 1'000'000'000);
}

std::string short_time(std::int64_t wall_ns) {
  const time_t sec = static_cast<time_t>(wall_ns / 1'000'000'000);
  tm t{};
  if (!localtime_r(&sec, &t)) return std::to_string(wall_ns);
  return fmt::format("{:02}:{:02}:{:02}.{:06}", t.tm_hour, t.tm_min, t.tm_sec,
                     wall_ns % 1'000'000'000 / 1000);
}

namespace {

bool has_ports(const xdpguard_pkt& p) { return !p.frag && (p.l4proto == 6 || p.l4proto == 17); }
bool is_icmp(const xdpguard_pkt& p) { return !p.frag && (p.l4proto == 1 || p.l4proto == 58); }

std::string endpoint(const xdpguard_pkt& p, const std::uint32_t addr[4], std::uint16_t port) {
  std::string a = address_text(p.family, addr);
  if (!has_ports(p)) return a;
  return p.family == 6 ? fmt::format("[{}]:{}", a, port) : fmt::format("{}:{}", a, port);
}

std::string rule_text(std::uint32_t id) {
  if (id == XDPGUARD_SLOT_NONE) return "-";
  if (id == XDPGUARD_RULE_DEFAULT) return "default";
  return fmt::format("rule {}", id);
}

}  // namespace

std::string record_line(const xdpguard_record& r, const Clock& clock) {
  const xdpguard_pkt& p = r.pkt;
  std::string s = fmt::format("{} {} {} {}", short_time(clock.wall_ns(r.ts_ns)), action_name(r.verdict),
                              rule_text(r.rule_id), reason_text(r.reason));
  if (p.family == 4 || p.family == 6) {
    s += fmt::format(" {} {} > {}", proto_text(p.l4proto), endpoint(p, p.saddr, p.sport),
                     endpoint(p, p.daddr, p.dport));
    if (p.frag) s += " fragment";
    if (p.l4proto == 6 && !p.frag)
      s += fmt::format(" flags {}", p.tcp_flags ? tcp_flags_text(p.tcp_flags) : "none");
    if (is_icmp(p)) s += fmt::format(" type {} code {}", p.icmp_type, p.icmp_code);
  } else {
    s += " not-ip";
  }
  if (p.nvlan) s += fmt::format(" vlans {}", p.nvlan);
  s += fmt::format(" len {}", r.orig_len);
  return s;
}

nlohmann::json record_json(const xdpguard_record& r, std::span<const std::uint8_t> frame,
                           const std::string& ifname, const Clock& clock) {
  const xdpguard_pkt& p = r.pkt;
  const std::int64_t wall = clock.wall_ns(r.ts_ns);
  nlohmann::json j = {
      {"type", "packet"},
      {"time", iso_time(wall)},
      {"ts_ns", r.ts_ns},
      {"interface", ifname},
      {"verdict", action_name(r.verdict)},
      {"rule_id", r.rule_id == XDPGUARD_SLOT_NONE ? nlohmann::json() : nlohmann::json(r.rule_id)},
      {"reason", reason_text(r.reason)},
      {"len", r.orig_len},
      {"caplen", r.cap_len},
      {"cpu", r.cpu}};
  if (p.family == 4 || p.family == 6) {
    j["family"] = p.family == 4 ? "ipv4" : "ipv6";
    j["proto"] = proto_text(p.l4proto);
    j["saddr"] = address_text(p.family, p.saddr);
    j["daddr"] = address_text(p.family, p.daddr);
    j["fragment"] = p.frag != 0;
    if (has_ports(p)) {
      j["sport"] = p.sport;
      j["dport"] = p.dport;
    }
    if (p.l4proto == 6 && !p.frag) j["tcp_flags"] = tcp_flags_text(p.tcp_flags);
    if (is_icmp(p)) {
      j["icmp_type"] = p.icmp_type;
      j["icmp_code"] = p.icmp_code;
    }
  } else {
    j["family"] = nullptr;
  }
  j["vlans"] = p.nvlan;
  if (!frame.empty()) {
    std::string hex;
    hex.reserve(frame.size() * 2);
    for (auto b : frame) hex += fmt::format("{:02x}", b);
    j["frame"] = hex;
  }
  return j;
}

Result<std::uint32_t> parse_verdicts(const std::string& list) {
  std::uint32_t bits = 0;
  std::stringstream ss(list);
  std::string word;
  while (std::getline(ss, word, ',')) {
    if (word == "all") {
      bits |= (1u << XDPGUARD_NUM_ACTIONS) - 1;
      continue;
    }
    bool found = false;
    for (std::uint32_t a = 0; a < XDPGUARD_NUM_ACTIONS; ++a)
      if (word == action_name(a)) bits |= 1u << a, found = true;
    if (!found)
      return fail(EINVAL, "unknown verdict '{}' (expected pass, drop, tx, redirect, aborted or all)", word);
  }
  if (!bits) return fail(EINVAL, "no verdict given (expected pass, drop, tx, redirect, aborted or all)");
  return bits;
}

}  // namespace xdpguard::telemetry
