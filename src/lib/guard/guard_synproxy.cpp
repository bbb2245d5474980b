// Guard's SYN proxy (docs/ddos.md, "SYN proxy"): enable, disable, status.
// The stage itself is bpf/synproxy.bpf.c; the host side it needs (the
// nftables SYNPROXY table, the namespace's sysctls) is in synproxy_host.h.
//
// xg_synproxy is the record of what was done on the interface: enable
// writes CHANGING with the settings before it changes anything, and ON at
// the end; disable (or a second enable) finds a CHANGING record of a
// command that died and undoes it. Every path that removes an interface's
// pins undoes it first (undo_pinned_synproxy), and keeps the pins if that
// fails, so that a later command can finish it. Each undo step is the same
// run once or twice (a table that is gone, an interface that is not
// registered), so an undo that died half-way is simply run again.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "core/fault.h"
#include "guard/guard.h"
#include "guard/synproxy_host.h"
#include "guard/synproxy_setup.h"
#include "synproxy.skel.h"

XDPGUARD_SKELETON(synproxy_bpf);

namespace xdpguard {
namespace {

constexpr __u32 kZero = 0;

SynproxyNamespace namespace_of(const PinPaths& paths) { return {paths.netns_id, paths.ns_dir()}; }

// Fills the stage's address tries.
Result<void> fill_local(int fd4, int fd6, const std::vector<rules::Prefix>& local) {
  const __u8 one = 1;
  for (const auto& p : local) {
    int err = 0;
    if (p.family == rules::Family::V4) {
      xdpguard_sp_lpm4 k{p.len, 0};
      std::memcpy(&k.addr, p.addr.data(), 4);
      err = bpf_map_update_elem(fd4, &k, &one, BPF_ANY);
    } else {
      xdpguard_sp_lpm6 k{p.len, {}};
      std::memcpy(k.addr, p.addr.data(), 16);
      err = bpf_map_update_elem(fd6, &k, &one, BPF_ANY);
    }
    if (err != 0)
      return fail_errno(errno, fmt::format("enter {} local addresses for the SYN proxy (at most {} a family)",
                                           local.size(), XDPGUARD_SYNPROXY_MAX_LOCAL));
  }
  return {};
}

// The addresses pinned with the stage (what `status` shows).
std::vector<rules::Prefix> pinned_local(const PinPaths& paths) {
  std::vector<rules::Prefix> out;
  UniqueFd fd4(bpf_obj_get(paths.map(XDPGUARD_PIN_SP_LOCAL4).c_str()));
  UniqueFd fd6(bpf_obj_get(paths.map(XDPGUARD_PIN_SP_LOCAL6).c_str()));
  if (fd4) {
    xdpguard_sp_lpm4 k{}, next{};
    const xdpguard_sp_lpm4* prev = nullptr;
    while (bpf_map_get_next_key(fd4.get(), prev, &next) == 0 &&
           out.size() < 2 * XDPGUARD_SYNPROXY_MAX_LOCAL) {
      rules::Prefix p;
      p.family = rules::Family::V4;
      p.len = static_cast<std::uint8_t>(next.prefixlen);
      std::memcpy(p.addr.data(), &next.addr, 4);
      out.push_back(p);
      k = next;
      prev = &k;
    }
  }
  if (fd6) {
    xdpguard_sp_lpm6 k{}, next{};
    const xdpguard_sp_lpm6* prev = nullptr;
    while (bpf_map_get_next_key(fd6.get(), prev, &next) == 0 &&
           out.size() < 2 * XDPGUARD_SYNPROXY_MAX_LOCAL) {
      rules::Prefix p;
      p.family = rules::Family::V6;
      p.len = static_cast<std::uint8_t>(next.prefixlen);
      std::memcpy(p.addr.data(), next.addr, 16);
      out.push_back(p);
      k = next;
      prev = &k;
    }
  }
  return out;
}

void unpin_local(const PinPaths& paths) {
  for (const char* name : {XDPGUARD_PIN_SP_LOCAL4, XDPGUARD_PIN_SP_LOCAL6})
    if (::unlink(paths.map(name).c_str()) != 0 && errno != ENOENT)
      spdlog::warn("unlink {}: {}", paths.map(name), std::strerror(errno));
}

// Undoes what the record `sp` (the entry of map `sp_fd`) says was done,
// last step first: traffic stops going to the stage at once, then the
// stage, the table and the namespace's registration go. `paths` is empty
// (no pins, no host) for an in-process program.
Result<void> teardown_record(int sp_fd, int progs_fd, const PinPaths& paths, xdpguard_synproxy sp) {
  sp.active = 0;
  sp.state = XDPGUARD_SYNPROXY_CHANGING;
  if (bpf_map_update_elem(sp_fd, &kZero, &sp, BPF_ANY) != 0) return fail_errno(errno, "write synproxy state");
  __u32 slot = XDPGUARD_PROG_SYNPROXY;
  if (progs_fd >= 0 && bpf_map_delete_elem(progs_fd, &slot) != 0 && errno != ENOENT)
    return fail_errno(errno, "remove the synproxy stage");
  fault_point("synproxy-teardown");
  if (sp.host) {
    XG_CHECK(nft_delete_table(synproxy_table(paths.ifindex)));
    fault_point("synproxy-teardown-nft");
    XG_CHECK(synproxy_ns_unregister(namespace_of(paths), paths.ifindex));
  }
  if (paths.ifindex) unpin_local(paths);
  const xdpguard_synproxy off{};
  if (bpf_map_update_elem(sp_fd, &kZero, &off, BPF_ANY) != 0)
    return fail_errno(errno, "write synproxy state");
  return {};
}

}  // namespace

Result<void> undo_pinned_synproxy(const PinPaths& paths) {
  UniqueFd sp_fd(bpf_obj_get(paths.map(XDPGUARD_PIN_SYNPROXY).c_str()));
  if (!sp_fd) {
    if (errno != ENOENT) return fail_errno(errno, "open " + paths.map(XDPGUARD_PIN_SYNPROXY));
    // No record (an attach that died before pinning it): nothing was
    // enabled through these pins.
    return {};
  }
  xdpguard_synproxy sp{};
  if (bpf_map_lookup_elem(sp_fd.get(), &kZero, &sp) != 0)
    return fail_errno(errno, "read " + paths.map(XDPGUARD_PIN_SYNPROXY));
  if (sp.state == XDPGUARD_SYNPROXY_OFF) return {};
  UniqueFd progs(bpf_obj_get(paths.map(XDPGUARD_PIN_PROGS).c_str()));
  spdlog::info("undoing the SYN proxy of ifindex {} (nftables table inet {}, the namespace's sysctls)",
               paths.ifindex, synproxy_table(paths.ifindex));
  return teardown_record(sp_fd.get(), progs ? progs.get() : -1, paths, sp);
}

Result<SynproxyStatus> Guard::synproxy_status() const {
  xdpguard_synproxy sp{};
  if (bpf_map_lookup_elem(ddos_maps_.synproxy.fd(), &kZero, &sp) != 0)
    return fail_errno(errno, "read synproxy state");
  SynproxyStatus st;
  st.state = sp.state;
  st.active = sp.active != 0;
  st.stage = false;
  __u32 slot = XDPGUARD_PROG_SYNPROXY, id = 0;
  if (bpf_map_lookup_elem(progs_.fd(), &slot, &id) == 0) st.stage = true;
  for (unsigned i = 0; i < sp.nports && i < XDPGUARD_SYNPROXY_MAX_PORTS; ++i)
    st.config.ports.push_back(sp.ports[i]);
  st.config.mss4 = sp.mss4;
  st.config.mss6 = sp.mss6;
  st.config.wscale = sp.wscale;
  st.config.ttl = sp.ttl;
  std::memcpy(st.identity.mac.data(), sp.mac, 6);
  st.host = sp.host != 0;
  if (!pin_dir_.empty()) {
    const PinPaths paths = pins();
    st.identity.local = pinned_local(paths);
    if (sp.host) {
      st.table = synproxy_table(ifindex_);
      const auto ns = synproxy_ns_read(namespace_of(paths));
      if (!ns) spdlog::warn("{}", ns.error().message());
      const xdpguard_synproxy_ns rec = ns ? *ns : xdpguard_synproxy_ns{};
      for (std::size_t i = 0; rec.nifaces > 0 && i < kSynproxySysctls.size(); ++i) {
        const int saved = i == 0 ? rec.saved_timestamps : rec.saved_tcp_loose;
        if (saved >= 0)
          st.changed_sysctls.push_back(fmt::format("{} (was {})", kSynproxySysctls[i].name, saved));
      }
      for (__u32 i = 0; i < rec.nifaces && i < XDPGUARD_SYNPROXY_NS_IFACES; ++i)
        st.namespace_ifaces.push_back(static_cast<int>(rec.ifindex[i]));
    }
  }
  return st;
}

Result<SynproxyStatus> Guard::synproxy_enable(const SynproxyConfig& cfg, bool host) {
  XG_CHECK(validate_synproxy(cfg));
  auto held = XG_TRY(lock());
  const int map = ddos_maps_.synproxy.fd();
  xdpguard_synproxy sp{};
  if (bpf_map_lookup_elem(map, &kZero, &sp) != 0) return fail_errno(errno, "read synproxy state");
  if (sp.state == XDPGUARD_SYNPROXY_ON)
    return fail(EEXIST, "the SYN proxy is on already (ports {}); disable it first",
                fmt::join(XG_TRY(synproxy_status()).config.ports, ","));
  if (sp.state == XDPGUARD_SYNPROXY_CHANGING) {
    spdlog::info("finishing a SYN proxy enable or disable that did not complete");
    XG_CHECK(synproxy_teardown(sp));
  }
  if (host && pin_dir_.empty()) return fail(EINVAL, "an in-process program has no host to set up");

  // Whom it answers for: the interface's MAC, the namespace's local routes.
  SynproxyIdentity id;
  if (cfg.identity) {
    id = *cfg.identity;
  } else {
    if (ifindex_ == 0) return fail(EINVAL, "an in-process program has no interface: say whom it answers for");
    id.mac = XG_TRY_CTX(interface_mac(ifindex_), "synproxy");
    id.local = synproxy_local_prefixes(XG_TRY_CTX(read_local_routes(), "synproxy"), ifindex_);
  }

  // The table names the interface by index (`iif N`); nft reads N as an
  // interface name first, so a name made of those digits would stand in.
  if (host)
    if (auto other = find_interface(std::to_string(ifindex_)); other && other->ifindex != ifindex_)
      return fail(EINVAL,
                  "an interface named \"{}\" exists: nft would read `iif {}` as that interface, not as "
                  "ifindex {}; rename it first",
                  ifindex_, ifindex_, ifindex_);

  // The record first: whatever happens next, disable knows what to undo.
  sp = {};
  sp.state = XDPGUARD_SYNPROXY_CHANGING;
  sp.host = host ? 1 : 0;
  sp.mss4 = cfg.mss4;
  sp.mss6 = cfg.mss6;
  sp.wscale = cfg.wscale;
  sp.ttl = cfg.ttl;
  sp.nports = static_cast<__u8>(cfg.ports.size());
  for (std::size_t i = 0; i < cfg.ports.size(); ++i) sp.ports[i] = cfg.ports[i];
  std::memcpy(sp.mac, id.mac.data(), 6);
  auto write = [&]() -> Result<void> {
    if (bpf_map_update_elem(map, &kZero, &sp, BPF_ANY) != 0) return fail_errno(errno, "write synproxy state");
    return {};
  };
  XG_CHECK(write());
  auto undo = [&](Error e) -> Result<SynproxyStatus> {
    if (auto t = synproxy_teardown(sp); !t) spdlog::warn("undoing synproxy enable: {}", t.error().message());
    return tl::unexpected(std::move(e));
  };

  if (host) {
    // nftables first: its conntrack and SYNPROXY expressions load the
    // kernel modules the sysctls and the stage's kfuncs live in. The
    // connections open now go into the table with it, so that none of
    // their packets meets its SYNPROXY rules.
    const std::string table = synproxy_table(ifindex_);
    auto before = read_tcp_connections(cfg.ports);
    if (!before) return undo(before.error());
    if (auto r = nft_apply(nft_synproxy_script(table, ifindex_, cfg, *before), "the SYNPROXY table"); !r) {
      // `nft -f` is one transaction: nothing of it was made, nothing of
      // the host to undo (and nft may not even run).
      sp.host = 0;
      if (auto w = write(); !w) spdlog::warn("{}", w.error().message());
      return undo(r.error());
    }
    fault_point("synproxy-nft");
    if (auto r = synproxy_ns_register(namespace_of(pins()), ifindex_); !r) return undo(r.error());
    fault_point("synproxy-sysctl");
    // Connections that completed while the table was loaded.
    auto after = read_tcp_connections(cfg.ports);
    if (!after) return undo(after.error());
    if (const std::string more = nft_existing_elements(table, *after); !more.empty())
      if (auto r = nft_apply(more, "the connections open before synproxy enable"); !r) return undo(r.error());
    spdlog::info("{} connection(s) to ports {} were open: they keep working", after->size(),
                 fmt::join(cfg.ports, ","));
  }

  // The stage, over the pipeline's maps; the program array keeps it.
  auto skel = BpfSkeleton<synproxy_bpf>::open("synproxy");
  if (!skel) return undo(skel.error());
  for (auto [m, fd] :
       {std::pair{(*skel)->maps.xg_percpu, percpu_.fd()},
        std::pair{(*skel)->maps.xg_rule_stats, rule_stats_.fd()},
        std::pair{(*skel)->maps.xg_progs, progs_.fd()}, std::pair{(*skel)->maps.xg_synproxy, map}})
    if (int err = bpf_map__reuse_fd(m, fd)) return undo(fail_errno(err, "reuse the pipeline's maps").value());
  if (auto r = skel->load(); !r)
    return undo(Error(r.error().code(),
                      fmt::format("{}\nthe SYN proxy needs XDP SYN-cookie helpers and conntrack's BPF "
                                  "functions (kernel 6.0+, nf_conntrack with BTF)",
                                  r.error().message())));
  const int local4 = bpf_map__fd((*skel)->maps.xg_sp_local4),
            local6 = bpf_map__fd((*skel)->maps.xg_sp_local6);
  if (auto r = fill_local(local4, local6, id.local); !r) return undo(r.error());
  if (!pin_dir_.empty()) {
    const PinPaths paths = pins();
    unpin_local(paths);  // an earlier enable's
    for (auto [name, fd] :
         {std::pair{XDPGUARD_PIN_SP_LOCAL4, local4}, std::pair{XDPGUARD_PIN_SP_LOCAL6, local6}})
      if (bpf_obj_pin(fd, paths.map(name).c_str()) != 0)
        return undo(fail_errno(errno, "pin " + paths.map(name)).value());
  }
  __u32 slot = XDPGUARD_PROG_SYNPROXY;
  int fd = bpf_program__fd((*skel)->progs.xdpguard_synproxy);
  if (bpf_map_update_elem(progs_.fd(), &slot, &fd, BPF_ANY) != 0)
    return undo(fail_errno(errno, "install the synproxy stage").value());
  fault_point("synproxy-stage");

  sp.active = 1;
  sp.state = XDPGUARD_SYNPROXY_ON;
  if (auto r = write(); !r) return undo(r.error());
  // The classifier sends passed TCP packets to the stage only when it was
  // compiled while the proxy is on.
  if (auto r = recompile_locked(); !r) return undo(r.error());
  return synproxy_status();
}

Result<void> Guard::synproxy_disable() {
  auto held = XG_TRY(lock());
  xdpguard_synproxy sp{};
  if (bpf_map_lookup_elem(ddos_maps_.synproxy.fd(), &kZero, &sp) != 0)
    return fail_errno(errno, "read synproxy state");
  if (sp.state == XDPGUARD_SYNPROXY_OFF) return fail(ENOENT, "the SYN proxy is not on");
  XG_CHECK(synproxy_teardown(sp));
  // The classifier without the proxy's check (the proxy is off either way:
  // a classifier that still checks finds it off).
  if (auto r = recompile_locked(); !r)
    spdlog::warn("the SYN proxy is off; recompiling the rule set without its check failed: {}",
                 r.error().message());
  return {};
}

Result<UniqueFd> Guard::synproxy_stage_again() const {
  xdpguard_synproxy sp{};
  if (bpf_map_lookup_elem(ddos_maps_.synproxy.fd(), &kZero, &sp) != 0)
    return fail_errno(errno, "read synproxy state");
  if (sp.state != XDPGUARD_SYNPROXY_ON) return UniqueFd();
  const PinPaths paths = pins();
  auto skel = XG_TRY(BpfSkeleton<synproxy_bpf>::open("synproxy"));
  UniqueFd local4(bpf_obj_get(paths.map(XDPGUARD_PIN_SP_LOCAL4).c_str()));
  UniqueFd local6(bpf_obj_get(paths.map(XDPGUARD_PIN_SP_LOCAL6).c_str()));
  if (!local4 || !local6) return fail_errno(errno, "open the SYN proxy's pinned address tries");
  for (auto [m, fd] :
       {std::pair{skel->maps.xg_percpu, percpu_.fd()}, std::pair{skel->maps.xg_rule_stats, rule_stats_.fd()},
        std::pair{skel->maps.xg_progs, progs_.fd()},
        std::pair{skel->maps.xg_synproxy, ddos_maps_.synproxy.fd()},
        std::pair{skel->maps.xg_sp_local4, local4.get()}, std::pair{skel->maps.xg_sp_local6, local6.get()}})
    if (int err = bpf_map__reuse_fd(m, fd)) return fail_errno(err, "synproxy: reuse the pinned maps");
  XG_CHECK_CTX(skel.load(), "load this xdpguard's SYN proxy stage");
  // The stage outlives the skeleton through this fd.
  UniqueFd stage(::fcntl(bpf_program__fd(skel->progs.xdpguard_synproxy), F_DUPFD_CLOEXEC, 0));
  if (!stage) return fail_errno(errno, "dup the synproxy stage");
  return stage;
}

Result<void> Guard::synproxy_teardown(xdpguard_synproxy sp) {
  return teardown_record(ddos_maps_.synproxy.fd(), progs_.fd(), pin_dir_.empty() ? PinPaths{} : pins(), sp);
}

}  // namespace xdpguard
