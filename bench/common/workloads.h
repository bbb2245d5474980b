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

// n rules of four shapes, cycling, like a real rule set: rule i matches only
// packets from 10.<i/256>.<i%256>.x (11.<i/256>.x.x for the /16 rules) to
// port 10000+i. Benchmark traffic comes from the lab's 198.18.0.0/15 and so
// matches none of them.
std::vector<std::string> rule_set(std::size_t n);

// n random IPv4 prefixes (/20../32) — block-list content, none of which
// covers a lab address (198.18.0.0/15) or the probe address 192.0.2.1.
std::vector<rules::Prefix> random_prefixes(std::size_t n, unsigned seed);

// Every benchmark's command line: NAME [--quick] [--json FILE]. Prints the
// usage and exits 2 on anything else.
struct Args {
  bool quick = false;
  std::string json_path;
};
Args parse_args(int argc, char** argv, const char* name);

// The limit: a program that only returns `action` (r0 = action; exit).
[[nodiscard]] Result<UniqueFd> bare_program(std::uint32_t action);

}  // namespace xdpguard::bench
