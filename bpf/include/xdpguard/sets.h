/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The named prefix sets' maps (layouts in abi.h), in every BPF object that
 * names them: guard.bpf.c creates them (attach pins them), bpf/stubs.bpf.c's
 * membership functions read them. Sizes, not types: clang emits only
 * forward declarations for types reached through an inner-map template.
 */
#ifndef XDPGUARD_SETS_H
#define XDPGUARD_SETS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"

struct set4_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_RDONLY_PROG);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xdpguard_set4_elem));
};

struct set6_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_INNER_MAP | BPF_F_RDONLY_PROG);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xdpguard_set6_elem));
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

#endif
