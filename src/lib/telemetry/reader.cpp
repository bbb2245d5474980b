#include "telemetry/reader.h"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bpf/system.h"

namespace xdpguard::telemetry {
namespace {

struct RingBufferFree {
  void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};

const char* reader_kind(std::uint32_t kind) {
  switch (kind) {
    case XDPGUARD_READER_EVENTS: return "events";
    case XDPGUARD_READER_CAPTURE: return "capture";
    default: return "a reader";
  }
}

// ring_buffer__poll() returns this when a callback asked to stop.
constexpr int kStopped = -ECANCELED;

}  // namespace

struct RecordReader::State {
  TelemetryMaps maps;
  ReaderRequest req;
  UniqueFd lock;
  std::unique_ptr<ring_buffer, RingBufferFree> rb;
  std::uint64_t start_ns = 0;
  std::uint64_t renewed_ns = 0;
  std::uint64_t stale = 0;
  std::size_t delivered = 0;
  bool active = false;
  const OnRecord* fn = nullptr;  // during poll()

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

  static int on_sample(void* ctx, void* data, size_t size) {
    auto* self = static_cast<State*>(ctx);
    if (size < sizeof(xdpguard_record)) return 0;  // cannot happen: every record has a header
    xdpguard_record r;
    std::memcpy(&r, data, sizeof r);
    if (r.ts_ns < self->start_ns) {
      ++self->stale;
      return 0;
    }
    std::size_t cap = std::min<std::size_t>(r.cap_len, size - sizeof r);
    std::span<const std::uint8_t> frame(static_cast<const std::uint8_t*>(data) + sizeof r, cap);
    ++self->delivered;
    if (self->fn && !(*self->fn)(r, frame)) return kStopped;
    return 0;
  }

  Result<void> renew_if_due() {
    const std::uint64_t now = monotonic_ns();
    if (now - renewed_ns < static_cast<std::uint64_t>(std::chrono::nanoseconds(kRenew).count())) return {};
    XG_CHECK_CTX(maps.write_control(request(now)), "renew the reader's lease");
    renewed_ns = now;
    return {};
  }

  Result<std::size_t> run(int timeout_ms, const OnRecord& f) {
    if (!active) return fail(EINVAL, "the reader was stopped");
    XG_CHECK(renew_if_due());
    fn = &f;
    delivered = 0;
    int n = timeout_ms < 0 ? ring_buffer__consume(rb.get()) : ring_buffer__poll(rb.get(), timeout_ms);
    // The kernel wakes the reader only for a batch (XDPGUARD_EVENTS_WAKEUP):
    // what came since is read when the wait ends.
    if (timeout_ms >= 0 && n >= 0) n = ring_buffer__consume(rb.get());
    fn = nullptr;
    if (n < 0 && n != kStopped && n != -EINTR) return fail_errno(n, "read the ring buffer");
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
    constexpr const char* kDir = "/run/lock/xdpguard";
    XG_CHECK_CTX(make_dirs(kDir), "reader lock");
    const std::string path = fmt::format("{}/ns{}-{}.reader.lock", kDir, lock->netns_id, lock->ifindex);
    s.lock = UniqueFd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!s.lock) return fail_errno(errno, "reader lock " + path);
    while (::flock(s.lock.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EINTR) continue;
      if (errno != EWOULDBLOCK) return fail_errno(errno, "reader lock " + path);
      auto cur = s.maps.reader();
      if (cur && cur->kind != XDPGUARD_READER_NONE)
        return fail(EBUSY, "{} (pid {}) already reads {}'s records; one reader at a time",
                    reader_kind(cur->kind), cur->pid, lock->ifname);
      return fail(EBUSY, "another reader already reads {}'s records; one reader at a time", lock->ifname);
    }
  }
  s.rb.reset(ring_buffer__new(s.maps.events_fd(), &State::on_sample, &s, nullptr));
  if (!s.rb) return fail_errno(errno, "map the ring buffer");
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
