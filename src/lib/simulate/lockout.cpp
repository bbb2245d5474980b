#include "simulate/lockout.h"

#include <linux/if_addr.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/fault.h"
#include "core/process.h"
#include "guard/guard.h"
#include "gen/frame.h"
#include "rules/parser.h"
#include "rules/printer.h"

namespace xdpguard::simulate {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Mac = std::array<std::uint8_t, 6>;

constexpr Mac kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr Mac kNeighbour = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};  // locally administered
constexpr std::uint8_t kTcpSyn = 0x02, kTcpPshAck = 0x18;

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}
void put(Bytes& b, const std::uint8_t* p, std::size_t n) { b.insert(b.end(), p, p + n); }
void set16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}
std::size_t alen(const rules::Prefix& p) { return p.family == rules::Family::V6 ? 16 : 4; }

Bytes ethernet(const Mac& dst, const Mac& src, std::uint16_t type) {
  Bytes b;
  put(b, dst.data(), 6);
  put(b, src.data(), 6);
  put16(b, type);
  return b;
}

// An IP packet (either family) around an L4 segment whose checksum (at
// `csum_at` in it) is filled in over the pseudo-header.
Bytes ip_frame(const Mac& dst_mac, const rules::Prefix& src, const rules::Prefix& dst, std::uint8_t proto,
               Bytes l4, std::size_t csum_at, std::uint8_t ttl = 64) {
  const bool v6 = src.family == rules::Family::V6;
  Bytes pseudo;
  put(pseudo, src.addr.data(), alen(src));
  put(pseudo, dst.addr.data(), alen(dst));
  if (v6) {
    put32(pseudo, static_cast<std::uint32_t>(l4.size()));
    put32(pseudo, proto);
  } else {
    pseudo.push_back(0);
    pseudo.push_back(proto);
    put16(pseudo, static_cast<std::uint16_t>(l4.size()));
  }
  put(pseudo, l4.data(), l4.size());
  set16(l4, csum_at, gen::checksum(pseudo.data(), pseudo.size()));
  Bytes f = ethernet(dst_mac, kNeighbour, v6 ? ETH_P_IPV6 : ETH_P_IP);
  if (v6) {
    put32(f, 0x60000000);
    put16(f, static_cast<std::uint16_t>(l4.size()));
    f.push_back(proto);
    f.push_back(ttl);
  } else {
    const std::size_t h = f.size();
    f.push_back(0x45);
    f.push_back(0);
    put16(f, static_cast<std::uint16_t>(20 + l4.size()));
    put32(f, 0x4000);  // id 0, DF
    f.push_back(ttl);
    f.push_back(proto);
    put16(f, 0);
    put(f, src.addr.data(), 4);
    put(f, dst.addr.data(), 4);
    set16(f, h + 10, gen::checksum(f.data() + h, 20));
    put(f, l4.data(), l4.size());
    return f;
  }
  put(f, src.addr.data(), 16);
  put(f, dst.addr.data(), 16);
  put(f, l4.data(), l4.size());
  return f;
}

Bytes tcp(const Mac& mac, const rules::Prefix& src, std::uint16_t sport, const rules::Prefix& dst,
          std::uint16_t dport, std::uint8_t flags) {
  Bytes t;
  put16(t, sport);
  put16(t, dport);
  put32(t, 1000);
  put32(t, flags & 0x10 ? 2000 : 0);
  t.push_back(5 << 4);
  t.push_back(flags);
  put16(t, 64240);
  put16(t, 0);
  put16(t, 0);
  return ip_frame(mac, src, dst, 6, std::move(t), 16);
}

Bytes udp(const Mac& mac, const rules::Prefix& src, std::uint16_t sport, const rules::Prefix& dst,
          std::uint16_t dport, const Bytes& payload) {
  Bytes u;
  put16(u, sport);
  put16(u, dport);
  put16(u, static_cast<std::uint16_t>(8 + payload.size()));
  put16(u, 0);
  put(u, payload.data(), payload.size());
  return ip_frame(mac, src, dst, 17, std::move(u), 6);
}

