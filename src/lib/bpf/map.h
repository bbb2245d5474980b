// Typed access to BPF maps through an owned fd. Map<K, V> and PerCpuMap<K, V>
// check on open that the kernel map's key and value sizes are those of K and
// V and that it is (not) per-CPU, catching an ABI mismatch with pinned state
// as an error instead of garbage or a buffer overrun. A per-CPU map reads one
// V per possible CPU; sum() folds them with operator+=.
//
// Walks (keys(), entries()) read the map with BPF_MAP_LOOKUP_BATCH
// (dump_map()): the kernel goes through its buckets once, so entries deleted
// or evicted meanwhile (an LRU map under a random-source flood) cannot send
// the walk back to the first key, as a bpf_map_get_next_key() walk is sent
// when its current key vanishes. A walk returns each key at most once and at
// most max_entries entries, in a bounded number of system calls.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "bpf/abi.h"
#include "core/result.h"
#include "core/unique_fd.h"

namespace xdpguard {

// Number of possible CPUs (the per-CPU value count), cached.
int possible_cpus();

// Writes n keys (key_size bytes each) and their values (value_stride bytes
// apart: a per-CPU map's value is one per possible CPU) to the map fd:
// kUpdateBatch a system call (BPF_MAP_UPDATE_BATCH), one by one where the
// kernel has no batches for the map's type.
inline constexpr std::size_t kUpdateBatch = 4096;
[[nodiscard]] Result<void> update_batched(int fd, const void* keys, std::size_t key_size, const void* values,
                                          std::size_t value_stride, std::size_t n);

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
  // A plain array created BPF_F_MMAPABLE in place of a per-CPU array: how a
  // pipeline loaded for simulation (GuardConfig::simulation) makes its
  // per-CPU entry readable in place (MappedArray), and its rule counters
  // cheap to create. PerCpuMap reads it as one CPU's value.
  bool per_cpu_stand_in() const;
  // Fails unless the map's key/value sizes equal the given ones.
  [[nodiscard]] Result<void> expect_sizes(std::size_t key, std::size_t value) const;

 private:
  UniqueFd fd_;
  bpf_map_info info_{};
};

// Every key and value of a hash-type map (hash, LRU hash, their per-CPU
// forms), as raw bytes: at most max_entries entries, no key twice. Batch
// lookups where the kernel has them for the map type, else a get_next_key
// walk under the same bounds. A per-CPU map's value is one (8-byte aligned)
// value per possible CPU.
struct MapDump {
  std::size_t key_size = 0;
  std::size_t value_size = 0;  // of one entry: all CPUs' values for a per-CPU map
  std::size_t count = 0;
  std::vector<std::uint8_t> keys, values;
  const std::uint8_t* key(std::size_t i) const { return keys.data() + i * key_size; }
  const std::uint8_t* value(std::size_t i) const { return values.data() + i * value_size; }
};
[[nodiscard]] Result<MapDump> dump_map(int fd);
// How many entries a hash-type map holds (the same batch walk, counting;
// at most max_entries).
[[nodiscard]] Result<std::uint64_t> count_map_entries(int fd);

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
  // The map's kernel id.
  std::uint32_t id() const { return fd_.info().id; }

  [[nodiscard]] Result<V> get(const K& key) const {
    V v{};
    if (bpf_map_lookup_elem(fd(), &key, &v) != 0) return fail_errno(errno, "map lookup");
    return v;
  }
  [[nodiscard]] Result<void> put(const K& key, const V& v, std::uint64_t flags = BPF_ANY) {
    if (bpf_map_update_elem(fd(), &key, &v, flags) != 0) return fail_errno(errno, "map update");
    return {};
  }
  // All keys (hash maps), in kernel iteration order (see dump_map()).
  [[nodiscard]] Result<std::vector<K>> keys() const {
    const auto d = XG_TRY(dump_map(fd()));
    std::vector<K> out(d.count);
    for (std::size_t i = 0; i < d.count; ++i) std::memcpy(&out[i], d.key(i), sizeof(K));
    return out;
  }
  // All keys with their values (hash maps; see dump_map()).
  [[nodiscard]] Result<std::vector<std::pair<K, V>>> entries() const {
    const auto d = XG_TRY(dump_map(fd()));
    std::vector<std::pair<K, V>> out(d.count);
    for (std::size_t i = 0; i < d.count; ++i) {
      std::memcpy(&out[i].first, d.key(i), sizeof(K));
      std::memcpy(&out[i].second, d.value(i), sizeof(V));
    }
    return out;
  }

 private:
  MapFd fd_;
};

