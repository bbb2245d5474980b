// A FlowSpec fleet for the e2e tests and the bench: a GoBGP controller in a
// namespace of its own ("xb21<pid>-ctl") and N edges, each a lab (lab.h)
// whose server runs a real ExaBGP with `xdpguard flowspec --exabgp` as its
// process, over xdpguard attached to the server's veth. Controller link i:
// 198.19.<i+1>.1 (controller) -- 198.19.<i+1>.2 (edge i). Everything is
// removed by the destructor (processes, namespaces, the files in dir()).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/process.h"
#include "core/result.h"
#include "lab/lab.h"

namespace xdpguard {

struct BgpLabOptions {
  int edges = 1;
  std::string xdpguard;       // the binary the edges run
  double stale_seconds = 60;  // the consumers' --stale-time
  bool start_exabgp = true;   // false: start_edge() later
};

class BgpLab {
 public:
  // Made, attached, the controller started, and (start_exabgp) every edge's
  // session up (within 60 s).
  [[nodiscard]] static Result<std::unique_ptr<BgpLab>> create(const BgpLabOptions& opts);
  ~BgpLab();
  BgpLab(const BgpLab&) = delete;
  BgpLab& operator=(const BgpLab&) = delete;

  const Lab& edge(int i) const { return labs_[static_cast<std::size_t>(i)]; }
  int edges() const { return static_cast<int>(labs_.size()); }
  const std::string& controller_netns() const { return ctl_; }
  const std::string& dir() const { return dir_; }
  std::string state_file(int i) const;  // edge i's consumer --state

  // `gobgp ARGS...` in the controller's namespace.
  [[nodiscard]] Result<ProcessResult> gobgp(
      const std::vector<std::string>& args,
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  // Edge sessions the controller has established.
  int established() const;
  [[nodiscard]] Result<void> start_controller();
  void kill_controller();
  [[nodiscard]] Result<void> start_edge(int i);
  void stop_edge(int i);
  // Every log (controller, ExaBGP with its consumer's lines), for failures.
  std::string logs() const;

 private:
  BgpLab() = default;
  BgpLabOptions opts_;
  std::vector<Lab> labs_;
  std::string ctl_, dir_;
  BackgroundProcess gobgpd_;
  std::vector<BackgroundProcess> exabgp_;
};

}  // namespace xdpguard
