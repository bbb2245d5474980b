#include "support/packet.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstdio>
#include <stdexcept>
#include <type_traits>

namespace xdpguard::test {
namespace {

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

void put32(Bytes& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}

template <std::size_t N>
void put(Bytes& b, const std::uint8_t (&a)[N]) {
  b.insert(b.end(), a, a + N);
}

void set16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

// One's-complement sum of 16-bit big-endian words (odd tail padded with 0).
std::uint32_t sum16(std::span<const std::uint8_t> b, std::uint32_t acc = 0) {
  for (std::size_t i = 0; i + 1 < b.size(); i += 2) acc += (b[i] << 8) | b[i + 1];
  if (b.size() % 2) acc += b.back() << 8;
  return acc;
}

std::uint16_t fold(std::uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<std::uint16_t>(~acc & 0xffff);
}

void parse_mac(std::string_view text, std::uint8_t (&out)[6]) {
  // Six hex bytes of one or two digits, colon-separated.
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 6; i++) {
    if (i > 0) {
      if (p == end || *p != ':') throw std::invalid_argument("packet: bad MAC address " + std::string(text));
      ++p;
    }
    unsigned v = 0;
    auto [next, ec] = std::from_chars(p, end, v, 16);
    if (ec != std::errc() || next - p > 2)
      throw std::invalid_argument("packet: bad MAC address " + std::string(text));
    out[i] = static_cast<std::uint8_t>(v);
    p = next;
  }
  if (p != end) throw std::invalid_argument("packet: bad MAC address " + std::string(text));
}

void parse_ip4(std::string_view text, std::uint8_t (&out)[4]) {
  if (::inet_pton(AF_INET, std::string(text).c_str(), out) != 1)
    throw std::invalid_argument("packet: bad IPv4 address " + std::string(text));
}

void parse_ip6(std::string_view text, std::uint8_t (&out)[16]) {
  if (::inet_pton(AF_INET6, std::string(text).c_str(), out) != 1)
    throw std::invalid_argument("packet: bad IPv6 address " + std::string(text));
}

// Pads TLV options so that 2 + options is a multiple of 8 (RFC 8200 4.2).
Bytes pad_tlv(Bytes opts) {
  std::size_t pad = (8 - (2 + opts.size()) % 8) % 8;
  if (pad == 1) {
    opts.push_back(0);  // Pad1
  } else if (pad > 1) {
    opts.push_back(1);  // PadN
    opts.push_back(static_cast<std::uint8_t>(pad - 2));
    opts.insert(opts.end(), pad - 2, 0);
  }
  return opts;
}

// The layers from the last added back to the first (std::views::reverse over
// this vector of variants does not compile with clang 14 and libstdc++ 12).
template <class V>
struct NewestFirst {
  V& layers;
  auto begin() { return layers.rbegin(); }
  auto end() { return layers.rend(); }
};
template <class V>
NewestFirst<V> newest_first(V& layers) {
  return {layers};
}

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

constexpr std::uint8_t kProtoTcp = 6, kProtoUdp = 17, kProtoIcmp = 1, kProtoIcmp6 = 58;
constexpr std::uint8_t kExtHopByHop = 0, kExtRouting = 43, kExtFragment = 44, kExtAh = 51, kExtDestOpts = 60,
                       kNoNextHeader = 59;

}  // namespace

template <class T>
T& Packet::last(const char* setter) {
  for (auto& layer : newest_first(layers_))
    if (auto* l = std::get_if<T>(&layer)) return *l;
  throw std::invalid_argument(std::string("packet: ") + setter + "(): no layer it applies to");
}

// ---- L2 -------------------------------------------------------------------

Packet& Packet::eth(std::string_view dst, std::string_view src) {
  layer::Eth e{};
  parse_mac(dst, e.dst);
  parse_mac(src, e.src);
  layers_.emplace_back(e);
  return *this;
}

