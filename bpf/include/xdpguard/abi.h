/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * xdpguard ABI: the one definition of every type, enum and limit shared by the
 * BPF programs in bpf/ and the C++ userspace (src/). C++ checks the sizes
 * with static_assert (src/lib/bpf/abi.h) and a test checks them against the
 * BTF of the compiled object. Change a struct here and bump
 * XDPGUARD_ABI_VERSION: pinned state of an older version is then refused with
 * a clear error instead of being misread.
 */
#ifndef XDPGUARD_ABI_H
#define XDPGUARD_ABI_H

#include <linux/types.h>

#define XDPGUARD_ABI_VERSION 2

/* XDP verdicts are counted by their UAPI value (XDP_ABORTED..XDP_REDIRECT). */
#define XDPGUARD_NUM_ACTIONS 5

/* VLAN tags parsed (802.1Q / 802.1ad); a third tag makes the frame non-IP. */
#define XDPGUARD_MAX_VLAN 2
/* IPv6 extension headers walked before the packet is called malformed. */
#define XDPGUARD_MAX_EXTHDR 8

/*
 * What the parser made of a frame. Every frame counts in exactly one of
 * IPV4..MALFORMED; a non-first IP fragment counts in FRAGMENT as well.
 */
enum xdpguard_parse_counter {
	XDPGUARD_PARSE_IPV4 = 0,   /* IPv4, headers complete */
	XDPGUARD_PARSE_IPV6 = 1,   /* IPv6, headers complete */
	XDPGUARD_PARSE_NON_IP = 2, /* ARP, LLDP, 3+ VLAN tags, ... */
	XDPGUARD_PARSE_TRUNCATED = 3, /* a header ends past the frame */
	XDPGUARD_PARSE_MALFORMED = 4, /* bad version/IHL/doff, ext hdr chain too long */
	XDPGUARD_PARSE_FRAGMENT = 5,  /* non-first fragment: no L4 header */
	XDPGUARD_PARSE_MAX = 6,
};

/* Packet + byte counter; the value of every per-CPU counter map. */
struct xdpguard_counter {
	__u64 packets;
	__u64 bytes;
};

enum xdpguard_mode {
	XDPGUARD_MODE_NONE = 0,
	XDPGUARD_MODE_NATIVE = 1,
	XDPGUARD_MODE_GENERIC = 2,
};

/* Single entry of the pinned xg_meta map: who is attached where. */
struct xdpguard_meta {
	__u32 abi_version;
	__u32 ifindex;
	__u32 mode;    /* enum xdpguard_mode */
	__u32 prog_id; /* kernel id of the guard program at attach time */
	__u32 default_action; /* XDP_* taken when no rule matches */
	__u32 reserved;
	__u64 attached_unix; /* seconds since the epoch */
	char ifname[16];
};

/*
 * Per-rule counters: index 0 counts packets that matched no rule (and took the
 * interface's default action); rule slots are 1..XDPGUARD_MAX_RULES.
 */
#define XDPGUARD_MAX_RULES 16384
#define XDPGUARD_RULE_DEFAULT 0

/*
 * Classifier (docs/classifier.md): tuple space search. Rules are grouped by
 * shape (a "tuple"); each tuple is one exact-match lookup of the packet's
 * fields masked to that shape. Tuples are sorted by the best (lowest)
 * priority of their rules, so the walk stops once no later tuple can win.
 * The whole compiled rule set is ONE hash map (header, tuple descriptors and
 * match entries, told apart by key.kind) installed in the 1-slot
 * ARRAY_OF_MAPS xg_cls: a rule-set change is a single map write.
 */
#define XDPGUARD_MAX_TUPLES 1024
#define XDPGUARD_MAX_SETS 64
#define XDPGUARD_MAX_CLS_ENTRIES 1048576

enum xdpguard_cls_kind {
	XDPGUARD_KEY_HEADER = 1,
	XDPGUARD_KEY_TUPLE = 2,
	XDPGUARD_KEY_MATCH = 3,
};

struct xdpguard_cls_key {
	__u8 kind;   /* enum xdpguard_cls_kind */
	__u8 family; /* 4, 6, or 0 when the tuple matches any family */
	__u8 proto;  /* 0 unless the tuple matches the protocol */
	__u8 flags;  /* TCP flags & tuple's flags_mask */
	__u16 tuple; /* tuple index (TUPLE, MATCH) */
	__u16 sport; /* masked to the tuple's port prefix lengths */
	__u16 dport;
	__u16 pad;
	__u32 saddr[4]; /* masked to the tuple's prefix lengths (0 for sets) */
	__u32 daddr[4];
};

