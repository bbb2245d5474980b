// Config-file helper for the config unit tests: the error of a text that
// must not parse (checked by parse_config, as if read from /etc/xdpguard.toml).
#pragma once

#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "config/config.h"

namespace xdpguard::test {

inline std::string config_error(std::string_view text) {
  auto c = config::parse_config(text, "/etc/xdpguard.toml");
  EXPECT_FALSE(c) << text;
  return c ? std::string("(parsed)") : c.error().message();
}

}  // namespace xdpguard::test
