// Records as `xdpguard events` prints them: one line of text, or one JSON
// object, per record. Pure functions of the record (unit-tested).
//
// Text: time verdict rule reason protocol addresses ports flags length
//   12:00:01.123456 drop rule 1 log tcp 198.18.0.1:40000 > 198.18.0.2:23 flags syn len 74
// JSON: {"type":"packet","time":"2024-05-01T12:00:01.123456789Z","ts_ns":...,
//        "interface":"veth1","verdict":"drop","rule_id":1,"reason":"log",
//        "family":"ipv4","proto":"tcp","saddr":"198.18.0.1","daddr":...,
//        "sport":40000,"dport":23,"tcp_flags":"syn","len":74,"caplen":0, ...}
// rule_id is 0 when no rule matched (the default action) and null when the
// packet was not classified (not IP, or malformed).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "bpf/abi.h"
#include "core/result.h"

namespace xdpguard::telemetry {

// Turns record timestamps (CLOCK_MONOTONIC) into wall-clock time.
struct Clock {
  std::int64_t offset_ns = 0;  // realtime - monotonic, taken once
  static Clock now();
  std::int64_t wall_ns(std::uint64_t mono_ns) const { return static_cast<std::int64_t>(mono_ns) + offset_ns; }
};

// "syn,ack" (rule-language names, in the order fin syn rst psh ack urg ece cwr); "" for none.
std::string tcp_flags_text(std::uint8_t flags);
// "198.18.0.1" / "fd00::1" from a parsed packet's address words.
std::string address_text(std::uint8_t family, const std::uint32_t addr[4]);
// "tcp", "udp", "icmp", "icmpv6", or the number.
std::string proto_text(std::uint8_t proto);
// "log", "capture", "log,capture".
std::string reason_text(std::uint8_t reason);
// 2024-05-01T12:00:01.123456789Z (UTC) and 12:00:01.123456 (local time).
std::string iso_time(std::int64_t wall_ns);
std::string short_time(std::int64_t wall_ns);

std::string record_line(const xdpguard_record& r, const Clock& clock);
// "pass,drop" -> (1 << XDP_PASS) | (1 << XDP_DROP); also "all". Error names
// the word it does not know.
[[nodiscard]] Result<std::uint32_t> parse_verdicts(const std::string& list);

nlohmann::json record_json(const xdpguard_record& r, std::span<const std::uint8_t> frame,
                           const std::string& ifname, const Clock& clock);

// What `events` writes at a high rate: records appended to one buffer, each
// the text of record_line() or of record_json(...).dump() and a newline,
// byte for byte (unit-tested against them), without an allocation or a
// time-zone conversion per record (the time of day is worked out once a
// second).
class RecordWriter {
 public:
  RecordWriter(const Clock& clock, const std::string& ifname, bool json);
  void append(const xdpguard_record& r, std::span<const std::uint8_t> frame);
  std::string& buffer() { return buf_; }

 private:
  void append_time(std::int64_t wall_ns);
  void append_text(const xdpguard_record& r);
  void append_json(const xdpguard_record& r, std::span<const std::uint8_t> frame);

  Clock clock_;
  std::string ifname_json_;  // the interface's name as a JSON string, quotes and all
  bool json_ = false;
  std::string buf_;
  std::int64_t second_ = -1;  // of time_of_day_
  std::string time_of_day_;   // "12:00:01." (text) or "2024-05-01T12:00:01." (JSON)
};

}  // namespace xdpguard::telemetry
