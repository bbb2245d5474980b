// BGP FlowSpec (flowspec/): the two speakers' decoders on lines the real
// daemons printed (tests/data/flowspec, captured from gobgpd 3.10 and ExaBGP
// 4.2 on the same 58 + 21 routes: FORMATS.md), the translator on every
// component and operator, the RFC 8955 order, the RIB and the consumer's
// batching and adoption.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "flowspec/consumer.h"
#include "flowspec/exabgp.h"
#include "flowspec/gobgp.h"
#include "flowspec/rib.h"
#include "flowspec/route.h"
#include "flowspec/translate.h"
#include "guard/groups.h"
#include "rules/limits.h"
#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard::flowspec_test {
namespace {

using namespace xdpguard::flowspec;
using namespace std::chrono_literals;

std::vector<std::string> fixture_lines(const std::string& name) {
  std::ifstream in(std::string(XDPGUARD_SOURCE_DIR) + "/tests/data/flowspec/" + name);
  EXPECT_TRUE(in) << name;
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Every route the lines announce or withdraw, in order.
std::vector<Event> exabgp_events(const std::vector<std::string>& lines,
                                 std::vector<std::string>* errors = nullptr) {
  std::vector<Event> out;
  for (const auto& l : lines) {
    Decoded d = decode_exabgp(l);
    for (auto& e : d.events) out.push_back(std::move(e));
    if (errors) errors->insert(errors->end(), d.errors.begin(), d.errors.end());
  }
  return out;
}

std::vector<Event> gobgp_events(const std::vector<std::string>& lines, rules::Family f) {
  std::vector<Event> out;
  for (const auto& l : lines) {
    Decoded d = decode_gobgp(l, f, "gobgp");
    EXPECT_TRUE(d.errors.empty()) << d.errors.front();
    for (auto& e : d.events) out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> texts(const Translation& t) {
  std::vector<std::string> out;
  for (const auto& r : t.rules) out.push_back(rules::to_string(r));
  return out;
}

// The rules of the route the ExaBGP line announces, without their label.
std::vector<std::string> rules_of_line(const std::string& line) {
  Decoded d = decode_exabgp(line);
  EXPECT_TRUE(d.errors.empty()) << (d.errors.empty() ? "" : d.errors.front());
  EXPECT_EQ(d.events.size(), 1u);
  if (d.events.size() != 1) return {};
  auto t = translate(d.events[0].route);
  if (!t) return {"refused: " + t.error().message()};
  auto out = texts(*t);
  for (auto& s : out) s = s.substr(0, s.find(" comment \""));
  return out;
}

// ---- the decoders on the daemons' own output

// Both speakers saw the same routes (gobgp-commands.txt): each decodes to
// the same match, action by action, for IPv4 and IPv6.
TEST(FlowspecDecode, ExaBgpAndGoBgpGiveTheSameRoutes) {
  for (auto [exa, gobgp, fam] :
       {std::tuple{"exabgp-v4.jsonl", "gobgp-monitor-v4.jsonl", rules::Family::V4},
        std::tuple{"exabgp-v6.jsonl", "gobgp-monitor-v6.jsonl", rules::Family::V6}}) {
    std::vector<std::string> errors;
    auto e = exabgp_events(fixture_lines(exa), &errors);
    std::erase_if(
        e, [](const Event& x) { return x.kind != Event::Kind::Announce && x.kind != Event::Kind::Withdraw; });
    auto g = gobgp_events(fixture_lines(gobgp), fam);
    if (!errors.empty()) ADD_FAILURE() << errors.front();
    ASSERT_EQ(e.size(), g.size()) << exa;
    ASSERT_GT(e.size(), 20u);
    for (std::size_t i = 0; i < e.size(); ++i) {
      SCOPED_TRACE(fmt::format("{} event {}: {}", exa, i, match_text(e[i].route)));
      EXPECT_EQ(e[i].kind, g[i].kind);
      EXPECT_EQ(match_text(e[i].route), match_text(g[i].route));
      EXPECT_EQ(e[i].route.components, g[i].route.components);
      if (e[i].kind == Event::Kind::Announce) {
        EXPECT_EQ(e[i].route.actions, g[i].route.actions);
      }
    }
  }
}

// `gobgp global rib --json`: each destination's best path, announced.
TEST(FlowspecDecode, GoBgpRibSnapshot) {
  std::string text;
  for (const auto& l : fixture_lines("gobgp-rib-v4.json")) text += l + "\n";
  Decoded d = decode_gobgp_rib(text, rules::Family::V4, "g");
  EXPECT_TRUE(d.errors.empty()) << (d.errors.empty() ? "" : d.errors.front());
  EXPECT_EQ(d.events.size(), 57u);
  for (const auto& e : d.events) EXPECT_EQ(e.kind, Event::Kind::Announce);
  EXPECT_TRUE(decode_gobgp_rib(text, rules::Family::V6, "g").events.empty());  // another family
  EXPECT_TRUE(decode_gobgp_rib("", rules::Family::V4, "g").events.empty());    // an empty RIB
  EXPECT_EQ(decode_gobgp_rib("[1]", rules::Family::V4, "g").errors.size(), 1u);
}

TEST(FlowspecDecode, SessionsEndOfRibAndShutdownFromExaBgp) {
  std::vector<Event::Kind> kinds;
  for (const auto& e : exabgp_events(fixture_lines("exabgp-session-events.jsonl")))
    if (e.kind != Event::Kind::Announce && e.kind != Event::Kind::Withdraw) kinds.push_back(e.kind);
  auto count = [&](Event::Kind k) { return std::count(kinds.begin(), kinds.end(), k); };
  EXPECT_GE(count(Event::Kind::PeerUp), 2);
  EXPECT_GE(count(Event::Kind::PeerDown), 2);
  EXPECT_GE(count(Event::Kind::EndOfRib), 2);
  // The end of RIB names its family.
  Decoded d = decode_exabgp(
      R"({ "exabgp": "4.0.1", "type": "update", "neighbor": { "address": { "local": "198.18.50.2", "peer": "198.18.50.1" }, "direction": "receive", "message": { "eor": { "afi" : "ipv6", "safi" : "flow" } } } })");
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].kind, Event::Kind::EndOfRib);
  EXPECT_EQ(d.events[0].peer, "198.18.50.1");
  EXPECT_EQ(d.events[0].route.family, rules::Family::V6);
  d = decode_exabgp(R"({ "exabgp": "4.0.1", "type": "notification", "notification": "shutdown" })");
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].kind, Event::Kind::PeerDown);
  EXPECT_EQ(d.events[0].peer, "");  // every peer
}

