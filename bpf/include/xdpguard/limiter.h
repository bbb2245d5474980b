/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The DDoS stages' kernel side (docs/ddos.md), included by guard.bpf.c only:
 * the rate limiter (token buckets as GCRA, abi.h "Rate limits") and the
 * making of blocks (abi.h "Auto-block"; the generated classifier looks them
 * up), with their maps. Written once, in C: the
 * generated classifier reaches it through the limiter stage's slot in
 * xg_progs, never through a copy of its own.
 */
#ifndef XDPGUARD_LIMITER_H
#define XDPGUARD_LIMITER_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdpguard/abi.h>
#include <xdpguard/pipeline.h>

/* Tests drive the clock (xg_ddos.fake_now) when this is set before load;
 * otherwise the verifier removes the branch (read-only data). */
const volatile __u32 cfg_fake_clock = 0;

/* One bucket per rule without a key, by rule id: never evicted, so a flood
 * from random sources cannot reset it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPGUARD_MAX_RULES + 1);
	__type(key, __u32);
	__type(value, struct xdpguard_bucket);
} xg_limit_agg SEC(".maps");

/* Per-source buckets; the loader sets max_entries (attach --limit-buckets). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct xdpguard_limit_key);
	__type(value, struct xdpguard_bucket);
} xg_limit_src SEC(".maps");

/* Blocked source prefixes of each `block` rule; the loader sets
 * max_entries (--block-entries). A plain hash: a flood of new prefixes
 * cannot evict the blocks that exist (abi.h, "Auto-block"). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct xdpguard_block_key);
	__type(value, struct xdpguard_block);
} xg_blocked SEC(".maps");

/* Prefixes never blocked (`never-block`, the config's management prefixes). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPGUARD_NOBLOCK_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdpguard_noblock_key);
	__type(value, __u32);
} xg_noblock SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpguard_ddos);
} xg_ddos SEC(".maps");

static __always_inline struct xdpguard_ddos *xg_ddos_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&xg_ddos, &zero);
}

/* The tick clock (CLOCK_MONOTONIC_COARSE: CLOCK_MONOTONIC as of the last
 * tick, what userspace reads too, up to a tick behind). 3 ns against 27 for
 * the exact clock; a bucket is at least a tick deep (docs/ddos.md). */
static __always_inline __u64 xg_now(struct xdpguard_ddos *d)
{
	if (cfg_fake_clock)
		return d ? d->fake_now : 0;
	return bpf_ktime_get_coarse_ns();
}


/* The mask of the first `len` bits of an address's word w (w = 0..3), in
 * network byte order as the word lies in memory. */
static __always_inline __u32 xg_word_mask(__u32 len, __u32 w)
{
	__u32 bits;

	if (len >= 32 * (w + 1))
		return 0xffffffff;
	if (len <= 32 * w)
		return 0;
	bits = len - 32 * w;
	return bpf_htonl(0xffffffffu << (32 - bits));
}

/*
 * The (family, len, pad) word of a bucket or block key, written as one
 * 32-bit store: two byte stores there, then the hash reading the key by
 * words, stalled the lookup (store forwarding fails across sizes): it cost
 * 10 ns of a per-source limit's 50 here.
 */
static __always_inline __u32 xg_family_len(__u8 family, __u8 len)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (__u32)family | (__u32)len << 8;
#else
	return (__u32)family << 24 | (__u32)len << 16;
#endif
}

/* The source address of the packet masked to `len`, into addr[4]. */
static __always_inline void xg_mask_saddr(const struct xdpguard_pkt *p, __u32 len, __u32 *addr)
{
	addr[0] = p->saddr[0] & xg_word_mask(len, 0);
	if (p->family == 6) {
		addr[1] = p->saddr[1] & xg_word_mask(len, 1);
		addr[2] = p->saddr[2] & xg_word_mask(len, 2);
		addr[3] = p->saddr[3] & xg_word_mask(len, 3);
	} else {
		addr[1] = 0;
		addr[2] = 0;
		addr[3] = 0;
	}
}

