// The shared ABI header (bpf/include/xdpguard/abi.h) as C++ compiles it must
// match the guard object as clang -target bpf compiled it: the struct layouts
// in the BTF of the loaded program (the object the skeleton embeds) and the
// key/value sizes of the maps userspace reads and writes. A mismatch here is
// counters read as garbage, not a compile error anywhere else.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/bpf.h>

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bpf/abi.h"
#include "guard/guard.h"
#include "support/privileged.h"

namespace xdpguard::test {
namespace {

struct Member {
  std::string name;
  std::size_t offset;
  std::size_t size;
};

#define XG_MEMBER(type, field) \
  Member { #field, offsetof(type, field), sizeof(type::field) }

using BtfPtr = std::unique_ptr<btf, decltype(&btf__free)>;

class BtfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    XG_REQUIRE_PRIVILEGES();
    auto prog = GuardProgram::open(GuardConfig{});
    ASSERT_TRUE(prog) << prog.error().message();
    auto loaded = prog->load();
    ASSERT_TRUE(loaded) << loaded.error().message();
    prog_ = std::make_unique<GuardProgram>(std::move(*prog));

    // The BTF the object carried into the kernel with the program.
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    ASSERT_EQ(bpf_obj_get_info_by_fd(prog_->prog_fd(), &info, &len), 0);
    ASSERT_NE(info.btf_id, 0u) << "guard program loaded without BTF";
    btf_id_ = info.btf_id;
    btf_ = BtfPtr(btf__load_from_kernel_by_id(info.btf_id), btf__free);
    ASSERT_TRUE(btf_) << "cannot load BTF id " << info.btf_id;
  }

  // Checks struct `name` in the object's BTF: size and every member's offset
  // and size, and no member that C++ does not know about.
  void expect_struct(const char* name, std::size_t size, const std::vector<Member>& members) {
    SCOPED_TRACE(std::string("struct ") + name);
    __s32 id = btf__find_by_name_kind(btf_.get(), name, BTF_KIND_STRUCT);
    ASSERT_GT(id, 0) << "not in the object's BTF";
    const btf_type* t = btf__type_by_id(btf_.get(), static_cast<__u32>(id));
    EXPECT_EQ(t->size, size) << "sizeof differs between BPF and C++";

    std::map<std::string, Member> in_btf;
    const btf_member* m = btf_members(t);
    for (int i = 0; i < btf_vlen(t); i++, m++) {
      std::string mname = btf__name_by_offset(btf_.get(), m->name_off);
      EXPECT_EQ(btf_member_bitfield_size(t, i), 0u) << mname << " is a bitfield";
      __s64 msize = btf__resolve_size(btf_.get(), m->type);
      ASSERT_GE(msize, 0) << mname;
      in_btf[mname] = {mname, btf_member_bit_offset(t, i) / 8, static_cast<std::size_t>(msize)};
    }
    EXPECT_EQ(in_btf.size(), members.size()) << "member count differs";
    for (const auto& want : members) {
      auto it = in_btf.find(want.name);
      if (it == in_btf.end()) {
        ADD_FAILURE() << "member " << want.name << " missing in BTF";
        continue;
      }
      EXPECT_EQ(it->second.offset, want.offset) << "offsetof " << want.name;
      EXPECT_EQ(it->second.size, want.size) << "sizeof " << want.name;
    }
  }

  // Checks map `name`: type, key/value sizes, entries, and that its BTF
  // key/value types are the named ABI types.
  void expect_map(const char* name, __u32 type, std::size_t key_size, std::size_t value_size,
                  __u32 max_entries, const char* value_type) {
    SCOPED_TRACE(std::string("map ") + name);
    auto fd = prog_->map(name);
    ASSERT_TRUE(fd) << fd.error().message();
    const bpf_map_info& info = fd->info();
    EXPECT_EQ(info.type, type);
    EXPECT_EQ(info.key_size, key_size);
    EXPECT_EQ(info.value_size, value_size);
    EXPECT_EQ(info.max_entries, max_entries);
    EXPECT_EQ(info.btf_id, btf_id_) << "map BTF is not the program's object BTF";
    ASSERT_NE(info.btf_value_type_id, 0u);
    const btf_type* v = btf__type_by_id(btf_.get(), info.btf_value_type_id);
    ASSERT_NE(v, nullptr);
    EXPECT_STREQ(btf__name_by_offset(btf_.get(), v->name_off), value_type);
    EXPECT_EQ(btf__resolve_size(btf_.get(), info.btf_value_type_id), static_cast<__s64>(value_size));
    EXPECT_EQ(btf__resolve_size(btf_.get(), info.btf_key_type_id), static_cast<__s64>(key_size));
  }