// The bitmask lists ExaBGP's JSON splits per bit are read from its string:
// =SA (both set) is one rule, S|A (either) two.
TEST(FlowspecDecode, ExaBgpBitmasksKeepTheirOperators) {
  auto lines = fixture_lines("exabgp-v4.jsonl");
  auto find = [&](const std::string& dst) {
    for (const auto& l : lines)
      if (l.find("\"" + dst + "\"") != std::string::npos && l.find("announce") != std::string::npos) return l;
    ADD_FAILURE() << dst;
    return std::string();
  };
  EXPECT_EQ(rules_of_line(find("198.51.100.23/32")),
            (std::vector<std::string>{"drop tcp daddr 198.51.100.23 tcp-flags syn,ack"}));
  EXPECT_EQ(rules_of_line(find("198.51.100.24/32")),
            (std::vector<std::string>{"drop tcp daddr 198.51.100.24 tcp-flags syn",
                                      "drop tcp daddr 198.51.100.24 tcp-flags ack"}));
  EXPECT_EQ(rules_of_line(find("198.51.100.21/32")),
            (std::vector<std::string>{"drop tcp daddr 198.51.100.21 tcp-flags syn,!ack"}));
  EXPECT_EQ(rules_of_line(find("198.51.100.37/32")),
            (std::vector<std::string>{"drop daddr 198.51.100.37 frag !is-fragment"}));  // not-a-fragment
  EXPECT_EQ(rules_of_line(find("198.51.100.42/32")),
            (std::vector<std::string>{"drop daddr 198.51.100.42 frag is-fragment,!first-fragment"}));
}

