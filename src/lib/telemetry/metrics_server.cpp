#include "telemetry/metrics_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "telemetry/http_request.h"

namespace xdpguard::telemetry {
namespace {

using Steady = std::chrono::steady_clock;

// ---- listening --------------------------------------------------------------

std::string socket_address_text(const sockaddr* sa) {
  char ip[INET6_ADDRSTRLEN] = "";
  if (sa->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    ::inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    return fmt::format("[{}]:{}", ip, ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(sa);
  ::inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
  return fmt::format("{}:{}", ip, ntohs(a->sin_port));
}

bool is_loopback(const sockaddr* sa) {
  if (sa->sa_family == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr) >> 24) == 127;
  const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
}

bool numeric_host(const std::string& host) {
  in6_addr a6{};
  in_addr a4{};
  return ::inet_pton(AF_INET, host.c_str(), &a4) == 1 || ::inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

// ---- the date of a response -------------------------------------------------

// IMF-fixdate (RFC 9110 5.6.7), without the locale strftime would use.
std::string imf_date(std::time_t t) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} GMT", kDays.at(static_cast<std::size_t>(tm.tm_wday)),
                     tm.tm_mday, kMonths.at(static_cast<std::size_t>(tm.tm_mon)), tm.tm_year + 1900,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// ---- connections ------------------------------------------------------------

enum class State {
  Reading,   // waiting for (the rest of) a request head
  Waiting,   // a scrape parked until a render is done
  Writing,   // a response going out
  Draining,  // after the last response: our side shut, reading until the client closes
};

struct Conn {
  std::uint64_t id = 0;
  UniqueFd fd;
  State state = State::Reading;
  std::string in;                           // received, not yet parsed (<= max_head_bytes)
  std::string head;                         // the response head being written
  std::shared_ptr<const std::string> body;  // and its body (shared: a render's text)
  std::size_t sent = 0;                     // bytes of head + body written
  bool head_only = false;                   // the request being answered is a HEAD
  bool keep_alive = false;                  // after this response
  std::size_t requests = 0;
  std::size_t drained = 0;
  Steady::time_point since;     // entered this state (eviction order)
  Steady::time_point deadline;  // of this state
  Steady::time_point progress;  // last write that moved bytes
  std::uint32_t interest = 0;   // epoll events asked for
};

struct Rendered {
  int status = 200;
  std::string content_type;
  std::shared_ptr<const std::string> body;
  Steady::time_point at;  // when it was done
};

constexpr std::uint64_t kWakeId = 0;  // the eventfd; listeners are 1..n
constexpr std::uint64_t kFirstConnId = 1u << 20;
constexpr std::size_t kAcceptBatch = 32;  // accepts per listener per loop turn
constexpr std::size_t kMaxDrain = 64 * 1024;
constexpr std::chrono::milliseconds kTick{100};
constexpr std::chrono::milliseconds kAcceptPause{100};

const char* const kIndex =
    "<html><head><title>xdpguard</title></head><body><a href=\"/metrics\">xdpguard "
    "metrics</a></body></html>\n";

}  // namespace

// ---- descriptors ------------------------------------------------------------

Result<std::size_t> connection_limit(std::size_t wanted) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return fail_errno(errno, "getrlimit RLIMIT_NOFILE");
  const rlim_t need = wanted + kReservedFds;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : std::min<rlim_t>(need, rl.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need) return wanted;
  const std::size_t fit =
      rl.rlim_cur > kReservedFds ? static_cast<std::size_t>(rl.rlim_cur) - kReservedFds : 0;
  if (fit < kMinConnections)
    return fail(EMFILE,
                "RLIMIT_NOFILE is {}: serving needs at least {} descriptors ({} connections, {} for flood "
                "detection and the maps)",
                static_cast<unsigned long long>(rl.rlim_cur), kMinConnections + kReservedFds, kMinConnections,
                kReservedFds);
  return fit;
}

// ---- listeners --------------------------------------------------------------

Result<std::vector<Listener>> open_listeners(const ListenAddress& addr) {
  const bool wildcard = addr.host.empty();
  const bool numeric = !wildcard && numeric_host(addr.host);
  const std::string shown = addr.host.find(':') != std::string::npos
                                ? fmt::format("[{}]:{}", addr.host, addr.port)
                                : fmt::format("{}:{}", addr.host, addr.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : 0);
  addrinfo* res = nullptr;
  const std::string port = std::to_string(addr.port);
  if (int rc = ::getaddrinfo(wildcard ? nullptr : addr.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return fail(rc == EAI_SYSTEM ? errno : EINVAL, "listen on {}: cannot resolve {}: {}", shown, addr.host,
                rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> own(res, ::freeaddrinfo);

  std::vector<Listener> out;
  std::vector<std::string> skipped;
  for (const addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    const std::string where = socket_address_text(ai->ai_addr);
    if (std::any_of(out.begin(), out.end(), [&](const Listener& l) { return l.address == where; })) continue;
    // A name or the wildcard may stand for an address this namespace lacks
    // (IPv6 off, no ::1 on lo): left out. A numeric address must bind.
    auto absent = [&](int err) { return !numeric && (err == EAFNOSUPPORT || err == EADDRNOTAVAIL); };
    UniqueFd fd(::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      if (absent(errno)) {
        skipped.push_back(where + ": " + std::strerror(errno));
        continue;
      }
      return fail(errno, "listen on {}: {}", where, std::strerror(errno));
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (absent(errno)) {
        skipped.push_back(where + ": " + std::strerror(errno));
        continue;
      }
      return fail(errno, "listen on {}: {}", where, std::strerror(errno));
    }
    if (::listen(fd.get(), 1024) != 0) return fail(errno, "listen on {}: {}", where, std::strerror(errno));
    out.push_back(Listener{std::move(fd), where, is_loopback(ai->ai_addr)});
  }
  if (out.empty())
    return fail(EADDRNOTAVAIL, "listen on {}: no address to listen on{}{}", shown,
                skipped.empty() ? "" : ": ", fmt::join(skipped, ", "));
  for (const auto& s : skipped) spdlog::info("metrics: not listening on {}", s);
  return out;
}

// ---- the server -------------------------------------------------------------

struct MetricsServer::Impl {
  ServerLimits limits;
  std::vector<Listener> listeners;
  Render render;

  UniqueFd ep, wake;
  std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns;
  std::uint64_t next_id = kFirstConnId;
  bool accepting = true;
  bool accept_failing = false;  // the last accept ran out of descriptors or memory
  Steady::time_point accept_resume;
  std::time_t date_at = 0;
  std::string date;
  std::shared_ptr<const std::string> index_body = std::make_shared<const std::string>(kIndex);

  // The render thread and what it shares with the loop.
  std::mutex mu;
  std::condition_variable cv;
  bool want = false, rendering = false, quit = false;
  std::shared_ptr<const Rendered> latest;
  std::thread renderer;

  struct {
    std::atomic<std::uint64_t> accepted{0}, requests{0}, renders{0}, evicted{0}, refused{0}, timed_out{0};
  } n;

  // ---- rendering (its own thread) ----

  void render_loop() {
    std::unique_lock lock(mu);
    while (true) {
      cv.wait(lock, [&] { return want || quit; });
      if (quit) return;
      want = false;
      rendering = true;
      lock.unlock();
      Page page = render();
      auto r = std::make_shared<Rendered>();
      r->status = page.status;
      r->content_type = std::move(page.content_type);
      r->body = std::make_shared<const std::string>(std::move(page.body));
      r->at = Steady::now();
      lock.lock();
      latest = std::move(r);
      rendering = false;
      ++n.renders;
      const std::uint64_t one = 1;
      (void)!::write(wake.get(), &one, sizeof one);
    }
  }

  // The last render if it is fresh enough; else asks for one (unless one is
  // under way) and returns null.
  std::shared_ptr<const Rendered> fresh(Steady::time_point now) {
    std::lock_guard lock(mu);
    if (latest && now - latest->at < limits.refresh) return latest;
    if (!rendering && !want) {
      want = true;
      cv.notify_one();
    }
    return nullptr;
  }
  std::shared_ptr<const Rendered> last() {
    std::lock_guard lock(mu);
    return latest;
  }

  // ---- epoll ----

  void watch(Conn& c, std::uint32_t events) {
    if (c.interest == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = c.id;
    (void)::epoll_ctl(ep.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
    c.interest = events;
  }

  void close_conn(Conn& c) { conns.erase(c.id); }  // the fd closes, and leaves the epoll set

  const std::string& date_now() {
    const std::time_t t = std::time(nullptr);
    if (t != date_at) {
      date_at = t;
      date = imf_date(t);
    }
    return date;
  }

  // ---- responses ----

  // Starts a response; false if the connection was closed.
  bool respond(Conn& c, int status, std::string_view type, std::shared_ptr<const std::string> body, bool keep,
               Steady::time_point now) {
    c.head = http::response_head(status, type, body->size(), keep, date_now());
    c.body = c.head_only ? nullptr : std::move(body);
    c.sent = 0;
    c.keep_alive = keep;
    c.state = State::Writing;
    c.since = c.progress = now;
    c.deadline = now + limits.write_timeout;
    return flush(c, now);
  }

  bool respond_error(Conn& c, int status, const std::string& reason, Steady::time_point now) {
    return respond(c, status, "text/plain; charset=utf-8", std::make_shared<const std::string>(reason + "\n"),
                   false, now);
  }

  bool respond_rendered(Conn& c, const Rendered& r, Steady::time_point now) {
    return respond(c, r.status, r.content_type, r.body, c.keep_alive && r.status == 200, now);
  }

  // Writes what the socket takes; at the end, the next request or closing.
  bool flush(Conn& c, Steady::time_point now) {
    const std::size_t body_size = c.body ? c.body->size() : 0;
    const std::size_t total = c.head.size() + body_size;
    while (c.sent < total) {
      std::array<iovec, 2> iov{};
      int cnt = 0;
      if (c.sent < c.head.size()) {
        iov.at(cnt++) = {c.head.data() + c.sent, c.head.size() - c.sent};
        if (body_size) iov.at(cnt++) = {const_cast<char*>(c.body->data()), body_size};
      } else {
        const std::size_t off = c.sent - c.head.size();
        iov.at(cnt++) = {const_cast<char*>(c.body->data() + off), body_size - off};
      }
      msghdr msg{};
      msg.msg_iov = iov.data();
      msg.msg_iovlen = static_cast<std::size_t>(cnt);
      const ssize_t w = ::sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          watch(c, EPOLLOUT);
          return true;
        }
        close_conn(c);
        return false;
      }
      c.sent += static_cast<std::size_t>(w);
      c.progress = now;
    }
    c.head.clear();
    c.body.reset();
    if (c.keep_alive) {
      c.state = State::Reading;
      c.since = now;
      c.deadline = now + limits.request_timeout;
      watch(c, EPOLLIN);
      return true;
    }
    // Closing: our side first, then read until the client closes (at most
    // `linger`), so that what it still sends does not reset the connection
    // before it has read the response.
    ::shutdown(c.fd.get(), SHUT_WR);
    c.state = State::Draining;
    c.since = now;
    c.deadline = now + limits.linger;
    c.in.clear();
    watch(c, EPOLLIN);
    return true;
  }

  // ---- requests ----

  // Answers every complete request in the buffer, in order, while the
  // connection reads.
  void serve_buffered(Conn& c, Steady::time_point now) {
    while (c.state == State::Reading) {
      auto parsed = http::parse_request(c.in, {limits.max_head_bytes, limits.max_fields});
      if (std::holds_alternative<http::NeedMore>(parsed)) return;
      c.head_only = false;
      if (auto* e = std::get_if<http::HttpError>(&parsed)) {
        (void)respond_error(c, e->status, e->reason, now);
        return;
      }
      auto& req = std::get<http::HttpRequest>(parsed);
      c.in.erase(0, req.head_bytes);
      ++c.requests;
      ++n.requests;
      c.head_only = req.method == "HEAD";
      auto routed = http::route(req);
      if (auto* e = std::get_if<http::HttpError>(&routed)) {
        (void)respond_error(c, e->status, e->reason, now);
        return;
      }
      c.keep_alive = req.keep_alive && c.requests < limits.max_requests_per_connection;
      if (std::get<http::Route>(routed) == http::Route::Index) {
        if (!respond(c, 200, "text/html; charset=utf-8", index_body, c.keep_alive, now)) return;
        continue;
      }
      if (auto r = fresh(now)) {
        if (!respond_rendered(c, *r, now)) return;
        continue;
      }
      c.state = State::Waiting;
      c.since = now;
      c.deadline = now + limits.render_wait;
      watch(c, 0);  // errors and hang-ups are still reported
      return;
    }
  }

  void on_readable(Conn& c, Steady::time_point now) {
    std::array<char, 16384> buf{};
    if (c.state == State::Draining) {
      const ssize_t r = ::recv(c.fd.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
      c.drained += r > 0 ? static_cast<std::size_t>(r) : 0;
      if (r <= 0 || c.drained > kMaxDrain) close_conn(c);
      return;
    }
    const std::size_t room = limits.max_head_bytes > c.in.size() ? limits.max_head_bytes - c.in.size() : 0;
    if (room > 0) {
      const ssize_t r = ::recv(c.fd.get(), buf.data(), std::min(room, buf.size()), MSG_DONTWAIT);
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
      if (r <= 0) {  // closed (or reset) before a complete request
        close_conn(c);
        return;
      }
      const auto got = static_cast<std::size_t>(r);
      c.in.append(buf.data(), got);
      // The head can only have become complete (or wrong) with an end of
      // line, or at the limit: no parse per byte of a slow client.
      if (std::memchr(buf.data(), '\n', got) == nullptr && c.in.size() < limits.max_head_bytes &&
          c.in.size() > got)
        return;
    }
    serve_buffered(c, now);
  }

  // ---- accepting ----

  // Room for one more connection: closes the oldest one not being served
  // (reading a request, idle, closing, or a write stalled for `stalled`).
  bool make_room(Steady::time_point now) {
    if (conns.size() < limits.max_connections) return true;
    Conn* victim = nullptr;
    for (auto& [id, c] : conns) {
      const bool idle = c->state == State::Reading || c->state == State::Draining ||
                        (c->state == State::Writing && now - c->progress >= limits.stalled);
      if (idle && (!victim || c->since < victim->since)) victim = c.get();
    }
    if (!victim) return false;
    ++n.evicted;
    close_conn(*victim);
    return true;
  }

  void set_accepting(bool on) {
    if (accepting == on) return;
    accepting = on;
    for (std::size_t i = 0; i < listeners.size(); ++i) {
      epoll_event ev{};
      ev.events = on ? std::uint32_t{EPOLLIN} : 0u;
      ev.data.u64 = i + 1;
      (void)::epoll_ctl(ep.get(), EPOLL_CTL_MOD, listeners[i].fd.get(), &ev);
    }
  }

  void accept_from(const Listener& l, Steady::time_point now) {
    for (std::size_t k = 0; k < kAcceptBatch && accepting; ++k) {
      UniqueFd fd(::accept4(l.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors or memory: a pause, not a spin on a readable
          // listener; said once until an accept succeeds again.
          if (!accept_failing) spdlog::warn("metrics: accept on {}: {}", l.address, std::strerror(errno));
          accept_failing = true;
          set_accepting(false);
          accept_resume = now + kAcceptPause;
        }
        return;
      }
      ++n.accepted;
      accept_failing = false;
      if (!make_room(now)) {
        ++n.refused;
        continue;  // fd closes
      }
      auto c = std::make_unique<Conn>();
      c->id = next_id++;
      c->fd = std::move(fd);
      c->since = now;
      c->deadline = now + limits.request_timeout;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = c->id;
      if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, c->fd.get(), &ev) != 0) continue;
      c->interest = EPOLLIN;
      Conn& ref = *c;
      conns.emplace(ref.id, std::move(c));
      // The request is often there already: read it before more accepts can
      // push this connection out.
      on_readable(ref, now);
    }
  }

  // ---- the loop ----

  void deliver(Steady::time_point now) {
    std::uint64_t v = 0;
    while (::read(wake.get(), &v, sizeof v) > 0) {
    }
    auto r = last();
    if (!r) return;
    std::vector<std::uint64_t> waiting;
    for (auto& [id, c] : conns)
      if (c->state == State::Waiting) waiting.push_back(id);
    for (auto id : waiting) {
      auto it = conns.find(id);
      if (it == conns.end()) continue;
      Conn& c = *it->second;
      if (respond_rendered(c, *r, now) && c.state == State::Reading) serve_buffered(c, now);
    }
  }

  void expire(Steady::time_point now) {
    if (!accepting && now >= accept_resume) set_accepting(true);
    std::vector<std::uint64_t> due;
    for (auto& [id, c] : conns)
      if (now >= c->deadline) due.push_back(id);
    for (auto id : due) {
      auto it = conns.find(id);
      if (it == conns.end()) continue;
      Conn& c = *it->second;
      switch (c.state) {
        case State::Reading:
          ++n.timed_out;
          if (c.in.empty()) {
            close_conn(c);  // nothing sent: an idle connection, closed quietly
          } else {
            c.head_only = false;
            (void)respond_error(c, 408, "the request did not arrive in time", now);
          }
          break;
        case State::Waiting:
          if (auto r = last()) {
            if (respond_rendered(c, *r, now) && c.state == State::Reading) serve_buffered(c, now);
          } else {
            (void)respond(c, 503, "text/plain; charset=utf-8",
                          std::make_shared<const std::string>("the metrics are still being read\n"), false,
                          now);
          }
          break;
        case State::Writing:
          ++n.timed_out;
          close_conn(c);
          break;
        case State::Draining: close_conn(c); break;
      }
    }
  }

  int next_timeout(Steady::time_point now) const {
    auto t = kTick;
    for (const auto& [id, c] : conns)
      t = std::min(t, std::chrono::duration_cast<std::chrono::milliseconds>(c->deadline - now) +
                          std::chrono::milliseconds(1));
    return static_cast<int>(std::max<std::int64_t>(0, t.count()));
  }

  Result<void> loop(const std::atomic<bool>& stop) {
    std::array<epoll_event, 128> evs{};
    std::vector<std::size_t> ready;
    while (!stop) {
      const int k =
          ::epoll_wait(ep.get(), evs.data(), static_cast<int>(evs.size()), next_timeout(Steady::now()));
      if (k < 0) {
        if (errno == EINTR) continue;
        return fail_errno(errno, "epoll_wait");
      }
      const auto now = Steady::now();
      ready.clear();
      // Connections first, then new ones: a request that has arrived is
      // read before accepts can push its connection out.
      for (int i = 0; i < k; ++i) {
        const epoll_event& ev = evs.at(static_cast<std::size_t>(i));
        const std::uint64_t id = ev.data.u64;
        if (id == kWakeId) {
          deliver(now);
          continue;
        }
        if (id <= listeners.size()) {
          ready.push_back(static_cast<std::size_t>(id - 1));
          continue;
        }
        auto it = conns.find(id);
        if (it == conns.end()) continue;  // closed earlier in this turn
        Conn& c = *it->second;
        if (ev.events & (EPOLLERR | EPOLLHUP)) {
          close_conn(c);
          continue;
        }
        if ((ev.events & EPOLLOUT) && c.state == State::Writing) {
          if (flush(c, now) && c.state == State::Reading) serve_buffered(c, now);
        } else if ((ev.events & EPOLLIN) && (c.state == State::Reading || c.state == State::Draining)) {
          on_readable(c, now);
        }
      }
      for (std::size_t i : ready) accept_from(listeners[i], now);
      expire(Steady::now());
    }
    return {};
  }
};

MetricsServer::MetricsServer(std::vector<Listener> listeners, Render render, ServerLimits limits)
    : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  impl_->listeners = std::move(listeners);
  impl_->render = std::move(render);
}
MetricsServer::MetricsServer(MetricsServer&&) noexcept = default;
MetricsServer& MetricsServer::operator=(MetricsServer&&) noexcept = default;
MetricsServer::~MetricsServer() = default;

const ServerLimits& MetricsServer::limits() const { return impl_->limits; }

ServerCounters MetricsServer::counters() const {
  const auto& n = impl_->n;
  return {n.accepted, n.requests, n.renders, n.evicted, n.refused, n.timed_out};
}

Result<void> MetricsServer::run(const std::atomic<bool>& stop) {
  Impl& s = *impl_;
  s.ep.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!s.ep) return fail_errno(errno, "epoll_create1");
  s.wake.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!s.wake) return fail_errno(errno, "eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeId;
  if (::epoll_ctl(s.ep.get(), EPOLL_CTL_ADD, s.wake.get(), &ev) != 0) return fail_errno(errno, "epoll_ctl");
  for (std::size_t i = 0; i < s.listeners.size(); ++i) {
    ev.data.u64 = i + 1;
    if (::epoll_ctl(s.ep.get(), EPOLL_CTL_ADD, s.listeners[i].fd.get(), &ev) != 0)
      return fail_errno(errno, "epoll_ctl " + s.listeners[i].address);
  }
  {
    std::lock_guard lock(s.mu);
    s.quit = false;
  }
  s.renderer = std::thread([&s] { s.render_loop(); });
  auto r = s.loop(stop);
  {
    std::lock_guard lock(s.mu);
    s.quit = true;
  }
  s.cv.notify_one();
  s.renderer.join();
  s.conns.clear();
  return r;
}

MetricsServer::Render exposition_renderer() {
  auto errors_total = std::make_shared<std::uint64_t>(0);
  return [errors_total]() -> Page {
    auto snap = collect();
    if (!snap) return {500, "text/plain; charset=utf-8", snap.error().message() + "\n"};
    *errors_total += snap->scrape_errors;
    return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_text(*snap, *errors_total)};
  };
}

}  // namespace xdpguard::telemetry
