// The test packet builder (tests/support/packet.h) against an independent
// oracle: scapy builds the same frame from its own protocol definitions, and
// the bytes must be identical (lengths, next-protocol fields, padding and every
// checksum included). Debian's /usr/bin/python3 with python3-scapy is the
// oracle (scripts/setup.sh installs it), not whatever python3 is first on PATH.
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/process.h"
#include "support/packet.h"

namespace xdpguard::test {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

// Prelude of the scapy script: the same defaults the builder uses.
constexpr const char* kPrelude = R"PY(
import sys, logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import *
from scapy.layers.ipsec import AH
A4, B4, A6, B6 = "198.18.0.1", "198.18.0.2", "fd00::1", "fd00::2"
def E(dst="02:00:00:00:00:02"):
    return Ether(dst=dst, src="02:00:00:00:00:01")
def P(n):
    return Raw(bytes(i % 256 for i in range(n)))
def csum6(l4):
    # scapy leaves the L4 checksum 0 under AH: compute it without the AH
    # (the pseudo header does not include extension headers).
    p = IPv6(src=A6, dst=B6) / l4
    return IPv6(bytes(p))[l4.__class__].chksum
cases = []
)PY";

struct OracleCase {
  const char* name;
  Packet packet;
  const char* scapy;  // Python expression of the same frame
};

Bytes mss_sack_ts_ws() {
  return {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0, 0, 0x01, 0x03, 0x03, 0x07};
}

Bytes record_route_9_nop() {
  Bytes rr = {0x07, 39, 4};
  rr.resize(39, 0);
  rr.push_back(0x01);
  return rr;
}

