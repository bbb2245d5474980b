// libFuzzer target: the rule compiler (planner, tables, code generator) and
// the kernel's run of what it generates, against the reference semantics.
//
// Input: text, then optionally a NUL byte and packet bytes. The first
// kMaxRules lines of the text that parse as rules (rules::parse_rule) are the
// rule set; lines that do not parse are skipped, and so are rules no rule set
// could judge here: `redirect xsk` (its verdict is a socket's), `redirect dev` other than lo, sets other
// than @a and @b (two sets of both families, loaded once), rate limits. The packet bytes
// (or, without them, a hash of the input) drive kFrames frames, most aimed at
// one of the rules (inside its prefixes or sets, at its port range's edges,
// with its TCP flags), with VLAN tags and non-first fragments at times.
//
// Each rule set is installed with Guard::replace_rules on an in-process guard
// program (made once) and every frame runs through BPF_PROG_TEST_RUN; the
// verdict and the rule id the classifier wrote into this CPU's per-CPU entry
// (the process is pinned to one CPU) must be rules::first_match's on the
// fields the userspace copy of the parser (xdpguard/parse.h) reads from the
// same frame. A refused rule set aborts too, with one exception: the
// verifier's complexity limits ("BPF program is too large", "sequence of ...
// jumps is too complex"), a known open defect that
// tests/bpf/classifier_limits_test.cpp pins down (rules with sets of either
// family, long chains); those inputs are counted and skipped, unless
// XDPGUARD_FUZZ_STRICT=1 is set.
//
// Needs root (BPF): without it every input is skipped, with one message.
#include <netinet/in.h>  // glibc first: linux/in.h (from parse.h) then defers to it
#include <sched.h>
#include <unistd.h>

#include <xdpguard/parse.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/map.h"
#include "bpf/test_run.h"
#include "guard/guard.h"
#include "rules/parser.h"
#include "rules/printer.h"
#include "oracle/reference.h"

namespace {

using namespace xdpguard;
using namespace xdpguard::rules;

constexpr std::size_t kMaxRules = 32;  // enough for tables: a partition of more than 12 rules
constexpr int kFrames = 12;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "rule_compile_fuzz: %s\n", what);
    std::abort();
  }
}

// ---- the two sets ------------------------------------------------------------

struct Set {
  const char* name;
  std::vector<Prefix> prefixes;
};

const std::vector<Set>& sets() {
  static const std::vector<Set> s = [] {
    std::vector<Set> out;
    const char* a[] = {"198.18.0.0/24", "198.18.1.7", "10.0.0.0/8", "fd00::/64", "fd00:1::/48", "fd00::2:5"};
    const char* b[] = {"198.18.0.128/25", "203.0.113.0/24", "0.0.0.0/2",
                       "fd00::/16",       "fd00::8/125",    "2001:db8::/32"};
    out.push_back({"a", {}});
    for (const char* p : a) out.back().prefixes.push_back(*parse_prefix(p));
    out.push_back({"b", {}});
    for (const char* p : b) out.back().prefixes.push_back(*parse_prefix(p));
    return out;
  }();
  return s;
}

bool inside(const Prefix& p, std::uint8_t family, const std::array<std::uint8_t, 16>& a) {
  if ((p.family == Family::V4 ? 4 : 6) != family) return false;
  for (unsigned i = 0; i * 8 < p.len; ++i) {
    unsigned bits = std::min(8u, p.len - i * 8);
    auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (p.addr[i] & mask)) return false;
  }
  return true;
}

bool in_set(const std::string& name, std::uint8_t family, const std::array<std::uint8_t, 16>& a) {
  for (const auto& s : sets())
    if (name == s.name)
      for (const auto& p : s.prefixes)
        if (inside(p, family, a)) return true;
  return false;
}

// ---- the guard, made once ----------------------------------------------------

struct Kernel {
  GuardProgram prog;
  Guard guard;
  PerCpuMap<std::uint32_t, xdpguard_percpu> percpu;
  int cpu;
  std::uint32_t default_action = XDP_PASS;
};

