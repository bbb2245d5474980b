#include "bpf/map.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <string_view>

namespace xdpguard {

int possible_cpus() {
  static const int n = libbpf_num_possible_cpus();
  return n > 0 ? n : 1;
}

Result<void> update_batched(int fd, const void* keys, std::size_t key_size, const void* values,
                            std::size_t value_stride, std::size_t n) {
  const auto* k = static_cast<const std::uint8_t*>(keys);
  const auto* v = static_cast<const std::uint8_t*>(values);
  std::size_t done = 0;
  while (done < n) {
    const auto count_max = static_cast<__u32>(std::min(kUpdateBatch, n - done));
    __u32 count = count_max;
    LIBBPF_OPTS(bpf_map_batch_opts, o);
    if (bpf_map_update_batch(fd, k + done * key_size, v + done * value_stride, &count, &o) == 0) {
      done += count_max;
      continue;
    }
    // EOPNOTSUPP (== ENOTSUP in userspace) or the kernel-internal ENOTSUPP (524):
    // no batches for this map type.
    if (errno != EINVAL && errno != EOPNOTSUPP && errno != 524) return fail_errno(errno, "map batch update");
    break;
  }
  for (; done < n; ++done)
    if (bpf_map_update_elem(fd, k + done * key_size, v + done * value_stride, BPF_ANY) != 0)
      return fail_errno(errno, "map update");
  return {};
}

Result<MapFd> MapFd::adopt(int fd) {
  if (fd < 0) return fail(EBADF, "invalid map fd");
  MapFd m;
  m.fd_.reset(fd);
  __u32 len = sizeof(m.info_);
  if (bpf_obj_get_info_by_fd(fd, &m.info_, &len) != 0) return fail_errno(errno, "map info");
  return m;
}

Result<MapFd> MapFd::from_libbpf(const bpf_map* map) {
  int fd = bpf_map__fd(map);
  if (fd < 0) return fail(EBADF, "map {} is not loaded", bpf_map__name(map));
  int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return fail_errno(errno, "dup map fd");
  return adopt(dup);
}

Result<MapFd> MapFd::open_pinned(const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return fail_errno(errno, "open pinned map " + path);
  return adopt(fd);
}

bool MapFd::per_cpu() const {
  switch (info_.type) {
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH: return true;
    default: return false;
  }
}

bool MapFd::per_cpu_stand_in() const {
  return info_.type == BPF_MAP_TYPE_ARRAY && (info_.map_flags & BPF_F_MMAPABLE);
}

Result<void> MapFd::expect_sizes(std::size_t key, std::size_t value) const {
  if (info_.key_size != key || info_.value_size != value)
    return fail(EPROTO,
                "map {} has key/value size {}/{}, expected {}/{} (state from another xdpguard "
                "version? detach and attach again)",
                info_.name, info_.key_size, info_.value_size, key, value);
  return {};
}

namespace {

bool per_cpu_type(__u32 type) {
  return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

// Collects entries, at most `max` of them (duplicates go in finish()).
class Collector {
 public:
  Collector(MapDump& d, std::size_t max) : d_(d), max_(max) {}
  bool full() const { return d_.count >= max_; }
  void add(const std::uint8_t* k, const std::uint8_t* v) {
    if (full()) return;
    d_.keys.insert(d_.keys.end(), k, k + d_.key_size);
    d_.values.insert(d_.values.end(), v, v + d_.value_size);
    ++d_.count;
  }
  // Each key once (a batch pass reads each bucket once, so a key can only
  // come twice from a get_next_key walk that was sent back to the start).
  void finish() {
    const std::size_t ks = d_.key_size;
    std::vector<std::size_t> order(d_.count);
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    auto key = [&](std::size_t i) { return std::string_view(reinterpret_cast<const char*>(d_.key(i)), ks); };
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
    std::vector<bool> dup(d_.count, false);
    bool any = false;
    for (std::size_t i = 1; i < order.size(); ++i)
      if (key(order[i]) == key(order[i - 1])) dup[order[i]] = any = true;
    if (!any) return;
    std::size_t out = 0;
    for (std::size_t i = 0; i < d_.count; ++i) {
      if (dup[i]) continue;
      if (out != i) {
        std::memmove(&d_.keys[out * ks], &d_.keys[i * ks], ks);
        std::memmove(&d_.values[out * d_.value_size], &d_.values[i * d_.value_size], d_.value_size);
      }
      ++out;
    }
    d_.count = out;
    d_.keys.resize(out * ks);
    d_.values.resize(out * d_.value_size);
  }

 private:
  MapDump& d_;
  std::size_t max_;
};

// Counts entries, at most `max` (count_map_entries(): nothing is kept).
struct Counter {
  std::size_t n = 0, max = 0;
  bool full() const { return n >= max; }
  void add(const std::uint8_t*, const std::uint8_t*) {
    if (!full()) ++n;
  }
};

// What a walk needs to know of a map: sizes of a key and of one entry's
// value (all CPUs' values for a per-CPU map), and max_entries.
struct Layout {
  std::size_t key_size = 0, value_size = 0, max = 0;
};

Result<Layout> layout_of(int fd) {
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return fail_errno(errno, "map info");
  Layout l;
  l.key_size = info.key_size;
  l.value_size = per_cpu_type(info.type) ? ((std::size_t{info.value_size} + 7) & ~std::size_t{7}) *
                                               static_cast<std::size_t>(possible_cpus())
                                         : info.value_size;
  l.max = info.max_entries;
  return l;
}

// Not supported for this map type: EINVAL, EOPNOTSUPP, or the kernel's ENOTSUPP (524).
bool no_batch(int err) { return err == EINVAL || err == EOPNOTSUPP || err == 524; }

// BPF_MAP_LOOKUP_BATCH over the whole map into `c` (a Collector or a
// Counter); false when the kernel has no batch lookup for this map type
// (nothing given to `c` then).
template <class Sink>
Result<bool> dump_batch(int fd, const Layout& d, Sink& c) {
  const std::size_t max = d.max;
  std::size_t chunk = std::clamp<std::size_t>(max, 1, 4096);
  std::vector<std::uint8_t> keys(chunk * d.key_size), values(chunk * d.value_size);
  // The batch cursor is a bucket index (u32) for hash maps, a key for arrays.
  std::vector<std::uint8_t> in(std::max<std::size_t>(d.key_size, 8)), out(in.size());
  bool first = true;
  // Every call moves the kernel's cursor on by at least one bucket, and a
  // hash map has at most 2 * max_entries buckets; the bound is a backstop.
  for (std::size_t calls = 0; calls <= 2 * max + 2 && !c.full(); ++calls) {
    LIBBPF_OPTS(bpf_map_batch_opts, o);
    auto count = static_cast<__u32>(chunk);
    int rc = bpf_map_lookup_batch(fd, first ? nullptr : in.data(), out.data(), keys.data(), values.data(),
                                  &count, &o);
    const int err = rc ? errno : 0;
    if (err == ENOSPC && count == 0 && chunk < (1u << 20)) {
      // One bucket holds more entries than the buffers: bigger ones, same cursor.
      chunk *= 2;
      keys.resize(chunk * d.key_size);
      values.resize(chunk * d.value_size);
      continue;
    }
    if (err && err != ENOENT) {
      if (first && no_batch(err)) return false;
      return fail_errno(err, "map batch lookup");
    }
    for (__u32 i = 0; i < count; ++i) c.add(&keys[i * d.key_size], &values[i * d.value_size]);
    if (err == ENOENT) return true;  // that was the last batch
    in.swap(out);
    first = false;
  }
  return true;
}

// The same with get_next_key and lookups, at most 2 * max_entries steps: a
// walk sent back to the first key by a deletion ends there.
Result<void> dump_walk(int fd, const Layout& d, Collector& c) {
  std::vector<std::uint8_t> cur(d.key_size), next(d.key_size), value(d.value_size);
  const void* prev = nullptr;
  for (std::size_t steps = 0; steps < 2 * d.max && !c.full(); ++steps) {
    if (bpf_map_get_next_key(fd, prev, next.data()) != 0) {
      if (errno == ENOENT) return {};
      return fail_errno(errno, "map iterate");
    }
    if (bpf_map_lookup_elem(fd, next.data(), value.data()) == 0) c.add(next.data(), value.data());
    cur.swap(next);
    prev = cur.data();
  }
  return {};
}

}  // namespace

Result<MapDump> dump_map(int fd) {
  const Layout l = XG_TRY(layout_of(fd));
  MapDump d;
  d.key_size = l.key_size;
  d.value_size = l.value_size;
  if (l.max == 0 || l.key_size == 0) return d;
  Collector c(d, l.max);
  if (!XG_TRY(dump_batch(fd, l, c))) XG_CHECK(dump_walk(fd, l, c));
  c.finish();
  return d;
}

Result<std::uint64_t> count_map_entries(int fd) {
  const Layout l = XG_TRY(layout_of(fd));
  if (l.max == 0 || l.key_size == 0) return 0;
  Counter c{0, l.max};
  if (XG_TRY(dump_batch(fd, l, c))) return c.n;
  // No batch lookup for this type: the get_next_key walk, which can meet a
  // key twice, so the entries themselves (counted once each).
  return XG_TRY(dump_map(fd)).count;
}

// ---- MappedArray ----------------------------------------------------------

Result<MappedArray> MappedArray::map(const MapFd& fd, bool writable) {
  const bpf_map_info& info = fd.info();
  if (info.type != BPF_MAP_TYPE_ARRAY || !(info.map_flags & BPF_F_MMAPABLE))
    return fail(EINVAL, "map {} is not an mmapable array", info.name);
  const std::size_t stride = (std::size_t{info.value_size} + 7) & ~std::size_t{7};
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t len = (stride * info.max_entries + page - 1) / page * page;
  void* p = ::mmap(nullptr, len, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd.fd(), 0);
  if (p == MAP_FAILED) return fail_errno(errno, fmt::format("mmap map {}", info.name));
  MappedArray m;
  m.data_ = static_cast<std::uint8_t*>(p);
  m.len_ = len;
  m.value_size_ = stride;
  m.entries_ = info.max_entries;
  return m;
}

MappedArray& MappedArray::operator=(MappedArray&& o) noexcept {
  if (this != &o) {
    if (data_) ::munmap(data_, len_);
    data_ = std::exchange(o.data_, nullptr);
    len_ = std::exchange(o.len_, 0);
    value_size_ = o.value_size_;
    entries_ = std::exchange(o.entries_, 0);
  }
  return *this;
}

MappedArray::~MappedArray() {
  if (data_) ::munmap(data_, len_);
}

Result<void> MappedArray::remap_read_only(const MapFd& map) {
  if (!data_) return {};
  // MAP_FIXED replaces the writable mapping in one step: the kernel counts
  // it gone (a map is frozen only without one), the address stays valid.
  void* p = ::mmap(data_, len_, PROT_READ, MAP_SHARED | MAP_FIXED, map.fd(), 0);
  if (p == MAP_FAILED) return fail_errno(errno, fmt::format("mmap map {} read only", map.info().name));
  return {};
}

std::uint8_t* MappedArray::value(std::uint32_t i) const {
  if (!data_ || i >= entries_) return nullptr;
  return data_ + std::size_t{i} * value_size_;
}

}  // namespace xdpguard