/*
 * Charges one packet to bucket b: 0 under the limit (charged), 1 over it
 * (not charged, as nft). Lock-free: the bucket is one 64-bit time, updated
 * by compare-and-swap; a CPU that loses the race four times in a row counts
 * the packet as over (the bucket is that busy).
 */
static __always_inline int xg_charge(struct xdpguard_bucket *b, const struct xdpguard_limit_req *q,
				     __u64 now)
{
	__u64 old, tat;
	int i;

	if (b->epoch != q->epoch) {
		/* Another limit (or none) used this bucket: start full, as a
		 * new bucket. Two CPUs doing this at once charge one packet
		 * each against a full bucket, which burst >= 1 allows. */
		b->tat = now + q->cost_ns;
		b->epoch = q->epoch;
		return 0;
	}
	for (i = 0; i < 4; i++) {
		old = b->tat;
		barrier_var(old);
		tat = old > now ? old : now;
		if (tat - now > q->tau_ns)
			return 1;
		if (__sync_val_compare_and_swap(&b->tat, old, tat + q->cost_ns) == old)
			return 0;
	}
	return 1;
}

/* The bucket of the packet in s for the limit in s->lim; NULL if the map
 * has none and none could be made (*failed: the packet counts as over, the
 * stricter verdict). *fresh is set when a new bucket was made for this packet
 * (already charged). */
static __always_inline struct xdpguard_bucket *xg_bucket(struct xdpguard_percpu *s, __u64 now, int *fresh,
							 int *failed)
{
	const struct xdpguard_limit_req *q = &s->lim;
	struct xdpguard_limit_key k = {};
	struct xdpguard_bucket nb = {}, *b;
	__u32 slot = s->slot;

	__u8 len;
	__u32 fl;

	*fresh = 0;
	*failed = 0;
	if (q->key == XDPGUARD_LIMIT_KEY_NONE) {
		b = bpf_map_lookup_elem(&xg_limit_agg, &slot);
		*failed = !b;
		return b;
	}
	len = s->pkt.family == 6 ? q->len6 : q->len4;
	k.rule = slot;
	fl = xg_family_len(s->pkt.family, len);
	__builtin_memcpy(&k.family, &fl, sizeof(fl));
	xg_mask_saddr(&s->pkt, len, k.addr);
	b = bpf_map_lookup_elem(&xg_limit_src, &k);
	if (b)
		return b;
	nb.tat = now + q->cost_ns;
	nb.epoch = q->epoch;
	if (bpf_map_update_elem(&xg_limit_src, &k, &nb, BPF_NOEXIST) == 0) {
		*fresh = 1;
		xg_bump(&s->ddos[XDPGUARD_DDOS_BUCKET_NEW], s->len);
		return NULL;
	}
	/* Another CPU made it meanwhile, or the LRU could not make room. */
	b = bpf_map_lookup_elem(&xg_limit_src, &k);
	if (!b) {
		*failed = 1;
		xg_bump(&s->ddos[XDPGUARD_DDOS_BUCKET_FAILED], s->len);
	}
	return b;
}

/* A byte limit's request (abi.h) made a packet limit's: the packet's cost
 * from its IP length, and the bucket's depth less that cost as tau, written
 * over the request (per-CPU scratch the classifier writes afresh for every
 * limited rule it meets), so that the packet-limit code below runs
 * unchanged. 1: the packet costs more than the bucket holds (over, as nft;
 * the bucket is neither looked at nor made). */
static __always_inline int xg_byte_cost(struct xdpguard_percpu *s)
{
	struct xdpguard_limit_req *q = &s->lim;
	__u32 len = s->pkt.ip_len;
	__u64 cost;

	if (len > XDPGUARD_LIMIT_MAX_IP_LEN)
		len = XDPGUARD_LIMIT_MAX_IP_LEN;
	cost = ((__u64)len * q->cost_ns) >> (q->byte_shift & 63);
	if (cost > q->tau_ns)
		return 1;
	q->tau_ns -= cost;
	q->cost_ns = cost;
	return 0;
}

