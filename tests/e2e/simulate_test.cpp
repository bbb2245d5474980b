// `xdpguard simulate`: a capture built by scapy through the compiled rules
// of a config file, judged against the real thing. The same file is
// attached to the lab's server veth and every frame of the capture is sent
// to it, one at a time, from a packet socket on the client; the live
// verdict is the action counter that moved (read with `stats --json`). Each
// frame's simulated verdict must be that one, and the server's kernel must
// have received exactly the frames it says pass (a packet socket on the
// server's veth, behind XDP): IPv4, IPv6 with extension
// headers, VLAN and QinQ tags, fragments (tiny ones included), ARP, a
// malformed header, named sets. The split files are read back by tshark.
// Rate limits run on the frames' own timestamps (a capture replayed at its
// pace: the live comparison leaves them out, its sends are not at the
// capture's pace). Bad input: a missing or cut capture, a non-Ethernet link
// type, a section the file does not have.

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "e2e/e2e_support.h"
#include "support/packet.h"

namespace xdpguard::test {
namespace {

constexpr const char* kSimPython = "/usr/bin/python3";

// argv: out.pcap out.pcapng. Frames to the lab server's MAC.
constexpr const char* kCaptureScript = R"PY(
import logging, sys
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import *
E = Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
a4, b4, m4 = "198.18.0.1", "198.18.0.2", "198.18.0.77"
a6, b6 = "fd00::1", "fd00::2"
def frag4(dport, first, off):
    t = bytes((IP(src=a4, dst=b4) / TCP(sport=4000, dport=dport, flags="S") / Raw(b"x" * 24))[TCP])
    return [E / IP(src=a4, dst=b4, id=dport, flags="MF", proto=6) / Raw(t[:first]),
            E / IP(src=a4, dst=b4, id=dport, frag=off, proto=6) / Raw(t[off * 8:])]
ps = [
  E / IP(src=a4, dst=b4) / UDP(sport=1000, dport=53),
  E / IP(src=a4, dst=b4) / UDP(sport=1000, dport=54),
  E / IP(src=a4, dst=b4) / TCP(sport=1000, dport=22, flags="S"),
  E / IP(src=a4, dst=b4) / TCP(sport=1000, dport=23, flags="S"),
  E / IP(src=a4, dst=b4) / TCP(sport=1000, dport=23, flags="A"),
  E / IP(src=m4, dst=b4) / UDP(sport=1000, dport=7000),
  E / IP(src=a4, dst=b4) / ICMP(),
  E / IPv6(src=a6, dst=b6) / UDP(sport=1000, dport=53),
  E / IPv6(src=a6, dst=b6) / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting(type=0, segleft=0, addresses=[]) / UDP(dport=53),
  E / IPv6(src=a6, dst=b6) / TCP(sport=1000, dport=22, flags="S"),
  E / IPv6(src="fd00::77", dst=b6) / UDP(sport=1000, dport=7000),
  E / IPv6(src=a6, dst=b6) / ICMPv6EchoRequest(),
  E / Dot1Q(vlan=7) / IP(src=a4, dst=b4) / UDP(sport=1000, dport=53),
  E / Dot1Q(vlan=7) / IP(src=a4, dst=b4) / UDP(sport=1000, dport=54),
  Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01", type=0x88a8) / Dot1AD(vlan=5) / Dot1Q(vlan=7) / IP(src=a4, dst=b4) / UDP(dport=53),
  E / ARP(psrc=a4, pdst=b4),
  E / IP(src=a4, dst=b4, ihl=4) / UDP(dport=54),
] + frag4(23, 16, 2) + frag4(8080, 8, 1) + [
  E / IPv6(src=a6, dst=b6) / IPv6ExtHdrFragment(nh=17, offset=0, m=1, id=9) / Raw(bytes(UDP(sport=1, dport=53, len=40))[:8] + b"y" * 16),
  E / IPv6(src=a6, dst=b6) / IPv6ExtHdrFragment(nh=17, offset=3, m=0, id=9) / Raw(b"z" * 8),
]
for i, p in enumerate(ps):
    p.time = 1000 + i * 0.001
wrpcap(sys.argv[1], ps)
wrpcapng(sys.argv[2], ps)
print(len(ps))
)PY";

constexpr const char* kConfig = R"([sets.bad]
elements = ["198.18.0.64/26", "fd00::77/128"]

[interfaces.{}]
default = "pass"
non-ip = "pass"
malformed = "drop"
rules = [
  "drop udp dport 53",
  "pass tcp dport 22",
  "drop tcp dport 23 tcp-flags syn,!ack",
  "drop saddr @bad",
  "drop tcp dport 8080",
]
)";

