#include "core/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace xdpguard {
namespace {

std::atomic<std::int64_t> g_lock_wait_ms{std::chrono::milliseconds(kDefaultLockWait).count()};

// Root, or the user xdpguard runs as (a capability-only setup whose
// runtime directory root made for it).
bool owner_ok(uid_t uid) { return uid == 0 || uid == ::geteuid(); }

Result<void> check_dir(const std::string& dir, const struct stat& st) {
  if (S_ISLNK(st.st_mode)) return fail(ELOOP, "{} is a symlink, not a directory; remove it", dir);
  if (!S_ISDIR(st.st_mode)) return fail(ENOTDIR, "{} is not a directory; remove it", dir);
  if (!owner_ok(st.st_uid)) return fail(EPERM, "{} is owned by uid {}, not root; remove it", dir, st.st_uid);
  if (st.st_mode & 077)
    return fail(EPERM, "{} has mode {:04o}, not 0700 (other users can reach it); remove it", dir,
                st.st_mode & 07777);
  return {};
}

// The parent must not let another user swap the directory: root's, and
// writable only by its owner unless sticky (as /run/lock and /tmp are).
Result<void> check_parent(const std::string& dir) {
  auto slash = dir.find_last_of('/');
  const std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
  struct stat st{};
  if (::stat(parent.c_str(), &st) != 0) return fail_errno(errno, parent);
  if (!owner_ok(st.st_uid)) return fail(EPERM, "{} is owned by uid {}, not root", parent, st.st_uid);
  if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))
    return fail(EPERM, "{} is writable by other users (mode {:04o}); the runtime directory cannot live there",
                parent, st.st_mode & 07777);
  return {};
}

std::string command_line(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/cmdline", pid), std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && s.back() == '\0') s.pop_back();
  for (char& c : s)
    if (c == '\0' || c == '\n') c = ' ';
  constexpr std::size_t kMax = 120;
  if (s.size() > kMax) s = s.substr(0, kMax - 3) + "...";
  return s;
}

std::optional<LockHolder> holder_of(dev_t dev, ino_t ino) {
  std::ifstream in("/proc/locks");
  std::string line;
  const std::string want = fmt::format("{:02x}:{:02x}:{}", major(dev), minor(dev), ino);
  while (std::getline(in, line)) {
    // "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"; waiters have "->".
    std::istringstream f(line);
    std::string id, type, kind, rw, pid, where;
    f >> id >> type;
    if (type == "->") continue;
    f >> kind >> rw >> pid >> where;
    if (type != "FLOCK" || where != want) continue;
    LockHolder h;
    auto [end, ec] = std::from_chars(pid.data(), pid.data() + pid.size(), h.pid);
    if (ec != std::errc() || h.pid <= 0) continue;
    h.command = command_line(h.pid);
    return h;
  }
  return std::nullopt;
}

// Writes "pid command" into a lock file we hold, for a human who looks.
void note_holder(int fd) {
  const std::string s = fmt::format("{} {}\n", ::getpid(), command_line(::getpid()));
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, s.data(), s.size(), 0);
}

// Opens (creating) name in the directory dirfd, refusing what is not ours.
Result<UniqueFd> open_lock(int dirfd, const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600));
  if (!fd) {
    if (errno == ELOOP) return fail(ELOOP, "{} is a symlink; remove it", path);
    return fail_errno(errno, "open lock " + path);
  }
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "lock " + path);
  if (!S_ISREG(st.st_mode)) return fail(EINVAL, "{} is not a regular file; remove it", path);
  if (!owner_ok(st.st_uid)) return fail(EPERM, "{} is owned by uid {}, not root; remove it", path, st.st_uid);
  return fd;
}

}  // namespace

