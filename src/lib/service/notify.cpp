#include "service/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

#include "core/unique_fd.h"

namespace xdpguard::service {

Result<void> notify(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return {};
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::size_t len = std::strlen(path);
  if (len >= sizeof a.sun_path || (path[0] != '/' && path[0] != '@'))
    return fail(EINVAL, "NOTIFY_SOCKET \"{}\": expected an absolute path or @abstract name", path);
  std::memcpy(a.sun_path, path, len);
  if (path[0] == '@') a.sun_path[0] = '\0';
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail_errno(errno, "notify socket");
  const auto alen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  if (::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&a), alen) < 0)
    return fail_errno(errno, fmt::format("notify {}", path));
  return {};
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  auto number = [](const char* s) -> std::optional<unsigned long long> {
    if (!s || !*s) return std::nullopt;
    unsigned long long v = 0;
    auto [end, ec] = std::from_chars(s, s + std::strlen(s), v);
    if (ec != std::errc() || *end) return std::nullopt;
    return v;
  };
  auto usec = number(std::getenv("WATCHDOG_USEC"));
  if (!usec || !*usec) return std::nullopt;
  if (auto pid = number(std::getenv("WATCHDOG_PID"));
      pid && *pid != static_cast<unsigned long long>(::getpid()))
    return std::nullopt;
  return std::chrono::microseconds(*usec);
}

}  // namespace xdpguard::service
