#include "bpf/test_run.h"

#include <bpf/bpf.h>

namespace xdpguard {

Result<TestRunResult> test_run(int prog_fd, std::span<const std::uint8_t> frame, std::uint32_t repeat) {
  TestRunResult r;
  // XDP may grow the frame at the tail/head; leave room for that.
  r.out.resize(frame.size() + 512);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = r.out.data(),
              .data_size_in = static_cast<__u32>(frame.size()),
              .data_size_out = static_cast<__u32>(r.out.size()), .repeat = static_cast<int>(repeat));
  if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) return fail_errno(errno, "test run");
  r.verdict = opts.retval;
  r.duration_ns = opts.duration;
  r.out.resize(opts.data_size_out);
  return r;
}

}  // namespace xdpguard
