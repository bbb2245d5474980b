// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * gen: the traffic generator's XDP program. Run by BPF_PROG_TEST_RUN in
 * live-frames mode on a template frame: it rewrites the random fields of each
 * frame (xdpguard/gen.h) and returns XDP_TX, which sends the frame out of the
 * interface named as the run's ingress (for a veth: to its peer).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpguard/gen.h>

/* Set by the loader before load, see src/lib/gen/generator.cpp. */
const volatile struct xdpguard_gen_cfg cfg = {};

/* Frames rewritten and handed to XDP_TX; one runner at a time per object. */
__u64 frames = 0;
/*
 * Pacing, set by the runner between runs (0: off). A frame goes out no
 * sooner than next_ns, which then moves on by pace_ns; a frame that comes
 * too early is dropped (recycled, never sent), so the run spins until the
 * next one is due. A runner that fell behind (preempted, or busy with the
 * frames it sent: the peer's NAPI runs here) catches up with what fell due
 * in the last XG_GEN_CATCH_UP_NS at most, at once: bursts stay that short.
 * `limit`: no frame goes out once `frames` reaches it (0: none), so a
 * paced run sends an exact count. first_ns / last_ns: when the first and
 * the last paced frame went out.
 */
#define XG_GEN_CATCH_UP_NS 5000000
__u64 pace_ns = 0;
__u64 next_ns = 0;
__u64 limit = 0;
__u64 first_ns = 0;
__u64 last_ns = 0;

/* Does this frame go out now? */
static __always_inline int xg_gen_due(void)
{
	__u64 now, due;

	if (limit && frames >= limit)
		return 0;
	if (!pace_ns)
		return 1;
	now = bpf_ktime_get_ns();
	if (!first_ns) {
		/* the run's first frame: the pace starts now, with no catch-up */
		first_ns = now;
		next_ns = now;
	}
	if (now < next_ns)
		return 0;
	due = now - XG_GEN_CATCH_UP_NS;
	next_ns = (next_ns > due ? next_ns : due) + pace_ns;
	last_ns = now;
	return 1;
}

SEC("xdp")
int xg_gen(struct xdp_md *ctx)
{
	__u8 *data = (__u8 *)(long)ctx->data;
	__u8 *end = (__u8 *)(long)ctx->data_end;

	/* headers back to the template's (abi.h, restore_len): word i at 8i,
	 * the last one ending where the headers end */
	XG_UNROLL
	for (int i = 0; i < XDPGUARD_GEN_HEAD_WORDS; i++) {
		__u32 off = i * 8;
		__u64 *w;

		if (off >= cfg.restore_len)
			break;
		if (off + 8 > cfg.restore_len)
			off = cfg.restore_len - 8;
		w = (__u64 *)(data + (off & 0x1ff)); /* verifier: a bounded offset */
		if ((__u8 *)(w + 1) > end)
			break;
		*w = cfg.head[i];
	}
	if (xg_gen_rewrite(data, end, &cfg,
			   bpf_get_prandom_u32(), bpf_get_prandom_u32()) < 0)
		return XDP_ABORTED;
	if (!xg_gen_due())
		return XDP_DROP;
	frames++;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
