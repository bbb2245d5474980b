// The synproxy stage (bpf/synproxy.bpf.c) in BPF_PROG_TEST_RUN: SYNs built
// by scapy go in, and scapy judges the SYN-ACKs that come out (checksums
// recomputed from its own protocol definitions, options, lengths, addresses);
// the kernel's own cookie check judges the ACKs. Frames not for this host
// (other MACs, addresses that are not local) and SYNs with FIN or RST are
// never answered; a packet of a real socket's 4-tuple passes (a lab's
// namespace, its sockets). Conntrack ("established") and the kernel's
// SYNPROXY are exercised by the e2e test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "bpf/system.h"
#include "bpf/test_run.h"
#include "core/process.h"
#include "core/unique_fd.h"
#include "lab/lab.h"
#include "rules/parser.h"
#include "support/classifier_fixture.h"
#include "support/packet.h"

namespace xdpguard::test {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

// The SYNs, built by scapy: "name hex" per line.
constexpr const char* kSyns = R"PY(
import logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import *
E = Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
A4, B4, A6, B6 = "198.18.0.1", "198.18.0.2", "fd00::1", "fd00::2"
full = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (12345, 0)), ("NOP", None), ("WScale", 10)]
cases = {
  "v4_full": E / IP(src=A4, dst=B4) / TCP(sport=40000, dport=80, flags="S", seq=1000, options=full),
  "v4_ts_only": E / IP(src=A4, dst=B4) / TCP(sport=40001, dport=80, flags="S", seq=7, options=[("MSS", 1400), ("Timestamp", (99, 0))]),
  "v4_no_ts": E / IP(src=A4, dst=B4) / TCP(sport=40002, dport=80, flags="S", seq=0xfffffff0, options=[("MSS", 1400), ("SAckOK", b""), ("WScale", 5)]),
  "v4_bare": E / IP(src=A4, dst=B4) / TCP(sport=40003, dport=80, flags="S", seq=5),
  "v4_vlan": E / Dot1Q(vlan=7) / IP(src=A4, dst=B4) / TCP(sport=40004, dport=80, flags="S", seq=77, options=full),
  "v4_ws_big": E / IP(src=A4, dst=B4) / TCP(sport=40005, dport=80, flags="S", seq=9, options=[("Timestamp", (1, 0)), ("WScale", 15)]),
  "v6_full": E / IPv6(src=A6, dst=B6) / TCP(sport=40006, dport=80, flags="S", seq=1000, options=full),
  "v6_bare": E / IPv6(src=A6, dst=B6) / TCP(sport=40007, dport=80, flags="S", seq=3),
  "v4_bare_padded": E / IP(src=A4, dst=B4) / TCP(sport=40008, dport=80, flags="S", seq=5) / Padding(b"\0" * 6),
  "v6_vlan": E / Dot1Q(vlan=7) / IPv6(src=A6, dst=B6) / TCP(sport=40009, dport=80, flags="S", seq=11, options=full),
  "v4_qinq": Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01", type=0x88a8) / Dot1AD(vlan=5) / Dot1Q(vlan=7) / IP(src=A4, dst=B4) / TCP(sport=40010, dport=80, flags="S", seq=12, options=full),
}
for name, p in cases.items():
    print(name, bytes(p).hex())
)PY";

