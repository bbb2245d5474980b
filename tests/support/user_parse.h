// The packet parser (bpf/include/xdpguard/parse.h) compiled for userspace,
// and names for its outcomes: what tests/bpf's parse and malformed-frame
// tests hold the BPF program's parse to.
#pragma once

#include <netinet/in.h>  // glibc first: linux/in.h (from parse.h) then defers to it
#include <xdpguard/parse.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace xdpguard::test {

inline constexpr int kIpv4 = XDPGUARD_PARSE_IPV4;
inline constexpr int kIpv6 = XDPGUARD_PARSE_IPV6;
inline constexpr int kNonIp = XDPGUARD_PARSE_NON_IP;
inline constexpr int kTruncated = XDPGUARD_PARSE_TRUNCATED;
inline constexpr int kMalformed = XDPGUARD_PARSE_MALFORMED;
inline constexpr int kUnsafe = XDPGUARD_PARSE_UNSAFE;
inline constexpr int kFragment = XDPGUARD_PARSE_FRAGMENT;
inline constexpr int kExclusive = XDPGUARD_PARSE_UNSAFE + 1;  // ipv4..unsafe

struct UserParse {
  int outcome;
  xdpguard_pkt pkt;
};

inline UserParse parse_in_userspace(std::span<const std::uint8_t> frame) {
  // exact-size heap copy: a read past the end is then an ASan report
  std::vector<__u8> buf(frame.begin(), frame.end());
  UserParse r{};
  std::memset(&r.pkt, 0, sizeof(r.pkt));
  r.outcome = xg_parse_packet(buf.data(), buf.data() + buf.size(), &r.pkt);
  return r;
}

}  // namespace xdpguard::test
