/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The SYN proxy's TCP options (synproxy.bpf.c, docs/ddos.md "SYN proxy"):
 * the walk over a client SYN's options, and the options of the SYN-ACK that
 * answers it. The same code compiles for BPF (clang -target bpf, where
 * bpf_loop runs xg_opt_step) and for userspace (the fuzz target
 * fuzz/synproxy_opts_fuzz.cpp, which runs it with xg_opt_walk_all): plain
 * byte arithmetic, no helpers.
 *
 * The walk follows the kernel's SYNPROXY (synproxy_parse_options in
 * net/netfilter/nf_synproxy_core.c), which must accept what the cookie
 * encodes: EOL ends the options, NOP is one byte, any other option has a
 * length byte >= 2 and must fit in what is left, else the walk stops there
 * (what was found before stays). Window scale is capped at 14, as the
 * kernel does. Only bytes below `len` are ever read.
 */
#ifndef XDPGUARD_SYNPROXY_OPTS_H
#define XDPGUARD_SYNPROXY_OPTS_H

#include <linux/types.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define XG_TCPOPT_EOL 0
#define XG_TCPOPT_NOP 1
#define XG_TCPOPT_MSS 2
#define XG_TCPOPT_WINDOW 3
#define XG_TCPOPT_SACK_PERM 4
#define XG_TCPOPT_TIMESTAMP 8
#define XG_MAX_WSCALE 14
#define XG_TCP_MAX_OPTS 40 /* bytes of options a TCP header can carry */
#define XG_TSCOOKIE_BITS 6 /* low bits of our timestamp: wscale (4), SACK, ECN */
#define XG_TSCOOKIE_NO_WSCALE 0xf
#define XG_TSCOOKIE_SACK (1u << 4)
/* Steps the walk needs at most: every step consumes at least one byte. */
#define XG_OPT_MAX_STEPS XG_TCP_MAX_OPTS
/* The options buffer: 40 bytes and room for the masked indexes below, which
 * keep every read inside it for the verifier. */
#define XG_OPT_BUF 64
/* The most options a SYN-ACK of ours carries: MSS, SACK-permitted (or two
 * NOPs), timestamps, NOP and window scale. */
#define XG_SYNACK_MAX_OPTS 20

/* What the client's SYN offered. */
struct xg_syn_opts {
	__u32 tsval;
	__u8 wscale;
	__u8 has_ts;
	__u8 has_ws;
	__u8 has_sack;
};

struct xg_opt_walk {
	const __u8 *opts; /* the SYN's options: a buffer of XG_OPT_BUF bytes */
	__u32 len;        /* how many of them are options (<= 40) */
	__u32 at;         /* where the next option starts */
	struct xg_syn_opts *out;
};

/* One option per call (bpf_loop's callback: the verifier checks the body
 * once); returns 1 when the walk is over. */
static long xg_opt_step(__u32 i, void *data)
{
	struct xg_opt_walk *w = (struct xg_opt_walk *)data;
	__u32 at = w->at;
	__u8 kind, len;

	(void)i;
	if (at >= w->len || at >= XG_TCP_MAX_OPTS)
		return 1;
	kind = w->opts[at & (XG_OPT_BUF - 1)];
	if (kind == XG_TCPOPT_EOL)
		return 1;
	if (kind == XG_TCPOPT_NOP) {
		w->at = at + 1;
		return 0;
	}
	if (at + 1 >= w->len)
		return 1;
	len = w->opts[(at + 1) & (XG_OPT_BUF - 1)];
	if (len < 2 || at + len > w->len)
		return 1;
	if (kind == XG_TCPOPT_WINDOW && len == 3) {
		__u8 ws = w->opts[(at + 2) & (XG_OPT_BUF - 1)];

		w->out->wscale = ws > XG_MAX_WSCALE ? XG_MAX_WSCALE : ws;
		w->out->has_ws = 1;
	} else if (kind == XG_TCPOPT_SACK_PERM && len == 2) {
		w->out->has_sack = 1;
	} else if (kind == XG_TCPOPT_TIMESTAMP && len == 10) {
		__u32 v = 0;

		v |= (__u32)w->opts[(at + 2) & (XG_OPT_BUF - 1)] << 24;
		v |= (__u32)w->opts[(at + 3) & (XG_OPT_BUF - 1)] << 16;
		v |= (__u32)w->opts[(at + 4) & (XG_OPT_BUF - 1)] << 8;
		v |= (__u32)w->opts[(at + 5) & (XG_OPT_BUF - 1)];
		w->out->tsval = v;
		w->out->has_ts = 1;
	}
	w->at = at + len;
	return 0;
}

