// libFuzzer target: the userspace compile of bpf/include/xdpguard/parse.h, the
// same code the guard program runs on every frame. The input bytes are the
// frame. Besides ASan/UBSan (a read past the frame is a crash: the frame is an
// exact-size heap copy), it checks what the parser promises:
//  - the outcome is one of ipv4..unsafe, and the fields agree with it;
//  - every offset it reports lies inside the frame, and inside the IP
//    datagram by its own length field; the fields it fills are the frame's
//    bytes at those offsets;
//  - a non-first fragment, or a packet whose L4 header is cut, has no L4
//    fields: no ports, flags, ICMP type; a packet without a family has none;
//  - the length, DSCP and fragment bits are the IP header's (IPv6: the
//    first fragment header's, found by a walk of its own);
//  - it reads nothing it has not bounds-checked: a prefix of the frame that
//    is not "truncated" parses exactly like the whole frame.
#include <netinet/in.h>  // glibc first: linux/in.h (from parse.h) then defers to it

#include <xdpguard/parse.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

struct Parsed {
  int outcome;
  xdpguard_pkt pkt;
};

Parsed parse(const std::uint8_t* data, std::size_t size) {
  // Exact size: ASan sees overreads. An empty frame still starts somewhere
  // (in the kernel, data is never null): new[0] gives a pointer that is not
  // null and that ASan lets nothing read through.
  std::unique_ptr<__u8[]> frame(new __u8[size]);
  std::copy(data, data + size, frame.get());
  Parsed r;
  std::memset(&r, 0, sizeof(r));
  r.outcome = xg_parse_packet(frame.get(), frame.get() + size, &r.pkt);
  return r;
}

void check(bool ok) {
  if (!ok) std::abort();
}

unsigned be16(const std::uint8_t* p) { return (p[0] << 8) | p[1]; }

// xdpguard_pkt.frag_bits (abi.h) of a fragment offset and more-fragments flag.
unsigned frag_bits(bool offset, bool more) {
  if (offset) return XDPGUARD_FRAG_ISF | (more ? 0 : XDPGUARD_FRAG_LF);
  return more ? XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_FF : 0;
}

// The first IPv6 fragment header's offset-and-flags word, walking the
// extension headers as far as they lie inside the frame and the datagram
// (an independent walk: what nft's `exthdr frag` reads); -1 if none.
long first_frag_word(const std::uint8_t* f, std::size_t l3_off, std::size_t end) {
  unsigned nh = f[l3_off + 6];
  std::size_t off = l3_off + 40;
  while (off + 8 <= end && off <= XDPGUARD_MAX_CHAIN) {
    if (nh == 44) return static_cast<long>(be16(f + off + 2));
    std::size_t hlen;
    if (nh == 51)
      hlen = (f[off + 1] + 2u) * 4;
    else if (nh == 0 || nh == 43 || nh == 60)
      hlen = (f[off + 1] + 1u) * 8;
    else
      return -1;
    nh = f[off];
    off += hlen;
  }
  return -1;
}

