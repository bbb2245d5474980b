// Telemetry subcommands (src/lib/telemetry, docs/telemetry.md):
//   events   stream the records of `log` rules, one line (or JSON object) each
//   capture  ask the kernel for packets, write them to a pcap file
//   metrics  Prometheus exposition of every counter
//   top      rates per action and per rule, redrawn every second
//   talkers  per-source counters: on, off, show
//   flood    flood detection's thresholds and state: show, set, off
// Each runs until Ctrl-C (SIGINT/SIGTERM), --count or --duration.
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "config/config.h"
#include "telemetry/capture.h"
#include "telemetry/flood.h"
#include "telemetry/flood_monitor.h"
#include "telemetry/maps.h"
#include "telemetry/metrics.h"
#include "telemetry/metrics_server.h"
#include "telemetry/reader.h"
#include "telemetry/record.h"
#include "telemetry/talkers.h"
#include "telemetry/top.h"

namespace xdpguard::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Stops at --count records, after --duration seconds, or on a signal.
struct Limits {
  std::uint64_t count = 0;  // 0: no limit
  double seconds = 0;       // 0: no limit
  Clock::time_point start = Clock::now();
  bool expired() const {
    return stop_requested() ||
           (seconds > 0 && std::chrono::duration<double>(Clock::now() - start).count() >= seconds);
  }
  std::chrono::milliseconds wait() const {
    if (seconds <= 0) return std::chrono::milliseconds(250);
    auto left = std::chrono::duration<double>(seconds) - (Clock::now() - start);
    return std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(left),
                      std::chrono::milliseconds(0), std::chrono::milliseconds(250));
  }
};

struct Opened {
  Interface iface;
  Guard guard;
  telemetry::TelemetryMaps maps;
};

Result<Opened> open_interface(const std::string& name) {
  auto iface = XG_TRY(find_interface(name));
  auto g = XG_TRY(Guard::open(iface));
  auto maps = XG_TRY(telemetry::TelemetryMaps::open(g));
  return Opened{iface, std::move(g), std::move(maps)};
}

telemetry::ReaderLockId lock_id(const Opened& o) {
  return {o.guard.netns_id(), o.iface.ifindex, o.iface.name, o.guard.attachment()};
}

// ---- events -----------------------------------------------------------------

struct EventsArgs {
  std::string iface;
  bool json = false;
  std::uint64_t count = 0;
  double seconds = 0;
  std::uint32_t snaplen = 0;
};

// Flood detection for the interface: this process detects, or follows the one that does.
Result<telemetry::FloodMonitor> open_flood_monitor(const Opened& o) {
  return telemetry::FloodMonitor::open(XG_TRY(telemetry::FloodMaps::open(o.guard)),
                                       XG_TRY(telemetry::Talkers::open(o.guard)), lock_id(o));
}

