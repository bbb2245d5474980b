// Random rule sets and packets for property and differential tests. Rules are
// normalised as the parser produces them; packets are either aimed at a rule
// of the set (so that matches are frequent) or random. Distributions favour
// edge cases: ports 0/65535, /0 and full-length prefixes, both families.
//
// Two optional extras:
//  - named sets: given sets (use_sets), rules also say `saddr @name` /
//    `daddr @name`, packet_for aims inside (or next to) the members, and
//    membership() answers rules::first_match's set question the way xdpguard
//    defines it (a set holds both families; a packet is tested against the
//    prefixes of its own family);
//  - big mode (big_rules): thousands of rules over dozens of shapes, most of
//    them sharing a family and protocol, with values spread widely enough
//    that the classifier's planner builds Trie4, Ports and Hash6 tables.
// Everything is a pure function of the seed; a RuleGen without sets draws
// exactly the random numbers it always did (existing seeds keep their sets).
#pragma once

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "oracle/reference.h"
#include "rules/rule.h"
#include "support/packet.h"

namespace xdpguard::test {

// A named prefix set as Guard::load_set takes it: both families in one set.
struct NamedSet {
  std::string name;
  std::vector<rules::Prefix> prefixes;
};

// Is addr (of family 4 or 6) inside one of s's prefixes of that family?
bool set_contains(const NamedSet& s, std::uint8_t family, const std::array<std::uint8_t, 16>& addr);

class RuleGen {
 public:
  explicit RuleGen(unsigned seed) : rng_(seed) {}

  int pick(int n) { return static_cast<int>(rng_() % static_cast<unsigned>(n)); }
  bool coin(int pct) { return pick(100) < pct; }
  std::uint32_t raw() { return static_cast<std::uint32_t>(rng_()); }

  rules::Rule rule();
  std::vector<rules::Rule> rules(int n);
  // A packet aimed at `r` (usually matching it), or a random one.
  rules::PacketFields packet_for(const rules::Rule& r);
  rules::PacketFields random_packet();

  // ---- named sets ----
  // n random sets named s0..s<n-1>: 1..40 prefixes of both families (some
  // sets hold only one family), host routes to /8, overlapping at times.
  std::vector<NamedSet> make_sets(int n);
  // From now on about pct% of rules reference one of `sets` (as saddr, daddr
  // or both); packet_for aims at their members. An empty vector turns it off.
  void use_sets(std::vector<NamedSet> sets, int pct = 20);
  const std::vector<NamedSet>& sets() const { return sets_; }
  // Membership in the sets given to use_sets (a copy of them: stays valid
  // when the generator changes or goes). Unknown names are not members.
  rules::SetMembership membership() const;

  // ---- VLAN tags ----
  // From now on about pct% of rules say `vlan none`, `vlan N` or `vlan N
  // inner M` (IDs from a small pool, so that rules and frames meet), and
  // packets carry up to max_tags tags chosen here (PacketFields::nvlan,
  // vlan), aimed at the rule's when packet_for has one; frame_for then
  // writes exactly those tags. Off (the default), frame_for draws the tags
  // as it always did and reports them in the PacketFields.
  void use_vlans(int pct, int max_tags = 2);
  bool vlans() const { return vlan_pct_ > 0; }

  // ---- FlowSpec matches ----
  // From now on about pct% of rules carry some of icmp-type, icmp-code
  // (ICMP rules), length, dscp and frag (values from small pools with the
  // edges, single values, ranges and lists), and packets get ICMP types and
  // codes, DSCPs, DF and lengths drawn here (aimed at the rule's values when
  // packet_for has one: PacketFields::ip_len is then the length frame_for
  // aims at). Off (the default), no rule has them and packets draw nothing
  // new: existing seeds keep their rules and frames.
  void use_flowspec(int pct);
  bool flowspec() const { return flowspec_pct_ > 0; }

  // ---- big mode ----
  // n rules over `shapes` random rule shapes (family, protocol, which
  // addresses with which prefix lengths, exact ports or ranges, TCP flags,
  // sets if use_sets was called), shape popularity skewed so that a few
  // shapes hold hundreds of rules each.
  std::vector<rules::Rule> big_rules(int n, int shapes = 40);

 private:
  struct Shape {
    rules::Family family = rules::Family::Any;
    std::optional<std::uint8_t> proto;
    int slen = -1, dlen = -1;  // literal prefix length, -1: none
    bool sset = false, dset = false;
    int sport = 0, dport = 0;  // 0 none, 1 exact, 2 range
    std::uint8_t flags_mask = 0;
  };
  Shape big_shape();
  rules::Rule big_rule(const Shape& s);
  rules::Prefix wide_prefix(std::uint8_t family, int len);
  std::uint16_t wide_port();
  rules::PortRange wide_range();
  rules::AddrMatch set_ref();
  // Puts a into (usually) a member of the set of packet family p.family.
  void aim_at_set(const std::string& set, std::uint8_t family, std::array<std::uint8_t, 16>& a);

  std::array<std::uint8_t, 16> addr(std::uint8_t family);
  rules::Prefix prefix(std::uint8_t family);
  std::uint16_t port();
  rules::PortRange range();
  std::mt19937 rng_;
  std::vector<NamedSet> sets_;
  int set_pct_ = 0;
  int vlan_pct_ = 0, vlan_max_tags_ = 2;
  int flowspec_pct_ = 0;
  rules::ValueList value_list(std::uint32_t max, const std::vector<std::uint32_t>& pool);
  std::uint32_t aim_at(const std::optional<rules::ValueList>& l, std::uint32_t max,
                       const std::vector<std::uint32_t>& pool);

  std::uint16_t vlan_id();
  void random_tags(rules::PacketFields& p);
};

// A frame carrying p's fields in a random encoding: VLAN tags, IPv4
// options, IPv6 extension headers, a first fragment; p.frag makes it a
// non-first fragment. The FlowSpec fields come out as the frame has them
// (ip_len, frag_bits); in flowspec mode the frame also carries p's dscp,
// ICMP type and code, DF when p.frag_bits asks for it (IPv4), and a payload
// that makes ip_len the one asked for where the headers leave room. `tag` becomes the source MAC (02:d1:tag),
// so a frame can be recognised where it arrives. VLAN tags: with g.vlans(), p's own (two tags: an 802.1ad
// S-tag, or at times an 802.1Q one, over an 802.1Q C-tag); otherwise drawn at random, sometimes one (twice if
// double_vlan), and written into p.nvlan/p.vlan so that the reference sees them too.
Bytes frame_for(rules::PacketFields& p, RuleGen& g, std::uint32_t tag, bool double_vlan);

std::string ntop(std::uint8_t family, const std::array<std::uint8_t, 16>& a);

}  // namespace xdpguard::test
