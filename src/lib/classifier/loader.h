// Loading a generated classifier: creates the rule set's table map and its
// record (XDPGUARD_RULESET_MAP: the rules' ids and canonical text, the
// default action), loads the program with bpf_prog_load (no compiler at run
// time) and binds the record to it. Installing is one write to the
// pipeline's program array, and read_installed() finds the record again
// through that slot: what is enforced and what is listed cannot differ.
//
// Failure: "load classifier: <strerror>: <the verifier's last line>"; the
// verifier log's tail is logged at info level (xdpguard -v).
#pragma once

#include <cstdint>
#include <string>

#include "bpf/abi.h"
#include "bpf/map.h"
#include "classifier/asm.h"
#include "classifier/emit.h"
#include "classifier/plan.h"
#include "classifier/tables.h"
#include "core/result.h"
#include "core/unique_fd.h"

namespace xdpguard::cls {

// A rule set compiled: plan, tables, code. Pure.
struct Compiled {
  Plan plan;
  Tables tables;
  Program program;
};
// `store` makes the tables' blobs (build_tables); none: the heap.
[[nodiscard]] Result<Compiled> compile(std::vector<RuleEntry> rules, std::uint32_t default_action,
                                       const CompileContext& ctx, const BlobStore& store = {});

// Blobs that are the kernel maps the classifier will read: mmapable
// one-element arrays, written in place as the tables are built (no copy of
// up to 4 MiB each in this process, none in the kernel). load_classifier
// seals them (mapped read only, frozen) and uses them as they are; blobs
// from anywhere else it copies into maps of its own.
BlobStore table_map_store();

// A loaded classifier. The program holds its own references to its maps.
struct LoadedClassifier {
  UniqueFd prog;
  std::uint32_t prog_id = 0;
  xdpguard_ruleset_hdr record{};  // what its record says (load statistics included)
};
// `generation` stamps the record (installs since attach), `next_id` the id
// allocator's counter (xdpguard_ruleset_hdr::next_id).
[[nodiscard]] Result<LoadedClassifier> load_classifier(const Compiled& c, const PipelineFds& fds,
                                                       std::uint32_t generation, std::uint32_t next_id = 1);

// The rule set in force: the record bound to the classifier in slot 0.
struct InstalledRule {
  std::uint32_t id = 0;
  std::string text;
};
struct InstalledRuleSet {
  bool classifier = false;  // false: slot 0 empty (packets pass, counted as errors)
  std::uint32_t prog_id = 0;
  xdpguard_ruleset_hdr record{};
  std::vector<InstalledRule> rules;  // in order
};
[[nodiscard]] Result<InstalledRuleSet> read_installed(int progs_fd);
// The program id of the classifier in slot 0, 0 when it is empty (its
// record not read).
[[nodiscard]] Result<std::uint32_t> installed_prog_id(int progs_fd);

}  // namespace xdpguard::cls
