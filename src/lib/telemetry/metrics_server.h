// The HTTP server of `metrics --listen` (docs/telemetry.md, "metrics"), made
// to stand local attackers (THREATS.md: any local user can connect to it).
//
// One thread runs an epoll loop over non-blocking sockets; every limit is
// exact and ours (ServerLimits): the request head's size and field count
// (telemetry/http_request.h parses it), a deadline for the whole request from
// accept (or from the previous response on a kept-alive connection), a write
// deadline for the whole response, a connection limit, requests per
// connection. At the connection limit a new connection closes the oldest one
// that is not being served (still sending its request, idle between
// requests, stalled in a write, or closing), so slow or idle clients cannot
// shut a normal scrape out; only when every connection is being answered is
// the new one refused.
//
// The text is rendered by `render` in a thread of its own and swapped in
// whole: at most one render at a time, the next no sooner than `refresh`
// after the last one finished, and every scrape in between is answered with
// the same shared text. The loop never waits for a render: a scrape that
// needs one parks until it is done (at most render_wait, then it gets the
// last text or 503).
//
// MetricsServer owns its listeners, the connections, the render thread and
// an epoll and an eventfd. run() fails only when epoll itself fails.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"
#include "telemetry/metrics.h"

namespace xdpguard::telemetry {

struct ServerLimits {
  std::size_t max_head_bytes = 8192;                // request line + header fields
  std::size_t max_fields = 64;                      // header fields
  std::size_t max_connections = 256;                // open at once
  std::size_t max_requests_per_connection = 100;    // then Connection: close
  std::chrono::milliseconds request_timeout{5000};  // accept (or the last response) -> complete request
  std::chrono::milliseconds write_timeout{10000};   // a whole response
  std::chrono::milliseconds render_wait{5000};      // a scrape waits for a render at most this long
  std::chrono::milliseconds refresh{1000};          // the text is re-rendered at most this often
  std::chrono::milliseconds linger{2000};           // reading what a closed connection still sends
  std::chrono::milliseconds stalled{1000};          // a write without progress this long can be evicted
};

// Descriptors the process keeps for itself beside the connections: flood
// detection (the pins and maps of every interface), the renderer's maps,
// the listeners, stdio, libbpf.
inline constexpr std::size_t kReservedFds = 128;
inline constexpr std::size_t kMinConnections = 16;

// The connection limit RLIMIT_NOFILE allows: `wanted` if the soft limit
// leaves kReservedFds besides (the soft limit is raised towards the hard one
// when needed), else fewer; an error if fewer than kMinConnections fit.
[[nodiscard]] Result<std::size_t> connection_limit(std::size_t wanted);

// A listening socket (non-blocking, close-on-exec) and what it listens on.
struct Listener {
  UniqueFd fd;
  std::string address;    // "127.0.0.1:9435", "[::1]:9435"
  bool loopback = false;  // 127.0.0.0/8 or ::1: not reachable from another host
};

// Binds every address `addr` stands for: a numeric address; every address a
// host name resolves to; both wildcards (0.0.0.0 and ::) for an empty host.
// IPv6 sockets are IPv6-only. For a host name or the wildcard, an address
// the namespace does not have (no IPv6, no ::1) is left out; any other
// failure is an error: "listen on 127.0.0.1:9435: Address already in use",
// "listen on nohost:9435: cannot resolve nohost: Name or service not known".
[[nodiscard]] Result<std::vector<Listener>> open_listeners(const ListenAddress& addr);

// What a render made: 200 and the exposition, or 500 and why not.
struct Page {
  int status = 200;
  std::string content_type;
  std::string body;
};

struct ServerCounters {
  std::uint64_t accepted = 0;
  std::uint64_t requests = 0;  // complete request heads parsed
  std::uint64_t renders = 0;
  std::uint64_t evicted = 0;    // closed to make room for a new connection
  std::uint64_t refused = 0;    // new connections closed: every other one was being served
  std::uint64_t timed_out = 0;  // request or write deadline passed
};

class MetricsServer {
 public:
  using Render = std::function<Page()>;
  MetricsServer(std::vector<Listener> listeners, Render render, ServerLimits limits = {});
  MetricsServer(MetricsServer&&) noexcept;
  MetricsServer& operator=(MetricsServer&&) noexcept;
  ~MetricsServer();

  // Serves until `stop` is set (checked every 100 ms); the render thread is
  // started here and joined before it returns.
  [[nodiscard]] Result<void> run(const std::atomic<bool>& stop);

  // Thread-safe.
  ServerCounters counters() const;
  const ServerLimits& limits() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// collect() and metrics_text() as a Render: the scrape errors summed over
// renders; 500 with the error's message when the pins cannot be listed.
MetricsServer::Render exposition_renderer();

}  // namespace xdpguard::telemetry
