// simulate_bench: frames per second through `xdpguard simulate` (the CLI, as
// a user runs it: a 10-rule config file, a pcap of N frames, -q), side by
// side in one run with
//
//   tcpdump -r      tcpdump reading the same file with a filter
//                   (`tcpdump --count -r FILE 'udp port 53'`): the goal's
//                   baseline (issue 20: simulate >= 1x its read rate)
//   the floor       one BPF_PROG_TEST_RUN per frame of a bare XDP_PASS
//                   program, the frames read with the simulator's own reader:
//                   what any simulation through the kernel's program costs
//                   per frame here (a system call each)
//
// and the simulator's peak memory (its maximum resident set, from wait4): the
// capture streams, so it must not grow with N. Checks: simulate judged all N
// frames and dropped exactly the frames the rules drop (known from how the
// capture was made), tcpdump counted exactly the frames its filter matches.
//
//   simulate_bench [--quick] [--json FILE]    (N = 1,000,000 quick, else 10,000,000)
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <bpf/bpf.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/workloads.h"
#include "core/unique_fd.h"
#include "simulate/capture_file.h"

namespace {

using namespace xdpguard;
using Clock = std::chrono::steady_clock;

// One frame of the capture: UDP to port 53 (dropped by the rules), to port
// 5353 (passed), TCP to 22 (passed) and 23 (dropped), in turn; sources vary.
std::vector<std::uint8_t> frame_at(std::uint64_t i) {
  static const std::uint8_t head[] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00};
  std::vector<std::uint8_t> f(head, head + sizeof head);
  const bool tcp = (i % 4) >= 2;
  const std::uint16_t dport = (i % 4) == 0 ? 53 : (i % 4) == 1 ? 5353 : (i % 4) == 2 ? 22 : 23;
  const std::uint16_t l4len = tcp ? 20 : 8;
  const std::uint16_t tot = static_cast<std::uint16_t>(20 + l4len + 18);
  const std::uint8_t ip[20] = {0x45,
                               0,
                               static_cast<std::uint8_t>(tot >> 8),
                               static_cast<std::uint8_t>(tot),
                               0,
                               1,
                               0,
                               0,
                               64,
                               static_cast<std::uint8_t>(tcp ? 6 : 17),
                               0,
                               0,
                               198,
                               18,
                               static_cast<std::uint8_t>(1 + (i >> 8) % 200),
                               static_cast<std::uint8_t>(i),
                               198,
                               18,
                               0,
                               2};
  f.insert(f.end(), ip, ip + 20);
  const std::uint16_t sport = static_cast<std::uint16_t>(1024 + i % 60000);
  f.push_back(static_cast<std::uint8_t>(sport >> 8));
  f.push_back(static_cast<std::uint8_t>(sport));
  f.push_back(static_cast<std::uint8_t>(dport >> 8));
  f.push_back(static_cast<std::uint8_t>(dport));
  if (tcp) {
    const std::uint8_t rest[16] = {0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0};
    f.insert(f.end(), rest, rest + 16);
  } else {
    f.push_back(0);
    f.push_back(static_cast<std::uint8_t>(8 + 18));
    f.push_back(0);
    f.push_back(0);
  }
  f.resize(14 + tot, 0);  // 18 bytes of payload: a 64-byte frame
  return f;
}
bool dropped_by_rules(std::uint64_t i) { return i % 4 == 0 || i % 4 == 3; }
bool udp53(std::uint64_t i) { return i % 4 == 0; }

void write_capture(const std::string& path, std::uint64_t n) {
  std::ofstream out(path, std::ios::binary);
  auto u32 = [&](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](std::uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
  u32(0xa1b2c3d4);  // pcap, microseconds, host order
  u16(2);
  u16(4);
  u32(0);
  u32(0);
  u32(65535);
  u32(1);  // Ethernet
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto f = frame_at(i);
    u32(static_cast<std::uint32_t>(1'000'000 + i / 1'000'000));
    u32(static_cast<std::uint32_t>(i % 1'000'000));
    u32(static_cast<std::uint32_t>(f.size()));
    u32(static_cast<std::uint32_t>(f.size()));
    out.write(reinterpret_cast<const char*>(f.data()), static_cast<std::streamsize>(f.size()));
  }
}

struct Run {
  double seconds = 0;
  long max_rss_kb = 0;
  int status = -1;
  std::string out;
};

// argv as a child process: its wall time, peak memory, exit status, stdout.
Run run(const std::vector<std::string>& argv) {
  Run r;
  int pipefd[2];
  if (::pipe(pipefd) != 0) return r;
  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    const int null = ::open("/dev/null", O_WRONLY);  // tcpdump's "reading from file" line
    if (null >= 0) ::dup2(null, 2);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  char buf[4096];
  for (ssize_t k; (k = ::read(pipefd[0], buf, sizeof buf)) > 0;)
    r.out.append(buf, static_cast<std::size_t>(k));
  ::close(pipefd[0]);
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.max_rss_kb = ru.ru_maxrss;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return r;
}