std::vector<OracleCase> oracle_cases() {
  return {
      {"ipv4_tcp_syn", Packet().eth().ipv4(kA4, kB4).tcp(40000, 80).flags(SYN),
       "E()/IP(src=A4, dst=B4)/TCP(sport=40000, dport=80, flags='S')"},
      {"ipv4_tcp_options",
       Packet().eth().ipv4(kA4, kB4).tcp(40001, 443).flags(SYN).tcp_options(mss_sack_ts_ws()),
       "E()/IP(src=A4, dst=B4)/TCP(sport=40001, dport=443, flags='S', options=[('MSS', 1460), "
       "('SAckOK', b''), ('Timestamp', (1, 0)), ('NOP', None), ('WScale', 7)])"},
      {"ipv4_tcp_odd_options_padded",
       Packet().eth().ipv4(kA4, kB4).tcp(1, 2).flags(SYN).tcp_options({0x01, 0x03, 0x03, 0x02, 0x01}),
       "E()/IP(src=A4, dst=B4)/TCP(sport=1, dport=2, flags='S', options=[('NOP', None), "
       "('WScale', 2), ('NOP', None)])"},
      {"ipv4_tcp_data_fields",
       Packet()
           .eth()
           .ipv4(kA4, kB4)
           .ttl(3)
           .tos(0x10)
           .ip_id(777)
           .dont_fragment()
           .tcp(40002, 80)
           .flags(PSH | ACK | URG)
           .seq(1000)
           .ack_seq(2000)
           .window(1024)
           .payload(101),
       "E()/IP(src=A4, dst=B4, ttl=3, tos=0x10, id=777, flags='DF')/TCP(sport=40002, dport=80, "
       "flags='PAU', seq=1000, ack=2000, window=1024)/P(101)"},
      {"ipv4_udp", Packet().eth().ipv4(kA4, kB4).udp(5353, 53).payload(12),
       "E()/IP(src=A4, dst=B4)/UDP(sport=5353, dport=53)/P(12)"},
      {"ipv4_icmp_echo", Packet().eth().ipv4(kA4, kB4).icmp(8, 0, 0x1234, 1).payload(9),
       "E()/IP(src=A4, dst=B4)/ICMP(type=8, code=0, id=0x1234, seq=1)/P(9)"},
      {"ipv4_options_max",
       Packet().eth().ipv4(kA4, kB4).ip_options(record_route_9_nop()).tcp(40003, 22).flags(ACK),
       "E()/IP(src=A4, dst=B4, options=[IPOption_RR(routers=['0.0.0.0'] * 9), IPOption_NOP()])"
       "/TCP(sport=40003, dport=22, flags='A')"},
      {"ipv4_router_alert_udp",
       Packet().eth().ipv4(kA4, kB4).ip_options({0x94, 0x04, 0x00, 0x00}).udp(1000, 2000),
       "E()/IP(src=A4, dst=B4, options=[IPOption_Router_Alert()])/UDP(sport=1000, dport=2000)"},
      {"ipv4_options_padded", Packet().eth().ipv4(kA4, kB4).ip_options({0x01}).udp(1, 2),
       "E()/IP(src=A4, dst=B4, options=[IPOption_NOP()])/UDP(sport=1, dport=2)"},
      {"ipv4_frag_first", Packet().eth().ipv4(kA4, kB4).fragment(0, true).udp(1001, 2001).payload(32),
       "E()/IP(src=A4, dst=B4, flags='MF', frag=0)/UDP(sport=1001, dport=2001)/P(32)"},
      {"ipv4_frag_last", Packet().eth().ipv4(kA4, kB4).fragment(185, false).proto(17).payload(40),
       "E()/IP(src=A4, dst=B4, frag=185, proto=17)/P(40)"},
      {"ipv4_raw_payload_proto0", Packet().eth().ipv4(kA4, kB4).payload("ab"),
       "E()/IP(src=A4, dst=B4)/Raw(b'ab')"},
      {"ipv4_corrupt_ihl_len_version",
       Packet().eth().ipv4(kA4, kB4).ihl(3).tot_len(10).ip_version(6).payload(8),
       "E()/IP(src=A4, dst=B4, ihl=3, len=10, version=6)/P(8)"},
      {"ipv4_tcp_bad_doff", Packet().eth().ipv4(kA4, kB4).tcp(1, 2).flags(SYN).doff(3),
       "E()/IP(src=A4, dst=B4)/TCP(sport=1, dport=2, flags='S', dataofs=3)"},
      {"ipv4_udp_overrides", Packet().eth().ipv4(kA4, kB4).udp(1, 2).udp_len(4).checksum(0x1234).payload(3),
       "E()/IP(src=A4, dst=B4)/UDP(sport=1, dport=2, len=4, chksum=0x1234)/P(3)"},
      {"ipv4_ip_checksum_override", Packet().eth().ipv4(kA4, kB4).checksum(0xbeef),
       "E()/IP(src=A4, dst=B4, chksum=0xbeef)"},
      {"vlan1_pcp_ipv4_udp", Packet().eth().vlan(100, 5).ipv4(kA4, kB4).udp(1, 2),
       "E()/Dot1Q(vlan=100, prio=5)/IP(src=A4, dst=B4)/UDP(sport=1, dport=2)"},
      {"vlan2_qinq_ipv4_tcp", Packet().eth().vlan_ad(100).vlan(200).ipv4(kA4, kB4).tcp(3, 4).flags(SYN),
       "E()/Dot1AD(vlan=100)/Dot1Q(vlan=200)/IP(src=A4, dst=B4)/TCP(sport=3, dport=4, flags='S')"},
      {"vlan3_ipv6_udp", Packet().eth().vlan(1).vlan(2).vlan(3).ipv6(kA6, kB6).udp(1, 2),
       "E()/Dot1Q(vlan=1)/Dot1Q(vlan=2)/Dot1Q(vlan=3)/IPv6(src=A6, dst=B6)/UDP(sport=1, dport=2)"},
      {"ipv6_tcp_fields",
       Packet()
           .eth()
           .ipv6(kA6, kB6)
           .traffic_class(0x20)
           .flow_label(0x12345)
           .hop_limit(5)
           .tcp(40006, 80)
           .flags(SYN | ECE | CWR),
       "E()/IPv6(src=A6, dst=B6, tc=0x20, fl=0x12345, hlim=5)/TCP(sport=40006, dport=80, "
       "flags='SEC')"},
      {"ipv6_udp", Packet().eth().ipv6(kA6, kB6).udp(5353, 53).payload(20),
       "E()/IPv6(src=A6, dst=B6)/UDP(sport=5353, dport=53)/P(20)"},
      {"ipv6_icmp6_echo", Packet().eth().ipv6(kA6, kB6).icmp6(128, 0, 0x4242, 3).payload(8),
       "E()/IPv6(src=A6, dst=B6)/ICMPv6EchoRequest(id=0x4242, seq=3)/P(8)"},
      {"ipv6_raw_proto", Packet().eth().ipv6(kA6, kB6).proto(47).payload(10),
       "E()/IPv6(src=A6, dst=B6, nh=47)/P(10)"},
      {"ipv6_hop_by_hop_router_alert",
       Packet().eth().ipv6(kA6, kB6).hop_by_hop({0x05, 0x02, 0x00, 0x00}).udp(1005, 2005),
       "E()/IPv6(src=A6, dst=B6)/IPv6ExtHdrHopByHop(options=[RouterAlert()])"
       "/UDP(sport=1005, dport=2005)"},
      {"ipv6_hop_by_hop_pad1",
       Packet().eth().ipv6(kA6, kB6).hop_by_hop({0x05, 0x02, 0x00, 0x00, 0x00}).udp(1, 2),
       "E()/IPv6(src=A6, dst=B6)/IPv6ExtHdrHopByHop(options=[RouterAlert(), Pad1(), Pad1()])"
       "/UDP(sport=1, dport=2)"},
      {"ipv6_routing_final_destination",
       Packet().eth().ipv6(kA6, kB6).routing({"fd00::3", "fd00::4"}, 2).tcp(40007, 443).flags(SYN),
       "E()/IPv6(src=A6, dst=B6)/IPv6ExtHdrRouting(addresses=['fd00::3', 'fd00::4'], segleft=2)"
       "/TCP(sport=40007, dport=443, flags='S')"},
      {"ipv6_dest_opts_udp", Packet().eth().ipv6(kA6, kB6).dest_opts().udp(1007, 2007),
       "E()/IPv6(src=A6, dst=B6)/IPv6ExtHdrDestOpt()/UDP(sport=1007, dport=2007)"},
      {"ipv6_frag_first_udp",
       Packet().eth().ipv6(kA6, kB6).fragment6(0, true, 0x1234).udp(1008, 2008).payload(16),
       "E()/IPv6(src=A6, dst=B6)/IPv6ExtHdrFragment(offset=0, m=1, id=0x1234)"
       "/UDP(sport=1008, dport=2008)/P(16)"},
      {"ipv6_frag_last", Packet().eth().ipv6(kA6, kB6).fragment6(100, false, 0x1234).proto(17).payload(24),
       "E()/IPv6(src=A6, dst=B6)/IPv6ExtHdrFragment(offset=100, m=0, id=0x1234, nh=17)/P(24)"},
      {"ipv6_ah_tcp", Packet().eth().ipv6(kA6, kB6).ah(0x100, 1).tcp(40008, 22).flags(RST),
       "E()/IPv6(src=A6, dst=B6)/AH(nh=6, payloadlen=4, spi=0x100, seq=1, icv=bytes(12))"
       "/TCP(sport=40008, dport=22, flags='R', "
       "chksum=csum6(TCP(sport=40008, dport=22, flags='R')))"},
      {"ipv6_chain_udp",
       Packet()
           .eth()
           .ipv6(kA6, kB6)
           .hop_by_hop()
           .dest_opts()
           .routing({"fd00::3"}, 0)
           .fragment6(0, false, 9)
           .dest_opts()
           .udp(1009, 2009)
           .payload(8),
       "E()/IPv6(src=A6, dst=B6)/IPv6ExtHdrHopByHop()/IPv6ExtHdrDestOpt()"
       "/IPv6ExtHdrRouting(addresses=['fd00::3'], segleft=0)/IPv6ExtHdrFragment(id=9)"
       "/IPv6ExtHdrDestOpt()/UDP(sport=1009, dport=2009)/P(8)"},
      {"ipv6_ext_len_override", Packet().eth().ipv6(kA6, kB6).hop_by_hop().ext_len(200).payload(4),
       "E()/IPv6(src=A6, dst=B6)/IPv6ExtHdrHopByHop(len=200)/P(4)"},
      {"arp_request", Packet().eth("ff:ff:ff:ff:ff:ff").arp(kA4, kB4),
       "E('ff:ff:ff:ff:ff:ff')/ARP(op=1, hwsrc='02:00:00:00:00:01', psrc=A4, "
       "hwdst='00:00:00:00:00:00', pdst=B4)"},
      {"lldp_raw_ethertype", Packet().eth("01:80:c2:00:00:0e").ethertype(0x88cc).payload(32),
       "Ether(dst='01:80:c2:00:00:0e', src='02:00:00:00:00:01', type=0x88cc)/P(32)"},
      {"eth_raw_payload", Packet().eth().payload("ab"), "E()/Raw(b'ab')"},
      {"ipv6_in_ipv4", Packet().eth().ipv4(kA4, kB4).ipv6(kA6, kB6).udp(1002, 2002),
       "E()/IP(src=A4, dst=B4)/IPv6(src=A6, dst=B6)/UDP(sport=1002, dport=2002)"},
  };
}

