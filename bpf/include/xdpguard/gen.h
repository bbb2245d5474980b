/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The generator's per-frame rewrite, shared by bpf/gen.bpf.c and userspace
 * (the unit tests run it on the template and check every checksum from
 * scratch). It writes the random fields as absolute values — in live-frames
 * mode a page may come back with an earlier frame's bytes — and computes the
 * checksums from the template's partial sums plus the words just written.
 * So every other byte must be the template's: true unless a program on the
 * receiving side rewrites frames in place (a reflector, NAT), whose edits
 * would come back in recycled pages and spoil later frames. SYN templates,
 * the ones reflectors (SYN proxies) answer in place, have their headers
 * written back first (xdpguard_gen_cfg.restore_len, gen.bpf.c); the others
 * do not pay for it.
 */
#ifndef XDPGUARD_GEN_H
#define XDPGUARD_GEN_H

#include "abi.h"
#include "parse.h"

static __always_inline __u16 xg_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* Bounded offset of a field of n bytes, or 0 when it would pass `end`. */
static __always_inline __u8 *xg_gen_field(__u8 *data, const __u8 *end, __u16 off, int n)
{
	__u8 *p = data + (off & 0x1ff);
	if (p + n > end)
		return 0;
	return p;
}

/* Rewrites one frame; r1, r2 are random. Returns 0, or -1 when a configured
 * field lies beyond the frame (the loader never configures that). */
static __always_inline int xg_gen_rewrite(__u8 *data, const __u8 *end,
					  const volatile struct xdpguard_gen_cfg *c,
					  __u32 r1, __u32 r2)
{
	__u32 addr_words = 0, port_word = 0;
	__u8 *p;

	if (c->flags & XDPGUARD_GEN_RAND_SADDR) {
		__u32 v = (c->saddr_base & c->saddr_keep) | (r1 & ~c->saddr_keep);
		p = xg_gen_field(data, end, c->saddr_off, 4);
		if (!p)
			return -1;
		__builtin_memcpy(p, &v, 4);
		addr_words = (v & 0xffff) + (v >> 16);
	}
	if (c->flags & XDPGUARD_GEN_RAND_SPORT) {
		__u32 span = c->sport_span ? c->sport_span : 65536;
		__u16 port = (__u16)(c->sport_lo + r2 % span);
		__u16 w = xg_ntohs(port);
		p = xg_gen_field(data, end, c->sport_off, 2);
		if (!p)
			return -1;
		__builtin_memcpy(p, &w, 2);
		port_word = w;
	}
	if (c->ip_csum_off) {
		__u16 csum = (__u16)~xg_csum_fold(c->ip_sum + addr_words);
		p = xg_gen_field(data, end, c->ip_csum_off, 2);
		if (!p)
			return -1;
		__builtin_memcpy(p, &csum, 2);
	}
	if (c->l4_csum_off) {
		__u16 csum = (__u16)~xg_csum_fold(c->l4_sum + addr_words + port_word);
		if (csum == 0 && c->zero_csum_as_ffff)
			csum = 0xffff;
		p = xg_gen_field(data, end, c->l4_csum_off, 2);
		if (!p)
			return -1;
		__builtin_memcpy(p, &csum, 2);
	}
	return 0;
}

#endif /* XDPGUARD_GEN_H */
