#include "support/classifier_fixture.h"

#include "bpf/test_run.h"
#include "support/privileged.h"

namespace xdpguard::test {

CpuPin::CpuPin() {
  CPU_ZERO(&old_);
  ::sched_getaffinity(0, sizeof old_, &old_);
  cpu_ = ::sched_getcpu();
  if (cpu_ < 0) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu_, &one);
  ok_ = ::sched_setaffinity(0, sizeof one, &one) == 0;
}

CpuPin::~CpuPin() { ::sched_setaffinity(0, sizeof old_, &old_); }

void ClassifierFixture::SetUp() {
  XG_REQUIRE_PRIVILEGES();
  auto p = GuardProgram::open(config());
  ASSERT_TRUE(p) << p.error().message();
  ASSERT_TRUE(p->load());
  prog_.emplace(std::move(*p));
  auto g = Guard::from_program(*prog_);
  ASSERT_TRUE(g) << g.error().message();
  guard_.emplace(std::move(*g));
  auto fd = prog_->map("xg_percpu");
  ASSERT_TRUE(fd) << fd.error().message();
  auto m = PerCpuMap<std::uint32_t, xdpguard_percpu>::wrap(std::move(*fd));
  ASSERT_TRUE(m) << m.error().message();
  percpu_.emplace(std::move(*m));
  pin_.emplace();
  ASSERT_TRUE(pin_->ok()) << "cannot pin the test thread to one CPU";
  ASSERT_LT(pin_->cpu(), possible_cpus());
}

Outcome ClassifierFixture::run(const Bytes& frame) {
  auto r = test_run(prog_->prog_fd(), frame);
  EXPECT_TRUE(r) << r.error().message();
  auto cpus = percpu_->get(0);
  EXPECT_TRUE(cpus) << cpus.error().message();
  if (!r || !cpus) return {0xffffffffu, 0xffffffffu};
  return {r->verdict, (*cpus)[static_cast<std::size_t>(pin_->cpu())].slot};
}

}  // namespace xdpguard::test
