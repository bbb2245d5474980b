// Flood detection against real floods across a lab (names xf11<pid>...):
// the project's generator floods the server's interface from one source;
// `events` (the detector) prints "attack_started" with the protocol and that
// source, then "attack_ended" once the flood has stopped for the hold time;
// `metrics` shows the attack gauge while it lasts and the attack counted
// after. With `metrics --listen` detecting and `events` following, a SYN
// flood without top talkers says its sources are unknown. Thresholds come
// from the config file and `flood set`; bad input fails with one line.
// Floods are bounded (count and seconds) and stay inside the lab.
#include <csignal>
#include <deque>
#include <fstream>
#include <future>
#include <sstream>

#include "e2e_support.h"

namespace xdpguard::test {
namespace {

constexpr std::uint64_t kThreshold = 20000;  // packets/s: far under what the generator sends
constexpr const char* kFloodSource = "198.18.0.77";

class FloodLabTest : public LabTest {
 protected:
  LabOptions lab_options() const override { return {.ipv6 = false, .prefix = "xf11"}; }
  void TearDown() override {
    procs_.clear();  // SIGTERM, then SIGKILL
    LabTest::TearDown();
    for (const auto& f : files_) std::filesystem::remove(f);
  }

  std::string temp_file(const std::string& name) {
    files_.push_back("/tmp/" + lab_->prefix() + "-" + name);
    std::filesystem::remove(files_.back());
    return files_.back();
  }

  // Attaches with a config file: the flood is dropped by a rule (cheaply, in
  // XDP), and the thresholds are the file's.
  void attach(const std::string& flood_table) {
    const std::string& veth = lab_->server().veth;
    const std::string conf = temp_file("flood.toml");
    std::ofstream(conf) << "[flood]\nhold = 30\n\n[interfaces." << veth
                        << "]\nrules = [\"drop udp dport 7000\", \"drop tcp dport 7001\"]\n\n[interfaces."
                        << veth << ".flood]\n"
                        << flood_table;
    auto r = xg_srv(*lab_, {"attach", veth, "--config", conf});
    ASSERT_EQ(r.code, 0) << r.err;
  }