// The judge: "name syn_hex out_hex" per line of the file argv[1]; prints "ok name" or
// "FAIL name: why" per case.
constexpr const char* kJudge = R"PY(
import sys, logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import *
for line in open(sys.argv[1]):
    name, syn_hex, out_hex = line.split()
    s, raw = Ether(bytes.fromhex(syn_hex)), bytes.fromhex(out_hex)
    r = Ether(raw)
    bad = []
    def want(cond, why):
        if not cond: bad.append(why)
    v6 = IPv6 in s
    L3 = IPv6 if v6 else IP
    want(r.dst == s.src and r.src == s.dst, "MACs not swapped")
    l3 = len(bytes(s)) - len(bytes(s[L3]))
    want(raw[12:l3] == bytes.fromhex(syn_hex)[12:l3], "VLAN tags or EtherType changed")
    want(Dot1Q in r if Dot1Q in s else Dot1Q not in r, "VLAN tag changed")
    si, ri, st, rt = s[L3], r[L3], s[TCP], r[TCP]
    want(ri.src == si.dst and ri.dst == si.src, "addresses not swapped")
    # checksums: scapy's own, over what we sent
    x = r.copy()
    if v6:
        del x[TCP].chksum
    else:
        del x[IP].chksum
        del x[TCP].chksum
        del x[IP].len
    x = Ether(bytes(x))
    want(x[TCP].chksum == rt.chksum, "TCP checksum %#x, scapy says %#x" % (rt.chksum, x[TCP].chksum))
    if v6:
        want(ri.hlim == 64 and ri.plen == len(rt), "IPv6 hop limit/payload length")
    else:
        want(x[IP].chksum == ri.chksum, "IP checksum %#x, scapy says %#x" % (ri.chksum, x[IP].chksum))
        want(ri.ttl == 64 and ri.ihl == 5 and ri.flags == "DF" and ri.len == len(ri), "IPv4 ttl/ihl/DF/length")
    want(len(raw) == len(bytes(x)), "frame has %d bytes, headers %d" % (len(raw), len(bytes(x))))
    syn_len = len(bytes.fromhex(syn_hex))
    want(len(raw) <= syn_len, "SYN-ACK of %d bytes for a SYN of %d" % (len(raw), syn_len))
    want(rt.sport == st.dport and rt.dport == st.sport, "ports not swapped")
    want(rt.flags == "SA", "flags %s" % rt.flags)
    want(rt.ack == (st.seq + 1) % 2**32, "ack %d for seq %d" % (rt.ack, st.seq))
    want(rt.window == 0, "window %d (SYNPROXY's SYN-ACK has 0)" % rt.window)
    want(len(rt.payload) == 0, "payload")
    so, ro = dict(st.options), dict(rt.options)
    # our MSS only where it fits in the SYN's frame: a client without one of
    # its own sent no room for it unless its frame was padded
    mss_fits = "MSS" in so or name.endswith("_padded")
    want(ro.get("MSS") == ((1440 if v6 else 1460) if mss_fits else None), "MSS %s" % ro.get("MSS"))
    if "Timestamp" in so:
        tsval, tsecr = ro.get("Timestamp", (None, None))
        want(tsecr == so["Timestamp"][0], "TS echo %s" % tsecr)
        ws = min(so["WScale"], 14) if "WScale" in so else 0xf
        cookie = ws | (0x10 if "SAckOK" in so else 0)
        want(tsval is not None and tsval & 0x3f == cookie, "TS cookie bits %s, want %#x" % (tsval, cookie))
        want(("SAckOK" in ro) == ("SAckOK" in so), "SACK-permitted")
        want(ro.get("WScale") == (7 if "WScale" in so else None), "window scale %s" % ro.get("WScale"))
    else:
        want(list(ro) == (["MSS"] if mss_fits else []), "options %s without client timestamps" % list(ro))
    print(("FAIL %s: %s" % (name, "; ".join(bad))) if bad else "ok " + name)
)PY";

Bytes from_hex(const std::string& h) {
  Bytes b;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2)
    b.push_back(static_cast<std::uint8_t>(std::stoul(h.substr(i, 2), nullptr, 16)));
  return b;
}

// Runs a Python script (Debian's python3 with scapy, scripts/setup.sh), with
// `input` in a file named by argv[1].
std::string run_python(const std::string& script, const std::string& input = "") {
  auto temp = [](const std::string& text) {
    char path[] = "/tmp/xg-synproxy-XXXXXX";
    int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    return std::string(path);
  };
  const std::string script_path = temp(script), input_path = temp(input);
  auto r = run_process({kPython, script_path, input_path}, std::chrono::seconds(60));
  ::unlink(script_path.c_str());
  ::unlink(input_path.c_str());
  EXPECT_TRUE(r) << r.error().message();
  if (!r) return "";
  EXPECT_EQ(r->exit_code, 0) << r->err;
  return r->out;
}

std::uint32_t be32(const Bytes& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) |
         b[at + 3];
}

// The cookie: the sequence number of an untagged SYN-ACK.
std::uint32_t cookie_of(const Bytes& synack, bool v6) { return be32(synack, 14 + (v6 ? 40 : 20) + 4); }

// Whom the in-process stage answers for: the server of lab_packet() (MAC
// 02:00:00:00:00:02, 198.18.0.2 and fd00::2), as an attached one answers
// for its interface's MAC and the namespace's local addresses.
SynproxyIdentity lab_server_identity() {
  SynproxyIdentity id;
  id.mac = {0x02, 0, 0, 0, 0, 0x02};
  for (const char* a : {"198.18.0.2", "fd00::2"}) id.local.push_back(*rules::parse_prefix(a));
  return id;
}

