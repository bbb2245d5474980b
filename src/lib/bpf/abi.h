// C++ view of the shared ABI header (bpf/include/xdpguard/abi.h): includes it
// and checks at compile time that its layout is what userspace relies on. The
// BTF test (tests/bpf/btf_test.cpp) checks the same sizes against the object.
#pragma once

#include <cstddef>
#include <cstdint>

#include <xdpguard/abi.h>

static_assert(sizeof(xdpguard_counter) == 16);
static_assert(sizeof(xdpguard_counter) % 8 == 0, "per-CPU values are 8-byte aligned");
static_assert(sizeof(xdpguard_meta) == 48);
static_assert(offsetof(xdpguard_meta, ifname) == 32);
static_assert(XDPGUARD_PARSE_MAX == 7);
static_assert(XDPGUARD_NUM_ACTIONS == 5);

// Per-CPU folding (Map::sum); global so that ADL finds it for the C struct.
inline xdpguard_counter& operator+=(xdpguard_counter& a, const xdpguard_counter& b) {
  a.packets += b.packets;
  a.bytes += b.bytes;
  return a;
}
static_assert(sizeof(xdpguard_pkt) == 60);
static_assert(offsetof(xdpguard_pkt, ip_len) % 4 == 0, "`length` loads it as one word");
static_assert(offsetof(xdpguard_pkt, vlan) % 4 == 0, "`vlan N inner M` loads both tags as one word");
static_assert(sizeof(xdpguard_percpu) == 728);
static_assert(sizeof(xdpguard_percpu) % 8 == 0, "per-CPU values are 8-byte aligned");
static_assert(sizeof(xdpguard_set4_elem) == 32);
static_assert(sizeof(xdpguard_set6_slot) == 20);
static_assert(sizeof(xdpguard_set6_elem) == 128);
static_assert(sizeof(xdpguard_ruleset_hdr) == 36);
static_assert(sizeof(xdpguard_ruleset_entry) == 280);
static_assert(sizeof(xdpguard_gen_cfg) == 136);
static_assert(offsetof(xdpguard_gen_cfg, head) == 40);
static_assert(sizeof(xdpguard_limit_req) == 40);
static_assert(sizeof(xdpguard_bucket) == 16);
static_assert(sizeof(xdpguard_limit_key) == 24);
static_assert(sizeof(xdpguard_block_key) == 24);
static_assert(sizeof(xdpguard_noblock_key) == 24);
static_assert(sizeof(xdpguard_block) == 32);
static_assert(sizeof(xdpguard_ddos) == 32);
static_assert(sizeof(xdpguard_synproxy) == 52);
static_assert(sizeof(xdpguard_synproxy_ns) == 12 + 4 * XDPGUARD_SYNPROXY_NS_IFACES);
static_assert(sizeof(xdpguard_sp_lpm4) == 8 && sizeof(xdpguard_sp_lpm6) == 20);
static_assert(offsetof(xdpguard_synproxy, active) == 0, "the classifier loads it at offset 0");
static_assert(XDPGUARD_DDOS_MAX == 17);
static_assert(XDPGUARD_XSK_MAX == 3);
static_assert(XDPGUARD_REDIRECT_XSK > 0x7fffffffu, "never an ifindex (a positive int)");
static_assert(XDPGUARD_FLOOD_MAX == 4 && XDPGUARD_FLOOD_COUNTED == 3);
static_assert(sizeof(xdpguard_talker_key) == 20);
static_assert(sizeof(xdpguard_flood_cfg) == 64);
static_assert(sizeof(xdpguard_flood_source) == 32);
static_assert(sizeof(xdpguard_flood_attack) == 424);
static_assert(sizeof(xdpguard_flood_state) == 16 + 32 + 4 * 424);