// Bad input: named, per route, and nothing of the route is kept.
TEST(FlowspecDecode, BadInputIsNamedAndTheRouteLeftOut) {
  const std::string head =
      R"({ "exabgp": "4.0.1", "type": "update", "neighbor": { "address": { "local": "198.18.50.2", "peer": "198.18.50.1" }, "direction": "receive", "message": { "update": { "attribute": { "extended-community": [ { "value": 9225060886715039744, "string": "rate-limit:0" } ] }, "announce": { "ipv4 flow": { "no-nexthop": [ )";
  const std::string tail = R"( ] } } } } } })";
  struct Case {
    std::string route, error;
  };
  for (const Case& c : std::vector<Case>{
           {R"({ "destination-ipv4": [ "198.51.100.0/24" ], "colour": [ "=1" ] })",
            "unknown component \"colour\""},
           {R"({ "destination-ipv4": [ "198.51.100.0/40" ] })", "is not an IPv4 prefix"},
           {R"({ "destination-ipv4": [ "2001:db8::/32" ] })", "is not an IPv4 prefix"},
           {R"({ "packet-length": [ ">70000" ] })", "packet-length: value 70000 is over 65535"},
           {R"({ "dscp": [ "=64" ] })", "dscp: value 64 is over 63"},
           {R"({ "protocol": [ "=bogus" ] })", "protocol: \"bogus\" is not a number"},
           {R"({ "destination-port": [ "~80" ] })", "destination-port: \"~80\" is not a number"},
           {R"({ "tcp-flags": [ "=syn" ], "string": "flow tcp-flags =sin" })",
            "tcp-flags: unknown bit \"sin\""},
       }) {
    SCOPED_TRACE(c.route);
    Decoded d = decode_exabgp(head + c.route + tail);
    EXPECT_TRUE(d.events.empty());
    ASSERT_EQ(d.errors.size(), 1u);
    EXPECT_NE(d.errors[0].find(c.error), std::string::npos) << d.errors[0];
    EXPECT_NE(d.errors[0].find("not installed"), std::string::npos) << d.errors[0];
  }
  for (std::string_view line :
       {"", "{", "[1,2]", "null", R"({"type": 5})", R"({"type":"update","neighbor":7})", "\x01\xff"}) {
    Decoded d = decode_exabgp(line);
    EXPECT_TRUE(d.events.empty()) << line;
  }
  Decoded d = decode_exabgp(R"({"type": 5})");
  EXPECT_EQ(d.errors.size(), 1u);
  bool gone = false;
  d = decode_gobgp(R"({"error":"rpc error: code = Unavailable desc = transport is closing"})",
                   rules::Family::V4, "g", &gone);
  EXPECT_TRUE(gone);
  EXPECT_TRUE(d.events.empty());
  d = decode_gobgp(
      R"([{"nlri":{"value":[{"type":14,"value":[{"op":129,"value":1}]}]},"attrs":[{"type":14,"afi":1,"safi":133}]}])",
      rules::Family::V4, "g");
  EXPECT_TRUE(d.events.empty());
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_NE(d.errors[0].find("unknown component type 14"), std::string::npos) << d.errors[0];
}

// ---- the translator

Route route(std::vector<Component> cs, Actions a = {}) {
  Route r;
  r.family = rules::Family::V4;
  r.components = std::move(cs);
  r.actions = a;
  if (!r.components.empty() && r.components[0].prefix && r.components[0].prefix->family == rules::Family::V6)
    r.family = rules::Family::V6;
  return r;
}
Component prefix(Type t, const char* p) {
  Component c;
  c.type = t;
  c.prefix = *rules::parse_prefix(p);
  return c;
}
Component numeric(Type t, std::vector<NumericOp> ops) {
  Component c;
  c.type = t;
  c.numeric = std::move(ops);
  return c;
}
NumericOp eq(std::uint64_t v, bool and_ = false) { return {and_, false, false, true, v}; }
NumericOp gt(std::uint64_t v, bool and_ = false) { return {and_, false, true, false, v}; }
NumericOp lt(std::uint64_t v, bool and_ = false) { return {and_, true, false, false, v}; }
Actions discard() {
  Actions a;
  a.rate_bytes = 0;
  return a;
}

std::vector<std::string> bare(const Result<Translation>& t) {
  if (!t) return {"refused: " + t.error().message()};
  auto out = texts(*t);
  for (auto& s : out) s = s.substr(0, s.find(" comment \""));
  return out;
}

// RFC 8955's own examples (section 4.2.2): "all packets to 10.0.1/24 and
// TCP port 25", and "packets to 10.0.1/24 from 192/8 and port {137, 139,
// 8080-65535}".
TEST(FlowspecTranslate, TheRfcExamples) {
  EXPECT_EQ(bare(translate(route({prefix(Type::Destination, "10.0.1.0/24"), numeric(Type::Protocol, {eq(6)}),
                                  numeric(Type::Port, {eq(25)})},
                                 discard()))),
            (std::vector<std::string>{"drop tcp daddr 10.0.1.0/24 sport 25",
                                      "drop tcp daddr 10.0.1.0/24 dport 25"}));
  auto t = translate(route({prefix(Type::Destination, "10.0.1.0/24"), prefix(Type::Source, "192.0.0.0/8"),
                            numeric(Type::Port, {eq(137), eq(139), gt(8079)})},
                           discard()));
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->rules.size(), 12u);  // {tcp, udp} x {sport, dport} x {137, 139, 8080-65535}
  EXPECT_EQ(rules::to_string(t->rules[0]),
            "drop tcp saddr 192.0.0.0/8 daddr 10.0.1.0/24 sport 137 comment \"flowspec ipv4 destination "
            "10.0.1.0/24 "
            "source 192.0.0.0/8 port =137 =139 >8079\"");
  EXPECT_EQ(bare(t)[2], "drop tcp saddr 192.0.0.0/8 daddr 10.0.1.0/24 sport 8080-65535");
  EXPECT_EQ(t->notes.size(), 1u);  // ports in tcp and udp only
}

