// The capabilities the service keeps once it is set up (`xdpguard run`):
//   CAP_BPF, CAP_PERFMON   load rule sets and sets (maps, programs, verifier)
//   CAP_NET_ADMIN          attach to interfaces the file adds (XDP), detach
//   CAP_SYS_ADMIN          the kernel asks it for BPF_*_GET_FD_BY_ID (the
//                          classifier in force, set member maps) and to mount
//                          bpffs where it is missing
// Every other one leaves the effective, permitted, inheritable and bounding
// sets, ambient ones are cleared, and no_new_privs is set: what the process
// or anything it runs can ever do again is only the above. The systemd unit
// (packaging/xdpguard.service) grants the same set and nothing more.
#pragma once

#include <array>

#include <linux/capability.h>

#include "core/result.h"

namespace xdpguard::service {

inline constexpr std::array<int, 4> kKeptCapabilities = {CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN};

[[nodiscard]] Result<void> drop_capabilities();
// Whether the calling thread has capability `cap` in its effective set.
bool has_capability(int cap);

}  // namespace xdpguard::service
