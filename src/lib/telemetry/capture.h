// Capture: records of an interface's packets written as a standard pcap
// file through libpcap (docs/telemetry.md). The kernel is asked for the
// packets (a capture request in xg_telemetry: which verdicts, snaplen); a
// tcpdump filter expression, compiled by libpcap, is applied to what
// arrives; the file gets each frame's first snaplen bytes and its true
// original length.
//
// Capture owns the pcap handle, the compiled filter and the dump file; they
// are opened (and the filter compiled) before anything is asked of the
// kernel, so a bad filter or an unwritable file fails first, with a clear
// error: "bad filter 'tcp and prot 23': ...", "cannot write x.pcap: ...".
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/result.h"

// No kernel headers here: libpcap's <pcap/bpf.h> and <linux/bpf.h> both
// define struct bpf_insn, so capture.cpp includes only libpcap.

namespace xdpguard::telemetry {

struct CaptureOptions {
  std::string path;           // the pcap file ("-": stdout)
  std::uint32_t snaplen = 0;  // frame bytes per packet (the kernel's limit: abi.h)
  std::string filter;         // tcpdump filter expression; empty: every packet
};

class PcapWriter {
 public:
  PcapWriter();
  PcapWriter(PcapWriter&&) noexcept;
  PcapWriter& operator=(PcapWriter&&) noexcept;
  ~PcapWriter();

  // Compiles the filter, creates the file (pcap header written).
  [[nodiscard]] static Result<PcapWriter> open(const CaptureOptions& opts);
  // Writes the frame if it passes the filter; returns whether it did.
  // `wall_ns`: the packet's time (CLOCK_REALTIME), `orig_len`: its true length.
  bool write(std::int64_t wall_ns, std::uint32_t orig_len, std::span<const std::uint8_t> frame);
  [[nodiscard]] Result<void> flush();
  // Flushes and closes the file. Idempotent.
  [[nodiscard]] Result<void> close();

  std::uint64_t written() const;
  std::uint64_t filtered_out() const;

 private:
  struct State;
  std::unique_ptr<State> st_;
};

}  // namespace xdpguard::telemetry
