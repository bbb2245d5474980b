// The FlowSpec consumer's state: the routes its speaker has announced, what
// each became (rules, or why not), and the rule list they make together, in
// RFC 8955 section 5.1 order. Pure: time is passed in.
//
// Sessions: when a speaker reports a peer down, that peer's routes stay
// (stale) for `stale` (as BGP graceful restart keeps them), then go; a
// route announced again meanwhile is fresh again, and an end-of-RIB from the
// peer removes its routes of that family still stale at once. At most `max_rules` rules
// are installed: routes past that, in RFC order, are not installed and are
// counted (Stats::over_limit).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "flowspec/route.h"
#include "flowspec/translate.h"

namespace xdpguard::flowspec {

using Clock = std::chrono::steady_clock;

struct Event {
  enum class Kind : std::uint8_t { Announce, Withdraw, PeerDown, PeerUp, EndOfRib };
  Kind kind = Kind::Announce;
  // Who sent it (a BGP neighbor's address; "" when the speaker has one
  // RIB). A PeerDown of "" is every peer's (the speaker stops).
  std::string peer;
  Route route;  // Announce, Withdraw (only the match part counts); EndOfRib: its family
};

struct Settings {
  std::size_t max_rules = 10000;
  std::chrono::milliseconds stale{60'000};
  Options translate;
};

struct Stats {
  std::size_t routes = 0;      // known (installed or not)
  std::size_t installed = 0;   // routes whose rules are in the rule list
  std::size_t rules = 0;       // rules in the rule list
  std::size_t refused = 0;     // routes not expressible (translate failed)
  std::size_t over_limit = 0;  // routes past max_rules
  std::size_t stale = 0;       // routes of a peer that is down
  std::uint64_t announces = 0, withdraws = 0, unknown_withdraws = 0;
};

class Rib {
 public:
  explicit Rib(Settings s) : settings_(std::move(s)) {}

  // What the event changes. The log lines it gives (a route refused, with
  // the reason; notes; a peer down) go to `log` when given. Returns whether
  // the routes changed (the rule list may have: it is made again, once, when
  // next asked for; a burst of 10,000 announces is one sort, not 10,000).
  bool apply(const Event& e, Clock::time_point now, std::vector<std::string>* log = nullptr);
  // Removes stale routes whose time is up; returns whether any went.
  bool expire(Clock::time_point now, std::vector<std::string>* log = nullptr);
  // When the next stale route is due (nullopt: none stale).
  std::optional<Clock::time_point> next_expiry() const;

  // The rules of the installed routes, in order, as rule texts.
  std::vector<std::string> rule_texts() const;
  std::size_t size() const { return routes_.size(); }  // routes known (cheap: no sort)
  Stats stats() const;

  struct Entry {
    Route route;
    std::string peer;
    Result<Translation> translation = Translation{};
    std::vector<std::string> texts;  // its rules as text (translation's, printed once)
    std::optional<Clock::time_point> stale_since;
    bool installed = false;  // in the rule list (set by the last rebuild)
  };
  const std::map<std::string, Entry>& entries() const {
    refresh();
    return routes_;
  }

 private:
  void refresh() const {
    if (dirty_) rebuild();
  }
  void rebuild() const;

  Settings settings_;
  mutable std::map<std::string, Entry> routes_;  // by match_text (`installed` set by rebuild)
  mutable bool dirty_ = false;
  mutable std::vector<std::string> texts_;
  mutable std::size_t over_limit_ = 0;
  std::uint64_t announces_ = 0, withdraws_ = 0, unknown_withdraws_ = 0;
};

}  // namespace xdpguard::flowspec
