// What the benchmarks measure, shared so that the ns/packet figures
// (classifier_bench) and the line-rate figures (throughput_bench) describe
// the same rule sets, sets and baseline programs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"
#include "rules/rule.h"

namespace xdpguard::bench {

// The bench workload: n rules of four shapes, cycling, like a real rule set:
// rule i matches only packets from 10.<i/256>.<i%256>.x (11.<i/256>.x.x for
// the /16 rules) to port 10000+i. Benchmark traffic comes from the lab's
// 198.18.0.0/15 and so matches none of them.
std::vector<std::string> rule_set(std::size_t n);

// The lab's traffic (UDP from 198.18.0.0/15 to port 9) matches this rule.
inline constexpr const char* kLabRule = "drop udp dport 9 saddr 198.18.0.0/15";

// rule_set(n - 1), then kLabRule: n rules whose last one the lab's traffic
// matches (and no other).
std::vector<std::string> rule_set_then_lab_rule(std::size_t n);

// The "10 rules" of both benchmarks: rule_set_then_lab_rule(10). The floor
// program (bench/floor/floor10.bpf.c) hand-codes these same ten.
std::vector<std::string> ten_rules();

// A second, mixed workload of n rules (n >= 100), deterministic for a seed,
// shaped like a real firewall's rule set: a few TCP-flag sanity rules first,
// then, in random order, IPv4 and IPv6 block-list rules (`drop saddr P`,
// prefix lengths spread over /8../32 and /16../128, most of them /32, /24,
// /128, /64, /48), destination blocks, service rules (exact ports and
// ranges, source ports, TCP and UDP, with source and/or destination
// prefixes; the servers and networks they protect recur, drawn from 32
// IPv4 /20s and 16 IPv6 /40s of "our" space), other protocols (ICMP, ICMPv6, GRE, ESP, SCTP, 6in4) and a few
// rules on TCP flags. Its last rule is an IPv4 rule and the one before it an
// IPv6 rule, each with a packet that matches it first (reference semantics).
// No rule's prefix overlaps the lab (198.18.0.0/15, fd00::/8) or the
// documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
// 2001:db8::/32), where packets that match no rule can come from.
std::vector<std::string> mixed_rule_set(std::size_t n, unsigned seed);

// A rule's shape: family, protocol, source and destination prefix lengths,
// kind of each port match (none, exact, range) and TCP flags mask. Rules of
// one shape differ only in values; a classifier's cost follows the shapes.
std::size_t distinct_shapes(const std::vector<rules::Rule>& rules);

// n random IPv4 prefixes (/20../32) — block-list content, none of which
// covers a lab address (198.18.0.0/15) or the probe address 192.0.2.1.
std::vector<rules::Prefix> random_prefixes(std::size_t n, unsigned seed);

// n distinct IPv6 block-list prefixes inside 2000::/3, mostly /32../64
// (/48 the most common), 15% /128 hosts, ten lengths in all, on nibble
// boundaries but /29, as real allocations are; none overlaps 2001:db8::/32
// (so an address there is in none of them) or the lab's fd00::/8.
std::vector<rules::Prefix> random_prefixes6(std::size_t n, unsigned seed);

// Every benchmark's command line: NAME [--quick] [--json FILE]. Prints the
// usage and exits 2 on anything else.
struct Args {
  bool quick = false;
  std::string json_path;
};
Args parse_args(int argc, char** argv, const char* name);

// Runs a benchmark's body after what every one needs first (logging, root,
// bpffs): its exit status, or 1 with one line naming the benchmark when one
// of those fails or an exception escapes the body.
int guarded_main(const char* name, int (*body)(const Args&), int argc, char** argv);

// The limit: a program that only returns `action` (r0 = action; exit).
[[nodiscard]] Result<UniqueFd> bare_program(std::uint32_t action);
// The limit of answering in XDP: swaps the Ethernet addresses, returns
// XDP_TX (XDP_DROP for a frame shorter than them).
[[nodiscard]] Result<UniqueFd> bare_tx_program();

// The median of a sample (0 for none).
double median(std::vector<double> v);

// "met" / "MISSED" for a figure against its goal.
inline const char* verdict_word(bool met) { return met ? "met" : "MISSED"; }

}  // namespace xdpguard::bench
