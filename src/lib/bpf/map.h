// Typed access to BPF maps through an owned fd. Map<K, V> and PerCpuMap<K, V>
// check on open that the kernel map's key and value sizes are those of K and
// V and that it is (not) per-CPU, catching an ABI mismatch with pinned state
// as an error instead of garbage or a buffer overrun. A per-CPU map reads one
// V per possible CPU; sum() folds them with operator+=.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <string>
#include <vector>

#include "bpf/abi.h"
#include "core/result.h"
#include "core/unique_fd.h"

namespace xdpguard {

// Number of possible CPUs (the per-CPU value count), cached.
int possible_cpus();

class MapFd {
 public:
  MapFd() = default;
  // Takes ownership of fd.
  [[nodiscard]] static Result<MapFd> adopt(int fd);
  // dup()s the fd of a libbpf map (which keeps its own).
  [[nodiscard]] static Result<MapFd> from_libbpf(const bpf_map* map);
  [[nodiscard]] static Result<MapFd> open_pinned(const std::string& path);

  int fd() const { return fd_.get(); }
  const bpf_map_info& info() const { return info_; }
  bool per_cpu() const;
  // Fails unless the map's key/value sizes equal the given ones.
  [[nodiscard]] Result<void> expect_sizes(std::size_t key, std::size_t value) const;

 private:
  UniqueFd fd_;
  bpf_map_info info_{};
};

// A map with one value per key (array, hash, ...). Refuses per-CPU maps.
template <class K, class V>
class Map {
 public:
  Map() = default;
  [[nodiscard]] static Result<Map> wrap(MapFd fd) {
    XG_CHECK(fd.expect_sizes(sizeof(K), sizeof(V)));
    if (fd.per_cpu()) return fail(EPROTO, "map {} is per-CPU; read it as PerCpuMap", fd.info().name);
    Map m;
    m.fd_ = std::move(fd);
    return m;
  }
  [[nodiscard]] static Result<Map> open_pinned(const std::string& path) {
    return wrap(XG_TRY(MapFd::open_pinned(path)));
  }

  int fd() const { return fd_.fd(); }

  [[nodiscard]] Result<V> get(const K& key) const {
    V v{};
    if (bpf_map_lookup_elem(fd(), &key, &v) != 0) return fail_errno(errno, "map lookup");
    return v;
  }
  [[nodiscard]] Result<void> put(const K& key, const V& v, std::uint64_t flags = BPF_ANY) {
    if (bpf_map_update_elem(fd(), &key, &v, flags) != 0) return fail_errno(errno, "map update");
    return {};
  }
  // All keys (hash maps), in kernel iteration order.
  [[nodiscard]] Result<std::vector<K>> keys() const {
    std::vector<K> out;
    K cur{}, next{};
    const K* prev = nullptr;
    while (bpf_map_get_next_key(fd(), prev, &next) == 0) {
      out.push_back(next);
      cur = next;
      prev = &cur;
    }
    if (errno != ENOENT) return fail_errno(errno, "map iterate");
    return out;
  }

 private:
  MapFd fd_;
};

// A per-CPU map: every key holds one V per possible CPU, read and written
// together (a plain lookup into one V would overrun it).
template <class K, class V>
class PerCpuMap {
 public:
  PerCpuMap() = default;
  [[nodiscard]] static Result<PerCpuMap> wrap(MapFd fd) {
    XG_CHECK(fd.expect_sizes(sizeof(K), sizeof(V)));
    if (!fd.per_cpu()) return fail(EPROTO, "map {} is not per-CPU", fd.info().name);
    static_assert(sizeof(V) % 8 == 0, "the kernel lays per-CPU values out 8-byte aligned");
    PerCpuMap m;
    m.fd_ = std::move(fd);
    return m;
  }

  int fd() const { return fd_.fd(); }

  [[nodiscard]] Result<std::vector<V>> get(const K& key) const {
    std::vector<V> vals(static_cast<std::size_t>(possible_cpus()));
    if (bpf_map_lookup_elem(fd(), &key, vals.data()) != 0) return fail_errno(errno, "map lookup");
    return vals;
  }
  // Sets every CPU's value of key to v.
  [[nodiscard]] Result<void> put_all(const K& key, const V& v) {
    std::vector<V> vals(static_cast<std::size_t>(possible_cpus()), v);
    if (bpf_map_update_elem(fd(), &key, vals.data(), BPF_ANY) != 0) return fail_errno(errno, "map update");
    return {};
  }
  // The CPUs' values folded with operator+=.
  [[nodiscard]] Result<V> sum(const K& key) const {
    auto vals = XG_TRY(get(key));
    V total{};
    for (const auto& v : vals) total += v;
    return total;
  }

 private:
  MapFd fd_;
};

}  // namespace xdpguard