Bytes icmp6(const Mac& mac, const rules::Prefix& src, const rules::Prefix& dst, std::uint8_t type,
            const Bytes& body) {
  Bytes m = {type, 0, 0, 0};
  put(m, body.data(), body.size());
  return ip_frame(mac, src, dst, 58, std::move(m), 2, 255);
}

Bytes arp(const Mac& dst_mac, std::uint16_t op, const Mac& sha, const rules::Prefix& spa, const Mac& tha,
          const rules::Prefix& tpa) {
  Bytes f = ethernet(dst_mac, sha, ETH_P_ARP);
  put16(f, 1);
  put16(f, ETH_P_IP);
  f.push_back(6);
  f.push_back(4);
  put16(f, op);
  put(f, sha.data(), 6);
  put(f, spa.addr.data(), 4);
  put(f, tha.data(), 6);
  put(f, tpa.addr.data(), 4);
  return f;
}

rules::Prefix host(rules::Family f, std::array<std::uint8_t, 16> addr) {
  rules::Prefix p;
  p.family = f;
  p.addr = addr;
  p.len = f == rules::Family::V6 ? 128 : 32;
  return p;
}
rules::Prefix v6(std::initializer_list<std::uint8_t> head, std::initializer_list<std::uint8_t> tail) {
  std::array<std::uint8_t, 16> a{};
  std::copy(head.begin(), head.end(), a.begin());
  std::copy(tail.begin(), tail.end(), a.end() - static_cast<std::ptrdiff_t>(tail.size()));
  return host(rules::Family::V6, a);
}

// Another host of `a`'s subnet: the address with one of its two lowest
// bits changed, not the subnet's own address nor its broadcast (the
// address itself in a /31../32, /127../128).
rules::Prefix neighbour_of(const HostFacts::Address& a) {
  const std::size_t n = alen(a.addr), bits = n * 8;
  if (a.prefixlen + 2u > bits) return a.addr;
  const std::uint8_t host_mask =
      static_cast<std::uint8_t>(bits - a.prefixlen >= 8 ? 0xff : (1u << (bits - a.prefixlen)) - 1);
  for (std::uint8_t flip : {1, 2, 3}) {
    rules::Prefix c = a.addr;
    c.addr[n - 1] ^= flip;
    const std::uint8_t h = c.addr[n - 1] & host_mask;
    if (bits - a.prefixlen <= 8 && (h == 0 || h == host_mask)) continue;
    return c;
  }
  return a.addr;
}

std::string text(const rules::Prefix& p) {
  rules::Prefix h = p;
  h.len = p.family == rules::Family::V6 ? 128 : 32;
  return rules::prefix_to_string(h);
}

}  // namespace

