// Differential test against nftables, the oracle no one here wrote.
//
// For each random rule set: the rules are printed in xdpguard's language and
// translated to an nft netdev ingress chain in a lab namespace; random frames
// (aimed at the rules, with VLAN tags, IPv4 options, IPv6 extension headers,
// fragments, port 0/65535, /0 and full-length prefixes) are sent across the
// lab's veth into that chain, which records in a dynamic set the source MAC
// (unique per frame) of every frame it let through; the same frames go
// through the xdpguard program with BPF_PROG_TEST_RUN. Every verdict must
// agree.
//
// Non-first fragments are not compared: at the netdev hook (kernel 6.18)
// nftables evaluates port and flag matches on them against whatever bytes sit
// where an L4 header would be (the fragment's payload for IPv4, the IPv6
// header itself for IPv6), while PRODUCT.md specifies that such rules do not
// match them. tests/bpf and the reference property test cover them. First
// fragments (offset 0, more-fragments set) are compared.
//
// Size: XDPGUARD_DIFF_SETS rule sets (default 200) of 1..250 rules with 150
// frames each. `XDPGUARD_DIFF_SETS=2000 ctest -R NftDiff` for a long run.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>

#include <fstream>
#include <set>

#include "bpf/test_run.h"
#include "e2e_support.h"
#include "guard/guard.h"
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

// One rule in nft's netdev family, with the same meaning.
std::string to_nft(const Rule& r) {
  std::string s;
  std::uint8_t f = r.family == Family::V4 ? 4 : r.family == Family::V6 ? 6 : 0;
  if (f == 4) s += "meta protocol ip ";
  if (f == 6) s += "meta protocol ip6 ";
  if (r.proto) s += fmt::format("meta l4proto {} ", *r.proto);
  const char* ipk = f == 4 ? "ip" : "ip6";
  if (r.saddr) s += fmt::format("{} saddr {} ", ipk, nft_prefix(*r.saddr->prefix));
  if (r.daddr) s += fmt::format("{} daddr {} ", ipk, nft_prefix(*r.daddr->prefix));
  const char* l4 = r.proto == kProtoTcp ? "tcp" : "udp";
  auto ports = [](const PortRange& p) {
    return p.lo == p.hi ? std::to_string(p.lo) : fmt::format("{}-{}", p.lo, p.hi);
  };
  if (r.sport) s += fmt::format("{} sport {} ", l4, ports(*r.sport));
  if (r.dport) s += fmt::format("{} dport {} ", l4, ports(*r.dport));
  if (r.flags_mask) s += fmt::format("tcp flags & 0x{:x} == 0x{:x} ", r.flags_mask, r.flags_value);
  s += r.action == Action::Drop ? "drop" : "accept";
  return s;
}

int diff_sets() {
  const char* env = std::getenv("XDPGUARD_DIFF_SETS");
  return env ? std::max(1, std::atoi(env)) : 200;
}

