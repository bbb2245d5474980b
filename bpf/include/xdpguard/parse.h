/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Header parsing with the xdp-tutorial cursor idiom: each parse_*() checks
 * that its header lies inside [pos, end) before reading it, advances the
 * cursor, and reports what it found. The same code compiles for BPF (clang
 * -target bpf) and for userspace (fuzzing, unit tests): it uses only pointer
 * arithmetic on __u8 and byte-order builtins.
 *
 * Outcome rules (documented in docs/parsing.md):
 *  - a header that would end past the frame, or past the IP datagram's own
 *    length (IPv4 total length, IPv6 payload length: bytes after it are
 *    Ethernet padding, not headers) -> XDPGUARD_PARSE_TRUNCATED; so is a
 *    datagram whose length field claims more than the frame holds;
 *  - a header whose own fields are impossible (IPv4 IHL < 5, version
 *    mismatch, total length < IHL, TCP data offset < 5, IPv6 extension
 *    chain longer than XDPGUARD_MAX_EXTHDR) -> XDPGUARD_PARSE_MALFORMED;
 *  - a non-first fragment is parsed up to L3 only, meta->frag = 1.
 */
#ifndef XDPGUARD_PARSE_H
#define XDPGUARD_PARSE_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include "abi.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Unrolled for the verifier under clang; a plain loop elsewhere (g++). */
#ifdef __clang__
#define XG_UNROLL _Pragma("unroll")
#else
#define XG_UNROLL
#endif

#define XG_ETH_P_8021Q 0x8100
#define XG_ETH_P_8021AD 0x88A8
#define XG_ETH_P_IP 0x0800
#define XG_ETH_P_IPV6 0x86DD

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define xg_ntohs(x) __builtin_bswap16(x)
#define xg_ntohl(x) __builtin_bswap32(x)
#else
#define xg_ntohs(x) (x)
#define xg_ntohl(x) (x)
#endif

/* TCP flag bits as in the 14th byte of the TCP header. */
#define XG_TCP_FIN 0x01
#define XG_TCP_SYN 0x02
#define XG_TCP_RST 0x04
#define XG_TCP_PSH 0x08
#define XG_TCP_ACK 0x10
#define XG_TCP_URG 0x20
#define XG_TCP_ECE 0x40
#define XG_TCP_CWR 0x80

struct xg_cursor {
	__u8 *pos;
	__u8 *end;  /* end of the frame (data_end): what the verifier checks */
	__u32 left; /* bytes of the IP datagram after pos (its own length field) */
};

/* Minimal header layouts, so userspace needs no kernel-only headers. */
struct xg_ethhdr { __u8 dst[6]; __u8 src[6]; __u16 proto; };
struct xg_vlanhdr { __u16 tci; __u16 proto; };
struct xg_iphdr {
	__u8 ver_ihl; __u8 tos; __u16 tot_len; __u16 id; __u16 frag_off;
	__u8 ttl; __u8 protocol; __u16 check; __u32 saddr; __u32 daddr;
};
struct xg_ipv6hdr {
	__u32 ver_tc_flow; __u16 payload_len; __u8 nexthdr; __u8 hop_limit;
	__u32 saddr[4]; __u32 daddr[4];
};
struct xg_exthdr { __u8 nexthdr; __u8 len; };
struct xg_fraghdr { __u8 nexthdr; __u8 reserved; __u16 frag_off; __u32 id; };
struct xg_tcphdr { __u16 source; __u16 dest; __u32 seq; __u32 ack; __u8 doff_res; __u8 flags; __u16 window; __u16 check; __u16 urg; };
struct xg_udphdr { __u16 source; __u16 dest; __u16 len; __u16 check; };
struct xg_icmphdr { __u8 type; __u8 code; __u16 check; };

/* Returns the EtherType after up to XDPGUARD_MAX_VLAN tags, or -1 if truncated. */
static __always_inline int xg_parse_eth(struct xg_cursor *c, struct xdpguard_pkt *p)
{
	struct xg_ethhdr *eth = (struct xg_ethhdr *)c->pos;
	__u16 proto;
	int i;

	/* verifier: the whole Ethernet header must lie before data_end */
	if (c->pos + sizeof(*eth) > c->end)
		return -1;
	c->pos += sizeof(*eth);
	proto = eth->proto;

XG_UNROLL
	for (i = 0; i < XDPGUARD_MAX_VLAN; i++) {
		struct xg_vlanhdr *vh = (struct xg_vlanhdr *)c->pos;

		if (proto != xg_ntohs(XG_ETH_P_8021Q) && proto != xg_ntohs(XG_ETH_P_8021AD))
			break;
		/* verifier: bound each tag before reading its inner EtherType */
		if (c->pos + sizeof(*vh) > c->end)
			return -1;
		c->pos += sizeof(*vh);
		proto = vh->proto;
		p->nvlan++;
	}
	return xg_ntohs(proto);
}

