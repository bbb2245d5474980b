// Parser table tests over the real guard program (BPF_PROG_TEST_RUN): frame in
// -> verdict, the one parse counter that moved (and by how many bytes), the
// fragment counter. Each frame also goes through the userspace compile of the
// same parse.h: outcome and fragment flag must equal what the kernel counted,
// and the xdpguard_pkt fields must be those the table expects (a differential check
// of the two copies of the parser).
#include <arpa/inet.h>
#include <linux/bpf.h>

#include <array>
#include <cstring>
#include <map>
#include <optional>
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

// What the parser must make of a frame.
struct Expect {
  int outcome;
  bool frag = false;    // a non-first fragment (XDPGUARD_FRAG_LATER)
  bool l4_cut = false;  // the L4 header, or the IPv6 header chain, is cut (XDPGUARD_FRAG_L4_CUT)
  std::uint8_t family = 0;
  std::uint8_t nvlan = 0;
  std::array<std::uint16_t, 2> vlan{};  // VLAN IDs of the nvlan tags, outer first
  std::uint16_t l3_off = 0;
  std::uint16_t l4_off = 0;
  std::uint8_t l4proto = 0;
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
  std::uint8_t tcp_flags = 0;
  std::uint8_t icmp_type = 0;
  std::uint8_t icmp_code = 0;
  std::uint8_t frag_bits = 0;  // XDPGUARD_FRAG_DF|ISF|FF|LF
  std::uint8_t dscp = 0;
  // The IP length (total length; IPv6 payload length + 40) when it is not
  // simply the frame's length after l3_off (Ethernet padding, a length
  // override).
  std::optional<std::uint32_t> ip_len = std::nullopt;
};

