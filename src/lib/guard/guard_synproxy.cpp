// Guard's SYN proxy (docs/ddos.md). Not built yet: only the state of its
// reserved map (xg_synproxy), which reads "off".
#include <bpf/bpf.h>

#include "guard/guard.h"

namespace xdpguard {

Result<SynproxyStatus> Guard::synproxy_status() const {
  xdpguard_synproxy sp{};
  __u32 zero = 0;
  if (bpf_map_lookup_elem(ddos_maps_.synproxy.fd(), &zero, &sp) != 0)
    return fail_errno(errno, "read synproxy state");
  SynproxyStatus st;
  st.state = sp.state;
  for (unsigned i = 0; i < sp.nports && i < XDPGUARD_SYNPROXY_MAX_PORTS; ++i)
    st.config.ports.push_back(sp.ports[i]);
  st.config.mss4 = sp.mss4;
  st.config.mss6 = sp.mss6;
  st.config.wscale = sp.wscale;
  st.config.ttl = sp.ttl;
  return st;
}

}  // namespace xdpguard
