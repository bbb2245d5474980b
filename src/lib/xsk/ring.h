// The bookkeeping of AF_XDP that needs no kernel, unit-tested on its own
// (tests/unit/xsk_ring_test.cpp): the index arithmetic of the four rings and
// the pool of free UMEM frames. socket.h uses both on the rings libxdp maps.
//
// Rings: each of an AF_XDP socket's rings (fill, completion, RX, TX) has 2^k
// slots shared with the kernel, and two free-running u32 counters, producer
// and consumer, that wrap at 2^32 and are never reduced modulo the size:
// counter i lives in slot i & (size - 1), and the ring holds
// producer - consumer entries (mod 2^32), right across the wrap as long as
// that never exceeds the size. A side keeps cached copies of both counters
// (libxdp's xsk_ring_prod / xsk_ring_cons: a producer's cached_cons is the
// consumer counter plus the size, so that its free count is one
// subtraction) and reads the other side's counter from shared memory only
// when the cached view cannot satisfy a request. The functions below are
// templates over that layout, so the tests run them on plain counters.
//
// FramePool: the free UMEM frames, as base addresses (frame index * frame
// size). Fixed capacity: it allocates in its constructor only, never on
// take() or put(). A frame put back twice, or an address outside the UMEM,
// is refused and counted, so the pool never hands one frame out twice (two
// owners writing one buffer). Not thread-safe: one pool per thread.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace xdpguard::xsk {

constexpr bool ring_size_ok(std::uint32_t size) { return size != 0 && (size & (size - 1)) == 0; }
// Entries between consumer and producer (both free-running).
constexpr std::uint32_t ring_used(std::uint32_t producer, std::uint32_t consumer) {
  return producer - consumer;
}
constexpr std::uint32_t ring_free(std::uint32_t producer, std::uint32_t consumer, std::uint32_t size) {
  return size - ring_used(producer, consumer);
}
constexpr std::uint32_t ring_slot(std::uint32_t counter, std::uint32_t size) { return counter & (size - 1); }

// Producer side (fill, TX): reserves up to `want` slots, the first at
// counter *idx (write slot ring_slot(*idx + i)), and returns how many, 0 when
// the ring is full. Unlike libxdp's all-or-nothing xsk_ring_prod__reserve,
// takes what there is room for. submit() publishes n reserved slots to the
// kernel.
// Free slots now (refreshing the cached consumer counter).
template <class Ring>
std::uint32_t prod_free(Ring& r) {
  r.cached_cons = __atomic_load_n(r.consumer, __ATOMIC_ACQUIRE) + r.size;
  return r.cached_cons - r.cached_prod;
}
template <class Ring>
std::uint32_t prod_reserve(Ring& r, std::uint32_t want, std::uint32_t* idx) {
  std::uint32_t room = r.cached_cons - r.cached_prod;
  if (room < want) {
    r.cached_cons = __atomic_load_n(r.consumer, __ATOMIC_ACQUIRE) + r.size;
    room = r.cached_cons - r.cached_prod;
  }
  const std::uint32_t n = std::min(want, room);
  *idx = r.cached_prod;
  r.cached_prod += n;
  return n;
}
template <class Ring>
void prod_submit(Ring& r, std::uint32_t n) {
  // Release: the slots' contents are visible before the counter that hands them over.
  __atomic_store_n(r.producer, *r.producer + n, __ATOMIC_RELEASE);
}

// Consumer side (RX, completion): up to `want` entries, the first at counter
// *idx; 0 when the ring is empty. release() gives n read slots back.
template <class Ring>
std::uint32_t cons_peek(Ring& r, std::uint32_t want, std::uint32_t* idx) {
  std::uint32_t avail = r.cached_prod - r.cached_cons;
  if (avail < want) {
    r.cached_prod = __atomic_load_n(r.producer, __ATOMIC_ACQUIRE);
    avail = r.cached_prod - r.cached_cons;
  }
  const std::uint32_t n = std::min(want, avail);
  *idx = r.cached_cons;
  r.cached_cons += n;
  return n;
}
template <class Ring>
void cons_release(Ring& r, std::uint32_t n) {
  // Release: the slots are read before the kernel may overwrite them.
  __atomic_store_n(r.consumer, *r.consumer + n, __ATOMIC_RELEASE);
}

class FramePool {
 public:
  struct Counters {
    std::uint64_t double_puts = 0;   // frames put back while already free (refused)
    std::uint64_t invalid_puts = 0;  // addresses outside the UMEM (refused)
    std::uint64_t short_takes = 0;   // take()s that got fewer frames than asked
  };

  // frame_count frames of frame_size bytes (a power of two), all free.
  FramePool(std::uint32_t frame_count, std::uint32_t frame_size)
      : free_(frame_count),
        is_free_(frame_count, 1),
        frame_size_(frame_size),
        shift_(static_cast<std::uint32_t>(std::countr_zero(frame_size))),
        top_(frame_count) {
    // Frame 0 on top: the first takes are the lowest addresses.
    for (std::uint32_t i = 0; i < frame_count; ++i)
      free_[i] = std::uint64_t{frame_count - 1 - i} * frame_size;
  }

  std::uint32_t capacity() const { return static_cast<std::uint32_t>(free_.size()); }
  std::uint32_t available() const { return top_; }
  bool empty() const { return top_ == 0; }
  bool full() const { return top_ == free_.size(); }
  std::uint32_t frame_size() const { return frame_size_; }
  // Base address of the frame holding addr (an RX address points past the headroom).
  std::uint64_t frame_of(std::uint64_t addr) const { return addr & ~std::uint64_t{frame_size_ - 1}; }
  const Counters& counters() const { return counters_; }

  // Moves up to out.size() free frames (base addresses) into out, the most
  // recently put first (still warm in cache); returns how many.
  std::size_t take(std::span<std::uint64_t> out) {
    const std::size_t n = std::min<std::size_t>(out.size(), top_);
    if (n < out.size()) ++counters_.short_takes;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t a = free_[--top_];
      is_free_[a >> shift_] = 0;
      out[i] = a;
    }
    return n;
  }
  // Gives one frame back (any address inside it names it); false when
  // refused (already free, or outside the UMEM), which is counted.
  bool put(std::uint64_t addr) {
    const std::uint64_t index = addr >> shift_;
    if (index >= free_.size()) {
      ++counters_.invalid_puts;
      return false;
    }
    if (is_free_[index] != 0) {
      ++counters_.double_puts;
      return false;
    }
    is_free_[index] = 1;
    free_[top_++] = index << shift_;
    return true;
  }
  // Gives frames back; returns how many were taken (see put()).
  std::size_t put(std::span<const std::uint64_t> addrs) {
    std::size_t n = 0;
    for (const std::uint64_t a : addrs) n += put(a) ? 1 : 0;
    return n;
  }

 private:
  std::vector<std::uint64_t> free_;    // [0, top_): the free frames' base addresses
  std::vector<std::uint8_t> is_free_;  // per frame index: 1 while in free_
  std::uint32_t frame_size_;
  std::uint32_t shift_;  // log2(frame_size_): a shift, not a division, per frame
  std::uint32_t top_;
  Counters counters_;
};

}  // namespace xdpguard::xsk
