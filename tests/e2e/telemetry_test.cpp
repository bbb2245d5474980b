// Telemetry against real traffic across a lab (names xt11<pid>...): `events`
// prints exactly one record for each packet a `log` rule matched, each field
// equal to what was sent; `capture` writes a pcap file that tshark reads
// back with the same packets, in the same order, with their true lengths;
// bad input fails with one clear line.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>
#include <sstream>

#include "e2e_support.h"

namespace xdpguard::test {
namespace {

class TelemetryLabTest : public GuardedLabTest {
 protected:
  LabOptions lab_options() const override { return {.ipv6 = false, .prefix = "xt11"}; }
  void TearDown() override {
    GuardedLabTest::TearDown();
    for (const auto& f : files_) std::filesystem::remove(f);
  }

  std::string temp_file(const std::string& name) {
    files_.push_back("/tmp/" + lab_->prefix() + "-" + name);
    std::filesystem::remove(files_.back());
    return files_.back();
  }

  std::uint32_t add_rule(const std::string& rule) {
    auto r = xg_srv(*lab_, {"rule", "add", lab_->server().veth, rule});
    EXPECT_EQ(r.code, 0) << r.err;
    return static_cast<std::uint32_t>(std::stoul(r.out.empty() ? "0" : r.out));
  }

  // A reader (events or capture) runs on the server's interface.
  bool reader_running() {
    auto s = stats_json(*lab_);
    return s.contains("telemetry") && !s["telemetry"]["reader"].is_null();
  }

  // `xdpguard -n srv ARGS` run in the background: its result when it ends.
  std::future<CliRun> start(std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", lab_->server().netns});
    auto fut = std::async(std::launch::async, [args] { return xdpguard_cli(args); });
    EXPECT_TRUE(wait_until([&] { return reader_running(); }, std::chrono::seconds(30)))
        << "the reader did not start";
    return fut;
  }

  // UDP datagram i from client port 40000 + i to the server's `port`, with
  // payload_len(i) bytes. Sent one by one, in order.
  static std::size_t payload_len(int i) { return 1 + static_cast<std::size_t>(i) * 37 % 300; }
  void send_udp(std::uint16_t port, int n) {
    EXPECT_TRUE(run_in_netns(lab_->client().netns, [&] {
      for (int i = 0; i < n; ++i) {
        UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        ASSERT_TRUE(fd) << std::strerror(errno);
        auto from = sockaddr4(lab_->client().ip4, static_cast<std::uint16_t>(40000 + i));
        ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from), 0);
        auto to = sockaddr4(lab_->server().ip4, port);
        std::string msg(payload_len(i), 'x');
        ASSERT_EQ(::sendto(fd.get(), msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
                  static_cast<ssize_t>(msg.size()));
      }
    }));
  }
  // One SYN each (the socket is closed before any retransmission).
  void send_syns(std::uint16_t port, int n) {
    EXPECT_TRUE(run_in_netns(lab_->client().netns, [&] {
      for (int i = 0; i < n; ++i) {
        UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        ASSERT_TRUE(fd) << std::strerror(errno);
        auto from = sockaddr4(lab_->client().ip4, static_cast<std::uint16_t>(41000 + i));
        ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from), 0)
            << std::strerror(errno);
        auto to = sockaddr4(lab_->server().ip4, port);
        (void)::connect(fd.get(), reinterpret_cast<sockaddr*>(&to),
                        sizeof to);  // EINPROGRESS: the SYN is out
      }
    }));
  }

  std::vector<std::string> files_;
};

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

