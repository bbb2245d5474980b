// A TAP device that hands frames back to the kernel's stack (`xdpguard xsk
// --reinject`): frames a consumer took out of the receive path with
// `redirect xsk` go on to the host's sockets as if the interface had
// delivered them. The TAP gets the interface's MAC address, so that frames
// addressed to the interface are for it; the host's routes (the weak host
// model) deliver them to local sockets, and replies leave through the
// routing table as usual. The device goes away with the fd.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "core/result.h"
#include "core/unique_fd.h"

namespace xdpguard::consumer {

class Tap {
 public:
  // Creates TAP `name` (up, MAC `mac`) in the calling thread's namespace.
  [[nodiscard]] static Result<Tap> create(const std::string& name, const std::array<std::uint8_t, 6>& mac);
  // Writes one frame; false if the kernel refused it (counted by the caller).
  bool write(std::span<const std::uint8_t> frame) const;
  const std::string& name() const { return name_; }

 private:
  UniqueFd fd_;
  std::string name_;
};

}  // namespace xdpguard::consumer
