#include "common/workloads.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <set>
#include <span>
#include <tuple>

#include <fmt/format.h>

#include "bpf/system.h"
#include "common/packets.h"
#include "core/log.h"
#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard::bench {

using rules::Family;
using rules::Prefix;

std::vector<std::string> rule_set(std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    unsigned a = static_cast<unsigned>(i / 256) & 0xff, b = static_cast<unsigned>(i % 256);
    unsigned port = 10000 + static_cast<unsigned>(i % 50000);
    switch (i % 4) {
      case 0: out.push_back(fmt::format("drop udp dport {} saddr 10.{}.{}.1", port, a, b)); break;
      case 1: out.push_back(fmt::format("drop tcp dport {} saddr 10.{}.{}.0/24", port, a, b)); break;
      case 2: out.push_back(fmt::format("drop udp sport {} saddr 10.{}.{}.0/28", port, a, b)); break;
      default:
        out.push_back(fmt::format("pass tcp dport {}-{} saddr 11.{}.0.0/16", port, port + 3, a));
        break;
    }
  }
  return out;
}

std::vector<std::string> rule_set_then_lab_rule(std::size_t n) {
  auto out = rule_set(n ? n - 1 : 0);
  out.emplace_back(kLabRule);
  return out;
}

std::vector<std::string> ten_rules() { return rule_set_then_lab_rule(10); }

namespace {

Prefix literal(const char* text) {
  auto p = rules::parse_prefix(text);
  if (!p) std::abort();
  return *p;
}

bool overlaps(const Prefix& a, const Prefix& b) {
  if (a.family != b.family) return false;
  return a.len <= b.len ? contains(a, b.addr) : contains(b, a.addr);
}

// The lab and the documentation ranges: no workload prefix touches them.
bool reserved(const Prefix& p) {
  static const Prefix kReserved[] = {literal("198.18.0.0/15"),   literal("192.0.2.0/24"),
                                     literal("198.51.100.0/24"), literal("203.0.113.0/24"),
                                     literal("fd00::/8"),        literal("2001:db8::/32")};
  return std::any_of(std::begin(kReserved), std::end(kReserved),
                     [&](const Prefix& r) { return overlaps(p, r); });
}

Prefix random_prefix(std::mt19937& rng, Family f, int len) {
  for (;;) {
    Prefix p;
    p.family = f;
    p.len = static_cast<std::uint8_t>(len);
    p.addr = random_address(f == Family::V4 ? 4 : 6, rng);
    rules::clear_host_bits(p);
    if (!reserved(p)) return p;
  }
}

// Prefix lengths lo..hi (uniform) with a relative weight.
struct LenBand {
  int lo, hi, weight;
};
int pick_len(std::mt19937& rng, std::span<const LenBand> bands) {
  int total = 0;
  for (const auto& b : bands) total += b.weight;
  int x = static_cast<int>(rng() % static_cast<unsigned>(total));
  for (const auto& b : bands) {
    if (x < b.weight) return b.lo + static_cast<int>(rng() % static_cast<unsigned>(b.hi - b.lo + 1));
    x -= b.weight;
  }
  return bands.back().hi;
}

// Block lists: mostly hosts and /24s (IPv4), /48, /64, /128 (IPv6).
constexpr LenBand kBlock4[] = {{32, 32, 35}, {24, 24, 25}, {16, 23, 20}, {25, 31, 12}, {8, 15, 3}};
constexpr LenBand kBlock6[] = {{128, 128, 15}, {64, 64, 25}, {48, 48, 25}, {56, 56, 8}, {32, 32, 10},
                               {29, 31, 2},    {33, 47, 6},  {49, 63, 5},  {65, 127, 4}};
// Our own servers and networks, as service rules name them.
constexpr LenBand kHost4[] = {{32, 32, 75}, {28, 29, 15}, {24, 24, 10}};
constexpr LenBand kHost6[] = {{128, 128, 70}, {64, 64, 20}, {124, 124, 10}};
constexpr LenBand kNet4[] = {{24, 24, 55}, {16, 16, 10}, {20, 22, 15}, {27, 28, 10}, {32, 32, 10}};
constexpr LenBand kNet6[] = {{64, 64, 50}, {48, 48, 30}, {56, 56, 20}};

class MixedGen {
 public:
  // Our own address space, which service rules protect: 32 IPv4 /20s and
  // 16 IPv6 /40s, so that servers and networks recur across rules as in a
  // real rule set.
  explicit MixedGen(unsigned seed) : rng_(seed) {
    for (int i = 0; i < 32; ++i) own4_.push_back(random_prefix(rng_, Family::V4, 20));
    for (int i = 0; i < 16; ++i) own6_.push_back(random_prefix(rng_, Family::V6, 40));
  }

