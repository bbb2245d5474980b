// The lockout guard's probes (simulate/lockout.h): which packets stand for
// the operator's ways in, built from what the host says; SSH_CONNECTION's
// syntax. Whether the pipeline passes them is LockoutTest's (e2e).
#include <gtest/gtest.h>

#include "rules/parser.h"
#include "simulate/lockout.h"

namespace xdpguard::simulate {
namespace {

HostFacts facts() {
  HostFacts h;
  h.iface = "eth1";
  h.mac = {0x02, 0, 0, 0, 0, 0x10};
  h.addrs.push_back({*rules::parse_prefix("198.18.0.1"), 24, false});
  h.addrs.push_back({*rules::parse_prefix("fe80::10"), 64, false});
  h.addrs.push_back({*rules::parse_prefix("fd00::10"), 64, false});
  return h;
}

std::vector<std::string> whats(const std::vector<Probe>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(p.what);
  return out;
}

TEST(LockoutProbes, SshConnectionIsParsedOrNamed) {
  auto s = parse_ssh_connection("198.18.0.2 50122 198.18.0.1 22");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->client_port, 50122);
  EXPECT_EQ(s->server_port, 22);
  EXPECT_EQ(s->server, *rules::parse_prefix("198.18.0.1"));
  EXPECT_TRUE(parse_ssh_connection("fd00::2 1 fd00::1 2222"));
  for (const char* bad :
       {"", "198.18.0.2 50122 198.18.0.1", "198.18.0.2 x 198.18.0.1 22", "198.18.0.2 0 198.18.0.1 22",
        "198.18.0.2 1 fd00::1 22", "198.18.0.0/24 1 198.18.0.1 22", "198.18.0.2 1 198.18.0.1 65536"}) {
    auto r = parse_ssh_connection(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message().rfind(
                  "SSH_CONNECTION: expected \"CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT\"", 0),
              0u)
        << r.error().message();
  }
}

TEST(LockoutProbes, ArpAndNeighbourDiscoveryForEachAddress) {
  const auto p = probes(facts());
  EXPECT_EQ(whats(p), (std::vector<std::string>{
                          "ARP request for 198.18.0.1",
                          "ARP reply from 198.18.0.3 to 198.18.0.1",
                          "IPv6 neighbour solicitation for fe80::10",
                          "IPv6 neighbour solicitation for fd00::10",
                          "IPv6 neighbour advertisement from fe80::2 to fe80::10",
                          "IPv6 router advertisement from fe80::1",
                      }));
  // The ARP request: broadcast, EtherType ARP, asking for 198.18.0.1.
  const auto& arp = p[0].frame;
  ASSERT_EQ(arp.size(), 42u);
  EXPECT_EQ(std::vector<std::uint8_t>(arp.begin(), arp.begin() + 6), std::vector<std::uint8_t>(6, 0xff));
  EXPECT_EQ(arp[12], 0x08);
  EXPECT_EQ(arp[13], 0x06);
  EXPECT_EQ(std::vector<std::uint8_t>(arp.end() - 4, arp.end()), (std::vector<std::uint8_t>{198, 18, 0, 1}));
  // The solicitation goes to the address's solicited-node group.
  const auto& ns = p[2].frame;
  EXPECT_EQ(ns[12], 0x86);
  EXPECT_EQ(ns[14 + 6], 58);     // ICMPv6
  EXPECT_EQ(ns[14 + 7], 255);    // hop limit
  EXPECT_EQ(ns[14 + 24], 0xff);  // ff02::1:ff00:10
  EXPECT_EQ(ns[14 + 40], 135);
}

TEST(LockoutProbes, TheSessionManagementAndLeases) {
  auto h = facts();
  h.ssh = *parse_ssh_connection("198.18.0.2 50122 198.18.0.1 2222");
  h.management = {*rules::parse_prefix("198.19.7.0/24"), *rules::parse_prefix("fd01::/64")};
  h.addrs[0].leased = true;
  h.gateway4 = *rules::parse_prefix("198.18.0.254");
  h.addrs.push_back({*rules::parse_prefix("fd00::99"), 128, true});
  const auto w = whats(probes(h));
  auto has = [&](const std::string& s) { return std::find(w.begin(), w.end(), s) != w.end(); };
  EXPECT_TRUE(has("the SSH session 198.18.0.2:50122 -> 198.18.0.1:2222 (a TCP segment of it)"));
  EXPECT_TRUE(has("a new SSH connection from 198.18.0.2 to 198.18.0.1:2222 (TCP SYN)"));
  EXPECT_TRUE(has("DHCP reply from 198.18.0.254 to 198.18.0.1 (UDP 67 -> 68)"));
  EXPECT_TRUE(has("DHCPv6 reply from fe80::1 (UDP 547 -> 546)"));
  EXPECT_TRUE(has("management 198.19.7.0/24: a connection from 198.19.7.1 to 198.18.0.1:2222 (TCP SYN)"));
  EXPECT_TRUE(has("management fd01::/64: a connection from fd01::1 to fd00::10:2222 (TCP SYN)"));
}

TEST(LockoutProbes, NothingToCutWithoutAddresses) {
  HostFacts h;
  h.iface = "eth9";
  EXPECT_TRUE(probes(h).empty());
}

TEST(LockoutProbes, TheRefusalIsOneLineGroupedByRule) {
  std::vector<Cut> cuts = {{"ARP request for 198.18.0.1", "the non-IP/malformed action", "drop"},
                           {"IPv6 router advertisement from fe80::1", "the default action", "drop"},
                           {"IPv6 neighbour solicitation for fe80::10", "the default action", "drop"},
                           {"a new SSH connection", "the default action", "drop"}};
  EXPECT_EQ(
      refusal("eth1", cuts),
      "refused: it would cut the operator off eth1: the non-IP/malformed action would drop ARP request for "
      "198.18.0.1; the default action would drop IPv6 router advertisement from fe80::1, IPv6 neighbour "
      "solicitation for fe80::10 and a new SSH connection. Allow them first, or make the change with --force "
      "(config: [guard] lockout-guard = false)");
}

}  // namespace
}  // namespace xdpguard::simulate