TEST(NftDiff, XdpguardAgreesWithNftablesOnRandomRuleSets) {
  XG_REQUIRE_PRIVILEGES();
  auto lab = Lab::create({.ipv6 = false});
  ASSERT_TRUE(lab) << lab.error().message();
  auto prog = GuardProgram::open({});
  ASSERT_TRUE(prog);
  ASSERT_TRUE(prog->load());
  auto guard = Guard::from_program(*prog);
  ASSERT_TRUE(guard) << guard.error().message();

  // The sender: an AF_PACKET socket on the client's veth.
  UniqueFd tx;
  int tx_ifindex = 0;
  ASSERT_TRUE(run_in_netns(lab->client().netns, [&] {
    tx.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    tx_ifindex = static_cast<int>(::if_nametoindex(lab->client().veth.c_str()));
  }));
  ASSERT_TRUE(tx && tx_ifindex > 0);
  // Sent after each burst: a non-IP frame the chain records first thing.
  // Once nft has recorded it, it has processed every frame before it (they
  // are sent from one pinned CPU, so they sit in one backlog, in order).
  const std::string sentinel_mac = "02:5e:00:00:00:01";
  const Bytes sentinel = Packet().eth("02:00:00:00:00:02", sentinel_mac).ethertype(0x88b5).payload(46).bytes();
  std::string script_path = "/tmp/" + lab->prefix() + "-diff.nft";

  const int nsets = diff_sets();
  std::size_t frames_total = 0, passed_total = 0, rules_total = 0;
  for (int set = 0; set < nsets; ++set) {
    RuleGen g(1000u + static_cast<unsigned>(set));
    std::vector<Rule> rules;
    std::vector<std::string> texts;
    bool default_drop = g.coin(25);
    rules = g.rules(1 + g.pick(250));
    for (const auto& r : rules) texts.push_back(to_string(r));
    ASSERT_TRUE(guard->set_default_action(default_drop ? XDP_DROP : XDP_PASS));
    auto ids = guard->replace_rules(texts);
    ASSERT_TRUE(ids) << ids.error().message();
    rules_total += rules.size();

    std::string script = fmt::format(
        "table netdev xgdiff\ndelete table netdev xgdiff\n"
        "table netdev xgdiff {{\n"
        "  set passed {{ type ether_addr; flags dynamic; size 65536; }}\n"
        "  chain rules {{ type filter hook ingress device \"{0}\" priority 0; policy {1};\n"
        "    ether saddr {2} add @passed {{ ether saddr }} drop\n",
        lab->server().veth, default_drop ? "drop" : "accept", sentinel_mac);
    for (const auto& r : rules) script += "    " + to_nft(r) + "\n";
    script += fmt::format(
        "  }}\n  chain observe {{ type filter hook ingress device \"{}\" priority 10; policy accept;\n"
        "    add @passed {{ ether saddr }}\n  }}\n}}\n",
        lab->server().veth);
    std::ofstream(script_path) << script;
    auto loaded = lab->exec(lab->server(), {"nft", "-f", script_path});
    ASSERT_TRUE(loaded) << "rule set " << set << ": " << loaded.error().message() << "\n" << script;

    // Frames: most aimed at a rule of the set, the rest random.
    std::vector<Bytes> frames;
    std::vector<std::uint32_t> xdp_verdicts;
    for (int i = 0; i < 150; ++i) {
      PacketFields p;
      do {
        p = g.coin(75) ? g.packet_for(rules[static_cast<std::size_t>(g.pick(static_cast<int>(rules.size())))])
                       : g.random_packet();
      } while (p.frag);  // see the top of this file
      std::uint32_t tag = (static_cast<std::uint32_t>(set) << 16) | static_cast<std::uint32_t>(i);
      frames.push_back(frame_for(p, g, tag, /*double_vlan=*/false));
      auto r = test_run(prog->prog_fd(), frames.back());
      ASSERT_TRUE(r) << r.error().message();
      xdp_verdicts.push_back(r->verdict);
    }
    auto rx_before = lab->link_counters(lab->server());
    std::thread sender([&] {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(0, &one);
      ::sched_setaffinity(0, sizeof one, &one);  // this thread only
      auto send = [&](const Bytes& f) {
        sockaddr_ll to{};
        to.sll_family = AF_PACKET;
        to.sll_ifindex = tx_ifindex;
        to.sll_halen = 6;
        std::memcpy(to.sll_addr, f.data(), 6);
        return ::sendto(tx.get(), f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
               static_cast<ssize_t>(f.size());
      };
      for (const auto& f : frames) EXPECT_TRUE(send(f)) << std::strerror(errno);
      EXPECT_TRUE(send(sentinel)) << std::strerror(errno);
    });
    sender.join();
    Result<std::string> listed = std::string();
    for (int wait = 0; wait < 300; ++wait) {  // at most 3 s
      listed = lab->exec(lab->server(), {"nft", "-j", "list", "set", "netdev", "xgdiff", "passed"});
      ASSERT_TRUE(listed) << listed.error().message();
      if (listed->find(sentinel_mac) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_NE(listed->find(sentinel_mac), std::string::npos) << "nft never saw the sentinel frame";
    // Every frame reached the nft chain's interface.
    auto rx_after = lab->link_counters(lab->server());
    ASSERT_TRUE(rx_before && rx_after);
    ASSERT_EQ(rx_after->rx_packets - rx_before->rx_packets, frames.size() + 1);
    std::set<std::string> passed;
    const auto doc = nlohmann::json::parse(*listed);  // keep it alive for the loop
    for (const auto& obj : doc["nftables"])
      if (obj.contains("set") && obj["set"].contains("elem"))
        for (const auto& e : obj["set"]["elem"]) passed.insert(e.get<std::string>());

    for (std::size_t i = 0; i < frames.size(); ++i) {
      std::string mac = fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", frames[i][6],
                                    frames[i][7], frames[i][8], frames[i][9], frames[i][10], frames[i][11]);
      bool nft_pass = passed.count(mac) > 0;
      bool xdp_pass = xdp_verdicts[i] == XDP_PASS;
      ASSERT_EQ(nft_pass, xdp_pass)
          << "rule set " << set << " (seed " << 1000 + set << "), frame " << i << ": nft "
          << (nft_pass ? "passed" : "dropped") << " it, xdpguard " << (xdp_pass ? "passed" : "dropped")
          << " it (verdict " << xdp_verdicts[i] << "); nft passed " << passed.size()
          << " of this set's " << frames.size() << " frames\nframe: " << [&] {
               std::string hex;
               for (auto b : frames[i]) hex += fmt::format("{:02x}", b);
               return hex;
             }() << "\nrules:\n" << fmt::format("{}", fmt::join(texts, "\n"));
      frames_total++;
      passed_total += nft_pass;
    }
  }
  std::filesystem::remove(script_path);
  (void)lab->exec(lab->server(), {"nft", "delete", "table", "netdev", "xgdiff"});
  std::printf("nft differential: %d rule sets (%zu rules), %zu frames, %zu passed / %zu dropped, "
              "0 disagreements\n",
              nsets, rules_total, frames_total, passed_total, frames_total - passed_total);
  EXPECT_GT(passed_total, frames_total / 10);
  EXPECT_LT(passed_total, frames_total - frames_total / 10);
}

}  // namespace
}  // namespace xdpguard::test