Result<SshSession> parse_ssh_connection(std::string_view t) {
  std::vector<std::string> f;
  std::string cur;
  for (char c : t) {
    if (c == ' ') {
      if (!cur.empty()) f.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) f.push_back(std::move(cur));
  auto bad = [&] {
    return fail(EINVAL, "SSH_CONNECTION: expected \"CLIENT_IP CLIENT_PORT SERVER_IP SERVER_PORT\", got {}",
                rules::quote(t));
  };
  if (f.size() != 4) return bad();
  SshSession s;
  auto c = rules::parse_prefix(f[0]);
  auto v = rules::parse_prefix(f[2]);
  auto cp = rules::parse_decimal(f[1], 65535);
  auto sp = rules::parse_decimal(f[3], 65535);
  if (!c || !v || !cp || !sp || *cp == 0 || *sp == 0 || c->family != v->family ||
      f[0].find('/') != std::string::npos || f[2].find('/') != std::string::npos)
    return bad();
  s.client = *c;
  s.server = *v;
  s.client_port = static_cast<std::uint16_t>(*cp);
  s.server_port = static_cast<std::uint16_t>(*sp);
  return s;
}

std::vector<Probe> probes(const HostFacts& h) {
  std::vector<Probe> out;
  const Mac& me = h.mac;
  const HostFacts::Address* first4 = nullptr;
  const HostFacts::Address* first6 = nullptr;
  bool has6 = false;
  for (const auto& a : h.addrs) {
    if (a.addr.family == rules::Family::V4 && !first4) first4 = &a;
    if (a.addr.family == rules::Family::V6) {
      has6 = true;
      const bool link_local = a.addr.addr[0] == 0xfe && (a.addr.addr[1] & 0xc0) == 0x80;
      if (!link_local && !first6) first6 = &a;
    }
  }
  const std::uint16_t ssh_port = h.ssh ? h.ssh->server_port : 22;

  if (h.ssh) {
    const auto& s = *h.ssh;
    out.push_back({fmt::format("the SSH session {}:{} -> {}:{} (a TCP segment of it)", text(s.client),
                               s.client_port, text(s.server), s.server_port),
                   tcp(me, s.client, s.client_port, s.server, s.server_port, kTcpPshAck)});
    const std::uint16_t again = static_cast<std::uint16_t>(s.client_port == 65535 ? 1024 : s.client_port + 1);
    out.push_back({fmt::format("a new SSH connection from {} to {}:{} (TCP SYN)", text(s.client),
                               text(s.server), s.server_port),
                   tcp(me, s.client, again, s.server, s.server_port, kTcpSyn)});
  }
  for (const auto& a : h.addrs) {
    if (a.addr.family != rules::Family::V4) continue;
    const auto nb = neighbour_of(a);
    out.push_back(
        {fmt::format("ARP request for {}", text(a.addr)), arp(kBroadcast, 1, kNeighbour, nb, Mac{}, a.addr)});
    out.push_back({fmt::format("ARP reply from {} to {}", text(nb), text(a.addr)),
                   arp(me, 2, kNeighbour, nb, me, a.addr)});
  }
  if (has6) {
    const auto router = v6({0xfe, 0x80}, {0x01});
    const auto peer = v6({0xfe, 0x80}, {0x02});
    for (const auto& a : h.addrs) {
      if (a.addr.family != rules::Family::V6) continue;
      // To the solicited-node group of the address, as a neighbour asks.
      auto group = v6({0xff, 0x02}, {0x01, 0xff, a.addr.addr[13], a.addr.addr[14], a.addr.addr[15]});
      const Mac gmac = {0x33, 0x33, 0xff, a.addr.addr[13], a.addr.addr[14], a.addr.addr[15]};
      Bytes ns = {0, 0, 0, 0};
      put(ns, a.addr.addr.data(), 16);
      ns.insert(ns.end(), {1, 1});
      put(ns, kNeighbour.data(), 6);
      out.push_back({fmt::format("IPv6 neighbour solicitation for {}", text(a.addr)),
                     icmp6(gmac, peer, group, 135, ns)});
    }
    for (const auto& a : h.addrs)
      if (a.addr.family == rules::Family::V6) {
        Bytes na = {0x60, 0, 0, 0};  // solicited, override
        put(na, peer.addr.data(), 16);
        na.insert(na.end(), {2, 1});
        put(na, kNeighbour.data(), 6);
        out.push_back({fmt::format("IPv6 neighbour advertisement from {} to {}", text(peer), text(a.addr)),
                       icmp6(me, peer, a.addr, 136, na)});
        break;
      }
    Bytes ra = {64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1};  // hop limit 64, lifetime 1800 s
    put(ra, kNeighbour.data(), 6);
    const Mac all_nodes = {0x33, 0x33, 0, 0, 0, 1};
    out.push_back({fmt::format("IPv6 router advertisement from {}", text(router)),
                   icmp6(all_nodes, router, v6({0xff, 0x02}, {0x01}), 134, ra)});
  }
  for (const auto& a : h.addrs) {
    if (!a.leased) continue;
    if (a.addr.family == rules::Family::V4) {
      const rules::Prefix server = h.gateway4 ? *h.gateway4 : neighbour_of(a);
      Bytes boot(236, 0);
      boot[0] = 2;  // BOOTREPLY
      boot[1] = 1;
      boot[2] = 6;
      std::copy(a.addr.addr.begin(), a.addr.addr.begin() + 4, boot.begin() + 16);  // yiaddr
      std::copy(me.begin(), me.end(), boot.begin() + 28);                          // chaddr
      boot.insert(boot.end(), {99, 130, 83, 99, 53, 1, 5, 255});                   // DHCPACK
      out.push_back({fmt::format("DHCP reply from {} to {} (UDP 67 -> 68)", text(server), text(a.addr)),
                     udp(me, server, 67, a.addr, 68, boot)});
    } else if (a.prefixlen == 128) {
      const auto server = v6({0xfe, 0x80}, {0x01});
      Bytes reply = {7, 0x12, 0x34, 0x56};  // REPLY, transaction id
      out.push_back({fmt::format("DHCPv6 reply from {} (UDP 547 -> 546)", text(server)),
                     udp(me, server, 547, a.addr, 546, reply)});
    }
  }
  for (const auto& m : h.management) {
    const HostFacts::Address* to = m.family == rules::Family::V6 ? first6 : first4;
    if (!to) continue;
    rules::Prefix from = m;
    const std::size_t bits = alen(m) * 8;
    if (m.len + 1u < bits) from.addr[alen(m) - 1] |= 1;  // its first host
    from.len = static_cast<std::uint8_t>(bits);
    out.push_back({fmt::format("management {}: a connection from {} to {}:{} (TCP SYN)",
                               rules::prefix_to_string(m), text(from), text(to->addr), ssh_port),
                   tcp(me, from, 40000, to->addr, ssh_port, kTcpSyn)});
  }
  return out;
}

namespace {
// An address of an rtnetlink reply, as a host prefix of its family.
std::optional<rules::Prefix> rta_prefix(const rtattr* a, unsigned char family) {
  const std::size_t len = RTA_PAYLOAD(a);
  if ((family != AF_INET || len != 4) && (family != AF_INET6 || len != 16)) return std::nullopt;
  rules::Prefix p{};
  p.family = family == AF_INET6 ? rules::Family::V6 : rules::Family::V4;
  p.len = static_cast<std::uint8_t>(len * 8);
  std::memcpy(p.addr.data(), RTA_DATA(a), len);
  return p;
}
}  // namespace

Result<HostFacts> host_facts(const Interface& iface, const std::vector<rules::Prefix>& management) {
  HostFacts h;
  h.iface = iface.name;
  h.management = management;
  // What `ip addr`, `ip route` would say, from rtnetlink (no process to run:
  // three of them took 30-60 ms of every guarded change).
  if (auto mac = interface_mac(iface.ifindex)) h.mac = *mac;
  // Its addresses, in the kernel's order: the local one (a point-to-point
  // address's own end), held with a lifetime unless permanent (`ip` says
  // "dynamic": DHCP, or SLAAC).
  XG_CHECK(rtnl_dump(
      RTM_GETADDR, AF_UNSPEC,
      [&](const nlmsghdr& nh) {
        if (nh.nlmsg_type != RTM_NEWADDR) return;
        const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(&nh));
        if (static_cast<int>(ifa->ifa_index) != iface.ifindex) return;
        std::optional<rules::Prefix> local, address;
        std::uint32_t flags = ifa->ifa_flags;
        int len = static_cast<int>(IFA_PAYLOAD(&nh));
        for (const auto* a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
          if (a->rta_type == IFA_LOCAL) local = rta_prefix(a, ifa->ifa_family);
          if (a->rta_type == IFA_ADDRESS) address = rta_prefix(a, ifa->ifa_family);
          if (a->rta_type == IFA_FLAGS && RTA_PAYLOAD(a) == 4) std::memcpy(&flags, RTA_DATA(a), 4);
        }
        if (!local) local = address;
        if (!local) return;
        h.addrs.push_back({*local, ifa->ifa_prefixlen, (flags & IFA_F_PERMANENT) == 0});
      },
      "addresses"));
  // The IPv4 default route of the main table by this interface, with a
  // gateway (the last, as `ip route show default dev` lists them).
  XG_CHECK(rtnl_routes(AF_INET, [&](const RtRoute& r) {
    if (r.family != AF_INET || r.dst_len != 0 || r.table != RT_TABLE_MAIN || r.oif != iface.ifindex ||
        !r.gateway)
      return;
    rules::Prefix g;
    g.family = rules::Family::V4;
    g.len = 32;
    g.addr = *r.gateway;
    h.gateway4 = g;
  }));
  if (const char* env = std::getenv("SSH_CONNECTION"); env && *env) {
    auto s = XG_TRY(parse_ssh_connection(env));
    bool ours = false;
    for (const auto& a : h.addrs) ours |= a.addr == s.server;
    if (!ours) {
      // The route the kernel picks to the client (`ip route get`).
      auto out = run_checked({"ip", "-j", "route", "get", text(s.client)}, std::chrono::seconds(10));
      auto via = out ? nlohmann::json::parse(*out, nullptr, false) : nlohmann::json();
      ours = via.is_array() && !via.empty() && via[0].is_object() && via[0].value("dev", "") == iface.name;
    }
    if (ours) h.ssh = s;
  }
  return h;
}

