// Pins of dead network namespaces: a namespace deleted while xdpguard is
// attached leaves its pins (and so its maps) in bpffs; `status --all` shows
// it gone and `gc` removes its pins, while namespaces something still keeps
// alive (a bind mount, a process) are left alone.
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "bpf/abi.h"
#include "e2e/e2e_support.h"
#include "guard/gc.h"

namespace xdpguard::test {
namespace {

namespace fs = std::filesystem;

// A namespace of this test with a dummy interface in it (named by the pid).
class GcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    XG_REQUIRE_PRIVILEGES();
    prefix_ = "xg" + std::to_string(::getpid()) + "g";
  }
  void TearDown() override {
    for (const auto& n : made_) {
      (void)run_process({"ip", "netns", "del", n}, std::chrono::seconds(10));
    }
    if (!keep_.empty()) {
      ::umount2(keep_.c_str(), MNT_DETACH);
      fs::remove(keep_);
    }
    (void)xdpguard_cli({"gc"});
  }

  // A namespace with a veth pair inside, xdpguard attached to one end.
  // Returns the namespace's inode (its pin directory is ns<inode>).
  std::uint64_t attached_namespace(const std::string& suffix) {
    std::string ns = prefix_ + suffix;
    made_.push_back(ns);
    for (const std::vector<std::string>& cmd :
         {std::vector<std::string>{"ip", "netns", "add", ns},
          {"ip", "-n", ns, "link", "add", "name", "gca", "type", "veth", "peer", "name", "gcb"},
          {"ip", "-n", ns, "link", "set", "dev", "gca", "up"},
          {"ip", "-n", ns, "link", "set", "dev", "gcb", "up"}}) {
      auto r = run_checked(cmd);
      EXPECT_TRUE(r) << r.error().message();
    }
    auto att = xdpguard_cli({"-n", ns, "attach", "gca"});
    EXPECT_EQ(att.code, 0) << att.err;
    struct stat st{};
    EXPECT_EQ(::stat(("/run/netns/" + ns).c_str(), &st), 0);
    return st.st_ino;
  }

  static std::string pins(std::uint64_t netns) {
    return std::string(kDefaultBpffs) + "/xdpguard/ns" + std::to_string(netns);
  }

