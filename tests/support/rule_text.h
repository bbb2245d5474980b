// Rule-text helpers for the rule-language unit tests: parse a rule that must
// parse, the error of one that must not, the canonical text of one.
#pragma once

#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard::test {

inline rules::Rule ok(std::string_view text) {
  auto r = rules::parse_rule(text);
  EXPECT_TRUE(r) << text << ": " << r.error().message();
  return r ? *r : rules::Rule{};
}

inline std::string err(std::string_view text) {
  auto r = rules::parse_rule(text);
  EXPECT_FALSE(r) << text << " parsed";
  return r ? std::string("(parsed)") : r.error().message();
}

inline std::string canon(std::string_view text) { return rules::to_string(ok(text)); }

}  // namespace xdpguard::test