void check_invariants(const std::uint8_t* f, std::size_t size, const Parsed& r) {
  const xdpguard_pkt& p = r.pkt;
  check(r.outcome >= XDPGUARD_PARSE_IPV4 && r.outcome <= XDPGUARD_PARSE_UNSAFE);
  check(p.nvlan <= XDPGUARD_MAX_VLAN);
  check(p.family == 0 || p.family == 4 || p.family == 6);
  check(p.frag <= XDPGUARD_FRAG_L4_CUT);
  const bool complete = r.outcome == XDPGUARD_PARSE_IPV4 || r.outcome == XDPGUARD_PARSE_IPV6;
  // The tags the rules' `vlan` sees: each parsed tag's VID, marked present,
  // read from the frame where the tag is; nothing past the last.
  for (unsigned i = 0; i < XDPGUARD_MAX_VLAN; ++i) {
    if (i >= p.nvlan) {
      check(p.vlan[i] == 0);
      continue;
    }
    check(14 + 4u * i + 4 <= size);
    check(p.vlan[i] == ((be16(f + 14 + 4u * i) & XDPGUARD_VLAN_VID) | XDPGUARD_VLAN_TAGGED));
  }

  if (p.frag != XDPGUARD_FRAG_NONE) {
    // no L4 fields: a non-first fragment has none, a cut header gave none
    check(p.sport == 0 && p.dport == 0 && p.tcp_flags == 0);
    check(p.icmp_type == 0 && p.icmp_code == 0);
    check(p.family != 0);
  }
  if (p.frag == XDPGUARD_FRAG_LATER) {
    check(complete || r.outcome == XDPGUARD_PARSE_UNSAFE);
    check(p.l4_off == 0);
  }
  if (p.frag == XDPGUARD_FRAG_L4_CUT)
    check(r.outcome == XDPGUARD_PARSE_TRUNCATED || r.outcome == XDPGUARD_PARSE_UNSAFE);
  if (complete) check(p.family == (r.outcome == XDPGUARD_PARSE_IPV4 ? 4 : 6));

  if (r.outcome == XDPGUARD_PARSE_NON_IP) {
    check(p.family == 0 && p.l3_off == 0 && p.l4_off == 0);
    const std::size_t type_off = 12 + 4u * p.nvlan;
    check(type_off + 2 <= size);
    const unsigned type = be16(f + type_off);
    check(type != 0x0800 && type != 0x86dd);
    if (p.nvlan < XDPGUARD_MAX_VLAN) check(type != 0x8100 && type != 0x88a8);
    return;
  }
  // Without a family the rules see nothing of the packet: no fields at all.
  if (p.family == 0) {
    check(!complete && p.l3_off == 0 && p.l4_off == 0 && p.l4proto == 0);
    check(p.sport == 0 && p.dport == 0 && p.tcp_flags == 0 && p.icmp_type == 0);
    check(p.ip_len == 0 && p.dscp == 0 && p.frag_bits == 0);
    return;
  }

  // A family: the IP header is sound, inside the frame and read from there,
  // whatever the outcome (truncated and malformed packets go to the rules).
  check(p.l3_off == 14 + 4u * p.nvlan);
  check(be16(f + p.l3_off - 2) == (p.family == 4 ? 0x0800u : 0x86ddu));
  std::size_t l3_end, dgram_end;
  if (p.family == 4) {
    const std::uint8_t* ip = f + p.l3_off;
    check(p.l3_off + 20u <= size);
    check((ip[0] >> 4) == 4);
    const std::size_t ihl = (ip[0] & 0x0f) * 4u;
    check(ihl >= 20 && p.l3_off + ihl <= size && be16(ip + 2) >= ihl);
    dgram_end = p.l3_off + be16(ip + 2);
    check(std::memcmp(&p.saddr[0], ip + 12, 4) == 0 && std::memcmp(&p.daddr[0], ip + 16, 4) == 0);
    check(p.l4proto == ip[9]);
    const unsigned offset = be16(ip + 6) & 0x1fff;
    check((p.frag == XDPGUARD_FRAG_LATER) == (offset != 0));
    // the FlowSpec fields: length, DSCP (ECN left out), DF and fragment bits
    check(p.ip_len == be16(ip + 2) && p.dscp == ip[1] >> 2);
    check(p.frag_bits == (frag_bits(offset != 0, (be16(ip + 6) & 0x2000) != 0) |
                          ((be16(ip + 6) & 0x4000) ? XDPGUARD_FRAG_DF : 0u)));
    if (offset == 1) check(r.outcome == XDPGUARD_PARSE_UNSAFE);  // RFC 1858
    l3_end = p.l3_off + ihl;
    if (p.frag != XDPGUARD_FRAG_LATER) check(p.l4_off == l3_end);
  } else {
    const std::uint8_t* ip = f + p.l3_off;
    check(p.l3_off + 40u <= size);
    check((ip[0] >> 4) == 6);
    dgram_end = p.l3_off + 40u + be16(ip + 4);
    check(std::memcmp(p.saddr, ip + 8, 16) == 0 && std::memcmp(p.daddr, ip + 24, 16) == 0);
    l3_end = p.l3_off + 40u;
    if (p.l4_off != 0) check(p.l4_off >= l3_end);
    // payload length + 40; traffic class (bits 4..11) >> 2; fragment bits
    // from the first fragment header, never DF
    check(p.ip_len == be16(ip + 4) + 40u);
    check(p.dscp == ((ip[0] & 0x0fu) << 4 | ip[1] >> 4) >> 2);
    const long fw = first_frag_word(f, p.l3_off, std::min(size, dgram_end));
    check(p.frag_bits == (fw < 0 ? 0u : frag_bits((fw & 0xfff8) != 0, (fw & 1) != 0)));
    if (p.frag == XDPGUARD_FRAG_LATER) check(p.frag_bits & XDPGUARD_FRAG_ISF);
  }
  // the datagram fits the frame; the rest of the frame is padding
  check(dgram_end <= size);
  if (p.frag != XDPGUARD_FRAG_NONE) return;

  // The L4 header was reached: every field filled is the frame's bytes, from
  // inside the datagram; a complete packet has the whole header.
  check(p.l4_off != 0 && p.l4_off <= dgram_end);
  const std::uint8_t* l4 = f + p.l4_off;
  switch (p.l4proto) {
    case IPPROTO_TCP: {
      check(p.l4_off + 20u <= dgram_end);
      check(p.sport == be16(l4) && p.dport == be16(l4 + 2) && p.tcp_flags == l4[13]);
      const std::size_t doff = (l4[12] >> 4) * 4u;
      if (complete) check(doff >= 20 && p.l4_off + doff <= dgram_end);
      if (doff < 20) check(r.outcome == XDPGUARD_PARSE_MALFORMED);
      break;
    }
    case IPPROTO_UDP:
      check(p.l4_off + 8u <= dgram_end);
      check(p.sport == be16(l4) && p.dport == be16(l4 + 2) && p.tcp_flags == 0);
      break;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      check(p.l4_off + 4u <= dgram_end);
      check(p.icmp_type == l4[0] && p.icmp_code == l4[1] && p.sport == 0 && p.dport == 0);
      break;
    default: check(p.sport == 0 && p.dport == 0 && p.tcp_flags == 0 && p.icmp_type == 0); break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Parsed whole = parse(data, size);
  check_invariants(data, size, whole);

  // Prefix stability. Cut at a point derived from the input, and at size-1.
  std::size_t cuts[2] = {size ? (data[0] * 257u + (size > 1 ? data[size - 1] : 0)) % size : 0,
                         size ? size - 1 : 0};
  for (std::size_t cut : cuts) {
    if (cut >= size) continue;
    const Parsed prefix = parse(data, cut);
    check_invariants(data, cut, prefix);
    if (prefix.outcome != XDPGUARD_PARSE_TRUNCATED) {
      check(prefix.outcome == whole.outcome);
      check(std::memcmp(&prefix.pkt, &whole.pkt, sizeof(xdpguard_pkt)) == 0);
    }
    if (whole.outcome == XDPGUARD_PARSE_TRUNCATED) check(prefix.outcome == XDPGUARD_PARSE_TRUNCATED);
  }
  return 0;
}
