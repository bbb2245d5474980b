// core/number.h: the numbers users type on the command line.
#include <gtest/gtest.h>

#include <string>

#include "core/number.h"

namespace xdpguard {
namespace {

std::string decimal_error(const std::string& text, double min = 0.001, double max = kMaxDurationSeconds) {
  auto r = parse_decimal(text, "seconds", min, max);
  EXPECT_FALSE(r) << text << " was taken as " << (r ? *r : 0.0);
  return r ? "" : r.error().message();
}

TEST(NumberOption, DecimalsInRange) {
  for (auto [text, want] : std::initializer_list<std::pair<const char*, double>>{
           {"1", 1.0},
           {"0.5", 0.5},
           {".5", 0.5},
           {"5.", 5.0},
           {"2e3", 2000.0},
           {"2E+3", 2000.0},
           {"1500e-3", 1.5},
           {"0.001", 0.001},
           {"31536000", 31536000.0},
           {"0031536000.000", 31536000.0},
       }) {
    auto r = parse_decimal(text, "seconds", 0.001, kMaxDurationSeconds);
    ASSERT_TRUE(r) << text << ": " << r.error().message();
    EXPECT_DOUBLE_EQ(*r, want) << text;
  }
}

// What made `--duration` spin a CPU for ever, or run backwards.
TEST(NumberOption, DecimalsRefused) {
  EXPECT_EQ(decimal_error("nan"), "expected seconds between 0.001 and 31536000, got \"nan\"");
  for (const char* text :
       {"nan", "NaN", "-nan", "inf",    "-inf",         "infinity", "1e300", "1e309", "-1",  "-0.5",
        "0",   "0.0", "1e-9", "1e-400", "31536000.001", "+1",       " 1",    "1 ",    "1s",  "0x10",
        "1e",  "1e+", ".",    "",       "e5",           "1..2",     "1.2.3", "1,5",   "\xff"})
    EXPECT_NE(decimal_error(text).find("expected seconds between"), std::string::npos) << text;
  EXPECT_EQ(decimal_error("a\"b\n"), "expected seconds between 0.001 and 31536000, got \"a\\\"b\\x0a\"");
  EXPECT_EQ(decimal_error(std::string(100, '9')),
            "expected seconds between 0.001 and 31536000, got \"" + std::string(32, '9') + "...\"")
      << "the text is cut short in the message";
}

TEST(NumberOption, BoundsPrintedAsWritten) {
  auto r = parse_decimal("0", "frames per second", 1, 1e9);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "expected frames per second between 1 and 1000000000, got \"0\"");
  r = parse_decimal("5", "seconds", 0.1, 3600);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 5.0);
  r = parse_decimal("0.09", "seconds", 0.1, 3600);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "expected seconds between 0.1 and 3600, got \"0.09\"");
}

TEST(NumberOption, WholeNumbers) {
  auto ok = [](const char* text, std::uint64_t min, std::uint64_t max) {
    auto r = parse_whole(text, "a whole number", min, max);
    EXPECT_TRUE(r) << text << ": " << (r ? "" : r.error().message());
    return r ? *r : 0;
  };
  EXPECT_EQ(ok("0", 0, 10), 0u);
  EXPECT_EQ(ok("10", 0, 10), 10u);
  EXPECT_EQ(ok("007", 0, 10), 7u);
  EXPECT_EQ(ok("9223372036854775808", 1, kMaxCount), kMaxCount);
  EXPECT_EQ(ok("18446744073709551615", 0, UINT64_MAX), UINT64_MAX);

  auto bad = [](const std::string& text, std::uint64_t min, std::uint64_t max) {
    auto r = parse_whole(text, "a whole number", min, max);
    EXPECT_FALSE(r) << text << " was taken as " << (r ? *r : 0);
    return r ? "" : r.error().message();
  };
  EXPECT_EQ(bad("-1", 1, kMaxCount), "expected a whole number between 1 and 9223372036854775808, got \"-1\"");
  EXPECT_EQ(bad("9223372036854775809", 1, kMaxCount),
            "expected a whole number between 1 and 9223372036854775808, got \"9223372036854775809\"");
  for (const char* text : {"18446744073709551616", "99999999999999999999999", "0", "11", "+1", " 1", "1 ",
                           "1.0", "1e3", "0x1", "", "nan", "inf", "1k"})
    EXPECT_NE(bad(text, 1, 10).find("expected a whole number between 1 and 10"), std::string::npos) << text;
  EXPECT_NE(bad(std::string(65, '0') + "1", 0, 10).find("expected"), std::string::npos);
}

}  // namespace
}  // namespace xdpguard
