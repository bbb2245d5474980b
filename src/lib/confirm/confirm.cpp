#include "confirm/confirm.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <filesystem>
#include <thread>

#include <spdlog/spdlog.h>

#include "apply/apply.h"
#include "core/process.h"
#include "core/unique_fd.h"
#include "guard/guard.h"
#include "guard/lock.h"
#include "telemetry/flood_monitor.h"

namespace xdpguard::confirm {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kMaxRecordBytes = 64u << 20;

std::uint64_t boot_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1000000;
}

double unix_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string record_name(std::uint64_t netns, int ifindex) {
  return fmt::format("ns{}-{}.confirm", netns, ifindex);
}
std::string watch_name(std::uint64_t netns, int ifindex) {
  return fmt::format("ns{}-{}.watch", netns, ifindex);
}
std::string pins_dir(std::uint64_t netns, int ifindex) {
  return PinPaths{kDefaultBpffs, netns, ifindex}.dir() + "/confirm";
}

// The record file in root's runtime directory: a regular file of root's
// (O_NOFOLLOW, fstat), at most 64 MiB; nullopt when there is none.
Result<std::optional<Record>> read_record(int dirfd, const std::string& name) {
  const std::string what = std::string(kRuntimeDir) + "/" + name;
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<Record>{};
    return fail_errno(errno, "open " + what);
  }
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "stat " + what);
  if (!S_ISREG(st.st_mode) || st.st_uid != 0) return fail(EPERM, "{}: not a regular file of root's", what);
  if (static_cast<std::size_t>(st.st_size) > kMaxRecordBytes)
    return fail(EFBIG, "{}: {} bytes, more than a record holds", what, st.st_size);
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(errno, "read " + what);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  auto r = XG_TRY(from_json(text, what));
  const std::string root = PinPaths{kDefaultBpffs, r.netns_id, r.ifindex}.dir() + "/confirm/";
  for (const auto& k : r.state.kept_sets)
    if (k.pin4.rfind(root, 0) != 0 || k.pin6.rfind(root, 0) != 0 || k.pin4.find("..") != std::string::npos ||
        k.pin6.find("..") != std::string::npos)
      return fail(EINVAL, "{}: set {}: its pins are not under {}", what, k.name, root);
  return std::optional<Record>(std::move(r));
}

// Written whole or not at all (a temporary file renamed over it).
Result<void> write_record(int dirfd, const std::string& name, const Record& r) {
  const std::string tmp = name + ".new";
  const std::string text = to_json(r);
  UniqueFd fd(::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return fail_errno(errno, fmt::format("create {}/{}", kRuntimeDir, tmp));
  std::size_t put = 0;
  while (put < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + put, text.size() - put);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(errno, fmt::format("write {}/{}", kRuntimeDir, tmp));
    put += static_cast<std::size_t>(n);
  }
  if (::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) != 0)
    return fail_errno(errno, fmt::format("rename {}/{}", kRuntimeDir, tmp));
  return {};
}

void remove_pins(std::uint64_t netns, int ifindex) {
  std::error_code ec;
  fs::remove_all(pins_dir(netns, ifindex), ec);  // unlinking a pin drops its reference
}

// The watcher's pid, 0 when none holds the interface's watch lock.
pid_t watcher_of(int dirfd, std::uint64_t netns, int ifindex) {
  const auto name = watch_name(netns, ifindex);
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return 0;
  auto who = lock_holder(fd.get());
  return who ? who->pid : 0;
}

