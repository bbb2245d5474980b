#include "consumer/neighbours.h"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "bpf/system.h"

namespace xdpguard::consumer {

Result<void> Neighbours::refresh() {
  last_ = std::chrono::steady_clock::now();
  std::map<Key, Mac> table;
  XG_CHECK(rtnl_dump(
      RTM_GETNEIGH, AF_UNSPEC,
      [&](const nlmsghdr& nh) {
        if (nh.nlmsg_type != RTM_NEWNEIGH) return;
        const auto* nd = static_cast<const ndmsg*>(NLMSG_DATA(&nh));
        if (nd->ndm_ifindex != ifindex_ || (nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6)) return;
        if (!(nd->ndm_state &
              (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP)))
          return;
        const std::size_t alen = nd->ndm_family == AF_INET ? 4 : 16;
        std::optional<std::array<std::uint8_t, 16>> dst;
        std::optional<Mac> mac;
        int attrlen = static_cast<int>(nh.nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg)));
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
      },
      "neighbours"));
  table_ = std::move(table);
  return {};
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
