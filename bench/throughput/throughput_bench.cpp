// throughput_bench: packets per second through a veth lab, every receiver
// measured side by side in one run with the same generator and the same
// frames. The generator (src/lib/gen) sends 64-byte UDP frames from the
// client namespace with BPF_PROG_TEST_RUN live frames; the receiver under
// test sits on the server's veth and drops them. Generator and receiver
// share one CPU (the veth's NAPI runs where the frames are sent), so a
// figure is 1 / (generator cost + receiver cost): the bare XDP_DROP program
// gives the limit, and every other figure is a ratio to it.
//
//   throughput_bench [--quick] [--json FILE]
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpf/system.h"
#include "common/workloads.h"
#include "core/log.h"
#include "core/process.h"
#include "gen/generator.h"
#include "guard/guard.h"
#include "lab/lab.h"
#include "rules/parser.h"

using namespace xdpguard;

namespace {

struct Receiver {
  std::string label;  // row of the table
  std::string key;    // JSON key
  std::string goal;   // what the issue asks of it, shown beside the figure
  std::function<Result<void>()> setup, teardown;
};

struct Sample {
  std::vector<double> mpps;
  double min() const { return *std::min_element(mpps.begin(), mpps.end()); }
  double max() const { return *std::max_element(mpps.begin(), mpps.end()); }
  double median() const {
    auto v = mpps;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  }
};

class Bench {
 public:
  Bench(Lab& lab, gen::Generator& g) : lab_(lab), gen_(g) {}

  // Runs fn on a thread in h's network namespace, with h's veth.
  Result<void> on(const LabHost& h, const std::function<Result<void>(const Interface&)>& fn) {
    Result<void> r;
    auto ns = run_in_netns(h.netns, [&] {
      auto iface = find_interface(h.veth);
      r = iface ? fn(*iface) : Result<void>(tl::unexpected(iface.error()));
    });
    if (!ns) return ns;
    return r;
  }
  Result<void> on_server(const std::function<Result<void>(const Interface&)>& fn) {
    return on(lab_.server(), fn);
  }

  // A shell script in the server's namespace (nft, iptables, xdp-filter).
  Result<void> sh(const std::string& script) {
    XG_TRY_CTX(lab_.exec(lab_.server(), {"sh", "-c", script}, std::chrono::seconds(60)), script);
    return {};
  }

  Result<void> server_xdp(int fd) {
    return on_server([fd](const Interface& i) -> Result<void> {
      LIBBPF_OPTS(bpf_xdp_attach_opts, o);
      if (int e = bpf_xdp_attach(i.ifindex, fd, XDP_FLAGS_DRV_MODE, &o)) return fail_errno(e, "attach");
      return {};
    });
  }
  Result<void> server_xdp_off() {
    return on_server([](const Interface& i) -> Result<void> {
      bpf_xdp_detach(i.ifindex, XDP_FLAGS_DRV_MODE, nullptr);
      return {};
    });
  }

  // One figure: frames the server received per second over `seconds`
  // (frames the veth could not hand over, its peer's ring being full, never
  // arrived and do not count).
  Result<double> measure(double seconds) {
    gen::Progress sent;
    XG_CHECK(on(lab_.client(), [&](const Interface& i) -> Result<void> {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)) - 1, &set);
      sched_setaffinity(0, sizeof set, &set);  // best effort: steadier figures
      sent = XG_TRY(gen_.run(i, gen::Limits{0, seconds}));
      return {};
    }));
    return sent.pps() / 1e6;
  }

 private:
  Lab& lab_;
  gen::Generator& gen_;
};


}  // namespace

