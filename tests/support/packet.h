// Packet: a fluent builder of test frames, and a catalogue of sample frames.
//
//   Bytes f = Packet().eth().vlan(100).ipv4("198.18.0.1", "198.18.0.2")
//                 .ip_options({0x94, 0x04, 0x00, 0x00}).tcp(1234, 80).flags(SYN)
//                 .payload(10).bytes();
//
// Layers are appended in wire order; a setter (flags(), ttl(), checksum(), ...)
// changes the most recent layer it applies to. Every length, next-protocol
// field and checksum is computed by bytes() unless a setter overrides it, so
// corrupt frames are one call away (ihl(3), tot_len(10), doff(2), ...).
//
// Computed fields follow the RFCs (and agree with scapy, which
// tests/unit/packet_builder_test.cpp checks byte for byte):
//  - Ethernet/VLAN type: that of the next layer (0x9000 before raw bytes);
//  - IPv4: IHL, total length, header checksum (over the header as emitted,
//    overrides included); options padded to 4 bytes with zeros (EOL);
//  - IPv6: payload length; extension headers' next header and length (AH in
//    4-byte units minus 2, the others in 8-byte units minus 1); hop-by-hop and
//    destination options padded to 8 bytes with Pad1/PadN;
//  - next protocol before raw bytes: 0 after IPv4, 59 (no next header) in IPv6;
//  - TCP data offset (options padded to 4 bytes with zeros), TCP/UDP/ICMPv6
//    checksums over the pseudo header of the nearest IP layer before them
//    (IPv6: the final destination of a routing header with segments left);
//    a UDP checksum that sums to 0 is sent as 0xffff.
//
// Lifetime: a Packet is a plain value (copyable); bytes() can be called any
// number of times. Failure: a call that makes no sense (flags() with no TCP
// layer, an unparsable address, 44 bytes of IPv4 options) is a bug in the
// test and throws std::invalid_argument.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace xdpguard::test {

// Addresses of the two ends of a test frame (lab ranges: 198.18.0.0/15, fd00::/8).
inline constexpr const char* kA4 = "198.18.0.1";
inline constexpr const char* kB4 = "198.18.0.2";
inline constexpr const char* kA6 = "fd00::1";
inline constexpr const char* kB6 = "fd00::2";

using Bytes = std::vector<std::uint8_t>;

// TCP flag bits (byte 13 of the TCP header).
inline constexpr std::uint8_t FIN = 0x01;
inline constexpr std::uint8_t SYN = 0x02;
inline constexpr std::uint8_t RST = 0x04;
inline constexpr std::uint8_t PSH = 0x08;
inline constexpr std::uint8_t ACK = 0x10;
inline constexpr std::uint8_t URG = 0x20;
inline constexpr std::uint8_t ECE = 0x40;
inline constexpr std::uint8_t CWR = 0x80;

inline constexpr std::uint16_t kTpid8021Q = 0x8100;
inline constexpr std::uint16_t kTpid8021AD = 0x88a8;

// One header of a built frame: where it starts and how long it is.
struct HeaderSpan {
  std::string name;  // "eth", "vlan", "ipv4", "ipv6", "hop_by_hop", "routing",
                     // "dest_opts", "fragment6", "ah", "ext", "tcp", "udp",
                     // "icmp", "icmp6", "arp", "payload"
  std::size_t offset = 0;
  std::size_t size = 0;
  std::size_t end() const { return offset + size; }
};

namespace layer {
struct Eth {
  std::uint8_t dst[6], src[6];
  std::optional<std::uint16_t> type;
};
struct Vlan {
  std::uint16_t tpid, vid;
  std::uint8_t pcp;
  std::optional<std::uint16_t> type;
};
struct Arp {
  std::uint8_t sha[6];
  std::uint8_t spa[4], tpa[4];
  std::uint16_t op;
};
struct Ipv4 {
  std::uint8_t src[4], dst[4];
  std::uint8_t tos = 0, ttl = 64;
  std::uint16_t id = 1;
  bool df = false, mf = false;
  std::uint16_t frag_offset = 0;  // 8-byte units
  Bytes options;
  std::optional<std::uint8_t> version, ihl, proto;
  std::optional<std::uint16_t> tot_len, check;
};
struct Ipv6 {
  std::uint8_t src[16], dst[16];
  std::uint8_t tclass = 0, hop_limit = 64;
  std::uint32_t flow = 0;
  std::optional<std::uint8_t> version, next;
  std::optional<std::uint16_t> payload_len;
};
// Any IPv6 extension header; `body` is everything after next-header/length.
struct Ext {
  std::uint8_t type;  // 0, 43, 44, 51, 60, or any other number for ext()
  Bytes body;
  std::optional<std::uint8_t> next, len;
  std::optional<std::array<std::uint8_t, 16>> final_dst;  // routing with segments left
};
struct Tcp {
  std::uint16_t sport, dport;
  std::uint32_t seq = 0, ack = 0;
  std::uint8_t flags = 0;
  std::uint16_t window = 8192, urg = 0;
  Bytes options;
  std::optional<std::uint8_t> doff;
  std::optional<std::uint16_t> check;
};
struct Udp {
  std::uint16_t sport, dport;
  std::optional<std::uint16_t> len, check;
};
struct Icmp {
  bool v6;
  std::uint8_t type, code;
  std::uint16_t id, seq;
  std::optional<std::uint16_t> check;
};
struct Payload {
  Bytes data;
};
}  // namespace layer

