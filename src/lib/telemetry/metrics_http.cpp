// The HTTP side of `metrics` (cpp-httplib), apart from the rest: httplib.h
// is a large header.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "core/unique_fd.h"
#include "telemetry/metrics.h"

namespace xdpguard::telemetry {
namespace {

// httplib's bind says only that it failed; a bind of our own first says why
// (the address is in use, not ours, ...). Numeric addresses only.
Result<void> probe_bind(const ListenAddress& a) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  if (auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
      inet_pton(AF_INET, a.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(a.port));
    len = sizeof *v4;
  } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
             inet_pton(AF_INET6, a.host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(a.port));
    len = sizeof *v6;
  } else {
    return fail(EINVAL, "listen on {}:{}: not a numeric IP address", a.host, a.port);
  }
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail_errno(errno, "socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as httplib does
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return fail(errno, "listen on {}:{}: {}", a.host, a.port, std::strerror(errno));
  if (::listen(fd.get(), 1) != 0)
    return fail(errno, "listen on {}:{}: {}", a.host, a.port, std::strerror(errno));
  return {};
}

}  // namespace

Result<void> serve_metrics(const ListenAddress& addr, const std::atomic<bool>& stop,
                           const std::function<void()>& ready) {
  XG_CHECK(probe_bind(addr));
  httplib::Server svr;
  std::mutex mu;  // scrapes one at a time: the error total, and the maps are read whole
  std::uint64_t errors_total = 0;
  svr.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(mu);
    auto snap = collect();
    if (!snap) {
      res.status = 500;
      res.set_content(snap.error().message() + "\n", "text/plain");
      return;
    }
    errors_total += snap->scrape_errors;
    res.set_content(metrics_text(*snap, errors_total), "text/plain; version=0.0.4; charset=utf-8");
  });
  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("<html><body><a href=\"/metrics\">xdpguard metrics</a></body></html>\n", "text/html");
  });
  if (!svr.bind_to_port(addr.host.c_str(), addr.port))
    return fail(EADDRINUSE, "listen on {}:{}: cannot bind", addr.host, addr.port);
  if (ready) ready();
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!stop && !done) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // Again until listen has returned: a stop() before it started running does nothing.
    while (!done) {
      svr.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const bool ok = svr.listen_after_bind();
  done = true;
  watcher.join();
  if (!ok && !stop) return fail(EIO, "serving on {}:{} stopped", addr.host, addr.port);
  return {};
}

}  // namespace xdpguard::telemetry
