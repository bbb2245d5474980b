// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * synproxy: the SYN proxy stage (docs/ddos.md, abi.h "SYN proxy"), slot
 * XDPGUARD_PROG_SYNPROXY of xg_progs. A separate object from guard.bpf.c
 * because it calls conntrack's kfuncs, which exist only once nf_conntrack is
 * loaded: `synproxy enable` loads it after setting up nftables, reusing the
 * pipeline's pinned maps (xdpguard/pipeline.h).
 *
 * The classifier (or enforce) sends it TCP packets the rule set passes. For
 * the configured ports:
 *   not for us   a frame whose destination MAC is not the interface's, or
 *                whose destination address is not local (xg_sp_local4/6):
 *                passed untouched, as if the proxy were off (checked before
 *                anything is answered, rewritten or dropped).
 *   SYN          a plain one (ACK, RST, FIN clear) is answered here: a
 *                SYN-ACK carrying a kernel SYN cookie
 *                (bpf_tcp_raw_gen_syncookie_*) is written over the frame and
 *                sent back with XDP_TX; the SYN goes no further. A SYN with
 *                FIN or RST is dropped (the kernel discards it too).
 *   conntrack    knows the connection (bpf_xdp_ct_lookup): passed.
 *   a socket     of the host has the 4-tuple and is not listening
 *                (bpf_skc_lookup_tcp): passed. Connections that existed
 *                before `enable` are in no conntrack table; the socket
 *                lookup is exact, so a spoofed packet passes only with the
 *                4-tuple of a real connection, which the kernel then checks.
 *   ACK          with a valid cookie (bpf_tcp_raw_check_syncookie_*):
 *                passed to the kernel's SYNPROXY (nftables), which checks
 *                it again and opens the connection to the server. A
 *                zero-window probe with the cookie (the client's ACK was
 *                lost) is turned into that ACK first.
 *   the rest     dropped.
 * Options follow the kernel's SYNPROXY (xdpguard/synproxy_opts.h).
 * What this stage cannot answer itself (IPv4 options, IPv6 extension
 * headers, no room to grow the frame) it passes: SYNPROXY answers it.
 *
 * Then the verdict is counted and applied here, or, for a packet enforce
 * sent (a `log` rule's, or while a capture runs), back in enforce.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpguard/abi.h>
#include <xdpguard/parse.h>
#include <xdpguard/pipeline.h>
#include <xdpguard/synproxy_opts.h>

/* conntrack's kfuncs (net/netfilter/nf_conntrack_bpf.c). */
struct nf_conn {
	int unused; /* opaque here */
};
struct bpf_ct_opts___xg {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};
extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *ctx, struct bpf_sock_tuple *tuple, __u32 tuple__sz,
					 struct bpf_ct_opts___xg *opts, __u32 opts__sz) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;

#define XG_CT_CURRENT_NETNS (-1)
#define XG_CT_OPTS_SZ 12

#define XG_IP_DF 0x4000

/* The IP and TCP headers, as read and written in the frame (direct packet
 * access); the TCP header with room for every option (60 bytes) when a
 * SYN's options are copied out for the walk. */
struct xg_tcp {
	__u16 source;
	__u16 dest;
	__u32 seq;
	__u32 ack_seq;
	__u8 doff_res;
	__u8 flags;
	__u16 window;
	__u16 check;
	__u16 urg_ptr;
	__u8 opts[XG_OPT_BUF]; /* 40, and room for masked indexes */
};

struct xg_ip4 {
	__u8 ver_ihl;
	__u8 tos;
	__u16 tot_len;
	__u16 id;
	__u16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__u32 saddr;
	__u32 daddr;
};

struct xg_ip6 {
	__u32 ver_tc_flow;
	__u16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u32 saddr[4];
	__u32 daddr[4];
};

/* The addresses this host answers for (abi.h): filled by enable. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPGUARD_SYNPROXY_MAX_LOCAL);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdpguard_sp_lpm4);
	__type(value, __u8);
} xg_sp_local4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPGUARD_SYNPROXY_MAX_LOCAL);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdpguard_sp_lpm6);
	__type(value, __u8);
} xg_sp_local6 SEC(".maps");

/* The last destination address this CPU found in those tries, per family:
 * checked first (a SYN flood aims at one or a few addresses, and a trie
 * lookup costs more than the stage's checksums). The tries are filled once,
 * before this stage is installed (enable; upgrade loads a new stage, with a
 * new, empty map), so an address found local stays local for as long as it
 * is remembered here; only an address the tries hold is ever written. */
