#include "report/format.h"

#include <fmt/format.h>

#include "report/ddos.h"

namespace xdpguard {
namespace {

nlohmann::json counter_json(const xdpguard_counter& c) {
  return {{"packets", c.packets}, {"bytes", c.bytes}};
}

}  // namespace

nlohmann::json stats_json(const GuardStats& s) {
  nlohmann::json actions = nlohmann::json::object();
  for (std::uint32_t i = 0; i < XDPGUARD_NUM_ACTIONS; ++i)
    actions[action_name(i)] = counter_json(s.actions[i]);
  nlohmann::json parse = nlohmann::json::object();
  for (int i = 0; i < XDPGUARD_PARSE_MAX; ++i) parse[parse_counter_name(i)] = counter_json(s.parse[i]);
  nlohmann::json def = counter_json(s.default_rule);
  def["action"] = action_name(s.default_action);
  nlohmann::json errors = {{"no_classifier", counter_json(s.errors[XDPGUARD_ERR_NO_CLASSIFIER])},
                           {"no_enforce", counter_json(s.errors[XDPGUARD_ERR_NO_ENFORCE])}};
  nlohmann::json xsk = {{"redirected", counter_json(s.xsk[XDPGUARD_XSK_REDIRECTED])},
                        {"fallback_no_socket", counter_json(s.xsk[XDPGUARD_XSK_NO_SOCKET])},
                        {"fallback_no_queue", counter_json(s.xsk[XDPGUARD_XSK_NO_QUEUE])}};
  return {{"interface", s.ifname},
          {"mode", s.mode},
          {"actions", actions},
          {"rules", rules_json(s)["rules"]},
          {"default", def},
          {"parse", parse},
          {"errors", errors},
          {"ddos", ddos_json(s.ddos)},
          {"xsk", xsk}};
}

nlohmann::json rules_json(const GuardStats& s) {
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& r : s.rules)
    rules.push_back(
        {{"id", r.id}, {"rule", r.text}, {"packets", r.counter.packets}, {"bytes", r.counter.bytes}});
  nlohmann::json def = counter_json(s.default_rule);
  def["action"] = action_name(s.default_action);
  return {{"interface", s.ifname}, {"rules", rules}, {"default", def}};
}

std::string rules_table(const GuardStats& s) {
  std::string out = fmt::format("{:>5} {:>12} {:>14}  {}\n", "id", "packets", "bytes", "rule");
  for (const auto& r : s.rules)
    out += fmt::format("{:>5} {:>12} {:>14}  {}\n", r.id, r.counter.packets, r.counter.bytes, r.text);
  out += fmt::format("{:>5} {:>12} {:>14}  (default) {}\n", "-", s.default_rule.packets, s.default_rule.bytes,
                     action_name(s.default_action));
  return out;
}

nlohmann::json sets_json(const std::vector<SetRecord>& sets) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& st : sets)
    arr.push_back({{"name", st.name}, {"ipv4", st.nv4}, {"ipv6", st.nv6}, {"consistent", !st.torn}});
  return {{"sets", arr}};
}

std::string sets_table(const std::vector<SetRecord>& sets) {
  if (sets.empty()) return "no sets\n";
  std::string out = fmt::format("{:<32} {:>10} {:>10}\n", "set", "ipv4", "ipv6");
  for (const auto& st : sets) out += fmt::format("{:<32} {:>10} {:>10}\n", st.name, st.nv4, st.nv6);
  return out;
}

std::string stats_table(const GuardStats& s) {
  std::string out = fmt::format("{} ({} mode)\n", s.ifname, s.mode);
  if (!s.rules.empty()) out += rules_table(s);
  out += fmt::format("  {:<10} {:>14} {:>16}\n", "action", "packets", "bytes");
  for (std::uint32_t i = 0; i < XDPGUARD_NUM_ACTIONS; ++i)
    out += fmt::format("  {:<10} {:>14} {:>16}\n", action_name(i), s.actions[i].packets, s.actions[i].bytes);
  out += fmt::format("  {:<10} {:>14} {:>16}   (no rule matched: {})\n", "default", s.default_rule.packets,
                     s.default_rule.bytes, action_name(s.default_action));
  out += "  parse:";
  for (int i = 0; i < XDPGUARD_PARSE_MAX; ++i)
    out += fmt::format(" {}={}", parse_counter_name(i), s.parse[i].packets);
  out += "\n";
  // `redirect xsk`, once it has seen a packet.
  if (s.xsk[XDPGUARD_XSK_REDIRECTED].packets || s.xsk[XDPGUARD_XSK_NO_SOCKET].packets ||
      s.xsk[XDPGUARD_XSK_NO_QUEUE].packets)
    out += fmt::format("  redirect xsk: redirected={} fallback: no socket={} queue out of range={}\n",
                       s.xsk[XDPGUARD_XSK_REDIRECTED].packets, s.xsk[XDPGUARD_XSK_NO_SOCKET].packets,
                       s.xsk[XDPGUARD_XSK_NO_QUEUE].packets);
  out += ddos_table(s.ddos);
  return out;
}

