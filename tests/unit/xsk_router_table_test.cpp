// The xsk_router example's routing table (examples/xsk_router/table.h): the
// file's syntax, errors naming the line and the token, and the longest
// prefix match in both families, checked against a bit-by-bit reference.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <random>

#include "rules/parser.h"
#include "rules/printer.h"
#include "xsk_router/table.h"

namespace xsk_router {
namespace {

using xdpguard::rules::Family;
using Addr = std::array<std::uint8_t, 16>;

Addr v4(std::string_view text) {
  auto a = xdpguard::rules::parse_ipv4(text);
  EXPECT_TRUE(a) << text;
  Addr out{};
  if (a) std::copy(a->begin(), a->end(), out.begin());
  return out;
}

Addr v6(std::string_view text) {
  auto a = xdpguard::rules::parse_ipv6(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(Addr{});
}

Table parsed(std::string_view text) {
  auto t = parse_table(text);
  EXPECT_TRUE(t) << t.error().message();
  return t ? std::move(*t) : Table{};
}

// The prefix of the route lookup() picks ("none" without one).
std::string route_for(const Table& t, Family f, const Addr& a) {
  auto i = t.lookup(f, a);
  return i ? xdpguard::rules::prefix_to_string(t.routes()[*i].prefix) : "none";
}

std::string error_of(std::string_view text) {
  auto t = parse_table(text);
  if (t) return "parsed";
  EXPECT_EQ(t.error().code(), EINVAL);
  return t.error().message();
}

TEST(XskRouterTable, BothFamiliesCommentsBlankLinesTabsAndCrlf) {
  const Table t = parsed(
      "# PREFIX OUT_IFACE NEXT_HOP_MAC\n"
      "\n"
      "198.18.1.0/24 veth-o 02:00:00:00:00:02\n"
      "\tfd00:1::/64\tveth-o\t02:00:00:00:00:02   # the far host\n"
      "198.18.3.0/24  veth-p  0A:bc:DE:f0:00:03\r\n"
      "   \n"
      "198.18.3.7 veth-p 02:00:00:00:00:04");  // a bare address: a host route; no final newline
  ASSERT_EQ(t.routes().size(), 4u);
  const Route& r0 = t.routes()[0];
  EXPECT_EQ(xdpguard::rules::prefix_to_string(r0.prefix), "198.18.1.0/24");
  EXPECT_EQ(r0.ifname, "veth-o");
  EXPECT_EQ(mac_to_string(r0.next_hop), "02:00:00:00:00:02");
  EXPECT_EQ(r0.line, 3u);
  EXPECT_EQ(t.routes()[1].prefix.family, Family::V6);
  EXPECT_EQ(xdpguard::rules::prefix_to_string(t.routes()[1].prefix), "fd00:1::/64");
  EXPECT_EQ(t.routes()[1].line, 4u);
  EXPECT_EQ(mac_to_string(t.routes()[2].next_hop), "0a:bc:de:f0:00:03");
  EXPECT_EQ(t.routes()[3].prefix.len, 32);
  EXPECT_EQ(t.routes()[3].line, 7u);
  EXPECT_EQ(t.interfaces(), (std::vector<std::string>{"veth-o", "veth-p"}));
}

TEST(XskRouterTable, HostBitsAreCleared) {
  const Table t = parsed("198.18.1.77/24 o 02:00:00:00:00:02\nfd00:1::99/64 o 02:00:00:00:00:02\n");
  EXPECT_EQ(xdpguard::rules::prefix_to_string(t.routes()[0].prefix), "198.18.1.0/24");
  EXPECT_EQ(xdpguard::rules::prefix_to_string(t.routes()[1].prefix), "fd00:1::/64");
}

TEST(XskRouterTable, BadLinesAreNamedWithTheirToken) {
  const std::string ok = "198.18.0.0/15 o 02:00:00:00:00:02\n# a comment\n";
  auto third = [&](const std::string& line) { return error_of(ok + line + "\n"); };
  EXPECT_EQ(third("198.18.1.0/33 o 02:00:00:00:00:02"), "line 3: \"198.18.1.0/33\": prefix length over 32");
  EXPECT_EQ(third("fd00:1::/129 o 02:00:00:00:00:02"), "line 3: \"fd00:1::/129\": prefix length over 128");
  EXPECT_EQ(third("198.18.1.0/99999999999999999999999 o 02:00:00:00:00:02"),
            "line 3: \"198.18.1.0/99999999999999999999999\": expected ADDR/LEN with LEN 0-32");
  EXPECT_EQ(third("198.18.1.0/x o 02:00:00:00:00:02"),
            "line 3: \"198.18.1.0/x\": expected ADDR/LEN with LEN 0-32");
  EXPECT_EQ(third("fd00::/ o 02:00:00:00:00:02"), "line 3: \"fd00::/\": expected ADDR/LEN with LEN 0-128");
  EXPECT_EQ(third("198.18.1/24 o 02:00:00:00:00:02"), "line 3: \"198.18.1/24\": not an IPv4 or IPv6 prefix");
  EXPECT_EQ(third("198.18.01.0/24 o 02:00:00:00:00:02"),
            "line 3: \"198.18.01.0/24\": not an IPv4 or IPv6 prefix");
  EXPECT_EQ(third("veth-o 198.18.1.0/24 02:00:00:00:00:02"),
            "line 3: \"veth-o\": not an IPv4 or IPv6 prefix");
  EXPECT_EQ(third("198.18.1.0/24 a/b 02:00:00:00:00:02"), "line 3: \"a/b\": not an interface name");
  EXPECT_EQ(third("198.18.1.0/24 sixteen-chars-xx 02:00:00:00:00:02"),
            "line 3: \"sixteen-chars-xx\": not an interface name");
  EXPECT_EQ(third("198.18.1.0/24 o 02:00:00:00:00"),
            "line 3: \"02:00:00:00:00\": not a MAC address (six hex pairs, as 02:00:00:00:00:02)");
  EXPECT_EQ(third("198.18.1.0/24 o 02-00-00-00-00-02"),
            "line 3: \"02-00-00-00-00-02\": not a MAC address (six hex pairs, as 02:00:00:00:00:02)");
  EXPECT_EQ(third("198.18.1.0/24 o 02:00:00:00:00:0g"),
            "line 3: \"02:00:00:00:00:0g\": not a MAC address (six hex pairs, as 02:00:00:00:00:02)");
  EXPECT_EQ(third("  198.18.1.0/24   o  "),
            "line 3: expected PREFIX OUT_IFACE NEXT_HOP_MAC, got \"198.18.1.0/24   o\"");
  EXPECT_EQ(third("198.18.1.0/24 o 02:00:00:00:00:02 metric 5"),
            "line 3: \"metric\": unexpected after the next hop's MAC");
  // The same prefix twice, also once host bits are cleared: which one would win is no one's guess.
  EXPECT_EQ(third("198.18.0.9/15 p 02:00:00:00:00:03"),
            "line 3: \"198.18.0.9/15\": the same prefix as line 1");
  EXPECT_EQ(error_of(""), "no routes (one a line: PREFIX OUT_IFACE NEXT_HOP_MAC)");
  EXPECT_EQ(error_of("# only comments\n\n  \n"), "no routes (one a line: PREFIX OUT_IFACE NEXT_HOP_MAC)");
}

TEST(XskRouterLookup, OverlappingPrefixesTheLongestWinsWhateverTheOrder) {
  // Shorter prefixes first in one table, last in the other.
  const std::vector<std::string> lines = {
      "198.18.0.0/15 a 02:00:00:00:00:01",         "198.18.1.0/24 b 02:00:00:00:00:02",
      "198.18.1.128/25 c 02:00:00:00:00:03",       "198.18.1.200/31 d 02:00:00:00:00:04",
      "198.18.1.201/32 e 02:00:00:00:00:05",       "fd00::/8 a 02:00:00:00:00:01",
      "fd00:1::/64 b 02:00:00:00:00:02",           "fd00:1::8000:0:0:0/65 c 02:00:00:00:00:03",
      "fd00:1::8000:0:0:1/128 d 02:00:00:00:00:04"};
  std::string up, down;
  for (const auto& l : lines) up += l + "\n";
  const std::vector<std::string> reversed(lines.rbegin(), lines.rend());
  for (const auto& l : reversed) down += l + "\n";
  for (const std::string& text : {up, down}) {
    SCOPED_TRACE(text);
    const Table t = parsed(text);
    EXPECT_EQ(route_for(t, Family::V4, v4("198.19.255.255")), "198.18.0.0/15");
    EXPECT_EQ(route_for(t, Family::V4, v4("198.18.0.1")), "198.18.0.0/15");
    EXPECT_EQ(route_for(t, Family::V4, v4("198.18.1.1")), "198.18.1.0/24");
    EXPECT_EQ(route_for(t, Family::V4, v4("198.18.1.127")), "198.18.1.0/24");
    EXPECT_EQ(route_for(t, Family::V4, v4("198.18.1.128")), "198.18.1.128/25");
    EXPECT_EQ(route_for(t, Family::V4, v4("198.18.1.199")), "198.18.1.128/25");
    EXPECT_EQ(route_for(t, Family::V4, v4("198.18.1.200")), "198.18.1.200/31");
    EXPECT_EQ(route_for(t, Family::V4, v4("198.18.1.201")), "198.18.1.201");
    EXPECT_EQ(route_for(t, Family::V4, v4("198.18.1.202")), "198.18.1.128/25");
    EXPECT_EQ(route_for(t, Family::V4, v4("198.20.0.0")), "none");
    EXPECT_EQ(route_for(t, Family::V4, v4("198.17.255.255")), "none");
    EXPECT_EQ(route_for(t, Family::V6, v6("fd00:2::1")), "fd00::/8");
    EXPECT_EQ(route_for(t, Family::V6, v6("fd00:1::1")), "fd00:1::/64");
    EXPECT_EQ(route_for(t, Family::V6, v6("fd00:1::8000:0:0:0")), "fd00:1:0:0:8000::/65");
    EXPECT_EQ(route_for(t, Family::V6, v6("fd00:1::8000:0:0:1")), "fd00:1::8000:0:0:1")
        << "a host route prints bare";
    EXPECT_EQ(route_for(t, Family::V6, v6("fd00:1::ffff:0:0:1")), "fd00:1:0:0:8000::/65");
    EXPECT_EQ(route_for(t, Family::V6, v6("fe80::1")), "none");
    // The families do not mix: an IPv6 address whose first bytes look like
    // 198.18.1.1 has no IPv4 route, and the other way round.
    EXPECT_EQ(route_for(t, Family::V6, v6("c612:101::")), "none");
    EXPECT_EQ(route_for(t, Family::V4, v4("253.0.0.1")), "none");
  }
}

TEST(XskRouterLookup, DefaultRoutesTakeWhatNothingLongerTakesInTheirFamily) {
  const Table t = parsed(
      "0.0.0.0/0 def4 02:00:00:00:00:0a\n"
      "::/0 def6 02:00:00:00:00:0b\n"
      "198.18.1.0/24 b 02:00:00:00:00:02\n"
      "fd00:1::/64 b 02:00:00:00:00:02\n");
  EXPECT_EQ(route_for(t, Family::V4, v4("198.18.1.9")), "198.18.1.0/24");
  EXPECT_EQ(route_for(t, Family::V4, v4("198.18.2.9")), "0.0.0.0/0");
  EXPECT_EQ(route_for(t, Family::V4, v4("0.0.0.0")), "0.0.0.0/0");
  EXPECT_EQ(route_for(t, Family::V4, v4("255.255.255.255")), "0.0.0.0/0");
  EXPECT_EQ(route_for(t, Family::V6, v6("fd00:1::9")), "fd00:1::/64");
  EXPECT_EQ(route_for(t, Family::V6, v6("fd00:2::9")), "::/0");
  EXPECT_EQ(route_for(t, Family::V6, v6("::")), "::/0");
  EXPECT_EQ(t.routes()[*t.lookup(Family::V6, v6("2001:db8::1"))].ifname, "def6");

  const Table only4 = parsed("0.0.0.0/0 def4 02:00:00:00:00:0a\n");
  EXPECT_EQ(route_for(only4, Family::V4, v4("203.0.113.1")), "0.0.0.0/0");
  EXPECT_EQ(route_for(only4, Family::V6, v6("::")), "none") << "0.0.0.0/0 is IPv4's default only";
}

// Random tables against the definition: of the routes whose first LEN bits
// are the address's, the one with the largest LEN.
TEST(XskRouterLookup, AgreesWithABitByBitReferenceOnRandomTables) {
  std::mt19937 rng(19);
  auto bit = [](const Addr& a, unsigned i) { return (a[i / 8] >> (7 - i % 8)) & 1; };
  for (int round = 0; round < 20; ++round) {
    const bool six = round % 2;
    const unsigned width = six ? 128 : 32;
    // Prefixes near each other (a few random top bits over a shared base), so that they overlap.
    Addr base{};
    for (unsigned i = 0; i < width / 8; ++i) base[i] = static_cast<std::uint8_t>(rng());
    auto near = [&] {
      Addr a = base;
      for (unsigned i = 0; i < width; ++i)
        if (rng() % 5 == 0) a[i / 8] ^= static_cast<std::uint8_t>(1u << (7 - i % 8));
      return a;
    };
    std::string text;
    for (int r = 0; r < 40; ++r) {
      xdpguard::rules::Prefix p;
      p.family = six ? Family::V6 : Family::V4;
      p.addr = near();
      p.len = static_cast<std::uint8_t>(rng() % (width + 1));
      xdpguard::rules::clear_host_bits(p);
      const std::string s = xdpguard::rules::prefix_to_string(p);
      if (text.find("\n" + s + " ") == std::string::npos)  // no duplicates
        text += fmt::format("\n{} o{} 02:00:00:00:00:01", s, r);
    }
    const Table t = parsed(text);
    for (int k = 0; k < 500; ++k) {
      const Addr a = near();
      std::optional<std::size_t> want;
      for (std::size_t i = 0; i < t.routes().size(); ++i) {
        const auto& p = t.routes()[i].prefix;
        bool in = true;
        for (unsigned b = 0; b < p.len && in; ++b) in = bit(p.addr, b) == bit(a, b);
        if (in && (!want || p.len > t.routes()[*want].prefix.len)) want = i;
      }
      ASSERT_EQ(t.lookup(six ? Family::V6 : Family::V4, a), want) << text;
    }
  }
}

}  // namespace
}  // namespace xsk_router
