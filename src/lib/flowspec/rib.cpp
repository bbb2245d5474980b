#include "flowspec/rib.h"

#include <algorithm>

#include <fmt/format.h>

#include "rules/printer.h"

namespace xdpguard::flowspec {

bool Rib::apply(const Event& e, Clock::time_point now, std::vector<std::string>* log) {
  auto say = [&](std::string line) {
    if (log) log->push_back(std::move(line));
  };
  switch (e.kind) {
    case Event::Kind::Announce: {
      ++announces_;
      std::string key = match_text(e.route);
      Entry entry{e.route, e.peer, translate(e.route, settings_.translate), {}, std::nullopt, false};
      if (entry.translation)
        for (const auto& r : entry.translation->rules) entry.texts.push_back(rules::to_string(r));
      if (!entry.translation)
        say(fmt::format("route {} ({}) not installed: {}", key, actions_text(e.route.actions),
                        entry.translation.error().message()));
      else
        for (const auto& n : entry.translation->notes) say(fmt::format("route {}: {}", key, n));
      auto it = routes_.find(key);
      if (it != routes_.end() && it->second.route == e.route && it->second.peer == e.peer) {
        it->second.stale_since.reset();  // announced again: fresh
        return false;
      }
      routes_.insert_or_assign(std::move(key), std::move(entry));
      break;
    }
    case Event::Kind::Withdraw: {
      ++withdraws_;
      if (routes_.erase(match_text(e.route)) == 0) {
        ++unknown_withdraws_;
        return false;
      }
      break;
    }
    case Event::Kind::PeerDown: {
      std::size_t n = 0;
      for (auto& [key, entry] : routes_)
        if ((e.peer.empty() || entry.peer == e.peer) && !entry.stale_since) {
          entry.stale_since = now;
          ++n;
        }
      if (n)
        say(fmt::format("peer {} down: its {} routes stay for {} s unless announced again",
                        e.peer.empty() ? "?" : e.peer, n, settings_.stale.count() / 1000.0));
      return false;  // nothing changes now
    }
    case Event::Kind::PeerUp: return false;
    case Event::Kind::EndOfRib: {
      // Whatever the peer did not announce again since it went down is gone.
      std::size_t n = std::erase_if(routes_, [&](const auto& kv) {
        return kv.second.peer == e.peer && kv.second.route.family == e.route.family &&
               kv.second.stale_since.has_value();
      });
      if (!n) return false;
      say(fmt::format("peer {}: end of RIB, {} stale routes removed", e.peer, n));
      break;
    }
  }
  dirty_ = true;
  return true;
}

bool Rib::expire(Clock::time_point now, std::vector<std::string>* log) {
  std::size_t n = std::erase_if(routes_, [&](const auto& kv) {
    return kv.second.stale_since && now - *kv.second.stale_since >= settings_.stale;
  });
  if (!n) return false;
  if (log)
    log->push_back(fmt::format("{} stale routes removed after {} s", n, settings_.stale.count() / 1000.0));
  dirty_ = true;
  return true;
}

std::optional<Clock::time_point> Rib::next_expiry() const {
  std::optional<Clock::time_point> t;
  for (const auto& [key, e] : routes_)
    if (e.stale_since && (!t || *e.stale_since + settings_.stale < *t)) t = *e.stale_since + settings_.stale;
  return t;
}

void Rib::rebuild() const {
  std::vector<Entry*> order;
  for (auto& [key, e] : routes_) {
    e.installed = false;
    if (e.translation) order.push_back(&e);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const Entry* a, const Entry* b) { return precedes(a->route, b->route); });
  texts_.clear();
  over_limit_ = 0;
  for (Entry* e : order) {
    if (texts_.size() + e->texts.size() > settings_.max_rules) {
      ++over_limit_;
      continue;
    }
    e->installed = true;
    texts_.insert(texts_.end(), e->texts.begin(), e->texts.end());
  }
  dirty_ = false;
}

std::vector<std::string> Rib::rule_texts() const {
  refresh();
  return texts_;
}

Stats Rib::stats() const {
  refresh();
  Stats s;
  s.routes = routes_.size();
  for (const auto& [key, e] : routes_) {
    if (e.installed) ++s.installed;
    if (!e.translation) ++s.refused;
    if (e.stale_since) ++s.stale;
  }
  s.rules = texts_.size();
  s.over_limit = over_limit_;
  s.announces = announces_;
  s.withdraws = withdraws_;
  s.unknown_withdraws = unknown_withdraws_;
  return s;
}

}  // namespace xdpguard::flowspec
