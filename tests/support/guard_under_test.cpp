#include "support/guard_under_test.h"

namespace xdpguard::test {

std::optional<GuardUnderTest> GuardUnderTest::load(const GuardConfig& cfg, std::string* err) {
  auto prog = GuardProgram::open(cfg);
  if (!prog) return *err = prog.error().message(), std::nullopt;
  if (auto r = prog->load(); !r) return *err = r.error().message(), std::nullopt;
  auto guard = Guard::from_program(*prog);
  if (!guard) return *err = guard.error().message(), std::nullopt;
  return GuardUnderTest(std::move(*prog), std::move(*guard));
}

Result<KernelRun> GuardUnderTest::run(std::span<const std::uint8_t> frame) {
  auto before = XG_TRY(guard_.stats());
  auto res = XG_TRY(test_run(prog_.prog_fd(), frame));
  auto after = XG_TRY(guard_.stats());
  KernelRun k;
  k.verdict = res.verdict;
  for (int i = 0; i < XDPGUARD_PARSE_MAX; i++) {
    k.parse[i].packets = after.parse[i].packets - before.parse[i].packets;
    k.parse[i].bytes = after.parse[i].bytes - before.parse[i].bytes;
  }
  for (int i = 0; i < XDPGUARD_NUM_ACTIONS; i++) {
    k.actions[i].packets = after.actions[i].packets - before.actions[i].packets;
    k.actions[i].bytes = after.actions[i].bytes - before.actions[i].bytes;
  }
  return k;
}

}  // namespace xdpguard::test