  nlohmann::json flood_json() {
    auto r = xg_srv(*lab_, {"flood", lab_->server().veth, "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    return r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
  }
  // The pid of the process detecting for the server's interface (0: none).
  std::uint32_t detector_pid() {
    auto j = flood_json();
    return j.contains("detector") && !j["detector"].is_null() ? j["detector"]["pid"].get<std::uint32_t>() : 0;
  }
  bool attack_over(const char* proto) {
    auto j = flood_json();
    return j.contains("protocols") && j["protocols"][proto]["attacks"] == 1 &&
           j["protocols"][proto]["active"] == false;
  }

  // `xdpguard -n srv ARGS` in the background, stdout and stderr to a file.
  BackgroundProcess& start(std::vector<std::string> args, const std::string& out) {
    args.insert(args.begin(), {XDPGUARD_BIN, "-n", lab_->server().netns});
    auto p = BackgroundProcess::start(args, out);
    EXPECT_TRUE(p) << p.error().message();
    procs_.push_back(std::move(*p));
    return procs_.back();
  }

  // The generator from the client at full rate, bounded in time and frames.
  std::future<CliRun> flood(const std::string& proto, std::uint16_t dport, double seconds) {
    std::vector<std::string> args = {"-n",         lab_->client().netns,
                                     "gen",        lab_->client().veth,
                                     "--dst",      lab_->server().ip4,
                                     "--src",      kFloodSource,
                                     "--proto",    proto,
                                     "--dport",    std::to_string(dport),
                                     "--duration", std::to_string(seconds),
                                     "--count",    "3000000",
                                     "--json"};
    return std::async(std::launch::async, [args] { return xdpguard_cli(args); });
  }
  // The generator's report: frames sent, seconds it took.
  struct Sent {
    std::uint64_t frames = 0;
    double seconds = 0;
  };
  static Sent sent(std::future<CliRun>& f, double min_pps) {
    EXPECT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    CliRun r = f.get();
    EXPECT_EQ(r.code, 0) << r.err;
    if (r.code != 0) return {};
    auto j = nlohmann::json::parse(r.out);
    EXPECT_GT(j["pps"].get<double>(), min_pps)
        << "the flood must be well over the threshold to test it: " << r.out;
    return {j["frames"].get<std::uint64_t>(), j["seconds"].get<double>()};
  }

  std::optional<std::string> metrics_once() {
    auto r = xg_srv(*lab_, {"metrics", "--once"});
    EXPECT_EQ(r.code, 0) << r.err;
    return r.code == 0 ? std::optional(r.out) : std::nullopt;
  }
  std::string series(const std::string& name, const char* proto) const {
    return fmt::format("{}{{interface=\"{}\",protocol=\"{}\"}}", name, lab_->server().veth, proto);
  }

  std::vector<std::string> files_;
  std::deque<BackgroundProcess> procs_;  // references to them stay valid
};

// What a command wrote to stdout (`xdpguard: ...` lines are its stderr).
std::vector<std::string> lines_of(const std::string& file, bool stderr_lines = false) {
  std::vector<std::string> out;
  std::ifstream in(file);
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && (l.rfind("xdpguard: ", 0) == 0) == stderr_lines) out.push_back(l);
  return out;
}

TEST_F(FloodLabTest, UdpFloodIsAnAttackWithItsSourceInEventsAndMetrics) {
  const Lab& lab = *lab_;
  const std::string& veth = lab.server().veth;
  attach(fmt::format("udp-pps = {}\nsyn-pps = {}\nhold = 2\n", kThreshold, kThreshold));
  ASSERT_EQ(xg_srv(lab, {"talkers", veth, "on"}).code, 0);
  const std::string out = temp_file("events.json");
  auto& events = start({"events", veth, "--json", "--duration", "60"}, out);
  ASSERT_TRUE(wait_until([&] { return detector_pid() == static_cast<std::uint32_t>(events.pid()); },
                         std::chrono::seconds(30)))
      << "events did not take up detection";

  // A little legitimate UDP from the client's own address first: under the threshold.
  EXPECT_EQ(udp_delivered(lab, 5001, 20), 20);
  auto gen = flood("udp", 7000, 3.0);
  // While it lasts: the gauge, from the detector's published state.
  std::string during;
  EXPECT_TRUE(wait_until(
      [&] {
        auto m = metrics_once();
        if (m) during = *m;
        return m && sample(*m, series("xdpguard_attack_active", "udp")) == 1;
      },
      std::chrono::seconds(4)))
      << during;
  EXPECT_EQ(sample(during, fmt::format("xdpguard_flood_detector_up{{interface=\"{}\"}}", veth)), 1);
  EXPECT_EQ(sample(during, series("xdpguard_attack_active", "syn")), 0);
  EXPECT_EQ(sample(during, series("xdpguard_flood_threshold_packets_per_second", "udp")), kThreshold);
  EXPECT_GT(sample(during, series("xdpguard_flood_rate_packets_per_second", "udp")), kThreshold);
  const Sent flooded = sent(gen, 5.0 * kThreshold);
  const std::uint64_t frames = flooded.frames;

  // Ended once the flood has been gone for the hold (2 s).
  ASSERT_TRUE(wait_until([&] { return attack_over("udp"); }, std::chrono::seconds(8)));
  ASSERT_EQ(events.stop(SIGINT), 0);

  std::vector<nlohmann::json> attacks;
  for (const auto& l : lines_of(out)) {
    auto j = nlohmann::json::parse(l);
    if (j["type"] != "packet") attacks.push_back(j);  // no log rule: packets are not recorded
  }
  ASSERT_EQ(attacks.size(), 2u) << "one attack: started, then ended";
  const auto& s = attacks[0];
  SCOPED_TRACE(s.dump());
  EXPECT_EQ(s["type"], "attack_started");
  EXPECT_EQ(s["interface"], veth);
  EXPECT_EQ(s["protocol"], "udp");
  EXPECT_EQ(s["attack"], 1);
  EXPECT_EQ(s["threshold_pps"], kThreshold);
  EXPECT_GT(s["rate_pps"].get<std::uint64_t>(), kThreshold);
  EXPECT_EQ(s["top_sources_from"], "top_talkers");
  ASSERT_TRUE(s["top_sources"].is_array());
  ASSERT_GE(s["top_sources"].size(), 1u);
  EXPECT_EQ(s["top_sources"][0]["address"], kFloodSource);
  EXPECT_GT(s["top_sources"][0]["pps"].get<std::uint64_t>(), kThreshold);
  for (std::size_t i = 1; i < s["top_sources"].size(); ++i)
    EXPECT_LT(s["top_sources"][i]["pps"].get<std::uint64_t>(), kThreshold) << "only one source floods";

  const auto& e = attacks[1];
  SCOPED_TRACE(e.dump());
  EXPECT_EQ(e["type"], "attack_ended");
  EXPECT_EQ(e["protocol"], "udp");
  EXPECT_EQ(e["attack"], 1);
  EXPECT_EQ(e["started"], s["started"]);
  EXPECT_GT(e["ts_ns"].get<std::uint64_t>(), s["ts_ns"].get<std::uint64_t>());
  EXPECT_GE(e["peak_pps"].get<std::uint64_t>(), s["rate_pps"].get<std::uint64_t>());
  // The attack's packets: the flood's, but for the last fraction of a second
  // under the threshold (at most one interval's worth of it) and the 20 before.
  EXPECT_LE(e["packets"].get<std::uint64_t>(), frames + 21);
  EXPECT_GE(e["packets"].get<std::uint64_t>() + 2 * kThreshold, frames);
  // Duration: the flood's, widened to the sampling intervals (about 1 s) it
  // began and ended in.
  EXPECT_GE(e["duration_s"].get<double>(), flooded.seconds - 0.1);
  EXPECT_LE(e["duration_s"].get<double>(), flooded.seconds + 2.6);

  // After: not active, counted once; the counters hold the whole flood.
  auto after = metrics_once();
  ASSERT_TRUE(after);
  EXPECT_EQ(sample(*after, series("xdpguard_attacks_total", "udp")), 1);
  EXPECT_EQ(sample(*after, series("xdpguard_attacks_total", "syn")), 0);
  EXPECT_GE(sample(*after, series("xdpguard_flood_packets_total", "udp")), static_cast<double>(frames + 20));
  EXPECT_EQ(sample(*after, fmt::format("xdpguard_flood_detector_up{{interface=\"{}\"}}", veth)), 0)
      << "events stopped: nobody detects";
  EXPECT_EQ(sample(*after, series("xdpguard_attack_active", "udp")), -1) << "unknown without a detector";
  const std::string prom = temp_file("metrics.prom");
  std::ofstream(prom) << *after;
  auto check = run_process({"sh", "-c", "promtool check metrics < " + prom});
  ASSERT_TRUE(check);
  EXPECT_EQ(check->exit_code, 0) << check->out << check->err;
  EXPECT_EQ(check->out + check->err, "");
  auto st = stats_json(lab);
  EXPECT_EQ(st["flood"]["protocols"]["udp"]["attacks"], 1);
  EXPECT_EQ(st["flood"]["protocols"]["udp"]["attack"]["peak_pps"], e["peak_pps"]);
}

TEST_F(FloodLabTest, MetricsDetectsEventsFollowsAndUnknownSourcesAreSaid) {
  const Lab& lab = *lab_;
  const std::string& veth = lab.server().veth;
  attach(fmt::format("syn-pps = {}\nhold = 2\n", kThreshold));  // top talkers stay off
  constexpr int kPort = 9436;
  const std::string log = temp_file("metrics.out");
  auto& metrics = start({"metrics", "--listen", "127.0.0.1:" + std::to_string(kPort)}, log);
  ASSERT_TRUE(wait_until([&] { return detector_pid() == static_cast<std::uint32_t>(metrics.pid()); },
                         std::chrono::seconds(30)))
      << "metrics --listen did not take up detection";
  const std::string out = temp_file("events.txt");
  auto& events = start({"events", veth, "--duration", "60"}, out);
  // events runs (its reader is registered) while metrics goes on detecting.
  ASSERT_TRUE(wait_until([&] { return !stats_json(lab)["telemetry"]["reader"].is_null(); },
                         std::chrono::seconds(30)));
  EXPECT_EQ(detector_pid(), static_cast<std::uint32_t>(metrics.pid()));

  auto gen = flood("syn", 7001, 3.0);
  std::optional<std::string> scraped;
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = lab.exec(lab.server(), {"curl", "-sf", "--max-time", "2",
                                         "http://127.0.0.1:" + std::to_string(kPort) + "/metrics"});
        if (r) scraped = *r;
        return r && sample(*r, series("xdpguard_attack_active", "syn")) == 1;
      },
      std::chrono::seconds(4)));
  (void)sent(gen, 5.0 * kThreshold);
  ASSERT_TRUE(wait_until([&] { return attack_over("syn"); }, std::chrono::seconds(8)));
  // The follower looks at the published state every poll (<= 250 ms).
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  ASSERT_EQ(events.stop(SIGINT), 0);

