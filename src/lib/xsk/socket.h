// AF_XDP sockets over libxdp's xsk API: frames that an XDP program redirects
// into an XSKMAP (bpf_redirect_map(&map, ctx->rx_queue_index, ...)) arrive in
// user space without the kernel's stack, and frames sent here leave through
// the interface. This module never loads or attaches an XDP program and
// never touches libxdp's own xsks_map (XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD):
// the caller puts Socket::fd() into its own program's XSKMAP.
//
// Umem: sole owner of the packet buffer area (an anonymous mmap, no
// hugepages needed) registered with the kernel as a UMEM, cut into
// frame_count frames of frame_size bytes, and of the pool of its free frames
// (ring.h). Socket: sole owner of one AF_XDP socket bound to (interface,
// RX queue) with its four rings: fill (free frames given to the kernel for
// RX), RX, TX and completion (frames the kernel is done sending). Every
// socket of one Umem shares its frames: sockets on several queues and
// interfaces (each (interface, queue) has its own fill and completion rings,
// xsk_socket__create_shared) can receive a frame on one and send it on
// another without a copy.
//
// Frame life cycle, no allocation per frame anywhere:
//   pool --refill--> fill ring --kernel RX--> recv() --> caller
//   caller --release()--> pool
//   caller --send()--> TX ring --kernel TX--> completion ring --complete()--> pool
// Frames come out of the pool through a socket's fill ring (topped up by
// recv(), release(), refill() and wait()) or Umem::alloc() (to build a frame
// to send). A full fill or TX ring or an empty pool is counted
// (SocketCounters) and never blocks, spins or fails.
//
// Lifetime: a Socket shares the ownership of its Umem's state, so either can
// be destroyed first. The first socket bound to a Umem is the UMEM's own
// socket (the kernel ties the UMEM to it); it stays bound, and in any XSKMAP
// it was put in, until the Umem and all its sockets are gone, even if its
// Socket object is destroyed earlier. Frames in a socket's rings when it is
// destroyed do not come back to the pool. The copy or zero-copy mode and
// need_wakeup are chosen by the first socket; the others inherit them
// (a kernel rule for shared UMEMs).
//
// Threads: a Umem and all its sockets belong to one thread at a time (the
// pool and the rings have one producer and one consumer); use one Umem per
// thread to spread work.
//
// Failure: Umem::create() and Socket::create() return one-line errors naming
// what and where: AF_XDP not supported by the kernel, no such interface, a
// queue the interface does not have, a queue that already has an AF_XDP
// socket, an MTU larger than a frame can carry. The hot-path calls (recv,
// send, release, complete, refill) cannot fail; wait() fails only when
// poll() does.
//
// Unprivileged consumers: creating AF_XDP sockets needs CAP_NET_RAW, but a
// process holding the fds needs nothing. A privileged process can create the
// Umem and sockets and pass the fds over a Unix socket (SCM_RIGHTS): the
// UMEM socket's and each socket's fd, and the buffer area's, which must then
// be a memfd mapped MAP_SHARED (the UMEM is registered by address in the
// registering process, so the consumer needs the same pages; this module's
// anonymous mapping is private). The consumer maps the rings from the fds
// (getsockopt(SOL_XDP, XDP_MMAP_OFFSETS), mmap at XDP_PGOFF_RX_RING /
// XDP_PGOFF_TX_RING / XDP_UMEM_PGOFF_FILL_RING / XDP_UMEM_PGOFF_COMPLETION_RING).
// Or, with libxdp >= 1.4 (Debian 12 has 1.3, which lacks it): the
// privileged side passes unbound socket(AF_XDP) fds, the consumer registers
// its own memory on them with xsk_umem__create_with_fd() and binds, and the
// privileged side puts its copies of the fds in the XSKMAP. Neither is built
// here.
#pragma once

#include <linux/if_xdp.h>
#include <xdp/xsk.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/result.h"
#include "xsk/ring.h"

