/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The parser stage's work on one frame, for whichever program runs it:
 * guard.bpf.c's attached program, and the benchmark's one-program floor
 * (bench/floor/floor10.bpf.c), which measures what the pipeline would cost
 * without the tail call into the classifier (docs/classifier.md, "Paying
 * only for what is on").
 *
 * It parses the frame into the per-CPU entry (xg_percpu, pipeline.h),
 * counts the parse outcome, resets the verdict words the later stages
 * read, and says where the packet goes: to the rules (1), or (0) straight
 * to the verdict it has set in s->action (the non-IP and malformed actions
 * from xg_meta, drop for what could hide a header).
 */
#ifndef XDPGUARD_PARSE_STAGE_H
#define XDPGUARD_PARSE_STAGE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"
#include "parse.h"
#include "pipeline.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpguard_meta);
} xg_meta SEC(".maps");

/*
 * The action for frames that are not IP (malformed: 0) or for IP packets
 * with a truncated or malformed header (1), from xg_meta: read for those
 * frames only, and changed in place by `apply` (no new program).
 */
static __always_inline __u32 xg_knob(int malformed)
{
	struct xdpguard_meta *m;
	__u32 zero = 0;

	m = bpf_map_lookup_elem(&xg_meta, &zero);
	/* verifier: lookups can fail (an array's element 0 cannot) */
	if (!m)
		return XDP_PASS;
	return malformed ? m->malformed_action : m->non_ip_action;
}

/*
 * Flood detection (abi.h): counts an IP packet whose headers are complete
 * for the protocol floods are made of, if any. SYN is TCP with SYN set and
 * ACK clear (a SYN-ACK answers; it does not open). A non-first fragment
 * has no L4 header: it counts as a fragment only (parse[FRAGMENT]).
 */
static __always_inline void xg_flood_count(struct xdpguard_percpu *s)
{
	__u8 proto = s->pkt.l4proto;
	int k;

	if (s->pkt.frag)
		return;
	if (proto == IPPROTO_UDP)
		k = XDPGUARD_FLOOD_UDP;
	else if (proto == IPPROTO_TCP &&
		 (s->pkt.tcp_flags & (XG_TCP_SYN | XG_TCP_ACK)) == XG_TCP_SYN)
		k = XDPGUARD_FLOOD_SYN;
	else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		k = XDPGUARD_FLOOD_ICMP;
	else
		return;
	s->flood[k].packets++;
	s->flood[k].bytes += s->len;
}

static __always_inline int xg_parse_stage(struct xdp_md *ctx, struct xdpguard_percpu *s)
{
	__u8 *data = (__u8 *)(long)ctx->data;
	__u8 *data_end = (__u8 *)(long)ctx->data_end;
	int outcome;

	/*
	 * The parser sets what it finds: clear what the last packet left in the
	 * fields it may skip (ports, offsets, flags, counts, lengths: 28 bytes).
	 * The addresses need no clearing: each family writes all it has, and
	 * the classifier reads only the packet's own family's words.
	 */
	__builtin_memset(&s->pkt.sport, 0, sizeof(s->pkt) - offsetof(struct xdpguard_pkt, sport));
	s->len = data_end - data;
	outcome = xg_parse_packet(data, data_end, &s->pkt);
	/* verifier: bound the counter index */
	if (outcome < 0 || outcome >= XDPGUARD_PARSE_FRAGMENT)
		outcome = XDPGUARD_PARSE_MALFORMED;
	barrier_var(outcome);
	xg_bump(&s->parse[outcome], s->len);
	if (s->pkt.frag == XDPGUARD_FRAG_LATER)
		xg_bump(&s->parse[XDPGUARD_PARSE_FRAGMENT], s->len);

	s->slot = XDPGUARD_SLOT_NONE;
	s->lim_resume = 0;
	s->sp_seen = 0;
	/*
	 * The rules judge every packet with a sound IP header: complete ones,
	 * and truncated or malformed ones with what could be read (their L4
	 * fields, if cut, match no rule), unless the malformed action is drop
	 * (docs/parsing.md). Fragments that could hide a header are dropped.
	 */
	if (s->pkt.family &&
	    (outcome == XDPGUARD_PARSE_IPV4 || outcome == XDPGUARD_PARSE_IPV6 ||
	     ((outcome == XDPGUARD_PARSE_TRUNCATED || outcome == XDPGUARD_PARSE_MALFORMED) &&
	      xg_knob(1) != XDP_DROP)))
		return 1;
	if (outcome == XDPGUARD_PARSE_NON_IP)
		s->action = xg_knob(0);
	else if (outcome == XDPGUARD_PARSE_UNSAFE)
		s->action = XDP_DROP;
	else
		s->action = xg_knob(1);
	return 0;
}

#endif /* XDPGUARD_PARSE_STAGE_H */