TEST(FlowspecTranslate, NumericOperators) {
  auto dport = [](std::vector<NumericOp> ops) {
    return bare(translate(route(
        {numeric(Type::Protocol, {eq(17)}), numeric(Type::DestinationPort, std::move(ops))}, discard())));
  };
  EXPECT_EQ(dport({gt(1023, false), lt(2049, true)}),
            (std::vector<std::string>{"drop ip udp dport 1024-2048"}));
  EXPECT_EQ(dport({{false, true, true, false, 22}}),  // !=22
            (std::vector<std::string>{"drop ip udp dport 0-21", "drop ip udp dport 23-65535"}));
  EXPECT_EQ(dport({{false, true, false, true, 1023}, {false, false, true, true, 49152}}),  // <=1023 >=49152
            (std::vector<std::string>{"drop ip udp dport 0-1023", "drop ip udp dport 49152-65535"}));
  EXPECT_EQ(dport({{false, true, true, true, 0}}), (std::vector<std::string>{"drop ip udp"}));  // true
  EXPECT_EQ(dport({{false, false, false, false, 0}}),
            (std::vector<std::string>{}));                                         // false: matches nothing
  EXPECT_EQ(dport({gt(100, false), lt(50, true)}), (std::vector<std::string>{}));  // empty AND
  EXPECT_EQ(dport({eq(80), gt(100, false), lt(50, true)}),
            (std::vector<std::string>{"drop ip udp dport 80"}));
  // AND binds tighter than OR: =53 OR (>=1024 AND <=2048) OR =8080.
  EXPECT_EQ(dport({eq(53), {false, false, true, true, 1024}, {true, true, false, true, 2048}, eq(8080)}),
            (std::vector<std::string>{"drop ip udp dport 53", "drop ip udp dport 1024-2048",
                                      "drop ip udp dport 8080"}));
  // The value lists of the new matches take the union whole: one rule.
  EXPECT_EQ(
      bare(translate(route({numeric(Type::PacketLength,
                                    {{false, false, true, true, 0}, {true, true, false, true, 64}, eq(1500)}),
                            numeric(Type::Dscp, {eq(10), eq(12), eq(14)})},
                           discard()))),
      (std::vector<std::string>{"drop ip length 0-64,1500 dscp 10,12,14"}));
  EXPECT_EQ(bare(translate(route(
                {numeric(Type::Protocol, {eq(1)}), numeric(Type::IcmpType, {eq(3), eq(11)}),
                 numeric(Type::IcmpCode, {{false, false, true, true, 0}, {true, true, false, true, 15}})},
                discard()))),
            (std::vector<std::string>{"drop icmp icmp-type 3,11 icmp-code 0-15"}));
}

TEST(FlowspecTranslate, ProtocolsAndWhatTheyAdmit) {
  // An ICMP type implies ICMP; with TCP in the route it matches nothing.
  EXPECT_EQ(bare(translate(route({numeric(Type::IcmpType, {eq(8)})}, discard()))),
            (std::vector<std::string>{"drop icmp icmp-type 8"}));
  EXPECT_EQ(
      bare(translate(route({numeric(Type::Protocol, {eq(6)}), numeric(Type::IcmpType, {eq(8)})}, discard()))),
      (std::vector<std::string>{}));
  // IPv6: ICMPv6.
  EXPECT_EQ(
      bare(translate(route({prefix(Type::Destination, "2001:db8::/32"), numeric(Type::IcmpType, {eq(128)})},
                           discard()))),
      (std::vector<std::string>{"drop icmpv6 daddr 2001:db8::/32 icmp-type 128"}));
  // Ports of SCTP cannot be read: not expressible, never a broader rule.
  auto t = translate(
      route({numeric(Type::Protocol, {eq(132)}), numeric(Type::DestinationPort, {eq(9)})}, discard()));
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("protocol 132"), std::string::npos);
  // A protocol list that needs too many rules.
  t = translate(route({numeric(Type::Protocol, {{false, true, true, false, 6}})}, discard()));
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("255 protocols"), std::string::npos) << t.error().message();
}

