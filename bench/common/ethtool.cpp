#include "common/ethtool.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "core/unique_fd.h"

namespace xdpguard::bench {

Result<std::map<std::string, std::uint64_t>> ethtool_stats(const std::string& ifname) {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return fail_errno(errno, "socket");
  auto ioctl = [&](void* cmd) -> Result<void> {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    ifr.ifr_data = static_cast<char*>(cmd);
    if (::ioctl(sock.get(), SIOCETHTOOL, &ifr) != 0) return fail_errno(errno, "ethtool " + ifname);
    return {};
  };
  // ethtool_sset_info followed by one __u32: the size of the one set asked for.
  alignas(ethtool_sset_info) std::uint8_t sset_buf[sizeof(ethtool_sset_info) + sizeof(std::uint32_t)] = {};
  auto* sset = reinterpret_cast<ethtool_sset_info*>(sset_buf);
  sset->cmd = ETHTOOL_GSSET_INFO;
  sset->sset_mask = 1ull << ETH_SS_STATS;
  XG_CHECK(ioctl(sset));
  std::uint32_t n = 0;
  if (sset->sset_mask & (1ull << ETH_SS_STATS))
    std::memcpy(&n, sset_buf + sizeof(ethtool_sset_info), sizeof n);
  std::map<std::string, std::uint64_t> out;
  if (n == 0) return out;
  std::vector<std::uint8_t> strings(sizeof(ethtool_gstrings) + n * ETH_GSTRING_LEN);
  auto* gs = reinterpret_cast<ethtool_gstrings*>(strings.data());
  gs->cmd = ETHTOOL_GSTRINGS;
  gs->string_set = ETH_SS_STATS;
  gs->len = n;
  XG_CHECK(ioctl(gs));
  std::vector<std::uint8_t> stats(sizeof(::ethtool_stats) + n * sizeof(std::uint64_t));
  auto* st = reinterpret_cast<::ethtool_stats*>(stats.data());
  st->cmd = ETHTOOL_GSTATS;
  st->n_stats = n;
  XG_CHECK(ioctl(st));
  for (std::uint32_t i = 0; i < n; ++i) {
    const char* name = reinterpret_cast<const char*>(gs->data + i * ETH_GSTRING_LEN);
    std::uint64_t v;
    std::memcpy(&v, stats.data() + sizeof(::ethtool_stats) + i * sizeof(std::uint64_t), sizeof v);
    out[std::string(name, strnlen(name, ETH_GSTRING_LEN))] = v;
  }
  return out;
}

Result<std::uint64_t> ethtool_sum(const std::string& ifname, const std::string& suffix) {
  std::uint64_t sum = 0;
  for (const auto& [name, v] : XG_TRY(ethtool_stats(ifname)))
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      sum += v;
  return sum;
}

}  // namespace xdpguard::bench
