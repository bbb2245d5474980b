#include "core/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <sstream>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "core/number.h"
#include "core/unique_fd.h"

namespace xdpguard {
namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> v;
  for (const auto& a : argv) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  return v;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

Result<ProcessResult> run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  if (argv.empty()) return fail(EINVAL, "run_process: empty argv");
  // Every pipe end is owned from the start, so no failure below leaks one.
  int raw[2];
  if (::pipe2(raw, O_CLOEXEC) != 0) return fail_errno(errno, "pipe");
  UniqueFd ofd(raw[0]), owr(raw[1]);
  if (::pipe2(raw, O_CLOEXEC) != 0) return fail_errno(errno, "pipe");
  UniqueFd efd(raw[0]), ewr(raw[1]);
  auto args = c_argv(argv);
  pid_t pid = ::fork();
  if (pid < 0) return fail_errno(errno, "fork");
  if (pid == 0) {
    ::dup2(owr.get(), 1);
    ::dup2(ewr.get(), 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execvp(args[0], args.data());
    ::dprintf(2, "cannot run %s: %s", args[0], std::strerror(errno));
    ::_exit(127);
  }
  owr.reset();
  ewr.reset();
  ProcessResult r;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool killed = false;
  pollfd fds[2] = {{ofd.get(), POLLIN, 0}, {efd.get(), POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      if (!killed) ::kill(pid, SIGKILL);
      killed = true;
      left = std::chrono::milliseconds(1000);
    }
    int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t k = ::read(fds[i].fd, buf, sizeof buf);
      if (k <= 0) {
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(k));
      }
    }
    if (killed && n == 0) break;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = decode_status(status);
  return r;
}

Result<std::string> run_checked(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  auto r = XG_TRY(run_process(argv, timeout));
  if (r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    std::string err = r.err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return fail(EIO, "`{}` exited {}: {}", cmd, r.exit_code, err);
  }
  return r.out;
}

BackgroundProcess::BackgroundProcess(BackgroundProcess&& o) noexcept : pid_(std::exchange(o.pid_, -1)) {}
BackgroundProcess& BackgroundProcess::operator=(BackgroundProcess&& o) noexcept {
  if (this != &o) {
    stop();
    pid_ = std::exchange(o.pid_, -1);
  }
  return *this;
}
BackgroundProcess::~BackgroundProcess() { stop(); }

Result<BackgroundProcess> BackgroundProcess::start(const std::vector<std::string>& argv,
                                                   const std::string& stdout_file) {
  auto args = c_argv(argv);
  // Opened here, not in the child, so that a file that cannot be written is
  // this call's error rather than a child that silently has no output.
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull) return fail_errno(errno, "open /dev/null");
  UniqueFd file;
  if (!stdout_file.empty()) {
    file.reset(::open(stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!file) return fail_errno(errno, "open " + stdout_file);
  }
  const int out = file ? file.get() : devnull.get();
  pid_t pid = ::fork();
  if (pid < 0) return fail_errno(errno, "fork");
  if (pid == 0) {  // dup2 leaves the copies open across exec
    ::dup2(devnull.get(), 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::setpgid(0, 0);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  BackgroundProcess p;
  p.pid_ = pid;
  return p;
}

bool BackgroundProcess::running() {
  if (pid_ < 0) return false;
  int status;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int BackgroundProcess::stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ < 0) return -1;
  ::kill(pid_, sig);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || r < 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  return decode_status(status);
}

void prefer_huge_page_heap() {
  // The caller's own choice (GLIBC_TUNABLES naming the hugetlb tunable,
  // which glibc has applied by now): left as it is.
  const char* env = std::getenv("GLIBC_TUNABLES");
  if (env && std::string_view(env).find("glibc.malloc.hugetlb") != std::string_view::npos) return;
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  constexpr std::size_t kFirst = std::size_t{64} << 20;
  // One arena (the check of `rule add` runs in a second thread, which
  // would otherwise get an arena of its own in small pages); big buffers
  // from the heap too, not from mmap; the heap grown 32 MiB past each
  // request and never trimmed back below that, so that its end spans whole
  // huge pages when touched.
  constexpr std::size_t kPiece = std::size_t{16} << 20;  // under glibc's largest mmap threshold (32 MiB)
  ::mallopt(M_ARENA_MAX, 1);
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  ::mallopt(M_TOP_PAD, 32 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 128 << 20);
  // The heap's first stretch, grown now and freed again (it stays the
  // heap's free top), marked for transparent huge pages: what is touched
  // of it later faults in 2 MiB at a time. Nothing is touched here but
  // malloc's chunk headers, so the resident memory does not grow.
  const auto begin = reinterpret_cast<std::uintptr_t>(::sbrk(0));
  std::array<void*, kFirst / kPiece> pieces{};
  for (auto& p : pieces) p = std::malloc(kPiece);
  for (void* p : pieces) std::free(p);
  const auto end = reinterpret_cast<std::uintptr_t>(::sbrk(0));
  const std::uintptr_t from = (begin + kHuge - 1) & ~(kHuge - 1), to = end & ~(kHuge - 1);
  if (to > from) ::madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE);
}

std::optional<std::uint64_t> process_start_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return std::nullopt;
  // "PID (COMM) S PPID ...": COMM may hold spaces and parentheses; the
  // fields after its last ')' start at field 3; starttime is field 22.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  std::string f;
  for (int field = 3; fields >> f; ++field)
    if (field == 22) {
      auto v = parse_whole(f, "starttime", 0, UINT64_MAX);
      return v ? std::optional<std::uint64_t>(*v) : std::nullopt;
    }
  return std::nullopt;
}

bool process_alive(pid_t pid, std::uint64_t start) {
  if (pid <= 0) return false;
  const auto now = process_start_ticks(pid);
  return now && *now == start;
}

}  // namespace xdpguard
