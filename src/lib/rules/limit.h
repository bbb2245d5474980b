// Rate limits in rules (docs/ddos.md): the `limit` clause, a match
// predicate in the spirit of nftables' `limit rate over`:
//
//   limit over RATE [burst N] [per saddr[/LEN[/LEN6]]] [block DURATION]
//   RATE     := N/s | N/second | N/m | N/minute | N/h | N/hour | N/d | N/day
//   DURATION := N followed by s, m, h or d (1s .. 7d)
//
// A packet over the limit matches the rule; a packet under it goes on to
// later rules, as if this rule did not match. The bucket is a token bucket
// of `burst` packets (default 5, as nft) refilled at RATE, charged only by
// packets that reach the rule in first-match order and match its other
// fields. `per saddr` gives each source address its own bucket, `per
// saddr/24` each IPv4 /24 (in a rule of both families both lengths are
// needed: `per saddr/24/64`); without `per`, the rule has one bucket.
// `block DURATION` (drop rules with `per saddr` only) also drops every
// packet of the key's source prefix for DURATION before any rule is looked
// at.
//
// The arithmetic is nft's (net/netfilter/nft_limit.c) in nanoseconds: a
// packet costs unit / rate ns (integer division), the bucket holds
// burst * cost, and it starts full. Pure functions; the parser
// (rules/parser.h) calls parse_limit_clause() at the word `limit` and
// finish_limit() once the rule's family and action are known.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace xdpguard::rules {

enum class Family : std::uint8_t;
enum class Action : std::uint8_t;

enum class RateUnit : std::uint8_t { Second, Minute, Hour, Day };

inline constexpr std::uint32_t kDefaultBurst = 5;         // nft's default for packet limits
inline constexpr std::uint64_t kMaxRate = 1'000'000'000;  // packets per unit
inline constexpr std::uint32_t kMaxBurst = 1'000'000'000;
inline constexpr std::uint32_t kMaxBlockSeconds = 7 * 86400;
// A bucket's depth (burst * cost) must stay below this many nanoseconds
// (about 146 years: far beyond any sensible limit, and no overflow in the
// kernel's arithmetic).
inline constexpr std::uint64_t kMaxDepthNs = std::uint64_t{1} << 62;

struct Limit {
  std::uint64_t rate = 0;  // packets per unit, >= 1
  RateUnit unit = RateUnit::Second;
  std::uint32_t burst = kDefaultBurst;  // >= 1
  bool per_saddr = false;
  // Source prefix lengths of the key (per_saddr only): IPv4 0..32, IPv6
  // 0..128. Normalised: a length the rule's family cannot use is full.
  std::uint8_t len4 = 32, len6 = 128;
  std::uint32_t block_seconds = 0;  // 0: no block
  bool operator==(const Limit&) const = default;
};

// Nanoseconds in one unit.
std::uint64_t unit_ns(RateUnit u);
// What a packet costs (unit / rate, integer division as nft) and how far a
// bucket may run ahead of the clock ((burst - 1) * cost).
std::uint64_t limit_cost_ns(const Limit& l);
std::uint64_t limit_tau_ns(const Limit& l);

// One word of a rule and its 1-based column.
struct LimitWord {
  std::string_view text;
  std::size_t column = 0;
};
struct LimitError {
  std::size_t column = 0;
  std::string message;
};
struct LimitClause {
  Limit limit;
  std::size_t words = 0;  // consumed, `limit` included
};

// Parses the clause starting at words[0] == "limit"; stops at the first
// word that is not one of its own (burst, per, block), which the caller
// then reads as a match. `end_column` is where "end of rule" points.
tl::expected<LimitClause, LimitError> parse_limit_clause(std::span<const LimitWord> words,
                                                         std::size_t end_column);

// Checks what depends on the whole rule and normalises the key's lengths:
// per saddr/N with one length names the rule's family's length (a rule of
// both families needs both); block needs drop and per saddr. `column` is
// the clause's, for messages.
tl::expected<void, LimitError> finish_limit(Limit& l, Family family, Action action, std::size_t column);

// The clause in canonical form, with a leading space:
//   " limit over 200/s burst 5 per saddr/24 block 1m"
// (unit as written in its short form, burst always, the key's length(s)
// only when not full, the block duration in the largest exact unit).
std::string limit_to_string(const Limit& l, Family family);

// "200/s", "1m" (for messages and tables).
std::string rate_to_string(const Limit& l);
std::string duration_to_string(std::uint32_t seconds);

}  // namespace xdpguard::rules
