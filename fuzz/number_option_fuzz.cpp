// libFuzzer target: the parser of every numeric command-line option
// (core/number.h, used by src/cli/options.h). On any text it must fail
// cleanly with the one message shape, or return a finite number inside the
// range it was given; and it must agree with the C library (strtod,
// strtoull) on the texts it documents as accepted: plain decimal digits,
// one '.', an exponent.
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/number.h"

namespace {

using xdpguard::kMaxCount;
using xdpguard::kMaxDurationSeconds;

void check(bool ok) {
  if (!ok) std::abort();
}

bool digit(char c) { return c >= '0' && c <= '9'; }

// The documented syntax, written independently of the parser's.
bool decimal_text(const std::string& s) {
  std::size_t i = 0, digits = 0;
  while (i < s.size() && digit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && digit(s[i])) ++i, ++digits;
  }
  if (!digits) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t e = 0;
    while (i < s.size() && digit(s[i])) ++i, ++e;
    if (!e) return false;
  }
  return i == s.size();
}

void decimal(const std::string& text, double min, double max) {
  auto r = xdpguard::parse_decimal(text, "seconds", min, max);
  bool want = false;
  double ref = 0;
  if (decimal_text(text)) {
    errno = 0;
    char* end = nullptr;
    ref = std::strtod(text.c_str(), &end);
    want = errno == 0 && end == text.c_str() + text.size() && std::isfinite(ref) && ref >= min && ref <= max;
  }
  if (r) {
    check(std::isfinite(*r) && *r >= min && *r <= max);
    check(want && *r == ref);
  } else {
    check(r.error().message().rfind("expected seconds between ", 0) == 0);
    // strtod may call a denormal an underflow (ERANGE) where the parser takes it; none is in a range.
    check(!want);
  }
}

void whole(const std::string& text, std::uint64_t min, std::uint64_t max) {
  auto r = xdpguard::parse_whole(text, "a whole number", min, max);
  bool want = !text.empty() && text.size() <= 64;
  for (char c : text) want = want && digit(c);
  std::uint64_t ref = 0;
  if (want) {
    errno = 0;
    ref = std::strtoull(text.c_str(), nullptr, 10);
    want = errno == 0 && ref >= min && ref <= max;
  }
  if (r) {
    check(*r >= min && *r <= max);
    check(want && *r == ref);
  } else {
    check(r.error().message().rfind("expected a whole number between ", 0) == 0);
    check(!want);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // The ranges the command line uses.
  decimal(text, 0.001, kMaxDurationSeconds);  // --duration
  decimal(text, 0.1, 3600);                   // top --interval
  decimal(text, 1, 1e9);                      // gen --rate
  whole(text, 1, kMaxCount);                  // --count
  whole(text, 0, 65535);                      // gen --dport
  whole(text, 0, 1'000'000'000'000ULL);       // flood --*-pps
  whole(text, 0, UINT64_MAX);
  return 0;
}
