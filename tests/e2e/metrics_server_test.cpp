// The metrics HTTP server (telemetry/metrics_server.h) in this process, on
// 127.0.0.1 of a lab's server namespace (names xt11<pid>...), with a render
// function of the test's own so that renders can be counted and slowed down;
// real sockets for clients. What a client gets for what it sends (statuses,
// Connection: close, the connection closed after), keep-alive and pipelining,
// one render shared by many scrapes, a slow render that does not hold up the
// loop, the connection limit, the deadlines.
#include <atomic>
#include <set>

#include "e2e_support.h"
#include "http_client.h"
#include "telemetry/metrics_server.h"

namespace xdpguard::test {
namespace {

using telemetry::MetricsServer;
using telemetry::Page;
using telemetry::ServerLimits;
using namespace std::chrono_literals;

constexpr int kServerPort = 9450;

class MetricsServerTest : public LabTest {
 protected:
  LabOptions lab_options() const override { return {.ipv6 = false, .prefix = "xt11"}; }
  void TearDown() override {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (result_) {
      EXPECT_TRUE(*result_) << result_->error().message();
    }
    LabTest::TearDown();
  }

  // Serves on 127.0.0.1:kServerPort of the server namespace; each render returns
  // "render N\n" (N from 1) after `render_delay`, plus `padding` bytes.
  void start(ServerLimits limits = {}) {
    std::vector<telemetry::Listener> ls;
    ASSERT_TRUE(run_in_netns(lab_->server().netns, [&] {
      auto r = telemetry::open_listeners({"127.0.0.1", kServerPort});
      ASSERT_TRUE(r) << r.error().message();
      ls = std::move(*r);
    }));
    ASSERT_EQ(ls.size(), 1u);
    EXPECT_EQ(ls[0].address, "127.0.0.1:" + std::to_string(kServerPort));
    EXPECT_TRUE(ls[0].loopback);
    server_ = std::make_unique<MetricsServer>(
        std::move(ls),
        [this] {
          std::this_thread::sleep_for(render_delay_.load());
          const int n = ++renders_;
          return Page{200, "text/plain; version=0.0.4; charset=utf-8",
                      fmt::format("render {}\n", n) + std::string(padding_, '#')};
        },
        limits);
    thread_ = std::thread([this] { result_ = server_->run(stop_); });
  }

  // Runs fn on a thread in the server namespace (its sockets are made there).
  void in_ns(const std::function<void()>& fn) { ASSERT_TRUE(run_in_netns(lab_->server().netns, fn)); }