int run_bench(const bench::Args& args) {
  const std::uint64_t n = args.quick ? 1'000'000 : 10'000'000;
  const std::string dir = fmt::format("/tmp/xg-simbench-{}", ::getpid());
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};
  const std::string pcap = dir + "/frames.pcap", config = dir + "/rules.toml";
  write_capture(pcap, n);
  // Ten rules, as the throughput benchmark's workload has.
  std::ofstream(config) << "[interfaces.bench0]\nrules = [\n"
                           "  \"drop udp dport 53\",\n  \"drop tcp dport 23\",\n"
                           "  \"drop udp saddr 203.0.113.0/24\",\n  \"drop tcp dport 135\",\n"
                           "  \"drop tcp dport 445\",\n  \"drop udp dport 1900\",\n"
                           "  \"drop icmp saddr 198.51.100.0/24\",\n  \"pass tcp dport 22\",\n"
                           "  \"drop tcp saddr 192.0.2.0/24\",\n  \"drop udp dport 11211\",\n]\n";
  std::uint64_t want_dropped = 0, want_udp53 = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    want_dropped += dropped_by_rules(i);
    want_udp53 += udp53(i);
  }

  int status = 0;
  std::string bad;
  // The floor: a bare XDP_PASS program, one test run per frame.
  auto pass = bench::bare_program(2 /* XDP_PASS */);
  if (!pass) return std::fprintf(stderr, "simulate_bench: %s\n", pass.error().message().c_str()), 1;
  double floor_s = 0;
  {
    auto reader = simulate::CaptureReader::open(pcap);
    if (!reader) return std::fprintf(stderr, "simulate_bench: %s\n", reader.error().message().c_str()), 1;
    std::uint64_t ran = 0;
    const auto t0 = Clock::now();
    while (true) {
      auto next = reader->next();
      if (!next) break;
      const std::optional<simulate::Frame>& frame = *next;
      if (!frame) break;
      const simulate::Frame& f = *frame;
      LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f.data.data(),
                  .data_size_in = static_cast<__u32>(f.data.size()), .repeat = 1);
      if (bpf_prog_test_run_opts(pass->get(), &o) == 0 && o.retval == 2) ++ran;
    }
    floor_s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (ran != n) bad += fmt::format("the floor ran {} of {} frames; ", ran, n);
  }
  const auto sim = run({XDPGUARD_BIN, "simulate", "--config", config, "--pcap", pcap, "-q"});
  const auto dump = run({"/usr/bin/tcpdump", "--count", "-r", pcap, "udp port 53"});

  // Checks: the simulator's summary and tcpdump's count.
  std::smatch m;
  const std::regex frames_re(R"((\d+) frames from)"), drop_re(R"(\ndrop +(\d+) )"),
      count_re(R"((\d+) packets)");
  const std::uint64_t sim_frames = std::regex_search(sim.out, m, frames_re) ? std::stoull(m[1].str()) : 0;
  const std::uint64_t sim_dropped = std::regex_search(sim.out, m, drop_re) ? std::stoull(m[1].str()) : 0;
  const std::uint64_t dump_count = std::regex_search(dump.out, m, count_re) ? std::stoull(m[1].str()) : 0;
  if (sim.status != 0) bad += fmt::format("simulate exited {}; ", sim.status);
  if (sim_frames != n || sim_dropped != want_dropped)
    bad += fmt::format("simulate judged {} frames and dropped {}, want {} and {}; ", sim_frames, sim_dropped,
                       n, want_dropped);
  if (dump.status != 0 || dump_count != want_udp53)
    bad += fmt::format("tcpdump exited {} and counted {}, want {}; ", dump.status, dump_count, want_udp53);

  const double sim_fps = static_cast<double>(n) / sim.seconds,
               dump_fps = static_cast<double>(n) / dump.seconds, floor_fps = static_cast<double>(n) / floor_s;
  std::printf("A capture of %llu 64-byte frames (%.0f MB), 10 rules; frames per second, one run each\n\n",
              static_cast<unsigned long long>(n),
              static_cast<double>(std::filesystem::file_size(pcap)) / 1e6);
  std::printf("| reader | frames/s | seconds | peak memory |\n| --- | ---: | ---: | ---: |\n");
  std::printf("| xdpguard simulate --config (-q) | %.0f | %.2f | %.1f MB |\n", sim_fps, sim.seconds,
              static_cast<double>(sim.max_rss_kb) / 1024);
  std::printf("| tcpdump --count -r, filter `udp port 53` | %.0f | %.2f | %.1f MB |\n", dump_fps,
              dump.seconds, static_cast<double>(dump.max_rss_kb) / 1024);
  std::printf("| floor: one test run per frame of a bare XDP_PASS program | %.0f | %.2f | |\n\n", floor_fps,
              floor_s);
  const double vs_dump = sim_fps / dump_fps;
  std::printf("simulate vs tcpdump: %.3fx (goal >= 1x: %s); simulate vs the floor: %.2fx\n", vs_dump,
              vs_dump >= 1 ? "met" : "MISSED", sim_fps / floor_fps);
  if (bad.empty()) {
    std::printf(
        "checks: simulate judged all %llu frames and dropped the %llu the rules drop; tcpdump counted "
        "the %llu its filter matches\n",
        static_cast<unsigned long long>(n), static_cast<unsigned long long>(want_dropped),
        static_cast<unsigned long long>(want_udp53));
  } else {
    std::printf("CHECK FAILED: %s\n", bad.c_str());
    status = 1;
  }
  if (!args.json_path.empty()) {
    nlohmann::json j{{"frames", n},
                     {"simulate_fps", sim_fps},
                     {"simulate_max_rss_kb", sim.max_rss_kb},
                     {"tcpdump_fps", dump_fps},
                     {"floor_fps", floor_fps},
                     {"ratio_vs_tcpdump", vs_dump},
                     {"checks_ok", bad.empty()}};
    std::ofstream(args.json_path) << j.dump(2) << "\n";
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) { return bench::guarded_main("simulate_bench", run_bench, argc, argv); }
