// Every error a user can meet in the foundation gives exit != 0 and exactly
// one clear line on stderr.
#include "e2e_support.h"

namespace xdpguard::test {
namespace {

void expect_one_line(const CliRun& r, int code, const std::string& line) {
  EXPECT_EQ(r.code, code) << r.out << r.err;
  EXPECT_EQ(r.err, line + "\n");
}

TEST(Errors, NoSuchInterface) {
  XG_REQUIRE_PRIVILEGES();
  auto lab = Lab::create({.ipv6 = false});
  ASSERT_TRUE(lab) << lab.error().message();
  expect_one_line(xg_srv(*lab, {"attach", "nosuch0"}), 1, "xdpguard: attach nosuch0: no such interface");
  expect_one_line(xg_srv(*lab, {"stats", "nosuch0"}), 1, "xdpguard: stats nosuch0: no such interface");
}

TEST(Errors, NoSuchNetns) {
  XG_REQUIRE_PRIVILEGES();
  expect_one_line(xdpguard_cli({"-n", "xg-no-such-ns", "status"}), 1,
                  "xdpguard: network namespace \"xg-no-such-ns\" not found");
}

TEST(Errors, NotRoot) {
  XG_REQUIRE_PRIVILEGES();
  // setuid to nobody drops every capability.
  auto r = xdpguard_cli({"status"}, {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"});
  expect_one_line(r, 1, "xdpguard: status: permission denied (need root, or CAP_BPF and CAP_NET_ADMIN)");
}

TEST(Errors, BpffsUnavailable) {
  XG_REQUIRE_PRIVILEGES();
  // A private mount namespace without the bpffs, and no CAP_SYS_ADMIN to
  // mount one or to join another mount namespace.
  std::string cmd = "umount -l /sys/fs/bpf 2>/dev/null; exec capsh --drop=cap_sys_admin -- -c '" +
                    std::string(XDPGUARD_BIN) + " status'";
  auto r = run_process({"unshare", "-m", "--propagation", "private", "sh", "-c", cmd});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 1) << r->out << r->err;
  EXPECT_EQ(r->err,
            "xdpguard: status: bpffs is not mounted at /sys/fs/bpf and mounting it failed: "
            "Operation not permitted\n");
}

// Two commands started together on a host without the bpffs mount one: a
// second bpffs mounted over the first would hide the pins made in it from
// every later command (a clean machine's parallel tests once left two).
// The first stops just before its mount (xdpguard-faults,
// XDPGUARD_STOP=bpffs-mount); the second runs meanwhile and must wait for
// it, not mount its own.
TEST(Errors, CommandsStartedTogetherWithoutABpffsMountOne) {
  XG_REQUIRE_PRIVILEGES();
  // A private mount namespace without the bpffs, and a PID namespace, so
  // that no ancestor in another mount namespace (whose bpffs a command
  // would join) is in sight. Bounded waits: about 10 s for the stop; the
  // second gets about 3 s to mount its own (without the lock it does so
  // in milliseconds; with it, it waits for the first until that goes on).
  const std::string mounts = "awk '$5 == \"/sys/fs/bpf\" && $(NF-2) == \"bpf\"' /proc/self/mountinfo | wc -l";
  const std::string cmd =
      "umount -l /sys/fs/bpf 2>/dev/null; XDPGUARD_STOP=bpffs-mount " + std::string(XDPGUARD_FAULT_BIN) +
      " status >/dev/null 2>&1 & first=$!; i=0; "
      "until [ \"$(cut -d' ' -f3 /proc/$first/stat)\" = T ] || [ $i -ge 1000 ]; do "
      "sleep 0.01; i=$((i+1)); done; " +
      std::string(XDPGUARD_BIN) + " status >/dev/null 2>&1 & second=$!; i=0; until [ $(" + mounts +
      ") -gt 0 ] || [ $i -ge 300 ]; do sleep 0.01; i=$((i+1)); done; "
      "kill -CONT $first; wait $first; a=$?; wait $second; b=$?; "
      "echo \"first $a second $b mounts $(" +
      mounts + ")\"";
  auto r =
      run_process({"unshare", "-m", "-p", "-f", "--mount-proc", "--propagation", "private", "sh", "-c", cmd});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->out, "first 0 second 0 mounts 1\n")
      << "bpffs mounts at /sys/fs/bpf after two commands at once";
}

// A command killed while it holds the bpffs mount's lock (just before its
// mount) leaves nothing held: the kernel drops the flock with the process,
// and the next command mounts the bpffs at once.
TEST(Errors, ACommandKilledBeforeItsBpffsMountLeavesNothingHeld) {
  XG_REQUIRE_PRIVILEGES();
  const std::string mounts = "awk '$5 == \"/sys/fs/bpf\" && $(NF-2) == \"bpf\"' /proc/self/mountinfo | wc -l";
  const std::string cmd = "umount -l /sys/fs/bpf 2>/dev/null; XDPGUARD_FAULT=bpffs-mount " +
                          std::string(XDPGUARD_FAULT_BIN) + " status >/dev/null 2>&1; a=$?; " +
                          std::string(XDPGUARD_BIN) + " --wait 5 status >/dev/null 2>&1; b=$?; " +
                          "echo \"killed $a next $b mounts $(" + mounts + ")\"";
  auto r =
      run_process({"unshare", "-m", "-p", "-f", "--mount-proc", "--propagation", "private", "sh", "-c", cmd});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->out, "killed 137 next 0 mounts 1\n");  // 137: SIGKILL
}

TEST(Errors, AlreadyAttachedIsRefusedAndFirstAttachmentUntouched) {
  XG_REQUIRE_PRIVILEGES();
  auto lab = Lab::create({.ipv6 = false});
  ASSERT_TRUE(lab) << lab.error().message();
  ASSERT_EQ(xg_srv(*lab, {"attach", lab->server().veth, "--mode", "native"}).code, 0);
  auto st = nlohmann::json::parse(xg_srv(*lab, {"status", "--json"}).out);
  unsigned id = st["interfaces"][0]["program_id"];
  expect_one_line(xg_srv(*lab, {"attach", lab->server().veth, "--mode", "generic"}), 1,
                  "xdpguard: attach " + lab->server().veth +
                      ": already attached (native mode, "
                      "program id " +
                      std::to_string(id) + "); detach it first");
  auto st2 = nlohmann::json::parse(xg_srv(*lab, {"status", "--json"}).out);
  EXPECT_EQ(st2["interfaces"][0]["program_id"], id);
  EXPECT_EQ(xg_srv(*lab, {"detach", lab->server().veth}).code, 0);
}

TEST(Errors, DetachOrStatsWithoutXdpguard) {
  XG_REQUIRE_PRIVILEGES();
  auto lab = Lab::create({.ipv6 = false});
  ASSERT_TRUE(lab) << lab.error().message();
  const std::string& v = lab->server().veth;
  expect_one_line(xg_srv(*lab, {"detach", v}), 1, "xdpguard: detach " + v + ": no xdpguard attached");
  expect_one_line(xg_srv(*lab, {"stats", v}), 1,
                  "xdpguard: stats " + v + ": no xdpguard attached (run: xdpguard attach " + v + ")");
}

TEST(Errors, ForeignXdpProgramIsNamed) {
  XG_REQUIRE_PRIVILEGES();
  auto lab = Lab::create({.ipv6 = false});
  ASSERT_TRUE(lab) << lab.error().message();
  const std::string& v = lab->server().veth;
  // A program attached with iproute2, outside any libxdp dispatcher.
  const std::string obj = std::string(XDP_TOOLS_BPF_DIR) + "/xdpfilt_alw_all.o";
  auto ip = run_checked(
      {"ip", "-n", lab->server().netns, "link", "set", "dev", v, "xdpdrv", "obj", obj, "sec", "xdp"});
  ASSERT_TRUE(ip) << ip.error().message();
  auto r = xg_srv(*lab, {"attach", v});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("xdpguard: attach " + v +
                       ": interface already has XDP program "
                       "\"xdpfilt_alw_all\""),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("remove it first (ip link set dev <iface> xdp off)"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // Still there, untouched.
  EXPECT_NE(ip_link(*lab).find("xdpfilt_alw_all"), std::string::npos);
}

TEST(Errors, UnknownSubcommandAndOption) {
  auto r = xdpguard_cli({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "xdpguard: unknown subcommand \"frobnicate\" (see xdpguard --help)\n");
  auto o = xdpguard_cli({"status", "--frob"});
  EXPECT_EQ(o.code, 2);
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  EXPECT_NE(o.err.find("--frob"), std::string::npos) << o.err;
  auto m = xdpguard_cli({"attach", "veth0", "--mode", "turbo"});
  EXPECT_EQ(m.code, 2);
  EXPECT_NE(m.err.find("turbo"), std::string::npos) << m.err;
  auto h = xdpguard_cli({"attach", "--help"});
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("Example: xdpguard attach"), std::string::npos) << h.out;
}

}  // namespace
}  // namespace xdpguard::test
