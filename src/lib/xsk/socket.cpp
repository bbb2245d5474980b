#include "xsk/socket.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/unique_fd.h"

namespace xdpguard::xsk {

namespace detail {

// What a Umem and its sockets share. Destroyed with the last of them.
struct UmemState {
  explicit UmemState(const UmemConfig& c) : config(c), pool(c.frame_count, c.frame_size) {}
  UmemState(const UmemState&) = delete;
  UmemState& operator=(const UmemState&) = delete;
  ~UmemState() {
    if (umem != nullptr) xsk_umem__delete(umem);
    if (area != nullptr) ::munmap(area, size);
  }

  UmemConfig config;
  void* area = nullptr;
  std::size_t size = 0;
  xsk_umem* umem = nullptr;
  // The UMEM socket's fill and completion rings (libxdp's fill_save and
  // comp_save): those of the first socket. That socket is given these very
  // structs, not copies: when its bind fails, libxdp then keeps the rings
  // mapped for the next try.
  xsk_ring_prod fill{};
  xsk_ring_cons comp{};
  FramePool pool;
  // The first socket has bound the UMEM's own socket; it stays bound until
  // the UMEM is gone, whatever becomes of its Socket.
  bool bound = false;
  std::optional<Mode> mode;
  bool need_wakeup = false;
  // (ifindex, queue) of every socket bound, the first's for good (see bound).
  std::vector<std::pair<int, std::uint32_t>> queues;

  [[nodiscard]] Result<void> register_area() {
    xsk_umem_config c{};
    c.fill_size = config.fill_size;
    c.comp_size = config.comp_size;
    c.frame_size = config.frame_size;
    c.frame_headroom = config.frame_headroom;
    c.flags = XSK_UMEM__DEFAULT_FLAGS;
    fill = {};
    comp = {};
    const int err = xsk_umem__create(&umem, area, size, &fill, &comp, &c);
    if (err == 0) return {};
    umem = nullptr;
    switch (-err) {
      case EAFNOSUPPORT:
        return fail(EAFNOSUPPORT, "AF_XDP is not supported by this kernel (socket(AF_XDP): {})",
                    std::strerror(-err));
      case EPERM:
      case EACCES: return fail(-err, "AF_XDP socket: permission denied (need CAP_NET_RAW)");
      case ENOBUFS:
      case ENOMEM:
        return fail(-err,
                    "register a {} MiB UMEM: {} (locked memory: raise RLIMIT_MEMLOCK or run with "
                    "CAP_IPC_LOCK)",
                    size >> 20, std::strerror(-err));
      default: return fail_errno(err, fmt::format("register a {} MiB UMEM", size >> 20));
    }
  }
  // After the first socket's bind failed: a fresh UMEM socket, so that the
  // next bind starts clean (libxdp 1.3 would set up the failed socket's
  // rings a second time, which the kernel refuses).
  [[nodiscard]] Result<void> renew() {
    if (umem != nullptr) xsk_umem__delete(umem);
    umem = nullptr;
    return register_area();
  }
};

struct SocketState {
  std::shared_ptr<UmemState> umem;
  xsk_socket* xsk = nullptr;
  xsk_ring_cons rx{};
  xsk_ring_prod tx{};
  // This (interface, queue)'s fill and completion rings: the UMEM's for its
  // first socket, these otherwise. Stable addresses (libxdp keeps pointers).
  xsk_ring_prod own_fill{};
  xsk_ring_cons own_comp{};
  xsk_ring_prod* fill = nullptr;
  xsk_ring_cons* comp = nullptr;
  int fd = -1;
  int ifindex = 0;
  std::uint32_t queue = 0;
  std::string ifname;
  Mode mode = Mode::Copy;
  bool need_wakeup = false;
  std::uint64_t outstanding = 0;
  SocketCounters counters;

  SocketState() = default;
  SocketState(const SocketState&) = delete;
  SocketState& operator=(const SocketState&) = delete;
  ~SocketState() {
    if (xsk == nullptr) return;
    // The UMEM's own socket stays bound while the UMEM lives: its queue stays taken.
    if (fd != xsk_umem__fd(umem->umem)) {
      const auto it = std::find(umem->queues.begin(), umem->queues.end(), std::pair{ifindex, queue});
      if (it != umem->queues.end()) umem->queues.erase(it);
    }
    xsk_socket__delete(xsk);
  }
};

}  // namespace detail

namespace {

constexpr std::size_t kBatch = 64;  // frames moved between the pool and a ring at a time

std::uint32_t clamp32(std::size_t n) {
  return static_cast<std::uint32_t>(std::min<std::size_t>(n, UINT32_MAX));
}

Result<int> interface_mtu(int sock, const std::string& ifname) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.c_str(), std::min(ifname.size(), std::size_t{IFNAMSIZ - 1}));
  if (::ioctl(sock, SIOCGIFMTU, &ifr) != 0) return fail_errno(errno, "MTU of " + ifname);
  return ifr.ifr_mtu;
}

