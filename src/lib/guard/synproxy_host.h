// The SYN proxy's effects on the host (docs/ddos.md "SYN proxy"), all in the
// caller's network namespace: what it reads (the interface's MAC, the local
// routes, the socket table, sysctls) and what it changes (the nftables
// table of an interface, and the namespace's sysctls, shared by every
// interface of the namespace and so reference-counted).
//
// The namespace's record (xdpguard_synproxy_ns, abi.h) is a one-entry map
// pinned at <ns_dir>/xg_sp_ns: bpffs, like every other pin, so a crash keeps
// it and a deleted namespace's pins (gc) take it along with the sysctls
// the namespace itself took. Every change of the record is one map write
// under the namespace lock (guard/lock.h), and register/unregister of the
// same interface twice is the same as once: the undo paths (disable,
// detach, the stale-pin sweeps) can all run it and it happens once.
//
// Failure: Result errors that name the file, sysctl or command.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bpf/abi.h"
#include "core/result.h"
#include "guard/synproxy_setup.h"

namespace xdpguard {

// The routes of type local in the local routing table (rtnetlink).
[[nodiscard]] Result<std::vector<LocalRoute>> read_local_routes();
// The host's TCP connections to one of `ports` (the calling thread's
// namespace: /proc/thread-self/net/tcp and tcp6).
[[nodiscard]] Result<std::vector<TcpConnection>> read_tcp_connections(
    const std::vector<std::uint16_t>& ports);

[[nodiscard]] Result<int> read_sysctl(const SynproxySysctl& s);
[[nodiscard]] Result<void> write_sysctl(const SynproxySysctl& s, int v);

// `nft -f` on a script; `what` names it in errors.
[[nodiscard]] Result<void> nft_apply(const std::string& script, const char* what);
// `nft delete table inet TABLE`; a table that does not exist is no error.
[[nodiscard]] Result<void> nft_delete_table(const std::string& table);

// The namespace's record: where it is pinned (<ns_dir>/xg_sp_ns), and its
// entry (nifaces 0: no interface is registered, nothing is changed).
struct SynproxyNamespace {
  std::uint64_t netns_id = 0;
  std::string ns_dir;  // <bpffs>/xdpguard/ns<netns_id>
  std::string pin() const;
};
[[nodiscard]] Result<xdpguard_synproxy_ns> synproxy_ns_read(const SynproxyNamespace& ns);
// Registers `ifindex`: the first interface of the namespace saves the
// sysctls and sets them (kSynproxySysctls); later ones register (and set a
// sysctl again only if someone changed it since). On failure nothing
// is registered and the sysctls are as they were.
[[nodiscard]] Result<void> synproxy_ns_register(const SynproxyNamespace& ns, int ifindex);
// Unregisters `ifindex` (nothing to do if it is not registered); the last
// one restores the saved sysctls first and removes the record. If a
// sysctl cannot be restored the record stays as it was, for a later try.
[[nodiscard]] Result<void> synproxy_ns_unregister(const SynproxyNamespace& ns, int ifindex);

}  // namespace xdpguard
