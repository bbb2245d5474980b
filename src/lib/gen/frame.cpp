#include "gen/frame.h"

#include "rules/printer.h"

#include <cctype>
#include <cstring>
#include <string_view>

#include <fmt/format.h>
#include <xdpguard/gen.h>

namespace xdpguard::gen {
namespace {

constexpr std::size_t kEth = 14, kIp4 = 20, kIp6 = 40, kUdp = 8, kTcp = 20, kIcmp = 8;

// A Linux client's SYN options (tcp_syn_options): MSS 1460, SACK-permitted,
// timestamps (a value, echo 0), NOP, window scale 7.
constexpr std::uint8_t kSynOptions[] = {2,    4,    0x05, 0xb4, 4, 2, 8, 10, 0x12, 0x34,
                                        0x56, 0x78, 0,    0,    0, 0, 1, 3,  3,    7};

std::size_t l4_header(Proto p, bool syn_options) {
  return p == Proto::Udp ? kUdp : p == Proto::Syn ? kTcp + (syn_options ? sizeof kSynOptions : 0) : kIcmp;
}

void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

// Sum of 16-bit words as they lie in memory (the sums gen.h continues).
std::uint32_t mem_sum(const std::uint8_t* p, std::size_t n, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2) {
    std::uint16_t w;
    std::memcpy(&w, p + i, 2);
    sum += w;
  }
  if (n & 1) {
    std::uint8_t last[2] = {p[n - 1], 0};
    std::uint16_t w;
    std::memcpy(&w, last, 2);
    sum += w;
  }
  return sum;
}

}  // namespace

Result<void> check_lab_addresses(const Spec& s) {
  static const rules::Prefix lab4{rules::Family::V4, {198, 18}, 15};
  static const rules::Prefix lab6{rules::Family::V6, {0xfd}, 8};
  const rules::Prefix& lab = s.src.family == rules::Family::V6 ? lab6 : lab4;
  auto inside = [&](const std::array<std::uint8_t, 16>& a, unsigned len) {
    if (len < lab.len) return false;
    for (unsigned b = 0; b < lab.len; ++b)
      if (((a[b / 8] ^ lab.addr[b / 8]) >> (7 - b % 8)) & 1) return false;
    return true;
  };
  const char* ranges = "198.18.0.0/15, fd00::/8";
  if (!inside(s.dst, s.src.family == rules::Family::V6 ? 128 : 32))
    return fail(
        EPERM,
        "destination {} is outside the lab ranges ({}): refusing to send to what may be a "
        "real network; use --force if you mean it",
        rules::prefix_to_string(rules::Prefix{
            s.src.family, s.dst, static_cast<std::uint8_t>(s.src.family == rules::Family::V6 ? 128 : 32)}),
        ranges);
  if (!inside(s.src.addr, s.src.len))
    return fail(EPERM,
                "source {} is not inside the lab ranges ({}): refusing to spoof what may be real "
                "addresses; use --force if you mean it",
                rules::prefix_to_string(s.src), ranges);
  return {};
}

Result<Mac> parse_mac(const std::string& text) {
  Mac m{};
  auto bad = [&] { return fail(EINVAL, "\"{}\" is not a MAC address (expected aa:bb:cc:dd:ee:ff)", text); };
  if (text.size() != 17) return bad();
  for (int i = 0; i < 6; ++i) {
    if (i < 5 && text[i * 3 + 2] != ':') return bad();
    unsigned v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = text[i * 3 + k];
      int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
              : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
              : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                          : -1;
      if (d < 0) return bad();
      v = v * 16 + static_cast<unsigned>(d);
    }
    m[i] = static_cast<std::uint8_t>(v);
  }
  return m;
}

Result<std::pair<std::uint16_t, std::uint16_t>> parse_port_range(const std::string& text) {
  auto bad = [&] { return fail(EINVAL, "\"{}\" is not a port or a range LO-HI (0..65535, LO <= HI)", text); };
  auto num = [](std::string_view s) -> long {
    if (s.empty() || s.size() > 5) return -1;
    long v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return -1;
      v = v * 10 + (c - '0');
    }
    return v <= 65535 ? v : -1;
  };
  std::string_view t = text;
  auto dash = t.find('-');
  long lo = num(t.substr(0, dash)), hi = dash == std::string_view::npos ? lo : num(t.substr(dash + 1));
  if (lo < 0 || hi < 0 || lo > hi) return bad();
  return std::pair{static_cast<std::uint16_t>(lo), static_cast<std::uint16_t>(hi)};
}

const char* proto_name(Proto p) {
  switch (p) {
    case Proto::Udp: return "udp";
    case Proto::Syn: return "syn";
    case Proto::Icmp: return "icmp";
  }
  return "?";
}

