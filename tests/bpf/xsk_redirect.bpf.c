// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * xsk_redirect: the smallest program that feeds AF_XDP sockets, for the
 * tests of src/lib/xsk (tests/bpf/xsk_socket_test.cpp): every frame goes to
 * the socket registered in `xsks` under its RX queue, or to the stack
 * (XDP_PASS, the flags argument) when that queue has none.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

SEC("xdp")
int xsk_redirect(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