Result<UniqueFd> open_runtime_dir(const std::string& dir) {
  XG_CHECK(check_parent(dir));
  struct stat st{};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return fail_errno(errno, dir);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return fail_errno(errno, "create " + dir);
    if (::lstat(dir.c_str(), &st) != 0) return fail_errno(errno, dir);
  }
  XG_CHECK(check_dir(dir, st));
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail_errno(errno, dir);
  struct stat now{};
  if (::fstat(fd.get(), &now) != 0) return fail_errno(errno, dir);
  if (now.st_dev != st.st_dev || now.st_ino != st.st_ino)
    return fail(EAGAIN, "{} was replaced while it was checked; try again", dir);
  XG_CHECK(check_dir(dir, now));
  return fd;
}

std::optional<LockHolder> lock_holder(int fd) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return std::nullopt;
  return holder_of(st.st_dev, st.st_ino);
}

LockFile& LockFile::operator=(LockFile&& o) noexcept {
  if (this != &o) {
    unlock();
    dir_ = std::move(o.dir_);
    fd_ = std::move(o.fd_);
    name_ = std::move(o.name_);
    remove_ = o.remove_;
  }
  return *this;
}

LockFile::~LockFile() { unlock(); }

void LockFile::unlock() {
  if (!fd_) return;
  // Unlinked while still held: a process that opened the file meanwhile
  // finds, once it has the lock, that the name now means another file.
  if (remove_ && dir_) (void)::unlinkat(dir_.get(), name_.c_str(), 0);
  fd_.reset();
  dir_.reset();
}

Result<std::optional<LockFile>> LockFile::try_lock(const std::string& name, bool remove,
                                                   const std::string& dir) {
  auto dirfd = XG_TRY(open_runtime_dir(dir));
  // A file another holder removed between our open and our lock is no
  // lock any more: open the name again (a few times; each try is a race lost).
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto fd = XG_TRY(open_lock(dirfd.get(), dir, name));
    int rc;
    while ((rc = ::flock(fd.get(), LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
    }
    if (rc != 0) {
      if (errno == EWOULDBLOCK) return std::optional<LockFile>{};
      return fail_errno(errno, "lock " + dir + "/" + name);
    }
    struct stat held{}, named{};
    if (::fstat(fd.get(), &held) != 0) return fail_errno(errno, "lock " + dir + "/" + name);
    if (::fstatat(dirfd.get(), name.c_str(), &named, AT_SYMLINK_NOFOLLOW) != 0 ||
        held.st_ino != named.st_ino || held.st_dev != named.st_dev)
      continue;
    note_holder(fd.get());
    LockFile l;
    l.dir_ = std::move(dirfd);
    l.fd_ = std::move(fd);
    l.name_ = name;
    l.remove_ = remove;
    return std::optional<LockFile>(std::move(l));
  }
  return fail(EAGAIN, "lock {}/{}: its file keeps being replaced; try again", dir, name);
}

Result<LockFile> LockFile::lock(const std::string& name, const std::string& what,
                                std::chrono::milliseconds wait, const std::string& dir) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + wait;
  auto pause = std::chrono::milliseconds(2);
  for (;;) {
    if (auto got = XG_TRY(try_lock(name, false, dir))) return std::move(*got);
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - Clock::now()));
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  std::optional<LockHolder> who;
  if (auto dirfd = open_runtime_dir(dir))
    if (auto fd = open_lock(dirfd->get(), dir, name)) who = lock_holder(fd->get());
  const std::string waited =
      wait.count() > 0 ? fmt::format(" for {:g} s", std::chrono::duration<double>(wait).count()) : "";
  if (!who) return fail(EWOULDBLOCK, "{}: held by another process{}; try again", what, waited);
  return fail(EWOULDBLOCK, "{}: held by pid {} ({}){}; try again", what, who->pid,
              who->command.empty() ? "gone meanwhile" : who->command, waited);
}

void set_lock_wait(std::chrono::milliseconds wait) { g_lock_wait_ms = wait.count(); }
std::chrono::milliseconds lock_wait() { return std::chrono::milliseconds(g_lock_wait_ms.load()); }

}  // namespace xdpguard