// Expectations for every frame of the sample catalogue (tests/support/packet.cpp).
const std::map<std::string, Expect>& sample_expectations() {
  static const std::map<std::string, Expect> m = {
      {"ipv4_tcp_syn",
       {.outcome = kIpv4,
        .family = 4,
        .l3_off = 14,
        .l4_off = 34,
        .l4proto = 6,
        .sport = 40000,
        .dport = 80,
        .tcp_flags = SYN}},
      {"ipv4_tcp_syn_options",
       {.outcome = kIpv4,
        .family = 4,
        .l3_off = 14,
        .l4_off = 34,
        .l4proto = 6,
        .sport = 40001,
        .dport = 443,
        .tcp_flags = SYN}},
      {"ipv4_tcp_data",
       {.outcome = kIpv4,
        .family = 4,
        .l3_off = 14,
        .l4_off = 34,
        .l4proto = 6,
        .sport = 40002,
        .dport = 80,
        .tcp_flags = PSH | ACK}},
      {"ipv4_udp",
       {.outcome = kIpv4,
        .family = 4,
        .l3_off = 14,
        .l4_off = 34,
        .l4proto = 17,
        .sport = 5353,
        .dport = 53}},
      {"ipv4_icmp_echo",
       {.outcome = kIpv4, .family = 4, .l3_off = 14, .l4_off = 34, .l4proto = 1, .icmp_type = 8}},
      // IHL 15: L4 starts after 40 bytes of options
      {"ipv4_options_max",
       {.outcome = kIpv4,
        .family = 4,
        .l3_off = 14,
        .l4_off = 74,
        .l4proto = 6,
        .sport = 40003,
        .dport = 22,
        .tcp_flags = ACK}},
      {"ipv4_router_alert_udp",
       {.outcome = kIpv4,
        .family = 4,
        .l3_off = 14,
        .l4_off = 38,
        .l4proto = 17,
        .sport = 1000,
        .dport = 2000}},
      // first fragment (offset 0, MF): its L4 header is there and parsed
      {"ipv4_frag_first",
       {.outcome = kIpv4,
        .family = 4,
        .l3_off = 14,
        .l4_off = 34,
        .l4proto = 17,
        .sport = 1001,
        .dport = 2001,
        .frag_bits = XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_FF}},
      // non-first fragments: no L4 header, no ports
      {"ipv4_frag_middle",
       {.outcome = kIpv4,
        .frag = true,
        .family = 4,
        .l3_off = 14,
        .l4proto = 6,
        .frag_bits = XDPGUARD_FRAG_ISF}},
      {"ipv4_frag_last",
       {.outcome = kIpv4,
        .frag = true,
        .family = 4,
        .l3_off = 14,
        .l4proto = 17,
        .frag_bits = XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_LF}},
      {"ipv4_gre_raw", {.outcome = kIpv4, .family = 4, .l3_off = 14, .l4_off = 34, .l4proto = 47}},
      {"ipv6_in_ipv4", {.outcome = kIpv4, .family = 4, .l3_off = 14, .l4_off = 34, .l4proto = 41}},
      {"vlan0_priority_ipv4_udp",
       {.outcome = kIpv4,
        .family = 4,
        .nvlan = 1,
        .vlan = {0, 0},
        .l3_off = 18,
        .l4_off = 38,
        .l4proto = 17,
        .sport = 1003,
        .dport = 2003}},
      {"vlan1_ipv4_tcp",
       {.outcome = kIpv4,
        .family = 4,
        .nvlan = 1,
        .vlan = {100, 0},
        .l3_off = 18,
        .l4_off = 38,
        .l4proto = 6,
        .sport = 40004,
        .dport = 80,
        .tcp_flags = SYN}},
      {"vlan1_ad_ipv6_icmp6",
       {.outcome = kIpv6,
        .family = 6,
        .nvlan = 1,
        .vlan = {4094, 0},
        .l3_off = 18,
        .l4_off = 58,
        .l4proto = 58,
        .icmp_type = 128}},
      {"vlan2_qinq_ipv4_udp",
       {.outcome = kIpv4,
        .family = 4,
        .nvlan = 2,
        .vlan = {100, 200},
        .l3_off = 22,
        .l4_off = 42,
        .l4proto = 17,
        .sport = 1004,
        .dport = 2004}},
      {"vlan2_qq_ipv6_tcp",
       {.outcome = kIpv6,
        .family = 6,
        .nvlan = 2,
        .vlan = {10, 20},
        .l3_off = 22,
        .l4_off = 62,
        .l4proto = 6,
        .sport = 40005,
        .dport = 8080,
        .tcp_flags = FIN | ACK}},
      {"ipv6_tcp_syn",
       {.outcome = kIpv6,
        .family = 6,
        .l3_off = 14,
        .l4_off = 54,
        .l4proto = 6,
        .sport = 40006,
        .dport = 80,
        .tcp_flags = SYN}},
      {"ipv6_udp",
       {.outcome = kIpv6,
        .family = 6,
        .l3_off = 14,
        .l4_off = 54,
        .l4proto = 17,
        .sport = 5353,
        .dport = 53}},
      {"ipv6_icmp6_echo",
       {.outcome = kIpv6, .family = 6, .l3_off = 14, .l4_off = 54, .l4proto = 58, .icmp_type = 128}},
      {"ipv6_no_next_header", {.outcome = kIpv6, .family = 6, .l3_off = 14, .l4_off = 54, .l4proto = 59}},
      {"ipv6_hop_by_hop_udp",
       {.outcome = kIpv6,
        .family = 6,
        .l3_off = 14,
        .l4_off = 62,
        .l4proto = 17,
        .sport = 1005,
        .dport = 2005}},
      // 104-byte hop-by-hop header (length 12)
      {"ipv6_hop_by_hop_large_udp",
       {.outcome = kIpv6,
        .family = 6,
        .l3_off = 14,
        .l4_off = 158,
        .l4proto = 17,
        .sport = 1006,
        .dport = 2006}},
      {"ipv6_routing_tcp",
       {.outcome = kIpv6,
        .family = 6,
        .l3_off = 14,
        .l4_off = 78,
        .l4proto = 6,
        .sport = 40007,
        .dport = 443,
        .tcp_flags = SYN | ECE | CWR}},
      {"ipv6_dest_opts_udp",
       {.outcome = kIpv6,
        .family = 6,
        .l3_off = 14,
        .l4_off = 62,
        .l4proto = 17,
        .sport = 1007,
        .dport = 2007}},
      {"ipv6_frag_first_udp",
       {.outcome = kIpv6,
        .family = 6,
        .l3_off = 14,
        .l4_off = 62,
        .l4proto = 17,
        .sport = 1008,
        .dport = 2008,
        .frag_bits = XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_FF}},
      {"ipv6_frag_last",
       {.outcome = kIpv6,
        .frag = true,
        .family = 6,
        .l3_off = 14,
        .l4proto = 17,
        .frag_bits = XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_LF}},
      // AH: 24 bytes, its length byte (4) in 4-byte units
      {"ipv6_ah_tcp",
       {.outcome = kIpv6,
        .family = 6,
        .l3_off = 14,
        .l4_off = 78,
        .l4proto = 6,
        .sport = 40008,
        .dport = 22,
        .tcp_flags = RST}},
      // AH then ESP: ESP is where the parser stops (no ports)
      {"ipv6_ah_esp", {.outcome = kIpv6, .family = 6, .l3_off = 14, .l4_off = 78, .l4proto = 50}},
      // mobility (135) is not an extension header for ipv6_find_hdr(), and so
      // not for nftables: it is the L4 protocol
      {"ipv6_mobility", {.outcome = kIpv6, .family = 6, .l3_off = 14, .l4_off = 54, .l4proto = 135}},
      // hop-by-hop 8, dest 8, routing 24, fragment 8, AH 24, dest 8, dest 8, dest 8
      {"ipv6_chain8_udp",
       {.outcome = kIpv6,
        .family = 6,
        .l3_off = 14,
        .l4_off = 150,
        .l4proto = 17,
        .sport = 1009,
        .dport = 2009}},
      {"arp_request", {.outcome = kNonIp}},
      {"vlan1_arp_reply", {.outcome = kNonIp, .nvlan = 1, .vlan = {100, 0}}},
      {"lldp", {.outcome = kNonIp}},
  };
  return m;
}

