#include "simulate/capture_file.h"

#include <pcap/pcap.h>

#include <cerrno>

#include <fmt/format.h>

namespace xdpguard::simulate {

void CaptureReader::Close::operator()(struct pcap* p) const { pcap_close(p); }
void CaptureWriter::Close::operator()(struct pcap_dumper* d) const { pcap_dump_close(d); }

Result<CaptureReader> CaptureReader::open(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  if (!p) {
    // libpcap says "No such file or directory", or what is wrong with the
    // file ("unknown file format", "truncated dump file").
    return fail(EINVAL, "{}: {}", path, err);
  }
  CaptureReader r;
  r.pcap_.reset(p);
  r.path_ = path;
  const int link = pcap_datalink(p);
  if (link != DLT_EN10MB) {
    const char* name = pcap_datalink_val_to_name(link);
    return fail(EINVAL, "{}: link type {} ({}): simulate reads Ethernet captures only (DLT_EN10MB)", path,
                link, name ? name : "unknown");
  }
  return r;
}

Result<std::optional<Frame>> CaptureReader::next() {
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(pcap_.get(), &h, &data);
  if (rc == PCAP_ERROR_BREAK) return std::optional<Frame>{};
  if (rc != 1 || !h || !data)
    return fail(EINVAL, "{}: frame {}: {}", path_, index_ + 1, pcap_geterr(pcap_.get()));
  Frame f;
  f.index = ++index_;
  // Nanosecond precision was asked for: tv_usec holds nanoseconds.
  f.ts_ns =
      static_cast<std::uint64_t>(h->ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(h->ts.tv_usec);
  f.wire_len = h->len;
  f.data = {data, h->caplen};
  return std::optional<Frame>{f};
}

Result<CaptureWriter> CaptureWriter::open(const std::string& path, const CaptureReader& like) {
  CaptureWriter w;
  w.dump_.reset(pcap_dump_open(like.handle(), path.c_str()));
  if (!w.dump_) return fail(EIO, "{}: {}", path, pcap_geterr(like.handle()));
  w.path_ = path;
  return w;
}

void CaptureWriter::write(const Frame& f) {
  pcap_pkthdr h{};
  h.ts.tv_sec = static_cast<time_t>(f.ts_ns / 1'000'000'000ull);
  h.ts.tv_usec = static_cast<suseconds_t>(f.ts_ns % 1'000'000'000ull);  // nanoseconds, as opened
  h.caplen = static_cast<bpf_u_int32>(f.data.size());
  h.len = f.wire_len;
  pcap_dump(reinterpret_cast<u_char*>(dump_.get()), &h, f.data.data());
}

Result<void> CaptureWriter::close() {
  if (!dump_) return {};
  const bool flushed = pcap_dump_flush(dump_.get()) == 0;
  dump_.reset();
  if (!flushed) return fail(EIO, "{}: write failed", path_);
  return {};
}

}  // namespace xdpguard::simulate
