// Result<T>: the error type of every function that can fail at runtime.
//
// An Error carries an errno-style code (0 when none applies) and a message
// that grows context as it moves up: "load: <verifier tail>" becomes
// "attach veth1: load: <verifier tail>". The CLI prints message() as the one
// line on stderr. Exceptions are reserved for bugs.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <tl/expected.hpp>

namespace xdpguard {

class Error {
 public:
  Error(int code, std::string message) : code_(code), message_(std::move(message)) {}

  int code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prepends "ctx: " to the message.
  Error& context(std::string_view ctx) & {
    message_ = fmt::format("{}: {}", ctx, message_);
    return *this;
  }
  Error&& context(std::string_view ctx) && { return std::move(context(ctx)); }

 private:
  int code_;
  std::string message_;
};

template <class T = void>
using Result = tl::expected<T, Error>;

// Failure with a formatted message.
template <class... Args>
[[nodiscard]] tl::unexpected<Error> fail(int code, fmt::format_string<Args...> f, Args&&... args) {
  return tl::unexpected(Error(code, fmt::format(f, std::forward<Args>(args)...)));
}

// Failure from a negative errno value (libbpf style) or errno: "what: strerror".
[[nodiscard]] inline tl::unexpected<Error> fail_errno(int err, std::string_view what) {
  if (err < 0) err = -err;
  return tl::unexpected(Error(err, fmt::format("{}: {}", what, std::strerror(err))));
}

// Adds context to the error of a Result, passing values through untouched.
template <class T>
[[nodiscard]] Result<T> with_context(Result<T> r, std::string_view ctx) {
  if (!r) r.error().context(ctx);
  return r;
}

}  // namespace xdpguard

// Unwraps a Result or returns its error from the enclosing function.
#define XG_TRY(expr)                                                     \
  ({                                                                     \
    auto xg_try_r_ = (expr);                                             \
    if (!xg_try_r_) return tl::unexpected(std::move(xg_try_r_.error())); \
    std::move(*xg_try_r_);                                               \
  })

// Same for Result<void>.
#define XG_CHECK(expr)                                                   \
  do {                                                                   \
    auto xg_chk_r_ = (expr);                                             \
    if (!xg_chk_r_) return tl::unexpected(std::move(xg_chk_r_.error())); \
  } while (0)

// Same, adding context to the error.
#define XG_TRY_CTX(expr, ctx) XG_TRY(::xdpguard::with_context((expr), (ctx)))
#define XG_CHECK_CTX(expr, ctx) XG_CHECK(::xdpguard::with_context((expr), (ctx)))