struct xg_sp_last {
	__u32 addr6[4];
	__u32 addr4;
	__u8 has4;
	__u8 has6;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xg_sp_last);
} xg_sp_last SEC(".maps");

/* The Internet checksum of a sum of 32-bit words (as they lie in memory),
 * or of bpf_csum_diff's result: folded to 16 bits, complemented. The four
 * 16-bit parts are added at once (independent operations, and no 32-bit
 * masks, which the x86 JIT turns into two shifts each). */
static __always_inline __u16 xg_fold(__u64 s)
{
	s = (s & 0xffff) + ((s >> 16) & 0xffff) + ((s >> 32) & 0xffff) + (s >> 48);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* The frame's Ethernet addresses swapped: the 12 bytes read first, then
 * written, in words (a 6-byte memcpy in a frame, whose alignment clang
 * cannot know, is 6 byte loads and 6 byte stores). */
static __always_inline void xg_swap_macs(__u8 *data)
{
	__u32 dst0 = *(__u32 *)data, src1 = *(__u32 *)(data + 8);
	__u16 dst1 = *(__u16 *)(data + 4), src0 = *(__u16 *)(data + 6);

	*(__u16 *)data = src0;
	*(__u32 *)(data + 2) = src1;
	*(__u32 *)(data + 6) = dst0;
	*(__u16 *)(data + 10) = dst1;
}

/* The 32-bit word whose first two bytes in memory are those of a and the
 * last two those of b (two 16-bit fields as the frame holds them). */
static __always_inline __u32 xg_pair16(__u16 a, __u16 b)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (__u32)a | ((__u32)b << 16);
#else
	return ((__u32)a << 16) | b;
#endif
}

static __always_inline __u32 xg_htonl(__u32 x) { return xg_ntohl(x); }
static __always_inline __u16 xg_htons(__u16 x) { return xg_ntohs(x); }

/* What the SYN-ACK needs of the SYN. */
struct xg_syn {
	__s64 cookie;
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 seq;
	__u16 sport;
	__u16 dport;
	struct xg_syn_opts opts;
};

/*
 * Where the packet's IP and TCP headers are in the frame (direct packet
 * access): *ip with its fixed header (IPv4 without options: 20 bytes, IPv6:
 * 40) and *th with its 20 bytes there. `plain` asks for the TCP header
 * right after that (no IPv4 options, no IPv6 extension headers: what this
 * stage rewrites in place). `v6` and `plain` are constants in each inlined
 * copy, so the headers are at offsets the verifier can check. Returns 0, or
 * -1 when the headers are not there (or not plain).
 */
static __always_inline int xg_locate(struct xdp_md *ctx, const struct xdpguard_percpu *s, __u8 **ip,
				     struct xg_tcp **th, const int v6, const int plain)
{
	__u8 *data = (__u8 *)(long)ctx->data, *end = (__u8 *)(long)ctx->data_end;
	const __u32 iplen = v6 ? sizeof(struct xg_ip6) : sizeof(struct xg_ip4);
	__u32 l3 = s->pkt.l3_off, l4 = s->pkt.l4_off;

	if (l3 > 64 || l4 < l3 + iplen || l4 > XDPGUARD_MAX_CHAIN || (plain && l4 != l3 + iplen))
		return -1;
	/* verifier: bounded offsets (two VLAN tags: 22 bytes; extension
	 * headers: as far as the parser walks them) */
	*ip = data + (l3 & 127);
	if (plain) {
		*th = (struct xg_tcp *)(*ip + iplen);
	} else {
		if (*ip + iplen > end)
			return -1;
		*th = (struct xg_tcp *)(data + (l4 & XDPGUARD_MAX_CHAIN));
	}
	if ((__u8 *)*th + 20 > end)
		return -1;
	return 0;
}