TEST(FlowspecTranslate, ActionsAndTheTerminalBit) {
  const auto dst = prefix(Type::Destination, "198.51.100.0/24");
  Actions a;
  // accept (no action): terminal, later routes must not see these packets.
  EXPECT_EQ(bare(translate(route({dst}, a))), (std::vector<std::string>{"pass daddr 198.51.100.0/24"}));
  Options after_drop_default;
  after_drop_default.accept = rules::Action::Drop;  // the interface's default
  EXPECT_EQ(bare(translate(route({dst}, a), after_drop_default)),
            (std::vector<std::string>{"drop daddr 198.51.100.0/24"}));
  // Non-terminal accept: nothing to do.
  a.terminal = false;
  EXPECT_EQ(bare(translate(route({dst}, a))), (std::vector<std::string>{}));
  // Packets per second: one aggregate bucket, a tenth of a second deep; the
  // accepted rest stops there when terminal.
  a = {};
  a.rate_packets = 1000;
  EXPECT_EQ(bare(translate(route({dst}, a))),
            (std::vector<std::string>{"drop daddr 198.51.100.0/24 limit over 1000/s burst 100",
                                      "pass daddr 198.51.100.0/24"}));
  a.terminal = false;
  EXPECT_EQ(bare(translate(route({dst}, a))),
            (std::vector<std::string>{"drop daddr 198.51.100.0/24 limit over 1000/s burst 100"}));
  // Bytes per second: nft's byte bucket (one second's bytes).
  a = {};
  a.rate_bytes = 12500;
  EXPECT_EQ(bare(translate(route({dst}, a))),
            (std::vector<std::string>{"drop daddr 198.51.100.0/24 limit over 12500 bytes/s burst 0 bytes",
                                      "pass daddr 198.51.100.0/24"}));
  a.rate_packets = 100;
  EXPECT_FALSE(translate(route({dst}, a)));  // both kinds of rate: not one rule
  a = {};
  a.rate_packets = 1000;
  a.terminal = false;
  a.rate_packets = 0.5;  // 30 a minute
  EXPECT_EQ(bare(translate(route({dst}, a))),
            (std::vector<std::string>{"drop daddr 198.51.100.0/24 limit over 30/m burst 5"}));
  // A limit over several rules would be several buckets.
  a.rate_packets = 1000;
  auto t = translate(route({numeric(Type::DestinationPort, {eq(53)})}, a));
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("2 buckets"), std::string::npos) << t.error().message();
  // sample: log; with discard, on the drop.
  a = discard();
  a.sample = true;
  EXPECT_EQ(bare(translate(route({dst}, a))), (std::vector<std::string>{"drop daddr 198.51.100.0/24 log"}));
  a = {};
  a.sample = true;
  a.terminal = false;
  t = translate(route({dst}, a));
  EXPECT_FALSE(t);
  // Redirect and marking: the rest applies, noted.
  a = discard();
  a.ignored.emplace_back("redirect to VRF");
  t = translate(route({dst}, a));
  ASSERT_TRUE(t);
  EXPECT_EQ(bare(t), (std::vector<std::string>{"drop daddr 198.51.100.0/24"}));
  EXPECT_EQ(t->notes, (std::vector<std::string>{"redirect to VRF: not applied"}));
  // Not expressible: IPv6 prefix offsets, flow labels.
  auto off = prefix(Type::Destination, "2001:db8::/64");
  off.offset = 32;
  EXPECT_FALSE(translate(route({off}, discard())));
  Route fl =
      route({prefix(Type::Destination, "2001:db8::/64"), numeric(Type::FlowLabel, {eq(5)})}, discard());
  EXPECT_FALSE(translate(fl));
}

TEST(FlowspecTranslate, BitmaskOperators) {
  auto flags = [](std::vector<BitmaskOp> ops) {
    Component c;
    c.type = Type::TcpFlags;
    c.bitmask = std::move(ops);
    return bare(translate(route({c}, discard())));
  };
  // match: all of them; plain: any; not: negated.
  EXPECT_EQ(flags({{false, false, true, 0x12}}), (std::vector<std::string>{"drop ip tcp tcp-flags syn,ack"}));
  EXPECT_EQ(flags({{false, false, false, 0x12}}),
            (std::vector<std::string>{"drop ip tcp tcp-flags syn", "drop ip tcp tcp-flags ack"}));
  EXPECT_EQ(flags({{false, true, false, 0x12}}),
            (std::vector<std::string>{"drop ip tcp tcp-flags !syn,!ack"}));
  EXPECT_EQ(flags({{false, true, true, 0x12}}),
            (std::vector<std::string>{"drop ip tcp tcp-flags !syn", "drop ip tcp tcp-flags !ack"}));
  // AND of contradictions: nothing; redundant terms merged.
  EXPECT_EQ(flags({{false, false, true, 0x02}, {true, true, false, 0x02}}), (std::vector<std::string>{}));
  EXPECT_EQ(flags({{false, false, false, 0x02}, {false, false, true, 0x12}}),
            (std::vector<std::string>{"drop ip tcp tcp-flags syn"}));
  Component frag;
  frag.type = Type::Fragment;
  frag.bitmask = {{false, false, false, 0x10}};
  EXPECT_FALSE(translate(route({frag}, discard())));  // reserved bit
}