  auto got = lines_of(out);
  ASSERT_EQ(got.size(), 2u) << "started, ended";
  // 12:00:05.000123 attack started: syn flood on veth1 (attack 1): 812345 pps over the threshold of 20000
  // pps; ...
  const std::string head = fmt::format(" attack started: syn flood on {} (attack 1): ", veth);
  EXPECT_EQ(got[0].substr(15, head.size()), head) << got[0];
  EXPECT_NE(
      got[0].find(fmt::format(" pps over the threshold of {} pps; top sources unknown: top talkers are off "
                              "(xdpguard talkers {} on)",
                              kThreshold, veth)),
      std::string::npos)
      << got[0];
  const std::string ended = fmt::format(" attack ended: syn flood on {} (attack 1): ", veth);
  EXPECT_EQ(got[1].substr(15, ended.size()), ended) << got[1];
  EXPECT_NE(got[1].find(fmt::format(" s over the threshold of {} pps, peak ", kThreshold)), std::string::npos)
      << got[1];
  // The detector logs them (its stderr) as it decides them.
  ASSERT_EQ(metrics.stop(SIGINT), 0);
  int logged = 0;
  for (const auto& l : lines_of(log, true))
    if (l.find(fmt::format(" attack started: syn flood on {} (attack 1): ", veth)) != std::string::npos ||
        l.find(fmt::format(" attack ended: syn flood on {} (attack 1): ", veth)) != std::string::npos)
      ++logged;
  EXPECT_EQ(logged, 2);
}

