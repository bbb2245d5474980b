// Numbers a user types (command-line options): strict decimal text, checked
// against a range before anything uses them, so that `--duration nan`,
// `--duration 1e300` or `--count -1` are refused at once instead of spinning
// a loop for ever or wrapping around.
//
// Accepted: decimal digits, for parse_decimal also one '.' and an exponent
// ("2", "0.5", ".5", "1e3"). Refused: signs, spaces, hex, "nan", "inf",
// anything out of [min, max] (including what overflows or underflows a
// double). The error (EINVAL) is one phrase the caller prefixes with the
// option's name:
//   expected seconds between 0.001 and 31536000, got "nan"
// Pure; no allocation beyond the message.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/result.h"

namespace xdpguard {

// The limits the command line uses (one place, so that they agree).
inline constexpr double kMaxDurationSeconds = 365.0 * 24 * 3600;    // a year
inline constexpr std::uint64_t kMaxCount = std::uint64_t{1} << 63;  // records, packets, frames

// A finite decimal number in [min, max]; `what` names it in the message
// ("seconds", "frames per second").
[[nodiscard]] Result<double> parse_decimal(std::string_view text, std::string_view what, double min,
                                           double max);

// A whole number in [min, max]; `what` as above ("a whole number", "a rule id").
[[nodiscard]] Result<std::uint64_t> parse_whole(std::string_view text, std::string_view what,
                                                std::uint64_t min, std::uint64_t max);

}  // namespace xdpguard