/* Is the packet over the limit of the rule in s? Charges it if not. A
 * packet no bucket could be found or made for is over (fail closed). A byte
 * limit costs the packet's IP length (xg_byte_cost); a packet limit pays
 * one test of a byte for that. */
static __always_inline int xg_over_limit(struct xdpguard_percpu *s, __u64 now)
{
	struct xdpguard_bucket *b;
	int fresh, failed;

	if (s->lim.byte_shift && xg_byte_cost(s))
		return 1;
	b = xg_bucket(s, now, &fresh, &failed);
	if (!b)
		return failed;
	return xg_charge(b, &s->lim, now);
}

/* Would a block of `len` bits of the packet's source cover a never-block
 * prefix (or lie in one)? */
static __always_inline int xg_never_block(const struct xdpguard_percpu *s, __u8 len)
{
	struct xdpguard_noblock_key k = {};

	k.len = len;
	k.family = s->pkt.family;
	if (s->pkt.family == 6) {
		k.prefixlen = 16 + 128;
		__builtin_memcpy(k.addr, s->pkt.saddr, 16);
	} else {
		k.prefixlen = 16 + 32;
		__builtin_memcpy(k.addr, s->pkt.saddr, 4);
	}
	return bpf_map_lookup_elem(&xg_noblock, &k) != NULL;
}

struct bpf_map;

/* bpf_for_each_map_elem's callback: deletes an expired block. */
static long xg_sweep_block(struct bpf_map *map, const void *key, void *value, void *ctx)
{
	const struct xdpguard_block *b = value;
	__u64 now = *(__u64 *)ctx;

	if (b->expires_ns <= now)
		bpf_map_delete_elem(map, key);
	return 0;
}

/* Blocks the source prefix of the packet in s for s->lim.block_ns, keyed by
 * the rule (s->slot): from now on the classifier drops the prefix's packets
 * that reach the rule's position. */
static __always_inline void xg_block(struct xdpguard_percpu *s, struct xdpguard_ddos *d, __u64 now)
{
	const struct xdpguard_limit_req *q = &s->lim;
	struct xdpguard_block_key k = {};
	struct xdpguard_block v = {};
	__u64 until = now + q->block_ns, old, swept;
	int i;

	__u8 family = s->pkt.family, len;
	__u32 fl;

	if (!d)
		return;
	len = family == 6 ? q->len6 : q->len4;
	if (xg_never_block(s, len)) {
		xg_bump(&s->ddos[XDPGUARD_DDOS_BLOCK_SKIPPED], s->len);
		return;
	}
	k.rule = s->slot;
	fl = xg_family_len(family, len);
	__builtin_memcpy(&k.family, &fl, sizeof(fl));
	xg_mask_saddr(&s->pkt, len, k.addr);
	v.expires_ns = until;
	v.added_ns = now;
	v.rule = s->slot;
	/* Raise block_until first: from then on the classifier looks. */
	for (i = 0; i < 4; i++) {
		old = d->block_until;
		barrier_var(old);
		if (old >= until || __sync_val_compare_and_swap(&d->block_until, old, until) == old)
			break;
	}
	if (bpf_map_update_elem(&xg_blocked, &k, &v, BPF_ANY) == 0) {
		xg_bump(&s->ddos[XDPGUARD_DDOS_BLOCK_ADDED], s->len);
		return;
	}
	/* Full: delete what has expired (one CPU, at most once a second) and
	 * try again; the blocks that hold stay. */
	swept = d->swept_ns;
	if (now - swept > 1000000000ull &&
	    __sync_val_compare_and_swap(&d->swept_ns, swept, now) == swept) {
		bpf_for_each_map_elem(&xg_blocked, xg_sweep_block, &now, 0);
		if (bpf_map_update_elem(&xg_blocked, &k, &v, BPF_ANY) == 0) {
			xg_bump(&s->ddos[XDPGUARD_DDOS_BLOCK_ADDED], s->len);
			return;
		}
	}
	xg_bump(&s->ddos[XDPGUARD_DDOS_BLOCK_FAILED], s->len);
}

#endif /* XDPGUARD_LIMITER_H */
