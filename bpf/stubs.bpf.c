// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * stubs: parts of the generated classifier written in C (bpfilter's "ELF
 * stubs"). Nothing here is loaded as it is: the classifier's emitter takes
 * a function's instructions from this object (classifier/stub.h) and splices
 * them into the program it generates (Program::splice); the map each
 * ld_imm64 names becomes the pipeline's map of that name (emit.h, kMapNames).
 *
 *   xg_set4_member, xg_set6_member  the set membership functions, spliced
 *                     as the body of a global function of the same signature
 *                     (classifier/asm.h, FnSig::SetMember)
 *   xg_verdict        the classifier's verdict, spliced inline at its end:
 *                     pipeline.h's xg_apply_action, which enforce runs too
 *   xg_verdict_synproxy  the same while the SYN proxy is on: a passed TCP
 *                     packet goes to its stage first, as enforce and the
 *                     limiter decide it (xg_synproxy_wants)
 *   xg_limit_failed   a limited rule whose limiter stage cannot be reached,
 *                     spliced inline: pipeline.h's xg_resume_failed, which
 *                     the limiter runs when it cannot resume the classifier
 *
 * So the functions may call helpers and read the pipeline's maps, but call
 * nothing else (no BPF-to-BPF calls: everything is inlined) and use no
 * global data.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpguard/abi.h>
#include <xdpguard/parse.h> /* xg_ntohl */
#include <xdpguard/pipeline.h>
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

/*
 * The verdict `action` (pass, drop or redirect: an XDP_* without log bits),
 * counted for the packet's rule (s->slot) and action and applied, exactly
 * as the enforce stage applies one. Spliced inline where the classifier
 * ends: its exits end the program.
 */
__attribute__((noinline)) int xg_verdict(struct xdp_md *ctx, struct xdpguard_percpu *s, __u32 action)
{
	/* Inline, the verifier knows s for the per-CPU entry (not NULL): no
	 * check, unlike a function that trusts only its signature. */
	return xg_apply_action(ctx, s, action);
}

/* The verdict while the SYN proxy is on (the classifier is compiled with
 * this one then): what the proxy must see goes to its stage, which answers
 * or drops, or comes back through enforce; the rest as xg_verdict. */
__attribute__((noinline)) int xg_verdict_synproxy(struct xdp_md *ctx, struct xdpguard_percpu *s, __u32 action)
{
	if (xg_synproxy_wants(s))
		bpf_tail_call(ctx, &xg_progs, XDPGUARD_PROG_SYNPROXY);
	/* no synproxy stage (enable or disable half-way): the verdict as it is */
	return xg_apply_action(ctx, s, action);
}

/* The tail call to the limiter failed: the packet dropped and counted as a
 * failed resume, as the limiter does when it cannot come back. */
__attribute__((noinline)) int xg_limit_failed(struct xdp_md *ctx, struct xdpguard_percpu *s)
{
	return xg_resume_failed(ctx, s);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
