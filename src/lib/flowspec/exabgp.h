// ExaBGP's JSON API (4.x, `encoder json; receive { parsed; update; }` and
// `neighbor-changes`): one line of a process's stdin -> FlowSpec events.
//
//   "type": "update"  message.update.announce["ipv4 flow"|"ipv6 flow"][nexthop]
//                     [route...]; message.update.withdraw["ipv4 flow"|...]
//                     [route...]; message.update.eor {afi, safi}; the actions
//                     from attribute["extended-community"][{value}] (the
//                     8-byte value, not the lossy "string")
//   "type": "state"   neighbor.state "up" / "down" / "connected"
//   anything else     (keepalives, notifications, other families): nothing
// A route's components: "destination-ipv4": ["198.51.100.0/24"] (IPv6:
// "ADDR/LEN/OFFSET"), numeric ones as lists of AND-groups (">=1024&<=2048",
// "=udp", "=unknown protocol type 123"), the bitmask ones (tcp-flags,
// fragment) from the route's "string", which keeps their operators whole
// ("tcp-flags [ =syn+ack&!rst ]"); the JSON list of those does not.
//
// Failures are per route: a route with an unknown component, an unknown
// name or a bad value is left out with the reason in `errors` (never
// installed without the part that failed: that would be a broader rule); a
// line that is not JSON, or not an object, is one error and no events.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "flowspec/rib.h"

namespace xdpguard::flowspec {

struct Decoded {
  std::vector<Event> events;
  std::vector<std::string> errors;
};

Decoded decode_exabgp(std::string_view line);

// The numeric operator list of one AND-group as ExaBGP and GoBGP print it
// (">=1024&<=2048", "=80", "!=0", "true"); `names` maps a value's name
// (protocol or ICMP type names) to its number. Appends to `out`; the first
// op of the group has its AND bit clear. Exposed for the GoBGP decoder and
// tests.
[[nodiscard]] Result<void> parse_numeric_group(std::string_view text, Type type, std::vector<NumericOp>& out);

}  // namespace xdpguard::flowspec