namespace {
Frame frame_of(const Probe& p) {
  Frame f;
  f.data = p.frame;
  f.wire_len = static_cast<std::uint32_t>(p.frame.size());
  return f;
}
}  // namespace

Result<std::vector<Cut>> lockout_cuts(Simulator& after, const std::vector<Probe>& probes) {
  std::vector<Cut> cuts;
  for (std::size_t i = 0; i < probes.size(); ++i) {
    const auto v = XG_TRY(after.run(frame_of(probes[i])));
    if (!v.simulated || v.action == XDP_PASS) continue;
    Cut c;
    c.what = probes[i].what;
    c.probe = i;
    c.verdict = std::string(action_name(v.action));
    if (!v.rule) {
      c.by = "the non-IP/malformed action";
    } else if (*v.rule == 0) {
      c.by = "the default action";
    } else {
      c.rule = v.rule;
      std::string rule_text;
      for (const auto& r : after.rules())
        if (r.id == *v.rule) rule_text = r.text;
      c.by = *v.rule == kNewRule ? fmt::format("the new rule ({})", rule_text)
                                 : fmt::format("rule id {} ({})", *v.rule, rule_text);
    }
    cuts.push_back(std::move(c));
  }
  return cuts;
}

Result<std::vector<Cut>> passed_now(Simulator& before, std::vector<Cut> cuts,
                                    const std::vector<Probe>& probes) {
  std::vector<Cut> out;
  for (auto& c : cuts) {
    if (c.probe >= probes.size()) return fail(EINVAL, "probe {} of {}", c.probe, probes.size());
    const auto v = XG_TRY(before.run(frame_of(probes[c.probe])));
    if (v.simulated && v.action != XDP_PASS) continue;  // cut already: not the change's doing
    out.push_back(std::move(c));
  }
  return out;
}

