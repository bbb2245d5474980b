// `xdpguard metrics` against real traffic across a lab (names xt11<pid>...):
// the exposition passes `promtool check metrics`, its values equal `stats
// --json`, a real Prometheus server (in the lab's namespace, on its
// loopback) scrapes it every second and its HTTP API returns the same
// values; a port in use is a clear error.
#include <fstream>
#include <regex>

#include "e2e_support.h"

namespace xdpguard::test {
namespace {

class MetricsLabTest : public GuardedLabTest {
 protected:
  LabOptions lab_options() const override { return {.ipv6 = false, .prefix = "xt11"}; }
  void SetUp() override {
    GuardedLabTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    dir_ = "/tmp/" + lab_->prefix() + "-metrics";
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    procs_.clear();  // SIGTERM, then SIGKILL
    GuardedLabTest::TearDown();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::uint32_t add_rule(const std::string& rule) {
    auto r = xg_srv(*lab_, {"rule", "add", lab_->server().veth, rule});
    EXPECT_EQ(r.code, 0) << r.err;
    return static_cast<std::uint32_t>(std::stoul(r.out.empty() ? "0" : r.out));
  }

  // In the server's namespace: GET http://127.0.0.1:port/path.
  std::optional<std::string> http_get(int port, const std::string& path) {
    auto r = lab_->exec(lab_->server(), {"curl", "-sf", "--max-time", "2",
                                         "http://127.0.0.1:" + std::to_string(port) + path});
    if (!r) return std::nullopt;
    return *r;
  }

  std::string dir_;
  std::vector<BackgroundProcess> procs_;
};

// The value of the sample `series` (name{labels} exactly as printed); -1 if absent.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (l.rfind(series + " ", 0) == 0) return std::stod(l.substr(series.size() + 1));
  return -1;
}

TEST_F(MetricsLabTest, ExpositionIsValidAndEqualsStatsAndPrometheusScrapesIt) {
  const Lab& lab = *lab_;
  const std::string& veth = lab.server().veth;
  const std::uint32_t logged = add_rule("drop udp dport 5000 log");
  const std::uint32_t passed = add_rule("pass udp dport 5001");
  EXPECT_EQ(udp_delivered(lab, 5000, 30), 0);
  EXPECT_EQ(udp_delivered(lab, 5001, 10), 10);
  auto stats = stats_json(lab);

  // --once, judged by promtool.
  auto once = xg_srv(lab, {"metrics", "--once"});
  ASSERT_EQ(once.code, 0) << once.err;
  const std::string file = dir_ + "/once.prom";
  std::ofstream(file) << once.out;
  auto check = run_process({"sh", "-c", "promtool check metrics < " + file});
  ASSERT_TRUE(check);
  EXPECT_EQ(check->exit_code, 0) << check->out << check->err;
  EXPECT_EQ(check->out + check->err, "") << once.out;

  const std::string i = "interface=\"" + veth + "\"";
  auto want = [&](const nlohmann::json& j) { return j.get<double>(); };
  for (const char* a : {"pass", "drop", "tx", "redirect", "aborted"}) {
    EXPECT_EQ(sample(once.out, fmt::format("xdpguard_packets_total{{{},action=\"{}\"}}", i, a)),
              want(stats["actions"][a]["packets"]))
        << a;
    EXPECT_EQ(sample(once.out, fmt::format("xdpguard_bytes_total{{{},action=\"{}\"}}", i, a)),
              want(stats["actions"][a]["bytes"]))
        << a;
  }
  const std::string r1 = fmt::format("{{{},rule_id=\"{}\",action=\"drop\"}}", i, logged);
  const std::string r2 = fmt::format("{{{},rule_id=\"{}\",action=\"pass\"}}", i, passed);
  EXPECT_EQ(sample(once.out, "xdpguard_rule_packets_total" + r1), 30);
  EXPECT_EQ(sample(once.out, "xdpguard_rule_bytes_total" + r1), 30 * 43);
  EXPECT_EQ(sample(once.out, "xdpguard_rule_packets_total" + r2), 10);
  EXPECT_EQ(sample(once.out,
                   fmt::format("xdpguard_rule_packets_total{{{},rule_id=\"default\",action=\"pass\"}}", i)),
            want(stats["default"]["packets"]));
  EXPECT_EQ(sample(once.out, fmt::format("xdpguard_parse_packets_total{{{},outcome=\"ipv4\"}}", i)),
            want(stats["parse"]["ipv4"]["packets"]));
  EXPECT_EQ(sample(once.out, fmt::format("xdpguard_records_unread_total{{{}}}", i)), 30);  // no reader ran
  EXPECT_EQ(sample(once.out, fmt::format("xdpguard_records_lost_total{{{}}}", i)), 0);
  EXPECT_EQ(sample(once.out, fmt::format("xdpguard_rules{{{}}}", i)), 2);

  // The server, and a real Prometheus scraping it every second.
  constexpr int kPort = 9435, kPromPort = 9090;
  auto srv = BackgroundProcess::start(
      {XDPGUARD_BIN, "-n", lab.server().netns, "metrics", "--listen", "127.0.0.1:" + std::to_string(kPort)});
  ASSERT_TRUE(srv);
  procs_.push_back(std::move(*srv));
  std::optional<std::string> got;
  ASSERT_TRUE(
      wait_until([&] { return (got = http_get(kPort, "/metrics")).has_value(); }, std::chrono::seconds(5)));
  EXPECT_EQ(sample(*got, "xdpguard_rule_packets_total" + r1), 30);

  // A second server on the same port: one clear line.
  auto busy = xg_srv(lab, {"metrics", "--listen", "127.0.0.1:" + std::to_string(kPort)});
  EXPECT_NE(busy.code, 0);
  EXPECT_EQ(busy.err, "xdpguard: metrics: listen on 127.0.0.1:9435: Address already in use\n");

  {
    std::ofstream cfg(dir_ + "/prometheus.yml");
    cfg << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "scrape_configs:\n  - job_name: xdpguard\n    static_configs:\n      - targets: ['127.0.0.1:"
        << kPort << "']\n";
  }
  auto prom = BackgroundProcess::start(
      lab.in(lab.server(), {"prometheus", "--config.file=" + dir_ + "/prometheus.yml",
                            "--storage.tsdb.path=" + dir_ + "/data",
                            "--web.listen-address=127.0.0.1:" + std::to_string(kPromPort)}),
      dir_ + "/prometheus.log");
  ASSERT_TRUE(prom);
  procs_.push_back(std::move(*prom));
  // The value Prometheus has for a query (one series), once it has one.
  auto query = [&](const std::string& q) -> std::optional<double> {
    auto body = http_get(kPromPort, "/api/v1/query?query=" + q);
    if (!body) return std::nullopt;
    auto j = nlohmann::json::parse(*body, nullptr, false);
    if (j.is_discarded() || j["status"] != "success" || j["data"]["result"].size() != 1) return std::nullopt;
    return std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
  };
  std::optional<double> v;
  ASSERT_TRUE(
      wait_until([&] { return (v = query("xdpguard_packets_total%7Baction%3D%22drop%22%7D")).has_value(); },
                 std::chrono::seconds(30)))
      << "prometheus scraped nothing";
  EXPECT_EQ(*v, want(stats["actions"]["drop"]["packets"]));
  EXPECT_EQ(query("xdpguard_packets_total%7Baction%3D%22pass%22%7D"),
            want(stats_json(lab)["actions"]["pass"]["packets"]));
  EXPECT_EQ(query(fmt::format("xdpguard_rule_packets_total%7Brule_id%3D%22{}%22%7D", passed)), 10);
  EXPECT_EQ(query("xdpguard_records_unread_total"), 30);
  EXPECT_EQ(query("up%7Bjob%3D%22xdpguard%22%7D"), 1);
}

}  // namespace
}  // namespace xdpguard::test