namespace xdpguard::xsk {

// The headroom the kernel keeps before a received frame's data (XDP_PACKET_HEADROOM).
inline constexpr std::uint32_t kXdpHeadroom = 256;

// One frame: its data's address in the UMEM (an offset from the area's
// start) and length. Plain value; who may touch the bytes is the caller's
// bookkeeping (see the life cycle above).
struct Frame {
  std::uint64_t addr = 0;
  std::uint32_t len = 0;
};

struct UmemConfig {
  std::uint32_t frame_size = XSK_UMEM__DEFAULT_FRAME_SIZE;  // a power of two, 2048 .. page size
  std::uint32_t frame_count = 4096;
  // Sizes (powers of two) of the fill and completion rings of each
  // (interface, queue). Enough frames for them all, plus those in RX and TX
  // rings and in the caller's hands, keep the fill rings topped up.
  std::uint32_t fill_size = XSK_RING_PROD__DEFAULT_NUM_DESCS;
  std::uint32_t comp_size = XSK_RING_CONS__DEFAULT_NUM_DESCS;
  std::uint32_t frame_headroom = 0;  // bytes before each frame's XDP headroom
};

enum class Mode { Auto, Copy, ZeroCopy };
const char* mode_name(Mode m);  // "auto", "copy", "zero-copy"

struct SocketConfig {
  std::uint32_t rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS;  // powers of two
  std::uint32_t tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS;
  // Auto: zero-copy where the driver has it, else copy. Only the Umem's
  // first socket chooses; a later one must ask for Auto or the same mode.
  Mode mode = Mode::Auto;
  // XDP_USE_NEED_WAKEUP: the kernel says when it needs a system call to go
  // on (the fill ring ran dry, the TX ring has frames), instead of being
  // kicked always. The first socket chooses, as for the mode.
  bool need_wakeup = true;
};

// What this side saw (not the kernel's: see XdpStatistics).
struct SocketCounters {
  std::uint64_t rx_frames = 0;
  std::uint64_t tx_frames = 0;     // accepted by send()
  std::uint64_t tx_completed = 0;  // reaped from the completion ring
  std::uint64_t tx_ring_full = 0;  // frames send() refused for want of TX ring room
  std::uint64_t fill_ring_full =
      0;                         // release()s whose frames found the fill ring full (they wait in the pool)
  std::uint64_t pool_empty = 0;  // refills that could not fill the fill ring: too few free frames
  std::uint64_t rx_wakeups = 0;  // recvfrom() kicks (fill ring needed wakeup)
  std::uint64_t tx_wakeups = 0;  // sendto() kicks
  std::uint64_t wakeup_errors = 0;  // kicks the kernel refused (EAGAIN, ENOBUFS, ENETDOWN, ...)
};

// getsockopt(SOL_XDP, XDP_STATISTICS): the kernel's drops for this socket.
// Fields a kernel does not report stay 0.
struct XdpStatistics {
  std::uint64_t rx_dropped = 0;                // dropped for other reasons (e.g. frame too small)
  std::uint64_t rx_invalid_descs = 0;          // bad descriptors in the fill ring
  std::uint64_t tx_invalid_descs = 0;          // bad descriptors in the TX ring
  std::uint64_t rx_ring_full = 0;              // RX ring full: frames dropped
  std::uint64_t rx_fill_ring_empty_descs = 0;  // fill ring empty when a frame came
  std::uint64_t tx_ring_empty_descs = 0;       // TX ring empty when the kernel looked
};

namespace detail {
struct UmemState;
struct SocketState;
}  // namespace detail

class Umem {
 public:
  // Maps frame_count * frame_size bytes and registers them. Fails with
  // "AF_XDP is not supported by this kernel" (EAFNOSUPPORT), with
  // "permission denied" hints (CAP_NET_RAW; RLIMIT_MEMLOCK without
  // CAP_IPC_LOCK), or on a config the kernel cannot take.
  [[nodiscard]] static Result<Umem> create(const UmemConfig& config = {});
  Umem(Umem&&) noexcept;
  Umem& operator=(Umem&&) noexcept;
  Umem(const Umem&) = delete;
  Umem& operator=(const Umem&) = delete;
  ~Umem();

  std::uint32_t frame_size() const;
  std::uint32_t frame_count() const;
  // Bytes a frame can carry: the frame less the headrooms.
  std::uint32_t max_frame_len() const;
  // The UMEM's own socket (also the fd of its first Socket once bound).
  int fd() const;
  // The mode its first socket got; nullopt before one was bound.
  std::optional<Mode> mode() const;

  // The frame's bytes: len bytes at addr. Valid while the Umem lives.
  std::span<std::uint8_t> data(const Frame& f) const;
  // Room to write a frame to send: from addr to the end of its frame.
  std::span<std::uint8_t> room(const Frame& f) const;

