// Differential test against nftables, the oracle no one here wrote.
//
// For each random rule set: the rules are printed in xdpguard's language and
// translated to an nft netdev ingress chain in a lab namespace; random frames
// (aimed at the rules, with VLAN tags, IPv4 options, IPv6 extension headers
// in chains of 0 to 23, fragments, port 0/65535, /0 and full-length
// prefixes) are sent across the lab's veth into that chain, which records in
// a dynamic set the source MAC (unique per frame) of every frame it let
// through; the same frames go through the xdpguard program with
// BPF_PROG_TEST_RUN. Every verdict must agree.
//
// Rule sets: RuleGen's default mix (1..250 rules) and, every fifth, its big
// mode (150..600 rules over dozens of shapes, so that xdpguard's classifier
// answers from its Trie4 / Ports / Hash6 tables). A second test adds named
// sets: each xdpguard set (both families in one, Guard::load_set) is two nft
// interval sets, NAME_v4 and NAME_v6, with the same prefixes, and a rule is
// translated once per family it applies to (`drop saddr @s` becomes
// `meta protocol ip ip saddr @s_v4 drop` and the same for ip6, in that
// order: a packet has one family, so first-match order is kept).
//
// A third test gives rules rate limits (see its comment); two more give them
// VLAN matches, with single-tagged and with QinQ frames (see theirs); the
// last two the FlowSpec matches (icmp-type, icmp-code, length, dscp, frag,
// comment), the second with non-first fragments (see theirs).
//
// Non-first fragments are not compared: at the netdev hook (kernel 6.18)
// nftables evaluates port and flag matches on them against whatever bytes sit
// where an L4 header would be (the fragment's payload for IPv4, the IPv6
// header itself for IPv6), while xdpguard defines that such rules do not
// match them (README, "The rule language"; docs/classifier.md, "Fragments and
// malformed packets"). tests/bpf and the reference property test cover them.
// First fragments (offset 0, more-fragments set) are compared, and non-first
// ones against rules without port, flag or ICMP type/code matches
// (FragMatchesAgreeWithNftablesOnFragments).
//
// Size: XDPGUARD_DIFF_SETS rule sets (default 200) of 150 frames each, and 30
// with named sets. `XDPGUARD_DIFF_SETS=2000 ctest -R NftDiff` for a long run.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>

#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "bpf/test_run.h"
#include "e2e_support.h"
#include "guard/guard.h"
#include "oracle/nft.h"
#include "rules/parser.h"
#include "rules/printer.h"
#include "support/packet.h"
#include "support/rule_gen.h"

namespace xdpguard::test {
namespace {

using namespace rules;

std::string nft_prefix(const Prefix& p) {
  std::uint8_t f = p.family == Family::V4 ? 4 : 6;
  return ntop(f, p.addr) + "/" + std::to_string(p.len);
}

// nft set declarations for xdpguard sets: NAME_v4 and NAME_v6, interval
// sets (prefixes) that merge overlapping members, as membership is their
// union.
std::string nft_sets(const std::vector<NamedSet>& sets) {
  std::string out;
  for (const auto& set : sets) {
    for (std::uint8_t f : {4, 6}) {
      std::vector<std::string> elems;
      for (const auto& p : set.prefixes)
        if ((p.family == Family::V4 ? 4 : 6) == f) elems.push_back(nft_prefix(p));
      out += fmt::format("  set {}_v{} {{ type {}; flags interval; auto-merge;{} }}\n", set.name, f,
                         f == 4 ? "ipv4_addr" : "ipv6_addr",
                         elems.empty() ? "" : fmt::format(" elements = {{ {} }};", fmt::join(elems, ", ")));
    }
  }
  return out;
}

int diff_sets() {
  const char* env = std::getenv("XDPGUARD_DIFF_SETS");
  int n = 0;
  if (!env || std::from_chars(env, env + std::strlen(env), n).ec != std::errc()) return 200;
  return std::max(1, n);
}

std::string hex(const Bytes& f) {
  std::string out;
  for (auto b : f) out += fmt::format("{:02x}", b);
  return out;
}

// One lab with an nft chain on the server's veth, one in-process xdpguard
// program, and the comparison of the two on a rule set.
class NftDiff : public ::testing::Test {
 protected:
  void SetUp() override {
    XG_REQUIRE_PRIVILEGES();
    auto lab = Lab::create({.ipv6 = false});
    ASSERT_TRUE(lab) << lab.error().message();
    lab_.emplace(std::move(*lab));
    auto prog = GuardProgram::open({});
    ASSERT_TRUE(prog);
    ASSERT_TRUE(prog->load());
    prog_.emplace(std::move(*prog));
    auto guard = Guard::from_program(*prog_);
    ASSERT_TRUE(guard) << guard.error().message();
    guard_.emplace(std::move(*guard));
    // The sender: an AF_PACKET socket on the client's veth.
    ASSERT_TRUE(run_in_netns(lab_->client().netns, [&] {
      tx_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
      tx_ifindex_ = static_cast<int>(::if_nametoindex(lab_->client().veth.c_str()));
    }));
    ASSERT_TRUE(tx_ && tx_ifindex_ > 0);
    script_path_ = "/tmp/" + lab_->prefix() + "-diff.nft";
  }
  void TearDown() override {
    if (!lab_) return;
    std::filesystem::remove(script_path_);
    (void)lab_->exec(lab_->server(), {"nft", "delete", "table", "netdev", "xgdiff"});
  }