Kernel* kernel() {
  static Kernel* k = []() -> Kernel* {
    if (::geteuid() != 0) {
      std::fprintf(stderr,
                   "rule_compile_fuzz: not root: BPF programs cannot be loaded; every input is skipped\n");
      return nullptr;
    }
    auto prog = GuardProgram::open({});
    check(prog.has_value(), "cannot open the guard object");
    if (auto loaded = prog->load(); !loaded) {
      std::fprintf(stderr, "rule_compile_fuzz: cannot load the guard program (%s); every input is skipped\n",
                   loaded.error().message().c_str());
      return nullptr;
    }
    auto guard = Guard::from_program(*prog);
    check(guard.has_value(), "Guard::from_program failed");
    for (const auto& s : sets()) check(guard->load_set(s.name, s.prefixes).has_value(), "load_set failed");
    auto fd = prog->map("xg_percpu");
    check(fd.has_value(), "no xg_percpu");
    auto percpu = PerCpuMap<std::uint32_t, xdpguard_percpu>::wrap(std::move(*fd));
    check(percpu.has_value(), "xg_percpu is not what it should be");
    // One CPU: each test run's per-CPU entry is this CPU's.
    int cpu = ::sched_getcpu();
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    check(cpu >= 0 && ::sched_setaffinity(0, sizeof one, &one) == 0, "cannot pin to one CPU");
    return new Kernel{std::move(*prog), std::move(*guard), std::move(*percpu), cpu};
  }();
  return k;
}

// ---- frames ------------------------------------------------------------------

// Deterministic bytes: the packet part of the input, then a generator seeded
// from the whole input.
class Stream {
 public:
  Stream(std::string_view tail, std::uint64_t seed) : tail_(tail), state_(seed) {}
  std::uint8_t byte() {
    if (pos_ < tail_.size()) return static_cast<std::uint8_t>(tail_[pos_++]);
    state_ += 0x9e3779b97f4a7c15ull;  // splitmix64
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return static_cast<std::uint8_t>(z ^ (z >> 31));
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(byte() << 8 | byte()); }
  bool chance(unsigned in256) { return byte() < in256; }

 private:
  std::string_view tail_;
  std::size_t pos_ = 0;
  std::uint64_t state_;
};

struct Want {
  std::uint8_t family = 4, proto = kProtoUdp, flags = 0;
  std::uint16_t sport = 0, dport = 0;
  bool frag = false;
  std::array<std::uint8_t, 16> saddr{}, daddr{};
};

void put_inside(const Prefix& p, std::array<std::uint8_t, 16>& a) {
  for (unsigned i = 0; i < 16; ++i) {
    unsigned bits = p.len > i * 8 ? std::min(8u, p.len - i * 8) : 0;
    auto mask = static_cast<std::uint8_t>(bits ? 0xff << (8 - bits) : 0);
    a[i] = static_cast<std::uint8_t>((p.addr[i] & mask) | (a[i] & ~mask));
  }
}

void aim_addr(const std::optional<AddrMatch>& m, std::uint8_t family, std::array<std::uint8_t, 16>& a,
              Stream& b) {
  if (!m || b.chance(24)) return;
  if (m->prefix) {
    put_inside(*m->prefix, a);
    return;
  }
  std::vector<const Prefix*> members;
  for (const auto& s : sets())
    if (m->set == s.name)
      for (const auto& p : s.prefixes)
        if ((p.family == Family::V4 ? 4 : 6) == family) members.push_back(&p);
  if (!members.empty()) put_inside(*members[b.byte() % members.size()], a);
}

std::uint16_t aim_port(const std::optional<PortRange>& r, Stream& b) {
  if (!r || b.chance(24)) return b.u16();
  switch (b.byte() % 4) {
    case 0: return r->lo;
    case 1: return r->hi;
    case 2: return static_cast<std::uint16_t>(r->lo - 1);  // just outside (wraps at 0)
    default: return static_cast<std::uint16_t>(r->lo + b.u16() % (r->hi - r->lo + 1u));
  }
}