Packet& Packet::vlan(std::uint16_t vid, std::uint8_t pcp) {
  layers_.emplace_back(layer::Vlan{kTpid8021Q, vid, pcp, std::nullopt});
  return *this;
}

Packet& Packet::vlan_ad(std::uint16_t vid, std::uint8_t pcp) {
  layers_.emplace_back(layer::Vlan{kTpid8021AD, vid, pcp, std::nullopt});
  return *this;
}

Packet& Packet::ethertype(std::uint16_t type) {
  for (auto& layer : newest_first(layers_)) {
    if (auto* e = std::get_if<layer::Eth>(&layer)) {
      e->type = type;
      return *this;
    }
    if (auto* v = std::get_if<layer::Vlan>(&layer)) {
      v->type = type;
      return *this;
    }
  }
  throw std::invalid_argument("packet: ethertype(): no Ethernet header or VLAN tag");
}

Packet& Packet::arp(std::string_view sender_ip, std::string_view target_ip, std::uint16_t op) {
  layer::Arp a{};
  const auto& e = last<layer::Eth>("arp");
  std::copy(std::begin(e.src), std::end(e.src), a.sha);
  parse_ip4(sender_ip, a.spa);
  parse_ip4(target_ip, a.tpa);
  a.op = op;
  layers_.emplace_back(a);
  return *this;
}

// ---- IPv4 -----------------------------------------------------------------

Packet& Packet::ipv4(std::string_view src, std::string_view dst) {
  layer::Ipv4 ip{};
  parse_ip4(src, ip.src);
  parse_ip4(dst, ip.dst);
  layers_.emplace_back(ip);
  return *this;
}

Packet& Packet::ip_options(std::initializer_list<std::uint8_t> options) { return ip_options(Bytes(options)); }

Packet& Packet::ip_options(Bytes options) {
  last<layer::Ipv4>("ip_options").options = std::move(options);
  return *this;
}

Packet& Packet::ttl(std::uint8_t ttl) {
  last<layer::Ipv4>("ttl").ttl = ttl;
  return *this;
}

Packet& Packet::tos(std::uint8_t tos) {
  last<layer::Ipv4>("tos").tos = tos;
  return *this;
}

Packet& Packet::ip_id(std::uint16_t id) {
  last<layer::Ipv4>("ip_id").id = id;
  return *this;
}

Packet& Packet::dont_fragment() {
  last<layer::Ipv4>("dont_fragment").df = true;
  return *this;
}

Packet& Packet::fragment(std::uint16_t offset8, bool more_fragments) {
  if (offset8 > 0x1fff) throw std::invalid_argument("packet: fragment(): offset > 8191");
  auto& ip = last<layer::Ipv4>("fragment");
  ip.frag_offset = offset8;
  ip.mf = more_fragments;
  return *this;
}

Packet& Packet::ihl(std::uint8_t words) {
  last<layer::Ipv4>("ihl").ihl = words;
  return *this;
}

Packet& Packet::tot_len(std::uint16_t bytes) {
  last<layer::Ipv4>("tot_len").tot_len = bytes;
  return *this;
}

// ---- IPv6 -----------------------------------------------------------------

Packet& Packet::ipv6(std::string_view src, std::string_view dst) {
  layer::Ipv6 ip{};
  parse_ip6(src, ip.src);
  parse_ip6(dst, ip.dst);
  layers_.emplace_back(ip);
  return *this;
}

Packet& Packet::hop_limit(std::uint8_t hops) {
  last<layer::Ipv6>("hop_limit").hop_limit = hops;
  return *this;
}

Packet& Packet::traffic_class(std::uint8_t tclass) {
  last<layer::Ipv6>("traffic_class").tclass = tclass;
  return *this;
}

Packet& Packet::flow_label(std::uint32_t flow) {
  last<layer::Ipv6>("flow_label").flow = flow & 0xfffff;
  return *this;
}

