/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Header parsing with the xdp-tutorial cursor idiom: each parse_*() checks
 * that its header lies inside [pos, end) before reading it, advances the
 * cursor, and reports what it found. The same code compiles for BPF (clang
 * -target bpf) and for userspace (fuzzing, unit tests): it uses only pointer
 * arithmetic on __u8 and byte-order builtins, and bpf_loop() becomes a plain
 * loop outside BPF.
 *
 * Outcome rules (documented in docs/parsing.md):
 *  - every header the kernel would walk is walked to its end: two VLAN tags,
 *    IPv4 options, and IPv6 extension headers in any number (bounded by the
 *    frame only, with bpf_loop past the first two);
 *  - a header that would end past the frame, or past the IP datagram's own
 *    length (IPv4 total length, IPv6 payload length: bytes after it are
 *    Ethernet padding, not headers) -> XDPGUARD_PARSE_TRUNCATED; so is a
 *    datagram whose length field claims more than the frame holds;
 *  - a header whose own fields are impossible (IPv4 IHL < 5, version
 *    mismatch, total length < IHL, TCP data offset < 5) ->
 *    XDPGUARD_PARSE_MALFORMED;
 *  - p->family is set only once the IP header itself is sound: a truncated
 *    or malformed packet with a family goes through the rules with what
 *    could be read (p->frag = XDPGUARD_FRAG_L4_CUT when the L4 header is
 *    missing), one without takes the malformed action;
 *  - a non-first fragment is parsed up to L3 only (p->frag =
 *    XDPGUARD_FRAG_LATER);
 *  - what could hide a header from the rules -> XDPGUARD_PARSE_UNSAFE
 *    (always dropped): a first fragment without its whole L4 header (RFC
 *    1858, RFC 3128) or, in IPv6, without its whole header chain (RFC 7112),
 *    a fragment at offset 8 bytes (RFC 1858), an IPv6 header chain that runs
 *    past XDPGUARD_MAX_CHAIN bytes into the frame.
 */
#ifndef XDPGUARD_PARSE_H
#define XDPGUARD_PARSE_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include "abi.h"
#ifdef __bpf__
#include <bpf/bpf_helpers.h> /* bpf_loop */
#endif

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

/* Returns the EtherType after up to XDPGUARD_MAX_VLAN tags, or -1 if truncated;
 * records the tags' VLAN IDs in p->vlan (abi.h). */
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
		/* the rules' `vlan N [inner M]`: the VID, marked present */
		p->vlan[i] = (xg_ntohs(vh->tci) & XDPGUARD_VLAN_VID) | XDPGUARD_VLAN_TAGGED;
		p->nvlan++;
	}
	return xg_ntohs(proto);
}

/* The L4 header is missing or cut short: the rules see no L4 fields. In
 * the first fragment of a datagram, that is a fragment hiding its header. */
static __always_inline int xg_l4_cut(struct xdpguard_pkt *p, int first_frag)
{
	p->frag = XDPGUARD_FRAG_L4_CUT;
	return first_frag ? XDPGUARD_PARSE_UNSAFE : XDPGUARD_PARSE_TRUNCATED;
}

/*
 * L4 after IPv4/IPv6: fills ports, flags, ICMP type. A field is filled
 * whenever its bytes are there (a TCP header with a bad data offset still has
 * its ports and flags, and nftables reads them); `first_frag` says the
 * datagram is the first fragment of several, whose whole L4 header must be in
 * it (RFC 1858: the rules must not judge a SYN whose flags come later).
 */
static __always_inline int xg_parse_l4(struct xg_cursor *c, struct xdpguard_pkt *p, __u8 *base,
				       int first_frag)
{
	p->l4_off = (__u16)(c->pos - base);
	switch (p->l4proto) {
	case IPPROTO_TCP: {
		struct xg_tcphdr *th = (struct xg_tcphdr *)c->pos;
		__u32 hlen;

		/* verifier: fixed part of the TCP header in bounds */
		if (c->pos + sizeof(*th) > c->end || c->left < sizeof(*th))
			return xg_l4_cut(p, first_frag);
		p->sport = xg_ntohs(th->source);
		p->dport = xg_ntohs(th->dest);
		p->tcp_flags = th->flags;
		hlen = (__u32)(th->doff_res >> 4) * 4;
		if (hlen < sizeof(*th))
			return XDPGUARD_PARSE_MALFORMED;
		/* options must be present too: doff says they are */
		if (c->pos + hlen > c->end || c->left < hlen)
			return first_frag ? XDPGUARD_PARSE_UNSAFE : XDPGUARD_PARSE_TRUNCATED;
		return 0;
	}
	case IPPROTO_UDP: {
		struct xg_udphdr *uh = (struct xg_udphdr *)c->pos;

		if (c->pos + sizeof(*uh) > c->end || c->left < sizeof(*uh))
			return xg_l4_cut(p, first_frag);
		p->sport = xg_ntohs(uh->source);
		p->dport = xg_ntohs(uh->dest);
		return 0;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		struct xg_icmphdr *ih = (struct xg_icmphdr *)c->pos;

		if (c->pos + sizeof(*ih) > c->end || c->left < sizeof(*ih))
			return xg_l4_cut(p, first_frag);
		p->icmp_type = ih->type;
		p->icmp_code = ih->code;
		/* a first fragment carries the whole 8-byte ICMP header */
		if (first_frag && c->left < 8)
			return XDPGUARD_PARSE_UNSAFE;
		return 0;
	}
	default:
		return 0;
	}
}