bool oracle_available(std::string* why) {
  if (::access(kPython, X_OK) != 0) {
    *why = std::string(kPython) + " not found: install python3-scapy (scripts/setup.sh)";
    return false;
  }
  return true;
}

TEST(PacketBuilderTest, MatchesScapyByteForByte) {
  std::string why;
  if (!oracle_available(&why)) FAIL() << why;

  auto cases = oracle_cases();
  ASSERT_GE(cases.size(), 20u);
  std::string script = kPrelude;
  for (const auto& c : cases) script += std::string("cases.append(") + c.scapy + ")\n";
  script += "for c in cases:\n    print(bytes(c).hex())\n";

  auto out = run_checked({kPython, "-c", script}, std::chrono::seconds(60));
  ASSERT_TRUE(out) << "scapy oracle failed (Debian python3-scapy, installed by scripts/setup.sh): "
                   << out.error().message();

  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < out->size()) {
    std::size_t nl = out->find('\n', pos);
    if (nl == std::string::npos) nl = out->size();
    if (nl > pos) lines.push_back(out->substr(pos, nl - pos));
    pos = nl + 1;
  }
  ASSERT_EQ(lines.size(), cases.size()) << *out;
  for (std::size_t i = 0; i < cases.size(); i++) {
    EXPECT_EQ(to_hex(cases[i].packet.bytes()), lines[i])
        << cases[i].name << "\n  builder (above) vs scapy (below) for: " << cases[i].scapy;
  }
}

