#include "bpf/map.h"

#include <fcntl.h>
#include <unistd.h>

namespace xdpguard {

int possible_cpus() {
  static const int n = libbpf_num_possible_cpus();
  return n > 0 ? n : 1;
}

Result<MapFd> MapFd::adopt(int fd) {
  if (fd < 0) return fail(EBADF, "invalid map fd");
  MapFd m;
  m.fd_.reset(fd);
  __u32 len = sizeof(m.info_);
  if (bpf_obj_get_info_by_fd(fd, &m.info_, &len) != 0) return fail_errno(errno, "map info");
  return m;
}

Result<MapFd> MapFd::from_libbpf(const bpf_map* map) {
  int fd = bpf_map__fd(map);
  if (fd < 0) return fail(EBADF, "map {} is not loaded", bpf_map__name(map));
  int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return fail_errno(errno, "dup map fd");
  return adopt(dup);
}

Result<MapFd> MapFd::open_pinned(const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return fail_errno(errno, "open pinned map " + path);
  return adopt(fd);
}

bool MapFd::per_cpu() const {
  switch (info_.type) {
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH: return true;
    default: return false;
  }
}

Result<void> MapFd::expect_sizes(std::size_t key, std::size_t value) const {
  if (info_.key_size != key || info_.value_size != value)
    return fail(EPROTO,
                "map {} has key/value size {}/{}, expected {}/{} (state from another xdpguard "
                "version? detach and attach again)",
                info_.name, info_.key_size, info_.value_size, key, value);
  return {};
}

}  // namespace xdpguard