struct Case {
  std::string name;
  Bytes frame;
  Expect expect;
};

Packet chain(int n) {
  Packet p = Packet().eth().ipv6(kA6, kB6);
  for (int i = 0; i < n; i++) p.dest_opts();
  return p.udp(1, 2);
}

Expect chain_udp(int n) {
  return {.outcome = kIpv6,
          .family = 6,
          .l3_off = 14,
          .l4_off = static_cast<std::uint16_t>(54 + 8 * n),
          .l4proto = 17,
          .sport = 1,
          .dport = 2};
}

// Edge cases beyond the well-formed catalogue: what the parser refuses.
std::vector<Case> edge_cases() {
  Packet mixed = Packet().eth().ipv6(kA6, kB6).hop_by_hop();
  for (int i = 0; i < 12; i++) mixed.routing({}, 0, 4).dest_opts().ah(1, 2);
  return {
      // a third tag is not parsed: the frame is not IP as far as XDP can tell
      {"vlan3_ipv4_udp",
       Packet().eth().vlan(1).vlan(2).vlan(3).ipv4(kA4, kB4).udp(1, 2).bytes(),
       {.outcome = kNonIp, .nvlan = 2, .vlan = {1, 2}}},
      {"vlan3_ad_q_q_ipv6",
       Packet().eth().vlan_ad(1).vlan(2).vlan(3).ipv6(kA6, kB6).bytes(),
       {.outcome = kNonIp, .nvlan = 2, .vlan = {1, 2}}},
      // IPv6 extension headers are walked as far as the frame goes: the
      // first two inline, the rest in a loop (no count limit)
      {"ipv6_chain2_dest_opts", chain(2).bytes(), chain_udp(2)},
      {"ipv6_chain3_dest_opts", chain(3).bytes(), chain_udp(3)},
      {"ipv6_chain9_dest_opts", chain(9).bytes(), chain_udp(9)},
      {"ipv6_chain24_dest_opts", chain(24).bytes(), chain_udp(24)},
      {"ipv6_chain180_dest_opts", chain(180).bytes(), chain_udp(180)},
      // hop-by-hop 8, then 12 x (routing 8, dest 8, AH 24)
      {"ipv6_chain37_mixed_tcp",
       Packet(mixed).tcp(3, 4).flags(SYN).bytes(),
       {.outcome = kIpv6,
        .family = 6,
        .l3_off = 14,
        .l4_off = 54 + 8 + 12 * 40,
        .l4proto = 6,
        .sport = 3,
        .dport = 4,
        .tcp_flags = SYN}},
      // a chain cut short (past the datagram): the rules see no L4 (nor a protocol)
      {"ipv6_chain_cut",
       chain(10).payload_len(8 * 6 + 4).bytes(),
       {.outcome = kTruncated, .l4_cut = true, .family = 6, .l3_off = 14, .ip_len = 40 + 8 * 6 + 4}},
      // an IPv6 fragment in the middle (offset != 0, M set)
      {"ipv6_frag_middle_tcp",
       Packet().eth().ipv6(kA6, kB6).fragment6(2, true, 7).proto(6).payload(8).bytes(),
       {.outcome = kIpv6,
        .frag = true,
        .family = 6,
        .l3_off = 14,
        .l4proto = 6,
        .frag_bits = XDPGUARD_FRAG_ISF}},
      // DF alone is not a fragment
      {"ipv4_dont_fragment_tcp",
       Packet().eth().ipv4(kA4, kB4).dont_fragment().tcp(7, 8).flags(SYN).bytes(),
       {.outcome = kIpv4,
        .family = 4,
        .l3_off = 14,
        .l4_off = 34,
        .l4proto = 6,
        .sport = 7,
        .dport = 8,
        .tcp_flags = SYN,
        .frag_bits = XDPGUARD_FRAG_DF}},
      {"ipv4_version6",
       Packet().eth().ipv4(kA4, kB4).ip_version(6).udp(1, 2).bytes(),
       {.outcome = kMalformed}},
      {"ipv6_version4",
       Packet().eth().ipv6(kA6, kB6).ip_version(4).udp(1, 2).bytes(),
       {.outcome = kMalformed}},
      {"ipv4_ihl4", Packet().eth().ipv4(kA4, kB4).ihl(4).udp(1, 2).bytes(), {.outcome = kMalformed}},
      {"ipv4_tot_len_below_ihl",
       Packet().eth().ipv4(kA4, kB4).ip_options({1, 1, 1, 1}).tot_len(20).udp(1, 2).bytes(),
       {.outcome = kMalformed}},
      {"ipv4_ihl_past_end",
       Packet().eth().ipv4(kA4, kB4).ihl(15).tot_len(60).bytes(),
       {.outcome = kTruncated}},
      // a sound IP header with a bad TCP header: the fields that are there
      // are read (nftables reads them too)
      {"tcp_doff4",
       Packet().eth().ipv4(kA4, kB4).tcp(1, 2).doff(4).payload(20).bytes(),
       {.outcome = kMalformed,
        .family = 4,
        .l3_off = 14,
        .l4_off = 34,
        .l4proto = 6,
        .sport = 1,
        .dport = 2}},
      {"tcp_doff_past_end",
       Packet().eth().ipv4(kA4, kB4).tcp(1, 2).doff(15).payload(20).bytes(),
       {.outcome = kTruncated,
        .family = 4,
        .l3_off = 14,
        .l4_off = 34,
        .l4proto = 6,
        .sport = 1,
        .dport = 2}},
      {"udp_cut",
       Packet().eth().ipv6(kA6, kB6).proto(17).payload(7).bytes(),
       {.outcome = kTruncated, .l4_cut = true, .family = 6, .l3_off = 14, .l4_off = 54, .l4proto = 17}},
      // Fragments that could hide a header from the rules (RFC 1858, 3128, 7112)
      {"ipv4_tiny_first_fragment_tcp",
       Packet().eth().ipv4(kA4, kB4).fragment(0, true).proto(6).payload(8).bytes(),
       {.outcome = kUnsafe,
        .l4_cut = true,
        .family = 4,
        .l3_off = 14,
        .l4_off = 34,
        .l4proto = 6,
        .frag_bits = XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_FF}},
      {"ipv4_first_fragment_tcp_options_cut",
       Packet().eth().ipv4(kA4, kB4).fragment(0, true).tcp(5, 6).doff(8).flags(SYN).bytes(),
       {.outcome = kUnsafe,
        .family = 4,
        .l3_off = 14,
        .l4_off = 34,
        .l4proto = 6,
        .sport = 5,
        .dport = 6,
        .tcp_flags = SYN,
        .frag_bits = XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_FF}},
      {"ipv4_first_fragment_icmp_4_bytes",
       Packet().eth().ipv4(kA4, kB4).fragment(0, true).proto(1).payload(Bytes{8, 0, 0, 0}).bytes(),
       {.outcome = kUnsafe,
        .family = 4,
        .l3_off = 14,
        .l4_off = 34,
        .l4proto = 1,
        .icmp_type = 8,
        .frag_bits = XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_FF}},
      {"ipv4_fragment_offset_8_bytes",
       Packet().eth().ipv4(kA4, kB4).fragment(1, true).proto(6).payload(16).bytes(),
       {.outcome = kUnsafe,
        .frag = true,
        .family = 4,
        .l3_off = 14,
        .l4proto = 6,
        .frag_bits = XDPGUARD_FRAG_ISF}},
      {"ipv4_fragment_offset_16_bytes",
       Packet().eth().ipv4(kA4, kB4).fragment(2, false).proto(6).payload(16).bytes(),
       {.outcome = kIpv4,
        .frag = true,
        .family = 4,
        .l3_off = 14,
        .l4proto = 6,
        .frag_bits = XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_LF}},
      {"ipv6_first_fragment_chain_cut",
       Packet()
           .eth()
           .ipv6(kA6, kB6)
           .fragment6(0, true, 9)
           .dest_opts()
           .dest_opts()
           .payload_len(8 + 8 + 4)
           .bytes(),
       {.outcome = kUnsafe,
        .l4_cut = true,
        .family = 6,
        .l3_off = 14,
        .frag_bits = XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_FF,
        .ip_len = 40 + 8 + 8 + 4}},
      {"ipv6_tiny_first_fragment_tcp",
       Packet().eth().ipv6(kA6, kB6).fragment6(0, true, 9).proto(6).payload(8).bytes(),
       {.outcome = kUnsafe,
        .l4_cut = true,
        .family = 6,
        .l3_off = 14,
        .l4_off = 62,
        .l4proto = 6,
        .frag_bits = XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_FF}},
      {"ipv6_fragment_offset_8_bytes",
       Packet().eth().ipv6(kA6, kB6).fragment6(1, true, 9).proto(6).payload(16).bytes(),
       {.outcome = kUnsafe,
        .frag = true,
        .family = 6,
        .l3_off = 14,
        .l4proto = 6,
        .frag_bits = XDPGUARD_FRAG_ISF}},
      // an atomic fragment (offset 0, no more fragments) is a whole datagram
      {"ipv6_atomic_fragment_udp",
       Packet().eth().ipv6(kA6, kB6).fragment6(0, false, 9).udp(7, 8).bytes(),
       {.outcome = kIpv6, .family = 6, .l3_off = 14, .l4_off = 62, .l4proto = 17, .sport = 7, .dport = 8}},
      // The FlowSpec fields: DSCP (ECN bits left out), length, fragment bits.
      {"ipv4_dscp46_ecn_df_udp",
       Packet().eth().ipv4(kA4, kB4).tos(46 << 2 | 3).dont_fragment().udp(1, 2).payload(100).bytes(),
       {.outcome = kIpv4,
        .family = 4,
        .l3_off = 14,
        .l4_off = 34,
        .l4proto = 17,
        .sport = 1,
        .dport = 2,
        .frag_bits = XDPGUARD_FRAG_DF,
        .dscp = 46,
        .ip_len = 20 + 8 + 100}},
      {"ipv6_tclass_ff_dscp63_udp",
       Packet().eth().ipv6(kA6, kB6).traffic_class(0xff).flow_label(0xfffff).udp(1, 2).payload(10).bytes(),
       {.outcome = kIpv6,
        .family = 6,
        .l3_off = 14,
        .l4_off = 54,
        .l4proto = 17,
        .sport = 1,
        .dport = 2,
        .dscp = 63,
        .ip_len = 40 + 8 + 10}},
      {"ipv6_tclass_dscp10_icmp6",
       Packet().eth().ipv6(kA6, kB6).traffic_class(10 << 2).icmp6(1, 4).bytes(),
       {.outcome = kIpv6,
        .family = 6,
        .l3_off = 14,
        .l4_off = 54,
        .l4proto = 58,
        .icmp_type = 1,
        .icmp_code = 4,
        .dscp = 10}},
      // Ethernet padding after the datagram: the length is the IP header's
      {"ipv4_udp_padded",
       [] {
         Bytes b = Packet().eth().ipv4(kA4, kB4).udp(1, 2).bytes();
         b.resize(b.size() + 18, 0);
         return b;
       }(),
       {.outcome = kIpv4,
        .family = 4,
        .l3_off = 14,
        .l4_off = 34,
        .l4proto = 17,
        .sport = 1,
        .dport = 2,
        .ip_len = 28}},
      {"ipv6_udp_padded",
       [] {
         Bytes b = Packet().eth().ipv6(kA6, kB6).udp(1, 2).bytes();
         b.resize(b.size() + 7, 0);
         return b;
       }(),
       {.outcome = kIpv6,
        .family = 6,
        .l3_off = 14,
        .l4_off = 54,
        .l4proto = 17,
        .sport = 1,
        .dport = 2,
        .ip_len = 48}},
      // DF with a fragment: both said
      {"ipv4_df_last_fragment",
       Packet().eth().ipv4(kA4, kB4).dont_fragment().fragment(3, false).proto(17).payload(16).bytes(),
       {.outcome = kIpv4,
        .frag = true,
        .family = 4,
        .l3_off = 14,
        .l4proto = 17,
        .frag_bits = XDPGUARD_FRAG_DF | XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_LF}},
      // a middle IPv6 fragment: more fragments follow, not the last
      {"ipv6_frag_middle_udp",
       Packet().eth().ipv6(kA6, kB6).fragment6(50, true, 3).proto(17).payload(16).bytes(),
       {.outcome = kIpv6,
        .frag = true,
        .family = 6,
        .l3_off = 14,
        .l4proto = 17,
        .frag_bits = XDPGUARD_FRAG_ISF}},
      // two fragment headers: the bits are the first one's (nft's `exthdr frag`)
      {"ipv6_two_fragment_headers",
       Packet()
           .eth()
           .ipv6(kA6, kB6)
           .fragment6(0, true, 3)
           .fragment6(5, false, 4)
           .proto(17)
           .payload(16)
           .bytes(),
       {.outcome = kIpv6,
        .frag = true,
        .family = 6,
        .l3_off = 14,
        .l4proto = 17,
        .frag_bits = XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_FF}},
  };
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const auto& s : sample_frames())
    cases.push_back({s.name, s.packet.bytes(), sample_expectations().at(s.name)});
  for (auto& c : edge_cases()) cases.push_back(std::move(c));
  return cases;
}

