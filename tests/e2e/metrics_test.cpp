// `xdpguard metrics` against real traffic across a lab (names xt11<pid>...):
// the exposition passes `promtool check metrics`, its values equal `stats
// --json`, a real Prometheus server (in the lab's namespace, on its
// loopback) scrapes it every second and its HTTP API returns the same
// values; a port in use is a clear error. Then the server under attack by
// local clients (THREATS.md, attacker 3): 64 slow clients, 1,000 parallel
// scrapes, 300 idle connections with few descriptors, and the listen forms.
#include <netdb.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <regex>
#include <set>

#include "e2e_support.h"
#include "http_client.h"

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

  // `[wrapper...] xdpguard -n <server ns> metrics --listen LISTEN` in the
  // background, its output in log_; waits until 127.0.0.1:port answers a
  // scrape. nullptr (and a failure) if it does not within 10 s.
  // `listen` "": no --listen at all (the default, 127.0.0.1:9435).
  BackgroundProcess* serve(int port, std::vector<std::string> wrapper = {},
                           std::optional<std::string> listen = std::nullopt) {
    std::vector<std::string> argv = std::move(wrapper);
    argv.insert(argv.end(), {XDPGUARD_BIN, "-n", lab_->server().netns, "metrics"});
    if (!listen) listen = "127.0.0.1:" + std::to_string(port);
    if (!listen->empty()) argv.insert(argv.end(), {"--listen", *listen});
    log_ = dir_ + "/metrics-" + std::to_string(port) + ".log";
    auto p = BackgroundProcess::start(argv, log_);
    if (!p) {
      ADD_FAILURE() << p.error().message();
      return nullptr;
    }
    procs_.push_back(std::move(*p));
    if (!wait_until([&] { return scrape_in_ns(port).has_value(); }, std::chrono::seconds(10))) {
      ADD_FAILURE() << "metrics --listen " << *listen << " never answered; its output:\n" << log_text();
      return nullptr;
    }
    return &procs_.back();
  }
  std::string log_text() const {
    std::ifstream f(log_);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  // GET /metrics from a thread in the server's namespace (a raw socket client).
  std::optional<HttpReply> scrape_in_ns(int port,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
    std::optional<HttpReply> r;
    EXPECT_TRUE(run_in_netns(lab_->server().netns, [&] { r = http_once(port, get_request(), timeout); }));
    return r;
  }

  std::string dir_, log_;
  std::vector<BackgroundProcess> procs_;
};

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
      wait_until([&] { return (got = http_get(kPort, "/metrics")).has_value(); }, std::chrono::seconds(30)));
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

// The metric families (# TYPE lines) of an exposition.
std::set<std::string> families(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (l.rfind("# TYPE ", 0) == 0) out.insert(l);
  return out;
}