// ---- order, labels, RIB, consumer

TEST(FlowspecOrder, Rfc8955Section5_1) {
  auto r = [](std::vector<Component> cs) { return route(std::move(cs)); };
  const auto p24 = prefix(Type::Destination, "198.51.100.0/24");
  const auto p32 = prefix(Type::Destination, "198.51.100.7/32");
  const auto low = prefix(Type::Destination, "10.0.0.0/8");
  // The more specific prefix first when one holds the other; else the lower.
  EXPECT_TRUE(precedes(r({p32}), r({p24})));
  EXPECT_FALSE(precedes(r({p24}), r({p32})));
  EXPECT_TRUE(precedes(r({low}), r({p24})));
  // A component the other lacks (of a lower type) first.
  EXPECT_TRUE(precedes(r({p24}), r({prefix(Type::Source, "192.0.2.0/24")})));
  EXPECT_TRUE(precedes(r({p24, numeric(Type::Protocol, {eq(17)})}), r({p24})));
  // Others by their encoding: =6 (0x81 0x06) before =17 (0x81 0x11); a
  // longer list whose start is the same first.
  EXPECT_TRUE(precedes(r({numeric(Type::Protocol, {eq(6)})}), r({numeric(Type::Protocol, {eq(17)})})));
  EXPECT_EQ(encode_ops(numeric(Type::DestinationPort, {eq(6), eq(1024)})),
            (std::vector<std::uint8_t>{0x01, 0x06, 0x91, 0x04, 0x00}));
  EXPECT_FALSE(precedes(r({p24}), r({p24})));
}

TEST(FlowspecLabel, LongRoutesKeepDistinctLabels) {
  std::vector<NumericOp> many;
  for (std::uint64_t p = 1000; p < 1040; ++p) many.push_back(eq(p));
  auto a = route({numeric(Type::DestinationPort, many)});
  many.back().value = 2000;
  auto b = route({numeric(Type::DestinationPort, many)});
  EXPECT_EQ(label(a).size(), 128u);
  EXPECT_NE(label(a), label(b));
  // What the parser takes as a comment.
  rules::Rule x;
  x.comment = label(a);
  EXPECT_TRUE(rules::parse_rule("drop " + rules::to_string(x).substr(5))) << label(a);
}

// A rule set's record holds 243 characters of a rule's text: the label
// gives way, and each rule still names its route.
TEST(FlowspecLabel, RulesFitTheRecordAndKeepTheirRoute) {
  std::vector<NumericOp> lengths, types;
  for (std::uint64_t v = 0; v < 16; ++v) {
    lengths.push_back(eq(100 + 3 * v));
    types.push_back(eq(2 * v));
  }
  auto r = route({prefix(Type::Destination, "198.51.100.0/24"), prefix(Type::Source, "203.0.113.0/24"),
                  numeric(Type::IcmpType, types), numeric(Type::PacketLength, lengths)},
                 discard());
  auto t = translate(r);
  ASSERT_TRUE(t) << t.error().message();
  ASSERT_EQ(t->rules.size(), 1u);
  const std::string text = rules::to_string(t->rules[0]);
  EXPECT_LE(text.size(), rules::kMaxRuleText) << text;
  EXPECT_LT(t->rules[0].comment.size(), kMaxLabel);
  EXPECT_TRUE(t->rules[0].comment.starts_with("flowspec ipv4 destination 198.51.100.0/24"))
      << t->rules[0].comment;
  EXPECT_NE(t->rules[0].comment.find("... #"), std::string::npos);
  EXPECT_TRUE(rules::parse_rule(text)) << text;
}

Event announce(const char* peer, Route r) { return {Event::Kind::Announce, peer, std::move(r)}; }