// A per-CPU map: every key holds one V per possible CPU, read and written
// together (a plain lookup into one V would overrun it). Over a per-CPU
// stand-in (MapFd::per_cpu_stand_in) the first CPU's value is the array's
// and the others read as V{}.
template <class K, class V>
class PerCpuMap {
 public:
  PerCpuMap() = default;
  [[nodiscard]] static Result<PerCpuMap> wrap(MapFd fd) {
    XG_CHECK(fd.expect_sizes(sizeof(K), sizeof(V)));
    if (!fd.per_cpu() && !fd.per_cpu_stand_in()) return fail(EPROTO, "map {} is not per-CPU", fd.info().name);
    static_assert(sizeof(V) % 8 == 0, "the kernel lays per-CPU values out 8-byte aligned");
    PerCpuMap m;
    m.fd_ = std::move(fd);
    return m;
  }

  int fd() const { return fd_.fd(); }
  std::uint32_t id() const { return fd_.info().id; }
  // Values per key as the kernel lays them out: one per possible CPU, one
  // over a stand-in.
  std::size_t values_per_key() const { return fd_.per_cpu() ? static_cast<std::size_t>(possible_cpus()) : 1; }

  // All keys with every CPU's value (hash maps; see dump_map()).
  [[nodiscard]] Result<std::vector<std::pair<K, std::vector<V>>>> entries() const {
    const auto d = XG_TRY(dump_map(fd()));
    const std::size_t ncpu = static_cast<std::size_t>(possible_cpus());
    if (d.value_size != ncpu * sizeof(V))
      return fail(EPROTO, "map {}: unexpected value layout", fd_.info().name);
    std::vector<std::pair<K, std::vector<V>>> out(d.count);
    for (std::size_t i = 0; i < d.count; ++i) {
      std::memcpy(&out[i].first, d.key(i), sizeof(K));
      out[i].second.resize(ncpu);
      std::memcpy(out[i].second.data(), d.value(i), d.value_size);
    }
    return out;
  }

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
  // Sets every CPU's value of each of `keys` to v, in batches
  // (update_batched). Zeroing the counters of a 10,000-rule set one key at
  // a time took 0.2 s of a 0.4 s apply.
  [[nodiscard]] Result<void> put_all(const std::vector<K>& keys, const V& v) {
    const std::size_t per_key = values_per_key();
    const std::size_t chunk = std::min(kUpdateBatch, keys.size());
    const std::vector<V> vals(chunk * per_key, v);
    for (std::size_t done = 0; done < keys.size(); done += chunk)
      XG_CHECK(update_batched(fd(), &keys[done], sizeof(K), vals.data(), per_key * sizeof(V),
                              std::min(chunk, keys.size() - done)));
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

// The values of an array map created BPF_F_MMAPABLE, mapped into this
// process: read and written in place, without a system call, while BPF
// programs use them. A frozen map maps read only (`writable` false); a map
// is frozen only once no writable mapping of it is left.
class MappedArray {
 public:
  MappedArray() = default;
  [[nodiscard]] static Result<MappedArray> map(const MapFd& fd, bool writable = true);
  MappedArray(MappedArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        len_(std::exchange(o.len_, 0)),
        value_size_(o.value_size_),
        entries_(std::exchange(o.entries_, 0)) {}
  MappedArray& operator=(MappedArray&& o) noexcept;
  MappedArray(const MappedArray&) = delete;
  MappedArray& operator=(const MappedArray&) = delete;
  ~MappedArray();

  // The same bytes, at the same address, mapped read only from now on
  // (map: the map they are of). Writes through the mapping fault after.
  [[nodiscard]] Result<void> remap_read_only(const MapFd& map);

  // Entry i's value (values are laid out 8-byte aligned); null past the end.
  std::uint8_t* value(std::uint32_t i) const;

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t len_ = 0;
  std::size_t value_size_ = 0;  // the stride, rounded up to 8
  std::uint32_t entries_ = 0;
};

}  // namespace xdpguard