/*
 * Reads the SYN in place (xg_locate) and gets its cookie: the kernel's,
 * for this 4-tuple and the client's MSS. A SYN with options has its TCP
 * header copied out (the walk and the helper read the options from the
 * copy: their length is not one the verifier can check in the frame).
 * Returns 0, or -1 for what this
 * stage does not answer itself (SYNPROXY does it).
 */
static __always_inline int xg_read_syn(struct xdp_md *ctx, const struct xdpguard_percpu *s, struct xg_syn *y,
				       const int v6)
{
	struct xg_tcp *th;
	__u32 thlen;
	__u8 *ip;

	if (xg_locate(ctx, s, &ip, &th, v6, 1))
		return -1;
	thlen = (th->doff_res >> 4) * 4;
	if (thlen < 20 || thlen > 60)
		return -1;
	if (thlen == 20) {
		y->cookie = v6 ? bpf_tcp_raw_gen_syncookie_ipv6((struct ipv6hdr *)ip, (struct tcphdr *)th, 20)
			       : bpf_tcp_raw_gen_syncookie_ipv4((struct iphdr *)ip, (struct tcphdr *)th, 20);
	} else {
		/* The helper reads the options too: the verifier cannot see a
		 * variable length in the frame, so from a copy. */
		struct xg_tcp copy = {};
		struct xg_opt_walk w = {.opts = copy.opts, .len = thlen - 20, .out = &y->opts};

		if (bpf_xdp_load_bytes(ctx, s->pkt.l4_off, &copy, thlen))
			return -1;
		bpf_loop(XG_OPT_MAX_STEPS, xg_opt_step, &w, 0);
		y->cookie = v6 ? bpf_tcp_raw_gen_syncookie_ipv6((struct ipv6hdr *)ip, (struct tcphdr *)&copy, thlen)
			       : bpf_tcp_raw_gen_syncookie_ipv4((struct iphdr *)ip, (struct tcphdr *)&copy, thlen);
	}
	if (v6) {
		const struct xg_ip6 *h = (const struct xg_ip6 *)ip;

		__builtin_memcpy(y->saddr, h->saddr, 16);
		__builtin_memcpy(y->daddr, h->daddr, 16);
	} else {
		const struct xg_ip4 *h = (const struct xg_ip4 *)ip;

		y->saddr[0] = h->saddr;
		y->daddr[0] = h->daddr;
	}
	y->sport = th->source;
	y->dport = th->dest;
	y->seq = th->seq;
	return 0;
}

/*
 * Writes the SYN-ACK over the frame, in place: Ethernet addresses swapped,
 * a new IP header, the TCP header and `optlen` bytes of options (`words`),
 * checksums. The frame already has its new length (l4 + 20 + optlen).
 * Each header word is made in a register, summed there and stored whole:
 * the checksums never read back what was just written (a load of a word
 * stored as narrower fields waits for those stores to drain, which cost
 * a third of the stage's time). Returns XDP_TX (XDP_ABORTED if the frame
 * is not what it was shrunk to: never, but the verifier wants the check).
 */
