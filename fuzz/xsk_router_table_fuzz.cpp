// libFuzzer target: xsk_router's route table parser (examples/xsk_router/
// table.h) on arbitrary text, and its longest-prefix match. The parse must
// fail cleanly, naming a line that exists, or give routes whose lookup
// agrees with a brute-force longest match for addresses taken from the
// input and from the routes themselves.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "xsk_router/table.h"

namespace {

using xdpguard::rules::Family;
using xdpguard::rules::Prefix;

void check(bool ok) {
  if (!ok) std::abort();
}

bool holds(const Prefix& p, Family f, const std::array<std::uint8_t, 16>& a) {
  if (p.family != f) return false;
  for (unsigned bit = 0; bit < p.len; ++bit) {
    const unsigned byte = bit / 8, mask = 0x80u >> (bit % 8);
    if ((p.addr[byte] & mask) != (a[byte] & mask)) return false;
  }
  return true;
}

void agree(const xsk_router::Table& t, Family f, const std::array<std::uint8_t, 16>& a) {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < t.routes().size(); ++i)
    if (holds(t.routes()[i].prefix, f, a) &&
        (!best || t.routes()[i].prefix.len > t.routes()[*best].prefix.len))
      best = i;
  auto got = t.lookup(f, a);
  check(got.has_value() == best.has_value());
  if (got && best)
    check(t.routes()[*got].prefix.len == t.routes()[*best].prefix.len &&
          holds(t.routes()[*got].prefix, f, a));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = xsk_router::parse_table(text);
  if (!t) {
    const std::string& m = t.error().message();
    if (m.rfind("line ", 0) == 0) {
      const std::size_t line = std::strtoul(m.c_str() + 5, nullptr, 10);
      std::size_t lines = 1;
      for (char c : text) lines += c == '\n';
      check(line >= 1 && line <= lines);
    }
    return 0;
  }
  check(!t->routes().empty());
  std::array<std::uint8_t, 16> a{};
  std::memcpy(a.data(), data, std::min(size, a.size()));
  agree(*t, Family::V4, a);
  agree(*t, Family::V6, a);
  for (const auto& r : t->routes()) agree(*t, r.prefix.family, r.prefix.addr);
  return 0;
}
