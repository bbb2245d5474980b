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
#include <linux/bpf.h> /* struct bpf_spin_lock */

#define XDPGUARD_ABI_VERSION 14

/* XDP verdicts are counted by their UAPI value (XDP_ABORTED..XDP_REDIRECT). */
#define XDPGUARD_NUM_ACTIONS 5

/* VLAN tags parsed (802.1Q / 802.1ad); a third tag makes the frame non-IP. */
#define XDPGUARD_MAX_VLAN 2
/* xdpguard_pkt.vlan[i]: the tag's 12-bit VLAN ID with XDPGUARD_VLAN_TAGGED
 * set (so VID 0, a priority tag, differs from "no tag"); 0 where the frame
 * has no such tag. */
#define XDPGUARD_VLAN_VID 0x0fff
#define XDPGUARD_VLAN_TAGGED 0x1000

/*
 * What the parser made of a frame (docs/parsing.md). Every frame counts in
 * exactly one of IPV4..UNSAFE; a non-first IP fragment counts in FRAGMENT as
 * well. IPv6 extension headers are walked in any number, as far as the frame
 * goes. UNSAFE frames are dropped whatever the configuration: fragments that
 * could hide a header from the rules (a first fragment without its whole L4
 * header or IPv6 header chain, a fragment at offset 8 bytes) and IPv6 header
 * chains that run past XDPGUARD_MAX_CHAIN bytes into the frame.
 */
enum xdpguard_parse_counter {
	XDPGUARD_PARSE_IPV4 = 0,   /* IPv4, headers complete */
	XDPGUARD_PARSE_IPV6 = 1,   /* IPv6, headers complete */
	XDPGUARD_PARSE_NON_IP = 2, /* ARP, LLDP, 3+ VLAN tags, ... */
	XDPGUARD_PARSE_TRUNCATED = 3, /* a header ends past the frame or the datagram */
	XDPGUARD_PARSE_MALFORMED = 4, /* bad version/IHL/total length/TCP data offset */
	XDPGUARD_PARSE_UNSAFE = 5,    /* could hide a header from the rules: dropped */
	XDPGUARD_PARSE_FRAGMENT = 6,  /* non-first fragment: no L4 header */
	XDPGUARD_PARSE_MAX = 7,
};

/* How far into the frame an IPv6 header chain is walked (the verifier
 * bounds packet offsets; real frames end long before). */
#define XDPGUARD_MAX_CHAIN 0x7fff

/* xdpguard_pkt.frag: nonzero when the rules see no L4 fields. */
#define XDPGUARD_FRAG_NONE 0   /* the L4 header was read (or the protocol has none we read) */
#define XDPGUARD_FRAG_LATER 1  /* a non-first fragment: its L4 header is in the first */
#define XDPGUARD_FRAG_L4_CUT 2 /* the L4 header (or the IPv6 header chain) is cut short */

/*
 * Flood detection (docs/telemetry.md, "Flood detection"): the protocols
 * floods are made of. The parser counts SYN, UDP and ICMP packets (those
 * with their L4 header: not non-first fragments) in xdpguard_percpu.flood;
 * fragments are parse[XDPGUARD_PARSE_FRAGMENT]. Userspace turns the counts
 * into rates and compares them with the interface's thresholds.
 */
enum xdpguard_flood_proto {
	XDPGUARD_FLOOD_SYN = 0,  /* TCP with SYN set and ACK clear */
	XDPGUARD_FLOOD_UDP = 1,
	XDPGUARD_FLOOD_ICMP = 2, /* ICMP and ICMPv6 */
	XDPGUARD_FLOOD_FRAG = 3, /* non-first IPv4/IPv6 fragments */
	XDPGUARD_FLOOD_MAX = 4,
};
/* Those counted in xdpguard_percpu.flood (SYN, UDP, ICMP). */
#define XDPGUARD_FLOOD_COUNTED 3

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

/* xdpguard_meta.flags: attach writes the record with this flag before the
 * program goes live (the whole pipeline is in place by then) and clears it
 * with the program's id and mode once attached; a command that finds it set
 * under the interface lock knows the attach died in between (and completes
 * the record if the program is on the interface). */
#define XDPGUARD_META_SETUP_PENDING 1u
/* The limiter's clock is xg_ddos.fake_now (loaded with cfg_fake_clock, tests):
 * the classifier's block lookups read the same clock. */
#define XDPGUARD_META_FAKE_CLOCK 2u