  // One body rule; family 4 or 6 restricts it to that family, 0 allows any.
  std::string rule(int family) {
    struct Kind {
      int weight, family;  // family 0: the rule names no family
      std::function<std::string(int)> make;
    };
    const Kind kinds[] = {
        {400, 4, [&](int f) { return fmt::format("drop saddr {}", block(f)); }},
        {200, 6, [&](int f) { return fmt::format("drop saddr {}", block(f)); }},
        {20, 4, [&](int f) { return fmt::format("drop daddr {}", host(f)); }},
        {20, 4, [&](int f) { return fmt::format("drop saddr {} daddr {}", block(f), host(f)); }},
        {15, 6, [&](int f) { return fmt::format("drop daddr {}", host(f)); }},
        {10, 6, [&](int f) { return fmt::format("drop saddr {} daddr {}", block(f), host(f)); }},
        {150, 4, [&](int f) { return service(f); }},
        {80, 6, [&](int f) { return service(f); }},
        {20, 4, [&](int f) { return other_proto(f); }},
        {10, 6, [&](int f) { return other_proto(f); }},
        {2, 0, [&](int) { return port_only(); }},
        {2, 4, [&](int f) { return flags(f); }},
        {1, 6, [&](int f) { return flags(f); }},
    };
    int total = 0;
    for (const auto& k : kinds)
      if (!family || k.family == family) total += k.weight;
    int x = pick(total);
    for (const auto& k : kinds) {
      if (family && k.family != family) continue;
      if (x < k.weight) return k.make(k.family);
      x -= k.weight;
    }
    std::abort();
  }

  std::mt19937& rng() { return rng_; }

 private:
  int pick(int n) { return static_cast<int>(rng_() % static_cast<unsigned>(n)); }
  template <std::size_t N>
  int one_of(const int (&v)[N]) {
    return v[pick(static_cast<int>(N))];
  }
  std::string prefix(int f, std::span<const LenBand> bands) {
    return rules::prefix_to_string(
        random_prefix(rng_, f == 4 ? Family::V4 : Family::V6, pick_len(rng_, bands)));
  }
  // A prefix of a length from `bands` inside (or, shorter, around) one of our networks.
  std::string own(int f, std::span<const LenBand> bands) {
    const auto& pools = f == 4 ? own4_ : own6_;
    const Prefix& pool = pools[static_cast<std::size_t>(pick(static_cast<int>(pools.size())))];
    Prefix p = pool;
    p.len = static_cast<std::uint8_t>(pick_len(rng_, bands));
    p.addr = address_in(pool, rng_);
    rules::clear_host_bits(p);
    return rules::prefix_to_string(p);
  }
  std::string block(int f) { return f == 4 ? prefix(f, kBlock4) : prefix(f, kBlock6); }
  std::string host(int f) { return f == 4 ? own(f, kHost4) : own(f, kHost6); }
  std::string net(int f) { return f == 4 ? own(f, kNet4) : own(f, kNet6); }
  // A host elsewhere: a resolver, a tunnel's far end.
  std::string peer(int f) { return f == 4 ? prefix(f, kHost4) : prefix(f, kHost6); }
  std::string range(int lo_min, int lo_max, const int (&widths)[3]) {
    int lo = lo_min + pick(lo_max - lo_min + 1);
    return fmt::format("{}-{}", lo, std::min(65535, lo + one_of(widths)));
  }

