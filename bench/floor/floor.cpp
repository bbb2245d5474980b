#include "floor/floor.h"

#include "floor10.skel.h"

XDPGUARD_SKELETON(floor10_bpf);

namespace xdpguard::bench {

Result<Floor> Floor::load(std::uint32_t limit_buckets) {
  Floor f;
  f.skel_ = XG_TRY(BpfSkeleton<floor10_bpf>::open("floor10"));
  if (int err = bpf_map__set_max_entries(f.skel_->maps.fl_limit_src, limit_buckets); err)
    return fail(-err, "size the floor's bucket map");
  XG_CHECK(f.skel_.load());
  using Counters = PerCpuMap<std::uint32_t, xdpguard_counter>;
  f.rules_ = XG_TRY(Counters::wrap(XG_TRY(MapFd::from_libbpf(f.skel_->maps.fl_rule_stats))));
  f.actions_ = XG_TRY(Counters::wrap(XG_TRY(MapFd::from_libbpf(f.skel_->maps.fl_action_stats))));
  f.kept_rules_ = XG_TRY(Counters::wrap(XG_TRY(MapFd::from_libbpf(f.skel_->maps.xg_rule_stats))));
  // The split floor's second stages: slot 0 the ten rules, slot 1 none.
  const int stages[] = {bpf_program__fd(f.skel_->progs.floor_split_ten),
                        bpf_program__fd(f.skel_->progs.floor_split_none)};
  for (std::uint32_t slot = 0; slot < 2; ++slot)
    if (bpf_map_update_elem(bpf_map__fd(f.skel_->maps.fl_progs), &slot, &stages[slot], BPF_ANY) != 0)
      return fail_errno(errno, fmt::format("install the split floor's stage {}", slot));
  return f;
}

int Floor::prog_fd() const { return bpf_program__fd(skel_->progs.floor10); }
int Floor::no_rules_prog_fd() const { return bpf_program__fd(skel_->progs.floor_no_rules); }
int Floor::split_prog_fd() const { return bpf_program__fd(skel_->progs.floor_split); }
int Floor::split_no_rules_prog_fd() const { return bpf_program__fd(skel_->progs.floor_split_no_rules); }
int Floor::kept_no_rules_prog_fd() const { return bpf_program__fd(skel_->progs.floor_kept_no_rules); }
int Floor::limit_prog_fd() const { return bpf_program__fd(skel_->progs.floor_limit); }
int Floor::nolimit_prog_fd() const { return bpf_program__fd(skel_->progs.floor_nolimit); }
int Floor::limit_map_fd() const { return bpf_map__fd(skel_->maps.fl_limit_src); }

Result<std::uint64_t> Floor::rule_packets(std::uint32_t slot) const {
  return XG_TRY(rules_.sum(slot)).packets;
}

Result<std::uint64_t> Floor::kept_rule_packets(std::uint32_t slot) const {
  return XG_TRY(kept_rules_.sum(slot)).packets;
}

Result<std::uint64_t> Floor::action_packets(std::uint32_t action) const {
  return XG_TRY(actions_.sum(action)).packets;
}

}  // namespace xdpguard::bench
