// `xdpguard run --config FILE`: the service. It puts the file in force (an
// `apply`: pins that exist are adopted, with their counters, buckets and
// blocks), tells systemd it is ready (READY=1, STATUS with the rule count),
// then serves metrics, runs flood detection and writes events until asked
// to stop; SIGHUP applies the file again (a broken file is logged with its
// line and column, the old state stays in force and the service goes on).
// On SIGTERM it exits leaving the programs enforcing (fail-static), unless
// `detach_on_exit`.
//
// One service per network namespace: the second exits naming the first
// (its lock, run-ns<netns inode>.lock in /run/xdpguard). The file must be
// root's and not writable by group or others (whoever can write it can
// change the firewall). After setup the process keeps only the capabilities
// of service/caps.h.
//
// With a [flowspec] section, a thread follows the GoBGP daemon it names
// (flowspec/consumer.h), started again after each apply; the FlowSpec rules
// stay in force when the service stops.
//
// Events (JSON lines, to `events_path` rotated at `events_max_bytes` into
// PATH.1, or to stderr, the journal under systemd): service started,
// applied (with what changed), apply failed (with the error), attack
// started/ended (flood detection), flowspec-started/-failed, stopping.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/result.h"

namespace xdpguard::service {

struct Options {
  std::string config;
  std::string metrics;  // listen address ("" : no metrics endpoint)
  std::string events_path;
  std::uint64_t events_max_bytes = 64ull << 20;
  bool detach_on_exit = false;
};

// What a signal asks of the service (set from signal handlers).
struct Signals {
  std::atomic<bool> stop{false};
  std::atomic<bool> reload{false};
};

// Runs until signals.stop; fails (before READY) when the file cannot be put
// in force at start, or the service cannot start.
[[nodiscard]] Result<void> run(const Options& opts, Signals& signals);

// The config file may be trusted: a regular file owned by root (or by the
// caller), not writable by group or others. Pure but for one stat.
[[nodiscard]] Result<void> check_config_file(const std::string& path);

// Appends JSON lines to a file, renaming it to PATH.1 once it is over
// `max_bytes` (the previous PATH.1 is replaced); empty path: stderr.
// Thread-safe (the FlowSpec consumer's thread writes too).
class EventLog {
 public:
  EventLog(std::string path, std::uint64_t max_bytes) : path_(std::move(path)), max_(max_bytes) {}
  [[nodiscard]] Result<void> write(const std::string& line);

 private:
  std::string path_;
  std::uint64_t max_;
  std::mutex mu_;
};

}  // namespace xdpguard::service