  std::string service(int f) {
    static const int tcp_ports[] = {22, 25, 80, 443, 465, 587, 993, 995, 3306, 5432, 6379, 8080, 8443};
    static const int udp_ports[] = {53, 123, 161, 500, 1194, 4500, 51820};
    static const int mgmt_ports[] = {22, 3389, 5900, 9100};
    static const int amp_ports[] = {19, 53, 123, 161, 389, 1900, 11211};
    static const int widths[] = {9, 99, 999};
    switch (pick(10)) {
      case 0: return fmt::format("pass tcp daddr {} dport {}", host(f), one_of(tcp_ports));
      case 1: return fmt::format("pass udp daddr {} dport {}", net(f), one_of(udp_ports));
      case 2: return fmt::format("pass tcp saddr {} daddr {} dport {}", net(f), host(f), one_of(mgmt_ports));
      case 3: return fmt::format("pass tcp daddr {} dport {}", host(f), range(1024, 60000, widths));
      case 4: return fmt::format("pass udp daddr {} dport 33434-33534", net(f));
      case 5: return fmt::format("drop udp sport {} daddr {}", one_of(amp_ports), net(f));
      case 6: return fmt::format("pass udp saddr {} sport 53 dport 1024-65535", peer(f));
      case 7: return fmt::format("drop tcp saddr {} dport 1-1023", block(f));
      case 8: return fmt::format("pass tcp sport 1024-65535 daddr {} dport {}", host(f), pick(2) ? 443 : 80);
      default:
        return fmt::format("pass udp saddr {} daddr {} dport {}",
                           f == 4 ? prefix(f, kNet4) : prefix(f, kNet6), host(f),
                           range(10000, 20000, widths));
    }
  }

  std::string other_proto(int f) {
    const char* icmp = f == 4 ? "icmp" : "icmpv6";
    switch (pick(7)) {
      case 0: return fmt::format("pass {} daddr {}", icmp, net(f));
      case 1: return fmt::format("drop {} saddr {}", icmp, block(f));
      case 2: return fmt::format("pass proto 47 saddr {} daddr {}", peer(f), host(f));  // GRE tunnel
      case 3: return fmt::format("pass proto 50 saddr {}", peer(f));                    // ESP peer
      case 4: return fmt::format("pass proto 132 daddr {}", host(f));                   // SCTP
      case 5:
        return f == 4 ? fmt::format("drop proto 41 saddr {}", block(f))  // 6in4
                      : std::string("pass ip6 proto 89");                // OSPFv3
      default: return fmt::format("drop {} saddr {} daddr {}", icmp, block(f), host(f));
    }
  }

  std::string port_only() {
    static const int tcp_ports[] = {23, 445, 1433, 3389};
    static const int udp_ports[] = {19, 1900, 11211};
    switch (pick(3)) {
      case 0: return fmt::format("drop tcp dport {}", one_of(tcp_ports));
      case 1: return fmt::format("drop udp dport {}", one_of(udp_ports));
      default: return "drop tcp dport 135-139";
    }
  }

  std::string flags(int f) {
    switch (pick(4)) {
      case 0:
        return fmt::format("drop tcp tcp-flags syn,!ack dport {} saddr {}", pick(2) ? 23 : 2323, block(f));
      case 1: return fmt::format("pass tcp tcp-flags syn,!ack daddr {} dport 443", host(f));
      case 2: return fmt::format("drop tcp tcp-flags rst saddr {}", net(f));
      default: return fmt::format("drop tcp tcp-flags fin,!ack daddr {}", host(f));
    }
  }

  std::mt19937 rng_;
  std::vector<Prefix> own4_, own6_;
};

}  // namespace

std::vector<std::string> mixed_rule_set(std::size_t n, unsigned seed) {
  if (n < 100) std::abort();
  MixedGen g(seed);
  // Sanity rules on TCP flags come first in a real rule set.
  std::vector<std::string> out = {"drop tcp tcp-flags fin,syn", "drop tcp tcp-flags syn,rst",
                                  "drop tcp tcp-flags !fin,!syn,!rst,!psh,!ack,!urg",
                                  "drop tcp tcp-flags fin,psh,urg,!syn,!rst,!ack"};
  const std::size_t head = out.size();
  std::set<std::string> seen(out.begin(), out.end());  // no rule twice
  while (out.size() < n - 2)
    if (std::string text = g.rule(0); seen.insert(text).second) out.push_back(text);
  std::shuffle(out.begin() + static_cast<std::ptrdiff_t>(head), out.end(), g.rng());
  // The last two: an IPv6 rule, then an IPv4 rule, each drawn again until a
  // packet can match it first (a block-list /24 inside an earlier /12 never
  // would).
  auto parsed = parse_all(out);
  for (int family : {6, 4}) {
    for (int tries = 0;; ++tries) {
      if (tries == 1000) std::abort();
      std::string text = g.rule(family);
      if (seen.count(text)) continue;
      parsed.push_back(parse_all({text}).front());
      if (packet_for(parsed, parsed.size() - 1, g.rng(), 100)) {
        out.push_back(text);
        break;
      }
      parsed.pop_back();
    }
  }
  return out;
}

