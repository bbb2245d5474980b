// Locks, identity and liveness across an interface's attachments, with the
// real binary and real processes:
// - locks live in root's /run/xdpguard: a local user can neither take nor
//   redirect them, a planted symlink is refused, the old world-writable
//   /run/lock/xdpguard no longer matters, and a wait for a held lock ends
//   (--wait) naming the holder;
// - a command that opened the pins before a detach + attach changes the new
//   attachment (no write into orphaned maps);
// - readers (events, top) notice a detach and stop; the next attachment's
//   reader starts;
// - status removes a vanished interface's pins only under its lock.
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <future>
#include <sstream>

#include "e2e/e2e_support.h"
#include "guard/lock.h"

namespace xdpguard::test {
namespace {

const std::vector<std::string> kNobody = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::uint64_t netns_inode(const LabHost& h) {
  struct stat st{};
  EXPECT_EQ(::stat(("/run/netns/" + h.netns).c_str(), &st), 0);
  return st.st_ino;
}

int ifindex_of(const LabHost& h) {
  int idx = 0;
  EXPECT_TRUE(run_in_netns(h.netns, [&] { idx = static_cast<int>(::if_nametoindex(h.veth.c_str())); }));
  return idx;
}

// The pid of a process whose command line has every one of `words`
// (arguments, in order) and that is stopped (SIGSTOP), or 0.
pid_t stopped_process(const std::vector<std::string>& words) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream c(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(c)), std::istreambuf_iterator<char>());
    std::vector<std::string> args;
    std::istringstream split(cmd);
    for (std::string a; std::getline(split, a, '\0');) args.push_back(a);
    std::size_t at = 0;
    for (const auto& a : args)
      if (at < words.size() && a == words[at]) ++at;
    if (at < words.size()) continue;
    std::ifstream st(e.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(st)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'T')
      return std::stoi(pid);
  }
  return 0;
}

class LifecycleTest : public GuardedLabTest {
 protected:
  const LabHost& srv() const { return lab_->server(); }
  std::string lock_file() const {
    return std::string(kRuntimeDir) + "/" + InterfaceLock::file_name(netns_inode(srv()), ifindex_of(srv()));
  }
  CliRun xg(std::vector<std::string> args) { return xg_srv(*lab_, std::move(args)); }
  // `flock FILE sleep 60` in the background (no fork: the holder is the
  // process that becomes `sleep 60`): holds the lock until stopped.
  BackgroundProcess hold(const std::string& file, const std::vector<std::string>& as = {}) {
    std::vector<std::string> argv = as;
    argv.insert(argv.end(), {"flock", "--no-fork", "-x", file, "sleep", "60"});
    auto p = BackgroundProcess::start(argv);
    EXPECT_TRUE(p) << p.error().message();
    if (!p) return {};
    // Held once /proc/locks names it.
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_TRUE(wait_until([&] { return fd >= 0 && lock_holder(fd).has_value(); }, std::chrono::seconds(30)))
        << "flock did not take " << file;
    if (fd >= 0) ::close(fd);
    return std::move(*p);
  }
  void TearDown() override {
    for (const auto& f : cleanup_) std::filesystem::remove(f);
    GuardedLabTest::TearDown();
  }
  std::vector<std::string> cleanup_;
};

// ---- locks --------------------------------------------------------------

TEST_F(LifecycleTest, RealBinaryKeepsItsLocksInARootOnlyDirectory) {
  struct stat dir{};
  ASSERT_EQ(::lstat(kRuntimeDir, &dir), 0) << kRuntimeDir << " was not created";
  EXPECT_TRUE(S_ISDIR(dir.st_mode));
  EXPECT_EQ(dir.st_uid, 0u);
  EXPECT_EQ(dir.st_mode & 07777, 0700u);
  struct stat file{};
  ASSERT_EQ(::lstat(lock_file().c_str(), &file), 0) << "attach took no lock in " << kRuntimeDir;
  EXPECT_TRUE(S_ISREG(file.st_mode));
  EXPECT_EQ(file.st_uid, 0u);
  EXPECT_EQ(file.st_mode & 077, 0u);
}

