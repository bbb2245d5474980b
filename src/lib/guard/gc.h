// Pinned state of every network namespace, and its garbage collection.
//
// xdpguard pins an interface's maps under <bpffs>/xdpguard/ns<netns inode>/.
// A namespace deleted while xdpguard is attached takes its interfaces (and so
// the programs) with it, but the pins keep the maps alive until reboot.
// survey() lists every namespace directory with whether the namespace is
// still alive: some task is in it (/proc/*/task/*/ns/net), some process holds
// it open (/proc/*/fd/*), or some mount namespace has it bind-mounted (nsfs
// entries of /proc/*/mountinfo, as `ip netns add` makes). collect() removes
// the pins of namespaces nothing keeps alive, holding the interface locks of
// each (skipping one whose lock another command holds) and checking again
// under them that it is still dead (a new namespace may reuse the inode). (A namespace kept alive only by
// a socket that some process holds is not seen; collect() would remove its
// pins. Its interfaces then lose xdpguard's rule updates, not its filtering:
// attached programs keep their own references.)
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"

namespace xdpguard {

struct PinnedInterface {
  int ifindex = 0;
  std::string ifname;  // from xg_meta at attach time
  std::string mode;
  unsigned prog_id = 0;
  std::uint64_t attached_unix = 0;
};

struct PinnedNamespace {
  std::uint64_t netns_id = 0;
  bool alive = false;
  bool current = false;  // the caller's own namespace
  std::string dir;
  std::vector<PinnedInterface> interfaces;
};

// Inodes of every network namespace something keeps alive.
[[nodiscard]] std::set<std::uint64_t> live_netns();

[[nodiscard]] Result<std::vector<PinnedNamespace>> survey_namespaces();
// Removes the pins of dead namespaces; returns what was removed.
[[nodiscard]] Result<std::vector<PinnedNamespace>> collect_dead_namespaces();

}  // namespace xdpguard
