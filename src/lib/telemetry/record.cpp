#include "telemetry/record.h"

#include <arpa/inet.h>
#include <time.h>

#include <charconv>
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
    if (p.frag == XDPGUARD_FRAG_LATER) s += " fragment";
    if (p.frag == XDPGUARD_FRAG_L4_CUT) s += " l4-cut";
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
    j["fragment"] = p.frag == XDPGUARD_FRAG_LATER;
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

// ---- RecordWriter ------------------------------------------------------------

namespace {

void put_u64(std::string& b, std::uint64_t v) {
  char d[20];
  auto end = std::to_chars(d, d + sizeof d, v).ptr;
  b.append(d, end);
}

// v as exactly `width` decimal digits (v < 10^width).
void put_fixed(std::string& b, std::uint64_t v, int width) {
  char d[20];
  for (int i = width - 1; i >= 0; --i, v /= 10) d[i] = static_cast<char>('0' + v % 10);
  b.append(d, static_cast<std::size_t>(width));
}

void put_address(std::string& b, std::uint8_t family, const std::uint32_t addr[4]) {
  if (family != 4) {
    b += address_text(family, addr);
    return;
  }
  const auto* o = reinterpret_cast<const std::uint8_t*>(addr);  // network byte order
  for (int i = 0; i < 4; ++i) {
    if (i) b += '.';
    put_u64(b, o[i]);
  }
}

void put_endpoint(std::string& b, const xdpguard_pkt& p, const std::uint32_t addr[4], std::uint16_t port) {
  if (!has_ports(p)) {
    put_address(b, p.family, addr);
    return;
  }
  if (p.family == 6) b += '[';
  put_address(b, p.family, addr);
  b += p.family == 6 ? "]:" : ":";
  put_u64(b, port);
}

void put_reason(std::string& b, std::uint8_t reason) {
  if (reason & XDPGUARD_REASON_LOG) b += "log";
  if (reason & XDPGUARD_REASON_CAPTURE) b += (reason & XDPGUARD_REASON_LOG) ? ",capture" : "capture";
}

void put_proto(std::string& b, std::uint8_t proto) {
  switch (proto) {
    case 6: b += "tcp"; break;
    case 17: b += "udp"; break;
    case 1: b += "icmp"; break;
    case 58: b += "icmpv6"; break;
    default: put_u64(b, proto);
  }
}

void put_flags(std::string& b, std::uint8_t flags) {
  static constexpr const char* kNames[8] = {"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"};
  bool first = true;
  for (int i = 0; i < 8; ++i) {
    if (!(flags & (1u << i))) continue;
    if (!first) b += ',';
    b += kNames[i];
    first = false;
  }
}

}  // namespace

RecordWriter::RecordWriter(const Clock& clock, const std::string& ifname, bool json)
    : clock_(clock), ifname_json_(nlohmann::json(ifname).dump()), json_(json) {}

void RecordWriter::append(const xdpguard_record& r, std::span<const std::uint8_t> frame) {
  if (json_)
    append_json(r, frame);
  else
    append_text(r);
  buf_ += '\n';
}