TEST_F(TelemetryLabTest, EventsPrintsOneRecordPerLoggedPacketWithTheFieldsSent) {
  const Lab& lab = *lab_;
  const std::uint32_t udp_id = add_rule("drop udp dport 5000 log");
  const std::uint32_t tcp_id = add_rule("drop tcp dport 23 log");
  add_rule("drop udp dport 5001");  // no log: no record
  constexpr int kUdp = 40, kSyn = 5, kOther = 10;
  auto ev = start(
      {"events", lab.server().veth, "--json", "--count", std::to_string(kUdp + kSyn), "--duration", "20"});
  send_udp(5000, kUdp);
  send_udp(5001, kOther);
  send_syns(23, kSyn);
  ASSERT_EQ(ev.wait_for(std::chrono::seconds(25)), std::future_status::ready);
  CliRun r = ev.get();
  ASSERT_EQ(r.code, 0) << r.err;

  auto got = lines(r.out);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kUdp + kSyn)) << r.out;
  for (int i = 0; i < kUdp + kSyn; ++i) {
    auto j = nlohmann::json::parse(got[static_cast<std::size_t>(i)]);
    SCOPED_TRACE(j.dump());
    EXPECT_EQ(j["type"], "packet");
    EXPECT_EQ(j["interface"], lab.server().veth);
    EXPECT_EQ(j["verdict"], "drop");
    EXPECT_EQ(j["reason"], "log");
    EXPECT_EQ(j["family"], "ipv4");
    EXPECT_EQ(j["saddr"], lab.client().ip4);
    EXPECT_EQ(j["daddr"], lab.server().ip4);
    if (i < kUdp) {
      EXPECT_EQ(j["rule_id"], udp_id);
      EXPECT_EQ(j["proto"], "udp");
      EXPECT_EQ(j["sport"], 40000 + i);
      EXPECT_EQ(j["dport"], 5000);
      EXPECT_EQ(j["len"], 14 + 20 + 8 + payload_len(i));
      EXPECT_FALSE(j.contains("tcp_flags"));
    } else {
      EXPECT_EQ(j["rule_id"], tcp_id);
      EXPECT_EQ(j["proto"], "tcp");
      EXPECT_EQ(j["sport"], 41000 + i - kUdp);
      EXPECT_EQ(j["dport"], 23);
      EXPECT_EQ(j["tcp_flags"], "syn");
      EXPECT_GE(j["len"].get<int>(), 14 + 20 + 20);
    }
    EXPECT_EQ(j["caplen"], 0);  // headers as parsed, no frame bytes by default
  }
  auto s = stats_json(lab);
  EXPECT_EQ(s["telemetry"]["records"], kUdp + kSyn);
  EXPECT_EQ(s["telemetry"]["lost"], 0);
  EXPECT_TRUE(s["telemetry"]["reader"].is_null());  // the reader said it stopped
  EXPECT_EQ(s["actions"]["drop"]["packets"], kUdp + kSyn + kOther);
}

TEST_F(TelemetryLabTest, EventsTextIsOneLinePerRecord) {
  const Lab& lab = *lab_;
  const std::uint32_t id = add_rule("pass udp dport 5002 log");
  auto ev = start({"events", lab.server().veth, "--count", "1", "--duration", "20"});
  send_udp(5002, 1);
  ASSERT_EQ(ev.wait_for(std::chrono::seconds(25)), std::future_status::ready);
  CliRun r = ev.get();
  ASSERT_EQ(r.code, 0) << r.err;
  auto got = lines(r.out);
  ASSERT_EQ(got.size(), 1u) << r.out;
  // 12:00:01.123456 pass rule 1 log udp 198.18.0.1:40000 > 198.18.0.2:5002 len 43
  const std::string want = fmt::format(" pass rule {} log udp {}:40000 > {}:5002 len {}", id,
                                       lab.client().ip4, lab.server().ip4, 14 + 20 + 8 + payload_len(0));
  EXPECT_EQ(got[0].substr(15), want) << got[0];
}

TEST_F(TelemetryLabTest, CaptureWritesPcapThatTsharkReadsBackWithTrueLengths) {
  const Lab& lab = *lab_;
  add_rule("drop udp dport 5000");  // no log: a capture asks the kernel itself
  add_rule("drop tcp dport 23");
  constexpr int kN = 20;
  const std::string file = temp_file("capture.pcap");
  // Its stderr says when it captures (as tcpdump's "listening on"): the
  // classifier is recompiled with the capture's check after the reader is
  // registered, so a packet sent in between is not asked for.
  const std::string log = temp_file("capture.log");
  auto cap = BackgroundProcess::start({XDPGUARD_BIN, "-n", lab.server().netns, "capture", lab.server().veth,
                                       "-w", file, "--count", std::to_string(kN), "--snaplen", "128",
                                       "--verdict", "drop", "--duration", "20", "udp and dst port 5000"},
                                      log);
  ASSERT_TRUE(cap) << cap.error().message();
  auto log_text = [&] {
    std::ifstream in(log);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  ASSERT_TRUE(wait_until([&] { return log_text().find("Ctrl-C stops") != std::string::npos; },
                         std::chrono::seconds(30)))
      << log_text();
  send_udp(5001, 5);  // passed: not asked for
  send_syns(23, 3);   // dropped, but the filter says udp
  send_udp(5000, kN);
  ASSERT_EQ(cap->stop(0, std::chrono::seconds(25)), 0) << log_text();  // signal 0: waits for its own end
  EXPECT_NE(log_text().find("20 packets written, 3 filtered out, 0 lost"), std::string::npos) << log_text();

  auto ts = run_process({"tshark", "-n",          "-r", file,        "-T", "fields",
                         "-E",     "separator=,", "-e", "frame.len", "-e", "frame.cap_len",
                         "-e",     "ip.src",      "-e", "ip.dst",    "-e", "udp.srcport",
                         "-e",     "udp.dstport", "-e", "udp.length"});
  ASSERT_TRUE(ts) << ts.error().message();
  ASSERT_EQ(ts->exit_code, 0) << ts->err;
  auto got = lines(ts->out);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kN)) << ts->out;
  for (int i = 0; i < kN; ++i) {
    const std::size_t len = 14 + 20 + 8 + payload_len(i);
    EXPECT_EQ(got[static_cast<std::size_t>(i)],
              fmt::format("{},{},{},{},{},5000,{}", len, std::min<std::size_t>(len, 128), lab.client().ip4,
                          lab.server().ip4, 40000 + i, 8 + payload_len(i)));
  }
}