Want aim(const Rule* r, Stream& b) {
  Want w;
  w.family = r && r->family == Family::V6 ? 6 : r && r->family == Family::V4 ? 4 : (b.byte() & 1 ? 6 : 4);
  static const std::uint8_t protos[] = {kProtoTcp, kProtoUdp, kProtoIcmp, 47, 132, 50};
  w.proto = r && r->proto && !b.chance(16) ? *r->proto : protos[b.byte() % 6];
  if (w.proto == kProtoIcmp || w.proto == kProtoIcmpv6) w.proto = w.family == 4 ? kProtoIcmp : kProtoIcmpv6;
  // An IPv6 extension header number is never the L4 protocol (the parser
  // walks past it): "no next header" instead.
  if (w.family == 6 && (w.proto == 0 || w.proto == 43 || w.proto == 44 || w.proto == 51 || w.proto == 60))
    w.proto = 59;
  // Addresses near the sets' and the lab's, sometimes anywhere.
  for (auto* a : {&w.saddr, &w.daddr}) {
    if (w.family == 4)
      *a = {198, 18, static_cast<std::uint8_t>(b.byte() & 3), b.byte()};
    else
      *a = {0xfd, 0, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(b.byte() & 3), 0, 0, 0, 0, 0, 0, 0, b.byte()};
    if (b.chance(32))
      for (int i = 0; i < (w.family == 4 ? 4 : 16); ++i) (*a)[static_cast<std::size_t>(i)] = b.byte();
  }
  if (r) {
    aim_addr(r->saddr, w.family, w.saddr, b);
    aim_addr(r->daddr, w.family, w.daddr, b);
    if (w.family == 4)
      std::fill(w.saddr.begin() + 4, w.saddr.end(), 0), std::fill(w.daddr.begin() + 4, w.daddr.end(), 0);
  }
  w.sport = aim_port(r ? r->sport : std::nullopt, b);
  w.dport = aim_port(r ? r->dport : std::nullopt, b);
  w.flags = b.byte();
  if (r && !b.chance(24)) w.flags = static_cast<std::uint8_t>((w.flags & ~r->flags_mask) | r->flags_value);
  w.frag = b.chance(24);
  return w;
}

void put16(std::vector<std::uint8_t>& f, std::size_t at, std::uint16_t v) {
  f[at] = static_cast<std::uint8_t>(v >> 8), f[at + 1] = static_cast<std::uint8_t>(v);
}

