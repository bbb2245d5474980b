#include "support/privileged.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cstdlib>

#include "bpf/system.h"
#include "core/log.h"

namespace xdpguard::test {

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

std::optional<std::string> privileged_unavailable() {
  static const std::optional<std::string> why = []() -> std::optional<std::string> {
    log::init();
    if (::geteuid() != 0) return "needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN for netns)";
    if (auto r = require_privileges(); !r) return r.error().message();
    int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xg_probe", 4, 4, 1, nullptr);
    if (fd < 0) return std::string("BPF unavailable: bpf_map_create: ") + std::strerror(errno);
    ::close(fd);
    if (auto r = ensure_bpffs(); !r) return r.error().message();
    return std::nullopt;
  }();
  return why;
}

}  // namespace xdpguard::test
