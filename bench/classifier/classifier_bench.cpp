// classifier_bench: the firewall's cost per packet, measured in the kernel
// with BPF_PROG_TEST_RUN, next to its baselines in the same run (what a rate
// limit and flood detection's counters add included); and the control plane:
// compiling and installing rule sets, loading big sets.
//
// Every pipeline is what `xdpguard attach` leaves (GuardProgram + Guard::
// from_program: parser -> generated classifier -> enforce), each with its
// own maps and rule set, so that all cases can be measured interleaved:
// each round runs every case once (repeat N), and a case's figure is the
// median over the rounds of the kernel's own figure (an integer mean in ns,
// truncated). Drift over the run thus hits every case alike. Beside it, a
// finer figure: the CPU time the calling thread spent in the test run
// (CLOCK_THREAD_CPUTIME_ID) / N. Like the kernel's figure it leaves out the
// time the thread was preempted (wall time does not: on a busy machine it
// came out 2-3x the kernel's figure, in steps of the 4 ms tick); it adds
// the syscall's own cost (microseconds), spread over the N repetitions.
//
// Checks, each run: the verdict is the expected one, and the counter where
// the packet must land (the matched rule's, or the default one; the floor
// program's per-rule counter) moved by exactly N. Before measuring: the
// floor program and xdpguard agree on a packet for each of the ten rules.
// A failed check marks its row and makes the exit status 1; a missed goal
// is a result, printed as MISSED.
//
//   classifier_bench [--quick] [--json FILE]
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "bpf/test_run.h"
#include "classifier/limit_code.h"
#include "common/lab_xdp.h"
#include "common/packets.h"
#include "common/workloads.h"
#include "core/log.h"
#include "core/unique_fd.h"
#include "floor/floor.h"
#include "guard/guard.h"
#include "lab/lab.h"
#include "oracle/reference.h"
#include "rules/parser.h"
#include "xsk/socket.h"

using namespace xdpguard;
using bench::Bytes;
using rules::PacketFields;

namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double seconds(F&& f) {
  auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU time of the calling thread, in ns.
double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::uint64_t map_memlock(int fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("memlock:", 0) != 0) continue;
    std::uint64_t v = 0;
    const auto at = line.find_first_not_of(" \t", 8);
    if (at == std::string::npos) return 0;
    return std::from_chars(line.c_str() + at, line.c_str() + line.size(), v).ec == std::errc() ? v : 0;
  }
  return 0;
}

// One pipeline as `attach` leaves it, with its own maps and rule set.
struct Pipeline {
  GuardProgram prog;
  Guard guard;
  CounterArray rule_stats;
  std::vector<std::uint32_t> ids;  // of the installed rules, in order

  static Result<std::unique_ptr<Pipeline>> make(const GuardConfig& cfg = {}) {
    auto prog = XG_TRY(GuardProgram::open(cfg));
    XG_CHECK(prog.load());
    auto guard = XG_TRY(Guard::from_program(prog));
    auto stats = XG_TRY(CounterArray::wrap(XG_TRY(prog.map("xg_rule_stats"))));
    return std::make_unique<Pipeline>(Pipeline{std::move(prog), std::move(guard), std::move(stats), {}});
  }
  Result<void> install(const std::vector<std::string>& rules) {
    ids = XG_TRY(guard.replace_rules(rules));
    return {};
  }
  // Packets counted for rule slot `id` (0: the default action).
  std::function<Result<std::uint64_t>()> counter(std::uint32_t id) const {
    return [this, id]() -> Result<std::uint64_t> { return XG_TRY(rule_stats.sum(id)).packets; };
  }
  // Kernel memory of the inner map in slot `index` of xg_set4 / xg_set6.
  std::uint64_t set_memlock(const char* outer, std::uint32_t index) const {
    auto m = prog.map(outer);
    __u32 id = 0;
    if (!m || bpf_map_lookup_elem(m->fd(), &index, &id) != 0) return 0;
    UniqueFd fd(bpf_map_get_fd_by_id(id));
    return fd ? map_memlock(fd.get()) : 0;
  }
};

// One program on one packet, measured every round.
struct Case {
  std::string key, label;
  PacketFields packet;
  int fd = -1;
  Bytes frame;
  std::vector<Bytes> frames;  // if any: round r sends frames[r % size] instead (same fields, other sources)
  std::uint32_t verdict = XDP_PASS;
  std::function<Result<std::uint64_t>()> counter;  // empty: nothing to count (bare programs)
  std::string counted;                             // where the counter is, for messages
  std::vector<double> ns, cpu;
  std::string error;  // first failed check
  double med() const { return median(ns); }
  double med_cpu() const { return median(cpu); }
};

// A goal: cases[num] / cases[den] <= max.
struct Goal {
  std::size_t num, den;
  double max;
  std::string compared;  // "bare XDP_PASS", "no rules, same packet", ...
};

struct Row {
  std::size_t c;
  std::optional<Goal> goal;
};

// XDP_DROP after a call of `helper` (a clock): what reading it costs.
Result<UniqueFd> clock_program(std::int32_t helper) {
  bpf_insn insns[] = {{BPF_JMP | BPF_CALL, 0, 0, 0, helper},
                      {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, XDP_DROP},
                      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
  int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "bench_clock", "GPL", insns, 3, nullptr);
  if (fd < 0) return fail_errno(errno, "load a clock program");
  return UniqueFd(fd);
}

// The floor of `redirect xsk`: a bare program that only redirects to the
// socket in its own one-entry XSKMAP (bpf_redirect_map(map, 0, XDP_PASS)),
// what any XDP program handing a frame to AF_XDP does at least.
Result<UniqueFd> xsk_redirect_program(int xskmap_fd) {
  bpf_insn insns[] = {{BPF_LD | BPF_DW, 1, BPF_PSEUDO_MAP_FD, 0, xskmap_fd},  // r1 = the map (BPF_IMM is 0)
                      {0, 0, 0, 0, 0},
                      {BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, 0},         // r2 = queue 0
                      {BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, XDP_PASS},  // r3 = the fallback
                      {BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map},
                      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
  int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "bench_xsk_floor", "GPL", insns, 6, nullptr);
  if (fd < 0) return fail_errno(errno, "load the redirect-to-socket floor program");
  return UniqueFd(fd);
}

const char* verdict_name(std::uint32_t v) {
  return v == XDP_DROP ? "drop" : v == XDP_PASS ? "pass" : v == XDP_REDIRECT ? "redirect" : "?";
}

std::string fmt_ns(double v) {
  return v == static_cast<long long>(v) ? fmt::format("{:.0f}", v) : fmt::format("{:.1f}", v);
}

}  // namespace

