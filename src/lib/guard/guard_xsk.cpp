// AF_XDP sockets in xg_xsks (guard.h, "AF_XDP"; abi.h).
#include <bpf/bpf.h>
#include <fmt/format.h>

#include "guard/guard.h"

namespace xdpguard {

Result<void> Guard::add_xsk(std::uint32_t queue, int xsk_fd) {
  if (queue >= XDPGUARD_XSK_QUEUES)
    return fail(ERANGE, "queue {} of {}: xdpguard serves AF_XDP sockets on queues 0-{}", queue, ifname_,
                XDPGUARD_XSK_QUEUES - 1);
  auto lk = XG_TRY(lock());
  // BPF_NOEXIST: the kernel refuses a second socket for the queue (EEXIST).
  if (bpf_map_update_elem(xsks_.fd(), &queue, &xsk_fd, BPF_NOEXIST) != 0) {
    if (errno == EEXIST)
      return fail(EEXIST, "queue {} of {} already has an AF_XDP consumer (it keeps the queue)", queue,
                  ifname_);
    return fail_errno(errno, fmt::format("put the AF_XDP socket of queue {} of {} in {}", queue, ifname_,
                                         XDPGUARD_PIN_XSKS));
  }
  return {};
}

Result<void> Guard::remove_xsk(std::uint32_t queue) {
  if (queue >= XDPGUARD_XSK_QUEUES) return {};
  auto lk = XG_TRY(lock());
  if (bpf_map_delete_elem(xsks_.fd(), &queue) != 0 && errno != ENOENT)
    return fail_errno(errno, fmt::format("take queue {} of {} out of {}", queue, ifname_, XDPGUARD_PIN_XSKS));
  return {};
}

}  // namespace xdpguard
