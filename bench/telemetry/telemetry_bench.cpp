// telemetry_bench: what recording packets costs in the kernel, measured with
// BPF_PROG_TEST_RUN next to the same rule without `log` in the same run, and
// how many records per second reach user space without loss.
//
// Each case is its own pipeline (GuardProgram + Guard::from_program, as
// `attach` leaves it) with its own ring buffer; every round runs every case
// once (repeat kRepeat) and drains the ring buffers between runs (not
// timed); a case's figure is the median over the rounds of the kernel's
// mean ns/packet. Checks: the verdict is XDP_DROP, and each case with a
// reader got exactly the records it should have and lost none.
//
// --vs-tcpdump (vs_tcpdump.cpp): in a veth lab (names xt11<pid>...), the
// highest rate of records each of `xdpguard events`, `xdpguard capture`,
// `tcpdump -n` and `tcpdump -w` takes without loss, on the same frames.
//
//   telemetry_bench [--quick] [--vs-tcpdump [--other XDPGUARD]]
#include <linux/bpf.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <csignal>
#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bpf/test_run.h"
#include "common/packets.h"
#include "core/log.h"
#include "core/process.h"
#include "guard/guard.h"
#include "lab/lab.h"
#include "telemetry/maps.h"
#include "telemetry/reader.h"
#include "telemetry/talkers.h"

using namespace xdpguard;

namespace {

struct Case {
  Case(std::string n, std::string r, std::optional<telemetry::ReaderRequest> req, double frac)
      : name(std::move(n)), rule(std::move(r)), reader(req), expect_fraction(frac) {}
  std::string name;
  std::string rule;
  std::optional<telemetry::ReaderRequest> reader;
  double expect_fraction = 0;  // records per packet expected (0: none); sampled cases are checked loosely
  std::unique_ptr<GuardProgram> prog;
  std::unique_ptr<Guard> guard;
  std::optional<telemetry::RecordReader> rd;
  std::vector<double> ns;
  std::uint64_t packets = 0, delivered = 0;
  bool ok = true;
};

Result<void> setup(Case& c) {
  auto prog = XG_TRY(GuardProgram::open(GuardConfig{}));
  XG_CHECK(prog.load());
  c.prog = std::make_unique<GuardProgram>(std::move(prog));
  c.guard = std::make_unique<Guard>(XG_TRY(Guard::from_program(*c.prog)));
  XG_CHECK(c.guard->replace_rules({c.rule}));
  if (c.reader) {
    auto maps = XG_TRY(telemetry::TelemetryMaps::from_program(*c.prog));
    c.rd.emplace(XG_TRY(telemetry::RecordReader::start(std::move(maps), *c.reader, std::nullopt)));
    XG_CHECK(c.guard->recompile());  // as `xdpguard capture` does
  }
  if (c.name.find("top talkers on") != std::string::npos)
    XG_CHECK(XG_TRY(telemetry::Talkers::from_program(*c.prog)).enable(true, *c.guard));
  return {};
}

std::size_t drain(Case& c) {
  if (!c.rd) return 0;
  auto n = c.rd->drain([](const xdpguard_record&, std::span<const std::uint8_t>) { return true; });
  return n ? *n : 0;
}

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

namespace xdpguard::bench {
int vs_tcpdump(bool quick, const std::string& other);  // vs_tcpdump.cpp
}  // namespace xdpguard::bench

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  log::init();
  std::string other;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--other") == 0) other = argv[i + 1];
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--vs-tcpdump") == 0) return bench::vs_tcpdump(quick, other);
  const std::uint32_t kRepeat = 20'000;  // 20,000 records of up to 216 B: well inside 8 MiB
  const int rounds = quick ? 5 : 15;
  const auto frame = bench::frame(bench::packet(17, "198.18.0.1", "198.18.0.2", 1000, 9));

  using telemetry::ReaderRequest;
  std::vector<Case> cases;
  cases.emplace_back("rule without log", "drop udp dport 9", std::nullopt, 0);
  cases.emplace_back("log, no reader (counted unread)", "drop udp dport 9 log", std::nullopt, 0);
  cases.emplace_back("log 1/100, no reader", "drop udp dport 9 log 1/100", std::nullopt, 0);
  cases.emplace_back("no log, top talkers on", "drop udp dport 9", std::nullopt, 0);
  cases.emplace_back("log, reader, headers only", "drop udp dport 9 log",
                     ReaderRequest{XDPGUARD_READER_EVENTS, 0}, 1);
  cases.emplace_back("log, reader, snaplen 128", "drop udp dport 9 log",
                     ReaderRequest{XDPGUARD_READER_EVENTS, 128}, 1);
  cases.emplace_back("log 1/100, reader", "drop udp dport 9 log 1/100",
                     ReaderRequest{XDPGUARD_READER_EVENTS, 0}, 0.01);
  cases.emplace_back("no log, capture running (snaplen 128)", "drop udp dport 9",
                     ReaderRequest{XDPGUARD_READER_CAPTURE, 128, 0xff, XDPGUARD_LOG_ALL}, 1);
  for (auto& c : cases) {
    if (auto r = setup(c); !r) {
      std::fprintf(stderr, "telemetry_bench: %s: %s\n", c.name.c_str(), r.error().message().c_str());
      return 1;
    }
  }