Result<void> cmd_events(const EventsArgs& a) {
  auto o = XG_TRY(open_interface(a.iface));
  catch_stop_signals();
  const auto before = XG_TRY(o.maps.counters());
  auto flood = XG_TRY(open_flood_monitor(o));
  auto reader = XG_TRY(
      telemetry::RecordReader::start(std::move(o.maps), {XDPGUARD_READER_EVENTS, a.snaplen}, lock_id(o)));
  std::fprintf(stderr,
               "xdpguard: events %s: reading the records of log rules and flood detection's attacks; Ctrl-C "
               "stops\n",
               o.iface.name.c_str());
  const auto clock = telemetry::Clock::now();
  Limits lim{a.count, a.seconds};
  std::uint64_t n = 0, lost_seen = before.lost;
  // Records are formatted into one buffer and written in large pieces (a
  // printf per record was most of the reader's time at high rates); the
  // buffer goes out when it fills, after every batch the ring buffer gave,
  // and before an attack event (so the stream stays in order).
  telemetry::RecordWriter out(clock, o.iface.name, a.json);
  constexpr std::size_t kWriteAt = 64u << 10;
  auto write_out = [&] {
    auto& b = out.buffer();
    if (!b.empty()) std::fwrite(b.data(), 1, b.size(), stdout);
    b.clear();
  };
  auto print_attack = [&](const telemetry::FloodEvent& e) {
    write_out();
    if (a.json)
      std::printf("%s\n", telemetry::flood_event_json(e, o.iface.name, clock).dump().c_str());
    else
      std::printf("%s\n", telemetry::flood_event_line(e, o.iface.name, clock).c_str());
  };
  // Attacks going on now first; then what detection decides as it goes.
  for (const auto& e : flood.in_progress()) print_attack(e);
  auto detect = [&]() -> Result<void> {
    for (const auto& e : XG_TRY(flood.tick(monotonic_ns()))) print_attack(e);
    return {};
  };
  auto on_record = [&](const xdpguard_record& r, std::span<const std::uint8_t> frame) {
    out.append(r, frame);
    if (out.buffer().size() >= kWriteAt) write_out();
    ++n;
    return !lim.count || n < lim.count;
  };
  // Losses (the ring buffer was full) are reported in the stream, once a second.
  auto report_lost = [&]() -> Result<void> {
    auto c = XG_TRY(reader.maps().counters());
    if (c.lost == lost_seen) return {};
    const std::uint64_t d = c.lost - lost_seen;
    lost_seen = c.lost;
    write_out();
    if (a.json)
      std::printf(
          "%s\n",
          nlohmann::json({{"type", "lost"}, {"interface", o.iface.name}, {"records", d}}).dump().c_str());
    else
      std::printf("-- %llu records lost (ring buffer full: the reader lags)\n",
                  static_cast<unsigned long long>(d));
    return {};
  };
  auto last_report = Clock::now();
  while (!lim.expired() && (!lim.count || n < lim.count)) {
    XG_CHECK(reader.poll(lim.wait(), on_record));
    write_out();
    XG_CHECK(detect());
    if (Clock::now() - last_report >= std::chrono::seconds(1)) {
      XG_CHECK(report_lost());
      last_report = Clock::now();
    }
    std::fflush(stdout);
  }
  if (!lim.count || n < lim.count) XG_CHECK(reader.drain(on_record));
  write_out();
  XG_CHECK(report_lost());
  std::fflush(stdout);
  XG_CHECK(reader.stop());
  XG_CHECK(flood.stop());
  std::fprintf(stderr, "xdpguard: events %s: %llu records, %llu lost\n", o.iface.name.c_str(),
               static_cast<unsigned long long>(n), static_cast<unsigned long long>(lost_seen - before.lost));
  return {};
}

// ---- capture ----------------------------------------------------------------

struct CaptureArgs {
  std::string iface;
  std::string path;
  std::uint64_t count = 0;
  double seconds = 0;
  std::uint32_t snaplen = XDPGUARD_MAX_SNAPLEN;
  std::string verdicts = "all";
  std::vector<std::string> filter;  // words, joined by spaces (as tcpdump takes them)
};

std::string join(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : " ") + w;
  return s;
}

Result<void> cmd_capture(const CaptureArgs& a) {
  const std::uint32_t verdicts = XG_TRY(telemetry::parse_verdicts(a.verdicts));
  // The filter and the file first: they fail before the kernel is asked anything.
  auto out = XG_TRY(telemetry::PcapWriter::open({a.path, a.snaplen, join(a.filter)}));
  auto o = XG_TRY(open_interface(a.iface));
  catch_stop_signals();
  auto reader = XG_TRY(telemetry::RecordReader::start(
      std::move(o.maps), {XDPGUARD_READER_CAPTURE, a.snaplen, verdicts, XDPGUARD_LOG_ALL}, lock_id(o)));
  // The classifier sends every packet to be recorded only when compiled
  // while a capture runs: again now, and again when it ends.
  XG_CHECK_CTX(o.guard.recompile(), "capture");
  const auto before = XG_TRY(reader.maps().counters());
  std::fprintf(stderr, "xdpguard: capture %s: writing %s (snaplen %u); Ctrl-C stops\n", o.iface.name.c_str(),
               a.path.c_str(), a.snaplen);
  const auto clock = telemetry::Clock::now();
  Limits lim{a.count, a.seconds};
  auto on_record = [&](const xdpguard_record& r, std::span<const std::uint8_t> frame) {
    if (!(r.reason & XDPGUARD_REASON_CAPTURE)) return true;  // a `log` rule's record, not asked for
    out.write(clock.wall_ns(r.ts_ns), r.orig_len, frame);
    return !lim.count || out.written() < lim.count;
  };
  while (!lim.expired() && (!lim.count || out.written() < lim.count)) {
    XG_CHECK(reader.poll(lim.wait(), on_record));
    XG_CHECK(out.flush());
  }
  if (!lim.count || out.written() < lim.count) XG_CHECK(reader.drain(on_record));
  XG_CHECK(reader.stop());
  if (auto r = o.guard.recompile(); !r)
    spdlog::warn("the capture ended; recompiling the rule set without its check failed: {}",
                 r.error().message());
  XG_CHECK(out.close());
  const auto after = XG_TRY(reader.maps().counters());
  std::fprintf(stderr, "xdpguard: capture %s: %llu packets written, %llu filtered out, %llu lost\n",
               o.iface.name.c_str(), static_cast<unsigned long long>(out.written()),
               static_cast<unsigned long long>(out.filtered_out()),
               static_cast<unsigned long long>(after.lost - before.lost));
  return {};
}

