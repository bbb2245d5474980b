// The rule option `log [N/M]` (docs/telemetry.md): parsing, canonical text,
// errors with their columns, and what the compiler makes of it (the
// sampling threshold in the verdict word the kernel reads).
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cmath>

#include <xdpguard/abi.h>

#include "classifier/plan.h"
#include "rules/lint.h"
#include "rules/parser.h"
#include "support/rule_text.h"
#include "rules/printer.h"

namespace xdpguard::rules {
namespace {

using test::canon;
using test::err;
using test::ok;

TEST(RuleLog, ParsesPlainAndSampled) {
  EXPECT_FALSE(ok("drop tcp dport 23").log);
  EXPECT_EQ(ok("drop tcp dport 23 log").log, (LogSpec{1, 1}));
  EXPECT_EQ(ok("pass udp dport 53 log 1/1000").log, (LogSpec{1, 1000}));
  // Lowest terms; N == M is every hit.
  EXPECT_EQ(ok("pass log 10/1000").log, (LogSpec{1, 100}));
  EXPECT_EQ(ok("pass log 3/3").log, (LogSpec{1, 1}));
  EXPECT_EQ(ok("pass log 2/3").log, (LogSpec{2, 3}));
  EXPECT_EQ(ok("pass log 1/16777216").log, (LogSpec{1, 16777216}));
  // Anywhere among the matches; log does not change what matches.
  Rule a = ok("drop log tcp dport 23"), b = ok("drop tcp dport 23");
  EXPECT_EQ(a.log, (LogSpec{1, 1}));
  a.log.reset();
  EXPECT_EQ(a, b);
}

TEST(RuleLog, CanonicalTextEndsWithLog) {
  EXPECT_EQ(canon("drop log tcp dport 23"), "drop tcp dport 23 log");
  EXPECT_EQ(canon("pass log 10/1000 udp dport 53"), "pass udp dport 53 log 1/100");
  EXPECT_EQ(canon("pass log 5/5"), "pass log");
  for (const char* t : {"drop tcp dport 23 log", "pass udp dport 53 log 1/1000", "redirect xsk ip6 log 2/3",
                        "drop tcp tcp-flags syn,!ack log 1/16777216"}) {
    EXPECT_EQ(canon(t), t);
    EXPECT_EQ(ok(canon(t)), ok(t));
  }
}

TEST(RuleLog, Errors) {
  EXPECT_EQ(err("drop log log"), "column 10: duplicate log (log at column 6)");
  EXPECT_EQ(err("drop log 1/10 tcp log"), "column 19: duplicate log (log at column 6)");
  EXPECT_EQ(err("drop log 1000"),
            "column 10: expected a sampling rate N/M after log (for example 1/1000), got \"1000\"");
  EXPECT_EQ(err("drop log 0/5"), "column 10: expected a sampling rate N/M with 1 <= N <= M, got \"0/5\"");
  EXPECT_EQ(err("drop log 6/5"), "column 10: expected a sampling rate N/M with 1 <= N <= M, got \"6/5\"");
  EXPECT_EQ(err("drop log 1/0"), "column 10: expected a sampling rate N/M with 1 <= N <= M, got \"1/0\"");
  EXPECT_EQ(err("drop log 1/16777217"),
            "column 10: expected a sampling rate N/M after log (for example 1/1000), N and M at most "
            "16777216, got \"1/16777217\"");
  EXPECT_EQ(err("drop log 1/x"),
            "column 10: expected a sampling rate N/M after log (for example 1/1000), N and M at most "
            "16777216, got \"1/x\"");
  EXPECT_EQ(err("drop log 1/-2"),
            "column 10: expected a sampling rate N/M after log (for example 1/1000), N and M at most "
            "16777216, got \"1/-2\"");
  // A misspelt option is an unknown word that names log among the choices.
  EXPECT_NE(err("drop tcp logs").find("log or comment), got \"logs\""), std::string::npos)
      << err("drop tcp logs");
}

TEST(RuleLog, LintIgnoresLog) {
  // A rule with log behind one that takes all its packets is dead all the same.
  auto w = lint({ok("drop tcp"), ok("drop tcp dport 23 log")});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].rule_index, 1u);
  EXPECT_TRUE(lint({ok("drop tcp dport 23 log"), ok("drop tcp")}).empty());
}

}  // namespace
}  // namespace xdpguard::rules

namespace xdpguard::cls {
namespace {

std::uint32_t word_of(const std::string& text) {
  auto r = rules::parse_rule(text);
  EXPECT_TRUE(r) << text;
  auto p = make_plan({{1, *r}}, XDP_PASS, {});
  EXPECT_TRUE(p) << p.error().message();
  return p ? verdict_word(p->rules.at(0)) : 0;
}

TEST(RuleLog, VerdictWordCarriesTheSamplingThreshold) {
  EXPECT_EQ(word_of("drop tcp"), std::uint32_t{XDP_DROP});
  EXPECT_EQ(word_of("drop tcp log"), XDP_DROP | XDPGUARD_LOG_ALL << XDPGUARD_LOG_SHIFT);
  EXPECT_EQ(word_of("pass log") & XDPGUARD_ACTION_MASK, std::uint32_t{XDP_PASS});
  // N/M -> threshold/2^24, rounded, never 0 (that would be "no log").
  const std::uint32_t t = word_of("pass log 1/1000") >> XDPGUARD_LOG_SHIFT;
  EXPECT_NEAR(static_cast<double>(t) / XDPGUARD_LOG_SCALE, 1e-3, 1.0 / XDPGUARD_LOG_SCALE);
  EXPECT_EQ(word_of("pass log 1/16777216") >> XDPGUARD_LOG_SHIFT, 1u);
  EXPECT_EQ(word_of("pass log 1/2") >> XDPGUARD_LOG_SHIFT, XDPGUARD_LOG_SCALE / 2);
  // Every word with log is >= XDPGUARD_NUM_ACTIONS: it goes on to enforce.
  EXPECT_GE(word_of("pass log 1/16777216"), std::uint32_t{XDPGUARD_NUM_ACTIONS});
}

}  // namespace
}  // namespace xdpguard::cls
