// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * count_syns: the smallest complete xdpguard XDP program. Counts TCP SYNs
 * (SYN set, ACK clear: connection attempts) per source address in an LRU
 * hash, and passes every packet on.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpguard/parse.h>
#include "count_syns.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, COUNT_SYNS_MAX_SOURCES);
	__type(key, struct syn_source);
	__type(value, __u64);
} syn_counts SEC(".maps");

SEC("xdp")
int count_syns(struct xdp_md *ctx)
{
	struct xdpguard_pkt pkt = {};
	struct syn_source src = {};
	__u64 one = 1, *count;
	int outcome;

	outcome = xg_parse_packet((__u8 *)(long)ctx->data, (__u8 *)(long)ctx->data_end, &pkt);
	if ((outcome != XDPGUARD_PARSE_IPV4 && outcome != XDPGUARD_PARSE_IPV6) ||
	    pkt.l4proto != IPPROTO_TCP || pkt.frag ||
	    (pkt.tcp_flags & (XG_TCP_SYN | XG_TCP_ACK)) != XG_TCP_SYN)
		return XDP_PASS;

	src.family = pkt.family;
	__builtin_memcpy(src.addr, pkt.saddr, sizeof(src.addr));
	count = bpf_map_lookup_elem(&syn_counts, &src);
	if (count)
		__sync_fetch_and_add(count, 1); /* several CPUs may count at once */
	else
		bpf_map_update_elem(&syn_counts, &src, &one, BPF_NOEXIST);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
