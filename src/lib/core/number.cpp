#include "core/number.h"

#include <charconv>
#include <cmath>
#include <string>
#include <system_error>

namespace xdpguard {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A bound as people write it: 31536000, not 3.1536e+07.
std::string bound(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v);
  return fmt::format("{}", v);
}

// `s` in double quotes for a message: at most 32 characters, control and
// non-ASCII bytes as \xNN (the text may be anything a shell passes on).
std::string quoted(std::string_view s) {
  constexpr std::size_t kMax = 32;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  return out + '"';
}

// DIGITS [. DIGITS] [e [+-] DIGITS], or . DIGITS [...]: digits somewhere in
// the mantissa, nothing else.
bool decimal_syntax(std::string_view s) {
  std::size_t i = 0, mantissa = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++mantissa;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i, ++mantissa;
  }
  if (mantissa == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    const std::size_t start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i == start) return false;
  }
  return i == s.size();
}

}  // namespace

Result<double> parse_decimal(std::string_view text, std::string_view what, double min, double max) {
  auto bad = [&] {
    return fail(EINVAL, "expected {} between {} and {}, got {}", what, bound(min), bound(max), quoted(text));
  };
  if (!decimal_syntax(text)) return bad();
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  // out_of_range: more than a double holds, or a nonzero value below its
  // smallest (either way outside any range we take).
  if (ec != std::errc() || end != text.data() + text.size()) return bad();
  if (!std::isfinite(v) || v < min || v > max) return bad();
  return v;
}

Result<std::uint64_t> parse_whole(std::string_view text, std::string_view what, std::uint64_t min,
                                  std::uint64_t max) {
  auto bad = [&] {
    return fail(EINVAL, "expected {} between {} and {}, got {}", what, min, max, quoted(text));
  };
  if (text.empty() || text.size() > 64) return bad();
  for (char c : text)
    if (!is_digit(c)) return bad();
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 10);
  if (ec != std::errc() || end != text.data() + text.size()) return bad();
  if (v < min || v > max) return bad();
  return v;
}

}  // namespace xdpguard
