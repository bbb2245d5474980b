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

/*
 * The compiled rule set: one hash map per generation, installed in slot 0.
 * Userspace builds a new inner map beside the live one and swaps it in with
 * one write; packets already holding the old one finish with it (RCU).
 */
struct cls_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	/* sizes, not types: clang emits only forward declarations for types
	 * reached through an inner-map template */
	__uint(key_size, sizeof(struct xdpguard_cls_key));
	__uint(value_size, sizeof(union xdpguard_cls_value));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct cls_inner);
} xg_cls SEC(".maps");

/*
 * Per-CPU copy of the live rule set's tuple descriptors, so that the walk
 * reads them from memory instead of one hash lookup each. It belongs to the
 * rule-set generation whose header carries the same stamp (the inner map's
 * id; the kernel hands out map ids cyclically, so a later rule set does not
 * get the same one): a packet uses the copy only when the stamp equals that
 * of the header it read, and otherwise refills it from the same inner map
 * first. So a packet still sees exactly one generation. This relies on XDP
 * runs not interleaving on one CPU (true for driver, generic and test runs
 * on non-RT kernels).
 */
struct desc_cache {
	__u32 generation; /* 0: empty */
	__u32 pad;
	struct xdpguard_tuple t[XDPGUARD_MAX_TUPLES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct desc_cache);
} xg_desc_cache SEC(".maps");

/* Named prefix sets: one LPM trie per set and family, swapped whole. */
struct set4_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct xdpguard_lpm4_key));
	__uint(value_size, 1);
};

struct set6_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct xdpguard_lpm6_key));
	__uint(value_size, 1);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGUARD_MAX_SETS);
	__type(key, __u32);
	__array(values, struct set4_inner);
} xg_set4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGUARD_MAX_SETS);
	__type(key, __u32);
	__array(values, struct set6_inner);
} xg_set6 SEC(".maps");

/* Userspace-only state, created and pinned with the program's maps. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPGUARD_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct xdpguard_rule_info);
} xg_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPGUARD_MAX_SETS);
	__type(key, __u32);
	__type(value, struct xdpguard_set_info);
} xg_set_names SEC(".maps");

static __always_inline void count(void *map, __u32 key, __u64 bytes)
{
	struct xdpguard_counter *c = bpf_map_lookup_elem(map, &key);

	/* verifier: lookups can fail (key out of range) */
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline __u32 mask32(__u32 bits)
{
	if (bits >= 32)
		return 0xffffffff;
	if (bits == 0)
		return 0;
	return __builtin_bswap32(0xffffffffu << (32 - bits));
}

static __always_inline __u16 mask16(__u32 bits)
{
	if (bits >= 16)
		return 0xffff;
	return (__u16)(0xffff0000u >> bits);
}

/* Masks a packet address to `len` bits into out (4 words, IPv4 in word 0). */
static __always_inline void mask_addr(__u32 *out, const __u32 *in, __u32 len, __u8 family)
{
	if (family == 4) {
		out[0] = in[0] & mask32(len);
		return;
	}
	out[0] = in[0] & mask32(len);
	out[1] = in[1] & mask32(len > 32 ? len - 32 : 0);
	out[2] = in[2] & mask32(len > 64 ? len - 64 : 0);
	out[3] = in[3] & mask32(len > 96 ? len - 96 : 0);
}

/* Is the packet's source (src=1) or destination address in set `set`? */
static __always_inline int in_set(__u32 set, const struct xg_pkt *p, int src)
{
	const __u32 *addr = src ? p->saddr : p->daddr;

	if (p->family == 4) {
		struct xdpguard_lpm4_key k = { .prefixlen = 32, .addr = addr[0] };
		void *trie = bpf_map_lookup_elem(&xg_set4, &set);

		return trie && bpf_map_lookup_elem(trie, &k);
	} else {
		struct xdpguard_lpm6_key k = { .prefixlen = 128 };
		void *trie = bpf_map_lookup_elem(&xg_set6, &set);

		__builtin_memcpy(k.addr, addr, sizeof(k.addr));
		return trie && bpf_map_lookup_elem(trie, &k);
	}
}

struct verdict {
	__u32 prio;
	__u32 slot;
	__u32 action;
	__u32 ifindex;
};

/* State of one packet's walk over the tuples (bpf_loop context). */
struct walk {
	const struct xg_pkt *pkt;
	void *cls; /* the rule-set generation this packet was given */
	const struct desc_cache *desc; /* its tuple descriptors */
	struct verdict v;
	__u64 checked_src, member_src, checked_dst, member_dst;
	struct xdpguard_cls_key key;
};

/* Memoised set membership of the packet's source or destination. */
static __always_inline int member(struct walk *w, __u8 set_plus_one, int src)
{
	/* verifier: keep the shift in range */
	__u32 s = (__u32)(set_plus_one - 1) & (XDPGUARD_MAX_SETS - 1);
	__u64 bit = 1ULL << s;
	__u64 *checked = src ? &w->checked_src : &w->checked_dst;
	__u64 *members = src ? &w->member_src : &w->member_dst;

	if (!(*checked & bit)) {
		*checked |= bit;
		if (in_set(s, w->pkt, src))
			*members |= bit;
	}
	return (*members & bit) != 0;
}