// `xdpguard confirm --watch IFACE` in a session of its own, stdio on
// /dev/null, reparented to init: nothing of the caller's (its terminal,
// its process group, its ssh session) can take it down.
Result<void> spawn_watcher(const std::string& ifname) {
  std::string exe = fs::read_symlink("/proc/self/exe").string();
  pid_t pid = ::fork();
  if (pid < 0) return fail_errno(errno, "fork the confirm watcher");
  if (pid == 0) {
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::close_range(3, ~0U, 0);
    ::execl("/proc/self/exe", exe.c_str(), "confirm", "--watch", ifname.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return {};
}

Result<void> ensure_watcher(int dirfd, std::uint64_t netns, const Interface& iface) {
  if (watcher_of(dirfd, netns, iface.ifindex)) return {};
  return spawn_watcher(iface.name);
}

void log_event(int prio, const std::string& line) {
  ::openlog("xdpguard", LOG_PID, LOG_DAEMON);
  ::syslog(prio, "%s", line.c_str());
  ::closelog();
}

// The interface's lock, whether xdpguard is on it or not, with the Guard
// when it is.
struct Locked {
  std::unique_ptr<Guard> guard;
  std::optional<Guard::Hold> hold;
  InterfaceLock lock;  // when no Guard
};

Result<Locked> lock_interface(const Interface& iface, std::uint64_t netns) {
  for (int round = 0;; ++round) {
    Locked l;
    auto g = Guard::open(iface);
    if (g) {
      l.guard = std::make_unique<Guard>(std::move(*g));
      auto h = l.guard->hold();
      if (h) {
        l.hold.emplace(std::move(*h));
        return l;
      }
      if (h.error().code() != ENOENT) return tl::unexpected(std::move(h.error()));
      l.guard.reset();  // detached while it waited
    } else if (g.error().code() != ENOENT) {
      return tl::unexpected(std::move(g.error()));
    }
    l.lock = XG_TRY(InterfaceLock::acquire(netns, iface.ifindex, iface.name));
    // Not attached when we looked; but an attach that held the lock while
    // we waited for it has finished now (its pins were only staged): that
    // attachment is the one to roll back or keep. Round again for its
    // Guard (the lock goes with `l`). A few rounds: attach after attach
    // would otherwise keep us going.
    if (round < 8 && Guard::open(iface)) continue;
    return l;
  }
}

std::uint32_t meta_id_of(const Locked& l) { return l.guard ? l.guard->attachment().meta_id : 0; }

// The record pending for this attachment (a record of an attachment gone
// since, or one that is over, is not).
// A record of a change that attached xdpguard is pending for any
// attachment: its rollback detaches.
bool pending_for(const Record& r, const Interface& iface, const Locked& l) {
  return r.iface == iface.name && r.outcome.empty() && (!r.attached || r.meta_id == meta_id_of(l));
}

}  // namespace

Result<Armed> arm(const Interface& iface, std::chrono::seconds window, const std::string& change) {
  Armed a;
  a.iface = iface;
  a.netns_id = XG_TRY(current_netns_id());
  auto dir = XG_TRY(open_runtime_dir());
  const auto name = record_name(a.netns_id, iface.ifindex);
  {
    auto l = XG_TRY(lock_interface(iface, a.netns_id));
    auto prev = XG_TRY(read_record(dir.get(), name));
    a.previous = prev;
    if (prev && pending_for(*prev, iface, l)) {
      a.extended = true;
      a.record = *prev;
    } else {
      Record& r = a.record;
      r.iface = iface.name;
      r.ifindex = iface.ifindex;
      r.netns_id = a.netns_id;
      r.armed_unix = unix_now();
      remove_pins(a.netns_id, iface.ifindex);
      if (l.guard) {
        Guard& g = *l.guard;
        r.attached = true;
        r.meta_id = meta_id_of(l);
        r.state = XG_TRY(g.keep_state(pins_dir(a.netns_id, iface.ifindex)));
        r.flood = XG_TRY(XG_TRY(telemetry::FloodMaps::open(g)).config());
        r.extras = XG_TRY(apply::current_extras(g));
      }
    }
    a.record.deadline_boot_ms = boot_ms() + static_cast<std::uint64_t>(window.count()) * 1000;
    a.record.deadline_unix = unix_now() + static_cast<double>(window.count());
    a.record.changes.push_back(change);
    a.record.making_pid = static_cast<std::uint32_t>(::getpid());
    a.record.making_start = process_start_ticks(::getpid()).value_or(0);
    XG_CHECK(write_record(dir.get(), name, a.record));
  }
  if (auto w = ensure_watcher(dir.get(), a.netns_id, iface); !w) {
    disarm(a);
    return tl::unexpected(std::move(w.error()));
  }
  return a;
}

void disarm(const Armed& a) {
  auto run = [&]() -> Result<void> {
    auto dir = XG_TRY(open_runtime_dir());
    auto l = XG_TRY(lock_interface(a.iface, a.netns_id));
    const auto name = record_name(a.netns_id, a.iface.ifindex);
    if (!a.extended) remove_pins(a.netns_id, a.iface.ifindex);
    if (a.previous) return write_record(dir.get(), name, *a.previous);
    if (::unlinkat(dir.get(), name.c_str(), 0) != 0 && errno != ENOENT)
      return fail_errno(errno, "remove " + name);
    return {};
  };
  if (auto r = run(); !r)
    spdlog::error("{}: take back the pending confirm of a change that failed: {}", a.iface.name,
                  r.error().message());
}

void landed(const Armed& a) {
  auto run = [&]() -> Result<void> {
    auto dir = XG_TRY(open_runtime_dir());
    auto l = XG_TRY(lock_interface(a.iface, a.netns_id));
    const auto name = record_name(a.netns_id, a.iface.ifindex);
    auto r = XG_TRY(read_record(dir.get(), name));
    if (!r || r->making_pid != static_cast<std::uint32_t>(::getpid()) || r->armed_unix != a.record.armed_unix)
      return {};  // over already, or another change's
    r->making_pid = 0;
    r->making_start = 0;
    return write_record(dir.get(), name, *r);
  };
  if (auto r = run(); !r)
    spdlog::warn("{}: mark the confirmed change as made: {} (its rollback may wait for this process to end)",
                 a.iface.name, r.error().message());
}

Result<Record> confirm(const Interface& iface) {
  const auto netns = XG_TRY(current_netns_id());
  auto dir = XG_TRY(open_runtime_dir());
  const auto name = record_name(netns, iface.ifindex);
  auto l = XG_TRY(lock_interface(iface, netns));
  auto r = XG_TRY(read_record(dir.get(), name));
  // A record of another interface that had this index in a namespace that
  // had this inode (both are reused), or of an attachment gone since.
  if (r && (r->iface != iface.name || (!r->outcome.empty() && r->attached && r->meta_id != meta_id_of(l)))) {
    (void)::unlinkat(dir.get(), name.c_str(), 0);
    r.reset();
  }
  if (!r) return fail(ENOENT, "no change made with --confirm is pending");
  if (!r->outcome.empty())
    return fail(ENOENT, "no change is pending: the last one was {} at {}", r->outcome,
                clock_text(r->outcome_unix));
  if (!pending_for(*r, iface, l)) {
    (void)::unlinkat(dir.get(), name.c_str(), 0);
    remove_pins(netns, iface.ifindex);
    return fail(ENOENT, "no change is pending: xdpguard was detached or attached again since it was made");
  }
  r->outcome = "confirmed";
  r->outcome_unix = unix_now();
  XG_CHECK(write_record(dir.get(), name, *r));
  remove_pins(netns, iface.ifindex);
  log_event(LOG_NOTICE, fmt::format("{}: confirmed ({} change{})", iface.name, r->changes.size(),
                                    r->changes.size() == 1 ? "" : "s"));
  return *r;
}

Result<std::vector<Status>> status() {
  const auto netns = XG_TRY(current_netns_id());
  auto dir = XG_TRY(open_runtime_dir());
  const std::string prefix = fmt::format("ns{}-", netns);
  std::vector<Status> out;
  for (const auto& e : fs::directory_iterator(kRuntimeDir)) {
    const auto fname = e.path().filename().string();
    if (fname.rfind(prefix, 0) != 0 || e.path().extension() != ".confirm") continue;
    std::optional<Record> rec = XG_TRY(read_record(dir.get(), fname));
    if (!rec) continue;
    // A record of an interface that is gone (or whose index another one
    // has now): nothing to show or do.
    if (auto now = find_interface(rec->ifindex); !now || now->name != rec->iface) {
      (void)::unlinkat(dir.get(), fname.c_str(), 0);
      continue;
    }
    Status s;
    s.record = std::move(*rec);
    s.pending = s.record.outcome.empty();
    if (s.pending) {
      const auto now = boot_ms();
      s.seconds_left = s.record.deadline_boot_ms > now
                           ? static_cast<double>(s.record.deadline_boot_ms - now) / 1000.0
                           : 0.0;
      s.watcher = watcher_of(dir.get(), netns, s.record.ifindex);
      if (!s.watcher) {
        // A record nobody watches (its watcher was killed): one again.
        auto iface = find_interface(s.record.ifindex);
        if (iface && iface->name == s.record.iface && spawn_watcher(iface->name)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          s.watcher = watcher_of(dir.get(), netns, s.record.ifindex);
        }
      }
    }
    out.push_back(std::move(s));
  }
  std::stable_sort(out.begin(), out.end(), [](const Status& a, const Status& b) {
    return std::tuple(!a.pending, a.record.iface) < std::tuple(!b.pending, b.record.iface);
  });
  return out;
}

namespace {

// Under the interface lock: the record's state back in force (or the
// attachment gone, when the change was the attach). Returns the outcome.
Result<std::string> roll_back(Locked& l, const Interface& iface, const Record& r) {
  if (!r.attached) {
    if (!l.guard) return std::string("rolled back (xdpguard was not attached; it is not now)");
    XG_CHECK(Guard::detach(iface, l.hold ? l.hold->lock() : l.lock));
    return std::string("rolled back (detached: xdpguard was not attached before)");
  }
  if (!l.guard) return std::string("dropped (xdpguard was detached meanwhile)");
  Guard& g = *l.guard;
  XG_CHECK_CTX(apply::put_synproxy(g, r.extras.synproxy), "the SYN proxy");
  XG_CHECK(apply::put_in_force(g, r.state, r.flood, r.extras.talkers));
  return std::string("rolled back");
}

}  // namespace

Result<void> watch(const Interface& iface) {
  const auto netns = XG_TRY(current_netns_id());
  auto dir = XG_TRY(open_runtime_dir());
  const auto name = record_name(netns, iface.ifindex);
  auto mine = XG_TRY(LockFile::try_lock(watch_name(netns, iface.ifindex)));
  if (!mine) return {};  // another watcher has it
  for (;;) {
    auto r = XG_TRY(read_record(dir.get(), name));
    if (!r || !r->outcome.empty()) {
      // Over. Let go first, then look again: an arm() that wrote a record
      // meanwhile saw this watcher alive and started none.
      mine->unlock();
      r = XG_TRY(read_record(dir.get(), name));
      if (!r || !r->outcome.empty()) return {};
      mine = XG_TRY(LockFile::try_lock(watch_name(netns, iface.ifindex)));
      if (!mine) return {};
      continue;
    }
    const auto now = boot_ms();
    if (now < r->deadline_boot_ms) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::min<std::uint64_t>(r->deadline_boot_ms - now, 200)));
      continue;
    }
    // The change still being made by a live command: its rollback comes
    // once it has landed (outside the lock, which that command needs).
    auto making = [&](const Record& rec) {
      return rec.making_pid &&
             boot_ms() < rec.deadline_boot_ms + static_cast<std::uint64_t>(kMakingGrace.count()) * 1000 &&
             process_alive(static_cast<pid_t>(rec.making_pid), rec.making_start);
    };
    if (making(*r)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    // The deadline: under the interface lock, the record read again (a
    // confirm or an extension may have come first).
    auto found = find_interface(iface.ifindex);
    if (!found || found->name != r->iface) {
      r->outcome = "dropped (the interface is gone)";
      r->outcome_unix = unix_now();
      XG_CHECK(write_record(dir.get(), name, *r));
      remove_pins(netns, iface.ifindex);
      log_event(LOG_WARNING, fmt::format("{}: pending change dropped: the interface is gone", r->iface));
      continue;
    }
    auto l = lock_interface(*found, netns);
    if (!l) {
      spdlog::warn("{}: rollback waits for the lock: {}", iface.name, l.error().message());
      continue;  // held for over the wait: try again
    }
    r = XG_TRY(read_record(dir.get(), name));
    if (!r || !r->outcome.empty() || boot_ms() < r->deadline_boot_ms || making(*r)) continue;
    std::string outcome;
    if (r->attached && r->meta_id != meta_id_of(*l)) {
      outcome = l->guard ? "dropped (xdpguard was detached and attached again meanwhile)"
                         : "dropped (xdpguard was detached meanwhile)";
    } else {
      auto done = roll_back(*l, *found, *r);
      outcome = done ? *done : "rollback failed: " + done.error().message();
    }
    r->outcome = outcome;
    r->outcome_unix = unix_now();
    XG_CHECK(write_record(dir.get(), name, *r));
    if (outcome.rfind("rollback failed", 0) != 0) remove_pins(netns, iface.ifindex);
    log_event(outcome.rfind("rolled back", 0) == 0 ? LOG_WARNING : LOG_ERR,
              fmt::format("{}: not confirmed within the window: {}; changes: {}", r->iface, outcome,
                          fmt::join(r->changes, "; ")));
  }
}

}  // namespace xdpguard::confirm
