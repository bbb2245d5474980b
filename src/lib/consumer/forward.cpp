#include "consumer/forward.h"

#include <cstdio>
#include <cstring>

namespace xdpguard::consumer {
namespace {

constexpr std::uint16_t kVlan = 0x8100, kQinQ = 0x88a8, kIpv4 = 0x0800, kIpv6 = 0x86dd;

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

}  // namespace

std::optional<IpView> ip_of(std::span<const std::uint8_t> f) {
  if (f.size() < 14) return std::nullopt;
  std::size_t off = 12;
  std::uint16_t type = be16(&f[off]);
  for (int tags = 0; tags < 2 && (type == kVlan || type == kQinQ); ++tags) {
    off += 4;
    if (f.size() < off + 2) return std::nullopt;
    type = be16(&f[off]);
  }
  off += 2;
  IpView v;
  v.l3 = off;
  if (type == kIpv4) {
    if (f.size() < off + 20 || (f[off] >> 4) != 4 || (f[off] & 0xf) < 5) return std::nullopt;
    v.family = rules::Family::V4;
    std::memcpy(v.daddr.data(), &f[off + 16], 4);
    return v;
  }
  if (type == kIpv6) {
    if (f.size() < off + 40 || (f[off] >> 4) != 6) return std::nullopt;
    v.family = rules::Family::V6;
    std::memcpy(v.daddr.data(), &f[off + 24], 16);
    return v;
  }
  return std::nullopt;
}

Forward rewrite_for_forward(std::span<std::uint8_t> f, const Mac& src, const Mac& dst) {
  auto ip = ip_of(f);
  if (!ip) return Forward::NotIp;
  std::uint8_t* h = &f[ip->l3];
  if (ip->family == rules::Family::V4) {
    if (h[8] <= 1) return Forward::TtlExpired;
    // RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m'), m the 16-bit word (TTL, protocol).
    const std::uint16_t old_word = be16(&h[8]);
    --h[8];
    const std::uint16_t new_word = be16(&h[8]);
    std::uint32_t sum =
        static_cast<std::uint16_t>(~be16(&h[10])) + static_cast<std::uint16_t>(~old_word) + new_word;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    const auto csum = static_cast<std::uint16_t>(~sum);
    h[10] = static_cast<std::uint8_t>(csum >> 8);
    h[11] = static_cast<std::uint8_t>(csum);
  } else {
    if (h[7] <= 1) return Forward::TtlExpired;
    --h[7];  // IPv6 has no header checksum
  }
  std::memcpy(&f[0], dst.data(), 6);
  std::memcpy(&f[6], src.data(), 6);
  return Forward::Ok;
}

std::optional<Mac> parse_mac(std::string_view t) {
  if (t.size() != 17) return std::nullopt;
  Mac m{};
  for (std::size_t i = 0; i < 6; ++i) {
    if (i < 5 && t[i * 3 + 2] != ':') return std::nullopt;
    unsigned v = 0;
    for (std::size_t j = 0; j < 2; ++j) {
      const char c = t[i * 3 + j];
      unsigned d = 0;
      if (c >= '0' && c <= '9')
        d = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        d = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        d = static_cast<unsigned>(c - 'A' + 10);
      else
        return std::nullopt;
      v = v * 16 + d;
    }
    m[i] = static_cast<std::uint8_t>(v);
  }
  return m;
}

}  // namespace xdpguard::consumer
