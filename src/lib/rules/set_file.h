// Prefix-set files (`xdpguard set load`, `[sets.NAME] file = ...`): one IPv4
// or IPv6 prefix per line, a bare address being a host prefix (/32, /128).
// `#` starts a comment (whole line or trailing); blank lines, surrounding
// whitespace, CRLF line ends and a leading UTF-8 BOM are allowed.
//
// Result: the prefixes normalised (host bits cleared), split by family,
// sorted, duplicates removed (so counts are what the kernel tries hold).
//
// Fails (Result, EINVAL) on the first bad line, naming the file and line:
//   bad-prefixes.txt line 12: expected an IPv4 or IPv6 prefix, got "10.0.0.300/8"
// on more than kMaxSetPrefixes (rules/limits.h) distinct prefixes (E2BIG),
// on a file that is not a regular file (/dev/zero, a FIFO: EINVAL) or is
// larger than kMaxSetFileBytes (EFBIG), and on I/O errors (errno,
// "PATH: strerror").
//
// Fast: the whole file is read at once, IPv4 lines go through a hand-written
// parser, IPv6 through inet_pton; 1,000,000 lines take a small fraction of a
// second (numbers in tests/unit/set_file_test.cpp's log).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "rules/limits.h"
#include "rules/rule.h"

namespace xdpguard::rules {

struct PrefixList {
  std::vector<Prefix> v4, v6;  // each sorted by (address, length), no duplicates

  std::vector<Prefix> all() const;  // v4 then v6
  std::size_t size() const { return v4.size() + v6.size(); }
  bool operator==(const PrefixList&) const = default;
};

// `name` names the source in error messages (the path as the user gave it).
[[nodiscard]] Result<PrefixList> parse_set_text(std::string_view text, std::string_view name);
[[nodiscard]] Result<PrefixList> parse_set_file(const std::string& path);

// Sorts, removes duplicates and checks the size limit; for prefixes that
// come from elsewhere (the config file's `elements`). `name` as above.
[[nodiscard]] Result<PrefixList> make_prefix_list(std::vector<Prefix> prefixes, std::string_view name);

// Reads a whole regular file of at most `max_bytes` into memory. Anything
// else is refused before a byte is read ("PATH: not a regular file (a
// FIFO)", "PATH: more than 268435456 bytes (the limit)"): a FIFO or a
// device would be read for ever, or block. Files whose size stat
// does not know (procfs) are read to the end, up to the same bound.
[[nodiscard]] Result<std::string> read_text_file(const std::string& path,
                                                 std::size_t max_bytes = kMaxSetFileBytes);

}  // namespace xdpguard::rules