TEST(FlowspecRib, WithdrawsStaleRoutesEndOfRibAndMaxRules) {
  Settings s;
  s.max_rules = 3;
  s.stale = 10s;
  Rib rib(s);
  const auto t0 = Clock::now();
  auto a = route({prefix(Type::Destination, "198.51.100.0/24")}, discard());
  auto b = route({prefix(Type::Destination, "198.51.100.7/32")}, discard());
  EXPECT_TRUE(rib.apply(announce("p", a), t0));
  EXPECT_TRUE(rib.apply(announce("p", b), t0));
  ASSERT_EQ(rib.rule_texts().size(), 2u);
  EXPECT_NE(rib.rule_texts()[0].find("198.51.100.7"), std::string::npos);  // the /32 first
  EXPECT_FALSE(rib.apply(announce("p", b), t0));                           // the same again
  // Max rules: a route of two more rules does not fit; it waits, counted.
  auto c = route({prefix(Type::Destination, "203.0.113.0/24"), numeric(Type::Protocol, {eq(6), eq(17)})},
                 discard());
  EXPECT_TRUE(rib.apply(announce("p", c), t0));  // a new route; its rules wait
  EXPECT_EQ(rib.rule_texts().size(), 2u);
  EXPECT_EQ(rib.stats().over_limit, 1u);
  // Withdraw frees room.
  EXPECT_TRUE(rib.apply({Event::Kind::Withdraw, "p", a}, t0));
  EXPECT_EQ(rib.rule_texts().size(), 3u);
  EXPECT_EQ(rib.stats().over_limit, 0u);
  EXPECT_FALSE(rib.apply({Event::Kind::Withdraw, "p", a}, t0));
  EXPECT_EQ(rib.stats().unknown_withdraws, 1u);
  // Down: kept for stale, then gone; announced again meanwhile: fresh.
  EXPECT_FALSE(rib.apply({Event::Kind::PeerDown, "p", {}}, t0));
  EXPECT_EQ(rib.stats().stale, 2u);
  EXPECT_EQ(rib.next_expiry(), t0 + 10s);
  EXPECT_FALSE(rib.apply(announce("p", b), t0 + 1s));
  EXPECT_EQ(rib.stats().stale, 1u);
  EXPECT_FALSE(rib.expire(t0 + 9s));
  EXPECT_TRUE(rib.expire(t0 + 10s));
  EXPECT_EQ(rib.stats().routes, 1u);
  // End of RIB removes what was not renewed, of its family.
  rib.apply({Event::Kind::PeerDown, "p", {}}, t0 + 11s);
  Event eor{Event::Kind::EndOfRib, "p", {}};
  eor.route.family = rules::Family::V6;
  EXPECT_FALSE(rib.apply(eor, t0 + 11s));
  eor.route.family = rules::Family::V4;
  EXPECT_TRUE(rib.apply(eor, t0 + 11s));
  EXPECT_TRUE(rib.rule_texts().empty());
}

TEST(FlowspecConsumer, BatchesChangesAndAdoptsTheRulesInForce) {
  std::vector<std::vector<std::string>> installs;
  std::vector<std::string> log;
  const auto t0 = Clock::now();
  const std::string adopted = "drop daddr 192.0.2.1 comment \"flowspec ipv4 destination 192.0.2.1/32\"";
  Consumer c(
      Settings{}, {60s, 5ms, 50ms}, {adopted}, t0,
      [&](const std::vector<std::string>& g) -> Result<void> {
        installs.push_back(g);
        return {};
      },
      [&](const std::string& l) { log.push_back(l); });
  EXPECT_TRUE(c.adopting());
  // 100 announces 1 ms apart: one install 50 ms after the first.
  for (int i = 0; i < 100; ++i) {
    auto r = route({prefix(Type::Destination, fmt::format("198.51.{}.0/24", i).c_str())}, discard());
    c.on_event(announce("p", r), t0 + std::chrono::milliseconds(i));
    c.tick(t0 + std::chrono::milliseconds(i));
  }
  ASSERT_EQ(installs.size(), 1u);
  EXPECT_EQ(installs[0].size(), 52u);  // the 51 routes of the first 50 ms, and the adopted rule
  EXPECT_EQ(installs[0].back(), adopted);
  c.tick(t0 + 200ms);
  ASSERT_EQ(installs.size(), 2u);
  EXPECT_EQ(installs[1].size(), 101u);
  // The end of RIB of IPv4: the adopted IPv4 rule goes.
  Event eor{Event::Kind::EndOfRib, "p", {}};
  c.on_event(eor, t0 + 300ms);
  EXPECT_FALSE(c.adopting());
  c.tick(t0 + 400ms);
  ASSERT_EQ(installs.size(), 3u);
  EXPECT_EQ(installs[2].size(), 100u);
  // A failed install is tried again a second later.
  int fails = 1;
  Consumer d(
      Settings{}, {60s, 5ms, 50ms}, {}, t0,
      [&](const std::vector<std::string>&) -> Result<void> {
        if (fails-- > 0) return fail(ENOENT, "detached");
        return {};
      },
      [&](const std::string& l) { log.push_back(l); });
  d.on_event(announce("p", route({prefix(Type::Destination, "198.51.100.0/24")}, discard())), t0);
  d.tick(t0 + 10ms);
  EXPECT_EQ(d.errors(), 1u);
  EXPECT_EQ(d.deadline(), t0 + 10ms + 1s);
  d.tick(t0 + 500ms);
  EXPECT_EQ(d.installs(), 0u);
  d.tick(t0 + 1010ms);
  EXPECT_EQ(d.installs(), 1u);
  EXPECT_FALSE(d.deadline());
}

}  // namespace
}  // namespace xdpguard::flowspec_test

