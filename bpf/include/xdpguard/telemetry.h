/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Telemetry, kernel side (docs/telemetry.md): BPF only, included by
 * guard.bpf.c after its pipeline maps. Types and limits are in abi.h.
 *
 *   xg_events     the ring buffer of records (one per interface, pinned)
 *   xg_telemetry  the reader's request: capture on/off, snaplen, verdicts,
 *                 sampling, lease (struct xdpguard_telemetry)
 *   xg_tm_stats   per-CPU: records, lost, sampled out, unread
 *   xg_talkers    per-CPU LRU hash: packets and bytes per source (opt-in;
 *                 the generated classifier counts them while they are on)
 *   xg_talk_on    element 0 nonzero: count top talkers
 *   xg_flood_cfg, xg_flood  flood detection's thresholds and state
 *                 (userspace only); xg_flood_count() (parse_stage.h) feeds its counters
 *
 * xg_tm_record() runs in the enforce stage after the verdict is applied; it
 * decides whether the packet is recorded (the rule's log threshold, the
 * capture's verdict filter and sampling), and copies the header and at most
 * snaplen bytes of the frame into one ring buffer reservation. The data
 * path never waits: a full ring buffer costs one failed reservation,
 * counted in `lost`.
 */
#ifndef XDPGUARD_TELEMETRY_H
#define XDPGUARD_TELEMETRY_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"
#include "parse.h" /* XG_TCP_*, IPPROTO_* */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XDPGUARD_EVENTS_BYTES);
} xg_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpguard_telemetry);
} xg_telemetry SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpguard_tm_stats);
} xg_tm_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, XDPGUARD_TALKERS_MAX);
	__type(key, struct xdpguard_talker_key);
	__type(value, struct xdpguard_counter);
} xg_talkers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} xg_talk_on SEC(".maps");

/* Flood detection's thresholds and published state (abi.h): userspace
 * only, created and pinned with the program's maps. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpguard_flood_cfg);
} xg_flood_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpguard_flood_state);
} xg_flood SEC(".maps");

/* Does a hit with sampling threshold `thr` get recorded? */
static __always_inline int xg_tm_sampled(__u32 thr)
{
	if (thr >= XDPGUARD_LOG_ALL)
		return 1;
	return (bpf_get_prandom_u32() & (XDPGUARD_LOG_SCALE - 1)) < thr;
}

/*
 * One record of `size` bytes of frame room (a constant: ring buffer
 * reservations must have a size the verifier knows), of which cap_len
 * (<= size) are filled. Returns 0, or -1 when the ring buffer is full.
 */