// No rules installed: a frame with a sound IP header takes the default
// action, even when truncated or malformed further in, unless the malformed
// action is drop (docs/parsing.md).
std::uint32_t expected_action(const Expect& e, const GuardConfig& cfg) {
  switch (e.outcome) {
    case kNonIp: return cfg.non_ip_action;
    case kUnsafe: return XDP_DROP;
    case kTruncated:
    case kMalformed:
      if (!e.family || cfg.malformed_action == XDP_DROP) return cfg.malformed_action;
      return cfg.default_action;
    default: return cfg.default_action;
  }
}

void expect_fields(const Case& c, const xdpguard_pkt& p) {
  const Expect& e = c.expect;
  EXPECT_EQ(p.frag, e.frag ? XDPGUARD_FRAG_LATER : e.l4_cut ? XDPGUARD_FRAG_L4_CUT : XDPGUARD_FRAG_NONE);
  EXPECT_EQ(p.family, e.family);
  EXPECT_EQ(p.nvlan, e.nvlan);
  // Each tag's VID (its priority bits left out) marked present; 0 past the last.
  for (unsigned i = 0; i < XDPGUARD_MAX_VLAN; ++i)
    EXPECT_EQ(p.vlan[i], i < e.nvlan ? (e.vlan.at(i) | XDPGUARD_VLAN_TAGGED) : 0) << "tag " << i;
  EXPECT_EQ(p.l3_off, e.l3_off);
  EXPECT_EQ(p.l4_off, e.l4_off);
  EXPECT_EQ(p.l4proto, e.l4proto);
  EXPECT_EQ(p.sport, e.sport);
  EXPECT_EQ(p.dport, e.dport);
  EXPECT_EQ(p.tcp_flags, e.tcp_flags);
  EXPECT_EQ(p.icmp_type, e.icmp_type);
  EXPECT_EQ(p.icmp_code, e.icmp_code);
  EXPECT_EQ(p.frag_bits, e.frag_bits);
  EXPECT_EQ(p.dscp, e.dscp);
  // The IP length: the datagram's, set with the family.
  const std::uint32_t want_len =
      e.family ? e.ip_len.value_or(static_cast<std::uint32_t>(c.frame.size() - e.l3_off)) : 0;
  EXPECT_EQ(p.ip_len, want_len);
  // addresses: the frame's own, in network byte order
  if (e.family == 4) {
    __u32 s, d;
    ASSERT_EQ(::inet_pton(AF_INET, kA4, &s), 1);
    ASSERT_EQ(::inet_pton(AF_INET, kB4, &d), 1);
    EXPECT_EQ(p.saddr[0], s);
    EXPECT_EQ(p.daddr[0], d);
  } else if (e.family == 6) {
    __u32 s[4], d[4];
    ASSERT_EQ(::inet_pton(AF_INET6, kA6, s), 1);
    ASSERT_EQ(::inet_pton(AF_INET6, kB6, d), 1);
    EXPECT_EQ(std::memcmp(p.saddr, s, 16), 0);
    EXPECT_EQ(std::memcmp(p.daddr, d, 16), 0);
  }
}