namespace xdpguard::flowspec_test {
namespace {

std::vector<RuleRecord> records(const std::vector<std::string>& texts) {
  std::vector<RuleRecord> out;
  for (const auto& t : texts) {
    auto r = rules::parse_rule(t);
    EXPECT_TRUE(r) << t;
    out.push_back({static_cast<std::uint32_t>(out.size() + 1),
                   static_cast<std::uint32_t>(out.size()),
                   rules::to_string(*r),
                   *r,
                   {}});
  }
  return out;
}

// guard/groups.h: the local rules and the FlowSpec group, each writer
// leaving the other's rules where they are.
TEST(FlowspecGroups, EachWriterKeepsTheOthersRules) {
  const std::string fa = "drop udp dport 1 comment \"flowspec a\"",
                    fb = "drop udp dport 2 comment \"flowspec b\"";
  const std::string l1 = "pass tcp dport 22", l2 = "drop udp dport 53", l3 = "drop icmp";
  // After the local rules (the default), before them, or alone.
  auto after = records({l1, l2, fa, fb}), before = records({fa, fb, l1, l2}), alone = records({fa});
  EXPECT_EQ(flowspec_place(after), GroupPlace::AfterLocal);
  EXPECT_EQ(flowspec_place(before), GroupPlace::BeforeLocal);
  EXPECT_EQ(flowspec_place(alone), GroupPlace::AfterLocal);
  EXPECT_EQ(flowspec_place({}), GroupPlace::AfterLocal);
  // An apply: new local rules, the group kept at its place.
  EXPECT_EQ(with_local_rules(after, {l3}), (std::vector<std::string>{l3, fa, fb}));
  EXPECT_EQ(with_local_rules(before, {l3, l1}), (std::vector<std::string>{fa, fb, l3, l1}));
  EXPECT_EQ(with_local_rules(alone, {l1}), (std::vector<std::string>{l1, fa}));
  EXPECT_EQ(with_local_rules(records({l1}), {l2}), (std::vector<std::string>{l2}));
  // An install: a new group, the local rules kept in their order.
  EXPECT_EQ(with_flowspec_group(after, {fb}, GroupPlace::AfterLocal), (std::vector<std::string>{l1, l2, fb}));
  EXPECT_EQ(with_flowspec_group(after, {fb}, GroupPlace::BeforeLocal),
            (std::vector<std::string>{fb, l1, l2}));
  EXPECT_EQ(with_flowspec_group(before, {}, GroupPlace::AfterLocal), (std::vector<std::string>{l1, l2}));
  // "flowspec" must be followed by its space: a local rule's comment may
  // start with the word.
  EXPECT_FALSE(in_flowspec_group(*rules::parse_rule("pass comment \"flowspecs\"")));
  EXPECT_TRUE(in_flowspec_group(*rules::parse_rule(fa)));
}

TEST(FlowspecGobgpAddress, HostAndPortOrANamedError) {
  EXPECT_EQ(*parse_gobgp_address("127.0.0.1:50051"),
            (std::pair<std::string, std::string>{"127.0.0.1", "50051"}));
  EXPECT_EQ(*parse_gobgp_address("[fd00::1]:50051"),
            (std::pair<std::string, std::string>{"fd00::1", "50051"}));
  EXPECT_EQ(*parse_gobgp_address("gobgp.lab:1"), (std::pair<std::string, std::string>{"gobgp.lab", "1"}));
  for (const char* bad : {"", "50051", ":50051", "host:", "host:port", "host:0", "host:65536", "host:123456",
                          "-u:1", "a b:1", "[]:1"}) {
    auto r = parse_gobgp_address(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message().find(rules::quote(bad)), std::string::npos) << r.error().message();
  }
}

}  // namespace
}  // namespace xdpguard::flowspec_test
