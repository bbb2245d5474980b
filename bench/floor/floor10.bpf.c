// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * floor10: the floor for xdpguard's "10 rules" benchmark rows: what a
 * hand-written XDP program costs that does the same job for one fixed rule
 * set. It parses with xdpguard's own parser (xdpguard/parse.h), checks the
 * ten rules of bench::ten_rules() (bench/common/workloads.cpp) with plain
 * if-statements, first match wins, counts the packet per rule and per
 * action in per-CPU counters as xdpguard does, and returns the verdict.
 *
 * Slot 0 of fl_rule_stats counts IP packets no rule matched (the default
 * action, XDP_PASS, as xdpguard's default configuration); slots 1..10 count
 * rules 1..10. Non-IP, truncated and malformed frames pass uncounted per
 * rule, as in xdpguard. The rules are IPv4 rules with ports, so IPv6 packets
 * and non-first fragments match none of them. classifier_bench checks that this program and
 * xdpguard agree on a packet for every rule before it measures either.
 *
 * floor_no_rules is the floor of the "no rules" rows: the same parser and
 * counters, and no rule (every IP packet counted in slot 0, passed).
 *
 * floor_kept_no_rules is xdpguard's own no-rules work in one program: its
 * parser stage (xdpguard/parse_stage.h: the packet kept in the per-CPU
 * entry for the stages after it, the parse outcome and flood detection
 * counted) and the verdict the classifier splices in (pipeline.h's
 * xg_apply_action, the default rule counted in xg_rule_stats), with no tail
 * call between them: what the pipeline would cost as one program.
 *
 * floor_limit and floor_nolimit are the floor of the rate limiter's rows:
 * classifier_bench's two limited rules written by hand, first match wins,
 *   1: drop udp dport 53 limit over 1/d burst 1 per saddr
 *   2: drop udp dport 54 limit over 1000000000/s burst 1000000000 per saddr
 * (floor_nolimit: the same two rules without their limits). A bucket per
 * rule and source address in an LRU hash, keyed and valued as xdpguard's
 * (abi.h), the loader sizes it; GCRA on the tick clock
 * (bpf_ktime_get_coarse_ns) with one compare-and-swap. Over its limit a
 * rule drops and counts the packet (slot 1 or 2); under it the packet goes
 * on to the next rule, then to the default pass (slot 0).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpguard/abi.h>
#include <xdpguard/parse.h>
#include <xdpguard/parse_stage.h> /* floor_kept_no_rules */

#define FLOOR_RULES 10

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FLOOR_RULES + 1);
	__type(key, __u32);
	__type(value, struct xdpguard_counter);
} fl_rule_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGUARD_NUM_ACTIONS);
	__type(key, __u32);
	__type(value, struct xdpguard_counter);
} fl_action_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);  /* Floor::load(limit_buckets) */
	__type(key, struct xdpguard_limit_key);
	__type(value, struct xdpguard_bucket);
} fl_limit_src SEC(".maps");

/* addr (host order) inside net/len */
#define IN4(addr, net, len) (((addr) >> (32 - (len))) == ((__u32)(net) >> (32 - (len))))

