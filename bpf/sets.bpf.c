// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * sets: the set membership functions of the generated classifier, in C.
 * Nothing here is loaded as it is: the classifier's emitter takes each
 * function's instructions from this object (classifier/stub.h) and splices
 * them into the program it generates, as the body of a global function of
 * the same signature (classifier/asm.h, FnSig::SetMember); the map each
 * ld_imm64 names becomes the pipeline's map of that name.
 *
 * So the functions may call helpers and read maps of xdpguard/sets.h, but
 * call nothing else (no BPF-to-BPF calls: everything is inlined) and use no
 * global data.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpguard/abi.h>
#include <xdpguard/parse.h> /* xg_ntohl */
#include <xdpguard/sets.h>

/* Element idx of an IPv4 set's inner map, NULL past its end. */
static __always_inline const struct xdpguard_set4_elem *xg_set4_elem(void *inner, __u32 idx)
{
	return bpf_map_lookup_elem(inner, &idx);
}
#define XG_SET4_IMAGE void *
#define XG_SET4_ELEM(img, idx) xg_set4_elem(img, idx)
/* The same for an IPv6 set. */
static __always_inline const struct xdpguard_set6_elem *xg_set6_elem(void *inner, __u32 idx)
{
	return bpf_map_lookup_elem(inner, &idx);
}
#define XG_SET6_IMAGE void *
#define XG_SET6_ELEM(img, idx) xg_set6_elem(img, idx)
#include <xdpguard/set_member.h>

/* An address of the per-CPU entry (struct xdpguard_pkt's saddr or daddr):
 * 16 bytes, network byte order; IPv4 in word 0. */
struct xdpguard_addr {
	__u32 w[4];
};

/* 1 when IPv4 address `addr` is in set `set` (slot of xg_set4), else 0. */
__attribute__((noinline)) int xg_set4_member(__u32 set, struct xdpguard_addr *addr)
{
	void *inner;

	/* a global function trusts only its signature: addr may be NULL */
	if (!addr)
		return 0;
	inner = bpf_map_lookup_elem(&xg_set4, &set);
	if (!inner)
		return 0;
	return xg_set4_has(inner, xg_ntohl(addr->w[0]));
}

/* 1 when IPv6 address `addr` is in set `set` (slot of xg_set6), else 0. */
__attribute__((noinline)) int xg_set6_member(__u32 set, struct xdpguard_addr *addr)
{
	void *inner;

	if (!addr)
		return 0;
	inner = bpf_map_lookup_elem(&xg_set6, &set);
	if (!inner)
		return 0;
	return xg_set6_has(inner, addr->w);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
