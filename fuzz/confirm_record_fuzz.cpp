// libFuzzer target: commit-confirm's record reader (confirm/record.h) and
// the --confirm window's syntax on arbitrary text. A record either fails
// naming the file, or reads back to itself once written (to_json then
// from_json is the identity on what from_json accepts).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "confirm/record.h"

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xdpguard::confirm;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = from_json(text, "fuzz.confirm");
  if (!r) {
    check(r.error().message().rfind("fuzz.confirm: ", 0) == 0);
  } else {
    const std::string once = to_json(*r);
    auto again = from_json(once, "fuzz.confirm");
    check(again.has_value());
    check(to_json(*again) == once);
  }
  auto w = parse_window(text);
  if (w) check(w->count() >= 1 && w->count() <= 86400);
  return 0;
}
