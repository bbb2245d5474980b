// Rate limits in rules (docs/ddos.md): the `limit` clause, a match
// predicate in the spirit of nftables' `limit rate over`:
//
//   limit over RATE [burst N] [per saddr[/LEN[/LEN6]]] [block DURATION]
//   limit over N BYTES/PER [burst N BYTES] [per saddr...] [block DURATION]
//   RATE     := N/PER                        (packets)
//   PER      := s | second | m | minute | h | hour | d | day
//   BYTES    := bytes | kbytes | mbytes       (1, 1024, 1024 * 1024 bytes, as nft)
//   DURATION := N followed by s, m, h or d (1s .. 7d)
// (`N BYTES` without /PER is per second, as nft's `limit rate 10 mbytes`.)
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
// burst * cost, and it starts full.
//
// Byte limits (nft's `limit rate over 10 mbytes/second`): a packet costs its
// IP length L (header included: IPv4 total length, IPv6 payload + 40, as
// FlowSpec's traffic-rate-bytes counts), nft's floor(L * unit / rate) ns;
// the bucket holds unit * (rate + burst) / rate ns (nft's tokens_max: one
// unit's bytes plus the burst, default burst 0), starts full, and a packet
// is under the limit iff its whole cost is in the bucket (a packet larger
// than rate + burst bytes is always over). The kernel multiplies instead of
// dividing: cost(L) = (L * mult) >> shift with mult = ceil(unit * 2^shift /
// rate), shift the largest (<= 63) that keeps 65575 * mult below 2^64 (no
// overflow for any IP length). cost(L) is never below nft's, and equals it
// for every L when rate * 65575 <= 2^shift (every per-second rate up to
// kMaxByteRate) or rate divides unit * 2^shift; otherwise it is at most 1 ns
// above nft's when 2^shift >= 65575 (rates of at least 28 bytes/minute,
// 1678 bytes/hour, 40265 bytes/day), and below those within a relative
// 2^-46 (mult has 47 significant bits or more). Pure functions; the parser
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
// Byte limits: at most 2^40 bytes (1 TiB, 1048576 mbytes) per unit; a burst
// is nft's 32 bits of bytes. The largest IP length a packet can have
// (IPv6: 65535 + 40), the kernel's bound for cost(L).
inline constexpr std::uint64_t kMaxByteRate = std::uint64_t{1} << 40;
inline constexpr std::uint64_t kMaxByteBurst = UINT32_MAX;
inline constexpr std::uint32_t kMaxIpLen = 65575;

struct Limit {
  std::uint64_t rate = 0;  // packets (bytes: bytes) per unit, >= 1
  RateUnit unit = RateUnit::Second;
  std::uint32_t burst = kDefaultBurst;  // >= 1 (bytes: in bytes, >= 0, default 0)
  bool bytes = false;                   // a byte limit: a packet costs its IP length
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
// Packet limits only.
std::uint64_t limit_cost_ns(const Limit& l);
std::uint64_t limit_tau_ns(const Limit& l);
// Byte limits: the kernel's fixed-point ns per byte (above), what a packet
// of `len` IP bytes costs with it, nft's exact cost, and the bucket's depth
// (nft's tokens_max, unit * (rate + burst) / rate). Depth is also what a
// packet limit's bucket holds (burst * cost).
struct ByteCost {
  std::uint64_t mult = 0;
  std::uint8_t shift = 0;  // 1..63 for every byte limit
};
ByteCost byte_cost(const Limit& l);
std::uint64_t byte_cost_ns(const ByteCost& c, std::uint32_t len);
std::uint64_t nft_byte_cost_ns(const Limit& l, std::uint32_t len);
std::uint64_t limit_depth_ns(const Limit& l);

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
//   " limit over 10 mbytes/s burst 0 bytes per saddr"
// (unit as written in its short form, burst always, byte amounts in the
// largest of bytes, kbytes, mbytes that is exact (nft's printer), the key's
// length(s) only when not full, the block duration in the largest exact
// unit).
std::string limit_to_string(const Limit& l, Family family);

// "200/s", "10 mbytes/s", "1m" (for messages and tables).
std::string rate_to_string(const Limit& l);
std::string duration_to_string(std::uint32_t seconds);

}  // namespace xdpguard::rules