TEST_F(LifecycleTest, WaitForAHeldLockEndsNamingTheHolder) {
  auto holder = hold(lock_file());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = xg({"--wait", "2", "rule", "add", srv().veth, "drop udp dport 7300"});
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(
      r.err.find("lock " + srv().veth + ": held by pid " + std::to_string(holder.pid()) + " (sleep 60)"),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("for 2 s; try again"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_GE(waited, std::chrono::milliseconds(1900));
  EXPECT_LT(waited, std::chrono::seconds(20));
  // --wait 0: at once.
  auto now = xg({"--wait", "0", "rule", "add", srv().veth, "drop udp dport 7300"});
  EXPECT_EQ(now.code, 1);
  EXPECT_NE(now.err.find("held by pid " + std::to_string(holder.pid())), std::string::npos) << now.err;
  // Nothing changed meanwhile; once the holder is gone the command goes through.
  EXPECT_EQ(udp_delivered(*lab_, 7300, 5), 5);
  holder.stop();
  auto ok = xg({"--wait", "0", "rule", "add", srv().veth, "drop udp dport 7300"});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(udp_delivered(*lab_, 7300, 5), 0);
}

TEST_F(LifecycleTest, AnUnprivilegedUserCannotTakeOrPlantALock) {
  const std::string file = lock_file();
  // Not the directory's contents, not the lock file, not a new file there.
  auto ls = run_process(concat(kNobody, {"ls", kRuntimeDir}));
  ASSERT_TRUE(ls);
  EXPECT_NE(ls->exit_code, 0) << ls->out;
  auto take = run_process(concat(kNobody, {"flock", "-n", file, "true"}));
  ASSERT_TRUE(take);
  EXPECT_NE(take->exit_code, 0) << "a user took " << file;
  EXPECT_NE(take->err.find("Permission denied"), std::string::npos) << take->err;
  const std::string planted = std::string(kRuntimeDir) + "/" + lab_->prefix() + "-planted";
  auto touch = run_process(concat(kNobody, {"ln", "-s", "/tmp", planted}));
  ASSERT_TRUE(touch);
  EXPECT_NE(touch->exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(planted)));
  // And the interface is free for root's commands at once.
  auto r = xg({"--wait", "0", "rule", "add", srv().veth, "drop udp dport 7301"});
  EXPECT_EQ(r.code, 0) << r.err;
}

// The old lock directory, /run/lock/xdpguard (world-writable parent), held
// by a user: attach does not wait for it. (On the old code it waited for
// ever: no firewall after a boot.) A symlink planted there is not followed.
TEST_F(LifecycleTest, AUserHoldingTheOldLockDirectoryDoesNotStopAttach) {
  ASSERT_EQ(xg({"detach", srv().veth}).code, 0);
  const std::string old_dir = "/run/lock/xdpguard";
  const bool made = !std::filesystem::exists(old_dir);
  if (made) {
    // As the attacker would, after a boot.
    auto mk = run_process(concat(kNobody, {"mkdir", "-m", "0777", old_dir}));
    ASSERT_TRUE(mk && mk->exit_code == 0) << (mk ? mk->err : mk.error().message());
  }
  const std::string old_lock = old_dir + "/ns" + std::to_string(netns_inode(srv())) + "-" +
                               std::to_string(ifindex_of(srv())) + ".lock";
  {
    std::ofstream(old_lock).flush();
  }
  ASSERT_EQ(::chown(old_lock.c_str(), 65534, 65534), 0);
  cleanup_.push_back(old_lock);
  auto holder = hold(old_lock, kNobody);
  auto r = xg({"--wait", "5", "attach", srv().veth, "--default", "drop", "--force"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(udp_delivered(*lab_, 7302, 5), 0) << "attached and enforcing";
  holder.stop();
  std::filesystem::remove(old_lock);
  // A symlink there (the old code created its target as root) is ignored.
  const std::string victim = "/tmp/" + lab_->prefix() + "-victim";
  std::filesystem::remove(victim);
  std::filesystem::create_symlink(victim, old_lock);
  ASSERT_EQ(xg({"detach", srv().veth}).code, 0);
  ASSERT_EQ(xg({"attach", srv().veth}).code, 0);
  EXPECT_FALSE(std::filesystem::exists(victim)) << "a planted symlink was followed";
  std::filesystem::remove(old_lock);
  if (made) std::filesystem::remove(old_dir);
}

// A symlink (made by root here: users cannot reach the directory) in place
// of the lock file is refused, not followed.
TEST_F(LifecycleTest, ALockFileReplacedByASymlinkIsRefused) {
  ASSERT_EQ(xg({"detach", srv().veth}).code, 0);
  const std::string file = lock_file();
  const std::string victim = "/tmp/" + lab_->prefix() + "-victim2";
  std::filesystem::remove(victim);
  ASSERT_TRUE(std::filesystem::remove(file));
  std::filesystem::create_symlink(victim, file);
  cleanup_.push_back(file);
  auto r = xg({"attach", srv().veth});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(file + " is a symlink; remove it"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(victim)) << "the symlink was followed";
  EXPECT_EQ(ip_link(*lab_).find("prog/xdp"), std::string::npos) << "attached without its lock";
  std::filesystem::remove(file);
  EXPECT_EQ(xg({"attach", srv().veth}).code, 0);
}

// The checks themselves, on a directory of the test's own (the real one is
// shared with other xdpguard processes on this machine).
class RuntimeDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    XG_REQUIRE_PRIVILEGES();
    dir_ = fmt::format("/run/xdpguard-test-{}", ::getpid());
    target_ = fmt::format("/tmp/xdpguard-test-{}-target", ::getpid());
    clean();
  }
  void TearDown() override { clean(); }
  void clean() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    std::filesystem::remove_all(target_, ec);
  }
  static std::string error_of(const Result<UniqueFd>& r) { return r ? "" : r.error().message(); }
  std::string dir_, target_;
};

