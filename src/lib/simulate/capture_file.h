// Capture files for `xdpguard simulate`: pcap and pcapng in (libpcap),
// pcap out. Apart from simulate.h because libpcap's headers and the
// kernel's linux/bpf.h both define struct bpf_insn: only capture_file.cpp
// includes libpcap.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/result.h"

struct pcap;
struct pcap_dumper;

namespace xdpguard::simulate {

// A frame of the capture, as read.
struct Frame {
  std::uint64_t index = 0;  // 1-based position in the capture
  std::uint64_t ts_ns = 0;  // the capture's timestamp
  std::uint32_t wire_len = 0;
  std::span<const std::uint8_t> data;  // captured bytes (valid until the next read)
};

// Reads a pcap or pcapng file (libpcap), Ethernet frames only.
class CaptureReader {
 public:
  [[nodiscard]] static Result<CaptureReader> open(const std::string& path);
  // The next frame; nullopt at the end. An error names the frame.
  [[nodiscard]] Result<std::optional<Frame>> next();
  struct pcap* handle() const { return pcap_.get(); }

 private:
  struct Close {
    void operator()(struct pcap* p) const;
  };
  std::unique_ptr<struct pcap, Close> pcap_;
  std::string path_;
  std::uint64_t index_ = 0;
};

// Writes frames to a pcap file with the reader's link type and precision.
class CaptureWriter {
 public:
  [[nodiscard]] static Result<CaptureWriter> open(const std::string& path, const CaptureReader& like);
  void write(const Frame& f);
  [[nodiscard]] Result<void> close();

 private:
  struct Close {
    void operator()(struct pcap_dumper* d) const;
  };
  std::unique_ptr<struct pcap_dumper, Close> dump_;
  std::string path_;
};

}  // namespace xdpguard::simulate
