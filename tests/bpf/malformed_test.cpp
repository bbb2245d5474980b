// Malformed input through the guard program (BPF_PROG_TEST_RUN): every sample
// frame cut at every byte offset, and a set of corrupt headers (and those cut
// at every offset too). Whatever arrives, the program must never return
// XDP_ABORTED, must return the action configured for the frame's class, and
// exactly one of the exclusive parse counters (ipv4, ipv6, non_ip, truncated,
// malformed, unsafe) must grow by one packet and the frame's bytes; fragment
// is extra.
// The userspace compile of parse.h must agree on the counter, and both must
// agree with an independent oracle built from the frame's header layout: a
// frame cut before the end of the last header the parser reads, or before the
// end of the IP datagram its length field announces, is truncated; otherwise it
// is what the whole frame is. A second sweep cuts the datagram with the frame
// (length field rewritten to the cut), so that the header bounds are what
// decides; there a first fragment cut inside its own L4 header (or IPv6
// header chain) is unsafe.
#include <linux/bpf.h>

#include <array>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bpf/test_run.h"
#include "guard/guard.h"
#include "support/guard_under_test.h"
#include "support/packet.h"
#include "support/privileged.h"
#include "support/user_parse.h"

namespace xdpguard::test {
namespace {

// BPF_PROG_TEST_RUN refuses XDP input shorter than an Ethernet header
// (EINVAL), and no driver hands XDP such a runt: shorter cuts are checked in
// userspace only.
constexpr std::size_t kMinKernelFrame = 14;

// Per class a different action, so that a verdict tells which path was taken.
GuardConfig distinct_actions() {
  GuardConfig cfg;
  cfg.default_action = XDP_PASS;
  cfg.non_ip_action = XDP_TX;
  cfg.malformed_action = XDP_DROP;
  return cfg;
}

// The configurations below either drop truncated and malformed frames or
// pass everything: then a truncated frame with a sound IP header (which goes
// through the rules, docs/parsing.md) gets the same verdict as one without.
std::uint32_t expected_action(int outcome, const GuardConfig& cfg) {
  switch (outcome) {
    case kNonIp: return cfg.non_ip_action;
    case kUnsafe: return XDP_DROP;
    case kTruncated:
    case kMalformed: return cfg.malformed_action;
    default: return cfg.default_action;
  }
}

// A frame and what the parser must make of it, whole and cut short.
struct Subject {
  std::string name;
  Bytes frame;
  int outcome;        // of the whole frame
  bool frag = false;  // of the whole frame
  // Shortest cut the parser does not call truncated: the end of the last
  // header it reads, or of the IP datagram if that is further (0: nothing
  // it reads lets it say more than `outcome`).
  std::size_t needed = 0;
  // Sample frames only: where the IP header the parser reads starts, and the
  // shortest cut not truncated when the datagram is cut with the frame.
  std::optional<std::size_t> ip_off = std::nullopt;
  std::size_t headers_needed = 0;
  // The first fragment of several: a datagram cut after this offset (the IP
  // header, or IPv6's fragment header) but short of headers_needed hides its
  // L4 header from the rules: unsafe, not truncated (RFC 1858, RFC 7112).
  std::optional<std::size_t> first_fragment_from = std::nullopt;
};

constexpr std::size_t kWholeFrame = static_cast<std::size_t>(-1);

unsigned be16(const std::uint8_t* p) { return (p[0] << 8) | p[1]; }

// The bytes of a header that the parser needs: ICMP reads type and code of
// the 4-byte fixed part; every other header it reads whole (TCP with its
// options, extension headers with their full length).
std::size_t parsed_size(const HeaderSpan& h) {
  if (h.name == "icmp" || h.name == "icmp6") return 4;
  return h.size;
}

// The header oracle for well-formed frames: the end of the last header the
// parser reads. It reads Ethernet, up to two VLAN tags, the first IP header,
// IPv6 extension headers, and the L4 header right after them; not ARP, not
// payload, not what follows an unknown protocol (IPv6 in IPv4).
std::size_t needed_headers(const Packet& p, std::optional<std::size_t>* ip_off) {
  static const std::set<std::string> exts = {"hop_by_hop", "routing", "dest_opts", "fragment6", "ah", "ext"};
  static const std::set<std::string> l4 = {"tcp", "udp", "icmp", "icmp6"};
  std::size_t needed = 0;
  int vlans = 0;
  std::string ip;
  for (const auto& h : p.layout()) {
    const bool header = (h.name == "eth" && needed == 0) || (ip == "ipv6" && exts.count(h.name));
    if (header) {  // the Ethernet header, or an IPv6 extension header
      needed = h.end();
    } else if (h.name == "vlan" && ip.empty() && vlans < XDPGUARD_MAX_VLAN) {
      vlans++;
      needed = h.end();
    } else if ((h.name == "ipv4" || h.name == "ipv6") && ip.empty()) {
      ip = h.name;
      *ip_off = h.offset;
      needed = h.end();
    } else if (!ip.empty() && l4.count(h.name)) {
      return h.offset + parsed_size(h);
    } else {
      break;
    }
  }
  return needed;
}

// Where a first fragment's own headers end (see Subject), if p is one. ICMP
// needs its whole 8-byte header in a first fragment.
std::optional<std::size_t> first_fragment_from(const Packet& p, std::size_t* headers_needed) {
  std::optional<std::size_t> from;
  for (const auto& h : p.layout()) {
    const Bytes f = p.bytes();
    if (h.name == "ipv4" && !from) {
      const unsigned flags_off = (f[h.offset + 6] << 8) | f[h.offset + 7];
      if ((flags_off & 0x2000) && !(flags_off & 0x1fff)) from = h.offset + (f[h.offset] & 0x0f) * 4u;
    } else if (h.name == "fragment6" && !from) {
      const unsigned off_m = (f[h.offset + 2] << 8) | f[h.offset + 3];
      if ((off_m & 1) && !(off_m & 0xfff8)) from = h.end();
    } else if (from && (h.name == "icmp" || h.name == "icmp6")) {
      *headers_needed = std::max(*headers_needed, h.offset + 8);
    }
  }
  return from;
}

// End of the IP datagram starting at `off`, by its own length field.
std::size_t datagram_end(const Bytes& f, std::size_t off) {
  if ((f[off] >> 4) == 4) return off + be16(&f[off + 2]);
  return off + 40 + be16(&f[off + 4]);
}

// `f` with the IP length field rewritten to end the datagram at `cut` (and
// the IPv4 header checksum redone), once the fixed IP header is complete; the
// frame is cut there too, or kept whole (the bytes after the datagram are
// then padding, as on a minimum-size Ethernet frame).
Bytes cut_datagram(const Bytes& f, std::size_t ip_off, std::size_t cut, bool keep_frame) {
  Bytes b(f.begin(), keep_frame ? f.end() : f.begin() + static_cast<std::ptrdiff_t>(cut));
  if ((f[ip_off] >> 4) == 4) {
    const std::size_t ihl = (f[ip_off] & 0x0f) * 4u;
    if (cut < ip_off + ihl) return b;
    const std::size_t len = cut - ip_off;
    b[ip_off + 2] = static_cast<std::uint8_t>(len >> 8);
    b[ip_off + 3] = static_cast<std::uint8_t>(len);
    b[ip_off + 10] = b[ip_off + 11] = 0;
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < ihl; i += 2) sum += be16(&b[ip_off + i]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    b[ip_off + 10] = static_cast<std::uint8_t>(~sum >> 8);
    b[ip_off + 11] = static_cast<std::uint8_t>(~sum);
  } else {
    if (cut < ip_off + 40) return b;
    const std::size_t len = cut - ip_off - 40;
    b[ip_off + 4] = static_cast<std::uint8_t>(len >> 8);
    b[ip_off + 5] = static_cast<std::uint8_t>(len);
  }
  return b;
}

std::vector<Subject> sample_subjects() {
  std::vector<Subject> out;
  for (const auto& s : sample_frames()) {
    Subject sub;
    sub.name = s.name;
    sub.frame = s.packet.bytes();
    UserParse whole = parse_in_userspace(sub.frame);  // parse_test pins these to its table
    sub.outcome = whole.outcome;
    sub.frag = whole.pkt.frag == XDPGUARD_FRAG_LATER;
    sub.headers_needed = needed_headers(s.packet, &sub.ip_off);
    sub.first_fragment_from = first_fragment_from(s.packet, &sub.headers_needed);
    sub.needed = sub.headers_needed;
    if (sub.ip_off) sub.needed = std::max(sub.needed, datagram_end(sub.frame, *sub.ip_off));
    out.push_back(std::move(sub));
  }
  return out;
}

Packet dest_opts_chain(int n) {
  Packet p = Packet().eth().ipv6(kA6, kB6);
  for (int i = 0; i < n; i++) p.dest_opts();
  return p.udp(1, 2);
}

// Corrupt headers. `needed`: the parser finds the fault once it has read
// that many bytes; shorter cuts are truncated. Faults in the IP header itself
// show before the datagram's length is checked against the frame, faults past
// it only in a whole datagram (kWholeFrame).
std::vector<Subject> corrupt_subjects() {
  const std::size_t v4 = 14 + 20, v6 = 14 + 40;
  Bytes zero_len_opt = {0x07, 0x00, 0x00, 0x00};  // record route, length 0
  return {
      {"ipv4_ihl0", Packet().eth().ipv4(kA4, kB4).ihl(0).udp(1, 2).bytes(), kMalformed, false, v4},
      {"ipv4_ihl4", Packet().eth().ipv4(kA4, kB4).ihl(4).udp(1, 2).bytes(), kMalformed, false, v4},
      // IHL 15 says 60 bytes of header, 20 are there (+ 8 of UDP)
      {"ipv4_ihl_past_end", Packet().eth().ipv4(kA4, kB4).ihl(15).tot_len(60).udp(1, 2).bytes(), kTruncated},
      {"ipv4_ihl6_past_end", Packet().eth().ipv4(kA4, kB4).ihl(6).tot_len(100).bytes(), kTruncated},
      {"ipv4_version6", Packet().eth().ipv4(kA4, kB4).ip_version(6).udp(1, 2).bytes(), kMalformed, false, v4},
      {"ipv4_version0", Packet().eth().ipv4(kA4, kB4).ip_version(0).bytes(), kMalformed, false, v4},
      {"ipv6_header_under_ipv4_ethertype", Packet().eth().ethertype(0x0800).ipv6(kA6, kB6).udp(1, 2).bytes(),
       kMalformed, false, v4},
      {"ipv6_version4", Packet().eth().ipv6(kA6, kB6).ip_version(4).udp(1, 2).bytes(), kMalformed, false, v6},
      {"ipv4_header_under_ipv6_ethertype",
       Packet().eth().ethertype(0x86dd).ipv4(kA4, kB4).payload(30).bytes(), kMalformed, false, v6},
      {"ipv4_tot_len_below_ihl",
       Packet().eth().ipv4(kA4, kB4).ip_options({1, 1, 1, 1}).tot_len(20).udp(1, 2).bytes(), kMalformed,
       false, v4},
      {"ipv4_tot_len0", Packet().eth().ipv4(kA4, kB4).tot_len(0).udp(1, 2).bytes(), kMalformed, false, v4},
      // options are skipped, not interpreted: a zero-length option is no fault
      {"ipv4_zero_length_option", Packet().eth().ipv4(kA4, kB4).ip_options(zero_len_opt).udp(1, 2).bytes(),
       kIpv4, false, kWholeFrame},
      {"tcp_zero_length_option",
       Packet().eth().ipv4(kA4, kB4).tcp(1, 2).tcp_options({0x02, 0x00, 0x00, 0x00}).bytes(), kIpv4, false,
       kWholeFrame},
      // any number of extension headers is walked (the datagram is checked
      // against the frame before the walk: any cut is truncated)
      {"ipv6_chain9", dest_opts_chain(9).bytes(), kIpv6, false, kWholeFrame},
      {"ipv6_chain32", dest_opts_chain(32).bytes(), kIpv6, false, kWholeFrame},
      {"ipv6_chain150", dest_opts_chain(150).bytes(), kIpv6, false, kWholeFrame},
      // a "loop": each hop-by-hop header names hop-by-hop as the next one,
      // until the datagram ends: cut short, with no upper-layer header
      {"ipv6_hop_by_hop_loop",
       [] {
         Packet p = Packet().eth().ipv6(kA6, kB6);
         for (int i = 0; i < 12; i++) p.hop_by_hop().proto(0);
         return p.bytes();
       }(),
       kTruncated, false, kWholeFrame},
      {"ipv6_ext_len0_options",  // PadN of length 0 + Pad1s: legal, minimal
       Packet().eth().ipv6(kA6, kB6).hop_by_hop({0x01, 0x00, 0x00, 0x00}).udp(1, 2).bytes(), kIpv6, false,
       kWholeFrame},
      {"ipv6_huge_hop_by_hop",
       Packet().eth().ipv6(kA6, kB6).hop_by_hop().ext_len(255).udp(1, 2).payload(64).bytes(), kTruncated},
      {"ipv6_huge_routing",
       Packet().eth().ipv6(kA6, kB6).routing({"fd00::3"}, 1).ext_len(200).udp(1, 2).bytes(), kTruncated},
      {"ipv6_huge_ah", Packet().eth().ipv6(kA6, kB6).ah(1, 1).ext_len(255).tcp(1, 2).bytes(), kTruncated},
      // a 12-byte AH (length 1 in 4-byte units); read in 8-byte units it
      // would be 16 bytes, past the end of this 15-byte datagram
      {"ipv6_ah_len1", Packet().eth().ipv6(kA6, kB6).ah(1, 1, {}).ext_len(1).proto(59).payload(3).bytes(),
       kIpv6, false, kWholeFrame},
      {"ipv6_ext_past_end_by_one",
       Packet().eth().ipv6(kA6, kB6).dest_opts().ext_len(1).proto(59).payload(7).bytes(), kTruncated},
      {"tcp_doff0", Packet().eth().ipv4(kA4, kB4).tcp(1, 2).doff(0).payload(40).bytes(), kMalformed, false,
       kWholeFrame},
      {"tcp_doff4", Packet().eth().ipv6(kA6, kB6).tcp(1, 2).doff(4).payload(40).bytes(), kMalformed, false,
       kWholeFrame},
      {"tcp_doff_past_end", Packet().eth().ipv4(kA4, kB4).tcp(1, 2).doff(15).payload(39).bytes(), kTruncated},
      {"vlan3", Packet().eth().vlan(1).vlan(2).vlan(3).ipv4(kA4, kB4).udp(1, 2).bytes(), kNonIp, false,
       14 + 8},
      {"vlan4_ad", Packet().eth().vlan_ad(1).vlan_ad(2).vlan_ad(3).vlan_ad(4).ipv6(kA6, kB6).bytes(), kNonIp,
       false, 14 + 8},
      {"vlan_tag_only", Packet().eth().vlan(7).vlan(8).bytes(), kNonIp, false, 14 + 8},
      // a datagram longer than the frame: cut short somewhere
      {"ipv4_tot_len_past_frame", Packet().eth().ipv4(kA4, kB4).tot_len(1500).udp(1, 2).bytes(), kTruncated},
      {"ipv6_payload_len_past_frame", Packet().eth().ipv6(kA6, kB6).payload_len(1500).udp(1, 2).bytes(),
       kTruncated},
      // a datagram shorter than the frame: the rest is Ethernet padding
      {"ipv4_udp_ethernet_padding",
       Packet().eth().ipv4(kA4, kB4).tot_len(28).udp(1, 2).udp_len(8).payload(Bytes(18, 0)).bytes(), kIpv4,
       false, v4 + 8},
      {"ipv6_tcp_trailing_bytes",
       Packet().eth().ipv6(kA6, kB6).payload_len(20).tcp(1, 2).flags(ACK).payload(40).bytes(), kIpv6, false,
       v6 + 20},
      {"ipv4_frag_offset_max",
       Packet().eth().ipv4(kA4, kB4).fragment(0x1fff, true).proto(6).payload(3).bytes(), kIpv4, true,
       kWholeFrame},
  };
}

// Everything the kernel and the userspace parser did with `frame`, checked
// against `expect_outcome` / `expect_frag`.
void check_frame(GuardUnderTest& guard, const GuardConfig& cfg, std::span<const std::uint8_t> frame,
                 int expect_outcome, bool expect_frag) {
  const std::uint64_t len = frame.size();
  UserParse u = parse_in_userspace(frame);
  EXPECT_EQ(u.outcome, expect_outcome) << "userspace parser: " << parse_counter_name(u.outcome)
                                       << ", expected " << parse_counter_name(expect_outcome);
  EXPECT_EQ(u.pkt.frag == XDPGUARD_FRAG_LATER, expect_frag);
  if (u.pkt.frag == XDPGUARD_FRAG_LATER) {
    EXPECT_EQ(u.pkt.sport, 0);
    EXPECT_EQ(u.pkt.dport, 0);
    EXPECT_EQ(u.pkt.l4_off, 0);
  }
  if (len < kMinKernelFrame) return;

  auto k = guard.run(frame);
  ASSERT_TRUE(k) << k.error().message();
  EXPECT_NE(k->verdict, static_cast<std::uint32_t>(XDP_ABORTED));
  EXPECT_EQ(k->verdict, expected_action(expect_outcome, cfg)) << "verdict " << action_name(k->verdict);
  int moved = 0;
  for (int i = 0; i < kExclusive; i++) {
    if (k->parse[i].packets == 0 && k->parse[i].bytes == 0) continue;
    moved++;
    EXPECT_EQ(i, u.outcome) << "kernel counted " << parse_counter_name(i) << ", userspace says "
                            << parse_counter_name(u.outcome);
    EXPECT_EQ(k->parse[i].packets, 1u) << parse_counter_name(i);
    EXPECT_EQ(k->parse[i].bytes, len) << parse_counter_name(i);
  }
  EXPECT_EQ(moved, 1) << "exactly one exclusive parse counter must move";
  EXPECT_EQ(k->parse[kFragment].packets, expect_frag ? 1u : 0u);
  EXPECT_EQ(k->parse[kFragment].bytes, expect_frag ? len : 0u);
  EXPECT_EQ(k->actions[k->verdict % XDPGUARD_NUM_ACTIONS].packets, 1u);
}

// Cuts `s` at every offset 0..len-1 and checks each piece, then the whole.
void sweep(GuardUnderTest& guard, const GuardConfig& cfg, const Subject& s) {
  SCOPED_TRACE(s.name + " " + to_hex(s.frame));
  const std::size_t needed = s.needed == kWholeFrame ? s.frame.size() : s.needed;
  ASSERT_LE(needed, s.frame.size()) << "test bug: needed past the frame";
  for (std::size_t cut = 0; cut < s.frame.size(); cut++) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const bool short_of_headers = cut < needed;
    check_frame(guard, cfg, std::span(s.frame.data(), cut), short_of_headers ? kTruncated : s.outcome,
                short_of_headers ? false : s.frag);
    if (::testing::Test::HasFatalFailure()) return;
  }
  check_frame(guard, cfg, s.frame, s.outcome, s.frag);
}

// Cuts the IP datagram of `s` at every offset by its length field, with the
// frame cut at the same place or kept whole: now the header bounds decide,
// against the end of the frame or against the end of the datagram.
void sweep_datagram(GuardUnderTest& guard, const GuardConfig& cfg, const Subject& s) {
  if (!s.ip_off) return;
  SCOPED_TRACE(s.name + " " + to_hex(s.frame));
  const std::size_t ip_hdr = (s.frame[*s.ip_off] >> 4) == 4 ? (s.frame[*s.ip_off] & 0x0f) * 4u : 40u;
  for (bool keep_frame : {false, true}) {
    // keeping the frame, a length field shorter than the IP header itself
    // would be a different fault (total length < IHL)
    const std::size_t first = keep_frame ? *s.ip_off + ip_hdr : 0;
    for (std::size_t cut = first; cut < s.frame.size(); cut++) {
      Bytes f = cut_datagram(s.frame, *s.ip_off, cut, keep_frame);
      SCOPED_TRACE(std::string(keep_frame ? "padded" : "cut") + " datagram ending at " + std::to_string(cut) +
                   ": " + to_hex(f));
      const bool short_of_headers = cut < s.headers_needed;
      const bool unsafe = short_of_headers && s.first_fragment_from && cut >= *s.first_fragment_from;
      check_frame(guard, cfg, f,
                  unsafe             ? kUnsafe
                  : short_of_headers ? kTruncated
                                     : s.outcome,
                  short_of_headers ? false : s.frag);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

class MalformedTest : public ::testing::Test {
 protected:
  void SetUp() override { XG_REQUIRE_PRIVILEGES(); }

  using Sweep = void (*)(GuardUnderTest&, const GuardConfig&, const Subject&);
  void sweep_all(const std::vector<Subject>& subjects, const GuardConfig& cfg, Sweep how = sweep) {
    std::string err;
    auto guard = GuardUnderTest::load(cfg, &err);
    ASSERT_TRUE(guard) << err;
    for (const auto& s : subjects) {
      how(*guard, cfg, s);
      if (HasFatalFailure()) return;
    }
  }
};

// The oracle itself: the sample frames must be what parse_test says they are
// (not truncated, not malformed), or the cuts prove little.
TEST(MalformedOracleTest, SampleFramesAreWellFormedAndNeedTheirHeaders) {
  for (const auto& s : sample_subjects()) {
    EXPECT_TRUE(s.outcome == kIpv4 || s.outcome == kIpv6 || s.outcome == kNonIp)
        << s.name << ": " << parse_counter_name(s.outcome);
    EXPECT_GE(s.headers_needed, 14u) << s.name;
    EXPECT_LE(s.headers_needed, s.needed) << s.name;
    EXPECT_EQ(s.ip_off.has_value(), s.outcome != kNonIp) << s.name;
  }
}

TEST_F(MalformedTest, SampleFramesCutAtEveryOffset) { sweep_all(sample_subjects(), distinct_actions()); }

TEST_F(MalformedTest, SampleFramesCutAtEveryOffsetWithDefaultActions) {
  sweep_all(sample_subjects(), GuardConfig{});
}

TEST_F(MalformedTest, SampleDatagramsCutAtEveryOffset) {
  sweep_all(sample_subjects(), distinct_actions(), sweep_datagram);
}

TEST_F(MalformedTest, CorruptHeaders) {
  GuardConfig cfg = distinct_actions();
  std::string err;
  auto guard = GuardUnderTest::load(cfg, &err);
  ASSERT_TRUE(guard) << err;
  for (const auto& s : corrupt_subjects()) {
    SCOPED_TRACE(s.name + " " + to_hex(s.frame));
    check_frame(*guard, cfg, s.frame, s.outcome, s.frag);
  }
}

TEST_F(MalformedTest, CorruptHeadersCutAtEveryOffset) { sweep_all(corrupt_subjects(), distinct_actions()); }

// Configured drop for malformed input: a flood of corrupt frames is dropped
// and counted, none aborted, none passed.
TEST_F(MalformedTest, MalformedDropCountsEveryCorruptFrame) {
  GuardConfig cfg;
  cfg.malformed_action = XDP_DROP;
  std::string err;
  auto guard = GuardUnderTest::load(cfg, &err);
  ASSERT_TRUE(guard) << err;
  std::uint64_t expect_drops = 0, drops = 0, passes = 0, aborted = 0;
  for (const auto& s : corrupt_subjects()) {
    if (s.outcome != kTruncated && s.outcome != kMalformed) continue;
    expect_drops++;
    auto k = guard->run(s.frame);
    ASSERT_TRUE(k) << k.error().message();
    drops += k->actions[XDP_DROP].packets;
    passes += k->actions[XDP_PASS].packets;
    aborted += k->actions[XDP_ABORTED].packets;
  }
  EXPECT_GE(expect_drops, 15u);
  EXPECT_EQ(drops, expect_drops);
  EXPECT_EQ(passes, 0u);
  EXPECT_EQ(aborted, 0u);
}

// Regression (found by this test, fixed in parse.h): the L4 header used to be
// bounded by the end of the frame instead of the end of the IP datagram (IPv4
// total length, IPv6 payload length), so the bytes after the datagram
// (Ethernet padding, or whatever a sender appends) were read as the TCP/UDP
// header. The kernel trims a frame to its datagram before L4 (ip_rcv_core,
// ipv6_rcv), finds no L4 header there and discards the packet; xdpguard
// counted a complete TCP/UDP packet whose ports and flags came from the
// padding (and rules matched on them), or "malformed" for zero padding.
// A header that ends past its datagram is truncated, like one past the frame.
TEST_F(MalformedTest, L4HeaderPastIpDatagramLengthIsTruncated) {
  GuardConfig cfg = distinct_actions();
  std::string err;
  auto guard = GuardUnderTest::load(cfg, &err);
  ASSERT_TRUE(guard) << err;
  const std::vector<std::pair<const char*, Bytes>> frames = {
      // IPv4 total length 20: no room for TCP; a SYN 1 -> 2 follows in the frame
      {"ipv4_tot_len20_tcp_after_datagram",
       Packet().eth().ipv4(kA4, kB4).tot_len(20).tcp(1, 2).flags(SYN).bytes()},
      // a minimum-size (60-byte) frame: 26 bytes of zero padding after the datagram
      {"ipv4_tot_len20_tcp_zero_padding",
       Packet().eth().ipv4(kA4, kB4).tot_len(20).proto(6).payload(Bytes(26, 0)).bytes()},
      // 4 of the 8 UDP header bytes inside the datagram
      {"ipv4_tot_len24_udp_half_inside", Packet().eth().ipv4(kA4, kB4).tot_len(24).udp(1, 2).bytes()},
      // IPv6 payload length 0 (no jumbogram option): the UDP header is outside
      {"ipv6_payload_len0_udp_after_datagram",
       Packet().eth().ipv6(kA6, kB6).payload_len(0).udp(1, 2).bytes()},
  };
  for (const auto& [name, frame] : frames) {
    SCOPED_TRACE(std::string(name) + " " + to_hex(frame));
    check_frame(*guard, cfg, frame, kTruncated, false);
  }
}

}  // namespace
}  // namespace xdpguard::test