std::string refusal(const std::string& iface, const std::vector<Cut>& cuts) {
  // One clause per rule and verdict: "the default action would drop A, B and C".
  std::vector<std::pair<std::string, std::vector<std::string>>> by;
  for (const auto& c : cuts) {
    const std::string key = fmt::format("{} would {}", c.by, c.verdict);
    auto it = std::find_if(by.begin(), by.end(), [&](const auto& b) { return b.first == key; });
    if (it == by.end()) it = by.insert(by.end(), {key, {}});
    it->second.push_back(c.what);
  }
  std::string s = fmt::format("refused: it would cut the operator off {}: ", iface);
  for (std::size_t i = 0; i < by.size(); ++i) {
    s += fmt::format("{}{} ", i ? "; " : "", by[i].first);
    const auto& w = by[i].second;
    for (std::size_t j = 0; j < w.size(); ++j) s += (j == 0 ? "" : j + 1 == w.size() ? " and " : ", ") + w[j];
  }
  s += ". Allow them first, or make the change with --force (config: [guard] lockout-guard = false)";
  return s;
}

Result<Lockout> lockout_after(const std::string& name, const std::vector<rules::Prefix>& management,
                              const After& after) {
  Lockout l;
  const FaultPointsOff quiet;
  l.iface = XG_TRY(find_interface(name));
  l.probes = probes(XG_TRY(host_facts(l.iface, management)));
  if (l.probes.empty()) return l;
  auto sim = XG_TRY(after(l.iface));
  l.cuts = XG_TRY(lockout_cuts(sim, l.probes));
  return l;
}

