// Generator: sends copies of a template frame out of an interface as fast as
// the kernel allows — BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES runs
// the gen program (bpf/gen.bpf.c) on each copy, which rewrites the random
// fields and returns XDP_TX. For a veth the frames arrive at its peer, which
// must have an XDP program (or GRO) attached to take redirected frames.
// With a rate (Limits::rate) the program itself paces the frames to the
// nanosecond clock and drops the copies in between, since a test run costs
// some 20 ms to set up here: far too much to pace by calls.
//
// Owns the gen skeleton; runs in the caller's network namespace.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "bpf/system.h"
#include "bpf/skeleton.h"
#include "core/result.h"
#include "gen/frame.h"

struct gen_bpf;

namespace xdpguard::gen {

struct Limits {
  std::uint64_t count = 0;  // frames; 0: no limit
  double seconds = 0;       // 0: no limit (at least one limit must be set)
  double rate = 0;          // frames per second at most (bursts of at most 64); 0: as fast as possible
};

struct Progress {
  std::uint64_t frames = 0;   // rewritten and handed to XDP_TX
  std::uint64_t dropped = 0;  // of those, refused by the interface (its tx_dropped)
  double seconds = 0;         // paced (Limits::rate): from the first frame to the last
  std::uint64_t delivered() const { return frames > dropped ? frames - dropped : 0; }
  double pps() const { return seconds > 0 ? static_cast<double>(delivered()) / seconds : 0; }
};

// Refuses anything but a veth unless forced, so that nobody floods a real
// network by accident; also refuses an interface that is down.
[[nodiscard]] Result<void> check_lab_interface(const Interface& iface, bool force);

// Defaults for a frame leaving `iface`: its MAC, its first address of a
// family, and the MAC of a neighbour (from the kernel's neighbour table).
[[nodiscard]] Result<Mac> interface_mac(const Interface& iface);
[[nodiscard]] Result<rules::Prefix> interface_address(const Interface& iface, rules::Family family);
[[nodiscard]] Result<Mac> neighbour_mac(const Interface& iface, const std::string& addr);

class Generator {
 public:
  [[nodiscard]] static Result<Generator> open(const Template& t);

  // Sends until a limit is reached or *stop becomes true; calls on_progress
  // about every `interval` seconds. Returns what was sent.
  [[nodiscard]] Result<Progress> run(const Interface& iface, const Limits& limits,
                                     const std::function<void(const Progress&)>& on_progress = {},
                                     const std::atomic<bool>* stop = nullptr, double interval = 1.0);

 private:
  Generator() = default;
  BpfSkeleton<gen_bpf> skel_;
  std::vector<std::uint8_t> frame_;
};

}  // namespace xdpguard::gen
