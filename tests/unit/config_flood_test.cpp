// The config file's flood detection: a top-level [flood] for every
// interface, [interfaces.NAME.flood] over it key by key; bad values and
// unknown keys fail naming the file, the line, the table and what was
// expected.
#include <gtest/gtest.h>

#include "config/config.h"
#include "support/config_text.h"

namespace xdpguard::config {
namespace {

using test::config_error;

TEST(ConfigFlood, TopLevelForEveryInterfaceAndOverridesPerInterface) {
  auto c = parse_config(R"([interfaces.eth1.flood]
udp-pps = 50000
top-sources = 0

[interfaces.eth2]
rules = ["pass"]

[interfaces.eth3]
flood = { syn-pps = 0 }

[flood]
syn-pps = 20000
udp-pps = 200000
icmp-pps = 5000
frag-pps = 1000
hold = 30
)",
                        "/etc/xdpguard.toml");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->flood.syn_pps, 20000u);
  EXPECT_EQ(c->flood.udp_pps, 200000u);
  EXPECT_EQ(c->flood.icmp_pps, 5000u);
  EXPECT_EQ(c->flood.frag_pps, 1000u);
  EXPECT_EQ(c->flood.hold, 30u);
  EXPECT_FALSE(c->flood.top_sources);

  // [flood] comes after the interfaces in the file: it applies all the same.
  const Interface* e1 = c->find_interface("eth1");
  ASSERT_NE(e1, nullptr);
  EXPECT_EQ(e1->flood.udp_pps, 50000u);
  EXPECT_EQ(e1->flood.syn_pps, 20000u);
  EXPECT_EQ(e1->flood.hold, 30u);
  EXPECT_EQ(e1->flood.top_sources, 0u);
  const Interface* e2 = c->find_interface("eth2");
  ASSERT_NE(e2, nullptr);
  EXPECT_EQ(e2->flood, c->flood);
  const Interface* e3 = c->find_interface("eth3");
  ASSERT_NE(e3, nullptr);
  EXPECT_EQ(e3->flood.syn_pps, 0u) << "0 turns one protocol off for one interface";
  EXPECT_EQ(e3->flood.udp_pps, 200000u);
}

TEST(ConfigFlood, NothingSetIsNothingSet) {
  auto c = parse_config("[interfaces.eth1]\nrules = []\n", "/etc/xdpguard.toml");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_FALSE(c->flood.any());
  EXPECT_FALSE(c->interfaces[0].flood.any());
  Flood f;
  f.hold = 5;
  EXPECT_TRUE(f.any());
}

TEST(ConfigFlood, BadValuesNameTheLineTheTableAndWhatWasExpected) {
  EXPECT_EQ(config_error("[flood]\nudp-pps = -5\n"),
            "/etc/xdpguard.toml line 2: [flood]: expected udp-pps to be packets per second, a whole number "
            "from 0 (not watched) to 1000000000000, got -5");
  EXPECT_EQ(config_error("[flood]\nsyn-pps = 1000000000001\n"),
            "/etc/xdpguard.toml line 2: [flood]: expected syn-pps to be packets per second, a whole number "
            "from 0 (not watched) to 1000000000000, got 1000000000001");
  EXPECT_EQ(config_error("[flood]\nicmp-pps = \"5k\"\n"),
            "/etc/xdpguard.toml line 2: [flood]: expected icmp-pps to be packets per second, a whole number "
            "from 0 (not watched) to 1000000000000, got a string");
  EXPECT_EQ(config_error("[flood]\nfrag-pps = 1.5\n"),
            "/etc/xdpguard.toml line 2: [flood]: expected frag-pps to be packets per second, a whole number "
            "from 0 (not watched) to 1000000000000, got a float");
  EXPECT_EQ(config_error("[flood]\nhold = 0\n"),
            "/etc/xdpguard.toml line 2: [flood]: expected hold to be seconds, a whole number from 1 to 3600, "
            "got 0");
  EXPECT_EQ(config_error("[interfaces.eth1]\nrules = []\n[interfaces.eth1.flood]\n\nhold = \"10s\"\n"),
            "/etc/xdpguard.toml line 5: [interfaces.eth1.flood]: expected hold to be seconds, a whole number "
            "from 1 to 3600, got a string");
  EXPECT_EQ(config_error("[interfaces.eth1.flood]\ntop-sources = 11\n"),
            "/etc/xdpguard.toml line 2: [interfaces.eth1.flood]: expected top-sources to be a number from 0 "
            "to 10, got 11");
  EXPECT_EQ(config_error("[flood]\nudp_pps = 5\n"),
            "/etc/xdpguard.toml line 2: unknown key \"udp_pps\" in [flood] (expected syn-pps, udp-pps, "
            "icmp-pps, frag-pps, hold or top-sources)");
  EXPECT_EQ(config_error("flood = 5\n"),
            "/etc/xdpguard.toml line 1: [flood]: expected a table, got an integer");
  EXPECT_EQ(config_error("[interfaces.eth1]\nflood = [1]\n"),
            "/etc/xdpguard.toml line 2: [interfaces.eth1.flood]: expected a table, got an array");
  EXPECT_EQ(config_error("[floods]\n"),
            "/etc/xdpguard.toml line 1: unknown key \"floods\" at the top level (expected interfaces, sets, "
            "flood, ddos, guard or flowspec)");
}