  for (int round = 0; round < rounds; ++round) {
    for (auto& c : cases) {
      auto r = test_run(c.prog->prog_fd(), frame, kRepeat);
      if (!r || r->verdict != XDP_DROP) c.ok = false;
      if (r) c.ns.push_back(r->duration_ns);
      c.packets += kRepeat;
      c.delivered += drain(c);
    }
  }

  std::printf("| case | ns/packet (median of %d x %u) | vs no log | records | lost | check |\n", rounds,
              kRepeat);
  std::printf("| --- | ---: | ---: | ---: | ---: | --- |\n");
  const double base = median(cases[0].ns);
  int status = 0;
  for (auto& c : cases) {
    auto cnt = telemetry::TelemetryMaps::from_program(*c.prog);
    telemetry::TmCounters tm =
        cnt ? cnt->counters().value_or(telemetry::TmCounters{}) : telemetry::TmCounters{};
    const double want = c.expect_fraction * static_cast<double>(c.packets);
    bool good = c.ok && tm.lost == 0 && tm.records == c.delivered;
    if (c.expect_fraction == 1) good = good && c.delivered == c.packets;
    if (c.expect_fraction > 0 && c.expect_fraction < 1)
      good = good && std::abs(c.delivered - want) < 6 * std::sqrt(want);
    if (c.expect_fraction == 0) good = good && c.delivered == 0;
    if (!good) status = 1;
    const double m = median(c.ns);
    std::printf("| %s | %.0f | %+.0f | %llu | %llu | %s |\n", c.name.c_str(), m, m - base,
                static_cast<unsigned long long>(c.delivered), static_cast<unsigned long long>(tm.lost),
                good ? "ok" : "FAILED");
  }

  // Records per second into user space: the kernel produces (test run, one
  // CPU) while a consumer thread reads; lost counted. The machine is shared:
  // besides wall time, the CPU time of each side (CLOCK_THREAD_CPUTIME_ID),
  // which leaves out the time other work took the CPU.
  {
    Case c("throughput", "drop udp dport 9 log", ReaderRequest{XDPGUARD_READER_EVENTS, 0}, 1);
    if (auto r = setup(c); !r) return 1;
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> got{0};
    double consumer_cpu = 0;
    auto t0 = std::chrono::steady_clock::now();
    std::thread consumer([&] {
      auto fn = [&](const xdpguard_record&, std::span<const std::uint8_t>) {
        got.fetch_add(1, std::memory_order_relaxed);
        return true;
      };
      const double c0 = thread_cpu_s();
      while (!done) (void)c.rd->poll(std::chrono::milliseconds(100), fn);
      (void)c.rd->drain(fn);
      consumer_cpu = thread_cpu_s() - c0;
    });
    const std::uint64_t total = quick ? 2'000'000 : 10'000'000;
    const double p0 = thread_cpu_s();
    for (std::uint64_t sent = 0; sent < total; sent += kRepeat)
      (void)test_run(c.prog->prog_fd(), frame, kRepeat);
    const double producer_cpu = thread_cpu_s() - p0;
    done = true;
    consumer.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto tm = telemetry::TelemetryMaps::from_program(*c.prog)->counters().value_or(telemetry::TmCounters{});
    std::printf(
        "\nrecords to user space: %llu produced, %llu delivered, %llu lost (%.2f%%) in %.2f s wall; "
        "producer CPU %.2f s (%.2f M records/s), consumer CPU %.2f s (%.2f M records/s)\n",
        static_cast<unsigned long long>(total), static_cast<unsigned long long>(got.load()),
        static_cast<unsigned long long>(tm.lost),
        100.0 * static_cast<double>(tm.lost) / static_cast<double>(total), s, producer_cpu,
        static_cast<double>(total) / producer_cpu / 1e6, consumer_cpu,
        static_cast<double>(got.load()) / consumer_cpu / 1e6);
    if (got.load() + tm.lost != total) status = 1;
  }
  return status;
}