/* L4 after IPv4/IPv6: fills ports, flags, ICMP type. */
static __always_inline int xg_parse_l4(struct xg_cursor *c, struct xdpguard_pkt *p, __u8 *base)
{
	p->l4_off = (__u16)(c->pos - base);
	switch (p->l4proto) {
	case IPPROTO_TCP: {
		struct xg_tcphdr *th = (struct xg_tcphdr *)c->pos;
		__u32 hlen;

		/* verifier: fixed part of the TCP header in bounds */
		if (c->pos + sizeof(*th) > c->end || c->left < sizeof(*th))
			return XDPGUARD_PARSE_TRUNCATED;
		hlen = (__u32)(th->doff_res >> 4) * 4;
		if (hlen < sizeof(*th))
			return XDPGUARD_PARSE_MALFORMED;
		/* options must be present too: doff says they are */
		if (c->pos + hlen > c->end || c->left < hlen)
			return XDPGUARD_PARSE_TRUNCATED;
		p->sport = xg_ntohs(th->source);
		p->dport = xg_ntohs(th->dest);
		p->tcp_flags = th->flags;
		return 0;
	}
	case IPPROTO_UDP: {
		struct xg_udphdr *uh = (struct xg_udphdr *)c->pos;

		if (c->pos + sizeof(*uh) > c->end || c->left < sizeof(*uh))
			return XDPGUARD_PARSE_TRUNCATED;
		p->sport = xg_ntohs(uh->source);
		p->dport = xg_ntohs(uh->dest);
		return 0;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		struct xg_icmphdr *ih = (struct xg_icmphdr *)c->pos;

		if (c->pos + sizeof(*ih) > c->end || c->left < sizeof(*ih))
			return XDPGUARD_PARSE_TRUNCATED;
		p->icmp_type = ih->type;
		p->icmp_code = ih->code;
		return 0;
	}
	default:
		return 0;
	}
}

static __always_inline int xg_parse_ipv4(struct xg_cursor *c, struct xdpguard_pkt *p, __u8 *base,
					 __u32 frame_len)
{
	struct xg_iphdr *iph = (struct xg_iphdr *)c->pos;
	__u32 hlen, tot_len;

	/* verifier: fixed 20-byte header in bounds before reading IHL */
	if (c->pos + sizeof(*iph) > c->end)
		return XDPGUARD_PARSE_TRUNCATED;
	if ((iph->ver_ihl >> 4) != 4)
		return XDPGUARD_PARSE_MALFORMED;
	hlen = (__u32)(iph->ver_ihl & 0x0f) * 4;
	tot_len = xg_ntohs(iph->tot_len);
	if (hlen < sizeof(*iph) || tot_len < hlen)
		return XDPGUARD_PARSE_MALFORMED;
	/* options: IHL may say up to 60 bytes; all must be in the frame */
	if (c->pos + hlen > c->end)
		return XDPGUARD_PARSE_TRUNCATED;
	/* the datagram must fit the frame (the rest of the frame is padding) */
	if ((__u32)(c->pos - base) + tot_len > frame_len)
		return XDPGUARD_PARSE_TRUNCATED;
	c->left = tot_len - hlen;
	p->family = 4;
	p->l3_off = (__u16)(c->pos - base);
	p->saddr[0] = iph->saddr;
	p->daddr[0] = iph->daddr;
	p->l4proto = iph->protocol;
	c->pos += hlen;
	if (xg_ntohs(iph->frag_off) & 0x1fff) {
		p->frag = 1;
		return XDPGUARD_PARSE_IPV4;
	}
	{
		int r = xg_parse_l4(c, p, base);
		return r ? r : XDPGUARD_PARSE_IPV4;
	}
}

/*
 * The extension headers the kernel's ipv6_find_hdr() walks, which is what
 * nftables (and so the rule language's semantics) sees: anything else
 * (mobility, HIP, shim6, ESP, no-next-header, ...) is the L4 protocol.
 */
