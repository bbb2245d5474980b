// Guard's SYN proxy (docs/ddos.md, "SYN proxy"): enable, disable, status.
// The stage itself is bpf/synproxy.bpf.c; the host side it needs (the
// nftables SYNPROXY table, sysctls) is described in synproxy_setup.h.
//
// xg_synproxy is the record of what was done: enable writes CHANGING with
// the settings and the sysctls it is about to change before it changes
// anything, and ON at the end; disable (or a second enable) finds a
// CHANGING record of a command that died and undoes it.
#include <bpf/bpf.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <spdlog/spdlog.h>

#include "core/fault.h"
#include "core/process.h"
#include "guard/guard.h"
#include "guard/synproxy_setup.h"
#include "synproxy.skel.h"

XDPGUARD_SKELETON(synproxy_bpf);

namespace xdpguard {
namespace {

Result<int> read_sysctl(const SynproxySysctl& s) {
  std::ifstream in(s.path);
  int v = 0;
  if (!(in >> v))
    return fail(ENOENT, "cannot read {} ({}): {}", s.name, s.path,
                s.want == 0 ? "is nf_conntrack available in this kernel?" : "not in this kernel");
  return v;
}

Result<void> write_sysctl(const SynproxySysctl& s, int v) {
  std::ofstream out(s.path);
  out << v << '\n';
  out.flush();
  if (!out) return fail(EIO, "cannot set {} = {} ({})", s.name, v, s.path);
  return {};
}

// Runs `nft -f` on a script (nft reads files, not stdin, through run_process).
Result<void> nft_apply(const std::string& script, const char* what) {
  char path[] = "/tmp/xdpguard-nft-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return fail_errno(errno, "create a temporary file for nft");
  const bool wrote = ::write(fd, script.data(), script.size()) == static_cast<ssize_t>(script.size());
  ::close(fd);
  if (!wrote) {
    ::unlink(path);
    return fail(EIO, "write {}", path);
  }
  auto r = run_process({"nft", "-f", path});
  ::unlink(path);
  if (!r) return fail(ENOENT, "{}: cannot run nft (install nftables): {}", what, r.error().message());
  if (r->exit_code != 0) return fail(EINVAL, "{}: nft refused it: {}", what, r->err);
  return {};
}

}  // namespace

Result<SynproxyStatus> Guard::synproxy_status() const {
  xdpguard_synproxy sp{};
  __u32 zero = 0;
  if (bpf_map_lookup_elem(ddos_maps_.synproxy.fd(), &zero, &sp) != 0)
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
  st.host = sp.host != 0;
  if (sp.host) st.table = synproxy_table(ifindex_);
  for (std::size_t i = 0; i < kSynproxySysctls.size(); ++i) {
    const int saved = i == 0 ? sp.saved_timestamps : sp.saved_tcp_loose;
    if (saved >= 0) st.changed_sysctls.push_back(fmt::format("{} (was {})", kSynproxySysctls[i].name, saved));
  }
  return st;
}

Result<SynproxyStatus> Guard::synproxy_enable(const SynproxyConfig& cfg, bool host) {
  XG_CHECK(validate_synproxy(cfg));
  auto held = XG_TRY(lock());
  const __u32 zero = 0;
  const int map = ddos_maps_.synproxy.fd();
  xdpguard_synproxy sp{};
  if (bpf_map_lookup_elem(map, &zero, &sp) != 0) return fail_errno(errno, "read synproxy state");
  if (sp.state == XDPGUARD_SYNPROXY_ON)
    return fail(EEXIST, "the SYN proxy is on already (ports {}); disable it first",
                fmt::join(XG_TRY(synproxy_status()).config.ports, ","));
  if (sp.state == XDPGUARD_SYNPROXY_CHANGING) {
    spdlog::info("finishing a SYN proxy enable or disable that did not complete");
    XG_CHECK(synproxy_teardown(sp));
  }

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
  sp.saved_timestamps = -1;
  sp.saved_tcp_loose = -1;
  auto write = [&]() -> Result<void> {
    if (bpf_map_update_elem(map, &zero, &sp, BPF_ANY) != 0) return fail_errno(errno, "write synproxy state");
    return {};
  };
  XG_CHECK(write());
  auto undo = [&](Error e) -> Result<SynproxyStatus> {
    if (auto t = synproxy_teardown(sp); !t) spdlog::warn("undoing synproxy enable: {}", t.error().message());
    return tl::unexpected(std::move(e));
  };

  if (host) {
    // nftables first: its conntrack and SYNPROXY expressions load the
    // kernel modules the sysctls and the stage's kfuncs live in.
    if (auto r =
            nft_apply(nft_synproxy_script(synproxy_table(ifindex_), meta_.ifname, cfg), "the SYNPROXY table");
        !r)
      return undo(r.error());
    fault_point("synproxy-nft");
    for (std::size_t i = 0; i < kSynproxySysctls.size(); ++i) {
      const auto& s = kSynproxySysctls[i];
      auto cur = read_sysctl(s);
      if (!cur) return undo(cur.error());
      if (*cur == s.want) continue;
      (i == 0 ? sp.saved_timestamps : sp.saved_tcp_loose) = *cur;
      if (auto r = write(); !r) return undo(r.error());
      if (auto r = write_sysctl(s, s.want); !r) return undo(r.error());
      spdlog::info("set {} = {} (was {}): {}", s.name, s.want, *cur, s.why);
    }
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
  __u32 slot = XDPGUARD_PROG_SYNPROXY;
  int fd = bpf_program__fd((*skel)->progs.xdpguard_synproxy);
  if (bpf_map_update_elem(progs_.fd(), &slot, &fd, BPF_ANY) != 0)
    return undo(fail_errno(errno, "install the synproxy stage").value());
  fault_point("synproxy-stage");

  sp.active = 1;
  sp.state = XDPGUARD_SYNPROXY_ON;
  if (auto r = write(); !r) return undo(r.error());
  return synproxy_status();
}

Result<void> Guard::synproxy_disable() {
  auto held = XG_TRY(lock());
  const __u32 zero = 0;
  xdpguard_synproxy sp{};
  if (bpf_map_lookup_elem(ddos_maps_.synproxy.fd(), &zero, &sp) != 0)
    return fail_errno(errno, "read synproxy state");
  if (sp.state == XDPGUARD_SYNPROXY_OFF) return fail(ENOENT, "the SYN proxy is not on");
  return synproxy_teardown(sp);
}

// Undoes what the record says was done, last step first: traffic stops
// going to the stage at once, then the stage, the table and the sysctls go.
Result<void> Guard::synproxy_teardown(xdpguard_synproxy sp) {
  const __u32 zero = 0;
  const int map = ddos_maps_.synproxy.fd();
  sp.active = 0;
  sp.state = XDPGUARD_SYNPROXY_CHANGING;
  if (bpf_map_update_elem(map, &zero, &sp, BPF_ANY) != 0) return fail_errno(errno, "write synproxy state");
  __u32 slot = XDPGUARD_PROG_SYNPROXY;
  if (bpf_map_delete_elem(progs_.fd(), &slot) != 0 && errno != ENOENT)
    return fail_errno(errno, "remove the synproxy stage");
  fault_point("synproxy-teardown");
  if (sp.host) {
    const std::string table = synproxy_table(ifindex_);
    auto r = run_process({"nft", "delete", "table", "inet", table});
    if (!r) return fail(ENOENT, "cannot run nft to delete table inet {}: {}", table, r.error().message());
    if (r->exit_code != 0 && r->err.find("No such file") == std::string::npos)
      return fail(EIO, "nft delete table inet {}: {}", table, r->err);
    for (std::size_t i = 0; i < kSynproxySysctls.size(); ++i) {
      const int saved = i == 0 ? sp.saved_timestamps : sp.saved_tcp_loose;
      if (saved >= 0) XG_CHECK(write_sysctl(kSynproxySysctls[i], saved));
    }
  }
  const xdpguard_synproxy off{};
  if (bpf_map_update_elem(map, &zero, &off, BPF_ANY) != 0) return fail_errno(errno, "write synproxy state");
  return {};
}

}  // namespace xdpguard