static __always_inline int xg_write_synack(struct xdp_md *ctx, const struct xdpguard_percpu *s,
					   const struct xdpguard_synproxy *sp, const struct xg_syn *y,
					   const __u32 *words, __u32 optlen, const int v6)
{
	__u8 *data = (__u8 *)(long)ctx->data, *end = (__u8 *)(long)ctx->data_end;
	__u32 tcplen = 20 + optlen, t[5], i;
	struct xg_tcp *th;
	__u64 sum;
	__u8 *p;

	/* verifier: the frame still holds Ethernet, IP and 20 bytes of TCP */
	if (data + 12 > end || xg_locate(ctx, s, &p, &th, v6, 1))
		return XDP_ABORTED;
	xg_swap_macs(data);
	if (v6) {
		__u32 *w = (__u32 *)p;

		/* version, no traffic class or flow label; payload length,
		 * next header, hop limit */
		w[0] = xg_htonl(6u << 28);
		w[1] = xg_htonl((tcplen << 16) | (IPPROTO_TCP << 8) | sp->ttl);
		__builtin_memcpy(w + 2, y->daddr, 16);
		__builtin_memcpy(w + 6, y->saddr, 16);
		/* pseudo header: addresses, upper-layer length, next header */
		sum = (__u64)xg_htonl(tcplen) + xg_htonl(IPPROTO_TCP);
		for (i = 0; i < 4; i++)
			sum += (__u64)y->daddr[i] + y->saddr[i];
	} else {
		__u32 w0 = xg_htonl(0x45000000 | (20 + tcplen)), w1 = xg_htonl(XG_IP_DF),
		      w2 = xg_htonl(((__u32)sp->ttl << 24) | (IPPROTO_TCP << 16));
		__u32 *w = (__u32 *)p;

		/* version and header length, no TOS, total length; no ID, DF;
		 * TTL, protocol, the checksum (below); addresses */
		w[0] = w0;
		w[1] = w1;
		w[2] = w2;
		w[3] = y->daddr[0];
		w[4] = y->saddr[0];
		((struct xg_ip4 *)p)->check =
			xg_fold((__u64)w0 + w1 + w2 + y->daddr[0] + y->saddr[0]);
		sum = (__u64)y->daddr[0] + y->saddr[0] + xg_htonl((IPPROTO_TCP << 16) | tcplen);
	}
	/* ports swapped; our cookie; their sequence number + 1; header
	 * length, SYN|ACK, window 0; checksum (below), no urgent pointer */
	t[0] = xg_pair16(y->dport, y->sport);
	t[1] = xg_htonl((__u32)y->cookie);
	t[2] = xg_htonl(xg_ntohl(y->seq) + 1);
	t[3] = xg_htonl(((tcplen / 4) << 28) | ((XG_TCP_SYN | XG_TCP_ACK) << 16));
	t[4] = 0;
	for (i = 0; i < 5; i++) {
		((__u32 *)th)[i] = t[i];
		sum += t[i];
	}
	/* The options, a word at a time (the frame ends right after them). */
	for (i = 0; i < XG_SYNACK_MAX_OPTS / 4; i++) {
		__u32 *o = (__u32 *)th->opts + i;

		if (i * 4 >= optlen)
			break;
		if ((__u8 *)(o + 1) > end)
			return XDP_ABORTED;
		*o = words[i];
		sum += words[i];
	}
	th->check = xg_fold(sum);
	return XDP_TX;
}

/*
 * The SYN at l3/l4 becomes our SYN-ACK, in place. Returns XDP_TX, or
 * XDP_PASS when it cannot (SYNPROXY then answers it).
 */
static __always_inline int xg_answer_syn(struct xdp_md *ctx, struct xdpguard_percpu *s,
					 const struct xdpguard_synproxy *sp)
{
	/* Not cleared (a dozen stores a SYN): xg_read_syn writes every field
	 * of y the SYN-ACK reads but the options, which the walk only sets,
	 * and the SYN-ACK reads only the option words xg_synack_opts wrote. */
	__u32 words[XG_SYNACK_MAX_OPTS / 4];
	struct xg_syn y;
	__u32 l4 = s->pkt.l4_off, optlen, tcplen, flen, tsval, *w;
	int v6 = s->pkt.family == 6;

	__builtin_memset(&y.opts, 0, sizeof(y.opts));

	if (v6 ? xg_read_syn(ctx, s, &y, 1) : xg_read_syn(ctx, s, &y, 0))
		return XDP_PASS;
	if (y.cookie < 0)
		return XDP_PASS;

	/* Our timestamp (ms), its low bits the client's options, when the
	 * client sent timestamps. The coarse clock (a tick) is precise enough:
	 * the low 6 bits (64 ms) are the cookie's anyway. */
	tsval = y.opts.has_ts ? xg_synack_tsval(&y.opts, (__u32)(bpf_ktime_get_coarse_ns() / 1000000)) : 0;

	/* No larger than the SYN's frame (THREATS.md): the options may use
	 * what the SYN's options and padding took. */
	flen = ctx->data_end - ctx->data;
	if (flen < l4 + 20)
		return XDP_PASS;
	/* clang must not know the buffer's alignment: it would turn w + 1
	 * into w | 4, which the verifier refuses on a pointer */
	w = words;
	barrier_var(w);
	optlen = xg_synack_opts(w, &y.opts, v6 ? sp->mss6 : sp->mss4, sp->wscale, tsval,
				flen - l4 - 20);
	tcplen = 20 + optlen;
	if (optlen > XG_SYNACK_MAX_OPTS || l4 + tcplen > flen)
		return XDP_PASS;

	/* The frame's new length, then the headers over it. */
	if (l4 + tcplen != flen && bpf_xdp_adjust_tail(ctx, (int)(l4 + tcplen) - (int)flen))
		return XDP_PASS;
	return v6 ? xg_write_synack(ctx, s, sp, &y, words, optlen, 1)
		  : xg_write_synack(ctx, s, sp, &y, words, optlen, 0);
}