TEST_F(TelemetryLabTest, BadInputFailsWithOneClearLine) {
  const Lab& lab = *lab_;
  const std::string& veth = lab.server().veth;
  const std::string file = temp_file("bad.pcap");
  auto one_line = [](const CliRun& r) {
    EXPECT_NE(r.code, 0);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    return r.err;
  };
  auto e = one_line(xg_srv(lab, {"capture", veth, "-w", file, "tcp and prot 23"}));
  EXPECT_NE(e.find("xdpguard: capture " + veth + ": bad filter 'tcp and prot 23'"), std::string::npos) << e;
  EXPECT_FALSE(std::filesystem::exists(file));
  e = one_line(xg_srv(lab, {"capture", veth, "-w", "/proc/xt11-none/x.pcap"}));
  EXPECT_NE(e.find("cannot write /proc/xt11-none/x.pcap"), std::string::npos) << e;
  e = one_line(xg_srv(lab, {"capture", veth, "-w", file, "--verdict", "dropped"}));
  EXPECT_NE(e.find("unknown verdict 'dropped'"), std::string::npos) << e;
  e = one_line(xg_srv(lab, {"capture", lab.client().veth, "-w", file}));  // not in the server's namespace
  EXPECT_NE(e.find("no such interface"), std::string::npos) << e;
  EXPECT_NE(xg_srv(lab, {"capture", veth, "-w", file, "--snaplen", "5000"}).code, 0);

  // One reader at a time.
  auto cap = start({"capture", veth, "-w", file, "--duration", "3"});
  e = one_line(xg_srv(lab, {"events", veth}));
  EXPECT_NE(e.find("already reads " + veth + "'s records; one reader at a time"), std::string::npos) << e;
  EXPECT_EQ(cap.get().code, 0);
}

