#include "guard/synproxy_host.h"

#include <bpf/bpf.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bpf/system.h"
#include "core/process.h"
#include "core/unique_fd.h"
#include "guard/lock.h"

namespace xdpguard {

Result<std::vector<LocalRoute>> read_local_routes() {
  std::vector<LocalRoute> out;
  XG_CHECK(rtnl_routes(AF_UNSPEC, [&](const RtRoute& r) {
    if (r.type != RTN_LOCAL || r.table != RT_TABLE_LOCAL) return;
    LocalRoute l;
    l.prefix.family = r.family == AF_INET6 ? rules::Family::V6 : rules::Family::V4;
    l.prefix.len = r.dst_len;
    l.prefix.addr = r.dst;
    l.oif = r.oif;
    out.push_back(l);
  }));
  return out;
}

Result<std::vector<TcpConnection>> read_tcp_connections(const std::vector<std::uint16_t>& ports) {
  std::vector<TcpConnection> out;
  for (bool v6 : {false, true}) {
    const char* path = v6 ? "/proc/thread-self/net/tcp6" : "/proc/thread-self/net/tcp";
    std::ifstream in(path);
    if (!in) {
      if (v6) continue;  // no IPv6 in this kernel
      return fail(ENOENT, "cannot read {}", path);
    }
    std::stringstream text;
    text << in.rdbuf();
    auto found = parse_proc_net_tcp(text.str(), v6, ports);
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

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

namespace {

constexpr int kExecFailed = 127;  // run_process: the program could not be run

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

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
  if (r->exit_code == kExecFailed) return fail(ENOENT, "{}: {} (install nftables)", what, trimmed(r->err));
  if (r->exit_code != 0) return fail(EINVAL, "{}: nft refused it: {}", what, trimmed(r->err));
  return {};
}

Result<void> nft_delete_table(const std::string& table) {
  auto r = run_process({"nft", "delete", "table", "inet", table});
  if (!r) return fail(ENOENT, "cannot run nft to delete table inet {}: {}", table, r.error().message());
  if (r->exit_code == kExecFailed) return fail(ENOENT, "delete table inet {}: {}", table, trimmed(r->err));
  // nft's own "No such file or directory": the table is gone already
  if (r->exit_code != 0 && r->err.find("No such file or directory") == std::string::npos)
    return fail(EIO, "nft delete table inet {}: {}", table, trimmed(r->err));
  return {};
}

// ---- the namespace's record ------------------------------------------------

std::string SynproxyNamespace::pin() const { return ns_dir + "/" + XDPGUARD_PIN_SYNPROXY_NS; }

namespace {

constexpr __u32 kRecordKey = 0;  // the record map has one entry

// The pinned record map, or an invalid fd if there is none.
Result<UniqueFd> open_record(const SynproxyNamespace& ns) {
  UniqueFd fd(bpf_obj_get(ns.pin().c_str()));
  if (!fd) {
    if (errno == ENOENT) return UniqueFd();
    return fail_errno(errno, "open " + ns.pin());
  }
  bpf_map_info info{};
  __u32 len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return fail_errno(errno, "map info " + ns.pin());
  if (info.type != BPF_MAP_TYPE_ARRAY || info.key_size != 4 ||
      info.value_size != sizeof(xdpguard_synproxy_ns))
    return fail(EPROTO,
                "{} is not a SYN proxy namespace record of this xdpguard (value size {}, expected {})",
                ns.pin(), info.value_size, sizeof(xdpguard_synproxy_ns));
  return fd;
}

Result<UniqueFd> create_record(const SynproxyNamespace& ns) {
  XG_CHECK(make_dirs(ns.ns_dir));
  UniqueFd fd(bpf_map_create(BPF_MAP_TYPE_ARRAY, "xg_sp_ns", sizeof(__u32), sizeof(xdpguard_synproxy_ns), 1,
                             nullptr));
  if (!fd) return fail_errno(errno, "create the SYN proxy namespace record");
  if (bpf_obj_pin(fd.get(), ns.pin().c_str()) != 0) return fail_errno(errno, "pin " + ns.pin());
  return fd;
}

Result<xdpguard_synproxy_ns> read_entry(int fd, const SynproxyNamespace& ns) {
  xdpguard_synproxy_ns rec{};
  if (bpf_map_lookup_elem(fd, &kRecordKey, &rec) != 0) return fail_errno(errno, "read " + ns.pin());
  if (rec.nifaces > XDPGUARD_SYNPROXY_NS_IFACES)
    return fail(EPROTO, "{}: corrupt ({} interfaces)", ns.pin(), rec.nifaces);
  return rec;
}

Result<void> write_entry(int fd, const xdpguard_synproxy_ns& rec, const SynproxyNamespace& ns) {
  if (bpf_map_update_elem(fd, &kRecordKey, &rec, BPF_ANY) != 0) return fail_errno(errno, "write " + ns.pin());
  return {};
}

bool registered(const xdpguard_synproxy_ns& rec, int ifindex) {
  return std::find(rec.ifindex, rec.ifindex + rec.nifaces, static_cast<__u32>(ifindex)) !=
         rec.ifindex + rec.nifaces;
}

int& saved(xdpguard_synproxy_ns& rec, std::size_t i) {
  return i == 0 ? rec.saved_timestamps : rec.saved_tcp_loose;
}

// Sets every sysctl to what SYNPROXY needs (a later enable: only those
// someone changed since).
Result<void> set_wanted() {
  for (const auto& s : kSynproxySysctls) {
    if (XG_TRY(read_sysctl(s)) == s.want) continue;
    XG_CHECK(write_sysctl(s, s.want));
    spdlog::info("set {} = {}: {}", s.name, s.want, s.why);
  }
  return {};
}

// Restores what the record saved; stops at the first failure.
Result<void> restore(const xdpguard_synproxy_ns& rec) {
  for (std::size_t i = 0; i < kSynproxySysctls.size(); ++i) {
    const int v = i == 0 ? rec.saved_timestamps : rec.saved_tcp_loose;
    if (v < 0) continue;
    XG_CHECK(write_sysctl(kSynproxySysctls[i], v));
    spdlog::info("restored {} = {}", kSynproxySysctls[i].name, v);
  }
  return {};
}

}  // namespace

Result<xdpguard_synproxy_ns> synproxy_ns_read(const SynproxyNamespace& ns) {
  auto fd = XG_TRY(open_record(ns));
  if (!fd) return xdpguard_synproxy_ns{};
  auto rec = XG_TRY(read_entry(fd.get(), ns));
  if (rec.nifaces == 0) return xdpguard_synproxy_ns{};  // whatever else it holds
  return rec;
}

Result<void> synproxy_ns_register(const SynproxyNamespace& ns, int ifindex) {
  auto held = XG_TRY(NamespaceLock::acquire(ns.netns_id));
  auto fd = XG_TRY(open_record(ns));
  xdpguard_synproxy_ns rec{};
  if (fd) rec = XG_TRY(read_entry(fd.get(), ns));
  // (An entry with no interface is empty, whatever else it holds: a first
  // enable that died between creating the record and writing it.)
  if (rec.nifaces > 0) {
    if (!registered(rec, ifindex)) {
      if (rec.nifaces == XDPGUARD_SYNPROXY_NS_IFACES)
        return fail(ENOSPC, "the SYN proxy is on for {} interfaces of this namespace already, at most {}",
                    rec.nifaces, XDPGUARD_SYNPROXY_NS_IFACES);
      rec.ifindex[rec.nifaces++] = static_cast<__u32>(ifindex);
      XG_CHECK(write_entry(fd.get(), rec, ns));
    }
    return set_wanted();
  }
  // The first in the namespace: what the sysctls are now is what the last
  // one restores. Saved and registered in one write, then set.
  rec = {};
  for (std::size_t i = 0; i < kSynproxySysctls.size(); ++i) {
    const int cur = XG_TRY(read_sysctl(kSynproxySysctls[i]));
    saved(rec, i) = cur == kSynproxySysctls[i].want ? -1 : cur;
  }
  rec.nifaces = 1;
  rec.ifindex[0] = static_cast<__u32>(ifindex);
  if (!fd) fd = XG_TRY(create_record(ns));
  XG_CHECK(write_entry(fd.get(), rec, ns));
  if (auto r = set_wanted(); !r) {
    if (auto u = restore(rec); !u) {
      spdlog::warn("undoing the SYN proxy's sysctls: {}", u.error().message());
      return r;  // registered: the undo of this enable tries again
    }
    (void)write_entry(fd.get(), xdpguard_synproxy_ns{}, ns);
    ::unlink(ns.pin().c_str());
    return r;
  }
  return {};
}

Result<void> synproxy_ns_unregister(const SynproxyNamespace& ns, int ifindex) {
  auto held = XG_TRY(NamespaceLock::acquire(ns.netns_id));
  auto fd = XG_TRY(open_record(ns));
  if (!fd) return {};
  auto rec = XG_TRY(read_entry(fd.get(), ns));
  if (rec.nifaces == 0 || !registered(rec, ifindex)) return {};
  if (rec.nifaces > 1) {
    auto* end = std::remove(rec.ifindex, rec.ifindex + rec.nifaces, static_cast<__u32>(ifindex));
    rec.nifaces = static_cast<__u32>(end - rec.ifindex);
    std::fill(end, rec.ifindex + XDPGUARD_SYNPROXY_NS_IFACES, 0u);
    return write_entry(fd.get(), rec, ns);
  }
  // The last one: restore, then forget (a crash in between restores again).
  XG_CHECK_CTX(restore(rec), "restore the sysctls the SYN proxy changed");
  XG_CHECK(write_entry(fd.get(), xdpguard_synproxy_ns{}, ns));
  if (::unlink(ns.pin().c_str()) != 0 && errno != ENOENT) return fail_errno(errno, "unlink " + ns.pin());
  return {};
}

}  // namespace xdpguard
