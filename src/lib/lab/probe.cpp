#include "lab/probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cerrno>
#include <thread>

#include "bpf/system.h"

namespace xdpguard {

Result<UdpFlow> UdpFlow::open(const Lab& lab, std::uint16_t port) {
  UdpFlow f;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, lab.server().ip4.c_str(), &a.sin_addr);
  int err = 0;
  XG_CHECK(run_in_netns(lab.server().netns, [&] {
    f.rx_ = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!f.rx_ || ::bind(f.rx_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) err = errno;
  }));
  if (err) return fail_errno(err, fmt::format("bind {}:{}", lab.server().ip4, port));
  XG_CHECK(run_in_netns(lab.client().netns, [&] {
    f.tx_ = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!f.tx_ || ::connect(f.tx_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) err = errno;
  }));
  if (err) return fail_errno(err, fmt::format("connect {}:{}", lab.server().ip4, port));
  return f;
}

void UdpFlow::send(std::uint32_t seq) { (void)::send(tx_.get(), &seq, sizeof seq, 0); }

std::vector<std::uint32_t> UdpFlow::drain() {
  std::vector<std::uint32_t> out;
  std::uint32_t seq = 0;
  while (::recv(rx_.get(), &seq, sizeof seq, 0) == static_cast<ssize_t>(sizeof seq)) out.push_back(seq);
  return out;
}

std::vector<std::optional<double>> time_to_change(std::vector<UdpFlow>& flows,
                                                  std::chrono::steady_clock::time_point t0, bool to_drop,
                                                  std::chrono::milliseconds limit,
                                                  std::chrono::microseconds period,
                                                  std::chrono::milliseconds settle) {
  using Clock = std::chrono::steady_clock;
  const std::size_t n = flows.size();
  std::vector<Clock::time_point> sent;
  // Per flow: the newest and the first sequence number received (kNone: none).
  constexpr std::uint32_t kNone = UINT32_MAX;
  std::vector<std::uint32_t> last(n, kNone), first(n, kNone);
  // Each call numbers its datagrams from a base of its own: late ones of an
  // earlier call are not taken for this call's.
  static std::atomic<std::uint32_t> calls{0};
  const std::uint32_t base = (++calls % 4096) << 20;
  for (auto& f : flows) f.drain();
  std::uint32_t seq = 0;
  const auto margin = std::chrono::milliseconds(20);  // for the newest datagrams to arrive
  for (;;) {
    sent.push_back(Clock::now());
    for (auto& f : flows) f.send(base + seq);
    ++seq;
    std::this_thread::sleep_for(period);
    for (std::size_t i = 0; i < n; ++i)
      for (auto got : flows[i].drain()) {
        const std::uint32_t s = got - base;
        if (s >= sent.size()) continue;  // not one of this call's
        last[i] = last[i] == kNone ? s : std::max(last[i], s);
        if (first[i] == kNone) first[i] = s;
      }
    bool done = true;
    for (std::size_t i = 0; i < n; ++i) {
      if (to_drop) {
        // None through at all: lost since the first datagram.
        const auto since = last[i] != kNone ? sent[last[i]] : sent.front();
        done = done && Clock::now() - since > settle + margin;
      } else {
        done = done && first[i] != kNone;
      }
    }
    if (done || Clock::now() - t0 > limit) break;
  }
  std::vector<std::optional<double>> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    Clock::time_point at{};
    bool found = false;
    if (to_drop) {
      if (last[i] == kNone) {
        at = sent.front();
        found = true;
      } else if (last[i] + 1 < sent.size()) {
        at = sent[last[i] + 1];
        found = true;
      }
      if (found && Clock::now() - at < settle) found = false;  // not settled
    } else if (first[i] != kNone) {
      at = sent[first[i]];
      found = true;
    }
    if (found) out[i] = std::chrono::duration<double>(at - t0).count();
  }
  return out;
}

}  // namespace xdpguard