Packet& Packet::payload_len(std::uint16_t bytes) {
  last<layer::Ipv6>("payload_len").payload_len = bytes;
  return *this;
}

Packet& Packet::hop_by_hop(Bytes options) {
  layers_.emplace_back(layer::Ext{kExtHopByHop, pad_tlv(std::move(options)), {}, {}, {}});
  return *this;
}

Packet& Packet::dest_opts(Bytes options) {
  layers_.emplace_back(layer::Ext{kExtDestOpts, pad_tlv(std::move(options)), {}, {}, {}});
  return *this;
}

Packet& Packet::routing(const std::vector<std::string>& addresses, std::uint8_t segments_left,
                        std::uint8_t type) {
  layer::Ext e{kExtRouting, {}, {}, {}, {}};
  e.body = {type, segments_left, 0, 0, 0, 0};
  std::array<std::uint8_t, 16> a{};
  for (const auto& text : addresses) {
    std::uint8_t raw[16];
    parse_ip6(text, raw);
    e.body.insert(e.body.end(), raw, raw + 16);
    std::copy(raw, raw + 16, a.begin());
  }
  // RFC 8200 8.1: upper-layer checksums use the final destination.
  if (segments_left > 0 && !addresses.empty()) e.final_dst = a;
  layers_.emplace_back(std::move(e));
  return *this;
}

Packet& Packet::fragment6(std::uint16_t offset8, bool more_fragments, std::uint32_t id) {
  if (offset8 > 0x1fff) throw std::invalid_argument("packet: fragment6(): offset > 8191");
  layer::Ext e{kExtFragment, {}, {}, {}, {}};
  put16(e.body, static_cast<std::uint16_t>(offset8 << 3 | (more_fragments ? 1 : 0)));
  put32(e.body, id);
  e.len = 0;  // the "reserved" byte
  layers_.emplace_back(std::move(e));
  return *this;
}

Packet& Packet::ah(std::uint32_t spi, std::uint32_t seq, Bytes icv) {
  layer::Ext e{kExtAh, {0, 0}, {}, {}, {}};  // reserved
  put32(e.body, spi);
  put32(e.body, seq);
  e.body.insert(e.body.end(), icv.begin(), icv.end());
  if ((2 + e.body.size()) % 4) throw std::invalid_argument("packet: ah(): ICV not 4-byte aligned");
  layers_.emplace_back(std::move(e));
  return *this;
}

Packet& Packet::ext(std::uint8_t type, Bytes body) {
  body.resize(body.size() + (8 - (2 + body.size()) % 8) % 8, 0);
  layers_.emplace_back(layer::Ext{type, std::move(body), {}, {}, {}});
  return *this;
}

Packet& Packet::ext_len(std::uint8_t len) {
  last<layer::Ext>("ext_len").len = len;
  return *this;
}

// ---- either IP version ----------------------------------------------------

Packet& Packet::proto(std::uint8_t proto) {
  for (auto& layer : newest_first(layers_)) {
    bool done = std::visit(
        Overloaded{[&](layer::Ipv4& l) { return l.proto = proto, true; },
                   [&](layer::Ipv6& l) { return l.next = proto, true; },
                   [&](layer::Ext& l) { return l.next = proto, true; }, [](auto&) { return false; }},
        layer);
    if (done) return *this;
  }
  throw std::invalid_argument("packet: proto(): no IPv4, IPv6 or extension header");
}

Packet& Packet::ip_version(std::uint8_t version) {
  for (auto& layer : newest_first(layers_)) {
    bool done = std::visit(
        Overloaded{[&](layer::Ipv4& l) { return l.version = version, true; },
                   [&](layer::Ipv6& l) { return l.version = version, true; }, [](auto&) { return false; }},
        layer);
    if (done) return *this;
  }
  throw std::invalid_argument("packet: ip_version(): no IPv4 or IPv6 header");
}

// ---- L4 -------------------------------------------------------------------

