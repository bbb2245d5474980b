// Guard's DDoS state (docs/ddos.md): the limiter's and block list's maps,
// set up with the guard object, and what the CLI reads and edits of them
// (blocked list/del, stats).
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <set>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "guard.skel.h"
#include "bpf/clock.h"
#include "guard/guard.h"
#include "guard/guard_ddos.h"
#include "rules/limits.h"
#include "rules/printer.h"

namespace xdpguard {

namespace ddos_internal {

Result<void> configure(guard_bpf& skel, const GuardConfig& cfg) {
  auto size = [](bpf_map* m, std::uint32_t n, const char* what) -> Result<void> {
    if (n == 0 || n > (1u << 24)) return fail(EINVAL, "{}: expected 1 to {}, got {}", what, 1u << 24, n);
    if (int err = bpf_map__set_max_entries(m, n)) return fail_errno(err, what);
    return {};
  };
  XG_CHECK(size(skel.maps.xg_limit_src, cfg.limit_buckets, "limit buckets"));
  XG_CHECK(size(skel.maps.xg_blocked, cfg.block_entries, "block entries"));
  skel.rodata->cfg_fake_clock = cfg.fake_clock ? 1 : 0;
  return {};
}

Result<void> link_stages(const guard_bpf& skel) {
  __u32 slot = XDPGUARD_PROG_LIMIT;
  int fd = bpf_program__fd(skel.progs.xdpguard_limit);
  if (bpf_map_update_elem(bpf_map__fd(skel.maps.xg_progs), &slot, &fd, BPF_ANY) != 0)
    return fail_errno(errno, "install limiter stage");
  return {};
}

}  // namespace ddos_internal

namespace {

rules::Prefix prefix_of(const xdpguard_block_key& k) {
  rules::Prefix p;
  p.family = k.family == 6 ? rules::Family::V6 : rules::Family::V4;
  p.len = k.len;
  std::memcpy(p.addr.data(), k.addr, k.family == 6 ? 16 : 4);
  return p;
}

// Does prefix a contain (every address of) b?
bool contains(const rules::Prefix& a, const rules::Prefix& b) {
  if (a.family != b.family || a.len > b.len) return false;
  for (unsigned bit = 0; bit < a.len; ++bit) {
    const unsigned byte = bit / 8, mask = 0x80u >> (bit % 8);
    if ((a.addr[byte] & mask) != (b.addr[byte] & mask)) return false;
  }
  return true;
}

// Every key of a hash map with its value: one bounded batch walk
// (bpf/map.h), each key at most once even while the LRU map churns.
template <class K, class V>
Result<std::vector<std::pair<K, V>>> dump(int fd) {
  const auto d = XG_TRY(dump_map(fd));
  if (d.key_size != sizeof(K) || d.value_size != sizeof(V))
    return fail(EPROTO, "map iterate: unexpected sizes");
  std::vector<std::pair<K, V>> out(d.count);
  for (std::size_t i = 0; i < d.count; ++i) {
    std::memcpy(&out[i].first, d.key(i), sizeof(K));
    std::memcpy(&out[i].second, d.value(i), sizeof(V));
  }
  return out;
}

Result<std::uint32_t> max_entries(int fd) {
  bpf_map_info info{};
  __u32 len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return fail_errno(errno, "map info");
  return info.max_entries;
}

}  // namespace

const char* ddos_counter_name(int idx) {
  switch (idx) {
    case XDPGUARD_DDOS_LIMIT_OVER: return "limit_over";
    case XDPGUARD_DDOS_LIMIT_UNDER: return "limit_under";
    case XDPGUARD_DDOS_BUCKET_NEW: return "buckets_created";
    case XDPGUARD_DDOS_RESUME_FAILED: return "limit_resume_failed";
    case XDPGUARD_DDOS_BLOCKED: return "blocked";
    case XDPGUARD_DDOS_BLOCK_ADDED: return "block_added";
    case XDPGUARD_DDOS_BLOCK_FAILED: return "block_failed";
    case XDPGUARD_DDOS_SYN_COOKIE: return "syn_cookies";
    case XDPGUARD_DDOS_ACK_VALID: return "cookie_acks_valid";
    case XDPGUARD_DDOS_ACK_INVALID: return "cookie_acks_invalid";
    case XDPGUARD_DDOS_ESTABLISHED: return "established";
    case XDPGUARD_DDOS_SYNPROXY_DROP: return "synproxy_dropped";
    case XDPGUARD_DDOS_BUCKET_FAILED: return "bucket_failed";
    case XDPGUARD_DDOS_BLOCK_SKIPPED: return "block_skipped";
    case XDPGUARD_DDOS_SYN_INVALID: return "syn_invalid_flags";
    case XDPGUARD_DDOS_NOT_LOCAL: return "synproxy_not_local";
    case XDPGUARD_DDOS_SOCKET: return "socket_known";
    default: return "";
  }
}

Result<std::uint64_t> Guard::ddos_now() const {
  if (meta_.flags & XDPGUARD_META_FAKE_CLOCK) {
    xdpguard_ddos d{};
    __u32 zero = 0;
    if (bpf_map_lookup_elem(ddos_maps_.ddos.fd(), &zero, &d) != 0)
      return fail_errno(errno, "read DDoS state");
    return d.fake_now;
  }
  return monotonic_ns();
}

Result<void> Guard::set_fake_now(std::uint64_t ns) {
  xdpguard_ddos d{};
  __u32 zero = 0;
  if (bpf_map_lookup_elem(ddos_maps_.ddos.fd(), &zero, &d) != 0) return fail_errno(errno, "read DDoS state");
  d.fake_now = ns;
  if (bpf_map_update_elem(ddos_maps_.ddos.fd(), &zero, &d, BPF_ANY) != 0)
    return fail_errno(errno, "set the test clock");
  return {};
}

Result<std::vector<BlockedEntry>> Guard::blocked() const {
  const std::uint64_t now = XG_TRY(ddos_now());
  std::vector<BlockedEntry> out;
  for (const auto& [k, v] : XG_TRY((dump<xdpguard_block_key, xdpguard_block>(ddos_maps_.blocked.fd())))) {
    if (v.expires_ns <= now) continue;
    out.push_back(
        {prefix_of(k), v.expires_ns - now, now > v.added_ns ? now - v.added_ns : 0, v.packets, v.rule});
  }
  std::sort(out.begin(), out.end(),
            [](const BlockedEntry& a, const BlockedEntry& b) { return a.expires_in_ns > b.expires_in_ns; });
  return out;
}

Result<std::vector<BlockedEntry>> Guard::unblock(const rules::Prefix& p) {
  auto lk = XG_TRY(lock());
  const std::uint64_t now = XG_TRY(ddos_now());
  std::vector<BlockedEntry> removed;
  for (const auto& [k, v] : XG_TRY((dump<xdpguard_block_key, xdpguard_block>(ddos_maps_.blocked.fd())))) {
    const rules::Prefix e = prefix_of(k);
    if (!contains(e, p)) continue;
    if (bpf_map_delete_elem(ddos_maps_.blocked.fd(), &k) != 0 && errno != ENOENT)
      return fail_errno(errno, "unblock");
    if (v.expires_ns > now)
      removed.push_back({e, v.expires_ns - now, now > v.added_ns ? now - v.added_ns : 0, v.packets, v.rule});
  }
  if (removed.empty()) return fail(ENOENT, "{} is not blocked", rules::prefix_to_string(p));
  return removed;
}

Result<DdosStats> Guard::ddos_stats() const {
  DdosStats s;
  for (const auto& cpu : XG_TRY(percpu_.get(0)))
    for (int i = 0; i < XDPGUARD_DDOS_MAX; ++i) s.counters[i] += cpu.ddos[i];
  s.buckets = XG_TRY(count_map_entries(ddos_maps_.limit_src.fd()));
  s.bucket_capacity = XG_TRY(max_entries(ddos_maps_.limit_src.fd()));
  const std::uint64_t created = s.counters[XDPGUARD_DDOS_BUCKET_NEW].packets;
  s.bucket_evictions = created > s.buckets ? created - s.buckets : 0;
  s.blocked = XG_TRY(blocked()).size();
  s.block_capacity = XG_TRY(max_entries(ddos_maps_.blocked.fd()));
  auto sp = XG_TRY(synproxy_status());
  s.synproxy = sp.state == XDPGUARD_SYNPROXY_ON;
  return s;
}

namespace {

// The address bits of p (family's width) cut to `len`, as key bytes.
std::array<std::uint8_t, 16> cut(const rules::Prefix& p, unsigned len) {
  std::array<std::uint8_t, 16> a{};
  for (unsigned bit = 0; bit < len; ++bit)
    if (p.addr[bit / 8] & (0x80u >> (bit % 8))) a[bit / 8] |= static_cast<std::uint8_t>(0x80u >> (bit % 8));
  return a;
}

// Do prefixes a and b share an address?
bool overlap(const rules::Prefix& a, const rules::Prefix& b) { return contains(a, b) || contains(b, a); }

}  // namespace

Result<std::vector<rules::Prefix>> Guard::never_block() const {
  // Each prefix has one entry per block length; the one for the longest
  // length holds it whole (len = its own length, prefixlen 16 + len).
  std::vector<rules::Prefix> out;
  for (const auto& [k, v] : XG_TRY((dump<xdpguard_noblock_key, __u32>(ddos_maps_.noblock.fd())))) {
    const unsigned width = k.family == 6 ? 128 : 32;
    if (k.len != width) continue;
    rules::Prefix p;
    p.family = k.family == 6 ? rules::Family::V6 : rules::Family::V4;
    p.len = static_cast<std::uint8_t>(k.prefixlen - 16);
    std::memcpy(p.addr.data(), k.addr, k.family == 6 ? 16 : 4);
    out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const rules::Prefix& a, const rules::Prefix& b) {
    return std::tie(a.family, a.addr, a.len) < std::tie(b.family, b.addr, b.len);
  });
  return out;
}

