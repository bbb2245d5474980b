/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * What every stage of the pipeline shares (docs/classifier.md), in whichever
 * BPF object it is built: the per-CPU packet state, the per-rule counters,
 * the program array, the SYN proxy's settings, and apply(), which counts a
 * verdict and returns it. guard.bpf.c creates these maps (and attach pins
 * them); synproxy.bpf.c reuses the pinned ones (guard/guard_synproxy.cpp).
 */
#ifndef XDPGUARD_PIPELINE_H
#define XDPGUARD_PIPELINE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <linux/in.h>
#include <xdpguard/abi.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGUARD_MAX_RULES + 1);
	__type(key, __u32);
	__type(value, struct xdpguard_counter);
} xg_rule_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpguard_percpu);
} xg_percpu SEC(".maps");

/* The pipeline's stages; pinned, or the kernel empties it with its last fd. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, XDPGUARD_NUM_PROGS);
	__type(key, __u32);
	__type(value, __u32);
} xg_progs SEC(".maps");

/* The SYN proxy's settings (abi.h): the classifier reads `active`, the
 * synproxy stage the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpguard_synproxy);
} xg_synproxy SEC(".maps");

/* AF_XDP sockets by RX queue (abi.h, "AF_XDP"); filled by consumers. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XDPGUARD_XSK_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xg_xsks SEC(".maps");

static __always_inline void xg_bump(struct xdpguard_counter *c, __u64 bytes)
{
	c->packets++;
	c->bytes += bytes;
}

/*
 * `redirect xsk`: to the socket of the receiving queue, else the rule's
 * fallback verdict (the low bits of the target word), counted by reason.
 */
static __always_inline int xg_redirect_xsk(struct xdp_md *ctx, struct xdpguard_percpu *s)
{
	__u32 fallback = s->ifindex & XDPGUARD_XSK_FALLBACK_MASK;
	__u32 queue = ctx->rx_queue_index;
	int action;

	if (queue >= XDPGUARD_XSK_QUEUES) {
		xg_bump(&s->xsk[XDPGUARD_XSK_NO_QUEUE], s->len);
		return fallback;
	}
	action = bpf_redirect_map(&xg_xsks, queue, fallback);
	xg_bump(&s->xsk[action == XDP_REDIRECT ? XDPGUARD_XSK_REDIRECTED : XDPGUARD_XSK_NO_SOCKET], s->len);
	return action;
}

/* Counts and applies a verdict, `action` (s->action's, without the log
 * bits): for a stage that holds it in a register. */
static __always_inline int xg_apply_action(struct xdp_md *ctx, struct xdpguard_percpu *s, __u32 action)
{
	if (s->slot <= XDPGUARD_MAX_RULES) {
		__u32 slot = s->slot;
		struct xdpguard_counter *c = bpf_map_lookup_elem(&xg_rule_stats, &slot);

		/* verifier: lookups can fail */
		if (c)
			xg_bump(c, s->len);
	}
	if (action == XDP_REDIRECT)
		action = (s->ifindex & XDPGUARD_REDIRECT_XSK) ? xg_redirect_xsk(ctx, s)
							      : bpf_redirect(s->ifindex, 0);
	/* verifier: bound the counter index (bpf_redirect returns an XDP_*);
	 * barrier_var keeps clang from checking a copy instead; a 64-bit
	 * index needs no zero-extension */
	__u64 idx = action < XDPGUARD_NUM_ACTIONS ? action : XDP_ABORTED;

	barrier_var(idx);
	xg_bump(&s->actions[idx], s->len);
	return (int)idx;
}

/* Counts and applies s->action: enforce's work, and the fallbacks'. */
static __always_inline int xg_apply(struct xdp_md *ctx, struct xdpguard_percpu *s)
{
	return xg_apply_action(ctx, s, s->action);
}

/*
 * A limited rule whose resume cannot happen: the tail call to the limiter
 * (from the classifier) or back to the classifier (from the limiter) failed
 * (no such stage, or the packet used up the kernel's 33 tail calls: more
 * than 16 limited rules it was under). Whether the packet is over the limit,
 * or what the rules after it say, is unknown: it is dropped (the stricter
 * verdict), counted in ddos[RESUME_FAILED] and no rule's counter. The
 * limiter runs this; the classifier splices it in (bpf/stubs.bpf.c).
 */
static __always_inline int xg_resume_failed(struct xdp_md *ctx, struct xdpguard_percpu *s)
{
	xg_bump(&s->ddos[XDPGUARD_DDOS_RESUME_FAILED], s->len);
	s->lim_resume = 0;
	s->slot = XDPGUARD_SLOT_NONE;
	s->action = XDP_DROP;
	return xg_apply_action(ctx, s, XDP_DROP);
}

/*
 * Whether a verdict goes to the SYN proxy first: a TCP packet (not a later
 * fragment) that would pass, while the proxy is on and has not seen it. The
 * proxy checks the port. Enforce, the limiter and the classifier (this C,
 * spliced: bpf/stubs.bpf.c's xg_verdict_synproxy) make it here.
 */
static __always_inline int xg_synproxy_wants(const struct xdpguard_percpu *s)
{
	struct xdpguard_synproxy *sp;
	__u32 zero = 0;

	if ((s->action & XDPGUARD_ACTION_MASK) != XDP_PASS || s->pkt.l4proto != IPPROTO_TCP ||
	    s->pkt.frag || (s->sp_seen & XDPGUARD_SP_DECIDED))
		return 0;
	sp = bpf_map_lookup_elem(&xg_synproxy, &zero);
	return sp && sp->active;
}

#endif
