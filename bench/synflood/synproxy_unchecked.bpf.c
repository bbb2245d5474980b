// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The SYN proxy stage without its host check (destination MAC and address)
 * and its socket lookup, for synflood_bench to measure what they cost per
 * SYN and per spoofed ACK, side by side with the real stage (same source,
 * same maps, same frames, same run). Never loaded by xdpguard itself.
 */
#define XG_SYNPROXY_BENCH_WITHOUT_CHECKS 1
#include "../../bpf/synproxy.bpf.c"