static __always_inline void count(void *map, __u32 key, __u64 bytes)
{
	struct xdpguard_counter *c = bpf_map_lookup_elem(map, &key);

	/* verifier: lookups can fail */
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* The ten rules, first match wins: the rule slot (0: none matched). */
static __always_inline __u32 floor_ten_rules(const struct xdpguard_pkt *p)
{
	__u32 s = xg_ntohl(p->saddr[0]);
	int udp = p->l4proto == IPPROTO_UDP, tcp = p->l4proto == IPPROTO_TCP;

	/* IPv6 packets and non-first fragments match none of the rules */
	if (p->family != 4 || p->frag)
		return 0;
	/* drop udp dport 10000 saddr 10.0.0.1 */
	if (udp && p->dport == 10000 && s == 0x0a000001)
		return 1;
	/* drop tcp dport 10001 saddr 10.0.1.0/24 */
	if (tcp && p->dport == 10001 && IN4(s, 0x0a000100, 24))
		return 2;
	/* drop udp sport 10002 saddr 10.0.2.0/28 */
	if (udp && p->sport == 10002 && IN4(s, 0x0a000200, 28))
		return 3;
	/* pass tcp dport 10003-10006 saddr 11.0.0.0/16 */
	if (tcp && p->dport >= 10003 && p->dport <= 10006 && IN4(s, 0x0b000000, 16))
		return 4;
	/* drop udp dport 10004 saddr 10.0.4.1 */
	if (udp && p->dport == 10004 && s == 0x0a000401)
		return 5;
	/* drop tcp dport 10005 saddr 10.0.5.0/24 */
	if (tcp && p->dport == 10005 && IN4(s, 0x0a000500, 24))
		return 6;
	/* drop udp sport 10006 saddr 10.0.6.0/28 */
	if (udp && p->sport == 10006 && IN4(s, 0x0a000600, 28))
		return 7;
	/* pass tcp dport 10007-10010 saddr 11.0.0.0/16 */
	if (tcp && p->dport >= 10007 && p->dport <= 10010 && IN4(s, 0x0b000000, 16))
		return 8;
	/* drop udp dport 10008 saddr 10.0.8.1 */
	if (udp && p->dport == 10008 && s == 0x0a000801)
		return 9;
	/* drop udp dport 9 saddr 198.18.0.0/15 */
	if (udp && p->dport == 9 && IN4(s, 0xc6120000, 15))
		return 10;
	return 0;
}

/* Counts an IP packet for its rule slot and verdict, and returns it. */
static __always_inline int floor_verdict(__u32 slot, __u32 len)
{
	__u32 action = slot && slot != 4 && slot != 8 ? XDP_DROP : XDP_PASS;

	count(&fl_rule_stats, slot, len);
	count(&fl_action_stats, action, len);
	return action;
}

SEC("xdp")
int floor10(struct xdp_md *ctx)
{
	__u8 *data = (__u8 *)(long)ctx->data;
	__u8 *data_end = (__u8 *)(long)ctx->data_end;
	struct xdpguard_pkt p = {};
	__u32 len = data_end - data;
	int outcome = xg_parse_packet(data, data_end, &p);

	if (outcome != XDPGUARD_PARSE_IPV4 && outcome != XDPGUARD_PARSE_IPV6) {
		count(&fl_action_stats, XDP_PASS, len);
		return XDP_PASS;
	}
	return floor_verdict(floor_ten_rules(&p), len);
}

/*
 * The same two jobs in two programs, as xdpguard splits them: floor_split
 * and floor_split_no_rules parse into a per-CPU entry (cleared as xdpguard's
 * parser clears it) and tail-call slot 0 of fl_progs, floor_split_ten (the
 * ten rules), or slot 1, floor_split_none (no rule); those read the packet's
 * fields back from the entry (Floor::load fills the slots). What they cost over floor10 / floor_no_rules is the price of the
 * split itself (a tail call, a second per-CPU lookup, the fields through
 * memory), with none of xdpguard's other work.
 */
struct floor_state {
	struct xdpguard_pkt pkt;
	__u32 len;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct floor_state);
} fl_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} fl_progs SEC(".maps");

static __always_inline int floor_split_parse(struct xdp_md *ctx, __u32 slot)
{
	__u8 *data = (__u8 *)(long)ctx->data;
	__u8 *data_end = (__u8 *)(long)ctx->data_end;
	struct floor_state *st;
	__u32 zero = 0;
	int outcome;

	st = bpf_map_lookup_elem(&fl_state, &zero);
	if (!st)
		return XDP_PASS;
	__builtin_memset(&st->pkt.sport, 0, sizeof(st->pkt) - offsetof(struct xdpguard_pkt, sport));
	st->len = data_end - data;
	outcome = xg_parse_packet(data, data_end, &st->pkt);
	if (outcome == XDPGUARD_PARSE_IPV4 || outcome == XDPGUARD_PARSE_IPV6)
		bpf_tail_call(ctx, &fl_progs, slot);
	count(&fl_action_stats, XDP_PASS, st->len);
	return XDP_PASS;
}

SEC("xdp")
int floor_split(struct xdp_md *ctx)
{
	return floor_split_parse(ctx, 0);
}

SEC("xdp")
int floor_split_no_rules(struct xdp_md *ctx)
{
	return floor_split_parse(ctx, 1);
}

static __always_inline int floor_split_stage(int rules)
{
	struct floor_state *st;
	__u32 zero = 0;

	st = bpf_map_lookup_elem(&fl_state, &zero);
	if (!st)
		return XDP_PASS;
	return floor_verdict(rules ? floor_ten_rules(&st->pkt) : 0, st->len);
}

