// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Functions classifier/stub.h must read, or refuse naming why
 * (tests/unit/classifier_stub_test.cpp): one it can splice, one that calls
 * another function, one that reads global data.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} stub_counts SEC(".maps");

/* splices: a helper call, a map, forward and backward jumps */
__attribute__((noinline)) int stub_good(__u32 key, __u32 n)
{
	__u64 *v = bpf_map_lookup_elem(&stub_counts, &key);
	__u32 i, sum = 0;

	if (!v)
		return -1;
	for (i = 0; i < n && i < 8; i++)
		sum += i;
	return (int)(*v + sum);
}

static __attribute__((noinline)) int stub_helper(__u32 x)
{
	return (int)(x * 3);
}

/* refused: a BPF-to-BPF call */
__attribute__((noinline)) int stub_calls(__u32 x)
{
	return stub_helper(x) + 1;
}

volatile __u32 stub_global;

/* refused: global data */
__attribute__((noinline)) int stub_global_data(__u32 x)
{
	return (int)(x + stub_global);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
