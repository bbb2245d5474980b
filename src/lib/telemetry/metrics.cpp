#include "telemetry/metrics.h"

#include <charconv>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bpf/system.h"
#include "telemetry/flood_monitor.h"

namespace xdpguard::telemetry {
namespace {

// Label values: backslash, double quote and newline escaped.
std::string label_value(std::string_view v) {
  std::string s;
  for (char c : v) {
    if (c == '\\' || c == '"') s += '\\';
    if (c == '\n') {
      s += "\\n";
      continue;
    }
    s += c;
  }
  return s;
}

const char* rule_action(rules::Action a) {
  switch (a) {
    case rules::Action::Pass: return "pass";
    case rules::Action::Drop: return "drop";
    case rules::Action::RedirectXsk:
    case rules::Action::RedirectDev: return "redirect";
  }
  return "";
}

class Writer {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  // labels: pairs name, value.
  void sample(const char* name, std::initializer_list<std::pair<const char*, std::string>> labels,
              std::uint64_t value) {
    out_ += name;
    char sep = '{';
    for (const auto& [k, v] : labels) {
      out_ += fmt::format("{}{}=\"{}\"", sep, k, label_value(v));
      sep = ',';
    }
    if (sep == ',') out_ += '}';
    out_ += fmt::format(" {}\n", value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

Result<Snapshot> collect() {
  Snapshot snap;
  for (const auto& st : XG_TRY(Guard::list())) {
    if (!st.attached || !st.pinned || st.ifname.empty()) continue;
    auto one = [&]() -> Result<InterfaceMetrics> {
      auto iface = XG_TRY(find_interface(st.ifindex));
      auto g = XG_TRY(Guard::open(iface));
      InterfaceMetrics m;
      m.stats = XG_TRY(g.stats());
      m.stats.ifname = iface.name;
      m.records = XG_TRY(XG_TRY(TelemetryMaps::open(g)).counters());
      m.flood = XG_TRY(flood_status(g));
      return m;
    };
    auto m = one();
    if (!m) {
      spdlog::warn("metrics: {}: {}", st.ifname, m.error().message());
      ++snap.scrape_errors;
      continue;
    }
    snap.interfaces.push_back(std::move(*m));
  }
  return snap;
}

std::string metrics_text(const Snapshot& s, std::uint64_t scrape_errors_total) {
  Writer w;
  using Get = std::uint64_t (*)(const xdpguard_counter&);
  const Get packets = [](const xdpguard_counter& c) -> std::uint64_t { return c.packets; };
  const Get bytes = [](const xdpguard_counter& c) -> std::uint64_t { return c.bytes; };

  w.family("xdpguard_interface_info", "gauge",
           "An interface xdpguard is attached to (value 1), and its XDP mode.");
  for (const auto& m : s.interfaces)
    w.sample("xdpguard_interface_info", {{"interface", m.stats.ifname}, {"mode", m.stats.mode}}, 1);

  for (auto [name, get, help] :
       {std::tuple{"xdpguard_packets_total", packets, "Packets by the verdict xdpguard gave them."},
        std::tuple{"xdpguard_bytes_total", bytes, "Bytes of the packets, by verdict."}}) {
    w.family(name, "counter", help);
    for (const auto& m : s.interfaces)
      for (std::uint32_t a = 0; a < XDPGUARD_NUM_ACTIONS; ++a)
        w.sample(name, {{"interface", m.stats.ifname}, {"action", action_name(a)}}, get(m.stats.actions[a]));
  }

  for (auto [name, get, help] :
       {std::tuple{"xdpguard_rule_packets_total", packets,
                   "Packets each rule decided (rule_id \"default\": no rule matched)."},
        std::tuple{"xdpguard_rule_bytes_total", bytes, "Bytes of the packets each rule decided."}}) {
    w.family(name, "counter", help);
    for (const auto& m : s.interfaces) {
      for (const auto& r : m.stats.rules) {
        // A rule's comment labels it too (FlowSpec routes name their rules so).
        if (r.rule.comment.empty())
          w.sample(name,
                   {{"interface", m.stats.ifname},
                    {"rule_id", std::to_string(r.id)},
                    {"action", rule_action(r.rule.action)}},
                   get(r.counter));
        else
          w.sample(name,
                   {{"interface", m.stats.ifname},
                    {"rule_id", std::to_string(r.id)},
                    {"action", rule_action(r.rule.action)},
                    {"comment", r.rule.comment}},
                   get(r.counter));
      }
      w.sample(name,
               {{"interface", m.stats.ifname},
                {"rule_id", "default"},
                {"action", action_name(m.stats.default_action)}},
               get(m.stats.default_rule));
    }
  }

  for (auto [name, get, help] :
       {std::tuple{"xdpguard_parse_packets_total", packets,
                   "Frames by what the parser found (fragment: non-first fragments, counted in addition)."},
        std::tuple{"xdpguard_parse_bytes_total", bytes, "Bytes of the frames, by parse outcome."}}) {
    w.family(name, "counter", help);
    for (const auto& m : s.interfaces)
      for (int i = 0; i < XDPGUARD_PARSE_MAX; ++i)
        w.sample(name, {{"interface", m.stats.ifname}, {"outcome", parse_counter_name(i)}},
                 get(m.stats.parse[i]));
  }

  for (auto [name, get, help] :
       {std::tuple{"xdpguard_pipeline_errors_packets_total", packets,
                   "Packets a pipeline stage was missing for (an interrupted attach)."},
        std::tuple{"xdpguard_pipeline_errors_bytes_total", bytes, "Bytes of those packets."}}) {
    w.family(name, "counter", help);
    for (const auto& m : s.interfaces) {
      w.sample(name, {{"interface", m.stats.ifname}, {"error", "no_classifier"}},
               get(m.stats.errors[XDPGUARD_ERR_NO_CLASSIFIER]));
      w.sample(name, {{"interface", m.stats.ifname}, {"error", "no_enforce"}},
               get(m.stats.errors[XDPGUARD_ERR_NO_ENFORCE]));
    }
  }

  // `redirect xsk` (abi.h, "AF_XDP"): to a socket, or the rule's fallback and why.
  for (auto [name, get, help] :
       {std::tuple{"xdpguard_xsk_packets_total", packets,
                   "Packets of redirect xsk rules: redirected to the queue's AF_XDP socket, or fallback "
                   "(no_socket: none bound to the queue; no_queue: queue past 255)."},
        std::tuple{"xdpguard_xsk_bytes_total", bytes, "Bytes of those packets."}}) {
    w.family(name, "counter", help);
    for (const auto& m : s.interfaces) {
      w.sample(name, {{"interface", m.stats.ifname}, {"outcome", "redirected"}},
               get(m.stats.xsk[XDPGUARD_XSK_REDIRECTED]));
      w.sample(name, {{"interface", m.stats.ifname}, {"outcome", "no_socket"}},
               get(m.stats.xsk[XDPGUARD_XSK_NO_SOCKET]));
      w.sample(name, {{"interface", m.stats.ifname}, {"outcome", "no_queue"}},
               get(m.stats.xsk[XDPGUARD_XSK_NO_QUEUE]));
    }
  }

  using GetTm = std::uint64_t TmCounters::*;
  for (auto [name, field, help] :
       {std::tuple{"xdpguard_records_total", GetTm{&TmCounters::records},
                   "Packet records written into the interface's ring buffer."},
        std::tuple{"xdpguard_records_lost_total", GetTm{&TmCounters::lost},
                   "Records the ring buffer had no room for (the reader lagged)."},
        std::tuple{"xdpguard_records_sampled_out_total", GetTm{&TmCounters::sampled_out},
                   "Hits of log rules (or a capture) that sampling passed over."},
        std::tuple{"xdpguard_records_unread_total", GetTm{&TmCounters::unread},
                   "Hits of log rules while no reader ran (nothing recorded)."},
        std::tuple{"xdpguard_record_bytes_total", GetTm{&TmCounters::record_bytes},
                   "Frame bytes copied into records."}}) {
    w.family(name, "counter", help);
    for (const auto& m : s.interfaces) w.sample(name, {{"interface", m.stats.ifname}}, m.records.*field);
  }

  // Flood detection (docs/telemetry.md): the counters always; rates and
  // attack states only while a detector runs (else they are unknown).
  for (auto [name, get, help] :
       {std::tuple{"xdpguard_flood_packets_total", packets,
                   "Packets of the protocols floods are made of: syn (TCP SYN without ACK), udp, icmp "
                   "(ICMP and ICMPv6), fragment (non-first IP fragments)."},
        std::tuple{"xdpguard_flood_bytes_total", bytes, "Bytes of those packets."}}) {
    w.family(name, "counter", help);
    for (const auto& m : s.interfaces)
      for (std::size_t p = 0; p < kFloodProtos; ++p)
        w.sample(name, {{"interface", m.stats.ifname}, {"protocol", flood_proto_name(p)}},
                 get(m.flood.counters[p]));
  }
  w.family("xdpguard_flood_threshold_packets_per_second", "gauge",
           "Rate over which an attack of the protocol starts (0: not watched).");
  for (const auto& m : s.interfaces)
    for (std::size_t p = 0; p < kFloodProtos; ++p)
      w.sample("xdpguard_flood_threshold_packets_per_second",
               {{"interface", m.stats.ifname}, {"protocol", flood_proto_name(p)}}, m.flood.config.pps[p]);
  w.family("xdpguard_flood_detector_up", "gauge",
           "1 while a flood detector samples the interface (events or metrics --listen), else 0.");
  for (const auto& m : s.interfaces)
    w.sample("xdpguard_flood_detector_up", {{"interface", m.stats.ifname}}, m.flood.detector ? 1 : 0);
  w.family("xdpguard_flood_rate_packets_per_second", "gauge",
           "The protocol's rate over the detector's last interval (one second).");
  for (const auto& m : s.interfaces)
    for (std::size_t p = 0; m.flood.detector && p < kFloodProtos; ++p)
      w.sample("xdpguard_flood_rate_packets_per_second",
               {{"interface", m.stats.ifname}, {"protocol", flood_proto_name(p)}},
               m.flood.state.proto[p].rate_pps);
  w.family("xdpguard_attack_active", "gauge", "1 while an attack of the protocol goes on, else 0.");
  for (const auto& m : s.interfaces)
    for (std::size_t p = 0; m.flood.detector && p < kFloodProtos; ++p)
      w.sample("xdpguard_attack_active", {{"interface", m.stats.ifname}, {"protocol", flood_proto_name(p)}},
               m.flood.state.proto[p].active ? 1 : 0);
  w.family("xdpguard_attacks_total", "counter", "Attacks detected since the interface was attached.");
  for (const auto& m : s.interfaces)
    for (std::size_t p = 0; p < kFloodProtos; ++p)
      w.sample("xdpguard_attacks_total", {{"interface", m.stats.ifname}, {"protocol", flood_proto_name(p)}},
               m.flood.state.proto[p].attacks);

  w.family("xdpguard_rules", "gauge", "Rules installed on the interface.");
  for (const auto& m : s.interfaces)
    w.sample("xdpguard_rules", {{"interface", m.stats.ifname}}, m.stats.rules.size());

  w.family("xdpguard_scrape_errors_total", "counter",
           "Interfaces this exporter could not read, summed over scrapes.");
  w.sample("xdpguard_scrape_errors_total", {}, scrape_errors_total);
  return w.take();
}

Result<ListenAddress> parse_listen(const std::string& text) {
  ListenAddress a;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string::npos || close == 1)
      return fail(EINVAL, "listen address '{}': expected [IPV6]:PORT", text);
    a.host = text.substr(1, close - 1);
    port = std::string_view(text).substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos)
      return fail(EINVAL,
                  "listen address '{}': expected HOST:PORT (for example 127.0.0.1:9435, or :9435 for all)",
                  text);
    a.host = text.substr(0, colon);
    if (a.host.find(':') != std::string::npos)
      return fail(EINVAL, "listen address '{}': an IPv6 address goes in brackets ([::1]:9435)", text);
    port = std::string_view(text).substr(colon + 1);
  }
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
  if (ec != std::errc() || end != port.data() + port.size() || a.port < 1 || a.port > 65535)
    return fail(EINVAL, "listen address '{}': port must be 1-65535", text);
  return a;
}

}  // namespace xdpguard::telemetry
