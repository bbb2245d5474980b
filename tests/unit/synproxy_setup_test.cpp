// The SYN proxy's pure host side (guard/synproxy_setup.h): the port list a
// user types, the settings' bounds, the nftables script.
#include <gtest/gtest.h>

#include "guard/synproxy_setup.h"

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
  const std::string s = nft_synproxy_script(synproxy_table(7), "eth1", c);
  EXPECT_NE(s.find("table inet xdpguard_synproxy_7 {"), std::string::npos) << s;
  EXPECT_NE(
      s.find("iifname \"eth1\" tcp dport { 80, 443 } tcp flags & (fin | syn | rst | ack) == syn notrack"),
      std::string::npos)
      << s;
  EXPECT_NE(
      s.find("meta nfproto ipv4 iifname \"eth1\" tcp dport { 80, 443 } ct state invalid,untracked synproxy "
             "mss 1400 wscale 9 timestamp sack-perm"),
      std::string::npos)
      << s;
  EXPECT_NE(s.find("synproxy mss 1380 wscale 9"), std::string::npos) << s;
  EXPECT_NE(s.find("ct state invalid drop"), std::string::npos) << s;
}

}  // namespace
}  // namespace xdpguard