std::vector<std::uint8_t> frame(const Want& w, Stream& b) {
  std::vector<std::uint8_t> f = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
  for (int tags = b.chance(48) ? 1 + (b.byte() & 1) : 0; tags > 0; --tags)
    f.insert(f.end(), {0x81, 0x00, static_cast<std::uint8_t>(b.byte() & 0x0f), b.byte()});
  f.insert(f.end(), {static_cast<std::uint8_t>(w.family == 4 ? 0x08 : 0x86),
                     static_cast<std::uint8_t>(w.family == 4 ? 0x00 : 0xdd)});
  std::vector<std::uint8_t> l4;
  if (!w.frag) {
    if (w.proto == kProtoTcp) {
      l4.assign(20, 0);
      put16(l4, 0, w.sport), put16(l4, 2, w.dport);
      l4[12] = 0x50, l4[13] = w.flags;
    } else if (w.proto == kProtoUdp) {
      l4.assign(8, 0);
      put16(l4, 0, w.sport), put16(l4, 2, w.dport), put16(l4, 4, 8);
    } else {
      l4.assign(8, 0x11);
    }
  } else {
    l4.assign(16, 0x22);  // the middle of a datagram: no L4 header
  }
  const std::size_t l3 = f.size();
  if (w.family == 4) {
    f.resize(l3 + 20, 0);
    f[l3] = 0x45;
    put16(f, l3 + 2, static_cast<std::uint16_t>(20 + l4.size()));
    // MF, offset >= 2 (8-byte units): a fragment at offset 1 is unsafe
    // (RFC 1858), dropped before the rules (docs/parsing.md)
    if (w.frag) put16(f, l3 + 6, static_cast<std::uint16_t>(0x2000 | (2 + b.byte())));
    f[l3 + 8] = 64, f[l3 + 9] = w.proto;
    std::memcpy(&f[l3 + 12], w.saddr.data(), 4);
    std::memcpy(&f[l3 + 16], w.daddr.data(), 4);
  } else {
    f.resize(l3 + 40, 0);
    f[l3] = 0x60;
    const std::size_t ext = w.frag ? 8 : 0;
    put16(f, l3 + 4, static_cast<std::uint16_t>(ext + l4.size()));
    f[l3 + 6] = w.frag ? 44 : w.proto, f[l3 + 7] = 64;
    std::memcpy(&f[l3 + 8], w.saddr.data(), 16);
    std::memcpy(&f[l3 + 24], w.daddr.data(), 16);
    if (w.frag)  // offset 2 + 4k (8-byte units: offset 1 is unsafe, as for IPv4), the last fragment
      f.insert(f.end(), {w.proto, 0, 0, static_cast<std::uint8_t>(0x10 | (b.byte() & 0xe0)), 1, 2, 3, 4});
  }
  f.insert(f.end(), l4.begin(), l4.end());
  return f;
}

// What the rules see of a frame: the userspace copy of the guard's parser.
std::optional<PacketFields> fields_of(std::vector<std::uint8_t> f) {
  xdpguard_pkt pkt{};
  int outcome = xg_parse_packet(f.data(), f.data() + f.size(), &pkt);
  if (outcome != XDPGUARD_PARSE_IPV4 && outcome != XDPGUARD_PARSE_IPV6) return std::nullopt;
  PacketFields p;
  p.family = pkt.family;
  p.proto = pkt.l4proto;
  p.tcp_flags = pkt.tcp_flags;
  p.frag = pkt.frag;
  p.sport = pkt.sport;
  p.dport = pkt.dport;
  std::memcpy(p.saddr.data(), pkt.saddr, p.family == 4 ? 4 : 16);
  std::memcpy(p.daddr.data(), pkt.daddr, p.family == 4 ? 4 : 16);
  return p;
}

std::uint32_t xdp_of(Action a) {
  return a == Action::Drop ? XDP_DROP : a == Action::Pass ? XDP_PASS : XDP_REDIRECT;
}

bool complexity_refusal(const std::string& m) {
  return m.find("BPF program is too large") != std::string::npos ||
         m.find("jumps is too complex") != std::string::npos ||
         (m.find("load classifier") != std::string::npos &&
          m.find("Argument list too long") != std::string::npos);
}

std::string hex(const std::vector<std::uint8_t>& f) {
  std::string s;
  for (auto x : f) s += fmt::format("{:02x}", x);
  return s;
}

}  // namespace

