#include "rules/limit.h"

#include <fmt/format.h>

#include <algorithm>

#include "rules/parser.h"
#include "rules/rule.h"

namespace xdpguard::rules {
namespace {

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < 48; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\')
      out += {'\\', static_cast<char>(c)};
    else if (c < 0x20 || c >= 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  if (s.size() > 48) out += "...";
  return out + '"';
}

tl::unexpected<LimitError> error(std::size_t column, std::string msg) {
  return tl::unexpected(LimitError{column, std::move(msg)});
}
tl::unexpected<LimitError> expected(std::size_t column, std::string_view what, std::string_view got) {
  return error(column, fmt::format("expected {}, got {}", what, quoted(got)));
}

std::optional<RateUnit> unit_of(std::string_view s) {
  if (s == "s" || s == "second") return RateUnit::Second;
  if (s == "m" || s == "minute") return RateUnit::Minute;
  if (s == "h" || s == "hour") return RateUnit::Hour;
  if (s == "d" || s == "day") return RateUnit::Day;
  return std::nullopt;
}

const char* unit_short(RateUnit u) {
  switch (u) {
    case RateUnit::Second: return "s";
    case RateUnit::Minute: return "m";
    case RateUnit::Hour: return "h";
    case RateUnit::Day: return "d";
  }
  return "?";
}

constexpr std::string_view kRateWhat =
    "a rate N/s, N/m, N/h or N/d (packets per second, minute, hour, day) or N bytes/s (kbytes, mbytes)";
constexpr std::string_view kUnitWhat = "a unit s, m, h or d (second, minute, hour, day)";
constexpr std::string_view kBytesWhat = "bytes, kbytes or mbytes";

std::optional<std::uint64_t> data_unit_of(std::string_view s) {
  if (s == "bytes") return 1;
  if (s == "kbytes") return 1024;
  if (s == "mbytes") return 1024 * 1024;
  return std::nullopt;
}

// nft's get_rate(): the largest of bytes, kbytes, mbytes that is exact.
std::string bytes_to_string(std::uint64_t n) {
  const char* unit = "bytes";
  if (n != 0 && n % 1024 == 0) {
    n /= 1024;
    unit = "kbytes";
    if (n % 1024 == 0) {
      n /= 1024;
      unit = "mbytes";
    }
  }
  return fmt::format("{} {}", n, unit);
}

using u128 = unsigned __int128;
constexpr std::string_view kDurationWhat = "a duration N followed by s, m, h or d (1s to 7d)";

tl::expected<std::uint32_t, LimitError> duration(const LimitWord& w) {
  const std::string_view t = w.text;
  if (t.size() < 2) return expected(w.column, kDurationWhat, t);
  std::uint64_t mult = 0;
  switch (t.back()) {
    case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    case 'd': mult = 86400; break;
    default: return expected(w.column, kDurationWhat, t);
  }
  auto n = parse_decimal(t.substr(0, t.size() - 1), kMaxBlockSeconds);
  if (!n) {
    if (!t.substr(0, t.size() - 1).empty() &&
        parse_decimal(t.substr(0, t.size() - 1), UINT64_MAX / 86400).has_value())
      return error(w.column, fmt::format("block duration {} is longer than 7d", t));
    return expected(w.column, kDurationWhat, t);
  }
  if (*n == 0) return error(w.column, "block duration must be at least 1s, got 0");
  if (*n * mult > kMaxBlockSeconds)
    return error(w.column, fmt::format("block duration {} is longer than 7d", t));
  return static_cast<std::uint32_t>(*n * mult);
}

}  // namespace

std::uint64_t unit_ns(RateUnit u) {
  constexpr std::uint64_t s = 1'000'000'000;
  switch (u) {
    case RateUnit::Second: return s;
    case RateUnit::Minute: return 60 * s;
    case RateUnit::Hour: return 3600 * s;
    case RateUnit::Day: return 86400 * s;
  }
  return s;
}

std::uint64_t limit_cost_ns(const Limit& l) { return l.rate ? unit_ns(l.unit) / l.rate : 0; }
std::uint64_t limit_tau_ns(const Limit& l) { return limit_cost_ns(l) * (l.burst ? l.burst - 1 : 0); }

ByteCost byte_cost(const Limit& l) {
  if (!l.rate) return {};
  const u128 ns = unit_ns(l.unit);
  for (unsigned shift = 63; shift > 0; --shift) {
    const u128 mult = ((ns << shift) + l.rate - 1) / l.rate;  // ns < 2^47: no overflow
    if (mult * kMaxIpLen <= UINT64_MAX)
      return {static_cast<std::uint64_t>(mult), static_cast<std::uint8_t>(shift)};
  }
  return {};  // unit / rate >= 2^64 / 65575 ns: no rate in range
}

std::uint64_t byte_cost_ns(const ByteCost& c, std::uint32_t len) {
  return (std::uint64_t{std::min(len, kMaxIpLen)} * c.mult) >> c.shift;
}

std::uint64_t nft_byte_cost_ns(const Limit& l, std::uint32_t len) {
  return l.rate ? static_cast<std::uint64_t>(u128{unit_ns(l.unit)} * len / l.rate) : 0;
}

std::uint64_t limit_depth_ns(const Limit& l) {
  if (!l.rate) return 0;
  if (!l.bytes) return limit_cost_ns(l) * l.burst;
  const u128 d = u128{unit_ns(l.unit)} * (u128{l.rate} + l.burst) / l.rate;
  return d > UINT64_MAX ? UINT64_MAX : static_cast<std::uint64_t>(d);
}

tl::expected<LimitClause, LimitError> parse_limit_clause(std::span<const LimitWord> words,
                                                         std::size_t end_column) {
  LimitClause out;
  std::size_t i = 1;  // words[0] is "limit"
  auto next = [&](std::string_view what) -> tl::expected<LimitWord, LimitError> {
    if (i >= words.size()) return error(end_column, fmt::format("expected {}, got end of rule", what));
    return words[i++];
  };
  auto over = next("over after limit (a rule matches the packets over its rate: limit over 200/s)");
  if (!over) return tl::unexpected(over.error());
  if (over->text != "over")
    return expected(over->column,
                    "over after limit (a rule matches the packets over its rate: limit over 200/s)",
                    over->text);
  auto rate = next(kRateWhat);
  if (!rate) return tl::unexpected(rate.error());
  std::optional<std::uint64_t> byte_mult;  // N BYTES[/PER]: a byte rate
  if (rate->text.find('/') == std::string_view::npos && i < words.size())
    byte_mult = data_unit_of(words[i].text.substr(0, words[i].text.find('/')));
  if (byte_mult) {
    const std::uint64_t mult = *byte_mult;
    const LimitWord& uw = words[i++];
    const auto slash = uw.text.find('/');
    RateUnit unit = RateUnit::Second;
    if (slash != std::string_view::npos) {
      auto u = unit_of(uw.text.substr(slash + 1));
      if (!u) return expected(uw.column + slash + 1, kUnitWhat, uw.text.substr(slash + 1));
      unit = *u;
    }
    auto v = parse_decimal(rate->text, kMaxByteRate / mult);
    if (!v) {
      if (!rate->text.empty() && parse_decimal(rate->text, UINT64_MAX / 10).has_value())
        return error(rate->column, fmt::format("rate {} {} is more than {} per unit", rate->text, uw.text,
                                               bytes_to_string(kMaxByteRate)));
      return expected(rate->column, "a number of bytes, kbytes or mbytes per unit", rate->text);
    }
    if (*v == 0)
      return error(rate->column, "a limit of 0 bytes can never be kept: expected a rate of at least 1");
    out.limit.rate = *v * mult;
    out.limit.unit = unit;
    out.limit.bytes = true;
    out.limit.burst = 0;  // nft's default for byte limits
  } else {
    auto slash = rate->text.find('/');
    if (slash == std::string_view::npos) return expected(rate->column, kRateWhat, rate->text);
    std::string_view n = rate->text.substr(0, slash), u = rate->text.substr(slash + 1);
    auto unit = unit_of(u);
    if (!unit) return expected(rate->column + slash + 1, kUnitWhat, u);
    auto v = parse_decimal(n, kMaxRate);
    if (!v) {
      if (!n.empty() && parse_decimal(n, UINT64_MAX / 10).has_value())
        return error(rate->column,
                     fmt::format("rate {} is more than {} packets per unit", rate->text, kMaxRate));
      return expected(rate->column, kRateWhat, rate->text);
    }
    if (*v == 0)
      return error(rate->column, "a limit of 0 packets can never be kept: expected a rate of at least 1");
    out.limit.rate = *v;
    out.limit.unit = *unit;
  }
  std::optional<std::size_t> burst_at, per_at, block_at;
  while (i < words.size()) {
    const LimitWord& w = words[i];
    auto dup = [&](const std::optional<std::size_t>& at) {
      return error(w.column, fmt::format("duplicate {} in limit (column {})", w.text, *at));
    };
    if (w.text == "burst" && out.limit.bytes) {
      if (burst_at) return dup(burst_at);
      burst_at = w.column;
      ++i;
      constexpr std::string_view what = "a burst N bytes, kbytes or mbytes (0 to 4294967295 bytes)";
      auto b = next(what);
      if (!b) return tl::unexpected(b.error());
      auto v = parse_decimal(b->text, kMaxByteBurst);
      if (!v) {
        if (!b->text.empty() && parse_decimal(b->text, UINT64_MAX / 10).has_value())
          return error(b->column, fmt::format("burst {} is more than {} bytes", b->text, kMaxByteBurst));
        return expected(b->column, what, b->text);
      }
      auto u = next(fmt::format("{} after the burst {}", kBytesWhat, b->text));
      if (!u) return tl::unexpected(u.error());
      auto mult = data_unit_of(u->text);
      if (!mult)
        return expected(u->column, fmt::format("{} after the burst {}", kBytesWhat, b->text), u->text);
      if (*v * *mult > kMaxByteBurst)
        return error(b->column,
                     fmt::format("burst {} {} is more than {} bytes", b->text, u->text, kMaxByteBurst));
      out.limit.burst = static_cast<std::uint32_t>(*v * *mult);
    } else if (w.text == "burst") {
      if (burst_at) return dup(burst_at);
      burst_at = w.column;
      ++i;
      auto b = next("a burst in packets (1 to 1000000000)");
      if (!b) return tl::unexpected(b.error());
      auto v = parse_decimal(b->text, kMaxBurst);
      if (!v) {
        if (!b->text.empty() && parse_decimal(b->text, UINT64_MAX / 10).has_value())
          return error(b->column, fmt::format("burst {} is more than {} packets", b->text, kMaxBurst));
        return expected(b->column, "a burst in packets (1 to 1000000000)", b->text);
      }
      if (*v == 0) return error(b->column, "burst must be at least 1 packet, got 0");
      out.limit.burst = static_cast<std::uint32_t>(*v);
    } else if (w.text == "per") {
      if (per_at) return dup(per_at);
      per_at = w.column;
      ++i;
      auto k = next("saddr or saddr/LEN after per");
      if (!k) return tl::unexpected(k.error());
      std::string_view t = k->text;
      if (t.substr(0, 5) != "saddr" || (t.size() > 5 && t[5] != '/'))
        return expected(k->column, "saddr or saddr/LEN after per (the source address or its prefix)", t);
      out.limit.per_saddr = true;
      // Lengths are checked against the rule's family in finish_limit();
      // here only their syntax. len4/len6 hold them as written for now:
      // len4 the first, len6 the second (255: not given).
      out.limit.len4 = 255;
      out.limit.len6 = 255;
      std::string_view rest = t.substr(5);
      for (int n = 0; !rest.empty(); ++n) {
        if (n == 2)
          return expected(k->column + (t.size() - rest.size()), "the end of the key after two lengths", rest);
        rest.remove_prefix(1);  // '/'
        auto end = rest.find('/');
        std::string_view num = rest.substr(0, end);
        auto v = parse_decimal(num, 128);
        if (!v)
          return expected(k->column + (t.size() - rest.size()), "a prefix length 0-32 (IPv4) or 0-128 (IPv6)",
                          num);
        (n == 0 ? out.limit.len4 : out.limit.len6) = static_cast<std::uint8_t>(*v);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
      }
    } else if (w.text == "block") {
      if (block_at) return dup(block_at);
      block_at = w.column;
      ++i;
      auto d = next(kDurationWhat);
      if (!d) return tl::unexpected(d.error());
      auto v = duration(*d);
      if (!v) return tl::unexpected(v.error());
      out.limit.block_seconds = *v;
    } else {
      break;
    }
  }
  if (out.limit.bytes) {
    // rate <= 2^40, burst < 2^32: the depth is below 86400e9 * (2^32 + 1).
    if (limit_depth_ns(out.limit) > kMaxDepthNs)
      return error(burst_at.value_or(words[0].column),
                   fmt::format("burst {} at {} would take more than 146 years to refill",
                               bytes_to_string(out.limit.burst), rate_to_string(out.limit)));
    out.words = i;
    return out;
  }
  const std::uint64_t cost = limit_cost_ns(out.limit);
  if (cost == 0)
    return error(words[0].column,
                 fmt::format("rate {} is more than one packet per nanosecond", rate_to_string(out.limit)));
  if (cost > kMaxDepthNs / out.limit.burst)
    return error(burst_at.value_or(words[0].column),
                 fmt::format("burst {} at {} would take more than 146 years to refill", out.limit.burst,
                             rate_to_string(out.limit)));
  out.words = i;
  return out;
}

tl::expected<void, LimitError> finish_limit(Limit& l, Family family, Action action, std::size_t column) {
  if (l.per_saddr) {
    const bool one = l.len6 == 255, given = l.len4 != 255;
    std::uint8_t len4 = 32, len6 = 128;
    if (!given) {
      // per saddr: the whole address.
    } else if (family == Family::Any) {
      if (one)
        return error(column, fmt::format("per saddr/{} in a rule of both families: give the IPv6 length too "
                                         "(per saddr/{}/64), or restrict the rule to ip or ip6",
                                         l.len4, l.len4));
      len4 = l.len4;
      len6 = l.len6;
    } else if (!one) {
      return error(column, fmt::format("per saddr/{}/{} in an {} rule: give one length (per saddr/{})",
                                       l.len4, l.len6, family == Family::V4 ? "IPv4" : "IPv6",
                                       family == Family::V4 ? l.len4 : l.len6));
    } else if (family == Family::V4) {
      len4 = l.len4;
    } else {
      len6 = l.len4;
    }
    if (len4 > 32) return error(column, fmt::format("per saddr/{}: an IPv4 prefix length is 0-32", len4));
    l.len4 = len4;
    l.len6 = len6;
  } else {
    l.len4 = 32;
    l.len6 = 128;
  }
  if (l.block_seconds) {
    if (action != Action::Drop)
      return error(column, "block needs the drop action (blocked sources are dropped)");
    if (!l.per_saddr)
      return error(column,
                   "block needs per saddr or per saddr/LEN: it blocks the source (or its prefix) "
                   "that went over the limit");
    // A /0 key is every address: one source over the limit would block all.
    if ((family != Family::V6 && l.len4 == 0) || (family != Family::V4 && l.len6 == 0))
      return error(column,
                   "block with per saddr/0 would block every source once one went over the limit: give a "
                   "longer prefix");
  }
  return {};
}

std::string rate_to_string(const Limit& l) {
  if (l.bytes) return fmt::format("{}/{}", bytes_to_string(l.rate), unit_short(l.unit));
  return fmt::format("{}/{}", l.rate, unit_short(l.unit));
}

std::string duration_to_string(std::uint32_t s) {
  if (s % 86400 == 0) return fmt::format("{}d", s / 86400);
  if (s % 3600 == 0) return fmt::format("{}h", s / 3600);
  if (s % 60 == 0) return fmt::format("{}m", s / 60);
  return fmt::format("{}s", s);
}

std::string limit_to_string(const Limit& l, Family family) {
  std::string s = l.bytes
                      ? fmt::format(" limit over {} burst {}", rate_to_string(l), bytes_to_string(l.burst))
                      : fmt::format(" limit over {} burst {}", rate_to_string(l), l.burst);
  if (l.per_saddr) {
    s += " per saddr";
    if (family == Family::V4 && l.len4 != 32) s += fmt::format("/{}", l.len4);
    if (family == Family::V6 && l.len6 != 128) s += fmt::format("/{}", l.len6);
    if (family == Family::Any && (l.len4 != 32 || l.len6 != 128)) s += fmt::format("/{}/{}", l.len4, l.len6);
  }
  if (l.block_seconds) s += " block " + duration_to_string(l.block_seconds);
  return s;
}

}  // namespace xdpguard::rules
