#include "simulate/simulate.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sched.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "apply/apply.h"
#include "bpf/abi.h"
#include "bpf/map.h"

namespace xdpguard::simulate {
namespace {

// What BPF_PROG_TEST_RUN takes for an XDP program that does not handle
// fragments: one page, less the headroom and the shared info the kernel
// keeps in it (net/bpf/test_run.c); frames of a standard MTU are far below.
constexpr std::size_t kMaxFrame = 3 * 1024;
constexpr std::size_t kEthHeader = 14;

}  // namespace

std::string_view action_name(std::uint32_t action) {
  switch (action) {
    case XDP_ABORTED: return "aborted";
    case XDP_DROP: return "drop";
    case XDP_PASS: return "pass";
    case XDP_TX: return "tx";
    case XDP_REDIRECT: return "redirect";
    default: return "unknown";
  }
}

// ---- the pipeline -------------------------------------------------------------

Result<Simulator> Simulator::from_config(const config::Config& conf, const config::Interface& section) {
  Simulator s;
  GuardConfig cfg = apply::guard_config_of(section);
  cfg.fake_clock = true;  // the frames' timestamps are the limiter's clock
  s.prog_ = std::make_unique<GuardProgram>(XG_TRY(GuardProgram::open(cfg)));
  XG_CHECK_CTX(s.prog_->load(), "load the pipeline");
  s.guard_.emplace(XG_TRY(Guard::from_program(*s.prog_)));
  const DesiredState want = apply::desired_of(conf, section);
  auto staged =
      XG_TRY_CTX(s.guard_->prepare(want), fmt::format("{}: [interfaces.{}]", conf.source, section.name));
  XG_CHECK(s.guard_->swap(*staged));
  XG_CHECK(s.guard_->finish(*staged));
  s.rules_ = XG_TRY(s.guard_->rules());
  s.clocked_ =
      std::any_of(s.rules_.begin(), s.rules_.end(), [](const RuleRecord& r) { return r.rule.limit; });
  s.percpu_ = XG_TRY(s.prog_->map(XDPGUARD_PIN_PERCPU));
  s.scratch_.resize(static_cast<std::size_t>(possible_cpus()) * sizeof(xdpguard_percpu));
  if (section.synproxy)
    s.notes_.emplace_back(
        "the SYN proxy is not simulated (its answers depend on the host's sockets and conntrack): frames are "
        "judged as with it off");
  // Test runs run on the calling CPU: pinned to one, its per-CPU scratch is
  // the one to read after each run.
  const int cpu = sched_getcpu();
  if (cpu < 0) return fail_errno(errno, "sched_getcpu");
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) return fail_errno(errno, "pin to one CPU");
  s.cpu_ = cpu;
  return s;
}

Result<Verdict> Simulator::run(const Frame& f) {
  Verdict v;
  if (f.data.size() < f.wire_len) {
    v.simulated = false;
    v.skipped = fmt::format("captured {} of its {} bytes (the capture's snaplen)", f.data.size(), f.wire_len);
    return v;
  }
  if (f.data.size() < kEthHeader || f.data.size() > kMaxFrame) {
    v.simulated = false;
    v.skipped = f.data.size() < kEthHeader
                    ? fmt::format("{} bytes: shorter than an Ethernet header", f.data.size())
                    : fmt::format(
                          "{} bytes: longer than one XDP buffer ({} bytes here; captures taken "
                          "after GRO/GSO hold frames no driver receives)",
                          f.data.size(), kMaxFrame);
    return v;
  }
  if (!guard_) return fail(EINVAL, "the simulator was moved from");
  if (clocked_) XG_CHECK(guard_->set_fake_now(f.ts_ns));
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.data.data(),
              .data_size_in = static_cast<__u32>(f.data.size()), .repeat = 1);
  if (bpf_prog_test_run_opts(prog_->prog_fd(), &opts) != 0)
    return fail_errno(errno, fmt::format("frame {}: test run", f.index));
  v.action = opts.retval;
  __u32 zero = 0;
  if (bpf_map_lookup_elem(percpu_.fd(), &zero, scratch_.data()) != 0)
    return fail_errno(errno, "read the pipeline's scratch");
  xdpguard_percpu s{};
  std::memcpy(&s, scratch_.data() + static_cast<std::size_t>(cpu_) * sizeof(xdpguard_percpu), sizeof s);
  if (s.slot <= XDPGUARD_MAX_RULES) v.rule = s.slot;
  return v;
}

}  // namespace xdpguard::simulate