TEST_F(RuntimeDirTest, MadeRootOnlyWhenAbsent) {
  auto fd = open_runtime_dir(dir_);
  ASSERT_TRUE(fd) << fd.error().message();
  struct stat st{};
  ASSERT_EQ(::lstat(dir_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, 0u);
  auto l = LockFile::try_lock("a.lock", false, dir_);
  ASSERT_TRUE(l && *l) << (l ? "busy" : l.error().message());
  ASSERT_EQ(::lstat((dir_ + "/a.lock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // A second try from another open file: busy, not an error.
  auto again = LockFile::try_lock("a.lock", false, dir_);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST_F(RuntimeDirTest, ASymlinkIsRefusedNotFollowed) {
  std::filesystem::create_directory(target_);
  ::chmod(target_.c_str(), 0700);
  std::filesystem::create_directory_symlink(target_, dir_);
  auto fd = open_runtime_dir(dir_);
  EXPECT_EQ(error_of(fd), dir_ + " is a symlink, not a directory; remove it");
  auto l = LockFile::try_lock("a.lock", false, dir_);
  EXPECT_FALSE(l);
  EXPECT_FALSE(std::filesystem::exists(target_ + "/a.lock")) << "created a lock through the symlink";
}

TEST_F(RuntimeDirTest, AnotherOwnerIsRefused) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  ASSERT_EQ(::chown(dir_.c_str(), 65534, 65534), 0);
  EXPECT_EQ(error_of(open_runtime_dir(dir_)), dir_ + " is owned by uid 65534, not root; remove it");
  EXPECT_FALSE(LockFile::try_lock("a.lock", false, dir_));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/a.lock"));
}

TEST_F(RuntimeDirTest, GroupOrOtherAccessIsRefused) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  EXPECT_EQ(error_of(open_runtime_dir(dir_)),
            dir_ + " has mode 0755, not 0700 (other users can reach it); remove it");
}

TEST_F(RuntimeDirTest, ANonDirectoryIsRefused) {
  {
    std::ofstream(dir_).flush();
  }
  EXPECT_EQ(error_of(open_runtime_dir(dir_)), dir_ + " is not a directory; remove it");
}

TEST_F(RuntimeDirTest, LockFilesThatAreNotOursAreRefused) {
  ASSERT_TRUE(open_runtime_dir(dir_));
  // A symlink: not followed (its target is not created).
  std::filesystem::create_symlink(target_, dir_ + "/link.lock");
  auto l = LockFile::try_lock("link.lock", false, dir_);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().message(), dir_ + "/link.lock is a symlink; remove it");
  EXPECT_FALSE(std::filesystem::exists(target_));
  // Another owner.
  {
    std::ofstream(dir_ + "/user.lock").flush();
  }
  ASSERT_EQ(::chown((dir_ + "/user.lock").c_str(), 65534, 65534), 0);
  l = LockFile::try_lock("user.lock", false, dir_);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().message(), dir_ + "/user.lock is owned by uid 65534, not root; remove it");
  // Not a regular file.
  ASSERT_EQ(::mkfifo((dir_ + "/fifo.lock").c_str(), 0600), 0);
  l = LockFile::try_lock("fifo.lock", false, dir_);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().message(), dir_ + "/fifo.lock is not a regular file; remove it");
}