SEC("xdp")
int floor_split_ten(struct xdp_md *ctx)
{
	return floor_split_stage(1);
}

SEC("xdp")
int floor_split_none(struct xdp_md *ctx)
{
	return floor_split_stage(0);
}

SEC("xdp")
int floor_no_rules(struct xdp_md *ctx)
{
	__u8 *data = (__u8 *)(long)ctx->data;
	__u8 *data_end = (__u8 *)(long)ctx->data_end;
	struct xdpguard_pkt p = {};
	__u32 len = data_end - data;
	int outcome = xg_parse_packet(data, data_end, &p);

	if (outcome == XDPGUARD_PARSE_IPV4 || outcome == XDPGUARD_PARSE_IPV6)
		count(&fl_rule_stats, 0, len);
	count(&fl_action_stats, XDP_PASS, len);
	return XDP_PASS;
}

SEC("xdp")
int floor_kept_no_rules(struct xdp_md *ctx)
{
	struct xdpguard_percpu *s;
	__u32 zero = 0;

	s = bpf_map_lookup_elem(&xg_percpu, &zero);
	if (!s)
		return XDP_PASS;
	if (!xg_parse_stage(ctx, s))
		return xg_apply(ctx, s);
	xg_flood_count(s);
	/* the classifier's entry, no rule: the default's verdict */
	s->prio = XDPGUARD_PRIO_NONE;
	s->slot = XDPGUARD_RULE_DEFAULT;
	s->action = XDP_PASS;
	return xg_apply_action(ctx, s, XDP_PASS);
}

/* 1 when the packet is over rule `rule`'s limit (cost_ns a packet, a
 * bucket tau_ns deep); a source without a bucket gets one, charged. */
static __always_inline int fl_over(__u32 rule, const struct xdpguard_pkt *p, __u64 cost_ns, __u64 tau_ns)
{
	struct xdpguard_limit_key k = {};
	struct xdpguard_bucket nb = {}, *b;
	__u64 now = bpf_ktime_get_coarse_ns(), old, tat;

	k.rule = rule;
	k.family = p->family;
	k.len = p->family == 6 ? 128 : 32;
	k.addr[0] = p->saddr[0];
	if (p->family == 6) {
		k.addr[1] = p->saddr[1];
		k.addr[2] = p->saddr[2];
		k.addr[3] = p->saddr[3];
	}
	b = bpf_map_lookup_elem(&fl_limit_src, &k);
	if (!b) {
		nb.tat = now + cost_ns;
		bpf_map_update_elem(&fl_limit_src, &k, &nb, BPF_NOEXIST);
		return 0;
	}
	old = b->tat;
	tat = old > now ? old : now;
	if (tat - now > tau_ns)
		return 1;
	return __sync_val_compare_and_swap(&b->tat, old, tat + cost_ns) != old;
}

static __always_inline int fl_limit_rules(struct xdp_md *ctx, int limited)
{
	__u8 *data = (__u8 *)(long)ctx->data;
	__u8 *data_end = (__u8 *)(long)ctx->data_end;
	struct xdpguard_pkt p = {};
	__u32 len = data_end - data;
	__u32 action = XDP_PASS, slot = 0;
	int outcome = xg_parse_packet(data, data_end, &p);

	if (outcome != XDPGUARD_PARSE_IPV4 && outcome != XDPGUARD_PARSE_IPV6) {
		count(&fl_action_stats, action, len);
		return action;
	}
	if (!p.frag && p.l4proto == IPPROTO_UDP) {
		if (p.dport == 53 && (!limited || fl_over(1, &p, 86400000000000ull, 8000000)))
			slot = 1;
		else if (p.dport == 54 && (!limited || fl_over(2, &p, 1, 999999999)))
			slot = 2;
	}
	if (slot)
		action = XDP_DROP;
	count(&fl_rule_stats, slot, len);
	count(&fl_action_stats, action, len);
	return action;
}

SEC("xdp")
int floor_limit(struct xdp_md *ctx)
{
	return fl_limit_rules(ctx, 1);
}

SEC("xdp")
int floor_nolimit(struct xdp_md *ctx)
{
	return fl_limit_rules(ctx, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