  std::unique_ptr<MetricsServer> server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::optional<Result<void>> result_;
  std::atomic<int> renders_{0};
  std::atomic<std::chrono::milliseconds> render_delay_{0ms};
  std::size_t padding_ = 0;
};

// Sends `request` on a new connection; the reply, and whether the server
// closed the connection after it (within 3 s).
struct Answer {
  std::optional<HttpReply> reply;
  bool closed = false;
};
Answer ask(const std::string& request) {
  Answer a;
  UniqueFd fd = connect_local(kServerPort);
  if (!fd || !send_all(fd.get(), request)) return a;
  const auto deadline = SteadyClock::now() + 3s;
  a.reply = read_reply(fd.get(), deadline, request.rfind("HEAD ", 0) == 0);
  char c;
  a.closed = recv_until(fd.get(), &c, 1, deadline) == 0;
  return a;
}

TEST_F(MetricsServerTest, RefusesWhatItDoesNotServeWithTheRightStatusAndCloses) {
  start();
  const std::string host = "Host: 127.0.0.1\r\n";
  std::string fields;
  for (int i = 0; i < 64; ++i) fields += fmt::format("X-{}: {}\r\n", i, i);
  const std::vector<std::pair<std::string, int>> cases = {
      {"GET /nope HTTP/1.1\r\n" + host + "\r\n", 404},
      {"GET /metrics/ HTTP/1.1\r\n" + host + "\r\n", 404},
      {"POST /metrics HTTP/1.1\r\n" + host + "Content-Length: 0\r\n\r\n", 405},
      {"DELETE / HTTP/1.1\r\n" + host + "\r\n", 405},
      {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), 400},
      {"GET /metrics HTTP/1.1\r\n\r\n", 400},  // no Host
      {"GET /metrics HTTP/1.1\r\n" + host + "X: a\r\n b\r\n\r\n", 400},
      {"GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n" + host + "\r\n", 414},
      {"GET /metrics HTTP/1.1\r\n" + host + fields + "\r\n", 431},
      {"GET /metrics HTTP/1.1\r\n" + host + "Cookie: " + std::string(9000, 'c') + "\r\n\r\n", 431},
      {"GET /metrics HTTP/1.1\r\n" + host + "Content-Length: 100000000000\r\n\r\n", 413},
      {"GET /metrics HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501},
      {"GET /metrics HTTP/2.0\r\n" + host + "\r\n", 505},
  };
  in_ns([&] {
    for (const auto& [request, want] : cases) {
      auto a = ask(request);
      ASSERT_TRUE(a.reply.has_value()) << request.substr(0, 60);
      EXPECT_EQ(a.reply->status, want) << request.substr(0, 60);
      EXPECT_EQ(a.reply->header("Connection"), "close") << request.substr(0, 60);
      EXPECT_EQ(a.reply->header("Content-Type"), "text/plain; charset=utf-8");
      EXPECT_FALSE(a.reply->body.empty());
      EXPECT_TRUE(a.closed) << request.substr(0, 60);
      if (want == 405) {
        EXPECT_EQ(a.reply->header("Allow"), "GET, HEAD");
      }
    }
  });
  EXPECT_EQ(renders_, 0);  // nothing of this asked for the metrics
}

TEST_F(MetricsServerTest, KeepAlivePipeliningHeadAndTheRequestsPerConnectionLimit) {
  start();
  in_ns([&] {
    UniqueFd fd = connect_local(kServerPort);
    ASSERT_TRUE(fd);
    // Three requests in one write: three answers, in order, on one connection.
    ASSERT_TRUE(send_all(fd.get(), get_request("/metrics", false) +
                                       "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n" +
                                       get_request("/", false)));
    const auto deadline = SteadyClock::now() + 5s;
    std::string pending;
    auto a = read_reply(fd.get(), deadline, false, &pending);
    auto b = read_reply(fd.get(), deadline, true, &pending);
    auto c = read_reply(fd.get(), deadline, false, &pending);
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(a->status, 200);
    EXPECT_EQ(a->body, "render 1\n");
    EXPECT_EQ(a->header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(a->header("Connection"), "keep-alive");
    EXPECT_FALSE(a->header("Date").empty());
    EXPECT_EQ(b->status, 200);  // HEAD: the same head, no body
    EXPECT_EQ(b->header("Content-Length"), std::to_string(a->body.size()));
    EXPECT_EQ(c->status, 200);
    EXPECT_NE(c->body.find("href=\"/metrics\""), std::string::npos);
    EXPECT_EQ(c->header("Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(pending, "");  // nothing more came: the HEAD had no body
    // Up to 100 requests on one connection; the 100th says close, and it closes.
    for (int i = 4; i <= 100; ++i) {
      ASSERT_TRUE(send_all(fd.get(), get_request("/", false)));
      auto r = read_reply(fd.get(), SteadyClock::now() + 3s, false, &pending);
      ASSERT_TRUE(r) << "request " << i;
      EXPECT_EQ(r->header("Connection"), i < 100 ? "keep-alive" : "close") << i;
    }
    char ch;
    EXPECT_EQ(recv_until(fd.get(), &ch, 1, SteadyClock::now() + 3s), 0);
  });
  EXPECT_EQ(server_->counters().requests, 100u);
}

// 500 scrapes from 25 connections at once while the text is fresh: one
// render, the same text for all (renders are coalesced: the scrapes that
// arrive while it runs wait for it).
TEST_F(MetricsServerTest, ManyScrapesShareOneRender) {
  ServerLimits limits;
  limits.refresh = 60s;  // no second render within the test
  render_delay_ = 300ms;
  start(limits);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 25; ++t)
    threads.emplace_back([&] {
      if (!enter_netns(lab_->server().netns)) return;
      for (int i = 0; i < 20; ++i) {
        auto r = http_once(kServerPort, get_request(), 5s);
        if (r && r->status == 200 && r->body == "render 1\n") ++ok;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 500);
  EXPECT_EQ(renders_, 1);
  EXPECT_EQ(server_->counters().renders, 1u);
}

// With the default refresh (1 s): over ~3.5 s of back-to-back scrapes, a
// render at most once a second (and at least one a second, while asked).
TEST_F(MetricsServerTest, RendersAtMostOnceASecond) {
  start();
  int scrapes = 0;
  std::set<std::string> seen;
  const auto t0 = SteadyClock::now();
  in_ns([&] {
    while (SteadyClock::now() - t0 < 3500ms) {
      auto r = http_once(kServerPort, get_request(), 3s);
      ASSERT_TRUE(r && r->status == 200);
      seen.insert(r->body);
      ++scrapes;
    }
  });
  const double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  EXPECT_GT(scrapes, 20);
  EXPECT_LE(renders_, static_cast<int>(secs) + 1) << scrapes << " scrapes in " << secs << " s";
  EXPECT_GE(renders_, 3);
  EXPECT_EQ(static_cast<int>(seen.size()), renders_.load());
}

// A render that takes 3 s: the loop goes on (the index page answers at
// once); a scrape that has no text to fall back on gets 503 after
// render_wait, and one with an older text gets that.
TEST_F(MetricsServerTest, ASlowRenderDoesNotHoldUpTheLoop) {
  ServerLimits limits;
  limits.render_wait = 1s;
  limits.refresh = 100ms;
  render_delay_ = 3s;
  start(limits);
  in_ns([&] {
    std::optional<HttpReply> first;
    std::thread scrape([&] { first = http_once(kServerPort, get_request(), 5s); });
    std::this_thread::sleep_for(200ms);
    const auto t0 = SteadyClock::now();
    auto index = http_once(kServerPort, get_request("/"), 3s);
    EXPECT_LT(SteadyClock::now() - t0, 1s);
    ASSERT_TRUE(index.has_value());
    EXPECT_EQ(index->status, 200);
    scrape.join();
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->status, 503);
    EXPECT_EQ(first->header("Retry-After"), "1");
    // Once the first render is done: its text, then (stale, while the next
    // one takes 3 s) the same text after render_wait.
    ASSERT_TRUE(wait_until([&] { return renders_ == 1; }, 5s));
    auto fresh = http_once(kServerPort, get_request(), 3s);
    ASSERT_TRUE(fresh.has_value());
    EXPECT_EQ(fresh->body, "render 1\n");
    std::this_thread::sleep_for(200ms);
    auto stale = http_once(kServerPort, get_request(), 3s);
    ASSERT_TRUE(stale.has_value());
    EXPECT_EQ(stale->status, 200);
    EXPECT_EQ(stale->body, "render 1\n");
  });
}

// At the connection limit, a new connection closes the oldest one that is
// not being served; when every connection is being served, the new one is
// refused.
TEST_F(MetricsServerTest, AtTheConnectionLimitTheOldestIdleConnectionMakesRoom) {
  ServerLimits limits;
  limits.max_connections = 16;
  limits.refresh = 60s;
  start(limits);
  in_ns([&] {
    std::vector<UniqueFd> idle;
    for (int i = 0; i < 16; ++i) {
      idle.push_back(connect_local(kServerPort));
      ASSERT_TRUE(idle.back());
      std::this_thread::sleep_for(20ms);  // accepted in this order
    }
    ASSERT_TRUE(wait_until([&] { return server_->counters().accepted == 16; }, 3s));
    auto r = http_once(kServerPort, get_request(), 3s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(server_->counters().evicted, 1u);
    EXPECT_TRUE(wait_until([&] { return closed_by_peer(idle[0].get()); }, 2s)) << "the oldest";
    for (std::size_t i = 1; i < idle.size(); ++i) EXPECT_FALSE(closed_by_peer(idle[i].get())) << i;
  });
}

TEST_F(MetricsServerTest, WhenEveryConnectionIsBeingServedANewOneIsRefused) {
  ServerLimits limits;
  limits.max_connections = 16;
  limits.render_wait = 5s;
  render_delay_ = 2s;
  start(limits);
  in_ns([&] {
    // 16 scrapes wait for the (slow) first render.
    std::vector<UniqueFd> waiting;
    for (int i = 0; i < 16; ++i) {
      waiting.push_back(connect_local(kServerPort));
      ASSERT_TRUE(send_all(waiting.back().get(), get_request()));
    }
    ASSERT_TRUE(wait_until([&] { return server_->counters().requests == 16; }, 3s));
    UniqueFd extra = connect_local(kServerPort);
    ASSERT_TRUE(extra);
    EXPECT_TRUE(wait_until([&] { return closed_by_peer(extra.get()); }, 3s)) << "closed at once";
    EXPECT_EQ(server_->counters().refused, 1u);
    for (auto& fd : waiting) {
      auto r = read_reply(fd.get(), SteadyClock::now() + 5s);
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(r->body, "render 1\n");
    }
  });
}

// The request deadline counts from accept, whatever trickles in; a client
// that sent part of a request gets 408, one that sent nothing is closed
// quietly. A client that does not read its response is dropped at the write
// deadline.
TEST_F(MetricsServerTest, DeadlinesCloseSlowSendersAndSlowReaders) {
  ServerLimits limits;
  limits.request_timeout = 1s;
  limits.write_timeout = 1s;
  padding_ = 64 << 20;  // more than socket buffers hold
  start(limits);
  in_ns([&] {
    UniqueFd partial = connect_local(kServerPort), silent = connect_local(kServerPort);
    ASSERT_TRUE(partial && silent);
    const auto t0 = SteadyClock::now();
    // One byte every 200 ms: the deadline does not move.
    std::string got;
    char buf[512];
    ssize_t n = 0;
    for (const char ch : std::string("GET /metrics HTTP/1.1\r\nHost")) {
      if (!send_all(partial.get(), std::string(1, ch))) break;
      n = recv_until(partial.get(), buf, sizeof buf, SteadyClock::now() + 200ms);
      if (n > 0) {
        got.append(buf, static_cast<std::size_t>(n));
        break;
      }
    }
    while ((n = recv_until(partial.get(), buf, sizeof buf, SteadyClock::now() + 3s)) > 0)
      got.append(buf, static_cast<std::size_t>(n));
    const auto took = SteadyClock::now() - t0;
    EXPECT_EQ(got.substr(0, 29), "HTTP/1.1 408 Request Timeout\r") << got;
    EXPECT_GE(took, 900ms);
    EXPECT_LT(took, 3s);
    EXPECT_EQ(recv_until(silent.get(), buf, sizeof buf, SteadyClock::now() + 3s), 0);

    // Asks for 64 MiB and reads nothing.
    UniqueFd reader = connect_local(kServerPort);
    ASSERT_TRUE(send_all(reader.get(), get_request()));
    EXPECT_TRUE(wait_until([&] { return server_->counters().timed_out == 3; }, 20s))
        << server_->counters().timed_out;
  });
}

}  // namespace
}  // namespace xdpguard::test