// Layout reports where each header starts and ends: the malformed-input tests
// truncate frames at these boundaries.
TEST(PacketBuilderTest, LayoutSpansEveryHeader) {
  Packet p = Packet()
                 .eth()
                 .vlan(100)
                 .ipv4(kA4, kB4)
                 .ip_options({0x94, 4, 0, 0})
                 .tcp(1, 2)
                 .tcp_options({2, 4, 5, 0xb4})
                 .payload(10);
  auto spans = p.layout();
  ASSERT_EQ(spans.size(), 5u);
  EXPECT_EQ(spans[0].name, "eth");
  EXPECT_EQ(spans[1].name, "vlan");
  EXPECT_EQ(spans[1].offset, 14u);
  EXPECT_EQ(spans[2].name, "ipv4");
  EXPECT_EQ(spans[2].offset, 18u);
  EXPECT_EQ(spans[2].size, 24u);
  EXPECT_EQ(spans[3].name, "tcp");
  EXPECT_EQ(spans[3].offset, 42u);
  EXPECT_EQ(spans[3].size, 24u);
  EXPECT_EQ(spans[4].name, "payload");
  EXPECT_EQ(spans[4].end(), p.bytes().size());
  EXPECT_EQ(p.size(), 76u);

  auto v6 = Packet().eth().ipv6(kA6, kB6).hop_by_hop().ah(1, 1).fragment6(0, false).udp(1, 2).layout();
  ASSERT_EQ(v6.size(), 6u);
  EXPECT_EQ(v6[2].name, "hop_by_hop");
  EXPECT_EQ(v6[2].size, 8u);
  EXPECT_EQ(v6[3].name, "ah");
  EXPECT_EQ(v6[3].size, 24u);
  EXPECT_EQ(v6[4].name, "fragment6");
  EXPECT_EQ(v6[4].size, 8u);
  EXPECT_EQ(v6[5].offset, 14u + 40 + 8 + 24 + 8);
}