// ---- metrics ----------------------------------------------------------------

struct MetricsArgs {
  std::string listen;
  bool once = false;
};

Result<void> cmd_metrics(const MetricsArgs& a) {
  if (a.once) {
    auto snap = XG_TRY(telemetry::collect());
    std::fputs(telemetry::metrics_text(snap, snap.scrape_errors).c_str(), stdout);
    return {};
  }
  const auto addr = XG_TRY(telemetry::parse_listen(a.listen.empty() ? telemetry::kDefaultListen : a.listen));
  telemetry::ServerLimits limits;
  limits.max_connections = XG_TRY(telemetry::connection_limit(limits.max_connections));
  auto listeners = XG_TRY(telemetry::open_listeners(addr));
  std::vector<std::string> urls, exposed;
  for (const auto& l : listeners) {
    urls.push_back("http://" + l.address + "/metrics");
    if (!l.loopback) exposed.push_back(l.address);
  }
  if (!exposed.empty())
    std::fprintf(
        stderr,
        "xdpguard: metrics: warning: listening on %s: the endpoint is reachable from beyond this host "
        "(--listen 127.0.0.1:PORT keeps it local)\n",
        fmt::format("{}", fmt::join(exposed, ", ")).c_str());
  catch_stop_signals();
  // Flood detection for every attached interface while it serves (an
  // interface another process detects for is followed); attacks are logged.
  // A thread of its own that shares nothing with the server: the server's
  // connections stay under the descriptors kept for it (connection_limit).
  std::atomic<bool> served{false};
  std::thread detect([&] {
    telemetry::FloodService service;
    const auto clock = telemetry::Clock::now();
    while (!stop_requested() && !served) {
      auto r = service.tick(monotonic_ns(), [&](const std::string& ifname, const telemetry::FloodEvent& e) {
        std::fprintf(stderr, "xdpguard: metrics: %s\n",
                     telemetry::flood_event_line(e, ifname, clock).c_str());
      });
      if (!r) spdlog::warn("flood detection: {}", r.error().message());
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  });
  telemetry::MetricsServer server(std::move(listeners), telemetry::exposition_renderer(), limits);
  std::fprintf(stderr, "xdpguard: metrics: serving %s (at most %zu connections); Ctrl-C stops\n",
               fmt::format("{}", fmt::join(urls, " ")).c_str(), limits.max_connections);
  auto r = server.run(stop_requested());
  served = true;
  detect.join();
  return r;
}

// ---- top --------------------------------------------------------------------

struct TopArgs {
  std::string iface;
  bool once = false;
  double interval = 1;
};

// The terminal in non-canonical mode without echo (keys arrive one by
// one), restored on destruction. Nothing when stdin is not a terminal.
class RawTerminal {
 public:
  RawTerminal() {
    if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &old_) != 0) return;
    termios raw = old_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    on_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (on_) ::tcsetattr(STDIN_FILENO, TCSANOW, &old_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  termios old_{};
  bool on_ = false;
};

// Waits `d` or until q is pressed (true) or a stop signal arrives.
bool wait_or_quit(std::chrono::milliseconds d) {
  const auto end = Clock::now() + d;
  while (!stop_requested() && Clock::now() < end) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int n =
        ::poll(&p, 1, static_cast<int>(std::min<std::chrono::milliseconds::rep>(left.count(), 100)));
    if (n == 1 && (p.revents & POLLIN)) {
      char c = 0;
      const ssize_t got = ::read(STDIN_FILENO, &c, 1);
      if (got == 1 && (c == 'q' || c == 'Q')) return true;
      // End of input (stdin is /dev/null or closed): nothing more to read, just wait.
      if (got <= 0 || (p.revents & POLLHUP)) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } else if (n == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // stdin closed: just wait
    }
  }
  return stop_requested();
}