static __always_inline int xg_is_ipv6_ext(__u8 nh)
{
	return nh == 0 /* hop-by-hop */ || nh == 43 /* routing */ ||
	       nh == 44 /* fragment */ || nh == 51 /* AH */ ||
	       nh == 60 /* destination options */;
}

static __always_inline int xg_parse_ipv6(struct xg_cursor *c, struct xdpguard_pkt *p, __u8 *base,
					 __u32 frame_len)
{
	struct xg_ipv6hdr *ip6 = (struct xg_ipv6hdr *)c->pos;
	__u32 hlen;
	__u8 nh;
	int i;

	/* verifier: fixed 40-byte header in bounds */
	if (c->pos + sizeof(*ip6) > c->end)
		return XDPGUARD_PARSE_TRUNCATED;
	if ((((__u8 *)ip6)[0] >> 4) != 6)
		return XDPGUARD_PARSE_MALFORMED;
	p->family = 6;
	p->l3_off = (__u16)(c->pos - base);
XG_UNROLL
	for (i = 0; i < 4; i++) {
		p->saddr[i] = ip6->saddr[i];
		p->daddr[i] = ip6->daddr[i];
	}
	nh = ip6->nexthdr;
	/* the datagram must fit the frame (the rest of the frame is padding) */
	if ((__u32)(c->pos - base) + sizeof(*ip6) + xg_ntohs(ip6->payload_len) > frame_len)
		return XDPGUARD_PARSE_TRUNCATED;
	c->left = xg_ntohs(ip6->payload_len);
	c->pos += sizeof(*ip6);

	/* bounded walk: a chain longer than the bound is malformed */
XG_UNROLL
	for (i = 0; i < XDPGUARD_MAX_EXTHDR; i++) {
		struct xg_exthdr *eh = (struct xg_exthdr *)c->pos;

		if (!xg_is_ipv6_ext(nh))
			break;
		/* verifier: next-header and length bytes in bounds */
		if (c->pos + sizeof(struct xg_fraghdr) > c->end ||
		    c->left < sizeof(struct xg_fraghdr))
			return XDPGUARD_PARSE_TRUNCATED;
		if (nh == 44) {
			struct xg_fraghdr *fh = (struct xg_fraghdr *)c->pos;

			nh = fh->nexthdr;
			c->pos += sizeof(*fh);
			c->left -= sizeof(*fh);
			if (xg_ntohs(fh->frag_off) & 0xfff8) {
				p->l4proto = nh;
				p->frag = 1;
				return XDPGUARD_PARSE_IPV6;
			}
			continue;
		}
		/* AH counts its length in 4-byte units minus 2, the others in 8-byte units minus 1 */
		if (nh == 51)
			hlen = ((__u32)eh->len + 2) * 4;
		else
			hlen = ((__u32)eh->len + 1) * 8;
		if (c->left < hlen)
			return XDPGUARD_PARSE_TRUNCATED;
		c->left -= hlen;
		c->pos += hlen;
		nh = eh->nexthdr;
	}
	if (xg_is_ipv6_ext(nh))
		return XDPGUARD_PARSE_MALFORMED;
	if (c->pos > c->end)
		return XDPGUARD_PARSE_TRUNCATED;
	p->l4proto = nh;
	{
		int r = xg_parse_l4(c, p, base);
		return r ? r : XDPGUARD_PARSE_IPV6;
	}
}

/*
 * Parses one frame. Returns an enum xdpguard_parse_counter value in
 * IPV4..MALFORMED; p->frag tells whether FRAGMENT applies as well.
 */
static __always_inline int xg_parse_packet(__u8 *data, __u8 *data_end, struct xdpguard_pkt *p)
{
	struct xg_cursor c = { data, data_end, 0xffffffff };
	__u32 frame_len = (__u32)(data_end - data);
	int proto = xg_parse_eth(&c, p);

	if (proto < 0)
		return XDPGUARD_PARSE_TRUNCATED;
	if (proto == XG_ETH_P_IP)
		return xg_parse_ipv4(&c, p, data, frame_len);
	if (proto == XG_ETH_P_IPV6)
		return xg_parse_ipv6(&c, p, data, frame_len);
	return XDPGUARD_PARSE_NON_IP;
}

#endif /* XDPGUARD_PARSE_H */