// "12:00:01.123456" (local) for text, "2024-05-01T12:00:01.123456789Z" (UTC) for JSON.
void RecordWriter::append_time(std::int64_t wall) {
  if (wall < 0) {  // before 1970: not worth a fast path
    buf_ += json_ ? iso_time(wall) : short_time(wall);
    return;
  }
  const std::int64_t sec = wall / 1'000'000'000;
  if (sec != second_) {
    time_of_day_ = json_ ? iso_time(sec * 1'000'000'000) : short_time(sec * 1'000'000'000);
    time_of_day_.resize(time_of_day_.size() - (json_ ? 10 : 6));  // keep "...:SS."
    second_ = sec;
  }
  buf_ += time_of_day_;
  if (json_) {
    put_fixed(buf_, static_cast<std::uint64_t>(wall % 1'000'000'000), 9);
    buf_ += 'Z';
  } else {
    put_fixed(buf_, static_cast<std::uint64_t>(wall % 1'000'000'000 / 1000), 6);
  }
}

void RecordWriter::append_text(const xdpguard_record& r) {
  const xdpguard_pkt& p = r.pkt;
  append_time(clock_.wall_ns(r.ts_ns));
  buf_ += ' ';
  buf_ += action_name(r.verdict);
  buf_ += ' ';
  if (r.rule_id == XDPGUARD_SLOT_NONE) {
    buf_ += '-';
  } else if (r.rule_id == XDPGUARD_RULE_DEFAULT) {
    buf_ += "default";
  } else {
    buf_ += "rule ";
    put_u64(buf_, r.rule_id);
  }
  buf_ += ' ';
  put_reason(buf_, r.reason);
  if (p.family == 4 || p.family == 6) {
    buf_ += ' ';
    put_proto(buf_, p.l4proto);
    buf_ += ' ';
    put_endpoint(buf_, p, p.saddr, p.sport);
    buf_ += " > ";
    put_endpoint(buf_, p, p.daddr, p.dport);
    if (p.frag == XDPGUARD_FRAG_LATER) buf_ += " fragment";
    if (p.frag == XDPGUARD_FRAG_L4_CUT) buf_ += " l4-cut";
    if (p.l4proto == 6 && !p.frag) {
      buf_ += " flags ";
      if (p.tcp_flags)
        put_flags(buf_, p.tcp_flags);
      else
        buf_ += "none";
    }
    if (is_icmp(p)) {
      buf_ += " type ";
      put_u64(buf_, p.icmp_type);
      buf_ += " code ";
      put_u64(buf_, p.icmp_code);
    }
  } else {
    buf_ += " not-ip";
  }
  if (p.nvlan) {
    buf_ += " vlans ";
    put_u64(buf_, p.nvlan);
  }
  buf_ += " len ";
  put_u64(buf_, r.orig_len);
}

// The keys in nlohmann::json's order (sorted), as record_json(...).dump().
void RecordWriter::append_json(const xdpguard_record& r, std::span<const std::uint8_t> frame) {
  const xdpguard_pkt& p = r.pkt;
  const bool ip = p.family == 4 || p.family == 6;
  auto key = [&](const char* k) {
    buf_ += '"';
    buf_ += k;
    buf_ += "\":";
  };
  auto str = [&](const char* k, auto&& put) {
    key(k);
    buf_ += '"';
    put();
    buf_ += "\",";
  };
  auto num = [&](const char* k, std::uint64_t v) {
    key(k);
    put_u64(buf_, v);
    buf_ += ',';
  };
  buf_ += '{';
  num("caplen", r.cap_len);
  num("cpu", r.cpu);
  if (ip) {
    str("daddr", [&] { put_address(buf_, p.family, p.daddr); });
    if (has_ports(p)) num("dport", p.dport);
    str("family", [&] { buf_ += p.family == 4 ? "ipv4" : "ipv6"; });
    key("fragment");
    buf_ += p.frag == XDPGUARD_FRAG_LATER ? "true," : "false,";
  } else {
    buf_ += "\"family\":null,";
  }
  if (!frame.empty()) {
    static constexpr char kHex[] = "0123456789abcdef";
    str("frame", [&] {
      for (auto b : frame) {
        buf_ += kHex[b >> 4];
        buf_ += kHex[b & 15];
      }
    });
  }
  if (ip && is_icmp(p)) {
    num("icmp_code", p.icmp_code);
    num("icmp_type", p.icmp_type);
  }
  key("interface");
  buf_ += ifname_json_;
  buf_ += ',';
  num("len", r.orig_len);
  if (ip) str("proto", [&] { put_proto(buf_, p.l4proto); });
  str("reason", [&] { put_reason(buf_, r.reason); });
  if (r.rule_id == XDPGUARD_SLOT_NONE) {
    buf_ += "\"rule_id\":null,";
  } else {
    num("rule_id", r.rule_id);
  }
  if (ip) {
    str("saddr", [&] { put_address(buf_, p.family, p.saddr); });
    if (has_ports(p)) num("sport", p.sport);
    if (p.l4proto == 6 && !p.frag) str("tcp_flags", [&] { put_flags(buf_, p.tcp_flags); });
  }
  str("time", [&] { append_time(clock_.wall_ns(r.ts_ns)); });
  num("ts_ns", r.ts_ns);
  str("type", [&] { buf_ += "packet"; });
  str("verdict", [&] { buf_ += action_name(r.verdict); });
  key("vlans");
  put_u64(buf_, p.nvlan);
  buf_ += '}';
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