Result<void> cmd_top(const TopArgs& a) {
  auto o = XG_TRY(open_interface(a.iface));
  const auto interval = std::chrono::milliseconds(static_cast<long>(a.interval * 1000));
  auto talkers = XG_TRY(telemetry::Talkers::open(o.guard));
  auto prev = XG_TRY(telemetry::sample(o.guard, o.maps, &talkers));
  if (a.once) {
    std::this_thread::sleep_for(interval);
    auto cur = XG_TRY(telemetry::sample(o.guard, o.maps, &talkers));
    std::fputs(telemetry::top_frame(o.iface.name, prev, cur).c_str(), stdout);
    return {};
  }
  catch_stop_signals();
  RawTerminal term;
  while (!wait_or_quit(interval)) {
    // A detached attachment's counters stand still: say so and stop.
    XG_CHECK(check_in_force(o.guard.attachment()));
    auto cur = XG_TRY(telemetry::sample(o.guard, o.maps, &talkers));
    // Home, clear; then the frame and the key help.
    std::printf("\x1b[H\x1b[2J%s\n(q or Ctrl-C quits)\n",
                telemetry::top_frame(o.iface.name, prev, cur).c_str());
    std::fflush(stdout);
    prev = std::move(cur);
  }
  return {};
}

// ---- talkers ----------------------------------------------------------------

struct TalkersArgs {
  std::string iface;
  std::string what = "show";
  bool json = false;
  std::size_t count = 20;
};

Result<void> cmd_talkers(const TalkersArgs& a) {
  auto o = XG_TRY(open_interface(a.iface));
  if (a.what == "on" || a.what == "off") {
    // A change of the interface's state: under its lock, into the maps in force.
    auto held = XG_TRY(o.guard.lock());
    auto t = XG_TRY(telemetry::Talkers::open(o.guard));
    return t.enable(a.what == "on", o.guard);
  }
  auto t = XG_TRY(telemetry::Talkers::open(o.guard));
  if (!XG_TRY(t.enabled()))
    return fail(ENODATA, "top talkers are off for {}; turn them on with: xdpguard talkers {} on", a.iface,
                a.iface);
  auto all = XG_TRY(t.read());
  if (a.json) {
    nlohmann::json list = nlohmann::json::array();
    for (std::size_t i = 0; i < all.size() && i < a.count; ++i)
      list.push_back({{"address", all[i].address()}, {"packets", all[i].packets}, {"bytes", all[i].bytes}});
    std::printf("%s\n", nlohmann::json({{"interface", a.iface}, {"top_talkers", list}}).dump().c_str());
    return {};
  }
  std::printf("%-39s %14s %16s\n", "source", "packets", "bytes");
  for (std::size_t i = 0; i < all.size() && i < a.count; ++i)
    std::printf("%-39s %14llu %16llu\n", all[i].address().c_str(),
                static_cast<unsigned long long>(all[i].packets),
                static_cast<unsigned long long>(all[i].bytes));
  return {};
}

// ---- flood -------------------------------------------------------------------

struct FloodArgs {
  std::string iface;
  std::string what = "show";
  bool json = false;
  config::Flood set;  // the options given to `set`
};