class SynproxyTest : public ClassifierFixture {
 protected:
  void SetUp() override {
    ClassifierFixture::SetUp();
    if (HasFatalFailure()) return;
    SynproxyConfig cfg;
    cfg.ports = {80, 443};
    cfg.identity = lab_server_identity();
    auto st = guard_->synproxy_enable(cfg, /*host=*/false);
    ASSERT_TRUE(st) << st.error().message();
    ASSERT_EQ(st->state, XDPGUARD_SYNPROXY_ON);
    ASSERT_TRUE(st->active && st->stage);
  }
  TestRunResult go(const Bytes& frame) {
    auto r = test_run(prog_->prog_fd(), frame);
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : TestRunResult{};
  }
  std::uint64_t counter(int which) {
    auto s = guard_->ddos_stats();
    EXPECT_TRUE(s) << s.error().message();
    return s ? s->counters[static_cast<std::size_t>(which)].packets : 0;
  }
};

TEST_F(SynproxyTest, SynsAreAnsweredWithSynAcksScapyAccepts) {
  std::istringstream syns(run_python(kSyns));
  std::string name, hex, judge_input;
  int n = 0;
  while (syns >> name >> hex) {
    auto r = go(from_hex(hex));
    EXPECT_EQ(r.verdict, XDP_TX) << name;
    judge_input += name + " " + hex + " " + to_hex(r.out) + "\n";
    ++n;
  }
  ASSERT_EQ(n, 11);
  std::istringstream verdicts(run_python(kJudge, judge_input));
  std::string line;
  int ok = 0;
  while (std::getline(verdicts, line)) {
    EXPECT_EQ(line.rfind("ok ", 0), 0u) << line;
    ok += line.rfind("ok ", 0) == 0;
  }
  EXPECT_EQ(ok, n);
  EXPECT_EQ(counter(XDPGUARD_DDOS_SYN_COOKIE), 11u);
  auto stats = guard_->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->actions[XDP_TX].packets, 11u);
}

// The ACK that completes the handshake: the cookie in ack - 1 is checked by
// the kernel (bpf_tcp_raw_check_syncookie_*); a wrong one is dropped.
TEST_F(SynproxyTest, AckWithTheCookiePassesAndAWrongOneIsDropped) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    auto base = [&] { return lab_packet(v6); };
    auto syn = base().tcp(41000, 443).seq(500).flags(SYN).tcp_options({0x02, 0x04, 0x05, 0xb4}).bytes();
    auto r = go(syn);
    ASSERT_EQ(r.verdict, XDP_TX);
    const std::uint32_t cookie = cookie_of(r.out, v6);
    auto ack = [&](std::uint32_t a) { return base().tcp(41000, 443).seq(501).ack_seq(a).flags(ACK).bytes(); };
    const auto valid = counter(XDPGUARD_DDOS_ACK_VALID), invalid = counter(XDPGUARD_DDOS_ACK_INVALID);
    EXPECT_EQ(go(ack(cookie + 1)).verdict, XDP_PASS);
    EXPECT_EQ(counter(XDPGUARD_DDOS_ACK_VALID), valid + 1);
    // (the low bits carry the MSS index: a neighbour may be another valid
    // cookie; the kernel's check, not ours, decides that)
    EXPECT_EQ(go(ack((cookie ^ 0x80000000u) + 1)).verdict, XDP_DROP);
    EXPECT_EQ(go(ack((cookie ^ 0x00ff0000u) + 1)).verdict, XDP_DROP);
    EXPECT_EQ(counter(XDPGUARD_DDOS_ACK_INVALID), invalid + 2);
  }
}