/* Single entry of the pinned xg_meta map: who is attached where. */
struct xdpguard_meta {
	__u32 abi_version;
	__u32 ifindex;
	__u32 mode;    /* enum xdpguard_mode */
	__u32 prog_id; /* kernel id of the guard program at attach time */
	__u32 flags;   /* XDPGUARD_META_* */
	/* XDP_* for frames that are not IPv4/IPv6, and for IP packets with a
	 * truncated or malformed header (docs/parsing.md); the parser reads them
	 * for those frames only, so `apply` changes them in place. */
	__u8 non_ip_action;
	__u8 malformed_action;
	__u16 reserved;
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
 * The packet pipeline (docs/classifier.md): three XDP programs joined by tail
 * calls through the pinned program array xg_progs.
 *
 *   guard (C, attached)  parses the frame into the per-CPU entry xg_percpu
 *                        and counts its parse outcome; IP packets tail-call
 *   classifier (slot 0)  generated by userspace from the rule set (eBPF
 *                        instructions, one program per rule-set generation);
 *                        writes the verdict into xg_percpu and tail-calls
 *   enforce (slot 1, C)  counts per rule and per action, applies the verdict.
 *
 * Installing a rule set loads its classifier and writes slot 0: packets
 * already in flight finish with the program they started with.
 */
#define XDPGUARD_PROG_CLASSIFIER 0
#define XDPGUARD_PROG_ENFORCE 1
#define XDPGUARD_NUM_PROGS 4 /* with the DDoS stages: limiter (2), synproxy (3) */

#define XDPGUARD_MAX_SETS 64
/* No rule matched yet / rule slot that counts nothing (non-IP, malformed). */
#define XDPGUARD_PRIO_NONE 0xffffffff
#define XDPGUARD_SLOT_NONE 0xffffffff

/* xdpguard_pkt.frag_bits: the IP header's fragmentation state, as the
 * rules' `frag` match and BGP FlowSpec's fragment component (RFC 8955
 * 4.2.2.12) define it (src/lib/rules/rule.h kFrag*, the same values). */
#define XDPGUARD_FRAG_DF 0x01  /* IPv4 don't-fragment; never in IPv6 */
#define XDPGUARD_FRAG_ISF 0x02 /* a fragment: offset != 0 or more-fragments */
#define XDPGUARD_FRAG_FF 0x04  /* first fragment: offset 0, more-fragments */
#define XDPGUARD_FRAG_LF 0x08  /* last fragment: offset != 0, no more-fragments */

/* What the parser found: the fields rules match on. 60 bytes; the fields
 * the classifier loads 2 or 4 bytes at a time are aligned to their size. */
struct xdpguard_pkt {
	__u32 saddr[4];  /* IPv4 in saddr[0]; network byte order */
	__u32 daddr[4];
	__u16 sport;     /* host byte order; 0 unless TCP/UDP */
	__u16 dport;
	__u16 l3_off;    /* offset of the IP header in the frame */
	__u16 l4_off;    /* offset of the L4 header (0: none) */
	__u8 family;     /* 4, 6, or 0 for non-IP */
	__u8 l4proto;    /* IPPROTO_* after extension headers */
	__u8 tcp_flags;
	__u8 frag;       /* XDPGUARD_FRAG_*: nonzero, no L4 fields */
	__u8 nvlan;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 dscp;       /* IPv4 TOS >> 2, IPv6 traffic class >> 2 */
	/* outer (or only) tag, inner tag: VID | XDPGUARD_VLAN_TAGGED, or 0;
	 * 4-byte aligned: `vlan N inner M` is one 32-bit compare */
	__u16 vlan[XDPGUARD_MAX_VLAN];
	/* the IP packet's length, header included: IPv4 total length, IPv6
	 * payload length + 40 (up to 65575: more than 16 bits) */
	__u32 ip_len;
	__u8 frag_bits;  /* XDPGUARD_FRAG_DF|ISF|FF|LF */
	__u8 pad[3];
};

/* Pipeline faults: a tail call that found no program. */
enum xdpguard_error {
	XDPGUARD_ERR_NO_CLASSIFIER = 0, /* passed (fail open), counted here */
	XDPGUARD_ERR_NO_ENFORCE = 1,    /* the verdict applied by the stage before */
	XDPGUARD_ERR_MAX = 2,
};

/*
 * Rate limits (docs/ddos.md). A rule with `limit over RATE ...` matches only
 * the packets over its rate; the token bucket is nft's, kept as GCRA: one
 * 64-bit "theoretical arrival time" (tat) per bucket, updated with one
 * compare-and-swap. A packet at time now is under the limit iff
 * max(tat, now) - now <= tau, and then tat becomes max(tat, now) + cost.
 *
 * The generated classifier finds the rule set's first static match (limits
 * ignored). If that rule has a limit, it sets action XDPGUARD_ACTION_LIMIT,
 * fills `lim` from immediates, and tail-calls the limiter stage (slot
 * XDPGUARD_PROG_LIMIT, C), which charges the bucket: over the limit, the
 * rule's own verdict applies; under it, the limiter sets lim_resume to the
 * rule's position + 1 and tail-calls the classifier again, which then skips
 * limited rules before that position (a rule without a limit before it
 * cannot match: it would have been the first match). At most 16 limited
 * rules per packet can be under their limits (33 tail calls); past that the
 * packet is dropped and counts in XDPGUARD_DDOS_RESUME_FAILED (the rules after
 * cannot be looked at: the stricter verdict; `rule add` warns of rule sets
 * that can get there).
 */
#define XDPGUARD_PROG_LIMIT 2
#define XDPGUARD_PROG_SYNPROXY 3
#define XDPGUARD_ACTION_LIMIT 16  /* verdict: "ask the limiter" */

#define XDPGUARD_LIMIT_KEY_NONE 0  /* one bucket for the rule (xg_limit_agg) */
#define XDPGUARD_LIMIT_KEY_SADDR 1 /* one per source prefix (xg_limit_src) */

/*
 * Byte limits (`limit over 10 mbytes/s`): byte_shift is not 0, cost_ns is
 * the fixed-point ns per byte (mult) and tau_ns the bucket's depth D
 * (nft's tokens_max); a packet of IP length L (xdpguard_pkt.ip_len, at most
 * XDPGUARD_LIMIT_MAX_IP_LEN) costs c = (L * cost_ns) >> byte_shift, which
 * the generator's choice of mult keeps below 2^64, and is under the limit
 * iff c <= D and max(tat, now) - now <= D - c: its whole cost fits in the
 * bucket, as nft. A packet limit (byte_shift 0) pays nothing for this but
 * the test of the byte.
 */
#define XDPGUARD_LIMIT_MAX_IP_LEN 65575

struct xdpguard_limit_req {
	__u64 cost_ns;  /* what a packet costs: unit / rate (bytes: ns per byte << byte_shift) */
	__u64 tau_ns;   /* (burst - 1) * cost (bytes: the depth) */
	__u64 block_ns; /* 0, or how long a source over the limit is blocked */
	__u32 action;   /* the rule's verdict (XDP_*) for a packet over the limit */
	__u32 epoch;    /* the limit's identity: a bucket of another epoch restarts full */
	__u8 key;       /* XDPGUARD_LIMIT_KEY_* */
	__u8 len4;      /* source prefix lengths of the key */
	__u8 len6;
	__u8 byte_shift; /* 0: a packet limit; 1..63: a byte limit (above) */
	__u8 pad[4];
};

/* A bucket: nothing charged (or a bucket of another epoch) is full. */
struct xdpguard_bucket {
	__u64 tat;   /* ns (monotonic clock) */
	__u32 epoch;
	__u32 pad;
};

/* Key of a per-source bucket; the address masked to the key's length. */
struct xdpguard_limit_key {
	__u32 rule; /* rule id */
	__u8 family;
	__u8 len;
	__u16 pad;
	__u32 addr[4];
};

/*
 * Auto-block (`block DURATION`, docs/ddos.md): a source prefix over the
 * limit of rule R is entered in xg_blocked, keyed by R's id and the prefix,
 * with its expiry. The block is a match at R's position: the generated
 * classifier, once it knows the packet's best rule (or none), looks up the
 * blocks of the rules with `block` up to that position, in order, and the
 * first unexpired one drops the packet; an earlier rule that matches still
 * wins. It looks only while some block may be unexpired
 * (xdpguard_ddos.block_until in the future), so a rule set with `block`
 * rules costs one load while nothing is blocked, and one without none.
 *
 * xg_blocked is a plain hash (not LRU): a flood of new prefixes cannot evict
 * the blocks that exist. When it is full, the limiter deletes the expired
 * entries (at most once a second) and tries again; a block that still does
 * not fit is not made (counted in block_failed): the limit itself still
 * drops what is over it. Prefixes in xg_noblock (`never-block`) are never
 * blocked (counted in block_skipped).
 */
#define XDPGUARD_MAX_BLOCK_RULES 8 /* rules with `block` per rule set */
struct xdpguard_block_key {
	__u32 rule; /* id of the rule whose limit blocked it */
	__u8 family;
	__u8 len;
	__u16 pad;
	__u32 addr[4]; /* masked to len */
};
struct xdpguard_block {
	__u64 expires_ns; /* monotonic clock */
	__u64 added_ns;
	__u64 packets;    /* dropped by the block */
	__u32 rule;       /* the rule id that blocked it */
	__u32 pad;
};
/*
 * xg_noblock (LPM trie): the never-block prefixes, once per block length L
 * a rule can use: a block of L bits of a source S is refused when some
 * never-block prefix P overlaps it, i.e. when (L, S) falls in the entry
 * (L, P cut to min(len P, L)). The key's data is len, family, addr; its
 * prefixlen counts 16 + the address bits.
 */
struct xdpguard_noblock_key {
	__u32 prefixlen;
	__u8 len;      /* the block's prefix length this entry is for */
	__u8 family;   /* 4 or 6 */
	__u8 addr[16]; /* IPv4 in the first 4 bytes; network byte order */
};
#define XDPGUARD_NOBLOCK_MAX (256 * 128) /* entries: 256 IPv6 prefixes at every length */

/* Single entry of xg_ddos: DDoS state shared by every CPU. */
struct xdpguard_ddos {
	__u64 block_until;  /* no block expires after this (0: no block) */
	__u64 fake_now;     /* the clock, if loaded with cfg_fake_clock (tests) */
	__u64 swept_ns;     /* the last sweep of expired blocks from a full xg_blocked */
	__u64 reserved;
};

/*
 * SYN proxy (`xdpguard synproxy enable`, docs/ddos.md): TCP packets that the
 * rule set passes go to the synproxy stage (slot XDPGUARD_PROG_SYNPROXY,
 * synproxy.bpf.c) while `active` is set; the classifier reads `active` with
 * one load. For the configured ports, and only for frames addressed to this
 * host (destination MAC `mac`, destination address in xg_sp_local4/6), the
 * stage answers plain SYNs with a SYN cookie (XDP_TX), hands ACKs with a
 * valid cookie to the kernel's SYNPROXY (nftables, set up by enable), passes
 * packets of connections conntrack or the socket table knows, and drops the
 * rest; frames not for this host pass untouched. Userspace keeps its own
 * state in the same entry (state, whether enable set up the host).
 */
#define XDPGUARD_SYNPROXY_MAX_PORTS 16
#define XDPGUARD_SP_DECIDED 1    /* xdpguard_percpu.sp_seen: the stage has decided it */
#define XDPGUARD_SP_VIA_ENFORCE 2 /* ...and came from enforce, to which it returns */
#define XDPGUARD_SYNPROXY_OFF 0
#define XDPGUARD_SYNPROXY_ON 1
#define XDPGUARD_SYNPROXY_CHANGING 2 /* an enable or disable did not finish */
struct xdpguard_synproxy {
	__u32 active;  /* nonzero: passed TCP goes to the synproxy stage */
	__u16 mss4;    /* MSS announced in SYN-ACKs */
	__u16 mss6;
	__u8 wscale;   /* window scale announced */
	__u8 ttl;      /* TTL / hop limit of SYN-ACKs */
	__u8 nports;
	__u8 state;    /* XDPGUARD_SYNPROXY_* (userspace) */
	__u16 ports[XDPGUARD_SYNPROXY_MAX_PORTS]; /* host byte order */
	__u8 mac[6];   /* the interface's MAC: frames to any other are not for us */
	/* Userspace: whether enable set up the host (the nftables table and
	 * the namespace's registration, xdpguard_synproxy_ns). */
	__u8 host;
	__u8 pad;
};

/*
 * The addresses the stage answers for (xg_sp_local4 / xg_sp_local6, LPM
 * tries of the synproxy object, pinned beside the interface's maps): the
 * RTN_LOCAL routes of the namespace's local table when enable ran, without
 * loopback, and IPv6 link-local ones only of the interface itself.
 */
#define XDPGUARD_SYNPROXY_MAX_LOCAL 4096
struct xdpguard_sp_lpm4 {
	__u32 prefixlen;
	__u32 addr; /* network byte order */
};
struct xdpguard_sp_lpm6 {
	__u32 prefixlen;
	__u32 addr[4];
};

/*
 * The SYN proxy's host changes in one network namespace (userspace only,
 * one entry of the ARRAY map pinned at <bpffs>/xdpguard/ns<inode>/
 * XDPGUARD_PIN_SYNPROXY_NS): the sysctls are per namespace, so the first
 * enable in a namespace saves their values and sets them, later ones only
 * register, and the last one to go restores them; every change of the
 * entry is one map write, under the namespace lock (guard/lock.h).
 */
#define XDPGUARD_SYNPROXY_NS_IFACES 256
struct xdpguard_synproxy_ns {
	__s32 saved_timestamps; /* net.ipv4.tcp_timestamps before (-1: not changed) */
	__s32 saved_tcp_loose;  /* net.netfilter.nf_conntrack_tcp_loose before (-1) */
	__u32 nifaces;
	__u32 ifindex[XDPGUARD_SYNPROXY_NS_IFACES]; /* interfaces that registered */
};

/*
 * AF_XDP (`redirect xsk`, docs/xsk.md). xg_xsks is an XSKMAP keyed by RX
 * queue: the socket bound to queue q of the interface is entry q, put there
 * by its consumer under the interface lock (BPF_NOEXIST: one consumer per
 * queue). The kernel takes the entry out when the socket closes, so a
 * consumer that dies leaves no stale socket. A rule `redirect xsk` has the
 * verdict XDP_REDIRECT and the target word XDPGUARD_REDIRECT_XSK | its
 * fallback (XDP_PASS or XDP_DROP, what a queue without a socket does)
 * where `redirect dev` has an ifindex (which is never that large).
 */
#define XDPGUARD_XSK_QUEUES 256
#define XDPGUARD_REDIRECT_XSK 0x80000000u
#define XDPGUARD_XSK_FALLBACK_MASK 0x3u

/* `redirect xsk` counters in xdpguard_percpu.xsk (packets and bytes). */
enum xdpguard_xsk_counter {
	XDPGUARD_XSK_REDIRECTED = 0, /* handed to the queue's socket */
	XDPGUARD_XSK_NO_SOCKET = 1,  /* fallback: no socket bound to the receiving queue */
	XDPGUARD_XSK_NO_QUEUE = 2,   /* fallback: queue index >= XDPGUARD_XSK_QUEUES */
	XDPGUARD_XSK_MAX = 3,
};

/* DDoS counters in xdpguard_percpu.ddos (packets and bytes). */
enum xdpguard_ddos_counter {
	XDPGUARD_DDOS_LIMIT_OVER = 0,     /* over a limit: the rule matched */
	XDPGUARD_DDOS_LIMIT_UNDER = 1,    /* under a limit: on to later rules */
	XDPGUARD_DDOS_BUCKET_NEW = 2,     /* a per-source bucket was created */
	XDPGUARD_DDOS_RESUME_FAILED = 3,  /* too many limited rules under their limits: dropped */
	XDPGUARD_DDOS_BLOCKED = 4,        /* dropped by an unexpired block */
	XDPGUARD_DDOS_BLOCK_ADDED = 5,    /* a source prefix was blocked */
	XDPGUARD_DDOS_BLOCK_FAILED = 6,   /* ...could not be (the block list is full) */
	XDPGUARD_DDOS_SYN_COOKIE = 7,     /* SYN answered with a cookie SYN-ACK (XDP_TX) */
	XDPGUARD_DDOS_ACK_VALID = 8,      /* ACK with a valid cookie: to the kernel's SYNPROXY */
	XDPGUARD_DDOS_ACK_INVALID = 9,    /* ACK with a bad cookie: dropped */
	XDPGUARD_DDOS_ESTABLISHED = 10,   /* packet of a connection conntrack knows: passed */
	XDPGUARD_DDOS_SYNPROXY_DROP = 11, /* other packets to a port without a connection */
	XDPGUARD_DDOS_BUCKET_FAILED = 12, /* no per-source bucket could be made: counted as over */
	XDPGUARD_DDOS_BLOCK_SKIPPED = 13, /* over a block rule's limit, but never-block: not blocked */
	XDPGUARD_DDOS_SYN_INVALID = 14,   /* SYN with FIN or RST: dropped (the kernel would too) */
	XDPGUARD_DDOS_NOT_LOCAL = 15,     /* not for this host (MAC, address): passed untouched */
	XDPGUARD_DDOS_SOCKET = 16,        /* of a connection the host has a socket for: passed */
	XDPGUARD_DDOS_MAX = 17,
};

/*
 * Per-CPU state (xg_percpu, one entry): the packet being processed, written
 * by the parser, read and completed by the classifier, read by enforce; and
 * this CPU's counters, which every stage reaches through the one lookup it
 * makes anyway. One program run never interleaves with another on the same
 * CPU (XDP runs with migration and preemption disabled), so one entry
 * suffices. Userspace sums the counters over CPUs.
 */
struct xdpguard_percpu {
	struct xdpguard_pkt pkt;
	/* The words every packet's verdict writes, right after the packet's
	 * fields: prio within the entry's first 64 bytes, slot, action and
	 * ifindex in the next 64 (a per-CPU value is 8-byte aligned, so these
	 * are the entry's first two cache lines at most, not its first one). */
	__u32 prio;    /* position of the best matching rule so far */
	__u32 slot;    /* verdict: rule id to count (0: default, SLOT_NONE: none) */
	__u32 action;  /* verdict: XDP_* */
	__u32 ifindex; /* verdict: XDP_REDIRECT target */
	__u32 sp_seen; /* XDPGUARD_SP_*: the SYN proxy stage and this packet */
	__u32 len;     /* frame length in bytes */
	struct xdpguard_counter actions[XDPGUARD_NUM_ACTIONS]; /* by verdict returned */
	struct xdpguard_counter parse[XDPGUARD_PARSE_MAX];     /* by parse outcome */
	/* flood detection: SYN, UDP, ICMP (enum xdpguard_flood_proto), beside
	 * the parse counters the parser bumps anyway */
	struct xdpguard_counter flood[XDPGUARD_FLOOD_COUNTED];
	struct xdpguard_counter errors[XDPGUARD_ERR_MAX];
	/* DDoS stages (below, "Rate limits"): the limited rule's request, the
	 * classifier's resume point, and this CPU's DDoS counters. */
	struct xdpguard_limit_req lim;
	__u32 lim_resume; /* first rule position the classifier may match */
	__u32 lim_stamp;  /* the rule set lim_resume belongs to */
	struct xdpguard_counter ddos[XDPGUARD_DDOS_MAX];
	struct xdpguard_counter xsk[XDPGUARD_XSK_MAX]; /* `redirect xsk` verdicts */
};

/*
 * Named prefix sets: slot k of xg_set4 / xg_set6 (ARRAY_OF_MAPS) holds set
 * k's IPv4 / IPv6 members as an ARRAY inner map (BPF_F_INNER_MAP: sizes
 * vary), swapped whole with one write per family. The generated classifier
 * reads them directly (docs/classifier.md, "Sets"); the layouts:
 *
 * IPv4: element r < XDPGUARD_SET4_RECORDS describes the 64 /24 networks
 * 64r..64r+63 (numbered by their top 24 bits): bit b of `full` set means the
 * whole /24 64r+b is in the set; bit b of `partial` means part of it is, and
 * element XDPGUARD_SET4_RECORDS + rank + popcount(partial below bit b) is a
 * 256-bit map of its addresses (bit i of word i/64: last byte i). Element 0
 * also says what was loaded: `count` prefixes, from load `stamp` (the IPv6
 * map carries the same stamp: a set whose two stamps differ was replaced
 * half-way, by a `set load` that died between its two swaps).
 */
#define XDPGUARD_SET4_RECORDS (1u << 18)
struct xdpguard_set4_elem {
	union {
		struct {
			__u64 full;
			__u64 partial;
			__u32 rank;
			__u32 stamp; /* element 0 only */
			__u64 count; /* element 0 only: IPv4 prefixes loaded */
		} rec;
		__u64 bits[4];
	};
};

/*
 * IPv6: element 0 is the header; elements 1.. are the buckets of a hash table
 * of (prefix, length) entries (a key's home bucket and the `probes` - 1 after
 * it; no wrap-around: the table has buckets + probes - 1 of them), searched
 * by binary search on the prefix
 * lengths present (Waldvogel et al.): a probe at length L that finds a
 * marker goes to longer lengths, a miss to shorter ones, a prefix ends the
 * search. Prefixes covered by a shorter member are dropped at build time, so
 * no "best match so far" needs carrying.
 *
 * With `filter_bits` = g (0: none), a filter follows the buckets (from
 * element 1 + buckets + probes - 1 on): one byte per region of the address
 * space that shares its top g bits (byte i of element i / 128), saying which
 * member lengths meet the region: 0 none (the address is not a member),
 * XDPGUARD_SET6_FILTER_MANY several (search all lengths), else 1 + the index
 * in `lens` of the only one (one probe, at that length, decides). Most
 * misses end after one read, most hits after one probe.
 */
#define XDPGUARD_SET6_MAX_LENS 104
#define XDPGUARD_SET6_SLOTS 6
#define XDPGUARD_SET6_KIND_PREFIX 1
#define XDPGUARD_SET6_KIND_MARKER 2
#define XDPGUARD_SET6_OVERFLOW 1
#define XDPGUARD_SET6_FILTER_MANY 0xff
#define XDPGUARD_SET6_FILTER_MAX_BITS 24
struct xdpguard_set6_slot {
	__u32 addr[4]; /* masked to len, each word in host byte order */
	__u8 len;
	__u8 kind;     /* 0: empty, else XDPGUARD_SET6_KIND_* */
	__u16 pad;
};
struct xdpguard_set6_elem {
	union {
		struct {
			__u8 lens[XDPGUARD_SET6_MAX_LENS]; /* ascending */
			__u32 nlens;
			__u32 buckets;     /* home buckets: (hash * buckets) >> 32 */
			__u32 seed;        /* hash seed (see classifier/sets.cpp) */
			__u8 probes;       /* buckets searched from the home bucket */
			__u8 filter_bits;  /* g: the filter's regions (0: no filter) */
			__u16 pad;
			__u32 count;       /* IPv6 prefixes loaded (as given) */
			__u32 stamp;       /* the load both families came from */
		} hdr;
		struct {
			struct xdpguard_set6_slot slot[XDPGUARD_SET6_SLOTS];
			/* per slot: 0x80 | 7 bits of the key's hash (0: empty), so
			 * that most slots are ruled out by one 8-byte load */
			__u8 tag[XDPGUARD_SET6_SLOTS];
			/* XDPGUARD_SET6_OVERFLOW: a key whose home is this bucket
			 * lies in a later one; without it a search ends here */
			__u8 flags;
			__u8 pad;
		} bucket;
		__u8 filter[128];
	};
};

/*
 * A rule set as installed: a read-only ARRAY map ("xg_ruleset") created with
 * each classifier and bound to it (BPF_PROG_BIND_MAP), so that the one write
 * which installs the classifier also installs what `rule list` reads: the
 * kernel enforces exactly the rules this map holds, whenever a process dies.
 * Element 0 describes the set; element 1 + i is the rule at position i.
 */
#define XDPGUARD_RULESET_MAP "xg_ruleset"
#define XDPGUARD_RULE_TEXT 244
struct xdpguard_ruleset_hdr {
	__u32 nrules;
	__u32 default_action; /* XDP_* taken when no rule matches: its one home */
	__u32 generation;     /* installs since attach */
	__u32 insns;          /* instructions of the classifier */
	__u32 verified_insns; /* instructions the verifier processed */
	__u32 load_us;        /* time bpf_prog_load took, microseconds */
	__u32 table_bytes;    /* size of the classifier's tables */
	__u32 abi_version;
	/* The id the next new rule gets if it is free: ids are handed out in
	 * turn and wrap past XDPGUARD_MAX_RULES, so a deleted rule's id (its
	 * counter slot, its metrics series) is not reused while others are free. */
	__u32 next_id;
};
struct xdpguard_ruleset_entry {
	union {
		struct xdpguard_ruleset_hdr hdr; /* element 0 */
		struct {
			__u32 id; /* stable rule id: counter slot, what `rule del` takes */
			__u32 reserved[7];
		} rule; /* elements 1.. */
	};
	char text[XDPGUARD_RULE_TEXT]; /* canonical rule text, NUL-terminated */
};

/*
 * Set names (xg_set_names, keyed by set index), written after the set's
 * member maps: a slot holds a set only once it has a name. Sizes and the
 * load stamp come from the member maps themselves (what is enforced).
 */
struct xdpguard_set_info {
	char name[32];
	/* FNV-1a of the set's members in canonical order (0: not known): a set
	 * whose members did not change is not loaded again by `apply`. */
	__u32 hash_lo, hash_hi;
	/* With in_use XDPGUARD_SET_STAGED: the rule-set generation that refers
	 * to this slot. */
	__u32 staged_gen;
	__u32 in_use; /* XDPGUARD_SET_LIVE, XDPGUARD_SET_STAGED or 0 (free) */
};
/*
 * `apply` loads a changed set into a free slot, staged under its name, and
 * compiles the new rule set against that slot: the one program-array write
 * that installs the rule set puts the new members in force with it. Then
 * the staged slot becomes the live one and the old slot is freed. Under the
 * interface lock, a staged slot that an interrupted apply left is finished
 * (the rule-set generation in force is its staged_gen: it is in force) or
 * freed (it never went live).
 */
#define XDPGUARD_SET_LIVE 1u
#define XDPGUARD_SET_STAGED 2u

/* Maps are pinned under <bpffs>/xdpguard/ns<netns inode>/<ifindex>/<name>. */
#define XDPGUARD_PIN_META "xg_meta"
#define XDPGUARD_PIN_RULE_STATS "xg_rule_stats"
#define XDPGUARD_PIN_PROGS "xg_progs"
#define XDPGUARD_PIN_PERCPU "xg_percpu"
#define XDPGUARD_PIN_SET4 "xg_set4"
#define XDPGUARD_PIN_SET6 "xg_set6"
#define XDPGUARD_PIN_SET_NAMES "xg_set_names"
#define XDPGUARD_PIN_LIMIT_AGG "xg_limit_agg"
#define XDPGUARD_PIN_LIMIT_SRC "xg_limit_src"
#define XDPGUARD_PIN_BLOCKED "xg_blocked"
#define XDPGUARD_PIN_DDOS "xg_ddos"
#define XDPGUARD_PIN_SYNPROXY "xg_synproxy"
#define XDPGUARD_PIN_NOBLOCK "xg_noblock"
#define XDPGUARD_PIN_XSKS "xg_xsks"
/* Pinned by `synproxy enable` (the synproxy object's own maps). */
#define XDPGUARD_PIN_SP_LOCAL4 "xg_sp_local4"
#define XDPGUARD_PIN_SP_LOCAL6 "xg_sp_local6"
/* One per namespace, in <bpffs>/xdpguard/ns<inode>/ (not an interface's). */
#define XDPGUARD_PIN_SYNPROXY_NS "xg_sp_ns"

/* ---- Traffic generator (bpf/gen.bpf.c, `xdpguard gen`) ------------------
 * The generator sends one template frame again and again (BPF_PROG_TEST_RUN
 * with live frames); its program rewrites the randomised fields of every
 * frame and fixes the checksums from partial sums computed in userspace.
 * Offsets are from the start of the frame; 0 means "no such field". All
 * 16-bit sums are over words as they lie in memory (byte-order neutral). */
#define XDPGUARD_GEN_RAND_SADDR (1u << 0)  /* random low bits of the source address */
#define XDPGUARD_GEN_RAND_SPORT (1u << 1)  /* random source port in a range */
#define XDPGUARD_GEN_HEAD_WORDS 12 /* 96 bytes: Ethernet + IPv6 + TCP with 20 bytes of options */
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
	/* SYN floods: the first restore_len bytes (the headers, 8 at least)
	 * are written back from `head` before each rewrite: word i at byte 8i,
	 * the last one at restore_len - 8 (it overlaps the one before when
	 * restore_len is not a multiple of 8). A receiver that answers in place
	 * (a SYN proxy's XDP_TX) hands the page back with its SYN-ACK in it,
	 * and live-frames mode reuses pages as they come back. */
	__u32 restore_len;
	__u64 head[XDPGUARD_GEN_HEAD_WORDS];
};