Result<void> cmd_flood(const FloodArgs& a) {
  auto o = XG_TRY(open_interface(a.iface));
  if (a.what == "show") {
    if (a.set.any())
      return fail(EINVAL, "thresholds are changed with: xdpguard flood {} set --udp-pps N ...", a.iface);
    const auto st = XG_TRY(telemetry::flood_status(o.guard));
    const auto clock = telemetry::Clock::now();
    if (a.json) {
      auto j = telemetry::flood_status_json(st, clock);
      j["interface"] = o.iface.name;
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::fputs(telemetry::flood_status_table(st, o.iface.name, clock).c_str(), stdout);
    }
    return {};
  }
  if (a.what == "set" && !a.set.any())
    return fail(EINVAL,
                "nothing to set (--syn-pps, --udp-pps, --icmp-pps, --frag-pps, --hold, --top-sources)");
  if (a.what == "off" && a.set.any()) return fail(EINVAL, "off takes no options");
  // Read, change, write: under the interface's lock, as every change of its
  // state, into the maps in force (lock() moves the guard to them).
  auto held = XG_TRY(o.guard.lock());
  auto maps = XG_TRY(telemetry::FloodMaps::open(o.guard));
  auto cfg = XG_TRY(maps.config());
  if (a.what == "off")
    cfg.pps = {};
  else
    cfg = cfg.overridden_by(a.set);
  return maps.set_config(cfg);
}

}  // namespace