  std::unique_ptr<GuardProgram> prog_;
  BtfPtr btf_{nullptr, btf__free};
  __u32 btf_id_ = 0;
};

TEST_F(BtfTest, CounterLayoutMatches) {
  expect_struct("xdpguard_counter", sizeof(xdpguard_counter),
                {XG_MEMBER(xdpguard_counter, packets), XG_MEMBER(xdpguard_counter, bytes)});
}

TEST_F(BtfTest, MetaLayoutMatches) {
  expect_struct("xdpguard_meta", sizeof(xdpguard_meta),
                {XG_MEMBER(xdpguard_meta, abi_version), XG_MEMBER(xdpguard_meta, ifindex),
                 XG_MEMBER(xdpguard_meta, mode), XG_MEMBER(xdpguard_meta, prog_id),
                 XG_MEMBER(xdpguard_meta, flags), XG_MEMBER(xdpguard_meta, non_ip_action),
                 XG_MEMBER(xdpguard_meta, malformed_action), XG_MEMBER(xdpguard_meta, reserved),
                 XG_MEMBER(xdpguard_meta, attached_unix), XG_MEMBER(xdpguard_meta, ifname)});
}

TEST_F(BtfTest, PerCpuEntryLayoutMatches) {
  // The generated classifier reads these offsets too (classifier/emit.cpp).
  expect_struct(
      "xdpguard_pkt", sizeof(xdpguard_pkt),
      {XG_MEMBER(xdpguard_pkt, saddr), XG_MEMBER(xdpguard_pkt, daddr), XG_MEMBER(xdpguard_pkt, sport),
       XG_MEMBER(xdpguard_pkt, dport), XG_MEMBER(xdpguard_pkt, l3_off), XG_MEMBER(xdpguard_pkt, l4_off),
       XG_MEMBER(xdpguard_pkt, family), XG_MEMBER(xdpguard_pkt, l4proto), XG_MEMBER(xdpguard_pkt, tcp_flags),
       XG_MEMBER(xdpguard_pkt, frag), XG_MEMBER(xdpguard_pkt, nvlan), XG_MEMBER(xdpguard_pkt, icmp_type),
       XG_MEMBER(xdpguard_pkt, icmp_code), XG_MEMBER(xdpguard_pkt, dscp), XG_MEMBER(xdpguard_pkt, vlan),
       XG_MEMBER(xdpguard_pkt, ip_len), XG_MEMBER(xdpguard_pkt, frag_bits), XG_MEMBER(xdpguard_pkt, pad)});
  expect_struct(
      "xdpguard_percpu", sizeof(xdpguard_percpu),
      {XG_MEMBER(xdpguard_percpu, pkt), XG_MEMBER(xdpguard_percpu, len), XG_MEMBER(xdpguard_percpu, prio),
       XG_MEMBER(xdpguard_percpu, slot), XG_MEMBER(xdpguard_percpu, action),
       XG_MEMBER(xdpguard_percpu, ifindex), XG_MEMBER(xdpguard_percpu, sp_seen),
       XG_MEMBER(xdpguard_percpu, actions), XG_MEMBER(xdpguard_percpu, parse),
       XG_MEMBER(xdpguard_percpu, flood), XG_MEMBER(xdpguard_percpu, errors), XG_MEMBER(xdpguard_percpu, lim),
       XG_MEMBER(xdpguard_percpu, lim_resume), XG_MEMBER(xdpguard_percpu, lim_stamp),
       XG_MEMBER(xdpguard_percpu, ddos), XG_MEMBER(xdpguard_percpu, xsk)});
  // The generated classifier writes the limiter's request (classifier/limit_code.cpp).
  expect_struct("xdpguard_limit_req", sizeof(xdpguard_limit_req),
                {XG_MEMBER(xdpguard_limit_req, cost_ns), XG_MEMBER(xdpguard_limit_req, tau_ns),
                 XG_MEMBER(xdpguard_limit_req, block_ns), XG_MEMBER(xdpguard_limit_req, action),
                 XG_MEMBER(xdpguard_limit_req, epoch), XG_MEMBER(xdpguard_limit_req, key),
                 XG_MEMBER(xdpguard_limit_req, len4), XG_MEMBER(xdpguard_limit_req, len6),
                 XG_MEMBER(xdpguard_limit_req, byte_shift), XG_MEMBER(xdpguard_limit_req, pad)});
}

TEST_F(BtfTest, DdosLayoutsMatch) {
  expect_struct(
      "xdpguard_bucket", sizeof(xdpguard_bucket),
      {XG_MEMBER(xdpguard_bucket, tat), XG_MEMBER(xdpguard_bucket, epoch), XG_MEMBER(xdpguard_bucket, pad)});
  expect_struct("xdpguard_limit_key", sizeof(xdpguard_limit_key),
                {XG_MEMBER(xdpguard_limit_key, rule), XG_MEMBER(xdpguard_limit_key, family),
                 XG_MEMBER(xdpguard_limit_key, len), XG_MEMBER(xdpguard_limit_key, pad),
                 XG_MEMBER(xdpguard_limit_key, addr)});
  expect_struct("xdpguard_block_key", sizeof(xdpguard_block_key),
                {XG_MEMBER(xdpguard_block_key, rule), XG_MEMBER(xdpguard_block_key, family),
                 XG_MEMBER(xdpguard_block_key, len), XG_MEMBER(xdpguard_block_key, pad),
                 XG_MEMBER(xdpguard_block_key, addr)});
  expect_struct("xdpguard_noblock_key", sizeof(xdpguard_noblock_key),
                {XG_MEMBER(xdpguard_noblock_key, prefixlen), XG_MEMBER(xdpguard_noblock_key, len),
                 XG_MEMBER(xdpguard_noblock_key, family), XG_MEMBER(xdpguard_noblock_key, addr)});
  expect_struct(
      "xdpguard_block", sizeof(xdpguard_block),
      {XG_MEMBER(xdpguard_block, expires_ns), XG_MEMBER(xdpguard_block, added_ns),
       XG_MEMBER(xdpguard_block, packets), XG_MEMBER(xdpguard_block, rule), XG_MEMBER(xdpguard_block, pad)});
  expect_struct("xdpguard_ddos", sizeof(xdpguard_ddos),
                {XG_MEMBER(xdpguard_ddos, block_until), XG_MEMBER(xdpguard_ddos, fake_now),
                 XG_MEMBER(xdpguard_ddos, swept_ns), XG_MEMBER(xdpguard_ddos, reserved)});
  expect_struct("xdpguard_synproxy", sizeof(xdpguard_synproxy),
                {XG_MEMBER(xdpguard_synproxy, active), XG_MEMBER(xdpguard_synproxy, mss4),
                 XG_MEMBER(xdpguard_synproxy, mss6), XG_MEMBER(xdpguard_synproxy, wscale),
                 XG_MEMBER(xdpguard_synproxy, ttl), XG_MEMBER(xdpguard_synproxy, nports),
                 XG_MEMBER(xdpguard_synproxy, state), XG_MEMBER(xdpguard_synproxy, ports),
                 XG_MEMBER(xdpguard_synproxy, mac), XG_MEMBER(xdpguard_synproxy, host),
                 XG_MEMBER(xdpguard_synproxy, pad)});
}

TEST_F(BtfTest, DdosMapsHoldAbiTypes) {
  expect_map(XDPGUARD_PIN_LIMIT_AGG, BPF_MAP_TYPE_ARRAY, sizeof(std::uint32_t), sizeof(xdpguard_bucket),
             XDPGUARD_MAX_RULES + 1, "xdpguard_bucket");
  expect_map(XDPGUARD_PIN_LIMIT_SRC, BPF_MAP_TYPE_LRU_HASH, sizeof(xdpguard_limit_key),
             sizeof(xdpguard_bucket), 65536, "xdpguard_bucket");
  expect_map(XDPGUARD_PIN_BLOCKED, BPF_MAP_TYPE_HASH, sizeof(xdpguard_block_key), sizeof(xdpguard_block),
             16384, "xdpguard_block");
  expect_map(XDPGUARD_PIN_NOBLOCK, BPF_MAP_TYPE_LPM_TRIE, sizeof(xdpguard_noblock_key), sizeof(std::uint32_t),
             XDPGUARD_NOBLOCK_MAX, "__u32");
  expect_map(XDPGUARD_PIN_DDOS, BPF_MAP_TYPE_ARRAY, sizeof(std::uint32_t), sizeof(xdpguard_ddos), 1,
             "xdpguard_ddos");
  expect_map(XDPGUARD_PIN_SYNPROXY, BPF_MAP_TYPE_ARRAY, sizeof(std::uint32_t), sizeof(xdpguard_synproxy), 1,
             "xdpguard_synproxy");
  // (An XSKMAP takes no BTF: its values are socket fds.)
  auto xsks = prog_->map(XDPGUARD_PIN_XSKS);
  ASSERT_TRUE(xsks) << xsks.error().message();
  EXPECT_EQ(xsks->info().type, BPF_MAP_TYPE_XSKMAP);
  EXPECT_EQ(xsks->info().key_size, sizeof(std::uint32_t));
  EXPECT_EQ(xsks->info().value_size, sizeof(std::uint32_t));
  EXPECT_EQ(xsks->info().max_entries, XDPGUARD_XSK_QUEUES);
}

TEST_F(BtfTest, CounterMapsHoldAbiCounters) {
  expect_map(XDPGUARD_PIN_PERCPU, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(std::uint32_t), sizeof(xdpguard_percpu),
             1, "xdpguard_percpu");
  expect_map(XDPGUARD_PIN_RULE_STATS, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(std::uint32_t),
             sizeof(xdpguard_counter), XDPGUARD_MAX_RULES + 1, "xdpguard_counter");
}

TEST_F(BtfTest, FloodLayoutsMatch) {
  expect_struct("xdpguard_flood_cfg", sizeof(xdpguard_flood_cfg),
                {XG_MEMBER(xdpguard_flood_cfg, lock), XG_MEMBER(xdpguard_flood_cfg, configured),
                 XG_MEMBER(xdpguard_flood_cfg, pps), XG_MEMBER(xdpguard_flood_cfg, hold_s),
                 XG_MEMBER(xdpguard_flood_cfg, top), XG_MEMBER(xdpguard_flood_cfg, reserved)});
  expect_struct("xdpguard_talker_key", sizeof(xdpguard_talker_key),
                {XG_MEMBER(xdpguard_talker_key, family), XG_MEMBER(xdpguard_talker_key, addr)});
  expect_struct("xdpguard_flood_source", sizeof(xdpguard_flood_source),
                {XG_MEMBER(xdpguard_flood_source, key), XG_MEMBER(xdpguard_flood_source, pad),
                 XG_MEMBER(xdpguard_flood_source, pps)});
  expect_struct("xdpguard_flood_attack", sizeof(xdpguard_flood_attack),
                {XG_MEMBER(xdpguard_flood_attack, attacks), XG_MEMBER(xdpguard_flood_attack, started_ns),
                 XG_MEMBER(xdpguard_flood_attack, detected_ns), XG_MEMBER(xdpguard_flood_attack, ended_ns),
                 XG_MEMBER(xdpguard_flood_attack, below_ns), XG_MEMBER(xdpguard_flood_attack, rate_pps),
                 XG_MEMBER(xdpguard_flood_attack, start_pps), XG_MEMBER(xdpguard_flood_attack, peak_pps),
                 XG_MEMBER(xdpguard_flood_attack, threshold_pps), XG_MEMBER(xdpguard_flood_attack, packets),
                 XG_MEMBER(xdpguard_flood_attack, pending), XG_MEMBER(xdpguard_flood_attack, active),
                 XG_MEMBER(xdpguard_flood_attack, sources), XG_MEMBER(xdpguard_flood_attack, nsources),
                 XG_MEMBER(xdpguard_flood_attack, pad), XG_MEMBER(xdpguard_flood_attack, top)});
  expect_struct("xdpguard_flood_state", sizeof(xdpguard_flood_state),
                {XG_MEMBER(xdpguard_flood_state, lock), XG_MEMBER(xdpguard_flood_state, pid),
                 XG_MEMBER(xdpguard_flood_state, sample_ns), XG_MEMBER(xdpguard_flood_state, packets),
                 XG_MEMBER(xdpguard_flood_state, proto)});
}

TEST_F(BtfTest, FloodMapsHoldAbiTypes) {
  expect_map(XDPGUARD_PIN_FLOOD_CFG, BPF_MAP_TYPE_ARRAY, sizeof(std::uint32_t), sizeof(xdpguard_flood_cfg), 1,
             "xdpguard_flood_cfg");
  expect_map(XDPGUARD_PIN_FLOOD, BPF_MAP_TYPE_ARRAY, sizeof(std::uint32_t), sizeof(xdpguard_flood_state), 1,
             "xdpguard_flood_state");
}

TEST_F(BtfTest, MetaMapHoldsAbiMeta) {
  expect_map(XDPGUARD_PIN_META, BPF_MAP_TYPE_ARRAY, sizeof(std::uint32_t), sizeof(xdpguard_meta), 1,
             "xdpguard_meta");
}

}  // namespace
}  // namespace xdpguard::test