TEST_F(RuntimeDirTest, AFileRemovedByItsHolderIsNoLock) {
  // Holder A (removing its file on release) and B, who opened the same
  // name before A let go: B must not count the unlinked file as the lock.
  auto a = LockFile::try_lock("r.lock", true, dir_);
  ASSERT_TRUE(a && *a);
  (*a)->unlock();  // lets go and removes the file
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/r.lock"));
  auto b = LockFile::try_lock("r.lock", true, dir_);
  auto c = LockFile::try_lock("r.lock", true, dir_);
  ASSERT_TRUE(b && *b);
  ASSERT_TRUE(c);
  EXPECT_FALSE(*c) << "two holders";
}

// ---- no ABA ---------------------------------------------------------------

// A command stopped between opening the pins and taking the lock (the test
// hook XDPGUARD_STOP=guard-lock), a detach and an attach meanwhile, then it
// goes on: its change must be in force on the new attachment, or it must
// fail. (The old code wrote into the old attachment's orphaned maps and
// exited 0.)
class AbaTest : public LifecycleTest {
 protected:
  CliRun across_reattach(std::vector<std::string> args) {
    args.insert(args.begin(), {"-n", srv().netns});
    auto run = std::async(std::launch::async,
                          [args] { return xdpguard_faults_cli(args, {"env", "XDPGUARD_STOP=guard-lock"}); });
    std::vector<std::string> words = {XDPGUARD_FAULT_BIN};
    words.insert(words.end(), args.begin(), args.end());
    pid_t pid = 0;
    EXPECT_TRUE(wait_until([&] { return (pid = stopped_process(words)) != 0; }, std::chrono::seconds(10)))
        << "the command did not stop at its hook";
    EXPECT_EQ(xg({"detach", srv().veth}).code, 0);
    auto att = xg({"attach", srv().veth});
    EXPECT_EQ(att.code, 0) << att.err;
    if (pid) ::kill(pid, SIGCONT);
    return run.get();
  }
};

TEST_F(AbaTest, RuleAddAfterADetachAndAttachIsInForce) {
  auto r = across_reattach({"rule", "add", srv().veth, "drop udp dport 7310"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto list = xg({"rule", "list", srv().veth, "--json"});
  ASSERT_EQ(list.code, 0) << list.err;
  auto rules = nlohmann::json::parse(list.out)["rules"];
  ASSERT_EQ(rules.size(), 1u) << list.out;
  EXPECT_EQ(rules[0]["rule"], "drop udp dport 7310");
  EXPECT_EQ(udp_delivered(*lab_, 7310, 5), 0) << "the rule is not enforced";
}

TEST_F(AbaTest, SetLoadAfterADetachAndAttachIsInForce) {
  const std::string file = "/tmp/" + lab_->prefix() + "-aba-set.txt";
  std::ofstream(file) << lab_->client().ip4 << "\n";
  cleanup_.push_back(file);
  auto r = across_reattach({"set", "load", srv().veth, "s", file});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(xg({"rule", "add", srv().veth, "drop udp dport 7311 saddr @s"}).code, 0);
  EXPECT_EQ(udp_delivered(*lab_, 7311, 5), 0);
}

TEST_F(AbaTest, TalkersOnAndFloodSetAfterADetachAndAttachAreInForce) {
  auto on = across_reattach({"talkers", srv().veth, "on"});
  ASSERT_EQ(on.code, 0) << on.err;
  auto show = xg({"talkers", srv().veth, "--json"});
  EXPECT_EQ(show.code, 0) << "talkers are off on the attachment in force: " << show.err;
  auto set = across_reattach({"flood", srv().veth, "set", "--udp-pps", "12345"});
  ASSERT_EQ(set.code, 0) << set.err;
  auto fl = xg({"flood", srv().veth, "--json"});
  ASSERT_EQ(fl.code, 0) << fl.err;
  EXPECT_NE(fl.out.find("12345"), std::string::npos) << fl.out;
}

TEST_F(AbaTest, RuleAddAfterADetachFailsClearly) {
  std::vector<std::string> args = {"-n", srv().netns, "rule", "add", srv().veth, "drop udp dport 7312"};
  auto run = std::async(std::launch::async,
                        [args] { return xdpguard_faults_cli(args, {"env", "XDPGUARD_STOP=guard-lock"}); });
  std::vector<std::string> words = {XDPGUARD_FAULT_BIN};
  words.insert(words.end(), args.begin(), args.end());
  pid_t pid = 0;
  ASSERT_TRUE(wait_until([&] { return (pid = stopped_process(words)) != 0; }, std::chrono::seconds(10)));
  EXPECT_EQ(xg({"detach", srv().veth}).code, 0);
  ::kill(pid, SIGCONT);
  auto r = run.get();
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("xdpguard was detached meanwhile"), std::string::npos) << r.err;
}

// ---- readers ----------------------------------------------------------------

class ReaderTest : public LifecycleTest {
 protected:
  bool reader_running() {
    auto r = xg({"stats", srv().veth, "--json"});
    if (r.code != 0) return false;
    auto s = nlohmann::json::parse(r.out);
    return s.contains("telemetry") && !s["telemetry"]["reader"].is_null();
  }
};

TEST_F(ReaderTest, EventsStopsOnDetachAndTheNextAttachmentsReaderStarts) {
  auto first = std::async(std::launch::async,
                          [&] { return xg_srv(*lab_, {"events", srv().veth, "--duration", "40"}); });
  ASSERT_TRUE(wait_until([&] { return reader_running(); }, std::chrono::seconds(10)))
      << "events did not start";
  ASSERT_EQ(xg({"detach", srv().veth}).code, 0);
  ASSERT_EQ(xg({"attach", srv().veth}).code, 0);
  // The first reader notices within a few seconds (it looks every second).
  ASSERT_EQ(first.wait_for(std::chrono::seconds(8)), std::future_status::ready)
      << "events kept reading a detached attachment";
  auto r1 = first.get();
  EXPECT_EQ(r1.code, 1);
  EXPECT_NE(r1.err.find("xdpguard: events " + srv().veth + ": xdpguard was detached"), std::string::npos)
      << r1.err;
  // A reader of the new attachment is not refused, and gets its records.
  ASSERT_EQ(xg({"rule", "add", srv().veth, "drop udp dport 7320 log"}).code, 0);
  auto second = std::async(std::launch::async, [&] {
    return xg_srv(*lab_, {"events", srv().veth, "--count", "3", "--duration", "20"});
  });
  ASSERT_TRUE(wait_until([&] { return reader_running(); }, std::chrono::seconds(10)))
      << "the new attachment's reader did not start";
  EXPECT_EQ(udp_delivered(*lab_, 7320, 3), 0);
  auto r2 = second.get();
  EXPECT_EQ(r2.code, 0) << r2.err;
  EXPECT_EQ(std::count(r2.out.begin(), r2.out.end(), '\n'), 3) << r2.out;
}

TEST_F(ReaderTest, ADetachWithoutAnAttachStopsEventsToo) {
  auto first = std::async(std::launch::async,
                          [&] { return xg_srv(*lab_, {"events", srv().veth, "--duration", "40"}); });
  ASSERT_TRUE(wait_until([&] { return reader_running(); }, std::chrono::seconds(10)));
  ASSERT_EQ(xg({"detach", srv().veth}).code, 0);
  ASSERT_EQ(first.wait_for(std::chrono::seconds(8)), std::future_status::ready);
  auto r = first.get();
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("xdpguard was detached"), std::string::npos) << r.err;
}

