// The generator's template frame: what `xdpguard gen` sends, built once in
// userspace, with the configuration its BPF program uses to rewrite the
// random fields of every copy (xdpguard/gen.h). Pure: unit-tested.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bpf/abi.h"
#include "core/result.h"
#include "rules/rule.h"

namespace xdpguard::gen {

enum class Proto { Udp, Syn, Icmp };  // UDP datagram, TCP SYN, ICMP(v6) echo request

using Mac = std::array<std::uint8_t, 6>;

struct Spec {
  Proto proto = Proto::Udp;
  Mac src_mac{}, dst_mac{};
  // Source: host bits beyond `len` are random per frame (at most the last 32
  // bits of the address are randomised: /0../31 for IPv4, /96../127 for IPv6).
  rules::Prefix src;
  std::array<std::uint8_t, 16> dst{};              // same family as src
  std::uint16_t sport_lo = 1024, sport_hi = 1024;  // lo < hi: random in [lo, hi]
  std::uint16_t dport = 9;
  std::uint32_t size = 64;  // frame length without FCS
  // Each frame starts again from the template's headers (always for SYNs):
  // for receivers that rewrite frames in place, e.g. forwarders.
  bool restore_headers = false;
  // SYNs carry the 20 bytes of options a Linux client sends (MSS 1460,
  // SACK-permitted, timestamps, NOP, window scale 7), not none.
  bool syn_options = false;
};

struct Template {
  std::vector<std::uint8_t> frame;
  xdpguard_gen_cfg cfg{};
};

// Smallest frame for proto and family (headers, plus 8 payload bytes for ICMP).
std::uint32_t min_frame_size(Proto proto, rules::Family family, bool syn_options = false);
inline constexpr std::uint32_t kMaxFrameSize = 1514;

// Fails with a one-line reason for a size out of range, families that differ,
// a source prefix too short to randomise, or ports out of order.
[[nodiscard]] Result<Template> build(const Spec& spec);

// Lab addresses: the source prefix and the destination must lie inside the
// benchmarking range 198.18.0.0/15 (RFC 2544) or fd00::/8 (unique local), so
// that generated traffic cannot be aimed at a real network by accident.
[[nodiscard]] Result<void> check_lab_addresses(const Spec& spec);

// Operator input: "aa:bb:cc:dd:ee:ff"; "N" or "LO-HI" (0..65535, LO <= HI).
// Errors name the text and what was expected.
[[nodiscard]] Result<Mac> parse_mac(const std::string& text);
[[nodiscard]] Result<std::pair<std::uint16_t, std::uint16_t>> parse_port_range(const std::string& text);

// "udp" / "syn" / "icmp"
const char* proto_name(Proto p);

// Internet checksum of a byte range (RFC 1071), for tests and the template.
std::uint16_t checksum(const std::uint8_t* p, std::size_t n, std::uint32_t sum = 0);

}  // namespace xdpguard::gen
