// Gate for tests that need root and a working BPF/XDP kernel. Outside CI they
// skip, saying why; with CI=true they fail, because CI must run them.
#pragma once

#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace xdpguard::test {

// nullopt when privileged tests can run here; otherwise the reason.
std::optional<std::string> privileged_unavailable();
bool in_ci();

}  // namespace xdpguard::test

#define XG_REQUIRE_PRIVILEGES()                                                        \
  do {                                                                                 \
    if (auto xg_why_ = ::xdpguard::test::privileged_unavailable()) {                   \
      if (::xdpguard::test::in_ci()) FAIL() << "CI=true but cannot run: " << *xg_why_; \
      GTEST_SKIP() << "skipped (not in CI): " << *xg_why_;                             \
    }                                                                                  \
  } while (0)