void register_telemetry_commands(CLI::App& app, Command& cmd) {
  auto ev = std::make_shared<EventsArgs>();
  auto* events = app.add_subcommand("events", "Stream the records of rules with `log`, one line each");
  events->add_option("IFACE", ev->iface, "Interface")->required();
  events->add_flag("--json", ev->json, "One JSON object a line");
  add_count(events, ev->count, "Stop after this many records");
  add_duration(events, ev->seconds, "Stop after this many seconds");
  add_whole(events, "--snaplen", ev->snaplen, 0, XDPGUARD_MAX_SNAPLEN,
            "Frame bytes each record carries, shown in JSON as \"frame\" (hex; default 0: headers "
            "as parsed only)");
  events->footer(
      "Example: xdpguard rule add eth1 'drop tcp dport 23 log'\n"
      "         xdpguard events eth1 --json --count 100");
  events->callback([&cmd, ev] {
    cmd.fn = [ev] { return cmd_events(*ev); };
    cmd.context = [ev] { return "events " + ev->iface; };
  });

  auto ca = std::make_shared<CaptureArgs>();
  auto* capture = app.add_subcommand("capture", "Write the interface's packets to a pcap file");
  capture->add_option("IFACE", ca->iface, "Interface")->required();
  capture->add_option("-w,--write", ca->path, "The pcap file to write (- for stdout)")->required();
  add_count(capture, ca->count, "Stop after writing this many packets");
  add_duration(capture, ca->seconds, "Stop after this many seconds");
  add_whole(capture, "--snaplen", ca->snaplen, 1, XDPGUARD_MAX_SNAPLEN,
            fmt::format("Frame bytes kept of each packet (default and most: {})", XDPGUARD_MAX_SNAPLEN));
  capture->add_option(
      "--verdict", ca->verdicts,
      "Only packets given these verdicts: pass, drop, tx, redirect, aborted, all (comma list)");
  capture->add_option("FILTER", ca->filter, "tcpdump filter expression (pcap-filter(7))");
  capture->footer(
      "Example: xdpguard capture eth1 -w drops.pcap --count 1000 --snaplen 128 --verdict drop 'tcp and port "
      "23'");
  capture->callback([&cmd, ca] {
    cmd.fn = [ca] { return cmd_capture(*ca); };
    cmd.context = [ca] { return "capture " + ca->iface; };
  });

  auto me = std::make_shared<MetricsArgs>();
  auto* metrics = app.add_subcommand("metrics", "Serve every counter in the Prometheus text format");
  auto* listen = metrics->add_option(
      "--listen", me->listen,
      "ADDRESS:PORT to serve /metrics on (default 127.0.0.1:9435): an address ([::1]:9435 for IPv6), a host "
      "name (every address it resolves to), or :PORT for all addresses (warned)");
  auto* once = metrics->add_flag("--once", me->once, "Print the exposition once to stdout and exit");
  listen->excludes(once);
  metrics->footer(
      "Example: xdpguard metrics --listen 127.0.0.1:9435\n"
      "         xdpguard metrics --listen localhost:9435\n"
      "         xdpguard metrics --once | promtool check metrics");
  metrics->callback([&cmd, me] {
    cmd.fn = [me]() -> Result<void> { return cmd_metrics(*me); };
    cmd.context = [] { return std::string("metrics"); };
  });

  auto tp = std::make_shared<TopArgs>();
  auto* top = app.add_subcommand("top", "Live rates per action and per rule, sorted by packet rate");
  top->add_option("IFACE", tp->iface, "Interface")->required();
  top->add_flag("--once", tp->once, "Print one frame (rates over one interval) and exit");
  add_decimal(top, "--interval", tp->interval, 0.1, 3600, "seconds", "Seconds between frames (default 1)")
      ->type_name("SECONDS");
  top->footer("Example: xdpguard top eth1\n         xdpguard top eth1 --once");
  top->callback([&cmd, tp] {
    cmd.fn = [tp] { return cmd_top(*tp); };
    cmd.context = [tp] { return "top " + tp->iface; };
  });

  auto tk = std::make_shared<TalkersArgs>();
  auto* talkers = app.add_subcommand("talkers", "Per-source packet counts (top talkers): on, off, show");
  talkers->add_option("IFACE", tk->iface, "Interface")->required();
  talkers->add_option("WHAT", tk->what, "on, off or show (default)")
      ->check(CLI::IsMember({"on", "off", "show"}));
  talkers->add_flag("--json", tk->json, "One JSON document");
  add_count(talkers, tk->count, "Show this many sources (default 20)");
  talkers->footer(
      "Example: xdpguard talkers eth1 on\n"
      "         xdpguard talkers eth1 --json --count 10");
  talkers->callback([&cmd, tk] {
    cmd.fn = [tk] { return cmd_talkers(*tk); };
    cmd.context = [tk] { return "talkers " + tk->iface; };
  });

  auto fl = std::make_shared<FloodArgs>();
  auto* flood = app.add_subcommand(
      "flood", "Flood detection: per-protocol thresholds, rates and attacks (show, set, off)");
  flood->add_option("IFACE", fl->iface, "Interface")->required();
  flood->add_option("WHAT", fl->what, "show (default), set (the options given), or off (no thresholds)")
      ->check(CLI::IsMember({"show", "set", "off"}));
  flood->add_flag("--json", fl->json, "show: one JSON document");
  auto pps = [&](const char* name, std::optional<std::uint64_t>& v, const char* help) {
    add_whole(flood, name, v, 0, config::kFloodMaxPps, help, "packets per second");
  };
  pps("--syn-pps", fl->set.syn_pps,
      "TCP SYNs (without ACK) per second over which an attack starts; 0: not watched");
  pps("--udp-pps", fl->set.udp_pps, "UDP packets per second; 0: not watched");
  pps("--icmp-pps", fl->set.icmp_pps, "ICMP and ICMPv6 packets per second; 0: not watched");
  pps("--frag-pps", fl->set.frag_pps, "Non-first IP fragments per second; 0: not watched");
  add_whole(flood, "--hold", fl->set.hold, 1, config::kFloodMaxHold,
            "Seconds at or under the threshold before an attack ends (default 10)", "seconds");
  add_whole(flood, "--top-sources", fl->set.top_sources, 0, config::kFloodMaxTop,
            "Sources an attack-started event names (default 5)");
  flood->footer(
      "Example: xdpguard flood eth1 set --syn-pps 20000 --udp-pps 200000 --hold 10\n"
      "         xdpguard flood eth1 --json\n"
      "         xdpguard events eth1     # detects, and prints attack started / ended");
  flood->callback([&cmd, fl] {
    cmd.fn = [fl] { return cmd_flood(*fl); };
    cmd.context = [fl] { return "flood " + fl->iface; };
  });
}

}  // namespace xdpguard::cli
