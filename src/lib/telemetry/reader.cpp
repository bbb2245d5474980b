#include "telemetry/reader.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bpf/system.h"
#include "guard/lock.h"

namespace xdpguard::telemetry {
namespace {

// The ring buffer of records as user space sees it (the kernel's layout,
// kernel/bpf/ringbuf.c; what libbpf's ring_buffer reads too): one writable
// page holding the consumer position, then, read-only, a page holding the
// producer position followed by the data area mapped twice, so that a
// record that wraps around is contiguous. Each record is an 8-byte header
// (length with the busy and discard bits, page offset) and its data,
// rounded up to 8 bytes.
//
// Read here rather than with libbpf's ring_buffer__consume(), which
// publishes the consumer position after every record: the producer reads
// that position on every reservation, so on another CPU each record would
// cost it a cache miss. This publishes it once per kReleaseEvery bytes (and
// at the end of a batch), which frees room for the producer as often as
// matters and leaves the cache line alone in between.
class Ring {
 public:
  Ring() = default;
  Ring(Ring&& o) noexcept { *this = std::move(o); }
  Ring& operator=(Ring&& o) noexcept {
    std::swap(cons_, o.cons_);
    std::swap(prod_, o.prod_);
    std::swap(mask_, o.mask_);
    std::swap(page_, o.page_);
    std::swap(epoll_, o.epoll_);
    return *this;
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() {
    if (cons_) ::munmap(cons_, page_);
    if (prod_) ::munmap(prod_, page_ + 2 * (mask_ + 1));
  }

  static Result<Ring> map(int fd) {
    bpf_map_info info{};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return fail_errno(errno, "ring buffer info");
    if (info.type != BPF_MAP_TYPE_RINGBUF || info.max_entries == 0 ||
        (info.max_entries & (info.max_entries - 1)) != 0)
      return fail(EINVAL, "xg_events is not a ring buffer");
    Ring r;
    r.page_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    r.mask_ = info.max_entries - 1;
    void* c = ::mmap(nullptr, r.page_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (c == MAP_FAILED) return fail_errno(errno, "map the ring buffer's consumer page");
    r.cons_ = static_cast<std::uint8_t*>(c);
    void* p = ::mmap(nullptr, r.page_ + 2 * std::size_t{info.max_entries}, PROT_READ, MAP_SHARED, fd,
                     static_cast<off_t>(r.page_));
    if (p == MAP_FAILED) return fail_errno(errno, "map the ring buffer's data");
    r.prod_ = static_cast<std::uint8_t*>(p);
    r.epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
    if (!r.epoll_) return fail_errno(errno, "epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    if (::epoll_ctl(r.epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
      return fail_errno(errno, "epoll on the ring buffer");
    return r;
  }

  // Waits at most timeout_ms for the kernel's wakeup (0: returns at once).
  Result<void> wait(int timeout_ms) const {
    epoll_event ev{};
    if (::epoll_wait(epoll_.get(), &ev, 1, timeout_ms) < 0 && errno != EINTR)
      return fail_errno(errno, "wait for the ring buffer");
    return {};
  }

  // Calls fn(data, size) for each committed record in order until fn
  // returns false (that record is consumed), none is left, or a ring's
  // worth was read (so that a producer faster than fn cannot keep the
  // caller here); returns how many records fn saw.
  template <class Fn>
  std::size_t consume(Fn&& fn) {
    const std::uint64_t first = __atomic_load_n(consumer(), __ATOMIC_RELAXED);
    std::uint64_t cons = first, published = first, n = 0;
    std::uint64_t prod = __atomic_load_n(producer(), __ATOMIC_ACQUIRE);
    bool more = true;
    while (more && cons < prod && cons - first <= mask_) {
      while (cons < prod) {
        const std::uint8_t* rec = prod_ + page_ + (cons & mask_);
        const std::uint32_t hdr =
            __atomic_load_n(reinterpret_cast<const std::uint32_t*>(rec), __ATOMIC_ACQUIRE);
        if (hdr & BPF_RINGBUF_BUSY_BIT) {
          prod = cons;  // not committed yet: the batch ends here
          break;
        }
        const std::uint32_t len = hdr & ~static_cast<std::uint32_t>(BPF_RINGBUF_DISCARD_BIT);
        cons += (std::uint64_t{len} + BPF_RINGBUF_HDR_SZ + 7) & ~std::uint64_t{7};
        if (!(hdr & BPF_RINGBUF_DISCARD_BIT)) {
          ++n;
          if (!fn(rec + BPF_RINGBUF_HDR_SZ, len)) {
            more = false;
            break;
          }
        }
        if (cons - published >= kReleaseEvery) {
          __atomic_store_n(consumer(), cons, __ATOMIC_RELEASE);
          published = cons;
        }
      }
      if (more) prod = __atomic_load_n(producer(), __ATOMIC_ACQUIRE);
    }
    if (cons != published) __atomic_store_n(consumer(), cons, __ATOMIC_RELEASE);
    return n;
  }

 private:
  static constexpr std::uint64_t kReleaseEvery = 64u << 10;
  std::uint64_t* consumer() const { return reinterpret_cast<std::uint64_t*>(cons_); }
  const std::uint64_t* producer() const { return reinterpret_cast<const std::uint64_t*>(prod_); }
  std::uint8_t* cons_ = nullptr;
  std::uint8_t* prod_ = nullptr;
  std::uint64_t mask_ = 0;
  std::size_t page_ = 0;
  UniqueFd epoll_;
};

const char* reader_kind(std::uint32_t kind) {
  switch (kind) {
    case XDPGUARD_READER_EVENTS: return "events";
    case XDPGUARD_READER_CAPTURE: return "capture";
    default: return "a reader";
  }
}

}  // namespace

std::string ReaderLockId::lock_name(const char* kind) const {
  return fmt::format("ns{}-{}-{}.{}.lock", netns_id, ifindex, attachment.meta_id, kind);
}

struct RecordReader::State {
  TelemetryMaps maps;
  ReaderRequest req;
  LockFile lock;
  AttachmentId attachment;
  Ring ring;
  std::uint64_t start_ns = 0;
  std::uint64_t renewed_ns = 0;
  std::uint64_t stale = 0;
  bool active = false;

  xdpguard_telemetry request(std::uint64_t now) const {
    xdpguard_telemetry v{};
    v.capture = req.kind == XDPGUARD_READER_CAPTURE ? 1 : 0;
    v.reader = req.kind;
    v.lease_ns = now + static_cast<std::uint64_t>(std::chrono::nanoseconds(kLease).count());
    v.snaplen = std::min<std::uint32_t>(req.snaplen, XDPGUARD_MAX_SNAPLEN);
    v.verdicts = req.verdicts;
    v.sample = req.sample;
    v.reader_pid = static_cast<std::uint32_t>(::getpid());
    return v;
  }

  // One record: false when the caller asked to stop.
  bool on_sample(const std::uint8_t* data, std::size_t size, const OnRecord& fn, std::size_t& delivered) {
    if (size < sizeof(xdpguard_record)) return true;  // cannot happen: every record has a header
    xdpguard_record r;
    std::memcpy(&r, data, sizeof r);
    if (r.ts_ns < start_ns) {
      ++stale;
      return true;
    }
    std::size_t cap = std::min<std::size_t>(r.cap_len, size - sizeof r);
    ++delivered;
    return fn(r, std::span<const std::uint8_t>(data + sizeof r, cap));
  }

  Result<void> renew_if_due() {
    const std::uint64_t now = monotonic_ns();
    if (now - renewed_ns < static_cast<std::uint64_t>(std::chrono::nanoseconds(kRenew).count())) return {};
    // Still the attachment in force? (Else nothing will ever come, and its
    // lock must not hold up the next attachment's reader.)
    XG_CHECK(check_in_force(attachment));
    XG_CHECK_CTX(maps.write_control(request(now)), "renew the reader's lease");
    renewed_ns = now;
    return {};
  }

  Result<std::size_t> run(int timeout_ms, const OnRecord& f) {
    if (!active) return fail(EINVAL, "the reader was stopped");
    XG_CHECK(renew_if_due());
    std::size_t delivered = 0;
    auto each = [&](const std::uint8_t* data, std::size_t size) {
      return on_sample(data, size, f, delivered);
    };
    // The wait ends at once while records are there; else at the kernel's
    // wakeup (only for a batch, XDPGUARD_EVENTS_WAKEUP) or the timeout, and
    // what came meanwhile is read then.
    if (timeout_ms >= 0) XG_CHECK(ring.wait(timeout_ms));
    ring.consume(each);
    XG_CHECK(renew_if_due());
    return delivered;
  }
};

RecordReader::RecordReader() = default;
RecordReader::RecordReader(RecordReader&&) noexcept = default;
RecordReader& RecordReader::operator=(RecordReader&&) noexcept = default;
RecordReader::~RecordReader() {
  if (st_ && st_->active)
    if (auto r = stop(); !r) spdlog::warn("{}", r.error().message());
}

Result<RecordReader> RecordReader::start(TelemetryMaps maps, const ReaderRequest& req,
                                         const std::optional<ReaderLockId>& lock) {
  if (req.snaplen > XDPGUARD_MAX_SNAPLEN)
    return fail(EINVAL, "snaplen {} is over the limit of {} bytes", req.snaplen, XDPGUARD_MAX_SNAPLEN);
  RecordReader out;
  out.st_ = std::make_unique<State>();
  State& s = *out.st_;
  s.maps = std::move(maps);
  s.req = req;
  if (lock) {
    s.attachment = lock->attachment;
    auto held = XG_TRY_CTX(LockFile::try_lock(lock->lock_name("reader"), true), "reader lock");
    if (!held) {
      auto cur = s.maps.reader();
      if (cur && cur->kind != XDPGUARD_READER_NONE)
        return fail(EBUSY, "{} (pid {}) already reads {}'s records; one reader at a time",
                    reader_kind(cur->kind), cur->pid, lock->ifname);
      return fail(EBUSY, "another reader already reads {}'s records; one reader at a time", lock->ifname);
    }
    s.lock = std::move(*held);
    XG_CHECK(check_in_force(s.attachment));
  }
  s.ring = XG_TRY(Ring::map(s.maps.events_fd()));
  s.start_ns = monotonic_ns();
  s.renewed_ns = s.start_ns;
  XG_CHECK_CTX(s.maps.write_control(s.request(s.start_ns)), "start reading");
  s.active = true;
  return out;
}

Result<std::size_t> RecordReader::poll(std::chrono::milliseconds timeout, const OnRecord& fn) {
  // Wake up in time to renew the lease, however long the caller waits.
  auto chunk = std::min<std::chrono::milliseconds>(timeout, kPollEvery);
  return st_->run(static_cast<int>(std::max<std::chrono::milliseconds::rep>(chunk.count(), 0)), fn);
}

Result<std::size_t> RecordReader::drain(const OnRecord& fn) { return st_->run(-1, fn); }

Result<void> RecordReader::stop() {
  if (!st_ || !st_->active) return {};
  st_->active = false;
  // Only our own request is cleared (a reader after a lost lease may own it).
  auto cur = XG_TRY(st_->maps.read_control());
  if (cur.reader_pid != static_cast<std::uint32_t>(::getpid())) return {};
  XG_CHECK_CTX(st_->maps.write_control(xdpguard_telemetry{}), "stop reading");
  return {};
}

const TelemetryMaps& RecordReader::maps() const { return st_->maps; }
std::uint64_t RecordReader::started_ns() const { return st_->start_ns; }
std::uint64_t RecordReader::stale() const { return st_->stale; }

}  // namespace xdpguard::telemetry