TEST_F(ReaderTest, TopStopsOnDetach) {
  auto top =
      std::async(std::launch::async, [&] { return xg_srv(*lab_, {"top", srv().veth, "--interval", "0.5"}); });
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_EQ(xg({"detach", srv().veth}).code, 0);
  ASSERT_EQ(top.wait_for(std::chrono::seconds(8)), std::future_status::ready) << "top kept going";
  auto r = top.get();
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("xdpguard: top " + srv().veth + ": xdpguard was detached"), std::string::npos)
      << r.err;
}

// ---- status and vanished interfaces -------------------------------------------

// The server's veth goes away (its namespace stays). A status run while a
// command holds the interface's lock leaves the pins for later; the next
// status, with the lock free, removes them.
TEST_F(LifecycleTest, StatusRemovesAVanishedInterfacesPinsOnlyUnderItsLock) {
  const std::string pins = fmt::format("/sys/fs/bpf/xdpguard/ns{}/{}", netns_inode(srv()), ifindex_of(srv()));
  const std::string file = lock_file();
  ASSERT_TRUE(std::filesystem::exists(pins));
  auto holder = hold(file);
  auto del = run_process({"ip", "-n", srv().netns, "link", "del", srv().veth});
  ASSERT_TRUE(del && del->exit_code == 0) << (del ? del->err : del.error().message());
  auto st = xg({"status"});
  EXPECT_EQ(st.code, 0) << st.err;
  EXPECT_TRUE(std::filesystem::exists(pins)) << "status removed pins while a command held their lock";
  holder.stop();
  st = xg({"status"});
  EXPECT_EQ(st.code, 0) << st.err;
  EXPECT_FALSE(std::filesystem::exists(pins)) << "the vanished interface's pins stayed";
}

}  // namespace
}  // namespace xdpguard::test