TEST_F(TelemetryLabTest, TopOnceShowsTheBusiestRuleFirst) {
  const Lab& lab = *lab_;
  add_rule("drop tcp dport 23");
  const std::uint32_t udp = add_rule("drop udp dport 5000");
  // 300 datagrams over about 1.5 s, while top measures one second of it.
  std::thread traffic([&] {
    EXPECT_TRUE(run_in_netns(lab.client().netns, [&] {
      UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      if (!fd) return;
      auto to = sockaddr4(lab.server().ip4, 5000);
      for (int i = 0; i < 300; ++i) {
        ::sendto(fd.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto r = xg_srv(lab, {"top", lab.server().veth, "--once"});
  traffic.join();
  ASSERT_EQ(r.code, 0) << r.err;
  std::printf("%s", r.out.c_str());  // the frame, for the log
  EXPECT_EQ(r.out.find("\x1b"), std::string::npos) << "--once prints no escape codes";
  auto got = lines(r.out);
  // The rule table: header, then the busiest rule.
  auto hdr =
      std::find_if(got.begin(), got.end(), [](const std::string& l) { return l.find("   rule ") == 0; });
  ASSERT_NE(hdr, got.end()) << r.out;
  ASSERT_NE(hdr + 1, got.end()) << r.out;
  std::istringstream row(*(hdr + 1));
  std::string id, pps;
  row >> id >> pps;
  EXPECT_EQ(id, std::to_string(udp)) << r.out;
  EXPECT_GT(std::stod(pps), 20) << r.out;  // 200/s sent; a loaded machine sends fewer
  EXPECT_NE(r.out.find("drop udp dport 5000"), std::string::npos) << r.out;

  // Live: a frame every interval (home + clear first), until Ctrl-C.
  const std::string out = temp_file("top.out");
  auto live = BackgroundProcess::start(
      {XDPGUARD_BIN, "-n", lab.server().netns, "top", lab.server().veth, "--interval", "0.2"}, out);
  ASSERT_TRUE(live);
  auto frames = [&] {
    std::ifstream in(out);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t n = 0;
    for (auto p = all.find("\x1b[H\x1b[2J"); p != std::string::npos; p = all.find("\x1b[H\x1b[2J", p + 1))
      ++n;
    return n;
  };
  EXPECT_TRUE(wait_until([&] { return frames() >= 3; }, std::chrono::seconds(5))) << frames();
  EXPECT_EQ(live->stop(SIGINT), 0);
}

TEST_F(TelemetryLabTest, TopTalkersInStatsAndTalkers) {
  const Lab& lab = *lab_;
  const std::string& veth = lab.server().veth;
  EXPECT_TRUE(stats_json(lab)["top_talkers"].is_null());  // off by default
  auto off = xg_srv(lab, {"talkers", veth});
  EXPECT_NE(off.code, 0);
  EXPECT_NE(off.err.find("top talkers are off"), std::string::npos) << off.err;
  ASSERT_EQ(xg_srv(lab, {"talkers", veth, "on"}).code, 0);
  EXPECT_EQ(udp_delivered(lab, 5000, 25), 25);  // + 1 to the sentinel port
  auto s = stats_json(lab);
  ASSERT_EQ(s["top_talkers"].size(), 1u) << s.dump();
  EXPECT_EQ(s["top_talkers"][0]["address"], lab.client().ip4);
  EXPECT_EQ(s["top_talkers"][0]["packets"], 26);
  EXPECT_EQ(s["top_talkers"][0]["bytes"], 26 * (14 + 20 + 8 + 1));
  auto r = xg_srv(lab, {"talkers", veth, "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["top_talkers"], s["top_talkers"]);
  ASSERT_EQ(xg_srv(lab, {"talkers", veth, "off"}).code, 0);
  EXPECT_TRUE(stats_json(lab)["top_talkers"].is_null());
}

// Overload: the reader is stopped (SIGSTOP) while the traffic generator
// sends more logged packets than the 8 MiB ring buffer holds. Every hit is
// either a record or counted as lost, exactly; every packet got its verdict;
// the records that fit are delivered once the reader runs again, and the
// loss is reported in its stream.
TEST_F(TelemetryLabTest, OverloadLosesRecordsCountedExactlyAndNeverAVerdict) {
  const Lab& lab = *lab_;
  const std::uint32_t id = add_rule("drop udp dport 7000 log");
  const std::string out = temp_file("events.out");
  auto ev = BackgroundProcess::start(
      {XDPGUARD_BIN, "-n", lab.server().netns, "events", lab.server().veth, "--duration", "30"}, out);
  ASSERT_TRUE(ev);
  ASSERT_TRUE(wait_until([&] { return reader_running(); }, std::chrono::seconds(30)));
  ASSERT_EQ(::kill(ev->pid(), SIGSTOP), 0);
  constexpr int kN = 150'000;  // 88 bytes a record: 8 MiB hold about 95,000
  auto g = xdpguard_cli({"-n", lab.client().netns, "gen", lab.client().veth, "--dst", lab.server().ip4,
                         "--dport", "7000", "--count", std::to_string(kN), "--duration", "10", "--json"});
  ::kill(ev->pid(), SIGCONT);
  ASSERT_EQ(g.code, 0) << g.err;
  ASSERT_EQ(nlohmann::json::parse(g.out)["frames"], kN) << g.out;

  auto s = stats_json(lab);
  const auto& t = s["telemetry"];
  EXPECT_EQ(s["actions"]["drop"]["packets"], kN);
  std::uint64_t rule_packets = 0;
  for (const auto& r : s["rules"])
    if (r["id"] == id) rule_packets = r["packets"];
  EXPECT_EQ(rule_packets, static_cast<std::uint64_t>(kN));
  EXPECT_GT(t["lost"].get<std::uint64_t>(), 0u) << t.dump();
  EXPECT_EQ(t["records"].get<std::uint64_t>() + t["lost"].get<std::uint64_t>(),
            static_cast<std::uint64_t>(kN))
      << t.dump();
  EXPECT_EQ(t["unread"], 0);

  // The reader drains what fitted and says what was lost.
  const std::uint64_t records = t["records"];
  auto count_lines = [&](bool lost) {
    std::ifstream in(out);
    std::uint64_t n = 0;
    for (std::string l; std::getline(in, l);)  // (stderr's lines are in the file too)
      n += lost ? l.rfind("-- ", 0) == 0
                : l.find(fmt::format(" drop rule {} log udp ", id)) != std::string::npos;
    return n;
  };
  EXPECT_TRUE(wait_until([&] { return count_lines(false) == records && count_lines(true) > 0; },
                         std::chrono::seconds(10)))
      << count_lines(false) << " of " << records << " records printed; other lines:\n"
      << [&] {
           std::ifstream in(out);
           std::string odd;
           for (std::string l; std::getline(in, l);)
             if (l.find(" drop rule ") == std::string::npos) odd += l + "\n";
           return odd;
         }();
  EXPECT_EQ(ev->stop(SIGINT), 0);
  std::ifstream in(out);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find(fmt::format("-- {} records lost", t["lost"].get<std::uint64_t>())), std::string::npos)
      << all.substr(all.size() > 2000 ? all.size() - 2000 : 0);
}

}  // namespace
}  // namespace xdpguard::test
