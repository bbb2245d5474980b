// The metrics endpoint's request parser and router (telemetry/http_request.h):
// every limit, reads split at every byte, pipelined requests, bad methods,
// targets and versions, header folding, bodies.
#include "telemetry/http_request.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace xdpguard::telemetry::http {
namespace {

const char* const kScrape =
    "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9435\r\nUser-Agent: Prometheus/2.45.3\r\n"
    "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
    "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";

HttpRequest request(const ParseResult& r) {
  if (const auto* e = std::get_if<HttpError>(&r)) ADD_FAILURE() << "error " << e->status << ": " << e->reason;
  if (std::holds_alternative<NeedMore>(r)) ADD_FAILURE() << "need more";
  return std::holds_alternative<HttpRequest>(r) ? std::get<HttpRequest>(r) : HttpRequest{};
}

// The status of an error (0: not an error).
int status(const ParseResult& r) {
  const auto* e = std::get_if<HttpError>(&r);
  return e ? e->status : 0;
}
int status(std::string_view buf, const Limits& l = {}) { return status(parse_request(buf, l)); }

bool need_more(std::string_view buf, const Limits& l = {}) {
  return std::holds_alternative<NeedMore>(parse_request(buf, l));
}

std::string get(std::string_view target, std::string_view version = "HTTP/1.1",
                std::string_view fields = "") {
  return fmt::format("GET {} {}\r\nHost: x\r\n{}\r\n", target, version, fields);
}

TEST(HttpRequest, APrometheusScrape) {
  const std::string s = kScrape;
  auto r = request(parse_request(s));
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/metrics");
  EXPECT_EQ(r.minor, 1);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(r.head_bytes, s.size());
  EXPECT_EQ(r.fields, 5u);
  EXPECT_EQ(std::get<Route>(route(r)), Route::Metrics);
}

TEST(HttpRequest, EveryPrefixNeedsMoreAndTheWholeIsOneRequest) {
  const std::string s = kScrape;
  for (std::size_t n = 0; n < s.size(); ++n)
    ASSERT_TRUE(need_more(s.substr(0, n)))
        << "prefix of " << n << " bytes: status " << status(s.substr(0, n));
  EXPECT_EQ(request(parse_request(s)).head_bytes, s.size());
}

TEST(HttpRequest, EveryPrefixOfABadRequestNeedsMoreOrFailsTheSameWay) {
  for (const std::string& bad :
       {std::string("GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"),
        std::string("GET /metrics HTTP/2.0\r\n\r\n"),
        std::string("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n"),
        std::string("G\x01T / HTTP/1.1\r\n\r\n", 18)}) {
    const int want = status(bad);
    ASSERT_NE(want, 0) << bad;
    for (std::size_t n = 0; n <= bad.size(); ++n) {
      const int got = status(bad.substr(0, n));
      if (got != 0) {
        EXPECT_EQ(got, want) << "prefix of " << n << " bytes of " << bad;
      } else {
        EXPECT_TRUE(need_more(bad.substr(0, n))) << n;
      }
    }
  }
}

TEST(HttpRequest, PipelinedRequestsOneAfterTheOther) {
  const std::string one = get("/metrics");
  const std::string two = "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string buf = one + two + "GET /met";
  auto a = request(parse_request(buf));
  EXPECT_EQ(a.head_bytes, one.size());
  auto b = request(parse_request(std::string_view(buf).substr(a.head_bytes)));
  EXPECT_EQ(b.method, "HEAD");
  EXPECT_EQ(b.path, "/");
  EXPECT_FALSE(b.keep_alive);
  EXPECT_EQ(b.head_bytes, two.size());
  EXPECT_TRUE(need_more(std::string_view(buf).substr(a.head_bytes + b.head_bytes)));
}

TEST(HttpRequest, HeadSizeLimit) {
  const Limits l{.max_head_bytes = 64, .max_fields = 64};
  // Exactly 64 bytes: taken; one more byte of a field: 431.
  std::string fit = "GET / HTTP/1.1\r\nHost: x\r\nX: ";
  fit += std::string(64 - fit.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(fit.size(), 64u);
  EXPECT_EQ(request(parse_request(fit, l)).head_bytes, 64u);
  std::string over = fit;
  over.insert(30, "a");
  EXPECT_EQ(status(over, l), 431);
  // Still incomplete below the limit; refused at it, whatever follows.
  EXPECT_TRUE(need_more(over.substr(0, 63), l));
  EXPECT_EQ(status(over.substr(0, 64), l), 431);
  // A request line that does not end within the limit: 414.
  const std::string long_line = "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_TRUE(need_more(long_line.substr(0, 63), l));
  EXPECT_EQ(status(long_line.substr(0, 64), l), 414);
  EXPECT_EQ(status(long_line, l), 414);
  // The default: 8 KiB.
  EXPECT_EQ(status(get("/" + std::string(9000, 'a'))), 414);
  EXPECT_EQ(status(get("/metrics", "HTTP/1.1", "Cookie: " + std::string(9000, 'c') + "\r\n")), 431);
  EXPECT_EQ(
      request(parse_request(get("/metrics", "HTTP/1.1", "Cookie: " + std::string(8000, 'c') + "\r\n"))).path,
      "/metrics");
}

TEST(HttpRequest, FieldCountLimit) {
  auto with_fields = [](int n) {
    std::string f;
    for (int i = 0; i < n; ++i) f += fmt::format("X-{}: {}\r\n", i, i);
    return get("/metrics", "HTTP/1.1", f);
  };
  EXPECT_EQ(request(parse_request(with_fields(63))).fields, 64u);  // and Host
  EXPECT_EQ(status(with_fields(64)), 431);
  // Refused at the 65th field, before the head ends.
  const std::string many = with_fields(64);
  EXPECT_EQ(status(many.substr(0, many.size() - 2)), 431);
  EXPECT_EQ(status(with_fields(3), Limits{.max_head_bytes = 8192, .max_fields = 3}), 431);
}

TEST(HttpRequest, Methods) {
  EXPECT_EQ(std::get<Route>(route(request(parse_request("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")))),
            Route::Metrics);
  for (const char* m : {"POST", "PUT", "DELETE", "OPTIONS", "get", "BREW"}) {
    auto r = request(parse_request(fmt::format("{} /metrics HTTP/1.1\r\nHost: x\r\n\r\n", m)));
    EXPECT_EQ(r.method, m);
    EXPECT_EQ(std::get<HttpError>(route(r)).status, 405) << m;
  }
  for (const char* bad :
       {" GET / HTTP/1.1\r\n", "G(ET / HTTP/1.1\r\n", "GET\t/ HTTP/1.1\r\n", "GET\r\n", "\r\n\r\n"}) {
    EXPECT_EQ(status(std::string(bad) + "Host: x\r\n\r\n"), 400) << bad;
  }
  // Garbage fails at its first byte: a TLS ClientHello, a NUL.
  EXPECT_EQ(status("\x16\x03\x01"), 400);
  EXPECT_EQ(status(std::string_view("\0", 1)), 400);
}

TEST(HttpRequest, Targets) {
  EXPECT_EQ(request(parse_request(get("/metrics?name[]=up&x=1"))).path, "/metrics");
  EXPECT_EQ(request(parse_request(get("/metrics#frag"))).path, "/metrics");
  EXPECT_EQ(request(parse_request(get("http://127.0.0.1:9435/metrics"))).path, "/metrics");
  EXPECT_EQ(request(parse_request(get("HTTP://localhost"))).path, "/");
  EXPECT_EQ(request(parse_request(get("http://localhost?x"))).path, "/");
  EXPECT_EQ(std::get<Route>(route(request(parse_request(get("/"))))), Route::Index);
  for (const char* t : {"/metrics/", "/Metrics", "/%6detrics", "//metrics", "/favicon.ico"})
    EXPECT_EQ(std::get<HttpError>(route(request(parse_request(get(t))))).status, 404) << t;
  for (const char* t : {"metrics", "*", "localhost:9435", "http://", "http:///metrics"})
    EXPECT_EQ(status(get(t)), 400) << t;
  EXPECT_EQ(status("GET /m\x7f HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(status("GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(status("GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
}

TEST(HttpRequest, Versions) {
  auto v10 = request(parse_request("GET /metrics HTTP/1.0\r\n\r\n"));  // no Host needed
  EXPECT_EQ(v10.minor, 0);
  EXPECT_FALSE(v10.keep_alive);
  EXPECT_TRUE(request(parse_request("GET /metrics HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")).keep_alive);
  EXPECT_EQ(request(parse_request(get("/", "HTTP/1.9"))).minor, 9);
  for (const char* v : {"HTTP/2.0", "HTTP/3.0", "HTTP/0.9"}) EXPECT_EQ(status(get("/", v)), 505) << v;
  for (const char* v : {"HTTP/1.10", "http/1.1", "HTTP/1", "HTTP/1.1 ", "HTTP/11", "HTTPS/1.1"})
    EXPECT_EQ(status(get("/", v)), 400) << v;
  EXPECT_EQ(status("GET /\r\n\r\n"), 400);  // HTTP/0.9 has no version
}

TEST(HttpRequest, FieldSyntax) {
  EXPECT_EQ(status(get("/", "HTTP/1.1", "X-A: 1\r\n  continued\r\n")), 400);  // obs-fold
  EXPECT_EQ(status(get("/", "HTTP/1.1", "X-A: 1\r\n\tcontinued\r\n")), 400);
  EXPECT_EQ(status(get("/", "HTTP/1.1", "X-A : 1\r\n")), 400);  // space before the colon
  EXPECT_EQ(status(get("/", "HTTP/1.1", "X-A 1\r\n")), 400);    // no colon
  EXPECT_EQ(status(get("/", "HTTP/1.1", ": 1\r\n")), 400);      // no name
  EXPECT_EQ(status(get("/", "HTTP/1.1", std::string("X-A: a\0b\r\n", 10))), 400);
  EXPECT_EQ(status(get("/", "HTTP/1.1", "X-A: a\rb\r\n")), 400);  // bare CR
  EXPECT_EQ(status("GET / HTTP/1.1\rHost: x\r\n\r\n"), 400);
  // Values: OWS trimmed, obs-text and tabs allowed.
  EXPECT_EQ(request(parse_request(get("/", "HTTP/1.1", "X-A:\t caf\xc3\xa9 \t\r\n"))).fields, 2u);
  // LF alone ends a line too (RFC 9112 2.2), and empty lines before the request line are skipped.
  EXPECT_EQ(request(parse_request("GET /metrics HTTP/1.1\nHost: x\n\n")).head_bytes, 31u);
  EXPECT_EQ(request(parse_request("\r\n\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")).path, "/metrics");
}

TEST(HttpRequest, Host) {
  EXPECT_EQ(status("GET /metrics HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status(get("/", "HTTP/1.1", "host: y\r\n")), 400);
  EXPECT_EQ(status("GET /metrics HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
}

TEST(HttpRequest, Bodies) {
  EXPECT_EQ(request(parse_request(get("/", "HTTP/1.1", "Content-Length: 0\r\n"))).path, "/");
  EXPECT_EQ(request(parse_request(get("/", "HTTP/1.1", "Content-Length: 0\r\nContent-Length: 00\r\n"))).path,
            "/");
  EXPECT_EQ(status(get("/", "HTTP/1.1", "Content-Length: 1\r\n")), 413);
  EXPECT_EQ(status(get("/", "HTTP/1.1", "Content-Length: 999999999999999999\r\n")), 413);
  for (const char* bad :
       {"99999999999999999999999", "18446744073709551616", "-1", "+1", "1 2", "0x10", "", "1,1"})
    EXPECT_EQ(status(get("/", "HTTP/1.1", fmt::format("Content-Length: {}\r\n", bad))), 400) << bad;
  EXPECT_EQ(status(get("/", "HTTP/1.1", "Content-Length: 0\r\nContent-Length: 1\r\n")), 400);
  EXPECT_EQ(status(get("/", "HTTP/1.1", "Transfer-Encoding: chunked\r\n")), 501);
  EXPECT_EQ(status(get("/", "HTTP/1.1", "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n")), 501);
}

TEST(HttpRequest, ConnectionOptions) {
  EXPECT_FALSE(request(parse_request(get("/", "HTTP/1.1", "Connection: close\r\n"))).keep_alive);
  EXPECT_FALSE(request(parse_request(get("/", "HTTP/1.1", "Connection: TE, Close\r\n"))).keep_alive);
  EXPECT_TRUE(request(parse_request(get("/", "HTTP/1.1", "Connection: keep-alive\r\n"))).keep_alive);
  EXPECT_FALSE(request(parse_request("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")).keep_alive);
}

TEST(HttpResponse, Heads) {
  EXPECT_EQ(
      response_head(200, "text/plain; version=0.0.4; charset=utf-8", 12, true,
                    "Sun, 06 Nov 1994 08:49:37 GMT"),
      "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Type: text/plain; version=0.0.4; "
      "charset=utf-8\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(response_head(405, "text/plain", 3, false, ""),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
            "Allow: GET, HEAD\r\nConnection: close\r\n\r\n");
  EXPECT_NE(response_head(503, "text/plain", 0, false, "").find("\r\nRetry-After: 1\r\n"), std::string::npos);
  for (int s : {200, 400, 404, 405, 408, 413, 414, 431, 500, 501, 503, 505})
    EXPECT_NE(status_text(s), "") << s;
}

}  // namespace
}  // namespace xdpguard::telemetry::http
