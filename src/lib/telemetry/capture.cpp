#include "telemetry/capture.h"

#include <pcap/pcap.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace xdpguard::telemetry {
namespace {
constexpr std::size_t kFileBuffer = 1u << 20;
}  // namespace

struct PcapWriter::State {
  pcap_t* pcap = nullptr;
  pcap_dumper_t* dumper = nullptr;
  bpf_program filter{};
  bool has_filter = false;
  std::uint64_t written = 0, filtered_out = 0;

  ~State() {
    if (dumper) pcap_dump_close(dumper);
    if (has_filter) pcap_freecode(&filter);
    if (pcap) pcap_close(pcap);
  }
};

PcapWriter::PcapWriter() = default;
PcapWriter::PcapWriter(PcapWriter&&) noexcept = default;
PcapWriter& PcapWriter::operator=(PcapWriter&&) noexcept = default;
PcapWriter::~PcapWriter() = default;

Result<PcapWriter> PcapWriter::open(const CaptureOptions& opts) {
  if (opts.snaplen == 0) return fail(EINVAL, "snaplen 0: a capture needs at least one byte of each frame");
  PcapWriter w;
  w.st_ = std::make_unique<State>();
  State& s = *w.st_;
  // Microsecond timestamps: the classic format every reader opens.
  s.pcap = pcap_open_dead(DLT_EN10MB, static_cast<int>(opts.snaplen));
  if (!s.pcap) return fail(ENOMEM, "libpcap: pcap_open_dead failed");
  if (!opts.filter.empty()) {
    if (pcap_compile(s.pcap, &s.filter, opts.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
      return fail(EINVAL, "bad filter '{}': {}", opts.filter, pcap_geterr(s.pcap));
    s.has_filter = true;
  }
  // Our own stream, so that it gets a large buffer before libpcap writes
  // the file header: with stdio's default (a page) a busy capture made a
  // write() every 50 packets or so.
  FILE* f = opts.path == "-" ? stdout : std::fopen(opts.path.c_str(), "wb");  // "-": as pcap_dump_open
  if (!f) return fail(errno, "cannot write {}: {}", opts.path, std::strerror(errno));
  (void)std::setvbuf(f, nullptr, _IOFBF, kFileBuffer);
  errno = 0;
  s.dumper = pcap_dump_fopen(s.pcap, f);
  if (!s.dumper) {
    const int e = errno ? errno : EIO;
    if (f != stdout) std::fclose(f);
    return fail(e, "cannot write {}: {}", opts.path, pcap_geterr(s.pcap));
  }
  // The stream is the dumper's now (pcap_dump_close closes it), which the
  // analyzer cannot see.
  return w;  // NOLINT(clang-analyzer-unix.Stream)
}

bool PcapWriter::write(std::int64_t wall, std::uint32_t orig_len, std::span<const std::uint8_t> frame) {
  State& s = *st_;
  pcap_pkthdr h{};
  h.ts.tv_sec = static_cast<time_t>(wall / 1'000'000'000);
  h.ts.tv_usec = static_cast<suseconds_t>(wall % 1'000'000'000 / 1000);
  h.caplen = static_cast<bpf_u_int32>(frame.size());
  h.len = orig_len;
  if (s.has_filter && pcap_offline_filter(&s.filter, &h, frame.data()) == 0) {
    ++s.filtered_out;
    return false;
  }
  pcap_dump(reinterpret_cast<u_char*>(s.dumper), &h, frame.data());
  ++s.written;
  return true;
}

Result<void> PcapWriter::flush() {
  if (st_ && st_->dumper && pcap_dump_flush(st_->dumper) != 0)
    return fail_errno(errno, "write the pcap file");
  return {};
}

Result<void> PcapWriter::close() {
  if (!st_ || !st_->dumper) return {};
  auto r = flush();
  pcap_dump_close(st_->dumper);
  st_->dumper = nullptr;
  return r;
}

std::uint64_t PcapWriter::written() const { return st_ ? st_->written : 0; }
std::uint64_t PcapWriter::filtered_out() const { return st_ ? st_->filtered_out : 0; }

}  // namespace xdpguard::telemetry
