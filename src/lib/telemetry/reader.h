// RecordReader: the one consumer of an interface's ring buffer of records
// (docs/telemetry.md). Owns the ring buffer mapping, the request it wrote
// into xg_telemetry, and the reader lock.
//
// One reader at a time per attachment (a BPF ring buffer has one consumer
// position): start() takes an flock on
// /run/xdpguard/ns<netns>-<ifindex>-<xg_meta id>.reader.lock (guard/lock.h)
// without waiting, and fails with "capture (pid 123) already reads veth1's
// records; one reader at a time" when another holds it. The lock is the
// attachment's, so a reader left on an attachment that was detached never
// refuses a reader of the next one; its file goes when its reader stops. It
// then writes the request (what to record, snaplen, verdict filter,
// sampling) with a lease of kLease; poll() renews the lease every second,
// and checks then that the attachment is still in force: once it is not
// (detached, or detached and attached again), poll() fails with "xdpguard
// was detached". stop() (and the destructor) clears the request; a reader
// killed without it stops costing anything when its lease runs out (the
// kernel clears the request then).
//
// Records written before start() (left by a reader that died) are skipped:
// a record is delivered only if its timestamp is not older than start().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>

#include "core/result.h"
#include "core/unique_fd.h"
#include "guard/guard.h"
#include "telemetry/maps.h"

namespace xdpguard::telemetry {

inline constexpr std::chrono::seconds kLease{5};
inline constexpr std::chrono::seconds kRenew{1};
// The kernel wakes the reader only when XDPGUARD_EVENTS_WAKEUP bytes wait;
// it looks at least this often on its own (a record's worst latency).
inline constexpr std::chrono::milliseconds kPollEvery{100};

struct ReaderRequest {
  xdpguard_reader kind = XDPGUARD_READER_EVENTS;
  std::uint32_t snaplen = 0;                // frame bytes per record
  std::uint32_t verdicts = 0;               // capture: bits 1 << XDP_*; 0 for events
  std::uint32_t sample = XDPGUARD_LOG_ALL;  // capture: sampling threshold
};

// Which interface's reader lock; none for an in-process guard (tests).
struct ReaderLockId {
  std::uint64_t netns_id = 0;
  int ifindex = 0;
  std::string ifname;  // for messages
  // The attachment read (Guard::attachment()): its lock, and what must stay
  // in force (no pin: not checked).
  AttachmentId attachment;
  // The lock file's name in the runtime directory: "<kind>" is "reader" or "flood".
  std::string lock_name(const char* kind) const;
};

class RecordReader {
 public:
  // Called for each record: header and the frame bytes (valid during the
  // call only). Return false to stop delivering (the record counts as
  // delivered).
  using OnRecord = std::function<bool(const xdpguard_record&, std::span<const std::uint8_t>)>;

  RecordReader();
  RecordReader(RecordReader&&) noexcept;
  RecordReader& operator=(RecordReader&&) noexcept;
  ~RecordReader();

  [[nodiscard]] static Result<RecordReader> start(TelemetryMaps maps, const ReaderRequest& req,
                                                  const std::optional<ReaderLockId>& lock);

  // Waits at most `timeout` for records and delivers them; renews the lease
  // when due. Returns how many were delivered (0 on timeout or a signal).
  [[nodiscard]] Result<std::size_t> poll(std::chrono::milliseconds timeout, const OnRecord& fn);
  // Delivers what is in the ring buffer now, without waiting.
  [[nodiscard]] Result<std::size_t> drain(const OnRecord& fn);
  // Clears the request; records stop. Idempotent.
  [[nodiscard]] Result<void> stop();

  const TelemetryMaps& maps() const;
  std::uint64_t started_ns() const;  // CLOCK_MONOTONIC at start()
  std::uint64_t stale() const;       // records skipped as older than start()

 private:
  struct State;
  std::unique_ptr<State> st_;
};

}  // namespace xdpguard::telemetry