/* Whether conntrack has this packet's connection (either direction). */
static __always_inline int xg_tracked(struct xdp_md *ctx, struct xdpguard_percpu *s)
{
	struct bpf_ct_opts___xg opts = {.netns_id = XG_CT_CURRENT_NETNS, .l4proto = IPPROTO_TCP};
	struct bpf_sock_tuple t = {};
	struct nf_conn *ct;
	__u32 size;

	if (s->pkt.family == 6) {
		__builtin_memcpy(t.ipv6.saddr, s->pkt.saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, s->pkt.daddr, 16);
		t.ipv6.sport = xg_htons(s->pkt.sport);
		t.ipv6.dport = xg_htons(s->pkt.dport);
		size = sizeof(t.ipv6);
	} else {
		t.ipv4.saddr = s->pkt.saddr[0];
		t.ipv4.daddr = s->pkt.daddr[0];
		t.ipv4.sport = xg_htons(s->pkt.sport);
		t.ipv4.dport = xg_htons(s->pkt.dport);
		size = sizeof(t.ipv4);
	}
	ct = bpf_xdp_ct_lookup(ctx, &t, size, &opts, XG_CT_OPTS_SZ);
	if (!ct)
		return 0;
	bpf_ct_release(ct);
	return 1;
}

/*
 * Whether the ACK carries one of our cookies: 1 if it completes the
 * handshake; 2 if it is a zero-window probe of a handshake whose ACK was
 * lost (its sequence number one less: our SYN-ACK offered window 0, so all
 * the client sends is probes, which neither the cookie check nor SYNPROXY
 * would ever accept); 0 if neither, or if the headers are not in the
 * frame's linear part. The headers are read in the frame.
 */
static __always_inline int xg_cookie_ack(struct xdp_md *ctx, const struct xdpguard_percpu *s, const int v6)
{
	struct xg_tcp probe;
	struct xg_tcp *th;
	__u8 *ip;

	if (xg_locate(ctx, s, &ip, &th, v6, 0))
		return 0;
	if ((v6 ? bpf_tcp_raw_check_syncookie_ipv6((struct ipv6hdr *)ip, (struct tcphdr *)th)
		: bpf_tcp_raw_check_syncookie_ipv4((struct iphdr *)ip, (struct tcphdr *)th)) == 0)
		return 1;
	__builtin_memcpy(&probe, th, 20);
	probe.seq = xg_htonl(xg_ntohl(th->seq) + 1);
	return (v6 ? bpf_tcp_raw_check_syncookie_ipv6((struct ipv6hdr *)ip, (struct tcphdr *)&probe)
		   : bpf_tcp_raw_check_syncookie_ipv4((struct iphdr *)ip, (struct tcphdr *)&probe)) == 0
		       ? 2
		       : 0;
}

/* The probe becomes the ACK it stands for: sequence number + 1, checksum
 * updated for the one word that changed. */
static __always_inline int xg_probe_to_ack(struct xdp_md *ctx, const struct xdpguard_percpu *s, const int v6)
{
	__u32 old_seq, new_seq;
	struct xg_tcp *th;
	__u8 *ip;

	if (xg_locate(ctx, s, &ip, &th, v6, 0))
		return -1;
	old_seq = th->seq;
	new_seq = xg_htonl(xg_ntohl(old_seq) + 1);
	th->check = xg_fold(bpf_csum_diff(&old_seq, 4, &new_seq, 4, (__wsum)(__u16)~th->check));
	th->seq = new_seq;
	return 0;
}

