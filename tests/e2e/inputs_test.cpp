// Outside input that cannot hurt (issue 16): the real binary in a lab, fed
// what a careless operator or a local user would give it.
//   - capture files: a symlink or a file planted by another user in a 1777
//     directory is refused and left as it was; a new file is 0600;
//   - numeric options: --duration nan exits 2 at once instead of spinning;
//   - config and set files: nesting, size and type bounded before parsing
//     (a deep TOML header crashed attach --config with SIGSEGV; /dev/zero or
//     a FIFO as a set file was read for ever);
//   - rule ids: a deleted rule's id is not handed out again, and its metrics
//     series is gone;
//   - a deleted `redirect dev` target: later rule changes still work, the
//     rule drops what it matches, a device of that name is used again.
#include <pwd.h>
#include <sys/stat.h>

#include <fstream>

#include <fmt/format.h>

#include "e2e_support.h"

namespace xdpguard::test {
namespace {

namespace fs = std::filesystem;

// Runs argv as user nobody (65534), the local unprivileged user of THREATS.md.
void as_nobody(std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
  auto r = run_process(argv, std::chrono::seconds(10));
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->exit_code, 0) << argv.back() << ": " << r->err;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string temp_dir(const std::string& name) {
  std::string tmpl = "/tmp/" + name + "-XXXXXX";
  EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

bool one_line(const CliRun& r) { return std::count(r.err.begin(), r.err.end(), '\n') == 1; }

class InputsTest : public GuardedLabTest {
 protected:
  void TearDown() override {
    if (lab_)
      for (const auto& i : attached_) (void)srv({"detach", i});  // pins outlive the lab's namespace
    GuardedLabTest::TearDown();
    for (const auto& d : dirs_) fs::remove_all(d);
  }
  std::string dir(const std::string& name) {
    dirs_.push_back(temp_dir(name));
    return dirs_.back();
  }
  CliRun srv(std::vector<std::string> args) { return xg_srv(*lab_, std::move(args)); }
  const std::string& veth() const { return lab_->server().veth; }
  std::uint32_t add_rule(const std::string& rule) {
    auto r = srv({"rule", "add", veth(), rule});
    EXPECT_EQ(r.code, 0) << rule << ": " << r.err;
    return static_cast<std::uint32_t>(std::stoul(r.out.empty() ? "0" : r.out));
  }
  std::vector<std::string> dirs_;
  std::vector<std::string> attached_;  // besides the server's veth
};

TEST_F(InputsTest, CaptureRefusesFilesAnotherUserPlanted) {
  // A shared drop directory a user made (1777, owned by that user): the
  // kernel's fs.protected_symlinks/protected_regular do not cover it.
  const std::string shared = dir("xg-capture");
  ASSERT_EQ(::chown(shared.c_str(), 65534, 65534), 0);
  ASSERT_EQ(::chmod(shared.c_str(), 01777), 0);
  const std::string secret = dir("xg-secret");  // 0700, root's
  const std::string victim = secret + "/victim";
  std::ofstream(victim) << "precious\n";
  as_nobody({"ln", "-s", victim, shared + "/link.pcap"});
  as_nobody({"sh", "-c", "umask 0; : > " + shared + "/planted.pcap"});

  auto r = srv({"capture", veth(), "-w", shared + "/link.pcap", "--duration", "1"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(one_line(r)) << r.err;
  EXPECT_NE(r.err.find("refusing to write " + shared + "/link.pcap: it is a symbolic link"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(read_file(victim) == "precious\n") << "the symlink's target was written";

  r = srv({"capture", veth(), "-w", shared + "/planted.pcap", "--duration", "1"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(one_line(r)) << r.err;
  EXPECT_NE(r.err.find("refusing to write " + shared + "/planted.pcap: it belongs to uid 65534"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(fs::file_size(shared + "/planted.pcap"), 0u) << "the planted file got the capture";

  // A new file: root's, 0600, a pcap file. Replacing it again is fine.
  for (int i = 0; i < 2; ++i) {
    r = srv({"capture", veth(), "-w", shared + "/mine.pcap", "--duration", "1"});
    ASSERT_EQ(r.code, 0) << r.err;
    struct stat st{};
    ASSERT_EQ(::lstat((shared + "/mine.pcap").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(read_file(shared + "/mine.pcap").substr(0, 4), std::string("\xd4\xc3\xb2\xa1", 4));
  }
  // -w - writes stdout.
  r = srv({"capture", veth(), "-w", "-", "--duration", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 4), std::string("\xd4\xc3\xb2\xa1", 4));
}

// `--duration nan` made events spin a CPU for ever (NaN compares false with
// everything, so the loop never expired); every numeric option now takes a
// finite number in a stated range and says so at once.
TEST_F(InputsTest, NumericOptionsOutOfRangeExitAtOnce) {
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"events", veth(), "--duration", "nan"},
       "--duration: expected seconds between 0.001 and 31536000, got \"nan\""},
      {{"events", veth(), "--duration", "1e300"}, "--duration: expected seconds between 0.001 and 31536000"},
      {{"events", veth(), "--count", "-1"},
       "--count: expected a whole number between 1 and 9223372036854775808"},
      {{"capture", veth(), "-w", "-", "--duration", "inf"}, "--duration: expected seconds between"},
      {{"top", veth(), "--interval", "nan"}, "--interval: expected seconds between 0.1 and 3600"},
      {{"talkers", veth(), "--count", "-1"}, "--count: expected a whole number between 1 and"},
      {{"flood", veth(), "set", "--hold", "nan"}, "--hold: expected seconds between 1 and 3600"},
      {{"rule", "del", veth(), "--", "-1"}, "ID: expected a rule id between 1 and 16384"},
  };
  for (const auto& c : cases) {
    const auto t0 = std::chrono::steady_clock::now();
    auto args = c.args;
    args.insert(args.begin(), {XDPGUARD_BIN, "-n", lab_->server().netns});
    auto r = run_process(args, std::chrono::seconds(10));
    ASSERT_TRUE(r) << r.error().message();
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r->exit_code, 2) << fmt::format("{}", fmt::join(c.args, " ")) << ": " << r->err;
    EXPECT_LT(took, 5.0) << fmt::format("{}", fmt::join(c.args, " "));
    EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
    EXPECT_NE(r->err.find(c.error), std::string::npos) << r->err;
  }
}

// The binary on a config of 100,000 nested header parts, under the usual
// 8 MiB stack: SIGSEGV before, one line naming line and column now.
TEST_F(InputsTest, DeeplyNestedConfigIsRefusedNotACrash) {
  const std::string d = dir("xg-config");
  std::string parts;
  for (int i = 0; i < 100'000; ++i) parts += i ? ".a" : "a";
  const std::vector<std::pair<std::string, std::string>> files = {
      {"header.toml", "# deep\n[" + parts + "]\n"},
      {"key.toml", "[interfaces." + veth() + "]\n" + parts + " = 1\n"},
      {"inline.toml", "x = {" + parts + " = 1}\n"},
  };
  for (const auto& [name, text] : files) {
    std::ofstream(d + "/" + name) << text;
    auto r = run_process({"prlimit", "--stack=8388608", XDPGUARD_BIN, "-n", lab_->server().netns, "attach",
                          veth(), "--config", d + "/" + name},
                         std::chrono::seconds(30));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->exit_code, 1) << name << " (139: SIGSEGV): " << r->err;
    EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
    EXPECT_NE(r->err.find(": nested more than 32 levels deep"), std::string::npos) << r->err;
    EXPECT_NE(r->err.find(d + "/" + name + " line "), std::string::npos) << r->err;
  }
}

// A set file that is not a regular file: /dev/zero was read until memory
// ran out, a FIFO without a writer blocked for ever. Refused at once, with
// the file's name, by `set load` and by attach --config.
TEST_F(InputsTest, SetFilesMustBeRegularFiles) {
  const std::string d = dir("xg-sets");
  ASSERT_EQ(::mkfifo((d + "/fifo").c_str(), 0600), 0);
  for (const std::string& file : {std::string("/dev/zero"), d + "/fifo"}) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = xdpguard_cli({"-n", lab_->server().netns, "set", "load", veth(), "s", file});
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_LT(took, 10.0) << file;
    EXPECT_TRUE(one_line(r)) << r.err;
    EXPECT_NE(r.err.find(file + ": not a regular file"), std::string::npos) << r.err;
  }
  ASSERT_EQ(srv({"detach", veth()}).code, 0);
  std::ofstream(d + "/conf.toml") << "[interfaces." << veth() << "]\nrules = [\"drop saddr @z\"]\n"
                                  << "[sets.z]\nfile = \"/dev/zero\"\n";
  auto r = srv({"attach", veth(), "--config", d + "/conf.toml"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("line 4: set z: /dev/zero: not a regular file (a character device)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(srv({"status"}).out.find(veth()), std::string::npos) << "attached anyway";
}

// A deleted rule's id is not handed out to the next rule: the metrics
// series of the deleted rule disappears instead of silently counting for
// another rule.
TEST_F(InputsTest, RuleIdsAreNotReusedAndDeletedSeriesDisappear) {
  EXPECT_EQ(add_rule("drop udp dport 7000"), 1u);
  EXPECT_EQ(add_rule("drop udp dport 7001"), 2u);
  ASSERT_EQ(srv({"rule", "del", veth(), "1"}).code, 0);
  EXPECT_EQ(add_rule("pass udp dport 7002"), 3u) << "the deleted rule's id was handed out again";
  auto m = srv({"metrics", "--once"});
  ASSERT_EQ(m.code, 0) << m.err;
  auto series = [&](std::uint32_t id) {
    return m.out.find(fmt::format("xdpguard_rule_packets_total{{interface=\"{}\",rule_id=\"{}\"", veth(),
                                  id)) != std::string::npos;
  };
  EXPECT_FALSE(series(1)) << m.out;
  EXPECT_TRUE(series(2)) << m.out;
  EXPECT_TRUE(series(3)) << m.out;
  // The new rule starts at zero.
  ASSERT_EQ(udp_delivered(*lab_, 7002, 3), 3);
  auto list = nlohmann::json::parse(srv({"rule", "list", veth(), "--json"}).out);
  for (const auto& r : list["rules"])
    if (r["id"] == 3) {
      EXPECT_EQ(r["packets"], 3) << list.dump();
    }
}

// `redirect dev T` once T is deleted: nftables' `fwd to` semantics (the rule
// stays, its packets are dropped); later rule changes work, with a warning;
// a new T is used from the next change on.
TEST_F(InputsTest, DeletedRedirectTargetDropsAndLaterChangesWork) {
  const std::string ns = lab_->server().netns;
  const std::string target = lab_->prefix() + "rd";  // in the server's namespace: goes with the lab
  auto make_target = [&] {
    ASSERT_TRUE(
        run_checked({"ip", "-n", ns, "link", "add", target, "type", "veth", "peer", "name", target + "p"}));
    ASSERT_TRUE(run_checked({"ip", "-n", ns, "link", "set", target, "up"}));
    ASSERT_TRUE(run_checked({"ip", "-n", ns, "link", "set", target + "p", "up"}));
  };
  make_target();
  const std::uint32_t redirect = add_rule("redirect dev " + target + " udp dport 7000");
  const std::uint32_t other = add_rule("drop udp dport 7001");
  ASSERT_TRUE(run_checked({"ip", "-n", ns, "link", "del", target}));

  // Every later change still compiles; the commands that show rules warn.
  const std::string gone = fmt::format(
      "xdpguard: warning: rule id {}: redirect dev {}: no such interface: the "
      "packets it matches are dropped",
      redirect, target);
  auto r = srv({"rule", "add", veth(), "drop udp dport 7003"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find(gone), std::string::npos) << r.err;
  ASSERT_EQ(srv({"rule", "del", veth(), std::to_string(other)}).code, 0);
  r = srv({"rule", "list", veth()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find(gone), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("redirect dev " + target + " udp dport 7000"), std::string::npos) << "the rule stays";
  r = srv({"rule", "plan", veth()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find(gone), std::string::npos) << r.err;
  // A new rule must name a device that exists, as in nft.
  r = srv({"rule", "add", veth(), "redirect dev " + target + " udp dport 7004"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("redirect dev " + target + ": no such interface"), std::string::npos) << r.err;

  // What the rule matches is dropped; the rest still arrives.
  EXPECT_EQ(udp_delivered(*lab_, 7000, 5), 0);
  EXPECT_EQ(udp_delivered(*lab_, 7002, 5), 5);
  auto s = stats_json(*lab_);
  for (const auto& rule : s["rules"])
    if (rule["id"] == redirect) {
      EXPECT_EQ(rule["packets"], 5) << s.dump();
    }

  // The device comes back: from the next change on, the rule redirects to
  // it (and still nothing reaches the server's socket). A veth takes
  // redirected frames only when its peer runs an XDP program: xdpguard on
  // the peer, whose counters say what arrived there.
  make_target();
  const std::string peer = target + "p";
  ASSERT_EQ(srv({"attach", peer}).code, 0);
  attached_.push_back(peer);
  ASSERT_EQ(srv({"rule", "add", veth(), "drop udp dport 7005"}).code, 0);
  r = srv({"rule", "list", veth()});
  EXPECT_EQ(r.err.find("no such interface"), std::string::npos) << r.err;
  auto arrived = [&] {
    auto p = srv({"stats", peer, "--json"});
    return p.code == 0 ? nlohmann::json::parse(p.out)["parse"]["ipv4"]["packets"].get<std::uint64_t>() : 0;
  };
  const std::uint64_t before = arrived();
  EXPECT_EQ(udp_delivered(*lab_, 7000, 5), 0);
  EXPECT_TRUE(wait_until([&] { return arrived() >= before + 5; }))
      << "the packets were not redirected to the new " << target << ": " << arrived() - before << " arrived";
}

}  // namespace
}  // namespace xdpguard::test
