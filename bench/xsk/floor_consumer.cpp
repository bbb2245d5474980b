// The floor of xsk_bench's AF_XDP rows (bench_consumer.h): a consumer
// written directly on libxdp's rings, without src/lib/xsk: one UMEM, one
// socket on queue 0 in xdpguard's XSKMAP, the RX ring read and the fill
// ring refilled with the same addresses, nothing else. It reads as the
// tuned row does (batches of 256, each batch's frame data prefetched, a
// 1 ms nap after a batch that emptied the ring, poll when idle) and does
// the same work per frame (fold), so its CPU time per frame is what any
// consumer of a copy-mode socket pays here, library or not.
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <thread>
#include <vector>

#include <xdp/xsk.h>

#include "bench_consumer.h"
#include "guard/guard.h"
#include "xsk/socket.h"

namespace xdpguard::bench {
namespace {

constexpr std::uint32_t kRing = 32768;  // fill and RX rings, as the tuned row
constexpr std::uint32_t kFrameSize = 2048;
constexpr std::uint32_t kFrames = 2 * kRing;
constexpr std::uint32_t kBatch = 256;

class FloorConsumer : public Consumer {
 public:
  explicit FloorConsumer(Guard& g) : guard_(g) {}
  FloorConsumer(const FloorConsumer&) = delete;
  FloorConsumer& operator=(const FloorConsumer&) = delete;
  ~FloorConsumer() override {
    if (xsk_) {
      (void)guard_.remove_xsk(0);
      xsk_socket__delete(xsk_);
    }
    if (umem_) (void)xsk_umem__delete(umem_);
    if (area_ != MAP_FAILED) ::munmap(area_, std::size_t{kFrames} * kFrameSize);
  }

  Result<void> open(const Interface& i) {
    if (const auto queues = XG_TRY(xsk::rx_queue_count(i.name)); queues != 1)
      return fail(EINVAL, "the floor consumer reads one queue; {} has {}", i.name, queues);
    const std::size_t size = std::size_t{kFrames} * kFrameSize;
    area_ = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area_ == MAP_FAILED) return fail_errno(errno, "mmap the UMEM");
    xsk_umem_config uc{};
    uc.fill_size = kRing;
    uc.comp_size = XSK_RING_CONS__DEFAULT_NUM_DESCS;
    uc.frame_size = kFrameSize;
    uc.frame_headroom = 0;
    if (int err = xsk_umem__create(&umem_, area_, size, &fill_, &comp_, &uc))
      return fail_errno(-err, "xsk_umem__create");
    xsk_socket_config sc{};
    sc.rx_size = kRing;
    sc.tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS;
    sc.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
    sc.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP;
    if (int err = xsk_socket__create(&xsk_, i.name.c_str(), 0, umem_, &rx_, &tx_, &sc))
      return fail_errno(-err, "xsk_socket__create on " + i.name + " queue 0");
    fd_ = xsk_socket__fd(xsk_);
    // The fill ring full: frames 0 .. kRing-1; the others wait in `spare_`.
    __u32 idx = 0;
    if (xsk_ring_prod__reserve(&fill_, kRing, &idx) != kRing) return fail(EIO, "fill ring reserve");
    for (std::uint32_t k = 0; k < kRing; ++k)
      *xsk_ring_prod__fill_addr(&fill_, idx + k) = std::uint64_t{k} * kFrameSize;
    xsk_ring_prod__submit(&fill_, kRing);
    XG_CHECK(guard_.add_xsk(0, fd_));
    return {};
  }

  Session consume(const std::atomic<bool>& stop, Clock::time_point deadline) override {
    Session s;
    std::vector<std::uint64_t> addrs(kBatch);
    const double cpu0 = thread_cpu_s();
    auto* area = static_cast<const std::uint8_t*>(area_);
    for (;;) {
      __u32 idx = 0;
      const std::uint32_t n = xsk_ring_cons__peek(&rx_, kBatch, &idx);
      if (n) {
        std::uint32_t lens[kBatch];
        for (std::uint32_t k = 0; k < n; ++k) {
          const xdp_desc* d = xsk_ring_cons__rx_desc(&rx_, idx + k);
          addrs[k] = d->addr;
          lens[k] = d->len;
          __builtin_prefetch(area + d->addr);
        }
        xsk_ring_cons__release(&rx_, n);
        for (std::uint32_t k = 0; k < n; ++k) s.sum += fold(area + addrs[k], lens[k]);
        // The same frames back to the fill ring (it has room: it holds at
        // most kRing and n just left it).
        __u32 f = 0;
        while (xsk_ring_prod__reserve(&fill_, n, &f) != n) {
        }
        for (std::uint32_t k = 0; k < n; ++k)
          *xsk_ring_prod__fill_addr(&fill_, f + k) = addrs[k] - addrs[k] % kFrameSize;
        xsk_ring_prod__submit(&fill_, n);
        if (xsk_ring_prod__needs_wakeup(&fill_)) {
          ++wakeups_;
          (void)::recvfrom(fd_, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
        }
        s.frames += n;
        if (n == kBatch) continue;
        ++s.sleeps;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      if (stop.load(std::memory_order_relaxed) || Clock::now() > deadline) break;
      ++s.sleeps;
      pollfd p{fd_, POLLIN, 0};
      (void)::poll(&p, 1, 10);
    }
    s.cpu_s = thread_cpu_s() - cpu0;
    return s;
  }

  Result<Count> count() override {
    Count c;
    c.seen = XG_TRY(guard_.stats()).xsk[XDPGUARD_XSK_REDIRECTED].packets;
    xdp_statistics st{};
    socklen_t len = sizeof st;
    if (getsockopt(fd_, SOL_XDP, XDP_STATISTICS, &st, &len) != 0) return fail_errno(errno, "XDP_STATISTICS");
    c.ring_full = st.rx_ring_full;
    c.fill_empty = st.rx_fill_ring_empty_descs;
    c.rx_dropped = st.rx_dropped;
    c.wakeups = wakeups_;
    c.dropped = c.ring_full + c.rx_dropped;  // as XskConsumer counts them
    return c;
  }

 private:
  Guard& guard_;
  void* area_ = MAP_FAILED;
  xsk_umem* umem_ = nullptr;
  xsk_socket* xsk_ = nullptr;
  xsk_ring_prod fill_{}, tx_{};
  xsk_ring_cons comp_{}, rx_{};
  int fd_ = -1;
  std::uint64_t wakeups_ = 0;
};

}  // namespace

Result<std::unique_ptr<Consumer>> open_floor_xsk(Guard& guard, const Interface& iface) {
  auto c = std::make_unique<FloorConsumer>(guard);
  XG_CHECK(c->open(iface));
  return std::unique_ptr<Consumer>(std::move(c));
}

}  // namespace xdpguard::bench
