// What `status` shows of `redirect xsk`'s consumers: the records
// Guard::add_xsk keeps (guard.h), the holders of a socket found in /proc
// (xsk/diag.h: a socket of this process, one closed), and the table and JSON
// with each interface's sockets under it (report/format.h). AF_XDP sockets
// themselves are the e2e tests' (tests/e2e/xsk_test.cpp).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "guard/guard.h"
#include "report/format.h"
#include "xsk/diag.h"

namespace xdpguard {
// Named (not anonymous): lint checks every unit test file in one unit.
namespace xsk_status_test {

std::uint64_t inode_of(int fd) {
  struct stat st{};
  EXPECT_EQ(::fstat(fd, &st), 0);
  return st.st_ino;
}

TEST(XskStatus, RecordsRoundTripPerInterfaceAndBadOnesAreIgnored) {
  if (::geteuid() != 0) GTEST_SKIP() << "the runtime directory must be root's";
  std::string dir = "/tmp/xg-xskrec-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  ASSERT_TRUE(Guard::write_xsk_record(7, 3, {2, 4242}, dir));
  ASSERT_TRUE(Guard::write_xsk_record(7, 3, {0, 17}, dir));
  ASSERT_TRUE(Guard::write_xsk_record(7, 4, {0, 99}, dir));  // another interface
  ASSERT_TRUE(Guard::write_xsk_record(8, 3, {0, 98}, dir));  // another namespace
  std::ofstream(dir + "/ns7-3-q5.xsk") << "junk\n";          // not an inode: ignored
  std::ofstream(dir + "/ns7-3-qx.xsk") << "5\n";             // not a queue: ignored
  auto r = Guard::xsk_records(7, 3, dir);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, (std::vector<Guard::XskRecord>{{0, 17}, {2, 4242}}));
  // A new socket on the queue replaces the record; removing it removes it.
  ASSERT_TRUE(Guard::write_xsk_record(7, 3, {2, 5000}, dir));
  Guard::remove_xsk_record(7, 3, 0, dir);
  r = Guard::xsk_records(7, 3, dir);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<Guard::XskRecord>{{2, 5000}}));
  std::filesystem::remove_all(dir);
}

TEST(XskStatus, ASocketsHoldersAreFoundAndAClosedOneHasNone) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  const std::uint64_t open_ino = inode_of(a.get()), closed_ino = inode_of(b.get());
  b.reset();
  auto info = xsk::inspect_sockets({open_ino, closed_ino});
  ASSERT_EQ(info.size(), 2u);
  const auto& open = info[open_ino];
  ASSERT_EQ(open.owners.size(), 1u);
  EXPECT_EQ(open.owners[0].pid, ::getpid());
  EXPECT_EQ(open.owners[0].fd, a.get());
  EXPECT_FALSE(open.owners[0].command.empty());
  // Not an AF_XDP socket: its mode and counters are unknown, not made up.
  EXPECT_FALSE(open.zerocopy);
  EXPECT_FALSE(open.kernel);
  EXPECT_STREQ(open.mode(), "unknown");
  EXPECT_TRUE(info[closed_ino].owners.empty());
  EXPECT_TRUE(xsk::inspect_sockets({}).empty());
}

TEST(XskStatus, StatusShowsEachInterfacesSocketsUnderIt) {
  GuardStatus eth1;
  eth1.ifname = "eth1";
  eth1.ifindex = 7;
  eth1.mode = "native";
  eth1.prog_id = 42;
  eth1.attached = true;
  GuardStatus eth2 = eth1;
  eth2.ifname = "eth2";
  eth2.ifindex = 8;
  xsk::SocketInfo s;
  s.inode = 4242;
  s.owners = {{1234, "xdpguard", 5}};
  s.zerocopy = false;
  s.kernel = xsk::XdpStatistics{1, 2, 5, 3, 4, 6};
  const std::vector<xsk::BoundSocket> sockets = {{7, 3, s}};

  const std::string t = status_table({eth1, eth2}, sockets);
  const auto at1 = t.find("eth1"), at2 = t.find("eth2"), sock = t.find("  AF_XDP queue 3: copy mode");
  ASSERT_NE(sock, std::string::npos) << t;
  EXPECT_LT(at1, sock) << t;
  EXPECT_LT(sock, at2) << "under its own interface: " << t;
  EXPECT_NE(t.find("copy mode, pid 1234 (xdpguard); dropped: no free frame 1, rx ring full 3\n"),
            std::string::npos)
      << t;

  auto j = status_json({eth1, eth2}, sockets);
  ASSERT_EQ(j["interfaces"].size(), 2u);
  const auto& x = j["interfaces"][0]["xsk_sockets"];
  ASSERT_EQ(x.size(), 1u) << j.dump();
  EXPECT_EQ(x[0]["queue"], 3);
  EXPECT_EQ(x[0]["mode"], "copy");
  EXPECT_EQ(x[0]["inode"], 4242);
  EXPECT_EQ(x[0]["processes"][0]["pid"], 1234);
  EXPECT_EQ(x[0]["processes"][0]["command"], "xdpguard");
  EXPECT_EQ(x[0]["kernel"]["rx_ring_full"], 3);
  EXPECT_TRUE(j["interfaces"][1]["xsk_sockets"].empty());
  EXPECT_FALSE(j.contains("xsk_error"));

  // Mode unknown (its fd out of reach): null in JSON, said in the table.
  s.zerocopy.reset();
  s.kernel.reset();
  EXPECT_TRUE(status_json({eth1}, {{7, 3, s}})["interfaces"][0]["xsk_sockets"][0]["mode"].is_null());
  EXPECT_NE(status_table({eth1}, {{7, 3, s}}).find("queue 3: unknown mode, pid 1234 (xdpguard)\n"),
            std::string::npos);

  // They could not be listed: said, not an empty list.
  auto e = status_json({eth1}, {}, "no runtime directory");
  EXPECT_TRUE(e["interfaces"][0]["xsk_sockets"].is_null());
  EXPECT_EQ(e["xsk_error"], "no runtime directory");
  EXPECT_NE(
      status_table({eth1}, {}, "no runtime directory").find("AF_XDP sockets not shown: no runtime directory"),
      std::string::npos);
}

}  // namespace xsk_status_test
}  // namespace xdpguard
