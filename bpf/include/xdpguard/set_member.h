/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Membership in a named prefix set's images (abi.h, "Named prefix sets"),
 * written once and compiled twice:
 *
 *   - by clang for BPF in bpf/stubs.bpf.c (xg_set4_member, xg_set6_member),
 *     whose instructions the generated classifier splices in as its set
 *     functions (classifier/stub.h, Program::splice);
 *   - by the C++ compiler in classifier/sets.cpp (set4_contains,
 *     set6_contains), the view of an image the unit tests and the plan
 *     evaluator check against the prefixes themselves.
 *
 * The includer defines XG_SET4_IMAGE and XG_SET6_IMAGE, the types naming an
 * image, and XG_SET4_ELEM(img, idx) and XG_SET6_ELEM(img, idx): a const
 * pointer to element idx, NULL past the end.
 */
#ifndef XDPGUARD_SET_MEMBER_H
#define XDPGUARD_SET_MEMBER_H

#include "abi.h"
#include "parse.h" /* xg_ntohl */

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* The number of bits set in v (BPF has no popcount instruction). */
static __always_inline __u32 xg_popcount64(__u64 v)
{
	v = v - ((v >> 1) & 0x5555555555555555ull);
	v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (__u32)((v * 0x0101010101010101ull) >> 56);
}

/*
 * Whether IPv4 address `host` (host byte order) is in the image: record
 * host >> 14 holds its /24's bits (bit (host >> 8) & 63): in `full`, the
 * whole /24 is in; in `partial`, the /24's own 256-bit map says, found
 * after the records at rank + the partial /24s below it in the record.
 */
static __always_inline int xg_set4_has(XG_SET4_IMAGE img, __u32 host)
{
	const struct xdpguard_set4_elem *rec, *map;
	__u32 b = (host >> 8) & 63;
	__u64 partial;

	rec = XG_SET4_ELEM(img, host >> 14);
	if (!rec)
		return 0;
	if ((rec->rec.full >> b) & 1)
		return 1;
	partial = rec->rec.partial;
	if (!((partial >> b) & 1))
		return 0;
	map = XG_SET4_ELEM(img, XDPGUARD_SET4_RECORDS + rec->rec.rank +
				       xg_popcount64(partial & ((1ull << b) - 1)));
	if (!map)
		return 0;
	return (int)((map->bits[(host & 255) >> 6] >> (host & 63)) & 1);
}

/* IPv6: the search is abi.h's; the image builder (classifier/sets.cpp,
 * set6_hash) hashes keys with the same multipliers. */
#define XG_SET6_MAX_STEPS 7  /* binary search over at most 104 lengths */
#define XG_SET6_MAX_PROBES 4 /* buckets looked at from the key's home */
#define XG_SET6_FILTER_PER_ELEM 128
/* The hash's multipliers: x = (w0 ^ seed) * K0 + w1 * K1 + w2 * K2 + w3 * K3
 * + len; x ^= x >> 29; x *= K4 (64-bit). */
#define XG_SET6_K0 0x2545F491u
#define XG_SET6_K1 0x4F6CDD1Du
#define XG_SET6_K2 0x61C88647u
#define XG_SET6_K3 0x7FEB352Du
#define XG_SET6_K4 0x5BD1E995u

/* Word w of an address (host order) masked to its first len bits. */
static __always_inline __u32 xg_set6_word(__u32 w, __u32 word, __u32 len)
{
	if (len <= 32 * word)
		return 0;
	if (len >= 32 * (word + 1))
		return w;
	return (w >> (32 * (word + 1) - len)) << (32 * (word + 1) - len);
}

/*
 * Whether the IPv6 address `addr` (four words, network byte order, as the
 * packet has them) is in the image:
 * the filter first (none of the set's lengths in the address's region ends
 * the search; exactly one narrows it to one probe), then a binary search on
 * the lengths present, a probe at each: a prefix ends it, a marker goes on
 * to longer lengths, a miss to shorter ones.
 */