#ifndef __bpf__
/* What bpf_loop(XG_OPT_MAX_STEPS, xg_opt_step, w, 0) does; returns the
 * steps taken, as bpf_loop does. */
static inline int xg_opt_walk_all(struct xg_opt_walk *w)
{
	int n = 0;

	while (n < XG_OPT_MAX_STEPS) {
		long stop = xg_opt_step((__u32)n, w);

		n++;
		if (stop)
			break;
	}
	return n;
}
#endif

/*
 * Our timestamp for a SYN-ACK (when the client sent timestamps): the time
 * in ms, its low 6 bits the client's options as SYNPROXY reads them back
 * from the ACK's echo (the "timestamp cookie": window scale, or 0xf for
 * none, and SACK-permitted).
 */
static __always_inline __u32 xg_synack_tsval(const struct xg_syn_opts *c, __u32 now_ms)
{
	__u32 tsval;

	if (!c->has_ts)
		return 0;
	tsval = now_ms & ~((1u << XG_TSCOOKIE_BITS) - 1);
	tsval |= c->has_ws ? c->wscale : XG_TSCOOKIE_NO_WSCALE;
	if (c->has_sack)
		tsval |= XG_TSCOOKIE_SACK;
	return tsval;
}

/* The 32-bit word whose bytes in memory are a, b, c, d (big-endian
 * composition, stored as it reads in the header), whatever the host order. */
static __always_inline __u32 xg_opt_word(__u32 be)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap32(be);
#else
	return be;
#endif
}

/*
 * Writes the SYN-ACK's options into w (XG_SYNACK_MAX_OPTS / 4 words at
 * least), a whole word at a time, and returns their length in bytes (a
 * multiple of 4), in the kernel SYNPROXY's layout: MSS, then window scale
 * and SACK-permitted only with timestamps (their client values travel in
 * the low bits of our timestamp, `tsval`). Every option group of that layout
 * is one or more aligned words, so the stage copies and sums words it holds
 * in registers instead of reading bytes back. `room` is how many bytes of
 * options the reply may have without being larger than the SYN's frame
 * (THREATS.md: no reply larger than what caused it): our MSS goes in only
 * when it fits (a SYN without an MSS option of its own, unpadded, gets none,
 * and the client then uses the protocol's default, 536 or 1220). What is
 * echoed never needs more room than the SYN's own options took.
 */
static __always_inline __u32 xg_synack_opts(__u32 *w, const struct xg_syn_opts *c, __u16 mss, __u8 wscale,
					     __u32 tsval, __u32 room)
{
	__u32 n = 0;
	__u32 echoed = c->has_ts ? 12 + (c->has_ws ? 4 : 0) : 0;

	if (echoed + 4 <= room)
		w[n++] = xg_opt_word((XG_TCPOPT_MSS << 24) | (4 << 16) | mss);
	if (c->has_ts) {
		w[n++] = xg_opt_word(c->has_sack ? (XG_TCPOPT_SACK_PERM << 24) | (2 << 16) | (XG_TCPOPT_TIMESTAMP << 8) | 10
						 : (XG_TCPOPT_NOP << 24) | (XG_TCPOPT_NOP << 16) | (XG_TCPOPT_TIMESTAMP << 8) | 10);
		w[n++] = xg_opt_word(tsval);
		w[n++] = xg_opt_word(c->tsval);
		if (c->has_ws)
			w[n++] = xg_opt_word((XG_TCPOPT_NOP << 24) | (XG_TCPOPT_WINDOW << 16) | (3 << 8) | wscale);
	}
	return n * 4;
}

#endif