// Runs every case through the kernel with cfg and checks verdict and
// counters; with userspace_fields also the userspace parser's fields.
void check_table(const GuardConfig& cfg, bool userspace_fields) {
  std::string err;
  auto guard = GuardUnderTest::load(cfg, &err);
  ASSERT_TRUE(guard) << err;

  for (const auto& c : all_cases()) {
    SCOPED_TRACE(c.name + " " + to_hex(c.frame));
    const std::uint64_t len = c.frame.size();
    auto k = guard->run(c.frame);
    ASSERT_TRUE(k) << k.error().message();

    // kernel: verdict, the one exclusive counter, fragment, action counters
    EXPECT_NE(k->verdict, static_cast<std::uint32_t>(XDP_ABORTED));
    EXPECT_EQ(k->verdict, expected_action(c.expect, cfg));
    EXPECT_EQ(k->outcome(), c.expect.outcome) << "expected counter " << parse_counter_name(c.expect.outcome);
    for (int i = 0; i < kExclusive; i++) {
      const bool hit = i == c.expect.outcome;
      EXPECT_EQ(k->parse[i].packets, hit ? 1u : 0u) << parse_counter_name(i);
      EXPECT_EQ(k->parse[i].bytes, hit ? len : 0u) << parse_counter_name(i);
    }
    EXPECT_EQ(k->parse[kFragment].packets, c.expect.frag ? 1u : 0u);
    EXPECT_EQ(k->parse[kFragment].bytes, c.expect.frag ? len : 0u);
    for (std::uint32_t a = 0; a < XDPGUARD_NUM_ACTIONS; a++) {
      const bool hit = a == k->verdict;
      EXPECT_EQ(k->actions[a].packets, hit ? 1u : 0u) << action_name(a);
      EXPECT_EQ(k->actions[a].bytes, hit ? len : 0u) << action_name(a);
    }

    // userspace copy of the parser: same outcome and fragment flag as the kernel
    UserParse u = parse_in_userspace(c.frame);
    EXPECT_EQ(u.outcome, k->outcome()) << "userspace and BPF parsers disagree";
    EXPECT_EQ(u.pkt.frag == XDPGUARD_FRAG_LATER, k->parse[kFragment].packets == 1)
        << "userspace and BPF parsers disagree on the fragment flag";
    if (userspace_fields) {
      // the family is implied by the kernel's counter too
      if (u.outcome == kIpv4 || u.outcome == kIpv6 || u.outcome == kNonIp) {
        EXPECT_EQ(u.pkt.family, k->outcome() == kIpv4 ? 4 : k->outcome() == kIpv6 ? 6 : 0);
      }
      expect_fields(c, u.pkt);
    }
  }
}