/* ---- Telemetry (docs/telemetry.md) ---------------------------------------
 * Records of packets go through one BPF ring buffer per interface
 * (xg_events), written by the enforce stage where the verdict is applied.
 * What is recorded is decided there: a rule's `log` (sampled in the kernel)
 * and a running capture's request. Nothing else reaches enforce for it: the
 * classifier keeps applying pass and drop itself unless the verdict word
 * carries a log threshold or xg_telemetry says a capture runs.
 *
 * The verdict word (xdpguard_percpu.action, and a table record's action):
 * the XDP action in the low byte; a rule with `log` adds its sampling
 * threshold above it. 0 there: no log; XDPGUARD_LOG_ALL: every packet;
 * else a packet is recorded when the low 24 bits of bpf_get_prandom_u32()
 * are below it (probability thr / 2^24). Enforce strips it before applying
 * the verdict. Any word >= XDPGUARD_NUM_ACTIONS makes the classifier go on
 * to enforce, so `log` costs nothing to the rules without it.
 */
#define XDPGUARD_ACTION_MASK 0xffu
#define XDPGUARD_LOG_SHIFT 8
#define XDPGUARD_LOG_ALL 0xffffffu
#define XDPGUARD_LOG_SCALE (1u << 24)

/* Bytes of a frame a record can carry (ring buffer reservations are sized
 * in powers of two from 64 up to this). */