/* xdpguard_pkt.frag_bits of a fragment offset (nonzero or not) and a
 * more-fragments flag; DF is IPv4's own. */
static __always_inline __u8 xg_frag_bits(int offset, int more)
{
	if (offset)
		return XDPGUARD_FRAG_ISF | (more ? 0 : XDPGUARD_FRAG_LF);
	return more ? XDPGUARD_FRAG_ISF | XDPGUARD_FRAG_FF : 0;
}

static __always_inline int xg_parse_ipv4(struct xg_cursor *c, struct xdpguard_pkt *p, __u8 *base,
					 __u32 frame_len)
{
	struct xg_iphdr *iph = (struct xg_iphdr *)c->pos;
	__u32 hlen, tot_len, frag_off;

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
	p->ip_len = tot_len;
	p->dscp = iph->tos >> 2;
	c->pos += hlen;
	frag_off = xg_ntohs(iph->frag_off);
	p->frag_bits = xg_frag_bits((frag_off & 0x1fff) != 0, (frag_off & 0x2000) != 0) |
		       ((frag_off & 0x4000) ? XDPGUARD_FRAG_DF : 0);
	if (frag_off & 0x1fff) {
		p->frag = XDPGUARD_FRAG_LATER;
		/* at 8 bytes it can only rewrite the first fragment's TCP flags
		 * (RFC 1858): no sender needs it */
		return (frag_off & 0x1fff) == 1 ? XDPGUARD_PARSE_UNSAFE : XDPGUARD_PARSE_IPV4;
	}
	{
		int r = xg_parse_l4(c, p, base, (frag_off & 0x2000) != 0 /* more fragments */);
		return r ? r : XDPGUARD_PARSE_IPV4;
	}
}

/*
 * The extension headers the kernel's ipv6_find_hdr() walks, which is what
 * nftables (and so the rule language's semantics) sees: anything else
 * (mobility, HIP, shim6, ESP, no-next-header, ...) is the L4 protocol.
 */
static __always_inline int xg_is_ipv6_ext(__u32 nh)
{
	return nh == 0 /* hop-by-hop */ || nh == 43 /* routing */ ||
	       nh == 44 /* fragment */ || nh == 51 /* AH */ ||
	       nh == 60 /* destination options */;
}

/*
 * The IPv6 extension header walk. Its state lives in one struct on the
 * stack because the walk continues in bpf_loop's callback, which sees only
 * this struct: the frame's bounds and an offset (not a moving packet
 * pointer, whose range the verifier could not bound across iterations).
 */
struct xg_ext6 {
	__u8 *data;     /* the frame */
	__u8 *end;
	__u32 off;      /* where the header of type nh starts */
	__u32 left;     /* bytes of the datagram from off */
	__u32 nh;       /* type of the header at off */
	__s32 outcome;  /* 0 while the chain is sound, else a parse outcome */
	__u32 later;    /* a fragment header with a nonzero offset ended the walk */
	__u32 first;    /* a fragment header said: first fragment of several */
	/* the first fragment header's offset-and-flags word (host order) and
	 * whether there was one: what nft's `exthdr frag` reads */
	__u32 fo;
	__u32 has_fh;
};

/* Walks the header at w->off: 0 to go on, 1 when the walk is over (nh is
 * not an extension header, a non-first fragment has no more, or the chain
 * is cut: w->outcome). */
static __always_inline long xg_ext6_step(struct xg_ext6 *w)
{
	/* verifier: a bounded offset into the frame (abi.h) */
	__u32 off = w->off & XDPGUARD_MAX_CHAIN;
	struct xg_fraghdr *fh = (struct xg_fraghdr *)(w->data + off);
	__u32 hlen, fo;

	if (!xg_is_ipv6_ext(w->nh))
		return 1;
	/* past the walk's reach: the rules cannot see what follows */
	if (w->off > XDPGUARD_MAX_CHAIN) {
		w->outcome = XDPGUARD_PARSE_UNSAFE;
		return 1;
	}
	/* verifier: the 8 bytes every extension header has, in bounds */
	if ((__u8 *)(fh + 1) > w->end || w->left < sizeof(*fh)) {
		w->outcome = XDPGUARD_PARSE_TRUNCATED;
		return 1;
	}
	if (w->nh == 44) {
		fo = xg_ntohs(fh->frag_off);
		if (!w->has_fh) {
			w->has_fh = 1;
			w->fo = fo;
		}
		w->nh = fh->nexthdr;
		w->off = off + sizeof(*fh);
		w->left -= sizeof(*fh);
		if (fo & 0xfff8) {
			w->later = 1;
			/* at 8 bytes it can only rewrite the first fragment's
			 * headers (RFC 1858): no sender needs it */
			if ((fo >> 3) == 1)
				w->outcome = XDPGUARD_PARSE_UNSAFE;
			return 1;
		}
		if (fo & 1) /* more fragments */
			w->first = 1;
		return 0;
	}
	/* AH counts its length in 4-byte units minus 2, the others in 8-byte
	 * units minus 1 (byte 1 of every extension header) */
	if (w->nh == 51)
		hlen = ((__u32)fh->reserved + 2) * 4;
	else
		hlen = ((__u32)fh->reserved + 1) * 8;
	if (w->left < hlen) {
		w->outcome = XDPGUARD_PARSE_TRUNCATED;
		return 1;
	}
	w->nh = fh->nexthdr;
	w->off = off + hlen;
	w->left -= hlen;
	return 0;
}

