// libFuzzer target: the generator's operator input and frame builder. The
// MAC and port-range parsers must accept exactly their grammar; any spec the
// builder accepts must give a frame whose rewritten copies (xdpguard/gen.h,
// the code the BPF program runs) stay inside the frame with valid checksums.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include <xdpguard/gen.h>

#include "gen/frame.h"
#include "rules/parser.h"

namespace {

using namespace xdpguard;

void check(bool ok) {
  if (!ok) std::abort();
}

// Ones'-complement sum of the L4 segment plus pseudo-header folds to 0xffff.
bool l4_valid(const std::vector<std::uint8_t>& f) {
  const bool v6 = f[12] == 0x86 && f[13] == 0xdd;
  const std::size_t ip = 14, l4 = ip + (v6 ? 40 : 20);
  // Lengths from the headers (a SYN's frame ends in padding).
  const std::size_t len = v6 ? (f[ip + 4] << 8 | f[ip + 5]) : (f[ip + 2] << 8 | f[ip + 3]) - 20u;
  if (l4 + len > f.size()) return false;
  const std::uint8_t proto = v6 ? f[ip + 6] : f[ip + 9];
  std::uint32_t pseudo = 0;
  if (v6 || proto != 1) {
    std::uint8_t ph[36] = {};
    std::size_t n = v6 ? 32 : 8;
    std::memcpy(ph, &f[ip + (v6 ? 8 : 12)], n);
    ph[n + 1] = proto, ph[n + 2] = static_cast<std::uint8_t>(len >> 8),
           ph[n + 3] = static_cast<std::uint8_t>(len);
    for (std::size_t i = 0; i < n + 4; i += 2) {
      std::uint16_t w;
      std::memcpy(&w, ph + i, 2);
      pseudo += w;
    }
  }
  return gen::checksum(&f[l4], len, pseudo) == 0 && (v6 || gen::checksum(&f[ip], 20) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (auto m = gen::parse_mac(text)) check(text.size() == 17);
  if (auto r = gen::parse_port_range(text)) check(r->first <= r->second && !text.empty());
  if (size < 24) return 0;

  gen::Spec s;
  s.proto = static_cast<gen::Proto>(data[0] % 3);
  const bool v6 = data[1] & 1;
  s.src.family = v6 ? rules::Family::V6 : rules::Family::V4;
  std::memcpy(s.src.addr.data(), data + 2, v6 ? 16 : 4);
  s.src.len = data[18];
  rules::clear_host_bits(s.src);
  std::uint16_t a, b, sz;
  std::memcpy(&a, data + 19, 2);
  std::memcpy(&b, data + 21, 2);
  sz = static_cast<std::uint16_t>(data[23] * 7);
  s.sport_lo = a, s.sport_hi = b, s.size = sz;
  auto t = gen::build(s);
  if (!t) return 0;
  check(t->frame.size() == s.size);
  check(l4_valid(t->frame));
  auto f = t->frame;
  for (std::size_t i = 24; i + 8 <= size; i += 8) {
    std::uint32_t r1, r2;
    std::memcpy(&r1, data + i, 4);
    std::memcpy(&r2, data + i + 4, 4);
    check(xg_gen_rewrite(f.data(), f.data() + f.size(), &t->cfg, r1, r2) == 0);
    check(l4_valid(f));
  }
  return 0;
}
