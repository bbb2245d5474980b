// Running helper programs (ip, ping, nc, tshark) with an argv vector, a
// timeout and captured output; no shell. Used by the lab, the demo and tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace xdpguard {

struct ProcessResult {
  int exit_code = -1;  // 128+signal if killed
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs argv[0] (PATH lookup) and waits at most `timeout`; killed (SIGKILL)
// when it runs over. Fails only when it cannot be started.
[[nodiscard]] Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                                std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Same, failing with "<argv0>: <stderr>" unless it exits 0.
[[nodiscard]] Result<std::string> run_checked(const std::vector<std::string>& argv,
                                              std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A child left running in the background (a server in a lab); killed with
// SIGTERM then SIGKILL on destruction. Output goes to /dev/null unless a
// file is given.
class BackgroundProcess {
 public:
  BackgroundProcess() = default;
  BackgroundProcess(BackgroundProcess&& o) noexcept;
  BackgroundProcess& operator=(BackgroundProcess&& o) noexcept;
  ~BackgroundProcess();
  [[nodiscard]] static Result<BackgroundProcess> start(const std::vector<std::string>& argv,
                                                       const std::string& stdout_file = "");
  pid_t pid() const { return pid_; }
  // Sends sig and waits for the exit (at most `timeout`); returns the exit code.
  int stop(int sig = 15, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  bool running();

 private:
  pid_t pid_ = -1;
};

// A process's start time (/proc/PID/stat's starttime, clock ticks since
// boot): with its pid, who it is (a pid alone is reused). nullopt when no
// such process lives.
std::optional<std::uint64_t> process_start_ticks(pid_t pid);
// Whether the process `pid` that started at `start` still lives.
bool process_alive(pid_t pid, std::uint64_t start);

// At the start of main(): glibc's heap in transparent huge pages, in this
// process (mallopt, and madvise of the heap's first 64 MiB grown and freed
// at once), unless GLIBC_TUNABLES names glibc.malloc.hugetlb (the caller's
// choice). A 10,000-rule `apply` touches ~35 MB of fresh heap: in 4 KiB
// pages, ~10,000 page faults and 40% of its time on a VM
// (docs/architecture.md, "Memory").
void prefer_huge_page_heap();

}  // namespace xdpguard