// Issue 16 item 4: 64 connections that send half a request line and then one
// byte every 300 ms (so no read timeout between bytes ever fires) made every
// normal scrape of the cpp-httplib server time out. Now each scrape answers
// in well under a second, five times in a row, and every slow client is
// closed once its 5 s request deadline has passed.
TEST_F(MetricsLabTest, ScrapesAnswerWhile64SlowClientsDripAndTheSlowOnesAreClosedAtTheDeadline) {
  constexpr int kPort = 9441, kSlow = 64;
  add_rule("drop udp dport 5000");
  BackgroundProcess* srv = serve(kPort);
  ASSERT_NE(srv, nullptr);

  struct Slow {
    UniqueFd fd;
    SteadyClock::time_point opened;
    std::optional<SteadyClock::time_point> closed;
  };
  std::vector<Slow> slow(kSlow);
  ASSERT_TRUE(run_in_netns(lab_->server().netns, [&] {
    for (auto& s : slow) {
      s.fd = connect_local(kPort);
      s.opened = SteadyClock::now();
      if (s.fd) (void)send_all(s.fd.get(), "GET /metr");
    }
  }));
  for (const auto& s : slow) ASSERT_TRUE(s.fd) << "connect: " << std::strerror(errno);

  // The drip: one more byte of the path every 300 ms (never a space or an end
  // of line), for at most 20 s; notes when the server closed each.
  std::atomic<bool> stop{false};
  std::thread drip([&] {
    const auto until = SteadyClock::now() + std::chrono::seconds(20);
    while (!stop && SteadyClock::now() < until) {
      bool open = false;
      for (auto& s : slow) {
        if (s.closed) continue;
        if (closed_by_peer(s.fd.get()) || !send_all(s.fd.get(), "x")) {
          s.closed = SteadyClock::now();
          continue;
        }
        open = true;
      }
      if (!open) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
  // Stops and joins the drip however the test ends.
  std::unique_ptr<std::atomic<bool>, std::function<void(std::atomic<bool>*)>> joiner(&stop, [&](auto* s) {
    *s = true;
    if (drip.joinable()) drip.join();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // every slow client has dripped

  double slowest = 0;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = SteadyClock::now();
    auto r = scrape_in_ns(kPort, std::chrono::seconds(3));
    const auto took = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    ASSERT_TRUE(r.has_value()) << "scrape " << i << " got no complete response within 3 s (" << took << " s)";
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(took, 1.0) << "scrape " << i;
    slowest = std::max(slowest, took);
    EXPECT_NE(r->body.find("xdpguard_scrape_errors_total 0\n"), std::string::npos);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  std::printf("metrics: 5 scrapes beside 64 slow clients, the slowest in %.3f s\n", slowest);

  // Every slow client closed by the server: after its 5 s deadline (not
  // before 4 s), well before 10 s.
  drip.join();
  for (std::size_t i = 0; i < slow.size(); ++i) {
    ASSERT_TRUE(slow[i].closed.has_value()) << "slow client " << i << " still open after 20 s";
    const double after = std::chrono::duration<double>(*slow[i].closed - slow[i].opened).count();
    EXPECT_GE(after, 4.0) << "slow client " << i;
    EXPECT_LT(after, 10.0) << "slow client " << i;
  }
  EXPECT_TRUE(srv->running());
}

// The text is rendered at most once a second and shared: a scrape within a
// second of the one that had it rendered gets the very same text, though
// packets were counted in between (the cpp-httplib server walked every map
// for each scrape); a scrape after that second has the new counts.
TEST_F(MetricsLabTest, ScrapesWithinASecondGetTheSameRenderedText) {
  constexpr int kPort = 9444;
  const std::uint32_t id = add_rule("drop udp dport 5000");
  BackgroundProcess* srv = serve(kPort);
  ASSERT_NE(srv, nullptr);
  const std::string series =
      fmt::format("xdpguard_rule_packets_total{{interface=\"{}\",rule_id=\"{}\",action=\"drop\"}}",
                  lab_->server().veth, id);
  int compared = 0;
  for (int attempt = 0; attempt < 5 && compared < 2; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // the last text is stale: rendered anew
    auto first = scrape_in_ns(kPort);
    const auto t0 = SteadyClock::now();
    ASSERT_TRUE(first.has_value());
    const double before = sample(first->body, series);
    EXPECT_EQ(udp_delivered(*lab_, 5000, 10, false, 9, std::chrono::milliseconds(300)), 0);
    auto second = scrape_in_ns(kPort);
    ASSERT_TRUE(second.has_value());
    if (SteadyClock::now() - t0 > std::chrono::milliseconds(800)) continue;  // too slow to tell here
    ++compared;
    EXPECT_EQ(sample(second->body, series), before) << "a second walk of the maps within the second";
    EXPECT_TRUE(second->body == first->body) << "not the same text";
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    auto third = scrape_in_ns(kPort);
    ASSERT_TRUE(third.has_value());
    EXPECT_EQ(sample(third->body, series), before + 10);
  }
  EXPECT_GE(compared, 1) << "no two scrapes within 0.8 s of each other in 5 attempts";
}

// 1,000 scrapes, 50 connections at a time (50 threads x 20, a new connection
// each): every one 200 with the whole exposition (the families of `metrics
// --once`, down to the last line), and the server's resident memory stays
// bounded (the text is rendered at most once a second and shared, not built
// per scrape).
TEST_F(MetricsLabTest, AThousandParallelScrapesAllGetTheWholeExpositionAndMemoryStaysBounded) {
  constexpr int kPort = 9442, kThreads = 50, kEach = 20;
  add_rule("drop udp dport 5000");
  add_rule("pass tcp dport 22");
  EXPECT_EQ(udp_delivered(*lab_, 5000, 10), 0);
  BackgroundProcess* srv = serve(kPort);
  ASSERT_NE(srv, nullptr);
  auto once = xg_srv(*lab_, {"metrics", "--once"});
  ASSERT_EQ(once.code, 0) << once.err;
  const auto want = families(once.out);
  ASSERT_GE(want.size(), 20u);
  const std::string drops =
      fmt::format("xdpguard_packets_total{{interface=\"{}\",action=\"drop\"}} ", lab_->server().veth);

  const long rss_before = vm_rss_kib(srv->pid());
  std::atomic<int> ok{0}, failed{0};
  std::mutex mu;
  std::string first_failure;
  std::vector<std::thread> threads;
  const auto t0 = SteadyClock::now();
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      if (!enter_netns(lab_->server().netns)) {
        failed += kEach;
        return;
      }
      for (int i = 0; i < kEach; ++i) {
        auto r = http_once(kPort, get_request(), std::chrono::seconds(10));
        const bool good = r && r->status == 200 && families(r->body) == want &&
                          r->body.find(drops) != std::string::npos &&
                          r->body.ends_with("xdpguard_scrape_errors_total 0\n");
        if (good) {
          ++ok;
          continue;
        }
        ++failed;
        std::lock_guard lock(mu);
        if (first_failure.empty())
          first_failure = r ? fmt::format("status {}, {} bytes:\n{}", r->status, r->body.size(), r->head)
                            : std::string("no complete response within 10 s");
      }
    });
  for (auto& t : threads) t.join();
  const double took = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  const long rss_after = vm_rss_kib(srv->pid());
  EXPECT_EQ(ok, kThreads * kEach) << first_failure;
  EXPECT_EQ(failed, 0);
  std::printf("metrics: 1000 scrapes in %.1f s; server VmRSS %ld KiB before, %ld KiB after\n", took,
              rss_before, rss_after);
  RecordProperty("rss_before_kib", std::to_string(rss_before));
  RecordProperty("rss_after_kib", std::to_string(rss_after));
  ASSERT_GT(rss_before, 0);
  EXPECT_LT(rss_after, rss_before + 32 * 1024) << "resident memory grew by more than 32 MiB";
  EXPECT_TRUE(srv->running());
}

// Flood detection runs beside the HTTP side and shares nothing it can use up:
// with descriptors scarce (RLIMIT_NOFILE 256) and 300 idle connections open,
// the detector goes on publishing its state every second (the cpp-httplib
// server took a descriptor per connection until none was left, and the
// detector, which lists the interfaces' pins every second, stopped), and a
// normal scrape still answers.
TEST_F(MetricsLabTest, FloodDetectionGoesOnWhile300IdleConnectionsAreOpenWithFewDescriptors) {
  constexpr int kPort = 9443, kIdle = 300;
  const std::string& veth = lab_->server().veth;
  ASSERT_EQ(xg_srv(*lab_, {"flood", veth, "set", "--udp-pps", "100000"}).code, 0);
  BackgroundProcess* srv = serve(kPort, {"prlimit", "--nofile=256:256"});
  ASSERT_NE(srv, nullptr);
  const auto pid = static_cast<std::uint32_t>(srv->pid());
  auto detector = [&]() -> std::optional<double> {  // seconds since its last sample, if it is srv
    auto r = xg_srv(*lab_, {"flood", veth, "--json"});
    if (r.code != 0) return std::nullopt;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded() || j["detector"].is_null() || j["detector"]["pid"] != pid) return std::nullopt;
    return j["detector"]["last_sample_s_ago"].get<double>();
  };
  ASSERT_TRUE(wait_until([&] { return detector().has_value(); }, std::chrono::seconds(30)))
      << "metrics --listen did not take up detection; its output:\n"
      << log_text();

  std::vector<UniqueFd> idle;
  ASSERT_TRUE(run_in_netns(lab_->server().netns, [&] {
    for (int i = 0; i < kIdle; ++i) idle.push_back(connect_local(kPort));
  }));
  int connected = 0;
  for (const auto& fd : idle) connected += fd ? 1 : 0;
  EXPECT_EQ(connected, kIdle);
  const auto opened = SteadyClock::now();

  // Within the connections' first 4 s (before the request deadline closes
  // them): the published sample is never older than 2.5 s, it advances, and a
  // scrape answers.
  std::optional<double> ago;
  int samples = 0;
  while (SteadyClock::now() - opened < std::chrono::milliseconds(3500)) {
    ago = detector();
    ASSERT_TRUE(ago.has_value()) << "no detector behind the published state; server output:\n" << log_text();
    EXPECT_LT(*ago, 2.5);
    ++samples;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_GE(samples, 3);
  std::printf("metrics: %d descriptors open in the server with %d idle connections\n", open_fds(srv->pid()),
              kIdle);
  auto r = scrape_in_ns(kPort, std::chrono::seconds(3));
  ASSERT_TRUE(r.has_value()) << "no scrape with 300 idle connections open";
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(sample(r->body, fmt::format("xdpguard_flood_detector_up{{interface=\"{}\"}}", veth)), 1);
  EXPECT_EQ(log_text().find("flood detection:"), std::string::npos) << log_text();
  EXPECT_TRUE(srv->running());
}

// Listen addresses as Prometheus exporters take them (issue 17 item 9), in a
// lab with IPv6: a host name serves on every address it resolves to; :PORT on
// every address, reachable from the client's namespace over IPv4 and IPv6,
// with a one-line warning; the default is 127.0.0.1:9435, out of the client's
// reach; [::1]:PORT is IPv6 only; a name that does not resolve is one line.
class MetricsListenTest : public MetricsLabTest {
 protected:
  LabOptions lab_options() const override { return {.ipv6 = true, .prefix = "xt11"}; }

  // From the client's namespace: does http://URL_HOST:port/metrics answer 200?
  bool from_client(const std::string& url_host, int port) {
    auto r =
        lab_->exec(lab_->client(), {"curl", "-sfg", "--max-time", "3", "-o", "/dev/null", "-w",
                                    "%{http_code}", fmt::format("http://{}:{}/metrics", url_host, port)});
    return r && *r == "200";
  }
  // In the server's namespace, over IPv6: GET http://[::1]:port/metrics.
  std::optional<HttpReply> scrape6(int port) {
    std::optional<HttpReply> r;
    EXPECT_TRUE(run_in_netns(lab_->server().netns, [&] {
      UniqueFd fd = connect_local(port, AF_INET6);
      if (fd && send_all(fd.get(), get_request()))
        r = read_reply(fd.get(), SteadyClock::now() + std::chrono::seconds(3));
    }));
    return r;
  }
  // The addresses getaddrinfo gives for a passive `host` ("127.0.0.1:P", "[::1]:P"), in the server's
  // namespace.
  std::set<std::string> resolved(const std::string& host, int port) {
    std::set<std::string> out;
    EXPECT_TRUE(run_in_netns(lab_->server().netns, [&] {
      addrinfo hints{};
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_PASSIVE;
      addrinfo* res = nullptr;
      if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return;
      for (auto* ai = res; ai; ai = ai->ai_next) {
        char ip[INET6_ADDRSTRLEN] = "";
        if (ai->ai_family == AF_INET)
          ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, ip, sizeof ip);
        else
          ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, ip, sizeof ip);
        out.insert(ai->ai_family == AF_INET ? fmt::format("{}:{}", ip, port)
                                            : fmt::format("[{}]:{}", ip, port));
      }
      ::freeaddrinfo(res);
    }));
    return out;
  }
};

TEST_F(MetricsListenTest, HostNamesAllAddressesTheDefaultAndIpv6Only) {
  // localhost: every address it resolves to, each answering.
  constexpr int kName = 9461, kAll = 9462, kV6 = 9463, kDefault = 9435;
  const auto want = resolved("localhost", kName);
  ASSERT_FALSE(want.empty());
  ASSERT_NE(serve(kName, {}, "localhost:" + std::to_string(kName)), nullptr);
  std::string line = log_text();
  for (const auto& a : want) {
    EXPECT_NE(line.find("http://" + a + "/metrics"), std::string::npos) << a << " in " << line;
    if (a.front() == '[') {
      auto r = scrape6(kName);
      ASSERT_TRUE(r.has_value()) << a;
      EXPECT_EQ(r->status, 200);
    }
  }
  EXPECT_EQ(line.find("warning"), std::string::npos) << line;
  EXPECT_FALSE(from_client(lab_->server().ip4, kName));

  // :PORT: every address, warned once; the client reaches it over IPv4 and IPv6.
  ASSERT_NE(serve(kAll, {}, ":" + std::to_string(kAll)), nullptr);
  line = log_text();
  const std::string warning = "xdpguard: metrics: warning: listening on ";
  ASSERT_EQ(line.rfind(warning, 0), 0u) << line;
  const std::string first = line.substr(0, line.find('\n'));
  EXPECT_NE(first.find(fmt::format("0.0.0.0:{}", kAll)), std::string::npos) << first;
  EXPECT_NE(first.find(fmt::format("[::]:{}", kAll)), std::string::npos) << first;
  EXPECT_NE(first.find("reachable from beyond this host"), std::string::npos) << first;
  EXPECT_TRUE(from_client(lab_->server().ip4, kAll));
  EXPECT_TRUE(from_client("[" + lab_->server().ip6 + "]", kAll));
  auto v6 = scrape6(kAll);
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->status, 200);

  // No --listen: 127.0.0.1:9435, loopback only.
  ASSERT_NE(serve(kDefault, {}, ""), nullptr);
  line = log_text();
  EXPECT_EQ(line.find("warning"), std::string::npos) << line;
  EXPECT_NE(line.find("serving http://127.0.0.1:9435/metrics (at most 256 connections)"), std::string::npos)
      << line;
  EXPECT_FALSE(from_client(lab_->server().ip4, kDefault));

  // [::1]:PORT: IPv6 only.
  auto v6only = BackgroundProcess::start(
      {XDPGUARD_BIN, "-n", lab_->server().netns, "metrics", "--listen", "[::1]:" + std::to_string(kV6)});
  ASSERT_TRUE(v6only);
  procs_.push_back(std::move(*v6only));
  EXPECT_TRUE(wait_until([&] { return scrape6(kV6).has_value(); }, std::chrono::seconds(10)));
  bool v4_refused = false;
  ASSERT_TRUE(
      run_in_netns(lab_->server().netns, [&] { v4_refused = !connect_local(kV6) && errno == ECONNREFUSED; }));
  EXPECT_TRUE(v4_refused);

  // A name that does not resolve: one line.
  auto bad = xg_srv(*lab_, {"metrics", "--listen", "no-such-host.invalid:9464"});
  EXPECT_NE(bad.code, 0);
  EXPECT_EQ(
      bad.err.rfind(
          "xdpguard: metrics: listen on no-such-host.invalid:9464: cannot resolve no-such-host.invalid: ", 0),
      0u)
      << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
}

}  // namespace
}  // namespace xdpguard::test