/* A tuple's shape. *_set: 0 = prefix match of *_len bits, k+1 = member of set k. */
struct xdpguard_tuple {
	__u32 min_prio; /* best priority of any rule in this tuple */
	__u8 family;
	__u8 saddr_len;
	__u8 daddr_len;
	__u8 saddr_set;
	__u8 daddr_set;
	__u8 sport_len; /* prefix length on the 16-bit port, 0 = any */
	__u8 dport_len;
	__u8 has_proto;
	__u8 flags_mask;
	__u8 l4;    /* uses ports or flags: never matches a non-first fragment */
	__u8 proto; /* the protocol all its rules match (when has_proto): lets the
		     * walk skip the lookup for packets of another protocol */
	__u8 pad;
};

struct xdpguard_match {
	__u32 prio;   /* position of the rule in the rule set, 0 = first */
	__u32 slot;   /* rule id: index into xg_rule_stats */
	__u32 action; /* XDP_* */
	__u32 ifindex; /* XDP_REDIRECT target */
};

struct xdpguard_cls_header {
	__u32 ntuples;
	__u32 default_action;
	__u32 generation; /* stamp: the id of the inner map holding this header */
	__u32 nrules;
};

union xdpguard_cls_value {
	struct xdpguard_cls_header header;
	struct xdpguard_tuple tuple;
	struct xdpguard_match match;
};

/* Set member tries: key of the LPM inner maps of xg_set4 / xg_set6. */
struct xdpguard_lpm4_key {
	__u32 prefixlen;
	__u32 addr;
};
struct xdpguard_lpm6_key {
	__u32 prefixlen;
	__u32 addr[4];
};

/* Rule metadata for `rule list` (xg_rules, keyed by rule id). */
#define XDPGUARD_RULE_TEXT 244
struct xdpguard_rule_info {
	__u32 position; /* order in the rule set, 0 = first */
	__u32 generation;
	__u32 reserved;
	char text[XDPGUARD_RULE_TEXT]; /* canonical rule text, NUL-terminated */
};

/* Set metadata (xg_set_names, keyed by set index). */
struct xdpguard_set_info {
	char name[32];
	__u32 nv4;
	__u32 nv6;
	__u32 generation;
	__u32 in_use; /* 1 if this slot holds a set */
};

/* Maps are pinned under <bpffs>/xdpguard/ns<netns inode>/<ifindex>/<name>. */
#define XDPGUARD_PIN_META "xg_meta"
#define XDPGUARD_PIN_ACTIONS "xg_actions"
#define XDPGUARD_PIN_PARSE "xg_parse"
#define XDPGUARD_PIN_RULE_STATS "xg_rule_stats"
#define XDPGUARD_PIN_CLS "xg_cls"
#define XDPGUARD_PIN_SET4 "xg_set4"
#define XDPGUARD_PIN_SET6 "xg_set6"
#define XDPGUARD_PIN_RULES "xg_rules"
#define XDPGUARD_PIN_SET_NAMES "xg_set_names"

/* ---- Traffic generator (bpf/gen.bpf.c, `xdpguard gen`) ------------------
 * The generator sends one template frame again and again (BPF_PROG_TEST_RUN
 * with live frames); its program rewrites the randomised fields of every
 * frame and fixes the checksums from partial sums computed in userspace.
 * Offsets are from the start of the frame; 0 means "no such field". All
 * 16-bit sums are over words as they lie in memory (byte-order neutral). */
#define XDPGUARD_GEN_RAND_SADDR (1u << 0)  /* random low bits of the source address */
#define XDPGUARD_GEN_RAND_SPORT (1u << 1)  /* random source port in a range */
struct xdpguard_gen_cfg {
	__u32 flags;
	__u16 saddr_off;    /* the last 4 bytes of the source address */
	__u16 sport_off;
	__u16 ip_csum_off;  /* IPv4 header checksum */
	__u16 l4_csum_off;  /* TCP/UDP/ICMPv6 checksum (covers the pseudo-header) */
	__u32 saddr_keep;   /* last 4 address bytes: bits kept (memory order) */
	__u32 saddr_base;   /* ...and their values; the other bits are random */
	__u16 sport_lo;     /* host order */
	__u16 sport_span;   /* ports sport_lo .. sport_lo + span - 1 (0: 65536) */
	__u32 ip_sum;       /* folded-later sum of the IPv4 header, csum and random fields zero */
	__u32 l4_sum;       /* same for the L4 checksum (pseudo-header included) */
	__u32 zero_csum_as_ffff; /* UDP: a computed 0 is sent as 0xffff (0 = "no checksum") */
};

#endif /* XDPGUARD_ABI_H */