#define XDPGUARD_MAX_SNAPLEN 4096
/* Default size of xg_events, bytes (a power of two, a multiple of the page). */
#define XDPGUARD_EVENTS_BYTES (8u << 20)
/* Unread bytes in xg_events that wake the reader (else it polls every 100 ms). */
#define XDPGUARD_EVENTS_WAKEUP (256u << 10)

/* Who consumes xg_events (xdpguard_telemetry.reader). */
enum xdpguard_reader {
	XDPGUARD_READER_NONE = 0,
	XDPGUARD_READER_EVENTS = 1,  /* `xdpguard events`: log records */
	XDPGUARD_READER_CAPTURE = 2, /* `xdpguard capture`: its request, and log records */
};

/*
 * Element 0 of xg_telemetry: the reader's request. Written whole by the
 * reader with BPF_F_LOCK (under `lock`) when it starts, every second to renew
 * its lease, and cleared when it stops. A reader that dies without clearing
 * it stops getting records when the lease runs out: enforce then clears
 * `capture` and `reader` (under the lock, so a new reader's request is never
 * overwritten by a stale check), and the classifier's fast path is back.
 * The generated classifier reads `capture` directly (BPF_PSEUDO_MAP_VALUE).
 */
struct xdpguard_telemetry {
	__u32 capture;    /* nonzero: a capture runs; every packet goes to enforce */
	__u32 reader;     /* enum xdpguard_reader */
	__u64 lease_ns;   /* bpf_ktime_get_ns() until which the reader counts as alive */
	__u32 snaplen;    /* frame bytes each record carries (<= XDPGUARD_MAX_SNAPLEN) */
	__u32 verdicts;   /* capture: bit (1 << XDP_*) for each verdict to record */
	__u32 sample;     /* capture: sampling threshold, as in the verdict word */
	__u32 reader_pid; /* for messages ("capture, pid 123, reads veth1") */
	struct bpf_spin_lock lock;
	__u32 pad;
};