static __always_inline int xg_set6_has(XG_SET6_IMAGE img, const __u32 *addr)
{
	const struct xdpguard_set6_elem *h, *e;
	__u32 lo = 0, hi, g, step, probes;

	h = XG_SET6_ELEM(img, 0);
	if (!h)
		return 0;
	hi = h->hdr.nlens;
	g = h->hdr.filter_bits;
	if (g && g <= XDPGUARD_SET6_FILTER_MAX_BITS) {
		__u32 top = xg_ntohl(addr[0]) >> (32 - g);
		__u8 v;

		e = XG_SET6_ELEM(img, h->hdr.buckets + h->hdr.probes + top / XG_SET6_FILTER_PER_ELEM);
		if (!e)
			return 0;
		v = e->filter[top % XG_SET6_FILTER_PER_ELEM];
		if (v == 0)
			return 0;
		if (v != XDPGUARD_SET6_FILTER_MANY) {
			lo = v - 1u;
			hi = v;
		}
	}
	if (hi > XDPGUARD_SET6_MAX_LENS)
		hi = XDPGUARD_SET6_MAX_LENS;
	for (step = 0; step < XG_SET6_MAX_STEPS; step++) {
		__u32 mid, len, probe, w[4];
		__u64 x, home, tag;
		int found = 0;

		if (lo >= hi)
			return 0;
		/*
		 * verifier: what it learns of lo, hi and probes from the steps
		 * before (their ranges, hi = lo + 1 from the filter, probes
		 * narrowed by each probe loop's exit) decides the compares
		 * above, and a decided compare keeps states that differ only
		 * there apart: 2^7 paths of the search, 245,000 instructions
		 * verified, 250 ms a load of any classifier with an IPv6 set.
		 * Read back from the stack they are plain bytes again (lo < hi
		 * <= 104), each step's states alike: 22,000 instructions, for
		 * two stores and two loads a step (of the same size: no
		 * store-forwarding stall).
		 */
		{
			volatile __u8 lo_byte = (__u8)lo, hi_byte = (__u8)hi;

			lo = lo_byte;
			hi = hi_byte;
		}
		probes = *(volatile const __u8 *)&h->hdr.probes;
		if (probes > XG_SET6_MAX_PROBES)
			probes = XG_SET6_MAX_PROBES;
		mid = (lo + hi) >> 1;
		if (mid >= XDPGUARD_SET6_MAX_LENS)
			return 0;
		len = h->hdr.lens[mid];
		w[0] = xg_set6_word(xg_ntohl(addr[0]), 0, len);
		w[1] = xg_set6_word(xg_ntohl(addr[1]), 1, len);
		w[2] = xg_set6_word(xg_ntohl(addr[2]), 2, len);
		w[3] = xg_set6_word(xg_ntohl(addr[3]), 3, len);
		x = (__u64)(w[0] ^ h->hdr.seed) * XG_SET6_K0 + (__u64)w[1] * XG_SET6_K1 + (__u64)w[2] * XG_SET6_K2 +
		    (__u64)w[3] * XG_SET6_K3 + len;
		x ^= x >> 29;
		x *= XG_SET6_K4;
		home = ((x >> 32) * h->hdr.buckets) >> 32;
		/* the key's tag in every byte, to rule slots out 8 at a time */
		tag = (0x80 | ((x >> 16) & 0x7f)) * 0x0101010101010101ull;
		for (probe = 0; probe < probes; probe++) {
			const struct xdpguard_set6_elem *b = XG_SET6_ELEM(img, (__u32)(1 + home + probe));
			__u64 tags, cand;

			if (!b)
				break;
			/* Slots whose tag is the key's: the zero bytes of
			 * tags ^ tag (the "has a zero byte" trick may flag a
			 * byte too many, never one too few; the full compare
			 * sorts that out). Bytes 6-7 are flags and padding. */
			/* one 8-byte load: the tags sit 8-byte aligned in an
			 * element (classifier/sets.cpp asserts it; an array's
			 * elements are 8-byte aligned) */
			__builtin_memcpy(&tags,
					 __builtin_assume_aligned(
						 (const __u8 *)b + offsetof(struct xdpguard_set6_elem, bucket.tag), 8),
					 sizeof(tags));
			tags ^= tag;
			cand = (tags - 0x0101010101010101ull) & ~tags & 0x0000808080808080ull;
			for (int s = 0; s < XDPGUARD_SET6_SLOTS && cand; s++) {
				const struct xdpguard_set6_slot *sl = &b->bucket.slot[s];

				if (!((cand >> (8 * s + 7)) & 1))
					continue;
				if (sl->len == len && sl->addr[0] == w[0] && sl->addr[1] == w[1] && sl->addr[2] == w[2] &&
				    sl->addr[3] == w[3]) {
					found = sl->kind == XDPGUARD_SET6_KIND_PREFIX ? 1 : 2;
					break;
				}
			}
			/* not here: go on only if a key homed here was pushed further */
			if (found || !(b->bucket.flags & XDPGUARD_SET6_OVERFLOW))
				break;
		}
		if (found == 1)
			return 1;
		if (found == 2)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

#endif