static __always_inline int xg_tm_emit(struct xdp_md *ctx, const struct xdpguard_percpu *s, __u64 now,
				      __u8 reason, __u32 verdict, __u32 cap_len, const __u32 size)
{
	struct xdpguard_record *r;
	__u64 avail;

	r = bpf_ringbuf_reserve(&xg_events, sizeof(*r) + size, 0);
	if (!r)
		return -1;
	r->ts_ns = now;
	r->ifindex = ctx->ingress_ifindex;
	r->rule_id = s->slot;
	r->orig_len = s->len;
	r->type = XDPGUARD_REC_PACKET;
	r->reason = reason;
	r->verdict = verdict;
	r->pad[0] = r->pad[1] = r->pad[2] = 0;
	r->cpu = bpf_get_smp_processor_id();
	__builtin_memcpy(&r->pkt, &s->pkt, sizeof(r->pkt));
	/* verifier: the copy must fit the reservation */
	if (cap_len > size)
		cap_len = size;
	r->cap_len = 0;
	if (cap_len > 0 && bpf_xdp_load_bytes(ctx, 0, r + 1, cap_len) == 0)
		r->cap_len = cap_len;
	/*
	 * Wake the reader once per batch: when this record takes the unread
	 * data across XDPGUARD_EVENTS_WAKEUP. A wakeup per record (what the
	 * default does while the reader keeps up) costs about a microsecond,
	 * and a forced one each time several; the reader also looks every
	 * 100 ms on its own, for the records of a quiet interface.
	 */
	avail = bpf_ringbuf_query(&xg_events, BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(r, avail >= XDPGUARD_EVENTS_WAKEUP &&
				      avail < XDPGUARD_EVENTS_WAKEUP + sizeof(*r) + size + 8
			      ? BPF_RB_FORCE_WAKEUP
			      : BPF_RB_NO_WAKEUP);
	return 0;
}

/*
 * After the verdict: records the packet if its rule logs it (`log_thr`, from
 * the verdict word) or the running capture asks for it. `verdict` is the
 * XDP action returned.
 */
static __noinline int xg_tm_record(struct xdp_md *ctx, struct xdpguard_percpu *s,
				   struct xdpguard_telemetry *tm, __u32 log_thr, __u32 verdict)
{
	struct xdpguard_tm_stats *st;
	__u32 zero = 0, cap_len;
	__u8 reason = 0;
	__u64 now;
	int err;

	/* verifier: a global-looking subprogram trusts nothing; check again */
	if (!ctx || !s || !tm)
		return 0;
	st = bpf_map_lookup_elem(&xg_tm_stats, &zero);
	if (!st)
		return 0;
	if (log_thr) {
		if (xg_tm_sampled(log_thr))
			reason |= XDPGUARD_REASON_LOG;
		else
			st->sampled_out++;
	}
	if (tm->capture && verdict < 32 && ((tm->verdicts >> verdict) & 1)) {
		if (xg_tm_sampled(tm->sample))
			reason |= XDPGUARD_REASON_CAPTURE;
		else
			st->sampled_out++;
	}
	if (!reason)
		return 0;

	/* Before the clock: bpf_ktime_get_ns() costs 10-20 ns in a VM. */
	if (!tm->reader) {
		st->unread++;
		return 0;
	}
	now = bpf_ktime_get_ns();
	if (now > tm->lease_ns) {
		/* The reader died without saying so: end its request, so that the
		 * classifier's fast path is back. Under the lock, and checked
		 * again there: a new reader may have written meanwhile. */
		bpf_spin_lock(&tm->lock);
		if (now > tm->lease_ns) {
			tm->capture = 0;
			tm->reader = XDPGUARD_READER_NONE;
		}
		bpf_spin_unlock(&tm->lock);
		st->unread++;
		return 0;
	}

	cap_len = tm->snaplen;
	if (cap_len > s->len)
		cap_len = s->len;
	if (cap_len > XDPGUARD_MAX_SNAPLEN)
		cap_len = XDPGUARD_MAX_SNAPLEN;
	/* Reservations of constant sizes, the smallest that holds cap_len. */
	if (cap_len == 0)
		err = xg_tm_emit(ctx, s, now, reason, verdict, 0, 0);
	else if (cap_len <= 64)
		err = xg_tm_emit(ctx, s, now, reason, verdict, cap_len, 64);
	else if (cap_len <= 128)
		err = xg_tm_emit(ctx, s, now, reason, verdict, cap_len, 128);
	else if (cap_len <= 256)
		err = xg_tm_emit(ctx, s, now, reason, verdict, cap_len, 256);
	else if (cap_len <= 512)
		err = xg_tm_emit(ctx, s, now, reason, verdict, cap_len, 512);
	else if (cap_len <= 1024)
		err = xg_tm_emit(ctx, s, now, reason, verdict, cap_len, 1024);
	else if (cap_len <= 2048)
		err = xg_tm_emit(ctx, s, now, reason, verdict, cap_len, 2048);
	else
		err = xg_tm_emit(ctx, s, now, reason, verdict, cap_len, XDPGUARD_MAX_SNAPLEN);
	if (err) {
		st->lost++;
	} else {
		st->records++;
		st->record_bytes += cap_len;
	}
	return 0;
}

#endif /* XDPGUARD_TELEMETRY_H */
