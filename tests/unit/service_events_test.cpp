// The service's event log (rotation at its size) and its check of the
// config file (service/daemon.h); the notification protocol's parsing of
// $WATCHDOG_USEC (service/notify.h).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "service/daemon.h"
#include "service/notify.h"

namespace xdpguard::service {
namespace {

class ServiceFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("xg-svc-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(ServiceFiles, EventsRotateAtTheirSize) {
  const auto path = (dir_ / "events").string();
  EventLog log(path, 100);
  const std::string line(39, 'x');  // 40 bytes with the newline
  ASSERT_TRUE(log.write(line));
  ASSERT_TRUE(log.write(line));
  EXPECT_FALSE(std::filesystem::exists(path + ".1"));
  ASSERT_TRUE(log.write(line));  // 120 bytes: rotated
  EXPECT_TRUE(std::filesystem::exists(path + ".1"));
  EXPECT_EQ(std::filesystem::file_size(path + ".1"), 120u);
  ASSERT_TRUE(log.write(line));
  EXPECT_EQ(std::filesystem::file_size(path), 40u);
}

TEST_F(ServiceFiles, ConfigFileMustBeTrusted) {
  const auto path = (dir_ / "x.toml").string();
  std::ofstream(path) << "\n";
  ::chmod(path.c_str(), 0644);
  EXPECT_TRUE(check_config_file(path));
  ::chmod(path.c_str(), 0664);
  auto r = check_config_file(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("writable by its group (mode 0664)"), std::string::npos)
      << r.error().message();
  ::chmod(path.c_str(), 0602);
  r = check_config_file(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("writable by everyone"), std::string::npos);
  EXPECT_FALSE(check_config_file(dir_.string()));  // not a regular file
  EXPECT_FALSE(check_config_file((dir_ / "missing").string()));
}

TEST(ServiceNotify, WatchdogIntervalIsOnlyOurs) {
  ::unsetenv("WATCHDOG_PID");
  ::setenv("WATCHDOG_USEC", "3000000", 1);
  EXPECT_EQ(watchdog_interval(), std::chrono::microseconds(3000000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_EQ(watchdog_interval(), std::nullopt);  // another process's
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("WATCHDOG_USEC", "3s", 1);
  EXPECT_EQ(watchdog_interval(), std::nullopt);  // not a number
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_TRUE(notify("READY=1"));  // nobody listens: nothing to do
  ::setenv("NOTIFY_SOCKET", "relative/path", 1);
  EXPECT_FALSE(notify("READY=1"));
  ::unsetenv("NOTIFY_SOCKET");
}

}  // namespace
}  // namespace xdpguard::service