Packet& Packet::tcp(std::uint16_t sport, std::uint16_t dport) {
  layer::Tcp t{};
  t.sport = sport;
  t.dport = dport;
  layers_.emplace_back(t);
  return *this;
}

Packet& Packet::flags(std::uint8_t flags) {
  last<layer::Tcp>("flags").flags = flags;
  return *this;
}

Packet& Packet::seq(std::uint32_t seq) {
  last<layer::Tcp>("seq").seq = seq;
  return *this;
}

Packet& Packet::ack_seq(std::uint32_t ack) {
  last<layer::Tcp>("ack_seq").ack = ack;
  return *this;
}

Packet& Packet::window(std::uint16_t window) {
  last<layer::Tcp>("window").window = window;
  return *this;
}

Packet& Packet::tcp_options(Bytes options) {
  options.resize(options.size() + (4 - options.size() % 4) % 4, 0);
  last<layer::Tcp>("tcp_options").options = std::move(options);
  return *this;
}

Packet& Packet::doff(std::uint8_t words) {
  last<layer::Tcp>("doff").doff = words;
  return *this;
}

Packet& Packet::udp(std::uint16_t sport, std::uint16_t dport) {
  layers_.emplace_back(layer::Udp{sport, dport, {}, {}});
  return *this;
}

Packet& Packet::udp_len(std::uint16_t bytes) {
  last<layer::Udp>("udp_len").len = bytes;
  return *this;
}

Packet& Packet::icmp(std::uint8_t type, std::uint8_t code, std::uint16_t id, std::uint16_t seq) {
  layers_.emplace_back(layer::Icmp{false, type, code, id, seq, {}});
  return *this;
}

Packet& Packet::icmp6(std::uint8_t type, std::uint8_t code, std::uint16_t id, std::uint16_t seq) {
  layers_.emplace_back(layer::Icmp{true, type, code, id, seq, {}});
  return *this;
}

Packet& Packet::checksum(std::uint16_t check) {
  for (auto& layer : newest_first(layers_)) {
    bool done = std::visit(
        Overloaded{[&](layer::Ipv4& l) { return l.check = check, true; },
                   [&](layer::Tcp& l) { return l.check = check, true; },
                   [&](layer::Udp& l) { return l.check = check, true; },
                   [&](layer::Icmp& l) { return l.check = check, true; }, [](auto&) { return false; }},
        layer);
    if (done) return *this;
  }
  throw std::invalid_argument("packet: checksum(): no layer with a checksum");
}

// ---- payload --------------------------------------------------------------

Packet& Packet::payload(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; i++) b[i] = static_cast<std::uint8_t>(i);
  return payload(std::move(b));
}

Packet& Packet::payload(Bytes data) {
  layers_.emplace_back(layer::Payload{std::move(data)});
  return *this;
}

Packet& Packet::payload(std::string_view text) { return payload(Bytes(text.begin(), text.end())); }

// ---- serialisation --------------------------------------------------------

Bytes Packet::bytes() const { return build().bytes; }

std::vector<HeaderSpan> Packet::layout() const { return build().layout; }

