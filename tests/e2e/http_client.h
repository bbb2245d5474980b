// A small HTTP/1.1 client over raw sockets, for the metrics tests: every
// wait has a deadline, nothing is retried, what the server sent is returned
// as it came (status, head, body). Sockets are made in a lab namespace by the
// thread that calls NetnsThread::enter() (setns on this thread only).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>

#include "core/unique_fd.h"
#include "e2e_support.h"

namespace xdpguard::test {

using SteadyClock = std::chrono::steady_clock;

// Moves the calling thread into network namespace `name` (for its sockets).
inline bool enter_netns(const std::string& name) {
  UniqueFd ns(::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
  return ns && ::setns(ns.get(), CLONE_NEWNET) == 0;
}

// A blocking TCP connection to 127.0.0.1:port (of the caller's namespace);
// an invalid fd if it cannot connect.
inline UniqueFd connect_local(int port, int family = AF_INET) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  int rc;
  if (family == AF_INET6) {
    auto a = sockaddr6("::1", static_cast<std::uint16_t>(port));
    rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    auto a = sockaddr4("127.0.0.1", static_cast<std::uint16_t>(port));
    rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0) fd.reset();
  return fd;
}

inline bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// recv() with a deadline: bytes read, 0 at EOF, -1 on error or timeout.
inline ssize_t recv_until(int fd, char* buf, std::size_t len, SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  if (left <= 0) return -1;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left)) <= 0) return -1;
  return ::recv(fd, buf, len, 0);
}

struct HttpReply {
  int status = 0;
  std::string head;  // status line and headers, up to the blank line
  std::string body;
  bool complete = false;  // the whole body (Content-Length) arrived

  std::string header(std::string name) const {
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t pos = 0;
    while ((pos = head.find("\r\n", pos)) != std::string::npos) {
      pos += 2;
      auto colon = head.find(':', pos);
      auto eol = head.find("\r\n", pos);
      if (colon == std::string::npos || (eol != std::string::npos && colon > eol)) continue;
      std::string n = head.substr(pos, colon - pos);
      for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (n != name) continue;
      auto v = head.substr(colon + 1, (eol == std::string::npos ? head.size() : eol) - colon - 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      return v;
    }
    return "";
  }
};

// Reads one response from fd (framed by Content-Length; `head_only` for a
// HEAD request). `pending`: bytes already received past the previous response
// (pipelining), updated with what follows this one.
inline std::optional<HttpReply> read_reply(int fd, SteadyClock::time_point deadline, bool head_only = false,
                                           std::string* pending = nullptr) {
  std::string in = pending ? std::move(*pending) : std::string();
  char buf[65536];
  HttpReply r;
  std::size_t end;
  while ((end = in.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = recv_until(fd, buf, sizeof buf, deadline);
    if (n <= 0) return std::nullopt;
    in.append(buf, static_cast<std::size_t>(n));
  }
  r.head = in.substr(0, end);
  in.erase(0, end + 4);
  if (r.head.rfind("HTTP/1.", 0) != 0 || r.head.size() < 12) return std::nullopt;
  r.status = static_cast<int>(std::strtol(r.head.c_str() + 9, nullptr, 10));
  std::size_t want =
      head_only ? 0
                : static_cast<std::size_t>(std::strtoull(r.header("Content-Length").c_str(), nullptr, 10));
  while (in.size() < want) {
    ssize_t n = recv_until(fd, buf, sizeof buf, deadline);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  r.complete = in.size() >= want;
  r.body = in.substr(0, std::min(want, in.size()));
  if (pending) *pending = in.substr(std::min(want, in.size()));
  return r;
}

// One request on a new connection to 127.0.0.1:port; nullopt if no complete
// response came within `timeout`.
inline std::optional<HttpReply> http_once(int port, const std::string& request,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
  const auto deadline = SteadyClock::now() + timeout;
  UniqueFd fd = connect_local(port);
  if (!fd || !send_all(fd.get(), request)) return std::nullopt;
  auto r = read_reply(fd.get(), deadline, request.rfind("HEAD ", 0) == 0);
  if (!r || !r->complete) return std::nullopt;
  return r;
}

inline std::string get_request(const std::string& path = "/metrics", bool close = true) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: xdpguard-test\r\n" +
         (close ? "Connection: close\r\n" : "") + "\r\n";
}

// Whether the server has closed fd (EOF or reset, after any bytes it sent
// last), without waiting.
inline bool closed_by_peer(int fd) {
  char buf[4096];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  }
}

// VmRSS of a process in KiB (0 if unknown).
inline long vm_rss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string l; std::getline(f, l);)
    if (l.rfind("VmRSS:", 0) == 0) return std::strtol(l.c_str() + 6, nullptr, 10);
  return 0;
}

// Open descriptors of a process.
inline int open_fds(pid_t pid) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

}  // namespace xdpguard::test
