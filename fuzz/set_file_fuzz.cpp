// libFuzzer target: the prefix-set file parser on arbitrary text. It must
// fail cleanly (naming a line that exists) or return normalised, sorted,
// duplicate-free prefixes of the right family; and the parse must not depend
// on how the lines are terminated (LF vs CRLF).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "rules/parser.h"
#include "rules/set_file.h"

namespace {

using namespace xdpguard::rules;

void check(bool ok) {
  if (!ok) std::abort();
}

void check_list(const std::vector<Prefix>& v, Family f) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    const Prefix& p = v[i];
    check(p.family == f);
    check(p.len <= (f == Family::V4 ? 32 : 128));
    Prefix q = p;
    clear_host_bits(q);
    check(q == p);
    if (i > 0) check(!(v[i - 1] == p));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto l = parse_set_text(text, "fuzz.txt");
  if (!l) {
    const std::string& m = l.error().message();
    check(m.rfind("fuzz.txt line ", 0) == 0);
    std::size_t line = std::strtoul(m.c_str() + 14, nullptr, 10);
    check(line >= 1 && line <= static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  } else {
    check_list(l->v4, Family::V4);
    check_list(l->v6, Family::V6);
  }
  // CRLF line ends give the same result.
  std::string crlf;
  crlf.reserve(size * 2);
  for (char c : text) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  auto l2 = parse_set_text(crlf, "fuzz.txt");
  check(l.has_value() == l2.has_value());
  if (l) check(*l == *l2);
  return 0;
}
