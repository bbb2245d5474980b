// Guard::upgrade (guard.h): this binary's programs in place of the attached
// ones, over the same pinned maps, without a moment in which a packet meets
// no program or a missing stage (docs/architecture.md, "Upgrade").
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/fault.h"
#include "guard/guard.h"

namespace xdpguard {
namespace {

struct Ident {
  std::uint32_t id = 0;
  std::string tag;
};

Result<Ident> ident_of_fd(int fd) {
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return fail_errno(errno, "program info");
  Ident out{info.id, {}};
  for (unsigned char c : info.tag) out.tag += fmt::format("{:02x}", c);
  return out;
}

Result<Ident> ident_of_id(std::uint32_t id) {
  if (id == 0) return Ident{};
  UniqueFd fd(bpf_prog_get_fd_by_id(id));
  if (!fd) return fail_errno(errno, fmt::format("open program id {}", id));
  return ident_of_fd(fd.get());
}

// The program id in slot `slot` of the program array; 0 when empty.
Result<std::uint32_t> slot_id(int progs_fd, std::uint32_t slot) {
  std::uint32_t id = 0;
  if (bpf_map_lookup_elem(progs_fd, &slot, &id) != 0) {
    if (errno == ENOENT) return 0u;
    return fail_errno(errno, fmt::format("read program slot {}", slot));
  }
  return id;
}

}  // namespace

Result<UpgradeReport> Guard::upgrade(bool check, bool force) {
  if (pin_dir_.empty()) return fail(EINVAL, "an in-process program has no attachment to upgrade");
  auto held = XG_TRY(lock());  // the pins are in force, their program is on the interface
  auto attached = XG_TRY(find_program(ifindex_, kGuardProgName));
  if (!attached) return fail(ENOENT, "xdpguard's program is not on {}", ifname_);
  if (attached->dispatcher)
    return fail(ENOTSUP,
                "xdpguard on {} runs inside libxdp's dispatcher, which cannot replace one of its programs in "
                "place; detach and attach with this xdpguard (a moment without filtering)",
                ifname_);

  // 1. This binary's programs over the pins, verified; nothing in use yet.
  GuardConfig cfg;
  std::tie(cfg.limit_buckets, cfg.block_entries) = XG_TRY(ddos_map_sizes());
  cfg.fake_clock = meta_.flags & XDPGUARD_META_FAKE_CLOCK;
  auto prog = XG_TRY(GuardProgram::over_pins(cfg, pin_dir_));
  XG_CHECK_CTX(prog.load_programs(), "load this xdpguard's programs");
  UniqueFd synproxy = XG_TRY(synproxy_stage_again());
  auto in = XG_TRY(installed());
  std::optional<cls::LoadedClassifier> classifier;
  if (in.classifier) {
    classifier =
        XG_TRY_CTX(load_rule_set(take_entries(in.rules), in.record.default_action, {}, &in.record, nullptr),
                   "compile the rule set again");
  }

  // 2. What differs, stage by stage.
  struct Swap {
    std::uint32_t slot;  // XDPGUARD_PROG_*, or the parser (the interface)
    int fd;
  };
  constexpr std::uint32_t kParser = ~0u;
  std::vector<Swap> swaps;
  UpgradeReport report;
  auto stage = [&](const char* name, std::uint32_t old_id, int fd, std::uint32_t slot) -> Result<void> {
    UpgradeStage st;
    st.name = name;
    const Ident old = XG_TRY(ident_of_id(old_id)), now = XG_TRY(ident_of_fd(fd));
    st.old_id = old.id;
    st.old_tag = old.tag;
    st.new_id = now.id;
    st.new_tag = now.tag;
    report.differ |= st.differs();
    report.stages.push_back(std::move(st));
    swaps.push_back({slot, fd});
    return {};
  };
  const int progs = progs_.fd();
  // Installed in this order: the stages the classifier calls, the
  // classifier, then the parser that calls it.
  XG_CHECK(stage("limit", XG_TRY(slot_id(progs, XDPGUARD_PROG_LIMIT)), prog.program_fd("xdpguard_limit"),
                 XDPGUARD_PROG_LIMIT));
  if (synproxy)
    XG_CHECK(stage("synproxy", XG_TRY(slot_id(progs, XDPGUARD_PROG_SYNPROXY)), synproxy.get(),
                   XDPGUARD_PROG_SYNPROXY));
  XG_CHECK(stage("enforce", XG_TRY(slot_id(progs, XDPGUARD_PROG_ENFORCE)),
                 prog.program_fd("xdpguard_enforce"), XDPGUARD_PROG_ENFORCE));
  if (classifier)
    XG_CHECK(stage("classifier", XG_TRY(slot_id(progs, XDPGUARD_PROG_CLASSIFIER)), classifier->prog.get(),
                   XDPGUARD_PROG_CLASSIFIER));
  XG_CHECK(stage("parser", attached->prog_id, prog.prog_fd(), kParser));
  if (check || (!report.differ && !force)) return report;
  fault_point("upgrade-loaded");

  // 3. Into force. Until the parser's id is written, the record says
  // "pending": a crash in between is completed by the next change.
  meta_.flags |= XDPGUARD_META_SETUP_PENDING;
  meta_.prog_id = 0;
  XG_CHECK_CTX(meta_map_.put(0, meta_), "write meta");
  const auto t0 = std::chrono::steady_clock::now();
  std::uint32_t parser_id = 0;
  auto put_in_force = [&]() -> Result<void> {
    for (const auto& s : swaps) {
      if (s.slot == kParser) {
        parser_id = XG_TRY(replace_program(ifindex_, kGuardProgName, s.fd));
        fault_point("upgrade-replaced");
        continue;
      }
      int fd = s.fd;
      if (bpf_map_update_elem(progs, &s.slot, &fd, BPF_ANY) != 0)
        return fail_errno(errno, fmt::format("install stage {}", s.slot));
      fault_point("upgrade-stage");
    }
    return {};
  };
  if (auto r = put_in_force(); !r) {
    // The old parser is still on the interface (the stages written so far
    // are of the same ABI): the record says so again.
    if (parser_id == 0) {
      meta_.prog_id = attached->prog_id;
      meta_.flags &= ~XDPGUARD_META_SETUP_PENDING;
      if (auto w = meta_map_.put(0, meta_); !w) spdlog::warn("{}", w.error().message());
    }
    return tl::unexpected(r.error());
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  meta_.prog_id = parser_id;
  meta_.flags &= ~XDPGUARD_META_SETUP_PENDING;
  XG_CHECK_CTX(meta_map_.put(0, meta_), "write meta");
  report.replaced = true;
  spdlog::info("{}: upgraded in {:.3f} ms (parser program id {})", ifname_, report.seconds * 1e3, parser_id);
  return report;
}

}  // namespace xdpguard
