#include "service/caps.h"

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

namespace xdpguard::service {
namespace {

bool kept(int cap) {
  return std::find(kKeptCapabilities.begin(), kKeptCapabilities.end(), cap) != kKeptCapabilities.end();
}

}  // namespace

Result<void> drop_capabilities() {
  // Bounding set first (needs CAP_SETPCAP, which goes with it last).
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap)
    if (!kept(cap) && cap != CAP_SETPCAP && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      return fail_errno(errno, fmt::format("drop capability {} from the bounding set", cap));
  if (::prctl(PR_CAPBSET_DROP, CAP_SETPCAP, 0, 0, 0) != 0 && errno != EINVAL)
    return fail_errno(errno, "drop CAP_SETPCAP from the bounding set");
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return fail_errno(errno, "clear ambient capabilities");
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  for (int cap : kKeptCapabilities) {
    data[cap / 32].effective |= 1u << (cap % 32);
    data[cap / 32].permitted |= 1u << (cap % 32);
  }
  if (::syscall(SYS_capset, &hdr, data) != 0) return fail_errno(errno, "capset");
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail_errno(errno, "no_new_privs");
  return {};
}

bool has_capability(int cap) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0) return false;
  return (data[cap / 32].effective >> (cap % 32)) & 1u;
}

}  // namespace xdpguard::service
