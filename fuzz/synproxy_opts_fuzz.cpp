// libFuzzer target: the userspace compile of bpf/include/xdpguard/
// synproxy_opts.h, the TCP option code the SYN proxy stage runs on every SYN
// it answers. The first up to 40 input bytes are a SYN's options; the bytes
// after them (if any) pick the SYN-ACK's MSS, window scale and clock. Checks:
//  - the walk reads nothing at or past the options' length (the bytes after
//    it are poisoned for ASan), and ends within XG_OPT_MAX_STEPS steps, the
//    bound bpf_loop gives it;
//  - it finds what an independent transcription of the kernel SYNPROXY's
//    own parser (synproxy_parse_options, nf_synproxy_core.c) finds;
//  - the SYN-ACK options built from what it found are whole options, a
//    multiple of 4 bytes and at most 40, and parse back (by the same
//    reference) to the announced MSS and window scale, the client's
//    timestamp echoed, and our timestamp whose low bits carry the client's
//    window scale and SACK-permitted (the timestamp cookie).
#include <xdpguard/synproxy_opts.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

// ASan's manual poisoning, as sanitizer/asan_interface.h declares it (this
// target is always built with -fsanitize=address; the header comes with the
// compiler's runtime, which clang-tidy's own resource directory may lack).
// NOLINTNEXTLINE(bugprone-reserved-identifier)
extern "C" void __asan_poison_memory_region(void const volatile* addr, std::size_t size);
// NOLINTNEXTLINE(bugprone-reserved-identifier)
extern "C" void __asan_unpoison_memory_region(void const volatile* addr, std::size_t size);

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// What the kernel's SYNPROXY takes from options (its parser, transcribed).
struct Ref {
  bool mss = false, ws = false, sack = false, ts = false;
  unsigned mss_val = 0, wscale = 0;
  std::uint32_t tsval = 0, tsecr = 0;
};

Ref reference_parse(const std::uint8_t* p, int length) {
  Ref r;
  while (length > 0) {
    const int opcode = *p++;
    if (opcode == XG_TCPOPT_EOL) return r;
    if (opcode == XG_TCPOPT_NOP) {
      length--;
      continue;
    }
    if (length < 2) return r;
    const int opsize = *p++;
    if (opsize < 2 || opsize > length) return r;
    switch (opcode) {
      case XG_TCPOPT_MSS:
        if (opsize == 4) {
          r.mss = true;
          r.mss_val = (p[0] << 8) | p[1];
        }
        break;
      case XG_TCPOPT_WINDOW:
        if (opsize == 3) {
          r.ws = true;
          r.wscale = std::min<unsigned>(p[0], XG_MAX_WSCALE);
        }
        break;
      case XG_TCPOPT_TIMESTAMP:
        if (opsize == 10) {
          r.ts = true;
          r.tsval =
              (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
          r.tsecr =
              (std::uint32_t{p[4]} << 24) | (std::uint32_t{p[5]} << 16) | (std::uint32_t{p[6]} << 8) | p[7];
        }
        break;
      case XG_TCPOPT_SACK_PERM:
        if (opsize == 2) r.sack = true;
        break;
      default: break;
    }
    p += opsize - 2;
    length -= opsize;
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::size_t len = std::min<std::size_t>(size, XG_TCP_MAX_OPTS);
  // The stage's buffer (xg_tcp.opts): 64 bytes, the options first.
  std::vector<std::uint8_t> buf(XG_OPT_BUF, 0);
  if (len) std::memcpy(buf.data(), data, len);
  __asan_poison_memory_region(buf.data() + len, buf.size() - len);

  xg_syn_opts c{};
  xg_opt_walk w{};
  w.opts = buf.data();
  w.len = static_cast<__u32>(len);
  w.out = &c;
  const int steps = xg_opt_walk_all(&w);
  __asan_unpoison_memory_region(buf.data() + len, buf.size() - len);
  check(steps >= 1 && steps <= XG_OPT_MAX_STEPS);
  // bpf_loop stops at XG_OPT_MAX_STEPS: the walk must have ended by then
  // (a further step would find nothing more).
  {
    xg_opt_walk more = w;
    xg_syn_opts before = c;
    if (xg_opt_step(0, &more) == 0) check(false);
    check(std::memcmp(&before, &c, sizeof c) == 0);
  }

  const Ref r = reference_parse(data, static_cast<int>(len));
  check((c.has_ts != 0) == r.ts);
  check(!r.ts || c.tsval == r.tsval);
  check((c.has_ws != 0) == r.ws);
  check(!r.ws || c.wscale == r.wscale);
  check(c.wscale <= XG_MAX_WSCALE);
  check((c.has_sack != 0) == r.sack);

  // The SYN-ACK's options for it.
  const std::uint8_t* extra = data + len;
  const std::size_t nextra = size - len;
  const auto mss = static_cast<std::uint16_t>(nextra >= 2 ? (extra[0] << 8) | extra[1] : 1460);
  const auto wscale = static_cast<std::uint8_t>((nextra >= 3 ? extra[2] : 7) % (XG_MAX_WSCALE + 1));
  std::uint32_t now = 123456789;
  if (nextra >= 7) std::memcpy(&now, extra + 3, 4);
  const std::uint32_t tsval = xg_synack_tsval(&c, now);
  // Room for the reply's options: what the SYN's options took (rounded
  // up, as a header is) plus some padding of the frame.
  const std::uint32_t pad = nextra >= 8 ? extra[7] % 8 : 0;
  const std::uint32_t room = ((static_cast<std::uint32_t>(len) + 3) & ~3u) + pad;
  __u32 words[XG_SYNACK_MAX_OPTS / 4];
  std::memset(words, 0xee, sizeof words);
  const std::uint32_t n = xg_synack_opts(words, &c, mss, wscale, tsval, room);
  std::uint8_t o[XG_SYNACK_MAX_OPTS];
  std::memcpy(o, words, sizeof o);
  check(n % 4 == 0 && n <= XG_SYNACK_MAX_OPTS);
  check(n <= room);  // never larger than the SYN (THREATS.md)
  const Ref back = reference_parse(o, static_cast<int>(n));
  const std::uint32_t echoed = c.has_ts ? 12 + (c.has_ws ? 4 : 0) : 0;
  check(back.mss == (echoed + 4 <= room));
  check(!back.mss || back.mss_val == mss);
  check(back.ts == (c.has_ts != 0));
  if (c.has_ts) {
    check(back.tsecr == c.tsval);
    check(back.tsval == tsval);
    check((tsval >> XG_TSCOOKIE_BITS) == (now >> XG_TSCOOKIE_BITS));
    check((tsval & 0xf) == (c.has_ws ? c.wscale : XG_TSCOOKIE_NO_WSCALE));
    check(((tsval & XG_TSCOOKIE_SACK) != 0) == (c.has_sack != 0));
    check(back.sack == (c.has_sack != 0));
    check(back.ws == (c.has_ws != 0));
    check(!back.ws || back.wscale == wscale);
  } else {
    check(n == (back.mss ? 4u : 0u) && !back.sack && !back.ws);
  }
  return 0;
}