// The AH length is in 4-byte units minus 2 (RFC 4302), unlike every other
// extension header (8-byte units minus 1): a 24-byte AH says 4, not 2.
TEST(PacketBuilderTest, AhLengthInFourByteUnits) {
  Bytes f = Packet().eth().ipv6(kA6, kB6).ah(1, 1).payload(0).bytes();
  ASSERT_EQ(f.size(), 14u + 40 + 24);
  EXPECT_EQ(f[14 + 6], 51);      // IPv6 next header: AH
  EXPECT_EQ(f[14 + 40], 59);     // AH next header: no next header
  EXPECT_EQ(f[14 + 40 + 1], 4);  // (24 / 4) - 2
  Bytes f2 = Packet().eth().ipv6(kA6, kB6).ah(1, 1, Bytes(4, 0)).bytes();
  EXPECT_EQ(f2[14 + 40 + 1], 2);  // 16-byte AH
}

TEST(PacketBuilderTest, MisuseIsABugThatThrows) {
  EXPECT_THROW(Packet().eth().flags(SYN), std::invalid_argument);
  EXPECT_THROW(Packet().eth().ipv4("198.18.0.300", kB4), std::invalid_argument);
  EXPECT_THROW(Packet().eth("02:00:00:00:00").ipv4(kA4, kB4), std::invalid_argument);
  EXPECT_THROW(Packet().eth().ipv6("fd00::1::2", kB6), std::invalid_argument);
  EXPECT_THROW(Packet().eth().ipv4(kA4, kB4).ip_options(Bytes(44, 1)).bytes(), std::invalid_argument);
  EXPECT_THROW(Packet().eth().ipv4(kA4, kB4).fragment(8192, false), std::invalid_argument);
  EXPECT_THROW(Packet().eth().ipv6(kA6, kB6).ah(1, 1, Bytes(3, 0)), std::invalid_argument);
  EXPECT_THROW(Packet().eth().udp(1, 2).ttl(3), std::invalid_argument);
  // An oversized IHL is fine when asked for explicitly (corrupt frames).
  EXPECT_NO_THROW(Packet().eth().ipv4(kA4, kB4).ihl(15).bytes());
}

TEST(PacketBuilderTest, SampleFramesHaveUniqueNamesAndBuild) {
  std::set<std::string> names;
  for (const auto& s : sample_frames()) {
    EXPECT_TRUE(names.insert(s.name).second) << "duplicate sample " << s.name;
    Bytes f = s.packet.bytes();
    EXPECT_GE(f.size(), 14u) << s.name;
    auto spans = s.packet.layout();
    ASSERT_FALSE(spans.empty());
    EXPECT_EQ(spans.back().end(), f.size()) << s.name;
  }
  EXPECT_GE(names.size(), 30u);
}

}  // namespace
}  // namespace xdpguard::test