  static nlohmann::json namespace_entry(std::uint64_t netns) {
    auto r = xdpguard_cli({"status", "--all", "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    const auto doc = nlohmann::json::parse(r.out);  // the loop must not outlive it
    for (const auto& n : doc["namespaces"])
      if (n["netns"].get<std::uint64_t>() == netns) return n;
    return nullptr;
  }

  // The id of a map pinned for the namespace, to check it is really freed.
  static std::string map_id(std::uint64_t netns) {
    auto e = namespace_entry(netns);
    if (e.is_null() || e["interfaces"].empty()) {
      ADD_FAILURE() << "no pinned state for netns " << netns << ": " << xdpguard_cli({"status", "--all"}).out;
      return "";
    }
    std::string dir = pins(netns) + "/" + std::to_string(e["interfaces"][0]["ifindex"].get<int>());
    auto r = run_checked({"bpftool", "-j", "map", "show", "pinned", dir + "/" + XDPGUARD_PIN_META});
    if (!r) return "";
    return std::to_string(nlohmann::json::parse(*r)["id"].get<unsigned>());
  }

  std::string prefix_, keep_;
  std::vector<std::string> made_;
};

TEST_F(GcTest, DeadNamespaceIsListedAndCollected) {
  auto netns = attached_namespace("d");
  std::string id = map_id(netns);
  ASSERT_FALSE(id.empty());
  auto live = namespace_entry(netns);
  ASSERT_FALSE(live.is_null());
  EXPECT_TRUE(live["alive"].get<bool>());
  EXPECT_EQ(live["interfaces"][0]["interface"], "gca");

  ASSERT_TRUE(run_checked({"ip", "netns", "del", made_.back()}));
  made_.pop_back();
  auto dead = namespace_entry(netns);
  ASSERT_FALSE(dead.is_null()) << "the pins outlive the namespace";
  EXPECT_FALSE(dead["alive"].get<bool>());
  EXPECT_TRUE(fs::exists(pins(netns)));
  EXPECT_TRUE(run_checked({"bpftool", "map", "show", "id", id})) << "the pins keep the maps";

  auto gc = xdpguard_cli({"gc"});
  EXPECT_EQ(gc.code, 0) << gc.err;
  EXPECT_NE(gc.out.find("ns" + std::to_string(netns)), std::string::npos) << gc.out;
  EXPECT_FALSE(fs::exists(pins(netns)));
  EXPECT_TRUE(namespace_entry(netns).is_null());
  // Unpinned, the maps go once the kernel's deferred free has run.
  const bool freed = wait_until([&] { return !run_checked({"bpftool", "map", "show", "id", id}); },
                                std::chrono::seconds(30));
  EXPECT_TRUE(freed) << "map " << id << " still exists";
}

// A namespace deleted with the SYN proxy on took its nftables table and
// sysctls with it: gc has nothing to undo, and removes the namespace's SYN
// proxy record (xg_sp_ns) with the rest of its pins.
TEST_F(GcTest, ADeadNamespaceWithTheSynproxyOnIsCollectedWithItsRecord) {
  auto netns = attached_namespace("s");
  auto en = xdpguard_cli({"-n", made_.back(), "synproxy", "enable", "gca", "--ports", "80"});
  ASSERT_EQ(en.code, 0) << en.err;
  ASSERT_TRUE(fs::exists(pins(netns) + "/" + XDPGUARD_PIN_SYNPROXY_NS));
  ASSERT_TRUE(run_checked({"ip", "netns", "del", made_.back()}));
  made_.pop_back();
  auto gc = xdpguard_cli({"gc"});
  EXPECT_EQ(gc.code, 0) << gc.err;
  EXPECT_FALSE(fs::exists(pins(netns)));
}

TEST_F(GcTest, NamespacesKeptAliveAreLeftAlone) {
  // One kept by a bind mount elsewhere, one by a process inside it.
  auto by_mount = attached_namespace("m");
  keep_ = "/tmp/" + prefix_ + "keep";
  {
    std::ofstream(keep_).put('\n');
  }
  ASSERT_EQ(::mount(("/run/netns/" + made_.back()).c_str(), keep_.c_str(), nullptr, MS_BIND, nullptr), 0)
      << std::strerror(errno);
  ASSERT_TRUE(run_checked({"ip", "netns", "del", made_.back()}));
  made_.pop_back();

  auto by_process = attached_namespace("p");
  auto sleeper = BackgroundProcess::start({"ip", "netns", "exec", made_.back(), "sleep", "120"});
  ASSERT_TRUE(sleeper) << sleeper.error().message();
  const std::string want = "net:[" + std::to_string(by_process) + "]";
  ASSERT_TRUE(wait_until([&] {  // the sleeper has entered the namespace
    std::error_code ec;
    auto ns = fs::read_symlink("/proc/" + std::to_string(sleeper->pid()) + "/ns/net", ec);
    return !ec && ns.string() == want;
  }));
  ASSERT_TRUE(run_checked({"ip", "netns", "del", made_.back()}));
  made_.pop_back();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  auto gc = xdpguard_cli({"gc"});
  EXPECT_EQ(gc.code, 0) << gc.err;
  EXPECT_TRUE(fs::exists(pins(by_mount))) << gc.out;
  EXPECT_TRUE(fs::exists(pins(by_process))) << gc.out;
  EXPECT_TRUE(namespace_entry(by_mount)["alive"].get<bool>());
  EXPECT_TRUE(namespace_entry(by_process)["alive"].get<bool>());

  // Let both go: now they are garbage.
  sleeper->stop();
  ASSERT_EQ(::umount2(keep_.c_str(), MNT_DETACH), 0);
  fs::remove(keep_);
  keep_.clear();
  gc = xdpguard_cli({"gc"});
  EXPECT_EQ(gc.code, 0) << gc.err;
  EXPECT_FALSE(fs::exists(pins(by_mount))) << gc.out;
  EXPECT_FALSE(fs::exists(pins(by_process))) << gc.out;
}

}  // namespace
}  // namespace xdpguard::test
