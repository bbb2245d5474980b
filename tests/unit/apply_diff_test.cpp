// apply's diff (apply/diff.h): what changes between what an interface
// enforces and what the file wants — rules matched by canonical text (ids
// kept), reorders, actions, sets by members (not by order or duplicates),
// never-block, flood thresholds — and what --diff prints for it.
#include <gtest/gtest.h>

#include "apply/diff.h"
#include "rules/parser.h"

namespace xdpguard::apply {
namespace {

rules::Prefix pfx(const std::string& text) {
  auto p = rules::parse_prefix(text);
  EXPECT_TRUE(p) << text;
  return p ? *p : rules::Prefix{};
}

CurrentState current(const std::vector<std::pair<std::uint32_t, std::string>>& rules) {
  CurrentState c;
  for (const auto& [id, text] : rules) c.rules.push_back({id, 0, text, {}, {}});
  return c;
}

InterfaceDiff diff(const CurrentState& cur, const DesiredState& want, const std::vector<std::string>& canon) {
  return diff_state(cur, want, canon, {}, {});
}

TEST(ApplyDiff, SameStateIsEmpty) {
  auto cur = current({{1, "drop udp dport 53"}, {2, "pass tcp dport 22"}});
  DesiredState want;
  auto d = diff(cur, want, {"drop udp dport 53", "pass tcp dport 22"});
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.kept, 2u);
  d.iface = "eth1";
  EXPECT_EQ(summary_line(d), "eth1: unchanged");
}

TEST(ApplyDiff, RulesAreMatchedByTextAndDuplicatesOneToOne) {
  auto cur = current({{1, "drop udp dport 53"}, {2, "pass tcp dport 22"}, {3, "drop udp dport 53"}});
  DesiredState want;
  auto d = diff(cur, want, {"drop udp dport 53", "drop icmp", "pass tcp dport 22"});
  ASSERT_EQ(d.rules.size(), 2u);
  EXPECT_FALSE(d.rules[0].added);  // the second copy of dport 53 goes
  EXPECT_EQ(d.rules[0].id, 3u);
  EXPECT_TRUE(d.rules[1].added);
  EXPECT_EQ(d.rules[1].position, 1u);
  EXPECT_EQ(d.rules[1].text, "drop icmp");
  EXPECT_EQ(d.kept, 2u);
  EXPECT_FALSE(d.reordered);
  d.iface = "eth1";
  EXPECT_EQ(format_diff(d),
            "eth1: 1 rule added, 1 removed, 2 kept\n"
            "- rule 3: drop udp dport 53\n"
            "+ rule at 2: drop icmp\n");
}

TEST(ApplyDiff, AReorderIsAChangeEvenWithTheSameRules) {
  auto cur = current({{1, "drop udp dport 53"}, {2, "pass udp"}});
  DesiredState want;
  auto d = diff(cur, want, {"pass udp", "drop udp dport 53"});
  EXPECT_TRUE(d.rules.empty());
  EXPECT_TRUE(d.reordered);
  EXPECT_FALSE(d.empty());
  d.iface = "eth1";
  EXPECT_EQ(summary_line(d), "eth1: 0 rules added, 0 removed, 2 kept (reordered)");
}

TEST(ApplyDiff, ActionsNeverBlockAndFlood) {
  auto cur = current({});
  cur.never_block = {pfx("192.0.2.0/24"), pfx("2001:db8::/32")};
  DesiredState want;
  want.default_action = 1;  // XDP_DROP
  want.non_ip_action = 1;
  want.never_block = {pfx("2001:db8::/32"), pfx("192.0.2.0/24"), pfx("192.0.2.0/24")};  // same list
  telemetry::FloodConfig flood;
  flood.pps[XDPGUARD_FLOOD_UDP] = 50000;
  auto d = diff_state(cur, want, {}, {}, flood);
  ASSERT_TRUE(d.default_action);
  EXPECT_EQ(d.default_action->second, 1u);
  EXPECT_TRUE(d.non_ip_action);
  EXPECT_FALSE(d.malformed_action);
  EXPECT_FALSE(d.never_block);
  ASSERT_TRUE(d.flood);
  d.iface = "eth1";
  EXPECT_EQ(format_diff(d),
            "eth1: default drop, non-ip drop, flood thresholds changed\n"
            "~ default: pass -> drop\n"
            "~ non-ip: pass -> drop\n"
            "~ flood: not watched, hold 10 s, top 5 -> udp-pps 50000, hold 10 s, top 5\n");
}

TEST(ApplyDiff, TalkersAndTheSynproxyBesideTheRules) {
  SynproxyConfig web;
  web.ports = {443, 80, 443};
  Extras cur, want{true, web};
  auto d = diff_state(current({}), DesiredState{}, {}, {}, {}, cur, want);
  d.iface = "eth1";
  EXPECT_EQ(format_diff(d),
            "eth1: top talkers on, SYN proxy ports 80,443 (mss 1460/1440, wscale 7, ttl 64)\n"
            "~ talkers: off -> on\n"
            "~ synproxy: off -> ports 80,443 (mss 1460/1440, wscale 7, ttl 64)\n");
  // The same ports in another order, duplicates aside: no change.
  SynproxyConfig same = web;
  same.ports = {80, 443};
  cur = Extras{true, same};
  EXPECT_TRUE(diff_state(current({}), DesiredState{}, {}, {}, {}, cur, want).empty());
  // Off again; another setting is a change too.
  d = diff_state(current({}), DesiredState{}, {}, {}, {}, cur, Extras{});
  d.iface = "eth1";
  EXPECT_EQ(summary_line(d), "eth1: top talkers off, SYN proxy off");
  SynproxyConfig ttl = web;
  ttl.ttl = 60;
  EXPECT_TRUE(diff_state(current({}), DesiredState{}, {}, {}, {}, cur, Extras{true, ttl}).synproxy);
}

TEST(ApplyDiff, SetsAreComparedByTheirMembers) {
  const std::vector<rules::Prefix> members = {pfx("198.18.0.0/24"), pfx("fd00::/64")};
  auto cur = current({});
  cur.sets = {{"same", set_members_hash(members), 1, 1},
              {"changed", set_members_hash(members), 1, 1},
              {"gone", set_members_hash(members), 1, 1}};
  DesiredState want;
  // Order and duplicates do not make another set.
  want.sets = {{"same", {members[1], members[0], members[1]}}, {"changed", {members[0]}}, {"new", members}};
  auto d = diff(cur, want, {});
  EXPECT_EQ(d.sets_unchanged, 1u);
  ASSERT_EQ(d.sets.size(), 3u);
  EXPECT_EQ(d.sets[0].kind, SetChange::Changed);
  EXPECT_EQ(d.sets[0].name, "changed");
  EXPECT_EQ(d.sets[0].old_count, 2u);
  EXPECT_EQ(d.sets[0].new_count, 1u);
  EXPECT_EQ(d.sets[1].kind, SetChange::Added);
  EXPECT_EQ(d.sets[2].kind, SetChange::Removed);
  EXPECT_EQ(d.sets[2].name, "gone");
}

TEST(ApplyDiff, MembersHashIgnoresOrderAndDuplicatesOnly) {
  const auto a = pfx("198.18.0.0/24"), b = pfx("198.18.0.0/25"), c = pfx("fd00::/24");
  EXPECT_EQ(set_members_hash({a, b, c}), set_members_hash({c, b, a, a}));
  EXPECT_NE(set_members_hash({a, b}), set_members_hash({a, c}));
  EXPECT_NE(set_members_hash({a}), set_members_hash({b}));  // same address, other length
  EXPECT_NE(set_members_hash({}), 0u);                      // 0 means "not known"
}

}  // namespace
}  // namespace xdpguard::apply
