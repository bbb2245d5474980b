#include "consumer/neighbours.h"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "core/unique_fd.h"

namespace xdpguard::consumer {

Result<void> Neighbours::refresh() {
  last_ = std::chrono::steady_clock::now();
  UniqueFd s(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!s) return fail_errno(errno, "rtnetlink socket");
  struct {
    nlmsghdr nh;
    ndmsg nd;
  } req{};
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = RTM_GETNEIGH;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.nd.ndm_family = AF_UNSPEC;
  if (::send(s.get(), &req, sizeof req, 0) != static_cast<ssize_t>(sizeof req))
    return fail_errno(errno, "rtnetlink: dump neighbours");
  std::map<Key, Mac> table;
  std::vector<char> buf(1 << 16);
  for (;;) {
    const ssize_t n = ::recv(s.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, "rtnetlink: read neighbours");
    }
    auto len = static_cast<unsigned>(n);
    for (auto* nh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (nh->nlmsg_type == NLMSG_DONE) {
        table_ = std::move(table);
        return {};
      }
      if (nh->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(nh));
        return fail_errno(-e->error, "rtnetlink: read neighbours");
      }
      if (nh->nlmsg_type != RTM_NEWNEIGH) continue;
      const auto* nd = static_cast<const ndmsg*>(NLMSG_DATA(nh));
      if (nd->ndm_ifindex != ifindex_ || (nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6)) continue;
      if (!(nd->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP)))
        continue;
      const std::size_t alen = nd->ndm_family == AF_INET ? 4 : 16;
      std::optional<std::array<std::uint8_t, 16>> dst;
      std::optional<Mac> mac;
      int attrlen = static_cast<int>(nh->nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg)));
      for (auto* a = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(nd) +
                                                     NLMSG_ALIGN(sizeof(ndmsg)));
           RTA_OK(a, attrlen); a = RTA_NEXT(a, attrlen)) {
        if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == alen) {
          dst.emplace();
          std::memcpy(dst->data(), RTA_DATA(a), alen);
        } else if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
          mac.emplace();
          std::memcpy(mac->data(), RTA_DATA(a), 6);
        }
      }
      if (dst && mac) table[{nd->ndm_family, *dst}] = *mac;
    }
  }
}

std::optional<Mac> Neighbours::lookup(rules::Family family, const std::array<std::uint8_t, 16>& addr) {
  std::array<std::uint8_t, 16> key{};
  const bool v4 = family == rules::Family::V4;
  std::memcpy(key.data(), addr.data(), v4 ? 4 : 16);
  const Key k{v4 ? AF_INET : AF_INET6, key};
  if (auto it = table_.find(k); it != table_.end()) return it->second;
  if (std::chrono::steady_clock::now() - last_ < std::chrono::seconds(1)) return std::nullopt;
  if (!refresh()) return std::nullopt;
  if (auto it = table_.find(k); it != table_.end()) return it->second;
  return std::nullopt;
}

}  // namespace xdpguard::consumer
