// Numeric command-line options: every number a user types goes through
// core/number.h (strict decimal text, a checked range) instead of CLI11's
// own conversion, which takes "nan", "inf" and 1e300 for a double and wraps
// "-1" into a huge unsigned count. A bad value is a usage error (exit 2):
//   xdpguard: --duration: expected seconds between 0.001 and 31536000, got "nan"
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

#include <CLI/CLI.hpp>

#include "core/number.h"

namespace xdpguard::cli {

namespace detail {
template <class T>
struct Unwrap {
  using type = T;
};
template <class T>
struct Unwrap<std::optional<T>> {
  using type = T;
};
}  // namespace detail

// A whole number in [min, max] into `target` (any unsigned integer type, or
// std::optional of one; max must fit it). `name` as CLI11 takes it
// ("--count", "-c,--count", "ID" for a positional).
template <class T>
CLI::Option* add_whole(CLI::App* app, const std::string& name, T& target, std::uint64_t min,
                       std::uint64_t max, const std::string& help,
                       const std::string& what = "a whole number") {
  using V = typename detail::Unwrap<T>::type;
  static_assert(std::is_integral_v<V> && std::is_unsigned_v<V>);
  if (max > std::numeric_limits<V>::max()) throw std::logic_error(name + ": range wider than its type");
  CLI::callback_t set = [&target, name, what, min, max](const CLI::results_t& res) {
    auto v = parse_whole(res.empty() ? std::string() : res.front(), what, min, max);
    if (!v) throw CLI::ValidationError(name, v.error().message());
    target = static_cast<V>(*v);
    return true;
  };
  return app->add_option(name, std::move(set), help, false, [] { return std::string{}; })
      ->type_name("N")
      ->expected(1);
}

// A finite decimal number in [min, max] into `target` (a double); `what`
// names the unit ("seconds").
inline CLI::Option* add_decimal(CLI::App* app, const std::string& name, double& target, double min,
                                double max, const std::string& what, const std::string& help) {
  CLI::callback_t set = [&target, name, what, min, max](const CLI::results_t& res) {
    auto v = parse_decimal(res.empty() ? std::string() : res.front(), what, min, max);
    if (!v) throw CLI::ValidationError(name, v.error().message());
    target = *v;
    return true;
  };
  return app->add_option(name, std::move(set), help, false, [] { return std::string{}; })
      ->type_name("NUM")
      ->expected(1);
}

// Seconds a command runs for: 1 ms to a year.
inline CLI::Option* add_duration(CLI::App* app, double& target, const std::string& help) {
  return add_decimal(app, "--duration", target, 0.001, kMaxDurationSeconds, "seconds", help)
      ->type_name("SECONDS");
}

// How many records / packets / frames before a command stops: 1 to 2^63.
template <class T>
CLI::Option* add_count(CLI::App* app, T& target, const std::string& help) {
  return add_whole(app, "--count", target, 1, kMaxCount, help);
}

}  // namespace xdpguard::cli