static __always_inline int xg_port_on(const struct xdpguard_synproxy *sp, __u16 port)
{
	for (__u32 i = 0; i < XDPGUARD_SYNPROXY_MAX_PORTS; i++) {
		if (i >= sp->nports)
			break;
		if (sp->ports[i] == port)
			return 1;
	}
	return 0;
}

/*
 * Whether the frame is for this host: sent to the interface's own MAC (not
 * a broadcast, a multicast or another host's, as a promiscuous interface or
 * a bridge port sees them), to an address that was local when enable ran
 * (not one we would forward, nor a broadcast or multicast one): the last
 * one found, or one of the tries. Only then may the stage answer, rewrite
 * or drop it.
 */
static __always_inline int xg_for_us(struct xdp_md *ctx, const struct xdpguard_percpu *s,
				     const struct xdpguard_synproxy *sp)
{
	__u8 *data = (__u8 *)(long)ctx->data, *end = (__u8 *)(long)ctx->data_end;
	struct xg_sp_last *last;
	__u32 zero = 0;

#ifdef XG_SYNPROXY_BENCH_WITHOUT_CHECKS /* bench/synflood only: what the checks cost */
	return 1;
#endif
	/* verifier: the destination MAC is in the frame */
	if (data + 6 > end)
		return 0;
	if (*(__u32 *)data != *(const __u32 *)sp->mac || *(__u16 *)(data + 4) != *(const __u16 *)(sp->mac + 4))
		return 0;
	last = bpf_map_lookup_elem(&xg_sp_last, &zero);
	/* verifier: lookups can fail */
	if (!last)
		return 0;
	if (s->pkt.family == 6) {
		struct xdpguard_sp_lpm6 k = {.prefixlen = 128};

		if (last->has6 && last->addr6[0] == s->pkt.daddr[0] && last->addr6[1] == s->pkt.daddr[1] &&
		    last->addr6[2] == s->pkt.daddr[2] && last->addr6[3] == s->pkt.daddr[3])
			return 1;
		__builtin_memcpy(k.addr, s->pkt.daddr, 16);
		if (!bpf_map_lookup_elem(&xg_sp_local6, &k))
			return 0;
		__builtin_memcpy(last->addr6, s->pkt.daddr, 16);
		last->has6 = 1;
	} else {
		struct xdpguard_sp_lpm4 k = {.prefixlen = 32, .addr = s->pkt.daddr[0]};

		if (last->has4 && last->addr4 == s->pkt.daddr[0])
			return 1;
		if (!bpf_map_lookup_elem(&xg_sp_local4, &k))
			return 0;
		last->addr4 = s->pkt.daddr[0];
		last->has4 = 1;
	}
	return 1;
}

/* Whether a socket of the host (not a listener) has this packet's
 * 4-tuple: a connection the kernel knows, conntrack or not. */
static __always_inline int xg_socket(struct xdp_md *ctx, const struct xdpguard_percpu *s)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 size;
	int known;

#ifdef XG_SYNPROXY_BENCH_WITHOUT_CHECKS
	return 0;
#endif
	if (s->pkt.family == 6) {
		__builtin_memcpy(t.ipv6.saddr, s->pkt.saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, s->pkt.daddr, 16);
		t.ipv6.sport = xg_htons(s->pkt.sport);
		t.ipv6.dport = xg_htons(s->pkt.dport);
		size = sizeof(t.ipv6);
	} else {
		t.ipv4.saddr = s->pkt.saddr[0];
		t.ipv4.daddr = s->pkt.daddr[0];
		t.ipv4.sport = xg_htons(s->pkt.sport);
		t.ipv4.dport = xg_htons(s->pkt.dport);
		size = sizeof(t.ipv4);
	}
	/* established, request and time-wait sockets first, then listeners */
	sk = bpf_skc_lookup_tcp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	known = sk->state != BPF_TCP_LISTEN;
	bpf_sk_release(sk);
	return known;
}