int run_bench(const bench::Args& args) {
  const auto& [quick, json_path] = args;
  auto die = [](const std::string& what) {
    std::fprintf(stderr, "classifier_bench: %s\n", what.c_str());
    return 1;
  };
  const std::uint32_t repeat = quick ? 1000000 : 2000000;
  const int runs = quick ? 5 : 21;
  const int cp_runs = quick ? 3 : 5;
  const int set_loads = quick ? 1 : 3;
  const std::size_t kBig = 1000000, kRules = 10000;
  nlohmann::json out = {{"repeat", repeat}, {"runs", runs}};
  std::vector<std::string> problems;  // failed checks: exit status 1

  // ---- programs
  auto bare_pass = bench::bare_program(XDP_PASS);
  auto bare_drop = bench::bare_program(XDP_DROP);
  // The floor's bucket map holds the limiter floor's 1,000,000 sources of
  // both rules and both families.
  auto floor = bench::Floor::load(1u << 22);
  if (!bare_pass || !bare_drop) return die("cannot load the bare programs");
  if (!floor) return die(floor.error().message());
  std::fprintf(stderr, "  building pipelines ...\n");
  auto make = [&](const std::vector<std::string>& rules, const char* what,
                  const GuardConfig& cfg = {}) -> std::unique_ptr<Pipeline> {
    auto p = Pipeline::make(cfg);
    if (!p) {
      std::fprintf(stderr, "classifier_bench: %s: %s\n", what, p.error().message().c_str());
      std::exit(1);
    }
    if (auto r = (*p)->install(rules); !r) {
      std::fprintf(stderr, "classifier_bench: %s: %s\n", what, r.error().message().c_str());
      std::exit(1);
    }
    return std::move(*p);
  };
  const auto ten_texts = bench::ten_rules(), bench_texts = bench::rule_set(kRules);
  const auto mixed_texts = bench::mixed_rule_set(kRules, 2024);
  const auto ten = bench::parse_all(ten_texts), bench10k = bench::parse_all(bench_texts),
             mixed = bench::parse_all(mixed_texts);
  std::vector<std::unique_ptr<Pipeline>> limit_pipelines;  // kept alive for the cases
  auto none_p = make({}, "no rules");
  auto one_p = make({bench::kLabRule}, "1 rule");
  auto ten_p = make(ten_texts, "10 rules");
  auto bench_p = make(bench_texts, "10,000 rules");
  auto mixed_p = make(mixed_texts, "10,000 mixed rules");

  // Sets: loaded into pipelines whose one rule is `drop saddr @big`.
  auto big4 = bench::random_prefixes(kBig, 42);
  auto big6 = bench::random_prefixes6(kBig, 43);
  struct SetLoad {
    std::vector<double> s;
    std::uint64_t memlock = 0;
  } load4, load6;
  auto set_pipeline = [&](const std::vector<rules::Prefix>& prefixes, SetLoad& load, const char* outer,
                          const char* what) {
    auto p = make({}, what);
    for (int i = 0; i < set_loads; ++i) {
      Result<SetRecord> rec = SetRecord{};
      load.s.push_back(seconds([&] { rec = p->guard.load_set("big", prefixes); }));
      if (!rec) {
        std::fprintf(stderr, "classifier_bench: %s: %s\n", what, rec.error().message().c_str());
        std::exit(1);
      }
      load.memlock = p->set_memlock(outer, rec->index);
    }
    if (auto r = p->install({"drop saddr @big"}); !r) {
      std::fprintf(stderr, "classifier_bench: %s: %s\n", what, r.error().message().c_str());
      std::exit(1);
    }
    return p;
  };
  std::fprintf(stderr, "  loading 1,000,000-prefix sets ...\n");
  auto set4_p = set_pipeline(big4, load4, "xg_set4", "IPv4 set");
  auto set6_p = set_pipeline(big6, load6, "xg_set6", "IPv6 set");

  // ---- packets
  std::mt19937 rng(7);
  const PacketFields lab4 = bench::packet(rules::kProtoUdp, "198.18.0.1", "198.18.0.2", 1024, 9);
  const PacketFields none4 = bench::packet(rules::kProtoUdp, "192.0.2.1", "198.51.100.1", 40000, 9);
  const PacketFields none6 = bench::packet(rules::kProtoUdp, "2001:db8::1", "2001:db8::2", 40000, 9);
  auto must = [&](std::optional<PacketFields> p, const char* what) {
    if (!p) {
      std::fprintf(stderr, "classifier_bench: no packet found for %s (workload bug)\n", what);
      std::exit(1);
    }
    return *p;
  };
  auto matches_none = [&](const std::vector<rules::Rule>& rules, const PacketFields& p, const char* what) {
    if (auto m = rules::first_match(rules, p)) {
      std::fprintf(stderr, "classifier_bench: the 'no match' packet of %s matches rule %zu (workload bug)\n",
                   what, *m + 1);
      std::exit(1);
    }
    return p;
  };
  const PacketFields bench_last = must(bench::packet_for(bench10k, kRules - 1, rng), "10,000 rules");
  const PacketFields mixed_last4 = must(bench::packet_for(mixed, kRules - 1, rng), "mixed, IPv4");
  const PacketFields mixed_last6 = must(bench::packet_for(mixed, kRules - 2, rng), "mixed, IPv6");
  matches_none(ten, none4, "10 rules");
  matches_none(bench10k, none4, "10,000 rules");
  matches_none(mixed, none4, "mixed");
  matches_none(mixed, none6, "mixed");
  auto set_member = [&](const std::vector<rules::Prefix>& set) {
    PacketFields p = set[set.size() / 2].family == rules::Family::V4 ? none4 : none6;
    p.saddr = bench::address_in(set[set.size() / 2], rng);
    return p;
  };
  auto set_outsider = [&](const std::vector<rules::Prefix>& set) {
    PacketFields p = set.front().family == rules::Family::V4 ? none4 : none6;
    for (int t = 0; t < 100; ++t) {
      p.saddr = bench::random_address(p.family, rng);
      if (std::none_of(set.begin(), set.end(),
                       [&](const rules::Prefix& q) { return bench::contains(q, p.saddr); }))
        return p;
    }
    std::fprintf(stderr, "classifier_bench: no address outside the set found\n");
    std::exit(1);
  };
  const PacketFields in4 = set_member(big4), out4 = set_outsider(big4);
  const PacketFields in6 = set_member(big6), out6 = set_outsider(big6);

  // ---- the floor agrees with xdpguard on the ten rules
  {
    std::vector<PacketFields> probes = {none4, none6};
    for (std::size_t i = 0; i < ten.size(); ++i)
      probes.push_back(must(bench::packet_for(ten, i, rng), "10 rules"));
    for (const auto& p : probes) {
      auto m = rules::first_match(ten, p);
      std::uint32_t slot = m ? static_cast<std::uint32_t>(*m + 1) : 0;
      auto f0 = floor->rule_packets(slot);
      auto g0 = ten_p->counter(m ? ten_p->ids[*m] : 0)();
      auto fv = test_run(floor->prog_fd(), bench::frame(p));
      auto gv = test_run(ten_p->prog.prog_fd(), bench::frame(p));
      auto f1 = floor->rule_packets(slot);
      auto g1 = ten_p->counter(m ? ten_p->ids[*m] : 0)();
      bool ok =
          fv && gv && f0 && f1 && g0 && g1 && fv->verdict == gv->verdict && *f1 == *f0 + 1 && *g1 == *g0 + 1;
      if (!ok) problems.push_back("floor and xdpguard disagree on " + bench::describe(p));
    }
    std::fprintf(stderr, "  floor vs xdpguard on %zu packets: %s\n", probes.size(),
                 problems.empty() ? "agree" : "DISAGREE");
  }

  // ---- cases, in the order every round runs them
  std::vector<Case> cases;
  auto add = [&](std::string key, std::string label, int fd, const PacketFields& p, std::uint32_t verdict,
                 std::function<Result<std::uint64_t>()> counter, std::string counted) {
    cases.push_back({std::move(key),
                     std::move(label),
                     p,
                     fd,
                     bench::frame(p),
                     {},
                     verdict,
                     std::move(counter),
                     std::move(counted),
                     {},
                     {},
                     {}});
    return cases.size() - 1;
  };
  // xdpguard without rules on the same packet: the reference of every goal.
  std::map<Bytes, std::size_t> baseline;
  auto no_rules = [&](const PacketFields& p) {
    Bytes f = bench::frame(p);
    if (auto it = baseline.find(f); it != baseline.end()) return it->second;
    std::size_t i = add(fmt::format("no_rules_{}", baseline.size()), "xdpguard, no rules",
                        none_p->prog.prog_fd(), p, XDP_PASS, none_p->counter(0), "default counter");
    baseline[f] = i;
    return i;
  };
  // An xdpguard case: the packet must land where the reference semantics
  // say, on the first rule it matches or else on the default counter.
  auto guard_case = [&](std::string key, std::string label, const Pipeline& pl,
                        const std::vector<rules::Rule>& rules, const PacketFields& p) {
    auto m = rules::first_match(
        rules, p, [&](const std::string&, std::uint8_t, const std::array<std::uint8_t, 16>& a) {
          // The set rows' one rule: membership in the set the pipeline holds.
          const auto& set = &pl == set4_p.get() ? big4 : big6;
          return std::any_of(set.begin(), set.end(),
                             [&](const rules::Prefix& q) { return bench::contains(q, a); });
        });
    std::uint32_t verdict = m ? (rules[*m].action == rules::Action::Drop ? XDP_DROP : XDP_PASS) : XDP_PASS;
    std::uint32_t id = m ? pl.ids[*m] : 0;
    std::string counted = m ? fmt::format("rule {}", *m + 1) : "default counter";
    return add(std::move(key), std::move(label), pl.prog.prog_fd(), p, verdict, pl.counter(id), counted);
  };
  std::vector<Row> rows;
  const std::size_t c_pass =
      add("bare_pass", "bare XDP_PASS program", bare_pass->get(), lab4, XDP_PASS, {}, "");
  const std::size_t c_drop =
      add("bare_drop", "bare XDP_DROP program", bare_drop->get(), lab4, XDP_DROP, {}, "");
  rows.push_back({c_pass, {}});
  rows.push_back({c_drop, {}});
  const std::size_t c_none4 = no_rules(lab4);
  rows.push_back({c_none4, Goal{c_none4, c_pass, 1.8, "bare XDP_PASS"}});
  const std::size_t c_none6 = no_rules(none6);
  rows.push_back({c_none6, Goal{c_none6, c_pass, 0, "bare XDP_PASS"}});
  // What the no-rules goal asks, done by hand: the same parser and counters
  // in one program, no rules (its own ratio to bare XDP_PASS is the lowest
  // "no rules" can go without dropping work).
  const std::size_t c_floor0 = add(
      "floor_no_rules", "floor: hand-written C, no rules (the same parser and counters)",
      floor->no_rules_prog_fd(), lab4, XDP_PASS, [&]() { return floor->rule_packets(0); },
      "floor default counter");
  rows.push_back({c_floor0, Goal{c_floor0, c_pass, 0, "bare XDP_PASS"}});
  rows.push_back({c_floor0, Goal{c_none4, c_floor0, 0, "xdpguard no rules / floor"}});
  // The same work split in two programs as xdpguard splits it (a parser, a
  // tail call, a stage reading the fields back from a per-CPU entry): what
  // the split alone costs, written by hand.
  const std::size_t c_split0 = add(
      "floor_split_no_rules", "floor split in two programs, by hand, no rules (parser, tail call, counters)",
      floor->split_no_rules_prog_fd(), lab4, XDP_PASS, [&]() { return floor->rule_packets(0); },
      "floor default counter");
  rows.push_back({c_split0, Goal{c_split0, c_pass, 0, "bare XDP_PASS"}});
  rows.push_back({c_split0, Goal{c_none4, c_split0, 0, "xdpguard no rules / split floor"}});
  // xdpguard's own no-rules work (its parser stage's C, the packet kept in
  // the per-CPU entry, its verdict's C) in one program, no tail call: what
  // the pipeline would cost as one program (docs/classifier.md).
  const std::size_t c_kept0 = add(
      "floor_kept_no_rules", "xdpguard's parser stage and verdict in one program, no rules (no tail call)",
      floor->kept_no_rules_prog_fd(), lab4, XDP_PASS, [&]() { return floor->kept_rule_packets(0); },
      "default counter");
  rows.push_back({c_kept0, Goal{c_kept0, c_pass, 0, "bare XDP_PASS"}});
  rows.push_back({c_kept0, Goal{c_none4, c_kept0, 0, "xdpguard no rules / one program"}});
  auto vs_no_rules = [&](std::string key, std::string label, const Pipeline& pl,
                         const std::vector<rules::Rule>& rules, const PacketFields& p, double max) {
    std::size_t c = guard_case(std::move(key), std::move(label), pl, rules, p);
    rows.push_back({c, Goal{c, no_rules(p), max, "no rules, same packet"}});
    return c;
  };
  const std::vector<rules::Rule> one = bench::parse_all({bench::kLabRule});
  vs_no_rules("rules_1_last", "1 rule, packet matching it", *one_p, one, lab4, 1.1);
  vs_no_rules("rules_1_none", "1 rule, packet matching none", *one_p, one, none4, 1.1);
  const std::size_t c_ten_last =
      vs_no_rules("rules_10_last", "10 rules, packet matching the last", *ten_p, ten, lab4, 1.25);
  const std::size_t c_ten_none =
      vs_no_rules("rules_10_none", "10 rules, packet matching none", *ten_p, ten, none4, 1.25);
  const std::size_t c_floor_last = add(
      "floor_last", "floor: hand-written C, the same 10 rules, packet matching the last", floor->prog_fd(),
      lab4, XDP_DROP, [&]() { return floor->rule_packets(10); }, "floor rule 10");
  const std::size_t c_floor_none = add(
      "floor_none", "floor: hand-written C, the same 10 rules, packet matching none", floor->prog_fd(), none4,
      XDP_PASS, [&]() { return floor->rule_packets(0); }, "floor default counter");
  rows.push_back({c_floor_last, Goal{c_ten_last, c_floor_last, 1.1, "xdpguard 10 rules / floor"}});
  rows.push_back({c_floor_none, Goal{c_ten_none, c_floor_none, 1.1, "xdpguard 10 rules / floor"}});
  const std::size_t c_split_last = add(
      "floor_split_last", "floor split in two programs, by hand, the same 10 rules, packet matching the last",
      floor->split_prog_fd(), lab4, XDP_DROP, [&]() { return floor->rule_packets(10); }, "floor rule 10");
  const std::size_t c_split_none = add(
      "floor_split_none", "floor split in two programs, by hand, the same 10 rules, packet matching none",
      floor->split_prog_fd(), none4, XDP_PASS, [&]() { return floor->rule_packets(0); },
      "floor default counter");
  rows.push_back({c_split_last, Goal{c_split_last, c_floor_last, 0, "one-program floor"}});
  rows.push_back({c_split_last, Goal{c_ten_last, c_split_last, 0, "xdpguard 10 rules / split floor"}});
  rows.push_back({c_split_none, Goal{c_ten_none, c_split_none, 0, "xdpguard 10 rules / split floor"}});
  vs_no_rules("rules_10k_last", "10,000 rules (bench workload), packet matching the last", *bench_p, bench10k,
              bench_last, 2.0);
  vs_no_rules("rules_10k_none", "10,000 rules (bench workload), packet matching none", *bench_p, bench10k,
              none4, 2.0);
  vs_no_rules("mixed_10k_last4", "10,000 mixed rules, IPv4 packet matching the last rule", *mixed_p, mixed,
              mixed_last4, 2.0);
  vs_no_rules("mixed_10k_none4", "10,000 mixed rules, IPv4 packet matching none", *mixed_p, mixed, none4,
              2.0);
  vs_no_rules("mixed_10k_last6", "10,000 mixed rules, IPv6 packet matching the last IPv6 rule", *mixed_p,
              mixed, mixed_last6, 2.0);
  vs_no_rules("mixed_10k_none6", "10,000 mixed rules, IPv6 packet matching none", *mixed_p, mixed, none6,
              2.0);
  const std::vector<rules::Rule> set_rule = bench::parse_all({"drop saddr @big"});
  vs_no_rules("set4_in", "1,000,000-prefix IPv4 set, source in it", *set4_p, set_rule, in4, 1.3);
  vs_no_rules("set4_out", "1,000,000-prefix IPv4 set, source not in it", *set4_p, set_rule, out4, 1.3);
  vs_no_rules("set6_in", "1,000,000-prefix IPv6 set, source in it", *set6_p, set_rule, in6, 2.0);
  vs_no_rules("set6_out", "1,000,000-prefix IPv6 set, source not in it", *set6_p, set_rule, out6, 2.0);

  // ---- the rate limiter (issue 10): ns/packet a `limit` adds to a rule,
  // against the same rule without it, with one and with 1,000,000 tracked
  // sources. Two rules a pipeline: `... dport 53 limit over 1/d burst 1`
  // (its packets are over the limit: dropped by the rule, as without the
  // limit) and `... dport 54 limit over 1000000000/s burst 1000000000`
  // (under it: the packet goes on, to the default pass). The real clock,
  // as `attach` leaves it.
  std::fprintf(stderr, "  limiter pipelines (1,000,000 sources per rule) ...\n");
  struct LimitRow {
    std::size_t c, base;
    std::string limit, sources;
    bool goal;
    // the hand-written floor of the same rules on the same packets: with
    // and without the limits (the 1,000,000-source rows)
    std::optional<std::pair<std::size_t, std::size_t>> floor;
  };
  std::vector<LimitRow> limit_rows;
  std::vector<std::string> limit_problems;
  {
    const std::uint32_t kSources = 1'000'000;
    GuardConfig big;
    big.limit_buckets = 1u << 21;  // 2,097,152 >= two rules x 1,000,000 sources
    const std::string over = "limit over 1/d burst 1", under = "limit over 1000000000/s burst 1000000000";
    // The two rules, with their limits (and key) or without.
    auto texts = [&](const char* fam, bool limited, const std::string& key) {
      auto t = [&](int port, const std::string& l) {
        std::string r = fmt::format("drop {} udp dport {}", fam, port);
        if (limited) r += " " + l + key;
        return r;
      };
      return std::vector<std::string>{t(53, over), t(54, under)};
    };
    auto src4 = [](std::uint32_t i) {
      return fmt::format("100.{}.{}.{}", 64 + (i >> 16), (i >> 8) & 0xff, i & 0xff);  // 100.64.0.0/10
    };
    auto src6 = [](std::uint32_t i) { return fmt::format("fd00:1::{:x}:{:x}", i >> 16, i & 0xffff); };
    // The buckets of kSources sources in bucket map `fd` for two rules, by
    // (id, epoch): empty for a day for the first (its packets are over its
    // limit), full for the second (under it).
    using Src = std::function<std::string(std::uint32_t)>;
    auto fill_map = [&](int fd, const std::array<std::pair<std::uint32_t, std::uint32_t>, 2>& rule_ids,
                        std::uint64_t now, std::uint8_t family, const Src& src) -> Result<void> {
      std::vector<xdpguard_limit_key> keys(kSources);
      std::vector<xdpguard_bucket> vals(kSources);
      for (std::size_t r = 0; r < rule_ids.size(); ++r) {
        for (std::uint32_t i = 0; i < kSources; ++i) {
          auto a = rules::parse_prefix(src(i));
          if (!a) return fail(EINVAL, "bad source {}", src(i));
          keys[i] = {};
          keys[i].rule = rule_ids[r].first;
          keys[i].family = family;
          keys[i].len = family == 4 ? 32 : 128;
          std::memcpy(keys[i].addr, a->addr.data(), family == 4 ? 4 : 16);
          vals[i] = {};
          vals[i].epoch = rule_ids[r].second;
          vals[i].tat = r == 0 ? now + 86'400'000'000'000ull : 0;
        }
        for (std::uint32_t at = 0; at < kSources;) {
          __u32 n = std::min<std::uint32_t>(65536, kSources - at);
          if (bpf_map_update_batch(fd, &keys[at], &vals[at], &n, nullptr) != 0)
            return fail_errno(errno, "fill a bucket map");
          at += n;
        }
      }
      return {};
    };
    // A pipeline's: its rules' ids and epochs, its clock.
    auto fill = [&](Pipeline& p, const std::vector<std::string>& rule_texts, std::uint8_t family,
                    const Src& src) -> Result<void> {
      auto map = XG_TRY(p.prog.map(XDPGUARD_PIN_LIMIT_SRC));
      std::array<std::pair<std::uint32_t, std::uint32_t>, 2> ids{};
      for (std::size_t r = 0; r < ids.size(); ++r) {
        cls::CompiledRule cr;
        cr.id = p.ids[r];
        cr.rule = XG_TRY(rules::parse_rule(rule_texts[r]));
        ids[r] = {cr.id, cls::limit_epoch(cr)};
      }
      return fill_map(map.fd(), ids, XG_TRY(p.guard.ddos_now()), family, src);
    };
    // The floor's (bench/floor/floor10.bpf.c: rules 1 and 2, no epoch),
    // the same sources and state, on CLOCK_MONOTONIC.
    auto fill_floor = [&](std::uint8_t family, const Src& src) -> Result<void> {
      timespec ts{};
      (void)clock_gettime(CLOCK_MONOTONIC, &ts);
      const std::uint64_t now = std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
      return fill_map(floor->limit_map_fd(), {std::pair{1u, 0u}, std::pair{2u, 0u}}, now, family, src);
    };
    for (const auto& [fam, src] :
         {std::pair{std::uint8_t{4}, std::function<std::string(std::uint32_t)>(src4)},
          std::pair{std::uint8_t{6}, std::function<std::string(std::uint32_t)>(src6)}})
      if (auto r = fill_floor(fam, src); !r) return die(r.error().message());
    auto base4 = make(texts("ip", false, ""), "limiter baseline IPv4");
    auto agg4 = make(texts("ip", true, ""), "limiter, one bucket", big);
    auto one4 = make(texts("ip", true, " per saddr"), "limiter, per saddr, 1 source", big);
    auto mil4 = make(texts("ip", true, " per saddr"), "limiter, per saddr, 1,000,000 sources", big);
    auto base6 = make(texts("ip6", false, ""), "limiter baseline IPv6");
    auto mil6 = make(texts("ip6", true, " per saddr"), "limiter, IPv6 per saddr, 1,000,000 sources", big);
    for (auto [p, fam, src] :
         {std::tuple{mil4.get(), std::uint8_t{4}, std::function<std::string(std::uint32_t)>(src4)},
          std::tuple{mil6.get(), std::uint8_t{6}, std::function<std::string(std::uint32_t)>(src6)}}) {
      if (auto r = fill(*p, texts(fam == 4 ? "ip" : "ip6", true, " per saddr"), fam, src); !r)
        return die(r.error().message());
      auto st = p->guard.ddos_stats();
      if (!st || st->buckets != 2ull * kSources)
        limit_problems.push_back(fmt::format("the IPv{} bucket map holds {} buckets, not {}", fam,
                                             st ? st->buckets : 0, 2ull * kSources));
    }
    // Cases: each pipeline, the packet over its limit (dport 53) and under
    // it (dport 54), from one source or in turn from 64 of the million.
    auto pkt = [&](const std::string& src, std::uint16_t dport) {
      return bench::packet(rules::kProtoUdp, src,
                           src.find(':') == std::string::npos ? "198.18.0.2" : "fd00::2", 1024, dport);
    };
    for (int v6 = 0; v6 < 2; ++v6) {
      auto& base = v6 ? *base6 : *base4;
      const std::string one_src = v6 ? src6(7) : src4(7);
      const char* fam = v6 ? "IPv6" : "IPv4";
      for (int under_limit = 0; under_limit < 2; ++under_limit) {
        const std::uint16_t port = under_limit ? 54 : 53;
        const char* state = under_limit ? "under the limit" : "over the limit";
        const PacketFields p = pkt(one_src, port);
        // The same rule without the limit: it matches, the packet is dropped.
        const std::size_t b =
            add(fmt::format("limit_base{}_{}", v6 ? 6 : 4, port),
                fmt::format("the same rules without limit, {}", fam), base.prog.prog_fd(), p, XDP_DROP,
                base.counter(base.ids[under_limit]), fmt::format("rule {}", under_limit + 1));
        auto many_frames = [&](std::size_t c) {
          for (std::uint32_t i = 0; i < 64; ++i)
            cases[c].frames.push_back(bench::frame(pkt(v6 ? src6(i * 15601) : src4(i * 15601), port)));
        };
        auto limited = [&](std::string key, Pipeline& pl, std::string lim, std::string sources, bool many,
                           bool goal) {
          const std::size_t c =
              add(std::move(key), fmt::format("{}, {}", lim, state), pl.prog.prog_fd(), p,
                  under_limit ? XDP_PASS : XDP_DROP, pl.counter(under_limit ? 0 : pl.ids[0]),
                  under_limit ? "default counter" : "rule 1");
          if (many) many_frames(c);
          (void)test_run(pl.prog.prog_fd(), cases[c].frame, 1);  // the first packet is under any limit
          limit_rows.push_back({c, b, std::move(lim), std::move(sources), goal, std::nullopt});
        };
        // The floor on the same packets: the rules without their limits
        // (the packet dropped by its rule), and with them.
        auto floor_counter = [&](std::uint32_t slot) {
          return [&fl = *floor, slot]() { return fl.rule_packets(slot); };
        };
        const auto rule_slot = static_cast<std::uint32_t>(under_limit + 1);
        const std::size_t fb =
            add(fmt::format("limit_floor_base{}_{}", v6 ? 6 : 4, port),
                "floor: hand-written C, the same rules without limit", floor->nolimit_prog_fd(), p, XDP_DROP,
                floor_counter(rule_slot), fmt::format("floor rule {}", rule_slot));
        const std::size_t fl =
            add(fmt::format("limit_floor{}_{}", v6 ? 6 : 4, port),
                fmt::format("floor: hand-written C, per saddr ({}), {}", fam, state), floor->limit_prog_fd(),
                p, under_limit ? XDP_PASS : XDP_DROP, floor_counter(under_limit ? 0 : 1),
                under_limit ? "floor default counter" : "floor rule 1");
        many_frames(fl);
        if (!v6) {
          limited(fmt::format("limit_agg_{}", port), *agg4, "one bucket (no key)", "-", false, false);
          limited(fmt::format("limit_src1_{}", port), *one4, "per saddr", "1", false, false);
        }
        limited(fmt::format("limit_src1m{}_{}", v6 ? 6 : 4, port), v6 ? *mil6 : *mil4,
                fmt::format("per saddr ({})", fam), "1,000,000", true, true);
        limit_rows.back().floor = std::pair{fl, fb};
      }
    }
    limit_pipelines.push_back(std::move(base4));
    limit_pipelines.push_back(std::move(agg4));
    limit_pipelines.push_back(std::move(one4));
    limit_pipelines.push_back(std::move(mil4));
    limit_pipelines.push_back(std::move(base6));
    limit_pipelines.push_back(std::move(mil6));
  }
  // ---- issue 16: IPv6 extension header chains walked to the end (parse.h),
  // and blocks looked up at their rule's position (classifier/block_code.h).
  struct TrustRow {
    std::size_t c, base;
    std::string what;
    std::optional<double> max_added;  // goal, ns over the base
  };
  std::vector<TrustRow> trust_rows;
  std::vector<std::unique_ptr<Pipeline>> trust_pipelines;
  {
    // The 10-rule pipeline, an IPv6 UDP packet no rule matches, behind 0..24
    // Destination Options headers: what each header adds to the whole path.
    const std::size_t chain0 =
        add("chain6_0", "10 rules, IPv6 packet matching none, no extension header", ten_p->prog.prog_fd(),
            none6, XDP_PASS, ten_p->counter(0), "default counter");
    for (int n : {1, 2, 3, 8, 24}) {
      const std::size_t c =
          add(fmt::format("chain6_{}", n),
              fmt::format("10 rules, the same packet behind {} Destination Options header{}", n,
                          n > 1 ? "s" : ""),
              ten_p->prog.prog_fd(), none6, XDP_PASS, ten_p->counter(0), "default counter");
      cases[c].frame = bench::with_dest_opts(cases[c].frame, n);
      trust_rows.push_back({c, chain0, fmt::format("{} extension header{}", n, n > 1 ? "s" : ""),
                            n == 1 ? std::optional<double>(5) : std::nullopt});
    }
    // Blocks: the same limited rule without and with `block`, nothing
    // blocked (the classifier's one load of xg_ddos.block_until), and with a
    // block of another prefix holding (the clock and the rule's lookup).
    const std::string limited = "drop ip udp dport 53 limit over 1/d burst 1 per saddr/24";
    auto no_block = make({limited}, "limit without block");
    auto idle = make({limited + " block 1d"}, "block rule, nothing blocked");
    auto busy = make({limited + " block 1d"}, "block rule, another prefix blocked");
    const PacketFields blocked_src = bench::packet(rules::kProtoUdp, "198.18.77.1", "198.18.0.2", 1024, 53);
    for (int i = 0; i < 2; ++i) (void)test_run(busy->prog.prog_fd(), bench::frame(blocked_src), 1);
    auto st = busy->guard.blocked();
    if (!st || st->size() != 1) problems.emplace_back("blocks: the busy pipeline has no block");
    const std::size_t b0 =
        add("block_none", "limited rule without block, packet it does not match", no_block->prog.prog_fd(),
            lab4, XDP_PASS, no_block->counter(0), "default counter");
    const std::size_t b1 = add("block_idle", "the same rule with block, nothing blocked",
                               idle->prog.prog_fd(), lab4, XDP_PASS, idle->counter(0), "default counter");
    const std::size_t b2 = add("block_busy", "the same rule with block, another prefix blocked (a lookup)",
                               busy->prog.prog_fd(), lab4, XDP_PASS, busy->counter(0), "default counter");
    PacketFields blocked_other = blocked_src;
    blocked_other.dport = 9;
    const std::size_t b3 =
        add("block_hit", "the same rule with block, packet from the blocked prefix (dropped)",
            busy->prog.prog_fd(), blocked_other, XDP_DROP, busy->counter(busy->ids[0]), "rule 1 (its block)");
    trust_rows.push_back({b1, b0, "`block` in the rule set, nothing blocked", 2.0});
    trust_rows.push_back(
        {b2, b0, "`block` in the rule set, a block holds (not this packet's)", std::nullopt});
    trust_rows.push_back({b3, b0, "a blocked source's packet, dropped by the block", std::nullopt});
    trust_pipelines.push_back(std::move(no_block));
    trust_pipelines.push_back(std::move(idle));
    trust_pipelines.push_back(std::move(busy));
  }
  // ---- issue 20: VLAN matches. The same rule with and without `vlan ...`,
  // on the same tagged frame (both rules match it, or neither does): what
  // the compare adds; and what a tag costs the parser, no rules.
  std::vector<TrustRow> vlan_rows;
  {
    auto tagged = [](PacketFields p, std::uint16_t outer, std::optional<std::uint16_t> inner) {
      p.nvlan = inner ? 2 : 1;
      p.vlan = {outer, inner.value_or(0)};
      return p;
    };
    const std::string rule = bench::kLabRule;  // drop udp dport 9 saddr 198.18.0.0/15
    auto with_vlan = make({"drop vlan 100 " + rule.substr(5)}, "vlan rule");
    auto with_qinq = make({"drop vlan 100 inner 200 " + rule.substr(5)}, "QinQ rule");
    const std::vector<rules::Rule> vlan_rule = bench::parse_all({"drop vlan 100 " + rule.substr(5)});
    const std::vector<rules::Rule> qinq_rule =
        bench::parse_all({"drop vlan 100 inner 200 " + rule.substr(5)});
    const PacketFields hit1 = tagged(lab4, 100, std::nullopt), miss1 = tagged(none4, 100, std::nullopt);
    const PacketFields hit2 = tagged(lab4, 100, 200);
    const std::size_t base_hit1 =
        guard_case("vlan_base_hit", "1 rule, tagged frame (vlan 100) matching it", *one_p, one, hit1);
    const std::size_t base_miss1 =
        guard_case("vlan_base_miss", "1 rule, tagged frame (vlan 100) matching none", *one_p, one, miss1);
    const std::size_t base_hit2 = guard_case(
        "vlan_base_hit2", "1 rule, QinQ frame (vlan 100 inner 200) matching it", *one_p, one, hit2);
    const std::size_t vhit = guard_case("vlan_hit", "the same rule with `vlan 100`, the same frame (matches)",
                                        *with_vlan, vlan_rule, hit1);
    const std::size_t vmiss =
        guard_case("vlan_miss", "the same rule with `vlan 100`, the same frame (no match)", *with_vlan,
                   vlan_rule, miss1);
    const std::size_t qhit =
        guard_case("vlan_qinq_hit", "the same rule with `vlan 100 inner 200`, the same QinQ frame (matches)",
                   *with_qinq, qinq_rule, hit2);
    vlan_rows.push_back({vhit, base_hit1, "vlan match: cost over the same rule without it", 2.0});
    vlan_rows.push_back({vmiss, base_miss1, "vlan match: cost over the same rule without it", 2.0});
    vlan_rows.push_back({qhit, base_hit2, "QinQ match: cost over the same rule without it", 2.0});
    // Parsing: one and two tags, no rules, against the untagged frame.
    const std::size_t untagged = no_rules(lab4);
    vlan_rows.push_back({no_rules(hit1), untagged, "one tag, no rules: parser cost", std::nullopt});
    vlan_rows.push_back({no_rules(hit2), untagged, "two tags, no rules: parser cost", std::nullopt});
    cases[no_rules(hit1)].label = "xdpguard, no rules, tagged frame (vlan 100)";
    cases[no_rules(hit2)].label = "xdpguard, no rules, QinQ frame (vlan 100 inner 200)";
    trust_pipelines.push_back(std::move(with_vlan));
    trust_pipelines.push_back(std::move(with_qinq));
  }
  // ---- issue 19: `redirect xsk`. One rule the frame matches, with `pass`
  // and with `redirect xsk`, on the same frame. With a socket: an AF_XDP
  // socket bound to queue 0 of a lab veth is in the pipeline's xg_xsks (test
  // runs report queue 0), so bpf_redirect_map finds it and the verdict is
  // XDP_REDIRECT (a test run stops at the verdict: nothing is copied; the
  // copy is xsk_bench's). Without one: the lookup misses, the rule's
  // fallback (pass) is the verdict.
  std::vector<TrustRow> xsk_rows;
  std::optional<Lab> xsk_lab;
  std::optional<xsk::Umem> xsk_umem;
  std::optional<xsk::Socket> xsk_socket;  // destroyed first
  UniqueFd xsk_floor_map, xsk_floor_prog;
  {
    const std::string match = " udp dport 9 saddr 198.18.0.0/15";
    auto pass_p = make({"pass" + match}, "pass rule");
    auto xsk_p = make({"redirect xsk" + match}, "redirect xsk rule");
    auto fallback_p = make({"redirect xsk" + match}, "redirect xsk rule without a socket");
    LabOptions lo;
    lo.ipv6 = false;
    auto lab = Lab::create(lo);
    if (!lab) return die("lab for the AF_XDP socket: " + lab.error().message());
    xsk_lab.emplace(std::move(*lab));
    auto bound = bench::on_host(xsk_lab->server(), [&](const Interface& i) -> Result<void> {
      xsk_umem.emplace(XG_TRY(xsk::Umem::create()));
      xsk_socket.emplace(XG_TRY(xsk::Socket::create(*xsk_umem, i.name, 0)));
      return {};
    });
    if (!bound) return die("AF_XDP socket: " + bound.error().message());
    if (auto r = xsk_p->guard.add_xsk(0, xsk_socket->fd()); !r) return die(r.error().message());
    auto one_rule = [&](const char* key, const char* label, const Pipeline& pl, std::uint32_t verdict) {
      return add(key, label, pl.prog.prog_fd(), lab4, verdict, pl.counter(pl.ids.at(0)), "rule counter");
    };
    const std::size_t pass =
        one_rule("xsk_base_pass", "1 rule, `pass udp dport 9 saddr 198.18.0.0/15`", *pass_p, XDP_PASS);
    const std::size_t redirect = one_rule(
        "xsk_redirect", "the same rule with `redirect xsk`, a socket on queue 0", *xsk_p, XDP_REDIRECT);
    const std::size_t fallback =
        one_rule("xsk_fallback", "the same rule with `redirect xsk`, no socket (fallback pass)", *fallback_p,
                 XDP_PASS);
    xsk_rows.push_back({redirect, pass, "redirect xsk to a socket: cost over `pass`", 10.0});
    // The floor: the same socket in a one-entry XSKMAP of a bare program.
    const int xskmap = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "bench_xsks", 4, 4, 1, nullptr);
    if (xskmap < 0) return die(fmt::format("XSKMAP: {}", std::strerror(errno)));
    xsk_floor_map.reset(xskmap);
    const __u32 zero = 0;
    const int sock_fd = xsk_socket->fd();
    if (bpf_map_update_elem(xskmap, &zero, &sock_fd, BPF_ANY) != 0)
      return die(fmt::format("the socket into the floor's XSKMAP: {}", std::strerror(errno)));
    auto floor_prog = xsk_redirect_program(xskmap);
    if (!floor_prog) return die(floor_prog.error().message());
    xsk_floor_prog = std::move(*floor_prog);
    const std::size_t floor = add("xsk_floor", "bare program: bpf_redirect_map to the socket, nothing else",
                                  xsk_floor_prog.get(), lab4, XDP_REDIRECT, {}, "");
    xsk_rows.push_back(
        {floor, c_pass, "the floor: redirect to a socket, cost over a bare XDP_PASS", std::nullopt});
    xsk_rows.push_back({fallback, pass, "redirect xsk, no socket: cost over `pass`", std::nullopt});
    trust_pipelines.push_back(std::move(pass_p));
    trust_pipelines.push_back(std::move(xsk_p));
    trust_pipelines.push_back(std::move(fallback_p));
  }
  // What the tick clock the limiter reads costs by itself, and the exact
  // clock it read before beside it (docs/ddos.md, "The clock").
  auto ktime = clock_program(BPF_FUNC_ktime_get_ns), coarse = clock_program(BPF_FUNC_ktime_get_coarse_ns);
  if (!ktime || !coarse) return die("cannot load the clock programs");
  struct ClockRow {
    std::size_t c;
    std::string what;
  };
  std::vector<ClockRow> clock_rows;
  clock_rows.push_back(
      {add("clock_ktime", "bare XDP_DROP + bpf_ktime_get_ns()", ktime->get(), lab4, XDP_DROP, {}, ""),
       "the exact clock (CLOCK_MONOTONIC), what the limiter read before"});
  clock_rows.push_back({add("clock_coarse", "bare XDP_DROP + bpf_ktime_get_coarse_ns()", coarse->get(), lab4,
                            XDP_DROP, {}, ""),
                        "the tick clock (CLOCK_MONOTONIC_COARSE), read by the limiter"});
  // Flood detection's per-protocol counters in the parser: the pipeline
  // `attach` leaves, one rule the frames pass by, with the counters and
  // without them (GuardConfig::flood_counters), on a frame counted first
  // (UDP), one counted last (a SYN) and one that takes every test and is
  // counted nowhere (a TCP ACK).
  std::fprintf(stderr, "  flood counter pipelines ...\n");
  GuardConfig no_flood;
  no_flood.flood_counters = false;
  auto flood_on = make({"drop tcp dport 22"}, "flood counters on");
  auto flood_off = make({"drop tcp dport 22"}, "flood counters off", no_flood);
  struct FloodRow {
    std::size_t on, off;
    std::string frame;
  };
  std::vector<FloodRow> flood_rows;
  for (const auto& [name, key, pkt] :
       {std::tuple{"udp", "udp", lab4},
        std::tuple{"syn", "syn", bench::packet(rules::kProtoTcp, "198.18.0.1", "198.18.0.2", 1000, 80, 0x02)},
        std::tuple{"tcp ack", "ack",
                   bench::packet(rules::kProtoTcp, "198.18.0.1", "198.18.0.2", 1000, 80, 0x10)}}) {
    const std::size_t on =
        add(fmt::format("flood_on_{}", key), fmt::format("flood counters on, {}", name),
            flood_on->prog.prog_fd(), pkt, XDP_PASS, flood_on->counter(0), "default counter");
    const std::size_t off =
        add(fmt::format("flood_off_{}", key), fmt::format("flood counters off, {}", name),
            flood_off->prog.prog_fd(), pkt, XDP_PASS, flood_off->counter(0), "default counter");
    flood_rows.push_back({on, off, name});
  }
  std::vector<std::uint64_t> created_before;
  for (const auto& lp : limit_pipelines) {
    auto st = lp->guard.ddos_stats();
    created_before.push_back(st ? st->counters[XDPGUARD_DDOS_BUCKET_NEW].packets : 0);
  }

  // ---- measure: every round runs every case once
  std::fprintf(stderr, "  measuring %zu cases, %d rounds of %u repeats ...\n", cases.size(), runs, repeat);
  for (int round = 0; round < runs; ++round) {
    for (auto& c : cases) {
      if (!c.error.empty()) continue;
      std::uint64_t before = 0;
      if (c.counter) {
        auto b = c.counter();
        if (!b) {
          c.error = b.error().message();
          continue;
        }
        before = *b;
      }
      const Bytes& frame =
          c.frames.empty() ? c.frame : c.frames[static_cast<std::size_t>(round) % c.frames.size()];
      const double t0 = thread_cpu_ns();
      auto r = test_run(c.fd, frame, repeat);
      const double cpu = (thread_cpu_ns() - t0) / repeat;
      if (!r) {
        c.error = r.error().message();
        continue;
      }
      if (r->verdict != c.verdict) {
        c.error = fmt::format("verdict {} where {} was expected", r->verdict, verdict_name(c.verdict));
        continue;
      }
      if (c.counter) {
        auto a = c.counter();
        if (!a || *a - before != repeat) {
          c.error =
              a ? fmt::format("{} moved by {}, not {}", c.counted, *a - before, repeat) : a.error().message();
          continue;
        }
      }
      c.ns.push_back(r->duration_ns);
      c.cpu.push_back(cpu);
    }
  }
  for (const auto& c : cases)
    if (!c.error.empty()) problems.push_back(c.label + " (" + bench::describe(c.packet) + "): " + c.error);
  for (std::size_t i : {std::size_t{3}, std::size_t{5}}) {  // the 1,000,000-source pipelines
    auto st = limit_pipelines[i]->guard.ddos_stats();
    if (!st || st->counters[XDPGUARD_DDOS_BUCKET_NEW].packets != created_before[i])
      limit_problems.emplace_back("a measured source of the 1,000,000 had no bucket yet (one was made)");
  }
  for (const auto& p : limit_problems) problems.push_back("limiter: " + p);

  // ---- control plane
  std::fprintf(stderr, "  control plane ...\n");
  auto cp = make({}, "control plane");
  std::vector<double> install_s, add_s;
  for (int i = 0; i < cp_runs; ++i) {
    if (auto r = cp->install({}); !r) return die(r.error().message());
    Result<void> r;
    install_s.push_back(seconds([&] { r = cp->install(bench_texts); }));
    if (!r) return die("install 10,000 rules: " + r.error().message());
  }
  for (int i = 0; i < cp_runs; ++i) {
    Result<Guard::AddedRule> added = Guard::AddedRule{};
    add_s.push_back(seconds(
        [&] { added = cp->guard.add_rule(fmt::format("drop udp dport {} saddr 192.0.2.77", 4242 + i)); }));
    if (!added) return die("add a rule: " + added.error().message());
    if (auto r = cp->guard.delete_rule(added->id); !r) return die("delete a rule: " + r.error().message());
  }
  // What a one-program pipeline (the parser spliced into every generated
  // classifier, no tail call: issue 17 item 1) would load again at every
  // change: the parser itself, over the pipeline's maps (no map created).
  std::vector<double> parser_s;
  bpf_prog_info parser_info{};
  for (int i = 0; i < cp_runs; ++i) {
    auto parser = GuardProgram::parser_for(cp->prog);
    if (!parser) return die("the parser alone: " + parser.error().message());
    Result<void> r;
    parser_s.push_back(seconds([&] { r = parser->load_programs(); }));
    if (!r) return die("load the parser alone: " + r.error().message());
    parser_info = {};
    __u32 len = sizeof(parser_info);
    if (bpf_obj_get_info_by_fd(parser->prog_fd(), &parser_info, &len) != 0)
      return die(
          fmt::format("the parser's program info (fd {}): {}", parser->prog_fd(), std::strerror(errno)));
  }
  auto plan_bench = bench_p->guard.plan();
  auto plan_mixed = mixed_p->guard.plan();
  if (!plan_bench || !plan_mixed) return die("plan of the 10,000-rule sets");
  const std::size_t shapes = bench::distinct_shapes(mixed);

  // ---- report
  auto ratio = [&](const Goal& g) { return cases[g.num].med() / cases[g.den].med(); };
  auto ratio_cpu = [&](const Goal& g) { return cases[g.num].med_cpu() / cases[g.den].med_cpu(); };
  int met = 0, missed = 0;
  std::printf(
      "## Classifier cost (BPF_PROG_TEST_RUN, ns/packet: median of %d rounds x %u repeats, all cases "
      "interleaved)\n\n",
      runs, repeat);
  std::printf(
      "| case | packet | ns/packet | cpu ns | compared with | ratio | goal | |\n"
      "|---|---|---:|---:|---|---:|---:|---|\n");
  nlohmann::json jrows = nlohmann::json::array();
  for (const auto& row : rows) {
    const Case& c = cases[row.c];
    nlohmann::json j = {{"key", c.key},
                        {"label", c.label},
                        {"packet", bench::describe(c.packet)},
                        {"ns", c.ns},
                        {"cpu_ns", c.cpu},
                        {"median_ns", c.med()},
                        {"median_cpu_ns", c.med_cpu()},
                        {"verdict", verdict_name(c.verdict)},
                        {"counted", c.counted}};
    std::string ns = c.error.empty() ? fmt_ns(c.med()) : "-",
                cpu = c.error.empty() ? fmt::format("{:.2f}", c.med_cpu()) : "-";
    std::string cmp, rat, goal, status;
    if (row.goal) {
      const Goal& g = *row.goal;
      const bool valid = cases[g.num].error.empty() && cases[g.den].error.empty();
      cmp = g.num == row.c ? fmt::format("{} ({} ns)", g.compared, valid ? fmt_ns(cases[g.den].med()) : "-")
                           : fmt::format("{} ({} ns)", g.compared, valid ? fmt_ns(cases[g.num].med()) : "-");
      rat = valid ? fmt::format("{:.2f}x (cpu {:.2f}x)", ratio(g), ratio_cpu(g)) : "-";
      if (valid) j["ratio"] = {{"compared", g.compared}, {"ratio", ratio(g)}, {"ratio_cpu", ratio_cpu(g)}};
      if (g.max > 0) {
        goal = fmt::format("<= {:g}x", g.max);
        if (valid) {
          bool ok = ratio(g) <= g.max;
          status = bench::verdict_word(ok);
          (ok ? met : missed)++;
          j["goal"] = {{"compared", g.compared},
                       {"ratio", ratio(g)},
                       {"ratio_cpu", ratio_cpu(g)},
                       {"max", g.max},
                       {"met", ok}};
        }
      }
    }
    if (!c.error.empty()) status = "CHECK FAILED: " + c.error;
    j["error"] = c.error;
    jrows.push_back(j);
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", c.label.c_str(),
                bench::describe(c.packet).c_str(), ns.c_str(), cpu.c_str(), cmp.c_str(), rat.c_str(),
                goal.c_str(), status.c_str());
  }
  out["rows"] = jrows;
  std::printf(
      "\nChecked in every round: the verdict (drop/pass), and that the counter where the packet belongs "
      "(the matched rule's, the default one, the floor's per-rule counter) moved by exactly %u; the floor "
      "and xdpguard agreed on a packet for each of the ten rules before measuring. \"ns/packet\" is the "
      "kernel's figure (an integer mean, truncated), the goals are judged on it; \"cpu\" is the thread's CPU "
      "time "
      "in the test run / repeat, a finer figure.\n",
      repeat);

  // ---- the limiter's table
  std::printf(
      "\n## Rate limiter cost (BPF_PROG_TEST_RUN, ns/packet, same rounds): a `limit` on `drop ip[6] udp "
      "dport "
      "53|54` vs the same rule without it; the floor: the same two rules, limits and sources in "
      "hand-written C (bench/floor/floor10.bpf.c: one LRU-hash lookup, the tick clock, one "
      "compare-and-swap), with its limits vs without\n\n"
      "| limit | sources tracked | packet | ns/packet | same rule without limit | added | the floor: added "
      "| goal | |\n"
      "|---|---:|---|---:|---:|---:|---:|---:|---|\n");
  nlohmann::json jlim = nlohmann::json::array();
  for (const auto& lr : limit_rows) {
    const Case& c = cases[lr.c];
    const Case& b = cases[lr.base];
    const bool valid = c.error.empty() && b.error.empty();
    const double added = c.med() - b.med(), added_cpu = c.med_cpu() - b.med_cpu();
    std::string goal, status;
    if (lr.goal) {
      goal = "<= +30 ns";
      if (valid) {
        const bool ok = added <= 30;
        status = bench::verdict_word(ok);
        (ok ? met : missed)++;
      }
    }
    if (!valid) status = "CHECK FAILED: " + (c.error.empty() ? b.error : c.error);
    std::optional<double> floor_added;
    std::string floor_text;
    if (lr.floor) {
      const Case& fl = cases[lr.floor->first];
      const Case& fb = cases[lr.floor->second];
      if (fl.error.empty() && fb.error.empty()) {
        floor_added = fl.med() - fb.med();
        floor_text = fmt::format("{:+.0f} ({} vs {})", *floor_added, fmt_ns(fl.med()), fmt_ns(fb.med()));
        if (valid)
          status += fmt::format("; xdpguard adds {:.1f}x the floor's", added / std::max(1.0, *floor_added));
      } else {
        floor_text = "CHECK FAILED: " + (fl.error.empty() ? fb.error : fl.error);
      }
    }
    std::printf("| %s | %s | %s | %s | %s | %s (cpu %+.1f) | %s | %s | %s |\n", c.label.c_str(),
                lr.sources.c_str(), bench::describe(c.packet).c_str(), valid ? fmt_ns(c.med()).c_str() : "-",
                valid ? fmt_ns(b.med()).c_str() : "-", valid ? fmt::format("{:+.0f}", added).c_str() : "-",
                added_cpu, floor_text.c_str(), goal.c_str(), status.c_str());
    jlim.push_back({{"key", c.key},
                    {"label", c.label},
                    {"sources", lr.sources},
                    {"median_ns", c.med()},
                    {"baseline_ns", b.med()},
                    {"added_ns", added},
                    {"added_cpu_ns", added_cpu},
                    {"goal_max_added_ns", lr.goal ? nlohmann::json(30) : nlohmann::json()},
                    {"floor_added_ns", floor_added ? nlohmann::json(*floor_added) : nlohmann::json()},
                    {"error", c.error.empty() ? b.error : c.error}});
  }
  for (const auto& cr : clock_rows) {
    const Case& c = cases[cr.c];
    const Case& b = cases[c_drop];
    const bool valid = c.error.empty() && b.error.empty();
    std::printf("| %s: %s | | | %s | %s (bare XDP_DROP) | %s (cpu %+.1f) | | | %s |\n", c.label.c_str(),
                cr.what.c_str(), valid ? fmt_ns(c.med()).c_str() : "-", valid ? fmt_ns(b.med()).c_str() : "-",
                valid ? fmt::format("{:+.0f}", c.med() - b.med()).c_str() : "-", c.med_cpu() - b.med_cpu(),
                valid ? "" : ("CHECK FAILED: " + c.error).c_str());
    jlim.push_back({{"key", c.key},
                    {"label", c.label},
                    {"median_ns", c.med()},
                    {"baseline_ns", b.med()},
                    {"added_ns", c.med() - b.med()},
                    {"error", c.error}});
  }
  out["limiter"] = jlim;

  std::printf(
      "\nChecked in every round: over the limit the packet is dropped and counted for the rule, under it it "
      "passes and is counted for the default action; the 1,000,000-source rows send from 64 of the sources "
      "in "
      "turn (one a round), each of which had its bucket already (no bucket was made while measuring), and "
      "their maps held 2,000,000 buckets (both rules) before.\n");

  // A table of rows "case, ns/packet, compared with, added, goal".
  auto added_table = [&](const std::vector<TrustRow>& table) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& tr : table) {
      const Case& c = cases[tr.c];
      const Case& b = cases[tr.base];
      const bool valid = c.error.empty() && b.error.empty();
      const double added = c.med() - b.med();
      std::string goal, status;
      if (tr.max_added) {
        goal = fmt::format("<= +{:g} ns", *tr.max_added);
        if (valid) {
          const bool ok = added <= *tr.max_added;
          status = bench::verdict_word(ok);
          (ok ? met : missed)++;
        }
      }
      if (!valid) status = "CHECK FAILED: " + (c.error.empty() ? b.error : c.error);
      std::printf("| %s: %s | %s | %s (%s ns) | %s (cpu %+.1f) | %s | %s |\n", tr.what.c_str(),
                  c.label.c_str(), valid ? fmt_ns(c.med()).c_str() : "-", b.label.c_str(),
                  valid ? fmt_ns(b.med()).c_str() : "-", valid ? fmt::format("{:+.0f}", added).c_str() : "-",
                  c.med_cpu() - b.med_cpu(), goal.c_str(), status.c_str());
      j.push_back({{"key", c.key},
                   {"label", c.label},
                   {"median_ns", c.med()},
                   {"baseline_ns", b.med()},
                   {"added_ns", added},
                   {"added_cpu_ns", c.med_cpu() - b.med_cpu()},
                   {"goal_max_added_ns", tr.max_added ? nlohmann::json(*tr.max_added) : nlohmann::json()},
                   {"error", c.error.empty() ? b.error : c.error}});
    }
    return j;
  };
  // ---- issue 16's table
  std::printf(
      "\n## IPv6 header chains and blocks (BPF_PROG_TEST_RUN, ns/packet, same rounds)\n\n"
      "| case | ns/packet | compared with | added | goal | |\n|---|---:|---|---:|---:|---|\n");
  out["trust"] = added_table(trust_rows);

  // ---- issue 20's table
  std::printf(
      "\n## VLAN matches (BPF_PROG_TEST_RUN, ns/packet, same rounds)\n\n"
      "| case | ns/packet | compared with | added | goal | |\n|---|---:|---|---:|---:|---|\n");
  out["vlan"] = added_table(vlan_rows);
  std::printf(
      "\nChecked in every round: the tagged frames dropped by the rule they match and counted for it, the "
      "others passed and counted for the default action. The rule with `vlan` compares the tag(s) the "
      "parser recorded (one 16-bit load for `vlan N`, one 32-bit load for `vlan N inner M`, folded into the "
      "rule's one branch).\n");
  std::printf(
      "\nChecked in every round: every packet passed and counted for the default action, the blocked "
      "source's packets dropped and counted for the block's rule. A rule set without `block` has no block "
      "code at all (the parser's per-packet block-list check is gone): its rows are the ones above.\n");

  // ---- issue 19's table
  std::printf(
      "\n## `redirect xsk` (BPF_PROG_TEST_RUN, ns/packet, same rounds)\n\n"
      "| case | ns/packet | compared with | added | goal | |\n|---|---:|---|---:|---:|---|\n");
  out["xsk"] = added_table(xsk_rows);
  std::printf(
      "\nChecked in every round: the verdict (XDP_REDIRECT with the socket in xg_xsks, XDP_PASS without it: "
      "the "
      "rule's fallback) and the rule's counter. A test run stops at the verdict: the frame is not copied to "
      "the "
      "socket (xsk_bench measures that on a veth).\n");

  std::printf(
      "\nThe mixed workload (bench::mixed_rule_set): %zu rules of %zu distinct shapes; its last IPv6 rule is "
      "`%s`, its last rule `%s`.\n",
      mixed_texts.size(), shapes, mixed_texts[kRules - 2].c_str(), mixed_texts[kRules - 1].c_str());

  std::printf(
      "\n## Flood detection's counters in the parser (same rounds): the pipeline with one rule the frame "
      "passes by, with and without them\n\n"
      "| frame | packet | without counters | with counters | added |\n|---|---|---:|---:|---:|\n");
  nlohmann::json jflood = nlohmann::json::array();
  for (const auto& fr : flood_rows) {
    const Case& on = cases[fr.on];
    const Case& off = cases[fr.off];
    const bool valid = on.error.empty() && off.error.empty();
    std::printf("| %s | %s | %s | %s | %s (cpu %+.1f) |\n", fr.frame.c_str(),
                bench::describe(on.packet).c_str(), valid ? fmt_ns(off.med()).c_str() : "-",
                valid ? fmt_ns(on.med()).c_str() : "-",
                valid ? fmt::format("{:+.0f}", on.med() - off.med()).c_str() : "CHECK FAILED",
                on.med_cpu() - off.med_cpu());
    jflood.push_back({{"frame", fr.frame},
                      {"without_ns", off.med()},
                      {"with_ns", on.med()},
                      {"added_ns", on.med() - off.med()},
                      {"added_cpu_ns", on.med_cpu() - off.med_cpu()},
                      {"error", on.error.empty() ? off.error : on.error}});
  }
  out["flood_counters"] = jflood;

  std::printf("\n| control plane | value | goal | |\n|---|---:|---:|---|\n");
  auto goal_row = [&](const std::string& what, double v, const std::string& value, double max, bool strict) {
    bool ok = strict ? v < max : v <= max;
    (ok ? met : missed)++;
    std::printf("| %s | %s | %s %.3g s | %s |\n", what.c_str(), value.c_str(), strict ? "<" : "<=", max,
                bench::verdict_word(ok));
    return ok;
  };
  const double install_med = median(install_s), add_med = median(add_s);
  const double load4_med = median(load4.s), load6_med = median(load6.s);
  goal_row(
      fmt::format("compile + verify + install 10,000 rules (replace_rules on an empty set; median of {})",
                  cp_runs),
      install_med, fmt::format("{:.3f} s", install_med), 1.0, false);
  goal_row(fmt::format("add one rule to a 10,000-rule set (Guard::add_rule in a warm process, lint "
                       "included: `rule add`'s change; the command as run, with its process and lockout "
                       "guard, is in throughput_bench; median of {})",
                       cp_runs),
           add_med, fmt::format("{:.3f} s", add_med), 0.05, false);
  goal_row(fmt::format("load a 1,000,000-prefix IPv4 set (median of {})", set_loads), load4_med,
           fmt::format("{:.2f} s, {:.1f} MiB kernel memory", load4_med, load4.memlock / 1048576.0), 3.0,
           true);
  goal_row(fmt::format("load a 1,000,000-prefix IPv6 set (median of {})", set_loads), load6_med,
           fmt::format("{:.2f} s, {:.1f} MiB kernel memory", load6_med, load6.memlock / 1048576.0), 3.0,
           true);
  auto plan_row = [&](const char* what, const Guard::PlanReport& p) {
    const auto& i = p.installed;
    std::printf(
        "| %s: classifier | %zu groups, %u insns, %u verified insns, bpf_prog_load (verifier included) "
        "%.1f ms, tables %.1f KiB | | |\n",
        what, p.compiled.plan.groups.size(), i.insns, i.verified_insns, i.load_us / 1000.0,
        i.table_bytes / 1024.0);
    return nlohmann::json{{"groups", p.compiled.plan.groups.size()},
                          {"insns", i.insns},
                          {"verified_insns", i.verified_insns},
                          {"load_us", i.load_us},
                          {"table_bytes", i.table_bytes}};
  };
  const double parser_med = median(parser_s);
  std::printf(
      "| the parser stage alone (the attached program, over the pipeline's maps; median of %d) | %u insns, "
      "%u verified insns, load (verifier included) %.1f ms: what every change would load again with the "
      "parser spliced into the generated classifier (one program, no tail call) | | |\n",
      cp_runs, parser_info.xlated_prog_len / static_cast<__u32>(sizeof(bpf_insn)), parser_info.verified_insns,
      parser_med * 1000);
  out["parser_alone"] = {{"insns", parser_info.xlated_prog_len / sizeof(bpf_insn)},
                         {"verified_insns", parser_info.verified_insns},
                         {"load_s", parser_s}};
  out["plan_10k_bench"] = plan_row("10,000 rules, bench workload", *plan_bench);
  out["plan_10k_mixed"] = plan_row("10,000 rules, mixed workload", *plan_mixed);
  bool shapes_ok = shapes >= 50;
  (shapes_ok ? met : missed)++;
  std::printf(
      "| mixed workload: distinct rule shapes (family, protocol, prefix lengths, port kinds, flags mask) | "
      "%zu | >= 50 | %s |\n",
      shapes, bench::verdict_word(shapes_ok));
  std::printf("\nGoals: %d met, %d missed.\n", met, missed);
  out["control_plane"] = {{"install_10k_s", install_s}, {"add_rule_s", add_s},
                          {"set4_load_s", load4.s},     {"set4_memlock", load4.memlock},
                          {"set6_load_s", load6.s},     {"set6_memlock", load6.memlock},
                          {"mixed_shapes", shapes}};
  out["goals_met"] = met;
  out["goals_missed"] = missed;
  out["check_failures"] = problems;
  if (!problems.empty()) {
    std::printf("\nCHECKS FAILED:\n");
    for (const auto& p : problems) std::printf("- %s\n", p.c_str());
  }
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return problems.empty() ? 0 : 1;
}

int main(int argc, char** argv) { return bench::guarded_main("classifier_bench", run_bench, argc, argv); }
