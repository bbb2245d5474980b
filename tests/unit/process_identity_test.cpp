// A process named by its pid and start time (core/process.h): what
// commit-confirm's watcher uses to wait for the command still making a
// change, without mistaking a later process that got the same pid.
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "core/process.h"

namespace xdpguard {
namespace {

TEST(ProcessIdentity, ALiveProcessIsItsPidAndStartTime) {
  const auto start = process_start_ticks(::getpid());
  ASSERT_TRUE(start);
  EXPECT_EQ(process_start_ticks(::getpid()), start) << "stable while it lives";
  EXPECT_TRUE(process_alive(::getpid(), *start));
  EXPECT_FALSE(process_alive(::getpid(), *start + 1)) << "another process with this pid";
  EXPECT_FALSE(process_alive(0, *start));
}

TEST(ProcessIdentity, AProcessThatEndedIsNotAlive) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  const auto start = process_start_ticks(child);
  ASSERT_TRUE(start);
  EXPECT_TRUE(process_alive(child, *start));
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_FALSE(process_alive(child, *start));
  EXPECT_FALSE(process_start_ticks(child));
}

// A local user names its process so that a parser that split
// /proc/PID/stat at the first ')' would read a start time of its choosing:
// the start time is the same under either name.
TEST(ProcessIdentity, ANameWithParenthesesAndFieldsDoesNotMoveTheStartTime) {
  int go[2], ready[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char c = 0;
    if (::read(go[0], &c, 1) != 1) ::_exit(1);
    ::prctl(PR_SET_NAME, "a) R 1 2 3 4 5", 0, 0, 0);  // 15 bytes: all comm holds
    if (::write(ready[1], "r", 1) != 1) ::_exit(1);
    ::pause();
    ::_exit(0);
  }
  const auto before = process_start_ticks(child);
  ASSERT_TRUE(before);
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  std::string comm;
  std::getline(std::ifstream("/proc/" + std::to_string(child) + "/comm"), comm);
  EXPECT_EQ(comm, "a) R 1 2 3 4 5");
  EXPECT_EQ(process_start_ticks(child), before);
  EXPECT_TRUE(process_alive(child, *before));
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  for (int fd : {go[0], go[1], ready[0], ready[1]}) ::close(fd);
}

}  // namespace
}  // namespace xdpguard