// The stage rewrites only plain headers in place: a SYN behind IPv4
// options or an IPv6 extension header is left to the kernel's SYNPROXY
// (passed, untouched). Its ACK and a zero-window probe carry the same
// cookie (options do not enter it) and are still judged in the frame,
// at the TCP header's own offset.
TEST_F(SynproxyTest, HeadersBehindIpOptionsAreJudgedWhereTheyAre) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    auto plain = [&] { return lab_packet(v6); };
    auto padded = [&] {
      return v6 ? Packet().eth().ipv6("fd00::1", "fd00::2").dest_opts()
                : Packet().eth().ipv4("198.18.0.1", "198.18.0.2").ip_options({1, 1, 1, 0});
    };
    const std::uint16_t mss = v6 ? 8940 : 1460;
    const Bytes opts = {0x02, 0x04, static_cast<std::uint8_t>(mss >> 8), static_cast<std::uint8_t>(mss)};
    auto syn = padded().tcp(41002, 80).seq(700).flags(SYN).tcp_options(opts).bytes();
    auto left = go(syn);
    EXPECT_EQ(left.verdict, XDP_PASS);
    EXPECT_EQ(to_hex(left.out), to_hex(syn));
    auto r = go(plain().tcp(41002, 80).seq(700).flags(SYN).tcp_options(opts).bytes());
    ASSERT_EQ(r.verdict, XDP_TX);
    const std::uint32_t cookie = cookie_of(r.out, v6);
    const auto valid = counter(XDPGUARD_DDOS_ACK_VALID);
    EXPECT_EQ(go(padded().tcp(41002, 80).seq(701).ack_seq(cookie + 1).flags(ACK).bytes()).verdict, XDP_PASS);
    EXPECT_EQ(counter(XDPGUARD_DDOS_ACK_VALID), valid + 1);
    EXPECT_EQ(
        go(padded().tcp(41002, 80).seq(701).ack_seq((cookie ^ 0x00ff0000u) + 1).flags(ACK).bytes()).verdict,
        XDP_DROP);
    auto probe = go(padded().tcp(41002, 80).seq(700).ack_seq(cookie + 1).flags(ACK).bytes());
    EXPECT_EQ(probe.verdict, XDP_PASS);
    EXPECT_EQ(to_hex(probe.out),
              to_hex(padded().tcp(41002, 80).seq(701).ack_seq(cookie + 1).flags(ACK).bytes()));
  }
}

// The client's handshake ACK was lost: our SYN-ACK offered window 0, so all
// it sends is zero-window probes (seq = its ISN). One with our cookie is
// rewritten into the lost ACK (seq + 1, checksum updated) and passed.
TEST_F(SynproxyTest, AZeroWindowProbeAfterALostAckBecomesThatAck) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    auto base = [&] { return lab_packet(v6); };
    // The client's MSS picks the cookie's MSS index: the highest (IPv4
    // 1460, IPv6 8940) is the one where a probe cannot pass for the ACK of
    // the next-higher index (the kernel's cookie check accepts a sequence
    // number one off with a neighbouring MSS index: docs/ddos.md).
    const std::uint16_t mss = v6 ? 8940 : 1460;
    auto r =
        go(base()
               .tcp(41001, 80)
               .seq(900)
               .flags(SYN)
               .tcp_options({0x02, 0x04, static_cast<std::uint8_t>(mss >> 8), static_cast<std::uint8_t>(mss)})
               .bytes());
    ASSERT_EQ(r.verdict, XDP_TX);
    const std::uint32_t cookie = cookie_of(r.out, v6);
    auto probe = go(base().tcp(41001, 80).seq(900).ack_seq(cookie + 1).flags(ACK).bytes());
    EXPECT_EQ(probe.verdict, XDP_PASS);
    // exactly the ACK that was lost, checksum included (the builder's)
    EXPECT_EQ(to_hex(probe.out),
              to_hex(base().tcp(41001, 80).seq(901).ack_seq(cookie + 1).flags(ACK).bytes()));
    // a probe with a wrong cookie stays dropped
    EXPECT_EQ(
        go(base().tcp(41001, 80).seq(900).ack_seq((cookie ^ 0x00ff0000u) + 1).flags(ACK).bytes()).verdict,
        XDP_DROP);
  }
}

