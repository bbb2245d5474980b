// The SYN proxy's pure host side (guard/synproxy_setup.h): the port list a
// user types, the settings' bounds, the nftables script.
#include <gtest/gtest.h>

#include "guard/synproxy_setup.h"
#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard {
namespace {

TEST(SynproxyPorts, NumbersAndServiceNames) {
  auto p = parse_synproxy_ports("80,443,8443");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(*p, (std::vector<std::uint16_t>{80, 443, 8443}));
  auto n = parse_synproxy_ports("https,22");
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, (std::vector<std::uint16_t>{443, 22}));
  EXPECT_TRUE(parse_synproxy_ports("65535"));
}

TEST(SynproxyPorts, ErrorsNameTheItem) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const auto& c : {Case{"", "empty item"}, Case{"80,", "empty item"}, Case{",80", "empty item"},
                        Case{"0", "port 0 is out of range"}, Case{"65536", "65536 is out of range"},
                        Case{"htp", "unknown port \"htp\""}, Case{"80,80", "port 80 is given twice"},
                        Case{"http,80", "port 80 is given twice"}, Case{"8 0", "unknown port \"8 0\""},
                        Case{"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "17 ports, at most 16"}}) {
    auto r = parse_synproxy_ports(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << c.text << ": " << r.error().message();
  }
}

TEST(SynproxySettings, Bounds) {
  SynproxyConfig ok;
  ok.ports = {80};
  EXPECT_TRUE(validate_synproxy(ok));
  auto bad = [&](auto edit, const char* says) {
    SynproxyConfig c = ok;
    edit(c);
    auto r = validate_synproxy(c);
    ASSERT_FALSE(r) << says;
    EXPECT_NE(r.error().message().find(says), std::string::npos) << r.error().message();
  };
  bad([](SynproxyConfig& c) { c.ports.clear(); }, "at least one port");
  bad([](SynproxyConfig& c) { c.mss4 = 535; }, "--mss4 535");
  bad([](SynproxyConfig& c) { c.mss6 = 1219; }, "--mss6 1219");
  bad([](SynproxyConfig& c) { c.wscale = 15; }, "--wscale 15");
  bad([](SynproxyConfig& c) { c.ttl = 0; }, "--ttl 0");
}

TEST(SynproxyNft, ScriptMatchesTheInterfaceAndPortsAndUsesTheSameOptionsAsXdp) {
  SynproxyConfig c;
  c.ports = {80, 443};
  c.mss4 = 1400;
  c.mss6 = 1380;
  c.wscale = 9;
  const std::string s = nft_synproxy_script(synproxy_table(7), 7, c);
  EXPECT_NE(s.find("table inet xdpguard_synproxy_7 {"), std::string::npos) << s;
  EXPECT_NE(
      s.find("iif 7 tcp dport { 80, 443 } tcp flags & (fin | syn | rst | ack) == syn fib daddr type local "
             "notrack"),
      std::string::npos)
      << s;
  EXPECT_NE(s.find("meta nfproto ipv4 iif 7 tcp dport { 80, 443 } ct state invalid,untracked synproxy "
                   "mss 1400 wscale 9 timestamp sack-perm"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("synproxy mss 1380 wscale 9"), std::string::npos) << s;
  EXPECT_NE(s.find("ct state invalid drop"), std::string::npos) << s;
  // the connections open before enable are accepted before the SYNPROXY rules
  const auto pre = s.find("iif 7 ip saddr . tcp sport . ip daddr . tcp dport @pre4 accept");
  ASSERT_NE(pre, std::string::npos) << s;
  EXPECT_LT(pre, s.find("synproxy mss")) << s;
  EXPECT_LT(s.find("@pre6 accept"), s.find("synproxy mss")) << s;
}

// Nothing the user or the system names goes into the script but numbers:
// the table, the interface (by index), ports, addresses.
TEST(SynproxyNft, ScriptHoldsNoNames) {
  SynproxyConfig c;
  c.ports = {22};
  const std::string s = nft_synproxy_script(synproxy_table(12), 12, c);
  EXPECT_EQ(s.find("iifname"), std::string::npos) << s;
  EXPECT_EQ(s.find("oifname"), std::string::npos) << s;
  std::size_t quotes = 0;
  for (char ch : s) quotes += ch == '"';
  EXPECT_EQ(quotes, 2u) << "only the comment is quoted, and it holds the index: " << s;
  EXPECT_NE(s.find("comment \"xdpguard synproxy on ifindex 12:"), std::string::npos) << s;
}

TEST(SynproxyNft, ConnectionsOpenBeforeEnableBecomeSetElements) {
  TcpConnection v4;
  v4.remote = *rules::parse_prefix("198.18.0.1");
  v4.local = *rules::parse_prefix("198.18.0.2");
  v4.remote_port = 40000;
  v4.local_port = 22;
  TcpConnection v6;
  v6.remote = *rules::parse_prefix("fd00::1");
  v6.local = *rules::parse_prefix("fd00::2");
  v6.remote_port = 40001;
  v6.local_port = 22;
  EXPECT_EQ(nft_existing_elements("t", {}), "");
  EXPECT_EQ(nft_existing_elements("t", {v4, v6}),
            "add element inet t pre4 { 198.18.0.1 . 40000 . 198.18.0.2 . 22 }\n"
            "add element inet t pre6 { fd00::1 . 40001 . fd00::2 . 22 }\n");
  SynproxyConfig c;
  c.ports = {22};
  const std::string s = nft_synproxy_script("t", 3, c, {v4});
  EXPECT_NE(s.find("}\nadd element inet t pre4 { 198.18.0.1 . 40000 . 198.18.0.2 . 22 }\n"),
            std::string::npos)
      << s;
}

// /proc/net/tcp{,6} as this kernel prints them (addresses as 32-bit words
// in host order: this test runs on a little-endian machine, as the
// kernel that printed them).
TEST(SynproxyProcNetTcp, NonListeningSocketsOfTheProxiedPorts) {
  const std::string tcp4 =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 "
      "0 0 "
      "10 0\n"
      "   1: 020012C6:0016 010012C6:9C40 01 00000000:00000000 02:0009F0D1 00000000     0        0 2 2 0 20 4 "
      "30 10 -1\n"
      "   2: 020012C6:0050 010012C6:9C41 06 00000000:00000000 03:00001766 00000000     0        0 0 3 0\n"
      "   3: 020012C6:1F90 010012C6:9C42 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0\n"
      "   4: garbage\n";
  const auto got = parse_proc_net_tcp(tcp4, false, {22, 80});
  ASSERT_EQ(got.size(), 2u);  // not the listener, not port 8080
  EXPECT_EQ(rules::prefix_to_string(got[0].local), "198.18.0.2");
  EXPECT_EQ(rules::prefix_to_string(got[0].remote), "198.18.0.1");
  EXPECT_EQ(got[0].local_port, 22);
  EXPECT_EQ(got[0].remote_port, 40000);
  EXPECT_EQ(got[1].local_port, 80);  // time-wait: a late FIN still finds its way
  const std::string tcp6 =
      "  sl  local_address                         remote_address                        st tx_queue\n"
      "   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 0\n"
      "   1: 000000FD000000000000000002000000:0050 000000FD000000000000000001000000:A411 01 0\n"
      "   2: 0000000000000000FFFF0000020012C6:0050 0000000000000000FFFF0000010012C6:A412 01 0\n";
  const auto got6 = parse_proc_net_tcp(tcp6, true, {80});
  ASSERT_EQ(got6.size(), 2u);
  EXPECT_EQ(rules::prefix_to_string(got6[0].local), "fd00::2");
  EXPECT_EQ(rules::prefix_to_string(got6[0].remote), "fd00::1");
  EXPECT_EQ(got6[0].remote_port, 0xA411);
  // IPv4-mapped: its packets are IPv4
  EXPECT_EQ(got6[1].local.family, rules::Family::V4);
  EXPECT_EQ(rules::prefix_to_string(got6[1].remote), "198.18.0.1");
}

TEST(SynproxyLocal, LoopbackAndOtherInterfacesLinkLocalAreLeftOut) {
  auto route = [](const char* p, int oif) { return LocalRoute{*rules::parse_prefix(p), oif}; };
  const auto got =
      synproxy_local_prefixes({route("127.0.0.0/8", 1), route("127.0.0.1", 1), route("198.18.0.2", 5),
                               route("198.18.7.0/24", 1), route("::1", 1), route("fd00::2", 5),
                               route("fe80::1", 5), route("fe80::2", 6), route("198.18.0.2", 5)},
                              5);
  std::vector<std::string> text;
  for (const auto& p : got) text.push_back(rules::prefix_to_string(p));
  EXPECT_EQ(text, (std::vector<std::string>{"198.18.0.2", "198.18.7.0/24", "fd00::2", "fe80::1"}));
}

}  // namespace
}  // namespace xdpguard
