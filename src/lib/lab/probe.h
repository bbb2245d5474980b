// UDP flows through labs, for measuring when a verdict changes (FlowSpec's
// announce-to-enforced time in the e2e tests and the bench): one flow per
// lab, client -> server:port, each datagram its sequence number, what the
// server's socket received.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"
#include "lab/lab.h"

namespace xdpguard {

class UdpFlow {
 public:
  // Sockets made in the lab's namespaces (IPv4).
  [[nodiscard]] static Result<UdpFlow> open(const Lab& lab, std::uint16_t port);
  void send(std::uint32_t seq);
  // The sequence numbers received since the last call.
  std::vector<std::uint32_t> drain();

 private:
  UniqueFd tx_, rx_;
};

// Sends on every flow every `period` from t0 on, and returns per flow the
// seconds from t0 to the change: with `to_drop`, the send time of the first
// datagram after which none got through (judged once every flow has lost
// `settle` of datagrams in a row); else the send time of the first one that
// got through. nullopt: no change within `limit`.
std::vector<std::optional<double>> time_to_change(
    std::vector<UdpFlow>& flows, std::chrono::steady_clock::time_point t0, bool to_drop,
    std::chrono::milliseconds limit, std::chrono::microseconds period = std::chrono::milliseconds(2),
    std::chrono::milliseconds settle = std::chrono::milliseconds(150));

}  // namespace xdpguard
