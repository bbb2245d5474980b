/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Membership in a named prefix set's IPv4 image (abi.h, "Named prefix
 * sets"), written once and compiled twice:
 *
 *   - by clang for BPF in bpf/sets.bpf.c (xg_set4_member), whose
 *     instructions the generated classifier splices in as its set function
 *     (classifier/stub.h, Program::splice);
 *   - by the C++ compiler in classifier/sets.cpp (set4_contains), the view of
 *     an image the unit tests and the plan evaluator check against prefixes.
 *
 * The includer defines XG_SET4_IMAGE, the type naming an image, and
 * XG_SET4_ELEM(img, idx): a const pointer to element idx, NULL past the end.
 */
#ifndef XDPGUARD_SET_MEMBER_H
#define XDPGUARD_SET_MEMBER_H

#include "abi.h"

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

#endif
