// A BGP FlowSpec route (RFC 8955, RFC 8956 for IPv6) as the consumer
// receives it from a BGP speaker (flowspec/exabgp.h, flowspec/gobgp.h),
// independent of the speaker: its match components with their operator
// lists, and its actions (extended communities). Pure data and pure
// functions: the canonical text that names a route (what a withdraw
// matches, and the label its rules carry) and the RFC 8955 section 5.1
// order of routes among themselves.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "rules/rule.h"

namespace xdpguard::flowspec {

// Component types (RFC 8955 section 4.2.2; 13 is RFC 8956's flow label).
enum class Type : std::uint8_t {
  Destination = 1,
  Source = 2,
  Protocol = 3,  // IPv6: next header
  Port = 4,
  DestinationPort = 5,
  SourcePort = 6,
  IcmpType = 7,
  IcmpCode = 8,
  TcpFlags = 9,
  PacketLength = 10,
  Dscp = 11,
  Fragment = 12,
  FlowLabel = 13,
};
inline constexpr int kMaxType = 13;
const char* type_name(Type t);  // ExaBGP's names: "destination-port", "packet-length", ...

// One {operator, value} of a numeric component (RFC 8955 4.2.1.1): the
// comparison holds when one of the set lt/gt/eq relations holds between the
// packet's value and `value`; `and_` joins it to the previous one (AND binds
// tighter than OR). lt, gt and eq all clear is "false", all set "true".
struct NumericOp {
  bool and_ = false;
  bool lt = false, gt = false, eq = false;
  std::uint64_t value = 0;
  bool operator==(const NumericOp&) const = default;
};

// One {operator, value} of a bitmask component (RFC 8955 4.2.1.2): with
// `match`, (data & value) == value; without, (data & value) != 0; `not_`
// negates it.
struct BitmaskOp {
  bool and_ = false;
  bool not_ = false, match = false;
  std::uint64_t value = 0;
  bool operator==(const BitmaskOp&) const = default;
};

struct Component {
  Type type = Type::Protocol;
  std::optional<rules::Prefix> prefix;  // Destination, Source
  std::uint8_t offset = 0;              // IPv6 prefixes (RFC 8956): bits skipped before the prefix
  std::vector<NumericOp> numeric;       // the numeric types
  std::vector<BitmaskOp> bitmask;       // TcpFlags, Fragment
  bool operator==(const Component&) const = default;
};

// The actions a route carries (RFC 8955 section 7).
struct Actions {
  // traffic-rate-bytes / traffic-rate-packets, in bytes or packets per
  // second (IEEE floats on the wire); 0 is discard.
  std::optional<double> rate_bytes, rate_packets;
  bool sample = false;   // traffic-action S
  bool terminal = true;  // traffic-action T clear: later routes are evaluated too
  // Actions this consumer does not apply (redirect, marking, ...), as the
  // speaker names them: logged with the route.
  std::vector<std::string> ignored;
  bool operator==(const Actions&) const = default;
};

struct Route {
  rules::Family family = rules::Family::V4;  // V4 or V6
  std::vector<Component> components;         // ascending type, each type at most once
  Actions actions;
  bool operator==(const Route&) const = default;
};

// One BGP extended community (its 8 bytes, big-endian, as one number) added
// to `a`: traffic-rate-bytes (0x8006), traffic-action (0x8007: S sample, T
// set means "later routes apply too", RFC 8955 7.3), traffic-rate-packets
// (0x800c); redirect (0x8008, 0x8108, 0x8208, 0x0800, 0x010c), traffic
// marking (0x8009) and anything else FlowSpec-related go to `ignored` with
// their name. Returns false for a community that is not a FlowSpec action
// (a route target, ...), which changes nothing.
bool add_extended_community(std::uint64_t community, Actions& a);

// Checks a route as a speaker's decoder built it: components in ascending
// type order without repeats, prefixes of the route's family, operator
// lists non-empty with the first op's AND bit clear, values within what the
// component's field can hold (a packet length over 65535, a DSCP over 63,
// a protocol, ICMP type or code over 255, a port over 65535, a flow label
// over 2^20-1: "absurd values"). The message names the component.
[[nodiscard]] Result<void> validate(const Route& r);

// The match part as one line, the same for the same route from either
// speaker: "ipv4 destination 198.51.100.0/24 protocol =17 destination-port
// =123". What a withdraw is matched by, and the label of its rules.
std::string match_text(const Route& r);
// The actions as text: "rate-bytes 0", "rate-packets 1000 sample
// non-terminal", "accept" when there is none.
std::string actions_text(const Actions& a);

// RFC 8955 section 5.1: does `a` come before `b`? Component by component
// in type order: a route with a component the other lacks comes first;
// prefixes: the lower address over their common length first, then the
// more specific; other components: their wire encodings compared as byte
// strings, then the longer one first. Equal routes are neither.
bool precedes(const Route& a, const Route& b);
// The encoding of a numeric or bitmask component's operator list on the wire
// (each value in the shortest of 1, 2, 4, 8 bytes that holds it), for the
// ordering; exposed for tests.
std::vector<std::uint8_t> encode_ops(const Component& c);

}  // namespace xdpguard::flowspec
