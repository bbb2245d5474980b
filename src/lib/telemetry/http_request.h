// The HTTP/1.x requests the metrics endpoint takes (RFC 9110/9112), parsed
// from the bytes a client sent. Pure functions, no I/O: the server
// (telemetry/metrics_server.h) feeds them its receive buffer, the unit tests
// and fuzz/http_request_fuzz.cpp feed them anything.
//
// parse_request() looks at a request head (request line, header fields, the
// empty line) at the start of a buffer and says one of three things:
//   NeedMore     the head is not complete yet, and nothing in it is wrong;
//   HttpRequest  a complete head of `head_bytes` bytes (a pipelined request
//                may follow);
//   HttpError    the request is refused with `status`: 400 (syntax, obs-fold,
//                no or two Host fields in HTTP/1.1, a bad Content-Length),
//                414 (request line longer than the limit), 431 (head longer
//                than the limit, or too many fields), 413 (a body:
//                Content-Length > 0), 501 (Transfer-Encoding), 505 (not HTTP/1.x).
// An error is reported as soon as the bytes seen prove it (garbage in the
// method fails at its first byte, not at the limit). Request bodies are never
// accepted, so a head is a whole request.
//
// route() decides what a well-formed request gets: GET or HEAD of /metrics
// or / (query ignored); 405 for other methods, 404 for other paths.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace xdpguard::telemetry::http {

struct Limits {
  std::size_t max_head_bytes = 8192;  // request line + fields + empty line
  std::size_t max_fields = 64;        // header fields
};

struct NeedMore {};

struct HttpRequest {
  std::string method;          // as sent, case-sensitive ("GET")
  std::string path;            // of the target, without query ("/metrics")
  int minor = 1;               // HTTP/1.minor
  bool keep_alive = true;      // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with keep-alive
  std::size_t head_bytes = 0;  // bytes of the buffer the head took
  std::size_t fields = 0;      // header fields in it
};

struct HttpError {
  int status = 400;
  std::string reason;  // for the response body: "header field folding (obs-fold)"
};

using ParseResult = std::variant<NeedMore, HttpRequest, HttpError>;

[[nodiscard]] ParseResult parse_request(std::string_view buf, const Limits& limits = {});

enum class Route { Metrics, Index };
using RouteResult = std::variant<Route, HttpError>;
[[nodiscard]] RouteResult route(const HttpRequest& req);

// "Not Found" for 404 ("" for a status this server never sends).
std::string_view status_text(int status);

// A response head: status line, Date (`date`: an IMF-fixdate, "" for none),
// Content-Type, Content-Length, Connection (close or keep-alive), and Allow for
// 405, Retry-After for 503, then the empty line.
std::string response_head(int status, std::string_view content_type, std::size_t content_length,
                          bool keep_alive, std::string_view date);

}  // namespace xdpguard::telemetry::http