/* xdpguard_record.type */
#define XDPGUARD_REC_PACKET 1
#define XDPGUARD_REC_FLOOD 2
/* xdpguard_record.reason (bits) */
#define XDPGUARD_REASON_LOG 1     /* a rule with `log` */
#define XDPGUARD_REASON_CAPTURE 2 /* a running capture asked for it */

/*
 * A ring buffer record: this header, then cap_len bytes of the frame (the
 * reservation is rounded up to a power of two, see XDPGUARD_MAX_SNAPLEN).
 * `pkt` is what the parser found, so events need no frame bytes at all.
 */
struct xdpguard_record {
	__u64 ts_ns;     /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 ifindex;   /* where the frame arrived */
	__u32 rule_id;   /* 0: no rule matched (default action); XDPGUARD_SLOT_NONE: not classified */
	__u32 orig_len;  /* the frame's true length */
	__u16 cap_len;   /* frame bytes that follow */
	__u8 type;       /* XDPGUARD_REC_* */
	__u8 reason;     /* XDPGUARD_REASON_* bits */
	__u8 verdict;    /* XDP_* returned */
	__u8 pad[3];
	__u32 cpu;
	struct xdpguard_pkt pkt;
};

/* Per-CPU telemetry counters (xg_tm_stats, one entry). For `log` hits:
 * records + lost + sampled_out + unread = hits (capture hits likewise). */
