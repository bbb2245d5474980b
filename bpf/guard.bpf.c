// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * guard: the main xdpguard XDP program. Parses every frame (Ethernet, two VLAN
 * tags, IPv4 with options, IPv6 with extension headers, TCP/UDP/ICMP), counts
 * it per parse outcome and per verdict, and returns the verdict. Loaded through
 * the libxdp dispatcher, so XDP_PASS lets the next program on the interface run.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpguard/abi.h>
#include <xdpguard/parse.h>

/* Knobs set by the loader before load (rodata), see guard/guard.cpp. */
const volatile __u32 cfg_default_action = XDP_PASS;
const volatile __u32 cfg_non_ip_action = XDP_PASS;
const volatile __u32 cfg_malformed_action = XDP_PASS;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGUARD_NUM_ACTIONS);
	__type(key, __u32);
	__type(value, struct xdpguard_counter);
} xg_actions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGUARD_PARSE_MAX);
	__type(key, __u32);
	__type(value, struct xdpguard_counter);
} xg_parse SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGUARD_MAX_RULES + 1);
	__type(key, __u32);
	__type(value, struct xdpguard_counter);
} xg_rule_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpguard_meta);
} xg_meta SEC(".maps");

static __always_inline void count(void *map, __u32 key, __u64 bytes)
{
	struct xdpguard_counter *c = bpf_map_lookup_elem(map, &key);

	/* verifier: lookups can fail (key out of range) */
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

SEC("xdp")
int xdpguard(struct xdp_md *ctx)
{
	__u8 *data = (__u8 *)(long)ctx->data;
	__u8 *data_end = (__u8 *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct xg_pkt pkt = {};
	__u32 action;
	int outcome;

	outcome = xg_parse_packet(data, data_end, &pkt);
	count(&xg_parse, outcome, len);
	if (pkt.frag)
		count(&xg_parse, XDPGUARD_PARSE_FRAGMENT, len);

	switch (outcome) {
	case XDPGUARD_PARSE_NON_IP:
		action = cfg_non_ip_action;
		break;
	case XDPGUARD_PARSE_TRUNCATED:
	case XDPGUARD_PARSE_MALFORMED:
		action = cfg_malformed_action;
		break;
	default:
		/* no rules yet: every IP packet takes the default action */
		action = cfg_default_action;
		count(&xg_rule_stats, XDPGUARD_RULE_DEFAULT, len);
		break;
	}
	count(&xg_actions, action, len);
	return action;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
