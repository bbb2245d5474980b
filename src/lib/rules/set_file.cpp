#include "rules/set_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "core/unique_fd.h"
#include "rules/limits.h"
#include "rules/parser.h"

namespace xdpguard::rules {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// An IPv4 prefix as one sortable key, address << 8 | len: a million of
// them sort and deduplicate much faster than Prefixes do.
std::uint64_t v4_key(const Prefix& p) {
  const std::uint32_t addr = static_cast<std::uint32_t>(p.addr[0]) << 24 |
                             static_cast<std::uint32_t>(p.addr[1]) << 16 |
                             static_cast<std::uint32_t>(p.addr[2]) << 8 | p.addr[3];
  return static_cast<std::uint64_t>(addr) << 8 | p.len;
}

Prefix v4_from_key(std::uint64_t key) {
  Prefix p;
  p.family = Family::V4;
  auto addr = static_cast<std::uint32_t>(key >> 8);
  p.addr[0] = static_cast<std::uint8_t>(addr >> 24);
  p.addr[1] = static_cast<std::uint8_t>(addr >> 16);
  p.addr[2] = static_cast<std::uint8_t>(addr >> 8);
  p.addr[3] = static_cast<std::uint8_t>(addr);
  p.len = static_cast<std::uint8_t>(key & 0xff);
  return p;
}

bool prefix_less(const Prefix& a, const Prefix& b) {
  if (int c = std::memcmp(a.addr.data(), b.addr.data(), a.addr.size())) return c < 0;
  return a.len < b.len;
}

// Block lists are often sorted already: checking costs one pass, sorting more.
void sort_unique(std::vector<Prefix>& v) {
  if (!std::is_sorted(v.begin(), v.end(), prefix_less)) std::sort(v.begin(), v.end(), prefix_less);
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

Result<void> check_size(const PrefixList& l, std::string_view name) {
  if (l.size() > kMaxSetPrefixes)
    return fail(E2BIG, "{}: {} distinct prefixes, the limit per set is {}", name, l.size(), kMaxSetPrefixes);
  return {};
}

}  // namespace

std::vector<Prefix> PrefixList::all() const {
  std::vector<Prefix> out;
  out.reserve(size());
  out.insert(out.end(), v4.begin(), v4.end());
  out.insert(out.end(), v6.begin(), v6.end());
  return out;
}

Result<PrefixList> parse_set_text(std::string_view text, std::string_view name) {
  if (text.starts_with("\xef\xbb\xbf")) text.remove_prefix(3);  // UTF-8 BOM
  std::vector<std::uint64_t> keys4;
  keys4.reserve(text.size() / 12);  // a guess that avoids most regrowth
  PrefixList out;
  std::size_t line_no = 0;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    ++line_no;
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const char* line_end = nl ? nl : end;
    const char* hash = static_cast<const char*>(std::memchr(p, '#', static_cast<std::size_t>(line_end - p)));
    const char* b = p;
    const char* e = hash ? hash : line_end;
    p = nl ? nl + 1 : end;
    while (b < e && is_blank(*b)) ++b;
    while (e > b && is_blank(e[-1])) --e;
    if (b == e) continue;
    std::string_view item(b, static_cast<std::size_t>(e - b));
    auto prefix = parse_prefix(item);  // the rule language's syntax, host bits cleared
    if (!prefix)
      return fail(EINVAL, "{} line {}: expected an IPv4 or IPv6 prefix, got {}", name, line_no, quote(item));
    if (prefix->family == Family::V4)
      keys4.push_back(v4_key(*prefix));
    else
      out.v6.push_back(*prefix);
  }
  if (!std::is_sorted(keys4.begin(), keys4.end())) std::sort(keys4.begin(), keys4.end());
  keys4.erase(std::unique(keys4.begin(), keys4.end()), keys4.end());
  out.v4.reserve(keys4.size());
  for (std::uint64_t k : keys4) out.v4.push_back(v4_from_key(k));
  sort_unique(out.v6);
  XG_CHECK(check_size(out, name));
  return out;
}

Result<PrefixList> make_prefix_list(std::vector<Prefix> prefixes, std::string_view name) {
  PrefixList out;
  auto n4 = static_cast<std::size_t>(std::count_if(prefixes.begin(), prefixes.end(),
                                                   [](const Prefix& p) { return p.family == Family::V4; }));
  out.v4.reserve(n4);
  out.v6.reserve(prefixes.size() - n4);
  for (auto& p : prefixes) {
    clear_host_bits(p);
    (p.family == Family::V4 ? out.v4 : out.v6).push_back(p);
  }
  sort_unique(out.v4);
  sort_unique(out.v6);
  XG_CHECK(check_size(out, name));
  return out;
}

namespace {

const char* file_type(mode_t m) {
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a file";
}

}  // namespace

Result<std::string> read_text_file(const std::string& path, std::size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return fail_errno(errno, path);
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, path);
  if (S_ISDIR(st.st_mode)) return fail(EISDIR, "{}: is a directory", path);
  if (!S_ISREG(st.st_mode)) return fail(EINVAL, "{}: not a regular file ({})", path, file_type(st.st_mode));
  auto too_big = [&] { return fail(EFBIG, "{}: more than {} bytes (the limit)", path, max_bytes); };
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) return too_big();
  std::string text;
  // st_size is 0 for /proc files, and a file may grow while it is read:
  // read until EOF in any case, but never more than the bound.
  text.resize(std::min<std::size_t>(static_cast<std::size_t>(st.st_size), max_bytes) + 1);
  std::size_t got = 0;
  for (;;) {
    if (got == text.size()) {
      if (got > max_bytes) return too_big();
      text.resize(std::min(std::max<std::size_t>(text.size() * 2, 65536), max_bytes + 1));
    }
    ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, path);
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  return text;
}

Result<PrefixList> parse_set_file(const std::string& path) {
  auto text = XG_TRY(read_text_file(path));
  return parse_set_text(text, path);
}

}  // namespace xdpguard::rules