// [interfaces.NAME.synproxy] and talkers: what `apply` turns on and off.
TEST(ConfigSynproxy, SettingsAndTalkers) {
  auto c = parse_config(R"([interfaces.eth1]
talkers = true
[interfaces.eth1.synproxy]
ports = [443, 80]
mss4 = 1400
ttl = 60

[interfaces.eth2]
rules = []
)",
                        "/etc/xdpguard.toml");
  ASSERT_TRUE(c) << c.error().message();
  const Interface* e1 = c->find_interface("eth1");
  ASSERT_NE(e1, nullptr);
  EXPECT_TRUE(e1->talkers);
  ASSERT_TRUE(e1->synproxy);
  EXPECT_EQ(e1->synproxy->ports, (std::vector<std::uint16_t>{443, 80}));
  EXPECT_EQ(e1->synproxy->mss4, 1400);
  EXPECT_EQ(e1->synproxy->mss6, 1440) << "the default";
  EXPECT_EQ(e1->synproxy->wscale, 7) << "the default";
  EXPECT_EQ(e1->synproxy->ttl, 60);
  EXPECT_EQ(e1->synproxy->line, 3u);
  const Interface* e2 = c->find_interface("eth2");
  ASSERT_NE(e2, nullptr);
  EXPECT_FALSE(e2->talkers);
  EXPECT_FALSE(e2->synproxy) << "absent: off";
}

TEST(ConfigSynproxy, BadValuesNameTheLineAndWhatWasExpected) {
  const std::string head = "[interfaces.eth1.synproxy]\n";
  EXPECT_EQ(
      config_error(head + "ports = [80, 0]\n"),
      "/etc/xdpguard.toml line 2: [interfaces.eth1.synproxy]: expected each port to be a number from 1 to "
      "65535, got 0");
  EXPECT_EQ(config_error(head + "ports = []\n"),
            "/etc/xdpguard.toml line 2: [interfaces.eth1.synproxy]: expected ports to be an array of port "
            "numbers, got an empty array");
  EXPECT_EQ(config_error(head + "ports = \"80\"\n"),
            "/etc/xdpguard.toml line 2: [interfaces.eth1.synproxy]: expected ports to be an array of port "
            "numbers, got a string");
  EXPECT_EQ(config_error(head + "mss4 = 100\nports = [80]\n"),
            "/etc/xdpguard.toml line 2: [interfaces.eth1.synproxy]: expected mss4 to be a number from 536 to "
            "65535, got 100");
  EXPECT_EQ(
      config_error(head + "wscale = 15\n"),
      "/etc/xdpguard.toml line 2: [interfaces.eth1.synproxy]: expected wscale to be a number from 0 to 14, "
      "got 15");
  EXPECT_EQ(config_error(head + "ttl = 7\n"),
            "/etc/xdpguard.toml line 1: [interfaces.eth1.synproxy]: expected ports (the TCP ports it answers "
            "SYNs for)");
  EXPECT_EQ(config_error(head + "port = [80]\n"),
            "/etc/xdpguard.toml line 2: unknown key \"port\" in [interfaces.eth1.synproxy] (expected ports, "
            "mss4, mss6, wscale or ttl)");
  EXPECT_EQ(config_error("[interfaces.eth1]\ntalkers = \"yes\"\n"),
            "/etc/xdpguard.toml line 2: interface eth1: expected talkers to be true or false, got a string");
}

}  // namespace
}  // namespace xdpguard::config
