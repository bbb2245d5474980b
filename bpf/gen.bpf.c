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

SEC("xdp")
int xg_gen(struct xdp_md *ctx)
{
	__u8 *data = (__u8 *)(long)ctx->data;
	__u8 *end = (__u8 *)(long)ctx->data_end;

	/* headers back to the template's (abi.h, restore_len) */
	XG_UNROLL
	for (int i = 0; i < XDPGUARD_GEN_HEAD_WORDS; i++) {
		__u64 *w = (__u64 *)data + i;

		if (i * 8 >= cfg.restore_len || (__u8 *)(w + 1) > end)
			break;
		*w = cfg.head[i];
	}
	if (xg_gen_rewrite(data, end, &cfg,
			   bpf_get_prandom_u32(), bpf_get_prandom_u32()) < 0)
		return XDP_ABORTED;
	frames++;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
