#include "common/workloads.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include <fmt/format.h>

namespace xdpguard::bench {

std::vector<std::string> rule_set(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    unsigned a = static_cast<unsigned>(i / 256) & 0xff, b = static_cast<unsigned>(i % 256);
    unsigned port = 10000 + static_cast<unsigned>(i % 50000);
    switch (i % 4) {
      case 0: out.push_back(fmt::format("drop udp dport {} saddr 10.{}.{}.1", port, a, b)); break;
      case 1: out.push_back(fmt::format("drop tcp dport {} saddr 10.{}.{}.0/24", port, a, b)); break;
      case 2: out.push_back(fmt::format("drop udp sport {} saddr 10.{}.{}.0/28", port, a, b)); break;
      default: out.push_back(fmt::format("pass tcp dport {}-{} saddr 11.{}.0.0/16", port, port + 3, a)); break;
    }
  }
  return out;
}

std::vector<rules::Prefix> random_prefixes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<rules::Prefix> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    rules::Prefix p;
    p.family = rules::Family::V4;
    std::uint32_t x = rng();
    p.len = static_cast<std::uint8_t>(20 + rng() % 13);
    const std::uint32_t mask = p.len == 32 ? 0xffffffffu : ~(0xffffffffu >> p.len);
    x &= mask;
    // Keep clear of the lab (198.18.0.0/15: a /20 or longer lies inside or
    // outside it) and of the probe address 192.0.2.1.
    if ((x >> 17) == (0xc6120000u >> 17) || (0xc0000201u & mask) == x) {
      --i;
      continue;
    }
    p.addr = {static_cast<std::uint8_t>(x >> 24), static_cast<std::uint8_t>(x >> 16),
              static_cast<std::uint8_t>(x >> 8), static_cast<std::uint8_t>(x)};
    out.push_back(p);
  }
  return out;
}

Args parse_args(int argc, char** argv, const char* name) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--quick") {
      a.quick = true;
    } else if (s == "--json" && i + 1 < argc) {
      a.json_path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--json FILE]\n", name);
      std::exit(2);
    }
  }
  return a;
}

Result<UniqueFd> bare_program(std::uint32_t action) {
  bpf_insn insns[] = {{BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, static_cast<__s32>(action)},
                      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
  int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, action == XDP_DROP ? "bench_drop" : "bench_pass", "GPL",
                         insns, 2, nullptr);
  if (fd < 0) return fail_errno(errno, "load bare program");
  return UniqueFd(fd);
}

}  // namespace xdpguard::bench
