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

#define XDPGUARD_ABI_VERSION 1

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

/* Maps are pinned under <bpffs>/xdpguard/ns<netns inode>/<ifindex>/<name>. */
#define XDPGUARD_PIN_META "xg_meta"
#define XDPGUARD_PIN_ACTIONS "xg_actions"
#define XDPGUARD_PIN_PARSE "xg_parse"
#define XDPGUARD_PIN_RULE_STATS "xg_rule_stats"

#endif /* XDPGUARD_ABI_H */
