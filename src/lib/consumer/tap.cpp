#include "consumer/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

namespace xdpguard::consumer {

Result<Tap> Tap::create(const std::string& name, const std::array<std::uint8_t, 6>& mac) {
  if (name.empty() || name.size() >= IFNAMSIZ) return fail(EINVAL, "TAP name \"{}\": 1-15 characters", name);
  Tap t;
  t.name_ = name;
  t.fd_.reset(::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (!t.fd_) return fail_errno(errno, "open /dev/net/tun (is the tun module there?)");
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, name.c_str(), name.size());
  if (::ioctl(t.fd_.get(), TUNSETIFF, &ifr) != 0)
    return fail_errno(errno, fmt::format("create TAP {}", name));
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno(errno, "socket");
  ifreq hw{};
  std::memcpy(hw.ifr_name, name.c_str(), name.size());
  hw.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  std::memcpy(hw.ifr_hwaddr.sa_data, mac.data(), mac.size());
  if (::ioctl(s.get(), SIOCSIFHWADDR, &hw) != 0) return fail_errno(errno, fmt::format("{}: set MAC", name));
  ifreq up{};
  std::memcpy(up.ifr_name, name.c_str(), name.size());
  if (::ioctl(s.get(), SIOCGIFFLAGS, &up) != 0) return fail_errno(errno, fmt::format("{}: flags", name));
  up.ifr_flags = static_cast<short>(up.ifr_flags | IFF_UP);
  if (::ioctl(s.get(), SIOCSIFFLAGS, &up) != 0) return fail_errno(errno, fmt::format("{}: set up", name));
  return t;
}

bool Tap::write(std::span<const std::uint8_t> frame) const {
  return ::write(fd_.get(), frame.data(), frame.size()) == static_cast<ssize_t>(frame.size());
}

}  // namespace xdpguard::consumer
