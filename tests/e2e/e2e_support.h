// Helpers for e2e tests: run the real xdpguard binary, real traffic between
// the namespaces of a Lab (tests never send anywhere else).
#pragma once

#include <arpa/inet.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <functional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "core/process.h"
#include "core/unique_fd.h"
#include "lab/lab.h"
#include "support/privileged.h"

namespace xdpguard::test {

struct CliRun {
  int code = -1;
  std::string out, err;
};

// `bin args...` under `prefix` (a program and its arguments, e.g. env).
inline CliRun run_cli(const char* bin, std::vector<std::string> args, std::vector<std::string> prefix = {}) {
  std::vector<std::string> argv = std::move(prefix);
  argv.emplace_back(bin);
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_process(argv, std::chrono::seconds(60));
  if (!r) return {-1, "", r.error().message()};
  return {r->exit_code, r->out, r->err};
}

inline CliRun xdpguard_cli(std::vector<std::string> args, std::vector<std::string> prefix = {}) {
  return run_cli(XDPGUARD_BIN, std::move(args), std::move(prefix));
}

// The test build's xdpguard with fault points (tests/fault, src/lib/core/
// fault.h): XDPGUARD_FAULT=<step> kills it there, XDPGUARD_STOP=<step> stops
// it. The product binary ignores both.
inline CliRun xdpguard_faults_cli(std::vector<std::string> args, std::vector<std::string> prefix = {}) {
  return run_cli(XDPGUARD_FAULT_BIN, std::move(args), std::move(prefix));
}

// `xdpguard -n <server ns> ...`
inline CliRun xg_srv(const Lab& lab, std::vector<std::string> args) {
  args.insert(args.begin(), {"-n", lab.server().netns});
  return xdpguard_cli(args);
}

// A fresh lab per test; xdpguard is detached from the server's veth (pins
// removed) after the test, whatever the test attached.
class LabTest : public ::testing::Test {
 protected:
  // The lab this fixture creates (a suite's own name prefix, IPv6 or not).
  virtual LabOptions lab_options() const { return {}; }
  void SetUp() override {
    XG_REQUIRE_PRIVILEGES();
    auto l = Lab::create(lab_options());
    ASSERT_TRUE(l) << l.error().message();
    lab_.emplace(std::move(*l));
  }
  void TearDown() override {
    if (lab_) (void)xg_srv(*lab_, {"detach", lab_->server().veth});
  }
  std::optional<Lab> lab_;
};

// The same with xdpguard attached (native, default pass) before the test.
class GuardedLabTest : public LabTest {
 protected:
  void SetUp() override {
    LabTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto att = xg_srv(*lab_, {"attach", lab_->server().veth});
    ASSERT_EQ(att.code, 0) << att.err;
  }
};

inline nlohmann::json stats_json(const Lab& lab) {
  auto r = xg_srv(lab, {"stats", lab.server().veth, "--json"});
  EXPECT_EQ(r.code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

inline std::uint64_t total_packets(const nlohmann::json& stats) {
  std::uint64_t n = 0;
  for (auto& [k, v] : stats["actions"].items()) n += v["packets"].get<std::uint64_t>();
  return n;
}
inline std::uint64_t total_bytes(const nlohmann::json& stats) {
  std::uint64_t n = 0;
  for (auto& [k, v] : stats["actions"].items()) n += v["bytes"].get<std::uint64_t>();
  return n;
}

inline sockaddr_in sockaddr4(const std::string& ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

// UDP datagrams from the client to two ports of the server while a test
// changes the firewall under them: one port that every state of the test
// drops, one that every state passes; 4 to each a millisecond, bounded in
// datagrams and seconds, counted where they were sent and where they
// arrived (sockets, not xdpguard's counters).
class TwoPortTraffic {
 public:
  TwoPortTraffic(const Lab& lab, std::uint16_t dropped, std::uint16_t passed) {
    auto bound = [&](std::uint16_t port) {
      UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      int big = 64 << 20;
      (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
      auto a = sockaddr4(lab.server().ip4, port);
      if (fd && ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fd.reset();
      return fd;
    };
    EXPECT_TRUE(run_in_netns(lab.server().netns, [&] {
      rx_drop_ = bound(dropped);
      rx_pass_ = bound(passed);
    }));
    EXPECT_TRUE(run_in_netns(lab.client().netns,
                             [&] { tx_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)); }));
    if (!rx_drop_ || !rx_pass_ || !tx_) {
      ADD_FAILURE() << "traffic sockets: " << std::strerror(errno);
      return;
    }
    const auto to_drop = sockaddr4(lab.server().ip4, dropped), to_pass = sockaddr4(lab.server().ip4, passed);
    sender_ = std::thread([this, to_drop, to_pass] {
      // Changes on a loaded 2-core machine can take minutes: 500 s at most.
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(500);
      while (!stop_ && sent_drop < 2'000'000 && std::chrono::steady_clock::now() < until) {
        for (int i = 0; i < 4; ++i) {
          if (::sendto(tx_.get(), "x", 1, 0, reinterpret_cast<const sockaddr*>(&to_drop), sizeof to_drop) ==
              1)
            ++sent_drop;
          if (::sendto(tx_.get(), "x", 1, 0, reinterpret_cast<const sockaddr*>(&to_pass), sizeof to_pass) ==
              1)
            ++sent_pass;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    reader_ = std::thread([this] {
      char buf[16];
      pollfd pf[2] = {{rx_drop_.get(), POLLIN, 0}, {rx_pass_.get(), POLLIN, 0}};
      while (!quiet_ || ::poll(pf, 2, 0) > 0) {
        (void)::poll(pf, 2, 20);
        while (::recv(rx_drop_.get(), buf, sizeof buf, 0) > 0) ++got_drop;
        while (::recv(rx_pass_.get(), buf, sizeof buf, 0) > 0) ++got_pass;
      }
    });
  }
  TwoPortTraffic(const TwoPortTraffic&) = delete;
  TwoPortTraffic& operator=(const TwoPortTraffic&) = delete;
  ~TwoPortTraffic() { stop(); }
  // Stops sending; once the link is quiet (every datagram sent has arrived
  // or been dropped), stops reading.
  void stop() {
    stop_ = true;
    if (sender_.joinable()) sender_.join();
    if (!reader_.joinable()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    quiet_ = true;
    reader_.join();
  }
  std::atomic<std::uint64_t> sent_drop{0}, sent_pass{0}, got_drop{0}, got_pass{0};

 private:
  UniqueFd rx_drop_, rx_pass_, tx_;
  std::atomic<bool> stop_{false}, quiet_{false};
  std::thread sender_, reader_;
};

// A TCP server in the lab's server namespace that echoes one connection.
class EchoServer {
 public:
  EchoServer(const Lab& lab, std::uint16_t port) {
    EXPECT_TRUE(run_in_netns(lab.server().netns, [&] {
      fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      int one = 1;
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      auto a = sockaddr4(lab.server().ip4, port);
      if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) ::listen(fd_.get(), 64);
    }));
    thread_ = std::thread([this] {
      while (true) {
        UniqueFd c(::accept(fd_.get(), nullptr, nullptr));
        if (!c) return;
        char buf[4096];
        ssize_t n;
        while ((n = ::recv(c.get(), buf, sizeof buf, 0)) > 0)
          ::send(c.get(), buf, static_cast<size_t>(n), MSG_NOSIGNAL);
      }
    });
  }
  ~EchoServer() {
    ::shutdown(fd_.get(), SHUT_RDWR);
    thread_.join();
  }

 private:
  UniqueFd fd_;
  std::thread thread_;
};

// From the client namespace: connect, send `bytes`, read them back, close.
// Returns the bytes echoed (== bytes on success).
inline std::size_t tcp_echo(const Lab& lab, std::uint16_t port, std::size_t bytes) {
  std::size_t got = 0;
  EXPECT_TRUE(run_in_netns(lab.client().netns, [&] {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    timeval tv{3, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    auto a = sockaddr4(lab.server().ip4, port);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    std::string msg(bytes, 'x');
    if (::send(fd.get(), msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes)) return;
    char buf[4096];
    while (got < bytes) {
      ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
  }));
  return got;
}

// From the client namespace: n blocking connect()s to ip:port. A closed port
// answers each SYN with a RST, so exactly n SYNs cross the wire. Returns how
// many were refused.
inline int tcp_connect_attempts(const Lab& lab, std::uint16_t port, int n) {
  int refused = 0;
  EXPECT_TRUE(run_in_netns(lab.client().netns, [&] {
    for (int i = 0; i < n; ++i) {
      UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      auto a = sockaddr4(lab.server().ip4, port);
      if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno == ECONNREFUSED)
        ++refused;
    }
  }));
  return refused;
}

// Polls `cond` every 10 ms until it holds or `timeout` has passed; returns
// whether it held. Tests wait for what they expect, not for a fixed time.
// The default is generous: it costs nothing when `cond` comes true, and a
// loaded 2-core CI machine can take seconds for what takes milliseconds here.
inline bool wait_until(const std::function<bool()>& cond,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

inline sockaddr_in6 sockaddr6(const std::string& ip, std::uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, ip.c_str(), &a.sin6_addr);
  return a;
}

// UDP datagrams from the client to server:port (IPv4, or IPv6 if v6); how
// many the server received. A last datagram to the sentinel port goes the
// same way from the same socket: once it is in, every earlier one has been
// delivered or dropped. (If the rules drop the sentinel too, the count is
// read after `quiet`.) `sending`, if given, gets how long the n datagrams
// took to send: what a token bucket may have refilled meanwhile.
inline int udp_delivered(const Lab& lab, std::uint16_t port, int n, bool v6 = false,
                         std::uint16_t sentinel = 9,
                         std::chrono::milliseconds quiet = std::chrono::seconds(1),
                         std::chrono::steady_clock::duration* sending = nullptr) {
  const int af = v6 ? AF_INET6 : AF_INET;
  auto bound = [&](std::uint16_t p) {
    UniqueFd fd(::socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      ADD_FAILURE() << "socket: " << std::strerror(errno);
      return fd;
    }
    int rc;
    if (v6) {
      auto a = sockaddr6(lab.server().ip6, p);
      rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      auto a = sockaddr4(lab.server().ip4, p);
      rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    EXPECT_EQ(rc, 0) << "bind port " << p << ": " << std::strerror(errno);
    return fd;
  };
  UniqueFd rx, last;
  EXPECT_TRUE(run_in_netns(lab.server().netns, [&] {
    rx = bound(port);
    last = bound(sentinel);
  }));
  EXPECT_TRUE(run_in_netns(lab.client().netns, [&] {
    UniqueFd tx(::socket(af, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    auto send = [&](std::uint16_t p) {
      if (v6) {
        auto a = sockaddr6(lab.server().ip6, p);
        ::sendto(tx.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
      } else {
        auto a = sockaddr4(lab.server().ip4, p);
        ::sendto(tx.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
      }
    };
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) send(port);
    if (sending) *sending = std::chrono::steady_clock::now() - t0;
    send(sentinel);
  }));
  char buf[16];
  pollfd pf{last.get(), POLLIN, 0};
  (void)::poll(&pf, 1, static_cast<int>(quiet.count()));
  int got = 0;
  while (::recv(rx.get(), buf, sizeof buf, 0) > 0) ++got;
  return got;
}

// A whole file ("" if it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value of the sample `series` (name{labels} exactly as printed) in a
// Prometheus exposition; -1 if absent.
inline double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (l.rfind(series + " ", 0) == 0) return std::stod(l.substr(series.size() + 1));
  return -1;
}

inline std::string ip_link(const Lab& lab) {
  auto r = run_process({"ip", "-d", "-n", lab.server().netns, "link", "show", lab.server().veth});
  return r ? r->out : "";
}

// A UDP socket bound to ip:9000 in `netns` that counts each datagram by its
// payload and by its TTL (IPv4) or hop limit (IPv6): what a forwarder
// delivered, and with how many hops taken.
struct HopCountingSocket {
  UniqueFd fd;
  bool v6 = false;
  std::map<std::string, int> got;  // payload -> times received
  std::map<int, int> hops;         // TTL / hop limit -> datagrams

  HopCountingSocket(const std::string& netns, const std::string& ip, bool is_v6) : v6(is_v6) {
    EXPECT_TRUE(run_in_netns(netns, [&] {
      fd.reset(::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      int one = 1;
      if (v6) {
        ASSERT_EQ(::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one), 0);
        auto a = sockaddr6(ip, 9000);
        ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
      } else {
        ASSERT_EQ(::setsockopt(fd.get(), IPPROTO_IP, IP_RECVTTL, &one, sizeof one), 0);
        auto a = sockaddr4(ip, 9000);
        ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
      }
    }));
  }
  // Reads what is there; returns how many datagrams it has had in all.
  int drain() {
    char buf[64];
    alignas(cmsghdr) char ctl[64];
    iovec iov{buf, sizeof buf};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    ssize_t len;
    while (fd && (len = ::recvmsg(fd.get(), &m, 0)) > 0) {
      ++got[std::string(buf, static_cast<std::size_t>(len))];
      int hop = -1;
      for (cmsghdr* h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
        if ((h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_TTL) ||
            (h->cmsg_level == IPPROTO_IPV6 && h->cmsg_type == IPV6_HOPLIMIT))
          std::memcpy(&hop, CMSG_DATA(h), sizeof hop);
      ++hops[hop];
      m.msg_controllen = sizeof ctl;
    }
    int n = 0;
    for (const auto& [payload, times] : got) n += times;
    return n;
  }
};

}  // namespace xdpguard::test