Packet::Built Packet::build() const {
  std::vector<Bytes> parts(layers_.size());
  Bytes rest;
  // Back to front: every length and checksum covers what follows its header.
  for (std::size_t i = layers_.size(); i-- > 0;) {
    parts[i] = build_layer(i, rest);
    rest.insert(rest.begin(), parts[i].begin(), parts[i].end());
  }
  Built b;
  b.bytes = std::move(rest);
  std::size_t off = 0;
  for (std::size_t i = 0; i < layers_.size(); i++) {
    static constexpr const char* kExtNames[] = {"hop_by_hop", "routing",   "fragment6",
                                                "ah",         "dest_opts", "ext"};
    std::string name =
        std::visit(Overloaded{[](const layer::Eth&) -> std::string { return "eth"; },
                              [](const layer::Vlan&) -> std::string { return "vlan"; },
                              [](const layer::Arp&) -> std::string { return "arp"; },
                              [](const layer::Ipv4&) -> std::string { return "ipv4"; },
                              [](const layer::Ipv6&) -> std::string { return "ipv6"; },
                              [](const layer::Ext& e) -> std::string {
                                switch (e.type) {
                                  case kExtHopByHop: return kExtNames[0];
                                  case kExtRouting: return kExtNames[1];
                                  case kExtFragment: return kExtNames[2];
                                  case kExtAh: return kExtNames[3];
                                  case kExtDestOpts: return kExtNames[4];
                                  default: return kExtNames[5];
                                }
                              },
                              [](const layer::Tcp&) -> std::string { return "tcp"; },
                              [](const layer::Udp&) -> std::string { return "udp"; },
                              [](const layer::Icmp& l) -> std::string { return l.v6 ? "icmp6" : "icmp"; },
                              [](const layer::Payload&) -> std::string { return "payload"; }},
                   layers_[i]);
    b.layout.push_back({std::move(name), off, parts[i].size()});
    off += parts[i].size();
  }
  return b;
}