TEST(ParseTest, EverySampleFrameHasAnExpectation) {
  std::map<std::string, Expect> left = sample_expectations();
  for (const auto& s : sample_frames())
    EXPECT_EQ(left.erase(s.name), 1u) << "no expectation for sample frame " << s.name;
  for (const auto& [name, e] : left) ADD_FAILURE() << "expectation for missing frame " << name;
}

// Default configuration: everything passes, each frame lands in the right
// counter, and the userspace parser reads the same fields.
TEST(ParseTest, TableWithDefaultActions) {
  XG_REQUIRE_PRIVILEGES();
  check_table(GuardConfig{}, /*userspace_fields=*/true);
}

TEST(ParseTest, DefaultActionDropAppliesToIpFramesOnly) {
  XG_REQUIRE_PRIVILEGES();
  GuardConfig cfg;
  cfg.default_action = XDP_DROP;
  check_table(cfg, false);
}

TEST(ParseTest, NonIpActionDropAppliesToArpLldpAndThirdVlanTag) {
  XG_REQUIRE_PRIVILEGES();
  GuardConfig cfg;
  cfg.non_ip_action = XDP_DROP;
  check_table(cfg, false);
}

TEST(ParseTest, MalformedActionDropAppliesToTruncatedAndMalformed) {
  XG_REQUIRE_PRIVILEGES();
  GuardConfig cfg;
  cfg.malformed_action = XDP_DROP;
  check_table(cfg, false);
}

