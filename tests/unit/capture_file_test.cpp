// The capture file (telemetry/capture.h): created 0600, never through a
// symbolic link, never into a FIFO or a file with other links; a file of the
// caller's is replaced. The same as another user (a planted file in a 1777
// directory) is tests/e2e/capture_file_test.cpp, which needs root.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "telemetry/capture.h"

namespace xdpguard::telemetry {
namespace {

namespace fs = std::filesystem;

class CaptureFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "xg-capture-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  static void write(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
  }
  static Result<PcapWriter> open(const fs::path& p) { return PcapWriter::open({p.string(), 128, ""}); }
  static mode_t mode_of(const fs::path& p) {
    struct stat st{};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0);
    return st.st_mode & 07777;
  }

  fs::path dir_;
};

TEST_F(CaptureFile, NewFileIsPrivate) {
  const auto umask_was = ::umask(0);  // not even a permissive umask opens it up
  auto w = open(dir_ / "new.pcap");
  ::umask(umask_was);
  ASSERT_TRUE(w) << w.error().message();
  ASSERT_TRUE(w->close());
  EXPECT_EQ(mode_of(dir_ / "new.pcap"), 0600u);
  EXPECT_EQ(fs::file_size(dir_ / "new.pcap"), 24u) << "the pcap file header";
}

TEST_F(CaptureFile, OwnFileIsReplaced) {
  write(dir_ / "old.pcap", std::string(1000, 'x'));
  fs::permissions(dir_ / "old.pcap", fs::perms(0644));
  auto w = open(dir_ / "old.pcap");
  ASSERT_TRUE(w) << w.error().message();
  ASSERT_TRUE(w->close());
  EXPECT_EQ(fs::file_size(dir_ / "old.pcap"), 24u) << "truncated, then the header";
  EXPECT_EQ(mode_of(dir_ / "old.pcap"), 0600u);
}

TEST_F(CaptureFile, SymlinkRefusedTargetUntouched) {
  write(dir_ / "victim", "precious");
  fs::create_symlink(dir_ / "victim", dir_ / "link.pcap");
  auto w = open(dir_ / "link.pcap");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().message(),
            "refusing to write " + (dir_ / "link.pcap").string() + ": it is a symbolic link");
  EXPECT_EQ(read(dir_ / "victim"), "precious");
  // A dangling one is not followed to create its target either.
  fs::create_symlink(dir_ / "nothing-yet", dir_ / "dangling.pcap");
  EXPECT_FALSE(open(dir_ / "dangling.pcap"));
  EXPECT_FALSE(fs::exists(dir_ / "nothing-yet"));
}

TEST_F(CaptureFile, HardLinkRefused) {
  write(dir_ / "victim", "precious");
  fs::create_hard_link(dir_ / "victim", dir_ / "hard.pcap");
  auto w = open(dir_ / "hard.pcap");
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message().find("it has 2 hard links"), std::string::npos) << w.error().message();
  EXPECT_EQ(read(dir_ / "victim"), "precious");
}

TEST_F(CaptureFile, FifoAndDirectoryRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((dir_ / "fifo.pcap").c_str(), 0600), 0);
  auto w = open(dir_ / "fifo.pcap");  // nobody reads it: must not wait for a reader
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message().find("it is a FIFO"), std::string::npos) << w.error().message();
  fs::create_directory(dir_ / "d.pcap");
  w = open(dir_ / "d.pcap");
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message().find(dir_ / "d.pcap"), std::string::npos) << w.error().message();
}

}  // namespace
}  // namespace xdpguard::telemetry