class Packet {
 public:
  // ---- L2 ----
  Packet& eth(std::string_view dst = "02:00:00:00:00:02", std::string_view src = "02:00:00:00:00:01");
  Packet& vlan(std::uint16_t vid, std::uint8_t pcp = 0);     // 802.1Q C-tag (TPID 0x8100)
  Packet& vlan_ad(std::uint16_t vid, std::uint8_t pcp = 0);  // 802.1ad S-tag (TPID 0x88a8)
  // Type field of the last Ethernet header or VLAN tag (raw L3 protocols: 0x88cc LLDP).
  Packet& ethertype(std::uint16_t type);
  // ARP request (htype 1, ptype IPv4) from the Ethernet source MAC.
  Packet& arp(std::string_view sender_ip, std::string_view target_ip, std::uint16_t op = 1);

  // ---- IPv4 ----
  Packet& ipv4(std::string_view src, std::string_view dst);
  Packet& ip_options(std::initializer_list<std::uint8_t> options);
  Packet& ip_options(Bytes options);
  Packet& ttl(std::uint8_t ttl);
  Packet& tos(std::uint8_t tos);
  Packet& ip_id(std::uint16_t id);
  Packet& dont_fragment();
  // Fragment offset in 8-byte units and the more-fragments flag.
  Packet& fragment(std::uint16_t offset8, bool more_fragments);
  Packet& ihl(std::uint8_t words);       // override
  Packet& tot_len(std::uint16_t bytes);  // override

  // ---- IPv6 and its extension headers ----
  Packet& ipv6(std::string_view src, std::string_view dst);
  Packet& hop_limit(std::uint8_t hops);
  Packet& traffic_class(std::uint8_t tclass);
  Packet& flow_label(std::uint32_t flow);
  Packet& payload_len(std::uint16_t bytes);  // override
  // TLV options; padded to a multiple of 8 bytes with Pad1/PadN.
  Packet& hop_by_hop(Bytes options = {});
  Packet& dest_opts(Bytes options = {});
  // Routing header of `type` (0: source route) listing `addresses`.
  Packet& routing(const std::vector<std::string>& addresses, std::uint8_t segments_left,
                  std::uint8_t type = 0);
  Packet& fragment6(std::uint16_t offset8, bool more_fragments, std::uint32_t id = 0);
  // Authentication header (length in 4-byte units minus 2).
  Packet& ah(std::uint32_t spi, std::uint32_t seq, Bytes icv = Bytes(12, 0));
  // Any extension header number with a raw body (zero-padded to 8-byte units).
  Packet& ext(std::uint8_t type, Bytes body = Bytes(6, 0));
  // Header-extension-length byte of the last extension header (override).
  Packet& ext_len(std::uint8_t len);

  // ---- either IP version ----
  // Next protocol of the last IPv4/IPv6/extension header (raw L4 protocols).
  Packet& proto(std::uint8_t proto);
  Packet& ip_version(std::uint8_t version);  // override of the last IPv4/IPv6 header

  // ---- L4 ----
  Packet& tcp(std::uint16_t sport, std::uint16_t dport);
  Packet& flags(std::uint8_t flags);
  Packet& seq(std::uint32_t seq);
  Packet& ack_seq(std::uint32_t ack);
  Packet& window(std::uint16_t window);
  // Raw TCP options, zero-padded to a multiple of 4 bytes.
  Packet& tcp_options(Bytes options);
  Packet& doff(std::uint8_t words);  // override
  Packet& udp(std::uint16_t sport, std::uint16_t dport);
  Packet& udp_len(std::uint16_t bytes);  // override
  Packet& icmp(std::uint8_t type = 8, std::uint8_t code = 0, std::uint16_t id = 0, std::uint16_t seq = 0);
  Packet& icmp6(std::uint8_t type = 128, std::uint8_t code = 0, std::uint16_t id = 0, std::uint16_t seq = 0);
  // Checksum of the last layer that has one (IPv4, TCP, UDP, ICMP, ICMPv6): override.
  Packet& checksum(std::uint16_t check);

  // ---- payload ----
  Packet& payload(std::size_t n);  // n bytes 0x00, 0x01, ... (wrapping at 256)
  Packet& payload(Bytes data);
  Packet& payload(std::string_view text);

  Bytes bytes() const;
  std::vector<HeaderSpan> layout() const;
  std::size_t size() const { return bytes().size(); }

 private:
  using Layer = std::variant<layer::Eth, layer::Vlan, layer::Arp, layer::Ipv4, layer::Ipv6, layer::Ext,
                             layer::Tcp, layer::Udp, layer::Icmp, layer::Payload>;
  struct Built {
    Bytes bytes;
    std::vector<HeaderSpan> layout;
  };
  template <class T>
  T& last(const char* setter);
  Built build() const;
  Bytes build_layer(std::size_t i, const Bytes& rest) const;

  std::vector<Layer> layers_;
};

// A named frame of the sample catalogue.
struct SampleFrame {
  std::string name;
  Packet packet;
};

// Well-formed frames, one per feature the parser handles (Ethernet, 0/1/2 VLAN
// tags of both kinds, IPv4 with options and fragments, IPv6 with each extension
// header kind and a chain of 8, TCP with options, UDP, ICMP, ICMPv6, ARP, LLDP,
// raw protocols). The tables of tests/bpf/ and the fuzz seeds use them.
const std::vector<SampleFrame>& sample_frames();

// Ethernet and the lab's client-to-server IP header: 198.18.0.1 -> .2, or
// fd00::1 -> fd00::2; the caller adds L4.
Packet lab_packet(bool v6);

std::string to_hex(std::span<const std::uint8_t> bytes);

}  // namespace xdpguard::test
