#include "lab/probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
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
                                                  std::chrono::milliseconds limit, std::chrono::microseconds period,
                                                  std::chrono::milliseconds settle) {
  using Clock = std::chrono::steady_clock;
  const std::size_t n = flows.size();
  std::vector<Clock::time_point> sent;
  std::vector<std::optional<std::uint32_t>> last(n), first(n);  // received seqs
  std::uint32_t seq = 0;
  const auto margin = std::chrono::milliseconds(20);  // for the newest datagrams to arrive
  for (;;) {
    sent.push_back(Clock::now());
    for (auto& f : flows) f.send(seq);
    ++seq;
    std::this_thread::sleep_for(period);
    for (std::size_t i = 0; i < n; ++i)
      for (auto s : flows[i].drain()) {
        last[i] = last[i] ? std::max(*last[i], s) : s;
        if (!first[i]) first[i] = s;
      }
    bool done = true;
    for (std::size_t i = 0; i < n; ++i) {
      if (to_drop) {
        const auto since = last[i] ? sent[*last[i]] : t0;  // none ever through: lost since t0
        done = done && Clock::now() - since > settle + margin;
      } else {
        done = done && first[i].has_value();
      }
    }
    if (done || Clock::now() - t0 > limit) break;
  }
  std::vector<std::optional<double>> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::optional<Clock::time_point> at;
    if (to_drop) {
      if (!last[i])
        at = sent.front();
      else if (*last[i] + 1 < sent.size())
        at = sent[*last[i] + 1];
      if (at && Clock::now() - *at < settle) at.reset();  // not settled
    } else if (first[i]) {
      at = sent[*first[i]];
    }
    if (at) out[i] = std::chrono::duration<double>(*at - t0).count();
  }
  return out;
}

}  // namespace xdpguard