std::size_t distinct_shapes(const std::vector<rules::Rule>& rules) {
  auto addr = [](const std::optional<rules::AddrMatch>& m) {
    return !m ? -1 : m->prefix ? m->prefix->len : -2;
  };
  auto port = [](const std::optional<rules::PortRange>& p) { return !p ? 0 : p->lo == p->hi ? 1 : 2; };
  std::set<std::tuple<int, int, int, int, int, int, int>> shapes;
  for (const auto& r : rules)
    shapes.insert({static_cast<int>(r.family), r.proto ? *r.proto : -1, addr(r.saddr), addr(r.daddr),
                   port(r.sport), port(r.dport), r.flags_mask});
  return shapes.size();
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

std::vector<rules::Prefix> random_prefixes6(std::size_t n, unsigned seed) {
  // Allocations and assignments are made on nibble boundaries (RIR
  // allocations /29../32, ISP assignments /48../64, RIPE-690), so real
  // lists hold few distinct lengths.
  static constexpr LenBand kLens[] = {{48, 48, 35}, {64, 64, 20}, {128, 128, 15}, {32, 32, 10}, {56, 56, 8},
                                      {40, 40, 3},  {44, 44, 3},  {36, 36, 2},    {29, 29, 2},  {60, 60, 2}};
  std::mt19937 rng(seed);
  std::vector<rules::Prefix> out;
  out.reserve(n);
  auto key = [](const Prefix& p) { return std::make_pair(p.addr, p.len); };
  auto less = [&](const Prefix& a, const Prefix& b) { return key(a) < key(b); };
  while (out.size() < n) {
    while (out.size() < n) out.push_back(random_prefix(rng, Family::V6, pick_len(rng, kLens)));
    std::sort(out.begin(), out.end(), less);
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  std::shuffle(out.begin(), out.end(), rng);
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

int guarded_main(const char* name, int (*body)(const Args&), int argc, char** argv) {
  try {
    const Args args = parse_args(argc, argv, name);
    log::init();
    Result<void> ready = require_privileges();
    if (ready) ready = ensure_bpffs();
    if (!ready) {
      std::fprintf(stderr, "%s: %s\n", name, ready.error().message().c_str());
      return 1;
    }
    return body(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: unknown exception\n", name);
  }
  return 1;
}

Result<UniqueFd> bare_program(std::uint32_t action) {
  bpf_insn insns[] = {{BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, static_cast<__s32>(action)},
                      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
  int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, action == XDP_DROP ? "bench_drop" : "bench_pass", "GPL", insns, 2,
                         nullptr);
  if (fd < 0) return fail_errno(errno, "load bare program");
  return UniqueFd(fd);
}

Result<UniqueFd> bare_tx_program() {
  const bpf_insn insns[] = {
      {BPF_LDX | BPF_W | BPF_MEM, 2, 1, 0, 0},    // r2 = ctx->data
      {BPF_LDX | BPF_W | BPF_MEM, 3, 1, 4, 0},    // r3 = ctx->data_end
      {BPF_ALU64 | BPF_MOV | BPF_X, 4, 2, 0, 0},  // r4 = r2
      {BPF_ALU64 | BPF_ADD, 4, 0, 0, 12},         // r4 += 12 (BPF_K is 0)
      {BPF_JMP | BPF_JGT | BPF_X, 4, 3, 10, 0},   // if r4 > r3 goto drop
      {BPF_LDX | BPF_W | BPF_MEM, 5, 2, 0, 0},    // dst[0..4)
      {BPF_LDX | BPF_H | BPF_MEM, 6, 2, 4, 0},    // dst[4..6)
      {BPF_LDX | BPF_W | BPF_MEM, 7, 2, 6, 0},    // src[0..4)
      {BPF_LDX | BPF_H | BPF_MEM, 8, 2, 10, 0},   // src[4..6)
      {BPF_STX | BPF_W | BPF_MEM, 2, 7, 0, 0},    // swapped
      {BPF_STX | BPF_H | BPF_MEM, 2, 8, 4, 0},   {BPF_STX | BPF_W | BPF_MEM, 2, 5, 6, 0},
      {BPF_STX | BPF_H | BPF_MEM, 2, 6, 10, 0},  {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, XDP_TX},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},          {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, XDP_DROP},  // drop:
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  int fd =
      bpf_prog_load(BPF_PROG_TYPE_XDP, "bench_tx", "GPL", insns, sizeof insns / sizeof insns[0], nullptr);
  if (fd < 0) return fail_errno(errno, "load the bare XDP_TX program");
  return UniqueFd(fd);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace xdpguard::bench
