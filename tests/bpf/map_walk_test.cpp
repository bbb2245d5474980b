// Map walks (bpf/map.h) while another thread churns the map, as a
// random-source flood churns the LRU maps that top talkers, the block list
// and the bucket count read: every walk ends, returns at most max_entries
// entries and no key twice. (A get_next_key walk goes back to the first key
// whenever its current key is deleted or evicted: duplicates, and no bound.)
// On a quiet map the walk returns exactly what is in it.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>

#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "bpf/map.h"
#include "support/privileged.h"

namespace xdpguard::test {
namespace {

struct Key {
  std::uint32_t a = 0, b = 0;  // 8 bytes, as the kernel compares them
  bool operator<(const Key& o) const { return a != o.a ? a < o.a : b < o.b; }
  bool operator==(const Key& o) const { return a == o.a && b == o.b; }
};
struct Value {
  std::uint64_t packets = 0, bytes = 0;
};

MapFd make(bpf_map_type type, std::uint32_t max) {
  int fd = bpf_map_create(type, "xg_walk_test", sizeof(Key), sizeof(Value), max, nullptr);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  auto m = MapFd::adopt(fd);
  EXPECT_TRUE(m) << m.error().message();
  return m ? std::move(*m) : MapFd{};
}

MapFd dup_of(int fd) {
  auto m = MapFd::adopt(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  EXPECT_TRUE(m) << m.error().message();
  return m ? std::move(*m) : MapFd{};
}

bool per_cpu(bpf_map_type t) { return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH; }

// Inserts and deletes random keys until told to stop: what a flood of
// random sources does to an LRU map (and a host's own clean-up does to a
// hash map).
class Churn {
 public:
  Churn(int fd, bpf_map_type type) : fd_(fd), type_(type), t_([this] { run(); }) {}
  ~Churn() {
    stop_ = true;
    t_.join();
  }
  std::uint64_t ops() const { return ops_; }

 private:
  void run() {
    std::mt19937 rng(1234);
    std::vector<Value> v(per_cpu(type_) ? static_cast<std::size_t>(possible_cpus()) : 1, Value{1, 64});
    std::vector<Key> recent(512);
    std::size_t at = 0;
    while (!stop_) {
      Key k{static_cast<std::uint32_t>(rng() & 0xfffff), 7};
      (void)bpf_map_update_elem(fd_, &k, v.data(), BPF_ANY);  // E2BIG when a plain hash map is full
      recent[at++ % recent.size()] = k;
      // Delete one of the recent keys (most walks stand on one of them).
      Key d = recent[static_cast<std::size_t>(rng()) % recent.size()];
      (void)bpf_map_delete_elem(fd_, &d);
      ++ops_;
    }
  }
  int fd_;
  bpf_map_type type_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> ops_{0};
  std::thread t_;
};

class MapWalkTest : public ::testing::TestWithParam<bpf_map_type> {
 protected:
  void SetUp() override { XG_REQUIRE_PRIVILEGES(); }
};

template <class Walk>
void expect_bounded_unique(const char* what, std::uint32_t max, Walk&& walk) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Key> keys = walk();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LE(keys.size(), max) << what;
  std::set<Key> unique(keys.begin(), keys.end());
  EXPECT_EQ(unique.size(), keys.size()) << what << ": " << keys.size() - unique.size() << " keys twice";
  EXPECT_LT(took, std::chrono::seconds(5)) << what;
}

TEST_P(MapWalkTest, WalksUnderChurnEndBoundedWithEachKeyOnce) {
  constexpr std::uint32_t kMax = 4096;
  const bpf_map_type type = GetParam();
  auto m = make(type, kMax);
  ASSERT_TRUE(m.fd() >= 0);
  {
    // Full before the walks start.
    std::vector<Value> v(per_cpu(type) ? static_cast<std::size_t>(possible_cpus()) : 1, Value{1, 64});
    for (std::uint32_t i = 0; i < kMax; ++i) {
      Key k{i, 7};
      (void)bpf_map_update_elem(m.fd(), &k, v.data(), BPF_ANY);
    }
  }
  Churn churn(m.fd(), type);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int walks = 0;
  for (; walks < 40 && std::chrono::steady_clock::now() < deadline; ++walks) {
    if (per_cpu(type)) {
      auto pm = PerCpuMap<Key, Value>::wrap(dup_of(m.fd()));
      ASSERT_TRUE(pm) << pm.error().message();
      expect_bounded_unique("PerCpuMap::entries", kMax, [&] {
        std::vector<Key> keys;
        auto e = pm->entries();
        EXPECT_TRUE(e) << e.error().message();
        if (e)
          for (const auto& [k, vals] : *e) keys.push_back(k);
        return keys;
      });
    } else {
      auto mm = Map<Key, Value>::wrap(dup_of(m.fd()));
      ASSERT_TRUE(mm) << mm.error().message();
      expect_bounded_unique("Map::keys", kMax, [&] {
        auto k = mm->keys();
        EXPECT_TRUE(k) << k.error().message();
        return k ? *k : std::vector<Key>{};
      });
    }
    auto n = count_map_entries(m.fd());
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_LE(*n, kMax);
  }
  EXPECT_GT(churn.ops(), 1000u) << "the map did not churn";
  EXPECT_GE(walks, 5);
}

TEST_P(MapWalkTest, AQuietMapIsReadExactly) {
  constexpr std::uint32_t kMax = 5000, kKeys = 3000;
  const bpf_map_type type = GetParam();
  auto m = make(type, kMax);
  ASSERT_TRUE(m.fd() >= 0);
  const std::size_t ncpu = static_cast<std::size_t>(possible_cpus());
  std::set<Key> want;
  for (std::uint32_t i = 0; i < kKeys; ++i) {
    Key k{i * 7919u, i};
    std::vector<Value> v(per_cpu(type) ? ncpu : 1);
    for (std::size_t c = 0; c < v.size(); ++c) v[c] = {i, c};
    ASSERT_EQ(bpf_map_update_elem(m.fd(), &k, v.data(), BPF_ANY), 0) << std::strerror(errno);
    want.insert(k);
  }
  auto n = count_map_entries(m.fd());
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, kKeys);
  auto d = dump_map(m.fd());
  ASSERT_TRUE(d) << d.error().message();
  ASSERT_EQ(d->count, kKeys);
  std::set<Key> got;
  for (std::size_t i = 0; i < d->count; ++i) {
    Key k;
    std::memcpy(&k, d->key(i), sizeof k);
    got.insert(k);
    // The values are this key's (for a per-CPU map: every CPU's, in order).
    for (std::size_t c = 0; c < (per_cpu(type) ? ncpu : 1); ++c) {
      Value v;
      std::memcpy(&v, d->value(i) + c * sizeof(Value), sizeof v);
      EXPECT_EQ(v.packets, k.b);
      EXPECT_EQ(v.bytes, c);
    }
  }
  EXPECT_EQ(got, want);
}

INSTANTIATE_TEST_SUITE_P(Types, MapWalkTest,
                         ::testing::Values(BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_PERCPU_HASH,
                                           BPF_MAP_TYPE_LRU_PERCPU_HASH),
                         [](const ::testing::TestParamInfo<bpf_map_type>& i) {
                           switch (i.param) {
                             case BPF_MAP_TYPE_HASH: return std::string("Hash");
                             case BPF_MAP_TYPE_LRU_HASH: return std::string("LruHash");
                             case BPF_MAP_TYPE_PERCPU_HASH: return std::string("PercpuHash");
                             default: return std::string("LruPercpuHash");
                           }
                         });

}  // namespace
}  // namespace xdpguard::test
