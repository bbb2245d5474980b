#include "common/lab_xdp.h"

#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <sched.h>
#include <unistd.h>

#include "rules/parser.h"

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

Result<gen::Generator> lab_udp_generator(const Lab& lab, std::uint16_t dport, std::uint32_t size,
                                         const std::string& dst) {
  gen::Spec spec;
  auto client_ip = rules::parse_prefix(lab.client().ip4),
       server_ip = rules::parse_prefix(dst.empty() ? lab.server().ip4 : dst);
  if (!client_ip || !server_ip) return fail(EINVAL, "lab addresses do not parse");
  spec.src = *client_ip;
  spec.dst = server_ip->addr;
  spec.dport = dport;
  spec.size = size;
  spec.restore_headers = !dst.empty();  // forwarders rewrite MACs and TTL in place
  auto src_mac = gen::parse_mac(lab.client().mac), dst_mac = gen::parse_mac(lab.server().mac);
  if (!src_mac || !dst_mac) return fail(EINVAL, "lab MAC addresses do not parse");
  spec.src_mac = *src_mac;
  spec.dst_mac = *dst_mac;
  XG_CHECK(gen::check_lab_addresses(spec));
  return gen::Generator::open(XG_TRY(gen::build(spec)));
}

Result<gen::Progress> send_from_client(const Lab& lab, gen::Generator& g, const gen::Limits& limits) {
  gen::Progress sent;
  XG_CHECK(on_host(lab.client(), [&](const Interface& i) -> Result<void> {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)) - 1, &set);
    sched_setaffinity(0, sizeof set, &set);  // best effort: steadier figures
    sent = XG_TRY(g.run(i, limits));
    return {};
  }));
  return sent;
}

}  // namespace xdpguard::bench
