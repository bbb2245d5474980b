// classifier_bench: the firewall's cost per packet, measured in the kernel
// with BPF_PROG_TEST_RUN (repeat N, the kernel's own mean), next to a bare
// XDP_DROP program measured in the same run. Also the time to compile and
// install 10,000 rules and to load a 1,000,000-prefix set, and the kernel
// memory the maps take. Prints a Markdown table; --json FILE writes JSON.
//
//   classifier_bench [--quick] [--json FILE]
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "common/workloads.h"
#include "bpf/test_run.h"
#include "core/log.h"
#include "core/unique_fd.h"
#include "guard/guard.h"

using namespace xdpguard;

namespace {

std::vector<std::uint8_t> udp4(std::array<std::uint8_t, 4> src, std::uint16_t dport) {
  std::vector<std::uint8_t> f(14 + 20 + 8 + 18, 0);
  f[12] = 0x08;
  std::uint8_t* ip = &f[14];
  ip[0] = 0x45, ip[3] = 46, ip[8] = 64, ip[9] = 17;
  std::copy(src.begin(), src.end(), ip + 12);
  ip[16] = 198, ip[17] = 19, ip[18] = 0, ip[19] = 2;
  std::uint8_t* udp = &f[34];
  udp[0] = 0x30, udp[1] = 0x39;
  udp[2] = static_cast<std::uint8_t>(dport >> 8), udp[3] = static_cast<std::uint8_t>(dport);
  udp[5] = 26;
  return f;
}

double ns_per_packet(int fd, const std::vector<std::uint8_t>& frame, std::uint32_t repeat, int runs) {
  std::vector<double> v;
  for (int i = 0; i < runs; ++i) {
    auto r = test_run(fd, frame, repeat);
    if (!r) return -1;
    v.push_back(r->duration_ns);
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::uint64_t map_memlock(int fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("memlock:", 0) == 0) return std::stoull(line.substr(8));
  return 0;
}

// Memory of the maps behind an outer map slot.
std::uint64_t inner_memlock(const std::string& outer_name, const GuardProgram& prog, __u32 slot) {
  auto outer = prog.map(outer_name.c_str());
  if (!outer) return 0;
  __u32 id = 0;
  if (bpf_map_lookup_elem(outer->fd(), &slot, &id) != 0) return 0;
  UniqueFd fd(bpf_map_get_fd_by_id(id));
  return fd ? map_memlock(fd.get()) : 0;
}

template <class F>
double seconds(F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const auto [quick, json_path] = bench::parse_args(argc, argv, "classifier_bench");
  log::init();
  if (auto r = require_privileges(); !r) {
    std::fprintf(stderr, "classifier_bench: %s\n", r.error().message().c_str());
    return 1;
  }
  const std::uint32_t repeat = quick ? 200000 : 1000000;
  const int runs = quick ? 3 : 5;
  nlohmann::json out;
  out["repeat"] = repeat;
  out["runs"] = runs;

  auto drop = bench::bare_program(XDP_DROP);
  auto prog = GuardProgram::open({});
  if (!drop || !prog || !prog->load()) {
    std::fprintf(stderr, "classifier_bench: cannot load programs\n");
    return 1;
  }
  auto guard = Guard::from_program(*prog);
  if (!guard) {
    std::fprintf(stderr, "classifier_bench: %s\n", guard.error().message().c_str());
    return 1;
  }
  auto none = udp4({192, 0, 2, 1}, 9);
  double bare = ns_per_packet(drop->get(), none, repeat, runs);
  double parse_only = ns_per_packet(prog->prog_fd(), none, repeat, runs);
  out["bare_drop_ns"] = bare;
  out["guard_no_rules_ns"] = parse_only;

  std::printf("## Classifier cost (BPF_PROG_TEST_RUN, median of %d x %u runs, ns/packet)\n\n", runs, repeat);
  std::printf("| case | tuples | ns/packet | x bare drop |\n|---|---:|---:|---:|\n");
  std::printf("| bare XDP_DROP program | - | %.1f | 1.00 |\n", bare);
  std::printf("| xdpguard, no rules (parse + counters) | 0 | %.1f | %.2f |\n", parse_only, parse_only / bare);

  double ns10_last = 0, ns10k_last = 0;
  nlohmann::json rows = nlohmann::json::array();
  for (std::size_t n : {1u, 10u, 100u, 1000u, 10000u}) {
    auto rules = bench::rule_set(n);
    double install_s = 0;
    Result<std::vector<std::uint32_t>> ids = std::vector<std::uint32_t>{};
    install_s = seconds([&] { ids = guard->replace_rules(rules); });
    if (!ids) {
      std::fprintf(stderr, "classifier_bench: %zu rules: %s\n", n, ids.error().message().c_str());
      return 1;
    }
    // The last rule's packet (walks every tuple) and a packet nothing matches.
    std::size_t i = n - 1;
    unsigned a = static_cast<unsigned>(i / 256) & 0xff, b = static_cast<unsigned>(i % 256);
    std::uint16_t port = static_cast<std::uint16_t>(10000 + i % 50000);
    std::vector<std::uint8_t> last;
    switch (i % 4) {
      case 0: last = udp4({10, static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b), 1}, port); break;
      case 2: {
        last = udp4({10, static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b), 1}, 9);
        last[34] = static_cast<std::uint8_t>(port >> 8), last[35] = static_cast<std::uint8_t>(port);
        break;
      }
      default: {  // tcp rules: build a TCP SYN instead
        std::uint8_t net = i % 4 == 3 ? 11 : 10;
        last = udp4({net, static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b), 1}, port);
        last.resize(14 + 20 + 20);
        last[14 + 9] = 6;
        last[14 + 3] = 40;
        last[34 + 12] = 0x50;
        last[34 + 13] = 0x02;
        break;
      }
    }
    auto v = test_run(prog->prog_fd(), last);
    bool matched = v && v->verdict == (i % 4 == 3 ? XDP_PASS : XDP_DROP);
    double ns_last = ns_per_packet(prog->prog_fd(), last, repeat, runs);
    double ns_none = ns_per_packet(prog->prog_fd(), none, repeat, runs);
    std::uint64_t mem = inner_memlock("xg_cls", *prog, 0);
    std::printf("| %zu rules, packet matching the last rule%s | %s | %.1f | %.2f |\n", n,
                matched ? "" : " (NOT MATCHED: bug)", n >= 4 ? "4" : std::to_string(n).c_str(),
                ns_last, ns_last / bare);
    std::printf("| %zu rules, packet matching none | %s | %.1f | %.2f |\n", n,
                n >= 4 ? "4" : std::to_string(n).c_str(), ns_none, ns_none / bare);
    rows.push_back({{"rules", n}, {"last_ns", ns_last}, {"none_ns", ns_none}, {"matched", matched},
                    {"install_s", install_s}, {"table_memlock", mem}});
    if (n == 10) ns10_last = ns_last;
    if (n == 10000) ns10k_last = ns_last;
  }
  out["rules"] = rows;

  // A 1,000,000-prefix set.
  auto big = bench::random_prefixes(1000000, 42);
  Result<SetRecord> loaded = SetRecord{};
  double set_s = seconds([&] { loaded = guard->load_set("big", big); });
  if (!loaded) {
    std::fprintf(stderr, "classifier_bench: set: %s\n", loaded.error().message().c_str());
    return 1;
  }
  auto with_set = guard->replace_rules({"drop saddr @big"});
  if (!with_set) {
    std::fprintf(stderr, "classifier_bench: %s\n", with_set.error().message().c_str());
    return 1;
  }
  auto in = udp4({big[0].addr[0], big[0].addr[1], big[0].addr[2], big[0].addr[3]}, 9);
  double ns_in = ns_per_packet(prog->prog_fd(), in, repeat, runs);
  double ns_out = ns_per_packet(prog->prog_fd(), none, repeat, runs);
  std::uint64_t set_mem = inner_memlock("xg_set4", *prog, loaded->index);
  std::printf("| 1,000,000-prefix set, source in the set | 1 | %.1f | %.2f |\n", ns_in, ns_in / bare);
  std::printf("| 1,000,000-prefix set, source not in it | 1 | %.1f | %.2f |\n", ns_out, ns_out / bare);

  std::printf("\n| operation | value |\n|---|---:|\n");
  for (const auto& r : rows)
    std::printf("| compile + install %d rules | %.3f s (table %.1f KiB) |\n", r["rules"].get<int>(),
                r["install_s"].get<double>(), r["table_memlock"].get<double>() / 1024);
  std::printf("| load a 1,000,000-prefix set | %.2f s (%.1f MiB kernel memory) |\n", set_s,
              static_cast<double>(set_mem) / (1 << 20));
  if (ns10_last > 0)
    std::printf("| 10,000 rules / 10 rules, matching the last rule | %.2fx (goal <= 1.5x) |\n",
                ns10k_last / ns10_last);
  out["set"] = {{"prefixes", 1000000}, {"load_s", set_s}, {"memlock", set_mem}, {"in_ns", ns_in},
                {"out_ns", ns_out}};
  out["ratio_10k_vs_10"] = ns10_last > 0 ? ns10k_last / ns10_last : 0;
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