// Ports the proxy does not own, other protocols and what the rules drop
// never reach it; packets to its ports without a connection that are
// neither SYN nor ACK are dropped.
TEST_F(SynproxyTest, OnlyPassedTcpToItsPortsIsProxied) {
  auto tcp4 = [](std::uint16_t dport, std::uint8_t flags) {
    return Packet().eth().ipv4("198.18.0.1", "198.18.0.2").tcp(42000, dport).seq(1).flags(flags).bytes();
  };
  EXPECT_EQ(go(tcp4(8080, SYN)).verdict, XDP_PASS);
  EXPECT_EQ(go(Packet().eth().ipv4("198.18.0.1", "198.18.0.2").udp(42000, 80).bytes()).verdict, XDP_PASS);
  EXPECT_EQ(go(tcp4(80, RST)).verdict, XDP_DROP);
  EXPECT_EQ(go(tcp4(80, FIN)).verdict, XDP_DROP);
  EXPECT_EQ(counter(XDPGUARD_DDOS_SYNPROXY_DROP), 2u);
  ASSERT_TRUE(guard_->add_rule("drop tcp saddr 198.18.0.1"));
  EXPECT_EQ(go(tcp4(80, SYN)).verdict, XDP_DROP);  // the rule set decides first
  EXPECT_EQ(counter(XDPGUARD_DDOS_SYN_COOKIE), 0u);
  // `log` rules reach the proxy through enforce
  ASSERT_TRUE(guard_->replace_rules({"pass tcp dport 80 log"}));
  EXPECT_EQ(go(tcp4(80, SYN)).verdict, XDP_TX);
  EXPECT_EQ(counter(XDPGUARD_DDOS_SYN_COOKIE), 1u);
}

TEST_F(SynproxyTest, DisableStopsItAndEnableAgainWorks) {
  auto syn = Packet().eth().ipv4("198.18.0.1", "198.18.0.2").tcp(43000, 80).seq(1).flags(SYN).bytes();
  EXPECT_EQ(go(syn).verdict, XDP_TX);
  ASSERT_TRUE(guard_->synproxy_disable());
  auto st = guard_->synproxy_status();
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, XDPGUARD_SYNPROXY_OFF);
  EXPECT_FALSE(st->stage);
  EXPECT_EQ(go(syn).verdict, XDP_PASS);
  EXPECT_EQ(guard_->synproxy_disable().error().code(), ENOENT);
  SynproxyConfig cfg;
  cfg.ports = {80};
  cfg.identity = lab_server_identity();
  ASSERT_TRUE(guard_->synproxy_enable(cfg, false));
  auto again = guard_->synproxy_enable(cfg, false);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("on already"), std::string::npos) << again.error().message();
  EXPECT_EQ(go(syn).verdict, XDP_TX);
}

// Frames that are not for this host, built by scapy: "name hex" per line.
// Every one is a plain SYN to port 80 that the stage would answer if it
// were addressed to the lab server (02:00:00:00:00:02, 198.18.0.2, fd00::2).
constexpr const char* kNotForUs = R"PY(
import logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import *
US, C = "02:00:00:00:00:02", "02:00:00:00:00:01"
syn = TCP(sport=40000, dport=80, flags="S", seq=1000, options=[("MSS", 1460)])
cases = {
  "broadcast_mac": Ether(dst="ff:ff:ff:ff:ff:ff", src=C) / IP(src="198.18.0.1", dst="198.18.0.2") / syn,
  "multicast_mac": Ether(dst="01:00:5e:00:00:01", src=C) / IP(src="198.18.0.1", dst="198.18.0.2") / syn,
  "other_hosts_mac": Ether(dst="02:00:00:00:00:99", src=C) / IP(src="198.18.0.1", dst="198.18.0.2") / syn,
  "other_hosts_mac_v6": Ether(dst="02:00:00:00:00:99", src=C) / IPv6(src="fd00::1", dst="fd00::2") / syn,
  "ipv6_multicast_mac": Ether(dst="33:33:00:00:00:02", src=C) / IPv6(src="fd00::1", dst="fd00::2") / syn,
  "not_local_ip": Ether(dst=US, src=C) / IP(src="198.18.0.1", dst="198.18.5.5") / syn,
  "subnet_broadcast_ip": Ether(dst=US, src=C) / IP(src="198.18.0.1", dst="198.18.0.255") / syn,
  "limited_broadcast_ip": Ether(dst=US, src=C) / IP(src="198.18.0.1", dst="255.255.255.255") / syn,
  "multicast_ip": Ether(dst=US, src=C) / IP(src="198.18.0.1", dst="224.0.0.1") / syn,
  "not_local_ipv6": Ether(dst=US, src=C) / IPv6(src="fd00::1", dst="fd00::99") / syn,
  "multicast_ipv6": Ether(dst=US, src=C) / IPv6(src="fd00::1", dst="ff02::1") / syn,
  "vlan_other_mac": Ether(dst="02:00:00:00:00:99", src=C) / Dot1Q(vlan=7) / IP(src="198.18.0.1", dst="198.18.0.2") / syn,
  "ours": Ether(dst=US, src=C) / IP(src="198.18.0.1", dst="198.18.0.2") / syn,
  "ours_v6": Ether(dst=US, src=C) / IPv6(src="fd00::1", dst="fd00::2") / syn,
}
for name, p in cases.items():
    print(name, bytes(p).hex())
)PY";

