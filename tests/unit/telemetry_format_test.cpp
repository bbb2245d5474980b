// Telemetry formatting, pure: record lines and JSON, verdict lists, listen
// addresses and the Prometheus exposition (names, labels, escaping).
#include <arpa/inet.h>
#include <linux/bpf.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/process.h"

#include "telemetry/metrics.h"
#include "telemetry/record.h"
#include "telemetry/top.h"

namespace xdpguard::telemetry {
namespace {

xdpguard_record tcp_record() {
  xdpguard_record r{};
  r.ts_ns = 5'000'000'000;
  r.ifindex = 3;
  r.rule_id = 7;
  r.orig_len = 74;
  r.verdict = XDP_DROP;
  r.reason = XDPGUARD_REASON_LOG;
  r.pkt.family = 4;
  r.pkt.l4proto = 6;
  r.pkt.saddr[0] = htonl(0xc6120001);
  r.pkt.daddr[0] = htonl(0xc6120002);
  r.pkt.sport = 41000;
  r.pkt.dport = 23;
  r.pkt.tcp_flags = 0x02 | 0x10;  // syn, ack
  return r;
}

TEST(TelemetryFormat, RecordLineAndJson) {
  const Clock utc{0};
  const auto r = tcp_record();
  const std::string line = record_line(r, utc);
  EXPECT_EQ(line.substr(15), " drop rule 7 log tcp 198.18.0.1:41000 > 198.18.0.2:23 flags syn,ack len 74")
      << line;
  auto j = record_json(r, {}, "veth1", utc);
  EXPECT_EQ(j["time"], "1970-01-01T00:00:05.000000000Z");
  EXPECT_EQ(j["verdict"], "drop");
  EXPECT_EQ(j["rule_id"], 7);
  EXPECT_EQ(j["saddr"], "198.18.0.1");
  EXPECT_EQ(j["sport"], 41000);
  EXPECT_EQ(j["tcp_flags"], "syn,ack");
  EXPECT_FALSE(j.contains("frame"));
  xdpguard_record arp{};
  arp.rule_id = XDPGUARD_SLOT_NONE;
  arp.verdict = XDP_PASS;
  arp.reason = XDPGUARD_REASON_CAPTURE;
  arp.orig_len = 42;
  const std::uint8_t bytes[] = {0xff, 0x01};
  EXPECT_EQ(record_line(arp, utc).substr(15), " pass - capture not-ip len 42");
  auto ja = record_json(arp, bytes, "veth1", utc);
  EXPECT_TRUE(ja["rule_id"].is_null());
  EXPECT_EQ(ja["frame"], "ff01");
}

// What `events` writes (RecordWriter, one buffer, no allocation a record) is
// what record_line() and record_json(...).dump() say, byte for byte, for
// records of every shape: families, protocols, fragments, flags, ICMP,
// VLANs, rules, reasons, verdicts, frames, times across seconds.
TEST(TelemetryFormat, RecordWriterEqualsLineAndJson) {
  std::mt19937 rng(11);
  auto pick = [&](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };
  const Clock clock{1'700'000'000'000'000'000};
  const std::string ifname = "ve\"th\\1";  // escaped in JSON
  RecordWriter text(clock, ifname, false), json(clock, ifname, true);
  std::string want_text, want_json;
  for (int i = 0; i < 2000; ++i) {
    xdpguard_record r{};
    r.ts_ns = 1'000'000'000ull * pick(5) + pick(1'000'000'000);
    r.rule_id = i % 7 == 0 ? XDPGUARD_SLOT_NONE : i % 7 == 1 ? XDPGUARD_RULE_DEFAULT : pick(20000);
    r.orig_len = pick(1600);
    r.verdict = static_cast<std::uint8_t>(pick(6));  // 5: not an action
    r.reason = static_cast<std::uint8_t>(pick(4));
    r.cpu = pick(64);
    const std::uint8_t fams[] = {4, 6, 0};
    r.pkt.family = fams[pick(3)];
    const std::uint8_t protos[] = {6, 17, 1, 58, 47, 132};
    r.pkt.l4proto = protos[pick(6)];
    for (int w = 0; w < 4; ++w)
      r.pkt.saddr[w] = static_cast<std::uint32_t>(rng()), r.pkt.daddr[w] = static_cast<std::uint32_t>(rng());
    r.pkt.sport = static_cast<std::uint16_t>(rng());
    r.pkt.dport = static_cast<std::uint16_t>(rng());
    r.pkt.tcp_flags = static_cast<std::uint8_t>(pick(4) ? rng() : 0);
    r.pkt.frag = static_cast<std::uint8_t>(pick(5) == 0 ? 1 + pick(2) : 0);  // a later fragment, or L4 cut
    r.pkt.nvlan = static_cast<std::uint8_t>(pick(3));
    r.pkt.icmp_type = static_cast<std::uint8_t>(rng());
    r.pkt.icmp_code = static_cast<std::uint8_t>(rng());
    std::vector<std::uint8_t> frame(pick(3) ? 0 : pick(70));
    for (auto& b : frame) b = static_cast<std::uint8_t>(rng());
    r.cap_len = static_cast<std::uint16_t>(frame.size());
    text.append(r, frame);
    json.append(r, frame);
    want_text += record_line(r, clock) + "\n";
    want_json += record_json(r, frame, ifname, clock).dump() + "\n";
  }
  EXPECT_EQ(text.buffer(), want_text);
  EXPECT_EQ(json.buffer(), want_json);
  // Every shape was there.
  for (const char* s : {" fragment", " flags none", " type ", " vlans ", " not-ip", "]:", " - ", " default "})
    EXPECT_NE(want_text.find(s), std::string::npos) << s;
  for (const char* s :
       {"\"frame\":", "\"icmp_code\":", "\"rule_id\":null", "\"family\":null", "\"tcp_flags\":\"\""})
    EXPECT_NE(want_json.find(s), std::string::npos) << s;
}

TEST(TelemetryFormat, VerdictLists) {
  EXPECT_EQ(*parse_verdicts("drop"), 1u << XDP_DROP);
  EXPECT_EQ(*parse_verdicts("pass,drop"), (1u << XDP_PASS) | (1u << XDP_DROP));
  EXPECT_EQ(*parse_verdicts("all"), 0x1fu);
  EXPECT_EQ(parse_verdicts("dropped").error().message(),
            "unknown verdict 'dropped' (expected pass, drop, tx, redirect, aborted or all)");
  EXPECT_FALSE(parse_verdicts(""));
}

TEST(TelemetryFormat, ListenAddresses) {
  auto a = parse_listen("127.0.0.1:9435");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9435);
  auto b = parse_listen("[::1]:80");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  auto all = parse_listen(":9435");  // every address, as Prometheus exporters take it
  ASSERT_TRUE(all);
  EXPECT_EQ(all->host, "");
  EXPECT_EQ(all->port, 9435);
  EXPECT_EQ(parse_listen("localhost:9435")->host, "localhost");
  EXPECT_EQ(parse_listen("[::]:9435")->host, "::");
  EXPECT_EQ(parse_listen("::1:9435").error().message(),
            "listen address '::1:9435': an IPv6 address goes in brackets ([::1]:9435)");
  EXPECT_FALSE(parse_listen("[]:9435"));
  EXPECT_FALSE(parse_listen("[::1]9435"));
  EXPECT_FALSE(parse_listen("9435"));
  EXPECT_FALSE(parse_listen(":"));
  EXPECT_FALSE(parse_listen("127.0.0.1:0"));
  EXPECT_FALSE(parse_listen("127.0.0.1:65536"));
  EXPECT_FALSE(parse_listen("127.0.0.1:x"));
}