class SimulateTest : public LabTest {
 protected:
  LabOptions lab_options() const override { return {.ipv6 = false}; }

  void SetUp() override {
    LabTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    dir_ = "/tmp/" + lab_->prefix() + "-sim";
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/guard.toml") << fmt::format(kConfig, lab_->server().veth);
    std::ofstream(dir_ + "/capture.py") << kCaptureScript;
    auto n = run_cli(kSimPython, {dir_ + "/capture.py", dir_ + "/in.pcap", dir_ + "/in.pcapng"});
    ASSERT_EQ(n.code, 0) << n.err;
    frames_ = std::stoi(n.out);
  }
  void TearDown() override {
    LabTest::TearDown();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // `xdpguard simulate --config guard.toml --pcap FILE --json ...`: one
  // object per frame.
  std::vector<nlohmann::json> simulate(const std::string& pcap, std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"simulate", "--config", dir_ + "/guard.toml", "--pcap", pcap, "--json"};
    args.insert(args.end(), more.begin(), more.end());
    auto r = xdpguard_cli(args);
    EXPECT_EQ(r.code, 0) << r.err;
    std::vector<nlohmann::json> out;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }

  std::string dir_;
  int frames_ = 0;
};

// The frames of a pcap file, as bytes (read by tshark, which no one here wrote).
std::vector<std::string> tshark_frames(const std::string& pcap) {
  auto r = run_cli("/usr/bin/tshark", {"-r", pcap, "-T", "fields", "-e", "frame.number"});
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

TEST_F(SimulateTest, EveryVerdictIsTheLiveInterfacesVerdict) {
  const auto sim = simulate(dir_ + "/in.pcap");
  ASSERT_EQ(sim.size(), static_cast<std::size_t>(frames_));

  auto att = xg_srv(*lab_, {"attach", lab_->server().veth, "--config", dir_ + "/guard.toml"});
  ASSERT_EQ(att.code, 0) << att.err;
  // The frames to send: the capture as tshark reads it (the simulator's
  // own reader is under test).
  // (No reassembly: a reassembled datagram would be printed as one more
  // block of hex.)
  auto hex = run_cli("/usr/bin/tshark", {"-r", dir_ + "/in.pcap", "-x", "-o", "ip.defragment:FALSE", "-o",
                                         "ipv6.defragment:FALSE"});
  ASSERT_EQ(hex.code, 0) << hex.err;
  std::vector<Bytes> frames;
  {
    std::istringstream in(hex.out);
    Bytes cur;
    for (std::string line; std::getline(in, line);) {
      // "0000  02 00 ... " hex dump lines; a blank line ends a frame
      if (line.size() > 6 && std::isxdigit(static_cast<unsigned char>(line[0])) && line[4] == ' ') {
        std::istringstream l(line.substr(6, 48));
        for (std::string b; l >> b;) cur.push_back(static_cast<std::uint8_t>(std::stoul(b, nullptr, 16)));
      } else if (line.empty() && !cur.empty()) {
        frames.push_back(cur);
        cur.clear();
      }
    }
    if (!cur.empty()) frames.push_back(cur);
  }
  ASSERT_EQ(frames.size(), sim.size());

  auto actions = [&] {
    std::map<std::string, std::uint64_t> m;
    const auto stats = stats_json(*lab_);  // (alive through the loop)
    for (auto& [k, v] : stats["actions"].items()) m[k] = v["packets"].get<std::uint64_t>();
    return m;
  };
  // The sender: a packet socket on the client's veth.
  UniqueFd tx;
  int ifindex = 0;
  ASSERT_TRUE(run_in_netns(lab_->client().netns, [&] {
    tx.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    ifindex = static_cast<int>(::if_nametoindex(lab_->client().veth.c_str()));
  }));
  ASSERT_TRUE(tx && ifindex > 0);
  auto send = [&](const Bytes& f) -> Result<void> {
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex;
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, f.data(), 6);
    if (::sendto(tx.get(), f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) !=
        static_cast<ssize_t>(f.size()))
      return fail_errno(errno, "send");
    return {};
  };
  // The second judge, the server's kernel: a packet socket on its veth sees
  // what XDP let into the stack. After each frame a sentinel (a non-IP
  // frame, which the file passes) is sent; once it is in, the frame was
  // either delivered before it or never will be.
  UniqueFd rx;
  ASSERT_TRUE(run_in_netns(lab_->server().netns, [&] {
    rx.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL)));
    sockaddr_ll at{};
    at.sll_family = AF_PACKET;
    at.sll_protocol = htons(ETH_P_ALL);
    at.sll_ifindex = static_cast<int>(::if_nametoindex(lab_->server().veth.c_str()));
    if (rx && ::bind(rx.get(), reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) rx.reset();
  }));
  ASSERT_TRUE(rx);
  const std::string sentinel_mac = "02:5e:00:00:00:01";
  const Bytes sentinel =
      Packet().eth("02:00:00:00:00:02", sentinel_mac).ethertype(0x88b5).payload(46).bytes();
  // Frames the server's stack received up to the sentinel (itself not counted).
  auto received_until_sentinel = [&]() -> std::optional<int> {
    int n = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::uint8_t buf[2048];
      sockaddr_ll from{};
      socklen_t len = sizeof from;
      const ssize_t k = ::recvfrom(rx.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (k < 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      if (from.sll_pkttype == PACKET_OUTGOING) continue;
      if (k >= 12 && std::equal(buf + 6, buf + 12, sentinel.begin() + 6)) return n;
      ++n;
    }
    return std::nullopt;
  };

  auto before = actions();
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const std::string want = sim[i]["verdict"].get<std::string>();
    auto sent = send(frames[i]);
    ASSERT_TRUE(sent) << "frame " << i + 1 << ": " << sent.error().message();
    std::map<std::string, std::uint64_t> after;
    ASSERT_TRUE(wait_until([&] {
      after = actions();
      std::uint64_t a = 0, b = 0;
      for (auto& [k, v] : after) a += v;
      for (auto& [k, v] : before) b += v;
      return a > b;
    })) << "frame "
        << i + 1 << " never reached the server's XDP program";
    std::string live;
    for (auto& [k, v] : after)
      if (v != before[k]) live += (live.empty() ? "" : "+") + k;
    EXPECT_EQ(live, want) << "frame " << i + 1 << ": simulate says " << sim[i].dump();

    auto marked = send(sentinel);
    ASSERT_TRUE(marked) << marked.error().message();
    const auto received = received_until_sentinel();
    ASSERT_TRUE(received) << "the sentinel after frame " << i + 1 << " never reached the server's stack";
    EXPECT_EQ(*received, want == "pass" ? 1 : 0) << "frame " << i + 1 << ": the server's stack received "
                                                 << *received << ", simulate says " << sim[i].dump();
    ASSERT_TRUE(wait_until([&] {
      after = actions();
      return after["pass"] > before["pass"] + (want == "pass" ? 1 : 0);
    }));
    before = after;
  }
}