// The proxy answers only frames for this host: anything else passes
// untouched (the kernel then does what it would without the proxy). Twice,
// the second time after the host's own SYNs: the stage remembers the last
// local address it found (per CPU), and no other address may pass for it.
TEST_F(SynproxyTest, SynsThatAreNotForThisHostArePassedUntouched) {
  std::istringstream frames(run_python(kNotForUs));
  std::vector<std::pair<std::string, Bytes>> cases;
  for (std::string name, hex; frames >> name >> hex;) cases.emplace_back(name, from_hex(hex));
  ASSERT_EQ(cases.size(), 14u);
  int passed = 0, answered = 0;
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "nothing remembered yet" : "after the host's own SYNs");
    for (const auto& [name, in] : cases) {
      auto r = go(in);
      if (name.rfind("ours", 0) == 0) {
        EXPECT_EQ(r.verdict, XDP_TX) << name;
        ++answered;
        continue;
      }
      EXPECT_EQ(r.verdict, XDP_PASS) << name << ": a SYN not for this host must not be answered";
      EXPECT_EQ(to_hex(r.out), to_hex(in)) << name << ": passed, but changed";
      ++passed;
    }
    // the host's own last, then first
    std::vector<std::pair<std::string, Bytes>> ours_first;
    for (bool ours : {true, false})
      for (const auto& c : cases)
        if ((c.first.rfind("ours", 0) == 0) == ours) ours_first.push_back(c);
    cases = std::move(ours_first);
  }
  ASSERT_EQ(passed, 24);
  ASSERT_EQ(answered, 4);
  EXPECT_EQ(counter(XDPGUARD_DDOS_SYN_COOKIE), 4u);
  EXPECT_EQ(counter(XDPGUARD_DDOS_NOT_LOCAL), 24u);
}

// Nor is anything else dropped or rewritten that is not for this host.
TEST_F(SynproxyTest, OtherPacketsNotForThisHostPassToo) {
  auto to = [](const char* dst_mac, const char* dst_ip, std::uint8_t flags) {
    return Packet()
        .eth(dst_mac)
        .ipv4("198.18.0.1", dst_ip)
        .tcp(42000, 80)
        .seq(1)
        .ack_seq(7)
        .flags(flags)
        .bytes();
  };
  for (std::uint8_t flags : {ACK, RST, FIN, static_cast<std::uint8_t>(SYN | FIN)}) {
    SCOPED_TRACE(static_cast<int>(flags));
    EXPECT_EQ(go(to("02:00:00:00:00:99", "198.18.0.2", flags)).verdict, XDP_PASS);
    EXPECT_EQ(go(to("02:00:00:00:00:02", "198.18.9.9", flags)).verdict, XDP_PASS);
    EXPECT_EQ(go(to("02:00:00:00:00:02", "198.18.0.2", flags)).verdict, XDP_DROP);  // ours: no connection
  }
}

// Only a plain SYN (ACK, RST, FIN clear) gets a cookie. SYN|FIN and SYN|RST
// come from scanners and stack fingerprinting, never from a client; a
// listening socket discards them, and so does the stage (counted). ECN's
// SYN (ECE|CWR) and SYNs with PSH or URG are SYNs a listener accepts.
TEST_F(SynproxyTest, OnlyPlainSynsAreAnswered) {
  auto syn = [](std::uint8_t flags) {
    return Packet().eth().ipv4("198.18.0.1", "198.18.0.2").tcp(44000, 80).seq(9).flags(flags).bytes();
  };
  for (std::uint8_t f :
       {static_cast<std::uint8_t>(SYN | FIN), static_cast<std::uint8_t>(SYN | RST),
        static_cast<std::uint8_t>(SYN | FIN | RST), static_cast<std::uint8_t>(SYN | FIN | PSH | URG)})
    EXPECT_EQ(go(syn(f)).verdict, XDP_DROP) << "flags " << static_cast<int>(f);
  EXPECT_EQ(counter(XDPGUARD_DDOS_SYN_INVALID), 4u);
  EXPECT_EQ(counter(XDPGUARD_DDOS_SYN_COOKIE), 0u);
  for (std::uint8_t f : {SYN, static_cast<std::uint8_t>(SYN | ECE | CWR),
                         static_cast<std::uint8_t>(SYN | PSH), static_cast<std::uint8_t>(SYN | URG)})
    EXPECT_EQ(go(syn(f)).verdict, XDP_TX) << "flags " << static_cast<int>(f);
  EXPECT_EQ(counter(XDPGUARD_DDOS_SYN_COOKIE), 4u);
  // A SYN|ACK to the port is no handshake of ours: no connection, dropped.
  EXPECT_EQ(go(syn(SYN | ACK)).verdict, XDP_DROP);
  EXPECT_EQ(counter(XDPGUARD_DDOS_SYN_COOKIE), 4u);
}

