#include "common/lab_xdp.h"

#include <bpf/libbpf.h>
#include <linux/if_link.h>

namespace xdpguard::bench {

Result<void> on_host(const LabHost& h, const std::function<Result<void>(const Interface&)>& fn) {
  Result<void> r;
  auto ns = run_in_netns(h.netns, [&] {
    auto iface = find_interface(h.veth);
    r = iface ? fn(*iface) : Result<void>(tl::unexpected(iface.error()));
  });
  if (!ns) return ns;
  return r;
}

Result<void> attach_xdp(const LabHost& h, int fd) {
  return on_host(h, [fd](const Interface& i) -> Result<void> {
    LIBBPF_OPTS(bpf_xdp_attach_opts, o);
    if (int e = bpf_xdp_attach(i.ifindex, fd, XDP_FLAGS_DRV_MODE, &o)) return fail_errno(e, "attach");
    return {};
  });
}

Result<void> detach_xdp(const LabHost& h) {
  return on_host(h, [](const Interface& i) -> Result<void> {
    bpf_xdp_detach(i.ifindex, XDP_FLAGS_DRV_MODE, nullptr);
    return {};
  });
}

}  // namespace xdpguard::bench