Result<void> lockout_verdict(const Lockout& l, bool lock_held) {
  if (l.cuts.empty()) return {};
  const FaultPointsOff quiet;
  auto cuts = l.cuts;
  // Dropped after the change: cut by it only if it passes now.
  if (Guard::open(l.iface)) {
    auto now = XG_TRY(Simulator::from_interface(l.iface, {}, lock_held));
    cuts = XG_TRY(passed_now(now, std::move(cuts), l.probes));
    if (cuts.empty()) return {};
  }
  return fail(EPERM, "{}", refusal(l.iface.name, cuts));
}

Result<void> check_lockout(const std::string& name, bool force, const std::vector<rules::Prefix>& management,
                           const After& after, bool lock_held) {
  if (force) return {};
  return lockout_verdict(XG_TRY(lockout_after(name, management, after)), lock_held);
}

Result<void> check_rule_edit(const std::string& name, bool force, const Simulator::Edit& edit,
                             bool lock_held) {
  if (force) return {};
  auto whole = [&] {
    return check_lockout(
        name, false, {}, [&](const Interface& i) { return Simulator::from_interface(i, edit, lock_held); },
        lock_held);
  };
  if (edit.set || edit.add.has_value() == edit.del.has_value()) return whole();
  const FaultPointsOff quiet;
  auto iface = XG_TRY(find_interface(name));
  // The one rule whose verdicts change, and whether it passes.
  std::string rule;
  if (edit.add) {
    rule = *edit.add;
  } else {
    auto text = XG_TRY(XG_TRY(Guard::open(iface)).rule_text(*edit.del));
    if (!text) return whole();  // which names what is missing
    rule = std::move(*text);
  }
  auto parsed = rules::parse_rule(rule);
  if (!parsed) return whole();  // which says why, where it is compiled
  const bool passes = parsed->action == rules::Action::Pass;
  // A pass rule added, or a rule that does not pass deleted: what it
  // decides passes now, or passes after.
  if (passes == edit.add.has_value()) return {};
  const auto probes_now = probes(XG_TRY(host_facts(iface, {})));
  if (probes_now.empty()) return {};
  auto alone = XG_TRY(Simulator::of_rule(iface, rule, lock_held));
  for (const auto& p : probes_now) {
    const auto v = XG_TRY(alone.run(frame_of(p)));
    if (v.simulated && v.rule == kNewRule) return whole();
  }
  return {};
}

std::function<Result<void>()> apply_guard(const config::Config& conf, const std::vector<std::string>& only) {
  auto checks = std::make_shared<std::vector<std::future<Result<Lockout>>>>();
  if (conf.lockout_guard)
    for (const auto& s : conf.interfaces) {
      if (!only.empty() && std::find(only.begin(), only.end(), s.name) == only.end()) continue;
      if (!find_interface(s.name)) continue;  // apply names it, with its line
      checks->push_back(std::async(std::launch::async, [&conf, &s] {
        return lockout_after(s.name, conf.management,
                             [&](const Interface&) { return Simulator::from_config(conf, s); });
      }));
    }
  return [checks]() -> Result<void> {
    Result<void> first;
    for (auto& c : *checks) {
      auto l = c.get();  // every thread joined, the first failure kept
      Result<void> r = l ? lockout_verdict(*l, true) : Result<void>(tl::unexpected(std::move(l.error())));
      if (!r && first) first = std::move(r);
    }
    checks->clear();
    return first;
  };
}

}  // namespace xdpguard::simulate