Result<std::pair<std::uint32_t, std::uint32_t>> Guard::ddos_map_sizes() const {
  return std::make_pair(static_cast<std::uint32_t>(XG_TRY(max_entries(ddos_maps_.limit_src.fd()))),
                        static_cast<std::uint32_t>(XG_TRY(max_entries(ddos_maps_.blocked.fd()))));
}

Result<void> Guard::set_never_block(const std::vector<rules::Prefix>& prefixes) {
  if (prefixes.size() > rules::kMaxNeverBlock)
    return fail(E2BIG, "{} never-block prefixes, the limit is {}", prefixes.size(), rules::kMaxNeverBlock);
  auto lk = XG_TRY(lock());
  const int fd = ddos_maps_.noblock.fd();
  std::set<std::vector<std::uint8_t>> want;
  auto raw = [](const xdpguard_noblock_key& k) {
    const auto* b = reinterpret_cast<const std::uint8_t*>(&k);
    return std::vector<std::uint8_t>(b, b + sizeof k);
  };
  // The new entries first (a prefix in both lists is never unprotected),
  // then the old ones that are not in the new list go.
  for (const auto& p : prefixes) {
    const unsigned width = p.family == rules::Family::V6 ? 128 : 32;
    for (unsigned len = 1; len <= width; ++len) {
      xdpguard_noblock_key k{};
      const unsigned bits = std::min<unsigned>(p.len, len);
      k.prefixlen = 16 + bits;
      k.len = static_cast<__u8>(len);
      k.family = p.family == rules::Family::V6 ? 6 : 4;
      const auto a = cut(p, bits);
      std::memcpy(k.addr, a.data(), sizeof k.addr);
      __u32 v = p.len;
      if (bpf_map_update_elem(fd, &k, &v, BPF_ANY) != 0)
        return fail_errno(errno, fmt::format("never-block {}", rules::prefix_to_string(p)));
      want.insert(raw(k));
    }
  }
  for (const auto& [k, v] : XG_TRY((dump<xdpguard_noblock_key, __u32>(fd))))
    if (!want.count(raw(k)) && bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT)
      return fail_errno(errno, "never-block: remove an old prefix");
  // Blocks made before that now overlap a never-block prefix go.
  for (const auto& [k, v] : XG_TRY((dump<xdpguard_block_key, xdpguard_block>(ddos_maps_.blocked.fd())))) {
    const rules::Prefix b = prefix_of(k);
    if (std::any_of(prefixes.begin(), prefixes.end(), [&](const rules::Prefix& p) { return overlap(p, b); }))
      if (bpf_map_delete_elem(ddos_maps_.blocked.fd(), &k) != 0 && errno != ENOENT)
        return fail_errno(errno, "never-block: unblock " + rules::prefix_to_string(b));
  }
  return {};
}

