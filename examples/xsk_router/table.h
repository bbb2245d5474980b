// xsk_router's routing table: the text file it reads, parsed (a pure
// function, no I/O), and the longest-prefix match per frame.
//
// One route per line, fields separated by spaces or tabs:
//   PREFIX OUT_IFACE NEXT_HOP_MAC     e.g.  198.18.1.0/24 eth2 02:00:00:00:00:02
// PREFIX is IPv4 or IPv6 in the rule language's syntax (rules::parse_prefix:
// host bits cleared, a bare address is a host route); 0.0.0.0/0 and ::/0 are
// the default routes. `#` starts a comment; blank lines are allowed.
//
// Failure: the first bad line, named with the offending token:
//   line 3: "198.18.1.0/33": prefix length over 32
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "consumer/forward.h"
#include "core/result.h"
#include "rules/rule.h"

namespace xsk_router {

struct Route {
  xdpguard::rules::Prefix prefix;
  std::string ifname;  // out interface
  xdpguard::consumer::Mac next_hop;
  std::size_t line = 0;  // 1-based, in the file
};

class Table {
 public:
  // Routes in file order (route indexes below are into this).
  const std::vector<Route>& routes() const { return routes_; }
  // The out interfaces, each once, in the order the file names them first.
  std::vector<std::string> interfaces() const;

  // Index of the route with the longest prefix holding `addr` (IPv4 in its
  // first 4 bytes), nullopt when none does.
  // Cost: a scan of the family's routes, longest prefixes first, until the
  // first match: O(routes) compares of at most 16 bytes each. Fine for the
  // tens of routes of an example; thousands would want a trie (or DIR-24-8).
  std::optional<std::size_t> lookup(xdpguard::rules::Family family,
                                    const std::array<std::uint8_t, 16>& addr) const;

 private:
  friend xdpguard::Result<Table> parse_table(std::string_view text);
  std::vector<Route> routes_;
  // Route indexes per family, by prefix length, longest first.
  std::vector<std::size_t> v4_, v6_;
};

// Parses a table file's text. Fails (EINVAL) on the first bad line, on a
// prefix given twice, and on a table without routes.
[[nodiscard]] xdpguard::Result<Table> parse_table(std::string_view text);

// "02:00:00:00:00:02"
std::string mac_to_string(const xdpguard::consumer::Mac& m);

}  // namespace xsk_router
