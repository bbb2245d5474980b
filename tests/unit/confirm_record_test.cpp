// Commit-confirm's record (confirm/record.h): its JSON both ways, bad
// records named by key, and the --confirm window's syntax.
#include <gtest/gtest.h>

#include "confirm/record.h"
#include "rules/parser.h"

namespace xdpguard::confirm {
namespace {

Record sample() {
  Record r;
  r.iface = "eth1";
  r.ifindex = 4;
  r.netns_id = 4026531840;
  r.attached = true;
  r.meta_id = 77;
  r.state.default_action = 1;
  r.state.non_ip_action = 2;
  r.state.malformed_action = 1;
  r.state.rules = {"pass tcp dport 22", "drop saddr @bl"};
  r.state.never_block = {*rules::parse_prefix("192.0.2.0/24"), *rules::parse_prefix("2001:db8::/32")};
  r.state.kept_sets.push_back({"bl", 0x1234567890abcdefULL,
                               "/sys/fs/bpf/xdpguard/ns4026531840/4/confirm/set4_0",
                               "/sys/fs/bpf/xdpguard/ns4026531840/4/confirm/set6_0"});
  r.flood.pps = {20000, 0, 5000, 0};
  r.flood.hold_s = 7;
  r.extras.talkers = true;
  SynproxyConfig sp;
  sp.ports = {80, 443};
  r.extras.synproxy = sp;
  r.deadline_boot_ms = 123456;
  r.deadline_unix = 1796544285.5;
  r.armed_unix = 1796544225.25;
  r.changes = {"apply --config /etc/xdpguard.toml", "rule add eth1 \"drop udp dport 7\""};
  r.making_pid = 4711;
  r.making_start = 123456789;
  return r;
}

TEST(ConfirmRecord, WrittenAndReadBackIsTheSame) {
  const Record r = sample();
  auto back = from_json(to_json(r), "f");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->iface, r.iface);
  EXPECT_EQ(back->meta_id, r.meta_id);
  EXPECT_EQ(back->state.rules, r.state.rules);
  EXPECT_EQ(back->state.never_block, r.state.never_block);
  EXPECT_EQ(back->state.kept_sets, r.state.kept_sets);
  EXPECT_EQ(back->state.default_action, 1u);
  EXPECT_EQ(back->flood, r.flood);
  EXPECT_TRUE(back->extras.talkers);
  ASSERT_TRUE(back->extras.synproxy);
  EXPECT_EQ(back->extras.synproxy->ports, (std::vector<std::uint16_t>{80, 443}));
  EXPECT_EQ(back->deadline_boot_ms, r.deadline_boot_ms);
  EXPECT_EQ(back->changes, r.changes);
  EXPECT_EQ(back->making_pid, 4711u);
  EXPECT_EQ(back->making_start, 123456789u);
  EXPECT_EQ(to_json(*back), to_json(r));
}

// Landed (making_pid 0): "making" is null. A record of an xdpguard before
// the field has none: read as landed.
TEST(ConfirmRecord, AChangeThatLandedAndAnOlderRecordNameNoMaker) {
  Record r = sample();
  r.making_pid = 0;
  r.making_start = 0;
  const std::string j = to_json(r);
  EXPECT_NE(j.find("\"making\": null"), std::string::npos) << j;
  auto back = from_json(j, "f");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->making_pid, 0u);
  std::string older = j;
  older.erase(older.find("\"making\": null,"), std::string("\"making\": null,").size());
  auto old = from_json(older, "f");
  ASSERT_TRUE(old) << old.error().message();
  EXPECT_EQ(old->making_pid, 0u);
}

TEST(ConfirmRecord, BadRecordsAreNamedByKey) {
  auto err = [](const std::string& text) {
    auto r = from_json(text, "/run/xdpguard/ns1-4.confirm");
    return r ? std::string("accepted") : r.error().message();
  };
  EXPECT_EQ(err("not json"), "/run/xdpguard/ns1-4.confirm: not a JSON object");
  EXPECT_EQ(err("[1]"), "/run/xdpguard/ns1-4.confirm: not a JSON object");
  EXPECT_EQ(err(R"({"version":2})"), "/run/xdpguard/ns1-4.confirm: version 2 is not this xdpguard's (1)");
  EXPECT_EQ(err(R"({"version":1})"), "/run/xdpguard/ns1-4.confirm: no \"iface\"");
  auto j = to_json(sample());
  auto with = [&](const std::string& from, const std::string& to) {
    auto t = j;
    auto at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return err(t.replace(at, from.size(), to));
  };
  EXPECT_EQ(with("\"ifindex\": 4", "\"ifindex\": -4"),
            "/run/xdpguard/ns1-4.confirm: \"ifindex\" is not a whole number up to 4294967295");
  EXPECT_EQ(with("\"attached\": true", "\"attached\": 1"),
            "/run/xdpguard/ns1-4.confirm: \"attached\" is not true or false");
  EXPECT_EQ(with("\"192.0.2.0/24\"", "\"192.0.2.0/33\""),
            "/run/xdpguard/ns1-4.confirm: \"never_block\": \"192.0.2.0/33\" is not a prefix");
  EXPECT_EQ(with("\"name\": \"bl\"", "\"name\": \"b l\""), "/run/xdpguard/ns1-4.confirm: set name \"b l\"");
  EXPECT_EQ(with("\"default\": 1", "\"default\": 300"),
            "/run/xdpguard/ns1-4.confirm: \"default\" is not a whole number up to 255");
  EXPECT_EQ(with("80,", "0,"), "/run/xdpguard/ns1-4.confirm: \"ports\" holds 0");
  EXPECT_EQ(with("\"pid\": 4711", "\"pid\": 0"), "/run/xdpguard/ns1-4.confirm: \"making\" has pid 0");
  EXPECT_EQ(with("\"pid\": 4711", "\"pid\": \"x\""),
            "/run/xdpguard/ns1-4.confirm: \"pid\" is not a whole number up to 4294967295");
  EXPECT_EQ(with("\"making\": {", "\"making\": 5, \"x\": {"),
            "/run/xdpguard/ns1-4.confirm: \"making\" is not an object");
}

TEST(ConfirmWindow, SecondsMinutesHours) {
  EXPECT_EQ(parse_window("60s").value().count(), 60);
  EXPECT_EQ(parse_window("90").value().count(), 90);
  EXPECT_EQ(parse_window("5m").value().count(), 300);
  EXPECT_EQ(parse_window("1h").value().count(), 3600);
  EXPECT_EQ(parse_window("24h").value().count(), 86400);
  for (const char* bad : {"", "0s", "s", "-5s", "1.5m", "25h", "60 s", "1d", "nan", "86401"}) {
    auto w = parse_window(bad);
    ASSERT_FALSE(w) << bad;
    EXPECT_NE(w.error().message().find("expected a time from 1s to 24h"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace xdpguard::confirm