struct xdpguard_tm_stats {
	__u64 records;      /* written into xg_events */
	__u64 lost;         /* the ring buffer had no room (the consumer lags) */
	__u64 sampled_out;  /* hits sampling passed over */
	__u64 unread;       /* hits while no reader ran (nothing recorded) */
	__u64 record_bytes; /* frame bytes recorded */
	__u64 reserved[3];
};

/*
 * Top talkers, opt-in per interface: packets and bytes per source address
 * (xg_talkers, an LRU per-CPU hash of XDPGUARD_TALKERS_MAX addresses),
 * counted by the generated classifier for IPv4 and IPv6 packets while
 * element 0 of xg_talk_on is nonzero (`xdpguard talkers IFACE on`, which
 * compiles the rule set in force again with the count).
 */
struct xdpguard_talker_key {
	__u32 family;  /* 4 or 6 */
	__u32 addr[4]; /* IPv4 in addr[0], the rest 0; network byte order */
};
#define XDPGUARD_TALKERS_MAX 16384

/*
 * Flood detection's userspace state (docs/telemetry.md), pinned with the
 * program's maps and read by no BPF program. Both maps have one element,
 * read and written whole under its spin lock (BPF_F_LOCK).
 *
 * xg_flood_cfg: the interface's thresholds (`attach --config`, `flood set`).
 * A zero threshold watches nothing; `configured` 0 means nothing was ever
 * set (defaults: nothing watched, hold 10 s, 5 sources).
 */