  // Takes up to out.size() free frames (len 0, addr past the headroom
  // received frames have, so that a frame can grow at the front) to build
  // frames to send; returns how many.
  std::size_t alloc(std::span<Frame> out);
  // Frames back to the pool (received, allocated, or never sent). A frame
  // already free is refused and counted (pool_counters()).
  void release(std::span<const Frame> frames);
  std::uint32_t free_frames() const;
  const FramePool::Counters& pool_counters() const;

 private:
  Umem() = default;
  friend class Socket;
  std::shared_ptr<detail::UmemState> s_;
};

class Socket {
 public:
  // Binds an AF_XDP socket of `umem` to queue `queue` of `ifname` (in the
  // calling thread's network namespace) and fills its fill ring from the
  // pool. Errors (one line each):
  //   "no interface veth9"
  //   "queue 7 does not exist on veth1 (4 RX queues)"
  //   "queue 0 of veth1 already has an AF_XDP socket"
  //   "MTU 9000 of veth1 is too large for 4096-byte frames (at most 3822: ...)"
  //   "zero-copy AF_XDP on veth1 queue 0: Operation not supported" (Mode::ZeroCopy)
  [[nodiscard]] static Result<Socket> create(Umem& umem, const std::string& ifname, std::uint32_t queue,
                                             const SocketConfig& config = {});
  Socket(Socket&&) noexcept;
  Socket& operator=(Socket&&) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  int fd() const;  // what goes into the XSKMAP, at key queue()
  std::uint32_t queue() const;
  const std::string& ifname() const;
  int ifindex() const;
  Mode mode() const;  // Copy or ZeroCopy: what the kernel gave
  bool need_wakeup() const;

  // Reads up to out.size() received frames (after topping up the fill ring);
  // returns how many. The caller owns them until it release()s or send()s them.
  std::size_t recv(std::span<Frame> out);
  // Frames back to the pool, then tops up this socket's fill ring.
  void release(std::span<const Frame> frames);
  // Queues frames (of this socket's Umem, received on any of its sockets or
  // alloc()ed) for sending, kicks the kernel when it needs it, and returns
  // how many were taken: the first n. The kernel owns those until their
  // completion comes back to the pool; the rest stay the caller's (the TX
  // ring was full: counted).
  std::size_t send(std::span<const Frame> frames);
  // Reaps finished sends into the pool (and kicks TX again when frames are
  // still queued and the kernel wants a kick); returns how many.
  std::size_t complete();
  // Tops up the fill ring from the pool; returns how many frames it added.
  std::size_t refill();
  // Frames sent and not yet completed.
  std::uint64_t tx_outstanding() const;

  const SocketCounters& counters() const;
  [[nodiscard]] Result<XdpStatistics> statistics() const;
  std::span<std::uint8_t> data(const Frame& f) const;  // Umem::data()

 private:
  Socket() = default;
  void kick_tx();
  std::size_t reap();  // complete() without the kick
  std::unique_ptr<detail::SocketState> s_;
};

// Blocks until one of `sockets` has received frames, or `timeout` passes
// (so a consumer waits without spinning). First tops up each fill ring and
// reaps completions. Returns how many sockets are readable (0 on timeout or
// a signal); readable[i], when given (same size as sockets), says which.
// Any number of sockets (a consumer of every queue of a 128-queue NIC
// waits on 128); the poll set is a per-thread buffer, allocated only when
// it grows.
[[nodiscard]] Result<std::size_t> wait(std::span<Socket* const> sockets, std::chrono::milliseconds timeout,
                                       std::span<bool> readable = {});

// The interface's RX queue count (ETHTOOL_GCHANNELS, as `ethtool -l`: rx +
// combined channels), in the calling thread's network namespace. Fails
// (EOPNOTSUPP) for a driver that reports no channels; Socket::create() then
// leaves the check to the kernel's bind.
[[nodiscard]] Result<std::uint32_t> rx_queue_count(const std::string& ifname);
// The largest MTU whose frames (an 18-byte Ethernet header: one VLAN tag,
// which XDP sees in the frame) fit a frame of frame_size bytes with
// `headroom` bytes before the XDP headroom. A longer frame would be dropped
// (copy mode) or refused by the driver (zero-copy).
constexpr std::uint32_t max_mtu(std::uint32_t frame_size, std::uint32_t headroom = 0) {
  const std::uint32_t reserved = kXdpHeadroom + headroom + 18;
  return frame_size > reserved ? frame_size - reserved : 0;
}

}  // namespace xdpguard::xsk