TEST(TelemetryFormat, Exposition) {
  Snapshot s;
  InterfaceMetrics m;
  m.stats.ifname = "ve\"th\\1";
  m.stats.mode = "native";
  m.stats.actions[XDP_DROP] = {3, 180};
  RuleRecord r;
  r.id = 4;
  r.rule.action = rules::Action::Drop;
  r.counter = {3, 180};
  m.stats.rules.push_back(r);
  r.id = 5;  // a FlowSpec route's rule: labelled by its comment too
  r.rule.comment = "flowspec ipv4 destination 198.51.100.0/24";
  r.counter = {1, 60};
  m.stats.rules.push_back(r);
  m.records.lost = 9;
  s.interfaces.push_back(m);
  const std::string t = metrics_text(s, 2);
  const std::string i = "interface=\"ve\\\"th\\\\1\"";
  EXPECT_NE(t.find("# TYPE xdpguard_packets_total counter\n"), std::string::npos);
  EXPECT_NE(t.find("xdpguard_packets_total{" + i + ",action=\"drop\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("xdpguard_bytes_total{" + i + ",action=\"drop\"} 180\n"), std::string::npos);
  EXPECT_NE(t.find("xdpguard_rule_packets_total{" + i + ",rule_id=\"4\",action=\"drop\"} 3\n"),
            std::string::npos);
  EXPECT_NE(t.find("xdpguard_rule_packets_total{" + i + ",rule_id=\"default\",action=\"pass\"} 0\n"),
            std::string::npos);
  EXPECT_NE(
      t.find("xdpguard_rule_packets_total{" + i +
             ",rule_id=\"5\",action=\"drop\",comment=\"flowspec ipv4 destination 198.51.100.0/24\"} 1\n"),
      std::string::npos)
      << t;
  EXPECT_NE(t.find("xdpguard_records_lost_total{" + i + "} 9\n"), std::string::npos);
  EXPECT_NE(t.find("xdpguard_scrape_errors_total 2\n"), std::string::npos);
  // Every sample's family is declared before it, once.
  EXPECT_EQ(t.find("# TYPE xdpguard_packets_total"), t.rfind("# TYPE xdpguard_packets_total"));
}

TEST(TelemetryFormat, TopFrameSortsByRate) {
  EXPECT_EQ(si(0), "0");
  EXPECT_EQ(si(950), "950");
  EXPECT_EQ(si(1234), "1.23k");
  EXPECT_EQ(si(45'600'000), "45.6M");
  EXPECT_EQ(si(999'999), "1.00M");
  TopSample a, b;
  a.mono_ns = 1'000'000'000;
  b.mono_ns = 3'000'000'000;  // 2 s
  b.stats.mode = "native";
  RuleRecord quiet, busy;
  quiet.id = 1, quiet.text = "drop tcp dport 23", quiet.counter = {10, 600};
  busy.id = 2, busy.text = "drop udp", busy.counter = {4000, 256000};
  a.stats.rules = {quiet};  // busy is new: from zero
  b.stats.rules = {quiet, busy};
  b.stats.actions[XDP_DROP] = {4010, 256600};
  a.records.records = 0, b.records.records = 200;
  const std::string f = top_frame("veth1", a, b);
  EXPECT_NE(f.find("xdpguard top veth1  mode native  interval 2.0 s  rules 2\n"), std::string::npos) << f;
  // Actions and rules, each sorted by packets/s.
  EXPECT_LT(f.find("drop           2.00k      1.03M           4010\n"), f.find("pass ")) << f;
  EXPECT_NE(f.find("      2     2.00k      1.02M           4000  drop udp\n"), std::string::npos) << f;
  EXPECT_LT(f.find("drop udp\n"), f.find("drop tcp dport 23\n")) << f;
  EXPECT_NE(f.find("      1         0          0             10  drop tcp dport 23\n"), std::string::npos)
      << f;
  EXPECT_NE(f.find("records 100/s written"), std::string::npos) << f;
  EXPECT_EQ(f.find("top sources"), std::string::npos) << "talkers off: no sources";

  // Top talkers on: sources by packets/s.
  Talker x, y;
  x.key.family = y.key.family = 4;
  x.key.addr[0] = htonl(0xc6120101), x.packets = 100;
  y.key.addr[0] = htonl(0xc6120102), y.packets = 50;
  a.talkers = std::vector<Talker>{x, y};
  x.packets = 120, y.packets = 250;
  b.talkers = std::vector<Talker>{x, y};
  const std::string g = top_frame("veth1", a, b);
  EXPECT_LT(g.find("198.18.1.2 "), g.find("198.18.1.1 ")) << g;
  EXPECT_NE(g.find("198.18.1.2                                    100"), std::string::npos) << g;
}

// The Grafana dashboard in docs/grafana: every query is valid PromQL (judged
// by promtool, with Grafana's variables filled in) and every metric it names
// is one `metrics` exports.
TEST(GrafanaDashboard, QueriesAreValidAndNameExportedMetrics) {
  std::ifstream in(std::string(XDPGUARD_SOURCE_DIR) + "/docs/grafana/xdpguard.json");
  ASSERT_TRUE(in);
  auto dash = nlohmann::json::parse(in);
  Snapshot s;
  s.interfaces.emplace_back();
  const std::string text = metrics_text(s, 0);
  std::string rules = "groups:\n  - name: dashboard\n    rules:\n";
  int n = 0;
  std::set<std::string> names;
  for (const auto& p : dash["panels"])
    for (const auto& t : p["targets"]) {
      std::string e = t["expr"];
      e = std::regex_replace(e, std::regex(R"(\$__rate_interval)"), "1m");
      e = std::regex_replace(e, std::regex(R"(\$__range)"), "1h");
      e = std::regex_replace(e, std::regex(R"(\$interface)"), ".*");
      rules += fmt::format("      - record: dashboard:q{}\n        expr: '{}'\n", n++, e);
      static const std::regex metric(R"(xdpguard_[a-z_]+)");
      for (std::sregex_iterator it(e.begin(), e.end(), metric), end; it != end; ++it) names.insert(it->str());
    }
  ASSERT_GT(n, 8);
  for (const auto& name : names) EXPECT_NE(text.find("# TYPE " + name + " "), std::string::npos) << name;
  const auto file =
      std::filesystem::temp_directory_path() / fmt::format("xt11-{}-dashboard-rules.yml", ::getpid());
  std::ofstream(file) << rules;
  auto r = run_process({"promtool", "check", "rules", file.string()});
  std::filesystem::remove(file);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->exit_code, 0) << r->out << r->err << rules;
}

}  // namespace
}  // namespace xdpguard::telemetry
