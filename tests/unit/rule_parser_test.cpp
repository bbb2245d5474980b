// Rule parser: every match type (v4 and v6), normalisation, and every error
// message with its column.
#include <gtest/gtest.h>

#include <xdpguard/parse.h>

#include "rules/parser.h"
#include "support/rule_text.h"

namespace xdpguard::rules {
namespace {

using test::err;
using test::ok;

Prefix pfx(std::string_view text) {
  auto p = parse_prefix(text);
  EXPECT_TRUE(p) << text;
  return p ? *p : Prefix{};
}

AddrMatch addr(std::string_view text) { return AddrMatch{pfx(text), ""}; }
AddrMatch set(std::string name) { return AddrMatch{std::nullopt, std::move(name)}; }

TEST(RuleParser, Actions) {
  EXPECT_EQ(ok("pass").action, Action::Pass);
  EXPECT_EQ(ok("drop").action, Action::Drop);
  EXPECT_EQ(ok("redirect xsk").action, Action::RedirectXsk);
  EXPECT_EQ(ok("redirect xsk").xsk_fallback, Action::Pass);
  EXPECT_EQ(ok("redirect xsk fallback drop udp").xsk_fallback, Action::Drop);
  EXPECT_EQ(ok("redirect xsk fallback pass").xsk_fallback, Action::Pass);
  Rule r = ok("redirect dev eth1");
  EXPECT_EQ(r.action, Action::RedirectDev);
  EXPECT_EQ(r.redirect_dev, "eth1");
  EXPECT_EQ(ok("redirect dev veth-peer.100").redirect_dev, "veth-peer.100");
  EXPECT_EQ(ok("redirect dev abcdefghijklmno").redirect_dev, "abcdefghijklmno");  // 15
  // Nothing else set.
  Rule plain;
  plain.action = Action::Drop;
  EXPECT_EQ(ok("drop"), plain);
}

TEST(RuleParser, WhitespaceIsFree) { EXPECT_EQ(ok("  drop\ttcp   dport 22 \n"), ok("drop tcp dport 22")); }

TEST(RuleParser, Families) {
  EXPECT_EQ(ok("drop ip").family, Family::V4);
  EXPECT_EQ(ok("drop ip6").family, Family::V6);
  EXPECT_EQ(ok("drop").family, Family::Any);
  EXPECT_EQ(ok("drop tcp").family, Family::Any);
  // Implied by prefixes and by icmp/icmpv6.
  EXPECT_EQ(ok("drop saddr 10.0.0.0/8").family, Family::V4);
  EXPECT_EQ(ok("drop daddr 2001:db8::/32").family, Family::V6);
  EXPECT_EQ(ok("drop icmp").family, Family::V4);
  EXPECT_EQ(ok("drop icmpv6").family, Family::V6);
  EXPECT_EQ(ok("drop proto 1").family, Family::V4);
  EXPECT_EQ(ok("drop proto 58").family, Family::V6);
  // Explicit and implied agree: same rule as implied alone.
  EXPECT_EQ(ok("drop ip saddr 10.0.0.0/8"), ok("drop saddr 10.0.0.0/8"));
  EXPECT_EQ(ok("drop saddr 10.0.0.0/8 ip"), ok("drop saddr 10.0.0.0/8"));
  EXPECT_EQ(ok("drop ip6 icmpv6"), ok("drop icmpv6"));
  EXPECT_EQ(ok("drop ip icmp daddr 192.0.2.1"), ok("drop daddr 192.0.2.1 icmp"));
  // Sets imply nothing.
  EXPECT_EQ(ok("drop saddr @bl").family, Family::Any);
  EXPECT_EQ(ok("drop ip6 saddr @bl").family, Family::V6);
}

TEST(RuleParser, Protocols) {
  EXPECT_EQ(ok("drop tcp").proto, kProtoTcp);
  EXPECT_EQ(ok("drop udp").proto, kProtoUdp);
  EXPECT_EQ(ok("drop icmp").proto, kProtoIcmp);
  EXPECT_EQ(ok("drop icmpv6").proto, kProtoIcmpv6);
  EXPECT_EQ(ok("drop proto 47").proto, 47);
  EXPECT_EQ(ok("drop proto 0").proto, 0);
  EXPECT_EQ(ok("drop proto 255").proto, 255);
  EXPECT_EQ(ok("drop proto 007").proto, 7);
  EXPECT_FALSE(ok("drop").proto);
  // The keywords are the numbers.
  EXPECT_EQ(ok("drop proto 6 dport 22"), ok("drop tcp dport 22"));
  EXPECT_EQ(ok("drop proto 17 sport 53"), ok("drop udp sport 53"));
  EXPECT_EQ(ok("drop proto 1"), ok("drop icmp"));
  EXPECT_EQ(ok("drop proto 58"), ok("drop icmpv6"));
  EXPECT_EQ(ok("drop proto 6 tcp-flags syn"), ok("drop tcp tcp-flags syn"));
}

TEST(RuleParser, Ipv4Prefixes) {
  Rule r = ok("drop saddr 203.0.113.0/24 daddr 198.51.100.7");
  ASSERT_TRUE(r.saddr && r.saddr->prefix);
  EXPECT_EQ(r.saddr->prefix->family, Family::V4);
  EXPECT_EQ(r.saddr->prefix->len, 24);
  EXPECT_EQ(r.saddr->prefix->addr, (std::array<std::uint8_t, 16>{203, 0, 113, 0}));
  ASSERT_TRUE(r.daddr && r.daddr->prefix);
  EXPECT_EQ(r.daddr->prefix->len, 32);  // bare address: host prefix
  EXPECT_EQ(r.daddr->prefix->addr, (std::array<std::uint8_t, 16>{198, 51, 100, 7}));
  EXPECT_TRUE(r.daddr->set.empty());
  // Host bits are cleared, as nft does.
  EXPECT_EQ(ok("drop saddr 203.0.113.5/24"), ok("drop saddr 203.0.113.0/24"));
  EXPECT_EQ(ok("drop saddr 255.255.255.255/0").saddr->prefix->addr, (std::array<std::uint8_t, 16>{}));
  EXPECT_EQ(ok("drop saddr 10.255.255.255/9").saddr->prefix->addr, (std::array<std::uint8_t, 16>{10, 128}));
  EXPECT_EQ(ok("drop saddr 0.0.0.0/0").saddr->prefix->len, 0);
  EXPECT_EQ(ok("drop saddr 1.2.3.4/32"), ok("drop saddr 1.2.3.4"));
}

TEST(RuleParser, Ipv6Prefixes) {
  Rule r = ok("drop saddr 2001:db8::/32 daddr ::1");
  ASSERT_TRUE(r.saddr && r.saddr->prefix);
  EXPECT_EQ(r.saddr->prefix->family, Family::V6);
  EXPECT_EQ(r.saddr->prefix->len, 32);
  EXPECT_EQ(r.saddr->prefix->addr, (std::array<std::uint8_t, 16>{0x20, 0x01, 0x0d, 0xb8}));
  EXPECT_EQ(r.daddr->prefix->len, 128);
  std::array<std::uint8_t, 16> one{};
  one[15] = 1;
  EXPECT_EQ(r.daddr->prefix->addr, one);
  // Every textual form inet_pton knows.
  EXPECT_EQ(ok("drop saddr ::").saddr->prefix->addr, (std::array<std::uint8_t, 16>{}));
  EXPECT_EQ(ok("drop saddr ::/0").saddr->prefix->len, 0);
  EXPECT_EQ(ok("drop saddr 2001:0DB8:0000:0000:0000:0000:0000:0001"), ok("drop saddr 2001:db8::1"));
  std::array<std::uint8_t, 16> mapped{};
  mapped[10] = mapped[11] = 0xff;
  mapped[12] = 1, mapped[13] = 2, mapped[14] = 3, mapped[15] = 4;
  Rule m = ok("drop saddr ::ffff:1.2.3.4");
  EXPECT_EQ(m.saddr->prefix->addr, mapped);
  EXPECT_EQ(m.saddr->prefix->family, Family::V6);  // a mapped address is IPv6
  EXPECT_EQ(m.family, Family::V6);
  EXPECT_EQ(ok("drop saddr fe80::1:2:3:4/64"), ok("drop saddr fe80::/64"));
  EXPECT_EQ(ok("drop saddr 2001:db8:ffff::/33").saddr->prefix->addr,
            (std::array<std::uint8_t, 16>{0x20, 0x01, 0x0d, 0xb8, 0x80}));
  EXPECT_EQ(ok("drop saddr ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127").saddr->prefix->addr[15], 0xfe);
}

TEST(RuleParser, Sets) {
  Rule r = ok("drop saddr @blocklist daddr @Office_2-b");
  EXPECT_EQ(r.saddr, set("blocklist"));
  EXPECT_EQ(r.daddr, set("Office_2-b"));
  EXPECT_EQ(ok("drop saddr @_x").saddr, set("_x"));
  EXPECT_EQ(ok("drop saddr @abcdefghijklmnopqrstuvwxyz01234").saddr->set.size(), 31u);
  EXPECT_EQ(ok("drop saddr @a daddr 10.0.0.0/8").daddr, addr("10.0.0.0/8"));
}

TEST(RuleParser, Ports) {
  Rule r = ok("drop tcp sport 1024-65535 dport 22");
  EXPECT_EQ(r.sport, (PortRange{1024, 65535}));
  EXPECT_EQ(r.dport, (PortRange{22, 22}));
  EXPECT_EQ(ok("drop udp dport 0").dport, (PortRange{0, 0}));
  EXPECT_EQ(ok("drop udp dport 65535").dport, (PortRange{65535, 65535}));
  EXPECT_EQ(ok("drop udp dport 0-65535").dport, (PortRange{0, 65535}));
  EXPECT_EQ(ok("drop udp dport 53-53").dport, (PortRange{53, 53}));
  EXPECT_EQ(ok("drop udp dport 0053").dport, (PortRange{53, 53}));
  // The protocol may come after the ports.
  EXPECT_EQ(ok("drop dport 22 tcp"), ok("drop tcp dport 22"));
  EXPECT_EQ(ok("drop sport 22 proto 17"), ok("drop udp sport 22"));
}

TEST(RuleParser, TcpFlags) {
  Rule r = ok("drop tcp tcp-flags syn,!ack");
  EXPECT_EQ(r.flags_mask, XG_TCP_SYN | XG_TCP_ACK);
  EXPECT_EQ(r.flags_value, XG_TCP_SYN);
  Rule all = ok("drop tcp tcp-flags fin,syn,rst,psh,ack,urg,ece,cwr");
  EXPECT_EQ(all.flags_mask, 0xff);
  EXPECT_EQ(all.flags_value, 0xff);
  Rule none = ok("drop tcp tcp-flags !fin,!syn,!rst,!psh,!ack,!urg,!ece,!cwr");
  EXPECT_EQ(none.flags_mask, 0xff);
  EXPECT_EQ(none.flags_value, 0);
  EXPECT_EQ(ok("drop tcp tcp-flags rst").flags_mask, XG_TCP_RST);
  EXPECT_EQ(ok("drop tcp tcp-flags !psh,urg").flags_value, XG_TCP_URG);
  EXPECT_EQ(ok("drop tcp tcp-flags ece,cwr").flags_mask, XG_TCP_ECE | XG_TCP_CWR);
  // Order inside the list does not matter; tcp may come later.
  EXPECT_EQ(ok("drop tcp tcp-flags !ack,syn"), r);
  EXPECT_EQ(ok("drop tcp-flags syn,!ack tcp"), r);
}

TEST(RuleParser, EverythingAtOnce) {
  Rule r = ok("redirect dev eth2 tcp saddr 10.1.0.0/16 daddr @srv sport 1-2 dport 80-88 tcp-flags syn");
  EXPECT_EQ(r.action, Action::RedirectDev);
  EXPECT_EQ(r.redirect_dev, "eth2");
  EXPECT_EQ(r.family, Family::V4);
  EXPECT_EQ(r.proto, kProtoTcp);
  EXPECT_EQ(r.saddr, addr("10.1.0.0/16"));
  EXPECT_EQ(r.daddr, set("srv"));
  EXPECT_EQ(r.sport, (PortRange{1, 2}));
  EXPECT_EQ(r.dport, (PortRange{80, 88}));
  EXPECT_EQ(r.flags_mask, XG_TCP_SYN);
  EXPECT_EQ(r.flags_value, XG_TCP_SYN);
  // Order of matches is free.
  EXPECT_EQ(ok("redirect dev eth2 tcp-flags syn dport 80-88 sport 1-2 daddr @srv saddr 10.1.0.0/16 tcp"), r);
}

TEST(RuleParser, Vlans) {
  EXPECT_EQ(ok("drop vlan 5").vlan, (VlanMatch{false, 5, std::nullopt}));
  EXPECT_EQ(ok("drop vlan 0").vlan, (VlanMatch{false, 0, std::nullopt}));  // a priority tag: still a tag
  EXPECT_EQ(ok("drop vlan 4095").vlan, (VlanMatch{false, 4095, std::nullopt}));
  EXPECT_EQ(ok("drop vlan 007").vlan, (VlanMatch{false, 7, std::nullopt}));  // decimal, never octal
  EXPECT_EQ(ok("drop vlan 100 inner 200").vlan, (VlanMatch{false, 100, 200}));
  EXPECT_EQ(ok("drop vlan 100 inner 0").vlan, (VlanMatch{false, 100, 0}));
  EXPECT_EQ(ok("pass vlan none").vlan, (VlanMatch{true, 0, std::nullopt}));
  // Anywhere among the other matches; nothing else implied.
  Rule r = ok("drop tcp vlan 10 inner 20 dport 22");
  EXPECT_EQ(r.vlan, (VlanMatch{false, 10, 20}));
  EXPECT_EQ(r.proto, kProtoTcp);
  EXPECT_EQ(r.family, Family::Any);
  EXPECT_EQ(r.dport, (PortRange{22, 22}));
  EXPECT_EQ(ok("drop vlan none saddr ::1").family, Family::V6);
  EXPECT_FALSE(ok("drop tcp").vlan);
}

TEST(RuleParserErrors, Vlans) {
  const std::string what = "expected a VLAN ID 0-4095 or none after vlan, got ";
  EXPECT_EQ(err("drop vlan 4096"), "column 11: " + what + "\"4096\"");
  EXPECT_EQ(err("drop vlan"), "column 10: " + what + "end of rule");
  EXPECT_EQ(err("drop vlan x"), "column 11: " + what + "\"x\"");
  EXPECT_EQ(err("drop vlan -1"), "column 11: " + what + "\"-1\"");
  EXPECT_EQ(err("drop tcp vlan 99999999999999999999"), "column 15: " + what + "\"99999999999999999999\"");
  EXPECT_EQ(err("drop vlan none inner 3"),
            "column 16: inner needs an outer VLAN ID: `vlan none` matches untagged frames only");
  EXPECT_EQ(err("drop vlan 5 inner"),
            "column 18: expected an inner VLAN ID 0-4095 after inner, got end of rule");
  EXPECT_EQ(err("drop vlan 5 inner 4096"), "column 19: expected an inner VLAN ID 0-4095, got \"4096\"");
  EXPECT_EQ(err("drop vlan 5 inner none"), "column 19: expected an inner VLAN ID 0-4095, got \"none\"");
  EXPECT_EQ(err("drop vlan 5 vlan 6"), "column 13: duplicate vlan (vlan 5 at column 6)");
  EXPECT_EQ(err("drop vlan none tcp vlan none"), "column 20: duplicate vlan (vlan none at column 6)");
  // `inner` on its own is no match word.
  EXPECT_EQ(
      err("drop tcp inner 5"),
      "column 10: expected a match (ip, ip6, tcp, udp, icmp, icmpv6, proto, saddr, daddr, sport, dport, "
      "tcp-flags, icmp-type, icmp-code, length, dscp, frag, vlan, limit, log or comment), got \"inner\"");
  // With a rule number, as in a config file.
  auto r = parse_rule("drop vlan 4096", 3);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "rule 3, column 11: " + what + "\"4096\"");
}

ValueList vl(std::initializer_list<ValueRange> l) { return ValueList(l); }

TEST(RuleParser, ValueLists) {
  EXPECT_EQ(ok("drop dscp 10").dscp, vl({{10, 10}}));
  EXPECT_EQ(ok("drop dscp 0").dscp, vl({{0, 0}}));
  EXPECT_EQ(ok("drop dscp 63").dscp, vl({{63, 63}}));
  EXPECT_EQ(ok("drop dscp 010").dscp, vl({{10, 10}}));  // decimal, never octal
  EXPECT_EQ(ok("drop dscp 8-11").dscp, vl({{8, 11}}));
  EXPECT_EQ(ok("drop dscp 5-5").dscp, vl({{5, 5}}));
  EXPECT_EQ(ok("drop dscp 0,3,8-11").dscp, vl({{0, 0}, {3, 3}, {8, 11}}));
  // Sorted; overlapping and touching ranges merged.
  EXPECT_EQ(ok("drop dscp 8-11,3,0").dscp, vl({{0, 0}, {3, 3}, {8, 11}}));
  EXPECT_EQ(ok("drop dscp 3,4-6").dscp, vl({{3, 6}}));
  EXPECT_EQ(ok("drop dscp 5,1-3,4").dscp, vl({{1, 5}}));
  EXPECT_EQ(ok("drop dscp 1-10,2-3,10-12").dscp, vl({{1, 12}}));
  EXPECT_EQ(ok("drop dscp 7,7,7").dscp, vl({{7, 7}}));
  EXPECT_EQ(ok("drop dscp 0-63,5").dscp, vl({{0, 63}}));
  EXPECT_EQ(ok("drop dscp 1,3").dscp, vl({{1, 1}, {3, 3}}));  // 2 apart: not touching
  // nft's brace form, spaces allowed inside, columns of the text.
  EXPECT_EQ(ok("drop dscp { 0, 3, 8-11 }").dscp, vl({{0, 0}, {3, 3}, {8, 11}}));
  EXPECT_EQ(ok("drop dscp {0,3,8-11}"), ok("drop dscp 0,3,8-11"));
  EXPECT_EQ(ok("drop dscp {5}"), ok("drop dscp 5"));
  EXPECT_EQ(ok("drop dscp {\t5 ,\n6 } ip"), ok("drop ip dscp 5-6"));
  EXPECT_EQ(ok("drop dscp { 1 } length { 40-60, 1500 }").length, vl({{40, 60}, {1500, 1500}}));
  // The bounds of each match.
  EXPECT_EQ(ok("drop length 0-65575").length, vl({{0, 65575}}));
  EXPECT_EQ(ok("drop length 65575").length, vl({{65575, 65575}}));
  EXPECT_EQ(ok("drop icmp icmp-type 0-255").icmp_type, vl({{0, 255}}));
  EXPECT_EQ(ok("drop icmp icmp-code 255").icmp_code, vl({{255, 255}}));
  // 16 ranges after merging is the most; more before merging is fine.
  EXPECT_EQ(ok("drop dscp 0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30").dscp->size(), 16u);
  EXPECT_EQ(ok("drop dscp 0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,1,3").dscp->size(), 14u);
  // Nothing else set; any family.
  Rule r = ok("drop length 100");
  EXPECT_EQ(r.family, Family::Any);
  EXPECT_FALSE(r.proto);
  EXPECT_FALSE(r.dscp || r.icmp_type || r.icmp_code);
  EXPECT_FALSE(ok("drop").length);
}

TEST(RuleParser, IcmpTypeAndCode) {
  Rule r = ok("drop icmp icmp-type 3 icmp-code 0-4");
  EXPECT_EQ(r.proto, kProtoIcmp);
  EXPECT_EQ(r.family, Family::V4);
  EXPECT_EQ(r.icmp_type, vl({{3, 3}}));
  EXPECT_EQ(r.icmp_code, vl({{0, 4}}));
  // The protocol may come after; proto 1 / 58 are icmp / icmpv6.
  EXPECT_EQ(ok("drop icmp-code 0-4 icmp-type 3 icmp"), r);
  EXPECT_EQ(ok("drop icmp-type 3 proto 1 icmp-code 0-4"), r);
  Rule v6 = ok("drop icmpv6 icmp-type { 128, 129 }");
  EXPECT_EQ(v6.family, Family::V6);
  EXPECT_EQ(v6.icmp_type, vl({{128, 129}}));
  EXPECT_EQ(ok("drop icmp-type 135,136 proto 58"), ok("drop icmpv6 icmp-type 135-136"));
}

TEST(RuleParser, Frag) {
  Rule r = ok("drop frag is-fragment,!first-fragment");
  EXPECT_EQ(r.frag_mask, kFragIsf | kFragFf);
  EXPECT_EQ(r.frag_value, kFragIsf);
  EXPECT_EQ(ok("drop frag dont-fragment").frag_mask, kFragDf);
  EXPECT_EQ(ok("drop frag dont-fragment").frag_value, kFragDf);
  EXPECT_EQ(ok("drop frag !dont-fragment").frag_value, 0);
  EXPECT_EQ(ok("drop frag last-fragment").frag_mask, kFragLf);
  Rule all = ok("drop frag last-fragment,first-fragment,is-fragment,dont-fragment");
  EXPECT_EQ(all.frag_mask, 0x0f);
  EXPECT_EQ(all.frag_value, 0x0f);
  EXPECT_EQ(ok("drop frag !is-fragment,!dont-fragment,!first-fragment,!last-fragment").frag_value, 0);
  // Any family, any protocol; the order inside the list does not matter.
  EXPECT_EQ(ok("drop tcp frag !first-fragment,is-fragment ip6"),
            ok("drop ip6 tcp frag is-fragment,!first-fragment"));
  EXPECT_EQ(ok("drop frag is-fragment").family, Family::Any);
  EXPECT_EQ(ok("drop").frag_mask, 0);
}

TEST(RuleParser, Comment) {
  EXPECT_EQ(ok("drop comment \"x\"").comment, "x");
  EXPECT_EQ(ok("drop tcp comment \"flowspec route 7: 10.0.0.0/8 > *\" dport 22").comment,
            "flowspec route 7: 10.0.0.0/8 > *");
  // Spaces, braces, quotes' neighbours: all one token; whitespace around kept.
  EXPECT_EQ(ok("drop comment \"  a  {b} 'c'  \"").comment, "  a  {b} 'c'  ");
  EXPECT_EQ(ok("drop comment \"" + std::string(128, '~') + "\"").comment, std::string(128, '~'));
  EXPECT_EQ(ok("drop comment \" \"").comment, " ");
  // Not a match: the rule is the same rule plus a label.
  Rule r = ok("drop udp dport 53 comment \"dns\"");
  r.comment.clear();
  EXPECT_EQ(r, ok("drop udp dport 53"));
  EXPECT_NE(ok("drop comment \"a\""), ok("drop comment \"b\""));
  EXPECT_TRUE(ok("drop").comment.empty());
}

TEST(RuleParserErrors, ValueLists) {
  const std::string dscp = "expected a DSCP value 0-63 or a range N-M, got ";
  EXPECT_EQ(err("drop dscp"),
            "column 10: expected a DSCP value 0-63, a range or a list after dscp (for example 0,3,8-11), got "
            "end of rule");
  EXPECT_EQ(err("drop dscp 64"), "column 11: expected a DSCP value 0-63, got \"64\"");
  EXPECT_EQ(err("drop dscp 1,2,99"), "column 15: expected a DSCP value 0-63, got \"99\"");
  EXPECT_EQ(err("drop dscp 1-64"), "column 13: expected a DSCP value 0-63, got \"64\"");
  EXPECT_EQ(err("drop dscp 99999999999999999999"),
            "column 11: expected a DSCP value 0-63, got \"99999999999999999999\"");
  EXPECT_EQ(err("drop dscp 5-3"), "column 11: expected a range with low <= high, got \"5-3\"");
  EXPECT_EQ(err("drop dscp 1,5-3"), "column 13: expected a range with low <= high, got \"5-3\"");
  EXPECT_EQ(err("drop dscp x"), "column 11: " + dscp + "\"x\"");
  EXPECT_EQ(err("drop dscp -1"), "column 11: " + dscp + "\"-1\"");
  EXPECT_EQ(err("drop dscp 1-"), "column 11: " + dscp + "\"1-\"");
  EXPECT_EQ(err("drop dscp 1-2-3"), "column 11: " + dscp + "\"1-2-3\"");
  EXPECT_EQ(err("drop dscp +1"), "column 11: " + dscp + "\"+1\"");
  // Empty items, also the ones a space makes outside braces.
  EXPECT_EQ(err("drop dscp 1,"), "column 13: " + dscp + "nothing");
  EXPECT_EQ(err("drop dscp ,1"), "column 11: " + dscp + "nothing");
  EXPECT_EQ(err("drop dscp 1,,2"), "column 13: " + dscp + "nothing");
  EXPECT_EQ(err("drop dscp 1, 2"), "column 13: " + dscp + "nothing");
  // Braces: columns inside them are the text's.
  EXPECT_EQ(err("drop dscp { 1, 99 }"), "column 16: expected a DSCP value 0-63, got \"99\"");
  EXPECT_EQ(err("drop dscp {1,  x }"), "column 16: " + dscp + "\"x\"");
  EXPECT_EQ(err("drop dscp { 1-2, 9-3 }"), "column 18: expected a range with low <= high, got \"9-3\"");
  EXPECT_EQ(err("drop dscp { }"), "column 13: " + dscp + "nothing");
  EXPECT_EQ(err("drop dscp {}"), "column 12: " + dscp + "nothing");
  EXPECT_EQ(err("drop dscp { 1, }"), "column 16: " + dscp + "nothing");
  EXPECT_EQ(err("drop dscp { 1 2 }"), "column 13: " + dscp + "\"1 2\"");
  EXPECT_EQ(err("drop dscp { 1, 2"),
            "column 17: expected } to close the list opened at column 11, got end of rule");
  EXPECT_EQ(err("drop dscp {1,2 tcp"),
            "column 19: expected } to close the list opened at column 11, got end of rule");
  EXPECT_EQ(err("drop dscp {1}x"), "column 14: expected whitespace after }, got \"x\"");
  EXPECT_EQ(
      err("drop dscp {1} }"),
      "column 15: expected a match (ip, ip6, tcp, udp, icmp, icmpv6, proto, saddr, daddr, sport, dport, "
      "tcp-flags, icmp-type, icmp-code, length, dscp, frag, vlan, limit, log or comment), got \"}\"");
  // Too many ranges after merging.
  EXPECT_EQ(err("drop dscp 0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32"),
            "column 11: dscp has 17 ranges (after merging), at most 16");
  EXPECT_EQ(err("drop length {0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32}"),
            "column 13: length has 17 ranges (after merging), at most 16");
  // Each match's own bound and words.
  EXPECT_EQ(err("drop length 65576"), "column 13: expected a packet length 0-65575, got \"65576\"");
  EXPECT_EQ(err("drop length 0-65576"), "column 15: expected a packet length 0-65575, got \"65576\"");
  EXPECT_EQ(err("drop icmp icmp-type 256"), "column 21: expected an ICMP type 0-255, got \"256\"");
  EXPECT_EQ(err("drop icmp icmp-code 300"), "column 21: expected an ICMP code 0-255, got \"300\"");
  EXPECT_EQ(err("drop icmp icmp-code echo"),
            "column 21: expected an ICMP code 0-255 or a range N-M, got \"echo\"");
  EXPECT_EQ(
      err("drop icmp icmp-type"),
      "column 20: expected an ICMP type 0-255, a range or a list after icmp-type (for example 0,3,8-11), "
      "got end of rule");
  // Each at most once.
  EXPECT_EQ(err("drop dscp 1 dscp 2"), "column 13: duplicate dscp (dscp 1 at column 6)");
  EXPECT_EQ(err("drop length { 1, 2 } length 3"),
            "column 22: duplicate length (length { 1, 2 } at column 6)");
  EXPECT_EQ(err("drop icmp icmp-type 1 icmp-type 2"),
            "column 23: duplicate icmp-type (icmp-type 1 at column 11)");
  EXPECT_EQ(err("drop icmp icmp-code 1 icmp-code 1"),
            "column 23: duplicate icmp-code (icmp-code 1 at column 11)");
}

TEST(RuleParserErrors, IcmpNeedsIcmp) {
  EXPECT_EQ(err("drop icmp-type 8"), "column 6: expected icmp or icmpv6 before icmp-type");
  EXPECT_EQ(err("drop saddr 1.2.3.4 icmp-code 0"), "column 20: expected icmp or icmpv6 before icmp-code");
  EXPECT_EQ(err("drop ip icmp-type 8"), "column 9: expected icmp or icmpv6 before icmp-type");
  EXPECT_EQ(err("drop tcp icmp-type 8"),
            "column 10: icmp-type needs icmp or icmpv6, but the rule has tcp (column 6)");
  EXPECT_EQ(err("drop proto 17 icmp-code 0"),
            "column 15: icmp-code needs icmp or icmpv6, but the rule has proto 17 (column 6)");
  EXPECT_EQ(err("drop icmp-type 8 udp"),
            "column 18: udp cannot be used with icmp-type (column 6), which needs icmp or icmpv6");
  EXPECT_EQ(err("drop icmp-code 0 proto 47"),
            "column 18: proto 47 cannot be used with icmp-code (column 6), which needs icmp or icmpv6");
  // The family still follows the protocol.
  EXPECT_EQ(err("drop ip6 icmp-type 1 icmp"),
            "column 22: icmp is IPv4, but the rule is IPv6 (ip6 at column 6)");
}

TEST(RuleParserErrors, Frag) {
  EXPECT_EQ(err("drop frag"),
            "column 10: expected fragment flags (for example is-fragment,!first-fragment), got end of rule");
  const std::string what =
      "expected a fragment flag (dont-fragment, is-fragment, first-fragment or last-fragment, optionally "
      "preceded by !), got ";
  EXPECT_EQ(err("drop frag df"), "column 11: " + what + "\"df\"");
  EXPECT_EQ(err("drop frag is-fragment,first"), "column 23: " + what + "\"first\"");
  EXPECT_EQ(err("drop frag !"), "column 11: " + what + "\"!\"");
  EXPECT_EQ(err("drop frag is-fragment,"), "column 23: " + what + "nothing");
  EXPECT_EQ(err("drop frag ,is-fragment"), "column 11: " + what + "nothing");
  EXPECT_EQ(err("drop frag { is-fragment }"), "column 11: " + what + "\"{ is-fragment }\"");
  EXPECT_EQ(err("drop frag is-fragment,!is-fragment"),
            "column 23: duplicate fragment flag is-fragment in is-fragment,!is-fragment");
  EXPECT_EQ(err("drop frag is-fragment frag !dont-fragment"),
            "column 23: duplicate frag (frag is-fragment at column 6)");
}

TEST(RuleParserErrors, Comment) {
  EXPECT_EQ(err("drop comment"),
            "column 13: expected a comment in double quotes after comment, got end of rule");
  EXPECT_EQ(err("drop comment x"), "column 14: expected a comment in double quotes after comment, got \"x\"");
  EXPECT_EQ(err("drop comment 'x'"),
            "column 14: expected a comment in double quotes after comment, got \"'x'\"");
  EXPECT_EQ(err("drop comment \"abc"),
            "column 18: expected \" to close the comment opened at column 14, got end of rule");
  EXPECT_EQ(err("drop comment \"a b tcp"),
            "column 22: expected \" to close the comment opened at column 14, got end of rule");
  EXPECT_EQ(err("drop comment \"a\"b"),
            "column 17: expected whitespace after the comment's closing \", got \"b\"");
  EXPECT_EQ(err("drop comment \"a\"\"b\""),
            "column 17: expected whitespace after the comment's closing \", got \"\\\"b\\\"\"");
  EXPECT_EQ(err("drop comment \"\""), "column 14: expected a comment of 1-128 characters, got an empty one");
  EXPECT_EQ(err("drop comment \"" + std::string(129, 'x') + "\""),
            "column 14: comment longer than 128 characters (129)");
  EXPECT_EQ(err("drop comment \"a\\b\""),
            "column 16: a comment holds printable ASCII characters other than \\, got \"\\\\\"");
  EXPECT_EQ(err("drop comment \"a\tb\""),
            "column 16: a comment holds printable ASCII characters other than \\, got \"\\x09\"");
  EXPECT_EQ(err("drop comment \"caf\xc3\xa9\""),
            "column 18: a comment holds printable ASCII characters other than \\, got \"\\xc3\"");
  EXPECT_EQ(err("drop comment \"a\" comment \"a\""), "column 18: duplicate comment (comment at column 6)");
  // A quoted token is no other word.
  EXPECT_EQ(err("drop \"tcp\""),
            "column 6: expected a match (ip, ip6, tcp, udp, icmp, icmpv6, proto, saddr, daddr, sport, dport, "
            "tcp-flags, icmp-type, icmp-code, length, dscp, frag, vlan, limit, log or comment), got "
            "\"\\\"tcp\\\"\"");
}

TEST(RuleParser, PrefixHelpers) {
  EXPECT_TRUE(parse_ipv4("0.0.0.0"));
  EXPECT_TRUE(parse_ipv4("255.255.255.255"));
  EXPECT_FALSE(parse_ipv4("256.0.0.0"));
  EXPECT_FALSE(parse_ipv4("1.2.3"));
  EXPECT_FALSE(parse_ipv4("1.2.3.4.5"));
  EXPECT_FALSE(parse_ipv4("01.2.3.4"));  // no octal ambiguity
  EXPECT_FALSE(parse_ipv4("1.2.3.4 "));
  EXPECT_FALSE(parse_ipv4("1..3.4"));
  EXPECT_FALSE(parse_ipv4("1.2.3.1234"));
  EXPECT_FALSE(parse_ipv4(""));
  EXPECT_TRUE(parse_ipv6("::"));
  EXPECT_TRUE(parse_ipv6("1:2:3:4:5:6:7:8"));
  EXPECT_TRUE(parse_ipv6("::ffff:255.255.255.255"));
  EXPECT_FALSE(parse_ipv6("1:2:3:4:5:6:7:8:9"));
  EXPECT_FALSE(parse_ipv6("fe80::1%eth0"));
  EXPECT_FALSE(parse_ipv6("[::1]"));
  EXPECT_FALSE(parse_ipv6(std::string_view("::1\0", 4)));
  EXPECT_FALSE(parse_ipv6(std::string(100, ':')));
  EXPECT_FALSE(parse_prefix("10.0.0.0/"));
  EXPECT_FALSE(parse_prefix("10.0.0.0/33"));
  EXPECT_FALSE(parse_prefix("10.0.0.0/-1"));
  EXPECT_FALSE(parse_prefix("::/129"));
  EXPECT_FALSE(parse_prefix("/8"));
  EXPECT_EQ(parse_prefix("::/128")->len, 128);
  EXPECT_EQ(parse_prefix("10.0.0.0/008")->len, 8);

  EXPECT_TRUE(valid_set_name("a"));
  EXPECT_TRUE(valid_set_name("_"));
  EXPECT_FALSE(valid_set_name(""));
  EXPECT_FALSE(valid_set_name("1a"));
  EXPECT_FALSE(valid_set_name("-a"));
  EXPECT_FALSE(valid_set_name("a.b"));
  EXPECT_FALSE(valid_set_name(std::string(32, 'a')));
  EXPECT_TRUE(valid_ifname("eth0"));
  EXPECT_TRUE(valid_ifname("a"));
  EXPECT_FALSE(valid_ifname(""));
  EXPECT_FALSE(valid_ifname("."));
  EXPECT_FALSE(valid_ifname(".."));
  EXPECT_FALSE(valid_ifname("a/b"));
  EXPECT_FALSE(valid_ifname("a:b"));
  EXPECT_FALSE(valid_ifname("a b"));
  EXPECT_FALSE(valid_ifname("a\x01"));
  EXPECT_FALSE(valid_ifname("caf\xc3\xa9"));
  EXPECT_FALSE(valid_ifname(std::string(16, 'a')));
}

TEST(RuleParser, Quote) {
  EXPECT_EQ(quote("ssh"), "\"ssh\"");
  EXPECT_EQ(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(quote("\x01\xff"), "\"\\x01\\xff\"");
  EXPECT_EQ(quote(std::string(60, 'x')), "\"" + std::string(48, 'x') + "...\"");
}

// Every message, with the column it points at (1-based).
TEST(RuleParserErrors, Action) {
  EXPECT_EQ(err(""), "column 1: expected an action (pass, drop or redirect), got an empty rule");
  EXPECT_EQ(err("   \t "), "column 1: expected an action (pass, drop or redirect), got an empty rule");
  EXPECT_EQ(err("  accept tcp"), "column 3: expected an action (pass, drop or redirect), got \"accept\"");
  EXPECT_EQ(err("tcp drop"), "column 1: expected an action (pass, drop or redirect), got \"tcp\"");
  EXPECT_EQ(err("DROP"), "column 1: expected an action (pass, drop or redirect), got \"DROP\"");
  EXPECT_EQ(err("redirect"), "column 9: expected xsk or dev after redirect, got end of rule");
  EXPECT_EQ(err("redirect eth1"), "column 10: expected xsk or dev after redirect, got \"eth1\"");
  EXPECT_EQ(err("redirect xsk fallback"), "column 22: expected pass or drop after fallback, got end of rule");
  EXPECT_EQ(err("redirect xsk fallback tx"), "column 23: expected pass or drop after fallback, got \"tx\"");
  EXPECT_EQ(err("redirect dev"), "column 13: expected an interface name after dev, got end of rule");
  EXPECT_EQ(err("redirect dev a/b"),
            "column 14: expected an interface name (1-15 printable ASCII characters, no '/' or "
            "':'), got \"a/b\"");
  EXPECT_EQ(err("redirect dev abcdefghijklmnop"),
            "column 14: expected an interface name (1-15 printable ASCII characters, no '/' or "
            "':'), got \"abcdefghijklmnop\"");
}

TEST(RuleParserErrors, UnknownWordsAndTrailingGarbage) {
  const std::string what =
      "expected a match (ip, ip6, tcp, udp, icmp, icmpv6, proto, saddr, daddr, sport, dport, "
      "tcp-flags, icmp-type, icmp-code, length, dscp, frag, vlan, limit, log or comment), got ";
  EXPECT_EQ(err("drop foo"), "column 6: " + what + "\"foo\"");
  EXPECT_EQ(err("drop tcp dport 22 33"), "column 19: " + what + "\"33\"");
  EXPECT_EQ(err("drop TCP"), "column 6: " + what + "\"TCP\"");
  EXPECT_EQ(err("drop tcp pass"), "column 10: " + what + "\"pass\"");
  EXPECT_EQ(err("drop tcp dport 22;"), "column 16: expected a port or range, got \"22;\"");
  EXPECT_EQ(err("drop \x01"), "column 6: " + what + "\"\\x01\"");
}

TEST(RuleParserErrors, Duplicates) {
  EXPECT_EQ(err("drop ip ip"), "column 9: duplicate family ip (ip at column 6)");
  EXPECT_EQ(err("drop tcp udp"), "column 10: duplicate protocol udp (tcp at column 6)");
  EXPECT_EQ(err("drop tcp tcp"), "column 10: duplicate protocol tcp (tcp at column 6)");
  EXPECT_EQ(err("drop proto 6 tcp"), "column 14: duplicate protocol tcp (proto 6 at column 6)");
  EXPECT_EQ(err("drop icmp proto 1"), "column 11: duplicate protocol proto 1 (icmp at column 6)");
  EXPECT_EQ(err("drop saddr 10.0.0.1 saddr 10.0.0.2"),
            "column 21: duplicate saddr (saddr 10.0.0.1 at column 6)");
  EXPECT_EQ(err("drop daddr @a daddr @b"), "column 15: duplicate daddr (daddr @a at column 6)");
  EXPECT_EQ(err("drop tcp sport 1 sport 2"), "column 18: duplicate sport (sport 1 at column 10)");
  EXPECT_EQ(err("drop udp dport 1-2 dport 3"), "column 20: duplicate dport (dport 1-2 at column 10)");
  EXPECT_EQ(err("drop tcp tcp-flags syn tcp-flags ack"),
            "column 24: duplicate tcp-flags (tcp-flags syn at column 10)");
}

TEST(RuleParserErrors, FamilyConflicts) {
  EXPECT_EQ(err("drop ip ip6"), "column 9: duplicate family ip6 (ip at column 6)");
  EXPECT_EQ(err("drop ip6 saddr 10.0.0.0/8"),
            "column 16: saddr 10.0.0.0/8 is IPv4, but the rule is IPv6 (ip6 at column 6)");
  EXPECT_EQ(err("drop ip daddr 2001:db8::/32"),
            "column 15: daddr 2001:db8::/32 is IPv6, but the rule is IPv4 (ip at column 6)");
  EXPECT_EQ(err("drop saddr 10.0.0.0/8 daddr ::1"),
            "column 29: daddr ::1 is IPv6, but the rule is IPv4 (saddr 10.0.0.0/8 at column 12)");
  EXPECT_EQ(err("drop saddr ::1 daddr 1.2.3.4"),
            "column 22: daddr 1.2.3.4 is IPv4, but the rule is IPv6 (saddr ::1 at column 12)");
  EXPECT_EQ(err("drop ip6 icmp"), "column 10: icmp is IPv4, but the rule is IPv6 (ip6 at column 6)");
  EXPECT_EQ(err("drop ip icmpv6"), "column 9: icmpv6 is IPv6, but the rule is IPv4 (ip at column 6)");
  EXPECT_EQ(err("drop ip proto 58"), "column 9: proto 58 is IPv6, but the rule is IPv4 (ip at column 6)");
  EXPECT_EQ(err("drop icmp ip6"), "column 11: ip6 is IPv6, but the rule is IPv4 (icmp at column 6)");
  EXPECT_EQ(err("drop icmpv6 saddr 10.0.0.1"),
            "column 19: saddr 10.0.0.1 is IPv4, but the rule is IPv6 (icmpv6 at column 6)");
  EXPECT_EQ(err("drop saddr ::/0 icmp"),
            "column 17: icmp is IPv4, but the rule is IPv6 (saddr ::/0 at column 12)");
}

TEST(RuleParserErrors, Protocol) {
  EXPECT_EQ(err("drop proto"), "column 11: expected a protocol number 0-255 after proto, got end of rule");
  EXPECT_EQ(err("drop proto 256"), "column 12: expected a protocol number 0-255, got \"256\"");
  EXPECT_EQ(err("drop proto -1"), "column 12: expected a protocol number 0-255, got \"-1\"");
  EXPECT_EQ(err("drop proto tcp"), "column 12: expected a protocol number 0-255, got \"tcp\"");
  EXPECT_EQ(err("drop proto 99999999999999999999"),
            "column 12: expected a protocol number 0-255, got \"99999999999999999999\"");
  // A protocol that contradicts an earlier port or flag match.
  EXPECT_EQ(err("drop sport 1 icmp"),
            "column 14: icmp cannot be used with sport (column 6): ports need tcp or udp");
  EXPECT_EQ(err("drop dport 1 proto 47"),
            "column 14: proto 47 cannot be used with dport (column 6): ports need tcp or udp");
  EXPECT_EQ(err("drop tcp-flags syn udp"),
            "column 20: udp cannot be used with tcp-flags (column 6), which needs tcp");
}

TEST(RuleParserErrors, Addresses) {
  EXPECT_EQ(err("drop saddr"), "column 11: expected an address, prefix or @set after saddr, got end of rule");
  EXPECT_EQ(err("drop tcp daddr"),
            "column 15: expected an address, prefix or @set after daddr, got end of rule");
  const std::string bad = "expected an IPv4 or IPv6 address or prefix, or @set, got ";
  EXPECT_EQ(err("drop saddr 10.0.0.300/8"), "column 12: " + bad + "\"10.0.0.300/8\"");
  EXPECT_EQ(err("drop saddr example.com"), "column 12: " + bad + "\"example.com\"");
  EXPECT_EQ(err("drop saddr 10.0.0.0/8/8"),
            "column 21: expected a prefix length 0-32 after an IPv4 address, got \"8/8\"");
  EXPECT_EQ(err("drop saddr 010.0.0.1"), "column 12: " + bad + "\"010.0.0.1\"");
  EXPECT_EQ(err("drop saddr 1::2::3"), "column 12: " + bad + "\"1::2::3\"");
  EXPECT_EQ(err("drop saddr /8"), "column 12: " + bad + "\"/8\"");
  EXPECT_EQ(err("drop daddr fe80::1%eth0"), "column 12: " + bad + "\"fe80::1%eth0\"");
  // The column of a bad length is the length's own.
  EXPECT_EQ(err("drop saddr 10.0.0.0/33"),
            "column 21: expected a prefix length 0-32 after an IPv4 address, got \"33\"");
  EXPECT_EQ(err("drop saddr 10.0.0.0/"),
            "column 21: expected a prefix length 0-32 after an IPv4 address, got \"\"");
  EXPECT_EQ(err("drop daddr 2001:db8::/129"),
            "column 23: expected a prefix length 0-128 after an IPv6 address, got \"129\"");
  EXPECT_EQ(err("drop daddr ::/x"),
            "column 15: expected a prefix length 0-128 after an IPv6 address, got \"x\"");
  const std::string set_what =
      "expected a set name after @ (1-31 letters, digits, _ or -, starting with a letter or _), got ";
  EXPECT_EQ(err("drop saddr @"), "column 12: " + set_what + "\"@\"");
  EXPECT_EQ(err("drop saddr @1abc"), "column 12: " + set_what + "\"@1abc\"");
  EXPECT_EQ(err("drop saddr @a.b"), "column 12: " + set_what + "\"@a.b\"");
  EXPECT_EQ(err("drop saddr @" + std::string(32, 'a')),
            "column 12: " + set_what + "\"@" + std::string(32, 'a') + "\"");
}

TEST(RuleParserErrors, Ports) {
  EXPECT_EQ(err("drop tcp dport"), "column 15: expected a port or range, got end of rule");
  EXPECT_EQ(err("drop tcp dport 22 saddr 1.2.3.4 sport ssh"),
            "column 39: expected a port or range, got \"ssh\"");
  EXPECT_EQ(err("drop tcp dport 22-"), "column 16: expected a port or range, got \"22-\"");
  EXPECT_EQ(err("drop tcp dport -22"), "column 16: expected a port or range, got \"-22\"");
  EXPECT_EQ(err("drop tcp dport 1-2-3"), "column 16: expected a port or range, got \"1-2-3\"");
  EXPECT_EQ(err("drop tcp dport +1"), "column 16: expected a port or range, got \"+1\"");
  EXPECT_EQ(err("drop tcp dport 65536"), "column 16: expected a port 0-65535, got \"65536\"");
  EXPECT_EQ(err("drop tcp dport 1-70000"), "column 18: expected a port 0-65535, got \"70000\"");
  EXPECT_EQ(err("drop tcp dport 99999999999999999999999"),
            "column 16: expected a port 0-65535, got \"99999999999999999999999\"");
  EXPECT_EQ(err("drop udp sport 2000-1000"),
            "column 16: expected a range with low <= high, got \"2000-1000\"");
  // Ports need tcp or udp.
  EXPECT_EQ(err("drop dport 22"), "column 6: expected tcp or udp before dport");
  EXPECT_EQ(err("drop saddr 1.2.3.4 sport 22"), "column 20: expected tcp or udp before sport");
  EXPECT_EQ(err("drop icmp dport 22"), "column 11: dport needs tcp or udp, but the rule has icmp (column 6)");
  EXPECT_EQ(err("drop proto 132 sport 22"),
            "column 16: sport needs tcp or udp, but the rule has proto 132 (column 6)");
}

TEST(RuleParserErrors, TcpFlags) {
  EXPECT_EQ(err("drop tcp tcp-flags"),
            "column 19: expected TCP flags (for example syn,!ack), got end of rule");
  const std::string what =
      "expected a TCP flag (fin, syn, rst, psh, ack, urg, ece or cwr, optionally preceded by !), got ";
  EXPECT_EQ(err("drop tcp tcp-flags syn,sin"), "column 24: " + what + "\"sin\"");
  EXPECT_EQ(err("drop tcp tcp-flags SYN"), "column 20: " + what + "\"SYN\"");
  EXPECT_EQ(err("drop tcp tcp-flags !"), "column 20: " + what + "\"!\"");
  EXPECT_EQ(err("drop tcp tcp-flags !!syn"), "column 20: " + what + "\"!!syn\"");
  EXPECT_EQ(err("drop tcp tcp-flags syn,"), "column 24: " + what + "nothing");
  EXPECT_EQ(err("drop tcp tcp-flags ,syn"), "column 20: " + what + "nothing");
  EXPECT_EQ(err("drop tcp tcp-flags syn,,ack"), "column 24: " + what + "nothing");
  EXPECT_EQ(err("drop tcp tcp-flags syn,ack,!syn"), "column 28: duplicate TCP flag syn in syn,ack,!syn");
  EXPECT_EQ(err("drop tcp-flags syn"), "column 6: expected tcp before tcp-flags");
  EXPECT_EQ(err("drop udp tcp-flags syn"), "column 10: tcp-flags needs tcp, but the rule has udp (column 6)");
  EXPECT_EQ(err("drop proto 17 tcp-flags syn"),
            "column 15: tcp-flags needs tcp, but the rule has proto 17 (column 6)");
}

TEST(RuleParserErrors, RuleNumberPrefix) {
  auto r = parse_rule("drop tcp dport 22 saddr 1.2.3.4 dport ssh", 3);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "rule 3, column 33: duplicate dport (dport 22 at column 10)");
  EXPECT_EQ(r.error().code(), EINVAL);
  auto s = parse_rule("pass tcp sport ssh", 3);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "rule 3, column 16: expected a port or range, got \"ssh\"");
  EXPECT_EQ(parse_rule("", 12).error().message(),
            "rule 12, column 1: expected an action (pass, drop or redirect), got an empty rule");
  EXPECT_TRUE(parse_rule("pass", 1));
}

// One decimal parser for the rule language (ports, lengths, rates, bursts,
// durations) and set files: up to max, never wrapping around past 2^64.
TEST(RuleParser, Decimal) {
  EXPECT_EQ(parse_decimal("0", 0), 0u);
  EXPECT_EQ(parse_decimal("00080", 65535), 80u);
  EXPECT_EQ(parse_decimal("65535", 65535), 65535u);
  EXPECT_FALSE(parse_decimal("65536", 65535));
  EXPECT_FALSE(parse_decimal("", 10));
  EXPECT_FALSE(parse_decimal("+1", 10));
  EXPECT_FALSE(parse_decimal("1 ", 10));
  EXPECT_EQ(parse_decimal("18446744073709551615", UINT64_MAX), UINT64_MAX);
  EXPECT_FALSE(parse_decimal("18446744073709551616", UINT64_MAX));
  // 1844674407370955161 * 10 + 9 wraps to 3: still "more than max".
  EXPECT_FALSE(parse_decimal("18446744073709551619", UINT64_MAX / 10));
  EXPECT_FALSE(parse_decimal("99999999999999999999999", UINT64_MAX));
}

}  // namespace
}  // namespace xdpguard::rules
