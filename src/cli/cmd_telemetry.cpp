// Telemetry subcommands (src/lib/telemetry, docs/telemetry.md):
//   events   stream the records of `log` rules, one line (or JSON object) each
// Each runs until Ctrl-C (SIGINT/SIGTERM), --count or --duration.
#include <csignal>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "cli/commands.h"
#include "telemetry/maps.h"
#include "telemetry/reader.h"
#include "telemetry/record.h"

namespace xdpguard::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop = true; }

// SIGINT/SIGTERM end the command's loop (no SA_RESTART: waits return early).
void catch_stop_signals() {
  struct sigaction sa{};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

using Clock = std::chrono::steady_clock;

// Stops at --count records, after --duration seconds, or on a signal.
struct Limits {
  std::uint64_t count = 0;  // 0: no limit
  double seconds = 0;       // 0: no limit
  Clock::time_point start = Clock::now();
  bool expired() const {
    return g_stop || (seconds > 0 && std::chrono::duration<double>(Clock::now() - start).count() >= seconds);
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
  return {o.guard.netns_id(), o.iface.ifindex, o.iface.name};
}

// ---- events -----------------------------------------------------------------

struct EventsArgs {
  std::string iface;
  bool json = false;
  std::uint64_t count = 0;
  double seconds = 0;
  std::uint32_t snaplen = 0;
};

Result<void> cmd_events(const EventsArgs& a) {
  auto o = XG_TRY(open_interface(a.iface));
  catch_stop_signals();
  const auto before = XG_TRY(o.maps.counters());
  auto reader = XG_TRY(
      telemetry::RecordReader::start(std::move(o.maps), {XDPGUARD_READER_EVENTS, a.snaplen}, lock_id(o)));
  std::fprintf(stderr, "xdpguard: events %s: reading the records of log rules; Ctrl-C stops\n",
               o.iface.name.c_str());
  const auto clock = telemetry::Clock::now();
  Limits lim{a.count, a.seconds};
  std::uint64_t n = 0, lost_seen = before.lost;
  auto on_record = [&](const xdpguard_record& r, std::span<const std::uint8_t> frame) {
    if (a.json)
      std::printf("%s\n", telemetry::record_json(r, frame, o.iface.name, clock).dump().c_str());
    else
      std::printf("%s\n", telemetry::record_line(r, clock).c_str());
    ++n;
    return !lim.count || n < lim.count;
  };
  // Losses (the ring buffer was full) are reported in the stream, once a second.
  auto report_lost = [&]() -> Result<void> {
    auto c = XG_TRY(reader.maps().counters());
    if (c.lost == lost_seen) return {};
    const std::uint64_t d = c.lost - lost_seen;
    lost_seen = c.lost;
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
    if (Clock::now() - last_report >= std::chrono::seconds(1)) {
      XG_CHECK(report_lost());
      last_report = Clock::now();
    }
    std::fflush(stdout);
  }
  if (!lim.count || n < lim.count) XG_CHECK(reader.drain(on_record));
  XG_CHECK(report_lost());
  std::fflush(stdout);
  XG_CHECK(reader.stop());
  std::fprintf(stderr, "xdpguard: events %s: %llu records, %llu lost\n", o.iface.name.c_str(),
               static_cast<unsigned long long>(n), static_cast<unsigned long long>(lost_seen - before.lost));
  return {};
}

}  // namespace

void register_telemetry_commands(CLI::App& app, Command& cmd) {
  auto ev = std::make_shared<EventsArgs>();
  auto* events = app.add_subcommand("events", "Stream the records of rules with `log`, one line each");
  events->add_option("IFACE", ev->iface, "Interface")->required();
  events->add_flag("--json", ev->json, "One JSON object a line");
  events->add_option("--count", ev->count, "Stop after this many records");
  events->add_option("--duration", ev->seconds, "Stop after this many seconds")->check(CLI::PositiveNumber);
  events
      ->add_option("--snaplen", ev->snaplen,
                   "Frame bytes each record carries, shown in JSON as \"frame\" (hex; default 0: headers "
                   "as parsed only)")
      ->check(CLI::Range(0, XDPGUARD_MAX_SNAPLEN));
  events->footer(
      "Example: xdpguard rule add eth1 'drop tcp dport 23 log'\n"
      "         xdpguard events eth1 --json --count 100");
  events->callback([&cmd, ev] {
    cmd.fn = [ev] { return cmd_events(*ev); };
    cmd.context = [ev] { return "events " + ev->iface; };
  });
}

}  // namespace xdpguard::cli
