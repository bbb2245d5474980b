#include "lab/bgp_lab.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace xdpguard {

namespace {
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

Result<std::unique_ptr<BgpLab>> BgpLab::create(const BgpLabOptions& opts) {
  std::unique_ptr<BgpLab> b(new BgpLab());
  b->opts_ = opts;
  for (int i = 0; i < opts.edges; ++i)
    b->labs_.push_back(XG_TRY(Lab::create({.ipv6 = false, .prefix = "xb21"})));
  b->ctl_ = fmt::format("xb21{}-ctl", ::getpid());
  b->dir_ = fmt::format("/tmp/xb21{}-bgp", ::getpid());
  std::filesystem::create_directories(b->dir_);
  XG_TRY_CTX(run_checked({"ip", "netns", "add", b->ctl_}), "bgp lab");
  XG_TRY_CTX(run_checked({"ip", "-n", b->ctl_, "link", "set", "lo", "up"}), "bgp lab");
  std::string neighbors;
  for (int i = 0; i < opts.edges; ++i) {
    const Lab& lab = b->labs_[static_cast<std::size_t>(i)];
    const std::string k = fmt::format("xb21{}k{}", ::getpid(), i),
                      e = fmt::format("xb21{}e{}", ::getpid(), i);
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"ip", "-n", b->ctl_, "link", "add", k, "type", "veth", "peer", "name", e, "netns",
              lab.server().netns},
             {"ip", "-n", b->ctl_, "addr", "add", fmt::format("198.19.{}.1/24", i + 1), "dev", k},
             {"ip", "-n", b->ctl_, "link", "set", k, "up"},
             {"ip", "-n", lab.server().netns, "addr", "add", fmt::format("198.19.{}.2/24", i + 1), "dev", e},
             {"ip", "-n", lab.server().netns, "link", "set", e, "up"},
             {opts.xdpguard, "-n", lab.server().netns, "attach", lab.server().veth}})
      XG_TRY_CTX(run_checked(argv), "bgp lab");
    neighbors += fmt::format(
        "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"198.19.{0}.2\"\n    peer-as = {1}\n"
        "  [neighbors.timers.config]\n    connect-retry = 1\n    hold-time = 9\n    keepalive-interval = 3\n"
        "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = "
        "\"ipv4-flowspec\"\n"
        "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = "
        "\"ipv6-flowspec\"\n",
        i + 1, 65010 + i);
    std::ofstream f(b->dir_ + fmt::format("/exabgp{}.conf", i));
    f << fmt::format(
        "process xdpguard {{\n  run {0} -n {1} flowspec {2} --exabgp --stale-time {3} --state {4};\n"
        "  encoder json;\n}}\n"
        "neighbor 198.19.{5}.1 {{\n  router-id 198.19.{5}.2;\n  local-address 198.19.{5}.2;\n"
        "  local-as {6};\n  peer-as 65001;\n  hold-time 9;\n  capability {{ route-refresh; }}\n"
        "  family {{ ipv4 flow; ipv6 flow; }}\n"
        "  api {{ processes [ xdpguard ]; neighbor-changes; receive {{ parsed; update; }} }}\n}}\n",
        opts.xdpguard, lab.server().netns, lab.server().veth, opts.stale_seconds, b->state_file(i), i + 1,
        65010 + i);
  }
  {
    std::ofstream f(b->dir_ + "/gobgpd.toml");
    f << "[global.config]\n  as = 65001\n  router-id = \"198.19.1.1\"\n" << neighbors;
  }
  XG_CHECK(b->start_controller());
  b->exabgp_.resize(static_cast<std::size_t>(opts.edges));
  if (!opts.start_exabgp) return b;
  for (int i = 0; i < opts.edges; ++i) XG_CHECK(b->start_edge(i));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (b->established() < opts.edges) {
    if (std::chrono::steady_clock::now() > deadline)
      return fail(ETIMEDOUT, "bgp lab: {} of {} sessions up after 60 s\n{}", b->established(), opts.edges,
                  b->logs());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (int i = 0; i < opts.edges; ++i)
    while (!std::filesystem::exists(b->state_file(i))) {
      if (std::chrono::steady_clock::now() > deadline)
        return fail(ETIMEDOUT, "bgp lab: no consumer\n{}", b->logs());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  return b;
}

BgpLab::~BgpLab() {
  for (auto& p : exabgp_) p.stop(SIGTERM);
  gobgpd_.stop(SIGKILL);
  for (const auto& lab : labs_)
    (void)run_process({opts_.xdpguard, "-n", lab.server().netns, "detach", lab.server().veth});
  if (!ctl_.empty()) (void)run_process({"ip", "netns", "del", ctl_});
  labs_.clear();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

std::string BgpLab::state_file(int i) const { return dir_ + fmt::format("/state{}.json", i); }

Result<ProcessResult> BgpLab::gobgp(const std::vector<std::string>& args,
                                    std::chrono::milliseconds timeout) const {
  std::vector<std::string> argv{"ip", "netns", "exec", ctl_, "gobgp"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, timeout);
}

int BgpLab::established() const {
  auto r = gobgp({"neighbor"});
  if (!r || r->exit_code != 0) return 0;
  int n = 0;
  for (std::size_t p = r->out.find("Establ"); p != std::string::npos; p = r->out.find("Establ", p + 1)) ++n;
  return n;
}

Result<void> BgpLab::start_controller() {
  gobgpd_ = XG_TRY(BackgroundProcess::start(
      {"ip", "netns", "exec", ctl_, "gobgpd", "-f", dir_ + "/gobgpd.toml", "--pprof-disable"},
      dir_ + "/gobgpd.log"));
  // Its API up.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    auto r = gobgp({"global"});
    if (r && r->exit_code == 0) return {};
    if (std::chrono::steady_clock::now() > deadline)
      return fail(ETIMEDOUT, "gobgpd did not start\n{}", logs());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void BgpLab::kill_controller() { gobgpd_.stop(SIGKILL); }

Result<void> BgpLab::start_edge(int i) {
  const Lab& lab = labs_[static_cast<std::size_t>(i)];
  exabgp_[static_cast<std::size_t>(i)] = XG_TRY(BackgroundProcess::start(
      {"ip", "netns", "exec", lab.server().netns, "env", "exabgp.daemon.user=root",
       "exabgp.daemon.daemonize=false", "exabgp.api.cli=false", "exabgp.log.destination=stdout", "exabgp",
       dir_ + fmt::format("/exabgp{}.conf", i)},
      dir_ + fmt::format("/exabgp{}.log", i)));
  return {};
}

void BgpLab::stop_edge(int i) { exabgp_[static_cast<std::size_t>(i)].stop(SIGTERM); }

std::string BgpLab::logs() const {
  std::string s;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec))
    if (e.path().extension() == ".log")
      s += "---- " + e.path().string() + "\n" + read_file(e.path().string());
  return s;
}

}  // namespace xdpguard