int main(int argc, char** argv) {
  const auto [quick, json_path] = bench::parse_args(argc, argv, "throughput_bench");
  log::init();
  auto die = [](const std::string& what) {
    std::fprintf(stderr, "throughput_bench: %s\n", what.c_str());
    return 1;
  };
  if (auto r = require_privileges(); !r) return die(r.error().message());
  if (auto r = ensure_bpffs(); !r) return die(r.error().message());
  const int reps = quick ? 3 : 5;
  const double secs = quick ? 0.5 : 1.0;

  LabOptions lo;
  lo.ipv6 = false;  // no ND/MLD chatter in the counters
  auto lab = Lab::create(lo);
  if (!lab) return die(lab.error().message());

  // 64-byte UDP from the client to the server's port 9, every frame alike.
  gen::Spec spec;
  spec.src = *rules::parse_prefix(lab->client().ip4);
  spec.dst = rules::parse_prefix(lab->server().ip4)->addr;
  spec.dport = 9;
  spec.size = 64;
  auto src_mac = gen::parse_mac(lab->client().mac), dst_mac = gen::parse_mac(lab->server().mac);
  if (!src_mac || !dst_mac) return die("lab MAC addresses do not parse");
  spec.src_mac = *src_mac;
  spec.dst_mac = *dst_mac;
  auto tmpl = gen::build(spec);
  if (!tmpl) return die(tmpl.error().message());
  auto generator = gen::Generator::open(*tmpl);
  if (!generator) return die(generator.error().message());
  Bench bench(*lab, *generator);

  auto drop = bench::bare_program(XDP_DROP);
  auto pass = bench::bare_program(XDP_PASS);
  if (!drop || !pass) return die("cannot load the bare programs");
  const std::string veth = lab->server().veth;

  std::optional<Guard> guard;
  auto guard_with = [&](std::vector<std::string> rules, std::uint32_t def,
                        std::size_t set_size) -> std::function<Result<void>()> {
    return [&, rules, def, set_size]() -> Result<void> {
      return bench.on_server([&](const Interface& i) -> Result<void> {
        GuardConfig cfg;
        cfg.default_action = def;
        guard.emplace(XG_TRY(Guard::attach(i, AttachMode::Native, cfg)));
        if (set_size) {
          auto prefixes = bench::random_prefixes(set_size - 1, 7);
          prefixes.push_back(*rules::parse_prefix("198.18.0.0/24"));
          XG_TRY(guard->load_set("block", prefixes));
        }
        XG_TRY(guard->replace_rules(rules));
        return {};
      });
    };
  };
  auto guard_off = [&]() -> Result<void> {
    guard.reset();
    return bench.on_server([](const Interface& i) { return Guard::detach(i); });
  };
  auto last_rule = [](std::size_t n) {
    auto r = bench::rule_set(n - 1);
    r.push_back("drop udp dport 9");
    return r;
  };
  auto with_pass = [&](std::string setup_script, std::string teardown_script) {
    return std::pair<std::function<Result<void>()>, std::function<Result<void>()>>{
        [&, setup_script]() -> Result<void> {
          XG_CHECK(bench.server_xdp(pass->get()));
          return bench.sh(setup_script);
        },
        [&, teardown_script]() -> Result<void> {
          auto r = bench.sh(teardown_script);
          XG_CHECK(bench.server_xdp_off());
          return r;
        }};
  };

  std::vector<Receiver> rx;
  Receiver limit{"bare XDP_DROP program (the limit)", "bare_drop", "",
                 [&] { return bench.server_xdp(drop->get()); }, [&] { return bench.server_xdp_off(); }};
  rx.push_back({"xdpguard, no rules (default drop)", "xdpguard_no_rules", "",
                guard_with({}, XDP_DROP, 0), guard_off});
  rx.push_back({"xdpguard, 10 rules, matching the last", "xdpguard_10", ">= 0.95x",
                guard_with(last_rule(10), XDP_PASS, 0), guard_off});
  rx.push_back({"xdpguard, 1,000 rules, matching the last", "xdpguard_1000", "",
                guard_with(last_rule(1000), XDP_PASS, 0), guard_off});
  rx.push_back({"xdpguard, 10,000 rules, matching the last", "xdpguard_10000", ">= 0.85x",
                guard_with(last_rule(10000), XDP_PASS, 0), guard_off});
  rx.push_back({"xdpguard, 1,000,000-prefix block list", "xdpguard_set_1m", "",
                guard_with({"drop saddr @block"}, XDP_PASS, 1000000), guard_off});
  rx.push_back({"xdp-filter (xdp-tools), drop udp dst port 9", "xdp_filter", "",
                [&]() -> Result<void> {
                  return bench.sh("mount -t bpf bpf /sys/fs/bpf && xdp-filter load -m native " + veth +
                                         " && xdp-filter port -m dst -p udp 9");
                },
                [&]() -> Result<void> { return bench.server_xdp_off(); }});
  auto nft = with_pass("nft -f - <<EOF\ntable netdev xgbench {\n  chain in {\n    type filter hook ingress "
                       "device " + veth + " priority 0; policy accept;\n    udp dport 9 drop\n  }\n}\nEOF",
                       "nft delete table netdev xgbench");
  rx.push_back({"nftables netdev ingress, udp dport 9 drop", "nft_netdev", "", nft.first, nft.second});
  auto ipt = with_pass("iptables -t raw -A PREROUTING -p udp --dport 9 -j DROP",
                       "iptables -t raw -D PREROUTING -p udp --dport 9 -j DROP");
  rx.push_back({"iptables raw PREROUTING, udp dport 9 DROP", "iptables_raw", "", ipt.first, ipt.second});

  auto run = [&](Receiver& r, Sample& s) -> Result<void> {
    std::fprintf(stderr, "  %s ...\n", r.label.c_str());
    Result<void> res = r.setup();
    if (res)
      if (auto warm = bench.measure(0.2); !warm) res = tl::unexpected(warm.error());
    for (int i = 0; res && i < reps; ++i) {
      auto m = bench.measure(secs);
      if (!m) res = tl::unexpected(m.error());
      else s.mpps.push_back(*m);
    }
    auto down = r.teardown();  // also after a failed setup: leave nothing half set up
    XG_CHECK_CTX(res, r.label);
    return with_context(down, r.label);
  };

  // The limit first and last, so drift over the run shows in its spread.
  Sample limit_s;
  std::vector<Sample> samples(rx.size());
  std::vector<std::string> failed(rx.size());
  if (auto r = run(limit, limit_s); !r) return die(r.error().message());
  for (std::size_t i = 0; i < rx.size(); ++i)
    if (auto r = run(rx[i], samples[i]); !r) failed[i] = r.error().message();
  if (auto r = run(limit, limit_s); !r) return die(r.error().message());

  const double lim = limit_s.median();
  nlohmann::json out = {{"frame_bytes", 64}, {"reps", reps}, {"seconds_per_rep", secs},
                        {"limit_mpps", {{"min", limit_s.min()}, {"median", lim}, {"max", limit_s.max()}}}};
  std::printf("## Throughput through a veth lab (64-byte UDP, %d x %.1f s per receiver, Mpps)\n\n", reps, secs);
  std::printf("| receiver | min | median | max | x limit | goal |\n|---|---:|---:|---:|---:|---|\n");
  std::printf("| %s | %.2f | %.2f | %.2f | 1.00 | |\n", limit.label.c_str(), limit_s.min(), lim, limit_s.max());
  double xf = 0, nft_m = 0;
  for (std::size_t i = 0; i < rx.size(); ++i) {
    if (!failed[i].empty()) {
      std::printf("| %s | - | - | - | - | failed: %s |\n", rx[i].label.c_str(), failed[i].c_str());
      out["receivers"][rx[i].key] = {{"error", failed[i]}};
      continue;
    }
    const auto& s = samples[i];
    std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %s |\n", rx[i].label.c_str(), s.min(), s.median(), s.max(),
                s.median() / lim, rx[i].goal.c_str());
    out["receivers"][rx[i].key] = {{"label", rx[i].label}, {"min", s.min()}, {"median", s.median()},
                                   {"max", s.max()}, {"x_limit", s.median() / lim}, {"samples", s.mpps}};
    if (rx[i].key == "xdp_filter") xf = s.median();
    if (rx[i].key == "nft_netdev") nft_m = s.median();
  }
  auto g10 = out["receivers"]["xdpguard_10"];
  if (g10.contains("median") && xf > 0 && nft_m > 0) {
    double g = g10["median"].get<double>();
    std::printf("\nxdpguard (10 rules) vs xdp-filter: %.2fx (goal >= 1.5x); vs nftables netdev: %.2fx (goal >= 3x)\n",
                g / xf, g / nft_m);
    out["xdpguard_vs_xdp_filter"] = g / xf;
    out["xdpguard_vs_nft_netdev"] = g / nft_m;
  }
  if (!json_path.empty()) std::ofstream(json_path) << out.dump(2) << "\n";
  return 0;
}