/* bpf_loop's callback: one extension header per iteration. */
static __attribute__((noinline, unused)) long xg_ext6_next(__u64 i, void *ctx)
{
	(void)i;
	return xg_ext6_step((struct xg_ext6 *)ctx);
}

static __always_inline int xg_parse_ipv6(struct xg_cursor *c, struct xdpguard_pkt *p, __u8 *base,
					 __u32 frame_len)
{
	struct xg_ipv6hdr *ip6 = (struct xg_ipv6hdr *)c->pos;
	struct xg_ext6 w;
	__u32 payload;
	int i;

	/* verifier: fixed 40-byte header in bounds */
	if (c->pos + sizeof(*ip6) > c->end)
		return XDPGUARD_PARSE_TRUNCATED;
	if ((((__u8 *)ip6)[0] >> 4) != 6)
		return XDPGUARD_PARSE_MALFORMED;
	payload = xg_ntohs(ip6->payload_len);
	/* the datagram must fit the frame (the rest of the frame is padding) */
	if ((__u32)(c->pos - base) + sizeof(*ip6) + payload > frame_len)
		return XDPGUARD_PARSE_TRUNCATED;
	p->family = 6;
	p->l3_off = (__u16)(c->pos - base);
	p->ip_len = payload + sizeof(*ip6);
	/* version 4 bits, traffic class 8, flow label 20 */
	p->dscp = (__u8)((xg_ntohl(ip6->ver_tc_flow) >> 20) & 0xff) >> 2;
XG_UNROLL
	for (i = 0; i < 4; i++) {
		p->saddr[i] = ip6->saddr[i];
		p->daddr[i] = ip6->daddr[i];
	}

	/* Every extension header, as far as the frame goes: the first two here
	 * (most packets have none, almost all fewer than three), the rest one
	 * per iteration of a loop as long as the frame could need. */
	w.data = base;
	w.end = c->end;
	w.off = (__u32)(c->pos - base) + sizeof(*ip6);
	w.left = payload;
	w.nh = ip6->nexthdr;
	w.outcome = 0;
	w.later = 0;
	w.first = 0;
	w.fo = 0;
	w.has_fh = 0;
	if (!xg_ext6_step(&w) && !xg_ext6_step(&w)) {
		__u32 n = (frame_len - w.off) / 8 + 1;
#ifdef __bpf__
		bpf_loop(n, xg_ext6_next, &w, 0);
#else
		for (__u32 k = 0; k < n; k++)
			if (xg_ext6_next(k, &w))
				break;
#endif
	}
	/* offset in the top 13 bits, M in bit 0; no DF in IPv6 */
	if (w.has_fh)
		p->frag_bits = xg_frag_bits((w.fo & 0xfff8) != 0, (w.fo & 1) != 0);
	if (w.outcome == XDPGUARD_PARSE_UNSAFE) {
		p->l4proto = (__u8)w.nh;
		p->frag = w.later ? XDPGUARD_FRAG_LATER : XDPGUARD_FRAG_L4_CUT;
		return XDPGUARD_PARSE_UNSAFE;
	}
	if (w.later) {
		p->l4proto = (__u8)w.nh;
		p->frag = XDPGUARD_FRAG_LATER;
		return XDPGUARD_PARSE_IPV6;
	}
	if (w.outcome || xg_is_ipv6_ext(w.nh)) {
		/* The chain is cut: no upper-layer protocol is known (nftables
		 * then has none either). In a first fragment the whole chain
		 * must be there (RFC 7112). */
		p->l4proto = 0;
		return xg_l4_cut(p, w.first);
	}
	p->l4proto = (__u8)w.nh;
	/* verifier: a bounded offset again (w.off is a plain number here) */
	c->pos = base + (w.off & XDPGUARD_MAX_CHAIN);
	c->left = w.left;
	{
		int r = xg_parse_l4(c, p, base, w.first);
		return r ? r : XDPGUARD_PARSE_IPV6;
	}
}

/*
 * Parses one frame. Returns an enum xdpguard_parse_counter value in
 * IPV4..BAD_FRAGMENT; p->frag == XDPGUARD_FRAG_LATER tells whether FRAGMENT
 * applies as well.
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
