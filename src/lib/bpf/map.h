// Typed access to BPF maps through an owned fd. A Map<K, V> checks on open that
// the kernel map's key and value sizes are those of K and V (catching an ABI
// mismatch with pinned state as an error, not as garbage). Per-CPU maps read
// one V per possible CPU; sum() folds them with operator+=.
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

template <class K, class V>
class Map {
 public:
  Map() = default;
  [[nodiscard]] static Result<Map> wrap(MapFd fd) {
    XG_CHECK(fd.expect_sizes(sizeof(K), sizeof(V)));
    Map m;
    m.fd_ = std::move(fd);
    return m;
  }
  [[nodiscard]] static Result<Map> open_pinned(const std::string& path) {
    return wrap(XG_TRY(MapFd::open_pinned(path)));
  }

  int fd() const { return fd_.fd(); }

  // Non-per-CPU lookup.
  [[nodiscard]] Result<V> get(const K& key) const {
    V v{};
    if (bpf_map_lookup_elem(fd(), &key, &v) != 0) return fail_errno(errno, "map lookup");
    return v;
  }
  [[nodiscard]] Result<void> put(const K& key, const V& v, std::uint64_t flags = BPF_ANY) {
    if (bpf_map_update_elem(fd(), &key, &v, flags) != 0) return fail_errno(errno, "map update");
    return {};
  }
  // Per-CPU lookup: one value per possible CPU.
  [[nodiscard]] Result<std::vector<V>> get_per_cpu(const K& key) const {
    std::vector<V> vals(static_cast<std::size_t>(possible_cpus()));
    if (bpf_map_lookup_elem(fd(), &key, vals.data()) != 0)
      return fail_errno(errno, "map lookup");
    return vals;
  }
  // Per-CPU lookup folded with operator+=.
  [[nodiscard]] Result<V> sum(const K& key) const {
    auto vals = XG_TRY(get_per_cpu(key));
    V total{};
    for (const auto& v : vals) total += v;
    return total;
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

}  // namespace xdpguard