TEST_F(FloodLabTest, FloodSetShowsOffAndBadInputIsOneLine) {
  const Lab& lab = *lab_;
  const std::string& veth = lab.server().veth;
  attach("udp-pps = 1000\n");
  auto j = flood_json();
  EXPECT_EQ(j["protocols"]["udp"]["threshold_pps"], 1000);
  EXPECT_EQ(j["hold_s"], 30) << "from the file's [flood]";
  EXPECT_TRUE(j["detector"].is_null());
  EXPECT_TRUE(j["protocols"]["udp"]["rate_pps"].is_null());

  ASSERT_EQ(xg_srv(lab, {"flood", veth, "set", "--syn-pps", "500", "--hold", "5", "--top-sources", "3"}).code,
            0);
  j = flood_json();
  EXPECT_EQ(j["protocols"]["udp"]["threshold_pps"], 1000) << "what set does not name stays";
  EXPECT_EQ(j["protocols"]["syn"]["threshold_pps"], 500);
  EXPECT_EQ(j["hold_s"], 5);
  EXPECT_EQ(j["top_sources"], 3);
  auto table = xg_srv(lab, {"flood", veth});
  EXPECT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("no detector running, rates unknown"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("hold 5 s, top sources 3"), std::string::npos) << table.out;
  ASSERT_EQ(xg_srv(lab, {"flood", veth, "off"}).code, 0);
  j = flood_json();
  for (const char* p : {"syn", "udp", "icmp", "fragment"})
    EXPECT_EQ(j["protocols"][p]["threshold_pps"], 0) << p;
  EXPECT_EQ(j["hold_s"], 5);

  auto one_line = [](const CliRun& r) {
    EXPECT_NE(r.code, 0);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    return r.err;
  };
  EXPECT_EQ(one_line(xg_srv(lab, {"flood", veth, "set"})),
            fmt::format("xdpguard: flood {}: nothing to set (--syn-pps, --udp-pps, --icmp-pps, --frag-pps, "
                        "--hold, --top-sources)\n",
                        veth));
  EXPECT_EQ(
      one_line(xg_srv(lab, {"flood", veth, "--udp-pps", "5"})),
      fmt::format("xdpguard: flood {}: thresholds are changed with: xdpguard flood {} set --udp-pps N ...\n",
                  veth, veth));
  EXPECT_EQ(one_line(xg_srv(lab, {"flood", veth, "off", "--udp-pps", "5"})),
            fmt::format("xdpguard: flood {}: off takes no options\n", veth));
  auto e = xg_srv(lab, {"flood", veth, "set", "--hold", "0"});
  EXPECT_NE(e.code, 0);
  EXPECT_NE(e.err.find("--hold"), std::string::npos) << e.err;
  e = xg_srv(lab, {"flood", veth, "set", "--udp-pps", "-3"});
  EXPECT_NE(e.code, 0);
  EXPECT_NE(e.err.find("--udp-pps"), std::string::npos) << e.err;
  e = xg_srv(lab, {"flood", lab.client().veth});  // not in the server's namespace
  EXPECT_NE(one_line(e).find("no such interface"), std::string::npos) << e.err;

  // A config file with a bad threshold: attach fails, naming file and line, and attaches nothing.
  ASSERT_EQ(xg_srv(lab, {"detach", veth}).code, 0);
  const std::string bad = temp_file("bad.toml");
  std::ofstream(bad) << "[interfaces." << veth << "]\nrules = []\n\n[interfaces." << veth
                     << ".flood]\nudp-pps = \"lots\"\n";
  EXPECT_EQ(
      one_line(xg_srv(lab, {"attach", veth, "--config", bad})),
      fmt::format("xdpguard: attach {}: {} line 5: [interfaces.{}.flood]: expected udp-pps to be packets "
                  "per second, a whole number from 0 (not watched) to 1000000000000, got a string\n",
                  veth, bad, veth));
  EXPECT_EQ(xg_srv(lab, {"status", "--json"}).out.find(veth), std::string::npos);
}

}  // namespace
}  // namespace xdpguard::test