TEST_F(SimulateTest, RulesSummaryAndSplitFilesThatTsharkReads) {
  // pcapng in, the same verdicts as pcap
  const auto a = simulate(dir_ + "/in.pcap"), b = simulate(dir_ + "/in.pcapng");
  ASSERT_EQ(a.size(), b.size());
  int passed = 0, dropped = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["verdict"], b[i]["verdict"]) << i;
    EXPECT_EQ(a[i]["rule"], b[i]["rule"]) << i;
    passed += a[i]["verdict"] == "pass";
    dropped += a[i]["verdict"] == "drop";
  }
  // Which rule decided: frame 1 (UDP 53) rule 1, frame 3 (TCP 22) rule 2,
  // frame 6 (a member of @bad) rule 4, frame 2 the default, ARP (16) none.
  EXPECT_EQ(a[0]["rule"], 1);
  EXPECT_EQ(a[0]["rule_text"], "drop udp dport 53");
  EXPECT_EQ(a[2]["rule"], 2);
  EXPECT_EQ(a[5]["rule"], 4);
  EXPECT_EQ(a[1]["rule"], 0);
  EXPECT_TRUE(a[15]["rule"].is_null());
  EXPECT_EQ(a[15]["verdict"], "pass");  // non-ip = "pass"
  EXPECT_EQ(a[16]["verdict"], "drop");  // malformed = "drop"

  auto r = xdpguard_cli({"simulate", "--config", dir_ + "/guard.toml", "--pcap", dir_ + "/in.pcapng", "-q",
                         "-w", dir_ + "/passed.pcap", "--dropped", dir_ + "/dropped.pcap"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("\t"), std::string::npos) << "-q prints no frame lines";
  EXPECT_NE(r.out.find(fmt::format("{} frames from", frames_)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("drop udp dport 53"), std::string::npos) << r.out;
  EXPECT_EQ(tshark_frames(dir_ + "/passed.pcap").size(), static_cast<std::size_t>(passed));
  EXPECT_EQ(tshark_frames(dir_ + "/dropped.pcap").size(), static_cast<std::size_t>(dropped));
  EXPECT_EQ(passed + dropped, frames_);
}

// --iface: the rule set an interface enforces now (its sets shared, its
// rule ids kept), copied into the simulator; the interface is not touched.
TEST_F(SimulateTest, AnInterfacesRuleSetGivesTheFilesVerdictsAndItsIds) {
  const auto from_file = simulate(dir_ + "/in.pcap");
  auto none = xg_srv(*lab_, {"simulate", "--iface", lab_->server().veth, "--pcap", dir_ + "/in.pcap"});
  EXPECT_NE(none.code, 0);
  EXPECT_NE(none.err.find("no xdpguard attached"), std::string::npos) << none.err;

  auto att = xg_srv(*lab_, {"attach", lab_->server().veth, "--config", dir_ + "/guard.toml"});
  ASSERT_EQ(att.code, 0) << att.err;
  // ids that are not 1..5: the interface's own, which the copy must show
  ASSERT_EQ(xg_srv(*lab_, {"rule", "del", lab_->server().veth, "1"}).code, 0);
  ASSERT_EQ(xg_srv(*lab_, {"rule", "add", lab_->server().veth, "drop udp dport 53", "--before", "2"}).code,
            0);
  const auto before = stats_json(*lab_);
  auto r = xg_srv(*lab_, {"simulate", "--iface", lab_->server().veth, "--pcap", dir_ + "/in.pcap", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<nlohmann::json> from_iface;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) from_iface.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(from_iface.size(), from_file.size());
  for (std::size_t i = 0; i < from_file.size(); ++i) {
    EXPECT_EQ(from_iface[i]["verdict"], from_file[i]["verdict"]) << "frame " << i + 1;
    EXPECT_EQ(from_iface[i].value("rule_text", ""), from_file[i].value("rule_text", ""))
        << "frame " << i + 1 << ": " << from_iface[i].dump() << " " << from_file[i].dump();
  }
  EXPECT_EQ(from_iface[0]["rule"], 6);  // the re-added rule's id on the interface
  EXPECT_EQ(from_iface[5]["rule"], 4);  // drop saddr @bad: the set, shared
  // The interface counted nothing of it.
  EXPECT_EQ(total_packets(stats_json(*lab_)), total_packets(before));
}

// Limits on the capture's clock: 30 datagrams 10 ms apart against "over
// 2/s" (burst 5) let 5 through, then 5 datagrams 0.6 s apart all pass. The
// section's SYN proxy is not simulated, and that is said.
TEST_F(SimulateTest, RateLimitsRunOnTheFramesTimestamps) {
  std::ofstream(dir_ + "/limit.toml") << fmt::format(
      "[interfaces.{0}]\nrules = [\"drop udp dport 9999 limit over 2/second\"]\n[interfaces.{0}.synproxy]\n"
      "ports = [80]\n",
      lab_->server().veth);
  std::ofstream(dir_ + "/limit.py") << R"PY(
import logging, sys
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import *
ps = []
for i in range(35):
    p = Ether(dst="02:00:00:00:00:02") / IP(src="198.18.0.1", dst="198.18.0.2") / UDP(dport=9999)
    p.time = 100 + i * 0.01 if i < 30 else 110 + (i - 30) * 0.6
    ps.append(p)
wrpcap(sys.argv[1], ps)
)PY";
  auto made = run_cli(kSimPython, {dir_ + "/limit.py", dir_ + "/limit.pcap"});
  ASSERT_EQ(made.code, 0) << made.err;
  auto r =
      xdpguard_cli({"simulate", "--config", dir_ + "/limit.toml", "--pcap", dir_ + "/limit.pcap", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  // What it cannot simulate, it says.
  EXPECT_NE(r.err.find("the SYN proxy is not simulated"), std::string::npos) << r.err;
  std::istringstream in(r.out);
  std::string verdicts;
  for (std::string line; std::getline(in, line);)
    verdicts += nlohmann::json::parse(line)["verdict"] == "pass" ? 'p' : 'd';
  EXPECT_EQ(verdicts, std::string(5, 'p') + std::string(25, 'd') + std::string(5, 'p'));
}

TEST_F(SimulateTest, BadInputIsRefusedWithWhatAndWhere) {
  auto sim = [&](const std::string& config, const std::string& pcap, std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"simulate", "--config", config, "--pcap", pcap};
    args.insert(args.end(), more.begin(), more.end());
    return xdpguard_cli(args);
  };
  const std::string conf = dir_ + "/guard.toml";
  auto missing = sim(conf, dir_ + "/nope.pcap");
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("nope.pcap"), std::string::npos) << missing.err;

  // A capture cut in the middle of its last frame: the frames before it
  // are judged, then the error names the frame.
  const auto whole = std::filesystem::file_size(dir_ + "/in.pcap");
  std::filesystem::copy_file(dir_ + "/in.pcap", dir_ + "/cut.pcap");
  std::filesystem::resize_file(dir_ + "/cut.pcap", whole - 5);
  auto cut = sim(conf, dir_ + "/cut.pcap", {"--json"});
  EXPECT_NE(cut.code, 0);
  EXPECT_NE(cut.err.find(fmt::format("frame {}", frames_)), std::string::npos) << cut.err;
  EXPECT_EQ(std::count(cut.out.begin(), cut.out.end(), '\n'), frames_ - 1);

  // Not Ethernet: raw IP (DLT_RAW, link type 101).
  std::ofstream(dir_ + "/raw.py") << "import sys\nfrom scapy.all import *\n"
                                     "wrpcap(sys.argv[1], [IP(dst='198.18.0.2')/UDP()], linktype=101)\n";
  ASSERT_EQ(run_cli(kSimPython, {dir_ + "/raw.py", dir_ + "/raw.pcap"}).code, 0);
  auto raw = sim(conf, dir_ + "/raw.pcap");
  EXPECT_NE(raw.code, 0);
  EXPECT_NE(raw.err.find("Ethernet captures only"), std::string::npos) << raw.err;

  std::ofstream(dir_ + "/junk.pcap") << "not a capture at all\n";
  auto junk = sim(conf, dir_ + "/junk.pcap");
  EXPECT_NE(junk.code, 0);
  EXPECT_NE(junk.err.find("junk.pcap"), std::string::npos) << junk.err;

  auto section = sim(conf, dir_ + "/in.pcap", {"--iface-section", "eth77"});
  EXPECT_NE(section.code, 0);
  EXPECT_NE(section.err.find("no [interfaces.eth77] section"), std::string::npos) << section.err;
}

}  // namespace
}  // namespace xdpguard::test
