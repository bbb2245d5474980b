// xsk/ring.h: the ring counters' arithmetic (across the u32 wrap) on libxdp's
// own ring structs, with this test playing the kernel's side; and the frame
// pool (take/put, full/empty, batches larger than what is there, double
// puts refused).
#include <gtest/gtest.h>

#include <xdp/xsk.h>

#include <array>
#include <cstdint>
#include <set>
#include <vector>

#include "xsk/ring.h"
#include "xsk/socket.h"

namespace xdpguard::xsk {
namespace {

constexpr std::uint32_t kSize = 8;

// One ring's shared part (the counters and slots the kernel maps) and the
// user side's view of it, initialised as libxdp does after mmap.
struct SharedRing {
  std::uint32_t producer = 0;
  std::uint32_t consumer = 0;
  std::uint32_t flags = 0;
  std::array<std::uint64_t, kSize> slots{};

  explicit SharedRing(std::uint32_t start) : producer(start), consumer(start) {}
  // The user side produces (fill, TX): cached_cons is consumer + size.
  xsk_ring_prod producer_view() {
    xsk_ring_prod r{};
    r.mask = kSize - 1;
    r.size = kSize;
    r.producer = &producer;
    r.consumer = &consumer;
    r.flags = &flags;
    r.ring = slots.data();
    r.cached_prod = producer;
    r.cached_cons = consumer + kSize;
    return r;
  }
  // The user side consumes (RX, completion).
  xsk_ring_cons consumer_view() {
    xsk_ring_cons r{};
    r.mask = kSize - 1;
    r.size = kSize;
    r.producer = &producer;
    r.consumer = &consumer;
    r.flags = &flags;
    r.ring = slots.data();
    r.cached_prod = producer;
    r.cached_cons = consumer;
    return r;
  }
  // The kernel's side.
  void kernel_consume(std::uint32_t n) { consumer += n; }
  void kernel_produce(std::uint64_t value) {
    slots[ring_slot(producer, kSize)] = value;
    ++producer;
  }
};

TEST(XskRing, CountersAcrossTheWrap) {
  EXPECT_EQ(ring_used(3, 0xfffffffdU), 6U);  // producer wrapped, consumer not yet
  EXPECT_EQ(ring_free(3, 0xfffffffdU, 8), 2U);
  EXPECT_EQ(ring_used(0, 0), 0U);
  EXPECT_EQ(ring_free(0x80000000U, 0x7ffffff8U, 8), 0U);
  EXPECT_EQ(ring_slot(0xffffffffU, 8), 7U);
  EXPECT_EQ(ring_slot(0xffffffffU + 1U, 8), 0U);
  EXPECT_TRUE(ring_size_ok(2048));
  EXPECT_FALSE(ring_size_ok(0));
  EXPECT_FALSE(ring_size_ok(1000));
}

// A producer that starts 5 below 2^32 fills, is drained, and fills again
// many times: every value reaches the kernel once, in order, in the slot its
// counter names, and the producer never overwrites an unconsumed slot.
TEST(XskRing, ProducerReservesWhatIsFreeAcrossTheWrap) {
  SharedRing shared(0xfffffffbU);
  xsk_ring_prod r = shared.producer_view();
  std::uint64_t next = 100;
  std::uint64_t expect = 100;
  for (int round = 0; round < 50; ++round) {
    // Ask for more than the ring holds: get what is free, never more.
    std::uint32_t idx = 0;
    const std::uint32_t free_before = ring_free(shared.producer, shared.consumer, kSize);
    const std::uint32_t n = prod_reserve(r, kSize + 3, &idx);
    ASSERT_EQ(n, free_before);
    ASSERT_EQ(idx, shared.producer);
    for (std::uint32_t i = 0; i < n; ++i) *xsk_ring_prod__fill_addr(&r, idx + i) = next++;
    prod_submit(r, n);
    ASSERT_EQ(ring_used(shared.producer, shared.consumer), kSize);  // full now
    std::uint32_t none = 0;
    EXPECT_EQ(prod_reserve(r, 1, &none), 0U) << "a full ring has no room";
    // The kernel takes an uneven number, in order.
    const std::uint32_t take = 1 + round % kSize;
    for (std::uint32_t i = 0; i < take; ++i)
      ASSERT_EQ(shared.slots[ring_slot(shared.consumer + i, kSize)], expect++);
    shared.kernel_consume(take);
  }
  EXPECT_LT(shared.producer, 0x1000U) << "the counters wrapped";
  EXPECT_EQ(prod_free(r), ring_free(shared.producer, shared.consumer, kSize));
}

TEST(XskRing, ConsumerPeeksWhatIsThereAcrossTheWrap) {
  SharedRing shared(0xfffffffeU);
  xsk_ring_cons r = shared.consumer_view();
  std::uint32_t idx = 0;
  EXPECT_EQ(cons_peek(r, 4, &idx), 0U) << "an empty ring gives nothing";
  std::uint64_t produced = 0;
  std::uint64_t seen = 0;
  for (int round = 0; round < 40; ++round) {
    const std::uint32_t add = 1 + round % kSize;
    for (std::uint32_t i = 0; i < add && ring_used(shared.producer, shared.consumer) < kSize; ++i)
      shared.kernel_produce(produced++);
    // Batches of 3: more than there is at times, less at others.
    while (true) {
      const std::uint32_t n = cons_peek(r, 3, &idx);
      if (n == 0) break;
      ASSERT_LE(n, 3U);
      for (std::uint32_t i = 0; i < n; ++i) ASSERT_EQ(*xsk_ring_cons__comp_addr(&r, idx + i), seen++);
      cons_release(r, n);
    }
    ASSERT_EQ(seen, produced);
    ASSERT_EQ(shared.consumer, shared.producer);
  }
  EXPECT_LT(shared.consumer, 0x1000U) << "the counters wrapped";
}

TEST(XskFramePool, TakesAndPutsWithinItsCapacity) {
  FramePool pool(16, 4096);
  EXPECT_TRUE(pool.full());
  EXPECT_EQ(pool.capacity(), 16U);
  std::vector<std::uint64_t> out(10);
  EXPECT_EQ(pool.take(out), 10U);
  EXPECT_EQ(out[0], 0U) << "the lowest frames first";
  EXPECT_EQ(out[1], 4096U);
  EXPECT_EQ(pool.available(), 6U);
  // More than there is: what there is, counted as short.
  std::vector<std::uint64_t> more(10);
  EXPECT_EQ(pool.take(more), 6U);
  EXPECT_TRUE(pool.empty());
  EXPECT_EQ(pool.counters().short_takes, 1U);
  EXPECT_EQ(pool.take(more), 0U);
  // Every frame once, all distinct and aligned.
  std::set<std::uint64_t> all(out.begin(), out.end());
  all.insert(more.begin(), more.begin() + 6);
  EXPECT_EQ(all.size(), 16U);
  for (const auto a : all) EXPECT_EQ(a % 4096, 0U);
  // Back, by any address inside the frame (an RX address is past the headroom).
  EXPECT_EQ(pool.put(std::span<const std::uint64_t>(out)), 10U);
  EXPECT_TRUE(pool.put(more[0] + 256));
  EXPECT_EQ(pool.available(), 11U);
  std::uint64_t one = 0;
  EXPECT_EQ(pool.take(std::span(&one, 1)), 1U);
  EXPECT_EQ(one, more[0]) << "the last put is the next taken, as its base address";
}

TEST(XskFramePool, RefusesDoublePutsAndForeignAddresses) {
  FramePool pool(4, 2048);
  std::array<std::uint64_t, 4> out{};
  ASSERT_EQ(pool.take(out), 4U);
  EXPECT_TRUE(pool.put(out[2]));
  EXPECT_FALSE(pool.put(out[2])) << "already free";
  EXPECT_FALSE(pool.put(out[2] + 100)) << "the same frame by another address";
  EXPECT_FALSE(pool.put(4 * 2048)) << "past the UMEM";
  EXPECT_EQ(pool.counters().double_puts, 2U);
  EXPECT_EQ(pool.counters().invalid_puts, 1U);
  EXPECT_EQ(pool.available(), 1U);
  // The pool can never hold more than its capacity.
  const std::array<std::uint64_t, 6> again{out[0], out[1], out[2], out[3], out[0], out[1]};
  EXPECT_EQ(pool.put(again), 3U);
  EXPECT_TRUE(pool.full());
}

// Many cycles of uneven batches keep every frame accounted for.
TEST(XskFramePool, ManyCyclesLoseNoFrame) {
  FramePool pool(64, 4096);
  std::vector<std::uint64_t> held;
  std::vector<std::uint64_t> batch(100);
  for (int i = 0; i < 1000; ++i) {
    const std::size_t want = 1 + (i * 7) % 100;
    const std::size_t n = pool.take(std::span(batch).first(want));
    held.insert(held.end(), batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(n));
    const std::size_t back = held.size() / 2 + (i % 3);
    const std::size_t k = std::min(back, held.size());
    ASSERT_EQ(pool.put(std::span<const std::uint64_t>(held).last(k)), k);
    held.resize(held.size() - k);
    ASSERT_EQ(pool.available() + held.size(), 64U);
  }
  EXPECT_EQ(pool.counters().double_puts, 0U);
}

TEST(XskUmem, MaxMtuLeavesRoomForTheHeadroomAndATaggedEthernetHeader) {
  EXPECT_EQ(max_mtu(4096), 4096U - 256 - 18);
  EXPECT_EQ(max_mtu(2048, 256), 2048U - 512 - 18);
  EXPECT_EQ(max_mtu(256), 0U);
}

}  // namespace
}  // namespace xdpguard::xsk
