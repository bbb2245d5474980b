// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * cookie_floor: the least an XDP program can do to answer a SYN with a SYN
 * cookie, for synflood_bench's floor row. Untagged IPv4 only, no IP
 * options, the SYN's TCP options ignored (the SYN-ACK offers an MSS only),
 * no rules, no counters, no conntrack: check it is a SYN, get the kernel's
 * cookie, rewrite the frame into the SYN-ACK in place (direct packet
 * access, fixed offsets), checksums, XDP_TX. Everything else passes.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpguard/parse.h>

struct floor_syn {
	__u8 dst[6], src[6];
	__u16 proto;
	/* IPv4 */
	__u8 ver_ihl, tos;
	__u16 tot_len, id, frag_off;
	__u8 ttl, protocol;
	__u16 check;
	__u32 saddr, daddr;
	/* TCP */
	__u16 sport, dport;
	__u32 seq, ack_seq;
	__u8 doff_res, flags;
	__u16 window, tcheck, urg;
	__u8 mss[4]; /* the SYN-ACK's option */
} __attribute__((packed));

static __always_inline __u16 fold(__s64 sum)
{
	__u64 s = (__u64)sum & 0xffffffff;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

SEC("xdp")
int cookie_floor(struct xdp_md *ctx)
{
	__u8 *data = (__u8 *)(long)ctx->data, *end = (__u8 *)(long)ctx->data_end;
	struct floor_syn *p = (struct floor_syn *)data;
	__u32 pseudo[3], saddr, daddr, seq;
	__u8 mac[6];
	__u16 port;
	__s64 cookie, sum;
	long len = end - data;

	if (data + offsetof(struct floor_syn, mss) > end)
		return XDP_PASS;
	if (p->proto != xg_ntohs(XG_ETH_P_IP) || p->ver_ihl != 0x45 || p->protocol != IPPROTO_TCP ||
	    (p->doff_res >> 4) != 5 || (p->flags & (XG_TCP_SYN | XG_TCP_ACK | XG_TCP_RST)) != XG_TCP_SYN)
		return XDP_PASS;
	cookie = bpf_tcp_raw_gen_syncookie_ipv4((struct iphdr *)(data + 14), (struct tcphdr *)(data + 34), 20);
	if (cookie < 0)
		return XDP_PASS;
	if (len != sizeof(*p) && bpf_xdp_adjust_tail(ctx, (int)(sizeof(*p) - len)))
		return XDP_PASS;
	data = (__u8 *)(long)ctx->data;
	end = (__u8 *)(long)ctx->data_end;
	p = (struct floor_syn *)data;
	if (data + sizeof(*p) > end)
		return XDP_ABORTED;

	__builtin_memcpy(mac, p->dst, 6);
	__builtin_memcpy(p->dst, p->src, 6);
	__builtin_memcpy(p->src, mac, 6);
	saddr = p->saddr;
	daddr = p->daddr;
	p->saddr = daddr;
	p->daddr = saddr;
	p->tot_len = xg_ntohs(20 + 24);
	p->id = 0;
	p->frag_off = xg_ntohs(0x4000);
	p->ttl = 64;
	p->check = 0;
	p->check = fold(bpf_csum_diff(0, 0, (__be32 *)(data + 14), 20, 0));
	port = p->sport;
	p->sport = p->dport;
	p->dport = port;
	seq = p->seq;
	p->ack_seq = xg_ntohl(xg_ntohl(seq) + 1);
	p->seq = xg_ntohl((__u32)cookie);
	p->doff_res = 6 << 4;
	p->flags = XG_TCP_SYN | XG_TCP_ACK;
	p->window = 0;
	p->urg = 0;
	p->mss[0] = 2;
	p->mss[1] = 4;
	p->mss[2] = 1460 >> 8;
	p->mss[3] = 1460 & 0xff;
	p->tcheck = 0;
	pseudo[0] = daddr;
	pseudo[1] = saddr;
	pseudo[2] = xg_ntohl((IPPROTO_TCP << 16) | 24);
	sum = bpf_csum_diff(0, 0, pseudo, sizeof(pseudo), 0);
	p->tcheck = fold(bpf_csum_diff(0, 0, (__be32 *)(data + 34), 24, (__wsum)sum));
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