// Three different actions at once: each class of frame takes its own.
TEST(ParseTest, EachOutcomeClassTakesItsOwnAction) {
  XG_REQUIRE_PRIVILEGES();
  GuardConfig cfg;
  cfg.default_action = XDP_DROP;
  cfg.non_ip_action = XDP_TX;
  cfg.malformed_action = XDP_PASS;
  check_table(cfg, false);
}

// The counters accumulate: N frames of one kind add N packets and N * len bytes.
TEST(ParseTest, CountersAccumulateOverRepeatedFrames) {
  XG_REQUIRE_PRIVILEGES();
  std::string err;
  auto guard = GuardUnderTest::load(GuardConfig{}, &err);
  ASSERT_TRUE(guard) << err;
  Bytes v4 = Packet().eth().ipv4(kA4, kB4).udp(1, 2).payload(100).bytes();
  Bytes frag = Packet().eth().ipv6(kA6, kB6).fragment6(10, false).proto(6).payload(30).bytes();
  xdpguard_counter ipv4{}, ipv6{}, fragment{};
  for (int i = 0; i < 5; i++) {
    for (const Bytes* f : {&v4, &frag}) {
      auto k = guard->run(*f);
      ASSERT_TRUE(k) << k.error().message();
      ipv4 += k->parse[kIpv4];
      ipv6 += k->parse[kIpv6];
      fragment += k->parse[kFragment];
    }
  }
  EXPECT_EQ(ipv4.packets, 5u);
  EXPECT_EQ(ipv4.bytes, 5u * v4.size());
  EXPECT_EQ(ipv6.packets, 5u);
  EXPECT_EQ(ipv6.bytes, 5u * frag.size());
  EXPECT_EQ(fragment.packets, 5u);
  EXPECT_EQ(fragment.bytes, 5u * frag.size());
}

}  // namespace
}  // namespace xdpguard::test