/*
 * One tuple: bpf_loop callback, so the verifier checks the body once instead
 * of once per iteration (a plain loop over 256 tuples exceeds its budget).
 * Returns 1 to stop the walk.
 */
static long walk_tuple(__u32 i, void *ctx)
{
	struct walk *w = ctx;
	const struct xg_pkt *p = w->pkt;
	union xdpguard_cls_value *val;
	struct xdpguard_tuple t;

	t = w->desc->t[i & (XDPGUARD_MAX_TUPLES - 1)];
	/* tuples are sorted by their best rule: no later one can win */
	if (t.min_prio >= w->v.prio)
		return 1;
	if (t.family && t.family != p->family)
		return 0;
	if (t.has_proto && t.proto != p->l4proto)
		return 0;
	if (t.l4 && p->frag)
		return 0;
	if (t.saddr_set && !member(w, t.saddr_set, 1))
		return 0;
	if (t.daddr_set && !member(w, t.daddr_set, 0))
		return 0;

	__builtin_memset(&w->key, 0, sizeof(w->key));
	w->key.kind = XDPGUARD_KEY_MATCH;
	w->key.tuple = i;
	w->key.family = t.family ? p->family : 0;
	w->key.proto = t.has_proto ? p->l4proto : 0;
	w->key.flags = p->tcp_flags & t.flags_mask;
	w->key.sport = p->sport & mask16(t.sport_len);
	w->key.dport = p->dport & mask16(t.dport_len);
	if (t.family && !t.saddr_set)
		mask_addr(w->key.saddr, p->saddr, t.saddr_len, t.family);
	if (t.family && !t.daddr_set)
		mask_addr(w->key.daddr, p->daddr, t.daddr_len, t.family);
	val = bpf_map_lookup_elem(w->cls, &w->key);
	if (val && val->match.prio < w->v.prio) {
		w->v.prio = val->match.prio;
		w->v.slot = val->match.slot;
		w->v.action = val->match.action;
		w->v.ifindex = val->match.ifindex;
	}
	return 0;
}

struct fill {
	void *cls;
	struct desc_cache *desc;
	int ok;
};

/* Copies descriptor i of the rule set into the per-CPU cache. */
static long fill_tuple(__u32 i, void *ctx)
{
	struct fill *f = ctx;
	struct xdpguard_cls_key key = { .kind = XDPGUARD_KEY_TUPLE, .tuple = i };
	union xdpguard_cls_value *val = bpf_map_lookup_elem(f->cls, &key);

	if (!val) {
		f->ok = 0;
		return 1;
	}
	f->desc->t[i & (XDPGUARD_MAX_TUPLES - 1)] = val->tuple;
	return 0;
}

/*
 * Tuple space search, first match wins: returns 1 and fills v when a rule
 * matches; 0 when none does (v->action is then the installed rule set's
 * default action, or untouched when no rule set is installed).
 */
static __always_inline int classify(const struct xg_pkt *p, struct verdict *v)
{
	struct walk w = { .pkt = p };
	union xdpguard_cls_value *val;
	struct desc_cache *desc;
	__u32 zero = 0, ntuples, generation;

	w.cls = bpf_map_lookup_elem(&xg_cls, &zero);
	if (!w.cls)
		return 0;
	w.key.kind = XDPGUARD_KEY_HEADER;
	val = bpf_map_lookup_elem(w.cls, &w.key);
	if (!val)
		return 0;
	ntuples = val->header.ntuples;
	generation = val->header.generation;
	v->action = val->header.default_action;
	w.v.prio = 0xffffffff;
	if (ntuples > XDPGUARD_MAX_TUPLES)
		ntuples = XDPGUARD_MAX_TUPLES;
	if (!ntuples)
		return 0;
	desc = bpf_map_lookup_elem(&xg_desc_cache, &zero);
	if (!desc)
		return 0;
	if (desc->generation != generation || !generation) {
		struct fill f = { .cls = w.cls, .desc = desc, .ok = 1 };

		desc->generation = 0;
		bpf_loop(ntuples, fill_tuple, &f, 0);
		if (!f.ok)
			return 0;
		desc->generation = generation;
	}
	w.desc = desc;
	bpf_loop(ntuples, walk_tuple, &w, 0);
	if (w.v.prio == 0xffffffff)
		return 0;
	*v = w.v;
	return 1;
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
	default: {
		struct verdict v = { .action = cfg_default_action };

		if (classify(&pkt, &v)) {
			count(&xg_rule_stats, v.slot, len);
			action = v.action;
			if (action == XDP_REDIRECT) {
				action = bpf_redirect(v.ifindex, 0);
				count(&xg_actions, action, len);
				return action;
			}
		} else {
			count(&xg_rule_stats, XDPGUARD_RULE_DEFAULT, len);
			action = v.action;
		}
		break;
	}
	}
	count(&xg_actions, action, len);
	return action;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