#define XDPGUARD_FLOOD_TOP 10 /* sources an attack event can name */
struct xdpguard_flood_cfg {
	struct bpf_spin_lock lock;
	__u32 configured;
	__u64 pps[XDPGUARD_FLOOD_MAX]; /* packets/s over which an attack starts; 0: off */
	__u32 hold_s;  /* an attack ends after this many seconds at or under its threshold */
	__u32 top;     /* sources named in an attack-started event (<= XDPGUARD_FLOOD_TOP) */
	__u64 reserved[2];
};

/* Where an attack's top sources came from (xdpguard_flood_attack.sources). */
enum xdpguard_flood_sources {
	XDPGUARD_FLOOD_SRC_TALKERS_OFF = 0, /* unknown: top talkers are off */
	XDPGUARD_FLOOD_SRC_TALKERS = 1,     /* the busiest sources over the interval (all protocols) */
	XDPGUARD_FLOOD_SRC_NO_BASELINE = 2, /* unknown: top talkers had no earlier sample */
};

struct xdpguard_flood_source {
	struct xdpguard_talker_key key;
	__u32 pad;
	__u64 pps;
};

/* One protocol's current (or last) attack, as the detector keeps it. Times
 * are CLOCK_MONOTONIC ns; rates packets/s. */
struct xdpguard_flood_attack {
	__u64 attacks;       /* attacks started since attach */
	__u64 started_ns;    /* start of the first interval over the threshold */
	__u64 detected_ns;   /* the sample that saw it */
	__u64 ended_ns;      /* end of the last interval over it (0: active) */
	__u64 below_ns;      /* at or under the threshold since (0: over it) */
	__u64 rate_pps;      /* the last interval's rate (any state) */
	__u64 start_pps;     /* the rate that started it */
	__u64 peak_pps;
	__u64 threshold_pps; /* when it started */
	__u64 packets;       /* of the protocol from the start to the end */
	__u64 pending;       /* packets since below_ns (the attack's if it goes on) */
	__u32 active;
	__u32 sources;       /* enum xdpguard_flood_sources */
	__u32 nsources;      /* entries of top[] */
	__u32 pad;
	struct xdpguard_flood_source top[XDPGUARD_FLOOD_TOP];
};

/* xg_flood: the state the running detector publishes once a second. One
 * process detects per interface (an flock); the others follow this. */
struct xdpguard_flood_state {
	struct bpf_spin_lock lock;
	__u32 pid;           /* the detector's (0: none running) */
	__u64 sample_ns;     /* its last sample (0: none yet) */
	__u64 packets[XDPGUARD_FLOOD_MAX]; /* the counters at that sample */
	struct xdpguard_flood_attack proto[XDPGUARD_FLOOD_MAX];
};

#define XDPGUARD_PIN_FLOOD_CFG "xg_flood_cfg"
#define XDPGUARD_PIN_FLOOD "xg_flood"
#define XDPGUARD_PIN_TALKERS "xg_talkers"
#define XDPGUARD_PIN_TALK_ON "xg_talk_on"
#define XDPGUARD_PIN_EVENTS "xg_events"
#define XDPGUARD_PIN_TELEMETRY "xg_telemetry"
#define XDPGUARD_PIN_TM_STATS "xg_tm_stats"

#endif /* XDPGUARD_ABI_H */
