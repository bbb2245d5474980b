// `xdpguard flowspec IFACE... --exabgp | --gobgp ADDR`: the long-running
// consumer. It reads a BGP speaker's FlowSpec routes (exabgp.h, gobgp.h),
// keeps them (rib.h), and puts the rules they make in force on every
// interface as their FlowSpec group (install.h).
//
// Batching: a change is installed once no other change came for `quiet`,
// and at most `max_delay` (or as long as the last install took, if longer)
// after the first one waiting: a burst of announces (a RIB dump, a flood of
// flaps) is a few rule-set swaps, not one per route.
// An install that fails (the interface detached meanwhile, a rule the
// kernel refuses) is logged and tried again a second later; the routes stay.
//
// The lockout guard: each group is checked, before it goes in, in a copy of
// the interface's pipeline (made again when the interface's state besides
// the group changed): a route that would cut the operator off is left out.
//
// Starting: the FlowSpec rules already installed (a consumer that died, an
// upgrade) stay in force, adopted, until the speaker's routes replace them:
// until an end-of-RIB, or `stale` after the start. There is no window in
// which a route announced before the restart is not enforced.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "flowspec/install.h"
#include "flowspec/rib.h"
#include "guard/guard.h"

namespace xdpguard::flowspec {

struct ConsumerConfig {
  std::vector<std::string> ifaces;
  Position position = Position::AfterLocal;
  std::size_t max_rules = 10000;
  std::chrono::milliseconds stale{60'000};
  std::chrono::milliseconds quiet{5};
  std::chrono::milliseconds max_delay{50};
  std::string state_file;  // JSON: routes, what each became, counts (empty: none); every 0.5 s at most
  // The lockout guard (simulate/lockout.h): a route whose rules would drop
  // a packet that keeps the operator in touch (ARP, ND, DHCP replies, SSH
  // from a management prefix) where the interface passes it now is not
  // installed, and is logged with that packet.
  bool lockout_guard = true;
  std::vector<rules::Prefix> management;
};

// The pure part of the loop: events in, rule sets out. Time is passed in;
// `install` puts a group in force on every interface.
class Consumer {
 public:
  using Installer = std::function<Result<void>(const std::vector<std::string>& group)>;
  using Logger = std::function<void(const std::string&)>;
  struct Timing {
    std::chrono::milliseconds stale{60'000};  // how long adopted rules stay at most
    std::chrono::milliseconds quiet{5};
    std::chrono::milliseconds max_delay{50};
  };
  Consumer(Settings s, Timing t, std::vector<std::string> adopted, Clock::time_point start, Installer install,
           Logger log);

  void on_event(const Event& e, Clock::time_point now);
  void on_error(const std::string& message);
  // Stale routes, the end of adoption, a due install.
  void tick(Clock::time_point now);
  // Installs what is pending now (the input ended).
  void flush(Clock::time_point now);
  // When tick() has something to do next (nullopt: nothing pending).
  std::optional<Clock::time_point> deadline() const;

  // The group in force (or to be): the routes' rules, then adopted rules
  // not among them while adoption lasts.
  std::vector<std::string> group() const;
  const Rib& rib() const { return rib_; }
  std::size_t installs() const { return installs_; }
  std::size_t errors() const { return errors_; }
  bool adopting() const { return adopt_until_.has_value(); }

 private:
  void changed(Clock::time_point now);
  // A stream of changes waits at most this long: max_delay, or as long as
  // the last install took (installs then take at most half of the time,
  // and a stream of 10,000 routes is a few large installs, not hundreds).
  std::chrono::milliseconds max_delay() const { return std::max(timing_.max_delay, last_install_); }

  Rib rib_;
  Timing timing_;
  std::vector<std::string> adopted_;
  std::optional<Clock::time_point> adopt_until_;
  Installer install_;
  Logger log_;
  std::optional<Clock::time_point> first_pending_, retry_at_;
  Clock::time_point last_change_{};
  std::chrono::milliseconds last_install_{0};
  std::vector<std::string> in_force_;
  std::size_t installs_ = 0, errors_ = 0;
};

// The command: opens the interfaces, reads the source until it ends (stdin
// closed) or SIGTERM/SIGINT. The rules stay in force when it exits
// (fail-static); the next consumer adopts them.
[[nodiscard]] Result<void> run_exabgp(const ConsumerConfig& cfg, int in_fd, int out_fd);
// HOST:PORT or [V6]:PORT (a GoBGP daemon's gRPC API, as `gobgp -u HOST -p
// PORT` takes them), split; anything else is refused, naming it.
[[nodiscard]] Result<std::pair<std::string, std::string>> parse_gobgp_address(const std::string& addr);
// Follows a GoBGP daemon at `addr` (HOST:PORT of its gRPC API, as `gobgp -u
// HOST -p PORT` takes): every change (`gobgp monitor global rib -a
// ipv4-flowspec|ipv6-flowspec --json`, one child each) and, once a child
// runs, the family's RIB (`gobgp global rib -a ... --json`). A child that
// ends (gobgpd stopped) is started again every second; meanwhile the routes
// are stale, and the RIB read when it is back replaces them.
// Until SIGTERM/SIGINT, or, given a `stop_fd` (an eventfd: `xdpguard run`
// runs it in a thread), until that is readable.
[[nodiscard]] Result<void> run_gobgp(const ConsumerConfig& cfg, const std::string& addr, int stop_fd = -1);

}  // namespace xdpguard::flowspec