std::uint32_t min_frame_size(Proto proto, rules::Family family, bool syn_options) {
  std::size_t n = kEth + (family == rules::Family::V6 ? kIp6 : kIp4) + l4_header(proto, syn_options);
  if (proto == Proto::Icmp) n += 8;
  return static_cast<std::uint32_t>(std::max<std::size_t>(n, 60));
}

std::uint16_t checksum(const std::uint8_t* p, std::size_t n, std::uint32_t sum) {
  return static_cast<std::uint16_t>(~xg_csum_fold(mem_sum(p, n, sum)));
}

Result<Template> build(const Spec& s) {
  const bool v6 = s.src.family == rules::Family::V6;
  const unsigned bits = v6 ? 128 : 32;
  if (s.src.family == rules::Family::Any) return fail(EINVAL, "source address family unknown");
  if (s.src.len > bits) return fail(EINVAL, "source prefix length {} is longer than {}", s.src.len, bits);
  if (bits - s.src.len > 32)
    return fail(EINVAL, "source /{} leaves {} random bits; at most 32 are randomised (use /{} or longer)",
                s.src.len, bits - s.src.len, bits - 32);
  if (s.sport_lo > s.sport_hi)
    return fail(EINVAL, "source port range {}-{} is backwards", s.sport_lo, s.sport_hi);
  if (s.syn_options && s.proto != Proto::Syn) return fail(EINVAL, "SYN options need SYNs (proto syn)");
  const std::uint32_t min = min_frame_size(s.proto, s.src.family, s.syn_options);
  if (s.size < min || s.size > kMaxFrameSize)
    return fail(EINVAL, "frame size {} out of range: {} {} frames are {}..{} bytes", s.size,
                v6 ? "IPv6" : "IPv4", proto_name(s.proto), min, kMaxFrameSize);

  Template t;
  auto& f = t.frame;
  f.assign(s.size, 0);
  std::memcpy(&f[0], s.dst_mac.data(), 6);
  std::memcpy(&f[6], s.src_mac.data(), 6);
  put16(&f[12], v6 ? 0x86dd : 0x0800);

  const std::size_t ip = kEth, l4 = ip + (v6 ? kIp6 : kIp4);
  // A SYN carries no data: what the frame has beyond its headers is Ethernet
  // padding, outside the IP datagram. UDP and ICMP fill the frame.
  const std::size_t tcp_len = l4_header(Proto::Syn, s.syn_options);
  const std::size_t l4_len = s.proto == Proto::Syn ? tcp_len : s.size - l4;
  const std::size_t ip_len = (l4 - ip) + l4_len;
  std::uint8_t l4proto = s.proto == Proto::Udp ? 17 : s.proto == Proto::Syn ? 6 : v6 ? 58 : 1;
  const std::size_t saddr = ip + (v6 ? 8 : 12), daddr = ip + (v6 ? 24 : 16);
  const std::size_t alen = v6 ? 16 : 4;
  if (v6) {
    f[ip] = 0x60;
    put16(&f[ip + 4], static_cast<std::uint16_t>(l4_len));
    f[ip + 6] = l4proto;
    f[ip + 7] = 64;
  } else {
    f[ip] = 0x45;
    put16(&f[ip + 2], static_cast<std::uint16_t>(ip_len));
    put16(&f[ip + 6], 0x4000);  // DF
    f[ip + 8] = 64;
    f[ip + 9] = l4proto;
  }
  std::memcpy(&f[saddr], s.src.addr.data(), alen);
  std::memcpy(&f[daddr], s.dst.data(), alen);

  std::size_t l4_csum = 0;
  const bool rand_sport = s.sport_lo != s.sport_hi && s.proto != Proto::Icmp;
  switch (s.proto) {
    case Proto::Udp:
      put16(&f[l4], s.sport_lo);
      put16(&f[l4 + 2], s.dport);
      put16(&f[l4 + 4], static_cast<std::uint16_t>(l4_len));
      l4_csum = l4 + 6;
      break;
    case Proto::Syn:
      put16(&f[l4], s.sport_lo);
      put16(&f[l4 + 2], s.dport);
      f[l4 + 4] = 0x5e, f[l4 + 5] = 0x1f, f[l4 + 6] = 0x00, f[l4 + 7] = 0x01;  // sequence number
      f[l4 + 12] = static_cast<std::uint8_t>(tcp_len / 4 << 4);                // data offset
      f[l4 + 13] = 0x02;                                                       // SYN
      put16(&f[l4 + 14], 64240);
      l4_csum = l4 + 16;
      if (s.syn_options) std::memcpy(&f[l4 + kTcp], kSynOptions, sizeof kSynOptions);
      break;
    case Proto::Icmp:
      f[l4] = v6 ? 128 : 8;       // echo request
      put16(&f[l4 + 4], 0x7867);  // identifier "xg"
      put16(&f[l4 + 6], 1);
      l4_csum = l4 + 2;
      break;
  }
  for (std::size_t i = l4 + l4_header(s.proto, s.syn_options); i < l4 + l4_len; ++i)
    f[i] = static_cast<std::uint8_t>(i);

  auto& c = t.cfg;
  const bool rand_saddr = s.src.len < bits;
  if (rand_saddr) {
    c.flags |= XDPGUARD_GEN_RAND_SADDR;
    c.saddr_off = static_cast<std::uint16_t>(saddr + alen - 4);
    // Bits to keep, in memory order: the prefix part of the last 4 bytes.
    std::uint8_t keep[4];
    for (int i = 0; i < 4; ++i) {
      int first_bit = static_cast<int>(bits) - 32 + i * 8;  // of byte i of the last 4
      int kept = std::clamp(static_cast<int>(s.src.len) - first_bit, 0, 8);
      keep[i] = static_cast<std::uint8_t>(kept ? 0xff << (8 - kept) : 0);
    }
    std::memcpy(&c.saddr_keep, keep, 4);
    std::memcpy(&c.saddr_base, &f[c.saddr_off], 4);
    std::memset(&f[c.saddr_off], 0, 4);  // zero while summing
  }
  if (rand_sport) {
    c.flags |= XDPGUARD_GEN_RAND_SPORT;
    c.sport_off = static_cast<std::uint16_t>(l4);
    c.sport_lo = s.sport_lo;
    c.sport_span = static_cast<std::uint16_t>(s.sport_hi - s.sport_lo + 1);  // 65536 wraps to 0
    put16(&f[l4], 0);
  }
  // Partial sums with the random fields zero; checksums still zero.
  if (!v6) {
    c.ip_csum_off = static_cast<std::uint16_t>(ip + 10);
    c.ip_sum = xg_csum_fold(mem_sum(&f[ip], kIp4));  // folded: room for the words added per frame
  }
  const bool pseudo = s.proto != Proto::Icmp || v6;
  std::uint32_t l4_sum = mem_sum(&f[l4], l4_len);
  if (pseudo) {
    std::uint8_t ph[4] = {0, l4proto, static_cast<std::uint8_t>(l4_len >> 8),
                          static_cast<std::uint8_t>(l4_len)};
    l4_sum = mem_sum(&f[saddr], alen, l4_sum);
    l4_sum = mem_sum(&f[daddr], alen, l4_sum);
    l4_sum = mem_sum(ph, 4, l4_sum);
  }
  if (pseudo) {
    c.l4_csum_off = static_cast<std::uint16_t>(l4_csum);
    c.l4_sum = xg_csum_fold(l4_sum);
    c.zero_csum_as_ffff = s.proto == Proto::Udp;
  } else {
    // ICMPv4 covers neither address nor port: one checksum for every frame.
    std::uint16_t sum = checksum(&f[l4], l4_len);
    std::memcpy(&f[l4_csum], &sum, 2);
  }
  // The template itself is a valid frame: the shared rewrite with the random
  // fields at their base values (source = the prefix, port = sport_lo).
  // The program bounds every offset to 9 bits (verifier); headers end far below.
  for (std::uint16_t off : {c.saddr_off, c.sport_off, c.ip_csum_off, c.l4_csum_off})
    if (off + 4u > 0x200) return fail(EINVAL, "internal: template field offset {} too large", off);
  if (xg_gen_rewrite(f.data(), f.data() + f.size(), &c, c.saddr_base, 0) != 0)
    return fail(EINVAL, "internal: template field offsets out of the frame");
  // A SYN flood meets SYN proxies, which answer in place, and frames to
  // forward meet forwarders, which rewrite MACs and TTL in place (the live
  // frames' pages come back to the generator): each frame starts again from
  // the template's headers (in 8-byte words, the last one ending with them).
  if (s.proto == Proto::Syn || s.restore_headers) {
    const std::size_t l4_head = s.proto == Proto::Syn ? tcp_len : 8;
    // Word i from byte 8i, the last one ending where the headers end (abi.h).
    const std::size_t len = std::min(l4 + l4_head, std::size_t{XDPGUARD_GEN_HEAD_WORDS} * 8);
    c.restore_len = static_cast<std::uint32_t>(len);
    for (std::size_t i = 0; i * 8 < len; ++i) std::memcpy(&c.head[i], &f[std::min(i * 8, len - 8)], 8);
  }
  return t;
}

}  // namespace xdpguard::gen
