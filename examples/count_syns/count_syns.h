/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* count_syns: types shared by the BPF program and its C++ loader. */
#ifndef COUNT_SYNS_H
#define COUNT_SYNS_H

#include <linux/types.h>

/* Source address of a SYN: IPv4 in addr[0] (family 4) or IPv6 (family 6). */
struct syn_source {
  __u32 addr[4];
  __u32 family;
};

#define COUNT_SYNS_MAX_SOURCES 65536

#endif