Bytes Packet::build_layer(std::size_t i, const Bytes& rest) const {
  const std::size_t n = layers_.size();

  // Type field of an Ethernet header or VLAN tag: what layer i+1 is.
  auto next_ethertype = [&]() -> std::uint16_t {
    if (i + 1 >= n) return 0x9000;
    return std::visit(Overloaded{[](const layer::Vlan& v) -> std::uint16_t { return v.tpid; },
                                 [](const layer::Ipv4&) -> std::uint16_t { return 0x0800; },
                                 [](const layer::Ipv6&) -> std::uint16_t { return 0x86dd; },
                                 [](const layer::Arp&) -> std::uint16_t { return 0x0806; },
                                 [](const auto&) -> std::uint16_t { return 0x9000; }},
                      layers_[i + 1]);
  };
  // Protocol / next-header field: what layer i+1 is.
  auto next_proto = [&](bool v6) -> std::uint8_t {
    std::uint8_t none = v6 ? kNoNextHeader : 0;
    if (i + 1 >= n) return none;
    return std::visit(
        Overloaded{[](const layer::Ipv4&) -> std::uint8_t { return 4; },
                   [](const layer::Ipv6&) -> std::uint8_t { return 41; },
                   [](const layer::Ext& e) -> std::uint8_t { return e.type; },
                   [](const layer::Tcp&) -> std::uint8_t { return kProtoTcp; },
                   [](const layer::Udp&) -> std::uint8_t { return kProtoUdp; },
                   [](const layer::Icmp& l) -> std::uint8_t { return l.v6 ? kProtoIcmp6 : kProtoIcmp; },
                   [&](const auto&) -> std::uint8_t { return none; }},
        layers_[i + 1]);
  };
  // Checksum of an upper-layer segment (header with a zero checksum + rest),
  // over the pseudo header of the nearest IP layer before it; 0 without one.
  auto l4_checksum = [&](const Bytes& hdr, std::uint8_t proto) -> std::uint16_t {
    std::uint32_t len = static_cast<std::uint32_t>(hdr.size() + rest.size());
    std::uint32_t acc = sum16(rest, sum16(hdr));
    const std::array<std::uint8_t, 16>* final_dst = nullptr;
    for (std::size_t j = i; j-- > 0;) {
      if (const auto* e = std::get_if<layer::Ext>(&layers_[j]); e && e->final_dst && !final_dst)
        final_dst = &*e->final_dst;
      if (const auto* ip = std::get_if<layer::Ipv4>(&layers_[j])) {
        acc = sum16(ip->src, acc);
        acc = sum16(ip->dst, acc);
        return fold(acc + proto + len);
      }
      if (const auto* ip = std::get_if<layer::Ipv6>(&layers_[j])) {
        acc = sum16(ip->src, acc);
        acc = final_dst ? sum16(*final_dst, acc) : sum16(ip->dst, acc);
        return fold(acc + (len >> 16) + (len & 0xffff) + proto);
      }
    }
    return 0;
  };

  return std::visit(
      Overloaded{
          [&](const layer::Eth& l) {
            Bytes b;
            put(b, l.dst);
            put(b, l.src);
            put16(b, l.type.value_or(next_ethertype()));
            return b;
          },
          [&](const layer::Vlan& l) {
            Bytes b;
            put16(b, static_cast<std::uint16_t>((l.pcp & 7) << 13 | (l.vid & 0xfff)));
            put16(b, l.type.value_or(next_ethertype()));
            return b;
          },
          [&](const layer::Arp& l) {
            Bytes b;
            put16(b, 1);       // Ethernet
            put16(b, 0x0800);  // IPv4
            b.push_back(6);
            b.push_back(4);
            put16(b, l.op);
            put(b, l.sha);
            put(b, l.spa);
            b.insert(b.end(), 6, 0);  // target MAC: unknown
            put(b, l.tpa);
            return b;
          },
          [&](const layer::Ipv4& l) {
            Bytes opts = l.options;
            opts.resize(opts.size() + (4 - opts.size() % 4) % 4, 0);
            if (!l.ihl && opts.size() > 40)
              throw std::invalid_argument("packet: more than 40 bytes of IPv4 options");
            std::size_t total = 20 + opts.size() + rest.size();
            if (!l.tot_len && total > 0xffff)
              throw std::invalid_argument("packet: IPv4 datagram over 65535 bytes");
            Bytes b;
            std::uint8_t ihl = l.ihl.value_or(static_cast<std::uint8_t>(5 + opts.size() / 4));
            b.push_back(static_cast<std::uint8_t>(l.version.value_or(4) << 4 | (ihl & 0x0f)));
            b.push_back(l.tos);
            put16(b, l.tot_len.value_or(static_cast<std::uint16_t>(total)));
            put16(b, l.id);
            put16(b, static_cast<std::uint16_t>((l.df ? 0x4000 : 0) | (l.mf ? 0x2000 : 0) | l.frag_offset));
            b.push_back(l.ttl);
            b.push_back(l.proto.value_or(next_proto(false)));
            put16(b, 0);
            put(b, l.src);
            put(b, l.dst);
            b.insert(b.end(), opts.begin(), opts.end());
            set16(b, 10, l.check.value_or(fold(sum16(b))));
            return b;
          },
          [&](const layer::Ipv6& l) {
            if (!l.payload_len && rest.size() > 0xffff)
              throw std::invalid_argument("packet: IPv6 payload over 65535 bytes (no jumbograms)");
            Bytes b;
            put32(b, static_cast<std::uint32_t>(l.version.value_or(6)) << 28 |
                         static_cast<std::uint32_t>(l.tclass) << 20 | l.flow);
            put16(b, l.payload_len.value_or(static_cast<std::uint16_t>(rest.size())));
            b.push_back(l.next.value_or(next_proto(true)));
            b.push_back(l.hop_limit);
            put(b, l.src);
            put(b, l.dst);
            return b;
          },
          [&](const layer::Ext& l) {
            Bytes b;
            b.push_back(l.next.value_or(next_proto(true)));
            std::size_t total = 2 + l.body.size();
            std::size_t units = l.type == kExtAh ? total / 4 - 2 : total / 8 - 1;
            b.push_back(l.len.value_or(static_cast<std::uint8_t>(units)));
            b.insert(b.end(), l.body.begin(), l.body.end());
            return b;
          },
          [&](const layer::Tcp& l) {
            Bytes b;
            put16(b, l.sport);
            put16(b, l.dport);
            put32(b, l.seq);
            put32(b, l.ack);
            std::uint8_t doff = l.doff.value_or(static_cast<std::uint8_t>(5 + l.options.size() / 4));
            b.push_back(static_cast<std::uint8_t>((doff & 0x0f) << 4));
            b.push_back(l.flags);
            put16(b, l.window);
            put16(b, 0);
            put16(b, l.urg);
            b.insert(b.end(), l.options.begin(), l.options.end());
            set16(b, 16, l.check.value_or(l4_checksum(b, kProtoTcp)));
            return b;
          },
          [&](const layer::Udp& l) {
            Bytes b;
            put16(b, l.sport);
            put16(b, l.dport);
            put16(b, l.len.value_or(static_cast<std::uint16_t>(8 + rest.size())));
            put16(b, 0);
            std::uint16_t check = l4_checksum(b, kProtoUdp);
            set16(b, 6, l.check.value_or(check == 0 ? 0xffff : check));  // RFC 768
            return b;
          },
          [&](const layer::Icmp& l) {
            Bytes b{l.type, l.code, 0, 0};
            put16(b, l.id);
            put16(b, l.seq);
            std::uint16_t check = l.v6 ? l4_checksum(b, kProtoIcmp6) : fold(sum16(rest, sum16(b)));
            set16(b, 2, l.check.value_or(check));
            return b;
          },
          [&](const layer::Payload& l) { return l.data; }},
      layers_[i]);
}