  struct Totals {
    std::size_t sets = 0, rules = 0, frames = 0, passed = 0, by_set_rule = 0, tagged = 0, qinq = 0,
                by_vlan_rule = 0, by_flowspec_rule = 0, by_frag_rule = 0, fragments = 0;
  };

  // Installs `rules` in both, sends 150 frames (aimed at the rules, else
  // random; g's sets, if any, must be loaded already) and compares every
  // verdict. `name` says which rule set it is in failure messages.
  // With nonfirst_fragments (rule sets without port, TCP flag or ICMP
  // type/code matches: see the top of this file), a fifth of the frames are
  // non-first fragments.
  void compare(RuleGen& g, const std::vector<Rule>& rules, bool default_drop, std::uint32_t tag_base,
               const std::string& name, Totals& tot, bool nonfirst_fragments = false) {
    std::vector<std::string> texts;
    for (const auto& r : rules) texts.push_back(to_string(r));
    ASSERT_TRUE(guard_->set_default_action(default_drop ? XDP_DROP : XDP_PASS));
    auto ids = guard_->replace_rules(texts);
    ASSERT_TRUE(ids) << name << ": " << ids.error().message();
    if (std::any_of(rules.begin(), rules.end(), [](const Rule& r) { return r.limit.has_value(); })) {
      ASSERT_TRUE(guard_->reset_ddos_state());  // fresh buckets, as nft's new table has
    }

    // Sent after each burst: a non-IP frame the chain records first thing.
    // Once nft has recorded it, it has processed every frame before it (they
    // are sent from one pinned CPU, so they sit in one backlog, in order).
    const std::string sentinel_mac = "02:5e:00:00:00:01";
    const Bytes sentinel =
        Packet().eth("02:00:00:00:00:02", sentinel_mac).ethertype(0x88b5).payload(46).bytes();
    std::string script = fmt::format(
        "table netdev xgdiff\ndelete table netdev xgdiff\n"
        "table netdev xgdiff {{\n"
        "  set passed {{ type ether_addr; flags dynamic; size 65536; }}\n"
        "{3}"
        "  chain rules {{ type filter hook ingress device \"{0}\" priority 0; policy {1};\n"
        "    ether saddr {2} add @passed {{ ether saddr }} drop\n",
        lab_->server().veth, default_drop ? "drop" : "accept", sentinel_mac, nft_sets(g.sets()));
    std::string limit_sets;
    for (std::size_t k = 0; k < rules.size(); ++k) {
      NftOptions opts;
      opts.index = k;
      opts.decls = &limit_sets;
      auto lines = to_nft(rules[k], opts);
      ASSERT_TRUE(lines) << lines.error().message();
      for (const auto& line : *lines) script += "    " + line + "\n";
    }
    script.insert(script.find("  chain rules"), limit_sets);
    script += fmt::format(
        "  }}\n  chain observe {{ type filter hook ingress device \"{}\" priority 10; policy accept;\n"
        "    add @passed {{ ether saddr }}\n  }}\n}}\n",
        lab_->server().veth);
    std::ofstream(script_path_) << script;
    auto loaded = lab_->exec(lab_->server(), {"nft", "-f", script_path_});
    ASSERT_TRUE(loaded) << name << ": " << loaded.error().message() << "\n" << script;

    // Frames: most aimed at a rule of the set, the rest random.
    const auto in_set = g.membership();
    std::vector<Bytes> frames;
    std::vector<std::uint32_t> xdp_verdicts;
    for (int i = 0; i < 150; ++i) {
      PacketFields p;
      do {
        p = g.coin(75) ? g.packet_for(rules[static_cast<std::size_t>(g.pick(static_cast<int>(rules.size())))])
                       : g.random_packet();
        if (nonfirst_fragments && g.coin(20)) {
          p.frag = true;
          p.sport = p.dport = 0;
          p.tcp_flags = 0;
        }
      } while (p.frag && !nonfirst_fragments);  // see the top of this file
      frames.push_back(frame_for(p, g, tag_base | static_cast<std::uint32_t>(i), /*double_vlan=*/false));
      auto r = test_run(prog_->prog_fd(), frames.back());
      ASSERT_TRUE(r) << r.error().message();
      xdp_verdicts.push_back(r->verdict);
      auto m = first_match(rules, p, in_set);
      tot.by_set_rule += m && ((rules[*m].saddr && !rules[*m].saddr->prefix) ||
                               (rules[*m].daddr && !rules[*m].daddr->prefix));
      tot.by_vlan_rule += m && rules[*m].vlan;
      if (m) {
        const Rule& w = rules[*m];
        tot.by_flowspec_rule += w.icmp_type || w.icmp_code || w.length || w.dscp || w.frag_mask;
        tot.by_frag_rule += w.frag_mask != 0;
      }
      tot.fragments += p.frag_bits & kFragIsf ? 1 : 0;
      tot.tagged += p.nvlan > 0;
      tot.qinq += p.nvlan == 2;
    }
    auto rx_before = lab_->link_counters(lab_->server());
    std::thread sender([&] {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(0, &one);
      ::sched_setaffinity(0, sizeof one, &one);  // this thread only
      auto send = [&](const Bytes& f) {
        sockaddr_ll to{};
        to.sll_family = AF_PACKET;
        to.sll_ifindex = tx_ifindex_;
        to.sll_halen = 6;
        std::memcpy(to.sll_addr, f.data(), 6);
        return ::sendto(tx_.get(), f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
               static_cast<ssize_t>(f.size());
      };
      for (const auto& f : frames) EXPECT_TRUE(send(f)) << std::strerror(errno);
      EXPECT_TRUE(send(sentinel)) << std::strerror(errno);
    });
    sender.join();
    Result<std::string> listed = std::string();
    for (int wait = 0; wait < 300; ++wait) {  // at most 3 s
      listed = lab_->exec(lab_->server(), {"nft", "-j", "list", "set", "netdev", "xgdiff", "passed"});
      ASSERT_TRUE(listed) << listed.error().message();
      if (listed->find(sentinel_mac) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_NE(listed->find(sentinel_mac), std::string::npos) << "nft never saw the sentinel frame";
    // Every frame reached the nft chain's interface.
    auto rx_after = lab_->link_counters(lab_->server());
    ASSERT_TRUE(rx_before && rx_after);
    ASSERT_EQ(rx_after->rx_packets - rx_before->rx_packets, frames.size() + 1);
    std::set<std::string> passed;
    const auto doc = nlohmann::json::parse(*listed);  // keep it alive for the loop
    for (const auto& obj : doc["nftables"])
      if (obj.contains("set") && obj["set"].contains("elem"))
        for (const auto& e : obj["set"]["elem"]) passed.insert(e.get<std::string>());

    for (std::size_t i = 0; i < frames.size(); ++i) {
      std::string mac = fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", frames[i][6], frames[i][7],
                                    frames[i][8], frames[i][9], frames[i][10], frames[i][11]);
      bool nft_pass = passed.count(mac) > 0;
      bool xdp_pass = xdp_verdicts[i] == XDP_PASS;
      ASSERT_EQ(nft_pass, xdp_pass) << name << ", frame " << i << ": nft "
                                    << (nft_pass ? "passed" : "dropped") << " it, xdpguard "
                                    << (xdp_pass ? "passed" : "dropped") << " it (verdict " << xdp_verdicts[i]
                                    << "); nft passed " << passed.size() << " of this set's " << frames.size()
                                    << " frames\nframe: " << hex(frames[i]) << "\nrules:\n"
                                    << fmt::format("{}", fmt::join(texts, "\n")) << "\nnft script:\n"
                                    << script;
      tot.frames++;
      tot.passed += nft_pass;
    }
    tot.sets++;
    tot.rules += rules.size();
  }

  std::optional<Lab> lab_;
  std::optional<GuardProgram> prog_;
  std::optional<Guard> guard_;
  UniqueFd tx_;
  int tx_ifindex_ = 0;
  std::string script_path_;
};

TEST_F(NftDiff, XdpguardAgreesWithNftablesOnRandomRuleSets) {
  const int nsets = diff_sets();
  Totals tot;
  std::size_t big = 0;
  for (int set = 0; set < nsets; ++set) {
    RuleGen g(1000u + static_cast<unsigned>(set));
    bool default_drop = g.coin(25);
    // Every fifth: big mode, so that xdpguard answers from its tables.
    const bool big_mode = set % 5 == 4;
    auto rules = big_mode ? g.big_rules(150 + g.pick(450), 12 + g.pick(36)) : g.rules(1 + g.pick(250));
    big += big_mode;
    compare(g, rules, default_drop, static_cast<std::uint32_t>(set) << 16,
            fmt::format("rule set {} (seed {}{})", set, 1000 + set, big_mode ? ", big mode" : ""), tot);
    if (HasFatalFailure()) return;
  }
  std::printf(
      "nft differential: %zu rule sets (%zu in big mode, %zu rules), %zu frames, %zu passed / "
      "%zu dropped, 0 disagreements\n",
      tot.sets, big, tot.rules, tot.frames, tot.passed, tot.frames - tot.passed);
  EXPECT_GT(tot.passed, tot.frames / 10);
  EXPECT_LT(tot.passed, tot.frames - tot.frames / 10);
}

// Named sets, referenced by a quarter of the rules, of either family (and
// so translated into one nft rule per family), as saddr, daddr or both.
TEST_F(NftDiff, SetsAgreeWithNftablesSets) {
  Totals tot;
  for (int set = 0; set < 30; ++set) {
    RuleGen g(3000u + static_cast<unsigned>(set));
    RuleGen sg(3100u + static_cast<unsigned>(set / 5));
    auto sets = sg.make_sets(3);
    for (const auto& s : sets) {
      auto r = guard_->load_set(s.name, s.prefixes);
      ASSERT_TRUE(r) << s.name << ": " << r.error().message();
    }
    g.use_sets(sets, 25);
    bool default_drop = g.coin(25);
    auto rules = g.rules(1 + g.pick(80));
    compare(g, rules, default_drop, (0x8000u | static_cast<std::uint32_t>(set)) << 16,
            fmt::format("rule set with sets {} (seed {})", set, 3000 + set), tot);
    if (HasFatalFailure()) return;
  }
  std::printf(
      "nft differential with sets: %zu rule sets (%zu rules), %zu frames (%zu decided by a set "
      "rule), %zu passed / %zu dropped, 0 disagreements\n",
      tot.sets, tot.rules, tot.frames, tot.by_set_rule, tot.passed, tot.frames - tot.passed);
  EXPECT_GT(tot.by_set_rule, tot.frames / 20) << "sets decided too few frames to mean anything";
  EXPECT_GT(tot.passed, tot.frames / 10);
  EXPECT_LT(tot.passed, tot.frames - tot.frames / 10);
}

// Rate limits: a third of the rules get `limit over` at rates of a few per
// minute, hour or day (one bucket, or per source /N of either family), so
// that no token comes back while a rule set's frames are sent: both sides
// then decide by the burst alone, deterministically, and must agree frame
// by frame (nft's packet-mode bucket is the one xdpguard implements).
TEST_F(NftDiff, LimitsAgreeWithNftablesLimitAndDynamicSets) {
  Totals tot;
  std::size_t limited = 0;
  for (int set = 0; set < 40; ++set) {
    RuleGen g(5000u + static_cast<unsigned>(set));
    bool default_drop = g.coin(25);
    auto rules = g.rules(1 + g.pick(40));
    for (auto& r : rules) {
      if (!g.coin(35)) continue;
      Limit l;
      l.rate = 1 + static_cast<std::uint64_t>(g.pick(5));
      l.unit = g.coin(50) ? RateUnit::Minute : g.coin(50) ? RateUnit::Hour : RateUnit::Day;
      l.burst = static_cast<std::uint32_t>(1 + g.pick(4));
      if (g.coin(60)) {
        l.per_saddr = true;
        static constexpr std::uint8_t kLen4[] = {32, 24, 16, 0}, kLen6[] = {128, 64, 48, 0};
        l.len4 = kLen4[g.pick(4)];
        l.len6 = kLen6[g.pick(4)];
      }
      if (r.family == Family::V4) l.len6 = 128;
      if (r.family == Family::V6) l.len4 = 32;
      r.limit = l;
      auto back = parse_rule(to_string(r));  // normalised as the parser does
      ASSERT_TRUE(back) << to_string(r);
      r = *back;
      ++limited;
    }
    compare(g, rules, default_drop, (0x4000u | static_cast<std::uint32_t>(set)) << 16,
            fmt::format("rule set with limits {} (seed {})", set, 5000 + set), tot);
    if (HasFatalFailure()) return;
  }
  std::printf(
      "nft differential with limits: %zu rule sets (%zu rules, %zu limited), %zu frames, %zu passed / %zu "
      "dropped, 0 disagreements\n",
      tot.sets, tot.rules, limited, tot.frames, tot.passed, tot.frames - tot.passed);
  EXPECT_GT(limited, 100u);
}

// VLAN matches (`vlan none`, `vlan N`, `vlan N inner M` -> `ether type !=
// { 8021q, 8021ad }`, `ether type 8021q|8021ad vlan id N [vlan type ...
// vlan id M]`, oracle/nft.h). The kernel moves a frame's outer tag out of
// the frame before the netdev ingress hook (skb_vlan_untag, whatever the
// veth's rx-vlan offload says) and nft's `ether type` and `vlan id` put it
// back, so nft judges the frame as sent, as xdpguard does: the comparison
// holds bytes for bytes.
//
// Single tags (802.1Q or 802.1ad) with RuleGen's whole mix of L3/L4
// matches: 40% of the rules have a vlan match, frames have no tag or one.
TEST_F(NftDiff, VlanMatchesAgreeWithNftables) {
  Totals tot;
  for (int set = 0; set < 40; ++set) {
    RuleGen g(6000u + static_cast<unsigned>(set));
    g.use_vlans(40, /*max_tags=*/1);
    bool default_drop = g.coin(25);
    auto rules = g.rules(1 + g.pick(80));
    compare(g, rules, default_drop, (0x2000u | static_cast<std::uint32_t>(set)) << 16,
            fmt::format("vlan rule set {} (seed {})", set, 6000 + set), tot);
    if (HasFatalFailure()) return;
  }
  std::printf(
      "nft differential with vlan matches: %zu rule sets (%zu rules), %zu frames (%zu tagged, %zu decided by "
      "a "
      "vlan rule), %zu passed / %zu dropped, 0 disagreements\n",
      tot.sets, tot.rules, tot.frames, tot.tagged, tot.by_vlan_rule, tot.passed, tot.frames - tot.passed);
  EXPECT_GT(tot.tagged, tot.frames / 3);
  EXPECT_GT(tot.by_vlan_rule, tot.frames / 10) << "vlan rules decided too few frames to mean anything";
  EXPECT_GT(tot.passed, tot.frames / 10);
  EXPECT_LT(tot.passed, tot.frames - tot.frames / 10);
}

// QinQ: frames with 0, 1 or 2 tags (an 802.1ad S-tag, or a second 802.1Q
// tag, over an 802.1Q C-tag) against rules of VLAN matches alone. (Not with
// L3/L4 matches: at the netdev hook the kernel has removed only the outer
// tag, so nft's `ip saddr`, `meta l4proto` and the like find the inner tag
// where the IP header would be and match nothing in a double-tagged frame;
// xdpguard reads through both tags, as the kernel does once a VLAN device
// takes the frame. Single-tagged frames are compared with those above.)
TEST_F(NftDiff, QinqVlanMatchesAgreeWithNftables) {
  Totals tot;
  for (int set = 0; set < 30; ++set) {
    RuleGen g(6100u + static_cast<unsigned>(set));
    g.use_vlans(100, /*max_tags=*/2);
    bool default_drop = g.coin(40);
    auto rules = g.rules(1 + g.pick(30));
    for (auto& r : rules) {
      Rule l2;
      l2.action = r.action;
      l2.vlan = r.vlan;
      r = l2;
    }
    compare(g, rules, default_drop, (0x1000u | static_cast<std::uint32_t>(set)) << 16,
            fmt::format("QinQ rule set {} (seed {})", set, 6100 + set), tot);
    if (HasFatalFailure()) return;
  }
  std::printf(
      "nft differential with QinQ: %zu rule sets (%zu rules), %zu frames (%zu tagged, %zu with two tags, %zu "
      "decided by a vlan rule), %zu passed / %zu dropped, 0 disagreements\n",
      tot.sets, tot.rules, tot.frames, tot.tagged, tot.qinq, tot.by_vlan_rule, tot.passed,
      tot.frames - tot.passed);
  EXPECT_GT(tot.qinq, tot.frames / 5);
  EXPECT_GT(tot.by_vlan_rule, tot.frames / 3);
  EXPECT_GT(tot.passed, tot.frames / 10);
  EXPECT_LT(tot.passed, tot.frames - tot.frames / 10);
}

// The FlowSpec matches (nft expressions in oracle/nft.h): icmp-type and
// icmp-code as `icmp type` / `icmpv6 type` and `code`, length as `ip length`
// and `ip6 length` (the payload's: xdpguard's length - 40), dscp as `ip
// dscp` / `ip6 dscp`, lists as anonymous sets `{ 0, 3, 8-11 }`, frag as
// `ip frag-off` masks and IPv6 `frag` / `exthdr frag missing` alternatives,
// comments as `comment "..."`. Half of the rules carry some of them; frames
// carry ICMP types and codes, DSCPs, DF, lengths near the rules' edges and
// first fragments (non-first ones below).
TEST_F(NftDiff, FlowSpecMatchesAgreeWithNftables) {
  Totals tot;
  for (int set = 0; set < 40; ++set) {
    RuleGen g(6200u + static_cast<unsigned>(set));
    g.use_flowspec(50);
    bool default_drop = g.coin(25);
    auto rules = g.rules(1 + g.pick(80));
    compare(g, rules, default_drop, (0x3000u | static_cast<std::uint32_t>(set)) << 16,
            fmt::format("FlowSpec rule set {} (seed {})", set, 6200 + set), tot);
    if (HasFatalFailure()) return;
  }
  std::printf(
      "nft differential with FlowSpec matches: %zu rule sets (%zu rules), %zu frames (%zu decided by a "
      "FlowSpec rule, %zu by a frag rule), %zu passed / %zu dropped, 0 disagreements\n",
      tot.sets, tot.rules, tot.frames, tot.by_flowspec_rule, tot.by_frag_rule, tot.passed,
      tot.frames - tot.passed);
  EXPECT_GT(tot.by_flowspec_rule, tot.frames / 10)
      << "FlowSpec rules decided too few frames to mean anything";
  EXPECT_GT(tot.passed, tot.frames / 10);
  EXPECT_LT(tot.passed, tot.frames - tot.frames / 10);
}

// frag, length and dscp on every kind of fragment, non-first ones included
// (IPv4 offset != 0 with and without more-fragments, the same in an IPv6
// fragment header): rules without the L4 matches nft reads wrongly in
// non-first fragments at this hook (ports, TCP flags, ICMP type and code).
TEST_F(NftDiff, FragMatchesAgreeWithNftablesOnFragments) {
  Totals tot;
  for (int set = 0; set < 30; ++set) {
    RuleGen g(6300u + static_cast<unsigned>(set));
    g.use_flowspec(80);
    bool default_drop = g.coin(25);
    auto rules = g.rules(1 + g.pick(60));
    for (auto& r : rules) {
      r.sport = r.dport = std::nullopt;
      r.flags_mask = r.flags_value = 0;
      r.icmp_type = r.icmp_code = std::nullopt;
    }
    compare(g, rules, default_drop, (0x5000u | static_cast<std::uint32_t>(set)) << 16,
            fmt::format("frag rule set {} (seed {})", set, 6300 + set), tot, /*nonfirst_fragments=*/true);
    if (HasFatalFailure()) return;
  }
  std::printf(
      "nft differential on fragments: %zu rule sets (%zu rules), %zu frames (%zu fragments, %zu decided by "
      "a frag rule), %zu passed / %zu dropped, 0 disagreements\n",
      tot.sets, tot.rules, tot.frames, tot.fragments, tot.by_frag_rule, tot.passed, tot.frames - tot.passed);
  EXPECT_GT(tot.fragments, tot.frames / 8);
  EXPECT_GT(tot.by_frag_rule, tot.frames / 20) << "frag rules decided too few frames to mean anything";
  EXPECT_GT(tot.passed, tot.frames / 10);
  EXPECT_LT(tot.passed, tot.frames - tot.frames / 10);
}

}  // namespace
}  // namespace xdpguard::test
