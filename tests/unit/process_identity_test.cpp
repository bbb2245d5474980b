// A process named by its pid and start time (core/process.h): what
// commit-confirm's watcher uses to wait for the command still making a
// change, without mistaking a later process that got the same pid.
#include <sys/wait.h>
#include <unistd.h>

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

}  // namespace
}  // namespace xdpguard