// A connection the host has a socket for passes, conntrack or not (one open
// before `enable` is in no conntrack table); only its exact 4-tuple does: a
// spoofed ACK of no socket, with a bad cookie, is dropped as before. Real
// sockets in a lab: a listener in the server's namespace, a client in the
// client's; the frames run through the stage in the server's namespace,
// where its socket lookup looks.
TEST_F(SynproxyTest, APacketOfARealSocketPassesASpoofedAckDoesNot) {
  auto lab = Lab::create({.ipv6 = false, .prefix = "xd10"});
  ASSERT_TRUE(lab) << lab.error().message();
  constexpr std::uint16_t kPort = 443;
  UniqueFd listener, accepted, client;
  ASSERT_TRUE(run_in_netns(lab->server().netns, [&] {
    listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listener) {
      ADD_FAILURE() << "socket: " << std::strerror(errno);
      return;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(kPort);
    inet_pton(AF_INET, lab->server().ip4.c_str(), &a.sin_addr);
    int one = 1;
    ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listener.get(), 8), 0);
  }));
  std::uint16_t cport = 0;
  ASSERT_TRUE(run_in_netns(lab->client().netns, [&] {
    client.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!client) {
      ADD_FAILURE() << "socket: " << std::strerror(errno);
      return;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(kPort);
    inet_pton(AF_INET, lab->server().ip4.c_str(), &a.sin_addr);
    timeval tv{5, 0};
    ::setsockopt(client.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    EXPECT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    sockaddr_in me{};
    socklen_t len = sizeof me;
    ::getsockname(client.get(), reinterpret_cast<sockaddr*>(&me), &len);
    cport = ntohs(me.sin_port);
  }));
  ASSERT_NE(cport, 0);
  accepted.reset(::accept(listener.get(), nullptr, nullptr));
  ASSERT_TRUE(accepted);

  auto ack = [&](std::uint16_t sport, std::uint8_t flags) {
    return Packet()
        .eth()
        .ipv4(lab->client().ip4, lab->server().ip4)
        .tcp(sport, kPort)
        .seq(12345)
        .ack_seq(0x5eed)
        .flags(flags)
        .payload(5)
        .bytes();
  };
  std::uint32_t real = 0, spoofed = 0, to_listener = 0, real_fin = 0;
  ASSERT_TRUE(run_in_netns(lab->server().netns, [&] {
    real = go(ack(cport, ACK | PSH)).verdict;
    real_fin = go(ack(cport, ACK | FIN)).verdict;
    spoofed = go(ack(static_cast<std::uint16_t>(cport + 1), ACK | PSH)).verdict;
    // the listener's own port and address, but no connection: the lookup
    // finds the listener, which is no connection
    to_listener = go(ack(static_cast<std::uint16_t>(cport ^ 0x4000), ACK)).verdict;
  }));
  EXPECT_EQ(real, XDP_PASS) << "a packet of a real connection (its socket exists) was dropped";
  EXPECT_EQ(real_fin, XDP_PASS);
  EXPECT_EQ(spoofed, XDP_DROP) << "a spoofed ACK of no socket passed";
  EXPECT_EQ(to_listener, XDP_DROP);
  EXPECT_EQ(counter(XDPGUARD_DDOS_SOCKET), 2u);
  EXPECT_EQ(counter(XDPGUARD_DDOS_ACK_INVALID), 2u);
}

}  // namespace
}  // namespace xdpguard::test
