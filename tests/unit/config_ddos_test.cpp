// The config file's rate-limit parts: rules with limits (checked like every
// rule, errors naming the line, rule and column) and the sizes of the
// kernel's LRU maps.
#include <gtest/gtest.h>

#include "config/config.h"
#include "support/config_text.h"
#include "rules/printer.h"

namespace xdpguard::config {
namespace {

using test::config_error;

TEST(ConfigDdos, LimitsAndMapSizes) {
  auto c = parse_config(R"([interfaces.eth1]
limit-buckets = 1000000
block-entries = 4096
rules = [
  "drop tcp tcp-flags syn,!ack limit over 200/s burst 400 per saddr",
  "drop udp dport 53 limit over 50000/s",
  "drop ip udp limit over 10000/s per saddr/24 block 60s",
]
[interfaces.eth2]
rules = ["drop ip6 limit over 5/m per saddr/64"]
)",
                        "/etc/xdpguard.toml");
  ASSERT_TRUE(c) << c.error().message();
  const Interface* e1 = c->find_interface("eth1");
  ASSERT_NE(e1, nullptr);
  EXPECT_EQ(e1->limit_buckets, 1000000u);
  EXPECT_EQ(e1->block_entries, 4096u);
  ASSERT_EQ(e1->rules.size(), 3u);
  ASSERT_TRUE(e1->rules[2].rule.limit);
  EXPECT_EQ(e1->rules[2].rule.limit->block_seconds, 60u);
  EXPECT_EQ(rules::to_string(e1->rules[0].rule),
            "drop tcp tcp-flags syn,!ack limit over 200/s burst 400 per saddr");
  EXPECT_TRUE(e1->warnings.empty());
  const Interface* e2 = c->find_interface("eth2");
  ASSERT_NE(e2, nullptr);
  EXPECT_EQ(e2->limit_buckets, 0u);  // xdpguard's default
  EXPECT_EQ(e2->rules[0].rule.limit->len6, 64);
}

TEST(ConfigDdos, Errors) {
  EXPECT_EQ(
      config_error("[interfaces.eth1]\nrules = [\n  \"drop udp limit over 0/s\",\n]\n"),
      "/etc/xdpguard.toml line 3: rule 1, column 21: a limit of 0 packets can never be kept: expected a rate "
      "of at least 1");
  EXPECT_EQ(config_error("[interfaces.eth1]\nrules = [\"pass\", \"drop limit over 5/s burst 0\"]\n"),
            "/etc/xdpguard.toml line 2: rule 2, column 27: burst must be at least 1 packet, got 0");
  EXPECT_EQ(
      config_error("[interfaces.eth1]\nlimit-buckets = 0\n"),
      "/etc/xdpguard.toml line 2: interface eth1: expected limit-buckets to be a number from 1 to 16777216, "
      "got 0");
  EXPECT_EQ(
      config_error("[interfaces.eth1]\nblock-entries = \"many\"\n"),
      "/etc/xdpguard.toml line 2: interface eth1: expected block-entries to be a number from 1 to 16777216, "
      "got a string");
}

// [ddos] never-block and [guard] management: prefixes a rule's `block` never
// blocks (docs/ddos.md).
TEST(ConfigDdos, NeverBlockAndManagementPrefixes) {
  auto c = parse_config(R"([ddos]
never-block = ["192.0.2.53", "2001:db8:1::/48"]
[guard]
management = ["198.51.100.0/24"]
)",
                        "/etc/xdpguard.toml");
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_EQ(c->never_block.size(), 2u);
  EXPECT_EQ(rules::prefix_to_string(c->never_block[0]), "192.0.2.53");
  EXPECT_EQ(rules::prefix_to_string(c->never_block[1]), "2001:db8:1::/48");
  ASSERT_EQ(c->management.size(), 1u);
  EXPECT_EQ(rules::prefix_to_string(c->management[0]), "198.51.100.0/24");

  EXPECT_EQ(
      config_error("[ddos]\nnever-block = [\"192.0.2.300\"]\n"),
      "/etc/xdpguard.toml line 2: [ddos] never-block element 1: expected an IPv4 or IPv6 prefix in quotes, "
      "got \"192.0.2.300\"");
  EXPECT_EQ(
      config_error("[ddos]\nnever-block = [1]\n"),
      "/etc/xdpguard.toml line 2: [ddos] never-block element 1: expected an IPv4 or IPv6 prefix in quotes, "
      "got an integer");
  EXPECT_EQ(config_error("[ddos]\nnever-block = \"192.0.2.1\"\n"),
            "/etc/xdpguard.toml line 2: [ddos] never-block: expected a list of prefixes, got a string");
  EXPECT_EQ(config_error("[ddos]\nneverblock = []\n"),
            "/etc/xdpguard.toml line 2: unknown key \"neverblock\" in [ddos] (expected never-block)");
  EXPECT_EQ(
      config_error("[guard]\nmanagement = [\"::/129\"]\n"),
      "/etc/xdpguard.toml line 2: [guard] management element 1: expected an IPv4 or IPv6 prefix in quotes, "
      "got \"::/129\"");
  EXPECT_EQ(config_error("ddos = 1\n"), "/etc/xdpguard.toml line 1: expected a [ddos] table, got an integer");
  std::string many = "[ddos]\nnever-block = [";
  for (int i = 0; i < 257; ++i) many += "\"192.0.2." + std::to_string(i % 256) + "\",";
  many += "]\n";
  EXPECT_EQ(config_error(many),
            "/etc/xdpguard.toml: 257 never-block and management prefixes, the limit is 256");
}

}  // namespace
}  // namespace xdpguard::config