Result<void> Guard::reset_ddos_state() {
  // Bounded passes (bpf/map.h): a flood may add entries while they go.
  for (int fd : {ddos_maps_.limit_src.fd(), ddos_maps_.blocked.fd()})
    for (int pass = 0; pass < 4; ++pass) {
      const auto d = XG_TRY(dump_map(fd));
      if (d.count == 0) break;
      for (std::size_t i = 0; i < d.count; ++i)
        if (bpf_map_delete_elem(fd, d.key(i)) != 0 && errno != ENOENT)
          return fail_errno(errno, "reset DDoS state");
    }
  // Aggregate buckets: epoch 0 is no limit's, so each restarts full.
  const xdpguard_bucket zero_bucket{};
  for (__u32 i = 0; i <= XDPGUARD_MAX_RULES; ++i)
    if (bpf_map_update_elem(ddos_maps_.limit_agg.fd(), &i, &zero_bucket, BPF_ANY) != 0)
      return fail_errno(errno, "reset DDoS state");
  xdpguard_ddos d{};
  __u32 zero = 0;
  if (bpf_map_lookup_elem(ddos_maps_.ddos.fd(), &zero, &d) != 0) return fail_errno(errno, "read DDoS state");
  const std::uint64_t fake = d.fake_now;
  d = {};
  d.fake_now = fake;
  if (bpf_map_update_elem(ddos_maps_.ddos.fd(), &zero, &d, BPF_ANY) != 0)
    return fail_errno(errno, "reset DDoS state");
  return {};
}

}  // namespace xdpguard