nlohmann::json xdp_statistics_json(const xsk::XdpStatistics& k) {
  return {{"rx_dropped", k.rx_dropped},
          {"rx_invalid_descs", k.rx_invalid_descs},
          {"tx_invalid_descs", k.tx_invalid_descs},
          {"rx_ring_full", k.rx_ring_full},
          {"rx_fill_ring_empty_descs", k.rx_fill_ring_empty_descs},
          {"tx_ring_empty_descs", k.tx_ring_empty_descs}};
}

namespace {

std::vector<const xsk::BoundSocket*> sockets_of(int ifindex, const std::vector<xsk::BoundSocket>& sockets) {
  std::vector<const xsk::BoundSocket*> out;
  for (const auto& s : sockets)
    if (s.ifindex == ifindex) out.push_back(&s);
  return out;
}

std::string owners_text(const xsk::SocketInfo& s) {
  std::string out;
  for (const auto& o : s.owners)
    out += fmt::format("{}pid {} ({})", out.empty() ? "" : ", ", o.pid, o.command);
  return out;
}

}  // namespace

nlohmann::json status_json(const std::vector<GuardStatus>& list, const std::vector<xsk::BoundSocket>& sockets,
                           const std::string& xsk_error) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& st : list) {
    nlohmann::json xsks = nlohmann::json::array();
    for (const auto* b : sockets_of(st.ifindex, sockets)) {
      const auto& s = b->socket;
      nlohmann::json owners = nlohmann::json::array();
      for (const auto& o : s.owners) owners.push_back({{"pid", o.pid}, {"command", o.command}});
      xsks.push_back({{"queue", b->queue},
                      {"mode", s.zerocopy ? nlohmann::json(s.mode()) : nlohmann::json()},
                      {"inode", s.inode},
                      {"processes", owners},
                      {"kernel", s.kernel ? xdp_statistics_json(*s.kernel) : nlohmann::json()}});
    }
    arr.push_back({{"interface", st.ifname.empty() ? nlohmann::json() : nlohmann::json(st.ifname)},
                   {"ifindex", st.ifindex},
                   {"mode", st.mode},
                   {"program_id", st.prog_id},
                   {"attached", st.attached},
                   {"chain", st.attached ? (st.dispatcher ? "dispatcher" : "alone") : ""},
                   {"pinned", st.pinned},
                   {"setup_pending", st.setup_pending},
                   {"attached_unix", st.attached_unix},
                   {"xsk_sockets", xsk_error.empty() ? xsks : nlohmann::json()}});
  }
  nlohmann::json out = {{"interfaces", arr}};
  if (!xsk_error.empty()) out["xsk_error"] = xsk_error;
  return out;
}

std::string status_table(const std::vector<GuardStatus>& list, const std::vector<xsk::BoundSocket>& sockets,
                         const std::string& xsk_error) {
  if (list.empty()) return "no interface has xdpguard attached\n";
  std::string out = fmt::format("{:<16} {:>7} {:<8} {:>8}  {:<11} {}\n", "interface", "ifindex", "mode",
                                "prog id", "chain", "state");
  for (const auto& st : list) {
    const char* state = !st.pinned     ? "attached, state never pinned (attach died; run detach)"
                        : !st.attached ? "stale (program gone; detach cleans up)"
                        : st.setup_pending
                            ? "attached, record incomplete (attach died after going live; rules in force)"
                            : "attached";
    out += fmt::format("{:<16} {:>7} {:<8} {:>8}  {:<11} {}\n", st.ifname, st.ifindex, st.mode, st.prog_id,
                       !st.attached    ? "-"
                       : st.dispatcher ? "dispatcher"
                                       : "alone",
                       state);
    // `redirect xsk` delivers to these (one line a queue with a socket).
    for (const auto* b : sockets_of(st.ifindex, sockets)) {
      const auto& s = b->socket;
      out += fmt::format("  AF_XDP queue {}: {} mode, {}", b->queue, s.mode(), owners_text(s));
      if (s.kernel)
        out += fmt::format("; dropped: no free frame {}, rx ring full {}", s.kernel->rx_dropped,
                           s.kernel->rx_ring_full);
      out += "\n";
    }
  }
  if (!xsk_error.empty()) out += fmt::format("AF_XDP sockets not shown: {}\n", xsk_error);
  return out;
}