std::string queue_word(std::uint32_t n) { return fmt::format("{} RX queue{}", n, n == 1 ? "" : "s"); }

}  // namespace

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::Auto: return "auto";
    case Mode::Copy: return "copy";
    case Mode::ZeroCopy: return "zero-copy";
  }
  return "?";
}

Result<std::uint32_t> rx_queue_count(const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ)
    return fail(EINVAL, "invalid interface name \"{}\"", ifname);
  UniqueFd sock(::socket(AF_LOCAL, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return fail_errno(errno, "socket");
  ethtool_channels ch{};
  ch.cmd = ETHTOOL_GCHANNELS;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
  ifr.ifr_data = reinterpret_cast<char*>(&ch);
  if (::ioctl(sock.get(), SIOCETHTOOL, &ifr) != 0) return fail_errno(errno, "channels of " + ifname);
  const std::uint32_t n = ch.rx_count + ch.combined_count;
  if (n == 0) return fail(EOPNOTSUPP, "{} reports no RX channels", ifname);
  return n;
}

// ---- Umem --------------------------------------------------------------------

Result<Umem> Umem::create(const UmemConfig& config) {
  const long page = ::sysconf(_SC_PAGESIZE);
  if (!ring_size_ok(config.frame_size) || config.frame_size < 2048 || config.frame_size > page)
    return fail(EINVAL, "UMEM frame size {} is not a power of two from 2048 to the page size ({})",
                config.frame_size, page);
  if (config.frame_count == 0) return fail(EINVAL, "a UMEM needs at least one frame");
  if (!ring_size_ok(config.fill_size) || !ring_size_ok(config.comp_size))
    return fail(EINVAL, "UMEM fill and completion ring sizes must be powers of two (not {} and {})",
                config.fill_size, config.comp_size);
  if (max_mtu(config.frame_size, config.frame_headroom) == 0)
    return fail(EINVAL, "UMEM frame headroom {} leaves no room in a {}-byte frame", config.frame_headroom,
                config.frame_size);

  auto st = std::make_shared<detail::UmemState>(config);
  st->size = std::size_t{config.frame_count} * config.frame_size;
  void* area = ::mmap(nullptr, st->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) return fail_errno(errno, fmt::format("map a {} MiB UMEM", st->size >> 20));
  st->area = area;
  // Not into a forked child: the kernel pins the area when it registers it,
  // and a fork must copy pinned private pages at once (all of them, a
  // fork-and-exec of `ip` included), where it would only share them otherwise.
  (void)::madvise(area, st->size, MADV_DONTFORK);
  XG_CHECK(st->register_area());
  Umem u;
  u.s_ = std::move(st);
  return u;
}

Umem::Umem(Umem&&) noexcept = default;
Umem& Umem::operator=(Umem&&) noexcept = default;
Umem::~Umem() = default;

std::uint32_t Umem::frame_size() const { return s_->config.frame_size; }
std::uint32_t Umem::frame_count() const { return s_->config.frame_count; }
std::uint32_t Umem::max_frame_len() const {
  return s_->config.frame_size - kXdpHeadroom - s_->config.frame_headroom;
}
int Umem::fd() const { return xsk_umem__fd(s_->umem); }
std::optional<Mode> Umem::mode() const { return s_->mode; }

std::span<std::uint8_t> Umem::data(const Frame& f) const {
  return {static_cast<std::uint8_t*>(s_->area) + f.addr, f.len};
}
std::span<std::uint8_t> Umem::room(const Frame& f) const {
  const std::uint64_t end = s_->pool.frame_of(f.addr) + s_->config.frame_size;
  return {static_cast<std::uint8_t*>(s_->area) + f.addr, static_cast<std::size_t>(end - f.addr)};
}

std::size_t Umem::alloc(std::span<Frame> out) {
  const std::uint64_t offset = kXdpHeadroom + s_->config.frame_headroom;
  std::array<std::uint64_t, kBatch> batch{};
  std::size_t done = 0;
  while (done < out.size()) {
    const std::size_t want = std::min(kBatch, out.size() - done);
    const std::size_t k = s_->pool.take(std::span(batch).first(want));
    for (std::size_t j = 0; j < k; ++j) out[done + j] = Frame{batch[j] + offset, 0};
    done += k;
    if (k < want) break;
  }
  return done;
}

void Umem::release(std::span<const Frame> frames) {
  for (const Frame& f : frames) s_->pool.put(f.addr);
}
std::uint32_t Umem::free_frames() const { return s_->pool.available(); }
const FramePool::Counters& Umem::pool_counters() const { return s_->pool.counters(); }

// ---- Socket ------------------------------------------------------------------

Result<Socket> Socket::create(Umem& umem, const std::string& ifname, std::uint32_t queue,
                              const SocketConfig& config) {
  auto& us = *umem.s_;
  if (!ring_size_ok(config.rx_size) || !ring_size_ok(config.tx_size))
    return fail(EINVAL, "AF_XDP RX and TX ring sizes must be powers of two (not {} and {})", config.rx_size,
                config.tx_size);
  if (ifname.empty() || ifname.size() >= IFNAMSIZ)
    return fail(EINVAL, "invalid interface name \"{}\"", ifname);
  const int ifindex = static_cast<int>(::if_nametoindex(ifname.c_str()));
  if (ifindex == 0) return fail(ENODEV, "no interface {}", ifname);

  // The kernel's own answer to a queue it lacks is a bare EINVAL at bind.
  if (auto n = rx_queue_count(ifname); n && queue >= *n)
    return fail(EINVAL, "queue {} does not exist on {} ({})", queue, ifname, queue_word(*n));
  {
    UniqueFd sock(::socket(AF_LOCAL, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return fail_errno(errno, "socket");
    const int mtu = XG_TRY(interface_mtu(sock.get(), ifname));
    const std::uint32_t most = max_mtu(us.config.frame_size, us.config.frame_headroom);
    if (mtu > 0 && static_cast<std::uint32_t>(mtu) > most)
      return fail(
          EMSGSIZE,
          "MTU {} of {} is too large for {}-byte frames (at most {}: {} bytes go to XDP headroom{}, 18 to "
          "an Ethernet header with a VLAN tag)",
          mtu, ifname, us.config.frame_size, most, kXdpHeadroom,
          us.config.frame_headroom ? fmt::format(", {} of frame headroom", us.config.frame_headroom)
                                   : std::string());
  }
  if (std::find(us.queues.begin(), us.queues.end(), std::pair{ifindex, queue}) != us.queues.end())
    return fail(EBUSY, "queue {} of {} already has an AF_XDP socket (of this UMEM)", queue, ifname);

  const bool first = !us.bound;
  if (!first && config.mode != Mode::Auto && config.mode != us.mode)
    return fail(EINVAL, "{} queue {}: this UMEM's sockets are in {} mode (its first socket's), not {}",
                ifname, queue, mode_name(*us.mode), mode_name(config.mode));
  if (first && us.umem == nullptr) XG_CHECK_CTX(us.renew(), fmt::format("{} queue {}", ifname, queue));

  auto st = std::make_unique<detail::SocketState>();
  st->umem = umem.s_;
  st->ifname = ifname;
  st->ifindex = ifindex;
  st->queue = queue;
  st->fill = first ? &us.fill : &st->own_fill;
  st->comp = first ? &us.comp : &st->own_comp;

  xsk_socket_config cfg{};
  cfg.rx_size = config.rx_size;
  cfg.tx_size = config.tx_size;
  cfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;  // xdpguard's program owns the redirect
  cfg.xdp_flags = 0;
  const auto bind_with = [&](std::uint16_t mode_flag) -> int {
    cfg.bind_flags = static_cast<std::uint16_t>(mode_flag | (config.need_wakeup ? XDP_USE_NEED_WAKEUP : 0));
    const int err = xsk_socket__create_shared(&st->xsk, ifname.c_str(), queue, us.umem, &st->rx, &st->tx,
                                              st->fill, st->comp, &cfg);
    if (err != 0) {
      st->xsk = nullptr;
      // The UMEM socket took part in the failed bind: renew it for the next.
      if (first) {
        if (auto r = us.renew(); !r) spdlog::warn("AF_XDP: {}", r.error().message());
      }
    }
    return err;
  };
  int err = 0;
  if (!first) {
    err = bind_with(0);  // the kernel applies the first socket's mode and need_wakeup
  } else if (config.mode == Mode::Copy) {
    err = bind_with(XDP_COPY);
  } else {
    err = bind_with(XDP_ZEROCOPY);
    if (err != 0 && config.mode == Mode::Auto && -err != EBUSY) {
      spdlog::debug("AF_XDP on {} queue {}: zero-copy refused ({}), copy mode", ifname, queue,
                    std::strerror(-err));
      err = bind_with(XDP_COPY);
    }
  }
  if (err != 0) {
    switch (-err) {
      case EBUSY: return fail(EBUSY, "queue {} of {} already has an AF_XDP socket", queue, ifname);
      case ENODEV: return fail(ENODEV, "no interface {}", ifname);
      default:
        if (first && config.mode == Mode::ZeroCopy)
          return fail_errno(err, fmt::format("zero-copy AF_XDP on {} queue {}", ifname, queue));
        return fail_errno(err, fmt::format("AF_XDP socket on {} queue {}", ifname, queue));
    }
  }
  st->fd = xsk_socket__fd(st->xsk);

  if (first) {
    us.bound = true;
    us.need_wakeup = config.need_wakeup;
  }
  st->need_wakeup = us.need_wakeup;
  us.queues.emplace_back(ifindex, queue);
  // What the kernel gave (XDP_OPTIONS, Linux 5.3; older: copy, the only mode without the flag).
  xdp_options opts{};
  socklen_t len = sizeof(opts);
  const bool zc = ::getsockopt(st->fd, SOL_XDP, XDP_OPTIONS, &opts, &len) == 0 &&
                  (opts.flags & XDP_OPTIONS_ZEROCOPY) != 0;
  st->mode = zc ? Mode::ZeroCopy : Mode::Copy;
  if (first) us.mode = st->mode;

  Socket s;
  s.s_ = std::move(st);
  s.refill();
  return s;
}

Socket::Socket(Socket&&) noexcept = default;
Socket& Socket::operator=(Socket&&) noexcept = default;
Socket::~Socket() = default;

int Socket::fd() const { return s_->fd; }
std::uint32_t Socket::queue() const { return s_->queue; }
const std::string& Socket::ifname() const { return s_->ifname; }
int Socket::ifindex() const { return s_->ifindex; }
Mode Socket::mode() const { return s_->mode; }
bool Socket::need_wakeup() const { return s_->need_wakeup; }
std::uint64_t Socket::tx_outstanding() const { return s_->outstanding; }
const SocketCounters& Socket::counters() const { return s_->counters; }
std::span<std::uint8_t> Socket::data(const Frame& f) const {
  return {static_cast<std::uint8_t*>(s_->umem->area) + f.addr, f.len};
}

std::size_t Socket::refill() {
  auto& s = *s_;
  auto& pool = s.umem->pool;
  const std::uint32_t room = prod_free(*s.fill);
  if (room == 0) return 0;
  if (pool.available() < room) ++s.counters.pool_empty;
  std::uint32_t idx = 0;
  const std::uint32_t n = prod_reserve(*s.fill, std::min(room, pool.available()), &idx);
  std::array<std::uint64_t, kBatch> batch{};
  std::uint32_t done = 0;
  while (done < n) {
    const auto k = static_cast<std::uint32_t>(
        pool.take(std::span(batch).first(std::min<std::size_t>(kBatch, n - done))));
    for (std::uint32_t j = 0; j < k; ++j) *xsk_ring_prod__fill_addr(s.fill, idx + done + j) = batch[j];
    done += k;
  }
  if (n > 0) prod_submit(*s.fill, n);
  return n;
}

std::size_t Socket::recv(std::span<Frame> out) {
  auto& s = *s_;
  refill();
  std::uint32_t idx = 0;
  const std::uint32_t n = cons_peek(s.rx, clamp32(out.size()), &idx);
  if (n == 0) {
    // Without a system call the kernel would not look at the fill ring again.
    if (s.need_wakeup && xsk_ring_prod__needs_wakeup(s.fill)) {
      ++s.counters.rx_wakeups;
      if (::recvfrom(s.fd, nullptr, 0, MSG_DONTWAIT, nullptr, nullptr) < 0 && errno != EAGAIN)
        ++s.counters.wakeup_errors;
    }
    return 0;
  }
  for (std::uint32_t i = 0; i < n; ++i) {
    const xdp_desc* d = xsk_ring_cons__rx_desc(&s.rx, idx + i);
    out[i] = Frame{d->addr, d->len};
  }
  cons_release(s.rx, n);
  s.counters.rx_frames += n;
  return n;
}

void Socket::release(std::span<const Frame> frames) {
  for (const Frame& f : frames) s_->umem->pool.put(f.addr);
  if (!frames.empty() && prod_free(*s_->fill) == 0) ++s_->counters.fill_ring_full;
  refill();
}

void Socket::kick_tx() {
  auto& s = *s_;
  if (s.need_wakeup && !xsk_ring_prod__needs_wakeup(&s.tx)) return;
  ++s.counters.tx_wakeups;
  // EAGAIN / EBUSY / ENOBUFS: the kernel is busy or out of buffers and the
  // frames stay queued; ENETDOWN: the interface is down. All counted; the
  // next send() or complete() kicks again.
  if (::sendto(s.fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0) ++s.counters.wakeup_errors;
}

std::size_t Socket::send(std::span<const Frame> frames) {
  auto& s = *s_;
  reap();  // (the kick below covers what is still queued)
  const std::uint32_t want = clamp32(frames.size());
  std::uint32_t idx = 0;
  const std::uint32_t n = prod_reserve(s.tx, want, &idx);
  for (std::uint32_t i = 0; i < n; ++i) {
    xdp_desc* d = xsk_ring_prod__tx_desc(&s.tx, idx + i);
    d->addr = frames[i].addr;
    d->len = frames[i].len;
    d->options = 0;
  }
  s.counters.tx_ring_full += want - n;
  if (n == 0) return 0;
  prod_submit(s.tx, n);
  s.outstanding += n;
  s.counters.tx_frames += n;
  kick_tx();
  return n;
}

std::size_t Socket::reap() {
  auto& s = *s_;
  std::uint32_t idx = 0;
  const std::uint32_t n = cons_peek(*s.comp, s.comp->size, &idx);
  for (std::uint32_t i = 0; i < n; ++i) s.umem->pool.put(*xsk_ring_cons__comp_addr(s.comp, idx + i));
  if (n > 0) cons_release(*s.comp, n);
  s.outstanding -= std::min<std::uint64_t>(s.outstanding, n);
  s.counters.tx_completed += n;
  return n;
}

std::size_t Socket::complete() {
  const std::size_t n = reap();
  // In copy mode a kick sends a bounded batch (32 frames): what is left needs another.
  if (s_->outstanding > 0) kick_tx();
  return n;
}

Result<XdpStatistics> Socket::statistics() const {
  xdp_statistics st{};
  socklen_t len = sizeof(st);
  if (::getsockopt(s_->fd, SOL_XDP, XDP_STATISTICS, &st, &len) != 0)
    return fail_errno(errno, fmt::format("AF_XDP statistics of {} queue {}", s_->ifname, s_->queue));
  XdpStatistics out;
  out.rx_dropped = st.rx_dropped;
  out.rx_invalid_descs = st.rx_invalid_descs;
  out.tx_invalid_descs = st.tx_invalid_descs;
  // Older kernels return only the first three (len says so); the rest stay 0.
  if (len >= offsetof(xdp_statistics, tx_ring_empty_descs) + sizeof(st.tx_ring_empty_descs)) {
    out.rx_ring_full = st.rx_ring_full;
    out.rx_fill_ring_empty_descs = st.rx_fill_ring_empty_descs;
    out.tx_ring_empty_descs = st.tx_ring_empty_descs;
  }
  return out;
}

Result<std::size_t> wait(std::span<Socket* const> sockets, std::chrono::milliseconds timeout,
                         std::span<bool> readable) {
  if (!readable.empty() && readable.size() != sockets.size())
    return fail(EINVAL, "wait: {} readable flags for {} sockets", readable.size(), sockets.size());
  thread_local std::vector<pollfd> pfds;
  pfds.resize(sockets.size());
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    sockets[i]->refill();
    sockets[i]->complete();
    pfds[i] = pollfd{sockets[i]->fd(), POLLIN, 0};
  }
  const auto ms = static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(timeout.count(), 0, INT32_MAX));
  const int r = ::poll(pfds.data(), sockets.size(), ms);
  if (r < 0) {
    if (errno == EINTR) {
      std::fill(readable.begin(), readable.end(), false);
      return 0;
    }
    return fail_errno(errno, "poll AF_XDP sockets");
  }
  std::size_t n = 0;
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    const bool ready = (pfds[i].revents & POLLIN) != 0;
    if (!readable.empty()) readable[i] = ready;
    n += ready ? 1 : 0;
  }
  return n;
}

}  // namespace xdpguard::xsk