// Every run builds 65,536-entry port arrays and tries: tens of thousands of
// coverage features, and libFuzzer's entropic scheduler then spends 70% of
// the time on their bookkeeping (12 runs/s instead of 230 here). Off unless
// asked for.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  for (int i = 1; i < *argc; ++i)
    if (std::strncmp((*argv)[i], "-entropic=", 10) == 0) return 0;
  static std::vector<char*> args;
  static char entropic[] = "-entropic=0";
  args.assign(*argv, *argv + *argc);
  args.insert(args.begin() + 1, entropic);
  args.push_back(nullptr);
  *argc = static_cast<int>(args.size()) - 1;
  *argv = args.data();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Kernel* k = kernel();
  if (!k) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = in.find('\0');
  std::string_view text = in.substr(0, nul), tail = nul == std::string_view::npos ? "" : in.substr(nul + 1);
  std::uint64_t seed = 1469598103934665603ull;  // FNV-1a of the input
  for (char c : in) seed = (seed ^ static_cast<std::uint8_t>(c)) * 1099511628211ull;
  Stream b(tail, seed);

  std::vector<Rule> rs;
  std::vector<std::string> texts;
  std::size_t start = 0;
  while (start <= text.size() && rs.size() < kMaxRules) {
    std::size_t nl = text.find('\n', start);
    std::string_view line =
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    start = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    auto r = parse_rule(line);
    if (!r) continue;
    if (r->action == Action::RedirectXsk) continue;
    // Limits depend on time and on the packets before: the limiter's own
    // property test (tests/bpf/limiter_property_test.cpp) drives them with
    // a test clock; here a limited rule would make the verdict the clock's.
    if (r->limit) continue;
    if (r->action == Action::RedirectDev && r->redirect_dev != "lo") continue;
    bool known_sets = true;
    for (const auto* m : {&r->saddr, &r->daddr})
      if (*m && !(*m)->prefix && (*m)->set != "a" && (*m)->set != "b") known_sets = false;
    if (!known_sets) continue;
    texts.push_back(to_string(*r));
    rs.push_back(*r);
  }

  const std::uint32_t dflt = b.chance(64) ? XDP_DROP : XDP_PASS;
  if (dflt != k->default_action) {
    auto d = k->guard.set_default_action(dflt);
    if (!d) std::fprintf(stderr, "set_default_action: %s\n", d.error().message().c_str());
    check(d.has_value(), "set_default_action refused");
    k->default_action = dflt;
  }
  auto ids = k->guard.replace_rules(texts);
  if (!ids) {
    static unsigned long refused = 0;
    const std::string& m = ids.error().message();
    const char* strict = std::getenv("XDPGUARD_FUZZ_STRICT");
    if (complexity_refusal(m) && !(strict && std::strcmp(strict, "1") == 0)) {
      ++refused;
      if (refused == 1 || refused % 100 == 0)
        std::fprintf(stderr,
                     "rule_compile_fuzz: %lu rule sets refused by the verifier's limits (known; see "
                     "classifier_limits_test), the last: %s\n",
                     refused, m.c_str());
      return 0;
    }
    std::fprintf(stderr, "rule set refused: %s\nrules:\n", m.c_str());
    for (const auto& t : texts) std::fprintf(stderr, "  %s\n", t.c_str());
    check(false, "a rule set of valid rules was refused");
  }

  for (int i = 0; i < kFrames; ++i) {
    const Rule* target = !rs.empty() && !b.chance(40) ? &rs[b.byte() % rs.size()] : nullptr;
    Want w = aim(target, b);
    auto f = frame(w, b);
    auto p = fields_of(f);
    check(p.has_value(), "a built frame did not parse as IP");
    auto want = first_match(rs, *p, in_set);
    const std::uint32_t verdict = want ? xdp_of(rs[*want].action) : dflt;
    const std::uint32_t slot = want ? (*ids)[*want] : XDPGUARD_RULE_DEFAULT;
    auto r = test_run(k->prog.prog_fd(), f);
    check(r.has_value(), "test run failed");
    auto cpus = k->percpu.get(0);
    check(cpus.has_value(), "per-CPU lookup failed");
    const std::uint32_t got_slot = (*cpus)[static_cast<std::size_t>(k->cpu)].slot;
    if (r->verdict != verdict || got_slot != slot) {
      std::fprintf(
          stderr,
          "frame %d %s\n  reference: verdict %u, rule id %u (%s)\n  kernel: verdict %u, rule id %u\nrules:\n",
          i, hex(f).c_str(), verdict, slot, want ? texts[*want].c_str() : "default", r->verdict, got_slot);
      for (std::size_t j = 0; j < texts.size(); ++j)
        std::fprintf(stderr, "  id %u: %s\n", (*ids)[j], texts[j].c_str());
      check(false, "the kernel disagrees with the reference");
    }
  }
  return 0;
}