nlohmann::json upgrade_json(const std::string& ifname, const UpgradeReport& r) {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& st : r.stages)
    stages.push_back({{"stage", st.name},
                      {"old_id", st.old_id},
                      {"old_tag", st.old_tag},
                      {"new_id", st.new_id},
                      {"new_tag", st.new_tag},
                      {"differs", st.differs()}});
  return {{"interface", ifname},
          {"stages", stages},
          {"differ", r.differ},
          {"replaced", r.replaced},
          {"seconds", r.seconds}};
}

std::string upgrade_table(const std::string& ifname, const UpgradeReport& r) {
  std::string out = fmt::format("{}:\n  {:<11} {:>8} {:<16}  {:>8} {:<16}\n", ifname, "stage", "in force",
                                "tag", "new", "tag");
  std::size_t differ = 0;
  for (const auto& st : r.stages) {
    differ += st.differs();
    out += fmt::format("  {:<11} {:>8} {:<16}  {:>8} {:<16}  {}\n", st.name, st.old_id, st.old_tag,
                       r.replaced ? std::to_string(st.new_id) : "-", st.new_tag,
                       st.differs() ? "differs" : "same code");
  }
  if (r.replaced)
    out += fmt::format(
        "  upgraded: {} of {} stages differed; all replaced in {:.3f} ms, maps and counters kept\n", differ,
        r.stages.size(), r.seconds * 1e3);
  else if (!r.differ)
    out += "  the programs in force are this xdpguard's: nothing to do (--force replaces them anyway)\n";
  else
    out += fmt::format("  {} of {} stages differ; nothing changed (--check)\n", differ, r.stages.size());
  return out;
}

nlohmann::json namespaces_json(const std::vector<PinnedNamespace>& list) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& ns : list) {
    nlohmann::json ifs = nlohmann::json::array();
    for (const auto& i : ns.interfaces)
      ifs.push_back({{"ifindex", i.ifindex},
                     {"interface", i.ifname},
                     {"mode", i.mode},
                     {"program_id", i.prog_id},
                     {"attached_unix", i.attached_unix}});
    arr.push_back({{"netns", ns.netns_id},
                   {"alive", ns.alive},
                   {"current", ns.current},
                   {"pins", ns.dir},
                   {"interfaces", ifs}});
  }
  return {{"namespaces", arr}};
}

std::string namespaces_table(const std::vector<PinnedNamespace>& list) {
  if (list.empty()) return "no pinned xdpguard state\n";
  std::string out =
      fmt::format("{:<12} {:<8} {:>7}  {:<16} {}\n", "netns", "state", "ifindex", "interface", "pins");
  for (const auto& ns : list) {
    const char* state = ns.current ? "current" : ns.alive ? "alive" : "gone";
    if (ns.interfaces.empty())
      out += fmt::format("{:<12} {:<8} {:>7}  {:<16} {}\n", ns.netns_id, state, "-", "-", ns.dir);
    for (const auto& i : ns.interfaces)
      out += fmt::format("{:<12} {:<8} {:>7}  {:<16} {}/{}\n", ns.netns_id, state, i.ifindex, i.ifname,
                         ns.dir, i.ifindex);
  }
  return out;
}

std::string human_count(std::uint64_t n) {
  if (n < 10'000) return std::to_string(n);
  if (n < 10'000'000) return fmt::format("{:.1f}k", n / 1e3);
  if (n < 10'000'000'000ULL) return fmt::format("{:.1f}M", n / 1e6);
  return fmt::format("{:.1f}G", n / 1e9);
}

}  // namespace xdpguard
