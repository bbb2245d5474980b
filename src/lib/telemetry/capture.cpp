#include "telemetry/capture.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/unique_fd.h"

namespace xdpguard::telemetry {
namespace {
constexpr std::size_t kFileBuffer = 1u << 20;

const char* file_type(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISLNK(m)) return "a symbolic link";
  return "not a regular file";
}

std::string user_name(uid_t uid) {
  passwd pw{}, *found = nullptr;
  char buf[1024];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found)
    return fmt::format("uid {} ({})", uid, found->pw_name);
  return fmt::format("uid {}", uid);
}

// The capture file, opened for writing without letting anyone else choose
// what gets written (docs/telemetry.md, "Capture files"): a new file is
// created 0600 with O_EXCL; an existing one is replaced only if it is a
// regular file of the caller's with one link. Never follows a symbolic link
// in the last component (O_NOFOLLOW), never blocks on a FIFO.
Result<UniqueFd> open_capture_file(const std::string& path) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd) return fd;
    if (errno != EEXIST) return fail_errno(errno, fmt::format("cannot write {}", path));
    // There is something: open it as it is (no O_CREAT, no O_TRUNC) and
    // look at what was opened before changing anything.
    fd.reset(::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) continue;  // removed meanwhile: create it
      if (errno == ELOOP) return fail(ELOOP, "refusing to write {}: it is a symbolic link", path);
      if (errno == ENXIO) return fail(ENXIO, "refusing to write {}: it is a FIFO", path);
      return fail_errno(errno, fmt::format("cannot write {}", path));
    }
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, fmt::format("cannot write {}", path));
    if (!S_ISREG(st.st_mode))
      return fail(EPERM, "refusing to write {}: it is {}", path, file_type(st.st_mode));
    if (st.st_uid != ::geteuid())
      return fail(EPERM, "refusing to write {}: it belongs to {}, not to this user (remove it first)", path,
                  user_name(st.st_uid));
    if (st.st_nlink != 1)
      return fail(EPERM, "refusing to write {}: it has {} hard links (remove it first)", path,
                  static_cast<unsigned long>(st.st_nlink));
    // Ours: replace its contents, and let nobody else read what comes.
    if (::fchmod(fd.get(), 0600) != 0 || ::ftruncate(fd.get(), 0) != 0 || ::fcntl(fd.get(), F_SETFL, 0) != 0)
      return fail_errno(errno, fmt::format("cannot write {}", path));
    return fd;
  }
  return fail(EAGAIN, "cannot write {}: it keeps being created and removed", path);
}

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
  FILE* f = stdout;  // "-": as pcap_dump_open
  if (opts.path != "-") {
    auto fd = XG_TRY(open_capture_file(opts.path));
    f = ::fdopen(fd.get(), "wb");
    if (!f) return fail_errno(errno, fmt::format("cannot write {}", opts.path));
    (void)fd.release();  // the stream's now
  }
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
