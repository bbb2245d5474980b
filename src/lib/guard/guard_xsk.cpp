// AF_XDP sockets in xg_xsks (guard.h, "AF_XDP"; abi.h), and the records
// of them that `status` reads.
#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string_view>

#include <fmt/format.h>

#include "core/number.h"
#include "guard/guard.h"

namespace xdpguard {

namespace {

std::string record_prefix(std::uint64_t netns_id, int ifindex) {
  return fmt::format("ns{}-{}-q", netns_id, ifindex);
}
constexpr std::string_view kRecordSuffix = ".xsk";

}  // namespace

Result<void> Guard::write_xsk_record(std::uint64_t netns_id, int ifindex, const XskRecord& r,
                                     const std::string& dir) {
  auto d = XG_TRY(open_runtime_dir(dir));
  const std::string name = fmt::format("{}{}{}", record_prefix(netns_id, ifindex), r.queue, kRecordSuffix);
  const std::string tmp = name + ".new", text = fmt::format("{}\n", r.inode);
  UniqueFd fd(::openat(d.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return fail_errno(errno, fmt::format("create {}/{}", dir, tmp));
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return fail_errno(errno, fmt::format("write {}/{}", dir, tmp));
  if (::renameat(d.get(), tmp.c_str(), d.get(), name.c_str()) != 0)
    return fail_errno(errno, fmt::format("rename {}/{}", dir, tmp));
  return {};
}

void Guard::remove_xsk_record(std::uint64_t netns_id, int ifindex, std::uint32_t queue,
                              const std::string& dir) {
  auto d = open_runtime_dir(dir);
  if (!d) return;
  const std::string name = fmt::format("{}{}{}", record_prefix(netns_id, ifindex), queue, kRecordSuffix);
  (void)::unlinkat(d->get(), name.c_str(), 0);
}

Result<std::vector<Guard::XskRecord>> Guard::xsk_records(std::uint64_t netns_id, int ifindex,
                                                         const std::string& dir) {
  auto d = XG_TRY(open_runtime_dir(dir));
  // The listing is read through a copy of the checked directory's fd.
  const int copy = ::fcntl(d.get(), F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return fail_errno(errno, fmt::format("list {}", dir));
  std::unique_ptr<DIR, int (*)(DIR*)> list(::fdopendir(copy), ::closedir);
  if (!list) {
    ::close(copy);
    return fail_errno(errno, fmt::format("list {}", dir));
  }
  const std::string prefix = record_prefix(netns_id, ifindex);
  std::vector<XskRecord> out;
  while (const dirent* e = ::readdir(list.get())) {
    std::string_view name(e->d_name);
    if (!name.starts_with(prefix) || !name.ends_with(kRecordSuffix)) continue;
    auto queue = parse_whole(name.substr(prefix.size(), name.size() - prefix.size() - kRecordSuffix.size()),
                             "a queue", 0, XDPGUARD_XSK_QUEUES - 1);
    if (!queue) continue;
    UniqueFd fd(::openat(d.get(), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) continue;  // removed meanwhile
    char buf[32];
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    std::string_view text(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    if (text.ends_with('\n')) text.remove_suffix(1);
    auto inode = parse_whole(text, "an inode", 1, UINT64_MAX);
    if (!inode) {
      spdlog::warn("{}/{}: not an AF_XDP socket record (an inode number); ignored", dir, name);
      continue;
    }
    out.push_back({static_cast<std::uint32_t>(*queue), *inode});
  }
  std::sort(out.begin(), out.end(), [](const XskRecord& a, const XskRecord& b) { return a.queue < b.queue; });
  return out;
}

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
  // For `status` only: the socket serves traffic whether or not it is written.
  struct stat st{};
  if (::fstat(xsk_fd, &st) != 0) return {};
  if (auto r = write_xsk_record(netns_id_, ifindex_, {queue, st.st_ino}); !r)
    spdlog::warn("`status` will not show the AF_XDP socket of queue {} of {}: {}", queue, ifname_,
                 r.error().message());
  return {};
}

Result<void> Guard::remove_xsk(std::uint32_t queue) {
  if (queue >= XDPGUARD_XSK_QUEUES) return {};
  auto lk = XG_TRY(lock());
  if (bpf_map_delete_elem(xsks_.fd(), &queue) != 0 && errno != ENOENT)
    return fail_errno(errno, fmt::format("take queue {} of {} out of {}", queue, ifname_, XDPGUARD_PIN_XSKS));
  remove_xsk_record(netns_id_, ifindex_, queue);
  return {};
}

}  // namespace xdpguard