/* The proxy's verdict for a TCP packet to one of its ports. */
static __always_inline int xg_proxy(struct xdp_md *ctx, struct xdpguard_percpu *s,
				    const struct xdpguard_synproxy *sp)
{
	__u8 f = s->pkt.tcp_flags;
	int v;

	if (f & XG_TCP_SYN) {
		if (!xg_for_us(ctx, s, sp)) {
			xg_bump(&s->ddos[XDPGUARD_DDOS_NOT_LOCAL], s->len);
			return XDP_PASS;
		}
		if ((f & (XG_TCP_ACK | XG_TCP_RST | XG_TCP_FIN)) == 0) {
			v = xg_answer_syn(ctx, s, sp);
			if (v == XDP_TX)
				xg_bump(&s->ddos[XDPGUARD_DDOS_SYN_COOKIE], s->len);
			return v;
		}
		if (!(f & XG_TCP_ACK)) {
			/* SYN|FIN, SYN|RST: no client sends them; a listener
			 * discards them (tcp_rcv_state_process) */
			xg_bump(&s->ddos[XDPGUARD_DDOS_SYN_INVALID], s->len);
			return XDP_DROP;
		}
		/* SYN|ACK: below, like any packet of no known connection */
	}
	if (xg_tracked(ctx, s)) {
		xg_bump(&s->ddos[XDPGUARD_DDOS_ESTABLISHED], s->len);
		return XDP_PASS;
	}
	if (xg_socket(ctx, s)) {
		xg_bump(&s->ddos[XDPGUARD_DDOS_SOCKET], s->len);
		return XDP_PASS;
	}
	if ((f & (XG_TCP_SYN | XG_TCP_ACK | XG_TCP_RST)) == XG_TCP_ACK) {
		int v6 = s->pkt.family == 6;
		int ok = v6 ? xg_cookie_ack(ctx, s, 1) : xg_cookie_ack(ctx, s, 0);

		if (ok == 1) {
			xg_bump(&s->ddos[XDPGUARD_DDOS_ACK_VALID], s->len);
			return XDP_PASS;
		}
		if (!xg_for_us(ctx, s, sp)) {
			xg_bump(&s->ddos[XDPGUARD_DDOS_NOT_LOCAL], s->len);
			return XDP_PASS;
		}
		if (ok == 2) {
			if (v6 ? xg_probe_to_ack(ctx, s, 1) : xg_probe_to_ack(ctx, s, 0))
				return XDP_ABORTED;
			xg_bump(&s->ddos[XDPGUARD_DDOS_ACK_VALID], s->len);
			return XDP_PASS;
		}
		xg_bump(&s->ddos[XDPGUARD_DDOS_ACK_INVALID], s->len);
		return XDP_DROP;
	}
	if (!xg_for_us(ctx, s, sp)) {
		xg_bump(&s->ddos[XDPGUARD_DDOS_NOT_LOCAL], s->len);
		return XDP_PASS;
	}
	xg_bump(&s->ddos[XDPGUARD_DDOS_SYNPROXY_DROP], s->len);
	return XDP_DROP;
}

SEC("xdp")
int xdpguard_synproxy(struct xdp_md *ctx)
{
	struct xdpguard_synproxy *sp;
	struct xdpguard_percpu *s;
	__u32 zero = 0, action;

	s = bpf_map_lookup_elem(&xg_percpu, &zero);
	if (!s)
		return XDP_PASS;
	s->sp_seen |= XDPGUARD_SP_DECIDED;
	action = s->action;
	sp = bpf_map_lookup_elem(&xg_synproxy, &zero);
	if (sp && sp->active && xg_port_on(sp, s->pkt.dport))
		/* the rule's `log` threshold stays above the new action */
		action = (action & ~XDPGUARD_ACTION_MASK) | (__u32)xg_proxy(ctx, s, sp);
	/* Back to enforce if it sent the packet (a `log` rule's, or a capture
	 * runs); from the classifier, the verdict is applied here. The action
	 * is stored whole and applied from the register: a read of a word
	 * whose byte was just stored would wait for the store. */
	if (s->sp_seen & XDPGUARD_SP_VIA_ENFORCE) {
		s->action = action;
		bpf_tail_call(ctx, &xg_progs, XDPGUARD_PROG_ENFORCE);
	}
	action &= XDPGUARD_ACTION_MASK;
	s->action = action;
	return xg_apply_action(ctx, s, action);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