// ---- catalogue ------------------------------------------------------------

Packet lab_packet(bool v6) {
  Packet p;
  p.eth();
  if (v6)
    p.ipv6("fd00::1", "fd00::2");
  else
    p.ipv4("198.18.0.1", "198.18.0.2");
  return p;
}

const std::vector<SampleFrame>& sample_frames() {
  static const std::vector<SampleFrame> frames = [] {
    const char *a4 = "198.18.0.1", *b4 = "198.18.0.2", *a6 = "fd00::1", *b6 = "fd00::2";
    // MSS 1460, SACK permitted, timestamps, NOP, window scale 7 (20 bytes: doff 10)
    const Bytes syn_opts = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0,    0,
                            0,    1,    0,    0,    0,    0,    0x01, 0x03, 0x03, 0x07};
    // Record route with 9 slots + NOP: the 40-byte maximum (IHL 15)
    Bytes rr = {0x07, 39, 4};
    rr.resize(39, 0);
    rr.push_back(0x01);
    const Bytes router_alert4 = {0x94, 0x04, 0x00, 0x00};
    const Bytes router_alert6 = {0x05, 0x02, 0x00, 0x00};
    Bytes big_padn = {0x01, 100};
    big_padn.resize(102, 0);

    return std::vector<SampleFrame>{
        {"ipv4_tcp_syn", Packet().eth().ipv4(a4, b4).tcp(40000, 80).flags(SYN)},
        {"ipv4_tcp_syn_options",
         Packet().eth().ipv4(a4, b4).tcp(40001, 443).flags(SYN).tcp_options(syn_opts)},
        {"ipv4_tcp_data",
         Packet().eth().ipv4(a4, b4).tcp(40002, 80).flags(PSH | ACK).seq(1000).ack_seq(2000).payload(100)},
        {"ipv4_udp", Packet().eth().ipv4(a4, b4).udp(5353, 53).payload(12)},
        {"ipv4_icmp_echo", Packet().eth().ipv4(a4, b4).icmp(8, 0, 0x1234, 1).payload(8)},
        {"ipv4_options_max", Packet().eth().ipv4(a4, b4).ip_options(rr).tcp(40003, 22).flags(ACK)},
        {"ipv4_router_alert_udp", Packet().eth().ipv4(a4, b4).ip_options(router_alert4).udp(1000, 2000)},
        {"ipv4_frag_first", Packet().eth().ipv4(a4, b4).fragment(0, true).udp(1001, 2001).payload(32)},
        {"ipv4_frag_middle", Packet().eth().ipv4(a4, b4).fragment(100, true).proto(6).payload(48)},
        {"ipv4_frag_last", Packet().eth().ipv4(a4, b4).fragment(185, false).proto(17).payload(40)},
        {"ipv4_gre_raw", Packet().eth().ipv4(a4, b4).proto(47).payload(24)},
        {"ipv6_in_ipv4", Packet().eth().ipv4(a4, b4).ipv6(a6, b6).udp(1002, 2002)},
        {"vlan0_priority_ipv4_udp", Packet().eth().vlan(0, 5).ipv4(a4, b4).udp(1003, 2003).payload(4)},
        {"vlan1_ipv4_tcp", Packet().eth().vlan(100).ipv4(a4, b4).tcp(40004, 80).flags(SYN)},
        {"vlan1_ad_ipv6_icmp6", Packet().eth().vlan_ad(4094).ipv6(a6, b6).icmp6(128, 0, 7, 1).payload(16)},
        {"vlan2_qinq_ipv4_udp",
         Packet().eth().vlan_ad(100).vlan(200).ipv4(a4, b4).udp(1004, 2004).payload(6)},
        {"vlan2_qq_ipv6_tcp",
         Packet().eth().vlan(10).vlan(20).ipv6(a6, b6).tcp(40005, 8080).flags(FIN | ACK)},
        {"ipv6_tcp_syn", Packet().eth().ipv6(a6, b6).tcp(40006, 80).flags(SYN)},
        {"ipv6_udp", Packet().eth().ipv6(a6, b6).udp(5353, 53).payload(20)},
        {"ipv6_icmp6_echo", Packet().eth().ipv6(a6, b6).icmp6(128, 0, 0x4242, 3).payload(8)},
        {"ipv6_no_next_header", Packet().eth().ipv6(a6, b6)},
        {"ipv6_hop_by_hop_udp", Packet().eth().ipv6(a6, b6).hop_by_hop(router_alert6).udp(1005, 2005)},
        {"ipv6_hop_by_hop_large_udp",
         Packet().eth().ipv6(a6, b6).hop_by_hop(big_padn).udp(1006, 2006).payload(4)},
        {"ipv6_routing_tcp",
         Packet().eth().ipv6(a6, b6).routing({"fd00::3"}, 1).tcp(40007, 443).flags(SYN | ECE | CWR)},
        {"ipv6_dest_opts_udp", Packet().eth().ipv6(a6, b6).dest_opts().udp(1007, 2007)},
        {"ipv6_frag_first_udp",
         Packet().eth().ipv6(a6, b6).fragment6(0, true, 0x1234).udp(1008, 2008).payload(16)},
        {"ipv6_frag_last", Packet().eth().ipv6(a6, b6).fragment6(100, false, 0x1234).proto(17).payload(24)},
        {"ipv6_ah_tcp", Packet().eth().ipv6(a6, b6).ah(0x100, 1).tcp(40008, 22).flags(RST)},
        {"ipv6_ah_esp", Packet().eth().ipv6(a6, b6).ah(0x300, 3).proto(50).payload(24)},
        // mobility (135) is an upper-layer protocol for ipv6_find_hdr()
        {"ipv6_mobility", Packet().eth().ipv6(a6, b6).proto(135).payload(8)},
        {"ipv6_chain8_udp", Packet()
                                .eth()
                                .ipv6(a6, b6)
                                .hop_by_hop()
                                .dest_opts()
                                .routing({"fd00::3"}, 0)
                                .fragment6(0, false, 9)
                                .ah(0x200, 2)
                                .dest_opts()
                                .dest_opts()
                                .dest_opts()
                                .udp(1009, 2009)
                                .payload(8)},
        {"arp_request", Packet().eth("ff:ff:ff:ff:ff:ff").arp(a4, b4)},
        {"vlan1_arp_reply", Packet().eth().vlan(100).arp(b4, a4, 2)},
        {"lldp", Packet().eth("01:80:c2:00:00:0e").ethertype(0x88cc).payload(32)},
    };
  }();
  return frames;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

}  // namespace xdpguard::test
