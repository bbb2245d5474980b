// The lockout guard (README, "Changing rules safely"): before a change that
// could make an interface drop more, the packets that keep the operator in
// touch with the machine are run through what the interface would enforce
// after it, in the real compiled pipeline (a Simulator: BPF_PROG_TEST_RUN,
// not a re-implementation of the rules' meaning). A probe that the change
// would drop (or send elsewhere) where it passes now is a cut; a change
// with cuts is refused, naming the rule that drops each probe and the
// packet, unless --force (or `[guard] lockout-guard = false`).
//
// The probes, from what the host says of the interface (rtnetlink: its MAC,
// addresses and IPv4 default route, as `ip addr`/`ip route` show them) and
// of the caller (SSH_CONNECTION):
//   - the caller's SSH session (when it comes in through this interface:
//     the server address is one of its own, or the route to the client
//     leaves by it): a segment of the session, and a new connection from
//     the same client to the same port (to log in again);
//   - ARP: a request for each IPv4 address of the interface, and a reply;
//   - IPv6 neighbour discovery (when the interface has IPv6): a neighbour
//     solicitation and advertisement, a router advertisement;
//   - DHCP (an IPv4 address the kernel holds with a lifetime: leased) and
//     DHCPv6 (a leased /128): a server's reply;
//   - each `[guard] management` prefix: a new connection from its first
//     address to the SSH port (the session's, else 22).
// Pure but for host_facts() and lockout_cuts().
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/system.h"
#include "config/config.h"
#include "core/result.h"
#include "rules/rule.h"
#include "simulate/simulate.h"

namespace xdpguard::simulate {

struct SshSession {
  rules::Prefix client, server;  // host prefixes
  std::uint16_t client_port = 0, server_port = 0;
};
// SSH_CONNECTION: "CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT"; bad text
// is an error naming it.
[[nodiscard]] Result<SshSession> parse_ssh_connection(std::string_view text);

struct HostFacts {
  std::string iface;
  std::array<std::uint8_t, 6> mac{};
  struct Address {
    rules::Prefix addr;      // the address (host prefix)
    std::uint8_t prefixlen;  // of its subnet
    bool leased = false;     // held with a lifetime (DHCP, or SLAAC for IPv6 /64s)
  };
  std::vector<Address> addrs;
  std::optional<rules::Prefix> gateway4;  // the IPv4 default route's next hop by this interface
  std::optional<SshSession> ssh;          // the caller's session, when through this interface
  std::vector<rules::Prefix> management;
};

// What the system says of `iface` (in the current network namespace), and
// the caller's SSH session when it comes in through it.
[[nodiscard]] Result<HostFacts> host_facts(const Interface& iface,
                                           const std::vector<rules::Prefix>& management);

struct Probe {
  std::string what;  // "ARP request for 198.18.0.1", "the SSH session 198.18.0.2:50122 -> 198.18.0.1:22"
  std::vector<std::uint8_t> frame;
};
[[nodiscard]] std::vector<Probe> probes(const HostFacts& facts);

struct Cut {
  std::string what;  // the probe
  std::string by;    // "rule id 3 (drop tcp dport 22)", "the default action", ...
  std::string verdict;
  std::size_t probe = 0;                // its index in the probes
  std::optional<std::uint32_t> rule{};  // the rule that decided (its id in the simulator), if one did
};
// The probes `after` does not pass (what the interface would do with them
// after the change).
[[nodiscard]] Result<std::vector<Cut>> lockout_cuts(Simulator& after, const std::vector<Probe>& probes);
// Of those, the ones `before` (what the interface does now) passes: the
// ones the change would cut.
[[nodiscard]] Result<std::vector<Cut>> passed_now(Simulator& before, std::vector<Cut> cuts,
                                                  const std::vector<Probe>& probes);
// The refusal, one line: every cut, and what to do.
[[nodiscard]] std::string refusal(const std::string& iface, const std::vector<Cut>& cuts);

// ---- the guard around a change (the CLI's commands, the service's apply)

// What the interface would enforce after the change.
using After = std::function<Result<Simulator>(const Interface&)>;
// The check in two halves: the probes through `after` (may run in a thread
// of its own), then, where that drops one, through what the interface
// enforces now (`lock_held`: this process holds the interface's lock, which
// is then not taken again) and the refusal (EPERM, one line naming the rule
// and the packet) if the change would cut one. Fault points are not reached
// in either (core/fault.h): the copy's steps are not the change's.
struct Lockout {
  Interface iface;
  std::vector<Probe> probes;
  std::vector<Cut> cuts;  // what `after` does not pass
};
[[nodiscard]] Result<Lockout> lockout_after(const std::string& iface,
                                            const std::vector<rules::Prefix>& management, const After& after);
[[nodiscard]] Result<void> lockout_verdict(const Lockout& l, bool lock_held);
// Both, for a change that takes the lock itself afterwards (`lock_held`:
// this process holds it already); nothing when `force`.
[[nodiscard]] Result<void> check_lockout(const std::string& iface, bool force,
                                         const std::vector<rules::Prefix>& management, const After& after,
                                         bool lock_held = false);
// check_lockout for a `rule add` or `rule del` (`edit` adds or deletes one
// rule, nothing else), cheaper where it can be: a change of one rule can
// change the verdict of a probe only if that rule, alone in a pipeline
// (Simulator::of_rule), decides the probe: for an added rule, with a verdict
// other than pass (a pass rule cuts no one); for a deleted one, at all (and
// deleting a rule that does not pass cuts no one). Only then is the whole
// rule set copied and compared (check_lockout). Nothing when `force`.
// `lock_held`: this process holds the interface's lock (`rule add` does,
// while it compiles the new rule set meanwhile), which is then not taken.
[[nodiscard]] Result<void> check_rule_edit(const std::string& iface, bool force, const Simulator::Edit& edit,
                                           bool lock_held = false);
// For apply::Options::before_swap: the check of every interface of `conf`
// that exists (in `only`, when given), started now, in threads, while apply
// prepares; the function waits for them and gives the verdicts under
// apply's locks. Nothing when the file says lockout-guard = false.
[[nodiscard]] std::function<Result<void>()> apply_guard(const config::Config& conf,
                                                        const std::vector<std::string>& only);

}  // namespace xdpguard::simulate
